#!/bin/bash
# CNI plugin failure paths: ADD is all-or-nothing (DESIGN.md "CNI"). Invalid configs and
# environment give the CNI error JSON with the spec's codes and the field named; an exhausted
# pool gives code 100; a failure after any step (IPAM, veth, WEP, route; a CNI_IFNAME that
# already exists in the container) leaves no veth, no WorkloadEndpoint and no allocation; with
# etcd stopped ADD fails cleanly and DEL removes the veth but fails with code 11 until etcd is
# back.
source "${TABBY_SOURCE_DIR:-$(dirname "$0")/../..}/tests/integration/lib.sh"
need_root

PLUGIN=$T_BUILD/cni/tabby
[ -x "$PLUGIN" ] && [ -x "$T_BUILD/cni/tabby-ipam" ] || fail "plugins not built in $T_BUILD/cni"
command -v etcdctl >/dev/null || fail "etcdctl not installed"

etcd_start
ectl() { ETCDCTL_API=3 etcdctl --endpoints "$TABBY_DATASTORE_ENDPOINTS" "$@"; }
# A pool of 4 addresses: one /30 block.
ectl put /tabby/v1/ippools/tiny '{"apiVersion":"projectcalico.org/v3","kind":"IPPool","metadata":{"name":"tiny"},"spec":{"cidr":"198.19.9.0/30","blockSize":30}}' >/dev/null ||
	fail "put IPPool"
# the Node felix would register: ADD refuses a node without one (code 109)
ectl put /tabby/v1/nodes/h1 '{"apiVersion":"projectcalico.org/v3","kind":"Node","metadata":{"name":"h1"},"spec":{}}' >/dev/null || fail "put Node h1"

ns_add tor; TOR=$NS_LAST
ns_add h1; H=$NS_LAST
ip netns exec "$H" sysctl -qw net.ipv4.ip_forward=1
ip netns exec "$H" ip link add up0 type veth peer name down0 netns "$TOR"
ip netns exec "$TOR" ip addr add 198.18.0.1/24 dev down0
ip netns exec "$TOR" ip link set down0 up
ip netns exec "$H" ip addr add 198.18.0.11/24 dev up0
ip netns exec "$H" ip link set up0 up
ip netns exec "$H" ip route add default via 198.18.0.1 dev up0
for i in 1 2 3 4 5 6; do ns_add "c$i"; eval "C$i=\$NS_LAST"; done

LOG=$T_TMP/plugin.log
conf() {
	printf '{"cniVersion":"1.0.0","name":"tabbynet","type":"tabby","nodename":"h1","datastore_endpoints":"%s","log_level":"debug","ipam":{"type":"tabby-ipam","ipv4_pools":["tiny"]},"args":{"cni":{"labels":{"app":"web"}}}}' \
		"$TABBY_TEST_ETCD_UNIX"
}
# cni CMD CONTAINERID NETNS [IFNAME] < config; extra environment via T_ENV (array)
T_ENV=()
cni() {
	nsenter --net="/run/netns/$H" env -i PATH="$PATH" CNI_COMMAND="$1" CNI_CONTAINERID="$2" \
		CNI_NETNS="$3" CNI_IFNAME="${4:-eth0}" CNI_PATH="$T_BUILD/cni" \
		CNI_ARGS="IgnoreUnknown=1;K8S_POD_NAMESPACE=ns1" "${T_ENV[@]}" "$PLUGIN" 2>>"$LOG"
}
veth_of() { python3 -c 'import hashlib,sys; print("tby" + hashlib.sha1(sys.argv[1].encode()).hexdigest()[:11])' "$1"; }
# is_error JSON CODE [SUBSTRING]: the CNI error JSON with that code and message part
is_error() {
	python3 -c '
import json,sys
d=json.loads(sys.argv[1]); code=int(sys.argv[2]); part=sys.argv[3]
assert set(d) <= {"cniVersion","code","msg","details"}, d
assert d["cniVersion"] and d["code"] == code and part in d["msg"], d' "$1" "$2" "${3:-}"
}
nothing_left() { # CONTAINERID: no veth, no WEP, no IPAM handle for it
	local cid=$1
	! ip netns exec "$H" ip link show "$(veth_of "ns1.$cid")" >/dev/null 2>&1 &&
		[ -z "$(ectl get --keys-only --prefix /tabby/v1/workloadendpoints/ns1/h1-cni-"${cid}-")" ] &&
		[ -z "$(ectl get --keys-only "/tabby/v1/ipam/handles/tabbynet.$cid")" ]
}
# the block's allocations as a count of used addresses (any JSON shape: count non-null entries
# of the first list-valued "allocations")
used_in_block() {
	ectl get --print-value-only /tabby/v1/ipam/blocks/198.19.9.0-30 | python3 -c '
import json,sys
d=json.load(sys.stdin); print(sum(1 for a in d["allocations"] if a is not None))'
}
tby_count() { ip netns exec "$H" ip -o link show | grep -c ': tby'; }

