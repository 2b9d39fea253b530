/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * etcd v3 client over the JSON gRPC gateway (etcd 3.4: /v3/kv/range, /v3/kv/put,
 * /v3/kv/deleterange, /v3/kv/txn, /v3/watch, /v3/lease/grant|keepalive|revoke), with libcurl and
 * json-c. Keys and values travel base64-encoded; int64 fields come back as JSON strings. See
 * etcd's api_grpc_gateway documentation and rpc.proto for the message shapes.
 *
 * Every function returns an error instead of exiting. Common errors:
 *   -ECONNREFUSED / -EHOSTUNREACH / -ETIMEDOUT  etcd unreachable (after trying every endpoint)
 *   -EPROTO   etcd answered something that is not the expected JSON, or a gRPC error body
 *   -EKEYREJECTED  a TLS endpoint hung up on a client without a certificate (etcd
 *             --client-cert-auth): give cert_file and key_file
 *   -ENOMEM
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/macro.h"

struct ds_client;

struct ds_config {
	/* Comma-separated endpoints, tried in order until one answers:
	 *   http://HOST:PORT, https://HOST:PORT (TLS, with the files below),
	 *   unix:///ABS/PATH (the socket file itself; etcd 3.4 names it "NAME:PORT", e.g.
	 *   unix:///tmp/tabby-lab/etcd/etcd.sock:2379),
	 *   unixs:///ABS/PATH (TLS over the socket, etcd's --listen-client-urls unixs://...; the
	 *   server certificate must carry the name "localhost", the host the requests name). */
	const char *endpoints;
	const char *ca_file;   /* PEM; NULL = system CAs */
	const char *cert_file; /* client certificate, PEM; NULL = none */
	const char *key_file;  /* client key, PEM; NULL = none */
	long timeout_ms;       /* per request; 0 = 5000 ms */
	/* The watch's snapshot pages through the JSON gateway only, never as gRPC KV.Range calls
	 * (TABBY_DATASTORE_SNAPSHOT=json); for comparisons and for proxies that pass HTTP/1.1
	 * only, which the watch also detects on its own. */
	bool snapshot_json;
};

/* One key-value as etcd returns it (mvccpb.KeyValue). */
struct ds_kv {
	char *key;
	char *value; /* NUL-terminated copy of the bytes (value_len excludes the NUL) */
	size_t value_len;
	int64_t create_revision;
	int64_t mod_revision;
	int64_t version;
	int64_t lease; /* 0 = none */
};

struct ds_kvs {
	struct ds_kv *items;
	size_t n;
	int64_t revision; /* the store revision the listing is consistent at */
};

/**
 * ds_client_new() - parse the config (no connection is made yet).
 * Return: 0, -EINVAL (empty or malformed endpoint list: the message is logged at debug) or -ENOMEM.
 */
int ds_client_new(const struct ds_config *cfg, struct ds_client **ret) _warn_unused_result_;

/** ds_client_free() - close connections and free. NULL-safe. Return: NULL. */
struct ds_client *ds_client_free(struct ds_client *c);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct ds_client *, ds_client_free);

/** ds_kv_done() / ds_kvs_done() - free the contents; NULL-safe. */
void ds_kv_done(struct ds_kv *kv);
void ds_kvs_done(struct ds_kvs *kvs);

/**
 * ds_get() - read one key.
 * @ret: filled when found (caller frees with ds_kv_done()).
 * @ret_revision: may be NULL; the store revision of the read.
 * Return: 0, -ENOENT (absent) or a transport error.
 */
int ds_get(struct ds_client *c, const char *key, struct ds_kv *ret,
	   int64_t *ret_revision) _warn_unused_result_;

/**
 * ds_put() - unconditional write.
 * @lease: 0 for none. @ret_revision: may be NULL; the key's new mod_revision.
 * Return: 0 or a transport error.
 */
int ds_put(struct ds_client *c, const char *key, const char *value, size_t len, int64_t lease,
	   int64_t *ret_revision) _warn_unused_result_;

/**
 * ds_delete() - delete one key. @ret_deleted: may be NULL; 0 or 1.
 * Return: 0 (also when the key was absent) or a transport error.
 */
int ds_delete(struct ds_client *c, const char *key, int64_t *ret_deleted) _warn_unused_result_;

