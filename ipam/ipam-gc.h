/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * IPAM leak garbage collection over the datastore: reads the snapshot ipam/block-gc.h plans
 * from, and applies the plan. Leak marks live at /tabby/v1/ipam/gc/<address>:
 *   {"handle":"net.cid","sequence":7,"since":1764930000000}   (since: Unix time, ms)
 */

#include <stdbool.h>
#include <stdint.h>

#include "datastore/datastore.h"
#include "ipam/block-gc.h"
#include "model/model.h"

#define IPAM_KEY_GC MODEL_KEY_PREFIX "ipam/gc/"

/* Called once per planned action: @result is 0 (done, or planned with --dry-run), -ESTALE
 * (someone changed the record since it was read: left alone) or another negative errno. */
typedef void (*ipam_gc_report_fn)(const struct ipam_gc_action *a, int result, void *userdata);

struct ipam_gc_counts {
	unsigned affinities, blocks, released, marked, unmarked, skipped;
	/* records a later pass may act on with no datastore change, only because time passed:
	 * leak marks left after this pass (their grace runs) and affinities still pending
	 * (a claim may be in flight). 0 = a rerun over the same data would plan nothing. */
	unsigned waiting;
	/* 1: the hint alone decided (no WorkloadEndpoint was read); see ipam_gc_run_hinted() */
	unsigned hinted;
};

/* Addresses a caller already knows in use, from a datastore watch it keeps (felix's cache). */
struct ipam_gc_hint {
	const struct ip_addr *in_use; /* every address its WorkloadEndpoints list */
	size_t n_in_use;
};

/**
 * ipam_gc_run() - one garbage collection pass: read every block, affinity record, Node,
 * WorkloadEndpoint and leak mark, plan (ipam_gc_plan()) and, unless @dry_run, apply the plan:
 * deletions guarded by the record's mod_revision, releases by ipam_release_addr() with the
 * allocation's sequence number (an address re-assigned since is left alone).
 * @now_ms: wall clock, ms since the epoch. @grace_ms: how long an allocation must stay leaked
 * before it is released (IPAM_GC_DEFAULT_GRACE_MS, Calico's 15 minutes; 0 = at once).
 * @report: may be NULL. @ret: may be NULL; counts of what was done (or planned).
 * Return: 0 (also when some actions were skipped as stale), -EPROTO (a WorkloadEndpoint or leak
 * mark does not decode: nothing is changed, since an address in use could look leaked), -EINVAL
 * (negative grace), or a datastore error.
 */
int ipam_gc_run(struct ds_client *ds, int64_t now_ms, int64_t grace_ms, bool dry_run,
		ipam_gc_report_fn report, void *userdata,
		struct ipam_gc_counts *ret) _warn_unused_result_;

/**
 * ipam_gc_run_hinted() - ipam_gc_run(), but first planned with @hint's addresses as the ones in
 * use instead of reading every WorkloadEndpoint. The datastore read is needed only for a decision
 * about an address (mark, unmark, release), so when that plan has none, it is applied as it is
 * (deleting stale affinities and empty blocks does not read what is in use); otherwise the hint
 * is dropped and the pass reads every WorkloadEndpoint, exactly as ipam_gc_run(). A stale hint
 * can therefore only delay a mark by one pass (an address it still lists) or cost the full read
 * (an address it misses); it never releases an address in use. At 100,000 endpoints the read
 * and decode of every WorkloadEndpoint is most of a pass (bench/README.md, idle CPU).
 * @hint: may be NULL (= ipam_gc_run()). Other arguments and return: as ipam_gc_run();
 * @ret->hinted says which way the pass went.
 */
int ipam_gc_run_hinted(struct ds_client *ds, int64_t now_ms, int64_t grace_ms, bool dry_run,
		       const struct ipam_gc_hint *hint, ipam_gc_report_fn report, void *userdata,
		       struct ipam_gc_counts *ret) _warn_unused_result_;
