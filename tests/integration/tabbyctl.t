#!/bin/bash
# tabbyctl against a private real etcd: apply/get/create/replace/delete, all-or-nothing writes
# (an invalid second document leaves the datastore untouched, checked by etcd's revision), pool
# overlap refusal, stdin input, `ipam show`, and `node status` against a real BIRD.
# Addresses: 198.18.0.0/15 only; "10.0.0.0/33" is a deliberately invalid string, never assigned.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

CTL=$T_BUILD/ctl/tabbyctl
[ -x "$CTL" ] || { echo "not ok - $CTL not built"; exit 1; }
command -v etcdctl >/dev/null || { echo "skipped: etcdctl not installed"; exit 77; }
etcd_start
export ETCDCTL_API=3
cd "$T_TMP" || exit 1

run() { "$@" >"$T_TMP/out" 2>"$T_TMP/err"; RC=$?; }
ectl() { etcdctl --endpoints "$TABBY_DATASTORE_ENDPOINTS" "$@"; }
keys() { ectl get --prefix /tabby/v1/ --keys-only | sed '/^$/d'; }
revision() { ectl get / -w json | python3 -c 'import json,sys; print(json.load(sys.stdin)["header"]["revision"])'; }
has() { grep -qF -- "$1" "$2"; }
show() { echo "--- stdout"; cat "$T_TMP/out"; echo "--- stderr"; cat "$T_TMP/err"; }
expect_fail() { # MSG: last run exited 1 and wrote nothing
	[ "$RC" = 1 ] || { show; fail "$1: exit $RC, want 1"; }
	[ "$(revision)" = "$REV" ] || { show; fail "$1: the datastore changed"; }
	ok "$1"
}

cat >good.yaml <<'EOF'
apiVersion: projectcalico.org/v3
kind: IPPool
metadata:
  name: default-ipv4-ippool
spec:
  cidr: 198.19.0.0/16
  blockSize: 26
  ipipMode: Never
  natOutgoing: true
---
apiVersion: projectcalico.org/v3
kind: Node
metadata:
  name: h1
  labels:
    rack: r1
spec:
  bgp:
    ipv4Address: 198.18.0.11/24
---
apiVersion: projectcalico.org/v3
kind: BGPConfiguration
metadata:
  name: default
spec:
  asNumber: 64512
  nodeToNodeMeshEnabled: true
EOF

# --- apply a valid multi-document file and read it back two ways
run "$CTL" apply -f good.yaml
[ "$RC" = 0 ] || { show; fail "apply good.yaml"; }
check "apply prints calicoctl's summary" has "Successfully applied 3 resource(s)" out
check "three keys in etcd" [ "$(keys | tr '\n' ' ')" = "/tabby/v1/bgpconfigurations/default /tabby/v1/ippools/default-ipv4-ippool /tabby/v1/nodes/h1 " ]

ectl get /tabby/v1/ippools/default-ipv4-ippool --print-value-only >stored.json
check "etcd holds the v3 JSON with the defaults filled and no resourceVersion" python3 - stored.json <<'EOF'
import json, sys
v = json.load(open(sys.argv[1]))
assert v["apiVersion"] == "projectcalico.org/v3" and v["kind"] == "IPPool", v
assert v["metadata"]["name"] == "default-ipv4-ippool", v
assert "resourceVersion" not in v["metadata"] and v["metadata"]["uid"], v
assert v["spec"] == {"cidr": "198.19.0.0/16", "ipipMode": "Never", "natOutgoing": True,
                     "blockSize": 26}, v
EOF

run "$CTL" get ippool default-ipv4-ippool -o json
modrev=$(ectl get /tabby/v1/ippools/default-ipv4-ippool -w json | python3 -c 'import json,sys; print(json.load(sys.stdin)["kvs"][0]["mod_revision"])')
check "get -o json returns the pool with resourceVersion = mod_revision" python3 - out "$modrev" <<'EOF'
import json, sys
v = json.load(open(sys.argv[1]))
assert v["kind"] == "IPPool" and v["spec"]["cidr"] == "198.19.0.0/16", v
assert v["metadata"]["resourceVersion"] == sys.argv[2], (v, sys.argv[2])
EOF
run "$CTL" get nodes -o json
check "get nodes -o json is a NodeList with h1" python3 - out <<'EOF'
import json, sys
v = json.load(open(sys.argv[1]))
assert v["kind"] == "NodeList", v
[n] = v["items"]
assert n["metadata"]["name"] == "h1" and n["metadata"]["labels"] == {"rack": "r1"}, n
assert n["spec"]["bgp"]["ipv4Address"] == "198.18.0.11/24", n
EOF
run "$CTL" get ippools
check "get ippools prints a NAME/CIDR table" grep -qE '^default-ipv4-ippool +198\.19\.0\.0/16 +all\(\)$' out
run "$CTL" get bgpconfig default -o yaml
check "get -o yaml is a YAML document" grep -qx 'kind: BGPConfiguration' out