/**
 * ds_range_prefix() - every key starting with @prefix, sorted by key, read in pages of
 * @page_size keys (0 = about 4 MiB of JSON per page: 5,000 keys first, then sized by what the
 * first page weighed) all at one revision (the first page's), so the result is consistent.
 * Return: 0 (possibly with n == 0), -ERANGE (that revision was compacted between pages; retry),
 * or a transport error.
 */
int ds_range_prefix(struct ds_client *c, const char *prefix, size_t page_size,
		    struct ds_kvs *ret) _warn_unused_result_;

/**
 * ds_create() - write @key only if it does not exist (txn compare create_revision == 0).
 * @ret_revision: may be NULL; the new mod_revision.
 * Return: 0, -EEXIST (present), or a transport error.
 */
int ds_create(struct ds_client *c, const char *key, const char *value, size_t len, int64_t lease,
	      int64_t *ret_revision) _warn_unused_result_;

/**
 * ds_update() - write @key only if its mod_revision is still @mod_revision (txn CAS).
 * @ret_revision: may be NULL; the new mod_revision.
 * Return: 0, -ESTALE (changed or deleted since), or a transport error.
 */
int ds_update(struct ds_client *c, const char *key, const char *value, size_t len,
	      int64_t mod_revision, int64_t *ret_revision) _warn_unused_result_;

/**
 * ds_delete_if() - delete @key only if its mod_revision is still @mod_revision.
 * Return: 0, -ESTALE, -ENOENT (already absent), or a transport error.
 */
int ds_delete_if(struct ds_client *c, const char *key, int64_t mod_revision) _warn_unused_result_;

/**
 * ds_lease_grant() - a lease of @ttl_s seconds. @ret_id: its ID.
 * Return: 0 or a transport error.
 */
int ds_lease_grant(struct ds_client *c, int64_t ttl_s, int64_t *ret_id) _warn_unused_result_;

/**
 * ds_lease_keepalive() - refresh a lease once. @ret_ttl_s: may be NULL; the remaining TTL.
 * Return: 0, -ENOENT (expired or revoked), or a transport error.
 */
int ds_lease_keepalive(struct ds_client *c, int64_t id, int64_t *ret_ttl_s) _warn_unused_result_;

/** ds_lease_revoke() - end a lease and delete its keys. Return: 0, -ENOENT or transport error. */
int ds_lease_revoke(struct ds_client *c, int64_t id) _warn_unused_result_;

/**
 * ds_compact() - compact history up to @revision (tests and maintenance).
 * Return: 0 or a transport error.
 */
int ds_compact(struct ds_client *c, int64_t revision) _warn_unused_result_;

/*
 * Watch: a consistent snapshot of a prefix followed by a stream of changes. Everything runs on one
 * curl multi handle driven through the multi *socket* API, so the consumer polls the watch's fds
 * together with its own in one poll() and nothing ever blocks:
 *   - the snapshot: /v3/kv/range pages (about 5,000 keys, fewer when values are large), all read at
 *     the first page's header revision;
 *   - the stream: one streaming POST to /v3/watch from the snapshot revision + 1, asking for
 *     progress notifications;
 *   - a heartbeat: while the stream has been silent for 1.5 s, a one-key linearizable range to
 *     the same member on another connection; when it gets no answer within 1.5 s and the stream
 *     stayed silent, the member is taken as hung or cut off from its quorum;
 *   - failover: on any failure the watch moves to the next endpoint at once, and waits (backoff
 *     100 ms doubling to 5 s) only after every endpoint failed in a row.
 * The consumer sees:
 *   DS_WATCH_SNAPSHOT_BEGIN, DS_WATCH_PUT for every key, DS_WATCH_SNAPSHOT_END (in sync),
 *   then DS_WATCH_PUT / DS_WATCH_DELETE as they happen.
 * When the stream breaks, the watch reconnects and resumes from the last revision seen + 1, so
 * no event is lost or repeated. When that revision was compacted, or a snapshot failed half way,
 * it takes a new snapshot and delivers SNAPSHOT_BEGIN ... SNAPSHOT_END again: the consumer marks
 * everything on BEGIN and sweeps what was not re-sent on END (mark and sweep). A BEGIN may follow
 * a BEGIN with no END in between (the first snapshot failed half way); mark again.
 *
 * Warm snapshots (ds_watch_set_known_cb()): a consumer that kept what it decoded before (felix
 * after a restart) need not have every value read again. A snapshot is warm when a known
 * callback is set and no event is waiting to be delivered when its first page is requested (so
 * nothing the consumer has not seen can change its state while the callback is asked);
 * otherwise it is the full snapshot above. A warm snapshot reads in two phases, both at the
 * revision the first page pinned:
 *   1. listing: the same pages as a full snapshot, but keys only (etcd's RangeRequest.keys_only;
 *      "keys_only" through the gateway). The first page queues SNAPSHOT_BEGIN. For each key the
 *      callback is asked; true queues DS_WATCH_KEEP (no value), false marks the key as needed.
 *   2. values: only the needed keys are read, as ranges over the prefix that each cover a run of
 *      needed keys close together in the listing (the known keys in between are skipped), and
 *      each needed key is delivered as DS_WATCH_PUT with its value. When more than a quarter of
 *      the listed keys are needed, or the runs would take more than 64 requests, phase 2 is
 *      instead the full snapshot's page walk over the whole prefix, delivering only the needed
 *      keys. A needed key missing from what phase 2 read is a failed page.
 * Then SNAPSHOT_END, and the stream from the snapshot revision + 1. The consumer thus sees BEGIN,
 * the KEEPs (in key order), then the PUTs of the needed keys (in key order), END. Any failure
 * in either phase restarts the snapshot as a failed page does (BEGIN again; the restart decides
 * warm or full afresh). When the callback returns -ESTALE for a KEEP (the consumer does not hold
 * that key after all), the watch drops the rest of that snapshot still queued, logs a warning
 * and takes a full snapshot (the known callback is not asked until one completes): BEGIN, every
 * key as PUT, END; ds_watch_dispatch() does not return that -ESTALE.
 */
