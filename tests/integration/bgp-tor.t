#!/bin/bash
# bgp-tor.t - `tabby-lab up --topology tor`: FRR as the ToR (AS 65000) on p2p /31 links, one eBGP
# session per host from a node-specific BGPPeer with BFD. Real daemons, real kernels:
#  - every host's session is Established (tabbyctl node status -o json), and so is the ToR's;
#  - the ToR (vtysh -N <tor> 'show ip bgp json') learns exactly the hosts' blocks, each from its
#    owner, and nothing else (no host routes, no /32 under an owned block);
#  - every workload pair across hosts pings, through the ToR;
#  - a changed BGPPeer AS takes effect without restarting BIRD (same PID, session drops, and
#    comes back when reverted);
#  - with BFD, freezing a host's BIRD (SIGSTOP: no TCP close, only silence) makes the ToR
#    withdraw its block from the other hosts' kernels long before the 9 s hold time;
#  - the shared-AS variant (--host-as shared: allow local as) also reaches every workload.
. "$(dirname "$0")/lib.sh"
need_root
command -v vtysh >/dev/null && [ -x /usr/lib/frr/bgpd ] || { echo "skipped: frr not installed"; exit 77; }
export TABBY_LAB_PREFIX="bt$$"
. "$(dirname "$0")/bgp-lib.sh"
H=3
TOR="$TABBY_LAB_PREFIX-tor"

lab_up --topology tor --hosts $H --workloads 1
for n in $(seq 1 $H); do
	wait_for 30 all_established "$n" 1 || fail "h$n: its one ToR session is Established"
	ok "h$n: its one ToR session is Established (tabbyctl node status)"
done
tor_json() { vtysh -N "$TOR" -c 'show ip bgp json' 2>/dev/null; }
# "prefix nexthop aspath" per route the ToR holds
tor_routes() {
	tor_json | python3 -c '
import json,sys
d=json.load(sys.stdin)
for p,paths in sorted(d.get("routes",{}).items()):
    for x in paths:
        print(p, x["nexthops"][0]["ip"], x.get("path",""))'
}
want=""
for n in $(seq 1 $H); do
	b=$(kernel_block "$n")
	[ -n "$b" ] || fail "h$n has a block (blackhole proto 81)"
	want+="$b 198.18.1.$((2 * n - 1)) $((64600 + n))"$'\n'
done
want=$(sort <<<"$want" | sed '/^$/d')
got_routes() { [ "$(tor_routes | sort)" = "$want" ]; }
wait_for 20 got_routes || { echo "want:"; echo "$want"; echo "got:"; tor_routes; fail "the ToR learns exactly each host's block from that host"; }
ok "the ToR learns exactly each host's block from that host, nothing else (no /32)"

for n in $(seq 1 $H); do
	for m in $(seq 1 $H); do
		[ "$n" = "$m" ] && continue
		check "h$n-w1 pings h$m-w1 ($(wl_ip "$m")) through the ToR" ping_ok "$n" "$(wl_ip "$m")"
	done
done
hops=$(ip netns exec "$TABBY_LAB_PREFIX-h1-w1" ping -c 1 -W 2 "$(wl_ip 3)" | grep -o 'ttl=[0-9]*')
check "the reply crossed h3, the ToR and h1 (ttl=61, $hops)" [ "$hops" = "ttl=61" ]

# A changed BGPPeer AS reaches BIRD by `configure`, not a restart.
pid=$(cat "$RUN/h1/bird.pid")
peer_yaml() {
	cat <<Y
apiVersion: projectcalico.org/v3
kind: BGPPeer
metadata:
  name: tor-h1
spec:
  node: h1
  peerIP: 198.18.1.0
  asNumber: $1
  keepaliveTime: 3s
  holdTime: 9s
  bfd:
    enabled: true
    interval: 100ms
    multiplier: 3
Y
}
peer_yaml 65001 | ctl apply -f - >/dev/null || fail "apply BGPPeer tor-h1 with asNumber 65001"
wait_for 20 grep -q "neighbor 198.18.1.0 as 65001;" "$RUN/h1/bird.conf" || fail "felix re-renders h1's bird.conf with AS 65001"
ok "felix re-renders h1's bird.conf with AS 65001"
wait_for 20 est_is 1 0 || fail "h1's session leaves Established (the ToR is AS 65000)"
ok "h1's session leaves Established (the ToR is AS 65000)"
peer_yaml 65000 | ctl apply -f - >/dev/null || fail "apply BGPPeer tor-h1 back to 65000"
wait_for 30 all_established 1 1 || fail "h1's session is Established again"
ok "h1's session is Established again after reverting the AS"
check "BIRD on h1 was never restarted (pid $pid)" [ "$(cat "$RUN/h1/bird.pid")" = "$pid" ] && kill -0 "$pid"
check "bird.conf is mode 0600" [ "$(stat -c %a "$RUN/h1/bird.conf")" = 600 ]

# BFD: freeze h1's BIRD; the ToR's BFD session times out (300 ms) and the ToR withdraws h1's
# block from h2. Without BFD this would take the 9 s hold time.
b1=$(kernel_block 1)
wait_for 10 has_route 2 "$b1" || fail "h2 routes h1's block $b1"
kill -STOP "$pid"
wait_for 8 no_route 2 "$b1" || { kill -CONT "$pid"; fail "h2 drops h1's block after h1's BIRD froze"; }
reset=$(tor_vtysh -c 'show bgp neighbors 198.18.1.1 json' | python3 -c 'import json,sys; print(json.load(sys.stdin)["198.18.1.1"].get("lastNotificationReason",""))')
kill -CONT "$pid"
ok "h2 drops h1's block after h1's BIRD froze"
check "the ToR dropped h1's session because BFD went down, not on the 9 s hold timer (last notification: $reset)" \
	[ "$reset" = "Cease/BFD Down" ]
wait_for 30 has_route 2 "$b1" || fail "h1's block comes back once BIRD runs again"
ok "h1's block comes back once BIRD runs again"
lab_down

# Every host in AS 64512: the ToR's routes carry our own AS; allow local as 1 accepts them.
lab_up --topology tor --host-as shared --hosts 2 --workloads 1
grep -q "allow local as 1;" "$RUN/h1/bird.conf" || fail "shared AS: bird.conf allows the local AS once"
ok "shared AS: bird.conf allows the local AS once"
check "shared AS: h1-w1 pings h2-w1" ping_ok 1 "$(wl_ip 2)"
check "shared AS: h2-w1 pings h1-w1" ping_ok 2 "$(wl_ip 1)"
check "shared AS: h1 learned h2's block over BGP via the ToR" \
	bird_route 1 "$(kernel_block 2)" "via 198.18.1.0 "
lab_down
summary
