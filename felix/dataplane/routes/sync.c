/* SPDX-License-Identifier: Apache-2.0 */
/*
 * DOC: route, neighbour and sysctl reconciliation (pure: the kernel is reached only through
 * struct route_table_ops, so the same code runs against netlink and against the unit tests'
 * fake kernel).
 *
 * Each apply is a full mark and sweep (BIRD sysdep/unix/krt.c krt_init_scan -> krt_got_route ->
 * krt_prune): dump the table, match every route against the desired set, then send the
 * deletions followed by the additions (STYLE.md 5.5). Ownership is read from rtm_protocol
 * (BIRD's KRT_SRC_BIRD vs KRT_SRC_ALIEN, Felix's proto 80): a route that is not ours is never
 * changed or deleted, even when it occupies a destination we want. A route of ours that we never
 * desired during this process's lifetime (a leftover from before a restart, or the CNI plugin's
 * route for a workload whose endpoint we have not heard of yet) is swept only after
 * ROUTE_TABLE_STALE_GRACE_MS; one we desired earlier is swept at once. Items that cannot be
 * programmed (interface missing, kernel error) stay pending and are retried on the next apply
 * without blocking the others (RET_GATHER style).
 */
#include <errno.h>
#include <linux/rtnetlink.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "felix/dataplane/routes/routes.h"
#include "lib/log.h"

struct neigh_key {
	char ifname[IFNAMSIZ];
	struct ip_addr addr;
};

struct stale_route {
	struct ip_prefix dst;
	uint32_t priority;
	uint64_t first_ms;
};

struct stale_neigh {
	struct neigh_key key;
	uint64_t first_ms;
};

struct iface_done {
	char ifname[IFNAMSIZ];
	int ifindex;
};

/* A plain growable array of @T. */
#define VEC(T)              \
	struct {            \
		T *v;       \
		size_t n;   \
		size_t cap; \
	}

struct stale_route_vec {
	struct stale_route *v;
	size_t n;
	size_t cap;
};

struct route_table {
	const struct route_table_ops *ops;
	void *h;
	uint8_t protocol;

	struct calc_desired want; /* routes, neighs, ifaces; bgp part unused */

	VEC(struct ip_prefix) known_routes; /* desired at some point; sorted */
	VEC(struct neigh_key) known_neighs; /* sorted */
	struct stale_route_vec stale_routes;
	VEC(struct stale_neigh) stale_neighs;
	VEC(struct iface_done) ifaces_done;
};

#define VEC_PUSH(vec, item)                                                     \
	({                                                                      \
		int _r = 0;                                                     \
		if ((vec).n == (vec).cap) {                                     \
			size_t _c = (vec).cap ? (vec).cap * 2 : 16;             \
			void *_p = reallocarray((vec).v, _c, sizeof(*(vec).v)); \
			if (!_p) {                                              \
				_r = -ENOMEM;                                   \
			} else {                                                \
				(vec).v = _p;                                   \
				(vec).cap = _c;                                 \
			}                                                       \
		}                                                               \
		if (_r == 0) {                                                  \
			(vec).v[(vec).n++] = (item);                            \
		}                                                               \
		_r;                                                             \
	})
#define VEC_FREE(vec)                    \
	do {                             \
		free((vec).v);           \
		(vec).v = NULL;          \
		(vec).n = (vec).cap = 0; \
	} while (0)

int route_table_new(const struct route_table_ops *ops, void *h, uint8_t protocol,
		    struct route_table **ret)
{
	if (!ops || protocol < 5) {
		return -EINVAL;
	}
	struct route_table *rt = calloc(1, sizeof(*rt));
	if (!rt) {
		return -ENOMEM;
	}
	rt->ops = ops;
	rt->h = h;
	rt->protocol = protocol;
	*ret = rt;
	return 0;
}