enum ds_watch_event_type {
	DS_WATCH_SNAPSHOT_BEGIN,
	DS_WATCH_PUT,
	DS_WATCH_DELETE,
	DS_WATCH_SNAPSHOT_END,
	DS_WATCH_DISCONNECTED, /* informational: the stream broke; a reconnect follows */
	/* During a warm snapshot: the known callback said the consumer already holds the key at
	 * exactly this mod_revision. kv has key, create_revision, mod_revision, version and lease;
	 * value is NULL and value_len 0. The consumer confirms it for its mark and sweep instead of
	 * decoding a value (or returns -ESTALE to have a full snapshot taken). */
	DS_WATCH_KEEP,
};

struct ds_watch_event {
	enum ds_watch_event_type type;
	/* PUT: key, value, revisions; KEEP: key and revisions, value NULL; DELETE: key and
	 * mod_revision; else NULL */
	const struct ds_kv *kv;
	int64_t revision; /* store revision of this event: the key's mod_revision for PUT and
			   * KEEP, the snapshot revision for BEGIN/END */
};

/* Called from ds_watch_dispatch() (or ds_watch_run()) only, never from inside libcurl. Borrowed
 * event. A negative return stops delivery and is returned by ds_watch_dispatch(); the events not
 * yet delivered stay queued for the next call and the watch stays usable. */
typedef int (*ds_watch_cb)(void *userdata, const struct ds_watch_event *ev);

struct ds_watch;
struct pollfd;

/**
 * ds_watch_new() - prepare a watch of every key under @prefix. No I/O happens until the first
 * ds_watch_dispatch() (ds_watch_timeout_ms() returns 0 until then). @c is borrowed and must
 * outlive the watch; the watch uses its endpoints, TLS files and timeout_ms (per snapshot page).
 * Return: 0, -EINVAL (NULL argument) or -ENOMEM.
 */
int ds_watch_new(struct ds_client *c, const char *prefix, ds_watch_cb cb, void *userdata,
		 struct ds_watch **ret) _warn_unused_result_;

/*
 * ds_watch_batch_cb - the PUT events one dispatch is about to deliver, told before the first of
 * them is: @kvs[0..@n) in delivery order (only PUTs, each with its value: the KEEP, DELETE and
 * other events delivered between them are not in it), each borrowed until its own event's
 * callback returns (a consumer may read them ahead, e.g. decode a snapshot page on another
 * thread). After that delivery ends, normally or stopped by a callback's error, it is called
 * once more with @n 0 and @kvs NULL: the undelivered ones must not be read any more.
 */
typedef void (*ds_watch_batch_cb)(void *userdata, const struct ds_kv *const *kvs, size_t n);

/**
 * ds_watch_set_batch_cb() - call @cb (NULL: none, the default) with the watch's userdata around
 * each dispatch's delivery of PUT events (see ds_watch_batch_cb).
 */
void ds_watch_set_batch_cb(struct ds_watch *w, ds_watch_batch_cb cb);

