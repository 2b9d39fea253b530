# Shared body of policy-nft.t and policy-ipt.t: Calico policy enforced by tabby-felix with REAL
# traffic between workload namespaces on one host (forward hook), from the ToR, and to the host.
# Source it with BACKEND=nftables|iptables set.
. "$(dirname "${BASH_SOURCE[0]}")/policy-setup.sh"

# The tor also owns 198.18.0.2 (ipBlock tests).
policy_setup 198.18.0.2/24

# Foreign nft objects that felix must never touch.
ip netns exec "$H" nft -f - <<'EON'
table inet filter {
	chain input { type filter hook input priority 10; policy accept; tcp dport 6553 counter drop comment "foreign"; }
}
table ip foreign {
	chain c {
		counter comment "foreign2"
	}
}
EON

ectl put /tabby/v1/ippools/default-ipv4-ippool \
	'{"apiVersion":"projectcalico.org/v3","kind":"IPPool","metadata":{"name":"default-ipv4-ippool"},"spec":{"cidr":"198.19.0.0/16","blockSize":26}}' >/dev/null

STATUS=$T_TMP/felix-status.json
cat >"$T_TMP/felix.yaml" <<EOC
nodeName: h1
ipv4Address: 198.18.0.11/24
datastoreEndpoints: "$TABBY_TEST_ETCD_UNIX"
birdConfigFile: $T_TMP/bird.conf
birdSocket: $T_TMP/bird.ctl
resyncIntervalSecs: 30
policyDataplane: $BACKEND
logSeverityScreen: Info
EOC
start_felix() {
	TABBY_DATASTORE_ENDPOINTS=$TABBY_TEST_ETCD_UNIX ip netns exec "$H" "$FELIX" --config "$T_TMP/felix.yaml" >>"$T_TMP/felix.log" 2>&1 &
	FELIX_PID=$!
	track_pid "$FELIX_PID"
}
trap 'rc=$?; [ $rc = 0 ] || { echo "--- felix.log"; tail -40 "$T_TMP/felix.log"; }; t_cleanup' EXIT

# TCP echo server on IP:PORTS in a namespace; conn.py: connect (optionally from SRC) in 1 s.
cat >"$T_TMP/srv.py" <<'EOP'
import socket, sys, threading
ip = sys.argv[1]
def serve(port):
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((ip, port)); s.listen(64)
    while True:
        c, _ = s.accept()
        def echo(c=c):
            try:
                while True:
                    d = c.recv(100)
                    if not d: break
                    c.sendall(d)
            except OSError: pass
            c.close()
        threading.Thread(target=echo, daemon=True).start()
ts = [threading.Thread(target=serve, args=(int(p),), daemon=True) for p in sys.argv[2:]]
[t.start() for t in ts]
print("ready", flush=True)
[t.join() for t in ts]
EOP
cat >"$T_TMP/conn.py" <<'EOP'
import socket, sys
dst, port = sys.argv[1], int(sys.argv[2])
s = socket.socket(); s.settimeout(1.0)
if len(sys.argv) > 3: s.bind((sys.argv[3], 0))
try:
    s.connect((dst, port)); s.sendall(b"x"); sys.exit(0 if s.recv(1) == b"x" else 1)
except OSError: sys.exit(1)
EOP
serve() { # NS IP PORTS...
	local ns=$1; shift
	ip netns exec "$ns" python3 "$T_TMP/srv.py" "$@" >"$T_TMP/srv-$1.log" 2>&1 &
	track_pid $!
	wait_for 5 grep -q ready "$T_TMP/srv-$1.log"
}
can() { ip netns exec "$1" python3 "$T_TMP/conn.py" "$2" "$3" ${4:+"$4"}; }
cannot() { ! can "$@"; }
# Wait until a flow is (not) possible: policy programming is asynchronous.
until_can() { wait_for 10 can "$@"; }
until_cannot() { wait_for 10 cannot "$@"; }

