#!/bin/bash
# policy-scale.sh [LOCAL=250] [POLICIES=1000] [REMOTE=100000] - felix policy at scale, both
# backends, one host namespace (see bench/README.md "Policy at scale").
#
#   1. LOCAL real CNI ADDs (label app=app<i%100>), REMOTE remote WorkloadEndpoints written through
#      the etcd JSON gateway in transactions of 100 puts (policy_scale.py remote); no policy yet.
#   2. iperf3 w0 <- w1 (two local workloads, forwarded by the host), no policy: nftables, then
#      iptables (switched with FelixConfiguration default nftablesMode).
#   3. POLICIES NetworkPolicies (+ iperf-allow) written while felix runs on iptables: full
#      compile+render+apply time from felix's "policy applied" log line; iperf3; RSS.
#   4. switch back to nftables: full apply time; iperf3; RSS.
#   5. remote endpoint write -> element in the kernel set, K samples, for nftables then iptables.
#   6. CNI ADD -> to-workload chain with a policy jump, K samples, for nftables then iptables.
#   7. (issue 8) per backend: cold start (median of COLD_RUNS restarts without the cache file),
#      warm start (median of COLD_RUNS restarts with the cache file the previous felix saved at
#      exit: felix/calc/cache-file.c), RSS, idle CPU (IDLE_S s),
#      remote element and local ADD arrival via the nf_tables netlink monitor (bench/nfmon.py),
#      policy flip on real traffic against a hand-written `nft -f`; resync (restart -> full
#      apply) + RSS at 1k/10k/REMOTE remote endpoints. Ends with "FIGURE <backend> <key>
#      <number>" lines (stable keys).
#   OLD_BUILD=<dir> runs everything again afterwards with that build and prints its FIGURE lines as
#   "FIGURE-OLD ..." plus "RATIO <backend> <key> new/old".
# felix's "policy applied" lines end with "calc full|incremental (N endpoint keys, M member
# changes)": steps 5 and 6 should show "calc incremental" (felix/calc/policy-inc.c).
. "$(dirname "$0")/lib.sh"
set -o pipefail
LOCAL=${1:-250}
POLICIES=${2:-1000}
REMOTE=${3:-100000}
K=${K:-5}
IPERF_S=${IPERF_S:-0} # 0: skip the iperf3 steps (issue 3 figures)
IDLE_S=${IDLE_S:-300}
COLD_RUNS=${COLD_RUNS:-3} # cold starts per backend; cold_start_ms is their median
if [ -n "${OLD_BUILD:-}" ] && [ -z "${B_INNER:-}" ]; then
	# Run this build first, then the old one; compare the FIGURE lines.
	OUT_OLD=$(mktemp) OUT_NEW=$(mktemp)
	B_INNER=1 bash "$0" "$@" | tee "$OUT_NEW"
	BUILD=$OLD_BUILD B_INNER=1 bash "$0" "$@" | tee "$OUT_OLD"
	echo "== old ($OLD_BUILD) vs new ($BUILD)"
	# Only the final summary of each run (its lines are also printed as they are measured).
	sed -i -n '/^== figures/,$p' "$OUT_OLD" "$OUT_NEW"
	sed -n 's/^FIGURE /FIGURE-OLD /p' "$OUT_OLD"
	grep '^FIGURE ' "$OUT_NEW"
	awk '/^FIGURE /{k=$2" "$3; if (FILENAME==ARGV[1]) o[k]=$4; else if (k in o && o[k]>0) printf "RATIO %s %.3f\n", k, $4/o[k]}' "$OUT_OLD" "$OUT_NEW"
	rm -f "$OUT_OLD" "$OUT_NEW"
	exit 0
fi
b_need_root
b_need_bins "$FELIX" "$CNI_TABBY" "$CNI_IPAM"
command -v iperf3 >/dev/null || { echo "iperf3 not installed"; exit 1; }
b_machine
echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)  build: $BUILD  local=$LOCAL policies=$POLICIES remote=$REMOTE"

b_etcd_start
b_host_ns h1
NODE=$B_PREFIX-h1
# The pool is 198.19.192.0/18 here: remote endpoints take 198.18.16.0 upwards.
b_put /tabby/v1/ippools/default-ipv4-ippool \
	'{"apiVersion":"projectcalico.org/v3","kind":"IPPool","metadata":{"name":"default-ipv4-ippool"},"spec":{"cidr":"198.19.192.0/18","blockSize":26}}'
