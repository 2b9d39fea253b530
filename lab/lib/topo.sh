# lab/lib/topo.sh - the fabric: a ToR namespace with a bridge, one namespace per host (sourced).
# shellcheck shell=bash
#
# All hosts share one L2 segment (br0 in the ToR), so the BGP mesh peers are directly connected
# and every next hop is the originating host: the ToR only switches.
#
#   <prefix>-tor   br0 198.18.0.1/24, ports th1..thN
#   <prefix>-hN    eth0 198.18.0.(10+N)/24, default via 198.18.0.1, ip_forward=1
#
# The hosts' default route is not for traffic leaving the lab (the ToR has nowhere to send it):
# proxy ARP on the workload veths answers for 169.254.1.1 only when the host has a unicast route
# to it through another interface (the kernel's arp_process), and a blackhole default does not
# count. New namespaces start with ip_forward=0, so each host turns it on.

topo_up() {
	local tor n h
	tor=$(tor_ns)
	netns_add "$tor" || return 1
	ip -n "$tor" link add br0 type bridge || return 1
	ip -n "$tor" addr add "$LAB_TOR_IP/24" dev br0 || return 1
	ip -n "$tor" link set br0 up || return 1
	for n in $(seq 1 "$HOSTS"); do
		h=$(host_ns "$n")
		netns_add "$h" || return 1
		ip netns exec "$h" sysctl -qw net.ipv4.ip_forward=1 || return 1
		ip -n "$h" link add eth0 type veth peer name "th$n" netns "$tor" || return 1
		ip -n "$tor" link set "th$n" master br0 up || return 1
		ip -n "$h" addr add "$(host_ip "$n")/24" dev eth0 || return 1
		ip -n "$h" link set eth0 up || return 1
		ip -n "$h" route add default via "$LAB_TOR_IP" dev eth0 || return 1
	done
}

# topo_down - delete the recorded namespaces, newest first (workloads, then hosts, then the ToR),
# and only those. Deleting a namespace removes its links and routes with it.
topo_down() {
	local ns
	[ -f "$RUN/netns" ] || return 0
	while read -r ns; do
		[ -n "$ns" ] || continue
		# Test the namespace's file, not `ip netns list`: the list can come back short while
		# other namespaces on the machine are being deleted at the same moment, and a name
		# missing from it would be skipped here and left behind.
		local try
		for try in 1 2 3; do
			[ -e "/run/netns/$ns" ] || break
			ip netns del "$ns" 2>/dev/null && break
			sleep 0.2
		done
		[ ! -e "/run/netns/$ns" ] || warn "could not delete namespace $ns: $(ip netns del "$ns" 2>&1)"
	done < <(tac "$RUN/netns")
	rm -f "$RUN/netns"
}
