/* SPDX-License-Identifier: Apache-2.0 */
/*
 * DOC: calc results -> nft program pieces -> delta engine (pure).
 *
 * Notes between commits: a "full" flag (any full calc pass, a wildcard host endpoint, a
 * failure), a "rulesets" flag (a local endpoint's ruleset appeared, went or changed) and the
 * member changes, kept as (set name, member, add) with the last change of a member winning.
 *
 * Graph: one node per chain and set we programmed, with the names its statements refer to
 * (jump targets, looked-up sets and maps) and how many nodes refer to it. Roots (base chains,
 * endpoint chains, wl-ifaces and the dispatch maps) live as long as their owner; policy and
 * profile chains and the address sets live while something refers to them. Changing a
 * chain's references counts the new ones up first (building and staging what becomes
 * used), then the old ones down (deleting what becomes unused), so a policy that stays in
 * use is never touched.
 *
 * Which local endpoints changed: policy-inc replaces the ruleset object of every endpoint
 * key it recomputes (the new one is allocated while the old one still lives), so a ruleset
 * pointer we have not seen, with its ifname and name, is a new or changed endpoint, and a
 * recorded one that is gone is a removed or changed one. A policy edit keeps the object of an
 * endpoint whose ruleset still calls the same chains (policy-inc.c), so only the endpoints
 * whose calls changed are restaged. Comparing the two lists sorted by
 * pointer costs O(local endpoints) pointer compares; building and sending costs O(the
 * endpoint's chains and the sets it is first to use).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "acl/nft-prog.h"
#include "felix/dataplane/policy/nft-plan.h"
#include "lib/array.h"

#define MAX_NOTED 65536 /* member changes kept between commits; beyond: complete */

struct node {
	char *name;
	bool chain;
	bool root;
	bool fresh;	/* staged as new in this transaction (its elements are in already) */
	unsigned count; /* nodes referring to it */
	char **refs;	/* names it refers to, unique */
	size_t n_refs;
	/* a policy chain staged by stage_policy_chain(): the policy's hash for its direction
	 * then (struct acl_policy.hash), so restage_policy() skips a policy that did not change */
	bool src_known;
	uint64_t src_hash;
};

struct node_tab {
	struct node **v;
	size_t cap, n;
};

/* A local endpoint as last committed. */
struct ep {
	const struct acl_ruleset *rs; /* identity only: may be freed, never dereferenced */
	char ifname[IFNAMSIZ];
	bool host;
	char *name;
};

struct noted {
	char set[NFT_PROG_NAME_MAX];
	struct acl_member m;
	bool add;
	size_t seq;
};

struct nft_plan {
	struct nft_delta *eng;
	bool full, rulesets;
	bool policies; /* a new index: policy chains in the graph may have new rules */
	struct noted *noted;
	size_t n_noted, cap_noted;
	struct node_tab nodes;
	struct ep *eps; /* sorted by rs pointer */
	size_t n_eps;
	/* the transaction */
	const struct calc_policy *cp;
	struct nft_prog *prog; /* pieces staged in this transaction (owned until commit) */
	struct node **fresh_nodes;
	size_t n_fresh, cap_fresh;
	char *err;
	size_t errlen;
};

/* ---- nodes ---- */

static size_t node_slot(const struct node_tab *t, const char *name)
{
	size_t mask = t->cap - 1;
	size_t i = hash_fnv1a(HASH_FNV1A_INIT, name, strlen(name)) & mask;
	while (t->v[i] && strcmp(t->v[i]->name, name) != 0) {
		i = (i + 1) & mask;
	}
	return i;
}

static struct node *node_find(const struct node_tab *t, const char *name)
{
	return t->cap ? t->v[node_slot(t, name)] : NULL;
}

static void node_free(struct node *n)
{
	if (!n) {
		return;
	}
	for (size_t i = 0; i < n->n_refs; i++) {
		free(n->refs[i]);
	}
	free(n->refs);
	free(n->name);
	free(n);
}

static int node_insert(struct node_tab *t, struct node *n)
{
	if ((t->n + 2) * 2 > t->cap) {
		size_t nc = t->cap ? t->cap * 2 : 64;
		struct node_tab nt = {.v = calloc(nc, sizeof(*nt.v)), .cap = nc, .n = t->n};
		if (!nt.v) {
			return -ENOMEM;
		}
		for (size_t i = 0; i < t->cap; i++) {
			if (t->v[i]) {
				nt.v[node_slot(&nt, t->v[i]->name)] = t->v[i];
			}
		}
		free(t->v);
		*t = nt;
	}
	t->v[node_slot(t, n->name)] = n;
	t->n++;
	return 0;
}

