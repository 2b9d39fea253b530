# lab/lib/policy.sh - the lab's network policy: the dataplane choice, the example policies,
# a TCP server in every workload, and `check --policy` (sourced).
# shellcheck shell=bash
#
# Labels: workload hN-wM gets app=client, app=web or app=db by M (1, 2, 3, then again from 4),
# plus lab-host=hN; configs/examples/policy-*.yaml select on them. w1 is a client because the
# other lab tests send their traffic from hN-w1, and a client's egress has no policy.
# Servers: one python3 process per workload listens on every port that
# configs/examples/expected-policy.txt names (bound to the workload's address), so a flow that
# does not connect was dropped by policy and not refused for want of a listener. PIDs are
# recorded as $RUN/policy/pids/srv-hN-wM.pid (apart from the daemons in $RUN/pids) and `down`
# stops exactly those (servers_stop; the command line names the script in $RUN, which
# pid_is_ours() checks, so a recycled PID is never killed).
# State: $RUN/policy.env (DATAPLANE, POLICY).

LAB_POLICY_EXAMPLES=("policy-calico.yaml" "policy-kubernetes.yaml")
LAB_POLICY_FLOWS=$LAB_SRC/configs/examples/expected-policy.txt
LAB_POLICY_CONNECT_TIMEOUT=1.5 # seconds a probe waits for the TCP handshake
LAB_T_POLICY=${TABBY_LAB_POLICY_WAIT:-30} # seconds `check --policy` waits for felix to program it

DATAPLANE=${DATAPLANE:-nftables}
POLICY=${POLICY:-1}

# wl_app M - the app label of the M-th workload of a host.
wl_app() {
	local apps=(client web db)
	echo "${apps[$((($1 - 1) % 3))]}"
}

# policy_parse_opt ARGS... - consume one option of up/demo that belongs to the policy part.
# Return: how many arguments it took (0 = not ours); dies on a bad value.
policy_parse_opt() {
	case "$1" in
	--dataplane)
		DATAPLANE=${2:?--dataplane needs nftables or iptables}
		[[ $DATAPLANE =~ ^(nftables|iptables)$ ]] ||
			die "--dataplane must be nftables or iptables, got '$DATAPLANE'"
		return 2
		;;
	--no-policy)
		POLICY=0
		return 1
		;;
	esac
	return 0
}

policy_save_state() {
	{
		printf 'DATAPLANE=%q\n' "$DATAPLANE"
		printf 'POLICY=%q\n' "$POLICY"
	} >"$RUN/policy.env"
}

policy_load_state() {
	# shellcheck disable=SC1091
	[ -f "$RUN/policy.env" ] && . "$RUN/policy.env"
	return 0
}

# policy_ports - the TCP ports expected-policy.txt uses, one line, sorted.
policy_ports() {
	awk '!/^[[:space:]]*(#|$)/ { print $3 }' "$LAB_POLICY_FLOWS" | sort -nu | tr '\n' ' '
}

write_tcp_server() {
	cat >"$RUN/policy/tcp-server.py" <<'EOF'
# A TCP listener per port on each address (comma-separated: the IPv4 and, dual-stack, the IPv6
# one); accepts and closes every connection (tabby-lab).
import selectors, socket, sys

addrs, ports = sys.argv[1].split(","), [int(p) for p in sys.argv[2:]]
sel = selectors.DefaultSelector()
for addr in addrs:
    for port in ports:
        s = socket.socket(socket.AF_INET6 if ":" in addr else socket.AF_INET)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((addr, port))
        s.listen(128)
        sel.register(s, selectors.EVENT_READ)
print("listening on", *addrs, *ports, flush=True)
while True:
    for key, _ in sel.select():
        try:
            conn, _ = key.fileobj.accept()
            conn.close()
        except OSError:
            pass
EOF
}

