#!/bin/bash
# guide-containerd.t - the README's "Container runtimes / containerd" guide, step by step:
# containerd 1.6 (Debian's `containerd`) and `ctr run --cni`, which reads the first network
# configuration of /etc/cni/net.d (the shipped configs/10-tabby.conflist, unedited) and the
# plugins in /opt/cni/bin (tabby, tabby-ipam, Debian's portmap). On host h1 of a 2-host lab the
# container gets an address of h1's block, a workload on h2 reaches it by ping and TCP, and
# `ctr task kill` ends it: `ctr run` then runs CNI DEL, which leaves no WorkloadEndpoint,
# allocation or host route.
#
# containerd is private: its own config (root, state, gRPC address under the test's temporary
# directory, CRI off) and ctr is pointed at it with CONTAINERD_ADDRESS, so the guide's ctr
# commands run unchanged. /etc/cni/net.d, /opt/cni/bin, /run (shim sockets, runc state, FIFOs
# under /run/containerd) and /var/lib are the test's own directories in a private mount
# namespace (guide-lib.sh). No image is pulled (no internet): `ctr run --rootfs`
# runs a busybox-static root file system where the guide names an image.
. "$(dirname "$0")/guide-lib.sh"
for c in containerd ctr runc containerd-shim-runc-v2; do
	command -v "$c" >/dev/null || { g_lab_down; echo "skipped: $c is not installed"; exit 77; }
done

C=$G/containerd
export CONTAINERD_ADDRESS="$C/containerd.sock"
export CONTAINERD_NAMESPACE=default
ID=web
RUNPID=

teardown() {
	local rc=$?
	if [ -S "$CONTAINERD_ADDRESS" ]; then
		g_in_h1 ctr task kill -s SIGKILL "$ID" >/dev/null 2>&1
		[ -n "$RUNPID" ] && for _ in $(seq 1 50); do kill -0 "$RUNPID" 2>/dev/null || break; sleep 0.1; done
		g_in_h1 ctr task delete -f "$ID" >/dev/null 2>&1
		g_in_h1 ctr container delete "$ID" >/dev/null 2>&1
	fi
	if [ -n "${CTRD:-}" ]; then
		kill "$CTRD" 2>/dev/null
		for _ in $(seq 1 50); do kill -0 "$CTRD" 2>/dev/null || break; sleep 0.1; done
		kill -9 "$CTRD" 2>/dev/null
	fi
	if [ "$rc" != 0 ]; then
		g_dump_logs
		for f in "$C/containerd.log" "$G/ctr-run.log"; do
			echo "# $f:"; tail -n 15 "$f" 2>/dev/null | sed 's/^/#   /'
		done
	fi
	g_lab_down
	t_cleanup
}
trap teardown EXIT

# ---- install as the guide says ------------------------------------------------------------------
cp "$CONFLIST" "$G/root/etc/cni/net.d/10-tabby.conflist"
check "/etc/cni/net.d/10-tabby.conflist (seen by h1) is the shipped file, unedited" \
	g_in_h1 cmp -s "$CONFLIST" /etc/cni/net.d/10-tabby.conflist
check "tabby, tabby-ipam and portmap are in /opt/cni/bin (seen by h1)" \
	g_in_h1 test -x /opt/cni/bin/tabby -a -x /opt/cni/bin/tabby-ipam -a -x /opt/cni/bin/portmap

mkdir -p "$C"
cat >"$C/config.toml" <<EOF
version = 2
root = "$C/root"
state = "$C/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$C/containerd.sock"
[ttrpc]
  address = "$C/containerd.sock.ttrpc"
[plugins."io.containerd.internal.v1.opt"]
  path = "$C/opt"
