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
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "acl/selector.h"
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
	ENTRY_BGPPEER,
	ENTRY_SECRET,
	/* Policy kinds (felix/calc/policy.c): ENTRY_POLICY_BASE + enum model_kind. */
	ENTRY_POLICY_BASE = 100,
};

/* Limits on a secret value (STYLE.md section 3). */
#define CALC_SECRET_MAX_KEYS 256
#define CALC_SECRET_MAX_BYTES 65536

struct secret_kv {
	char *key;
	char *value; /* never logged */
};

struct entry {
	char *key;
	enum entry_kind kind;
	bool seen; /* confirmed during the current snapshot */
	struct model_resource *res;
	struct ipam_block block;  /* ENTRY_BLOCK */
	struct secret_kv *secret; /* ENTRY_SECRET */
	size_t n_secret;
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
	for (size_t i = 0; i < e->n_secret; i++) {
		free(e->secret[i].key);
		if (e->secret[i].value) {
			explicit_bzero(e->secret[i].value, strlen(e->secret[i].value));
		}
		free(e->secret[i].value);
	}
	free(e->secret);
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
	    {"bgppeers/", ENTRY_BGPPEER, false},
	    {"secrets/", ENTRY_SECRET, false},
#define POLICY_KEY(plural, k, ns) {plural, (enum entry_kind)(ENTRY_POLICY_BASE + (k)), ns}
	    POLICY_KEY("networkpolicies/", MODEL_KIND_NETWORK_POLICY, true),
	    POLICY_KEY("globalnetworkpolicies/", MODEL_KIND_GLOBAL_NETWORK_POLICY, false),
	    POLICY_KEY("tiers/", MODEL_KIND_TIER, false),
	    POLICY_KEY("networksets/", MODEL_KIND_NETWORK_SET, true),
	    POLICY_KEY("globalnetworksets/", MODEL_KIND_GLOBAL_NETWORK_SET, false),
	    POLICY_KEY("hostendpoints/", MODEL_KIND_HOST_ENDPOINT, false),
	    POLICY_KEY("profiles/", MODEL_KIND_PROFILE, false),
	    POLICY_KEY("felixconfigurations/", MODEL_KIND_FELIX_CONFIGURATION, false),
	    POLICY_KEY("namespaces/", MODEL_KIND_NAMESPACE, false),
	    POLICY_KEY("kubernetesnetworkpolicies/", MODEL_KIND_K8S_NETWORK_POLICY, true),
#undef POLICY_KEY
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
	if (k >= ENTRY_POLICY_BASE) {
		return (enum model_kind)(k - ENTRY_POLICY_BASE);
	}
	switch (k) {
	case ENTRY_NODE:
		return MODEL_KIND_NODE;
	case ENTRY_POOL:
		return MODEL_KIND_IPPOOL;
	case ENTRY_WEP:
		return MODEL_KIND_WORKLOAD_ENDPOINT;
	case ENTRY_BGPCONFIG:
		return MODEL_KIND_BGP_CONFIGURATION;
	case ENTRY_BGPPEER:
		return MODEL_KIND_BGP_PEER;
	case ENTRY_BLOCK:
	case ENTRY_SECRET:
	default:
		break;
	}
	return _MODEL_KIND_INVALID;
}

/* A secret: a JSON object of key -> string. The values are passwords: errors name the field,
 * never the value. */
