#!/bin/bash
# `tabbyctl ipam check` and `tabbyctl ipam release --ip` against a private real etcd, with
# allocations made by the real CNI plugin (tabby + tabby-ipam run inside a host netns, as in
# cni.t): clean after two ADDs; a WorkloadEndpoint deleted by hand leaves exactly its IP leaked;
# release refuses an IP still in use and frees the leaked one; a hand-written endpoint with an
# unallocated IP, a second endpoint with an existing IP (duplicate, and allocated to another
# container's handle), a handle record with a wrong count, and a block affine to a node that does
# not exist are each reported. Addresses: 198.18.0.0/15 only.
source "${TABBY_SOURCE_DIR:-$(dirname "$0")/../..}/tests/integration/lib.sh"
need_root

PLUGIN=$T_BUILD/cni/tabby
CTL=$T_BUILD/ctl/tabbyctl
[ -x "$PLUGIN" ] && [ -x "$T_BUILD/cni/tabby-ipam" ] || fail "plugins not built in $T_BUILD/cni"
[ -x "$CTL" ] || fail "$CTL not built"
command -v etcdctl >/dev/null || fail "etcdctl not installed"

etcd_start
ectl() { ETCDCTL_API=3 etcdctl --endpoints "$TABBY_DATASTORE_ENDPOINTS" "$@"; }
run() { "$@" >"$T_TMP/out" 2>"$T_TMP/err"; RC=$?; }
show() { echo "--- exit $RC"; echo "--- stdout"; cat "$T_TMP/out"; echo "--- stderr"; cat "$T_TMP/err"; }
has() { grep -qF -- "$1" "$T_TMP/$2"; }
# problems TYPE:IP ... : the JSON report of the last run lists exactly these (sorted) problems
problems() {
	python3 -c '
import json,sys
d=json.load(open(sys.argv[1]))
got=sorted("%s:%s" % (p["type"], p.get("ip", p.get("block", ""))) for p in d["problems"])
want=sorted(sys.argv[2:])
assert got == want, "got %s, want %s" % (got, want)
assert d["problemCount"] == len(want), d["problemCount"]' "$T_TMP/out" "$@"
}
check_json() { run "$CTL" ipam check -o json; }

ectl put /tabby/v1/ippools/default-ipv4-ippool '{"apiVersion":"projectcalico.org/v3","kind":"IPPool","metadata":{"name":"default-ipv4-ippool"},"spec":{"cidr":"198.19.0.0/24","blockSize":26}}' >/dev/null ||
	fail "put IPPool"
# the Node felix would register: ADD refuses a node without one (code 109)
ectl put /tabby/v1/nodes/h1 '{"apiVersion":"projectcalico.org/v3","kind":"Node","metadata":{"name":"h1"},"spec":{}}' >/dev/null || fail "put Node h1"
ectl put /tabby/v1/nodes/h1 '{"apiVersion":"projectcalico.org/v3","kind":"Node","metadata":{"name":"h1"},"spec":{"bgp":{"ipv4Address":"198.18.0.11/24"}}}' >/dev/null ||
	fail "put Node h1"

ns_add h1; H=$NS_LAST
ns_add c1; C1=$NS_LAST
ns_add c2; C2=$NS_LAST
LOG=$T_TMP/plugin.log
conf() {
	printf '{"cniVersion":"1.0.0","name":"tabbynet","type":"tabby","nodename":"h1","datastore_endpoints":"%s","log_level":"info","ipam":{"type":"tabby-ipam","ipv4_pools":["default-ipv4-ippool"]}}' \
		"$TABBY_TEST_ETCD_UNIX"
}
cni() { # CMD CONTAINERID NETNS POD < config
	nsenter --net="/run/netns/$H" env -i PATH="$PATH" CNI_COMMAND="$1" CNI_CONTAINERID="$2" \
		CNI_NETNS="$3" CNI_IFNAME=eth0 CNI_PATH="$T_BUILD/cni" \
		CNI_ARGS="IgnoreUnknown=1;K8S_POD_NAMESPACE=ns1;K8S_POD_NAME=$4" "$PLUGIN" 2>>"$LOG"
}
ipof() { python3 -c 'import json,sys; print(json.loads(sys.argv[1])["ips"][0]["address"].split("/")[0])' "$1"; }

