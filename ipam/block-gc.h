/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * IPAM leak garbage collection, the pure planner (no I/O): from a snapshot of the blocks, the
 * affinity records, the Node names, the addresses WorkloadEndpoints use and the leak marks of
 * earlier runs, the list of changes that `tabbyctl ipam gc` (ipam_gc_run(), ipam/ipam-gc.c)
 * applies. What it cleans (issue 12; Calico's kube-controllers IPAM garbage collection, which
 * waits 15 minutes before releasing an address):
 *  - stale affinities: an affinity record whose block is missing, or whose block names another
 *    node (a claim that lost the race or a host that died between "pending" and the block write).
 *    A pending one is left alone while it is younger than IPAM_GC_PENDING_GRACE_MS (its "since",
 *    written by the claim), as it may belong to a claim in flight; one without "since" (written
 *    by an older tabby) counts as old;
 *  - empty orphan blocks: a block without any allocation whose affinity names a node that has no
 *    Node resource, or no node at all (left behind by a deleted host, or by borrowing): the block
 *    and its affinity records go;
 *  - leaked allocations: an address allocated in a block that no WorkloadEndpoint lists. The
 *    first run that sees it records a leak mark (address, handle, sequence number, time); a run
 *    at least @grace_ms later that still sees the same allocation (same handle and sequence)
 *    releases it, guarded by the sequence number. A mark whose allocation went away or is in use
 *    again is dropped. @grace_ms == 0 releases at once.
 */

#include <stdbool.h>
#include <stdint.h>

#include "ipam/block.h"

#define IPAM_GC_DEFAULT_GRACE_MS (15 * 60 * 1000)
/* A pending affinity younger than this may be a block claim in flight: left alone. */
#define IPAM_GC_PENDING_GRACE_MS (60 * 1000)

struct ipam_gc_affinity {
	const char *node;
	struct ip_prefix cidr;
	bool confirmed;
	int64_t mod_revision;	  /* of the affinity record (guards its deletion) */
	int64_t pending_since_ms; /* pending ones: when the claim wrote it (0 = unknown) */
};

/* A leak recorded by an earlier run. */
struct ipam_gc_mark {
	struct ip_addr addr;
	const char *handle; /* NULL: the allocation had no handle */
	int64_t sequence;
	int64_t since_ms; /* when it was first seen leaked (wall clock, ms) */
};

struct ipam_gc_input {
	const struct ipam_block *blocks; /* every block */
	const int64_t *block_revs;	 /* mod_revision of each block */
	size_t n_blocks;
	const struct ipam_gc_affinity *affs;
	size_t n_affs;
	const char *const *nodes; /* names of the Node resources */
	size_t n_nodes;
	const struct ip_addr *in_use; /* addresses listed by WorkloadEndpoints */
	size_t n_in_use;
	const struct ipam_gc_mark *marks;
	size_t n_marks;
	int64_t now_ms;
	int64_t grace_ms; /* >= 0 */
};

enum ipam_gc_kind {
	IPAM_GC_DELETE_AFFINITY, /* node, cidr, revision */
	IPAM_GC_DELETE_BLOCK,	 /* cidr, revision (its affinities come as DELETE_AFFINITY) */
	IPAM_GC_RELEASE,	 /* addr, handle, sequence: release, then drop the mark */
	IPAM_GC_MARK,		 /* addr, handle, sequence, since_ms = now: record a leak */
	IPAM_GC_UNMARK,		 /* addr: drop a mark that no longer applies */
};

struct ipam_gc_action {
	enum ipam_gc_kind kind;
	const char *node;   /* borrowed from the input */
	const char *handle; /* borrowed from the input; may be NULL */
	struct ip_prefix cidr;
	struct ip_addr addr;
	int64_t sequence;
	int64_t revision;
	int64_t since_ms; /* RELEASE and MARK: when the leak was first seen */
};

/**
 * ipam_gc_plan() - the changes that clean @in (see above), in order: affinities, blocks, marks
 * dropped, releases, new marks. Nothing is planned twice.
 * @ret: malloc'ed array of @ret_n actions (free() it); borrows strings from @in.
 * Return: 0, -EINVAL (NULL argument, negative grace) or -ENOMEM.
 */
int ipam_gc_plan(const struct ipam_gc_input *in, struct ipam_gc_action **ret,
		 size_t *ret_n) _warn_unused_result_;

/** ipam_gc_kind_name() - "delete-affinity", "delete-block", "release", "mark", "unmark". */
const char *ipam_gc_kind_name(enum ipam_gc_kind k);
