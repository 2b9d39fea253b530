/* SPDX-License-Identifier: Apache-2.0 */
/**
 * DOC: workload plumbing
 *
 * The Calico-style L3 attachment of one workload, proven in the lab (shared/lab README section
 * 1): a veth pair whose host end has no address, MAC ee:ee:ee:ee:ee:ee and proxy-ARP on, so the
 * container's ARP for the link-local gateway 169.254.1.1 is answered by the host; the container
 * holds a /32 and a default route via 169.254.1.1; the host routes the /32 to the veth with our
 * route protocol and pins a permanent neighbour so the first packet needs no ARP.
 *
 * IPv6 is the same shape without proxying: the host end keeps IPv6 on and holds the EUI-64
 * link-local address of its fixed MAC, fe80::ecee:eeff:feee:eeee (Calico's next hop too), with
 * DAD off so it is usable as soon as the carrier comes up; the container holds a /128 (no DAD)
 * and "default via fe80::ecee:eeff:feee:eeee"; the host routes the /128 to the veth with our
 * route protocol and pins a permanent neighbour. A fixed next hop, rather than reading the host
 * end's address as Calico's plugin does, keeps the container's route the same on every host.
 *
 * Work inside the container goes through setns() into its netns, a netlink socket opened there
 * (a socket keeps the netns it was created in), and setns() back to the original netns fd.
 * Sysctls are written through /proc/sys/net, which follows the current netns (under nsenter,
 * /sys/class/net would not).
 */

#include <errno.h>
#include <fcntl.h>
#include <linux/if_addr.h>
#include <linux/if_arp.h>
#include <linux/neighbour.h>
#include <linux/rtnetlink.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <nettle/sha1.h>
#include <netlink/errno.h>
#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/link/veth.h>
#include <netlink/route/neighbour.h>
#include <netlink/route/route.h>

#include "cni/wl-plumb.h"
#include "lib/log.h"

static const uint8_t host_mac[6] = {0xee, 0xee, 0xee, 0xee, 0xee, 0xee};
static const uint8_t gateway_v4[4] = {169, 254, 1, 1};
/* fe80::ecee:eeff:feee:eeee: the modified EUI-64 link-local address of host_mac (RFC 4291
 * appendix A: the universal/local bit of 0xee flipped gives 0xec, ff:fe in the middle) */
static const uint8_t gateway_v6[16] = {0xfe, 0x80, 0,	 0,    0,    0,	   0,	 0,
				       0xec, 0xee, 0xee, 0xff, 0xfe, 0xee, 0xee, 0xee};
static const uint8_t zero_addr[16]; /* the default route's destination, either family */

static int errno_from_nlerr(int nlerr)
{
	switch (nlerr < 0 ? -nlerr : nlerr) {
	case 0:
		return 0;
	case NLE_EXIST:
		return -EEXIST;
	case NLE_NOMEM:
		return -ENOMEM;
	case NLE_OBJ_NOTFOUND:
	case NLE_NODEV:
		return -ENODEV;
	case NLE_PERM:
	case NLE_NOACCESS:
		return -EPERM;
	case NLE_BUSY:
		return -EBUSY;
	case NLE_INVAL:
	case NLE_RANGE:
		return -EINVAL;
	case NLE_AGAIN:
	case NLE_DUMP_INTR:
		return -EAGAIN;
	case NLE_OPNOTSUPP:
		return -EOPNOTSUPP;
	case NLE_AF_NOSUPPORT:
		return -EAFNOSUPPORT;
	case NLE_NOADDR:
		return -EADDRNOTAVAIL;
	default:
		return -EIO;
	}
}

static int nl_fail(int nlerr, const char *what)
{
	log_debug("netlink %s: %s", what, nl_geterror(nlerr));
	return errno_from_nlerr(nlerr);
}

/* NULL-safe _cleanup_ destructors for libnl objects, under our own names (lib/macro.h's
 * DEFINE_TRIVIAL_CLEANUP_FUNC would name them after libnl's functions). */
#define DEFINE_NL_CLEANUP(name, type, release) \
	static void name(type **p)             \
	{                                      \
		if (*p)                        \
			release(*p);           \
	}
DEFINE_NL_CLEANUP(sock_freep, struct nl_sock, nl_socket_free)
DEFINE_NL_CLEANUP(link_unrefp, struct rtnl_link, rtnl_link_put)
DEFINE_NL_CLEANUP(addr_unrefp, struct nl_addr, nl_addr_put)
DEFINE_NL_CLEANUP(route_unrefp, struct rtnl_route, rtnl_route_put)
DEFINE_NL_CLEANUP(rtaddr_unrefp, struct rtnl_addr, rtnl_addr_put)
DEFINE_NL_CLEANUP(neigh_unrefp, struct rtnl_neigh, rtnl_neigh_put)
DEFINE_NL_CLEANUP(cache_freep, struct nl_cache, nl_cache_free)

/* A NETLINK_ROUTE socket in the current netns (libnl opens it SOCK_CLOEXEC). */
static int sock_open(struct nl_sock **ret)
{
	_cleanup_(sock_freep) struct nl_sock *sk = nl_socket_alloc();
	int r;

	if (!sk)
		return -ENOMEM;
	r = nl_connect(sk, NETLINK_ROUTE);
	if (r < 0)
		return nl_fail(r, "connect");
	*ret = TAKE_PTR(sk);
	return 0;
}

static int netns_enter(int target_fd, int *ret_orig_fd)
{
	int orig = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	int r;

	if (orig < 0)
		return log_error_errno(-errno, "open own netns: %m");
	if (setns(target_fd, CLONE_NEWNET) < 0) {
		r = -errno;
		close(orig);
		return log_error_errno(r, "setns into the container netns: %m");
	}
	*ret_orig_fd = orig;
	return 0;
}

static int netns_leave(int orig_fd)
{
	int r = 0;

	if (setns(orig_fd, CLONE_NEWNET) < 0)
		r = log_error_errno(-errno, "setns back to the original netns: %m");
	close(orig_fd);
	return r;
}

