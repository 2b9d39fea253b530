#!/bin/bash
# tabbyctl's policy verbs against a private real etcd: `label` (set, refuse an existing key
# without --overwrite, overwrite, remove, refuse a missing key, CAS write of the stored value),
# `selector test` (true/false/parse error with its exit codes and the column of the error),
# `policy explain` over a small cluster written with tabbyctl (the order of the policies per
# direction across two tiers, and the deciding rule of allowed and denied flows, text and JSON),
# and the file:line:col of a bad selector inside a manifest.
# Addresses: 198.18.0.0/15 only (nothing is sent anywhere: this is datastore state).
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

CTL=$T_BUILD/ctl/tabbyctl
[ -x "$CTL" ] || { echo "not ok - $CTL not built"; exit 1; }
command -v etcdctl >/dev/null || { echo "skipped: etcdctl not installed"; exit 77; }
etcd_start
export ETCDCTL_API=3
cd "$T_TMP" || exit 1

run() { "$@" >"$T_TMP/out" 2>"$T_TMP/err"; RC=$?; }
ectl() { etcdctl --endpoints "$TABBY_DATASTORE_ENDPOINTS" "$@"; }
show() { echo "--- stdout"; cat "$T_TMP/out"; echo "--- stderr"; cat "$T_TMP/err"; }
has() { grep -qF -- "$1" "$2" || { show; return 1; }; }
hasx() { grep -qxE -- "$1" "$2" || { show; return 1; }; }
rc_is() { [ "$RC" = "$1" ] || { show; echo "exit $RC, want $1"; return 1; }; }
modrev() { ectl get "$1" -w json | python3 -c 'import json,sys; print(json.load(sys.stdin)["kvs"][0]["mod_revision"])'; }
stored_labels() { # KEY: the stored metadata.labels as k=v,k=v (sorted)
	ectl get "$1" --print-value-only |
		python3 -c 'import json,sys; l=json.load(sys.stdin)["metadata"].get("labels",{}); print(",".join(f"{k}={v}" for k,v in sorted(l.items())))'
}

# ---- the cluster: three workloads, two tiers, Calico and Kubernetes policies ------------------
cat >cluster.yaml <<'EOF'
apiVersion: v1
kind: Namespace
metadata:
  name: default
  labels:
    env: lab
---
apiVersion: projectcalico.org/v3
kind: WorkloadEndpoint
metadata:
  name: h1-cni-000000000001-eth0
  namespace: default
  labels: {app: web}
spec:
  orchestrator: cni
  node: h1
  containerID: "000000000001"
  pod: h1-w1
  endpoint: eth0
  interfaceName: tby00000000001
  ipNetworks: [198.19.0.2/32]
---
apiVersion: projectcalico.org/v3
kind: WorkloadEndpoint
metadata:
  name: h1-cni-000000000002-eth0
  namespace: default
  labels: {app: db}
spec:
  orchestrator: cni
  node: h1
  containerID: "000000000002"
  pod: h1-w2
  endpoint: eth0
  interfaceName: tby00000000002
  ipNetworks: [198.19.0.3/32]
---
apiVersion: projectcalico.org/v3
kind: WorkloadEndpoint
metadata:
  name: h2-cni-000000000003-eth0
  namespace: default
  labels: {app: client}
spec:
  orchestrator: cni
  node: h2
  containerID: "000000000003"
  pod: h2-w3
  endpoint: eth0
  interfaceName: tby00000000003
  ipNetworks: [198.19.0.66/32]
---
apiVersion: projectcalico.org/v3
kind: Tier
metadata:
  name: security
spec:
  order: 100
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata:
  name: security.deny-client-to-db
spec:
  tier: security
  order: 10
  selector: app == 'db'
  types: [Ingress]
  ingress:
  - action: Deny
    protocol: TCP
    source: {selector: app == 'client'}
  - action: Pass
---
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata:
  name: web
  namespace: default
spec:
  order: 100
  selector: app == 'web'
  types: [Ingress, Egress]
  ingress:
  - action: Allow
    protocol: TCP
    source: {selector: app == 'client'}
    destination: {ports: [80]}
  egress:
  - action: Allow
    protocol: TCP
    destination: {selector: app == 'db', ports: [5432]}
---
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata:
  name: monitor
  namespace: default
spec:
  order: 10
  selector: has(app)
  types: [Ingress]
  ingress:
  - action: Allow
    protocol: TCP
    source: {nets: [198.18.5.0/24]}
    destination: {ports: [9100]}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: db
  namespace: default
spec:
  podSelector:
    matchLabels: {app: db}
  policyTypes: [Ingress]
  ingress:
  - from:
    - podSelector:
        matchLabels: {app: web}
    ports:
    - {protocol: TCP, port: 5432}
