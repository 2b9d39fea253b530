# SPDX-License-Identifier: Apache-2.0
"""Helpers for bench/policy-scale.sh (python3 standard library + benchlib/workloads).

  policy_scale.py remote   --n N --endpoint E        N remote WorkloadEndpoints (namespace default,
        node bench-rK, 1000 per node, labels app=app<i%100> role=r<i%50>), addresses from
        198.18.16.0 upwards (inside 198.18.0.0/15, outside the bench pool 198.19.192.0/18). No
        Node resources, no IPAM: remote endpoints only feed policy sets.
  policy_scale.py policies --n N --endpoint E        N NetworkPolicies p<i> in default:
        selector app == 'app<i%100>', ingress Allow TCP from role == 'r<i%50>' to port 80+i%10,
        egress Allow; plus "iperf-allow" (all(), ingress TCP 5201, order 5000: after the others).
  policy_scale.py local    --n N --start S --endpoint E --build B --netns-prefix P --node NODE
        real CNI ADDs for P-w<S>..P-w<S+N-1> with label app=app<i%100>; prints per-ADD ms.
  policy_scale.py remote-latency --endpoint E --host-ns NS --backend nftables|iptables --set SET
        --count K   writes K new remote endpoints with role r7, each timed from the etcd write to
        its address being an element of SET in the kernel (nft get element / ipset test).
  policy_scale.py local-latency ... --count K  K CNI ADDs, each timed from the start of the ADD
        to the endpoint's to-workload chain holding a jump to a policy chain.
"""
import argparse
import ipaddress
import json
import os
import subprocess
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as bl  # noqa: E402
import nfmon  # noqa: E402

REMOTE_BASE = int(ipaddress.IPv4Address("198.18.16.0"))


