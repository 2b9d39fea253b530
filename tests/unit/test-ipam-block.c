/* SPDX-License-Identifier: Apache-2.0 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "ipam/block.h"

static struct ip_prefix P(const char *s) {
	struct ip_prefix p;

	assert_int_equal(ip_prefix_parse(s, false, &p), 0);
	return p;
}

static struct ip_addr
A(const char *s) {
	struct ip_addr a;

	assert_int_equal(ip_addr_parse(s, &a), 0);
	return a;
}

static const char *
fmt_addr(const struct ip_addr *a)
{
	static char buf[4][IP_ADDR_STRLEN];
	static unsigned i;

	return ip_addr_format(a, buf[i++ % 4]);
}

static struct model_labels labels2(const char *node, const char *pod)
{
	struct model_labels l = {0};

	assert_int_equal(model_labels_set(&l, "node", node), 0);
	if (pod)
		assert_int_equal(model_labels_set(&l, "pod", pod), 0);
	return l;
}

/* Every address handed out is unique, inside the block, and the bookkeeping adds up. */
static void check_consistent(const struct ipam_block *b)
{
	uint32_t free_slots = 0;

	for (uint32_t o = 0; o < b->n; o++) {
		if (b->allocations[o] < 0)
			free_slots++;
		else
			assert_true((size_t)b->allocations[o] < b->n_attrs);
	}
	assert_int_equal(free_slots, b->n_unallocated);
	assert_int_equal(ipam_block_free_count(b) + ipam_block_in_use(b), b->n);
	for (uint32_t i = 0; i < b->n_unallocated; i++)
		assert_true(b->allocations[b->unallocated[i]] < 0);
}

static void test_fill_block(void **state)
{
	/* requests and how many each gets from a fresh /26 */
	static const struct {
		unsigned ask, got;
	} steps[] = {{10, 10}, {30, 30}, {30, 24}, {5, 0}, {1, 0}};
	struct ipam_block b;
	struct ip_addr addrs[30];
	unsigned total = 0;
	struct model_labels sec = labels2("h1", NULL);

	assert_int_equal(ipam_block_init(&b, P("198.19.0.0/26"), "host:h1"), 0);
	assert_int_equal(b.n, 64);
	assert_int_equal(ipam_block_free_count(&b), 64);
	assert_true(ipam_block_is_affine_to(&b, "h1"));
	assert_false(ipam_block_is_affine_to(&b, "h"));
	assert_false(ipam_block_is_affine_to(&b, "h11"));
	for (size_t s = 0; s < ELEMENTSOF(steps); s++) {
		uint64_t seq = b.sequence;
		int r = ipam_block_assign(&b, steps[s].ask, "net.c1", &sec, addrs);

		assert_int_equal(r, steps[s].got);
		/* fresh block: addresses come out in ascending order */
		for (int i = 0; i < r; i++) {
			char want[IP_ADDR_STRLEN];

			snprintf(want, sizeof(want), "198.19.0.%u", total + i);
			assert_string_equal(fmt_addr(&addrs[i]), want);
			assert_int_equal(ipam_block_sequence_of(&b, &addrs[i]), seq);
		}
		assert_int_equal(b.sequence, r ? seq + 1 : seq);
		total += r;
		check_consistent(&b);
	}
	assert_int_equal(total, 64);
	assert_int_equal(ipam_block_free_count(&b), 0);
	assert_int_equal(ipam_block_in_use(&b), 64);
	assert_int_equal(b.n_attrs, 1); /* one shared attribute for the one (handle, secondary) */
	assert_int_equal(ipam_block_addrs_by_handle(&b, "net.c1", addrs, 2), 64);
	assert_string_equal(fmt_addr(&addrs[1]), "198.19.0.1");
	model_labels_done(&sec);
	ipam_block_done(&b);
	ipam_block_done(&b); /* zeroed: a second call is harmless */
}