static void node_remove(struct node_tab *t, struct node *n)
{
	size_t mask = t->cap - 1;
	size_t i = node_slot(t, n->name);
	if (!t->v[i]) {
		return;
	}
	t->v[i] = NULL;
	t->n--;
	for (size_t j = (i + 1) & mask; t->v[j]; j = (j + 1) & mask) {
		size_t home =
		    hash_fnv1a(HASH_FNV1A_INIT, t->v[j]->name, strlen(t->v[j]->name)) & mask;
		if ((j > i && (home <= i || home > j)) || (j < i && home <= i && home > j)) {
			t->v[i] = t->v[j];
			t->v[j] = NULL;
			i = j;
		}
	}
	node_free(n);
}

static void node_tab_clear(struct node_tab *t)
{
	for (size_t i = 0; i < t->cap; i++) {
		node_free(t->v[i]);
	}
	free(t->v);
	*t = (struct node_tab){0};
}

static struct node *node_new(struct nft_plan *p, const char *name, bool chain, bool root)
{
	struct node *n = calloc(1, sizeof(*n));
	if (!n) {
		return NULL;
	}
	n->name = strdup(name);
	n->chain = chain;
	n->root = root;
	if (!n->name || node_insert(&p->nodes, n) < 0) {
		node_free(n);
		return NULL;
	}
	return n;
}

/* Roots: base chains, endpoint chains, wl-ifaces and the dispatch maps. */
static bool root_name(const char *name, bool chain)
{
	if (chain) {
		return strncmp(name, "tby-p", 5) != 0 && strncmp(name, "tby-r", 5) != 0;
	}
	return !(strchr("snp", name[0]) && (name[1] == '4' || name[1] == '6') && name[2] == '-');
}

/* The names @c's statements refer to (unique, in order). */
static int chain_refs(const struct nft_prog_chain *c, char ***ret, size_t *ret_n)
{
	char **v = NULL;
	size_t n = 0, cap = 0;
	int r = 0;

	for (size_t i = 0; i < c->n_stmts && r >= 0; i++) {
		const struct nft_prog_stmt *s = &c->stmts[i];
		bool ref = false;
		switch (s->type) {
		case NFT_PROG_S_IFNAME_SET:
		case NFT_PROG_S_ADDR_SET:
		case NFT_PROG_S_ADDR_PORT_SET:
		case NFT_PROG_S_VMAP:
			ref = true;
			break;
		case NFT_PROG_S_VERDICT:
			ref = s->key == NFT_PROG_V_JUMP;
			break;
		default:
			break;
		}
		const char *name = ref ? nft_prog_stmt_data(c, s) : NULL;
		if (!name) {
			continue;
		}
		bool dup = false;
		for (size_t j = 0; j < n && !dup; j++) {
			dup = strcmp(v[j], name) == 0;
		}
		if (dup) {
			continue;
		}
		r = array_grow(&v, n + 1, &cap, sizeof(*v));
		if (r >= 0) {
			v[n] = strdup(name);
			r = v[n] ? 0 : -ENOMEM;
			n += r >= 0;
		}
	}
	if (r < 0) {
		for (size_t j = 0; j < n; j++) {
			free(v[j]);
		}
		free(v);
		return r;
	}
	*ret = v;
	*ret_n = n;
	return 0;
}

/* ---- element keys ---- */

static struct nft_delta_elem member_elem(const struct nft_prog_set *s, const struct acl_member *m)
{
	struct nft_delta_elem e = {.plen = NFT_DELTA_NO_PREFIX};
	size_t alen = m->net.addr.family == AF_INET ? 4 : 16;

	memcpy(e.key, m->net.addr.bytes, alen);
	if (s->type == NFT_PROG_T_IPV4_PROTO_PORT || s->type == NFT_PROG_T_IPV6_PROTO_PORT) {
		/* ADDR . inet_proto . inet_service: every field padded to 4 bytes, port in
		 * network byte order (nft's concatenation layout) */
		e.key[alen] = m->proto;
		e.key[alen + 4] = (uint8_t)(m->port >> 8);
		e.key[alen + 5] = (uint8_t)(m->port & 0xff);
		e.len = (uint8_t)(alen + 8);
	} else {
		e.len = (uint8_t)alen;
		if (s->interval) {
			e.plen = m->net.len;
		}
	}
	return e;
}

