# Shared body of policy-ipv6.t (nftables) and policy-ipv6-ipt.t (iptables), issue 9: Calico
# policy for both families enforced by tabby-felix on REAL IPv6 traffic. One host namespace with
# felix and a private etcd, a tor, and dual-stack workloads wired by hand the way the CNI plugin
# does it (IPV6-CONTRACT.md): IPv4 <ip>/32 and IPv6 2001:db8:19::<n>/128 on eth0, default routes
# via 169.254.1.1 and via fe80::ecee:eeff:feee:eeee (the EUI-64 link-local of the host veth's MAC
# ee:ee:ee:ee:ee:ee); felix programs the host routes <ip>/32 and <v6>/128 dev tbyX. The
# gateway's neighbour entry in the workload is learnt by real neighbour discovery, which the
# policy must let through.
# Source it with BACKEND=nftables|iptables set.
. "$(dirname "${BASH_SOURCE[0]}")/policy-setup.sh"

GW6=fe80::ecee:eeff:feee:eeee
# Fabric: the tor owns 198.18.0.1-2 and 2001:db8:18::1-2, h1 198.18.0.11 and 2001:db8:18::11.
policy_setup 198.18.0.2/24
ip netns exec "$H" sysctl -qw net.ipv6.conf.all.forwarding=1
ip netns exec "$H" sysctl -qw net.ipv6.conf.default.accept_dad=0
ip netns exec "$TOR" sysctl -qw net.ipv6.conf.all.forwarding=1
ip -n "$TOR" addr add 2001:db8:18::1/64 dev th1 nodad
ip -n "$TOR" addr add 2001:db8:18::2/64 dev th1 nodad
ip -n "$H" addr add 2001:db8:18::11/64 dev eth0 nodad
ip -n "$H" -6 route add default via 2001:db8:18::1 dev eth0
ip -n "$TOR" -6 route add 2001:db8:19::/112 via 2001:db8:18::11 dev th1

# IPv6 objects felix does not own and must never touch: a table ip6 of nft, an ip6tables
# chain and FORWARD rule, an inet6 ipset.
ip netns exec "$H" nft -f - <<'EON'
table ip6 foreign6 {
	chain c {
		counter comment "foreign6"
	}
}
EON
ip netns exec "$H" ip6tables -N keep6
ip netns exec "$H" ip6tables -A keep6 -m comment --comment foreign6 -j RETURN
ip netns exec "$H" ip6tables -A FORWARD -p tcp --dport 6553 -m comment --comment foreign6 -j DROP
ip netns exec "$H" ipset create foreign6 hash:net family inet6
ip netns exec "$H" ipset add foreign6 2001:db8:77::/48

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

# TCP echo server on IP:PORTS (either family); conn.py: connect (optionally from SRC) in 1 s.
cat >"$T_TMP/srv.py" <<'EOP'
import socket, sys, threading
ip = sys.argv[1]
fam = socket.AF_INET6 if ":" in ip else socket.AF_INET
def serve(port):
    s = socket.socket(fam); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
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
s = socket.socket(socket.AF_INET6 if ":" in dst else socket.AF_INET); s.settimeout(1.0)
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
until_can() { wait_for 10 can "$@"; }
until_cannot() { wait_for 10 cannot "$@"; }
pings() { ip netns exec "$1" ping -c 1 -W 1 ${3:+-I "$3"} "$2" >/dev/null 2>&1; }
no_pings() { ! ip netns exec "$1" ping -c 2 -W 1 ${3:+-I "$3"} "$2" >/dev/null 2>&1; }

