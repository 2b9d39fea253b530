#!/bin/bash
# cni-add.sh [N=100] - latency of the real CNI plugin: N sequential ADDs then N DELs.
#
# Setup: private etcd (loopback port + unix socket), one host netns "bench<PID>-h1" (veth eth0
# 198.18.0.11/24, default route, forwarding), IPPool 198.19.0.0/16 blockSize 26 written with
# etcdctl, N fresh container namespaces "bench<PID>-c<i>". The driver (cni_bench.py) runs inside
# the host netns and times each plugin exec (fork + exec + wait) with perf_counter. It also times
# the plugin's start-up (VERSION), tabby-ipam alone, and counts etcd calls/fsyncs per call.
# Side by side in the same run, interleaved call by call, it times the reference: Debian's
# containernetworking-plugins ptp + host-local (REF_CNI_PATH, default /usr/lib/cni), each ADD into
# its own netns "bench<PID>-p<i>", and prints tabby's ratio to it at p50 and p99.
# Env: BUILD (default <repo>/build-bench), CNI_LOG_LEVEL (default info, as the lab's config).
. "$(dirname "$0")/lib.sh"
N=${1:-100}
b_need_root
b_need_bins "$CNI_TABBY" "$CNI_IPAM"
b_machine
echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)  build: $BUILD  N=$N"

b_etcd_start
b_host_ns h1
b_put_pool
for i in $(seq 0 $((N - 1))); do b_ns_add "c$i"; b_ns_add "p$i"; done
mkdir -p "$B_TMP/host-local"

ip netns exec "$HOST_NS" python3 "$B_DIR/cni_bench.py" --n "$N" --build "$BUILD" \
	--node "$B_PREFIX-h1" --endpoint "$ETCD_UNIX" --netns-prefix "$B_PREFIX" \
	--host-ns "$HOST_NS" --log-level "${CNI_LOG_LEVEL:-info}" \
	--ref-cni-path "${REF_CNI_PATH:-/usr/lib/cni}" --ref-data-dir "$B_TMP/host-local"
b_load
