/* SPDX-License-Identifier: Apache-2.0 */
/*
 * DOC: nftables delta engine (pure): what we programmed, and the one batch that changes it.
 *
 * Memory: a hash table of objects by (kind, name); each set and map has a hash table of its
 * elements (open addressing, linear probing, deletion by backward shift, as in
 * felix/calc/policy-inc.c). Chains keep two hashes (declaration, rules), not their rules: a
 * chain whose rules hash changed is flushed and refilled, which is what a policy edit is.
 *
 * A transaction stages objects (new ones are allocated at once, outside the table, and
 * inserted when the batch went through) and element operations (decided against memory as
 * they are staged: what is already there is skipped). A complete transaction marks what it
 * staged with the transaction's epoch and, at commit, sweeps what is unmarked (STYLE.md 8.1,
 * mark and sweep). The operations are then put in the order nf_tables needs (nft-delta.h)
 * with one stable pass per operation type, and handed to the sink.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "felix/dataplane/policy/nft-delta.h"
#include "lib/array.h"
#include "lib/macro.h"

/* Pending element operations kept allocated between transactions (see pend_clear()). */
#define NFT_DELTA_PEND_KEEP 4096

/* One slot of an element table: this header, then the table's @klen key bytes, then (in a
 * table with @chains) the NFT_DELTA_V_JUMP target, a char *. A slot of an IPv4 set is 12
 * bytes, so 100,000 elements take 1.5-3 MB, not the 4-8 MB of fixed 40-byte slots. */
struct elem_rec {
	bool used;
	uint8_t len, plen, verdict;
	uint32_t seen; /* epoch of the complete transaction that staged it */
	uint8_t key[];
};

struct elem_tab {
	uint8_t *v;	 /* cap slots of @stride bytes */
	size_t cap, n;	 /* cap: 0 or a power of two */
	uint8_t klen;	 /* key bytes per slot: the longest key so far, rounded up */
	bool chains;	 /* slots carry a chain pointer (a map element jumped somewhere) */
	uint16_t stride; /* sizeof(struct elem_rec) + klen (+ sizeof(char *)) */
};

enum stage_state {
	ST_NONE,    /* not staged in this transaction */
	ST_SAME,    /* staged, equal to what is programmed */
	ST_REWRITE, /* chain: programmed, rules changed */
	ST_NEW,	    /* not programmed (or the transaction replaces the table) */
	ST_DEL,	    /* programmed, to be deleted */
};

struct obj {
	enum nft_delta_kind kind;
	char *name;
	uint64_t decl, body;
	unsigned n_rules;
	uint32_t seen;
	struct elem_tab elems;
	/* staging */
	enum stage_state st;
	uint64_t new_body;
	unsigned new_n_rules;
	const void *piece;
};

struct obj_tab {
	struct obj **v;
	size_t cap, n;
};

struct pend {
	enum nft_delta_op_type type; /* ELEM_ADD, ELEM_DEL */
	struct obj *target;
	struct nft_delta_elem e; /* e.chain: owned copy (maps) */
};

struct nft_delta {
	struct nft_delta_sink sink;
	bool ready; /* @objs describes the kernel */
	struct obj_tab objs;
	/* the transaction */
	unsigned flags;
	uint32_t epoch;
	bool need_full; /* a declaration changed */
	char why[160];
	struct obj_tab fresh; /* staged objects that are not programmed */
	struct obj **staged;  /* every staged object, in staging order */
	size_t n_staged, cap_staged;
	struct pend *pend;
	size_t n_pend, cap_pend;
};

/* ---- elements ---- */

static uint64_t elem_hash(const uint8_t *key, uint8_t len, uint8_t plen)
{
	uint64_t h = hash_fnv1a(HASH_FNV1A_INIT, key, len);
	return hash_fnv1a(h, &plen, 1);
}

static struct elem_rec *rec_at(const struct elem_tab *t, size_t i)
{
	return (struct elem_rec *)(t->v + i * t->stride);
}

/* The chain pointer of slot @r, or NULL when the table keeps none. */
static char **rec_chain(const struct elem_tab *t, const struct elem_rec *r)
{
	return t->chains ? (char **)((uint8_t *)r + sizeof(*r) + t->klen) : NULL;
}

/* The jump target slot @r holds, or NULL. */
static const char *rec_target(const struct elem_tab *t, const struct elem_rec *r)
{
	return t->chains ? *rec_chain(t, r) : NULL;
}

