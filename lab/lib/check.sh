# lab/lib/check.sh - `check` and `status`: is the lab doing its job? (sourced)
# shellcheck shell=bash

# ping_ok SRC_NS IP - two echo requests from a workload; one retry, because the very first
# packet after a route change can race the neighbour/proxy-ARP resolution.
ping_ok() {
	ip netns exec "$1" ping -q -c 2 -W 1 -i 0.2 "$2" >/dev/null 2>&1 ||
		ip netns exec "$1" ping -q -c 2 -W 1 -i 0.2 "$2" >/dev/null 2>&1
}

# load_blocks - read the block table once from `tabbyctl ipam show --show-blocks` into BLOCKS
# ("hN cidr" lines): its "Block" rows carry the CIDR and the affinity "host:<node>".
load_blocks() {
	BLOCKS=$(tabbyctl ipam show --show-blocks 2>/dev/null |
		awk -F'|' '$2 ~ /Block/ { c = $3; a = $7; gsub(/ /, "", c); gsub(/ /, "", a);
			sub(/^host:/, "", a); print a, c }') || BLOCKS=""
}

# host_blocks N - hN's blocks as "a.b.c.d/len" words (after load_blocks).
host_blocks() {
	awk -v h="h$1" '$1 == h { printf "%s%s", sep, $2; sep = " " }' <<<"$BLOCKS"
}

# bgp_established_ctl N - Established sessions as `tabbyctl node status` reports them.
bgp_established_ctl() {
	"$(tabbyctl_bin)" node status --bird-socket "$RUN/h$1/bird.ctl" -o json 2>/dev/null |
		python3 -c 'import json,sys; print(sum(p.get("info") == "Established" for p in json.load(sys.stdin)))' 2>/dev/null ||
		echo "?"
}

# all_workloads - "N M" for every recorded workload, hosts then workloads in order; then
# "N dK" for the Docker containers of --docker (lib/docker.sh).
all_workloads() {
	local n m
	for n in $(seq 1 "$HOSTS"); do
		for m in $(seq 1 "$WORKLOADS"); do
			[ -f "$RUN/workloads/$(wl_name "$n" "$m").env" ] && echo "$n $m"
		done
	done
	docker_entries
}

# An entry "N M" of all_workloads is a CNI workload (M a number) or a Docker container (M "dK").
ent_name() { if [[ $2 == d* ]]; then echo "h$1-$2"; else wl_name "$1" "$2"; fi; }
# ent_ip N M [FAMILY] - the entry's address of FAMILY 4 (default) or 6 (lib/ipv6.sh).
ent_ip() {
	if [ "${3:-4}" = 6 ]; then
		if [[ $2 == d* ]]; then docker_ip6 "$1"; else wl_ip6 "$1" "$2"; fi
	elif [[ $2 == d* ]]; then docker_ip "$1"; else wl_ip "$1" "$2"; fi
}
ent_where() { if [[ $2 == d* ]]; then echo "docker on h$1"; else echo "netns $(wl_ns "$1" "$2")"; fi; }
# ent_ping N M IP - the entry pings IP.
ent_ping() { if [[ $2 == d* ]]; then docker_ping_ok "$1" "$3"; else ping_ok "$(wl_ns "$1" "$2")" "$3"; fi; }

# expect_fail SN DN - a ping from hSN to hDN must fail: the two are across the subnets router
# and the pool does not encapsulate (lib/subnets.sh).
expect_fail() { [ "${ENCAP:-none}" = none ] && across_router "$1" "$2"; }

