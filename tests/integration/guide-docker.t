#!/bin/bash
# guide-docker.t - the README's "Container runtimes / Docker" guide, step by step: tabby-docker
# started with the ExecStart line of the shipped configs/tabby-docker.service (socket
# /run/docker/plugins/tabby.sock, state in /var/lib/tabby-docker, node name from
# /var/lib/tabby/nodename, datastore at http://127.0.0.1:2379), then dockerd with its default
# paths (it finds the plugin by itself), `docker network create --driver tabby --ipam-driver
# tabby --subnet 198.19.0.0/16 tabby`, `docker run --network tabby` (an address of h1's block,
# reached from a workload on h2 by ping and TCP), `--ip`, and `docker rm -f`, which leaves no
# WorkloadEndpoint, allocation or host route.
#
# /run, /var/lib and the other guide paths are private to the test (guide-lib.sh), so dockerd
# and tabby-docker use their default sockets and directories without touching the machine's.
# The environment is empty, as under systemd (the unit's EnvironmentFile is optional and not
# needed here). dockerd gets this machine's quirks only (docker-lib.sh: no bridge, no iptables,
# vfs, cgroupfs); the image `busybox` is a `docker import` of busybox-static (no internet).
. "$(dirname "$0")/guide-lib.sh"
DOCKER=/usr/bin/docker # the client of the docker.io package, which matches its dockerd
[ -x "$DOCKER" ] || DOCKER=$(command -v docker) || { g_lab_down; echo "skipped: no docker client"; exit 77; }
for c in dockerd containerd runc; do
	command -v "$c" >/dev/null || { g_lab_down; echo "skipped: $c is not installed"; exit 77; }
done
TD=$T_BUILD/docker/tabby-docker
[ -x "$TD" ] || fail "tabby-docker is not built"
UNIT=$T_SRC/configs/tabby-docker.service
PIN=198.19.250.10
dk() { g_in_h1 "$DOCKER" "$@"; }
TDPID=""
DPID=""

stop_pid() {
	[ -n "$1" ] || return 0
	kill "$1" 2>/dev/null
	for _ in $(seq 1 100); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.1; done
	kill -9 "$1" 2>/dev/null
}
teardown() {
	local rc=$?
	if [ -n "$DPID" ]; then
		ids=$(dk ps -aq 2>/dev/null)
		# shellcheck disable=SC2086 # one id per word
		[ -n "$ids" ] && dk rm -f $ids >/dev/null 2>&1
		dk network rm tabby >/dev/null 2>&1
	fi
	stop_pid "$DPID"
	stop_pid "$TDPID"
	if [ "$rc" != 0 ]; then
		g_dump_logs
		for f in "$G/tabby-docker.log" "$G/dockerd.log"; do
			echo "# $f:"; tail -n 20 "$f" 2>/dev/null | sed 's/^/#   /'
		done
	fi
	g_lab_down
	t_cleanup
}
trap teardown EXIT

# ---- tabby-docker as its systemd unit starts it -------------------------------------------------
exec_start=$(sed -n 's/^ExecStart=//p' "$UNIT")
check "the unit's ExecStart serves /run/docker/plugins/tabby.sock ($exec_start)" \
	sh -c "echo '$exec_start' | grep -q -- '--socket /run/docker/plugins/tabby.sock'"
check "the unit starts tabby-docker before docker.service" grep -q '^Before=.*docker.service' "$UNIT"
readme_cmd=$(g_readme_block "### Docker" "" | head -n1)
check "the README's Docker guide shows that command line" [ "$readme_cmd" = "$exec_start" ]
read -r -a argv <<<"$exec_start"
[ "${argv[0]}" = /usr/sbin/tabby-docker ] || fail "ExecStart runs ${argv[0]}, not /usr/sbin/tabby-docker"
argv[0]=$TD
mkdir -p "$G/root/var/lib/tabby-docker" # StateDirectory=tabby-docker
check "no /run/docker/plugins before tabby-docker starts (it makes the directory)" [ ! -e "$G/root/run/docker" ]
# nsenter itself (env then execs the plugin), so $! is the plugin: see dockerd below
nsenter --mount="/proc/$G_MNT/ns/mnt" --net="/run/netns/$P-h1" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin "${argv[@]}" >"$G/tabby-docker.log" 2>&1 &
TDPID=$!
check "tabby-docker listens on /run/docker/plugins/tabby.sock (as h1 sees it)" \
	wait_for 10 test -S "$G/root/run/docker/plugins/tabby.sock"
check "tabby-docker names node h1 (from /var/lib/tabby/nodename)" \
	wait_for 5 grep -q '(node h1,' "$G/tabby-docker.log"

# ---- dockerd with its default paths -------------------------------------------------------------
echo '{}' >"$G/daemon.json"
# nsenter itself, not the g_in_h1 function: a function in the background is a subshell, so
# $! would be that shell, and killing it would leave dockerd running
nsenter --mount="/proc/$G_MNT/ns/mnt" --net="/run/netns/$P-h1" dockerd --config-file "$G/daemon.json" --bridge=none --iptables=false --ip6tables=false \
	--ip-forward=false --ip-masq=false --storage-driver vfs \
	--exec-opt native.cgroupdriver=cgroupfs --shutdown-timeout 2 >"$G/dockerd.log" 2>&1 &
