/* SPDX-License-Identifier: Apache-2.0 */
/*
 * DOC: route, neighbour and sysctl reconciliation (pure: the kernel is reached only through
 * struct route_table_ops, so the same code runs against netlink and against the unit tests'
 * fake kernel).
 *
 * The engine keeps the kernel's "actual" state in memory: every route of the main table (both
 * families, any protocol, indexed by destination and by output interface), every permanent
 * neighbour on a "tby*" interface (indexed by (ifindex, address) and by ifindex) and every link
 * (by ifindex and by name). It is filled by one full dump, then kept current by netlink events
 * (ops->read_events, from dispatch) and by the engine's own successful writes, in the manner of
 * networkd's manager_rtnl_process_route(). A monitor overrun (ENOBUFS) or a queued resync
 * re-dumps and marks and sweeps (BIRD sysdep/unix/krt.c krt_init_scan -> krt_got_route ->
 * krt_prune): entries the dump did not show are dropped, and every desired and every owned item
 * is re-examined.
 *
 * Between dumps, work is in proportion to the change: set_desired() sort-merges the old desired
 * state against the new one (memory only) and marks the destinations, neighbours and interfaces
 * that differ; events mark the items they touch; apply() examines only the marked items, sending
 * the deletions first and then the additions (STYLE.md 5.5). Ownership is read from rtm_protocol
 * (BIRD's KRT_SRC_BIRD vs KRT_SRC_ALIEN, Felix's proto 80): a route that is not ours is never
 * changed or deleted, even when it occupies a destination we want. A route of ours that we never
 * desired during this process's lifetime (a leftover from before a restart, or the CNI plugin's
 * route for a workload whose endpoint we have not heard of yet) is swept only
 * ROUTE_TABLE_STALE_GRACE_MS after it was first seen; one we desired earlier is swept at once.
 * Items that cannot be programmed (interface missing, foreign route on the destination, kernel
 * error) stay marked and are retried without blocking the others (RET_GATHER style).
 *
 * The kernel flushes IPv4 routes through an interface that goes down or away without sending
 * RTM_DELROUTE, so a link event that takes an interface down or deletes it drops the actual
 * routes and neighbours on that ifindex itself.
 */
#include <errno.h>
#include <linux/rtnetlink.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "felix/dataplane/routes/routes.h"
#include "lib/array.h"
#include "lib/log.h"

/* ---- small containers ---- */

/* A plain growable array of @T. */
#define VEC(T)              \
	struct {            \
		T *v;       \
		size_t n;   \
		size_t cap; \
	}

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

#define container_of(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))

/* An intrusive hash table with chained buckets; the caller compares keys on lookup. */
struct hnode {
	struct hnode *next;
	uint64_t hash;
};

struct htab {
	struct hnode **b;
	size_t nb; /* a power of two, or 0 */
	size_t n;
};

static void htab_link(struct htab *t, struct hnode *node)
{
	struct hnode **slot = &t->b[node->hash & (t->nb - 1)];
	node->next = *slot;
	*slot = node;
}

/* Insert @node under @hash. Return 0 or -ENOMEM (only when the table has no buckets yet; a
 * failed growth keeps the old, longer chains). */
static int htab_insert(struct htab *t, struct hnode *node, uint64_t hash)
{
	node->hash = hash;
	if (t->n >= t->nb) {
		size_t nb = t->nb ? t->nb * 2 : 64;
		struct hnode **b = calloc(nb, sizeof(*b));
		if (b) {
			struct hnode **old = t->b;
			size_t onb = t->nb;
			t->b = b;
			t->nb = nb;
			for (size_t i = 0; i < onb; i++) {
				for (struct hnode *x = old[i], *next; x; x = next) {
					next = x->next;
					htab_link(t, x);
				}
			}
			free(old);
		} else if (!t->nb) {
			return -ENOMEM;
		}
	}
	htab_link(t, node);
	t->n++;
	return 0;
}

static void htab_remove(struct htab *t, struct hnode *node)
{
	if (!t->nb) {
		return;
	}
	for (struct hnode **p = &t->b[node->hash & (t->nb - 1)]; *p; p = &(*p)->next) {
		if (*p == node) {
			*p = node->next;
			t->n--;
			return;
		}
	}
}

/* The chain @hash lives in (compare hnode.hash, then the key). */
static struct hnode *htab_chain(const struct htab *t, uint64_t hash)
{
	return t->nb ? t->b[hash & (t->nb - 1)] : NULL;
}

static void htab_free(struct htab *t)
{
	free(t->b);
	*t = (struct htab){0};
}

static uint64_t hash_prefix(const struct ip_prefix *p)
{
	struct ip_prefix m = ip_prefix_mask(*p);
	uint64_t h = hash_fnv1a(HASH_FNV1A_INIT, &m.addr.family, 1);
	h = hash_fnv1a(h, &m.len, 1);
	return hash_fnv1a(h, m.addr.bytes, ip_addr_bits(m.addr.family) / 8);
}

static uint64_t hash_int(int i)
{
	return hash_fnv1a(HASH_FNV1A_INIT, &i, sizeof(i));
}

static uint64_t hash_neigh(int ifindex, const struct ip_addr *a)
{
	uint64_t h = hash_fnv1a(HASH_FNV1A_INIT, &ifindex, sizeof(ifindex));
	h = hash_fnv1a(h, &a->family, 1);
	return hash_fnv1a(h, a->bytes, ip_addr_bits(a->family) / 8);
}

static uint64_t hash_name(const char *s)
{
	return hash_fnv1a(HASH_FNV1A_INIT, s, strnlen(s, IFNAMSIZ));
}

/* ---- state ---- */

struct aroute {
	struct hnode by_dst;
	struct hnode by_if; /* only while r.ifindex > 0 */
	struct route_table_route r;
	uint64_t first_ms; /* first seen (for the stale grace period) */
	bool was_desired;  /* its destination was desired by this process: sweep at once */
	bool mark;	   /* seen by the running dump */
};

struct aneigh {
	struct hnode by_key;
	struct hnode by_if;
	struct route_table_neigh n; /* ifname filled from the link table */
	uint64_t first_ms;
	bool was_desired;
	bool mark;
};

struct alink {
	struct hnode by_index;
	struct hnode by_name;
	struct route_table_link l;
	bool sysctl_done; /* the workload sysctls were written for this interface instance */
	bool mark;
};

struct neigh_key {
	char ifname[IFNAMSIZ];
	struct ip_addr addr;
};

typedef char ifname_t[IFNAMSIZ];

struct dp_routes {
	const struct route_table_ops *ops;
	void *h;
	uint8_t protocol;

