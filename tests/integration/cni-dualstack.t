#!/bin/bash
# Dual-stack CNI ADD/CHECK/DEL through the tabby plugin, against a real etcd and the kernel.
# The IPAM plugin is Debian's reference host-local (one IPv4 and one IPv6 range) or static,
# delegated by ipam.type, so this test does not depend on tabby-ipam's IPv6 support. Checked:
# the result (both addresses, interface index, both gateways and default routes); the container
# (<v4>/32, <v6>/128 not tentative, both default routes, IPv6 sysctls); the host (<v6>/128 dev
# tbyX with the IPv4 /32's protocol, permanent neighbour, the veth's sysctls and its link-local
# next hop fe80::ecee:eeff:feee:eeee usable as soon as ADD returns, all.forwarding=1); the
# WorkloadEndpoint's ipNetworks [v4, v6]; ping6 from the container to the host, to the tor
# (forwarded) and to a second workload; CHECK passes, and fails naming the missing route after
# the host /128 or the container's IPv6 default route is deleted; a failure injected after the
# IPv6 step, or a result with two IPv6 addresses, leaves no veth, no address held and no WEP;
# an IPv6-only workload; fixed addresses of both families (static IPAM); then tabby-ipam with
# ipam.assign_ipv6 (auto-assigned, an injected IPv6 failure releasing both, pinned IP=v4,v6);
# DEL leaves nothing.
source "${TABBY_SOURCE_DIR:-$(dirname "$0")/../..}/tests/integration/lib.sh"
need_root

PLUGIN=$T_BUILD/cni/tabby
REF=${REF_CNI_PATH:-/usr/lib/cni}
[ -x "$PLUGIN" ] || fail "plugin not built in $T_BUILD/cni"
[ -x "$REF/host-local" ] && [ -x "$REF/static" ] ||
	{ echo "skipped: $REF/host-local or static missing (containernetworking-plugins)"; exit 77; }
command -v etcdctl >/dev/null || fail "etcdctl not installed"
[ -d /proc/sys/net/ipv6 ] || { echo "skipped: no IPv6 in this kernel"; exit 77; }

etcd_start
ectl() { ETCDCTL_API=3 etcdctl --endpoints "$TABBY_DATASTORE_ENDPOINTS" "$@"; }
ectl put /tabby/v1/nodes/h1 '{"apiVersion":"projectcalico.org/v3","kind":"Node","metadata":{"name":"h1"},"spec":{}}' >/dev/null || fail "put Node h1"

# Host h1 with an uplink of both families to a "tor" namespace, default routes through it; the
# tor routes the workloads' IPv6 range back to h1.
ns_add tor; TOR=$NS_LAST
ns_add h1; H=$NS_LAST
ip netns exec "$H" sysctl -qw net.ipv4.ip_forward=1
ip netns exec "$H" ip link add up0 type veth peer name down0 netns "$TOR"
# no DAD on the fabric either: its link-local addresses would be tentative for a second
ip netns exec "$H" sysctl -qw net.ipv6.conf.up0.accept_dad=0
ip netns exec "$TOR" sysctl -qw net.ipv6.conf.down0.accept_dad=0
ip netns exec "$TOR" ip addr add 198.18.0.1/24 dev down0
ip netns exec "$TOR" ip -6 addr add 2001:db8:18::1/64 dev down0 nodad
ip netns exec "$TOR" ip link set down0 up
ip netns exec "$H" ip addr add 198.18.0.11/24 dev up0
ip netns exec "$H" ip -6 addr add 2001:db8:18::11/64 dev up0 nodad
ip netns exec "$H" ip link set up0 up
ip netns exec "$H" ip route add default via 198.18.0.1 dev up0
ip netns exec "$H" ip -6 route add default via 2001:db8:18::1 dev up0
ip netns exec "$TOR" ip -6 route add 2001:db8:20::/64 via 2001:db8:18::11 dev down0
for i in 1 2 3 4 5 6 7; do ns_add "c$i"; eval "C$i=\$NS_LAST"; done

