/* SPDX-License-Identifier: Apache-2.0 */
/* felix/calc/policy.c: cache of policy kinds in, acl render input out (pure). */
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

static void put(struct calc_cache *c, const char *key, const char *json)
{
	struct parse_err err = {0};
	int r = calc_cache_put(c, key, json, strlen(json), &err);
	if (r != 1) {
		char msg[512];
		fail_msg("put %s: %d %s", key, r, parse_err_format(&err, msg, sizeof(msg)));
	}
}

static void put_wep(struct calc_cache *c, const char *ns, const char *name, const char *node,
		    const char *ifname, const char *ip, const char *labels)
{
	char key[256], *v;
	snprintf(key, sizeof(key), P "workloadendpoints/%s/%s", ns, name);
	assert_true(
	    asprintf(&v,
		     "{\"apiVersion\":\"projectcalico.org/v3\",\"kind\":\"WorkloadEndpoint\","
		     "\"metadata\":{\"name\":\"%s\",\"namespace\":\"%s\",\"labels\":%s},"
		     "\"spec\":{\"orchestrator\":\"cni\",\"node\":\"%s\",\"containerID\":"
		     "\"c%s\",\"endpoint\":\"eth0\",\"interfaceName\":\"%s\",\"ipNetworks\":"
		     "[\"%s/32\"],\"ports\":[{\"name\":\"http\",\"protocol\":\"TCP\","
		     "\"port\":8080}]}}",
		     name, ns, labels, node, name, ifname, ip) > 0);
	put(c, key, v);
	free(v);
}

static struct calc_cache *fixture(void)
{
	struct calc_cache *c = NULL;
	assert_int_equal(calc_cache_new(&c), 0);
	put(c, P "namespaces/prod",
	    "{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{\"name\":\"prod\","
	    "\"labels\":{\"team\":\"a\"}}}");
	put_wep(c, "prod", "web", "h1", "tbyaaaaaaaaaaa", "198.19.0.2", "{\"app\":\"web\"}");
	put_wep(c, "prod", "client", "h2", "tbybbbbbbbbbbb", "198.19.1.2", "{\"app\":\"client\"}");
	put_wep(c, "prod", "db", "h1", "eth0", "198.19.0.3", "{\"app\":\"db\"}"); /* not ours */
	put(c, P "networkpolicies/prod/web",
	    "{\"apiVersion\":\"projectcalico.org/v3\",\"kind\":\"NetworkPolicy\",\"metadata\":"
	    "{\"name\":\"web\",\"namespace\":\"prod\"},\"spec\":{\"selector\":\"app == 'web'\","
	    "\"ingress\":[{\"action\":\"Allow\",\"protocol\":\"TCP\",\"source\":{\"selector\":"
	    "\"app == 'client'\"},\"destination\":{\"ports\":[\"http\"]}}]}}");
	put(c, P "kubernetesnetworkpolicies/prod/deny",
	    "{\"apiVersion\":\"networking.k8s.io/v1\",\"kind\":\"NetworkPolicy\",\"metadata\":"
	    "{\"name\":\"deny\",\"namespace\":\"prod\"},\"spec\":{\"podSelector\":{},"
	    "\"policyTypes\":[\"Ingress\"]}}");
	put(c, P "felixconfigurations/default",
	    "{\"apiVersion\":\"projectcalico.org/v3\",\"kind\":\"FelixConfiguration\","
	    "\"metadata\":{\"name\":\"default\"},\"spec\":{\"defaultEndpointToHostAction\":"
	    "\"Accept\",\"nftablesMode\":\"Disabled\"}}");
	put(c, P "felixconfigurations/node.h1",
	    "{\"apiVersion\":\"projectcalico.org/v3\",\"kind\":\"FelixConfiguration\","
	    "\"metadata\":{\"name\":\"node.h1\"},\"spec\":{\"nftablesMode\":\"Enabled\"}}");
	return c;
}