	struct calc_desired want;	      /* routes, neighs, ifaces (sorted); bgp part unused */
	const struct calc_route **want_by_if; /* want.routes with an ifname, sorted by ifname */
	size_t n_want_by_if;

	struct htab routes_by_dst, routes_by_if;
	struct htab neighs_by_key, neighs_by_if;
	struct htab links_by_index, links_by_name;

	/* Items to examine at the next apply (duplicates allowed). */
	VEC(struct ip_prefix) dirty_routes;
	VEC(struct neigh_key) dirty_neighs;
	VEC(ifname_t) dirty_ifaces;

	bool need_dump;	    /* first apply, queued resync, monitor overrun */
	bool need_sysctls;  /* queued resync: rewrite every interface's sysctls */
	bool need_mark_all; /* marking failed (out of memory): examine everything */
	bool wake;	    /* dispatch: an event marked something */
	uint64_t now_ms;    /* of the running dispatch or apply */
	unsigned pending;   /* after the last apply */
	struct route_table_stats last;
};

static bool is_our_ifname(const char *ifname)
{
	return strncmp(ifname, ROUTE_TABLE_IFPREFIX, strlen(ROUTE_TABLE_IFPREFIX)) == 0 ||
	       strncmp(ifname, CALC_VXLAN_IFNAME, IFNAMSIZ) == 0;
}

/* ---- links ---- */

static struct alink *link_by_index(const struct dp_routes *d, int ifindex)
{
	uint64_t h = hash_int(ifindex);
	for (struct hnode *x = htab_chain(&d->links_by_index, h); x; x = x->next) {
		struct alink *l = container_of(x, struct alink, by_index);
		if (x->hash == h && l->l.ifindex == ifindex) {
			return l;
		}
	}
	return NULL;
}

static struct alink *link_by_name(const struct dp_routes *d, const char *ifname)
{
	uint64_t h = hash_name(ifname);
	for (struct hnode *x = htab_chain(&d->links_by_name, h); x; x = x->next) {
		struct alink *l = container_of(x, struct alink, by_name);
		if (x->hash == h && strncmp(l->l.ifname, ifname, IFNAMSIZ) == 0) {
			return l;
		}
	}
	return NULL;
}

/* ---- actual routes ---- */

static struct aroute *route_find(const struct dp_routes *d, const struct ip_prefix *dst,
				 uint32_t priority)
{
	uint64_t h = hash_prefix(dst);
	for (struct hnode *x = htab_chain(&d->routes_by_dst, h); x; x = x->next) {
		struct aroute *a = container_of(x, struct aroute, by_dst);
		if (x->hash == h && a->r.priority == priority && ip_prefix_equal(&a->r.dst, dst)) {
			return a;
		}
	}
	return NULL;
}

static void route_remove(struct dp_routes *d, struct aroute *a)
{
	htab_remove(&d->routes_by_dst, &a->by_dst);
	if (a->r.ifindex > 0) {
		htab_remove(&d->routes_by_if, &a->by_if);
	}
	free(a);
}

/* Insert or update the actual route with @r's destination and metric. Return it, or NULL when
 * out of memory. */
static struct aroute *route_upsert(struct dp_routes *d, const struct route_table_route *r)
{
	struct aroute *a = route_find(d, &r->dst, r->priority);
	if (a) {
		if (a->r.protocol != r->protocol) {
			/* Someone replaced it: a new route as far as ownership goes. */
			a->first_ms = d->now_ms;
			a->was_desired = false;
		}
		if (a->r.ifindex != r->ifindex) {
			if (a->r.ifindex > 0) {
				htab_remove(&d->routes_by_if, &a->by_if);
			}
			if (r->ifindex > 0) {
				(void)htab_insert(&d->routes_by_if, &a->by_if,
						  hash_int(r->ifindex));
			}
		}
		a->r = *r;
		a->r.ifname[0] = '\0';
		return a;
	}
	a = calloc(1, sizeof(*a));
	if (!a) {
		return NULL;
	}
	a->r = *r;
	a->r.ifname[0] = '\0';
	a->first_ms = d->now_ms;
	if (htab_insert(&d->routes_by_dst, &a->by_dst, hash_prefix(&r->dst)) < 0) {
		free(a);
		return NULL;
	}
	if (r->ifindex > 0 && htab_insert(&d->routes_by_if, &a->by_if, hash_int(r->ifindex)) < 0) {
		htab_remove(&d->routes_by_dst, &a->by_dst);
		free(a);
		return NULL;
	}
	return a;
}

/* ---- actual neighbours ---- */

static struct aneigh *neigh_find(const struct dp_routes *d, int ifindex, const struct ip_addr *addr)
{
	uint64_t h = hash_neigh(ifindex, addr);
	for (struct hnode *x = htab_chain(&d->neighs_by_key, h); x; x = x->next) {
		struct aneigh *a = container_of(x, struct aneigh, by_key);
		if (x->hash == h && a->n.ifindex == ifindex && ip_addr_equal(&a->n.addr, addr)) {
			return a;
		}
	}
	return NULL;
}

static void neigh_remove(struct dp_routes *d, struct aneigh *a)
{
	htab_remove(&d->neighs_by_key, &a->by_key);
	htab_remove(&d->neighs_by_if, &a->by_if);
	free(a);
}

static struct aneigh *neigh_upsert(struct dp_routes *d, const struct route_table_neigh *n,
				   const char *ifname)
{
	struct aneigh *a = neigh_find(d, n->ifindex, &n->addr);
	if (!a) {
		a = calloc(1, sizeof(*a));
		if (!a) {
			return NULL;
		}
		a->first_ms = d->now_ms;
		if (htab_insert(&d->neighs_by_key, &a->by_key, hash_neigh(n->ifindex, &n->addr)) <
		    0) {
			free(a);
			return NULL;
		}
		if (htab_insert(&d->neighs_by_if, &a->by_if, hash_int(n->ifindex)) < 0) {
			htab_remove(&d->neighs_by_key, &a->by_key);
			free(a);
			return NULL;
		}
	}
	a->n = *n;
	a->n.permanent = true;
	snprintf(a->n.ifname, IFNAMSIZ, "%s", ifname);
	return a;
}

/* ---- desired ---- */

static int prefix_cmp(const void *a, const void *b)
{
	return ip_prefix_cmp(a, b);
}

static int neigh_key_cmp(const void *a, const void *b)
{
	/* struct calc_neigh and struct neigh_key: compare by (ifname, addr). */
	const struct neigh_key *x = a, *y = b;
	int c = strncmp(x->ifname, y->ifname, IFNAMSIZ);
	return c ? c : ip_addr_cmp(&x->addr, &y->addr);
}

