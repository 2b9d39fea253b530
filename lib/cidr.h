/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "lib/macro.h"

/* Longest text form of an address ("ffff:...:255.255.255.255") plus "/128" and the NUL. */
#define IP_ADDR_STRLEN 46
#define IP_PREFIX_STRLEN 50

/* An IPv4 or IPv6 address as a small value type, passed by value (like BIRD's ip_addr).
 * Bytes are in network order; an IPv4 address uses bytes[0..3] and leaves the rest zero, so
 * two addresses compare equal with memcmp() of the whole struct. */
struct ip_addr {
	uint8_t family; /* AF_INET or AF_INET6; 0 = unset */
	uint8_t bytes[16];
};

/* An address with a prefix length in bits (0..32 for IPv4, 0..128 for IPv6). */
struct ip_prefix {
	struct ip_addr addr;
	uint8_t len;
};

/** ip_addr_bits() - 32 for AF_INET, 128 for AF_INET6, 0 otherwise. */
unsigned ip_addr_bits(int family);

/**
 * ip_addr_parse() - parse dotted-quad IPv4 or RFC 4291/5952 IPv6 text.
 * @s: the text, NUL-terminated, no surrounding space.
 * @ret: filled on success, untouched on failure.
 * Return: 0, or -EINVAL.
 */
int ip_addr_parse(const char *s, struct ip_addr *ret) _warn_unused_result_;

/**
 * ip_addr_format() - canonical text (RFC 5952 for IPv6) into @buf of IP_ADDR_STRLEN bytes.
 * Return: @buf ("" for an unset address).
 */
char *ip_addr_format(const struct ip_addr *a, char buf[static IP_ADDR_STRLEN]);

/** ip_addr_equal() - same family and bytes. */
bool ip_addr_equal(const struct ip_addr *a, const struct ip_addr *b);

/** ip_addr_cmp() - total order: family first, then bytes as a big-endian number. <0, 0, >0. */
int ip_addr_cmp(const struct ip_addr *a, const struct ip_addr *b);

/**
 * ip_prefix_parse() - parse "ADDR/LEN", or a bare address as a host prefix (/32 or /128).
 * @strict: when true, an address with bits set below the prefix length is -EINVAL
 *          ("198.19.0.1/24"); when false those bits are kept (use ip_prefix_mask() to clear).
 * Return: 0, or -EINVAL (bad address, LEN missing digits or out of 0..32/0..128).
 */
int ip_prefix_parse(const char *s, bool strict, struct ip_prefix *ret) _warn_unused_result_;

/** ip_prefix_format() - "ADDR/LEN" into @buf of IP_PREFIX_STRLEN bytes. Return: @buf. */
char *ip_prefix_format(const struct ip_prefix *p, char buf[static IP_PREFIX_STRLEN]);

/** ip_prefix_mask() - @p with the host bits cleared. */
struct ip_prefix ip_prefix_mask(struct ip_prefix p);

/** ip_prefix_is_masked() - true when no bit below the prefix length is set. */
bool ip_prefix_is_masked(const struct ip_prefix *p);

/** ip_prefix_equal() - same family, length and (masked) network. */
bool ip_prefix_equal(const struct ip_prefix *a, const struct ip_prefix *b);

/** ip_prefix_cmp() - order by family, network address, then length. <0, 0, >0. */
int ip_prefix_cmp(const struct ip_prefix *a, const struct ip_prefix *b);

/** ip_prefix_contains_addr() - @a is inside @p (same family). */
bool ip_prefix_contains_addr(const struct ip_prefix *p, const struct ip_addr *a);

/** ip_prefix_contains() - @inner is equal to or inside @outer (same family). */
bool ip_prefix_contains(const struct ip_prefix *outer, const struct ip_prefix *inner);

/** ip_prefix_overlaps() - the two prefixes share at least one address. */
bool ip_prefix_overlaps(const struct ip_prefix *a, const struct ip_prefix *b);

/**
 * ip_addr_add() - @a plus @n, as a big-endian number of ip_addr_bits() bits.
 * Return: 0, or -ERANGE when the sum does not fit (then @ret is untouched).
 */
int ip_addr_add(const struct ip_addr *a, uint64_t n, struct ip_addr *ret) _warn_unused_result_;

/**
 * ip_prefix_offset() - how many addresses @a lies above the network address of @p.
 * Return: the offset (0 .. 2^(bits-len) - 1), or -1 when @a is not in @p or the offset does not
 * fit in 63 bits (prefixes with more than 2^62 addresses; block math only uses small blocks).
 */
int64_t ip_prefix_offset(const struct ip_prefix *p, const struct ip_addr *a);

/**
 * ip_prefix_size() - number of addresses in @p, saturated at 2^62.
 */
uint64_t ip_prefix_size(const struct ip_prefix *p);

/**
 * ip_prefix_host() - the host prefix (/32 or /128) of @a.
 */
struct ip_prefix ip_prefix_host(const struct ip_addr *a);
