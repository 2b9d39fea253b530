/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The policy driver's nftables path without a kernel: the incremental calculation
 * (felix/calc/policy-inc.c) -> nft-plan -> delta engine -> a fake netlink sink that plays
 * nf_tables: it applies each batch to a model of `table inet tabby` and refuses what the
 * kernel would refuse (a rule that jumps to a chain or looks up a set that does not exist, a
 * map element that jumps to a missing chain, deleting a chain or set something still refers
 * to, adding an element twice, deleting one that is not there).
 *
 * 1. Batches of single changes: a new local endpoint sends only its chains, its map and
 *    wl-ifaces elements and its address elements; a policy edit only that policy's chains;
 *    a removed endpoint its map elements, then its chains.
 * 2. Random sequences of endpoint, policy, profile and network-set changes: after every
 *    commit the model equals the whole program built from scratch (nft_prog_build()).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "acl/nft-prog.h"
#include "felix/calc/policy.h"
#include "felix/dataplane/policy/nft-plan.h"
#include "lib/strbuf.h"

#define P "/tabby/v1/"

/* ---- the fake nf_tables ---- */

struct kelem {
	char key[80]; /* hex key "/plen" */
	char data[NFT_PROG_NAME_MAX + 8];
};

struct kset {
	char name[NFT_PROG_NAME_MAX];
	struct kelem *e;
	size_t n, cap;
};

struct kchain {
	char name[NFT_PROG_NAME_MAX];
	uint64_t hash;
	bool rules;
	char refs[64][NFT_PROG_NAME_MAX];
	size_t n_refs;
};

struct kernel {
	struct kset sets[512];
	size_t n_sets;
	struct kchain chains[1024];
	size_t n_chains;
	struct strbuf log; /* the last batch, one line per operation */
	unsigned batches;
};

static struct kset *kset_find(struct kernel *k, const char *name)
{
	for (size_t i = 0; i < k->n_sets; i++) {
		if (strcmp(k->sets[i].name, name) == 0) {
			return &k->sets[i];
		}
	}
	return NULL;
}

static struct kchain *kchain_find(struct kernel *k, const char *name)
{
	for (size_t i = 0; i < k->n_chains; i++) {
		if (strcmp(k->chains[i].name, name) == 0) {
			return &k->chains[i];
		}
	}
	return NULL;
}

static void elem_text(const struct nft_delta_elem *e, struct kelem *ret)
{
	size_t o = 0;
	for (size_t i = 0; i < e->len; i++) {
		o += (size_t)snprintf(ret->key + o, sizeof(ret->key) - o, "%02x", e->key[i]);
	}
	snprintf(ret->key + o, sizeof(ret->key) - o, "/%u", e->plen);
	snprintf(ret->data, sizeof(ret->data), "%s%s",
		 e->verdict == NFT_DELTA_V_JUMP	  ? "jump "
		 : e->verdict == NFT_DELTA_V_DROP ? "drop"
						  : "",
		 e->verdict == NFT_DELTA_V_JUMP ? e->chain : "");
}

static ssize_t kelem_find(const struct kset *s, const struct kelem *x)
{
	for (size_t i = 0; i < s->n; i++) {
		if (strcmp(s->e[i].key, x->key) == 0) {
			return (ssize_t)i;
		}
	}
	return -1;
}

/* Names a chain's statements refer to. */
static size_t prog_refs(const struct nft_prog_chain *c, char (*out)[NFT_PROG_NAME_MAX])
{
	size_t n = 0;
	for (size_t i = 0; i < c->n_stmts; i++) {
		const struct nft_prog_stmt *s = &c->stmts[i];
		bool ref = s->type == NFT_PROG_S_IFNAME_SET || s->type == NFT_PROG_S_ADDR_SET ||
			   s->type == NFT_PROG_S_ADDR_PORT_SET || s->type == NFT_PROG_S_VMAP ||
			   (s->type == NFT_PROG_S_VERDICT && s->key == NFT_PROG_V_JUMP);
		if (ref) {
			assert_true(n < 64);
			snprintf(out[n++], NFT_PROG_NAME_MAX, "%s",
				 (const char *)nft_prog_stmt_data(c, s));
		}
	}
	return n;
}

