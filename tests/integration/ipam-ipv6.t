#!/bin/bash
# Dual-stack IPAM through the real tabby-ipam plugin and tabbyctl against a private real etcd:
# ADD with ipam.assign_ipv6 returns an IPv4 and an IPv6 address (IPv4 first) from a default
# /122 IPv6 block; ADD is idempotent; CHECK wants an address of each requested family; DEL
# releases both; assign_ipv6 without a usable IPv6 pool fails with 104 naming the fields and
# leaves no IPv4 allocation behind; pinned IPv6 addresses (CNI_ARGS IP=a,b, runtimeConfig.ips),
# at most one per family; bad assign_ipv4/assign_ipv6 values and an IPv6 pool with blockSize 115
# are refused naming the field; `tabbyctl ipam show|check|release` with IPv6.
# Addresses: 198.18.0.0/15 and 2001:db8::/32 only.
source "${TABBY_SOURCE_DIR:-$(dirname "$0")/../..}/tests/integration/lib.sh"
need_root

IPAM=$T_BUILD/cni/tabby-ipam
CTL=$T_BUILD/ctl/tabbyctl
[ -x "$IPAM" ] || fail "$IPAM not built"
[ -x "$CTL" ] || fail "$CTL not built"
command -v etcdctl >/dev/null || fail "etcdctl not installed"

etcd_start
ectl() { ETCDCTL_API=3 etcdctl --endpoints "$TABBY_DATASTORE_ENDPOINTS" "$@"; }
run() { "$@" >"$T_TMP/out" 2>"$T_TMP/err"; RC=$?; }
show() { echo "--- exit $RC"; echo "--- stdout"; cat "$T_TMP/out"; echo "--- stderr"; cat "$T_TMP/err"; }
has() { grep -qF -- "$1" "$T_TMP/$2"; }

pool() { # NAME CIDR [EXTRA_SPEC]
	ectl put "/tabby/v1/ippools/$1" "{\"apiVersion\":\"projectcalico.org/v3\",\"kind\":\"IPPool\",\"metadata\":{\"name\":\"$1\"},\"spec\":{\"cidr\":\"$2\"${3:-}}}" >/dev/null ||
		fail "put IPPool $1"
}
pool default-ipv4-ippool 198.19.0.0/24 ',"blockSize":26'
# no blockSize: the model's IPv6 default, 122
pool default-ipv6-ippool 2001:db8:19::/112
ectl put /tabby/v1/nodes/h1 '{"apiVersion":"projectcalico.org/v3","kind":"Node","metadata":{"name":"h1"},"spec":{"bgp":{"ipv4Address":"198.18.0.11/24"}}}' >/dev/null ||
	fail "put Node h1"

LOG=$T_TMP/plugin.log
# conf [IPAM_EXTRA] [TOP_EXTRA] [VERSION]
conf() {
	printf '{"cniVersion":"%s","name":"net6","type":"tabby","nodename":"h1","datastore_endpoints":"%s","log_level":"info","ipam":{"type":"tabby-ipam","lock_file":"%s","assign_ipv6":"true"%s}%s}' \
		"${3:-1.0.0}" "$TABBY_TEST_ETCD_UNIX" "$T_TMP/ipam.lock" "${1:-}" "${2:-}"
}
cni() { # CMD CONTAINERID [CNI_ARGS] < config
	env -i PATH="$PATH" CNI_COMMAND="$1" CNI_CONTAINERID="$2" CNI_PATH="$T_BUILD/cni" \
		CNI_ARGS="IgnoreUnknown=1;K8S_POD_NAMESPACE=ns1${3:+;$3}" "$IPAM" 2>>"$LOG"
}
# ips FILE: the result's addresses, one line, in order
ips() { python3 -c 'import json,sys; print(" ".join(i["address"] for i in json.load(open(sys.argv[1]))["ips"]))' "$1"; }
# is_error FILE CODE TEXT: an error JSON with that code whose msg contains TEXT
is_error() {
	python3 -c 'import json,sys
d=json.load(open(sys.argv[1]))
assert d.get("code") == int(sys.argv[2]), d
assert sys.argv[3] in d.get("msg", ""), d' "$@" || { cat "$1"; return 1; }
}
handle_gone() { [ -z "$(ectl get --keys-only "/tabby/v1/ipam/handles/net6.$1")" ]; }
in_use() { # total allocations over all blocks
	ectl get --prefix --print-value-only /tabby/v1/ipam/blocks/ |
		python3 -c 'import json,sys
n=0
for l in sys.stdin:
    l=l.strip()
    if l: n+=sum(1 for a in json.loads(l)["allocations"] if a is not None)
print(n)'
}
match() { [[ $1 == $2 ]]; } # match TEXT GLOB
in6() { python3 -c 'import ipaddress,sys; sys.exit(0 if ipaddress.ip_address(sys.argv[1]) in ipaddress.ip_network(sys.argv[2]) else 1)' "$@"; }

