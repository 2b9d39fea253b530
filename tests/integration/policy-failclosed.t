#!/bin/bash
# Fail closed (issue 8 item 5), both policy backends: a GlobalNetworkPolicy denies TCP 81 to
# every app=fc workload and allows the rest. While felix runs, FC_N (24) new workloads come up
# one after the other through the REAL CNI plugin (tabby + tabby-ipam, as cni.t runs them). The
# CNI plugin routes each workload's /32 before felix has programmed its policy; a workload must
# not be reachable in that window.
#   - every workload netns listens on 0.0.0.0:81 and :82 BEFORE its CNI ADD (one server process,
#     setns() per netns), so a SYN that gets through at any moment is answered;
#   - a prober in the tor namespace (traffic forwarded by h1, as from a remote host) sends
#     non-blocking connects to ports 81 and 82 of every address of h1's IPAM block, a new SYN
#     every ~25 ms per address and port, from before the first ADD until the last workload is
#     reachable on 82 plus 2 s;
#   - NOT ONE connect to port 81 may succeed, and every workload must connect on 82 (the
#     allowed port, once programmed): this shows that the prober reaches the workloads and
#     would see a window if there was one. With a felix that does not fail closed, 81 connects.
# FC_BACKENDS="iptables nftables" (default: both, iptables first), FC_N: workloads per backend.
. "$(dirname "$0")/policy-setup.sh"
command -v nsenter >/dev/null || { echo "skipped: nsenter not installed"; exit 77; }
PLUGIN=$T_BUILD/cni/tabby
[ -x "$PLUGIN" ] && [ -x "$T_BUILD/cni/tabby-ipam" ] || fail "plugins not built in $T_BUILD/cni"
FELIX=${FC_FELIX:-$FELIX} # FC_FELIX: another felix binary (e.g. an old one, to see the test fail)
FC_N=${FC_N:-24}
FC_BACKENDS=${FC_BACKENDS:-iptables nftables}

policy_setup 198.18.0.2/24
ectl put /tabby/v1/ippools/default-ipv4-ippool \
	'{"apiVersion":"projectcalico.org/v3","kind":"IPPool","metadata":{"name":"default-ipv4-ippool"},"spec":{"cidr":"198.19.0.0/16","blockSize":26}}' >/dev/null

cat <<EOF | apply
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: deny-81}
spec:
  selector: app == 'fc'
  types: [Ingress]
  ingress:
  - action: Deny
    protocol: TCP
    destination: {ports: [81]}
  - action: Allow
EOF

# Listeners on 0.0.0.0:81 and :82 in each netns named on the command line (python 3.11 has no
# os.setns: libc's setns through ctypes); accepted connections are closed at once.
cat >"$T_TMP/srv.py" <<'EOP'
import ctypes, os, selectors, socket, sys
libc = ctypes.CDLL(None, use_errno=True)
sel = selectors.DefaultSelector()
for ns in sys.argv[1:]:
    fd = os.open("/run/netns/" + ns, os.O_RDONLY)
    if libc.setns(fd, 0x40000000) != 0:  # CLONE_NEWNET
        sys.exit("setns %s: %s" % (ns, os.strerror(ctypes.get_errno())))
    os.close(fd)
    for port in (81, 82):
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("0.0.0.0", port))
        s.listen(512)
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ)
print("ready", flush=True)
while True:
    for key, _ in sel.select():
        try:
            c, _ = key.fileobj.accept()
            c.close()
        except OSError:
            pass
EOP

