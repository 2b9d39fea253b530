/* SPDX-License-Identifier: Apache-2.0 */
/* Policy compiler + renderers: golden cases built from C structs (tests/golden/acl/<case>/
 * expected.nft, expected.ipt, expected.ipset, and for IPv6 expected.ip6t, expected.ipset6;
 * UPDATE_GOLDEN=1 rewrites them), each with
 * acl_explain() verdicts that pin the semantics, plus determinism (input order does not change
 * a byte), tier/policy ordering, set sharing and set membership.
 * The golden files are loaded by the real tools in tests/integration/acl-render.t.
 * TODO(lead): switch the inputs to tests/golden/acl/<case>/input.yaml once model_decode()
 * handles the policy kinds. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "acl/acl.h"
#include "lib/array.h"

/* ---- fixture: a small cluster seen from host h1 ---- */

static struct model_labels L(const char *kv) {
	struct model_labels l = {0};
	char *copy = strdup(kv), *save = NULL;

	assert_non_null(copy);
	for (char *p = strtok_r(copy, ",", &save); p; p = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(p, '=');

		assert_non_null(eq);
		*eq = '\0';
		assert_int_equal(model_labels_set(&l, p, eq + 1), 0);
	}
	free(copy);
	return l;
}

static struct ip_addr
A(const char *s) {
	struct ip_addr a;

	assert_int_equal(ip_addr_parse(s, &a), 0);
	return a;
}

static struct ip_prefix
P(const char *s) {
	struct ip_prefix p;

	assert_int_equal(ip_prefix_parse(s, true, &p), 0);
	return p;
}

struct fixture {
	struct model_labels ns_prod, ns_dev;
	struct model_labels web, db, client, api, remote_web, ext, host;
	struct ip_addr a_web[2], a_db[1], a_client[1], a_api[1], a_rweb[1], a_host[1];
	struct ip_prefix ext_nets[2];
	struct model_named_port web_ports[1], api_ports[1];
	struct acl_endpoint eps[6]; /* 0..2 local workloads, 3..4 remote, 5 local host endpoint */
	struct acl_netset netsets[1];
};

static struct fixture F;

static int setup(void **state)
{
	memset(&F, 0, sizeof(F));
	F.ns_prod = L("env=production");
	F.ns_dev = L("env=dev");
	F.web = L("app=web,tier=frontend");
	F.db = L("app=db");
	F.client = L("app=client");
	F.api = L("app=api,projectcalico.org/serviceaccount=frontend,pcsa.team=a");
	F.remote_web = L("app=web");
	F.ext = L("role=external");
	F.host = L("host-endpoint=ingress");
	F.a_web[0] = A("198.19.0.2");
	F.a_web[1] = A("2001:db8:19::2");
	F.a_db[0] = A("198.19.0.3");
	F.a_client[0] = A("198.19.0.4");
	F.a_api[0] = A("198.19.1.10");
	F.a_rweb[0] = A("198.19.1.11");
	F.a_host[0] = A("198.18.0.11");
	F.ext_nets[0] = P("198.18.100.0/24");
	F.ext_nets[1] = P("198.18.100.128/25"); /* inside the first: merged away */
	F.web_ports[0] = (struct model_named_port){
	    .name = "http", .protocol = {.set = true, .number = 6}, .port = 8080};
	F.api_ports[0] = (struct model_named_port){
	    .name = "http", .protocol = {.set = true, .number = 6}, .port = 9090};
	F.eps[0] = (struct acl_endpoint){.name = "prod/h1-cni-web-eth0",
					 .namespace = "prod",
					 .labels = &F.web,
					 .namespace_labels = &F.ns_prod,
					 .orchestrator = "cni",
					 .ifname = "tbyweb",
					 .addrs = F.a_web,
					 .n_addrs = 2,
					 .ports = F.web_ports,
					 .n_ports = 1};
	F.eps[1] = (struct acl_endpoint){.name = "prod/h1-cni-db-eth0",
					 .namespace = "prod",
					 .labels = &F.db,
					 .namespace_labels = &F.ns_prod,
					 .orchestrator = "cni",
					 .ifname = "tbydb",
					 .addrs = F.a_db,
					 .n_addrs = 1};
	F.eps[2] = (struct acl_endpoint){.name = "dev/h1-cni-client-eth0",
					 .namespace = "dev",
					 .labels = &F.client,
					 .namespace_labels = &F.ns_dev,
					 .orchestrator = "cni",
					 .ifname = "tbyclient",
					 .addrs = F.a_client,
					 .n_addrs = 1};
	F.eps[3] = (struct acl_endpoint){.name = "prod/h2-cni-api-eth0",
					 .namespace = "prod",
					 .labels = &F.api,
					 .namespace_labels = &F.ns_prod,
					 .addrs = F.a_api,
					 .n_addrs = 1,
					 .ports = F.api_ports,
					 .n_ports = 1};
	F.eps[4] = (struct acl_endpoint){.name = "dev/h2-cni-web-eth0",
					 .namespace = "dev",
					 .labels = &F.remote_web,
					 .namespace_labels = &F.ns_dev,
					 .addrs = F.a_rweb,
					 .n_addrs = 1};
	F.eps[5] = (struct acl_endpoint){.name = "h1-eth0",
					 .labels = &F.host,
					 .ifname = "eth0",
					 .addrs = F.a_host,
					 .n_addrs = 1,
					 .host = true};
	F.netsets[0] = (struct acl_netset){.labels = &F.ext, .nets = F.ext_nets, .n_nets = 2};
	return 0;
}

static int teardown(void **state)
{
	struct model_labels *all[] = {&F.ns_prod, &F.ns_dev,	 &F.web, &F.db,	 &F.client,
				      &F.api,	  &F.remote_web, &F.ext, &F.host};

	for (size_t i = 0; i < ELEMENTSOF(all); i++)
		model_labels_done(all[i]);
	return 0;
}

/* ---- policy builders ---- */

#define RES_NP(ns, nm, ...)                                                  \
	(&(struct model_resource){.kind = MODEL_KIND_NETWORK_POLICY,         \
				  .meta = {.name = (nm), .namespace = (ns)}, \
				  .policy = {__VA_ARGS__}})
#define RES_GNP(nm, ...)                                                    \
	(&(struct model_resource){.kind = MODEL_KIND_GLOBAL_NETWORK_POLICY, \
				  .meta = {.name = (nm)},                   \
				  .policy = {__VA_ARGS__}})
#define RULES(...) ((struct model_rule[]){__VA_ARGS__})
#define NRULES(...) (sizeof((struct model_rule[]){__VA_ARGS__}) / sizeof(struct model_rule))
#define INGRESS(...) \
	.types_ingress = true, .ingress = RULES(__VA_ARGS__), .n_ingress = NRULES(__VA_ARGS__)
#define EGRESS(...) \
	.types_egress = true, .egress = RULES(__VA_ARGS__), .n_egress = NRULES(__VA_ARGS__)
#define TCP .protocol = {.set = true, .number = 6}
#define ORDER(x) .has_order = true, .order = (x)

struct case_in {
	const char *name;
	struct model_resource **policies;
	size_t n_policies;
	struct model_resource **tiers;
	size_t n_tiers;
	struct model_resource **profiles;
	size_t n_profiles;
	const struct acl_host_config *host;
	bool with_host_endpoint;
};

struct built {
	struct acl_index *idx;
	struct acl_members *m;
	struct acl_ruleset *rs[4]; /* web, db, client, host endpoint */
	size_t n_rs;
};

static void built_done(struct built *b)
{
	for (size_t i = 0; i < b->n_rs; i++)
		acl_ruleset_free(b->rs[i]);
	acl_members_free(b->m);
	acl_index_free(b->idx);
	memset(b, 0, sizeof(*b));
}

/* As build(), with struct acl_policy_set.prev = @prev (NULL: none) and .unchanged = @unchanged
 * (one per policy of @c). */
static void build_prev(const struct case_in *c, struct built *b, const struct acl_index *prev,
		       const bool *unchanged)
{
	struct acl_policy_set ps = {.policies = c->policies,
				    .n_policies = c->n_policies,
				    .tiers = c->tiers,
				    .n_tiers = c->n_tiers,
				    .profiles = c->profiles,
				    .n_profiles = c->n_profiles,
				    .prev = prev,
				    .unchanged = unchanged};
	struct parse_err err = {0};
	size_t locals[] = {0, 1, 2, 5};
	int r;

	memset(b, 0, sizeof(*b));
	r = acl_index_new(&ps, &b->idx, &err);
	if (r < 0)
		fail_msg("%s: acl_index_new: %d %s: %s", c->name, r, err.field, err.msg);
	assert_int_equal(acl_set_members(b->idx, F.eps, ELEMENTSOF(F.eps), F.netsets,
					 ELEMENTSOF(F.netsets), &b->m),
			 0);
	for (size_t i = 0; i < ELEMENTSOF(locals); i++) {
		if (locals[i] == 5 && !c->with_host_endpoint)
			continue;
		assert_int_equal(acl_compile(b->idx, &F.eps[locals[i]], &b->rs[b->n_rs]), 0);
		b->n_rs++;
	}
}

static void build(const struct case_in *c, struct built *b)
{
	build_prev(c, b, NULL, NULL);
}

/* ---- golden files ---- */

static char *read_file(const char *path)
{
	FILE *f = fopen(path, "re");
	struct strbuf sb = {0};
	char buf[4096];
	size_t n;

	if (!f)
		return NULL;
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		assert_int_equal(strbuf_append(&sb, buf, n), 0);
	fclose(f);
	return strbuf_steal(&sb);
}

