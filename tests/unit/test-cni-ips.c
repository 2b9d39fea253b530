/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The dual-stack parts of the CNI configuration (cni/cni.c), pure: ipam.assign_ipv4 /
 * ipam.assign_ipv6 / ipam.ipv6_pools, pinned addresses one per family (cni_pinned_ips()) and the
 * addresses of a result (cni_result_ips()). Every case gives the configuration as stdin would
 * (a pipe into cni_conf_read()) and checks the error code and message naming the field.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <unistd.h>

#include <json-c/json.h>

#include "cni/cni.h"

#define HEAD "{\"cniVersion\":\"1.0.0\",\"name\":\"n\",\"type\":\"tabby\""

/* cni_conf_read() of @text through a pipe. */
static int read_conf(const char *text, struct cni_conf *c, struct cni_error *e)
{
	int fds[2], r;

	assert_int_equal(pipe(fds), 0);
	assert_int_equal(write(fds[1], text, strlen(text)), (ssize_t)strlen(text));
	close(fds[1]);
	r = cni_conf_read(fds[0], false, c, e);
	close(fds[0]);
	return r;
}

static const char *fmt(const struct ip_addr *a)
{
	static char buf[4][IP_ADDR_STRLEN];
	static unsigned i;

	return ip_addr_format(a, buf[i++ % 4]);
}

static void test_assign_keys(void **state)
{
	static const struct {
		const char *ipam; /* the ipam object's members after "type" */
		int code;	  /* 0: accepted */
		bool v4, v6;
		const char *msg;
	} cases[] = {
	    {"", 0, true, false, NULL},
	    {",\"assign_ipv6\":\"true\"", 0, true, true, NULL},
	    {",\"assign_ipv6\":true,\"assign_ipv4\":\"false\"", 0, false, true, NULL},
	    {",\"assign_ipv4\":null,\"assign_ipv6\":false", 0, true, false, NULL},
	    {",\"assign_ipv6\":\"yes\"", 7, 0, 0,
	     "ipam.assign_ipv6: must be \"true\" or \"false\", got yes"},
	    {",\"assign_ipv4\":1", 7, 0, 0,
	     "ipam.assign_ipv4: must be \"true\" or \"false\", got 1"},
	    {",\"assign_ipv4\":\"false\"", 7, 0, 0,
	     "ipam.assign_ipv4, ipam.assign_ipv6: both are false, at least one family must be "
	     "assigned"},
	    {",\"ipv6_pools\":\"p6\"", 7, 0, 0, "ipam.ipv6_pools: must be a list of pool names"},
	    {",\"ipv6_pools\":[\"\"]", 7, 0, 0, "ipam.ipv6_pools[0]: must be a pool name"},
	};
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char text[512];
		struct cni_conf c = {0};
		struct cni_error e = {0};
		int r;

		snprintf(text, sizeof(text), HEAD ",\"ipam\":{\"type\":\"tabby-ipam\"%s}}",
			 cases[i].ipam);
		r = read_conf(text, &c, &e);
		if (cases[i].code) {
			assert_int_equal(r, -EINVAL);
			assert_int_equal(e.code, cases[i].code);
			assert_string_equal(e.msg, cases[i].msg);
		} else {
			assert_int_equal(r, 0);
			assert_int_equal(c.assign_ipv4, cases[i].v4);
			assert_int_equal(c.assign_ipv6, cases[i].v6);
		}
		cni_conf_done(&c);
	}

	/* pools: names or CIDRs, per family */
	struct cni_conf c = {0};
	struct cni_error e = {0};

	assert_int_equal(read_conf(HEAD
				   ",\"ipam\":{\"type\":\"tabby-ipam\",\"ipv4_pools\":[\"p4\"],"
				   "\"ipv6_pools\":[\"p6\",\"2001:db8:19::/112\"]}}",
				   &c, &e),
			 0);
	assert_string_equal(c.ipv4_pools[0], "p4");
	assert_null(c.ipv4_pools[1]);
	assert_string_equal(c.ipv6_pools[0], "p6");
	assert_string_equal(c.ipv6_pools[1], "2001:db8:19::/112");
	assert_null(c.ipv6_pools[2]);
	cni_conf_done(&c);
	/* no ipam section: the defaults */
	assert_int_equal(read_conf(HEAD "}", &c, &e), 0);
	assert_true(c.assign_ipv4);
	assert_false(c.assign_ipv6);
	cni_conf_done(&c);
}

