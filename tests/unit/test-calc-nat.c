/* SPDX-License-Identifier: Apache-2.0 */
/* felix/calc/nat.c: IPPools -> the masq and all prefix sets (table-driven), the same through the
 * cache as pools come, change and go, and the two renderings against golden files
 * (tests/golden/nat/<case>/expected.nft, expected.ipt, expected.ipset; UPDATE_GOLDEN=1 rewrites
 * them). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "felix/calc/calc.h"
#include "lib/cidr.h"
#include "lib/strbuf.h"

struct pool_in {
	const char *cidr;
	bool nat, disabled;
};

struct nat_case {
	const char *name;
	struct pool_in pools[6];
	const char *want; /* calc_nat_format() */
};

static const struct nat_case cases[] = {
    {"none", {{0}}, ""},
    {"no-nat", {{"198.19.0.0/16", false, false}}, "all 198.19.0.0/16\n"},
    {"one-nat", {{"198.19.0.0/16", true, false}}, "masq 198.19.0.0/16\nall 198.19.0.0/16\n"},
    /* Calico: a disabled pool is inside, and still masqueraded when natOutgoing */
    {"disabled-inside",
     {{"198.19.0.0/17", true, false}, {"198.19.128.0/17", false, true}},
     "masq 198.19.0.0/17\nall 198.19.0.0/17\nall 198.19.128.0/17\n"},
    {"disabled-nat", {{"198.19.0.0/17", true, true}}, "masq 198.19.0.0/17\nall 198.19.0.0/17\n"},
    /* a pool inside a wider (disabled) pool: the wider one covers it in "all" */
    {"nested",
     {{"198.19.0.0/16", false, true}, {"198.19.4.0/24", true, false}},
     "masq 198.19.4.0/24\nall 198.19.0.0/16\n"},
    {"dup-and-order",
     {{"2001:db8:1::/64", true, false},
      {"198.18.200.0/24", true, false},
      {"198.18.100.0/24", false, false},
      {"198.18.200.0/24", true, true}},
     "masq 198.18.200.0/24\nmasq 2001:db8:1::/64\n"
     "all 198.18.100.0/24\nall 198.18.200.0/24\nall 2001:db8:1::/64\n"},
};

static void build(const struct pool_in *in, struct calc_nat *ret)
{
	struct model_ippool pools[6] = {0};
	size_t n = 0;

	for (; n < 6 && in[n].cidr; n++) {
		assert_int_equal(ip_prefix_parse(in[n].cidr, true, &pools[n].cidr), 0);
		pools[n].nat_outgoing = in[n].nat;
		pools[n].disabled = in[n].disabled;
	}
	assert_int_equal(calc_nat_from_pools(pools, n, ret), 0);
}

static char *fmt(const struct calc_nat *n)
{
	struct strbuf sb = {0};

	assert_int_equal(calc_nat_format(n, &sb), 0);
	return sb.buf ? strbuf_steal(&sb) : strdup("");
}

static void test_from_pools(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct calc_nat n, copy;
		char *got;

		build(cases[i].pools, &n);
		got = fmt(&n);
		if (strcmp(got, cases[i].want) != 0) {
			fail_msg("case %s: got\n%swant\n%s", cases[i].name, got, cases[i].want);
		}
		assert_int_equal(calc_nat_copy(&n, &copy), 0);
		assert_true(calc_nat_equal(&n, &copy));
		free(got);
		calc_nat_done(&copy);
		calc_nat_done(&n);
	}
}

static void test_too_many(void **state)
{
	struct model_ippool *v = calloc(CALC_NAT_MAX_POOLS + 1, sizeof(*v));
	struct calc_nat n = {0};

	(void)state;
	assert_non_null(v);
	assert_int_equal(calc_nat_from_pools(v, CALC_NAT_MAX_POOLS + 1, &n), -E2BIG);
	assert_null(n.masq);
	free(v);
}

#define P "/tabby/v1/"

static void put_pool(struct calc_cache *c, const char *name, const char *cidr, bool nat,
		     bool disabled)
{
	char key[128], *s;
	struct parse_err err = {0};

	snprintf(key, sizeof(key), P "ippools/%s", name);
	assert_true(asprintf(&s,
			     "{\"apiVersion\":\"projectcalico.org/v3\",\"kind\":\"IPPool\","
			     "\"metadata\":{\"name\":\"%s\"},\"spec\":{\"cidr\":\"%s\","
			     "\"natOutgoing\":%s,\"disabled\":%s}}",
			     name, cidr, nat ? "true" : "false", disabled ? "true" : "false") > 0);
	assert_int_equal(calc_cache_put(c, key, s, strlen(s), &err), 1);
	free(s);
}

