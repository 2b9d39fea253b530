#!/bin/bash
# Workload identity regression tests for the CNI plugin (issue 11 "Workload identity must be
# safe"), against a real etcd and the kernel:
#   - two containers whose ids share the first 12 characters get two WorkloadEndpoints, named
#     with the whole id; DEL of one leaves the other's endpoint, veth and address alone;
#   - K8S_POD_NAMESPACE / K8S_POD_NAME that are no Kubernetes names fail with code 4 naming the
#     argument, and leave no veth, endpoint or allocation;
#   - a CNI_ARGS item without '=' gives code 4 with a valid UTF-8 message quoting the item;
#   - distinct codes: 101 datastore unavailable, 105 invalid data in the datastore, 106 argument
#     too long;
#   - a node name that is no DNS-1123 subdomain fails before anything is written.
source "${TABBY_SOURCE_DIR:-$(dirname "$0")/../..}/tests/integration/lib.sh"
need_root

PLUGIN=$T_BUILD/cni/tabby
[ -x "$PLUGIN" ] && [ -x "$T_BUILD/cni/tabby-ipam" ] || fail "plugins not built in $T_BUILD/cni"
command -v etcdctl >/dev/null || fail "etcdctl not installed"

etcd_start
ectl() { ETCDCTL_API=3 etcdctl --endpoints "$TABBY_DATASTORE_ENDPOINTS" "$@"; }
ectl put /tabby/v1/ippools/idpool '{"apiVersion":"projectcalico.org/v3","kind":"IPPool","metadata":{"name":"idpool"},"spec":{"cidr":"198.19.11.0/24","blockSize":26}}' >/dev/null ||
	fail "put IPPool"
ectl put /tabby/v1/nodes/h1 '{"apiVersion":"projectcalico.org/v3","kind":"Node","metadata":{"name":"h1"},"spec":{}}' >/dev/null ||
	fail "put Node"

ns_add h1; H=$NS_LAST
for i in 1 2 3; do ns_add "c$i"; eval "C$i=\$NS_LAST"; done

LOG=$T_TMP/plugin.log
NODE=h1
ENDPOINTS=$TABBY_TEST_ETCD_UNIX
conf() {
	printf '{"cniVersion":"1.0.0","name":"idnet","type":"tabby","nodename":"%s","datastore_endpoints":"%s","log_level":"debug","ipam":{"type":"tabby-ipam","ipv4_pools":["idpool"]}}' \
		"$NODE" "$ENDPOINTS"
}
# cni CMD CONTAINERID NETNS CNI_ARGS < config
cni() {
	nsenter --net="/run/netns/$H" env -i PATH="$PATH" CNI_COMMAND="$1" CNI_CONTAINERID="$2" \
		CNI_NETNS="$3" CNI_IFNAME=eth0 CNI_PATH="$T_BUILD/cni" CNI_ARGS="$4" \
		"$PLUGIN" 2>>"$LOG"
}
veth_of() { python3 -c 'import hashlib,sys; print("tby" + hashlib.sha1(sys.argv[1].encode()).hexdigest()[:11])' "$1"; }
# is_error FILE CODE SUBSTRING: FILE holds one CNI error JSON, valid UTF-8, with that code and
# message part
is_error() {
	python3 -c '
import json,sys
raw=open(sys.argv[1],"rb").read()
d=json.loads(raw.decode("utf-8", errors="strict"))
assert set(d) <= {"cniVersion","code","msg","details"}, d
assert d["code"] == int(sys.argv[2]) and sys.argv[3] in d["msg"], d' "$1" "$2" "$3"
}
weps() { ectl get --keys-only --prefix /tabby/v1/workloadendpoints/ | grep -c .; }
handles() { ectl get --keys-only --prefix /tabby/v1/ipam/handles/ | grep -c .; }
tby_count() { ip netns exec "$H" ip -o link show | grep -c ': tby'; }

