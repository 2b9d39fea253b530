/* SPDX-License-Identifier: Apache-2.0 */
/*
 * DOC: felix calculation: model cache and desired-state computation (pure).
 *
 * The cache is a key-sorted array of decoded datastore values, so iteration order is the key
 * order and every output is deterministic without extra sorting of the inputs. Watch callbacks
 * only decode and store (Felix's OnUpdate rule); calc_compute() recomputes the whole desired
 * state from the cache each time (STYLE.md section 5.3: no "last good output", no incremental
 * state until profiling asks for it). A value that fails to decode removes the key's old entry:
 * keeping a stale route for a resource we can no longer read would be worse than dropping it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "felix/calc/calc.h"
#include "ipam/block.h"
#include "lib/log.h"
#include "model/model.h"

enum entry_kind {
	ENTRY_NODE,
	ENTRY_POOL,
	ENTRY_WEP,
	ENTRY_BGPCONFIG,
	ENTRY_BLOCK,
};

struct entry {
	char *key;
	enum entry_kind kind;
	bool seen; /* confirmed during the current snapshot */
	struct model_resource *res;
	struct ipam_block block; /* ENTRY_BLOCK */
};

struct calc_cache {
	struct entry *v; /* sorted by key */
	size_t n, cap;
	bool dirty;
};

int calc_cache_new(struct calc_cache **ret)
{
	struct calc_cache *c = calloc(1, sizeof(*c));
	if (!c) {
		return -ENOMEM;
	}
	*ret = c;
	return 0;
}

static void entry_done(struct entry *e)
{
	free(e->key);
	model_resource_free(e->res);
	if (e->kind == ENTRY_BLOCK) {
		ipam_block_done(&e->block);
	}
	*e = (struct entry){0};
}

struct calc_cache *calc_cache_free(struct calc_cache *c)
{
	if (!c) {
		return NULL;
	}
	for (size_t i = 0; i < c->n; i++) {
		entry_done(&c->v[i]);
	}
	free(c->v);
	free(c);
	return NULL;
}

/* Index of @key, or -(insertion point) - 1. */
static ssize_t cache_find(const struct calc_cache *c, const char *key)
{
	size_t lo = 0, hi = c->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int d = strcmp(c->v[mid].key, key);
		if (d == 0) {
			return (ssize_t)mid;
		}
		if (d < 0) {
			lo = mid + 1;
		} else {
			hi = mid;
		}
	}
	return -(ssize_t)lo - 1;
}

static void cache_remove_at(struct calc_cache *c, size_t i)
{
	entry_done(&c->v[i]);
	memmove(&c->v[i], &c->v[i + 1], (c->n - i - 1) * sizeof(c->v[0]));
	c->n--;
	c->dirty = true;
}

/*
 * Classify @key. Returns the kind and the name part(s) through @ret_ns/@ret_name (pointers into
 * @key; @ret_ns only for workload endpoints), or -1 for keys the calculation ignores.
 */
static int key_classify(const char *key, const char **ret_ns, size_t *ret_ns_len,
			const char **ret_name)
{
	static const struct {
		const char *prefix;
		enum entry_kind kind;
		bool namespaced;
	} map[] = {
	    {"nodes/", ENTRY_NODE, false},
	    {"ippools/", ENTRY_POOL, false},
	    {"bgpconfigurations/", ENTRY_BGPCONFIG, false},
	    {"workloadendpoints/", ENTRY_WEP, true},
	    {"ipam/blocks/", ENTRY_BLOCK, false},
	};
	size_t plen = strlen(MODEL_KEY_PREFIX);
	if (strncmp(key, MODEL_KEY_PREFIX, plen) != 0) {
		return -1;
	}
	key += plen;
	for (size_t i = 0; i < ELEMENTSOF(map); i++) {
		size_t l = strlen(map[i].prefix);
		if (strncmp(key, map[i].prefix, l) != 0) {
			continue;
		}
		const char *rest = key + l;
		const char *slash = strchr(rest, '/');
		if (map[i].namespaced) {
			if (!slash || slash == rest || !slash[1] || strchr(slash + 1, '/')) {
				return -1;
			}
			*ret_ns = rest;
			*ret_ns_len = (size_t)(slash - rest);
			*ret_name = slash + 1;
		} else {
			if (slash || !rest[0]) {
				return -1;
			}
			*ret_ns = NULL;
			*ret_ns_len = 0;
			*ret_name = rest;
		}
		return (int)map[i].kind;
	}
	return -1;
}

