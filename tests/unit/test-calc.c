/* SPDX-License-Identifier: Apache-2.0 */
/* felix/calc: datastore values in, desired dataplane state out (pure). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "felix/calc/calc.h"
#include "ipam/block.h"
#include "lib/strbuf.h"

#define P "/tabby/v1/"

static char *node_json(const char *name, const char *addr, unsigned asn)
{
	char *s;
	char as[32] = "";
	if (asn) {
		snprintf(as, sizeof(as), ",\"asNumber\":%u", asn);
	}
	assert_true(asprintf(&s,
			     "{\"apiVersion\":\"projectcalico.org/v3\",\"kind\":\"Node\","
			     "\"metadata\":{\"name\":\"%s\"},\"spec\":{\"bgp\":{\"ipv4Address\":"
			     "\"%s\"%s}}}",
			     name, addr, as) > 0);
	return s;
}

static char *pool_json(const char *name, const char *cidr, bool disabled)
{
	char *s;
	assert_true(asprintf(&s,
			     "{\"apiVersion\":\"projectcalico.org/v3\",\"kind\":\"IPPool\","
			     "\"metadata\":{\"name\":\"%s\"},\"spec\":{\"cidr\":\"%s\","
			     "\"blockSize\":26,\"disabled\":%s}}",
			     name, cidr, disabled ? "true" : "false") > 0);
	return s;
}

/* WorkloadEndpoint for container @cid named as the CNI plugin names it on @name_node, with
 * spec.node @node (they differ only for an endpoint that moved). */
static char *wep_json_on(const char *name_node, const char *node, const char *cid,
			 const char *ifname, const char *ip, const char *mac)
{
	char *s;
	assert_true(
	    asprintf(&s,
		     "{\"apiVersion\":\"projectcalico.org/v3\",\"kind\":\"WorkloadEndpoint\","
		     "\"metadata\":{\"name\":\"%s-cni-%s-eth0\",\"namespace\":\"default\"},"
		     "\"spec\":{\"orchestrator\":\"cni\",\"node\":\"%s\",\"containerID\":"
		     "\"%s\",\"endpoint\":\"eth0\",\"interfaceName\":\"%s\",\"mac\":\"%s\","
		     "\"ipNetworks\":[\"%s\"]}}",
		     name_node, cid, node, cid, ifname, mac, ip) > 0);
	return s;
}

/* WorkloadEndpoint for container @cid on @node, named as the CNI plugin names it. */
static char *wep_json(const char *node, const char *cid, const char *ifname, const char *ip,
		      const char *mac)
{
	return wep_json_on(node, node, cid, ifname, ip, mac);
}

static char *wep_key(const char *node, const char *cid)
{
	char *s;
	assert_true(asprintf(&s, P "workloadendpoints/default/%s-cni-%s-eth0", node, cid) > 0);
	return s;
}

static char *block_json(const char *cidr, const char *node)
{
	struct ipam_block b;
	struct ip_prefix p;
	char aff[128];
	struct strbuf sb = {0};
	snprintf(aff, sizeof(aff), "host:%s", node);
	assert_int_equal(ip_prefix_parse(cidr, true, &p), 0);
	assert_int_equal(ipam_block_init(&b, p, node ? aff : NULL), 0);
	assert_int_equal(ipam_block_encode_json(&b, &sb), 0);
	ipam_block_done(&b);
	return strbuf_steal(&sb);
}

static char *block_key(const char *cidr)
{
	struct ip_prefix p;
	char name[IPAM_BLOCK_NAME_MAX];
	char *s;
	assert_int_equal(ip_prefix_parse(cidr, true, &p), 0);
	assert_true(asprintf(&s, P "ipam/blocks/%s", ipam_block_name(&p, name)) > 0);
	return s;
}

static void put(struct calc_cache *c, const char *key, char *value)
{
	struct parse_err err = {0};
	int r = calc_cache_put(c, key, value, strlen(value), &err);
	if (r != 1) {
		char buf[1024];
		fail_msg("put %s: %d %s", key, r, parse_err_format(&err, buf, sizeof(buf)));
	}
	free(value);
}

static void put_k(struct calc_cache *c, char *key, char *value)
{
	put(c, key, value);
	free(key);
}

static void del_k(struct calc_cache *c, char *key)
{
	assert_int_equal(calc_cache_delete(c, key), 1);
	free(key);
}

