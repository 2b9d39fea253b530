#!/bin/bash
# docker.t - Docker's libnetwork drives tabby-docker: a 2-host mini cluster (bridge fabric, etcd
# on a unix socket, tabby-felix + real BIRD per host, as felix-restart.t) with one dockerd and one
# tabby-docker per host namespace. `docker network create --driver tabby --ipam-driver tabby` on
# both hosts, a busybox httpd container on each: eth0 <ip>/32 + 169.254.1.1 on-link + default
# via it inside the container, host route proto 81, a WorkloadEndpoint with the container's
# Docker labels; ping and TCP across hosts; a restart of the plugin daemon changes nothing; an
# unknown pool fails `docker network create` with a clear message; `docker rm -f` frees the
# address, the veth and the WorkloadEndpoint.
#
# Each dockerd finds its own plugin: dockerd only looks in /run/docker/plugins (sockets) and
# /etc/docker/plugins, /usr/lib/docker/plugins (spec files), the same paths for every dockerd on
# the machine. So each dockerd runs in a private mount namespace (unshare -m) where the host's
# own plugin directory $T_TMP/hN/plugins is bind-mounted over /run/docker/plugins; tabby-docker
# runs in the host's netns and listens on $T_TMP/hN/plugins/tabby.sock. dockerd runs with
# `nsenter --net` (not `ip netns exec`, which hides /sys/fs/cgroup), its own data/exec roots,
# pid file and API socket, no bridge, no iptables, vfs storage and cgroupfs; it starts its own
# containerd under its exec root. The image is `docker import` of a busybox-static rootfs.
#
# Not covered here: policy by Docker label (needs the policy engine, another issue).
. "$(dirname "$0")/lib.sh"
need_root
for c in dockerd containerd runc unshare nsenter bird etcdctl python3; do
	command -v "$c" >/dev/null || { echo "skipped: $c is not installed"; exit 77; }
done
[ -x /bin/busybox ] || { echo "skipped: busybox-static is not installed"; exit 77; }
DOCKER=/usr/bin/docker # the client of the docker.io package, which matches its dockerd
[ -x "$DOCKER" ] || DOCKER=$(command -v docker) || { echo "skipped: no docker client"; exit 77; }
TD=$T_BUILD/docker/tabby-docker
[ -x "$TD" ] || TD=$T_BUILD/tabby-docker
[ -x "$TD" ] || fail "tabby-docker is not built"
FELIX=$T_BUILD/felix/tabby-felix
CTL=$T_BUILD/ctl/tabbyctl
[ -x "$FELIX" ] || fail "no $FELIX"
[ -x "$CTL" ] || fail "no $CTL"

etcd_start
ectl() { ETCDCTL_API=3 etcdctl --endpoints "$TABBY_DATASTORE_ENDPOINTS" "$@"; }
dk() { local n=$1; shift; DOCKER_HOST="unix://$T_TMP/h$n/docker.sock" "$DOCKER" "$@"; }

# /run/docker/plugins must exist as a mount point; remember whether we made it.
MADE_RUN_DOCKER=
[ -d /run/docker ] || MADE_RUN_DOCKER=1
mkdir -p /run/docker/plugins || fail "mkdir /run/docker/plugins"

declare -A HNS FPID DPID PPID_
docker_cleanup() {
	local n p
	for n in 1 2; do
		[ -S "$T_TMP/h$n/docker.sock" ] || continue
		ids=$(dk "$n" ps -aq 2>/dev/null)
		[ -n "$ids" ] && dk "$n" rm -f $ids >/dev/null 2>&1
	done
	for n in 1 2; do
		p=${DPID[$n]:-}
		[ -n "$p" ] || continue
		kill "$p" 2>/dev/null
		for _ in $(seq 1 200); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
		kill -9 "$p" 2>/dev/null
	done
	if [ -n "$MADE_RUN_DOCKER" ]; then
		rmdir /run/docker/plugins /run/docker 2>/dev/null
	fi
}
trap 'rc=$?; if [ $rc != 0 ]; then for n in 1 2; do for f in tabby-docker.log dockerd.log felix.log; do
	echo "--- h$n $f"; tail -25 "$T_TMP/h$n/$f" 2>/dev/null; done; done; fi
	docker_cleanup; t_cleanup' EXIT

