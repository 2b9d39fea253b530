#!/bin/bash
# guide-lib.sh - shared setup of the guide-*.t tests, which follow the README's "Container
# runtimes" section step by step with the files shipped in configs/ (sourced by the tests).
#
# It starts a 2-host lab (tabby-lab up --hosts 2 --workloads 1, prefix gd<pid>, under the test's
# temporary directory) and makes host h1 look like a host installed from the guide, without
# touching anything global:
#   - the shipped configs/10-tabby.conflist names the datastore http://127.0.0.1:2379 (etcd's
#     default client URL): a forwarder listens there inside h1's network namespace and relays to
#     the lab's etcd (its unix socket), so the conflist is used byte for byte;
#   - the guide installs into /etc/cni/net.d, /usr/lib/cni and /opt/cni/bin, and the runtimes
#     keep their state in /var/lib and /run: a private mount namespace (held by one `sleep`
#     process, $G_MNT) has the test's own directories bind-mounted over /etc/cni/net.d,
#     /usr/lib/cni, /opt, /var/lib and /run. The runtimes run inside it (g_in_h1), so they read
#     and write exactly the paths the guide names (/var/run/docker.sock, /run/containerd,
#     /var/lib/cni, /run/netns, ...); outside it, nothing changes. The mounts go with the holder.
#   - the node name: /var/lib/tabby/nodename (private) holds what felix h1 wrote to its
#     nodenameFile, as tabby-felix writes that file on a real host.
# Provides: g_in_h1 CMD... (runs CMD in h1's netns and the private mount ns), etcdget, $RUN, $P,
# $G (work dir; $G/root/PATH is what h1 sees at PATH for the mounted paths), $G_ROOTFS (a
# busybox-static root file system) and $G/busybox.tar (the same as a tar archive), g_addr_free IP, g_in_pool IP [CIDR], g_h1_block, g_wep_ip,
# g_curl_h2 IP:PORT, g_dump_logs, g_lab_down.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
need_root
[ -x /bin/busybox ] || { echo "skipped: busybox-static is not installed"; exit 77; }
[ -x /usr/lib/cni/portmap ] || { echo "skipped: containernetworking-plugins is not installed"; exit 77; }
for c in unshare nsenter python3 etcdctl; do
	command -v "$c" >/dev/null || { echo "skipped: $c is not installed"; exit 77; }
done
for b in felix/tabby-felix cni/tabby cni/tabby-ipam ctl/tabbyctl; do
	[ -x "$T_BUILD/$b" ] || fail "missing $T_BUILD/$b: build the tree first"
done

LAB="$T_SRC/lab/tabby-lab"
export TABBY_LAB_PREFIX="gd$$"
export TABBY_LAB_RUN="$T_TMP/lab"
export TABBY_BUILD_DIR="$T_BUILD"
export TABBY_LAB_NO_INSTALL=1 TABBY_LAB_NO_BUILD=1
RUN=$TABBY_LAB_RUN
P=$TABBY_LAB_PREFIX
G=$T_TMP/guide
# shellcheck disable=SC2034 # used by the tests that source this file
CONFLIST=$T_SRC/configs/10-tabby.conflist
G_MNT=

g_dump_logs() {
	local f
	for f in "$RUN"/h1/felix.log "$G"/cni.log "$G"/fwd.log; do
		[ -s "$f" ] || continue
		echo "# $f:"
		tail -n 15 "$f" | sed 's/^/#   /'
	done
}

g_lab_down() {
	[ -e "$RUN/.tabby-lab" ] && "$LAB" down >/dev/null 2>&1
	return 0
}

"$LAB" up --hosts 2 --workloads 1 >"$T_TMP/up.out" 2>&1 ||
	{ sed 's/^/#   /' "$T_TMP/up.out"; g_lab_down; fail "tabby-lab up --hosts 2 --workloads 1"; }
ok "tabby-lab up --hosts 2 --workloads 1"
. "$RUN/lab.env"
etcdget() { ETCDCTL_API=3 etcdctl --endpoints "http://127.0.0.1:$ETCD_PORT" get "$@"; }

# ---- the datastore at the conflist's address, inside h1 ---------------------------------------
mkdir -p "$G"
ip netns exec "$P-h1" python3 -c '
import socket, sys, threading
def pipe(a, b):
    try:
        while True:
            d = a.recv(65536)
            if not d:
                break
            b.sendall(d)
    except OSError:
        pass
    try:
        b.shutdown(socket.SHUT_WR)
    except OSError:
        pass
ls = socket.socket()
ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(("127.0.0.1", 2379))
ls.listen(64)
print("listening", flush=True)
while True:
    c, _ = ls.accept()
    u = socket.socket(socket.AF_UNIX)
    try:
        u.connect(sys.argv[1])
    except OSError as e:
        print("connect:", e, flush=True)
        c.close()
        continue
    threading.Thread(target=pipe, args=(c, u), daemon=True).start()
    threading.Thread(target=pipe, args=(u, c), daemon=True).start()