static int calc_neigh_cmp(const void *a, const void *b)
{
	const struct calc_neigh *x = a, *y = b;
	int c = strncmp(x->ifname, y->ifname, IFNAMSIZ);
	return c ? c : ip_addr_cmp(&x->addr, &y->addr);
}

static int ifname_cmp(const void *a, const void *b)
{
	return strncmp(a, b, IFNAMSIZ);
}

static const struct calc_route *want_route(const struct dp_routes *d, const struct ip_prefix *dst)
{
	struct calc_route key = {.dst = *dst};
	return array_find(&key, d->want.routes, d->want.n_routes, sizeof(*d->want.routes),
			  prefix_cmp);
}

static const struct calc_neigh *want_neigh(const struct dp_routes *d, const char *ifname,
					   const struct ip_addr *addr)
{
	struct calc_neigh key = {.addr = *addr};
	snprintf(key.ifname, IFNAMSIZ, "%s", ifname);
	return array_find(&key, d->want.neighs, d->want.n_neighs, sizeof(*d->want.neighs),
			  calc_neigh_cmp);
}

static bool want_iface(const struct dp_routes *d, const char *ifname)
{
	return array_find(ifname, d->want.ifaces, d->want.n_ifaces, sizeof(*d->want.ifaces),
			  ifname_cmp) != NULL;
}

/*
 * The metric our routes carry: 0 for IPv4; for IPv6 the kernel turns a metric of 0 into 1024
 * (IP6_RT_PRIO_USER, net/ipv6/route.c), so we ask for 1024 outright, and recognise our route
 * on read-back by it, like `ip -6 route` shows it.
 */
static uint32_t route_prio(const struct ip_prefix *dst)
{
	return dst->addr.family == AF_INET6 ? ROUTE_TABLE_IPV6_METRIC : 0;
}

static struct route_table_route desired_route(const struct dp_routes *d, const struct calc_route *c,
					      int ifindex)
{
	/* IPv6 has no route scopes: the kernel reports every IPv6 route as universe. */
	bool link = !c->blackhole && !c->gateway.family && c->dst.addr.family == AF_INET;
	struct route_table_route r = {
	    .dst = c->dst,
	    .type = c->blackhole ? RTN_BLACKHOLE : RTN_UNICAST,
	    .scope = link ? RT_SCOPE_LINK : RT_SCOPE_UNIVERSE,
	    .priority = route_prio(&c->dst),
	    .protocol = d->protocol,
	    .table = ROUTE_TABLE_MAIN,
	    .ifindex = c->blackhole ? 0 : ifindex,
	    .gateway = c->blackhole ? (struct ip_addr){0} : c->gateway,
	    .onlink = !c->blackhole && c->gateway.family != 0,
	};
	memcpy(r.ifname, c->ifname, IFNAMSIZ);
	return r;
}

static bool route_equal(const struct route_table_route *want, const struct route_table_route *have)
{
	if (have->protocol != want->protocol || have->type != want->type ||
	    have->scope != want->scope || have->multipath) {
		return false;
	}
	if (want->type != RTN_UNICAST) {
		return true;
	}
	if (have->gateway.family != want->gateway.family || have->onlink != want->onlink ||
	    (want->gateway.family && !ip_addr_equal(&have->gateway, &want->gateway))) {
		return false;
	}
	return have->ifindex == want->ifindex;
}

/* ---- marking ---- */

static void mark_route(struct dp_routes *d, const struct ip_prefix *dst)
{
	if (VEC_PUSH(d->dirty_routes, *dst) < 0) {
		d->need_mark_all = true;
	}
	d->wake = true;
}

static void mark_neigh(struct dp_routes *d, const char *ifname, const struct ip_addr *addr)
{
	struct neigh_key k = {.addr = *addr};
	snprintf(k.ifname, IFNAMSIZ, "%s", ifname);
	if (VEC_PUSH(d->dirty_neighs, k) < 0) {
		d->need_mark_all = true;
	}
	d->wake = true;
}

static void mark_iface(struct dp_routes *d, const char *ifname)
{
	if (d->dirty_ifaces.n == d->dirty_ifaces.cap) {
		size_t c = d->dirty_ifaces.cap ? d->dirty_ifaces.cap * 2 : 16;
		void *p = reallocarray(d->dirty_ifaces.v, c, sizeof(*d->dirty_ifaces.v));
		if (!p) {
			d->need_mark_all = true;
			return;
		}
		d->dirty_ifaces.v = p;
		d->dirty_ifaces.cap = c;
	}
	snprintf(d->dirty_ifaces.v[d->dirty_ifaces.n++], IFNAMSIZ, "%s", ifname);
	d->wake = true;
}

/* Everything desired or owned. */
static void mark_all(struct dp_routes *d)
{
	d->need_mark_all = false;
	for (size_t i = 0; i < d->want.n_routes; i++) {
		mark_route(d, &d->want.routes[i].dst);
	}
	for (size_t i = 0; i < d->routes_by_dst.nb; i++) {
		for (struct hnode *x = d->routes_by_dst.b[i]; x; x = x->next) {
			struct aroute *a = container_of(x, struct aroute, by_dst);
			if (a->r.protocol == d->protocol) {
				mark_route(d, &a->r.dst);
			}
		}
	}
	for (size_t i = 0; i < d->want.n_neighs; i++) {
		mark_neigh(d, d->want.neighs[i].ifname, &d->want.neighs[i].addr);
	}
	for (size_t i = 0; i < d->neighs_by_key.nb; i++) {
		for (struct hnode *x = d->neighs_by_key.b[i]; x; x = x->next) {
			struct aneigh *a = container_of(x, struct aneigh, by_key);
			mark_neigh(d, a->n.ifname, &a->n.addr);
		}
	}
	for (size_t i = 0; i < d->want.n_ifaces; i++) {
		mark_iface(d, d->want.ifaces[i]);
	}
}

/* Every desired item that names @ifname. */
static void mark_ifname(struct dp_routes *d, const char *ifname)
{
	/* Routes: lower bound in the by-ifname index. */
	size_t lo = 0, hi = d->n_want_by_if;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (strncmp(d->want_by_if[mid]->ifname, ifname, IFNAMSIZ) < 0) {
			lo = mid + 1;
		} else {
			hi = mid;
		}
	}
	for (; lo < d->n_want_by_if; lo++) {
		const struct calc_route *c = d->want_by_if[lo];
		if (strncmp(c->ifname, ifname, IFNAMSIZ) != 0) {
			break;
		}
		mark_route(d, &c->dst);
	}
	/* Neighbours are sorted by ifname. */
	lo = 0;
	hi = d->want.n_neighs;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (strncmp(d->want.neighs[mid].ifname, ifname, IFNAMSIZ) < 0) {
			lo = mid + 1;
		} else {
			hi = mid;
		}
	}
	for (; lo < d->want.n_neighs; lo++) {
		if (strncmp(d->want.neighs[lo].ifname, ifname, IFNAMSIZ) != 0) {
			break;
		}
		mark_neigh(d, ifname, &d->want.neighs[lo].addr);
	}
	if (want_iface(d, ifname)) {
		mark_iface(d, ifname);
	}
}