CID1=c1a2b3c4d5e6f70812345678
CID2=c2a2b3c4d5e6f70812345678
WEP1=/tabby/v1/workloadendpoints/ns1/h1-cni-${CID1}-eth0
WEP2=/tabby/v1/workloadendpoints/ns1/h1-cni-${CID2}-eth0
HANDLE1=/tabby/v1/ipam/handles/tabbynet.$CID1
HANDLE2=/tabby/v1/ipam/handles/tabbynet.$CID2

RES1=$(conf | cni ADD "$CID1" "/run/netns/$C1" pod1) || { cat "$LOG"; fail "ADD c1: $RES1"; }
RES2=$(conf | cni ADD "$CID2" "/run/netns/$C2" pod2) || { cat "$LOG"; fail "ADD c2: $RES2"; }
IP1=$(ipof "$RES1")
IP2=$(ipof "$RES2")
[ "$IP1" != "$IP2" ] || fail "two ADDs got the same address $IP1"
ok "two CNI ADDs: $IP1 and $IP2"

# --- clean
run "$CTL" ipam check
[ "$RC" = 0 ] || { show; fail "check after two ADDs: exit $RC, want 0"; }
check "clean check: calicoctl's phases and 0 problems" bash -c "
	grep -qx 'Checking IPAM for inconsistencies...' $T_TMP/out &&
	grep -qx 'IPAM blocks record 2 allocations.' $T_TMP/out &&
	grep -qx 'Workloads are using 2 IPs.' $T_TMP/out &&
	grep -q '^Found 2 IPs in use, 2 allocated: 0 leaked' $T_TMP/out &&
	grep -qx 'Check complete; found 0 problems.' $T_TMP/out"
check_json
[ "$RC" = 0 ] || { show; fail "check -o json after two ADDs: exit $RC"; }
check "clean check -o json: no problems" problems
run "$CTL" ipam check --show-all-ips
check "--show-all-ips lists both allocations with their handles and owners" bash -c "
	grep -q '^  $IP1 allocated; attrs Main:tabbynet.$CID1 Extra:namespace=ns1,node=h1,pod=pod1\$' $T_TMP/out &&
	grep -q '^  $IP2 allocated; attrs Main:tabbynet.$CID2 ' $T_TMP/out &&
	grep -q '^  $IP1 belongs to Workload(ns1/h1-cni-${CID1}-eth0)\$' $T_TMP/out"

# --- leak: the WorkloadEndpoint of c1 goes, its allocation stays
ectl del "$WEP1" >/dev/null || fail "delete $WEP1"
run "$CTL" ipam check
[ "$RC" = 1 ] || { show; fail "check after deleting WEP1: exit $RC, want 1"; }
check "text report names $IP1 as leaked, and only it" bash -c "
	grep -q '^  $IP1 leaked; attrs Main:tabbynet.$CID1 ' $T_TMP/out &&
	[ \$(grep -c ' leaked;' $T_TMP/out) = 1 ] &&
	grep -qx 'Found 1 IPs that are allocated in IPAM but not actually in use.' $T_TMP/out &&
	grep -qx 'Check complete; found 1 problems.' $T_TMP/out"
check_json
[ "$RC" = 1 ] || { show; fail "check -o json after deleting WEP1: exit $RC, want 1"; }
check "JSON report: exactly leaked:$IP1" problems "leaked:$IP1"
check "JSON: the leak carries its handle, block, node and sequence number" python3 -c '
import json,sys
p=json.load(open(sys.argv[1]))["problems"][0]
assert p["handle"] == "tabbynet." + sys.argv[2] and p["node"] == "h1", p
assert p["block"] == "198.19.0.0/26" and isinstance(p["sequenceNumber"], int), p' "$T_TMP/out" "$CID1"

# --- release
run "$CTL" ipam release --ip "$IP2"
[ "$RC" = 1 ] || { show; fail "release of in-use $IP2: exit $RC, want 1"; }
check "release of $IP2 is refused: in use by c2's WorkloadEndpoint" \
	has "$IP2 is in use by Workload(ns1/h1-cni-${CID2}-eth0)" err
