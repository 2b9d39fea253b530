#!/bin/bash
# CNI plugin tabby + tabby-ipam against a real etcd and the kernel: VERSION, ADD (result JSON,
# veth, sysctls, container address and routes, host route proto 81, neighbour, WEP, IPAM handle),
# real pings between two containers through proxy-ARP, CHECK, idempotent ADD, DEL (twice, unknown
# container, netns already gone). The plugin runs inside a host netns, as a runtime would run it
# (nsenter --net), and reaches etcd through its unix socket.
source "${TABBY_SOURCE_DIR:-$(dirname "$0")/../..}/tests/integration/lib.sh"
need_root

PLUGIN=$T_BUILD/cni/tabby
[ -x "$PLUGIN" ] && [ -x "$T_BUILD/cni/tabby-ipam" ] || fail "plugins not built in $T_BUILD/cni"
command -v etcdctl >/dev/null || fail "etcdctl not installed"

etcd_start
ectl() { ETCDCTL_API=3 etcdctl --endpoints "$TABBY_DATASTORE_ENDPOINTS" "$@"; }
ectl put /tabby/v1/ippools/default-ipv4-ippool '{"apiVersion":"projectcalico.org/v3","kind":"IPPool","metadata":{"name":"default-ipv4-ippool"},"spec":{"cidr":"198.19.0.0/24","blockSize":26}}' >/dev/null ||
	fail "put IPPool"
# the Node felix would register: ADD refuses a node without one (code 109)
ectl put /tabby/v1/nodes/h1 '{"apiVersion":"projectcalico.org/v3","kind":"Node","metadata":{"name":"h1"},"spec":{}}' >/dev/null || fail "put Node h1"

# Host h1 with an uplink to a "tor" namespace and a default route through it: proxy-ARP answers
# only when the host has a unicast route to 169.254.1.1 through another interface (lab gotcha 1).
ns_add tor; TOR=$NS_LAST
ns_add h1; H=$NS_LAST
ip netns exec "$H" sysctl -qw net.ipv4.ip_forward=1
ip netns exec "$H" ip link add up0 type veth peer name down0 netns "$TOR"
ip netns exec "$TOR" ip addr add 198.18.0.1/24 dev down0
ip netns exec "$TOR" ip link set down0 up
ip netns exec "$H" ip addr add 198.18.0.11/24 dev up0
ip netns exec "$H" ip link set up0 up
ip netns exec "$H" ip route add default via 198.18.0.1 dev up0
ns_add c1; C1=$NS_LAST
ns_add c2; C2=$NS_LAST

LOG=$T_TMP/plugin.log
conf() { # [cniVersion] [extra top-level JSON members]
	printf '{"cniVersion":"%s","name":"tabbynet","type":"tabby","nodename":"h1","datastore_endpoints":"%s","log_level":"debug","ipam":{"type":"tabby-ipam","ipv4_pools":["default-ipv4-ippool"]},"args":{"cni":{"labels":[{"key":"app","value":"web"},{"key":"tier","value":"front"}]}}%s}' \
		"${1:-1.0.0}" "$TABBY_TEST_ETCD_UNIX" "${2:-}"
}
# cni CMD CONTAINERID NETNS POD [IFNAME] < config  -> stdout of the plugin, its exit code
cni() {
	nsenter --net="/run/netns/$H" env -i PATH="$PATH" CNI_COMMAND="$1" CNI_CONTAINERID="$2" \
		CNI_NETNS="$3" CNI_IFNAME="${5:-eth0}" CNI_PATH="$T_BUILD/cni" \
		CNI_ARGS="IgnoreUnknown=1;K8S_POD_NAMESPACE=ns1;K8S_POD_NAME=$4" "$PLUGIN" 2>>"$LOG"
}
veth_of() { python3 -c 'import hashlib,sys; print("tby" + hashlib.sha1(sys.argv[1].encode()).hexdigest()[:11])' "$1"; }
jget() { python3 -c 'import json,sys; d=json.loads(sys.argv[1]); print(eval(sys.argv[2], {"d": d}))' "$1" "$2"; }
hx() { ip netns exec "$H" "$@"; }
q() { "$@" >/dev/null 2>&1; }

