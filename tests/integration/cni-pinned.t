#!/bin/bash
# Pinned addresses through the CNI plugin, against a real etcd and the kernel: CNI_ARGS IP=
# (Calico's form, accepted without IgnoreUnknown), runtimeConfig.ips (the "ips" capability that
# `podman run --ip` uses, "a.b.c.d/len") and args.cni.ips each give the container exactly that
# address. The host claims the address's block when nobody has it, and borrows from another
# host's block. An address in use (code 107), outside every enabled pool (108) or given twice
# differently (4/7) fails and leaves no veth, endpoint or allocation. DEL frees the address.
source "${TABBY_SOURCE_DIR:-$(dirname "$0")/../..}/tests/integration/lib.sh"
need_root

PLUGIN=$T_BUILD/cni/tabby
[ -x "$PLUGIN" ] && [ -x "$T_BUILD/cni/tabby-ipam" ] || fail "plugins not built in $T_BUILD/cni"
command -v etcdctl >/dev/null || fail "etcdctl not installed"

etcd_start
ectl() { ETCDCTL_API=3 etcdctl --endpoints "$TABBY_DATASTORE_ENDPOINTS" "$@"; }
ectl put /tabby/v1/ippools/pin '{"apiVersion":"projectcalico.org/v3","kind":"IPPool","metadata":{"name":"pin"},"spec":{"cidr":"198.19.12.0/24","blockSize":26}}' >/dev/null ||
	fail "put IPPool"
ectl put /tabby/v1/ippools/off '{"apiVersion":"projectcalico.org/v3","kind":"IPPool","metadata":{"name":"off"},"spec":{"cidr":"198.19.13.0/24","blockSize":26,"disabled":true}}' >/dev/null ||
	fail "put disabled IPPool"
for n in h1 h2; do
	ectl put /tabby/v1/nodes/$n '{"apiVersion":"projectcalico.org/v3","kind":"Node","metadata":{"name":"'$n'"},"spec":{}}' >/dev/null ||
		fail "put Node $n"
done

ns_add tor; TOR=$NS_LAST
ns_add h1; H=$NS_LAST
ip netns exec "$H" sysctl -qw net.ipv4.ip_forward=1
ip netns exec "$H" ip link add up0 type veth peer name down0 netns "$TOR"
ip netns exec "$TOR" ip addr add 198.18.0.1/24 dev down0
ip netns exec "$TOR" ip link set down0 up
ip netns exec "$H" ip addr add 198.18.0.11/24 dev up0
ip netns exec "$H" ip link set up0 up
ip netns exec "$H" ip route add default via 198.18.0.1 dev up0
for i in 1 2 3 4 5 6; do ns_add "c$i"; eval "C$i=\$NS_LAST"; done

LOG=$T_TMP/plugin.log
NODE=h1
# conf [extra top-level members]
conf() {
	printf '{"cniVersion":"1.0.0","name":"pinnet","type":"tabby","nodename":"%s","datastore_endpoints":"%s","log_level":"debug","ipam":{"type":"tabby-ipam"}%s}' \
		"$NODE" "$TABBY_TEST_ETCD_UNIX" "${1:-}"
}
# cni CMD CONTAINERID NETNS CNI_ARGS < config
cni() {
	nsenter --net="/run/netns/$H" env -i PATH="$PATH" CNI_COMMAND="$1" CNI_CONTAINERID="$2" \
		CNI_NETNS="$3" CNI_IFNAME=eth0 CNI_PATH="$T_BUILD/cni" CNI_ARGS="$4" \
		"$PLUGIN" 2>>"$LOG"
}
veth_of() { python3 -c 'import hashlib,sys; print("tby" + hashlib.sha1(sys.argv[1].encode()).hexdigest()[:11])' "$1"; }
is_error() {
	python3 -c '
import json,sys
d=json.loads(open(sys.argv[1],"rb").read().decode("utf-8"))
assert set(d) <= {"cniVersion","code","msg","details"}, d
assert d["code"] == int(sys.argv[2]) and sys.argv[3] in d["msg"], d' "$1" "$2" "$3"
}
addr_of() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["ips"][0]["address"])' "$1"; }
nothing_left() { # CONTAINERID
	! ip netns exec "$H" ip link show "$(veth_of "default.$1")" >/dev/null 2>&1 &&
		[ -z "$(ectl get --keys-only --prefix "/tabby/v1/workloadendpoints/default/$NODE-cni-$1-")" ] &&
		[ -z "$(ectl get --keys-only "/tabby/v1/ipam/handles/pinnet.$1")" ]
}
affinity() { ectl get --keys-only --prefix "/tabby/v1/ipam/affinities/$1/" | grep -c .; }