# ping_matrix FAMILY - ping every entry from every entry on another host over IPv4 (4) or IPv6
# (6) and print the matrix. Sets M_PASSED, M_FAILED, M_XFAIL, M_XPASS (pairs across the subnets
# router, see lab_check) and M_WHY (one failed pair across the router, explained). Uses the
# caller's wls, ENCAP and mode.
ping_matrix() {
	local fam=$1 sn sm dn dm ip cell w=8 dst
	M_PASSED=0 M_FAILED=0 M_XFAIL=0 M_XPASS=0 M_WHY=""
	if [ "$fam" = 6 ]; then
		say "Ping matrix, IPv6: every workload to every workload on another host (row = from, column = to)"
	elif [ "${IPV6:-0}" = 1 ]; then
		say "Ping matrix, IPv4: every workload to every workload on another host (row = from, column = to)"
	else
		say "Ping matrix: every workload to every workload on another host (row = from, column = to)"
	fi
	if [ "$TOPOLOGY" = subnets ]; then
		if [ "${ENCAP:-none}" = none ]; then
			say "(topology subnets, IPPool vxlanMode ${mode:-?}: x = no reply, expected across the router; PASS! = answered although it should not be)"
		else
			say "(topology subnets, IPPool vxlanMode $mode: every pair must pass)"
		fi
	fi
	# The pings run in parallel, LAB_CHECK_PARALLEL at a time (a pair that gets no reply costs
	# its whole timeout, twice), each writing 0 (answered) or 1 to $dir/<row>-<column>.
	# Waits name the pings' PIDs: under `demo` this shell also has etcd, felix and the TCP
	# servers as children, and a bare `wait` would wait for them too (forever).
	local dir i j pids=() p
	dir=$(mktemp -d "$RUN/check.XXXXXX")
	for i in "${!wls[@]}"; do
		read -r sn sm <<<"${wls[i]}"
		for j in "${!wls[@]}"; do
			read -r dn dm <<<"${wls[j]}"
			[ "$sn" != "$dn" ] || continue
			(
				ip=$(ent_ip "$dn" "$dm" "$fam")
				if [ -n "$ip" ] && ent_ping "$sn" "$sm" "$ip"; then echo 0; else echo 1; fi >"$dir/$i-$j"
			) &
			pids+=($!)
			if [ "${#pids[@]}" -ge "${LAB_CHECK_PARALLEL:-32}" ]; then
				for p in "${pids[@]}"; do wait "$p" || true; done
				pids=()
			fi
		done
	done
	for p in "${pids[@]}"; do wait "$p" || true; done
	printf '%-*s' "$w" ""
	for dst in "${wls[@]}"; do
		read -r dn dm <<<"$dst"
		printf ' %-*s' "$w" "$(ent_name "$dn" "$dm")"
	done
	printf '\n'
	for i in "${!wls[@]}"; do
		read -r sn sm <<<"${wls[i]}"
		printf '%-*s' "$w" "$(ent_name "$sn" "$sm")"
		for j in "${!wls[@]}"; do
			read -r dn dm <<<"${wls[j]}"
			if [ "$sn" = "$dn" ]; then
				cell="-"
			else
				ip=$(ent_ip "$dn" "$dm" "$fam")
				if [ "$(cat "$dir/$i-$j" 2>/dev/null)" = 0 ]; then
					cell=ok
					M_PASSED=$((M_PASSED + 1))
					if expect_fail "$sn" "$dn"; then
						cell=PASS!
						M_XPASS=$((M_XPASS + 1))
					fi
				else
					cell=FAIL
					M_FAILED=$((M_FAILED + 1))
					if expect_fail "$sn" "$dn"; then
						cell=x
						M_XFAIL=$((M_XFAIL + 1))
						[ -n "$M_WHY" ] || M_WHY="$(ent_name "$sn" "$sm") -> $(ent_name "$dn" "$dm") ($ip): $(why_across "$sn" "$ip")"
					fi
				fi
			fi
			printf ' %-*s' "$w" "$cell"
		done
		printf '\n'
	done
	rm -rf -- "$dir"
}