static int sysctl_write(const char *path, const char *value)
{
	size_t len = strlen(value);
	ssize_t n;
	int fd, r = 0;

	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return log_error_errno(-errno, "open %s: %m", path);
	n = write(fd, value, len);
	if (n < 0)
		r = log_error_errno(-errno, "write %s: %m", path);
	else if ((size_t)n != len)
		r = log_error_errno(-EIO, "short write to %s", path);
	close(fd);
	return r;
}

static bool ifname_valid(const char *name)
{
	size_t n = name ? strlen(name) : 0;

	return n > 0 && n < WL_PLUMB_IFNAMSIZ && !strchr(name, '/') && strcmp(name, ".") != 0 &&
	       strcmp(name, "..") != 0;
}

static int link_ifindex(struct nl_sock *sk, const char *name, int *ret)
{
	_cleanup_(link_unrefp) struct rtnl_link *l = NULL;
	int r = rtnl_link_get_kernel(sk, 0, name, &l);

	if (r < 0)
		return errno_from_nlerr(r);
	*ret = rtnl_link_get_ifindex(l);
	return 0;
}

/* @a as a host prefix (/32 or /128). */
static int host_nladdr(const struct ip_addr *a, struct nl_addr **ret)
{
	unsigned bits = ip_addr_bits(a->family);
	struct nl_addr *n;

	if (!bits)
		return -EAFNOSUPPORT;
	n = nl_addr_build(a->family, a->bytes, bits / 8);
	if (!n)
		return -ENOMEM;
	nl_addr_set_prefixlen(n, bits);
	*ret = n;
	return 0;
}

/* At most one address of each family, each AF_INET or AF_INET6, and at least one. */
static bool addrs_valid(const struct ip_addr *addrs, size_t n)
{
	bool seen4 = false, seen6 = false;

	if (n < 1 || n > 2)
		return false;
	for (size_t i = 0; i < n; i++) {
		bool *seen = addrs[i].family == AF_INET	   ? &seen4
			     : addrs[i].family == AF_INET6 ? &seen6
							   : NULL;
		if (!seen || *seen)
			return false;
		*seen = true;
	}
	return true;
}

static bool addrs_have(const struct ip_addr *addrs, size_t n, int family)
{
	for (size_t i = 0; i < n; i++)
		if (addrs[i].family == family)
			return true;
	return false;
}

void wl_plumb_host_ifname(const char *workload_id, char ret[static WL_PLUMB_IFNAMSIZ])
{
	struct sha1_ctx ctx;
	uint8_t digest[SHA1_DIGEST_SIZE];
	int n = snprintf(ret, WL_PLUMB_IFNAMSIZ, "%s", WL_PLUMB_IFNAME_PREFIX);

	sha1_init(&ctx);
	sha1_update(&ctx, strlen(workload_id), (const uint8_t *)workload_id);
	sha1_digest(&ctx, sizeof(digest), digest);
	/* 11 hex characters = 5.5 bytes */
	for (int i = 0; i < 11; i++) {
		uint8_t b = digest[i / 2];
		ret[n++] = "0123456789abcdef"[(i % 2) ? (b & 0xf) : (b >> 4)];
	}
	ret[n] = '\0';
}

int wl_plumb_peer_ifname(const char *host_ifname, char ret[static WL_PLUMB_IFNAMSIZ])
{
	size_t plen = strlen(WL_PLUMB_IFNAME_PREFIX);

	if (!ifname_valid(host_ifname) || strncmp(host_ifname, WL_PLUMB_IFNAME_PREFIX, plen) != 0)
		return -EINVAL;
	snprintf(ret, WL_PLUMB_IFNAMSIZ, "%s%s", WL_PLUMB_PEER_PREFIX, host_ifname + plen);
	return 0;
}

static int link_delete(struct nl_sock *sk, const char *name, const char *owner)
{
	_cleanup_(link_unrefp) struct rtnl_link *l = NULL;
	const char *alias;
	int r;

	r = rtnl_link_get_kernel(sk, 0, name, &l);
	if (r == -NLE_OBJ_NOTFOUND || r == -NLE_NODEV)
		return 0;
	if (r < 0)
		return nl_fail(r, "get link");
	alias = rtnl_link_get_ifalias(l);
	if (owner && alias && *alias && strcmp(alias, owner) != 0) {
		log_info("veth %s belongs to container %s, not %s; leaving it", name, alias, owner);
		return 0;
	}
	r = rtnl_link_delete(sk, l);
	if (r == -NLE_OBJ_NOTFOUND || r == -NLE_NODEV)
		return 0;
	if (r < 0)
		return nl_fail(r, "delete link");
	return 1;
}

int wl_plumb_veth_delete(const char *host_ifname, const char *owner)
{
	_cleanup_(sock_freep) struct nl_sock *sk = NULL;
	int r;

	if (!ifname_valid(host_ifname))
		return -EINVAL;
	r = sock_open(&sk);
	if (r < 0)
		return r;
	r = link_delete(sk, host_ifname, owner);
	if (r < 0)
		return log_error_errno(r, "delete veth %s: %m", host_ifname);
	if (r > 0)
		log_debug("deleted veth %s", host_ifname);
	return r;
}

/* Apply the attributes set in @chg to link @name; @what names the change in errors. */
static int link_change(struct nl_sock *sk, const char *name, struct rtnl_link *chg,
		       const char *what)
{
	_cleanup_(link_unrefp) struct rtnl_link *old = NULL;
	int r;

	r = rtnl_link_get_kernel(sk, 0, name, &old);
	if (r < 0)
		return nl_fail(r, "get link");
	r = rtnl_link_change(sk, old, chg, 0);
	if (r < 0)
		return nl_fail(r, what);
	return 0;
}

static int link_set_alias(struct nl_sock *sk, const char *name, const char *alias)
{
	_cleanup_(link_unrefp) struct rtnl_link *chg = rtnl_link_alloc();

	if (!chg)
		return -ENOMEM;
	rtnl_link_set_ifalias(chg, alias);
	return link_change(sk, name, chg, "set ifalias");
}