LOG=$T_TMP/plugin.log
HL=$T_TMP/host-local
RANGES='[[{"subnet":"198.19.20.0/24"}],[{"subnet":"2001:db8:20::/64"}]]'
# conf [IPAM object]: host-local with both ranges unless given
conf() {
	local ipam=${1:-}
	[ -n "$ipam" ] || ipam='{"type":"host-local","dataDir":"'"$HL"'","ranges":'"$RANGES"'}'
	printf '{"cniVersion":"%s","name":"dsnet","type":"tabby","nodename":"h1","datastore_endpoints":"%s","log_level":"debug","ipam":%s}' \
		"${VER:-1.0.0}" "$TABBY_TEST_ETCD_UNIX" "$ipam"
}
T_ENV=()
# cni CMD CONTAINERID NETNS < config
cni() {
	nsenter --net="/run/netns/$H" env -i PATH="$PATH" CNI_COMMAND="$1" CNI_CONTAINERID="$2" \
		CNI_NETNS="$3" CNI_IFNAME=eth0 CNI_PATH="$T_BUILD/cni:$REF" \
		CNI_ARGS="IgnoreUnknown=1;K8S_POD_NAMESPACE=ns1" "${T_ENV[@]}" "$PLUGIN" 2>>"$LOG"
}
in_h() { ip netns exec "$H" "$@"; }
veth_of() { python3 -c 'import hashlib,sys; print("tby" + hashlib.sha1(sys.argv[1].encode()).hexdigest()[:11])' "$1"; }
# jq-free JSON reads: py EXPR FILE (d = the parsed file)
py() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print($1)" "$2"; }
is_error() {
	python3 -c '
import json,sys
d=json.load(open(sys.argv[1]))
assert d["code"] == int(sys.argv[2]) and sys.argv[3] in d["msg"], d' "$1" "$2" "$3"
}
wep_of() { ectl get --print-value-only "/tabby/v1/workloadendpoints/ns1/h1-cni-$1-eth0"; }
nothing_left() { # CONTAINERID
	! in_h ip link show "$(veth_of "ns1.$1")" >/dev/null 2>&1 && [ -z "$(wep_of "$1")" ] &&
		[ -z "$(grep -rl -- "$1" "$HL/dsnet" 2>/dev/null | grep -v lock)" ]
}

# --- ADD, dual stack
conf | cni ADD ds1 "/run/netns/$C1" >"$T_TMP/r1" || { cat "$LOG" "$T_TMP/r1"; fail "ADD ds1"; }
ok "dual-stack ADD ds1 succeeds"
# right away, before anything else runs: the host end's link-local next hop is usable
V1=$(veth_of ns1.ds1)
in_h ip -6 -o addr show dev "$V1" scope link >"$T_TMP/ll1"
check "the host veth holds fe80::ecee:eeff:feee:eeee/64 when ADD returns, not tentative" \
	bash -c "grep -q 'inet6 fe80::ecee:eeff:feee:eeee/64' $T_TMP/ll1 && ! grep -q tentative $T_TMP/ll1"
A4=$(py 'd["ips"][0]["address"]' "$T_TMP/r1")
A6=$(py 'd["ips"][1]["address"]' "$T_TMP/r1")
IP4=${A4%/32}
IP6=${A6%/128}
check "result: ips[0] is an IPv4 /32 of the range ($A4)" bash -c "[[ $A4 == 198.19.20.*/32 ]]"
check "result: ips[1] is an IPv6 /128 of the range ($A6)" bash -c "[[ $A6 == 2001:db8:20::*/128 ]]"
check "result: ips[1] gateway fe80::ecee:eeff:feee:eeee, interface 1 (eth0)" \
	[ "$(py '(d["ips"][1]["gateway"], d["ips"][1]["interface"], d["interfaces"][1]["name"])' "$T_TMP/r1")" = "('fe80::ecee:eeff:feee:eeee', 1, 'eth0')" ]
check "result: ips[0] gateway 169.254.1.1, interface 1" \
	[ "$(py '(d["ips"][0]["gateway"], d["ips"][0]["interface"])' "$T_TMP/r1")" = "('169.254.1.1', 1)" ]
