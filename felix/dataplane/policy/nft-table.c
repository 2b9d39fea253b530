/* SPDX-License-Identifier: Apache-2.0 */
/*
 * DOC: nftables policy driver (`table inet tabby` only): calc results -> nft-plan (program
 * pieces) -> nft-delta (what differs from what we programmed) -> nft-sink (one libnftnl
 * batch). No script is rendered or parsed. The engine's memory of what it sent is the
 * "actual" state; it is read from the kernel once, when felix starts over the table an
 * earlier felix left (nft-adopt.c), so a restart sends only what differs. A failed batch
 * (which changed nothing) makes the engine forget, so the next apply replaces our table in
 * one transaction; so does a resync that finds the table changed by someone else.
 *
 * libnftables remains for one failure path only: the policy cannot be computed and the
 * driver has no memory of the table (felix restarted into a broken policy); then it lists
 * the fw-dispatch map to learn which interfaces the old felix dispatched.
 */
#include <errno.h>
#include <nftables/libnftables.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "felix/dataplane/policy/backend.h"
#include "felix/dataplane/policy/nft-adopt.h"
#include "felix/dataplane/policy/nft-plan.h"
#include "felix/dataplane/policy/nft-sink.h"
#include "lib/clock.h"
#include "lib/log.h"
#include "lib/strbuf.h"

#define TABLE "inet tabby"

struct felix_nft {
	struct felix_nft_sink *sink;
	struct nft_plan *plan;
	bool adopt; /* the first commit reads the table left in the kernel (nft-adopt.c) */
};

int felix_nft_new(struct felix_nft **ret)
{
	struct felix_nft *n = calloc(1, sizeof(*n));
	int r;

	if (!n) {
		return -ENOMEM;
	}
	r = felix_nft_sink_new(&n->sink);
	if (r >= 0) {
		struct nft_delta_sink s = {.send = felix_nft_sink_send, .ctx = n->sink};
		r = nft_plan_new(&s, &n->plan);
	}
	if (r < 0) {
		felix_nft_free(n);
		return r;
	}
	n->adopt = true;
	*ret = n;
	return 0;
}

struct felix_nft *felix_nft_free(struct felix_nft *n)
{
	if (!n) {
		return NULL;
	}
	nft_plan_free(n->plan);
	felix_nft_sink_free(n->sink);
	free(n);
	return NULL;
}

void felix_nft_forget(struct felix_nft *n)
{
	nft_plan_forget(n->plan);
}

bool felix_nft_unchanged(struct felix_nft *n)
{
	return felix_nft_ready(n) && felix_nft_sink_unchanged(n->sink);
}

bool felix_nft_ready(const struct felix_nft *n)
{
	return nft_delta_ready(nft_plan_engine(n->plan));
}

int felix_nft_note(struct felix_nft *n, const struct calc_policy *cp,
		   const struct calc_policy_update *up)
{
	return nft_plan_note(n->plan, cp, up);
}

bool felix_nft_pending(const struct felix_nft *n)
{
	return nft_plan_pending(n->plan);
}

/* Fill the engine from the table in the kernel. Return: true when it now knows the table. */
static bool adopt(struct felix_nft *n)
{
	struct felix_nft_adopt_stats st;
	uint64_t t0 = clock_mono_us();
	char err[256];
	uint32_t g0 = 0, g1 = 1;
	bool g0_ok = felix_nft_sink_generation(n->sink, &g0) >= 0;
	int r = felix_nft_adopt(nft_plan_engine(n->plan), NULL, &st, err, sizeof(err));
	if (r >= 0 && g0_ok && felix_nft_sink_generation(n->sink, &g1) >= 0 && g1 == g0) {
		/* nobody committed while we listed: a resync that finds this generation
		 * knows the kernel holds what was listed, even if the first commit sends
		 * nothing */
		felix_nft_sink_assume(n->sink, g1);
	}

	if (r == -ENOENT) {
		return false; /* nothing there: the first commit creates the table */
	}
	if (r < 0) {
		log_warn("nftables: cannot adopt table " TABLE " (%s): replacing it", err);
		return false;
	}
	if (st.objs_foreign == st.chains + st.sets) {
		/* not one tag: a table of a tabby from before tags, or not ours at all */
		log_info("nftables: table " TABLE " carries no tabby tags: replacing it");
		nft_delta_forget(nft_plan_engine(n->plan));
		return false;
	}
	log_info("nftables: adopted table " TABLE
		 ": %zu chains (%zu with rules not in our order), %zu "
		 "sets and maps, %zu elements, %zu rules, %zu without our tag; %zu bytes read in "
		 "%llu ms",
		 st.chains, st.chains_dirty, st.sets, st.elems, st.rules, st.objs_foreign, st.bytes,
		 (unsigned long long)((clock_mono_us() - t0) / 1000));
	return true;
}

