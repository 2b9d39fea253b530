/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The nftables delta path against the real kernel, in a network namespace this test creates:
 * a random sequence of 200 endpoint (local and remote), host endpoint, policy and network
 * set changes goes through the incremental calculation and the nftables driver (nft-plan ->
 * nft-delta -> libnftnl batches), one commit per step. At checkpoints and at the end, `nft
 * list table inet tabby` read back from this namespace must equal the listing of a second,
 * fresh namespace into which the full render of the same state (acl_render_nft()) was loaded
 * with `nft -f`. Both listings are normalised only where the kernel's order is not ours:
 * blocks (sets, maps, chains) sorted by name, elements sorted inside each set. Then felix
 * "restarts" over that table again and again (check_adoption()), listing it at the commit or
 * ahead on the adoption thread: it must adopt it and send only what differs, including what
 * was changed behind its back, before or after the listing.
 * Needs root and nft (exit 77 otherwise).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "felix/calc/policy.h"
#include "felix/dataplane/policy/backend.h"
#include "lib/log.h"
#include "lib/strbuf.h"

#define P "/tabby/v1/"

static char tmpdir[] = "/tmp/tabby-nft-delta-XXXXXX";

/* ---- normalised listing ---- */

static int str_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sort the comma-separated items of every "elements = { ... }" in @block (in place copy). */
static char *norm_block(const char *block)
{
	struct strbuf out = {0};
	const char *p = block;
	for (;;) {
		const char *e = strstr(p, "elements = { ");
		if (!e) {
			assert_int_equal(strbuf_puts(&out, p), 0);
			break;
		}
		e += strlen("elements = { ");
		assert_int_equal(strbuf_append(&out, p, (size_t)(e - p)), 0);
		const char *end = strstr(e, " }");
		assert_non_null(end);
		char *items = strndup(e, (size_t)(end - e));
		char *v[100000];
		size_t n = 0;
		for (char *save = NULL, *t = strtok_r(items, ",", &save); t;
		     t = strtok_r(NULL, ",", &save)) {
			while (*t == ' ' || *t == '\n' || *t == '\t') {
				t++;
			}
			assert_true(n < ELEMENTSOF(v));
			v[n++] = t;
		}
		qsort(v, n, sizeof(*v), str_cmp);
		for (size_t i = 0; i < n; i++) {
			assert_int_equal(strbuf_printf(&out, "%s%s", i ? ", " : "", v[i]), 0);
		}
		free(items);
		p = end;
	}
	char *r = strdup(strbuf_cstr(&out));
	strbuf_done(&out);
	return r;
}

/* The listing with its blocks sorted by their first line. */
static char *normalise(const char *listing)
{
	char *blocks[4096];
	size_t n = 0;
	const char *p = strchr(listing, '\n');
	assert_non_null(p); /* "table inet tabby {" */
	p++;
	while (*p && strncmp(p, "}", 1) != 0) {
		const char *end = strstr(p, "\n\t}\n");
		assert_non_null(end);
		end += strlen("\n\t}\n");
		char *b = strndup(p, (size_t)(end - p));
		assert_true(n < ELEMENTSOF(blocks));
		blocks[n++] = norm_block(b);
		free(b);
		p = end;
		while (*p == '\n') {
			p++;
		}
	}
	qsort(blocks, n, sizeof(*blocks), str_cmp);
	struct strbuf out = {0};
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(strbuf_puts(&out, blocks[i]), 0);
		free(blocks[i]);
	}
	char *r = strdup(strbuf_cstr(&out));
	strbuf_done(&out);
	return r;
}

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "re");
	assert_non_null(f);
	struct strbuf sb = {0};
	char buf[65536];
	size_t n;
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0) {
		assert_int_equal(strbuf_append(&sb, buf, n), 0);
	}
	fclose(f);
	char *r = strdup(strbuf_cstr(&sb));
	strbuf_done(&sb);
	return r;
}

static void sh(const char *cmd)
{
	int r = system(cmd);
	if (r != 0) {
		fail_msg("command failed (%d): %s", r, cmd);
	}
}

