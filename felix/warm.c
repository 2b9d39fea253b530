/* SPDX-License-Identifier: Apache-2.0 */
/*
 * DOC: warm restart, the file side
 *
 * The cache file's bytes are felix/calc/cache-file.c's (pure); this reads and writes them. How
 * the file is used at start (keys-only snapshot, DS_WATCH_KEEP) is in felix/agent.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "felix/calc/calc.h"
#include "felix/warm.h"
#include "lib/clock.h"
#include "lib/log.h"
#include "lib/strbuf.h"

/* Larger than any cache file a felix writes (CALC_CACHE_MAX_ENTRIES entries). */
#define WARM_MAX_FILE_BYTES (1024ull * 1024 * 1024)

static int read_all(int fd, struct strbuf *out)
{
	struct stat st;

	if (fstat(fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode))
		return -EINVAL;
	if ((unsigned long long)st.st_size > WARM_MAX_FILE_BYTES)
		return -EFBIG;
	for (;;) {
		char buf[65536];
		ssize_t n = read(fd, buf, sizeof(buf));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return 0;
		if (out->len + (size_t)n > WARM_MAX_FILE_BYTES)
			return -EFBIG;
		int r = strbuf_append(out, buf, (size_t)n);
		if (r < 0)
			return r;
	}
}

int felix_warm_load(struct calc_cache *c, const char *path, int64_t *ret_revision)
{
	_cleanup_(strbuf_donep) struct strbuf sb = {0};
	struct parse_err err = {0};
	char msg[768];
	int fd, r;

	*ret_revision = 0;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		if (errno != ENOENT)
			log_warn("cache file %s: cannot open: %m; starting without it", path);
		return 0;
	}
	r = read_all(fd, &sb);
	close(fd);
	if (r == -ENOMEM)
		return r;
	if (r < 0) {
		log_warn("cache file %s: cannot read: %s; starting without it", path, strerror(-r));
		return 0;
	}
	r = calc_cache_load(c, sb.buf, sb.len, path, ret_revision, &err);
	if (r == -EINVAL || r == -ESTALE) {
		log_warn("%s; starting without the cache file",
			 parse_err_format(&err, msg, sizeof(msg)));
		*ret_revision = 0;
		return r;
	}
	if (r < 0) {
		*ret_revision = 0;
		return r;
	}
	return (int)calc_cache_size(c);
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

int felix_warm_save(const struct calc_cache *c, const char *path, int64_t revision)
{
	_cleanup_(strbuf_donep) struct strbuf sb = {0};
	_cleanup_free_ char *tmp = NULL;
	size_t records = 0;
	int fd, r;

	r = calc_cache_save(c, revision, &sb, &records);
	if (r < 0)
		return r;
	if (asprintf(&tmp, "%s.tmp", path) < 0) {
		tmp = NULL;
		return -ENOMEM;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return -errno;
	r = write_all(fd, sb.buf, sb.len);
	if (r >= 0 && fsync(fd) < 0)
		r = -errno;
	if (close(fd) < 0 && r >= 0)
		r = -errno;
	if (r >= 0 && rename(tmp, path) < 0)
		r = -errno;
	if (r < 0) {
		unlink(tmp);
		return r;
	}
	return (int)records;
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

	l->r = felix_warm_load(l->cache, l->path, &l->revision);
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
		r = 0; /* logged by felix_warm_load(); felix starts cold */
	}
	if (ret_ms)
		*ret_ms = l->ms;
	calc_cache_free(l->cache);
	free(l->path);
	free(l);
	return r;
}