static int host_sysctls(const char *ifname)
{
	static const struct {
		const char *dir;
		const char *knob;
		const char *value;
	} knobs[] = {
	    {"conf", "proxy_arp", "1"},	 {"neigh", "proxy_delay", "0"},
	    {"conf", "forwarding", "1"}, {"conf", "route_localnet", "1"},
	    {"conf", "rp_filter", "1"},
	};
	char path[128];
	int r;

	for (size_t i = 0; i < ELEMENTSOF(knobs); i++) {
		snprintf(path, sizeof(path), "/proc/sys/net/ipv4/%s/%s/%s", knobs[i].dir, ifname,
			 knobs[i].knob);
		r = sysctl_write(path, knobs[i].value);
		if (r < 0)
			return r;
	}
	return 0;
}

/* Write @value to /proc/sys/net/ipv6/conf/@ifname/@knob. */
static int sysctl6_write(const char *ifname, const char *knob, const char *value)
{
	char path[128];

	snprintf(path, sizeof(path), "/proc/sys/net/ipv6/conf/%s/%s", ifname, knob);
	return sysctl_write(path, value);
}

/* Whether the current netns has IPv6 (the kernel may be booted with ipv6.disable=1). */
static bool have_ipv6(const char *ifname)
{
	char path[128];

	snprintf(path, sizeof(path), "/proc/sys/net/ipv6/conf/%s", ifname);
	return access(path, F_OK) == 0;
}

/*
 * IPv6 on the host end, written before its carrier comes up (the peer is still down, so the
 * kernel has not generated the link-local address yet): EUI-64 address generation, so the
 * address is fe80::ecee:eeff:feee:eeee from the fixed MAC whatever
 * net.ipv6.conf.default.addr_gen_mode says; no DAD, so it is usable at once (the link is point
 * to point, the address cannot clash; Calico disables DAD on both ends); accept_ra=0 (Calico
 * sets it on every host veth). Nothing when the kernel has no IPv6.
 */
static int host_ipv6_prepare(const char *ifname)
{
	int r;

	if (!have_ipv6(ifname)) {
		log_debug("no IPv6 in this kernel: %s stays IPv4-only", ifname);
		return 0;
	}
	r = sysctl6_write(ifname, "accept_dad", "0");
	if (r >= 0)
		r = sysctl6_write(ifname, "addr_gen_mode", "0");
	if (r >= 0)
		r = sysctl6_write(ifname, "accept_ra", "0");
	return r;
}

/*
 * The host end of a workload with an IPv6 address, as Calico configures it: IPv6 enabled on it
 * (disable_ipv6=0, so it holds its link-local address, the container's next hop), proxy_ndp=1,
 * forwarding=1, accept_ra=0, and net.ipv6.conf.all.forwarding=1 (Linux forwards IPv6 only when
 * "all" says so; written only when it is not 1 yet, as the write walks every interface).
 */
static int host_ipv6_sysctls(const char *ifname)
{
	static const char *const knobs[][2] = {
	    {"disable_ipv6", "0"},
	    {"proxy_ndp", "1"},
	    {"forwarding", "1"},
	    {"accept_ra", "0"},
	};
	char cur[8] = "";
	int fd, r;

	if (!have_ipv6(ifname))
		return log_error_errno(-EAFNOSUPPORT, "%s: the kernel has no IPv6", ifname);
	for (size_t i = 0; i < ELEMENTSOF(knobs); i++) {
		r = sysctl6_write(ifname, knobs[i][0], knobs[i][1]);
		if (r < 0)
			return r;
	}
	fd = open("/proc/sys/net/ipv6/conf/all/forwarding", O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		ssize_t n = read(fd, cur, sizeof(cur) - 1);

		cur[n > 0 ? n : 0] = '\0';
		close(fd);
	}
	if (cur[0] != '1')
		return sysctl_write("/proc/sys/net/ipv6/conf/all/forwarding", "1");
	return 0;
}

int wl_plumb_veth_create(const char *host_ifname, const char *peer_ifname, int peer_netns_fd,
			 unsigned mtu, const char *owner, int *ret_host_ifindex)
{
	_cleanup_(sock_freep) struct nl_sock *sk = NULL;
	_cleanup_(link_unrefp) struct rtnl_link *link = NULL;
	_cleanup_(addr_unrefp) struct nl_addr *mac = NULL;
	struct rtnl_link *peer;
	int r, ifindex = 0;

	if (!ifname_valid(host_ifname) || !ifname_valid(peer_ifname))
		return -EINVAL;
	r = sock_open(&sk);
	if (r < 0)
		return r;

	/* A leftover of an earlier attachment with the same workload id (a repeated ADD or a
	 * crash) is replaced, as Calico does; its peer and routes go with it. */
	r = link_delete(sk, host_ifname, NULL);
	if (r < 0)
		return log_error_errno(r, "delete stale veth %s: %m", host_ifname);
	if (r > 0)
		log_info("replaced existing veth %s", host_ifname);

	link = rtnl_link_veth_alloc();
	mac = nl_addr_build(AF_LLC, host_mac, sizeof(host_mac));
	if (!link || !mac)
		return -ENOMEM;
	rtnl_link_set_name(link, host_ifname);
	rtnl_link_set_addr(link, mac);
	rtnl_link_set_flags(link, IFF_UP);
	peer = rtnl_link_veth_get_peer(link);
	rtnl_link_set_name(peer, peer_ifname);
	if (mtu) {
		/* both ends, in the create itself: the peer keeps it across the netns move */
		rtnl_link_set_mtu(link, mtu);
		rtnl_link_set_mtu(peer, mtu);
	}
	if (peer_netns_fd >= 0)
		rtnl_link_set_ns_fd(peer, peer_netns_fd);
	rtnl_link_put(peer);

	r = rtnl_link_add(sk, link, NLM_F_CREATE | NLM_F_EXCL);
	if (r < 0)
		return log_error_errno(nl_fail(r, "add veth"), "create veth %s/%s: %m", host_ifname,
				       peer_ifname);

	r = link_ifindex(sk, host_ifname, &ifindex);
	if (r < 0) {
		log_error_errno(r, "read back veth %s: %m", host_ifname);
		goto out_delete;
	}
	if (owner) {
		/* IFLA_IFALIAS is only honoured by a change, not by the create */
		r = link_set_alias(sk, host_ifname, owner);
		if (r < 0) {
			log_error_errno(r, "set ifalias of %s: %m", host_ifname);
			goto out_delete;
		}
	}
	r = host_sysctls(host_ifname);
	if (r >= 0)
		r = host_ipv6_prepare(host_ifname);
	if (r < 0)
		goto out_delete;

	log_debug("created veth %s (ifindex %d) <-> %s, mtu %u", host_ifname, ifindex, peer_ifname,
		  mtu);
	if (ret_host_ifindex)
		*ret_host_ifindex = ifindex;
	return 0;

out_delete:
	(void)link_delete(sk, host_ifname, NULL);
	return r;
}