static void check_golden(const char *name, const char *file, const char *text)
{
	char path[512];
	char *want;

	snprintf(path, sizeof(path), "%s/tests/golden/acl/%s", TABBY_SOURCE_DIR, name);
	if (getenv("UPDATE_GOLDEN")) {
		FILE *f;

		snprintf(path, sizeof(path), "%s/tests/golden/acl", TABBY_SOURCE_DIR);
		mkdir(path, 0755);
		snprintf(path, sizeof(path), "%s/tests/golden/acl/%s", TABBY_SOURCE_DIR, name);
		mkdir(path, 0755);
		snprintf(path, sizeof(path), "%s/tests/golden/acl/%s/%s", TABBY_SOURCE_DIR, name,
			 file);
		f = fopen(path, "we");
		assert_non_null(f);
		assert_true(fputs(text, f) >= 0);
		assert_int_equal(fclose(f), 0);
		return;
	}
	snprintf(path, sizeof(path), "%s/tests/golden/acl/%s/%s", TABBY_SOURCE_DIR, name, file);
	want = read_file(path);
	if (!want)
		fail_msg("missing golden file %s (run with UPDATE_GOLDEN=1)", path);
	if (strcmp(want, text) != 0) {
		fprintf(stderr, "--- %s\n+++ rendered\n%s", path, text);
		free(want);
		fail_msg("%s differs from the rendered text", path);
	}
	free(want);
}

/* Renders nft, iptables (IPv4) and ip6tables (IPv6) text with their ipset scripts:
 * out[0] nft, out[1] ipt, out[2] ipset, out[3] ip6t, out[4] ipset6. */
#define N_RENDER 5
static const char *const render_files[N_RENDER] = {"expected.nft", "expected.ipt", "expected.ipset",
						   "expected.ip6t", "expected.ipset6"};

/* ---- acl_ipt_keep: equal fingerprints, equal chains ---- */

/* Every endpoint, policy and profile chain any render of these tests produced, with its
 * fingerprint and rules; fp_check() compares each new one with those of the same name. */
struct fp_seen {
	int fam;
	char *name, *text;
	uint64_t fp;
};
static struct {
	struct fp_seen *v;
	size_t n, cap;
	size_t same_fp; /* pairs with equal fingerprints (their rules compared equal) */
	size_t differ;	/* pairs whose rules differ (their fingerprints compared different) */
	size_t kept;	/* chains a keep-everything render left out */
} FPS;

struct fp_rec {
	struct {
		char name[32];
		uint64_t fp;
	} v[64];
	size_t n;
	bool keep_all;
};

static bool fp_record(void *ctx, const char *chain, uint64_t fp)
{
	struct fp_rec *r = ctx;

	assert_true(r->n < ELEMENTSOF(r->v));
	assert_true(strlen(chain) < sizeof(r->v[0].name));
	strcpy(r->v[r->n].name, chain);
	r->v[r->n++].fp = fp;
	return r->keep_all;
}

/* The "-A @chain " lines of @text, then (for "tby-fw-<if>") those of "tby-as-<if>". */
static char *chain_rules(const char *text, const char *chain)
{
	struct strbuf sb = {0};
	char pat[2][48];
	int n = 1;

	snprintf(pat[0], sizeof(pat[0]), "-A %s ", chain);
	if (strncmp(chain, "tby-fw-", 7) == 0) {
		snprintf(pat[1], sizeof(pat[1]), "-A tby-as-%s ", chain + 7);
		n = 2;
	}
	for (int k = 0; k < n; k++)
		for (const char *p = text; *p;) {
			size_t l = strcspn(p, "\n");
			if (strncmp(p, pat[k], strlen(pat[k])) == 0)
				assert_int_equal(strbuf_append(&sb, p, l + 1), 0);
			p += l + (p[l] == '\n');
		}
	return strbuf_steal(&sb) ?: strdup("");
}

/* The ":" declarations of @text, in order. */
static char *declarations(const char *text)
{
	struct strbuf sb = {0};

	for (const char *p = text; *p;) {
		size_t l = strcspn(p, "\n");
		if (p[0] == ':')
			assert_int_equal(strbuf_append(&sb, p, l + 1), 0);
		p += l + (p[l] == '\n');
	}
	return strbuf_steal(&sb) ?: strdup("");
}

/*
 * @full: acl_render_ipt() of @in in family @fam without keep. Renders it again (1) recording
 * every fingerprint and keeping nothing: the same text; (2) keeping everything: the same
 * declarations, a "#keep" line and no rule for each chain asked about. Then each recorded chain
 * goes into FPS: a chain of the same name and family with the same fingerprint must have the
 * same rules.
 */
static void fp_check(const char *name, struct acl_render_input in, int fam, const char *full)
{
	struct fp_rec rec = {0}, all = {.keep_all = true};
	struct acl_ipt_keep k = {.keep = fp_record, .ctx = &rec};
	struct strbuf t = {0}, ipset = {0}, t2 = {0}, ipset2 = {0};

	in.ipt_keep = &k;
	assert_int_equal(acl_render_ipt(&in, fam, ACL_IPT_HOOKS, &t, &ipset), 0);
	assert_string_equal(strbuf_cstr(&t), full);
	k.ctx = &all;
	assert_int_equal(acl_render_ipt(&in, fam, ACL_IPT_HOOKS, &t2, &ipset2), 0);
	assert_int_equal(all.n, rec.n);
	char *d1 = declarations(full), *d2 = declarations(strbuf_cstr(&t2));
	assert_string_equal(d1, d2);
	free(d1);
	free(d2);
	for (size_t i = 0; i < rec.n; i++) {
		char line[48], *none = chain_rules(strbuf_cstr(&t2), rec.v[i].name);

		assert_string_equal(rec.v[i].name, all.v[i].name);
		assert_true(rec.v[i].fp == all.v[i].fp);
		snprintf(line, sizeof(line), "#keep %s\n", rec.v[i].name);
		assert_non_null(strstr(strbuf_cstr(&t2), line));
		assert_string_equal(none, "");
		free(none);
		FPS.kept++;

		char *rules = chain_rules(full, rec.v[i].name);
		for (size_t j = 0; j < FPS.n; j++) {
			const struct fp_seen *o = &FPS.v[j];

			if (o->fam != fam || strcmp(o->name, rec.v[i].name) != 0)
				continue;
			if (o->fp == rec.v[i].fp) {
				if (strcmp(o->text, rules) != 0)
					fail_msg(
					    "%s: %s has the fingerprint of an earlier render but "
					    "other rules:\n%s---\n%s",
					    name, rec.v[i].name, o->text, rules);
				FPS.same_fp++;
			} else if (strcmp(o->text, rules) != 0) {
				FPS.differ++;
			}
		}
		assert_int_equal(array_grow(&FPS.v, FPS.n + 1, &FPS.cap, sizeof(*FPS.v)), 0);
		FPS.v[FPS.n++] = (struct fp_seen){
		    .fam = fam, .name = strdup(rec.v[i].name), .text = rules, .fp = rec.v[i].fp};
	}
	strbuf_done(&t);
	strbuf_done(&ipset);
	strbuf_done(&t2);
	strbuf_done(&ipset2);
}

static void render_all(const struct case_in *c, const struct built *b, char *out[N_RENDER])
{
	struct acl_render_input in = {.idx = b->idx,
				      .members = b->m,
				      .rulesets = b->rs,
				      .n_rulesets = b->n_rs,
				      .host = c->host};
	struct strbuf s[N_RENDER] = {0};

	assert_int_equal(acl_render_nft(&in, &s[0]), 0);
	assert_int_equal(acl_render_ipt(&in, AF_INET, ACL_IPT_HOOKS, &s[1], &s[2]), 0);
	assert_int_equal(acl_render_ipt(&in, AF_INET6, ACL_IPT_HOOKS, &s[3], &s[4]), 0);
	fp_check(c->name, in, AF_INET, strbuf_cstr(&s[1]));
	fp_check(c->name, in, AF_INET6, strbuf_cstr(&s[3]));
	for (size_t i = 0; i < N_RENDER; i++)
		out[i] = strbuf_steal(&s[i]);
}

/* Renders, compares with the golden files, then rebuilds with the policies, tiers and
 * rulesets in reverse order: the same bytes. */
static void check_case(const struct case_in *c, struct built *b)
{
	char *out[N_RENDER], *out2[N_RENDER];
	struct model_resource *rp[16], *rt[8];
	struct case_in rev = *c;
	struct built b2;

	build(c, b);
	render_all(c, b, out);
	for (size_t i = 0; i < N_RENDER; i++)
		check_golden(c->name, render_files[i], out[i]);
#ifdef TEST_ACL_GOLDEN_HOOK
	/* tests/integration/test-nft-build.c includes this file and loads every case into the
	 * kernel both ways (nft text and libnftnl objects). */
	TEST_ACL_GOLDEN_HOOK(c, b, out[0]);
#endif

	assert_true(c->n_policies <= ELEMENTSOF(rp) && c->n_tiers <= ELEMENTSOF(rt));
	for (size_t i = 0; i < c->n_policies; i++)
		rp[i] = c->policies[c->n_policies - 1 - i];
	for (size_t i = 0; i < c->n_tiers; i++)
		rt[i] = c->tiers[c->n_tiers - 1 - i];
	rev.policies = rp;
	rev.tiers = rt;
	build(&rev, &b2);
	for (size_t i = 0; i < b2.n_rs / 2; i++) {
		struct acl_ruleset *t = b2.rs[i];

		b2.rs[i] = b2.rs[b2.n_rs - 1 - i];
		b2.rs[b2.n_rs - 1 - i] = t;
	}
	render_all(&rev, &b2, out2);
	for (size_t i = 0; i < N_RENDER; i++) {
		assert_string_equal(out[i], out2[i]);
		free(out2[i]);
	}

	/* Policies copied from an earlier index (felix's policy edits), every one or every
	 * second one, give the same bytes; the earlier index is gone before they are rendered
	 * (ASan: the copies own everything). */
	for (int every = 1; every <= 2; every++) {
		bool unchanged[16];
		struct built b3;

		for (size_t i = 0; i < c->n_policies; i++)
			unchanged[i] = i % (size_t)every == 0;
		build_prev(c, &b3, b2.idx, unchanged);
		built_done(&b2);
		render_all(c, &b3, out2);
		for (size_t i = 0; i < N_RENDER; i++) {
			if (strcmp(out[i], out2[i]) != 0)
				fail_msg("%s: %s differs with copied policies (every %d)", c->name,
					 render_files[i], every);
			free(out2[i]);
		}
		for (size_t t = 0; t < b3.idx->n_tiers; t++)
			for (size_t j = 0; j < b->idx->tiers[t].n_policies; j++)
				assert_memory_equal(b3.idx->tiers[t].policies[j]->hash,
						    b->idx->tiers[t].policies[j]->hash,
						    sizeof(b->idx->tiers[t].policies[j]->hash));
		b2 = b3;
	}
	for (size_t i = 0; i < N_RENDER; i++)
		free(out[i]);
	built_done(&b2);
}