static struct nft_delta_elem ifelem_elem(const struct nft_prog_ifelem *x)
{
	struct nft_delta_elem e = {.len = NFT_PROG_IFNAME_MAX, .plen = NFT_DELTA_NO_PREFIX};
	memcpy(e.key, x->ifname, strnlen(x->ifname, NFT_PROG_IFNAME_MAX));
	switch (x->verdict) {
	case NFT_PROG_V_DROP:
		e.verdict = NFT_DELTA_V_DROP;
		break;
	case NFT_PROG_V_ACCEPT:
		e.verdict = NFT_DELTA_V_ACCEPT;
		break;
	case NFT_PROG_V_JUMP:
		e.verdict = NFT_DELTA_V_JUMP;
		e.chain = x->chain;
		break;
	default:
		break;
	}
	return e;
}

/* ---- staging pieces ---- */

static uint64_t chain_decl(const struct nft_prog_chain *c)
{
	uint64_t h =
	    hash_fnv1a(HASH_FNV1A_INIT, c->comment ?: "", c->comment ? strlen(c->comment) + 1 : 0);
	uint32_t v[3] = {(uint32_t)c->hook, (uint32_t)c->priority, (uint32_t)c->policy};
	return hash_fnv1a(h, v, sizeof(v));
}

static uint64_t set_decl(const struct nft_prog_set *s)
{
	uint64_t h =
	    hash_fnv1a(HASH_FNV1A_INIT, s->comment ?: "", s->comment ? strlen(s->comment) + 1 : 0);
	uint8_t v[3] = {(uint8_t)s->type, s->interval, s->map};
	return hash_fnv1a(h, v, sizeof(v));
}

static int stage_chain(struct nft_plan *p, const struct nft_prog_chain *c)
{
	struct nft_delta_obj o = {.kind = NFT_DELTA_CHAIN,
				  .name = c->name,
				  .decl = chain_decl(c),
				  .body = nft_prog_chain_hash(c),
				  .n_rules = (unsigned)c->n_rules,
				  .piece = c};
	return nft_delta_put(p->eng, &o);
}

static int stage_set(struct nft_plan *p, const struct nft_prog_set *s)
{
	struct nft_delta_obj o = {.kind = s->map ? NFT_DELTA_MAP : NFT_DELTA_SET,
				  .name = s->name,
				  .decl = set_decl(s),
				  .piece = s};
	int r = nft_delta_put(p->eng, &o);
	for (size_t i = 0; i < s->n_members && r >= 0; i++) {
		struct nft_delta_elem e = member_elem(s, &s->members[i]);
		r = nft_delta_elem(p->eng, s->name, &e, true);
	}
	for (size_t i = 0; i < s->n_ifelems && r >= 0; i++) {
		struct nft_delta_elem e = ifelem_elem(&s->ifelems[i]);
		r = nft_delta_elem(p->eng, s->name, &e, true);
	}
	return r;
}

/* ---- building what a name refers to ---- */

/* The policy or profile of @rs whose chain is @name. */
static const struct acl_policy *find_policy(const struct acl_ruleset *rs, const char *name,
					    enum acl_dir *ret_dir)
{
	char buf[NFT_PROG_NAME_MAX];
	for (int d = 0; d < _ACL_DIR_MAX; d++) {
		const struct acl_ep_dir *ed = &rs->dir[d];
		for (size_t t = 0; t < ed->n_tiers; t++) {
			for (size_t i = 0; i < ed->tiers[t].n_policies; i++) {
				nft_prog_policy_chain_name(ed->tiers[t].policies[i], d, buf);
				if (strcmp(buf, name) == 0) {
					*ret_dir = (enum acl_dir)d;
					return ed->tiers[t].policies[i];
				}
			}
		}
		for (size_t i = 0; i < ed->n_profiles; i++) {
			nft_prog_policy_chain_name(ed->profiles[i], d, buf);
			if (strcmp(buf, name) == 0) {
				*ret_dir = (enum acl_dir)d;
				return ed->profiles[i];
			}
		}
	}
	return NULL;
}

static int node_set_refs(struct nft_plan *p, struct node *n, char **refs, size_t n_refs,
			 const struct acl_ruleset *rs);

/* Render @pol's chain for @d (called @name), stage it, and give node @n (NULL: a new node)
 * the chain's references; *@ret (when given) is the node. @rs: as node_create(). */
