/* SPDX-License-Identifier: Apache-2.0 */
/*
 * DOC: bird.conf writer.
 *
 * The rendered text is compared byte for byte with the file on disk; nothing happens when they
 * match, so a felix restart does not make BIRD reconfigure (and restart sessions). A new text
 * goes to "<file>.tmp.XXXXXX" in the same directory, is checked with `bird -p -c`, and is renamed
 * over the file only when BIRD accepts it: a config BIRD rejects never replaces a working one.
 * The file is mode 0600 because it may hold BGP passwords; a password given as a file
 * (BGPPeer password.file) is read here, in the I/O layer, into a copy of the model; neither the
 * password nor the file's contents are ever logged.
 * BIRD may not be running yet (the lab starts it after felix wrote the first file): then the
 * file is simply left for BIRD to read at start, and `configure` is retried every
 * DP_BIRD_RETRY_MS.
 *
 * As a driver (felix/dataplane/driver.h): set_desired() renders the text in memory (password
 * files are read there, since the text must carry them); apply() compares it with what the file
 * holds (read from disk on the first apply and after a queued resync, otherwise known from our
 * own last write), and writes, checks and configures only when the bytes differ. BIRD's state
 * for /readiness comes from these results, not from the file system.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bgp/bird-ctl.h"
#include "felix/dataplane/driver.h"
#include "lib/clock.h"
#include "lib/fileio.h"
#include "felix/dataplane/bird/bird.h"
#include "lib/log.h"
#include "lib/strbuf.h"

/* The file's bytes (NUL-terminated), or NULL with errno set when absent or unreadable. */
static char *read_file(const char *path, size_t *ret_len)
{
	struct strbuf sb = {0};
	int r = file_read(path, SIZE_MAX, &sb);
	if (r < 0) {
		strbuf_done(&sb);
		errno = -r;
		return NULL;
	}
	*ret_len = sb.len;
	return strbuf_steal(&sb);
}

static int write_tmp(const char *path, const char *text, size_t len, char **ret_tmp)
{
	char *tmp;
	if (asprintf(&tmp, "%s.tmp.XXXXXX", path) < 0) {
		return -ENOMEM;
	}
	int fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		int r = -errno;
		free(tmp);
		return r;
	}
	size_t off = 0;
	int r = 0;
	while (off < len) {
		ssize_t n = write(fd, text + off, len - off);
		if (n < 0) {
			if (errno == EINTR) {
				continue;
			}
			r = -errno;
			break;
		}
		off += (size_t)n;
	}
	/* bird.conf may hold MD5 passwords: readable by root (BIRD) only. */
	if (r >= 0 && fchmod(fd, 0600) < 0) {
		r = -errno;
	}
	if (r >= 0 && fsync(fd) < 0) {
		r = -errno;
	}
	close(fd);
	if (r < 0) {
		unlink(tmp);
		free(tmp);
		return r;
	}
	*ret_tmp = tmp;
	return 0;
}

#define DP_BIRD_RETRY_MS 2000

struct dp_bird {
	char *conf_path;
	char *binary;
	char *socket;
	char *want; /* rendered text of the desired model; NULL = no model yet */
	size_t want_len;
	char *have; /* what the file holds as far as we know; NULL = unknown/absent */
	size_t have_len;
	bool have_known;	/* @have reflects the file (read or written by us) */
	bool configure_pending; /* the file changed but BIRD has not taken it yet */
	bool told_not_running;	/* "BIRD is not running" was logged at info already */
	char *rejected;		/* the last text BIRD refused (not retried until it changes) */
	enum dp_bird_state state;
	struct dp_bird_counters counters;
	int desired_error; /* set_desired's render failure, reported by apply */
};

int dp_bird_new(const struct dp_bird_config *cfg, struct dp_bird **ret)
{
	_cleanup_(dp_bird_freep) struct dp_bird *b = calloc(1, sizeof(*b));
	if (!b) {
		return -ENOMEM;
	}
	b->conf_path = strdup(cfg->conf_path);
	b->binary = strdup(cfg->binary);
	b->socket = strdup(cfg->socket);
	if (!b->conf_path || !b->binary || !b->socket) {
		return -ENOMEM;
	}
	b->state = DP_BIRD_PENDING;
	*ret = TAKE_PTR(b);
	return 0;
}

struct dp_bird *dp_bird_free(struct dp_bird *b)
{
	if (!b) {
		return NULL;
	}
	free(b->conf_path);
	free(b->binary);
	free(b->socket);
	if (b->want) {
		explicit_bzero(b->want, b->want_len); /* may hold passwords */
	}
	free(b->want);
	if (b->have) {
		explicit_bzero(b->have, b->have_len);
	}
	free(b->have);
	free(b->rejected);
	free(b);
	return NULL;
}

