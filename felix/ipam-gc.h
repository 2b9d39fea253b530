/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * Periodic IPAM leak garbage collection inside felix, run by exactly one felix of the cluster
 * (issue 12 item 4; Calico runs it in kube-controllers, once per cluster). Election: the felix
 * that creates /tabby/v1/ipam/gc-leader (value: its node name) attached to its etcd lease leads;
 * it keeps the lease alive every ttl/3 and runs ipam_gc_run() (ipam/ipam-gc.h) every interval,
 * unless nothing was written to the datastore since a pass that found nothing to do.
 * When the leader dies, its lease expires after ttl and the key goes with it; the others try to
 * create the key every ttl/2, so another one takes over within ~1.5 x ttl. A leader that finds
 * its lease gone or the key no longer its own stops collecting at once.
 *
 * Usage from the agent loop (single-threaded; every call makes at most a few blocking etcd
 * requests with the client's timeout):
 *   gc = felix_ipam_gc_new(ds, &(struct felix_ipam_gc_config){.node = name});
 *   ... each loop turn: wait = MIN(wait, felix_ipam_gc_tick(gc, now_monotonic_ms));
 *   felix_ipam_gc_free(gc);   // revokes the lease: a successor takes over at once
 */

#include <stdbool.h>
#include <stdint.h>

#include "datastore/datastore.h"
#include "lib/cidr.h"

#define FELIX_IPAM_GC_LEADER_KEY "/tabby/v1/ipam/gc-leader"
#define FELIX_IPAM_GC_DEFAULT_INTERVAL_MS (5 * 60 * 1000)
#define FELIX_IPAM_GC_DEFAULT_TTL_S 30

struct felix_ipam_gc;

struct felix_ipam_gc_config {
	const char *node;    /* required: this host's Node name (the leader key's value) */
	int64_t interval_ms; /* between GC passes while leading; 0 = 5 minutes */
	int64_t grace_ms;    /* leak grace period; 0 = IPAM_GC_DEFAULT_GRACE_MS (15 min); < 0 = 0 */
	int64_t ttl_s;	     /* leader lease TTL; 0 = 30 s */
	/* may be NULL: every address the WorkloadEndpoints of a watch-fed cache list, as a
	 * malloc'ed array the collector frees; a negative return (not in sync yet, -ENOMEM) makes
	 * the pass read them from the datastore. Passed to ipam_gc_run_hinted(). */
	int (*in_use)(void *userdata, struct ip_addr **ret, size_t *ret_n);
	void *in_use_userdata;
};

/**
 * felix_ipam_gc_new() - a collector that is not leading yet (the first tick campaigns).
 * @ds: borrowed; must outlive the collector. @cfg: copied.
 * Return: the collector, or NULL (missing node name, or out of memory).
 */
struct felix_ipam_gc *felix_ipam_gc_new(struct ds_client *ds,
					const struct felix_ipam_gc_config *cfg);

/**
 * felix_ipam_gc_tick() - do what is due at @now_ms (a monotonic clock, ms): campaign when not
 * leading, refresh the lease and verify the key when leading, run a GC pass when its interval
 * has passed (the first one right after becoming leader). Datastore errors are logged and retried
 * later; they never end the agent.
 * Return: ms until the next call is useful (>= 0).
 */
int64_t felix_ipam_gc_tick(struct felix_ipam_gc *gc, int64_t now_ms);

/** felix_ipam_gc_is_leader() - whether this felix collects now. */
bool felix_ipam_gc_is_leader(const struct felix_ipam_gc *gc);

/** felix_ipam_gc_passes() - how many GC passes this collector ran (for logs and tests). */
unsigned felix_ipam_gc_passes(const struct felix_ipam_gc *gc);

/**
 * felix_ipam_gc_quiet() - how many due passes were skipped because the datastore revision had
 * not moved since a pass that changed nothing and left no leak mark or pending affinity waiting
 * on a grace period (such a pass would plan nothing again).
 */
unsigned felix_ipam_gc_quiet(const struct felix_ipam_gc *gc);

/** felix_ipam_gc_hinted() - passes decided with the in_use hint alone (no endpoint read). */
unsigned felix_ipam_gc_hinted(const struct felix_ipam_gc *gc);

/** felix_ipam_gc_free() - revoke the lease if leading (the key goes with it); NULL-safe. */
void felix_ipam_gc_free(struct felix_ipam_gc *gc);
