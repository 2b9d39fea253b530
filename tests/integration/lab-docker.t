#!/bin/bash
# lab-docker.t - `tabby-lab up --hosts 2 --workloads 1 --docker`: besides the CNI workloads, a
# dockerd + tabby-docker per host and a busybox httpd container hN-d1 on the Docker network
# "tabby". `check` pings every entry (CNI workloads and Docker containers) on another host; Docker
# containers reach CNI workloads across hosts and back (ping and TCP); the lab's example policy
# applies to traffic from a Docker container (the CNI client's port 8080 admits app=client of
# namespace default only); `down` leaves no process, mount, namespace or file of ours.
# Skipped (77) only when dockerd cannot run here.
. "$(dirname "$0")/lib.sh"
need_root
for c in dockerd containerd runc nsenter unshare; do
	command -v "$c" >/dev/null || { echo "skipped: $c is not installed"; exit 77; }
done
[ -x /bin/busybox ] || { echo "skipped: busybox-static is not installed"; exit 77; }

H=2
W=1
. "$(dirname "$0")/lab-lib.sh"
lab_setup td docker/tabby-docker

dk() { local n=$1; shift; DOCKER_HOST="unix://$RUN/docker/h$n/docker.sock" docker "$@"; }
env_get() { sed -n "s/^$2=//p" "$1"; }
wl_ip() { env_get "$RUN/workloads/$1.env" WL_IP; }
dk_ip() { env_get "$RUN/docker/$1.env" DK_IP; }
netns_left() { ip netns list | awk '{print $1}' | grep -c "^$P-" || true; }
# procs_of_run - PIDs whose command line names our run directory (read only; nothing is killed)
procs_of_run() {
	local f
	for f in /proc/[0-9]*/cmdline; do
		tr '\0' ' ' <"$f" 2>/dev/null | grep -qF -- "$RUN/" && basename "$(dirname "$f")"
	done
	return 0
}
mounts_of_run() { grep -hF -- "$RUN" /proc/self/mountinfo 2>/dev/null | grep -c . || true; }
# (busybox wget crashes here, so HTTP is spoken by hand) HTTP_GET: python3 -c "$HTTP_GET" IP
HTTP_GET='import socket,sys
s=socket.create_connection((sys.argv[1],8080),3); s.sendall(b"GET / HTTP/1.0\r\n\r\n")
b=b""
while True:
    d=s.recv(4096)
    if not d: break
    b+=d
print(b.split(b"\r\n\r\n",1)[1].decode())'
# tcp_from_ns NS IP PORT: a TCP handshake from a namespace within 2 s
tcp_from_ns() {
	ip netns exec "$1" python3 -c 'import socket,sys; s=socket.socket(); s.settimeout(2); s.connect((sys.argv[1], int(sys.argv[2])))' "$2" "$3"
}

# ---- up -----------------------------------------------------------------------------------------
if "$LAB" up --hosts "$H" --workloads "$W" --docker >"$T_TMP/up.out" 2>&1; then
	ok "tabby-lab up --hosts $H --workloads $W --docker"
else
	sed 's/^/#   /' "$T_TMP/up.out"
	if grep -q "dockerd on h[0-9]* did not answer" "$T_TMP/up.out"; then
		echo "skipped: dockerd cannot run here"
		exit 77
	fi
	fail "tabby-lab up --docker"