static void test_release_sequence(void **state)
{
	struct ipam_block b;
	struct ip_addr addrs[4], x, outside = A("198.19.0.9");
	int64_t s0, s1;

	assert_int_equal(ipam_block_init(&b, P("198.19.0.4/30"), NULL), 0);
	assert_int_equal(ipam_block_assign(&b, 4, "net.a", NULL, addrs), 4);
	x = addrs[1];
	s0 = ipam_block_sequence_of(&b, &x);
	assert_int_equal(s0, 0);

	static const struct {
		int64_t seq; /* -2: use s0, -3: use s1 */
		int want;
	} first[] = {{5, -ESTALE}, {-2, 0}, {-2, -ENOENT}, {-1, -ENOENT}};
	for (size_t i = 0; i < ELEMENTSOF(first); i++)
		assert_int_equal(
		    ipam_block_release_addr(&b, &x, first[i].seq == -2 ? s0 : first[i].seq),
		    first[i].want);
	assert_int_equal(ipam_block_release_addr(&b, &outside, -1), -EINVAL);
	assert_null(ipam_block_lookup(&b, &x));
	assert_int_equal(ipam_block_sequence_of(&b, &x), -1);

	/* the freed address is the only one left: re-assigning it bumps its sequence */
	assert_int_equal(ipam_block_assign(&b, 1, "net.b", NULL, addrs), 1);
	assert_true(ip_addr_equal(&addrs[0], &x));
	s1 = ipam_block_sequence_of(&b, &x);
	assert_true(s1 > s0);
	assert_string_equal(ipam_block_lookup(&b, &x)->handle_id, "net.b");
	/* a release by the old owner (who saw s0) must not free net.b's address */
	assert_int_equal(ipam_block_release_addr(&b, &x, s0), -ESTALE);
	assert_string_equal(ipam_block_lookup(&b, &x)->handle_id, "net.b");
	assert_int_equal(ipam_block_release_addr(&b, &x, s1), 0);
	check_consistent(&b);

	/* unconditional release */
	assert_int_equal(ipam_block_release_addr(&b, &addrs[0], -1), -ENOENT);
	x = A("198.19.0.4");
	assert_int_equal(ipam_block_release_addr(&b, &x, -1), 0);
	assert_int_equal(ipam_block_free_count(&b), 2);
	/* freed ordinals go to the back of the free list, in release order */
	assert_int_equal(b.unallocated[0], 1);
	assert_int_equal(b.unallocated[1], 0);
	check_consistent(&b);
	ipam_block_done(&b);
}

static void test_assign_addr(void **state)
{
	static const struct {
		const char *addr;
		const char *handle;
		int want;
	} cases[] = {
	    {"198.19.0.70", "h.1", 0},	     {"198.19.0.70", "h.2", -EEXIST},
	    {"198.19.0.64", "h.2", 0},	     {"198.19.0.128", "h.2", -EINVAL},
	    {"2001:db8::1", "h.2", -EINVAL}, {"198.19.0.127", "h.1", 0},
	};
	struct ipam_block b;
	struct ip_addr got[64];

	assert_int_equal(ipam_block_init(&b, P("198.19.0.64/26"), "host:h2"), 0);
	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		struct ip_addr a = A(cases[i].addr);

		assert_int_equal(ipam_block_assign_addr(&b, &a, cases[i].handle, NULL),
				 cases[i].want);
	}
	assert_int_equal(ipam_block_in_use(&b), 3);
	assert_int_equal(b.sequence, 3);
	assert_int_equal(ipam_block_addrs_by_handle(&b, "h.1", got, 64), 2);
	assert_string_equal(fmt_addr(&got[0]), "198.19.0.70");
	assert_string_equal(fmt_addr(&got[1]), "198.19.0.127");
	/* auto-assign skips the specifically assigned ones */
	assert_int_equal(ipam_block_assign(&b, 64, "h.3", NULL, got), 61);
	for (int i = 0; i < 61; i++) {
		assert_string_not_equal(fmt_addr(&got[i]), "198.19.0.70");
		assert_string_not_equal(fmt_addr(&got[i]), "198.19.0.64");
	}
	check_consistent(&b);
	ipam_block_done(&b);
}

