/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * IPAM over the datastore: every write is an etcd compare-and-swap (create: key absent; update:
 * mod_revision unchanged), retried on conflict up to IPAM_CAS_RETRIES times (Calico
 * libcalico-go lib/ipam/ipam.go semantics). Keys (DESIGN.md "Datastore"):
 *   /tabby/v1/ipam/blocks/<a.b.c.d-len>             block JSON (ipam/block.h); an IPv6 block is
 *                                                    named the same way from its canonical
 *                                                    address (ipam_block_name()): 2001:db8:19::40-122
 *   /tabby/v1/ipam/affinities/<node>/<a.b.c.d-len>  {"state":"pending","since":<ms>}|{"state":"confirmed"}
 *   /tabby/v1/ipam/handles/<handle>                 {"handleID":"..","block":{"<a.b.c.d-len>":count}}
 *   /tabby/v1/ipam/config                            {"strictAffinity":false,"maxBlocksPerHost":0}
 *   /tabby/v1/ippools/<name>                         IPPool resources (model/model.h)
 *
 * Block claim is two-phase: (1) create the affinity as pending, (2) create the block with
 * affinity "host:<node>" (CAS create: if another host won the race, delete our pending affinity
 * and try the next block), (3) mark the affinity confirmed. A pending affinity whose block names
 * the node counts as the node's (the claimer stopped between (2) and (3)).
 *
 * Pools: only enabled pools whose nodeSelector is absent or "all()" and whose allowedUses (when
 * given) include "Workload" are used for assignment and claims; pools with any other nodeSelector
 * are skipped (logged at debug), because evaluating a selector needs the Node's labels.
 *
 * Every function below also returns -EINVAL for a missing or malformed argument (node names and
 * handles must be non-empty, at most 512 bytes, without '/' or control characters).
 */

#include <stdbool.h>
#include <stdint.h>

#include "datastore/datastore.h"
#include "ipam/block.h"
#include "lib/cidr.h"
#include "model/model.h"

/* Tries of one compare-and-swap (Calico's IPAM retries 100 times); pauses: ipam_backoff_us(). */
#define IPAM_CAS_RETRIES 100
/* This host's IPAM lock (Calico: /var/run/calico/ipam.lock); see ipam_host_lock(). */
#define IPAM_HOST_LOCK_DEFAULT "/var/run/tabby/ipam.lock"
#define IPAM_KEY_BLOCKS MODEL_KEY_PREFIX "ipam/blocks/"
#define IPAM_KEY_AFFINITIES MODEL_KEY_PREFIX "ipam/affinities/"
#define IPAM_KEY_HANDLES MODEL_KEY_PREFIX "ipam/handles/"
#define IPAM_KEY_CONFIG MODEL_KEY_PREFIX "ipam/config"

struct ipam_config {
	bool strict_affinity;	      /* never borrow from another host's block */
	uint32_t max_blocks_per_host; /* 0 = unlimited */
};

struct ipam_assign_args {
	const char *node;   /* required: the host asking */
	const char *handle; /* required: "<network>.<containerID>" */
	const struct model_labels
	    *attrs; /* secondary attributes (node, namespace, pod); may be NULL */
	int family; /* AF_INET or AF_INET6 */
	const char *const *pool_names; /* NULL-terminated pool names or CIDRs ("2001:db8::/112",
					  equal to the pool's cidr) to restrict to; NULL = every
					  enabled pool of @family whose nodeSelector is all() */
	/* ipam_auto_assign() only; may be NULL: a key that must exist (the CNI plugin passes its
	 * Node's), read in the same request as the IPAM state; when absent the call returns
	 * -ENODEV and assigns nothing */
	const char *require_key;
	/* ipam_auto_assign() only; may be NULL: on success, every IPPool the call read, decoded
	 * and sorted as ipam_list_pools() gives them (the caller frees it with model_list_done()),
	 * so that the caller finds the address's pool without another round trip (the CNI
	 * plugin's MTU); untouched on failure */
	struct model_list *ret_pools;
};

/**
 * ipam_host_lock() - take this host's IPAM lock: an exclusive flock(2) on @path (created with
 * mode 0600, and its parent directory with 0755 when missing), waiting for as long as another
 * process on the host holds it. The CNI IPAM plugin holds it around each ADD and DEL, as
 * Calico's calico-ipam holds /var/run/calico/ipam.lock: concurrent ADDs on one host then neither
 * fight over the same block (compare-and-swap retries) nor each claim a block of their own when
 * the current one fills up. Contention between hosts stays, and is what the retries are for.
 * @path: the lock file, e.g. IPAM_HOST_LOCK_DEFAULT.
 * Return: the locked file descriptor (close() releases it; so does the process's exit), or
 * -EINVAL (empty @path), -ENOMEM, or the -errno of mkdir, open or flock (logged with the path).
 */
int ipam_host_lock(const char *path) _warn_unused_result_;

/**
 * ipam_read_config() - /tabby/v1/ipam/config, defaults when absent.
 * Return: 0, -EPROTO (undecodable), or a datastore error.
 */
int ipam_read_config(struct ds_client *ds, struct ipam_config *ret) _warn_unused_result_;