start_felix
check "felix claims a block" wait_for 20 bash -c "ETCDCTL_API=3 etcdctl --endpoints $TABBY_DATASTORE_ENDPOINTS get --prefix /tabby/v1/ipam/blocks/ | grep -q '\"host:h1\"'"
BK=$(ectl get --prefix /tabby/v1/ipam/blocks/ | grep -B1 '"host:h1"' | grep '^/tabby' | head -1)
BLOCK=$(basename "$BK" | sed 's/-\([0-9]*\)$/\/\1/')
BASE=${BLOCK%/*}; P3=${BASE%.*}; B4=${BASE##*.}

N=0
# workload NAME NAMESPACE LABELS-JSON: dual-stack, by hand; sets WIP/WIP6/WIF/WNS.
workload() {
	local name=$1 kns=$2 labels=$3
	N=$((N + 1))
	local ip=$P3.$((B4 + N + 1)) ip6=2001:db8:19::$((N + 1)) ifn w
	ifn=tby$(printf '%s' "$kns.$name" | sha1sum | cut -c1-11)
	ns_add "$name"; w=$NS_LAST
	ip netns exec "$w" sysctl -qw net.ipv6.conf.default.accept_dad=0
	ip -n "$H" link add "$ifn" type veth peer name eth0 netns "$w"
	ip -n "$H" link set "$ifn" address ee:ee:ee:ee:ee:ee
	for s in accept_ra=0 proxy_ndp=1 forwarding=1 accept_dad=0; do
		ip netns exec "$H" sysctl -qw "net.ipv6.conf.$ifn.$s"
	done
	ip -n "$H" link set "$ifn" up
	ip -n "$w" addr add "$ip/32" dev eth0
	ip -n "$w" addr add "$ip6/128" dev eth0 nodad
	ip -n "$w" link set eth0 up
	ip -n "$w" route add 169.254.1.1/32 dev eth0 scope link
	ip -n "$w" route add default via 169.254.1.1 dev eth0
	ip -n "$w" -6 route add default via "$GW6" dev eth0
	local mac cid
	mac=$(ip -n "$w" -o link show eth0 | sed -n 's/.*link\/ether \([0-9a-f:]*\).*/\1/p')
	cid=$(printf '%s' "$name" | sha1sum | cut -c1-12)
	WEP_KEY=/tabby/v1/workloadendpoints/$kns/h1-cni-$cid-eth0
	WEP_JSON='{"apiVersion":"projectcalico.org/v3","kind":"WorkloadEndpoint","metadata":{"name":"h1-cni-'$cid'-eth0","namespace":"'$kns'","labels":'"$labels"'},"spec":{"orchestrator":"cni","node":"h1","containerID":"'$cid'","endpoint":"eth0","interfaceName":"'$ifn'","mac":"'$mac'","ipNetworks":["'$ip'/32","'$ip6'/128"]}}'
	WIP=$ip; WIP6=$ip6; WIF=$ifn; WNS=$w
	if [ -z "${NO_WEP:-}" ]; then
		ectl put "$WEP_KEY" "$WEP_JSON" >/dev/null
		wait_for 10 bash -c "ip -n $H route show $ip/32 | grep -q proto"
		wait_for 10 bash -c "ip -n $H -6 route show $ip6/128 | grep -q proto"
	else
		# Routed before felix knows it, as the CNI plugin does (our own routes, which felix
		# leaves alone: another protocol and metric).
		ip -n "$H" route add "$ip/32" dev "$ifn" metric 64 proto static
		ip -n "$H" -6 route add "$ip6/128" dev "$ifn" metric 64 proto static
	fi
}

cat <<EOF | apply
apiVersion: v1
kind: Namespace
metadata: {name: prod, labels: {team: prod}}
EOF
workload web prod '{"app":"web"}'; WEB=$WIP; WEB6=$WIP6; WEB_NS=$WNS
workload client prod '{"app":"client"}'; CLI=$WIP; CLI6=$WIP6; CLI_NS=$WNS; CLI_IF=$WIF
workload other prod '{"app":"other"}'; OTH6=$WIP6; OTH_NS=$WNS
serve "$WEB_NS" "$WEB" 80 7070 7171 9090
serve "$WEB_NS" "$WEB6" 80 7070 7171 9090

check "no policy: client -> [web]:80 open over IPv6" until_can "$CLI_NS" "$WEB6" 80
check "no policy: client -> web:80 open over IPv4" can "$CLI_NS" "$WEB" 80
check "no policy: client pings web over IPv6" pings "$CLI_NS" "$WEB6"
check "no policy: the tor reaches web over IPv6" can "$TOR" "$WEB6" 9090 2001:db8:18::1

# Selector rules apply to both families; ipVersion rules to one; IPv6 nets and ICMPv6.
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
  - action: Allow
    ipVersion: 6
    protocol: TCP
    source: {selector: app == 'client'}
    destination: {ports: [7070]}
  - action: Allow
    ipVersion: 4
    protocol: TCP
    source: {selector: app == 'client'}
    destination: {ports: [7171]}
  - action: Allow
    protocol: TCP
    source: {nets: ["2001:db8:18::2/128"]}
    destination: {ports: [9090]}
  - action: Allow
    protocol: ICMPv6
    icmp: {type: 128, code: 0}