static bool referenced(struct kernel *k, const char *name)
{
	for (size_t i = 0; i < k->n_chains; i++) {
		for (size_t j = 0; j < k->chains[i].n_refs; j++) {
			if (strcmp(k->chains[i].refs[j], name) == 0) {
				return true;
			}
		}
	}
	for (size_t i = 0; i < k->n_sets; i++) {
		for (size_t j = 0; j < k->sets[i].n; j++) {
			if (strncmp(k->sets[i].e[j].data, "jump ", 5) == 0 &&
			    strcmp(k->sets[i].e[j].data + 5, name) == 0) {
				return true;
			}
		}
	}
	return false;
}

static void kernel_clear(struct kernel *k)
{
	for (size_t i = 0; i < k->n_sets; i++) {
		free(k->sets[i].e);
	}
	k->n_sets = 0;
	k->n_chains = 0;
}

static int fake_send(void *ctx, const struct nft_delta_op *ops, size_t n, char *err, size_t errlen)
{
	struct kernel *k = ctx;
	k->batches++;
	strbuf_reset(&k->log);
	for (size_t i = 0; i < n; i++) {
		const struct nft_delta_op *o = &ops[i];
		struct kset *s = o->name ? kset_find(k, o->name) : NULL;
		struct kchain *c = o->name ? kchain_find(k, o->name) : NULL;
		struct kelem x = {0};
		if (o->elem) {
			elem_text(o->elem, &x);
		}
		assert_int_equal(strbuf_printf(&k->log, "%s %s%s%s%s%s\n",
					       nft_delta_op_name(o->type), o->name ?: "",
					       o->elem ? " " : "", o->elem ? x.key : "",
					       x.data[0] ? " : " : "", x.data),
				 0);
		switch (o->type) {
		case NFT_DELTA_OP_TABLE_ADD:
			break;
		case NFT_DELTA_OP_TABLE_DEL:
			kernel_clear(k);
			break;
		case NFT_DELTA_OP_SET_ADD: {
			const struct nft_prog_set *ps = o->piece;
			if (s) {
				fail_msg("set %s exists", o->name);
			}
			assert_string_equal(ps->name, o->name);
			assert_true(k->n_sets < ELEMENTSOF(k->sets));
			k->sets[k->n_sets++] = (struct kset){0};
			snprintf(k->sets[k->n_sets - 1].name, NFT_PROG_NAME_MAX, "%s", o->name);
			break;
		}
		case NFT_DELTA_OP_CHAIN_ADD:
			if (c) {
				fail_msg("chain %s exists", o->name);
			}
			assert_true(k->n_chains < ELEMENTSOF(k->chains));
			k->chains[k->n_chains++] = (struct kchain){0};
			snprintf(k->chains[k->n_chains - 1].name, NFT_PROG_NAME_MAX, "%s", o->name);
			break;
		case NFT_DELTA_OP_CHAIN_FLUSH:
			if (!c) {
				fail_msg("flush of missing chain %s", o->name);
			}
			c->n_refs = 0;
			c->rules = false;
			c->hash = 0;
			break;
		case NFT_DELTA_OP_RULES_ADD: {
			const struct nft_prog_chain *pc = o->piece;
			if (!c) {
				fail_msg("rules for missing chain %s", o->name);
			}
			assert_false(c->rules);
			c->n_refs = prog_refs(pc, c->refs);
			for (size_t j = 0; j < c->n_refs; j++) {
				if (!kset_find(k, c->refs[j]) && !kchain_find(k, c->refs[j])) {
					fail_msg("chain %s refers to missing %s", o->name,
						 c->refs[j]);
				}
			}
			c->rules = true;
			c->hash = nft_prog_chain_hash(pc);
			break;
		}
		case NFT_DELTA_OP_ELEM_DEL: {
			if (!s) {
				fail_msg("element of missing set %s", o->name);
			}
			ssize_t at = kelem_find(s, &x);
			if (at < 0) {
				fail_msg("delete of missing element %s in %s", x.key, o->name);
			}
			s->e[at] = s->e[--s->n];
			break;
		}
		case NFT_DELTA_OP_ELEM_ADD:
			if (!s) {
				fail_msg("element of missing set %s", o->name);
			}
			if (kelem_find(s, &x) >= 0) {
				fail_msg("element %s added twice to %s", x.key, o->name);
			}
			if (o->elem->verdict == NFT_DELTA_V_JUMP &&
			    !kchain_find(k, o->elem->chain)) {
				fail_msg("map element jumps to missing chain %s", o->elem->chain);
			}
			if (s->n == s->cap) {
				s->cap = s->cap ? s->cap * 2 : 16;
				s->e = realloc(s->e, s->cap * sizeof(*s->e));
				assert_non_null(s->e);
			}
			s->e[s->n++] = x;
			break;
		case NFT_DELTA_OP_CHAIN_DEL:
			if (!c) {
				fail_msg("delete of missing chain %s", o->name);
			}
			if (c->rules && c->n_refs) {
				fail_msg("delete of chain %s with rules", o->name);
			}
			if (referenced(k, o->name)) {
				fail_msg("delete of chain %s still referenced", o->name);
			}
			*c = k->chains[--k->n_chains];
			break;
		case NFT_DELTA_OP_SET_DEL:
			if (!s) {
				fail_msg("delete of missing set %s", o->name);
			}
			if (referenced(k, o->name)) {
				fail_msg("delete of set %s still referenced", o->name);
			}
			free(s->e);
			*s = k->sets[--k->n_sets];
			break;
		default:
			fail_msg("bad op %d", o->type);
		}
	}
	(void)err;
	(void)errlen;
	return (int)n;
}