# --- dual-stack ADD
conf | cni ADD c1 >"$T_TMP/r1" || { cat "$LOG" "$T_TMP/r1"; fail "ADD c1"; }
read -r A4 A6 X <<<"$(ips "$T_TMP/r1")"
V4=${A4%/32}
V6=${A6%/128}
check "ADD returns IPv4 /32 first, then IPv6 /128: $A4 $A6" \
	bash -c "[[ '$A4' == 198.19.0.*/32 && '$A6' == */128 && -z '$X' ]]"
check "the IPv6 address lies in the IPv6 pool" in6 "$V6" 2001:db8:19::/112
check "the IPv6 block is the default /122, claimed for h1 (blocks and affinities per family)" \
	bash -c "ectl() { ETCDCTL_API=3 etcdctl --endpoints $TABBY_DATASTORE_ENDPOINTS \"\$@\"; }
		ectl get --print-value-only /tabby/v1/ipam/blocks/2001:db8:19::-122 | grep -q '\"affinity\":\"host:h1\"' &&
		[ -n \"\$(ectl get --keys-only /tabby/v1/ipam/affinities/h1/2001:db8:19::-122)\" ] &&
		[ -n \"\$(ectl get --keys-only /tabby/v1/ipam/affinities/h1/198.19.0.0-26)\" ]"
check "one handle holds both: its record names both blocks" bash -c "
	ETCDCTL_API=3 etcdctl --endpoints $TABBY_DATASTORE_ENDPOINTS get --print-value-only /tabby/v1/ipam/handles/net6.c1 |
	python3 -c 'import json,sys; b=json.load(sys.stdin)[\"block\"]; assert b == {\"198.19.0.0-26\":1, \"2001:db8:19::-122\":1}, b'"
conf | cni ADD c1 >"$T_TMP/r1b" || fail "ADD c1 again"
check "ADD is idempotent: the same two addresses" [ "$(ips "$T_TMP/r1b")" = "$A4 $A6" ]
conf "" "" 0.4.0 | cni ADD c2 >"$T_TMP/r2" || { cat "$LOG"; fail "ADD c2 (0.4.0)"; }
check "a 0.4.0 result carries version 4 and 6" python3 -c '
import json,sys
ips=json.load(open(sys.argv[1]))["ips"]
assert [i["version"] for i in ips] == ["4","6"], ips' "$T_TMP/r2"
read -r B4 B6 <<<"$(ips "$T_TMP/r2")"
B4=${B4%/32}
B6=${B6%/128}
check "c2 gets other addresses of both families" bash -c "[ '$B4' != '$V4' ] && [ '$B6' != '$V6' ]"
check "4 addresses in use" [ "$(in_use)" = 4 ]

# --- CHECK: an address of each requested family
conf "" "" 0.4.0 | cni CHECK c1 >"$T_TMP/out"
check "CHECK c1 passes" [ $? = 0 ]

# --- tabbyctl ipam show / check / release with IPv6
run "$CTL" ipam show
[ "$RC" = 0 ] || { show; fail "ipam show"; }
check "show: the IPv6 pool row with 65536 addresses, 2 in use" \
	grep -qE '^\| *IP Pool *\| *2001:db8:19::/112 *\| *65536 *\| *2 \(0%\) *\| *65534 \(100%\) *\|' "$T_TMP/out"
pool big48 2001:db8:30::/48 ',"disabled":true'
run "$CTL" ipam show
check "show: a /48 pool counts its 2^80 addresses exactly" \
	grep -qE '^\| *IP Pool *\| *2001:db8:30::/48 *\| *1208925819614629174706176 *\| *0 \(0%\) *\| *1208925819614629174706176 \(100%\) *\|' "$T_TMP/out"
ectl del /tabby/v1/ippools/big48 >/dev/null
run "$CTL" ipam show --show-blocks
check "show --show-blocks: the IPv6 block with its affinity" \
	grep -qE '^\| *Block *\| *2001:db8:19::/122 *\| *64 *\| *2 \(3%\) *\| *62 \(97%\) *\| *host:h1 *\|' "$T_TMP/out"
run "$CTL" ipam check -o json
[ "$RC" = 1 ] || { show; fail "ipam check: exit $RC, want 1 (no WorkloadEndpoints: all leaked)"; }
check "check finds the IPv6 allocations leaked too (no WorkloadEndpoint uses them)" python3 -c '
import json,sys
d=json.load(open(sys.argv[1]))
got=sorted("%s:%s" % (p["type"], p["ip"]) for p in d["problems"])
want=sorted("leaked:" + a for a in sys.argv[2:])
assert got == want, (got, want)
p=[p for p in d["problems"] if p["ip"] == sys.argv[3]][0]
assert p["block"] == "2001:db8:19::/122" and p["handle"] == "net6.c1" and p["node"] == "h1", p' \
	"$T_TMP/out" "$V4" "$V6" "$B4" "$B6"
run "$CTL" ipam check --show-all-ips
check "check --show-all-ips lists the IPv6 address with its handle" \
	grep -q "^  $V6 leaked; attrs Main:net6.c1 " "$T_TMP/out"
# a WorkloadEndpoint that uses both of c1's addresses: they are no longer leaked
ectl put /tabby/v1/workloadendpoints/ns1/h1-cni-c1-eth0 "{\"apiVersion\":\"projectcalico.org/v3\",\"kind\":\"WorkloadEndpoint\",\"metadata\":{\"name\":\"h1-cni-c1-eth0\",\"namespace\":\"ns1\"},\"spec\":{\"node\":\"h1\",\"orchestrator\":\"cni\",\"endpoint\":\"eth0\",\"containerID\":\"c1\",\"interfaceName\":\"tby0\",\"ipNetworks\":[\"$A4\",\"$A6\"]}}" >/dev/null ||
	fail "put WorkloadEndpoint"
run "$CTL" ipam check -o json
check "with c1's dual-stack endpoint only c2's two addresses are leaked" python3 -c '
import json,sys
d=json.load(open(sys.argv[1]))
got=sorted("%s:%s" % (p["type"], p["ip"]) for p in d["problems"])
assert got == sorted(["leaked:" + sys.argv[2], "leaked:" + sys.argv[3]]), got' \
	"$T_TMP/out" "$B4" "$B6"
run "$CTL" ipam release --ip "$V6"
check "release of $V6 in use by the endpoint is refused" bash -c "[ $RC = 1 ] && grep -q '$V6 is in use by Workload(ns1/h1-cni-c1-eth0)' $T_TMP/err"
run "$CTL" ipam release --ip 2001:db8:19::3f
check "release of an unallocated IPv6 address is refused" bash -c "[ $RC = 1 ] && grep -q '2001:db8:19::3f is not allocated' $T_TMP/err"
run "$CTL" ipam release --ip "$B6"
[ "$RC" = 0 ] || { show; fail "release $B6"; }
check "release of c2's leaked IPv6 address succeeds" has "Successfully released IP address $B6" out
check "... c2's handle keeps its IPv4 block only" bash -c "
	ETCDCTL_API=3 etcdctl --endpoints $TABBY_DATASTORE_ENDPOINTS get --print-value-only /tabby/v1/ipam/handles/net6.c2 |
	python3 -c 'import json,sys; b=json.load(sys.stdin)[\"block\"]; assert b == {\"198.19.0.0-26\":1}, b'"
conf "" "" 0.4.0 | cni CHECK c2 >"$T_TMP/out"
check "CHECK c2 now fails with 103 naming the missing IPv6 address" \
	is_error "$T_TMP/out" 103 "holds no IPv6 address (ipam.assign_ipv6 is true)"
conf "" "" 0.4.0 | cni ADD c2 >"$T_TMP/r2b" || fail "ADD c2 again"
check "ADD c2 again assigns a new IPv6 address and keeps the IPv4 one" \
	match "$(ips "$T_TMP/r2b")" "$B4/32 2001:db8:19::*/128"
ectl del /tabby/v1/workloadendpoints/ns1/h1-cni-c1-eth0 >/dev/null

# --- DEL releases both families
conf | cni DEL c1 >/dev/null || fail "DEL c1"
conf | cni DEL c2 >/dev/null || fail "DEL c2"
check "DEL releases both addresses of both handles" bash -c "[ \"\$($(declare -f in_use ectl); in_use)\" = 0 ]"
check "... and their handle records" bash -c "$(declare -f handle_gone ectl); handle_gone c1 && handle_gone c2"
conf | cni DEL c1 >/dev/null
check "DEL again is a no-op" [ $? = 0 ]

# --- the leak GC releases a leaked dual-stack allocation, both families
conf | cni ADD leak >"$T_TMP/out" || fail "ADD leak"
run "$CTL" ipam gc --grace 0
[ "$RC" = 0 ] || { show; fail "ipam gc --grace 0"; }
check "ipam gc --grace 0 releases both addresses of an allocation no endpoint uses" \
	bash -c "$(declare -f in_use handle_gone ectl); [ \"\$(in_use)\" = 0 ] && handle_gone leak"

# --- assign_ipv6 without a usable IPv6 pool: 104, and no IPv4 address stays behind
conf ',"ipv6_pools":["no-such-pool"]' | cni ADD nov6 >"$T_TMP/out"
check "ipv6_pools naming no pool: 104 naming assign_ipv6 and ipv6_pools" \
	is_error "$T_TMP/out" 104 "ipam.assign_ipv6, ipam.ipv6_pools: no usable IPv6 pool"
check "... no allocation and no handle left (the IPv4 address was released)" \
	bash -c "$(declare -f in_use handle_gone ectl); [ \"\$(in_use)\" = 0 ] && handle_gone nov6"
grep -q "released 1 address(es) of net6.nov6: the IPv6 assignment failed" "$LOG"
check "... the plugin log says it released the IPv4 address of that ADD" [ $? = 0 ]
conf ',"ipv6_pools":["2001:db8:19::/112"]' | cni ADD bycidr >"$T_TMP/out" || { cat "$T_TMP/out"; fail "ADD with ipv6_pools by CIDR"; }
check "ipv6_pools may name the pool by CIDR" in6 "$(ips "$T_TMP/out" | awk '{print $2}' | cut -d/ -f1)" 2001:db8:19::/112
conf | cni DEL bycidr >/dev/null || fail "DEL bycidr"
pool default-ipv6-ippool 2001:db8:19::/112 ',"disabled":true'
conf | cni ADD nov6b >"$T_TMP/out"
check "the only IPv6 pool disabled: 104" is_error "$T_TMP/out" 104 "no usable IPv6 pool"
check "... nothing left" bash -c "$(declare -f in_use handle_gone ectl); [ \"\$(in_use)\" = 0 ] && handle_gone nov6b"
pool default-ipv6-ippool 2001:db8:19::/112

# --- config values
conf ',"assign_ipv6":"yes"' | cni ADD badv >"$T_TMP/out"
check "assign_ipv6 \"yes\": code 7 naming it" is_error "$T_TMP/out" 7 'ipam.assign_ipv6: must be "true" or "false"'
conf ',"assign_ipv4":"false","assign_ipv6":false' | cni ADD none >"$T_TMP/out"
check "both families false: code 7 naming both" is_error "$T_TMP/out" 7 "ipam.assign_ipv4, ipam.assign_ipv6: both are false"
conf ',"assign_ipv4":false,"assign_ipv6":true' | cni ADD only6 >"$T_TMP/out" || { cat "$T_TMP/out"; fail "IPv6-only ADD"; }
check "assign_ipv4 false (a JSON boolean): an IPv6-only result" \
	match "$(ips "$T_TMP/out")" "2001:db8:19::*/128"
conf ',"assign_ipv4":false' | cni DEL only6 >/dev/null || fail "DEL only6"
check "nothing left after the refused configs and the IPv6-only DEL" \
	bash -c "$(declare -f in_use ectl); [ \"\$(in_use)\" = 0 ]"

# --- pinned addresses, one per family
conf | cni ADD pin1 "IP=198.19.0.77,2001:db8:19::77" >"$T_TMP/out" || { cat "$LOG" "$T_TMP/out"; fail "ADD pin1"; }
check "CNI_ARGS IP=v4,v6: both pinned" [ "$(ips "$T_TMP/out")" = "198.19.0.77/32 2001:db8:19::77/128" ]
conf | cni ADD pin2 "IP=2001:db8:19::f005" >"$T_TMP/out" || { cat "$LOG" "$T_TMP/out"; fail "ADD pin2"; }
check "IP=<v6> only: IPv4 auto-assigned, IPv6 pinned" match "$(ips "$T_TMP/out")" "198.19.0.*/32 2001:db8:19::f005/128"
check "... in a block claimed for h1" test -n "$(ectl get --keys-only /tabby/v1/ipam/affinities/h1/2001:db8:19::f000-122)"
conf '' ',"runtimeConfig":{"ips":["2001:db8:19::79/64"]}' | cni ADD pin3 >"$T_TMP/out" || { cat "$T_TMP/out"; fail "ADD pin3"; }
check "runtimeConfig.ips with an IPv6 address (its length ignored)" match "$(ips "$T_TMP/out")" "198.19.0.*/32 2001:db8:19::79/128"
conf | cni ADD two6 "IP=2001:db8:19::1,2001:db8:19::2" >"$T_TMP/out"
check "two IPv6 addresses in IP=: code 4 naming it" is_error "$T_TMP/out" 4 "CNI_ARGS IP: two IPv6 addresses"
conf '' ',"args":{"cni":{"ips":["198.19.0.5","198.19.0.6"]}}' | cni ADD two4 >"$T_TMP/out"
check "two IPv4 addresses in args.cni.ips: code 7 naming it" is_error "$T_TMP/out" 7 "args.cni.ips: two IPv4 addresses"
conf '' ',"runtimeConfig":{"ips":["2001:db8:19::90"]}' | cni ADD dis "IP=2001:db8:19::91" >"$T_TMP/out"
check "IP= and runtimeConfig.ips disagree on IPv6: code 4" is_error "$T_TMP/out" 4 "CNI_ARGS IP: 2001:db8:19::91 disagrees with runtimeConfig.ips 2001:db8:19::90"
before=$(in_use)
conf | cni ADD inuse6 "IP=2001:db8:19::77" >"$T_TMP/out"
check "a pinned IPv6 address in use: 107 naming it" is_error "$T_TMP/out" 107 "2001:db8:19::77 is already in use"
check "... the auto-assigned IPv4 address of that ADD is released again" \
	bash -c "$(declare -f in_use handle_gone ectl); [ \"\$(in_use)\" = $before ] && handle_gone inuse6"
conf | cni ADD out6 "IP=2001:db8:18::1" >"$T_TMP/out"
check "a pinned IPv6 address in no pool: 108" is_error "$T_TMP/out" 108 "2001:db8:18::1 lies in no enabled IP pool"
for c in pin1 pin2 pin3; do conf | cni DEL "$c" >/dev/null || fail "DEL $c"; done
check "DEL of the pinned containers leaves nothing" \
	bash -c "$(declare -f in_use ectl); [ \"\$(in_use)\" = 0 ]"

# --- IPPool validation: IPv6 blockSize 116..128
cat >"$T_TMP/bad.yaml" <<'EOF'
apiVersion: projectcalico.org/v3
kind: IPPool
metadata:
  name: bad6
spec:
  cidr: 2001:db8:20::/112
  blockSize: 115
EOF
run "$CTL" apply -f "$T_TMP/bad.yaml"
check "an IPv6 pool with blockSize 115 is refused naming file, line and field" \
	bash -c "[ $RC != 0 ] && grep -q 'bad.yaml:7:14: spec.blockSize: must be between 116 and 128 for an IPv6 pool' $T_TMP/err"
check "... and not stored" test -z "$(ectl get --keys-only /tabby/v1/ippools/bad6)"
sed -i 's/blockSize: 115/blockSize: 116/' "$T_TMP/bad.yaml"
run "$CTL" apply -f "$T_TMP/bad.yaml"
check "blockSize 116 is accepted" bash -c "[ $RC = 0 ]"

summary
