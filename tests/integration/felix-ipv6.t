#!/bin/bash
# felix-ipv6.t - dual stack (issue 9) with real etcd, tabby-felix and BIRD on three hosts
# (network namespaces on one bridge: 198.18.0.1N/24 and 2001:db8:18::1N/64):
#  - ipv6Address static (h1, h3) and autodetect (h2, from the interface of ipv4Address) end up
#    on the Nodes' bgp.ipv6Address; each felix claims an IPv6 block (pool 2001:db8:19::/112,
#    /122 blocks) and blackholes it (proto 81);
#  - node-to-node mesh: one IPv4 and one separate IPv6 session per pair, named like Calico's
#    (Mesh_2001_db8_18__12), all Established; every host learns the others' IPv6 blocks over BGP
#    into its kernel (ip -6 route, proto bird, via the owner's IPv6 address);
#  - hand-made dual-stack workloads (veth tby..., <v4>/32 and <v6>/128, default route via the
#    host veth's link-local fe80::ecee:eeff:feee:eeee as Calico): felix programs the /128, the
#    permanent IPv6 neighbour and the IPv6 sysctls; the workloads ping each other over IPv6 and
#    IPv4 across hosts;
#  - route reflector: mesh off, h1 reflects (routeReflectorClusterID): h2 and h3 keep only
#    their IPv6 and IPv4 sessions with h1, h3 learns h2's IPv6 block through h1 with h2 as next
#    hop, and w3 still pings w2 over IPv6;
#  - ipv6Address none (h3 restarted): its Node loses bgp.ipv6Address and the IPv6 sessions
#    with it go, the IPv4 ones stay.
. "$(dirname "$0")/lib.sh"
need_root
command -v etcdctl >/dev/null || fail "etcdctl not installed"
command -v bird >/dev/null || fail "bird not installed"
FELIX=$T_BUILD/felix/tabby-felix
[ -x "$FELIX" ] || fail "no $FELIX"
etcd_start
ectl() { ETCDCTL_API=3 etcdctl --endpoints "$TABBY_DATASTORE_ENDPOINTS" "$@"; }
H_ALL="1 2 3"
trap 'rc=$?; [ $rc = 0 ] || for n in $H_ALL; do echo "--- h$n felix.log"; tail -30 "$T_TMP/h$n/felix.log"; echo "--- h$n bird.log"; tail -15 "$T_TMP/h$n/bird.log"; done; t_cleanup' EXIT

# Fabric: a bridge in the tor namespace; hN eth0 198.18.0.1N/24 and 2001:db8:18::1N/64.
ns_add tor; TOR=$NS_LAST
ip -n "$TOR" link add br0 type bridge
ip -n "$TOR" addr add 198.18.0.1/24 dev br0
ip -n "$TOR" link set br0 up
declare -A HNS WNS FPID IP IP6 BLOCK BLOCK6 IFN
for n in $H_ALL; do
	ns_add "h$n"; H=$NS_LAST; HNS[$n]=$H
	ip netns exec "$H" sysctl -qw net.ipv4.ip_forward=1
	ip netns exec "$H" sysctl -qw net.ipv6.conf.all.forwarding=1
	ip -n "$H" link add eth0 type veth peer name "th$n" netns "$TOR"
	ip -n "$TOR" link set "th$n" master br0 up
	ip -n "$H" addr add "198.18.0.1$n/24" dev eth0
	ip -n "$H" addr add "2001:db8:18::1$n/64" dev eth0 nodad
	ip -n "$H" link set eth0 up
	ip -n "$H" route add default via 198.18.0.1 dev eth0
done

ectl put /tabby/v1/ippools/default-ipv4-ippool \
	'{"apiVersion":"projectcalico.org/v3","kind":"IPPool","metadata":{"name":"default-ipv4-ippool"},"spec":{"cidr":"198.19.0.0/16","blockSize":26}}' >/dev/null