static bool elem_same_key(const struct elem_rec *r, const uint8_t *key, uint8_t len, uint8_t plen)
{
	return r->len == len && r->plen == plen && memcmp(r->key, key, len) == 0;
}

static size_t slot_of(const struct elem_tab *t, const uint8_t *key, uint8_t len, uint8_t plen)
{
	size_t mask = t->cap - 1;
	size_t i = elem_hash(key, len, plen) & mask;
	while (rec_at(t, i)->used && !elem_same_key(rec_at(t, i), key, len, plen)) {
		i = (i + 1) & mask;
	}
	return i;
}

static size_t elem_slot(const struct elem_tab *t, const struct nft_delta_elem *e)
{
	return slot_of(t, e->key, e->len, e->plen);
}

static struct elem_rec *elem_find(const struct elem_tab *t, const struct nft_delta_elem *e)
{
	if (!t->cap) {
		return NULL;
	}
	struct elem_rec *r = rec_at(t, elem_slot(t, e));
	return r->used ? r : NULL;
}

/* Room for @n elements with keys of @klen bytes (and a chain pointer when @chains): a larger
 * table, or wider slots, moves every element. Return: 0 or -ENOMEM (@t unchanged). */
static int elem_reserve(struct elem_tab *t, size_t n, uint8_t klen, bool chains)
{
	chains = chains || t->chains;
	/* keys padded to 4 bytes (8 when a pointer follows, to keep it aligned) */
	size_t pad = chains ? sizeof(char *) : 4;
	uint8_t nk = (uint8_t)((MAX(klen, t->klen) + pad - 1) / pad * pad);
	/* load factor at most 3/4: a set of 100,000 elements is the largest thing felix keeps */
	if ((n + 1) * 4 <= t->cap * 3 && nk == t->klen && chains == t->chains) {
		return 0;
	}
	size_t nc = t->cap ? t->cap : 16;
	while ((n + 1) * 4 > nc * 3) {
		nc *= 2;
	}
	struct elem_tab nt = {
	    .cap = nc,
	    .n = t->n,
	    .klen = nk,
	    .chains = chains,
	    .stride = (uint16_t)(sizeof(struct elem_rec) + nk + (chains ? sizeof(char *) : 0))};
	nt.v = calloc(nc, nt.stride);
	if (!nt.v) {
		return -ENOMEM;
	}
	for (size_t i = 0; i < t->cap; i++) {
		const struct elem_rec *o = rec_at(t, i);
		if (o->used) {
			struct elem_rec *x = rec_at(&nt, slot_of(&nt, o->key, o->len, o->plen));
			memcpy(x, o, sizeof(*o) + o->len);
			if (nt.chains) {
				*rec_chain(&nt, x) = t->chains ? *rec_chain(t, o) : NULL;
			}
		}
	}
	free(t->v);
	*t = nt;
	return 0;
}

/* Insert or update @e. */
static int elem_put(struct elem_tab *t, const struct nft_delta_elem *e, uint32_t epoch)
{
	bool jump = e->verdict == NFT_DELTA_V_JUMP && e->chain;
	int r = elem_reserve(t, t->n + 1, e->len, jump);
	if (r < 0) {
		return r;
	}
	char *chain = NULL;
	if (jump && !(chain = strdup(e->chain))) {
		return -ENOMEM;
	}
	struct elem_rec *x = rec_at(t, elem_slot(t, e));
	if (x->used) {
		if (t->chains) {
			free(*rec_chain(t, x));
		}
	} else {
		t->n++;
	}
	memset(x, 0, t->stride);
	*x = (struct elem_rec){
	    .len = e->len, .plen = e->plen, .verdict = e->verdict, .used = true, .seen = epoch};
	memcpy(x->key, e->key, e->len);
	if (t->chains) {
		*rec_chain(t, x) = chain;
	}
	return 0;
}