struct route_table *route_table_free(struct route_table *rt)
{
	if (!rt) {
		return NULL;
	}
	calc_desired_done(&rt->want);
	VEC_FREE(rt->known_routes);
	VEC_FREE(rt->known_neighs);
	VEC_FREE(rt->stale_routes);
	VEC_FREE(rt->stale_neighs);
	VEC_FREE(rt->ifaces_done);
	free(rt);
	return NULL;
}

static int prefix_cmp(const void *a, const void *b)
{
	return ip_prefix_cmp(a, b);
}

static int neigh_key_cmp(const void *a, const void *b)
{
	const struct neigh_key *x = a, *y = b;
	int d = strcmp(x->ifname, y->ifname);
	return d ? d : ip_addr_cmp(&x->addr, &y->addr);
}

static bool known_route(const struct route_table *rt, const struct ip_prefix *dst)
{
	return rt->known_routes.n &&
	       bsearch(dst, rt->known_routes.v, rt->known_routes.n, sizeof(*dst), prefix_cmp);
}

static bool known_neigh(const struct route_table *rt, const struct neigh_key *k)
{
	return rt->known_neighs.n &&
	       bsearch(k, rt->known_neighs.v, rt->known_neighs.n, sizeof(*k), neigh_key_cmp);
}

/* Sort and deduplicate. */
static void known_routes_normalize(struct route_table *rt)
{
	if (!rt->known_routes.n) {
		return;
	}
	qsort(rt->known_routes.v, rt->known_routes.n, sizeof(*rt->known_routes.v), prefix_cmp);
	size_t w = 0;
	for (size_t i = 0; i < rt->known_routes.n; i++) {
		if (w && ip_prefix_equal(&rt->known_routes.v[w - 1], &rt->known_routes.v[i])) {
			continue;
		}
		rt->known_routes.v[w++] = rt->known_routes.v[i];
	}
	rt->known_routes.n = w;
}

static void known_neighs_normalize(struct route_table *rt)
{
	if (!rt->known_neighs.n) {
		return;
	}
	qsort(rt->known_neighs.v, rt->known_neighs.n, sizeof(*rt->known_neighs.v), neigh_key_cmp);
	size_t w = 0;
	for (size_t i = 0; i < rt->known_neighs.n; i++) {
		if (w && neigh_key_cmp(&rt->known_neighs.v[w - 1], &rt->known_neighs.v[i]) == 0) {
			continue;
		}
		rt->known_neighs.v[w++] = rt->known_neighs.v[i];
	}
	rt->known_neighs.n = w;
}

int route_table_set_desired(struct route_table *rt, const struct calc_desired *d)
{
	struct calc_desired n = {0};

	if (d->n_routes) {
		n.routes = malloc(d->n_routes * sizeof(*n.routes));
		if (!n.routes) {
			goto oom;
		}
		memcpy(n.routes, d->routes, d->n_routes * sizeof(*n.routes));
		n.n_routes = d->n_routes;
	}
	if (d->n_neighs) {
		n.neighs = malloc(d->n_neighs * sizeof(*n.neighs));
		if (!n.neighs) {
			goto oom;
		}
		memcpy(n.neighs, d->neighs, d->n_neighs * sizeof(*n.neighs));
		n.n_neighs = d->n_neighs;
	}
	if (d->n_ifaces) {
		n.ifaces = malloc(d->n_ifaces * sizeof(*n.ifaces));
		if (!n.ifaces) {
			goto oom;
		}
		memcpy(n.ifaces, d->ifaces, d->n_ifaces * sizeof(*n.ifaces));
		n.n_ifaces = d->n_ifaces;
	}
	/* Remember every destination we ever wanted, so that when it stops being wanted its
	 * route goes at once rather than after the grace period. */
	for (size_t i = 0; i < n.n_routes; i++) {
		if (VEC_PUSH(rt->known_routes, n.routes[i].dst) < 0) {
			goto oom;
		}
	}
	for (size_t i = 0; i < n.n_neighs; i++) {
		struct neigh_key k = {.addr = n.neighs[i].addr};
		memcpy(k.ifname, n.neighs[i].ifname, IFNAMSIZ);
		if (VEC_PUSH(rt->known_neighs, k) < 0) {
			goto oom;
		}
	}
	known_routes_normalize(rt);
	known_neighs_normalize(rt);
	calc_desired_done(&rt->want);
	rt->want = n;
	return 0;
oom:
	known_routes_normalize(rt);
	known_neighs_normalize(rt);
	calc_desired_done(&n);
	return -ENOMEM;
}

