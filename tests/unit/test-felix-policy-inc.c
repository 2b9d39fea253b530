/* SPDX-License-Identifier: Apache-2.0 */
/*
 * felix/calc/policy-inc.c against the reference calc_policy_compute(), Felix calc-FV style:
 * random sequences of datastore changes (endpoints local and remote with colliding addresses,
 * named ports, host endpoints, policies, network sets that contain endpoint addresses,
 * namespace labels, FelixConfiguration) go through the incremental state one at a time; after
 * every step its result must equal a full recompute of the same cache: every set's members,
 * the rendered nftables script (rulesets, sets, chains), the stats; and the reported member
 * changes applied to the previous members must give the new ones.
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

#include "felix/calc/policy.h"
#include "lib/strbuf.h"

#define P "/tabby/v1/"

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
	if (s) {
		assert_true(calc_policy_inc_note_key(s, key));
	}
}

static void del(struct calc_cache *c, struct calc_policy_inc *s, const char *key)
{
	(void)calc_cache_delete(c, key);
	assert_true(calc_policy_inc_note_key(s, key));
}

#define N_WEPS 40
#define N_HEPS 3
#define N_POLS 6
#define N_NETSETS 3

static const char *const label_sets[] = {
    "{}",
    "{\"app\":\"web\"}",
    "{\"app\":\"db\",\"role\":\"r0\"}",
    "{\"app\":\"cache\",\"role\":\"r1\"}",
    "{\"role\":\"r0\"}",
    "{\"app\":\"web\",\"role\":\"r1\"}",
};

static const char *const selectors[] = {
    "all()",	   "app == 'web'",	   "role == 'r0'", "has(app)",
    "app != 'db'", "role in {'r0', 'r1'}", "!has(role)",   "pcns.team == 'x'",
};

static void random_wep(struct calc_cache *c, struct calc_policy_inc *s, unsigned i)
{
	const char *ns = i % 2 ? "a" : "b";
	char key[256], ips[160], ports[200], v[2048];
	bool local = rnd(3) == 0;

	snprintf(key, sizeof(key), P "workloadendpoints/%s/ep%u", ns, i);
	/* Few addresses, so endpoints share them (IP reuse); some dual-stack, some none. */
	switch (rnd(6)) {
	case 0:
		snprintf(ips, sizeof(ips), "[]");
		break;
	case 1:
		snprintf(ips, sizeof(ips), "[\"198.19.0.%u/32\",\"2001:db8::%x/128\"]", 1 + rnd(20),
			 1 + rnd(8));
		break;
	case 2:
		snprintf(ips, sizeof(ips), "[\"198.19.0.%u/32\",\"198.19.0.%u/32\"]", 1 + rnd(20),
			 1 + rnd(20));
		break;
	default:
		snprintf(ips, sizeof(ips), "[\"198.19.0.%u/32\"]", 1 + rnd(20));
		break;
	}
	switch (rnd(4)) {
	case 0:
		snprintf(ports, sizeof(ports), "[]");
		break;
	case 1:
		snprintf(ports, sizeof(ports),
			 "[{\"name\":\"http\",\"protocol\":\"TCP\",\"port\":%u}]", 80 + rnd(2));
		break;
	case 2:
		snprintf(ports, sizeof(ports),
			 "[{\"name\":\"http\",\"protocol\":\"TCP\",\"port\":8080},"
			 "{\"name\":\"dns\",\"protocol\":\"UDP\",\"port\":53}]");
		break;
	default:
		snprintf(ports, sizeof(ports),
			 "[{\"name\":\"dns\",\"protocol\":\"UDP\",\"port\":53}]");
		break;
	}
	snprintf(v, sizeof(v),
		 "{\"apiVersion\":\"projectcalico.org/v3\",\"kind\":\"WorkloadEndpoint\","
		 "\"metadata\":{\"name\":\"ep%u\",\"namespace\":\"%s\",\"labels\":%s},"
		 "\"spec\":{\"orchestrator\":\"cni\",\"node\":\"%s\",\"containerID\":\"c%u\","
		 "\"endpoint\":\"eth0\",\"interfaceName\":\"%s%08u\",\"ipNetworks\":%s,"
		 "\"ports\":%s%s}}",
		 i, ns, label_sets[rnd(ELEMENTSOF(label_sets))], local ? "h1" : "h2", i,
		 rnd(5) == 0 ? "eth" : "tby", i, ips, ports,
		 rnd(4) == 0 ? ",\"profiles\":[\"prof\"]" : "");
	put(c, s, key, v);
}

