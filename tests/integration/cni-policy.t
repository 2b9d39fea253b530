#!/bin/bash
# Named ports and service accounts from the CNI config reach policy, with real traffic: workloads
# attached by the real CNI plugin (args.cni.ports, args.cni.serviceAccount, args.cni.labels) on a
# host run by tabby-felix; a Kubernetes NetworkPolicy naming the port "http" opens exactly that
# port, and a Calico rule with serviceAccounts {names, selector} admits exactly the workloads
# running as that service account. The node name comes from the file felix writes
# (nodenameFile), not from the CNI config.
. "$(dirname "$0")/policy-setup.sh"
PLUGIN=$T_BUILD/cni/tabby
[ -x "$PLUGIN" ] && [ -x "$T_BUILD/cni/tabby-ipam" ] || fail "plugins not built in $T_BUILD/cni"

policy_setup 198.18.0.2/24
ectl put /tabby/v1/ippools/default-ipv4-ippool \
	'{"apiVersion":"projectcalico.org/v3","kind":"IPPool","metadata":{"name":"default-ipv4-ippool"},"spec":{"cidr":"198.19.0.0/16","blockSize":26}}' >/dev/null

cat >"$T_TMP/felix.yaml" <<EOC
nodeName: h1
ipv4Address: 198.18.0.11/24
datastoreEndpoints: "$TABBY_TEST_ETCD_UNIX"
birdConfigFile: $T_TMP/bird.conf
birdSocket: $T_TMP/bird.ctl
nodenameFile: $T_TMP/state/nodename
resyncIntervalSecs: 30
logSeverityScreen: Info
EOC
TABBY_DATASTORE_ENDPOINTS=$TABBY_TEST_ETCD_UNIX ip netns exec "$H" "$FELIX" --config "$T_TMP/felix.yaml" >>"$T_TMP/felix.log" 2>&1 &
track_pid $!
trap 'rc=$?; [ $rc = 0 ] || { echo "--- felix.log"; tail -30 "$T_TMP/felix.log"; echo "--- plugin.log"; tail -30 "$T_TMP/plugin.log"; }; t_cleanup' EXIT
check "felix writes its node name to nodenameFile" wait_for 10 bash -c "[ \"\$(cat $T_TMP/state/nodename 2>/dev/null)\" = h1 ]"
check "felix registers Node h1" wait_for 10 bash -c "[ -n \"\$(ETCDCTL_API=3 etcdctl --endpoints $TABBY_DATASTORE_ENDPOINTS get --keys-only /tabby/v1/nodes/h1)\" ]"

cat <<EOF | apply
apiVersion: v1
kind: Namespace
metadata: {name: prod}
EOF

# add NAME ARGS-CNI-JSON: a workload attached by the CNI plugin in namespace prod; sets WIP/WNS
add() {
	local name=$1 args=$2 out
	ns_add "$name"; WNS=$NS_LAST
	out=$(printf '{"cniVersion":"1.0.0","name":"polnet","type":"tabby","nodename_file":"%s","datastore_endpoints":"%s","ipam":{"type":"tabby-ipam"},"args":{"cni":%s}}' \
		"$T_TMP/state/nodename" "$TABBY_TEST_ETCD_UNIX" "$args" |
		nsenter --net="/run/netns/$H" env -i PATH="$PATH" CNI_COMMAND=ADD CNI_CONTAINERID="$name" \
			CNI_NETNS="/run/netns/$WNS" CNI_IFNAME=eth0 CNI_PATH="$T_BUILD/cni" \
			CNI_ARGS="K8S_POD_NAMESPACE=prod;K8S_POD_NAME=$name" "$PLUGIN" 2>>"$T_TMP/plugin.log") ||
		fail "CNI ADD $name: $out"
	WIP=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["ips"][0]["address"].split("/")[0])' "$out")
}
add web '{"labels":{"app":"web"},"ports":[{"name":"http","protocol":"TCP","port":8080},{"name":"metrics","port":9090}]}'
WEB=$WIP; WEB_NS=$WNS
add front '{"labels":{"app":"client"},"serviceAccount":"frontend"}'
FRONT_NS=$WNS
add back '{"labels":{"app":"client"},"serviceAccount":"backend"}'
BACK_NS=$WNS

