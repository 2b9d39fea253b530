#!/bin/bash
# Shared helpers for the benchmarks (sourced). Like tests/integration/lib.sh, but benchmarks
# print figures and assert nothing. Everything a benchmark starts is recorded by PID and every
# namespace it creates carries its own prefix "bench<PID>-", so cleanup never touches anything
# else. Addresses stay inside 198.18.0.0/15.
#
#   b_need_root                   exit 77 unless root
#   b_need_bins BIN...            exit 1 with a message when a tabby binary is missing
#   b_etcd_start / b_etcd_stop    private etcd on 127.0.0.1:<free port> + unix socket
#   b_ns_add NAME                 create netns "$B_PREFIX-NAME" (name in $NS_LAST)
#   b_host_ns NAME                host netns: eth0 198.18.0.11/24 (veth to a "tor" netns with
#                                 198.18.0.1), default route, forwarding
#   b_track_pid PID               SIGTERM (then SIGKILL) PID on exit
#   b_put KEY VALUE               etcdctl put against the private etcd
#   b_put_pool                    IPPool default-ipv4-ippool 198.19.0.0/16 blockSize 26
#   b_machine                     nproc, memory, kernel, CPU model, then b_load
#   b_load                        the 1/5/15-minute load averages
set -u
export PYTHONDONTWRITEBYTECODE=1 # keep bench/ free of __pycache__
B_SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck disable=SC2034 # used by the scripts that source this file
B_DIR=$B_SRC/bench
BUILD=${BUILD:-${TABBY_BUILD_DIR:-$B_SRC/build-bench}}
B_PREFIX=${B_PREFIX:-bench$$}
B_TMP=$(mktemp -d "/tmp/tabby-$B_PREFIX.XXXXXX")
B_PIDS=()
B_NETNS=()

# shellcheck disable=SC2034 # binaries, used by the scripts that source this file
{
FELIX=$BUILD/felix/tabby-felix
CNI_TABBY=$BUILD/cni/tabby
CNI_IPAM=$BUILD/cni/tabby-ipam
TABBYCTL=$BUILD/ctl/tabbyctl
}

b_need_root() { [ "$(id -u)" = 0 ] || { echo "skipped: needs root"; exit 77; }; }

b_need_bins() {
	local b
	for b in "$@"; do
		[ -x "$b" ] || { echo "missing binary: $b (build: cmake --build $BUILD)" >&2; exit 1; }
	done
}

b_track_pid() { B_PIDS+=("$1"); }

