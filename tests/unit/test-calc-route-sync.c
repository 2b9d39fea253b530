/* SPDX-License-Identifier: Apache-2.0 */
/* The route/neighbour/sysctl reconcile engine against an in-memory fake kernel. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>
#include <errno.h>
#include <linux/rtnetlink.h>
#include <stdio.h>
#include <stdlib.h>

#include "felix/dataplane/routes/routes.h"

#define PROTO 81
#define RTPROT_STATIC_ 4

/* The fake kernel: tables, and the event stream a monitor socket would see (every change,
 * ours included, as the kernel echoes our own writes). */
struct fake_event {
	enum { EV_ROUTE, EV_NEIGH, EV_LINK } kind;
	bool del;
	struct route_table_route r;
	struct route_table_neigh n;
	struct route_table_link l;
};

struct fake {
	struct route_table_route routes[512];
	size_t n_routes;
	struct route_table_neigh neighs[512];
	size_t n_neighs;
	struct route_table_link links[512];
	size_t n_links;
	char sysctl_log[64][128];
	size_t n_sysctl;
	unsigned replaces, deletes, neigh_replaces, neigh_deletes;
	unsigned route_dumps, neigh_dumps, link_dumps;
	struct ip_prefix fail_dst; /* replace_route fails for this dst */
	int dump_fail;		   /* dump_routes returns this once when non-zero */
	struct fake_event events[2048];
	size_t n_events;
	bool overrun; /* the next read_events() reports ENOBUFS */
	bool no_sysctl_log;
	bool no_ipv6; /* net/ipv6/... sysctls fail with ENOENT (IPv6 off on the host) */
};

static void ev_push(struct fake *f, struct fake_event e)
{
	if (f->n_events == ELEMENTSOF(f->events)) {
		f->overrun = true; /* like a full socket buffer */
		return;
	}
	f->events[f->n_events++] = e;
}

static int f_dump_routes(void *h, int family, uint32_t table, route_table_route_cb cb, void *ud)
{
	struct fake *f = h;
	f->route_dumps++;
	if (f->dump_fail) {
		int r = f->dump_fail;
		f->dump_fail = 0;
		return r;
	}
	for (size_t i = 0; i < f->n_routes; i++) {
		if (f->routes[i].dst.addr.family == family && f->routes[i].table == table) {
			int r = cb(ud, &f->routes[i]);
			if (r < 0) {
				return r;
			}
		}
	}
	return 0;
}

static ssize_t f_route_find(struct fake *f, const struct route_table_route *r)
{
	for (size_t i = 0; i < f->n_routes; i++) {
		if (ip_prefix_equal(&f->routes[i].dst, &r->dst) &&
		    f->routes[i].priority == r->priority && f->routes[i].table == r->table) {
			return (ssize_t)i;
		}
	}
	return -1;
}

/* The kernel's side of a route write (ours or anybody's), with its event. */
static void k_route_set(struct fake *f, const struct route_table_route *r)
{
	struct route_table_route key = *r;
	if (key.dst.addr.family == AF_INET6 && key.priority == 0) {
		key.priority = 1024;
	}
	ssize_t i = f_route_find(f, &key);
	if (i < 0) {
		assert_true(f->n_routes < ELEMENTSOF(f->routes));
		i = (ssize_t)f->n_routes++;
	}
	f->routes[i] = *r;
	f->routes[i].ifname[0] = '\0';
	/* Like the kernel: IPv6 routes have no scope, and metric 0 means 1024. */
	if (r->dst.addr.family == AF_INET6) {
		f->routes[i].scope = RT_SCOPE_UNIVERSE;
		if (f->routes[i].priority == 0) {
			f->routes[i].priority = 1024;
		}
	}
	ev_push(f, (struct fake_event){.kind = EV_ROUTE, .r = f->routes[i]});
}

static void k_route_del_at(struct fake *f, size_t i)
{
	ev_push(f, (struct fake_event){.kind = EV_ROUTE, .del = true, .r = f->routes[i]});
	f->routes[i] = f->routes[--f->n_routes];
}

static int f_replace_route(void *h, const struct route_table_route *r)
{
	struct fake *f = h;
	if (f->fail_dst.addr.family && ip_prefix_equal(&f->fail_dst, &r->dst)) {
		return -EIO;
	}
	/* Like fib_check_nh(): no route through an interface that is down. */
	for (size_t i = 0; r->type == RTN_UNICAST && i < f->n_links; i++) {
		if (f->links[i].ifindex == r->ifindex && !f->links[i].up) {
			return -ENETDOWN;
		}
	}
	f->replaces++;
	k_route_set(f, r);
	return 0;
}

static int f_delete_route(void *h, const struct route_table_route *r)
{
	struct fake *f = h;
	ssize_t i = f_route_find(f, r);
	if (i < 0 || f->routes[i].protocol != r->protocol) {
		return -ESRCH;
	}
	f->deletes++;
	k_route_del_at(f, (size_t)i);
	return 0;
}

static int f_dump_neighs(void *h, int family, route_table_neigh_cb cb, void *ud)
{
	struct fake *f = h;
	f->neigh_dumps++;
	for (size_t i = 0; i < f->n_neighs; i++) {
		if (f->neighs[i].addr.family != family) {
			continue;
		}
		int r = cb(ud, &f->neighs[i]);
		if (r < 0) {
			return r;
		}
	}
	return 0;
}

static int f_replace_neigh(void *h, const struct route_table_neigh *n)
{
	struct fake *f = h;
	f->neigh_replaces++;
	struct route_table_neigh k = *n;
	k.ifname[0] = '\0';
	ev_push(f, (struct fake_event){.kind = EV_NEIGH, .n = k});
	for (size_t i = 0; i < f->n_neighs; i++) {
		if (f->neighs[i].ifindex == n->ifindex &&
		    ip_addr_equal(&f->neighs[i].addr, &n->addr)) {
			f->neighs[i] = k;
			return 0;
		}
	}
	f->neighs[f->n_neighs++] = k;
	return 0;
}