/**
 * ipam_auto_assign() - one address for @args->handle: first from a block affine to the node
 * (claiming a new block from the pools when all are full, up to max_blocks_per_host), then,
 * when strict affinity is off, by borrowing a free address from any other block.
 * Idempotent per handle: when the handle already holds an address of @family, that one is
 * returned.
 * Round trips (etcd JSON gateway) in the common case, a handle new to a node (or one that holds
 * only an address of the other family: a dual-stack ADD's second call) on a node that has room
 * in a block: one read-only txn for the handle record, the IPAM config, the pools, the node's
 * affinities and @args->require_key (ds_read_many()); one block read; one txn that writes the
 * block and creates (or updates, from the record as read) the handle record together
 * (ds_cas_many()). When that txn loses a race the block and the record are written one after
 * the other, with compare-and-swap retries, as before.
 * @ret_addr: the address. @ret_block: may be NULL; the block it came from.
 * Return: 0, -ENOENT (no usable pool), -ENOSPC (every pool exhausted), -EBUSY (CAS retries
 * exhausted), -EPROTO (a block or handle record did not decode), -ENODEV (@args->require_key is
 * absent), or a datastore error. On error
 * nothing stays allocated: the block is written first, the handle record second, and a failed
 * handle write undoes the block assignment.
 */
int ipam_auto_assign(struct ds_client *ds, const struct ipam_assign_args *args,
		     struct ip_addr *ret_addr, struct ip_prefix *ret_block) _warn_unused_result_;

/**
 * ipam_assign_ip() - assign exactly @addr to @args->handle (it must lie in an enabled pool).
 * When its block does not exist yet, the block is claimed for @args->node first. Assigning an
 * address the handle already holds succeeds (idempotent).
 * Return: 0, -EEXIST (in use by another handle), -ENOENT (no pool holds it), -EBUSY, or a
 * datastore error.
 */
int ipam_assign_ip(struct ds_client *ds, const struct ipam_assign_args *args,
		   const struct ip_addr *addr) _warn_unused_result_;

/**
 * ipam_release_handle() - release every address held by @handle. Idempotent.
 * @ret_released: may be NULL; how many addresses were freed.
 * Return: 0 (also when the handle is unknown), -EBUSY, or a datastore error.
 */
int ipam_release_handle(struct ds_client *ds, const char *handle,
			unsigned *ret_released) _warn_unused_result_;

/**
 * ipam_release_addr() - release @addr; @sequence as in ipam_block_release_addr() (-1 = any).
 * The block is the one at the block-size alignment of the pool that holds @addr, else any stored
 * block that contains it. The handle record of the freed address is updated (deleted when it
 * was the handle's last address).
 * Return: 0 (freed or already free), -ESTALE (re-assigned since), -EBUSY, or a datastore error.
 */
int ipam_release_addr(struct ds_client *ds, const struct ip_addr *addr,
		      int64_t sequence) _warn_unused_result_;

/**
 * ipam_claim_block() - claim one new block for @node from @pool (two-phase, see above).
 * The search is bounded by the number of blocks that already exist, whatever the pool's size
 * (an IPv6 /64 pool with /122 blocks is never enumerated).
 * Return: 0, -ENOSPC (no free block left in the pool), -EBUSY (IPAM_CAS_RETRIES claims lost to
 * other hosts), or a datastore error.
 */
int ipam_claim_block(struct ds_client *ds, const char *node, const struct model_resource *pool,
		     struct ip_prefix *ret) _warn_unused_result_;

/**
 * ipam_ensure_block() - make sure @node has at least one confirmed block in each enabled pool of
 * @family (felix calls this at start so that every host advertises a block from the outset).
 * @ret_claimed: may be NULL; how many blocks were newly claimed.
 * Return: 0, -ENOENT (no pool), -ENOSPC, or a datastore error.
 */
int ipam_ensure_block(struct ds_client *ds, const char *node, int family,
		      unsigned *ret_claimed) _warn_unused_result_;

/**
 * ipam_handle_addrs() - the addresses @handle holds: the blocks its handle record names, read
 * and searched for the handle's allocations (an address whose block lost its record entry is
 * not found; "tabbyctl ipam check" reports those). A dual-stack handle holds one IPv4 and one
 * IPv6 address.
 * @ret: may be NULL; up to @max addresses, sorted (IPv4 before IPv6, then by address).
 * Return: how many it holds (may exceed @max), 0 when the handle has no record, -EPROTO (the
 * record or a block does not decode), or a datastore error.
 */
int ipam_handle_addrs(struct ds_client *ds, const char *handle, struct ip_addr *ret,
		      unsigned max) _warn_unused_result_;

/**
 * ipam_list_blocks() - every block in the datastore, sorted by cidr.
 * @ret: array of @ret_n blocks (free each with ipam_block_done(), then free()).
 * Return: 0, -EPROTO (a block did not decode: its key is logged), or a datastore error.
 */
int ipam_list_blocks(struct ds_client *ds, struct ipam_block **ret,
		     size_t *ret_n) _warn_unused_result_;

/**
 * ipam_list_pools() - every IPPool resource, sorted by name.
 * Return: 0, or a datastore error; undecodable pools are skipped with a warning.
 */
int ipam_list_pools(struct ds_client *ds, struct model_list *ret) _warn_unused_result_;