static void set_have(struct dp_bird *b, char *text, size_t len)
{
	if (b->have) {
		explicit_bzero(b->have, b->have_len);
	}
	free(b->have);
	b->have = text;
	b->have_len = len;
	b->have_known = true;
}

/* Password files: the first line of the file, without its line end. Return 0 or -errno. */
static int read_password_file(const char *path, char **ret)
{
	size_t len = 0;
	char *text = read_file(path, &len);
	if (!text) {
		return -errno ? -errno : -EIO;
	}
	text[strcspn(text, "\r\n")] = '\0';
	if (!text[0]) {
		free(text);
		return -ENODATA;
	}
	*ret = text;
	return 0;
}

/* A copy of @m's peers with every password_file read into password (@ret_pw holds the strings
 * to wipe and free, one per peer, NULL when unused). */
static int resolve_passwords(const struct bgp_model *m, struct bgp_peer **ret_peers, char ***ret_pw)
{
	struct bgp_peer *peers = NULL;
	char **pw = NULL;
	bool any = false;
	for (size_t i = 0; i < m->n_peers; i++) {
		if (m->peers[i].password_file && !m->peers[i].password) {
			any = true;
		}
	}
	*ret_peers = NULL;
	*ret_pw = NULL;
	if (!any) {
		return 0;
	}
	peers = calloc(m->n_peers, sizeof(*peers));
	pw = calloc(m->n_peers, sizeof(*pw));
	if (!peers || !pw) {
		free(peers);
		free(pw);
		return -ENOMEM;
	}
	memcpy(peers, m->peers, m->n_peers * sizeof(*peers));
	int r = 0;
	for (size_t i = 0; i < m->n_peers && r >= 0; i++) {
		if (!peers[i].password_file || peers[i].password) {
			continue;
		}
		errno = 0;
		r = read_password_file(peers[i].password_file, &pw[i]);
		if (r < 0) {
			char name[96];
			log_error_errno(r, "cannot read the BGP password of %s from %s: %m",
					bird_conf_peer_name(&peers[i], name, sizeof(name)),
					peers[i].password_file);
			break;
		}
		peers[i].password = pw[i];
	}
	*ret_peers = peers;
	*ret_pw = pw;
	return r;
}

static void passwords_free(char **pw, size_t n)
{
	for (size_t i = 0; pw && i < n; i++) {
		if (pw[i]) {
			explicit_bzero(pw[i], strlen(pw[i]));
			free(pw[i]);
		}
	}
	free(pw);
}

int dp_bird_set_desired(struct dp_bird *b, const struct bgp_model *model)
{
	_cleanup_strbuf_ struct strbuf sb = {0};
	_cleanup_free_ struct bgp_peer *peers = NULL;
	char **pw = NULL;
	int r;

	if (!model) {
		return 0; /* no model yet: keep whatever the file holds */
	}
	struct bgp_model copy = *model;
	r = resolve_passwords(model, &peers, &pw);
	if (peers) {
		copy.peers = peers;
	}
	if (r >= 0) {
		r = bird_conf_render(&copy, &sb);
		if (r < 0) {
			log_error_errno(r, "cannot render bird.conf (keeping the running one): %m");
		}
	}
	passwords_free(pw, model->n_peers);
	b->desired_error = r < 0 ? r : 0;
	if (r < 0) {
		return r; /* logged; keep the running config and its session protection */
	}
	if (b->want && b->want_len == sb.len && memcmp(b->want, sb.buf, sb.len) == 0) {
		return 0;
	}
	if (b->want) {
		explicit_bzero(b->want, b->want_len);
	}
	free(b->want);
	b->want_len = sb.len;
	b->want = strbuf_steal(&sb);
	return b->want ? 1 : -ENOMEM;
}

static int configure(struct dp_bird *b)
{
	_cleanup_free_ char *msg = NULL;
	int r = bird_ctl_configure(b->socket, b->conf_path, &msg);
	if (r >= 0) {
		b->configure_pending = false;
		b->told_not_running = false;
		b->counters.reconfigured++;
		log_info("BIRD reconfigured from %s", b->conf_path);
		return 0;
	}
	if (r == -ECONNREFUSED || r == -ENOENT) {
		/* Said once at info; the retries are quiet. */
		log_internal(b->told_not_running ? LOG_LEVEL_DEBUG : LOG_LEVEL_INFO, 0,
			     "BIRD is not running on %s yet; it will read %s when it starts",
			     b->socket, b->conf_path);
		b->told_not_running = true;
		return 1;
	}
	if (r == -EINVAL) {
		log_error("BIRD refused to reconfigure from %s: %s", b->conf_path,
			  msg ? msg : "no reason given");
		b->configure_pending = false;
		b->counters.rejected++;
		return r;
	}
	log_warn_errno(r, "BIRD configure on %s failed, will retry: %m", b->socket);
	return 1;
}

