/* SPDX-License-Identifier: Apache-2.0 */
/*
 * IPAM against a real etcd (run by tests/integration/with-etcd, which exports
 * TABBY_DATASTORE_ENDPOINTS). Every test starts from an empty /tabby/ prefix and writes its IP
 * pools directly as v3 JSON. The concurrency tests fork real processes, each with its own
 * datastore client, so compare-and-swap conflicts happen for real.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "datastore/datastore.h"
#include "ipam/ipam.h"
#include "lib/log.h"

static struct ds_client *new_client(void)
{
	struct ds_config cfg = {0};
	struct ds_client *c = NULL;

	ds_config_from_env(&cfg);
	if (!cfg.endpoints)
		return NULL;
	if (ds_client_new(&cfg, &c) < 0)
		return NULL;
	return c;
}

static void wipe(struct ds_client *c)
{
	struct ds_kvs kvs = {0};

	assert_int_equal(ds_range_prefix(c, "/tabby/", 0, &kvs), 0);
	for (size_t i = 0; i < kvs.n; i++)
		assert_int_equal(ds_delete(c, kvs.items[i].key, NULL), 0);
	ds_kvs_done(&kvs);
}

static int setup(void **state)
{
	struct ds_client *c = new_client();

	if (!c)
		return -1;
	wipe(c);
	*state = c;
	return 0;
}

static int teardown(void **state)
{
	ds_client_free(*state);
	return 0;
}

static void put(struct ds_client *c, const char *key, const char *value)
{
	assert_int_equal(ds_put(c, key, value, strlen(value), 0, NULL), 0);
}

static void put_pool(struct ds_client *c, const char *name, const char *cidr, int block_size,
		     const char *extra_spec)
{
	char key[256], v[1024];

	snprintf(key, sizeof(key), MODEL_KEY_PREFIX "ippools/%s", name);
	snprintf(v, sizeof(v),
		 "{\"apiVersion\":\"projectcalico.org/v3\",\"kind\":\"IPPool\",\"metadata\":"
		 "{\"name\":\"%s\"},\"spec\":{\"cidr\":\"%s\",\"blockSize\":%d%s}}",
		 name, cidr, block_size, extra_spec ? extra_spec : "");
	put(c, key, v);
}

static void put_config(struct ds_client *c, bool strict, unsigned max_blocks)
{
	char v[128];

	snprintf(v, sizeof(v), "{\"strictAffinity\":%s,\"maxBlocksPerHost\":%u}",
		 strict ? "true" : "false", max_blocks);
	put(c, IPAM_KEY_CONFIG, v);
}

static int assign(struct ds_client *c, const char *node, const char *handle, int family,
		  struct ip_addr *ret, struct ip_prefix *ret_block)
{
	struct model_labels attrs = {0};
	struct ipam_assign_args args = {
	    .node = node, .handle = handle, .attrs = &attrs, .family = family};
	int r;

	assert_int_equal(model_labels_set(&attrs, "node", node), 0);
	assert_int_equal(model_labels_set(&attrs, "namespace", "default"), 0);
	r = ipam_auto_assign(c, &args, ret, ret_block);
	model_labels_done(&attrs);
	return r;
}

static struct ip_prefix P6(const char *s) {
	struct ip_prefix p = {0};

	assert_int_equal(ip_prefix_parse(s, true, &p), 0);
	return p;
}

static const char *
fmt_addr(const struct ip_addr *a)
{
	static char buf[4][IP_ADDR_STRLEN];
	static unsigned i;

	return ip_addr_format(a, buf[i++ % 4]);
}

static const char *fmt_prefix(const struct ip_prefix *p)
{
	static char buf[4][IP_PREFIX_STRLEN];
	static unsigned i;

	return ip_prefix_format(p, buf[i++ % 4]);
}

struct blocks {
	struct ipam_block *b;
	size_t n;
};

static struct blocks list_blocks(struct ds_client *c)
{
	struct blocks bl = {0};

	assert_int_equal(ipam_list_blocks(c, &bl.b, &bl.n), 0);
	return bl;
}

static void blocks_done(struct blocks *bl)
{
	for (size_t i = 0; i < bl->n; i++)
		ipam_block_done(&bl->b[i]);
	free(bl->b);
	*bl = (struct blocks){0};
}

static unsigned total_in_use(struct ds_client *c)
{
	struct blocks bl = list_blocks(c);
	unsigned n = 0;

	for (size_t i = 0; i < bl.n; i++)
		n += ipam_block_in_use(&bl.b[i]);
	blocks_done(&bl);
	return n;
}

/* The stored block with cidr @p (test fails when absent). */
static struct ipam_block *find_block(struct blocks *bl, const struct ip_prefix *p)
{
	for (size_t i = 0; i < bl->n; i++)
		if (ip_prefix_equal(&bl->b[i].cidr, p))
			return &bl->b[i];
	fail_msg("no block %s", fmt_prefix(p));
	return NULL;
}