static int f_delete_neigh(void *h, const struct route_table_neigh *n)
{
	struct fake *f = h;
	for (size_t i = 0; i < f->n_neighs; i++) {
		if (f->neighs[i].ifindex == n->ifindex &&
		    ip_addr_equal(&f->neighs[i].addr, &n->addr)) {
			ev_push(f, (struct fake_event){
				       .kind = EV_NEIGH, .del = true, .n = f->neighs[i]});
			f->neighs[i] = f->neighs[--f->n_neighs];
			f->neigh_deletes++;
			return 0;
		}
	}
	return -ENOENT;
}

static int f_dump_links(void *h, route_table_link_cb cb, void *ud)
{
	struct fake *f = h;
	f->link_dumps++;
	for (size_t i = 0; i < f->n_links; i++) {
		int r = cb(ud, &f->links[i]);
		if (r < 0) {
			return r;
		}
	}
	return 0;
}

static int f_write_sysctl(void *h, const char *path, const char *value)
{
	struct fake *f = h;
	if (f->no_ipv6 && strncmp(path, "net/ipv6/", 9) == 0) {
		return -ENOENT;
	}
	if (f->no_sysctl_log) {
		return 0;
	}
	assert_true(f->n_sysctl < 64);
	snprintf(f->sysctl_log[f->n_sysctl++], 128, "%s=%s", path, value);
	return 0;
}

static int f_monitor_fd(void *h)
{
	return 42;
}

static int f_read_events(void *h, const struct route_table_events *ev, void *ud)
{
	struct fake *f = h;
	if (f->overrun) {
		f->overrun = false;
		f->n_events = 0;
		return -ENOBUFS;
	}
	for (size_t i = 0; i < f->n_events; i++) {
		const struct fake_event *e = &f->events[i];
		int r = e->kind == EV_ROUTE   ? ev->route(ud, e->del, &e->r)
			: e->kind == EV_NEIGH ? ev->neigh(ud, e->del, &e->n)
					      : ev->link(ud, e->del, &e->l);
		if (r < 0) {
			return r;
		}
	}
	f->n_events = 0;
	return 0;
}

static const struct route_table_ops fake_ops = {
    .dump_routes = f_dump_routes,
    .replace_route = f_replace_route,
    .delete_route = f_delete_route,
    .dump_neighs = f_dump_neighs,
    .replace_neigh = f_replace_neigh,
    .delete_neigh = f_delete_neigh,
    .dump_links = f_dump_links,
    .write_sysctl = f_write_sysctl,
    .monitor_fd = f_monitor_fd,
    .read_events = f_read_events,
};

static struct ip_prefix pfx(const char *s)
{
	struct ip_prefix p;
	assert_int_equal(ip_prefix_parse(s, true, &p), 0);
	return p;
}

static struct fake *fake_new(void)
{
	struct fake *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	return f;
}

/* An interface appears (RTM_NEWLINK). */
static void add_link(struct fake *f, const char *name, int index)
{
	struct route_table_link l = {.ifindex = index, .up = true};
	snprintf(l.ifname, IFNAMSIZ, "%s", name);
	f->links[f->n_links++] = l;
	ev_push(f, (struct fake_event){.kind = EV_LINK, .l = l});
}

/* An interface goes away: like the kernel, its IPv4 routes vanish without RTM_DELROUTE; its
 * neighbours go with RTM_DELNEIGH. */
static void del_link(struct fake *f, int index)
{
	for (size_t i = 0; i < f->n_links; i++) {
		if (f->links[i].ifindex == index) {
			ev_push(
			    f, (struct fake_event){.kind = EV_LINK, .del = true, .l = f->links[i]});
			f->links[i] = f->links[--f->n_links];
			break;
		}
	}
	for (size_t i = 0; i < f->n_routes;) {
		if (f->routes[i].ifindex == index) {
			f->routes[i] = f->routes[--f->n_routes];
		} else {
			i++;
		}
	}
	for (size_t i = 0; i < f->n_neighs;) {
		if (f->neighs[i].ifindex == index) {
			ev_push(f, (struct fake_event){
				       .kind = EV_NEIGH, .del = true, .n = f->neighs[i]});
			f->neighs[i] = f->neighs[--f->n_neighs];
		} else {
			i++;
		}
	}
}

/* ip link set down/up: going down flushes the interface's IPv4 routes without RTM_DELROUTE. */
static void set_link_up(struct fake *f, int index, bool up)
{
	for (size_t i = 0; i < f->n_links; i++) {
		if (f->links[i].ifindex == index) {
			f->links[i].up = up;
			ev_push(f, (struct fake_event){.kind = EV_LINK, .l = f->links[i]});
		}
	}
	for (size_t i = 0; !up && i < f->n_routes;) {
		if (f->routes[i].ifindex == index) {
			f->routes[i] = f->routes[--f->n_routes];
		} else {
			i++;
		}
	}
}

static struct route_table_route mkroute(const char *dst, int ifindex, uint8_t proto, uint8_t type)
{
	struct ip_prefix p = pfx(dst);
	bool v6 = p.addr.family == AF_INET6;
	return (struct route_table_route){
	    .dst = p,
	    .type = type,
	    .scope = type == RTN_BLACKHOLE || v6 ? RT_SCOPE_UNIVERSE : RT_SCOPE_LINK,
	    .priority = v6 ? 1024 : 0,
	    .protocol = proto,
	    .table = ROUTE_TABLE_MAIN,
	    .ifindex = ifindex,
	};
}

/* A route present before the driver starts (no event). */
static void kroute(struct fake *f, const char *dst, int ifindex, uint8_t proto, uint8_t type)
{
	f->routes[f->n_routes++] = mkroute(dst, ifindex, proto, type);
}

