/* SPDX-License-Identifier: Apache-2.0 */
/*
 * DOC: felix calculation: the resource cache (pure)
 *
 * Decoded datastore values in key order (sorted chunks of CACHE_CHUNK entries, see
 * calc-internal.h), so iteration order is the key order and every calculator's output is
 * deterministic without extra sorting of the inputs. Watch callbacks only
 * decode and store here (Felix's OnUpdate rule); the calculators (routes.c, bgp.c, policy.c)
 * read it. A value that fails to decode removes the key's old entry: keeping a stale route for a
 * resource we can no longer read would be worse than dropping it.
 */
#include <errno.h>
#include <json-c/json.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "felix/calc/calc-internal.h"
#include "lib/array.h"
#include "lib/macro.h"
#include "model/model.h"

/* Under ASan a block is poisoned while it is free, so a use after free still shows. */
#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#define PACK_POISON(p, n) ASAN_POISON_MEMORY_REGION(p, n)
#define PACK_UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION(p, n)
#else
#define PACK_POISON(p, n) ((void)(p), (void)(n))
#define PACK_UNPOISON(p, n) ((void)(p), (void)(n))
#endif

_Static_assert(ENTRY_POLICY_BASE + _MODEL_KIND_MAX <= UINT8_MAX, "struct entry.kind is a uint8_t");
_Static_assert(CALC_SECRET_MAX_KEYS <= UINT16_MAX, "struct entry.n_secret is a uint16_t");

int calc_cache_new(struct calc_cache **ret)
{
	struct calc_cache *c = calloc(1, sizeof(*c));
	if (!c) {
		return -ENOMEM;
	}
	*ret = c;
	return 0;
}

/* ---- interned strings ---- */

static size_t istr_slot(const struct calc_cache *c, const char *s)
{
	size_t mask = c->strs_cap - 1;
	size_t i = hash_fnv1a(HASH_FNV1A_INIT, s, strlen(s)) & mask;
	while (c->strs[i] && strcmp(c->strs[i]->s, s) != 0) {
		i = (i + 1) & mask;
	}
	return i;
}

static int istr_reserve(struct calc_cache *c)
{
	if ((c->strs_n + 1) * 2 <= c->strs_cap) {
		return 0;
	}
	size_t cap = c->strs_cap ? c->strs_cap * 2 : 256;
	struct istr **old = c->strs;
	size_t old_cap = c->strs_cap;
	c->strs = calloc(cap, sizeof(*c->strs));
	if (!c->strs) {
		c->strs = old;
		return -ENOMEM;
	}
	c->strs_cap = cap;
	for (size_t i = 0; i < old_cap; i++) {
		if (old[i]) {
			c->strs[istr_slot(c, old[i]->s)] = old[i];
		}
	}
	free(old);
	return 0;
}

/* Replace the heap string *@p by the shared copy (one more reference); NULL stays NULL. On
 * -ENOMEM *@p is unchanged and still owned. */
static int istr_take(struct calc_cache *c, char **p)
{
	if (!*p) {
		return 0;
	}
	if (istr_reserve(c) < 0) {
		return -ENOMEM;
	}
	size_t i = istr_slot(c, *p);
	if (!c->strs[i]) {
		size_t l = strlen(*p);
		struct istr *x = malloc(sizeof(*x) + l + 1);
		if (!x) {
			return -ENOMEM;
		}
		x->refs = 0;
		memcpy(x->s, *p, l + 1);
		c->strs[i] = x;
		c->strs_n++;
	}
	c->strs[i]->refs++;
	free(*p);
	*p = c->strs[i]->s;
	return 0;
}

/* Drop one reference to the shared string *@p (from istr_take()) and set *@p to NULL. */
static void istr_drop(struct calc_cache *c, char **p)
{
	if (!*p) {
		return;
	}
	size_t i = istr_slot(c, *p);
	*p = NULL;
	struct istr *x = c->strs[i];
	if (!x || --x->refs) {
		return;
	}
	free(x);
	c->strs[i] = NULL;
	c->strs_n--;
	/* linear probing: move up what the hole would hide */
	size_t mask = c->strs_cap - 1;
	for (size_t j = (i + 1) & mask; c->strs[j]; j = (j + 1) & mask) {
		struct istr *y = c->strs[j];
		c->strs[j] = NULL;
		c->strs[istr_slot(c, y->s)] = y;
	}
}