/* The kernel flushed everything on @l (deleted, or taken down): forget it and mark what was
 * desired or ours there. */
static void drop_on_link(struct dp_routes *d, const struct alink *l)
{
	uint64_t h = hash_int(l->l.ifindex);
	struct hnode *x, *next;
	for (x = htab_chain(&d->routes_by_if, h); x; x = next) {
		next = x->next;
		struct aroute *a = container_of(x, struct aroute, by_if);
		if (x->hash != h || a->r.ifindex != l->l.ifindex) {
			continue;
		}
		if (a->r.protocol == d->protocol || want_route(d, &a->r.dst)) {
			mark_route(d, &a->r.dst);
		}
		route_remove(d, a);
	}
	for (x = htab_chain(&d->neighs_by_if, h); x; x = next) {
		next = x->next;
		struct aneigh *a = container_of(x, struct aneigh, by_if);
		if (x->hash != h || a->n.ifindex != l->l.ifindex) {
			continue;
		}
		mark_neigh(d, a->n.ifname, &a->n.addr);
		neigh_remove(d, a);
	}
}

/* ---- events (also used by the dumps) ---- */

static int ev_link(void *userdata, bool del, const struct route_table_link *in)
{
	struct dp_routes *d = userdata;
	struct alink *l = link_by_index(d, in->ifindex);

	if (in->ifindex <= 0) {
		return 0;
	}
	if (del) {
		if (l) {
			drop_on_link(d, l);
			mark_ifname(d, l->l.ifname);
			htab_remove(&d->links_by_index, &l->by_index);
			htab_remove(&d->links_by_name, &l->by_name);
			free(l);
		}
		return 0;
	}
	if (!l) {
		l = calloc(1, sizeof(*l));
		if (!l) {
			return -ENOMEM;
		}
		l->l = *in;
		if (htab_insert(&d->links_by_index, &l->by_index, hash_int(in->ifindex)) < 0) {
			free(l);
			return -ENOMEM;
		}
		if (htab_insert(&d->links_by_name, &l->by_name, hash_name(in->ifname)) < 0) {
			htab_remove(&d->links_by_index, &l->by_index);
			free(l);
			return -ENOMEM;
		}
		l->mark = true;
		mark_ifname(d, in->ifname);
		return 0;
	}
	l->mark = true;
	if (strncmp(l->l.ifname, in->ifname, IFNAMSIZ) != 0) {
		/* Renamed: what was desired under either name needs a look. */
		mark_ifname(d, l->l.ifname);
		htab_remove(&d->links_by_name, &l->by_name);
		snprintf(l->l.ifname, IFNAMSIZ, "%s", in->ifname);
		(void)htab_insert(&d->links_by_name, &l->by_name, hash_name(in->ifname));
		mark_ifname(d, in->ifname);
	}
	if (l->l.up && !in->up) {
		drop_on_link(d, l);
	} else if (!l->l.up && in->up) {
		mark_ifname(d, in->ifname);
	}
	l->l.up = in->up;
	return 0;
}

static bool route_in_scope(const struct route_table_route *r)
{
	return r->table == ROUTE_TABLE_MAIN &&
	       (r->dst.addr.family == AF_INET || r->dst.addr.family == AF_INET6);
}

/* Does @r (a route now in the kernel) fulfil the desired route @c? */
static bool route_fulfils(const struct dp_routes *d, const struct calc_route *c,
			  const struct route_table_route *r)
{
	int ifindex = 0;
	if (!c->blackhole) {
		const struct alink *l = link_by_name(d, c->ifname);
		if (!l) {
			return false;
		}
		ifindex = l->l.ifindex;
	}
	struct route_table_route want = desired_route(d, c, ifindex);
	return r->priority == route_prio(&c->dst) && route_equal(&want, r);
}

static int ev_route(void *userdata, bool del, const struct route_table_route *r)
{
	struct dp_routes *d = userdata;
	if (!route_in_scope(r)) {
		return 0;
	}
	struct aroute *a = route_find(d, &r->dst, r->priority);
	const struct calc_route *c = want_route(d, &r->dst);
	if (del) {
		if (a) {
			route_remove(d, a);
		}
		/* Ours deleted under us, or a foreign route left a destination we want. */
		if (c) {
			mark_route(d, &r->dst);
		}
		return 0;
	}
	a = route_upsert(d, r);
	if (!a) {
		return -ENOMEM;
	}
	a->mark = true;
	if (c) {
		if (r->protocol == d->protocol && route_fulfils(d, c, r)) {
			a->was_desired = true; /* our own write coming back, or the CNI plugin's */
		} else {
			mark_route(d, &r->dst);
		}
	} else if (r->protocol == d->protocol) {
		mark_route(d, &r->dst); /* stale: swept after its grace period */
	}
	return 0;
}

static int ev_neigh(void *userdata, bool del, const struct route_table_neigh *n)
{
	struct dp_routes *d = userdata;
	if (n->addr.family != AF_INET && n->addr.family != AF_INET6) {
		return 0;
	}
	const struct alink *l = link_by_index(d, n->ifindex);
	if (!l || !is_our_ifname(l->l.ifname)) {
		return 0;
	}
	struct aneigh *a = neigh_find(d, n->ifindex, &n->addr);
	const struct calc_neigh *w = want_neigh(d, l->l.ifname, &n->addr);
	if (del || !n->permanent) {
		if (a) {
			neigh_remove(d, a);
			if (w || !del) {
				mark_neigh(d, l->l.ifname, &n->addr);
			}
		} else if (w) {
			mark_neigh(d, l->l.ifname, &n->addr);
		}
		return 0;
	}
	a = neigh_upsert(d, n, l->l.ifname);
	if (!a) {
		return -ENOMEM;
	}
	a->mark = true;
	if (w && memcmp(w->mac, n->mac, 6) == 0) {
		a->was_desired = true;
	} else {
		mark_neigh(d, l->l.ifname, &n->addr);
	}
	return 0;
}

static const struct route_table_events engine_events = {
    .route = ev_route,
    .neigh = ev_neigh,
    .link = ev_link,
};

