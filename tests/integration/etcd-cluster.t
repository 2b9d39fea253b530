#!/bin/bash
# etcd-cluster.t - etcd as a real cluster (issue 12 item 3): a 2-host lab on a 3-member etcd
# (tabby-lab up --etcd-members 3), every client given all three endpoints. While h1-w1 and h2-w1
# ping each other every 10 ms:
#  (a) the raft leader, moved first to the member felix on h1 watches (etcdctl move-leader), is
#      killed with SIGKILL: felix on h1 fails over (readiness: ready again on another member,
#      failovers + 1; its log says it resumes from its revision), a CNI ADD started at the
#      kill succeeds within 10 s and its workload pings h1-w1; the member is started again and
#      rejoins;
#  (b) the member felix on h1 now watches is frozen with SIGSTOP: felix notices within 8 s (no
#      heartbeat answer; readiness names it in lastError) and is ready again on another member
#      without a new snapshot, a CNI ADD still succeeds within 10 s; the member gets SIGCONT.
# Neither costs a packet. The times are printed as "# measured:" lines. TABBY_ETCD_HANG_S
# (default 6) is how long (b) keeps the member frozen; 60 reproduces issue 12's hang and is run
# by etcd-cluster-slow (label slow), which skips unless TABBY_SLOW_TESTS=1
# (TABBY_SLOW_TESTS=1 ctest -L slow).
. "$(dirname "$0")/lib.sh"
need_root
if [ "${TABBY_ETCD_SLOW:-0}" = 1 ] && [ "${TABBY_SLOW_TESTS:-0}" != 1 ]; then
	echo "skipped: the ${TABBY_ETCD_HANG_S:-60} s hang runs with TABBY_SLOW_TESTS=1 (ctest -L slow)"
	exit 77
fi
export TABBY_LAB_PREFIX="ec$$"
. "$(dirname "$0")/etcd-lib.sh"
command -v ping >/dev/null || fail "ping not installed"
HANG_S=${TABBY_ETCD_HANG_S:-6}

lab_up --hosts 2 --workloads 1
check "lab up with 3 etcd members, felix on h1 ready" wait_for 30 is_ready 1
eps=$(sed -n 's/^datastoreEndpoints: //p' "$RUN/h1/felix.yaml")
check "felix is given all 3 endpoints ($eps)" [ "$(tr ',' '\n' <<<"$eps" | grep -c '^unix://')" = 3 ]
check "the CNI config lists all 3 endpoints" \
	grep -q "\"datastore_endpoints\": \"$eps\"" "$RUN/h2/net.conf"
IP1=$(wl_ip 1)
IP2=$(wl_ip 2)
check "h1-w1 pings h2-w1 before any fault" ip netns exec "$P-h1-w1" ping -c 1 -W 2 "$IP2"

start_ping 1 "$IP2" h1-h2
start_ping 2 "$IP1" h2-h1
sleep 0.5

# ---- (a) kill -9 the leader -----------------------------------------------------------------
W=$(watched 1)
L=$(leader)
[ -n "$W" ] && [ -n "$L" ] || fail "felix h1 watches a member ($W) and there is a leader ($L)"
if [ "$L" != "$W" ]; then
	"$LAB" etcdctl move-leader "$(member_id "$W")" >"$T_TMP/move.log" 2>&1 ||
		{ cat "$T_TMP/move.log"; fail "etcdctl move-leader to member $W"; }
	wait_for 10 leader_is "$W" || true
	L=$(leader)
fi
check "the leader is member $W, the one felix on h1 watches" [ "$L" = "$W" ]
F0=$(failovers 1)
LOG0=$(wc -l <"$RUN/h1/felix.log")
pid=$(member_pid "$L")
ns_add add-a # here, not in the background subshell: t_cleanup deletes it
t0=$(now_ms)
kill -9 "$pid"
cni_add 2 add-a >/dev/null 2>&1 &
addpid=$!
wait_for 15 ready_on_other 1 "$L" "$F0" || fail "felix h1 ready again on another member after the leader kill"
t1=$(now_ms)
ok "felix on h1 is ready on member $(watched 1) after the kill of leader $L"
echo "# measured: leader kill -> felix h1 ready on another member: $((t1 - t0)) ms"
wait "$addpid"
rc=$?
echo "# measured: CNI ADD started at the leader kill: $(cat "$T_TMP/add-a.ms") ms, status $rc"
check "CNI ADD during the leader failover succeeds" [ "$rc" = 0 ]
check "CNI ADD during the leader failover took < 10 s" [ "$(cat "$T_TMP/add-a.ms")" -lt 10000 ]
check "the new workload (h2) pings h1-w1" wait_for 5 ip netns exec "$T_PREFIX-add-a" ping -c 1 -W 1 "$IP1"
tail -n +"$((LOG0 + 1))" "$RUN/h1/felix.log" >"$T_TMP/felix-a.log"
sed 's/^/#   felix h1: /' "$T_TMP/felix-a.log" | grep -i datastore | head -5
check "felix h1 logs the failover, resuming from its revision" \
	grep -q 'datastore watch .*resuming from revision' "$T_TMP/felix-a.log"