static int stage_policy_chain(struct nft_plan *p, const struct acl_policy *pol, enum acl_dir d,
			      const char *name, struct node *n, const struct acl_ruleset *rs,
			      struct node **ret)
{
	struct nft_prog_chain *c = NULL;
	int r = nft_prog_policy_chain(pol, d, &c);
	if (r < 0) {
		snprintf(p->err, p->errlen, "chain %s: error %d", name, r);
		return r;
	}
	r = nft_prog_add_chain(p->prog, c);
	if (r >= 0) {
		r = stage_chain(p, c);
	}
	if (r >= 0 && !n) {
		n = node_new(p, name, true, false);
		r = n ? 0 : -ENOMEM;
	}
	char **refs;
	size_t n_refs;
	if (r >= 0) {
		r = chain_refs(c, &refs, &n_refs);
	}
	if (r >= 0) {
		r = node_set_refs(p, n, refs, n_refs, rs);
	}
	if (r >= 0) {
		n->src_known = true;
		n->src_hash = pol->hash[d];
	}
	if (ret) {
		*ret = n;
	}
	return r;
}

/* Build and stage the chain or set @name (first use), as a new node. @rs: the endpoint
 * whose chain refers to it (to find a policy). */
static int node_create(struct nft_plan *p, const char *name, const struct acl_ruleset *rs,
		       struct node **ret)
{
	int r;
	bool chain = strncmp(name, "tby-", 4) == 0;

	if (chain) {
		enum acl_dir d;
		const struct acl_policy *pol = rs ? find_policy(rs, name, &d) : NULL;
		if (!pol) {
			snprintf(p->err, p->errlen, "chain %s: no policy of that name", name);
			return -EINVAL;
		}
		return stage_policy_chain(p, pol, d, name, NULL, rs, ret);
	}
	/* an address set: {s,n,p}{4,6}-<id> */
	if (root_name(name, false)) {
		snprintf(p->err, p->errlen, "set %s is not programmed", name);
		return -EINVAL;
	}
	const struct acl_index *idx = p->cp->idx;
	ssize_t pos = acl_set_index(idx, name + 3);
	if (pos < 0) {
		snprintf(p->err, p->errlen, "set %s: no such set in the policy index", name);
		return -EINVAL;
	}
	struct nft_prog_set *s = NULL;
	r = nft_prog_selector_set(idx->sets[pos], &p->cp->members->sets[pos],
				  name[1] == '4' ? AF_INET : AF_INET6, &s);
	if (r < 0) {
		snprintf(p->err, p->errlen, "set %s: error %d", name, r);
		return r;
	}
	r = nft_prog_add_set(p->prog, s);
	if (r >= 0) {
		r = stage_set(p, s);
	}
	if (r < 0) {
		return r;
	}
	struct node *n = node_new(p, name, false, false);
	if (!n) {
		return -ENOMEM;
	}
	n->fresh = true;
	r = array_grow(&p->fresh_nodes, p->n_fresh + 1, &p->cap_fresh, sizeof(*p->fresh_nodes));
	if (r >= 0) {
		p->fresh_nodes[p->n_fresh++] = n;
	}
	*ret = n;
	return r;
}

static int node_unref(struct nft_plan *p, const char *name);

/* Give @n the references @refs (consumed): count the new ones up first, then the old ones
 * down. */
static int node_set_refs(struct nft_plan *p, struct node *n, char **refs, size_t n_refs,
			 const struct acl_ruleset *rs)
{
	int r = 0;
	for (size_t i = 0; i < n_refs && r >= 0; i++) {
		struct node *t = node_find(&p->nodes, refs[i]);
		if (!t) {
			r = node_create(p, refs[i], rs, &t);
		}
		if (t) {
			t->count++;
		}
	}
	char **old = n->refs;
	size_t n_old = n->n_refs;
	n->refs = refs;
	n->n_refs = n_refs;
	for (size_t i = 0; i < n_old; i++) {
		if (r >= 0) {
			r = node_unref(p, old[i]);
		}
		free(old[i]);
	}
	free(old);
	return r;
}

/* One reference to @name less; at zero a non-root node is deleted with its references. */
static int node_unref(struct nft_plan *p, const char *name)
{
	struct node *n = node_find(&p->nodes, name);
	int r = 0;

	if (!n || (n->count && --n->count) || n->root) {
		return 0;
	}
	r = nft_delta_del(p->eng, n->chain ? NFT_DELTA_CHAIN : NFT_DELTA_SET, n->name);
	for (size_t i = 0; i < n->n_refs && r >= 0; i++) {
		r = node_unref(p, n->refs[i]);
	}
	node_remove(&p->nodes, n);
	return r;
}

/* ---- the plan ---- */

