#!/bin/bash
# ipam-dual-stack.sh [N=100] - tabby-ipam ADD latency, IPv4-only vs dual-stack, in one run.
#
# Setup: private etcd (loopback port + unix socket), the IPv4 pool 198.19.0.0/16 (blockSize 26)
# and the IPv6 pool 2001:db8:19::/112 (default blockSize 122), both written with etcdctl. N ADDs
# of each kind, interleaved call by call (IPv4-only first on even calls, dual-stack first on odd
# ones), each with its own container id, through the plugin's real stdin/environment protocol;
# each exec is timed (fork + exec + wait) with date +%s%N. The first 5 calls of each kind warm
# up (block claims) and are not counted. Prints p50/p99 of each and the ratio dual / IPv4-only:
#   FIGURE ipam_add_ipv4_p50_ms <ms>   FIGURE ipam_add_dual_p50_ms <ms>   RATIO p50 <x>
# Then 20 more ADDs of each kind, one kind after the other, counting etcd's gRPC calls (its
# /metrics; the JSON gateway makes one per request) per ADD:
#   FIGURE ipam_add_ipv4_etcd_calls <n>   FIGURE ipam_add_dual_etcd_calls <n>
# Env: BUILD (default <repo>/build-bench, or TABBY_BUILD_DIR).
. "$(dirname "$0")/lib.sh"
N=${1:-100}
b_need_root
b_need_bins "$CNI_IPAM"
b_machine
echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)  build: $BUILD  N=$N"

b_etcd_start
b_put_pool
b_put /tabby/v1/ippools/default-ipv6-ippool \
	'{"apiVersion":"projectcalico.org/v3","kind":"IPPool","metadata":{"name":"default-ipv6-ippool"},"spec":{"cidr":"2001:db8:19::/112"}}'

conf() { # assign_ipv6
	printf '{"cniVersion":"1.0.0","name":"bench","type":"tabby","nodename":"%s-h1","datastore_endpoints":"%s","log_level":"warning","ipam":{"type":"tabby-ipam","lock_file":"%s/ipam.lock","assign_ipv6":"%s"}}' \
		"$B_PREFIX" "$ETCD_UNIX" "$B_TMP" "$1"
}
conf false >"$B_TMP/v4.json"
conf true >"$B_TMP/ds.json"
add() { # KIND I: one timed ADD, its nanoseconds appended to $B_TMP/KIND.ns
	local s e
	s=$(date +%s%N)
	env -i PATH="$PATH" CNI_COMMAND=ADD CNI_CONTAINERID="$1$2" CNI_PATH="$BUILD/cni" \
		CNI_ARGS="K8S_POD_NAMESPACE=bench" "$CNI_IPAM" <"$B_TMP/$1.json" >"$B_TMP/out" 2>>"$B_TMP/err" ||
		{ cat "$B_TMP/out"; echo "ADD $1$2 failed"; exit 1; }
	e=$(date +%s%N)
	[ "$2" -lt 5 ] || echo $((e - s)) >>"$B_TMP/$1.ns"
}
for i in $(seq 0 $((N + 4))); do
	if [ $((i % 2)) = 0 ]; then add v4 "$i"; add ds "$i"; else add ds "$i"; add v4 "$i"; fi
done
python3 - "$B_TMP/v4.ns" "$B_TMP/ds.ns" <<'EOF'
import sys
def pct(v, p):  # nearest rank
    v = sorted(v)
    return v[max(0, min(len(v) - 1, -(-len(v) * p // 100) - 1))]
r = {}
for name, path in (("ipv4", sys.argv[1]), ("dual", sys.argv[2])):
    v = [int(l) / 1e6 for l in open(path)]
    r[name] = (pct(v, 50), pct(v, 99))
    print("FIGURE ipam_add_%s_p50_ms %.2f" % (name, r[name][0]))
    print("FIGURE ipam_add_%s_p99_ms %.2f" % (name, r[name][1]))
print("RATIO p50 dual/ipv4 %.2f" % (r["dual"][0] / r["ipv4"][0]))
print("RATIO p99 dual/ipv4 %.2f" % (r["dual"][1] / r["ipv4"][1]))
EOF
grpc_calls() { curl -sf "$ETCD_HTTP/metrics" | awk '/^grpc_server_handled_total/ {s += $2} END {print s + 0}'; }
for kind in v4 ds; do
	before=$(grpc_calls)
	for i in $(seq 1000 1019); do add "$kind" "$i"; done
	after=$(grpc_calls)
	echo "FIGURE ipam_add_$([ $kind = v4 ] && echo ipv4 || echo dual)_etcd_calls $(((after - before) / 20))"
done
b_load