/* ---- dumps: mark and sweep of the actual state ---- */

static int dump_link_cb(void *userdata, const struct route_table_link *l)
{
	return ev_link(userdata, false, l);
}

static int dump_route_cb(void *userdata, const struct route_table_route *r)
{
	return ev_route(userdata, false, r);
}

static int dump_neigh_cb(void *userdata, const struct route_table_neigh *n)
{
	return ev_neigh(userdata, false, n);
}

static int dump_all(struct dp_routes *d)
{
	int r;

	for (size_t i = 0; i < d->links_by_index.nb; i++) {
		for (struct hnode *x = d->links_by_index.b[i]; x; x = x->next) {
			container_of(x, struct alink, by_index)->mark = false;
		}
	}
	r = d->ops->dump_links(d->h, dump_link_cb, d);
	if (r < 0) {
		return r;
	}
	for (size_t i = 0; i < d->links_by_index.nb; i++) {
		for (struct hnode *x = d->links_by_index.b[i], *next; x; x = next) {
			next = x->next;
			struct alink *l = container_of(x, struct alink, by_index);
			if (!l->mark) {
				(void)ev_link(d, true, &l->l);
			}
		}
	}

	for (size_t i = 0; i < d->routes_by_dst.nb; i++) {
		for (struct hnode *x = d->routes_by_dst.b[i]; x; x = x->next) {
			container_of(x, struct aroute, by_dst)->mark = false;
		}
	}
	r = d->ops->dump_routes(d->h, AF_INET, ROUTE_TABLE_MAIN, dump_route_cb, d);
	if (r >= 0) {
		r = d->ops->dump_routes(d->h, AF_INET6, ROUTE_TABLE_MAIN, dump_route_cb, d);
		/* A kernel without IPv6 has no table to dump. */
		if (r == -EAFNOSUPPORT) {
			r = 0;
		}
	}
	if (r < 0) {
		return r;
	}
	for (size_t i = 0; i < d->routes_by_dst.nb; i++) {
		for (struct hnode *x = d->routes_by_dst.b[i], *next; x; x = next) {
			next = x->next;
			struct aroute *a = container_of(x, struct aroute, by_dst);
			if (!a->mark) {
				route_remove(d, a);
			}
		}
	}

	for (size_t i = 0; i < d->neighs_by_key.nb; i++) {
		for (struct hnode *x = d->neighs_by_key.b[i]; x; x = x->next) {
			container_of(x, struct aneigh, by_key)->mark = false;
		}
	}
	r = d->ops->dump_neighs(d->h, AF_INET, dump_neigh_cb, d);
	if (r >= 0) {
		r = d->ops->dump_neighs(d->h, AF_INET6, dump_neigh_cb, d);
		if (r == -EAFNOSUPPORT) {
			r = 0;
		}
	}
	if (r < 0) {
		return r;
	}
	for (size_t i = 0; i < d->neighs_by_key.nb; i++) {
		for (struct hnode *x = d->neighs_by_key.b[i], *next; x; x = next) {
			next = x->next;
			struct aneigh *a = container_of(x, struct aneigh, by_key);
			if (!a->mark) {
				neigh_remove(d, a);
			}
		}
	}
	return 0;
}

/* ---- lifecycle and desired state ---- */

int dp_routes_new(const struct route_table_ops *ops, void *h, uint8_t protocol,
		  struct dp_routes **ret)
{
	if (!ops || protocol < 5) {
		return -EINVAL;
	}
	struct dp_routes *d = calloc(1, sizeof(*d));
	if (!d) {
		return -ENOMEM;
	}
	d->ops = ops;
	d->h = h;
	d->protocol = protocol;
	d->need_dump = true;
	*ret = d;
	return 0;
}

static void htab_free_all(struct htab *t, size_t offset)
{
	for (size_t i = 0; i < t->nb; i++) {
		for (struct hnode *x = t->b[i], *next; x; x = next) {
			next = x->next;
			free((char *)x - offset);
		}
	}
	htab_free(t);
}

static void routes_free(void *p)
{
	struct dp_routes *d = p;
	if (!d) {
		return;
	}
	htab_free_all(&d->routes_by_dst, offsetof(struct aroute, by_dst));
	htab_free(&d->routes_by_if);
	htab_free_all(&d->neighs_by_key, offsetof(struct aneigh, by_key));
	htab_free(&d->neighs_by_if);
	htab_free_all(&d->links_by_index, offsetof(struct alink, by_index));
	htab_free(&d->links_by_name);
	calc_desired_done(&d->want);
	free((void *)d->want_by_if);
	VEC_FREE(d->dirty_routes);
	VEC_FREE(d->dirty_neighs);
	VEC_FREE(d->dirty_ifaces);
	if (d->ops->free) {
		d->ops->free(d->h);
	}
	free(d);
}

static int by_if_cmp(const void *a, const void *b)
{
	const struct calc_route *x = *(const struct calc_route *const *)a;
	const struct calc_route *y = *(const struct calc_route *const *)b;
	int c = strncmp(x->ifname, y->ifname, IFNAMSIZ);
	return c ? c : ip_prefix_cmp(&x->dst, &y->dst);
}

