# lab/lib/subnets.sh - `--topology subnets`, `--encap`, `--nat`, `nat on|off` and the outside
# namespace (sourced after common.sh and bgp.sh).
# shellcheck shell=bash
#
# Topology subnets: the hosts sit in two L3 subnets joined by a plain router namespace, as in a
# cloud VPC with two subnets. The router routes the host subnets and nothing else: it speaks no
# BGP and has no route to the pool.
#
#   <prefix>-rtr    ip_forward=1; bridge brA 198.18.1.1/24 (subnet A), bridge brB 198.18.2.1/24
#                   (subnet B), veth tout 198.18.200.1/24 to the outside; no other route
#   <prefix>-hN     hosts 1..ceil(N/2) in subnet A: eth0 198.18.1.(10+N)/24, default via 198.18.1.1
#                   the others in subnet B:          eth0 198.18.2.(10+N)/24, default via 198.18.2.1
#                   (3 hosts: h1 and h2 in A, h3 in B)
#   <prefix>-out    "the outside": eth0 198.18.200.10/24, a route to 198.18.0.0/16 (the host
#                   subnets) via the router and none to the pool 198.19.0.0/16; a TCP server on
#                   198.18.200.10:8080 answers every connection with "you are <source address>"
#
# BGP: felix's node-to-node mesh lists every other host. Its sessions are single hop (`direct`),
# so the hosts of one subnet peer with each other and the sessions across the router stay down;
# even if they came up, a host would learn the far host's block with a next hop that is not on
# its segment, which `gateway direct` does not install. Either way a host sends traffic for a
# block across the router to its default route, the router, which has no route to the pool and
# drops it (ICMP net unreachable). Workload pairs across the router therefore fail unless the
# pool encapsulates: `--encap vxlan` (vxlanMode Always) or `--encap crosssubnet` (vxlanMode
# CrossSubnet: VXLAN only towards hosts in the other subnet). `check` knows which pairs cross
# the router and what to expect of them.
#
# natOutgoing: the pool is created with natOutgoing false unless `up --nat`; `tabby-lab nat on|off`
# changes it through tabbyctl (get -o json, apply). `check` then connects to the outside server
# from w1 of every host: with natOutgoing on the connection must succeed and the server must see
# the host's address; with it off it must fail (the outside has no route back to the pool).
#
# Globals: ENCAP (none|vxlan|crosssubnet), NAT (0|1), saved in $RUN/subnets.env.

ENCAP=${ENCAP:-none}
NAT=${NAT:-0}
LAB_SUBNET_PREFIX=(198.18.1 198.18.2) # subnet A, subnet B (/24 each); the router is .1
LAB_OUTSIDE_PREFIX=198.18.200
LAB_OUTSIDE_IP=198.18.200.10
LAB_OUTSIDE_PORT=8080
LAB_OUTSIDE_TIMEOUT=2 # seconds a probe waits for the connection and the answer

rtr_ns() { echo "$PREFIX-rtr"; }
out_ns() { echo "$PREFIX-out"; }

# host_subnet N - 0 (subnet A) for hosts 1..ceil(HOSTS/2), 1 (subnet B) for the others.
host_subnet() { if [ "$1" -le $(((HOSTS + 1) / 2)) ]; then echo 0; else echo 1; fi; }
subnet_name() { if [ "$1" = 0 ]; then echo A; else echo B; fi; }
subnet_cidr() { echo "${LAB_SUBNET_PREFIX[$1]}.0/24"; }

# across_router N M - hN and hM are in different subnets of the subnets topology.
across_router() {
	[ "$TOPOLOGY" = subnets ] && [ "$(host_subnet "$1")" != "$(host_subnet "$2")" ]
}

# same_subnet_peers N - how many other hosts share hN's subnet.
same_subnet_peers() {
	local m c=0
	for m in $(seq 1 "$HOSTS"); do
		[ "$m" != "$1" ] && ! across_router "$1" "$m" && c=$((c + 1))
	done
	echo "$c"
}

encap_vxlan_mode() {
	case "$1" in
	vxlan) echo Always ;;
	crosssubnet) echo CrossSubnet ;;
	*) echo Never ;;
	esac
}