/* Remove the element with @e's key (backward-shift deletion keeps probe chains whole). */
static void elem_remove(struct elem_tab *t, const struct nft_delta_elem *e)
{
	if (!t->cap) {
		return;
	}
	size_t mask = t->cap - 1;
	size_t i = elem_slot(t, e);
	if (!rec_at(t, i)->used) {
		return;
	}
	if (t->chains) {
		free(*rec_chain(t, rec_at(t, i)));
	}
	memset(rec_at(t, i), 0, t->stride);
	t->n--;
	for (size_t j = (i + 1) & mask; rec_at(t, j)->used; j = (j + 1) & mask) {
		const struct elem_rec *y = rec_at(t, j);
		size_t home = elem_hash(y->key, y->len, y->plen) & mask;
		/* move j into the hole at i when its home is not in (i, j] (cyclically) */
		if ((j > i && (home <= i || home > j)) || (j < i && home <= i && home > j)) {
			memcpy(rec_at(t, i), y, t->stride);
			memset(rec_at(t, j), 0, t->stride);
			i = j;
		}
	}
}

static void elem_tab_done(struct elem_tab *t)
{
	for (size_t i = 0; t->chains && i < t->cap; i++) {
		free(*rec_chain(t, rec_at(t, i)));
	}
	free(t->v);
	*t = (struct elem_tab){0};
}

static struct nft_delta_elem elem_of(const struct elem_tab *t, const struct elem_rec *r)
{
	struct nft_delta_elem e = {
	    .len = r->len, .plen = r->plen, .verdict = r->verdict, .chain = rec_target(t, r)};
	memcpy(e.key, r->key, r->len);
	return e;
}

static bool elem_same_data(const struct elem_tab *t, const struct elem_rec *r,
			   const struct nft_delta_elem *e)
{
	if (r->verdict != e->verdict) {
		return false;
	}
	const char *chain = rec_target(t, r);
	return r->verdict != NFT_DELTA_V_JUMP || strcmp(chain ?: "", e->chain ?: "") == 0;
}

/* ---- objects ---- */

static uint64_t obj_hash(enum nft_delta_kind kind, const char *name)
{
	uint8_t k = kind == NFT_DELTA_CHAIN ? 1 : 0; /* sets and maps share nft's namespace */
	return hash_fnv1a(hash_fnv1a(HASH_FNV1A_INIT, &k, 1), name, strlen(name));
}

static bool obj_is(const struct obj *o, enum nft_delta_kind kind, const char *name)
{
	return (o->kind == NFT_DELTA_CHAIN) == (kind == NFT_DELTA_CHAIN) &&
	       strcmp(o->name, name) == 0;
}

static size_t obj_slot(const struct obj_tab *t, enum nft_delta_kind kind, const char *name)
{
	size_t mask = t->cap - 1;
	size_t i = obj_hash(kind, name) & mask;
	while (t->v[i] && !obj_is(t->v[i], kind, name)) {
		i = (i + 1) & mask;
	}
	return i;
}

static struct obj *obj_find(const struct obj_tab *t, enum nft_delta_kind kind, const char *name)
{
	return t->cap ? t->v[obj_slot(t, kind, name)] : NULL;
}

static int obj_insert(struct obj_tab *t, struct obj *o)
{
	if ((t->n + 2) * 2 > t->cap) {
		size_t nc = t->cap ? t->cap * 2 : 64;
		struct obj_tab nt = {.v = calloc(nc, sizeof(*nt.v)), .cap = nc, .n = t->n};
		if (!nt.v) {
			return -ENOMEM;
		}
		for (size_t i = 0; i < t->cap; i++) {
			if (t->v[i]) {
				nt.v[obj_slot(&nt, t->v[i]->kind, t->v[i]->name)] = t->v[i];
			}
		}
		free(t->v);
		*t = nt;
	}
	size_t i = obj_slot(t, o->kind, o->name);
	if (!t->v[i]) {
		t->n++;
	}
	t->v[i] = o;
	return 0;
}

static void obj_remove(struct obj_tab *t, const struct obj *o)
{
	if (!t->cap) {
		return;
	}
	size_t mask = t->cap - 1;
	size_t i = obj_slot(t, o->kind, o->name);
	if (!t->v[i]) {
		return;
	}
	t->v[i] = NULL;
	t->n--;
	for (size_t j = (i + 1) & mask; t->v[j]; j = (j + 1) & mask) {
		size_t home = obj_hash(t->v[j]->kind, t->v[j]->name) & mask;
		if ((j > i && (home <= i || home > j)) || (j < i && home <= i && home > j)) {
			t->v[i] = t->v[j];
			t->v[j] = NULL;
			i = j;
		}
	}
}

static struct obj *obj_free(struct obj *o)
{
	if (o) {
		elem_tab_done(&o->elems);
		free(o->name);
		free(o);
	}
	return NULL;
}

