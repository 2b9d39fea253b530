#!/bin/bash
# VXLAN (IPPool vxlanMode) on real namespaces, a real etcd, real felix and the real CNI plugin:
# two hosts in different L3 subnets (h1 198.18.1.2/24, h2 198.18.2.2/24) joined by a plain
# router namespace that routes only the host subnets (no route to the pool, no BGP). With
# vxlanMode Always the workloads ping each other through vxlan.tabby (VNI 4096, port 4789,
# nolearning) and each host routes the other's block "via <tunnel addr> dev vxlan.tabby onlink";
# Never removes the device and the routes and the ping fails; Always again works without a
# restart; CrossSubnet encapsulates between the two subnets. A third host h3 in h1's subnet
# (198.18.1.3/24) shows that CrossSubnet programs no VXLAN route between same-subnet hosts: BIRD
# (running on every host with the bird.conf felix wrote) routes them, unencapsulated. Under Always
# BIRD installs no route of the pool and learns none of felix's vxlan.tabby routes. Last, a felix
# restart keeps the device and loses no encapsulated packet.
. "$(dirname "$0")/lib.sh"
need_root
command -v etcdctl >/dev/null || fail "etcdctl not installed"
FELIX=$T_BUILD/felix/tabby-felix
PLUGIN=$T_BUILD/cni/tabby
[ -x "$FELIX" ] || fail "no $FELIX"
[ -x "$PLUGIN" ] && [ -x "$T_BUILD/cni/tabby-ipam" ] || fail "plugins not built in $T_BUILD/cni"
modprobe vxlan 2>/dev/null
etcd_start
ectl() { ETCDCTL_API=3 etcdctl --endpoints "$TABBY_DATASTORE_ENDPOINTS" "$@"; }

# Topology: h1, h3 -- br (L2 switch in the router ns) -- router -- h2.
ns_add r; R=$NS_LAST
ip netns exec "$R" sysctl -qw net.ipv4.ip_forward=1
ip -n "$R" link add br0 type bridge
ip -n "$R" addr add 198.18.1.1/24 dev br0
ip -n "$R" link set br0 up
declare -A HNS HADDR HGW
HADDR[1]=198.18.1.2/24; HGW[1]=198.18.1.1
HADDR[2]=198.18.2.2/24; HGW[2]=198.18.2.1
HADDR[3]=198.18.1.3/24; HGW[3]=198.18.1.1
for i in 1 2 3; do
	ns_add "h$i"; HNS[$i]=$NS_LAST
	ip netns exec "${HNS[$i]}" sysctl -qw net.ipv4.ip_forward=1
	ip -n "${HNS[$i]}" link add eth0 type veth peer name "rh$i" netns "$R"
	ip -n "${HNS[$i]}" addr add "${HADDR[$i]}" dev eth0
	ip -n "${HNS[$i]}" link set eth0 up
	ip -n "${HNS[$i]}" route add default via "${HGW[$i]}" dev eth0
	if [ "$i" = 2 ]; then
		ip -n "$R" addr add 198.18.2.1/24 dev rh2
	else
		ip -n "$R" link set "rh$i" master br0
	fi
	ip -n "$R" link set "rh$i" up
done

pool() { # MODE
	ectl put /tabby/v1/ippools/p1 '{"apiVersion":"projectcalico.org/v3","kind":"IPPool","metadata":{"name":"p1"},"spec":{"cidr":"198.19.0.0/24","blockSize":26,"vxlanMode":"'"$1"'"}}' >/dev/null
}
pool Always
ectl put /tabby/v1/felixconfigurations/default \
	'{"apiVersion":"projectcalico.org/v3","kind":"FelixConfiguration","metadata":{"name":"default"},"spec":{"defaultEndpointToHostAction":"Accept"}}' >/dev/null

declare -A FPID
start_felix() { # I
	local i=$1
	cat >"$T_TMP/felix-h$i.yaml" <<EOC
nodeName: h$i
ipv4Address: ${HADDR[$i]}
datastoreEndpoints: "$TABBY_TEST_ETCD_UNIX"
birdConfigFile: $T_TMP/bird-h$i.conf
birdSocket: $T_TMP/bird-h$i.ctl
birdFastTimers: true
resyncIntervalSecs: 5
ipamGCIntervalSecs: 0
logSeverityScreen: Info
EOC
	TABBY_DATASTORE_ENDPOINTS=$TABBY_TEST_ETCD_UNIX ip netns exec "${HNS[$i]}" "$FELIX" \
		--config "$T_TMP/felix-h$i.yaml" >>"$T_TMP/felix-h$i.log" 2>&1 &
	FPID[$i]=$!
	track_pid "${FPID[$i]}"
}
trap 'rc=$?; [ $rc = 0 ] || for i in 1 2 3; do echo "--- felix-h$i.log"; tail -30 "$T_TMP/felix-h$i.log"; done; t_cleanup' EXIT
for i in 1 2 3; do start_felix "$i"; done

