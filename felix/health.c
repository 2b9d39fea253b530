/* SPDX-License-Identifier: Apache-2.0 */
/*
 * DOC: tabby-felix health status and HTTP endpoints (semantics in felix/health.h).
 *
 * The agent's loop is single-threaded (STYLE.md 5.8; a restart's two helper threads, the
 * snapshot decoder of felix/decode-ahead.c and the nftables listing of nft-table.c, touch only
 * memory of their own until the loop joins them, and never run the loop), so libmicrohttpd
 * runs in its external epoll mode, as tabby-docker does: we create each listening socket
 * ourselves (for a real errno and SOCK_CLOEXEC), hand it to MHD_start_daemon(MHD_USE_EPOLL),
 * and put the daemons' epoll fds into one epoll set of our own that the agent polls beside its
 * signalfd and netlink monitor. MHD_run() never blocks in this mode. The agent polls that fd in
 * its one poll() with the datastore watch's sockets, so a probe is answered as soon as it
 * arrives.
 *
 * Handlers only read struct felix_health / felix_metrics; the only I/O at request time is
 * what a probe must observe now: a connect() to BIRD's control socket, the policy status file
 * when policy is failing, and /proc/self for the process metrics.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "datastore/datastore.h"
#include "felix/health.h"
#include "lib/clock.h"
#include "lib/log.h"
#include "lib/strbuf.h"

#define FELIX_HEALTH_BIND_RETRY_MS 5000
#define FELIX_HEALTH_MAX_CONNECTIONS 32
#define FELIX_HEALTH_CONN_TIMEOUT_S 10
#define FELIX_HEALTH_STATUS_MAX 65536

void felix_health_init(struct felix_health *h, const struct felix_config *cfg)
{
	*h = (struct felix_health){
	    .loop_ms = clock_mono_ms(),
	    .bird_socket = cfg->bird_socket,
	    .status_file = cfg->status_file,
	};
}

void felix_health_note_routes(struct felix_health *h, struct felix_metrics *m,
			      const struct dp_stats *st, size_t n_routes)
{
	m->apply_errors_total = st->errors;
	if (st->last_error < 0) {
		h->dataplane = FELIX_DATAPLANE_ERROR;
		return;
	}
	if (st->applies == 0) {
		return;
	}
	h->dataplane = FELIX_DATAPLANE_OK;
	m->routes_pending = st->pending;
	m->routes_programmed = n_routes > st->pending ? n_routes - st->pending : 0;
}

void felix_health_note_policy(struct felix_health *h, struct felix_metrics *m,
			      const struct dp_stats *st)
{
	m->policy_errors_total = st->errors;
	if (st->applies == 0) {
		return;
	}
	h->policy_applied = true;
	h->policy_error = st->last_error;
}

void felix_health_note_bird(struct felix_health *h, struct felix_metrics *m,
			    const struct dp_bird *b)
{
	static const enum felix_bgp_state map[] = {
	    [DP_BIRD_PENDING] = FELIX_BGP_PENDING,
	    [DP_BIRD_OK] = FELIX_BGP_OK,
	    [DP_BIRD_NOT_RUNNING] = FELIX_BGP_NOT_RUNNING,
	    [DP_BIRD_REJECTED] = FELIX_BGP_REJECTED,
	    [DP_BIRD_ERROR] = FELIX_BGP_ERROR,
	};
	enum dp_bird_state s = dp_bird_state(b);
	struct dp_bird_counters c = dp_bird_counters(b);
	h->bgp = (size_t)s < ELEMENTSOF(map) ? map[s] : FELIX_BGP_ERROR;
	m->bird_reconfigure_total = c.reconfigured;
	m->bird_config_rejected_total = c.rejected;
}

void felix_health_note_driver(struct felix_health *h, struct felix_metrics *m, const char *name,
			      const struct dp_stats *st)
{
	struct felix_driver_health *dh = NULL;
	for (size_t i = 0; i < ELEMENTSOF(h->drivers) && !dh; i++) {
		if (!h->drivers[i].name || strcmp(h->drivers[i].name, name) == 0) {
			dh = &h->drivers[i];
		}
	}
	if (!dh) {
		return;
	}
	if (strcmp(name, "nat") == 0) {
		m->nat_errors_total = st->errors;
	} else if (strcmp(name, "vxlan") == 0) {
		m->vxlan_errors_total = st->errors;
	}
	dh->name = name;
	/* last_ok_ms: an apply that found nothing to change still succeeded */
	if (st->last_ok_ms == 0 && st->last_error == 0) {
		return;
	}
	dh->applied = true;
	dh->in_sync = st->in_sync;
	dh->last_error = st->last_error;
	snprintf(dh->error, sizeof(dh->error), "%s", st->error);
}

