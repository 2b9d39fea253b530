/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * IPAM block math (pure): one block is a small prefix of an IP pool (default /26) with one
 * allocation slot per address, in Calico's AllocationBlock layout (calico/libcalico-go
 * lib/backend/model/block.go): cidr, affinity "host:<node>", allocations[ordinal] -> attribute
 * index or null, unallocated (the order free ordinals are handed out), attributes (handle_id and
 * secondary key/values), sequenceNumber and sequenceNumberForAllocation (a release that names a
 * sequence number frees an address only if it was not re-allocated since).
 *
 * JSON form stored at /tabby/v1/ipam/blocks/<a.b.c.d-len>:
 *   {"cidr":"198.19.0.0/26","affinity":"host:h1","strictAffinity":false,
 *    "allocations":[0,null,...],"unallocated":[1,2,...],
 *    "attributes":[{"handle_id":"net.cid","secondary":{"node":"h1","namespace":"default"}}],
 *    "deleted":false,"sequenceNumber":7,"sequenceNumberForAllocation":{"0":6}}
 */

#include <stdbool.h>
#include <stdint.h>

#include "lib/cidr.h"
#include "lib/macro.h"
#include "lib/parse-err.h"
#include "lib/strbuf.h"
#include "model/model.h"

#define IPAM_BLOCK_MAX_ADDRS 4096 /* /20 IPv4, /116 IPv6: the largest block Calico allows */
#define IPAM_BLOCK_NAME_MAX 64

struct ipam_attr {
	char *handle_id;	       /* NULL = no handle */
	struct model_labels secondary; /* node, namespace, pod, ... */
};

struct ipam_block {
	struct ip_prefix cidr; /* masked */
	char *affinity;	       /* "host:<node>" or NULL (unaffine) */
	bool strict_affinity;
	bool deleted;
	uint32_t n;	       /* addresses in the block = ip_prefix_size(cidr) */
	int32_t *allocations;  /* n entries: -1 free, else index into attrs */
	uint32_t *unallocated; /* free ordinals in hand-out order */
	uint32_t n_unallocated;
	struct ipam_attr *attrs;
	size_t n_attrs;
	uint64_t sequence;	 /* bumped on every assignment */
	uint64_t *seq_for_alloc; /* n entries: block sequence at each ordinal's assignment */
};

/**
 * ipam_block_init() - an empty block for @cidr (masked; host bits are cleared) with
 * @affinity ("host:<node>", copied; NULL for none). Every address is free.
 * Return: 0, -EINVAL (more than IPAM_BLOCK_MAX_ADDRS addresses) or -ENOMEM.
 */
int ipam_block_init(struct ipam_block *b, struct ip_prefix cidr,
		    const char *affinity) _warn_unused_result_;

/** ipam_block_done() - free everything @b owns; NULL-safe; @b becomes zeroed. */
void ipam_block_done(struct ipam_block *b);

/**
 * ipam_block_assign() - hand out up to @num free addresses, in unallocated order, all to
 * @handle with @secondary attributes (borrowed; copied into one shared attribute entry).
 * @ret_addrs: array of @num entries; the first (return value) are filled.
 * Return: how many were assigned (0 .. @num; 0 when full), or -ENOMEM (then @b is unchanged).
 */
int ipam_block_assign(struct ipam_block *b, unsigned num, const char *handle,
		      const struct model_labels *secondary,
		      struct ip_addr *ret_addrs) _warn_unused_result_;

/**
 * ipam_block_assign_addr() - assign the specific address @a.
 * Return: 0, -EINVAL (not in the block), -EEXIST (already assigned) or -ENOMEM.
 */
int ipam_block_assign_addr(struct ipam_block *b, const struct ip_addr *a, const char *handle,
			   const struct model_labels *secondary) _warn_unused_result_;

/**
 * ipam_block_release_addr() - free @a. Idempotent.
 * @sequence: the sequenceNumberForAllocation the caller saw when it assigned @a, or -1 to release
 *            unconditionally. A mismatch means the address was released and re-assigned since.
 * Return: 0 (freed), -ENOENT (already free: nothing to do), -ESTALE (sequence mismatch: left
 * alone), -EINVAL (not in the block).
 */
int ipam_block_release_addr(struct ipam_block *b, const struct ip_addr *a, int64_t sequence);

/**
 * ipam_block_release_handle() - free every address held by @handle.
 * Return: the number freed (0 when the handle holds none here).
 */
int ipam_block_release_handle(struct ipam_block *b, const char *handle);

/**
 * ipam_block_addrs_by_handle() - the addresses @handle holds, into @ret (@max entries).
 * Return: how many it holds (may exceed @max; only @max are written).
 */
unsigned ipam_block_addrs_by_handle(const struct ipam_block *b, const char *handle,
				    struct ip_addr *ret, unsigned max);

/**
 * ipam_block_lookup() - the attribute of the allocation of @a.
 * Return: the attribute (borrowed), or NULL when @a is free or not in the block.
 */