# lab_check - the ping matrix, the hosts, the workloads, and one summary line; in the subnets
# topology also the outside (check_outside). Pairs across the subnets router are expected to
# fail without encapsulation (cell "x") and to pass with it. Returns 1 only on an unexpected
# result: a pair that should pass and fails (FAIL), a pair that should fail and passes (PASS!),
# or an outside result that does not match natOutgoing.
lab_check() {
	local -a wls
	local src sn sm n est blocks sub mode fam v4 v6 passed=0 failed=0 xfail=0 xpass=0 why=""
	local -A fpassed ffailed
	# What to expect across the router follows the pool as the datastore has it now (--encap
	# only chose its first vxlanMode).
	if [ "$TOPOLOGY" = subnets ]; then
		mode=$(pool_field vxlanMode)
		local ENCAP
		case "$mode" in
		Always) ENCAP=vxlan ;;
		CrossSubnet) ENCAP=crosssubnet ;;
		*) ENCAP=none ;;
		esac
	fi
	mapfile -t wls < <(all_workloads)
	[ "${#wls[@]}" -gt 0 ] || die "no workloads recorded in $RUN/workloads"

	for fam in $(families); do
		[ "$fam" = 4 ] || say ""
		ping_matrix "$fam"
		fpassed[$fam]=$M_PASSED
		ffailed[$fam]=$M_FAILED
		passed=$((passed + M_PASSED))
		failed=$((failed + M_FAILED))
		xfail=$((xfail + M_XFAIL))
		xpass=$((xpass + M_XPASS))
		[ -n "$why" ] || why=$M_WHY
	done

	say ""
	say "Hosts (tabbyctl node status, tabbyctl ipam show --show-blocks):"
	load_blocks
	for n in $(seq 1 "$HOSTS"); do
		est=$(bgp_established_ctl "$n")
		blocks=$(host_blocks "$n")
		sub=""
		[ "$TOPOLOGY" != subnets ] || sub=" (subnet $(subnet_name "$(host_subnet "$n")"))"
		[ "${IPV6:-0}" != 1 ] || sub=" $(host_ip6 "$n")"
		printf '  h%-3s %-15s%s BGP sessions Established: %s/%s  blocks: %s\n' "$n" \
			"$(host_ip "$n")" "$sub" "$est" "$(bgp_expected_sessions "$n")" "${blocks:-none}"
		if [ "${IPV6:-0}" = 1 ]; then
			read -r v4 v6 <<<"$(bird_sessions_by_family "$n")"
			say "       of which IPv4 $v4/$(bgp_expected_sessions_v4 "$n"), IPv6 $v6/$(bgp_expected_sessions_v4 "$n") (birdc show protocols all: the channel of each session)"
		fi
		[ "$TOPOLOGY" != subnets ] || say "       paths: $(host_paths "$n")"
	done
	say ""
	say "Workloads:"
	for src in "${wls[@]}"; do
		read -r sn sm <<<"$src"
		if [ "${IPV6:-0}" = 1 ]; then
			printf '  %-8s %-15s %-22s %s\n' "$(ent_name "$sn" "$sm")" "$(ent_ip "$sn" "$sm")" \
				"$(ent_ip "$sn" "$sm" 6)" "$(ent_where "$sn" "$sm")"
		else
			printf '  %-8s %-15s %s\n' "$(ent_name "$sn" "$sm")" "$(ent_ip "$sn" "$sm")" \
				"$(ent_where "$sn" "$sm")"
		fi
	done
	if [ "$TOPOLOGY" = subnets ]; then
		say "  (subnets: sessions Established out of those with the hosts of the same subnet; the"
		say "   single-hop sessions across the router stay down)"
	fi
	say ""
	if [ "$TOPOLOGY" = subnets ] && [ "${ENCAP:-none}" = none ]; then
		[ -z "$why" ] || say "Why (one failed pair across the router): $why"
		sub="$((failed - xfail + xpass)) unexpected"
		[ $((failed - xfail + xpass)) = 0 ] || sub+=": $((failed - xfail)) FAIL, $xpass PASS! (answered across the router although the pool does not encapsulate)"
		say "$passed passed, $failed failed ($xfail pairs across the router failed: expected without encapsulation (--encap vxlan|crosssubnet), the router has no route to the pool; $sub)"
	elif [ "${IPV6:-0}" = 1 ]; then
		for fam in $(families); do
			say "IPv$fam: ${fpassed[$fam]} passed, ${ffailed[$fam]} failed"
		done
		say "$passed passed, $failed failed"
	else
		say "$passed passed, $failed failed"
	fi
	local rc=0
	[ $((failed - xfail + xpass)) -eq 0 ] || rc=1
	if [ "$TOPOLOGY" = subnets ]; then
		check_outside || rc=1
	fi
	return $rc
}

lab_status() {
	local name f pid state n ns v4 v6
	if ! load_state; then
		say "no lab in $RUN"
		return 0
	fi
	say "lab in $RUN: prefix $PREFIX, $HOSTS hosts x $WORKLOADS workloads, topology $TOPOLOGY$([ "${IPV6:-0}" != 1 ] || echo ", dual-stack (--ipv6)"), build $BUILD"
	say "etcd: $(etcd_endpoint) and $(etcd_http)"
	say "processes:"
	for f in "$RUN"/pids/*.pid; do
		[ -e "$f" ] || continue
		name=$(basename "$f" .pid)
		pid=$(cat "$f")
		if pid_is_ours "$pid" || { [[ $name == frr-* ]] && frr_pid_is_ours "$pid"; }; then
			state=running
		else
			state=GONE
		fi
		printf '  %-10s pid %-8s %s\n' "$name" "$pid" "$state"
	done
	say "namespaces:"
	while read -r ns; do
		if ip netns list | awk '{print $1}' | grep -qxF -- "$ns"; then state=present; else state=GONE; fi
		printf '  %-20s %s\n' "$ns" "$state"
	done <"$RUN/netns"
	say "hosts:"
	load_blocks
	for n in $(seq 1 "$HOSTS"); do
		printf '  h%-3s BGP Established %s/%s  blocks: %s\n' "$n" "$(bgp_established "$n")" \
			"$(bgp_expected_sessions "$n")" "$(host_blocks "$n")"
		if [ "${IPV6:-0}" = 1 ]; then
			read -r v4 v6 <<<"$(bird_sessions_by_family "$n")"
			printf '       IPv4 BGP Established %s/%s, IPv6 BGP Established %s/%s (%s)\n' "$v4" \
				"$(bgp_expected_sessions_v4 "$n")" "$v6" "$(bgp_expected_sessions_v4 "$n")" \
				"$(host_ip6 "$n")"
		fi
	done
	if [ "$TOPOLOGY" = tor ]; then
		printf '  ToR (FRR): IPv4 sessions Established %s/%s' "$(tor_bgp_established ipv4Unicast)" "$HOSTS"
		[ "${IPV6:-0}" != 1 ] || printf ', IPv6 %s/%s' "$(tor_bgp_established ipv6Unicast)" "$HOSTS"
		printf '\n'
	fi
	if [ -x "$(tabbyctl_bin)" ]; then
		say "tabbyctl ipam show --show-blocks:"
		tabbyctl ipam show --show-blocks 2>&1 | sed 's/^/  /' || true
	fi
}
