#!/bin/bash
# cni-dualstack.sh [N=100] - CNI ADD (and DEL) latency of the tabby plugin, dual-stack against
# IPv4-only, in one run: N pairs of ADDs, one of each kind per pair, interleaved (the IPv4-only
# one first on even pairs, the dual-stack one first on odd pairs, so drift in the machine's load
# hits both alike), then the DELs likewise. Prints each side's percentiles, their ratio at
# p50/p90/p99, and the median of the N pairwise ratios.
#
# Setup: private etcd (loopback port + unix socket), the host netns "bench<PID>-h1" of lib.sh
# (eth0 198.18.0.11/24 and 2001:db8:18::11/64), a Node, 2N fresh container namespaces
# "bench<PID>-v<i>" (IPv4-only) and "bench<PID>-d<i>" (dual stack). The driver
# (cni_dualstack.py) runs inside the host netns, so the plugin runs there as under a runtime.
# Env:
#   IPAM=tabby-ipam  (default) tabby's in-process IPAM: pools 198.19.0.0/16 and
#                    2001:db8:19::/112 (blockSize 26 / 122); IPv4-only ADDs carry
#                    assign_ipv6 "false", dual-stack ones assign_ipv6 "true" with ipv6_pools.
#                    Needs a tabby-ipam with IPv6 (issue 9); without it the dual-stack ADD fails
#                    and the bench stops with the plugin's error.
#   IPAM=host-local  Debian's host-local, exec'ed by tabby, with one range (198.19.0.0/16) or two
#                    (plus 2001:db8:19::/64): the difference is then the plumbing's IPv6 part
#                    plus host-local's second range.
#   IPAM=static      Debian's static with fixed addresses per call (198.19.x.y, plus
#                    2001:db8:19::n): no IPAM state at all, so the difference is the plumbing's
#                    IPv6 part alone.
#   BUILD (default <repo>/build-bench), CNI_LOG_LEVEL (default info), REF_CNI_PATH
#   (default /usr/lib/cni, where host-local is).
. "$(dirname "$0")/lib.sh"
N=${1:-100}
IPAM=${IPAM:-tabby-ipam}
b_need_root
b_need_bins "$CNI_TABBY"
b_machine
echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)  build: $BUILD  N=$N  IPAM=$IPAM"

b_etcd_start
b_host_ns h1
ip -n "$HOST_NS" -6 addr add 2001:db8:18::11/64 dev eth0 nodad
b_put_pool
b_put /tabby/v1/ippools/default-ipv6-ippool \
	'{"apiVersion":"projectcalico.org/v3","kind":"IPPool","metadata":{"name":"default-ipv6-ippool"},"spec":{"cidr":"2001:db8:19::/112","blockSize":122,"ipipMode":"Never","vxlanMode":"Never","natOutgoing":false,"nodeSelector":"all()"}}'
for i in $(seq 0 $((N - 1))); do b_ns_add "v$i"; b_ns_add "d$i"; done
mkdir -p "$B_TMP/host-local"

ip netns exec "$HOST_NS" python3 "$B_DIR/cni_dualstack.py" --n "$N" --build "$BUILD" \
	--node "$B_PREFIX-h1" --endpoint "$ETCD_UNIX" --netns-prefix "$B_PREFIX" \
	--log-level "${CNI_LOG_LEVEL:-info}" --ipam "$IPAM" \
	--ref-cni-path "${REF_CNI_PATH:-/usr/lib/cni}" --data-dir "$B_TMP/host-local"
b_load