static bool handle_exists(struct ds_client *c, const char *handle)
{
	struct ds_kv kv = {0};
	char key[256];
	int r;

	snprintf(key, sizeof(key), IPAM_KEY_HANDLES "%s", handle);
	r = ds_get(c, key, &kv, NULL);
	ds_kv_done(&kv);
	assert_true(r == 0 || r == -ENOENT);
	return r == 0;
}

static char *get_value(struct ds_client *c, const char *key)
{
	struct ds_kv kv = {0};
	char *v;

	if (ds_get(c, key, &kv, NULL) < 0)
		return NULL;
	v = strdup(kv.value);
	ds_kv_done(&kv);
	return v;
}

static bool has_key(struct ds_client *c, const char *key)
{
	char *v = get_value(c, key);

	free(v);
	return v != NULL;
}

static size_t count_keys(struct ds_client *c, const char *prefix)
{
	struct ds_kvs kvs = {0};
	size_t n;

	assert_int_equal(ds_range_prefix(c, prefix, 0, &kvs), 0);
	n = kvs.n;
	ds_kvs_done(&kvs);
	return n;
}

static void test_ensure_block(void **state)
{
	struct ds_client *c = *state;
	unsigned claimed = 99;
	struct blocks bl;
	char *v;

	put_pool(c, "p1", "198.19.0.0/24", 26, NULL);
	assert_int_equal(ipam_ensure_block(c, "h1", AF_INET, &claimed), 0);
	assert_int_equal(claimed, 1);
	assert_int_equal(ipam_ensure_block(c, "h1", AF_INET, &claimed), 0);
	assert_int_equal(claimed, 0);
	bl = list_blocks(c);
	assert_int_equal(bl.n, 1);
	assert_string_equal(fmt_prefix(&bl.b[0].cidr), "198.19.0.0/26");
	assert_true(ipam_block_is_affine_to(&bl.b[0], "h1"));
	assert_int_equal(ipam_block_in_use(&bl.b[0]), 0);
	blocks_done(&bl);
	v = get_value(c, IPAM_KEY_AFFINITIES "h1/198.19.0.0-26");
	assert_non_null(v);
	assert_non_null(strstr(v, "confirmed"));
	free(v);
	/* a second node gets the next block */
	assert_int_equal(ipam_ensure_block(c, "h2", AF_INET, &claimed), 0);
	assert_int_equal(claimed, 1);
	assert_non_null(v = get_value(c, IPAM_KEY_BLOCKS "198.19.0.64-26"));
	assert_non_null(strstr(v, "\"host:h2\""));
	free(v);
	/* no IPv6 pool; disabled pools and other selectors do not count */
	assert_int_equal(ipam_ensure_block(c, "h1", AF_INET6, &claimed), -ENOENT);
	put_pool(c, "p6", "2001:db8::/120", 122, ",\"disabled\":true");
	put_pool(c, "p6sel", "2001:db8::100/120", 122, ",\"nodeSelector\":\"rack == 'a'\"");
	assert_int_equal(ipam_ensure_block(c, "h1", AF_INET6, &claimed), -ENOENT);
	put_pool(c, "p6ok", "2001:db8::200/120", 122, ",\"nodeSelector\":\"all()\"");
	assert_int_equal(ipam_ensure_block(c, "h1", AF_INET6, &claimed), 0);
	assert_int_equal(claimed, 1);
	assert_non_null(v = get_value(c, IPAM_KEY_AFFINITIES "h1/2001:db8::200-122"));
	free(v);
	assert_int_equal(count_keys(c, IPAM_KEY_BLOCKS), 3);
}

static void test_two_nodes(void **state)
{
	struct ds_client *c = *state;
	struct ip_addr a1, a2;
	struct ip_prefix b1, b2;
	struct blocks bl;

	put_pool(c, "p1", "198.19.0.0/24", 26, NULL);
	assert_int_equal(assign(c, "h1", "net.c1", AF_INET, &a1, &b1), 0);
	assert_int_equal(assign(c, "h2", "net.c2", AF_INET, &a2, &b2), 0);
	assert_false(ip_prefix_equal(&b1, &b2));
	assert_true(ip_prefix_contains_addr(&b1, &a1));
	assert_true(ip_prefix_contains_addr(&b2, &a2));
	bl = list_blocks(c);
	assert_int_equal(bl.n, 2);
	assert_true(ipam_block_is_affine_to(find_block(&bl, &b1), "h1"));
	assert_true(ipam_block_is_affine_to(find_block(&bl, &b2), "h2"));
	assert_string_equal(ipam_block_lookup(find_block(&bl, &b1), &a1)->handle_id, "net.c1");
	assert_string_equal(ipam_block_lookup(find_block(&bl, &b2), &a2)->handle_id, "net.c2");
	assert_string_equal(
	    model_labels_get(&ipam_block_lookup(find_block(&bl, &b2), &a2)->secondary, "node"),
	    "h2");
	blocks_done(&bl);
	assert_int_equal(count_keys(c, IPAM_KEY_AFFINITIES "h1/198.19.0.0-26"), 1);
	assert_int_equal(count_keys(c, IPAM_KEY_AFFINITIES "h2/198.19.0.64-26"), 1);
}