EOF
run "$CTL" apply -f cluster.yaml
check "apply the cluster (3 workloads, 2 tiers, Calico and Kubernetes policies)" rc_is 0

# ---- label ------------------------------------------------------------------------------------
WEB_KEY=/tabby/v1/workloadendpoints/default/h1-cni-000000000001-eth0
rev0=$(modrev "$WEB_KEY")
run "$CTL" label wep h1-cni-000000000001-eth0 team=blue tier=frontend
check "label sets two labels" rc_is 0
check "it says so per label" has "Successfully set label team=blue on WorkloadEndpoint default/h1-cni-000000000001-eth0" out
check "both labels are stored, the old one kept" [ "$(stored_labels "$WEB_KEY")" = "app=web,team=blue,tier=frontend" ]
check "one write (mod_revision moved once)" [ "$(modrev "$WEB_KEY")" -gt "$rev0" ]
rev1=$(modrev "$WEB_KEY")
run "$CTL" label wep h1-cni-000000000001-eth0 team=red
check "an existing key without --overwrite fails (exit 1)" rc_is 1
check "... naming the key and its value" has 'already has label "team" (value "blue"); use --overwrite' err
check "... and writes nothing" [ "$(modrev "$WEB_KEY")" = "$rev1" ]
run "$CTL" label wep h1-cni-000000000001-eth0 team=red --overwrite
check "--overwrite replaces it" rc_is 0
check "... in the store" [ "$(stored_labels "$WEB_KEY")" = "app=web,team=red,tier=frontend" ]
run "$CTL" label wep h1-cni-000000000001-eth0 team- tier-
check "key- removes labels" rc_is 0
check "... from the store" [ "$(stored_labels "$WEB_KEY")" = "app=web" ]
check "... and says so" has "Successfully removed label team from WorkloadEndpoint" out
run "$CTL" label wep h1-cni-000000000001-eth0 team-
check "removing an absent key fails" rc_is 1
check "... with a message" has 'has no label "team" to remove' err
run "$CTL" label wep h1-cni-000000000001-eth0 'bad key=x'
check "an invalid key is refused" rc_is 1
run "$CTL" label wep h1-cni-000000000001-eth0 ok=-bad-
check "an invalid value is refused" rc_is 1
run "$CTL" label wep nosuch -n default a=b
check "a missing resource fails" rc_is 1
check "... and the output" has "does not exist" err
run "$CTL" label namespace default tenant=acme
check "label a cluster-scoped resource (Namespace)" rc_is 0
check "... stored" [ "$(stored_labels /tabby/v1/namespaces/default)" = "env=lab,tenant=acme" ]
run "$CTL" get wep h1-cni-000000000001-eth0 -o yaml
check "get shows the endpoint with its labels and the spec kept" has "interfaceName: tby00000000001" out
run "$CTL" get wep -o wide
check "get wep -o wide adds the pod and the labels" hasx 'h1-cni-000000000001-eth0 +h1 +198\.19\.0\.2/32 +tby00000000001 +h1-w1 +app=web' out
check "... with its header" hasx 'WORKLOAD +NODE +NETWORKS +INTERFACE +POD +LABELS +PROFILES' out

# ---- selector test ----------------------------------------------------------------------------
run "$CTL" selector test "app == 'web' && !has(debug)" app=web tier=frontend
check "selector test: a match prints true, exit 0" rc_is 0
check "... and the output" hasx true out
run "$CTL" selector test "app in {'db', 'cache'}" app=web
check "selector test: no match prints false, exit 1" rc_is 1
check "... and the output" hasx false out
run "$CTL" selector test "app != 'web'"
check "selector test: != matches a subject without the label" rc_is 0
check "... and the output" hasx true out
run "$CTL" selector test "app == 'web' && (has(x) || y == 'z'" app=web
check "selector test: a parse error exits 2" rc_is 2
check "... with the column of the problem" hasx "tabbyctl: selector:1:36: expected '\)' \(to close '\(' at column 17\)" err
run "$CTL" selector test
check "selector test: a usage error exits 2 too (grep's convention)" rc_is 2
run "$CTL" selector test "app = 'web'" app=web
check "selector test: '=' is refused at its column" rc_is 2
check "... and the output" hasx "tabbyctl: selector:1:5: expected '=='" err

# ---- a bad selector in a manifest: file:line:col points into the selector ---------------------
cat >bad.yaml <<'EOF'
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata:
  name: bad
  namespace: default
spec:
  selector: app == 'web' && role = 'x'
EOF
run "$CTL" apply -f bad.yaml
check "apply refuses a bad selector (exit 1)" rc_is 1
check "... at file:line:col of the token, with the field" hasx "tabbyctl: bad.yaml:7:34: spec.selector: invalid selector \"app == 'web' && role = 'x'\": expected '=='" err

