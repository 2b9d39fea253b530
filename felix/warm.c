/* SPDX-License-Identifier: Apache-2.0 */
/*
 * DOC: warm restart, the file side
 *
 * The cache file's bytes are felix/calc/cache-file.c's (pure); this reads and writes them. How
 * the file is used at start (keys-only snapshot, DS_WATCH_KEEP) is in felix/agent.c.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "felix/calc/calc.h"
#include "felix/warm.h"
#include "lib/clock.h"
#include "lib/fileio.h"
#include "lib/log.h"
#include "lib/strbuf.h"

/* Larger than any cache file a felix writes (CALC_CACHE_MAX_ENTRIES entries). */
#define WARM_MAX_FILE_BYTES (1024u * 1024 * 1024)

/*
 * Fill the empty cache @c (its local node set) from the cache file @path. A missing file is no
 * error; a damaged, foreign or outdated one is logged at warning with the reason (path, record,
 * field). *@ret_revision: the datastore revision the file reflects, 0 when nothing was loaded.
 * Return: how many entries were loaded (>= 0), -ENOMEM, or -EINVAL/-ESTALE/-EBUSY/-E2BIG from
 * calc_cache_load() (then @c may hold part of the file and is not to be used).
 */
static int warm_load(struct calc_cache *c, const char *path, int64_t *ret_revision)
{
	_cleanup_(strbuf_donep) struct strbuf sb = {0};
	struct parse_err err = {0};
	char msg[768];
	int r;

	*ret_revision = 0;
	r = file_read(path, WARM_MAX_FILE_BYTES, &sb);
	if (r == -ENOENT)
		return 0;
	if (r == -ENOMEM)
		return r;
	if (r < 0) {
		log_warn("cache file %s: cannot read: %s; starting without it", path, strerror(-r));
		return 0;
	}
	r = calc_cache_load(c, sb.buf, sb.len, path, ret_revision, &err);
	if (r == -EINVAL || r == -ESTALE)
		log_warn("%s; starting without the cache file",
			 parse_err_format(&err, msg, sizeof(msg)));
	if (r < 0) {
		*ret_revision = 0;
		return r;
	}
	return (int)calc_cache_size(c);
}

int felix_warm_save(const struct calc_cache *c, const char *path, int64_t revision)
{
	_cleanup_(strbuf_donep) struct strbuf sb = {0};
	size_t records = 0;
	int r;

	r = calc_cache_save(c, revision, &sb, &records);
	if (r >= 0)
		r = file_write_atomic(path, sb.buf, sb.len, 0600);
	return r < 0 ? r : (int)records;
}

struct felix_warm_load {
	char *path;
	struct calc_cache *cache;
	pthread_t thread;
	bool threaded;
	int r;
	int64_t revision;
	uint64_t ms;
};

static void *warm_load_run(void *userdata)
{
	struct felix_warm_load *l = userdata;
	uint64_t t0 = clock_mono_ms();

	l->r = warm_load(l->cache, l->path, &l->revision);
	l->ms = clock_mono_ms() - t0;
	return NULL;
}

int felix_warm_load_start(const char *path, const char *node, struct felix_warm_load **ret)
{
	struct felix_warm_load *l;
	int r;

	*ret = NULL;
	if (access(path, F_OK) < 0)
		return 0; /* no file: a cold start (an unreadable one is reported by the load) */
	l = calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	l->path = strdup(path);
	r = l->path ? calc_cache_new(&l->cache) : -ENOMEM;
	if (r >= 0)
		r = calc_cache_set_local_node(l->cache, node);
	if (r < 0) {
		calc_cache_free(l->cache);
		free(l->path);
		free(l);
		return r;
	}
	l->threaded = pthread_create(&l->thread, NULL, warm_load_run, l) == 0;
	if (!l->threaded)
		warm_load_run(l);
	*ret = l;
	return 0;
}

int felix_warm_load_finish(struct felix_warm_load *l, struct calc_cache **ret_cache,
			   int64_t *ret_revision, uint64_t *ret_ms)
{
	int r;

	*ret_cache = NULL;
	*ret_revision = 0;
	if (ret_ms)
		*ret_ms = 0;
	if (!l)
		return 0;
	if (l->threaded)
		pthread_join(l->thread, NULL);
	r = l->r;
	if (r > 0) {
		*ret_cache = TAKE_PTR(l->cache);
		*ret_revision = l->revision;
	} else if (r != -ENOMEM) {
		r = 0; /* logged by warm_load(); felix starts cold */
	}
	if (ret_ms)
		*ret_ms = l->ms;
	calc_cache_free(l->cache);
	free(l->path);
	free(l);
	return r;
}
