/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * Private to felix/calc: the cache's layout, which the calculators (routes.c, bgp.c) iterate in
 * key order, and the helpers they share. Not for use outside felix/calc (STYLE.md section 2).
 */

#include <sys/types.h>

#include "felix/calc/calc.h"
#include "ipam/block.h"

enum entry_kind {
	ENTRY_NODE,
	ENTRY_POOL,
	ENTRY_WEP,
	ENTRY_BGPCONFIG,
	ENTRY_BLOCK,
	ENTRY_BGPPEER,
	ENTRY_SECRET,
	/* Policy kinds (felix/calc/policy.c): ENTRY_POLICY_BASE + enum model_kind. */
	ENTRY_POLICY_BASE = 100,
};

/* Limits on a secret value (STYLE.md section 3). */
#define CALC_SECRET_MAX_KEYS 256
#define CALC_SECRET_MAX_BYTES 65536

struct secret_kv {
	char *key;
	char *value; /* never logged */
};

/* 48 bytes: the cache holds one per datastore key (100,000 and more). */
struct entry {
	char *key;
	/* etcd's mod_revision of the value held (struct calc_decoded.mod_revision); 0 when the
	 * caller gave none: such an entry is never known (calc_cache_known()) nor saved */
	int64_t mod_revision;
	struct model_resource *res;
	struct ipam_block *block; /* ENTRY_BLOCK (a pointer: most entries are endpoints) */
	struct secret_kv *secret; /* ENTRY_SECRET */
	uint16_t n_secret;	  /* <= CALC_SECRET_MAX_KEYS */
	uint8_t kind;		  /* enum entry_kind */
	bool seen;		  /* confirmed during the current snapshot */
	bool trimmed; /* a remote endpoint: res's strings are interned or borrow @key (cache.c) */
	bool packed;  /* trimmed, and res is one block of MODEL_WEP_HEAD_SIZE bytes followed by
		       * its labels, ipNetworks and @key, which then holds only the name: the
		       * key is "/tabby/v1/workloadendpoints/<namespace>/<name>" (cache.c
		       * remote_wep_pack(), entry_key_cmp()) */
	bool in_slab; /* packed, and the block is in the cache's slabs (struct pack_slabs) */
};

/*
 * Packed remote endpoints (struct entry.packed) live in slabs of PACK_SLAB_SIZE bytes, handed
 * out in PACK_ALIGN steps and reused through one free list per size. malloc() would put each
 * ~240-byte block wherever the value's decoding just freed a chunk of that size, among the
 * decoder's temporaries, and the gaps it leaves between blocks are never whole pages that
 * malloc_trim() can give back (3 MB at 100,000 endpoints with json-c's trees). A slab of 256 KiB
 * is its own mapping (above malloc's mmap threshold) and blocks in it carry no malloc header.
 */
#define PACK_SLAB_SIZE (256 * 1024)
#define PACK_ALIGN 16
#define PACK_MAX_BLOCK 1024 /* larger blocks (many labels) are malloc()ed */

struct pack_free {
	struct pack_free *next;
};

struct pack_slabs {
	char **slab;
	size_t n_slab, cap_slab;
	size_t left; /* bytes not yet handed out at the end of the last slab */
	struct pack_free *free[PACK_MAX_BLOCK / PACK_ALIGN + 1];
};

/* A string shared by the cache's remote endpoints (label keys and values, namespace, node). */
struct istr {
	uint32_t refs;
	char s[];
};

/*
 * The cache's entries, sorted by key, live in chunks of at most CACHE_CHUNK entries: a new key
 * shifts at most one chunk (10 KiB) instead of the whole array (4 MB at 100,000 endpoints), so
 * one remote endpoint costs microseconds however large the cache is. A full chunk is split in
 * two, except that a key past its end starts a new chunk, so that a snapshot (keys in order)
 * fills every chunk.
 */
#define CACHE_CHUNK 256

struct cache_chunk {
	size_t n;
	struct entry v[CACHE_CHUNK];
};

/* A position in the cache: chunk @ch, entry @i within it. */
struct cache_it {
	size_t ch, i;
};

struct calc_cache {
	struct cache_chunk **ch; /* in key order; none is empty */
	size_t n_ch, cap_ch;
	size_t n;	    /* entries in all chunks */
	struct istr **strs; /* interned strings: open addressing, linear probing, power of two */
	size_t strs_cap, strs_n;
	size_t n_weps, n_trimmed; /* WorkloadEndpoint entries; of them remote (trimmed) */
	bool dirty;
	bool dp_dirty;	  /* a change calc_compute() reads (see calc_cache_dp_dirty()) */
	char *local_node; /* calc_cache_set_local_node(); NULL: every change is dp_dirty */
	struct pack_slabs slabs;
	/* Where the next key of a snapshot's listing likely is (cache_find_next()): for
	 * calc_cache_known() and for calc_cache_confirm(). Hints only, checked before use. */
	struct cache_it known_hint, confirm_hint;
};

/* ---- cache-file.c ---- */

