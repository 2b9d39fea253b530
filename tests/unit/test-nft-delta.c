/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The nftables delta engine (felix/dataplane/policy/nft-delta.c) against a fake sink that
 * records every batch as lines "<op> <name>[ <elem>]": what a new endpoint, a rewritten
 * chain, a removed endpoint, a retargeted map element, a failed batch and a complete
 * transaction (mark and sweep) send, and in which order.
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

#include "felix/dataplane/policy/nft-delta.h"
#include "lib/macro.h"
#include "lib/strbuf.h"

struct rec {
	struct strbuf sb;
	int fail; /* next send returns this */
	unsigned batches;
};

static int rec_send(void *ctx, const struct nft_delta_op *ops, size_t n, char *err, size_t errlen)
{
	struct rec *r = ctx;
	strbuf_reset(&r->sb);
	r->batches++;
	for (size_t i = 0; i < n; i++) {
		const struct nft_delta_op *o = &ops[i];
		assert_int_equal(strbuf_printf(&r->sb, "%s", nft_delta_op_name(o->type)), 0);
		if (o->name) {
			assert_int_equal(strbuf_printf(&r->sb, " %s", o->name), 0);
		}
		if (o->elem) {
			assert_int_equal(strbuf_printf(&r->sb, " %.*s", o->elem->len,
						       (const char *)o->elem->key),
					 0);
			if (o->elem->verdict == NFT_DELTA_V_JUMP) {
				assert_int_equal(strbuf_printf(&r->sb, ":%s", o->elem->chain), 0);
			} else if (o->elem->verdict == NFT_DELTA_V_DROP) {
				assert_int_equal(strbuf_printf(&r->sb, ":drop"), 0);
			}
		}
		if (o->type == NFT_DELTA_OP_RULES_ADD || o->type == NFT_DELTA_OP_CHAIN_ADD ||
		    o->type == NFT_DELTA_OP_SET_ADD) {
			assert_non_null(o->piece);
		}
		assert_int_equal(strbuf_printf(&r->sb, "\n"), 0);
	}
	if (r->fail) {
		int f = r->fail;
		r->fail = 0;
		snprintf(err, errlen, "fake failure");
		return f;
	}
	return (int)(n * 10);
}

/* Element keys are short strings in these tests (ifnames, "198.18.0.1"). */
static struct nft_delta_elem E(const char *k, const char *jump) {
	struct nft_delta_elem e = {.len = (uint8_t)strlen(k), .plen = NFT_DELTA_NO_PREFIX};
	memcpy(e.key, k, e.len);
	if (jump && strcmp(jump, "drop") == 0) {
		e.verdict = NFT_DELTA_V_DROP;
	} else if (jump) {
		e.verdict = NFT_DELTA_V_JUMP;
		e.chain = jump;
	}
	return e;
}

static const int PIECE = 1;

static void put(struct nft_delta *d, enum nft_delta_kind k, const char *name, uint64_t body)
{
	struct nft_delta_obj o = {.kind = k,
				  .name = name,
				  .decl = k == NFT_DELTA_CHAIN ? 1 : 2,
				  .body = body,
				  .n_rules = k == NFT_DELTA_CHAIN ? 3 : 0,
				  .piece = &PIECE};
	assert_int_equal(nft_delta_put(d, &o), 0);
}

static void elem(struct nft_delta *d, const char *set, const char *k, const char *jump, bool add)
{
	struct nft_delta_elem e = E(k, jump);
	assert_int_equal(nft_delta_elem(d, set, &e, add), 0);
}

/* A table: base chain, two dispatch maps, a selector set, endpoints @eps with their chains
 * jumping to policy chain p1 (body @pbody). */
