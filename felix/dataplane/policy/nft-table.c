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
#include <pthread.h>
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

/* The listing half of an adoption (adopt_list()), run ahead on a thread or at the commit. */
struct adopt_job {
	pthread_t thread;
	bool running;  /* on the thread: join before the plan, its engine or the sink is used */
	bool listed;   /* the engine holds a listing the first commit has not used yet */
	int r;	       /* felix_nft_adopt()'s return */
	bool gen_same; /* nobody committed while we listed: @gen is what was listed */
	uint32_t gen;
	uint64_t t0_us;
	struct felix_nft_adopt_stats st;
	char err[256];
};

struct felix_nft {
	struct felix_nft_sink *sink;
	struct nft_plan *plan;
	bool adopt; /* the first commit reads the table left in the kernel (nft-adopt.c) */
	struct adopt_job job;
};

static void adopt_join(struct felix_nft *n)
{
	if (n->job.running) {
		pthread_join(n->job.thread, NULL);
		n->job.running = false;
	}
}

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
	adopt_join(n);
	nft_plan_free(n->plan);
	felix_nft_sink_free(n->sink);
	free(n);
	return NULL;
}

void felix_nft_forget(struct felix_nft *n)
{
	adopt_join(n);
	if (n->adopt && n->job.listed && n->job.r >= 0) {
		/* Nothing committed yet, so nothing of ours to forget: the engine holds the
		 * kernel's table as listed ahead, which the first commit adopts as it would
		 * have listed it now. That commit is complete. */
		nft_plan_queue_full(n->plan);
		return;
	}
	n->job.listed = false; /* the first commit lists again */
	nft_plan_forget(n->plan);
}

bool felix_nft_unchanged(struct felix_nft *n)
{
	return felix_nft_ready(n) && felix_nft_sink_unchanged(n->sink);
}

bool felix_nft_ready(struct felix_nft *n)
{
	adopt_join(n);
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

/* List the table in the kernel into the engine (felix_nft_adopt()), and the ruleset generation
 * around it. Writes only the engine, the sink's socket and n->job: it runs on the adoption
 * thread while the calculation runs, and logs nothing. */
static void adopt_list(struct felix_nft *n)
{
	struct adopt_job *j = &n->job;
	uint32_t g0 = 0, g1 = 1;

	j->t0_us = clock_mono_us();
	bool g0_ok = felix_nft_sink_generation(n->sink, &g0) >= 0;
	j->r = felix_nft_adopt(nft_plan_engine(n->plan), NULL, &j->st, j->err, sizeof(j->err));
	j->gen_same =
	    j->r >= 0 && g0_ok && felix_nft_sink_generation(n->sink, &g1) >= 0 && g1 == g0;
	j->gen = g1;
	j->listed = true;
}

static void *adopt_thread(void *arg)
{
	adopt_list(arg);
	return NULL;
}

int felix_nft_generation(struct felix_nft *n, uint32_t *ret)
{
	adopt_join(n); /* the adoption thread uses the sink's socket */
	return felix_nft_sink_generation(n->sink, ret);
}

void felix_nft_adopt_ahead(struct felix_nft *n)
{
	if (!n->adopt || n->job.running || n->job.listed) {
		return;
	}
	n->job.running = pthread_create(&n->job.thread, NULL, adopt_thread, n) == 0;
}

/* Fill the engine from the table in the kernel (listed ahead by felix_nft_adopt_ahead(), or
 * now). Return: true when it now knows the table. */
static bool adopt(struct felix_nft *n)
{
	struct adopt_job *j = &n->job;

	adopt_join(n);
	uint32_t now = 0;
	if (j->listed &&
	    (!j->gen_same || felix_nft_sink_generation(n->sink, &now) < 0 || now != j->gen)) {
		/* listed ahead, but a transaction (anyone's) may have changed the table
		 * since: what the commit compares with must be what the kernel holds now */
		j->listed = false;
	}
	if (!j->listed) {
		adopt_list(n);
	}
	j->listed = false;
	const struct felix_nft_adopt_stats st = j->st;
	const char *err = j->err;
	int r = j->r;
	if (j->gen_same) {
		/* nobody committed while we listed: a resync that finds this generation
		 * knows the kernel holds what was listed, even if the first commit sends
		 * nothing */
		felix_nft_sink_assume(n->sink, j->gen);
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
		 (unsigned long long)((clock_mono_us() - j->t0_us) / 1000));
	return true;
}

int felix_nft_commit(struct felix_nft *n, const struct calc_policy *cp, struct felix_pol_stats *st,
		     char *err, size_t errlen)
{
	struct nft_delta_result res;
	bool adopted = false;

	adopt_join(n);
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
	adopt_join(n);
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
	adopt_join(n);
	if (felix_nft_sink_table_exists(n->sink) == 0) {
		/* none (the common start on iptables): no transaction, which would also move the
		 * nf_tables generation that the iptables driver's read ahead is checked against */
		felix_nft_forget(n);
		return 0;
	}
	int r = felix_nft_sink_send(n->sink, ops, ELEMENTSOF(ops), err, sizeof(err));
	if (r < 0) {
		log_warn("deleting table " TABLE " failed: %s", err);
	}
	felix_nft_forget(n);
	return r < 0 ? r : 0;
}