# subnets_parse_opt ARGS... - --encap and --nat of up/demo. Return: arguments taken (0 = not ours).
subnets_parse_opt() {
	case "$1" in
	--encap)
		ENCAP=${2:?--encap needs none, vxlan or crosssubnet}
		[[ $ENCAP =~ ^(none|vxlan|crosssubnet)$ ]] ||
			die "--encap must be none, vxlan or crosssubnet, got '$ENCAP'"
		return 2
		;;
	--nat)
		NAT=1
		return 1
		;;
	esac
	return 0
}

subnets_check_args() {
	if [ "$TOPOLOGY" = subnets ] && [ "$HOSTS" -lt 2 ]; then
		die "--topology subnets needs at least 2 hosts (one in each subnet)"
	fi
	return 0
}

subnets_save_state() {
	{
		printf 'ENCAP=%q\n' "$ENCAP"
		printf 'NAT=%q\n' "$NAT"
	} >"$RUN/subnets.env"
}

subnets_load_state() {
	# shellcheck disable=SC1091
	[ ! -f "$RUN/subnets.env" ] || . "$RUN/subnets.env"
	return 0
}

# write_pool_yaml FILE - configs/examples/ippool.yaml with the lab's vxlanMode and natOutgoing.
write_pool_yaml() {
	local nat=false
	[ "$NAT" != 1 ] || nat=true
	sed -e "s/^\([[:space:]]*vxlanMode:\).*/\1 $(encap_vxlan_mode "$ENCAP")/" \
		-e "s/^\([[:space:]]*natOutgoing:\).*/\1 $nat/" \
		"$LAB_SRC/configs/examples/ippool.yaml" >"$1"
}

# pool_apply - create the lab's pool. A build whose model refuses vxlanMode other than Never
# fails here, with tabbyctl's reason and what it means.
pool_apply() {
	local f="$RUN/ippool.yaml"
	write_pool_yaml "$f"
	if ! tabbyctl apply -f "$f" >"$RUN/tabbyctl-pool.log" 2>&1; then
		cat "$RUN/tabbyctl-pool.log" >>"$RUN/tabbyctl.log"
		[ "$ENCAP" = none ] || ! grep -q vxlanMode "$RUN/tabbyctl-pool.log" ||
			printf 'tabby-lab: --encap %s needs vxlanMode %s, which this build refused (see below): it has no VXLAN support\n' \
				"$ENCAP" "$(encap_vxlan_mode "$ENCAP")" >&2
		fail_step "tabbyctl apply -f $f" "$RUN/tabbyctl.log"
	fi
	cat "$RUN/tabbyctl-pool.log" >>"$RUN/tabbyctl.log"
}

# pool_field FIELD - a field of the lab pool's spec as the datastore has it now (false/Never when
# absent, as the model omits false booleans).
pool_field() {
	tabbyctl get ippool "$LAB_POOL_NAME" -o json 2>/dev/null | python3 -c '
import json, sys
d = json.load(sys.stdin)
if isinstance(d, dict) and "items" in d:
    d = d["items"][0]
v = d.get("spec", {}).get(sys.argv[1])
if v is None:
    v = {"natOutgoing": False, "vxlanMode": "Never"}.get(sys.argv[1], "")
print(str(v).lower() if isinstance(v, bool) else v)' "$1"
}

# lab_nat on|off - set natOutgoing of the lab's pool through tabbyctl, keeping the rest.
lab_nat() {
	local want f
	case "${1:-}" in
	on) want=true ;;
	off) want=false ;;
	*) die "nat needs on or off, got '${1:-}'" ;;
	esac
	f="$RUN/ippool-nat.json"
	tabbyctl get ippool "$LAB_POOL_NAME" -o json 2>>"$RUN/tabbyctl.log" | python3 -c '
import json, sys
d = json.load(sys.stdin)
if isinstance(d, dict) and "items" in d:
    d = d["items"][0]
d["spec"]["natOutgoing"] = sys.argv[1] == "true"
for k in ("resourceVersion", "uid", "creationTimestamp"):
    d.get("metadata", {}).pop(k, None)
json.dump(d, sys.stdout, indent=2)
print()' "$want" >"$f" || die "could not read IPPool $LAB_POOL_NAME (tabbyctl get; log $RUN/tabbyctl.log)"
	tabbyctl apply -f "$f" >>"$RUN/tabbyctl.log" 2>&1 ||
		die "tabbyctl apply -f $f failed: $(tail -n 3 "$RUN/tabbyctl.log")"
	NAT=0
	[ "$want" = false ] || NAT=1
	subnets_save_state
	say "IPPool $LAB_POOL_NAME: natOutgoing $want"
}