/* Renders of @c's index built from scratch and with policies copied from @prev (every one
 * marked unchanged): compared byte for byte. */
static void copied_equal(const struct case_in *c, const struct acl_index *prev)
{
	bool unchanged[16];
	char *a[N_RENDER], *b2[N_RENDER];
	struct built ref, cp;

	assert_true(c->n_policies <= ELEMENTSOF(unchanged));
	for (size_t i = 0; i < c->n_policies; i++)
		unchanged[i] = true;
	build(c, &ref);
	build_prev(c, &cp, prev, unchanged);
	render_all(c, &ref, a);
	render_all(c, &cp, b2);
	for (size_t i = 0; i < N_RENDER; i++) {
		if (strcmp(a[i], b2[i]) != 0)
			fail_msg("%s: %s differs with copied policies", c->name, render_files[i]);
		free(a[i]);
		free(b2[i]);
	}
	built_done(&ref);
	built_done(&cp);
}

/* struct acl_policy_set.prev: a copied policy keeps every field of a rule side (nets, notNets,
 * selector, notSelector, namespaceSelector, ports and notPorts, named ones too), ICMP and
 * notICMP; and a name that occurs twice in the earlier index is never copied (a caller that
 * marks such a policy unchanged still gets what it wrote). */
static void test_copied_policies(void **state)
{
	struct model_port http = {0, 0, "http"}, dns = {0, 0, "dns"};
	struct model_resource *pol[] = {
	    RES_NP(
		"prod", "every-field", .selector = "app == 'web'",
		INGRESS({.action = MODEL_ACTION_ALLOW,
			 TCP,
			 .source = {.nets = (struct ip_prefix[]){P("198.18.0.0/16")},
				    .n_nets = 1,
				    .not_nets = (struct ip_prefix[]){P("198.18.1.0/24")},
				    .n_not_nets = 1,
				    .selector = "role in {'a', 'b'}",
				    .not_selector = "has(quarantine)",
				    .namespace_selector = "team == 'x'",
				    .ports = (struct model_port[]){{1024, 65535, NULL}},
				    .n_ports = 1,
				    .not_ports = (struct model_port[]){{2000, 2001, NULL}},
				    .n_not_ports = 1},
			 .destination =
			     {.ports = &http, .n_ports = 1, .not_ports = &dns, .n_not_ports = 1}},
			{.action = MODEL_ACTION_DENY,
			 .protocol = {.set = true, .number = 1},
			 .icmp = {.set = true, .type = 8, .code = -1},
			 .not_icmp = {.set = true, .type = 8, .code = 3}}),
		EGRESS({.action = MODEL_ACTION_ALLOW,
			.not_protocol = {.set = true, .number = 17},
			.destination = {.not_selector = "app == 'db'",
					.not_nets = (struct ip_prefix[]){P("198.19.0.0/16")},
					.n_not_nets = 1}})),
	    RES_GNP(
		"global-ns", .selector = "has(app)", .namespace_selector = "team == 'x'",
		INGRESS({.action = MODEL_ACTION_PASS,
			 .source = {.selector = "app == 'api'", .namespace_selector = "all()"}})),
	};
	struct case_in c = {.name = "copied", .policies = pol, .n_policies = 2};
	struct built first;

	build(&c, &first);
	copied_equal(&c, first.idx);
	built_done(&first);

	/* Two policies named prod/dup, then two others of that name marked unchanged. */
	struct model_resource *dup[] = {
	    RES_NP("prod", "dup", INGRESS({.action = MODEL_ACTION_ALLOW, TCP})),
	    RES_NP("prod", "dup", INGRESS({.action = MODEL_ACTION_DENY, TCP})),
	};
	struct model_resource *dup2[] = {
	    RES_NP("prod", "dup", EGRESS({.action = MODEL_ACTION_DENY})),
	    RES_NP("prod", "dup", INGRESS({.action = MODEL_ACTION_LOG})),
	};
	struct case_in d = {.name = "dup", .policies = dup, .n_policies = 2};
	struct case_in d2 = {.name = "dup2", .policies = dup2, .n_policies = 2};

	build(&d, &first);
	copied_equal(&d2, first.idx);
	built_done(&first);
}

/* ---- explain helpers ---- */

static struct acl_packet PKT(const char *src, const char *dst, int proto, int dport) {
	struct acl_packet p = {.src = A(src),
			       .dst = A(dst),
			       .proto = (uint8_t)proto,
			       .sport = 40000,
			       .dport = (uint16_t)dport,
			       .icmp_type = -1,
			       .icmp_code = -1};

	if (proto == 1 || proto == 58) {
		p.icmp_type = (int16_t)dport;
		p.icmp_code = 0;
		p.dport = 0;
	}
	return p;
}

/* Asserts the verdict; @policy NULL = no policy named; @rule -1 = don't care. */
static void
expect(const struct built *b, size_t rs, enum acl_dir dir, struct acl_packet pkt,
       enum model_action action, enum acl_reason reason, const char *policy, int rule)
{
	struct acl_verdict v;

	assert_int_equal(acl_explain(b->idx, b->m, b->rs[rs], dir, &pkt, &v), 0);
	if (v.action != action || v.reason != reason ||
	    (policy && (!v.policy || strcmp(v.policy->name, policy) != 0)) ||
	    (!policy && v.policy) || (rule >= 0 && v.rule != (unsigned)rule))
		fail_msg("%s %s: got action %d reason %d policy %s rule %u; want %d %d %s %d",
			 b->rs[rs]->name, acl_dir_to_string(dir), v.action, v.reason,
			 v.policy ? v.policy->name : "-", v.rule, action, reason,
			 policy ? policy : "-", rule);
}

#define WEB 0
#define DB 1
#define CLIENT 2
#define HOST 3
#define IN ACL_DIR_INGRESS
#define OUT ACL_DIR_EGRESS
#define ALLOW MODEL_ACTION_ALLOW
#define DENY MODEL_ACTION_DENY

/* ---- cases ---- */

/* A policy with no rules selects web for ingress: default deny there; egress and other
 * endpoints stay open. */
static void test_default_deny(void **state)
{
	struct model_resource *pol[] = {
	    RES_NP("prod", "web-deny-all", .selector = "app == 'web'", .types_ingress = true),
	};
	struct case_in c = {.name = "default-deny", .policies = pol, .n_policies = 1};
	struct built b;

	check_case(&c, &b);
	expect(&b, WEB, IN, PKT("198.19.1.10", "198.19.0.2", 6, 80), DENY, ACL_REASON_TIER_DEFAULT,
	       NULL, -1);
	expect(&b, WEB, OUT, PKT("198.19.0.2", "198.19.1.10", 6, 80), ALLOW, ACL_REASON_NO_POLICY,
	       NULL, -1);
	expect(&b, DB, IN, PKT("198.19.1.10", "198.19.0.3", 6, 5432), ALLOW, ACL_REASON_NO_POLICY,
	       NULL, -1);
	assert_true(b.rs[WEB]->dir[IN].has_policy);
	assert_false(b.rs[WEB]->dir[OUT].has_policy);
	assert_false(b.rs[DB]->dir[IN].has_policy);
	built_done(&b);
}

/* Nothing selects anyone: everything open, no policy chains at all. */
static void test_open(void **state)
{
	struct case_in c = {.name = "open"};
	struct built b;

	check_case(&c, &b);
	expect(&b, CLIENT, IN, PKT("198.19.1.11", "198.19.0.4", 17, 53), ALLOW,
	       ACL_REASON_NO_POLICY, NULL, -1);
	expect(&b, CLIENT, OUT, PKT("198.19.0.4", "198.18.200.1", 6, 443), ALLOW,
	       ACL_REASON_NO_POLICY, NULL, -1);
	built_done(&b);
}

/* prod/web allows app=client from namespaces with env=dev only; a NetworkPolicy selector
 * without namespaceSelector stays in the policy's namespace. */
static void test_namespace_selector(void **state)
{
	struct model_resource *pol[] = {
	    RES_NP("prod", "allow-dev-clients", .selector = "app == 'web'",
		   INGRESS({.action = MODEL_ACTION_ALLOW,
			    .source = {.selector = "app == 'client'",
				       .namespace_selector = "env == 'dev'"}},
			   {.action = MODEL_ACTION_ALLOW, .source = {.selector = "app == 'api'"}})),
	};
	struct case_in c = {.name = "namespace-selector", .policies = pol, .n_policies = 1};
	struct built b;

	check_case(&c, &b);
	/* dev/client -> prod/web: allowed by rule 0. */
	expect(&b, WEB, IN, PKT("198.19.0.4", "198.19.0.2", 6, 80), ALLOW, ACL_REASON_RULE,
	       "prod/allow-dev-clients", 0);
	/* prod/api -> web: rule 1 (same namespace). */
	expect(&b, WEB, IN, PKT("198.19.1.10", "198.19.0.2", 6, 80), ALLOW, ACL_REASON_RULE,
	       "prod/allow-dev-clients", 1);
	/* dev/web (app=web, not client) -> denied. */
	expect(&b, WEB, IN, PKT("198.19.1.11", "198.19.0.2", 6, 80), DENY, ACL_REASON_TIER_DEFAULT,
	       NULL, -1);
	/* The sets hold exactly the right endpoints. */
	{
		const struct acl_policy *p = b.rs[WEB]->dir[IN].tiers[0].policies[0];
		const struct acl_set *s0 = p->rules[IN][0].src.sel, *s1 = p->rules[IN][1].src.sel;
		const struct acl_set_members *m0 = &b.m->sets[s0->pos], *m1 = &b.m->sets[s1->pos];
		char buf[IP_PREFIX_STRLEN];

		assert_string_equal(s0->definition,
				    "sel:(app == \"client\" && pcns.env == \"dev\")");
		assert_string_equal(
		    s1->definition,
		    "sel:(app == \"api\" && projectcalico.org/namespace == \"prod\")");
		assert_int_equal(m0->n, 1);
		assert_string_equal(ip_prefix_format(&m0->items[0].net, buf), "198.19.0.4/32");
		assert_int_equal(m1->n, 1);
		assert_string_equal(ip_prefix_format(&m1->items[0].net, buf), "198.19.1.10/32");
	}
	built_done(&b);
}