b_felix_config "$NODE" "$B_TMP/felix.yaml"
echo "resyncIntervalSecs: 3600" >>"$B_TMP/felix.yaml"
PY() { python3 "$B_DIR/policy_scale.py" "$@"; }
PYH() { ip netns exec "$HOST_NS" python3 "$B_DIR/policy_scale.py" "$@"; }

FIGS=$B_TMP/figures
: >"$FIGS"
fig() { echo "FIGURE $1 $2 $3" | tee -a "$FIGS"; }
now_ms() { echo $(($(date +%s%N) / 1000000)); }
# felix_start BACKEND: start felix, wait for its first "policy applied (BACKEND, full)" line;
# START_MS = ms from the fork to that line appearing in the log. The log is followed by
# `tail -f` (inotify), not polled: a poll loop forks grep and sleep every 10 ms, and on 2 cores
# that CPU came out of felix's start, which uses both since decode-ahead.c.
felix_start() {
	local n0 t0
	n0=$({ wc -l <"$B_TMP/felix.log"; } 2>/dev/null || echo 0)
	t0=$(now_ms)
	local perf=()
	# PERF_COLD=FILE: the per-backend cold start under perf (FILE.<backend>; adds perf's cost)
	[ -n "${PERF_COLD:-}" ] && [ -n "${2:-}" ] && perf=(perf record -q ${PERF_CG:--g} -o "$PERF_COLD.$2" --)
	"${perf[@]}" ip netns exec "$HOST_NS" "$FELIX" --config "$B_TMP/felix.yaml" 2>>"$B_TMP/felix.log" &
	FELIX_PID=$!
	b_track_pid "$FELIX_PID"
	# grep returns at the first match; tail (not waited for) ends with felix (--pid).
	grep -q -m1 -F "policy applied ($1, full)" \
		< <(timeout 900 tail -n +$((n0 + 1)) -f --pid="$FELIX_PID" "$B_TMP/felix.log")
	START_MS=$(($(now_ms) - t0))
	kill -0 "$FELIX_PID" 2>/dev/null || { tail "$B_TMP/felix.log"; exit 1; }
	if [ ${#perf[@]} -gt 0 ]; then # measure and stop felix, not perf
		b_track_pid "$(pgrep -P "$FELIX_PID" | head -1)"
		FELIX_PID=$(pgrep -P "$FELIX_PID" | head -1)
	fi
}
# no_cache: delete the cache file felix saves at exit, so that the next start is cold
no_cache() { rm -f "$B_TMP/felix-datastore.cache"; }
felix_stop() {
	kill "$FELIX_PID"
	for _ in $(seq 1 100); do kill -0 "$FELIX_PID" 2>/dev/null || break; sleep 0.1; done
	kill -9 "$FELIX_PID" 2>/dev/null
	wait "$FELIX_PID" 2>/dev/null
}
rss_mib() { awk '/VmRSS/ {printf "%.1f", $2 / 1024}' "/proc/$FELIX_PID/status"; }
idle_cpu() { # cores used by felix over IDLE_S seconds: utime+stime from /proc/PID/stat plus
	# cutime+cstime, the tools felix ran and waited for (ipset, iptables-restore)
	local a b
	a=$(awk '{print $14 + $15 + $16 + $17}' "/proc/$FELIX_PID/stat")
	if [ -n "${PERF_IDLE:-}" ]; then # PERF_IDLE=FILE: also a perf profile of the idle window
		perf record -q ${PERF_CG:--g} -o "$PERF_IDLE.$1" -p "$FELIX_PID" -- sleep "$IDLE_S" >/dev/null 2>&1
	else
		sleep "$IDLE_S"
	fi
	b=$(awk '{print $14 + $15 + $16 + $17}' "/proc/$FELIX_PID/stat")
	awk -v a="$a" -v b="$b" -v hz="$(getconf CLK_TCK)" -v s="$IDLE_S" 'BEGIN {printf "%.5f", (b - a) / hz / s}'
}
felix_start nftables

for i in $(seq 0 $((LOCAL + 2 * K - 1))); do b_ns_add "w$i"; done
PYH local --n "$LOCAL" --endpoint "$ETCD_UNIX" --build "$BUILD" --netns-prefix "$B_PREFIX" \
	--node "$NODE" || exit 1
b_wait_for 600 bash -c "ip -n $HOST_NS route show proto 81 | grep -c 'scope link' | grep -qx $LOCAL" ||
	{ echo "routes missing"; exit 1; }
settle() { python3 "$B_DIR/procstat.py" quiet "$FELIX_PID" --timeout 900 >/dev/null; }
settle
CUR=nftables

echo "== $POLICIES policies, then resync (felix restart -> full apply) and RSS at 1k / 10k / $REMOTE remote endpoints (nftables)"
PY policies --n "$POLICIES" --endpoint "$ETCD_HTTP" || exit 1
b_wait_for 900 bash -c "grep 'policy applied (nftables' $B_TMP/felix.log | tail -1 | grep -q '$((POLICIES + 1)) policies'" ||
	{ echo "policies never applied"; tail "$B_TMP/felix.log"; exit 1; }
DONE=0
for n in 1000 10000 "$REMOTE"; do
	[ "$n" -gt "$REMOTE" ] && n=$REMOTE
	[ "$n" -le "$DONE" ] && continue
	PY remote --n $((n - DONE)) --start "$DONE" --endpoint "$ETCD_HTTP" || exit 1
	DONE=$n
	settle
	felix_stop
	no_cache
	felix_start nftables
	settle
	lab=$n
	[ $((n % 1000)) = 0 ] && lab=$((n / 1000))k
	fig nftables "resync_ms_$lab" "$START_MS"
	fig nftables "rss_mib_$lab" "$(rss_mib)"
done

W0=$B_PREFIX-w0
W1=$B_PREFIX-w1
W0IP=$(ip -n "$W0" -4 -o addr show eth0 | awk '{print $4}' | cut -d/ -f1)
iperf() { # LABEL: median of 1 run (IPERF_S seconds), Gbit/s; skipped when IPERF_S=0
	[ "$IPERF_S" = 0 ] && return
	ip netns exec "$W0" iperf3 -s -B "$W0IP" -1 >/dev/null 2>&1 &
	local sp=$!
	sleep 0.3
	local g
	g=$(ip netns exec "$W1" iperf3 -c "$W0IP" -t "$IPERF_S" -J 2>/dev/null |
		python3 -c 'import json,sys; print("%.2f" % (json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"]/1e9))')
	wait "$sp" 2>/dev/null
	echo "  iperf3 $1: ${g:-failed} Gbit/s"
	eval "IPERF_$2=${g:-0}"
}
backend() { # nftables|iptables: switch with FelixConfiguration and wait for the full apply
	local mode=Enabled
	[ "$1" = iptables ] && mode=Disabled
	[ "$1" = "$CUR" ] && { settle; return; }
	CUR=$1
	local n0
	n0=$(grep -c "policy applied ($1, full)" "$B_TMP/felix.log")
	b_put /tabby/v1/felixconfigurations/default '{"apiVersion":"projectcalico.org/v3","kind":"FelixConfiguration","metadata":{"name":"default"},"spec":{"nftablesMode":"'$mode'"}}'
	b_wait_for 900 bash -c "[ \$(grep -c 'policy applied ($1, full)' $B_TMP/felix.log) -gt $n0 ]" ||
		{ echo "no full apply on $1"; tail "$B_TMP/felix.log"; exit 1; }
	settle
}
rss() { awk '/VmRSS|VmHWM/ {printf "%s %s kB  ", $1, $2}' "/proc/$FELIX_PID/status"; echo; }

IPERF_NFT0=0 IPERF_IPT0=0
if [ "$IPERF_S" != 0 ]; then # issue 3: full applies and iperf3 with the policies
	echo "== $POLICIES policies"
	backend iptables
	echo "  iptables last full apply: $(grep 'policy applied (iptables, full)' "$B_TMP/felix.log" | tail -1 | sed 's/.*policy applied/policy applied/')"
	iperf "iptables, $POLICIES policies" IPT1
	backend nftables
	echo "  nftables full apply: $(grep 'policy applied (nftables, full)' "$B_TMP/felix.log" | tail -1 | sed 's/.*policy applied/policy applied/')"
	iperf "nftables, $POLICIES policies" NFT1
	echo "  felix: $(rss)"
	awk -v a="$IPERF_NFT1" -v b="$IPERF_NFT0" -v c="$IPERF_IPT1" -v d="$IPERF_IPT0" -v p="$POLICIES" 'BEGIN {
		if (b > 0) printf "  throughput ratio nftables %s policies / none: %.2f\n", p, a / b
		if (d > 0) printf "  throughput ratio iptables %s policies / none: %.2f\n", p, c / d }'
fi

echo "== per backend: cold start, RSS, idle CPU, latencies (nf_tables netlink monitor), policy flip"
SET=$(ip netns exec "$HOST_NS" nft -t list table inet tabby | grep -B3 "role == 'r7'" | sed -n 's/.*set \(s4-[0-9a-f]*\) {.*/\1/p' | head -1)
[ -n "$SET" ] || { echo "no set for role r7"; exit 1; }
W0IP=$(ip -n "$W0" -4 -o addr show eth0 | awk '{print $4}' | cut -d/ -f1)
ST=0
for be in ${BACKENDS:-nftables iptables}; do
	backend "$be"
	# COLD_RUNS restarts; the figure is their median (one start on this VM varies by +-20%)
	cold=()
	for c in $(seq 1 "$COLD_RUNS"); do
		felix_stop
		no_cache
		felix_start "$be" "$be"
		cold+=("$START_MS")
		settle
	done
	echo "  $be cold starts (ms): ${cold[*]}"
	median() { printf '%s\n' "$@" | sort -n | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }
	fig "$be" cold_start_ms "$(median "${cold[@]}")"
	# Restarts with the file the stopped felix saved (a build without it starts cold here too).
	warm=()
	for c in $(seq 1 "$COLD_RUNS"); do
		felix_stop
		felix_start "$be" "$be"
		warm+=("$START_MS")
		[ "$c" -lt "$COLD_RUNS" ] && settle
	done
	echo "  $be warm starts (ms): ${warm[*]}"
	fig "$be" warm_start_ms "$(median "${warm[@]}")"
	settle
	fig "$be" rss_mib "$(rss_mib)"
	fig "$be" idle_cpu_cores "$(idle_cpu "$be")"
	s=$SET
	[ "$be" = iptables ] && s=tby-$SET
	PYH remote-latency --endpoint "$ETCD_UNIX" --host-ns "$HOST_NS" --backend "$be" --set "$s" \
		--count "$K" --start "$((REMOTE + ST))" | tee -a "$FIGS.raw" || exit 1
	PERF=()
	[ -n "${PERF_LOCAL:-}" ] && PERF=(perf record -q ${PERF_CG:--g} -o "$PERF_LOCAL.$be" -p "$FELIX_PID" --)
	"${PERF[@]}" ip netns exec "$HOST_NS" python3 "$B_DIR/policy_scale.py" local-latency --endpoint "$ETCD_UNIX" \
		--host-ns "$HOST_NS" --backend "$be" --count "$K" --start "$((LOCAL + ST))" --build "$BUILD" \
		--netns-prefix "$B_PREFIX" --node "$NODE" | tee -a "$FIGS.raw" || exit 1
	PERF=()
	[ -n "${PERF_FLIP:-}" ] && PERF=(perf record -q ${PERF_CG:--g} -o "$PERF_FLIP.$be" -p "$FELIX_PID" --)
	"${PERF[@]}" ip netns exec "$HOST_NS" python3 "$B_DIR/policy_scale.py" flip --endpoint "$ETCD_UNIX" \
		--host-ns "$HOST_NS" --backend "$be" --count "$K" --netns-prefix "$B_PREFIX" --ip "$W0IP" |
		tee -a "$FIGS.raw" || exit 1
	ST=$((ST + K))
	echo "  applies during the $be runs:"
	grep "policy applied ($be" "$B_TMP/felix.log" | tail -$((4 * K)) | sed 's/.*policy applied/    policy applied/' | cut -c1-200
done
echo "  felix log: $(wc -l <"$B_TMP/felix.log") lines; warnings/errors: $(grep -ciE 'warn|error' "$B_TMP/felix.log")"
b_load
echo "== figures ($(date -u +%H:%M:%SZ), build $BUILD, local=$LOCAL policies=$POLICIES remote=$REMOTE K=$K IDLE_S=$IDLE_S)"
grep '^FIGURE ' "$FIGS.raw" >>"$FIGS" 2>/dev/null
sort -k2,2 -k3,3 "$FIGS"
