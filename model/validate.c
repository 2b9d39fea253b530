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
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "acl/selector.h"
#include "model/model-internal.h"
#include "model/model.h"

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
	static const char hex[] = "0123456789abcdef";
	char out[18];
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
		/* lower case, ':' between the bytes (snprintf() was a tenth of decoding an endpoint) */
		out[3 * i] = hex[hi];
		out[3 * i + 1] = hex[lo];
		out[3 * i + 2] = i < 5 ? ':' : '\0';
	}
	memcpy(ret, out, sizeof(out));
	return 0;
}

/* Go time.ParseDuration units, in nanoseconds. */
static const struct {
	const char *unit;
	uint64_t ns;
} duration_units[] = {
    {"ns", 1ULL},	    {"us", 1000ULL},	  {"\xc2\xb5s", 1000ULL}, /* µs */
    {"\xce\xbcs", 1000ULL},						  /* μs */
    {"ms", 1000000ULL},	    {"s", 1000000000ULL}, {"m", 60000000000ULL},  {"h", 3600000000000ULL},
};

#define DURATION_MAX_NS (UINT64_MAX / 4)

int model_parse_duration_ns(const char *s, uint64_t *ret)
{
	uint64_t total = 0;

	if (!s || !*s)
		return -EINVAL;
	if (*s == '+')
		s++;
	if (strcmp(s, "0") == 0) {
		*ret = 0;
		return 0;
	}
	if (!*s)
		return -EINVAL;
	while (*s) {
		uint64_t whole = 0, frac = 0, scale = 1, unit = 0;
		bool digits = false;
		size_t ul = 0;

		for (; *s >= '0' && *s <= '9'; s++, digits = true) {
			if (whole > DURATION_MAX_NS / 10)
				return -EINVAL;
			whole = whole * 10 + (uint64_t)(*s - '0');
		}
		if (*s == '.') {
			for (s++; *s >= '0' && *s <= '9'; s++, digits = true)
				if (scale < 1000000000000000000ULL) {
					frac = frac * 10 + (uint64_t)(*s - '0');
					scale *= 10;
				}
		}
		if (!digits)
			return -EINVAL;
		for (size_t i = 0; i < ELEMENTSOF(duration_units); i++) {
			size_t l = strlen(duration_units[i].unit);

			/* longest match: "ms" before "m" */
			if (l > ul && strncmp(s, duration_units[i].unit, l) == 0) {
				ul = l;
				unit = duration_units[i].ns;
			}
		}
		if (!ul)
			return -EINVAL;
		s += ul;
		if (whole > DURATION_MAX_NS / unit)
			return -EINVAL;
		whole *= unit;
		/* frac / scale of a unit; both fit: unit <= 3.6e12, frac < scale <= 1e18 */
		whole += (uint64_t)((long double)frac * (long double)unit / (long double)scale);
		if (whole > DURATION_MAX_NS - total)
			return -EINVAL;
		total += whole;
	}
	*ret = total;
	return 0;
}

char *model_format_duration_ms(uint64_t ms, char *buf, size_t size)
{
	uint64_t h = ms / 3600000, m = ms / 60000 % 60, s = ms / 1000 % 60, rest = ms % 1000;
	char frac[8] = "";
	int off = 0;

	if (ms == 0) {
		snprintf(buf, size, "0s");
		return buf;
	}
	if (ms < 1000) {
		snprintf(buf, size, "%" PRIu64 "ms", ms);
		return buf;
	}
	if (rest) {
		snprintf(frac, sizeof(frac), ".%03" PRIu64, rest);
		for (size_t l = strlen(frac); frac[l - 1] == '0'; l--)
			frac[l - 1] = '\0';
	}
	if (h)
		off = snprintf(buf, size, "%" PRIu64 "h%" PRIu64 "m", h, m);
	else if (m)
		off = snprintf(buf, size, "%" PRIu64 "m", m);
	if (off >= 0 && (size_t)off < size)
		snprintf(buf + off, size - (size_t)off, "%" PRIu64 "%ss", s, frac);
	return buf;
}

int model_selector_check(const char *s, unsigned *ret_column, char *why, size_t why_size)
{
	_cleanup_(sel_freep) struct sel *sel = NULL;
	struct parse_err err = {};
	int r;

	r = sel_parse(s, &sel, &err);
	if (r == -EINVAL) {
		*ret_column = err.column;
		snprintf(why, why_size, "%s", err.msg);
	}
	return r;
}

bool model_port_name_is_valid(const char *s)
{
	size_t len = s ? strlen(s) : 0;
	bool letter = false;

	if (len == 0 || len > 15 || s[0] == '-' || s[len - 1] == '-' || strstr(s, "--"))
		return false;
	for (size_t i = 0; i < len; i++) {
		if (s[i] >= 'a' && s[i] <= 'z')
			letter = true;
		else if (!(s[i] >= '0' && s[i] <= '9') && s[i] != '-')
			return false;
	}
	return letter;
}

static const struct {
	const char *name;
	const char *lower;
	uint8_t number;
} protocols[] = {
    {"TCP", "tcp", 6},	      {"UDP", "udp", 17},    {"ICMP", "icmp", 1},
    {"ICMPv6", "icmpv6", 58}, {"SCTP", "sctp", 132}, {"UDPLite", "udplite", 136},
};

uint8_t model_protocol_from_string(const char *s)
{
	for (size_t i = 0; i < ELEMENTSOF(protocols); i++)
		if (strcmp(s, protocols[i].name) == 0 || strcmp(s, protocols[i].lower) == 0)
			return protocols[i].number;
	return 0;
}

const char *model_protocol_name(uint8_t number)
{
	for (size_t i = 0; i < ELEMENTSOF(protocols); i++)
		if (protocols[i].number == number)
			return protocols[i].name;
	return NULL;
}

bool model_community_is_valid(const char *s)
{
	uint64_t part[3];
	size_t n = 0;

	for (;;) {
		size_t l = strcspn(s, ":");
		char buf[12];

		if (n == 3 || l == 0 || l >= sizeof(buf))
			return false;
		memcpy(buf, s, l);
		buf[l] = '\0';
		if (parse_u64_digits(buf, UINT32_MAX, &part[n++]) < 0)
			return false;
		if (!s[l])
			break;
		s += l + 1;
	}
	if (n == 2)
		return part[0] <= 65535 && part[1] <= 65535;
	return n == 3;
}