/* Our namespace's table, and the full render loaded into a fresh namespace: equal. */
static void compare_with_render(const struct calc_policy *cp, unsigned step)
{
	char cmd[1024], ours[128], ref[128], script[128];
	snprintf(ours, sizeof(ours), "%s/ours.%u", tmpdir, step);
	snprintf(ref, sizeof(ref), "%s/ref.%u", tmpdir, step);
	snprintf(script, sizeof(script), "%s/render.%u.nft", tmpdir, step);

	snprintf(cmd, sizeof(cmd), "nft list table inet tabby >%s", ours);
	sh(cmd);
	_cleanup_strbuf_ struct strbuf sb = {0};
	struct acl_render_input in = calc_policy_render_input(cp);
	assert_int_equal(acl_render_nft(&in, &sb), 0);
	FILE *f = fopen(script, "we");
	assert_non_null(f);
	fputs(strbuf_cstr(&sb), f);
	assert_int_equal(fclose(f), 0);

	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		if (unshare(CLONE_NEWNET) < 0) {
			_exit(3);
		}
		snprintf(cmd, sizeof(cmd), "nft -f %s && nft list table inet tabby >%s", script,
			 ref);
		_exit(system(cmd) == 0 ? 0 : 4);
	}
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		fail_msg("step %u: loading the render into a fresh namespace failed (%d)", step,
			 status);
	}
	char *a = slurp(ours), *b = slurp(ref);
	char *na = normalise(a), *nb = normalise(b);
	if (strcmp(na, nb) != 0) {
		snprintf(cmd, sizeof(cmd), "diff -u %s %s | head -60 >&2", ref, ours);
		(void)system(cmd);
		fail_msg("step %u: the kernel's table differs from the full render (%s vs %s)",
			 step, ours, ref);
	}
	print_message("step %u: kernel table equals the full render (%zu bytes)\n", step,
		      strlen(a));
	free(a);
	free(b);
	free(na);
	free(nb);
}

/* ---- random changes ---- */

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
	if (r < 0) {
		char msg[512];
		fail_msg("put %s: %d %s", key, r, parse_err_format(&err, msg, sizeof(msg)));
	}
	(void)calc_policy_inc_note_key(s, key);
}

