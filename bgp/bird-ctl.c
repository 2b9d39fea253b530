/* SPDX-License-Identifier: Apache-2.0 */
/**
 * DOC: BIRD control socket and config check
 *
 * The control socket speaks BIRD's line protocol (BIRD user guide, "Remote control"; reply codes
 * in BIRD's doc/reply_codes): after connecting, BIRD greets with "0001 BIRD x.y.z ready.";
 * every command gets a reply made of lines "DDDD-text" (more follows), " text" (continuation of
 * the previous code) and one last line "DDDD text". 0xxx is success, 1xxx table rows, 2xxx table
 * headings, 8xxx run-time errors, 9xxx command parse errors; lines starting with '+' are
 * spontaneous output and are skipped. One connection serves one command here: felix talks to
 * BIRD rarely, and a fresh connection cannot inherit a half-read reply.
 *
 * Every wait is bounded by one deadline of BIRD_CTL_TIMEOUT_MS per call, and every reply by
 * BIRD_CTL_MAX_REPLY bytes, so a wedged BIRD costs felix at most a few seconds.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bgp/bird-ctl-internal.h"
#include "lib/log.h"
#include "lib/strbuf.h"

#define BIRD_CTL_TIMEOUT_MS 5000
#define BIRD_CTL_MAX_REPLY (16u << 20)
#define BIRD_CTL_MAX_PROTOCOLS 65536
#define BIRD_CHECK_MAX_OUTPUT (64u << 10)

extern char **environ;

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Wait for @events on @fd until @deadline (CLOCK_MONOTONIC ms). Return: 0 or -ETIMEDOUT/-errno. */
static int wait_fd(int fd, short events, int64_t deadline)
{
	for (;;) {
		int64_t left = deadline - now_ms();
		struct pollfd pfd = {.fd = fd, .events = events};
		int r;

		if (left <= 0)
			return -ETIMEDOUT;
		r = poll(&pfd, 1, (int)left);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (r > 0)
			return 0;
	}
}

static void closep(int *fd)
{
	if (*fd >= 0)
		close(*fd);
}
#define _cleanup_close_ _cleanup_(closep)

struct ctl_conn {
	int fd;
	int64_t deadline;
	struct strbuf in; /* received, not yet consumed bytes */
	size_t total;	  /* bytes received for the current reply */
};

static void ctl_conn_done(struct ctl_conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	strbuf_done(&c->in);
}

static int ctl_connect(const char *path, struct ctl_conn *c)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	_cleanup_close_ int fd = -1;

	if (!path || !*path)
		return -EINVAL;
	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* A unix stream connect either completes or fails at once (BIRD's backlog is not a wait). */
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return -errno;
	*c = (struct ctl_conn){.fd = fd, .deadline = now_ms() + BIRD_CTL_TIMEOUT_MS};
	fd = -1;
	return 0;
}

static int ctl_send(struct ctl_conn *c, const char *line)
{
	size_t len = strlen(line), off = 0;

	while (off < len) {
		ssize_t n;
		int r = wait_fd(c->fd, POLLOUT, c->deadline);

		if (r < 0)
			return r;
		n = send(c->fd, line + off, len - off, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			return -errno;
		}
		off += (size_t)n;
	}
	return 0;
}

/* Next line (without '\n') into @line, which stays valid until the next call. */
static int ctl_read_line(struct ctl_conn *c, struct strbuf *line)
{
	for (;;) {
		char *nl = c->in.len ? memchr(c->in.buf, '\n', c->in.len) : NULL;
		char buf[4096];
		ssize_t n;
		int r;

		if (nl) {
			size_t l = (size_t)(nl - c->in.buf);

			strbuf_reset(line);
			r = strbuf_append(line, c->in.buf, l);
			if (r < 0)
				return r;
			memmove(c->in.buf, nl + 1, c->in.len - l - 1);
			c->in.len -= l + 1;
			c->in.buf[c->in.len] = '\0';
			return 0;
		}
		r = wait_fd(c->fd, POLLIN, c->deadline);
		if (r < 0)
			return r;
		n = recv(c->fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			return -errno;
		}
		if (n == 0)
			return -EPROTO; /* BIRD closed the connection in the middle of a reply */
		c->total += (size_t)n;
		if (c->total > BIRD_CTL_MAX_REPLY)
			return -EPROTO;
		r = strbuf_append(&c->in, buf, (size_t)n);
		if (r < 0)
			return r;
	}
}

int bird_ctl_parse_reply_line(const char *line, int prev_code, int *ret_code, bool *ret_final,
			      const char **ret_text)
{
	int code = 0;

	if (line[0] == '+') {
		*ret_code = -1;
		*ret_final = false;
		*ret_text = line + 1;
		return 0;
	}
	if (line[0] == ' ') {
		if (prev_code < 0)
			return -EPROTO;
		*ret_code = prev_code;
		*ret_final = false;
		*ret_text = line + 1;
		return 0;
	}
	for (int i = 0; i < 4; i++) {
		if (line[i] < '0' || line[i] > '9')
			return -EPROTO;
		code = code * 10 + (line[i] - '0');
	}
	if (line[4] != '-' && line[4] != ' ')
		return -EPROTO;
	*ret_code = code;
	*ret_final = line[4] == ' ';
	*ret_text = line + 5;
	return 0;
}

