#!/bin/bash
# lab-ipv6.t - the dual-stack lab end to end, through lab/tabby-lab up --ipv6, once per BGP
# topology (mesh, tor, rr; LAB_IPV6_TOPOLOGIES picks fewer): etcd, 2 hosts (rr: 3) each with
# tabby-felix and BIRD (IPv4 and IPv6 BGP sessions; tor: FRR peering over both families), one
# workload per host made by the tabby CNI plugin with an IPv4 and an IPv6 address. Asserts real
# behaviour: `check` pings every pair across hosts over both families ("IPv4: 2 passed, 0
# failed", "IPv6: 2 passed, 0 failed", the total last), the workloads hold <v6>/128 with a
# default route via fe80::ecee:eeff:feee:eeee, the hosts route the /128 to the veth and learn the
# other's IPv6 block over BGP, a ping to an IPv6 address nobody holds fails, `status` shows the
# IPv6 sessions, and `down` leaves no namespace or process. About 35 s for the three.
#
# Runs on the already built tree ($TABBY_BUILD_DIR) without apt, with its own namespace prefix
# and run directory, so it never touches a lab a user has running.
. "$(dirname "$0")/lib.sh"
need_root

. "$(dirname "$0")/lab-lib.sh"
lab_setup t6

[ -e /proc/sys/net/ipv6 ] || { echo "skipped: the kernel has no IPv6"; exit 77; }

env_of() { sed -n "s/^$2=//p" "$RUN/workloads/$1.env"; }
netns_left() { ip netns list | awk '{print $1}' | grep -c "^$P-" || true; }

for topo in ${LAB_IPV6_TOPOLOGIES:-mesh tor rr}; do
	H=2
	[ "$topo" != rr ] || H=3
	pairs=$((H * (H - 1)))
	# ---- up ---------------------------------------------------------------------------------
	if "$LAB" up --ipv6 --topology "$topo" --hosts "$H" --workloads 1 >"$T_TMP/up.out" 2>&1; then
		ok "[$topo] tabby-lab up --ipv6 --topology $topo --hosts $H --workloads 1"
	else
		sed 's/^/#   /' "$T_TMP/up.out"
		fail "[$topo] tabby-lab up --ipv6 --topology $topo"
	fi

	# ---- check: both families ---------------------------------------------------------------
	rc=0
	"$LAB" check >"$T_TMP/check.out" 2>&1 || rc=$?
	sed 's/^/#   /' "$T_TMP/check.out"
	check "[$topo] check prints 'IPv4: $pairs passed, 0 failed'" grep -qx "IPv4: $pairs passed, 0 failed" "$T_TMP/check.out"
	check "[$topo] check prints 'IPv6: $pairs passed, 0 failed'" grep -qx "IPv6: $pairs passed, 0 failed" "$T_TMP/check.out"
	check "[$topo] the total is the last line" \
		test "$(tail -n 1 "$T_TMP/check.out")" = "$((2 * pairs)) passed, 0 failed"
	check "[$topo] check exits 0" [ "$rc" = 0 ]

	# ---- the workloads are dual-stack --------------------------------------------------------
	for n in $(seq 1 "$H"); do
		v6=$(env_of "h$n-w1" WL_IP6)
		check "[$topo] h$n-w1 has an IPv6 address of 2001:db8:19::/112 ($v6)" \
			python3 -c 'import ipaddress,sys; sys.exit(ipaddress.ip_address(sys.argv[1]) not in ipaddress.ip_network("2001:db8:19::/112"))' "$v6"
		check "[$topo] h$n-w1 holds $v6/128 on eth0" \
			bash -c "ip -6 -n $P-h$n-w1 addr show dev eth0 | grep -qF 'inet6 $v6/128'"
		check "[$topo] h$n-w1's IPv6 default route is via fe80::ecee:eeff:feee:eeee" \
			bash -c "ip -6 -n $P-h$n-w1 route show default | grep -qF 'via fe80::ecee:eeff:feee:eeee dev eth0'"
		check "[$topo] h$n routes $v6/128 to the workload's veth" \
			bash -c "ip -6 -n $P-h$n route show $v6/128 | grep -q 'dev tby'"
	done
	v6_2=$(env_of "h2-w1" WL_IP6)
	check "[$topo] h1 has a BGP route (proto bird) to h2-w1's $v6_2" \
		bash -c "ip -6 -n $P-h1 route show match $v6_2 proto bird | grep -q ."
	check "[$topo] h1-w1 pings h2-w1 over IPv6 ($v6_2)" \
		ip netns exec "$P-h1-w1" ping -c 2 -W 2 "$v6_2"
	# an address of the IPv6 pool that nobody holds: must not answer (the check can fail)
	check "[$topo] a ping to 2001:db8:19::fff0 (nobody's) fails" \
		bash -c "! ip netns exec $P-h1-w1 ping -c 1 -W 1 2001:db8:19::fff0 >/dev/null 2>&1"

	"$LAB" status >"$T_TMP/status.out" 2>&1 || true
	check "[$topo] status shows the IPv6 BGP sessions" grep -q 'IPv6 BGP Established' "$T_TMP/status.out"

	# ---- down -------------------------------------------------------------------------------
	mapfile -t pids < <(cat "$RUN"/pids/*.pid "$RUN"/policy/pids/*.pid 2>/dev/null)
	if "$LAB" down >"$T_TMP/down.out" 2>&1; then ok "[$topo] tabby-lab down"; else
		sed 's/^/#   /' "$T_TMP/down.out"
		fail "[$topo] tabby-lab down"
	fi
	left=0
	for p in "${pids[@]}"; do proc_gone "$p" || left=$((left + 1)); done
	check "[$topo] down stopped every recorded process (${#pids[@]})" [ "$left" = 0 ]
	check "[$topo] down deleted every namespace of the lab" [ "$(netns_left)" = 0 ]
	check "[$topo] the run directory is removed" [ ! -e "$RUN" ]
done

summary
