#!/bin/bash
# tabbyctl with Calico manifests against a private real etcd: every error of a file is reported
# (file:line:col: field) and nothing is written; documented fields tabby only stores are accepted
# with a warning naming file, line, field and document, and read back; validator rules (rule CIDR
# host bits, global(), default tier order, missing tier, IPPool change with blocks); calicoctl's
# aliases, version, get nodes -o wide, metadata.resourceVersion conflicts, Namespace --cascade.
# Addresses: 198.18.0.0/15 only.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

CTL=$T_BUILD/ctl/tabbyctl
[ -x "$CTL" ] || { echo "not ok - $CTL not built"; exit 1; }
command -v etcdctl >/dev/null || { echo "skipped: etcdctl not installed"; exit 77; }
etcd_start
export ETCDCTL_API=3
cd "$T_TMP" || exit 1

run() { "$@" >"$T_TMP/out" 2>"$T_TMP/err"; RC=$?; }
ectl() { etcdctl --endpoints "$TABBY_DATASTORE_ENDPOINTS" "$@"; }
revision() { ectl get / -w json | python3 -c 'import json,sys; print(json.load(sys.stdin)["header"]["revision"])'; }
has() { grep -qF -- "$1" "$2"; }
show() { echo "--- stdout"; cat "$T_TMP/out"; echo "--- stderr"; cat "$T_TMP/err"; }

# --- every error of a file, nothing written
cat >bad.yaml <<'EOF'
apiVersion: projectcalico.org/v3
kind: IPPool
metadata:
  name: p1
spec:
  cidr: 198.19.0.0/33
  bogus: 1
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata:
  name: g
spec:
  selector: global()
  ingress:
  - action: Allowed
  - action: Allow
    source:
      nets: [198.18.0.1/24]
---
apiVersion: projectcalico.org/v3
kind: Tier
metadata:
  name: default
spec:
  order: 100
EOF
REV=$(revision)
run "$CTL" apply -f bad.yaml
[ "$RC" = 1 ] || { show; fail "a bad file: exit $RC, want 1"; }
check "nothing written for a bad file" [ "$(revision)" = "$REV" ]
for want in 'bad.yaml:6:9: spec.cidr: invalid CIDR' 'bad.yaml:7:3: spec.bogus: unknown field' \
	'bad.yaml:14:13: spec.selector: global() can only be used' \
	'bad.yaml:16:13: spec.ingress[0].action: must be Allow' \
	'bad.yaml:19:14: spec.ingress[1].source.nets[0]: invalid CIDR "198.18.0.1/24": host bits are set' \
	"bad.yaml:26:10: spec.order: the default tier's order must be 1000000" \
	'bad.yaml: 6 errors; nothing was written'; do
	has "$want" err || { show; fail "error reported: $want"; }
done
ok "all 6 errors of the file are reported with file:line:col: field"

printf 'apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata:\n\tname: p\n' >tab.yaml
run "$CTL" apply -f tab.yaml
check "a tab is named as such, with its line" has "tab.yaml:4:1: invalid YAML: a tab character" err

# --- documented fields accepted with a warning, stored, read back
cat >warn.yaml <<'EOF'
apiVersion: projectcalico.org/v3
kind: FelixConfiguration
metadata:
  name: default
spec:
  logSeverityScreen: Info
  reportingInterval: 30s
---
apiVersion: projectcalico.org/v3
kind: BGPPeer
metadata:
  name: tor
spec:
  peerIP: 198.18.0.1
  asNumber: 64513
  localASNumber: 64600
---
apiVersion: projectcalico.org/v3
kind: BGPConfiguration
metadata:
  name: default
spec:
  serviceLoadBalancerIPs:
  - cidr: 198.19.200.0/24
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata:
  name: annotated
spec:
  ingress:
  - action: Allow
    metadata:
      annotations:
        owner: ops
EOF
run "$CTL" apply -f warn.yaml
[ "$RC" = 0 ] || { show; fail "apply warn.yaml"; }
has "warning: warn.yaml:6:3: spec.logSeverityScreen: accepted and stored, but tabby's felix does not act on it yet (FelixConfiguration default)" err ||
	{ show; fail "warnings name file, line, field and document"; }
ok "stored-only fields are accepted with a warning each"
# localASNumber and (IPv4) service ranges are acted upon: no warning
check "localASNumber and serviceLoadBalancerIPs carry no warning" \
	[ "$(grep -c "localASNumber\|serviceLoadBalancerIPs" err)" = 0 ]
check "the rule's annotations carry no warning" [ "$(grep -c warning err)" = 2 ]
run "$CTL" get felixconfig default -o yaml
check "logSeverityScreen is stored and shown" has "logSeverityScreen: Info" out
run "$CTL" get bgpp tor -o json
check "localASNumber is stored and shown" has '"localASNumber": 64600' out
run "$CTL" get gnp annotated -o yaml
check "rule metadata is stored and shown" has "owner: ops" out