static enum model_kind entry_model_kind(enum entry_kind k)
{
	switch (k) {
	case ENTRY_NODE:
		return MODEL_KIND_NODE;
	case ENTRY_POOL:
		return MODEL_KIND_IPPOOL;
	case ENTRY_WEP:
		return MODEL_KIND_WORKLOAD_ENDPOINT;
	case ENTRY_BGPCONFIG:
		return MODEL_KIND_BGP_CONFIGURATION;
	case ENTRY_BLOCK:
		break;
	}
	return _MODEL_KIND_INVALID;
}

/* Decode @value into @e (kind already set). */
static int entry_decode(struct entry *e, const char *key, const char *ns, size_t ns_len,
			const char *name, const char *value, size_t len, struct parse_err *err)
{
	int r;
	if (e->kind == ENTRY_BLOCK) {
		struct ip_prefix want;
		char buf[IPAM_BLOCK_NAME_MAX];
		r = ipam_block_decode_json(value, len, &e->block, err);
		if (r < 0) {
			return r;
		}
		if (ipam_block_name_parse(name, &want) < 0 ||
		    !ip_prefix_equal(&want, &e->block.cidr)) {
			ipam_block_done(&e->block);
			return parse_err_set(err, key, 0, 0, "cidr",
					     "block cidr %s does not match the key",
					     ipam_block_name(&e->block.cidr, buf));
		}
		return 0;
	}
	_cleanup_(model_resource_freep) struct model_resource *res = NULL;
	r = model_decode_one(value, len, key, &res, err);
	if (r < 0) {
		return r;
	}
	if (res->kind != entry_model_kind(e->kind)) {
		return parse_err_set(err, key, 0, 0, "kind", "kind %s does not match the key",
				     model_kind_to_string(res->kind) ?: "?");
	}
	if (!res->meta.name || strcmp(res->meta.name, name) != 0) {
		return parse_err_set(err, key, 0, 0, "metadata.name",
				     "name does not match the key");
	}
	if (ns && (!res->meta.namespace || strlen(res->meta.namespace) != ns_len ||
		   strncmp(res->meta.namespace, ns, ns_len) != 0)) {
		return parse_err_set(err, key, 0, 0, "metadata.namespace",
				     "namespace does not match the key");
	}
	e->res = TAKE_PTR(res);
	return 0;
}

int calc_cache_put(struct calc_cache *c, const char *key, const char *value, size_t len,
		   struct parse_err *err)
{
	const char *ns, *name;
	size_t ns_len;
	int kind = key_classify(key, &ns, &ns_len, &name);
	if (kind < 0) {
		return 0;
	}

	struct entry e = {.kind = (enum entry_kind)kind, .seen = true};
	int r = entry_decode(&e, key, ns, ns_len, name, value, len, err);
	ssize_t i = cache_find(c, key);
	if (r < 0) {
		if (i >= 0) {
			cache_remove_at(c, (size_t)i);
		}
		return r;
	}
	e.key = strdup(key);
	if (!e.key) {
		entry_done(&e);
		return -ENOMEM;
	}
	if (i >= 0) {
		entry_done(&c->v[i]);
		c->v[i] = e;
	} else {
		size_t at = (size_t)(-i - 1);
		if (c->n >= CALC_CACHE_MAX_ENTRIES) {
			entry_done(&e);
			return -E2BIG;
		}
		if (c->n == c->cap) {
			size_t cap = c->cap ? c->cap * 2 : 64;
			struct entry *v = reallocarray(c->v, cap, sizeof(*v));
			if (!v) {
				entry_done(&e);
				return -ENOMEM;
			}
			c->v = v;
			c->cap = cap;
		}
		memmove(&c->v[at + 1], &c->v[at], (c->n - at) * sizeof(c->v[0]));
		c->v[at] = e;
		c->n++;
	}
	c->dirty = true;
	return 1;
}

