/* SPDX-License-Identifier: Apache-2.0 */
/*
 * DOC: netlink backend of the route table driver (libnl-route-3).
 *
 * Implements struct route_table_ops for the kernel of the caller's network namespace with two
 * sockets. The request socket does the dumps (links, routes, neighbours through libnl caches,
 * retried a bounded number of times when the kernel flags a dump NLM_F_DUMP_INTR because the
 * table changed under it), route writes with NLM_F_CREATE|NLM_F_REPLACE, deletions that name the
 * protocol and type so the kernel only removes the route we mean, and neighbour writes. The
 * monitor socket, opened and subscribed (RTNLGRP_LINK, RTNLGRP_NEIGH, RTNLGRP_IPV4_ROUTE,
 * RTNLGRP_IPV6_ROUTE) before the first dump so that no change between a dump and the first read
 * is lost, is non-blocking; read_events() parses its messages with nl_msg_parse() into plain
 * struct route_table_route/neigh/link values for the pure engine (felix/dataplane/routes/sync.c).
 * Interface names come from the engine's link table (one link dump, then RTM_NEWLINK/DELLINK),
 * not from if_nametoindex(). Sysctls are written under /proc/sys, which follows the current
 * network namespace; nothing is read from /sys/class/net, which may belong to another namespace
 * (lab README).
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
#include <netlink/msg.h>
#include <sys/socket.h>
#include <time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "felix/dataplane/routes/routes.h"
#include "lib/log.h"

/* The monitor socket's receive buffer: a burst of this many bytes of events (about 20,000
 * route messages) fits before the kernel drops events and we fall back to a full resync. */
#define MONITOR_RCVBUF (8 << 20)

struct route_table_nl {
	struct nl_sock *sk;  /* requests and dumps */
	struct nl_sock *mon; /* events; non-blocking */
	/* During read_events() only. */
	const struct route_table_events *ev;
	void *ev_ud;
	int ev_err;
};

int route_table_nl_errno(int nle)
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

static int monitor_valid(struct nl_msg *msg, void *arg);

static int monitor_open(struct route_table_nl *nl)
{
	int r;

	nl->mon = nl_socket_alloc();
	if (!nl->mon) {
		return -ENOMEM;
	}
	/* Events carry no sequence numbers of ours. */
	nl_socket_disable_seq_check(nl->mon);
	r = nl_socket_modify_cb(nl->mon, NL_CB_VALID, NL_CB_CUSTOM, monitor_valid, nl);
	if (r >= 0) {
		r = nl_connect(nl->mon, NETLINK_ROUTE);
	}
	if (r >= 0) {
		r = nl_socket_add_memberships(nl->mon, RTNLGRP_LINK, RTNLGRP_NEIGH,
					      RTNLGRP_IPV4_ROUTE, RTNLGRP_IPV6_ROUTE, 0);
	}
	if (r >= 0) {
		r = nl_socket_set_nonblocking(nl->mon);
	}
	if (r < 0) {
		return route_table_nl_errno(r);
	}
	int fd = nl_socket_get_fd(nl->mon);
	(void)fcntl(fd, F_SETFD, FD_CLOEXEC);
	/* Beyond net.core.rmem_max when we may (root); the plain size otherwise. */
	int size = MONITOR_RCVBUF;
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size)) < 0) {
		(void)nl_socket_set_buffer_size(nl->mon, MONITOR_RCVBUF, 0);
	}
	/* Messages larger than a page (a link with many attributes) are read whole. */
	nl_socket_enable_msg_peek(nl->mon);
	return 0;
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
		r = route_table_nl_errno(r);
		route_table_nl_free(nl);
		return r;
	}
	/* libnl opens its socket with SOCK_CLOEXEC; make sure even on older versions. */
	int fd = nl_socket_get_fd(nl->sk);
	(void)fcntl(fd, F_SETFD, FD_CLOEXEC);
	/* Large dumps (thousands of routes) arrive in bursts. */
	(void)nl_socket_set_buffer_size(nl->sk, 1 << 20, 1 << 20);
	r = monitor_open(nl);
	if (r < 0) {
		route_table_nl_free(nl);
		return r;
	}
	*ret = nl;
	return 0;
}