/* ---- request handling ---- */

struct listener {
	struct felix_health_server *server;
	char host[INET6_ADDRSTRLEN];
	uint16_t port;
	bool health;
	bool metrics;
	struct MHD_Daemon *mhd;
	int mhd_epfd;
	uint64_t next_bind_ms;
	bool told_bind_failure;
};

struct felix_health_server {
	const struct felix_health *h;
	const struct felix_metrics *m;
	int epfd;
	struct listener l[2];
	size_t n;
};

static bool bird_reachable(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (!path || strlen(path) >= sizeof(sa.sun_path)) {
		return false;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		return false;
	}
	/* A full backlog (EAGAIN) still means BIRD is there. */
	bool ok = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 || errno == EAGAIN;
	close(fd);
	return ok;
}

static const char *bgp_name(enum felix_bgp_state s)
{
	switch (s) {
	case FELIX_BGP_OK:
		return "ok";
	case FELIX_BGP_NOT_RUNNING:
		return "not-running";
	case FELIX_BGP_REJECTED:
		return "rejected";
	case FELIX_BGP_ERROR:
		return "error";
	case FELIX_BGP_PENDING:
		break;
	}
	return "pending";
}

static const char *dataplane_name(enum felix_dataplane_state s)
{
	return s == FELIX_DATAPLANE_OK ? "ok" : s == FELIX_DATAPLANE_ERROR ? "error" : "pending";
}

/* The "policy" object of the status file when it says ok:false (it names the policy and the
 * reason), else NULL. */
static struct json_object *policy_status(const char *path)
{
	char buf[FELIX_HEALTH_STATUS_MAX];
	if (!path) {
		return NULL;
	}
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		return NULL;
	}
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0) {
		return NULL;
	}
	buf[n] = '\0';
	struct json_object *root = json_tokener_parse(buf), *pol, *ok;
	struct json_object *ret = NULL;
	if (root && json_object_object_get_ex(root, "policy", &pol) &&
	    json_object_is_type(pol, json_type_object) &&
	    json_object_object_get_ex(pol, "ok", &ok) && !json_object_get_boolean(ok)) {
		ret = json_object_get(pol);
	}
	json_object_put(root);
	return ret;
}

