/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <stdarg.h>
#include <stddef.h>
#include "lib/macro.h"

/* A growable NUL-terminated byte buffer. Renderers (bird.conf, JSON, nft text) write into one.
 * A zeroed struct is an empty buffer; strbuf_done() releases it. */
struct strbuf {
	char *buf;  /* NUL-terminated when len > 0 or after any append; may be NULL when empty */
	size_t len; /* bytes, excluding the NUL */
	size_t cap; /* bytes allocated */
};

/** strbuf_init() - make @sb an empty buffer (no allocation). */
void strbuf_init(struct strbuf *sb);

/** strbuf_done() - free the storage and reset @sb to empty. NULL-safe. */
void strbuf_done(struct strbuf *sb);

/** strbuf_reset() - set the length to 0, keeping the storage. */
void strbuf_reset(struct strbuf *sb);

/**
 * strbuf_append() - append @len bytes of @data.
 * Return: 0, or -ENOMEM (then @sb is unchanged).
 */
int strbuf_append(struct strbuf *sb, const void *data, size_t len) _warn_unused_result_;

/** strbuf_puts() - append the C string @s. Return: 0 or -ENOMEM. */
int strbuf_puts(struct strbuf *sb, const char *s) _warn_unused_result_;

/** strbuf_printf() - append printf-formatted text. Return: 0, -ENOMEM or -EINVAL (bad format). */
int strbuf_printf(struct strbuf *sb, const char *fmt, ...) _printf_(2, 3) _warn_unused_result_;

/** strbuf_vprintf() - as strbuf_printf() with a va_list. */
int strbuf_vprintf(struct strbuf *sb, const char *fmt, va_list ap) _warn_unused_result_;

/**
 * strbuf_cstr() - the contents as a C string ("" when empty). Borrowed; valid until the next
 * append or strbuf_done().
 */
const char *strbuf_cstr(const struct strbuf *sb);

/**
 * strbuf_steal() - hand the NUL-terminated contents to the caller, who frees them with free().
 * @sb is empty afterwards. Return: the string (never NULL: "" is allocated for an empty buffer),
 * or NULL on -ENOMEM.
 */
char *strbuf_steal(struct strbuf *sb);

static inline void strbuf_donep(struct strbuf *sb)
{
	strbuf_done(sb);
}
#define _cleanup_strbuf_ _cleanup_(strbuf_donep)
