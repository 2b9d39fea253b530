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

static int b64_value(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

int base64_decode(const char *text, size_t text_len, char **ret, size_t *ret_len)
{
	uint32_t acc = 0;
	unsigned nbits = 0;
	size_t o = 0;
	char *out;

	while (text_len > 0 && text[text_len - 1] == '=')
		text_len--;
	if (text_len % 4 == 1)
		return -EINVAL;
	out = malloc(text_len * 3 / 4 + 1);
	if (!out)
		return -ENOMEM;
	for (size_t i = 0; i < text_len; i++) {
		int v = b64_value(text[i]);

		if (v < 0) {
			free(out);
			return -EINVAL;
		}
		acc = (acc << 6) | (uint32_t)v;
		nbits += 6;
		if (nbits >= 8) {
			nbits -= 8;
			out[o++] = (char)((acc >> nbits) & 0xff);
		}
	}
	out[o] = '\0';
	*ret = out;
	*ret_len = o;
	return 0;
}