# servers_start - one TCP server per workload, on the ports of expected-policy.txt.
servers_start() {
	# shellcheck disable=SC2034 # the .env files set all of them
	local f name ports WL_HOST WL_NAME WL_NETNS WL_CID WL_IP WL_IP6
	mkdir -p "$RUN/policy/pids"
	write_tcp_server
	read -r -a ports <<<"$(policy_ports)"
	for f in "$RUN"/workloads/*.env; do
		[ -e "$f" ] || continue
		WL_IP="" WL_IP6=""
		# shellcheck disable=SC1090
		. "$f"
		[ -n "$WL_IP" ] || continue
		name=$WL_NAME
		ip netns exec "$WL_NETNS" python3 "$RUN/policy/tcp-server.py" "$WL_IP${WL_IP6:+,$WL_IP6}" "${ports[@]}" \
			</dev/null >>"$RUN/policy/srv-$name.log" 2>&1 &
		echo $! >"$RUN/policy/pids/srv-$name.pid"
	done
	for f in "$RUN"/workloads/*.env; do
		[ -e "$f" ] || continue
		name=$(basename "$f" .env)
		[ -f "$RUN/policy/pids/srv-$name.pid" ] || continue
		wait_for 10 grep -q '^listening' "$RUN/policy/srv-$name.log" ||
			fail_step "the TCP server of $name did not start" "$RUN/policy/srv-$name.log"
	done
}

# servers_stop - SIGTERM every recorded server that still is ours, SIGKILL after 2 s.
servers_stop() {
	local f pid
	for f in "$RUN"/policy/pids/*.pid; do
		[ -e "$f" ] || continue
		pid=$(cat "$f")
		if pid_is_ours "$pid"; then
			stop_proc "$pid" 2
		fi
		rm -f "$f"
	done
	return 0
}

# policy_apply - the example policies, through tabbyctl like an admin.
policy_apply() {
	local f
	for f in "${LAB_POLICY_EXAMPLES[@]}"; do
		tabbyctl apply -f "$LAB_SRC/configs/examples/$f" >>"$RUN/tabbyctl.log" 2>&1 ||
			fail_step "tabbyctl apply -f configs/examples/$f" "$RUN/tabbyctl.log"
	done
}

# policy_up - the policy steps of `up`, after the workloads exist.
policy_up() {
	step "TCP servers in every workload (ports $(policy_ports| sed 's/ $//'))"
	servers_start
	if [ "$POLICY" = 1 ]; then
		step "example policies (${LAB_POLICY_EXAMPLES[*]}), enforced by $DATAPLANE"
		policy_apply
	else
		say "    --no-policy: no policy applied (everything is open)"
	fi
}

# probe NETNS IP PORT - one TCP connect from a workload: connect, timeout, refused or error:...
probe() {
	ip netns exec "$1" python3 -c '
import socket, sys
s = socket.socket(socket.AF_INET6 if ":" in sys.argv[1] else socket.AF_INET)
s.settimeout(float(sys.argv[3]))
try:
    s.connect((sys.argv[1], int(sys.argv[2])))
    print("connect")
except socket.timeout:
    print("timeout")
except ConnectionRefusedError:
    print("refused")
except OSError as e:
    print("error:" + (e.strerror or str(e)).replace(" ", "-"))
' "$2" "$3" "$LAB_POLICY_CONNECT_TIMEOUT" 2>/dev/null || echo "error:probe-failed"
}

# wl_env_get NAME VAR - a variable of a recorded workload ("" when there is no such workload).
wl_env_get() {
	[ -f "$RUN/workloads/$1.env" ] || return 0
	(
		# shellcheck disable=SC1090
		. "$RUN/workloads/$1.env"
		eval "echo \"\${$2:-}\""
	)
}

# lab_check_policy - every flow of expected-policy.txt with a real TCP connect. The probes of one
# round run in parallel. Rounds repeat, every flow each time, until one round matches
# everything or LAB_T_POLICY seconds have passed, because felix programs a policy change a
# moment after the datastore has it; the last round is what is reported. Prints expected vs
# observed per flow and "N passed, M failed".
lab_check_policy() {
	local -a src dst port want got note pids fam
	local i n=0 skipped=0 passed=0 failed=0 end bad s d p w rest ns ip dir f var
	local -A fpassed=([4]=0 [6]=0) ffailed=([4]=0 [6]=0)
	[ -f "$LAB_POLICY_FLOWS" ] || die "missing $LAB_POLICY_FLOWS"
	while read -r s d p w rest; do
		case "$s" in '' | '#'*) continue ;; esac
		if [ -z "$(wl_env_get "$s" WL_IP)" ] || [ -z "$(wl_env_get "$d" WL_IP)" ]; then
			skipped=$((skipped + 1))
			continue
		fi
		# every flow once per family of the lab (lib/ipv6.sh: --ipv6 adds IPv6)
		for f in $(families); do
			src[n]=$s dst[n]=$d port[n]=$p want[n]=$w note[n]=$rest got[n]="" fam[n]=$f
			n=$((n + 1))
		done
	done <"$LAB_POLICY_FLOWS"
	[ "$n" -gt 0 ] || die "no flow of $LAB_POLICY_FLOWS has both workloads in this lab (run up with --hosts 2 --workloads 3 or more)"
	[ "$POLICY" = 1 ] || warn "this lab was brought up with --no-policy: the denied flows will connect"
	dir=$(mktemp -d "$RUN/policy/check.XXXXXX")
	end=$((SECONDS + LAB_T_POLICY))
	while :; do
		pids=()
		for i in $(seq 0 $((n - 1))); do
			ns=$(wl_env_get "${src[i]}" WL_NETNS)
			var=WL_IP
			[ "${fam[i]}" = 4 ] || var=WL_IP6
			ip=$(wl_env_get "${dst[i]}" "$var")
			probe "$ns" "$ip" "${port[i]}" >"$dir/$i" &
			pids+=($!)
		done
		for i in "${pids[@]}"; do wait "$i" || true; done
		bad=0
		for i in $(seq 0 $((n - 1))); do
			got[i]=$(cat "$dir/$i")
			[ "${got[i]}" = "${want[i]}" ] || bad=$((bad + 1))
		done
		if [ "$bad" = 0 ] || [ "$SECONDS" -ge "$end" ]; then break; fi
		sleep 1
	done
	rm -rf -- "$dir"

	say "Policy flows (configs/examples/expected-policy.txt; dataplane $DATAPLANE; TCP connect, ${LAB_POLICY_CONNECT_TIMEOUT}s timeout)"
	w=15
	[ "${IPV6:-0}" != 1 ] || w=22
	printf '  %-6s %-6s %-*s %-5s  %-8s %-8s %s\n' SRC DST "$w" "DST-IP" PORT EXPECTED OBSERVED ""
	for i in $(seq 0 $((n - 1))); do
		if [ "${got[i]}" = "${want[i]}" ]; then
			passed=$((passed + 1))
			fpassed[${fam[i]}]=$((fpassed[${fam[i]}] + 1))
			rest=ok
		else
			failed=$((failed + 1))
			ffailed[${fam[i]}]=$((ffailed[${fam[i]}] + 1))
			rest=FAIL
		fi
		var=WL_IP
		[ "${fam[i]}" = 4 ] || var=WL_IP6
		printf '  %-6s %-6s %-*s %-5s  %-8s %-8s %-4s  %s\n' "${src[i]}" "${dst[i]}" "$w" \
			"$(wl_env_get "${dst[i]}" "$var")" "${port[i]}" "${want[i]}" "${got[i]}" "$rest" \
			"${note[i]}"
	done
	[ "$skipped" = 0 ] || say "  ($skipped flow(s) skipped: their workloads are not in this lab)"
	if [ "$failed" -gt 0 ]; then
		say "  explain one: $(tabbyctl_bin) --datastore-endpoints $(etcd_endpoint) policy explain default/SRC --to DST-IP --port PORT"
	fi
	if [ "${IPV6:-0}" = 1 ]; then
		for f in $(families); do say "IPv$f: ${fpassed[$f]} passed, ${ffailed[$f]} failed"; done
	fi
	say "$passed passed, $failed failed"
	[ "$failed" -eq 0 ]
}

lab_check_policy_cmd() {
	need_root "check"
	load_state || die "no lab in $RUN (start one with: $(lab_cmd) up)"
	policy_load_state
	mkdir -p "$RUN/policy"
	lab_check_policy
}
