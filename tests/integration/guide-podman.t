#!/bin/bash
# guide-podman.t - the README's "Container runtimes / podman" guide, step by step, with the
# shipped files: configs/10-tabby.conflist copied unedited to /etc/cni/net.d, the [network]
# table of configs/cni/podman-containers.conf (network_backend = "cni"), tabby and tabby-ipam in
# /usr/lib/cni next to Debian's portmap. On host h1 of a 2-host lab (podman 4.3):
# `podman network ls` lists tabby; `podman run --network tabby -p 18080:8080` gets an address
# of h1's block, which a workload on h2 reaches by ping and TCP, and the published port answers
# on h1's address (portmap); `--ip` pins an address; `podman rm` runs CNI DEL: no
# WorkloadEndpoint, allocation, host route or portmap rule is left.
#
# How the guide's global paths stay private, and the datastore address: guide-lib.sh. podman's
# own files (CONTAINERS_CONF, storage) live under the test's temporary directory; the machine's
# quirks (podman.t: runc with cgroupfs, lower ulimits, vfs; the image `busybox` is a `podman
# import` of busybox-static, no internet) go in the [containers] and [engine] tables, the guide's [network]
# table follows them unchanged.
. "$(dirname "$0")/guide-lib.sh"
command -v podman >/dev/null || { g_lab_down; echo "skipped: podman is not installed"; exit 77; }
command -v runc >/dev/null || { g_lab_down; echo "skipped: runc is not installed"; exit 77; }

PD=$G/podman
export CONTAINERS_CONF="$PD/containers.conf"
export CONTAINERS_STORAGE_CONF="$PD/storage.conf"
PIN=198.19.250.9
HOSTPORT=8080
pm() { g_in_h1 podman "$@"; }

teardown() {
	local rc=$?
	if [ -f "$CONTAINERS_CONF" ] && [ -n "$G_MNT" ]; then
		[ "$rc" = 0 ] || { echo "# podman logs:"; pm logs web 2>&1 | tail -5 | sed 's/^/#   /'; }
		pm rm -af -t 0 >/dev/null 2>&1
	fi
	[ "$rc" = 0 ] || g_dump_logs
	g_lab_down
	t_cleanup
}
trap teardown EXIT

# ---- the README shows the shipped files -----------------------------------------------------------
g_readme_block "## CNI configuration" json >"$T_TMP/readme.conflist"
check "the README's conflist is configs/10-tabby.conflist" python3 -c '
import json, sys
sys.exit(json.load(open(sys.argv[1])) != json.load(open(sys.argv[2])))' "$T_TMP/readme.conflist" "$CONFLIST"
g_readme_block "### podman" toml >"$T_TMP/readme.toml"
grep -v '^#' "$T_SRC/configs/cni/podman-containers.conf" | grep . >"$T_TMP/shipped.toml"
check "the README's [network] table is configs/cni/podman-containers.conf's" cmp -s "$T_TMP/readme.toml" "$T_TMP/shipped.toml"

# ---- install as the guide says ------------------------------------------------------------------
cp "$CONFLIST" "$G/root/etc/cni/net.d/10-tabby.conflist"
check "/etc/cni/net.d/10-tabby.conflist (seen by h1) is the shipped file, unedited" \
	g_in_h1 cmp -s "$CONFLIST" /etc/cni/net.d/10-tabby.conflist
check "tabby, tabby-ipam and portmap are in /usr/lib/cni (seen by h1)" \
	g_in_h1 test -x /usr/lib/cni/tabby -a -x /usr/lib/cni/tabby-ipam -a -x /usr/lib/cni/portmap
mkdir -p "$PD"
cat >"$CONTAINERS_CONF" <<EOF
# this machine's quirks (see podman.t), then the guide's [network] table
[containers]
default_sysctls = []
default_ulimits = ["nofile=1024:4096", "nproc=4096:4096"]