/* Element text of a program set's member or ifelem, as the plan encodes them. */
static void prog_elem(const struct nft_prog_set *s, size_t i, struct kelem *ret)
{
	struct nft_delta_elem e = {.plen = NFT_DELTA_NO_PREFIX};
	if (i < s->n_ifelems) {
		const struct nft_prog_ifelem *x = &s->ifelems[i];
		e.len = 16;
		memcpy(e.key, x->ifname, strnlen(x->ifname, 16));
		e.verdict = x->verdict == NFT_PROG_V_JUMP   ? NFT_DELTA_V_JUMP
			    : x->verdict == NFT_PROG_V_DROP ? NFT_DELTA_V_DROP
							    : NFT_DELTA_V_NONE;
		e.chain = x->chain;
	} else {
		const struct acl_member *m = &s->members[i];
		size_t al = m->net.addr.family == AF_INET ? 4 : 16;
		memcpy(e.key, m->net.addr.bytes, al);
		e.len = (uint8_t)al;
		if (s->type == NFT_PROG_T_IPV4_PROTO_PORT ||
		    s->type == NFT_PROG_T_IPV6_PROTO_PORT) {
			e.key[al] = m->proto;
			e.key[al + 4] = (uint8_t)(m->port >> 8);
			e.key[al + 5] = (uint8_t)m->port;
			e.len = (uint8_t)(al + 8);
		} else if (s->interval) {
			e.plen = m->net.len;
		}
	}
	elem_text(&e, ret);
}

/* The model equals the program built from scratch. */
static void kernel_equals(struct kernel *k, const struct calc_policy *cp, unsigned step)
{
	struct acl_render_input in = calc_policy_render_input(cp);
	_cleanup_(nft_prog_freep) struct nft_prog *prog = NULL;
	assert_int_equal(nft_prog_build(&in, &prog), 0);

	if (prog->n_sets != k->n_sets || prog->n_chains != k->n_chains) {
		fail_msg("step %u: %zu sets, %zu chains programmed; the program has %zu, %zu", step,
			 k->n_sets, k->n_chains, prog->n_sets, prog->n_chains);
	}
	for (size_t i = 0; i < prog->n_sets; i++) {
		const struct nft_prog_set *s = prog->sets[i];
		struct kset *ks = kset_find(k, s->name);
		if (!ks) {
			fail_msg("step %u: set %s missing", step, s->name);
		}
		size_t n = s->n_ifelems ? s->n_ifelems : s->n_members;
		if (ks->n != n) {
			fail_msg("step %u: set %s has %zu elements, the program %zu", step, s->name,
				 ks->n, n);
		}
		for (size_t j = 0; j < n; j++) {
			struct kelem x;
			prog_elem(s, j, &x);
			ssize_t at = kelem_find(ks, &x);
			if (at < 0 || strcmp(ks->e[at].data, x.data) != 0) {
				fail_msg("step %u: set %s lacks %s : %s", step, s->name, x.key,
					 x.data);
			}
		}
	}
	for (size_t i = 0; i < prog->n_chains; i++) {
		const struct nft_prog_chain *c = prog->chains[i];
		struct kchain *kc = kchain_find(k, c->name);
		if (!kc) {
			fail_msg("step %u: chain %s missing", step, c->name);
		}
		if (kc->hash != nft_prog_chain_hash(c)) {
			fail_msg("step %u: chain %s differs", step, c->name);
		}
	}
}

