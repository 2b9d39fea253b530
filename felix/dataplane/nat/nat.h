/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * The natOutgoing driver (felix/dataplane/nat/nat.c): the desired nat state of
 * felix/calc/nat.c (two prefix sets) in the kernel, in objects only it owns, on the backend
 * the policy uses (DESIGN.md "Host dataplane": a pool with natOutgoing masquerades traffic
 * from its addresses to every destination outside all pools, in our own table):
 *   nftables  `table inet tabby-nat` (calc_nat_prog()): sets masq4/all4/masq6/all6 and a
 *             base chain type nat hook postrouting; one libnftnl batch per apply.
 *   iptables  chain tbynat-outgoing in table nat, jumped from POSTROUTING (comment
 *             "tby:nat"), ipsets tbynat-masq{4,6} and tbynat-all{4,6} (Calico's
 *             cali-nat-outgoing with masq-ipam-pools and all-ipam-pools).
 * The objects exist only while some pool (of that family, for iptables) has natOutgoing.
 */

#include <stdbool.h>

#include "felix/calc/calc.h"
#include "felix/dataplane/driver.h"
#include "lib/macro.h"
#include "model/model.h"

struct dp_nat;

/** dp_nat_new() - a driver with no memory of the kernel; no kernel I/O.
 * Return: 0 or -ENOMEM. */
int dp_nat_new(struct dp_nat **ret) _warn_unused_result_;

/**
 * dp_nat_set_desired() - memory only: @d (copied) is the nat state to program.
 * Return: 1 when it differs from the last one (an apply is needed), 0 when not, -ENOMEM (the
 * previous desired state is kept).
 */
int dp_nat_set_desired(struct dp_nat *n, const struct calc_nat *d) _warn_unused_result_;

/**
 * dp_nat_set_backend() - memory only: the backend the policy driver uses now
 * (felix_policy_dataplane()). On a change the next apply removes the nat objects of the old
 * backend and programs the new one in full.
 * Return: true when the backend changed (an apply is needed).
 */
bool dp_nat_set_backend(struct dp_nat *n, enum model_dataplane backend);

/*
 * The operations, @d being a struct dp_nat:
 *   apply         nftables: with no memory of the kernel (first apply, a failure, or a
 *                 resync that found the table changed) one transaction replaces the table
 *                 (create, delete, define) or deletes it; otherwise only the set elements
 *                 that differ are deleted and added, in one transaction. iptables: with no
 *                 memory, per family the sets are refilled (ipset swap), the chain rewritten
 *                 and the POSTROUTING jump checked; otherwise `ipset restore -exist` with the
 *                 "del"/"add" lines that differ. On failure returns a retry delay (1 s .. 30 s).
 *   queue_resync  nftables: the next apply lists our table (libnftables) and compares it
 *                 with the listing taken after our last transaction; any difference (someone
 *                 touched it) forgets the memory, so the table is replaced. Nothing is sent
 *                 when it matches, so the periodic resync costs no nf_tables transaction.
 *                 iptables: the next apply is complete (idempotent, a few tool runs).
 *   free          leaves the kernel as it is (a restart must not drop a packet).
 */
extern const struct dp_driver_ops dp_nat_ops;
