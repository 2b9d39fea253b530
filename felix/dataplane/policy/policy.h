/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * felix's policy pipeline (felix/dataplane/policy/policy.c): calc_policy_compute() (pure) ->
 * acl_render_nft()/acl_render_ipt() -> the chosen dataplane driver (felix/dataplane/policy/backend.h),
 * with the failure handling of DESIGN.md "Policy" and STYLE.md 5.7: a policy that cannot be
 * compiled, rendered or loaded leaves the last good rules in the kernel, is logged with its
 * name, sets {"policy":{"ok":false,"error":"..."}} in the status file, and is retried with
 * exponential backoff (1 s .. 30 s); meanwhile new local workloads fail closed (drop).
 */

#include <net/if.h>
#include <stdbool.h>
#include <stdint.h>

#include "felix/calc/calc.h"
#include "lib/macro.h"
#include "model/model.h"

struct felix_policy;

struct felix_policy_options {
	const char *node_name;		/* required */
	enum model_dataplane dataplane; /* felix.yaml policyDataplane; FelixConfiguration wins */
	const char *status_file;	/* NULL = no status file */
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

/** felix_policy_queue_resync() - the next apply recomputes and replaces our rules in full. */
void felix_policy_queue_resync(struct felix_policy *p);

/** felix_policy_wants_apply() - dirty, or a retry is due at @now_ms. */
bool felix_policy_wants_apply(const struct felix_policy *p, uint64_t now_ms);

/** felix_policy_next_retry_ms() - when a failed apply is retried (0 = nothing pending). */
uint64_t felix_policy_next_retry_ms(const struct felix_policy *p);

/**
 * felix_policy_apply() - steps 1 and 2 of the apply order (STYLE.md 5.4): compute, render,
 * create/update sets and run the ruleset transaction. Does nothing when not dirty and no retry
 * or resync is due. @ifaces: the local workload interfaces (calc_desired.ifaces), for failing
 * closed. Return: 0, or a negative errno when the policy is not in place (then pending).
 */
int felix_policy_apply(struct felix_policy *p, const struct calc_cache *c, char (*ifaces)[IFNAMSIZ],
		       size_t n_ifaces, uint64_t now_ms);

/** felix_policy_finish() - step 5: delete stale sets (after routes and BIRD). */
void felix_policy_finish(struct felix_policy *p);