check "result: default routes of both families" \
	[ "$(py 'sorted((r["dst"], r["gw"]) for r in d["routes"])' "$T_TMP/r1")" = "[('0.0.0.0/0', '169.254.1.1'), ('::/0', 'fe80::ecee:eeff:feee:eeee')]" ]

# container side
check "container eth0 holds $A4" bash -c "ip netns exec $C1 ip -o addr show dev eth0 | grep -q 'inet $A4'"
ip netns exec "$C1" ip -6 -o addr show dev eth0 scope global >"$T_TMP/c1a"
check "container eth0 holds $A6, not tentative" \
	bash -c "grep -q 'inet6 $A6' $T_TMP/c1a && ! grep -q tentative $T_TMP/c1a"
check "container: default via 169.254.1.1 dev eth0" \
	bash -c "ip netns exec $C1 ip route show default | grep -q 'default via 169.254.1.1 dev eth0'"
check "container: default via fe80::ecee:eeff:feee:eeee dev eth0" \
	bash -c "ip netns exec $C1 ip -6 route show default | grep -q 'default via fe80::ecee:eeff:feee:eeee dev eth0'"
check "container: eth0 accept_dad=0, all.forwarding=0, disable_ipv6=0" \
	[ "$(ip netns exec "$C1" cat /proc/sys/net/ipv6/conf/eth0/accept_dad /proc/sys/net/ipv6/conf/all/forwarding /proc/sys/net/ipv6/conf/eth0/disable_ipv6 | tr -d '\n')" = 000 ]

# host side
R4=$(in_h ip -o route show "$A4")
R6=$(in_h ip -6 -o route show "$A6")
check "host: $A4 dev $V1 proto 81 ($R4)" bash -c "[[ '$R4' == *'dev $V1 proto 81 '* ]]"
check "host: $A6 dev $V1 proto 81, same protocol as the /32 ($R6)" bash -c "[[ '$R6' == *'dev $V1 proto 81 '* ]]"
check "host: permanent neighbour $IP6 on $V1" \
	bash -c "ip netns exec $H ip -6 neigh show dev $V1 | grep -q '^$IP6 lladdr .* PERMANENT'"
check "host: $V1 forwarding=1 proxy_ndp=1 accept_ra=0 disable_ipv6=0 accept_dad=0" \
	[ "$(for k in forwarding proxy_ndp accept_ra disable_ipv6 accept_dad; do in_h cat "/proc/sys/net/ipv6/conf/$V1/$k"; done | tr -d '\n')" = 11000 ]
check "host: net.ipv6.conf.all.forwarding=1" [ "$(in_h cat /proc/sys/net/ipv6/conf/all/forwarding)" = 1 ]
check "host: the IPv4 sysctls are still set (proxy_arp=1)" [ "$(in_h cat "/proc/sys/net/ipv4/conf/$V1/proxy_arp")" = 1 ]
check "WorkloadEndpoint ipNetworks [\"$A4\", \"$A6\"]" \
	[ "$(wep_of ds1 | python3 -c 'import json,sys; print(json.load(sys.stdin)["spec"]["ipNetworks"])')" = "['$A4', '$A6']" ]

# traffic
check "ping6 container -> host (2001:db8:18::11)" ip netns exec "$C1" ping -6 -q -c 1 -W 2 2001:db8:18::11
check "ping6 container -> tor (2001:db8:18::1), forwarded by the host" ip netns exec "$C1" ping -6 -q -c 1 -W 2 2001:db8:18::1
conf | cni ADD ds2 "/run/netns/$C2" >"$T_TMP/r2" || { cat "$LOG" "$T_TMP/r2"; fail "ADD ds2"; }
B4=$(py 'd["ips"][0]["address"].split("/")[0]' "$T_TMP/r2")
B6=$(py 'd["ips"][1]["address"].split("/")[0]' "$T_TMP/r2")
check "ping6 workload ds1 -> workload ds2 ($B6) on the same host" ip netns exec "$C1" ping -6 -q -c 1 -W 2 "$B6"
check "ping workload ds1 -> workload ds2 ($B4) over IPv4 too" ip netns exec "$C1" ping -q -c 1 -W 2 "$B4"

