#!/bin/bash
# tabby-felix health and metrics (felix/health.h, felix/metrics.h) on one host namespace with a
# real etcd and a real BIRD: felix started while etcd is down answers /liveness 200 and
# /readiness 503 ("datastore":"syncing"); with etcd back it is in sync but still 503 until BIRD
# runs ("bgp":"not-running"); with BIRD it is ready (200); BIRD stopping makes it unready again.
# /metrics (enabled through the environment) is valid Prometheus text, and its endpoint and
# route gauges follow a WorkloadEndpoint and its interface; no BIRD config is rejected until a
# BGPPeer that BIRD refuses makes felix unready ("bgp":"rejected") and counts it once.
. "$(dirname "$0")/lib.sh"
need_root
command -v etcdctl >/dev/null || fail "etcdctl not installed"
command -v curl >/dev/null || fail "curl not installed"
command -v bird >/dev/null || fail "bird not installed"
FELIX=$T_BUILD/felix/tabby-felix
[ -x "$FELIX" ] || fail "no $FELIX"
etcd_start
ectl() { ETCDCTL_API=3 etcdctl --endpoints "$TABBY_DATASTORE_ENDPOINTS" "$@"; }

ns_add h1; H=$NS_LAST
ip -n "$H" link add eth0 type veth peer name eth0p
ip -n "$H" link set eth0p up
ip -n "$H" addr add 198.18.0.11/24 dev eth0
ip -n "$H" link set eth0 up

ectl put /tabby/v1/ippools/default-ipv4-ippool \
	'{"apiVersion":"projectcalico.org/v3","kind":"IPPool","metadata":{"name":"default-ipv4-ippool"},"spec":{"cidr":"198.19.0.0/16","blockSize":26}}' >/dev/null

HP=$(free_port)
MP=$(free_port)
cat >"$T_TMP/felix.yaml" <<EOC
nodeName: h1
ipv4Address: 198.18.0.11/24
datastoreEndpoints: "$TABBY_TEST_ETCD_UNIX"
birdConfigFile: $T_TMP/bird.conf
birdSocket: $T_TMP/bird.ctl
birdFastTimers: true
resyncIntervalSecs: 2
healthPort: $HP
EOC

# GET URL-PATH PORT: prints the HTTP status, body in $T_TMP/body (curl runs inside the netns).
get() { ip netns exec "$H" curl -s -m 5 -o "$T_TMP/body" -w '%{http_code}' "http://127.0.0.1:$2$1"; }
status_is() { [ "$(get "$2" "$3")" = "$1" ]; }
body_has() { grep -qF -- "$1" "$T_TMP/body"; }
ready_with() { status_is "$1" /readiness "$HP" && body_has "$2"; }
# metric NAME: its value from a fresh scrape (empty when absent).
metric() { get /metrics "$MP" >/dev/null && awk -v n="$1" '$1 == n { print $2 }' "$T_TMP/body"; }
metric_is() { [ "$(metric "$1")" = "$2" ]; }

trap 'rc=$?; [ $rc = 0 ] || { echo "--- felix.log"; tail -40 "$T_TMP/felix.log"; echo "--- body"; cat "$T_TMP/body"; }; t_cleanup' EXIT

# 1. etcd down: felix is alive but not ready.
etcd_stop
# The environment overrides the file: the datastore as reachable from the netns, and metrics.
TABBY_DATASTORE_ENDPOINTS=$TABBY_TEST_ETCD_UNIX \
	TABBY_PROMETHEUSMETRICSENABLED=true TABBY_PROMETHEUSMETRICSPORT=$MP \
	ip netns exec "$H" "$FELIX" --config "$T_TMP/felix.yaml" >>"$T_TMP/felix.log" 2>&1 &
FELIX_PID=$!
track_pid "$FELIX_PID"
check "/liveness 200 while etcd is down" wait_for 10 status_is 200 /liveness "$HP"
check "/liveness body says live" body_has '"live":true'
check "/readiness 503 while etcd is down" status_is 503 /readiness "$HP"
check "/readiness says datastore syncing" body_has '"datastore":"syncing"'
check "/readiness says dataplane pending" body_has '"dataplane":"pending"'
check "/metrics: felix_datastore_in_sync 0" metric_is felix_datastore_in_sync 0
check "felix still running without etcd" kill -0 "$FELIX_PID"
check "/liveness still 200 without etcd" status_is 200 /liveness "$HP"
check "unknown path 404" status_is 404 /nope "$HP"
check "/metrics is not served on the health port" status_is 404 /metrics "$HP"
check "/readiness is not served on the metrics port" status_is 404 /readiness "$MP"
check "POST is refused" bash -c "[ \$(ip netns exec $H curl -s -o /dev/null -w '%{http_code}' -X POST -d x http://127.0.0.1:$HP/readiness) = 405 ]"