wep=$(ectl get --print-value-only /tabby/v1/workloadendpoints/prod/h1-cni-web-eth0)
check "web's WorkloadEndpoint has the named ports" python3 -c '
import json,sys; s=json.loads(sys.argv[1])["spec"]
assert s["ports"] == [{"name":"http","protocol":"TCP","port":8080},{"name":"metrics","protocol":"TCP","port":9090}], s' "$wep"
wep=$(ectl get --print-value-only /tabby/v1/workloadendpoints/prod/h1-cni-front-eth0)
check "front's WorkloadEndpoint: serviceAccountName frontend and the label projectcalico.org/serviceaccount" python3 -c '
import json,sys; d=json.loads(sys.argv[1]); m=d["metadata"]
assert m["labels"] == {"app":"client","projectcalico.org/serviceaccount":"frontend"}, m
assert d["spec"]["serviceAccountName"] == "frontend", d' "$wep"

# TCP echo servers and a 1 s connect probe
cat >"$T_TMP/srv.py" <<'EOP'
import socket, sys, threading
def serve(port):
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((sys.argv[1], port)); s.listen(16)
    while True:
        c, _ = s.accept(); c.sendall(c.recv(1)); c.close()
for p in sys.argv[2:]: threading.Thread(target=serve, args=(int(p),), daemon=True).start()
print("ready", flush=True); threading.Event().wait()
EOP
cat >"$T_TMP/conn.py" <<'EOP'
import socket, sys
s = socket.socket(); s.settimeout(1.0)
try:
    s.connect((sys.argv[1], int(sys.argv[2]))); s.sendall(b"x"); sys.exit(0 if s.recv(1) == b"x" else 1)
except OSError: sys.exit(1)
EOP
ip netns exec "$WEB_NS" python3 "$T_TMP/srv.py" "$WEB" 8080 9090 >"$T_TMP/srv.log" 2>&1 &
track_pid $!
wait_for 5 grep -q ready "$T_TMP/srv.log" || fail "server did not start"
can() { ip netns exec "$1" python3 "$T_TMP/conn.py" "$2" "$3"; }
cannot() { ! can "$@"; }

check "no policy: front -> web:8080 open" wait_for 10 can "$FRONT_NS" "$WEB" 8080
check "no policy: back -> web:9090 open" can "$BACK_NS" "$WEB" 9090

# --- a Kubernetes NetworkPolicy naming the port "http"
cat <<EOF | apply
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: web-http, namespace: prod}
spec:
  podSelector: {matchLabels: {app: web}}
  policyTypes: [Ingress]
  ingress:
  - from: [{podSelector: {matchLabels: {app: client}}}]
    ports: [{protocol: TCP, port: http}]
EOF
check "k8s NetworkPolicy, port http: front -> web:9090 (metrics) denied" wait_for 10 cannot "$FRONT_NS" "$WEB" 9090
check "... front -> web:8080 (the named port http) allowed" can "$FRONT_NS" "$WEB" 8080
check "... back -> web:8080 allowed" can "$BACK_NS" "$WEB" 8080
"$CTL" --datastore-endpoints "$TABBY_DATASTORE_ENDPOINTS" delete kubernetesnetworkpolicy web-http -n prod >/dev/null ||
	fail "tabbyctl delete kubernetesnetworkpolicy web-http"
check "without the policy: front -> web:9090 open again" wait_for 10 can "$FRONT_NS" "$WEB" 9090

# --- a Calico rule with serviceAccounts
cat <<EOF | apply
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: web-sa, namespace: prod}
spec:
  selector: app == 'web'
  ingress:
  - action: Allow
    protocol: TCP
    source: {serviceAccounts: {names: [frontend]}}
    destination: {ports: [metrics]}
EOF
check "serviceAccounts names [frontend]: back (backend) -> web:9090 denied" wait_for 10 cannot "$BACK_NS" "$WEB" 9090
check "... front (frontend) -> web:9090 allowed" can "$FRONT_NS" "$WEB" 9090
check "... front -> web:8080 denied (only the named port metrics)" cannot "$FRONT_NS" "$WEB" 8080

summary
