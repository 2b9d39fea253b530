# lab/lib/ipv6.sh - `up --ipv6`: a dual-stack lab (sourced after common.sh and bgp.sh).
# shellcheck shell=bash
#
# Every address is from 2001:db8::/32 (RFC 3849, documentation only), beside the IPv4 plan:
#   mesh, rr  ToR br0 2001:db8:18::fe/64; host hN eth0 2001:db8:18::N/64 (N written in decimal
#             digits: h12 is 2001:db8:18::12), default via 2001:db8:18::fe
#   tor       one /64 per p2p link: ToR thN 2001:db8:18:N::1/64, hN eth0 2001:db8:18:N::2/64,
#             default via the ToR; FRR peers with every host over IPv6 too (one session per
#             family, `address-family ipv6 unicast` on the IPv6 ones only, BFD as for IPv4)
#   pool      default-ipv6-ippool 2001:db8:19::/112, blockSize 122 (64 addresses a block), next
#             to default-ipv4-ippool; every host claims a block of each
#   felix     ipv6Address: hN's fabric address/64 (felix writes it to its Node's bgp.ipv6Address
#             and peers over IPv6 with the other nodes' ipv6Address: separate IPv6 sessions)
#   workloads the CNI config asks for both families ("assign_ipv6": "true", "ipv6_pools"), so
#             every workload has <v4>/32 and <v6>/128 on eth0
# Fabric addresses are added with nodad: duplicate address detection would hold them back for a
# second or two, and BIRD/FRR could not bind to them meanwhile. Every host and the ToR forward
# IPv6 (net.ipv6.conf.all.forwarding=1).
#
# Not supported with --ipv6: --topology subnets and --encap (IPv4-only parts of the lab).
#
# Globals: IPV6 (0|1), saved in $RUN/ipv6.env.

IPV6=${IPV6:-0}
LAB_POOL6_NAME=default-ipv6-ippool
LAB_POOL6_CIDR=2001:db8:19::/112
LAB_POOL6_BLOCK=122
LAB_FABRIC6_PREFIX=2001:db8:18
LAB_TOR_IP6=2001:db8:18::fe

# ipv6_parse_opt ARGS... - `--ipv6` of up/demo. Return: arguments taken (0 = not ours).
ipv6_parse_opt() {
	[ "$1" = --ipv6 ] || return 0
	IPV6=1
	return 1
}

ipv6_check_args() {
	[ "$IPV6" = 1 ] || return 0
	[ "$TOPOLOGY" != subnets ] || die "--ipv6 works with --topology mesh, rr or tor, not subnets"
	[ "${ENCAP:-none}" = none ] || die "--ipv6 does not go with --encap (VXLAN is IPv4-only here)"
	return 0
}

ipv6_save_state() { printf 'IPV6=%q\n' "$IPV6" >"$RUN/ipv6.env"; }

# families - the address families of this lab: "4", or "4 6" with --ipv6.
families() { if [ "${IPV6:-0}" = 1 ]; then echo "4 6"; else echo 4; fi; }

# host_ip6 N / host_gw6 N - hN's IPv6 fabric address and its IPv6 default gateway.
host_ip6() {
	if [ "$TOPOLOGY" = tor ]; then echo "$LAB_FABRIC6_PREFIX:$1::2"; else echo "$LAB_FABRIC6_PREFIX::$1"; fi
}
host_gw6() {
	if [ "$TOPOLOGY" = tor ]; then echo "$LAB_FABRIC6_PREFIX:$1::1"; else echo "$LAB_TOR_IP6"; fi
}
host_plen6() { echo 64; }

# felix_ipv6_config N - felix.yaml's ipv6Address line for hN (nothing without --ipv6).
felix_ipv6_config() {
	[ "${IPV6:-0}" = 1 ] || return 0
	echo "ipv6Address: $(host_ip6 "$1")/$(host_plen6)"
}

# ipv6_topo_up - the IPv6 side of the fabric, after topo_up / topo_up_p2p made the links.
ipv6_topo_up() {
	local tor n h
	[ "$IPV6" = 1 ] || return 0
	tor=$(tor_ns)
	ip netns exec "$tor" sysctl -qw net.ipv6.conf.all.forwarding=1 || return 1
	if [ "$TOPOLOGY" != tor ]; then
		ip -n "$tor" addr add "$LAB_TOR_IP6/64" dev br0 nodad || return 1
	fi
	for n in $(seq 1 "$HOSTS"); do
		h=$(host_ns "$n")
		ip netns exec "$h" sysctl -qw net.ipv6.conf.all.forwarding=1 || return 1
		if [ "$TOPOLOGY" = tor ]; then
			ip -n "$tor" addr add "$(host_gw6 "$n")/64" dev "th$n" nodad || return 1
		fi
		ip -n "$h" addr add "$(host_ip6 "$n")/$(host_plen6)" dev eth0 nodad || return 1
		ip -n "$h" -6 route add default via "$(host_gw6 "$n")" dev eth0 || return 1
	done
}

# pool6_apply - the IPv6 pool beside the IPv4 one, through tabbyctl like an admin.
pool6_apply() {
	local f="$RUN/ippool-ipv6.yaml"
	[ "$IPV6" = 1 ] || return 0
	cat >"$f" <<EOF
# The lab's IPv6 pool (tabby-lab up --ipv6): every host claims /$LAB_POOL6_BLOCK blocks of it.
apiVersion: projectcalico.org/v3
kind: IPPool
metadata:
  name: $LAB_POOL6_NAME
spec:
  cidr: $LAB_POOL6_CIDR
  blockSize: $LAB_POOL6_BLOCK
  ipipMode: Never
  vxlanMode: Never
  natOutgoing: false
  nodeSelector: all()
EOF
	tabbyctl apply -f "$f" >>"$RUN/tabbyctl.log" 2>&1 || fail_step "tabbyctl apply -f $f" "$RUN/tabbyctl.log"
}

# wl_ip6 N M - the IPv6 address CNI ADD gave workload hN-wM ("" without --ipv6).
wl_ip6() {
	(
		# shellcheck disable=SC1090
		. "$RUN/workloads/$(wl_name "$1" "$2").env"
		echo "${WL_IP6:-}"
	)
}

# route6_bgp N IP - hN has a route for the IPv6 address IP that BIRD learned over BGP (the next
# hop may be the peer's global or link-local address, so only its origin is checked).
route6_bgp() {
	ip -6 -n "$(host_ns "$1")" route show match "$2" proto bird 2>/dev/null | grep -q .
}

# bird_sessions_by_family N - "<v4 established> <v6 established>" of hN's BGP sessions, by the
# channel each protocol carries (`birdc show protocols all`: "Channel ipv4" / "Channel ipv6").
bird_sessions_by_family() {
	birdc -s "$RUN/h$1/bird.ctl" show protocols all 2>/dev/null | awk '
		/^[A-Za-z0-9_]+ +BGP / { est = ($0 ~ /Established/); next }
		/^ +Channel ipv4/ { if (est) v4++; est = 0 }
		/^ +Channel ipv6/ { if (est) v6++; est = 0 }
		END { printf "%d %d\n", v4, v6 }'
}