int nft_plan_new(const struct nft_delta_sink *sink, struct nft_plan **ret)
{
	struct nft_plan *p = calloc(1, sizeof(*p));
	if (!p) {
		return -ENOMEM;
	}
	int r = nft_delta_new(sink, &p->eng);
	if (r < 0) {
		free(p);
		return r;
	}
	p->full = true;
	*ret = p;
	return 0;
}

static void eps_clear(struct nft_plan *p)
{
	for (size_t i = 0; i < p->n_eps; i++) {
		free(p->eps[i].name);
	}
	free(p->eps);
	p->eps = NULL;
	p->n_eps = 0;
}

struct nft_plan *nft_plan_free(struct nft_plan *p)
{
	if (!p) {
		return NULL;
	}
	nft_delta_free(p->eng);
	node_tab_clear(&p->nodes);
	eps_clear(p);
	free(p->noted);
	free(p->fresh_nodes);
	nft_prog_free(p->prog);
	free(p);
	return NULL;
}

struct nft_delta *nft_plan_engine(struct nft_plan *p)
{
	return p->eng;
}

void nft_plan_queue_full(struct nft_plan *p)
{
	p->full = true;
	p->n_noted = 0;
}

void nft_plan_forget(struct nft_plan *p)
{
	nft_plan_queue_full(p);
	nft_delta_forget(p->eng);
}

bool nft_plan_pending(const struct nft_plan *p)
{
	return p->full || p->rulesets || p->policies || p->n_noted;
}

static void set_name_of(const struct acl_set *s, int fam, char buf[static NFT_PROG_NAME_MAX])
{
	nft_prog_set_name(s, fam, buf);
}

int nft_plan_note(struct nft_plan *p, const struct calc_policy *cp,
		  const struct calc_policy_update *up)
{
	if (up->full) {
		nft_plan_queue_full(p);
		return 0;
	}
	p->rulesets |= up->rulesets_changed;
	p->policies |= up->policies_changed;
	if (p->full) {
		return 0;
	}
	if (p->n_noted + up->n_changes > MAX_NOTED) {
		nft_plan_queue_full(p);
		return 0;
	}
	int r = array_grow(&p->noted, p->n_noted + up->n_changes, &p->cap_noted, sizeof(*p->noted));
	if (r < 0) {
		nft_plan_queue_full(p);
		return r;
	}
	for (size_t i = 0; i < up->n_changes; i++) {
		const struct calc_policy_change *ch = &up->changes[i];
		struct noted *x = &p->noted[p->n_noted];
		set_name_of(cp->idx->sets[ch->set], ch->m.net.addr.family, x->set);
		x->m = ch->m;
		x->add = ch->add;
		x->seq = p->n_noted++;
	}
	return 0;
}

static int noted_cmp(const void *a, const void *b)
{
	const struct noted *x = a, *y = b;
	int d = strcmp(x->set, y->set);
	if (!d) {
		d = acl_member_cmp(&x->m, &y->m);
	}
	if (!d) {
		d = x->seq < y->seq ? -1 : x->seq > y->seq;
	}
	return d;
}

static int ep_cmp(const void *a, const void *b)
{
	const struct ep *x = a, *y = b;
	return x->rs < y->rs ? -1 : x->rs > y->rs;
}

static bool ep_is(const struct ep *e, const struct acl_ruleset *rs)
{
	return e->rs == rs && e->host == rs->host && strcmp(e->ifname, rs->ifname) == 0 &&
	       strcmp(e->name, rs->name) == 0;
}

static int eps_record(struct nft_plan *p, const struct calc_policy *cp)
{
	struct ep *v = calloc(cp->n_rulesets + 1, sizeof(*v));
	if (!v) {
		return -ENOMEM;
	}
	for (size_t i = 0; i < cp->n_rulesets; i++) {
		const struct acl_ruleset *rs = cp->rulesets[i];
		v[i] = (struct ep){.rs = rs, .host = rs->host, .name = strdup(rs->name)};
		snprintf(v[i].ifname, sizeof(v[i].ifname), "%s", rs->ifname);
		if (!v[i].name) {
			for (size_t j = 0; j < i; j++) {
				free(v[j].name);
			}
			free(v);
			return -ENOMEM;
		}
	}
	qsort(v, cp->n_rulesets, sizeof(*v), ep_cmp);
	eps_clear(p);
	p->eps = v;
	p->n_eps = cp->n_rulesets;
	return 0;
}

