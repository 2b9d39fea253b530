/* SPDX-License-Identifier: Apache-2.0 */
/* cni/mtu.c: the workload veth MTU (Calico's rule: host MTU, less 50 bytes for VXLAN pools;
 * an explicit CNI "mtu" wins; FelixConfiguration vxlanMTU for VXLAN pools). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "cni/mtu.h"

static void test_veth_mtu_table(void **state)
{
	static const struct {
		unsigned host, configured;
		bool encap;
		unsigned felix_vxlan, want;
	} cases[] = {
	    /* routed pool: the host MTU */
	    {1500, 0, false, 0, 1500},
	    {1450, 0, false, 0, 1450},
	    {9000, 0, false, 0, 9000},
	    /* VXLAN pool: 50 bytes less */
	    {1500, 0, true, 0, 1450},
	    {9000, 0, true, 0, 8950},
	    {1450, 0, true, 0, 1400},
	    /* vxlanMTU only matters for encapsulating pools */
	    {1500, 0, true, 1400, 1400},
	    {1500, 0, true, 8950, 8950},
	    {1500, 0, false, 1400, 1500},
	    /* an explicit mtu wins over everything */
	    {1500, 1400, false, 0, 1400},
	    {1500, 1400, true, 0, 1400},
	    {1500, 1300, true, 1200, 1300},
	    {1500, 9000, false, 0, 9000},
	    {0, 68, true, 0, 68},
	    /* unknown host MTU: Ethernet's */
	    {0, 0, false, 0, 1500},
	    {0, 0, true, 0, 1450},
	    /* clamped to 68..65535 */
	    {100, 0, true, 0, 68},
	    {30, 0, true, 0, 68},
	    {50, 0, false, 0, 68},
	    {70000, 0, false, 0, 65535},
	    {65535, 0, false, 0, 65535},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		unsigned got = cni_veth_mtu(cases[i].host, cases[i].configured, cases[i].encap,
					    cases[i].felix_vxlan);

		if (got != cases[i].want)
			fail_msg("case %zu: host %u configured %u encap %d vxlanMTU %u: got %u, "
				 "want %u",
				 i, cases[i].host, cases[i].configured, cases[i].encap,
				 cases[i].felix_vxlan, got, cases[i].want);
	}
}

static void test_mtu_valid(void **state)
{
	static const struct {
		int64_t mtu;
		bool ok;
	} cases[] = {
	    {-1, false},  {0, false},	{20, false},   {67, false},    {68, true},
	    {1400, true}, {1500, true}, {65535, true}, {65536, false}, {INT64_MAX, false},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_int_equal(cni_mtu_is_valid(cases[i].mtu), cases[i].ok);
}

static void test_pool_encapsulates(void **state)
{
	static const struct {
		const char *vxlan_mode;
		bool encap;
	} cases[] = {
	    {NULL, false},	   {"Never", false},  {"Always", true},
	    {"CrossSubnet", true}, {"always", false}, {"", false},
	};

	assert_false(cni_mtu_pool_encapsulates(NULL));
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct model_ippool p = {.vxlan_mode = (char *)cases[i].vxlan_mode};

		assert_int_equal(cni_mtu_pool_encapsulates(&p), cases[i].encap);
	}
}

static struct model_resource pool(const char *cidr, const char *vxlan_mode)
{
	struct model_resource r = {.kind = MODEL_KIND_IPPOOL};

	assert_int_equal(ip_prefix_parse(cidr, true, &r.ippool.cidr), 0);
	r.ippool.vxlan_mode = (char *)vxlan_mode;
	return r;
}

static void test_pool_of(void **state)
{
	struct model_resource wide = pool("198.18.0.0/15", NULL);
	struct model_resource vx = pool("198.19.8.0/24", "Always");
	struct model_resource other = {.kind = MODEL_KIND_NODE};
	struct model_resource *items[] = {&wide, &other, &vx};
	struct model_list l = {.items = items, .n = 3};
	static const struct {
		const char *addr;
		bool found, encap;
	} cases[] = {
	    {"198.19.8.7", true, true},	 /* the longest prefix wins */
	    {"198.19.9.7", true, false}, /* only the wide pool holds it */
	    {"198.18.0.1", true, false},   {"192.0.2.1", false, false}, /* in no pool */
	    {"2001:db8::1", false, false},				/* other family */
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct model_ippool *p;
		struct ip_addr a;

		assert_int_equal(ip_addr_parse(cases[i].addr, &a), 0);
		p = cni_mtu_pool_of(&l, &a);
		assert_int_equal(p != NULL, cases[i].found);
		assert_int_equal(cni_mtu_pool_encapsulates(p), cases[i].encap);
	}
	assert_null(cni_mtu_pool_of(NULL, &wide.ippool.cidr.addr));
}

static void test_felix_vxlan(void **state)
{
	static const struct {
		const char *spec;
		unsigned want;
	} cases[] = {
	    {"", 0},
	    {"  vxlanMTU: 1400\n", 1400},
	    {"  vxlanMTU: 8950\n  vxlanPort: 4789\n", 8950},
	    {"  vxlanMTUV6: 1380\n", 0},
	    {"  vxlanMTU: 20\n", 0}, /* stored by the decoder, ignored here */
	};

	assert_int_equal(cni_mtu_felix_vxlan(NULL), 0);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char yaml[512];
		struct model_list l = {};
		struct parse_err err = {};

		snprintf(yaml, sizeof(yaml),
			 "apiVersion: projectcalico.org/v3\nkind: FelixConfiguration\n"
			 "metadata:\n  name: default\nspec:\n%s%s",
			 cases[i].spec, *cases[i].spec ? "" : "  logSeverityScreen: Info\n");
		if (model_decode(yaml, strlen(yaml), "-", &l, &err) < 0)
			fail_msg("case %zu: %s", i, err.msg);
		assert_int_equal(l.n, 1);
		assert_int_equal(cni_mtu_felix_vxlan(l.items[0]), cases[i].want);
		model_list_done(&l);
	}
	/* not a FelixConfiguration */
	struct model_resource p = pool("198.19.0.0/24", NULL);
	assert_int_equal(cni_mtu_felix_vxlan(&p), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_veth_mtu_table),    cmocka_unit_test(test_mtu_valid),
	    cmocka_unit_test(test_pool_encapsulates), cmocka_unit_test(test_pool_of),
	    cmocka_unit_test(test_felix_vxlan),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
