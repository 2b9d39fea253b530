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