' "$RUN/etcd/etcd.sock:$ETCD_PORT" >"$G/fwd.log" 2>&1 &
track_pid $!
wait_for 10 ip netns exec "$P-h1" curl -sf http://127.0.0.1:2379/health ||
	{ g_dump_logs; fail "etcd forwarder on 127.0.0.1:2379 in h1"; }

# ---- the guide's install paths, in a private mount namespace ------------------------------------
# Debian's portmap and loopback are copied (a symlink into /usr/lib/cni would resolve to the
# mount itself); the guides need no other plugin.
R=$G/root
mkdir -p "$R/etc/cni/net.d" "$R/usr/lib/cni" "$R/opt/cni/bin" "$R/var/lib/tabby" "$R/run" "$G/state"
for d in "$R/usr/lib/cni" "$R/opt/cni/bin"; do
	cp "$T_BUILD/cni/tabby" "$T_BUILD/cni/tabby-ipam" /usr/lib/cni/portmap /usr/lib/cni/loopback "$d/"
done
wait_for 10 test -s "$RUN/h1/nodename" || { g_lab_down; fail "felix h1 wrote no $RUN/h1/nodename"; }
cp "$RUN/h1/nodename" "$R/var/lib/tabby/nodename"
for d in /etc/cni/net.d /usr/lib/cni /opt /var/lib /run; do
	[ -d "$d" ] || { g_lab_down; echo "skipped: no $d to mount over"; exit 77; }
done
unshare -m --propagation private sh -c "
	for d in /etc/cni/net.d /usr/lib/cni /opt /var/lib /run; do
		mount --bind '$R'\$d \$d || exit 1
	done
	touch '$G/state/mnt-ready' && exec sleep 100000" &
G_MNT=$!
track_pid "$G_MNT"
wait_for 10 test -e "$G/state/mnt-ready" || { g_lab_down; fail "private mount namespace"; }
check "outside the test, /etc/cni/net.d, /var/lib and /run are unchanged" \
	sh -c "touch '$R/etc/cni/net.d/.guide-$P' '$R/var/lib/.guide-$P' '$R/run/.guide-$P' &&
	[ ! -e /etc/cni/net.d/.guide-$P ] && [ ! -e /var/lib/.guide-$P ] && [ ! -e /run/.guide-$P ] &&
	rm '$R/etc/cni/net.d/.guide-$P' '$R/var/lib/.guide-$P' '$R/run/.guide-$P'"

# CMD in host h1 as the guide's host: its network namespace (nsenter, not `ip netns exec`, which
# remounts /sys and hides /sys/fs/cgroup) and the mount namespace with the guide's paths.
# nsenter opens /run/netns/... before it enters the mount namespace, where /run is private.
g_in_h1() { nsenter --mount="/proc/$G_MNT/ns/mnt" --net="/run/netns/$P-h1" "$@"; }

G_ROOTFS=$G/rootfs
mkdir -p "$G_ROOTFS"/{bin,sbin,usr/bin,usr/sbin,proc,sys,dev,etc,tmp,run}
cp /bin/busybox "$G_ROOTFS/bin/busybox"
chroot "$G_ROOTFS" /bin/busybox --install -s
tar -C "$G_ROOTFS" -cf "$G/busybox.tar" . # for `podman import` / `docker import` as "busybox"

g_in_pool() {
	python3 -c 'import ipaddress,sys; sys.exit(ipaddress.ip_address(sys.argv[1]) not in ipaddress.ip_network(sys.argv[2]))' "$1" "${2:-198.19.0.0/16}"
}
# h1's first block (from its affinity key)
g_h1_block() {
	local a
	a=$(etcdget --prefix --keys-only /tabby/v1/ipam/affinities/h1/ | grep . | head -n1)
	a=${a##*/}
	echo "${a%-*}/${a##*-}"
}
# allocations[ordinal] is null in the block that holds IP
g_addr_free() {
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
g_wep_ip() { # WEP-KEY: the first address of its ipNetworks
	etcdget --print-value-only "$1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["spec"]["ipNetworks"][0].split("/")[0])'
}
# TCP from workload h2-w1 to IP:PORT: prints the body of GET /
g_curl_h2() {
	local body="" _
	for _ in 1 2 3 4 5 6; do
		body=$(ip netns exec "$P-h2-w1" curl -sS --max-time 2 "http://$1/" 2>/dev/null) && break
		sleep 0.5
	done
	echo "$body"
}

# g_readme_block SECTION LANG: the first fenced block of language LANG (``` alone for none) after
# the README heading SECTION ("## CNI configuration", "### podman"), without its fences
g_readme_block() {
	python3 - "$T_SRC/README.md" "$1" "$2" <<'PY'
import sys
lines = open(sys.argv[1]).read().split("\n")
start = lines.index(sys.argv[2])
fence = "```" + sys.argv[3]
i = next(n for n in range(start + 1, len(lines)) if lines[n] == fence)
j = next(n for n in range(i + 1, len(lines)) if lines[n] == "```")
print("\n".join(lines[i + 1:j]))
PY
}
