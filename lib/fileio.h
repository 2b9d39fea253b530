/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <stddef.h>
#include <sys/types.h>

#include "lib/macro.h"

struct strbuf;

/**
 * file_read() - append the whole content of @path to @out (read(2) until end of file, EINTR
 * retried).
 * @max: the most bytes accepted; more is -EFBIG (what was read stays in @out).
 * Return: 0, -ENOENT (no such file), -EFBIG, -ENOMEM, or another -errno of open(2)/read(2).
 */
int file_read(const char *path, size_t max, struct strbuf *out) _warn_unused_result_;

/**
 * file_write_atomic() - replace @path with @len bytes at @buf: they are written to
 * "@path.tmp" (created with @mode, e.g. 0600, before the umask), fsync(2)ed, and renamed over
 * @path (rename(2) is atomic), so a crash leaves the old file or the new one, never half of
 * one. The temporary file is removed on failure.
 * Return: 0, -ENOMEM, or the -errno of the open(2), write(2), fsync(2), close(2) or rename(2)
 * that failed.
 */
int file_write_atomic(const char *path, const void *buf, size_t len,
		      mode_t mode) _warn_unused_result_;