start_felix
check "felix claims a block" wait_for 20 bash -c "ETCDCTL_API=3 etcdctl --endpoints $TABBY_DATASTORE_ENDPOINTS get --prefix /tabby/v1/ipam/blocks/ | grep -q '\"host:h1\"'"
BK=$(ectl get --prefix /tabby/v1/ipam/blocks/ | grep -B1 '"host:h1"' | grep '^/tabby' | head -1)
BLOCK=$(basename "$BK" | sed 's/-\([0-9]*\)$/\/\1/')
BASE=${BLOCK%/*}; P3=${BASE%.*}; B4=${BASE##*.}

N=0
# workload NAME NAMESPACE LABELS-JSON [PORTS-JSON]: by hand, as felix.t does; sets WIP/WIF/WNS.
workload() {
	local name=$1 kns=$2 labels=$3 ports=${4:-[]}
	N=$((N + 1))
	local ip=$P3.$((B4 + N + 1)) ifn
	ifn=tby$(printf '%s' "$kns.$name" | sha1sum | cut -c1-11)
	ns_add "$name"; local w=$NS_LAST
	ip -n "$H" link add "$ifn" type veth peer name eth0 netns "$w"
	ip -n "$H" link set "$ifn" address ee:ee:ee:ee:ee:ee up
	ip -n "$w" addr add "$ip/32" dev eth0
	ip -n "$w" link set eth0 up
	ip -n "$w" link set lo up
	ip -n "$w" route add 169.254.1.1/32 dev eth0 scope link
	ip -n "$w" route add default via 169.254.1.1 dev eth0
	local mac cid
	mac=$(ip -n "$w" -o link show eth0 | sed -n 's/.*link\/ether \([0-9a-f:]*\).*/\1/p')
	cid=$(printf '%s' "$name" | sha1sum | cut -c1-12)
	ectl put "/tabby/v1/workloadendpoints/$kns/h1-cni-$cid-eth0" '{"apiVersion":"projectcalico.org/v3","kind":"WorkloadEndpoint","metadata":{"name":"h1-cni-'$cid'-eth0","namespace":"'$kns'","labels":'"$labels"'},"spec":{"orchestrator":"cni","node":"h1","containerID":"'$cid'","endpoint":"eth0","interfaceName":"'$ifn'","mac":"'$mac'","ipNetworks":["'$ip'/32"],"ports":'"$ports"'}}' >/dev/null
	WIP=$ip; WIF=$ifn; WNS=$w
	wait_for 10 bash -c "ip -n $H route show $ip/32 | grep -q proto"
}
cat <<EOF | apply
apiVersion: v1
kind: Namespace
metadata: {name: dev, labels: {team: dev}}
---
apiVersion: v1
kind: Namespace
metadata: {name: prod, labels: {team: prod}}
EOF
workload web prod '{"app":"web"}' '[{"name":"http-alt","protocol":"TCP","port":8080}]'; WEB=$WIP; WEB_NS=$WNS
workload client prod '{"app":"client"}'; CLI=$WIP; CLI_NS=$WNS; CLI_IF=$WIF
workload other dev '{"app":"client"}'; OTH_NS=$WNS
workload open default '{"app":"open"}'; OPEN=$WIP; OPEN_NS=$WNS
serve "$WEB_NS" "$WEB" 80 8080 5001 5002 5003 5004 9090
serve "$OPEN_NS" "$OPEN" 80
serve "$H" 198.18.0.11 22 7777 9999

check "no policy: client -> web:80 open" until_can "$CLI_NS" "$WEB" 80
check "no policy: other -> web:9090 open" can "$OTH_NS" "$WEB" 9090

cat <<EOF | apply
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: web, namespace: prod}
spec:
  selector: app == 'web'
  ingress:
  - action: Allow
    protocol: TCP
    source: {selector: app == 'client'}
    destination: {ports: [80, http-alt]}
  - action: Allow
    protocol: TCP
    source: {namespaceSelector: team == 'dev'}
    destination: {ports: ["5001:5003"]}
EOF
check "default deny for the selected pod: client -> web:9090" until_cannot "$CLI_NS" "$WEB" 9090
check "policy: client -> web:80 allowed" can "$CLI_NS" "$WEB" 80
check "named port http-alt: client -> web:8080 allowed" can "$CLI_NS" "$WEB" 8080
check "named port: other (dev) -> web:8080 denied" cannot "$OTH_NS" "$WEB" 8080
check "namespaceSelector + port range: other (dev) -> web:5002 allowed" can "$OTH_NS" "$WEB" 5002
check "port range upper bound: other -> web:5003 allowed" can "$OTH_NS" "$WEB" 5003
check "port range: other -> web:5004 denied" cannot "$OTH_NS" "$WEB" 5004
check "namespaceSelector: client (prod) -> web:5001 denied" cannot "$CLI_NS" "$WEB" 5001
check "selector is namespace-scoped: other (dev, app=client) -> web:80 denied" cannot "$OTH_NS" "$WEB" 80
check "unselected pod is open: other -> open:80" can "$OTH_NS" "$OPEN" 80

