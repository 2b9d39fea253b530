/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The watch: snapshot (ds_range_prefix) then one streaming POST to /v3/watch on a curl multi
 * handle, resumed from the last delivered revision + 1 after every break.
 *
 * Ordering and exactly-once: next_rev only advances past events that were decoded and queued (or
 * past a progress notification, which etcd sends only to watchers that have caught up), so a
 * reconnect with start_revision = next_rev neither skips nor repeats an event. Events of one
 * message are decoded all-or-nothing, since a txn's events share one revision.
 *
 * The curl write callback only parses and queues (no user code runs inside libcurl); the queue is
 * handed to the callback from ds_watch_run(). A callback error stops delivery after that event;
 * the rest stays queued for the next call.
 *
 * States: SNAPSHOT (range the prefix) -> CONNECT (start the stream) -> STREAM. A broken stream
 * goes back to CONNECT after a backoff (100 ms doubling to 5 s, reset when etcd confirms the watch
 * with "created"); a compacted start revision ("compact_revision" in a canceled reply) goes back
 * to SNAPSHOT at once. While waiting, ds_watch_run() sleeps, it never spins.
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "datastore/ds-internal.h"
#include "lib/log.h"
#include "lib/strbuf.h"

#define DS_BACKOFF_MIN_MS 100
#define DS_BACKOFF_MAX_MS 5000

enum ds_watch_state {
	DS_W_SNAPSHOT,
	DS_W_CONNECT,
	DS_W_STREAM,
};

struct ds_wev {
	enum ds_watch_event_type type;
	struct ds_kv kv;
	int64_t revision;
};

struct ds_watch {
	struct ds_client *c; /* weak */
	char *prefix;
	char *key_b64, *end_b64;
	ds_watch_cb cb;
	void *userdata;

	CURLM *multi;
	CURL *easy;
	bool attached;
	size_t ep;
	char errbuf[CURL_ERROR_SIZE];

	enum ds_watch_state state;
	int64_t next_rev;    /* resume point: last delivered revision + 1 */
	bool created;	     /* etcd confirmed the current stream */
	bool synced;	     /* SNAPSHOT_END was delivered and no new BEGIN since */
	bool down_reported;  /* DISCONNECTED queued since the last "created" */
	bool resnapshot;     /* the stream ended because its start revision was compacted */
	int stream_err;	     /* why the write callback aborted the stream */
	unsigned snap_range; /* consecutive -ERANGE while snapshotting */
	uint64_t retry_at;   /* CLOCK_MONOTONIC ms */
	unsigned backoff_ms;

	struct strbuf line; /* partial stream line */

	struct ds_wev *q;
	size_t q_head, q_n, q_cap;
};

static uint64_t ds_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int ds_queue(struct ds_watch *w, enum ds_watch_event_type type, struct ds_kv *kv,
		    int64_t revision)
{
	if (w->q_head == w->q_n)
		w->q_head = w->q_n = 0;
	if (w->q_n == w->q_cap) {
		size_t cap = w->q_cap ? w->q_cap * 2 : 64;
		struct ds_wev *q = realloc(w->q, cap * sizeof(*q));

		if (!q)
			return -ENOMEM;
		w->q = q;
		w->q_cap = cap;
	}
	w->q[w->q_n] = (struct ds_wev){.type = type, .revision = revision};
	if (kv) {
		w->q[w->q_n].kv = *kv;
		*kv = (struct ds_kv){0};
	}
	w->q_n++;
	return 0;
}

static void ds_queue_truncate(struct ds_watch *w, size_t n)
{
	while (w->q_n > n)
		ds_kv_done(&w->q[--w->q_n].kv);
}

int ds_watch_new(struct ds_client *c, const char *prefix, ds_watch_cb cb, void *userdata,
		 struct ds_watch **ret)
{
	_cleanup_(ds_watch_freep) struct ds_watch *w = NULL;
	int r;