static void random_hep(struct calc_cache *c, struct calc_policy_inc *s, unsigned i)
{
	char key[128], v[1024];

	snprintf(key, sizeof(key), P "hostendpoints/hep%u", i);
	snprintf(v, sizeof(v),
		 "{\"apiVersion\":\"projectcalico.org/v3\",\"kind\":\"HostEndpoint\","
		 "\"metadata\":{\"name\":\"hep%u\",\"labels\":%s},\"spec\":{\"node\":\"%s\","
		 "\"interfaceName\":\"%s\",\"expectedIPs\":[\"198.18.0.%u\"]}}",
		 i, label_sets[rnd(ELEMENTSOF(label_sets))], rnd(2) ? "h1" : "h2",
		 i == 0	  ? "*"
		 : i == 1 ? "eth1"
			  : "eth2",
		 1 + rnd(4));
	put(c, s, key, v);
}

static void random_policy(struct calc_cache *c, struct calc_policy_inc *s, unsigned i)
{
	char key[128], v[2048];
	bool global = i % 2;

	if (global) {
		snprintf(key, sizeof(key), P "globalnetworkpolicies/g%u", i);
	} else {
		snprintf(key, sizeof(key), P "networkpolicies/a/p%u", i);
	}
	snprintf(v, sizeof(v),
		 "{\"apiVersion\":\"projectcalico.org/v3\",\"kind\":\"%s\",\"metadata\":"
		 "{\"name\":\"%s%u\"%s},\"spec\":{\"order\":%u,\"selector\":\"%s\","
		 "\"ingress\":[{\"action\":\"Allow\",\"protocol\":\"TCP\",\"source\":"
		 "{\"selector\":\"%s\"},\"destination\":{\"ports\":[\"http\"]}},"
		 "{\"action\":\"Deny\",\"protocol\":\"UDP\",\"source\":{\"notSelector\":\"%s\"},"
		 "\"destination\":{\"ports\":[\"dns\",53]}}],"
		 "\"egress\":[{\"action\":\"Allow\",\"destination\":{\"selector\":\"%s\"}},"
		 "{\"action\":\"Allow\",\"destination\":{\"nets\":[\"198.18.%u.0/24\"]}}]}}",
		 global ? "GlobalNetworkPolicy" : "NetworkPolicy", global ? "g" : "p", i,
		 global ? "" : ",\"namespace\":\"a\"", rnd(3) * 10,
		 selectors[rnd(ELEMENTSOF(selectors))], selectors[rnd(ELEMENTSOF(selectors))],
		 selectors[rnd(ELEMENTSOF(selectors))], selectors[rnd(ELEMENTSOF(selectors))],
		 rnd(3));
	put(c, s, key, v);
}

static void random_netset(struct calc_cache *c, struct calc_policy_inc *s, unsigned i)
{
	char key[128], v[1024];
	bool global = i % 2;

	if (global) {
		snprintf(key, sizeof(key), P "globalnetworksets/gs%u", i);
	} else {
		snprintf(key, sizeof(key), P "networksets/a/ns%u", i);
	}
	/* 198.19.0.0/28 covers endpoint addresses 1..15: those members are hidden. */
	snprintf(v, sizeof(v),
		 "{\"apiVersion\":\"projectcalico.org/v3\",\"kind\":\"%s\",\"metadata\":"
		 "{\"name\":\"%s%u\"%s,\"labels\":%s},\"spec\":{\"nets\":[\"198.19.0.%u/%u\","
		 "\"198.18.9.0/24\"]}}",
		 global ? "GlobalNetworkSet" : "NetworkSet", global ? "gs" : "ns", i,
		 global ? "" : ",\"namespace\":\"a\"", label_sets[rnd(ELEMENTSOF(label_sets))],
		 rnd(2) ? 0 : 16, rnd(2) ? 28 : 29);
	put(c, s, key, v);
}

static void random_namespace(struct calc_cache *c, struct calc_policy_inc *s)
{
	char key[128], v[512];
	const char *ns = rnd(2) ? "a" : "b";

	snprintf(key, sizeof(key), P "namespaces/%s", ns);
	snprintf(v, sizeof(v),
		 "{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{\"name\":\"%s\","
		 "\"labels\":{\"team\":\"%s\"}}}",
		 ns, rnd(2) ? "x" : "y");
	put(c, s, key, v);
}