static int link_set_up_and_name(struct nl_sock *sk, const char *name, const char *new_name)
{
	_cleanup_(link_unrefp) struct rtnl_link *chg = rtnl_link_alloc();

	if (!chg)
		return -ENOMEM;
	if (new_name && strcmp(new_name, name) != 0)
		rtnl_link_set_name(chg, new_name);
	rtnl_link_set_flags(chg, IFF_UP);
	return link_change(sk, name, chg, "change link");
}

static int route_replace(struct nl_sock *sk, int ifindex, struct nl_addr *dst,
			 struct nl_addr *gateway, uint8_t scope, uint8_t protocol)
{
	_cleanup_(route_unrefp) struct rtnl_route *rt = rtnl_route_alloc();
	struct rtnl_nexthop *nh = rtnl_route_nh_alloc();
	int r;

	if (!rt || !nh) {
		if (nh)
			rtnl_route_nh_free(nh);
		return -ENOMEM;
	}
	rtnl_route_set_family(rt, nl_addr_get_family(dst));
	rtnl_route_set_table(rt, RT_TABLE_MAIN);
	rtnl_route_set_type(rt, RTN_UNICAST);
	rtnl_route_set_scope(rt, scope);
	rtnl_route_set_protocol(rt, protocol);
	r = rtnl_route_set_dst(rt, dst);
	if (r < 0) {
		rtnl_route_nh_free(nh);
		return nl_fail(r, "route dst");
	}
	rtnl_route_nh_set_ifindex(nh, ifindex);
	if (gateway)
		rtnl_route_nh_set_gateway(nh, gateway);
	rtnl_route_add_nexthop(rt, nh); /* consumes nh */
	r = rtnl_route_add(sk, rt, NLM_F_CREATE | NLM_F_REPLACE);
	if (r < 0)
		return nl_fail(r, "add route");
	return 0;
}

/* One address on @ifindex: @addr/32 or @addr/128, the latter without DAD (IFA_F_NODAD: the
 * address comes from IPAM, nobody else on the veth can hold it). */
static int container_addr_add(struct nl_sock *sk, int ifindex, const struct ip_addr *addr)
{
	_cleanup_(rtaddr_unrefp) struct rtnl_addr *ra = rtnl_addr_alloc();
	_cleanup_(addr_unrefp) struct nl_addr *local = NULL;
	int r;

	if (!ra)
		return -ENOMEM;
	r = host_nladdr(addr, &local);
	if (r < 0)
		return r;
	rtnl_addr_set_ifindex(ra, ifindex);
	r = rtnl_addr_set_local(ra, local);
	if (r < 0)
		return nl_fail(r, "addr local");
	if (addr->family == AF_INET6)
		rtnl_addr_set_flags(ra, IFA_F_NODAD);
	r = rtnl_addr_add(sk, ra, NLM_F_CREATE | NLM_F_REPLACE);
	if (r < 0)
		return nl_fail(r, "add addr");
	return 0;
}

/* IPv4 routes of the container: 169.254.1.1/32 scope link and "default via 169.254.1.1". */
static int container_routes4(struct nl_sock *sk, int ifindex, const char *ifname)
{
	_cleanup_(addr_unrefp) struct nl_addr *gw = nl_addr_build(AF_INET, gateway_v4, 4);
	_cleanup_(addr_unrefp) struct nl_addr *gw32 = nl_addr_build(AF_INET, gateway_v4, 4);
	_cleanup_(addr_unrefp) struct nl_addr *any = nl_addr_build(AF_INET, zero_addr, 4);
	int r;

	if (!gw || !gw32 || !any)
		return -ENOMEM;
	nl_addr_set_prefixlen(gw32, 32);
	nl_addr_set_prefixlen(any, 0);
	r = route_replace(sk, ifindex, gw32, NULL, RT_SCOPE_LINK, RTPROT_BOOT);
	if (r < 0)
		return log_error_errno(r, "container: route %s/32 dev %s: %m", WL_PLUMB_GATEWAY,
				       ifname);
	r = route_replace(sk, ifindex, any, gw, RT_SCOPE_UNIVERSE, RTPROT_BOOT);
	if (r < 0)
		return log_error_errno(r, "container: default via %s dev %s: %m", WL_PLUMB_GATEWAY,
				       ifname);
	return 0;
}

/* IPv6 route of the container: "default via fe80::ecee:eeff:feee:eeee dev @ifname". A
 * link-local next hop needs no on-link route: the device names its link. */
static int container_routes6(struct nl_sock *sk, int ifindex, const char *ifname)
{
	_cleanup_(addr_unrefp) struct nl_addr *gw = nl_addr_build(AF_INET6, gateway_v6, 16);
	_cleanup_(addr_unrefp) struct nl_addr *any = nl_addr_build(AF_INET6, zero_addr, 16);
	int r;

	if (!gw || !any)
		return -ENOMEM;
	nl_addr_set_prefixlen(any, 0);
	r = route_replace(sk, ifindex, any, gw, RT_SCOPE_UNIVERSE, RTPROT_BOOT);
	if (r < 0)
		return log_error_errno(r, "container: default via %s dev %s: %m", WL_PLUMB_GATEWAY6,
				       ifname);
	return 0;
}

