/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * From the policy calculation to nftables program pieces (felix/dataplane/policy/nft-plan.c,
 * pure): what an update of the incremental calculation (felix/calc/policy.h) changed becomes
 * the matching pieces of the program (acl/nft-prog.h), staged into the delta engine
 * (nft-delta.h) and committed as one batch.
 *
 *   a local endpoint appears    its two chains, its dispatch map elements and wl-ifaces
 *                               element, and the policy chains and sets it is the first to
 *                               use (with their members);
 *   a local endpoint goes       the same, deleted: map elements, then chains, then the policy
 *                               chains and sets nobody uses any more;
 *   set members change          their elements, in the sets we have (others are loaded with
 *                               their members when a chain first refers to them);
 *   anything else (policies,    the whole program is built and staged as a complete
 *   tiers, profiles, network    transaction: the engine sends only what differs (a policy
 *   sets, config, a wildcard    edit rewrites that policy's chains), or a full replace when
 *   host endpoint, a resync)    it has no memory.
 *
 * Reference counts (which chain jumps to which chain, which rule looks up which set) decide
 * what is created and deleted; they come from the chains' statements themselves, so they
 * follow the program whatever it contains.
 */

#include <net/if.h>
#include <stdbool.h>
#include <stddef.h>

#include "felix/calc/policy.h"
#include "felix/dataplane/policy/nft-delta.h"
#include "lib/macro.h"

struct nft_plan;

/** nft_plan_new() - a plan over a new engine sending to @sink (copied); the first commit is
 * a full replace. Return: 0 or -ENOMEM. */
int nft_plan_new(const struct nft_delta_sink *sink, struct nft_plan **ret) _warn_unused_result_;

/** nft_plan_free() - NULL-safe; sends nothing. Return: NULL. */
struct nft_plan *nft_plan_free(struct nft_plan *p);

/**
 * nft_plan_note() - memory only: remember what @up (the last calc_policy_inc_update(), over
 * the result @cp) changed, until the next nft_plan_commit(). Several updates between two
 * commits add up (a member's last change wins). Borrows nothing.
 * Return: 0 or -ENOMEM (the next commit is then complete).
 */
int nft_plan_note(struct nft_plan *p, const struct calc_policy *cp,
		  const struct calc_policy_update *up);

/** nft_plan_queue_full() - the next commit stages the whole program (complete transaction). */
void nft_plan_queue_full(struct nft_plan *p);

/** nft_plan_forget() - the next commit is a full replace of the table (resync). */
void nft_plan_forget(struct nft_plan *p);

/** nft_plan_pending() - something was noted (or queued) since the last successful commit. */
bool nft_plan_pending(const struct nft_plan *p);

/**
 * nft_plan_commit() - build the pieces of what was noted from @cp (the calculation's current
 * result, the same one the notes came from), stage and send them as ONE batch.
 * @res: what was sent (may be NULL).
 * Return: 0; -EINVAL (a piece could not be built: @err names it; nothing sent); the sink's
 * negative errno (nothing changed in the kernel; the next commit replaces the table);
 * -ENOMEM. After a failure the notes are kept (the next commit is complete).
 */
int nft_plan_commit(struct nft_plan *p, const struct calc_policy *cp, struct nft_delta_result *res,
		    char *err, size_t errlen) _warn_unused_result_;

/**
 * nft_plan_fail_closed() - the policy cannot be applied: map every interface of @ifaces that
 * the programmed fw-dispatch map does not know to drop in fw-dispatch and tw-dispatch (one
 * batch). Interfaces that are dispatched keep their last good chains.
 * Return: the number of interfaces added (>= 0); -EAGAIN when the plan has no memory of the
 * table (the caller must find out another way); the sink's negative errno.
 */
int nft_plan_fail_closed(struct nft_plan *p, char (*ifaces)[IFNAMSIZ], size_t n_ifaces, char *err,
			 size_t errlen);

/** nft_plan_engine() - the engine (tests, fail-closed checks). */
struct nft_delta *nft_plan_engine(struct nft_plan *p);
