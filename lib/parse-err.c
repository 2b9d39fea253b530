/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "lib/parse-err.h"

int parse_err_set(struct parse_err *err, const char *file, unsigned line, unsigned column,
		  const char *field, const char *fmt, ...)
{
	va_list ap;

	if (!err)
		return -EINVAL;
	if (file)
		snprintf(err->file, sizeof(err->file), "%s", file);
	err->line = line;
	err->column = column;
	snprintf(err->field, sizeof(err->field), "%s", field ? field : "");
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	return -EINVAL;
}

char *parse_err_format(const struct parse_err *err, char *buf, size_t size)
{
	size_t n = 0;

	buf[0] = '\0';
#define PUT(...)                                                           \
	do {                                                               \
		if (n < size) {                                            \
			int w_ = snprintf(buf + n, size - n, __VA_ARGS__); \
			n += w_ > 0 ? (size_t)w_ : 0;                      \
		}                                                          \
	} while (0)
	if (err->file[0])
		PUT("%s:", err->file);
	if (err->line)
		PUT("%u:", err->line);
	if (err->line && err->column)
		PUT("%u:", err->column);
	if (n)
		PUT(" ");
	if (err->field[0])
		PUT("%s: ", err->field);
	PUT("%s", err->msg);
#undef PUT
	return buf;
}