node_field() { # I FIELD
	ectl get --print-value-only "/tabby/v1/nodes/h$1" |
		python3 -c 'import json,sys; print(json.load(sys.stdin)["spec"].get(sys.argv[1], ""))' "$2" 2>/dev/null
}
has_tunnel() { [ -n "$(node_field "$1" ipv4VXLANTunnelAddr)" ] && [ -n "$(node_field "$1" vxlanTunnelMACAddr)" ]; }
for i in 1 2 3; do
	check "h$i records its VXLAN tunnel address and MAC on its Node" wait_for 30 has_tunnel "$i"
done
TUN1=$(node_field 1 ipv4VXLANTunnelAddr); TUN2=$(node_field 2 ipv4VXLANTunnelAddr)
echo "# tunnel addresses: h1 $TUN1, h2 $TUN2, h3 $(node_field 3 ipv4VXLANTunnelAddr)"
check "the tunnel address has its IPAM handle" bash -c \
	"ETCDCTL_API=3 etcdctl --endpoints $TABBY_DATASTORE_ENDPOINTS get --keys-only /tabby/v1/ipam/handles/vxlan-tunnel-addr-h1 | grep -q ."

hx() { local i=$1; shift; ip netns exec "${HNS[$i]}" "$@"; }
vx_link() { hx "$1" ip -d link show vxlan.tabby 2>/dev/null; }
check "h1 has vxlan.tabby" wait_for 20 bash -c "ip -n ${HNS[1]} link show vxlan.tabby | grep -q UP"
L=$(vx_link 1)
check "vxlan.tabby: VNI 4096" grep -q "vxlan id 4096 " <<<"$L"
check "vxlan.tabby: dstport 4789" grep -q "dstport 4789 " <<<"$L"
check "vxlan.tabby: nolearning" grep -q "nolearning" <<<"$L"
check "vxlan.tabby: local 198.18.1.2" grep -q "local 198.18.1.2 " <<<"$L"
check "vxlan.tabby: MTU 1450 (uplink 1500 - 50)" grep -q "mtu 1450 " <<<"$L"
check "vxlan.tabby carries the tunnel address /32" bash -c \
	"ip -n ${HNS[1]} -4 addr show dev vxlan.tabby | grep -q 'inet $TUN1/32'"

# BIRD on every host, with the bird.conf felix wrote (h1 and h3 share a subnet and peer; h2's
# sessions stay down: the mesh template is single-hop and nothing routes BGP across for it).
bird_start() { # I
	local i=$1
	wait_for 20 test -s "$T_TMP/bird-h$i.conf" || fail "felix h$i wrote no bird.conf"
	ip netns exec "${HNS[$i]}" bird -f -c "$T_TMP/bird-h$i.conf" -s "$T_TMP/bird-h$i.ctl" \
		</dev/null >>"$T_TMP/bird-h$i.out" 2>&1 &
	track_pid $!
	wait_for 10 test -S "$T_TMP/bird-h$i.ctl" || fail "BIRD on h$i did not start"
}
for i in 1 2 3; do bird_start "$i"; done
birdc_() { local i=$1; shift; birdc -s "$T_TMP/bird-h$i.ctl" "$@"; }
check "BIRD: h1 and h3 (same subnet) establish their session" wait_for 40 bash -c \
	"birdc -s $T_TMP/bird-h1.ctl show protocols | grep -q 'Established'"

# One workload per host through the real CNI plugin.
conf() { # NODE
	printf '{"cniVersion":"1.0.0","name":"tabbynet","type":"tabby","nodename":"%s","datastore_endpoints":"%s","ipam":{"type":"tabby-ipam","ipv4_pools":["p1"]}}' \
		"$1" "$TABBY_TEST_ETCD_UNIX"
}
declare -A WNS WIP
for i in 1 2 3; do
	ns_add "w$i"; WNS[$i]=$NS_LAST
	out=$(conf "h$i" | nsenter --net="/run/netns/${HNS[$i]}" env -i PATH="$PATH" CNI_COMMAND=ADD \
		CNI_CONTAINERID="vx${i}00000000000000" CNI_NETNS="/run/netns/${WNS[$i]}" CNI_IFNAME=eth0 \
		CNI_PATH="$T_BUILD/cni" CNI_ARGS="IgnoreUnknown=1;K8S_POD_NAMESPACE=vx;K8S_POD_NAME=p$i" \
		"$PLUGIN" 2>>"$T_TMP/cni.log") || { echo "$out"; fail "CNI ADD on h$i"; }
	WIP[$i]=$(ip -n "${WNS[$i]}" -4 -o addr show eth0 | awk '{print $4}' | cut -d/ -f1)
	ok "workload on h$i: ${WIP[$i]}"
