# bgp-lib.sh - shared by the bgp-*.t lab tests (sourced after lib.sh): each test brings up its
# own lab (unique TABBY_LAB_PREFIX and TABBY_LAB_RUN) through lab/tabby-lab and tears it down.
# shellcheck shell=bash

LAB="$T_SRC/lab/tabby-lab"
CTL="$T_BUILD/ctl/tabbyctl"
export TABBY_LAB_RUN="$T_TMP/lab"
export TABBY_BUILD_DIR="$T_BUILD"
export TABBY_LAB_NO_INSTALL=1 TABBY_LAB_NO_BUILD=1
RUN=$TABBY_LAB_RUN

for b in felix/tabby-felix cni/tabby cni/tabby-ipam ctl/tabbyctl; do
	[ -x "$T_BUILD/$b" ] || fail "missing $T_BUILD/$b: build the tree first"
done
grep -q -- '--topology' "$LAB" || { echo "skipped: lab/tabby-lab has no --topology"; exit 77; }

bgp_lab_teardown() {
	local rc=$? f
	if [ "$rc" != 0 ] && [ -d "$RUN" ]; then
		echo "# --- lab logs (test failed) ---"
		for f in "$RUN"/h*/felix.log "$RUN"/h*/bird.log "$RUN"/tor/bgpd.log; do
			[ -s "$f" ] || continue
			echo "# $f:"
			tail -n 15 "$f" | sed 's/^/#   /'
		done
	fi
	if [ -e "$RUN/.tabby-lab" ]; then
		for f in "$RUN"/h*/bird.pid; do # a test may have stopped one (SIGSTOP)
			[ -s "$f" ] && kill -CONT "$(cat "$f")" 2>/dev/null
		done
		"$LAB" down >/dev/null 2>&1
	fi
	t_cleanup
}
trap bgp_lab_teardown EXIT

# The lab's example policies (lib/policy.sh) are not what these tests are about: leave every
# workload open when the lab knows --no-policy.
LAB_OPTS=()
grep -q -- '--no-policy' "$LAB" && LAB_OPTS+=(--no-policy)
lab_up() {
	"$LAB" up "${LAB_OPTS[@]}" "$@" >"$T_TMP/up.log" 2>&1 || { cat "$T_TMP/up.log"; fail "tabby-lab up $*"; }
}
lab_down() { "$LAB" down >/dev/null 2>&1 || fail "tabby-lab down"; }
ep() { echo "unix://$RUN/etcd/etcd.sock:$(. "$RUN/lab.env"; echo "$ETCD_PORT")"; }
ctl() { "$CTL" --datastore-endpoints "$(ep)" "$@"; }
bird_ctl() { birdc -s "$RUN/h$1/bird.ctl" "${@:2}"; }

# established N - BGP sessions of hN in Established, as `tabbyctl node status -o json` says.
established() {
	"$CTL" node status --bird-socket "$RUN/h$1/bird.ctl" -o json 2>/dev/null |
		python3 -c 'import json,sys; print(sum(p["info"] == "Established" for p in json.load(sys.stdin)))'
}
sessions() { "$CTL" node status --bird-socket "$RUN/h$1/bird.ctl" -o json 2>/dev/null | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))'; }
all_established() { [ "$(established "$1")" = "$2" ] && [ "$(sessions "$1")" = "$2" ]; }
# est_is N COUNT - hN has exactly COUNT sessions Established (re-read on every call: use it, not
# `test "$(established N)" = ...`, inside wait_for).
est_is() { [ "$(established "$1")" = "$2" ]; }
bird_pid() { cat "$RUN/h$1/bird.pid"; }
tor_vtysh() { vtysh -N "$TABBY_LAB_PREFIX-tor" "$@" 2>/dev/null; }
lab_etcdctl() { ETCDCTL_API=3 etcdctl --endpoints "http://127.0.0.1:$(. "$RUN/lab.env"; echo "$ETCD_PORT")" "$@"; }

# wl_ip N - the address of hN's first workload (the CNI plugin's result, recorded by the lab).
wl_ip() { ip -n "$TABBY_LAB_PREFIX-h$1-w1" -4 -o addr show eth0 | awk '{print $4}' | cut -d/ -f1; }
ping_ok() { ip netns exec "$TABBY_LAB_PREFIX-h$1-w1" ping -c 1 -W 2 "$2" >/dev/null 2>&1; }
# kernel_block N - the /26 hN owns, read back from hN's kernel (its blackhole, proto 81).
kernel_block() { ip -n "$TABBY_LAB_PREFIX-h$1" route show proto 81 type blackhole | awk '{print $2}'; }
has_route() { ip -n "$TABBY_LAB_PREFIX-h$1" route show "$2" | grep -q .; }
no_route() { ! has_route "$@"; }
# bird_route N PREFIX PATTERN - hN's kernel has PREFIX from BIRD (proto bird) matching PATTERN.
bird_route() { ip -n "$TABBY_LAB_PREFIX-h$1" route show "$2" proto bird | grep -q -- "$3"; }