static void test_idempotent(void **state)
{
	struct ds_client *c = *state;
	struct ip_addr a, b, v6;
	struct ip_prefix blk;
	char *rec;

	put_pool(c, "p1", "198.19.0.0/24", 26, NULL);
	put_pool(c, "p6", "2001:db8::/120", 122, NULL);
	assert_int_equal(assign(c, "h1", "net.same", AF_INET, &a, NULL), 0);
	assert_int_equal(assign(c, "h1", "net.same", AF_INET, &b, &blk), 0);
	assert_true(ip_addr_equal(&a, &b));
	assert_string_equal(fmt_prefix(&blk), "198.19.0.0/26");
	assert_int_equal(total_in_use(c), 1);
	/* the same handle asks for IPv6 too: a second address, recorded in the same handle */
	assert_int_equal(assign(c, "h1", "net.same", AF_INET6, &v6, &blk), 0);
	assert_string_equal(fmt_addr(&v6), "2001:db8::");
	assert_string_equal(fmt_prefix(&blk), "2001:db8::/122");
	assert_int_equal(total_in_use(c), 2);
	rec = get_value(c, IPAM_KEY_HANDLES "net.same");
	assert_non_null(rec);
	assert_non_null(strstr(rec, "\"handleID\":\"net.same\""));
	assert_non_null(strstr(rec, "\"198.19.0.0-26\":1"));
	assert_non_null(strstr(rec, "\"2001:db8::-122\":1"));
	free(rec);
	/* a different handle gets a different address */
	assert_int_equal(assign(c, "h1", "net.other", AF_INET, &b, NULL), 0);
	assert_false(ip_addr_equal(&a, &b));
}

/* args.ret_pools: the pools the assignment read (the CNI plugin's MTU needs the address's
 * pool), on the first assignment and on a repeated one; untouched on failure. */
static void test_ret_pools(void **state)
{
	struct ds_client *c = *state;
	struct model_labels attrs = {0};
	struct model_list pools = {0};
	struct ipam_assign_args args = {.node = "h1",
					.handle = "net.pools",
					.attrs = &attrs,
					.family = AF_INET,
					.ret_pools = &pools};
	struct ip_addr a;

	put_pool(c, "p1", "198.19.0.0/24", 26, NULL);
	put_pool(c, "p2", "198.19.1.0/24", 26, ",\"disabled\":true");
	for (int i = 0; i < 2; i++) {
		assert_int_equal(ipam_auto_assign(c, &args, &a, NULL), 0);
		assert_int_equal(pools.n, 2); /* every pool read, also the disabled one */
		assert_string_equal(pools.items[0]->meta.name, "p1");
		assert_string_equal(pools.items[1]->meta.name, "p2");
		assert_true(ip_prefix_contains_addr(&pools.items[0]->ippool.cidr, &a));
		model_list_done(&pools);
		pools = (struct model_list){0};
	}
	args.family = AF_INET6; /* no IPv6 pool */
	args.handle = "net.pools6";
	assert_int_equal(ipam_auto_assign(c, &args, &a, NULL), -ENOENT);
	assert_int_equal(pools.n, 0);
	assert_null(pools.items);
}

static void test_fill_block(void **state)
{
	struct ds_client *c = *state;
	struct ip_prefix first = {0}, blk;
	struct ip_addr a;
	struct blocks bl;
	char handle[32];

	put_pool(c, "p1", "198.19.0.0/24", 26, NULL);
	for (int i = 0; i < 64; i++) {
		snprintf(handle, sizeof(handle), "net.f%d", i);
		assert_int_equal(assign(c, "h1", handle, AF_INET, &a, &blk), 0);
		if (i == 0)
			first = blk;
		assert_true(ip_prefix_equal(&blk, &first));
	}
	assert_int_equal(count_keys(c, IPAM_KEY_BLOCKS), 1);
	assert_int_equal(assign(c, "h1", "net.f64", AF_INET, &a, &blk), 0);
	assert_false(ip_prefix_equal(&blk, &first));
	assert_true(ip_prefix_contains_addr(&blk, &a));
	bl = list_blocks(c);
	assert_int_equal(bl.n, 2);
	assert_int_equal(ipam_block_in_use(find_block(&bl, &first)), 64);
	assert_int_equal(ipam_block_in_use(find_block(&bl, &blk)), 1);
	assert_true(ipam_block_is_affine_to(find_block(&bl, &blk), "h1"));
	blocks_done(&bl);
	assert_int_equal(count_keys(c, IPAM_KEY_AFFINITIES "h1/"), 2);
	assert_int_equal(count_keys(c, IPAM_KEY_HANDLES), 65);
}