# --- CNI_ARGS IP= without IgnoreUnknown
conf | cni ADD pin1 "/run/netns/$C1" "IP=198.19.12.77" >"$T_TMP/r1" || { cat "$LOG"; fail "ADD IP=198.19.12.77: $(cat "$T_TMP/r1")"; }
check "CNI_ARGS IP=198.19.12.77 (no IgnoreUnknown): the result holds 198.19.12.77/32" [ "$(addr_of "$T_TMP/r1")" = 198.19.12.77/32 ]
check "... the container's eth0 holds it" bash -c "ip netns exec $C1 ip -o addr show dev eth0 | grep -q 'inet 198.19.12.77/32'"
check "... its WorkloadEndpoint too" bash -c "ETCDCTL_API=3 etcdctl --endpoints $TABBY_DATASTORE_ENDPOINTS get --print-value-only /tabby/v1/workloadendpoints/default/h1-cni-pin1-eth0 | grep -q '\"198.19.12.77/32\"'"
check "... h1 claimed the block 198.19.12.64/26" bash -c "[ -n \"\$(ETCDCTL_API=3 etcdctl --endpoints $TABBY_DATASTORE_ENDPOINTS get --keys-only /tabby/v1/ipam/affinities/h1/198.19.12.64-26)\" ]"
conf | cni ADD pin1 "/run/netns/$C1" "IP=198.19.12.77" >"$T_TMP/r1b" || fail "repeated ADD: $(cat "$T_TMP/r1b")"
check "a repeated ADD of the same container gives the same address" [ "$(addr_of "$T_TMP/r1b")" = 198.19.12.77/32 ]

# --- runtimeConfig.ips (podman run --ip), with a prefix length as CNI conventions send it
conf ',"runtimeConfig":{"ips":["198.19.12.78/24"]}' | cni ADD pin2 "/run/netns/$C2" "" >"$T_TMP/r2" ||
	{ cat "$LOG"; fail "ADD runtimeConfig.ips: $(cat "$T_TMP/r2")"; }
check "runtimeConfig.ips [198.19.12.78/24]: the container gets 198.19.12.78/32" [ "$(addr_of "$T_TMP/r2")" = 198.19.12.78/32 ]

# --- args.cni.ips
conf ',"args":{"cni":{"ips":["198.19.12.79"]}}' | cni ADD pin3 "/run/netns/$C3" "" >"$T_TMP/r3" ||
	{ cat "$LOG"; fail "ADD args.cni.ips: $(cat "$T_TMP/r3")"; }
check "args.cni.ips [198.19.12.79]: the container gets 198.19.12.79/32" [ "$(addr_of "$T_TMP/r3")" = 198.19.12.79/32 ]
check "ping between two pinned containers (198.19.12.77 -> .79)" \
	bash -c "ip netns exec $C1 ping -c 1 -W 2 198.19.12.79 >/dev/null"