static char *compute(const struct calc_cache *c, const char *me)
{
	struct calc_options o = {.node_name = me};
	struct calc_desired d;
	struct strbuf sb = {0};
	assert_int_equal(calc_compute(c, &o, &d), 0);
	assert_int_equal(calc_desired_format(&d, &sb), 0);
	calc_desired_done(&d);
	return strbuf_steal(&sb);
}

static void assert_desired(const struct calc_cache *c, const char *me, const char *expected)
{
	char *got = compute(c, me);
	if (strcmp(got, expected) != 0) {
		fprintf(stderr, "--- expected\n%s--- got\n%s", expected, got);
	}
	assert_string_equal(got, expected);
	free(got);
}

/* The standard cluster: h1 (.11), h2 (.12), h0 (.10); one pool; a block each for h1 and h2;
 * a workload on h1 and one on h2. */
static struct calc_cache *cluster(void)
{
	struct calc_cache *c;
	assert_int_equal(calc_cache_new(&c), 0);
	put(c, P "nodes/h1", node_json("h1", "198.18.0.11/24", 0));
	put(c, P "nodes/h2", node_json("h2", "198.18.0.12/24", 0));
	put(c, P "nodes/h0", node_json("h0", "198.18.0.10/24", 0));
	put(c, P "ippools/default-ipv4-ippool",
	    pool_json("default-ipv4-ippool", "198.19.0.0/16", false));
	put_k(c, block_key("198.19.0.0/26"), block_json("198.19.0.0/26", "h1"));
	put_k(c, block_key("198.19.0.64/26"), block_json("198.19.0.64/26", "h2"));
	put_k(
	    c, wep_key("h1", "aaaaaaaaaaaa"),
	    wep_json("h1", "aaaaaaaaaaaa", "tbyaaaaaaaaaaa", "198.19.0.5/32", "02:00:00:00:00:05"));
	put_k(c, wep_key("h2", "bbbbbbbbbbbb"),
	      wep_json("h2", "bbbbbbbbbbbb", "tbybbbbbbbbbbb", "198.19.0.66/32",
		       "02:00:00:00:00:42"));
	return c;
}

static const char *const cluster_h1 = "route 198.19.0.0/26 blackhole\n"
				      "route 198.19.0.5/32 dev tbyaaaaaaaaaaa\n"
				      "neigh 198.19.0.5 02:00:00:00:00:05 dev tbyaaaaaaaaaaa\n"
				      "iface tbyaaaaaaaaaaa\n"
				      "bgp router-id 198.18.0.11 as 64512\n"
				      "bgp pool 198.19.0.0/16\n"
				      "bgp block 198.19.0.0/26\n"
				      "bgp peer 198.18.0.10 as 64512 mesh passive\n"
				      "bgp peer 198.18.0.12 as 64512 mesh\n";

static void test_local_only(void **state)
{
	struct calc_cache *c = cluster();
	/* h2's workload and block are ignored on h1; h0's address is lower: we are passive. */
	assert_desired(c, "h1", cluster_h1);
	assert_desired(c, "h2",
		       "route 198.19.0.64/26 blackhole\n"
		       "route 198.19.0.66/32 dev tbybbbbbbbbbbb\n"
		       "neigh 198.19.0.66 02:00:00:00:00:42 dev tbybbbbbbbbbbb\n"
		       "iface tbybbbbbbbbbbb\n"
		       "bgp router-id 198.18.0.12 as 64512\n"
		       "bgp pool 198.19.0.0/16\n"
		       "bgp block 198.19.0.64/26\n"
		       "bgp peer 198.18.0.10 as 64512 mesh passive\n"
		       "bgp peer 198.18.0.11 as 64512 mesh passive\n");
	/* The lowest address is passive towards nobody: it connects to everyone. */
	assert_desired(c, "h0",
		       "bgp router-id 198.18.0.10 as 64512\n"
		       "bgp pool 198.19.0.0/16\n"
		       "bgp peer 198.18.0.11 as 64512 mesh\n"
		       "bgp peer 198.18.0.12 as 64512 mesh\n");
	calc_cache_free(c);
}

