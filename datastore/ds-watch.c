/* SPDX-License-Identifier: Apache-2.0 */
/*
 * DOC: the watch, on a curl multi handle driven by the consumer's poll loop
 *
 * Three transfers share one multi handle, which is driven only through the multi socket API
 * (CURLMOPT_SOCKETFUNCTION records the fds curl wants watched, CURLMOPT_TIMERFUNCTION its next
 * deadline; ds_watch_dispatch() calls curl_multi_socket_action()), so nothing here blocks:
 *   - page:   one KV.Range call per snapshot page: gRPC (HTTP/2, protobuf) when etcd takes it,
 *             else /v3/kv/range through the JSON gateway;
 *   - stream: the streaming POST to /v3/watch;
 *   - beat:   the heartbeat, a one-key linearizable range to the stream's member.
 *
 * States: SNAPSHOT (page requests) -> CONNECT (start the stream) -> STREAM. Any failure moves to
 * the next endpoint and retries at once; only when every endpoint failed in a row does the watch
 * wait (100 ms doubling to 5 s, reset when etcd confirms a stream with "created"). A compacted
 * start revision ("compact_revision", or a compacted page) goes back to SNAPSHOT at once.
 *
 * Snapshot: the first page is a linearizable read; its header revision pins every later page
 * ("revision"), which may then be served by the member's own state ("serializable"), so the
 * listing is one consistent cut even while others write. The page size adapts so that a page
 * stays near 4 MiB of reply (JSON, or protobuf for a gRPC page). The next page is requested before the current one is handed to the
 * callback, so etcd encodes while the consumer digests. A page that fails restarts the snapshot
 * (a new BEGIN follows). Every page's events are queued and delivered in the same dispatch, so
 * memory holds about one page, not the whole prefix.
 *
 * Warm snapshots (a known callback is set, nothing waits in the queue when the first page is
 * asked for; datastore.h has the rules): phase 1 lists the prefix with those same pages but
 * keys only (etcd's RangeRequest.keys_only: etcd encodes and sends no value), with a page size
 * of its own, queueing a KEEP for each key the consumer holds at that mod_revision and keeping
 * the others' keys, with their place in the listing, as needed. Phase 2 reads the needed values
 * at the same pinned revision. Runs of needed keys with fewer than DS_SPAN_GAP known keys
 * between them (and at most page_keys listed keys in all) become one range [first needed,
 * last needed + "\0") with the limit set to the listed keys it holds: etcd 3.4 walks only the
 * range's keys, so a few scattered keys cost a few small requests whatever the prefix holds.
 * When more than a quarter of the keys are needed, or the runs would take more than DS_SPANS_MAX
 * requests, phase 2 is the ordinary page walk instead, which skips the known keys: that much
 * costs etcd about as much as the full snapshot, and the number of requests stays bounded. Both
 * ways check what they read against the listing (same keys, same mod_revisions; -EPROTO
 * otherwise) and fail as a page does. The needed keys are the only state a warm snapshot holds
 * beyond a page (bounded by DS_MAX_KEYS, as the listing is). A KEEP the consumer refuses with
 * -ESTALE drops what is queued and forces one full snapshot.
 *
 * Pages over gRPC: etcd's JSON gateway spends most of a snapshot's time re-encoding protobuf as
 * JSON with base64 keys and values (about 1.7 s of etcd CPU per 100,000 keys of 500 bytes,
 * against 0.35 s for the same range over gRPC), and the consumer then parses the JSON and the
 * base64. So a page is first asked for as a unary gRPC call, POST /etcdserverpb.KV/Range over
 * HTTP/2 (prior knowledge on http://, ALPN on https://; etcd serves gRPC and the gateway on one
 * port), with the message framed as gRPC's length-prefixed message (1 byte compressed flag,
 * 4 bytes big-endian length) and the status in the grpc-status trailer. The messages come from
 * datastore/etcd-range.proto through protobuf-c. The stream and the heartbeat stay on the JSON
 * gateway. When an endpoint does not speak gRPC (an HTTP/1.1-only proxy, no HTTP/2 in libcurl,
 * a reply that is not one well-formed RangeResponse) before any gRPC page from it worked, the
 * watch logs it and reads the rest of that snapshot from that endpoint through the gateway.
 * This is decided per endpoint: after a fail-over the next member is asked for gRPC again, and
 * so is every endpoint when a new snapshot starts (one failed request each).
 * TABBY_DATASTORE_SNAPSHOT=json (ds_config.snapshot_json) asks for the gateway from the start.
 *
 * Ordering and exactly-once: next_rev only advances past events that were decoded and queued (or
 * past a progress notification, which etcd sends only to watchers that have caught up), so a
 * reconnect with start_revision = next_rev neither skips nor repeats an event. Events of one
 * message are decoded all-or-nothing, since a txn's events share one revision.
 *
 * Hung members: a SIGSTOPped or partitioned etcd keeps its TCP connections (the kernel even
 * accepts new ones), so the stream just goes quiet. etcd is asked for progress notifications
 * (every 10 min by default, --experimental-watch-progress-notify-interval sets it), and whenever
 * the stream has been silent for DS_BEAT_IDLE_MS the watch sends the beat on another connection
 * to the same member. A beat that fails or gets no answer within DS_BEAT_TIMEOUT_MS while the
 * stream stayed silent marks the member as gone: the stream is dropped (not in sync) and resumed
 * from next_rev on the next endpoint.
 *
 * The curl write callbacks only parse and queue (no user code runs inside libcurl); the queue is
 * handed to the callback at the end of ds_watch_dispatch(). A callback error stops delivery after
 * that event; the rest stays queued for the next call.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "datastore/ds-internal.h"
#include "datastore/etcd-range.pb-c.h"
#include "lib/base64.h"
#include "lib/log.h"
#include "lib/strbuf.h"

#define DS_BACKOFF_MIN_MS 100
#define DS_BACKOFF_MAX_MS 5000
#define DS_BEAT_IDLE_MS 1500
/* libcurl's receive buffer for a gRPC page (ds_req_post()), bytes. */
#define DS_GRPC_BUFFER (512L * 1024)
#define DS_BEAT_TIMEOUT_MS 1500L
#define DS_NO_DEADLINE UINT64_MAX
/* Curl callbacks registered per dispatch round before we stop and let the caller poll again. */
#define DS_DISPATCH_ROUNDS 16
/* Queue slots (and batch pointers) kept once delivered; more are freed (a snapshot page). */
#define DS_QUEUE_KEEP 1024
/* Events delivered between two reads of the next page's bytes (ds_watch_pump()): ~3 ms. */
#define DS_PUMP_EVENTS 512
/* A warm snapshot's phase 2 (see the DOC comment): two needed keys share one range when at most
 * DS_SPAN_GAP - 1 known keys lie between them; at most DS_SPANS_MAX ranges, else the full walk. */
#define DS_SPAN_GAP 32
#define DS_SPANS_MAX 64

/* What a watch knows of an endpoint's gRPC KV.Range (snapshot pages). */
enum ds_grpc {
	DS_GRPC_UNKNOWN, /* try it */
	DS_GRPC_OK,	 /* a gRPC page worked: a failure now is the member's, not the protocol's */
	DS_GRPC_OFF,	 /* not a gRPC reply: the gateway until the next snapshot starts */
};

enum ds_watch_state {
	DS_W_SNAPSHOT,
	DS_W_CONNECT,
	DS_W_STREAM,
};

/* What the snapshot's pages read (see the DOC comment). */
enum ds_snap_phase {
	DS_SNAP_FULL,  /* every key with its value: a PUT each */
	DS_SNAP_LIST,  /* warm, phase 1: keys only, each a KEEP or needed */
	DS_SNAP_SPANS, /* warm, phase 2: one range per run of needed keys */
	DS_SNAP_WALK,  /* warm, phase 2: every key with its value, a PUT for each needed one */
};

/* A key a warm snapshot's listing found the consumer lacks. */
struct ds_need {
	char *key;
	size_t idx; /* its place in the listing */
	int64_t mod_revision;
};

/* What a page queued, so that a page that fails leaves nothing behind. */
struct ds_page_mark {
	size_t q_n, n_need, need_next, snap_kept;
};