# --- CHECK
checkconf() { conf "${2:-}" | python3 -c 'import json,sys; c=json.load(sys.stdin); c["prevResult"]=json.load(open(sys.argv[1])); print(json.dumps(c))' "$1"; }
checkconf "$T_TMP/r1" | cni CHECK ds1 "/run/netns/$C1" >"$T_TMP/out"
check "CHECK ds1 passes" test $? = 0 -a ! -s "$T_TMP/out"
in_h ip -6 route del "$A6" dev "$V1"
checkconf "$T_TMP/r1" | cni CHECK ds1 "/run/netns/$C1" >"$T_TMP/out"
check "CHECK fails (103) after the host /128 route is deleted, naming it" is_error "$T_TMP/out" 103 "host route $A6 dev $V1"
in_h ip -6 route add "$A6" dev "$V1" proto 81
checkconf "$T_TMP/r1" | cni CHECK ds1 "/run/netns/$C1" >"$T_TMP/out"
check "CHECK passes again with the route back" test $? = 0
ip netns exec "$C1" ip -6 route del default
checkconf "$T_TMP/r1" | cni CHECK ds1 "/run/netns/$C1" >"$T_TMP/out"
check "CHECK fails (103) without the container's IPv6 default route" is_error "$T_TMP/out" 103 "IPv6 default route"
ip netns exec "$C1" ip -6 route add default via fe80::ecee:eeff:feee:eeee dev eth0
checkconf "$T_TMP/r1" | cni CHECK ds1 "/run/netns/$C1" >"$T_TMP/out"
check "CHECK passes again with the default route back" test $? = 0

# --- failures leave nothing
T_ENV=(TABBY_CNI_FAIL_AFTER=ipv6)
conf | cni ADD fail6 "/run/netns/$C3" >"$T_TMP/out"
T_ENV=()
check "failure injected after the IPv6 step: code 102 naming it" is_error "$T_TMP/out" 102 "ipv6"
check "... no veth, no WEP, no address held (both families released)" nothing_left fail6
check "... the container has no eth0" bash -c "! ip netns exec $C3 ip link show eth0 >/dev/null 2>&1"
check "... no host route into the range left but ds1's and ds2's" \
	[ "$(in_h ip -6 route show proto 81 | grep -c '^2001:db8:20::')" = 2 ]
conf '{"type":"host-local","dataDir":"'"$HL"'","ranges":[[{"subnet":"2001:db8:20::/64"}],[{"subnet":"2001:db8:21::/64"}]]}' |
	cni ADD two6 "/run/netns/$C3" >"$T_TMP/out"
check "an IPAM result with two IPv6 addresses: code 6 naming it" is_error "$T_TMP/out" 6 "a second IPv6 address"
check "... nothing left, the addresses released" nothing_left two6

# --- IPv6 only, with a 0.4.0 result (ips[].version)
VER=0.4.0 conf '{"type":"host-local","dataDir":"'"$HL"'","ranges":[[{"subnet":"2001:db8:20::/64"}]]}' |
	cni ADD only6 "/run/netns/$C4" >"$T_TMP/r4" || { cat "$LOG" "$T_TMP/r4"; fail "ADD only6"; }
check "IPv6-only ADD: one address, a /128" bash -c "[ $(py 'len(d["ips"])' "$T_TMP/r4") = 1 ] && [[ $(py 'd["ips"][0]["address"]' "$T_TMP/r4") == 2001:db8:20::*/128 ]]"
check "... cniVersion 0.4.0: ips[0].version \"6\"" [ "$(py '(d["cniVersion"], d["ips"][0]["version"])' "$T_TMP/r4")" = "('0.4.0', '6')" ]
check "... the container has no IPv4 address and no IPv4 default route" \
	bash -c "! ip netns exec $C4 ip -4 -o addr show dev eth0 | grep -q inet && [ -z \"\$(ip netns exec $C4 ip -4 route show default)\" ]"