/*
 * The container's IPv6 sysctls, written while @peer_ifname is still down (Calico's CNI plugin
 * does the same): IPv6 enabled in the netns (disable_ipv6=0 for all, default and lo: a runtime
 * may create the netns with IPv6 off), no DAD on the container end (its addresses come from
 * IPAM; DAD would hold the /128 tentative for about a second), and forwarding off (the
 * workload is a host, not a router: Calico's default, allowIPForwarding false).
 */
static int container_ipv6_sysctls(const char *peer_ifname)
{
	static const char *const knobs[][3] = {
	    {"all", "disable_ipv6", "0"}, {"default", "disable_ipv6", "0"},
	    {"lo", "disable_ipv6", "0"},  {NULL, "disable_ipv6", "0"},
	    {NULL, "accept_dad", "0"},	  {"all", "forwarding", "0"},
	};
	int r;

	if (!have_ipv6("all"))
		return log_error_errno(-EAFNOSUPPORT, "container: the kernel has no IPv6");
	for (size_t i = 0; i < ELEMENTSOF(knobs); i++) {
		r = sysctl6_write(knobs[i][0] ?: peer_ifname, knobs[i][1], knobs[i][2]);
		if (r < 0)
			return r;
	}
	return 0;
}

static int container_configure(const char *peer_ifname, const char *ifname,
			       const struct ip_addr *addrs, size_t n_addrs,
			       char ret_mac[static WL_PLUMB_MAC_STRLEN], int *ret_ifindex)
{
	_cleanup_(sock_freep) struct nl_sock *sk = NULL;
	_cleanup_(link_unrefp) struct rtnl_link *link = NULL;
	char buf[IP_ADDR_STRLEN];
	struct nl_addr *lladdr;
	int r, ifindex = 0;

	if (addrs_have(addrs, n_addrs, AF_INET6)) {
		r = container_ipv6_sysctls(peer_ifname);
		if (r < 0)
			return r;
	}
	r = sock_open(&sk);
	if (r < 0)
		return r;
	r = link_set_up_and_name(sk, "lo", NULL);
	if (r < 0)
		return log_error_errno(r, "container: set lo up: %m");
	r = link_set_up_and_name(sk, peer_ifname, ifname);
	if (r < 0)
		return log_error_errno(r, "container: rename %s to %s and set it up: %m",
				       peer_ifname, ifname);
	r = rtnl_link_get_kernel(sk, 0, ifname, &link);
	if (r < 0)
		return log_error_errno(nl_fail(r, "get link"), "container: read %s: %m", ifname);
	ifindex = rtnl_link_get_ifindex(link);

	for (size_t i = 0; i < n_addrs; i++) {
		r = container_addr_add(sk, ifindex, &addrs[i]);
		if (r < 0)
			return log_error_errno(r, "container: add %s to %s: %m",
					       ip_addr_format(&addrs[i], buf), ifname);
		r = addrs[i].family == AF_INET ? container_routes4(sk, ifindex, ifname)
					       : container_routes6(sk, ifindex, ifname);
		if (r < 0)
			return r;
	}

	lladdr = rtnl_link_get_addr(link);
	if (!lladdr || nl_addr_get_len(lladdr) != 6)
		return log_error_errno(-EIO, "container: %s has no MAC", ifname);
	nl_addr2str(lladdr, ret_mac, WL_PLUMB_MAC_STRLEN);
	if (ret_ifindex)
		*ret_ifindex = ifindex;
	return 0;
}

int wl_plumb_container_setup(int netns_fd, const char *peer_ifname, const char *ifname,
			     const struct ip_addr *addrs, size_t n_addrs,
			     char ret_mac[static WL_PLUMB_MAC_STRLEN], int *ret_ifindex)
{
	char mac[WL_PLUMB_MAC_STRLEN] = "";
	int orig, r, ifindex = 0;

	if (!ifname_valid(peer_ifname) || !ifname_valid(ifname))
		return -EINVAL;
	if (!addrs_valid(addrs, n_addrs))
		return -EAFNOSUPPORT;
	r = netns_enter(netns_fd, &orig);
	if (r < 0)
		return r;
	r = container_configure(peer_ifname, ifname, addrs, n_addrs, mac, &ifindex);
	RET_GATHER(r, netns_leave(orig));
	if (r < 0)
		return r;
	memcpy(ret_mac, mac, WL_PLUMB_MAC_STRLEN);
	if (ret_ifindex)
		*ret_ifindex = ifindex;
	return 0;
}

int wl_plumb_link_mac(const char *ifname, char ret[static WL_PLUMB_MAC_STRLEN])
{
	_cleanup_(sock_freep) struct nl_sock *sk = NULL;
	_cleanup_(link_unrefp) struct rtnl_link *l = NULL;
	struct nl_addr *a;
	int r;

	if (!ifname_valid(ifname))
		return -EINVAL;
	r = sock_open(&sk);
	if (r < 0)
		return r;
	r = rtnl_link_get_kernel(sk, 0, ifname, &l);
	if (r < 0)
		return errno_from_nlerr(r);
	a = rtnl_link_get_addr(l);
	if (!a || nl_addr_get_len(a) != 6)
		return -EADDRNOTAVAIL;
	nl_addr2str(a, ret, WL_PLUMB_MAC_STRLEN);
	return 0;
}