struct ds_wev {
	enum ds_watch_event_type type;
	struct ds_kv kv;
	int64_t revision;
};

struct ds_sock {
	curl_socket_t fd;
	short events;
};

/* One request on the multi handle with a buffered reply (snapshot page, heartbeat). */
struct ds_req {
	CURL *easy;
	bool attached;
	struct strbuf body;
	int err; /* set by the write callback */
	char errbuf[CURL_ERROR_SIZE];
};

struct ds_watch {
	struct ds_client *c; /* weak */
	char *prefix;
	char *key_b64, *end_b64;
	ds_watch_cb cb;
	void *userdata;

	CURLM *multi;
	struct ds_sock *socks;
	size_t n_socks, cap_socks;
	uint64_t curl_due; /* curl's timer, CLOCK_MONOTONIC ms; DS_NO_DEADLINE = none */
	uint64_t now;	   /* the now_ms of the running dispatch */

	size_t ep;	   /* the endpoint in use */
	unsigned ep_fails; /* consecutive failures since the last success */
	uint64_t failovers;
	char reason[512];

	enum ds_watch_state state;
	uint64_t retry_at; /* when to start the next page/stream; CLOCK_MONOTONIC ms */
	unsigned backoff_ms;
	bool down_reported; /* DISCONNECTED queued and logged since the last "created" */

	/* SNAPSHOT */
	struct ds_req page;
	char *page_start; /* base64 key the next page starts at */
	int64_t snap_rev; /* 0 until the first page answered */
	size_t snap_keys;
	size_t page_keys;
	unsigned snap_range;  /* consecutive compactions while snapshotting */
	bool page_grpc;	      /* the page in flight is a gRPC call */
	bool grpc_never;      /* every page goes through the JSON gateway (ds_config) */
	uint8_t *grpc;	      /* per endpoint: enum ds_grpc */
	bool snap_grpc;	      /* every page of the snapshot so far came over gRPC */
	const char *snap_via; /* the last complete snapshot: "grpc", "json"; "" before */
	struct curl_slist *grpc_headers;

	/* warm snapshots */
	ds_watch_known_cb known_cb;
	enum ds_snap_phase phase;
	bool snap_warm;	      /* the snapshot in progress is warm */
	bool full_once;	      /* a KEEP was refused: full snapshots until one completes */
	size_t list_keys;     /* page size of a listing (keys only) */
	size_t snap_kept;     /* KEEPs queued by the snapshot in progress */
	struct ds_need *need; /* listing order */
	size_t n_need, cap_need;
	size_t need_next; /* phase 2: the next needed key to read */
	size_t span_end;  /* SPANS: one past the last needed key of the range in flight */
	size_t span_keys; /* SPANS: the listed keys in that range (its limit) */
	size_t spans;	  /* SPANS: ranges phase 2 takes */
	size_t walk_keys; /* WALK: keys read so far */
	bool last_warm;	  /* the last complete snapshot */
	size_t last_kept;

	/* STREAM */
	CURL *easy;
	bool attached;
	char errbuf[CURL_ERROR_SIZE];
	struct strbuf line; /* partial stream line */
	int stream_err;	    /* why the write callback aborted the stream */
	bool resnapshot;    /* the stream ended because its start revision was compacted */
	bool created;	    /* etcd confirmed the current stream */
	bool synced;	    /* SNAPSHOT_END was delivered and no new BEGIN since */
	int64_t next_rev;   /* resume point: last delivered revision + 1 */
	uint64_t last_rx;   /* last byte from the stream, or the stream's start */

	/* heartbeat */
	struct ds_req beat;
	uint64_t beat_sent, beat_ok;

	struct ds_wev *q;
	size_t q_head, q_n, q_cap;
	bool pumped; /* ds_watch_pump() ran libcurl: the next dispatch reaps at once */

	ds_watch_batch_cb batch_cb;
	const struct ds_kv **batch; /* the PUTs told to batch_cb */
	size_t batch_cap;
};

static uint64_t ds_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static const char *ds_ep_name(const struct ds_client *c, size_t ep)
{
	if (!c || ep >= c->n_eps)
		return "";
	return c->eps[ep].unix_path ? c->eps[ep].unix_path : c->eps[ep].base;
}

static void ds_reason(struct ds_watch *w, const char *fmt, ...) _printf_(2, 3);
static void ds_reason(struct ds_watch *w, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(w->reason, sizeof(w->reason), fmt, ap);
	va_end(ap);
}

/* ---- event queue ---- */

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

static void ds_need_truncate(struct ds_watch *w, size_t n)
{
	while (w->n_need > n)
		free(w->need[--w->n_need].key);
}

static void ds_need_clear(struct ds_watch *w)
{
	ds_need_truncate(w, 0);
	free(w->need);
	w->need = NULL;
	w->cap_need = w->need_next = 0;
}

/* Takes @kv's key as the next needed key of the listing. */
static int ds_need_add(struct ds_watch *w, struct ds_kv *kv)
{
	if (w->n_need == w->cap_need) {
		size_t cap = w->cap_need ? w->cap_need * 2 : 64;
		struct ds_need *p = realloc(w->need, cap * sizeof(*p));

		if (!p)
			return -ENOMEM;
		w->need = p;
		w->cap_need = cap;
	}
	/* Every key listed before this one was kept or needed. */
	w->need[w->n_need] = (struct ds_need){
	    .key = TAKE_PTR(kv->key),
	    .idx = w->snap_kept + w->n_need,
	    .mod_revision = kv->mod_revision,
	};
	w->n_need++;
	return 0;
}

static struct ds_page_mark ds_page_mark(const struct ds_watch *w)
{
	return (struct ds_page_mark){.q_n = w->q_n,
				     .n_need = w->n_need,
				     .need_next = w->need_next,
				     .snap_kept = w->snap_kept};
}

static void ds_page_rollback(struct ds_watch *w, const struct ds_page_mark *m)
{
	ds_queue_truncate(w, m->q_n);
	ds_need_truncate(w, m->n_need);
	w->need_next = m->need_next;
	w->snap_kept = m->snap_kept;
}

/* While a page is delivered, the next one is on its way (ds_page_done() asked for it first).
 * Over a unix socket etcd can only have ~200 KiB of it in flight (its socket's send buffer):
 * without reading, etcd would wait for felix to digest this page before it could send the rest
 * of the next, and the snapshot would take the sum of both sides' time rather than the larger.
 * So every DS_PUMP_EVENTS delivered events, libcurl reads what has arrived (and sends what is
 * due) without waiting. Only the page's bytes move: a finished transfer is reaped by the next
 * ds_watch_dispatch(), which ds_watch_timeout_ms() then asks for at once. */
static bool ds_sock_known(const struct ds_watch *w, int fd);

/* Hand libcurl what poll() reported on its sockets. */
static void ds_sock_actions(struct ds_watch *w, const struct pollfd *fds, size_t n)
{
	int running;

	for (size_t i = 0; i < n; i++) {
		int ev = 0;

		if (!fds[i].revents || !ds_sock_known(w, fds[i].fd))
			continue;
		if (fds[i].revents & (POLLIN | POLLHUP))
			ev |= CURL_CSELECT_IN;
		if (fds[i].revents & POLLOUT)
			ev |= CURL_CSELECT_OUT;
		if (fds[i].revents & (POLLERR | POLLNVAL))
			ev |= CURL_CSELECT_ERR;
		curl_multi_socket_action(w->multi, fds[i].fd, ev, &running);
	}
}