# 2. etcd back: in sync, routes programmed, but BIRD is not running.
etcd_restart
check "in sync with etcd back, bgp not-running -> 503" wait_for 20 ready_with 503 '"datastore":"in-sync"'
check "/readiness says bgp not-running" body_has '"bgp":"not-running"'
check "/readiness says dataplane ok" body_has '"dataplane":"ok"'
check "/readiness says policy ok" body_has '"policy":{"ok":true'
check "/metrics: felix_datastore_in_sync 1" metric_is felix_datastore_in_sync 1

# 3. BIRD reads the file felix left: ready.
check "bird.conf written" wait_for 10 test -s "$T_TMP/bird.conf"
ip netns exec "$H" bird -f -c "$T_TMP/bird.conf" -s "$T_TMP/bird.ctl" -P "$T_TMP/bird.pid" &
BIRD_PID=$!
track_pid "$BIRD_PID"
check "/readiness 200 with BIRD running" wait_for 10 ready_with 200 '"ready":true'
check "/readiness says bgp ok" body_has '"bgp":"ok"'
check "/readiness lists the natOutgoing and VXLAN drivers, each in sync" body_has '"drivers":{"nat":{"applied":true,"inSync":true},"vxlan":{"applied":true,"inSync":true}}'

# 4. Metrics: text format, endpoint and route gauges.
check "/metrics 200" status_is 200 /metrics "$MP"
check "every sample line is 'name{labels} value'" bash -c \
	"! grep -v '^#' $T_TMP/body | grep -vE '^[a-zA-Z_:][a-zA-Z0-9_:]*(\\{[a-zA-Z_][a-zA-Z0-9_]*=\"[^\"]*\"(,[a-zA-Z_][a-zA-Z0-9_]*=\"[^\"]*\")*\\})? ([-+]?[0-9.]+([eE][-+]?[0-9]+)?|NaN|[+-]Inf)\$' | grep -q ."
# The documented names (felix/metrics.h), each with its # TYPE line.
for m in felix_datastore_in_sync felix_datastore_updates_total felix_resync_total felix_apply_total \
	felix_apply_errors_total felix_apply_duration_seconds felix_routes_programmed \
	felix_routes_pending felix_local_endpoints felix_remote_endpoints felix_policy_errors_total \
	felix_bird_reconfigure_total felix_bird_config_rejected_total process_cpu_seconds_total \
	process_resident_memory_bytes process_virtual_memory_bytes process_open_fds \
	process_max_fds process_start_time_seconds; do
	grep -q "^# TYPE $m " "$T_TMP/body" || fail "/metrics lacks $m"
done
ok "/metrics has every documented family"
check "process_resident_memory_bytes > 0" bash -c "[ \$(awk '\$1==\"process_resident_memory_bytes\"{print \$2}' $T_TMP/body) -gt 0 ]"
check "felix_local_endpoints 0" metric_is felix_local_endpoints 0
check "felix_routes_programmed 1 (the block's blackhole)" wait_for 10 metric_is felix_routes_programmed 1
APPLIES=$(metric felix_apply_total)
check "felix_apply_total > 0" [ "${APPLIES:-0}" -gt 0 ]
check "histogram count = +Inf bucket" bash -c "grep -q '^felix_apply_duration_seconds_count ' $T_TMP/body && \
	[ \"\$(awk '\$1==\"felix_apply_duration_seconds_count\"{print \$2}' $T_TMP/body)\" = \
	  \"\$(awk '\$1==\"felix_apply_duration_seconds_bucket{le=\\\"+Inf\\\"}\"{print \$2}' $T_TMP/body)\" ]"

