/* SPDX-License-Identifier: Apache-2.0 */
/*
 * felix/ipam-gc.c against a real etcd (tests/integration/with-etcd): two collectors "a" and "b"
 * on one cluster:
 *  - the first tick makes a the leader (leader key = "a" on a's lease) and runs a pass; b stays
 *    a follower while a keeps its lease;
 *  - with grace 0, a's next pass releases an injected leak (an allocation without endpoint);
 *  - a steps down (free: lease revoked, key gone) and b takes over on its next campaign;
 *  - when b's lease is revoked behind its back, b notices on its next keepalive and stops;
 *  - a pass with nothing written since a pass that found nothing to do is skipped;
 *  - with an in-use hint (felix's cache), a pass reads no WorkloadEndpoint unless it would act
 *    on an address, and a hint that is stale either way never releases an address in use.
 * felix/ipam-gc.c is compiled in (the test links core + io only).
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

#include "felix/ipam-gc.c"
#include "ipam/ipam.h"

static struct ds_client *new_client(void)
{
	struct ds_config cfg = {0};
	struct ds_client *c = NULL;

	ds_config_from_env(&cfg);
	if (!cfg.endpoints || ds_client_new(&cfg, &c) < 0)
		return NULL;
	return c;
}

static void put(struct ds_client *c, const char *key, const char *value)
{
	assert_int_equal(ds_put(c, key, value, strlen(value), 0, NULL), 0);
}

static void leader_is(struct ds_client *c, const char *node)
{
	struct ds_kv kv = {0};
	int r = ds_get(c, FELIX_IPAM_GC_LEADER_KEY, &kv, NULL);

	if (!node) {
		assert_int_equal(r, -ENOENT);
		return;
	}
	assert_int_equal(r, 0);
	assert_string_equal(kv.value, node);
	assert_true(kv.lease != 0);
	ds_kv_done(&kv);
}

static void test_election_and_gc(void **state)
{
	struct ds_client *c = new_client();
	struct felix_ipam_gc_config ca = {
	    .node = "a", .interval_ms = 1000, .grace_ms = -1, .ttl_s = 3};
	struct felix_ipam_gc_config cb = {
	    .node = "b", .interval_ms = 1000, .grace_ms = -1, .ttl_s = 3};
	struct felix_ipam_gc *a, *b;
	struct ipam_assign_args args = {.node = "a", .handle = "net.leak", .family = AF_INET};
	struct ip_addr addr;
	struct ds_kv kv = {0};
	int64_t t = 1000000, wait;

	assert_non_null(c);
	put(c, "/tabby/v1/ippools/p",
	    "{\"apiVersion\":\"projectcalico.org/v3\",\"kind\":\"IPPool\",\"metadata\":{\"name\":"
	    "\"p\"},\"spec\":{\"cidr\":\"198.19.8.0/24\",\"blockSize\":26}}");
	put(c, "/tabby/v1/nodes/a",
	    "{\"apiVersion\":\"projectcalico.org/v3\",\"kind\":\"Node\",\"metadata\":{\"name\":"
	    "\"a\"},\"spec\":{}}");
	a = felix_ipam_gc_new(c, &ca);
	b = felix_ipam_gc_new(c, &cb);
	assert_non_null(a);
	assert_non_null(b);
	assert_null(felix_ipam_gc_new(c, &(struct felix_ipam_gc_config){0}));

	wait = felix_ipam_gc_tick(a, t);
	assert_true(felix_ipam_gc_is_leader(a));
	assert_int_equal(felix_ipam_gc_passes(a), 1);
	assert_true(wait > 0 && wait <= 1000);
	leader_is(c, "a");
	felix_ipam_gc_tick(b, t);
	assert_false(felix_ipam_gc_is_leader(b));
	leader_is(c, "a");

	/* a leak: allocated, never listed by an endpoint; grace 0 releases it on the next pass */
	assert_int_equal(ipam_auto_assign(c, &args, &addr, NULL), 0);
	assert_int_equal(ds_get(c, "/tabby/v1/ipam/handles/net.leak", &kv, NULL), 0);
	ds_kv_done(&kv);
	felix_ipam_gc_tick(a, t + 1000);
	assert_true(felix_ipam_gc_is_leader(a)); /* the keepalive at ttl/3 found the key ours */
	assert_int_equal(felix_ipam_gc_passes(a), 2);
	assert_int_equal(ds_get(c, "/tabby/v1/ipam/handles/net.leak", &kv, NULL), -ENOENT);
	felix_ipam_gc_tick(b, t + 1500); /* b's retry: a still leads */
	assert_false(felix_ipam_gc_is_leader(b));

	/* a pass that finds nothing to do, then nothing written: the next due pass is skipped */
	felix_ipam_gc_tick(a, t + 2000);
	assert_int_equal(felix_ipam_gc_passes(a), 3);
	assert_int_equal(felix_ipam_gc_quiet(a), 0);
	felix_ipam_gc_tick(a, t + 2500); /* not due yet */
	felix_ipam_gc_tick(a, t + 3000);
	assert_int_equal(felix_ipam_gc_passes(a), 3);
	assert_int_equal(felix_ipam_gc_quiet(a), 1);
	/* any write ends the quiet: the new leak is collected on the next due pass */
	args.handle = "net.leak2";
	assert_int_equal(ipam_auto_assign(c, &args, &addr, NULL), 0);
	felix_ipam_gc_tick(a, t + 4000);
	assert_int_equal(felix_ipam_gc_passes(a), 4);
	assert_int_equal(felix_ipam_gc_quiet(a), 1);
	assert_int_equal(ds_get(c, "/tabby/v1/ipam/handles/net.leak2", &kv, NULL), -ENOENT);

	/* a steps down: its lease and the key go; b's next campaign wins */
	felix_ipam_gc_free(a);
	leader_is(c, NULL);
	felix_ipam_gc_tick(b, t + 5000);
	assert_true(felix_ipam_gc_is_leader(b));
	assert_int_equal(felix_ipam_gc_passes(b), 1);
	leader_is(c, "b");

	/* b's lease is revoked behind its back: the next keepalive notices */
	assert_int_equal(ds_get(c, FELIX_IPAM_GC_LEADER_KEY, &kv, NULL), 0);
	assert_int_equal(ds_lease_revoke(c, kv.lease), 0);
	ds_kv_done(&kv);
	felix_ipam_gc_tick(b, t + 7000);
	assert_false(felix_ipam_gc_is_leader(b));
	felix_ipam_gc_free(b);
	ds_client_free(c);
}

