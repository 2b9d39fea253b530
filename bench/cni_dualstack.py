# SPDX-License-Identifier: Apache-2.0
"""Driver of bench/cni-dualstack.sh. Runs INSIDE the host network namespace (ip netns exec).

For i in 0..N-1 it runs two tabby ADDs, each into its own fresh netns: IPv4-only into
"<prefix>-v<i>" and dual-stack into "<prefix>-d<i>" (IPv4-only first on even i, dual-stack first
on odd i), then the DELs (with prevResult, as libcni sends it) in the same order. Each call is
timed around fork + exec + wait (benchlib.cni_exec). Prints both sides' percentiles, the ratio
dual/IPv4-only at p50, p90 and p99, and the median of the N pairwise ratios. Every dual-stack
result is checked to hold one IPv4 /32 and one IPv6 /128, every IPv4-only one a single /32.
With --ipam tabby-ipam it then times the tabby-ipam binary alone the same way (the IPAM share of
the difference: tabby runs the same code in its own process).
"""
import argparse
import json
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as bl  # noqa: E402


def confs(a):
    """(IPv4-only config, dual-stack config) for the chosen IPAM."""
    base = bl.cni_conf("dsbench", a.node, a.endpoint, a.log_level)
    v4, ds = json.loads(json.dumps(base)), json.loads(json.dumps(base))
    if a.ipam == "static":
        pass  # per call: see static_conf()
    elif a.ipam == "host-local":
        r4 = [{"subnet": "198.19.0.0/16"}]
        r6 = [{"subnet": "2001:db8:19::/64"}]
        v4["ipam"] = {"type": "host-local", "dataDir": a.data_dir, "ranges": [r4]}
        ds["ipam"] = {"type": "host-local", "dataDir": a.data_dir, "ranges": [r4, r6]}
    else:
        v4["ipam"].update({"assign_ipv4": "true", "assign_ipv6": "false"})
        ds["ipam"].update({"assign_ipv4": "true", "assign_ipv6": "true",
                           "ipv6_pools": ["default-ipv6-ippool"]})
    return v4, ds