static void put_profile(struct calc_cache *c, struct calc_policy_inc *s)
{
	put(c, s, P "profiles/prof",
	    "{\"apiVersion\":\"projectcalico.org/v3\",\"kind\":\"Profile\",\"metadata\":"
	    "{\"name\":\"prof\"},\"spec\":{\"ingress\":[{\"action\":\"Allow\",\"source\":"
	    "{\"selector\":\"app == 'cache'\"}}],\"egress\":[{\"action\":\"Allow\"}]}}");
}

/* A deep copy of members, to apply reported changes to. */
struct copy {
	struct acl_member **items;
	size_t *n, *cap;
	size_t n_sets;
};

static void copy_done(struct copy *x)
{
	for (size_t i = 0; i < x->n_sets; i++) {
		free(x->items[i]);
	}
	free(x->items);
	free(x->n);
	free(x->cap);
	*x = (struct copy){0};
}

static void copy_of(const struct acl_members *m, struct copy *x)
{
	x->n_sets = m->n_sets;
	x->items = calloc(m->n_sets + 1, sizeof(*x->items));
	x->n = calloc(m->n_sets + 1, sizeof(*x->n));
	x->cap = calloc(m->n_sets + 1, sizeof(*x->cap));
	assert_non_null(x->items);
	for (size_t i = 0; i < m->n_sets; i++) {
		x->cap[i] = m->sets[i].n + 64;
		x->items[i] = calloc(x->cap[i], sizeof(struct acl_member));
		assert_non_null(x->items[i]);
		/* an empty set may have no array (items == NULL): memcpy(dst, NULL, 0) is undefined
		 * (C17 7.24.1p2, UBSan: "null pointer passed as argument 2") */
		if (m->sets[i].n > 0)
			memcpy(x->items[i], m->sets[i].items,
			       m->sets[i].n * sizeof(struct acl_member));
		x->n[i] = m->sets[i].n;
	}
}

static void copy_apply(struct copy *x, const struct calc_policy_change *ch)
{
	size_t s = ch->set, pos = 0;

	assert_true(s < x->n_sets);
	while (pos < x->n[s] && acl_member_cmp(&x->items[s][pos], &ch->m) < 0) {
		pos++;
	}
	bool found = pos < x->n[s] && acl_member_cmp(&x->items[s][pos], &ch->m) == 0;
	if (ch->add) {
		assert_false(found); /* a reported addition was not a member before */
		if (x->n[s] == x->cap[s]) {
			x->cap[s] *= 2;
			x->items[s] = realloc(x->items[s], x->cap[s] * sizeof(struct acl_member));
			assert_non_null(x->items[s]);
		}
		memmove(&x->items[s][pos + 1], &x->items[s][pos],
			(x->n[s] - pos) * sizeof(struct acl_member));
		x->items[s][pos] = ch->m;
		x->n[s]++;
	} else {
		assert_true(found); /* a reported removal was a member */
		memmove(&x->items[s][pos], &x->items[s][pos + 1],
			(x->n[s] - pos - 1) * sizeof(struct acl_member));
		x->n[s]--;
	}
}

static void members_equal(const struct acl_members *a, const struct acl_members *b, unsigned step)
{
	if (a->n_sets != b->n_sets) {
		fail_msg("step %u: %zu sets vs %zu", step, a->n_sets, b->n_sets);
	}
	for (size_t i = 0; i < a->n_sets; i++) {
		if (a->sets[i].n != b->sets[i].n) {
			fail_msg("step %u: set %zu has %zu members, reference %zu", step, i,
				 a->sets[i].n, b->sets[i].n);
		}
		for (size_t k = 0; k < a->sets[i].n; k++) {
			assert_int_equal(acl_member_cmp(&a->sets[i].items[k], &b->sets[i].items[k]),
					 0);
		}
	}
}

static void copy_equal(const struct copy *x, const struct acl_members *m, unsigned step)
{
	assert_int_equal(x->n_sets, m->n_sets);
	for (size_t i = 0; i < m->n_sets; i++) {
		if (x->n[i] != m->sets[i].n) {
			fail_msg("step %u: changes applied give %zu members in set %zu, not %zu",
				 step, x->n[i], i, m->sets[i].n);
		}
		for (size_t k = 0; k < x->n[i]; k++) {
			assert_int_equal(acl_member_cmp(&x->items[i][k], &m->sets[i].items[k]), 0);
		}
	}
}

