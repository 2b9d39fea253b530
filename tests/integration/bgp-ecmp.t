#!/bin/bash
# bgp-ecmp.t - equal-cost multipath from BGP into the kernel (`merge paths on`).
#
# Where two equal paths come from: a host that learns one prefix from two upstream routers (the
# dual-ToR case `merge paths` is there for). The lab's topologies have one ToR, and two tabby
# hosts announcing the same /32 do not give equal paths either (each originator prefers the
# other's BGP route, preference 100, over its own kernel-learned one, preference 10, and stops
# announcing), so the test builds the smallest topology that does: two extra routers "up1" and
# "up2" (plain BIRD, AS 65101 and 65102) on the mesh lab's fabric bridge, both announcing the
# anycast address 198.19.250.1/32 (inside the pool, outside every block) that each holds on its
# loopback. h1 peers with them through two node-specific BGPPeers, rendered by tabby-felix.
# Real daemons, real kernels:
#  - h1's BIRD has two equal eBGP paths and installs ONE kernel route with both next hops;
#  - the kernel really spreads flows over both (route lookups of 64 UDP flows, L4 hash);
#  - h1-w1 reaches the address; the other hosts are untouched (no path to it: h1 does not
#    re-export eBGP routes to the mesh, only its blocks and borrowed /32s);
#  - when up2 withdraws, h1's route falls back to one next hop, and the address still answers.
. "$(dirname "$0")/lib.sh"
need_root
export TABBY_LAB_PREFIX="be$$"
. "$(dirname "$0")/bgp-lib.sh"
ANY=198.19.250.1
TOR="$TABBY_LAB_PREFIX-tor"
hns() { echo "$TABBY_LAB_PREFIX-h$1"; }

# gateways N - the next hops of hN's kernel route to $ANY, sorted, one line
gateways() {
	ip -n "$(hns "$1")" -j route show "$ANY/32" | python3 -c '
import json,sys
r=json.load(sys.stdin)
gw=[n["gateway"] for x in r for n in x.get("nexthops",[])] + [x["gateway"] for x in r if "gateway" in x]
print(" ".join(sorted(gw)))'
}
gw_is() { [ "$(gateways "$1")" = "$2" ]; }
# flow_paths NS - the distinct next hops the kernel of NS picks for 64 UDP flows to $ANY
flow_paths() {
	local p
	ip netns exec "$1" sysctl -qw net.ipv4.fib_multipath_hash_policy=1
	for p in $(seq 20000 20063); do
		ip -n "$1" route get "$ANY" ipproto udp sport "$p" dport 53 | grep -o 'via [0-9.]*'
	done | sort -u | awk '{print $2}' | tr '\n' ' ' | sed 's/ $//'
}

# upstream K - router upK: namespace on the fabric bridge, 198.18.0.(100+K)/24, AS 6510K, the
# anycast address on lo, one eBGP session with h1 (announces $ANY, installs what h1 announces).
upstream() {
	local k=$1 ns d="$T_TMP/up$1" ip="198.18.0.$((100 + $1))"
	ns_add "up$k"
	ns=$NS_LAST
	mkdir -p "$d"
	ip -n "$TOR" link add "tup$k" type veth peer name eth0 netns "$ns" || return 1
	ip -n "$TOR" link set "tup$k" master br0 up || return 1
	ip -n "$ns" addr add "$ip/24" dev eth0 && ip -n "$ns" link set eth0 up || return 1
	ip -n "$ns" addr add "$ANY/32" dev lo || return 1
	cat >"$d/bird.conf" <<EOF
router id $ip;
protocol device { }
protocol kernel { ipv4 { import none; export all; }; }
protocol static { ipv4; route $ANY/32 blackhole; }
protocol bgp h1 {
	local $ip as 6510$k;
	neighbor 198.18.0.11 as 64512;
	connect delay time 1; connect retry time 2; error wait time 1, 5;
	ipv4 { import all; export filter { if net = $ANY/32 then accept; reject; }; };
}
EOF
	ip netns exec "$ns" bird -c "$d/bird.conf" -s "$d/bird.ctl" -P "$d/bird.pid" || return 1
	wait_for 10 test -s "$d/bird.pid" || return 1
	track_pid "$(cat "$d/bird.pid")"
	cat <<EOF | ctl apply -f - >/dev/null
apiVersion: projectcalico.org/v3
kind: BGPPeer
metadata:
  name: up$k
spec:
  node: h1
  peerIP: $ip
  asNumber: 6510$k
EOF
}

lab_up --hosts 3 --workloads 1
for n in 1 2 3; do wait_for 30 all_established "$n" 2 || fail "mesh: h$n has 2 sessions Established"; done
ok "mesh: every host has 2 sessions Established"
upstream 1 || fail "router up1 (AS 65101) on the fabric"
upstream 2 || fail "router up2 (AS 65102) on the fabric"
wait_for 30 all_established 1 4 || fail "h1 has 4 sessions Established (2 mesh, up1, up2)"
ok "h1 has 4 sessions Established (2 mesh, up1, up2; BGPPeers rendered by felix)"
wait_for 20 gw_is 1 "198.18.0.101 198.18.0.102" ||
	fail "h1's kernel has one multipath route to $ANY via up1 and up2 (got: $(gateways 1))"
ok "h1's kernel has one multipath route to $ANY via up1 and up2 (merge paths)"
check "it is BIRD's route (proto bird), exactly one of it" \
	[ "$(ip -n "$(hns 1)" route show "$ANY/32" proto bird | grep -c "^$ANY")" = 1 ]
check "h1's BIRD holds two paths for $ANY (Node_198_18_0_101, Node_198_18_0_102)" \
	[ "$(bird_ctl 1 show route "$ANY/32" | grep -oE 'Node_198_18_0_10[12]' | sort -u | wc -l)" = 2 ]
check "h1's kernel spreads 64 UDP flows over both next hops" \
	[ "$(flow_paths "$(hns 1)")" = "198.18.0.101 198.18.0.102" ]
check "h1-w1 reaches $ANY" ping_ok 1 "$ANY"
check "h2 has no route to $ANY (h1 does not pass eBGP routes to the mesh)" no_route 2 "$ANY/32"

birdc -s "$T_TMP/up2/bird.ctl" disable h1 >/dev/null || fail "up2 withdraws (disable its session)"
wait_for 20 gw_is 1 "198.18.0.101" || fail "after up2 withdraws, h1 routes $ANY via up1 only (got: $(gateways 1))"
ok "after up2 withdraws, h1 routes $ANY via up1 only"
check "h1-w1 still reaches $ANY" ping_ok 1 "$ANY"
birdc -s "$T_TMP/up2/bird.ctl" enable h1 >/dev/null || fail "up2 announces again"
wait_for 30 gw_is 1 "198.18.0.101 198.18.0.102" || fail "up2 back: two next hops again (got: $(gateways 1))"
ok "up2 back: h1's route has two next hops again"
lab_down
summary