# --- aliases and version
for a in ipp ippools bgpconfig bgpconfigs bgpp bgppeers gnp globalnetworkpolicies np networkpolicies \
	netset networksets gnetset globalnetworksets hep hostendpoints wep workloadendpoints \
	nodes felixconfig felixconfigs tier tiers; do
	run "$CTL" get "$a"
	[ "$RC" = 0 ] || { show; fail "get $a"; }
done
ok "calicoctl's kind aliases are accepted"
run "$CTL" version
check "version prints the client version" has "Client Version:    v" out

# --- get nodes -o wide: ASN and addresses
cat >node.yaml <<'EOF'
apiVersion: projectcalico.org/v3
kind: Node
metadata:
  name: h1
spec:
  bgp:
    ipv4Address: 198.18.0.11/24
    asNumber: 64520
EOF
run "$CTL" apply -f node.yaml
run "$CTL" get nodes -o wide
has "ASN" out && grep -q '^h1 .*64520 .*198.18.0.11/24' out || { show; fail "get nodes -o wide"; }
ok "get nodes -o wide shows the ASN and the address"

# --- metadata.resourceVersion
"$CTL" get ippool -o yaml >/dev/null 2>&1
cat >pool.yaml <<'EOF'
apiVersion: projectcalico.org/v3
kind: IPPool
metadata:
  name: pool-a
spec:
  cidr: 198.19.0.0/16
EOF
run "$CTL" apply -f pool.yaml
run "$CTL" get ippool pool-a -o yaml
cp out stale.yaml
sed 's/^  cidr: .*/  cidr: 198.19.0.0\/16\n  natOutgoing: true/' stale.yaml >fresh.yaml
run "$CTL" apply -f fresh.yaml
check "apply at the current resourceVersion succeeds" [ "$RC" = 0 ]
REV=$(revision)
run "$CTL" replace -f stale.yaml
[ "$RC" = 1 ] && has "metadata.resourceVersion: conflict" err || { show; fail "replace with a stale resourceVersion"; }
check "a stale resourceVersion is a conflict and writes nothing" [ "$(revision)" = "$REV" ]
run "$CTL" apply -f stale.yaml
check "apply honours resourceVersion too" [ "$RC" = 1 ]

# --- IPPool cidr change while it has blocks
ectl put /tabby/v1/ipam/blocks/198.19.0.0-26 '{}' >/dev/null
sed 's/198.19.0.0\/16/198.19.0.0\/17/' pool.yaml >pool2.yaml
run "$CTL" apply -f pool2.yaml
[ "$RC" = 1 ] && has "spec.cidr: IPPool pool-a has 1 IPAM block(s) in use" err || { show; fail "cidr change with blocks"; }
ok "an IPPool's cidr cannot change while it has blocks"
ectl del /tabby/v1/ipam/blocks/198.19.0.0-26 >/dev/null
run "$CTL" apply -f pool2.yaml
check "without blocks the cidr may change" [ "$RC" = 0 ]

# --- a policy naming a tier that does not exist
cat >tiered.yaml <<'EOF'
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata:
  name: sec.block
spec:
  tier: sec
  selector: all()
EOF
run "$CTL" apply -f tiered.yaml
[ "$RC" = 1 ] && has 'spec.tier: tier "sec" does not exist' err || { show; fail "missing tier"; }
ok "a policy in a missing tier is refused"
printf 'apiVersion: projectcalico.org/v3\nkind: Tier\nmetadata:\n  name: sec\nspec:\n  order: 100\n---\n' | cat - tiered.yaml >tiered2.yaml
run "$CTL" apply -f tiered2.yaml
check "the tier and its policy in one file" [ "$RC" = 0 ]
run "$CTL" delete tier sec
check "a tier holding policies is not deleted" [ "$RC" = 1 ]

# --- Namespace delete: refused while it holds policies or sets; --cascade
cat >ns.yaml <<'EOF'
apiVersion: v1
kind: Namespace
metadata:
  name: team-a
---
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata:
  name: np1
  namespace: team-a
spec:
  selector: all()
---
apiVersion: projectcalico.org/v3
kind: NetworkSet
metadata:
  name: ns1
  namespace: team-a
spec:
  nets: [198.18.5.0/24]
EOF
run "$CTL" apply -f ns.yaml
[ "$RC" = 0 ] || { show; fail "apply ns.yaml"; }
run "$CTL" delete namespace team-a
[ "$RC" = 1 ] && has "still holds 2 resource(s)" err || { show; fail "delete a non-empty namespace"; }
check "the namespace is kept" [ -n "$(ectl get /tabby/v1/namespaces/team-a --keys-only)" ]
run "$CTL" delete namespace team-a --cascade
[ "$RC" = 0 ] || { show; fail "delete --cascade"; }
check "--cascade deletes the namespace and what it holds" \
	[ -z "$(ectl get --prefix /tabby/v1/ --keys-only | grep team-a)" ]
summary