/* The strings of a trimmed entry's resource that it does not own, in one list. */
static size_t trimmed_strs(struct model_resource *res, char ***v, size_t cap)
{
	size_t n = 0;
	char **fixed[] = {&res->meta.namespace, &res->wep.node, &res->wep.orchestrator};
	for (size_t i = 0; i < ELEMENTSOF(fixed) && n < cap; i++) {
		v[n++] = fixed[i];
	}
	for (size_t i = 0; i < res->meta.labels.n && n + 2 <= cap; i++) {
		v[n++] = &res->meta.labels.items[i].key;
		v[n++] = &res->meta.labels.items[i].value;
	}
	return n;
}

static size_t align_up(size_t n, size_t a)
{
	return (n + a - 1) / a * a;
}

/* Byte offsets inside a packed block (remote_wep_pack()) with @n_labels labels and @n_nets
 * addresses; the name starts at *@at_name. */
static void packed_layout(size_t n_labels, size_t n_nets, size_t *at_labels, size_t *at_nets,
			  size_t *at_name)
{
	*at_labels = align_up(MODEL_WEP_HEAD_SIZE, _Alignof(struct model_label));
	*at_nets = align_up(*at_labels + n_labels * sizeof(struct model_label),
			    _Alignof(struct ip_prefix));
	*at_name = *at_nets + n_nets * sizeof(struct ip_prefix);
}

/* Bytes of the packed block @res whose name is @name. */
static size_t packed_size(const struct model_resource *res, const char *name)
{
	size_t at_labels, at_nets, at_name;
	packed_layout(res->meta.labels.n, res->wep.n_ip_networks, &at_labels, &at_nets, &at_name);
	return at_name + strlen(name) + 1;
}

/* A block of @size bytes (<= PACK_MAX_BLOCK) from the slabs, or NULL without memory. */
static void *pack_get(struct pack_slabs *s, size_t size)
{
	size_t k = align_up(size, PACK_ALIGN) / PACK_ALIGN;
	if (s->free[k]) {
		struct pack_free *f = s->free[k];
		PACK_UNPOISON(f, k * PACK_ALIGN);
		s->free[k] = f->next;
		return f;
	}
	if (s->left < k * PACK_ALIGN) {
		if (s->n_slab == s->cap_slab) {
			size_t cap = s->cap_slab ? s->cap_slab * 2 : 16;
			char **v = realloc(s->slab, cap * sizeof(*v));
			if (!v) {
				return NULL;
			}
			s->slab = v;
			s->cap_slab = cap;
		}
		char *slab = malloc(PACK_SLAB_SIZE);
		if (!slab) {
			return NULL;
		}
		PACK_POISON(slab, PACK_SLAB_SIZE);
		s->slab[s->n_slab++] = slab;
		s->left = PACK_SLAB_SIZE;
	}
	void *b = s->slab[s->n_slab - 1] + (PACK_SLAB_SIZE - s->left);
	s->left -= k * PACK_ALIGN;
	PACK_UNPOISON(b, k * PACK_ALIGN);
	return b;
}

/* Give back a block of @size bytes taken with pack_get(). */
static void pack_put(struct pack_slabs *s, void *b, size_t size)
{
	size_t k = align_up(size, PACK_ALIGN) / PACK_ALIGN;
	struct pack_free *f = b;
	f->next = s->free[k];
	s->free[k] = f;
	PACK_POISON((char *)b + sizeof(*f), k * PACK_ALIGN - sizeof(*f));
}

