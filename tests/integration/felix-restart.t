#!/bin/bash
# Two hosts on a shared segment, each with tabby-felix and a real BIRD, full-mesh iBGP: the
# workloads reach each other over BGP-learned routes, and SIGKILL + restart of h1's felix while
# traffic flows loses no packet (felix recognises its own routes and its own nftables table,
# and changes nothing).
. "$(dirname "$0")/lib.sh"
need_root
command -v etcdctl >/dev/null || fail "etcdctl not installed"
command -v bird >/dev/null || fail "bird not installed"
FELIX=$T_BUILD/felix/tabby-felix
[ -x "$FELIX" ] || fail "no $FELIX"
etcd_start
ectl() { ETCDCTL_API=3 etcdctl --endpoints "$TABBY_DATASTORE_ENDPOINTS" "$@"; }
trap 'rc=$?; [ $rc = 0 ] || for n in 1 2; do echo "--- h$n felix.log"; tail -30 "$T_TMP/h$n/felix.log"; done; t_cleanup' EXIT

# Fabric: a bridge in the tor namespace (198.18.0.1/24); hN eth0 198.18.0.1N/24.
ns_add tor; TOR=$NS_LAST
ip -n "$TOR" link add br0 type bridge
ip -n "$TOR" addr add 198.18.0.1/24 dev br0
ip -n "$TOR" link set br0 up
declare -A HNS WNS FPID
for n in 1 2; do
	ns_add "h$n"; H=$NS_LAST; HNS[$n]=$H
	ip netns exec "$H" sysctl -qw net.ipv4.ip_forward=1
	ip -n "$H" link add eth0 type veth peer name "th$n" netns "$TOR"
	ip -n "$TOR" link set "th$n" master br0 up
	ip -n "$H" addr add "198.18.0.1$n/24" dev eth0
	ip -n "$H" link set eth0 up
	ip -n "$H" route add default via 198.18.0.1 dev eth0
done

ectl put /tabby/v1/ippools/default-ipv4-ippool \
	'{"apiVersion":"projectcalico.org/v3","kind":"IPPool","metadata":{"name":"default-ipv4-ippool"},"spec":{"cidr":"198.19.0.0/16","blockSize":26}}' >/dev/null

start_felix() { # N
	local n=$1
	TABBY_DATASTORE_ENDPOINTS=$TABBY_TEST_ETCD_UNIX ip netns exec "${HNS[$n]}" \
		"$FELIX" --config "$T_TMP/h$n/felix.yaml" >>"$T_TMP/h$n/felix.log" 2>&1 &
	FPID[$n]=$!
	track_pid "${FPID[$n]}"
}

for n in 1 2; do
	mkdir -p "$T_TMP/h$n"
	cat >"$T_TMP/h$n/felix.yaml" <<EOC
nodeName: h$n
ipv4Address: 198.18.0.1$n/24
birdConfigFile: $T_TMP/h$n/bird.conf
birdSocket: $T_TMP/h$n/bird.ctl
birdLogFile: $T_TMP/h$n/bird.log
birdFastTimers: true
resyncIntervalSecs: 3
EOC
	start_felix "$n"
done
for n in 1 2; do
	check "h$n bird.conf written" wait_for 20 test -s "$T_TMP/h$n/bird.conf"
	ip netns exec "${HNS[$n]}" bird -c "$T_TMP/h$n/bird.conf" -s "$T_TMP/h$n/bird.ctl" \
		-P "$T_TMP/h$n/bird.pid" || fail "bird on h$n did not start"
	wait_for 10 test -s "$T_TMP/h$n/bird.pid" || fail "no bird pid file on h$n"
	track_pid "$(cat "$T_TMP/h$n/bird.pid")"
done