/* The whole program, staged as a complete transaction; the graph rebuilt from it. */
static int stage_complete(struct nft_plan *p, const struct calc_policy *cp)
{
	struct acl_render_input in = calc_policy_render_input(cp);
	int r = nft_prog_build(&in, &p->prog);

	if (r < 0) {
		snprintf(p->err, p->errlen, "cannot build the nftables program: error %d", r);
		return r;
	}
	nft_delta_begin(p->eng, NFT_DELTA_COMPLETE);
	node_tab_clear(&p->nodes);
	for (size_t i = 0; i < p->prog->n_sets && r >= 0; i++) {
		const struct nft_prog_set *s = p->prog->sets[i];
		r = stage_set(p, s);
		if (r >= 0 && !node_new(p, s->name, false, root_name(s->name, false))) {
			r = -ENOMEM;
		}
	}
	for (size_t i = 0; i < p->prog->n_chains && r >= 0; i++) {
		const struct nft_prog_chain *c = p->prog->chains[i];
		r = stage_chain(p, c);
		if (r >= 0 && !node_new(p, c->name, true, root_name(c->name, true))) {
			r = -ENOMEM;
		}
	}
	for (size_t i = 0; i < p->prog->n_chains && r >= 0; i++) {
		const struct nft_prog_chain *c = p->prog->chains[i];
		struct node *n = node_find(&p->nodes, c->name);
		r = chain_refs(c, &n->refs, &n->n_refs);
		for (size_t j = 0; j < n->n_refs && r >= 0; j++) {
			struct node *t = node_find(&p->nodes, n->refs[j]);
			if (t) {
				t->count++;
			}
		}
	}
	return r;
}

static int stage_dispatch(struct nft_plan *p, const struct acl_ruleset *rs, bool add)
{
	int r = 0;
	for (int d = 0; d < _ACL_DIR_MAX && r >= 0; d++) {
		struct nft_prog_ifelem x;
		r = nft_prog_dispatch_elem(rs, (enum acl_dir)d, &x);
		if (r == -ENOENT) {
			return 0;
		}
		if (r >= 0) {
			struct nft_delta_elem e = ifelem_elem(&x);
			r = nft_delta_elem(p->eng, nft_prog_dispatch_map(rs, (enum acl_dir)d), &e,
					   add);
		}
	}
	if (r >= 0 && !rs->host) {
		struct nft_prog_ifelem x = {.verdict = NFT_PROG_V_NONE};
		snprintf(x.ifname, sizeof(x.ifname), "%s", rs->ifname);
		struct nft_delta_elem e = ifelem_elem(&x);
		r = nft_delta_elem(p->eng, "wl-ifaces", &e, add);
	}
	return r;
}

/* An endpoint's chains, built and staged; its references counted. */
static int stage_endpoint(struct nft_plan *p, const struct acl_ruleset *rs)
{
	int r = 0;
	for (int d = _ACL_DIR_MAX - 1; d >= 0 && r >= 0; d--) {
		struct nft_prog_chain *c = NULL;
		r = nft_prog_endpoint_chain(rs, (enum acl_dir)d, &p->cp->host, &c);
		if (r < 0) {
			snprintf(p->err, p->errlen, "endpoint %s: error %d", rs->name, r);
			return r;
		}
		r = nft_prog_add_chain(p->prog, c);
		if (r >= 0) {
			r = stage_chain(p, c);
		}
		struct node *n = r >= 0 ? node_find(&p->nodes, c->name) : NULL;
		if (r >= 0 && !n) {
			n = node_new(p, c->name, true, true);
			r = n ? 0 : -ENOMEM;
		}
		char **refs;
		size_t n_refs;
		if (r >= 0) {
			r = chain_refs(c, &refs, &n_refs);
		}
		if (r >= 0) {
			r = node_set_refs(p, n, refs, n_refs, rs);
		}
	}
	return r >= 0 ? stage_dispatch(p, rs, true) : r;
}

/* A recorded endpoint that is gone: map elements, chains, then what only it used. */
static int unstage_endpoint(struct nft_plan *p, const struct ep *e)
{
	struct acl_ruleset fake = {.name = e->name, .ifname = (char *)e->ifname, .host = e->host};
	int r = stage_dispatch(p, &fake, false);
	for (int d = 0; d < _ACL_DIR_MAX && r >= 0; d++) {
		char name[NFT_PROG_NAME_MAX];
		r = nft_prog_endpoint_chain_name(&fake, (enum acl_dir)d, name);
		struct node *n = r >= 0 ? node_find(&p->nodes, name) : NULL;
		if (!n) {
			continue;
		}
		r = nft_delta_del(p->eng, NFT_DELTA_CHAIN, name);
		for (size_t i = 0; i < n->n_refs && r >= 0; i++) {
			r = node_unref(p, n->refs[i]);
		}
		node_remove(&p->nodes, n);
	}
	return r;
}