static void test_pinned(void **state)
{
	static const struct {
		const char *extra; /* after "ipam" */
		const char *ip;	   /* CNI_ARGS IP=, or NULL */
		int ret;	   /* count, or the negative errno */
		int code;
		const char *v4, *v6, *msg;
	} cases[] = {
	    {"", NULL, 0, 0, NULL, NULL, NULL},
	    {"", "198.19.0.5,2001:db8:19::5", 2, 0, "198.19.0.5", "2001:db8:19::5", NULL},
	    {"", "2001:db8:19::5", 1, 0, NULL, "2001:db8:19::5", NULL},
	    {"", "198.19.0.5", 1, 0, "198.19.0.5", NULL, NULL},
	    {",\"runtimeConfig\":{\"ips\":[\"2001:db8:19::5/64\",\"198.19.0.5/32\"]}", NULL, 2, 0,
	     "198.19.0.5", "2001:db8:19::5", NULL},
	    {",\"args\":{\"cni\":{\"ips\":[\"2001:db8:19::5\"]}}", "2001:db8:19::5", 1, 0, NULL,
	     "2001:db8:19::5", NULL},
	    {"", "2001:db8:19::5,2001:db8:19::6", -EINVAL, 4, NULL, NULL,
	     "CNI_ARGS IP: two IPv6 addresses (2001:db8:19::5, 2001:db8:19::6): at most one per "
	     "family"},
	    {"", "198.19.0.5,bogus", -EINVAL, 4, NULL, NULL,
	     "CNI_ARGS IP: \"bogus\" is not an IP address"},
	    {",\"runtimeConfig\":{\"ips\":[\"2001:db8:19::5\"]}", "2001:db8:19::6", -EINVAL, 4,
	     NULL, NULL,
	     "CNI_ARGS IP: 2001:db8:19::6 disagrees with runtimeConfig.ips 2001:db8:19::5"},
	};
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char text[512];
		struct cni_conf c = {0};
		struct cni_error e = {0};
		struct cni_env env = {.ip = cases[i].ip};
		struct cni_ips ips = {0};
		int r;

		snprintf(text, sizeof(text),
			 HEAD ",\"ipam\":{\"type\":\"tabby-ipam\",\"assign_ipv6\":\"true\"}%s}",
			 cases[i].extra);
		assert_int_equal(read_conf(text, &c, &e), 0);
		r = cni_pinned_ips(&c, &env, &ips, &e);
		assert_int_equal(r, cases[i].ret);
		if (r < 0) {
			assert_int_equal(e.code, cases[i].code);
			assert_string_equal(e.msg, cases[i].msg);
		} else {
			assert_int_equal(ips.has_v4, cases[i].v4 != NULL);
			assert_int_equal(ips.has_v6, cases[i].v6 != NULL);
			if (cases[i].v4)
				assert_string_equal(fmt(&ips.v4), cases[i].v4);
			if (cases[i].v6)
				assert_string_equal(fmt(&ips.v6), cases[i].v6);
		}
		cni_conf_done(&c);
	}

	/* configuration-level refusals, and a family that is not assigned */
	struct cni_conf c = {0};
	struct cni_error e = {0};
	struct cni_env env = {.ip = "2001:db8:19::5"};
	struct cni_ips ips;

	assert_int_equal(read_conf(HEAD ",\"ipam\":{\"type\":\"tabby-ipam\"},\"args\":{\"cni\":"
					"{\"ips\":[\"198.19.0.5\",\"198.19.0.6\"]}}}",
				   &c, &e),
			 -EINVAL);
	assert_int_equal(e.code, 7);
	assert_string_equal(e.msg, "args.cni.ips: two IPv4 addresses (198.19.0.5, 198.19.0.6): at "
				   "most one per family");
	cni_conf_done(&c);
	e = (struct cni_error){0};
	assert_int_equal(read_conf(HEAD
				   ",\"runtimeConfig\":{\"ips\":[\"198.19.0.5\",\"198.19.0.6\","
				   "\"2001:db8::1\"]}}",
				   &c, &e),
			 -EINVAL);
	assert_string_equal(e.msg, "runtimeConfig.ips: 3 addresses, tabby assigns at most one IPv4 "
				   "and one IPv6 address per interface");
	cni_conf_done(&c);
	e = (struct cni_error){0};
	assert_int_equal(read_conf(HEAD ",\"ipam\":{\"type\":\"tabby-ipam\"}}", &c, &e), 0);
	assert_int_equal(cni_pinned_ips(&c, &env, &ips, &e), -EINVAL);
	assert_int_equal(e.code, 4);
	assert_string_equal(e.msg,
			    "CNI_ARGS IP: 2001:db8:19::5 is an IPv6 address but ipam.assign_ipv6 "
			    "is false");
	cni_conf_done(&c);
}

