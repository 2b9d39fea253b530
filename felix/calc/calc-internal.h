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

/* 40 bytes: the cache holds one per datastore key (100,000 and more). */
struct entry {
	char *key;
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
};

/* A string shared by the cache's remote endpoints (label keys and values, namespace, node). */
struct istr {
	uint32_t refs;
	char s[];
};

struct calc_cache {
	struct entry *v; /* sorted by key */
	size_t n, cap;
	struct istr **strs; /* interned strings: open addressing, linear probing, power of two */
	size_t strs_cap, strs_n;
	size_t n_weps, n_trimmed; /* WorkloadEndpoint entries; of them remote (trimmed) */
	bool dirty;
	bool dp_dirty;	  /* a change calc_compute() reads (see calc_cache_dp_dirty()) */
	char *local_node; /* calc_cache_set_local_node(); NULL: every change is dp_dirty */
};

/* ---- cache.c ---- */

/**
 * calc_cache_find() - binary search for the full datastore @key.
 * Return: its index in c->v, or -(insertion point) - 1 when it is not cached.
 */
ssize_t calc_cache_find(const struct calc_cache *c, const char *key);

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
