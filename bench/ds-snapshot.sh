#!/bin/bash
# ds-snapshot.sh [SIZES="1000 10000 100000"] [RUNS=3] - how long a cold start's datastore snapshot
# takes: puts SIZE keys of about 500 bytes each under /bench/ds/<SIZE>/ into a private etcd (in
# transactions of 100 puts), then runs $BUILD/bench/ds-snapshot on each prefix, which prints
#   FIGURE ds_snapshot <watch|watch_json|range|range500> keys=<n> ms=<ms> client_cpu_ms=<ms> etcd_cpu_ms=<ms>
# per run (watch = ds_watch_new() to SNAPSHOT_END through the poll-loop API, as felix starts, with
# its pages as gRPC KV.Range calls; watch_json = the same through the JSON gateway; range =
# ds_range_prefix(), gateway; range500 = the old 500-key pages). Asserts nothing.
. "$(dirname "$0")/lib.sh"
SIZES=${1:-1000 10000 100000}
RUNS=${2:-3}
SNAP=$BUILD/bench/ds-snapshot
b_need_bins "$SNAP"
b_machine 2>/dev/null || b_load
b_etcd_start
export TABBY_DATASTORE_ENDPOINTS=$ETCD_HTTP BENCH_ETCD_PID=$ETCD_PID
for n in $SIZES; do
	PYTHONPATH=$B_DIR python3 -c '
import sys, json, benchlib
ep, n = sys.argv[1], int(sys.argv[2])
e = benchlib.Etcd(ep)
# About 500 bytes of JSON per value, like a WorkloadEndpoint.
kvs = []
for i in range(n):
    v = json.dumps({"kind": "WorkloadEndpoint", "metadata": {"name": "wep-%07d" % i,
        "namespace": "bench", "labels": {"app": "a%d" % (i % 50), "tier": "t%d" % (i % 7)}},
        "spec": {"node": "node-%04d" % (i % 400), "ipNetworks": ["198.19.%d.%d/32" % (i // 256 % 256, i % 256)],
        "interfaceName": "tby%011x" % i, "profiles": ["kns.bench"], "pad": "x" * 230}})
    kvs.append(("/bench/ds/%d/wep-%07d" % (n, i), v))
e.put_many(kvs)
print("loaded %d keys of %d bytes" % (n, len(kvs[0][1])))
' "$ETCD_HTTP" "$n" || exit 1
	echo "== $n keys"
	"$SNAP" "/bench/ds/$n/" "$RUNS" || exit 1
done
b_load