	if (!c || !prefix || !cb)
		return -EINVAL;
	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->c = c;
	w->cb = cb;
	w->userdata = userdata;
	w->prefix = strdup(prefix);
	if (!w->prefix)
		return -ENOMEM;
	r = ds_prefix_range(prefix, &w->key_b64, &w->end_b64);
	if (r < 0)
		return r;
	w->multi = curl_multi_init();
	w->easy = curl_easy_init();
	if (!w->multi || !w->easy)
		return -ENOMEM;
	w->state = DS_W_SNAPSHOT;
	*ret = TAKE_PTR(w);
	return 0;
}

static void ds_watch_detach(struct ds_watch *w)
{
	if (w->attached) {
		curl_multi_remove_handle(w->multi, w->easy);
		w->attached = false;
	}
}

struct ds_watch *ds_watch_free(struct ds_watch *w)
{
	if (!w)
		return NULL;
	ds_watch_detach(w);
	if (w->easy)
		curl_easy_cleanup(w->easy);
	if (w->multi)
		curl_multi_cleanup(w->multi);
	ds_queue_truncate(w, w->q_head);
	free(w->q);
	strbuf_done(&w->line);
	free(w->prefix);
	free(w->key_b64);
	free(w->end_b64);
	free(w);
	return NULL;
}

bool ds_watch_in_sync(const struct ds_watch *w)
{
	return w && w->synced && w->state == DS_W_STREAM && w->created;
}

/* The stream or etcd is down: tell the consumer once, schedule a retry. */
static void ds_watch_failed(struct ds_watch *w, int err, const char *what)
{
	if (!w->down_reported) {
		log_info_errno(err, "datastore watch %s: %s: %m; retrying", w->prefix, what);
		if (ds_queue(w, DS_WATCH_DISCONNECTED, NULL, MAX(w->next_rev - 1, 0)) >= 0)
			w->down_reported = true;
	} else {
		log_debug_errno(err, "datastore watch %s: %s: %m", w->prefix, what);
	}
	w->backoff_ms =
	    w->backoff_ms ? MIN(w->backoff_ms * 2, DS_BACKOFF_MAX_MS) : DS_BACKOFF_MIN_MS;
	w->retry_at = ds_now_ms() + w->backoff_ms;
}

static void ds_watch_snapshot(struct ds_watch *w)
{
	struct ds_kvs kvs = {0};
	size_t mark = w->q_n;
	int r;

	r = ds_range_prefix(w->c, w->prefix, 0, &kvs);
	if (r == -ERANGE && ++w->snap_range < 3) {
		w->retry_at = ds_now_ms();
		return;
	}
	w->snap_range = 0;
	if (r < 0) {
		ds_watch_failed(w, r, "snapshot");
		return;
	}
	r = ds_queue(w, DS_WATCH_SNAPSHOT_BEGIN, NULL, kvs.revision);
	for (size_t i = 0; r >= 0 && i < kvs.n; i++)
		r = ds_queue(w, DS_WATCH_PUT, &kvs.items[i], kvs.items[i].mod_revision);
	if (r >= 0)
		r = ds_queue(w, DS_WATCH_SNAPSHOT_END, NULL, kvs.revision);
	if (r < 0) {
		ds_queue_truncate(w, mark);
		ds_kvs_done(&kvs);
		ds_watch_failed(w, r, "snapshot");
		return;
	}
	log_debug("datastore watch %s: snapshot of %zu keys at revision %" PRId64, w->prefix, kvs.n,
		  kvs.revision);
	w->next_rev = kvs.revision + 1;
	ds_kvs_done(&kvs);
	w->state = DS_W_CONNECT;
	w->retry_at = 0;
}