check "felix h1 did not take a new snapshot (it resumed)" \
	bash -c "! grep -q 'resnapshot\|in sync with the datastore' '$T_TMP/felix-a.log'"
check "a new leader was elected" wait_for 10 has_leader
check "tabby-lab etcd-start $L" "$LAB" etcd-start "$L"
check "member $L is back: 3 members healthy" \
	bash -c "[ \$(\"$LAB\" etcdctl endpoint health 2>&1 | grep -c 'is healthy') = 3 ]"

# ---- (b) SIGSTOP the member felix watches ---------------------------------------------------
S=$(watched 1)
[ -n "$S" ] || fail "felix h1 watches a member"
F0=$(failovers 1)
LOG0=$(wc -l <"$RUN/h1/felix.log")
pid=$(member_pid "$S")
ns_add add-b # here, not in the background subshell: t_cleanup deletes it
t0=$(now_ms)
kill -STOP "$pid"
cni_add 2 add-b >/dev/null 2>&1 &
addpid=$!
saw_unready=no t_unready=""
end=$((t0 + 15000))
while [ "$(now_ms)" -lt "$end" ]; do
	if ready_on_other 1 "$S" "$F0"; then break; fi
	if [ "$saw_unready" = no ] && ! is_ready 1; then saw_unready=yes t_unready=$(now_ms); fi
	sleep 0.05
done
t1=$(now_ms)
ready_on_other 1 "$S" "$F0" || { readiness 1; fail "felix h1 ready again on another member with member $S frozen"; }
echo "# measured: SIGSTOP -> felix h1 ready on member $(watched 1): $((t1 - t0)) ms (not-ready seen: $saw_unready${t_unready:+ at $((t_unready - t0)) ms})"
check "felix h1 noticed the frozen member within 8 s" [ $((t1 - t0)) -lt 8000 ]
err=$(ready_field 1 'd["datastoreWatch"]["lastError"]')
echo "# readiness lastError: $err"
check "readiness names the frozen member's missed heartbeat" \
	bash -c "grep -q 'etcd.sock:$(member_port "$S").*heartbeat' <<<'$err'"
wait "$addpid"
rc=$?
echo "# measured: CNI ADD started at the SIGSTOP: $(cat "$T_TMP/add-b.ms") ms, status $rc"
check "CNI ADD with a frozen member succeeds" [ "$rc" = 0 ]
check "CNI ADD with a frozen member took < 10 s" [ "$(cat "$T_TMP/add-b.ms")" -lt 10000 ]
check "the new workload (h2) pings h1-w1" wait_for 5 ip netns exec "$T_PREFIX-add-b" ping -c 1 -W 1 "$IP1"
left=$((HANG_S * 1000 - ($(now_ms) - t0)))
[ "$left" -le 0 ] || sleep "$((left / 1000)).$(printf '%03d' $((left % 1000)))"
check "felix h1 is still ready after ${HANG_S} s with member $S frozen" is_ready 1
kill -CONT "$pid"
tail -n +"$((LOG0 + 1))" "$RUN/h1/felix.log" >"$T_TMP/felix-b.log"
sed 's/^/#   felix h1: /' "$T_TMP/felix-b.log" | grep -i datastore | head -5
check "felix h1 logs the missed heartbeat" grep -q 'no heartbeat answer' "$T_TMP/felix-b.log"
check "felix h1 resumed from its revision (no new snapshot)" \
	bash -c "grep -q 'resuming' '$T_TMP/felix-b.log' && ! grep -q 'resnapshot\|in sync with the datastore' '$T_TMP/felix-b.log'"
check "member $S answers again after SIGCONT" \
	wait_for 10 bash -c "[ \$(\"$LAB\" etcdctl endpoint health 2>&1 | grep -c 'is healthy') = 3 ]"

sleep 0.5
stop_pings 500 h1-h2 h2-h1
check "felix h1 is ready at the end" is_ready 1
check "felix h2 is ready at the end" is_ready 2
summary