def remote_kv(i, role=None):
    node = "bench-r%d" % (i // 1000)
    cid = bl.container_id("bench-pr", i)
    pod = "bench-pr-%d" % i
    ip = str(ipaddress.IPv4Address(REMOTE_BASE + i))
    labels = {"app": "app%d" % (i % 100), "role": role or "r%d" % (i % 50)}
    return ("/tabby/v1/workloadendpoints/default/" + bl.wep_name(node, cid),
            bl.wep_json(node, cid, "default", bl.veth_name("default." + pod), ip,
                        bl.mac_for(REMOTE_BASE + i), pod=pod, labels=labels)), ip


def cmd_remote(a):
    t0 = time.perf_counter()
    etcd = bl.Etcd(a.endpoint)
    kvs = [remote_kv(i)[0] for i in range(a.start, a.start + a.n)]
    n = etcd.put_many(kvs)
    print("  remote: %d endpoints (%d keys) in %.0f ms" % (a.n, n, (time.perf_counter() - t0) * 1000),
          flush=True)


def policy_json(name, spec):
    return json.dumps({"apiVersion": "projectcalico.org/v3", "kind": "NetworkPolicy",
                       "metadata": {"name": name, "namespace": "default"}, "spec": spec},
                      separators=(",", ":"))


def cmd_policies(a):
    t0 = time.perf_counter()
    etcd = bl.Etcd(a.endpoint)
    kvs = []
    for i in range(a.n):
        spec = {"order": 100 + i % 50, "selector": "app == 'app%d'" % (i % 100),
                "types": ["Ingress", "Egress"],
                "ingress": [{"action": "Allow", "protocol": "TCP",
                             "source": {"selector": "role == 'r%d'" % (i % 50)},
                             "destination": {"ports": [80 + i % 10]}}],
                "egress": [{"action": "Allow"}]}
        kvs.append(("/tabby/v1/networkpolicies/default/p%d" % i, policy_json("p%d" % i, spec)))
    spec = {"order": 5000, "selector": "all()", "types": ["Ingress"],
            "ingress": [{"action": "Allow", "protocol": "TCP", "destination": {"ports": [5201]}}]}
    kvs.append(("/tabby/v1/networkpolicies/default/iperf-allow", policy_json("iperf-allow", spec)))
    n = etcd.put_many(kvs)
    print("  policies: %d keys in %.0f ms" % (n, (time.perf_counter() - t0) * 1000), flush=True)


def cni_add(a, i):
    conf = bl.cni_conf("tabbynet", a.node, a.endpoint)
    conf["args"] = {"cni": {"labels": [{"key": "app", "value": "app%d" % (i % 100)}]}}
    cid = bl.container_id("bench-pl-%s" % a.netns_prefix, i)
    pod = "bench-pl-%d" % i
    t, rc, out, err = bl.cni_exec(os.path.join(a.build, "cni", "tabby"), "ADD", cid,
                                  "/run/netns/%s-w%d" % (a.netns_prefix, i), conf, pod=pod)
    if rc != 0:
        print("ADD #%d failed rc=%d: %s %s" % (i, rc, out[:500], err[-500:]), file=sys.stderr)
        sys.exit(1)
    return t, bl.veth_name("default." + pod)


def cmd_local(a):
    ms = [cni_add(a, i)[0] for i in range(a.start, a.start + a.n)]
    print(bl.fmt_stats("  local workloads via CNI ADD", ms), flush=True)


def in_kernel_elem(a, ip):
    if a.backend == "nftables":
        cmd = ["ip", "netns", "exec", a.host_ns, "nft", "get", "element", "inet", "tabby", a.set,
               "{ %s }" % ip]
    else:
        cmd = ["ip", "netns", "exec", a.host_ns, "ipset", "test", a.set, ip]
    return subprocess.run(cmd, capture_output=True).returncode == 0


def has_chain(a, ifname):
    if a.backend == "nftables":
        cmd = ["ip", "netns", "exec", a.host_ns, "nft", "list", "chain", "inet", "tabby",
               "tby-tw-" + ifname]
        p = subprocess.run(cmd, capture_output=True, text=True)
        return p.returncode == 0 and "jump tby-pi-" in p.stdout
    cmd = ["ip", "netns", "exec", a.host_ns, "iptables", "-w", "-S", "tby-tw-" + ifname]
    p = subprocess.run(cmd, capture_output=True, text=True)
    return p.returncode == 0 and "-j tby-pi-" in p.stdout


def wait(pred, timeout=60.0):
    t_end = time.perf_counter() + timeout
    while time.perf_counter() < t_end:
        if pred():
            return True
        time.sleep(0.005)
    return False


def fig(backend, key, val):
    print("FIGURE %s %s %.3f" % (backend, key, val), flush=True)


def cmd_remote_latency(a):
    """nftables: arrival = the NEWSETELEM event on SET carrying the address (nfmon). iptables: the
    kernel ipset has no event group, so arrival = first successful `ipset test` (polled)."""
    etcd = bl.Etcd(a.endpoint)
    mon = nfmon.NfMon() if a.backend == "nftables" else None
    ms, puts = [], []
    for k in range(a.count):
        (key, val), ip = remote_kv(a.start + k, role="r7")
        ipb = socket.inet_aton(ip)
        mark = mon.mark() if mon else 0
        t0 = time.monotonic()
        etcd.put(key, val)
        puts.append((time.monotonic() - t0) * 1000)
        if mon:
            t = mon.wait(lambda e: e.msg == "newsetelem" and e.table == "tabby" and e.name == a.set
                         and ipb in e.raw, since=mark)
        else:
            t = time.monotonic() if wait(lambda: in_kernel_elem(a, ip)) else None
        if t is None:
            print("  element %s never appeared in %s" % (ip, a.set), file=sys.stderr)
            sys.exit(1)
        ms.append((t - t0) * 1000)
        time.sleep(0.2)
    print(bl.fmt_stats("  remote endpoint write -> set element in kernel (%s)" % a.backend, ms),
          flush=True)
    # The etcd put itself (until its reply: the write committed, WAL fsync included) is part of
    # each sample; shown per sample so that a slow commit is told apart from a slow felix.
    print("    samples (ms, etcd put reply / element in kernel): %s" %
          ", ".join("%.1f/%.1f" % (p, m) for p, m in zip(puts, ms)), flush=True)
    fig(a.backend, "remote_elem_p99_ms", bl.percentile(sorted(ms), 99))
    fig(a.backend, "remote_elem_p50_ms", bl.percentile(sorted(ms), 50))


def cmd_local_latency(a):
    """CNI ADD start -> the rule in tby-tw-<if> that jumps to a policy chain arrives (nfmon; the
    chain, its rules and the dispatch map element go in one batch). iptables is iptables-nft
    here, so its chains arrive as nf_tables events too (table filter)."""
    mon = nfmon.NfMon()
    table = "tabby" if a.backend == "nftables" else "filter"
    ms = []
    for k in range(a.count):
        i = a.start + k
        ifname = bl.veth_name("default.bench-pl-%d" % i)
        mark = mon.mark()
        t0 = time.monotonic()
        cni_add(a, i)
        t = mon.wait(lambda e: e.msg == "newrule" and e.table == table
                     and e.name == "tby-tw-" + ifname and b"tby-pi-" in e.raw, since=mark)
        if t is None:
            print("  chain for %s never appeared" % ifname, file=sys.stderr)
            sys.exit(1)
        ms.append((t - t0) * 1000)
        time.sleep(0.2)
    print(bl.fmt_stats("  CNI ADD start -> policy chain in kernel (%s)" % a.backend, ms), flush=True)
    fig(a.backend, "local_add_p99_ms", bl.percentile(sorted(ms), 99))
    fig(a.backend, "local_add_p50_ms", bl.percentile(sorted(ms), 50))


class Probe:
    """TCP connects from netns SRC to DST:PORT in a loop (timeout TMO s, a fresh socket each time);
    records (start, end, ok) of every attempt in time.monotonic()."""

    def __init__(self, src, dst, port, tmo=0.01):
        self.src, self.dst, self.port, self.tmo = src, dst, port, tmo
        self.log = []
        self.lock = threading.Lock()
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self):
        nfmon.setns("/run/netns/" + self.src)
        while True:
            s = socket.socket()
            s.settimeout(self.tmo)
            t0 = time.monotonic()
            try:
                s.connect((self.dst, self.port))
                ok = True
            except OSError:
                ok = False
            s.close()
            with self.lock:
                self.log.append((t0, time.monotonic(), ok))
            if not ok:
                continue
            time.sleep(0.002)

    def first(self, after, ok, timeout=60.0):
        """Time of the first attempt started after AFTER with verdict OK (allowed: its end;
        denied: its start, the SYN that got no answer)."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            with self.lock:
                hit = [(t0, t1) for t0, t1, o in self.log[-2000:] if t0 >= after and o == ok]
            if hit:
                return hit[0][1] if ok else hit[0][0]
            time.sleep(0.005)
        return None


def server(ns, ip, port):
    def run():
        nfmon.setns("/run/netns/" + ns)
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((ip, port))
        s.listen(1024)
        while True:
            c, _ = s.accept()
            c.close()
    threading.Thread(target=run, daemon=True).start()


def cmd_flip(a):
    """Policy flip on real traffic: NetworkPolicy "flip" (app == 'app0', ingress Allow TCP to port
    P) is edited between P=8081 (w0:8080 denied) and P=8080 (allowed); each sample is the etcd
    write -> the first probe w1 -> w0:8080 with the new verdict. Baseline: the same probe, with
    `nft -f` adding / deleting a table with one drop rule for w0:8080 (hand-written rules)."""
    etcd = bl.Etcd(a.endpoint)
    w0, w1 = a.netns_prefix + "-w0", a.netns_prefix + "-w1"
    server(w0, a.ip, 8080)
    probe = Probe(w1, a.ip, 8080)

    def put(port):
        spec = {"order": 10, "selector": "app == 'app0'", "types": ["Ingress"],
                "ingress": [{"action": "Allow", "protocol": "TCP", "destination": {"ports": [port]}}]}
        etcd.put("/tabby/v1/networkpolicies/default/flip", policy_json("flip", spec))

    def sample(action, ok):
        time.sleep(0.3)
        t0 = time.monotonic()
        action()
        t = probe.first(t0, ok)
        if t is None:
            print("  verdict never flipped to %s" % ok, file=sys.stderr)
            sys.exit(1)
        return (t - t0) * 1000

    put(8081)
    if probe.first(time.monotonic(), False) is None:
        sys.exit(1)
    ms = []
    for _ in range(a.count):
        ms.append(sample(lambda: put(8080), True))
        ms.append(sample(lambda: put(8081), False))
    print(bl.fmt_stats("  policy edit (etcd write) -> verdict flipped on traffic (%s)" % a.backend,
                       ms), flush=True)
    put(8080)
    if probe.first(time.monotonic(), True) is None:
        sys.exit(1)
    add = ("table inet benchflip {\n chain flip {\n  type filter hook forward priority -5;\n"
           "  ip daddr %s tcp dport 8080 drop\n }\n}\n" % a.ip)

    def nft(text):
        subprocess.run(["ip", "netns", "exec", a.host_ns, "nft", "-f", "-"], input=text,
                       text=True, check=True)
    base = []
    for _ in range(a.count):
        base.append(sample(lambda: nft(add), False))
        base.append(sample(lambda: nft("delete table inet benchflip\n"), True))
    print(bl.fmt_stats("  hand-written nft -f -> verdict flipped on traffic", base), flush=True)
    f, b = bl.percentile(sorted(ms), 50), bl.percentile(sorted(base), 50)
    fig(a.backend, "policy_flip_p50_ms", f)
    fig(a.backend, "policy_flip_nft_f_p50_ms", b)
    fig(a.backend, "policy_flip_ratio", f / b if b > 0 else 0)
    etcd.post("/v3/kv/deleterange", {"key": bl.b64("/tabby/v1/networkpolicies/default/flip")})


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["remote", "policies", "local", "remote-latency",
                                     "local-latency", "flip"])
    ap.add_argument("--n", type=int, default=0)
    ap.add_argument("--start", type=int, default=0)
    ap.add_argument("--count", type=int, default=5)
    ap.add_argument("--endpoint", required=True)
    ap.add_argument("--build")
    ap.add_argument("--node")
    ap.add_argument("--netns-prefix")
    ap.add_argument("--host-ns")
    ap.add_argument("--backend", default="nftables")
    ap.add_argument("--set")
    ap.add_argument("--ip")
    a = ap.parse_args()
    {"remote": cmd_remote, "policies": cmd_policies, "local": cmd_local,
     "remote-latency": cmd_remote_latency, "local-latency": cmd_local_latency, "flip": cmd_flip}[a.mode](a)


if __name__ == "__main__":
    main()
