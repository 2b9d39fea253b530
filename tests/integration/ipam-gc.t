#!/bin/bash
# ipam-gc.t - `tabbyctl ipam gc` against a real etcd with injected leaks (issue 12 item 4):
#  - a CNI ADD of the real plugin (WorkloadEndpoint written: in use, kept);
#  - a leaked allocation: an IPAM-only ADD (tabby-ipam) whose WorkloadEndpoint never existed;
#  - a stale pending affinity of h1 to a block that does not exist (a claim that died);
#  - an empty block of a deleted host h2 (claimed by an ADD on h2 + DEL, Node h2 not present),
#    with its affinity record.
# --dry-run lists them and changes nothing (etcd revision unchanged); a run with the default
# 15 min grace removes the affinity and the block and only marks the leak; a run with --grace 2s
# 3 s later releases it (handle record gone too); `tabbyctl ipam check` then finds 0 problems,
# the in-use address is still allocated, and another run has nothing left to do.
. "$(dirname "$0")/lib.sh"
need_root
PLUGIN=$T_BUILD/cni/tabby
IPAM=$T_BUILD/cni/tabby-ipam
CTL=$T_BUILD/ctl/tabbyctl
[ -x "$PLUGIN" ] && [ -x "$IPAM" ] && [ -x "$CTL" ] || fail "plugins/tabbyctl not built in $T_BUILD"
command -v etcdctl >/dev/null || fail "etcdctl not installed"

etcd_start
ectl() { ETCDCTL_API=3 etcdctl --endpoints "$TABBY_DATASTORE_ENDPOINTS" "$@"; }
ctl() { "$CTL" --datastore-endpoints "$TABBY_TEST_ETCD_UNIX" "$@"; }
rev() { ectl get / --prefix --keys-only --limit 1 -w json | python3 -c 'import json,sys; print(json.load(sys.stdin)["header"]["revision"])'; }
ectl put /tabby/v1/ippools/default-ipv4-ippool '{"apiVersion":"projectcalico.org/v3","kind":"IPPool","metadata":{"name":"default-ipv4-ippool"},"spec":{"cidr":"198.19.0.0/24","blockSize":26}}' >/dev/null ||
	fail "put IPPool"
ectl put /tabby/v1/nodes/h1 '{"apiVersion":"projectcalico.org/v3","kind":"Node","metadata":{"name":"h1"},"spec":{"bgp":{"ipv4Address":"198.18.0.11/24"}}}' >/dev/null ||
	fail "put Node h1"

ns_add h1; H=$NS_LAST
ns_add c1; C1=$NS_LAST
conf() { # NODE
	printf '{"cniVersion":"1.0.0","name":"tabbynet","type":"tabby","nodename":"%s","datastore_endpoints":"%s","log_level":"warning","ipam":{"type":"tabby-ipam","ipv4_pools":["default-ipv4-ippool"],"lock_file":"%s"}}' \
		"$1" "$TABBY_TEST_ETCD_UNIX" "$T_TMP/ipam.lock"
}
cni() { # PLUGIN NODE CMD CONTAINERID NETNS
	conf "$2" | nsenter --net="/run/netns/$H" env -i PATH="$PATH" CNI_COMMAND="$3" CNI_CONTAINERID="$4" \
		CNI_NETNS="$5" CNI_IFNAME=eth0 CNI_PATH="$T_BUILD/cni" \
		CNI_ARGS="IgnoreUnknown=1;K8S_POD_NAMESPACE=ns1;K8S_POD_NAME=$4" "$1" 2>>"$T_TMP/plugin.log"
}
ipof() { python3 -c 'import json,sys; print(json.loads(sys.argv[1])["ips"][0]["address"].split("/")[0])' "$1"; }
allocated() { # IP -> is it allocated in some block?
	ectl get --prefix /tabby/v1/ipam/blocks/ --print-value-only | python3 -c '
import ipaddress, json, sys
ip = ipaddress.ip_address(sys.argv[1])
for line in sys.stdin:
    line = line.strip()
    if not line: continue
    b = json.loads(line); net = ipaddress.ip_network(b["cidr"])
    if ip in net and b["allocations"][int(ip) - int(net.network_address)] is not None: sys.exit(0)
sys.exit(1)' "$1"
}

RES=$(cni "$PLUGIN" h1 ADD inuse1 "/run/netns/$C1") || { cat "$T_TMP/plugin.log"; fail "CNI ADD inuse1: $RES"; }
USED=$(ipof "$RES")
RES=$(cni "$IPAM" h1 ADD leak1 "") || { cat "$T_TMP/plugin.log"; fail "IPAM ADD leak1: $RES"; }
LEAK=$(ipof "$RES")
cni "$IPAM" h2 ADD gone1 "" >/dev/null || fail "IPAM ADD on h2"
cni "$IPAM" h2 DEL gone1 "" >/dev/null || fail "IPAM DEL on h2"
H2BLOCK=$(ectl get --prefix --keys-only /tabby/v1/ipam/affinities/h2/ | sed -n 's#.*/##p' | head -1)
[ -n "$H2BLOCK" ] || fail "h2 claimed no block"
ectl put /tabby/v1/ipam/affinities/h1/198.19.0.192-26 '{"state":"pending"}' >/dev/null
ok "injected: leak $LEAK (handle tabbynet.leak1), pending affinity h1 -> 198.19.0.192/26, empty block $H2BLOCK of the deleted host h2; in use: $USED"
check "ipam check sees the leak" bash -c "! '$CTL' --datastore-endpoints '$TABBY_TEST_ETCD_UNIX' ipam check >/dev/null 2>&1"

