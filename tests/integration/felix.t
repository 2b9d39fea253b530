#!/bin/bash
# tabby-felix on one host namespace against a real etcd: Node registration, block claim and
# blackhole, a workload's /32 + permanent neighbour from its WorkloadEndpoint, removal with the
# endpoint, stale-route sweep at resync, foreign routes left alone, bird.conf valid, SIGTERM
# leaves routes in place, and a restart with no memory deletes nothing.
. "$(dirname "$0")/lib.sh"
need_root
command -v etcdctl >/dev/null || fail "etcdctl not installed"
FELIX=$T_BUILD/felix/tabby-felix
[ -x "$FELIX" ] || fail "no $FELIX"
etcd_start
ectl() { ETCDCTL_API=3 etcdctl --endpoints "$TABBY_DATASTORE_ENDPOINTS" "$@"; }

# Topology: tor <-veth-> h1 (eth0 198.18.0.11/24, default via 198.18.0.1).
ns_add tor; TOR=$NS_LAST
ns_add h1; H=$NS_LAST
ip netns exec "$H" sysctl -qw net.ipv4.ip_forward=1
ip -n "$H" link add eth0 type veth peer name th1 netns "$TOR"
ip -n "$TOR" addr add 198.18.0.1/24 dev th1
ip -n "$TOR" link set th1 up
ip -n "$H" addr add 198.18.0.11/24 dev eth0
ip -n "$H" link set eth0 up
ip -n "$H" route add default via 198.18.0.1 dev eth0

ectl put /tabby/v1/ippools/default-ipv4-ippool \
	'{"apiVersion":"projectcalico.org/v3","kind":"IPPool","metadata":{"name":"default-ipv4-ippool"},"spec":{"cidr":"198.19.0.0/16","blockSize":26}}' >/dev/null
# This test is about routing and proxy ARP, not policy: workload-to-host traffic is dropped by
# default (Calico's defaultEndpointToHostAction: Drop; tests/integration/policy-*.t cover that),
# so allow it here to be able to ping the host from a workload.
ectl put /tabby/v1/felixconfigurations/default \
	'{"apiVersion":"projectcalico.org/v3","kind":"FelixConfiguration","metadata":{"name":"default"},"spec":{"defaultEndpointToHostAction":"Accept"}}' >/dev/null

cat >"$T_TMP/felix.yaml" <<EOC
nodeName: h1
ipv4Address: 198.18.0.11/24
datastoreEndpoints: "$TABBY_TEST_ETCD_UNIX"
birdConfigFile: $T_TMP/bird.conf
birdSocket: $T_TMP/bird.ctl
birdFastTimers: true
resyncIntervalSecs: 2
logSeverityScreen: Info
EOC

start_felix() {
	# The environment overrides the file: point it at the socket reachable from the netns.
	TABBY_DATASTORE_ENDPOINTS=$TABBY_TEST_ETCD_UNIX ip netns exec "$H" "$FELIX" --config "$T_TMP/felix.yaml" >>"$T_TMP/felix.log" 2>&1 &
	FELIX_PID=$!
	track_pid "$FELIX_PID"
}
trap 'rc=$?; [ $rc = 0 ] || { echo "--- felix.log"; tail -50 "$T_TMP/felix.log"; }; t_cleanup' EXIT

start_felix
check "felix registers its Node" wait_for 20 bash -c \
	"ETCDCTL_API=3 etcdctl --endpoints $TABBY_DATASTORE_ENDPOINTS get --print-value-only /tabby/v1/nodes/h1 | grep -q '198.18.0.11/24'"