int wl_plumb_host_route_add(const char *host_ifname, const struct ip_addr *addr,
			    const char *cont_mac)
{
	_cleanup_(sock_freep) struct nl_sock *sk = NULL;
	_cleanup_(addr_unrefp) struct nl_addr *dst = NULL;
	_cleanup_(addr_unrefp) struct nl_addr *ll = NULL;
	_cleanup_(neigh_unrefp) struct rtnl_neigh *n = NULL;
	bool v6 = addr->family == AF_INET6;
	int r, ifindex;

	if (!ifname_valid(host_ifname))
		return -EINVAL;
	r = host_nladdr(addr, &dst);
	if (r < 0)
		return r;
	r = nl_addr_parse(cont_mac, AF_LLC, &ll);
	if (r < 0 || nl_addr_get_len(ll) != 6)
		return -EINVAL;
	r = sock_open(&sk);
	if (r < 0)
		return r;
	r = link_ifindex(sk, host_ifname, &ifindex);
	if (r < 0)
		return log_error_errno(r, "host route: link %s: %m", host_ifname);
	if (v6) {
		r = host_ipv6_sysctls(host_ifname);
		if (r < 0)
			return r;
	}

	/* IPv6 routes have no scope (the kernel stores RT_SCOPE_UNIVERSE whatever is sent) */
	r = route_replace(sk, ifindex, dst, NULL, v6 ? RT_SCOPE_UNIVERSE : RT_SCOPE_LINK,
			  TABBY_ROUTE_PROTO);
	if (r < 0)
		return log_error_errno(r, "host route to %s: %m", host_ifname);

	n = rtnl_neigh_alloc();
	if (!n)
		return -ENOMEM;
	rtnl_neigh_set_ifindex(n, ifindex);
	rtnl_neigh_set_family(n, addr->family);
	r = rtnl_neigh_set_dst(n, dst);
	if (r < 0)
		return nl_fail(r, "neigh dst");
	rtnl_neigh_set_lladdr(n, ll);
	rtnl_neigh_set_state(n, NUD_PERMANENT);
	r = rtnl_neigh_add(sk, n, NLM_F_CREATE | NLM_F_REPLACE);
	if (r < 0)
		return log_error_errno(nl_fail(r, "add neigh"), "host neighbour on %s: %m",
				       host_ifname);
	return 0;
}

/* RTM_GETADDR for the IPv6 addresses of @ifindex only: the kernel filters by ifa_index when
 * the socket asks for strict checking (NETLINK_GET_STRICT_CHK, Linux 4.20), so the dump does
 * not grow with the number of workloads; an older kernel ignores the option and dumps all,
 * which the caller filters too. */
static int addr6_dump(struct nl_sock *sk, int ifindex, struct nl_cache **ret)
{
	_cleanup_(cache_freep) struct nl_cache *cache = NULL;
	struct ifaddrmsg ifa = {.ifa_family = AF_INET6, .ifa_index = (unsigned)ifindex};
	int one = 1, r;

	(void)setsockopt(nl_socket_get_fd(sk), SOL_NETLINK, NETLINK_GET_STRICT_CHK, &one,
			 sizeof(one));
	r = nl_cache_alloc_name("route/addr", &cache);
	if (r < 0)
		return nl_fail(r, "alloc addr cache");
	r = nl_send_simple(sk, RTM_GETADDR, NLM_F_DUMP, &ifa, sizeof(ifa));
	if (r >= 0)
		r = nl_cache_pickup(sk, cache);
	/* off again: libnl's own dump requests (rtgenmsg headers) fail strict checking */
	one = 0;
	(void)setsockopt(nl_socket_get_fd(sk), SOL_NETLINK, NETLINK_GET_STRICT_CHK, &one,
			 sizeof(one));
	if (r < 0)
		return nl_fail(r, "dump addresses");
	*ret = TAKE_PTR(cache);
	return 0;
}

/* The state of fe80::ecee:eeff:feee:eeee on @ifindex: 1 usable, 0 absent, -EINPROGRESS
 * tentative (DAD running), -EADDRNOTAVAIL DAD failed. */
