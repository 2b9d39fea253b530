# SPDX-License-Identifier: Apache-2.0
"""Process figures from /proc for the memory benchmark.

  procstat.py quiet PID [--window S] [--max-cpu-ms MS] [--timeout S] [--routes-ns NS --routes N]
      Wait until PID's CPU time (utime+stime from /proc/PID/stat) grew by at most MS over the last
      S seconds (default 2 s, 20 ms) and, if given, until N "dev tby" routes with proto 81 are in
      netns NS, and (--etcd E --key-prefix K) until a key under K exists. Prints "quiet after X s". Exit 1 on timeout or when PID is gone.
  procstat.py mem PID
      Prints "VmRSS VmHWM RssAnon RssFile Pss cpu_ms" (kB x5, ms); Pss from smaps_rollup
      (shared library pages divided among the processes that map them).
"""
import argparse
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as bl  # noqa: E402

HZ = os.sysconf("SC_CLK_TCK")


def cpu_ms(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * 1000 // HZ  # utime, stime (fields 14, 15)


def status(pid):
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            out[k] = v.strip()
    return out


def kb(s):
    return int(s.split()[0]) if s else 0


def routes(ns):
    r = subprocess.run(["ip", "-n", ns, "route", "show", "proto", "81"], capture_output=True,
                       text=True).stdout
    return sum(1 for line in r.splitlines() if " dev tby" in line)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("cmd", choices=["quiet", "mem"])
    ap.add_argument("pid", type=int)
    ap.add_argument("--window", type=float, default=2.0)
    ap.add_argument("--max-cpu-ms", type=int, default=20)
    ap.add_argument("--timeout", type=float, default=180)
    ap.add_argument("--routes-ns")
    ap.add_argument("--routes", type=int)
    ap.add_argument("--etcd", help="endpoint for --key-prefix")
    ap.add_argument("--key-prefix", help="also wait until a key with this prefix exists")
    a = ap.parse_args()
    if a.cmd == "mem":
        s = status(a.pid)
        pss = 0
        with open("/proc/%d/smaps_rollup" % a.pid) as f:
            for line in f:
                if line.startswith("Pss:"):
                    pss = kb(line.split(":", 1)[1])
        print(kb(s.get("VmRSS")), kb(s.get("VmHWM")), kb(s.get("RssAnon")), kb(s.get("RssFile")),
              pss, cpu_ms(a.pid))
        return
    t0 = time.monotonic()
    hist = []  # (time, cpu_ms)
    step = 0.1
    while time.monotonic() - t0 < a.timeout:
        try:
            c = cpu_ms(a.pid)
        except FileNotFoundError:
            print("process %d is gone" % a.pid)
            sys.exit(1)
        now = time.monotonic()
        hist.append((now, c))
        old = [h for h in hist if h[0] <= now - a.window]
        if old:
            hist = hist[hist.index(old[-1]):]
            if c - old[-1][1] <= a.max_cpu_ms:
                if (a.routes_ns is None or routes(a.routes_ns) >= a.routes) and \
                        (a.key_prefix is None or bl.Etcd(a.etcd).count(a.key_prefix) > 0):
                    print("quiet after %.1f s" % max(0.0, now - t0 - a.window))
                    return
        time.sleep(step)
    print("not quiet after %.0f s" % a.timeout)
    sys.exit(1)


if __name__ == "__main__":
    main()
