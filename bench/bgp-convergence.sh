#!/bin/bash
# bgp-convergence.sh [TRIALS=20] [FAIL_TRIALS=5] [TOPOLOGIES="mesh rr tor"] - BGP convergence
# in the lab's topologies (lab/tabby-lab up --topology T), real daemons throughout.
#
# 1. New block: time from a host claiming a new block to that block's route being in the kernel
#    of EVERY other host. A bench pool "bench-pool" 198.18.128.0/17 with blockSize 30 is added
#    after `up`; each trial runs the real IPAM plugin (tabby-ipam ADD, pool bench-pool) on the
#    claiming host when its bench blocks are full, so the ADD claims a new /30 (two-phase
#    affinity claim in etcd). Then felix sees the affinity through its watch, installs the
#    blackhole and re-renders bird.conf, BIRD exports the block, the peers (or reflector, or
#    FRR ToR) carry it and the other BIRDs install it. t0 = just before the plugin is exec'd;
#    t1 = the `ip -ts monitor route` timestamp of the block's route appearing in each other
#    host's namespace; a trial's figure is the latest of the hosts. The three other addresses
#    of the /30 are then filled (untimed) so the next trial claims again. The claiming host
#    is h1 (mesh, tor) or h3, a reflector client (rr: client -> both reflectors -> clients).
#    Hosts: 4 (mesh, rr), 3 (tor).
# 2. Failure detection (tor only, where the lab's BGPPeers carry BFD): SIGSTOP h1's BIRD (no
#    TCP close, just silence) and time until the ToR has withdrawn h1's block from h2's and
#    h3's kernels (`ip -ts monitor route` "Deleted"). With BFD (100 ms x 3) and with BFD
#    switched off in the BGPPeers (hold time 9 s, keepalive 3 s). After each trial: SIGCONT,
#    and wait until the block is back everywhere.
# Prints every trial, then p50/p99 (nearest rank; with 20 trials p99 is the maximum).
# Needs root, bird2, frr; the build tree in $TABBY_BUILD_DIR (default <source>/build-bench).
. "$(dirname "$0")/lib.sh"
TRIALS=${1:-20}
FAIL_TRIALS=${2:-5}
TOPOLOGIES=${3:-mesh rr tor}
b_need_root
b_need_bins "$FELIX" "$CNI_TABBY" "$CNI_IPAM" "$TABBYCTL"
LAB="$B_SRC/lab/tabby-lab"
export TABBY_BUILD_DIR=$BUILD TABBY_LAB_NO_INSTALL=1 TABBY_LAB_NO_BUILD=1
export TABBY_LAB_PREFIX="bc$$"
export TABBY_LAB_RUN="$B_TMP/lab"
LAB_OPTS=()
grep -q -- '--no-policy' "$LAB" && LAB_OPTS+=(--no-policy)

bgp_bench_cleanup() {
	if [ -e "$TABBY_LAB_RUN/.tabby-lab" ]; then
		for f in "$TABBY_LAB_RUN"/h*/bird.pid; do [ -s "$f" ] && kill -CONT "$(cat "$f")" 2>/dev/null; done
		"$LAB" down >/dev/null 2>&1
	fi
	b_cleanup
}
trap bgp_bench_cleanup EXIT

b_machine
echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)  build: $BUILD  trials=$TRIALS fail_trials=$FAIL_TRIALS"

ctl() { "$TABBYCTL" --datastore-endpoints "unix://$TABBY_LAB_RUN/etcd/etcd.sock:$(. "$TABBY_LAB_RUN/lab.env"; echo "$ETCD_PORT")" "$@"; }

