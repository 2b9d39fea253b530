/* SPDX-License-Identifier: Apache-2.0 */
/* ipam/block-gc.c: the leak garbage collection planner, on hand-made snapshots. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>
#include <errno.h>
#include <stdlib.h>

#include "ipam/block-gc.h"

#define MIN_MS (60 * 1000)

static struct ip_addr A(const char *s) {
	struct ip_addr a;

	assert_int_equal(ip_addr_parse(s, &a), 0);
	return a;
}

static struct ip_prefix
P(const char *s) {
	struct ip_prefix p;

	assert_int_equal(ip_prefix_parse(s, true, &p), 0);
	return p;
}

static void
block(struct ipam_block *b, const char *cidr, const char *affinity)
{
	assert_int_equal(ipam_block_init(b, P(cidr), affinity), 0);
}

static void alloc(struct ipam_block *b, const char *ip, const char *handle)
{
	struct ip_addr a = A(ip);

	assert_int_equal(ipam_block_assign_addr(b, &a, handle, NULL), 0);
}

/* count KIND actions (and, when @what is not NULL, that one of them is about it) */
static size_t count(const struct ipam_gc_action *v, size_t n, enum ipam_gc_kind kind,
		    const char *what)
{
	size_t c = 0;

	for (size_t i = 0; i < n; i++) {
		if (v[i].kind != kind)
			continue;
		if (what && strchr(what, '/')) {
			struct ip_prefix p = P(what);

			if (!ip_prefix_equal(&v[i].cidr, &p))
				continue;
		} else if (what) {
			struct ip_addr a = A(what);

			if (!ip_addr_equal(&v[i].addr, &a))
				continue;
		}
		c++;
	}
	return c;
}

/* h1 exists, h9 does not. Blocks: .0/26 h1 (one address in use, one leaked), .64/26 h9 (empty),
 * .128/26 h1 (empty, kept), .192/26 h9 with an allocation (kept: not empty). Affinities: h1 for
 * .0 and .128 (fine), h1 pending for a missing .4.0/26, h2 for .0 (another node's block), h9 for
 * .64 (goes with its block). */
struct snap {
	struct ipam_block b[4];
	int64_t revs[4];
	struct ipam_gc_affinity affs[5];
	const char *nodes[1];
	struct ip_addr used[1];
};

static void snap_init(struct snap *s)
{
	block(&s->b[0], "198.19.0.0/26", "host:h1");
	alloc(&s->b[0], "198.19.0.1", "net.used");
	alloc(&s->b[0], "198.19.0.2", "net.leaked");
	block(&s->b[1], "198.19.0.64/26", "host:h9");
	block(&s->b[2], "198.19.0.128/26", "host:h1");
	block(&s->b[3], "198.19.0.192/26", "host:h9");
	alloc(&s->b[3], "198.19.0.200", "net.gone-host");
	for (int i = 0; i < 4; i++)
		s->revs[i] = 10 + i;
	s->affs[0] = (struct ipam_gc_affinity){"h1", P("198.19.0.0/26"), true, 20, 0};
	s->affs[1] = (struct ipam_gc_affinity){"h1", P("198.19.0.128/26"), true, 21, 0};
	s->affs[2] = (struct ipam_gc_affinity){"h1", P("198.19.4.0/26"), false, 22, 0};
	s->affs[3] = (struct ipam_gc_affinity){"h2", P("198.19.0.0/26"), false, 23, 0};
	s->affs[4] = (struct ipam_gc_affinity){"h9", P("198.19.0.64/26"), true, 24, 0};
	s->nodes[0] = "h1";
	s->used[0] = A("198.19.0.1");
}

static void snap_done(struct snap *s)
{
	for (int i = 0; i < 4; i++)
		ipam_block_done(&s->b[i]);
}

static struct ipam_gc_input input(struct snap *s, const struct ipam_gc_mark *marks, size_t n_marks,
				  int64_t now, int64_t grace)
{
	return (struct ipam_gc_input){.blocks = s->b,
				      .block_revs = s->revs,
				      .n_blocks = 4,
				      .affs = s->affs,
				      .n_affs = 5,
				      .nodes = s->nodes,
				      .n_nodes = 1,
				      .in_use = s->used,
				      .n_in_use = 1,
				      .marks = marks,
				      .n_marks = n_marks,
				      .now_ms = now,
				      .grace_ms = grace};
}