static void entry_done_in(struct calc_cache *c, struct entry *e)
{
	if (e->trimmed && e->res) {
		char **v[3 + 2 * MODEL_MAX_LABELS];
		size_t n = trimmed_strs(e->res, v, ELEMENTSOF(v));
		for (size_t i = 0; i < n; i++) {
			istr_drop(c, v[i]);
		}
		e->res->meta.name = NULL; /* borrows e->key */
	}
	if (e->packed) {
		/* The labels array, the addresses and the key live in the block. */
		size_t size = packed_size(e->res, e->key);
		e->res->meta.labels.items = NULL;
		e->res->meta.labels.n = 0;
		e->res->wep.ip_networks = NULL;
		e->res->wep.n_ip_networks = 0;
		e->key = NULL;
		if (e->in_slab) {
			model_resource_clear_wep_head(e->res);
			pack_put(&c->slabs, e->res, size);
			e->res = NULL;
		} else {
			e->res = model_resource_free_wep_head(e->res);
		}
	}
	free(e->key);
	model_resource_free(e->res);
	if (e->block) {
		ipam_block_done(e->block);
		free(e->block);
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
	for (size_t k = 0; k < c->n_ch; k++) {
		for (size_t i = 0; i < c->ch[k]->n; i++) {
			entry_done_in(c, &c->ch[k]->v[i]);
		}
		free(c->ch[k]);
	}
	free(c->ch);
	free(c->strs); /* every string went with its last entry */
	for (size_t i = 0; i < c->slabs.n_slab; i++) {
		PACK_UNPOISON(c->slabs.slab[i], PACK_SLAB_SIZE);
		free(c->slabs.slab[i]);
	}
	free(c->slabs.slab);
	free(c->local_node);
	free(c);
	return NULL;
}

int calc_cache_set_local_node(struct calc_cache *c, const char *node)
{
	char *copy = NULL;

	if (c->n_trimmed && (!node || !c->local_node || strcmp(node, c->local_node) != 0)) {
		return -EBUSY; /* a trimmed endpoint of that node has no local-only fields */
	}
	if (node && !(copy = strdup(node))) {
		return -ENOMEM;
	}
	free(c->local_node);
	c->local_node = copy;
	c->dp_dirty = true;
	return 0;
}

/* @e is a WorkloadEndpoint of a node other than the local one: calc_compute() ignores it. */
static bool entry_is_remote_wep(const struct calc_cache *c, const struct entry *e)
{
	const char *node = e->kind == ENTRY_WEP && e->res ? e->res->wep.node : NULL;

	return c->local_node && node && strcmp(node, c->local_node) != 0;
}

/* Does calc_compute() (routes, VXLAN, BGP) or calc_nat_compute() read @e? Not a remote
 * endpoint, and not a kind only policy reads (policies, tiers, network sets, host endpoints,
 * profiles, namespaces; FelixConfiguration is read by the VXLAN calculation). */
static bool entry_in_compute(const struct calc_cache *c, const struct entry *e)
{
	if (e->kind >= ENTRY_POLICY_BASE &&
	    e->kind != ENTRY_POLICY_BASE + MODEL_KIND_FELIX_CONFIGURATION) {
		return false;
	}
	return !entry_is_remote_wep(c, e);
}

/* Count @e in (@d 1) or out (@d -1) of the endpoint tallies. */
static void tally(struct calc_cache *c, const struct entry *e, int d)
{
	if (e->kind == ENTRY_WEP) {
		c->n_weps += (size_t)(ssize_t)d;
		c->n_trimmed += e->trimmed ? (size_t)(ssize_t)d : 0;
	}
}

#define WEP_KEY_PREFIX_LEN (sizeof(MODEL_WEP_KEY_PREFIX) - 1)

/* strcmp(@e's key, @s) (@n 0) or strncmp(@e's key, @s, @n). A packed entry keeps only the
 * name of its key: the whole key is MODEL_WEP_KEY_PREFIX, the (shared) namespace, '/' and that. */
static int entry_key_cmp(const struct entry *e, const char *s, size_t n)
{
	if (!e->packed) {
		return n ? strncmp(e->key, s, n) : strcmp(e->key, s);
	}
	const char *part[] = {MODEL_WEP_KEY_PREFIX, e->res->meta.namespace, "/", e->key};
	size_t len[] = {WEP_KEY_PREFIX_LEN, strlen(e->res->meta.namespace), 1};
	for (size_t i = 0;; i++) {
		if (i + 1 == ELEMENTSOF(part)) {
			return n ? strncmp(part[i], s, n) : strcmp(part[i], s);
		}
		/* stops at the end of @s: the next part is compared only after a whole match */
		size_t l = len[i];
		int d = strncmp(part[i], s, n ? MIN(n, l) : l);
		if (d || (n && n <= l)) {
			return d;
		}
		s += l;
		n -= n ? l : 0;
	}
}

/*
 * Where @key is (return true) or would be inserted (false): *@ret is chunk and index, in the
 * last chunk whose first key is <= @key (the first chunk when none is); {0, 0} when the cache
 * is empty. The index may be the chunk's size (after its last entry).
 */
static bool cache_find(const struct calc_cache *c, const char *key, struct cache_it *ret)
{
	size_t lo = 0, hi = c->n_ch;
	if (c->n_ch) {
		/* A snapshot or a cache file delivers keys in order: each new one goes last. */
		const struct cache_chunk *last = c->ch[c->n_ch - 1];
		if (entry_key_cmp(&last->v[last->n - 1], key, 0) < 0) {
			*ret = (struct cache_it){c->n_ch - 1, last->n};
			return false;
		}
	}
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (entry_key_cmp(&c->ch[mid]->v[0], key, 0) <= 0) {
			lo = mid + 1;
		} else {
			hi = mid;
		}
	}
	*ret = (struct cache_it){lo ? lo - 1 : 0, 0};
	if (!c->n_ch) {
		return false;
	}
	const struct cache_chunk *k = c->ch[ret->ch];
	lo = 0;
	hi = k->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int d = entry_key_cmp(&k->v[mid], key, 0);
		if (d == 0) {
			ret->i = mid;
			return true;
		}
		if (d < 0) {
			lo = mid + 1;
		} else {
			hi = mid;
		}
	}
	ret->i = lo;
	return false;
}