static void test_small_pool_enospc(void **state)
{
	struct ds_client *c = *state;
	struct ip_addr a;
	char handle[32];

	put_pool(c, "tiny", "198.19.9.0/30", 30, NULL);
	for (int i = 0; i < 4; i++) {
		snprintf(handle, sizeof(handle), "net.s%d", i);
		assert_int_equal(assign(c, "h1", handle, AF_INET, &a, NULL), 0);
	}
	assert_int_equal(assign(c, "h1", "net.s4", AF_INET, &a, NULL), -ENOSPC);
	assert_false(handle_exists(c, "net.s4"));
	assert_int_equal(total_in_use(c), 4);
	assert_int_equal(count_keys(c, IPAM_KEY_BLOCKS), 1);
	/* another node finds no block to claim and nothing to borrow either */
	assert_int_equal(assign(c, "h2", "net.s5", AF_INET, &a, NULL), -ENOSPC);
	assert_int_equal(count_keys(c, IPAM_KEY_AFFINITIES), 1);
	assert_int_equal(total_in_use(c), 4);
	/* no pool of the family, and pools restricted by name */
	assert_int_equal(assign(c, "h1", "net.v6", AF_INET6, &a, NULL), -ENOENT);
	{
		const char *const none[] = {"nope", NULL};
		struct ipam_assign_args args = {
		    .node = "h1", .handle = "net.n", .family = AF_INET, .pool_names = none};

		assert_int_equal(ipam_auto_assign(c, &args, &a, NULL), -ENOENT);
	}
}

static void test_borrow(void **state)
{
	struct ds_client *c = *state;
	struct ip_prefix own, other, blk;
	struct ip_addr a;
	struct blocks bl;
	char handle[32];

	/* two blocks of four addresses */
	put_pool(c, "small", "198.19.9.0/29", 30, NULL);
	put_config(c, false, 1);
	assert_int_equal(assign(c, "h2", "net.h2", AF_INET, &a, &other), 0);
	for (int i = 0; i < 4; i++) {
		snprintf(handle, sizeof(handle), "net.b%d", i);
		assert_int_equal(assign(c, "h1", handle, AF_INET, &a, &own), 0);
	}
	assert_false(ip_prefix_equal(&own, &other));
	/* h1's block is full and it may not claim a second one: borrow from h2's */
	assert_int_equal(assign(c, "h1", "net.b4", AF_INET, &a, &blk), 0);
	assert_true(ip_prefix_equal(&blk, &other));
	assert_true(ip_prefix_contains_addr(&other, &a));
	bl = list_blocks(c);
	assert_int_equal(bl.n, 2);
	assert_true(ipam_block_is_affine_to(find_block(&bl, &other), "h2"));
	assert_string_equal(ipam_block_lookup(find_block(&bl, &other), &a)->handle_id, "net.b4");
	blocks_done(&bl);
	assert_int_equal(count_keys(c, IPAM_KEY_AFFINITIES "h1/"), 1);

	/* strict affinity: no borrowing */
	put_config(c, true, 1);
	assert_int_equal(assign(c, "h1", "net.b5", AF_INET, &a, NULL), -ENOSPC);
	assert_false(handle_exists(c, "net.b5"));
	assert_int_equal(total_in_use(c), 6);
	/* but the node's own blocks still serve it once an address is free */
	assert_int_equal(ipam_release_handle(c, "net.b1", NULL), 0);
	assert_int_equal(assign(c, "h1", "net.b5", AF_INET, &a, &blk), 0);
	assert_true(ip_prefix_equal(&blk, &own));
}

static void test_release_handle(void **state)
{
	struct ds_client *c = *state;
	struct ip_addr a, b;
	struct ip_prefix blk;
	unsigned n = 99;
	struct blocks bl;

	put_pool(c, "p1", "198.19.0.0/24", 26, NULL);
	assert_int_equal(assign(c, "h1", "net.r1", AF_INET, &a, &blk), 0);
	assert_int_equal(assign(c, "h1", "net.r2", AF_INET, &b, NULL), 0);
	assert_int_equal(total_in_use(c), 2);
	assert_int_equal(ipam_release_handle(c, "net.r1", &n), 0);
	assert_int_equal(n, 1);
	assert_false(handle_exists(c, "net.r1"));
	bl = list_blocks(c);
	assert_null(ipam_block_lookup(find_block(&bl, &blk), &a));
	assert_non_null(ipam_block_lookup(find_block(&bl, &blk), &b));
	blocks_done(&bl);
	assert_int_equal(ipam_release_handle(c, "net.r1", &n), 0);
	assert_int_equal(n, 0);
	assert_int_equal(ipam_release_handle(c, "net.unknown", &n), 0);
	assert_int_equal(n, 0);
	assert_int_equal(total_in_use(c), 1);
	assert_true(handle_exists(c, "net.r2"));
	/* the block stays (it is still affine to h1) */
	assert_int_equal(count_keys(c, IPAM_KEY_BLOCKS), 1);
}

