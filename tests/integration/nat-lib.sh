# Shared body of nat-outgoing.t (nftables) and nat-outgoing-ipt.t (iptables): natOutgoing with
# REAL traffic. h1 runs felix; a workload in pool A (198.19.0.0/16) and one in pool B
# (198.18.128.0/20, disabled: still "inside"); an "outside" namespace on a second link of h1
# (198.18.5.0/24) with NO route back to the pools runs a TCP server that answers with the
# source address it sees. Source it with BACKEND=nftables|iptables set.
. "$(dirname "${BASH_SOURCE[0]}")/policy-setup.sh"
policy_setup 198.18.0.2/24

ns_add out; OUT=$NS_LAST
ip -n "$H" link add eth1 type veth peer name eth0 netns "$OUT"
ip -n "$H" addr add 198.18.5.1/24 dev eth1
ip -n "$H" link set eth1 up
ip -n "$OUT" addr add 198.18.5.2/24 dev eth0
ip -n "$OUT" link set eth0 up

# Foreign nat objects that felix must never touch.
ip netns exec "$H" nft -f - <<'EON'
table ip foreign-nat {
	chain post { type nat hook postrouting priority 50; policy accept; counter comment "foreign"; }
}
EON

pool() { # NAME CIDR NAT DISABLED
	cat <<EOF | apply
apiVersion: projectcalico.org/v3
kind: IPPool
metadata: {name: $1}
spec: {cidr: "$2", blockSize: 26, natOutgoing: $3, disabled: $4}
EOF
}
pool pool-a 198.19.0.0/16 true false
pool pool-b 198.18.128.0/20 false true

cat >"$T_TMP/felix.yaml" <<EOC
nodeName: h1
ipv4Address: 198.18.0.11/24
datastoreEndpoints: "$TABBY_TEST_ETCD_UNIX"
birdConfigFile: $T_TMP/bird.conf
birdSocket: $T_TMP/bird.ctl
resyncIntervalSecs: 3
policyDataplane: $BACKEND
logSeverityScreen: Info
EOC
start_felix() {
	TABBY_DATASTORE_ENDPOINTS=$TABBY_TEST_ETCD_UNIX ip netns exec "$H" "$FELIX" --config "$T_TMP/felix.yaml" >>"$T_TMP/felix.log" 2>&1 &
	FELIX_PID=$!
	track_pid "$FELIX_PID"
}
trap 'rc=$?; [ $rc = 0 ] || { echo "--- felix.log"; tail -40 "$T_TMP/felix.log"; }; t_cleanup' EXIT

serve() { who_serve "$@"; } # NS IP PORT
ask() { who_ask "$@"; }
sees() { [ "$(ask "$1" "$2" "$3")" = "$4" ]; } # NS DST PORT EXPECTED-SOURCE
fails() { ! ask "$1" "$2" "$3" >/dev/null; }

# workload NAME IP: by hand, as felix.t does; sets WNS.
workload() {
	local name=$1 ip=$2 ifn cid mac
	ifn=tby$(printf '%s' "default.$name" | sha1sum | cut -c1-11)
	ns_add "$name"; local w=$NS_LAST
	ip -n "$H" link add "$ifn" type veth peer name eth0 netns "$w"
	ip -n "$H" link set "$ifn" address ee:ee:ee:ee:ee:ee up
	ip -n "$w" addr add "$ip/32" dev eth0
	ip -n "$w" link set eth0 up
	ip -n "$w" route add 169.254.1.1/32 dev eth0 scope link
	ip -n "$w" route add default via 169.254.1.1 dev eth0
	mac=$(ip -n "$w" -o link show eth0 | sed -n 's/.*link\/ether \([0-9a-f:]*\).*/\1/p')
	cid=$(printf '%s' "$name" | sha1sum | cut -c1-12)
	ectl put "/tabby/v1/workloadendpoints/default/h1-cni-$cid-eth0" '{"apiVersion":"projectcalico.org/v3","kind":"WorkloadEndpoint","metadata":{"name":"h1-cni-'$cid'-eth0","namespace":"default","labels":{"app":"'$name'"}},"spec":{"orchestrator":"cni","node":"h1","containerID":"'$cid'","endpoint":"eth0","interfaceName":"'$ifn'","mac":"'$mac'","ipNetworks":["'$ip'/32"]}}' >/dev/null
	WNS=$w
	wait_for 10 bash -c "ip -n $H route show $ip/32 | grep -q proto"
}

