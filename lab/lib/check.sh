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
ent_ip() { if [[ $2 == d* ]]; then docker_ip "$1"; else wl_ip "$1" "$2"; fi; }
ent_where() { if [[ $2 == d* ]]; then echo "docker on h$1"; else echo "netns $(wl_ns "$1" "$2")"; fi; }
# ent_ping N M IP - the entry pings IP.
ent_ping() { if [[ $2 == d* ]]; then docker_ping_ok "$1" "$3"; else ping_ok "$(wl_ns "$1" "$2")" "$3"; fi; }

# expect_fail SN DN - a ping from hSN to hDN must fail: the two are across the subnets router
# and the pool does not encapsulate (lib/subnets.sh).
expect_fail() { [ "${ENCAP:-none}" = none ] && across_router "$1" "$2"; }

# lab_check - the ping matrix, the hosts, the workloads, and one summary line; in the subnets
# topology also the outside (check_outside). Pairs across the subnets router are expected to
# fail without encapsulation (cell "x") and to pass with it. Returns 1 only on an unexpected
# result: a pair that should pass and fails (FAIL), a pair that should fail and passes (PASS!),
# or an outside result that does not match natOutgoing.
lab_check() {
	local -a wls
	local src dst sn sm dn dm ip passed=0 failed=0 cell w=8 n est blocks xfail=0 xpass=0 why=""
	local sub mode
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

	say "Ping matrix: every workload to every workload on another host (row = from, column = to)"
	if [ "$TOPOLOGY" = subnets ]; then
		if [ "${ENCAP:-none}" = none ]; then
			say "(topology subnets, IPPool vxlanMode ${mode:-?}: x = no reply, expected across the router; PASS! = answered although it should not be)"
		else
			say "(topology subnets, IPPool vxlanMode $mode: every pair must pass)"
		fi
	fi
	# The pings run in parallel, LAB_CHECK_PARALLEL at a time (a pair that gets no reply costs
	# its whole timeout, twice), each writing 0 (answered) or 1 to $dir/<row>-<column>.
	local dir i j running=0
	dir=$(mktemp -d "$RUN/check.XXXXXX")
	for i in "${!wls[@]}"; do
		read -r sn sm <<<"${wls[i]}"
		for j in "${!wls[@]}"; do
			read -r dn dm <<<"${wls[j]}"
			[ "$sn" != "$dn" ] || continue
			(
				ip=$(ent_ip "$dn" "$dm")
				if [ -n "$ip" ] && ent_ping "$sn" "$sm" "$ip"; then echo 0; else echo 1; fi >"$dir/$i-$j"
			) &
			running=$((running + 1))
			if [ "$running" -ge "${LAB_CHECK_PARALLEL:-32}" ]; then
				wait
				running=0
			fi
		done
	done
	wait
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
				ip=$(ent_ip "$dn" "$dm")
				if [ "$(cat "$dir/$i-$j" 2>/dev/null)" = 0 ]; then
					cell=ok
					passed=$((passed + 1))
					if expect_fail "$sn" "$dn"; then
						cell=PASS!
						xpass=$((xpass + 1))
					fi
				else
					cell=FAIL
					failed=$((failed + 1))
					if expect_fail "$sn" "$dn"; then
						cell=x
						xfail=$((xfail + 1))
						[ -n "$why" ] || why="$(ent_name "$sn" "$sm") -> $(ent_name "$dn" "$dm") ($ip): $(why_across "$sn" "$ip")"
					fi
				fi
			fi
			printf ' %-*s' "$w" "$cell"
		done
		printf '\n'
	done
	rm -rf -- "$dir"

	say ""
	say "Hosts (tabbyctl node status, tabbyctl ipam show --show-blocks):"
	load_blocks
	for n in $(seq 1 "$HOSTS"); do
		est=$(bgp_established_ctl "$n")
		blocks=$(host_blocks "$n")
		sub=""
		[ "$TOPOLOGY" != subnets ] || sub=" (subnet $(subnet_name "$(host_subnet "$n")"))"
		printf '  h%-3s %-15s%s BGP sessions Established: %s/%s  blocks: %s\n' "$n" \
			"$(host_ip "$n")" "$sub" "$est" "$(bgp_expected_sessions "$n")" "${blocks:-none}"
		[ "$TOPOLOGY" != subnets ] || say "       paths: $(host_paths "$n")"
	done
	say ""
	say "Workloads:"
	for src in "${wls[@]}"; do
		read -r sn sm <<<"$src"
		printf '  %-8s %-15s %s\n' "$(ent_name "$sn" "$sm")" "$(ent_ip "$sn" "$sm")" \
			"$(ent_where "$sn" "$sm")"
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
	local name f pid state n ns
	if ! load_state; then
		say "no lab in $RUN"
		return 0
	fi
	say "lab in $RUN: prefix $PREFIX, $HOSTS hosts x $WORKLOADS workloads, build $BUILD"
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
	done
	if [ -x "$(tabbyctl_bin)" ]; then
		say "tabbyctl ipam show --show-blocks:"
		tabbyctl ipam show --show-blocks 2>&1 | sed 's/^/  /' || true
	fi
}