# --- an invalid second document: exit 1, file:line:col and field named, nothing written
cat >bad.yaml <<'EOF'
apiVersion: projectcalico.org/v3
kind: Node
metadata:
  name: h2
spec:
  bgp:
    ipv4Address: 198.18.0.12/24
---
apiVersion: projectcalico.org/v3
kind: IPPool
metadata:
  name: bad-pool
spec:
  cidr: 10.0.0.0/33
EOF
REV=$(revision)
run "$CTL" apply -f bad.yaml
expect_fail "apply of a file whose second document is invalid fails and writes nothing"
check "the error names file, line, column and spec.cidr" \
	has 'tabbyctl: bad.yaml:14:9: spec.cidr: invalid CIDR "10.0.0.0/33"' err
check "the valid first document was not written either" [ -z "$(ectl get /tabby/v1/nodes/h2)" ]

printf 'apiVersion: projectcalico.org/v3\nkind: Node\nmetadata:\n  name: h3\n spec: {}\n' >syntax.yaml
run "$CTL" apply -f syntax.yaml
expect_fail "a YAML syntax error fails"
check "the syntax error names its line" grep -q '^tabbyctl: syntax.yaml:5:' err

# --- create of an existing resource fails, and fails before writing the other documents
cat >mixed.yaml <<'EOF'
apiVersion: projectcalico.org/v3
kind: IPPool
metadata:
  name: other-pool
spec:
  cidr: 198.18.64.0/18
---
apiVersion: projectcalico.org/v3
kind: Node
metadata:
  name: h1
EOF
run "$CTL" create -f mixed.yaml
expect_fail "create with one existing resource fails"
check "create names the existing resource" has "tabbyctl: Node h1 already exists" err
check "the new pool of that file was not created" [ -z "$(ectl get /tabby/v1/ippools/other-pool)" ]

# --- replace needs the resource to exist
run "$CTL" replace -f <(sed -n '1,6p' mixed.yaml)
expect_fail "replace of a missing resource fails"
check "replace names the missing resource" has "IPPool other-pool does not exist" err

# --- an overlapping pool is refused, from another file and within one file
cat >overlap.yaml <<'EOF'
apiVersion: projectcalico.org/v3
kind: IPPool
metadata:
  name: second-pool
spec:
  cidr: 198.19.128.0/17
EOF
run "$CTL" apply -f overlap.yaml
expect_fail "a pool overlapping a stored pool is refused"
check "the overlap error names the pool's line and spec.cidr" \
	has 'tabbyctl: overlap.yaml:1: spec.cidr: IPPool "second-pool" (198.19.128.0/17) overlaps with IPPool "default-ipv4-ippool" (198.19.0.0/16)' err
cat >overlap2.yaml <<'EOF'
apiVersion: projectcalico.org/v3
kind: IPPool
metadata:
  name: pool-a
spec:
  cidr: 198.18.128.0/18
---
apiVersion: projectcalico.org/v3
kind: IPPool
metadata:
  name: pool-b
spec:
  cidr: 198.18.160.0/19
EOF
run "$CTL" apply -f overlap2.yaml
expect_fail "two overlapping pools in one file are refused"
check "the later pool is named" has 'overlap2.yaml:8: spec.cidr: IPPool "pool-b"' err

# re-applying a pool under its own name is a replacement, not an overlap
sed 's/natOutgoing: true/natOutgoing: false/' good.yaml >good2.yaml
run "$CTL" apply -f good2.yaml
check "re-applying a pool replaces it" [ "$RC" = 0 ]
check "the replacement kept the pool's uid" [ "$(ectl get /tabby/v1/ippools/default-ipv4-ippool --print-value-only | python3 -c 'import json,sys; print(json.load(sys.stdin)["metadata"]["uid"])')" = "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["metadata"]["uid"])' stored.json)" ]

# --- -f - reads stdin (also for errors, which name "-")
sed -n '1,6p' mixed.yaml | "$CTL" create -f - >out 2>err
check "create -f - from stdin" [ $? = 0 ]
check "the stdin pool is in etcd" has '"cidr":"198.18.64.0/18"' <(ectl get /tabby/v1/ippools/other-pool --print-value-only)
REV=$(revision)
printf 'apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata:\n  name: x\nspec:\n  cidr: 198.18.0.1/16\n' |
	"$CTL" apply -f - >out 2>err
