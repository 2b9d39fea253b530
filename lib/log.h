/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <errno.h>
#include "lib/macro.h"

/* Levels follow syslog: lower is more severe. */
enum log_level {
	LOG_LEVEL_ERROR = 3,
	LOG_LEVEL_WARN = 4,
	LOG_LEVEL_INFO = 6,
	LOG_LEVEL_DEBUG = 7,
};

/**
 * log_set_level() - set the most verbose level written.
 * @level: one of enum log_level; messages above it are dropped.
 */
void log_set_level(enum log_level level);

/**
 * log_parse_level() - parse "error", "warning"/"warn", "info" or "debug" (case-insensitive).
 * Return: the level, or -EINVAL for anything else.
 */
int log_parse_level(const char *s);

/** log_get_level() - the current level. */
enum log_level log_get_level(void);

/**
 * log_set_ident() - name shown at the start of every line (borrowed; must outlive logging).
 */
void log_set_ident(const char *ident);

/**
 * log_internal() - write one line to stderr as "<ident>[pid]: <level>: <message>".
 * @level: severity.
 * @error: an errno value (positive or negative) that "%m" in @fmt expands to; 0 for none.
 * Return: -abs(@error) when @error is non-zero, else 0, so callers can `return log_..._errno(r, ...)`.
 * Never fails; a write error is ignored.
 */
int log_internal(enum log_level level, int error, const char *fmt, ...) _printf_(3, 4);

#define log_error(...) log_internal(LOG_LEVEL_ERROR, 0, __VA_ARGS__)
#define log_warn(...) log_internal(LOG_LEVEL_WARN, 0, __VA_ARGS__)
#define log_info(...) log_internal(LOG_LEVEL_INFO, 0, __VA_ARGS__)
#define log_debug(...) log_internal(LOG_LEVEL_DEBUG, 0, __VA_ARGS__)
#define log_error_errno(e, ...) log_internal(LOG_LEVEL_ERROR, (e), __VA_ARGS__)
#define log_warn_errno(e, ...) log_internal(LOG_LEVEL_WARN, (e), __VA_ARGS__)
#define log_info_errno(e, ...) log_internal(LOG_LEVEL_INFO, (e), __VA_ARGS__)
#define log_debug_errno(e, ...) log_internal(LOG_LEVEL_DEBUG, (e), __VA_ARGS__)
