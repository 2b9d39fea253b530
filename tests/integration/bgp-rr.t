#!/bin/bash
# bgp-rr.t - `tabby-lab up --topology rr`: h1 and h2 reflect (one cluster id), the mesh is off.
# Real daemons, real kernels:
#  - reflectors have a session with every other host, clients with the two reflectors only,
#    all Established (tabbyctl node status -o json), named Node_<address>;
#  - every workload pair across hosts pings; a client learns another client's block through a
#    reflector with the originator as next hop (traffic does not pass through the reflector);
#  - shutting one reflector's BIRD down leaves every client route learned from the other
#    reflector alone, still with the originator as next hop, and client pings still pass.
. "$(dirname "$0")/lib.sh"
need_root
export TABBY_LAB_PREFIX="br$$"
. "$(dirname "$0")/bgp-lib.sh"
H=4
bgp_host_ip() { echo "198.18.0.$((10 + $1))"; }

lab_up --topology rr --hosts $H --workloads 1
for n in 1 2; do
	wait_for 30 all_established "$n" $((H - 1)) || fail "reflector h$n: $((H - 1)) sessions Established"
	ok "reflector h$n: $((H - 1)) sessions Established"
done
for n in 3 4; do
	wait_for 30 all_established "$n" 2 || fail "client h$n: 2 sessions (the reflectors) Established"
	ok "client h$n: 2 sessions (the reflectors) Established"
done
check "h3's sessions are node-specific peers h1 and h2" \
	[ "$("$CTL" node status --bird-socket "$RUN/h3/bird.ctl" -o json | python3 -c 'import json,sys; print(" ".join(sorted(p["protocol"] for p in json.load(sys.stdin))))')" = "Node_198_18_0_11 Node_198_18_0_12" ]
for n in $(seq 1 $H); do
	for m in $(seq 1 $H); do
		[ "$n" = "$m" ] && continue
		check "h$n-w1 pings h$m-w1" ping_ok "$n" "$(wl_ip "$m")"
	done
done
b4=$(kernel_block 4)
check "h3 routes h4's block $b4 via h4 itself (next hop kept by the reflector)" \
	bird_route 3 "$b4" "via 198.18.0.14 "
check "h3 learned it through a reflector (cluster list 244.0.0.1)" \
	bash -c "birdc -s '$RUN/h3/bird.ctl' show route '$b4' all | grep -q 'BGP.cluster_list: 244.0.0.1'"

# One reflector goes away. `birdc down` closes its sessions with a Cease, so the clients drop
# its paths at once (a SIGKILL would leave them as graceful-restart stale routes for 120 s and
# prove nothing): every client route must now come from h2 alone.
bird_ctl 1 down >/dev/null
wait_for 20 est_is 3 1 || fail "h3 lost its session to h1"
ok "h3 lost its session to h1 (h1's BIRD shut down)"
# paths_of N PREFIX - the protocols hN's BIRD has PREFIX from, one line, sorted
paths_of() { bird_ctl "$1" show route "$2" | grep -o 'Node_[0-9_]*' | sort -u | tr '\n' ' '; }
only_h2() { [ "$(paths_of "$1" "$2")" = "Node_198_18_0_12 " ]; }
for n in 3 4; do
	for m in 2 3 4; do
		[ "$n" = "$m" ] && continue
		b=$(kernel_block "$m")
		wait_for 10 only_h2 "$n" "$b" || fail "h$n has h$m's block $b from h2 only (got: $(paths_of "$n" "$b"))"
		ok "h$n has h$m's block $b from h2 only, h1's path withdrawn"
		check "h$n's kernel still routes h$m's block $b via h$m ($(bgp_host_ip "$m"))" \
			bird_route "$n" "$b" "via $(bgp_host_ip "$m") "
	done
done
check "h3-w1 still pings h4-w1" ping_ok 3 "$(wl_ip 4)"
check "h4-w1 still pings h2-w1" ping_ok 4 "$(wl_ip 2)"
lab_down
summary
