/* SPDX-License-Identifier: Apache-2.0 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>
#include <errno.h>
#include <stdlib.h>

#include "lib/base64.h"
#include "lib/cidr.h"

struct prefix_case {
	const char *text;
	bool strict;
	int ret;
	const char *canonical;
};

static void test_prefix_parse_table(void **state)
{
	static const struct prefix_case cases[] = {
	    {"198.19.0.0/26", true, 0, "198.19.0.0/26"},
	    {"198.19.0.1/26", true, -EINVAL, NULL},
	    {"198.19.0.1/26", false, 0, "198.19.0.1/26"},
	    {"10.0.0.0/33", true, -EINVAL, NULL},
	    {"10.0.0.0/", true, -EINVAL, NULL},
	    {"10.0.0.0/-1", true, -EINVAL, NULL},
	    {"10.0.0.0/2x", true, -EINVAL, NULL},
	    {"300.0.0.0/8", true, -EINVAL, NULL},
	    {"198.18.0.11", true, 0, "198.18.0.11/32"},
	    {"2001:db8::/32", true, 0, "2001:db8::/32"},
	    {"2001:DB8:0:0::1/128", true, 0, "2001:db8::1/128"},
	    {"2001:db8::/129", true, -EINVAL, NULL},
	    {"", true, -EINVAL, NULL},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct ip_prefix p;
		char buf[IP_PREFIX_STRLEN];
		int r = ip_prefix_parse(cases[i].text, cases[i].strict, &p);

		assert_int_equal(r, cases[i].ret);
		if (r == 0)
			assert_string_equal(ip_prefix_format(&p, buf), cases[i].canonical);
	}
}

static struct ip_prefix P(const char *s) {
	struct ip_prefix p;
	assert_int_equal(ip_prefix_parse(s, false, &p), 0);
	return p;
}

static void
test_contains_overlaps(void **state)
{
	struct ip_prefix pool = P("198.19.0.0/16"), blk = P("198.19.0.64/26");
	struct ip_prefix other = P("198.18.0.0/16"), v6 = P("2001:db8::/32");

	assert_true(ip_prefix_contains(&pool, &blk));
	assert_false(ip_prefix_contains(&blk, &pool));
	assert_true(ip_prefix_overlaps(&blk, &pool));
	assert_false(ip_prefix_overlaps(&pool, &other));
	assert_false(ip_prefix_overlaps(&pool, &v6));
	struct ip_prefix last = P("198.19.0.127"), next = P("198.19.0.128");

	assert_true(ip_prefix_contains_addr(&blk, &last.addr));
	assert_false(ip_prefix_contains_addr(&blk, &next.addr));
}

static void test_offset_add(void **state)
{
	struct ip_prefix blk = P("198.19.0.64/26");
	struct ip_addr a;
	char buf[IP_ADDR_STRLEN];

	assert_int_equal(ip_addr_add(&blk.addr, 63, &a), 0);
	assert_string_equal(ip_addr_format(&a, buf), "198.19.0.127");
	struct ip_prefix top = P("255.255.255.255"), v6 = P("2001:db8::ffff"),
			 unm = P("198.19.0.65/26");
	struct ip_prefix in = P("198.19.0.100"), out = P("198.19.1.0");

	assert_int_equal(ip_addr_add(&top.addr, 1, &a), -ERANGE);
	assert_int_equal(ip_addr_add(&v6.addr, 1, &a), 0);
	assert_string_equal(ip_addr_format(&a, buf), "2001:db8::1:0");
	assert_int_equal(ip_prefix_size(&blk), 64);
	assert_true(ip_prefix_is_masked(&blk));
	assert_false(ip_prefix_is_masked(&unm));
	assert_int_equal(ip_prefix_offset(&blk, &in.addr), 36);
	assert_int_equal(ip_prefix_offset(&blk, &out.addr), -1);
}

static void test_base64_roundtrip(void **state)
{
	static const struct {
		const char *plain, *enc;
	} v[] = {{"", ""},
		 {"f", "Zg=="},
		 {"fo", "Zm8="},
		 {"foo", "Zm9v"},
		 {"/tabby/v1/", "L3RhYmJ5L3YxLw=="},
		 {"foobar", "Zm9vYmFy"}};
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		char *e = NULL, *d = NULL;
		size_t n;

		assert_int_equal(base64_encode(v[i].plain, strlen(v[i].plain), &e), 0);
		assert_string_equal(e, v[i].enc);
		assert_int_equal(base64_decode(e, strlen(e), &d, &n), 0);
		assert_int_equal(n, strlen(v[i].plain));
		assert_memory_equal(d, v[i].plain, n);
		free(e);
		free(d);
	}
	char *d = NULL;
	size_t n;
	assert_int_equal(base64_decode("Zm9v!", 5, &d, &n), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_prefix_parse_table),
	    cmocka_unit_test(test_contains_overlaps),
	    cmocka_unit_test(test_offset_add),
	    cmocka_unit_test(test_base64_roundtrip),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