/* Restage @pol's chain for @d when the graph holds it (an endpoint uses it) and the policy
 * changed since it was staged (its hash): the delta engine writes it only when its rules
 * changed. Rendering the 2,000 chains of 1,000 policies to find the one that did was a fifth
 * of a policy edit's time. */
static int restage_policy(struct nft_plan *p, const struct acl_policy *pol, enum acl_dir d)
{
	char name[NFT_PROG_NAME_MAX];
	nft_prog_policy_chain_name(pol, d, name);
	struct node *n = node_find(&p->nodes, name);
	if (!n || n->fresh || (n->src_known && n->src_hash == pol->hash[d])) {
		return 0;
	}
	return stage_policy_chain(p, pol, d, name, n, NULL, NULL);
}

/* Every policy and profile chain of the new index that the graph holds (calc's
 * policies_changed); chains of policies that went are dropped by the endpoints' restaging. */
static int restage_policies(struct nft_plan *p, const struct acl_index *idx)
{
	int r = 0;
	for (int d = 0; d < _ACL_DIR_MAX && r >= 0; d++) {
		for (size_t t = 0; t < idx->n_tiers && r >= 0; t++) {
			for (size_t i = 0; i < idx->tiers[t].n_policies && r >= 0; i++) {
				r = restage_policy(p, idx->tiers[t].policies[i], (enum acl_dir)d);
			}
		}
		for (size_t i = 0; i < idx->n_profiles && r >= 0; i++) {
			r = restage_policy(p, &idx->profiles[i], (enum acl_dir)d);
		}
	}
	return r;
}

static bool wildcard(const char *ifname)
{
	return strcmp(ifname, "*") == 0;
}

/* Incremental: the endpoints that changed and the noted members. Return: 1 when a complete
 * transaction is needed instead. */
static int stage_incremental(struct nft_plan *p, const struct calc_policy *cp)
{
	int r = 0;

	nft_delta_begin(p->eng, 0);
	if (p->policies) {
		r = restage_policies(p, cp->idx);
		if (r < 0) {
			return r;
		}
	}
	if (p->rulesets) {
		_cleanup_free_ struct ep *cur = calloc(cp->n_rulesets + 1, sizeof(*cur));
		if (!cur) {
			return -ENOMEM;
		}
		for (size_t i = 0; i < cp->n_rulesets; i++) {
			cur[i].rs = cp->rulesets[i];
		}
		qsort(cur, cp->n_rulesets, sizeof(*cur), ep_cmp);
		/* merge by pointer: added (new pointers) and removed (recorded, gone) */
		_cleanup_free_ const struct acl_ruleset **added =
		    calloc(cp->n_rulesets + 1, sizeof(*added));
		_cleanup_free_ const struct ep **removed = calloc(p->n_eps + 1, sizeof(*removed));
		size_t n_added = 0, n_removed = 0, i = 0, j = 0;
		if (!added || !removed) {
			return -ENOMEM;
		}
		while (i < cp->n_rulesets || j < p->n_eps) {
			if (j == p->n_eps || (i < cp->n_rulesets && cur[i].rs < p->eps[j].rs)) {
				added[n_added++] = cur[i++].rs;
			} else if (i == cp->n_rulesets || p->eps[j].rs < cur[i].rs) {
				removed[n_removed++] = &p->eps[j++];
			} else if (!ep_is(&p->eps[j], cur[i].rs)) {
				added[n_added++] = cur[i++].rs;
				removed[n_removed++] = &p->eps[j++];
			} else {
				i++;
				j++;
			}
		}
		for (size_t k = 0; k < n_added; k++) {
			if (wildcard(added[k]->ifname)) {
				return 1;
			}
		}
		for (size_t k = 0; k < n_removed; k++) {
			if (wildcard(removed[k]->ifname)) {
				return 1;
			}
		}
		for (size_t k = 0; k < n_added && r >= 0; k++) {
			r = stage_endpoint(p, added[k]);
		}
		for (size_t k = 0; k < n_removed && r >= 0; k++) {
			bool again = false; /* the same interface came back (a changed endpoint) */
			for (size_t a = 0; a < n_added && !again; a++) {
				again = added[a]->host == removed[k]->host &&
					strcmp(added[a]->ifname, removed[k]->ifname) == 0;
			}
			if (!again) {
				r = unstage_endpoint(p, removed[k]);
			}
		}
	}
	if (r < 0) {
		return r;
	}
	/* noted members: the last change of each wins; sets first used in this transaction
	 * already got the current members */
	if (p->n_noted > 1) {
		qsort(p->noted, p->n_noted, sizeof(*p->noted), noted_cmp);
	}
	for (size_t i = 0; i < p->n_noted && r >= 0; i++) {
		const struct noted *x = &p->noted[i];
		if (i + 1 < p->n_noted && strcmp(x->set, x[1].set) == 0 &&
		    acl_member_cmp(&x->m, &x[1].m) == 0) {
			continue;
		}
		struct node *n = node_find(&p->nodes, x->set);
		if (!n || n->fresh) {
			continue;
		}
		/* the element layout depends only on the set's kind and family */
		struct nft_prog_set shape = {
		    .type = x->set[0] == 'p'
				? (x->set[1] == '4' ? NFT_PROG_T_IPV4_PROTO_PORT
						    : NFT_PROG_T_IPV6_PROTO_PORT)
				: (x->set[1] == '4' ? NFT_PROG_T_IPV4 : NFT_PROG_T_IPV6),
		    .interval = x->set[0] != 'p'};
		struct nft_delta_elem e = member_elem(&shape, &x->m);
		r = nft_delta_elem(p->eng, x->set, &e, x->add);
	}
	return r;
}