# The measuring part: python3 with `ip -ts -o monitor route` readers per host namespace.
measure() {
	python3 - "$@" <<'EOF'
import datetime, ipaddress, json, os, queue, re, signal, subprocess, sys, threading, time

mode, prefix, run, build = sys.argv[1:5]
args = sys.argv[5:]

def hns(n): return f"{prefix}-h{n}"

class Monitor:
    """`ip -ts -o monitor route` in one namespace; lines with their ip timestamps."""
    def __init__(self, ns):
        self.q = queue.Queue()
        self.p = subprocess.Popen(["ip", "-n", ns, "-ts", "-o", "monitor", "route"],
                                  stdout=subprocess.PIPE, text=True, bufsize=1)
        threading.Thread(target=self.read, daemon=True).start()
    def read(self):
        for line in self.p.stdout:
            m = re.match(r"\[([0-9T:.-]+)\] (.*)", line)
            if m:
                self.q.put((datetime.datetime.fromisoformat(m.group(1)).timestamp(), m.group(2)))
    def wait(self, pred, timeout):
        end = time.time() + timeout
        while True:
            left = end - time.time()
            if left <= 0:
                return None
            try:
                ts, line = self.q.get(timeout=left)
            except queue.Empty:
                return None
            if pred(line):
                return ts
    def drain(self):
        while not self.q.empty():
            self.q.get_nowait()
    def stop(self):
        self.p.terminate(); self.p.wait()

def pct(v, p):
    s = sorted(v)
    k = max(0, min(len(s) - 1, -(-p * len(s) // 100) - 1))  # nearest rank
    return s[k]

def summary(label, v):
    print(f"  {label}: n={len(v)} p50={pct(v, 50):.1f} ms p99={pct(v, 99):.1f} ms "
          f"min={min(v):.1f} max={max(v):.1f} ms", flush=True)

def ipam_add(node, cid, conf):
    env = {"PATH": os.environ["PATH"], "CNI_COMMAND": "ADD", "CNI_CONTAINERID": cid,
           "CNI_NETNS": f"/run/netns/{hns(node)}", "CNI_IFNAME": "eth0",
           "CNI_PATH": f"{build}/cni"}
    t0 = time.time()
    out = subprocess.run(["ip", "netns", "exec", hns(node), f"{build}/cni/tabby-ipam"],
                         input=conf, env=env, capture_output=True, text=True)
    t_end = time.time()
    if out.returncode != 0:
        sys.exit(f"tabby-ipam ADD failed: {out.stdout} {out.stderr}")
    ip = json.loads(out.stdout)["ips"][0]["address"].split("/")[0]
    return t0, t_end, ip

if mode == "claim":
    hosts, claimer, trials, conf_file = int(args[0]), int(args[1]), int(args[2]), args[3]
    conf = open(conf_file).read()
    others = [n for n in range(1, hosts + 1) if n != claimer]
    mons = {n: Monitor(hns(n)) for n in others}
    time.sleep(0.5)
    res, adds = [], []
    seq = 0
    for t in range(trials):
        for m in mons.values(): m.drain()
        seq += 1
        t0, t_end, ip = ipam_add(claimer, f"bench{seq}", conf)
        block = str(ipaddress.ip_network(ip + "/30", strict=False))
        per = {}
        for n, m in mons.items():
            ts = m.wait(lambda l: l.startswith(block + " ") or l.startswith(f"{block} "), 30)
            if ts is None:
                sys.exit(f"trial {t+1}: {block} never reached h{n}")
            per[n] = (ts - t0) * 1000
        worst = max(per.values())
        res.append(worst); adds.append((t_end - t0) * 1000)
        print(f"  trial {t+1:2d}: block {block:18s} ipam ADD {adds[-1]:6.1f} ms, in every other "
              f"kernel after {worst:6.1f} ms (" + ", ".join(f"h{n} {v:.1f}" for n, v in sorted(per.items())) + ")", flush=True)
        for k in range(3):  # fill the rest of the /30, untimed
            seq += 1
            ipam_add(claimer, f"bench{seq}", conf)
        time.sleep(0.3)
    summary("claim -> route in every other host's kernel", res)
    summary("tabby-ipam ADD itself (the claim)", adds)
    for m in mons.values(): m.stop()

elif mode == "fail":
    label, trials, block = args[0], int(args[1]), args[2]
    pid = int(open(f"{run}/h1/bird.pid").read())
    mons = {n: Monitor(hns(n)) for n in (2, 3)}
    time.sleep(0.5)
    res = []
    def present(n):
        return subprocess.run(["ip", "-n", hns(n), "route", "show", block, "proto", "bird"],
                              capture_output=True, text=True).stdout.strip() != ""
    for t in range(trials):
        end = time.time() + 60
        while not (present(2) and present(3)):
            if time.time() > end: sys.exit("block never came back")
            time.sleep(0.1)
        time.sleep(1.0)
        for m in mons.values(): m.drain()
        t0 = time.time()
        os.kill(pid, signal.SIGSTOP)
        try:
            per = {}
            for n, m in mons.items():
                ts = m.wait(lambda l: l.startswith(f"Deleted {block} "), 60)
                if ts is None:
                    sys.exit(f"h{n} never withdrew {block}")
                per[n] = (ts - t0) * 1000
        finally:
            os.kill(pid, signal.SIGCONT)
        worst = max(per.values())
        res.append(worst)
        print(f"  {label} trial {t+1}: withdrawn everywhere after {worst:7.1f} ms ("
              + ", ".join(f"h{n} {v:.1f}" for n, v in sorted(per.items())) + ")", flush=True)
    summary(f"{label}: SIGSTOP -> block withdrawn from every other kernel", res)
    for m in mons.values(): m.stop()
EOF
}

bench_pool() {
	cat <<EOF | ctl apply -f - >/dev/null
apiVersion: projectcalico.org/v3
kind: IPPool
metadata:
  name: bench-pool
spec:
  cidr: 198.18.128.0/17
  blockSize: 30
  ipipMode: Never
  vxlanMode: Never
  nodeSelector: all()
EOF
}

for topo in $TOPOLOGIES; do
	case $topo in
	tor) hosts=3 claimer=1 ;;
	rr) hosts=4 claimer=3 ;;
	*) hosts=4 claimer=1 ;;
	esac
	echo
	echo "== topology $topo: $hosts hosts, claiming host h$claimer"
	"$LAB" up "${LAB_OPTS[@]}" --topology "$topo" --hosts "$hosts" --workloads 1 >"$B_TMP/up-$topo.log" 2>&1 ||
		{ cat "$B_TMP/up-$topo.log"; exit 1; }
	b_load
	bench_pool || { echo "cannot apply the bench pool"; exit 1; }
	python3 - "$TABBY_LAB_RUN/workloads/h$claimer-w1.conf" >"$B_TMP/bench.conf" <<'EOF'
