#!/bin/bash
# Every golden bird.conf (tests/golden/bird/*.conf, written by tests/unit/test-bird-conf.c) must be
# accepted by the real BIRD 2 parser: `bird -p -c FILE`. Needs only the bird binary.
#
# As root, it also runs the rendered route-reflector config (rr.conf, h1 = 198.18.0.11) in a
# namespace with a hand-written BIRD client (h2 = 198.18.0.12) next to it and checks what the
# filters let through: h1 announces its blocks and a borrowed /32 but not a workload /32 inside
# its block nor anything outside the pools, and installs in the kernel only what it learned over
# BGP inside a pool.
. "$(dirname "$0")/lib.sh"

command -v bird >/dev/null || { echo "skipped: bird not installed"; exit 77; }
GOLDEN="$T_SRC/tests/golden/bird"

n=0
for f in "$GOLDEN"/*.conf; do
	[ -e "$f" ] || continue
	n=$((n + 1))
	if out=$(bird -p -c "$f" 2>&1); then
		ok "bird -p accepts $(basename "$f")"
	else
		echo "$out"
		fail "bird -p rejects $(basename "$f")"
	fi
done
[ "$n" -ge 4 ] || fail "expected at least 4 golden files in $GOLDEN, found $n"

if [ "$(id -u)" != 0 ]; then
	echo "# not root: skipping the filter check with two BIRDs"
	summary
	exit
fi

ns_add h1; H1=$NS_LAST
ns_add h2; H2=$NS_LAST
ip link add tg-h1 netns "$H1" type veth peer name tg-h2 netns "$H2" || fail "veth"
ip -n "$H1" addr add 198.18.0.11/24 dev tg-h1
ip -n "$H2" addr add 198.18.0.12/24 dev tg-h2
ip -n "$H1" link set tg-h1 up
ip -n "$H2" link set tg-h2 up
ip -n "$H1" route add default via 198.18.0.1
# A workload veth on h1 (both ends stay in h1), its /32 inside the own block, a borrowed /32 in
# the pool outside every block, a /32 outside the pools, a non-host route inside the pool.
ip -n "$H1" link add tbytest0 type veth peer name tbytest1
ip -n "$H1" link set tbytest0 up
ip -n "$H1" link set tbytest1 up
ip -n "$H1" route add blackhole 198.19.0.0/26 proto 81
for r in 198.19.0.5/32 198.19.1.7/32 198.20.0.1/32; do
	ip -n "$H1" route add "$r" dev tbytest0 proto 81
done
ip -n "$H1" route add 198.19.2.0/24 dev tg-h1 proto 81

sed "s|^log .*|log \"$T_TMP/h1.log\" all;|" "$GOLDEN/rr.conf" >"$T_TMP/h1.conf"
cat >"$T_TMP/h2.conf" <<EOF
router id 198.18.0.12;
log "$T_TMP/h2.log" all;
protocol device { scan time 10; }
protocol static { ipv4; route 198.19.0.64/26 blackhole; route 198.20.0.0/24 blackhole; }
protocol bgp h1 {
	local 198.18.0.12 as 64512;
	neighbor 198.18.0.11 as 64512;
	direct;
	connect delay time 1; connect retry time 1; error wait time 1, 5;
	ipv4 { import all; export all; };
}
EOF
ip netns exec "$H1" bird -f -c "$T_TMP/h1.conf" -s "$T_TMP/h1.ctl" -P "$T_TMP/h1.pid" &
track_pid $!
ip netns exec "$H2" bird -f -c "$T_TMP/h2.conf" -s "$T_TMP/h2.ctl" -P "$T_TMP/h2.pid" &
track_pid $!

established() { birdc -s "$T_TMP/h2.ctl" show protocols h1 | grep -q Established; }
wait_for 30 established || {
	birdc -s "$T_TMP/h1.ctl" show protocols
	birdc -s "$T_TMP/h2.ctl" show protocols
	fail "h1 (rr.conf) and h2 reach Established"
}
ok "h1 (rr.conf) and h2 reach Established"

# What h2 learned from h1 = what tabby_export_bgp let out.
got_route() { birdc -s "$T_TMP/h2.ctl" show route protocol h1 | grep -q "^$1 "; }
for p in 198.19.0.0/26 198.19.4.0/26 198.19.1.7/32; do
	wait_for 10 got_route "$p" || fail "h1 announces $p"
	ok "h1 announces $p"
done
h2_routes=$(birdc -s "$T_TMP/h2.ctl" show route protocol h1)
for p in 198.19.0.5/32 198.20.0.1/32 198.19.2.0/24 0.0.0.0/0 198.18.0.0/24; do
	if grep -q "^$p " <<<"$h2_routes"; then
		echo "$h2_routes"
		fail "h1 does not announce $p"
	fi
	ok "h1 does not announce $p"
done

# What h1's kernel got = what tabby_kernel_export let in (BIRD's routes carry proto bird).
kernel_has() { ip -n "$H1" route show proto bird | grep -q "^$1 via 198.18.0.12"; }
wait_for 10 kernel_has 198.19.0.64/26 || fail "h1 installs h2's block 198.19.0.64/26 via h2"
ok "h1 installs h2's block 198.19.0.64/26 via h2"
bird_routes=$(ip -n "$H1" route show proto bird)
if [ "$(wc -l <<<"$bird_routes")" != 1 ]; then
	echo "$bird_routes"
	fail "h1 installs nothing else (not 198.20.0.0/24, not its own routes)"
fi
ok "h1 installs nothing else (not 198.20.0.0/24, not its own routes)"
summary
