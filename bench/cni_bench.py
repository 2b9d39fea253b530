# SPDX-License-Identifier: Apache-2.0
"""Driver of bench/cni-add.sh. Runs INSIDE the host network namespace (ip netns exec), so the
plugins run in the caller's netns as with a runtime, and times each plugin exec.

Phases (each over the same N container namespaces, created beforehand by the shell script):
  exec-baseline  /bin/true                      fork+exec+wait cost of this driver
  etcd range     one JSON-gateway round trip (unix socket) from this driver
  version        tabby, CNI_COMMAND=VERSION     plugin start-up (dynamic linking, init), no I/O
  ipam version   tabby-ipam, CNI_COMMAND=VERSION
  add            tabby ADD (delegates to tabby-ipam)
  del            tabby DEL with prevResult, as libcni sends it
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

    def add(i):
        r = bl.cni_exec(tabby, "ADD", cids[i], nsp(i), conf, pod=pods[i])
        if r[1] == 0:
            res = json.loads(r[2])
            if not res.get("ips"):
                return (r[0], 99, r[2], "no ips in result")
            results[i] = res
        return r

    run_phase("tabby ADD", n, add, etcd)

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
        return bl.cni_exec(tabby, "DEL", cids[i], nsp(i), c, pod=pods[i])

    run_phase("tabby DEL", n, delete, etcd)
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