block_key() { ectl get --prefix /tabby/v1/ipam/blocks/ | grep -B1 '"host:h1"' | grep '^/tabby' | head -1; }
check "felix claims a block" wait_for 20 bash -c "[ -n \"\$(ETCDCTL_API=3 etcdctl --endpoints $TABBY_DATASTORE_ENDPOINTS get --prefix /tabby/v1/ipam/blocks/ | grep '\"host:h1\"')\" ]"
BK=$(block_key)
BLOCK=$(basename "$BK" | sed 's/-\([0-9]*\)$/\/\1/')
BASE=${BLOCK%/*}
IP=${BASE%.*}.$((${BASE##*.} + 5))
STALE=${BASE%.*}.$((${BASE##*.} + 40))
echo "# block $BLOCK, workload address $IP"
has_route() { ip -n "$H" route show "$@" | grep -q .; }
check "blackhole $BLOCK proto 81" wait_for 10 bash -c "ip -n $H route show proto 81 | grep -q '^blackhole $BLOCK '"

# A foreign route that must never be touched.
ip -n "$H" route add 198.18.7.0/24 via 198.18.0.1 proto static

# A workload made by hand: veth tby... in the host, eth0 in its own namespace.
ns_add w1; W=$NS_LAST
IFN=tby$(printf '%s' "default.w1" | sha1sum | cut -c1-11)
ip -n "$H" link add "$IFN" type veth peer name eth0 netns "$W"
ip -n "$H" link set "$IFN" address ee:ee:ee:ee:ee:ee up
ip -n "$W" addr add "$IP/32" dev eth0
ip -n "$W" link set eth0 up
ip -n "$W" route add 169.254.1.1/32 dev eth0 scope link
ip -n "$W" route add default via 169.254.1.1 dev eth0
MAC=$(ip -n "$W" -o link show eth0 | sed -n 's/.*link\/ether \([0-9a-f:]*\).*/\1/p')
WEP=/tabby/v1/workloadendpoints/default/h1-cni-w1w1w1w1w1w1-eth0
WEPV='{"apiVersion":"projectcalico.org/v3","kind":"WorkloadEndpoint","metadata":{"name":"h1-cni-w1w1w1w1w1w1-eth0","namespace":"default"},"spec":{"orchestrator":"cni","node":"h1","containerID":"w1w1w1w1w1w1","endpoint":"eth0","interfaceName":"'$IFN'","mac":"'$MAC'","ipNetworks":["'$IP'/32"]}}'
ectl put "$WEP" "$WEPV" >/dev/null
check "workload route $IP dev $IFN proto 81 scope link" wait_for 10 bash -c \
	"ip -n $H route show $IP/32 | grep -q '^$IP dev $IFN proto 81 scope link'"
check "permanent neighbour $IP lladdr $MAC" wait_for 10 bash -c \
	"ip -n $H neigh show dev $IFN | grep -q '^$IP lladdr $MAC PERMANENT'"
check "proxy_arp=1 on $IFN" bash -c "[ \$(ip netns exec $H cat /proc/sys/net/ipv4/conf/$IFN/proxy_arp) = 1 ]"
check "proxy_delay=0 on $IFN" bash -c "[ \$(ip netns exec $H cat /proc/sys/net/ipv4/neigh/$IFN/proxy_delay) = 0 ]"
check "workload reaches its host (proxy ARP)" bash -c "ip netns exec $W ping -c 1 -W 2 198.18.0.11 >/dev/null"

# A stale route of ours that nobody desires goes at a resync (after the grace period).
ip -n "$H" route add "$STALE/32" dev "$IFN" proto 81 scope link
check "stale proto 81 route $STALE is swept" wait_for 20 bash -c "! ip -n $H route show $STALE/32 | grep -q ."

ectl del "$WEP" >/dev/null
check "route removed with the endpoint" wait_for 10 bash -c "! ip -n $H route show $IP/32 | grep -q ."
check "neighbour removed with the endpoint" wait_for 10 bash -c "! ip -n $H neigh show dev $IFN | grep -q PERMANENT"
check "foreign static route untouched" bash -c "ip -n $H route show 198.18.7.0/24 | grep -q 'proto static'"

check "bird.conf written" test -s "$T_TMP/bird.conf"
check "bird.conf passes bird -p" bird -p -c "$T_TMP/bird.conf"
check "bird.conf has the block" grep -q "$BLOCK" "$T_TMP/bird.conf"

# SIGTERM: exit 0, routes stay.
ectl put "$WEP" "$WEPV" >/dev/null
check "workload route back" wait_for 10 bash -c "ip -n $H route show $IP/32 | grep -q 'proto 81'"
kill -TERM "$FELIX_PID"
wait "$FELIX_PID"; rc=$?
check "felix exits 0 on SIGTERM" [ "$rc" = 0 ]
check "workload route kept after exit" has_route "$IP/32" proto 81
check "blackhole kept after exit" bash -c "ip -n $H route show proto 81 | grep -q '^blackhole $BLOCK '"

# Restart with no memory: nothing of ours is deleted, not even for a moment.
ip -n "$H" monitor route >"$T_TMP/monitor.log" 2>&1 &
MON_PID=$!; track_pid "$MON_PID"
sleep 0.5
# The monitor sees deletions (a throwaway foreign route proves it).
ip -n "$H" route add 198.18.9.0/24 via 198.18.0.1 proto static
ip -n "$H" route del 198.18.9.0/24
: >"$T_TMP/felix.log"
start_felix
check "restarted felix is in sync" wait_for 20 grep -q "in sync with the datastore" "$T_TMP/felix.log"
# Let it run through more than one resync interval (2 s) and the stale grace period.
sleep 5
kill "$MON_PID"; wait "$MON_PID" 2>/dev/null
check "the route monitor captured the throwaway deletion" grep -q '^Deleted 198.18.9.0/24' "$T_TMP/monitor.log"
check "no route of ours was deleted across the restart" bash -c "! grep -E '^Deleted .*(198[.]19[.]|proto 81)' $T_TMP/monitor.log"
check "no route of ours was replaced across the restart" bash -c "! grep -E '^(blackhole )?198[.]19[.].*proto 81' $T_TMP/monitor.log"
check "workload route still there" has_route "$IP/32" proto 81
check "bird.conf unchanged across restart" bash -c "! grep -q 'wrote ' $T_TMP/felix.log"
check "foreign static route still untouched" bash -c "ip -n $H route show 198.18.7.0/24 | grep -q 'proto static'"
summary