/* ---- the datastore side ---- */

static uint64_t rng;

static unsigned rnd(unsigned n)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (unsigned)(rng % n);
}

static void put(struct calc_cache *c, struct calc_policy_inc *s, const char *key, const char *json)
{
	struct parse_err err = {0};
	int r = calc_cache_put(c, key, json, strlen(json), &err);
	if (r != 1) {
		char msg[512];
		fail_msg("put %s: %d %s\n%s", key, r, parse_err_format(&err, msg, sizeof(msg)),
			 json);
	}
	assert_true(calc_policy_inc_note_key(s, key));
}

static void del(struct calc_cache *c, struct calc_policy_inc *s, const char *key)
{
	(void)calc_cache_delete(c, key);
	assert_true(calc_policy_inc_note_key(s, key));
}

static const char *const label_sets[] = {
    "{}",
    "{\"app\":\"web\"}",
    "{\"app\":\"db\",\"role\":\"r0\"}",
    "{\"role\":\"r0\"}",
};

static const char *const selectors[] = {
    "all()", "app == 'web'", "role == 'r0'", "has(app)", "app != 'db'", "!has(role)",
};

static void wep(struct calc_cache *c, struct calc_policy_inc *s, unsigned i, bool local,
		unsigned labels, unsigned ip)
{
	char key[256], v[2048];
	snprintf(key, sizeof(key), P "workloadendpoints/a/ep%u", i);
	snprintf(v, sizeof(v),
		 "{\"apiVersion\":\"projectcalico.org/v3\",\"kind\":\"WorkloadEndpoint\","
		 "\"metadata\":{\"name\":\"ep%u\",\"namespace\":\"a\",\"labels\":%s},"
		 "\"spec\":{\"orchestrator\":\"cni\",\"node\":\"%s\",\"containerID\":\"c%u\","
		 "\"endpoint\":\"eth0\",\"interfaceName\":\"tby%08u\",\"ipNetworks\":"
		 "[\"198.19.0.%u/32\",\"2001:db8::%x/128\"],\"ports\":[{\"name\":\"http\","
		 "\"protocol\":\"TCP\",\"port\":%u}]}}",
		 i, label_sets[labels % ELEMENTSOF(label_sets)], local ? "h1" : "h2", i, i, ip, ip,
		 80 + ip % 2);
	put(c, s, key, v);
}

static void policy(struct calc_cache *c, struct calc_policy_inc *s, unsigned i, unsigned sel,
		   unsigned src, unsigned port)
{
	char key[128], v[2048];
	snprintf(key, sizeof(key), P "networkpolicies/a/p%u", i);
	snprintf(
	    v, sizeof(v),
	    "{\"apiVersion\":\"projectcalico.org/v3\",\"kind\":\"NetworkPolicy\",\"metadata\":"
	    "{\"name\":\"p%u\",\"namespace\":\"a\"},\"spec\":{\"order\":%u,\"selector\":\"%s\","
	    "\"ingress\":[{\"action\":\"Allow\",\"protocol\":\"TCP\",\"source\":"
	    "{\"selector\":\"%s\"},\"destination\":{\"ports\":[\"http\",%u]}}],"
	    "\"egress\":[{\"action\":\"Deny\",\"destination\":{\"nets\":[\"198.18.%u.0/24\"]}},"
	    "{\"action\":\"Allow\"}]}}",
	    i, i * 10, selectors[sel % ELEMENTSOF(selectors)],
	    selectors[src % ELEMENTSOF(selectors)], port, i);
	put(c, s, key, v);
}

struct rig {
	struct calc_cache *c;
	struct calc_policy_inc *inc;
	struct nft_plan *plan;
	struct kernel *k;
	struct nft_delta_result res;
	bool policies_changed; /* the last step's update took a new index without a full pass */
};

static void rig_init(struct rig *g)
{
	struct calc_policy_options o = {.node_name = "h1"};
	*g = (struct rig){0};
	g->k = calloc(1, sizeof(*g->k));
	assert_non_null(g->k);
	struct nft_delta_sink sink = {.send = fake_send, .ctx = g->k};
	assert_int_equal(calc_cache_new(&g->c), 0);
	assert_int_equal(calc_policy_inc_new(&o, &g->inc), 0);
	assert_int_equal(nft_plan_new(&sink, &g->plan), 0);
}