# topo_up_subnets - the router, the two host subnets, the outside.
topo_up_subnets() {
	local r o n h s br
	r=$(rtr_ns)
	o=$(out_ns)
	netns_add "$r" || return 1
	ip netns exec "$r" sysctl -qw net.ipv4.ip_forward=1 || return 1
	for s in 0 1; do
		br=br$(subnet_name "$s")
		ip -n "$r" link add "$br" type bridge || return 1
		ip -n "$r" addr add "${LAB_SUBNET_PREFIX[$s]}.1/24" dev "$br" || return 1
		ip -n "$r" link set "$br" up || return 1
	done
	for n in $(seq 1 "$HOSTS"); do
		h=$(host_ns "$n")
		s=$(host_subnet "$n")
		netns_add "$h" || return 1
		ip netns exec "$h" sysctl -qw net.ipv4.ip_forward=1 || return 1
		ip -n "$h" link add eth0 type veth peer name "th$n" netns "$r" || return 1
		ip -n "$r" link set "th$n" master "br$(subnet_name "$s")" up || return 1
		ip -n "$h" addr add "$(host_ip "$n")/24" dev eth0 || return 1
		ip -n "$h" link set eth0 up || return 1
		ip -n "$h" route add default via "$(host_gw "$n")" dev eth0 || return 1
	done
	netns_add "$o" || return 1
	ip -n "$o" link add eth0 type veth peer name tout netns "$r" || return 1
	ip -n "$r" addr add "$LAB_OUTSIDE_PREFIX.1/24" dev tout || return 1
	ip -n "$r" link set tout up || return 1
	ip -n "$o" addr add "$LAB_OUTSIDE_IP/24" dev eth0 || return 1
	ip -n "$o" link set eth0 up || return 1
	# the host subnets only: a reply to a pool address has no route here
	ip -n "$o" route add 198.18.0.0/16 via "$LAB_OUTSIDE_PREFIX.1" dev eth0 || return 1
}

write_outside_server() {
	cat >"$RUN/outside-server.py" <<'EOF'
# The lab's "outside" TCP server: answers every connection with the client's source address
# as it sees it, and logs it (tabby-lab, lib/subnets.sh).
import socket, sys

addr, port = sys.argv[1], int(sys.argv[2])
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((addr, port))
s.listen(64)
print("listening on", addr, port, flush=True)
while True:
    try:
        conn, peer = s.accept()
    except OSError:
        continue
    print("connection from", peer[0], flush=True)
    try:
        conn.sendall(("you are %s\n" % peer[0]).encode())
    except OSError:
        pass
    conn.close()
EOF
}

# outside_up - the TCP server in the outside namespace (recorded as pids/outside.pid; `down`
# stops every recorded PID before it deletes the namespaces).
outside_up() {
	[ "$TOPOLOGY" = subnets ] || return 0
	step "outside: TCP server on $LAB_OUTSIDE_IP:$LAB_OUTSIDE_PORT in $(out_ns) (no route to the pool)"
	write_outside_server
	ip netns exec "$(out_ns)" python3 "$RUN/outside-server.py" "$LAB_OUTSIDE_IP" "$LAB_OUTSIDE_PORT" \
		</dev/null >>"$RUN/outside.log" 2>&1 &
	record_pid outside $!
	wait_for 10 grep -q '^listening' "$RUN/outside.log" ||
		fail_step "the outside TCP server did not start" "$RUN/outside.log"
}

# outside_probe NETNS - connect to the outside server from NETNS: "reached <addr>" (the source
# address the server saw), "timeout", "refused" or "error:<reason>".
outside_probe() {
	ip netns exec "$1" python3 -c '
import socket, sys
s = socket.socket()
s.settimeout(float(sys.argv[3]))
try:
    s.connect((sys.argv[1], int(sys.argv[2])))
    line = s.makefile().readline().split()
    print("reached " + (line[2] if len(line) == 3 and line[0] == "you" else "?"))
except socket.timeout:
    print("timeout")
except ConnectionRefusedError:
    print("refused")
except OSError as e:
    print("error:" + (e.strerror or str(e)).replace(" ", "-"))
' "$LAB_OUTSIDE_IP" "$LAB_OUTSIDE_PORT" "$LAB_OUTSIDE_TIMEOUT" 2>/dev/null || echo "error:probe-failed"
}