/* Free every object of @t and the table (@t's objects are owned by it). */
static void obj_tab_clear(struct obj_tab *t)
{
	for (size_t i = 0; i < t->cap; i++) {
		obj_free(t->v[i]);
	}
	free(t->v);
	*t = (struct obj_tab){0};
}

/* ---- the engine ---- */

int nft_delta_new(const struct nft_delta_sink *sink, struct nft_delta **ret)
{
	struct nft_delta *d = calloc(1, sizeof(*d));
	if (!d) {
		return -ENOMEM;
	}
	d->sink = *sink;
	*ret = d;
	return 0;
}

static void pend_clear(struct nft_delta *d)
{
	for (size_t i = 0; i < d->n_pend; i++) {
		free((char *)d->pend[i].e.chain);
	}
	d->n_pend = 0;
	/* A complete transaction stages every element (100,000 and more, ~56 bytes each); an
	 * incremental one a handful. Do not keep the big one's capacity for the small ones. */
	if (d->cap_pend > NFT_DELTA_PEND_KEEP) {
		free(d->pend);
		d->pend = NULL;
		d->cap_pend = 0;
	}
}

/* Drop the transaction: fresh objects freed, programmed ones unstaged. */
static void txn_reset(struct nft_delta *d)
{
	for (size_t i = 0; i < d->n_staged; i++) {
		d->staged[i]->st = ST_NONE;
		d->staged[i]->piece = NULL;
	}
	obj_tab_clear(&d->fresh);
	pend_clear(d);
	d->n_staged = 0;
	d->need_full = false;
	d->why[0] = '\0';
}

struct nft_delta *nft_delta_free(struct nft_delta *d)
{
	if (!d) {
		return NULL;
	}
	txn_reset(d);
	obj_tab_clear(&d->objs);
	free(d->staged);
	free(d->pend);
	free(d);
	return NULL;
}

void nft_delta_forget(struct nft_delta *d)
{
	txn_reset(d);
	obj_tab_clear(&d->objs);
	d->ready = false;
}

bool nft_delta_ready(const struct nft_delta *d)
{
	return d->ready;
}

void nft_delta_begin(struct nft_delta *d, unsigned flags)
{
	txn_reset(d);
	if (flags & NFT_DELTA_REPLACE) {
		flags |= NFT_DELTA_COMPLETE;
	}
	if (!d->ready && (flags & NFT_DELTA_COMPLETE)) {
		flags |= NFT_DELTA_REPLACE; /* no memory: everything is new */
	}
	d->flags = flags;
	d->epoch++;
}

static bool replacing(const struct nft_delta *d)
{
	return d->flags & NFT_DELTA_REPLACE;
}

static int stage(struct nft_delta *d, struct obj *o)
{
	int r = array_grow(&d->staged, d->n_staged + 1, &d->cap_staged, sizeof(*d->staged));
	if (r < 0) {
		return r;
	}
	d->staged[d->n_staged++] = o;
	return 0;
}

int nft_delta_put(struct nft_delta *d, const struct nft_delta_obj *in)
{
	size_t nl = in->name ? strlen(in->name) : 0;
	int r;

	if (nl == 0 || nl >= NFT_DELTA_NAME_MAX) {
		return -EINVAL;
	}
	struct obj *o = obj_find(&d->fresh, in->kind, in->name);
	if (!o && !replacing(d)) {
		o = obj_find(&d->objs, in->kind, in->name);
	}
	if (o && o->st != ST_NEW) {
		/* programmed */
		if (o->kind != in->kind || o->decl != in->decl) {
			if (!d->need_full) {
				snprintf(d->why, sizeof(d->why), "the declaration of %s %s changed",
					 in->kind == NFT_DELTA_CHAIN ? "chain" : "set", in->name);
			}
			d->need_full = true;
		}
		if (o->st == ST_NONE) {
			r = stage(d, o);
			if (r < 0) {
				return r;
			}
		}
		o->seen = d->epoch;
		o->piece = in->piece;
		o->new_body = in->body;
		o->new_n_rules = in->n_rules;
		/* With the same declaration, two empty chains are equal whatever their rules
		 * hashes say (an adopted chain's hash is only known from its rules' tags). */
		bool same_body = in->body == o->body || (in->n_rules == 0 && o->n_rules == 0);
		o->st = in->kind == NFT_DELTA_CHAIN && !same_body ? ST_REWRITE : ST_SAME;
		return 0;
	}
	if (!o) {
		o = calloc(1, sizeof(*o));
		if (!o) {
			return -ENOMEM;
		}
		o->name = strdup(in->name);
		o->kind = in->kind;
		if (!o->name || obj_insert(&d->fresh, o) < 0) {
			obj_free(o);
			return -ENOMEM;
		}
		r = stage(d, o);
		if (r < 0) {
			return r; /* freed with d->fresh */
		}
	}
	o->kind = in->kind;
	o->decl = in->decl;
	o->body = o->new_body = in->body;
	o->n_rules = o->new_n_rules = in->n_rules;
	o->piece = in->piece;
	o->seen = d->epoch;
	o->st = ST_NEW;
	return 0;
}