static void rig_done(struct rig *g)
{
	nft_plan_free(g->plan);
	calc_policy_inc_free(g->inc);
	calc_cache_free(g->c);
	kernel_clear(g->k);
	strbuf_done(&g->k->log);
	free(g->k);
}

/* One calc update and one commit; returns the batch log. */
static const char *step(struct rig *g, unsigned n)
{
	struct calc_policy_update up;
	struct parse_err perr = {0};
	char err[512];
	assert_int_equal(calc_policy_inc_update(g->inc, g->c, &up, &perr), 0);
	g->policies_changed = up.policies_changed;
	const struct calc_policy *cp = calc_policy_inc_get(g->inc);
	assert_int_equal(nft_plan_note(g->plan, cp, &up), 0);
	strbuf_reset(&g->k->log);
	int r = nft_plan_commit(g->plan, cp, &g->res, err, sizeof(err));
	if (r < 0) {
		fail_msg("step %u: commit %d: %s", n, r, err);
	}
	kernel_equals(g->k, cp, n);
	return strbuf_cstr(&g->k->log);
}

static size_t count_lines(const char *log, const char *prefix)
{
	size_t n = 0;
	for (const char *l = log; l && *l; l = strchr(l, '\n') + 1) {
		n += strncmp(l, prefix, strlen(prefix)) == 0;
		if (!strchr(l, '\n')) {
			break;
		}
	}
	return n;
}

static void test_single_changes(void **state)
{
	struct rig g;
	const char *log;

	rig_init(&g);
	/* p0 selects app == 'web' (ingress from role == 'r0'); p1 all() */
	policy(g.c, g.inc, 0, 1, 2, 8080);
	policy(g.c, g.inc, 1, 0, 3, 443);
	for (unsigned i = 0; i < 6; i++) {
		wep(g.c, g.inc, i, i < 4, i, 10 + i);
	}
	log = step(&g, 0);
	assert_true(g.res.replace);
	assert_int_equal(count_lines(log, "table-del"), 1);

	/* a new local endpoint in no set of its own (labels {}) selected by p1 only (all()):
	 * its two chains, two map elements, its wl-ifaces element; p1 and its sets exist */
	wep(g.c, g.inc, 20, true, 0, 40);
	log = step(&g, 1);
	assert_false(g.res.replace);
	assert_int_equal(count_lines(log, "chain-add tby-fw-tby00000020"), 1);
	assert_int_equal(count_lines(log, "chain-add tby-tw-tby00000020"), 1);
	assert_int_equal(count_lines(log, "chain-add"), 2);
	assert_int_equal(count_lines(log, "rules-add"), 2);
	assert_int_equal(count_lines(log, "elem-add fw-dispatch"), 1);
	assert_int_equal(count_lines(log, "elem-add tw-dispatch"), 1);
	assert_int_equal(count_lines(log, "elem-add wl-ifaces"), 1);
	assert_int_equal(count_lines(log, "chain-flush"), 0);
	assert_int_equal(count_lines(log, "set-add"), 0);
	assert_int_equal(count_lines(log, "elem-del"), 0);
	assert_int_equal(g.res.chains_written, 2);

	/* a remote endpoint with labels app=web: only set elements */
	wep(g.c, g.inc, 30, false, 1, 50);
	log = step(&g, 2);
	assert_int_equal(count_lines(log, "chain"), 0);
	assert_int_equal(count_lines(log, "rules"), 0);
	assert_true(count_lines(log, "elem-add") > 0);
	assert_int_equal(count_lines(log, "elem-add") + count_lines(log, "elem-del"),
			 g.res.elems_added + g.res.elems_removed);

	/* a policy edit (p0's port): only p0's ingress chain is flushed and refilled */
	policy(g.c, g.inc, 0, 1, 2, 8081);
	log = step(&g, 3);
	assert_true(g.policies_changed);
	assert_false(g.res.replace);
	assert_int_equal(count_lines(log, "chain-flush"), 1);
	assert_int_equal(count_lines(log, "rules-add"), 1);
	char name[NFT_PROG_NAME_MAX];
	const char *f = strstr(log, "chain-flush ");
	assert_non_null(f);
	snprintf(name, sizeof(name), "%.*s", (int)strcspn(f + 12, "\n"), f + 12);
	assert_int_equal(strncmp(name, "tby-pi-", 7), 0);
	char want[256];
	snprintf(want, sizeof(want), "chain-flush %s\nrules-add %s\n", name, name);
	assert_string_equal(log, want);

	/* the local endpoint goes: map and wl-ifaces elements, its address, then its chains */
	del(g.c, g.inc, P "workloadendpoints/a/ep20");
	log = step(&g, 4);
	assert_int_equal(count_lines(log, "chain-flush"), 2);
	assert_int_equal(count_lines(log, "chain-del"), 2);
	assert_int_equal(count_lines(log, "elem-del fw-dispatch"), 1);
	assert_int_equal(count_lines(log, "elem-del tw-dispatch"), 1);
	assert_int_equal(count_lines(log, "elem-del wl-ifaces"), 1);
	assert_int_equal(count_lines(log, "rules-add"), 0);
	assert_true(strstr(log, "elem-del fw-dispatch") < strstr(log, "chain-del"));

	/* the only endpoint p0 selects goes: p0's chains and the sets only p0 used go too */
	del(g.c, g.inc, P "workloadendpoints/a/ep1");
	log = step(&g, 5);
	assert_true(count_lines(log, "chain-del tby-pi-") + count_lines(log, "chain-del tby-pe-") >=
		    1);

	/* nothing changed: nothing sent */
	unsigned b = g.k->batches;
	struct nft_delta_result res;
	char err[128];
	assert_int_equal(
	    nft_plan_commit(g.plan, calc_policy_inc_get(g.inc), &res, err, sizeof(err)), 0);
	assert_true(res.noop);
	assert_int_equal(g.k->batches, b);
	rig_done(&g);
}