check "... and reaches the host over IPv6" ip netns exec "$C4" ping -6 -q -c 1 -W 2 2001:db8:18::11
conf '{"type":"host-local","dataDir":"'"$HL"'","ranges":[[{"subnet":"2001:db8:20::/64"}]]}' |
	cni DEL only6 "/run/netns/$C4" >/dev/null || fail "DEL only6"

# --- fixed addresses of both families (static IPAM: what a pinned address looks like to tabby)
STATIC='{"type":"static","addresses":[{"address":"2001:db8:20::77/64"},{"address":"198.19.20.77/24"}]}'
conf "$STATIC" | cni ADD fixed "/run/netns/$C5" >"$T_TMP/r5" || { cat "$LOG" "$T_TMP/r5"; fail "ADD fixed"; }
check "static IPAM (IPv6 listed first): the result lists 198.19.20.77/32 then 2001:db8:20::77/128" \
	[ "$(py '[i["address"] for i in d["ips"]]' "$T_TMP/r5")" = "['198.19.20.77/32', '2001:db8:20::77/128']" ]
check "... ping6 ds1 -> 2001:db8:20::77" ip netns exec "$C1" ping -6 -q -c 1 -W 2 2001:db8:20::77
conf "$STATIC" | cni DEL fixed "/run/netns/$C5" >/dev/null || fail "DEL fixed"

# --- IPv6 switched off by default on the host and in the container netns: ADD turns it on
# where it needs it (the host veth, the container) and the workload still works at once
in_h sysctl -qw net.ipv6.conf.default.disable_ipv6=1
ip netns exec "$C7" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
conf | cni ADD off6 "/run/netns/$C7" >"$T_TMP/r8" || { cat "$LOG" "$T_TMP/r8"; fail "ADD off6"; }
in_h sysctl -qw net.ipv6.conf.default.disable_ipv6=0
V8=$(veth_of ns1.off6)
in_h ip -6 -o addr show dev "$V8" scope link >"$T_TMP/ll8"
check "default.disable_ipv6=1 on the host: $V8 has disable_ipv6=0 and its link-local next hop" \
	bash -c "[ \$(ip netns exec $H cat /proc/sys/net/ipv6/conf/$V8/disable_ipv6) = 0 ] && grep -q 'inet6 fe80::ecee:eeff:feee:eeee/64' $T_TMP/ll8 && ! grep -q tentative $T_TMP/ll8"
check "... IPv6 off in the container netns: ADD turned it on, ping6 to the host works" \
	ip netns exec "$C7" ping -6 -q -c 1 -W 2 2001:db8:18::11
conf | cni DEL off6 "/run/netns/$C7" >/dev/null || fail "DEL off6"

