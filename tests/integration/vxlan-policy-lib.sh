# Shared body of vxlan-policy-nft.t and vxlan-policy-ipt.t: Calico policy is still enforced on
# traffic that crosses hosts through VXLAN (issue 10), with the original workload addresses, on
# real packets. Two hosts in different L3 subnets (h1 198.18.1.2/24, h2 198.18.2.2/24) joined by a
# plain router namespace that has no route to the pool; the pool has vxlanMode Always, so every
# cross-host packet is encapsulated on vxlan.tabby. Workloads come from the real CNI plugin with
# labels (args.cni.labels): on h1 a client (role=client) and another (role=other), on h2 a server
# (role=server) answering on TCP 8080 and 8081 with the source address it sees.
#   srv-in  (GlobalNetworkPolicy, role == 'server', Ingress): allow TCP from role == 'client' to
#           8080, 8081; everything else into the server is denied -- enforced on h2, after
#           decapsulation, so it needs the inner (pod) source address.
#   cli-out (role == 'client', Egress): deny TCP to 8081, allow the rest -- enforced on h1, before
#           encapsulation.
# Source it with BACKEND=nftables|iptables set.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
need_root
command -v etcdctl >/dev/null || fail "etcdctl not installed"
FELIX=$T_BUILD/felix/tabby-felix
PLUGIN=$T_BUILD/cni/tabby
[ -x "$FELIX" ] || fail "no $FELIX"
[ -x "$PLUGIN" ] && [ -x "$T_BUILD/cni/tabby-ipam" ] || fail "plugins not built in $T_BUILD/cni"
modprobe vxlan 2>/dev/null
ip link add "vxt$$" type vxlan id 42 dstport 4789 nolearning 2>/dev/null || { echo "skipped: no VXLAN in this kernel"; exit 77; }
ip link del "vxt$$"
etcd_start
ectl() { ETCDCTL_API=3 etcdctl --endpoints "$TABBY_DATASTORE_ENDPOINTS" "$@"; }

ns_add r; R=$NS_LAST
ip netns exec "$R" sysctl -qw net.ipv4.ip_forward=1
declare -A HNS HADDR
HADDR[1]=198.18.1.2; HADDR[2]=198.18.2.2
for i in 1 2; do
	ns_add "h$i"; HNS[$i]=$NS_LAST
	ip netns exec "${HNS[$i]}" sysctl -qw net.ipv4.ip_forward=1
	ip -n "${HNS[$i]}" link add eth0 type veth peer name "rh$i" netns "$R"
	ip -n "${HNS[$i]}" addr add "${HADDR[$i]}/24" dev eth0
	ip -n "${HNS[$i]}" link set eth0 up
	ip -n "${HNS[$i]}" route add default via "198.18.$i.1" dev eth0
	ip -n "$R" addr add "198.18.$i.1/24" dev "rh$i"
	ip -n "$R" link set "rh$i" up
done

ectl put /tabby/v1/ippools/p1 '{"apiVersion":"projectcalico.org/v3","kind":"IPPool","metadata":{"name":"p1"},"spec":{"cidr":"198.19.0.0/24","blockSize":26,"vxlanMode":"Always"}}' >/dev/null
ectl put /tabby/v1/felixconfigurations/default \
	'{"apiVersion":"projectcalico.org/v3","kind":"FelixConfiguration","metadata":{"name":"default"},"spec":{"defaultEndpointToHostAction":"Accept"}}' >/dev/null

declare -A FPID
for i in 1 2; do
	cat >"$T_TMP/felix-h$i.yaml" <<EOC
nodeName: h$i
ipv4Address: ${HADDR[$i]}/24
datastoreEndpoints: "$TABBY_TEST_ETCD_UNIX"
birdConfigFile: $T_TMP/bird-h$i.conf
birdSocket: $T_TMP/bird-h$i.ctl
resyncIntervalSecs: 30
ipamGCIntervalSecs: 0
policyDataplane: $BACKEND
logSeverityScreen: Info
EOC
	TABBY_DATASTORE_ENDPOINTS=$TABBY_TEST_ETCD_UNIX ip netns exec "${HNS[$i]}" "$FELIX" \
		--config "$T_TMP/felix-h$i.yaml" >>"$T_TMP/felix-h$i.log" 2>&1 &
	FPID[$i]=$!
	track_pid "${FPID[$i]}"
done
trap 'rc=$?; [ $rc = 0 ] || for i in 1 2; do echo "--- felix-h$i.log"; tail -30 "$T_TMP/felix-h$i.log"; done; t_cleanup' EXIT
for i in 1 2; do
	check "h$i has vxlan.tabby" wait_for 30 bash -c "ip -n ${HNS[$i]} link show vxlan.tabby 2>/dev/null | grep -q UP"
done