done
block_of() { # I -> the block affine to h$I
	ectl get --prefix /tabby/v1/ipam/blocks/ --print-value-only |
		python3 -c 'import json,sys
for l in sys.stdin:
    l=l.strip()
    if l and json.loads(l).get("affinity")=="host:h"+sys.argv[1]: print(json.loads(l)["cidr"])' "$1" | head -1
}
B1=$(block_of 1); B2=$(block_of 2)
echo "# blocks: h1 $B1, h2 $B2"
ping_ok() { ip netns exec "${WNS[$1]}" ping -c 1 -W 1 "$2" >/dev/null 2>&1; }
vx_route() { # I BLOCK TUNNEL
	ip -n "${HNS[$1]}" route show "$2" | grep -q "^$2 via $3 dev vxlan.tabby proto 81 onlink"
}

check "h1 routes h2's block via h2's tunnel address (ip route)" wait_for 20 vx_route 1 "$B2" "$TUN2"
check "h2 routes h1's block via h1's tunnel address (ip route)" wait_for 20 vx_route 2 "$B1" "$TUN1"
MAC2=$(node_field 2 vxlanTunnelMACAddr)
check "h1: permanent neighbour $TUN2 -> $MAC2 on vxlan.tabby" wait_for 10 bash -c \
	"ip -n ${HNS[1]} neigh show dev vxlan.tabby | grep -q '^$TUN2 lladdr $MAC2 PERMANENT'"
check "h1: FDB $MAC2 -> 198.18.2.2" wait_for 10 bash -c \
	"ip netns exec ${HNS[1]} bridge fdb show dev vxlan.tabby | grep -q '^$MAC2 dst 198.18.2.2 self permanent'"
check "tabbyctl ipam check: tunnel addresses are not leaks" bash -c \
	"$T_BUILD/ctl/tabbyctl --datastore-endpoints $TABBY_DATASTORE_ENDPOINTS ipam check 2>&1 | grep -q 'Found 0 IPs that are allocated in IPAM but not actually in use'"
check "Always: w1 (h1) pings w2 (h2) across the router" wait_for 20 ping_ok 1 "${WIP[2]}"
check "Always: w2 (h2) pings w1 (h1)" wait_for 10 ping_ok 2 "${WIP[1]}"
check "Always: w3 (h3) pings w2 (h2)" wait_for 20 ping_ok 3 "${WIP[2]}"
check "Always: h1 and h3 (same subnet) also go through VXLAN" wait_for 10 vx_route 1 "$(block_of 3)" "$(node_field 3 ipv4VXLANTunnelAddr)"
check "Always: BIRD on h1 learned h3's block over BGP" wait_for 20 bash -c \
	"birdc -s $T_TMP/bird-h1.ctl show route for $(block_of 3) | grep -q Mesh_198_18_1_3"
check "Always: BIRD installs no kernel route of the VXLAN pool" bash -c \
	"! ip -n ${HNS[1]} route show proto bird | grep -q '^198[.]19[.]'"
check "Always: BIRD learns no vxlan.tabby route from the kernel" bash -c \
	"! birdc -s $T_TMP/bird-h1.ctl show route where ifname = \"vxlan.tabby\" | grep -q '^198[.]19[.]'"

# Never: the device, routes, neighbours and FDB go, the tunnel address is released.
pool Never
check "Never: vxlan.tabby deleted on h1" wait_for 20 bash -c "! ip -n ${HNS[1]} link show vxlan.tabby >/dev/null 2>&1"
check "Never: vxlan.tabby deleted on h2" wait_for 20 bash -c "! ip -n ${HNS[2]} link show vxlan.tabby >/dev/null 2>&1"
check "Never: no route of h2's block on h1" bash -c "! ip -n ${HNS[1]} route show $B2 | grep -q ."
check "Never: h1's tunnel address removed from its Node" wait_for 20 bash -c "! ETCDCTL_API=3 etcdctl --endpoints $TABBY_DATASTORE_ENDPOINTS get --print-value-only /tabby/v1/nodes/h1 | grep -q ipv4VXLANTunnelAddr"
check "Never: the tunnel address handle is released" wait_for 20 bash -c \
	"! ETCDCTL_API=3 etcdctl --endpoints $TABBY_DATASTORE_ENDPOINTS get --keys-only /tabby/v1/ipam/handles/vxlan-tunnel-addr-h1 | grep -q ."
