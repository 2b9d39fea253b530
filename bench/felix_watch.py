# SPDX-License-Identifier: Apache-2.0
"""Start tabby-felix and time how long until N workload /32 routes (proto 81) are in the kernel.

Runs INSIDE the host netns. Before starting felix it starts `ip -o monitor route` in the same
netns; t0 is taken immediately before fork+exec of felix. Every monitor line that adds a route
"... dev tby... proto 81" adds its destination to a set; the time at which the set reaches N is
the result (the lag of reading the monitor pipe is microseconds). Felix's stderr is read through a
pipe and every line is stamped with its time since t0 (written to --log), so the summary can say
when felix logged what. Afterwards the kernel is read back with `ip route show proto 81` to check
the count. Felix is then stopped with SIGTERM (it must exit 0).

Prints one line "RESULT total_ms=... first_route_ms=... routes=... kernel_routes=... rc=..."
"""
import argparse
import os
import re
import selectors
import signal
import subprocess
import sys
import time

ROUTE_RE = re.compile(r"^(\d+\.\d+\.\d+\.\d+)(?:/32)? dev (tby\S+) .*proto 81\b")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--felix", required=True)
    ap.add_argument("--config", required=True)
    ap.add_argument("--n", type=int, required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--timeout", type=float, default=120)
    ap.add_argument("--grep", default=r".", help="felix log lines to show in the timeline")
    a = ap.parse_args()

    mon = subprocess.Popen(["ip", "-o", "monitor", "route"], stdout=subprocess.PIPE,
                           stderr=subprocess.DEVNULL, bufsize=0)
    time.sleep(0.3)  # let the monitor subscribe before felix starts
    t0 = time.perf_counter()
    felix = subprocess.Popen([a.felix, "--config", a.config], stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, bufsize=0)
    def on_signal(signum, frame):
        # Killed from outside (timeout, Ctrl-C): stop the two children we started, by PID.
        for p in (felix, mon):
            if p.poll() is None:
                p.terminate()
        sys.exit(128 + signum)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    sel = selectors.DefaultSelector()
    sel.register(mon.stdout, selectors.EVENT_READ, "mon")
    sel.register(felix.stderr, selectors.EVENT_READ, "felix")
    bufs = {"mon": b"", "felix": b""}
    seen = set()
    first = None
    done = None
    logf = open(a.log, "w")
    timeline = []
    felix_rc = None
    grep = re.compile(a.grep, re.I)
    deadline = t0 + a.timeout
    # Run until all N routes are seen, then 0.3 s more to capture felix's log lines about it.
    while time.perf_counter() < deadline:
        if done is not None and (time.perf_counter() - t0) * 1000 > done + 300:
            break
        for key, _ in sel.select(timeout=0.05):
            chunk = os.read(key.fileobj.fileno(), 65536)
            now = (time.perf_counter() - t0) * 1000
            if not chunk:
                sel.unregister(key.fileobj)
                continue
            buf = bufs[key.data] + chunk
            lines = buf.split(b"\n")
            bufs[key.data] = lines.pop()
            for raw in lines:
                line = raw.decode(errors="replace")
                if key.data == "felix":
                    logf.write("%10.1f ms  %s\n" % (now, line))
                    if grep.search(line) and len(timeline) < 40:
                        timeline.append((now, line))
                    continue
                if line.startswith("Deleted"):
                    continue
                m = ROUTE_RE.match(line)
                if m:
                    seen.add(m.group(1))
                    if first is None:
                        first = now
                    if len(seen) >= a.n and done is None:
                        done = now
        if felix.poll() is not None and done is None:
            felix_rc = felix.returncode
            break
    # Drain felix's stderr while we read the kernel back, so it never blocks on a full pipe.
    kr = subprocess.run(["ip", "route", "show", "proto", "81"], capture_output=True, text=True)
    kernel = sum(1 for r in kr.stdout.splitlines() if " dev tby" in r)
    blackholes = sum(1 for r in kr.stdout.splitlines() if r.startswith("blackhole"))
    mon.terminate()
    if felix.poll() is None:
        felix.send_signal(signal.SIGTERM)
        try:
            rest, _ = felix.communicate(timeout=15)
            for raw in (bufs["felix"] + (rest or b"")).split(b"\n"):
                if raw:
                    logf.write("%10s     %s\n" % ("(exit)", raw.decode(errors="replace")))
        except subprocess.TimeoutExpired:
            felix.kill()
            felix.wait()
    felix_rc = felix.returncode
    mon.wait()
    logf.close()
    for t, line in timeline[:10]:
        print("    felix log %8.1f ms: %s" % (t, line[:150]))
    print("RESULT total_ms=%s first_route_ms=%s routes=%d kernel_routes=%d blackholes=%d rc=%s"
          % ("%.1f" % done if done is not None else "TIMEOUT",
             "%.1f" % first if first is not None else "none", len(seen), kernel, blackholes,
             felix_rc), flush=True)
    sys.exit(0 if done is not None else 1)


if __name__ == "__main__":
    main()
