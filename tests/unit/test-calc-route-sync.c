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

struct fake {
	struct route_table_route routes[64];
	size_t n_routes;
	struct route_table_neigh neighs[64];
	size_t n_neighs;
	struct {
		char name[IFNAMSIZ];
		int index;
	} links[16];
	size_t n_links;
	char sysctl_log[64][128];
	size_t n_sysctl;
	unsigned replaces, deletes, neigh_replaces, neigh_deletes;
	struct ip_prefix fail_dst; /* replace_route fails for this dst */
	int dump_fail;		   /* dump_routes returns this once when non-zero */
};

static int f_dump_routes(void *h, int family, uint32_t table, route_table_route_cb cb, void *ud)
{
	struct fake *f = h;
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

static int f_replace_route(void *h, const struct route_table_route *r)
{
	struct fake *f = h;
	if (f->fail_dst.addr.family && ip_prefix_equal(&f->fail_dst, &r->dst)) {
		return -EIO;
	}
	f->replaces++;
	ssize_t i = f_route_find(f, r);
	if (i < 0) {
		i = (ssize_t)f->n_routes++;
	}
	f->routes[i] = *r;
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
	f->routes[i] = f->routes[--f->n_routes];
	return 0;
}

static const char *f_ifname(struct fake *f, int index)
{
	for (size_t i = 0; i < f->n_links; i++) {
		if (f->links[i].index == index) {
			return f->links[i].name;
		}
	}
	return "";
}

static int f_dump_neighs(void *h, int family, route_table_neigh_cb cb, void *ud)
{
	struct fake *f = h;
	for (size_t i = 0; i < f->n_neighs; i++) {
		struct route_table_neigh n = f->neighs[i];
		if (n.addr.family != family) {
			continue;
		}
		snprintf(n.ifname, IFNAMSIZ, "%s", f_ifname(f, n.ifindex));
		int r = cb(ud, &n);
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
	for (size_t i = 0; i < f->n_neighs; i++) {
		if (f->neighs[i].ifindex == n->ifindex &&
		    ip_addr_equal(&f->neighs[i].addr, &n->addr)) {
			f->neighs[i] = *n;
			return 0;
		}
	}
	f->neighs[f->n_neighs++] = *n;
	return 0;
}

static int f_delete_neigh(void *h, const struct route_table_neigh *n)
{
	struct fake *f = h;
	for (size_t i = 0; i < f->n_neighs; i++) {
		if (f->neighs[i].ifindex == n->ifindex &&
		    ip_addr_equal(&f->neighs[i].addr, &n->addr)) {
			f->neighs[i] = f->neighs[--f->n_neighs];
			f->neigh_deletes++;
			return 0;
		}
	}
	return -ENOENT;
}

static int f_link_index(void *h, const char *ifname)
{
	struct fake *f = h;
	for (size_t i = 0; i < f->n_links; i++) {
		if (strcmp(f->links[i].name, ifname) == 0) {
			return f->links[i].index;
		}
	}
	return -ENODEV;
}

static int f_write_sysctl(void *h, const char *path, const char *value)
{
	struct fake *f = h;
	assert_true(f->n_sysctl < 64);
	snprintf(f->sysctl_log[f->n_sysctl++], 128, "%s=%s", path, value);
	return 0;
}

static const struct route_table_ops fake_ops = {
    .dump_routes = f_dump_routes,
    .replace_route = f_replace_route,
    .delete_route = f_delete_route,
    .dump_neighs = f_dump_neighs,
    .replace_neigh = f_replace_neigh,
    .delete_neigh = f_delete_neigh,
    .link_index = f_link_index,
    .write_sysctl = f_write_sysctl,
};

static struct ip_prefix pfx(const char *s)
{
	struct ip_prefix p;
	assert_int_equal(ip_prefix_parse(s, true, &p), 0);
	return p;
}

static void add_link(struct fake *f, const char *name, int index)
{
	snprintf(f->links[f->n_links].name, IFNAMSIZ, "%s", name);
	f->links[f->n_links++].index = index;
}

static void kroute(struct fake *f, const char *dst, int ifindex, uint8_t proto, uint8_t type)
{
	f->routes[f->n_routes++] = (struct route_table_route){
	    .dst = pfx(dst),
	    .type = type,
	    .scope = type == RTN_BLACKHOLE ? RT_SCOPE_UNIVERSE : RT_SCOPE_LINK,
	    .protocol = proto,
	    .table = ROUTE_TABLE_MAIN,
	    .ifindex = ifindex,
	};
}

static const struct route_table_route *kfind(struct fake *f, const char *dst)
{
	struct route_table_route key = {.dst = pfx(dst), .table = ROUTE_TABLE_MAIN};
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

static struct route_table *new_rt(struct fake *f)
{
	struct route_table *rt;
	struct calc_desired d = desired();
	assert_int_equal(route_table_new(&fake_ops, f, PROTO, &rt), 0);
	assert_int_equal(route_table_set_desired(rt, &d), 0);
	calc_desired_done(&d);
	return rt;
}

static void test_mark_and_sweep(void **state)
{
	struct fake f = {0};
	struct route_table_stats st;
	add_link(&f, "eth0", 2);
	add_link(&f, "tbyaaaaaaaaaaa", 5);
	kroute(&f, "198.18.5.0/24", 2, RTPROT_STATIC_, RTN_UNICAST); /* foreign */
	kroute(&f, "198.18.0.0/24", 2, RTPROT_KERNEL, RTN_UNICAST);  /* foreign */
	kroute(&f, "198.19.0.9/32", 5, PROTO, RTN_UNICAST);	     /* ours, stale */
	kroute(&f, "198.19.0.5/32", 2, PROTO, RTN_UNICAST);	     /* ours, wrong device */
	struct route_table *rt = new_rt(&f);

	/* First apply: fix and add, but the never-desired stale route is in its grace period. */
	assert_int_equal(route_table_apply(rt, 1000, &st), 1);
	assert_int_equal(st.routes_programmed, 2);
	assert_int_equal(st.routes_removed, 0);
	assert_int_equal(st.routes_pending, 1); /* tbymissing */
	assert_int_equal(kfind(&f, "198.19.0.5/32")->ifindex, 5);
	assert_int_equal(kfind(&f, "198.19.0.5/32")->scope, RT_SCOPE_LINK);
	assert_int_equal(kfind(&f, "198.19.0.0/26")->type, RTN_BLACKHOLE);
	assert_int_equal(kfind(&f, "198.19.0.0/26")->protocol, PROTO);
	assert_non_null(kfind(&f, "198.19.0.9/32"));
	assert_null(kfind(&f, "198.19.0.6/32"));
	/* Neighbour and sysctls of the interface that exists. */
	assert_int_equal(f.n_neighs, 1);
	assert_int_equal(f.neighs[0].ifindex, 5);
	assert_true(f.neighs[0].permanent);
	assert_int_equal(f.n_sysctl, 5);
	assert_string_equal(f.sysctl_log[4], "net/ipv4/neigh/tbyaaaaaaaaaaa/proxy_delay=0");

	/* After the grace period the stale route goes; foreign routes stay. */
	assert_int_equal(route_table_apply(rt, 1000 + ROUTE_TABLE_STALE_GRACE_MS, &st), 1);
	assert_int_equal(st.routes_removed, 1);
	assert_int_equal(st.routes_programmed, 0);
	assert_null(kfind(&f, "198.19.0.9/32"));
	assert_int_equal(kfind(&f, "198.18.5.0/24")->protocol, RTPROT_STATIC_);
	assert_int_equal(kfind(&f, "198.18.0.0/24")->protocol, RTPROT_KERNEL);

	/* Idempotent: nothing to do the next time; sysctls are not rewritten. */
	unsigned replaces = f.replaces, deletes = f.deletes;
	assert_int_equal(route_table_apply(rt, 5000, &st), 1);
	assert_int_equal(f.replaces, replaces);
	assert_int_equal(f.deletes, deletes);
	assert_int_equal(st.ifaces_configured, 0);
	assert_int_equal(f.n_sysctl, 5);

	/* The missing interface appears: its route and sysctls follow; nothing is pending. */
	add_link(&f, "tbymissing", 7);
	assert_int_equal(route_table_apply(rt, 6000, &st), 0);
	assert_int_equal(st.routes_programmed, 1);
	assert_int_equal(kfind(&f, "198.19.0.6/32")->ifindex, 7);
	assert_int_equal(f.n_sysctl, 10);

	/* Resync rewrites sysctls. */
	route_table_queue_resync(rt);
	assert_int_equal(route_table_apply(rt, 7000, &st), 0);
	assert_int_equal(st.ifaces_configured, 2);
	route_table_free(rt);
}

static void test_undesired_goes_at_once(void **state)
{
	struct fake f = {0};
	struct route_table_stats st;
	add_link(&f, "tbyaaaaaaaaaaa", 5);
	add_link(&f, "tbymissing", 7);
	struct route_table *rt = new_rt(&f);
	assert_int_equal(route_table_apply(rt, 0, &st), 0);
	assert_int_equal(f.n_routes, 3);

	/* The workload goes away: a route we desired is deleted without a grace period, and so
	 * is its neighbour. */
	struct calc_desired d = desired();
	d.n_routes = 1; /* only the blackhole */
	d.n_neighs = 0;
	d.n_ifaces = 0;
	assert_int_equal(route_table_set_desired(rt, &d), 0);
	calc_desired_done(&d);
	assert_int_equal(route_table_apply(rt, 1, &st), 0);
	assert_int_equal(st.routes_removed, 2);
	assert_int_equal(st.neighs_removed, 1);
	assert_int_equal(f.n_routes, 1);
	assert_int_equal(f.n_neighs, 0);
	route_table_free(rt);
}

static void test_foreign_conflict_and_failure_isolated(void **state)
{
	struct fake f = {0};
	struct route_table_stats st;
	add_link(&f, "tbyaaaaaaaaaaa", 5);
	add_link(&f, "tbymissing", 7);
	/* Someone else's static route sits on our blackhole's destination. */
	kroute(&f, "198.19.0.0/26", 5, RTPROT_STATIC_, RTN_UNICAST);
	f.fail_dst = pfx("198.19.0.5/32");
	struct route_table *rt = new_rt(&f);
	assert_int_equal(route_table_apply(rt, 0, &st), 1);
	assert_int_equal(st.routes_pending, 2);
	assert_int_equal(st.errors, 1);
	assert_int_equal(st.routes_programmed, 1); /* .6 went in despite the failure of .5 */
	assert_int_equal(kfind(&f, "198.19.0.0/26")->protocol, RTPROT_STATIC_);
	assert_int_equal(kfind(&f, "198.19.0.6/32")->ifindex, 7);
	/* The failure clears: retried on the next apply. */
	f.fail_dst = (struct ip_prefix){0};
	assert_int_equal(route_table_apply(rt, 1, &st), 1);
	assert_int_equal(st.routes_programmed, 1);
	assert_int_equal(kfind(&f, "198.19.0.5/32")->ifindex, 5);
	route_table_free(rt);
}

static void test_neighbours_only_on_tby(void **state)
{
	struct fake f = {0};
	struct route_table_stats st;
	add_link(&f, "eth0", 2);
	add_link(&f, "tbyaaaaaaaaaaa", 5);
	add_link(&f, "tbyold", 9);
	f.neighs[f.n_neighs++] = (struct route_table_neigh){
	    .addr = pfx("198.18.0.1/32").addr, .ifindex = 2, .permanent = true}; /* foreign */
	f.neighs[f.n_neighs++] = (struct route_table_neigh){
	    .addr = pfx("198.19.0.77/32").addr, .ifindex = 9, .permanent = true}; /* stale */
	f.neighs[f.n_neighs++] = (struct route_table_neigh){
	    .addr = pfx("198.19.0.5/32").addr, .ifindex = 5, .mac = {1}, .permanent = true};
	struct route_table *rt = new_rt(&f);
	assert_int_equal(route_table_apply(rt, 0, &st), 1);
	assert_int_equal(st.neighs_programmed, 1); /* wrong MAC fixed */
	assert_int_equal(st.neighs_removed, 0);	   /* stale one in its grace period */
	assert_int_equal(route_table_apply(rt, ROUTE_TABLE_STALE_GRACE_MS, &st), 1);
	assert_int_equal(st.neighs_removed, 1);
	assert_int_equal(f.n_neighs, 2);
	for (size_t i = 0; i < f.n_neighs; i++) {
		assert_int_not_equal(f.neighs[i].ifindex, 9);
		if (f.neighs[i].ifindex == 5) {
			assert_int_equal(f.neighs[i].mac[5], 5);
		}
	}
	route_table_free(rt);
}

static void test_dump_failure_writes_nothing(void **state)
{
	struct fake f = {0};
	struct route_table_stats st;
	add_link(&f, "tbyaaaaaaaaaaa", 5);
	f.dump_fail = -EINTR;
	struct route_table *rt = new_rt(&f);
	assert_int_equal(route_table_apply(rt, 0, &st), -EINTR);
	assert_int_equal(f.replaces, 0);
	assert_int_equal(f.deletes, 0);
	assert_int_equal(route_table_apply(rt, 1, &st), 1);
	assert_int_equal(st.routes_programmed, 2);
	route_table_free(rt);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_mark_and_sweep),
	    cmocka_unit_test(test_undesired_goes_at_once),
	    cmocka_unit_test(test_foreign_conflict_and_failure_isolated),
	    cmocka_unit_test(test_neighbours_only_on_tby),
	    cmocka_unit_test(test_dump_failure_writes_nothing),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