int calc_cache_delete(struct calc_cache *c, const char *key)
{
	ssize_t i = cache_find(c, key);
	if (i < 0) {
		return 0;
	}
	cache_remove_at(c, (size_t)i);
	return 1;
}

void calc_cache_mark_all(struct calc_cache *c)
{
	for (size_t i = 0; i < c->n; i++) {
		c->v[i].seen = false;
	}
}

size_t calc_cache_sweep(struct calc_cache *c)
{
	size_t w = 0, dropped = 0;
	for (size_t i = 0; i < c->n; i++) {
		if (c->v[i].seen) {
			c->v[w++] = c->v[i];
		} else {
			entry_done(&c->v[i]);
			dropped++;
		}
	}
	c->n = w;
	if (dropped) {
		c->dirty = true;
	}
	return dropped;
}

bool calc_cache_dirty(const struct calc_cache *c)
{
	return c->dirty;
}

void calc_cache_clear_dirty(struct calc_cache *c)
{
	c->dirty = false;
}

size_t calc_cache_size(const struct calc_cache *c)
{
	return c->n;
}

/* ---- computation ---- */

static const struct model_resource *cache_get_res(const struct calc_cache *c, const char *plural,
						  const char *name)
{
	char key[512];
	snprintf(key, sizeof(key), MODEL_KEY_PREFIX "%s/%s", plural, name);
	ssize_t i = cache_find(c, key);
	return i >= 0 ? c->v[i].res : NULL;
}

static int parse_mac(const char *s, uint8_t mac[static 6])
{
	unsigned b[6];
	char tail;
	if (!s || sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%c", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5],
			 &tail) != 6) {
		return -EINVAL;
	}
	for (int i = 0; i < 6; i++) {
		mac[i] = (uint8_t)b[i];
	}
	return 0;
}

/* Only interfaces with our prefix are ever programmed: a WorkloadEndpoint naming "eth0" must not
 * make felix route workload addresses to the uplink or rewrite its sysctls. */
static bool workload_ifname_ok(const char *s)
{
	size_t n = s ? strlen(s) : 0;
	return n > 3 && n < IFNAMSIZ && strncmp(s, "tby", 3) == 0 && !strchr(s, '/');
}

struct route_item {
	struct calc_route r;
	size_t order; /* source order (key order): the first claim of a dst wins */
};

static int route_item_cmp(const void *a, const void *b)
{
	const struct route_item *x = a, *y = b;
	int d = ip_prefix_cmp(&x->r.dst, &y->r.dst);
	if (d) {
		return d;
	}
	return x->order < y->order ? -1 : x->order > y->order;
}

static int neigh_cmp(const void *a, const void *b)
{
	const struct calc_neigh *x = a, *y = b;
	int d = strcmp(x->ifname, y->ifname);
	return d ? d : ip_addr_cmp(&x->addr, &y->addr);
}

static int ifname_cmp(const void *a, const void *b)
{
	return strcmp(a, b);
}

static int peer_cmp(const void *a, const void *b)
{
	const struct bgp_peer *x = a, *y = b;
	return ip_addr_cmp(&x->addr, &y->addr);
}

static int prefix_cmp(const void *a, const void *b)
{
	return ip_prefix_cmp(a, b);
}

/* A growable array: @pv points at the array pointer, @n/@cap counts, @size element size. */
static int grow(void *pv, size_t n, size_t *cap, size_t size)
{
	void **p = pv;
	if (n < *cap) {
		return 0;
	}
	size_t nc = *cap ? *cap * 2 : 16;
	void *np = reallocarray(*p, nc, size);
	if (!np) {
		return -ENOMEM;
	}
	*p = np;
	*cap = nc;
	return 0;
}

