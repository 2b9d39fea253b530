# lab/lib/bgp.sh - BGP topologies of the lab: mesh, rr, tor (sourced after common.sh); subnets
# (the mesh across a plain router) is in lib/subnets.sh.
# shellcheck shell=bash
#
#   mesh  every host peers with every other host over the shared bridge (the default).
#   rr    h1 and h2 are route reflectors of one cluster (244.0.0.1, a redundant pair; Node
#         spec.bgp.routeReflectorClusterID plus the label route-reflector=true) and the
#         node-to-node mesh is off: felix peers every other host with both reflectors.
#   tor   FRR (zebra, bgpd, bfdd) in the ToR namespace; each host on its own /31
#         (tor thN 198.18.1.(2N-2), hN eth0 198.18.1.(2N-1), default via the tor), one eBGP
#         session per host from a node-specific BGPPeer with BFD, mesh off.
#         HOST_AS=per-host: hN is AS 64600+N; HOST_AS=shared: every host is AS 64512 and the
#         BGPPeer allows our own AS once in paths (numAllowedLocalASNumbers: 1), since the
#         ToR's routes carry it (lab README section 4).
# The ToR is AS 65000 with as-path multipath-relax and maximum-paths 8 (ECMP when several
# hosts announce one prefix at the same time; note that a host stops announcing a /32 of its
# own kernel once it learns the same /32 over BGP, as BGP's preference 100 beats the kernel
# protocol's 10); BFD at 100 ms x 3 on both sides.
#
# Globals: TOPOLOGY (mesh|rr|tor), HOST_AS (per-host|shared), plus common.sh's.

TOPOLOGY=mesh # set by --topology or from lab.env (never from the environment)
HOST_AS=per-host
LAB_TOR_AS=65000
LAB_RR_CLUSTER=244.0.0.1
LAB_P2P_PREFIX=198.18.1

# Addresses depend on the topology: the p2p /31s for tor, the shared /24 otherwise.
host_ip() {
	if [ "$TOPOLOGY" = tor ]; then
		echo "$LAB_P2P_PREFIX.$((2 * $1 - 1))"
	elif [ "$TOPOLOGY" = subnets ]; then # lib/subnets.sh
		echo "${LAB_SUBNET_PREFIX[$(host_subnet "$1")]}.$((10 + $1))"
	else
		echo "$LAB_FABRIC_PREFIX.$((10 + $1))"
	fi
}
host_gw() {
	if [ "$TOPOLOGY" = tor ]; then
		echo "$LAB_P2P_PREFIX.$((2 * $1 - 2))"
	elif [ "$TOPOLOGY" = subnets ]; then
		echo "${LAB_SUBNET_PREFIX[$(host_subnet "$1")]}.1"
	else
		echo "$LAB_TOR_IP"
	fi
}
host_plen() { if [ "$TOPOLOGY" = tor ]; then echo 31; else echo 24; fi; }

# host_as N - the AS felix puts in hN's Node ("" = the cluster's 64512).
host_as() {
	if [ "$TOPOLOGY" = tor ] && [ "$HOST_AS" = per-host ]; then
		echo $((64600 + $1))
	fi
}

is_rr() { [ "$TOPOLOGY" = rr ] && { [ "$1" = 1 ] || [ "$1" = 2 ]; }; }

# bgp_expected_sessions N - how many sessions hN has when the lab is converged (subnets: the
# hosts of its own subnet; the single-hop sessions across the router do not come up).
bgp_expected_sessions() {
	local k
	k=$(bgp_expected_sessions_v4 "$1")
	# --ipv6 (lib/ipv6.sh): one IPv6 session beside every IPv4 one
	if [ "${IPV6:-0}" = 1 ]; then echo $((2 * k)); else echo "$k"; fi
}

# bgp_expected_sessions_v4 N - the IPv4 sessions of hN (as many IPv6 ones with --ipv6).
bgp_expected_sessions_v4() {
	case "$TOPOLOGY" in
	tor) echo 1 ;;
	subnets) same_subnet_peers "$1" ;;
	rr)
		if is_rr "$1"; then
			echo $((HOSTS - 1))
		elif [ "$HOSTS" -ge 2 ]; then
			echo 2
		else
			echo 0
		fi
		;;
	*) echo $((HOSTS - 1)) ;;
	esac
}

# bgp_next_hop N M - where hN sends traffic for hM's workloads: hM itself on the shared
# segment (mesh, and rr keeps the originator's next hop), the ToR on p2p.
bgp_next_hop() {
	if [ "$TOPOLOGY" = tor ]; then host_gw "$1"; else host_ip "$2"; fi
}

bgp_parse_topology() {
	case "$TOPOLOGY" in
	mesh | tor | subnets) ;;
	rr) [ "$HOSTS" -ge 3 ] || die "--topology rr needs at least 3 hosts (2 reflectors and a client)" ;;
	*) die "--topology must be mesh, rr, tor or subnets, got '$TOPOLOGY'" ;;
	esac
	case "$HOST_AS" in
	per-host | shared) ;;
	*) die "--host-as must be per-host or shared, got '$HOST_AS'" ;;
	esac
}