EOF
check "default deny for the selected pod: client -> [web]:9090 denied" until_cannot "$CLI_NS" "$WEB6" 9090
check "selector rule, IPv6: client -> [web]:80 allowed" can "$CLI_NS" "$WEB6" 80
check "selector rule, IPv4: client -> web:80 allowed" can "$CLI_NS" "$WEB" 80
check "selector rule: other -> [web]:80 denied" cannot "$OTH_NS" "$WEB6" 80
check "ipVersion 6 rule: client -> [web]:7070 allowed" can "$CLI_NS" "$WEB6" 7070
check "ipVersion 6 rule does not apply to IPv4: client -> web:7070 denied" cannot "$CLI_NS" "$WEB" 7070
check "ipVersion 4 rule: client -> web:7171 allowed" can "$CLI_NS" "$WEB" 7171
check "ipVersion 4 rule does not apply to IPv6: client -> [web]:7171 denied" cannot "$CLI_NS" "$WEB6" 7171
check "IPv6 nets: tor 2001:db8:18::2 -> [web]:9090 allowed" can "$TOR" "$WEB6" 9090 2001:db8:18::2
check "IPv6 nets: tor 2001:db8:18::1 -> [web]:9090 denied" cannot "$TOR" "$WEB6" 9090 2001:db8:18::1
check "ICMPv6 echo-request rule: client pings web over IPv6" pings "$CLI_NS" "$WEB6"
check "the ICMPv6 rule does not allow ICMP: client cannot ping web over IPv4" no_pings "$CLI_NS" "$WEB"

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
  - action: Allow
    protocol: ICMPv6
    icmp: {type: 128, code: 1}
EOF
check "ICMPv6 code mismatch: client can no longer ping web over IPv6" wait_for 10 no_pings "$CLI_NS" "$WEB6"
check "and the tor lost [web]:9090 with the nets rule" cannot "$TOR" "$WEB6" 9090 2001:db8:18::2

# Kubernetes NetworkPolicy ipBlock with an IPv6 cidr and except.
cat <<EOF | apply
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: web-ipblock, namespace: prod}
spec:
  podSelector: {matchLabels: {app: web}}
  policyTypes: [Ingress]
  ingress:
  - from:
    - ipBlock: {cidr: "2001:db8:18::/64", except: ["2001:db8:18::1/128"]}
    ports:
    - {protocol: TCP, port: 9090}
EOF
check "k8s ipBlock IPv6: tor 2001:db8:18::2 -> [web]:9090 allowed" until_can "$TOR" "$WEB6" 9090 2001:db8:18::2
check "k8s ipBlock IPv6 except: tor 2001:db8:18::1 -> [web]:9090 denied" cannot "$TOR" "$WEB6" 9090 2001:db8:18::1

# A new workload after the policies exist: its IPv6 address joins the selector's set
# (incremental element update) and its chains are added.
workload client2 prod '{"app":"client"}'; CLI2_NS=$WNS
check "new workload in the selector: client2 -> [web]:80 allowed" until_can "$CLI2_NS" "$WEB6" 80
check "new workload: client2 -> [web]:9090 denied" cannot "$CLI2_NS" "$WEB6" 9090

# A remote workload (node h2) in the selector: its IPv6 address joins the set by an element
# update only. The tor plays it, sending from that address.
FAR6=2001:db8:19:1::9
ip -n "$TOR" addr add "$FAR6/128" dev lo nodad
check "remote control: the tor as $FAR6 -> [web]:80 denied" cannot "$TOR" "$WEB6" 80 "$FAR6"
ectl put /tabby/v1/workloadendpoints/prod/h2-cni-far-eth0 '{"apiVersion":"projectcalico.org/v3","kind":"WorkloadEndpoint","metadata":{"name":"h2-cni-far-eth0","namespace":"prod","labels":{"app":"client"}},"spec":{"orchestrator":"cni","node":"h2","containerID":"far","endpoint":"eth0","interfaceName":"tbyfar","ipNetworks":["198.19.9.9/32","'$FAR6'/128"]}}' >/dev/null
check "remote workload in the selector: $FAR6 -> [web]:80 allowed" until_can "$TOR" "$WEB6" 80 "$FAR6"
ectl del /tabby/v1/workloadendpoints/prod/h2-cni-far-eth0 >/dev/null
check "remote workload gone: $FAR6 -> [web]:80 denied again" until_cannot "$TOR" "$WEB6" 80 "$FAR6"

