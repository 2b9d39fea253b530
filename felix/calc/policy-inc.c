/* SPDX-License-Identifier: Apache-2.0 */
/*
 * DOC: incremental policy calculation (pure), after Felix's calculation graph.
 *
 * State: the acl index of the last full pass, the members of every set (the same sorted
 * arrays acl_set_members() returns) with a count of contributors per member, and per endpoint
 * key what it contributed (set, member). An endpoint change removes what the key contributed
 * before and adds what it contributes now (acl_endpoint_members(), O(sets)); only a member
 * whose count goes 0 -> 1 or 1 -> 0 changes the set, and those changes are what the dataplane
 * needs (struct calc_policy_change). Selector sets drop prefixes that lie inside another
 * member (acl_set_members()); such members are kept aside with their counts ("hidden"), and
 * an endpoint's host prefix is hidden when the member just before it in order contains it (in
 * prefix order a container comes first and nothing visible lies between them). Network sets
 * only change in a full pass, so an endpoint never un-hides anything.
 *
 * Local endpoints get their ruleset recompiled (acl_compile()) when their key changes; the
 * ruleset list keeps calc_policy_compute()'s order (workload keys, then host endpoint keys).
 *
 * A policy or tier change rebuilds the index alone (O(policies)), compiling only the policies
 * whose keys were put or deleted since the last index; the others are copied from it (struct
 * acl_policy_set.prev: no selector is parsed again). When it has exactly the sets
 * of the old one (same definitions, so the same positions), every member, count and
 * contribution stays valid, and only the local endpoints' rulesets are recompiled: an edit of
 * ports, actions, order or the policy's own selector costs no pass over the endpoints. An
 * index with other sets makes it a full pass. A recompiled ruleset that calls the same chains
 * as before (rulesets_match() by call) is moved into the old object, so an endpoint whose chains
 * did not change keeps its ruleset pointer through a policy edit.
 *
 * Everything else (namespaces, profiles, network sets, FelixConfiguration, too many pending
 * keys, a failure) makes the next update a full pass, which builds the same state from
 * scratch with the same primitives. calc_policy_compute() stays the reference.
 */
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "felix/calc/policy-internal.h"
#include "felix/calc/policy.h"
#include "lib/array.h"

struct contrib {
	uint32_t set;
	struct acl_member m;
};

/* What one endpoint key contributes; one allocation: header, contributions, key (key_tail():
 * a WorkloadEndpoint's without the prefix every one of them shares). */
struct ep_rec {
	uint32_t n : 31; /* contributions (at most one per set) */
	uint32_t local : 1;
	struct contrib v[];
};
_Static_assert(sizeof(struct ep_rec) == 4, "a 4-byte header (100,000 and more records)");

static const char *rec_key(const struct ep_rec *e)
{
	return (const char *)(e->v + e->n);
}

struct set_state {
	uint32_t *counts;	   /* parallel to members->sets[i].items */
	size_t cap;		   /* capacity of items and counts */
	struct acl_member *hidden; /* selector sets: members inside another member, sorted */
	uint32_t *hcounts;
	size_t n_hidden, cap_hidden;
};

struct calc_policy_inc {
	char *node;
	bool full;     /* the next update rebuilds */
	bool have;     /* @cur is valid */
	bool policies; /* a policy or tier changed: rebuild the index (policy_pass()) */
	/* The policy keys put or deleted since cur.idx was built (policy_pass() copies the other
	 * policies from it); @pol_lost: too many, or out of memory: compile every policy. */
	char **pol_keys;
	size_t n_pol_keys, cap_pol_keys;
	bool pol_lost;
	char **pending;
	size_t n_pending, cap_pending;
	struct calc_policy cur;
	char **rs_keys; /* parallel to cur.rulesets */
	size_t cap_rs, cap_rulesets;
	struct set_state *sets; /* parallel to cur.idx->sets */
	struct ep_rec **map;	/* open addressing, linear probing, power-of-two size */
	size_t map_cap, map_n;
	struct calc_policy_change *changes;
	size_t n_changes, cap_changes;
};

/* ---- endpoint records by key ---- */

/* What a record keeps of @key: a WorkloadEndpoint key without MODEL_WEP_KEY_PREFIX (28 of its ~70
 * bytes, at 100,000 endpoints ~2 MB), any other key whole. A tail starts with a namespace,
 * never with '/', so tails and whole keys do not meet, and key_tail() of a tail is itself. */
static const char *key_tail(const char *key)
{
	size_t n = sizeof(MODEL_WEP_KEY_PREFIX) - 1;
	return strncmp(key, MODEL_WEP_KEY_PREFIX, n) == 0 ? key + n : key;
}

static uint64_t key_hash(const char *k)
{
	return hash_fnv1a(HASH_FNV1A_INIT, k, strlen(k));
}

/* The slot of @key (whole or key_tail()): holding its record, or the empty slot where it
 * would go. */
static size_t map_slot(const struct calc_policy_inc *s, const char *key)
{
	key = key_tail(key);
	size_t mask = s->map_cap - 1;
	size_t i = key_hash(key) & mask;
	while (s->map[i] && strcmp(rec_key(s->map[i]), key) != 0) {
		i = (i + 1) & mask;
	}
	return i;
}