static void test_release_handle(void **state)
{
	struct ipam_block b;
	struct ip_addr a1[3], a2[2], a3[2], tmp[8];
	struct model_labels s1 = labels2("h1", "p1"), s2 = labels2("h1", "p2");

	assert_int_equal(ipam_block_init(&b, P("198.19.1.0/28"), "host:h1"), 0);
	assert_int_equal(ipam_block_assign(&b, 3, "net.one", &s1, a1), 3);
	assert_int_equal(ipam_block_assign(&b, 2, "net.two", &s2, a2), 2);
	/* same handle, other secondary attributes: a second attribute entry */
	assert_int_equal(ipam_block_assign(&b, 2, "net.one", &s2, a3), 2);
	assert_int_equal(b.n_attrs, 3);
	assert_int_equal(ipam_block_addrs_by_handle(&b, "net.one", tmp, 8), 5);
	assert_string_equal(model_labels_get(&ipam_block_lookup(&b, &a3[0])->secondary, "pod"),
			    "p2");

	assert_int_equal(ipam_block_release_handle(&b, "net.none"), 0);
	assert_int_equal(ipam_block_release_handle(&b, "net.one"), 5);
	assert_int_equal(ipam_block_release_handle(&b, "net.one"), 0);
	assert_int_equal(ipam_block_in_use(&b), 2);
	/* only net.two's attribute is left, and its allocations point at it */
	assert_int_equal(b.n_attrs, 1);
	for (int i = 0; i < 2; i++) {
		const struct ipam_attr *at = ipam_block_lookup(&b, &a2[i]);

		assert_non_null(at);
		assert_string_equal(at->handle_id, "net.two");
		assert_string_equal(model_labels_get(&at->secondary, "pod"), "p2");
	}
	for (int i = 0; i < 3; i++)
		assert_null(ipam_block_lookup(&b, &a1[i]));
	check_consistent(&b);
	assert_int_equal(ipam_block_release_handle(&b, "net.two"), 2);
	assert_int_equal(b.n_attrs, 0);
	assert_int_equal(ipam_block_free_count(&b), 16);
	check_consistent(&b);
	model_labels_done(&s1);
	model_labels_done(&s2);
	ipam_block_done(&b);
}

static void test_ipv6_block(void **state)
{
	struct ipam_block b;
	struct ip_addr a[64];

	assert_int_equal(ipam_block_init(&b, P("2001:db8::40/122"), "host:h6"), 0);
	assert_int_equal(b.n, 64);
	assert_int_equal(ipam_block_assign(&b, 64, "net.v6", NULL, a), 64);
	assert_string_equal(fmt_addr(&a[0]), "2001:db8::40");
	assert_string_equal(fmt_addr(&a[63]), "2001:db8::7f");
	assert_int_equal(ipam_block_release_addr(&b, &a[5], 0), 0);
	assert_int_equal(ipam_block_free_count(&b), 1);
	ipam_block_done(&b);

	/* too large for a block */
	assert_int_equal(ipam_block_init(&b, P("198.19.0.0/19"), NULL), -EINVAL);
	assert_int_equal(ipam_block_init(&b, P("198.19.0.0/20"), NULL), 0);
	assert_int_equal(b.n, 4096);
	ipam_block_done(&b);
}

/* A block with a little of everything: shared and distinct attributes, a null handle, holes
 * in the allocations, a free list out of address order, and sequence numbers. */
