/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The routes driver (dp_routes_ops) with its real netlink backend, in a private network
 * namespace: desired routes appear with our protocol, stale ones of ours go, foreign ones stay, a
 * route on the wrong interface is fixed, a second apply changes nothing. After the first dump
 * the driver works from monitor events only: our route deleted with `ip route del` is back after
 * dispatch, a foreign route that takes over our prefix is never touched (ours returns when it
 * goes), and a route whose interface is missing stays pending without holding back the others
 * until the interface's RTM_NEWLINK arrives. Needs root (exit 77 otherwise).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>
#include <errno.h>
#include <linux/rtnetlink.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <net/if.h>
#include <unistd.h>

#include "felix/dataplane/routes/routes.h"
#include "lib/log.h"

#define PROTO 81
#define TBY_A "tbyaaaaaaaaaaa"
#define TBY_B "tbybbbbbbbbbbb"

static struct route_table_nl *nl;

static void sh(const char *cmd)
{
	int r = system(cmd);
	if (r != 0) {
		fail_msg("command failed (%d): %s", r, cmd);
	}
}

static struct ip_prefix pfx(const char *s)
{
	struct ip_prefix p;
	assert_int_equal(ip_prefix_parse(s, true, &p), 0);
	return p;
}

struct found {
	struct ip_prefix dst;
	bool seen;
	struct route_table_route r;
};

static int find_cb(void *ud, const struct route_table_route *r)
{
	struct found *f = ud;
	if (ip_prefix_equal(&r->dst, &f->dst) && r->priority == 0) {
		f->seen = true;
		f->r = *r;
	}
	return 0;
}

/* Read the kernel's main table back with a netlink dump. */
static bool kernel_route(const char *dst, struct route_table_route *ret)
{
	struct found f = {.dst = pfx(dst)};
	assert_int_equal(
	    route_table_netlink_ops.dump_routes(nl, AF_INET, ROUTE_TABLE_MAIN, find_cb, &f), 0);
	if (f.seen && ret) {
		*ret = f.r;
	}
	return f.seen;
}

static struct calc_desired desired(bool with_b)
{
	struct calc_desired d = {0};
	d.routes = calloc(3, sizeof(*d.routes));
	d.routes[d.n_routes++] =
	    (struct calc_route){.dst = pfx("198.19.0.0/26"), .blackhole = true};
	d.routes[d.n_routes++] = (struct calc_route){.dst = pfx("198.19.0.5/32"), .ifname = TBY_A};
	if (with_b) {
		d.routes[d.n_routes++] =
		    (struct calc_route){.dst = pfx("198.19.0.7/32"), .ifname = TBY_B};
	}
	d.neighs = calloc(1, sizeof(*d.neighs));
	d.neighs[d.n_neighs++] = (struct calc_neigh){
	    .addr = pfx("198.19.0.5/32").addr, .mac = {0x02, 0, 0, 0, 0, 0x05}, .ifname = TBY_A};
	d.ifaces = calloc(2, sizeof(*d.ifaces));
	snprintf(d.ifaces[d.n_ifaces++], IFNAMSIZ, TBY_A);
	if (with_b) {
		snprintf(d.ifaces[d.n_ifaces++], IFNAMSIZ, TBY_B);
	}
	return d;
}

static int read_sysctl(const char *path)
{
	FILE *f = fopen(path, "re");
	int v = -1;
	if (f) {
		if (fscanf(f, "%d", &v) != 1) {
			v = -1;
		}
		fclose(f);
	}
	return v;
}

static struct dp_stats ds;

static int64_t apply(struct dp_routes *rt, uint64_t now, struct route_table_stats *st)
{
	int64_t r = dp_routes_ops.apply(rt, now, &ds);
	*st = *dp_routes_last_stats(rt);
	return r;
}

static int ifindex(const char *name)
{
	return (int)if_nametoindex(name);
}

