#!/bin/bash
# CNI "mtu" (cni/mtu.h): an explicit "mtu" goes to both veth ends; without it the veth gets the
# MTU of the host interface holding the default route, else of the one holding the Node's
# address; an invalid "mtu" (out of 68..65535, not an integer) is refused with code 7 naming
# "mtu", and nothing is left behind; CHECK compares an explicit "mtu" and both ends.
source "${TABBY_SOURCE_DIR:-$(dirname "$0")/../..}/tests/integration/lib.sh"
need_root

PLUGIN=$T_BUILD/cni/tabby
[ -x "$PLUGIN" ] || fail "plugin not built in $T_BUILD/cni"
command -v etcdctl >/dev/null || fail "etcdctl not installed"

etcd_start
ectl() { ETCDCTL_API=3 etcdctl --endpoints "$TABBY_DATASTORE_ENDPOINTS" "$@"; }
ectl put /tabby/v1/ippools/mtu-pool '{"apiVersion":"projectcalico.org/v3","kind":"IPPool","metadata":{"name":"mtu-pool"},"spec":{"cidr":"198.19.12.0/24","blockSize":26}}' >/dev/null ||
	fail "put IPPool"
ectl put /tabby/v1/nodes/h1 '{"apiVersion":"projectcalico.org/v3","kind":"Node","metadata":{"name":"h1"},"spec":{"bgp":{"ipv4Address":"198.18.0.11/24"}}}' >/dev/null ||
	fail "put Node h1"

# Host h1: uplink up0 with MTU 1450 and the default route through it; a second link big0 with
# MTU 9000 and no default route, which must not be picked.
ns_add tor; TOR=$NS_LAST
ns_add h1; H=$NS_LAST
ip netns exec "$H" ip link add up0 mtu 1450 type veth peer name down0 mtu 1450 netns "$TOR"
ip netns exec "$TOR" ip addr add 198.18.0.1/24 dev down0
ip netns exec "$TOR" ip link set down0 up
ip netns exec "$H" ip addr add 198.18.0.11/24 dev up0
ip netns exec "$H" ip link set up0 up
ip netns exec "$H" ip route add default via 198.18.0.1 dev up0
ip -n "$H" link add big0 mtu 9000 type veth peer name big1 mtu 9000 || fail "add big0"
ip -n "$H" addr add 198.18.1.11/24 dev big0 || fail "address on big0"
ip -n "$H" link set big0 up && ip -n "$H" link set big1 up || fail "big0 up"
for i in 1 2 3 4 5 6 7 8 9; do ns_add "c$i"; eval "C$i=\$NS_LAST"; done

LOG=$T_TMP/plugin.log
POOL=mtu-pool
conf() { # [extra top-level JSON members]; the pool is $POOL
	printf '{"cniVersion":"1.0.0","name":"tabbynet","type":"tabby","nodename":"h1","datastore_endpoints":"%s","log_level":"debug","ipam":{"type":"tabby-ipam","ipv4_pools":["%s"]}%s}' \
		"$TABBY_TEST_ETCD_UNIX" "$POOL" "${1:-}"
}
cni() { # CMD CONTAINERID NETNS < config
	nsenter --net="/run/netns/$H" env -i PATH="$PATH" CNI_COMMAND="$1" CNI_CONTAINERID="$2" \
		CNI_NETNS="$3" CNI_IFNAME=eth0 CNI_PATH="$T_BUILD/cni" \
		CNI_ARGS="IgnoreUnknown=1;K8S_POD_NAMESPACE=ns1" "$PLUGIN" 2>>"$LOG"
}
veth_of() { python3 -c 'import hashlib,sys; print("tby" + hashlib.sha1(sys.argv[1].encode()).hexdigest()[:11])' "$1"; }
mtu_of() { ip -n "$1" -o link show "$2" | sed -n 's/.* mtu \([0-9]*\) .*/\1/p'; }
is_error() { # JSON CODE SUBSTRING
	python3 -c '
import json,sys
d=json.loads(sys.argv[1]); code=int(sys.argv[2]); part=sys.argv[3]
assert d["code"] == code and part in d["msg"], d' "$1" "$2" "$3"
}
nothing_left() { # CONTAINERID NETNS: no veth, no container eth0, no WEP, no IPAM handle
	! ip -n "$H" link show "$(veth_of "ns1.$1")" >/dev/null 2>&1 &&
		! ip -n "$2" link show eth0 >/dev/null 2>&1 &&
		[ -z "$(ectl get --keys-only --prefix /tabby/v1/workloadendpoints/ns1/h1-cni-"$1"-)" ] &&
		[ -z "$(ectl get --keys-only "/tabby/v1/ipam/handles/tabbynet.$1")" ]
}
with_prev() { # CONFIG RESULT -> CONFIG with prevResult
	python3 -c 'import json,sys; c=json.loads(sys.argv[1]); c["prevResult"]=json.loads(sys.argv[2]); print(json.dumps(c))' "$1" "$2"
}