/* Decodes one stream message; queues its events. <0 aborts the stream. */
static int ds_watch_message(struct ds_watch *w, const char *s, size_t len)
{
	_cleanup_jput_ json_object *o = NULL;
	json_object *res, *v, *events;
	json_tokener *tok;
	int64_t compact = 0, rev = 0;
	size_t mark = w->q_n, n;
	int64_t next = w->next_rev;
	int r;

	if (len > INT32_MAX)
		return -E2BIG;
	tok = json_tokener_new();
	if (!tok)
		return -ENOMEM;
	o = json_tokener_parse_ex(tok, s, (int)len);
	r = json_tokener_get_error(tok) == json_tokener_success && o &&
		    json_object_is_type(o, json_type_object)
		? 0
		: -EPROTO;
	json_tokener_free(tok);
	if (r < 0) {
		log_debug("datastore watch %s: malformed message", w->prefix);
		return r;
	}
	if (!json_object_object_get_ex(o, "result", &res)) {
		json_object *e, *m;

		r = ds_reply_error(o);
		if (json_object_object_get_ex(o, "error", &e) &&
		    json_object_object_get_ex(e, "message", &m) &&
		    strstr(json_object_get_string(m), "compacted"))
			w->resnapshot = true;
		return r < 0 ? r : -EPROTO;
	}
	if (ds_json_int64(res, "compact_revision", &compact) < 0)
		return -EPROTO;
	if (compact > 0) {
		log_info("datastore watch %s: revision %" PRId64 " compacted (at %" PRId64
			 "), taking a new snapshot",
			 w->prefix, w->next_rev, compact);
		w->resnapshot = true;
		return -ERANGE;
	}
	if (json_object_object_get_ex(res, "canceled", &v) && json_object_get_boolean(v)) {
		json_object *reason;

		log_debug("datastore watch %s: canceled by etcd: %s", w->prefix,
			  json_object_object_get_ex(res, "cancel_reason", &reason)
			      ? json_object_get_string(reason)
			      : "");
		return -ECONNRESET;
	}
	if (json_object_object_get_ex(res, "created", &v) && json_object_get_boolean(v)) {
		if (w->down_reported)
			log_info("datastore watch %s: connected, resuming at revision %" PRId64,
				 w->prefix, w->next_rev);
		w->created = true;
		w->down_reported = false;
		w->backoff_ms = 0;
	}
	if (!json_object_object_get_ex(res, "events", &events)) {
		json_object *h;

		/* A progress notification: etcd sent everything up to header.revision. */
		if (!json_object_object_get_ex(res, "created", NULL) &&
		    json_object_object_get_ex(res, "header", &h) &&
		    ds_json_int64(h, "revision", &rev) >= 0 && rev >= w->next_rev)
			w->next_rev = rev + 1;
		return 0;
	}
	if (!json_object_is_type(events, json_type_array))
		return -EPROTO;
	n = json_object_array_length(events);
	for (size_t i = 0; i < n; i++) {
		json_object *ev = json_object_array_get_idx(events, i), *kvo, *t;
		enum ds_watch_event_type type = DS_WATCH_PUT;
		struct ds_kv kv;

		if (!json_object_is_type(ev, json_type_object) ||
		    !json_object_object_get_ex(ev, "kv", &kvo)) {
			r = -EPROTO;
			break;
		}
		if (json_object_object_get_ex(ev, "type", &t)) {
			const char *ts = json_object_get_string(t);

			if (strcmp(ts, "DELETE") == 0 || strcmp(ts, "1") == 0)
				type = DS_WATCH_DELETE;
			else if (strcmp(ts, "PUT") != 0 && strcmp(ts, "0") != 0) {
				r = -EPROTO;
				break;
			}
		}
		r = ds_kv_from_json(kvo, &kv);
		if (r < 0)
			break;
		if (kv.mod_revision < w->next_rev) {
			/* Already delivered (cannot happen with a correct start revision). */
			ds_kv_done(&kv);
			continue;
		}
		next = MAX(next, kv.mod_revision + 1);
		r = ds_queue(w, type, &kv, kv.mod_revision);
		if (r < 0) {
			ds_kv_done(&kv);
			break;
		}
	}
	if (r < 0) {
		ds_queue_truncate(w, mark);
		log_debug("datastore watch %s: bad event in message", w->prefix);
		return r;
	}
	w->next_rev = next;
	return 0;
}