void route_table_queue_resync(struct route_table *rt)
{
	rt->ifaces_done.n = 0;
}

/* ---- routes ---- */

typedef VEC(struct route_table_route) route_vec;

static int collect_route(void *userdata, const struct route_table_route *r)
{
	route_vec *v = userdata;
	return VEC_PUSH(*v, *r);
}

static int actual_cmp(const void *a, const void *b)
{
	const struct route_table_route *x = a, *y = b;
	int d = ip_prefix_cmp(&x->dst, &y->dst);
	if (d) {
		return d;
	}
	return x->priority < y->priority ? -1 : x->priority > y->priority;
}

/* The actual route with @dst and metric 0 (the kernel's key, with the table fixed to main). */
static const struct route_table_route *actual_find(const route_vec *v, const struct ip_prefix *dst)
{
	struct route_table_route key = {.dst = *dst, .priority = 0};
	if (!v->n) {
		return NULL;
	}
	return bsearch(&key, v->v, v->n, sizeof(*v->v), actual_cmp);
}

static bool route_equal(const struct route_table_route *want, const struct route_table_route *have)
{
	if (have->protocol != want->protocol || have->type != want->type ||
	    have->scope != want->scope || have->multipath) {
		return false;
	}
	return want->type != RTN_UNICAST || have->ifindex == want->ifindex;
}

static struct route_table_route desired_route(const struct route_table *rt,
					      const struct calc_route *c, int ifindex)
{
	struct route_table_route r = {
	    .dst = c->dst,
	    .type = c->blackhole ? RTN_BLACKHOLE : RTN_UNICAST,
	    .scope = c->blackhole ? RT_SCOPE_UNIVERSE : RT_SCOPE_LINK,
	    .protocol = rt->protocol,
	    .table = ROUTE_TABLE_MAIN,
	    .ifindex = c->blackhole ? 0 : ifindex,
	};
	memcpy(r.ifname, c->ifname, IFNAMSIZ);
	return r;
}

static bool route_is_desired(const struct route_table *rt, const struct route_table_route *a)
{
	if (a->priority != 0) {
		return false;
	}
	struct calc_route key = {.dst = a->dst};
	return rt->want.n_routes && bsearch(&key, rt->want.routes, rt->want.n_routes,
					    sizeof(*rt->want.routes), prefix_cmp);
}

/* Decide whether the stale route @a of ours goes now; records first sightings in @next. */
static bool stale_route_due(const struct route_table *rt, const struct route_table_route *a,
			    uint64_t now_ms, bool *oom, struct stale_route_vec *next)
{
	if (known_route(rt, &a->dst)) {
		return true;
	}
	uint64_t first = now_ms;
	for (size_t i = 0; i < rt->stale_routes.n; i++) {
		const struct stale_route *s = &rt->stale_routes.v[i];
		if (ip_prefix_equal(&s->dst, &a->dst) && s->priority == a->priority) {
			first = s->first_ms;
			break;
		}
	}
	if (now_ms - first >= ROUTE_TABLE_STALE_GRACE_MS) {
		return true;
	}
	struct stale_route s = {.dst = a->dst, .priority = a->priority, .first_ms = first};
	if (VEC_PUSH(*next, s) < 0) {
		*oom = true;
	}
	return false;
}

static int dump_family_routes(struct route_table *rt, int family, route_vec *actual)
{
	int r = rt->ops->dump_routes(rt->h, family, ROUTE_TABLE_MAIN, collect_route, actual);
	/* A kernel without IPv6 has no table to dump. */
	if (r == -EAFNOSUPPORT && family == AF_INET6) {
		r = 0;
	}
	return r;
}

