#!/bin/bash
# felix-cold-start.sh [N=250] [RUNS=3] - time from tabby-felix's exec until all N workload /32
# routes (proto 81) are in the kernel, starting from a host where every proto-81 route is gone.
#
# Setup: private etcd, host netns "bench<PID>-h1" (veth eth0 198.18.0.11/24 to a "tor" netns, default route),
# IPPool 198.19.0.0/16 /26. The N workloads are made WITHOUT felix, by
#   WL_MODE=cni (default): N real CNI ADDs ($BUILD/cni/tabby + tabby-ipam), one container netns
#                          "bench<PID>-w<i>" each;
#   WL_MODE=direct:        N veth pairs made with `ip -batch` (peers in one netns
#                          "bench<PID>-wl") + WorkloadEndpoints/blocks/affinities/handles written
#                          in etcd transactions through the JSON gateway.
# Then, per run: `ip route flush proto 81` in the host netns (the /32s and blackholes), start
# felix under felix_watch.py (inside the host netns; `ip monitor route` timestamps), stop it with
# SIGTERM. Run 1 is the very first felix start on this datastore (it registers the Node); runs 2..
# find the Node already there. Prints each run and the median.
. "$(dirname "$0")/lib.sh"
N=${1:-250}
RUNS=${2:-3}
WL_MODE=${WL_MODE:-cni}
b_need_root
b_need_bins "$FELIX"
[ "$WL_MODE" = cni ] && b_need_bins "$CNI_TABBY" "$CNI_IPAM"
b_machine
echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)  build: $BUILD  N=$N runs=$RUNS workloads=$WL_MODE"

b_etcd_start
b_host_ns h1
NODE=$B_PREFIX-h1
b_put_pool

t0=$(date +%s%N)
case $WL_MODE in
cni)
	for i in $(seq 0 $((N - 1))); do b_ns_add "w$i"; done
	ip netns exec "$HOST_NS" python3 "$B_DIR/workloads.py" cni --n "$N" --node "$NODE" \
		--endpoint "$ETCD_UNIX" --build "$BUILD" --netns-prefix "$B_PREFIX" || exit 1
	;;
direct)
	b_ns_add wl
	ip netns exec "$HOST_NS" python3 "$B_DIR/workloads.py" direct --n "$N" --node "$NODE" \
		--endpoint "$ETCD_UNIX" --wl-netns "$NS_LAST" || exit 1
	;;
*) echo "WL_MODE must be cni or direct"; exit 1 ;;
esac
echo "  $N workloads ready in $((($(date +%s%N) - t0) / 1000000)) ms" \
	"(WorkloadEndpoints in etcd: $(python3 "$B_DIR/benchlib.py" count "$ETCD_HTTP" /tabby/v1/workloadendpoints/))"

b_felix_config "$NODE" "$B_TMP/felix.yaml"
results=()
for run in $(seq 1 "$RUNS"); do
	ip -n "$HOST_NS" route flush proto 81
	left=$(ip -n "$HOST_NS" route show proto 81 | wc -l)
	echo "run $run: proto-81 routes before start: $left"
	out=$(ip netns exec "$HOST_NS" python3 "$B_DIR/felix_watch.py" --felix "$FELIX" \
		--config "$B_TMP/felix.yaml" --n "$N" --log "$B_TMP/felix-run$run.log" --timeout 120)
	echo "$out"
	ms=$(sed -n 's/^RESULT total_ms=\([0-9.]*\) .*/\1/p' <<<"$out")
	[ -n "$ms" ] || { echo "run $run: felix did not program $N routes in 120 s;" \
		"log tail:"; tail -20 "$B_TMP/felix-run$run.log"; exit 1; }
	results+=("$ms")
done
printf '%s\n' "${results[@]}" | sort -n | awk -v n="$N" -v mode="$WL_MODE" '
	{ v[NR] = $1 } END {
		printf "felix cold start, %d routes (workloads: %s): runs", n, mode
		for (i = 1; i <= NR; i++) printf " %.1f", v[i]
		printf " ms (sorted); median %.1f ms\n", v[int((NR + 1) / 2)] }'
echo "  (unsorted, in run order: ${results[*]} ms)"
b_load