# topo_up_p2p - the tor topology's links: one veth pair and one /31 per host, the ToR routes.
topo_up_p2p() {
	local tor n h
	tor=$(tor_ns)
	netns_add "$tor" || return 1
	ip netns exec "$tor" sysctl -qw net.ipv4.ip_forward=1 || return 1
	ip -n "$tor" link set lo up || return 1
	for n in $(seq 1 "$HOSTS"); do
		h=$(host_ns "$n")
		netns_add "$h" || return 1
		ip netns exec "$h" sysctl -qw net.ipv4.ip_forward=1 || return 1
		ip -n "$h" link add eth0 type veth peer name "th$n" netns "$tor" || return 1
		ip -n "$tor" addr add "$(host_gw "$n")/31" dev "th$n" || return 1
		ip -n "$tor" link set "th$n" up || return 1
		ip -n "$h" addr add "$(host_ip "$n")/31" dev eth0 || return 1
		ip -n "$h" link set eth0 up || return 1
		ip -n "$h" route add default via "$(host_gw "$n")" dev eth0 || return 1
	done
}

# FRR drops privileges to user frr, which cannot enter a private (0700) run directory: its
# configs, pid files and logs live in its own pathspace directory, removed by frr_down.
frr_dir() { echo "/var/run/frr/$(frr_pathspace)"; }
frr_pathspace() { tor_ns; } # vty/zserv sockets in /var/run/frr/<pathspace>/
frr_vtysh() { vtysh -N "$(frr_pathspace)" "$@" 2>/dev/null; }

write_frr_config() {
	local d n as
	d=$(frr_dir)
	cat >"$d/zebra.conf" <<EOF
hostname tor
log file $d/zebra.log informational
EOF
	{
		cat <<EOF
frr defaults traditional
hostname tor
log file $d/bgpd.log informational
router bgp $LAB_TOR_AS
 bgp router-id $LAB_P2P_PREFIX.0
 no bgp ebgp-requires-policy
 bgp bestpath as-path multipath-relax
 neighbor HOSTS peer-group
 neighbor HOSTS timers 3 9
 neighbor HOSTS timers connect 1
 neighbor HOSTS bfd profile tabby-lab
EOF
		if [ "${IPV6:-0}" = 1 ]; then # lib/ipv6.sh: an IPv6 session per host, IPv6 routes only
			cat <<EOF
 neighbor HOSTS6 peer-group
 neighbor HOSTS6 timers 3 9
 neighbor HOSTS6 timers connect 1
 neighbor HOSTS6 bfd profile tabby-lab
EOF
		fi
		for n in $(seq 1 "$HOSTS"); do
			as=$(host_as "$n")
			echo " neighbor $(host_ip "$n") remote-as ${as:-$LAB_AS}"
			echo " neighbor $(host_ip "$n") peer-group HOSTS"
			if [ "${IPV6:-0}" = 1 ]; then
				echo " neighbor $(host_ip6 "$n") remote-as ${as:-$LAB_AS}"
				echo " neighbor $(host_ip6 "$n") peer-group HOSTS6"
			fi
		done
		cat <<EOF
 address-family ipv4 unicast
  neighbor HOSTS activate
  maximum-paths 8
EOF
		[ "${IPV6:-0}" != 1 ] || echo "  no neighbor HOSTS6 activate"
		echo " exit-address-family"
		if [ "${IPV6:-0}" = 1 ]; then
			cat <<EOF
 address-family ipv6 unicast
  neighbor HOSTS6 activate
  maximum-paths 8
 exit-address-family
EOF
		fi
	} >"$d/bgpd.conf"
}

