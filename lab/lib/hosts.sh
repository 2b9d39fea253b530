# lab/lib/hosts.sh - the per-host agents: tabby-felix and BIRD inside each host namespace (sourced).
# shellcheck shell=bash
#
# Order matters:
#  1. The IPPool must exist before felix starts: felix claims its /26 at start (ipam_ensure_block).
#  2. Every felix is started before any BIRD, so each one can register its Node and render a
#     bird.conf that already lists the other hosts as mesh peers; BIRD then starts on a complete
#     config. (Felix also re-renders and runs `birdc configure` when nodes change later.)
#  3. Felix renders bird.conf but does not run BIRD (the lab or systemd does).

# lab_env - `env` arguments that drop every TABBY_* variable of the caller: felix and the CNI
# plugin let TABBY_<KEY> override their config, and the lab's files must be the only input.
lab_env() {
	local v
	printf '%s\n' env
	for v in $(compgen -e); do
		[[ $v == TABBY_* ]] && printf -- '-u\n%s\n' "$v"
	done
	return 0
}

write_felix_config() {
	local n=$1 d="$RUN/h$1"
	cat >"$d/felix.yaml" <<EOF
# tabby-felix configuration of lab host h$n (written by tabby-lab; see configs/felix.yaml)
nodeName: h$n
ipv4Address: $(host_ip "$n")/$(host_plen)
$(felix_ipv6_config "$n")
$(a=$(host_as "$n"); [ -z "$a" ] || echo "asNumber: $a")
datastoreEndpoints: $(etcd_endpoint)
$([ "${ETCD_TLS:-0}" != 1 ] || printf 'datastoreCAFile: %s\ndatastoreCertFile: %s\ndatastoreKeyFile: %s\n' \
	"$(etcd_tls_dir)/ca.crt" "$(etcd_tls_dir)/client.crt" "$(etcd_tls_dir)/client.key")
birdConfigFile: $d/bird.conf
birdSocket: $d/bird.ctl
birdLogFile: $d/bird.log
birdFastTimers: true
nodenameFile: $d/nodename
policyDataplane: ${DATAPLANE:-nftables}
logSeverityScreen: Info
EOF
}

# felix_start N - run tabby-felix in host hN's namespace; `ip netns exec` execs it, so $! is
# felix's own PID.
felix_start() {
	local n=$1 d="$RUN/h$1" envargs
	mkdir -p "$d"
	write_felix_config "$n"
	mapfile -t envargs < <(lab_env)
	ip netns exec "$(host_ns "$n")" "${envargs[@]}" "$(felix_bin)" --config "$d/felix.yaml" \
		</dev/null >>"$d/felix.log" 2>&1 &
	record_pid "felix-h$n" $!
}

felix_alive() { pid_is_ours "$(cat "$RUN/pids/felix-h$1.pid" 2>/dev/null)"; }

# bird_conf_ready N - felix has written hN's bird.conf (felix renames it into place whole).
bird_conf_ready() { [ -s "$RUN/h$1/bird.conf" ]; }

# bird_conf_peers N - how many BGP sessions hN's bird.conf declares.
bird_conf_peers() {
	grep -cE '^[[:space:]]*protocol[[:space:]]+bgp[[:space:]]' "$RUN/h$1/bird.conf" 2>/dev/null ||
		true
}

# bird_conf_complete N - hN's bird.conf lists every peer it should have (subnets: the whole mesh,
# across the router too, although only the sessions in its own subnet come up).
bird_conf_complete() {
	local want
	want=$(bgp_expected_sessions "$1")
	[ "$TOPOLOGY" != subnets ] || want=$((HOSTS - 1))
	[ "$(bird_conf_peers "$1")" -ge "$want" ]
}

# wait_felix N - until felix wrote a bird.conf naming every other host; fail if felix died.
wait_felix() {
	local n=$1 end=$((SECONDS + LAB_T_FELIX))
	until bird_conf_ready "$n" && bird_conf_complete "$n"; do
		felix_alive "$n" || fail_step "tabby-felix on h$n exited" "$RUN/h$n/felix.log"
		if [ "$SECONDS" -ge "$end" ]; then
			bird_conf_ready "$n" ||
				fail_step "tabby-felix on h$n wrote no $RUN/h$n/bird.conf within ${LAB_T_FELIX}s" \
					"$RUN/h$n/felix.log"
			warn "h$n: bird.conf lists $(bird_conf_peers "$n") of $(bgp_expected_sessions "$n") peers; starting BIRD anyway (felix reconfigures it when the nodes appear)"
			return 0
		fi
		sleep 0.2
	done
}