static struct ep_rec *map_get(const struct calc_policy_inc *s, const char *key)
{
	return s->map_cap ? s->map[map_slot(s, key)] : NULL;
}

static int map_reserve(struct calc_policy_inc *s, size_t n)
{
	if ((n + 1) * 2 <= s->map_cap) {
		return 0;
	}
	size_t nc = s->map_cap ? s->map_cap : 64;
	while ((n + 1) * 2 > nc) {
		nc *= 2;
	}
	struct ep_rec **old = s->map;
	size_t oc = s->map_cap;
	s->map = calloc(nc, sizeof(*s->map));
	if (!s->map) {
		s->map = old;
		return -ENOMEM;
	}
	s->map_cap = nc;
	for (size_t i = 0; i < oc; i++) {
		if (old[i]) {
			s->map[map_slot(s, rec_key(old[i]))] = old[i];
		}
	}
	free(old);
	return 0;
}

/* Replace (or insert) the record of its key; frees the old one. */
static int map_put(struct calc_policy_inc *s, struct ep_rec *e)
{
	int r = map_reserve(s, s->map_n + 1);
	if (r < 0) {
		return r;
	}
	size_t i = map_slot(s, rec_key(e));
	if (s->map[i]) {
		free(s->map[i]);
	} else {
		s->map_n++;
	}
	s->map[i] = e;
	return 0;
}

/* Remove and free the record of @key (backward-shift deletion). */
static void map_del(struct calc_policy_inc *s, const char *key)
{
	if (!s->map_cap) {
		return;
	}
	size_t mask = s->map_cap - 1;
	size_t i = map_slot(s, key);
	if (!s->map[i]) {
		return;
	}
	free(s->map[i]);
	s->map[i] = NULL;
	s->map_n--;
	for (size_t j = (i + 1) & mask; s->map[j]; j = (j + 1) & mask) {
		size_t home = key_hash(rec_key(s->map[j])) & mask;
		/* Move j back to i unless its home lies cyclically in (i, j]. */
		bool stay = i <= j ? (home > i && home <= j) : (home > i || home <= j);
		if (!stay) {
			s->map[i] = s->map[j];
			s->map[j] = NULL;
			i = j;
		}
	}
}

static void map_clear(struct calc_policy_inc *s)
{
	for (size_t i = 0; i < s->map_cap; i++) {
		free(s->map[i]);
	}
	free(s->map);
	s->map = NULL;
	s->map_cap = s->map_n = 0;
}

static struct ep_rec *rec_new(const char *key, const struct contrib *v, size_t n, bool local)
{
	key = key_tail(key);
	size_t kl = strlen(key) + 1;
	if (n > 0x7fffffffu) {
		return NULL; /* more sets than there can be */
	}
	struct ep_rec *e = malloc(sizeof(*e) + n * sizeof(*v) + kl);
	if (!e) {
		return NULL;
	}
	e->n = (uint32_t)n & 0x7fffffffu;
	e->local = local;
	if (n) {
		memcpy(e->v, v, n * sizeof(*v));
	}
	memcpy((char *)(e->v + n), key, kl);
	return e;
}

/* ---- state ---- */

/* The next index is built from the cache as it is now: no policy changed since. */
static void pol_keys_clear(struct calc_policy_inc *s)
{
	for (size_t i = 0; i < s->n_pol_keys; i++) {
		free(s->pol_keys[i]);
	}
	s->n_pol_keys = 0;
	s->pol_lost = false;
}

static void pol_key_add(struct calc_policy_inc *s, const char *key)
{
	char *k = NULL;

	if (s->pol_lost) {
		return;
	}
	if (s->n_pol_keys >= CALC_POLICY_INC_MAX_POLICY_KEYS ||
	    array_grow(&s->pol_keys, s->n_pol_keys + 1, &s->cap_pol_keys, sizeof(char *)) < 0 ||
	    !(k = strdup(key))) {
		pol_keys_clear(s);
		s->pol_lost = true;
		return;
	}
	s->pol_keys[s->n_pol_keys++] = k;
}

static void state_drop(struct calc_policy_inc *s)
{
	size_t n_sets = s->cur.members ? s->cur.members->n_sets : 0;
	for (size_t i = 0; s->sets && i < n_sets; i++) {
		free(s->sets[i].counts);
		free(s->sets[i].hidden);
		free(s->sets[i].hcounts);
	}
	free(s->sets);
	s->sets = NULL;
	for (size_t i = 0; i < s->cur.n_rulesets; i++) {
		free(s->rs_keys[i]);
	}
	free(s->rs_keys);
	s->rs_keys = NULL;
	s->cap_rs = s->cap_rulesets = 0;
	calc_policy_done(&s->cur);
	map_clear(s);
	s->have = false;
	pol_keys_clear(s);
}

static void pending_clear(struct calc_policy_inc *s)
{
	for (size_t i = 0; i < s->n_pending; i++) {
		free(s->pending[i]);
	}
	s->n_pending = 0;
}

int calc_policy_inc_new(const struct calc_policy_options *o, struct calc_policy_inc **ret)
{
	if (!o || !o->node_name) {
		return -EINVAL;
	}
	struct calc_policy_inc *s = calloc(1, sizeof(*s));
	if (!s) {
		return -ENOMEM;
	}
	s->node = strdup(o->node_name);
	if (!s->node) {
		free(s);
		return -ENOMEM;
	}
	s->full = true;
	*ret = s;
	return 0;
}