/**
 * ds_watch_known_cb - asked during a warm snapshot's listing (keys only, at snapshot revision
 * @snap_rev), for each key in key order: does the consumer already hold @kv->key at exactly
 * @kv->mod_revision? @kv (key and revisions, value empty) is borrowed
 * for the call. Called with the watch's userdata from ds_watch_dispatch() only, possibly before
 * events queued earlier in the same snapshot (its BEGIN, KEEPs) are delivered, so it must not
 * change the consumer's state; it may be asked again for the same key when the snapshot
 * restarts.
 * Return: true: the watch does not read the value and delivers DS_WATCH_KEEP for the key; false:
 * the value is read and delivered as DS_WATCH_PUT.
 */
typedef bool (*ds_watch_known_cb)(void *userdata, const struct ds_kv *kv, int64_t snap_rev);

/**
 * ds_watch_set_known_cb() - set the known callback (NULL: unset, the default), which makes later
 * snapshots warm (see the watch's description above: when a snapshot is warm, its two phases,
 * the fall-back to a full snapshot on -ESTALE).
 */
void ds_watch_set_known_cb(struct ds_watch *w, ds_watch_known_cb cb);

/**
 * ds_watch_pollfds() - the fds the watch wants polled right now.
 * @fds: filled with up to @n entries (fd and events: POLLIN and/or POLLOUT; revents cleared).
 * The set changes after every ds_watch_dispatch(): fetch it again before each poll(). It holds at
 * most a handful of fds (stream, snapshot page, heartbeat, resolver); 8 is always enough.
 * Never blocks.
 * Return: the number of entries filled (>= 0, 0 while only timers run), or -ENOBUFS when @n is
 * too small (nothing is filled then).
 */
int ds_watch_pollfds(const struct ds_watch *w, struct pollfd *fds, size_t n);

/**
 * ds_watch_timeout_ms() - milliseconds until ds_watch_dispatch() must be called even with no fd
 * activity: curl's own timer (connect and request timeouts), the reconnect backoff, the next
 * snapshot page, the heartbeat, or events still queued (then 0).
 * @now_ms: CLOCK_MONOTONIC in milliseconds (the same clock for every call on this watch).
 * Return: >= 0 (0 = call ds_watch_dispatch() now), or -1 when there is no deadline.
 */
int ds_watch_timeout_ms(const struct ds_watch *w, uint64_t now_ms);

/**
 * ds_watch_dispatch() - do the watch's ready I/O and expired timers, then deliver the events
 * that are complete through the callback.
 * @fds, @n: the entries ds_watch_pollfds() returned, with revents set by poll() (entries of other
 * fds may be mixed in: they are ignored). @n == 0 runs timers only.
 * @now_ms: CLOCK_MONOTONIC in milliseconds, taken after poll() returned.
 * Never blocks and never sleeps: connects, snapshot pages, the stream and the heartbeat are all
 * transfers on the watch's multi handle. Transport failures are not returned: they are retried
 * (failover, then backoff) and logged at info, once per outage.
 * Return: the number of events delivered (>= 0), or the callback's negative value.
 */
int ds_watch_dispatch(struct ds_watch *w, const struct pollfd *fds, size_t n,
		      uint64_t now_ms) _warn_unused_result_;

/**
 * ds_watch_run() - a blocking loop on top of ds_watch_pollfds()/ds_watch_timeout_ms()/
 * ds_watch_dispatch() for callers without their own poll loop (tools and tests): polls for up
 * to @timeout_ms (0 = only what is ready now), calling @cb for each event. Returns early once at
 * least one event was delivered and no more data is immediately readable.
 * Return: number of events delivered (>= 0), or the callback's negative value.
 */
int ds_watch_run(struct ds_watch *w, int timeout_ms);

/**
 * ds_watch_in_sync() - a snapshot was completed, the stream to a member is confirmed by etcd
 * ("created") and that member has not missed a heartbeat. False while failing over.
 */
bool ds_watch_in_sync(const struct ds_watch *w);

