/* SPDX-License-Identifier: Apache-2.0 */
/*
 * DOC: cidr
 *
 * Address and prefix values. Text conversion goes through inet_pton/inet_ntop (pure libc, no
 * I/O), so IPv6 text is canonical per RFC 5952.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/cidr.h"

unsigned ip_addr_bits(int family)
{
	return family == AF_INET ? 32 : family == AF_INET6 ? 128 : 0;
}

int ip_addr_parse(const char *s, struct ip_addr *ret)
{
	struct ip_addr a = {0};

	if (!s)
		return -EINVAL;
	if (inet_pton(AF_INET, s, a.bytes) == 1)
		a.family = AF_INET;
	else if (inet_pton(AF_INET6, s, a.bytes) == 1)
		a.family = AF_INET6;
	else
		return -EINVAL;
	*ret = a;
	return 0;
}

char *ip_addr_format(const struct ip_addr *a, char buf[static IP_ADDR_STRLEN])
{
	buf[0] = '\0';
	if (a->family == AF_INET || a->family == AF_INET6)
		inet_ntop(a->family, a->bytes, buf, IP_ADDR_STRLEN);
	return buf;
}

bool ip_addr_equal(const struct ip_addr *a, const struct ip_addr *b)
{
	return a->family == b->family && memcmp(a->bytes, b->bytes, sizeof(a->bytes)) == 0;
}

int ip_addr_cmp(const struct ip_addr *a, const struct ip_addr *b)
{
	if (a->family != b->family)
		return a->family < b->family ? -1 : 1;
	return memcmp(a->bytes, b->bytes, sizeof(a->bytes));
}

int ip_prefix_parse(const char *s, bool strict, struct ip_prefix *ret)
{
	char addr[IP_ADDR_STRLEN];
	const char *slash;
	struct ip_prefix p = {0};
	unsigned long len;
	char *end;
	int r;

	if (!s)
		return -EINVAL;
	slash = strchr(s, '/');
	if (!slash) {
		r = ip_addr_parse(s, &p.addr);
		if (r < 0)
			return r;
		p.len = ip_addr_bits(p.addr.family);
		*ret = p;
		return 0;
	}
	if ((size_t)(slash - s) >= sizeof(addr))
		return -EINVAL;
	memcpy(addr, s, slash - s);
	addr[slash - s] = '\0';
	r = ip_addr_parse(addr, &p.addr);
	if (r < 0)
		return r;
	if (slash[1] < '0' || slash[1] > '9')
		return -EINVAL;
	errno = 0;
	len = strtoul(slash + 1, &end, 10);
	if (errno || *end || len > ip_addr_bits(p.addr.family))
		return -EINVAL;
	p.len = (uint8_t)len;
	if (strict && !ip_prefix_is_masked(&p))
		return -EINVAL;
	*ret = p;
	return 0;
}

char *ip_prefix_format(const struct ip_prefix *p, char buf[static IP_PREFIX_STRLEN])
{
	char a[IP_ADDR_STRLEN];

	snprintf(buf, IP_PREFIX_STRLEN, "%s/%u", ip_addr_format(&p->addr, a), p->len);
	return buf;
}

struct ip_prefix ip_prefix_mask(struct ip_prefix p)
{
	unsigned bits = ip_addr_bits(p.addr.family);

	for (unsigned i = p.len; i < bits; i++)
		p.addr.bytes[i / 8] &= (uint8_t) ~(0x80u >> (i % 8));
	return p;
}

bool ip_prefix_is_masked(const struct ip_prefix *p)
{
	struct ip_prefix m = ip_prefix_mask(*p);

	return ip_addr_equal(&m.addr, &p->addr);
}

bool ip_prefix_equal(const struct ip_prefix *a, const struct ip_prefix *b)
{
	struct ip_prefix ma = ip_prefix_mask(*a), mb = ip_prefix_mask(*b);

	return a->len == b->len && ip_addr_equal(&ma.addr, &mb.addr);
}

int ip_prefix_cmp(const struct ip_prefix *a, const struct ip_prefix *b)
{
	int r = ip_addr_cmp(&a->addr, &b->addr);

	if (r)
		return r;
	return (int)a->len - (int)b->len;
}

static bool prefix_bits_match(const struct ip_addr *a, const struct ip_addr *b, unsigned len)
{
	unsigned full = len / 8, rest = len % 8;

	if (memcmp(a->bytes, b->bytes, full))
		return false;
	if (rest) {
		uint8_t m = (uint8_t)(0xff00u >> rest);
		return (a->bytes[full] & m) == (b->bytes[full] & m);
	}
	return true;
}

bool ip_prefix_contains_addr(const struct ip_prefix *p, const struct ip_addr *a)
{
	return p->addr.family == a->family && prefix_bits_match(&p->addr, a, p->len);
}

bool ip_prefix_contains(const struct ip_prefix *outer, const struct ip_prefix *inner)
{
	return outer->addr.family == inner->addr.family && inner->len >= outer->len &&
	       prefix_bits_match(&outer->addr, &inner->addr, outer->len);
}

bool ip_prefix_overlaps(const struct ip_prefix *a, const struct ip_prefix *b)
{
	return ip_prefix_contains(a, b) || ip_prefix_contains(b, a);
}

int ip_addr_add(const struct ip_addr *a, uint64_t n, struct ip_addr *ret)
{
	struct ip_addr r = *a;
	unsigned nbytes = ip_addr_bits(a->family) / 8;
	unsigned carry = 0;

	if (!nbytes)
		return -EINVAL;
	for (int i = (int)nbytes - 1; i >= 0; i--) {
		unsigned sum = r.bytes[i] + (unsigned)(n & 0xff) + carry;
		r.bytes[i] = (uint8_t)sum;
		carry = sum >> 8;
		n >>= 8;
	}
	if (carry || n)
		return -ERANGE;
	*ret = r;
	return 0;
}

int64_t ip_prefix_offset(const struct ip_prefix *p, const struct ip_addr *a)
{
	unsigned bits = ip_addr_bits(p->addr.family);
	uint64_t off = 0;

	if (!ip_prefix_contains_addr(p, a) || bits - p->len > 62)
		return -1;
	for (unsigned i = p->len; i < bits; i++)
		off = (off << 1) | ((a->bytes[i / 8] >> (7 - i % 8)) & 1u);
	return (int64_t)off;
}

uint64_t ip_prefix_size(const struct ip_prefix *p)
{
	unsigned host = ip_addr_bits(p->addr.family) - p->len;

	return host >= 62 ? (UINT64_C(1) << 62) : (UINT64_C(1) << host);
}

struct ip_prefix ip_prefix_host(const struct ip_addr *a)
{
	return (struct ip_prefix){.addr = *a, .len = (uint8_t)ip_addr_bits(a->family)};
}