CID1=c1a2b3c4d5e6f70812345678
CID2=c2a2b3c4d5e6f70812345678
V1=$(veth_of ns1.pod1)
V2=$(veth_of ns1.pod2)
WEP1=/tabby/v1/workloadendpoints/ns1/h1-cni-${CID1}-eth0
WEP2=/tabby/v1/workloadendpoints/ns1/h1-cni-${CID2}-eth0
HANDLE1=/tabby/v1/ipam/handles/tabbynet.$CID1
HANDLE2=/tabby/v1/ipam/handles/tabbynet.$CID2

# --- VERSION
out=$(echo '{"cniVersion":"1.0.0"}' | CNI_COMMAND=VERSION "$PLUGIN")
check "VERSION lists 1.0.0, 0.4.0, 0.3.1, 0.3.0" python3 -c '
import json,sys; d=json.loads(sys.argv[1])
assert d["cniVersion"] == "1.0.0", d
assert {"0.3.0","0.3.1","0.4.0","1.0.0"} <= set(d["supportedVersions"]), d' "$out"
out=$(echo '{"cniVersion":"0.4.0"}' | CNI_COMMAND=VERSION "$T_BUILD/cni/tabby-ipam")
check "tabby-ipam VERSION answers" python3 -c '
import json,sys; d=json.loads(sys.argv[1]); assert "1.0.0" in d["supportedVersions"], d' "$out"

# --- ADD c1
RES1=$(conf | cni ADD "$CID1" "/run/netns/$C1" pod1) || { cat "$LOG"; fail "ADD c1: $RES1"; }
ok "ADD c1 succeeds"
check "ADD result: interfaces, ips, routes, dns (CNI 1.0.0)" python3 -c '
import json,sys,ipaddress
d=json.loads(sys.argv[1]); veth, netns = sys.argv[2], sys.argv[3]
assert d["cniVersion"] == "1.0.0", d
i=d["interfaces"]
assert i[0] == {"name": veth, "mac": "ee:ee:ee:ee:ee:ee"}, i
assert i[1]["name"] == "eth0" and i[1]["sandbox"] == netns and len(i[1]["mac"]) == 17, i
assert len(d["ips"]) == 1, d
ip=d["ips"][0]
assert "version" not in ip, ip
assert ip["gateway"] == "169.254.1.1" and ip["interface"] == 1, ip
a=ipaddress.ip_interface(ip["address"])
assert a.network.prefixlen == 32 and a.ip in ipaddress.ip_network("198.19.0.0/24"), a
assert d["routes"] == [{"dst": "0.0.0.0/0", "gw": "169.254.1.1"}], d
assert d["dns"] == {}, d' "$RES1" "$V1" "/run/netns/$C1"
IP1=$(jget "$RES1" 'd["ips"][0]["address"].split("/")[0]')
MAC1=$(jget "$RES1" 'd["interfaces"][1]["mac"]')

check "host veth $V1 has MAC ee:ee:ee:ee:ee:ee" \
	bash -c "ip netns exec $H ip -o link show $V1 | grep -q 'link/ether ee:ee:ee:ee:ee:ee'"
check "host veth: proxy_arp=1, proxy_delay=0, forwarding=1, route_localnet=1, rp_filter=1" bash -c "
	[ \$(ip netns exec $H cat /proc/sys/net/ipv4/conf/$V1/proxy_arp) = 1 ] &&
	[ \$(ip netns exec $H cat /proc/sys/net/ipv4/neigh/$V1/proxy_delay) = 0 ] &&
	[ \$(ip netns exec $H cat /proc/sys/net/ipv4/conf/$V1/forwarding) = 1 ] &&
	[ \$(ip netns exec $H cat /proc/sys/net/ipv4/conf/$V1/route_localnet) = 1 ] &&
	[ \$(ip netns exec $H cat /proc/sys/net/ipv4/conf/$V1/rp_filter) = 1 ]"
check "container eth0 holds $IP1/32 and the result's MAC" bash -c "
	ip netns exec $C1 ip -o addr show dev eth0 | grep -q 'inet $IP1/32' &&
	ip netns exec $C1 ip -o link show eth0 | grep -q 'link/ether $MAC1'"
check "container routes: 169.254.1.1 scope link, default via 169.254.1.1" bash -c "
	ip netns exec $C1 ip route show | grep -qx '169.254.1.1 dev eth0 scope link *' &&
	ip netns exec $C1 ip route show default | grep -q '^default via 169.254.1.1 dev eth0'"