static void ds_watch_pump(struct ds_watch *w)
{
	struct pollfd fds[16];
	size_t n = MIN(w->n_socks, ELEMENTSOF(fds));
	int running;

	for (size_t i = 0; i < n; i++)
		fds[i] = (struct pollfd){.fd = w->socks[i].fd, .events = w->socks[i].events};
	if (poll(fds, (nfds_t)n, 0) < 0)
		return;
	w->now = ds_now_ms();
	w->pumped = true;
	ds_sock_actions(w, fds, n);
	if (w->curl_due != DS_NO_DEADLINE && w->now >= w->curl_due) {
		w->curl_due = DS_NO_DEADLINE;
		curl_multi_socket_action(w->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	}
}

/* Tell batch_cb of the queued PUTs. Return: whether it was told (then it hears the end too). */
static bool ds_batch_begin(struct ds_watch *w)
{
	size_t n = 0;

	if (!w->batch_cb || w->q_head == w->q_n)
		return false;
	if (w->batch_cap < w->q_n - w->q_head) {
		const struct ds_kv **b = realloc(w->batch, (w->q_n - w->q_head) * sizeof(*b));

		if (!b)
			return false; /* the consumer decodes each one as it comes */
		w->batch = b;
		w->batch_cap = w->q_n - w->q_head;
	}
	for (size_t i = w->q_head; i < w->q_n; i++)
		if (w->q[i].type == DS_WATCH_PUT)
			w->batch[n++] = &w->q[i].kv;
	if (!n)
		return false;
	w->batch_cb(w->userdata, w->batch, n);
	return true;
}

static void ds_snapshot_refused(struct ds_watch *w);

static int ds_watch_deliver(struct ds_watch *w, int *delivered)
{
	bool batch = ds_batch_begin(w), refused = false;
	int r = 0;

	/* No event is queued while these are delivered, so the batch's pointers stay valid. */
	while (w->q_head < w->q_n) {
		/* Only a snapshot page moves (no stream queues events meanwhile, see above). */
		if (*delivered && *delivered % DS_PUMP_EVENTS == 0 && w->state == DS_W_SNAPSHOT &&
		    w->page.attached && !w->attached)
			ds_watch_pump(w);
		struct ds_wev *e = &w->q[w->q_head++];
		bool has_kv = e->type == DS_WATCH_PUT || e->type == DS_WATCH_KEEP ||
			      e->type == DS_WATCH_DELETE;
		struct ds_watch_event ev = {
		    .type = e->type,
		    .kv = has_kv ? &e->kv : NULL,
		    .revision = e->revision,
		};

		if (e->type == DS_WATCH_SNAPSHOT_BEGIN)
			w->synced = false;
		else if (e->type == DS_WATCH_SNAPSHOT_END)
			w->synced = true;
		r = w->cb(w->userdata, &ev);
		if (r == -ESTALE && e->type == DS_WATCH_KEEP) {
			log_warn("datastore watch %s: the consumer rejected kept key %s (revision "
				 "%" PRId64 "); taking a full snapshot",
				 w->prefix, e->kv.key, e->kv.mod_revision);
			refused = true;
		}
		ds_kv_done(&e->kv);
		(*delivered)++;
		if (r < 0)
			break;
	}
	if (batch)
		w->batch_cb(w->userdata, NULL, 0);
	/* Only after the batch ended: the consumer may read its PUTs until then. */
	if (refused)
		ds_snapshot_refused(w);
	else if (r < 0)
		return r;
	w->q_head = w->q_n = 0;
	if (w->q_cap > DS_QUEUE_KEEP) {
		/* a snapshot page's worth: give it back (a stream's events are a few at a time) */
		free(w->q);
		free(w->batch);
		w->q = NULL;
		w->batch = NULL;
		w->q_cap = w->batch_cap = 0;
	}
	return 0;
}

void ds_watch_set_batch_cb(struct ds_watch *w, ds_watch_batch_cb cb)
{
	w->batch_cb = cb;
}

void ds_watch_set_known_cb(struct ds_watch *w, ds_watch_known_cb cb)
{
	w->known_cb = cb;
}

/* ---- curl multi socket API glue ---- */

static int ds_on_socket(CURL *e, curl_socket_t fd, int what, void *userp, void *socketp)
{
	struct ds_watch *w = userp;
	size_t i;

	(void)e;
	(void)socketp;
	for (i = 0; i < w->n_socks; i++)
		if (w->socks[i].fd == fd)
			break;
	if (what == CURL_POLL_REMOVE) {
		if (i < w->n_socks)
			w->socks[i] = w->socks[--w->n_socks];
		return 0;
	}
	if (i == w->n_socks) {
		if (w->n_socks == w->cap_socks) {
			size_t cap = w->cap_socks ? w->cap_socks * 2 : 4;
			struct ds_sock *s = realloc(w->socks, cap * sizeof(*s));

			if (!s)
				return -1; /* curl fails the transfer */
			w->socks = s;
			w->cap_socks = cap;
		}
		w->n_socks++;
	}
	w->socks[i] = (struct ds_sock){
	    .fd = fd,
	    .events =
		(short)((what & CURL_POLL_IN ? POLLIN : 0) | (what & CURL_POLL_OUT ? POLLOUT : 0)),
	};
	return 0;
}

static int ds_on_timer(CURLM *m, long timeout_ms, void *userp)
{
	struct ds_watch *w = userp;

	(void)m;
	w->curl_due = timeout_ms < 0 ? DS_NO_DEADLINE : w->now + (uint64_t)timeout_ms;
	return 0;
}

static bool ds_sock_known(const struct ds_watch *w, int fd)
{
	for (size_t i = 0; i < w->n_socks; i++)
		if (w->socks[i].fd == fd)
			return true;
	return false;
}

/* ---- lifecycle ---- */

static void ds_req_detach(struct ds_watch *w, struct ds_req *q)
{
	if (q->attached) {
		curl_multi_remove_handle(w->multi, q->easy);
		q->attached = false;
	}
	strbuf_done(&q->body);
}

static void ds_stream_detach(struct ds_watch *w)
{
	if (w->attached) {
		curl_multi_remove_handle(w->multi, w->easy);
		w->attached = false;
	}
	w->created = false;
}

int ds_watch_new(struct ds_client *c, const char *prefix, ds_watch_cb cb, void *userdata,
		 struct ds_watch **ret)
{
	_cleanup_(ds_watch_freep) struct ds_watch *w = NULL;
	int r;

	if (!c || !prefix || !cb || !ret)
		return -EINVAL;
	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->c = c;
	w->cb = cb;
	w->userdata = userdata;
	w->curl_due = DS_NO_DEADLINE;
	w->now = ds_now_ms();
	w->ep = c->cur;
	w->page_keys = DS_PAGE_KEYS;
	w->list_keys = DS_PAGE_KEYS;
	w->grpc_never = c->snapshot_json;
	w->grpc = calloc(c->n_eps + 1, sizeof(*w->grpc));
	if (!w->grpc)
		return -ENOMEM;
	w->snap_via = "";
	w->prefix = strdup(prefix);
	if (!w->prefix)
		return -ENOMEM;
	r = ds_prefix_range(prefix, &w->key_b64, &w->end_b64);
	if (r < 0)
		return r;
	w->multi = curl_multi_init();
	w->easy = curl_easy_init();
	w->page.easy = curl_easy_init();
	w->beat.easy = curl_easy_init();
	if (!w->multi || !w->easy || !w->page.easy || !w->beat.easy)
		return -ENOMEM;
	struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/grpc");
	w->grpc_headers = h ? curl_slist_append(h, "TE: trailers") : NULL;
	if (!w->grpc_headers) {
		curl_slist_free_all(h);
		return -ENOMEM;
	}
	if (curl_multi_setopt(w->multi, CURLMOPT_SOCKETFUNCTION, ds_on_socket) != CURLM_OK ||
	    curl_multi_setopt(w->multi, CURLMOPT_SOCKETDATA, w) != CURLM_OK ||
	    curl_multi_setopt(w->multi, CURLMOPT_TIMERFUNCTION, ds_on_timer) != CURLM_OK ||
	    curl_multi_setopt(w->multi, CURLMOPT_TIMERDATA, w) != CURLM_OK)
		return -ENOMEM;
	w->state = DS_W_SNAPSHOT;
	*ret = TAKE_PTR(w);
	return 0;
}

struct ds_watch *ds_watch_free(struct ds_watch *w)
{
	if (!w)
		return NULL;
	if (w->multi) {
		ds_stream_detach(w);
		ds_req_detach(w, &w->page);
		ds_req_detach(w, &w->beat);
	}
	if (w->easy)
		curl_easy_cleanup(w->easy);
	if (w->page.easy)
		curl_easy_cleanup(w->page.easy);
	if (w->beat.easy)
		curl_easy_cleanup(w->beat.easy);
	if (w->multi)
		curl_multi_cleanup(w->multi);
	curl_slist_free_all(w->grpc_headers);
	free(w->grpc);
	ds_queue_truncate(w, w->q_head);
	free(w->q);
	free(w->socks);
	strbuf_done(&w->line);
	free(w->batch);
	free(w->page_start);
	ds_need_clear(w);
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

void ds_watch_status(const struct ds_watch *w, struct ds_watch_status *ret)
{
	*ret = (struct ds_watch_status){
	    .in_sync = ds_watch_in_sync(w),
	    .endpoint = w ? ds_ep_name(w->c, w->ep) : "",
	    .reason = w ? w->reason : "",
	    .revision = w && w->next_rev > 0 ? w->next_rev - 1 : 0,
	    .failovers = w ? w->failovers : 0,
	    .snapshot_via = w ? w->snap_via : "",
	    .snapshot_warm = w && w->last_warm,
	    .snapshot_kept = w ? w->last_kept : 0,
	};
}

/*
 * Something failed on endpoint w->ep: move to the next endpoint and retry at once, or, when every
 * endpoint failed in a row, tell the consumer once and wait with backoff.
 */
static void ds_watch_failed(struct ds_watch *w, int err, const char *what)
{
	const char *ep = ds_ep_name(w->c, w->ep);
	size_t n_eps = w->c->n_eps;

	ds_reason(w, "%s: %s: %s", ep, what, strerror(err < 0 ? -err : err));
	w->ep_fails++;
	if (n_eps > 1) {
		size_t next = (w->ep + 1) % n_eps;

		if (w->c->cur == w->ep)
			w->c->cur = next;
		w->ep = next;
		w->failovers++;
	}
	if (w->ep_fails < n_eps) {
		log_info_errno(err, "datastore watch %s: %s: %s: %m; trying %s", w->prefix, ep,
			       what, ds_ep_name(w->c, w->ep));
		w->retry_at = w->now;
		return;
	}
	w->ep_fails = 0;
	if (!w->down_reported) {
		log_info_errno(err, "datastore watch %s: %s: %s: %m; retrying", w->prefix, ep,
			       what);
		if (ds_queue(w, DS_WATCH_DISCONNECTED, NULL, MAX(w->next_rev - 1, 0)) >= 0)
			w->down_reported = true;
	} else {
		log_debug_errno(err, "datastore watch %s: %s: %s: %m", w->prefix, ep, what);
	}
	w->backoff_ms =
	    w->backoff_ms ? MIN(w->backoff_ms * 2, DS_BACKOFF_MAX_MS) : DS_BACKOFF_MIN_MS;
	w->retry_at = w->now + w->backoff_ms;
}

/* A live stream broke: tell the consumer at once (in-sync is lost), then fail over. */
static void ds_watch_lost(struct ds_watch *w, int err, const char *what)
{
	bool was_live = w->created;

	ds_stream_detach(w);
	ds_req_detach(w, &w->beat);
	w->state = DS_W_CONNECT;
	if (was_live)
		log_info_errno(err,
			       "datastore watch %s: %s: %s: %m; resuming from revision %" PRId64,
			       w->prefix, ds_ep_name(w->c, w->ep), what, w->next_rev);
	if (was_live && !w->down_reported) {
		if (ds_queue(w, DS_WATCH_DISCONNECTED, NULL, MAX(w->next_rev - 1, 0)) >= 0)
			w->down_reported = true;
	}
	ds_watch_failed(w, err, what);
}

/* ---- snapshot pages ---- */

static size_t ds_req_write(char *p, size_t size, size_t nmemb, void *userdata)
{
	struct ds_req *q = userdata;
	size_t len = size * nmemb;

	if (q->body.len + len > DS_MAX_BODY) {
		q->err = -E2BIG;
		return 0;
	}
	if (strbuf_append(&q->body, p, len) < 0) {
		q->err = -ENOMEM;
		return 0;
	}
	return len;
}

/*
 * Starts the POST of @len bytes at @body to @path on @q, endpoint w->ep, with a total timeout of
 * @timeout_ms: a gateway request (@grpc false: HTTP/1.1, JSON headers) or a unary gRPC call
 * (HTTP/2, gRPC headers, a connection and a receive buffer of its own; see below).
 */
static int ds_req_post(struct ds_watch *w, struct ds_req *q, const char *path, const void *body,
		       size_t len, long timeout_ms, bool grpc)
{
	int r;

	r = ds_easy_prepare(w->c, q->easy, w->ep, path);
	if (r < 0)
		return r;
	q->errbuf[0] = '\0';
	q->err = 0;
	strbuf_reset(&q->body);
	if (grpc) {
		curl_easy_setopt(q->easy, CURLOPT_HTTP_VERSION,
				 (long)CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE);
		curl_easy_setopt(q->easy, CURLOPT_HTTPHEADER, w->grpc_headers);
	}
	/* gRPC: a connection of its own, closed after the call, since libcurl would otherwise
	 * offer this HTTP/2 connection to the stream and the heartbeat, which stay on HTTP/1.1.
	 * (The page's handle carries both kinds of request, so every option is set each time.) */
	curl_easy_setopt(q->easy, CURLOPT_FRESH_CONNECT, grpc ? 1L : 0L);
	curl_easy_setopt(q->easy, CURLOPT_FORBID_REUSE, grpc ? 1L : 0L);
	/* libcurl 7.88 (Debian 12) hands HTTP/2 DATA to the transfer through its receive buffer
	 * (16 KiB by default). When one socket read holds more than fits, the rest waits inside
	 * libcurl, and with the multi socket API nothing may wake the transfer again: the call
	 * then hangs until its timeout, 16 KiB short of the end or complete but for its trailers
	 * (seen on every second 100,000-key snapshot with a consumer that digests each page for
	 * ~100 ms). A buffer larger than any one read avoids the leftover. */
	curl_easy_setopt(q->easy, CURLOPT_BUFFERSIZE,
			 grpc ? DS_GRPC_BUFFER : (long)CURL_MAX_WRITE_SIZE);
	curl_easy_setopt(q->easy, CURLOPT_ERRORBUFFER, q->errbuf);
	curl_easy_setopt(q->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
	curl_easy_setopt(q->easy, CURLOPT_COPYPOSTFIELDS, body);
	curl_easy_setopt(q->easy, CURLOPT_TIMEOUT_MS, timeout_ms);
	curl_easy_setopt(q->easy, CURLOPT_CONNECTTIMEOUT_MS, MIN(timeout_ms, w->c->timeout_ms));
	curl_easy_setopt(q->easy, CURLOPT_WRITEFUNCTION, ds_req_write);
	curl_easy_setopt(q->easy, CURLOPT_WRITEDATA, q);
	if (curl_multi_add_handle(w->multi, q->easy) != CURLM_OK)
		return -ENOMEM;
	q->attached = true;
	return 0;
}

/* Starts the POST of the JSON text @body to @path on @q (ds_req_post(), gateway). */
static int ds_req_start(struct ds_watch *w, struct ds_req *q, const char *path, const char *body,
			long timeout_ms)
{
	return ds_req_post(w, q, path, body, strlen(body), timeout_ms, false);
}

/* The finished request's reply object, or a negative errno (transport, HTTP, etcd error). */
static int ds_req_reply(struct ds_watch *w, struct ds_req *q, CURLcode cc, json_object **ret)
{
	long status = 0;
	int r;

	if (q->err)
		return q->err;
	if (cc != CURLE_OK)
		return ds_curl_errno(q->easy, cc);
	curl_easy_getinfo(q->easy, CURLINFO_RESPONSE_CODE, &status);
	r = ds_parse_object(q->body.buf ?: "", q->body.len, ret);
	if (r < 0)
		return r;
	r = ds_reply_error(*ret);
	if (r == 0 && status != 200)
		r = -EPROTO;
	if (r < 0) {
		json_object_put(*ret);
		*ret = NULL;
		log_debug("datastore watch %s: %s answered HTTP %ld", w->prefix,
			  ds_ep_name(w->c, w->ep), status);
	}
	return r;
}

static void ds_snapshot_restart(struct ds_watch *w)
{
	/* A new snapshot asks every endpoint for gRPC again: an endpoint that did not answer it
	 * (a proxy, a member restarting) costs one request per snapshot, not every later
	 * snapshot at the gateway's price. */
	for (size_t i = 0; i < w->c->n_eps; i++)
		if (w->grpc[i] == DS_GRPC_OFF)
			w->grpc[i] = DS_GRPC_UNKNOWN;
	free(w->page_start);
	w->page_start = NULL;
	w->snap_rev = 0;
	w->snap_keys = 0;
	w->state = DS_W_SNAPSHOT;
	w->synced = false;
	w->phase = DS_SNAP_FULL;
	w->snap_warm = false;
	w->snap_kept = 0;
	ds_need_clear(w);
}

/* The consumer returned -ESTALE for a KEEP: what is still queued of that snapshot (and anything
 * after it) is dropped, and a full snapshot starts at once. */
static void ds_snapshot_refused(struct ds_watch *w)
{
	ds_queue_truncate(w, w->q_head);
	w->q_head = w->q_n = 0;
	ds_stream_detach(w);
	ds_req_detach(w, &w->beat);
	ds_req_detach(w, &w->page);
	ds_snapshot_restart(w);
	w->full_once = true;
	w->retry_at = w->now;
}

/* One past the last needed key of the phase 2 range that starts at needed key @first. */
static size_t ds_span_end(const struct ds_watch *w, size_t first)
{
	size_t e = first + 1;

	/* Bounded like a page: at most page_keys listed keys, so its reply stays near a page's
	 * bytes. */
	while (e < w->n_need && w->need[e].idx - w->need[e - 1].idx <= DS_SPAN_GAP &&
	       w->need[e].idx - w->need[first].idx < w->page_keys)
		e++;
	return e;
}

/* The phase 2 range in flight starts at need_next. */
static void ds_span_set(struct ds_watch *w)
{
	w->span_end = ds_span_end(w, w->need_next);
	w->span_keys = w->need[w->span_end - 1].idx - w->need[w->need_next].idx + 1;
}

/* The listing is complete and some values are needed: choose how phase 2 reads them. */
static void ds_values_begin(struct ds_watch *w)
{
	size_t spans = 0;

	for (size_t i = 0; i < w->n_need && spans <= DS_SPANS_MAX; i = ds_span_end(w, i))
		spans++;
	free(w->page_start);
	w->page_start = NULL;
	w->need_next = 0;
	w->walk_keys = 0;
	if (w->n_need * 4 > w->snap_keys || spans > DS_SPANS_MAX) {
		/* Most keys, or scattered: one pass over the prefix costs etcd less. */
		w->phase = DS_SNAP_WALK;
	} else {
		w->phase = DS_SNAP_SPANS;
		w->spans = spans;
		ds_span_set(w);
	}
	w->retry_at = w->now;
}

/* ---- snapshot pages over gRPC (see the DOC comment) ---- */

static int ds_page_begin(struct ds_watch *w, int64_t rev, size_t n);
static int ds_page_next(struct ds_watch *w, const struct ds_page_mark *m, size_t n, bool has_more,
			size_t bytes, const char *last);

/* The next page's key and range end (base64; the caller frees both) and limit: the page walk
 * over the prefix from page_start on, or a phase 2 range from the first to the last needed key
 * it covers. */
static int ds_page_range(struct ds_watch *w, char **ret_key, char **ret_end, size_t *ret_limit)
{
	_cleanup_free_ char *key = NULL, *end = NULL;
	int r = 0;

	if (w->phase == DS_SNAP_SPANS) {
		const char *first = w->need[w->need_next].key, *last = w->need[w->span_end - 1].key;

		r = base64_encode(first, strlen(first), &key);
		if (r >= 0) /* last key + "\0": the range ends right after it */
			r = base64_encode(last, strlen(last) + 1, &end);
		if (r < 0)
			return r;
		*ret_limit = w->span_keys;
	} else {
		key = strdup(w->page_start ?: w->key_b64);
		end = strdup(w->end_b64);
		if (!key || !end)
			return -ENOMEM;
		*ret_limit = w->phase == DS_SNAP_LIST ? w->list_keys : w->page_keys;
	}
	*ret_key = TAKE_PTR(key);
	*ret_end = TAKE_PTR(end);
	return 0;
}

/* The next page as a KV.Range call: the same key, range end, limit, pinned revision and
 * keys_only as the gateway request would carry, as bytes instead of base64. */
static int ds_grpc_page_request(struct ds_watch *w)
{
	Tabbyetcd__RangeRequest rq = TABBYETCD__RANGE_REQUEST__INIT;
	_cleanup_free_ char *key_b64 = NULL, *end_b64 = NULL, *key = NULL, *end = NULL;
	_cleanup_free_ uint8_t *frame = NULL;
	size_t klen = 0, elen = 0, limit = 0, n;
	int r;

	r = ds_page_range(w, &key_b64, &end_b64, &limit);
	if (r >= 0)
		r = base64_decode(key_b64, strlen(key_b64), &key, &klen);
	if (r >= 0)
		r = base64_decode(end_b64, strlen(end_b64), &end, &elen);
	if (r < 0)
		return r;
	rq.key = (ProtobufCBinaryData){.len = klen, .data = (uint8_t *)key};
	rq.range_end = (ProtobufCBinaryData){.len = elen, .data = (uint8_t *)end};
	rq.limit = (int64_t)limit;
	if (w->snap_rev > 0) {
		rq.revision = w->snap_rev;
		rq.serializable = true;
	}
	rq.keys_only = w->phase == DS_SNAP_LIST;
	n = tabbyetcd__range_request__get_packed_size(&rq);
	frame = malloc(n + 5);
	if (!frame)
		return -ENOMEM;
	/* gRPC length-prefixed message: not compressed, 4-byte big-endian length. */
	frame[0] = 0;
	frame[1] = (uint8_t)(n >> 24);
	frame[2] = (uint8_t)(n >> 16);
	frame[3] = (uint8_t)(n >> 8);
	frame[4] = (uint8_t)n;
	if (tabbyetcd__range_request__pack(&rq, frame + 5) != n)
		return -EPROTO;
	w->page_grpc = true;
	return ds_req_post(w, &w->page, "/etcdserverpb.KV/Range", frame, n + 5, w->c->timeout_ms,
			   true);
}

/* The value of header or trailer @name of the finished call, or NULL. */
static const char *ds_grpc_field(CURL *e, const char *name)
{
	struct curl_header *h = NULL;

	if (curl_easy_header(e, name, 0, CURLH_HEADER | CURLH_TRAILER, -1, &h) != CURLHE_OK || !h)
		return NULL;
	return h->value;
}

/*
 * The finished gRPC page as a RangeResponse (the caller frees it with
 * tabbyetcd__range_response__free_unpacked()), or a negative errno. *@ret_proto is set when the
 * endpoint was reached but gave no gRPC answer (HTTP/2 refused, the connection reset, not
 * HTTP 200, no grpc-status, Unimplemented, a reply that is not one RangeResponse): it may not
 * take gRPC at all. It is clear for a connect failure (the member is down) and for a gRPC status
 * etcd returned (mapped as the gateway's codes: compacted is -ERANGE).
 */
static int ds_grpc_reply(struct ds_watch *w, struct ds_req *q, CURLcode cc,
			 Tabbyetcd__RangeResponse **ret, bool *ret_proto)
{
	const uint8_t *b = (const uint8_t *)q->body.buf;
	size_t len = q->body.len, msg_len;
	long status = 0, version = 0;
	const char *gs;
	char *end = NULL;
	long code;

	*ret = NULL;
	*ret_proto = false;
	if (q->err)
		return q->err;
	if (cc != CURLE_OK) {
		/* Connected, then no gRPC answer (HTTP/2 refused, reset, an HTTP/1.1 reply): */
		*ret_proto = !ds_curl_is_connect_failure(q->easy, cc);
		return ds_curl_errno(q->easy, cc);
	}
	curl_easy_getinfo(q->easy, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_getinfo(q->easy, CURLINFO_HTTP_VERSION, &version);
	gs = ds_grpc_field(q->easy, "grpc-status");
	code = gs ? strtol(gs, &end, 10) : -1;
	if (status != 200 || version != CURL_HTTP_VERSION_2_0 || !gs || end == gs || *end ||
	    code < 0 || code == 12 /* Unimplemented */) {
		log_debug(
		    "datastore watch %s: %s answered the gRPC call with HTTP %ld, version %ld, "
		    "grpc-status %s",
		    w->prefix, ds_ep_name(w->c, w->ep), status, version, gs ? gs : "(none)");
		*ret_proto = true;
		return -EPROTO;
	}
	if (code != 0) {
		const char *m = ds_grpc_field(q->easy, "grpc-message");

		log_debug("datastore watch %s: etcd gRPC status %ld: %s", w->prefix, code,
			  m ? m : "");
		return ds_grpc_errno(code);
	}
	if (len < 5 || b[0] != 0) {
		*ret_proto = true;
		return -EPROTO;
	}
	msg_len = (size_t)b[1] << 24 | (size_t)b[2] << 16 | (size_t)b[3] << 8 | (size_t)b[4];
	if (msg_len != len - 5) {
		*ret_proto = true;
		return -EPROTO;
	}
	*ret = tabbyetcd__range_response__unpack(NULL, msg_len, b + 5);
	if (!*ret || !(*ret)->header) {
		if (*ret)
			tabbyetcd__range_response__free_unpacked(*ret, NULL);
		*ret = NULL;
		*ret_proto = true;
		return -EPROTO;
	}
	return 0;
}

/* A copy of @len bytes with a NUL after them, as the gateway path's base64 decode returns. */
static char *ds_bytes_dup(const ProtobufCBinaryData *d)
{
	char *p = malloc(d->len + 1);

	if (!p)
		return NULL;
	if (d->len)
		memcpy(p, d->data, d->len);
	p[d->len] = '\0';
	return p;
}

/*
 * One key of a snapshot page, consumed (@kv is left empty or for the caller to free): queued as
 * the snapshot's phase wants, or, in phase 2, skipped when the consumer holds it. Phase 2 reads
 * keys in listing order, so the needed ones come up in the order they were listed; one that is
 * passed over is missing (-EPROTO).
 */
static int ds_snap_kv(struct ds_watch *w, struct ds_kv *kv)
{
	const struct ds_need *nd;
	int r, cmp;

	switch (w->phase) {
	case DS_SNAP_FULL:
		return ds_queue(w, DS_WATCH_PUT, kv, kv->mod_revision);
	case DS_SNAP_LIST:
		free(kv->value); /* "" (keys only) */
		kv->value = NULL;
		kv->value_len = 0;
		if (!w->known_cb || !w->known_cb(w->userdata, kv, w->snap_rev))
			return ds_need_add(w, kv);
		r = ds_queue(w, DS_WATCH_KEEP, kv, kv->mod_revision);
		if (r >= 0)
			w->snap_kept++;
		return r;
	case DS_SNAP_SPANS:
	case DS_SNAP_WALK:
		if (w->need_next == (w->phase == DS_SNAP_SPANS ? w->span_end : w->n_need))
			return 0; /* a known key after the last needed one */
		nd = &w->need[w->need_next];
		cmp = strcmp(kv->key, nd->key);
		if (cmp < 0)
			return 0; /* a known key before the next needed one */
		if (cmp > 0 || kv->mod_revision != nd->mod_revision)
			return -EPROTO; /* not what the listing showed at this revision */
		w->need_next++;
		return ds_queue(w, DS_WATCH_PUT, kv, kv->mod_revision);
	}
	return -EINVAL;
}

/* Queues one page's keys (a RangeResponse); decides the next page or the end of the snapshot. */
static int ds_grpc_page_take(struct ds_watch *w, const Tabbyetcd__RangeResponse *rr, size_t bytes)
{
	struct ds_page_mark m = ds_page_mark(w);
	_cleanup_free_ char *last = NULL;
	size_t n = rr->n_kvs;
	int r = ds_page_begin(w, rr->header->revision, n);

	for (size_t i = 0; r >= 0 && i < n; i++) {
		const Tabbyetcd__KeyValue *k = rr->kvs[i];
		struct ds_kv kv = {0};

		if (!k || !k->key.len) {
			r = -EPROTO;
			break;
		}
		kv.key = ds_bytes_dup(&k->key);
		kv.value = ds_bytes_dup(&k->value);
		kv.value_len = k->value.len;
		kv.create_revision = k->create_revision;
		kv.mod_revision = k->mod_revision;
		kv.version = k->version;
		kv.lease = k->lease;
		r = kv.key && kv.value ? 0 : -ENOMEM;
		if (r >= 0 && i == n - 1 && !(last = strdup(kv.key)))
			r = -ENOMEM;
		if (r >= 0)
			r = ds_snap_kv(w, &kv);
		ds_kv_done(&kv);
	}
	if (r < 0) {
		ds_page_rollback(w, &m);
		return r;
	}
	return ds_page_next(w, &m, n, rr->more, bytes, last);
}

static void ds_page_request(struct ds_watch *w)
{
	_cleanup_jput_ json_object *req = NULL;
	_cleanup_free_ char *key = NULL, *end = NULL;
	size_t limit = 0;
	char num[32];
	const char *body;
	int r;

	if (w->snap_rev == 0) {
		/* A snapshot's first page: warm only when no event waits to be delivered, so the
		 * known callback answers for the state the consumer will have when the KEEPs
		 * arrive. */
		w->snap_warm = w->known_cb && !w->full_once && w->q_head == w->q_n;
		w->phase = w->snap_warm ? DS_SNAP_LIST : DS_SNAP_FULL;
	}
	if (!w->grpc_never && w->grpc[w->ep] != DS_GRPC_OFF) {
		r = ds_grpc_page_request(w);
		if (r < 0)
			ds_watch_failed(w, r, "snapshot");
		return;
	}
	w->page_grpc = false;
	req = json_object_new_object();
	r = req ? 0 : -ENOMEM;
	if (r >= 0)
		r = ds_page_range(w, &key, &end, &limit);
	if (r >= 0)
		r = json_object_object_add(req, "key", json_object_new_string(key));
	if (r >= 0)
		r = json_object_object_add(req, "range_end", json_object_new_string(end));
	snprintf(num, sizeof(num), "%zu", limit);
	if (r >= 0)
		r = json_object_object_add(req, "limit", json_object_new_string(num));
	if (r >= 0 && w->snap_rev > 0) {
		snprintf(num, sizeof(num), "%" PRId64, w->snap_rev);
		r = json_object_object_add(req, "revision", json_object_new_string(num));
		if (r >= 0)
			r = json_object_object_add(req, "serializable", json_object_new_boolean(1));
	}
	if (r >= 0 && w->phase == DS_SNAP_LIST)
		r = json_object_object_add(req, "keys_only", json_object_new_boolean(1));
	body = r >= 0 ? json_object_to_json_string_ext(req, JSON_C_TO_STRING_PLAIN) : NULL;
	if (!body) {
		ds_watch_failed(w, -ENOMEM, "snapshot");
		return;
	}
	r = ds_req_start(w, &w->page, "/v3/kv/range", body, w->c->timeout_ms);
	if (r < 0)
		ds_watch_failed(w, r, "snapshot");
}

/* A page of @n keys at store revision @rev arrived: the first one pins the snapshot's revision
 * and queues BEGIN. */
static int ds_page_begin(struct ds_watch *w, int64_t rev, size_t n)
{
	if (rev <= 0)
		return -EPROTO;
	if ((w->phase == DS_SNAP_FULL || w->phase == DS_SNAP_LIST) &&
	    w->snap_keys + n > DS_MAX_KEYS)
		return -E2BIG;
	if (w->phase == DS_SNAP_WALK && w->walk_keys + n > w->snap_keys)
		return -EPROTO; /* more keys than the listing at the same revision */
	if (w->snap_rev != 0) {
		w->snap_grpc &= w->page_grpc;
		return 0;
	}
	w->snap_rev = rev;
	w->snap_grpc = w->page_grpc;
	return ds_queue(w, DS_WATCH_SNAPSHOT_BEGIN, NULL, rev);
}

/* Queues one page's keys (a JSON gateway reply); decides the next page or the end of the
 * snapshot. */
static int ds_page_take(struct ds_watch *w, json_object *reply)
{
	struct ds_page_mark m = ds_page_mark(w);
	_cleanup_free_ char *last = NULL;
	json_object *kvs = NULL, *more, *h;
	size_t n = 0, bytes = w->page.body.len;
	bool has_more;
	int64_t rev = 0;
	int r = 0;

	if (!json_object_object_get_ex(reply, "header", &h) ||
	    ds_json_int64(h, "revision", &rev) < 0 || rev <= 0)
		return -EPROTO;
	if (json_object_object_get_ex(reply, "kvs", &kvs)) {
		if (!json_object_is_type(kvs, json_type_array))
			return -EPROTO;
		n = json_object_array_length(kvs);
	}
	r = ds_page_begin(w, rev, n);
	for (size_t i = 0; r >= 0 && i < n; i++) {
		struct ds_kv kv;

		r = ds_kv_from_json(json_object_array_get_idx(kvs, i), &kv);
		if (r < 0)
			break;
		if (i == n - 1 && !(last = strdup(kv.key)))
			r = -ENOMEM;
		if (r >= 0)
			r = ds_snap_kv(w, &kv);
		ds_kv_done(&kv);
	}
	if (r < 0) {
		ds_page_rollback(w, &m);
		return r;
	}
	has_more = json_object_object_get_ex(reply, "more", &more) && json_object_get_boolean(more);
	return ds_page_next(w, &m, n, has_more, bytes, last);
}

/* The last page of the snapshot was taken: queue its end, after which the stream starts. */
static int ds_snapshot_end(struct ds_watch *w)
{
	int r = ds_queue(w, DS_WATCH_SNAPSHOT_END, NULL, w->snap_rev);
	char how[48] = "none needed";

	if (r < 0)
		return r;
	if (w->phase == DS_SNAP_SPANS)
		snprintf(how, sizeof(how), "in %zu ranges", w->spans);
	else if (w->phase == DS_SNAP_WALK)
		snprintf(how, sizeof(how), "walking the prefix");
	if (w->snap_warm)
		log_info("datastore watch %s: warm snapshot at revision %" PRId64
			 " (%s): %zu keys listed, %zu kept, %zu read (%s)",
			 w->prefix, w->snap_rev, w->snap_grpc ? "gRPC" : "JSON gateway",
			 w->snap_keys, w->snap_kept, w->n_need, how);
	else
		log_debug("datastore watch %s: snapshot of %zu keys at revision %" PRId64 " (%s)",
			  w->prefix, w->snap_keys, w->snap_rev,
			  w->snap_grpc ? "gRPC" : "JSON gateway");
	w->snap_via = w->snap_grpc ? "grpc" : "json";
	w->last_warm = w->snap_warm;
	w->last_kept = w->snap_kept;
	if (!w->snap_warm)
		w->full_once = false;
	w->next_rev = w->snap_rev + 1;
	free(w->page_start);
	w->page_start = NULL;
	ds_need_clear(w);
	w->phase = DS_SNAP_FULL;
	w->snap_range = 0;
	w->state = DS_W_CONNECT;
	w->retry_at = w->now;
	return 0;
}

/*
 * A page's @n keys are taken (queued since @m); @last: the last of them. Ask for the next page
 * (of the walk or listing, or phase 2's next range), or go on to phase 2, or queue the end of
 * the snapshot. @bytes: the page's reply size, which sizes the next page.
 */
static int ds_page_next(struct ds_watch *w, const struct ds_page_mark *m, size_t n, bool has_more,
			size_t bytes, const char *last)
{
	int r = 0;

	if (w->phase == DS_SNAP_SPANS) {
		/* A range holds exactly the keys the listing showed in it, the needed ones
		 * among them. */
		if (n != w->span_keys || has_more || w->need_next != w->span_end)
			r = -EPROTO;
		else if (w->need_next < w->n_need) {
			ds_span_set(w);
			w->retry_at = w->now;
			return 0;
		}
	} else {
		if (w->phase == DS_SNAP_WALK)
			w->walk_keys += n;
		else
			w->snap_keys += n;
		if (has_more && n > 0) {
			/* The next page starts right after the last key: last key + "\0". */
			char *start = NULL;

			r = base64_encode(last, strlen(last) + 1, &start);
			if (r < 0) {
				ds_page_rollback(w, m);
				return r;
			}
			free(w->page_start);
			w->page_start = start;
			/* Keep pages near DS_PAGE_BYTES of JSON or DS_GRPC_PAGE_BYTES of
			 * protobuf; a listing (keys only) has a size of its own. */
			if (bytes > 0)
				*(w->phase == DS_SNAP_LIST ? &w->list_keys : &w->page_keys) =
				    ds_page_keys(n, bytes,
						 w->page_grpc ? DS_GRPC_PAGE_BYTES : DS_PAGE_BYTES);
			w->retry_at = w->now;
			return 0;
		}
		if (w->phase == DS_SNAP_LIST && w->n_need > 0) {
			ds_values_begin(w);
			return 0;
		}
		if (w->phase == DS_SNAP_WALK &&
		    (w->need_next != w->n_need || w->walk_keys != w->snap_keys))
			r = -EPROTO; /* not the listing's keys */
	}
	if (r >= 0)
		r = ds_snapshot_end(w);
	if (r < 0)
		ds_page_rollback(w, m);
	return r;
}

static void ds_page_done(struct ds_watch *w, CURLcode cc)
{
	bool proto = false;
	int r;

	if (w->page_grpc) {
		Tabbyetcd__RangeResponse *rr = NULL;

		r = ds_grpc_reply(w, &w->page, cc, &rr, &proto);
		if (r >= 0)
			r = ds_grpc_page_take(w, rr, w->page.body.len);
		if (rr)
			tabbyetcd__range_response__free_unpacked(rr, NULL);
	} else {
		_cleanup_jput_ json_object *reply = NULL;

		r = ds_req_reply(w, &w->page, cc, &reply);
		if (r >= 0)
			r = ds_page_take(w, reply);
	}
	curl_multi_remove_handle(w->multi, w->page.easy);
	w->page.attached = false;
	/* Kept between pages; released once the snapshot is complete (or failed), since a page
	 * buffer grows to ~8 MiB and the stream does not need it. */
	if (w->page.body.cap > DS_GRPC_PAGE_BYTES * 2 || r < 0 || w->state != DS_W_SNAPSHOT)
		strbuf_done(&w->page.body);
	else
		strbuf_reset(&w->page.body);
	if (w->page_grpc && w->state != DS_W_SNAPSHOT) {
		/* Snapshot done: a fresh handle gives libcurl's 512 KiB receive buffer back. */
		CURL *e = curl_easy_init();

		if (e) {
			curl_easy_cleanup(w->page.easy);
			w->page.easy = e;
		}
	}
	if (r >= 0) {
		w->ep_fails = 0;
		if (w->page_grpc)
			w->grpc[w->ep] = DS_GRPC_OK;
		return;
	}
	if (proto && w->grpc[w->ep] != DS_GRPC_OK) {
		/* No gRPC page has worked on this endpoint yet: take it that it does not speak
		 * gRPC (the gateway is always there, only slower), and ask it again for the same
		 * page through the gateway, at once. Should the member really be failing, that
		 * request fails too and the usual fail-over follows; the next endpoint gets its
		 * own chance at gRPC. */
		log_info(
		    "datastore watch %s: %s does not answer etcd's gRPC KV.Range (%s); reading "
		    "this snapshot from it through the JSON gateway",
		    w->prefix, ds_ep_name(w->c, w->ep),
		    w->page.errbuf[0] ? w->page.errbuf : "not a gRPC reply");
		w->grpc[w->ep] = DS_GRPC_OFF;
		w->retry_at = w->now;
		return;
	}
	if (r == -ERANGE && ++w->snap_range < 3) {
		/* The pinned revision was compacted between pages: start over at once. */
		log_debug("datastore watch %s: revision %" PRId64 " compacted while listing",
			  w->prefix, w->snap_rev);
		ds_snapshot_restart(w);
		w->retry_at = w->now;
		return;
	}
	w->snap_range = 0;
	ds_snapshot_restart(w);
	ds_watch_failed(w, r, w->page.errbuf[0] ? w->page.errbuf : "snapshot");
}

/* ---- the stream ---- */

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
			log_info(
			    "datastore watch %s: connected to %s, resuming at revision %" PRId64,
			    w->prefix, ds_ep_name(w->c, w->ep), w->next_rev);
		w->created = true;
		w->down_reported = false;
		w->backoff_ms = 0;
		w->ep_fails = 0;
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

	w->last_rx = w->now;
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
	    json_object_object_add(cr, "progress_notify", json_object_new_boolean(1)) < 0 ||
	    !(body = json_object_to_json_string_ext(req, JSON_C_TO_STRING_PLAIN))) {
		ds_watch_failed(w, -ENOMEM, "connect");
		return;
	}

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
	w->last_rx = w->now;
	w->beat_ok = w->now;
	log_debug("datastore watch %s: watching from revision %" PRId64 " on %s", w->prefix,
		  w->next_rev, ds_ep_name(w->c, w->ep));
}

/* The stream ended (it never ends normally). */
static void ds_stream_done(struct ds_watch *w, CURLcode cc)
{
	long status = 0;
	int err;

	curl_easy_getinfo(w->easy, CURLINFO_RESPONSE_CODE, &status);
	if (w->stream_err == 0 && cc == CURLE_OK)
		(void)ds_watch_lines(w, true); /* a last message without newline */
	if (w->resnapshot) {
		w->resnapshot = false;
		ds_stream_detach(w);
		ds_req_detach(w, &w->beat);
		ds_snapshot_restart(w);
		w->retry_at = w->now;
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
	ds_watch_lost(w, err, w->errbuf[0] ? w->errbuf : "stream ended");
}

/* ---- heartbeat ---- */

static uint64_t ds_beat_due(const struct ds_watch *w)
{
	return MAX(w->last_rx, w->beat_ok) + DS_BEAT_IDLE_MS;
}

static void ds_beat_send(struct ds_watch *w)
{
	_cleanup_jput_ json_object *req = json_object_new_object();
	const char *body;
	int r = req ? 0 : -ENOMEM;

	/* One key, linearizable: the member must still be part of a working quorum to answer. */
	if (r >= 0)
		r = json_object_object_add(req, "key", json_object_new_string(w->key_b64));
	if (r >= 0)
		r = json_object_object_add(req, "keys_only", json_object_new_boolean(1));
	body = r >= 0 ? json_object_to_json_string_ext(req, JSON_C_TO_STRING_PLAIN) : NULL;
	if (!body)
		return; /* no memory for a heartbeat: try again on the next round */
	if (ds_req_start(w, &w->beat, "/v3/kv/range", body, DS_BEAT_TIMEOUT_MS) >= 0)
		w->beat_sent = w->now;
}

static void ds_beat_done(struct ds_watch *w, CURLcode cc)
{
	_cleanup_jput_ json_object *reply = NULL;
	int r;

	r = ds_req_reply(w, &w->beat, cc, &reply);
	curl_multi_remove_handle(w->multi, w->beat.easy);
	w->beat.attached = false;
	strbuf_reset(&w->beat.body);
	if (r >= 0) {
		w->beat_ok = w->now;
		return;
	}
	if (w->last_rx > w->beat_sent) {
		/* The stream spoke meanwhile: the member is alive. */
		w->beat_ok = w->now;
		return;
	}
	{
		char what[256];

		snprintf(what, sizeof(what),
			 "no heartbeat answer within %ld ms (%.160s), stream silent for %" PRIu64
			 " ms; failing over",
			 DS_BEAT_TIMEOUT_MS, w->beat.errbuf[0] ? w->beat.errbuf : "error",
			 w->now - w->last_rx);
		log_warn("datastore watch %s: %s: %s", w->prefix, ds_ep_name(w->c, w->ep), what);
		ds_watch_lost(w, r, what);
	}
}

/* ---- the poll-loop API ---- */

int ds_watch_pollfds(const struct ds_watch *w, struct pollfd *fds, size_t n)
{
	if (w->n_socks > n)
		return -ENOBUFS;
	for (size_t i = 0; i < w->n_socks; i++)
		fds[i] = (struct pollfd){.fd = w->socks[i].fd, .events = w->socks[i].events};
	return (int)w->n_socks;
}

int ds_watch_timeout_ms(const struct ds_watch *w, uint64_t now_ms)
{
	uint64_t due = w->curl_due;

	if (w->q_head < w->q_n || w->pumped)
		return 0;
	if ((w->state == DS_W_SNAPSHOT && !w->page.attached) || w->state == DS_W_CONNECT)
		due = MIN(due, w->retry_at);
	if (w->state == DS_W_STREAM && !w->beat.attached)
		due = MIN(due, ds_beat_due(w));
	if (due == DS_NO_DEADLINE)
		return -1;
	if (due <= now_ms)
		return 0;
	return (int)MIN(due - now_ms, (uint64_t)INT_MAX);
}

/* Finished transfers. Return: whether any finished. */
static bool ds_watch_reap(struct ds_watch *w)
{
	CURLMsg *m;
	int left;
	bool any = false;

	while ((m = curl_multi_info_read(w->multi, &left))) {
		CURL *e = m->easy_handle;
		CURLcode cc = m->data.result;

		if (m->msg != CURLMSG_DONE)
			continue;
		any = true;
		if (e == w->easy && w->attached)
			ds_stream_done(w, cc);
		else if (e == w->page.easy && w->page.attached)
			ds_page_done(w, cc);
		else if (e == w->beat.easy && w->beat.attached)
			ds_beat_done(w, cc);
	}
	return any;
}

/* Starts what is due. Return: whether a transfer was started. */
static bool ds_watch_step(struct ds_watch *w)
{
	switch (w->state) {
	case DS_W_SNAPSHOT:
		if (w->page.attached || w->now < w->retry_at)
			return false;
		ds_page_request(w);
		return w->page.attached;
	case DS_W_CONNECT:
		if (w->now < w->retry_at)
			return false;
		ds_watch_connect(w);
		return w->attached;
	case DS_W_STREAM:
		if (w->beat.attached || w->now < ds_beat_due(w))
			return false;
		ds_beat_send(w);
		return w->beat.attached;
	}
	return false;
}

int ds_watch_dispatch(struct ds_watch *w, const struct pollfd *fds, size_t n, uint64_t now_ms)
{
	int delivered = 0, running, r;

	w->now = now_ms;
	w->pumped = false;
	/* Events left over by a callback error go first, in order. */
	r = ds_watch_deliver(w, &delivered);
	if (r < 0)
		return r;
	ds_sock_actions(w, fds, n);
	for (int round = 0; round < DS_DISPATCH_ROUNDS; round++) {
		bool busy = false;

		if (w->curl_due != DS_NO_DEADLINE && w->now >= w->curl_due) {
			w->curl_due = DS_NO_DEADLINE;
			curl_multi_socket_action(w->multi, CURL_SOCKET_TIMEOUT, 0, &running);
			busy = true;
		}
		busy |= ds_watch_reap(w);
		busy |= ds_watch_step(w);
		if (!busy)
			break;
	}
	r = ds_watch_deliver(w, &delivered);
	return r < 0 ? r : delivered;
}

int ds_watch_run(struct ds_watch *w, int timeout_ms)
{
	uint64_t deadline = ds_now_ms() + (uint64_t)MAX(timeout_ms, 0);
	int delivered = 0;

	for (;;) {
		struct pollfd fds[16];
		uint64_t now = ds_now_ms();
		int n = ds_watch_pollfds(w, fds, ELEMENTSOF(fds));
		int t = ds_watch_timeout_ms(w, now);
		int wait = delivered > 0 || now >= deadline ? 0 : (int)MIN(deadline - now, 1000);
		int k, r;

		if (n < 0)
			return n;
		if (t >= 0 && t < wait)
			wait = t;
		k = poll(fds, (nfds_t)n, wait);
		if (k < 0 && errno != EINTR)
			return -errno;
		now = ds_now_ms();
		r = ds_watch_dispatch(w, fds, k > 0 ? (size_t)n : 0, now);
		if (r < 0)
			return r;
		delivered += r;
		if (k <= 0 && (delivered > 0 || now >= deadline) &&
		    ds_watch_timeout_ms(w, now) != 0)
			return delivered;
		if (now >= deadline + 1000)
			return delivered; /* something stays due: never spin past the deadline */
	}
}