/* Rule serviceAccounts as Calico translates them: names -> the serviceaccount label in {...},
 * selector -> over pcsa.-prefixed labels, in the policy's namespace. */
static void test_service_accounts(void **state)
{
	struct model_resource *pol[] = {
	    RES_NP("prod", "allow-frontend-sa", .selector = "app == 'web'",
		   INGRESS({.action = MODEL_ACTION_ALLOW,
			    .source = {.sa_names = (char *[]){"frontend", NULL},
				       .n_sa_names = 1,
				       .sa_selector = "team == 'a' && !has(x)"}})),
	};
	struct case_in c = {.name = "service-accounts", .policies = pol, .n_policies = 1};
	struct built b;

	check_case(&c, &b);
	/* prod/api runs as service account frontend with label team=a: allowed */
	expect(&b, WEB, IN, PKT("198.19.1.10", "198.19.0.2", 6, 80), ALLOW, ACL_REASON_RULE,
	       "prod/allow-frontend-sa", 0);
	/* dev/client has no service account: denied */
	expect(&b, WEB, IN, PKT("198.19.0.4", "198.19.0.2", 6, 80), DENY, ACL_REASON_TIER_DEFAULT,
	       NULL, -1);
	{
		const struct acl_policy *p = b.rs[WEB]->dir[IN].tiers[0].policies[0];
		const struct acl_set *s0 = p->rules[IN][0].src.sel;
		const struct acl_set_members *m0 = &b.m->sets[s0->pos];
		char buf[IP_PREFIX_STRLEN];

		assert_string_equal(s0->definition,
				    "sel:(!has(pcsa.x) && pcsa.team == \"a\" && "
				    "projectcalico.org/namespace == \"prod\" && "
				    "projectcalico.org/serviceaccount in {\"frontend\"})");
		assert_int_equal(m0->n, 1);
		assert_string_equal(ip_prefix_format(&m0->items[0].net, buf), "198.19.1.10/32");
	}
	built_done(&b);
}

static void test_ipblock_except(void **state)
{
	struct model_resource *pol[] = {
	    RES_NP("prod", "allow-ipblock", .selector = "app == 'web'",
		   INGRESS({.action = MODEL_ACTION_ALLOW,
			    TCP,
			    .source = {.nets = (struct ip_prefix[]){P("198.18.0.0/15")},
				       .n_nets = 1,
				       .not_nets = (struct ip_prefix[]){P("198.18.5.0/24"),
									P("198.18.6.0/24")},
				       .n_not_nets = 2},
			    .destination = {.ports = (struct model_port[]){{443, 443, NULL}},
					    .n_ports = 1}})),
	};
	struct case_in c = {.name = "ipblock-except", .policies = pol, .n_policies = 1};
	struct built b;

	check_case(&c, &b);
	expect(&b, WEB, IN, PKT("198.18.7.1", "198.19.0.2", 6, 443), ALLOW, ACL_REASON_RULE,
	       "prod/allow-ipblock", 0);
	expect(&b, WEB, IN, PKT("198.18.5.9", "198.19.0.2", 6, 443), DENY, ACL_REASON_TIER_DEFAULT,
	       NULL, -1);
	expect(&b, WEB, IN, PKT("198.18.7.1", "198.19.0.2", 6, 80), DENY, ACL_REASON_TIER_DEFAULT,
	       NULL, -1);
	expect(&b, WEB, IN, PKT("198.18.7.1", "198.19.0.2", 17, 443), DENY, ACL_REASON_TIER_DEFAULT,
	       NULL, -1);
	/* IPv6 peer: the rule's nets are IPv4 only. */
	expect(&b, WEB, IN, PKT("2001:db8:1::1", "2001:db8:19::2", 6, 443), DENY,
	       ACL_REASON_TIER_DEFAULT, NULL, -1);
	built_done(&b);
}

static void test_endport_range(void **state)
{
	struct model_resource *pol[] = {
	    RES_NP("prod", "allow-range", .selector = "app == 'db'",
		   INGRESS({.action = MODEL_ACTION_ALLOW,
			    TCP,
			    .destination = {.ports = (struct model_port[]){{8000, 8080, NULL},
									   {5432, 5432, NULL}},
					    .n_ports = 2}},
			   {.action = MODEL_ACTION_ALLOW,
			    .protocol = {.set = true, .number = 17},
			    .destination = {.not_ports = (struct model_port[]){{0, 1023, NULL}},
					    .n_not_ports = 1}})),
	};
	struct case_in c = {.name = "endport-range", .policies = pol, .n_policies = 1};
	struct built b;

	check_case(&c, &b);
	expect(&b, DB, IN, PKT("198.19.1.10", "198.19.0.3", 6, 8000), ALLOW, ACL_REASON_RULE,
	       "prod/allow-range", 0);
	expect(&b, DB, IN, PKT("198.19.1.10", "198.19.0.3", 6, 8080), ALLOW, ACL_REASON_RULE,
	       "prod/allow-range", 0);
	expect(&b, DB, IN, PKT("198.19.1.10", "198.19.0.3", 6, 8081), DENY, ACL_REASON_TIER_DEFAULT,
	       NULL, -1);
	expect(&b, DB, IN, PKT("198.19.1.10", "198.19.0.3", 17, 53), DENY, ACL_REASON_TIER_DEFAULT,
	       NULL, -1);
	expect(&b, DB, IN, PKT("198.19.1.10", "198.19.0.3", 17, 5353), ALLOW, ACL_REASON_RULE,
	       "prod/allow-range", 1);
	built_done(&b);
}

/* Ingress to the named port "http" (web: tcp 8080) and egress to "http" of app=api
 * (remote: tcp 9090). */
static void test_named_ports(void **state)
{
	struct model_resource *pol[] = {
	    RES_NP("prod", "named-http", .selector = "has(app)",
		   INGRESS({.action = MODEL_ACTION_ALLOW,
			    TCP,
			    .destination = {.ports = (struct model_port[]){{0, 0, "http"}},
					    .n_ports = 1}}),
		   EGRESS({.action = MODEL_ACTION_ALLOW,
			   TCP,
			   .destination = {.selector = "app == 'api'",
					   .ports = (struct model_port[]){{0, 0, "http"},
									  {443, 443, NULL}},
					   .n_ports = 2}})),
	};
	struct case_in c = {.name = "named-ports", .policies = pol, .n_policies = 1};
	struct built b;

	check_case(&c, &b);
	expect(&b, WEB, IN, PKT("198.19.1.10", "198.19.0.2", 6, 8080), ALLOW, ACL_REASON_RULE,
	       "prod/named-http", 0);
	expect(&b, WEB, IN, PKT("198.19.1.10", "198.19.0.2", 6, 9090), DENY,
	       ACL_REASON_TIER_DEFAULT, NULL, -1);
	/* db has no port named http. */
	expect(&b, DB, IN, PKT("198.19.1.10", "198.19.0.3", 6, 8080), DENY, ACL_REASON_TIER_DEFAULT,
	       NULL, -1);
	expect(&b, WEB, OUT, PKT("198.19.0.2", "198.19.1.10", 6, 9090), ALLOW, ACL_REASON_RULE,
	       "prod/named-http", 0);
	expect(&b, WEB, OUT, PKT("198.19.0.2", "198.19.1.10", 6, 443), ALLOW, ACL_REASON_RULE,
	       "prod/named-http", 0);
	expect(&b, WEB, OUT, PKT("198.19.0.2", "198.19.1.10", 6, 8080), DENY,
	       ACL_REASON_TIER_DEFAULT, NULL, -1);
	built_done(&b);
}

/* Tier "security" (order 100) runs first: Deny from the external network set, Pass for
 * app=client; then the default tier allows app=client and app=api. */
static void test_pass_two_tiers(void **state)
{
	struct model_resource *tiers[] = {
	    &(struct model_resource){.kind = MODEL_KIND_TIER,
				     .meta = {.name = "security"},
				     .tier = {ORDER(100), .default_action = MODEL_ACTION_DENY}},
	};
	struct model_resource *pol[] = {
	    RES_GNP(
		"security.screen", ORDER(10), .tier = "security", .selector = "app == 'web'",
		INGRESS({.action = MODEL_ACTION_DENY, .source = {.selector = "role == 'external'"}},
			{.action = MODEL_ACTION_PASS,
			 .source = {.selector = "app in {'client', 'api'}"}})),
	    RES_NP("prod", "allow-clients", .selector = "app == 'web'",
		   INGRESS(
		       {.action = MODEL_ACTION_ALLOW,
			.source = {.selector = "app == 'client'", .namespace_selector = "all()"}})),
	};
	struct case_in c = {.name = "pass-two-tiers",
			    .policies = pol,
			    .n_policies = 2,
			    .tiers = tiers,
			    .n_tiers = 1};
	struct built b;

	check_case(&c, &b);
	assert_string_equal(b.rs[WEB]->dir[IN].tiers[0].tier->name, "security");
	assert_string_equal(b.rs[WEB]->dir[IN].tiers[1].tier->name, "default");
	expect(&b, WEB, IN, PKT("198.18.100.7", "198.19.0.2", 6, 80), DENY, ACL_REASON_RULE,
	       "security.screen", 0);
	expect(&b, WEB, IN, PKT("198.19.0.4", "198.19.0.2", 6, 80), ALLOW, ACL_REASON_RULE,
	       "prod/allow-clients", 0);
	/* api passes the security tier but nothing in default allows it. */
	expect(&b, WEB, IN, PKT("198.19.1.10", "198.19.0.2", 6, 80), DENY, ACL_REASON_TIER_DEFAULT,
	       NULL, -1);
	/* Neither denied nor passed in security: that tier's default deny. */
	expect(&b, WEB, IN, PKT("198.19.1.11", "198.19.0.2", 6, 80), DENY, ACL_REASON_TIER_DEFAULT,
	       NULL, -1);
	{
		struct acl_verdict v;
		struct acl_packet p = PKT("198.19.1.11", "198.19.0.2", 6, 80);

		assert_int_equal(acl_explain(b.idx, b.m, b.rs[WEB], IN, &p, &v), 0);
		assert_string_equal(v.tier, "security");
	}
	built_done(&b);
}

