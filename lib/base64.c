/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include "lib/base64.h"

static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int base64_encode(const void *data, size_t len, char **ret)
{
	const uint8_t *in = data;
	size_t olen = 4 * ((len + 2) / 3), o = 0;
	char *out = malloc(olen + 1);

	if (!out)
		return -ENOMEM;
	for (size_t i = 0; i < len; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16;
		size_t rem = len - i;

		if (rem > 1)
			v |= (uint32_t)in[i + 1] << 8;
		if (rem > 2)
			v |= in[i + 2];
		out[o++] = b64_alphabet[(v >> 18) & 63];
		out[o++] = b64_alphabet[(v >> 12) & 63];
		out[o++] = rem > 1 ? b64_alphabet[(v >> 6) & 63] : '=';
		out[o++] = rem > 2 ? b64_alphabet[v & 63] : '=';
	}
	out[o] = '\0';
	*ret = out;
	return 0;
}

/* 1 + the value of each byte of the base64 alphabet (RFC 4648 section 4, table 1); 0 for every
 * other byte. */
static const uint8_t b64_dec[256] = {
    0,	0,  0,	0,  0,	0,  0,	0,  0,	0,  0,	0,  0,	0,  0,	0,  0,	0,  0,	0,  0,	0,  0,	0,
    0,	0,  0,	0,  0,	0,  0,	0,  0,	0,  0,	0,  0,	0,  0,	0,  0,	0,  0,	63, 0,	0,  0,	64,
    53, 54, 55, 56, 57, 58, 59, 60, 61, 62, 0,	0,  0,	0,  0,	0,  0,	1,  2,	3,  4,	5,  6,	7,
    8,	9,  10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 0,  0,	0,  0,	0,
    0,	27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 45, 46, 47, 48, 49,
    50, 51, 52, 0,  0,	0,  0,	0,  0,	0,  0,	0,  0,	0,  0,	0,  0,	0,  0,	0,  0,	0,  0,	0,
    0,	0,  0,	0,  0,	0,  0,	0,  0,	0,  0,	0,  0,	0,  0,	0,  0,	0,  0,	0,  0,	0,  0,	0,
    0,	0,  0,	0,  0,	0,  0,	0,  0,	0,  0,	0,  0,	0,  0,	0,  0,	0,  0,	0,  0,	0,  0,	0,
    0,	0,  0,	0,  0,	0,  0,	0,  0,	0,  0,	0,  0,	0,  0,	0,  0,	0,  0,	0,  0,	0,  0,	0,
    0,	0,  0,	0,  0,	0,  0,	0,  0,	0,  0,	0,  0,	0,  0,	0,  0,	0,  0,	0,  0,	0,  0,	0,
    0,	0,  0,	0,  0,	0,  0,	0,  0,	0,  0,	0,  0,	0,  0,	0,
};

int base64_decode(const char *text, size_t text_len, char **ret, size_t *ret_len)
{
	const unsigned char *in = (const unsigned char *)text;
	size_t o = 0, i = 0;
	char *out;

	while (text_len > 0 && text[text_len - 1] == '=')
		text_len--;
	if (text_len % 4 == 1)
		return -EINVAL;
	out = malloc(text_len * 3 / 4 + 1);
	if (!out)
		return -ENOMEM;
	/* whole quanta: 4 characters -> 3 bytes */
	for (; i + 4 <= text_len; i += 4) {
		unsigned a = b64_dec[in[i]], b = b64_dec[in[i + 1]], c = b64_dec[in[i + 2]],
			 d = b64_dec[in[i + 3]];

		if (!a || !b || !c || !d)
			goto invalid;
		uint32_t v = (a - 1) << 18 | (b - 1) << 12 | (c - 1) << 6 | (d - 1);

		out[o++] = (char)(v >> 16);
		out[o++] = (char)(v >> 8);
		out[o++] = (char)v;
	}
	/* the final 2 or 3 characters (padding optional): 1 or 2 bytes; bits beyond them are
	 * ignored */
	if (i < text_len) {
		unsigned a = b64_dec[in[i]], b = b64_dec[in[i + 1]];
		unsigned c = i + 2 < text_len ? b64_dec[in[i + 2]] : 1;

		if (!a || !b || !c)
			goto invalid;
		uint32_t v = (a - 1) << 18 | (b - 1) << 12 | (c - 1) << 6;

		out[o++] = (char)(v >> 16);
		if (i + 2 < text_len)
			out[o++] = (char)(v >> 8);
	}
	out[o] = '\0';
	*ret = out;
	*ret_len = o;
	return 0;
invalid:
	free(out);
	return -EINVAL;
}