# ---- fabric, felix, BIRD (as felix-restart.t)
ns_add tor; TOR=$NS_LAST
ip -n "$TOR" link add br0 type bridge
ip -n "$TOR" addr add 198.18.0.1/24 dev br0
ip -n "$TOR" link set br0 up
for n in 1 2; do
	ns_add "h$n"; H=$NS_LAST; HNS[$n]=$H
	ip netns exec "$H" sysctl -qw net.ipv4.ip_forward=1
	ip -n "$H" link add eth0 type veth peer name "th$n" netns "$TOR"
	ip -n "$TOR" link set "th$n" master br0 up
	ip -n "$H" addr add "198.18.0.1$n/24" dev eth0
	ip -n "$H" link set eth0 up
	ip -n "$H" route add default via 198.18.0.1 dev eth0
done
ectl put /tabby/v1/ippools/default-ipv4-ippool \
	'{"apiVersion":"projectcalico.org/v3","kind":"IPPool","metadata":{"name":"default-ipv4-ippool"},"spec":{"cidr":"198.19.0.0/16","blockSize":26}}' >/dev/null

for n in 1 2; do
	mkdir -p "$T_TMP/h$n/plugins" "$T_TMP/h$n/state"
	cat >"$T_TMP/h$n/felix.yaml" <<EOC
nodeName: h$n
ipv4Address: 198.18.0.1$n/24
birdConfigFile: $T_TMP/h$n/bird.conf
birdSocket: $T_TMP/h$n/bird.ctl
birdLogFile: $T_TMP/h$n/bird.log
birdFastTimers: true
resyncIntervalSecs: 3
EOC
	TABBY_DATASTORE_ENDPOINTS=$TABBY_TEST_ETCD_UNIX ip netns exec "${HNS[$n]}" \
		"$FELIX" --config "$T_TMP/h$n/felix.yaml" >>"$T_TMP/h$n/felix.log" 2>&1 &
	FPID[$n]=$!
	track_pid "${FPID[$n]}"
done
for n in 1 2; do
	wait_for 20 test -s "$T_TMP/h$n/bird.conf" || fail "h$n: felix wrote no bird.conf"
	ip netns exec "${HNS[$n]}" bird -c "$T_TMP/h$n/bird.conf" -s "$T_TMP/h$n/bird.ctl" \
		-P "$T_TMP/h$n/bird.pid" || fail "bird on h$n did not start"
	wait_for 10 test -s "$T_TMP/h$n/bird.pid" || fail "no bird pid file on h$n"
	track_pid "$(cat "$T_TMP/h$n/bird.pid")"
done

# ---- tabby-docker and dockerd per host
start_plugin() { # N
	local n=$1
	ip netns exec "${HNS[$n]}" "$TD" --socket "$T_TMP/h$n/plugins/tabby.sock" \
		--docker-socket "$T_TMP/h$n/docker.sock" --state-dir "$T_TMP/h$n/state" \
		--nodename "h$n" --datastore-endpoints "$TABBY_TEST_ETCD_UNIX" --log-level debug \
		>>"$T_TMP/h$n/tabby-docker.log" 2>&1 &
	PPID_[$n]=$!
	track_pid "${PPID_[$n]}"
	wait_for 10 test -S "$T_TMP/h$n/plugins/tabby.sock" || fail "h$n: tabby-docker did not listen"
}
start_dockerd() { # N
	local n=$1 d=$T_TMP/h$n
	mkdir -p "$d/data" "$d/exec"
	echo '{}' >"$d/daemon.json"
	nsenter --net="/run/netns/${HNS[$n]}" unshare -m --propagation private sh -c \
		"mount --bind '$d/plugins' /run/docker/plugins && exec dockerd \
		--config-file '$d/daemon.json' --data-root '$d/data' --exec-root '$d/exec' \
		--pidfile '$d/dockerd.pid' -H 'unix://$d/docker.sock' --bridge=none \
		--iptables=false --ip6tables=false --ip-forward=false --ip-masq=false \
		--storage-driver vfs --exec-opt native.cgroupdriver=cgroupfs --shutdown-timeout 2" \
		>>"$d/dockerd.log" 2>&1 &
	DPID[$n]=$!
	if ! wait_for 60 dk "$n" info; then
		echo "skipped: dockerd cannot run here (see below)"
		tail -15 "$d/dockerd.log"
		exit 77
	fi
}
for n in 1 2; do
	start_plugin "$n"
	start_dockerd "$n"