/* IPv6 end to end: claim, fill, claim the next block, borrow (blocks of four addresses: a /126
 * block size is allowed in the model's 116..128 range), release one address and a handle; the
 * handle holds one address per family, and releasing it frees both. */
static void test_ipv6(void **state)
{
	struct ds_client *c = *state;
	struct ip_prefix own, other, blk;
	struct ip_addr a, v4, v6, held[4];
	struct blocks bl;
	char handle[32];
	unsigned n = 0;

	put_pool(c, "p4", "198.19.0.0/24", 26, NULL);
	put_pool(c, "p6", "2001:db8:19::/120", 126, NULL);
	put_config(c, false, 2);
	/* ipam_ensure_block(AF_INET6) claims the pool's first block; a second call claims nothing */
	assert_int_equal(ipam_ensure_block(c, "h2", AF_INET6, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(ipam_ensure_block(c, "h2", AF_INET6, &n), 0);
	assert_int_equal(n, 0);
	assert_true(has_key(c, IPAM_KEY_BLOCKS "2001:db8:19::-126"));
	assert_int_equal(assign(c, "h2", "net.h2", AF_INET6, &a, &other), 0);
	assert_string_equal(fmt_addr(&a), "2001:db8:19::");
	assert_string_equal(fmt_prefix(&other), "2001:db8:19::/126");

	/* h1: one handle, both families */
	assert_int_equal(assign(c, "h1", "net.ds", AF_INET, &v4, NULL), 0);
	assert_int_equal(assign(c, "h1", "net.ds", AF_INET6, &v6, &own), 0);
	assert_string_equal(fmt_addr(&v4), "198.19.0.0");
	assert_string_equal(fmt_addr(&v6), "2001:db8:19::4");
	assert_string_equal(fmt_prefix(&own), "2001:db8:19::4/126");
	assert_int_equal(ipam_handle_addrs(c, "net.ds", held, 4), 2);
	assert_true(ip_addr_equal(&held[0], &v4)); /* IPv4 first */
	assert_true(ip_addr_equal(&held[1], &v6));
	/* idempotent per family */
	assert_int_equal(assign(c, "h1", "net.ds", AF_INET6, &a, NULL), 0);
	assert_true(ip_addr_equal(&a, &v6));
	assert_int_equal(assign(c, "h1", "net.ds", AF_INET, &a, NULL), 0);
	assert_true(ip_addr_equal(&a, &v4));
	assert_int_equal(count_keys(c, IPAM_KEY_AFFINITIES "h1/"), 2); /* one block per family */

	/* fill h1's IPv6 block (3 more), then a second block is claimed (maxBlocksPerHost 2
	 * counts per family) */
	for (int i = 0; i < 3; i++) {
		snprintf(handle, sizeof(handle), "net.f%d", i);
		assert_int_equal(assign(c, "h1", handle, AF_INET6, &a, &blk), 0);
		assert_true(ip_prefix_equal(&blk, &own));
	}
	assert_int_equal(assign(c, "h1", "net.f3", AF_INET6, &a, &blk), 0);
	assert_string_equal(fmt_prefix(&blk), "2001:db8:19::8/126");
	assert_int_equal(count_keys(c, IPAM_KEY_AFFINITIES "h1/"), 3);
	/* fill that one too: h1 is at its quota, so it borrows from h2's block */
	for (int i = 4; i < 7; i++) {
		snprintf(handle, sizeof(handle), "net.f%d", i);
		assert_int_equal(assign(c, "h1", handle, AF_INET6, &a, NULL), 0);
	}
	assert_int_equal(assign(c, "h1", "net.borrow", AF_INET6, &a, &blk), 0);
	assert_true(ip_prefix_equal(&blk, &other));
	assert_string_equal(fmt_addr(&a), "2001:db8:19::1");
	bl = list_blocks(c);
	assert_true(ipam_block_is_affine_to(find_block(&bl, &other), "h2"));
	assert_string_equal(ipam_block_lookup(find_block(&bl, &other), &a)->handle_id,
			    "net.borrow");
	blocks_done(&bl);

	/* release one IPv6 address, then the dual-stack handle: both of its addresses go */
	assert_int_equal(ipam_release_addr(c, &a, -1), 0);
	assert_false(handle_exists(c, "net.borrow"));
	assert_int_equal(ipam_release_handle(c, "net.ds", &n), 0);
	assert_int_equal(n, 2);
	assert_false(handle_exists(c, "net.ds"));
	assert_int_equal(ipam_handle_addrs(c, "net.ds", held, 4), 0);
	bl = list_blocks(c);
	assert_null(ipam_block_lookup(find_block(&bl, &own), &v6));
	blocks_done(&bl);
	/* 1 (h2) + 3 + 4 (h1's blocks) IPv6 addresses remain, no IPv4 one */
	assert_int_equal(total_in_use(c), 8);

	/* pinned IPv6 address in an unclaimed block: the block is claimed for the node */
	{
		struct ipam_assign_args args = {
		    .node = "h3", .handle = "net.pin6", .family = AF_INET6};

		assert_int_equal(ip_addr_parse("2001:db8:19::ff", &a), 0);
		assert_int_equal(ipam_assign_ip(c, &args, &a), 0);
		assert_true(has_key(c, IPAM_KEY_AFFINITIES "h3/2001:db8:19::fc-126"));
		args.handle = "net.pin6b";
		assert_int_equal(ipam_assign_ip(c, &args, &a), -EEXIST);
		assert_int_equal(ip_addr_parse("2001:db8:18::1", &a), 0);
		assert_int_equal(ipam_assign_ip(c, &args, &a), -ENOENT);
	}
	/* pool names or CIDRs restrict the pools */
	{
		static const char *const by_cidr[] = {"2001:db8:19::/120", NULL};
		static const char *const by_other[] = {"198.19.0.0/24", NULL};
		struct ipam_assign_args args = {
		    .node = "h4", .handle = "net.cidr", .family = AF_INET6, .pool_names = by_cidr};

		struct ip_prefix pool = P6("2001:db8:19::/120");

		assert_int_equal(ipam_auto_assign(c, &args, &a, NULL), 0);
		assert_true(ip_prefix_contains_addr(&pool, &a));
		args.pool_names = by_other;
		args.handle = "net.cidr2";
		assert_int_equal(ipam_auto_assign(c, &args, &a, NULL), -ENOENT);
	}
}

/* A /64 pool with /122 blocks (2^58 of them) and a /48 one: claims are quick and pick the
 * lowest free block, also past blocks that already exist, without enumerating the pool; a
 * claim in a pool whose first 2^31 blocks hold one big stored block jumps past it at once. */
static void test_ipv6_big_pool(void **state)
{
	struct ds_client *c = *state;
	struct ip_prefix blk;
	struct ip_addr a;
	char node[16], handle[32];
	struct timespec t0, t1;
	double ms;

	put_pool(c, "big", "2001:db8:64::/64", 122, NULL);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int i = 0; i < 20; i++) {
		char want[64];

		snprintf(node, sizeof(node), "n%d", i);
		snprintf(handle, sizeof(handle), "net.big%d", i);
		assert_int_equal(assign(c, node, handle, AF_INET6, &a, &blk), 0);
		struct ip_prefix wp;

		snprintf(want, sizeof(want), "2001:db8:64::%x/122", i * 64);
		wp = P6(want);
		assert_string_equal(fmt_prefix(&blk), fmt_prefix(&wp));
	}
	assert_int_equal(ipam_ensure_block(c, "n99", AF_INET6, NULL), 0);
	assert_true(has_key(c, IPAM_KEY_AFFINITIES "n99/2001:db8:64::500-122"));
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
	print_message("FIGURE ipam_ipv6_big_pool_21_claims_ms %.1f\n", ms);
	assert_true(ms < 10000);

	/* a stored /116 block (64 /122 blocks) that the next claim would land in: jumped over */
	{
		struct ipam_block b = {0};
		struct strbuf sb = {0};

		assert_int_equal(ipam_block_init(&b, P6("2001:db8:64::1000/116"), "host:x"), 0);
		assert_int_equal(ipam_block_encode_json(&b, &sb), 0);
		put(c, IPAM_KEY_BLOCKS "2001:db8:64::1000-116", strbuf_cstr(&sb));
		strbuf_done(&sb);
		ipam_block_done(&b);
	}
	/* fill the gap below the /116: 0x540 .. 0xfc0 are 43 blocks */
	for (int i = 0; i < 43; i++) {
		snprintf(node, sizeof(node), "g%d", i);
		assert_int_equal(ipam_ensure_block(c, node, AF_INET6, NULL), 0);
	}
	assert_true(has_key(c, IPAM_KEY_AFFINITIES "g42/2001:db8:64::fc0-122"));
	assert_int_equal(ipam_ensure_block(c, "past", AF_INET6, NULL), 0);
	assert_true(has_key(c, IPAM_KEY_AFFINITIES "past/2001:db8:64::2000-122"));

	/* a /48 pool works the same way */
	put_pool(c, "big", "2001:db8:64::/64", 122, ",\"disabled\":true");
	put_pool(c, "big48", "2001:db8:48::/48", 122, NULL);
	assert_int_equal(assign(c, "n48", "net.48", AF_INET6, &a, &blk), 0);
	assert_string_equal(fmt_prefix(&blk), "2001:db8:48::/122");
	assert_string_equal(fmt_addr(&a), "2001:db8:48::");
}

static void test_release_stale(void **state)
{
	struct ds_client *c = *state;
	struct ip_addr a[4], x, again;
	struct ip_prefix blk;
	struct blocks bl;
	int64_t s0, s1;
	char handle[32];

	put_pool(c, "tiny", "198.19.9.0/30", 30, NULL);
	for (int i = 0; i < 4; i++) {
		snprintf(handle, sizeof(handle), "net.t%d", i);
		assert_int_equal(assign(c, "h1", handle, AF_INET, &a[i], &blk), 0);
	}
	x = a[2];
	bl = list_blocks(c);
	s0 = ipam_block_sequence_of(find_block(&bl, &blk), &x);
	blocks_done(&bl);
	assert_true(s0 >= 0);
	/* a wrong sequence is refused; the right one frees it and drops the handle record */
	assert_int_equal(ipam_release_addr(c, &x, s0 + 100), -ESTALE);
	assert_true(handle_exists(c, "net.t2"));
	assert_int_equal(ipam_release_addr(c, &x, s0), 0);
	assert_false(handle_exists(c, "net.t2"));
	assert_int_equal(ipam_release_addr(c, &x, s0), 0); /* already free */
	/* the only free address goes to the next handle, with a new sequence */
	assert_int_equal(assign(c, "h1", "net.t9", AF_INET, &again, NULL), 0);
	assert_true(ip_addr_equal(&again, &x));
	bl = list_blocks(c);
	s1 = ipam_block_sequence_of(find_block(&bl, &blk), &x);
	blocks_done(&bl);
	assert_true(s1 != s0);
	/* the old owner's late release must not free net.t9's address */
	assert_int_equal(ipam_release_addr(c, &x, s0), -ESTALE);
	bl = list_blocks(c);
	assert_string_equal(ipam_block_lookup(find_block(&bl, &blk), &x)->handle_id, "net.t9");
	blocks_done(&bl);
	assert_true(handle_exists(c, "net.t9"));
	/* unconditional release */
	assert_int_equal(ipam_release_addr(c, &x, -1), 0);
	assert_false(handle_exists(c, "net.t9"));
	assert_int_equal(total_in_use(c), 3);
	/* an address in no block at all */
	x = a[0];
	x.bytes[2] = 77;
	assert_int_equal(ipam_release_addr(c, &x, -1), 0);
}

static void test_assign_ip(void **state)
{
	struct ds_client *c = *state;
	struct ipam_assign_args args = {.node = "h1", .handle = "net.ip1", .family = AF_INET};
	struct ip_addr a, got;
	struct ip_prefix blk;
	struct blocks bl;

	put_pool(c, "p1", "198.19.0.0/24", 26, NULL);
	assert_int_equal(ip_addr_parse("198.19.0.150", &a), 0);
	assert_int_equal(ipam_assign_ip(c, &args, &a), 0);
	assert_int_equal(ipam_assign_ip(c, &args, &a), 0); /* same handle: idempotent */
	args.handle = "net.ip2";
	assert_int_equal(ipam_assign_ip(c, &args, &a), -EEXIST);
	assert_false(handle_exists(c, "net.ip2"));
	bl = list_blocks(c);
	assert_int_equal(bl.n, 1);
	assert_string_equal(fmt_prefix(&bl.b[0].cidr), "198.19.0.128/26");
	assert_true(ipam_block_is_affine_to(&bl.b[0], "h1"));
	blocks_done(&bl);
	assert_int_equal(ip_addr_parse("198.18.0.1", &a), 0);
	assert_int_equal(ipam_assign_ip(c, &args, &a), -ENOENT);
	/* auto-assign for net.ip1 returns the address it already holds */
	assert_int_equal(assign(c, "h1", "net.ip1", AF_INET, &got, &blk), 0);
	assert_string_equal(fmt_addr(&got), "198.19.0.150");
}

/* ---- concurrency --------------------------------------------------------------------------- */

/* Fork @n children that wait on a common start signal and then run @fn(i, fd) with a fresh
 * datastore client; the parent collects what they write to their pipes. */
typedef int (*child_fn)(struct ds_client *c, int i, int fd);

static void run_children(int n, child_fn fn, int *fds_out)
{
	int start[2];
	pid_t pids[16];

	assert_true(n <= 16);
	assert_int_equal(pipe2(start, O_CLOEXEC), 0);
	for (int i = 0; i < n; i++) {
		int out[2];

		assert_int_equal(pipe2(out, O_CLOEXEC), 0);
		pids[i] = fork();
		assert_true(pids[i] >= 0);
		if (pids[i] == 0) {
			struct ds_client *c;
			char ch;
			int r;

			close(start[1]);
			close(out[0]);
			c = new_client();
			/* wait until the parent closes the write end: everyone starts together */
			while (read(start[0], &ch, 1) > 0)
				;
			r = c ? fn(c, i, out[1]) : -EIO;
			ds_client_free(c);
			_exit(r < 0 ? 1 : 0);
		}
		close(out[1]);
		fds_out[i] = out[0];
	}
	close(start[0]);
	close(start[1]);
	for (int i = 0; i < n; i++) {
		int status;

		assert_int_equal(waitpid(pids[i], &status, 0), pids[i]);
		assert_true(WIFEXITED(status));
		assert_int_equal(WEXITSTATUS(status), 0);
	}
}

#define PER_CHILD 50

static int child_assign(struct ds_client *c, int i, int fd)
{
	for (int j = 0; j < PER_CHILD; j++) {
		struct ip_addr a;
		char handle[32];
		int r;

		snprintf(handle, sizeof(handle), "net.p%d-%d", i, j);
		r = assign(c, "h1", handle, AF_INET, &a, NULL);
		if (r < 0) {
			fprintf(stderr, "child %d: assign %s: %s\n", i, handle, strerror(-r));
			return r;
		}
		if (write(fd, &a, sizeof(a)) != sizeof(a))
			return -EIO;
	}
	return 0;
}

static void test_cas_conflict(void **state)
{
	struct ds_client *c = *state;
	struct ip_addr addrs[2 * PER_CHILD];
	int fds[2], n = 0;
	struct blocks bl;
	unsigned in_use = 0;

	put_pool(c, "p1", "198.19.0.0/24", 26, NULL);
	/* the pipes hold far more than 50 addresses, so children never block on them */
	run_children(2, child_assign, fds);
	for (int i = 0; i < 2; i++) {
		ssize_t got;

		while ((got = read(fds[i], &addrs[n], sizeof(addrs[0]))) == sizeof(addrs[0]))
			n++;
		assert_int_equal(got, 0);
		close(fds[i]);
	}
	assert_int_equal(n, 2 * PER_CHILD);
	for (int i = 0; i < n; i++)
		for (int j = i + 1; j < n; j++)
			if (ip_addr_equal(&addrs[i], &addrs[j]))
				fail_msg("address %s handed out twice", fmt_addr(&addrs[i]));
	bl = list_blocks(c);
	for (size_t i = 0; i < bl.n; i++) {
		assert_true(ipam_block_is_affine_to(&bl.b[i], "h1"));
		in_use += ipam_block_in_use(&bl.b[i]);
	}
	/* every address is in some block exactly once: no update was lost */
	for (int i = 0; i < n; i++) {
		int holders = 0;

		for (size_t k = 0; k < bl.n; k++)
			holders += ipam_block_lookup(&bl.b[k], &addrs[i]) != NULL;
		assert_int_equal(holders, 1);
	}
	assert_true(bl.n >= 2);
	blocks_done(&bl);
	assert_int_equal(in_use, 2 * PER_CHILD);
	assert_int_equal(count_keys(c, IPAM_KEY_HANDLES), 2 * PER_CHILD);
}

static int child_claim(struct ds_client *c, int i, int fd)
{
	char node[16];
	unsigned claimed = 0;
	int r;

	snprintf(node, sizeof(node), "n%d", i);
	r = ipam_ensure_block(c, node, AF_INET, &claimed);
	if (r < 0 || claimed != 1) {
		fprintf(stderr, "child %d: ensure_block: %d, claimed %u\n", i, r, claimed);
		return r < 0 ? r : -EIO;
	}
	return 0;
}

static void test_concurrent_claims(void **state)
{
	struct ds_client *c = *state;
	int fds[4];
	struct blocks bl;

	/* exactly four blocks for four nodes claiming at the same moment */
	put_pool(c, "p1", "198.19.0.0/24", 26, NULL);
	run_children(4, child_claim, fds);
	for (int i = 0; i < 4; i++)
		close(fds[i]);
	bl = list_blocks(c);
	assert_int_equal(bl.n, 4);
	for (int i = 0; i < 4; i++) {
		char node[16], key[128];
		int owners = 0;

		snprintf(node, sizeof(node), "n%d", i);
		for (size_t k = 0; k < bl.n; k++)
			owners += ipam_block_is_affine_to(&bl.b[k], node);
		assert_int_equal(owners, 1);
		snprintf(key, sizeof(key), IPAM_KEY_AFFINITIES "%s/", node);
		/* losers cleaned up their pending affinities */
		assert_int_equal(count_keys(c, key), 1);
	}
	blocks_done(&bl);
	assert_int_equal(count_keys(c, IPAM_KEY_AFFINITIES), 4);
	/* a fifth node finds the pool full */
	assert_int_equal(ipam_ensure_block(c, "n4", AF_INET, NULL), -ENOSPC);
	assert_int_equal(count_keys(c, IPAM_KEY_AFFINITIES), 4);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_ensure_block, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_two_nodes, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_idempotent, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_ret_pools, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_fill_block, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_small_pool_enospc, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_borrow, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_release_handle, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_ipv6, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_ipv6_big_pool, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_release_stale, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_assign_ip, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_cas_conflict, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_concurrent_claims, setup, teardown),
	};

	if (!getenv("TABBY_DATASTORE_ENDPOINTS")) {
		fprintf(stderr, "TABBY_DATASTORE_ENDPOINTS unset: run through with-etcd\n");
		return 77;
	}
	if (getenv("TABBY_TEST_DEBUG"))
		log_set_level(LOG_LEVEL_DEBUG);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