/* The cached entry of @key, or NULL. */
static struct entry *cache_lookup(const struct calc_cache *c, const char *key)
{
	struct cache_it at;
	return key && cache_find(c, key, &at) ? &c->ch[at.ch]->v[at.i] : NULL;
}

/* Remove chunk @k from the chunk list (it is freed by the caller). */
static void chunk_unlink(struct calc_cache *c, size_t k)
{
	memmove(&c->ch[k], &c->ch[k + 1], (c->n_ch - k - 1) * sizeof(c->ch[0]));
	c->n_ch--;
}

/* Insert @e at @at (from cache_find(), not found). Return: 0 or -ENOMEM (nothing changed). */
static int cache_insert(struct calc_cache *c, struct cache_it at, const struct entry *e)
{
	if (!c->n_ch || c->ch[at.ch]->n == CACHE_CHUNK) {
		/* A new chunk after @at's: empty when @e goes past the end of a full chunk (or
		 * there is none), else the upper half of @at's chunk. */
		int r = calc_grow(&c->ch, c->n_ch, &c->cap_ch, sizeof(c->ch[0]));
		if (r < 0) {
			return r;
		}
		struct cache_chunk *nk = malloc(sizeof(*nk));
		if (!nk) {
			return -ENOMEM;
		}
		size_t pos = c->n_ch ? at.ch + 1 : 0;
		memmove(&c->ch[pos + 1], &c->ch[pos], (c->n_ch - pos) * sizeof(c->ch[0]));
		c->ch[pos] = nk;
		c->n_ch++;
		nk->n = 0;
		if (pos == 0 || at.i == CACHE_CHUNK) {
			at = (struct cache_it){pos, 0};
		} else {
			struct cache_chunk *k = c->ch[at.ch];
			size_t half = CACHE_CHUNK / 2;
			memcpy(nk->v, &k->v[half], (CACHE_CHUNK - half) * sizeof(k->v[0]));
			nk->n = CACHE_CHUNK - half;
			k->n = half;
			if (at.i > half) {
				at = (struct cache_it){pos, at.i - half};
			}
		}
	}
	struct cache_chunk *k = c->ch[at.ch];
	memmove(&k->v[at.i + 1], &k->v[at.i], (k->n - at.i) * sizeof(k->v[0]));
	k->v[at.i] = *e;
	k->n++;
	c->n++;
	return 0;
}

