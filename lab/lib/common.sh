# lab/lib/common.sh - settings, the address plan and small helpers of tabby-lab (sourced).
# shellcheck shell=bash
#
# Everything the lab creates is recorded in its run directory, and teardown acts on those
# records only: PIDs in $RUN/pids/<name>.pid (killed by PID, after checking that the process
# still is ours), namespaces in $RUN/netns (one name a line), workloads in $RUN/workloads/.
# Nothing is ever found or killed by name.
#
# Address plan (all inside 198.18.0.0/15, RFC 2544 benchmark space, never routed outside):
#   fabric   tor br0 198.18.0.1/24; host hN eth0 198.18.0.(10+N)/24, default via 198.18.0.1
#   pool     default-ipv4-ippool 198.19.0.0/16, blockSize 26; felix claims one /26 per host
#   BGP      AS 64512, node-to-node mesh rendered by tabby-felix, one BIRD per host
#   etcd     root namespace, 127.0.0.1:<free port> and the unix socket $RUN/etcd/etcd.sock:<port>
#            (a socket file is reachable from every namespace; 127.0.0.1 of the root is not)

# shellcheck disable=SC2034 # constants used by the other lab/lib files
LAB_SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

LAB_FABRIC_PREFIX=198.18.0
LAB_TOR_IP=198.18.0.1
LAB_POOL_NAME=default-ipv4-ippool
LAB_POOL_CIDR=198.19.0.0/16
LAB_AS=64512
LAB_NETWORK=tabbynet # CNI network name (IPAM handles are "<network>.<container id>")
LAB_MAX_HOSTS=50
LAB_MAX_WORKLOADS=32

# Timeouts in seconds for the waits of `up`; generous because a loaded CI machine is slow.
LAB_T_ETCD=30
LAB_T_FELIX=60
LAB_T_BGP=90

# ---- messages ---------------------------------------------------------------------------------

say() { printf '%s\n' "$*"; }
step() { printf '==> %s\n' "$*"; }
warn() { printf 'tabby-lab: warning: %s\n' "$*" >&2; }
die() {
	printf 'tabby-lab: %s\n' "$*" >&2
	exit 1
}

# fail_step STEP LOG - a step of `up` failed: name it, show the end of its log, say how to clean up.
fail_step() {
	local what=$1 log=${2:-}
	printf 'tabby-lab: step failed: %s\n' "$what" >&2
	if [ -n "$log" ] && [ -s "$log" ]; then
		printf -- '--- last lines of %s:\n' "$log" >&2
		tail -n 20 "$log" | sed 's/^/    /' >&2
		printf -- '---\n' >&2
	fi
	printf 'tabby-lab: the lab state is kept in %s for inspection; remove it with: %s down\n' \
		"$RUN" "$(lab_cmd)" >&2
	exit 1
}

# lab_cmd - how the user re-runs this script with the same prefix and run directory.
lab_cmd() {
	local c=""
	[ "$PREFIX" = tl ] || c+="TABBY_LAB_PREFIX=$PREFIX "
	[ "$RUN" = /tmp/tabby-lab ] || c+="TABBY_LAB_RUN=$RUN "
	printf '%s%s' "$c" "$LAB_SRC/lab/tabby-lab"
}

# ---- names and addresses ----------------------------------------------------------------------

host_ip() { echo "$LAB_FABRIC_PREFIX.$((10 + $1))"; } # host_ip 2 -> 198.18.0.12
host_ns() { echo "$PREFIX-h$1"; }                      # host_ns 2 -> tl-h2
wl_name() { echo "h$1-w$2"; }                          # wl_name 2 1 -> h2-w1
wl_ns() { echo "$PREFIX-h$1-w$2"; }                    # wl_ns 2 1 -> tl-h2-w1
tor_ns() { echo "$PREFIX-tor"; }
# etcd_endpoint - every etcd member's unix socket, comma-separated (lib/etcd.sh); unixs:// (TLS)
# with --etcd-tls.
etcd_endpoint() {
	local k e="" s=unix
	[ "${ETCD_TLS:-0}" != 1 ] || s=unixs
	for k in $(seq 1 "${ETCD_MEMBERS:-1}"); do
		e+="${e:+,}$s://$(etcd_member_sock "$k")"
	done
	echo "$e"
}
etcd_http() {
	local p e="" s=http
	[ "${ETCD_TLS:-0}" != 1 ] || s=https
	for p in ${ETCD_PORTS:-$ETCD_PORT}; do e+="${e:+,}$s://127.0.0.1:$p"; done
	echo "$e"
}

# ---- the run directory ------------------------------------------------------------------------

# load_state - read what `up` recorded ($RUN/lab.env). Return 1 when there is no lab.
load_state() {
	[ -f "$RUN/lab.env" ] || return 1
	# shellcheck disable=SC1091
	. "$RUN/lab.env"
	# shellcheck disable=SC1091
	[ ! -f "$RUN/docker.env" ] || . "$RUN/docker.env" # lib/docker.sh (--docker)
	# shellcheck disable=SC1091
	[ ! -f "$RUN/subnets.env" ] || . "$RUN/subnets.env" # lib/subnets.sh (--encap, --nat)
	# shellcheck disable=SC1091
	[ ! -f "$RUN/ipv6.env" ] || . "$RUN/ipv6.env" # lib/ipv6.sh (--ipv6)
	return 0
}