static void test_reconcile(void **state)
{
	struct dp_routes *rt;
	struct route_table_stats st;
	struct route_table_route k;
	struct calc_desired d = desired(false);
	uint64_t t = 1000;

	/* No dummy driver on every kernel we run on: veth pairs with the peer ends up too. */
	sh("ip link add " TBY_A
	   " type veth peer name pa0 && ip link set pa0 up && ip link set " TBY_A " up");
	sh("ip link add fgn0 type veth peer name pf0 && ip link set pf0 up && ip link set fgn0 up");
	sh("ip route add 198.19.0.9/32 dev " TBY_A " proto 81 scope link"); /* stale, ours */
	sh("ip route add 198.18.5.0/24 dev fgn0 proto static");		    /* foreign */
	sh("ip route add 198.19.0.5/32 dev fgn0 proto 81 scope link");	    /* ours, wrong dev */
	sh("ip neigh add 198.18.5.9 lladdr 02:00:00:00:00:99 dev fgn0 nud permanent"); /* foreign */

	assert_int_equal(dp_routes_new(&route_table_netlink_ops, nl, PROTO, &rt), 0);
	assert_true(dp_routes_ops.fd(rt) >= 0);
	assert_int_equal(dp_routes_set_desired(rt, &d), 0);
	calc_desired_done(&d);

	/* First apply: one dump, desired in place; the stale route (never desired by us) is in
	 * its grace period, as a CNI-installed route of a workload we have not heard of yet
	 * would be, and the driver asks to be called when that ends. */
	assert_int_equal(apply(rt, t, &st), ROUTE_TABLE_STALE_GRACE_MS);
	assert_true(st.dumped);
	assert_int_equal(st.routes_programmed, 2);
	assert_true(kernel_route("198.19.0.9/32", NULL));
	/* After the grace period it is swept, without a dump. */
	t += ROUTE_TABLE_STALE_GRACE_MS;
	assert_int_equal(apply(rt, t, &st), DP_IDLE);
	assert_false(st.dumped);
	assert_int_equal(st.routes_removed, 1);
	assert_int_equal(st.routes_programmed, 0);
	assert_true(ds.in_sync);

	assert_true(kernel_route("198.19.0.5/32", &k));
	assert_int_equal(k.protocol, PROTO);
	assert_int_equal(k.scope, RT_SCOPE_LINK);
	assert_int_equal(k.type, RTN_UNICAST);
	assert_int_equal(k.ifindex, ifindex(TBY_A));
	assert_true(kernel_route("198.19.0.0/26", &k));
	assert_int_equal(k.type, RTN_BLACKHOLE);
	assert_int_equal(k.protocol, PROTO);
	assert_false(kernel_route("198.19.0.9/32", NULL));
	assert_true(kernel_route("198.18.5.0/24", &k));
	assert_int_equal(k.protocol, RTPROT_STATIC);
	assert_int_equal(k.ifindex, ifindex("fgn0"));
	sh("ip neigh show dev " TBY_A
	   " | grep -q '^198.19.0.5 lladdr 02:00:00:00:00:05 PERMANENT'");
	sh("ip neigh show dev fgn0 | grep -q '^198.18.5.9 lladdr 02:00:00:00:00:99 PERMANENT'");
	assert_int_equal(read_sysctl("/proc/sys/net/ipv4/conf/" TBY_A "/proxy_arp"), 1);
	assert_int_equal(read_sysctl("/proc/sys/net/ipv4/conf/" TBY_A "/forwarding"), 1);
	assert_int_equal(read_sysctl("/proc/sys/net/ipv4/conf/" TBY_A "/route_localnet"), 1);
	assert_int_equal(read_sysctl("/proc/sys/net/ipv4/conf/" TBY_A "/rp_filter"), 1);
	assert_int_equal(read_sysctl("/proc/sys/net/ipv4/neigh/" TBY_A "/proxy_delay"), 0);
	assert_int_equal(read_sysctl("/proc/sys/net/ipv4/conf/fgn0/proxy_arp"), 0);

	/* Idempotent: the queued events (the set-up's and the echoes of our own writes) leave
	 * nothing to do. */
	(void)dp_routes_ops.dispatch(rt, ++t);
	assert_int_equal(apply(rt, ++t, &st), DP_IDLE);
	assert_int_equal(st.routes_programmed + st.routes_removed + st.neighs_programmed +
			     st.neighs_removed + st.ifaces_configured,
			 0);
	assert_false(dp_routes_ops.dispatch(rt, ++t));

	/* Someone deletes our route: the event wakes the driver and the route is back. */
	sh("ip route del 198.19.0.5/32");
	assert_true(dp_routes_ops.dispatch(rt, ++t));
	assert_int_equal(apply(rt, ++t, &st), DP_IDLE);
	assert_false(st.dumped);
	assert_int_equal(st.routes_programmed, 1);
	assert_true(kernel_route("198.19.0.5/32", &k));
	assert_int_equal(k.protocol, PROTO);
	assert_false(dp_routes_ops.dispatch(rt, ++t));

	/* A foreign route on the same prefix: beside ours (another metric) it is left alone;
	 * when it takes ours over, it is still left alone and ours is pending; when it goes,
	 * ours comes back. */
	sh("ip route add 198.19.0.5/32 dev fgn0 proto static metric 100");
	(void)dp_routes_ops.dispatch(rt, ++t);
	assert_int_equal(apply(rt, ++t, &st), DP_IDLE);
	sh("ip route show 198.19.0.5/32 | grep -q 'dev fgn0 proto static scope link metric 100'");
	sh("ip route replace 198.19.0.5/32 dev fgn0 proto static");
	assert_true(dp_routes_ops.dispatch(rt, ++t));
	assert_int_equal(apply(rt, ++t, &st), ROUTE_TABLE_RETRY_MS);
	assert_int_equal(st.routes_pending, 1);
	assert_true(kernel_route("198.19.0.5/32", &k));
	assert_int_equal(k.protocol, RTPROT_STATIC);
	assert_int_equal(k.ifindex, ifindex("fgn0"));
	assert_int_equal(apply(rt, ++t, &st), ROUTE_TABLE_RETRY_MS); /* retried: still left */
	assert_true(kernel_route("198.19.0.5/32", &k));
	assert_int_equal(k.protocol, RTPROT_STATIC);
	sh("ip route del 198.19.0.5/32 dev fgn0 proto static metric 0");
	assert_true(dp_routes_ops.dispatch(rt, ++t));
	assert_int_equal(apply(rt, ++t, &st), DP_IDLE);
	assert_int_equal(st.routes_programmed, 1);
	assert_true(kernel_route("198.19.0.5/32", &k));
	assert_int_equal(k.protocol, PROTO);
	assert_int_equal(k.ifindex, ifindex(TBY_A));
	sh("ip route show 198.19.0.5/32 | grep -q 'dev fgn0 proto static scope link metric 100'");
	sh("ip route del 198.19.0.5/32 dev fgn0 proto static metric 100");

	/* The interface goes away: its route stays pending and the others go in regardless. */
	sh("ip link del " TBY_A);
	sh("ip link add " TBY_B
	   " type veth peer name pb0 && ip link set pb0 up && ip link set " TBY_B " up");
	assert_true(dp_routes_ops.dispatch(rt, ++t));
	d = desired(true);
	assert_int_equal(dp_routes_set_desired(rt, &d), 0);
	calc_desired_done(&d);
	assert_int_equal(apply(rt, ++t, &st), ROUTE_TABLE_RETRY_MS);
	assert_false(st.dumped);
	assert_int_equal(st.routes_pending, 1);
	assert_int_equal(st.routes_programmed, 1);
	assert_false(kernel_route("198.19.0.5/32", NULL));
	assert_true(kernel_route("198.19.0.7/32", &k));
	assert_int_equal(k.ifindex, ifindex(TBY_B));
	assert_true(kernel_route("198.19.0.0/26", NULL));
	assert_int_equal(read_sysctl("/proc/sys/net/ipv4/conf/" TBY_B "/proxy_arp"), 1);

	/* It comes back (the CNI plugin recreated it): its RTM_NEWLINK wakes the driver and
	 * the pending route, neighbour and sysctls are programmed. */
	sh("ip link add " TBY_A
	   " type veth peer name pa0 && ip link set pa0 up && ip link set " TBY_A " up");
	assert_true(dp_routes_ops.dispatch(rt, ++t));
	assert_int_equal(apply(rt, ++t, &st), DP_IDLE);
	assert_false(st.dumped);
	assert_int_equal(st.routes_programmed, 1);
	assert_int_equal(st.neighs_programmed, 1);
	assert_int_equal(st.ifaces_configured, 1);
	assert_true(kernel_route("198.19.0.5/32", &k));
	assert_int_equal(k.ifindex, ifindex(TBY_A));
	assert_true(kernel_route("198.18.5.0/24", NULL));
	assert_int_equal(read_sysctl("/proc/sys/net/ipv4/conf/" TBY_A "/proxy_arp"), 1);
	sh("ip neigh show dev " TBY_A
	   " | grep -q '^198.19.0.5 lladdr 02:00:00:00:00:05 PERMANENT'");

	/* A queued resync re-reads the kernel and finds everything in place. */
	dp_routes_ops.queue_resync(rt);
	assert_int_equal(apply(rt, ++t, &st), DP_IDLE);
	assert_true(st.dumped);
	assert_int_equal(
	    st.routes_programmed + st.routes_removed + st.neighs_programmed + st.neighs_removed, 0);
	assert_int_equal(st.ifaces_configured, 2);
	dp_routes_ops.free(rt);
}

int main(void)
{
	if (geteuid() != 0) {
		printf("skipped: needs root\n");
		return 77;
	}
	log_set_level(LOG_LEVEL_DEBUG);
	if (unshare(CLONE_NEWNET) < 0) {
		perror("unshare(CLONE_NEWNET)");
		return 77;
	}
	if (system("ip link set lo up") != 0 || route_table_nl_new(&nl) < 0) {
		return 1;
	}
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_reconcile),
	};
	int r = cmocka_run_group_tests(tests, NULL, NULL);
	route_table_nl_free(nl);
	return r;
}