int dp_routes_set_desired(struct dp_routes *d, const struct calc_desired *in)
{
	struct calc_desired n = {0};
	const struct calc_route **by_if = NULL;
	size_t n_by_if = 0;

	if (in->n_routes) {
		n.routes = malloc(in->n_routes * sizeof(*n.routes));
		by_if = malloc(in->n_routes * sizeof(*by_if));
		if (!n.routes || !by_if) {
			goto oom;
		}
		memcpy(n.routes, in->routes, in->n_routes * sizeof(*n.routes));
		n.n_routes = in->n_routes;
	}
	if (in->n_neighs) {
		n.neighs = malloc(in->n_neighs * sizeof(*n.neighs));
		if (!n.neighs) {
			goto oom;
		}
		memcpy(n.neighs, in->neighs, in->n_neighs * sizeof(*n.neighs));
		n.n_neighs = in->n_neighs;
	}
	if (in->n_ifaces) {
		n.ifaces = malloc(in->n_ifaces * sizeof(*n.ifaces));
		if (!n.ifaces) {
			goto oom;
		}
		memcpy(n.ifaces, in->ifaces, in->n_ifaces * sizeof(*n.ifaces));
		n.n_ifaces = in->n_ifaces;
	}
	/* calc sorts them already (calc.h); the merge below depends on it, so make sure. */
	if (n.n_routes) {
		qsort(n.routes, n.n_routes, sizeof(*n.routes), prefix_cmp);
	}
	if (n.n_neighs) {
		qsort(n.neighs, n.n_neighs, sizeof(*n.neighs), calc_neigh_cmp);
	}
	if (n.n_ifaces) {
		qsort(n.ifaces, n.n_ifaces, sizeof(*n.ifaces), ifname_cmp);
	}
	for (size_t i = 0; i < n.n_routes; i++) {
		if (!n.routes[i].blackhole) {
			by_if[n_by_if++] = &n.routes[i];
		}
	}
	if (n_by_if) {
		qsort(by_if, n_by_if, sizeof(*by_if), by_if_cmp);
	}

	/* Sort-merge old against new (STYLE.md 8.5): mark what differs. */
	const struct calc_desired *o = &d->want;
	size_t i = 0, j = 0;
	while (i < o->n_routes || j < n.n_routes) {
		int c = i == o->n_routes  ? 1
			: j == n.n_routes ? -1
					  : ip_prefix_cmp(&o->routes[i].dst, &n.routes[j].dst);
		if (c < 0) {
			/* No longer desired: our route there goes at once, not after the grace. */
			const struct ip_prefix *dst = &o->routes[i].dst;
			uint64_t h = hash_prefix(dst);
			for (struct hnode *x = htab_chain(&d->routes_by_dst, h); x; x = x->next) {
				struct aroute *a = container_of(x, struct aroute, by_dst);
				if (x->hash == h && ip_prefix_equal(&a->r.dst, dst)) {
					a->was_desired = true;
				}
			}
			mark_route(d, dst);
			i++;
		} else if (c > 0) {
			mark_route(d, &n.routes[j].dst);
			j++;
		} else {
			if (o->routes[i].blackhole != n.routes[j].blackhole ||
			    strncmp(o->routes[i].ifname, n.routes[j].ifname, IFNAMSIZ) != 0 ||
			    o->routes[i].gateway.family != n.routes[j].gateway.family ||
			    (n.routes[j].gateway.family &&
			     !ip_addr_equal(&o->routes[i].gateway, &n.routes[j].gateway))) {
				mark_route(d, &n.routes[j].dst);
			}
			i++;
			j++;
		}
	}
	i = j = 0;
	while (i < o->n_neighs || j < n.n_neighs) {
		int c = i == o->n_neighs  ? 1
			: j == n.n_neighs ? -1
					  : calc_neigh_cmp(&o->neighs[i], &n.neighs[j]);
		if (c < 0) {
			const struct calc_neigh *w = &o->neighs[i];
			const struct alink *l = link_by_name(d, w->ifname);
			struct aneigh *a = l ? neigh_find(d, l->l.ifindex, &w->addr) : NULL;
			if (a) {
				a->was_desired = true;
			}
			mark_neigh(d, w->ifname, &w->addr);
			i++;
		} else if (c > 0) {
			mark_neigh(d, n.neighs[j].ifname, &n.neighs[j].addr);
			j++;
		} else {
			if (memcmp(o->neighs[i].mac, n.neighs[j].mac, 6) != 0) {
				mark_neigh(d, n.neighs[j].ifname, &n.neighs[j].addr);
			}
			i++;
			j++;
		}
	}
	i = j = 0;
	while (j < n.n_ifaces) {
		int c = i == o->n_ifaces ? 1 : ifname_cmp(o->ifaces[i], n.ifaces[j]);
		if (c < 0) {
			i++;
		} else if (c > 0) {
			mark_iface(d, n.ifaces[j]);
			j++;
		} else {
			i++;
			j++;
		}
	}

	calc_desired_done(&d->want);
	d->want = n;
	free((void *)d->want_by_if);
	d->want_by_if = by_if;
	d->n_want_by_if = n_by_if;
	return 0;
oom:
	calc_desired_done(&n);
	free((void *)by_if);
	return -ENOMEM;
}

const struct route_table_stats *dp_routes_last_stats(const struct dp_routes *d)
{
	return &d->last;
}

static void routes_queue_resync(void *p)
{
	struct dp_routes *d = p;
	d->need_dump = true;
	d->need_sysctls = true;
}

static int routes_fd(void *p)
{
	struct dp_routes *d = p;
	return d->ops->monitor_fd ? d->ops->monitor_fd(d->h) : -1;
}

static bool routes_dispatch(void *p, uint64_t now_ms)
{
	struct dp_routes *d = p;
	if (!d->ops->read_events) {
		return false;
	}
	d->now_ms = now_ms;
	d->wake = false;
	int r = d->ops->read_events(d->h, &engine_events, d);
	if (r < 0) {
		/* ENOBUFS: the kernel dropped events; anything else: we cannot trust what we
		 * hold either. Re-dump at the next apply. */
		log_debug_errno(r, "netlink monitor: %m; queueing a full resync");
		d->need_dump = true;
		return true;
	}
	return d->wake || d->need_mark_all;
}

/* ---- apply ---- */

struct pass {
	uint64_t now_ms;
	uint64_t grace_left; /* smallest remaining grace of a stale item kept; UINT64_MAX none */
	unsigned pending;    /* desired items not in place */
	int first_error;
};

static bool stale_due(struct pass *ps, uint64_t first_ms, bool was_desired)
{
	if (was_desired || ps->now_ms - first_ms >= ROUTE_TABLE_STALE_GRACE_MS) {
		return true;
	}
	uint64_t left = first_ms + ROUTE_TABLE_STALE_GRACE_MS - ps->now_ms;
	ps->grace_left = MIN(ps->grace_left, left);
	return false;
}

static int configure_iface(struct dp_routes *d, const char *ifname)
{
	/* DESIGN.md "Host dataplane"; proxy_delay=0 because the default (80, i.e. up to 0.8 s)
	 * delays every proxy-ARP reply (lab README gotcha 2). The IPv6 ones are Calico's for a
	 * workload interface (felix's intdataplane "configureInterface"): no router
	 * advertisements taken from the workload, forwarding, and proxy NDP, so the host answers
	 * the workload's neighbour solicitations for its gateway. */
	static const struct {
		const char *family;
		const char *dir;
		const char *knob;
		const char *value;
	} knobs[] = {
	    {"ipv4", "conf", "forwarding", "1"},     {"ipv4", "conf", "rp_filter", "1"},
	    {"ipv4", "conf", "route_localnet", "1"}, {"ipv4", "conf", "proxy_arp", "1"},
	    {"ipv4", "neigh", "proxy_delay", "0"},   {"ipv6", "conf", "accept_ra", "0"},
	    {"ipv6", "conf", "forwarding", "1"},     {"ipv6", "conf", "proxy_ndp", "1"},
	};
	int ret = 0;
	for (size_t i = 0; i < ELEMENTSOF(knobs); i++) {
		char path[128];
		snprintf(path, sizeof(path), "net/%s/%s/%s/%s", knobs[i].family, knobs[i].dir,
			 ifname, knobs[i].knob);
		int r = d->ops->write_sysctl(d->h, path, knobs[i].value);
		/* No net/ipv6/conf/<if>: IPv6 is off on this host or interface (ipv6.disable=1,
		 * disable_ipv6 at creation). A vanished interface fails the IPv4 knobs too. */
		if (r == -ENOENT && strcmp(knobs[i].family, "ipv6") == 0) {
			continue;
		}
		RET_GATHER(ret, r);
	}
	return ret;
}