# Fail closed over IPv6: a workload interface felix has no endpoint for yet (the CNI plugin
# routes it before felix programs it) can neither send nor receive; its NDP still passes.
NO_WEP=1 workload late prod '{"app":"client"}'; LATE6=$WIP6; LATE_NS=$WNS
serve "$LATE_NS" "$LATE6" 80
sleep 1
check "fail closed: unprogrammed late -> [web]:80 dropped" cannot "$LATE_NS" "$WEB6" 80
check "fail closed: client -> unprogrammed [late]:80 dropped" cannot "$CLI_NS" "$LATE6" 80
check "fail closed: its NDP passes (it resolved its gateway)" bash -c "ip -n $LATE_NS -6 neigh show $GW6 dev eth0 | grep -q 'lladdr ee:ee:ee:ee:ee:ee'"
# First programmed with its IPv4 address only: it may send no IPv6 at all (anti-spoofing per
# family), while its IPv4 works; then its endpoint gains the IPv6 address.
ectl put "$WEP_KEY" "${WEP_JSON/\",\"$LATE6\/128/}" >/dev/null
check "IPv4-only endpoint: late -> web:80 over IPv4 allowed" until_can "$LATE_NS" "$WEB" 80
check "IPv4-only endpoint: late sends no IPv6 (-> [web]:80 dropped)" cannot "$LATE_NS" "$WEB6" 80
ectl put "$WEP_KEY" "$WEP_JSON" >/dev/null
check "programmed: late (app=client) -> [web]:80 allowed" until_can "$LATE_NS" "$WEB6" 80
check "programmed: client -> [late]:80 (no policy) open" can "$CLI_NS" "$LATE6" 80

# Anti-spoofing over IPv6: the client sends from an address that is not its own. Without the
# check the ping would work: the host routes the spoofed address back to the client's veth.
SPOOF6=2001:db8:19::99
ip -n "$CLI_NS" addr add "$SPOOF6/128" dev eth0 nodad
ip -n "$H" -6 route add "$SPOOF6/128" dev "$CLI_IF" metric 64 proto static
check "anti-spoofing control: ping6 from the client's own address to the tor works" pings "$CLI_NS" 2001:db8:18::1 "$CLI6"
check "anti-spoofing: ping6 from $SPOOF6 is dropped" no_pings "$CLI_NS" 2001:db8:18::1 "$SPOOF6"
ip -n "$CLI_NS" addr del "$SPOOF6/128" dev eth0
ip -n "$H" -6 route del "$SPOOF6/128" dev "$CLI_IF" metric 64 proto static

# NDP under deny-all: every workload selected in both directions by a policy that allows only
# ICMPv6 echo from client to web. Neighbour solicitations and advertisements (ICMPv6 135/136,
# router solicitation 133) are allowed by no rule: they must pass as Calico's failsafe.
cat <<EOF | apply
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: lockdown}
spec:
  order: 1
  selector: all()
  types: [Ingress, Egress]
  ingress:
  - action: Allow
    protocol: ICMPv6
    icmp: {type: 128}
    source: {selector: app == 'client'}
  egress:
  - action: Allow
    protocol: ICMPv6
    icmp: {type: 128}
    destination: {selector: app == 'web'}
EOF
check "deny-all: client -> [web]:80 denied" until_cannot "$CLI_NS" "$WEB6" 80
check "deny-all: the allowed ping6 client -> web works" wait_for 10 pings "$CLI_NS" "$WEB6"
check "deny-all: other cannot ping web" no_pings "$OTH_NS" "$WEB6"
for ns in "$CLI_NS" "$WEB_NS"; do ip -n "$ns" -6 neigh flush dev eth0; done
ip -n "$H" -6 neigh flush nud reachable nud stale nud delay nud probe nud failed
check "neighbour entries gone: the client has no entry for its gateway" bash -c "! ip -n $CLI_NS -6 neigh show $GW6 dev eth0 | grep -q lladdr"
check "NDP under deny-all: ping6 client -> web still works after the flush" wait_for 5 pings "$CLI_NS" "$WEB6"
check "the client re-learnt its gateway by NS/NA" bash -c "ip -n $CLI_NS -6 neigh show $GW6 dev eth0 | grep -q 'lladdr ee:ee:ee:ee:ee:ee'"
check "the web workload re-learnt its gateway by NS/NA" bash -c "ip -n $WEB_NS -6 neigh show $GW6 dev eth0 | grep -q 'lladdr ee:ee:ee:ee:ee:ee'"
ectl del /tabby/v1/globalnetworkpolicies/lockdown >/dev/null