/* Someone else (ip route replace / del) changes the kernel: an event follows. */
static void kadd(struct fake *f, const char *dst, int ifindex, uint8_t proto, uint8_t type)
{
	struct route_table_route r = mkroute(dst, ifindex, proto, type);
	k_route_set(f, &r);
}

static void kdel(struct fake *f, const char *dst)
{
	struct route_table_route key = {.dst = pfx(dst), .table = ROUTE_TABLE_MAIN};
	ssize_t i = f_route_find(f, &key);
	assert_true(i >= 0);
	k_route_del_at(f, (size_t)i);
}

static const struct route_table_route *kfind(struct fake *f, const char *dst)
{
	struct route_table_route key = {.dst = pfx(dst), .table = ROUTE_TABLE_MAIN};
	key.priority = key.dst.addr.family == AF_INET6 ? 1024 : 0;
	ssize_t i = f_route_find(f, &key);
	return i < 0 ? NULL : &f->routes[i];
}

/* Desired: 198.19.0.5/32 dev tbyaaaaaaaaaaa (neigh 02:..:05), 198.19.0.6/32 dev tbymissing,
 * blackhole 198.19.0.0/26. */
static struct calc_desired desired(void)
{
	struct calc_desired d = {0};
	d.routes = calloc(3, sizeof(*d.routes));
	d.routes[0] = (struct calc_route){.dst = pfx("198.19.0.0/26"), .blackhole = true};
	d.routes[1] = (struct calc_route){.dst = pfx("198.19.0.5/32"), .ifname = "tbyaaaaaaaaaaa"};
	d.routes[2] = (struct calc_route){.dst = pfx("198.19.0.6/32"), .ifname = "tbymissing"};
	d.n_routes = 3;
	d.neighs = calloc(1, sizeof(*d.neighs));
	d.neighs[0] = (struct calc_neigh){.addr = pfx("198.19.0.5/32").addr,
					  .mac = {2, 0, 0, 0, 0, 5},
					  .ifname = "tbyaaaaaaaaaaa"};
	d.n_neighs = 1;
	d.ifaces = calloc(2, sizeof(*d.ifaces));
	snprintf(d.ifaces[0], IFNAMSIZ, "tbyaaaaaaaaaaa");
	snprintf(d.ifaces[1], IFNAMSIZ, "tbymissing");
	d.n_ifaces = 2;
	return d;
}

static struct dp_routes *new_rt(struct fake *f)
{
	struct dp_routes *rt;
	struct calc_desired d = desired();
	assert_int_equal(dp_routes_new(&fake_ops, f, PROTO, &rt), 0);
	assert_int_equal(dp_routes_set_desired(rt, &d), 0);
	calc_desired_done(&d);
	assert_int_equal(dp_routes_ops.fd(rt), 42);
	return rt;
}

static struct dp_stats g_ds;

/* One apply; @st gets what it did. */
static int64_t apply(struct dp_routes *rt, uint64_t now, struct route_table_stats *st)
{
	int64_t r = dp_routes_ops.apply(rt, now, &g_ds);
	*st = *dp_routes_last_stats(rt);
	return r;
}

static bool dispatch(struct dp_routes *rt, uint64_t now)
{
	return dp_routes_ops.dispatch(rt, now);
}

static unsigned dumps(const struct fake *f)
{
	return f->route_dumps + f->neigh_dumps + f->link_dumps;
}

/* Dual stack: IPv6 workload /128s, neighbours and block blackholes are reconciled like the
 * IPv4 ones (same protocol stamp, same sweep); a host without IPv6 on the interface still gets
 * its IPv4 sysctls and nothing stays pending. */
static void test_dual_stack(void **state)
{
	struct fake *f = fake_new();
	struct route_table_stats st;
	struct dp_routes *rt;
	f->no_ipv6 = true;
	add_link(f, "eth0", 2);
	add_link(f, "tbyaaaaaaaaaaa", 5);
	f->n_events = 0;
	kroute(f, "2001:db8:18::/64", 2, RTPROT_KERNEL, RTN_UNICAST); /* foreign */
	kroute(f, "2001:db8:19::9/128", 5, PROTO, RTN_UNICAST);	      /* ours, stale */
	kroute(f, "2001:db8:19::80/122", 0, PROTO, RTN_BLACKHOLE);    /* ours, stale block */

	struct calc_desired d = {0};
	d.routes = calloc(4, sizeof(*d.routes));
	d.routes[0] = (struct calc_route){.dst = pfx("198.19.0.5/32"), .ifname = "tbyaaaaaaaaaaa"};
	d.routes[1] = (struct calc_route){.dst = pfx("2001:db8:19::/122"), .blackhole = true};
	d.routes[2] =
	    (struct calc_route){.dst = pfx("2001:db8:19::5/128"), .ifname = "tbyaaaaaaaaaaa"};
	d.n_routes = 3;
	d.neighs = calloc(2, sizeof(*d.neighs));
	d.neighs[0] = (struct calc_neigh){.addr = pfx("198.19.0.5/32").addr,
					  .mac = {2, 0, 0, 0, 0, 5},
					  .ifname = "tbyaaaaaaaaaaa"};
	d.neighs[1] = (struct calc_neigh){.addr = pfx("2001:db8:19::5/128").addr,
					  .mac = {2, 0, 0, 0, 0, 5},
					  .ifname = "tbyaaaaaaaaaaa"};
	d.n_neighs = 2;
	d.ifaces = calloc(1, sizeof(*d.ifaces));
	snprintf(d.ifaces[0], IFNAMSIZ, "tbyaaaaaaaaaaa");
	d.n_ifaces = 1;
	assert_int_equal(dp_routes_new(&fake_ops, f, PROTO, &rt), 0);
	assert_int_equal(dp_routes_set_desired(rt, &d), 0);
	calc_desired_done(&d);

	apply(rt, 1000, &st);
	assert_int_equal(st.routes_programmed, 3);
	assert_int_equal(kfind(f, "2001:db8:19::5/128")->ifindex, 5);
	assert_int_equal(kfind(f, "2001:db8:19::5/128")->protocol, PROTO);
	assert_int_equal(kfind(f, "2001:db8:19::5/128")->priority, ROUTE_TABLE_IPV6_METRIC);
	assert_int_equal(kfind(f, "2001:db8:19::/122")->type, RTN_BLACKHOLE);
	assert_int_equal(f->n_neighs, 2);
	/* IPv4 sysctls written, IPv6 ones skipped (ENOENT), the interface is configured. */
	assert_int_equal(f->n_sysctl, 5);
	assert_int_equal(st.ifaces_configured, 1);
	/* Past the grace period our stale IPv6 routes go; the kernel's stays. */
	assert_int_equal(apply(rt, 1000 + ROUTE_TABLE_STALE_GRACE_MS, &st), DP_IDLE);
	assert_int_equal(st.routes_removed, 2);
	assert_null(kfind(f, "2001:db8:19::9/128"));
	assert_null(kfind(f, "2001:db8:19::80/122"));
	assert_non_null(kfind(f, "2001:db8:18::/64"));
	assert_true(g_ds.in_sync);
	/* Steady state: our IPv6 routes as the kernel reports them (metric 1024, scope
	 * universe) are what we want; nothing is rewritten, nothing flaps. */
	unsigned replaces = f->replaces, deletes = f->deletes;
	dp_routes_ops.queue_resync(rt);
	assert_int_equal(apply(rt, 9000, &st), DP_IDLE);
	assert_int_equal(apply(rt, 12000, &st), DP_IDLE);
	assert_int_equal(f->replaces, replaces);
	assert_int_equal(f->deletes, deletes);
	dp_routes_ops.free(rt);
	free(f);
}

