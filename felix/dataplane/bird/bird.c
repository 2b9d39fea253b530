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
 * file is simply left for BIRD to read at start, and `configure` is retried on the next apply.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bgp/bird-ctl.h"
#include "felix/dataplane/bird/bird.h"
#include "lib/log.h"
#include "lib/strbuf.h"

/* The current file's bytes, or NULL when absent/unreadable. */
static char *read_file(const char *path, size_t *ret_len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		return NULL;
	}
	struct strbuf sb = {0};
	char buf[8192];
	ssize_t n;
	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		if (strbuf_append(&sb, buf, (size_t)n) < 0) {
			close(fd);
			strbuf_done(&sb);
			return NULL;
		}
	}
	close(fd);
	if (n < 0) {
		strbuf_done(&sb);
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

static int configure(struct felix_bird *b)
{
	_cleanup_free_ char *msg = NULL;
	int r = bird_ctl_configure(b->socket, b->conf_path, &msg);
	if (r >= 0) {
		b->configure_pending = false;
		b->told_not_running = false;
		log_info("BIRD reconfigured from %s", b->conf_path);
		return 0;
	}
	if (r == -ECONNREFUSED || r == -ENOENT) {
		/* Said once at info; the retries at each apply are quiet. */
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
		return r;
	}
	log_warn_errno(r, "BIRD configure on %s failed, will retry: %m", b->socket);
	return 1;
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

int felix_bird_apply(struct felix_bird *b, const struct bgp_model *model)
{
	_cleanup_strbuf_ struct strbuf sb = {0};
	_cleanup_free_ char *cur = NULL, *tmp = NULL, *msg = NULL;
	_cleanup_free_ struct bgp_peer *peers = NULL;
	char **pw = NULL;
	struct bgp_model copy = *model;
	const struct bgp_model *m = &copy;
	size_t cur_len = 0;
	int r;

	r = resolve_passwords(model, &peers, &pw);
	if (peers) {
		copy.peers = peers;
	}
	if (r >= 0) {
		r = bird_conf_render(m, &sb);
	} else {
		/* logged; keep the running config rather than drop the session's protection */
		passwords_free(pw, model->n_peers);
		return r;
	}
	passwords_free(pw, model->n_peers);
	if (r < 0) {
		return log_error_errno(r, "cannot render bird.conf (keeping the running one): %m");
	}
	const char *text = strbuf_cstr(&sb);
	cur = read_file(b->conf_path, &cur_len);
	if (cur && cur_len == sb.len && memcmp(cur, text, sb.len) == 0) {
		return b->configure_pending ? configure(b) : 0;
	}
	if (b->rejected && strcmp(b->rejected, text) == 0) {
		return -EINVAL;
	}

	r = write_tmp(b->conf_path, text, sb.len, &tmp);
	if (r < 0) {
		return log_error_errno(r, "cannot write a temporary file beside %s: %m",
				       b->conf_path);
	}
	r = bird_ctl_check_config(b->binary, tmp, &msg);
	if (r < 0) {
		unlink(tmp);
		if (r == -EINVAL) {
			free(b->rejected);
			b->rejected = strdup(text);
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
	log_info("wrote %s (%zu bytes, %zu peers, %zu blocks)", b->conf_path, sb.len, m->n_peers,
		 m->n_blocks);
	b->configure_pending = true;
	return configure(b);
}

void felix_bird_done(struct felix_bird *b)
{
	free(b->rejected);
	b->rejected = NULL;
}