fi
. "$RUN/lab.env"
mapfile -t pids < <(cat "$RUN"/pids/*.pid)
check "up recorded felix+BIRD per host, etcd, and dockerd, containerd, tabby-docker per host" \
	[ "${#pids[@]}" = $((2 * H + 1 + 3 * H)) ]
for n in 1 2; do
	check "h$n-d1 is running on h$n's dockerd" \
		[ "$(dk "$n" inspect -f '{{.State.Running}}' "h$n-d1")" = true ]
	check "h$n-d1 has label role=docker" \
		[ "$(dk "$n" inspect -f '{{index .Config.Labels "role"}}' "h$n-d1")" = docker ]
	check "h$n-d1 ($(dk_ip "h$n-d1")) routed by h$n: /32 dev tby* proto 81" \
		sh -c "ip -n '$P-h$n' route show proto 81 | grep -Eq '^$(dk_ip "h$n-d1") dev tby[0-9a-f]{11} '"
done

# ---- check: CNI workloads and Docker containers, every pair across hosts ------------------------
entries=$((H * (W + 1)))
pairs=$((entries * (entries - W - 1)))
rc=0
"$LAB" check >"$T_TMP/check.out" 2>&1 || rc=$?
sed 's/^/#   /' "$T_TMP/check.out"
check "check prints '$pairs passed, 0 failed' ($entries entries, $((W + 1)) per host)" \
	grep -qx "$pairs passed, 0 failed" "$T_TMP/check.out"
check "check exits 0" [ "$rc" = 0 ]
check "the matrix has a row for h1-d1" grep -qE '^h1-d1 +(-|ok) ' "$T_TMP/check.out"
check "the matrix has a column for h2-d1" grep -qE '^ +h1-w1 +h2-w1 +h1-d1 +h2-d1' "$T_TMP/check.out"

# ---- Docker <-> CNI across hosts, explicitly ----------------------------------------------------
D1=$(dk_ip h1-d1); D2=$(dk_ip h2-d1); W1=$(wl_ip h1-w1); W2=$(wl_ip h2-w1)
check "h1-d1 (docker) pings h2-w1 (CNI) $W2" dk 1 exec h1-d1 ping -c 2 -W 1 "$W2"
check "h2-w1 (CNI) pings h1-d1 (docker) $D1" ip netns exec "$P-h2-w1" ping -c 2 -W 1 "$D1"
check "h2-d1 (docker) pings h1-w1 (CNI) $W1" dk 2 exec h2-d1 ping -c 2 -W 1 "$W1"
check "h1-w1 (CNI) fetches hello-from-h2-d1 over TCP from h2-d1:8080" \
	sh -c "ip netns exec '$P-h1-w1' python3 -c '$HTTP_GET' $D2 | grep -qx hello-from-h2-d1"
check "h2-w1 (CNI) fetches hello-from-h1-d1 over TCP from h1-d1:8080" \
	sh -c "ip netns exec '$P-h2-w1' python3 -c '$HTTP_GET' $D1 | grep -qx hello-from-h1-d1"
check "h1-d1 fetches hello-from-h2-d1 (docker to docker across hosts, busybox nc)" sh -c \
	"printf 'GET / HTTP/1.0\r\n\r\n' | DOCKER_HOST=unix://$RUN/docker/h1/docker.sock docker exec -i h1-d1 nc -w 3 $D2 8080 | grep -qx hello-from-h2-d1"
# The example NetworkPolicy "client" (namespace default) admits TCP 8080 to app=client only from
# app=client of the same namespace: h1-w1 gets in, the Docker container (namespace tabby) not.
check "policy: h1-w1 (app=client) -> h2-w1:8080 connects" wait_for 30 tcp_from_ns "$P-h1-w1" "$W2" 8080
check "policy: h1-d1 (docker, namespace tabby) -> h2-w1:8080 times out" \
	sh -c "! DOCKER_HOST=unix://$RUN/docker/h1/docker.sock docker exec h1-d1 nc -w 2 $W2 8080 </dev/null"

# ---- down: nothing of ours remains --------------------------------------------------------------
check "$((1 + H + H * W)) namespaces with prefix $P exist before down" [ "$(netns_left)" = $((1 + H + H * W)) ]
"$LAB" down >"$T_TMP/down.out" 2>&1 || { cat "$T_TMP/down.out"; fail "tabby-lab down"; }
ok "tabby-lab down"
for p in "${pids[@]}"; do
	check "recorded pid $p is gone" proc_gone "$p"
done
left=$(procs_of_run | tr '\n' ' ')
check "no process names the run directory (dockerd, containerd, shims, tabby-docker) [${left}]" [ -z "$left" ]
check "no mount under the run directory" [ "$(mounts_of_run)" = 0 ]
check "no namespace with prefix $P is left" [ "$(netns_left)" = 0 ]
check "the run directory is removed" [ ! -e "$RUN" ]
check "a second down succeeds and does nothing" "$LAB" down
summary
