#!/bin/bash
# felix-ipv6-tor.t - dual stack towards a ToR (issue 9): FRR in AS 65000 on the hosts' segment
# (198.18.0.1/24 and 2001:db8:18::1/64), two hosts (AS 64601, 64602) with tabby-felix and BIRD,
# the node-to-node mesh off, and two global BGPPeers: peerIP 198.18.0.1 and peerIP
# 2001:db8:18::1. Real etcd, BIRD, FRR and kernels:
#  - each host has an IPv4 session (Global_198_18_0_1) and a separate IPv6 session
#    (Global_2001_db8_18__1) with the ToR, both Established;
#  - the ToR learns exactly each host's IPv6 block from that host over the IPv6 session (no
#    /128 under an owned block), and each host learns the other's IPv6 block into its kernel;
#  - hand-made dual-stack workloads ping each other over IPv6 through the ToR.
. "$(dirname "$0")/lib.sh"
need_root
command -v etcdctl >/dev/null || fail "etcdctl not installed"
command -v bird >/dev/null || fail "bird not installed"
command -v vtysh >/dev/null && [ -x /usr/lib/frr/bgpd ] || { echo "skipped: frr not installed"; exit 77; }
FELIX=$T_BUILD/felix/tabby-felix
[ -x "$FELIX" ] || fail "no $FELIX"
etcd_start
ectl() { ETCDCTL_API=3 etcdctl --endpoints "$TABBY_DATASTORE_ENDPOINTS" "$@"; }
H_ALL="1 2"

ns_add tor; TOR=$NS_LAST
# FRR drops privileges to user frr, which cannot enter our private (0700) T_TMP: its files live in
# its own pathspace directory (named after our namespace), removed on exit.
FRR_DIR=/var/run/frr/$TOR
teardown() {
	local rc=$?
	if [ "$rc" != 0 ]; then
		for n in $H_ALL; do echo "--- h$n felix.log"; tail -20 "$T_TMP/h$n/felix.log"; echo "--- h$n bird.log"; tail -10 "$T_TMP/h$n/bird.log"; done
		echo "--- bgpd.log"; tail -20 "$FRR_DIR/bgpd.log" 2>/dev/null
	fi
	t_cleanup
	rm -rf "$FRR_DIR"
}
trap teardown EXIT

ip -n "$TOR" link add br0 type bridge
ip -n "$TOR" addr add 198.18.0.1/24 dev br0
ip -n "$TOR" addr add 2001:db8:18::1/64 dev br0 nodad
ip -n "$TOR" link set br0 up
ip netns exec "$TOR" sysctl -qw net.ipv4.ip_forward=1
ip netns exec "$TOR" sysctl -qw net.ipv6.conf.all.forwarding=1
declare -A HNS WNS FPID IP6 BLOCK6
for n in $H_ALL; do
	ns_add "h$n"; H=$NS_LAST; HNS[$n]=$H
	ip netns exec "$H" sysctl -qw net.ipv4.ip_forward=1
	ip netns exec "$H" sysctl -qw net.ipv6.conf.all.forwarding=1
	ip -n "$H" link add eth0 type veth peer name "th$n" netns "$TOR"
	ip -n "$TOR" link set "th$n" master br0 up
	ip -n "$H" addr add "198.18.0.1$n/24" dev eth0
	ip -n "$H" addr add "2001:db8:18::1$n/64" dev eth0 nodad
	ip -n "$H" link set eth0 up
	ip -n "$H" route add default via 198.18.0.1 dev eth0
done