static int compute_local(const struct calc_cache *c, const char *me, struct calc_desired *d)
{
	struct route_item *items = NULL;
	size_t n_items = 0, cap_items = 0, cap_neigh = 0, cap_if = 0;
	int r = 0;

	for (size_t i = 0; i < c->n && r >= 0; i++) {
		const struct entry *e = &c->v[i];
		if (e->kind == ENTRY_BLOCK) {
			if (e->block.deleted || !ipam_block_is_affine_to(&e->block, me)) {
				continue;
			}
			r = grow(&items, n_items, &cap_items, sizeof(*items));
			if (r < 0) {
				break;
			}
			items[n_items++] = (struct route_item){
			    .r = {.dst = e->block.cidr, .blackhole = true}, .order = i};
			continue;
		}
		if (e->kind != ENTRY_WEP) {
			continue;
		}
		const struct model_workload_endpoint *w = &e->res->wep;
		if (!w->node || strcmp(w->node, me) != 0 ||
		    !workload_ifname_ok(w->interface_name)) {
			continue;
		}
		uint8_t mac[6];
		bool has_mac = parse_mac(w->mac, mac) >= 0;
		bool any = false;
		for (size_t k = 0; k < w->n_ip_networks && k < MODEL_MAX_IP_NETWORKS; k++) {
			struct ip_prefix p = ip_prefix_mask(w->ip_networks[k]);
			r = grow(&items, n_items, &cap_items, sizeof(*items));
			if (r < 0) {
				break;
			}
			items[n_items] = (struct route_item){.r = {.dst = p}, .order = i};
			snprintf(items[n_items].r.ifname, IFNAMSIZ, "%s", w->interface_name);
			n_items++;
			any = true;
			if (has_mac && p.len == ip_addr_bits(p.addr.family)) {
				r = grow(&d->neighs, d->n_neighs, &cap_neigh, sizeof(*d->neighs));
				if (r < 0) {
					break;
				}
				struct calc_neigh *nb = &d->neighs[d->n_neighs++];
				*nb = (struct calc_neigh){.addr = p.addr};
				memcpy(nb->mac, mac, 6);
				snprintf(nb->ifname, IFNAMSIZ, "%s", w->interface_name);
			}
		}
		if (r >= 0 && any) {
			r = grow(&d->ifaces, d->n_ifaces, &cap_if, sizeof(*d->ifaces));
			if (r >= 0) {
				snprintf(d->ifaces[d->n_ifaces++], IFNAMSIZ, "%s",
					 w->interface_name);
			}
		}
	}
	if (r < 0) {
		free(items);
		return r;
	}

	/* One route per destination: the first claimant in key order wins. */
	if (n_items) {
		qsort(items, n_items, sizeof(*items), route_item_cmp);
		d->routes = calloc(n_items, sizeof(*d->routes));
		if (!d->routes) {
			free(items);
			return -ENOMEM;
		}
		for (size_t i = 0; i < n_items; i++) {
			if (d->n_routes &&
			    ip_prefix_equal(&d->routes[d->n_routes - 1].dst, &items[i].r.dst)) {
				continue;
			}
			d->routes[d->n_routes++] = items[i].r;
		}
	}
	free(items);

	/* Neighbours only for addresses whose route we kept on that same interface. */
	if (d->n_neighs) {
		qsort(d->neighs, d->n_neighs, sizeof(*d->neighs), neigh_cmp);
		size_t w = 0;
		for (size_t i = 0; i < d->n_neighs; i++) {
			const struct calc_neigh *nb = &d->neighs[i];
			if (w && strcmp(d->neighs[w - 1].ifname, nb->ifname) == 0 &&
			    ip_addr_equal(&d->neighs[w - 1].addr, &nb->addr)) {
				continue;
			}
			struct ip_prefix host = ip_prefix_host(&nb->addr);
			struct calc_route key = {.dst = host};
			const struct calc_route *rt =
			    bsearch(&key, d->routes, d->n_routes, sizeof(*d->routes), prefix_cmp);
			if (!rt || rt->blackhole || strcmp(rt->ifname, nb->ifname) != 0) {
				continue;
			}
			d->neighs[w++] = *nb;
		}
		d->n_neighs = w;
	}
	if (d->n_ifaces) {
		qsort(d->ifaces, d->n_ifaces, sizeof(*d->ifaces), ifname_cmp);
		size_t w = 0;
		for (size_t i = 0; i < d->n_ifaces; i++) {
			if (w && strcmp(d->ifaces[w - 1], d->ifaces[i]) == 0) {
				continue;
			}
			memmove(d->ifaces[w++], d->ifaces[i], IFNAMSIZ);
		}
		d->n_ifaces = w;
	}
	return 0;
}