static void make_sample(struct ipam_block *b)
{
	struct ip_addr a[8];
	struct model_labels s1 = labels2("h1", "web-0"), s2 = labels2("h1", "web-1");
	struct ip_addr x = A("198.19.0.200");

	assert_int_equal(ipam_block_init(b, P("198.19.0.192/29"), "host:h1"), 0);
	assert_int_equal(model_labels_set(&s1, "namespace", "default"), 0);
	assert_int_equal(ipam_block_assign(b, 3, "tabbynet.c1", &s1, a), 3);
	assert_int_equal(ipam_block_assign(b, 1, "tabbynet.c2", &s2, a + 3), 1);
	assert_int_equal(ipam_block_assign(b, 1, NULL, NULL, a + 4), 1);
	assert_int_equal(ipam_block_release_addr(b, &a[1], -1), 0);
	assert_int_equal(ipam_block_assign_addr(b, &a[1], "tabbynet.c3", &s2), 0);
	assert_int_equal(ipam_block_release_addr(b, &a[0], -1), 0);
	assert_int_equal(ipam_block_assign_addr(b, &x, "x", NULL), -EINVAL);
	b->strict_affinity = true;
	model_labels_done(&s1);
	model_labels_done(&s2);
}

static char *read_file(const char *path)
{
	FILE *f = fopen(path, "re");
	char *buf;
	long n;

	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = calloc(1, n + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, n, f), (size_t)n);
	fclose(f);
	return buf;
}

static void test_json_round_trip(void **state)
{
	struct ipam_block b, c;
	struct strbuf s1 = {0}, s2 = {0};
	struct parse_err err = {0};
	const char *golden = TABBY_SOURCE_DIR "/tests/golden/ipam/block.json";
	char *want;

	make_sample(&b);
	assert_int_equal(ipam_block_encode_json(&b, &s1), 0);
	assert_int_equal(strbuf_puts(&s1, "\n"), 0);
	assert_int_equal(ipam_block_decode_json(s1.buf, s1.len, &c, &err), 0);
	assert_int_equal(ipam_block_encode_json(&c, &s2), 0);
	assert_int_equal(strbuf_puts(&s2, "\n"), 0);
	assert_string_equal(s1.buf, s2.buf);

	/* the decoded block is the same block, field by field */
	assert_true(ip_prefix_equal(&b.cidr, &c.cidr));
	assert_string_equal(b.affinity, c.affinity);
	assert_true(c.strict_affinity);
	assert_false(c.deleted);
	assert_int_equal(b.n, c.n);
	assert_int_equal(b.n_unallocated, c.n_unallocated);
	assert_memory_equal(b.allocations, c.allocations, sizeof(*b.allocations) * b.n);
	assert_memory_equal(b.unallocated, c.unallocated, sizeof(*b.unallocated) * b.n_unallocated);
	assert_memory_equal(b.seq_for_alloc, c.seq_for_alloc, sizeof(*b.seq_for_alloc) * b.n);
	assert_int_equal(b.sequence, c.sequence);
	assert_int_equal(b.n_attrs, c.n_attrs);
	for (size_t i = 0; i < b.n_attrs; i++) {
		if (b.attrs[i].handle_id)
			assert_string_equal(b.attrs[i].handle_id, c.attrs[i].handle_id);
		else
			assert_null(c.attrs[i].handle_id);
		assert_int_equal(b.attrs[i].secondary.n, c.attrs[i].secondary.n);
		for (size_t j = 0; j < b.attrs[i].secondary.n; j++) {
			assert_string_equal(b.attrs[i].secondary.items[j].key,
					    c.attrs[i].secondary.items[j].key);
			assert_string_equal(b.attrs[i].secondary.items[j].value,
					    c.attrs[i].secondary.items[j].value);
		}
	}

	if (getenv("UPDATE_GOLDEN") && strcmp(getenv("UPDATE_GOLDEN"), "1") == 0) {
		FILE *f = fopen(golden, "we");

		assert_non_null(f);
		assert_int_equal(fwrite(s1.buf, 1, s1.len, f), s1.len);
		assert_int_equal(fclose(f), 0);
	}
	want = read_file(golden);
	assert_non_null(want);
	assert_string_equal(s1.buf, want);
	free(want);

	/* decoding the golden text itself works too, and an empty block round-trips */
	strbuf_done(&s1);
	strbuf_done(&s2);
	ipam_block_done(&b);
	ipam_block_done(&c);
	assert_int_equal(ipam_block_init(&b, P("2001:db8::/126"), NULL), 0);
	assert_int_equal(ipam_block_encode_json(&b, &s1), 0);
	assert_string_equal(
	    s1.buf, "{\"cidr\":\"2001:db8::/126\",\"affinity\":null,\"strictAffinity\":false,"
		    "\"allocations\":[null,null,null,null],\"unallocated\":[0,1,2,3],"
		    "\"attributes\":[],\"deleted\":false,\"sequenceNumber\":0,"
		    "\"sequenceNumberForAllocation\":{}}");
	assert_int_equal(ipam_block_decode_json(s1.buf, s1.len, &c, &err), 0);
	assert_null(c.affinity);
	assert_int_equal(c.n_unallocated, 4);
	strbuf_done(&s1);
	ipam_block_done(&b);
	ipam_block_done(&c);
}