struct calc_policy_inc *calc_policy_inc_free(struct calc_policy_inc *s)
{
	if (!s) {
		return NULL;
	}
	state_drop(s);
	pending_clear(s);
	free(s->pending);
	free(s->pol_keys);
	free(s->changes);
	free(s->node);
	free(s);
	return NULL;
}

void calc_policy_inc_invalidate(struct calc_policy_inc *s)
{
	s->full = true;
	s->policies = false;
	pending_clear(s);
}

bool calc_policy_inc_note_key(struct calc_policy_inc *s, const char *key)
{
	static const char *const endpoints[] = {"workloadendpoints/", "hostendpoints/"};
	static const char *const policies[] = {
	    "networkpolicies/",
	    "globalnetworkpolicies/",
	    "kubernetesnetworkpolicies/",
	    "tiers/",
	};
	static const char *const others[] = {
	    "profiles/",	  "namespaces/",	  "networksets/",
	    "globalnetworksets/", "felixconfigurations/",
	};
	size_t pl = strlen(MODEL_KEY_PREFIX);

	if (!key || strncmp(key, MODEL_KEY_PREFIX, pl) != 0) {
		return false;
	}
	for (size_t i = 0; i < ELEMENTSOF(policies); i++) {
		if (strncmp(key + pl, policies[i], strlen(policies[i])) == 0) {
			s->policies |= !s->full;
			pol_key_add(s, key);
			return true;
		}
	}
	for (size_t i = 0; i < ELEMENTSOF(others); i++) {
		if (strncmp(key + pl, others[i], strlen(others[i])) == 0) {
			calc_policy_inc_invalidate(s);
			return true;
		}
	}
	for (size_t i = 0; i < ELEMENTSOF(endpoints); i++) {
		if (strncmp(key + pl, endpoints[i], strlen(endpoints[i])) != 0) {
			continue;
		}
		if (s->full) {
			return true;
		}
		char *k = NULL;
		if (s->n_pending >= CALC_POLICY_INC_MAX_PENDING ||
		    array_grow(&s->pending, s->n_pending + 1, &s->cap_pending, sizeof(char *)) <
			0 ||
		    !(k = strdup(key))) {
			calc_policy_inc_invalidate(s); /* a full pass needs no list */
			return true;
		}
		s->pending[s->n_pending++] = k;
		return true;
	}
	return false;
}

const struct calc_policy *calc_policy_inc_get(const struct calc_policy_inc *s)
{
	return s->have ? &s->cur : NULL;
}

/* ---- members ---- */

/* Index of @m in @v (sorted), or -1 with *ret_pos = where it would go. */
static ssize_t member_find(const struct acl_member *v, size_t n, const struct acl_member *m,
			   size_t *ret_pos)
{
	size_t lo = 0, hi = n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int d = acl_member_cmp(&v[mid], m);
		if (d == 0) {
			return (ssize_t)mid;
		}
		if (d < 0) {
			lo = mid + 1;
		} else {
			hi = mid;
		}
	}
	*ret_pos = lo;
	return -1;
}

static int arr_insert(struct acl_member **v, uint32_t **cnt, size_t *n, size_t *cap, size_t pos,
		      const struct acl_member *m)
{
	if (*n == *cap) {
		size_t nc = *cap ? *cap * 2 : 8;
		struct acl_member *nv = reallocarray(*v, nc, sizeof(**v));
		if (!nv) {
			return -ENOMEM;
		}
		*v = nv;
		uint32_t *ncnt = reallocarray(*cnt, nc, sizeof(**cnt));
		if (!ncnt) {
			return -ENOMEM; /* @v grew, @cap did not: harmless */
		}
		*cnt = ncnt;
		*cap = nc;
	}
	memmove(*v + pos + 1, *v + pos, (*n - pos) * sizeof(**v));
	memmove(*cnt + pos + 1, *cnt + pos, (*n - pos) * sizeof(**cnt));
	(*v)[pos] = *m;
	(*cnt)[pos] = 1;
	(*n)++;
	return 0;
}

static void arr_remove(struct acl_member *v, uint32_t *cnt, size_t *n, size_t pos)
{
	memmove(v + pos, v + pos + 1, (*n - pos - 1) * sizeof(*v));
	memmove(cnt + pos, cnt + pos + 1, (*n - pos - 1) * sizeof(*cnt));
	(*n)--;
}

static int change_push(struct calc_policy_inc *s, uint32_t set, bool add,
		       const struct acl_member *m)
{
	int r = array_grow(&s->changes, s->n_changes + 1, &s->cap_changes, sizeof(*s->changes));
	if (r < 0) {
		return r;
	}
	s->changes[s->n_changes++] = (struct calc_policy_change){.set = set, .add = add, .m = *m};
	return 0;
}