static void test_result_ips(void **state)
{
	static const struct {
		const char *json;
		int ret;
		const char *v4, *v6, *msg;
	} cases[] = {
	    {"{\"ips\":[{\"address\":\"198.19.0.5/32\"},{\"address\":\"2001:db8:19::5/128\"}]}", 0,
	     "198.19.0.5", "2001:db8:19::5", NULL},
	    {"{\"ips\":[{\"address\":\"2001:db8:19::5/128\"}]}", 0, NULL, "2001:db8:19::5", NULL},
	    {"{\"ips\":[{\"version\":\"4\",\"address\":\"198.19.0.5/26\"}]}", 0, "198.19.0.5", NULL,
	     NULL},
	    {"{\"ips\":[]}", 0, NULL, NULL, NULL},
	    {"{}", -EINVAL, NULL, NULL, "ipam result.ips: missing"},
	    {"{\"ips\":[{\"address\":\"2001:db8::1/128\"},{\"address\":\"2001:db8::2/128\"}]}",
	     -EINVAL, NULL, NULL, "ipam result.ips[1].address: a second IPv6 address"},
	    {"{\"ips\":[{\"address\":\"198.19.0.300/32\"}]}", -EINVAL, NULL, NULL,
	     "ipam result.ips[0].address: invalid \"198.19.0.300/32\""},
	    {"{\"ips\":[{}]}", -EINVAL, NULL, NULL, "ipam result.ips[0].address: missing"},
	};
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct json_object *o = json_tokener_parse(cases[i].json);
		struct cni_error e = {0};
		struct cni_ips ips = {0};

		assert_non_null(o);
		assert_int_equal(cni_result_ips(o, "ipam result", &ips, &e), cases[i].ret);
		if (cases[i].ret < 0) {
			assert_int_equal(e.code, 6);
			assert_string_equal(e.msg, cases[i].msg);
		} else {
			assert_int_equal(ips.has_v4, cases[i].v4 != NULL);
			assert_int_equal(ips.has_v6, cases[i].v6 != NULL);
			if (cases[i].v4)
				assert_string_equal(fmt(&ips.v4), cases[i].v4);
			if (cases[i].v6)
				assert_string_equal(fmt(&ips.v6), cases[i].v6);
		}
		json_object_put(o);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_assign_keys),
	    cmocka_unit_test(test_pinned),
	    cmocka_unit_test(test_result_ips),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