int felix_nft_commit(struct felix_nft *n, const struct calc_policy *cp, struct felix_pol_stats *st,
		     char *err, size_t errlen)
{
	struct nft_delta_result res;
	bool adopted = false;

	if (n->adopt) {
		n->adopt = false;
		adopted = adopt(n);
	}
	int r = nft_plan_commit(n->plan, cp, &res, err, errlen);
	if (r < 0 && adopted) {
		/* a declaration differs, or the kernel refused the delta: start over */
		log_info("nftables: the adopted table cannot be brought up to date (%s): replacing "
			 "it",
			 err);
		adopted = false;
		nft_plan_forget(n->plan);
		r = nft_plan_commit(n->plan, cp, &res, err, errlen);
	}
	if (r < 0) {
		return r;
	}
	/* The first apply after adopting is as complete as a replace: say so, even when it
	 * found nothing to change. */
	*st = (struct felix_pol_stats){.full = res.replace || adopted,
				       .noop = res.noop && !adopted,
				       .elems_added = res.elems_added,
				       .elems_removed = res.elems_removed,
				       .chains_written = res.chains_written,
				       .chains_removed = res.chains_removed,
				       .rules = res.rules,
				       .bytes = res.bytes};
	return 0;
}

/* Run @buf with libnftables (the no-memory fail-closed path only). */
static int run(struct nft_ctx *ctx, const char *buf, char *err, size_t errlen)
{
	int r = nft_run_cmd_from_buffer(ctx, buf);
	const char *e = nft_ctx_get_error_buffer(ctx);
	if (r != 0) {
		snprintf(err, errlen, "%s", e && e[0] ? e : "nft failed");
		for (char *p = err; *p; p++) {
			if (*p == '\n') {
				*p = p[1] ? ' ' : '\0';
			}
		}
		return -EINVAL;
	}
	return 0;
}

/* No memory of our table: ask the kernel which interfaces it dispatches and add drop
 * elements for the others (creating a minimal table when there is none). */
static int fail_closed_blind(char (*ifaces)[IFNAMSIZ], size_t n_ifaces, char *err, size_t errlen)
{
	_cleanup_strbuf_ struct strbuf sb = {0};
	struct nft_ctx *ctx = nft_ctx_new(NFT_CTX_DEFAULT);
	char *listing = NULL;
	size_t added = 0;
	int r = 0;

	if (!ctx) {
		return -ENOMEM;
	}
	nft_ctx_buffer_output(ctx);
	nft_ctx_buffer_error(ctx);
	if (nft_run_cmd_from_buffer(ctx, "list map " TABLE " fw-dispatch") == 0) {
		listing = strdup(nft_ctx_get_output_buffer(ctx) ?: "");
	} else {
		r = strbuf_puts(
		    &sb, "table " TABLE " {\n"
			 "\tset wl-ifaces { type ifname; }\n"
			 "\tmap fw-dispatch { type ifname : verdict; }\n"
			 "\tmap tw-dispatch { type ifname : verdict; }\n"
			 "\tchain forward { type filter hook forward priority filter; policy "
			 "accept;\n"
			 "\t\tct state established,related accept\n"
			 "\t\tiifname vmap @fw-dispatch\n\t\toifname vmap @tw-dispatch\n"
			 "\t\tiifname \"tby*\" drop\n\t\toifname \"tby*\" drop\n\t}\n"
			 "}\n");
	}
	(void)nft_ctx_get_error_buffer(ctx);
	for (size_t i = 0; i < n_ifaces && r >= 0; i++) {
		char q[IFNAMSIZ + 3];
		snprintf(q, sizeof(q), "\"%s\"", ifaces[i]);
		if (listing && strstr(listing, q)) {
			continue;
		}
		r = strbuf_printf(&sb,
				  "add element " TABLE " fw-dispatch { \"%s\" : drop }\n"
				  "add element " TABLE " tw-dispatch { \"%s\" : drop }\n",
				  ifaces[i], ifaces[i]);
		added++;
	}
	free(listing);
	if (r >= 0 && sb.len) {
		r = run(ctx, strbuf_cstr(&sb), err, errlen);
	}
	nft_ctx_free(ctx);
	return r < 0 ? r : (int)added;
}

int felix_nft_fail_closed(struct felix_nft *n, char (*ifaces)[IFNAMSIZ], size_t n_ifaces, char *err,
			  size_t errlen)
{
	int r = nft_plan_fail_closed(n->plan, ifaces, n_ifaces, err, errlen);
	if (r == -EAGAIN) {
		r = fail_closed_blind(ifaces, n_ifaces, err, errlen);
	}
	if (r > 0) {
		log_warn("policy not applied: %d new workload interface(s) fail closed (drop)", r);
	}
	return r < 0 ? r : 0;
}

int felix_nft_remove(struct felix_nft *n)
{
	static const struct nft_delta_op ops[] = {
	    {.type = NFT_DELTA_OP_TABLE_ADD},
	    {.type = NFT_DELTA_OP_TABLE_DEL},
	};
	char err[512];
	int r = felix_nft_sink_send(n->sink, ops, ELEMENTSOF(ops), err, sizeof(err));
	if (r < 0) {
		log_warn("deleting table " TABLE " failed: %s", err);
	}
	felix_nft_forget(n);
	return r < 0 ? r : 0;
}