/* The checksum that ends a cache file: over @n bytes at @p (tests and the fuzz harness write it
 * into damaged files to get past it). */
uint64_t cache_file_sum(const void *p, size_t n);

/* ---- cache.c ---- */

/*
 * The entry kind of datastore @key (enum entry_kind), with its namespace (*@ret_ns, not
 * NUL-terminated, @ret_ns_len bytes; NULL for cluster kinds) and name (*@ret_name) inside @key.
 * Return: the kind, or -1 for a key the cache does not use.
 */
int cache_key_classify(const char *key, const char **ret_ns, size_t *ret_ns_len,
		       const char **ret_name);

/* The entry at @it, moving @it past it; NULL at the end. */
static inline const struct entry *cache_it_next(const struct calc_cache *c, struct cache_it *it)
{
	for (; it->ch < c->n_ch; it->ch++, it->i = 0) {
		if (it->i < c->ch[it->ch]->n) {
			return &c->ch[it->ch]->v[it->i++];
		}
	}
	return NULL;
}

/* Every cached entry (const struct entry *@e) in key order. */
#define CACHE_FOR_EACH(c, e) \
	for (struct cache_it it_##e = {0, 0}; ((e) = cache_it_next((c), &it_##e)) != NULL;)

/**
 * calc_cache_get_named() - the resource at MODEL_KEY_PREFIX "@plural/@name" ("nodes", "h1"), or
 * NULL. Borrowed as for calc_cache_get().
 */
const struct model_resource *calc_cache_get_named(const struct calc_cache *c, const char *plural,
						  const char *name);

/**
 * calc_cache_secret() - the value of @key in the cached secret /tabby/v1/secrets/@name (a
 * password: never log it), or NULL when the secret or the key is not cached. Borrowed.
 */
const char *calc_cache_secret(const struct calc_cache *c, const char *name, const char *key);

/* ---- calc.c ---- */

/**
 * calc_grow() - make room for one more element in a growable array.
 * @pv: address of the array pointer; @n: elements in use; @cap: capacity, updated;
 * @size: element size in bytes. Doubles the capacity (from 16) when @n == *@cap.
 * Return: 0 or -ENOMEM (the array is then unchanged).
 */
int calc_grow(void *pv, size_t n, size_t *cap, size_t size) _warn_unused_result_;

/** calc_prefix_cmp() - qsort()/bsearch() order of struct ip_prefix (ip_prefix_cmp()). */
int calc_prefix_cmp(const void *a, const void *b);

/* ---- routes.c ---- */

/**
 * calc_routes_compute() - the routes, neighbours and interfaces of calc_compute() (see calc.h)
 * for node @me into @d (which must be zeroed; on failure it may hold partial arrays, freed by
 * calc_desired_done()). Return: 0 or -ENOMEM.
 */
int calc_routes_compute(const struct calc_cache *c, const char *me,
			struct calc_desired *d) _warn_unused_result_;

/* ---- bgp.c ---- */

/**
 * calc_bgp_compute() - the BGP model of calc_compute() (see calc.h) into @d; leaves d->has_bgp
 * false when this node has no Node resource with an IPv4 address. On failure @d may hold
 * partial storage, freed by calc_desired_done(). Return: 0 or -ENOMEM.
 */
int calc_bgp_compute(const struct calc_cache *c, const struct calc_options *o,
		     struct calc_desired *d) _warn_unused_result_;

/* ---- vxlan.c ---- */

/**
 * calc_vxlan_compute() - VXLAN (Calico's vxlanMode; DESIGN.md "Host dataplane") for node @me,
 * after calc_routes_compute() filled @d (routes sorted by dst, neighbours by ifname, addr).
 *   d->vxlan.enabled: some IPv4 pool (enabled or not) whose nodeSelector selects @me's Node
 *     has vxlanMode Always or CrossSubnet; pool_name, addr, mac and mtu as in struct
 *     calc_vxlan.
 *   When enabled, for every IPAM block affine to another node R ("host:<R>") that lies in a
 *     pool with vxlanMode Always, or CrossSubnet when R's spec.bgp.ipv4Address is outside the
 *     subnet of our own ipv4Address (its prefix length: Calico's CrossSubnet rule), and R's
 *     Node has ipv4Address, ipv4VXLANTunnelAddr and vxlanTunnelMACAddr:
 *       route  <block> via <R tunnel addr> dev vxlan.tabby onlink (added to d->routes unless a
 *              local route already claims that dst),
 *       neigh  <R tunnel addr> <R MAC> dev vxlan.tabby (permanent; added to d->neighs),
 *       fdb    <R MAC> dst <R ipv4Address> (d->vxlan.fdbs, sorted; one per MAC: should two
 *              nodes claim one MAC, the smaller address wins, deterministically).
 *   Not enabled, or our Node lacks an IPv4 address: no VXLAN routes (no device to use).
 * Return: 0 or -ENOMEM (@d may then hold partial arrays, freed by calc_desired_done()).
 */
int calc_vxlan_compute(const struct calc_cache *c, const char *me,
		       struct calc_desired *d) _warn_unused_result_;