static void test_decode_errors(void **state)
{
#define HEAD "{\"cidr\":\"198.19.0.0/30\","
	static const struct {
		const char *json;
		const char *field; /* expected parse_err.field */
	} cases[] = {
	    /* wrong allocations length */
	    {HEAD "\"allocations\":[null,null,null],\"unallocated\":[0,1,2]}", "allocations"},
	    /* attribute index out of range */
	    {HEAD "\"allocations\":[0,null,null,null],\"unallocated\":[1,2,3],\"attributes\":[]}",
	     "allocations[0]"},
	    {HEAD "\"allocations\":[null,-1,null,null],\"unallocated\":[0,2,3]}", "allocations[1]"},
	    {HEAD "\"allocations\":[null,\"0\",null,null],\"unallocated\":[0,2,3],"
		  "\"attributes\":[{\"handle_id\":\"a\"}]}",
	     "allocations[1]"},
	    /* bad cidr */
	    {"{\"cidr\":\"198.19.0.1/30\",\"allocations\":[null,null,null,null],"
	     "\"unallocated\":[0,1,2,3]}",
	     "cidr"},
	    {"{\"cidr\":\"198.19.0.0/33\",\"allocations\":[],\"unallocated\":[]}", "cidr"},
	    {"{\"cidr\":\"198.19.0.0/16\",\"allocations\":[],\"unallocated\":[]}", "cidr"},
	    {"{\"cidr\":7,\"allocations\":[],\"unallocated\":[]}", "cidr"},
	    {"{\"allocations\":[],\"unallocated\":[]}", "cidr"},
	    /* free list disagrees with the allocations */
	    {HEAD "\"allocations\":[null,null,null,null],\"unallocated\":[0,1,2]}", "unallocated"},
	    {HEAD "\"allocations\":[null,null,null,null],\"unallocated\":[0,1,2,2]}",
	     "unallocated[3]"},
	    {HEAD "\"allocations\":[null,null,null,null],\"unallocated\":[0,1,2,4]}",
	     "unallocated[3]"},
	    {HEAD "\"allocations\":[0,null,null,null],\"unallocated\":[0,1,2],"
		  "\"attributes\":[{\"handle_id\":\"a\"}]}",
	     "unallocated[0]"},
	    {HEAD "\"allocations\":[null,null,null,null]}", "unallocated"},
	    /* types and unknown fields */
	    {HEAD "\"allocations\":[null,null,null,null],\"unallocated\":[0,1,2,3],\"x\":1}", "x"},
	    {HEAD "\"affinity\":5,\"allocations\":[null,null,null,null],\"unallocated\":[0,1,2,3]}",
	     "affinity"},
	    {HEAD "\"deleted\":\"no\",\"allocations\":[null,null,null,null],"
		  "\"unallocated\":[0,1,2,3]}",
	     "deleted"},
	    {HEAD "\"allocations\":[null,null,null,null],\"unallocated\":[0,1,2,3],"
		  "\"sequenceNumber\":-1}",
	     "sequenceNumber"},
	    {HEAD "\"allocations\":[null,null,null,null],\"unallocated\":[0,1,2,3],"
		  "\"sequenceNumberForAllocation\":{\"9\":1}}",
	     "sequenceNumberForAllocation.9"},
	    {HEAD "\"allocations\":[0,null,null,null],\"unallocated\":[1,2,3],"
		  "\"attributes\":[{\"handle_id\":\"a\",\"secondary\":{\"node\":1}}]}",
	     "attributes[0].secondary.node"},
	    {HEAD "\"allocations\":[0,null,null,null],\"unallocated\":[1,2,3],"
		  "\"attributes\":[{\"handle\":\"a\"}]}",
	     "attributes[0].handle"},
	    /* not JSON / not an object */
	    {"{\"cidr\":", ""},
	    {"[]", ""},
	    {HEAD "\"allocations\":[null,null,null,null],\"unallocated\":[0,1,2,3]} x", ""},
	};
#undef HEAD
	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		struct ipam_block b = {.n = 12345};
		struct parse_err err = {0};
		int r = ipam_block_decode_json(cases[i].json, strlen(cases[i].json), &b, &err);

		if (r != -EINVAL)
			fail_msg("case %zu: got %d for %s", i, r, cases[i].json);
		assert_string_equal(err.field, cases[i].field);
		assert_true(err.msg[0] != '\0');
		assert_int_equal(b.n, 12345); /* untouched on failure */
	}
}