static int pend_add(struct nft_delta *d, enum nft_delta_op_type type, struct obj *target,
		    const struct nft_delta_elem *e)
{
	int r = array_grow(&d->pend, d->n_pend + 1, &d->cap_pend, sizeof(*d->pend));
	if (r < 0) {
		return r;
	}
	struct pend *p = &d->pend[d->n_pend];
	*p = (struct pend){.type = type, .target = target, .e = *e};
	if (e->verdict == NFT_DELTA_V_JUMP) {
		p->e.chain = strdup(e->chain ?: "");
		if (!p->e.chain) {
			return -ENOMEM;
		}
	} else {
		p->e.chain = NULL;
	}
	d->n_pend++;
	return 0;
}

/* The staged or programmed set/map @name. */
static struct obj *set_find(const struct nft_delta *d, const char *name)
{
	struct obj *o = obj_find(&d->fresh, NFT_DELTA_SET, name);
	if (!o && !replacing(d)) {
		o = obj_find(&d->objs, NFT_DELTA_SET, name);
	}
	return o && o->kind != NFT_DELTA_CHAIN ? o : NULL;
}

int nft_delta_elem(struct nft_delta *d, const char *set, const struct nft_delta_elem *e, bool add)
{
	struct obj *o = set_find(d, set);

	if (!o) {
		return -ENOENT;
	}
	if (e->len == 0 || e->len > NFT_DELTA_KEY_MAX) {
		return -EINVAL;
	}
	if (o->st == ST_DEL) {
		return 0;
	}
	if (o->st == ST_NEW) {
		return add ? pend_add(d, NFT_DELTA_OP_ELEM_ADD, o, e) : 0;
	}
	struct elem_rec *x = elem_find(&o->elems, e);
	if (!add) {
		if (!x || (d->flags & NFT_DELTA_COMPLETE)) {
			return 0;
		}
		struct nft_delta_elem old = elem_of(&o->elems, x);
		return pend_add(d, NFT_DELTA_OP_ELEM_DEL, o, &old);
	}
	if (x) {
		x->seen = d->epoch;
		if (elem_same_data(&o->elems, x, e)) {
			return 0;
		}
		struct nft_delta_elem old = elem_of(&o->elems, x);
		int r = pend_add(d, NFT_DELTA_OP_ELEM_DEL, o, &old);
		if (r < 0) {
			return r;
		}
	}
	return pend_add(d, NFT_DELTA_OP_ELEM_ADD, o, e);
}

int nft_delta_del(struct nft_delta *d, enum nft_delta_kind kind, const char *name)
{
	struct obj *o = replacing(d) ? NULL : obj_find(&d->objs, kind, name);

	if (!o || o->st == ST_DEL) {
		return 0;
	}
	if (o->st == ST_NONE) {
		int r = stage(d, o);
		if (r < 0) {
			return r;
		}
	}
	o->st = ST_DEL;
	return 0;
}

/* ---- adoption ---- */

int nft_delta_adopt(struct nft_delta *d, const struct nft_delta_obj *in)
{
	size_t nl = in->name ? strlen(in->name) : 0;

	if (d->ready || nl == 0 || nl >= NFT_DELTA_NAME_MAX) {
		return -EINVAL;
	}
	if (obj_find(&d->objs, in->kind, in->name)) {
		return -EEXIST;
	}
	struct obj *o = calloc(1, sizeof(*o));
	if (!o) {
		return -ENOMEM;
	}
	*o = (struct obj){.kind = in->kind,
			  .name = strdup(in->name),
			  .decl = in->decl,
			  .body = in->body,
			  .n_rules = in->n_rules};
	if (!o->name || obj_insert(&d->objs, o) < 0) {
		obj_free(o);
		return -ENOMEM;
	}
	return 0;
}

