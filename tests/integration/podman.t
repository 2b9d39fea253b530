#!/bin/bash
# podman.t - a real container runtime drives the tabby CNI plugin: podman 4.3 (CNI backend) runs
# a busybox container on host h1 of a 2-host lab; a workload on h2 reaches it by ping and TCP
# (busybox httpd); `podman rm` runs CNI DEL, which removes the WorkloadEndpoint, frees the
# address and the host route.
#
# podman is pointed at private files (CONTAINERS_CONF, CONTAINERS_STORAGE_CONF) under the test's
# temporary directory; nothing under /etc or /var/lib/containers is used. Workarounds for this
# machine (shared/lab/README.md section 6): `nsenter --net` instead of `ip netns exec` (which
# hides /sys/fs/cgroup), runc with cgroupfs, lower default ulimits, vfs storage, a rootfs from
# busybox-static instead of an image.
. "$(dirname "$0")/lib.sh"
need_root
command -v podman >/dev/null || { echo "skipped: podman is not installed"; exit 77; }
command -v runc >/dev/null || { echo "skipped: runc is not installed"; exit 77; }
[ -x /bin/busybox ] || { echo "skipped: busybox-static is not installed"; exit 77; }

LAB="$T_SRC/lab/tabby-lab"
export TABBY_LAB_PREFIX="tp$$"
export TABBY_LAB_RUN="$T_TMP/lab"
export TABBY_BUILD_DIR="$T_BUILD"
export TABBY_LAB_NO_INSTALL=1 TABBY_LAB_NO_BUILD=1
RUN=$TABBY_LAB_RUN
P=$TABBY_LAB_PREFIX
NET="tabby-$P" # CNI network name: unique, so libcni's cache files are ours alone
CTR="web-$P"
PD="$T_TMP/podman"
export CONTAINERS_CONF="$PD/containers.conf"
export CONTAINERS_STORAGE_CONF="$PD/storage.conf"

for b in felix/tabby-felix cni/tabby cni/tabby-ipam ctl/tabbyctl; do
	[ -x "$T_BUILD/$b" ] || fail "missing $T_BUILD/$b: build the tree first"
done

# podman "inside" host h1: only the network namespace changes
pm() { nsenter --net="/run/netns/$P-h1" podman "$@"; }

teardown() {
	local rc=$?
	if [ -f "$CONTAINERS_CONF" ]; then
		[ "$rc" = 0 ] || { echo "# podman logs:"; pm logs "$CTR" 2>&1 | sed 's/^/#   /'; }
		pm rm -af -t 0 >/dev/null 2>&1
		# storage is vfs under $PD; nothing stays mounted after rm, but be exact about it
		grep -F " $PD/" /proc/self/mounts | awk '{print $2}' | sort -r | xargs -r -n1 umount -l
	fi
	rm -f /var/lib/cni/results/"$NET"-*
	if [ "$rc" != 0 ] && [ -d "$RUN" ]; then
		for f in "$RUN"/h1/felix.log "$RUN"/h1/bird.log; do
			echo "# $f:"
			tail -n 15 "$f" 2>/dev/null | sed 's/^/#   /'
		done
	fi
	[ -e "$RUN/.tabby-lab" ] && "$LAB" down >/dev/null 2>&1
	t_cleanup
}
trap teardown EXIT

"$LAB" up --hosts 2 --workloads 1 >"$T_TMP/up.out" 2>&1 ||
	{ sed 's/^/#   /' "$T_TMP/up.out"; fail "tabby-lab up --hosts 2 --workloads 1"; }
ok "tabby-lab up --hosts 2 --workloads 1"
. "$RUN/lab.env"
ENDPOINT="unix://$RUN/etcd/etcd.sock:$ETCD_PORT"
etcdget() { ETCDCTL_API=3 etcdctl --endpoints "http://127.0.0.1:$ETCD_PORT" get "$@"; }

# ---- podman's private configuration -------------------------------------------------------------
mkdir -p "$PD/net.d" "$PD/rootfs"/{bin,proc,sys,dev,etc,tmp,run}
cp /bin/busybox "$PD/rootfs/bin/busybox"
chroot "$PD/rootfs" /bin/busybox --install -s /bin
cat >"$CONTAINERS_CONF" <<EOF
[containers]
default_sysctls = []
# rootful podman asks for nofile=1048576 and nproc=4194304, above this machine's hard limits
default_ulimits = ["nofile=1024:4096", "nproc=4096:4096"]

