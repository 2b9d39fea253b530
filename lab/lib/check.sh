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

lab_check() {
	local -a wls
	local src dst sn sm dn dm ip passed=0 failed=0 cell w=8 n est blocks
	mapfile -t wls < <(all_workloads)
	[ "${#wls[@]}" -gt 0 ] || die "no workloads recorded in $RUN/workloads"

	say "Ping matrix: every workload to every workload on another host (row = from, column = to)"
	printf '%-*s' "$w" ""
	for dst in "${wls[@]}"; do
		read -r dn dm <<<"$dst"
		printf ' %-*s' "$w" "$(ent_name "$dn" "$dm")"
	done
	printf '\n'
	for src in "${wls[@]}"; do
		read -r sn sm <<<"$src"
		printf '%-*s' "$w" "$(ent_name "$sn" "$sm")"
		for dst in "${wls[@]}"; do
			read -r dn dm <<<"$dst"
			if [ "$sn" = "$dn" ]; then
				cell="-"
			else
				ip=$(ent_ip "$dn" "$dm")
				if [ -n "$ip" ] && ent_ping "$sn" "$sm" "$ip"; then
					cell=ok
					passed=$((passed + 1))
				else
					cell=FAIL
					failed=$((failed + 1))
				fi
			fi
			printf ' %-*s' "$w" "$cell"
		done
		printf '\n'
	done

	say ""
	say "Hosts (tabbyctl node status, tabbyctl ipam show --show-blocks):"
	load_blocks
	for n in $(seq 1 "$HOSTS"); do
		est=$(bgp_established_ctl "$n")
		blocks=$(host_blocks "$n")
		printf '  h%-3s %-15s BGP sessions Established: %s/%s  blocks: %s\n' "$n" \
			"$(host_ip "$n")" "$est" "$(bgp_expected_sessions "$n")" "${blocks:-none}"
	done
	say ""
	say "Workloads:"
	for src in "${wls[@]}"; do
		read -r sn sm <<<"$src"
		printf '  %-8s %-15s %s\n' "$(ent_name "$sn" "$sm")" "$(ent_ip "$sn" "$sm")" \
			"$(ent_where "$sn" "$sm")"
	done
	say ""
	say "$passed passed, $failed failed"
	[ "$failed" -eq 0 ]
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