int nft_delta_adopt_elem(struct nft_delta *d, const char *set, const struct nft_delta_elem *e)
{
	struct obj *o = obj_find(&d->objs, NFT_DELTA_SET, set);

	if (!o || o->kind == NFT_DELTA_CHAIN) {
		return -ENOENT;
	}
	if (e->len == 0 || e->len > NFT_DELTA_KEY_MAX) {
		return -EINVAL;
	}
	return elem_put(&o->elems, e, 0);
}

void nft_delta_adopt_done(struct nft_delta *d)
{
	d->ready = true;
}

static int bound_cmp(const void *a, const void *b)
{
	const struct nft_delta_bound *x = a, *y = b;
	int c = memcmp(x->key, y->key, MIN(x->len, y->len));
	if (c == 0) {
		c = (int)x->len - (int)y->len;
	}
	/* at one key, the end of an interval comes before the start of the next one */
	return c ? c : (int)y->end - (int)x->end;
}

/* The prefix [start, end) (@end NULL: up to the top of the key space) as an element, or
 * false when the interval is not a prefix. */
static bool bound_prefix(const uint8_t *start, const uint8_t *end, uint8_t len,
			 struct nft_delta_elem *e)
{
	unsigned bits = len * 8u;
	*e = (struct nft_delta_elem){.len = len};
	memcpy(e->key, start, len);
	for (unsigned plen = bits + 1; plen-- > 0;) {
		/* start must have no bits set after plen; its last address is start | host bits */
		uint8_t last[NFT_DELTA_KEY_MAX];
		bool aligned = true;
		memcpy(last, start, len);
		for (unsigned bit = plen; bit < bits; bit++) {
			uint8_t m = (uint8_t)(0x80 >> (bit % 8));
			aligned = aligned && !(start[bit / 8] & m);
			last[bit / 8] |= m;
		}
		if (!aligned) {
			return false; /* a shorter prefix has even more host bits */
		}
		/* next = last + 1, or none when last is the top */
		size_t i = len;
		while (i > 0 && ++last[i - 1] == 0) {
			i--;
		}
		bool top = i == 0;
		if (end ? !top && memcmp(last, end, len) == 0 : top) {
			e->plen = (uint8_t)plen;
			return true;
		}
		if (end && !top && memcmp(last, end, len) > 0) {
			return false; /* the interval is shorter than this prefix already */
		}
	}
	return false;
}

int nft_delta_prefixes(struct nft_delta_bound *b, size_t n, struct nft_delta_elem *out,
		       size_t *ret_n)
{
	size_t k = 0;

	qsort(b, n, sizeof(*b), bound_cmp);
	for (size_t i = 0; i < n; i++) {
		if (b[i].end || b[i].len == 0 || b[i].len > NFT_DELTA_KEY_MAX ||
		    b[i].len != b[0].len) {
			return -EINVAL; /* an end with no start before it */
		}
		bool last = i + 1 == n;
		if (!last && !b[i + 1].end) {
			return -EINVAL; /* a start that is not the last needs its end */
		}
		if (!bound_prefix(b[i].key, last ? NULL : b[i + 1].key, b[i].len, &out[k])) {
			return -EINVAL;
		}
		k++;
		i += !last;
	}
	*ret_n = k;
	return 0;
}

bool nft_delta_has(const struct nft_delta *d, enum nft_delta_kind kind, const char *name)
{
	const struct obj *o = obj_find(&d->objs, kind, name);
	return o && (o->kind == NFT_DELTA_CHAIN) == (kind == NFT_DELTA_CHAIN);
}

bool nft_delta_has_elem(const struct nft_delta *d, const char *set, const struct nft_delta_elem *e,
			struct nft_delta_elem *ret)
{
	const struct obj *o = obj_find(&d->objs, NFT_DELTA_SET, set);
	const struct elem_rec *x = o && o->kind != NFT_DELTA_CHAIN ? elem_find(&o->elems, e) : NULL;
	if (x && ret) {
		*ret = elem_of(&o->elems, x);
	}
	return x != NULL;
}

size_t nft_delta_count(const struct nft_delta *d, enum nft_delta_kind kind)
{
	size_t n = 0;
	for (size_t i = 0; i < d->objs.cap; i++) {
		n += d->objs.v[i] && d->objs.v[i]->kind == kind;
	}
	return n;
}

