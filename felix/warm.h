/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <stdint.h>

#include "lib/macro.h"

struct calc_cache;

/**
 * felix_warm_load() - fill the empty cache @c (its local node set) from the cache file @path
 * (felix/calc/cache-file.c) that an earlier felix saved at exit. A missing file is no error;
 * a damaged, foreign or outdated one is logged at warning with the reason (path, record,
 * field) and @c is left empty.
 * @ret_revision: the datastore revision the file reflects; 0 when nothing was loaded.
 * Return: how many entries were loaded (>= 0), -ENOMEM, or -EBUSY / -E2BIG from
 * calc_cache_load(); on any error @c may hold part of the file and must be replaced by a new,
 * empty cache.
 */
int felix_warm_load(struct calc_cache *c, const char *path,
		    int64_t *ret_revision) _warn_unused_result_;

/**
 * felix_warm_save() - write @c (in sync with the datastore at @revision) to @path for the next
 * start: a temporary file beside it (mode 0600), written in full and fsync()ed, then renamed
 * over @path, so a crash leaves the old file or the new one, never half of one.
 * Return: the number of entries written (>= 0), or a negative errno (logged by the caller; the
 * temporary file is removed).
 */
int felix_warm_save(const struct calc_cache *c, const char *path,
		    int64_t revision) _warn_unused_result_;