import json, sys
c = json.load(open(sys.argv[1]))
c["ipam"]["ipv4_pools"] = ["bench-pool"]
json.dump(c, sys.stdout)
EOF
	sleep 2 # let any block felix claims for the new pool at once settle first
	measure claim "$TABBY_LAB_PREFIX" "$TABBY_LAB_RUN" "$BUILD" "$hosts" "$claimer" "$TRIALS" "$B_TMP/bench.conf" || exit 1
	if [ "$topo" = tor ] && [ "$FAIL_TRIALS" -gt 0 ]; then
		b1=$(ip -n "$TABBY_LAB_PREFIX-h1" route show proto 81 type blackhole | awk '{print $2}' | grep '^198\.19\.0\.' | head -1)
		echo "-- failure detection: SIGSTOP h1's BIRD, block $b1"
		measure fail "$TABBY_LAB_PREFIX" "$TABBY_LAB_RUN" "$BUILD" "BFD 100ms x3" "$FAIL_TRIALS" "$b1" || exit 1
		for n in 1 2 3; do
			cat <<EOF
---
apiVersion: projectcalico.org/v3
kind: BGPPeer
metadata:
  name: tor-h$n
spec:
  node: h$n
  peerIP: 198.18.1.$((2 * n - 2))
  asNumber: 65000
  keepaliveTime: 3s
  holdTime: 9s
EOF
		done | ctl apply -f - >/dev/null || { echo "cannot switch BFD off"; exit 1; }
		vtysh -N "$TABBY_LAB_PREFIX-tor" -c 'configure terminal' -c 'router bgp 65000' \
			-c 'no neighbor HOSTS bfd' >/dev/null 2>&1
		for n in 1 2 3; do
			for _ in $(seq 1 100); do grep -q 'bfd' "$TABBY_LAB_RUN/h$n/bird.conf" || break; sleep 0.1; done
		done
		sleep 12 # sessions restart after the change; let them settle
		measure fail "$TABBY_LAB_PREFIX" "$TABBY_LAB_RUN" "$BUILD" "hold time 9s, no BFD" "$FAIL_TRIALS" "$b1" || exit 1
	fi
	"$LAB" down >/dev/null 2>&1
done