# --- invalid config and environment
out=$(echo '{"cniVersion":"1.0.0","name":' | cni ADD badjson "/run/netns/$C1")
rc=$?
check "bad JSON: exit 1 and code 6" bash -c "[ $rc = 1 ]" && check "bad JSON: error JSON" is_error "$out" 6 "invalid JSON"
out=$(echo '{"cniVersion":"1.0.0","name":"n","type":"tabby","ipam":{}}' | cni ADD noipamtype "/run/netns/$C1")
check "missing ipam.type: code 7 naming ipam.type" is_error "$out" 7 "ipam.type: missing"
out=$(echo '{"cniVersion":"1.0.0","name":"n","type":"tabby"}' | cni ADD noipam "/run/netns/$C1")
check "missing ipam: code 7 naming ipam" is_error "$out" 7 "ipam: missing"
out=$(echo '{"cniVersion":"1.0.0","type":"tabby","ipam":{"type":"tabby-ipam"}}' | cni ADD noname "/run/netns/$C1")
check "missing name: code 7 naming name" is_error "$out" 7 "name: missing"
out=$(echo '{"cniVersion":"1.0.0","name":"n","type":"tabby","ipam":{"type":"tabby-ipam"},"args":{"cni":{"labels":[{"value":"x"}]}}}' | cni ADD badlabel "/run/netns/$C1")
check "label without key: code 7 naming args.cni.labels[0].key" is_error "$out" 7 "args.cni.labels[0].key"
out=$(echo '{"cniVersion":"9.9.9","name":"n","type":"tabby","ipam":{"type":"tabby-ipam"}}' | cni ADD badver "/run/netns/$C1")
check "unsupported cniVersion: code 1" is_error "$out" 1 "cniVersion"
out=$(echo '{"cniVersion":"1.0.0","name":"n","type":"tabby","nodename":"h1","datastore_endpoints":"'"$TABBY_TEST_ETCD_UNIX"'","ipam":{"type":"no-such-ipam"}}' | cni ADD noplugin "/run/netns/$C1")
check "unknown IPAM plugin: code 7 naming ipam.type" is_error "$out" 7 "ipam.type"
out=$(conf | cni ADD "bad/id" "/run/netns/$C1")
check "invalid CNI_CONTAINERID: code 4" is_error "$out" 4 "CNI_CONTAINERID"
out=$(conf | cni ADD nonetns "/run/netns/$T_PREFIX-nosuch")
check "missing netns: code 3" is_error "$out" 3 "CNI_NETNS"
out=$(conf | nsenter --net="/run/netns/$H" env -i CNI_COMMAND=ADD CNI_CONTAINERID=x1 CNI_NETNS="/run/netns/$C1" CNI_IFNAME=eth0 CNI_PATH="$T_BUILD/cni" CNI_ARGS="FOO=bar" "$PLUGIN" 2>>"$LOG")
check "unknown CNI_ARGS key without IgnoreUnknown: code 4" is_error "$out" 4 "CNI_ARGS"
check "no veth after the config errors" test "$(tby_count)" = 0

# --- a failure after each step leaves nothing
for step in ipam veth wep route; do
	T_ENV=(TABBY_CNI_FAIL_AFTER=$step)
	out=$(conf | cni ADD "inject$step" "/run/netns/$C1")
	T_ENV=()
	check "failure injected after $step: CNI error JSON" is_error "$out" 102 "$step"
	check "failure after $step: no veth, WEP or allocation" nothing_left "inject$step"
	check "failure after $step: the container has no eth0" bash -c "! ip netns exec $C1 ip link show eth0 >/dev/null 2>&1"
done
check "no address held after the injected failures" test "$(used_in_block)" = 0

# CNI_IFNAME already exists in the container: the veth exists when the rename fails
ip netns exec "$C1" ip link add eth1 type veth peer name eth1p
out=$(conf | cni ADD ifexists "/run/netns/$C1" eth1)
check "CNI_IFNAME already in the container: error naming it" is_error "$out" 102 "eth1"
check "... no veth, WEP or allocation left" nothing_left ifexists
check "... the container's own eth1 is untouched" bash -c "ip netns exec $C1 ip link show eth1 >/dev/null"

# --- pool exhausted: 4 addresses, the 5th ADD fails with code 100
for i in 1 2 3 4; do
	out=$(conf | cni ADD "fill$i" "/run/netns/$(eval echo \$C$i)") || { cat "$LOG"; fail "ADD fill$i: $out"; }
done
ok "4 ADDs fill the /30 pool"
check "4 addresses used" test "$(used_in_block)" = 4
out=$(conf | cni ADD fill5 "/run/netns/$C5")
check "5th ADD: code 100 IP pool exhausted" is_error "$out" 100 "exhausted"
check "5th ADD: no veth, WEP or allocation" nothing_left fill5
check "still 4 veths and 4 addresses" bash -c "[ $(tby_count) = 4 ] && [ $(used_in_block) = 4 ]"

# --- etcd down
etcd_stop
out=$(conf | cni ADD down1 "/run/netns/$C6")
check "ADD with etcd stopped: code 101 datastore unavailable" is_error "$out" 101 "datastore unavailable"
check "ADD with etcd stopped leaves no veth" \
	bash -c "! ip netns exec $H ip link show $(veth_of ns1.down1) >/dev/null 2>&1"
out=$(conf | cni DEL fill1 "/run/netns/$C1")
check "DEL with etcd stopped: code 11 (try again later)" is_error "$out" 11 ""
check "DEL with etcd stopped removed the veth first" \
	bash -c "! ip netns exec $H ip link show $(veth_of ns1.fill1) >/dev/null 2>&1"
etcd_start
out=$(conf | cni DEL fill1 "/run/netns/$C1")
check "DEL retried after etcd is back succeeds" test $? = 0 -a -z "$out"
check "... WEP and allocation gone" nothing_left fill1
check "3 addresses used" test "$(used_in_block)" = 3

summary