struct ds_watch_status {
	bool in_sync;	      /* as ds_watch_in_sync() */
	const char *endpoint; /* the endpoint in use or being tried, as configured (a unix
			       * endpoint shows its socket path); borrowed from the client */
	const char *reason;   /* the last failure or failover, e.g. "http://127.0.0.1:2379: no
			       * heartbeat answer within 1500 ms, stream silent for 3000 ms; failing
			       * over", "" when none yet; borrowed, valid until the next dispatch */
	int64_t revision;     /* the revision the watch has delivered up to (0 before the first
			       * snapshot) */
	uint64_t failovers;   /* how many times the watch switched endpoint */
	/* How the last complete snapshot was read: "grpc" (etcd's KV.Range over HTTP/2),
	 * "json" (the gateway), "" none yet. */
	const char *snapshot_via;
	bool snapshot_warm;   /* the last complete snapshot was warm (see ds_watch_known_cb) */
	size_t snapshot_kept; /* keys it delivered as DS_WATCH_KEEP (0 for a full one) */
};

/** ds_watch_status() - where the watch is and why it last failed, for health and logs. */
void ds_watch_status(const struct ds_watch *w, struct ds_watch_status *ret);

/** ds_watch_free() - stop and free. NULL-safe. Return: NULL. */
struct ds_watch *ds_watch_free(struct ds_watch *w);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct ds_watch *, ds_watch_free);

/**
 * ds_config_from_env() - fill @cfg from TABBY_DATASTORE_ENDPOINTS, TABBY_DATASTORE_CA_FILE,
 * TABBY_DATASTORE_CERT_FILE, TABBY_DATASTORE_KEY_FILE (borrowed getenv() pointers) and
 * TABBY_DATASTORE_SNAPSHOT ("json" sets snapshot_json, "grpc" clears it); fields whose variable
 * is unset (or, for TABBY_DATASTORE_SNAPSHOT, another value) are left as they are.
 */
void ds_config_from_env(struct ds_config *cfg);

/*
 * Batched calls: several keys in one etcd txn, so one HTTP round trip (the CNI plugin's ADD reads
 * its IPAM state and writes its allocation this way). etcd refuses a txn of more than
 * --max-txn-ops operations (128 by default); DS_TXN_MAX_OPS stays below that.
 */
#define DS_TXN_MAX_OPS 64

/* One read of ds_read_many(). */
struct ds_read {
	const char *key;   /* in: the key, or with @prefix the prefix */
	bool prefix;	   /* in: every key starting with @key (one range, no paging: only for
			  * prefixes known to hold few keys) */
	struct ds_kvs kvs; /* out: what was found, sorted by key (n == 0: nothing); the caller
			    * frees it with ds_kvs_done() */
};

/**
 * ds_read_many() - read @n keys or prefixes in one read-only txn (etcd: a txn without compares
 * whose operations are all ranges), so every result is at the same store revision.
 * @reads: @n entries, 1 <= @n <= DS_TXN_MAX_OPS; each one's kvs is replaced.
 * @ret_revision: may be NULL; the store revision of the read (also put in each kvs.revision).
 * Return: 0, -EINVAL (bad argument), -E2BIG (a prefix holds more than DS_MAX_KEYS keys),
 * -EPROTO (a reply of the wrong shape), or a transport error. On error the kvs already filled
 * stay filled (free them all the same).
 */
int ds_read_many(struct ds_client *c, struct ds_read *reads, size_t n,
		 int64_t *ret_revision) _warn_unused_result_;

enum ds_cas_kind {
	DS_CAS_CREATE, /* put, only if the key is absent (create_revision == 0) */
	DS_CAS_UPDATE, /* put, only if mod_revision is still @mod_revision (the lease stays) */
	DS_CAS_PUT,    /* put, unconditionally (no compare) */
	DS_CAS_DELETE, /* delete, only if mod_revision is still @mod_revision */
};

/* One write of ds_cas_many(). */
struct ds_cas {
	enum ds_cas_kind kind;
	const char *key;
	const char *value; /* CREATE/UPDATE/PUT: @len bytes */
	size_t len;
	int64_t mod_revision; /* UPDATE/DELETE: > 0 */
};

/**
 * ds_cas_many() - all of @ops in one txn, applied only when every compare holds (all or none):
 * etcd applies a txn atomically, so no reader ever sees some of the writes without the others.
 * @n: 1 <= @n <= DS_TXN_MAX_OPS; a key may appear only once (etcd refuses duplicate keys in a
 * txn's puts). @ret_revision: may be NULL; the store revision after the txn.
 * A txn is never sent twice (as ds_create()): a broken connection returns its error, and the
 * caller reads back to learn whether it applied.
 * Return: 0, -ESTALE (at least one compare failed: nothing was written), -EINVAL, or a transport
 * error.
 */
int ds_cas_many(struct ds_client *c, const struct ds_cas *ops, size_t n,
		int64_t *ret_revision) _warn_unused_result_;