# --- tabby-ipam, dual stack (ipam.assign_ipv6), auto-assigned and pinned
if [ -x "$T_BUILD/cni/tabby-ipam" ]; then
	ectl put /tabby/v1/ippools/ds4 '{"apiVersion":"projectcalico.org/v3","kind":"IPPool","metadata":{"name":"ds4"},"spec":{"cidr":"198.19.22.0/24","blockSize":26}}' >/dev/null || fail "put IPPool ds4"
	ectl put /tabby/v1/ippools/ds6 '{"apiVersion":"projectcalico.org/v3","kind":"IPPool","metadata":{"name":"ds6"},"spec":{"cidr":"2001:db8:19::/112","blockSize":122}}' >/dev/null || fail "put IPPool ds6"
	TI='{"type":"tabby-ipam","assign_ipv4":"true","assign_ipv6":"true","ipv4_pools":["ds4"],"ipv6_pools":["ds6"]}'
	handle() { ectl get --keys-only "/tabby/v1/ipam/handles/dsnet.$1"; }
	conf "$TI" | cni ADD ti1 "/run/netns/$C3" >"$T_TMP/r6" || { cat "$LOG" "$T_TMP/r6"; fail "ADD ti1 (tabby-ipam)"; }
	check "tabby-ipam dual stack: 198.19.22.x/32 and 2001:db8:19::x/128" \
		bash -c "[[ '$(py '" ".join(i["address"] for i in d["ips"])' "$T_TMP/r6")' == 198.19.22.*/32\ 2001:db8:19::*/128 ]]"
	T6=$(py 'd["ips"][1]["address"].split("/")[0]' "$T_TMP/r6")
	check "... ping6 ds2 -> $T6" ip netns exec "$C2" ping -6 -q -c 1 -W 2 "$T6"
	checkconf "$T_TMP/r6" "$TI" | cni CHECK ti1 "/run/netns/$C3" >"$T_TMP/out"
	check "... CHECK passes" test $? = 0 -a ! -s "$T_TMP/out"
	conf "$TI" | cni DEL ti1 "/run/netns/$C3" >/dev/null || fail "DEL ti1"
	check "... DEL releases both: no handle, no veth, no WEP" \
		bash -c "[ -z \"$(handle ti1)\" ] && ! ip netns exec $H ip link show $(veth_of ns1.ti1) >/dev/null 2>&1 && [ -z \"$(wep_of ti1)\" ]"
	T_ENV=(TABBY_CNI_FAIL_AFTER=ipv6)
	conf "$TI" | cni ADD ti2 "/run/netns/$C3" >"$T_TMP/out"
	T_ENV=()
	check "tabby-ipam: failure after the IPv6 step: code 102" is_error "$T_TMP/out" 102 "ipv6"
	check "... no handle (both addresses released), no veth, no WEP" \
		bash -c "[ -z \"$(handle ti2)\" ] && ! ip netns exec $H ip link show $(veth_of ns1.ti2) >/dev/null 2>&1 && [ -z \"$(wep_of ti2)\" ]"
	nsenter --net="/run/netns/$H" env -i PATH="$PATH" CNI_COMMAND=ADD CNI_CONTAINERID=pin6 \
		CNI_NETNS="/run/netns/$C6" CNI_IFNAME=eth0 CNI_PATH="$T_BUILD/cni" \
		CNI_ARGS="K8S_POD_NAMESPACE=ns1;IP=198.19.22.50,2001:db8:19::50" "$PLUGIN" \
		< <(conf "$TI") >"$T_TMP/r7" 2>>"$LOG" || { cat "$LOG" "$T_TMP/r7"; fail "ADD pinned pin6"; }
	check "pinned IP=198.19.22.50,2001:db8:19::50: the container holds both" \
		bash -c "ip netns exec $C6 ip -o addr show dev eth0 | grep -q 'inet 198.19.22.50/32' && ip netns exec $C6 ip -o addr show dev eth0 | grep -q 'inet6 2001:db8:19::50/128'"
	check "... host route 2001:db8:19::50/128 proto 81 and ping6 ds1 -> it" \
		bash -c "ip netns exec $H ip -6 route show 2001:db8:19::50 | grep -q 'proto 81' && ip netns exec $C1 ping -6 -q -c 1 -W 2 2001:db8:19::50 >/dev/null"
	conf "$TI" | cni DEL pin6 "/run/netns/$C6" >/dev/null || fail "DEL pin6"
	check "... DEL frees it" [ -z "$(handle pin6)" ]
else
	echo "# tabby-ipam not built: its dual-stack part skipped"
fi

# --- DEL
for c in ds1:C1 ds2:C2; do
	conf | cni DEL "${c%%:*}" "/run/netns/$(eval echo \$${c##*:})" >"$T_TMP/out" || { cat "$T_TMP/out"; fail "DEL ${c%%:*}"; }
done
check "DEL: ds1 leaves no veth, WEP or held address" nothing_left ds1
check "DEL: ds2 leaves no veth, WEP or held address" nothing_left ds2
check "DEL: no tabby route of either family left on the host" \
	bash -c "[ -z \"\$(ip netns exec $H ip route show proto 81)\" ] && [ -z \"\$(ip netns exec $H ip -6 route show proto 81)\" ]"
check "DEL: no tby veth left" [ "$(in_h ip -o link show | grep -c ': tby')" = 0 ]
check "DEL: no WorkloadEndpoint left" [ -z "$(ectl get --keys-only --prefix /tabby/v1/workloadendpoints/)" ]

summary