static void test_two_blocks_and_workloads(void **state)
{
	struct calc_cache *c = cluster();
	put_k(c, block_key("198.19.0.128/26"), block_json("198.19.0.128/26", "h1"));
	put_k(c, block_key("198.19.0.192/26"), block_json("198.19.0.192/26", NULL));
	put_k(c, wep_key("h1", "cccccccccccc"),
	      wep_json("h1", "cccccccccccc", "tbyccccccccccc", "198.19.0.130/32",
		       "02:00:00:00:00:82"));
	assert_desired(c, "h1",
		       "route 198.19.0.0/26 blackhole\n"
		       "route 198.19.0.5/32 dev tbyaaaaaaaaaaa\n"
		       "route 198.19.0.128/26 blackhole\n"
		       "route 198.19.0.130/32 dev tbyccccccccccc\n"
		       "neigh 198.19.0.5 02:00:00:00:00:05 dev tbyaaaaaaaaaaa\n"
		       "neigh 198.19.0.130 02:00:00:00:00:82 dev tbyccccccccccc\n"
		       "iface tbyaaaaaaaaaaa\n"
		       "iface tbyccccccccccc\n"
		       "bgp router-id 198.18.0.11 as 64512\n"
		       "bgp pool 198.19.0.0/16\n"
		       "bgp block 198.19.0.0/26\n"
		       "bgp block 198.19.0.128/26\n"
		       "bgp peer 198.18.0.10 as 64512 mesh passive\n"
		       "bgp peer 198.18.0.12 as 64512 mesh\n");
	calc_cache_free(c);
}

static void test_node_removed_peer_removed(void **state)
{
	struct calc_cache *c = cluster();
	calc_cache_clear_dirty(c);
	assert_int_equal(calc_cache_delete(c, P "nodes/h2"), 1);
	assert_true(calc_cache_dirty(c));
	assert_int_equal(calc_cache_delete(c, P "nodes/h2"), 0);
	char *got = compute(c, "h1");
	assert_null(strstr(got, "198.18.0.12"));
	assert_non_null(strstr(got, "bgp peer 198.18.0.10 as 64512 mesh passive\n"));
	free(got);
	calc_cache_free(c);
}

static void test_mesh_disabled_and_as(void **state)
{
	struct calc_cache *c = cluster();
	put(c, P "bgpconfigurations/default",
	    strdup("{\"apiVersion\":\"projectcalico.org/v3\",\"kind\":\"BGPConfiguration\","
		   "\"metadata\":{\"name\":\"default\"},\"spec\":{\"nodeToNodeMeshEnabled\":false,"
		   "\"asNumber\":64600}}"));
	char *got = compute(c, "h1");
	assert_null(strstr(got, "bgp peer"));
	assert_non_null(strstr(got, "bgp router-id 198.18.0.11 as 64600\n"));
	free(got);
	/* A Node's own asNumber wins over the cluster's; peers keep theirs. */
	put(c, P "bgpconfigurations/default",
	    strdup("{\"apiVersion\":\"projectcalico.org/v3\",\"kind\":\"BGPConfiguration\","
		   "\"metadata\":{\"name\":\"default\"},\"spec\":{\"asNumber\":64600}}"));
	put(c, P "nodes/h1", node_json("h1", "198.18.0.11/24", 65001));
	got = compute(c, "h1");
	assert_non_null(strstr(got, "bgp router-id 198.18.0.11 as 65001\n"));
	assert_non_null(strstr(got, "bgp peer 198.18.0.12 as 64600 mesh\n"));
	free(got);
	calc_cache_free(c);
}

static void test_no_own_node(void **state)
{
	struct calc_cache *c = cluster();
	assert_int_equal(calc_cache_delete(c, P "nodes/h1"), 1);
	/* Routes are still wanted; BGP waits for our Node. */
	assert_desired(c, "h1",
		       "route 198.19.0.0/26 blackhole\n"
		       "route 198.19.0.5/32 dev tbyaaaaaaaaaaa\n"
		       "neigh 198.19.0.5 02:00:00:00:00:05 dev tbyaaaaaaaaaaa\n"
		       "iface tbyaaaaaaaaaaa\n");
	calc_cache_free(c);
}

static void test_disabled_pool_and_foreign_ifname(void **state)
{
	struct calc_cache *c = cluster();
	put(c, P "ippools/off", pool_json("off", "198.18.128.0/24", true));
	/* An endpoint that names a non-tby interface is never programmed. */
	put_k(c, wep_key("h1", "dddddddddddd"),
	      wep_json("h1", "dddddddddddd", "eth0", "198.19.0.7/32", "02:00:00:00:00:07"));
	assert_desired(c, "h1", cluster_h1);
	calc_cache_free(c);
}