b_cleanup() {
	local p ns i
	set +e
	# Newest first, so felix stops before the etcd it talks to.
	for ((i = ${#B_PIDS[@]} - 1; i >= 0; i--)); do
		p=${B_PIDS[i]}
		kill "$p" 2>/dev/null || continue
		for _ in $(seq 1 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
		kill -9 "$p" 2>/dev/null
	done
	# Deleting a namespace destroys its veths, so the peers in other namespaces go too.
	for ns in "${B_NETNS[@]}"; do ip netns del "$ns" 2>/dev/null; done
	[ -n "${B_KEEP_TMP:-}" ] || rm -rf "$B_TMP"
}
trap b_cleanup EXIT
trap 'exit 130' INT TERM

b_free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

b_wait_for() {
	local secs=$1; shift
	local n=$((secs * 10))
	for _ in $(seq 1 "$n"); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
	return 1
}

# etcd on 127.0.0.1:PORT (root netns) and on the unix socket $ETCD_DIR/etcd.sock:PORT (every netns).
b_etcd_start() {
	ETCD_DIR=$B_TMP/etcd
	mkdir -p "$ETCD_DIR/data"
	chmod 700 "$ETCD_DIR/data"
	ETCD_PORT=$(b_free_port)
	ETCD_PEER_PORT=$(b_free_port)
	(cd "$ETCD_DIR" && exec etcd --name b --data-dir "$ETCD_DIR/data" \
		--listen-client-urls "http://127.0.0.1:$ETCD_PORT,unix://etcd.sock:$ETCD_PORT" \
		--advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
		--listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
		--initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
		--initial-cluster "b=http://127.0.0.1:$ETCD_PEER_PORT" \
		--logger zap --log-outputs "$ETCD_DIR/etcd.log" 2>>"$ETCD_DIR/etcd.stderr") &
	ETCD_PID=$!
	b_track_pid "$ETCD_PID"
	ETCD_HTTP="http://127.0.0.1:$ETCD_PORT"
	ETCD_UNIX="unix://$ETCD_DIR/etcd.sock:$ETCD_PORT"
	ETCD_SOCK="$ETCD_DIR/etcd.sock:$ETCD_PORT"
	export ETCD_HTTP ETCD_UNIX ETCD_SOCK ETCD_PORT
	b_wait_for 20 curl -sf "$ETCD_HTTP/health" || {
		echo "etcd did not start"; cat "$ETCD_DIR/etcd.log"; exit 1; }
}

b_etcd_stop() {
	kill "$ETCD_PID" 2>/dev/null
	for _ in $(seq 1 50); do kill -0 "$ETCD_PID" 2>/dev/null || return 0; sleep 0.1; done
	kill -9 "$ETCD_PID" 2>/dev/null
}

b_ns_add() {
	local ns="$B_PREFIX-$1"
	ip netns add "$ns" || { echo "ip netns add $ns failed"; exit 1; }
	B_NETNS+=("$ns")
	ip netns exec "$ns" ip link set lo up
	NS_LAST=$ns
}

# A host namespace as in the lab: eth0 198.18.0.11/24, a veth to a "tor" netns that holds
# 198.18.0.1/24 (this kernel has no dummy driver), default route via 198.18.0.1 (proxy-ARP needs a
# unicast route on the host), forwarding on. Nothing is sent anywhere by the benchmarks.
b_host_ns() {
	b_ns_add tor
	TOR_NS=$NS_LAST
	b_ns_add "$1"
	HOST_NS=$NS_LAST
	ip -n "$HOST_NS" link add eth0 type veth peer name th1 netns "$TOR_NS"
	ip -n "$TOR_NS" addr add 198.18.0.1/24 dev th1
	ip -n "$TOR_NS" link set th1 up
	ip -n "$HOST_NS" addr add 198.18.0.11/24 dev eth0
	ip -n "$HOST_NS" link set eth0 up
	ip -n "$HOST_NS" route add default via 198.18.0.1 dev eth0
	ip netns exec "$HOST_NS" sysctl -qw net.ipv4.ip_forward=1
}

b_put() { ETCDCTL_API=3 etcdctl --endpoints="$ETCD_HTTP" put "$1" "$2" >/dev/null; }

b_put_pool() {
	b_put /tabby/v1/ippools/default-ipv4-ippool \
		'{"apiVersion":"projectcalico.org/v3","kind":"IPPool","metadata":{"name":"default-ipv4-ippool"},"spec":{"cidr":"198.19.0.0/16","blockSize":26,"ipipMode":"Never","vxlanMode":"Never","natOutgoing":false,"nodeSelector":"all()"}}'
}

# Load average: this machine is shared (other builds run on it), so every result states it.
b_load() { echo "loadavg: $(cut -d' ' -f1-3 /proc/loadavg) ($(date -u +%H:%M:%S)Z)"; }

b_machine() {
	local cpu mem
	cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
	mem=$(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo)
	echo "machine: nproc=$(nproc), memory=$mem, kernel=$(uname -r), cpu=${cpu:-unknown}"
	b_load
}

# Felix config for the host namespace: private BIRD paths (no BIRD is started: felix renders and
# validates the config; the control socket is absent), etcd through the unix socket.
b_felix_config() {
	local node=$1 out=$2
	cat >"$out" <<EOF
nodeName: $node
ipv4Address: 198.18.0.11/24
datastoreEndpoints: $ETCD_UNIX
birdConfigFile: $B_TMP/bird.conf
birdSocket: $B_TMP/bird.ctl
logSeverityScreen: ${FELIX_LOG:-Info}
EOF
}