static int apply_routes(struct route_table *rt, uint64_t now_ms, struct route_table_stats *st)
{
	route_vec actual = {0};
	struct stale_route_vec next_stale = {0};
	VEC(struct ip_prefix) still_known = {0};
	bool oom = false;
	int r, ret = 0;

	r = dump_family_routes(rt, AF_INET, &actual);
	if (r >= 0) {
		r = dump_family_routes(rt, AF_INET6, &actual);
	}
	if (r < 0) {
		VEC_FREE(actual);
		return r;
	}
	if (actual.n) {
		qsort(actual.v, actual.n, sizeof(*actual.v), actual_cmp);
	}

	/* Sweep: deletions first. */
	for (size_t i = 0; i < actual.n; i++) {
		const struct route_table_route *a = &actual.v[i];
		if (a->protocol != rt->protocol || a->table != ROUTE_TABLE_MAIN ||
		    route_is_desired(rt, a)) {
			continue;
		}
		if (!stale_route_due(rt, a, now_ms, &oom, &next_stale)) {
			continue;
		}
		r = rt->ops->delete_route(rt->h, a);
		if (r < 0 && r != -ESRCH && r != -ENOENT) {
			log_debug_errno(r, "deleting a stale route failed: %m");
			st->errors++;
			RET_GATHER(ret, r);
			if (known_route(rt, &a->dst)) {
				oom |= VEC_PUSH(still_known, a->dst) < 0;
			}
			continue;
		}
		if (r >= 0) {
			st->routes_removed++;
		}
	}

	/* Then additions and replacements. */
	for (size_t i = 0; i < rt->want.n_routes; i++) {
		const struct calc_route *c = &rt->want.routes[i];
		int ifindex = 0;
		if (!c->blackhole) {
			ifindex = rt->ops->link_index(rt->h, c->ifname);
			if (ifindex <= 0) {
				st->routes_pending++;
				continue;
			}
		}
		struct route_table_route want = desired_route(rt, c, ifindex);
		const struct route_table_route *have = actual_find(&actual, &c->dst);
		if (have && have->protocol != rt->protocol) {
			/* Someone else's route on our destination: never touch it. */
			st->routes_pending++;
			continue;
		}
		if (have && route_equal(&want, have)) {
			continue;
		}
		r = rt->ops->replace_route(rt->h, &want);
		if (r < 0) {
			log_debug_errno(r, "programming a route on %s failed: %m",
					c->blackhole ? "blackhole" : c->ifname);
			st->errors++;
			st->routes_pending++;
			RET_GATHER(ret, r);
			continue;
		}
		st->routes_programmed++;
	}

	/* Keep "known" to what is desired now plus what we failed to delete. */
	rt->known_routes.n = 0;
	for (size_t i = 0; i < rt->want.n_routes; i++) {
		oom |= VEC_PUSH(rt->known_routes, rt->want.routes[i].dst) < 0;
	}
	for (size_t i = 0; i < still_known.n; i++) {
		oom |= VEC_PUSH(rt->known_routes, still_known.v[i]) < 0;
	}
	known_routes_normalize(rt);

	VEC_FREE(rt->stale_routes);
	rt->stale_routes.v = next_stale.v;
	rt->stale_routes.n = next_stale.n;
	rt->stale_routes.cap = next_stale.cap;
	VEC_FREE(still_known);
	VEC_FREE(actual);
	if (oom) {
		RET_GATHER(ret, -ENOMEM);
	}
	/* Per-item failures are reported as pending, not as a failed apply. */
	return ret == -ENOMEM ? ret : 0;
}

/* ---- neighbours ---- */

typedef VEC(struct route_table_neigh) neigh_vec;

