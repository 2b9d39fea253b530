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
#include <string.h>

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

/**
 * array_sort() - qsort() @n elements of @size bytes at @base with @cmp; nothing when @n < 2,
 * where @base may be NULL (an array never grown): glibc declares qsort()'s array nonnull, and
 * C17 7.1.4 wants a valid pointer even for a count of 0, so UBSan rejects qsort(NULL, 0, ...).
 */
static inline void array_sort(void *base, size_t n, size_t size,
			      int (*cmp)(const void *, const void *))
{
	if (n > 1) {
		qsort(base, n, size, cmp);
	}
}

/**
 * array_find() - bsearch() for @key among @n sorted elements of @size bytes at @base (NULL
 * allowed when @n is 0, as for array_sort()). Return: the element, or NULL.
 */
static inline void *array_find(const void *key, const void *base, size_t n, size_t size,
			       int (*cmp)(const void *, const void *))
{
	return n ? bsearch(key, base, n, size, cmp) : NULL;
}

/** array_cmp_str() - array_sort()/array_find() comparator for an array of C strings (char *),
 * by strcmp(). */
static inline int array_cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
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