static void stage_all(struct nft_delta *d, const char *const *eps, size_t n, uint64_t pbody)
{
	put(d, NFT_DELTA_MAP, "fw-dispatch", 0);
	put(d, NFT_DELTA_MAP, "tw-dispatch", 0);
	put(d, NFT_DELTA_SET, "s4-1", 0);
	put(d, NFT_DELTA_CHAIN, "forward", 7);
	put(d, NFT_DELTA_CHAIN, "tby-pi-1", pbody);
	for (size_t i = 0; i < n; i++) {
		char fw[64], tw[64];
		snprintf(fw, sizeof(fw), "tby-fw-%s", eps[i]);
		snprintf(tw, sizeof(tw), "tby-tw-%s", eps[i]);
		put(d, NFT_DELTA_CHAIN, fw, 11);
		put(d, NFT_DELTA_CHAIN, tw, 12);
		elem(d, "fw-dispatch", eps[i], fw, true);
		elem(d, "tw-dispatch", eps[i], tw, true);
	}
	elem(d, "s4-1", "198.18.0.1", NULL, true);
	elem(d, "s4-1", "198.18.0.2", NULL, true);
}

static void commit_ok(struct nft_delta *d, struct nft_delta_result *res)
{
	char err[256] = "";
	int r = nft_delta_commit(d, res, err, sizeof(err));
	if (r < 0) {
		fail_msg("commit: %d %s", r, err);
	}
}

