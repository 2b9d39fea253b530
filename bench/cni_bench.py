# SPDX-License-Identifier: Apache-2.0
"""Driver of bench/cni-add.sh. Runs INSIDE the host network namespace (ip netns exec), so the
plugins run in the caller's netns as with a runtime, and times each plugin exec.

Phases (each over the same N container namespaces, created beforehand by the shell script):
  exec-baseline  /bin/true                      fork+exec+wait cost of this driver
  etcd range     one JSON-gateway round trip (unix socket) from this driver
  version        tabby, CNI_COMMAND=VERSION     plugin start-up (dynamic linking, init), no I/O
  ipam version   tabby-ipam, CNI_COMMAND=VERSION
  add            tabby ADD, interleaved with the reference: Debian's containernetworking-plugins
                 ptp + host-local ADD into its own netns "<prefix>-p<i>" (tabby first on even i,
                 ptp first on odd i, so drift in the machine's load hits both alike)
  del            tabby DEL with prevResult, as libcni sends it, interleaved with ptp DEL
  ratio          tabby / ptp+host-local at p50 and p99, from the same run
  ip link add/del  kernel + iproute2 baseline: one veth pair (peer into the container netns)
  ipam-add       tabby-ipam ADD alone (its own container ids, so its own handles)
  ipam-del       tabby-ipam DEL alone
etcd's /metrics (gRPC calls per method, WAL fsyncs) are read around add/del/ipam phases.
"""
import argparse
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as bl  # noqa: E402


def run_phase(label, n, fn, etcd=None):
    ms = []
    before = bl.etcd_counters(etcd.metrics()) if etcd else None
    for i in range(n):
        t, rc, out, err = fn(i)
        if rc != 0:
            print("%s #%d failed rc=%d\nstdout: %s\nstderr: %s" % (label, i, rc, out[:2000],
                                                                  err[-2000:]), file=sys.stderr)
            sys.exit(1)
        ms.append(t)
    delta = None
    if etcd:
        delta = bl.counters_delta(before, bl.etcd_counters(etcd.metrics()))
    print(bl.fmt_stats(label, ms), flush=True)
    if delta:
        calls = {k[3:]: v / n for k, v in delta.items() if k.startswith("kv.") and v}
        fs = delta.get("wal_fsync_count", 0)
        fsum = delta.get("wal_fsync_sum_s", 0)
        print("    etcd per call: %s; WAL fsyncs %.2f/call, mean fsync %.2f ms"
              % (", ".join("%s %.2f" % kv for kv in sorted(calls.items())) or "none",
                 fs / n, (fsum / fs * 1000) if fs else 0.0), flush=True)
    return ms


def ratio_line(cmd, tabby_ms, ref_ms):
    """The reference's figures and tabby's ratio to them (same run, interleaved)."""
    t, p = bl.stats(tabby_ms), bl.stats(ref_ms)
    print(bl.fmt_stats("ptp+host-local %s (reference)" % cmd, ref_ms), flush=True)
    print("    ratio tabby/ptp+host-local %s: p50 %.2fx (%.2f / %.2f ms), p99 %.2fx (%.2f / %.2f ms)"
          % (cmd, t["p50"] / p["p50"], t["p50"], p["p50"], t["p99"] / p["p99"], t["p99"],
             p["p99"]), flush=True)


