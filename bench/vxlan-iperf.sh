#!/bin/bash
# iperf3 throughput through tabby's VXLAN (issue 10), side by side with a hand-made VXLAN, in one
# run; and the same-subnet path under vxlanMode CrossSubnet, side by side with a hand-made routed
# path, which must show no encapsulation cost.
#
#   tabby:     hosts h1 198.18.1.2/24, h3 198.18.1.3/24 (one subnet, a bridge in the router
#              namespace) and h2 198.18.2.2/24 (the other subnet) joined by a plain router
#              namespace with no route to the pool. tabby-felix on each host (BIRD on h1 and h3 for
#              the same-subnet routes), one workload per host through the real CNI plugin, no
#              policy. vxlan: w1 -> w2 (through vxlan.tabby); routed: w1 -> w3 under CrossSubnet
#              (BGP route, no encapsulation).
#   hand-made: the same namespaces and hops without tabby (no felix, no policy rules): endpoint
#              namespaces behind veths with proxy-ARP, a VXLAN device on hosts 1 and 2 (VNI 42,
#              port 4789, nolearning, static neighbour and FDB, MTU 1450), plain /32 routes
#              between hosts 1 and 3.
#
# Every figure is the median of RUNS iperf3 runs of SECS seconds each (single TCP stream),
# alternating tabby and hand-made runs so that machine load hits both alike. Lines:
#   FIGURE vxlan_tabby_gbps=.. vxlan_handmade_gbps=.. ratio=..
#   FIGURE routed_tabby_gbps=.. routed_handmade_gbps=.. ratio=..
#   FIGURE crosssubnet_same_subnet_encapsulated=no|YES
# Usage: BUILD=<build dir> [RUNS=3] [SECS=3] bash bench/vxlan-iperf.sh
. "$(dirname "$0")/lib.sh"
b_need_root
RUNS=${RUNS:-3}
SECS=${SECS:-3}
b_need_bins "$BUILD/felix/tabby-felix" "$BUILD/cni/tabby" "$BUILD/cni/tabby-ipam"
command -v iperf3 >/dev/null || { echo "iperf3 not installed (lab/install-deps installs it)"; exit 1; }
modprobe vxlan 2>/dev/null
b_machine
b_etcd_start
ectl() { ETCDCTL_API=3 etcdctl --endpoints "$ETCD_HTTP" "$@"; }

host_addr() { case $1 in 1) echo 198.18.1.2 ;; 2) echo 198.18.2.2 ;; 3) echo 198.18.1.3 ;; esac; }
# topo PREFIX: router + hosts 1, 3 on a bridge (198.18.1.0/24), host 2 on 198.18.2.0/24.
declare -A NS
topo() {
	local p=$1 i
	b_ns_add "$p-r"; NS[$p-r]=$NS_LAST
	ip netns exec "${NS[$p-r]}" sysctl -qw net.ipv4.ip_forward=1
	ip -n "${NS[$p-r]}" link add br0 type bridge
	ip -n "${NS[$p-r]}" addr add 198.18.1.1/24 dev br0
	ip -n "${NS[$p-r]}" link set br0 up
	for i in 1 2 3; do
		b_ns_add "$p-h$i"; NS[$p-h$i]=$NS_LAST
		ip netns exec "$NS_LAST" sysctl -qw net.ipv4.ip_forward=1
		ip -n "$NS_LAST" link add eth0 type veth peer name "rh$i" netns "${NS[$p-r]}"
		if [ "$i" = 2 ]; then
			ip -n "$NS_LAST" addr add 198.18.2.2/24 dev eth0
			ip -n "${NS[$p-r]}" addr add 198.18.2.1/24 dev rh2
		else
			ip -n "$NS_LAST" addr add "$(host_addr "$i")/24" dev eth0
			ip -n "${NS[$p-r]}" link set "rh$i" master br0
		fi
		ip -n "$NS_LAST" link set eth0 up
		ip -n "${NS[$p-r]}" link set "rh$i" up
		ip -n "$NS_LAST" route add default via "198.18.$([ "$i" = 2 ] && echo 2 || echo 1).1" dev eth0
	done
}