static void test_mark_and_sweep(void **state)
{
	struct fake *f = fake_new();
	struct route_table_stats st;
	add_link(f, "eth0", 2);
	add_link(f, "tbyaaaaaaaaaaa", 5);
	f->n_events = 0; /* before the driver's monitor existed */
	kroute(f, "198.18.5.0/24", 2, RTPROT_STATIC_, RTN_UNICAST); /* foreign */
	kroute(f, "198.18.0.0/24", 2, RTPROT_KERNEL, RTN_UNICAST);  /* foreign */
	kroute(f, "198.19.0.9/32", 5, PROTO, RTN_UNICAST);	    /* ours, stale */
	kroute(f, "198.19.0.5/32", 2, PROTO, RTN_UNICAST);	    /* ours, wrong device */
	struct dp_routes *rt = new_rt(f);

	/* First apply: one dump; fix and add, but the never-desired stale route is in its grace
	 * period. Retry wanted: the pending interface. */
	assert_int_equal(apply(rt, 1000, &st), ROUTE_TABLE_RETRY_MS);
	assert_true(st.dumped);
	assert_int_equal(f->route_dumps, 2); /* IPv4 and IPv6 */
	assert_int_equal(f->link_dumps, 1);
	assert_int_equal(st.routes_programmed, 2);
	assert_int_equal(st.routes_removed, 0);
	assert_int_equal(st.routes_pending, 1); /* tbymissing */
	assert_int_equal(g_ds.pending, 2);	/* its route and its sysctls */
	assert_false(g_ds.in_sync);
	assert_int_equal(kfind(f, "198.19.0.5/32")->ifindex, 5);
	assert_int_equal(kfind(f, "198.19.0.5/32")->scope, RT_SCOPE_LINK);
	assert_int_equal(kfind(f, "198.19.0.0/26")->type, RTN_BLACKHOLE);
	assert_int_equal(kfind(f, "198.19.0.0/26")->protocol, PROTO);
	assert_non_null(kfind(f, "198.19.0.9/32"));
	assert_null(kfind(f, "198.19.0.6/32"));
	/* Neighbour and sysctls of the interface that exists. */
	assert_int_equal(f->n_neighs, 1);
	assert_int_equal(f->neighs[0].ifindex, 5);
	assert_true(f->neighs[0].permanent);
	assert_int_equal(f->n_sysctl, 8);
	assert_string_equal(f->sysctl_log[4], "net/ipv4/neigh/tbyaaaaaaaaaaa/proxy_delay=0");
	assert_string_equal(f->sysctl_log[5], "net/ipv6/conf/tbyaaaaaaaaaaa/accept_ra=0");
	assert_string_equal(f->sysctl_log[6], "net/ipv6/conf/tbyaaaaaaaaaaa/forwarding=1");
	assert_string_equal(f->sysctl_log[7], "net/ipv6/conf/tbyaaaaaaaaaaa/proxy_ndp=1");
	/* The echoes of our own writes change nothing. */
	assert_false(dispatch(rt, 1001));

	/* After the grace period the stale route goes; foreign routes stay. */
	assert_int_equal(apply(rt, 1000 + ROUTE_TABLE_STALE_GRACE_MS, &st), ROUTE_TABLE_RETRY_MS);
	assert_int_equal(st.routes_removed, 1);
	assert_int_equal(st.routes_programmed, 0);
	assert_null(kfind(f, "198.19.0.9/32"));
	assert_int_equal(kfind(f, "198.18.5.0/24")->protocol, RTPROT_STATIC_);
	assert_int_equal(kfind(f, "198.18.0.0/24")->protocol, RTPROT_KERNEL);

	/* Idempotent: nothing to do the next time; sysctls are not rewritten. */
	unsigned replaces = f->replaces, deletes = f->deletes;
	assert_false(dispatch(rt, 4000));
	assert_int_equal(apply(rt, 5000, &st), ROUTE_TABLE_RETRY_MS);
	assert_int_equal(f->replaces, replaces);
	assert_int_equal(f->deletes, deletes);
	assert_int_equal(st.ifaces_configured, 0);
	assert_int_equal(f->n_sysctl, 8);

	/* The missing interface appears: its link event wakes the driver; its route and
	 * sysctls follow, without a dump; nothing is pending. */
	add_link(f, "tbymissing", 7);
	assert_true(dispatch(rt, 5500));
	assert_int_equal(apply(rt, 6000, &st), DP_IDLE);
	assert_false(st.dumped);
	assert_int_equal(st.routes_programmed, 1);
	assert_int_equal(kfind(f, "198.19.0.6/32")->ifindex, 7);
	assert_int_equal(f->n_sysctl, 16);
	assert_true(g_ds.in_sync);
	assert_int_equal(g_ds.pending, 0);
	assert_int_equal(dumps(f), 5);

	/* Resync re-dumps and rewrites sysctls. */
	dp_routes_ops.queue_resync(rt);
	assert_int_equal(apply(rt, 7000, &st), DP_IDLE);
	assert_true(st.dumped);
	assert_int_equal(st.ifaces_configured, 2);
	assert_int_equal(st.routes_programmed + st.routes_removed, 0);
	assert_int_equal(dumps(f), 10);
	dp_routes_ops.free(rt);
	free(f);
}