check "$IP2 is still allocated (its handle record is there)" \
	test -n "$(ectl get --print-value-only "$HANDLE2")"
run "$CTL" ipam release --ip 198.19.0.61
check "release of an address nobody holds is refused" \
	bash -c "[ $RC = 1 ] && grep -q '198.19.0.61 is not allocated' $T_TMP/err"
run "$CTL" ipam release --ip "$IP1"
[ "$RC" = 0 ] || { show; fail "release of leaked $IP1: exit $RC"; }
check "release of leaked $IP1 succeeds" has "Successfully released IP address $IP1" out
check "its handle record is gone" test -z "$(ectl get --keys-only "$HANDLE1")"
run "$CTL" ipam check
[ "$RC" = 0 ] || { show; fail "check after the release: exit $RC, want 0"; }
ok "check is clean again after the release"

# --- an endpoint whose IP is allocated nowhere
wep() { # NAME CONTAINERID IP
	printf '{"apiVersion":"projectcalico.org/v3","kind":"WorkloadEndpoint","metadata":{"name":"%s","namespace":"ns1"},"spec":{"orchestrator":"cni","workload":"%s","node":"h1","containerID":"%s","endpoint":"eth0","interfaceName":"tby0123456789a","ipNetworks":["%s/32"]}}' \
		"$1" "$2" "$2" "$3"
}
UNALLOC=198.19.0.50
[ "$UNALLOC" != "$IP2" ] || fail "test address collides"
HAND=/tabby/v1/workloadendpoints/ns1/h1-cni-dddddddddddd-eth0
ectl put "$HAND" "$(wep h1-cni-dddddddddddd-eth0 dddddddddddd0000 $UNALLOC)" >/dev/null || fail "put $HAND"
check_json
[ "$RC" = 1 ] || { show; fail "check with an unallocated endpoint IP: exit $RC, want 1"; }
check "endpoint IP $UNALLOC without allocation is reported, and only it" problems "not-allocated:$UNALLOC"
run "$CTL" ipam check
check "text: '... in active IPAM pool but has no IPAM allocation'" \
	has "$UNALLOC in use by Workload(ns1/h1-cni-dddddddddddd-eth0) and in active IPAM pool but has no IPAM allocation." out
ectl del "$HAND" >/dev/null

# --- a second endpoint with c2's IP: a duplicate, and allocated to another container's handle
DUP=/tabby/v1/workloadendpoints/ns1/h1-cni-eeeeeeeeeeee-eth0
ectl put "$DUP" "$(wep h1-cni-eeeeeeeeeeee-eth0 eeeeeeeeeeee0000 "$IP2")" >/dev/null || fail "put $DUP"
check_json
[ "$RC" = 1 ] || { show; fail "check with a duplicate: exit $RC, want 1"; }
check "duplicate $IP2 reported (plus the other endpoint's handle mismatch)" \
	problems "duplicate-workload-ip:$IP2" "wrong-handle:$IP2"
check "JSON: the duplicate lists both endpoints, the mismatch c2's handle" python3 -c '
import json,sys
d={p["type"]: p for p in json.load(open(sys.argv[1]))["problems"]}
assert d["duplicate-workload-ip"]["workloads"] == ["ns1/h1-cni-" + sys.argv[2] + "-eth0", "ns1/h1-cni-eeeeeeeeeeee-eth0"], d
assert d["wrong-handle"]["workloads"] == ["ns1/h1-cni-eeeeeeeeeeee-eth0"], d
assert d["wrong-handle"]["handle"] == "tabbynet." + sys.argv[2], d' "$T_TMP/out" "$CID2"
run "$CTL" ipam check
check "text names both owners" has "$IP2 has multiple owners: Workload(ns1/h1-cni-${CID2}-eth0), Workload(ns1/h1-cni-eeeeeeeeeeee-eth0)." out
check "text names the handle the duplicate's container does not own" \
	has "$IP2 in use by Workload(ns1/h1-cni-eeeeeeeeeeee-eth0) (container eeeeeeeeeeee0000) is allocated to handle tabbynet.$CID2" out
ectl del "$DUP" >/dev/null

