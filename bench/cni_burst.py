#!/usr/bin/env python3
"""cni_burst.py - a burst of parallel CNI calls on several hosts (issue 12 item 2).

Every call of every host starts at once (threads released by one barrier), as a kubelet does when
a node receives many pods: each one runs the real plugin the way a runtime does (benchlib.cni_exec,
environment plus the network config on stdin), inside its host's network namespace through
`nsenter --net`, with that host's nodename and its own IPAM lock file (ipam.lock_file).

  cni_burst.py --plugin BUILD/cni/tabby --endpoint unix:///..:PORT --command ADD|DEL \
      --host NODE:HOST_NETNS_PATH:LOCK_FILE ... --per-host N --container-netns PATTERN \
      [--json OUT]

PATTERN names the container netns of host NODE's call K (1-based): "{node}" and "{k}" are
replaced, e.g. /run/netns/t123-{node}-c{k}. The container id is derived from node and k, so an ADD
and a later DEL of the same burst name the same containers.

Prints one line per host and for all calls: calls, failures (by CNI error code), and latency
p50/p90/p99/max in ms (nearest rank; the clock spans nsenter, fork, exec and wait of one call).
With --json, writes {"calls": [{"node", "k", "ms", "rc", "ip", "code", "msg"}...]}.
Exit status 0 whatever the outcome (the caller asserts); 2 on bad usage.
"""
import argparse
import hashlib
import json
import os
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import percentile  # noqa: E402


def container_id(node, k):
    return hashlib.sha256(("burst-%s-%d" % (node, k)).encode()).hexdigest()


def conf(node, endpoint, lock_file):
    return {"cniVersion": "1.0.0", "name": "tabbynet", "type": "tabby", "nodename": node,
            "datastore_endpoints": endpoint, "log_level": "warning",
            "ipam": {"type": "tabby-ipam", "ipv4_pools": ["default-ipv4-ippool"],
                     "lock_file": lock_file}}


def one_call(args, host, k, barrier, out):
    node, host_ns, lock = host
    cid = container_id(node, k)
    netns = args.container_netns.replace("{node}", node).replace("{k}", str(k))
    env = {"PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
           "CNI_COMMAND": args.command, "CNI_CONTAINERID": cid, "CNI_NETNS": netns,
           "CNI_IFNAME": "eth0", "CNI_PATH": os.path.dirname(args.plugin),
           "CNI_ARGS": "IgnoreUnknown=1;K8S_POD_NAMESPACE=burst;K8S_POD_NAME=%s-p%d" % (node, k)}
    data = json.dumps(conf(node, args.endpoint, lock)).encode()
    barrier.wait()
    t0 = time.perf_counter()
    p = subprocess.run(["nsenter", "--net=" + host_ns, args.plugin], input=data, env=env,
                       capture_output=True)
    ms = (time.perf_counter() - t0) * 1000.0
    rec = {"node": node, "k": k, "ms": round(ms, 2), "rc": p.returncode, "ip": None,
           "code": None, "msg": None}
    try:
        res = json.loads(p.stdout.decode() or "{}")
    except ValueError:
        res = {}
    if p.returncode == 0 and args.command == "ADD":
        ips = res.get("ips") or [{}]
        rec["ip"] = (ips[0].get("address") or "").split("/")[0] or None
    elif p.returncode != 0:
        rec["code"] = res.get("code")
        rec["msg"] = res.get("msg") or p.stderr.decode(errors="replace")[-300:]
    out.append(rec)


def line(label, calls):
    ms = sorted(c["ms"] for c in calls)
    fails = [c for c in calls if c["rc"] != 0]
    codes = {}
    for c in fails:
        codes[str(c["code"])] = codes.get(str(c["code"]), 0) + 1
    return ("%-6s %4d calls, %3d failed%s; ms p50 %7.1f  p90 %7.1f  p99 %7.1f  max %7.1f" %
            (label, len(calls), len(fails),
             " (codes %s)" % ", ".join("%s x%d" % kv for kv in sorted(codes.items()))
             if codes else "",
             percentile(ms, 50), percentile(ms, 90), percentile(ms, 99), ms[-1]))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--plugin", required=True)
    ap.add_argument("--endpoint", required=True)
    ap.add_argument("--command", choices=["ADD", "DEL"], default="ADD")
    ap.add_argument("--host", action="append", required=True, help="NODE:HOST_NETNS:LOCK_FILE")
    ap.add_argument("--per-host", type=int, default=70)
    ap.add_argument("--container-netns", required=True)
    ap.add_argument("--json")
    args = ap.parse_args()
    hosts = []
    for h in args.host:
        parts = h.split(":", 2)
        if len(parts) != 3 or not all(parts):
            ap.error("--host %r: want NODE:HOST_NETNS:LOCK_FILE" % h)
        hosts.append(tuple(parts))
    if not 1 <= args.per_host <= 1000:
        ap.error("--per-host must be 1..1000")

    out = []
    barrier = threading.Barrier(len(hosts) * args.per_host)
    threads = [threading.Thread(target=one_call, args=(args, h, k, barrier, out))
               for h in hosts for k in range(1, args.per_host + 1)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    print("burst: %s on %d host(s) x %d in parallel, %.1f s wall" %
          (args.command, len(hosts), args.per_host, wall))
    for h in hosts:
        print(line(h[0], [c for c in out if c["node"] == h[0]]))
    print(line("all", out))
    for c in sorted((c for c in out if c["rc"] != 0), key=lambda c: (c["node"], c["k"]))[:5]:
        print("  failed: %s #%d code %s: %s" % (c["node"], c["k"], c["code"], c["msg"]))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"calls": out, "wall_s": wall}, f)


if __name__ == "__main__":
    main()
