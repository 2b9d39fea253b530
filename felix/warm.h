/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <stdint.h>

#include "lib/macro.h"

struct calc_cache;

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
 * felix_warm_load_start() - load the cache file @path (written by felix_warm_save() on node
 * @node) into a new cache, on a thread of its own, so that it runs while felix sets up and etcd
 * lists the keys (the listing needs the cache only when its first page arrives). A damaged,
 * foreign or outdated file is logged at warning then (path, record, byte offset, field) and
 * loads nothing. No file: *@ret is NULL and nothing runs.
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