static void test_pool_math(void **state)
{
	static const struct {
		const char *pool;
		uint8_t block_size;
		uint32_t count;
		uint32_t index;	  /* block asked for */
		const char *want; /* NULL: -ERANGE */
	} cases[] = {
	    {"198.19.0.0/16", 26, 1024, 0, "198.19.0.0/26"},
	    {"198.19.0.0/16", 26, 1024, 3, "198.19.0.192/26"},
	    {"198.19.0.0/16", 26, 1024, 4, "198.19.1.0/26"},
	    {"198.19.0.0/16", 26, 1024, 1023, "198.19.255.192/26"},
	    {"198.19.0.0/16", 26, 1024, 1024, NULL},
	    {"198.19.0.0/24", 26, 4, 2, "198.19.0.128/26"},
	    {"198.19.9.0/30", 30, 1, 0, "198.19.9.0/30"},
	    {"198.19.9.0/30", 30, 1, 1, NULL},
	    {"198.19.0.0/24", 32, 256, 255, "198.19.0.255/32"},
	    {"198.19.0.0/24", 20, 0, 0, NULL}, /* block larger than the pool */
	    {"198.19.0.0/24", 33, 0, 0, NULL}, /* no such prefix length */
	    {"198.0.0.0/8", 32, 1u << 24, (1u << 24) - 1, "198.255.255.255/32"},
	    {"0.0.0.0/0", 32, 1u << 31, 5, "0.0.0.5/32"}, /* saturated count */
	    {"2001:db8::/120", 122, 4, 0, "2001:db8::/122"},
	    {"2001:db8::/120", 122, 4, 3, "2001:db8::c0/122"},
	    {"2001:db8::/120", 122, 4, 4, NULL},
	    {"2001:db8::/64", 122, 1u << 31, 1025, "2001:db8::1:40/122"},
	    {"2001:db8::/32", 64, 1u << 31, 1, "2001:db8:0:1::/64"},
	    {"2001:db8::/32", 48, 65536, 65535, "2001:db8:ffff::/48"},
	};
	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		struct ip_prefix pool = P(cases[i].pool), blk;
		char buf[IP_PREFIX_STRLEN];
		int r;

		assert_int_equal(ipam_pool_block_count(&pool, cases[i].block_size), cases[i].count);
		r = ipam_pool_block_at(&pool, cases[i].block_size, cases[i].index, &blk);
		if (!cases[i].want) {
			assert_int_equal(r, -ERANGE);
			continue;
		}
		assert_int_equal(r, 0);
		assert_string_equal(ip_prefix_format(&blk, buf), cases[i].want);
		assert_true(ip_prefix_contains(&pool, &blk));
	}
}