static void apply_ifaces(struct dp_routes *d, char (*work)[IFNAMSIZ], size_t n, struct pass *ps,
			 struct route_table_stats *st)
{
	for (size_t i = 0; i < n; i++) {
		const char *ifname = work[i];
		if (!want_iface(d, ifname)) {
			continue;
		}
		struct alink *l = link_by_name(d, ifname);
		if (!l) {
			/* The CNI plugin may not have created it yet: a link event brings it. */
			ps->pending++;
			mark_iface(d, ifname);
			continue;
		}
		if (l->sysctl_done) {
			continue;
		}
		int r = configure_iface(d, ifname);
		if (r < 0) {
			log_debug_errno(r, "sysctls of %s: %m", ifname);
			st->errors++;
			ps->pending++;
			RET_GATHER(ps->first_error, r);
			mark_iface(d, ifname);
			continue;
		}
		l->sysctl_done = true;
		st->ifaces_configured++;
	}
}

/* Deletions first: our routes on @dst that are not the desired one. */
static void sweep_route(struct dp_routes *d, const struct ip_prefix *dst, struct pass *ps,
			struct route_table_stats *st)
{
	const struct calc_route *c = want_route(d, dst);
	uint64_t h = hash_prefix(dst);
	bool keep = false;
	for (struct hnode *x = htab_chain(&d->routes_by_dst, h), *next; x; x = next) {
		next = x->next;
		struct aroute *a = container_of(x, struct aroute, by_dst);
		if (x->hash != h || !ip_prefix_equal(&a->r.dst, dst) ||
		    a->r.protocol != d->protocol || (c && a->r.priority == route_prio(dst))) {
			continue;
		}
		if (c) {
			a->was_desired = true; /* known destination: no grace (as before) */
		}
		if (!stale_due(ps, a->first_ms, a->was_desired)) {
			keep = true;
			continue;
		}
		int r = d->ops->delete_route(d->h, &a->r);
		if (r < 0 && r != -ESRCH && r != -ENOENT && r != -ENODEV) {
			log_debug_errno(r, "deleting a stale route failed: %m");
			st->errors++;
			RET_GATHER(ps->first_error, r);
			keep = true;
			continue;
		}
		if (r >= 0) {
			st->routes_removed++;
		}
		route_remove(d, a);
	}
	if (keep) {
		mark_route(d, dst);
	}
}

static void program_route(struct dp_routes *d, const struct ip_prefix *dst, struct pass *ps,
			  struct route_table_stats *st)
{
	const struct calc_route *c = want_route(d, dst);
	if (!c) {
		return;
	}
	int ifindex = 0;
	if (!c->blackhole) {
		const struct alink *l = link_by_name(d, c->ifname);
		if (!l) {
			st->routes_pending++;
			mark_route(d, dst);
			return;
		}
		ifindex = l->l.ifindex;
	}
	struct route_table_route want = desired_route(d, c, ifindex);
	struct aroute *have = route_find(d, dst, route_prio(dst));
	if (have && have->r.protocol != d->protocol) {
		/* Someone else's route on our destination: never touch it. Its deletion event
		 * marks the destination again. */
		st->routes_pending++;
		mark_route(d, dst);
		return;
	}
	if (have && route_equal(&want, &have->r)) {
		have->was_desired = true;
		return;
	}
	int r = d->ops->replace_route(d->h, &want);
	if (r < 0) {
		log_debug_errno(r, "programming a route on %s failed: %m",
				c->blackhole ? "blackhole" : c->ifname);
		st->errors++;
		st->routes_pending++;
		RET_GATHER(ps->first_error, r);
		mark_route(d, dst);
		return;
	}
	st->routes_programmed++;
	/* Our own write is the kernel's state now; its echo event changes nothing. */
	struct aroute *a = route_upsert(d, &want);
	if (a) {
		a->was_desired = true;
	} else {
		d->need_dump = true;
	}
}

static void sweep_neigh(struct dp_routes *d, const struct neigh_key *k, struct pass *ps,
			struct route_table_stats *st)
{
	const struct alink *l = link_by_name(d, k->ifname);
	struct aneigh *a = l ? neigh_find(d, l->l.ifindex, &k->addr) : NULL;
	if (!a || want_neigh(d, k->ifname, &k->addr)) {
		return;
	}
	if (!stale_due(ps, a->first_ms, a->was_desired)) {
		mark_neigh(d, k->ifname, &k->addr);
		return;
	}
	int r = d->ops->delete_neigh(d->h, &a->n);
	/* -ENODEV: the interface went (felix deleting vxlan.tabby) before its RTM_DELLINK was
	 * read; the entry went with it. */
	if (r < 0 && r != -ENOENT && r != -ESRCH && r != -ENODEV) {
		log_debug_errno(r, "deleting a stale neighbour on %s failed: %m", k->ifname);
		st->errors++;
		RET_GATHER(ps->first_error, r);
		mark_neigh(d, k->ifname, &k->addr);
		return;
	}
	if (r >= 0) {
		st->neighs_removed++;
	}
	neigh_remove(d, a);
}

static void program_neigh(struct dp_routes *d, const struct neigh_key *k, struct pass *ps,
			  struct route_table_stats *st)
{
	const struct calc_neigh *w = want_neigh(d, k->ifname, &k->addr);
	if (!w) {
		return;
	}
	const struct alink *l = link_by_name(d, k->ifname);
	if (!l) {
		ps->pending++;
		mark_neigh(d, k->ifname, &k->addr);
		return;
	}
	struct aneigh *a = neigh_find(d, l->l.ifindex, &k->addr);
	if (a && memcmp(a->n.mac, w->mac, 6) == 0) {
		a->was_desired = true;
		return;
	}
	struct route_table_neigh n = {.addr = w->addr, .ifindex = l->l.ifindex, .permanent = true};
	memcpy(n.mac, w->mac, 6);
	memcpy(n.ifname, w->ifname, IFNAMSIZ);
	int r = d->ops->replace_neigh(d->h, &n);
	if (r < 0) {
		log_debug_errno(r, "programming a neighbour on %s failed: %m", w->ifname);
		st->errors++;
		ps->pending++;
		RET_GATHER(ps->first_error, r);
		mark_neigh(d, k->ifname, &k->addr);
		return;
	}
	st->neighs_programmed++;
	a = neigh_upsert(d, &n, w->ifname);
	if (a) {
		a->was_desired = true;
	} else {
		d->need_dump = true;
	}
}