# bird_start N [-R] - BIRD daemonizes; -P makes the daemon write its own PID, which we record.
# -R (graceful restart recovery, BIRD 2 user guide "Running BIRD") is for a restart only
# (bird_restart): after a crash, the kernel protocol keeps the routes the previous BIRD left
# (its config has `persist` and `graceful restart`) until every BGP peer has re-sent its routes
# (End-of-RIB, RFC 4724), and the peers keep this host's routes as stale meanwhile, so a kill -9
# plus restart loses no packet. A first start has nothing to recover: with -R it would only hold
# back every kernel route until all peers sent End-of-RIB or `graceful restart wait` passed
# (seen: a ToR host waiting more than 90 s), so it starts without.
bird_start() {
	local n=$1 recover=${2:-} d="$RUN/h$1"
	bird -p -c "$d/bird.conf" >"$d/bird.check" 2>&1 ||
		fail_step "BIRD rejects the bird.conf felix wrote for h$n" "$d/bird.check"
	rm -f "$d/bird.pid"
	# shellcheck disable=SC2086 # $recover is empty or -R
	ip netns exec "$(host_ns "$n")" bird $recover -c "$d/bird.conf" -s "$d/bird.ctl" \
		-P "$d/bird.pid" </dev/null >>"$d/bird.stdout" 2>&1 ||
		fail_step "BIRD did not start on h$n" "$d/bird.stdout"
	wait_for 10 test -s "$d/bird.pid" || fail_step "BIRD on h$n wrote no pid file" "$d/bird.stdout"
	record_pid "bird-h$n" "$(cat "$d/bird.pid")"
	wait_for 10 test -S "$d/bird.ctl" ||
		fail_step "BIRD on h$n opened no control socket $d/bird.ctl" "$d/bird.log"
}

# bgp_established N - number of hN's BGP sessions in state Established.
bgp_established() {
	birdc -s "$RUN/h$1/bird.ctl" show protocols 2>/dev/null | grep -c 'Established' || true
}

bgp_complete() { [ "$(bgp_established "$1")" -ge "$(bgp_expected_sessions "$1")" ]; }

# route_via N IP M - host hN routes IP to host hM's fabric address (learned over BGP).
route_via() { bgp_route_via "$@"; }

# route_specific N IP - hN has a route for IP other than its default route (with encapsulation
# felix's route via vxlan.tabby, or one BIRD learned).
route_specific() {
	ip -n "$(host_ns "$1")" route show match "$2" 2>/dev/null | grep -qv '^default '
}

hosts_start() {
	local n
	for n in $(seq 1 "$HOSTS"); do
		felix_start "$n"
	done
	for n in $(seq 1 "$HOSTS"); do
		wait_felix "$n"
	done
	for n in $(seq 1 "$HOSTS"); do
		bird_start "$n"
	done
}

# bird_restart N - SIGKILL hN's BIRD (a crash: no Cease to the peers, routes left in the kernel)
# and start it again with -R, as systemd's Restart= would.
bird_restart() {
	local n=$1 pid
	pid=$(cat "$RUN/pids/bird-h$n.pid" 2>/dev/null) || die "no BIRD recorded for h$n"
	if pid_is_ours "$pid"; then
		local start
		start=$(proc_start "$pid")
		kill -9 "$pid"
		for _ in $(seq 1 50); do
			proc_running "$pid" "$start" || break
			sleep 0.1
		done
		! proc_running "$pid" "$start" || die "BIRD (pid $pid) on h$n survived SIGKILL for 5 s"
	fi
	rm -f "$RUN/pids/bird-h$n.pid"
	bird_start "$n" -R
}

hosts_stop() {
	local f name
	for f in "$RUN"/pids/felix-*.pid "$RUN"/pids/bird-*.pid; do
		[ -e "$f" ] || continue
		name=$(basename "$f" .pid)
		stop_pid "$name"
	done
}

# wait_converged - every host has all its sessions Established and routes every other host's
# workloads via that host. With encapsulation (--encap) any route to them will do (felix's
# route through vxlan.tabby, or BGP's); without it, in the subnets topology, the hosts across
# the router are not waited for: there is no route to them by design (lib/subnets.sh).
wait_converged() {
	local n m ip
	for n in $(seq 1 "$HOSTS"); do
		wait_for "$LAB_T_BGP" bgp_complete "$n" ||
			fail_step "h$n has $(bgp_established "$n") of $(bgp_expected_sessions "$n") BGP sessions Established after ${LAB_T_BGP}s (birdc -s $RUN/h$n/bird.ctl show protocols)" \
				"$RUN/h$n/bird.log"
	done
	for n in $(seq 1 "$HOSTS"); do
		for m in $(seq 1 "$HOSTS"); do
			[ "$n" != "$m" ] || continue
			ip=$(wl_ip "$m" 1)
			if [ "${ENCAP:-none}" != none ]; then
				wait_for "$LAB_T_BGP" route_specific "$n" "$ip" ||
					fail_step "h$n has no route to $ip (h$m-w1) after ${LAB_T_BGP}s (--encap $ENCAP: felix should route it through vxlan.tabby)" \
						"$RUN/h$n/felix.log"
				continue
			fi
			across_router "$n" "$m" && continue
			wait_for "$LAB_T_BGP" route_via "$n" "$ip" "$m" ||
				fail_step "h$n has no route to $ip (h$m-w1) via $(bgp_next_hop "$n" "$m") after ${LAB_T_BGP}s" \
					"$RUN/h$n/felix.log"
			[ "${IPV6:-0}" = 1 ] || continue
			ip=$(wl_ip6 "$m" 1)
			wait_for "$LAB_T_BGP" route6_bgp "$n" "$ip" ||
				fail_step "h$n has no IPv6 route from BGP to $ip (h$m-w1) after ${LAB_T_BGP}s (ip -6 -n $(host_ns "$n") route; birdc -s $RUN/h$n/bird.ctl show route)" \
					"$RUN/h$n/felix.log"
		done
	done
}