[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
tmp_dir = "$PD/libpod-tmp"
runtime = "runc"

EOF
cat "$T_SRC/configs/cni/podman-containers.conf" >>"$CONTAINERS_CONF"
cat >"$CONTAINERS_STORAGE_CONF" <<EOF
[storage]
driver = "vfs"
graphroot = "$PD/storage"
runroot = "$PD/run"
EOF
check "podman info: network backend cni" sh -c "nsenter --mount=/proc/$G_MNT/ns/mnt podman info --format '{{.Host.NetworkBackend}}' | grep -qx cni"

pm network ls >"$T_TMP/netls" 2>&1
sed 's/^/#   /' "$T_TMP/netls"
check "podman network ls lists tabby (driver tabby)" grep -Eq '^[0-9a-f]+ +tabby +tabby' "$T_TMP/netls"

pm import "$G/busybox.tar" busybox >/dev/null 2>"$T_TMP/import.err" || fail "podman import: $(cat "$T_TMP/import.err")"

# ---- run with a published port --------------------------------------------------------------------
cid=$(pm run -d --name web --network tabby -p "$HOSTPORT:8080" busybox httpd -f -p 8080 -h /tmp \
	2>"$T_TMP/run.err") || fail "podman run --network tabby -p $HOSTPORT:8080: $(cat "$T_TMP/run.err")"
ok "podman run -d --name web --network tabby -p $HOSTPORT:8080 busybox httpd ($cid)"
pm exec web sh -c 'echo hello-from-podman > /tmp/index.html' || fail "podman exec web"
wep="/tabby/v1/workloadendpoints/default/h1-cni-${cid}-eth0"
ip=$(g_wep_ip "$wep") || fail "no WorkloadEndpoint $wep"
ok "WorkloadEndpoint $wep holds $ip"
block=$(g_h1_block)
check "$ip lies in h1's block $block of the pool" g_in_pool "$ip" "$block"
pip=$(pm inspect --format '{{(index .NetworkSettings.Networks "tabby").IPAddress}}' web 2>/dev/null || true)
check "podman inspect reports the same address ($pip)" [ "$pip" = "$ip" ]
check "h1 routes $ip/32 to a tby veth (proto 81)" \
	sh -c "ip -n '$P-h1' route show proto 81 | grep -Eq '^$ip dev tby[0-9a-f]{11} '"
check "h2 has a route to $ip via h1 (BGP)" wait_for 30 sh -c "ip -n '$P-h2' route get '$ip' | grep -q 'via 198.18.0.11 '"
check "ping h2-w1 -> container $ip" wait_for 10 ip netns exec "$P-h2-w1" ping -c 1 -W 1 "$ip"
body=$(g_curl_h2 "$ip:8080")
check "TCP h2-w1 -> $ip:8080 gets the container's page ('$body')" [ "$body" = hello-from-podman ]
body=$(g_curl_h2 "198.18.0.11:$HOSTPORT")
check "the published port 198.18.0.11:$HOSTPORT answers from h2-w1 (portmap DNAT, '$body')" [ "$body" = hello-from-podman ]

# ---- --ip ---------------------------------------------------------------------------------------
cid2=$(pm run -d --name pinned --network tabby --ip "$PIN" busybox httpd -f -p 8080 -h /tmp \
	2>"$T_TMP/run2.err") || fail "podman run --ip $PIN: $(cat "$T_TMP/run2.err")"
ok "podman run -d --name pinned --network tabby --ip $PIN busybox httpd ($cid2)"
pm exec pinned sh -c 'echo pinned > /tmp/index.html' || fail "podman exec pinned"
wep2="/tabby/v1/workloadendpoints/default/h1-cni-${cid2}-eth0"
check "its WorkloadEndpoint holds $PIN" [ "$(g_wep_ip "$wep2")" = "$PIN" ]
check "ping h2-w1 -> pinned container $PIN" wait_for 30 ip netns exec "$P-h2-w1" ping -c 1 -W 1 "$PIN"
body=$(g_curl_h2 "$PIN:8080")
check "TCP h2-w1 -> $PIN:8080 ('$body')" [ "$body" = pinned ]

check "portmap put a DNAT rule for port $HOSTPORT in h1's nat table" \
	sh -c "ip netns exec '$P-h1' iptables-save -t nat | grep -q -- '--dport $HOSTPORT'"

# ---- rm: CNI DEL (tabby, then portmap) ----------------------------------------------------------
pm rm -f web pinned >/dev/null 2>"$T_TMP/rm.err" || fail "podman rm: $(cat "$T_TMP/rm.err")"
ok "podman rm -f web pinned"
for x in "$ip:$wep:$cid" "$PIN:$wep2:$cid2"; do
	a=${x%%:*}; rest=${x#*:}; w=${rest%%:*}; c=${rest#*:}
	check "$a: WorkloadEndpoint gone" test -z "$(etcdget --keys-only "$w")"
	check "$a: IPAM handle tabby.<id> gone" test -z "$(etcdget --prefix --keys-only "/tabby/v1/ipam/handles/tabby.$c")"
	check "$a: allocation free in its block" g_addr_free "$a"
	check "$a: h1 has no host route" test -z "$(ip -n "$P-h1" route show "$a/32")"
done
check "no portmap DNAT rule for port $HOSTPORT is left in h1" \
	sh -c "! ip netns exec '$P-h1' iptables-save -t nat | grep -q -- '--dport $HOSTPORT'"
check "libcni's cached results (/var/lib/cni/results) are removed" \
	sh -c "! ls '$G/root/var/lib/cni/results/' 2>/dev/null | grep -Eq 'tabby-($cid|$cid2)-'"
summary