static int member_add(struct calc_policy_inc *s, uint32_t si, const struct acl_member *m)
{
	struct acl_set_members *sm = &s->cur.members->sets[si];
	struct set_state *st = &s->sets[si];
	bool selector = s->cur.idx->sets[si]->kind == ACL_SET_SELECTOR;
	size_t pos = 0, hpos = 0;
	ssize_t i = member_find(sm->items, sm->n, m, &pos);

	if (i >= 0) {
		st->counts[i]++;
		return 0;
	}
	if (selector) {
		if (m->net.len != ip_addr_bits(m->net.addr.family)) {
			return -EINVAL; /* endpoints contribute host prefixes only */
		}
		ssize_t h = member_find(st->hidden, st->n_hidden, m, &hpos);
		if (h >= 0) {
			st->hcounts[h]++;
			return 0;
		}
		if (pos > 0 && ip_prefix_contains(&sm->items[pos - 1].net, &m->net)) {
			return arr_insert(&st->hidden, &st->hcounts, &st->n_hidden, &st->cap_hidden,
					  hpos, m);
		}
	}
	int r = arr_insert(&sm->items, &st->counts, &sm->n, &st->cap, pos, m);
	return r < 0 ? r : change_push(s, si, true, m);
}

static int member_remove(struct calc_policy_inc *s, uint32_t si, const struct acl_member *m)
{
	struct acl_set_members *sm = &s->cur.members->sets[si];
	struct set_state *st = &s->sets[si];
	size_t pos = 0;
	ssize_t i = member_find(sm->items, sm->n, m, &pos);

	if (i >= 0) {
		if (--st->counts[i] == 0) {
			arr_remove(sm->items, st->counts, &sm->n, (size_t)i);
			return change_push(s, si, false, m);
		}
		return 0;
	}
	i = member_find(st->hidden, st->n_hidden, m, &pos);
	if (i < 0) {
		return -EINVAL; /* the bookkeeping is broken: rebuild */
	}
	if (--st->hcounts[i] == 0) {
		arr_remove(st->hidden, st->hcounts, &st->n_hidden, (size_t)i);
	}
	return 0;
}

static int contrib_cmp(const void *a, const void *b)
{
	const struct contrib *x = a, *y = b;
	if (x->set != y->set) {
		return x->set < y->set ? -1 : 1;
	}
	return acl_member_cmp(&x->m, &y->m);
}

/* A growable list of contributions. */
struct contribs {
	struct contrib *v;
	size_t n, cap;
};

static int contribs_cb(const struct acl_set *set, const struct acl_member *m, void *userdata)
{
	struct contribs *cs = userdata;
	int r = array_grow(&cs->v, cs->n + 1, &cs->cap, sizeof(*cs->v));
	if (r < 0) {
		return r;
	}
	cs->v[cs->n++] = (struct contrib){.set = (uint32_t)set->pos, .m = *m};
	return 0;
}

/* ---- rulesets ---- */

static bool key_is_hep(const char *key)
{
	return strncmp(key, MODEL_KEY_PREFIX "hostendpoints/",
		       strlen(MODEL_KEY_PREFIX "hostendpoints/")) == 0;
}

/* calc_policy_compute()'s order: workload endpoints by key, then host endpoints by key. */
static int rs_key_cmp(const char *a, const char *b)
{
	bool ha = key_is_hep(a), hb = key_is_hep(b);
	if (ha != hb) {
		return ha ? 1 : -1;
	}
	return strcmp(a, b);
}

static ssize_t rs_find(const struct calc_policy_inc *s, const char *key, size_t *ret_pos)
{
	size_t lo = 0, hi = s->cur.n_rulesets;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int d = rs_key_cmp(s->rs_keys[mid], key);
		if (d == 0) {
			return (ssize_t)mid;
		}
		if (d < 0) {
			lo = mid + 1;
		} else {
			hi = mid;
		}
	}
	*ret_pos = lo;
	return -1;
}

/* The same policy or profile: the same object (@by_call false), or (@by_call true, objects of
 * different indexes) the same chain called: source, id and name. */
static bool same_policy(const struct acl_policy *p, const struct acl_policy *q, bool by_call)
{
	return by_call
		   ? p->source == q->source && !strcmp(p->id, q->id) && !strcmp(p->name, q->name)
		   : p == q;
}

/* The same tier: the same object, or (@by_call) the same name and default action. */
static bool same_tier(const struct acl_tier *t, const struct acl_tier *u, bool by_call)
{
	return by_call ? !strcmp(t->name, u->name) && t->default_action == u->default_action
		       : t == u;
}

/*
 * @a and @b describe the same endpoint (name, interface, kind, addresses) calling the same
 * policies and profiles in the same tiers and order, with the same end of each direction.
 * @by_call false: policies and tiers are the same objects (rs_set(): one index). @by_call
 * true: @a and @b were compiled against different indexes, and they compare by the chain they
 * call and by tier name and default action (policy_pass(): the same endpoint chains).
 */