RC=$?
expect_fail "an invalid document on stdin fails"
check "stdin errors are named '-'" has 'tabbyctl: -:6:9: spec.cidr: invalid CIDR "198.18.0.1/16": host bits are set' err

# --- get -o yaml | apply -f - round-trips
"$CTL" get ippools -o yaml | "$CTL" apply -f - >out 2>err
check "get -o yaml | apply -f - succeeds" [ $? = 0 ]
"$CTL" get nodes -o json | "$CTL" replace -f - >out 2>err
check "get -o json (a List) | replace -f - succeeds" [ $? = 0 ]

# --- namespaced WorkloadEndpoints
cat >wep.yaml <<'EOF'
apiVersion: projectcalico.org/v3
kind: WorkloadEndpoint
metadata:
  name: h1-cni-0123456789ab-eth0
  namespace: prod
  labels:
    app: web
spec:
  orchestrator: cni
  node: h1
  containerID: 0123456789abcdef
  endpoint: eth0
  interfaceName: tby0123456789a
  mac: ee:ee:ee:00:00:01
  ipNetworks: [198.19.0.5/32]
EOF
run "$CTL" apply -f wep.yaml
check "apply a WorkloadEndpoint" [ "$RC" = 0 ]
check "it is stored under its namespace" [ -n "$(ectl get /tabby/v1/workloadendpoints/prod/h1-cni-0123456789ab-eth0)" ]
run "$CTL" get wep -A
check "get wep -A lists it with node and networks" grep -qE '^prod +h1-cni-0123456789ab-eth0 +h1 +198\.19\.0\.5/32 +tby0123456789a$' out
run "$CTL" get wep
check "get wep (namespace default) does not list it" [ "$(wc -l <out)" = 1 ]

# --- delete
run "$CTL" delete ippool other-pool
check "delete KIND NAME" [ "$RC" = 0 ]
check "the deleted pool is gone from etcd" [ -z "$(ectl get /tabby/v1/ippools/other-pool)" ]
REV=$(revision)
run "$CTL" delete ippool other-pool
expect_fail "deleting a missing resource fails"
run "$CTL" delete wep h1-cni-0123456789ab-eth0 -n prod
check "delete a WorkloadEndpoint with -n" [ -z "$(ectl get --prefix /tabby/v1/workloadendpoints/)" ]

# --- ipam show (no blocks claimed yet)
run "$CTL" ipam show --show-blocks
check "ipam show lists the pool with its capacity" grep -qE '^\| IP Pool +\| 198\.19\.0\.0/16 +\| 65536 +\| 0 \(0%\) +\| 65536 \(100%\) +\|' out

# --- unreachable datastore (loopback port 1: nothing listens there)
run "$CTL" --datastore-endpoints http://127.0.0.1:1 get ippools
check "an unreachable datastore exits 1" [ "$RC" = 1 ]
check "and says where it tried" has "tabbyctl: cannot reach the datastore at http://127.0.0.1:1: " err

# --- node status against a real BIRD (a disabled session: no packet is sent)
if command -v bird >/dev/null; then
	cat >bird.conf <<'EOF'
router id 198.18.0.11;
protocol device {}
protocol bgp Mesh_198_18_0_12 {
	disabled;
	local 198.18.0.11 as 64512;
	neighbor 198.18.0.12 as 64512;
	ipv4 { import none; export none; };
}
EOF
	bird -f -c bird.conf -s "$T_TMP/bird.ctl" -P "$T_TMP/bird.pid" >bird.out 2>&1 &
	track_pid $!
	wait_for 10 test -S "$T_TMP/bird.ctl" || fail "BIRD did not start: $(cat bird.out)"
	run "$CTL" node status --bird-socket "$T_TMP/bird.ctl"
	check "node status shows the mesh peer" grep -qE '^\| 198\.18\.0\.12 +\| node-to-node mesh +\| down +\|' out
	TABBY_BIRD_SOCKET=$T_TMP/bird.ctl run "$CTL" node status -o json
	check "node status -o json" python3 -c '
import json, sys
[p] = json.load(open(sys.argv[1]))
assert p["peerAddress"] == "198.18.0.12" and p["peerType"] == "node-to-node mesh", p
assert p["state"] == "down", p' out
fi
run "$CTL" node status --bird-socket "$T_TMP/no-such.ctl"
check "node status without BIRD fails" [ "$RC" = 1 ]

run "$CTL" delete -f good.yaml
check "delete -f removes every resource of the file" [ -z "$(keys | grep -v /ipam/)" ]
summary