def families(out):
    return sorted(ip["address"].split("/")[1] for ip in json.loads(out)["ips"])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, required=True)
    ap.add_argument("--build", required=True)
    ap.add_argument("--node", required=True)
    ap.add_argument("--endpoint", required=True)
    ap.add_argument("--netns-prefix", required=True)
    ap.add_argument("--log-level", default="info")
    ap.add_argument("--ipam", choices=["tabby-ipam", "host-local", "static"],
                    default="tabby-ipam")
    ap.add_argument("--ref-cni-path", default="/usr/lib/cni")
    ap.add_argument("--data-dir", required=True)
    a = ap.parse_args()

    tabby = os.path.join(a.build, "cni", "tabby")
    cni_path = os.path.dirname(tabby) + ":" + a.ref_cni_path
    bl.Etcd(a.endpoint).put("/tabby/v1/nodes/" + a.node, bl.node_json(a.node, "198.18.0.11/24"))
    conf = dict(zip(("v4", "ds"), confs(a)))
    want = {"v4": ["32"], "ds": ["128", "32"]}
    ms = {(k, c): [] for k in conf for c in ("ADD", "DEL")}
    results = {}
    tag = "bench-ds-%d" % os.getpid()

    def static_conf(kind, i):
        """static IPAM: fixed addresses per call, so no IPAM state at all; the two kinds differ
        only by the IPv6 address, which isolates the plumbing's IPv6 part."""
        c = dict(conf[kind])
        addrs = [{"address": "198.19.%d.%d/16" % (i // 250 + (100 if kind == "ds" else 0),
                                                  i % 250 + 1)}]
        if kind == "ds":
            addrs.append({"address": "2001:db8:19::%x/64" % (i + 1)})
        c["ipam"] = {"type": "static", "addresses": addrs}
        return c

    def call(kind, cmd, i):
        cid = bl.container_id(tag + kind, i)
        c = static_conf(kind, i) if a.ipam == "static" else dict(conf[kind])
        if cmd == "DEL":
            c["prevResult"] = results[(kind, i)]
        t, rc, out, err = bl.cni_exec(tabby, cmd, cid, "/run/netns/%s-%s%d" % (
            a.netns_prefix, "v" if kind == "v4" else "d", i), c, pod="ds-%s-%d" % (kind, i),
            cni_path=cni_path)
        if rc != 0:
            print("%s %s #%d failed rc=%d\nstdout: %s\nstderr: %s"
                  % (kind, cmd, i, rc, out[:2000], err[-2000:]), file=sys.stderr)
            sys.exit(1)
        if cmd == "ADD":
            if families(out) != want[kind]:
                sys.exit("%s ADD #%d: unexpected addresses %s" % (kind, i, out))
            results[(kind, i)] = json.loads(out)
        ms[(kind, cmd)].append(t)

    for cmd in ("ADD", "DEL"):
        for i in range(a.n):
            order = ("v4", "ds") if i % 2 == 0 else ("ds", "v4")
            for kind in order:
                call(kind, cmd, i)

    # The IPAM share (tabby-ipam only): the tabby-ipam binary alone, same configs, its own
    # container ids, interleaved likewise. Its ADD does no kernel work.
    ipam_ms = {(k, c): [] for k in conf for c in ("ADD", "DEL")}
    ipam = os.path.join(a.build, "cni", "tabby-ipam")
    if a.ipam == "tabby-ipam":
        for cmd in ("ADD", "DEL"):
            for i in range(a.n):
                for kind in (("v4", "ds") if i % 2 == 0 else ("ds", "v4")):
                    cid = bl.container_id(tag + "ipam" + kind, i)
                    t, rc, out, err = bl.cni_exec(ipam, cmd, cid, "/run/netns/%s-v%d" % (
                        a.netns_prefix, i), conf[kind], cni_path=cni_path)
                    if rc != 0:
                        sys.exit("tabby-ipam %s %s #%d failed: %s %s" % (kind, cmd, i, out,
                                                                         err[-2000:]))
                    ipam_ms[(kind, cmd)].append(t)

    # etcd calls per tabby-ipam ADD of each kind (not interleaved: the counters are global);
    # 20 fresh container ids each, after the blocks exist.
    calls = {}
    if a.ipam == "tabby-ipam":
        etcd = bl.Etcd(a.endpoint)
        for kind in ("v4", "ds"):
            before = bl.etcd_counters(etcd.metrics())
            for i in range(20):
                cid = bl.container_id(tag + "count" + kind, i)
                r = bl.cni_exec(ipam, "ADD", cid, "/run/netns/%s-v0" % a.netns_prefix,
                                conf[kind], cni_path=cni_path)
                if r[1] != 0:
                    sys.exit("tabby-ipam count %s #%d failed: %s" % (kind, i, r[2]))
            d = bl.counters_delta(before, bl.etcd_counters(etcd.metrics()))
            calls[kind] = ", ".join("%s %.2f" % (k[3:], v / 20) for k, v in d.items()
                                    if k.startswith("kv.") and v)
            calls[kind] += "; WAL fsyncs %.2f" % (d.get("wal_fsync_count", 0) / 20)

    def report(label, table, cmd):
        v4, ds = table[("v4", cmd)], table[("ds", cmd)]
        if not v4:
            return
        print(bl.fmt_stats("%sIPv4-only %s" % (label, cmd), v4), flush=True)
        print(bl.fmt_stats("%sdual-stack %s" % (label, cmd), ds), flush=True)
        s4, s6 = bl.stats(v4), bl.stats(ds)
        pair = statistics.median(d / v for d, v in zip(ds, v4))
        print("    ratio %sdual-stack/IPv4-only %s: p50 %.2fx (%.2f / %.2f ms), p90 %.2fx, "
              "p99 %.2fx; median of %d pairwise ratios %.2fx"
              % (label, cmd, s6["p50"] / s4["p50"], s6["p50"], s4["p50"],
                 s6["p90"] / s4["p90"], s6["p99"] / s4["p99"], len(v4), pair), flush=True)

    for cmd in ("ADD", "DEL"):
        report("", ms, cmd)
    for cmd in ("ADD", "DEL"):
        report("tabby-ipam alone, ", ipam_ms, cmd)
    for kind, label in (("v4", "IPv4-only"), ("ds", "dual-stack")):
        if kind in calls:
            print("etcd calls per tabby-ipam %s ADD: %s" % (label, calls[kind]), flush=True)


if __name__ == "__main__":
    main()