cat <<EOF | apply
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: open-ipblock, namespace: default}
spec:
  podSelector: {matchLabels: {app: open}}
  policyTypes: [Ingress]
  ingress:
  - from:
    - ipBlock: {cidr: 198.18.0.0/24, except: [198.18.0.1/32]}
    ports:
    - {protocol: TCP, port: 80}
  - from:
    - ipBlock: {cidr: 198.19.0.0/16}
    ports:
    - {protocol: TCP, port: 5000, endPort: 5100}
EOF
check "k8s policy selects open: other -> open:80 denied" until_cannot "$OTH_NS" "$OPEN" 80
check "ipBlock: tor 198.18.0.2 -> open:80 allowed" can "$TOR" "$OPEN" 80 198.18.0.2
check "ipBlock except: tor 198.18.0.1 -> open:80 denied" cannot "$TOR" "$OPEN" 80 198.18.0.1

cat <<EOF | apply
apiVersion: projectcalico.org/v3
kind: Tier
metadata: {name: security}
spec: {order: 10}
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: security.edge}
spec:
  tier: security
  order: 1
  selector: all()
  types: [Ingress]
  ingress:
  - action: Log
  - action: Deny
    source: {nets: [198.18.0.2/32]}
  - action: Pass
EOF
check "tier security Deny beats the default tier's ipBlock allow" until_cannot "$TOR" "$OPEN" 80 198.18.0.2
check "Log continues + Pass: client -> web:80 still allowed by the default tier" can "$CLI_NS" "$WEB" 80
check "Pass: the default tier still denies client -> web:9090" cannot "$CLI_NS" "$WEB" 9090

# Anti-spoofing: the client sends from an address that is not its own. Without the check the
# ping would work: the host routes the spoofed address back to the client's veth.
SPOOF=198.19.250.1
ip -n "$CLI_NS" addr add "$SPOOF/32" dev eth0
ip -n "$H" route add "$SPOOF/32" dev "$CLI_IF" scope link
check "anti-spoofing control: ping from the client's own address works" bash -c "ip netns exec $CLI_NS ping -c 1 -W 1 -I $CLI 198.18.0.1 >/dev/null"
check "anti-spoofing: ping from $SPOOF is dropped" bash -c "! ip netns exec $CLI_NS ping -c 2 -W 1 -I $SPOOF 198.18.0.1 >/dev/null"

# Workload to host: defaultEndpointToHostAction.
check "workload -> host dropped by default (Drop)" cannot "$CLI_NS" 198.18.0.11 9999
cat <<EOF | apply
apiVersion: projectcalico.org/v3
kind: FelixConfiguration
metadata: {name: default}
spec: {defaultEndpointToHostAction: Accept}
EOF
check "workload -> host accepted with Accept" until_can "$CLI_NS" 198.18.0.11 9999

# Host endpoint with a deny-all policy: failsafe 22 stays reachable, 7777 is blocked.
check "host control: tor -> host:7777 reachable" can "$TOR" 198.18.0.11 7777
cat <<EOF | apply
apiVersion: projectcalico.org/v3
kind: HostEndpoint
metadata: {name: h1-eth0, labels: {role: host}}
spec: {node: h1, interfaceName: eth0, expectedIPs: [198.18.0.11]}
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: host-deny}
spec:
  selector: has(role)
  types: [Ingress]
  ingress: [{action: Deny}]
EOF
check "host endpoint deny-all: tor -> host:7777 blocked" until_cannot "$TOR" 198.18.0.11 7777
check "failsafe: tor -> host:22 reachable" can "$TOR" 198.18.0.11 22