EOF
# nsenter itself, not the g_in_h1 function: a function in the background is a subshell, so
# $! would be that shell, and killing it would leave containerd running
nsenter --mount="/proc/$G_MNT/ns/mnt" --net="/run/netns/$P-h1" containerd --config "$C/config.toml" --log-level info >"$C/containerd.log" 2>&1 &
CTRD=$!
wait_for 20 g_in_h1 ctr version || fail "private containerd did not start"
ok "private containerd $(ctr version 2>/dev/null | awk '/Server:/ {s=1} s && /Version:/ {print $2; exit}') on $CONTAINERD_ADDRESS"

# ---- ctr run --cni --------------------------------------------------------------------------------
# (an image gives PATH; a bare --rootfs does not)
g_in_h1 ctr run --cni --rm --env PATH=/usr/sbin:/usr/bin:/sbin:/bin --rootfs "$G_ROOTFS" \
	"$ID" httpd -f -p 8080 -h /tmp </dev/null >"$G/ctr-run.log" 2>&1 &
RUNPID=$!
track_pid "$RUNPID"
# the CNI container id is ctr's "<namespace>-<id>": in the WorkloadEndpoint name each "-" doubles
wepname="h1-cni-$(echo "$CONTAINERD_NAMESPACE-$ID" | sed 's/-/--/g')-eth0"
wep="/tabby/v1/workloadendpoints/default/$wepname"
check "ctr run --cni: WorkloadEndpoint $wepname appears" wait_for 20 sh -c "[ -n \"\$(ETCDCTL_API=3 etcdctl --endpoints http://127.0.0.1:$ETCD_PORT get --keys-only $wep)\" ]"
ip=$(g_wep_ip "$wep") || fail "no address in $wep"
block=$(g_h1_block)
check "its address $ip lies in h1's block $block of the pool" g_in_pool "$ip" "$block"
check "ctr task ls: $ID is RUNNING" wait_for 10 sh -c "nsenter --net=/run/netns/$P-h1 ctr task ls | grep -Eq '^$ID +[0-9]+ +RUNNING'"
g_in_h1 ctr task exec --exec-id ip "$ID" ip -4 addr show dev eth0 >"$T_TMP/addr" 2>&1
g_in_h1 ctr task exec --exec-id page "$ID" sh -c 'echo hello-from-containerd > /tmp/index.html' ||
	fail "ctr task exec $ID sh"
check "inside the container, eth0 holds $ip/32" grep -q "inet $ip/32 " "$T_TMP/addr"
check "h1 routes $ip/32 to a tby veth (proto 81)" \
	sh -c "ip -n '$P-h1' route show proto 81 | grep -Eq '^$ip dev tby[0-9a-f]{11} '"
check "h2 has a route to $ip via h1 (BGP)" wait_for 30 sh -c "ip -n '$P-h2' route get '$ip' | grep -q 'via 198.18.0.11 '"
check "ping h2-w1 -> container $ip" wait_for 10 ip netns exec "$P-h2-w1" ping -c 1 -W 1 "$ip"
body=$(g_curl_h2 "$ip:8080")
check "TCP h2-w1 -> $ip:8080 gets the container's page ('$body')" [ "$body" = hello-from-containerd ]

# ---- ctr task kill: ctr run runs CNI DEL and removes the container --------------------------------
g_in_h1 ctr task kill -s SIGKILL "$ID" || fail "ctr task kill -s SIGKILL $ID"
ok "ctr task kill -s SIGKILL $ID"
check "ctr run returns" wait_for 20 sh -c "! kill -0 $RUNPID 2>/dev/null"
check "the container is removed (--rm)" sh -c "! nsenter --net=/run/netns/$P-h1 ctr container ls -q | grep -qx '$ID'"
check "the WorkloadEndpoint is gone" test -z "$(etcdget --keys-only "$wep")"
check "the IPAM handle is gone" test -z "$(etcdget --prefix --keys-only "/tabby/v1/ipam/handles/tabby.$CONTAINERD_NAMESPACE-$ID")"
check "$ip is free again in its block" g_addr_free "$ip"
check "h1 has no route to $ip/32 any more" test -z "$(ip -n "$P-h1" route show "$ip/32")"
summary
