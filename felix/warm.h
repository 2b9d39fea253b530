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

struct felix_warm_load;

/**
 * felix_warm_load_start() - felix_warm_load() of @path into a new cache for node @node, on a
 * thread of its own, so that it runs while felix sets up and etcd lists the keys (the listing
 * needs the cache only when its first page arrives). No file: *@ret is NULL and nothing runs.
 * When no thread can be started the load runs now, on the caller's thread.
 * Return: 0 (*@ret set, or NULL for no file) or -ENOMEM.
 */
int felix_warm_load_start(const char *path, const char *node,
			  struct felix_warm_load **ret) _warn_unused_result_;

/**
 * felix_warm_load_finish() - wait for @l's load to end and free @l. NULL-safe (returns 0).
 * @ret_cache: the loaded cache (the caller frees it), or NULL when the file was damaged,
 * foreign or empty (already logged at warning).
 * @ret_revision: the revision the file reflects (0 with no cache). @ret_ms: may be NULL; how
 * long the load took on its thread, in ms.
 * Return: the number of entries loaded (> 0 with a cache), 0 without one, or -ENOMEM.
 */
int felix_warm_load_finish(struct felix_warm_load *l, struct calc_cache **ret_cache,
			   int64_t *ret_revision, uint64_t *ret_ms);
