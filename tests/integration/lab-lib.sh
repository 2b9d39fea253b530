# Shared preamble of the tests that drive lab/tabby-lab (lab*.t, docker-ipv6.t); source it after
# lib.sh. They run on the already built tree ($TABBY_BUILD_DIR) without apt, with their own
# namespace prefix and run directory, so they never touch a lab a user has running.
#
#   lab_setup TAG [BIN...]   export TABBY_LAB_PREFIX=<TAG><pid>, TABBY_LAB_RUN=$T_TMP/lab and the
#                            no-install/no-build switches; set LAB (the script), RUN and P; fail
#                            unless felix, both CNI plugins, tabbyctl and every BIN (relative to
#                            the build tree) are built; on exit, lab_teardown
#   lab_teardown             on a failure (not a skip) print the tail of every lab log, then
#                            `tabby-lab down` when a lab is up, then t_cleanup
#   proc_gone PID            true when PID has exited (gone, or a zombie nobody reaped yet)

proc_gone() { [ ! -e "/proc/$1" ] || grep -q '^State:.*Z' "/proc/$1/status" 2>/dev/null; }

lab_setup() {
	local tag=$1 b
	shift
	LAB="$T_SRC/lab/tabby-lab"
	export TABBY_LAB_PREFIX="$tag$$"
	export TABBY_LAB_RUN="$T_TMP/lab"
	export TABBY_BUILD_DIR="$T_BUILD"
	export TABBY_LAB_NO_INSTALL=1 TABBY_LAB_NO_BUILD=1
	RUN=$TABBY_LAB_RUN
	P=$TABBY_LAB_PREFIX
	for b in felix/tabby-felix cni/tabby cni/tabby-ipam ctl/tabbyctl "$@"; do
		[ -x "$T_BUILD/$b" ] || fail "missing $T_BUILD/$b: build the tree first"
	done
	trap lab_teardown EXIT
}

lab_teardown() {
	local rc=$? f
	if [ "$rc" != 0 ] && [ "$rc" != 77 ] && [ -d "$RUN" ]; then
		echo "# --- lab logs (test failed) ---"
		for f in "$RUN"/h*/felix.log "$RUN"/h*/bird.log "$RUN"/workloads/*.log \
			"$RUN"/policy/*.log "$RUN"/outside.log "$RUN"/tabbyctl.log "$RUN"/docker/h*/*.log; do
			[ -s "$f" ] || continue
			echo "# $f:"
			tail -n 15 "$f" | sed 's/^/#   /'
		done
	fi
	[ -e "$RUN/.tabby-lab" ] && "$LAB" down >/dev/null 2>&1
	t_cleanup
}
