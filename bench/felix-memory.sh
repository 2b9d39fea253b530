#!/bin/bash
# felix-memory.sh [LOCAL=250] [NODES=40] [PER_NODE=250] - resident memory of tabby-felix.
#
# VmRSS and VmHWM (peak RSS) from /proc/PID/status, read once felix has processed each stage:
#   (a) idle after start: lab pool, no endpoints (felix registered its Node, claimed a block);
#   (b) + LOCAL local endpoints, made while felix runs (WL_MODE=cni: real CNI ADDs, default;
#       WL_MODE=direct: veths + WorkloadEndpoints written straight to etcd), and felix has
#       programmed all LOCAL /32 routes;
#   (c) + NODES other nodes with PER_NODE WorkloadEndpoints each (10,000 by default), their Node
#       resources, /26 blocks, affinities and handles, written to etcd in transactions of 100 puts
#       through the JSON gateway on http://127.0.0.1:PORT (python3 standard library only);
#   (d) felix restarted with all of that already in etcd (snapshot path instead of watch events).
# "Processed" = felix's CPU time grew by <= 20 ms over 2 s (and, for b, all routes are in).
# Columns: VmRSS, VmHWM, RssAnon, RssFile (/proc/PID/status), Pss (/proc/PID/smaps_rollup), and
# "cpu ms" = felix's cumulative CPU time (utime+stime, 10 ms ticks) at that point.
. "$(dirname "$0")/lib.sh"
LOCAL=${1:-250}
NODES=${2:-40}
PER_NODE=${3:-250}
WL_MODE=${WL_MODE:-cni}
b_need_root
b_need_bins "$FELIX"
[ "$WL_MODE" = cni ] && b_need_bins "$CNI_TABBY" "$CNI_IPAM"
b_machine
echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)  build: $BUILD  local=$LOCAL remote=${NODES}x$PER_NODE" \
	"workloads=$WL_MODE"

b_etcd_start
b_host_ns h1
NODE=$B_PREFIX-h1
b_put_pool
b_felix_config "$NODE" "$B_TMP/felix.yaml"

FELIX_PID=
start_felix() {
	ip netns exec "$HOST_NS" "$FELIX" --config "$B_TMP/felix.yaml" 2>>"$B_TMP/felix.log" &
	FELIX_PID=$!
	b_track_pid "$FELIX_PID"
}

ROWS=()
CPUS=()
ANONS=()
measure() { # LABEL [procstat quiet options...]
	local label=$1 q mem
	shift
	q=$(python3 "$B_DIR/procstat.py" quiet "$FELIX_PID" "$@") || {
		echo "$label: $q"; tail -20 "$B_TMP/felix.log"; exit 1; }
	mem=$(python3 "$B_DIR/procstat.py" mem "$FELIX_PID")
	read -r rss hwm anon file pss cpu <<<"$mem"
	ROWS+=("$(printf '%-46s %9d %9d %9d %9d %9d %8d   %s' "$label" "$rss" "$hwm" "$anon" "$file" \
		"$pss" "$cpu" "$q")")
	CPUS+=("$cpu")
	ANONS+=("$anon")
	echo "  $label: VmRSS $rss kB, VmHWM $hwm kB ($q)"
}

start_felix
measure "(a) idle, pool only, no endpoints" --etcd "$ETCD_HTTP" \
	--key-prefix "/tabby/v1/ipam/affinities/$NODE/"

t0=$(date +%s%N)
case $WL_MODE in
cni)
	for i in $(seq 0 $((LOCAL - 1))); do b_ns_add "w$i"; done
	ip netns exec "$HOST_NS" python3 "$B_DIR/workloads.py" cni --n "$LOCAL" --node "$NODE" \
		--endpoint "$ETCD_UNIX" --build "$BUILD" --netns-prefix "$B_PREFIX" || exit 1
	;;
direct)
	b_ns_add wl
	# direct mode writes blocks at 198.19.0.0 upwards: felix already claimed 198.19.0.0/26 at
	# start, so this mode is only meaningful with a fresh felix; prefer cni here.
	ip netns exec "$HOST_NS" python3 "$B_DIR/workloads.py" direct --n "$LOCAL" --node "$NODE" \
		--endpoint "$ETCD_UNIX" --wl-netns "$NS_LAST" || exit 1
	;;
esac
echo "  $LOCAL local workloads made in $((($(date +%s%N) - t0) / 1000000)) ms"
measure "(b) + $LOCAL local endpoints" --routes-ns "$HOST_NS" --routes "$LOCAL"

python3 "$B_DIR/workloads.py" remote --nodes "$NODES" --per-node "$PER_NODE" \
	--endpoint "$ETCD_HTTP" || exit 1
measure "(c) + $((NODES * PER_NODE)) remote endpoints on $NODES nodes"

kill "$FELIX_PID"
for _ in $(seq 1 100); do kill -0 "$FELIX_PID" 2>/dev/null || break; sleep 0.1; done
wait "$FELIX_PID" 2>/dev/null
echo "  felix exit status after SIGTERM: $?"
start_felix
measure "(d) restart with (b)+(c) in etcd" --routes-ns "$HOST_NS" --routes "$LOCAL"

echo
printf '%-46s %9s %9s %9s %9s %9s %8s\n' "tabby-felix stage" "VmRSS kB" "VmHWM kB" "RssAnon" \
	"RssFile" "Pss kB" "cpu ms"
printf '%s\n' "${ROWS[@]}"
awk -v l="$LOCAL" -v r="$((NODES * PER_NODE))" -v ca="${CPUS[0]}" -v cb="${CPUS[1]}" \
	-v cc="${CPUS[2]}" -v ab="${ANONS[1]}" -v ac="${ANONS[2]}" 'BEGIN {
	printf "  felix CPU per local endpoint added while running: %.2f ms\n", (cb - ca) / l
	printf "  felix CPU per remote endpoint (incl. its share of nodes/blocks): %.3f ms\n", (cc - cb) / r
	printf "  anonymous memory per remote endpoint: %.2f kB\n", (ac - ab) / r }'
echo "  etcd keys under /tabby/v1/: $(python3 "$B_DIR/benchlib.py" count "$ETCD_HTTP" /tabby/v1/)"
echo "  felix log: $(wc -l <"$B_TMP/felix.log") lines; warnings/errors:" \
	"$(grep -ciE 'warn|error' "$B_TMP/felix.log")"
b_load