static bool rulesets_match(const struct acl_ruleset *a, const struct acl_ruleset *b, bool by_call)
{
	if (strcmp(a->name, b->name) || strcmp(a->ifname, b->ifname) || a->host != b->host ||
	    a->n_addrs != b->n_addrs ||
	    (a->n_addrs && memcmp(a->addrs, b->addrs, a->n_addrs * sizeof(*a->addrs)))) {
		return false;
	}
	for (int d = 0; d < _ACL_DIR_MAX; d++) {
		const struct acl_ep_dir *x = &a->dir[d], *y = &b->dir[d];
		if (x->n_tiers != y->n_tiers || x->has_policy != y->has_policy ||
		    x->end != y->end || x->n_profiles != y->n_profiles) {
			return false;
		}
		for (size_t i = 0; i < x->n_profiles; i++) {
			if (!same_policy(x->profiles[i], y->profiles[i], by_call)) {
				return false;
			}
		}
		for (size_t t = 0; t < x->n_tiers; t++) {
			const struct acl_ep_tier *p = &x->tiers[t], *q = &y->tiers[t];
			if (!same_tier(p->tier, q->tier, by_call) ||
			    p->n_policies != q->n_policies) {
				return false;
			}
			for (size_t i = 0; i < p->n_policies; i++) {
				if (!same_policy(p->policies[i], q->policies[i], by_call)) {
					return false;
				}
			}
		}
	}
	return true;
}

/* Insert, replace or (@rs NULL) remove the ruleset of @key; consumes @rs. */
static int rs_set(struct calc_policy_inc *s, const char *key, struct acl_ruleset *rs, bool *changed)
{
	struct calc_policy *p = &s->cur;
	size_t pos = 0;
	ssize_t i = rs_find(s, key, &pos);

	if (i >= 0 && rs) {
		if (!rulesets_match(p->rulesets[i], rs, false)) {
			*changed = true;
		}
		acl_ruleset_free(p->rulesets[i]);
		p->rulesets[i] = rs;
		return 0;
	}
	if (i >= 0) {
		acl_ruleset_free(p->rulesets[i]);
		free(s->rs_keys[i]);
		memmove(p->rulesets + i, p->rulesets + i + 1,
			(p->n_rulesets - (size_t)i - 1) * sizeof(*p->rulesets));
		memmove(s->rs_keys + i, s->rs_keys + i + 1,
			(p->n_rulesets - (size_t)i - 1) * sizeof(*s->rs_keys));
		p->n_rulesets--;
		*changed = true;
		return 0;
	}
	if (!rs) {
		return 0;
	}
	_cleanup_free_ char *k = strdup(key);
	if (!k || array_grow(&s->rs_keys, p->n_rulesets + 1, &s->cap_rs, sizeof(char *)) < 0 ||
	    array_grow(&p->rulesets, p->n_rulesets + 1, &s->cap_rulesets, sizeof(*p->rulesets)) <
		0) {
		acl_ruleset_free(rs);
		return -ENOMEM;
	}
	memmove(p->rulesets + pos + 1, p->rulesets + pos,
		(p->n_rulesets - pos) * sizeof(*p->rulesets));
	memmove(s->rs_keys + pos + 1, s->rs_keys + pos, (p->n_rulesets - pos) * sizeof(char *));
	p->rulesets[pos] = rs;
	s->rs_keys[pos] = TAKE_PTR(k);
	p->n_rulesets++;
	*changed = true;
	return 0;
}

/* ---- full pass ---- */

struct full_ctx {
	struct calc_policy_inc *s;
	size_t *fill; /* per set: items added so far */
};

static int full_add_cb(const struct acl_set *set, const struct acl_member *m, void *userdata)
{
	struct full_ctx *x = userdata;
	struct acl_set_members *sm = &x->s->cur.members->sets[set->pos];
	struct set_state *st = &x->s->sets[set->pos];
	size_t cap = st->cap;
	int r = array_grow(&sm->items, sm->n + 1, &cap, sizeof(*sm->items));
	if (r < 0) {
		return r;
	}
	st->cap = cap;
	sm->items[sm->n++] = *m;
	return 0;
}

/* Sort the collected members, fold duplicates into counts and (selector and nets sets) move
 * members inside another member to the hidden list, as acl_set_members() drops them. */
static int set_normalise(struct calc_policy_inc *s, size_t si)
{
	struct acl_set_members *sm = &s->cur.members->sets[si];
	struct set_state *st = &s->sets[si];
	bool drop = s->cur.idx->sets[si]->kind != ACL_SET_NAMED_PORT;
	size_t w = 0;

	if (sm->n > 1) {
		qsort(sm->items, sm->n, sizeof(*sm->items),
		      (int (*)(const void *, const void *))acl_member_cmp);
	}
	st->counts = calloc(st->cap + 1, sizeof(*st->counts));
	if (!st->counts) {
		return -ENOMEM;
	}
	for (size_t i = 0; i < sm->n; i++) {
		if (w > 0 && acl_member_cmp(&sm->items[w - 1], &sm->items[i]) == 0) {
			st->counts[w - 1]++;
			continue;
		}
		if (w > 0 && drop && ip_prefix_contains(&sm->items[w - 1].net, &sm->items[i].net)) {
			size_t h = st->n_hidden;
			if (h > 0 && acl_member_cmp(&st->hidden[h - 1], &sm->items[i]) == 0) {
				st->hcounts[h - 1]++;
				continue;
			}
			int r = arr_insert(&st->hidden, &st->hcounts, &st->n_hidden,
					   &st->cap_hidden, h, &sm->items[i]);
			if (r < 0) {
				return r;
			}
			continue;
		}
		sm->items[w] = sm->items[i];
		st->counts[w++] = 1;
	}
	sm->n = w;
	return 0;
}