typedef int (*ctl_line_cb)(int code, const char *text, void *userdata);

/* Reads one reply, calling @cb (may be NULL) for every line but spontaneous ones. Return: the
 * final code (>= 0), or -errno. */
static int ctl_read_reply(struct ctl_conn *c, ctl_line_cb cb, void *userdata)
{
	_cleanup_strbuf_ struct strbuf line = {0};
	int prev = -1;

	c->total = 0;
	for (;;) {
		const char *text;
		bool final;
		int code, r;

		r = ctl_read_line(c, &line);
		if (r < 0)
			return r;
		r = bird_ctl_parse_reply_line(strbuf_cstr(&line), prev, &code, &final, &text);
		if (r < 0)
			return r;
		if (code < 0)
			continue;
		prev = code;
		if (cb) {
			r = cb(code, text, userdata);
			if (r < 0)
				return r;
		}
		if (final)
			return code;
	}
}

/* Connects and checks the greeting "0001 BIRD x.y.z ready.". */
static int ctl_open(const char *sock_path, struct ctl_conn *c)
{
	int r = ctl_connect(sock_path, c);

	if (r < 0)
		return r;
	r = ctl_read_reply(c, NULL, NULL);
	if (r < 0 || r != 1) {
		ctl_conn_done(c);
		return r < 0 ? r : -EPROTO;
	}
	return 0;
}

static int collect_text(int code, const char *text, void *userdata)
{
	struct strbuf *sb = userdata;
	int r = 0;

	if (sb->len)
		r = strbuf_puts(sb, "\n");
	if (r >= 0)
		r = strbuf_puts(sb, text);
	return r;
}

static bool path_is_quotable(const char *s)
{
	for (; *s; s++) {
		if ((unsigned char)*s < 0x20 || *s == '"' || *s == '\\' || *s == 0x7f)
			return false;
	}
	return true;
}

int bird_ctl_configure(const char *sock_path, const char *conf_path, char **ret_msg)
{
	_cleanup_strbuf_ struct strbuf cmd = {0}, text = {0};
	struct ctl_conn c = {.fd = -1};
	int r, code;

	if (!conf_path || !*conf_path || !path_is_quotable(conf_path))
		return -EINVAL;
	r = strbuf_printf(&cmd, "configure \"%s\"\n", conf_path);
	if (r < 0)
		return r;
	r = ctl_open(sock_path, &c);
	if (r < 0)
		return r;
	r = ctl_send(&c, strbuf_cstr(&cmd));
	if (r >= 0)
		r = ctl_read_reply(&c, collect_text, &text);
	ctl_conn_done(&c);
	if (r < 0)
		return r;
	code = r;

	switch (code) {
	case 3:	 /* Reconfigured */
	case 4:	 /* Reconfiguration in progress */
	case 5:	 /* Reconfiguration already in progress, queueing */
	case 17: /* Reconfiguration already in progress, removing queued config */
	case 18: /* Reconfiguration confirmed */
	case 19: /* Nothing to do */
	case 20: /* Configuration OK */
		r = 0;
		break;
	case 8002: /* Configuration file error */
		r = -EINVAL;
		break;
	case 8007: /* Access denied */
		r = -EACCES;
		break;
	default: /* 0006 shutting down, 9xxx our command was not understood, anything new */
		r = -EPROTO;
		break;
	}
	if (ret_msg) {
		char *s = strbuf_steal(&text);

		if (!s)
			return -ENOMEM;
		*ret_msg = s;
	}
	return r;
}

static void copy_field(char *dst, size_t size, const char *src, size_t len)
{
	len = MIN(len, size - 1);
	memcpy(dst, src, len);
	dst[len] = '\0';
}

static bool is_date(const char *s, size_t len)
{
	return len == 10 && s[4] == '-' && s[7] == '-';
}

int bird_ctl_parse_protocol_row(const char *text, struct bird_protocol *ret)
{
	struct bird_protocol p = {0};
	struct {
		char *dst;
		size_t size;
	} cols[] = {
	    {p.name, sizeof(p.name)},	{p.proto, sizeof(p.proto)}, {p.table, sizeof(p.table)},
	    {p.state, sizeof(p.state)}, {p.since, sizeof(p.since)},
	};
	const char *s = text;
	size_t len;

	for (size_t i = 0; i < ELEMENTSOF(cols); i++) {
		const char *start;

		s += strspn(s, " \t");
		start = s;
		len = strcspn(s, " \t");
		if (len == 0)
			return -EPROTO;
		s += len;
		/* "timeformat protocol iso long" prints "2026-11-21 10:32:49": keep both words. */
		if (i == 4 && is_date(start, len) && *s == ' ' && s[1] >= '0' && s[1] <= '9' &&
		    s[2] >= '0' && s[2] <= '9' && s[3] == ':')
			s += 1 + strcspn(s + 1, " \t");
		copy_field(cols[i].dst, cols[i].size, start, (size_t)(s - start));
	}
	s += strspn(s, " \t");
	len = strlen(s);
	while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t'))
		len--;
	copy_field(p.info, sizeof(p.info), s, len);
	*ret = p;
	return 0;
}