/* Sort and deduplicate @n items of @size with @cmp; return the new count. */
static size_t sort_unique(void *base, size_t n, size_t size, int (*cmp)(const void *, const void *))
{
	if (n < 2) {
		return n;
	}
	qsort(base, n, size, cmp);
	char *b = base;
	size_t w = 1;
	for (size_t i = 1; i < n; i++) {
		if (cmp(b + (w - 1) * size, b + i * size) != 0) {
			if (w != i) {
				memcpy(b + w * size, b + i * size, size);
			}
			w++;
		}
	}
	return w;
}

static void fill_stats(struct dp_routes *d, uint64_t now_ms, uint64_t t0, int err,
		       struct dp_stats *out)
{
	const struct route_table_stats *st = &d->last;
	out->applies++;
	out->objects_changed += st->routes_programmed + st->routes_removed + st->neighs_programmed +
				st->neighs_removed + st->ifaces_configured;
	if (err < 0 || st->errors) {
		out->errors++;
	}
	if (d->ops->now_us) {
		out->last_duration_us = d->ops->now_us(d->h) - t0;
	}
	out->pending = d->pending;
	out->last_error = err < 0 ? err : 0;
	out->in_sync = err >= 0 && !st->errors && d->pending == 0;
	if (err >= 0 && !st->errors) {
		out->last_ok_ms = now_ms;
	}
	if (err < 0) {
		snprintf(out->error, sizeof(out->error),
			 "reading the kernel's routes, neighbours and links failed: errno %d",
			 -err);
	} else if (st->errors) {
		snprintf(out->error, sizeof(out->error),
			 "%u kernel operations failed; %u items pending", st->errors, d->pending);
	} else if (d->pending) {
		snprintf(out->error, sizeof(out->error),
			 "%u items pending (%u routes: interface missing or a foreign route on "
			 "the destination)",
			 d->pending, st->routes_pending);
	} else {
		out->error[0] = '\0';
	}
}

static int64_t routes_apply(void *p, uint64_t now_ms, struct dp_stats *out)
{
	struct dp_routes *d = p;
	struct route_table_stats st = {0};
	struct pass ps = {.now_ms = now_ms, .grace_left = UINT64_MAX};
	uint64_t t0 = d->ops->now_us ? d->ops->now_us(d->h) : 0;

	d->now_ms = now_ms;
	if (!d->need_dump && !d->need_mark_all && !d->dirty_routes.n && !d->dirty_neighs.n &&
	    !d->dirty_ifaces.n) {
		d->last = st;
		return DP_IDLE;
	}
	if (d->need_dump) {
		int r = dump_all(d);
		if (r < 0) {
			/* Nothing is written on a partial view of the kernel. */
			log_debug_errno(r, "dumping routes, neighbours and links failed: %m");
			d->last = st;
			fill_stats(d, now_ms, t0, r, out);
			return ROUTE_TABLE_RETRY_MS;
		}
		st.dumped = true;
		d->need_dump = false;
		d->need_mark_all = true;
		if (d->need_sysctls) {
			d->need_sysctls = false;
			for (size_t i = 0; i < d->links_by_index.nb; i++) {
				for (struct hnode *x = d->links_by_index.b[i]; x; x = x->next) {
					container_of(x, struct alink, by_index)->sysctl_done =
					    false;
				}
			}
		}
	}
	if (d->need_mark_all) {
		mark_all(d);
	}

	/* Take the marked items; whatever stays pending is marked again as we go. */
	VEC(struct ip_prefix) routes = {d->dirty_routes.v, d->dirty_routes.n, d->dirty_routes.cap};
	VEC(struct neigh_key) neighs = {d->dirty_neighs.v, d->dirty_neighs.n, d->dirty_neighs.cap};
	VEC(ifname_t) ifaces = {d->dirty_ifaces.v, d->dirty_ifaces.n, d->dirty_ifaces.cap};
	d->dirty_routes.v = NULL;
	d->dirty_routes.n = d->dirty_routes.cap = 0;
	d->dirty_neighs.v = NULL;
	d->dirty_neighs.n = d->dirty_neighs.cap = 0;
	d->dirty_ifaces.v = NULL;
	d->dirty_ifaces.n = d->dirty_ifaces.cap = 0;
	routes.n = sort_unique(routes.v, routes.n, sizeof(*routes.v), prefix_cmp);
	neighs.n = sort_unique(neighs.v, neighs.n, sizeof(*neighs.v), neigh_key_cmp);
	ifaces.n = sort_unique(ifaces.v, ifaces.n, sizeof(*ifaces.v), ifname_cmp);

	/* Sysctls first: a route to a workload is only useful once proxy-ARP answers for it. */
	apply_ifaces(d, ifaces.v, ifaces.n, &ps, &st);
	for (size_t i = 0; i < routes.n; i++) {
		sweep_route(d, &routes.v[i], &ps, &st);
	}
	for (size_t i = 0; i < routes.n; i++) {
		program_route(d, &routes.v[i], &ps, &st);
	}
	for (size_t i = 0; i < neighs.n; i++) {
		sweep_neigh(d, &neighs.v[i], &ps, &st);
	}
	for (size_t i = 0; i < neighs.n; i++) {
		program_neigh(d, &neighs.v[i], &ps, &st);
	}
	VEC_FREE(routes);
	VEC_FREE(neighs);
	VEC_FREE(ifaces);

	d->pending = ps.pending + st.routes_pending;
	d->last = st;
	/* Per-item failures are reported as pending, not as a failed apply. */
	fill_stats(d, now_ms, t0, 0, out);
	if (d->need_dump || d->need_mark_all) {
		return 0;
	}
	if (d->pending || st.errors) {
		return (int64_t)MIN((uint64_t)ROUTE_TABLE_RETRY_MS, ps.grace_left);
	}
	if (ps.grace_left != UINT64_MAX) {
		return (int64_t)ps.grace_left;
	}
	return DP_IDLE;
}

const struct dp_driver_ops dp_routes_ops = {
    .name = "routes",
    .apply = routes_apply,
    .queue_resync = routes_queue_resync,
    .fd = routes_fd,
    .dispatch = routes_dispatch,
    .free = routes_free,
};