static void test_compute(void **state)
{
	_cleanup_(calc_cache_freep) struct calc_cache *c = fixture();
	struct calc_policy p = {0};
	struct parse_err err = {0};

	assert_int_equal(
	    calc_policy_compute(c, &(struct calc_policy_options){.node_name = "h1"}, &p, &err), 0);
	assert_int_equal(p.stats.policies, 2); /* the Calico policy + the translated k8s one */
	assert_int_equal(p.stats.endpoints, 3);
	assert_int_equal(p.stats.local_endpoints, 1); /* "eth0" is not a workload interface */
	assert_int_equal(p.n_rulesets, 1);
	assert_string_equal(p.rulesets[0]->ifname, "tbyaaaaaaaaaaa");
	assert_true(p.rulesets[0]->dir[ACL_DIR_INGRESS].has_policy);
	assert_false(p.rulesets[0]->dir[ACL_DIR_EGRESS].has_policy);
	/* default says Accept and iptables; node.h1 overrides the dataplane only */
	assert_int_equal(p.host.endpoint_to_host, ACL_E2H_ACCEPT);
	assert_true(p.has_dataplane);
	assert_int_equal(p.dataplane, MODEL_DATAPLANE_NFTABLES);

	/* The remote client's address is in the set of "app == 'client'" (namespace-scoped). */
	struct acl_render_input in = calc_policy_render_input(&p);
	_cleanup_strbuf_ struct strbuf sb = {0};
	assert_int_equal(acl_render_nft(&in, &sb), 0);
	assert_non_null(strstr(strbuf_cstr(&sb), "198.19.1.2"));
	assert_non_null(strstr(strbuf_cstr(&sb), "198.19.0.2 . 6 . 8080")); /* named port */
	assert_non_null(
	    strstr(strbuf_cstr(&sb), "\"tbyaaaaaaaaaaa\" : jump tby-tw-tbyaaaaaaaaaaa"));
	assert_null(strstr(strbuf_cstr(&sb), "\"eth0\""));
	calc_policy_done(&p);

	/* Same input, same output (the drivers diff on it). */
	_cleanup_strbuf_ struct strbuf sb2 = {0};
	assert_int_equal(
	    calc_policy_compute(c, &(struct calc_policy_options){.node_name = "h1"}, &p, &err), 0);
	in = calc_policy_render_input(&p);
	assert_int_equal(acl_render_nft(&in, &sb2), 0);
	assert_string_equal(strbuf_cstr(&sb), strbuf_cstr(&sb2));
	calc_policy_done(&p);
	calc_policy_done(&p); /* idempotent */
}

static void test_other_node_and_no_node(void **state)
{
	_cleanup_(calc_cache_freep) struct calc_cache *c = fixture();
	struct calc_policy p = {0};

	assert_int_equal(
	    calc_policy_compute(c, &(struct calc_policy_options){.node_name = "h2"}, &p, NULL), 0);
	assert_int_equal(p.n_rulesets, 1);
	assert_string_equal(p.rulesets[0]->ifname, "tbybbbbbbbbbbb");
	assert_int_equal(p.host.endpoint_to_host, ACL_E2H_ACCEPT);
	assert_int_equal(p.dataplane, MODEL_DATAPLANE_IPTABLES); /* only "default" applies */
	calc_policy_done(&p);
	assert_int_equal(calc_policy_compute(c, &(struct calc_policy_options){0}, &p, NULL),
			 -EINVAL);
}

static void test_unrenderable_host_endpoint(void **state)
{
	_cleanup_(calc_cache_freep) struct calc_cache *c = fixture();
	struct calc_policy p = {0};
	struct parse_err err = {0};
	char msg[512];

	put(c, P "hostendpoints/broken",
	    "{\"apiVersion\":\"projectcalico.org/v3\",\"kind\":\"HostEndpoint\",\"metadata\":"
	    "{\"name\":\"broken\"},\"spec\":{\"node\":\"h1\",\"interfaceName\":\"eth+\"}}");
	assert_int_equal(
	    calc_policy_compute(c, &(struct calc_policy_options){.node_name = "h1"}, &p, &err),
	    -EINVAL);
	assert_non_null(strstr(parse_err_format(&err, msg, sizeof(msg)), "HostEndpoint broken"));
	assert_null(p.idx); /* untouched */
	/* On another node the endpoint is remote and harmless. */
	assert_int_equal(
	    calc_policy_compute(c, &(struct calc_policy_options){.node_name = "h2"}, &p, &err), 0);
	calc_policy_done(&p);
	assert_int_equal(calc_cache_delete(c, P "hostendpoints/broken"), 1);
	assert_int_equal(
	    calc_policy_compute(c, &(struct calc_policy_options){.node_name = "h1"}, &p, &err), 0);
	calc_policy_done(&p);
}

static void test_bad_felix_configuration(void **state)
{
	_cleanup_(calc_cache_freep) struct calc_cache *c = fixture();
	struct calc_policy p = {0};
	struct parse_err err = {0};
	struct parse_err e2 = {0};

	/* The model validates defaultEndpointToHostAction; an invalid value never reaches us. */
	assert_int_equal(
	    calc_cache_put(c, P "felixconfigurations/default",
			   "{\"apiVersion\":\"projectcalico.org/v3\",\"kind\":"
			   "\"FelixConfiguration\",\"metadata\":{\"name\":\"default\"},"
			   "\"spec\":{\"defaultEndpointToHostAction\":\"Maybe\"}}",
			   strlen("{\"apiVersion\":\"projectcalico.org/v3\",\"kind\":"
				  "\"FelixConfiguration\",\"metadata\":{\"name\":"
				  "\"default\"},\"spec\":{\"defaultEndpointToHostAction\":"
				  "\"Maybe\"}}"),
			   &e2),
	    -EINVAL);
	assert_int_equal(
	    calc_policy_compute(c, &(struct calc_policy_options){.node_name = "h1"}, &p, &err), 0);
	assert_int_equal(p.host.endpoint_to_host, ACL_E2H_DROP); /* "default" dropped: Calico's */
	calc_policy_done(&p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_compute),
	    cmocka_unit_test(test_other_node_and_no_node),
	    cmocka_unit_test(test_unrenderable_host_endpoint),
	    cmocka_unit_test(test_bad_felix_configuration),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