# --- two ids with the same 12-character prefix
CIDA=0123456789ab000000000000000000000000000000000000000000000000000a
CIDB=0123456789ab000000000000000000000000000000000000000000000000000b
ARGS="K8S_POD_NAMESPACE=ns1"
conf | cni ADD "$CIDA" "/run/netns/$C1" "$ARGS" >"$T_TMP/a.json" || { cat "$LOG"; fail "ADD A: $(cat "$T_TMP/a.json")"; }
conf | cni ADD "$CIDB" "/run/netns/$C2" "$ARGS" >"$T_TMP/b.json" || { cat "$LOG"; fail "ADD B: $(cat "$T_TMP/b.json")"; }
ok "ADD of two containers whose ids share 12 characters"
WEPA=/tabby/v1/workloadendpoints/ns1/h1-cni-$CIDA-eth0
WEPB=/tabby/v1/workloadendpoints/ns1/h1-cni-$CIDB-eth0
check "each has its own WorkloadEndpoint, named with the whole id" \
	bash -c "[ -n \"\$(ETCDCTL_API=3 etcdctl --endpoints $TABBY_DATASTORE_ENDPOINTS get --keys-only $WEPA)\" ] &&
		 [ -n \"\$(ETCDCTL_API=3 etcdctl --endpoints $TABBY_DATASTORE_ENDPOINTS get --keys-only $WEPB)\" ] && [ $(weps) = 2 ]"
check "the endpoints hold their own container id and address" python3 -c '
import json,sys
a=json.loads(sys.argv[1]); b=json.loads(sys.argv[2]); ra=json.loads(sys.argv[3]); rb=json.loads(sys.argv[4])
assert a["spec"]["containerID"] == sys.argv[5] and b["spec"]["containerID"] == sys.argv[6], (a, b)
assert a["spec"]["ipNetworks"] == [ra["ips"][0]["address"]], (a, ra)
assert b["spec"]["ipNetworks"] == [rb["ips"][0]["address"]], (b, rb)
assert a["spec"]["ipNetworks"] != b["spec"]["ipNetworks"]' \
	"$(ectl get --print-value-only "$WEPA")" "$(ectl get --print-value-only "$WEPB")" \
	"$(cat "$T_TMP/a.json")" "$(cat "$T_TMP/b.json")" "$CIDA" "$CIDB"
conf | cni DEL "$CIDA" "/run/netns/$C1" "$ARGS" >"$T_TMP/out" || fail "DEL A: $(cat "$T_TMP/out")"
check "DEL of A removes A's endpoint only" \
	bash -c "[ -z \"\$(ETCDCTL_API=3 etcdctl --endpoints $TABBY_DATASTORE_ENDPOINTS get --keys-only $WEPA)\" ] && [ $(weps) = 1 ] &&
		 [ -n \"\$(ETCDCTL_API=3 etcdctl --endpoints $TABBY_DATASTORE_ENDPOINTS get --keys-only $WEPB)\" ]"
check "B keeps its veth and address" bash -c "[ $(tby_count) = 1 ] && [ $(handles) = 1 ]"
conf | cni DEL "$CIDB" "/run/netns/$C2" "$ARGS" >/dev/null || fail "DEL B"

# --- Kubernetes names
nothing_left() { [ "$(weps)" = 0 ] && [ "$(handles)" = 0 ] && [ "$(tby_count)" = 0 ]; }
conf | cni ADD badns1 "/run/netns/$C1" "K8S_POD_NAMESPACE=../ipam/blocks" >"$T_TMP/out"
check "K8S_POD_NAMESPACE=../ipam/blocks: code 4 naming it" is_error "$T_TMP/out" 4 "K8S_POD_NAMESPACE"
check "... nothing written, no veth" nothing_left
conf | cni ADD badns2 "/run/netns/$C1" "K8S_POD_NAMESPACE=Prod" >"$T_TMP/out"
check "K8S_POD_NAMESPACE=Prod (upper case): code 4" is_error "$T_TMP/out" 4 "K8S_POD_NAMESPACE"
conf | cni ADD badpod1 "/run/netns/$C1" "K8S_POD_NAMESPACE=ns1;K8S_POD_NAME=web/0" >"$T_TMP/out"
check "K8S_POD_NAME=web/0: code 4 naming it" is_error "$T_TMP/out" 4 "K8S_POD_NAME"
conf | cni ADD badpod2 "/run/netns/$C1" "K8S_POD_NAMESPACE=ns1;K8S_POD_NAME=-web" >"$T_TMP/out"
check "K8S_POD_NAME=-web: code 4" is_error "$T_TMP/out" 4 "K8S_POD_NAME"
LONGNS=$(printf 'n%.0s' $(seq 1 64))
conf | cni ADD longns "/run/netns/$C1" "K8S_POD_NAMESPACE=$LONGNS" >"$T_TMP/out"
check "a 64-character namespace: code 106 argument too long" is_error "$T_TMP/out" 106 "too long"
LONGPOD=$(printf 'p%.0s' $(seq 1 254))
conf | cni ADD longpod "/run/netns/$C1" "K8S_POD_NAMESPACE=ns1;K8S_POD_NAME=$LONGPOD" >"$T_TMP/out"
check "a 254-character pod name: code 106 argument too long" is_error "$T_TMP/out" 106 "too long"
conf | cni ADD okpod "/run/netns/$C1" "K8S_POD_NAMESPACE=ns1;K8S_POD_NAME=web-0.a" >"$T_TMP/out" ||
	fail "a valid pod name web-0.a: $(cat "$T_TMP/out")"
ok "a valid pod name (web-0.a) is accepted"
conf | cni DEL okpod "/run/netns/$C1" "K8S_POD_NAMESPACE=ns1;K8S_POD_NAME=web-0.a" >/dev/null || fail "DEL okpod"
check "nothing left after the refused names" nothing_left

# --- CNI_ARGS item without '=' (a use-after-free once): the message quotes it as valid UTF-8
conf | cni ADD noeq "/run/netns/$C1" "K8S_POD_NAMESPACE=ns1;$(printf 'caf\xc3\xa9\xff')" >"$T_TMP/out"
check "CNI_ARGS item without '=': code 4, valid UTF-8, the item quoted" is_error "$T_TMP/out" 4 'CNI_ARGS: "caf\xc3\xa9\xff" is not KEY=VALUE'
conf | cni ADD noeq2 "/run/netns/$C1" "IgnoreUnknown=1;justakey" >"$T_TMP/out"
check "CNI_ARGS item without '=' after others: code 4 naming it" is_error "$T_TMP/out" 4 '"justakey" is not KEY=VALUE'

# --- container ids and node names that cannot be names
conf | cni ADD UPPERcaseID "/run/netns/$C1" "$ARGS" >"$T_TMP/out"
check "an upper-case container id: code 4, the WorkloadEndpoint name is no RFC 1123 subdomain" is_error "$T_TMP/out" 4 "RFC 1123"
LONGID=$(printf 'a%.0s' $(seq 1 250))
conf | cni ADD "$LONGID" "/run/netns/$C1" "$ARGS" >"$T_TMP/out"
check "a 250-character container id: code 106 argument too long" is_error "$T_TMP/out" 106 "too long"
NODE="H_1" conf | cni ADD badnode "/run/netns/$C1" "$ARGS" >"$T_TMP/out"
check "node name H_1: code 7 naming the node name" is_error "$T_TMP/out" 7 "node name"
check "nothing left after the refused ids and nodes" nothing_left

# --- node name: a node without a Node resource is refused; the name comes from nodename_file
NODE=h7 conf | cni ADD nonode "/run/netns/$C1" "$ARGS" >"$T_TMP/out"
check "ADD on node h7 that has no Node resource: code 109 naming it" is_error "$T_TMP/out" 109 'node "h7" has no Node resource'
check "... nothing written (no block claimed for h7)" bash -c "[ -z \"\$(ETCDCTL_API=3 etcdctl --endpoints $TABBY_DATASTORE_ENDPOINTS get --keys-only --prefix /tabby/v1/ipam/affinities/h7/)\" ] && [ $(weps) = 0 ] && [ $(handles) = 0 ]"
echo h1 >"$T_TMP/nodename"
fconf() { # the config without "nodename": the node name comes from the file felix writes
	printf '{"cniVersion":"1.0.0","name":"idnet","type":"tabby","nodename_file":"%s","datastore_endpoints":"%s","ipam":{"type":"tabby-ipam","ipv4_pools":["idpool"]}}' \
		"$T_TMP/nodename" "$TABBY_TEST_ETCD_UNIX"
}
fconf | cni ADD viafile "/run/netns/$C3" "$ARGS" >"$T_TMP/out" || { cat "$LOG"; fail "ADD with nodename_file: $(cat "$T_TMP/out")"; }
check "ADD with nodename_file (no TABBY_NODENAME): the endpoint is h1's" \
	bash -c "[ -n \"\$(ETCDCTL_API=3 etcdctl --endpoints $TABBY_DATASTORE_ENDPOINTS get --keys-only /tabby/v1/workloadendpoints/ns1/h1-cni-viafile-eth0)\" ]"
fconf | cni DEL viafile "/run/netns/$C3" "$ARGS" >"$T_TMP/out" || fail "DEL with nodename_file: $(cat "$T_TMP/out")"
check "DEL with nodename_file and no TABBY_NODENAME removes it" nothing_left

# --- distinct datastore errors
ectl put /tabby/v1/ipam/blocks/198.19.11.0-26 'this is not a block' >/dev/null
ectl put /tabby/v1/ipam/affinities/h1/198.19.11.0-26 '{"state":"confirmed"}' >/dev/null
conf | cni ADD baddata "/run/netns/$C1" "$ARGS" >"$T_TMP/out"
check "an undecodable block: code 105 invalid data in the datastore" is_error "$T_TMP/out" 105 "invalid data in the datastore"
ectl del /tabby/v1/ipam/blocks/198.19.11.0-26 >/dev/null
ectl del /tabby/v1/ipam/affinities/h1/198.19.11.0-26 >/dev/null
check "... nothing left" nothing_left
ENDPOINTS="unix://$T_TMP/no-etcd.sock:2379"
conf | cni ADD noetcd "/run/netns/$C1" "$ARGS" >"$T_TMP/out"
check "etcd unreachable: code 101 datastore unavailable" is_error "$T_TMP/out" 101 "datastore unavailable"
ENDPOINTS=$TABBY_TEST_ETCD_UNIX
check "nothing left after the datastore errors" nothing_left

summary
