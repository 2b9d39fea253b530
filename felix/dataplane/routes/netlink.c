/* SPDX-License-Identifier: Apache-2.0 */
/*
 * DOC: netlink backend of the route table driver (libnl-route-3).
 *
 * Implements struct route_table_ops for the kernel of the caller's network namespace: route and
 * neighbour dumps through libnl caches (retried a bounded number of times when the kernel flags
 * the dump NLM_F_DUMP_INTR because the table changed under it), route writes with
 * NLM_F_CREATE|NLM_F_REPLACE, deletions that name the protocol and type so the kernel only
 * removes the route we mean, and sysctl writes under /proc/sys (which follows the current
 * network namespace). Interface names and indexes come from one link dump per apply pass (taken
 * with the route dump, which every pass starts with) rather than from if_nametoindex(), which opens
 * and closes a socket per call and dominated felix's CPU with many workloads (bench/README.md);
 * a name missing from that dump (a veth created since) falls back to if_nametoindex(). Nothing is
 * read from /sys/class/net, which may belong to another namespace (lab README).
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/neighbour.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <netlink/errno.h>
#include <netlink/netlink.h>
#include <netlink/route/link.h>
#include <netlink/route/neighbour.h>
#include <netlink/route/route.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "felix/dataplane/routes/routes.h"
#include "lib/log.h"

struct route_table_nl {
	struct nl_sock *sk;
	struct nl_cache *links; /* refreshed at every route dump; NULL until the first */
};

/* libnl's NLE_* codes to -errno. */
static int nl_to_errno(int nle)
{
	switch (abs(nle)) {
	case 0:
		return 0;
	case NLE_NOMEM:
		return -ENOMEM;
	case NLE_EXIST:
		return -EEXIST;
	case NLE_OBJ_NOTFOUND:
		return -ESRCH;
	case NLE_NODEV:
		return -ENODEV;
	case NLE_INVAL:
		return -EINVAL;
	case NLE_PERM:
		return -EPERM;
	case NLE_NOACCESS:
		return -EACCES;
	case NLE_AF_NOSUPPORT:
		return -EAFNOSUPPORT;
	case NLE_NOADDR:
		return -EADDRNOTAVAIL;
	case NLE_BUSY:
		return -EBUSY;
	case NLE_AGAIN:
		return -EAGAIN;
	case NLE_DUMP_INTR:
		return -EINTR;
	case NLE_RANGE:
		return -ERANGE;
	case NLE_NOATTR:
	case NLE_MISSING_ATTR:
		return -ENODATA;
	default:
		return -EIO;
	}
}

int route_table_nl_new(struct route_table_nl **ret)
{
	struct route_table_nl *nl = calloc(1, sizeof(*nl));
	if (!nl) {
		return -ENOMEM;
	}
	nl->sk = nl_socket_alloc();
	if (!nl->sk) {
		free(nl);
		return -ENOMEM;
	}
	int r = nl_connect(nl->sk, NETLINK_ROUTE);
	if (r < 0) {
		nl_socket_free(nl->sk);
		free(nl);
		return nl_to_errno(r);
	}
	/* libnl opens its socket with SOCK_CLOEXEC; make sure even on older versions. */
	int fd = nl_socket_get_fd(nl->sk);
	(void)fcntl(fd, F_SETFD, FD_CLOEXEC);
	/* Large dumps (thousands of routes) arrive in bursts. */
	(void)nl_socket_set_buffer_size(nl->sk, 1 << 20, 1 << 20);
	*ret = nl;
	return 0;
}

struct route_table_nl *route_table_nl_free(struct route_table_nl *nl)
{
	if (!nl) {
		return NULL;
	}
	if (nl->links) {
		nl_cache_free(nl->links);
	}
	nl_socket_free(nl->sk);
	free(nl);
	return NULL;
}

static int addr_from_nl(struct nl_addr *a, int family, struct ip_prefix *ret)
{
	struct ip_prefix p = {.addr.family = (uint8_t)family};
	unsigned bits = ip_addr_bits(family);
	if (!bits) {
		return -EAFNOSUPPORT;
	}
	if (a) {
		unsigned len = nl_addr_get_len(a);
		if (len > bits / 8) {
			return -EINVAL;
		}
		memcpy(p.addr.bytes, nl_addr_get_binary_addr(a), len);
		p.len = (uint8_t)nl_addr_get_prefixlen(a);
	}
	*ret = p;
	return 0;
}

static struct nl_addr *addr_to_nl(const struct ip_addr *a, unsigned prefixlen)
{
	struct nl_addr *n = nl_addr_build(a->family, a->bytes, ip_addr_bits(a->family) / 8);
	if (n) {
		nl_addr_set_prefixlen(n, (int)prefixlen);
	}
	return n;
}

/* One link dump per pass; on failure the old cache (or none) stays and lookups fall back to
 * if_nametoindex()/if_indextoname(). */