# frr_up - zebra, bfdd and bgpd in the ToR namespace, running as user frr (root is refused:
# "not part of vty group"), with their own pathspace so they never meet another FRR.
frr_up() {
	local d ps daemon pid
	d=$(frr_dir)
	ps=$(frr_pathspace)
	mkdir -p "$d" || return 1
	echo "$d" >"$RUN/frr-state-dir"
	ln -sfn "$d" "$RUN/tor"
	chown frr:frr "$d" || return 1
	write_frr_config
	# bfdd reads its own file: the profile the bgpd sessions name
	cat >"$d/bfdd.conf" <<EOF
hostname tor
log file $d/bfdd.log informational
bfd
 profile tabby-lab
  detect-multiplier 3
  receive-interval 100
  transmit-interval 100
 exit
exit
EOF
	chown frr:frr "$d"/*.conf
	for daemon in zebra bfdd bgpd; do
		ip netns exec "$(tor_ns)" "/usr/lib/frr/$daemon" -d -N "$ps" -P 0 -f "$d/$daemon.conf" \
			-i "$d/$daemon.pid" --log "file:$d/$daemon.stdout.log" >>"$RUN/frr-start.log" 2>&1 ||
			fail_step "FRR $daemon did not start in $(tor_ns)" "$RUN/frr-start.log"
		wait_for 10 test -s "$d/$daemon.pid" || fail_step "FRR $daemon wrote no pid file" "$RUN/frr-start.log"
		pid=$(cat "$d/$daemon.pid")
		record_pid "frr-$daemon" "$pid"
	done
}

# frr_pid_is_ours PID - like pid_is_ours, but FRR's command line names its pathspace directory
# (the frr user cannot read the run directory), so match that instead of $RUN.
frr_pid_is_ours() {
	local pid=$1 d
	d=$(cat "$RUN/frr-state-dir" 2>/dev/null) || return 1
	[[ $pid =~ ^[0-9]+$ ]] && [ -r "/proc/$pid/cmdline" ] || return 1
	tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- " -f $d/"
}

# frr_down - stop the FRR daemons recorded by frr_up (by PID: SIGTERM, then SIGKILL after 5 s)
# and remove their pathspace directory.
frr_down() {
	local f daemon pid
	f=$(cat "$RUN/frr-state-dir" 2>/dev/null) || return 0
	for daemon in bgpd bfdd zebra; do
		pid=$(cat "$RUN/pids/frr-$daemon.pid" 2>/dev/null) || continue
		if frr_pid_is_ours "$pid"; then
			stop_proc "$pid" 5
		fi
		rm -f "$RUN/pids/frr-$daemon.pid"
	done
	case "$f" in
	/var/run/frr/?*) rm -rf -- "$f" ;;
	esac
	rm -f "$RUN/frr-state-dir" "$RUN/tor"
}

# bgp_resources - what an admin would apply for the topology, through tabbyctl.
bgp_resources() {
	local f="$RUN/bgp-topology.yaml" n
	case "$TOPOLOGY" in
	rr)
		{
			for n in 1 2; do
				cat <<EOF
---
apiVersion: projectcalico.org/v3
kind: Node
metadata:
  name: h$n
  labels:
    route-reflector: "true"
spec:
  bgp:
    ipv4Address: $(host_ip "$n")/$(host_plen)
$([ "${IPV6:-0}" != 1 ] || echo "    ipv6Address: $(host_ip6 "$n")/$(host_plen6)")
    routeReflectorClusterID: $LAB_RR_CLUSTER
EOF
			done
		} >"$f"
		;;
	tor)
		: >"$f"
		for n in $(seq 1 "$HOSTS"); do
			cat >>"$f" <<EOF
---
apiVersion: projectcalico.org/v3
kind: BGPPeer
metadata:
  name: tor-h$n
spec:
  node: h$n
  peerIP: $(host_gw "$n")
  asNumber: $LAB_TOR_AS
  keepaliveTime: 3s
  holdTime: 9s
  bfd:
    enabled: true
    interval: 100ms
    multiplier: 3
EOF
			[ "$HOST_AS" = shared ] && echo "  numAllowedLocalASNumbers: 1" >>"$f"
			[ "${IPV6:-0}" = 1 ] || continue
			# lib/ipv6.sh: the IPv6 session to the ToR, the same settings
			cat >>"$f" <<EOF
---
apiVersion: projectcalico.org/v3
kind: BGPPeer
metadata:
  name: tor-h$n-v6
spec:
  node: h$n
  peerIP: $(host_gw6 "$n")
  asNumber: $LAB_TOR_AS
  keepaliveTime: 3s
  holdTime: 9s
  bfd:
    enabled: true
    interval: 100ms
    multiplier: 3
EOF
			[ "$HOST_AS" = shared ] && echo "  numAllowedLocalASNumbers: 1" >>"$f"
		done
		;;
	*) return 0 ;;
	esac
	cat >>"$f" <<EOF
---
apiVersion: projectcalico.org/v3
kind: BGPConfiguration
metadata:
  name: default
spec:
  asNumber: $LAB_AS
  nodeToNodeMeshEnabled: false
  logSeverityScreen: Info
EOF
	tabbyctl apply -f "$f" >>"$RUN/tabbyctl.log" 2>&1 || fail_step "tabbyctl apply -f $f" "$RUN/tabbyctl.log"
}

# tor_bgp_established [AF] - sessions the ToR has in Established for address family AF
# (ipv4Unicast, the default, or ipv6Unicast), from FRR's JSON summary.
tor_bgp_established() {
	frr_vtysh -c 'show bgp summary json' |
		python3 -c 'import json,sys; d=json.load(sys.stdin); p=d.get(sys.argv[1],{}).get("peers",{}); print(sum(1 for v in p.values() if v.get("state")=="Established"))' "${1:-ipv4Unicast}" 2>/dev/null ||
		echo 0
}

# bgp_route_via N IP M - hN routes IP to hM's workloads over a route BIRD learned over BGP
# (proto bird), through the expected next hop. On p2p the default route also points at the
# ToR, so a plain `ip route get` would pass before BGP converged.
bgp_route_via() {
	ip -n "$(host_ns "$1")" route show match "$2" proto bird 2>/dev/null |
		grep -qF "via $(bgp_next_hop "$1" "$3") "
}