# --- borrowing from another host's block
NODE=h2 conf | cni ADD onh2 "/run/netns/$C4" "IP=198.19.12.130" >"$T_TMP/r4" || { cat "$LOG"; fail "ADD on h2: $(cat "$T_TMP/r4")"; }
NODE=h2 conf | cni DEL onh2 "/run/netns/$C4" "IP=198.19.12.130" >/dev/null || fail "DEL on h2"
check "h2 claimed 198.19.12.128/26 for 198.19.12.130" bash -c "[ -n \"\$(ETCDCTL_API=3 etcdctl --endpoints $TABBY_DATASTORE_ENDPOINTS get --keys-only /tabby/v1/ipam/affinities/h2/198.19.12.128-26)\" ]"
aff_before=$(affinity h1)
conf | cni ADD borrow "/run/netns/$C4" "IP=198.19.12.131" >"$T_TMP/r5" || { cat "$LOG"; fail "ADD borrow: $(cat "$T_TMP/r5")"; }
check "h1 borrows 198.19.12.131 from h2's block" [ "$(addr_of "$T_TMP/r5")" = 198.19.12.131/32 ]
check "... without claiming that block" [ "$(affinity h1)" = "$aff_before" ]

# --- failures leave nothing behind
conf | cni ADD inuse "/run/netns/$C5" "IP=198.19.12.77" >"$T_TMP/out"
check "an address in use: code 107 naming it" is_error "$T_TMP/out" 107 "198.19.12.77 is already in use"
check "... no veth, endpoint or allocation" nothing_left inuse
check "... and the owner keeps it" bash -c "ip netns exec $C1 ip -o addr show dev eth0 | grep -q 'inet 198.19.12.77/32'"
conf | cni ADD nopool "/run/netns/$C5" "IP=198.19.200.1" >"$T_TMP/out"
check "an address in no pool: code 108" is_error "$T_TMP/out" 108 "198.19.200.1 lies in no enabled IP pool"
check "... nothing left" nothing_left nopool
conf | cni ADD offpool "/run/netns/$C5" "IP=198.19.13.5" >"$T_TMP/out"
check "an address in a disabled pool: code 108" is_error "$T_TMP/out" 108 "no enabled IP pool"
check "... nothing left" nothing_left offpool
conf ',"runtimeConfig":{"ips":["198.19.12.90"]}' | cni ADD twice "/run/netns/$C5" "IP=198.19.12.91" >"$T_TMP/out"
check "IP= and runtimeConfig.ips disagree: code 4 naming both" is_error "$T_TMP/out" 4 "CNI_ARGS IP: 198.19.12.91 disagrees with runtimeConfig.ips"
conf | cni ADD badip "/run/netns/$C5" "IP=198.19.12.300" >"$T_TMP/out"
check "IP=198.19.12.300: code 4" is_error "$T_TMP/out" 4 "CNI_ARGS IP"
conf ',"args":{"cni":{"ips":["2001:db8::1"]}}' | cni ADD v6 "/run/netns/$C5" "" >"$T_TMP/out"
check "an IPv6 address while ipam.assign_ipv6 is false: code 7 naming both" is_error "$T_TMP/out" 7 "args.cni.ips: 2001:db8::1 is an IPv6 address but ipam.assign_ipv6 is false"
conf ',"args":{"cni":{"ips":["198.19.12.92","198.19.12.93"]}}' | cni ADD two "/run/netns/$C5" "" >"$T_TMP/out"
check "two addresses: code 7" is_error "$T_TMP/out" 7 "args.cni.ips"
for c in twice badip v6 two; do nothing_left "$c" || fail "$c left something"; done
ok "nothing left after the refused requests"

# --- DEL frees the pinned address; another container may take it
conf | cni DEL pin1 "/run/netns/$C1" "IP=198.19.12.77" >/dev/null || fail "DEL pin1"
check "DEL frees it: the handle is gone" test -z "$(ectl get --keys-only /tabby/v1/ipam/handles/pinnet.pin1)"
conf | cni ADD again "/run/netns/$C6" "IP=198.19.12.77" >"$T_TMP/r6" || { cat "$LOG"; fail "ADD again: $(cat "$T_TMP/r6")"; }
check "another container gets 198.19.12.77 after the DEL" [ "$(addr_of "$T_TMP/r6")" = 198.19.12.77/32 ]

summary