static bool is_our_ifname(const char *ifname)
{
	return strncmp(ifname, ROUTE_TABLE_IFPREFIX, strlen(ROUTE_TABLE_IFPREFIX)) == 0;
}

static int collect_neigh(void *userdata, const struct route_table_neigh *n)
{
	neigh_vec *v = userdata;
	if (!n->permanent || !is_our_ifname(n->ifname)) {
		return 0;
	}
	return VEC_PUSH(*v, *n);
}

static const struct calc_neigh *want_neigh_find(const struct route_table *rt,
						const struct route_table_neigh *a)
{
	for (size_t i = 0; i < rt->want.n_neighs; i++) {
		const struct calc_neigh *w = &rt->want.neighs[i];
		if (strcmp(w->ifname, a->ifname) == 0 && ip_addr_equal(&w->addr, &a->addr)) {
			return w;
		}
	}
	return NULL;
}

static int apply_neighs(struct route_table *rt, uint64_t now_ms, struct route_table_stats *st)
{
	neigh_vec actual = {0};
	VEC(struct stale_neigh) next_stale = {0};
	bool oom = false;
	int r;

	r = rt->ops->dump_neighs(rt->h, AF_INET, collect_neigh, &actual);
	if (r >= 0) {
		r = rt->ops->dump_neighs(rt->h, AF_INET6, collect_neigh, &actual);
		if (r == -EAFNOSUPPORT) {
			r = 0;
		}
	}
	if (r < 0) {
		VEC_FREE(actual);
		return r;
	}

	for (size_t i = 0; i < actual.n; i++) {
		const struct route_table_neigh *a = &actual.v[i];
		if (want_neigh_find(rt, a)) {
			continue;
		}
		struct neigh_key k = {.addr = a->addr};
		memcpy(k.ifname, a->ifname, IFNAMSIZ);
		if (!known_neigh(rt, &k)) {
			uint64_t first = now_ms;
			for (size_t j = 0; j < rt->stale_neighs.n; j++) {
				if (neigh_key_cmp(&rt->stale_neighs.v[j].key, &k) == 0) {
					first = rt->stale_neighs.v[j].first_ms;
					break;
				}
			}
			if (now_ms - first < ROUTE_TABLE_STALE_GRACE_MS) {
				struct stale_neigh s = {.key = k, .first_ms = first};
				oom |= VEC_PUSH(next_stale, s) < 0;
				continue;
			}
		}
		r = rt->ops->delete_neigh(rt->h, a);
		if (r < 0 && r != -ENOENT && r != -ESRCH) {
			log_debug_errno(r, "deleting a stale neighbour on %s failed: %m",
					a->ifname);
			st->errors++;
			continue;
		}
		if (r >= 0) {
			st->neighs_removed++;
		}
	}

	for (size_t i = 0; i < rt->want.n_neighs; i++) {
		const struct calc_neigh *w = &rt->want.neighs[i];
		int ifindex = rt->ops->link_index(rt->h, w->ifname);
		if (ifindex <= 0) {
			continue;
		}
		bool ok = false;
		for (size_t j = 0; j < actual.n; j++) {
			const struct route_table_neigh *a = &actual.v[j];
			if (a->ifindex == ifindex && ip_addr_equal(&a->addr, &w->addr)) {
				ok = memcmp(a->mac, w->mac, 6) == 0;
				break;
			}
		}
		if (ok) {
			continue;
		}
		struct route_table_neigh n = {
		    .addr = w->addr, .ifindex = ifindex, .permanent = true};
		memcpy(n.mac, w->mac, 6);
		memcpy(n.ifname, w->ifname, IFNAMSIZ);
		r = rt->ops->replace_neigh(rt->h, &n);
		if (r < 0) {
			log_debug_errno(r, "programming a neighbour on %s failed: %m", w->ifname);
			st->errors++;
			continue;
		}
		st->neighs_programmed++;
	}

	/* Known neighbours: exactly the desired ones now (the deleted stale ones are gone). */
	rt->known_neighs.n = 0;
	for (size_t i = 0; i < rt->want.n_neighs; i++) {
		struct neigh_key k = {.addr = rt->want.neighs[i].addr};
		memcpy(k.ifname, rt->want.neighs[i].ifname, IFNAMSIZ);
		oom |= VEC_PUSH(rt->known_neighs, k) < 0;
	}
	known_neighs_normalize(rt);
	VEC_FREE(rt->stale_neighs);
	rt->stale_neighs.v = next_stale.v;
	rt->stale_neighs.n = next_stale.n;
	rt->stale_neighs.cap = next_stale.cap;
	VEC_FREE(actual);
	return oom ? -ENOMEM : 0;
}