struct route_table_nl *route_table_nl_free(struct route_table_nl *nl)
{
	if (!nl) {
		return NULL;
	}
	nl_socket_free(nl->mon);
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

/* @rt as a plain route; -EAFNOSUPPORT/-EINVAL for one we cannot represent. */
static int route_from_nl(struct rtnl_route *rt, struct route_table_route *ret)
{
	int family = rtnl_route_get_family(rt);
	struct route_table_route x = {
	    .type = rtnl_route_get_type(rt),
	    .scope = rtnl_route_get_scope(rt),
	    .protocol = rtnl_route_get_protocol(rt),
	    .table = rtnl_route_get_table(rt),
	    .priority = rtnl_route_get_priority(rt),
	};
	int r = addr_from_nl(rtnl_route_get_dst(rt), family, &x.dst);
	if (r < 0) {
		return r;
	}
	int nnh = rtnl_route_get_nnexthops(rt);
	if (nnh == 1) {
		struct rtnl_nexthop *nh = rtnl_route_nexthop_n(rt, 0);
		struct nl_addr *gw = rtnl_route_nh_get_gateway(nh);
		x.ifindex = rtnl_route_nh_get_ifindex(nh);
		if (gw) {
			struct ip_prefix g;
			if (addr_from_nl(gw, nl_addr_get_family(gw), &g) < 0) {
				x.multipath = true; /* not representable: never equal to ours */
			} else {
				x.gateway = g.addr;
			}
		}
		x.onlink = (rtnl_route_nh_get_flags(nh) & RTNH_F_ONLINK) != 0;
	} else if (nnh > 1) {
		x.multipath = true;
	}
	*ret = x;
	return 0;
}

static int neigh_from_nl(struct rtnl_neigh *n, struct route_table_neigh *ret)
{
	struct route_table_neigh x = {
	    .ifindex = rtnl_neigh_get_ifindex(n),
	    .permanent = (rtnl_neigh_get_state(n) & NUD_PERMANENT) != 0,
	};
	struct ip_prefix p;
	int r = addr_from_nl(rtnl_neigh_get_dst(n), rtnl_neigh_get_family(n), &p);
	if (r < 0) {
		return r;
	}
	x.addr = p.addr;
	struct nl_addr *ll = rtnl_neigh_get_lladdr(n);
	if (ll && nl_addr_get_len(ll) == 6) {
		memcpy(x.mac, nl_addr_get_binary_addr(ll), 6);
	}
	*ret = x;
	return 0;
}

static void link_from_nl(struct rtnl_link *l, struct route_table_link *ret)
{
	*ret = (struct route_table_link){
	    .ifindex = rtnl_link_get_ifindex(l),
	    .up = (rtnl_link_get_flags(l) & IFF_UP) != 0,
	};
	const char *name = rtnl_link_get_name(l);
	snprintf(ret->ifname, IFNAMSIZ, "%s", name ? name : "");
}

static int nl_dump_routes(void *h, int family, uint32_t table, route_table_route_cb cb,
			  void *userdata)
{
	struct route_table_nl *nl = h;
	struct nl_cache *cache = NULL;
	int r = 0;

	for (int attempt = 0; attempt < ROUTE_TABLE_DUMP_RETRIES; attempt++) {
		r = rtnl_route_alloc_cache(nl->sk, family, 0, &cache);
		if (r != -NLE_DUMP_INTR) {
			break;
		}
		log_debug("route dump interrupted, retrying");
	}
	if (r < 0) {
		return route_table_nl_errno(r);
	}
	for (struct nl_object *o = nl_cache_get_first(cache); o; o = nl_cache_get_next(o)) {
		struct rtnl_route *rt = (struct rtnl_route *)o;
		struct route_table_route x;
		if (rtnl_route_get_table(rt) != table || rtnl_route_get_family(rt) != family ||
		    route_from_nl(rt, &x) < 0) {
			continue;
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
	/* Always the scope: without one libnl guesses it from the next hops, and a delete (no next
	 * hop) of a gateway route (scope universe) would then ask for scope link and miss. */
	rtnl_route_set_scope(rt, x->scope);
	if (with_nh) {
		if (x->type == RTN_UNICAST) {
			struct rtnl_nexthop *nh = rtnl_route_nh_alloc();
			if (!nh) {
				rtnl_route_put(rt);
				return NULL;
			}
			rtnl_route_nh_set_ifindex(nh, x->ifindex);
			if (x->gateway.family) {
				struct nl_addr *gw =
				    addr_to_nl(&x->gateway, ip_addr_bits(x->gateway.family));
				if (!gw) {
					rtnl_route_nh_free(nh);
					rtnl_route_put(rt);
					return NULL;
				}
				rtnl_route_nh_set_gateway(nh, gw);
				nl_addr_put(gw);
			}
			if (x->onlink) {
				rtnl_route_nh_set_flags(nh, RTNH_F_ONLINK);
			}
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
	return route_table_nl_errno(r);
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
	return route_table_nl_errno(r);
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
		return route_table_nl_errno(r);
	}
	for (struct nl_object *o = nl_cache_get_first(cache); o; o = nl_cache_get_next(o)) {
		struct rtnl_neigh *n = (struct rtnl_neigh *)o;
		struct route_table_neigh x;
		if (rtnl_neigh_get_family(n) != family || neigh_from_nl(n, &x) < 0) {
			continue;
		}
		r = cb(userdata, &x);
		if (r < 0) {
			break;
		}
	}
	nl_cache_free(cache);
	return r < 0 ? r : 0;
}

static int nl_dump_links(void *h, route_table_link_cb cb, void *userdata)
{
	struct route_table_nl *nl = h;
	struct nl_cache *cache = NULL;
	int r = -NLE_DUMP_INTR;

	for (int attempt = 0; attempt < ROUTE_TABLE_DUMP_RETRIES && r == -NLE_DUMP_INTR;
	     attempt++) {
		r = rtnl_link_alloc_cache(nl->sk, AF_UNSPEC, &cache);
	}
	if (r < 0) {
		return route_table_nl_errno(r);
	}
	for (struct nl_object *o = nl_cache_get_first(cache); o; o = nl_cache_get_next(o)) {
		struct route_table_link x;
		link_from_nl((struct rtnl_link *)o, &x);
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
	return route_table_nl_errno(r);
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
	return route_table_nl_errno(r);
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

/* ---- events ---- */

static void monitor_object(struct nl_object *o, void *arg)
{
	struct route_table_nl *nl = arg;
	int type = nl_object_get_msgtype(o);
	int r = 0;

	switch (type) {
	case RTM_NEWROUTE:
	case RTM_DELROUTE: {
		struct route_table_route x;
		if (route_from_nl((struct rtnl_route *)o, &x) >= 0) {
			r = nl->ev->route(nl->ev_ud, type == RTM_DELROUTE, &x);
		}
		break;
	}
	case RTM_NEWNEIGH:
	case RTM_DELNEIGH: {
		struct route_table_neigh x;
		if (neigh_from_nl((struct rtnl_neigh *)o, &x) >= 0) {
			r = nl->ev->neigh(nl->ev_ud, type == RTM_DELNEIGH, &x);
		}
		break;
	}
	case RTM_NEWLINK:
	case RTM_DELLINK: {
		struct rtnl_link *l = (struct rtnl_link *)o;
		/* AF_BRIDGE messages describe bridge ports, not the interface. */
		if (rtnl_link_get_family(l) == AF_UNSPEC) {
			struct route_table_link x;
			link_from_nl(l, &x);
			r = nl->ev->link(nl->ev_ud, type == RTM_DELLINK, &x);
		}
		break;
	}
	default:
		break;
	}
	if (r < 0 && nl->ev_err >= 0) {
		nl->ev_err = r;
	}
}

static int monitor_valid(struct nl_msg *msg, void *arg)
{
	struct route_table_nl *nl = arg;
	if (nl->ev) {
		/* Message types libnl has no parser for are not ours to care about. */
		(void)nl_msg_parse(msg, monitor_object, nl);
	}
	return NL_OK;
}

static int nl_monitor_fd(void *h)
{
	struct route_table_nl *nl = h;
	return nl_socket_get_fd(nl->mon);
}

static int nl_read_events(void *h, const struct route_table_events *ev, void *userdata)
{
	struct route_table_nl *nl = h;
	struct nl_cb *cb = nl_socket_get_cb(nl->mon);
	int r = 0;

	if (!cb) {
		return -ENOMEM;
	}
	nl->ev = ev;
	nl->ev_ud = userdata;
	nl->ev_err = 0;
	for (;;) {
		/* One recvmsg() each: the number of messages parsed, 0 or -NLE_AGAIN once the
		 * non-blocking socket is empty. */
		r = nl_recvmsgs_report(nl->mon, cb);
		if (r == 0 || r == -NLE_AGAIN) {
			r = 0;
			break;
		}
		if (r < 0) {
			/* libnl reports the kernel's ENOBUFS (events dropped) as NLE_NOMEM. */
			r = r == -NLE_NOMEM ? -ENOBUFS : route_table_nl_errno(r);
			break;
		}
		if (nl->ev_err < 0) {
			break;
		}
	}
	nl_cb_put(cb);
	nl->ev = NULL;
	nl->ev_ud = NULL;
	return r < 0 ? r : nl->ev_err;
}

static uint64_t nl_now_us(void *h)
{
	(void)h;
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static void nl_free(void *h)
{
	route_table_nl_free(h);
}

const struct route_table_ops route_table_netlink_ops = {
    .dump_routes = nl_dump_routes,
    .replace_route = nl_replace_route,
    .delete_route = nl_delete_route,
    .dump_neighs = nl_dump_neighs,
    .replace_neigh = nl_replace_neigh,
    .delete_neigh = nl_delete_neigh,
    .dump_links = nl_dump_links,
    .write_sysctl = nl_write_sysctl,
    .monitor_fd = nl_monitor_fd,
    .read_events = nl_read_events,
    .now_us = nl_now_us,
};

/* The same, releasing the handle with the driver. */
static const struct route_table_ops netlink_owned_ops = {
    .dump_routes = nl_dump_routes,
    .replace_route = nl_replace_route,
    .delete_route = nl_delete_route,
    .dump_neighs = nl_dump_neighs,
    .replace_neigh = nl_replace_neigh,
    .delete_neigh = nl_delete_neigh,
    .dump_links = nl_dump_links,
    .write_sysctl = nl_write_sysctl,
    .monitor_fd = nl_monitor_fd,
    .read_events = nl_read_events,
    .now_us = nl_now_us,
    .free = nl_free,
};

int dp_routes_netlink_new(uint8_t protocol, struct dp_routes **ret)
{
	struct route_table_nl *nl = NULL;
	int r = route_table_nl_new(&nl);
	if (r < 0) {
		return r;
	}
	r = dp_routes_new(&netlink_owned_ops, nl, protocol, ret);
	if (r < 0) {
		route_table_nl_free(nl);
	}
	return r;
}