/* Write @b->want beside the file, check it with `bird -p`, rename it over the file. */
static int write_checked(struct dp_bird *b)
{
	_cleanup_free_ char *tmp = NULL, *msg = NULL;
	int r = write_tmp(b->conf_path, b->want, b->want_len, &tmp);
	if (r < 0) {
		return log_error_errno(r, "cannot write a temporary file beside %s: %m",
				       b->conf_path);
	}
	r = bird_ctl_check_config(b->binary, tmp, &msg);
	if (r < 0) {
		unlink(tmp);
		if (r == -EINVAL) {
			free(b->rejected);
			b->rejected = strdup(b->want);
			b->counters.rejected++;
			log_error("BIRD rejects the rendered config, keeping %s: %s", b->conf_path,
				  msg ? msg : "no reason given");
			return r;
		}
		return log_error_errno(r, "cannot run %s -p: %m", b->binary);
	}
	if (rename(tmp, b->conf_path) < 0) {
		r = -errno;
		unlink(tmp);
		return log_error_errno(r, "cannot rename the new config over %s: %m", b->conf_path);
	}
	free(b->rejected);
	b->rejected = NULL;
	char *copy = malloc(b->want_len + 1);
	if (copy) {
		memcpy(copy, b->want, b->want_len + 1);
		set_have(b, copy, b->want_len);
	} else {
		set_have(b, NULL, 0);
		b->have_known = false;
	}
	log_info("wrote %s (%zu bytes)", b->conf_path, b->want_len);
	b->configure_pending = true;
	return 0;
}

/* 0 in place and told, 1 BIRD not reachable (retry), or a negative errno. */
static int bird_apply_once(struct dp_bird *b, unsigned *changed)
{
	if (b->desired_error < 0) {
		return b->desired_error;
	}
	if (!b->want) {
		return 0;
	}
	if (!b->have_known) {
		size_t len = 0;
		char *cur = read_file(b->conf_path, &len);
		set_have(b, cur, len);
	}
	if (!(b->have && b->have_len == b->want_len &&
	      memcmp(b->have, b->want, b->want_len) == 0)) {
		if (b->rejected && strcmp(b->rejected, b->want) == 0) {
			return -EINVAL;
		}
		int r = write_checked(b);
		if (r < 0) {
			return r;
		}
		(*changed)++;
	}
	if (!b->configure_pending) {
		return 0;
	}
	int r = configure(b);
	if (r == 0) {
		(*changed)++;
	}
	return r;
}

static int64_t bird_apply(void *d, uint64_t now_ms, struct dp_stats *st)
{
	struct dp_bird *b = d;
	unsigned changed = 0;
	uint64_t t0 = clock_mono_us();
	int r = bird_apply_once(b, &changed);

	st->applies++;
	st->objects_changed += changed;
	st->last_duration_us = clock_mono_us() - t0;
	st->pending = r == 1;
	st->in_sync = r == 0 && b->want;
	st->last_error = r < 0 ? r : 0;
	if (r < 0) {
		st->errors++;
		snprintf(st->error, sizeof(st->error), "%s",
			 r == -EINVAL ? "BIRD rejected the rendered configuration"
				      : "bird.conf could not be rendered or written");
	} else if (r == 1) {
		snprintf(st->error, sizeof(st->error), "BIRD is not running on %s", b->socket);
	} else {
		st->error[0] = '\0';
		st->last_ok_ms = now_ms;
	}
	if (!b->want && r == 0) {
		b->state = DP_BIRD_PENDING;
	} else if (r == 0) {
		b->state = DP_BIRD_OK;
	} else if (r == 1) {
		b->state = DP_BIRD_NOT_RUNNING;
	} else if (r == -EINVAL) {
		b->state = DP_BIRD_REJECTED;
	} else {
		b->state = DP_BIRD_ERROR;
	}
	/* BIRD not reachable: it reads the file when it starts; tell it again in a while. A
	 * render/write error is retried at the same pace (a password file may appear). */
	return r == 0 || r == -EINVAL ? DP_IDLE : DP_BIRD_RETRY_MS;
}

static void bird_queue_resync(void *d)
{
	struct dp_bird *b = d;
	b->have_known = false; /* re-read the file: someone may have edited it */
}

static void bird_free(void *d)
{
	dp_bird_free(d);
}

const struct dp_driver_ops dp_bird_ops = {
    .name = "bird",
    .apply = bird_apply,
    .queue_resync = bird_queue_resync,
    .free = bird_free,
};

enum dp_bird_state dp_bird_state(const struct dp_bird *b)
{
	return b ? b->state : DP_BIRD_PENDING;
}

struct dp_bird_counters dp_bird_counters(const struct dp_bird *b)
{
	return b ? b->counters : (struct dp_bird_counters){0};
}