static void test_duplicate_address(void **state)
{
	struct calc_cache *c = cluster();
	/* Same address claimed by a second endpoint with a larger key: the first keeps it. */
	put_k(
	    c, wep_key("h1", "zzzzzzzzzzzz"),
	    wep_json("h1", "zzzzzzzzzzzz", "tbyzzzzzzzzzzz", "198.19.0.5/32", "02:00:00:00:00:99"));
	char *got = compute(c, "h1");
	assert_non_null(strstr(got, "route 198.19.0.5/32 dev tbyaaaaaaaaaaa\n"));
	assert_null(strstr(got, "route 198.19.0.5/32 dev tbyzzzzzzzzzzz"));
	assert_null(strstr(got, "02:00:00:00:00:99"));
	free(got);
	calc_cache_free(c);
}

static void test_deterministic_order(void **state)
{
	/* The same set of keys put in reverse order gives byte-identical output. */
	struct calc_cache *a = cluster(), *b;
	char *keys[8], *vals[8];
	size_t n = 0;
	keys[n] = strdup(P "nodes/h1"), vals[n++] = node_json("h1", "198.18.0.11/24", 0);
	keys[n] = strdup(P "nodes/h2"), vals[n++] = node_json("h2", "198.18.0.12/24", 0);
	keys[n] = strdup(P "nodes/h0"), vals[n++] = node_json("h0", "198.18.0.10/24", 0);
	keys[n] = strdup(P "ippools/default-ipv4-ippool"),
	vals[n++] = pool_json("default-ipv4-ippool", "198.19.0.0/16", false);
	keys[n] = block_key("198.19.0.0/26"), vals[n++] = block_json("198.19.0.0/26", "h1");
	keys[n] = block_key("198.19.0.64/26"), vals[n++] = block_json("198.19.0.64/26", "h2");
	keys[n] = wep_key("h1", "aaaaaaaaaaaa"),
	vals[n++] =
	    wep_json("h1", "aaaaaaaaaaaa", "tbyaaaaaaaaaaa", "198.19.0.5/32", "02:00:00:00:00:05");
	keys[n] = wep_key("h2", "bbbbbbbbbbbb"),
	vals[n++] =
	    wep_json("h2", "bbbbbbbbbbbb", "tbybbbbbbbbbbb", "198.19.0.66/32", "02:00:00:00:00:42");
	assert_int_equal(calc_cache_new(&b), 0);
	for (size_t i = n; i-- > 0;) {
		put_k(b, keys[i], vals[i]);
	}
	char *x = compute(a, "h1"), *y = compute(b, "h1");
	assert_string_equal(x, y);
	assert_string_equal(x, cluster_h1);
	free(x);
	free(y);
	calc_cache_free(a);
	calc_cache_free(b);
}

static void test_snapshot_mark_sweep(void **state)
{
	struct calc_cache *c = cluster();
	size_t before = calc_cache_size(c);
	/* A resnapshot that no longer holds h2's workload and node. */
	calc_cache_mark_all(c);
	put(c, P "nodes/h1", node_json("h1", "198.18.0.11/24", 0));
	put(c, P "nodes/h0", node_json("h0", "198.18.0.10/24", 0));
	put(c, P "ippools/default-ipv4-ippool",
	    pool_json("default-ipv4-ippool", "198.19.0.0/16", false));
	put_k(c, block_key("198.19.0.0/26"), block_json("198.19.0.0/26", "h1"));
	put_k(c, block_key("198.19.0.64/26"), block_json("198.19.0.64/26", "h2"));
	put_k(
	    c, wep_key("h1", "aaaaaaaaaaaa"),
	    wep_json("h1", "aaaaaaaaaaaa", "tbyaaaaaaaaaaa", "198.19.0.5/32", "02:00:00:00:00:05"));
	assert_int_equal(calc_cache_sweep(c), 2);
	assert_int_equal(calc_cache_size(c), before - 2);
	char *got = compute(c, "h1");
	assert_null(strstr(got, "198.18.0.12"));
	free(got);
	calc_cache_free(c);
}

