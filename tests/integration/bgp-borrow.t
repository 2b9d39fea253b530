#!/bin/bash
# bgp-borrow.t - a borrowed address reaches the other hosts (`tabby-lab up --topology tor`).
# Real daemons (etcd, tabby-felix + BIRD per host, FRR as the ToR), the real CNI and IPAM plugins:
#  - with maxBlocksPerHost 1 and h1's /26 full (filled through tabby-ipam), a workload added on
#    h1 through the tabby plugin gets an address from another host's block (a borrow);
#  - h1's kernel has the /32 on the workload's veth (proto 81); BIRD exports it (a /32 outside
#    h1's own blocks): FRR's BGP table has it from h1 only, and the ToR's kernel routes it to h1;
#  - both other hosts, including the block's owner (whose blackhole covers it), have the /32 in
#    their kernels from BIRD via the ToR, and pings work both ways;
#  - CNI DEL withdraws the /32 everywhere (ToR and hosts).
. "$(dirname "$0")/lib.sh"
need_root
command -v vtysh >/dev/null && [ -x /usr/lib/frr/bgpd ] || { echo "skipped: frr not installed"; exit 77; }
export TABBY_LAB_PREFIX="bb$$"
. "$(dirname "$0")/bgp-lib.sh"
H=3
TOR="$TABBY_LAB_PREFIX-tor"

lab_up --topology tor --hosts $H --workloads 1
for n in $(seq 1 $H); do
	wait_for 30 all_established "$n" 1 || fail "h$n: its ToR session is Established"
done
ok "every host's ToR session is Established"

# in_net IP CIDR - IP lies inside CIDR
in_net() { python3 -c 'import ipaddress,sys; sys.exit(ipaddress.ip_address(sys.argv[1]) not in ipaddress.ip_network(sys.argv[2]))' "$1" "$2"; }

lab_etcdctl put /tabby/v1/ipam/config '{"strictAffinity":false,"maxBlocksPerHost":1}' >/dev/null ||
	fail "write the IPAM config (maxBlocksPerHost 1)"
ok "IPAM config: maxBlocksPerHost 1, strictAffinity false"
b1=$(kernel_block 1)
[ -n "$b1" ] || fail "h1 has a block"
conf="$RUN/workloads/h1-w1.conf"
plugin() { # plugin BINARY CMD CONTAINER_ID NETNS - a CNI call in h1's namespace, clean environment
	ip netns exec "$TABBY_LAB_PREFIX-h1" env -i PATH="$PATH" CNI_COMMAND="$2" CNI_CONTAINERID="$3" \
		CNI_NETNS="/run/netns/$4" CNI_IFNAME=eth0 CNI_PATH="$T_BUILD/cni" \
		CNI_ARGS="K8S_POD_NAMESPACE=default;K8S_POD_NAME=$3" "$T_BUILD/cni/$1" <"$conf" 2>>"$T_TMP/plugin.log"
}
result_ip() { python3 -c 'import json,sys; print(json.load(sys.stdin)["ips"][0]["address"].split("/")[0])'; }

# Fill h1's block: allocate until an address comes from elsewhere, then give that one back.
filled=0
for i in $(seq 1 70); do
	ip=$(plugin tabby-ipam ADD "fill$i" "$TABBY_LAB_PREFIX-h1" | result_ip) || fail "tabby-ipam ADD fill$i"
	if ! in_net "$ip" "$b1"; then
		plugin tabby-ipam DEL "fill$i" "$TABBY_LAB_PREFIX-h1" >/dev/null || fail "tabby-ipam DEL fill$i"
		filled=1
		break
	fi
done
[ "$filled" = 1 ] || fail "h1's block $b1 fills up"
ok "h1's block $b1 is full ($((i - 1)) addresses allocated through tabby-ipam)"
check "h1 still owns exactly one block (maxBlocksPerHost 1: no second claim)" \
	[ "$(kernel_block 1 | wc -l)" = 1 ]

ns_add borrow
bns=$NS_LAST
plugin tabby ADD borrow "$bns" >"$T_TMP/borrow.json" || { cat "$T_TMP/borrow.json"; fail "CNI ADD of the borrowing workload on h1"; }
bip=$(result_ip <"$T_TMP/borrow.json")
owner=""
for m in 2 3; do in_net "$bip" "$(kernel_block "$m")" && owner=$m; done
[ -n "$owner" ] || fail "the new workload's $bip comes from h2's or h3's block"
ok "the new workload on h1 borrowed $bip from h$owner's block $(kernel_block "$owner")"
check "h1's kernel routes $bip/32 to the workload's veth (proto 81)" \
	bash -c "ip -n '$TABBY_LAB_PREFIX-h1' route show '$bip/32' proto 81 | grep -q 'dev tby'"

# FRR: the /32 from h1 (198.18.1.1, AS 64601) and nobody else, installed in the ToR's kernel.
tor_paths() {
	tor_vtysh -c "show ip bgp $bip/32 json" | python3 -c '
import json,sys
d=json.load(sys.stdin)
for p in d.get("paths",[]):
    print(p["nexthops"][0]["ip"], p.get("aspath",{}).get("string",""))'
}
tor_has() { [ "$(tor_paths)" = "198.18.1.1 64601" ]; }
wait_for 20 tor_has || fail "FRR's BGP table has $bip/32 from h1 only (got: $(tor_paths))"
ok "FRR's BGP table has $bip/32 from h1 only (next hop 198.18.1.1, AS path 64601)"
wait_for 10 bash -c "ip -n '$TOR' route show '$bip/32' proto bgp | grep -q 'via 198.18.1.1 dev th1'" ||
	fail "the ToR's kernel routes $bip/32 via h1"
ok "the ToR's kernel routes $bip/32 via h1 (th1), more specific than h$owner's /26"

for n in 2 3; do
	wait_for 20 bird_route "$n" "$bip/32" "via 198.18.1.$((2 * n - 2)) " ||
		fail "h$n's kernel has $bip/32 from BIRD via the ToR"
	ok "h$n's kernel has $bip/32 from BIRD via the ToR$([ "$n" = "$owner" ] && echo " (h$n owns the block: the /32 beats its blackhole)")"
done
bping() { ip netns exec "$bns" ping -c 1 -W 2 "$1" >/dev/null 2>&1; }
for n in 2 3; do
	check "h$n-w1 pings the borrowed $bip" ping_ok "$n" "$bip"
	check "the borrowed workload pings h$n-w1" bping "$(wl_ip "$n")"
done
check "h1-w1 pings the borrowed $bip (same host)" ping_ok 1 "$bip"

plugin tabby DEL borrow "$bns" >/dev/null || fail "CNI DEL of the borrowing workload"
tor_gone() { [ -z "$(tor_paths)" ]; }
wait_for 20 tor_gone || fail "FRR withdraws $bip/32 after CNI DEL"
ok "FRR withdraws $bip/32 after CNI DEL"
for n in 2 3; do
	wait_for 20 no_route "$n" "$bip/32" || fail "h$n's kernel drops $bip/32"
	ok "h$n's kernel drops $bip/32"
done
lab_down
summary