# --- a handle record that counts an address no block holds
H2=$(ectl get --print-value-only "$HANDLE2")
ectl put "$HANDLE2" "$(python3 -c 'import json,sys; d=json.loads(sys.argv[1]); d["block"]={k: v + 1 for k, v in d["block"].items()}; print(json.dumps(d))' "$H2")" >/dev/null
check_json
BLK=$(python3 -c 'import json,sys; n=list(json.loads(sys.argv[1])["block"])[0]; a,l=n.rsplit("-",1); print(a + "/" + l)' "$H2")
check "handle record counting 2 addresses in $BLK (the block holds 1) is reported" problems "handle-count:$BLK"
ectl put "$HANDLE2" "$H2" >/dev/null
run "$CTL" ipam check
check "clean again with the handle record restored" test "$RC" = 0

# --- a block affine to a node that does not exist, with one (leaked) allocation
GHOST_BLOCK=$(python3 -c '
import json
n=64
print(json.dumps({"cidr":"198.19.0.128/26","affinity":"host:ghost","strictAffinity":False,
  "allocations":[0]+[None]*(n-1),"unallocated":list(range(1,n)),
  "attributes":[{"handle_id":"tabbynet.ghost","secondary":{"node":"ghost"}}],
  "deleted":False,"sequenceNumber":1,"sequenceNumberForAllocation":{"0":0}}))')
# h1's pending affinity for that block, left before the block was created for ghost (a claim that
# lost the race and died), and h9's pending affinity for h1's block, written after the block (a
# claim in flight, about to remove it: not a problem)
ectl put /tabby/v1/ipam/affinities/h1/198.19.0.128-26 '{"state":"pending"}' >/dev/null
ectl put /tabby/v1/ipam/blocks/198.19.0.128-26 "$GHOST_BLOCK" >/dev/null || fail "put ghost block"
ectl put /tabby/v1/ipam/affinities/h9/198.19.0.0-26 '{"state":"pending"}' >/dev/null
ectl put /tabby/v1/ipam/affinities/ghost/198.19.0.128-26 '{"state":"confirmed"}' >/dev/null
ectl put /tabby/v1/ipam/handles/tabbynet.ghost '{"handleID":"tabbynet.ghost","block":{"198.19.0.128-26":1}}' >/dev/null
check_json
[ "$RC" = 1 ] || { show; fail "check with the ghost block: exit $RC, want 1"; }
check "block of missing node ghost, its allocation (leaked) and h1's stale pending affinity reported" \
	problems "block-node-missing:198.19.0.128/26" "leaked:198.19.0.128" "affinity:198.19.0.128/26"
run "$CTL" ipam check
check "text: 'block 198.19.0.128/26 is affine to node ghost, which does not exist.'" \
	has "block 198.19.0.128/26 is affine to node ghost, which does not exist." out

check "text: h1's pending affinity is older than ghost's block" \
	has "pending affinity of node h1 for block 198.19.0.128/26, which is affine to node ghost." out

# --- --force releases an address still in use; the endpoint is then reported unallocated
run "$CTL" ipam release --ip "$IP2" --force
check "release --force of in-use $IP2 succeeds with a warning" bash -c "
	[ $RC = 0 ] && grep -q 'Successfully released IP address $IP2' $T_TMP/out &&
	grep -q 'warning: $IP2 is in use by Workload' $T_TMP/err"
check_json
check "then $IP2 is reported as in use without allocation" \
	problems "block-node-missing:198.19.0.128/26" "leaked:198.19.0.128" "affinity:198.19.0.128/26" "not-allocated:$IP2"
# --- a record that does not decode is a problem of its own, not a reason to stop
ectl put /tabby/v1/ipam/blocks/198.19.0.192-26 '{"cidr":' >/dev/null
check_json
check "an undecodable block is reported next to the rest" \
	problems "block-node-missing:198.19.0.128/26" "leaked:198.19.0.128" "affinity:198.19.0.128/26" "not-allocated:$IP2" "undecodable:"
ectl del /tabby/v1/ipam/blocks/198.19.0.192-26 >/dev/null

out=$(conf | cni DEL "$CID2" "/run/netns/$C2" pod2)
check "CNI DEL c2 still works" test $? = 0 -a -z "$out"
summary
