#!/bin/bash
# ipv6-iperf.sh [SECS=5] [ROUNDS=3] - IPv6 TCP throughput between two tabby workloads on two lab
# hosts, against a hand-made routed IPv6 path between two plain namespaces, in one run, as a
# ratio.
#
#   tabby     a dual-stack lab (lab/tabby-lab up --ipv6 --hosts 2 --workloads 1 --no-policy; its
#             own prefix and run directory): iperf3 -c in h1-w1 to iperf3 -s in h2-w1, over their
#             IPv6 addresses from default-ipv6-ippool. The path: workload veth -> h1 (route from
#             BGP) -> h1 eth0 -> the ToR's bridge -> h2 eth0 -> h2 (the /128 route felix's peer
#             CNI plugin installed) -> workload veth: two routing hops and a bridge.
#   hand      bench<PID>-a <-veth-> bench<PID>-r (forwarding) <-veth-> bench<PID>-b, addresses
#             2001:db8:30:1::2/64 and 2001:db8:30:2::2/64 (router ::1 on each), static default
#             routes, no BGP, no policy, no tabby: one routing hop, the floor of what veths and a
#             routed hop cost on this machine.
# Both run the same iperf3 (TCP, one stream, SECS seconds, -J), alternated hand, tabby, hand,
# tabby, ... ROUNDS times so that a drift of the shared machine hits both; the figure is each
# side's median receiver throughput, the ratio tabby/hand of the medians, and each round's ratio.
# --no-policy: the lab's example policies would not let port 5201 through (no rule allows it),
# so the lab runs without them; felix's fail-closed base rules still apply.
#
# Prints "FIGURE ipv6_iperf <side> gbit_s=<median> runs=<list>" and "FIGURE ipv6_iperf ratio
# tabby/hand=<r>". Needs root, iperf3, a built tree (BUILD, default <repo>/build-bench or
# $TABBY_BUILD_DIR); cleans up only what it started (its namespaces by name, its lab by `down`).
set -u
. "$(dirname "$0")/lib.sh"
b_need_root
b_need_bins "$FELIX" "$CNI_TABBY" "$CNI_IPAM" "$TABBYCTL"
command -v iperf3 >/dev/null || { echo "missing iperf3 (apt-get install iperf3)" >&2; exit 1; }

SECS=${1:-5}
ROUNDS=${2:-3}
LAB="$B_SRC/lab/tabby-lab"
LAB_RUN="$B_TMP/lab"
LAB_PREFIX="$B_PREFIX"
lab() { TABBY_LAB_PREFIX=$LAB_PREFIX TABBY_LAB_RUN=$LAB_RUN TABBY_BUILD_DIR=$BUILD \
	TABBY_LAB_NO_INSTALL=1 TABBY_LAB_NO_BUILD=1 "$LAB" "$@"; }

bench_cleanup() {
	[ ! -e "$LAB_RUN/.tabby-lab" ] || lab down >/dev/null 2>&1
	b_cleanup
}
trap bench_cleanup EXIT

# ---- the hand-made path -----------------------------------------------------------------------
hand_up() {
	local a b r
	b_ns_add a && a=$NS_LAST
	b_ns_add r && r=$NS_LAST
	b_ns_add b && b=$NS_LAST
	ip netns exec "$r" sysctl -qw net.ipv6.conf.all.forwarding=1
	ip -n "$a" link add eth0 type veth peer name ra netns "$r"
	ip -n "$b" link add eth0 type veth peer name rb netns "$r"
	ip -n "$r" addr add 2001:db8:30:1::1/64 dev ra nodad
	ip -n "$r" addr add 2001:db8:30:2::1/64 dev rb nodad
	ip -n "$a" addr add 2001:db8:30:1::2/64 dev eth0 nodad
	ip -n "$b" addr add 2001:db8:30:2::2/64 dev eth0 nodad
	ip -n "$r" link set ra up
	ip -n "$r" link set rb up
	ip -n "$a" link set eth0 up
	ip -n "$b" link set eth0 up
	ip -n "$a" -6 route add default via 2001:db8:30:1::1
	ip -n "$b" -6 route add default via 2001:db8:30:2::1
	HAND_A=$a HAND_B=$b HAND_DST=2001:db8:30:2::2
	# the first packets may go while neighbour discovery settles: give it a few tries
	for _ in 1 2 3 4 5; do
		ip netns exec "$a" ping -c 1 -W 1 "$HAND_DST" >/dev/null && return 0
	done
	echo "the hand-made path does not work" >&2
	exit 1
}

# iperf_server NETNS ADDR - iperf3 -s bound to ADDR in NETNS (tracked for cleanup).
iperf_server() {
	ip netns exec "$1" iperf3 -s -B "$2" >/dev/null 2>&1 &
	b_track_pid $!
	local i
	for i in $(seq 1 50); do
		ip netns exec "$1" ss -ltn 2>/dev/null | grep -q ':5201 ' && return 0
		sleep 0.1
	done
	echo "iperf3 -s did not listen in $1" >&2
	exit 1
}

# iperf_gbit NETNS_C DST - one run: Gbit/s the receiver saw.
iperf_gbit() {
	ip netns exec "$1" iperf3 -c "$2" -t "$SECS" -J 2>/dev/null | python3 -c '
import json, sys
d = json.load(sys.stdin)
print("%.2f" % (d["end"]["sum_received"]["bits_per_second"] / 1e9))'
}

median() { printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

b_machine
echo "# hand-made path"
hand_up
echo "# tabby lab: up --ipv6 --hosts 2 --workloads 1 --no-policy (prefix $LAB_PREFIX)"
lab up --ipv6 --hosts 2 --workloads 1 --no-policy >"$B_TMP/lab-up.log" 2>&1 ||
	{ tail -n 20 "$B_TMP/lab-up.log" >&2; echo "lab up failed" >&2; exit 1; }
W1=$LAB_PREFIX-h1-w1
W2=$LAB_PREFIX-h2-w1
DST=$(sed -n 's/^WL_IP6=//p' "$LAB_RUN/workloads/h2-w1.env")
ok=0
for _ in 1 2 3 4 5; do ip netns exec "$W1" ping -c 1 -W 1 "$DST" >/dev/null && ok=1 && break; done
[ "$ok" = 1 ] || { echo "h1-w1 cannot ping h2-w1 at $DST" >&2; exit 1; }

iperf_server "$HAND_B" "$HAND_DST"
iperf_server "$W2" "$DST"
hand=() tabby=()
for i in $(seq 1 "$ROUNDS"); do
	g=$(iperf_gbit "$HAND_A" "$HAND_DST") && hand+=("$g")
	g=$(iperf_gbit "$W1" "$DST") && tabby+=("$g")
	echo "# round $i: hand ${hand[-1]:-?} Gbit/s, tabby ${tabby[-1]:-?} Gbit/s"
done
mh=$(median "${hand[@]}")
mt=$(median "${tabby[@]}")
echo "FIGURE ipv6_iperf hand gbit_s=$mh runs=$(IFS=,; echo "${hand[*]}")"
echo "FIGURE ipv6_iperf tabby gbit_s=$mt runs=$(IFS=,; echo "${tabby[*]}")"
echo "FIGURE ipv6_iperf ratio tabby/hand=$(python3 -c "print('%.2f' % ($mt / $mh))") per_round=$(
	python3 -c 'import sys; h, t = sys.argv[1].split(","), sys.argv[2].split(","); print(",".join("%.2f" % (float(b) / float(a)) for a, b in zip(h, t)))' \
		"$(IFS=,; echo "${hand[*]}")" "$(IFS=,; echo "${tabby[*]}")")"
b_load
