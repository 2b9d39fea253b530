/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * felix's policy pipeline (felix/dataplane/policy/policy.c): the incremental calculation
 * (felix/calc/policy.h, pure) -> the chosen dataplane driver (felix/dataplane/policy/backend.h:
 * nftables program pieces as libnftnl batches, or acl_render_ipt() text), with the failure
 * handling of DESIGN.md "Policy" and STYLE.md 5.7: a policy that cannot be
 * compiled, rendered or loaded leaves the last good rules in the kernel, is logged with its
 * name, sets {"policy":{"ok":false,"error":"..."}} in the status file, and is retried with
 * exponential backoff (1 s .. 30 s); meanwhile new local workloads fail closed (drop).
 */

#include <net/if.h>
#include <stdbool.h>
#include <stdint.h>

#include "felix/calc/calc.h"
#include "felix/dataplane/driver.h"
#include "lib/macro.h"
#include "model/model.h"

struct felix_policy;

struct felix_policy_options {
	const char *node_name;		/* required */
	enum model_dataplane dataplane; /* felix.yaml policyDataplane; FelixConfiguration wins */
	const char *status_file;	/* NULL = no status file */
	const char *ipt_state_file;	/* felix_ipt_state_save()'s file; NULL = none */
};

/** felix_policy_new() - Return: 0 or -ENOMEM (libnftables context). */
int felix_policy_new(const struct felix_policy_options *o,
		     struct felix_policy **ret) _warn_unused_result_;

/** felix_policy_free() - NULL-safe; leaves the kernel's rules in place. Return: NULL. */
struct felix_policy *felix_policy_free(struct felix_policy *p);

/**
 * felix_policy_note_key() - a datastore key changed: mark the policy dirty when the key is one
 * of the kinds policy reads (endpoints, policies, tiers, profiles, sets, namespaces,
 * FelixConfiguration). Cheap; called from the watch callback (no I/O).
 */
void felix_policy_note_key(struct felix_policy *p, const char *key);

/**
 * felix_policy_queue_resync() - the periodic resync: the next apply replaces our rules in the
 * kernel in full (nftables: only when another nf_tables transaction was committed since ours,
 * felix_nft_unchanged()). The calculation is not rerun (see felix_policy_recalc()).
 */
void felix_policy_queue_resync(struct felix_policy *p);

/**
 * felix_policy_recalc() - the next calculation is a full pass over the cache: for changes it
 * was not told of key by key (a datastore resnapshot dropped keys; SIGHUP).
 */
void felix_policy_recalc(struct felix_policy *p);

/** felix_policy_wants_apply() - dirty, or a retry is due at @now_ms. */
bool felix_policy_wants_apply(const struct felix_policy *p, uint64_t now_ms);

/** felix_policy_next_retry_ms() - when a failed apply is retried (0 = nothing pending). */
uint64_t felix_policy_next_retry_ms(const struct felix_policy *p);

/**
 * felix_policy_apply() - steps 1 and 2 of the apply order (STYLE.md 5.4): dp_policy_set_desired()
 * then dp_policy_ops.apply. Does nothing when not dirty and no retry or resync is due. @ifaces: the local workload interfaces (calc_desired.ifaces), for failing
 * closed. Return: 0, or a negative errno when the policy is not in place (then pending).
 */
int felix_policy_apply(struct felix_policy *p, const struct calc_cache *c, char (*ifaces)[IFNAMSIZ],
		       size_t n_ifaces, uint64_t now_ms);

/** felix_policy_finish() - step 5: delete stale ipsets (after routes and BIRD), once after each
 * iptables apply that rewrote chains or was a full one, until that succeeds; a no-op otherwise.
 * nftables deletes unused sets in the apply's own batch. */
void felix_policy_finish(struct felix_policy *p);

/* ---- the driver contract (felix/dataplane/driver.h) ---- */

/** dp_policy_new() - the policy driver (felix_policy_new()); no kernel I/O.
 * Return: 0, -EINVAL (no node name) or -ENOMEM. */
int dp_policy_new(const struct felix_policy_options *o,
		  struct felix_policy **ret) _warn_unused_result_;

/**
 * dp_policy_set_desired() - memory only: when a key policy reads changed since the last call
 * (felix_policy_note_key()) or a resync is queued, run the incremental calculation over the
 * cache @c (borrowed: it must stay alive while the driver lives) and note what changed for
 * the next apply. @ifaces[0..@n_ifaces): the local workload interfaces (calc_desired.ifaces),
 * copied, for failing closed.
 * Return: 0, or the calculation's error (-EINVAL: a policy cannot be compiled, the reason in
 * the status; -ENOMEM); the next apply then fails closed and keeps the last good rules.
 */
int dp_policy_set_desired(struct felix_policy *p, const struct calc_cache *c,
			  char (*ifaces)[IFNAMSIZ], size_t n_ifaces);

/**
 * dp_policy_refresh() - dp_policy_set_desired() with the cache and interfaces of its last call:
 * felix calls it when only keys calc_compute() ignores changed (remote WorkloadEndpoints,
 * calc_cache_dp_dirty() false). Does nothing before the first dp_policy_set_desired().
 * Return: as dp_policy_set_desired().
 */
int dp_policy_refresh(struct felix_policy *p);

/*
 * The operations, @d being a struct felix_policy:
 *   apply         send what set_desired noted (nftables: one libnftnl batch; iptables:
 *                 ipset deltas or a full iptables-restore); on failure keep the last good
 *                 rules, fail closed, write the status and return the backoff delay
 *                 (1 s .. 30 s); else DP_IDLE. Fills struct dp_stats (objects_changed:
 *                 elements, chains and rules sent or removed).
 *   queue_resync  recompute in full and replace our table / every chain on the next apply.
 *   free          felix_policy_free(): the kernel keeps its rules.
 */
extern const struct dp_driver_ops dp_policy_ops;

/**
 * felix_policy_dataplane() - the backend the policy programs: the one of its last apply, or
 * before any, the configured one (felix.yaml policyDataplane). The nat driver follows it.
 */
enum model_dataplane felix_policy_dataplane(const struct felix_policy *p);

/** felix_policy_stats() - the stats felix_policy_apply() keeps (cumulative). */
const struct dp_stats *felix_policy_stats(const struct felix_policy *p);