check "host route $IP1 dev $V1 proto 81 scope link" \
	bash -c "ip netns exec $H ip route show $IP1/32 | grep -q '^$IP1 dev $V1 proto 81 scope link'"
check "host neighbour $IP1 lladdr $MAC1 PERMANENT" \
	bash -c "ip netns exec $H ip neigh show $IP1 dev $V1 | grep -q 'lladdr $MAC1 PERMANENT'"

wep=$(ectl get --print-value-only "$WEP1")
check "WorkloadEndpoint $WEP1 in etcd with labels, IP, veth, MAC" python3 -c '
import json,sys
d=json.loads(sys.argv[1]); ip, veth, mac, cid = sys.argv[2:6]
assert d["kind"] == "WorkloadEndpoint", d
m=d["metadata"]; s=d["spec"]
assert m["namespace"] == "ns1" and m["labels"] == {"app": "web", "tier": "front"}, m
assert s["orchestrator"] == "cni" and s["node"] == "h1" and s["containerID"] == cid, s
assert s["pod"] == "pod1" and s["endpoint"] == "eth0", s
assert s["ipNetworks"] == [ip + "/32"] and s["interfaceName"] == veth and s["mac"] == mac, s
' "$wep" "$IP1" "$V1" "$MAC1" "$CID1"
check "IPAM handle $HANDLE1 exists" bash -c "[ -n \"\$(ETCDCTL_API=3 etcdctl --endpoints $TABBY_DATASTORE_ENDPOINTS get --print-value-only $HANDLE1)\" ]"

# --- ADD c2 in the 0.4.0 result form
RES2=$(conf 0.4.0 | cni ADD "$CID2" "/run/netns/$C2" pod2) || { cat "$LOG"; fail "ADD c2: $RES2"; }
check "ADD c2: CNI 0.4.0 result with ips[].version 4 and another address" python3 -c '
import json,sys
d=json.loads(sys.argv[1]); assert d["cniVersion"] == "0.4.0", d
assert d["ips"][0]["version"] == "4", d
assert d["ips"][0]["address"] != sys.argv[2] + "/32", d' "$RES2" "$IP1"
IP2=$(jget "$RES2" 'd["ips"][0]["address"].split("/")[0]')

check "ping c1 -> c2 ($IP2) through the host (proxy-ARP)" \
	q ip netns exec "$C1" ping -c 2 -W 2 -i 0.2 "$IP2"
check "ping c2 -> c1 ($IP1)" q ip netns exec "$C2" ping -c 2 -W 2 -i 0.2 "$IP1"
check "c1 learned 169.254.1.1 as ee:ee:ee:ee:ee:ee" \
	bash -c "ip netns exec $C1 ip neigh show 169.254.1.1 | grep -q 'lladdr ee:ee:ee:ee:ee:ee'"
UNASSIGNED=198.19.0.60
[ "$UNASSIGNED" != "$IP1" ] && [ "$UNASSIGNED" != "$IP2" ] || fail "test address collides"
if ip netns exec "$C1" ping -c 1 -W 1 "$UNASSIGNED" >/dev/null 2>&1; then
	fail "ping to unassigned $UNASSIGNED must fail"
fi
ok "ping to unassigned pool address $UNASSIGNED fails"

# --- CHECK
PREV1=$(python3 -c 'import json,sys; c=json.loads(sys.argv[1]); c["prevResult"]=json.loads(sys.argv[2]); print(json.dumps(c))' "$(conf)" "$RES1")
out=$(echo "$PREV1" | cni CHECK "$CID1" "/run/netns/$C1" pod1)
rc=$?
check "CHECK c1 succeeds with no output" test "$rc" = 0 -a -z "$out"
out=$(conf | cni CHECK "$CID1" "/run/netns/$C1" pod1)
check "CHECK without prevResult fails with code 7" python3 -c '
import json,sys; d=json.loads(sys.argv[1]); assert d["code"] == 7 and "prevResult" in d["msg"], d' "$out"
hx ip route del "$IP1/32" dev "$V1"
out=$(echo "$PREV1" | cni CHECK "$CID1" "/run/netns/$C1" pod1)
rc=$?
check "CHECK fails after the host route was deleted by hand" python3 -c '
import json,sys; d=json.loads(sys.argv[1]); rc=int(sys.argv[2])
assert rc != 0 and d["code"] >= 100 and "host route" in d["msg"], (rc, d)' "$out" "$rc"