# ---- policy explain ---------------------------------------------------------------------------
run "$CTL" policy explain default/h1-w1
check "explain by pod name" rc_is 0
check "... names the endpoint" has "Workload default/h1-cni-000000000001-eth0 (pod h1-w1) on node h1, interface tby00000000001" out
# ingress of web: the default tier only, monitor (order 10) before web (order 100)
python3 - "$T_TMP/out" >"$T_TMP/order" <<'EOF'
import sys
sec = None
for line in open(sys.argv[1]):
    if line.startswith("Ingress"): sec = "in"
    elif line.startswith("Egress"): sec = "eg"
    elif sec and line.startswith("  ") and not line.startswith("  TIER") and len(line.split()) == 4:
        print(sec, *line.split())
EOF
check "web: ingress monitor (10) then web (100), egress web only" diff -u - "$T_TMP/order" <<'EOF'
in default 10 default/monitor Ingress
in default 100 default/web Ingress,Egress
eg default 100 default/web Ingress,Egress
EOF

run "$CTL" policy explain h1-cni-000000000002-eth0 -n default -o json
check "explain -o json by endpoint name and -n" rc_is 0
check "db ingress: tier security first, then the default tier by order" python3 -c '
import json,sys
d = json.load(open(sys.argv[1]))
got = [(p["tier"], p["order"], p["name"]) for p in d["ingress"]["policies"]]
want = [("security", 10, "security.deny-client-to-db"), ("default", 10, "default/monitor"),
        ("default", 1000, "default/knp.default.db")]
sys.exit(0 if got == want else print(got) or 1)' "$T_TMP/out"
check "db egress: no policy (open)" python3 -c '
import json,sys
d = json.load(open(sys.argv[1]))["egress"]
sys.exit(not (d["hasPolicy"] is False and d["policies"] == [] and d["end"] == "allow"))' "$T_TMP/out"

# denied: client -> db:5432, by the security tier's Deny rule
run "$CTL" policy explain default/h1-w2 --from 198.19.0.66 --proto tcp --port 5432
check "explain a denied flow" rc_is 0
check "... verdict Deny" hasx "  verdict: Deny" out
check "... by rule 0 of the security tier's policy" hasx "  decided by: ingress rule 0 \(Deny\) of policy security.deny-client-to-db in tier security" out
check "... and the client's side (no egress policy) allows it" has "the other end, default/h2-cni-000000000003-eth0 (egress): Allow by no policy applies" out

# allowed: web -> db:5432: Pass out of the security tier, then the Kubernetes policy's rule
run "$CTL" policy explain default/h1-w2 --from 198.19.0.2 --port 5432 -o json
check "explain an allowed flow (-o json)" rc_is 0
check "... Allow by rule 0 of knp.default.db, web's egress rule 0 allows its side" python3 -c '
import json,sys
d = json.load(open(sys.argv[1]))
v, p = d["verdict"], d["peerVerdict"]
ok = (v["action"] == "Allow" and v["reason"] == "rule" and v["policy"] == "default/knp.default.db"
      and v["tier"] == "default" and v["rule"] == 0 and v["direction"] == "ingress"
      and d["flow"] == {"direction": "ingress", "protocol": "tcp", "source": "198.19.0.2",
                        "destination": "198.19.0.3", "sourcePort": 49152, "destinationPort": 5432}
      and p["action"] == "Allow" and p["policy"] == "default/web" and p["rule"] == 0
      and p["direction"] == "egress" and d["endToEnd"] == "Allow")
sys.exit(0 if ok else print(json.dumps(d, indent=1)) or 1)' "$T_TMP/out"

# denied by the end of the default tier: client -> web:8080 (web allows 80 only)
run "$CTL" policy explain default/h1-w1 --from 198.19.0.66 --port 8080
check "a flow no rule matches is denied at the end of the tier" hasx "  decided by: end of tier default: no rule of its policies matched" out
run "$CTL" policy explain default/h1-w1 --from 198.19.0.66 --port 80
check "... while port 80 is allowed by web's rule 0" hasx "  decided by: ingress rule 0 \(Allow\) of policy default/web in tier default" out
# egress of web to the client: denied by web's egress (only db:5432)
run "$CTL" policy explain default/h1-w1 --to 198.19.0.66 --port 80
check "egress of web to the client is denied" hasx "  verdict: Deny" out
check "... end to end too" hasx "  end to end: Deny" out

# errors
run "$CTL" policy explain default/nosuch
check "an unknown workload fails" rc_is 1
check "... and the output" has 'no WorkloadEndpoint or pod "nosuch" in namespace default' err
run "$CTL" policy explain default/h1-w1 --from 198.19.0.66
check "a tcp flow without --port is refused" rc_is 1
run "$CTL" policy explain default/h1-w1 --from 198.19.0.66 --to 198.19.0.3 --port 1
check "--from and --to together are refused" rc_is 1