# --- explicit "mtu": 1400 on both ends
RES=$(conf ',"mtu":1400' | cni ADD mtu1 "/run/netns/$C1") || { cat "$LOG"; fail "ADD with mtu 1400: $RES"; }
ok "ADD with \"mtu\": 1400 succeeds"
V1=$(veth_of ns1.mtu1)
check "container eth0 has mtu 1400" test "$(mtu_of "$C1" eth0)" = 1400
check "host veth $V1 has mtu 1400" test "$(mtu_of "$H" "$V1")" = 1400
out=$(with_prev "$(conf ',"mtu":1400')" "$RES" | cni CHECK mtu1 "/run/netns/$C1")
check "CHECK with the same mtu passes" test $? = 0 -a -z "$out"
ip -n "$C1" link set eth0 mtu 1300
out=$(with_prev "$(conf ',"mtu":1400')" "$RES" | cni CHECK mtu1 "/run/netns/$C1")
check "CHECK after the container's MTU changed: code 103 naming the mtu" is_error "$out" 103 "mtu 1300"
ip -n "$C1" link set eth0 mtu 1400
out=$(with_prev "$(conf ',"mtu":1500')" "$RES" | cni CHECK mtu1 "/run/netns/$C1")
check "CHECK with another configured mtu: code 103" is_error "$out" 103 "mtu 1400, expected 1500"

# --- no "mtu": the default route's interface (up0, 1450), not the bigger big0
RES=$(conf | cni ADD mtu2 "/run/netns/$C2") || { cat "$LOG"; fail "ADD without mtu: $RES"; }
V2=$(veth_of ns1.mtu2)
check "auto-detected: container eth0 has up0's mtu 1450" test "$(mtu_of "$C2" eth0)" = 1450
check "auto-detected: host veth has mtu 1450" test "$(mtu_of "$H" "$V2")" = 1450
out=$(with_prev "$(conf)" "$RES" | cni CHECK mtu2 "/run/netns/$C2")
check "CHECK of an auto-detected mtu passes" test $? = 0 -a -z "$out"

# --- no default route: the interface holding the Node's address 198.18.0.11
ip -n "$H" link set up0 mtu 1420
ip -n "$H" route del default
out=$(conf | cni ADD mtu3 "/run/netns/$C3") || { cat "$LOG"; fail "ADD without a default route: $out"; }
check "no default route: the veth gets the mtu of the Node address's interface (1420)" \
	test "$(mtu_of "$C3" eth0)" = 1420 -a "$(mtu_of "$H" "$(veth_of ns1.mtu3)")" = 1420
ip -n "$H" route add default via 198.18.0.1 dev up0
ip -n "$H" link set up0 mtu 1450

# --- invalid "mtu": code 7 naming mtu, nothing left
for bad in 20 67 65536 '"abc"' '"1400"' 1400.5 true '[]'; do
	out=$(conf ",\"mtu\":$bad" | cni ADD mtubad "/run/netns/$C4")
	check "mtu $bad: code 7 naming mtu" is_error "$out" 7 "mtu: "
	check "mtu $bad: no veth, eth0, WEP or allocation" nothing_left mtubad "$C4"
done
out=$(conf ',"mtu":68' | cni ADD mtu68 "/run/netns/$C4") || { cat "$LOG"; fail "ADD with mtu 68: $out"; }
check "mtu 68 (the minimum) is accepted" test "$(mtu_of "$C4" eth0)" = 68

