/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <stddef.h>
#include "lib/macro.h"

/**
 * base64_encode() - RFC 4648 section 4 encoding with padding, as etcd's JSON gateway expects for
 * keys and values.
 * @data, @len: the bytes.
 * @ret: a NUL-terminated string the caller frees.
 * Return: 0 or -ENOMEM.
 */
int base64_encode(const void *data, size_t len, char **ret) _warn_unused_result_;

/**
 * base64_decode() - RFC 4648 section 4 decoding; padding optional, no whitespace.
 * @ret: the bytes plus a trailing NUL (not counted in @ret_len), freed by the caller.
 * Return: 0, -EINVAL (a character outside the alphabet, or a bad length) or -ENOMEM.
 */
int base64_decode(const char *text, size_t text_len, char **ret,
		  size_t *ret_len) _warn_unused_result_;
