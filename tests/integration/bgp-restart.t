#!/bin/bash
# bgp-restart.t - hitless BIRD restarts (issue 12 item 1). For each topology in
# TABBY_BGP_RESTART_TOPOLOGIES (default "mesh rr tor"; about 15 s each), a 3-host lab is brought
# up and BIRD on h1 is killed with SIGKILL and started again with -R (`tabby-lab bird-restart 1`)
# while workloads ping across hosts every 10 ms:
#  - h1-w1 -> h2-w1 (h1's kernel routes from BIRD, h2's routes to h1) and h3-w1 -> h1-w1 lose
#    0 packets, from before the kill until after the graceful-restart recovery has ended (BIRD's
#    kernel sync would then remove anything it did not re-learn);
#  - h1's sessions come back Established, its recovery ends (`show status`), h2 holds no stale
#    route any more.
# The lab's first start is without -R (nothing to recover; checked) and the rendered bird.conf
# bounds any recovery (`graceful restart wait`, 10 s in the lab).
# Without -R the same kill loses packets (measured: mesh 53 of 277, tor 13 of 272; issue 12:
# 88-97): the new BIRD's kernel protocol deletes the routes the old one left before BGP has
# re-learned them, so this test fails if a start line loses -R.
. "$(dirname "$0")/lib.sh"
need_root
export TABBY_LAB_PREFIX="bx$$"
. "$(dirname "$0")/bgp-lib.sh"
command -v ping >/dev/null || fail "ping not installed"

H=3
# start_ping FROM_HOST TO_IP NAME - ping every 10 ms from hFROM-w1; output in $T_TMP/NAME.ping
start_ping() {
	ip netns exec "$TABBY_LAB_PREFIX-h$1-w1" ping -n -i 0.01 -W 1 "$2" >"$T_TMP/$3.ping" 2>&1 &
	PING_PIDS+=($!)
	track_pid $!
}
# ping_result NAME - "transmitted received" of a stopped ping
ping_result() {
	sed -n 's/^\([0-9]*\) packets transmitted, \([0-9]*\) received.*/\1 \2/p' "$T_TMP/$1.ping"
}
# gone PID - no such process, or only a zombie left for its reaper
gone() { [ ! -e "/proc/$1" ] || grep -q '^State:.*Z' "/proc/$1/status" 2>/dev/null; }

restart_case() {
	local topo=$1 n pid1 pid2 res tx rx
	# h1 peers with every other host in mesh and as a reflector in rr (H=3: clients have 2
	# sessions too); in tor every host has one session, to the ToR
	local expect=$((H - 1))
	[ "$topo" = tor ] && expect=1
	lab_up --topology "$topo" --hosts $H --workloads 1
	for n in $(seq 1 $H); do
		wait_for 30 all_established "$n" "$expect" || fail "$topo: h$n has $expect sessions Established"
	done
	ok "$topo: every session Established"
	# A first start recovers nothing: without -R, BIRD exports to the kernel at once instead of
	# waiting for every peer's End-of-RIB (a ToR host once waited past the lab's 90 s).
	pid1=$(bird_pid 1)
	check "$topo: the first BIRD on h1 was started without -R" \
		bash -c "! tr '\\0' ' ' </proc/$pid1/cmdline | grep -q -- ' -R '"
	for n in $(seq 1 $H); do
		check "$topo: h$n's BIRD is not in graceful-restart recovery after its first start" \
			bash -c "! birdc -s '$RUN/h$n/bird.ctl' show status | grep -qi 'graceful restart recovery'"
	done
	check "$topo: h1-w1 pings h2-w1 before the restart" ping_ok 1 "$(wl_ip 2)"
	check "$topo: h3-w1 pings h1-w1 before the restart" ping_ok 3 "$(wl_ip 1)"

	PING_PIDS=()
	start_ping 1 "$(wl_ip 2)" "$topo-h1-h2"
	start_ping 3 "$(wl_ip 1)" "$topo-h3-h1"
	sleep 1
	pid1=$(bird_pid 1)
	"$LAB" bird-restart 1 >"$T_TMP/restart.log" 2>&1 || { cat "$T_TMP/restart.log"; fail "$topo: tabby-lab bird-restart 1"; }
	pid2=$(bird_pid 1)
	check "$topo: BIRD on h1 is a new process ($pid1 -> $pid2)" [ "$pid1" != "$pid2" ]
	check "$topo: the old BIRD is gone (or a zombie)" gone "$pid1"
	check "$topo: BIRD on h1 was started with -R" bash -c "tr '\\0' ' ' </proc/$pid2/cmdline | grep -q -- ' -R '"
	wait_for 30 all_established 1 "$expect" || fail "$topo: h1's $expect session(s) Established again"
	ok "$topo: h1's $expect session(s) Established again"
	wait_for 60 bash -c "! birdc -s '$RUN/h1/bird.ctl' show status | grep -qi 'graceful restart recovery'" ||
		fail "$topo: h1's graceful-restart recovery ended"
	ok "$topo: h1's graceful-restart recovery ended (the kernel protocol synced)"
	# The peers still hold h1's routes as stale until h1's End-of-RIB: wait until they are fresh.
	wait_for 30 bash -c "! birdc -s '$RUN/h2/bird.ctl' show route all | grep -qi stale" ||
		fail "$topo: h2 has no stale route left"
	ok "$topo: h2 has no stale route left"
	sleep 2 # ping on past the kernel sync and the peers' refresh
	kill -INT "${PING_PIDS[@]}"
	wait "${PING_PIDS[@]}" 2>/dev/null
	for res in "$topo-h1-h2" "$topo-h3-h1"; do
		read -r tx rx <<<"$(ping_result "$res")"
		[ -n "$tx" ] && [ "$tx" -ge 200 ] || { cat "$T_TMP/$res.ping" | tail -3; fail "$topo: $res sent at least 200 pings (got '${tx:-none}')"; }
		echo "# $topo: $res: $tx transmitted, $rx received, $((tx - rx)) lost"
		check "$topo: $res loses 0 of $tx packets across the BIRD kill + restart" [ "$rx" = "$tx" ]
	done
	[ "$topo" = tor ] || check "$topo: h2 still routes h1's block via h1 (proto bird)" \
		bird_route 2 "$(kernel_block 1)" "via 198.18.0.11 "
	lab_down
}

for topo in ${TABBY_BGP_RESTART_TOPOLOGIES:-mesh rr tor}; do
	restart_case "$topo"
done
summary