# Restart: IPv6 enforcement continues while felix is down and after it comes back.
check "before the restart: other -> [web]:80 denied" cannot "$OTH_NS" "$WEB6" 80
kill -TERM "$FELIX_PID"; wait "$FELIX_PID"
check "felix down: IPv6 denied flow still denied" cannot "$OTH_NS" "$WEB6" 80
check "felix down: IPv6 allowed flow still allowed" can "$CLI_NS" "$WEB6" 80
mv "$T_TMP/felix.log" "$T_TMP/felix.log.1"
start_felix
check "restarted felix replaced its rules in full" wait_for 20 grep -q "policy applied ($BACKEND, full)" "$T_TMP/felix.log"
check "after restart: IPv6 denied flow denied" cannot "$OTH_NS" "$WEB6" 80
check "after restart: IPv6 allowed flow allowed" can "$CLI_NS" "$WEB6" 80

check "foreign table ip6 foreign6 survives" bash -c "ip netns exec $H nft list table ip6 foreign6 | grep -q 'comment \"foreign6\"'"
check "foreign ip6tables chain keep6 survives" bash -c "ip netns exec $H ip6tables -S keep6 | grep -q foreign6"
check "foreign ip6tables FORWARD rule survives" bash -c "ip netns exec $H ip6tables -S FORWARD | grep -q foreign6"
check "foreign inet6 ipset survives with its member" bash -c "ip netns exec $H ipset list foreign6 | grep -q '^2001:db8:77::/48'"
if [ "$BACKEND" = nftables ]; then
	check "nft: an IPv6 selector set holds web's client addresses" bash -c "ip netns exec $H nft list table inet tabby | grep -A4 'set s6-' | grep -q '$CLI6'"
	check "nft: steady-state applies were incremental" grep -q 'policy applied (nftables, incremental)' "$T_TMP/felix.log.1"
else
	check "ip6tables: hook jump inserted exactly once" bash -c "[ \$(ip netns exec $H ip6tables -S FORWARD | grep -c 'tby-forward') = 1 ]"
	check "ip6tables: tby- chains present" bash -c "ip netns exec $H ip6tables -S | grep -q '^-N tby-fw-'"
	check "ipset: an inet6 selector set holds the client's address" bash -c "ip netns exec $H ipset list | grep -A12 '^Name: tby-s6-' | grep -q '^$CLI6'"
	check "ipset: IPv6 sets are family inet6" bash -c "ip netns exec $H ipset list | grep -A3 '^Name: tby-s6-' | grep -q 'family inet6'"
	check "no nft table of ours with iptables" bash -c "! ip netns exec $H nft list table inet tabby >/dev/null 2>&1"
fi
# No policy left: felix removes its IPv6 sets too (and keeps the foreign inet6 ipset).
ectl del /tabby/v1/networkpolicies/prod/web >/dev/null
ectl del --prefix /tabby/v1/kubernetesnetworkpolicies/ >/dev/null
check "no policy: other -> [web]:80 open again" until_can "$OTH_NS" "$WEB6" 80
if [ "$BACKEND" = nftables ]; then
	check "nft: no IPv6 set left" wait_for 10 bash -c "! ip netns exec $H nft list table inet tabby | grep -q 'set [snp]6-'"
else
	check "ipset: no tby- inet6 set left" wait_for 20 bash -c "! ip netns exec $H ipset list -n | grep -q '^tby-[snp]6-'"
	check "ipset: the foreign inet6 set is still there" bash -c "ip netns exec $H ipset list -n | grep -qx foreign6"
fi
check "status file ok" wait_for 5 grep -q '"ok":true' "$STATUS"
summary