# What felix programmed, per backend.
masq_has() { # CIDR: the masq set holds it
	if [ "$BACKEND" = nftables ]; then
		ip netns exec "$H" nft list set inet tabby-nat masq4 2>/dev/null | grep -q "$1"
	else
		ip netns exec "$H" ipset list tbynat-masq4 2>/dev/null | grep -q "^$1"
	fi
}
nat_gone() {
	if [ "$BACKEND" = nftables ]; then
		! ip netns exec "$H" nft list table inet tabby-nat >/dev/null 2>&1
	else
		! ip netns exec "$H" iptables -w -t nat -S 2>/dev/null | grep -q tbynat &&
			! ip netns exec "$H" ipset list -n | grep -q tbynat
	fi
}
other_backend_clean() {
	if [ "$BACKEND" = nftables ]; then
		! ip netns exec "$H" ipset list -n | grep -q tbynat
	else
		! ip netns exec "$H" nft list table inet tabby-nat >/dev/null 2>&1
	fi
}

start_felix
A=198.19.0.10
B=198.18.128.10
workload wa "$A"; WA=$WNS
workload wb "$B"; WB=$WNS
serve "$OUT" 198.18.5.2 8080
serve "$WB" "$B" 8080

check "natOutgoing on: the outside sees the host's address" wait_for 15 sees "$WA" 198.18.5.2 8080 198.18.5.1
check "the masq set holds pool A" masq_has 198.19.0.0/16
check "no nat objects of the other backend" other_backend_clean
check "to another (disabled) pool: not masqueraded" sees "$WA" "$B" 8080 "$A"
check "pool B (natOutgoing false) is not masqueraded to the outside (no route back)" fails "$WB" 198.18.5.2 8080

# Someone flushes our set: the periodic resync (3 s) puts it back.
if [ "$BACKEND" = nftables ]; then
	ip netns exec "$H" nft flush set inet tabby-nat masq4
else
	ip netns exec "$H" ipset flush tbynat-masq4
fi
check "a resync repairs a flushed masq set" wait_for 10 masq_has 198.19.0.0/16
check "and the flow works again" wait_for 5 sees "$WA" 198.18.5.2 8080 198.18.5.1

# natOutgoing off, without a felix restart: no route back, so the connection fails.
pool pool-a 198.19.0.0/16 false false
check "natOutgoing off: the connection fails within seconds" wait_for 10 fails "$WA" 198.18.5.2 8080
check "natOutgoing off: nothing of ours is left" wait_for 5 nat_gone
check "felix still runs (not restarted)" kill -0 "$FELIX_PID"

# On again, then pool B with natOutgoing too: both masqueraded, B still inside for A.
pool pool-a 198.19.0.0/16 true false
check "natOutgoing on again" wait_for 10 sees "$WA" 198.18.5.2 8080 198.18.5.1
table_handle() { ip netns exec "$H" nft -a list table inet tabby-nat 2>/dev/null | sed -n '1s/.*# handle //p'; }
H0=$(table_handle)
pool pool-b 198.18.128.0/20 true true
check "disabled pool with natOutgoing is masqueraded (Calico)" wait_for 10 sees "$WB" 198.18.5.2 8080 198.18.5.1
if [ "$BACKEND" = nftables ]; then
	check "a pool change is set elements only (same table)" test -n "$H0" -a "$(table_handle)" = "$H0"
	check "a resync with nothing changed sends nothing (same table)" bash -c "sleep 4; [ \"\$(ip netns exec $H nft -a list table inet tabby-nat | sed -n '1s/.*# handle //p')\" = $H0 ]"
fi
check "A -> B still not masqueraded" sees "$WA" "$B" 8080 "$A"

# Deleting a pool takes it out of both sets.
ectl del /tabby/v1/ippools/pool-b >/dev/null
check "pool B deleted: its traffic is no longer masqueraded" wait_for 10 fails "$WB" 198.18.5.2 8080

# felix restart: the rules stay while it is down, and it takes them over.
kill "$FELIX_PID"
wait_for 10 bash -c "! kill -0 $FELIX_PID 2>/dev/null"
check "felix down: masquerade stays" sees "$WA" 198.18.5.2 8080 198.18.5.1
start_felix
sleep 2
check "felix restarted: masquerade still works" wait_for 10 sees "$WA" 198.18.5.2 8080 198.18.5.1
check "foreign nat table untouched" bash -c "ip netns exec $H nft list table ip foreign-nat | grep -q foreign"
summary