# Prober: PREFIX (a.b.c.d/26) OUT STOPFILE. Writes "hit <ip> <port> <ms>" for every connect that
# succeeds (port 82: the first one per address only; port 81: every one) and "end <attempts>".
cat >"$T_TMP/probe.py" <<'EOP'
import errno, ipaddress, os, select, socket, sys, time
net = ipaddress.ip_network(sys.argv[1])
out = open(sys.argv[2], "w", buffering=1)
stop = sys.argv[3]
t0 = time.monotonic()
targets = [(str(a), p) for a in net for p in (81, 82)]
seen82 = set()
inflight = {}  # fd -> (sock, ip, port, started)
busy = set()
attempts = 0
ep = select.epoll()
while not os.path.exists(stop):
    now = time.monotonic()
    for ip, port in targets:
        if (ip, port) in busy or (port == 82 and ip in seen82):
            continue
        s = socket.socket()
        s.setblocking(False)
        e = s.connect_ex((ip, port))
        attempts += 1
        if e not in (0, errno.EINPROGRESS):
            s.close()
            continue
        inflight[s.fileno()] = (s, ip, port, now)
        busy.add((ip, port))
        ep.register(s.fileno(), select.EPOLLOUT)
    for fd, _ in ep.poll(0.005):
        s, ip, port, _ = inflight.pop(fd)
        ep.unregister(fd)
        busy.discard((ip, port))
        if s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0:
            if port == 81 or ip not in seen82:
                out.write("hit %s %d %d\n" % (ip, port, (time.monotonic() - t0) * 1000))
            if port == 82:
                seen82.add(ip)
        s.close()
    now = time.monotonic()
    for fd, (s, ip, port, started) in list(inflight.items()):
        if now - started > 0.025:  # abandon: the next round sends a new SYN
            del inflight[fd]
            ep.unregister(fd)
            busy.discard((ip, port))
            s.close()
out.write("end %d\n" % attempts)
EOP

cat >"$T_TMP/felix.yaml.in" <<EOC
nodeName: h1
ipv4Address: 198.18.0.11/24
datastoreEndpoints: "$TABBY_TEST_ETCD_UNIX"
birdConfigFile: $T_TMP/bird.conf
birdSocket: $T_TMP/bird.ctl
resyncIntervalSecs: 30
logSeverityScreen: Info
EOC
trap 'rc=$?; [ $rc = 0 ] || { echo "--- felix.log"; tail -30 "$T_TMP/felix.log"; }; t_cleanup' EXIT

LOG=$T_TMP/plugin.log
conf='{"cniVersion":"1.0.0","name":"tabbynet","type":"tabby","nodename":"h1","datastore_endpoints":"'$TABBY_TEST_ETCD_UNIX'","ipam":{"type":"tabby-ipam","ipv4_pools":["default-ipv4-ippool"]},"args":{"cni":{"labels":[{"key":"app","value":"fc"}]}}}'
cni_add() { # NETNS POD CONTAINERID -> the ADD result on stdout
	nsenter --net="/run/netns/$H" env -i PATH="$PATH" CNI_COMMAND=ADD CNI_CONTAINERID="$3" \
		CNI_NETNS="/run/netns/$1" CNI_IFNAME=eth0 CNI_PATH="$T_BUILD/cni" \
		CNI_ARGS="IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=$2" "$PLUGIN" \
		<<<"$conf" 2>>"$LOG"
}
result_ip() { python3 -c 'import json,sys; print(json.loads(sys.argv[1])["ips"][0]["address"].split("/")[0])' "$1"; }