ectl put /tabby/v1/ippools/default-ipv6-ippool \
	'{"apiVersion":"projectcalico.org/v3","kind":"IPPool","metadata":{"name":"default-ipv6-ippool"},"spec":{"cidr":"2001:db8:19::/112","blockSize":122}}' >/dev/null
# Routing is the subject here, not policy: let workloads reach their host (NDP to the host's
# link-local included) as felix.t does.
ectl put /tabby/v1/felixconfigurations/default \
	'{"apiVersion":"projectcalico.org/v3","kind":"FelixConfiguration","metadata":{"name":"default"},"spec":{"defaultEndpointToHostAction":"Accept"}}' >/dev/null

start_felix() { # N
	local n=$1
	TABBY_DATASTORE_ENDPOINTS=$TABBY_TEST_ETCD_UNIX ip netns exec "${HNS[$n]}" \
		"$FELIX" --config "$T_TMP/h$n/felix.yaml" >>"$T_TMP/h$n/felix.log" 2>&1 &
	FPID[$n]=$!
	track_pid "${FPID[$n]}"
}
write_config() { # N IPV6ADDRESS
	cat >"$T_TMP/h$1/felix.yaml" <<EOC
nodeName: h$1
ipv4Address: 198.18.0.1$1/24
ipv6Address: $2
birdConfigFile: $T_TMP/h$1/bird.conf
birdSocket: $T_TMP/h$1/bird.ctl
birdLogFile: $T_TMP/h$1/bird.log
birdFastTimers: true
resyncIntervalSecs: 3
EOC
}

# A bad value is refused, naming the key, before anything is written.
mkdir -p "$T_TMP/h1" "$T_TMP/h2" "$T_TMP/h3"
write_config 1 "fe80::1/64"
out=$(TABBY_DATASTORE_ENDPOINTS=$TABBY_TEST_ETCD_UNIX ip netns exec "${HNS[1]}" timeout 10 "$FELIX" --config "$T_TMP/h1/felix.yaml" 2>&1)
check "ipv6Address fe80::1/64 is refused naming the key" bash -c "grep -q 'ipv6Address' <<<'$out'"
check "no Node written for the refused config" bash -c "[ -z \"\$(ETCDCTL_API=3 etcdctl --endpoints $TABBY_DATASTORE_ENDPOINTS get --keys-only /tabby/v1/nodes/h1)\" ]"