done
ok "dockerd + tabby-docker running in h1 and h2"

R=$T_TMP/rootfs
mkdir -p "$R/bin" "$R/proc" "$R/sys" "$R/dev" "$R/etc" "$R/tmp" "$R/run"
cp /bin/busybox "$R/bin/busybox"
chroot "$R" /bin/busybox --install -s /bin
tar -C "$R" -cf "$T_TMP/busybox.tar" .
for n in 1 2; do
	dk "$n" import "$T_TMP/busybox.tar" tabby-busybox:test >/dev/null || fail "h$n: docker import"
done

# ---- networks
in_use() { "$CTL" --datastore-endpoints "$TABBY_DATASTORE_ENDPOINTS" ipam show |
	awk -F'|' '/IP Pool/ { split($5, a, " "); print a[1] }'; }
used_is() { [ "$(in_use)" = "$1" ]; }

run() { "$@" >"$T_TMP/out" 2>&1; }
run dk 1 network create --driver tabby --ipam-driver tabby --ipam-opt tabby.pool=nope bad1
check "network create with an unknown pool (--ipam-opt) fails" [ $? != 0 ]
check "... saying: no tabby IP pool named nope" grep -q "no tabby IP pool named nope" "$T_TMP/out"
sed 's/^/# /' "$T_TMP/out"
run dk 1 network create --driver tabby --ipam-driver tabby --opt tabby.pool=nope bad2
check "network create with an unknown pool (--opt) fails" [ $? != 0 ]
check "... saying: no tabby IP pool named nope" grep -q "no tabby IP pool named nope" "$T_TMP/out"
check "no network bad1/bad2 was left" bash -c "! DOCKER_HOST=unix://$T_TMP/h1/docker.sock $DOCKER network ls --format '{{.Name}}' | grep -q bad"

for n in 1 2; do
	run dk "$n" network create --driver tabby --ipam-driver tabby \
		--ipam-opt tabby.pool=default-ipv4-ippool --opt tabby.pool=default-ipv4-ippool net1
	check "h$n: docker network create net1" [ $? = 0 ]
done
USED0=$(in_use)
echo "# addresses in use before any container: $USED0"