const char *nft_delta_op_name(enum nft_delta_op_type t)
{
	static const char *const names[_NFT_DELTA_OP_MAX] = {
	    [NFT_DELTA_OP_TABLE_ADD] = "table-add",	[NFT_DELTA_OP_TABLE_DEL] = "table-del",
	    [NFT_DELTA_OP_SET_ADD] = "set-add",		[NFT_DELTA_OP_CHAIN_ADD] = "chain-add",
	    [NFT_DELTA_OP_CHAIN_FLUSH] = "chain-flush", [NFT_DELTA_OP_RULES_ADD] = "rules-add",
	    [NFT_DELTA_OP_ELEM_DEL] = "elem-del",	[NFT_DELTA_OP_ELEM_ADD] = "elem-add",
	    [NFT_DELTA_OP_CHAIN_DEL] = "chain-del",	[NFT_DELTA_OP_SET_DEL] = "set-del",
	};
	return (unsigned)t < _NFT_DELTA_OP_MAX ? names[t] : "?";
}

/* Complete, not replacing: whatever is programmed and was not staged goes, and so do the
 * unstaged elements of staged sets. */
static int sweep(struct nft_delta *d)
{
	int r = 0;
	for (size_t i = 0; i < d->objs.cap && r >= 0; i++) {
		struct obj *o = d->objs.v[i];
		if (!o) {
			continue;
		}
		if (o->st == ST_NONE) {
			r = stage(d, o);
			o->st = ST_DEL;
			continue;
		}
		if (o->kind == NFT_DELTA_CHAIN || o->st == ST_DEL) {
			continue;
		}
		for (size_t j = 0; j < o->elems.cap && r >= 0; j++) {
			const struct elem_rec *x = rec_at(&o->elems, j);
			if (x->used && x->seen != d->epoch) {
				struct nft_delta_elem e = elem_of(&o->elems, x);
				r = pend_add(d, NFT_DELTA_OP_ELEM_DEL, o, &e);
			}
		}
	}
	return r;
}

struct ops {
	struct nft_delta_op *v;
	size_t n, cap;
};

static int op_add(struct ops *ops, enum nft_delta_op_type type, const struct obj *o,
		  const struct nft_delta_elem *e)
{
	int r = array_grow(&ops->v, ops->n + 1, &ops->cap, sizeof(*ops->v));
	if (r < 0) {
		return r;
	}
	ops->v[ops->n++] = (struct nft_delta_op){.type = type,
						 .kind = o ? o->kind : NFT_DELTA_SET,
						 .name = o ? o->name : NULL,
						 .piece = o ? o->piece : NULL,
						 .elem = e,
						 .decl = o ? o->decl : 0,
						 .body = o ? o->new_body : 0};
	return 0;
}

/* Every operation of the transaction, in the order of enum nft_delta_op_type. */
static int build_ops(struct nft_delta *d, struct ops *ops, struct nft_delta_result *res)
{
	int r = 0;

	if (replacing(d)) {
		r = op_add(ops, NFT_DELTA_OP_TABLE_ADD, NULL, NULL);
		RET_GATHER(r, op_add(ops, NFT_DELTA_OP_TABLE_DEL, NULL, NULL));
		RET_GATHER(r, op_add(ops, NFT_DELTA_OP_TABLE_ADD, NULL, NULL));
	}
	for (int t = NFT_DELTA_OP_SET_ADD; t < _NFT_DELTA_OP_MAX && r >= 0; t++) {
		if (t == NFT_DELTA_OP_ELEM_DEL || t == NFT_DELTA_OP_ELEM_ADD) {
			for (size_t i = 0; i < d->n_pend && r >= 0; i++) {
				const struct pend *p = &d->pend[i];
				if (p->type == (enum nft_delta_op_type)t &&
				    p->target->st != ST_DEL) {
					r = op_add(ops, p->type, p->target, &p->e);
					if (t == NFT_DELTA_OP_ELEM_ADD) {
						res->elems_added++;
					} else {
						res->elems_removed++;
					}
				}
			}
			continue;
		}
		for (size_t i = 0; i < d->n_staged && r >= 0; i++) {
			const struct obj *o = d->staged[i];
			bool chain = o->kind == NFT_DELTA_CHAIN;
			bool want = false;
			switch (t) {
			case NFT_DELTA_OP_SET_ADD:
				want = !chain && o->st == ST_NEW;
				res->sets_added += want;
				break;
			case NFT_DELTA_OP_CHAIN_ADD:
				want = chain && o->st == ST_NEW;
				break;
			case NFT_DELTA_OP_CHAIN_FLUSH:
				want = chain && (o->st == ST_REWRITE || o->st == ST_DEL);
				break;
			case NFT_DELTA_OP_RULES_ADD:
				want = chain && (o->st == ST_NEW || o->st == ST_REWRITE) &&
				       o->new_n_rules > 0;
				res->chains_written +=
				    chain && (o->st == ST_NEW || o->st == ST_REWRITE);
				res->rules += want ? o->new_n_rules : 0;
				break;
			case NFT_DELTA_OP_CHAIN_DEL:
				want = chain && o->st == ST_DEL;
				res->chains_removed += want;
				break;
			case NFT_DELTA_OP_SET_DEL:
				want = !chain && o->st == ST_DEL;
				res->sets_removed += want;
				break;
			default:
				break;
			}
			if (want) {
				r = op_add(ops, (enum nft_delta_op_type)t, o, NULL);
			}
		}
	}
	return r;
}