# FRR: zebra + bgpd, AS 65000, one IPv4 and one IPv6 neighbour per host, each address family
# only on its own sessions.
mkdir -p "$FRR_DIR"
chown frr:frr "$FRR_DIR"
cat >"$FRR_DIR/zebra.conf" <<EOF
hostname tor
log file $FRR_DIR/zebra.log informational
EOF
{
	cat <<EOF
frr defaults traditional
hostname tor
log file $FRR_DIR/bgpd.log informational
router bgp 65000
 bgp router-id 198.18.0.1
 no bgp default ipv4-unicast
 no bgp ebgp-requires-policy
 bgp bestpath as-path multipath-relax
EOF
	for n in $H_ALL; do
		echo " neighbor 198.18.0.1$n remote-as 6460$n"
		echo " neighbor 198.18.0.1$n timers 3 9"
		echo " neighbor 198.18.0.1$n timers connect 1"
		echo " neighbor 2001:db8:18::1$n remote-as 6460$n"
		echo " neighbor 2001:db8:18::1$n timers 3 9"
		echo " neighbor 2001:db8:18::1$n timers connect 1"
	done
	echo " address-family ipv4 unicast"
	for n in $H_ALL; do echo "  neighbor 198.18.0.1$n activate"; done
	echo " exit-address-family"
	echo " address-family ipv6 unicast"
	for n in $H_ALL; do echo "  neighbor 2001:db8:18::1$n activate"; done
	echo " exit-address-family"
} >"$FRR_DIR/bgpd.conf"
chown frr:frr "$FRR_DIR"/*.conf
for daemon in zebra bgpd; do
	ip netns exec "$TOR" "/usr/lib/frr/$daemon" -d -N "$TOR" -P 0 -f "$FRR_DIR/$daemon.conf" \
		-i "$FRR_DIR/$daemon.pid" --log "file:$FRR_DIR/$daemon.stdout.log" >>"$T_TMP/frr-start.log" 2>&1 ||
		{ cat "$T_TMP/frr-start.log"; fail "FRR $daemon did not start"; }
	wait_for 10 test -s "$FRR_DIR/$daemon.pid" || fail "FRR $daemon wrote no pid file"
	track_pid "$(cat "$FRR_DIR/$daemon.pid")"
done
tor_vtysh() { vtysh -N "$TOR" "$@" 2>/dev/null; }

ectl put /tabby/v1/ippools/default-ipv4-ippool \
	'{"apiVersion":"projectcalico.org/v3","kind":"IPPool","metadata":{"name":"default-ipv4-ippool"},"spec":{"cidr":"198.19.0.0/16","blockSize":26}}' >/dev/null
ectl put /tabby/v1/ippools/default-ipv6-ippool \
	'{"apiVersion":"projectcalico.org/v3","kind":"IPPool","metadata":{"name":"default-ipv6-ippool"},"spec":{"cidr":"2001:db8:19::/112","blockSize":122}}' >/dev/null
ectl put /tabby/v1/felixconfigurations/default \
	'{"apiVersion":"projectcalico.org/v3","kind":"FelixConfiguration","metadata":{"name":"default"},"spec":{"defaultEndpointToHostAction":"Accept"}}' >/dev/null
ectl put /tabby/v1/bgpconfigurations/default \
	'{"apiVersion":"projectcalico.org/v3","kind":"BGPConfiguration","metadata":{"name":"default"},"spec":{"nodeToNodeMeshEnabled":false}}' >/dev/null
ectl put /tabby/v1/bgppeers/tor4 \
	'{"apiVersion":"projectcalico.org/v3","kind":"BGPPeer","metadata":{"name":"tor4"},"spec":{"peerIP":"198.18.0.1","asNumber":65000}}' >/dev/null
ectl put /tabby/v1/bgppeers/tor6 \
	'{"apiVersion":"projectcalico.org/v3","kind":"BGPPeer","metadata":{"name":"tor6"},"spec":{"peerIP":"2001:db8:18::1","asNumber":65000}}' >/dev/null

for n in $H_ALL; do
	mkdir -p "$T_TMP/h$n"
	cat >"$T_TMP/h$n/felix.yaml" <<EOC
nodeName: h$n
ipv4Address: 198.18.0.1$n/24
ipv6Address: 2001:db8:18::1$n/64
asNumber: 6460$n
birdConfigFile: $T_TMP/h$n/bird.conf
birdSocket: $T_TMP/h$n/bird.ctl
birdLogFile: $T_TMP/h$n/bird.log
birdFastTimers: true
resyncIntervalSecs: 3
EOC
	TABBY_DATASTORE_ENDPOINTS=$TABBY_TEST_ETCD_UNIX ip netns exec "${HNS[$n]}" \
		"$FELIX" --config "$T_TMP/h$n/felix.yaml" >>"$T_TMP/h$n/felix.log" 2>&1 &
	FPID[$n]=$!
	track_pid "${FPID[$n]}"
done
for n in $H_ALL; do
	check "h$n bird.conf written" wait_for 20 test -s "$T_TMP/h$n/bird.conf"
	ip netns exec "${HNS[$n]}" bird -c "$T_TMP/h$n/bird.conf" -s "$T_TMP/h$n/bird.ctl" \
		-P "$T_TMP/h$n/bird.pid" || fail "bird on h$n did not start"
	wait_for 10 test -s "$T_TMP/h$n/bird.pid" || fail "no bird pid file on h$n"
	track_pid "$(cat "$T_TMP/h$n/bird.pid")"
done

established_names() { birdc -s "$T_TMP/h$1/bird.ctl" show protocols | awk '$6 == "Established" {print $1}' | sort | tr '\n' ' '; }
names_are() { [ "$(established_names "$1")" = "$2" ]; }
for n in $H_ALL; do
	want="Global_198_18_0_1 Global_2001_db8_18__1 "
	wait_for 30 names_are "$n" "$want" || fail "h$n: Established $(established_names "$n"), want $want"
	ok "h$n: IPv4 and IPv6 sessions with the ToR Established: $want"
done

block6_of() {
	ectl get --prefix /tabby/v1/ipam/blocks/ | grep -B1 "\"host:h$1\"" | grep '^/tabby' |
		xargs -n1 basename | sed 's/-\([0-9]*\)$/\/\1/' | grep ':' | head -1
}
for n in $H_ALL; do
	BLOCK6[$n]=$(block6_of "$n")
	[ -n "${BLOCK6[$n]}" ] || fail "h$n has no IPv6 block"
done
# "prefix peer" per IPv6 route the ToR holds
tor_routes6() {
	tor_vtysh -c 'show bgp ipv6 unicast json' | python3 -c '
import json,sys
d=json.load(sys.stdin)
for p,paths in sorted(d.get("routes",{}).items()):
    for x in paths:
        print(p, x.get("peerId",""))'
}
want6=$(for n in $H_ALL; do echo "${BLOCK6[$n]} 2001:db8:18::1$n"; done | sort)
got6() { [ "$(tor_routes6 | sort)" = "$want6" ]; }
wait_for 30 got6 || { echo "want:"; echo "$want6"; echo "got:"; tor_routes6; fail "the ToR learns exactly each host's IPv6 block from that host"; }
ok "the ToR learns exactly each host's IPv6 block over its IPv6 session, nothing else"
check "the ToR has no IPv6 route over the IPv4 sessions (IPv6 channel only on IPv6 sessions)" bash -c \
	"! vtysh -N $TOR -c 'show bgp ipv6 unicast json' 2>/dev/null | grep -q '\"peerId\":\"198.18'"
for n in $H_ALL; do
	m=$((3 - n))
	check "h$n's kernel routes h$m's IPv6 block ${BLOCK6[$m]} (proto bird)" wait_for 30 bash -c \
		"ip -n ${HNS[$n]} -6 route show ${BLOCK6[$m]} proto bird | grep -q via"
done

plus5() { python3 -c 'import ipaddress,sys; print(ipaddress.ip_network(sys.argv[1]).network_address + 5)' "$1"; }
for n in $H_ALL; do
	IP6[$n]=$(plus5 "${BLOCK6[$n]}")
	ns_add "w$n"; W=$NS_LAST; WNS[$n]=$W
	H=${HNS[$n]}
	ifn=tby$(printf '%s' "default.w$n" | sha1sum | cut -c1-11)
	ip -n "$H" link add "$ifn" type veth peer name eth0 netns "$W"
	ip -n "$H" link set "$ifn" address ee:ee:ee:ee:ee:ee up
	ip -n "$W" addr add "${IP6[$n]}/128" dev eth0 nodad
	ip -n "$W" link set eth0 up
	ip -n "$W" -6 route add default via fe80::ecee:eeff:feee:eeee dev eth0
	mac=$(ip -n "$W" -o link show eth0 | sed -n 's/.*link\/ether \([0-9a-f:]*\).*/\1/p')
	c="w${n}w${n}w${n}w${n}w${n}w${n}"
	ectl put "/tabby/v1/workloadendpoints/default/h$n-cni-$c-eth0" \
		'{"apiVersion":"projectcalico.org/v3","kind":"WorkloadEndpoint","metadata":{"name":"h'$n'-cni-'$c'-eth0","namespace":"default"},"spec":{"orchestrator":"cni","node":"h'$n'","containerID":"'$c'","endpoint":"eth0","interfaceName":"'$ifn'","mac":"'$mac'","ipNetworks":["'${IP6[$n]}'/128"]}}' >/dev/null
	check "h$n workload route ${IP6[$n]}/128 proto 81" wait_for 10 bash -c \
		"ip -n $H -6 route show ${IP6[$n]}/128 | grep -q 'dev $ifn proto 81'"
done
ping6_ok() { ip netns exec "${WNS[$1]}" ping -6 -c 1 -W 1 "$2" >/dev/null 2>&1; }
check "w1 pings w2 over IPv6 through the ToR" wait_for 15 ping6_ok 1 "${IP6[2]}"
check "w2 pings w1 over IPv6 through the ToR" wait_for 15 ping6_ok 2 "${IP6[1]}"
check "the ToR still holds no /128 under a host's block" bash -c \
	"! vtysh -N $TOR -c 'show bgp ipv6 unicast json' 2>/dev/null | grep -q '/128'"
summary