def timed(argv):
    t0 = time.perf_counter()
    p = subprocess.run(argv, capture_output=True, text=True)
    return (time.perf_counter() - t0) * 1000.0, p.returncode, p.stdout, p.stderr


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, required=True)
    ap.add_argument("--build", required=True)
    ap.add_argument("--node", required=True)
    ap.add_argument("--endpoint", required=True)  # unix:///...etcd.sock:PORT
    ap.add_argument("--netns-prefix", required=True)  # /run/netns/<prefix>-c<i>
    ap.add_argument("--host-ns", required=True)
    ap.add_argument("--log-level", default="info")
    ap.add_argument("--ref-cni-path", default="/usr/lib/cni")  # Debian's plugin directory
    ap.add_argument("--ref-data-dir", required=True)  # host-local's state directory
    a = ap.parse_args()

    tabby = os.path.join(a.build, "cni", "tabby")
    ipam = os.path.join(a.build, "cni", "tabby-ipam")
    conf = bl.cni_conf("tabbynet", a.node, a.endpoint, a.log_level)
    etcd = bl.Etcd(a.endpoint)
    n = a.n
    nsp = lambda i: "/run/netns/%s-c%d" % (a.netns_prefix, i)  # noqa: E731
    cids = [bl.container_id("bench-add-%d" % os.getpid(), i) for i in range(n)]
    icids = [bl.container_id("bench-ipam-%d" % os.getpid(), i) for i in range(n)]
    pods = ["bench-pod-%d" % i for i in range(n)]

    # tabby's ADD refuses a node without a Node resource (felix registers it; no felix here).
    etcd.put("/tabby/v1/nodes/" + a.node, bl.node_json(a.node, "198.18.0.11/24"))

    # The reference: ptp + host-local from 198.18.64.0/20 (host side of each veth gets the
    # gateway address, container side a /32-routed address), each in its own netns so the two
    # plugins never share an interface name or a route.
    ptp = os.path.join(a.ref_cni_path, "ptp")
    ref_conf = {"cniVersion": "1.0.0", "name": "refnet", "type": "ptp", "ipMasq": False,
                "ipam": {"type": "host-local", "dataDir": a.ref_data_dir,
                         "ranges": [[{"subnet": "198.18.64.0/20"}]]}}
    psp = lambda i: "/run/netns/%s-p%d" % (a.netns_prefix, i)  # noqa: E731
    have_ref = os.access(ptp, os.X_OK) and os.access(os.path.join(a.ref_cni_path, "host-local"),
                                                      os.X_OK)
    if not have_ref:
        print("reference plugins not found in %s (apt-get install containernetworking-plugins):"
              " no ratio" % a.ref_cni_path, flush=True)

    run_phase("exec-baseline (/bin/true)", n, lambda i: bl.cni_exec("/bin/true", "VERSION", "x",
                                                                      nsp(i), conf))
    # One etcd round trip through the JSON gateway on the unix socket, from this process
    # (keep-alive connection): the unit cost of each datastore call the plugins make.
    pool_key = "/tabby/v1/ippools/default-ipv4-ippool"

    def etcd_range(i):
        t0 = time.perf_counter()
        etcd.post("/v3/kv/range", {"key": bl.b64(pool_key)})
        return (time.perf_counter() - t0) * 1000.0, 0, "", ""

    run_phase("etcd range round trip (gateway)", n, etcd_range)
    run_phase("tabby VERSION (start-up only)", n,
              lambda i: bl.cni_exec(tabby, "VERSION", cids[i], nsp(i), conf))

    run_phase("tabby-ipam VERSION (start-up only)", n,
              lambda i: bl.cni_exec(ipam, "VERSION", cids[i], nsp(i), conf))

    results = {}
    ref_results = {}
    ref_ms = {"ADD": [], "DEL": []}

    def ref(cmd, i):
        """The reference plugin's call for iteration i: timed into ref_ms, fails the bench."""
        if not have_ref:
            return
        c = dict(ref_conf)
        if cmd == "DEL":
            c["prevResult"] = ref_results[i]
        r = bl.cni_exec(ptp, cmd, cids[i], psp(i), c, cni_path=a.ref_cni_path)
        if r[1] != 0:
            print("ptp %s #%d failed rc=%d\nstdout: %s\nstderr: %s"
                  % (cmd, i, r[1], r[2][:2000], r[3][-2000:]), file=sys.stderr)
            sys.exit(1)
        if cmd == "ADD":
            ref_results[i] = json.loads(r[2])
        ref_ms[cmd].append(r[0])

    def add(i):
        if i % 2:
            ref("ADD", i)
        r = bl.cni_exec(tabby, "ADD", cids[i], nsp(i), conf, pod=pods[i])
        if r[1] == 0:
            res = json.loads(r[2])
            if not res.get("ips"):
                return (r[0], 99, r[2], "no ips in result")
            results[i] = res
        if i % 2 == 0:
            ref("ADD", i)
        return r

    add_ms = run_phase("tabby ADD", n, add, etcd)
    if have_ref:
        ratio_line("ADD", add_ms, ref_ms["ADD"])

    # Read back what the ADDs did (not timed): routes in this netns, endpoints in etcd.
    routes = subprocess.run(["ip", "route", "show", "proto", "81"], capture_output=True,
                            text=True).stdout.splitlines()
    n32 = sum(1 for r in routes if " dev tby" in r)
    print("    after ADD: %d /32 routes proto 81 via tby*, %d WorkloadEndpoints in etcd, "
          "%d blocks" % (n32, etcd.count("/tabby/v1/workloadendpoints/"),
                         etcd.count("/tabby/v1/ipam/blocks/")), flush=True)

    def delete(i):
        c = dict(conf)
        c["prevResult"] = results[i]
        if i % 2:
            ref("DEL", i)
        r = bl.cni_exec(tabby, "DEL", cids[i], nsp(i), c, pod=pods[i])
        if i % 2 == 0:
            ref("DEL", i)
        return r

    del_ms = run_phase("tabby DEL", n, delete, etcd)
    if have_ref:
        ratio_line("DEL", del_ms, ref_ms["DEL"])
    routes = subprocess.run(["ip", "route", "show", "proto", "81"], capture_output=True,
                            text=True).stdout.splitlines()
    print("    after DEL: %d /32 routes proto 81 via tby*, %d WorkloadEndpoints in etcd"
          % (sum(1 for r in routes if " dev tby" in r),
             etcd.count("/tabby/v1/workloadendpoints/")), flush=True)

    # Kernel baseline for the veth work of ADD/DEL, with iproute2 (each figure includes one
    # exec of `ip`, about 1-2 ms): create a veth pair with the peer moved into the container
    # netns, then delete it.
    veth = lambda i: "tbybench%d" % i  # noqa: E731
    run_phase("ip link add veth (peer -> netns)", n,
              lambda i: timed(["ip", "link", "add", veth(i), "type", "veth", "peer", "name", "eth0",
                               "netns", nsp(i).rsplit("/", 1)[1]]))
    run_phase("ip link del veth", n, lambda i: timed(["ip", "link", "del", veth(i)]))

    ipres = {}

    def iadd(i):
        r = bl.cni_exec(ipam, "ADD", icids[i], nsp(i), conf, pod=pods[i])
        if r[1] == 0:
            ipres[i] = json.loads(r[2])
        return r

    run_phase("tabby-ipam ADD alone", n, iadd, etcd)

    def idel(i):
        c = dict(conf)
        c["prevResult"] = ipres[i]
        return bl.cni_exec(ipam, "DEL", icids[i], nsp(i), c, pod=pods[i])

    run_phase("tabby-ipam DEL alone", n, idel, etcd)


if __name__ == "__main__":
    main()