BK=$(ectl get --prefix /tabby/v1/ipam/blocks/ | grep -B1 '"host:h1"' | grep '^/tabby' | head -1)
BLOCK=$(basename "$BK" | sed 's/-\([0-9]*\)$/\/\1/')
BASE=${BLOCK%/*}
IP=${BASE%.*}.$((${BASE##*.} + 5))
IFN=tby$(printf '%s' "default.w1" | sha1sum | cut -c1-11)
ip -n "$H" link add "$IFN" type veth peer name "${IFN}p"
ip -n "$H" link set "$IFN" up
ectl put /tabby/v1/workloadendpoints/default/h1-cni-w1w1w1w1w1w1-eth0 \
	'{"apiVersion":"projectcalico.org/v3","kind":"WorkloadEndpoint","metadata":{"name":"h1-cni-w1w1w1w1w1w1-eth0","namespace":"default"},"spec":{"orchestrator":"cni","node":"h1","containerID":"w1w1w1w1w1w1","endpoint":"eth0","interfaceName":"'$IFN'","mac":"02:00:00:00:00:05","ipNetworks":["'$IP'/32"]}}' >/dev/null
ectl put /tabby/v1/workloadendpoints/default/h2-cni-w2w2w2w2w2w2-eth0 \
	'{"apiVersion":"projectcalico.org/v3","kind":"WorkloadEndpoint","metadata":{"name":"h2-cni-w2w2w2w2w2w2-eth0","namespace":"default"},"spec":{"orchestrator":"cni","node":"h2","containerID":"w2w2w2w2w2w2","endpoint":"eth0","interfaceName":"tby00000000000","ipNetworks":["198.19.1.5/32"]}}' >/dev/null
check "felix_local_endpoints 0 -> 1" wait_for 10 metric_is felix_local_endpoints 1
check "felix_remote_endpoints 1" wait_for 10 metric_is felix_remote_endpoints 1
check "felix_routes_programmed 2 (blackhole + workload /32)" wait_for 10 metric_is felix_routes_programmed 2
check "the workload route is really there" bash -c "ip -n $H route show $IP/32 proto 81 | grep -q $IFN"
check "felix_datastore_updates_total counted the endpoints" bash -c "[ \$(awk '\$1==\"felix_datastore_updates_total\"{print \$2}' $T_TMP/body) -ge 2 ]"
check "felix_apply_total grew" bash -c "[ \$(awk '\$1==\"felix_apply_total\"{print \$2}' $T_TMP/body) -gt $APPLIES ]"
check "felix_resync_total grows (2 s interval)" wait_for 10 bash -c "[ \$(ip netns exec $H curl -s http://127.0.0.1:$MP/metrics | awk '\$1==\"felix_resync_total\"{print \$2}') -ge 1 ]"
check "felix_bird_reconfigure_total >= 1 (BIRD told after it started)" wait_for 10 bash -c \
	"[ \$(ip netns exec $H curl -s http://127.0.0.1:$MP/metrics | awk '\$1==\"felix_bird_reconfigure_total\"{print \$2}') -ge 1 ]"
check "felix_bird_config_rejected_total 0" metric_is felix_bird_config_rejected_total 0
check "felix_policy_errors_total 0" metric_is felix_policy_errors_total 0
check "still ready" ready_with 200 '"ready":true'

# A BGPPeer that validates but that BIRD refuses (keepalive 600 s > default hold 240 s; see
# bgp-reject.t): unready with "bgp":"rejected", counted once however often it is retried.
PEER=/tabby/v1/bgppeers/extra
ectl put "$PEER" '{"apiVersion":"projectcalico.org/v3","kind":"BGPPeer","metadata":{"name":"extra"},"spec":{"node":"h1","peerIP":"198.18.0.99","asNumber":65099,"keepaliveTime":"600s"}}' >/dev/null
check "/readiness 503 with bgp rejected" wait_for 10 ready_with 503 '"bgp":"rejected"'
check "felix_bird_config_rejected_total 1" metric_is felix_bird_config_rejected_total 1
R=$(metric felix_resync_total)
check "a resync retries the apply" wait_for 10 bash -c "[ \$(ip netns exec $H curl -s http://127.0.0.1:$MP/metrics | awk '\$1==\"felix_resync_total\"{print \$2}') -gt $R ]"
check "the same rejected text is not counted twice" metric_is felix_bird_config_rejected_total 1
ectl del "$PEER" >/dev/null
check "ready again without the peer" wait_for 10 ready_with 200 '"bgp":"ok"'

# 5. BIRD gone: probed at request time.
kill "$BIRD_PID"; wait "$BIRD_PID" 2>/dev/null
check "/readiness 503 once BIRD stops" wait_for 10 ready_with 503 '"bgp":"not-running"'
check "/liveness still 200" status_is 200 /liveness "$HP"

# Latency of a probe while felix idles in its watch (information only, not asserted).
lat=$(for _ in $(seq 1 20); do ip netns exec "$H" curl -s -o /dev/null -w '%{time_total}\n' "http://127.0.0.1:$HP/liveness"; done |
	sort -n | awk '{a[NR]=$1} END {printf "min %.1f ms, median %.1f ms, max %.1f ms", a[1]*1000, a[int((NR+1)/2)]*1000, a[NR]*1000}')
echo "# /liveness latency over 20 requests: $lat"

kill -TERM "$FELIX_PID"
wait "$FELIX_PID"; rc=$?
check "felix exits 0 on SIGTERM" [ "$rc" = 0 ]
check "health port closed after exit" bash -c "! ip netns exec $H curl -s -m 2 -o /dev/null http://127.0.0.1:$HP/liveness"
summary