/* ipam_pool_block_index() inverts ipam_pool_block_at(), for 128-bit pools too, and
 * ipam_prefix_last() gives the address a claim jumps past (golden values). */
static void test_pool_block_index(void **state)
{
	static const struct {
		const char *pool;
		uint8_t block_size;
		const char *addr;
		int ret;
		uint32_t index;
	} cases[] = {
	    {"198.19.0.0/16", 26, "198.19.0.0", 0, 0},
	    {"198.19.0.0/16", 26, "198.19.0.63", 0, 0},
	    {"198.19.0.0/16", 26, "198.19.0.64", 0, 1},
	    {"198.19.0.0/16", 26, "198.19.255.255", 0, 1023},
	    {"198.19.0.0/16", 26, "198.20.0.0", -EINVAL, 0},
	    {"198.19.0.0/16", 26, "2001:db8::1", -EINVAL, 0},
	    {"198.19.0.0/24", 20, "198.19.0.1", -EINVAL, 0},
	    {"2001:db8:19::/112", 122, "2001:db8:19::", 0, 0},
	    {"2001:db8:19::/112", 122, "2001:db8:19::7f", 0, 1},
	    {"2001:db8:19::/112", 122, "2001:db8:19::ffff", 0, 1023},
	    {"2001:db8:19::/112", 128, "2001:db8:19::ffff", 0, 65535},
	    {"2001:db8:19::/112", 116, "2001:db8:19::1000", 0, 1},
	    {"2001:db8:19::/112", 122, "2001:db8:18::", -EINVAL, 0},
	    /* /64 with /122 blocks: 2^58 blocks, the first 2^31 are used */
	    {"2001:db8::/64", 122, "2001:db8::1:40", 0, 1025},
	    {"2001:db8::/64", 122, "2001:db8::1f:ffff:ffc0", 0, 0x7fffffffu},
	    {"2001:db8::/64", 122, "2001:db8::20:0:0", -ERANGE, 0},
	    {"2001:db8::/64", 122, "2001:db8::ffff:ffff:ffff:ffff", -ERANGE, 0},
	    {"2001:db8::/48", 122, "2001:db8:0:0:ffff::", -ERANGE, 0},
	    {"2001:db8::/32", 48, "2001:db8:ffff::", 0, 65535},
	};
	static const struct {
		const char *prefix, *last;
	} lasts[] = {
	    {"198.19.0.64/26", "198.19.0.127"},
	    {"198.19.0.0/16", "198.19.255.255"},
	    {"198.19.0.7/32", "198.19.0.7"},
	    {"2001:db8:19::40/122", "2001:db8:19::7f"},
	    {"2001:db8:19::/112", "2001:db8:19::ffff"},
	    {"2001:db8::/64", "2001:db8::ffff:ffff:ffff:ffff"},
	    {"2001:db8::5/128", "2001:db8::5"},
	};
	(void)state;
	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		struct ip_prefix pool = P(cases[i].pool), blk;
		struct ip_addr a;
		uint32_t idx = 0xdeadbeef;

		assert_int_equal(ip_addr_parse(cases[i].addr, &a), 0);
		assert_int_equal(ipam_pool_block_index(&pool, cases[i].block_size, &a, &idx),
				 cases[i].ret);
		if (cases[i].ret < 0) {
			assert_int_equal(idx, 0xdeadbeef);
			continue;
		}
		assert_int_equal(idx, cases[i].index);
		assert_int_equal(ipam_pool_block_at(&pool, cases[i].block_size, idx, &blk), 0);
		assert_true(ip_prefix_contains_addr(&blk, &a));
	}
	for (size_t i = 0; i < ELEMENTSOF(lasts); i++) {
		struct ip_prefix p = P(lasts[i].prefix);
		struct ip_addr a = ipam_prefix_last(&p);

		assert_string_equal(fmt_addr(&a), lasts[i].last);
	}
}