static void test_undesired_goes_at_once(void **state)
{
	struct fake *f = fake_new();
	struct route_table_stats st;
	add_link(f, "tbyaaaaaaaaaaa", 5);
	add_link(f, "tbymissing", 7);
	struct dp_routes *rt = new_rt(f);
	assert_int_equal(apply(rt, 0, &st), DP_IDLE);
	assert_int_equal(f->n_routes, 3);

	/* The workload goes away: a route we desired is deleted without a grace period, and so
	 * is its neighbour. */
	struct calc_desired d = desired();
	d.n_routes = 1; /* only the blackhole */
	d.n_neighs = 0;
	d.n_ifaces = 0;
	assert_int_equal(dp_routes_set_desired(rt, &d), 0);
	calc_desired_done(&d);
	assert_int_equal(apply(rt, 1, &st), DP_IDLE);
	assert_int_equal(st.routes_removed, 2);
	assert_int_equal(st.neighs_removed, 1);
	assert_int_equal(f->n_routes, 1);
	assert_int_equal(f->n_neighs, 0);
	dp_routes_ops.free(rt);
	free(f);
}

static void test_foreign_conflict_and_failure_isolated(void **state)
{
	struct fake *f = fake_new();
	struct route_table_stats st;
	add_link(f, "tbyaaaaaaaaaaa", 5);
	add_link(f, "tbymissing", 7);
	/* Someone else's static route sits on our blackhole's destination. */
	kroute(f, "198.19.0.0/26", 5, RTPROT_STATIC_, RTN_UNICAST);
	f->fail_dst = pfx("198.19.0.5/32");
	struct dp_routes *rt = new_rt(f);
	assert_int_equal(apply(rt, 0, &st), ROUTE_TABLE_RETRY_MS);
	assert_int_equal(st.routes_pending, 2);
	assert_int_equal(st.errors, 1);
	assert_int_equal(g_ds.last_error,
			 0); /* per-item failures are pending, not a failed apply */
	assert_int_equal(st.routes_programmed, 1); /* .6 went in despite the failure of .5 */
	assert_int_equal(kfind(f, "198.19.0.0/26")->protocol, RTPROT_STATIC_);
	assert_int_equal(kfind(f, "198.19.0.6/32")->ifindex, 7);
	/* The failure clears: retried on the next apply (only the pending items). */
	f->fail_dst = (struct ip_prefix){0};
	assert_int_equal(apply(rt, 1, &st), ROUTE_TABLE_RETRY_MS);
	assert_int_equal(st.routes_programmed, 1);
	assert_int_equal(st.routes_pending, 1);
	assert_int_equal(kfind(f, "198.19.0.5/32")->ifindex, 5);
	/* The foreign route goes away: its deletion event wakes us and ours goes in. */
	assert_false(dispatch(rt, 2));
	kdel(f, "198.19.0.0/26");
	assert_true(dispatch(rt, 3));
	assert_int_equal(apply(rt, 4, &st), DP_IDLE);
	assert_int_equal(st.routes_programmed, 1);
	assert_int_equal(kfind(f, "198.19.0.0/26")->protocol, PROTO);
	assert_int_equal(f->route_dumps, 2);
	dp_routes_ops.free(rt);
	free(f);
}

