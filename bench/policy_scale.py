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
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as bl  # noqa: E402

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


def cmd_remote_latency(a):
    etcd = bl.Etcd(a.endpoint)
    ms = []
    for k in range(a.count):
        (key, val), ip = remote_kv(a.start + k, role="r7")
        t0 = time.perf_counter()
        etcd.put(key, val)
        if not wait(lambda: in_kernel_elem(a, ip)):
            print("  element %s never appeared in %s" % (ip, a.set), file=sys.stderr)
            sys.exit(1)
        ms.append((time.perf_counter() - t0) * 1000)
        time.sleep(0.3)
    print(bl.fmt_stats("  remote endpoint write -> set element in kernel (%s)" % a.backend, ms),
          flush=True)


def cmd_local_latency(a):
    ms = []
    for k in range(a.count):
        i = a.start + k
        t0 = time.perf_counter()
        _, ifname = cni_add(a, i)
        if not wait(lambda: has_chain(a, ifname)):
            print("  chain for %s never appeared" % ifname, file=sys.stderr)
            sys.exit(1)
        ms.append((time.perf_counter() - t0) * 1000)
        time.sleep(0.3)
    print(bl.fmt_stats("  CNI ADD start -> policy chain in place (%s)" % a.backend, ms), flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["remote", "policies", "local", "remote-latency",
                                     "local-latency"])
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
    a = ap.parse_args()
    {"remote": cmd_remote, "policies": cmd_policies, "local": cmd_local,
     "remote-latency": cmd_remote_latency, "local-latency": cmd_local_latency}[a.mode](a)


if __name__ == "__main__":
    main()