# --- tabby
topo t
pool() { ectl put /tabby/v1/ippools/p1 '{"apiVersion":"projectcalico.org/v3","kind":"IPPool","metadata":{"name":"p1"},"spec":{"cidr":"198.19.0.0/24","blockSize":26,"vxlanMode":"'"$1"'"}}' >/dev/null; }
pool Always
ectl put /tabby/v1/felixconfigurations/default \
	'{"apiVersion":"projectcalico.org/v3","kind":"FelixConfiguration","metadata":{"name":"default"},"spec":{"defaultEndpointToHostAction":"Accept"}}' >/dev/null
for i in 1 2 3; do
	cat >"$B_TMP/felix-h$i.yaml" <<EOC
nodeName: h$i
ipv4Address: $(host_addr "$i")/24
datastoreEndpoints: $ETCD_UNIX
birdConfigFile: $B_TMP/bird-h$i.conf
birdSocket: $B_TMP/bird-h$i.ctl
ipamGCIntervalSecs: 0
birdFastTimers: true
logSeverityScreen: Info
EOC
	ip netns exec "${NS[t-h$i]}" "$BUILD/felix/tabby-felix" --config "$B_TMP/felix-h$i.yaml" \
		>>"$B_TMP/felix-h$i.log" 2>&1 &
	b_track_pid $!
done
for i in 1 3; do
	b_wait_for 20 test -s "$B_TMP/bird-h$i.conf" || { echo "felix h$i wrote no bird.conf"; exit 1; }
	ip netns exec "${NS[t-h$i]}" bird -f -c "$B_TMP/bird-h$i.conf" -s "$B_TMP/bird-h$i.ctl" \
		</dev/null >>"$B_TMP/bird-h$i.out" 2>&1 &
	b_track_pid $!
done
declare -A WIP
for i in 1 2 3; do
	b_ns_add "t-w$i"; NS[t-w$i]=$NS_LAST
	printf '{"cniVersion":"1.0.0","name":"tabbynet","type":"tabby","nodename":"h%s","datastore_endpoints":"%s","ipam":{"type":"tabby-ipam","ipv4_pools":["p1"]}}' "$i" "$ETCD_UNIX" |
		nsenter --net="/run/netns/${NS[t-h$i]}" env -i PATH="$PATH" CNI_COMMAND=ADD \
			CNI_CONTAINERID="vxbench$i-000000000" CNI_NETNS="/run/netns/${NS[t-w$i]}" CNI_IFNAME=eth0 \
			CNI_PATH="$BUILD/cni" "$BUILD/cni/tabby" >/dev/null 2>>"$B_TMP/cni.log" ||
		{ echo "CNI ADD on h$i failed"; cat "$B_TMP/cni.log"; exit 1; }
	WIP[$i]=$(ip -n "${NS[t-w$i]}" -4 -o addr show eth0 | awk '{print $4}' | cut -d/ -f1)
done

# --- hand-made: the same hops without tabby. Endpoint namespaces e1, e2, e3 behind a veth on hosts
# 1, 2, 3 (a /32 each, default route via 169.254.1.1 answered by proxy-ARP, as a tabby workload);
# a VXLAN between hosts 1 and 2 (tunnel addresses 198.19.200.1/2, static neighbour and FDB, as felix
# programs them); a plain route between hosts 1 and 3 (same subnet).
topo m
for i in 1 2 3; do
	b_ns_add "m-e$i"; NS[m-e$i]=$NS_LAST
	ip -n "${NS[m-h$i]}" link add "ve$i" type veth peer name eth0 netns "${NS[m-e$i]}"
	ip -n "${NS[m-h$i]}" link set "ve$i" up
	ip netns exec "${NS[m-h$i]}" sysctl -qw "net.ipv4.conf.ve$i.proxy_arp=1"
	ip -n "${NS[m-h$i]}" route add "198.19.202.$i/32" dev "ve$i"
	ip -n "${NS[m-e$i]}" addr add "198.19.202.$i/32" dev eth0
	ip -n "${NS[m-e$i]}" link set eth0 up
	ip -n "${NS[m-e$i]}" route add 169.254.1.1/32 dev eth0 scope link
	ip -n "${NS[m-e$i]}" route add default via 169.254.1.1 dev eth0