static int gateway6_state(struct nl_cache *addrs, int ifindex)
{
	for (struct nl_object *o = nl_cache_get_first(addrs); o; o = nl_cache_get_next(o)) {
		struct rtnl_addr *a = (struct rtnl_addr *)o;
		struct nl_addr *local = rtnl_addr_get_local(a);
		unsigned flags = rtnl_addr_get_flags(a);

		if (rtnl_addr_get_ifindex(a) != ifindex || rtnl_addr_get_family(a) != AF_INET6 ||
		    !local || nl_addr_get_len(local) != 16 ||
		    memcmp(nl_addr_get_binary_addr(local), gateway_v6, 16) != 0)
			continue;
		if (flags & IFA_F_DADFAILED)
			return -EADDRNOTAVAIL;
		if (flags & IFA_F_TENTATIVE)
			return -EINPROGRESS;
		return 1;
	}
	return 0;
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

int wl_plumb_host_gateway6_wait(const char *host_ifname, unsigned timeout_ms)
{
	_cleanup_(sock_freep) struct nl_sock *sk = NULL;
	uint64_t deadline = now_ms() + timeout_ms;
	int r, ifindex, state;

	if (!ifname_valid(host_ifname))
		return -EINVAL;
	r = sock_open(&sk);
	if (r < 0)
		return r;
	r = link_ifindex(sk, host_ifname, &ifindex);
	if (r < 0)
		return r;
	for (unsigned tries = 0;; tries++) {
		_cleanup_(cache_freep) struct nl_cache *addrs = NULL;

		r = addr6_dump(sk, ifindex, &addrs);
		if (r < 0)
			return r;
		state = gateway6_state(addrs, ifindex);
		if (state == 1) {
			if (tries)
				log_debug("%s: %s usable after %u polls", host_ifname,
					  WL_PLUMB_GATEWAY6, tries);
			return 0;
		}
		if (state == -EADDRNOTAVAIL)
			return log_error_errno(state, "%s: DAD failed for %s", host_ifname,
					       WL_PLUMB_GATEWAY6);
		if (now_ms() >= deadline)
			return log_error_errno(-ETIMEDOUT, "%s: %s %s after %u ms", host_ifname,
					       WL_PLUMB_GATEWAY6,
					       state ? "still tentative" : "missing", timeout_ms);
		/* the kernel adds it from a work queue once the carrier is up: poll briefly */
		nanosleep(&(struct timespec){.tv_nsec = 2 * 1000 * 1000}, NULL);
	}
}

static bool nladdr_is(const struct nl_addr *a, const uint8_t *bytes, unsigned len,
		      unsigned prefixlen)
{
	if (!a)
		return len == 0 && prefixlen == 0;
	if (nl_addr_get_prefixlen(a) != prefixlen)
		return false;
	if (prefixlen == 0)
		return true;
	return nl_addr_get_len(a) == len && memcmp(nl_addr_get_binary_addr(a), bytes, len) == 0;
}

/* Does @cache hold a main-table @family route to @dst/@plen via @ifindex (and @gw when not
 * NULL) with protocol @proto (-1 = any)? */
static bool route_present(struct nl_cache *cache, int family, const uint8_t *dst, unsigned plen,
			  int ifindex, const uint8_t *gw, int proto)
{
	unsigned len = ip_addr_bits(family) / 8;

	for (struct nl_object *o = nl_cache_get_first(cache); o; o = nl_cache_get_next(o)) {
		struct rtnl_route *rt = (struct rtnl_route *)o;
		struct rtnl_nexthop *nh;

		if (rtnl_route_get_table(rt) != RT_TABLE_MAIN ||
		    rtnl_route_get_family(rt) != family)
			continue;
		if (!nladdr_is(rtnl_route_get_dst(rt), dst, len, plen))
			continue;
		if (proto >= 0 && rtnl_route_get_protocol(rt) != proto)
			continue;
		if (rtnl_route_get_nnexthops(rt) != 1)
			continue;
		nh = rtnl_route_nexthop_n(rt, 0);
		if (rtnl_route_nh_get_ifindex(nh) != ifindex)
			continue;
		if (gw && !nladdr_is(rtnl_route_nh_get_gateway(nh), gw, len, len * 8))
			continue;
		return true;
	}
	return false;
}

/* The interface of the main table's IPv4 default route with the lowest metric, or 0. */
static int default_route_ifindex(struct nl_cache *routes)
{
	uint32_t best_prio = 0;
	int best = 0;

	for (struct nl_object *o = nl_cache_get_first(routes); o; o = nl_cache_get_next(o)) {
		struct rtnl_route *rt = (struct rtnl_route *)o;
		int ifindex;

		if (rtnl_route_get_table(rt) != RT_TABLE_MAIN ||
		    rtnl_route_get_family(rt) != AF_INET ||
		    rtnl_route_get_type(rt) != RTN_UNICAST ||
		    !nladdr_is(rtnl_route_get_dst(rt), NULL, 0, 0) ||
		    rtnl_route_get_nnexthops(rt) < 1)
			continue;
		ifindex = rtnl_route_nh_get_ifindex(rtnl_route_nexthop_n(rt, 0));
		if (ifindex > 0 && (!best || rtnl_route_get_priority(rt) < best_prio)) {
			best = ifindex;
			best_prio = rtnl_route_get_priority(rt);
		}
	}
	return best;
}

/* The interface holding the IPv4 address @a (any prefix length), or 0. */
static int addr_ifindex(struct nl_cache *addrs, const struct ip_addr *a)
{
	for (struct nl_object *o = nl_cache_get_first(addrs); o; o = nl_cache_get_next(o)) {
		struct rtnl_addr *ra = (struct rtnl_addr *)o;
		struct nl_addr *local = rtnl_addr_get_local(ra);

		if (rtnl_addr_get_family(ra) == AF_INET && local && nl_addr_get_len(local) == 4 &&
		    memcmp(nl_addr_get_binary_addr(local), a->bytes, 4) == 0)
			return rtnl_addr_get_ifindex(ra);
	}
	return 0;
}

int wl_plumb_host_mtu(const struct ip_addr *node_addr, unsigned *ret_mtu,
		      char ret_ifname[WL_PLUMB_IFNAMSIZ])
{
	_cleanup_(sock_freep) struct nl_sock *sk = NULL;
	_cleanup_(cache_freep) struct nl_cache *routes = NULL;
	_cleanup_(cache_freep) struct nl_cache *addrs = NULL;
	_cleanup_(link_unrefp) struct rtnl_link *link = NULL;
	int r, ifindex;

	r = sock_open(&sk);
	if (r < 0)
		return r;
	r = rtnl_route_alloc_cache(sk, AF_INET, 0, &routes);
	if (r < 0)
		return nl_fail(r, "dump routes");
	ifindex = default_route_ifindex(routes);
	if (!ifindex && node_addr && node_addr->family == AF_INET) {
		r = rtnl_addr_alloc_cache(sk, &addrs);
		if (r < 0)
			return nl_fail(r, "dump addresses");
		ifindex = addr_ifindex(addrs, node_addr);
	}
	if (!ifindex)
		return -ENOENT;
	r = rtnl_link_get_kernel(sk, ifindex, NULL, &link);
	if (r < 0)
		return nl_fail(r, "get link");
	if (rtnl_link_get_mtu(link) == 0)
		return -ENOENT;
	*ret_mtu = rtnl_link_get_mtu(link);
	if (ret_ifname)
		snprintf(ret_ifname, WL_PLUMB_IFNAMSIZ, "%s", rtnl_link_get_name(link));
	return 0;
}

/* Does @addrs (a cache) hold @addr as a host prefix on @ifindex? */
static bool addr_present(struct nl_cache *addrs, int ifindex, const struct ip_addr *addr)
{
	unsigned bits = ip_addr_bits(addr->family);

	for (struct nl_object *o = nl_cache_get_first(addrs); o; o = nl_cache_get_next(o)) {
		struct rtnl_addr *a = (struct rtnl_addr *)o;

		if (rtnl_addr_get_ifindex(a) == ifindex &&
		    rtnl_addr_get_family(a) == addr->family &&
		    nladdr_is(rtnl_addr_get_local(a), addr->bytes, bits / 8, bits))
			return true;
	}
	return false;
}

static int container_check(const char *ifname, const struct ip_addr *addrs, size_t n_addrs,
			   unsigned mtu, char *why, size_t why_len)
{
	_cleanup_(sock_freep) struct nl_sock *sk = NULL;
	_cleanup_(cache_freep) struct nl_cache *cache = NULL;
	_cleanup_(link_unrefp) struct rtnl_link *link = NULL;
	char buf[IP_ADDR_STRLEN];
	int r, ifindex;

	r = sock_open(&sk);
	if (r < 0)
		return r;
	r = rtnl_link_get_kernel(sk, 0, ifname, &link);
	if (r == -NLE_OBJ_NOTFOUND || r == -NLE_NODEV) {
		snprintf(why, why_len, "container interface %s missing", ifname);
		return -ENOENT;
	}
	if (r < 0)
		return nl_fail(r, "get link");
	ifindex = rtnl_link_get_ifindex(link);
	if (rtnl_link_get_mtu(link) != mtu) {
		snprintf(why, why_len, "container interface %s has mtu %u, expected %u", ifname,
			 rtnl_link_get_mtu(link), mtu);
		return -ENOENT;
	}
	r = rtnl_addr_alloc_cache(sk, &cache);
	if (r < 0)
		return nl_fail(r, "dump addresses");
	for (size_t i = 0; i < n_addrs; i++)
		if (!addr_present(cache, ifindex, &addrs[i])) {
			snprintf(why, why_len, "container interface %s lacks %s/%u", ifname,
				 ip_addr_format(&addrs[i], buf), ip_addr_bits(addrs[i].family));
			return -ENOENT;
		}
	for (size_t i = 0; i < n_addrs; i++) {
		_cleanup_(cache_freep) struct nl_cache *routes = NULL;
		bool v6 = addrs[i].family == AF_INET6;

		r = rtnl_route_alloc_cache(sk, addrs[i].family, 0, &routes);
		if (r < 0)
			return nl_fail(r, "dump routes");
		if (!route_present(routes, addrs[i].family, NULL, 0, ifindex,
				   v6 ? gateway_v6 : gateway_v4, -1)) {
			snprintf(why, why_len, "container %s default route via %s dev %s missing",
				 v6 ? "IPv6" : "IPv4", v6 ? WL_PLUMB_GATEWAY6 : WL_PLUMB_GATEWAY,
				 ifname);
			return -ENOENT;
		}
	}
	return 0;
}

/* The host end's routes (and, for IPv6, its link-local next hop) of every address. */
static int host_check(struct nl_sock *sk, const char *host_ifname, int ifindex,
		      const struct ip_addr *addrs, size_t n_addrs, char *why, size_t why_len)
{
	char buf[IP_ADDR_STRLEN];
	int r;

	for (size_t i = 0; i < n_addrs; i++) {
		_cleanup_(cache_freep) struct nl_cache *routes = NULL;
		unsigned bits = ip_addr_bits(addrs[i].family);

		r = rtnl_route_alloc_cache(sk, addrs[i].family, 0, &routes);
		if (r < 0)
			return nl_fail(r, "dump routes");
		if (!route_present(routes, addrs[i].family, addrs[i].bytes, bits, ifindex, NULL,
				   TABBY_ROUTE_PROTO)) {
			snprintf(why, why_len, "host route %s/%u dev %s proto %d missing",
				 ip_addr_format(&addrs[i], buf), bits, host_ifname,
				 TABBY_ROUTE_PROTO);
			return -ENOENT;
		}
		if (addrs[i].family == AF_INET6) {
			_cleanup_(cache_freep) struct nl_cache *cache = NULL;

			r = addr6_dump(sk, ifindex, &cache);
			if (r < 0)
				return r;
			if (gateway6_state(cache, ifindex) != 1) {
				snprintf(why, why_len, "host veth %s lacks a usable %s",
					 host_ifname, WL_PLUMB_GATEWAY6);
				return -ENOENT;
			}
		}
	}
	return 0;
}

int wl_plumb_check(const char *host_ifname, int netns_fd, const char *ifname,
		   const struct ip_addr *addrs, size_t n_addrs, unsigned mtu, char *why,
		   size_t why_len)
{
	_cleanup_(sock_freep) struct nl_sock *sk = NULL;
	_cleanup_(link_unrefp) struct rtnl_link *host = NULL;
	const char *type;
	int r, orig;

	if (!ifname_valid(host_ifname) || !ifname_valid(ifname))
		return -EINVAL;
	if (!addrs_valid(addrs, n_addrs))
		return -EAFNOSUPPORT;
	r = sock_open(&sk);
	if (r < 0)
		return r;
	r = rtnl_link_get_kernel(sk, 0, host_ifname, &host);
	if (r == -NLE_OBJ_NOTFOUND || r == -NLE_NODEV) {
		snprintf(why, why_len, "host veth %s missing", host_ifname);
		return -ENOENT;
	}
	if (r < 0)
		return nl_fail(r, "get link");
	type = rtnl_link_get_type(host);
	if (!type || strcmp(type, "veth") != 0) {
		snprintf(why, why_len, "host interface %s is not a veth", host_ifname);
		return -ENOENT;
	}
	if (mtu && rtnl_link_get_mtu(host) != mtu) {
		snprintf(why, why_len, "host veth %s has mtu %u, expected %u", host_ifname,
			 rtnl_link_get_mtu(host), mtu);
		return -ENOENT;
	}
	r = host_check(sk, host_ifname, rtnl_link_get_ifindex(host), addrs, n_addrs, why, why_len);
	if (r < 0)
		return r;

	r = netns_enter(netns_fd, &orig);
	if (r < 0)
		return r;
	/* the container end must match the host end (and so @mtu when given) */
	r = container_check(ifname, addrs, n_addrs, rtnl_link_get_mtu(host), why, why_len);
	RET_GATHER(r, netns_leave(orig));
	return r;
}