static void test_replace_then_deltas(void **state)
{
	struct rec rc = {0};
	struct nft_delta_sink sink = {.send = rec_send, .ctx = &rc};
	struct nft_delta *d = NULL;
	struct nft_delta_result res;
	char err[256];
	const char *eps[] = {"tbyA", "tbyB"};

	assert_int_equal(nft_delta_new(&sink, &d), 0);
	assert_false(nft_delta_ready(d));

	/* no memory: an incremental transaction is refused and sends nothing */
	nft_delta_begin(d, 0);
	assert_int_equal(nft_delta_commit(d, &res, err, sizeof(err)), -EAGAIN);
	assert_int_equal(rc.batches, 0);

	/* first complete transaction: one full replace */
	nft_delta_begin(d, NFT_DELTA_COMPLETE);
	stage_all(d, eps, 2, 100);
	commit_ok(d, &res);
	assert_true(res.replace);
	assert_string_equal(strbuf_cstr(&rc.sb), "table-add\n"
						 "table-del\n"
						 "table-add\n"
						 "set-add fw-dispatch\n"
						 "set-add tw-dispatch\n"
						 "set-add s4-1\n"
						 "chain-add forward\n"
						 "chain-add tby-pi-1\n"
						 "chain-add tby-fw-tbyA\n"
						 "chain-add tby-tw-tbyA\n"
						 "chain-add tby-fw-tbyB\n"
						 "chain-add tby-tw-tbyB\n"
						 "rules-add forward\n"
						 "rules-add tby-pi-1\n"
						 "rules-add tby-fw-tbyA\n"
						 "rules-add tby-tw-tbyA\n"
						 "rules-add tby-fw-tbyB\n"
						 "rules-add tby-tw-tbyB\n"
						 "elem-add fw-dispatch tbyA:tby-fw-tbyA\n"
						 "elem-add tw-dispatch tbyA:tby-tw-tbyA\n"
						 "elem-add fw-dispatch tbyB:tby-fw-tbyB\n"
						 "elem-add tw-dispatch tbyB:tby-tw-tbyB\n"
						 "elem-add s4-1 198.18.0.1\n"
						 "elem-add s4-1 198.18.0.2\n");
	assert_true(nft_delta_ready(d));
	assert_int_equal(nft_delta_count(d, NFT_DELTA_CHAIN), 6);
	assert_int_equal(res.rules, 18);
	assert_int_equal(res.chains_written, 6);
	assert_int_equal(res.elems_added, 6);

	/* the same table again, complete: nothing to send */
	unsigned before = rc.batches;
	nft_delta_begin(d, NFT_DELTA_COMPLETE);
	stage_all(d, eps, 2, 100);
	commit_ok(d, &res);
	assert_true(res.noop);
	assert_int_equal(rc.batches, before);

	/* a new local endpoint, incremental: its chains, its map elements, its address */
	nft_delta_begin(d, 0);
	put(d, NFT_DELTA_CHAIN, "tby-fw-tbyC", 11);
	put(d, NFT_DELTA_CHAIN, "tby-tw-tbyC", 12);
	elem(d, "fw-dispatch", "tbyC", "tby-fw-tbyC", true);
	elem(d, "tw-dispatch", "tbyC", "tby-tw-tbyC", true);
	elem(d, "s4-1", "198.18.0.3", NULL, true);
	elem(d, "s4-1", "198.18.0.1", NULL, true); /* there already: skipped */
	commit_ok(d, &res);
	assert_false(res.replace);
	assert_string_equal(strbuf_cstr(&rc.sb), "chain-add tby-fw-tbyC\n"
						 "chain-add tby-tw-tbyC\n"
						 "rules-add tby-fw-tbyC\n"
						 "rules-add tby-tw-tbyC\n"
						 "elem-add fw-dispatch tbyC:tby-fw-tbyC\n"
						 "elem-add tw-dispatch tbyC:tby-tw-tbyC\n"
						 "elem-add s4-1 198.18.0.3\n");
	assert_int_equal(res.elems_added, 3);
	assert_int_equal(res.chains_written, 2);

	/* a policy edit, complete transaction: only that chain is flushed and refilled */
	const char *eps3[] = {"tbyA", "tbyB", "tbyC"};
	nft_delta_begin(d, NFT_DELTA_COMPLETE);
	stage_all(d, eps3, 3, 101);
	elem(d, "s4-1", "198.18.0.3", NULL, true);
	commit_ok(d, &res);
	assert_string_equal(strbuf_cstr(&rc.sb), "chain-flush tby-pi-1\n"
						 "rules-add tby-pi-1\n");
	assert_int_equal(res.rules, 3);

	/* endpoint B goes, incremental: its map elements go before its chains */
	nft_delta_begin(d, 0);
	elem(d, "fw-dispatch", "tbyB", NULL, false);
	elem(d, "tw-dispatch", "tbyB", NULL, false);
	elem(d, "s4-1", "198.18.0.2", NULL, false);
	elem(d, "s4-1", "198.18.0.99", NULL, false); /* not there: skipped */
	assert_int_equal(nft_delta_del(d, NFT_DELTA_CHAIN, "tby-fw-tbyB"), 0);
	assert_int_equal(nft_delta_del(d, NFT_DELTA_CHAIN, "tby-tw-tbyB"), 0);
	commit_ok(d, &res);
	assert_string_equal(strbuf_cstr(&rc.sb), "chain-flush tby-fw-tbyB\n"
						 "chain-flush tby-tw-tbyB\n"
						 "elem-del fw-dispatch tbyB:tby-fw-tbyB\n"
						 "elem-del tw-dispatch tbyB:tby-tw-tbyB\n"
						 "elem-del s4-1 198.18.0.2\n"
						 "chain-del tby-fw-tbyB\n"
						 "chain-del tby-tw-tbyB\n");
	assert_false(nft_delta_has(d, NFT_DELTA_CHAIN, "tby-fw-tbyB"));
	assert_int_equal(res.chains_removed, 2);

	/* a map element that jumped now drops: deleted and added again in one batch */
	nft_delta_begin(d, 0);
	elem(d, "fw-dispatch", "tbyA", "drop", true);
	commit_ok(d, &res);
	assert_string_equal(strbuf_cstr(&rc.sb), "elem-del fw-dispatch tbyA:tby-fw-tbyA\n"
						 "elem-add fw-dispatch tbyA:drop\n");
	struct nft_delta_elem got, q = E("tbyA", NULL);
	assert_true(nft_delta_has_elem(d, "fw-dispatch", &q, &got));
	assert_int_equal(got.verdict, NFT_DELTA_V_DROP);

	/* complete transaction without endpoint C and the set: swept, set last */
	const char *epsA[] = {"tbyA"};
	nft_delta_begin(d, NFT_DELTA_COMPLETE);
	put(d, NFT_DELTA_MAP, "fw-dispatch", 0);
	put(d, NFT_DELTA_MAP, "tw-dispatch", 0);
	put(d, NFT_DELTA_CHAIN, "forward", 7);
	put(d, NFT_DELTA_CHAIN, "tby-pi-1", 101);
	for (size_t i = 0; i < 1; i++) {
		put(d, NFT_DELTA_CHAIN, "tby-fw-tbyA", 11);
		put(d, NFT_DELTA_CHAIN, "tby-tw-tbyA", 12);
		elem(d, "fw-dispatch", epsA[i], "tby-fw-tbyA", true);
		elem(d, "tw-dispatch", epsA[i], "tby-tw-tbyA", true);
	}
	commit_ok(d, &res);
	assert_string_equal(strbuf_cstr(&rc.sb), "chain-flush tby-fw-tbyC\n"
						 "chain-flush tby-tw-tbyC\n"
						 "elem-del fw-dispatch tbyA:drop\n"
						 "elem-del fw-dispatch tbyC:tby-fw-tbyC\n"
						 "elem-del tw-dispatch tbyC:tby-tw-tbyC\n"
						 "elem-add fw-dispatch tbyA:tby-fw-tbyA\n"
						 "chain-del tby-fw-tbyC\n"
						 "chain-del tby-tw-tbyC\n"
						 "set-del s4-1\n");
	assert_false(nft_delta_has(d, NFT_DELTA_SET, "s4-1"));
	assert_int_equal(nft_delta_count(d, NFT_DELTA_CHAIN), 4);
	nft_delta_free(d);
	strbuf_done(&rc.sb);
}