static void test_neighbours_only_on_tby(void **state)
{
	struct fake *f = fake_new();
	struct route_table_stats st;
	add_link(f, "eth0", 2);
	add_link(f, "tbyaaaaaaaaaaa", 5);
	add_link(f, "tbyold", 9);
	add_link(f, "tbymissing", 7);
	f->neighs[f->n_neighs++] = (struct route_table_neigh){
	    .addr = pfx("198.18.0.1/32").addr, .ifindex = 2, .permanent = true}; /* foreign */
	f->neighs[f->n_neighs++] = (struct route_table_neigh){
	    .addr = pfx("198.19.0.77/32").addr, .ifindex = 9, .permanent = true}; /* stale */
	f->neighs[f->n_neighs++] = (struct route_table_neigh){
	    .addr = pfx("198.19.0.5/32").addr, .ifindex = 5, .mac = {1}, .permanent = true};
	struct dp_routes *rt = new_rt(f);
	/* Grace for the stale neighbour: called again when it ends. */
	assert_int_equal(apply(rt, 0, &st), ROUTE_TABLE_STALE_GRACE_MS);
	assert_int_equal(st.neighs_programmed, 1); /* wrong MAC fixed */
	assert_int_equal(st.neighs_removed, 0);	   /* stale one in its grace period */
	assert_int_equal(apply(rt, ROUTE_TABLE_STALE_GRACE_MS, &st), DP_IDLE);
	assert_int_equal(st.neighs_removed, 1);
	assert_int_equal(f->n_neighs, 2);
	for (size_t i = 0; i < f->n_neighs; i++) {
		assert_int_not_equal(f->neighs[i].ifindex, 9);
		if (f->neighs[i].ifindex == 5) {
			assert_int_equal(f->neighs[i].mac[5], 5);
		}
	}
	/* Someone deletes our neighbour: put back; a foreign one on eth0 is ignored. */
	(void)dispatch(rt, ROUTE_TABLE_STALE_GRACE_MS + 1);
	struct route_table_neigh n = {.addr = pfx("198.19.0.5/32").addr, .ifindex = 5};
	assert_int_equal(f_delete_neigh(f, &n), 0);
	assert_true(dispatch(rt, ROUTE_TABLE_STALE_GRACE_MS + 2));
	assert_int_equal(apply(rt, ROUTE_TABLE_STALE_GRACE_MS + 3, &st), DP_IDLE);
	assert_int_equal(st.neighs_programmed, 1);
	struct route_table_neigh fg = {.addr = pfx("198.18.0.1/32").addr, .ifindex = 2};
	assert_int_equal(f_delete_neigh(f, &fg), 0);
	(void)dispatch(rt, ROUTE_TABLE_STALE_GRACE_MS + 4);
	assert_int_equal(apply(rt, ROUTE_TABLE_STALE_GRACE_MS + 5, &st), DP_IDLE);
	assert_int_equal(st.neighs_programmed, 0);
	assert_int_equal(f->neigh_dumps, 2);
	dp_routes_ops.free(rt);
	free(f);
}

/* VXLAN routes (felix/calc/vxlan.c): "<block> via <tunnel addr> dev vxlan.tabby onlink" is equal
 * only with the same gateway and onlink; a wrong gateway is replaced, a gateway change in the
 * desired state is written, the neighbour lives on vxlan.tabby, and a re-created device (new
 * ifindex, routes gone without RTM_DELROUTE) gets everything back. */
static struct calc_desired vx_desired(const char *gw)
{
	struct calc_desired d = {0};
	d.routes = calloc(1, sizeof(*d.routes));
	d.routes[0] = (struct calc_route){
	    .dst = pfx("198.19.1.0/26"), .ifname = CALC_VXLAN_IFNAME, .gateway = pfx(gw).addr};
	d.n_routes = 1;
	d.neighs = calloc(1, sizeof(*d.neighs));
	d.neighs[0] = (struct calc_neigh){
	    .addr = pfx(gw).addr, .mac = {0x66, 0, 0, 0, 0, 2}, .ifname = CALC_VXLAN_IFNAME};
	d.n_neighs = 1;
	return d;
}

static void test_vxlan_gateway_routes(void **state)
{
	struct fake *f = fake_new();
	struct route_table_stats st;
	struct dp_routes *rt;
	add_link(f, CALC_VXLAN_IFNAME, 10);
	f->n_events = 0;
	struct route_table_route wrong = mkroute("198.19.1.0/26", 10, PROTO, RTN_UNICAST);
	wrong.scope = RT_SCOPE_UNIVERSE;
	wrong.gateway = pfx("198.19.9.9/32").addr;
	wrong.onlink = true;
	f->routes[f->n_routes++] = wrong;
	assert_int_equal(dp_routes_new(&fake_ops, f, PROTO, &rt), 0);
	struct calc_desired d = vx_desired("198.19.1.1/32");
	assert_int_equal(dp_routes_set_desired(rt, &d), 0);
	calc_desired_done(&d);

	assert_int_equal(apply(rt, 0, &st), DP_IDLE);
	assert_int_equal(st.routes_programmed, 1);
	const struct route_table_route *k = kfind(f, "198.19.1.0/26");
	struct ip_prefix gw1 = pfx("198.19.1.1/32"), gw2 = pfx("198.19.1.2/32");
	assert_true(ip_addr_equal(&k->gateway, &gw1.addr));
	assert_true(k->onlink);
	assert_int_equal(k->scope, RT_SCOPE_UNIVERSE);
	assert_int_equal(k->ifindex, 10);
	assert_int_equal(f->n_neighs, 1);
	assert_int_equal(f->neighs[0].ifindex, 10);
	assert_false(dispatch(rt, 1)); /* our echo changes nothing */
	assert_int_equal(apply(rt, 2, &st), DP_IDLE);
	assert_int_equal(st.routes_programmed, 0);

	/* The remote node's tunnel address changes: same dst, new gateway. */
	d = vx_desired("198.19.1.2/32");
	assert_int_equal(dp_routes_set_desired(rt, &d), 0);
	calc_desired_done(&d);
	assert_int_equal(apply(rt, 3, &st), DP_IDLE);
	assert_int_equal(st.routes_programmed, 1);
	assert_true(ip_addr_equal(&kfind(f, "198.19.1.0/26")->gateway, &gw2.addr));
	assert_int_equal(st.neighs_removed, 1);

	/* The device is re-created (VXLAN off and on): its routes vanish without an event. */
	del_link(f, 10);
	assert_true(dispatch(rt, 4));
	(void)apply(rt, 5, &st);
	add_link(f, CALC_VXLAN_IFNAME, 11);
	assert_true(dispatch(rt, 6));
	assert_int_equal(apply(rt, 7, &st), DP_IDLE);
	assert_int_equal(kfind(f, "198.19.1.0/26")->ifindex, 11);
	assert_int_equal(f->n_neighs, 1);
	assert_int_equal(f->neighs[0].ifindex, 11);

	/* No longer desired: deleted at once. */
	d = (struct calc_desired){0};
	assert_int_equal(dp_routes_set_desired(rt, &d), 0);
	assert_int_equal(apply(rt, 8, &st), DP_IDLE);
	assert_int_equal(st.routes_removed, 1);
	assert_null(kfind(f, "198.19.1.0/26"));
	assert_int_equal(f->n_neighs, 0);
	dp_routes_ops.free(rt);
	free(f);
}

