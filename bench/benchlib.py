# SPDX-License-Identifier: Apache-2.0
"""Helpers shared by the benchmark drivers. Standard library only (no external packages).

- Etcd: etcd v3 JSON gateway (POST /v3/kv/put|range|deleterange|txn) over http://127.0.0.1:PORT
  or over the unix socket (reachable from every network namespace).
- stats(): nearest-rank percentiles of a list of milliseconds.
- workload naming exactly as DESIGN.md / the brief fix it (veth "tby" + 11 hex of SHA-1 of the
  workload id, WorkloadEndpoint name "<node>-cni-<cid[:12]>-<ifname>").
- cni_exec(): one CNI plugin exec with the environment a runtime sets, timed with perf_counter.
"""
import base64
import hashlib
import http.client
import json
import math
import os
import socket
import subprocess
import time


def b64(s):
    if isinstance(s, str):
        s = s.encode()
    return base64.b64encode(s).decode()


def prefix_end(prefix):
    b = bytearray(prefix.encode())
    b[-1] += 1
    return bytes(b)


class _UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout=30):
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(self.timeout)
        s.connect(self._path)
        self.sock = s


class Etcd:
    """Minimal etcd v3 JSON-gateway client. endpoint: http://HOST:PORT or unix:///path:PORT."""

    def __init__(self, endpoint):
        self.endpoint = endpoint
        self.conn = None

    def _connect(self):
        if self.endpoint.startswith("unix://"):
            return _UnixHTTPConnection(self.endpoint[len("unix://"):])
        hp = self.endpoint.split("://", 1)[1].rstrip("/")
        host, port = hp.rsplit(":", 1)
        return http.client.HTTPConnection(host, int(port), timeout=30)

    def post(self, path, body):
        data = json.dumps(body).encode()
        for attempt in range(2):
            if self.conn is None:
                self.conn = self._connect()
            try:
                self.conn.request("POST", path, body=data,
                                  headers={"Content-Type": "application/json"})
                r = self.conn.getresponse()
                out = r.read()
                if r.status != 200:
                    raise RuntimeError("etcd %s: HTTP %d %s" % (path, r.status, out[:300]))
                return json.loads(out)
            except (ConnectionError, http.client.HTTPException):
                self.conn.close()
                self.conn = None
                if attempt:
                    raise
        return None

    def metrics(self):
        """etcd's Prometheus text as {metric{labels}: float} (GET /metrics)."""
        if self.conn is None:
            self.conn = self._connect()
        self.conn.request("GET", "/metrics")
        r = self.conn.getresponse()
        out = r.read().decode()
        m = {}
        for line in out.splitlines():
            if not line or line[0] == "#":
                continue
            k, _, v = line.rpartition(" ")
            try:
                m[k] = float(v)
            except ValueError:
                pass
        return m

    def put(self, key, value):
        return self.post("/v3/kv/put", {"key": b64(key), "value": b64(value)})

    def put_many(self, kvs, batch=100):
        """Write (key, value) pairs in transactions of @batch puts (etcd's --max-txn-ops is 128)."""
        n = 0
        for i in range(0, len(kvs), batch):
            ops = [{"request_put": {"key": b64(k), "value": b64(v)}} for k, v in kvs[i:i + batch]]
            r = self.post("/v3/kv/txn", {"success": ops})
            if not r.get("succeeded"):
                raise RuntimeError("txn failed: %s" % r)
            n += len(ops)
        return n

    def count(self, prefix):
        r = self.post("/v3/kv/range", {"key": b64(prefix), "range_end": b64(prefix_end(prefix)),
                                       "count_only": True})
        return int(r.get("count", 0))

    def get_prefix(self, prefix):
        r = self.post("/v3/kv/range", {"key": b64(prefix), "range_end": b64(prefix_end(prefix))})
        return [(base64.b64decode(kv["key"]).decode(), base64.b64decode(kv.get("value", "")).decode())
                for kv in r.get("kvs", [])]


def percentile(sorted_ms, p):
    """Nearest-rank percentile (p in 0..100) of an already sorted list."""
    if not sorted_ms:
        return float("nan")
    k = max(1, math.ceil(p / 100.0 * len(sorted_ms)))
    return sorted_ms[k - 1]


def stats(ms):
    s = sorted(ms)
    return {"n": len(s), "p50": percentile(s, 50), "p90": percentile(s, 90),
            "p99": percentile(s, 99), "max": s[-1] if s else float("nan"),
            "min": s[0] if s else float("nan"), "mean": sum(s) / len(s) if s else float("nan")}


def fmt_stats(label, ms):
    st = stats(ms)
    return ("%-34s n=%-4d p50=%8.2f  p90=%8.2f  p99=%8.2f  max=%8.2f  (min %.2f, mean %.2f) ms"
            % (label, st["n"], st["p50"], st["p90"], st["p99"], st["max"], st["min"], st["mean"]))


def veth_name(workload_id):
    return "tby" + hashlib.sha1(workload_id.encode()).hexdigest()[:11]