# check_outside - from w1 of every host: with natOutgoing on, reached as the host's address; with
# it off, unreachable. One line per host, then one summary line. Return 1 on anything else.
check_outside() {
	local nat n got wl bad=0 good=0 dir
	nat=$(pool_field natOutgoing)
	say ""
	say "Outside: TCP to $LAB_OUTSIDE_IP:$LAB_OUTSIDE_PORT in $(out_ns) (beyond the router, no route to the pool); IPPool natOutgoing: ${nat:-?}"
	dir=$(mktemp -d "$RUN/outside.XXXXXX")
	local pids=() p
	for n in $(seq 1 "$HOSTS"); do
		[ -f "$RUN/workloads/$(wl_name "$n" 1).env" ] || continue
		outside_probe "$(wl_ns "$n" 1)" >"$dir/$n" &
		pids+=($!)
	done
	# the probes' PIDs only: under `demo` this shell's children include the lab's daemons
	for p in "${pids[@]}"; do wait "$p" || true; done
	for n in $(seq 1 "$HOSTS"); do
		wl=$(wl_name "$n" 1)
		[ -f "$dir/$n" ] || continue
		got=$(cat "$dir/$n")
		if [ "$nat" = true ]; then
			if [ "$got" = "reached $(host_ip "$n")" ]; then
				say "  outside: reached from $wl ($(wl_ip "$n" 1)) as $(host_ip "$n") (natOutgoing on) ok"
				good=$((good + 1))
			elif [[ $got == reached* ]]; then
				say "  outside: reached from $wl as ${got#reached } but expected h$n's address $(host_ip "$n") (natOutgoing on) FAIL"
				bad=$((bad + 1))
			else
				say "  outside: unreachable from $wl ($got) although natOutgoing is on FAIL"
				bad=$((bad + 1))
			fi
		else
			if [[ $got == reached* ]]; then
				say "  outside: reached from $wl as ${got#reached } although natOutgoing is off FAIL"
				bad=$((bad + 1))
			else
				say "  outside: unreachable from $wl ($got) (natOutgoing off) ok"
				good=$((good + 1))
			fi
		fi
	done
	rm -rf -- "$dir"
	if [ "$nat" = true ]; then
		say "outside: $good passed, $bad failed (natOutgoing on: every workload must reach it as its host's address)"
	else
		say "outside: $good passed, $bad failed (natOutgoing off: unreachable as expected, the outside has no route to the pool; turn it on with: $(lab_cmd) nat on)"
	fi
	[ "$bad" -eq 0 ]
}

# host_paths N - how hN routes to w1 of every other host: "h2 via 198.18.1.12 dev eth0,
# h3 via 198.19.0.191 dev vxlan.tabby (VXLAN)" (the router's address = the default route).
host_paths() {
	local m ip r out=""
	for m in $(seq 1 "$HOSTS"); do
		[ "$m" != "$1" ] || continue
		ip=$(wl_ip "$m" 1)
		[ -n "$ip" ] || continue
		r=$(ip -n "$(host_ns "$1")" route get "$ip" 2>&1 | head -n 1 |
			sed "s/^$ip //; s/ src [0-9.]*//; s/ uid [0-9]*//; s/  */ /g; s/ *\$//")
		case "$r" in
		*vxlan*) r+=" (VXLAN)" ;;
		*"via $(host_gw "$1") "*) r+=" (default: the router)" ;;
		esac
		out+="${out:+, }h$m $r"
	done
	echo "$out"
}

# why_across N IP - why hN cannot reach IP (a workload across the router) without
# encapsulation: the route hN takes for it, and what the router has for it.
why_across() {
	local h r
	h=$(ip -n "$(host_ns "$1")" route get "$2" 2>&1 | head -n 1 |
		sed "s/^$2 //; s/ src [0-9.]*//; s/ uid [0-9]*//; s/  */ /g; s/ *\$//")
	r=$(ip -n "$(rtr_ns)" route get "$2" 2>&1 | head -n 1 | sed 's/^RTNETLINK answers: //; s/ *$//')
	printf 'h%s routes it "%s" (no route learned across the router, so its default: the router); the router %s: "%s" (it has no route to the pool %s)' \
		"$1" "$h" "$(rtr_ns)" "$r" "$LAB_POOL_CIDR"
}