# One hand-made workload per host at block base + 5.
block_of() { # N -> a.b.c.d/len
	ectl get --prefix /tabby/v1/ipam/blocks/ | grep -B1 "\"host:h$1\"" | grep '^/tabby' | head -1 |
		xargs basename | sed 's/-\([0-9]*\)$/\/\1/'
}
declare -A IP BLOCK
for n in 1 2; do
	wait_for 20 bash -c "ETCDCTL_API=3 etcdctl --endpoints $TABBY_DATASTORE_ENDPOINTS get --prefix /tabby/v1/ipam/blocks/ | grep -q '\"host:h$n\"'" ||
		fail "h$n has no block"
	BLOCK[$n]=$(block_of "$n")
	base=${BLOCK[$n]%/*}
	IP[$n]=${base%.*}.$((${base##*.} + 5))
	ns_add "w$n"; W=$NS_LAST; WNS[$n]=$W
	H=${HNS[$n]}
	ifn=tby$(printf '%s' "default.w$n" | sha1sum | cut -c1-11)
	ip -n "$H" link add "$ifn" type veth peer name eth0 netns "$W"
	ip -n "$H" link set "$ifn" address ee:ee:ee:ee:ee:ee up
	ip -n "$W" addr add "${IP[$n]}/32" dev eth0
	ip -n "$W" link set eth0 up
	ip -n "$W" route add 169.254.1.1/32 dev eth0 scope link
	ip -n "$W" route add default via 169.254.1.1 dev eth0
	mac=$(ip -n "$W" -o link show eth0 | sed -n 's/.*link\/ether \([0-9a-f:]*\).*/\1/p')
	ectl put "/tabby/v1/workloadendpoints/default/h$n-cni-w${n}w${n}w${n}w${n}w${n}w${n}-eth0" \
		'{"apiVersion":"projectcalico.org/v3","kind":"WorkloadEndpoint","metadata":{"name":"h'$n'-cni-w'$n'w'$n'w'$n'w'$n'w'$n'w'$n'-eth0","namespace":"default"},"spec":{"orchestrator":"cni","node":"h'$n'","containerID":"w'$n'w'$n'w'$n'w'$n'w'$n'w'$n'","endpoint":"eth0","interfaceName":"'$ifn'","mac":"'$mac'","ipNetworks":["'${IP[$n]}'/32"]}}' >/dev/null
	check "h$n workload route ${IP[$n]} proto 81" wait_for 10 bash -c \
		"ip -n $H route show ${IP[$n]}/32 | grep -q 'dev $ifn proto 81 scope link'"
done

check "h1 learned h2's block ${BLOCK[2]} over BGP" wait_for 30 bash -c \
	"ip -n ${HNS[1]} route show ${BLOCK[2]} | grep -q 'proto bird'"
check "h2 learned h1's block ${BLOCK[1]} over BGP" wait_for 30 bash -c \
	"ip -n ${HNS[2]} route show ${BLOCK[1]} | grep -q 'proto bird'"
check "BGP session h1-h2 Established" bash -c \
	"birdc -s $T_TMP/h1/bird.ctl show protocols | grep -qE '^Mesh_198_18_0_12 .*Established'"
check "w1 pings w2" wait_for 10 ip netns exec "${WNS[1]}" ping -c 1 -W 1 "${IP[2]}"

# Traffic while h1's felix is SIGKILLed and restarted.
ip netns exec "${WNS[1]}" ping -q -i 0.01 -c 500 -W 1 "${IP[2]}" >"$T_TMP/ping.log" 2>&1 &
PING_PID=$!
sleep 1
kill -KILL "${FPID[1]}"
wait "${FPID[1]}" 2>/dev/null
echo "# killed h1's felix"
: >"$T_TMP/h1/felix.log"
start_felix 1
wait_for 20 grep -q "in sync with the datastore" "$T_TMP/h1/felix.log" || fail "restarted felix not in sync"
wait "$PING_PID"
cat "$T_TMP/ping.log" | sed 's/^/# /'
check "500 packets, 0% packet loss across the felix restart" grep -q ' 500 received, 0% packet loss' "$T_TMP/ping.log"
# The restarted felix read its nftables table back (nft-adopt.c) and found it as it would
# render it: its first, complete apply sent nothing.
check "the restarted felix adopted its nftables table" wait_for 10 \
	grep -q 'adopted table inet tabby: .* 0 without our tag' "$T_TMP/h1/felix.log"
check "its first apply wrote nothing" grep -q \
	'policy applied (nftables, full).*elements +0 -0, chains written 0 removed 0, 0 rules, 0 bytes' \
	"$T_TMP/h1/felix.log"
check "BGP session still Established" bash -c \
	"birdc -s $T_TMP/h1/bird.ctl show protocols | grep -qE '^Mesh_198_18_0_12 .*Established'"
check "h1 still has its workload route" bash -c "ip -n ${HNS[1]} route show ${IP[1]}/32 | grep -q 'proto 81'"
summary
