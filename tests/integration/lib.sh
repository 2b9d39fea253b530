#!/bin/bash
# Shared helpers for integration tests (sourced). Everything a test starts is recorded by PID
# and every namespace it creates carries the test's own prefix, so cleanup never touches
# anything else. Addresses stay inside 198.18.0.0/15.
#
#   need_root                    exit 77 (ctest: skipped) unless root
#   etcd_start / etcd_stop       private etcd on 127.0.0.1:<free port> plus a unix socket
#   etcd_restart                 stop + start on the same data dir and port
#   ns_add NAME                  create netns "$T_PREFIX-NAME" (printed name in $NS_LAST)
#   track_pid PID                kill PID on exit
#   wait_for SECS CMD...         poll CMD every 0.1 s until it succeeds
#   ok MSG / fail MSG            TAP-ish output; fail exits 1
#   who_serve NS IP PORT         TCP server in NS on IP:PORT that answers every connection with
#                                the source address it sees (tracked; waits until it listens)
#   who_ask NS DST PORT          connect from NS (1 s timeout), print what the server saw;
#                                exit status 1 when the connection fails
set -u
T_SRC=${TABBY_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
T_BUILD=${TABBY_BUILD_DIR:-$T_SRC/build}
T_PREFIX=${T_PREFIX:-t$$}
T_TMP=$(mktemp -d /tmp/tabby-test.XXXXXX)
T_PIDS=()
T_NETNS=()
T_PASSED=0
T_FAILED=0

need_root() { [ "$(id -u)" = 0 ] || { echo "skipped: needs root"; exit 77; }; }

# When python3 on PATH is a version manager's shim (pyenv: a shell script that picks the version
# on every start, ~0.4 s each on 2 cores), put the interpreter it resolves to first on PATH, as
# $T_TMP/bin/python3, for this test and everything it starts (the lab, `ip netns exec python3`):
# the same interpreter, without the shim's cost on each of the hundreds of starts a test makes.
t_python_direct() {
	local py
	py=$(python3 -c 'import sys; print(sys.executable)' 2>/dev/null) || return 0
	[ -x "$py" ] && [ "$(command -v python3)" != "$py" ] || return 0
	mkdir -p "$T_TMP/bin" && ln -s "$py" "$T_TMP/bin/python3" && PATH="$T_TMP/bin:$PATH"
}
t_python_direct

track_pid() { T_PIDS+=("$1"); }

t_cleanup() {
	local p ns
	for p in "${T_PIDS[@]}"; do kill "$p" 2>/dev/null; done
	for p in "${T_PIDS[@]}"; do
		for _ in $(seq 1 30); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
		kill -9 "$p" 2>/dev/null
	done
	[ "${ETCD_OWNER:-}" = $$ ] && etcd_stop
	for ns in "${T_NETNS[@]}"; do ip netns del "$ns" 2>/dev/null; done
	[ -n "${T_KEEP_TMP:-}" ] || rm -rf "$T_TMP"
}
trap t_cleanup EXIT

wait_for() {
	local secs=$1; shift
	local n=$((secs * 10))
	for _ in $(seq 1 "$n"); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
	return 1
}

ok() { echo "ok - $*"; T_PASSED=$((T_PASSED + 1)); }
fail() { echo "not ok - $*"; T_FAILED=$((T_FAILED + 1)); exit 1; }
check() { local msg=$1; shift; if "$@"; then ok "$msg"; else fail "$msg"; fi; }
summary() { echo "$T_PASSED passed, $T_FAILED failed"; [ "$T_FAILED" = 0 ]; }

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# etcd listens on 127.0.0.1:PORT and on a unix socket $T_TMP/etcd/etcd.sock:PORT that is
# reachable from every network namespace. Its PID is kept in $ETCD_DIR/etcd.pid, so another
# process (tests/integration/with-etcd --ctl stop|start|restart, run by a C test) can restart it on
# the same data dir and ports; the shell that called etcd_start stops whatever PID is in that file
# on exit.
etcd_spawn() {
	(cd "$ETCD_DIR" && exec env -u ETCD_PORT -u ETCD_PEER_PORT -u ETCD_DIR etcd --name t --data-dir "$ETCD_DIR/data" \
		--listen-client-urls "http://127.0.0.1:$ETCD_PORT,unix://etcd.sock:$ETCD_PORT" \
		--advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
		--listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
		--initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
		--initial-cluster "t=http://127.0.0.1:$ETCD_PEER_PORT" \
		--logger zap --log-outputs "$ETCD_DIR/etcd.log" >>"$ETCD_DIR/etcd.out" 2>&1) &
	ETCD_PID=$!
	echo "$ETCD_PID" >"$ETCD_DIR/etcd.pid"
	export TABBY_TEST_ETCD_PID=$ETCD_PID
	local st
	for _ in $(seq 1 200); do
		curl -sf -m 2 "http://127.0.0.1:$ETCD_PORT/health" >/dev/null 2>&1 && return 0
		# exited (a zombie until our shell reaps it): no use waiting longer
		st=$(awk '{print $3}' "/proc/$ETCD_PID/stat" 2>/dev/null) || break
		[ "$st" = Z ] && break
		sleep 0.1
	done
	echo "etcd did not start"
	cat "$ETCD_DIR/etcd.log"
	return 1
}

etcd_start() {
	command -v etcd >/dev/null || { echo "etcd not installed (run ./tests/run)"; exit 1; }
	ETCD_DIR=${ETCD_DIR:-$T_TMP/etcd}
	mkdir -p "$ETCD_DIR/data"
	# Ports we pick ourselves may be taken by another process between free_port and etcd's bind
	# (tests run side by side): then pick again, up to 5 times.
	local pick=1 try
	[ -n "${ETCD_PORT:-}" ] && pick=0
	for try in 1 2 3 4 5; do
		if [ "$pick" = 1 ]; then
			ETCD_PORT=$(free_port)
			ETCD_PEER_PORT=$(free_port)
			[ "$ETCD_PEER_PORT" != "$ETCD_PORT" ] || continue
		fi
		ETCD_PEER_PORT=${ETCD_PEER_PORT:-$(free_port)}
		etcd_export
		etcd_spawn && return 0
		[ "$pick" = 1 ] && grep -q 'address already in use' "$ETCD_DIR/etcd.log" 2>/dev/null || exit 1
		echo "# etcd: a port was taken meanwhile (try $try), picking others"
		kill "$ETCD_PID" 2>/dev/null
		etcd_wait_gone "$ETCD_PID" 50
		rm -rf "$ETCD_DIR/data" && mkdir -p "$ETCD_DIR/data"
		: >"$ETCD_DIR/etcd.log"
	done
	exit 1
}

# The environment of the etcd on ETCD_PORT/ETCD_PEER_PORT in ETCD_DIR (etcd_start).
etcd_export() {
	ETCD_OWNER=$$
	export TABBY_DATASTORE_ENDPOINTS="http://127.0.0.1:$ETCD_PORT"
	export TABBY_TEST_ETCD_UNIX="unix://$ETCD_DIR/etcd.sock:$ETCD_PORT"
	export TABBY_TEST_ETCD_DIR=$ETCD_DIR ETCD_PORT ETCD_PEER_PORT
	local with_etcd
	with_etcd="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/with-etcd"
	export TABBY_TEST_ETCD_CTL="$with_etcd --ctl"
	export TABBY_TEST_ETCD_RESTART="$with_etcd --ctl restart"
}

# Waits for PID to be gone (or a zombie: it may be another process's child).
etcd_wait_gone() {
	local st
	for _ in $(seq 1 "$2"); do
		st=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 0
		[ "$st" = Z ] && return 0
		sleep 0.1
	done
	return 1
}

etcd_stop() {
	local pid
	pid=$(cat "$ETCD_DIR/etcd.pid" 2>/dev/null) || return 0
	[ -n "$pid" ] || return 0
	kill "$pid" 2>/dev/null
	etcd_wait_gone "$pid" 50 || { kill -9 "$pid" 2>/dev/null; etcd_wait_gone "$pid" 20; }
	: >"$ETCD_DIR/etcd.pid"
}

etcd_restart() { etcd_stop; etcd_spawn; }

ns_add() {
	local ns="$T_PREFIX-$1"
	ip netns add "$ns" || fail "ip netns add $ns"
	T_NETNS+=("$ns")
	ip netns exec "$ns" ip link set lo up
	NS_LAST=$ns
}

# who.py / ask.py of who_serve and who_ask, written on first use.
who_scripts() {
	[ -e "$T_TMP/who.py" ] && return 0
	cat >"$T_TMP/who.py" <<'EOP'
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2]))); s.listen(64)
print("ready", flush=True)
while True:
    c, a = s.accept()
    try: c.sendall((a[0] + "\n").encode())
    except OSError: pass
    c.close()
EOP
	cat >"$T_TMP/ask.py" <<'EOP'
import socket, sys
s = socket.socket(); s.settimeout(1.0)
try:
    s.connect((sys.argv[1], int(sys.argv[2]))); print(s.recv(100).decode().strip())
except OSError: sys.exit(1)
EOP
}
who_serve() {
	who_scripts
	ip netns exec "$1" python3 "$T_TMP/who.py" "$2" "$3" >"$T_TMP/who-$2-$3.log" 2>&1 &
	track_pid $!
	wait_for 5 grep -q ready "$T_TMP/who-$2-$3.log" || fail "TCP server on $2:$3 did not start"
}
who_ask() { who_scripts && ip netns exec "$1" python3 "$T_TMP/ask.py" "$2" "$3"; }