struct protocols {
	struct bird_protocol *v;
	size_t n, cap;
};

static int collect_protocol(int code, const char *text, void *userdata)
{
	struct protocols *ps = userdata;
	int r;

	if (code != 1002)
		return 0; /* heading (2002), final 0000, errors: judged by the caller */
	if (ps->n == ps->cap) {
		size_t cap = ps->cap ? ps->cap * 2 : 16;
		struct bird_protocol *v;

		if (cap > BIRD_CTL_MAX_PROTOCOLS)
			return -EPROTO;
		v = reallocarray(ps->v, cap, sizeof(*v));
		if (!v)
			return -ENOMEM;
		ps->v = v;
		ps->cap = cap;
	}
	r = bird_ctl_parse_protocol_row(text, &ps->v[ps->n]);
	if (r < 0)
		return r;
	ps->n++;
	return 0;
}

int bird_ctl_show_protocols(const char *sock_path, struct bird_protocol **ret, size_t *ret_n)
{
	struct protocols ps = {0};
	struct ctl_conn c = {.fd = -1};
	int r;

	r = ctl_open(sock_path, &c);
	if (r < 0)
		return r;
	r = ctl_send(&c, "show protocols\n");
	if (r >= 0)
		r = ctl_read_reply(&c, collect_protocol, &ps);
	ctl_conn_done(&c);
	/* 0000 ends a table; 8003 "No protocols match" is an empty table. */
	if (r >= 0 && r != 0 && r != 8003)
		r = -EPROTO;
	if (r < 0) {
		free(ps.v);
		return r;
	}
	*ret = ps.v;
	*ret_n = ps.n;
	return 0;
}

/* Reads @fd to EOF (keeping at most BIRD_CHECK_MAX_OUTPUT bytes) before @deadline. */
static int read_all(int fd, struct strbuf *out, int64_t deadline)
{
	for (;;) {
		char buf[4096];
		ssize_t n;
		int r = wait_fd(fd, POLLIN, deadline);

		if (r < 0)
			return r;
		n = read(fd, buf, sizeof(buf));
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			return -errno;
		}
		if (n == 0)
			return 0;
		if (out->len < BIRD_CHECK_MAX_OUTPUT) {
			r = strbuf_append(out, buf,
					  MIN((size_t)n, BIRD_CHECK_MAX_OUTPUT - out->len));
			if (r < 0)
				return r;
		}
	}
}

static void trim_trailing_space(struct strbuf *sb)
{
	while (sb->len > 0 && (sb->buf[sb->len - 1] == '\n' || sb->buf[sb->len - 1] == ' '))
		sb->buf[--sb->len] = '\0';
}

int bird_ctl_check_config(const char *bird_bin, const char *path, char **ret_msg)
{
	_cleanup_strbuf_ struct strbuf out = {0};
	_cleanup_close_ int rfd = -1;
	posix_spawn_file_actions_t fa;
	const char *bin = bird_bin ? bird_bin : "bird";
	char *argv[] = {(char *)bin, (char *)"-p", (char *)"-c", (char *)path, NULL};
	int fds[2], r, status;
	pid_t pid;

	if (!path || !*path)
		return -EINVAL;
	if (pipe2(fds, O_CLOEXEC) < 0)
		return -errno;
	rfd = fds[0];
	r = posix_spawn_file_actions_init(&fa);
	if (r != 0) {
		close(fds[1]);
		return -r;
	}
	r = posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
	if (r == 0)
		r = posix_spawn_file_actions_adddup2(&fa, fds[1], STDOUT_FILENO);
	if (r == 0)
		r = posix_spawn_file_actions_adddup2(&fa, fds[1], STDERR_FILENO);
	if (r == 0)
		r = posix_spawnp(&pid, bin, &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(fds[1]);
	if (r != 0)
		return -r; /* glibc reports exec failures (ENOENT: no bird binary) here */

	r = read_all(rfd, &out, now_ms() + BIRD_CTL_TIMEOUT_MS);
	if (r < 0)
		kill(pid, SIGKILL);
	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR)
			return -errno;
	}
	if (r < 0)
		return r;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
		return -ENOENT; /* exec failed in the child (old glibc) */
	r = WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -EINVAL;
	if (r < 0)
		log_debug("%s -p -c %s: %s", bin, path, strbuf_cstr(&out));
	if (r < 0 && ret_msg) {
		char *s;

		trim_trailing_space(&out);
		s = strbuf_steal(&out);
		if (!s)
			return -ENOMEM;
		*ret_msg = s;
	}
	return r;
}