static void txn_done(struct nft_plan *p)
{
	for (size_t i = 0; i < p->n_fresh; i++) {
		p->fresh_nodes[i]->fresh = false;
	}
	p->n_fresh = 0;
	p->prog = nft_prog_free(p->prog);
	p->cp = NULL;
}

int nft_plan_commit(struct nft_plan *p, const struct calc_policy *cp, struct nft_delta_result *res,
		    char *err, size_t errlen)
{
	struct nft_delta_result dummy;
	int r;

	res = res ?: &dummy;
	*res = (struct nft_delta_result){.noop = true};
	err[0] = '\0';
	if (!nft_plan_pending(p) && nft_delta_ready(p->eng)) {
		return 0;
	}
	p->cp = cp;
	p->err = err;
	p->errlen = errlen;
	bool complete = p->full || !nft_delta_ready(p->eng);
	r = 0;
	if (!complete) {
		r = nft_prog_new(&p->prog);
		if (r >= 0) {
			r = stage_incremental(p, cp);
		}
		if (r == 1) {
			r = -EAGAIN;
		} else if (r >= 0) {
			r = nft_delta_commit(p->eng, res, err, errlen);
		}
		if (r == -EAGAIN) {
			/* a declaration changed, or a wildcard host endpoint: everything */
			complete = true;
			txn_done(p);
			p->cp = cp;
			err[0] = '\0';
			r = 0;
		}
	}
	if (complete && r >= 0) {
		r = stage_complete(p, cp);
		if (r >= 0) {
			r = nft_delta_commit(p->eng, res, err, errlen);
		}
	}
	if (r >= 0) {
		r = eps_record(p, cp);
	}
	txn_done(p);
	if (r < 0) {
		/* the graph may be half changed: rebuild it from a complete transaction */
		nft_plan_queue_full(p);
		return r;
	}
	p->full = p->rulesets = p->policies = false;
	p->n_noted = 0;
	return 0;
}

int nft_plan_fail_closed(struct nft_plan *p, char (*ifaces)[IFNAMSIZ], size_t n_ifaces, char *err,
			 size_t errlen)
{
	struct nft_delta_result res;
	int added = 0, r = 0;

	if (!nft_delta_ready(p->eng)) {
		return -EAGAIN;
	}
	nft_delta_begin(p->eng, 0);
	for (size_t i = 0; i < n_ifaces && r >= 0; i++) {
		struct nft_prog_ifelem x = {.verdict = NFT_PROG_V_DROP};
		snprintf(x.ifname, sizeof(x.ifname), "%s", ifaces[i]);
		struct nft_delta_elem e = ifelem_elem(&x);
		if (nft_delta_has_elem(p->eng, "fw-dispatch", &e, NULL)) {
			continue;
		}
		r = nft_delta_elem(p->eng, "fw-dispatch", &e, true);
		if (r >= 0) {
			r = nft_delta_elem(p->eng, "tw-dispatch", &e, true);
		}
		added++;
	}
	if (r >= 0) {
		r = nft_delta_commit(p->eng, &res, err, errlen);
	}
	if (r < 0) {
		nft_plan_queue_full(p);
		return r;
	}
	if (added) {
		/* the graph does not know these elements: the next commit is complete */
		nft_plan_queue_full(p);
	}
	return added;
}