# run_backend BACKEND: felix on BACKEND, FC_N CNI ADDs under the prober, the assertions.
run_backend() {
	local be=$1 i ns pods=() ips=() res srv prb block
	sed "\$apolicyDataplane: $be" "$T_TMP/felix.yaml.in" >"$T_TMP/felix.yaml"
	: >"$T_TMP/felix.log"
	TABBY_DATASTORE_ENDPOINTS=$TABBY_TEST_ETCD_UNIX ip netns exec "$H" "$FELIX" \
		--config "$T_TMP/felix.yaml" >>"$T_TMP/felix.log" 2>&1 &
	FELIX_PID=$!
	track_pid "$FELIX_PID"
	check "$be: felix applied the policy" wait_for 20 grep -q "policy applied ($be, full)" "$T_TMP/felix.log"
	check "$be: felix claims a block" wait_for 20 bash -c "ETCDCTL_API=3 etcdctl --endpoints $TABBY_DATASTORE_ENDPOINTS get --prefix /tabby/v1/ipam/blocks/ | grep -q '\"host:h1\"'"
	block=$(ectl get --prefix /tabby/v1/ipam/blocks/ | grep -B1 '"host:h1"' | grep '^/tabby' | head -1)
	block=$(basename "$block" | sed 's/-\([0-9]*\)$/\/\1/')

	for i in $(seq 1 "$FC_N"); do
		ns_add "$be-w$i"
		pods+=("$NS_LAST")
	done
	python3 "$T_TMP/srv.py" "${pods[@]}" >"$T_TMP/srv-$be.log" 2>&1 &
	srv=$!
	track_pid $srv
	check "$be: listeners on :81 and :82 in the $FC_N workload namespaces" wait_for 10 grep -q ready "$T_TMP/srv-$be.log"
	rm -f "$T_TMP/stop-$be"
	ip netns exec "$TOR" python3 "$T_TMP/probe.py" "$block" "$T_TMP/probe-$be.log" "$T_TMP/stop-$be" &
	prb=$!
	track_pid $prb
	sleep 0.5

	for i in $(seq 1 "$FC_N"); do
		res=$(cni_add "${pods[$((i - 1))]}" "fc-$be-$i" "$(printf 'fc%s%04d' "$be" "$i" | sha1sum | cut -c1-24)") ||
			{ tail -5 "$LOG"; fail "$be: CNI ADD #$i: $res"; }
		ips+=("$(result_ip "$res")")
	done
	ok "$be: $FC_N CNI ADDs while probing (${ips[0]} .. ${ips[$((FC_N - 1))]})"
	for ip in "${ips[@]}"; do
		wait_for 30 grep -q "^hit $ip 82 " "$T_TMP/probe-$be.log" ||
			fail "$be: $ip never connected on the allowed port 82 (prober cannot reach it?)"
	done
	ok "$be: every new workload connects on the allowed port 82 once programmed"
	sleep 2
	touch "$T_TMP/stop-$be"
	wait "$prb"
	local attempts hits
	attempts=$(sed -n 's/^end //p' "$T_TMP/probe-$be.log")
	hits=$(grep -c '^hit [0-9.]* 81 ' "$T_TMP/probe-$be.log")
	echo "# $be: $attempts connect attempts; first connect on 82 after ADD start:"
	grep '^hit [0-9.]* 82 ' "$T_TMP/probe-$be.log" | head -3 | sed 's/^/#   /'
	if [ "$hits" != 0 ]; then
		grep '^hit [0-9.]* 81 ' "$T_TMP/probe-$be.log" | head -10
		fail "$be: $hits connects to the denied port 81 got through (not fail closed)"
	fi
	ok "$be: not one of the connects to the denied port 81 got through"
	# one connect (0.5 s timeout) to :81 of every workload, all at once; prints those that connect
	local connected
	connected=$(ip netns exec "$TOR" python3 -c '
import socket, sys, threading
hit = []
def probe(ip):
    s = socket.socket(); s.settimeout(0.5)
    if s.connect_ex((ip, 81)) == 0:
        hit.append(ip)
    s.close()
ts = [threading.Thread(target=probe, args=(ip,)) for ip in sys.argv[1:]]
[t.start() for t in ts]
[t.join() for t in ts]
print(" ".join(hit))' "${ips[@]}") || fail "$be: the probe of port 81 on every workload did not run"
	for ip in $connected; do
		fail "$be: $ip:81 connects after programming"
	done
	ok "$be: port 81 still denied on every workload after programming"
	if [ "$be" = iptables ]; then
		check "$be: new workloads were applied as deltas (chains written, not full)" \
			grep -q "policy applied (iptables, incremental).*chains written [1-9]" "$T_TMP/felix.log"
		check "$be: no fallback to a full apply" bash -c "! grep -q 'incremental iptables update not possible' $T_TMP/felix.log"
	fi
	kill -TERM "$FELIX_PID"
	wait "$FELIX_PID"
	kill "$srv"
	cp "$T_TMP/felix.log" "$T_TMP/felix-$be.log"
}

for be in $FC_BACKENDS; do
	run_backend "$be"
done
summary
