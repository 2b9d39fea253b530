/* SPDX-License-Identifier: Apache-2.0 */
/*
 * DOC: logging
 *
 * One line per message on stderr, which journald and the lab's log files capture as they are.
 * "%m" is expanded from the error argument rather than from errno, so that log_*_errno(r, ...)
 * works with the -errno convention of the whole tree.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "lib/log.h"

static enum log_level log_max_level = LOG_LEVEL_INFO;
static const char *log_ident = "tabby";

void log_set_level(enum log_level level)
{
	log_max_level = level;
}

enum log_level log_get_level(void)
{
	return log_max_level;
}

void log_set_ident(const char *ident)
{
	log_ident = ident;
}

int log_parse_level(const char *s)
{
	if (!s)
		return -EINVAL;
	if (!strcasecmp(s, "error") || !strcasecmp(s, "fatal") || !strcasecmp(s, "panic"))
		return LOG_LEVEL_ERROR;
	if (!strcasecmp(s, "warning") || !strcasecmp(s, "warn"))
		return LOG_LEVEL_WARN;
	if (!strcasecmp(s, "info"))
		return LOG_LEVEL_INFO;
	if (!strcasecmp(s, "debug"))
		return LOG_LEVEL_DEBUG;
	return -EINVAL;
}

int log_internal(enum log_level level, int error, const char *fmt, ...)
{
	static const char *const names[] = {
	    [LOG_LEVEL_ERROR] = "error",
	    [LOG_LEVEL_WARN] = "warning",
	    [LOG_LEVEL_INFO] = "info",
	    [LOG_LEVEL_DEBUG] = "debug",
	};
	int e = error < 0 ? -error : error;

	if (level <= log_max_level) {
		char msg[2048];
		va_list ap;
		int saved = errno;

		/* glibc's vsnprintf expands %m from errno */
		errno = e;
		va_start(ap, fmt);
		vsnprintf(msg, sizeof(msg), fmt, ap);
		va_end(ap);
		errno = saved;
		fprintf(stderr, "%s[%d]: %s: %s\n", log_ident, (int)getpid(),
			names[level] ? names[level] : "log", msg);
	}
	return e ? -e : 0;
}