const struct ipam_attr *ipam_block_lookup(const struct ipam_block *b, const struct ip_addr *a);

/** ipam_block_sequence_of() - sequenceNumberForAllocation of @a, or -1 when free/outside. */
int64_t ipam_block_sequence_of(const struct ipam_block *b, const struct ip_addr *a);

/** ipam_block_free_count() - free addresses. */
unsigned ipam_block_free_count(const struct ipam_block *b);

/** ipam_block_in_use() - assigned addresses (n - free). */
unsigned ipam_block_in_use(const struct ipam_block *b);

/** ipam_block_is_affine_to() - affinity is exactly "host:<node>". */
bool ipam_block_is_affine_to(const struct ipam_block *b, const char *node);

/**
 * ipam_block_decode_json() - parse the JSON form above into @ret (initialised by this call).
 * Return: 0, -EINVAL (bad JSON, bad cidr, allocations length != block size, attribute index
 * out of range; @err says which field) or -ENOMEM.
 */
int ipam_block_decode_json(const char *buf, size_t len, struct ipam_block *ret,
			   struct parse_err *err) _warn_unused_result_;

/** ipam_block_encode_json() - append the JSON form to @out. Return: 0 or -ENOMEM. */
int ipam_block_encode_json(const struct ipam_block *b, struct strbuf *out) _warn_unused_result_;

/**
 * ipam_block_name() - the key segment "198.19.0.0-26" / "2001:db8::-122" for @cidr into @buf.
 * Return: @buf.
 */
char *ipam_block_name(const struct ip_prefix *cidr, char buf[static IPAM_BLOCK_NAME_MAX]);

/** ipam_block_name_parse() - inverse of ipam_block_name(). Return: 0 or -EINVAL. */
int ipam_block_name_parse(const char *name, struct ip_prefix *ret) _warn_unused_result_;

/**
 * ipam_pool_block_count() - how many blocks of /@block_size fit in @pool (2^(block_size -
 * pool len)), saturated at 2^31. 0 when block_size < pool len or families mismatch.
 */
uint32_t ipam_pool_block_count(const struct ip_prefix *pool, uint8_t block_size);

/**
 * ipam_pool_block_at() - the @index-th block (0-based, ascending addresses) of @pool.
 * Return: 0, or -ERANGE when @index >= ipam_pool_block_count().
 */
int ipam_pool_block_at(const struct ip_prefix *pool, uint8_t block_size, uint32_t index,
		       struct ip_prefix *ret) _warn_unused_result_;

/**
 * ipam_pool_block_index() - the inverse of ipam_pool_block_at(): the index of the block of
 * /@block_size in @pool that holds @a (the bits of @a between the pool's prefix length and
 * @block_size, as a number). Works for any pool size: the arithmetic is bit by bit over the
 * 32 or 128 address bits, never over the blocks.
 * Return: 0 with @ret filled; -EINVAL (@a not in @pool, or @block_size does not fit the pool);
 * -ERANGE (the index is 2^31 or more: beyond the blocks ipam_pool_block_count() counts, which
 * only happens in pools of more than 2^31 blocks, e.g. a /64 with /122 blocks).
 */
int ipam_pool_block_index(const struct ip_prefix *pool, uint8_t block_size, const struct ip_addr *a,
			  uint32_t *ret) _warn_unused_result_;

/**
 * ipam_prefix_last() - the highest address of @p (host bits all set).
 */
struct ip_addr ipam_prefix_last(const struct ip_prefix *p);

/** ipam_block_addr_at() - the address of @ordinal (< b->n) in @b. */
struct ip_addr ipam_block_addr_at(const struct ipam_block *b, uint32_t ordinal);

/* Retry pauses after a lost compare-and-swap (ipam_backoff_us()). */
#define IPAM_BACKOFF_BASE_US 500u
#define IPAM_BACKOFF_MAX_US 64000u

/**
 * ipam_backoff_us() - how long to pause before retry @attempt (0 = the first retry) of a lost
 * compare-and-swap: jittered exponential backoff ("equal jitter": half the window fixed, half
 * random). The window is IPAM_BACKOFF_BASE_US << @attempt, capped at IPAM_BACKOFF_MAX_US
 * (0.5 ms, 1 ms, 2 ms, ... 64 ms from the 8th retry on); the pause lies in [window/2, window].
 * Contenders that collided once spread out instead of colliding again in lock step; with
 * IPAM_CAS_RETRIES (100) tries, as Calico's IPAM (libcalico-go lib/ipam/ipam.go, 100 retries),
 * a caller gives up after at most ~6 s of pauses.
 * @rnd: any random 32-bit number (the caller's generator: this function is pure).
 * Return: microseconds, in [IPAM_BACKOFF_BASE_US/2, IPAM_BACKOFF_MAX_US].
 */
uint32_t ipam_backoff_us(unsigned attempt, uint32_t rnd);