static struct ip_addr hint_v[4];
static size_t hint_n;

static int hint_fn(void *userdata, struct ip_addr **ret, size_t *ret_n)
{
	(void)userdata;
	*ret = malloc(sizeof(hint_v));
	if (!*ret)
		return -ENOMEM;
	memcpy(*ret, hint_v, sizeof(hint_v));
	*ret_n = hint_n;
	return 0;
}

static bool handle_exists(struct ds_client *c, const char *handle)
{
	char key[128];
	struct ds_kv kv = {0};
	int r;

	snprintf(key, sizeof(key), "/tabby/v1/ipam/handles/%s", handle);
	r = ds_get(c, key, &kv, NULL);
	ds_kv_done(&kv);
	assert_true(r == 0 || r == -ENOENT);
	return r == 0;
}

static void test_in_use_hint(void **state)
{
	struct ds_client *c = new_client();
	struct felix_ipam_gc_config cfg = {
	    .node = "a", .interval_ms = 1000, .grace_ms = -1, .ttl_s = 30, .in_use = hint_fn};
	struct ipam_assign_args args = {.node = "a", .handle = "net.w1", .family = AF_INET};
	struct ip_addr x, y;
	struct felix_ipam_gc *g;
	char wep[512], ipbuf[IP_ADDR_STRLEN];
	int64_t t = 5000000;

	(void)state;
	assert_non_null(c);
	/* x: allocated and listed by a WorkloadEndpoint in etcd and by the hint */
	assert_int_equal(ipam_auto_assign(c, &args, &x, NULL), 0);
	ip_addr_format(&x, ipbuf);
	snprintf(wep, sizeof(wep),
		 "{\"apiVersion\":\"projectcalico.org/v3\",\"kind\":\"WorkloadEndpoint\","
		 "\"metadata\":{\"name\":\"w1\",\"namespace\":\"default\"},\"spec\":{"
		 "\"ipNetworks\":[\"%s/32\"]}}",
		 ipbuf);
	put(c, "/tabby/v1/workloadendpoints/default/w1", wep);
	hint_v[0] = x;
	hint_n = 1;
	g = felix_ipam_gc_new(c, &cfg);
	assert_non_null(g);
	felix_ipam_gc_tick(g, t);
	assert_true(felix_ipam_gc_is_leader(g));
	assert_int_equal(felix_ipam_gc_passes(g), 1);
	assert_int_equal(felix_ipam_gc_hinted(g), 1); /* nothing to do: no endpoint read */
	assert_true(handle_exists(c, "net.w1"));

	/* y: a leak the hint still lists (a stale cache): left alone this pass */
	args.handle = "net.w2";
	assert_int_equal(ipam_auto_assign(c, &args, &y, NULL), 0);
	hint_v[1] = y;
	hint_n = 2;
	felix_ipam_gc_tick(g, t + 1000);
	assert_int_equal(felix_ipam_gc_passes(g), 2);
	assert_int_equal(felix_ipam_gc_hinted(g), 2);
	assert_true(handle_exists(c, "net.w2"));

	/* a hint missing both (a cache behind): the pass reads the endpoints, so x, which an
	 * endpoint lists, stays and only the leak y goes */
	hint_n = 0;
	put(c, "/tabby/v1/test/poke", "1");
	felix_ipam_gc_tick(g, t + 2000);
	assert_int_equal(felix_ipam_gc_passes(g), 3);
	assert_int_equal(felix_ipam_gc_hinted(g), 2);
	assert_true(handle_exists(c, "net.w1"));
	assert_false(handle_exists(c, "net.w2"));
	felix_ipam_gc_free(g);
	ds_client_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_election_and_gc),
	    cmocka_unit_test(test_in_use_hint),
	};

	log_set_level(LOG_LEVEL_WARN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