/* Return the HTTP status; *ret_body is a malloc'ed JSON text. */
static int readiness(const struct felix_health *h, uint64_t now, char **ret_body)
{
	bool live = now - h->loop_ms <= FELIX_LIVENESS_TIMEOUT_MS;
	bool ds = h->watch && ds_watch_in_sync(h->watch);
	enum felix_bgp_state bgp = h->bgp;
	/* BIRD reads the file we left when it starts, so "not running" ends when it runs. */
	if (bgp == FELIX_BGP_OK || bgp == FELIX_BGP_NOT_RUNNING) {
		bgp = bird_reachable(h->bird_socket) ? FELIX_BGP_OK : FELIX_BGP_NOT_RUNNING;
	}
	bool policy_ok = h->policy_applied && h->policy_error == 0;
	bool drivers_ok = true;
	struct json_object *drv = json_object_new_object();
	for (size_t i = 0; i < ELEMENTSOF(h->drivers) && h->drivers[i].name; i++) {
		const struct felix_driver_health *dh = &h->drivers[i];
		struct json_object *d = json_object_new_object();
		drivers_ok &= dh->last_error == 0;
		json_object_object_add(d, "applied", json_object_new_boolean(dh->applied));
		json_object_object_add(d, "inSync", json_object_new_boolean(dh->in_sync));
		if (dh->last_error < 0 || dh->error[0]) {
			json_object_object_add(
			    d, "error",
			    json_object_new_string(dh->error[0] ? dh->error
								: strerror(-dh->last_error)));
		}
		json_object_object_add(drv, dh->name, d);
	}
	bool ready = live && ds && h->dataplane == FELIX_DATAPLANE_OK && bgp == FELIX_BGP_OK &&
		     policy_ok && drivers_ok;

	struct json_object *o = json_object_new_object();
	struct json_object *pol = policy_ok ? NULL : policy_status(h->status_file);
	if (!pol) {
		pol = json_object_new_object();
		json_object_object_add(pol, "ok", json_object_new_boolean(policy_ok));
		if (!policy_ok) {
			json_object_object_add(
			    pol, "error",
			    json_object_new_string(h->policy_applied ? strerror(-h->policy_error)
								     : "not applied yet"));
		}
	}
	json_object_object_add(o, "ready", json_object_new_boolean(ready));
	json_object_object_add(o, "live", json_object_new_boolean(live));
	json_object_object_add(o, "datastore", json_object_new_string(ds ? "in-sync" : "syncing"));
	if (h->watch) {
		/* Which etcd member the watch uses and why it last failed over (ds_watch_status). */
		struct ds_watch_status ws = {0};
		ds_watch_status(h->watch, &ws);
		struct json_object *w = json_object_new_object();
		json_object_object_add(w, "endpoint",
				       json_object_new_string(ws.endpoint ? ws.endpoint : ""));
		json_object_object_add(w, "revision", json_object_new_int64(ws.revision));
		json_object_object_add(w, "failovers",
				       json_object_new_int64((int64_t)ws.failovers));
		json_object_object_add(w, "lastError",
				       json_object_new_string(ws.reason ? ws.reason : ""));
		json_object_object_add(o, "datastoreWatch", w);
	}
	json_object_object_add(o, "dataplane",
			       json_object_new_string(dataplane_name(h->dataplane)));
	json_object_object_add(o, "bgp", json_object_new_string(bgp_name(bgp)));
	json_object_object_add(o, "policy", pol);
	json_object_object_add(o, "drivers", drv);
	if (asprintf(ret_body, "%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN)) <
	    0) {
		*ret_body = NULL;
	}
	json_object_put(o);
	return ready ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE;
}

static int liveness(const struct felix_health *h, uint64_t now, char **ret_body)
{
	uint64_t age = now - h->loop_ms;
	bool live = age <= FELIX_LIVENESS_TIMEOUT_MS;
	if (asprintf(ret_body, "{\"live\":%s,\"loopAgeMs\":%llu}\n", live ? "true" : "false",
		     (unsigned long long)age) < 0) {
		*ret_body = NULL;
	}
	return live ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE;
}

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned status, char *body,
			     const char *type)
{
	if (!body) {
		return MHD_NO;
	}
	struct MHD_Response *resp =
	    MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_FREE);
	if (!resp) {
		free(body);
		return MHD_NO;
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	enum MHD_Result ret = MHD_queue_response(conn, status, resp);
	MHD_destroy_response(resp);
	return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version, const char *upload,
				  size_t *upload_size, void **con_cls)
{
	static int first_call;
	const struct listener *l = cls;
	const struct felix_health_server *s = l->server;
	char *body = NULL;

	/* First call: headers only. Bodies are not wanted on any path: drop them. */
	if (!*con_cls) {
		*con_cls = &first_call;
		return MHD_YES;
	}
	if (*upload_size) {
		*upload_size = 0;
		return MHD_YES;
	}
	if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0) {
		return reply(conn, MHD_HTTP_METHOD_NOT_ALLOWED, strdup("only GET and HEAD\n"),
			     "text/plain; charset=utf-8");
	}
	uint64_t now = clock_mono_ms();
	if (l->health && strcmp(url, "/liveness") == 0) {
		int st = liveness(s->h, now, &body);
		return reply(conn, (unsigned)st, body, "application/json");
	}
	if (l->health && strcmp(url, "/readiness") == 0) {
		int st = readiness(s->h, now, &body);
		return reply(conn, (unsigned)st, body, "application/json");
	}
	if (l->metrics && strcmp(url, "/metrics") == 0) {
		struct strbuf sb = {0};
		bool in_sync = s->h->watch && ds_watch_in_sync(s->h->watch);
		if (felix_metrics_render(s->m, in_sync, &sb) < 0) {
			strbuf_done(&sb);
			return MHD_NO;
		}
		body = strbuf_steal(&sb);
		return reply(conn, MHD_HTTP_OK, body, "text/plain; version=0.0.4; charset=utf-8");
	}
	return reply(conn, MHD_HTTP_NOT_FOUND, strdup("not found\n"), "text/plain; charset=utf-8");
}