# save_state - record the lab's parameters for later subcommands (values are %q-quoted).
save_state() {
	{
		printf 'PREFIX=%q\n' "$PREFIX"
		printf 'HOSTS=%q\n' "$HOSTS"
		printf 'WORKLOADS=%q\n' "$WORKLOADS"
		printf 'BUILD=%q\n' "$BUILD"
		printf 'ETCD_PORT=%q\n' "${ETCD_PORT:-}"
		printf 'ETCD_MEMBERS=%q\n' "${ETCD_MEMBERS:-1}"
		printf 'ETCD_PORTS=%q\n' "${ETCD_PORTS:-${ETCD_PORT:-}}"
		printf 'ETCD_PEER_PORTS=%q\n' "${ETCD_PEER_PORTS:-}"
		printf 'ETCD_TLS=%q\n' "${ETCD_TLS:-0}"
		printf 'TOPOLOGY=%q\n' "${TOPOLOGY:-mesh}"
		printf 'HOST_AS=%q\n' "${HOST_AS:-per-host}"
	} >"$RUN/lab.env"
}

# record_pid NAME PID - remember a daemon so that `down` kills exactly it.
record_pid() { echo "$2" >"$RUN/pids/$1.pid"; }

# pid_is_ours PID - the process exists and its command line names our run directory (every
# daemon the lab starts gets a path inside $RUN as an argument), so a recycled PID is never
# mistaken for ours.
pid_is_ours() {
	local pid=$1
	[[ $pid =~ ^[0-9]+$ ]] || return 1
	[ -r "/proc/$pid/cmdline" ] || return 1
	tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$RUN/"
}

# proc_stat PID - "STATE START" of process PID from /proc/PID/stat (fields 3 and 22; START is
# its start time in clock ticks after boot), nothing when PID is gone.
proc_stat() {
	local s
	s=$(cat "/proc/$1/stat" 2>/dev/null) || return 0
	s=${s##*) }
	# shellcheck disable=SC2086 # split the fields after "(comm) "
	set -- $s
	echo "$1 ${20}"
}

# proc_start PID - the START of proc_stat (empty when PID is gone).
proc_start() {
	local st
	st=$(proc_stat "$1")
	echo "${st#* }"
}

# proc_running PID START - process PID, started at START (so that a reused PID does not count),
# still runs: it exists and is not a zombie. A process that is exiting has already lost its
# cmdline (pid_is_ours fails) but may still hold its sockets and namespaces for a while (seen:
# 1.4 s on a loaded machine).
proc_running() {
	local st
	st=$(proc_stat "$1")
	[ -n "$st" ] && [ "${st%% *}" != Z ] && [ "${st#* }" = "$2" ]
}

# stop_proc PID SECS [WHAT] - SIGTERM process PID (the caller checked that it is ours), wait up
# to SECS seconds for it to be gone or a zombie, then SIGKILL it and wait up to 2 s more. WHAT,
# when given, is named in a warning before the SIGKILL.
stop_proc() {
	local pid=$1 secs=$2 what=${3:-} start
	start=$(proc_start "$pid")
	[ -n "$start" ] || return 0
	kill "$pid" 2>/dev/null || true
	for _ in $(seq 1 $((secs * 10))); do
		proc_running "$pid" "$start" || return 0
		sleep 0.1
	done
	proc_running "$pid" "$start" || return 0
	[ -z "$what" ] || warn "$what (pid $pid) ignored SIGTERM for $secs s, sending SIGKILL"
	kill -9 "$pid" 2>/dev/null || true
	for _ in $(seq 1 20); do
		proc_running "$pid" "$start" || return 0
		sleep 0.1
	done
}

# stop_pid NAME - stop the recorded process (stop_proc, 5 s) if it is ours; forget the record.
stop_pid() {
	local f="$RUN/pids/$1.pid" pid
	[ -f "$f" ] || return 0
	pid=$(cat "$f")
	if pid_is_ours "$pid"; then
		stop_proc "$pid" 5 "$1"
	fi
	rm -f "$f"
}

# netns_add NAME - create a namespace and record it (before anything else can fail) for `down`.
netns_add() {
	ip netns add "$1" || return 1
	echo "$1" >>"$RUN/netns"
	ip -n "$1" link set lo up
}

# ---- waiting ----------------------------------------------------------------------------------

# wait_for SECS CMD... - poll CMD every 0.2 s until it succeeds; 1 on timeout.
wait_for() {
	local secs=$1 end
	shift
	end=$((SECONDS + secs))
	until "$@" >/dev/null 2>&1; do
		[ "$SECONDS" -lt "$end" ] || return 1
		sleep 0.2
	done
}

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# json_get FILE EXPR - evaluate a Python expression over the JSON document `d` read from FILE.
json_get() {
	python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"
}

# ---- tools of the build tree ------------------------------------------------------------------

felix_bin() { echo "$BUILD/felix/tabby-felix"; }
cni_dir() { echo "$BUILD/cni"; }
tabbyctl_bin() { echo "$BUILD/ctl/tabbyctl"; }

# tabbyctl ARGS... - the lab's tabbyctl, pointed at the lab's etcd (and its TLS files).
tabbyctl() {
	local tls
	mapfile -t tls < <(etcd_tls_env)
	env "${tls[@]}" "$(tabbyctl_bin)" --datastore-endpoints "$(etcd_endpoint)" "$@"
}

# lab_etcdctl ARGS... - etcdctl against the lab's etcd (root namespace, loopback).
lab_etcdctl() {
	local tls=() t
	if [ "${ETCD_TLS:-0}" = 1 ]; then
		t=$(etcd_tls_dir)
		tls=(--cacert "$t/ca.crt" --cert "$t/client.crt" --key "$t/client.key")
	fi
	ETCDCTL_API=3 etcdctl --endpoints "$(etcd_http)" "${tls[@]}" "$@"
}