static void test_failure_forgets(void **state)
{
	struct rec rc = {0};
	struct nft_delta_sink sink = {.send = rec_send, .ctx = &rc};
	struct nft_delta *d = NULL;
	struct nft_delta_result res;
	char err[256];
	const char *eps[] = {"tbyA"};

	assert_int_equal(nft_delta_new(&sink, &d), 0);
	nft_delta_begin(d, NFT_DELTA_COMPLETE);
	stage_all(d, eps, 1, 1);
	commit_ok(d, &res);

	/* a refused batch: memory dropped, the next incremental is refused, complete replaces */
	nft_delta_begin(d, 0);
	put(d, NFT_DELTA_CHAIN, "tby-fw-tbyZ", 11);
	rc.fail = -EINVAL;
	assert_int_equal(nft_delta_commit(d, &res, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "fake failure");
	assert_false(nft_delta_ready(d));
	assert_false(nft_delta_has(d, NFT_DELTA_CHAIN, "tby-fw-tbyA"));
	nft_delta_begin(d, 0);
	put(d, NFT_DELTA_CHAIN, "tby-fw-tbyZ", 11);
	assert_int_equal(nft_delta_commit(d, &res, err, sizeof(err)), -EAGAIN);
	nft_delta_begin(d, NFT_DELTA_COMPLETE);
	stage_all(d, eps, 1, 1);
	commit_ok(d, &res);
	assert_true(res.replace);
	assert_non_null(strstr(strbuf_cstr(&rc.sb), "table-del\n"));

	/* a declaration change cannot be made in place: -EAGAIN, nothing sent */
	unsigned before = rc.batches;
	nft_delta_begin(d, 0);
	struct nft_delta_obj o = {
	    .kind = NFT_DELTA_CHAIN, .name = "forward", .decl = 99, .body = 7, .piece = &PIECE};
	assert_int_equal(nft_delta_put(d, &o), 0);
	assert_int_equal(nft_delta_commit(d, &res, err, sizeof(err)), -EAGAIN);
	assert_non_null(strstr(err, "forward"));
	assert_int_equal(rc.batches, before);
	assert_true(nft_delta_ready(d)); /* nothing was sent: memory still right */

	/* elements of unknown sets are refused; REPLACE forces a full replace */
	struct nft_delta_elem e = E("x", NULL);
	nft_delta_begin(d, 0);
	assert_int_equal(nft_delta_elem(d, "nope", &e, true), -ENOENT);
	nft_delta_begin(d, NFT_DELTA_REPLACE);
	stage_all(d, eps, 1, 1);
	commit_ok(d, &res);
	assert_true(res.replace);
	nft_delta_free(d);
	strbuf_done(&rc.sb);
}

/* Many elements through insert and backward-shift removal: memory stays exact. */
static void test_many_elements(void **state)
{
	struct rec rc = {0};
	struct nft_delta_sink sink = {.send = rec_send, .ctx = &rc};
	struct nft_delta *d = NULL;
	struct nft_delta_result res;
	char k[32];

	assert_int_equal(nft_delta_new(&sink, &d), 0);
	nft_delta_begin(d, NFT_DELTA_COMPLETE);
	put(d, NFT_DELTA_SET, "s4-1", 0);
	commit_ok(d, &res);
	for (int round = 0; round < 3; round++) {
		nft_delta_begin(d, 0);
		for (int i = 0; i < 5000; i++) {
			snprintf(k, sizeof(k), "e%d", i);
			elem(d, "s4-1", k, NULL, (i + round) % 3 != 0);
		}
		commit_ok(d, &res);
		for (int i = 0; i < 5000; i++) {
			snprintf(k, sizeof(k), "e%d", i);
			struct nft_delta_elem e = E(k, NULL);
			assert_int_equal(nft_delta_has_elem(d, "s4-1", &e, NULL),
					 (i + round) % 3 != 0);
		}
	}
	nft_delta_free(d);
	strbuf_done(&rc.sb);
}

/* Element slots widen as longer keys and the first jump target come in (nft-delta.c
 * elem_reserve()); every element, its verdict and its chain survive each move, and a
 * changed target still reads as one delete and one add. */
static void test_slot_widening(void **state)
{
	struct rec rc = {0};
	struct nft_delta_sink sink = {.send = rec_send, .ctx = &rc};
	struct nft_delta *d = NULL;
	struct nft_delta_result res;
	struct nft_delta_elem got;
	const char *keys[] = {"a", "bb", "ccccc", "dddddddddddd", "eeeeeeeeeeeeeeeeeeeeeeee"};

	assert_int_equal(nft_delta_new(&sink, &d), 0);
	nft_delta_begin(d, NFT_DELTA_COMPLETE);
	put(d, NFT_DELTA_MAP, "m", 0);
	commit_ok(d, &res);
	for (size_t i = 0; i < ELEMENTSOF(keys); i++) {
		nft_delta_begin(d, 0);
		/* plain verdicts first; the jumps (and their pointers) come with the third key */
		elem(d, "m", keys[i], i < 2 ? "drop" : keys[i], true);
		commit_ok(d, &res);
		for (size_t j = 0; j <= i; j++) {
			struct nft_delta_elem e = E(keys[j], NULL);
			assert_true(nft_delta_has_elem(d, "m", &e, &got));
			assert_int_equal(got.len, strlen(keys[j]));
			assert_memory_equal(got.key, keys[j], got.len);
			if (j < 2) {
				assert_int_equal(got.verdict, NFT_DELTA_V_DROP);
				assert_null(got.chain);
			} else {
				assert_int_equal(got.verdict, NFT_DELTA_V_JUMP);
				assert_string_equal(got.chain, keys[j]);
			}
		}
	}
	nft_delta_begin(d, 0);
	elem(d, "m", "ccccc", "other", true);
	elem(d, "m", "a", NULL, false);
	commit_ok(d, &res);
	assert_string_equal(strbuf_cstr(&rc.sb), "elem-del m ccccc:ccccc\n"
						 "elem-del m a:drop\n"
						 "elem-add m ccccc:other\n");
	struct nft_delta_elem c = E("ccccc", NULL);
	assert_true(nft_delta_has_elem(d, "m", &c, &got));
	assert_string_equal(got.chain, "other");
	nft_delta_free(d);
	strbuf_done(&rc.sb);
}

static void adopt(struct nft_delta *d, enum nft_delta_kind k, const char *name, uint64_t decl,
		  uint64_t body, unsigned n_rules)
{
	struct nft_delta_obj o = {
	    .kind = k, .name = name, .decl = decl, .body = body, .n_rules = n_rules};
	assert_int_equal(nft_delta_adopt(d, &o), 0);
}

static void adopt_elem(struct nft_delta *d, const char *set, const char *k, const char *jump)
{
	struct nft_delta_elem e = E(k, jump);
	assert_int_equal(nft_delta_adopt_elem(d, set, &e), 0);
}

/* An engine filled from a listing (as nft-adopt.c does) sends only what differs: a chain
 * whose rules were not ours (body 0) is flushed and refilled, an empty chain that should be
 * empty is left, a foreign chain and element go, a missing element comes; a declaration
 * that is not ours asks for a full replace. */
static void test_adopt(void **state)
{
	struct rec rc = {0};
	struct nft_delta_sink sink = {.send = rec_send, .ctx = &rc};
	struct nft_delta *d = NULL;
	struct nft_delta_result res;
	char err[256];
	const char *eps[] = {"tbyA", "tbyB"};

	assert_int_equal(nft_delta_new(&sink, &d), 0);
	adopt(d, NFT_DELTA_MAP, "fw-dispatch", 2, 0, 0);
	adopt(d, NFT_DELTA_MAP, "tw-dispatch", 2, 0, 0);
	adopt(d, NFT_DELTA_SET, "s4-1", 2, 0, 0);
	adopt(d, NFT_DELTA_CHAIN, "forward", 1, 7, 3);
	adopt(d, NFT_DELTA_CHAIN, "tby-pi-1", 1, 0, 4); /* a foreign rule among ours */
	adopt(d, NFT_DELTA_CHAIN, "tby-fw-tbyA", 1, 11, 3);
	adopt(d, NFT_DELTA_CHAIN, "tby-tw-tbyA", 1, 12, 3);
	adopt(d, NFT_DELTA_CHAIN, "tby-fw-tbyB", 1, 11, 3);
	adopt(d, NFT_DELTA_CHAIN, "tby-tw-tbyB", 1, 12, 3);
	adopt(d, NFT_DELTA_CHAIN, "stale", 0, 0, 0); /* no tag */
	struct nft_delta_obj twice = {.kind = NFT_DELTA_CHAIN, .name = "forward"};
	assert_int_equal(nft_delta_adopt(d, &twice), -EEXIST);
	adopt_elem(d, "fw-dispatch", "tbyA", "tby-fw-tbyA");
	adopt_elem(d, "fw-dispatch", "tbyB", "tby-fw-tbyB");
	adopt_elem(d, "fw-dispatch", "tbyX", "drop");
	adopt_elem(d, "tw-dispatch", "tbyA", "tby-tw-tbyA");
	adopt_elem(d, "s4-1", "198.18.0.1", NULL);
	struct nft_delta_elem e = E("x", NULL);
	assert_int_equal(nft_delta_adopt_elem(d, "nosuch", &e), -ENOENT);
	assert_false(nft_delta_ready(d));
	nft_delta_adopt_done(d);
	assert_true(nft_delta_ready(d));
	struct nft_delta_obj late = {.kind = NFT_DELTA_CHAIN, .name = "late"};
	assert_int_equal(nft_delta_adopt(d, &late), -EINVAL);

	nft_delta_begin(d, NFT_DELTA_COMPLETE);
	stage_all(d, eps, 2, 100);
	commit_ok(d, &res);
	assert_false(res.replace);
	assert_string_equal(strbuf_cstr(&rc.sb), "chain-flush tby-pi-1\n"
						 "chain-flush stale\n"
						 "rules-add tby-pi-1\n"
						 "elem-del fw-dispatch tbyX:drop\n"
						 "elem-add tw-dispatch tbyB:tby-tw-tbyB\n"
						 "elem-add s4-1 198.18.0.2\n"
						 "chain-del stale\n");
	assert_int_equal(res.chains_written, 1);
	assert_int_equal(res.chains_removed, 1);

	/* an empty chain adopted with no known rules hash equals an empty staged one */
	nft_delta_forget(d);
	adopt(d, NFT_DELTA_CHAIN, "empty", 1, 0, 0);
	nft_delta_adopt_done(d);
	nft_delta_begin(d, NFT_DELTA_COMPLETE);
	struct nft_delta_obj o = {
	    .kind = NFT_DELTA_CHAIN, .name = "empty", .decl = 1, .body = 42, .piece = &PIECE};
	assert_int_equal(nft_delta_put(d, &o), 0);
	commit_ok(d, &res);
	assert_true(res.noop);

	/* a declaration that is not ours: the engine asks for a full replace */
	nft_delta_forget(d);
	adopt(d, NFT_DELTA_CHAIN, "forward", 0, 7, 3);
	nft_delta_adopt_done(d);
	nft_delta_begin(d, NFT_DELTA_COMPLETE);
	put(d, NFT_DELTA_CHAIN, "forward", 7);
	assert_int_equal(nft_delta_commit(d, &res, err, sizeof(err)), -EAGAIN);
	assert_non_null(strstr(err, "declaration of chain forward"));
	nft_delta_free(d);
	strbuf_done(&rc.sb);
}

static struct nft_delta_bound B(const char *ip, bool end) {
	struct nft_delta_bound b = {.len = 4, .end = end};
	unsigned x[4];
	assert_int_equal(sscanf(ip, "%u.%u.%u.%u", &x[0], &x[1], &x[2], &x[3]), 4);
	for (int i = 0; i < 4; i++) {
		b.key[i] = (uint8_t)x[i];
	}
	return b;
}

static char *
prefixes(struct nft_delta_bound *b, size_t n, int *ret)
{
	struct nft_delta_elem out[16];
	size_t k = 0;
	static char buf[512];
	size_t at = 0;

	buf[0] = '\0';
	*ret = nft_delta_prefixes(b, n, out, &k);
	for (size_t i = 0; *ret >= 0 && i < k; i++) {
		at += (size_t)snprintf(buf + at, sizeof(buf) - at, "%s%u.%u.%u.%u/%u", i ? " " : "",
				       out[i].key[0], out[i].key[1], out[i].key[2], out[i].key[3],
				       out[i].plen);
	}
	return buf;
}

/* Interval starts and ends as the kernel lists them (any order) back into prefixes, as the
 * sink writes them (nft-sink.c elem_put()); anything else is refused. */
static void test_prefixes(void **state)
{
	int r;
	struct nft_delta_bound ok[] = {
	    B("198.18.0.2", true),     B("198.18.0.1", false), /* /32 */
	    B("198.18.0.2", false),    B("198.18.0.3", true),  /* adjacent /32 */
	    B("198.18.1.0", false),    B("198.18.2.0", true),  /* /24 */
	    B("198.19.0.0", false),    B("198.20.0.0", true),  /* /16 */
	    B("255.255.255.0", false),			       /* /24 reaching the top: no end */
	};
	assert_string_equal(prefixes(ok, ELEMENTSOF(ok), &r),
			    "198.18.0.1/32 198.18.0.2/32 198.18.1.0/24 198.19.0.0/16 "
			    "255.255.255.0/24");
	assert_int_equal(r, 0);
	struct nft_delta_bound all[] = {B("0.0.0.0", false)};
	assert_string_equal(prefixes(all, 1, &r), "0.0.0.0/0");
	struct nft_delta_bound top[] = {B("255.255.255.255", false)};
	assert_string_equal(prefixes(top, 1, &r), "255.255.255.255/32");

	struct nft_delta_bound size3[] = {B("198.18.0.1", false), B("198.18.0.4", true)};
	prefixes(size3, 2, &r);
	assert_int_equal(r, -EINVAL);
	struct nft_delta_bound unaligned[] = {B("198.18.0.1", false), B("198.18.0.3", true)};
	prefixes(unaligned, 2, &r);
	assert_int_equal(r, -EINVAL);
	struct nft_delta_bound two_starts[] = {B("198.18.0.1", false), B("198.18.0.5", false)};
	prefixes(two_starts, 2, &r);
	assert_int_equal(r, -EINVAL);
	struct nft_delta_bound lone_end[] = {B("198.18.0.1", true)};
	prefixes(lone_end, 1, &r);
	assert_int_equal(r, -EINVAL);
	struct nft_delta_bound not_top[] = {B("198.18.0.0", false)};
	prefixes(not_top, 1, &r);
	assert_int_equal(r, -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_replace_then_deltas),
	    cmocka_unit_test(test_failure_forgets),
	    cmocka_unit_test(test_many_elements),
	    cmocka_unit_test(test_slot_widening),
	    cmocka_unit_test(test_adopt),
	    cmocka_unit_test(test_prefixes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