static int full_pass(struct calc_policy_inc *s, const struct calc_cache *c, struct parse_err *err)
{
	struct calc_policy_options o = {.node_name = s->node};
	struct work w = {0};
	struct contribs cs = {0};
	struct full_ctx x = {.s = s};
	_cleanup_strbuf_ struct strbuf key = {0};
	int r;

	state_drop(s);
	r = calc_policy_prepare(c, &o, &w, &s->cur, err);
	if (r < 0) {
		goto out;
	}
	size_t n_sets = s->cur.idx->n_sets;
	s->cur.members = calloc(1, sizeof(*s->cur.members));
	s->sets = calloc(n_sets + 1, sizeof(*s->sets));
	if (!s->cur.members || !s->sets ||
	    !(s->cur.members->sets = calloc(n_sets + 1, sizeof(*s->cur.members->sets)))) {
		r = -ENOMEM;
		goto out;
	}
	s->cur.members->n_sets = n_sets;
	r = map_reserve(s, w.n_eps);
	if (r < 0) {
		goto out;
	}
	for (size_t i = 0; i < w.n_eps; i++) {
		const struct acl_endpoint *ep = &w.eps[i];
		const struct model_resource *res =
		    i < w.weps.n ? w.weps.v[i] : w.heps.v[i - w.weps.n];

		strbuf_reset(&key);
		r = model_key(res->kind, res->meta.namespace, res->meta.name, &key);
		if (r < 0) {
			goto out;
		}
		cs.n = 0;
		r = acl_endpoint_members(s->cur.idx, ep, contribs_cb, &cs);
		if (r < 0) {
			goto out;
		}
		if (cs.n > 1) {
			qsort(cs.v, cs.n, sizeof(*cs.v), contrib_cmp);
		}
		for (size_t k = 0; k < cs.n; k++) {
			r = full_add_cb(s->cur.idx->sets[cs.v[k].set], &cs.v[k].m, &x);
			if (r < 0) {
				goto out;
			}
		}
		struct ep_rec *e = rec_new(strbuf_cstr(&key), cs.v, cs.n, ep->ifname != NULL);
		if (!e) {
			r = -ENOMEM;
			goto out;
		}
		r = map_put(s, e);
		if (r < 0) {
			free(e);
			goto out;
		}
		if (ep->ifname) {
			struct acl_ruleset *rs = NULL;
			bool changed = false;
			r = acl_compile(s->cur.idx, ep, &rs);
			if (r < 0) {
				parse_err_set(err, "", 0, 0, "",
					      "endpoint %s: cannot compile its policy", ep->name);
				goto out;
			}
			r = rs_set(s, strbuf_cstr(&key), rs, &changed);
			if (r < 0) {
				goto out;
			}
		}
	}
	for (size_t i = 0; i < w.n_netsets; i++) {
		r = acl_netset_members(s->cur.idx, &w.netsets[i], full_add_cb, &x);
		if (r < 0) {
			goto out;
		}
	}
	for (size_t i = 0; i < n_sets; i++) {
		const struct acl_set *set = s->cur.idx->sets[i];
		for (size_t k = 0; set->kind == ACL_SET_NETS && k < set->n_nets; k++) {
			struct acl_member m = {.net = ip_prefix_mask(set->nets[k])};
			r = full_add_cb(set, &m, &x);
			if (r < 0) {
				goto out;
			}
		}
		r = set_normalise(s, i);
		if (r < 0) {
			goto out;
		}
	}
	s->cur.stats.local_endpoints = s->cur.n_rulesets;
	s->have = true;
	s->full = false;
	r = 0;
out:
	free(cs.v);
	calc_policy_work_done(&w);
	if (r < 0) {
		state_drop(s);
		s->full = true;
	}
	return r;
}

/* ---- a new index (policies and tiers) ---- */

static bool same_sets(const struct acl_index *a, const struct acl_index *b)
{
	if (a->n_sets != b->n_sets) {
		return false;
	}
	for (size_t i = 0; i < a->n_sets; i++) {
		if (strcmp(a->sets[i]->definition, b->sets[i]->definition) != 0) {
			return false;
		}
	}
	return true;
}

/* The acl view of endpoint @res (with its Namespace's labels from @c); @ret_name and
 * @ret_addrs (calc_policy_endpoint_n_addrs() + 1 entries) are the caller's to free, also on
 * failure. Return: 0, -ENOMEM or -EINVAL (@err says why). */
static int endpoint_view(const struct calc_policy_inc *s, const struct calc_cache *c,
			 const struct model_resource *res, char **ret_name,
			 struct ip_addr **ret_addrs, struct acl_endpoint *ep, struct parse_err *err)
{
	const struct model_labels *nsl = NULL;
	int r;

	if (res->kind == MODEL_KIND_WORKLOAD_ENDPOINT) {
		_cleanup_strbuf_ struct strbuf nk = {0};
		r = model_key(MODEL_KIND_NAMESPACE, NULL, res->meta.namespace, &nk);
		if (r < 0) {
			return r;
		}
		const struct model_resource *ns = calc_cache_get(c, strbuf_cstr(&nk));
		nsl = ns && ns->kind == MODEL_KIND_NAMESPACE ? &ns->meta.labels : NULL;
	}
	*ret_addrs = calloc(calc_policy_endpoint_n_addrs(res) + 1, sizeof(**ret_addrs));
	if (!*ret_addrs) {
		return -ENOMEM;
	}
	return calc_policy_endpoint(res, s->node, nsl, ret_name, *ret_addrs, ep, err);
}

