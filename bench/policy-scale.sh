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
# felix's "policy applied" lines end with "calc full|incremental (N endpoint keys, M member
# changes)": steps 5 and 6 should show "calc incremental" (felix/calc/policy-inc.c).
. "$(dirname "$0")/lib.sh"
LOCAL=${1:-250}
POLICIES=${2:-1000}
REMOTE=${3:-100000}
K=${K:-5}
IPERF_S=${IPERF_S:-5}
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

ip netns exec "$HOST_NS" "$FELIX" --config "$B_TMP/felix.yaml" 2>>"$B_TMP/felix.log" &
FELIX_PID=$!
b_track_pid "$FELIX_PID"
b_wait_for 30 grep -q "policy applied" "$B_TMP/felix.log" || { tail "$B_TMP/felix.log"; exit 1; }

for i in $(seq 0 $((LOCAL + 2 * K - 1))); do b_ns_add "w$i"; done
PYH local --n "$LOCAL" --endpoint "$ETCD_UNIX" --build "$BUILD" --netns-prefix "$B_PREFIX" \
	--node "$NODE" || exit 1
PY remote --n "$REMOTE" --endpoint "$ETCD_HTTP" || exit 1
b_wait_for 600 bash -c "ip -n $HOST_NS route show proto 81 | grep -c 'scope link' | grep -qx $LOCAL" ||
	{ echo "routes missing"; exit 1; }
settle() { python3 "$B_DIR/procstat.py" quiet "$FELIX_PID" --timeout 900 >/dev/null; }
settle

W0=$B_PREFIX-w0
W1=$B_PREFIX-w1
W0IP=$(ip -n "$W0" -4 -o addr show eth0 | awk '{print $4}' | cut -d/ -f1)
iperf() { # LABEL: median of 1 run (IPERF_S seconds), Gbit/s
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
CUR=nftables
rss() { awk '/VmRSS|VmHWM/ {printf "%s %s kB  ", $1, $2}' "/proc/$FELIX_PID/status"; echo; }

echo "== no policy"
backend nftables
iperf "nftables, no policy" NFT0
backend iptables
iperf "iptables, no policy" IPT0
echo "  felix: $(rss)"

echo "== $POLICIES policies (written while felix runs on iptables)"
PY policies --n "$POLICIES" --endpoint "$ETCD_HTTP" || exit 1
b_wait_for 900 bash -c "grep 'policy applied (iptables' $B_TMP/felix.log | tail -1 | grep -q '$((POLICIES + 1)) policies'" ||
	{ echo "policies never applied"; tail "$B_TMP/felix.log"; exit 1; }
settle
echo "  iptables last full apply: $(grep 'policy applied (iptables, full)' "$B_TMP/felix.log" | tail -1 | sed 's/.*policy applied/policy applied/')"
iperf "iptables, $POLICIES policies" IPT1
backend nftables
echo "  nftables full apply: $(grep 'policy applied (nftables, full)' "$B_TMP/felix.log" | tail -1 | sed 's/.*policy applied/policy applied/')"
iperf "nftables, $POLICIES policies" NFT1
echo "  felix: $(rss)"
awk -v a="$IPERF_NFT1" -v b="$IPERF_NFT0" -v c="$IPERF_IPT1" -v d="$IPERF_IPT0" -v p="$POLICIES" 'BEGIN {
	if (b > 0) printf "  throughput ratio nftables %s policies / none: %.2f\n", p, a / b
	if (d > 0) printf "  throughput ratio iptables %s policies / none: %.2f\n", p, c / d }'

echo "== latencies"
SET=$(ip netns exec "$HOST_NS" nft -t list table inet tabby | grep -B3 "role == 'r7'" | sed -n 's/.*set \(s4-[0-9a-f]*\) {.*/\1/p' | head -1)
[ -n "$SET" ] || { echo "no set for role r7"; exit 1; }
PYH remote-latency --endpoint "$ETCD_UNIX" --host-ns "$HOST_NS" --backend nftables --set "$SET" \
	--count "$K" --start "$REMOTE" || exit 1
PYH local-latency --endpoint "$ETCD_UNIX" --host-ns "$HOST_NS" --backend nftables --count "$K" \
	--start "$LOCAL" --build "$BUILD" --netns-prefix "$B_PREFIX" --node "$NODE" || exit 1
echo "  nftables applies during the latency runs:"
grep 'policy applied (nftables' "$B_TMP/felix.log" | tail -$((2 * K)) | sed 's/.*policy applied/    policy applied/' | cut -c1-230
backend iptables
PYH remote-latency --endpoint "$ETCD_UNIX" --host-ns "$HOST_NS" --backend iptables \
	--set "tby-$SET" --count "$K" --start "$((REMOTE + K))" || exit 1
PYH local-latency --endpoint "$ETCD_UNIX" --host-ns "$HOST_NS" --backend iptables --count "$K" \
	--start "$((LOCAL + K))" --build "$BUILD" --netns-prefix "$B_PREFIX" --node "$NODE" || exit 1
echo "  felix: $(rss)"
echo "  felix log: $(wc -l <"$B_TMP/felix.log") lines; warnings/errors: $(grep -ciE 'warn|error' "$B_TMP/felix.log")"
b_load