static int secret_decode(struct entry *e, const char *key, const char *value, size_t len,
			 struct parse_err *err)
{
	if (len > CALC_SECRET_MAX_BYTES) {
		return parse_err_set(err, key, 0, 0, "", "secret larger than %d bytes",
				     CALC_SECRET_MAX_BYTES);
	}
	struct json_tokener *tok = json_tokener_new();
	if (!tok) {
		return -ENOMEM;
	}
	struct json_object *o = json_tokener_parse_ex(tok, value, (int)len);
	bool complete = json_tokener_get_error(tok) == json_tokener_success;
	json_tokener_free(tok);
	if (!o || !complete || !json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		return parse_err_set(err, key, 0, 0, "", "secret is not a JSON object");
	}
	int r = 0;
	size_t n = (size_t)json_object_object_length(o);
	if (n > CALC_SECRET_MAX_KEYS) {
		json_object_put(o);
		return parse_err_set(err, key, 0, 0, "", "secret has more than %d keys",
				     CALC_SECRET_MAX_KEYS);
	}
	e->secret = calloc(n ? n : 1, sizeof(*e->secret));
	if (!e->secret) {
		json_object_put(o);
		return -ENOMEM;
	}
	json_object_object_foreach(o, k, v)
	{
		if (!json_object_is_type(v, json_type_string)) {
			r = parse_err_set(err, key, 0, 0, k, "secret value is not a string");
			break;
		}
		struct secret_kv *kv = &e->secret[e->n_secret];
		kv->key = strdup(k);
		kv->value = strdup(json_object_get_string(v));
		e->n_secret++;
		if (!kv->key || !kv->value) {
			r = -ENOMEM;
			break;
		}
	}
	json_object_put(o);
	return r;
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
	if (e->kind == ENTRY_SECRET) {
		return secret_decode(e, key, value, len, err);
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
		if (e.kind == ENTRY_SECRET) {
			entry_done(&e); /* a partly decoded secret */
		}
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

int calc_cache_foreach(const struct calc_cache *c, enum model_kind kind,
		       int (*cb)(const struct model_resource *res, void *userdata), void *userdata)
{
	char prefix[128];
	const char *plural = model_kind_plural(kind);
	if (!plural) {
		return -EINVAL;
	}
	int l = snprintf(prefix, sizeof(prefix), MODEL_KEY_PREFIX "%s/", plural);
	ssize_t i = cache_find(c, prefix);
	for (size_t j = i >= 0 ? (size_t)i : (size_t)(-i - 1);
	     j < c->n && strncmp(c->v[j].key, prefix, (size_t)l) == 0; j++) {
		if (!c->v[j].res || c->v[j].res->kind != kind) {
			continue;
		}
		int r = cb(c->v[j].res, userdata);
		if (r < 0) {
			return r;
		}
	}
	return 0;
}

const struct model_resource *calc_cache_get(const struct calc_cache *c, const char *key)
{
	ssize_t i = key ? cache_find(c, key) : -1;
	return i >= 0 ? c->v[i].res : NULL;
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

/* ---- BGP ---- */

enum {
	/* Which source wins when two give a session to the same neighbour. */
	PRIO_MESH,
	PRIO_RR,
	PRIO_BGPPEER,
};

struct peer_item {
	struct bgp_peer p;
	int prio;
	size_t order;
};

struct bgp_ctx {
	const struct calc_cache *c;
	const struct model_resource *me;
	struct calc_desired *d;
	uint32_t cluster_as;
	const char *my_cluster;
	struct peer_item *items;
	size_t n_items, cap_items;
};

static int str_keep(struct calc_desired *d, const char *s, const char **ret)
{
	if (!s) {
		*ret = NULL;
		return 0;
	}
	int r = grow(&d->bgp_strs, d->n_bgp_strs, &d->cap_bgp_strs, sizeof(*d->bgp_strs));
	if (r < 0) {
		return r;
	}
	char *dup = strdup(s);
	if (!dup) {
		return -ENOMEM;
	}
	d->bgp_strs[d->n_bgp_strs++] = dup;
	*ret = dup;
	return 0;
}

static bool node_v4(const struct model_resource *n, struct ip_addr *ret)
{
	if (!n->node.has_ipv4 || n->node.ipv4_address.addr.family != AF_INET) {
		return false;
	}
	*ret = n->node.ipv4_address.addr;
	return true;
}

static const char *node_cluster(const struct model_resource *n)
{
	const char *id = n->node.rr_cluster_id;
	return id && *id ? id : NULL;
}

/* A session with another tabby node: its AS, one passive side (the higher address waits), and
 * "rr client" when we reflect and it is not a reflector of our cluster (Calico). */
static struct bgp_peer node_peer(const struct bgp_ctx *x, const struct model_resource *n,
				 enum bgp_peer_type type)
{
	const struct bgp_model *m = &x->d->bgp;
	struct bgp_peer p = {.type = type};
	node_v4(n, &p.addr);
	p.as_number = n->node.as_number ? n->node.as_number : x->cluster_as;
	p.passive = ip_addr_cmp(&p.addr, &m->local_addr) < 0;
	const char *theirs = node_cluster(n);
	p.rr_client = x->my_cluster && (!theirs || strcmp(theirs, x->my_cluster) != 0) &&
		      p.as_number == m->as_number;
	return p;
}

/* The password of secretKeyRef {name, key}. Return 1 found, 0 none configured, -ENOENT. */
static int password_lookup(const struct bgp_ctx *x, const struct model_bgp_password *pw,
			   const char **ret)
{
	if (!pw->secret_name) {
		return 0;
	}
	char key[512];
	snprintf(key, sizeof(key), MODEL_KEY_PREFIX "secrets/%s", pw->secret_name);
	ssize_t i = cache_find(x->c, key);
	if (i < 0 || !pw->secret_key) {
		return -ENOENT;
	}
	const struct entry *e = &x->c->v[i];
	for (size_t k = 0; k < e->n_secret; k++) {
		if (strcmp(e->secret[k].key, pw->secret_key) == 0) {
			*ret = e->secret[k].value;
			return 1;
		}
	}
	return -ENOENT;
}

/* Fill @p's password fields from @pw. Return 0, -ENOENT (secret missing) or -ENOMEM. */
static int peer_set_password(struct bgp_ctx *x, struct bgp_peer *p,
			     const struct model_bgp_password *pw)
{
	const char *val = NULL;
	int r = password_lookup(x, pw, &val);
	if (r < 0) {
		return r;
	}
	if (r > 0) {
		r = str_keep(x->d, val, &p->password);
		if (r < 0) {
			return r;
		}
	}
	if (pw->file && !pw->secret_name) {
		return str_keep(x->d, pw->file, &p->password_file);
	}
	return 0;
}

static int peer_add(struct bgp_ctx *x, const struct bgp_peer *p, int prio)
{
	if (!ip_addr_bits(p->addr.family) || ip_addr_equal(&p->addr, &x->d->bgp.local_addr) ||
	    (x->d->bgp.local_addr6.family && ip_addr_equal(&p->addr, &x->d->bgp.local_addr6))) {
		return 0;
	}
	int r = grow(&x->items, x->n_items, &x->cap_items, sizeof(*x->items));
	if (r < 0) {
		return r;
	}
	x->items[x->n_items] = (struct peer_item){.p = *p, .prio = prio, .order = x->n_items};
	x->n_items++;
	return 0;
}

/* A BGPPeer's session options onto @p. Return 0, -ENOENT (its secret is missing), -ENOMEM. */
static int peer_apply_spec(struct bgp_ctx *x, struct bgp_peer *p, const struct model_bgp_peer *bp)
{
	p->keepalive_s = bp->keepalive_time_s <= 65535 ? bp->keepalive_time_s : 0;
	p->hold_s = bp->hold_time_s >= 3 && bp->hold_time_s <= 65535 ? bp->hold_time_s : 0;
	p->gr_time_s = bp->max_restart_time_s <= 65535 ? bp->max_restart_time_s : 0;
	p->ttl_security = bp->ttl_security;
	p->no_source_addr = bp->source_address && strcmp(bp->source_address, "None") == 0;
	if (bp->keep_original_next_hop || bp->next_hop_mode == MODEL_NEXT_HOP_KEEP) {
		p->next_hop = BGP_NEXT_HOP_KEEP;
	} else if (bp->next_hop_mode == MODEL_NEXT_HOP_SELF) {
		p->next_hop = BGP_NEXT_HOP_SELF;
	}
	p->allow_local_as = bp->num_allowed_local_as_numbers;
	p->bfd = bp->bfd_enabled;
	p->bfd_interval_ms = bp->bfd_interval_ms;
	p->bfd_multiplier = bp->bfd_multiplier <= 255 ? bp->bfd_multiplier : 0;
	return peer_set_password(x, p, &bp->password);
}

/* A BGPPeer selector (Calico syntax, acl/selector.h), parsed once per calculation and then
 * matched against every Node's labels. NULL @text gives NULL (not set).
 * Return: 0, -EINVAL (does not parse) or -ENOMEM. */
static int bgppeer_selector(const char *text, struct sel **ret)
{
	if (!text) {
		*ret = NULL;
		return 0;
	}
	return sel_parse(text, ret, NULL);
}

/* Does BGPPeer @bp, whose parsed nodeSelector is @nodesel, apply to node @n (spec.node, else
 * spec.nodeSelector, else everyone)? */
static bool bgppeer_applies(const struct model_bgp_peer *bp, const struct sel *nodesel,
			    const struct model_resource *n)
{
	if (bp->node) {
		return strcmp(bp->node, n->meta.name) == 0;
	}
	if (nodesel) {
		return sel_match(nodesel, &n->meta.labels);
	}
	return true;
}

static int add_bgppeer(struct bgp_ctx *x, const struct model_bgp_peer *bp)
{
	_cleanup_(sel_freep) struct sel *nodesel = NULL, *peersel = NULL;
	enum bgp_peer_type type = bp->node || bp->node_selector ? BGP_PEER_NODE : BGP_PEER_GLOBAL;
	bool reverse = !bp->reverse_peering || strcmp(bp->reverse_peering, "Manual") != 0;
	const struct calc_cache *c = x->c;
	int r;

	/* The model validates both selectors on decode, so -EINVAL is a value that an older or
	 * laxer writer cached: the BGPPeer then selects nothing and is counted as skipped. */
	r = bgppeer_selector(bp->node_selector, &nodesel);
	if (r >= 0) {
		r = bgppeer_selector(bp->peer_selector, &peersel);
	}
	if (r == -EINVAL) {
		x->d->bgp_skipped_peers++;
		return 0;
	}
	if (r < 0) {
		return r;
	}
	if (bgppeer_applies(bp, nodesel, x->me)) {
		if (bp->has_peer_ip && bp->as_number) {
			struct bgp_peer p = {.type = type,
					     .addr = bp->peer_ip,
					     .port = bp->peer_port,
					     .as_number = bp->as_number};
			r = peer_apply_spec(x, &p, bp);
			if (r == -ENOENT) {
				x->d->bgp_skipped_peers++;
			} else if (r < 0 || (r = peer_add(x, &p, PRIO_BGPPEER)) < 0) {
				return r;
			}
		}
		for (size_t i = 0; peersel && i < c->n; i++) {
			const struct model_resource *n = c->v[i].res;
			struct ip_addr a;
			if (c->v[i].kind != ENTRY_NODE || n == x->me || !node_v4(n, &a) ||
			    !sel_match(peersel, &n->meta.labels)) {
				continue;
			}
			struct bgp_peer p = node_peer(x, n, type);
			if (bp->as_number) {
				p.as_number = bp->as_number;
				p.rr_client = p.rr_client && p.as_number == x->d->bgp.as_number;
			}
			r = peer_apply_spec(x, &p, bp);
			if (r == -ENOENT) {
				x->d->bgp_skipped_peers++;
				continue;
			}
			if (r < 0 || (r = peer_add(x, &p, PRIO_BGPPEER)) < 0) {
				return r;
			}
		}
	}
	/* Reverse peering: we are a target of the peerSelector; peer back with every node the
	 * BGPPeer applies to, so that both ends configure the session. */
	if (!reverse || !peersel || !sel_match(peersel, &x->me->meta.labels)) {
		return 0;
	}
	for (size_t i = 0; i < c->n; i++) {
		const struct model_resource *n = c->v[i].res;
		struct ip_addr a;
		if (c->v[i].kind != ENTRY_NODE || n == x->me || !node_v4(n, &a) ||
		    !bgppeer_applies(bp, nodesel, n)) {
			continue;
		}
		struct bgp_peer p = node_peer(x, n, type);
		r = peer_apply_spec(x, &p, bp);
		if (r == -ENOENT) {
			x->d->bgp_skipped_peers++;
			continue;
		}
		if (r < 0 || (r = peer_add(x, &p, PRIO_BGPPEER)) < 0) {
			return r;
		}
	}
	return 0;
}

/* Node-to-node sessions: the full mesh, or (mesh disabled) the route-reflector topology given
 * by the Nodes' cluster ids. */
static int add_node_peers(struct bgp_ctx *x, const struct model_bgp_configuration *def, bool mesh)
{
	const struct calc_cache *c = x->c;
	bool any_rr = false;
	for (size_t i = 0; i < c->n; i++) {
		if (c->v[i].kind == ENTRY_NODE && node_cluster(c->v[i].res)) {
			any_rr = true;
		}
	}
	if (!mesh && !any_rr) {
		return 0;
	}
	for (size_t i = 0; i < c->n; i++) {
		const struct model_resource *n = c->v[i].res;
		struct ip_addr a;
		if (c->v[i].kind != ENTRY_NODE || n == x->me || !node_v4(n, &a)) {
			continue;
		}
		struct bgp_peer p;
		int prio = PRIO_MESH;
		if (mesh) {
			p = node_peer(x, n, BGP_PEER_MESH);
			p.rr_client = false;
		} else {
			if (!x->my_cluster && !node_cluster(n)) {
				continue; /* two clients do not peer */
			}
			p = node_peer(x, n, BGP_PEER_NODE);
			prio = PRIO_RR;
		}
		if (def) {
			p.gr_time_s = def->node_mesh_max_restart_time_s <= 65535
					  ? def->node_mesh_max_restart_time_s
					  : 0;
			int r = peer_set_password(x, &p, &def->node_mesh_password);
			if (r == -ENOENT) {
				x->d->bgp_skipped_peers++;
				continue;
			}
			if (r < 0) {
				return r;
			}
		}
		int r = peer_add(x, &p, prio);
		if (r < 0) {
			return r;
		}
	}
	return 0;
}

static int peer_item_cmp(const void *a, const void *b)
{
	const struct peer_item *x = a, *y = b;
	int d = ip_addr_cmp(&x->p.addr, &y->p.addr);
	if (d) {
		return d;
	}
	unsigned px = x->p.port == 179 ? 0 : x->p.port, py = y->p.port == 179 ? 0 : y->p.port;
	if (px != py) {
		return px < py ? -1 : 1;
	}
	if (x->prio != y->prio) {
		return x->prio > y->prio ? -1 : 1;
	}
	return x->order < y->order ? -1 : x->order > y->order;
}

/* Communities of a BGPConfiguration's prefixAdvertisements: names resolve through its
 * communities list, anything else must be a literal "aa:nn" / "aa:nn:mm"; unknown ones are
 * skipped. */
static int add_communities(struct calc_desired *d, const struct model_bgp_configuration *cfg)
{
	struct bgp_model *m = &d->bgp;
	size_t total = 0;
	if (!cfg || cfg->n_prefix_advertisements == 0) {
		return 0;
	}
	for (size_t i = 0; i < cfg->n_prefix_advertisements; i++) {
		total += cfg->prefix_advertisements[i].n_communities;
	}
	d->bgp_pcs = calloc(cfg->n_prefix_advertisements, sizeof(*d->bgp_pcs));
	d->bgp_communities = calloc(total ? total : 1, sizeof(*d->bgp_communities));
	if (!d->bgp_pcs || !d->bgp_communities) {
		return -ENOMEM;
	}
	size_t used = 0;
	for (size_t i = 0; i < cfg->n_prefix_advertisements; i++) {
		const struct model_prefix_advertisement *pa = &cfg->prefix_advertisements[i];
		struct bgp_prefix_communities *pc = &d->bgp_pcs[i];
		pc->cidr = ip_prefix_mask(pa->cidr);
		pc->communities = &d->bgp_communities[used];
		for (size_t k = 0; k < pa->n_communities; k++) {
			const char *text = pa->communities[k];
			for (size_t j = 0; j < cfg->n_communities; j++) {
				if (cfg->communities[j].name &&
				    strcmp(cfg->communities[j].name, text) == 0) {
					text = cfg->communities[j].value;
					break;
				}
			}
			if (bird_conf_community_parse(text, &d->bgp_communities[used]) < 0) {
				continue;
			}
			used++;
			pc->n_communities++;
		}
	}
	m->prefix_communities = d->bgp_pcs;
	m->n_prefix_communities = cfg->n_prefix_advertisements;
	return 0;
}

static int compute_bgp(const struct calc_cache *c, const struct calc_options *o,
		       struct calc_desired *d)
{
	const struct model_resource *me = cache_get_res(c, "nodes", o->node_name);
	const struct model_resource *bc = cache_get_res(c, "bgpconfigurations", "default");
	char node_cfg[MODEL_NAME_MAX + 8];
	snprintf(node_cfg, sizeof(node_cfg), "node.%s", o->node_name);
	const struct model_resource *bcn = cache_get_res(c, "bgpconfigurations", node_cfg);
	const struct model_bgp_configuration *def = bc ? &bc->bgpconfig : NULL;
	const struct model_bgp_configuration *nod = bcn ? &bcn->bgpconfig : NULL;
	struct bgp_model *m = &d->bgp;
	size_t cap_pools = 0, cap_blocks = 0;
	int r;

	if (!me || !me->node.has_ipv4 || me->node.ipv4_address.addr.family != AF_INET) {
		return 0;
	}
	struct bgp_ctx x = {
	    .c = c,
	    .me = me,
	    .d = d,
	    .cluster_as = def && def->as_number ? def->as_number : CALC_DEFAULT_AS,
	    .my_cluster = node_cluster(me),
	};
	bool mesh = !def || def->node_to_node_mesh_enabled != 0;

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
	if (me->node.has_ipv6 && me->node.ipv6_address.addr.family == AF_INET6) {
		m->local_addr6 = me->node.ipv6_address.addr;
	}
	m->as_number = me->node.as_number ? me->node.as_number : x.cluster_as;
	m->fast_timers = o->bird_fast_timers;
	if (x.my_cluster) {
		r = str_keep(d, x.my_cluster, &m->rr_cluster_id);
		if (r < 0) {
			return r;
		}
	}

	/* Per-node BGPConfiguration fields override the default one's when set. */
	const struct model_bgp_configuration *pick;
	m->listen_port = nod && nod->listen_port ? nod->listen_port : def ? def->listen_port : 0;
	pick = nod && nod->log_severity_screen ? nod : def;
	if (pick && pick->log_severity_screen) {
		enum bgp_log_level lv = bird_conf_log_level_from_string(pick->log_severity_screen);
		m->log_level = lv >= 0 ? lv : BGP_LOG_INFO;
	}
	pick = nod && nod->bind_mode ? nod : def;
	m->strict_bind = pick && pick->bind_mode && strcmp(pick->bind_mode, "NodeIP") == 0;
	pick = nod && nod->n_ignored_interfaces ? nod : def;
	if (pick && pick->n_ignored_interfaces) {
		d->bgp_ignored_ifaces = calloc(pick->n_ignored_interfaces, sizeof(char *));
		if (!d->bgp_ignored_ifaces) {
			return -ENOMEM;
		}
		for (size_t i = 0; i < pick->n_ignored_interfaces; i++) {
			r = str_keep(d, pick->ignored_interfaces[i], &d->bgp_ignored_ifaces[i]);
			if (r < 0) {
				return r;
			}
		}
		m->ignored_ifaces = d->bgp_ignored_ifaces;
		m->n_ignored_ifaces = pick->n_ignored_interfaces;
	}
	r = add_communities(d, nod && nod->n_prefix_advertisements ? nod : def);
	if (r < 0) {
		return r;
	}

	for (size_t i = 0; i < c->n; i++) {
		const struct entry *e = &c->v[i];
		switch (e->kind) {
		case ENTRY_POOL: {
			const struct model_ippool *p = &e->res->ippool;
			if (p->disabled || p->disable_bgp_export ||
			    (p->cidr.addr.family != AF_INET && !m->local_addr6.family)) {
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
			if (e->block.deleted ||
			    (e->block.cidr.addr.family != AF_INET && !m->local_addr6.family) ||
			    !ipam_block_is_affine_to(&e->block, o->node_name)) {
				break;
			}
			r = grow(&m->blocks, m->n_blocks, &cap_blocks, sizeof(*m->blocks));
			if (r < 0) {
				return r;
			}
			m->blocks[m->n_blocks++] = e->block.cidr;
			break;
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

	r = add_node_peers(&x, def, mesh);
	for (size_t i = 0; r >= 0 && i < c->n; i++) {
		if (c->v[i].kind == ENTRY_BGPPEER) {
			r = add_bgppeer(&x, &c->v[i].res->bgppeer);
		}
	}
	if (r < 0) {
		free(x.items);
		return r;
	}
	/* One session per neighbour address and port: the highest priority, then the first. */
	if (x.n_items) {
		qsort(x.items, x.n_items, sizeof(*x.items), peer_item_cmp);
		m->peers = calloc(x.n_items, sizeof(*m->peers));
		if (!m->peers) {
			free(x.items);
			return -ENOMEM;
		}
		for (size_t i = 0; i < x.n_items; i++) {
			const struct bgp_peer *p = &x.items[i].p;
			if (m->n_peers) {
				const struct bgp_peer *q = &m->peers[m->n_peers - 1];
				unsigned pp = p->port == 179 ? 0 : p->port;
				unsigned qp = q->port == 179 ? 0 : q->port;
				if (ip_addr_equal(&q->addr, &p->addr) && pp == qp) {
					continue;
				}
			}
			m->peers[m->n_peers++] = *p;
		}
	}
	free(x.items);
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
	for (size_t i = 0; i < d->n_bgp_strs; i++) {
		/* some of them are passwords */
		explicit_bzero(d->bgp_strs[i], strlen(d->bgp_strs[i]));
		free(d->bgp_strs[i]);
	}
	free(d->bgp_strs);
	free(d->bgp_ignored_ifaces);
	free(d->bgp_pcs);
	free(d->bgp_communities);
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
	r = strbuf_printf(out, "bgp router-id %s as %u%s%s%s\n", ip_addr_format(&m->router_id, a),
			  m->as_number, m->fast_timers ? " fast-timers" : "",
			  m->rr_cluster_id ? " rr-cluster-id " : "",
			  m->rr_cluster_id ? m->rr_cluster_id : "");
	for (size_t i = 0; i < m->n_pools && r >= 0; i++) {
		r = strbuf_printf(out, "bgp pool %s\n", ip_prefix_format(&m->pools[i], a));
	}
	for (size_t i = 0; i < m->n_blocks && r >= 0; i++) {
		r = strbuf_printf(out, "bgp block %s\n", ip_prefix_format(&m->blocks[i], a));
	}
	for (size_t i = 0; i < m->n_peers && r >= 0; i++) {
		const struct bgp_peer *p = &m->peers[i];
		static const char *const type[_BGP_PEER_TYPE_MAX] = {[BGP_PEER_MESH] = "mesh",
								     [BGP_PEER_GLOBAL] = "global",
								     [BGP_PEER_NODE] = "node"};
		r = strbuf_printf(out, "bgp peer %s", ip_addr_format(&p->addr, a));
		if (r >= 0 && p->port) {
			r = strbuf_printf(out, " port %u", (unsigned)p->port);
		}
		/* The password itself is never printed. */
		if (r >= 0) {
			r = strbuf_printf(
			    out, "%s as %u %s%s%s%s%s%s\n", "", p->as_number,
			    p->type >= 0 && p->type < _BGP_PEER_TYPE_MAX ? type[p->type] : "?",
			    p->passive ? " passive" : "", p->rr_client ? " rr-client" : "",
			    p->password ? " md5" : "", p->password_file ? " md5-file" : "",
			    p->bfd ? " bfd" : "");
		}
	}
	return r;
}