static int ds_watch_lines(struct ds_watch *w, bool flush)
{
	size_t off = 0;
	int r = 0;

	while (off < w->line.len) {
		char *start = w->line.buf + off;
		char *nl = memchr(start, '\n', w->line.len - off);
		size_t len;

		if (!nl && !flush)
			break;
		len = nl ? (size_t)(nl - start) : w->line.len - off;
		off += len + (nl ? 1 : 0);
		while (len > 0 && (start[len - 1] == '\r' || start[len - 1] == ' '))
			len--;
		if (len == 0)
			continue;
		r = ds_watch_message(w, start, len);
		if (r < 0)
			break;
	}
	if (off >= w->line.len)
		strbuf_reset(&w->line);
	else if (off > 0) {
		memmove(w->line.buf, w->line.buf + off, w->line.len - off);
		w->line.len -= off;
		w->line.buf[w->line.len] = '\0';
	}
	return r;
}

static size_t ds_watch_write(char *p, size_t size, size_t nmemb, void *userdata)
{
	struct ds_watch *w = userdata;
	size_t len = size * nmemb;
	int r;

	if (w->line.len + len > DS_MAX_BODY) {
		log_warn("datastore watch %s: message larger than %zu bytes, reconnecting",
			 w->prefix, DS_MAX_BODY);
		w->stream_err = -E2BIG;
		return 0;
	}
	r = strbuf_append(&w->line, p, len);
	if (r >= 0)
		r = ds_watch_lines(w, false);
	if (r < 0) {
		w->stream_err = r;
		return 0;
	}
	return len;
}