/* ---- listeners ---- */

static int listen_socket(const char *host, uint16_t port)
{
	struct sockaddr_storage ss = {0};
	socklen_t len;
	struct sockaddr_in *in4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
	int family;

	if (inet_pton(AF_INET, host, &in4->sin_addr) == 1) {
		family = in4->sin_family = AF_INET;
		in4->sin_port = htons(port);
		len = sizeof(*in4);
	} else if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
		family = in6->sin6_family = AF_INET6;
		in6->sin6_port = htons(port);
		len = sizeof(*in6);
	} else {
		return -EINVAL;
	}
	int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		return -errno;
	}
	int one = 1;
	/* A restarted felix must rebind while the old one's connections sit in TIME_WAIT. */
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (family == AF_INET6) {
		(void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	}
	if (bind(fd, (struct sockaddr *)&ss, len) < 0 || listen(fd, 64) < 0) {
		int r = -errno;
		close(fd);
		return r;
	}
	return fd;
}

static const char *listener_paths(const struct listener *l)
{
	return l->health && l->metrics ? "/liveness, /readiness and /metrics"
	       : l->health	       ? "/liveness and /readiness"
				       : "/metrics";
}

static void listener_stop(struct felix_health_server *s, struct listener *l)
{
	if (l->mhd) {
		(void)epoll_ctl(s->epfd, EPOLL_CTL_DEL, l->mhd_epfd, NULL);
		MHD_stop_daemon(l->mhd); /* closes the listening socket too */
		l->mhd = NULL;
		l->mhd_epfd = -1;
	}
}

static void listener_start(struct felix_health_server *s, struct listener *l, uint64_t now)
{
	int fd = listen_socket(l->host, l->port);
	int r = fd;
	if (fd >= 0) {
		l->mhd = MHD_start_daemon(MHD_USE_EPOLL, 0, NULL, NULL, on_request, l,
					  MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_CONNECTION_LIMIT,
					  (unsigned)FELIX_HEALTH_MAX_CONNECTIONS,
					  MHD_OPTION_CONNECTION_TIMEOUT,
					  (unsigned)FELIX_HEALTH_CONN_TIMEOUT_S, MHD_OPTION_END);
		const union MHD_DaemonInfo *info =
		    l->mhd ? MHD_get_daemon_info(l->mhd, MHD_DAEMON_INFO_EPOLL_FD) : NULL;
		struct epoll_event ev = {.events = EPOLLIN, .data.ptr = l};
		if (info && epoll_ctl(s->epfd, EPOLL_CTL_ADD, info->epoll_fd, &ev) == 0) {
			l->mhd_epfd = info->epoll_fd;
			log_info("serving %s on %s%s%s:%u", listener_paths(l),
				 strchr(l->host, ':') ? "[" : "", l->host,
				 strchr(l->host, ':') ? "]" : "", l->port);
			l->told_bind_failure = false;
			return;
		}
		r = -EIO;
		if (l->mhd) {
			MHD_stop_daemon(l->mhd);
			l->mhd = NULL;
		} else {
			close(fd);
		}
	}
	log_internal(l->told_bind_failure ? LOG_LEVEL_DEBUG : LOG_LEVEL_ERROR, r,
		     "cannot serve %s on %s port %u, retrying every %d s: %m", listener_paths(l),
		     l->host, l->port, FELIX_HEALTH_BIND_RETRY_MS / 1000);
	l->told_bind_failure = true;
	l->next_bind_ms = now + FELIX_HEALTH_BIND_RETRY_MS;
}

