/* SPDX-License-Identifier: Apache-2.0 */
/*
 * DOC: value validation
 *
 * The syntax rules Calico and Kubernetes apply to names, label keys and values (Kubernetes
 * apimachinery validation.IsDNS1123Subdomain, IsQualifiedName, IsValidLabelValue), AS numbers
 * (Calico numorstring.ASNumber: plain or asdot) and MAC addresses (Go net.ParseMAC, 48-bit).
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/model-internal.h"

static bool is_lower_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static bool is_alnum(char c)
{
	return isascii((unsigned char)c) && isalnum((unsigned char)c);
}

/* One RFC 1123 label in [s, s + len). */
static bool dns_label_ok(const char *s, size_t len)
{
	if (len == 0 || len > 63)
		return false;
	if (!is_lower_alnum(s[0]) || !is_lower_alnum(s[len - 1]))
		return false;
	for (size_t i = 0; i < len; i++)
		if (!is_lower_alnum(s[i]) && s[i] != '-')
			return false;
	return true;
}

bool model_dns_label_is_valid(const char *s)
{
	return s && dns_label_ok(s, strlen(s));
}

bool model_name_is_valid(const char *s)
{
	size_t len;

	if (!s)
		return false;
	len = strlen(s);
	if (len == 0 || len > 253)
		return false;
	/* each dot-separated part: [a-z0-9]([-a-z0-9]*[a-z0-9])? (no per-part length limit) */
	for (;;) {
		size_t l = strcspn(s, ".");

		if (l == 0 || !is_lower_alnum(s[0]) || !is_lower_alnum(s[l - 1]))
			return false;
		for (size_t i = 0; i < l; i++)
			if (!is_lower_alnum(s[i]) && s[i] != '-')
				return false;
		if (s[l] == '\0')
			return true;
		s += l + 1;
	}
}

/* [A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?, at most 63 */
static bool qualified_part_ok(const char *s, size_t len)
{
	if (len == 0 || len > 63)
		return false;
	if (!is_alnum(s[0]) || !is_alnum(s[len - 1]))
		return false;
	for (size_t i = 0; i < len; i++)
		if (!is_alnum(s[i]) && s[i] != '-' && s[i] != '_' && s[i] != '.')
			return false;
	return true;
}

bool model_label_key_is_valid(const char *s)
{
	const char *slash;

	if (!s)
		return false;
	slash = strchr(s, '/');
	if (slash) {
		char prefix[254];
		size_t plen = (size_t)(slash - s);

		if (plen == 0 || plen >= sizeof(prefix))
			return false;
		memcpy(prefix, s, plen);
		prefix[plen] = '\0';
		if (!model_name_is_valid(prefix))
			return false;
		s = slash + 1;
	}
	return qualified_part_ok(s, strlen(s));
}

bool model_label_value_is_valid(const char *s)
{
	if (!s)
		return false;
	return *s == '\0' || qualified_part_ok(s, strlen(s));
}

static int parse_u64_digits(const char *s, uint64_t max, uint64_t *ret)
{
	uint64_t v = 0;

	if (!*s)
		return -EINVAL;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -EINVAL;
		v = v * 10 + (uint64_t)(*s - '0');
		if (v > max)
			return -EINVAL;
	}
	*ret = v;
	return 0;
}

int model_parse_as_number(const char *s, uint32_t *ret)
{
	const char *dot = strchr(s, '.');
	uint64_t v;

	if (dot) {
		char high[8];
		uint64_t h, l;
		size_t hl = (size_t)(dot - s);

		if (hl == 0 || hl >= sizeof(high))
			return -EINVAL;
		memcpy(high, s, hl);
		high[hl] = '\0';
		if (parse_u64_digits(high, 65535, &h) < 0 ||
		    parse_u64_digits(dot + 1, 65535, &l) < 0)
			return -EINVAL;
		v = h << 16 | l;
	} else if (parse_u64_digits(s, UINT32_MAX, &v) < 0) {
		return -EINVAL;
	}
	if (v == 0)
		return -EINVAL;
	*ret = (uint32_t)v;
	return 0;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int model_parse_mac(const char *s, char ret[static 18])
{
	uint8_t b[6];
	char sep;

	if (strlen(s) != 17)
		return -EINVAL;
	sep = s[2];
	if (sep != ':' && sep != '-')
		return -EINVAL;
	for (size_t i = 0; i < 6; i++) {
		int hi = hexval(s[3 * i]), lo = hexval(s[3 * i + 1]);

		if (hi < 0 || lo < 0 || (i < 5 && s[3 * i + 2] != sep))
			return -EINVAL;
		b[i] = (uint8_t)(hi << 4 | lo);
	}
	snprintf(ret, 18, "%02x:%02x:%02x:%02x:%02x:%02x", b[0], b[1], b[2], b[3], b[4], b[5]);
	return 0;
}