static int compute_bgp(const struct calc_cache *c, const struct calc_options *o,
		       struct calc_desired *d)
{
	const struct model_resource *me = cache_get_res(c, "nodes", o->node_name);
	const struct model_resource *bc = cache_get_res(c, "bgpconfigurations", "default");
	struct bgp_model *m = &d->bgp;
	size_t cap_pools = 0, cap_blocks = 0, cap_peers = 0;
	int r;

	if (!me || !me->node.has_ipv4 || me->node.ipv4_address.addr.family != AF_INET) {
		return 0;
	}
	uint32_t cluster_as =
	    bc && bc->bgpconfig.as_number ? bc->bgpconfig.as_number : CALC_DEFAULT_AS;
	bool mesh = !bc || bc->bgpconfig.node_to_node_mesh_enabled != 0;

	d->bgp_node_name = strdup(o->node_name);
	if (!d->bgp_node_name) {
		return -ENOMEM;
	}
	if (o->bird_log_file) {
		d->bgp_log_file = strdup(o->bird_log_file);
		if (!d->bgp_log_file) {
			return -ENOMEM;
		}
	}
	m->node_name = d->bgp_node_name;
	m->log_file = d->bgp_log_file;
	m->router_id = me->node.ipv4_address.addr;
	m->local_addr = me->node.ipv4_address.addr;
	m->as_number = me->node.as_number ? me->node.as_number : cluster_as;
	m->fast_timers = o->bird_fast_timers;
	if (bc) {
		m->listen_port = bc->bgpconfig.listen_port;
	}

	for (size_t i = 0; i < c->n; i++) {
		const struct entry *e = &c->v[i];
		switch (e->kind) {
		case ENTRY_POOL: {
			const struct model_ippool *p = &e->res->ippool;
			if (p->disabled || p->disable_bgp_export ||
			    p->cidr.addr.family != AF_INET) {
				break;
			}
			r = grow(&m->pools, m->n_pools, &cap_pools, sizeof(*m->pools));
			if (r < 0) {
				return r;
			}
			m->pools[m->n_pools++] = p->cidr;
			break;
		}
		case ENTRY_BLOCK:
			if (e->block.deleted || e->block.cidr.addr.family != AF_INET ||
			    !ipam_block_is_affine_to(&e->block, o->node_name)) {
				break;
			}
			r = grow(&m->blocks, m->n_blocks, &cap_blocks, sizeof(*m->blocks));
			if (r < 0) {
				return r;
			}
			m->blocks[m->n_blocks++] = e->block.cidr;
			break;
		case ENTRY_NODE: {
			const struct model_node *n = &e->res->node;
			if (!mesh || e->res == me || !n->has_ipv4 ||
			    n->ipv4_address.addr.family != AF_INET ||
			    ip_addr_equal(&n->ipv4_address.addr, &m->local_addr)) {
				break;
			}
			r = grow(&m->peers, m->n_peers, &cap_peers, sizeof(*m->peers));
			if (r < 0) {
				return r;
			}
			m->peers[m->n_peers++] = (struct bgp_peer){
			    .type = BGP_PEER_MESH,
			    .addr = n->ipv4_address.addr,
			    .as_number = n->as_number ? n->as_number : cluster_as,
			    .passive = ip_addr_cmp(&n->ipv4_address.addr, &m->local_addr) < 0,
			};
			break;
		}
		default:
			break;
		}
	}
	if (m->n_pools) {
		qsort(m->pools, m->n_pools, sizeof(*m->pools), prefix_cmp);
	}
	if (m->n_blocks) {
		qsort(m->blocks, m->n_blocks, sizeof(*m->blocks), prefix_cmp);
	}
	if (m->n_peers) {
		/* Two Nodes with the same address would give BIRD two protocols for one neighbour:
		 * keep the first. */
		qsort(m->peers, m->n_peers, sizeof(*m->peers), peer_cmp);
		size_t w = 0;
		for (size_t i = 0; i < m->n_peers; i++) {
			if (w && ip_addr_equal(&m->peers[w - 1].addr, &m->peers[i].addr)) {
				continue;
			}
			m->peers[w++] = m->peers[i];
		}
		m->n_peers = w;
	}
	d->has_bgp = true;
	return 0;
}