static void test_first_run(void **state)
{
	struct snap s;
	struct ipam_gc_action *v = NULL;
	size_t n = 0;

	snap_init(&s);
	struct ipam_gc_input in = input(&s, NULL, 0, 1000 * MIN_MS, IPAM_GC_DEFAULT_GRACE_MS);
	assert_int_equal(ipam_gc_plan(&in, &v, &n), 0);
	/* stale affinities: the missing block, another node's block, the orphan block's */
	assert_int_equal(count(v, n, IPAM_GC_DELETE_AFFINITY, NULL), 3);
	assert_int_equal(count(v, n, IPAM_GC_DELETE_AFFINITY, "198.19.4.0/26"), 1);
	assert_int_equal(count(v, n, IPAM_GC_DELETE_AFFINITY, "198.19.0.64/26"), 1);
	for (size_t i = 0; i < n; i++)
		if (v[i].kind == IPAM_GC_DELETE_AFFINITY &&
		    ip_prefix_equal(&v[i].cidr, &s.affs[3].cidr)) {
			assert_string_equal(v[i].node, "h2");
			assert_int_equal(v[i].revision, 23);
		}
	/* only the empty block of the missing node goes, with its revision */
	assert_int_equal(count(v, n, IPAM_GC_DELETE_BLOCK, NULL), 1);
	assert_int_equal(count(v, n, IPAM_GC_DELETE_BLOCK, "198.19.0.64/26"), 1);
	/* leaks are marked, not released, on first sight; the used address is left alone */
	assert_int_equal(count(v, n, IPAM_GC_RELEASE, NULL), 0);
	assert_int_equal(count(v, n, IPAM_GC_MARK, NULL), 2);
	assert_int_equal(count(v, n, IPAM_GC_MARK, "198.19.0.2"), 1);
	assert_int_equal(count(v, n, IPAM_GC_MARK, "198.19.0.200"), 1);
	assert_int_equal(count(v, n, IPAM_GC_MARK, "198.19.0.1"), 0);
	for (size_t i = 0; i < n; i++)
		if (v[i].kind == IPAM_GC_MARK && v[i].handle &&
		    strcmp(v[i].handle, "net.leaked") == 0) {
			assert_int_equal(v[i].since_ms, 1000 * MIN_MS);
			assert_int_equal(v[i].sequence,
					 ipam_block_sequence_of(&s.b[0], &v[i].addr));
		}
	free(v);
	snap_done(&s);
}

static void test_grace(void **state)
{
	struct snap s;
	struct ipam_gc_action *v = NULL;
	size_t n = 0;

	snap_init(&s);
	struct ip_addr leaked = A("198.19.0.2");
	int64_t seq = ipam_block_sequence_of(&s.b[0], &leaked);
	struct ipam_gc_mark marks[] = {
	    {leaked, "net.leaked", seq, 1000 * MIN_MS},
	};

	/* 14 minutes later: still waiting, nothing for that address */
	struct ipam_gc_input in = input(&s, marks, 1, 1014 * MIN_MS, IPAM_GC_DEFAULT_GRACE_MS);
	assert_int_equal(ipam_gc_plan(&in, &v, &n), 0);
	assert_int_equal(count(v, n, IPAM_GC_RELEASE, "198.19.0.2"), 0);
	assert_int_equal(count(v, n, IPAM_GC_MARK, "198.19.0.2"), 0);
	assert_int_equal(count(v, n, IPAM_GC_UNMARK, NULL), 0);
	free(v);
	/* 15 minutes: released, guarded by the sequence number, with its first sighting */
	in.now_ms = 1015 * MIN_MS;
	assert_int_equal(ipam_gc_plan(&in, &v, &n), 0);
	assert_int_equal(count(v, n, IPAM_GC_RELEASE, "198.19.0.2"), 1);
	for (size_t i = 0; i < n; i++)
		if (v[i].kind == IPAM_GC_RELEASE) {
			assert_int_equal(v[i].sequence, seq);
			assert_int_equal(v[i].since_ms, 1000 * MIN_MS);
			assert_string_equal(v[i].handle, "net.leaked");
		}
	free(v);
	/* grace 0: every leak at once, no marks */
	in = input(&s, NULL, 0, 5, 0);
	assert_int_equal(ipam_gc_plan(&in, &v, &n), 0);
	assert_int_equal(count(v, n, IPAM_GC_RELEASE, NULL), 2);
	assert_int_equal(count(v, n, IPAM_GC_MARK, NULL), 0);
	free(v);
	snap_done(&s);
}