/* The script with no set elements: what the rulesets and the index decide. */
static void render_chains(const struct calc_policy *p, struct strbuf *out)
{
	struct acl_members empty = {.n_sets = p->idx->n_sets};
	empty.sets = calloc(p->idx->n_sets + 1, sizeof(*empty.sets));
	assert_non_null(empty.sets);
	struct acl_render_input in = calc_policy_render_input(p);
	in.members = &empty;
	assert_int_equal(acl_render_nft(&in, out), 0);
	free(empty.sets);
}

static void render(const struct calc_policy *p, struct strbuf *out)
{
	struct acl_render_input in = calc_policy_render_input(p);
	assert_int_equal(acl_render_nft(&in, out), 0);
}

static unsigned policy_incremental; /* updates that took a new index without a full pass */

static void run_sequence(uint64_t seed, unsigned steps, unsigned *ret_incremental)
{
	_cleanup_(calc_cache_freep) struct calc_cache *c = NULL;
	_cleanup_(calc_policy_inc_freep) struct calc_policy_inc *s = NULL;
	struct calc_policy_options o = {.node_name = "h1"};
	struct calc_policy prev = {0};
	bool have_prev = false;
	unsigned incremental = 0;

	rng = seed;
	assert_int_equal(calc_cache_new(&c), 0);
	assert_int_equal(calc_policy_inc_new(&o, &s), 0);
	put(c, NULL, P "namespaces/a",
	    "{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{\"name\":\"a\","
	    "\"labels\":{\"team\":\"x\"}}}");
	put_profile(c, NULL);
	for (unsigned i = 0; i < N_WEPS; i++) {
		if (rnd(2)) {
			random_wep(c, s, i);
		}
	}
	for (unsigned i = 0; i < N_POLS / 2; i++) {
		random_policy(c, s, i);
	}

	for (unsigned step = 0; step < steps; step++) {
		unsigned op = rnd(100);
		if (step == 0) {
			op = 99; /* the first update is full anyway */
		} else if (op < 55) {
			random_wep(c, s, rnd(N_WEPS));
		} else if (op < 70) {
			char key[128];
			unsigned i = rnd(N_WEPS);
			snprintf(key, sizeof(key), P "workloadendpoints/%s/ep%u", i % 2 ? "a" : "b",
				 i);
			del(c, s, key);
		} else if (op < 74) {
			/* a batch: several endpoints before one update */
			for (unsigned k = 0, n = 2 + rnd(6); k < n; k++) {
				random_wep(c, s, rnd(N_WEPS));
			}
		} else if (op < 80) {
			random_hep(c, s, rnd(N_HEPS));
		} else if (op < 83) {
			char key[128];
			snprintf(key, sizeof(key), P "hostendpoints/hep%u", rnd(N_HEPS));
			del(c, s, key);
		} else if (op < 88) {
			random_policy(c, s, rnd(N_POLS));
		} else if (op < 90) {
			char key[128];
			unsigned i = rnd(N_POLS);
			if (i % 2) {
				snprintf(key, sizeof(key), P "globalnetworkpolicies/g%u", i);
			} else {
				snprintf(key, sizeof(key), P "networkpolicies/a/p%u", i);
			}
			del(c, s, key);
		} else if (op < 94) {
			random_netset(c, s, rnd(N_NETSETS));
		} else if (op < 96) {
			random_namespace(c, s);
		} else if (op < 98) {
			/* a key policy does not read */
			assert_false(calc_policy_inc_note_key(s, P "ippools/x"));
			random_wep(c, s, rnd(N_WEPS));
		} else {
			calc_policy_inc_invalidate(s);
		}

		struct calc_policy_update up = {0};
		struct parse_err err = {0};
		int r = calc_policy_inc_update(s, c, &up, &err);
		if (r < 0) {
			char msg[512];
			fail_msg("seed %llu step %u: update: %d %s", (unsigned long long)seed, step,
				 r, parse_err_format(&err, msg, sizeof(msg)));
		}
		const struct calc_policy *got = calc_policy_inc_get(s);
		assert_non_null(got);
		struct calc_policy ref = {0};
		assert_int_equal(calc_policy_compute(c, &o, &ref, &err), 0);

		members_equal(got->members, ref.members, step);
		assert_memory_equal(&got->stats, &ref.stats, sizeof(ref.stats));
		assert_int_equal(got->n_rulesets, ref.n_rulesets);
		for (size_t i = 0; i < ref.n_rulesets; i++) {
			assert_string_equal(got->rulesets[i]->name, ref.rulesets[i]->name);
		}
		_cleanup_strbuf_ struct strbuf a = {0}, b = {0};
		render(got, &a);
		render(&ref, &b);
		assert_string_equal(strbuf_cstr(&a), strbuf_cstr(&b));

		if (!up.full) {
			incremental++;
			policy_incremental += up.policies_changed;
			assert_true(!up.policies_changed || up.rulesets_changed);
			assert_true(have_prev);
			struct copy x = {0};
			copy_of(prev.members, &x);
			for (size_t i = 0; i < up.n_changes; i++) {
				if (i) { /* sorted, unique */
					assert_true(up.changes[i - 1].set < up.changes[i].set ||
						    (up.changes[i - 1].set == up.changes[i].set &&
						     acl_member_cmp(&up.changes[i - 1].m,
								    &up.changes[i].m) < 0));
				}
				copy_apply(&x, &up.changes[i]);
			}
			copy_equal(&x, ref.members, step);
			copy_done(&x);
			if (!up.rulesets_changed) {
				_cleanup_strbuf_ struct strbuf pa = {0}, pb = {0};
				render_chains(&prev, &pa);
				render_chains(&ref, &pb);
				assert_string_equal(strbuf_cstr(&pa), strbuf_cstr(&pb));
			}
		}
		if (have_prev) {
			calc_policy_done(&prev);
		}
		prev = ref;
		have_prev = true;
	}
	calc_policy_done(&prev);
	*ret_incremental += incremental;
}