static void test_names(void **state)
{
	static const struct {
		const char *cidr;
		const char *name;
	} good[] = {
	    {"198.19.0.0/26", "198.19.0.0-26"},		  {"198.19.0.192/26", "198.19.0.192-26"},
	    {"198.19.9.0/30", "198.19.9.0-30"},		  {"2001:db8::/122", "2001:db8::-122"},
	    {"2001:db8::1:40/122", "2001:db8::1:40-122"}, {"0.0.0.0/0", "0.0.0.0-0"},
	};
	static const char *const bad[] = {
	    "198.19.0.0",
	    "198.19.0.0-",
	    "198.19.0.0-33",
	    "198.19.0.1-26",
	    "198.19.0.0-026",
	    "198.19.0.0-2a",
	    "2001:DB8::-122",
	    "-26",
	    "",
	    "198.19.0.0/26",
	    "2001:db8::-129",
	    "198.19.0.0-+26",
	};
	for (size_t i = 0; i < ELEMENTSOF(good); i++) {
		struct ip_prefix p = P(good[i].cidr), q;
		char buf[IPAM_BLOCK_NAME_MAX];

		assert_string_equal(ipam_block_name(&p, buf), good[i].name);
		assert_int_equal(ipam_block_name_parse(good[i].name, &q), 0);
		assert_true(ip_prefix_equal(&p, &q));
		assert_int_equal(p.len, q.len);
	}
	for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
		struct ip_prefix q = {.len = 99};

		if (ipam_block_name_parse(bad[i], &q) != -EINVAL)
			fail_msg("accepted bad name \"%s\"", bad[i]);
		assert_int_equal(q.len, 99);
	}
}

/* Jittered exponential backoff: each pause lies in [window/2, window], the window doubles from
 * 500 us and stops at 64 ms, both ends of the jitter are reachable, and huge attempt numbers
 * neither overflow nor exceed the cap. */
static void test_backoff(void **state)
{
	uint32_t window = IPAM_BACKOFF_BASE_US;

	for (unsigned attempt = 0; attempt < 200; attempt++) {
		uint32_t lo = ipam_backoff_us(attempt, 0);
		uint32_t hi = ipam_backoff_us(attempt, window / 2);

		assert_int_equal(lo, window / 2);
		assert_int_equal(hi, window);
		for (uint32_t rnd = 1; rnd < 5000000u; rnd = rnd * 3 + 7) {
			uint32_t us = ipam_backoff_us(attempt, rnd);

			assert_true(us >= window / 2 && us <= window);
		}
		window = MIN(window * 2, IPAM_BACKOFF_MAX_US);
	}
	assert_int_equal(ipam_backoff_us(0, 0), 250);
	assert_int_equal(ipam_backoff_us(3, 0), 2000);
	assert_int_equal(ipam_backoff_us(7, UINT32_MAX) <= 64000, 1);
	assert_int_equal(ipam_backoff_us(UINT32_MAX, 0), 32000);
	assert_int_equal(ipam_backoff_us(UINT32_MAX, 32000), 64000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_fill_block),
	    cmocka_unit_test(test_release_sequence),
	    cmocka_unit_test(test_assign_addr),
	    cmocka_unit_test(test_release_handle),
	    cmocka_unit_test(test_ipv6_block),
	    cmocka_unit_test(test_json_round_trip),
	    cmocka_unit_test(test_decode_errors),
	    cmocka_unit_test(test_pool_math),
	    cmocka_unit_test(test_names),
	    cmocka_unit_test(test_backoff),
	    cmocka_unit_test(test_pool_block_index),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