write_config 1 "2001:db8:18::11/64"
write_config 2 autodetect
write_config 3 "2001:db8:18::13/64"
for n in $H_ALL; do start_felix "$n"; done
node_v6() { ectl get --print-value-only "/tabby/v1/nodes/h$1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["spec"]["bgp"].get("ipv6Address",""))'; }
node_v6_is() { [ "$(node_v6 "$1")" = "$2" ]; }
for n in $H_ALL; do
	check "h$n Node has bgp.ipv6Address 2001:db8:18::1$n/64" wait_for 20 node_v6_is "$n" "2001:db8:18::1$n/64"
done
for n in $H_ALL; do
	check "h$n bird.conf written" wait_for 20 test -s "$T_TMP/h$n/bird.conf"
	ip netns exec "${HNS[$n]}" bird -c "$T_TMP/h$n/bird.conf" -s "$T_TMP/h$n/bird.ctl" \
		-P "$T_TMP/h$n/bird.pid" || fail "bird on h$n did not start"
	wait_for 10 test -s "$T_TMP/h$n/bird.pid" || fail "no bird pid file on h$n"
	track_pid "$(cat "$T_TMP/h$n/bird.pid")"
done

# block_of N FAMILY-PATTERN -> the block hN owns of that family, as a/len
block_of() {
	ectl get --prefix /tabby/v1/ipam/blocks/ | grep -B1 "\"host:h$1\"" | grep '^/tabby' |
		xargs -n1 basename | sed 's/-\([0-9]*\)$/\/\1/' | grep -- "$2" | head -1
}
has_block() { [ -n "$(block_of "$1" "$2")" ]; }
# plus5 PREFIX -> the address 5 above the prefix's base
plus5() { python3 -c 'import ipaddress,sys; print(ipaddress.ip_network(sys.argv[1]).network_address + 5)' "$1"; }
for n in $H_ALL; do
	wait_for 20 has_block "$n" '\.' || fail "h$n has no IPv4 block"
	wait_for 20 has_block "$n" ':' || fail "h$n has no IPv6 block"
	BLOCK[$n]=$(block_of "$n" '\.')
	BLOCK6[$n]=$(block_of "$n" ':')
	ok "h$n claimed IPv4 block ${BLOCK[$n]} and IPv6 block ${BLOCK6[$n]}"
	check "h$n blackholes ${BLOCK6[$n]} proto 81" wait_for 10 bash -c \
		"ip -n ${HNS[$n]} -6 route show proto 81 type blackhole | grep -q '^blackhole ${BLOCK6[$n]} '"
done

# The mesh: four sessions per host, the IPv6 ones between the ipv6Addresses.
established_names() { birdc -s "$T_TMP/h$1/bird.ctl" show protocols | awk '$6 == "Established" {print $1}' | sort | tr '\n' ' '; }
mesh_names() { # N -> the expected mesh protocol names of hN
	local m out=()
	for m in $H_ALL; do [ "$m" = "$1" ] || out+=("Mesh_198_18_0_1$m" "Mesh_2001_db8_18__1$m"); done
	printf '%s\n' "${out[@]}" | sort | tr '\n' ' '
}
names_are() { [ "$(established_names "$1")" = "$2" ]; }
for n in $H_ALL; do
	want=$(mesh_names "$n")
	wait_for 30 names_are "$n" "$want" || fail "h$n: Established $(established_names "$n"), want $want"
	ok "h$n: IPv4 and IPv6 mesh sessions Established: $want"
done
check "h1's IPv6 session carries the IPv6 channel only" bash -c \
	"birdc -s $T_TMP/h1/bird.ctl show protocols all Mesh_2001_db8_18__12 | grep -q 'Channel ipv6' && ! birdc -s $T_TMP/h1/bird.ctl show protocols all Mesh_2001_db8_18__12 | grep -q 'Channel ipv4'"
check "h1's IPv4 session carries the IPv4 channel only" bash -c \
	"birdc -s $T_TMP/h1/bird.ctl show protocols all Mesh_198_18_0_12 | grep -q 'Channel ipv4' && ! birdc -s $T_TMP/h1/bird.ctl show protocols all Mesh_198_18_0_12 | grep -q 'Channel ipv6'"

# bird6_route N PREFIX VIA - hN's kernel routes PREFIX (learned by BIRD) via VIA.
bird6_route() { ip -n "${HNS[$1]}" -6 route show "$2" proto bird | grep -q "via $3 "; }
for n in $H_ALL; do
	for m in $H_ALL; do
		[ "$n" = "$m" ] && continue
		check "h$n learned h$m's IPv6 block ${BLOCK6[$m]} over BGP via 2001:db8:18::1$m" \
			wait_for 30 bird6_route "$n" "${BLOCK6[$m]}" "2001:db8:18::1$m"
	done
done

# Hand-made dual-stack workloads (the CNI plugin's IPv6 part is another branch's work).
for n in $H_ALL; do
	IP[$n]=$(plus5 "${BLOCK[$n]}")
	IP6[$n]=$(plus5 "${BLOCK6[$n]}")
	ns_add "w$n"; W=$NS_LAST; WNS[$n]=$W
	H=${HNS[$n]}
	ifn=tby$(printf '%s' "default.w$n" | sha1sum | cut -c1-11); IFN[$n]=$ifn
	ip -n "$H" link add "$ifn" type veth peer name eth0 netns "$W"
	ip -n "$H" link set "$ifn" address ee:ee:ee:ee:ee:ee up
	ip -n "$W" addr add "${IP[$n]}/32" dev eth0
	ip -n "$W" addr add "${IP6[$n]}/128" dev eth0 nodad
	ip -n "$W" link set eth0 up
	ip -n "$W" route add 169.254.1.1/32 dev eth0 scope link
	ip -n "$W" route add default via 169.254.1.1 dev eth0
	ip -n "$W" -6 route add default via fe80::ecee:eeff:feee:eeee dev eth0
	mac=$(ip -n "$W" -o link show eth0 | sed -n 's/.*link\/ether \([0-9a-f:]*\).*/\1/p')
	c="w${n}w${n}w${n}w${n}w${n}w${n}"
	ectl put "/tabby/v1/workloadendpoints/default/h$n-cni-$c-eth0" \
		'{"apiVersion":"projectcalico.org/v3","kind":"WorkloadEndpoint","metadata":{"name":"h'$n'-cni-'$c'-eth0","namespace":"default"},"spec":{"orchestrator":"cni","node":"h'$n'","containerID":"'$c'","endpoint":"eth0","interfaceName":"'$ifn'","mac":"'$mac'","ipNetworks":["'${IP[$n]}'/32","'${IP6[$n]}'/128"]}}' >/dev/null
	check "h$n workload route ${IP6[$n]}/128 dev $ifn proto 81" wait_for 10 bash -c \
		"ip -n $H -6 route show ${IP6[$n]}/128 | grep -q '^${IP6[$n]} dev $ifn proto 81'"
	check "h$n permanent IPv6 neighbour ${IP6[$n]} lladdr $mac" wait_for 10 bash -c \
		"ip -n $H -6 neigh show dev $ifn | grep -q '^${IP6[$n]} lladdr $mac PERMANENT'"
	for k in accept_ra=0 forwarding=1 proxy_ndp=1; do
		check "h$n $ifn IPv6 ${k%=*}=${k#*=}" bash -c \
			"[ \$(ip netns exec $H cat /proc/sys/net/ipv6/conf/$ifn/${k%=*}) = ${k#*=} ]"
	done
done
ping6_ok() { ip netns exec "${WNS[$1]}" ping -6 -c 1 -W 1 "$2" >/dev/null 2>&1; }
ping4_ok() { ip netns exec "${WNS[$1]}" ping -4 -c 1 -W 1 "$2" >/dev/null 2>&1; }
for n in $H_ALL; do
	for m in $H_ALL; do
		[ "$n" = "$m" ] && continue
		check "w$n pings w$m over IPv6 (${IP6[$m]})" wait_for 15 ping6_ok "$n" "${IP6[$m]}"
		check "w$n pings w$m over IPv4 (${IP[$m]})" wait_for 10 ping4_ok "$n" "${IP[$m]}"
	done
done

# Our IPv6 routes are recognised on read-back (metric 1024, no scope): no apply removed any.
for n in $H_ALL; do
	check "h$n's felix never removed a route of its own (no IPv6 flapping)" bash -c \
		"! grep -q 'removed [1-9]' $T_TMP/h$n/felix.log"
done
# A restart with no memory deletes and replaces none of our IPv6 routes.
ip -n "${HNS[2]}" -6 monitor route >"$T_TMP/monitor6.log" 2>&1 &
MON_PID=$!; track_pid "$MON_PID"
sleep 0.5
# The monitor sees deletions (a throwaway foreign route proves it).
ip -n "${HNS[2]}" -6 route add 2001:db8:77::/64 via 2001:db8:18::1 proto static
ip -n "${HNS[2]}" -6 route del 2001:db8:77::/64
kill -TERM "${FPID[2]}"; wait "${FPID[2]}" 2>/dev/null
: >"$T_TMP/h2/felix.log"
start_felix 2
wait_for 20 grep -q "in sync with the datastore" "$T_TMP/h2/felix.log" || fail "restarted h2 felix not in sync"
sleep 4 # more than one resync interval (3 s)
kill "$MON_PID"; wait "$MON_PID" 2>/dev/null
check "the IPv6 route monitor captured the throwaway deletion" grep -q '^Deleted 2001:db8:77::/64' "$T_TMP/monitor6.log"
check "h2's felix restart left its IPv6 routes alone" bash -c \
	"! grep -E '2001:db8:19:.*proto 81' $T_TMP/monitor6.log"
check "w1 still pings w2 over IPv6 after h2's felix restart" ping6_ok 1 "${IP6[2]}"

# Route reflector: mesh off, h1 reflects. The Node is felix's registration plus what the admin
# adds; felix keeps fields it does not own.
node_set_rr() {
	local v
	v=$(ectl get --print-value-only /tabby/v1/nodes/h1 | python3 -c 'import json,sys; d=json.load(sys.stdin); d["spec"]["bgp"]["routeReflectorClusterID"]="244.0.0.1"; print(json.dumps(d))')
	ectl put /tabby/v1/nodes/h1 "$v" >/dev/null
}
node_set_rr
ectl put /tabby/v1/bgpconfigurations/default \
	'{"apiVersion":"projectcalico.org/v3","kind":"BGPConfiguration","metadata":{"name":"default"},"spec":{"nodeToNodeMeshEnabled":false}}' >/dev/null
rr_names() { # N -> expected names: clients peer with h1 only, h1 with both clients
	if [ "$1" = 1 ]; then
		echo "Node_198_18_0_12 Node_198_18_0_13 Node_2001_db8_18__12 Node_2001_db8_18__13 "
	else
		echo "Node_198_18_0_11 Node_2001_db8_18__11 "
	fi
}
for n in $H_ALL; do
	want=$(rr_names "$n")
	wait_for 30 names_are "$n" "$want" || fail "rr h$n: Established $(established_names "$n"), want $want"
	ok "rr h$n: sessions $want Established"
done
check "h1's bird.conf makes its IPv6 peer h3 an rr client" bash -c \
	"sed -n '/^protocol bgp Node_2001_db8_18__13 /,/^}/p' $T_TMP/h1/bird.conf | grep -q 'rr client;'"
check "h3 learned h2's IPv6 block ${BLOCK6[2]} through h1, next hop h2" wait_for 30 bash -c \
	"birdc -s $T_TMP/h3/bird.ctl show route ${BLOCK6[2]} all | grep -q 'BGP.cluster_list: 244.0.0.1' && ip -n ${HNS[3]} -6 route show ${BLOCK6[2]} proto bird | grep -q 'via 2001:db8:18::12 '"
check "w3 pings w2 over IPv6 through reflected routes" wait_for 15 ping6_ok 3 "${IP6[2]}"

# ipv6Address none: h3's Node loses its IPv6 address, the IPv6 session with it goes.
kill -TERM "${FPID[3]}"; wait "${FPID[3]}" 2>/dev/null
write_config 3 none
start_felix 3
check "h3 Node has no bgp.ipv6Address after ipv6Address none" wait_for 20 node_v6_is 3 ""
check "h1 drops its IPv6 session with h3, keeps the IPv4 one" wait_for 30 names_are 1 \
	"Node_198_18_0_12 Node_198_18_0_13 Node_2001_db8_18__12 "
check "h3's bird.conf has no IPv6 session" wait_for 20 bash -c "! grep -q 'Node_2001' $T_TMP/h3/bird.conf"
check "w3 still pings w2 over IPv4" wait_for 10 ping4_ok 3 "${IP[2]}"
for n in $H_ALL; do
	check "h$n bird.conf passes bird -p" bird -p -c "$T_TMP/h$n/bird.conf"
done
summary