/* Log continues. A second, unordered GNP with a 253-character name and a long selector only
 * logs: comments and log prefixes are cut to what nft and iptables accept. */
#define LONG50 "abcdefghij-abcdefghij-abcdefghij-abcdefghij-abcdefghi"
static void test_log_continues(void **state)
{
	struct model_resource *pol[] = {
	    RES_NP("prod", "log-then-allow", .selector = "app == 'db'",
		   INGRESS({.action = MODEL_ACTION_LOG},
			   {.action = MODEL_ACTION_ALLOW,
			    TCP,
			    .destination = {.ports = (struct model_port[]){{5432, 5432, NULL}},
					    .n_ports = 1}})),
	    RES_GNP("z" LONG50 LONG50 LONG50 LONG50 "abcdefghijabcdefghijabcdefghijabcdefghij",
		    .selector = "app == 'db' && label-number-one not in {'" LONG50 "', '" LONG50
				"x', '" LONG50 "y'}",
		    INGRESS({.action = MODEL_ACTION_LOG,
			     .source = {.selector = "app starts with '" LONG50 LONG50 "'"}})),
	};
	struct case_in c = {.name = "log-continues", .policies = pol, .n_policies = 2};
	struct built b;
	struct acl_verdict v;
	struct acl_packet p = PKT("198.19.1.10", "198.19.0.3", 6, 5432);

	check_case(&c, &b);
	assert_int_equal(acl_explain(b.idx, b.m, b.rs[DB], IN, &p, &v), 0);
	assert_int_equal(v.action, ALLOW);
	assert_int_equal(v.rule, 1);
	assert_int_equal(v.n_logged, 1);
	expect(&b, DB, IN, PKT("198.19.1.10", "198.19.0.3", 6, 22), DENY, ACL_REASON_TIER_DEFAULT,
	       NULL, -1);
	built_done(&b);
}

/* Order 10 denies tcp/22 before order 20 allows everything; an unordered policy runs last and
 * names break ties. */
static void test_deny_before_allow(void **state)
{
	struct model_resource *pol[] = {
	    RES_NP("prod", "z-allow-all", ORDER(20), .selector = "app == 'web'",
		   INGRESS({.action = MODEL_ACTION_ALLOW})),
	    RES_NP("prod", "a-unordered-deny", .selector = "app == 'web'",
		   INGRESS({.action = MODEL_ACTION_DENY})),
	    RES_NP("prod", "m-deny-ssh", ORDER(10), .selector = "app == 'web'",
		   INGRESS({.action = MODEL_ACTION_DENY,
			    TCP,
			    .destination = {.ports = (struct model_port[]){{22, 22, NULL}},
					    .n_ports = 1}})),
	};
	struct case_in c = {.name = "deny-before-allow", .policies = pol, .n_policies = 3};
	struct built b;
	const struct acl_ep_tier *t;

	check_case(&c, &b);
	t = &b.rs[WEB]->dir[IN].tiers[0];
	assert_int_equal(t->n_policies, 3);
	assert_string_equal(t->policies[0]->name, "prod/m-deny-ssh");
	assert_string_equal(t->policies[1]->name, "prod/z-allow-all");
	assert_string_equal(t->policies[2]->name, "prod/a-unordered-deny");
	expect(&b, WEB, IN, PKT("198.19.1.10", "198.19.0.2", 6, 22), DENY, ACL_REASON_RULE,
	       "prod/m-deny-ssh", 0);
	expect(&b, WEB, IN, PKT("198.19.1.10", "198.19.0.2", 6, 80), ALLOW, ACL_REASON_RULE,
	       "prod/z-allow-all", 0);
	built_done(&b);
}

/* Egress from web with a source that is not web's own address is dropped before policy. */
static void test_anti_spoof(void **state)
{
	struct model_resource *pol[] = {
	    RES_NP("prod", "egress-allow", .selector = "app == 'web'",
		   EGRESS({.action = MODEL_ACTION_ALLOW})),
	};
	struct case_in c = {.name = "anti-spoof", .policies = pol, .n_policies = 1};
	struct built b;

	check_case(&c, &b);
	expect(&b, WEB, OUT, PKT("198.19.0.2", "198.19.1.10", 6, 80), ALLOW, ACL_REASON_RULE,
	       "prod/egress-allow", 0);
	expect(&b, WEB, OUT, PKT("2001:db8:19::2", "2001:db8:1::1", 6, 80), ALLOW, ACL_REASON_RULE,
	       "prod/egress-allow", 0);
	expect(&b, WEB, OUT, PKT("198.19.0.99", "198.19.1.10", 6, 80), DENY, ACL_REASON_SPOOF, NULL,
	       -1);
	expect(&b, DB, OUT, PKT("198.19.0.2", "198.19.1.10", 6, 80), DENY, ACL_REASON_SPOOF, NULL,
	       -1);
	built_done(&b);
}

/* Issue 9: one policy, both families. Rules that name a family (ipVersion, ICMP/ICMPv6, nets)
 * appear only in that family's rendering (nft: under `meta nfproto`; only in the ip6tables or
 * the iptables text); a selector rule appears in both, with the family's own set. */
static void test_ipv6(void **state)
{
	struct model_resource *pol[] = {
	    RES_NP("prod", "dual", .selector = "app == 'web'",
		   INGRESS({.action = MODEL_ACTION_ALLOW,
			    .ip_version = 6,
			    TCP,
			    .destination = {.ports = (struct model_port[]){{80, 80, NULL}},
					    .n_ports = 1}},
			   {.action = MODEL_ACTION_ALLOW,
			    .ip_version = 4,
			    TCP,
			    .destination = {.ports = (struct model_port[]){{8080, 8080, NULL}},
					    .n_ports = 1}},
			   {.action = MODEL_ACTION_ALLOW,
			    TCP,
			    .source = {.nets = (struct ip_prefix[]){P("2001:db8:18::/64")},
				       .n_nets = 1,
				       .not_nets = (struct ip_prefix[]){P("2001:db8:18::1/128")},
				       .n_not_nets = 1},
			    .destination = {.ports = (struct model_port[]){{443, 443, NULL}},
					    .n_ports = 1}},
			   {.action = MODEL_ACTION_ALLOW,
			    .protocol = {.set = true, .number = 58},
			    .icmp = {.set = true, .type = 128, .code = 0}},
			   {.action = MODEL_ACTION_ALLOW,
			    .protocol = {.set = true, .number = 1},
			    .icmp = {.set = true, .type = 8, .code = -1}},
			   {.action = MODEL_ACTION_DENY,
			    .source = {.not_nets = (struct ip_prefix[]){P("198.18.0.0/15")},
				       .n_not_nets = 1}},
			   {.action = MODEL_ACTION_ALLOW, .source = {.selector = "app == 'db'"}})),
	};
	struct case_in c = {.name = "ipv6", .policies = pol, .n_policies = 1};
	struct built b;
	const char *w6 = "2001:db8:19::2", *w4 = "198.19.0.2";

	check_case(&c, &b);
	/* ipVersion 6 / 4 */
	expect(&b, WEB, IN, PKT("2001:db8:1::1", w6, 6, 80), ALLOW, ACL_REASON_RULE, "prod/dual",
	       0);
	expect(&b, WEB, IN, PKT("198.18.1.1", w4, 6, 80), DENY, ACL_REASON_TIER_DEFAULT, NULL, -1);
	expect(&b, WEB, IN, PKT("198.19.1.1", w4, 6, 8080), ALLOW, ACL_REASON_RULE, "prod/dual", 1);
	expect(&b, WEB, IN, PKT("2001:db8:1::1", w6, 6, 8080), DENY, ACL_REASON_RULE, "prod/dual",
	       5);
	/* IPv6 nets and notNets */
	expect(&b, WEB, IN, PKT("2001:db8:18::2", w6, 6, 443), ALLOW, ACL_REASON_RULE, "prod/dual",
	       2);
	expect(&b, WEB, IN, PKT("2001:db8:18::1", w6, 6, 443), DENY, ACL_REASON_RULE, "prod/dual",
	       5);
	/* ICMPv6 echo request, ICMP echo request; not the other way round */
	expect(&b, WEB, IN, PKT("2001:db8:1::1", w6, 58, 128), ALLOW, ACL_REASON_RULE, "prod/dual",
	       3);
	expect(&b, WEB, IN, PKT("198.19.1.1", w4, 1, 8), ALLOW, ACL_REASON_RULE, "prod/dual", 4);
	expect(&b, WEB, IN, PKT("2001:db8:1::1", w6, 58, 129), DENY, ACL_REASON_RULE, "prod/dual",
	       5);
	/* notNets of the other family only: matches every IPv6 packet (Calico drops the CIDRs of
	 * the other family from a negated match); an IPv4 source inside the notNets does not. */
	expect(&b, WEB, IN, PKT("198.19.0.3", w4, 17, 53), ALLOW, ACL_REASON_RULE, "prod/dual", 6);
	/* one family per rule in the IR: the selector rule is the only one both renderings share */
	assert_int_equal(b.rs[WEB]->dir[IN].tiers[0].policies[0]->rules[IN][2].src.nets->has_v6,
			 true);
	assert_int_equal(b.rs[WEB]->dir[IN].tiers[0].policies[0]->rules[IN][2].src.nets->has_v4,
			 false);
	built_done(&b);
}

