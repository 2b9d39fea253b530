#!/bin/bash
# docker-lib.sh - shared setup of docker.t and docker-policy.t (sourced after setting nothing):
# a 2-host mini cluster (bridge fabric in "tor", etcd on a unix socket, tabby-felix + real BIRD
# per host namespace h1/h2, as felix-restart.t) with one dockerd and one tabby-docker per host,
# and the image tabby-busybox:test (`docker import` of a busybox-static rootfs) on both.
# Provides: dk N ARGS... (docker client of host N), ectl, start_plugin N [DOCKER_SOCKET],
# HNS[N] (host netns), PPID_[N] (plugin PID), $DOCKER, $CTL, $FELIX, $TD.
# Exits 77 when dockerd cannot run here.
#
# Each dockerd finds its own plugin: dockerd only looks in /run/docker/plugins (sockets) and
# /etc/docker/plugins, /usr/lib/docker/plugins (spec files), the same paths for every dockerd on
# the machine. So each dockerd runs in a private mount namespace (unshare -m) where the host's
# own plugin directory $T_TMP/hN/plugins is bind-mounted over /run/docker/plugins; tabby-docker
# runs in the host's netns and listens on $T_TMP/hN/plugins/tabby.sock. dockerd runs with
# `nsenter --net` (not `ip netns exec`, which hides /sys/fs/cgroup), its own data/exec roots,
# pid file and API socket, no bridge, no iptables, vfs storage and cgroupfs; it starts its own
# containerd under its exec root.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
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
# A file of ours keeps the host's (otherwise empty) directory non-empty while we run: another
# test's or lab's cleanup (`rmdir /run/docker/plugins /run/docker`) would otherwise succeed and,
# since Linux 3.18, detach the bind mount over it inside our dockerds' mount namespaces; dockerd
# then finds no plugin ("dial unix /run/docker/plugins/tabby.sock: no such file or directory",
# seen when docker.t and docker-policy.t ran side by side under ctest -j).
MADE_RUN_DOCKER=
[ -d /run/docker ] || MADE_RUN_DOCKER=1
mkdir -p /run/docker/plugins || fail "mkdir /run/docker/plugins"
RUN_DOCKER_IN_USE=/run/docker/plugins/.in-use-$T_PREFIX
touch "$RUN_DOCKER_IN_USE" || fail "touch $RUN_DOCKER_IN_USE"

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
	rm -f "$RUN_DOCKER_IN_USE"
	# fails, harmlessly, while another run's in-use file is there
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
nodenameFile: $T_TMP/h$n/nodename
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
start_plugin() { # N [DOCKER_SOCKET]
	local n=$1
	ip netns exec "${HNS[$n]}" "$TD" --socket "$T_TMP/h$n/plugins/tabby.sock" \
		--docker-socket "${2:-$T_TMP/h$n/docker.sock}" --state-dir "$T_TMP/h$n/state" \
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