# --- dry run: lists, changes nothing
r0=$(rev)
ctl ipam gc --dry-run >"$T_TMP/dry.out" 2>&1 || { cat "$T_TMP/dry.out"; fail "ipam gc --dry-run"; }
sed 's/^/# /' "$T_TMP/dry.out"
check "dry run lists the stale pending affinity" grep -q 'DRY-RUN delete affinity of node h1 for block 198.19.0.192/26' "$T_TMP/dry.out"
check "dry run lists h2's empty block" grep -q "DRY-RUN delete empty block ${H2BLOCK/-//}" "$T_TMP/dry.out"
check "dry run lists h2's affinity" grep -q "DRY-RUN delete affinity of node h2 for block ${H2BLOCK/-//}" "$T_TMP/dry.out"
check "dry run would mark the leak $LEAK" grep -q "DRY-RUN mark $LEAK (handle tabbynet.leak1)" "$T_TMP/dry.out"
check "dry run does not touch the in-use $USED" bash -c "! grep -q ' $USED ' '$T_TMP/dry.out'"
check "dry run changed nothing (etcd revision $r0)" [ "$(rev)" = "$r0" ]

# --- default grace: structure cleaned, the leak only marked
ctl ipam gc >"$T_TMP/gc1.out" 2>&1 || { cat "$T_TMP/gc1.out"; fail "ipam gc"; }
sed 's/^/# /' "$T_TMP/gc1.out"
check "the stale pending affinity is gone" bash -c "[ -z \"\$(ETCDCTL_API=3 etcdctl --endpoints '$TABBY_DATASTORE_ENDPOINTS' get /tabby/v1/ipam/affinities/h1/198.19.0.192-26)\" ]"
check "h2's empty block is gone" bash -c "[ -z \"\$(ETCDCTL_API=3 etcdctl --endpoints '$TABBY_DATASTORE_ENDPOINTS' get /tabby/v1/ipam/blocks/$H2BLOCK)\" ]"
check "h2's affinity is gone" bash -c "[ -z \"\$(ETCDCTL_API=3 etcdctl --endpoints '$TABBY_DATASTORE_ENDPOINTS' get --prefix /tabby/v1/ipam/affinities/h2/)\" ]"
check "the leak $LEAK is marked, not yet released (15 min grace)" \
	bash -c "ETCDCTL_API=3 etcdctl --endpoints '$TABBY_DATASTORE_ENDPOINTS' get /tabby/v1/ipam/gc/$LEAK --print-value-only | grep -q '\"handle\":\"tabbynet.leak1\"'"
check "$LEAK is still allocated" allocated "$LEAK"

# --- after the grace period: released
sleep 3
ctl ipam gc --grace 2s >"$T_TMP/gc2.out" 2>&1 || { cat "$T_TMP/gc2.out"; fail "ipam gc --grace 2s"; }
sed 's/^/# /' "$T_TMP/gc2.out"
check "gc --grace 2s released $LEAK" grep -q "^release leaked $LEAK (handle tabbynet.leak1" "$T_TMP/gc2.out"
not_allocated() { ! allocated "$1"; }
check "$LEAK is free" not_allocated "$LEAK"
check "its handle record is gone" bash -c "[ -z \"\$(ETCDCTL_API=3 etcdctl --endpoints '$TABBY_DATASTORE_ENDPOINTS' get /tabby/v1/ipam/handles/tabbynet.leak1)\" ]"
check "its leak mark is gone" bash -c "[ -z \"\$(ETCDCTL_API=3 etcdctl --endpoints '$TABBY_DATASTORE_ENDPOINTS' get --prefix /tabby/v1/ipam/gc/)\" ]"
check "the in-use $USED is still allocated" allocated "$USED"
ctl ipam check >"$T_TMP/check.out" 2>&1
rc=$?
grep -q 'found 0 problems' "$T_TMP/check.out" && [ "$rc" = 0 ] ||
	{ tail -15 "$T_TMP/check.out"; fail "ipam check after gc: 0 problems"; }
ok "ipam check after gc: 0 problems"
ctl ipam gc --grace 0 >"$T_TMP/gc3.out" 2>&1 || fail "ipam gc again"
check "another gc has nothing to do" grep -q '^0 stale affinities, 0 empty blocks deleted, 0 leaked addresses released, 0 marked, 0 marks dropped, 0 skipped.' "$T_TMP/gc3.out"
ctl ipam gc --grace 5x >"$T_TMP/bad.out" 2>&1
rc=$?
check "--grace 5x is refused (exit $rc) naming the flag" bash -c "[ $rc != 0 ] && grep -q -- '--grace: \"5x\" is not a duration' '$T_TMP/bad.out'"
# A WorkloadEndpoint whose addresses cannot be read stops the run: nothing may be called leaked.
ectl put /tabby/v1/workloadendpoints/default/h1-cni-bad-eth0 '{"apiVersion":"projectcalico.org/v3","kind":"WorkloadEndpoint","metadata":{"name":"h1-cni-bad-eth0","namespace":"default"},"spec":{"node":"h1","ipNetworks":["198.19.0.300/32"]}}' >/dev/null
r0=$(rev)
ctl ipam gc --grace 0 >"$T_TMP/badwep.out" 2>&1
rc=$?
check "an unreadable WorkloadEndpoint stops the gc (exit $rc), naming its key and field" bash -c \
	"[ $rc != 0 ] && grep -q 'h1-cni-bad-eth0: spec.ipNetworks\[0\]: not an address or prefix' '$T_TMP/badwep.out'"
check "... and the gc changed nothing (etcd revision $r0)" [ "$(rev)" = "$r0" ]
ectl del /tabby/v1/workloadendpoints/default/h1-cni-bad-eth0 >/dev/null
cni "$PLUGIN" h1 DEL inuse1 "/run/netns/$C1" >/dev/null || fail "CNI DEL inuse1"
summary
