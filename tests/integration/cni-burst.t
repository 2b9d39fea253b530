#!/bin/bash
# cni-burst.t - IPAM under pod bursts (issue 12 item 2): 3 hosts x 70 CNI ADDs of the real tabby
# plugin (veth, routes, WorkloadEndpoint, tabby-ipam delegate), all started at once against one
# real etcd (bench/cni_burst.py), each host with its own IPAM lock file:
#  - 0 failures (before: about a third failed with code 11 "datastore contention"), 210 distinct
#    addresses, every one inside the pool;
#  - each host claimed exactly the 2 blocks its 70 addresses need (the per-host lock: without it
#    concurrent ADDs that find the block full each claim a block of their own);
#  - `tabbyctl ipam check` reports 0 problems;
#  - the same burst of DELs: 0 failures, no address left allocated, `ipam check` still clean.
. "$(dirname "$0")/lib.sh"
need_root
PLUGIN=$T_BUILD/cni/tabby
CTL=$T_BUILD/ctl/tabbyctl
[ -x "$PLUGIN" ] && [ -x "$T_BUILD/cni/tabby-ipam" ] && [ -x "$CTL" ] || fail "plugins/tabbyctl not built in $T_BUILD"
command -v etcdctl >/dev/null || fail "etcdctl not installed"
HOSTS=${TABBY_BURST_HOSTS:-3}
PER=${TABBY_BURST_PER_HOST:-70}

etcd_start
ectl() { ETCDCTL_API=3 etcdctl --endpoints "$TABBY_DATASTORE_ENDPOINTS" "$@"; }
ectl put /tabby/v1/ippools/default-ipv4-ippool '{"apiVersion":"projectcalico.org/v3","kind":"IPPool","metadata":{"name":"default-ipv4-ippool"},"spec":{"cidr":"198.19.0.0/22","blockSize":26}}' >/dev/null ||
	fail "put IPPool"
HOSTARGS=()
for n in $(seq 1 "$HOSTS"); do
	ectl put "/tabby/v1/nodes/h$n" "{\"apiVersion\":\"projectcalico.org/v3\",\"kind\":\"Node\",\"metadata\":{\"name\":\"h$n\"},\"spec\":{\"bgp\":{\"ipv4Address\":\"198.18.0.1$n/24\"}}}" >/dev/null ||
		fail "put Node h$n"
	ns_add "h$n"
	ip netns exec "$NS_LAST" sysctl -qw net.ipv4.ip_forward=1
	HOSTARGS+=(--host "h$n:/run/netns/$NS_LAST:$T_TMP/h$n/ipam.lock")
	for k in $(seq 1 "$PER"); do
		ns_add "h$n-c$k"
	done
done
ok "$HOSTS host and $((HOSTS * PER)) container namespaces"

burst() { # CMD JSON_OUT
	python3 "$T_SRC/bench/cni_burst.py" --plugin "$PLUGIN" --endpoint "$TABBY_TEST_ETCD_UNIX" \
		--command "$1" "${HOSTARGS[@]}" --per-host "$PER" \
		--container-netns "/run/netns/$T_PREFIX-{node}-c{k}" --json "$2"
}
# jq-less JSON questions about a burst's result file
calls() { python3 -c "import json,sys; c=json.load(open(sys.argv[1]))['calls']; $2" "$1"; }

burst ADD "$T_TMP/add.json" | sed 's/^/# /'
check "$((HOSTS * PER)) ADDs ran" calls "$T_TMP/add.json" "assert len(c) == $((HOSTS * PER)), len(c)"
check "0 ADDs failed" calls "$T_TMP/add.json" "
bad = [x for x in c if x['rc'] != 0]
assert not bad, '%d failed, e.g. %s' % (len(bad), bad[0])"
check "$((HOSTS * PER)) distinct addresses, all in 198.19.0.0/22" calls "$T_TMP/add.json" "
import ipaddress
ips = [x['ip'] for x in c]
assert None not in ips
assert len(set(ips)) == len(ips), 'duplicates: %s' % sorted(i for i in set(ips) if ips.count(i) > 1)
assert all(ipaddress.ip_address(i) in ipaddress.ip_network('198.19.0.0/22') for i in ips)"
# each host's addresses come from blocks affine to it: count the blocks per node
blocks_of() { ectl get --prefix --keys-only "/tabby/v1/ipam/affinities/h$1/" | grep -c .; }
need=$(((PER + 63) / 64))
for n in $(seq 1 "$HOSTS"); do
	check "h$n claimed exactly $need block(s) for its $PER addresses (got $(blocks_of "$n"))" \
		[ "$(blocks_of "$n")" = "$need" ]
done
check "$((HOSTS * PER)) WorkloadEndpoints written" \
	[ "$(ectl get --prefix --keys-only /tabby/v1/workloadendpoints/burst/ | grep -c .)" = $((HOSTS * PER)) ]
"$CTL" --datastore-endpoints "$TABBY_TEST_ETCD_UNIX" ipam check >"$T_TMP/check.out" 2>&1
rc=$?
grep -q 'found 0 problems' "$T_TMP/check.out" && [ "$rc" = 0 ] ||
	{ tail -20 "$T_TMP/check.out"; fail "tabbyctl ipam check after the ADDs: 0 problems (exit $rc)"; }
ok "tabbyctl ipam check after the ADDs: 0 problems"

burst DEL "$T_TMP/del.json" | sed 's/^/# /'
check "0 DELs failed" calls "$T_TMP/del.json" "
bad = [x for x in c if x['rc'] != 0]
assert not bad, '%d failed, e.g. %s' % (len(bad), bad[0])"
check "no handle record left" [ "$(ectl get --prefix --keys-only /tabby/v1/ipam/handles/ | grep -c .)" = 0 ]
check "no WorkloadEndpoint left" [ "$(ectl get --prefix --keys-only /tabby/v1/workloadendpoints/burst/ | grep -c .)" = 0 ]
"$CTL" --datastore-endpoints "$TABBY_TEST_ETCD_UNIX" ipam check >"$T_TMP/check.out" 2>&1
rc=$?
grep -q 'found 0 problems' "$T_TMP/check.out" && [ "$rc" = 0 ] ||
	{ tail -20 "$T_TMP/check.out"; fail "tabbyctl ipam check after the DELs: 0 problems (exit $rc)"; }
ok "tabbyctl ipam check after the DELs: 0 problems"
summary
