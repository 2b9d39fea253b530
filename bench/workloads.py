# SPDX-License-Identifier: Apache-2.0
"""Create many workloads for the felix benchmarks. Run INSIDE the host netns for "cni"/"direct".

  workloads.py cni    --n N --node NODE --endpoint E --build B --netns-prefix P
      N real CNI ADDs of $B/cni/tabby (+ tabby-ipam), container netns /run/netns/P-w<i>
      (created beforehand by the shell script), pod names bench-wl-<i>.
  workloads.py direct --n N --node NODE --endpoint E --wl-netns NS
      Fast path without the plugin: N veth pairs "tby<sha1>" (host side here, MAC
      ee:ee:ee:ee:ee:ee) <-> "w<i>" in the one container netns NS with 198.19.0.<i>/32, made with
      two `ip -batch` runs, plus the WorkloadEndpoints, blocks, affinities and handles written in
      etcd transactions of 100 puts through the JSON gateway.
  workloads.py remote --nodes K --per-node M --endpoint E
      K other nodes "bench-r<k>" (Node 198.18.0.(20+k)/24), each with M WorkloadEndpoints in its own
      /24 198.19.(32+k).0/24 (M <= 256), blocks (/26) affine to it, affinities and handles.
      Nothing in the kernel: these are remote endpoints for felix's cache.
"""
import argparse
import ipaddress
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as bl  # noqa: E402

NET = "tabbynet"


def ipam_kvs(node, base, n, handles):
    """Blocks (/26), affinities and handles for addresses base+0 .. base+n-1 of @node."""
    kvs = []
    blocks = {}
    for i in range(n):
        blocks.setdefault(i // 64, []).append(i)
    for b, idx in sorted(blocks.items()):
        cidr = "%s/26" % ipaddress.IPv4Address(base + b * 64)
        kname = cidr.replace("/", "-")
        kvs.append(("/tabby/v1/ipam/blocks/" + kname,
                    bl.block_json(cidr, node, [i % 64 for i in idx], [handles[i] for i in idx])))
        kvs.append(("/tabby/v1/ipam/affinities/%s/%s" % (node, kname), '{"state":"confirmed"}'))
        for i in idx:
            kvs.append(("/tabby/v1/ipam/handles/" + handles[i],
                        json.dumps({"handleID": handles[i], "block": {kname: 1}},
                                   separators=(",", ":"))))
    return kvs


def wep_kvs(node, base, n, tag, labels_fn):
    kvs = []
    handles = []
    rows = []
    for i in range(n):
        cid = bl.container_id(tag, i)
        pod = "%s-%d" % (tag, i)
        iface = bl.veth_name("default." + pod)
        ip = str(ipaddress.IPv4Address(base + i))
        mac = bl.mac_for(base + i)
        handles.append("%s.%s" % (NET, cid))
        kvs.append(("/tabby/v1/workloadendpoints/default/" + bl.wep_name(node, cid),
                    bl.wep_json(node, cid, "default", iface, ip, mac, pod=pod,
                                labels=labels_fn(i))))
        rows.append((iface, ip, mac))
    return kvs, handles, rows


def cmd_cni(a):
    tabby = os.path.join(a.build, "cni", "tabby")
    conf = bl.cni_conf(NET, a.node, a.endpoint, a.log_level)
    ms = []
    for i in range(a.n):
        cid = bl.container_id("bench-wl-%s" % a.netns_prefix, i)
        t, rc, out, err = bl.cni_exec(tabby, "ADD", cid, "/run/netns/%s-w%d" % (a.netns_prefix, i),
                                      conf, pod="bench-wl-%d" % i)
        if rc != 0:
            print("ADD #%d failed rc=%d: %s %s" % (i, rc, out[:1000], err[-1000:]), file=sys.stderr)
            sys.exit(1)
        ms.append(t)
    print(bl.fmt_stats("  workloads via CNI ADD", ms), flush=True)


def cmd_direct(a):
    t0 = time.perf_counter()
    base = int(ipaddress.IPv4Address("198.19.0.0"))
    kvs, handles, rows = wep_kvs(a.node, base, a.n, "bench-wl",
                                 lambda i: {"app": "bench", "idx": "w%d" % (i % 10)})
    host_cmds = []
    wl_cmds = []
    for i, (iface, ip, mac) in enumerate(rows):
        host_cmds.append("link add %s address ee:ee:ee:ee:ee:ee type veth peer name w%d address %s "
                         "netns %s" % (iface, i, mac, a.wl_netns))
        host_cmds.append("link set %s up" % iface)
        wl_cmds.append("addr add %s/32 dev w%d" % (ip, i))
        wl_cmds.append("link set w%d up" % i)
    subprocess.run(["ip", "-batch", "-"], input="\n".join(host_cmds) + "\n", text=True, check=True)
    subprocess.run(["ip", "-n", a.wl_netns, "-batch", "-"], input="\n".join(wl_cmds) + "\n",
                   text=True, check=True)
    kvs += ipam_kvs(a.node, base, a.n, handles)
    etcd = bl.Etcd(a.endpoint)
    n = etcd.put_many(kvs)
    print("  direct: %d veth pairs + %d keys in %.0f ms" % (a.n, n, (time.perf_counter() - t0) * 1000),
          flush=True)


def cmd_remote(a):
    t0 = time.perf_counter()
    etcd = bl.Etcd(a.endpoint)
    total = 0
    for k in range(a.nodes):
        node = "bench-r%d" % k
        base = int(ipaddress.IPv4Address("198.19.%d.0" % (32 + k)))
        kvs = [("/tabby/v1/nodes/" + node, bl.node_json(node, "198.18.0.%d/24" % (20 + k)))]
        wk, handles, _ = wep_kvs(node, base, a.per_node, "bench-r%d" % k,
                                 lambda i: {"app": "app%d" % (i % 20), "tier": "t%d" % (i % 3)})
        kvs += wk + ipam_kvs(node, base, a.per_node, handles)
        total += etcd.put_many(kvs)
    print("  remote: %d nodes, %d endpoints, %d keys in %.0f ms (etcd txns of 100 puts)"
          % (a.nodes, a.nodes * a.per_node, total, (time.perf_counter() - t0) * 1000), flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["cni", "direct", "remote"])
    ap.add_argument("--n", type=int, default=0)
    ap.add_argument("--node")
    ap.add_argument("--endpoint", required=True)
    ap.add_argument("--build")
    ap.add_argument("--netns-prefix")
    ap.add_argument("--wl-netns")
    ap.add_argument("--nodes", type=int, default=40)
    ap.add_argument("--per-node", type=int, default=250)
    ap.add_argument("--log-level", default="info")
    a = ap.parse_args()
    {"cni": cmd_cni, "direct": cmd_direct, "remote": cmd_remote}[a.mode](a)


if __name__ == "__main__":
    main()