# ---- one httpd container per host
declare -A IP CID EID
for n in 1 2; do
	run dk "$n" run -d --name "web$n" --network net1 --label app=web --label "tier=t$n" \
		tabby-busybox:test /bin/sh -c "echo hello-from-h$n >/tmp/index.html; exec httpd -f -p 8080 -h /tmp"
	check "h$n: docker run web$n on net1" [ $? = 0 ]
	CID[$n]=$(dk "$n" inspect -f '{{.Id}}' "web$n")
	IP[$n]=$(dk "$n" inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' "web$n")
	EID[$n]=$(dk "$n" inspect -f '{{range .NetworkSettings.Networks}}{{.EndpointID}}{{end}}' "web$n")
	echo "# web$n: ${IP[$n]} endpoint ${EID[$n]:0:12}"
	check "h$n: web$n got an address of the pool" python3 -c \
		'import ipaddress,sys; sys.exit(ipaddress.ip_address(sys.argv[1]) not in ipaddress.ip_network("198.19.0.0/16"))' "${IP[$n]}"
	dk "$n" exec "web$n" ip -4 addr show dev eth0 >"$T_TMP/addr" 2>&1
	check "h$n: container eth0 holds ${IP[$n]}/32" grep -q "inet ${IP[$n]}/32 " "$T_TMP/addr"
	dk "$n" exec "web$n" ip -4 route >"$T_TMP/routes" 2>&1
	sed 's/^/#   /' "$T_TMP/routes"
	check "h$n: container has 169.254.1.1 on-link" grep -qE '^169\.254\.1\.1 dev eth0 +scope link' "$T_TMP/routes"
	check "h$n: container default via 169.254.1.1" grep -qE '^default via 169\.254\.1\.1 dev eth0' "$T_TMP/routes"
	check "h$n: exactly two container routes" [ "$(wc -l <"$T_TMP/routes")" = 2 ]
	check "h$n: host route ${IP[$n]}/32 dev tby* proto 81" bash -c \
		"ip -n ${HNS[$n]} route show ${IP[$n]}/32 | grep -qE 'dev tby[0-9a-f]{11} proto 81 scope link'"
	mac=$(dk "$n" exec "web$n" cat /sys/class/net/eth0/address)
	check "h$n: permanent neighbour ${IP[$n]} lladdr $mac" bash -c \
		"ip -n ${HNS[$n]} neigh show ${IP[$n]} | grep -q 'lladdr $mac PERMANENT'"
	key=/tabby/v1/workloadendpoints/net1/h$n-libnetwork-${EID[$n]:0:12}-eth0
	check "h$n: WorkloadEndpoint $key" bash -c "ETCDCTL_API=3 etcdctl --endpoints $TABBY_DATASTORE_ENDPOINTS get --print-value-only $key | grep -q '\"orchestrator\":\"libnetwork\"'"
	check "h$n: the WEP gets the container id and Docker labels" wait_for 15 bash -c \
		"ETCDCTL_API=3 etcdctl --endpoints $TABBY_DATASTORE_ENDPOINTS get --print-value-only $key | grep '\"containerID\":\"${CID[$n]}\"' | grep '\"app\":\"web\"' | grep -q '\"tier\":\"t$n\"'"
done
USED2=$(in_use)
check "two addresses in use after two containers ($USED0 -> $USED2)" [ "$USED2" = $((USED0 + 2)) ]

# ---- cross-host connectivity
check "h1 learned h2's block over BGP" wait_for 30 bash -c \
	"ip -n ${HNS[1]} route show proto bird | grep -q ."
check "web1 pings web2 across hosts" wait_for 20 dk 1 exec web1 ping -c 1 -W 1 "${IP[2]}"
check "web2 pings web1 across hosts" dk 2 exec web2 ping -c 2 -W 1 "${IP[1]}"
tcp_has() { # N IP TEXT: web<N> fetches http://IP:8080/ with busybox nc and sees TEXT
	dk "$1" exec "web$1" sh -c "printf 'GET / HTTP/1.0\r\n\r\n' | nc -w 3 $2 8080" | grep -q "$3"
}
check "web1 -> web2 TCP (httpd) answers hello-from-h2" tcp_has 1 "${IP[2]}" hello-from-h2
check "web2 -> web1 TCP (httpd) answers hello-from-h1" tcp_has 2 "${IP[1]}" hello-from-h1

# ---- restart the plugin daemon while traffic flows
dk 1 exec web1 ping -q -i 0.02 -c 250 -W 1 "${IP[2]}" >"$T_TMP/ping.log" 2>&1 &
PING_PID=$!
sleep 1
kill "${PPID_[1]}"
wait "${PPID_[1]}" 2>/dev/null
echo "# stopped h1's tabby-docker"
check "the plugin socket is gone while the daemon is down" bash -c "! test -e $T_TMP/h1/plugins/tabby.sock"
start_plugin 1
echo "# restarted h1's tabby-docker"
wait "$PING_PID"
sed 's/^/# /' "$T_TMP/ping.log"
check "250 packets, 0% loss across the plugin restart" grep -q '250 packets received, 0% packet loss' "$T_TMP/ping.log"
check "TCP still works after the restart" tcp_has 1 "${IP[2]}" hello-from-h2

# the restarted daemon knows the network (state dir) and attaches a new container
run dk 1 run -d --name web3 --network net1 --label app=db tabby-busybox:test /bin/sh -c "exec httpd -f -p 8080 -h /tmp"
check "h1: docker run web3 after the restart" [ $? = 0 ]
IP3=$(dk 1 inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' web3)
EID3=$(dk 1 inspect -f '{{range .NetworkSettings.Networks}}{{.EndpointID}}{{end}}' web3)
check "web2 pings web3 ($IP3)" wait_for 20 dk 2 exec web2 ping -c 1 -W 1 "$IP3"
check "three addresses in use" used_is $((USED0 + 3))

# ---- docker rm -f releases everything
host_if=$(ip -n "${HNS[1]}" route show "$IP3/32" | awk '{print $3}')
run dk 1 rm -f web3
check "docker rm -f web3" [ $? = 0 ]
check "web3's address is released (ipam show back to $((USED0 + 2)))" wait_for 10 used_is $((USED0 + 2))
check "web3's veth $host_if is gone" bash -c "! ip -n ${HNS[1]} link show $host_if 2>/dev/null | grep -q ."
check "web3's host route is gone" bash -c "! ip -n ${HNS[1]} route show $IP3/32 | grep -q ."
check "web3's WorkloadEndpoint is gone" bash -c "[ -z \"\$(ETCDCTL_API=3 etcdctl --endpoints $TABBY_DATASTORE_ENDPOINTS get --keys-only /tabby/v1/workloadendpoints/net1/h1-libnetwork-${EID3:0:12}-eth0)\" ]"
for n in 1 2; do
	run dk "$n" rm -f "web$n"
	check "docker rm -f web$n" [ $? = 0 ]
done
check "all container addresses released (back to $USED0)" wait_for 10 used_is "$USED0"
check "no libnetwork WorkloadEndpoint left" bash -c "[ -z \"\$(ETCDCTL_API=3 etcdctl --endpoints $TABBY_DATASTORE_ENDPOINTS get --keys-only --prefix /tabby/v1/workloadendpoints/net1/)\" ]"
# ---- an exhausted pool: the error reaches docker, nothing is left behind
ectl put /tabby/v1/ippools/tiny-pool \
	'{"apiVersion":"projectcalico.org/v3","kind":"IPPool","metadata":{"name":"tiny-pool"},"spec":{"cidr":"198.18.201.0/31","blockSize":31}}' >/dev/null
run dk 1 network create --driver tabby --ipam-driver tabby --ipam-opt tabby.pool=tiny-pool net2
check "h1: docker network create net2 on tiny-pool (2 addresses)" [ $? = 0 ]
for i in 1 2; do
	run dk 1 run -d --name "tiny$i" --network net2 tabby-busybox:test /bin/sh -c 'exec sleep 600'
	check "h1: container tiny$i on net2" [ $? = 0 ]
done
veths_before=$(ip -n "${HNS[1]}" -o link show type veth | grep -c ' tby')
weps_before=$(ectl get --keys-only --prefix /tabby/v1/workloadendpoints/net2/ | grep -c .)
run dk 1 run -d --name tiny3 --network net2 tabby-busybox:test /bin/sh -c 'exec sleep 600'
check "a third container on the exhausted pool fails" [ $? != 0 ]
sed 's/^/# /' "$T_TMP/out"
check "... saying the pool is exhausted" grep -q "tabby IP pool tiny-pool is exhausted" "$T_TMP/out"
check "... and leaves no veth" [ "$(ip -n "${HNS[1]}" -o link show type veth | grep -c ' tby')" = "$veths_before" ]
check "... and no WorkloadEndpoint" [ "$(ectl get --keys-only --prefix /tabby/v1/workloadendpoints/net2/ | grep -c .)" = "$weps_before" ]
dk 1 rm -f tiny1 tiny2 tiny3 >/dev/null 2>&1
run dk 1 network rm net2
check "h1: docker network rm net2" [ $? = 0 ]

for n in 1 2; do
	run dk "$n" network rm net1
	check "h$n: docker network rm net1" [ $? = 0 ]
done
check "network state files removed" bash -c "[ -z \"\$(find $T_TMP/h1/state/networks $T_TMP/h2/state/networks -type f)\" ]"
echo "# skipped: policy by Docker label (depends on the policy engine, not built yet)"
summary