static void links_refresh(struct route_table_nl *nl)
{
	struct nl_cache *c = NULL;
	int r = -NLE_DUMP_INTR;

	for (int attempt = 0; attempt < ROUTE_TABLE_DUMP_RETRIES && r == -NLE_DUMP_INTR;
	     attempt++) {
		r = rtnl_link_alloc_cache(nl->sk, AF_UNSPEC, &c);
	}
	if (r < 0) {
		log_debug("link dump failed: %s, using if_nametoindex()", nl_geterror(r));
		return;
	}
	if (nl->links) {
		nl_cache_free(nl->links);
	}
	nl->links = c;
}

static void link_name(struct route_table_nl *nl, int ifindex, char ifname[static IF_NAMESIZE])
{
	if (nl->links && rtnl_link_i2name(nl->links, ifindex, ifname, IF_NAMESIZE)) {
		return;
	}
	(void)if_indextoname((unsigned)ifindex, ifname);
}

static int nl_dump_routes(void *h, int family, uint32_t table, route_table_route_cb cb,
			  void *userdata)
{
	struct route_table_nl *nl = h;
	struct nl_cache *cache = NULL;
	int r = 0;

	links_refresh(nl);
	for (int attempt = 0; attempt < ROUTE_TABLE_DUMP_RETRIES; attempt++) {
		r = rtnl_route_alloc_cache(nl->sk, family, 0, &cache);
		if (r != -NLE_DUMP_INTR) {
			break;
		}
		log_debug("route dump interrupted, retrying");
	}
	if (r < 0) {
		return nl_to_errno(r);
	}
	for (struct nl_object *o = nl_cache_get_first(cache); o; o = nl_cache_get_next(o)) {
		struct rtnl_route *rt = (struct rtnl_route *)o;
		if (rtnl_route_get_table(rt) != table || rtnl_route_get_family(rt) != family) {
			continue;
		}
		struct route_table_route x = {
		    .type = rtnl_route_get_type(rt),
		    .scope = rtnl_route_get_scope(rt),
		    .protocol = rtnl_route_get_protocol(rt),
		    .table = rtnl_route_get_table(rt),
		    .priority = rtnl_route_get_priority(rt),
		};
		if (addr_from_nl(rtnl_route_get_dst(rt), family, &x.dst) < 0) {
			continue;
		}
		int nnh = rtnl_route_get_nnexthops(rt);
		if (nnh == 1) {
			struct rtnl_nexthop *nh = rtnl_route_nexthop_n(rt, 0);
			x.ifindex = rtnl_route_nh_get_ifindex(nh);
			x.multipath = rtnl_route_nh_get_gateway(nh) != NULL;
		} else if (nnh > 1) {
			x.multipath = true;
		}
		if (x.ifindex > 0) {
			link_name(nl, x.ifindex, x.ifname);
		}
		r = cb(userdata, &x);
		if (r < 0) {
			break;
		}
	}
	nl_cache_free(cache);
	return r < 0 ? r : 0;
}

/* A libnl route object for @x; with the next hop when @with_nh. */
static struct rtnl_route *route_build(const struct route_table_route *x, bool with_nh)
{
	struct rtnl_route *rt = rtnl_route_alloc();
	struct nl_addr *dst = addr_to_nl(&x->dst.addr, x->dst.len);
	if (!rt || !dst) {
		rtnl_route_put(rt);
		nl_addr_put(dst);
		return NULL;
	}
	rtnl_route_set_family(rt, x->dst.addr.family);
	rtnl_route_set_table(rt, x->table);
	rtnl_route_set_protocol(rt, x->protocol);
	rtnl_route_set_type(rt, x->type);
	rtnl_route_set_priority(rt, x->priority);
	(void)rtnl_route_set_dst(rt, dst);
	nl_addr_put(dst);
	if (with_nh) {
		rtnl_route_set_scope(rt, x->scope);
		if (x->type == RTN_UNICAST) {
			struct rtnl_nexthop *nh = rtnl_route_nh_alloc();
			if (!nh) {
				rtnl_route_put(rt);
				return NULL;
			}
			rtnl_route_nh_set_ifindex(nh, x->ifindex);
			rtnl_route_add_nexthop(rt, nh);
		}
	}
	return rt;
}

static int nl_replace_route(void *h, const struct route_table_route *x)
{
	struct route_table_nl *nl = h;
	struct rtnl_route *rt = route_build(x, true);
	if (!rt) {
		return -ENOMEM;
	}
	int r = rtnl_route_add(nl->sk, rt, NLM_F_REPLACE);
	rtnl_route_put(rt);
	return nl_to_errno(r);
}

static int nl_delete_route(void *h, const struct route_table_route *x)
{
	struct route_table_nl *nl = h;
	/* Protocol, type, table, metric and destination: the kernel deletes only that route. */
	struct rtnl_route *rt = route_build(x, false);
	if (!rt) {
		return -ENOMEM;
	}
	int r = rtnl_route_delete(nl->sk, rt, 0);
	rtnl_route_put(rt);
	return nl_to_errno(r);
}