[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
tmp_dir = "$PD/libpod-tmp"
# crun 1.8 refuses hybrid cgroup v1/v2 machines; runc works
runtime = "runc"

[network]
network_backend = "cni"
cni_plugin_dirs = ["$T_BUILD/cni"]
network_config_dir = "$PD/net.d"
default_network = "$NET"
EOF
cat >"$CONTAINERS_STORAGE_CONF" <<EOF
[storage]
driver = "vfs"
graphroot = "$PD/storage"
runroot = "$PD/run"
EOF
cat >"$PD/net.d/$NET.conflist" <<EOF
{
  "cniVersion": "1.0.0",
  "name": "$NET",
  "plugins": [
    {
      "type": "tabby",
      "nodename_file": "$RUN/h1/nodename",
      "capabilities": { "ips": true },
      "datastore_endpoints": "$ENDPOINT",
      "log_level": "info",
      "ipam": { "type": "tabby-ipam", "ipv4_pools": ["default-ipv4-ippool"] },
      "args": { "cni": { "labels": [ { "key": "app", "value": "podman-web" } ] } }
    }
  ]
}
EOF
check "podman lists the tabby network" sh -c "nsenter --net=/run/netns/$P-h1 podman network ls --format '{{.Name}}' | grep -qx '$NET'"

# ---- run ----------------------------------------------------------------------------------------
cid=$(pm run -d --name "$CTR" --network "$NET" --rootfs "$PD/rootfs" /bin/sh -c \
	'echo hello-from-tabby > /tmp/index.html; exec httpd -f -p 8080 -h /tmp' 2>"$T_TMP/run.err") ||
	fail "podman run: $(cat "$T_TMP/run.err")"
ok "podman run -d --network $NET ($cid)"
wep="/tabby/v1/workloadendpoints/default/h1-cni-${cid}-eth0"
etcdget "$wep" --print-value-only >"$T_TMP/wep.json"
check "WorkloadEndpoint $wep exists in etcd" test -s "$T_TMP/wep.json"
ip=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["spec"]["ipNetworks"][0].split("/")[0])' "$T_TMP/wep.json") ||
	fail "no ipNetworks in $(cat "$T_TMP/wep.json")"
check "its address $ip is in the pool 198.19.0.0/16" \
	python3 -c 'import ipaddress,sys; sys.exit(ipaddress.ip_address(sys.argv[1]) not in ipaddress.ip_network("198.19.0.0/16"))' "$ip"