int felix_health_server_new(const struct felix_config *cfg, const struct felix_health *h,
			    const struct felix_metrics *m, struct felix_health_server **ret)
{
	struct felix_health_server *s = calloc(1, sizeof(*s));
	if (!s) {
		return -ENOMEM;
	}
	s->h = h;
	s->m = m;
	s->epfd = -1;
	if (cfg->health_enabled) {
		struct listener *l = &s->l[s->n++];
		snprintf(l->host, sizeof(l->host), "%s", cfg->health_host);
		l->port = cfg->health_port;
		l->health = true;
	}
	if (cfg->prometheus_metrics_enabled) {
		struct listener *l = &s->l[s->n++];
		snprintf(l->host, sizeof(l->host), "%s", cfg->prometheus_metrics_host);
		l->port = cfg->prometheus_metrics_port;
		l->metrics = true;
		/* The same address and port: one listener serves everything. */
		if (s->n == 2 && s->l[0].port == l->port && strcmp(s->l[0].host, l->host) == 0) {
			s->l[0].metrics = true;
			s->n = 1;
		}
	}
	if (s->n > 0) {
		s->epfd = epoll_create1(EPOLL_CLOEXEC);
		if (s->epfd < 0) {
			int r = -errno;
			free(s);
			return r;
		}
	}
	uint64_t now = clock_mono_ms();
	for (size_t i = 0; i < s->n; i++) {
		s->l[i].server = s;
		s->l[i].mhd_epfd = -1;
		listener_start(s, &s->l[i], now);
	}
	*ret = s;
	return 0;
}

int felix_health_server_fd(const struct felix_health_server *s)
{
	return s ? s->epfd : -1;
}

int felix_health_server_timeout_ms(const struct felix_health_server *s, uint64_t now_ms)
{
	if (!s || s->n == 0) {
		return -1;
	}
	int64_t t = -1;
	for (size_t i = 0; i < s->n; i++) {
		MHD_UNSIGNED_LONG_LONG mt;
		int64_t li = -1;
		if (!s->l[i].mhd) {
			li = s->l[i].next_bind_ms > now_ms
				 ? (int64_t)(s->l[i].next_bind_ms - now_ms)
				 : 0;
		} else if (MHD_get_timeout(s->l[i].mhd, &mt) == MHD_YES) {
			li = mt > INT32_MAX ? INT32_MAX : (int64_t)mt;
		}
		if (li >= 0 && (t < 0 || li < t)) {
			t = li;
		}
	}
	return (int)t;
}

void felix_health_server_run(struct felix_health_server *s, uint64_t now_ms)
{
	if (!s || s->n == 0) {
		return;
	}
	for (size_t i = 0; i < s->n; i++) {
		struct listener *l = &s->l[i];
		if (!l->mhd && now_ms >= l->next_bind_ms) {
			listener_start(s, l, now_ms);
		}
	}
	/* One MHD_run() accepts, the next reads the request (already in the socket buffer), the
	 * next may write the answer: run while the epoll set has something, a few rounds at most,
	 * so that a probe is answered in this call rather than after another poll(). */
	for (int round = 0; round < 8; round++) {
		for (size_t i = 0; i < s->n; i++) {
			if (s->l[i].mhd) {
				MHD_run(s->l[i].mhd);
			}
		}
		struct epoll_event ev[2];
		if (epoll_wait(s->epfd, ev, (int)ELEMENTSOF(ev), 0) <= 0 &&
		    felix_health_server_timeout_ms(s, now_ms) != 0) {
			break;
		}
	}
}

struct felix_health_server *felix_health_server_free(struct felix_health_server *s)
{
	if (!s) {
		return NULL;
	}
	for (size_t i = 0; i < s->n; i++) {
		listener_stop(s, &s->l[i]);
	}
	if (s->epfd >= 0) {
		close(s->epfd);
	}
	free(s);
	return NULL;
}