static void del(struct calc_cache *c, struct calc_policy_inc *s, const char *key)
{
	(void)calc_cache_delete(c, key);
	(void)calc_policy_inc_note_key(s, key);
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

static void random_wep(struct calc_cache *c, struct calc_policy_inc *s)
{
	unsigned i = rnd(40), ip = rnd(60);
	char key[256], v[2048], ips[200];
	snprintf(key, sizeof(key), P "workloadendpoints/a/ep%u", i);
	if (rnd(3) == 0) {
		snprintf(ips, sizeof(ips), "[\"198.19.0.%u/32\",\"2001:db8::%x/128\"]", ip, ip);
	} else {
		snprintf(ips, sizeof(ips), "[\"198.19.0.%u/32\"]", ip);
	}
	snprintf(v, sizeof(v),
		 "{\"apiVersion\":\"projectcalico.org/v3\",\"kind\":\"WorkloadEndpoint\","
		 "\"metadata\":{\"name\":\"ep%u\",\"namespace\":\"a\",\"labels\":%s},"
		 "\"spec\":{\"orchestrator\":\"cni\",\"node\":\"%s\",\"containerID\":\"c%u\","
		 "\"endpoint\":\"eth0\",\"interfaceName\":\"tby%08u\",\"ipNetworks\":%s,"
		 "\"ports\":[{\"name\":\"http\",\"protocol\":\"TCP\",\"port\":%u}]%s}}",
		 i, label_sets[rnd(ELEMENTSOF(label_sets))], rnd(2) ? "h1" : "h2", i, i, ips,
		 80 + rnd(2), rnd(4) == 0 ? ",\"profiles\":[\"prof\"]" : "");
	put(c, s, key, v);
}

static void random_policy(struct calc_cache *c, struct calc_policy_inc *s)
{
	unsigned i = rnd(8);
	bool global = i % 2;
	char key[128], v[2048];
	if (global) {
		snprintf(key, sizeof(key), P "globalnetworkpolicies/g%u", i);
	} else {
		snprintf(key, sizeof(key), P "networkpolicies/a/p%u", i);
	}
	snprintf(v, sizeof(v),
		 "{\"apiVersion\":\"projectcalico.org/v3\",\"kind\":\"%s\",\"metadata\":"
		 "{\"name\":\"%s%u\"%s},\"spec\":{\"order\":%u,\"selector\":\"%s\","
		 "\"ingress\":[{\"action\":\"Allow\",\"protocol\":\"TCP\",\"source\":"
		 "{\"selector\":\"%s\"},\"destination\":{\"ports\":[\"http\",%u]}},"
		 "{\"action\":\"Deny\",\"protocol\":\"UDP\",\"source\":{\"notSelector\":\"%s\"}}],"
		 "\"egress\":[{\"action\":\"Allow\",\"destination\":{\"selector\":\"%s\"}},"
		 "{\"action\":\"Deny\",\"destination\":{\"nets\":[\"198.18.%u.0/24\"]}}]}}",
		 global ? "GlobalNetworkPolicy" : "NetworkPolicy", global ? "g" : "p", i,
		 global ? "" : ",\"namespace\":\"a\"", rnd(3) * 10,
		 selectors[rnd(ELEMENTSOF(selectors))], selectors[rnd(ELEMENTSOF(selectors))],
		 8000 + rnd(3), selectors[rnd(ELEMENTSOF(selectors))],
		 selectors[rnd(ELEMENTSOF(selectors))], rnd(3));
	put(c, s, key, v);
}

static void random_netset(struct calc_cache *c, struct calc_policy_inc *s)
{
	unsigned i = rnd(2);
	char key[128], v[1024];
	snprintf(key, sizeof(key), P "globalnetworksets/gs%u", i);
	snprintf(v, sizeof(v),
		 "{\"apiVersion\":\"projectcalico.org/v3\",\"kind\":\"GlobalNetworkSet\","
		 "\"metadata\":{\"name\":\"gs%u\",\"labels\":%s},\"spec\":{\"nets\":"
		 "[\"198.19.1.%u/28\",\"198.18.9.0/24\"]}}",
		 i, label_sets[rnd(ELEMENTSOF(label_sets))], rnd(2) ? 0 : 16);
	put(c, s, key, v);
}

static void random_hep(struct calc_cache *c, struct calc_policy_inc *s)
{
	char v[1024];
	snprintf(v, sizeof(v),
		 "{\"apiVersion\":\"projectcalico.org/v3\",\"kind\":\"HostEndpoint\","
		 "\"metadata\":{\"name\":\"hep0\",\"labels\":%s},\"spec\":{\"node\":\"h1\","
		 "\"interfaceName\":\"%s\",\"expectedIPs\":[\"198.18.0.%u\"]}}",
		 label_sets[rnd(ELEMENTSOF(label_sets))], rnd(3) == 0 ? "*" : "eth1", 1 + rnd(4));
	put(c, s, P "hostendpoints/hep0", v);
}

/* How a restart_commit() lists the table: at the commit, ahead on the adoption thread (as
 * felix does while it computes), or ahead and then forgotten (as felix's first apply does,
 * which must not lose the listing), or ahead with a foreign transaction in between (@tamper:
 * the listing is stale, the commit must list again). */
enum listing { AT_COMMIT, AHEAD, AHEAD_FORGET, AHEAD_TAMPERED };

/* A new driver (felix restarted) commits @cp over the table in the kernel: it adopts the
 * table and sends only what differs. @tamper (AHEAD_TAMPERED): a shell command run after the
 * listing. Return: what the first commit did. */
static struct felix_pol_stats restart_commit(const struct calc_policy *cp, const char *what,
					     enum listing how, const char *tamper)
{
	struct felix_nft *nft = NULL;
	struct felix_pol_stats st;
	char err[512];
	assert_int_equal(felix_nft_new(&nft), 0);
	if (how != AT_COMMIT) {
		felix_nft_adopt_ahead(nft);
		felix_nft_adopt_ahead(nft); /* once is enough: a no-op while it runs */
	}
	if (how == AHEAD_FORGET) {
		felix_nft_forget(nft);
	}
	if (how == AHEAD_TAMPERED) {
		(void)felix_nft_ready(nft); /* waits for the listing */
		sh(tamper);
	}
	int r = felix_nft_commit(nft, cp, &st, err, sizeof(err));
	if (r < 0) {
		fail_msg("%s: commit: %d %s", what, r, err);
	}
	print_message("%s: full %d noop %d, elements +%zu -%zu, chains written %zu removed %zu, "
		      "%zu bytes\n",
		      what, st.full, st.noop, st.elems_added, st.elems_removed, st.chains_written,
		      st.chains_removed, st.bytes);
	assert_true(st.full);
	/* a resync now knows the kernel holds what the driver remembers, sent or adopted */
	assert_true(felix_nft_unchanged(nft));
	felix_nft_free(nft);
	return st;
}

/*
 * Restart adoption (nft-adopt.c) against the kernel: a restart over the table the deltas left
 * sends nothing; one over a table changed behind felix's back repairs exactly the changes
 * (a foreign rule appended, one inserted, a chain flushed, a foreign chain and set, a map and a set flushed,
 * a foreign map element); one over a chain whose policy was changed replaces the table, and
 * so does one over the same table loaded from the text render (no tags, as a tabby from
 * before tags left it). A listing made ahead (felix_nft_adopt_ahead()) serves the commit even
 * after felix_nft_forget(), unless a transaction changed the table after it. Each time the
 * kernel's table must equal the full render.
 */
static void check_adoption(const struct calc_policy *cp)
{
	struct felix_pol_stats st = restart_commit(cp, "restart over the deltas", AT_COMMIT, NULL);
	assert_int_equal(st.bytes, 0);
	assert_int_equal(st.chains_written + st.chains_removed, 0);
	assert_int_equal(st.elems_added + st.elems_removed, 0);
	compare_with_render(cp, 1000);
	st = restart_commit(cp, "restart, listed ahead", AHEAD, NULL);
	assert_int_equal(st.bytes, 0);
	st = restart_commit(cp, "restart, listed ahead and forgotten", AHEAD_FORGET, NULL);
	assert_int_equal(st.bytes, 0);
	/* a flush after the listing: the commit lists again and refills the chain */
	st = restart_commit(cp, "restart, listed ahead, changed since", AHEAD_TAMPERED,
			    "nft flush chain inet tabby input");
	assert_int_equal(st.chains_written, 1);
	compare_with_render(cp, 999);

	sh("nft add rule inet tabby forward counter comment '\"not ours, last\"'");
	sh("nft insert rule inet tabby output counter comment '\"not ours, first\"'");
	sh("nft flush chain inet tabby input");
	sh("nft add chain inet tabby tby-stale-chain");
	sh("nft add set inet tabby tby-stale-set '{ type ipv4_addr; }'");
	sh("nft flush set inet tabby wl-ifaces");
	sh("nft flush map inet tabby tw-dispatch");
	sh("nft add element inet tabby fw-dispatch '{ \"tbyforeign\" : drop }'");
	st = restart_commit(cp, "restart over a changed table", AHEAD_FORGET, NULL);
	assert_int_equal(st.chains_written, 3); /* forward, output and input refilled */
	assert_int_equal(st.chains_removed, 1);
	assert_int_equal(st.elems_removed, 1);
	assert_true(st.elems_added >= 2);
	assert_true(st.bytes > 0);
	compare_with_render(cp, 1001);

	sh("nft add chain inet tabby output '{ type filter hook output priority filter; policy "
	   "drop; }'");
	st = restart_commit(cp, "restart over a changed declaration", AHEAD, NULL);
	assert_true(st.chains_written > 2); /* replaced: every chain */
	compare_with_render(cp, 1002);

	/* The same table loaded from the text render (as a tabby from before tags left it):
	 * nothing carries a tag, so the restart replaces it, and the table is tagged after. */
	char script[128], cmd[256];
	_cleanup_strbuf_ struct strbuf sb = {0};
	struct acl_render_input in = calc_policy_render_input(cp);
	assert_int_equal(acl_render_nft(&in, &sb), 0);
	snprintf(script, sizeof(script), "%s/untagged.nft", tmpdir);
	FILE *f = fopen(script, "we");
	assert_non_null(f);
	fputs(strbuf_cstr(&sb), f);
	assert_int_equal(fclose(f), 0);
	snprintf(cmd, sizeof(cmd), "nft -f %s", script);
	sh(cmd);
	struct felix_pol_stats untagged =
	    restart_commit(cp, "restart over an untagged table", AT_COMMIT, NULL);
	assert_int_equal(untagged.chains_written, st.chains_written);
	compare_with_render(cp, 1003);
	st = restart_commit(cp, "restart after that", AHEAD_FORGET, NULL);
	assert_int_equal(st.bytes, 0);
}

static void test_random_sequence(void **state)
{
	struct calc_cache *c = NULL;
	struct calc_policy_inc *inc = NULL;
	struct felix_nft *nft = NULL;
	struct calc_policy_options o = {.node_name = "h1"};
	unsigned replaces = 0, deltas = 0;
	const char *seed_env = getenv("TABBY_TEST_SEED");

	rng = seed_env ? strtoull(seed_env, NULL, 0) : (uint64_t)time(NULL) * 2654435761u + 1;
	print_message("seed %llu (TABBY_TEST_SEED to repeat)\n", (unsigned long long)rng);
	assert_int_equal(calc_cache_new(&c), 0);
	assert_int_equal(calc_policy_inc_new(&o, &inc), 0);
	assert_int_equal(felix_nft_new(&nft), 0);
	put(c, inc, P "profiles/prof",
	    "{\"apiVersion\":\"projectcalico.org/v3\",\"kind\":\"Profile\",\"metadata\":"
	    "{\"name\":\"prof\"},\"spec\":{\"ingress\":[{\"action\":\"Allow\",\"source\":"
	    "{\"selector\":\"app == 'web'\"}}],\"egress\":[{\"action\":\"Allow\"}]}}");
	for (unsigned i = 0; i < 3; i++) {
		random_policy(c, inc);
	}
	for (unsigned i = 0; i < 15; i++) {
		random_wep(c, inc);
	}

	for (unsigned step = 0; step < 200; step++) {
		unsigned n = rnd(10) == 0 ? 2 + rnd(4) : 1;
		for (unsigned k = 0; k < n; k++) {
			unsigned op = rnd(100);
			char key[128];
			if (op < 55) {
				random_wep(c, inc);
			} else if (op < 72) {
				snprintf(key, sizeof(key), P "workloadendpoints/a/ep%u", rnd(40));
				del(c, inc, key);
			} else if (op < 86) {
				random_policy(c, inc);
			} else if (op < 90) {
				unsigned i = rnd(8);
				if (i % 2) {
					snprintf(key, sizeof(key), P "globalnetworkpolicies/g%u",
						 i);
				} else {
					snprintf(key, sizeof(key), P "networkpolicies/a/p%u", i);
				}
				del(c, inc, key);
			} else if (op < 94) {
				random_netset(c, inc);
			} else if (op < 97) {
				random_hep(c, inc);
			} else if (op < 98) {
				del(c, inc, P "hostendpoints/hep0");
			} else {
				felix_nft_forget(nft); /* a resync: full replace */
			}
		}
		struct calc_policy_update up;
		struct parse_err perr = {0};
		char err[512];
		struct felix_pol_stats st;
		assert_int_equal(calc_policy_inc_update(inc, c, &up, &perr), 0);
		const struct calc_policy *cp = calc_policy_inc_get(inc);
		assert_int_equal(felix_nft_note(nft, cp, &up), 0);
		int r = felix_nft_commit(nft, cp, &st, err, sizeof(err));
		if (r < 0) {
			fail_msg("step %u: commit: %d %s", step, r, err);
		}
		if (!st.noop) {
			replaces += st.full;
			deltas += !st.full;
		}
		if (step % 50 == 49 || step == 0) {
			compare_with_render(cp, step);
		}
	}
	print_message("%u full replaces, %u delta batches\n", replaces, deltas);
	assert_true(deltas > 100);
	check_adoption(calc_policy_inc_get(inc));
	felix_nft_free(nft);
	calc_policy_inc_free(inc);
	calc_cache_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_random_sequence),
	};
	if (geteuid() != 0 || system("nft --version >/dev/null 2>&1") != 0) {
		fprintf(stderr, "needs root and nft\n");
		return 77;
	}
	if (unshare(CLONE_NEWNET) < 0) {
		perror("unshare(CLONE_NEWNET)");
		return 77;
	}
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 1;
	}
	int r = cmocka_run_group_tests(tests, NULL, NULL);
	if (r == 0) {
		char cmd[128];
		snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
		(void)system(cmd);
	}
	return r;
}