def wep_name(node, container_id, ifname="eth0"):
    return "%s-cni-%s-%s" % (node, container_id[:12], ifname)


def container_id(tag, i):
    """A 64-hex container id like the ones runtimes generate, deterministic per (tag, i)."""
    return hashlib.sha256(("%s/%d" % (tag, i)).encode()).hexdigest()


def wep_json(node, cid, ns, iface, ip, mac, pod=None, labels=None):
    meta = {"name": wep_name(node, cid), "namespace": ns}
    if labels:
        meta["labels"] = labels
    spec = {"orchestrator": "cni", "workload": pod or cid, "node": node, "containerID": cid,
            "endpoint": "eth0", "interfaceName": iface, "mac": mac, "ipNetworks": [ip + "/32"]}
    if pod:
        spec["pod"] = pod
    return json.dumps({"apiVersion": "projectcalico.org/v3", "kind": "WorkloadEndpoint",
                       "metadata": meta, "spec": spec}, separators=(",", ":"))


def node_json(name, cidr):
    return json.dumps({"apiVersion": "projectcalico.org/v3", "kind": "Node",
                       "metadata": {"name": name}, "spec": {"bgp": {"ipv4Address": cidr}}},
                      separators=(",", ":"))


def block_json(cidr, node, ordinals, handles):
    """Block in ipam/block.h's JSON form with @ordinals allocated to @handles (same length)."""
    plen = int(cidr.split("/")[1])
    size = 1 << (32 - plen)
    alloc = [None] * size
    attrs = []
    seq_for = {}
    for i, (o, h) in enumerate(zip(ordinals, handles)):
        alloc[o] = i
        attrs.append({"handle_id": h, "secondary": {"node": node, "namespace": "default"}})
        seq_for[str(o)] = i
    unalloc = [o for o in range(size) if alloc[o] is None]
    return json.dumps({"cidr": cidr, "affinity": "host:" + node, "strictAffinity": False,
                       "allocations": alloc, "unallocated": unalloc, "attributes": attrs,
                       "deleted": False, "sequenceNumber": len(ordinals),
                       "sequenceNumberForAllocation": seq_for}, separators=(",", ":"))


def mac_for(i):
    return "02:bb:%02x:%02x:%02x:%02x" % ((i >> 24) & 255, (i >> 16) & 255, (i >> 8) & 255, i & 255)


def cni_exec(plugin, command, cid, netns_path, conf, ifname="eth0", pod=None, cni_path=None):
    """Run one CNI plugin the way a runtime does (env + config on stdin), in the caller's netns.
    Returns (milliseconds, returncode, stdout, stderr). The clock spans fork, exec and wait."""
    env = {"PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
           "CNI_COMMAND": command, "CNI_CONTAINERID": cid, "CNI_NETNS": netns_path,
           "CNI_IFNAME": ifname, "CNI_PATH": cni_path or os.path.dirname(plugin),
           "CNI_ARGS": "IgnoreUnknown=1" + (";K8S_POD_NAME=%s" % pod if pod else "")}
    data = json.dumps(conf).encode()
    t0 = time.perf_counter()
    p = subprocess.run([plugin], input=data, env=env, capture_output=True)
    t1 = time.perf_counter()
    return (t1 - t0) * 1000.0, p.returncode, p.stdout.decode(errors="replace"), \
        p.stderr.decode(errors="replace")


def cni_conf(name, node, endpoint, log_level="info"):
    return {"cniVersion": "1.0.0", "name": name, "type": "tabby", "nodename": node,
            "datastore_endpoints": endpoint, "log_level": log_level,
            "ipam": {"type": "tabby-ipam", "ipv4_pools": ["default-ipv4-ippool"]}}


def etcd_counters(m):
    """The few etcd counters that say where a CNI call's time goes: gRPC calls by method (the JSON
    gateway forwards every HTTP call to one gRPC call) and WAL fsyncs (count, total seconds)."""
    out = {}
    for k, v in m.items():
        if k.startswith("grpc_server_handled_total{") and 'grpc_service="etcdserverpb.KV"' in k:
            meth = k.split('grpc_method="', 1)[1].split('"', 1)[0]
            out["kv." + meth] = out.get("kv." + meth, 0) + v
    out["wal_fsync_count"] = m.get("etcd_disk_wal_fsync_duration_seconds_count", 0)
    out["wal_fsync_sum_s"] = m.get("etcd_disk_wal_fsync_duration_seconds_sum", 0)
    out["backend_commit_count"] = m.get("etcd_disk_backend_commit_duration_seconds_count", 0)
    return out


def counters_delta(a, b):
    return {k: b.get(k, 0) - a.get(k, 0) for k in sorted(set(a) | set(b))}


if __name__ == "__main__":
    # benchlib.py count ENDPOINT PREFIX  -> number of keys under PREFIX
    import sys
    if len(sys.argv) == 4 and sys.argv[1] == "count":
        print(Etcd(sys.argv[2]).count(sys.argv[3]))
    else:
        sys.exit("usage: benchlib.py count ENDPOINT PREFIX")