static void test_stale_marks(void **state)
{
	struct snap s;
	struct ipam_gc_action *v = NULL;
	size_t n = 0;

	snap_init(&s);
	struct ip_addr leaked = A("198.19.0.2"), used = A("198.19.0.1"), free_ = A("198.19.0.3");
	int64_t seq = ipam_block_sequence_of(&s.b[0], &leaked);
	struct ipam_gc_mark marks[] = {
	    {leaked, "net.leaked", seq + 100, 0}, /* re-assigned since: another allocation */
	    {used, "net.used", ipam_block_sequence_of(&s.b[0], &used), 0}, /* in use again */
	    {free_, "net.x", 0, 0},					   /* freed since */
	    {leaked, "net.other", seq, 0},				   /* other handle */
	};
	struct ipam_gc_input in = input(&s, marks, 4, 1000 * MIN_MS, IPAM_GC_DEFAULT_GRACE_MS);

	assert_int_equal(ipam_gc_plan(&in, &v, &n), 0);
	assert_int_equal(count(v, n, IPAM_GC_UNMARK, NULL), 4);
	/* the leaked address gets a fresh mark: its old ones did not match it */
	assert_int_equal(count(v, n, IPAM_GC_MARK, "198.19.0.2"), 1);
	assert_int_equal(count(v, n, IPAM_GC_RELEASE, NULL), 0);
	free(v);
	in.grace_ms = -1;
	assert_int_equal(ipam_gc_plan(&in, &v, &n), -EINVAL);
	assert_int_equal(ipam_gc_plan(NULL, &v, &n), -EINVAL);
	snap_done(&s);
}

/* A pending affinity of a missing block younger than a minute may be a claim in flight. */
static void test_pending_in_flight(void **state)
{
	struct snap s;
	struct ipam_gc_action *v = NULL;
	size_t n = 0;

	snap_init(&s);
	s.affs[2].pending_since_ms = 1000 * MIN_MS - 30 * 1000; /* 30 s old */
	s.affs[3].pending_since_ms = 1000 * MIN_MS - 30 * 1000;
	struct ipam_gc_input in = input(&s, NULL, 0, 1000 * MIN_MS, IPAM_GC_DEFAULT_GRACE_MS);
	assert_int_equal(ipam_gc_plan(&in, &v, &n), 0);
	assert_int_equal(count(v, n, IPAM_GC_DELETE_AFFINITY, "198.19.4.0/26"), 0);
	assert_int_equal(count(v, n, IPAM_GC_DELETE_AFFINITY, NULL), 1); /* only h9's */
	free(v);
	in.now_ms += 31 * 1000; /* 61 s old: stale */
	assert_int_equal(ipam_gc_plan(&in, &v, &n), 0);
	assert_int_equal(count(v, n, IPAM_GC_DELETE_AFFINITY, "198.19.4.0/26"), 1);
	assert_int_equal(count(v, n, IPAM_GC_DELETE_AFFINITY, NULL), 3);
	free(v);
	snap_done(&s);
}

static void test_clean(void **state)
{
	struct ipam_block b;
	struct ipam_gc_action *v = NULL;
	size_t n = 99;
	int64_t rev = 1;
	const char *nodes[] = {"h1"};
	struct ip_addr used = A("198.19.0.1");
	struct ipam_gc_affinity aff = {"h1", P("198.19.0.0/26"), true, 2, 0};

	block(&b, "198.19.0.0/26", "host:h1");
	alloc(&b, "198.19.0.1", "net.a");
	struct ipam_gc_input in = {.blocks = &b,
				   .block_revs = &rev,
				   .n_blocks = 1,
				   .affs = &aff,
				   .n_affs = 1,
				   .nodes = nodes,
				   .n_nodes = 1,
				   .in_use = &used,
				   .n_in_use = 1,
				   .now_ms = 1,
				   .grace_ms = 0};
	assert_int_equal(ipam_gc_plan(&in, &v, &n), 0);
	assert_int_equal(n, 0);
	free(v);
	assert_string_equal(ipam_gc_kind_name(IPAM_GC_DELETE_BLOCK), "delete-block");
	ipam_block_done(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_first_run),	cmocka_unit_test(test_grace),
	    cmocka_unit_test(test_stale_marks), cmocka_unit_test(test_pending_in_flight),
	    cmocka_unit_test(test_clean),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