add_workload() { # HOST NAME ROLE -> WNS, WIP
	local i=$1 name=$2 role=$3 out
	ns_add "$name"; WNS=$NS_LAST
	out=$(printf '{"cniVersion":"1.0.0","name":"tabbynet","type":"tabby","nodename":"h%s","datastore_endpoints":"%s","args":{"cni":{"labels":{"role":"%s"}}},"ipam":{"type":"tabby-ipam","ipv4_pools":["p1"]}}' \
		"$i" "$TABBY_TEST_ETCD_UNIX" "$role" |
		nsenter --net="/run/netns/${HNS[$i]}" env -i PATH="$PATH" CNI_COMMAND=ADD \
			CNI_CONTAINERID="vp-$name-0000000000" CNI_NETNS="/run/netns/$WNS" CNI_IFNAME=eth0 \
			CNI_PATH="$T_BUILD/cni" CNI_ARGS="IgnoreUnknown=1;K8S_POD_NAMESPACE=vx;K8S_POD_NAME=$name" \
			"$PLUGIN" 2>>"$T_TMP/cni.log") || { echo "$out"; fail "CNI ADD of $name on h$i"; }
	WIP=$(ip -n "$WNS" -4 -o addr show eth0 | awk '{print $4}' | cut -d/ -f1)
	ok "$name (role=$role) on h$i: $WIP"
}
add_workload 1 wc client; WC=$WNS; CIP=$WIP
add_workload 1 wo other; WO=$WNS; OIP=$WIP
add_workload 2 ws server; WS=$WNS; SIP=$WIP
for p in 8080 8081; do who_serve "$WS" "$SIP" "$p"; done
ask() { who_ask "$@"; }
sees() { [ "$(ask "$1" "$2" "$3")" = "$4" ]; } # NS DST PORT EXPECTED-SOURCE
fails() { ! ask "$1" "$2" "$3" >/dev/null; }

check "h1 routes the server's block through vxlan.tabby" wait_for 20 bash -c \
	"ip -n ${HNS[1]} route get $SIP | grep -q 'dev vxlan.tabby'"
check "no policy yet: the client reaches the server across the router" wait_for 20 sees "$WC" "$SIP" 8080 "$CIP"
check "no policy yet: the other workload reaches it too" sees "$WO" "$SIP" 8080 "$OIP"

gnp() { # NAME SPEC-JSON
	ectl put "/tabby/v1/globalnetworkpolicies/$1" \
		'{"apiVersion":"projectcalico.org/v3","kind":"GlobalNetworkPolicy","metadata":{"name":"'"$1"'"},"spec":'"$2"'}' >/dev/null
}
gnp srv-in '{"selector":"role == '"'server'"'","types":["Ingress"],"ingress":[{"action":"Allow","protocol":"TCP","source":{"selector":"role == '"'client'"'"},"destination":{"ports":[8080,8081]}}]}'
gnp cli-out '{"selector":"role == '"'client'"'","types":["Egress"],"egress":[{"action":"Deny","protocol":"TCP","destination":{"ports":[8081]}},{"action":"Allow"}]}'

backend_programmed() { # I: the policy is in the backend this test asked for, not the other
	if [ "$BACKEND" = nftables ]; then
		ip netns exec "${HNS[$1]}" nft list table inet tabby >/dev/null 2>&1 &&
			! ip netns exec "${HNS[$1]}" iptables-save 2>/dev/null | grep -q '^:tby'
	else
		ip netns exec "${HNS[$1]}" iptables-save 2>/dev/null | grep -q '^:tby' &&
			! ip netns exec "${HNS[$1]}" nft list table inet tabby >/dev/null 2>&1
	fi
}
for i in 1 2; do check "h$i programs policy with the $BACKEND backend" wait_for 20 backend_programmed "$i"; done
check "policy on h2 (ingress, after decapsulation): the other workload is denied" wait_for 20 fails "$WO" "$SIP" 8080
check "the client is allowed, and the server sees its pod address $CIP (not a tunnel address)" \
	wait_for 10 sees "$WC" "$SIP" 8080 "$CIP"
check "policy on h1 (egress, before encapsulation): the client's 8081 is denied" wait_for 20 fails "$WC" "$SIP" 8081
check "the denied flow was dropped by policy, not lost in the tunnel: 8080 still answers" sees "$WC" "$SIP" 8080 "$CIP"

# An edit flips the verdict on real encapsulated traffic, without a restart.
gnp srv-in '{"selector":"role == '"'server'"'","types":["Ingress"],"ingress":[{"action":"Allow","protocol":"TCP","source":{"selector":"role in {'"'client'"', '"'other'"'}"},"destination":{"ports":[8080,8081]}}]}'
check "edit (role in {client, other}): the other workload now passes, seen as $OIP" wait_for 20 sees "$WO" "$SIP" 8081 "$OIP"
check "edit: the client's egress deny of 8081 still holds" fails "$WC" "$SIP" 8081
ectl del /tabby/v1/globalnetworkpolicies/cli-out >/dev/null
check "cli-out deleted: the client reaches 8081" wait_for 20 sees "$WC" "$SIP" 8081 "$CIP"
for i in 1 2; do check "felix on h$i kept running" kill -0 "${FPID[$i]}"; done
summary