static void run_random(uint64_t seed, unsigned steps)
{
	struct rig g;
	unsigned replaces = 0, incremental = 0;
	size_t chains = 0, elems = 0;
	rig_init(&g);
	rng = seed;
	for (unsigned i = 0; i < 4; i++) {
		policy(g.c, g.inc, i, rnd(6), rnd(6), 8000 + rnd(3));
	}
	for (unsigned i = 0; i < 20; i++) {
		wep(g.c, g.inc, i, rnd(2), rnd(4), rnd(30));
	}
	for (unsigned n = 0; n < steps; n++) {
		unsigned op = rnd(100);
		unsigned batch = op < 10 ? 1 + rnd(4) : 1; /* several changes before one commit */
		for (unsigned b = 0; b < batch; b++) {
			op = rnd(100);
			if (op < 50) {
				wep(g.c, g.inc, rnd(30), rnd(2), rnd(4), rnd(30));
			} else if (op < 70) {
				char key[128];
				snprintf(key, sizeof(key), P "workloadendpoints/a/ep%u", rnd(30));
				del(g.c, g.inc, key);
			} else if (op < 85) {
				policy(g.c, g.inc, rnd(6), rnd(6), rnd(6), 8000 + rnd(3));
			} else if (op < 92) {
				char key[128];
				snprintf(key, sizeof(key), P "networkpolicies/a/p%u", rnd(6));
				del(g.c, g.inc, key);
			} else if (op < 96) {
				/* several updates noted before one commit */
				wep(g.c, g.inc, rnd(30), rnd(2), rnd(4), rnd(30));
				struct calc_policy_update up;
				struct parse_err perr = {0};
				assert_int_equal(calc_policy_inc_update(g.inc, g.c, &up, &perr), 0);
				assert_int_equal(
				    nft_plan_note(g.plan, calc_policy_inc_get(g.inc), &up), 0);
			} else if (op < 98) {
				nft_plan_forget(g.plan); /* resync */
			} else {
				calc_policy_inc_invalidate(g.inc);
			}
		}
		(void)step(&g, n);
		if (!g.res.noop) {
			replaces += g.res.replace;
			incremental += !g.res.replace;
			chains += g.res.chains_written + g.res.chains_removed;
			elems += g.res.elems_added + g.res.elems_removed;
		}
	}
	print_message("seed %016llx: %u replaces, %u deltas (%zu chains, %zu elements written or "
		      "removed)\n",
		      (unsigned long long)seed, replaces, incremental, chains, elems);
	/* the sequences must exercise the delta path, not only replaces */
	assert_true(incremental > steps / 2);
	rig_done(&g);
}

static void test_random_sequences(void **state)
{
	for (uint64_t seed = 1; seed <= 12; seed++) {
		run_random(seed * 0x9e3779b97f4a7c15ull, 200);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_single_changes),
	    cmocka_unit_test(test_random_sequences),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