static void test_dump_failure_writes_nothing(void **state)
{
	struct fake *f = fake_new();
	struct route_table_stats st;
	add_link(f, "tbyaaaaaaaaaaa", 5);
	f->dump_fail = -EINTR;
	struct dp_routes *rt = new_rt(f);
	assert_int_equal(apply(rt, 0, &st), ROUTE_TABLE_RETRY_MS);
	assert_int_equal(g_ds.last_error, -EINTR);
	assert_false(g_ds.in_sync);
	assert_int_equal(f->replaces, 0);
	assert_int_equal(f->deletes, 0);
	assert_int_equal(f->n_sysctl, 0);
	assert_int_equal(apply(rt, 1, &st), ROUTE_TABLE_RETRY_MS);
	assert_true(st.dumped);
	assert_int_equal(g_ds.last_error, 0);
	assert_int_equal(st.routes_programmed, 2);
	dp_routes_ops.free(rt);
	free(f);
}

/* The event-driven steady state: after the first dump, the kernel is never read again unless
 * events were lost; our route deleted by someone else comes back; a foreign route is never
 * touched; a new workload costs its own writes. */
static void test_events_no_dump_in_steady_state(void **state)
{
	struct fake *f = fake_new();
	struct route_table_stats st;
	add_link(f, "eth0", 2);
	add_link(f, "tbyaaaaaaaaaaa", 5);
	add_link(f, "tbymissing", 7);
	struct dp_routes *rt = new_rt(f);
	assert_int_equal(apply(rt, 0, &st), DP_IDLE);
	const unsigned first = dumps(f);
	assert_int_equal(first, 5); /* links, routes x2, neighbours x2 */
	uint64_t t = 10;

	/* Own writes are reflected without a dump: their echoes wake nothing, and an apply with
	 * the same desired state does nothing. */
	assert_false(dispatch(rt, t++));
	struct calc_desired d = desired();
	assert_int_equal(dp_routes_set_desired(rt, &d), 0);
	calc_desired_done(&d);
	unsigned writes = f->replaces + f->deletes + f->neigh_replaces + f->neigh_deletes;
	assert_int_equal(apply(rt, t++, &st), DP_IDLE);
	assert_int_equal(f->replaces + f->deletes + f->neigh_replaces + f->neigh_deletes, writes);

	/* A foreign route appears on another prefix: nothing to do. */
	kadd(f, "198.18.7.0/24", 2, RTPROT_STATIC_, RTN_UNICAST);
	assert_false(dispatch(rt, t++));
	assert_int_equal(apply(rt, t++, &st), DP_IDLE);

	/* Our route is deleted by someone else: re-added. */
	kdel(f, "198.19.0.5/32");
	assert_true(dispatch(rt, t++));
	assert_int_equal(apply(rt, t++, &st), DP_IDLE);
	assert_int_equal(st.routes_programmed, 1);
	assert_int_equal(kfind(f, "198.19.0.5/32")->ifindex, 5);
	assert_false(dispatch(rt, t++));

	/* A foreign route replaces ours on the same destination: left alone, ours pending;
	 * when it goes, ours comes back. */
	kadd(f, "198.19.0.6/32", 2, RTPROT_STATIC_, RTN_UNICAST);
	assert_true(dispatch(rt, t++));
	assert_int_equal(apply(rt, t++, &st), ROUTE_TABLE_RETRY_MS);
	assert_int_equal(st.routes_pending, 1);
	assert_int_equal(kfind(f, "198.19.0.6/32")->protocol, RTPROT_STATIC_);
	kdel(f, "198.19.0.6/32");
	assert_true(dispatch(rt, t++));
	assert_int_equal(apply(rt, t++, &st), DP_IDLE);
	assert_int_equal(kfind(f, "198.19.0.6/32")->protocol, PROTO);
	assert_int_equal(kfind(f, "198.19.0.6/32")->ifindex, 7);

	/* A stray route of ours (the CNI plugin's, for an endpoint not yet in the datastore)
	 * waits out its grace, then goes; if it becomes desired first, it stays. */
	kadd(f, "198.19.0.40/32", 5, PROTO, RTN_UNICAST);
	assert_true(dispatch(rt, t));
	assert_int_equal(apply(rt, t, &st), ROUTE_TABLE_STALE_GRACE_MS);
	assert_non_null(kfind(f, "198.19.0.40/32"));
	assert_int_equal(apply(rt, t + ROUTE_TABLE_STALE_GRACE_MS, &st), DP_IDLE);
	assert_int_equal(st.routes_removed, 1);
	assert_null(kfind(f, "198.19.0.40/32"));
	t += ROUTE_TABLE_STALE_GRACE_MS + 1;
	assert_false(dispatch(rt, t++));

	/* The interface goes away (its routes vanish silently, as IPv4 does): the route is
	 * pending; when it comes back under a new index, route, neighbour and sysctls follow. */
	del_link(f, 5);
	assert_true(dispatch(rt, t++));
	assert_int_equal(apply(rt, t++, &st), ROUTE_TABLE_RETRY_MS);
	assert_int_equal(st.routes_pending, 1);
	add_link(f, "tbyaaaaaaaaaaa", 15);
	assert_true(dispatch(rt, t++));
	size_t sysctls = f->n_sysctl;
	assert_int_equal(apply(rt, t++, &st), DP_IDLE);
	assert_int_equal(st.routes_programmed, 1);
	assert_int_equal(st.neighs_programmed, 1);
	assert_int_equal(st.ifaces_configured, 1);
	assert_int_equal(f->n_sysctl, sysctls + 8);
	assert_int_equal(kfind(f, "198.19.0.5/32")->ifindex, 15);
	assert_false(dispatch(rt, t++));

	/* The interface is taken down (its routes vanish silently): the route cannot go back
	 * while it is down (pending, retried); when it comes up, it does. */
	set_link_up(f, 15, false);
	assert_true(dispatch(rt, t++));
	assert_int_equal(apply(rt, t++, &st), ROUTE_TABLE_RETRY_MS);
	assert_int_equal(st.errors, 1);
	assert_null(kfind(f, "198.19.0.5/32"));
	set_link_up(f, 15, true);
	assert_true(dispatch(rt, t++));
	assert_int_equal(apply(rt, t++, &st), DP_IDLE);
	assert_int_equal(st.routes_programmed, 1);
	assert_int_equal(kfind(f, "198.19.0.5/32")->ifindex, 15);
	assert_false(dispatch(rt, t++));

	/* Still the one dump from the start. */
	assert_int_equal(dumps(f), first);

	/* Events lost (ENOBUFS): a full resync, mark and sweep; nothing to change. */
	kadd(f, "198.19.0.41/32", 15, PROTO, RTN_UNICAST);
	f->overrun = true;
	assert_true(dispatch(rt, t++));
	assert_int_equal(apply(rt, t, &st), ROUTE_TABLE_STALE_GRACE_MS);
	assert_true(st.dumped);
	assert_int_equal(dumps(f), 2 * first);
	assert_int_equal(st.routes_programmed, 0);
	assert_int_equal(st.ifaces_configured, 0); /* only queue_resync rewrites sysctls */
	/* The route added while events were lost is found by the dump and swept after its
	 * grace. */
	assert_int_equal(apply(rt, t + ROUTE_TABLE_STALE_GRACE_MS, &st), DP_IDLE);
	assert_int_equal(st.routes_removed, 1);
	assert_null(kfind(f, "198.19.0.41/32"));
	assert_int_equal(dumps(f), 2 * first);
	dp_routes_ops.free(rt);
	free(f);
}

