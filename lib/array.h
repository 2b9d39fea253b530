/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * Small helpers shared by the pure core's growable arrays and hash tables (felix/calc,
 * felix/dataplane/policy, felix/dataplane/routes, acl). Header-only: no I/O.
 */

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

/**
 * array_grow() - make room for @want elements of @size bytes in the array *@pv of capacity *@cap
 * (elements), doubling from 16. Existing elements are kept; nothing happens when @want <= *@cap.
 * Return: 0, or -ENOMEM (then *@pv and *@cap are unchanged).
 */
static inline int array_grow(void *pv, size_t want, size_t *cap, size_t size)
{
	void **p = pv;
	if (want <= *cap) {
		return 0;
	}
	size_t nc = *cap ? *cap : 16;
	while (nc < want) {
		nc *= 2;
	}
	void *n = reallocarray(*p, nc, size);
	if (!n) {
		return -ENOMEM;
	}
	*p = n;
	*cap = nc;
	return 0;
}

#define HASH_FNV1A_INIT 0xcbf29ce484222325ull /* FNV-1a 64 offset basis */

/**
 * hash_fnv1a() - continue the FNV-1a 64 hash @h (start with HASH_FNV1A_INIT) over @n bytes at @p.
 * Not keyed: for tables of our own names and rule texts, never of untrusted keys at scale.
 * Return: the new hash.
 */
static inline uint64_t hash_fnv1a(uint64_t h, const void *p, size_t n)
{
	const uint8_t *b = p;
	for (size_t i = 0; i < n; i++) {
		h = (h ^ b[i]) * 0x100000001b3ull;
	}
	return h;
}