/* After a removal from chunk @k: free it when empty, or merge it with a neighbour when the two
 * fill at most half a chunk (so that deletions do not leave many nearly empty chunks). */
static void chunk_settle(struct calc_cache *c, size_t k)
{
	struct cache_chunk *a = c->ch[k];
	if (!a->n) {
		chunk_unlink(c, k);
		free(a);
		return;
	}
	if (a->n > CACHE_CHUNK / 4) {
		return;
	}
	size_t lo = k;
	if (k > 0 && c->ch[k - 1]->n + a->n <= CACHE_CHUNK / 2) {
		lo = k - 1;
	} else if (k + 1 >= c->n_ch || a->n + c->ch[k + 1]->n > CACHE_CHUNK / 2) {
		return;
	}
	struct cache_chunk *dst = c->ch[lo], *src = c->ch[lo + 1];
	memcpy(&dst->v[dst->n], src->v, src->n * sizeof(src->v[0]));
	dst->n += src->n;
	chunk_unlink(c, lo + 1);
	free(src);
}

static void cache_remove_at(struct calc_cache *c, struct cache_it at)
{
	struct cache_chunk *k = c->ch[at.ch];
	c->dp_dirty |= entry_in_compute(c, &k->v[at.i]);
	tally(c, &k->v[at.i], -1);
	entry_done_in(c, &k->v[at.i]);
	memmove(&k->v[at.i], &k->v[at.i + 1], (k->n - at.i - 1) * sizeof(k->v[0]));
	k->n--;
	c->n--;
	c->dirty = true;
	chunk_settle(c, at.ch);
}

/*
 * Classify @key. Returns the kind and the name part(s) through @ret_ns/@ret_name (pointers into
 * @key; @ret_ns only for workload endpoints), or -1 for keys the calculation ignores.
 */