static void test_workload_to_host(void **state)
{
	static const char *const names[] = {"wl-to-host-drop", "wl-to-host-accept",
					    "wl-to-host-return"};
	static const enum acl_e2h_action acts[] = {ACL_E2H_DROP, ACL_E2H_ACCEPT, ACL_E2H_RETURN};
	struct model_felix_configuration fc = {.default_endpoint_to_host_action = "Accept"};
	struct acl_host_config h;

	assert_int_equal(acl_host_config_from_model(&fc, &h), 0);
	assert_int_equal(h.endpoint_to_host, ACL_E2H_ACCEPT);
	assert_int_equal(acl_host_config_from_model(NULL, &h), 0);
	assert_int_equal(h.endpoint_to_host, ACL_E2H_DROP);
	fc.default_endpoint_to_host_action = "Reject";
	assert_int_equal(acl_host_config_from_model(&fc, &h), -EINVAL);

	for (size_t i = 0; i < ELEMENTSOF(names); i++) {
		struct acl_host_config hc = {.endpoint_to_host = acts[i]};
		struct case_in c = {.name = names[i], .host = &hc};
		struct built b;

		check_case(&c, &b);
		built_done(&b);
	}
}

/* A host endpoint on eth0: failsafe ports, a GNP allowing tcp/8443 in; with no policy for
 * egress it is default deny apart from failsafe (Calico host endpoint semantics). */
static void test_host_endpoint(void **state)
{
	struct model_resource *pol[] = {
	    RES_GNP("host-ingress", .selector = "has(host-endpoint)",
		    INGRESS({.action = MODEL_ACTION_ALLOW,
			     TCP,
			     .destination = {.ports = (struct model_port[]){{8443, 8443, NULL}},
					     .n_ports = 1}})),
	    /* A NetworkPolicy never selects a host endpoint. */
	    RES_NP("prod", "all-in-prod", .selector = "all()",
		   INGRESS({.action = MODEL_ACTION_ALLOW})),
	};
	struct case_in c = {
	    .name = "host-endpoint", .policies = pol, .n_policies = 2, .with_host_endpoint = true};
	struct built b;

	check_case(&c, &b);
	assert_true(b.rs[HOST]->host);
	assert_int_equal(b.rs[HOST]->dir[IN].n_tiers, 1);
	assert_int_equal(b.rs[HOST]->dir[IN].tiers[0].n_policies, 1);
	expect(&b, HOST, IN, PKT("198.18.0.12", "198.18.0.11", 6, 8443), ALLOW, ACL_REASON_RULE,
	       "host-ingress", 0);
	expect(&b, HOST, IN, PKT("198.18.0.12", "198.18.0.11", 6, 80), DENY,
	       ACL_REASON_TIER_DEFAULT, NULL, -1);
	expect(&b, HOST, OUT, PKT("198.18.0.11", "198.18.0.12", 6, 80), DENY,
	       ACL_REASON_HOST_DEFAULT, NULL, -1);
	built_done(&b);
}

/* Profiles decide when no policy applies; nothing matched = deny. */
static void test_profiles(void **state)
{
	struct model_resource *prof[] = {
	    &(struct model_resource){
		.kind = MODEL_KIND_PROFILE,
		.meta = {.name = "kns.prod"},
		.profile = {.ingress = RULES({.action = MODEL_ACTION_ALLOW,
					      .source = {.selector = "app == 'api'"}}),
			    .n_ingress = 1,
			    .egress = RULES({.action = MODEL_ACTION_ALLOW}),
			    .n_egress = 1}},
	};
	char *profiles[] = {"kns.prod", "missing", NULL};
	struct acl_policy_set ps = {.profiles = prof, .n_profiles = 1};
	struct acl_endpoint ep = F.eps[1];
	struct acl_index *idx = NULL;
	struct acl_members *m = NULL;
	struct acl_ruleset *rs = NULL;
	struct acl_verdict v;
	struct acl_packet p1 = PKT("198.19.1.10", "198.19.0.3", 6, 1),
			  p2 = PKT("198.19.1.11", "198.19.0.3", 6, 1);

	ep.profiles = profiles;
	ep.n_profiles = 2;
	assert_int_equal(acl_index_new(&ps, &idx, NULL), 0);
	assert_int_equal(acl_set_members(idx, F.eps, ELEMENTSOF(F.eps), NULL, 0, &m), 0);
	assert_int_equal(acl_compile(idx, &ep, &rs), 0);
	assert_int_equal(rs->dir[IN].end, ACL_END_PROFILES);
	assert_int_equal(rs->dir[IN].n_profiles, 1);
	assert_int_equal(acl_explain(idx, m, rs, IN, &p1, &v), 0);
	assert_int_equal(v.action, ALLOW);
	assert_string_equal(v.policy->name, "kns.prod");
	assert_int_equal(acl_explain(idx, m, rs, IN, &p2, &v), 0);
	assert_int_equal(v.action, DENY);
	assert_int_equal(v.reason, ACL_REASON_PROFILES_END);
	acl_ruleset_free(rs);
	acl_members_free(m);
	acl_index_free(idx);
}

/* struct acl_policy.hash: the same policy hashes the same; a change to anything its chain for a
 * direction is rendered from changes that direction's hash (and not the other's); what only
 * places the chain (order, selector) changes neither. */
static uint64_t hash_of(struct model_resource *res, enum acl_dir d)
{
	struct acl_policy_set ps = {.policies = &res, .n_policies = 1};
	struct acl_index *idx = NULL;
	assert_int_equal(acl_index_new(&ps, &idx, NULL), 0);
	assert_int_equal(idx->n_tiers, 1);
	assert_int_equal(idx->tiers[0].n_policies, 1);
	uint64_t h = idx->tiers[0].policies[0]->hash[d];
	acl_index_free(idx);
	return h;
}

static void test_policy_hash(void **state)
{
	struct model_port p80 = {.first = 80, .last = 80}, p81 = {.first = 81, .last = 81},
			  named = {.name = "http"};
	struct ip_prefix net, net2;
	assert_int_equal(ip_prefix_parse("198.18.0.0/24", false, &net), 0);
	assert_int_equal(ip_prefix_parse("198.18.1.0/24", false, &net2), 0);
#define BASE_RULE .action = MODEL_ACTION_ALLOW, TCP, .destination = {.ports = &p80, .n_ports = 1 }
	struct model_resource *base = RES_GNP("h", .selector = "app == 'a'", INGRESS({BASE_RULE}),
					      EGRESS({.action = MODEL_ACTION_ALLOW}));
	uint64_t in = hash_of(base, IN), out = hash_of(base, OUT);
	assert_true(in != out);
	assert_true(hash_of(base, IN) == in);
	/* placing it: same chains */
	assert_true(hash_of(RES_GNP("h", .selector = "app == 'b'", ORDER(5), INGRESS({BASE_RULE}),
				    EGRESS({.action = MODEL_ACTION_ALLOW})),
			    IN) == in);
	struct model_resource *changed[] = {
	    RES_GNP("h2", .selector = "app == 'a'", INGRESS({BASE_RULE})),
	    RES_GNP("h", INGRESS({.action = MODEL_ACTION_DENY,
				  TCP,
				  .destination = {.ports = &p80, .n_ports = 1}})),
	    RES_GNP("h", INGRESS({.action = MODEL_ACTION_ALLOW,
				  .protocol = {.set = true, .number = 17},
				  .destination = {.ports = &p80, .n_ports = 1}})),
	    RES_GNP("h", INGRESS({.action = MODEL_ACTION_ALLOW,
				  TCP,
				  .destination = {.ports = &p81, .n_ports = 1}})),
	    RES_GNP("h", INGRESS({.action = MODEL_ACTION_ALLOW,
				  TCP,
				  .destination = {.ports = &named, .n_ports = 1}})),
	    RES_GNP("h", INGRESS({.action = MODEL_ACTION_ALLOW,
				  TCP,
				  .destination = {.not_ports = &p80, .n_not_ports = 1}})),
	    RES_GNP("h", INGRESS({BASE_RULE, .source = {.selector = "role == 'x'"}})),
	    RES_GNP("h", INGRESS({BASE_RULE, .source = {.not_selector = "role == 'x'"}})),
	    RES_GNP("h", INGRESS({BASE_RULE, .source = {.nets = &net, .n_nets = 1}})),
	    RES_GNP("h", INGRESS({BASE_RULE, .source = {.nets = &net2, .n_nets = 1}})),
	    RES_GNP("h", INGRESS({BASE_RULE, .source = {.not_nets = &net, .n_not_nets = 1}})),
	    RES_GNP("h", INGRESS({BASE_RULE, .ip_version = 4})),
	    RES_GNP("h", INGRESS({BASE_RULE, .not_protocol = {.set = true, .number = 17}})),
	    RES_GNP("h", INGRESS({.action = MODEL_ACTION_ALLOW,
				  .protocol = {.set = true, .number = 1},
				  .icmp = {.set = true, .type = 8, .code = -1}})),
	    RES_GNP("h", INGRESS({.action = MODEL_ACTION_ALLOW,
				  .protocol = {.set = true, .number = 1},
				  .not_icmp = {.set = true, .type = 8, .code = -1}})),
	    RES_GNP("h", INGRESS({BASE_RULE}, {BASE_RULE})),
	    RES_GNP("h", INGRESS({.action = MODEL_ACTION_LOG}, {BASE_RULE})),
	};
#undef BASE_RULE
	for (size_t i = 0; i < ELEMENTSOF(changed); i++) {
		uint64_t h = hash_of(changed[i], IN);
		if (h == in) {
			fail_msg("variant %zu hashes as the base policy", i);
		}
		for (size_t j = 0; j < i; j++) {
			if (hash_of(changed[j], IN) == h) {
				fail_msg("variants %zu and %zu hash the same", j, i);
			}
		}
	}
	/* an ingress change leaves the egress chain's hash alone */
	assert_true(
	    hash_of(RES_GNP("h", .selector = "app == 'a'", INGRESS({.action = MODEL_ACTION_DENY}),
			    EGRESS({.action = MODEL_ACTION_ALLOW})),
		    OUT) == out);
}

/* Sets: same selector written differently -> one set; members are right; memberships. */
static int count_cb(const struct acl_set *s, void *userdata)
{
	(*(int *)userdata)++;
	return 0;
}