/* The batch went through: make memory say what the kernel now holds. */
static int fold(struct nft_delta *d)
{
	int r = 0;

	if (replacing(d)) {
		obj_tab_clear(&d->objs);
	}
	/* element deletions first: a map element deleted and added again ends up added */
	for (int pass = 0; pass < 2; pass++) {
		enum nft_delta_op_type t = pass ? NFT_DELTA_OP_ELEM_ADD : NFT_DELTA_OP_ELEM_DEL;
		for (size_t i = 0; i < d->n_pend; i++) {
			struct pend *p = &d->pend[i];
			if (p->type != t || p->target->st == ST_DEL) {
				continue;
			}
			if (pass) {
				RET_GATHER(r, elem_put(&p->target->elems, &p->e, d->epoch));
			} else {
				elem_remove(&p->target->elems, &p->e);
			}
		}
	}
	for (size_t i = 0; i < d->n_staged; i++) {
		struct obj *o = d->staged[i];
		switch (o->st) {
		case ST_DEL:
			obj_remove(&d->objs, o);
			obj_free(o);
			continue;
		case ST_NEW:
			obj_remove(&d->fresh, o);
			if (RET_GATHER(r, obj_insert(&d->objs, o)) < 0) {
				obj_free(o);
				continue;
			}
			break;
		case ST_REWRITE:
		case ST_SAME:
			o->body = o->new_body;
			o->n_rules = o->new_n_rules;
			break;
		default:
			break;
		}
		o->st = ST_NONE;
		o->piece = NULL;
	}
	d->n_staged = 0;
	pend_clear(d);
	return r;
}

int nft_delta_commit(struct nft_delta *d, struct nft_delta_result *res, char *err, size_t errlen)
{
	struct nft_delta_result dummy;
	struct ops ops = {0};
	int r;

	res = res ?: &dummy;
	*res = (struct nft_delta_result){.replace = replacing(d)};
	if (!d->ready && !replacing(d)) {
		snprintf(err, errlen, "no memory of the table: a complete transaction is needed");
		txn_reset(d);
		return -EAGAIN;
	}
	if (d->need_full && !replacing(d)) {
		snprintf(err, errlen, "%s", d->why);
		txn_reset(d);
		return -EAGAIN;
	}
	r = (d->flags & NFT_DELTA_COMPLETE) && !replacing(d) ? sweep(d) : 0;
	if (r >= 0) {
		r = build_ops(d, &ops, res);
	}
	if (r < 0) {
		snprintf(err, errlen, "out of memory");
		free(ops.v);
		txn_reset(d);
		return r;
	}
	res->ops = ops.n;
	if (ops.n == 0) {
		res->noop = true;
		free(ops.v);
		txn_reset(d);
		return 0;
	}
	r = d->sink.send(d->sink.ctx, ops.v, ops.n, err, errlen);
	free(ops.v);
	if (r < 0) {
		nft_delta_forget(d);
		return r;
	}
	res->bytes = (size_t)r;
	r = fold(d);
	if (r < 0) {
		snprintf(err, errlen, "out of memory");
		nft_delta_forget(d);
		return r;
	}
	d->ready = true;
	obj_tab_clear(&d->fresh); /* empty: every fresh object moved to objs */
	return 0;
}