done
for i in 1 2; do
	o=$((3 - i))
	ip -n "${NS[m-h$i]}" link add vx42 type vxlan id 42 dstport 4789 nolearning local "$(host_addr "$i")"
	ip -n "${NS[m-h$i]}" link set vx42 address "02:00:00:00:00:0$i" mtu 1450 up
	ip -n "${NS[m-h$i]}" addr add "198.19.200.$i/32" dev vx42
	ip -n "${NS[m-h$i]}" route add "198.19.202.$o/32" via "198.19.200.$o" dev vx42 onlink
	ip -n "${NS[m-h$i]}" neigh add "198.19.200.$o" lladdr "02:00:00:00:00:0$o" dev vx42 nud permanent
	ip netns exec "${NS[m-h$i]}" bridge fdb append "02:00:00:00:00:0$o" dev vx42 dst "$(host_addr "$o")" self permanent
done
ip -n "${NS[m-e1]}" link set eth0 mtu 1450
ip -n "${NS[m-e2]}" link set eth0 mtu 1450
ip -n "${NS[m-h1]}" route add 198.19.202.3/32 via 198.18.1.3 dev eth0
ip -n "${NS[m-h3]}" route add 198.19.202.1/32 via 198.18.1.2 dev eth0

# iperf3 servers (one per destination), then wait for connectivity.
serve() { # NS ADDR
	ip netns exec "$1" iperf3 -s -B "$2" >>"$B_TMP/iperf3-s.log" 2>&1 &
	b_track_pid $!
}
serve "${NS[t-w2]}" "${WIP[2]}"
serve "${NS[t-w3]}" "${WIP[3]}"
serve "${NS[m-e2]}" 198.19.202.2
serve "${NS[m-e3]}" 198.19.202.3
pings() { ip netns exec "$1" ping -c 1 -W 1 "$2"; }
b_wait_for 30 pings "${NS[t-w1]}" "${WIP[2]}" || { echo "tabby: w1 cannot reach w2 through VXLAN"; tail "$B_TMP"/felix-h1.log; exit 1; }
b_wait_for 10 pings "${NS[m-e1]}" 198.19.202.2 || { echo "hand-made VXLAN does not work"; exit 1; }
b_wait_for 10 pings "${NS[m-e1]}" 198.19.202.3 || { echo "hand-made routed path does not work"; exit 1; }

gbps() { # NS DST: one iperf3 run, Gbit/s received
	ip netns exec "$1" iperf3 -c "$2" -t "$SECS" -J 2>/dev/null |
		python3 -c 'import json,sys
try: print("%.2f" % (json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"] / 1e9))
except Exception: print("nan")'
}
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR + 1) / 2)]}'; }
pair() { # KEY TABBY-NS TABBY-DST HAND-NS HAND-DST
	local t=() m=() i
	for i in $(seq 1 "$RUNS"); do
		t+=("$(gbps "$2" "$3")")
		m+=("$(gbps "$4" "$5")")
	done
	local tm mm
	tm=$(median "${t[@]}"); mm=$(median "${m[@]}")
	echo "# $1 runs: tabby ${t[*]}; hand-made ${m[*]} (Gbit/s)"
	echo "FIGURE ${1}_tabby_gbps=$tm ${1}_handmade_gbps=$mm ratio=$(python3 -c "print('%.2f' % ($tm / $mm) if $mm == $mm and $mm > 0 else 'nan')" 2>/dev/null || echo nan)"
}

ip -n "${NS[t-h1]}" route get "${WIP[2]}" | grep -q vxlan.tabby || echo "# warning: w1 -> w2 is not routed through vxlan.tabby"
pair vxlan "${NS[t-w1]}" "${WIP[2]}" "${NS[m-e1]}" 198.19.202.2

pool CrossSubnet
b_wait_for 30 bash -c "ip -n ${NS[t-h1]} route get ${WIP[3]} | grep -q 'via 198.18.1.3 dev eth0'" ||
	{ echo "# warning: under CrossSubnet h1 does not route w3's block plainly via h3"
	  ip -n "${NS[t-h1]}" route | sed 's/^/#   /'
	  birdc -s "$B_TMP/bird-h1.ctl" show protocols | sed 's/^/#   /'; }
enc=no
ip -n "${NS[t-h1]}" route get "${WIP[3]}" | grep -q vxlan.tabby && enc=YES
b_wait_for 10 pings "${NS[t-w1]}" "${WIP[3]}" || echo "# warning: w1 cannot reach w3 under CrossSubnet"
pair routed "${NS[t-w1]}" "${WIP[3]}" "${NS[m-e1]}" 198.19.202.3
echo "FIGURE crosssubnet_same_subnet_encapsulated=$enc"
b_load