static void test_sets(void **state)
{
	struct model_resource *pol[] = {
	    RES_GNP("g1", .selector = "all()",
		    INGRESS({.action = MODEL_ACTION_ALLOW,
			     .source = {.selector = "app=='web' || role == \"external\""}})),
	    RES_GNP("g2", .selector = "all()",
		    INGRESS({.action = MODEL_ACTION_ALLOW,
			     .source = {.selector = "role == 'external' || app == 'web'"}})),
	};
	struct acl_policy_set ps = {.policies = pol, .n_policies = 2};
	struct acl_index *idx = NULL;
	struct acl_members *m = NULL;
	const struct acl_set_members *sm;
	char buf[IP_PREFIX_STRLEN];
	int n = 0;

	assert_int_equal(acl_index_new(&ps, &idx, NULL), 0);
	assert_int_equal(idx->n_sets, 1);
	assert_string_equal(idx->sets[0]->definition,
			    "sel:(app == \"web\" || role == \"external\")");
	assert_ptr_equal(idx->tiers[0].policies[0]->rules[IN][0].src.sel,
			 idx->tiers[0].policies[1]->rules[IN][0].src.sel);
	assert_int_equal(
	    acl_set_members(idx, F.eps, ELEMENTSOF(F.eps), F.netsets, ELEMENTSOF(F.netsets), &m),
	    0);
	sm = &m->sets[0];
	/* web (v4 + v6), remote dev/web, external /24 (its /25 merged away). */
	assert_int_equal(sm->n, 4);
	assert_string_equal(ip_prefix_format(&sm->items[0].net, buf), "198.18.100.0/24");
	assert_string_equal(ip_prefix_format(&sm->items[1].net, buf), "198.19.0.2/32");
	assert_string_equal(ip_prefix_format(&sm->items[2].net, buf), "198.19.1.11/32");
	assert_string_equal(ip_prefix_format(&sm->items[3].net, buf), "2001:db8:19::2/128");
	assert_int_equal(acl_set_memberships(idx, &F.eps[0], count_cb, &n), 0);
	assert_int_equal(n, 1);
	n = 0;
	assert_int_equal(acl_set_memberships(idx, &F.eps[1], count_cb, &n), 0);
	assert_int_equal(n, 0);
	assert_true(acl_set_index(idx, idx->sets[0]->id) == 0);
	assert_true(acl_set_index(idx, "0000000000000000") == -1);
	acl_members_free(m);
	acl_index_free(idx);
}

/* The set filter (acl_endpoint_members(), acl_set_memberships() match only the selectors filed
 * under an endpoint's label values, or under none) against matching every set: 40 selectors of
 * every shape, 300 endpoints with random labels, namespaces and named ports. */
struct collected {
	char **v;
	size_t n, cap;
};

static void collected_add(struct collected *c, const char *fmt, ...) _printf_(2, 3);
static void collected_add(struct collected *c, const char *fmt, ...)
{
	va_list ap;
	char *p = NULL;

	if (c->n == c->cap) {
		c->cap = c->cap ? c->cap * 2 : 64;
		c->v = realloc(c->v, c->cap * sizeof(*c->v));
		assert_non_null(c->v);
	}
	va_start(ap, fmt);
	assert_true(vasprintf(&p, fmt, ap) > 0);
	va_end(ap);
	c->v[c->n++] = p;
}

