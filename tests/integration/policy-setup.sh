# Shared prologue of the policy tests (sourced): tools, a private etcd, and a one-host fabric
# tor <-veth-> h1 (eth0 198.18.0.11/24, default via the tor 198.18.0.1; the tor routes the pool
# 198.19.0.0/16 to h1). Sets FELIX, CTL, TOR, H and defines ectl/apply.
#   policy_setup EXTRA   EXTRA: one more address for the tor's th1 (CIDR), e.g. a "remote" source
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
need_root
command -v etcdctl >/dev/null || fail "etcdctl not installed"
FELIX=$T_BUILD/felix/tabby-felix
CTL=$T_BUILD/ctl/tabbyctl
[ -x "$FELIX" ] || fail "no $FELIX"
[ -x "$CTL" ] || fail "no $CTL"
ectl() { ETCDCTL_API=3 etcdctl --endpoints "$TABBY_DATASTORE_ENDPOINTS" "$@"; }
apply() { "$CTL" --datastore-endpoints "$TABBY_DATASTORE_ENDPOINTS" apply -f - >/dev/null; }

policy_setup() {
	etcd_start
	ns_add tor; TOR=$NS_LAST
	ns_add h1; H=$NS_LAST
	ip netns exec "$H" sysctl -qw net.ipv4.ip_forward=1
	ip -n "$H" link add eth0 type veth peer name th1 netns "$TOR"
	ip -n "$TOR" addr add 198.18.0.1/24 dev th1
	ip -n "$TOR" addr add "$1" dev th1
	ip -n "$TOR" link set th1 up
	ip -n "$TOR" link set lo up
	ip -n "$H" addr add 198.18.0.11/24 dev eth0
	ip -n "$H" link set eth0 up
	ip -n "$H" link set lo up
	ip -n "$H" route add default via 198.18.0.1 dev eth0
	ip -n "$TOR" route add 198.19.0.0/16 via 198.18.0.11
}

# h1_config BACKEND RESYNC_S [LINE...]: the pool 198.19.0.0/16 (blocks of /26) in etcd, and
# $T_TMP/felix.yaml for node h1 (198.18.0.11/24) on policy backend BACKEND with
# resyncIntervalSecs RESYNC_S, BIRD's files in $T_TMP, and each LINE appended.
h1_config() {
	ectl put /tabby/v1/ippools/default-ipv4-ippool \
		'{"apiVersion":"projectcalico.org/v3","kind":"IPPool","metadata":{"name":"default-ipv4-ippool"},"spec":{"cidr":"198.19.0.0/16","blockSize":26}}' >/dev/null
	{
		cat <<EOC
nodeName: h1
ipv4Address: 198.18.0.11/24
datastoreEndpoints: "$TABBY_TEST_ETCD_UNIX"
birdConfigFile: $T_TMP/bird.conf
birdSocket: $T_TMP/bird.ctl
resyncIntervalSecs: $2
policyDataplane: $1
EOC
		printf '%s\n' "${@:3}"
	} >"$T_TMP/felix.yaml"
}

# local_web: once felix (node h1) runs, the local workload "web" (namespace prod, app=web) by
# hand, as policy-lib.sh does, at the third address of felix's block, with a TCP server on
# WEB:80 that answers "x"; $T_TMP/conn.py DST PORT SRC is the probe (exit 0: answered).
# Sets WEB, WIF, WNS, MAC and defines wep().
#   wep KEY-NAME NODE IP LABELS PORTS IFNAME MAC   a WorkloadEndpoint in prod, through etcdctl
local_web() {
	check "felix claims a block" wait_for 20 bash -c "ETCDCTL_API=3 etcdctl --endpoints $TABBY_DATASTORE_ENDPOINTS get --prefix /tabby/v1/ipam/blocks/ | grep -q '\"host:h1\"'"
	local bk base
	bk=$(ectl get --prefix /tabby/v1/ipam/blocks/ | grep -B1 '"host:h1"' | grep '^/tabby' | head -1)
	base=$(basename "$bk" | sed 's/-[0-9]*$//')
	WEB=${base%.*}.$((${base##*.} + 2))
	WIF=tby$(printf '%s' "prod.web" | sha1sum | cut -c1-11)
	ns_add web; WNS=$NS_LAST
	ip -n "$H" link add "$WIF" type veth peer name eth0 netns "$WNS"
	ip -n "$H" link set "$WIF" address ee:ee:ee:ee:ee:ee up
	ip -n "$WNS" addr add "$WEB/32" dev eth0
	ip -n "$WNS" link set eth0 up
	ip -n "$WNS" link set lo up
	ip -n "$WNS" route add 169.254.1.1/32 dev eth0 scope link
	ip -n "$WNS" route add default via 169.254.1.1 dev eth0
	MAC=$(ip -n "$WNS" -o link show eth0 | sed -n 's/.*link\/ether \([0-9a-f:]*\).*/\1/p')
	wep h1-cni-000000000001-eth0 h1 "$WEB" '{"app":"web"}' '[]' "$WIF" "$MAC"
	wait_for 10 bash -c "ip -n $H route show $WEB/32 | grep -q proto"
	cat >"$T_TMP/srv.py" <<'EOP'
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2]))); s.listen(64); print("ready", flush=True)
while True:
    c, _ = s.accept(); c.sendall(b"x"); c.close()
EOP
	cat >"$T_TMP/conn.py" <<'EOP'
import socket, sys
s = socket.socket(); s.settimeout(1.0); s.bind((sys.argv[3], 0))
try:
    s.connect((sys.argv[1], int(sys.argv[2]))); sys.exit(0 if s.recv(1) == b"x" else 1)
except OSError: sys.exit(1)
EOP
	ip netns exec "$WNS" python3 "$T_TMP/srv.py" "$WEB" 80 >"$T_TMP/srv.log" 2>&1 &
	track_pid $!
	wait_for 5 grep -q ready "$T_TMP/srv.log"
}
wep() {
	ectl put "/tabby/v1/workloadendpoints/prod/$1" '{"apiVersion":"projectcalico.org/v3","kind":"WorkloadEndpoint","metadata":{"name":"'$1'","namespace":"prod","labels":'"$4"'},"spec":{"orchestrator":"cni","node":"'$2'","containerID":"'$1'","endpoint":"eth0","interfaceName":"'$6'","mac":"'$7'","ipNetworks":["'$3'/32"],"ports":'"$5"'}}' >/dev/null
}