DPID=$!
if ! wait_for 60 dk info; then
	echo "skipped: dockerd cannot run here"
	tail -15 "$G/dockerd.log"
	exit 77
fi
ok "dockerd on /var/run/docker.sock (as h1 sees it)"
dk import "$G/busybox.tar" busybox:latest >/dev/null || fail "docker import busybox"

# ---- the guide's commands -----------------------------------------------------------------------
dk network create --driver tabby --ipam-driver tabby --subnet 198.19.0.0/16 tabby >"$T_TMP/out" 2>&1 ||
	fail "docker network create --driver tabby --ipam-driver tabby --subnet 198.19.0.0/16 tabby: $(cat "$T_TMP/out")"
ok "docker network create --driver tabby --ipam-driver tabby --subnet 198.19.0.0/16 tabby"
check "docker network ls: tabby, driver tabby" sh -c "nsenter --mount=/proc/$G_MNT/ns/mnt $DOCKER network ls --format '{{.Name}} {{.Driver}}' | grep -qx 'tabby tabby'"

dk run -d --name web --network tabby busybox httpd -f -p 8080 -h /tmp >"$T_TMP/out" 2>&1 ||
	fail "docker run -d --name web --network tabby busybox: $(cat "$T_TMP/out")"
ok "docker run -d --name web --network tabby busybox httpd"
dk exec web sh -c 'echo hello-from-docker > /tmp/index.html' || fail "docker exec web"
ip=$(dk inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' web)
eid=$(dk inspect -f '{{range .NetworkSettings.Networks}}{{.EndpointID}}{{end}}' web)
block=$(g_h1_block)
check "web's address $ip lies in h1's block $block of the pool" g_in_pool "$ip" "$block"
wep=$(etcdget --prefix --keys-only /tabby/v1/workloadendpoints/ | grep -F -- "${eid//-/--}" | head -n1)
check "a WorkloadEndpoint for its endpoint exists ($wep)" test -n "$wep"
check "it holds $ip" [ "$(g_wep_ip "$wep")" = "$ip" ]
check "h1 routes $ip/32 to a tby veth (proto 81)" \
	sh -c "ip -n '$P-h1' route show proto 81 | grep -Eq '^$ip dev tby[0-9a-f]{11} '"
check "h2 has a route to $ip via h1 (BGP)" wait_for 30 sh -c "ip -n '$P-h2' route get '$ip' | grep -q 'via 198.18.0.11 '"
check "ping h2-w1 -> web $ip" wait_for 10 ip netns exec "$P-h2-w1" ping -c 1 -W 1 "$ip"
body=$(g_curl_h2 "$ip:8080")
check "TCP h2-w1 -> $ip:8080 gets web's page ('$body')" [ "$body" = hello-from-docker ]

dk run -d --name pinned --network tabby --ip "$PIN" busybox httpd -f -p 8080 -h /tmp >"$T_TMP/out" 2>&1 ||
	fail "docker run --ip $PIN: $(cat "$T_TMP/out")"
ok "docker run -d --name pinned --network tabby --ip $PIN busybox httpd"
pip=$(dk inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' pinned)
check "docker inspect: pinned has $PIN ($pip)" [ "$pip" = "$PIN" ]
peid=$(dk inspect -f '{{range .NetworkSettings.Networks}}{{.EndpointID}}{{end}}' pinned)
pwep=$(etcdget --prefix --keys-only /tabby/v1/workloadendpoints/ | grep -F -- "${peid//-/--}" | head -n1)
check "its WorkloadEndpoint holds $PIN" [ "$(g_wep_ip "$pwep")" = "$PIN" ]
check "ping h2-w1 -> pinned $PIN" wait_for 30 ip netns exec "$P-h2-w1" ping -c 1 -W 1 "$PIN"

# ---- docker rm -f -------------------------------------------------------------------------------
dk rm -f web pinned >/dev/null 2>"$T_TMP/out" || fail "docker rm -f web pinned: $(cat "$T_TMP/out")"
ok "docker rm -f web pinned"
for x in "$ip:$wep" "$PIN:$pwep"; do
	a=${x%%:*}; w=${x#*:}
	check "$a: WorkloadEndpoint gone" wait_for 10 sh -c "[ -z \"\$(ETCDCTL_API=3 etcdctl --endpoints http://127.0.0.1:$ETCD_PORT get --keys-only $w)\" ]"
	check "$a: allocation free in its block" g_addr_free "$a"
	check "$a: h1 has no host route" test -z "$(ip -n "$P-h1" route show "$a/32")"
done
dk network rm tabby >/dev/null 2>"$T_TMP/out" || fail "docker network rm tabby: $(cat "$T_TMP/out")"
ok "docker network rm tabby"
summary