static int cmp_strp_test(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void collected_done(struct collected *c)
{
	for (size_t i = 0; i < c->n; i++)
		free(c->v[i]);
	free(c->v);
	memset(c, 0, sizeof(*c));
}

static int member_cb(const struct acl_set *s, const struct acl_member *m, void *userdata)
{
	char buf[IP_PREFIX_STRLEN];

	collected_add(userdata, "%s %s %u %u", s->id, ip_prefix_format(&m->net, buf), m->proto,
		      m->port);
	return 0;
}

static int membership_cb(const struct acl_set *s, void *userdata)
{
	collected_add(userdata, "%s", s->id);
	return 0;
}

static void test_set_filter(void **state)
{
	static char *const sels[] = {
	    "app == 'web'",
	    "app == 'db'",
	    "app in {'web', 'api'}",
	    "app in {'x'}",
	    "app == 'web' && role == 'r1'",
	    "role == 'r1' && app in {'db', 'web', 'api'}",
	    "app == 'web' || role == 'r2'",
	    "!app == 'web'",
	    "has(role)",
	    "!has(app)",
	    "app != 'db'",
	    "app not in {'web'}",
	    "all()",
	    "global()",
	    "role starts with 'r'",
	    "app contains 'e'",
	    "tier ends with 'end'",
	    "app == 'web' && !has(tier)",
	    "projectcalico.org/namespace == 'prod'",
	    "projectcalico.org/namespace in {'dev'}",
	    "projectcalico.org/namespace == 'prod' && app == 'api'",
	    "projectcalico.org/orchestrator == 'cni'",
	    "pcns.env == 'production' && role == 'r0'",
	    "pcns.projectcalico.org/name == 'dev'",
	    "(app == 'web' && role == 'r0') || app == 'db'",
	    "app in {'web'} && app in {'web', 'db'}",
	    "role == 'r3'",
	    "app == ''",
	};
	enum { N_POL = ELEMENTSOF(sels), N_EP = 300 };
	static const char *const apps[] = {NULL, "web", "db", "api", "x", ""};
	static const char *const roles[] = {NULL, "r0", "r1", "r2"};
	static const char *const tiers[] = {NULL, "frontend", "backend"};
	static const char *const nss[] = {"prod", "dev", NULL};
	struct model_resource pols[2 * N_POL];
	struct model_resource *polp[2 * N_POL];
	struct model_rule rules[2 * N_POL][2];
	struct model_labels labels[N_EP];
	struct ip_addr addrs[N_EP];
	struct model_port http_port[1] = {{.name = "http"}};
	struct model_named_port ports[3] = {
	    {.name = "http", .protocol = {.set = true, .number = 6}, .port = 8080},
	    {.name = "http", .protocol = {.set = true, .number = 17}, .port = 8081},
	    {.name = "dns", .port = 53}};
	struct acl_endpoint eps[N_EP];
	struct acl_policy_set ps = {.policies = polp, .n_policies = 2 * N_POL};
	struct acl_index *idx = NULL;
	struct acl_members *m = NULL;
	struct collected want = {0}, got = {0}, wsets = {0}, gsets = {0};
	char buf[IP_PREFIX_STRLEN];
	unsigned seed = 8;

	for (size_t i = 0; i < 2 * N_POL; i++) {
		/* source selector i % N_POL; odd policies are namespaced and ask for a named port */
		bool np = i >= N_POL;

		memset(rules[i], 0, sizeof(rules[i]));
		rules[i][0] = (struct model_rule){.action = MODEL_ACTION_ALLOW,
						  .source = {.selector = sels[i % N_POL]}};
		if (np) {
			rules[i][1] = (struct model_rule){
			    .action = MODEL_ACTION_ALLOW,
			    .protocol = {.set = true, .number = 6},
			    .destination = {
				.selector = sels[i % N_POL], .ports = http_port, .n_ports = 1}};
		}
		pols[i] = (struct model_resource){
		    .kind = np ? MODEL_KIND_NETWORK_POLICY : MODEL_KIND_GLOBAL_NETWORK_POLICY,
		    .meta = {.name = np ? "np" : "gnp", .namespace = np ? "prod" : NULL},
		    .policy = {.selector = "all()",
			       .types_ingress = true,
			       .ingress = rules[i],
			       .n_ingress = np ? 2 : 1}};
		polp[i] = &pols[i];
	}
	for (size_t i = 0; i < N_EP; i++) {
		const char *ns = nss[rand_r(&seed) % ELEMENTSOF(nss)];
		const char *kv[3][2] = {{"app", apps[rand_r(&seed) % ELEMENTSOF(apps)]},
					{"role", roles[rand_r(&seed) % ELEMENTSOF(roles)]},
					{"tier", tiers[rand_r(&seed) % ELEMENTSOF(tiers)]}};

		memset(&labels[i], 0, sizeof(labels[i]));
		for (size_t k = 0; k < 3; k++)
			if (kv[k][1])
				assert_int_equal(model_labels_set(&labels[i], kv[k][0], kv[k][1]),
						 0);
		snprintf(buf, sizeof(buf), "198.18.%zu.%zu", 10 + i / 200, i % 200 + 1);
		addrs[i] = A(buf);
		eps[i] =
		    (struct acl_endpoint){.name = "ep",
					  .namespace = ns,
					  .labels = &labels[i],
					  .namespace_labels = ns && ns[0] == 'p' ? &F.ns_prod
							      : ns		 ? &F.ns_dev
										 : NULL,
					  .orchestrator = rand_r(&seed) % 2 ? "cni" : NULL,
					  .addrs = &addrs[i],
					  .n_addrs = 1,
					  .ports = &ports[i % 2], /* ports[0..1] or ports[1..2] */
					  .n_ports = rand_r(&seed) % 2 + (rand_r(&seed) % 4 == 0),
					  .host = ns == NULL};
	}
	assert_int_equal(acl_index_new(&ps, &idx, NULL), 0);
	assert_true(idx->n_sets > N_POL);
	/* Every set's members by matching every set. */
	assert_int_equal(acl_set_members(idx, eps, N_EP, NULL, 0, &m), 0);
	for (size_t i = 0; i < idx->n_sets; i++)
		for (size_t k = 0; k < m->sets[i].n; k++)
			member_cb(idx->sets[i], &m->sets[i].items[k], &want);
	for (size_t i = 0; i < N_EP; i++) {
		struct sel_subject subj = {.labels = eps[i].labels,
					   .namespace = eps[i].host ? NULL : eps[i].namespace,
					   .namespace_labels = eps[i].namespace_labels,
					   .orchestrator = eps[i].orchestrator};

		assert_int_equal(acl_endpoint_members(idx, &eps[i], member_cb, &got), 0);
		assert_int_equal(acl_set_memberships(idx, &eps[i], membership_cb, &gsets), 0);
		for (size_t k = 0; k < idx->n_sets; k++) {
			const struct acl_set *s = idx->sets[k];

			if (s->kind == ACL_SET_SELECTOR && sel_match_subject(s->sel, &subj))
				collected_add(&wsets, "%s", s->id);
		}
	}
	/* acl_set_memberships() also reports named-port sets: keep its selector sets only. */
	size_t j = 0;

	for (size_t i = 0; i < gsets.n; i++) {
		ssize_t pos = acl_set_index(idx, gsets.v[i]);

		assert_true(pos >= 0);
		if (idx->sets[pos]->kind == ACL_SET_SELECTOR)
			gsets.v[j++] = gsets.v[i];
		else
			free(gsets.v[i]);
	}
	gsets.n = j;
	qsort(want.v, want.n, sizeof(*want.v), cmp_strp_test);
	qsort(got.v, got.n, sizeof(*got.v), cmp_strp_test);
	qsort(wsets.v, wsets.n, sizeof(*wsets.v), cmp_strp_test);
	qsort(gsets.v, gsets.n, sizeof(*gsets.v), cmp_strp_test);
	assert_true(want.n > N_EP);
	assert_int_equal(got.n, want.n);
	for (size_t i = 0; i < want.n; i++)
		assert_string_equal(got.v[i], want.v[i]);
	assert_int_equal(gsets.n, wsets.n);
	for (size_t i = 0; i < wsets.n; i++)
		assert_string_equal(gsets.v[i], wsets.v[i]);

	/* acl_compile() takes the policies whose selector selects the endpoint, in tier order,
	 * as matching every policy does: the same selectors as policy selectors. */
	struct acl_index *pidx = NULL;
	size_t n_applied = 0;

	for (size_t i = 0; i < 2 * N_POL; i++) {
		pols[i].policy.selector = sels[(i * 7) % N_POL];
		pols[i].policy.types_egress = i % 3 != 0;
		pols[i].policy.has_order = i % 4 != 0;
		pols[i].policy.order = (double)(i % 5);
	}
	assert_int_equal(acl_index_new(&ps, &pidx, NULL), 0);
	for (size_t i = 0; i < N_EP; i++) {
		struct sel_subject subj = {.labels = eps[i].labels,
					   .namespace = eps[i].host ? NULL : eps[i].namespace,
					   .namespace_labels = eps[i].namespace_labels,
					   .orchestrator = eps[i].orchestrator};
		struct acl_ruleset *rs = NULL;

		eps[i].ifname = "tbytest";
		assert_int_equal(acl_compile(pidx, &eps[i], &rs), 0);
		for (int d = 0; d < _ACL_DIR_MAX; d++) {
			size_t t_at = 0, p_at = 0;

			for (size_t t = 0; t < pidx->n_tiers; t++)
				for (size_t q = 0; q < pidx->tiers[t].n_policies; q++) {
					const struct acl_policy *p = pidx->tiers[t].policies[q];
					const struct acl_ep_tier *et;

					if ((eps[i].host && !p->global) || !p->types[d] ||
					    !sel_match_subject(p->selector, &subj))
						continue;
					assert_true(t_at < rs->dir[d].n_tiers);
					et = &rs->dir[d].tiers[t_at];
					assert_ptr_equal(et->tier, &pidx->tiers[t]);
					assert_true(p_at < et->n_policies);
					assert_ptr_equal(et->policies[p_at], p);
					n_applied++;
					if (++p_at == et->n_policies) {
						t_at++;
						p_at = 0;
					}
				}
			assert_int_equal(t_at, rs->dir[d].n_tiers);
		}
		acl_ruleset_free(rs);
	}
	assert_true(n_applied > N_EP);
	acl_index_free(pidx);
	for (size_t i = 0; i < N_EP; i++)
		model_labels_done(&labels[i]);
	collected_done(&want);
	collected_done(&got);
	collected_done(&wsets);
	collected_done(&gsets);
	acl_members_free(m);
	acl_index_free(idx);
}

/* After every case above went through fp_check(): variants of one case that differ only in
 * what the golden cases keep fixed (addresses and their number, failsafe ports and nets, the
 * tier's default action, profiles) go through it too, so a fingerprint that misses one of
 * these fails there. Runs last: it reads what the cases recorded, and frees it. */
static void test_ipt_fingerprints(void **state)
{
	static const struct model_proto_port fs[][1] = {
	    {{.protocol = {.set = true, .number = 6}, .port = 22}},
	    {{.protocol = {.set = true, .number = 6}, .port = 23}},
	    {{.protocol = {.set = true, .number = 17}, .port = 22}},
	};
	struct model_proto_port fs_net[1] = {{.protocol = {.set = true, .number = 6}, .port = 22}};
	struct model_resource tier = {.kind = MODEL_KIND_TIER,
				      .meta = {.name = "fp-tier"},
				      .tier = {ORDER(100), .default_action = MODEL_ACTION_DENY}};
	struct model_resource *tiers[] = {&tier};
	struct model_resource *pol[] = {
	    RES_GNP("fp-in", .selector = "all()", INGRESS({.action = MODEL_ACTION_ALLOW})),
	    RES_GNP("fp-tier.in", ORDER(1), .tier = "fp-tier", .selector = "app == 'web'",
		    INGRESS({.action = MODEL_ACTION_PASS})),
	};
	struct model_resource *prof[] = {
	    &(struct model_resource){
		.kind = MODEL_KIND_PROFILE,
		.meta = {.name = "kns.a"},
		.profile = {.egress = RULES({.action = MODEL_ACTION_ALLOW}), .n_egress = 1}},
	    &(struct model_resource){
		.kind = MODEL_KIND_PROFILE,
		.meta = {.name = "kns.b"},
		.profile = {.egress = RULES({.action = MODEL_ACTION_ALLOW}), .n_egress = 1}},
	};
	char *prof_a[] = {"kns.a", NULL}, *prof_b[] = {"kns.b", NULL};
	struct ip_addr keep_web = F.a_web[0];
	size_t same0;
	struct built b;
	char *out[N_RENDER];

	assert_true(FPS.n > 0 && FPS.same_fp > 0 && FPS.differ > 0 && FPS.kept > 0);
	for (int v = 0; v < 15; v++) {
		struct acl_host_config h = {0};
		struct case_in c = {
		    .name = "fp", .policies = pol, .n_policies = 1, .with_host_endpoint = true};

		same0 = FPS.same_fp;
		if (v == 1)
			F.a_web[0] = A("198.19.0.99"); /* tby-fw-tbyweb's "! -s", IPv4 only */
		if (v == 2)
			F.eps[0].n_addrs = 1; /* no tby-as-tbyweb, and no IPv6 address */
		if (v >= 3 && v <= 8) {
			h.failsafe_in = v <= 5 ? fs[v - 3] : fs_net;
			h.n_failsafe_in = 1;
			h.has_failsafe_in = true;
			fs_net[0].net = P(v == 6   ? "198.18.7.0/24"
					  : v == 7 ? "198.18.8.0/24"
						   : "198.18.8.0/25");
			c.host = &h;
		}
		if (v == 9 || v == 10) { /* the same policies, another default action */
			tier.tier.default_action = v == 9 ? MODEL_ACTION_DENY : MODEL_ACTION_PASS;
			c.tiers = tiers;
			c.n_tiers = 1;
			c.n_policies = 2;
		}
		if (v == 11 || v == 12) {
			F.eps[1].profiles = v == 11 ? prof_a : prof_b;
			F.eps[1].n_profiles = 1;
			c.profiles = prof;
			c.n_profiles = 2;
		}
		if (v == 13) /* the profiles known, none used */
			c.profiles = prof, c.n_profiles = 2;
		build(&c, &b);
		render_all(&c, &b, out);
		for (size_t i = 0; i < N_RENDER; i++)
			free(out[i]);
		built_done(&b);
		F.a_web[0] = keep_web;
		F.eps[0].n_addrs = 2;
		F.eps[1].profiles = NULL;
		F.eps[1].n_profiles = 0;
		if (v == 0 || v == 14) /* the base case again: the same chains */
			assert_true(FPS.same_fp > same0);
	}
	for (size_t i = 0; i < FPS.n; i++) {
		free(FPS.v[i].name);
		free(FPS.v[i].text);
	}
	free(FPS.v);
	memset(&FPS, 0, sizeof(FPS));
}

static void test_errors(void **state)
{
	struct model_resource *pol[] = {
	    RES_NP("prod", "bad", .selector = "app == 'web'",
		   INGRESS({.action = MODEL_ACTION_ALLOW, .source = {.selector = "app == 'x"}})),
	};
	struct acl_policy_set ps = {.policies = pol, .n_policies = 1};
	struct acl_index *idx = (struct acl_index *)0x1;
	struct parse_err err = {0};
	struct acl_endpoint noif = {.name = "x"};
	struct acl_ruleset *rs = NULL;

	assert_int_equal(acl_index_new(&ps, &idx, &err), -EINVAL);
	assert_ptr_equal(idx, (struct acl_index *)0x1);
	assert_string_equal(err.field, "spec.ingress[0].source.selector");
	assert_int_equal(err.column, 8);
	assert_non_null(strstr(err.msg, "NetworkPolicy bad"));
	assert_non_null(strstr(err.msg, "unterminated string"));

	ps.n_policies = 0;
	assert_int_equal(acl_index_new(&ps, &idx, &err), 0);
	assert_int_equal(acl_compile(idx, &noif, &rs), -EINVAL);
	acl_index_free(idx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_default_deny),
	    cmocka_unit_test(test_open),
	    cmocka_unit_test(test_namespace_selector),
	    cmocka_unit_test(test_service_accounts),
	    cmocka_unit_test(test_ipblock_except),
	    cmocka_unit_test(test_endport_range),
	    cmocka_unit_test(test_named_ports),
	    cmocka_unit_test(test_pass_two_tiers),
	    cmocka_unit_test(test_log_continues),
	    cmocka_unit_test(test_deny_before_allow),
	    cmocka_unit_test(test_anti_spoof),
	    cmocka_unit_test(test_ipv6),
	    cmocka_unit_test(test_workload_to_host),
	    cmocka_unit_test(test_host_endpoint),
	    cmocka_unit_test(test_profiles),
	    cmocka_unit_test(test_policy_hash),
	    cmocka_unit_test(test_sets),
	    cmocka_unit_test(test_set_filter),
	    cmocka_unit_test(test_errors),
	    cmocka_unit_test(test_ipt_fingerprints),
	    cmocka_unit_test(test_copied_policies),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