# --- a VXLAN pool: 50 bytes less, or FelixConfiguration vxlanMTU; an explicit mtu still wins.
# Needs model/decode.c to accept vxlanMode Always (issue 10's VXLAN work); until then the pool does
# not decode, IPAM finds no usable pool (code 104) and this part is skipped.
ectl put /tabby/v1/ippools/vx-pool '{"apiVersion":"projectcalico.org/v3","kind":"IPPool","metadata":{"name":"vx-pool"},"spec":{"cidr":"198.19.13.0/24","blockSize":26,"vxlanMode":"Always"}}' >/dev/null ||
	fail "put IPPool vx-pool"
POOL=vx-pool
VX=()
out=$(conf | cni ADD vx1 "/run/netns/$C5")
if is_error "$out" 104 "" 2>/dev/null; then
	ok "# skip VXLAN pool MTU: this build refuses vxlanMode Always"
else
	[ -z "$(python3 -c 'import json,sys; print(json.loads(sys.argv[1]).get("code",""))' "$out")" ] ||
		{ cat "$LOG"; fail "ADD in the VXLAN pool: $out"; }
	VX+=(vx1:$C5)
	check "VXLAN pool: the veth gets up0's 1450 - 50 = 1400" \
		test "$(mtu_of "$C5" eth0)" = 1400 -a "$(mtu_of "$H" "$(veth_of ns1.vx1)")" = 1400
	ectl put /tabby/v1/felixconfigurations/default '{"apiVersion":"projectcalico.org/v3","kind":"FelixConfiguration","metadata":{"name":"default"},"spec":{"vxlanMTU":1380}}' >/dev/null ||
		fail "put FelixConfiguration default"
	out=$(conf | cni ADD vx2 "/run/netns/$C6") || { cat "$LOG"; fail "ADD vx2: $out"; }
	VX+=(vx2:$C6)
	check "VXLAN pool with FelixConfiguration vxlanMTU 1380: the veth gets 1380" \
		test "$(mtu_of "$C6" eth0)" = 1380
	ectl put /tabby/v1/felixconfigurations/node.h1 '{"apiVersion":"projectcalico.org/v3","kind":"FelixConfiguration","metadata":{"name":"node.h1"},"spec":{"vxlanMTU":1370}}' >/dev/null ||
		fail "put FelixConfiguration node.h1"
	out=$(conf | cni ADD vx3 "/run/netns/$C7") || { cat "$LOG"; fail "ADD vx3: $out"; }
	VX+=(vx3:$C7)
	check "the node's FelixConfiguration vxlanMTU 1370 wins over the default's" \
		test "$(mtu_of "$C7" eth0)" = 1370
	# a requested address: IPAM does not hand the pools over, the plugin reads them itself
	out=$(conf ',"args":{"cni":{"ips":["198.19.13.200"]}}' | cni ADD vx5 "/run/netns/$C9") ||
		{ cat "$LOG"; fail "ADD vx5: $out"; }
	VX+=(vx5:$C9)
	check "a requested address in the VXLAN pool: the veth gets 1370 too" \
		test "$(mtu_of "$C9" eth0)" = 1370
	out=$(conf ',"mtu":1500' | cni ADD vx4 "/run/netns/$C8") || { cat "$LOG"; fail "ADD vx4: $out"; }
	VX+=(vx4:$C8)
	check "VXLAN pool with an explicit mtu 1500: the veth gets 1500" \
		test "$(mtu_of "$C8" eth0)" = 1500
	for v in "${VX[@]}"; do conf | cni DEL "${v%%:*}" "/run/netns/${v#*:}" >/dev/null || fail "DEL ${v%%:*}"; done
fi
POOL=mtu-pool

# --- DEL
for i in 1 2 3; do conf | cni DEL "mtu$i" "/run/netns/$(eval echo \$C$i)" >/dev/null || fail "DEL mtu$i"; done
conf | cni DEL mtu68 "/run/netns/$C4" >/dev/null || fail "DEL mtu68"
check "DEL removed every veth" bash -c "! ip -n $H -o link show | grep -q ': tby'"

summary