# --- ADD again: same address, rebuilt plumbing, nothing duplicated
RES1b=$(conf | cni ADD "$CID1" "/run/netns/$C1" pod1) || { cat "$LOG"; fail "second ADD c1: $RES1b"; }
check "second ADD of c1 returns the same address" test "$(jget "$RES1b" 'd["ips"][0]["address"]')" = "$IP1/32"
check "second ADD restored the host route" \
	bash -c "ip netns exec $H ip route show $IP1/32 | grep -q 'dev $V1 proto 81'"
check "one veth per container (2 tby links)" test "$(hx ip -o link show | grep -c ': tby')" = 2
check "two WorkloadEndpoints, two IPAM handles" bash -c "
	[ \$(ETCDCTL_API=3 etcdctl --endpoints $TABBY_DATASTORE_ENDPOINTS get --keys-only --prefix /tabby/v1/workloadendpoints/ | grep -c .) = 2 ] &&
	[ \$(ETCDCTL_API=3 etcdctl --endpoints $TABBY_DATASTORE_ENDPOINTS get --keys-only --prefix /tabby/v1/ipam/handles/ | grep -c .) = 2 ]"
echo "$PREV1" | cni CHECK "$CID1" "/run/netns/$C1" pod1 >/dev/null
check "CHECK passes again after the second ADD" test $? = 0
check "ping c1 -> c2 after the second ADD" q ip netns exec "$C1" ping -c 1 -W 2 "$IP2"

# DEL of an older sandbox of the same pod (same workload id, so same veth name, other container
# id) must leave the current container's veth alone
out=$(conf | cni DEL 0ld5a2b3c4d5e6f7 "/run/netns/$C1" pod1)
check "DEL of a stale sandbox of pod1 succeeds" test $? = 0 -a -z "$out"
check "... and leaves pod1's current veth in place" q hx ip link show "$V1"

# --- DEL
out=$(conf | cni DEL "$CID1" "/run/netns/$C1" pod1)
check "DEL c1 succeeds with no output" test $? = 0 -a -z "$out"
check "DEL removed veth $V1" bash -c "! ip netns exec $H ip link show $V1 >/dev/null 2>&1"
check "DEL removed the host route" test -z "$(hx ip route show "$IP1/32")"
check "DEL removed the WorkloadEndpoint" test -z "$(ectl get --keys-only "$WEP1")"
check "DEL released the allocation (handle gone)" test -z "$(ectl get --keys-only "$HANDLE1")"
check "c1's container interface is gone" bash -c "! ip netns exec $C1 ip link show eth0 >/dev/null 2>&1"
out=$(conf | cni DEL "$CID1" "/run/netns/$C1" pod1)
check "DEL c1 twice succeeds" test $? = 0 -a -z "$out"
out=$(conf | cni DEL 0123456789abcdef "/run/netns/$C1" nosuchpod)
check "DEL of an unknown container succeeds" test $? = 0 -a -z "$out"

# a new container gets the released address back into circulation without conflict
RES3=$(conf | cni ADD "$CID1" "/run/netns/$C1" pod1) || { cat "$LOG"; fail "re-ADD c1: $RES3"; }
ok "ADD after DEL succeeds"
conf | cni DEL "$CID1" "/run/netns/$C1" pod1 >/dev/null || fail "DEL c1 (re-added)"

# --- DEL after the container netns is gone
ip netns del "$C2"
out=$(conf | cni DEL "$CID2" "/run/netns/$C2" pod2)
check "DEL after the netns was deleted succeeds" test $? = 0 -a -z "$out"
check "... and leaves no veth, WEP or allocation" bash -c "
	! ip netns exec $H ip link show $V2 >/dev/null 2>&1 &&
	[ -z \"\$(ETCDCTL_API=3 etcdctl --endpoints $TABBY_DATASTORE_ENDPOINTS get --keys-only $WEP2)\" ] &&
	[ -z \"\$(ETCDCTL_API=3 etcdctl --endpoints $TABBY_DATASTORE_ENDPOINTS get --keys-only $HANDLE2)\" ]"
check "no tby links left on the host" test "$(hx ip -o link show | grep -c ': tby')" = 0

summary