/* The workload or host endpoint @key of @c, or NULL. */
static const struct model_resource *endpoint_get(const struct calc_cache *c, const char *key)
{
	const struct model_resource *res = calc_cache_get(c, key);
	if (res && res->kind != MODEL_KIND_WORKLOAD_ENDPOINT &&
	    res->kind != MODEL_KIND_HOST_ENDPOINT) {
		return NULL;
	}
	return res;
}

/* The acl view of the local endpoint @key, as endpoint_view(). Return: as endpoint_view(), or
 * -ENOENT (not an endpoint of the cache, or not local). */
static int local_endpoint(const struct calc_policy_inc *s, const struct calc_cache *c,
			  const char *key, char **ret_name, struct ip_addr **ret_addrs,
			  struct acl_endpoint *ep, struct parse_err *err)
{
	const struct model_resource *res = endpoint_get(c, key);
	if (!res) {
		return -ENOENT;
	}
	int r = endpoint_view(s, c, res, ret_name, ret_addrs, ep, err);
	if (r < 0) {
		return r;
	}
	return ep->ifname ? 0 : -ENOENT;
}

/* Rebuild the index from the cache's policies and tiers; when its sets are the old ones,
 * recompile every local endpoint's ruleset against it and take it (*@ret_done true). A local
 * endpoint that went (or is no longer local) loses its ruleset; its pending key does the
 * rest. When the sets differ, nothing changes and *@ret_done is false: the caller makes a
 * full pass. Return: 0, -EINVAL (a policy that does not compile; @err says which) or
 * -ENOMEM; on failure nothing changed. */
static int policy_pass(struct calc_policy_inc *s, const struct calc_cache *c, bool *ret_done,
		       struct parse_err *err)
{
	struct calc_policy_options o = {.node_name = s->node};
	struct work w = {.index_only = true};
	struct calc_policy np = {0};
	size_t n = s->cur.n_rulesets, k = 0;
	struct acl_ruleset **rs = NULL;
	int r;

	*ret_done = false;
	if (!s->pol_lost) {
		/* the policies no key names are the ones cur.idx compiled */
		array_sort(s->pol_keys, s->n_pol_keys, sizeof(char *), array_cmp_str);
		w.prev = s->cur.idx;
		w.changed = s->pol_keys;
		w.n_changed = s->n_pol_keys;
	}
	r = calc_policy_prepare(c, &o, &w, &np, err);
	if (r < 0 || !same_sets(s->cur.idx, np.idx)) {
		goto out;
	}
	rs = calloc(n + 1, sizeof(*rs));
	if (!rs) {
		r = -ENOMEM;
		goto out;
	}
	for (; k < n; k++) {
		_cleanup_free_ char *name = NULL;
		_cleanup_free_ struct ip_addr *addrs = NULL;
		struct acl_endpoint ep = {0};
		r = local_endpoint(s, c, s->rs_keys[k], &name, &addrs, &ep, err);
		if (r == -ENOENT) {
			r = 0; /* it went (or moved) in this update: its ruleset goes below */
			continue;
		}
		if (r >= 0) {
			r = acl_compile(np.idx, &ep, &rs[k]);
			if (r < 0) {
				parse_err_set(err, "", 0, 0, "",
					      "endpoint %s: cannot compile its policy", ep.name);
			}
		}
		if (r < 0) {
			goto out;
		}
	}
	for (size_t i = 0; i < n; i++) {
		if (rs[i] && rulesets_match(s->cur.rulesets[i], rs[i], true)) {
			/* The same chains: the object stays (now pointing into the new index), so a
			 * driver that tells endpoints apart by object (nft-plan.c) leaves this one
			 * alone instead of building and diffing its chains again. */
			struct acl_ruleset t = *s->cur.rulesets[i];
			*s->cur.rulesets[i] = *rs[i];
			*rs[i] = t;
			acl_ruleset_free(rs[i]);
		} else if (rs[i]) {
			acl_ruleset_free(s->cur.rulesets[i]);
			s->cur.rulesets[i] = rs[i];
		}
	}
	for (size_t i = n; i-- > 0;) {
		bool changed;
		if (!rs[i]) {
			/* its pending key removes what it contributed (update_key()) */
			r = rs_set(s, s->rs_keys[i], NULL, &changed);
			assert(r == 0); /* removal does not allocate */
		}
	}
	k = 0;
	struct acl_index *old = s->cur.idx;
	s->cur.idx = np.idx;
	np.idx = old;
	pol_keys_clear(s);
	s->cur.host = np.host;
	s->cur.fc = np.fc;
	s->cur.has_dataplane = np.has_dataplane;
	s->cur.dataplane = np.dataplane;
	s->cur.stats.policies = np.stats.policies;
	s->cur.stats.tiers = np.stats.tiers;
	s->cur.stats.profiles = np.stats.profiles;
	s->cur.stats.sets = np.stats.sets;
	*ret_done = true;
out:
	for (size_t i = 0; i < k; i++) {
		acl_ruleset_free(rs[i]);
	}
	free(rs);
	calc_policy_done(&np); /* the old index, after a swap */
	calc_policy_work_done(&w);
	return r;
}

/* ---- one endpoint key ---- */