static int nl_dump_neighs(void *h, int family, route_table_neigh_cb cb, void *userdata)
{
	struct route_table_nl *nl = h;
	struct nl_cache *cache = NULL;
	int r = 0;

	for (int attempt = 0; attempt < ROUTE_TABLE_DUMP_RETRIES; attempt++) {
		r = rtnl_neigh_alloc_cache(nl->sk, &cache);
		if (r != -NLE_DUMP_INTR) {
			break;
		}
	}
	if (r < 0) {
		return nl_to_errno(r);
	}
	for (struct nl_object *o = nl_cache_get_first(cache); o; o = nl_cache_get_next(o)) {
		struct rtnl_neigh *n = (struct rtnl_neigh *)o;
		if (rtnl_neigh_get_family(n) != family) {
			continue;
		}
		struct route_table_neigh x = {
		    .ifindex = rtnl_neigh_get_ifindex(n),
		    .permanent = (rtnl_neigh_get_state(n) & NUD_PERMANENT) != 0,
		};
		struct ip_prefix p;
		if (addr_from_nl(rtnl_neigh_get_dst(n), family, &p) < 0) {
			continue;
		}
		x.addr = p.addr;
		struct nl_addr *ll = rtnl_neigh_get_lladdr(n);
		if (ll && nl_addr_get_len(ll) == 6) {
			memcpy(x.mac, nl_addr_get_binary_addr(ll), 6);
		}
		if (x.ifindex > 0) {
			link_name(nl, x.ifindex, x.ifname);
		}
		r = cb(userdata, &x);
		if (r < 0) {
			break;
		}
	}
	nl_cache_free(cache);
	return r < 0 ? r : 0;
}

static struct rtnl_neigh *neigh_build(const struct route_table_neigh *x, bool with_ll)
{
	struct rtnl_neigh *n = rtnl_neigh_alloc();
	struct nl_addr *dst = addr_to_nl(&x->addr, ip_addr_bits(x->addr.family));
	struct nl_addr *ll = with_ll ? nl_addr_build(AF_LLC, x->mac, 6) : NULL;
	if (!n || !dst || (with_ll && !ll)) {
		rtnl_neigh_put(n);
		nl_addr_put(dst);
		nl_addr_put(ll);
		return NULL;
	}
	rtnl_neigh_set_family(n, x->addr.family);
	rtnl_neigh_set_ifindex(n, x->ifindex);
	(void)rtnl_neigh_set_dst(n, dst);
	nl_addr_put(dst);
	if (ll) {
		rtnl_neigh_set_lladdr(n, ll);
		nl_addr_put(ll);
		rtnl_neigh_set_state(n, NUD_PERMANENT);
	}
	return n;
}

static int nl_replace_neigh(void *h, const struct route_table_neigh *x)
{
	struct route_table_nl *nl = h;
	struct rtnl_neigh *n = neigh_build(x, true);
	if (!n) {
		return -ENOMEM;
	}
	int r = rtnl_neigh_add(nl->sk, n, NLM_F_CREATE | NLM_F_REPLACE);
	rtnl_neigh_put(n);
	return nl_to_errno(r);
}

static int nl_delete_neigh(void *h, const struct route_table_neigh *x)
{
	struct route_table_nl *nl = h;
	struct rtnl_neigh *n = neigh_build(x, false);
	if (!n) {
		return -ENOMEM;
	}
	int r = rtnl_neigh_delete(nl->sk, n, 0);
	rtnl_neigh_put(n);
	return nl_to_errno(r);
}

static int nl_link_index(void *h, const char *ifname)
{
	struct route_table_nl *nl = h;
	int cached = nl->links ? rtnl_link_name2i(nl->links, ifname) : 0;
	if (cached > 0) {
		return cached;
	}
	unsigned idx = if_nametoindex(ifname);
	return idx ? (int)idx : -ENODEV;
}

static int nl_write_sysctl(void *h, const char *path, const char *value)
{
	char full[256];
	snprintf(full, sizeof(full), "/proc/sys/%s", path);
	int fd = open(full, O_WRONLY | O_CLOEXEC);
	if (fd < 0) {
		return -errno;
	}
	size_t len = strlen(value);
	ssize_t n = write(fd, value, len);
	int r = n < 0 ? -errno : (size_t)n != len ? -EIO : 0;
	close(fd);
	return r;
}

const struct route_table_ops route_table_netlink_ops = {
    .dump_routes = nl_dump_routes,
    .replace_route = nl_replace_route,
    .delete_route = nl_delete_route,
    .dump_neighs = nl_dump_neighs,
    .replace_neigh = nl_replace_neigh,
    .delete_neigh = nl_delete_neigh,
    .link_index = nl_link_index,
    .write_sysctl = nl_write_sysctl,
};