int calc_compute(const struct calc_cache *c, const struct calc_options *o, struct calc_desired *ret)
{
	struct calc_desired d = {0};
	int r;

	if (!o || !o->node_name || !o->node_name[0]) {
		return -EINVAL;
	}
	r = compute_local(c, o->node_name, &d);
	if (r >= 0) {
		r = compute_bgp(c, o, &d);
	}
	if (r < 0) {
		calc_desired_done(&d);
		return r;
	}
	*ret = d;
	return 0;
}

void calc_desired_done(struct calc_desired *d)
{
	if (!d) {
		return;
	}
	free(d->routes);
	free(d->neighs);
	free(d->ifaces);
	free(d->bgp.pools);
	free(d->bgp.blocks);
	free(d->bgp.peers);
	free(d->bgp_node_name);
	free(d->bgp_log_file);
	*d = (struct calc_desired){0};
}

int calc_desired_format(const struct calc_desired *d, struct strbuf *out)
{
	char a[IP_PREFIX_STRLEN];
	int r = 0;

	for (size_t i = 0; i < d->n_routes && r >= 0; i++) {
		const struct calc_route *rt = &d->routes[i];
		if (rt->blackhole) {
			r = strbuf_printf(out, "route %s blackhole\n",
					  ip_prefix_format(&rt->dst, a));
		} else {
			r = strbuf_printf(out, "route %s dev %s\n", ip_prefix_format(&rt->dst, a),
					  rt->ifname);
		}
	}
	for (size_t i = 0; i < d->n_neighs && r >= 0; i++) {
		const struct calc_neigh *n = &d->neighs[i];
		r = strbuf_printf(out, "neigh %s %02x:%02x:%02x:%02x:%02x:%02x dev %s\n",
				  ip_addr_format(&n->addr, a), n->mac[0], n->mac[1], n->mac[2],
				  n->mac[3], n->mac[4], n->mac[5], n->ifname);
	}
	for (size_t i = 0; i < d->n_ifaces && r >= 0; i++) {
		r = strbuf_printf(out, "iface %s\n", d->ifaces[i]);
	}
	if (!d->has_bgp || r < 0) {
		return r;
	}
	const struct bgp_model *m = &d->bgp;
	r = strbuf_printf(out, "bgp router-id %s as %u%s\n", ip_addr_format(&m->router_id, a),
			  m->as_number, m->fast_timers ? " fast-timers" : "");
	for (size_t i = 0; i < m->n_pools && r >= 0; i++) {
		r = strbuf_printf(out, "bgp pool %s\n", ip_prefix_format(&m->pools[i], a));
	}
	for (size_t i = 0; i < m->n_blocks && r >= 0; i++) {
		r = strbuf_printf(out, "bgp block %s\n", ip_prefix_format(&m->blocks[i], a));
	}
	for (size_t i = 0; i < m->n_peers && r >= 0; i++) {
		const struct bgp_peer *p = &m->peers[i];
		r = strbuf_printf(out, "bgp peer %s as %u mesh%s\n", ip_addr_format(&p->addr, a),
				  p->as_number, p->passive ? " passive" : "");
	}
	return r;
}