static void test_bad_and_ignored_values(void **state)
{
	struct calc_cache *c = cluster();
	struct parse_err err = {0};
	size_t n = calc_cache_size(c);
	/* Keys the calculation does not use. */
	assert_int_equal(calc_cache_put(c, P "ipam/handles/x", "{}", 2, &err), 0);
	assert_int_equal(calc_cache_put(c, P "ipam/affinities/h1/198.19.0.0-26", "{}", 2, &err), 0);
	assert_int_equal(calc_cache_put(c, "/other/nodes/h1", "{}", 2, &err), 0);
	assert_int_equal(calc_cache_size(c), n);
	/* A value that does not decode removes the old entry: h1's workload route goes. */
	char *k = wep_key("h1", "aaaaaaaaaaaa");
	assert_int_equal(calc_cache_put(c, k, "{not json", 9, &err), -EINVAL);
	free(k);
	assert_int_equal(calc_cache_size(c), n - 1);
	/* A resource whose name does not match its key is refused too. */
	char *v = node_json("h9", "198.18.0.19/24", 0);
	assert_int_equal(calc_cache_put(c, P "nodes/h2", v, strlen(v), &err), -EINVAL);
	free(v);
	char *got = compute(c, "h1");
	assert_null(strstr(got, "tbyaaaaaaaaaaa"));
	assert_null(strstr(got, "198.18.0.12"));
	assert_null(strstr(got, "198.18.0.19"));
	free(got);
	calc_cache_free(c);
}

/* calc_cache_dp_dirty(): a WorkloadEndpoint of another node, before and after, is not a change
 * calc_compute() sees (its output for h1 is the same), everything else is; so felix skips the
 * pass over the cache for remote endpoint writes. */
static void test_dp_dirty_remote_endpoints(void **state)
{
	(void)state;
	struct calc_cache *c = cluster();
	assert_true(calc_cache_dp_dirty(c)); /* no local node set: every change counts */
	assert_int_equal(calc_cache_set_local_node(c, "h1"), 0);
	assert_true(calc_cache_dp_dirty(c));
	calc_cache_clear_dirty(c);
	assert_false(calc_cache_dirty(c));
	assert_false(calc_cache_dp_dirty(c));

	/* a new remote endpoint, then a changed one: policy sees it, calc_compute() does not */
	put_k(c, wep_key("h2", "cccccccccccc"),
	      wep_json("h2", "cccccccccccc", "tbycccccccccccc", "198.19.0.67/32",
		       "02:00:00:00:00:43"));
	put_k(c, wep_key("h2", "bbbbbbbbbbbb"),
	      wep_json("h2", "bbbbbbbbbbbb", "tbybbbbbbbbbbb", "198.19.0.68/32",
		       "02:00:00:00:00:44"));
	assert_true(calc_cache_dirty(c));
	assert_false(calc_cache_dp_dirty(c));
	assert_desired(c, "h1", cluster_h1);
	del_k(c, wep_key("h2", "cccccccccccc"));
	assert_false(calc_cache_dp_dirty(c));

	/* an endpoint moving from h2 to h1 is seen (its route appears) */
	put_k(c, wep_key("h2", "bbbbbbbbbbbb"),
	      wep_json_on("h2", "h1", "bbbbbbbbbbbb", "tbybbbbbbbbbbb", "198.19.0.68/32",
			  "02:00:00:00:00:44"));
	assert_true(calc_cache_dp_dirty(c));
	calc_cache_clear_dirty(c);
	put_k(c, wep_key("h2", "bbbbbbbbbbbb"),
	      wep_json("h2", "bbbbbbbbbbbb", "tbybbbbbbbbbbb", "198.19.0.68/32",
		       "02:00:00:00:00:44"));
	assert_true(calc_cache_dp_dirty(c)); /* ... and moving away again */
	calc_cache_clear_dirty(c);

	/* a local endpoint, a block and a node are seen */
	del_k(c, wep_key("h1", "aaaaaaaaaaaa"));
	assert_true(calc_cache_dp_dirty(c));
	calc_cache_clear_dirty(c);
	put_k(c, block_key("198.19.0.128/26"), block_json("198.19.0.128/26", "h2"));
	assert_true(calc_cache_dp_dirty(c));
	calc_cache_clear_dirty(c);
	put(c, P "nodes/h3", node_json("h3", "198.18.0.13/24", 0));
	assert_true(calc_cache_dp_dirty(c));
	calc_cache_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_local_only),
	    cmocka_unit_test(test_two_blocks_and_workloads),
	    cmocka_unit_test(test_node_removed_peer_removed),
	    cmocka_unit_test(test_mesh_disabled_and_as),
	    cmocka_unit_test(test_no_own_node),
	    cmocka_unit_test(test_disabled_pool_and_foreign_ifname),
	    cmocka_unit_test(test_duplicate_address),
	    cmocka_unit_test(test_deterministic_order),
	    cmocka_unit_test(test_snapshot_mark_sweep),
	    cmocka_unit_test(test_bad_and_ignored_values),
	    cmocka_unit_test(test_dp_dirty_remote_endpoints),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
