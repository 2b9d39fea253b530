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
# Setup (cluster, dockerd per host, image): docker-lib.sh. Policy by Docker label: docker-policy.t.
. "$(dirname "$0")/docker-lib.sh"

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

# Every host of a running cluster routes parts of the pool (BGP, workloads). Without --subnet,
# libnetwork re-requests a pool that overlaps a host route forever unless the driver answers
# 0.0.0.0/0: h1 gets such a route first (the timeout turns a hang into a failure).
ip -n "${HNS[1]}" route add 198.19.254.0/24 via 198.18.0.1 dev eth0
for n in 1 2; do
	run timeout 60 env DOCKER_HOST="unix://$T_TMP/h$n/docker.sock" "$DOCKER" network create \
		--driver tabby --ipam-driver tabby \
		--ipam-opt tabby.pool=default-ipv4-ippool --opt tabby.pool=default-ipv4-ippool net1
	check "h$n: docker network create net1 (h1 routes 198.19.254.0/24 of the pool)" [ $? = 0 ]
done
ip -n "${HNS[1]}" route del 198.19.254.0/24 via 198.18.0.1 dev eth0
USED0=$(in_use)
echo "# addresses in use before any container: $USED0"

# ---- one httpd container per host
declare -A IP CID EID
for n in 1 2; do
	run dk "$n" run -d --name "web$n" --network net1 --label app=web --label "tier=t$n" --expose 8080 --expose 53/udp \
		tabby-busybox:test /bin/sh -c "echo hello-from-h$n >/tmp/index.html; exec httpd -f -p 8080 -h /tmp"
	check "h$n: docker run web$n on net1" [ $? = 0 ]
	CID[$n]=$(dk "$n" inspect -f '{{.Id}}' "web$n")
	IP[$n]=$(dk "$n" inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' "web$n")
	EID[$n]=$(dk "$n" inspect -f '{{range .NetworkSettings.Networks}}{{.EndpointID}}{{end}}' "web$n")
	echo "# web$n: ${IP[$n]} endpoint ${EID[$n]}"
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
	key=/tabby/v1/workloadendpoints/net1/h$n-libnetwork-${EID[$n]}-eth0
	check "h$n: WorkloadEndpoint $key" bash -c "ETCDCTL_API=3 etcdctl --endpoints $TABBY_DATASTORE_ENDPOINTS get --print-value-only $key | grep -q '\"orchestrator\":\"libnetwork\"'"
	check "h$n: the WEP names the exposed ports (tcp-8080, udp-53)" python3 -c '
import json,sys; s=json.loads(sys.argv[1])["spec"]
assert sorted(s["ports"], key=lambda p: p["name"]) == [{"name":"tcp-8080","protocol":"TCP","port":8080},{"name":"udp-53","protocol":"UDP","port":53}], s' \
		"$(ectl get --print-value-only "$key")"
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
check "web3's WorkloadEndpoint is gone" bash -c "[ -z \"\$(ETCDCTL_API=3 etcdctl --endpoints $TABBY_DATASTORE_ENDPOINTS get --keys-only /tabby/v1/workloadendpoints/net1/h1-libnetwork-${EID3}-eth0)\" ]"
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

# ---- docker run --ip: any address of the network's pools, with --subnet inside a pool or
# holding pools (dockerd refuses --ip on a network without --subnet, before asking the driver)
run dk 1 network create --driver tabby --ipam-driver tabby --subnet 198.19.240.0/24 net3
check "h1: docker network create --subnet 198.19.240.0/24 (inside default-ipv4-ippool)" [ $? = 0 ]
run dk 1 run -d --name pin1 --network net3 --ip 198.19.240.7 tabby-busybox:test /bin/sh -c 'exec sleep 600'
check "h1: docker run --ip 198.19.240.7 on net3" [ $? = 0 ]
dk 1 exec pin1 ip -4 addr show dev eth0 >"$T_TMP/addr" 2>&1
check "... the container's eth0 holds 198.19.240.7/32" grep -q "inet 198.19.240.7/32 " "$T_TMP/addr"
EIDP=$(dk 1 inspect -f '{{range .NetworkSettings.Networks}}{{.EndpointID}}{{end}}' pin1)
check "... its WorkloadEndpoint holds it" bash -c "ETCDCTL_API=3 etcdctl --endpoints $TABBY_DATASTORE_ENDPOINTS get --print-value-only /tabby/v1/workloadendpoints/net3/h1-libnetwork-$EIDP-eth0 | grep -q '\"198.19.240.7/32\"'"
check "h2 routes 198.19.240.7 through BGP" \
	wait_for 20 sh -c "ip -n ${HNS[2]} route get 198.19.240.7 | grep -q 'via '"
run dk 1 run -d --name pin2 --network net3 --ip 198.19.240.7 tabby-busybox:test /bin/sh -c 'exec sleep 600'
check "a second --ip 198.19.240.7 fails" [ $? != 0 ]
check "... saying the address is in use" grep -q "address 198.19.240.7 is already in use" "$T_TMP/out"
ectl put /tabby/v1/ippools/p2 \
	'{"apiVersion":"projectcalico.org/v3","kind":"IPPool","metadata":{"name":"p2"},"spec":{"cidr":"198.18.128.0/26","blockSize":26}}' >/dev/null
run dk 1 network create --driver tabby --ipam-driver tabby --subnet 198.18.128.0/24 net4
check "h1: docker network create --subnet 198.18.128.0/24 (holds pool p2)" [ $? = 0 ]
run dk 1 run -d --name pin3 --network net4 --ip 198.18.128.9 tabby-busybox:test /bin/sh -c 'exec sleep 600'
check "h1: docker run --ip 198.18.128.9 on net4 (pool p2)" [ $? = 0 ]
dk 1 exec pin3 ip -4 addr show dev eth0 >"$T_TMP/addr" 2>&1
check "... the container's eth0 holds 198.18.128.9/32" grep -q "inet 198.18.128.9/32 " "$T_TMP/addr"
run dk 1 run -d --name auto4 --network net4 tabby-busybox:test /bin/sh -c 'exec sleep 600'
IPA=$(dk 1 inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' auto4)
check "an automatic address on net4 comes from p2 ($IPA)" python3 -c \
	'import ipaddress,sys; sys.exit(ipaddress.ip_address(sys.argv[1]) not in ipaddress.ip_network("198.18.128.0/26"))' "$IPA"
run dk 1 network create --driver tabby --ipam-driver tabby --subnet 198.18.160.0/24 net5
check "a --subnet that neither holds nor lies in a pool is refused" [ $? != 0 ]
check "... saying so" grep -q "no enabled tabby IP pool holds --subnet 198.18.160.0/24 or lies inside it" "$T_TMP/out"
dk 1 rm -f pin1 pin2 pin3 auto4 >/dev/null 2>&1
for net in net3 net4; do
	run dk 1 network rm $net
	check "h1: docker network rm $net" [ $? = 0 ]
done

for n in 1 2; do
	run dk "$n" network rm net1
	check "h$n: docker network rm net1" [ $? = 0 ]
done
check "network state files removed" bash -c "[ -z \"\$(find $T_TMP/h1/state/networks $T_TMP/h2/state/networks -type f)\" ]"
summary