static void ds_watch_connect(struct ds_watch *w)
{
	_cleanup_jput_ json_object *req = json_object_new_object();
	json_object *cr = json_object_new_object();
	char rev[32];
	const char *body;
	int r;

	if (!req || !cr || json_object_object_add(req, "create_request", cr) < 0) {
		json_object_put(cr);
		ds_watch_failed(w, -ENOMEM, "connect");
		return;
	}
	snprintf(rev, sizeof(rev), "%" PRId64, w->next_rev);
	if (json_object_object_add(cr, "key", json_object_new_string(w->key_b64)) < 0 ||
	    json_object_object_add(cr, "range_end", json_object_new_string(w->end_b64)) < 0 ||
	    json_object_object_add(cr, "start_revision", json_object_new_string(rev)) < 0 ||
	    !(body = json_object_to_json_string_ext(req, JSON_C_TO_STRING_PLAIN))) {
		ds_watch_failed(w, -ENOMEM, "connect");
		return;
	}

	w->ep = w->c->cur;
	r = ds_easy_prepare(w->c, w->easy, w->ep, "/v3/watch");
	if (r < 0) {
		ds_watch_failed(w, r, "connect");
		return;
	}
	w->errbuf[0] = '\0';
	curl_easy_setopt(w->easy, CURLOPT_ERRORBUFFER, w->errbuf);
	curl_easy_setopt(w->easy, CURLOPT_COPYPOSTFIELDS, body);
	curl_easy_setopt(w->easy, CURLOPT_TIMEOUT_MS, 0L); /* a stream: no total time limit */
	curl_easy_setopt(w->easy, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(w->easy, CURLOPT_TCP_KEEPIDLE, 10L);
	curl_easy_setopt(w->easy, CURLOPT_TCP_KEEPINTVL, 5L);
	curl_easy_setopt(w->easy, CURLOPT_WRITEFUNCTION, ds_watch_write);
	curl_easy_setopt(w->easy, CURLOPT_WRITEDATA, w);
	strbuf_reset(&w->line);
	w->stream_err = 0;
	w->resnapshot = false;
	w->created = false;
	if (curl_multi_add_handle(w->multi, w->easy) != CURLM_OK) {
		ds_watch_failed(w, -ENOMEM, "connect");
		return;
	}
	w->attached = true;
	w->state = DS_W_STREAM;
	log_debug("datastore watch %s: watching from revision %" PRId64, w->prefix, w->next_rev);
}

/* The transfer ended (it never ends normally). */
static void ds_watch_done(struct ds_watch *w, CURLcode cc)
{
	size_t n_eps = w->c->n_eps;
	bool connect_failure = cc != CURLE_OK && ds_curl_is_connect_failure(w->easy, cc);
	long status = 0;
	int err;

	curl_easy_getinfo(w->easy, CURLINFO_RESPONSE_CODE, &status);
	if (w->stream_err == 0 && cc == CURLE_OK)
		(void)ds_watch_lines(w, true); /* a last message without newline */
	ds_watch_detach(w);
	w->created = false;
	if (w->resnapshot) {
		w->resnapshot = false;
		w->synced = false;
		w->state = DS_W_SNAPSHOT;
		w->retry_at = 0;
		return;
	}
	if (w->stream_err)
		err = w->stream_err;
	else if (cc != CURLE_OK)
		err = ds_curl_errno(w->easy, cc);
	else if (status != 200)
		err = -EPROTO;
	else
		err = -ECONNRESET;
	if (connect_failure && n_eps > 1 && w->c->cur == w->ep)
		w->c->cur = (w->ep + 1) % n_eps;
	w->state = DS_W_CONNECT;
	ds_watch_failed(w, err, w->errbuf[0] ? w->errbuf : "stream ended");
}

static int ds_watch_deliver(struct ds_watch *w, int *delivered)
{
	while (w->q_head < w->q_n) {
		struct ds_wev *e = &w->q[w->q_head++];
		struct ds_watch_event ev = {
		    .type = e->type,
		    .kv = e->type == DS_WATCH_PUT || e->type == DS_WATCH_DELETE ? &e->kv : NULL,
		    .revision = e->revision,
		};
		int r;

		if (e->type == DS_WATCH_SNAPSHOT_BEGIN)
			w->synced = false;
		else if (e->type == DS_WATCH_SNAPSHOT_END)
			w->synced = true;
		r = w->cb(w->userdata, &ev);
		ds_kv_done(&e->kv);
		(*delivered)++;
		if (r < 0)
			return r;
	}
	w->q_head = w->q_n = 0;
	return 0;
}

static void ds_watch_io(struct ds_watch *w)
{
	CURLMsg *m;
	int running, left;

	curl_multi_perform(w->multi, &running);
	while ((m = curl_multi_info_read(w->multi, &left)))
		if (m->msg == CURLMSG_DONE && m->easy_handle == w->easy)
			ds_watch_done(w, m->data.result);
}

int ds_watch_run(struct ds_watch *w, int timeout_ms)
{
	uint64_t deadline = ds_now_ms() + (uint64_t)MAX(timeout_ms, 0);
	int delivered = 0, r;

	for (;;) {
		uint64_t now;

		r = ds_watch_deliver(w, &delivered);
		if (r < 0)
			return r;
		now = ds_now_ms();

		if (w->state != DS_W_STREAM && now >= w->retry_at) {
			if (w->state == DS_W_SNAPSHOT)
				ds_watch_snapshot(w);
			else
				ds_watch_connect(w);
			if (w->state != DS_W_STREAM)
				continue;
		}

		if (w->state == DS_W_STREAM) {
			int numfds = 0;

			ds_watch_io(w);
			r = ds_watch_deliver(w, &delivered);
			if (r < 0)
				return r;
			if (w->state != DS_W_STREAM)
				continue;
			now = ds_now_ms();
			if (delivered > 0) {
				/* Return as soon as nothing more is readable right now. */
				if (curl_multi_poll(w->multi, NULL, 0, 0, &numfds) != CURLM_OK ||
				    numfds == 0)
					return delivered;
				continue;
			}
			if (now >= deadline)
				return delivered;
			curl_multi_poll(w->multi, NULL, 0, (int)MIN(deadline - now, 1000), &numfds);
			continue;
		}

		/* Waiting for a retry. */
		if (delivered > 0 || now >= deadline)
			return delivered;
		poll(NULL, 0, (int)MIN(MIN(w->retry_at, deadline) - now, 1000));
	}
}