# the label change reaches explain: drop app=client from the client, and db's Deny no longer fires
run "$CTL" label wep h2-cni-000000000003-eth0 app=other --overwrite
run "$CTL" policy explain default/h1-w2 --from 198.19.0.66 --port 5432
check "after relabelling the client, the security tier passes and the default tier denies" hasx "  decided by: end of tier default: no rule of its policies matched" out

# ---- the example policies: `policy explain` agrees with configs/examples/expected-policy.txt ---
# A fresh set of endpoints shaped like the lab's (2 hosts x 3 workloads, labels by position:
# w1 client, w2 web, w3 db, as lab/lib/policy.sh gives them),
# the example policies in both forms, and every flow of the expected list judged end to end
# (egress of the source on its host, ingress of the destination on its).
run "$CTL" delete -f cluster.yaml
check "delete the small cluster" rc_is 0
python3 - >lab-weps.yaml <<'EOF'
apps = {1: "client", 2: "web", 3: "db"}
for n in (1, 2):
    for m in (1, 2, 3):
        cid = f"{n:06d}{m:06d}"
        print(f"""---
apiVersion: projectcalico.org/v3
kind: WorkloadEndpoint
metadata:
  name: h{n}-cni-{cid}-eth0
  namespace: default
  labels: {{app: {apps[m]}, lab-host: h{n}}}
spec:
  orchestrator: cni
  node: h{n}
  containerID: "{cid}"
  pod: h{n}-w{m}
  endpoint: eth0
  interfaceName: tby{n}{m:010d}
  ipNetworks: [198.19.{n - 1}.{m + 1}/32]""")
EOF
run "$CTL" apply -f lab-weps.yaml
check "apply 6 lab-shaped endpoints" rc_is 0
for f in policy-calico.yaml policy-kubernetes.yaml; do
	run "$CTL" apply -f "$T_SRC/configs/examples/$f"
	check "apply configs/examples/$f" rc_is 0
done
flows=0
bad=0
while read -r src dst port want _; do
	case "$src" in '' | '#'*) continue ;; esac
	n=${dst#h}; n=${n%%-*}; m=${dst##*-w}
	ip="198.19.$((n - 1)).$((m + 1))"
	got=$("$CTL" policy explain "default/$src" --to "$ip" --port "$port" -o json |
		python3 -c 'import json,sys; print(json.load(sys.stdin)["endToEnd"])')
	case "$want" in connect) w=Allow ;; *) w=Deny ;; esac
	flows=$((flows + 1))
	[ "$got" = "$w" ] || { bad=$((bad + 1)); echo "# $src -> $dst:$port: explain says $got, expected-policy.txt says $want"; }
done <"$T_SRC/configs/examples/expected-policy.txt"
check "expected-policy.txt has flows ($flows)" [ "$flows" -ge 10 ]
check "explain agrees with all $flows flows of expected-policy.txt" [ "$bad" = 0 ]
run "$CTL" policy explain default/h1-w1 --to 198.19.1.4 --port 5432
check "client -> db is denied by the security tier on the db's host" has "the other end, default/h2-cni-000002000003-eth0 (ingress): Deny by ingress rule 0 (Deny) of policy security.deny-client-to-db in tier security" out

bad=0
for n in 1 2; do for m in 1 2 3; do for n2 in 1 2; do for m2 in 1 2 3; do
	[ "$n$m" = "$n2$m2" ] && continue
	got=$("$CTL" policy explain "default/h$n-w$m" --to "198.19.$((n2 - 1)).$((m2 + 1))" --proto icmp -o json |
		python3 -c 'import json,sys; print(json.load(sys.stdin)["endToEnd"])')
	[ "$got" = Allow ] || { bad=$((bad + 1)); echo "# ping h$n-w$m -> h$n2-w$m2: $got"; }
done; done; done; done
check "with the examples, ping (ICMP echo) is allowed between every pair (the lab's check)" [ "$bad" = 0 ]

run "$CTL" delete globalnetworkpolicy security.deny-client-to-db
run "$CTL" policy explain default/h1-w1 --to 198.19.1.4 --port 5432 -o json
check "without the tier's Deny, the Kubernetes db policy (a later tier) lets the client in (its rule 1: one rule per peer)" python3 -c '
import json,sys
d = json.load(open(sys.argv[1]))
p = d["peerVerdict"]
sys.exit(0 if (d["endToEnd"] == "Allow" and p["policy"] == "default/knp.default.db" and p["rule"] == 1) else print(json.dumps(d, indent=1)) or 1)' "$T_TMP/out"


summary