h1aff=$(etcdget --prefix --keys-only /tabby/v1/ipam/affinities/h1/ | grep . | head -n1)
h1block=${h1aff##*/}
h1block="${h1block%-*}/${h1block##*-}"
check "its address $ip is in h1's block $h1block (h1 hosts the container)" \
	python3 -c 'import ipaddress,sys; sys.exit(ipaddress.ip_address(sys.argv[1]) not in ipaddress.ip_network(sys.argv[2]))' "$ip" "$h1block"
pip=$(pm inspect --format "{{(index .NetworkSettings.Networks \"$NET\").IPAddress}}" "$CTR" 2>/dev/null || true)
check "podman reports the same address ($pip)" [ "$pip" = "$ip" ]
check "the WorkloadEndpoint carries the label app=podman-web" grep -q '"app": *"podman-web"' "$T_TMP/wep.json"
check "h1 routes $ip/32 to a tby veth (proto 81)" \
	sh -c "ip -n '$P-h1' route show proto 81 | grep -Eq '^$ip dev tby[0-9a-f]{11} '"
handle=$(etcdget --prefix --keys-only /tabby/v1/ipam/handles/ | grep -F "$NET.$cid" || true)
check "the IPAM handle $NET.<container id> exists" test -n "$handle"

# ---- reach it from a workload on h2 -------------------------------------------------------------
check "h2 has a route to $ip via h1 (BGP)" wait_for 30 sh -c "ip -n '$P-h2' route get '$ip' | grep -q 'via 198.18.0.11 '"
check "ping h2-w1 -> container $ip" wait_for 10 ip netns exec "$P-h2-w1" ping -c 1 -W 1 "$ip"
body=""
for _ in 1 2 3 4 5; do
	body=$(ip netns exec "$P-h2-w1" curl -sS --max-time 2 "http://$ip:8080/" 2>/dev/null) && break
	sleep 0.5
done
check "curl from h2-w1 gets the container's page over TCP ('$body')" [ "$body" = hello-from-tabby ]

# ---- podman run --ip (the "ips" capability), --rm cleaned up by conmon from a plain environment
check "felix h1 wrote its node name to $RUN/h1/nodename (the conflist reads it)" \
	sh -c "[ \"\$(cat $RUN/h1/nodename)\" = h1 ]"
PIN=198.19.250.9
plain_pm() { # podman from a plain shell: no TABBY_* in the environment, as conmon runs cleanup
	nsenter --net="/run/netns/$P-h1" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
		CONTAINERS_CONF="$CONTAINERS_CONF" CONTAINERS_STORAGE_CONF="$CONTAINERS_STORAGE_CONF" \
		podman "$@"
}
cid2=$(plain_pm run -d --rm --name "pin-$P" --network "$NET" --ip "$PIN" --rootfs "$PD/rootfs" \
	/bin/sh -c 'sleep 4' 2>"$T_TMP/run2.err") || fail "podman run --ip $PIN: $(cat "$T_TMP/run2.err")"
ok "podman run -d --rm --ip $PIN ($cid2)"
wep2="/tabby/v1/workloadendpoints/default/h1-cni-${cid2}-eth0"
check "its WorkloadEndpoint holds $PIN/32" sh -c "ETCDCTL_API=3 etcdctl --endpoints http://127.0.0.1:$ETCD_PORT get --print-value-only $wep2 | grep -q '\"$PIN/32\"'"
check "h2-w1 pings the pinned container $PIN" wait_for 20 ip netns exec "$P-h2-w1" ping -c 1 -W 1 "$PIN"
check "after it exits, conmon's cleanup (--rm) removes its WorkloadEndpoint" \
	wait_for 30 sh -c "[ -z \"\$(ETCDCTL_API=3 etcdctl --endpoints http://127.0.0.1:$ETCD_PORT get --keys-only $wep2)\" ]"
check "... and frees $PIN (no IPAM handle left)" \
	wait_for 10 sh -c "[ -z \"\$(ETCDCTL_API=3 etcdctl --endpoints http://127.0.0.1:$ETCD_PORT get --prefix --keys-only /tabby/v1/ipam/handles/$NET.$cid2)\" ]"

# ---- rm: CNI DEL frees everything ---------------------------------------------------------------
plain_pm rm -f -t 0 "$CTR" >/dev/null 2>"$T_TMP/rm.err" || fail "podman rm: $(cat "$T_TMP/rm.err")"
ok "podman rm -f -t 0 $CTR from a plain shell"
check "the WorkloadEndpoint is gone from etcd" test -z "$(etcdget --keys-only "$wep")"
check "the IPAM handle is gone" test -z "$(etcdget --prefix --keys-only "/tabby/v1/ipam/handles/$NET.$cid")"
# allocations[ordinal] is null again in the block that holds the address
addr_free() {
	etcdget --prefix -w json /tabby/v1/ipam/blocks/ | python3 -c '
import base64, ipaddress, json, sys
ip = ipaddress.ip_address(sys.argv[1])
for kv in json.load(sys.stdin).get("kvs", []):
    b = json.loads(base64.b64decode(kv["value"]))
    net = ipaddress.ip_network(b["cidr"])
    if ip in net:
        sys.exit(b["allocations"][int(ip) - int(net.network_address)] is not None)
sys.exit(1)' "$1"
}
check "the address $ip is free again in its block" addr_free "$ip"
check "h1 has no route to $ip/32 any more" test -z "$(ip -n "$P-h1" route show "$ip/32")"
if ip netns exec "$P-h2-w1" ping -c 2 -W 1 -i 0.2 "$ip" >/dev/null 2>&1; then
	fail "ping to the removed container's address $ip must fail"
else
	ok "ping to the removed container's address $ip fails"
fi
check "libcni's cached result is removed" sh -c "! ls /var/lib/cni/results/$NET-* 2>/dev/null | grep -q ."

"$LAB" down >/dev/null 2>&1 || fail "tabby-lab down"
ok "tabby-lab down"
check "no namespace with prefix $P is left" sh -c "! ip netns list | grep -q '^$P-'"
summary