static void test_random_sequences(void **state)
{
	unsigned incremental = 0;

	for (uint64_t seed = 1; seed <= 12; seed++) {
		run_sequence(seed * 0x9e3779b97f4a7c15ull, 250, &incremental);
	}
	/* Most steps must have taken the incremental path, or the test proves little; and some
	 * policy edits must have kept their sets (the policy pass, checked against the reference
	 * like every other step). */
	assert_true(incremental > 12 * 250 / 2);
	assert_true(policy_incremental > 12);
}

/* A policy edit that keeps every set (ports, action, order, the policy's own selector) takes
 * a new index without a full pass; one with a new rule selector is a full pass. Both agree
 * with the reference. */
static void put_gnp(struct calc_cache *c, struct calc_policy_inc *s, unsigned order,
		    const char *sel, const char *src, unsigned port)
{
	char v[1024];
	snprintf(v, sizeof(v),
		 "{\"apiVersion\":\"projectcalico.org/v3\",\"kind\":\"GlobalNetworkPolicy\","
		 "\"metadata\":{\"name\":\"g\"},\"spec\":{\"order\":%u,\"selector\":\"%s\","
		 "\"ingress\":[{\"action\":\"Allow\",\"protocol\":\"TCP\",\"source\":"
		 "{\"selector\":\"%s\"},\"destination\":{\"ports\":[%u]}}]}}",
		 order, sel, src, port);
	put(c, s, P "globalnetworkpolicies/g", v);
}

