# etcd-lib.sh - shared by the etcd-*.t lab tests (sourced after lib.sh, with TABBY_LAB_PREFIX
# set): each test brings up its own lab with a 3-member etcd (lab/tabby-lab --etcd-members 3,
# unique prefix and run directory) and tears it down, thawing any member it froze.
# shellcheck shell=bash

LAB="$T_SRC/lab/tabby-lab"
CTL="$T_BUILD/ctl/tabbyctl"
export TABBY_LAB_RUN="$T_TMP/lab"
export TABBY_BUILD_DIR="$T_BUILD"
export TABBY_LAB_NO_INSTALL=1 TABBY_LAB_NO_BUILD=1
RUN=$TABBY_LAB_RUN
P=$TABBY_LAB_PREFIX
CNI_ADDED=() # "HOST NAME CID" of containers a test added with cni_add

for b in felix/tabby-felix cni/tabby cni/tabby-ipam ctl/tabbyctl; do
	[ -x "$T_BUILD/$b" ] || fail "missing $T_BUILD/$b: build the tree first"
done
command -v etcdctl >/dev/null || fail "etcdctl not installed (Debian etcd-client)"

etcd_lab_teardown() {
	local rc=$? f a
	if [ "$rc" != 0 ] && [ -d "$RUN" ]; then
		echo "# --- lab logs (test failed) ---"
		for f in "$RUN"/h*/felix.log "$RUN"/etcd*/etcd.log "$T_TMP"/*.cni.log; do
			[ -s "$f" ] || continue
			echo "# $f:"
			tail -n 15 "$f" | sed 's/^/#   /'
		done
	fi
	if [ -e "$RUN/.tabby-lab" ]; then
		for f in "$RUN"/pids/etcd*.pid; do # a test may have frozen one (SIGSTOP)
			[ -s "$f" ] && kill -CONT "$(cat "$f")" 2>/dev/null
		done
		for a in "${CNI_ADDED[@]}"; do
			# shellcheck disable=SC2086 # three words
			cni_del $a >/dev/null 2>&1
		done
		"$LAB" down >/dev/null 2>&1
	fi
	t_cleanup
}
trap etcd_lab_teardown EXIT

lab_up() {
	"$LAB" up --no-policy --etcd-members 3 "$@" >"$T_TMP/up.log" 2>&1 ||
		{ sed 's/^/#   /' "$T_TMP/up.log"; fail "tabby-lab up --etcd-members 3 $*"; }
}
lab_env() { (. "$RUN/lab.env" && eval "echo \"\$$1\""); }
now_ms() { date +%s%3N; }

# member_port K / member_pid K / member_sock_port PATH
member_port() { local -a p; read -ra p <<<"$(lab_env ETCD_PORTS)"; echo "${p[$(($1 - 1))]}"; }
member_pid() { if [ "$1" = 1 ]; then cat "$RUN/pids/etcd.pid"; else cat "$RUN/pids/etcd-$1.pid"; fi; }
# member_of_port PORT - the member number listening on client port PORT
member_of_port() {
	local k
	for k in 1 2 3; do [ "$(member_port "$k")" = "$1" ] && echo "$k" && return 0; done
	return 1
}
# leader - the number of the member that is the raft leader now (etcdctl endpoint status)
leader() {
	local port
	port=$("$LAB" etcdctl endpoint status -w json 2>/dev/null | python3 -c '
import json, sys
for e in json.load(sys.stdin):
    s = e["Status"]
    if s["leader"] == s["header"]["member_id"]:
        print(e["Endpoint"].rsplit(":", 1)[1])
') || return 1
	[ -n "$port" ] && member_of_port "$port"
}
leader_is() { [ "$(leader)" = "$1" ]; }
has_leader() { [ -n "$(leader)" ]; }
# member_id K - member K's id in hex, as etcdctl move-leader wants it
member_id() {
	"$LAB" etcdctl endpoint status -w json 2>/dev/null | python3 -c '
import json, sys
port = sys.argv[1]
for e in json.load(sys.stdin):
    if e["Endpoint"].rsplit(":", 1)[1] == port:
        print("%x" % e["Status"]["header"]["member_id"])
' "$(member_port "$1")"
}

# readiness N - felix on hN's /readiness JSON (its health port in hN's namespace)
readiness() { ip netns exec "$P-h$1" curl -s --max-time 1 http://127.0.0.1:9099/readiness; }
# ready_field N EXPR - a Python expression over felix hN's readiness JSON `d`
ready_field() {
	readiness "$1" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(eval(sys.argv[1]))' "$2"
}
# watched N - the member felix on hN watches (from datastoreWatch.endpoint, a socket NAME:PORT)
watched() { member_of_port "$(ready_field "$1" 'd["datastoreWatch"]["endpoint"].rsplit(":",1)[1]')"; }
failovers() { ready_field "$1" 'd["datastoreWatch"]["failovers"]'; }
is_ready() { [ "$(ready_field "$1" 'd["ready"]')" = True ]; }
# ready_on_other N K F - felix on hN is ready, watching a member other than K, after more than
# F failovers
ready_on_other() {
	local out
	out=$(ready_field "$1" '"%s %s %s" % (d["ready"], d["datastoreWatch"]["endpoint"].rsplit(":",1)[1], d["datastoreWatch"]["failovers"])') || return 1
	set -- "$1" "$2" "$3" $out
	[ "$4" = True ] && [ "$5" != "$(member_port "$2")" ] && [ "$6" -gt "$3" ]
}

wl_ip() { ip -n "$P-h$1-w1" -4 -o addr show eth0 | awk '{print $4}' | cut -d/ -f1; }
# start_ping FROM_HOST TO_IP NAME - ping every 10 ms from hFROM-w1; output in $T_TMP/NAME.ping
PING_PIDS=()
start_ping() {
	ip netns exec "$P-h$1-w1" ping -n -i 0.01 -W 1 "$2" >"$T_TMP/$3.ping" 2>&1 &
	PING_PIDS+=($!)
	track_pid $!
}
ping_result() { sed -n 's/^\([0-9]*\) packets transmitted, \([0-9]*\) received.*/\1 \2/p' "$T_TMP/$1.ping"; }
# stop_pings MIN NAME... - stop the pings; each sent at least MIN and lost none
stop_pings() {
	local min=$1 res tx rx
	shift
	kill -INT "${PING_PIDS[@]}"
	wait "${PING_PIDS[@]}" 2>/dev/null
	for res in "$@"; do
		read -r tx rx <<<"$(ping_result "$res")"
		[ -n "$tx" ] && [ "$tx" -ge "$min" ] ||
			{ tail -3 "$T_TMP/$res.ping"; fail "$res sent at least $min pings (got '${tx:-none}')"; }
		echo "# $res: $tx transmitted, $rx received, $((tx - rx)) lost"
		check "$res loses 0 of $tx packets" [ "$rx" = "$tx" ]
	done
	PING_PIDS=()
}

# cni_call N CMD NAME CID - the tabby CNI plugin in hN's namespace with hN's lab network config
# (the lab's endpoints and, with --etcd-tls, its certificate files), as lib/workloads.sh calls it.
cni_call() {
	local n=$1 cmd=$2 name=$3 cid=$4
	ip netns exec "$P-h$n" env -u TABBY_DATASTORE_ENDPOINTS CNI_COMMAND="$cmd" \
		CNI_CONTAINERID="$cid" CNI_NETNS="/run/netns/$T_PREFIX-$name" CNI_IFNAME=eth0 \
		CNI_PATH="$T_BUILD/cni" CNI_ARGS="K8S_POD_NAMESPACE=default;K8S_POD_NAME=$name" \
		"$T_BUILD/cni/tabby" <"$RUN/h$n/net.conf"
}
# cni_add N NAME - a new workload NAME on hN (namespace $T_PREFIX-NAME); the ADD's duration in ms
# goes to $T_TMP/NAME.ms, its result to $T_TMP/NAME.json. Returns the plugin's status.
cni_add() {
	local n=$1 name=$2 cid t0 rc=0
	cid=$(printf '%s %s %s' "$RUN" "$name" "$(date +%s%N)" | sha256sum | cut -c1-64)
	# A caller that runs this in the background (a subshell) creates the namespace first with
	# ns_add, so that t_cleanup in the parent knows it.
	[ -e "/run/netns/$T_PREFIX-$name" ] || ns_add "$name"
	CNI_ADDED+=("$n $name $cid")
	t0=$(now_ms)
	cni_call "$n" ADD "$name" "$cid" >"$T_TMP/$name.json" 2>"$T_TMP/$name.cni.log" || rc=$?
	echo $(($(now_ms) - t0)) >"$T_TMP/$name.ms"
	return $rc
}
cni_del() { cni_call "$1" DEL "$2" "$3"; }
# cni_ip NAME - the address the ADD gave NAME
cni_ip() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["ips"][0]["address"].split("/")[0])' "$T_TMP/$1.json"; }
