#!/bin/bash
# docker-ipv6.t - Docker dual-stack through the lab: `tabby-lab up --ipv6 --hosts 2 --workloads 1
# --docker` creates the Docker network with `--ipv6 --subnet 198.19.0.0/16 --subnet
# 2001:db8:19::/112` (tabby's network and IPAM driver) and a container hN-d1 per host. Asserts:
# each container has an IPv4 and an IPv6 address of the tabby pools (docker inspect), its
# WorkloadEndpoint lists both ipNetworks, its host routes the /128 to the veth, the container's
# IPv6 default route is via fe80::ecee:eeff:feee:eeee; containers reach each other and the CNI
# workloads over IPv6 across hosts (ping, and TCP to busybox httpd), and `check` passes every
# pair over both families; `down` leaves no namespace. Skipped (77) only when dockerd cannot run.
. "$(dirname "$0")/lib.sh"
need_root
for c in dockerd containerd runc nsenter unshare; do
	command -v "$c" >/dev/null || { echo "skipped: $c is not installed"; exit 77; }
done
[ -x /bin/busybox ] || { echo "skipped: busybox-static is not installed"; exit 77; }

H=2
. "$(dirname "$0")/lab-lib.sh"
lab_setup d6 docker/tabby-docker

dk() { local n=$1; shift; DOCKER_HOST="unix://$RUN/docker/h$n/docker.sock" docker "$@"; }
env_get() { sed -n "s/^$2=//p" "$1"; }
netns_left() { ip netns list | awk '{print $1}' | grep -c "^$P-" || true; }
in_pool() {
	python3 -c 'import ipaddress,sys; sys.exit(ipaddress.ip_address(sys.argv[1]) not in ipaddress.ip_network(sys.argv[2]))' "$1" "$2"
}
# http_from_ns NS IP6: the body busybox httpd of a container serves on [IP6]:8080
http_from_ns() {
	ip netns exec "$1" python3 -c 'import socket,sys
s=socket.create_connection((sys.argv[1],8080),3); s.sendall(b"GET / HTTP/1.0\r\n\r\n")
b=b""
while True:
    d=s.recv(4096)
    if not d: break
    b+=d
print(b.split(b"\r\n\r\n",1)[1].decode().strip())' "$2"
}

# ---- up -----------------------------------------------------------------------------------------
if "$LAB" up --ipv6 --hosts "$H" --workloads 1 --docker >"$T_TMP/up.out" 2>&1; then
	ok "tabby-lab up --ipv6 --hosts $H --workloads 1 --docker"
else
	sed 's/^/#   /' "$T_TMP/up.out"
	if grep -q "dockerd on h[0-9]* did not answer" "$T_TMP/up.out"; then
		echo "skipped: dockerd cannot run here"
		exit 77
	fi
	fail "tabby-lab up --ipv6 --docker"
fi
. "$RUN/lab.env"
ctl() { "$T_BUILD/ctl/tabbyctl" --datastore-endpoints "unix://$RUN/etcd/etcd.sock:$ETCD_PORT" "$@"; }
# wep_has V4 V6 - a WorkloadEndpoint of the namespace "tabby" has ipNetworks exactly [V4, V6]
wep_has() {
	ctl get wep -n tabby -o json | python3 -c '
import json, sys
d = json.load(sys.stdin)
items = d.get("items", [d]) if isinstance(d, dict) else d
sys.exit(not any(w["spec"].get("ipNetworks") == sys.argv[1:] for w in items))' "$@"
}

check "the Docker network has IPv6 enabled" \
	test "$(dk 1 network inspect -f '{{.EnableIPv6}}' tabby)" = true
for n in $(seq 1 "$H"); do
	v4=$(env_get "$RUN/docker/h$n-d1.env" DK_IP)
	v6=$(env_get "$RUN/docker/h$n-d1.env" DK_IP6)
	check "h$n-d1 has an IPv4 address of 198.19.0.0/16 ($v4)" in_pool "$v4" 198.19.0.0/16
	check "h$n-d1 has an IPv6 address of 2001:db8:19::/112 ($v6)" in_pool "$v6" 2001:db8:19::/112
	check "h$n-d1's WorkloadEndpoint lists $v4/32 and $v6/128" wep_has "$v4/32" "$v6/128"
	check "h$n routes $v6/128 to a tby veth" \
		bash -c "ip -6 -n $P-h$n route show $v6/128 | grep -q 'dev tby'"
	check "h$n-d1's IPv6 default route is via fe80::ecee:eeff:feee:eeee" \
		bash -c "DOCKER_HOST=unix://$RUN/docker/h$n/docker.sock docker exec h$n-d1 ip -6 route | grep -q 'default via fe80::ecee:eeff:feee:eeee'"
done
D1=$(env_get "$RUN/docker/h1-d1.env" DK_IP6)
D2=$(env_get "$RUN/docker/h2-d1.env" DK_IP6)
W2=$(env_get "$RUN/workloads/h2-w1.env" WL_IP6)
check "h1-d1 pings h2-d1 over IPv6 ($D2)" wait_for 20 dk 1 exec h1-d1 ping -c 1 -W 1 "$D2"
check "h1-d1 pings h2-w1 (CNI) over IPv6 ($W2)" dk 1 exec h1-d1 ping -c 2 -W 1 "$W2"
check "h2-w1 (CNI) fetches hello-from-h1-d1 over IPv6 from [$D1]:8080" \
	test "$(http_from_ns "$P-h2-w1" "$D1")" = hello-from-h1-d1
check "a ping from h1-d1 to 2001:db8:19::fff0 (nobody's) fails" \
	bash -c "! DOCKER_HOST=unix://$RUN/docker/h1/docker.sock docker exec h1-d1 ping -c 1 -W 1 2001:db8:19::fff0 >/dev/null 2>&1"

entries=$((2 * H))
pairs=$((entries * (entries - 2)))
rc=0
"$LAB" check >"$T_TMP/check.out" 2>&1 || rc=$?
sed 's/^/#   /' "$T_TMP/check.out"
check "check prints 'IPv4: $pairs passed, 0 failed'" grep -qx "IPv4: $pairs passed, 0 failed" "$T_TMP/check.out"
check "check prints 'IPv6: $pairs passed, 0 failed'" grep -qx "IPv6: $pairs passed, 0 failed" "$T_TMP/check.out"
check "check exits 0" [ "$rc" = 0 ]

# ---- down ---------------------------------------------------------------------------------------
if "$LAB" down >"$T_TMP/down.out" 2>&1; then ok "tabby-lab down"; else
	sed 's/^/#   /' "$T_TMP/down.out"
	fail "tabby-lab down"
fi
check "no namespace with prefix $P is left" [ "$(netns_left)" = 0 ]
check "the run directory is removed" [ ! -e "$RUN" ]

summary
