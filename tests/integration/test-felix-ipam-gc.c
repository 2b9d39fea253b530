/* SPDX-License-Identifier: Apache-2.0 */
/*
 * felix/ipam-gc.c against a real etcd (tests/integration/with-etcd): two collectors "a" and "b"
 * on one cluster:
 *  - the first tick makes a the leader (leader key = "a" on a's lease) and runs a pass; b stays
 *    a follower while a keeps its lease;
 *  - with grace 0, a's next pass releases an injected leak (an allocation without endpoint);
 *  - a steps down (free: lease revoked, key gone) and b takes over on its next campaign;
 *  - when b's lease is revoked behind its back, b notices on its next keepalive and stops.
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

	/* a steps down: its lease and the key go; b's next campaign wins */
	felix_ipam_gc_free(a);
	leader_is(c, NULL);
	felix_ipam_gc_tick(b, t + 3000);
	assert_true(felix_ipam_gc_is_leader(b));
	assert_int_equal(felix_ipam_gc_passes(b), 1);
	leader_is(c, "b");

	/* b's lease is revoked behind its back: the next keepalive notices */
	assert_int_equal(ds_get(c, FELIX_IPAM_GC_LEADER_KEY, &kv, NULL), 0);
	assert_int_equal(ds_lease_revoke(c, kv.lease), 0);
	ds_kv_done(&kv);
	felix_ipam_gc_tick(b, t + 5000);
	assert_false(felix_ipam_gc_is_leader(b));
	felix_ipam_gc_free(b);
	ds_client_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_election_and_gc),
	};

	log_set_level(LOG_LEVEL_WARN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