/* ---- sysctls ---- */

static int configure_iface(struct route_table *rt, const char *ifname)
{
	/* DESIGN.md "Host dataplane"; proxy_delay=0 because the default (80, i.e. up to 0.8 s)
	 * delays every proxy-ARP reply (lab README gotcha 2). */
	static const struct {
		const char *dir;
		const char *knob;
		const char *value;
	} knobs[] = {
	    {"conf", "forwarding", "1"},     {"conf", "rp_filter", "1"},
	    {"conf", "route_localnet", "1"}, {"conf", "proxy_arp", "1"},
	    {"neigh", "proxy_delay", "0"},
	};
	int ret = 0;
	for (size_t i = 0; i < ELEMENTSOF(knobs); i++) {
		char path[128];
		snprintf(path, sizeof(path), "net/ipv4/%s/%s/%s", knobs[i].dir, ifname,
			 knobs[i].knob);
		RET_GATHER(ret, rt->ops->write_sysctl(rt->h, path, knobs[i].value));
	}
	return ret;
}

static int apply_sysctls(struct route_table *rt, struct route_table_stats *st, bool *pending)
{
	VEC(struct iface_done) next = {0};
	bool oom = false;

	for (size_t i = 0; i < rt->want.n_ifaces; i++) {
		const char *ifname = rt->want.ifaces[i];
		int ifindex = rt->ops->link_index(rt->h, ifname);
		if (ifindex <= 0) {
			/* The CNI plugin may not have created it yet. */
			*pending = true;
			continue;
		}
		bool done = false;
		for (size_t j = 0; j < rt->ifaces_done.n; j++) {
			if (rt->ifaces_done.v[j].ifindex == ifindex &&
			    strcmp(rt->ifaces_done.v[j].ifname, ifname) == 0) {
				done = true;
				break;
			}
		}
		if (!done) {
			int r = configure_iface(rt, ifname);
			if (r < 0) {
				log_debug_errno(r, "sysctls of %s: %m", ifname);
				st->errors++;
				*pending = true;
				continue;
			}
			st->ifaces_configured++;
		}
		struct iface_done d = {.ifindex = ifindex};
		memcpy(d.ifname, ifname, IFNAMSIZ);
		oom |= VEC_PUSH(next, d) < 0;
	}
	VEC_FREE(rt->ifaces_done);
	rt->ifaces_done.v = next.v;
	rt->ifaces_done.n = next.n;
	rt->ifaces_done.cap = next.cap;
	return oom ? -ENOMEM : 0;
}

int route_table_apply(struct route_table *rt, uint64_t now_ms, struct route_table_stats *ret_stats)
{
	struct route_table_stats st = {0};
	bool pending = false;
	int r;

	/* Sysctls first: a route to a workload is only useful once proxy-ARP answers for it. */
	r = apply_sysctls(rt, &st, &pending);
	if (r >= 0) {
		r = apply_routes(rt, now_ms, &st);
	}
	if (r >= 0) {
		r = apply_neighs(rt, now_ms, &st);
	}
	if (ret_stats) {
		*ret_stats = st;
	}
	if (r < 0) {
		return r;
	}
	return (pending || st.routes_pending || st.errors || rt->stale_routes.n ||
		rt->stale_neighs.n)
		   ? 1
		   : 0;
}