# An established connection survives a policy change that forbids new ones.
cat >"$T_TMP/long.py" <<'EOP'
import socket, sys, os, time
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=2)
s.sendall(b"a"); assert s.recv(1) == b"a"
open(sys.argv[3], "w").write("up")
while not os.path.exists(sys.argv[3] + ".go"): time.sleep(0.05)
s.settimeout(3); s.sendall(b"b"); sys.exit(0 if s.recv(1) == b"b" else 1)
EOP
ip netns exec "$CLI_NS" python3 "$T_TMP/long.py" "$WEB" 8080 "$T_TMP/long" &
LONG=$!; track_pid $LONG
wait_for 5 test -f "$T_TMP/long"
cat <<EOF | apply
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: web, namespace: prod}
spec:
  selector: app == 'web'
  ingress:
  - action: Allow
    protocol: TCP
    source: {selector: app == 'client'}
    destination: {ports: [80]}
EOF
check "after the change a new client -> web:8080 is denied" until_cannot "$CLI_NS" "$WEB" 8080
touch "$T_TMP/long.go"
wait $LONG; rc=$?
check "the established connection to web:8080 survived the change" [ "$rc" = 0 ]

# Restart: enforcement continues while felix is down and after it comes back.
kill -TERM "$FELIX_PID"; wait "$FELIX_PID"
check "felix down: denied flow still denied" cannot "$CLI_NS" "$WEB" 9090
check "felix down: allowed flow still allowed" can "$CLI_NS" "$WEB" 80
mv "$T_TMP/felix.log" "$T_TMP/felix.log.1"
start_felix
check "restarted felix replaced its rules in full" wait_for 20 grep -q "policy applied ($BACKEND, full)" "$T_TMP/felix.log"
check "after restart: denied flow denied" cannot "$CLI_NS" "$WEB" 9090
check "after restart: allowed flow allowed" can "$CLI_NS" "$WEB" 80
check "status file ok" wait_for 5 grep -q '"ok":true' "$STATUS"

# Something the model accepts but the renderer cannot handle (a host endpoint interface name
# with '+', which the model allows and nft/iptables chain names do not): the last good rules
# stay, the status says why and names the resource, a new workload fails closed.
ectl put /tabby/v1/hostendpoints/broken '{"apiVersion":"projectcalico.org/v3","kind":"HostEndpoint","metadata":{"name":"broken","labels":{"role":"host"}},"spec":{"node":"h1","interfaceName":"eth+"}}' >/dev/null
check "status file reports the failure with the policy name" wait_for 10 bash -c "grep -q '\"ok\":false' $STATUS && grep -q 'broken' $STATUS"
check "failure logged with the policy name" grep -q 'policy not applied.*broken' "$T_TMP/felix.log"
check "last good rules kept: client -> web:80 allowed" can "$CLI_NS" "$WEB" 80
check "last good rules kept: client -> web:9090 denied" cannot "$CLI_NS" "$WEB" 9090
workload late default '{"app":"late"}'; LATE=$WIP; LATE_NS=$WNS
serve "$LATE_NS" "$LATE" 80
sleep 1
check "fail closed: a new workload is unreachable while policy is broken" cannot "$CLI_NS" "$LATE" 80
ectl del /tabby/v1/hostendpoints/broken >/dev/null
check "policy fixed: status ok again" wait_for 40 grep -q '"ok":true' "$STATUS"
check "policy fixed: the new (unselected) workload is open" until_can "$CLI_NS" "$LATE" 80

if [ "$BACKEND" = nftables ]; then
	check "our table exists" ip netns exec "$H" nft list table inet tabby >/dev/null
	check "steady-state applies were incremental" grep -q 'policy applied (nftables, incremental)' "$T_TMP/felix.log.1"
else
	check "hook jump inserted exactly once" bash -c "[ \$(ip netns exec $H iptables -S FORWARD | grep -c 'tby-forward') = 1 ]"
	check "tby- chains present" bash -c "ip netns exec $H iptables -S | grep -q '^-N tby-fw-'"
	check "rules tagged with the hash comment" bash -c "ip netns exec $H iptables -S tby-forward | grep -q 'tby:[0-9a-f]\{16\}'"
	check "no nft table of ours with iptables" bash -c "! ip netns exec $H nft list table inet tabby >/dev/null 2>&1"
fi
check "foreign table inet filter survives" bash -c "ip netns exec $H nft list table inet filter | grep -q 'comment \"foreign\"'"
check "foreign table ip foreign survives" bash -c "ip netns exec $H nft list table ip foreign | grep -q foreign2"
summary