static void expect_cache(struct calc_cache *c, const char *want)
{
	struct calc_nat n;
	char *got;

	assert_int_equal(calc_nat_compute(c, &n), 0);
	got = fmt(&n);
	assert_string_equal(got, want);
	free(got);
	calc_nat_done(&n);
}

/* The state follows the pools: create, toggle natOutgoing, disable, delete. */
static void test_cache_sequence(void **state)
{
	struct calc_cache *c = NULL;

	(void)state;
	assert_int_equal(calc_cache_new(&c), 0);
	expect_cache(c, "");
	put_pool(c, "a", "198.19.0.0/16", true, false);
	expect_cache(c, "masq 198.19.0.0/16\nall 198.19.0.0/16\n");
	put_pool(c, "b", "198.18.64.0/24", false, false);
	expect_cache(c, "masq 198.19.0.0/16\nall 198.18.64.0/24\nall 198.19.0.0/16\n");
	put_pool(c, "a", "198.19.0.0/16", false, false);
	expect_cache(c, "all 198.18.64.0/24\nall 198.19.0.0/16\n");
	put_pool(c, "a", "198.19.0.0/16", true, true);
	expect_cache(c, "masq 198.19.0.0/16\nall 198.18.64.0/24\nall 198.19.0.0/16\n");
	assert_int_equal(calc_cache_delete(c, P "ippools/a"), 1);
	expect_cache(c, "all 198.18.64.0/24\n");
	assert_int_equal(calc_cache_delete(c, P "ippools/b"), 1);
	expect_cache(c, "");
	calc_cache_free(c);
}

static char *read_file(const char *path)
{
	FILE *f = fopen(path, "re");
	struct strbuf sb = {0};
	char buf[4096];
	size_t n;

	if (!f) {
		return NULL;
	}
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0) {
		assert_int_equal(strbuf_append(&sb, buf, n), 0);
	}
	fclose(f);
	return sb.buf ? strbuf_steal(&sb) : strdup("");
}

static void check_golden(const char *name, const char *file, const char *text)
{
	char path[512];
	char *want;

	snprintf(path, sizeof(path), "%s/tests/golden/nat/%s/%s", TABBY_SOURCE_DIR, name, file);
	if (getenv("UPDATE_GOLDEN")) {
		char dir[512];
		FILE *f;

		snprintf(dir, sizeof(dir), "%s/tests/golden/nat/%s", TABBY_SOURCE_DIR, name);
		mkdir(dir, 0755);
		f = fopen(path, "we");
		assert_non_null(f);
		assert_true(fputs(text, f) >= 0);
		assert_int_equal(fclose(f), 0);
		return;
	}
	want = read_file(path);
	if (!want) {
		fail_msg("missing golden file %s (run with UPDATE_GOLDEN=1)", path);
	}
	if (strcmp(want, text) != 0) {
		fprintf(stderr, "--- %s\n+++ rendered\n%s", path, text);
		free(want);
		fail_msg("%s differs from the rendered text", path);
	}
	free(want);
}

static void test_golden(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct strbuf nft = {0}, ipt = {0}, ipset = {0};
		struct calc_nat n;

		build(cases[i].pools, &n);
		assert_int_equal(calc_nat_render_nft(&n, &nft), 0);
		assert_int_equal(calc_nat_render_ipt(&n, AF_INET, &ipt, &ipset), 0);
		assert_int_equal(calc_nat_render_ipt(&n, AF_INET6, &ipt, &ipset), 0);
		assert_int_equal(calc_nat_render_ipt(&n, AF_UNSPEC, &ipt, &ipset), -EINVAL);
		check_golden(cases[i].name, "expected.nft", nft.buf ? nft.buf : "");
		check_golden(cases[i].name, "expected.ipt", ipt.buf ? ipt.buf : "");
		check_golden(cases[i].name, "expected.ipset", ipset.buf ? ipset.buf : "");
		strbuf_done(&nft);
		strbuf_done(&ipt);
		strbuf_done(&ipset);
		calc_nat_done(&n);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_from_pools),
	    cmocka_unit_test(test_too_many),
	    cmocka_unit_test(test_cache_sequence),
	    cmocka_unit_test(test_golden),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