int cache_key_classify(const char *key, const char **ret_ns, size_t *ret_ns_len,
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
		_cleanup_free_ struct ipam_block *b = calloc(1, sizeof(*b));
		if (!b) {
			return -ENOMEM;
		}
		r = ipam_block_decode_json(value, len, b, err);
		if (r < 0) {
			return r;
		}
		if (ipam_block_name_parse(name, &want) < 0 || !ip_prefix_equal(&want, &b->cidr)) {
			r = parse_err_set(err, key, 0, 0, "cidr",
					  "block cidr %s does not match the key",
					  ipam_block_name(&b->cidr, buf));
			ipam_block_done(b);
			return r;
		}
		e->block = TAKE_PTR(b);
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

/* Move trimmed @e into one allocation: the resource up to its local-only fields
 * (MODEL_WEP_HEAD_SIZE, 152 of 240 bytes), then its labels array, its ipNetworks and the name
 * part of its key (entry_key_cmp() puts the key together; the name is meta.name). One malloc
 * chunk of ~240 bytes instead of five (~370 bytes with malloc's headers and rounding) per
 * remote endpoint. Without memory, or with a key that is not MODEL_WEP_KEY_PREFIX
 * "<namespace>/<name>" at @name_at, @e stays as it is (still valid, one block per part). */
static void remote_wep_pack(struct calc_cache *c, struct entry *e, ptrdiff_t name_at)
{
	struct model_resource *res = e->res;
	size_t n_labels = res->meta.labels.n;
	size_t n_nets = res->wep.n_ip_networks;
	const char *ns = res->meta.namespace;
	size_t ns_len = ns ? strlen(ns) : 0;
	if (!ns || strncmp(e->key, MODEL_WEP_KEY_PREFIX, WEP_KEY_PREFIX_LEN) != 0 ||
	    strncmp(e->key + WEP_KEY_PREFIX_LEN, ns, ns_len) != 0 ||
	    name_at != (ptrdiff_t)(WEP_KEY_PREFIX_LEN + ns_len + 1) || e->key[name_at - 1] != '/') {
		return; /* cache_key_classify() and entry_decode() let no such entry in */
	}
	const char *name = e->key + name_at;
	size_t name_len = strlen(name) + 1;
	size_t at_labels, at_nets, at_name;
	packed_layout(n_labels, n_nets, &at_labels, &at_nets, &at_name);
	bool in_slab = at_name + name_len <= PACK_MAX_BLOCK;
	char *b = in_slab ? pack_get(&c->slabs, at_name + name_len) : malloc(at_name + name_len);
	if (!b) {
		return;
	}
	struct model_resource *p = (struct model_resource *)b;
	memcpy(p, res, MODEL_WEP_HEAD_SIZE);
	if (n_labels) {
		memcpy(b + at_labels, res->meta.labels.items,
		       n_labels * sizeof(struct model_label));
		p->meta.labels.items = (struct model_label *)(b + at_labels);
	}
	if (n_nets) {
		memcpy(b + at_nets, res->wep.ip_networks, n_nets * sizeof(struct ip_prefix));
		p->wep.ip_networks = (struct ip_prefix *)(b + at_nets);
	}
	memcpy(b + at_name, name, name_len);
	free(res->meta.labels.items);
	free(res->wep.ip_networks);
	free(res);
	free(e->key);
	e->key = b + at_name;
	p->meta.name = e->key;
	e->res = p;
	e->packed = true;
	e->in_slab = in_slab;
}

/* A remote WorkloadEndpoint keeps only what the calculators read of it (policy: namespace,
 * labels, orchestrator, node, ipNetworks, ports, profiles, serviceAccountName). Its container
 * ID, pod, workload, endpoint, interface, MAC and metadata strings are dropped, its name
 * borrows the key (at @name_at), and its namespace, node, orchestrator and label strings are
 * shared with the other endpoints (istr_take()); then remote_wep_pack() puts what is left in
 * one block. At 100,000 remote endpoints this is a third of the cache's untrimmed size.
 * Return: 0 or -ENOMEM (@e then owns what it owned before, minus dropped fields). */
static int remote_wep_trim(struct calc_cache *c, struct entry *e, ptrdiff_t name_at)
{
	struct model_resource *res = e->res;
	struct model_workload_endpoint *w = &res->wep;
	char **drop[] = {&w->workload,
			 &w->container_id,
			 &w->pod,
			 &w->endpoint,
			 &w->interface_name,
			 &w->mac,
			 &res->meta.uid,
			 &res->meta.resource_version,
			 &res->meta.creation_timestamp,
			 &res->extra_spec};
	for (size_t i = 0; i < ELEMENTSOF(drop); i++) {
		free(*drop[i]);
		*drop[i] = NULL;
	}
	char **v[3 + 2 * MODEL_MAX_LABELS];
	size_t n = trimmed_strs(res, v, ELEMENTSOF(v));
	for (size_t i = 0; i < n; i++) {
		if (istr_take(c, v[i]) < 0) {
			for (size_t j = 0; j < i; j++) {
				istr_drop(c, v[j]); /* NULL: not freed again by the model */
			}
			return -ENOMEM;
		}
	}
	free(res->meta.name);
	res->meta.name = e->key + name_at;
	e->trimmed = true;
	remote_wep_pack(c, e, name_at);
	return 0;
}

int calc_cache_decode(const char *key, const char *value, size_t len, struct calc_decoded *d)
{
	const char *ns, *name;
	size_t ns_len;
	int kind = cache_key_classify(key, &ns, &ns_len, &name);

	*d = (struct calc_decoded){0};
	if (kind < 0) {
		return 0;
	}
	struct entry e = {.kind = (enum entry_kind)kind, .seen = true};
	struct parse_err err = {0};
	int r = entry_decode(&e, key, ns, ns_len, name, value, len, &err);
	if (r < 0) {
		if (e.kind == ENTRY_SECRET) {
			entry_done_in(NULL, &e); /* a partly decoded secret */
		}
		if (r == -EINVAL) {
			d->err = malloc(sizeof(*d->err));
			if (d->err) {
				*d->err = err;
			}
		}
		d->r = r;
		return r;
	}
	d->r = 1;
	d->kind = e.kind;
	d->res = e.res;
	d->block = e.block;
	d->secret = e.secret;
	d->n_secret = e.n_secret;
	return 1;
}

void calc_decoded_done(struct calc_decoded *d)
{
	struct entry e = {.kind = d->kind,
			  .res = d->res,
			  .block = d->block,
			  .secret = d->secret,
			  .n_secret = d->n_secret};

	if (d->r > 0) {
		entry_done_in(NULL, &e); /* neither trimmed nor packed: no cache needed */
	}
	free(d->err);
	*d = (struct calc_decoded){0};
}

int calc_cache_put_decoded(struct calc_cache *c, const char *key, struct calc_decoded *d,
			   struct parse_err *err)
{
	struct entry e = {.kind = d->kind,
			  .seen = true,
			  .mod_revision = d->mod_revision,
			  .res = d->res,
			  .block = d->block,
			  .secret = d->secret,
			  .n_secret = d->n_secret};
	int r = d->r;

	if (r == -EINVAL && err) {
		if (d->err) {
			*err = *d->err;
		} else {
			/* calc_cache_decode() had no memory to keep the error's position */
			parse_err_set(err, key, 0, 0, NULL,
				      "does not decode (out of memory for the details)");
		}
	}
	free(d->err);
	*d = (struct calc_decoded){0};
	if (r == 0) {
		return 0;
	}
	struct cache_it at;
	bool found = cache_find(c, key, &at);
	if (r < 0) {
		if (found) {
			cache_remove_at(c, at);
		}
		return r;
	}
	e.key = strdup(key);
	if (!e.key) {
		entry_done_in(c, &e);
		return -ENOMEM;
	}
	if (entry_is_remote_wep(c, &e)) {
		const char *name =
		    strrchr(key, '/') + 1; /* cache_key_classify() let only such keys in */
		r = remote_wep_trim(c, &e, name - key);
		if (r < 0) {
			entry_done_in(c, &e);
			return r;
		}
	}
	if (found) {
		struct entry *old = &c->ch[at.ch]->v[at.i];
		c->dp_dirty |= entry_in_compute(c, old) || entry_in_compute(c, &e);
		tally(c, old, -1);
		tally(c, &e, 1);
		entry_done_in(c, old);
		*old = e;
	} else {
		if (c->n >= CALC_CACHE_MAX_ENTRIES) {
			entry_done_in(c, &e);
			return -E2BIG;
		}
		r = cache_insert(c, at, &e);
		if (r < 0) {
			entry_done_in(c, &e);
			return r;
		}
		c->dp_dirty |= entry_in_compute(c, &e);
		tally(c, &e, 1);
	}
	c->dirty = true;
	return 1;
}

int calc_cache_put(struct calc_cache *c, const char *key, const char *value, size_t len,
		   struct parse_err *err)
{
	struct calc_decoded d;

	calc_cache_decode(key, value, len, &d);
	return calc_cache_put_decoded(c, key, &d, err);
}

int calc_cache_delete(struct calc_cache *c, const char *key)
{
	struct cache_it at;
	if (!cache_find(c, key, &at)) {
		return 0;
	}
	cache_remove_at(c, at);
	return 1;
}

/*
 * cache_find() for keys asked in key order (a snapshot's listing): *@hint is where the entry
 * after the last one found is; try it before searching. Any hint is safe: it is checked against
 * the cache's current chunks and the key itself. Return: the entry, or NULL.
 */
static struct entry *cache_find_next(const struct calc_cache *c, const char *key,
				     struct cache_it *hint)
{
	struct cache_it at = *hint;
	if (at.ch < c->n_ch && at.i >= c->ch[at.ch]->n) {
		at = (struct cache_it){at.ch + 1, 0};
	}
	if (!(at.ch < c->n_ch && entry_key_cmp(&c->ch[at.ch]->v[at.i], key, 0) == 0) &&
	    !cache_find(c, key, &at)) {
		return NULL;
	}
	*hint = (struct cache_it){at.ch, at.i + 1};
	return &c->ch[at.ch]->v[at.i];
}

bool calc_cache_known(struct calc_cache *c, const char *key, int64_t mod_revision)
{
	const char *ns, *name;
	size_t ns_len;

	if (cache_key_classify(key, &ns, &ns_len, &name) < 0) {
		return true; /* calc_cache_put() would ignore any value of it */
	}
	const struct entry *e = cache_find_next(c, key, &c->known_hint);
	return e && mod_revision > 0 && e->mod_revision == mod_revision;
}

int calc_cache_confirm(struct calc_cache *c, const char *key, int64_t mod_revision)
{
	const char *ns, *name;
	size_t ns_len;

	if (cache_key_classify(key, &ns, &ns_len, &name) < 0) {
		return 0;
	}
	struct entry *e = cache_find_next(c, key, &c->confirm_hint);
	if (!e || mod_revision <= 0 || e->mod_revision != mod_revision) {
		return -ESTALE;
	}
	e->seen = true;
	return 1;
}

void calc_cache_mark_all(struct calc_cache *c)
{
	for (size_t k = 0; k < c->n_ch; k++) {
		for (size_t i = 0; i < c->ch[k]->n; i++) {
			c->ch[k]->v[i].seen = false;
		}
	}
}

size_t calc_cache_sweep(struct calc_cache *c)
{
	size_t dropped = 0, wk = 0;
	for (size_t k = 0; k < c->n_ch; k++) {
		struct cache_chunk *ch = c->ch[k];
		size_t w = 0;
		for (size_t i = 0; i < ch->n; i++) {
			if (ch->v[i].seen) {
				ch->v[w++] = ch->v[i];
			} else {
				tally(c, &ch->v[i], -1);
				entry_done_in(c, &ch->v[i]);
				dropped++;
			}
		}
		ch->n = w;
		if (w) {
			c->ch[wk++] = ch;
		} else {
			free(ch);
		}
	}
	c->n_ch = wk;
	c->n -= dropped;
	if (dropped) {
		c->dirty = true;
		c->dp_dirty = true;
	}
	return dropped;
}

bool calc_cache_dirty(const struct calc_cache *c)
{
	return c->dirty;
}

bool calc_cache_dp_dirty(const struct calc_cache *c)
{
	return c->dp_dirty;
}

void calc_cache_clear_dirty(struct calc_cache *c)
{
	c->dirty = false;
	c->dp_dirty = false;
}

int calc_cache_endpoint_counts(const struct calc_cache *c, size_t *ret_local, size_t *ret_remote)
{
	if (!c->local_node) {
		return -ENODATA;
	}
	*ret_local = c->n_weps - c->n_trimmed;
	*ret_remote = c->n_trimmed;
	return 0;
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
	struct cache_it it;
	cache_find(c, prefix, &it);
	for (const struct entry *e;
	     (e = cache_it_next(c, &it)) && entry_key_cmp(e, prefix, (size_t)l) == 0;) {
		if (!e->res || e->res->kind != kind) {
			continue;
		}
		int r = cb(e->res, userdata);
		if (r < 0) {
			return r;
		}
	}
	return 0;
}

const struct model_resource *calc_cache_get(const struct calc_cache *c, const char *key)
{
	const struct entry *e = cache_lookup(c, key);
	return e ? e->res : NULL;
}

const struct model_resource *calc_cache_get_named(const struct calc_cache *c, const char *plural,
						  const char *name)
{
	char key[512];
	snprintf(key, sizeof(key), MODEL_KEY_PREFIX "%s/%s", plural, name);
	const struct entry *e = cache_lookup(c, key);
	return e ? e->res : NULL;
}

const char *calc_cache_secret(const struct calc_cache *c, const char *name, const char *key)
{
	char k[512];
	snprintf(k, sizeof(k), MODEL_KEY_PREFIX "secrets/%s", name);
	const struct entry *e = cache_lookup(c, k);
	if (!e || e->kind != ENTRY_SECRET) {
		return NULL;
	}
	for (size_t j = 0; j < e->n_secret; j++) {
		if (strcmp(e->secret[j].key, key) == 0) {
			return e->secret[j].value;
		}
	}
	return NULL;
}

/* ---- helpers shared by the calculators (calc-internal.h) ---- */

int calc_grow(void *pv, size_t n, size_t *cap, size_t size)
{
	return array_grow(pv, n + 1, cap, size);
}

int calc_prefix_cmp(const void *a, const void *b)
{
	return ip_prefix_cmp(a, b);
}