static void test_policy_edit(void **state)
{
	_cleanup_(calc_cache_freep) struct calc_cache *c = NULL;
	_cleanup_(calc_policy_inc_freep) struct calc_policy_inc *s = NULL;
	struct calc_policy_options o = {.node_name = "h1"};
	struct calc_policy_update up;
	struct parse_err err = {0};

	rng = 7;
	assert_int_equal(calc_cache_new(&c), 0);
	assert_int_equal(calc_policy_inc_new(&o, &s), 0);
	for (unsigned i = 0; i < 12; i++) {
		random_wep(c, s, i);
	}
	put_gnp(c, s, 10, "all()", "app == 'web'", 80);
	assert_int_equal(calc_policy_inc_update(s, c, &up, &err), 0);
	assert_true(up.full);

	struct {
		unsigned order;
		const char *sel, *src;
		unsigned port;
		bool full;
	} steps[] = {
	    {10, "all()", "app == 'web'", 8080, false},	   /* a port */
	    {20, "all()", "app == 'web'", 8080, false},	   /* the order */
	    {20, "has(app)", "app == 'web'", 8080, false}, /* the policy's own selector */
	    {20, "has(app)", "app == 'db'", 8080, true},   /* a new set */
	};
	/* A port edit alone: every local endpoint calls the same chain as before and keeps its
	 * ruleset object (nft-plan.c restages an endpoint only when its object changes). */
	const struct calc_policy *before = calc_policy_inc_get(s);
	size_t n_rs = before->n_rulesets;
	const struct acl_ruleset **kept = calloc(n_rs + 1, sizeof(*kept));
	assert_non_null(kept);
	assert_true(n_rs > 0);
	memcpy(kept, before->rulesets, n_rs * sizeof(*kept));
	put_gnp(c, s, 10, "all()", "app == 'web'", 81);
	assert_int_equal(calc_policy_inc_update(s, c, &up, &err), 0);
	assert_false(up.full);
	assert_true(up.policies_changed);
	const struct calc_policy *after = calc_policy_inc_get(s);
	assert_int_equal(after->n_rulesets, n_rs);
	for (size_t i = 0; i < n_rs; i++) {
		assert_ptr_equal(after->rulesets[i], kept[i]);
	}
	free(kept);

	for (size_t k = 0; k < ELEMENTSOF(steps); k++) {
		put_gnp(c, s, steps[k].order, steps[k].sel, steps[k].src, steps[k].port);
		random_wep(c, s, (unsigned)k); /* an endpoint in the same update */
		assert_int_equal(calc_policy_inc_update(s, c, &up, &err), 0);
		assert_int_equal(up.full, steps[k].full);
		assert_int_equal(up.policies_changed, !steps[k].full);
		struct calc_policy ref = {0};
		assert_int_equal(calc_policy_compute(c, &o, &ref, &err), 0);
		const struct calc_policy *got = calc_policy_inc_get(s);
		members_equal(got->members, ref.members, (unsigned)k);
		_cleanup_strbuf_ struct strbuf a = {0}, b = {0};
		render(got, &a);
		render(&ref, &b);
		assert_string_equal(strbuf_cstr(&a), strbuf_cstr(&b));
		calc_policy_done(&ref);
	}
}

/* An error leaves no state behind; the next update is full and matches the reference. */
static void test_error_then_recover(void **state)
{
	_cleanup_(calc_cache_freep) struct calc_cache *c = NULL;
	_cleanup_(calc_policy_inc_freep) struct calc_policy_inc *s = NULL;
	struct calc_policy_options o = {.node_name = "h1"};
	struct calc_policy_update up;
	struct parse_err err = {0};
	char msg[512];

	rng = 42;
	assert_int_equal(calc_cache_new(&c), 0);
	assert_int_equal(calc_policy_inc_new(&o, &s), 0);
	random_policy(c, s, 0);
	random_wep(c, s, 1);
	assert_int_equal(calc_policy_inc_update(s, c, &up, &err), 0);
	assert_true(up.full);
	random_wep(c, s, 2);
	assert_int_equal(calc_policy_inc_update(s, c, &up, &err), 0);
	assert_false(up.full);

	/* A local host endpoint that cannot be rendered fails both paths alike. */
	put(c, s, P "hostendpoints/broken",
	    "{\"apiVersion\":\"projectcalico.org/v3\",\"kind\":\"HostEndpoint\",\"metadata\":"
	    "{\"name\":\"broken\"},\"spec\":{\"node\":\"h1\",\"interfaceName\":\"eth+\"}}");
	assert_int_equal(calc_policy_inc_update(s, c, &up, &err), -EINVAL);
	assert_non_null(strstr(parse_err_format(&err, msg, sizeof(msg)), "HostEndpoint broken"));
	assert_null(calc_policy_inc_get(s));
	assert_int_equal(calc_policy_inc_update(s, c, &up, &err), -EINVAL); /* full: same */
	del(c, s, P "hostendpoints/broken");
	assert_int_equal(calc_policy_inc_update(s, c, &up, &err), 0);
	assert_true(up.full);
	assert_non_null(calc_policy_inc_get(s));
	assert_int_equal(calc_policy_inc_update(s, c, &up, &err), 0); /* nothing pending */
	assert_false(up.full);
	assert_int_equal(up.n_changes, 0);
	assert_false(up.rulesets_changed);
	struct calc_policy_inc *t = NULL;
	assert_int_equal(calc_policy_inc_new(&(struct calc_policy_options){0}, &t), -EINVAL);
	assert_null(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_random_sequences),
	    cmocka_unit_test(test_policy_edit),
	    cmocka_unit_test(test_error_then_recover),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