check "Never: cross-subnet ping fails" bash -c "! ip netns exec ${WNS[1]} ping -c 2 -W 1 ${WIP[2]} >/dev/null 2>&1"

# Always again, without restarting anything.
pool Always
for i in 1 2; do check "Always again: h$i has its tunnel address" wait_for 30 has_tunnel "$i"; done
TUN1=$(node_field 1 ipv4VXLANTunnelAddr); TUN2=$(node_field 2 ipv4VXLANTunnelAddr)
check "Always again: h1 routes h2's block via vxlan.tabby" wait_for 20 vx_route 1 "$B2" "$TUN2"
check "Always again: w1 pings w2" wait_for 20 ping_ok 1 "${WIP[2]}"
for i in 1 2 3; do check "felix on h$i was not restarted" kill -0 "${FPID[$i]}"; done

# CrossSubnet: h1 <-> h2 are in different subnets: encapsulated; h1 <-> h3 share a subnet: no
# VXLAN route (BGP's job; no BIRD runs here).
pool CrossSubnet
B3=$(block_of 3)
check "CrossSubnet: h1 has no VXLAN route to same-subnet h3's block" wait_for 20 bash -c \
	"! ip -n ${HNS[1]} route show $B3 | grep -q vxlan.tabby"
check "CrossSubnet: h1 routes h3's block by BGP, unencapsulated (proto bird via 198.18.1.3)" \
	wait_for 30 bash -c "ip -n ${HNS[1]} route show $B3 | grep -q 'via 198.18.1.3 dev eth0 proto bird'"
check "CrossSubnet: w1 pings w3 (same subnet, plain)" wait_for 20 ping_ok 1 "${WIP[3]}"
check "CrossSubnet: h1 still routes h2's block via vxlan.tabby" vx_route 1 "$B2" "$TUN2"
check "CrossSubnet: h2 routes h3's block via vxlan.tabby" wait_for 10 vx_route 2 "$B3" "$(node_field 3 ipv4VXLANTunnelAddr)"
check "CrossSubnet: w1 pings w2 across the router" wait_for 20 ping_ok 1 "${WIP[2]}"
check "CrossSubnet: w3 pings w2 across the router" wait_for 20 ping_ok 3 "${WIP[2]}"
check "CrossSubnet: h1's FDB has no entry for same-subnet h3" wait_for 10 bash -c \
	"! ip netns exec ${HNS[1]} bridge fdb show dev vxlan.tabby | grep -q 'dst 198.18.1.3 '"
check "CrossSubnet: h1 keeps its FDB entry for h2" bash -c \
	"ip netns exec ${HNS[1]} bridge fdb show dev vxlan.tabby | grep -q 'dst 198.18.2.2 self permanent'"

# A felix restart with VXLAN on keeps the device (same ifindex), deletes no route and loses no
# packet of an encapsulated ping running across it.
IDX=$(ip -n "${HNS[1]}" -o link show vxlan.tabby | cut -d: -f1)
ip -n "${HNS[1]}" monitor route >"$T_TMP/monitor.log" 2>&1 &
MON=$!; track_pid "$MON"
ip netns exec "${WNS[1]}" ping -c 30 -i 0.2 -W 1 "${WIP[2]}" >"$T_TMP/ping.log" 2>&1 &
PING=$!; track_pid "$PING"
sleep 1
kill -TERM "${FPID[1]}"; wait "${FPID[1]}"
check "felix h1 exits 0 on SIGTERM" [ $? = 0 ]
: >"$T_TMP/felix-h1.log"
start_felix 1
check "restarted felix h1 is in sync" wait_for 20 grep -q "in sync with the datastore" "$T_TMP/felix-h1.log"
wait "$PING"
kill "$MON"; wait "$MON" 2>/dev/null
check "restart: vxlan.tabby kept (same ifindex $IDX)" \
	[ "$(ip -n "${HNS[1]}" -o link show vxlan.tabby | cut -d: -f1)" = "$IDX" ]
check "restart: no route was deleted" bash -c "! grep -q '^Deleted' $T_TMP/monitor.log"
check "restart: the encapsulated ping lost no packet" grep -q " 0% packet loss" "$T_TMP/ping.log"
check "restart: the device was not re-created" bash -c "! grep -q 'created vxlan.tabby' $T_TMP/felix-h1.log"
summary