/* n workloads: 198.19.<i/250>.<i%250 + 1>/32 on tby<i>, ifindex 100 + i. */
static struct calc_desired workloads(size_t n)
{
	struct calc_desired d = {0};
	d.routes = calloc(n + 1, sizeof(*d.routes));
	d.neighs = calloc(n, sizeof(*d.neighs));
	d.ifaces = calloc(n, sizeof(*d.ifaces));
	for (size_t i = 0; i < n; i++) {
		char a[64];
		snprintf(a, sizeof(a), "198.19.%zu.%zu/32", i / 250, i % 250 + 1);
		d.routes[i].dst = pfx(a);
		snprintf(d.routes[i].ifname, IFNAMSIZ, "tby%06zu", i);
		d.neighs[i].addr = d.routes[i].dst.addr;
		d.neighs[i].mac[0] = 2;
		d.neighs[i].mac[5] = (uint8_t)i;
		memcpy(d.neighs[i].ifname, d.routes[i].ifname, IFNAMSIZ);
		memcpy(d.ifaces[i], d.routes[i].ifname, IFNAMSIZ);
	}
	d.n_routes = d.n_neighs = d.n_ifaces = n;
	qsort(d.routes, n, sizeof(*d.routes), (int (*)(const void *, const void *))ip_prefix_cmp);
	return d;
}

/* The 251st workload on a host with 250: exactly its own writes, no dump. */
static void test_new_workload_costs_its_own_writes(void **state)
{
	struct fake *f = fake_new();
	struct route_table_stats st;
	f->no_sysctl_log = true;
	for (int i = 0; i < 251; i++) {
		char name[IFNAMSIZ];
		snprintf(name, sizeof(name), "tby%06d", i);
		add_link(f, name, 100 + i);
	}
	struct dp_routes *rt;
	g_ds = (struct dp_stats){0};
	assert_int_equal(dp_routes_new(&fake_ops, f, PROTO, &rt), 0);
	struct calc_desired d = workloads(250);
	assert_int_equal(dp_routes_set_desired(rt, &d), 0);
	calc_desired_done(&d);
	assert_int_equal(apply(rt, 0, &st), DP_IDLE);
	assert_int_equal(st.routes_programmed, 250);
	assert_int_equal(st.neighs_programmed, 250);
	assert_false(dispatch(rt, 1));
	unsigned before = dumps(f), replaces = f->replaces, nreplaces = f->neigh_replaces;

	d = workloads(251);
	assert_int_equal(dp_routes_set_desired(rt, &d), 0);
	calc_desired_done(&d);
	assert_int_equal(apply(rt, 2, &st), DP_IDLE);
	assert_int_equal(st.routes_programmed, 1);
	assert_int_equal(st.neighs_programmed, 1);
	assert_int_equal(st.ifaces_configured, 1);
	assert_int_equal(f->replaces, replaces + 1);
	assert_int_equal(f->neigh_replaces, nreplaces + 1);
	assert_int_equal(dumps(f), before);
	assert_int_equal(g_ds.objects_changed, 250 * 3 + 3);
	dp_routes_ops.free(rt);
	free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_mark_and_sweep),
	    cmocka_unit_test(test_dual_stack),
	    cmocka_unit_test(test_undesired_goes_at_once),
	    cmocka_unit_test(test_foreign_conflict_and_failure_isolated),
	    cmocka_unit_test(test_neighbours_only_on_tby),
	    cmocka_unit_test(test_vxlan_gateway_routes),
	    cmocka_unit_test(test_dump_failure_writes_nothing),
	    cmocka_unit_test(test_events_no_dump_in_steady_state),
	    cmocka_unit_test(test_new_workload_costs_its_own_writes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