static int update_key(struct calc_policy_inc *s, const struct calc_cache *c, const char *key,
		      struct contribs *cs, bool *rs_changed, struct parse_err *err)
{
	const struct model_resource *res = endpoint_get(c, key);
	struct ep_rec *old = map_get(s, key);
	struct acl_endpoint ep = {0};
	_cleanup_free_ char *name = NULL;
	_cleanup_free_ struct ip_addr *addrs = NULL;
	int r;

	cs->n = 0;
	if (res) {
		r = endpoint_view(s, c, res, &name, &addrs, &ep, err);
		if (r < 0) {
			return r;
		}
		r = acl_endpoint_members(s->cur.idx, &ep, contribs_cb, cs);
		if (r < 0) {
			return r;
		}
		if (cs->n > 1) {
			qsort(cs->v, cs->n, sizeof(*cs->v), contrib_cmp);
		}
	}

	/* Sort-merge old and new contributions: remove what went, add what came. */
	size_t i = 0, j = 0, n_old = old ? old->n : 0;
	while (i < n_old || j < cs->n) {
		int d = i >= n_old ? 1 : j >= cs->n ? -1 : contrib_cmp(&old->v[i], &cs->v[j]);
		if (d == 0) {
			i++;
			j++;
			continue;
		}
		r = d < 0 ? member_remove(s, old->v[i].set, &old->v[i].m)
			  : member_add(s, cs->v[j].set, &cs->v[j].m);
		if (r < 0) {
			return r;
		}
		if (d < 0) {
			i++;
		} else {
			j++;
		}
	}

	bool was_local = old && old->local;
	if (res) {
		struct ep_rec *e = rec_new(key, cs->v, cs->n, ep.ifname != NULL);
		if (!e) {
			return -ENOMEM;
		}
		if (!old) {
			s->cur.stats.endpoints++;
		}
		r = map_put(s, e); /* frees @old */
		if (r < 0) {
			free(e);
			return r;
		}
	} else if (old) {
		map_del(s, key);
		s->cur.stats.endpoints--;
	}
	if (ep.ifname) {
		struct acl_ruleset *rs = NULL;
		r = acl_compile(s->cur.idx, &ep, &rs);
		if (r < 0) {
			return parse_err_set(err, "", 0, 0, "",
					     "endpoint %s: cannot compile its policy", ep.name);
		}
		r = rs_set(s, key, rs, rs_changed);
	} else if (was_local) {
		r = rs_set(s, key, NULL, rs_changed);
	}
	if (r < 0) {
		return r;
	}
	s->cur.stats.local_endpoints = s->cur.n_rulesets;
	return 0;
}

static int change_cmp(const void *a, const void *b)
{
	const struct calc_policy_change *x = a, *y = b;
	if (x->set != y->set) {
		return x->set < y->set ? -1 : 1;
	}
	return acl_member_cmp(&x->m, &y->m);
}

/* Fold the changes of one update: a member added and removed again is no change. */
static void changes_net(struct calc_policy_inc *s)
{
	size_t w = 0;

	if (s->n_changes > 1) {
		qsort(s->changes, s->n_changes, sizeof(*s->changes), change_cmp);
	}
	for (size_t i = 0; i < s->n_changes;) {
		size_t j = i;
		int sum = 0;
		for (; j < s->n_changes && change_cmp(&s->changes[i], &s->changes[j]) == 0; j++) {
			sum += s->changes[j].add ? 1 : -1;
		}
		if (sum) {
			s->changes[w] = s->changes[i];
			s->changes[w++].add = sum > 0;
		}
		i = j;
	}
	s->n_changes = w;
}

int calc_policy_inc_update(struct calc_policy_inc *s, const struct calc_cache *c,
			   struct calc_policy_update *ret, struct parse_err *err)
{
	struct contribs cs = {0};
	int r = 0;

	s->n_changes = 0;
	*ret = (struct calc_policy_update){0};
	bool full = s->full || !s->have;
	if (!full && s->policies) {
		bool done = false;
		s->policies = false;
		r = policy_pass(s, c, &done, err);
		if (r < 0) {
			/* the state is dropped: the next update is a full pass */
			pending_clear(s);
			state_drop(s);
			s->full = true;
			return r;
		}
		full = !done; /* other sets: a full pass */
		ret->policies_changed = done;
		ret->rulesets_changed = done;
	}
	if (full) {
		pending_clear(s);
		r = full_pass(s, c, err);
		if (r < 0) {
			return r;
		}
		*ret = (struct calc_policy_update){.full = true};
		return 0;
	}
	array_sort(s->pending, s->n_pending, sizeof(char *), array_cmp_str);
	for (size_t i = 0; i < s->n_pending && r >= 0; i++) {
		if (i > 0 && strcmp(s->pending[i - 1], s->pending[i]) == 0) {
			continue;
		}
		r = update_key(s, c, s->pending[i], &cs, &ret->rulesets_changed, err);
		ret->n_endpoints++;
	}
	free(cs.v);
	pending_clear(s);
	if (r < 0) {
		state_drop(s);
		s->full = true;
		s->n_changes = 0;
		*ret = (struct calc_policy_update){0};
		return r;
	}
	changes_net(s);
	ret->changes = s->changes;
	ret->n_changes = s->n_changes;
	return 0;
}
