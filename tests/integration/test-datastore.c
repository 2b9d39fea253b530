/* SPDX-License-Identifier: Apache-2.0 */
/*
 * datastore/ against a real etcd started by tests/integration/with-etcd: unary calls, CAS, leases,
 * the watch (snapshot, live events, resume after an etcd restart, re-snapshot after compaction,
 * driven by a loop that only polls its fds, a hung endpoint and a SIGSTOPped etcd),
 * the unix socket endpoint and endpoint fall-through, snapshot pages over gRPC against the same
 * pages through the JSON gateway, and the fall-back to the gateway, warm snapshots (keys only,
 * values only for the keys the consumer lacks). TLS with a client certificate runs when
 * openssl is installed (it generates a CA into a temp dir and starts its own etcd).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "datastore/datastore.h"

static const char *endpoints(void)
{
	const char *e = getenv("TABBY_DATASTORE_ENDPOINTS");

	if (!e || !*e)
		fail_msg(
		    "TABBY_DATASTORE_ENDPOINTS is not set: run under tests/integration/with-etcd");
	return e;
}

static struct ds_client *client_for(const char *eps)
{
	struct ds_config cfg = {.endpoints = eps};
	struct ds_client *c = NULL;

	assert_int_equal(ds_client_new(&cfg, &c), 0);
	assert_non_null(c);
	return c;
}

static struct ds_client *client(void)
{
	return client_for(endpoints());
}

static void put_str(struct ds_client *c, const char *key, const char *value, int64_t *rev)
{
	assert_int_equal(ds_put(c, key, value, strlen(value), 0, rev), 0);
}

static void msleep(int ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000};

	nanosleep(&ts, NULL);
}

static void etcd_ctl(const char *verb)
{
	const char *ctl = getenv("TABBY_TEST_ETCD_CTL");
	char cmd[4096];

	assert_non_null(ctl);
	snprintf(cmd, sizeof(cmd), "%s %s >/dev/null", ctl, verb);
	assert_int_equal(system(cmd), 0);
}

/* ---- unary calls ---- */

static void test_client_new_invalid(void **state)
{
	static const char *bad[] = {"",
				    "ftp://127.0.0.1:2379",
				    "unix://relative.sock",
				    "unixs://relative.sock",
				    "unixs://",
				    "http://127.0.0.1:2379,,http://127.0.0.1:2380",
				    "127.0.0.1:2379",
				    "http://"};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct ds_config cfg = {.endpoints = bad[i]};
		struct ds_client *c = NULL;

		assert_int_equal(ds_client_new(&cfg, &c), -EINVAL);
		assert_null(c);
	}
	assert_null(ds_client_free(NULL));
}

static void test_put_get_delete(void **state)
{
	_cleanup_(ds_client_freep) struct ds_client *c = client();
	static const char bin[] = {'a', '\0', '\n', '"', '\\', (char)0xff, (char)0x80, 'z'};
	struct ds_kv kv = {0};
	int64_t rev = 0, rrev = 0, deleted = -1;

	assert_int_equal(ds_put(c, "/t/kv/bin", bin, sizeof(bin), 0, &rev), 0);
	assert_true(rev > 0);
	assert_int_equal(ds_get(c, "/t/kv/bin", &kv, &rrev), 0);
	assert_string_equal(kv.key, "/t/kv/bin");
	assert_int_equal(kv.value_len, sizeof(bin));
	assert_memory_equal(kv.value, bin, sizeof(bin));
	assert_int_equal(kv.value[kv.value_len], '\0');
	assert_int_equal(kv.mod_revision, rev);
	assert_int_equal(kv.create_revision, rev);
	assert_int_equal(kv.version, 1);
	assert_int_equal(kv.lease, 0);
	assert_true(rrev >= rev);
	ds_kv_done(&kv);

	/* Empty value. */
	assert_int_equal(ds_put(c, "/t/kv/empty", "", 0, 0, NULL), 0);
	assert_int_equal(ds_get(c, "/t/kv/empty", &kv, NULL), 0);
	assert_int_equal(kv.value_len, 0);
	assert_string_equal(kv.value, "");
	ds_kv_done(&kv);

	assert_int_equal(ds_delete(c, "/t/kv/bin", &deleted), 0);
	assert_int_equal(deleted, 1);
	assert_int_equal(ds_get(c, "/t/kv/bin", &kv, NULL), -ENOENT);
	assert_null(kv.key);
	assert_int_equal(ds_delete(c, "/t/kv/bin", &deleted), 0);
	assert_int_equal(deleted, 0);
	assert_int_equal(ds_get(c, "/t/kv/never-written", &kv, NULL), -ENOENT);
	assert_int_equal(ds_get(c, "", &kv, NULL), -EINVAL);
}

static void test_range_prefix_paged(void **state)
{
	_cleanup_(ds_client_freep) struct ds_client *c = client();
	static const char *order[] = {"c", "a", "e", "b", "d"};
	struct ds_kvs kvs = {0};
	int64_t last = 0;

	for (size_t i = 0; i < 5; i++) {
		char key[64];

		snprintf(key, sizeof(key), "/t/range/%s", order[i]);
		put_str(c, key, order[i], &last);
	}
	/* Siblings that share the prefix's bytes but are outside it. */
	put_str(c, "/t/range0", "sibling", NULL);
	put_str(c, "/t/rangex/a", "sibling", NULL);
	put_str(c, "/t/rang", "sibling", NULL);

	assert_int_equal(ds_range_prefix(c, "/t/range/", 2, &kvs), 0);
	assert_int_equal(kvs.n, 5);
	assert_true(kvs.revision >= last + 3);
	for (size_t i = 0; i < 5; i++) {
		char key[64], val[2] = {(char)('a' + i), 0};

		snprintf(key, sizeof(key), "/t/range/%c", (char)('a' + i));
		assert_string_equal(kvs.items[i].key, key);
		assert_string_equal(kvs.items[i].value, val);
		assert_true(kvs.items[i].mod_revision <= kvs.revision);
	}
	ds_kvs_done(&kvs);
	assert_int_equal(kvs.n, 0);

	/* Page size larger than the result, and the default. */
	assert_int_equal(ds_range_prefix(c, "/t/range/", 0, &kvs), 0);
	assert_int_equal(kvs.n, 5);
	ds_kvs_done(&kvs);
	assert_int_equal(ds_range_prefix(c, "/t/range/", 1, &kvs), 0);
	assert_int_equal(kvs.n, 5);
	ds_kvs_done(&kvs);
	assert_int_equal(ds_range_prefix(c, "/t/nothing-here/", 2, &kvs), 0);
	assert_int_equal(kvs.n, 0);
	assert_true(kvs.revision > 0);
	ds_kvs_done(&kvs);
}

static void test_range_prefix_revision(void **state)
{
	_cleanup_(ds_client_freep) struct ds_client *c = client();
	struct ds_kvs kvs = {0};
	int64_t rev = 0;

	/* A listing of several pages reports the revision of its first page (the one every later
	 * page is pinned to), which is the store revision after our writes. */
	for (int i = 0; i < 7; i++) {
		char key[64];

		snprintf(key, sizeof(key), "/t/pin/%d", i);
		put_str(c, key, "v", &rev);
	}
	assert_int_equal(ds_range_prefix(c, "/t/pin/", 3, &kvs), 0);
	assert_int_equal(kvs.n, 7);
	assert_int_equal(kvs.revision, rev);
	ds_kvs_done(&kvs);
}

static void test_cas(void **state)
{
	_cleanup_(ds_client_freep) struct ds_client *c = client();
	struct ds_kv kv = {0};
	int64_t r1 = 0, r2 = 0, r3 = 0;

	assert_int_equal(ds_create(c, "/t/cas/k", "one", 3, 0, &r1), 0);
	assert_true(r1 > 0);
	assert_int_equal(ds_create(c, "/t/cas/k", "two", 3, 0, NULL), -EEXIST);
	assert_int_equal(ds_get(c, "/t/cas/k", &kv, NULL), 0);
	assert_string_equal(kv.value, "one");
	assert_int_equal(kv.mod_revision, r1);
	ds_kv_done(&kv);

	assert_int_equal(ds_update(c, "/t/cas/k", "three", 5, r1, &r2), 0);
	assert_true(r2 > r1);
	/* Stale: r1 is no longer the mod_revision. */
	assert_int_equal(ds_update(c, "/t/cas/k", "four", 4, r1, &r3), -ESTALE);
	assert_int_equal(ds_get(c, "/t/cas/k", &kv, NULL), 0);
	assert_string_equal(kv.value, "three");
	assert_int_equal(kv.mod_revision, r2);
	assert_int_equal(kv.version, 2);
	ds_kv_done(&kv);

	assert_int_equal(ds_delete_if(c, "/t/cas/k", r1), -ESTALE);
	assert_int_equal(ds_get(c, "/t/cas/k", &kv, NULL), 0);
	ds_kv_done(&kv);
	assert_int_equal(ds_delete_if(c, "/t/cas/k", r2), 0);
	assert_int_equal(ds_get(c, "/t/cas/k", &kv, NULL), -ENOENT);
	assert_int_equal(ds_delete_if(c, "/t/cas/k", r2), -ENOENT);
	/* Update of an absent key is stale; create works again. */
	assert_int_equal(ds_update(c, "/t/cas/k", "x", 1, r2, NULL), -ESTALE);
	assert_int_equal(ds_create(c, "/t/cas/k", "again", 5, 0, &r3), 0);
	assert_true(r3 > r2);
}

static void test_lease(void **state)
{
	_cleanup_(ds_client_freep) struct ds_client *c = client();
	struct ds_kv kv = {0};
	int64_t id = 0, ttl = 0;
	int r = 0;

	assert_int_equal(ds_lease_grant(c, 2, &id), 0);
	assert_true(id != 0);
	assert_int_equal(ds_create(c, "/t/lease/k", "v", 1, id, NULL), 0);
	assert_int_equal(ds_get(c, "/t/lease/k", &kv, NULL), 0);
	assert_int_equal(kv.lease, id);
	/* A CAS update keeps the lease. */
	assert_int_equal(ds_update(c, "/t/lease/k", "v2", 2, kv.mod_revision, NULL), 0);
	ds_kv_done(&kv);
	assert_int_equal(ds_get(c, "/t/lease/k", &kv, NULL), 0);
	assert_string_equal(kv.value, "v2");
	assert_int_equal(kv.lease, id);
	ds_kv_done(&kv);

	/* Kept alive for 4 s, twice the TTL: the key stays. */
	for (int i = 0; i < 8; i++) {
		assert_int_equal(ds_lease_keepalive(c, id, &ttl), 0);
		assert_true(ttl > 0 && ttl <= 2);
		msleep(500);
	}
	assert_int_equal(ds_get(c, "/t/lease/k", &kv, NULL), 0);
	ds_kv_done(&kv);

	/* Without keepalive it expires and takes the key with it. */
	for (int i = 0; i < 100; i++) {
		r = ds_get(c, "/t/lease/k", &kv, NULL);
		if (r == -ENOENT)
			break;
		assert_int_equal(r, 0);
		ds_kv_done(&kv);
		msleep(100);
	}
	assert_int_equal(r, -ENOENT);
	assert_int_equal(ds_lease_keepalive(c, id, &ttl), -ENOENT);

	/* Revoke deletes the attached key at once. */
	assert_int_equal(ds_lease_grant(c, 60, &id), 0);
	assert_int_equal(ds_put(c, "/t/lease/r", "v", 1, id, NULL), 0);
	assert_int_equal(ds_get(c, "/t/lease/r", &kv, NULL), 0);
	ds_kv_done(&kv);
	assert_int_equal(ds_lease_revoke(c, id), 0);
	assert_int_equal(ds_get(c, "/t/lease/r", &kv, NULL), -ENOENT);
	assert_int_equal(ds_lease_revoke(c, id), -ENOENT);
	assert_int_equal(ds_lease_keepalive(c, id, NULL), -ENOENT);
}

/* ---- watch ---- */

struct rec {
	enum ds_watch_event_type type;
	char key[128];
	char value[128];
	int64_t revision;
};

struct recs {
	struct rec v[512];
	size_t n;
	int fail_at; /* return -EIO on this event number (1-based), 0 = never */
};

static int record(void *userdata, const struct ds_watch_event *ev)
{
	struct recs *r = userdata;
	struct rec *x;

	assert_true(r->n < sizeof(r->v) / sizeof(r->v[0]));
	x = &r->v[r->n++];
	*x = (struct rec){.type = ev->type, .revision = ev->revision};
	if (ev->type == DS_WATCH_PUT || ev->type == DS_WATCH_DELETE) {
		assert_non_null(ev->kv);
		snprintf(x->key, sizeof(x->key), "%s", ev->kv->key);
		snprintf(x->value, sizeof(x->value), "%s", ev->kv->value ? ev->kv->value : "");
	} else {
		assert_null(ev->kv);
	}
	if (r->fail_at && (int)r->n == r->fail_at)
		return -EIO;
	return 0;
}

/* Runs the watch in felix-sized slices until @want events arrived (or 20 s passed). */
static void run_until_n(struct ds_watch *w, struct recs *r, size_t want)
{
	for (int i = 0; i < 100 && r->n < want; i++) {
		int k = ds_watch_run(w, 200);

		assert_true(k >= 0);
	}
	assert_true(r->n >= want);
}

static void run_until_type(struct ds_watch *w, struct recs *r, enum ds_watch_event_type t)
{
	for (int i = 0; i < 100; i++) {
		for (size_t j = 0; j < r->n; j++)
			if (r->v[j].type == t)
				return;
		assert_true(ds_watch_run(w, 200) >= 0);
	}
	fail_msg("watch event %d did not arrive", t);
}

static void expect(const struct rec *x, enum ds_watch_event_type t, const char *key,
		   const char *value)
{
	assert_int_equal(x->type, t);
	if (key)
		assert_string_equal(x->key, key);
	if (value)
		assert_string_equal(x->value, value);
}

static void test_watch_snapshot_and_events(void **state)
{
	_cleanup_(ds_client_freep) struct ds_client *c = client();
	_cleanup_(ds_watch_freep) struct ds_watch *w = NULL;
	struct recs *r = calloc(1, sizeof(*r));
	int64_t rev = 0, r1, r2, r3;

	put_str(c, "/t/w1/b", "B", NULL);
	put_str(c, "/t/w1/a", "A", NULL);
	put_str(c, "/t/w1x", "outside", &rev);

	assert_int_equal(ds_watch_new(c, "/t/w1/", record, r, &w), 0);
	assert_false(ds_watch_in_sync(w));
	run_until_n(w, r, 4);
	assert_int_equal(r->n, 4);
	expect(&r->v[0], DS_WATCH_SNAPSHOT_BEGIN, NULL, NULL);
	assert_true(r->v[0].revision >= rev);
	expect(&r->v[1], DS_WATCH_PUT, "/t/w1/a", "A");
	expect(&r->v[2], DS_WATCH_PUT, "/t/w1/b", "B");
	expect(&r->v[3], DS_WATCH_SNAPSHOT_END, NULL, NULL);
	assert_int_equal(r->v[3].revision, r->v[0].revision);
	/* Connected and in sync once the stream is confirmed. */
	for (int i = 0; i < 50 && !ds_watch_in_sync(w); i++)
		assert_true(ds_watch_run(w, 100) >= 0);
	assert_true(ds_watch_in_sync(w));

	put_str(c, "/t/w1/c", "C", &r1);
	put_str(c, "/t/w1x", "outside again", NULL);
	assert_int_equal(ds_delete(c, "/t/w1/a", NULL), 0);
	put_str(c, "/t/w1/b", "B2", &r3);
	r2 = r1 + 2;
	run_until_n(w, r, 7);
	assert_int_equal(r->n, 7);
	expect(&r->v[4], DS_WATCH_PUT, "/t/w1/c", "C");
	assert_int_equal(r->v[4].revision, r1);
	expect(&r->v[5], DS_WATCH_DELETE, "/t/w1/a", NULL);
	assert_int_equal(r->v[5].revision, r2);
	expect(&r->v[6], DS_WATCH_PUT, "/t/w1/b", "B2");
	assert_int_equal(r->v[6].revision, r3);

	/* Nothing else arrives. */
	assert_int_equal(ds_watch_run(w, 300), 0);
	assert_int_equal(r->n, 7);

	/* A callback error stops delivery; the remaining events come on the next run. */
	r->fail_at = 8;
	put_str(c, "/t/w1/d", "D", NULL);
	put_str(c, "/t/w1/e", "E", NULL);
	for (int i = 0; i < 100 && r->n < 8; i++) {
		int k = ds_watch_run(w, 200);

		if (k < 0) {
			assert_int_equal(k, -EIO);
			break;
		}
	}
	assert_int_equal(r->n, 8);
	r->fail_at = 0;
	run_until_n(w, r, 9);
	expect(&r->v[7], DS_WATCH_PUT, "/t/w1/d", "D");
	expect(&r->v[8], DS_WATCH_PUT, "/t/w1/e", "E");
	w = ds_watch_free(w);
	free(r);
}

static void test_watch_resume_after_restart(void **state)
{
	_cleanup_(ds_client_freep) struct ds_client *c = client();
	_cleanup_(ds_watch_freep) struct ds_watch *w = NULL;
	struct recs *r = calloc(1, sizeof(*r));
	int64_t ra, rb, rc;
	size_t base;

	put_str(c, "/t/w2/k0", "zero", NULL);
	assert_int_equal(ds_watch_new(c, "/t/w2/", record, r, &w), 0);
	run_until_type(w, r, DS_WATCH_SNAPSHOT_END);
	assert_int_equal(r->n, 3);
	put_str(c, "/t/w2/k1", "one", NULL);
	run_until_n(w, r, 4);
	expect(&r->v[3], DS_WATCH_PUT, "/t/w2/k1", "one");

	/* Cut the stream: stop etcd, see DISCONNECTED, start it on the same data and port. */
	etcd_ctl("stop");
	run_until_type(w, r, DS_WATCH_DISCONNECTED);
	assert_int_equal(r->n, 5);
	expect(&r->v[4], DS_WATCH_DISCONNECTED, NULL, NULL);
	assert_false(ds_watch_in_sync(w));
	/* While etcd is down the watch waits (and says nothing more). */
	assert_int_equal(ds_watch_run(w, 300), 0);
	assert_int_equal(ds_put(c, "/t/w2/down", "x", 1, 0, NULL), -ECONNREFUSED);
	etcd_ctl("start");

	/* Writes while the watch is disconnected. */
	put_str(c, "/t/w2/k2", "two", &ra);
	assert_int_equal(ds_delete(c, "/t/w2/k0", NULL), 0);
	put_str(c, "/t/w2/k1", "one-b", &rc);
	rb = ra + 1;
	base = r->n;
	run_until_n(w, r, base + 3);
	assert_int_equal(r->n, base + 3);
	expect(&r->v[base], DS_WATCH_PUT, "/t/w2/k2", "two");
	assert_int_equal(r->v[base].revision, ra);
	expect(&r->v[base + 1], DS_WATCH_DELETE, "/t/w2/k0", NULL);
	assert_int_equal(r->v[base + 1].revision, rb);
	expect(&r->v[base + 2], DS_WATCH_PUT, "/t/w2/k1", "one-b");
	assert_int_equal(r->v[base + 2].revision, rc);
	/* Exactly once: nothing repeated, no second snapshot. */
	assert_int_equal(ds_watch_run(w, 500), 0);
	assert_int_equal(r->n, base + 3);
	assert_true(ds_watch_in_sync(w));
	/* And live events keep coming. */
	put_str(c, "/t/w2/k3", "three", NULL);
	run_until_n(w, r, base + 4);
	expect(&r->v[base + 3], DS_WATCH_PUT, "/t/w2/k3", "three");
	w = ds_watch_free(w);
	free(r);
}

static void test_watch_resnapshot_after_compaction(void **state)
{
	_cleanup_(ds_client_freep) struct ds_client *c = client();
	_cleanup_(ds_watch_freep) struct ds_watch *w = NULL;
	struct recs *r = calloc(1, sizeof(*r));
	int64_t rev = 0;
	size_t base, end = 0;

	put_str(c, "/t/w3/a", "A", NULL);
	put_str(c, "/t/w3/b", "B", NULL);
	assert_int_equal(ds_watch_new(c, "/t/w3/", record, r, &w), 0);
	run_until_type(w, r, DS_WATCH_SNAPSHOT_END);
	assert_int_equal(r->n, 4);

	/* Stop consuming (the stream is cut so nothing is buffered for us), write several
	 * revisions, compact past them. */
	etcd_ctl("stop");
	run_until_type(w, r, DS_WATCH_DISCONNECTED);
	etcd_ctl("start");
	put_str(c, "/t/w3/c", "C", NULL);
	put_str(c, "/t/w3/a", "A2", NULL);
	assert_int_equal(ds_delete(c, "/t/w3/b", NULL), 0);
	put_str(c, "/t/w3/a", "A3", &rev);
	put_str(c, "/t/other", "x", &rev);
	assert_int_equal(ds_compact(c, rev), 0);

	base = r->n;
	for (int i = 0; i < 100 && !end; i++) {
		assert_true(ds_watch_run(w, 200) >= 0);
		for (size_t j = base; j < r->n; j++)
			if (r->v[j].type == DS_WATCH_SNAPSHOT_END)
				end = j;
	}
	assert_true(end > 0);
	/* A fresh snapshot of the current state, nothing from the compacted history. */
	assert_int_equal(end - base, 3);
	expect(&r->v[base], DS_WATCH_SNAPSHOT_BEGIN, NULL, NULL);
	assert_true(r->v[base].revision >= rev);
	expect(&r->v[base + 1], DS_WATCH_PUT, "/t/w3/a", "A3");
	expect(&r->v[base + 2], DS_WATCH_PUT, "/t/w3/c", "C");
	expect(&r->v[base + 3], DS_WATCH_SNAPSHOT_END, NULL, NULL);

	/* Then live again from the new snapshot. */
	put_str(c, "/t/w3/d", "D", NULL);
	run_until_n(w, r, end + 2);
	expect(&r->v[end + 1], DS_WATCH_PUT, "/t/w3/d", "D");
	assert_true(ds_watch_in_sync(w));
	w = ds_watch_free(w);
	free(r);
}

/* ---- the poll-loop API: a loop that only polls ---- */

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* The longest single ds_watch_dispatch() so far: it must never block on the network. */
static uint64_t max_dispatch_ms;

/* One round of the consumer's loop: poll the watch's fds for at most @max_wait_ms (less when the
 * watch asks for it), then dispatch. */
static int poll_round(struct ds_watch *w, int max_wait_ms)
{
	struct pollfd fds[8];
	uint64_t now, t0;
	int n, t, wait, k, r;

	n = ds_watch_pollfds(w, fds, ELEMENTSOF(fds));
	assert_true(n >= 0);
	for (int i = 0; i < n; i++) {
		assert_true(fds[i].fd >= 0);
		assert_true(fds[i].events & (POLLIN | POLLOUT));
	}
	t = ds_watch_timeout_ms(w, mono_ms());
	assert_true(t >= -1);
	wait = t < 0 || t > max_wait_ms ? max_wait_ms : t;
	k = poll(fds, (nfds_t)n, wait);
	assert_true(k >= 0);
	now = mono_ms();
	t0 = now;
	r = ds_watch_dispatch(w, fds, (size_t)n, now);
	max_dispatch_ms = MAX(max_dispatch_ms, mono_ms() - t0);
	return r;
}

static void poll_until_n(struct ds_watch *w, struct recs *r, size_t want, int secs)
{
	uint64_t end = mono_ms() + (uint64_t)secs * 1000;

	while (r->n < want && mono_ms() < end)
		assert_true(poll_round(w, 100) >= 0);
	assert_true(r->n >= want);
}

static void poll_until_sync(struct ds_watch *w, bool want, int secs)
{
	uint64_t end = mono_ms() + (uint64_t)secs * 1000;

	while (ds_watch_in_sync(w) != want && mono_ms() < end)
		assert_true(poll_round(w, 100) >= 0);
	assert_int_equal(ds_watch_in_sync(w), want);
}

static size_t count_type(const struct recs *r, size_t from, enum ds_watch_event_type t)
{
	size_t n = 0;

	for (size_t i = from; i < r->n; i++)
		n += r->v[i].type == t;
	return n;
}

static void test_watch_poll_loop(void **state)
{
	_cleanup_(ds_client_freep) struct ds_client *c = client();
	_cleanup_(ds_watch_freep) struct ds_watch *w = NULL;
	struct recs *r = calloc(1, sizeof(*r));
	struct ds_watch_status st;
	struct pollfd none[1];
	const char *restart = getenv("TABBY_TEST_ETCD_RESTART");
	int64_t r4, r5, r6, rd;
	size_t base;

	assert_non_null(restart);
	max_dispatch_ms = 0;
	put_str(c, "/t/pl/b", "B", NULL);
	put_str(c, "/t/pl/a", "A", NULL);
	put_str(c, "/t/pl/c", "C", NULL);
	assert_int_equal(ds_watch_new(c, "/t/pl/", record, r, &w), 0);
	/* Nothing happens before the first dispatch, which is due at once. */
	assert_int_equal(ds_watch_pollfds(w, none, 0), 0);
	assert_int_equal(ds_watch_timeout_ms(w, mono_ms()), 0);
	ds_watch_status(w, &st);
	assert_false(st.in_sync);
	assert_string_equal(st.endpoint, endpoints());
	assert_int_equal(st.revision, 0);

	/* A timers-only dispatch starts the first page: then there is an fd to poll, and a
	 * too-small array is refused. */
	assert_int_equal(ds_watch_dispatch(w, NULL, 0, mono_ms()), 0);
	{
		struct pollfd fds[8];

		assert_true(ds_watch_pollfds(w, fds, ELEMENTSOF(fds)) >= 1);
		assert_int_equal(ds_watch_pollfds(w, fds, 0), -ENOBUFS);
	}
	poll_until_sync(w, true, 20);
	assert_int_equal(r->n, 5);
	expect(&r->v[0], DS_WATCH_SNAPSHOT_BEGIN, NULL, NULL);
	expect(&r->v[1], DS_WATCH_PUT, "/t/pl/a", "A");
	expect(&r->v[2], DS_WATCH_PUT, "/t/pl/b", "B");
	expect(&r->v[3], DS_WATCH_PUT, "/t/pl/c", "C");
	expect(&r->v[4], DS_WATCH_SNAPSHOT_END, NULL, NULL);

	/* Live events. */
	put_str(c, "/t/pl/d", "D", NULL);
	assert_int_equal(ds_delete(c, "/t/pl/a", NULL), 0);
	poll_until_n(w, r, 7, 20);
	expect(&r->v[5], DS_WATCH_PUT, "/t/pl/d", "D");
	expect(&r->v[6], DS_WATCH_DELETE, "/t/pl/a", NULL);

	/* A write the loop has not read yet, an etcd restart, two writes while the stream is
	 * down: each arrives once, in order, with no second snapshot. */
	put_str(c, "/t/pl/e", "E4", &r4);
	{
		char cmd[4096];

		snprintf(cmd, sizeof(cmd), "%s >/dev/null", restart);
		assert_int_equal(system(cmd), 0);
	}
	put_str(c, "/t/pl/f", "F5", &r5);
	assert_int_equal(ds_delete(c, "/t/pl/b", NULL), 0);
	put_str(c, "/t/pl/g", "G6", &r6);
	rd = r5 + 1;
	base = 7;
	{
		uint64_t end = mono_ms() + 20000;

		while (count_type(r, base, DS_WATCH_PUT) + count_type(r, base, DS_WATCH_DELETE) <
			   4 &&
		       mono_ms() < end)
			assert_true(poll_round(w, 100) >= 0);
	}
	{
		static const char *keys[] = {"/t/pl/e", "/t/pl/f", "/t/pl/b", "/t/pl/g"};
		int64_t revs[] = {r4, r5, rd, r6};
		size_t j = 0;

		for (size_t i = base; i < r->n; i++) {
			if (r->v[i].type == DS_WATCH_DISCONNECTED)
				continue;
			assert_true(j < 4);
			assert_int_equal(r->v[i].type, j == 2 ? DS_WATCH_DELETE : DS_WATCH_PUT);
			assert_string_equal(r->v[i].key, keys[j]);
			assert_int_equal(r->v[i].revision, revs[j]);
			j++;
		}
		assert_int_equal(j, 4);
	}
	assert_int_equal(count_type(r, base, DS_WATCH_DISCONNECTED), 1);
	assert_int_equal(count_type(r, 0, DS_WATCH_SNAPSHOT_BEGIN), 1);
	poll_until_sync(w, true, 20);
	/* Nothing more arrives: exactly once. */
	base = r->n;
	for (int i = 0; i < 5; i++)
		assert_true(poll_round(w, 100) >= 0);
	assert_int_equal(r->n, base);
	ds_watch_status(w, &st);
	assert_true(st.in_sync);
	assert_int_equal(st.revision, r6);
	assert_string_equal(st.endpoint, endpoints());
	assert_true(st.reason[0] != '\0'); /* the restart left its mark */
	print_message("longest dispatch: %" PRIu64 " ms; last reason: %s\n", max_dispatch_ms,
		      st.reason);
	/* Never blocked: a blocking connect or request would take hundreds of ms at least. */
	assert_true(max_dispatch_ms < 250);
	w = ds_watch_free(w);
	free(r);
}

/* A TCP listener that never accepts nor answers: what a SIGSTOPped etcd looks like. */
static int hung_listener(int *ret_port)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(fd, 16), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	*ret_port = ntohs(a.sin_port);
	return fd;
}

static void test_watch_poll_hung_endpoint(void **state)
{
	_cleanup_(ds_client_freep) struct ds_client *c = NULL;
	_cleanup_(ds_watch_freep) struct ds_watch *w = NULL;
	struct recs *r = calloc(1, sizeof(*r));
	struct ds_watch_status st;
	char eps[1024], hung[64];
	int port, lfd = hung_listener(&port);

	max_dispatch_ms = 0;
	snprintf(hung, sizeof(hung), "http://127.0.0.1:%d", port);
	snprintf(eps, sizeof(eps), "%s,%s", hung, endpoints());
	{
		struct ds_config cfg = {.endpoints = eps, .timeout_ms = 800};

		assert_int_equal(ds_client_new(&cfg, &c), 0);
	}
	{
		_cleanup_(ds_client_freep) struct ds_client *direct = client();

		put_str(direct, "/t/hung/k", "v", NULL);
	}
	assert_int_equal(ds_watch_new(c, "/t/hung/", record, r, &w), 0);
	poll_until_sync(w, true, 20);
	expect(&r->v[1], DS_WATCH_PUT, "/t/hung/k", "v");
	ds_watch_status(w, &st);
	assert_string_equal(st.endpoint, endpoints());
	assert_true(st.failovers >= 1);
	assert_non_null(strstr(st.reason, hung));
	print_message("longest dispatch: %" PRIu64 " ms; reason: %s\n", max_dispatch_ms, st.reason);
	assert_true(max_dispatch_ms < 250);
	close(lfd);
	w = ds_watch_free(w);
	free(r);
}

static pid_t etcd_pid(void)
{
	const char *dir = getenv("TABBY_TEST_ETCD_DIR");
	char path[4096];
	FILE *f;
	int pid = 0;

	assert_non_null(dir);
	snprintf(path, sizeof(path), "%s/etcd.pid", dir);
	f = fopen(path, "re");
	assert_non_null(f);
	assert_int_equal(fscanf(f, "%d", &pid), 1);
	fclose(f);
	assert_true(pid > 1);
	return pid;
}

static void test_watch_hung_member(void **state)
{
	_cleanup_(ds_client_freep) struct ds_client *c = client();
	_cleanup_(ds_watch_freep) struct ds_watch *w = NULL;
	struct recs *r = calloc(1, sizeof(*r));
	struct ds_watch_status st;
	pid_t pid = etcd_pid();
	uint64_t t0, lost;
	int64_t rev;
	size_t base;

	put_str(c, "/t/stop/a", "A", NULL);
	assert_int_equal(ds_watch_new(c, "/t/stop/", record, r, &w), 0);
	poll_until_sync(w, true, 20);
	base = r->n;

	/* Freeze etcd: its sockets stay open, so only the heartbeat can tell. */
	assert_int_equal(kill(pid, SIGSTOP), 0);
	t0 = mono_ms();
	{
		uint64_t end = t0 + 15000;

		while (ds_watch_in_sync(w) && mono_ms() < end)
			if (poll_round(w, 100) < 0)
				break;
	}
	lost = mono_ms() - t0;
	ds_watch_status(w, &st);
	kill(pid, SIGCONT);
	print_message("hung etcd noticed after %" PRIu64 " ms: %s\n", lost, st.reason);
	assert_false(st.in_sync);
	assert_non_null(strstr(st.reason, "heartbeat"));
	assert_int_equal(count_type(r, base, DS_WATCH_DISCONNECTED), 1);

	/* Thawed: back in sync, and a new write arrives once. */
	put_str(c, "/t/stop/b", "B", &rev);
	poll_until_sync(w, true, 20);
	poll_until_n(w, r, base + 2, 20);
	for (int i = 0; i < 3; i++)
		assert_true(poll_round(w, 100) >= 0);
	assert_int_equal(count_type(r, base, DS_WATCH_PUT), 1);
	assert_int_equal(count_type(r, 0, DS_WATCH_SNAPSHOT_BEGIN), 1);
	expect(&r->v[r->n - 1], DS_WATCH_PUT, "/t/stop/b", "B");
	assert_int_equal(r->v[r->n - 1].revision, rev);
	w = ds_watch_free(w);
	free(r);
}

/* ---- endpoints ---- */

static void test_unix_socket(void **state)
{
	const char *u = getenv("TABBY_TEST_ETCD_UNIX");
	_cleanup_(ds_client_freep) struct ds_client *c = NULL, *tcp = client();
	_cleanup_(ds_watch_freep) struct ds_watch *w = NULL;
	struct recs *r = calloc(1, sizeof(*r));
	struct ds_kv kv = {0};

	assert_non_null(u);
	assert_true(strncmp(u, "unix:///", 8) == 0);
	c = client_for(u);
	put_str(c, "/t/unix/k", "over the socket", NULL);
	assert_int_equal(ds_get(tcp, "/t/unix/k", &kv, NULL), 0);
	assert_string_equal(kv.value, "over the socket");
	ds_kv_done(&kv);
	assert_int_equal(ds_watch_new(c, "/t/unix/", record, r, &w), 0);
	run_until_type(w, r, DS_WATCH_SNAPSHOT_END);
	put_str(tcp, "/t/unix/k2", "live", NULL);
	run_until_n(w, r, 4);
	expect(&r->v[1], DS_WATCH_PUT, "/t/unix/k", "over the socket");
	expect(&r->v[3], DS_WATCH_PUT, "/t/unix/k2", "live");
	w = ds_watch_free(w);
	free(r);
}

static void test_endpoint_fallthrough(void **state)
{
	_cleanup_(ds_client_freep) struct ds_client *c = NULL;
	_cleanup_(ds_watch_freep) struct ds_watch *w = NULL;
	struct recs *r = calloc(1, sizeof(*r));
	char eps[1024];
	struct ds_kv kv = {0};

	snprintf(eps, sizeof(eps), "http://127.0.0.1:1, %s", endpoints());
	c = client_for(eps);
	/* The watch is the first user: its snapshot and stream fall through too. */
	assert_int_equal(ds_watch_new(c, "/t/ft/", record, r, &w), 0);
	run_until_type(w, r, DS_WATCH_SNAPSHOT_END);
	put_str(c, "/t/ft/k", "v", NULL);
	assert_int_equal(ds_get(c, "/t/ft/k", &kv, NULL), 0);
	ds_kv_done(&kv);
	run_until_n(w, r, 3);
	expect(&r->v[2], DS_WATCH_PUT, "/t/ft/k", "v");
	for (size_t i = 0; i < r->n; i++)
		assert_int_not_equal(r->v[i].type, DS_WATCH_DISCONNECTED);
	w = ds_watch_free(w);
	free(r);
}

/* ---- children a test starts (a fake endpoint, a TLS etcd) ---- */

/* The child a running test started, and the directory it runs in: stop_child(), the teardown
 * of those tests, stops and removes them even when an assert ends the test early (cmocka runs
 * the teardown after a failure), so no etcd or endless accept() loop outlives the test. */
static pid_t test_child;
static char test_child_dir[64];

static int stop_child(void **state)
{
	(void)state;
	if (test_child > 0) {
		kill(test_child, SIGTERM);
		waitpid(test_child, NULL, 0);
		test_child = 0;
	}
	if (test_child_dir[0]) {
		char cmd[128];

		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", test_child_dir);
		(void)!system(cmd);
		test_child_dir[0] = '\0';
	}
	return 0;
}

/* ---- snapshot pages: gRPC and the JSON gateway ---- */

/* Every PUT of the first snapshot folded into a count and an FNV-1a hash of key, value and
 * revision, in delivery order. */
struct digest {
	size_t puts;
	uint64_t h;
	bool begin, end;
	/* ds_watch_set_batch_cb() (@batched): the PUTs told ahead must be the ones delivered,
	 * in order */
	bool batched;
	const struct ds_kv *const *batch;
	size_t batch_n, batch_next, batches, batch_ends, batch_puts;
};

static void fnv(uint64_t *h, const void *p, size_t n)
{
	const unsigned char *b = p;

	for (size_t i = 0; i < n; i++)
		*h = (*h ^ b[i]) * 1099511628211ULL;
}

static int digest_cb(void *userdata, const struct ds_watch_event *ev)
{
	struct digest *d = userdata;

	if (ev->type == DS_WATCH_SNAPSHOT_BEGIN && !d->end) {
		d->puts = d->batch_puts = 0;
		d->h = 14695981039346656037ULL;
		d->begin = true;
		if (d->batch) /* this page's PUTs were told before its BEGIN */
			d->batch_puts = d->batch_n - d->batch_next;
	} else if (ev->type == DS_WATCH_PUT && !d->end) {
		if (d->batched) { /* told in the batch, and the next one of it */
			assert_true(d->batch && d->batch_next < d->batch_n);
			assert_ptr_equal(d->batch[d->batch_next], ev->kv);
			assert_string_equal(d->batch[d->batch_next]->key, ev->kv->key);
			d->batch_next++;
		}
		d->puts++;
		fnv(&d->h, ev->kv->key, strlen(ev->kv->key) + 1);
		fnv(&d->h, ev->kv->value, ev->kv->value_len);
		fnv(&d->h, &ev->kv->mod_revision, sizeof(ev->kv->mod_revision));
		fnv(&d->h, &ev->kv->create_revision, sizeof(ev->kv->create_revision));
	} else if (ev->type == DS_WATCH_SNAPSHOT_END) {
		d->end = true;
	}
	return 0;
}

static void digest_batch_cb(void *userdata, const struct ds_kv *const *kvs, size_t n)
{
	struct digest *d = userdata;

	if (n) {
		assert_null(d->batch); /* the last batch ended */
		d->batch = kvs;
		d->batch_n = n;
		d->batch_next = 0;
		d->batches++;
		d->batch_puts += n;
		return;
	}
	assert_non_null(d->batch);
	assert_int_equal(d->batch_next, d->batch_n); /* no error here: every PUT delivered */
	d->batch = NULL;
	d->batch_ends++;
}

/* The first snapshot of @prefix through @eps; @json: TABBY_DATASTORE_SNAPSHOT=json. */
static void snapshot_digest(const char *eps, const char *prefix, bool json, struct digest *d,
			    struct ds_watch_status *st)
{
	struct ds_config cfg = {.endpoints = eps, .snapshot_json = json};
	_cleanup_(ds_client_freep) struct ds_client *c = NULL;
	_cleanup_(ds_watch_freep) struct ds_watch *w = NULL;
	uint64_t end = mono_ms() + 30000;

	*d = (struct digest){.batched = true};
	assert_int_equal(ds_client_new(&cfg, &c), 0);
	assert_int_equal(ds_watch_new(c, prefix, digest_cb, d, &w), 0);
	ds_watch_set_batch_cb(w, digest_batch_cb);
	while (!d->end && mono_ms() < end)
		assert_true(poll_round(w, 100) >= 0);
	assert_true(d->begin && d->end);
	/* every PUT was told in a batch first (a page each: several of them), each batch ended */
	assert_true(d->batches >= 2);
	assert_int_equal(d->batch_ends, d->batches);
	assert_int_equal(d->batch_puts, d->puts);
	ds_watch_status(w, st);
}

/* A snapshot read as gRPC KV.Range pages delivers exactly what the gateway pages deliver:
 * several pages (12,000 keys: the first page asks for 5,000), keys and values that are not
 * text (bytes 0x01-0xff, which the gateway carries as base64), empty values. Each page's PUTs
 * are told to the batch callback before they are delivered (snapshot_digest()), while the
 * next page is read in between (ds_watch_pump()). */
static void test_watch_snapshot_grpc_equals_gateway(void **state)
{
	_cleanup_(ds_client_freep) struct ds_client *c = client();
	struct digest g, j;
	struct ds_watch_status st;
	struct ds_cas ops[DS_TXN_MAX_OPS];
	char keys[DS_TXN_MAX_OPS][64], vals[DS_TXN_MAX_OPS][96];
	const size_t n = 12000;

	for (size_t i = 0; i < n;) {
		size_t k = 0;

		for (; k < DS_TXN_MAX_OPS && i < n; k++, i++) {
			size_t vl = i % 7 == 0 ? 0 : 1 + i % 90;

			snprintf(keys[k], sizeof(keys[k]), "/t/gr/%05zu-\xc3\xa9\x7f", i);
			for (size_t b = 0; b < vl; b++)
				vals[k][b] = (char)(1 + (i * 31 + b * 7) % 255);
			ops[k] = (struct ds_cas){
			    .kind = DS_CAS_PUT, .key = keys[k], .value = vals[k], .len = vl};
		}
		assert_int_equal(ds_cas_many(c, ops, k, NULL), 0);
	}
	snapshot_digest(endpoints(), "/t/gr/", false, &g, &st);
	assert_string_equal(st.snapshot_via, "grpc");
	snapshot_digest(endpoints(), "/t/gr/", true, &j, &st);
	assert_string_equal(st.snapshot_via, "json");
	assert_int_equal(g.puts, n);
	assert_int_equal(j.puts, n);
	assert_true(g.h == j.h);
}

/* An endpoint that answers every request with HTTP/1.1 400 (a broken proxy): its gRPC page
 * fails as "not gRPC", its gateway page fails too, and the snapshot comes from the next endpoint,
 * which gets its own chance at gRPC (before, the first endpoint's failure sent every later
 * snapshot of the watch through the gateway). */
static void test_watch_snapshot_falls_back_to_gateway(void **state)
{
	struct digest d;
	struct ds_watch_status st;
	char eps[1024];
	int port = 0, lfd = hung_listener(&port);
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		static const char reply[] = "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n"
					    "Connection: close\r\n\r\n";
		for (;;) {
			char buf[4096];
			int fd = accept(lfd, NULL, NULL);

			if (fd < 0)
				continue;
			(void)!read(fd, buf, sizeof(buf));
			(void)!write(fd, reply, sizeof(reply) - 1);
			close(fd);
		}
	}
	test_child = pid;
	close(lfd);
	snprintf(eps, sizeof(eps), "http://127.0.0.1:%d,%s", port, endpoints());
	snapshot_digest(eps, "/t/gr/", false, &d, &st);
	stop_child(NULL);
	assert_string_equal(st.snapshot_via, "grpc");
	assert_int_equal(d.puts, 12000);
}

/* The child of test_watch_snapshot_through_http1_proxy(): relays every connection on @lfd to
 * etcd at 127.0.0.1:@up in one poll() loop, except one that opens with HTTP/2's connection
 * preface (prior knowledge), which gets 400 as from an HTTP/1.1-only proxy. Never returns. */
static void __attribute__((noreturn)) http1_proxy(int lfd, int up)
{
	static const char preface[] = "PRI * HTTP/2.0";
	static const char reply[] = "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n"
				    "Connection: close\r\n\r\n";
	struct pollfd fds[65] = {{.fd = lfd, .events = POLLIN}};
	int peer[65] = {0};
	bool relayed[65] = {0};
	size_t n = 1;

	for (;;) {
		if (poll(fds, n, -1) < 0)
			continue;
		if ((fds[0].revents & POLLIN) && n + 2 <= ELEMENTSOF(fds)) {
			int c = accept(lfd, NULL, NULL);

			if (c >= 0) {
				fds[n] = (struct pollfd){.fd = c, .events = POLLIN};
				relayed[n++] = false;
			}
		}
		for (size_t i = 1; i < n; i++) {
			char buf[65536];
			ssize_t k;

			if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			if (!relayed[i]) {
				struct sockaddr_in a = {.sin_family = AF_INET,
							.sin_port = htons((uint16_t)up),
							.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
				int u;

				k = recv(fds[i].fd, buf, sizeof(preface) - 1,
					 MSG_PEEK | MSG_WAITALL);
				if (k == (ssize_t)sizeof(preface) - 1 &&
				    memcmp(buf, preface, sizeof(preface) - 1) == 0) {
					(void)!write(fds[i].fd, reply, sizeof(reply) - 1);
					close(fds[i].fd);
					fds[i].fd = -1;
					continue;
				}
				u = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
				if (u < 0 || connect(u, (struct sockaddr *)&a, sizeof(a)) < 0 ||
				    n >= ELEMENTSOF(fds)) {
					if (u >= 0)
						close(u);
					close(fds[i].fd);
					fds[i].fd = -1;
					continue;
				}
				fds[n] = (struct pollfd){.fd = u, .events = POLLIN};
				relayed[i] = relayed[n] = true;
				peer[n] = (int)i;
				peer[i] = (int)n++;
			}
			k = read(fds[i].fd, buf, sizeof(buf));
			int o = peer[i];
			if (k <= 0 || fds[o].fd < 0 || write(fds[o].fd, buf, (size_t)k) != k) {
				close(fds[i].fd);
				fds[i].fd = -1;
				if (fds[o].fd >= 0)
					close(fds[o].fd);
				fds[o].fd = -1;
			}
		}
	}
}

/* An HTTP/1.1-only proxy in front of etcd: its gRPC page fails as "not gRPC", the same endpoint
 * is asked again through the gateway, and the whole snapshot comes that way. */
static void test_watch_snapshot_through_http1_proxy(void **state)
{
	struct digest d;
	struct ds_watch_status st;
	char eps[256];
	const char *colon = strrchr(endpoints(), ':');
	int port = 0, up = colon ? atoi(colon + 1) : 0, lfd;
	pid_t pid;

	assert_true(up > 0 && !strchr(endpoints(), ','));
	lfd = hung_listener(&port);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		http1_proxy(lfd, up);
	test_child = pid;
	close(lfd);
	snprintf(eps, sizeof(eps), "http://127.0.0.1:%d", port);
	snapshot_digest(eps, "/t/gr/", false, &d, &st);
	stop_child(NULL);
	assert_string_equal(st.snapshot_via, "json");
	assert_int_equal(d.puts, 12000);
}

/* ---- warm snapshots (ds_watch_set_known_cb()) ---- */

/* The consumer's side: the keys of @prefix ("%05zu" after it), what etcd holds now (@val, @mod,
 * @create), what the consumer recorded (@held_mod) and claims to know (@known), and what the
 * watch delivered. */
struct warm {
	const char *prefix;
	size_t n;
	char **val;
	size_t *vlen;
	int64_t *mod, *create, *held_mod;
	bool *known;  /* the known callback says true (when the revisions match the record) */
	bool *absent; /* deleted from etcd */
	unsigned *keeps, *puts; /* per key, since the last BEGIN */
	size_t asked, begins, ends, refuse;
	bool in_snapshot;
	enum ds_watch_event_type *log; /* every event's type, in order */
	size_t n_log, cap_log;
	size_t lives; /* PUTs after an END (the stream) */
	char live_key[128];
	int64_t live_rev;
	const struct ds_kv *const *batch;
	size_t batch_n, batch_next;
};

static size_t warm_idx(const struct warm *t, const char *key)
{
	size_t pl = strlen(t->prefix), i;
	char *end;

	assert_true(strncmp(key, t->prefix, pl) == 0);
	i = strtoul(key + pl, &end, 10);
	assert_true(*end == '\0' && i < t->n);
	return i;
}

static bool warm_known(void *userdata, const struct ds_kv *kv, int64_t snap_rev)
{
	struct warm *t = userdata;
	size_t i = warm_idx(t, kv->key);

	assert_true(snap_rev >= kv->mod_revision);
	assert_true(kv->value == NULL || kv->value_len == 0);
	t->asked++;
	return t->known[i] && kv->mod_revision == t->held_mod[i] &&
	       kv->create_revision == t->create[i];
}

/* Expected of the snapshot: a KEEP for key @i, else a PUT (or nothing when deleted). */
static bool warm_kept(const struct warm *t, size_t i)
{
	return t->known[i] && t->held_mod[i] == t->mod[i];
}

static int warm_cb(void *userdata, const struct ds_watch_event *ev)
{
	struct warm *t = userdata;
	size_t i;

	if (t->n_log == t->cap_log) {
		t->cap_log = t->cap_log ? t->cap_log * 2 : 256;
		t->log = realloc(t->log, t->cap_log * sizeof(*t->log));
		assert_non_null(t->log);
	}
	t->log[t->n_log++] = ev->type;
	switch (ev->type) {
	case DS_WATCH_SNAPSHOT_BEGIN:
		assert_null(ev->kv);
		t->begins++;
		t->in_snapshot = true;
		memset(t->keeps, 0, t->n * sizeof(*t->keeps));
		memset(t->puts, 0, t->n * sizeof(*t->puts));
		break;
	case DS_WATCH_KEEP:
		assert_true(t->in_snapshot);
		assert_non_null(ev->kv);
		assert_null(ev->kv->value);
		assert_int_equal(ev->kv->value_len, 0);
		i = warm_idx(t, ev->kv->key);
		assert_true(warm_kept(t, i));
		assert_int_equal(ev->kv->mod_revision, t->mod[i]);
		assert_int_equal(ev->revision, t->mod[i]);
		assert_int_equal(ev->kv->create_revision, t->create[i]);
		assert_true(ev->kv->version >= 1);
		assert_int_equal(ev->kv->lease, 0);
		/* never told to the batch callback as a PUT */
		assert_true(!t->batch || t->batch_next == t->batch_n ||
			    t->batch[t->batch_next] != ev->kv);
		t->keeps[i]++;
		if (t->refuse && --t->refuse == 0)
			return -ESTALE;
		break;
	case DS_WATCH_PUT:
		assert_non_null(ev->kv);
		assert_non_null(ev->kv->value);
		i = warm_idx(t, ev->kv->key);
		assert_int_equal(ev->kv->value_len, t->vlen[i]);
		assert_memory_equal(ev->kv->value, t->val[i], t->vlen[i]);
		assert_int_equal(ev->kv->mod_revision, t->mod[i]);
		if (t->batch) { /* told in the batch, and the next one of it */
			assert_true(t->batch_next < t->batch_n);
			assert_ptr_equal(t->batch[t->batch_next], ev->kv);
			t->batch_next++;
		}
		if (t->in_snapshot) {
			t->puts[i]++;
		} else {
			t->lives++;
			snprintf(t->live_key, sizeof(t->live_key), "%s", ev->kv->key);
			t->live_rev = ev->revision;
		}
		break;
	case DS_WATCH_SNAPSHOT_END:
		assert_true(t->in_snapshot);
		t->in_snapshot = false;
		t->ends++;
		break;
	default:
		break;
	}
	return 0;
}

static void warm_batch_cb(void *userdata, const struct ds_kv *const *kvs, size_t n)
{
	struct warm *t = userdata;

	if (n) {
		assert_null(t->batch);
		for (size_t j = 0; j < n; j++)
			assert_non_null(kvs[j]->value); /* PUTs with their values only */
	}
	t->batch = kvs;
	t->batch_n = n;
	t->batch_next = 0;
}

/* The value of key @i, generation @gen: 8 to ~1,000 bytes. */
static void warm_set_value(struct warm *t, size_t i, unsigned gen)
{
	size_t len = 8 + (i * 131 + gen * 17) % 1000;
	char *v = malloc(len + 1);
	int k;

	assert_non_null(v);
	for (size_t b = 0; b < len; b++)
		v[b] = (char)('a' + (i + b + gen) % 26);
	k = snprintf(v, len + 1, "%zu-%u-", i, gen);
	if ((size_t)k < len)
		v[k] = 'x';
	v[len] = '\0';
	free(t->val[i]);
	t->val[i] = v;
	t->vlen[i] = len;
}

/* Writes @n keys under @prefix (64 to a txn) and records them as the consumer's copy. */
static void warm_init(struct warm *t, struct ds_client *c, const char *prefix, size_t n)
{
	struct ds_cas ops[DS_TXN_MAX_OPS];
	char keys[DS_TXN_MAX_OPS][64];

	*t = (struct warm){.prefix = prefix, .n = n};
	t->val = calloc(n, sizeof(*t->val));
	t->vlen = calloc(n, sizeof(*t->vlen));
	t->mod = calloc(n, sizeof(*t->mod));
	t->create = calloc(n, sizeof(*t->create));
	t->held_mod = calloc(n, sizeof(*t->held_mod));
	t->known = calloc(n, sizeof(*t->known));
	t->absent = calloc(n, sizeof(*t->absent));
	t->keeps = calloc(n, sizeof(*t->keeps));
	t->puts = calloc(n, sizeof(*t->puts));
	assert_true(t->val && t->vlen && t->mod && t->create && t->held_mod && t->known &&
		    t->absent && t->keeps && t->puts);
	for (size_t i = 0; i < n;) {
		size_t k = 0, first = i;
		int64_t rev = 0;

		for (; k < DS_TXN_MAX_OPS && i < n; k++, i++) {
			warm_set_value(t, i, 0);
			snprintf(keys[k], sizeof(keys[k]), "%s%05zu", prefix, i);
			ops[k] = (struct ds_cas){.kind = DS_CAS_PUT,
						 .key = keys[k],
						 .value = t->val[i],
						 .len = t->vlen[i]};
		}
		assert_int_equal(ds_cas_many(c, ops, k, &rev), 0);
		for (size_t j = first; j < i; j++) /* a txn's puts share its revision */
			t->mod[j] = t->create[j] = t->held_mod[j] = rev;
	}
}

static void warm_done(struct warm *t)
{
	for (size_t i = 0; i < t->n; i++)
		free(t->val[i]);
	free(t->val);
	free(t->vlen);
	free(t->mod);
	free(t->create);
	free(t->held_mod);
	free(t->known);
	free(t->absent);
	free(t->keeps);
	free(t->puts);
	free(t->log);
}

/* A new watch of t->prefix with the known and batch callbacks, run until @ends snapshots ended. */
static struct ds_watch *warm_watch(struct warm *t, struct ds_client *c, size_t ends)
{
	struct ds_watch *w = NULL;
	uint64_t end = mono_ms() + 20000;

	t->n_log = t->asked = t->begins = t->ends = t->lives = 0;
	assert_int_equal(ds_watch_new(c, t->prefix, warm_cb, t, &w), 0);
	ds_watch_set_known_cb(w, warm_known);
	ds_watch_set_batch_cb(w, warm_batch_cb);
	while (t->ends < ends && mono_ms() < end)
		assert_true(poll_round(w, 100) >= 0); /* never the consumer's -ESTALE */
	assert_int_equal(t->ends, ends);
	return w;
}

/* The last snapshot, from t->log[@from] on: BEGIN, one KEEP or PUT per key as the record says
 * (none for a deleted key), END. */
static void warm_check(const struct warm *t, size_t from, size_t want_kept)
{
	size_t present = 0, kept = 0;

	for (size_t i = 0; i < t->n; i++) {
		if (t->absent[i]) {
			assert_int_equal(t->keeps[i] + t->puts[i], 0);
			continue;
		}
		present++;
		if (warm_kept(t, i)) {
			kept++;
			if (t->keeps[i] != 1 || t->puts[i] != 0)
				fail_msg("%s%05zu: %u KEEP, %u PUT; want a KEEP", t->prefix, i,
					 t->keeps[i], t->puts[i]);
		} else if (t->keeps[i] != 0 || t->puts[i] != 1) {
			fail_msg("%s%05zu: %u KEEP, %u PUT; want a PUT", t->prefix, i, t->keeps[i],
				 t->puts[i]);
		}
	}
	assert_int_equal(kept, want_kept);
	assert_true(t->n_log >= from + present + 2);
	assert_int_equal(t->log[from], DS_WATCH_SNAPSHOT_BEGIN);
	for (size_t j = from + 1; j <= from + present; j++)
		assert_true(t->log[j] == DS_WATCH_KEEP || t->log[j] == DS_WATCH_PUT);
	assert_int_equal(t->log[from + present + 1], DS_WATCH_SNAPSHOT_END);
}

static void warm_status(struct ds_watch *w, bool warm, size_t kept, const char *via)
{
	struct ds_watch_status st;

	ds_watch_status(w, &st);
	assert_int_equal(st.snapshot_warm, warm);
	assert_int_equal(st.snapshot_kept, kept);
	assert_string_equal(st.snapshot_via, via);
}

/* 60 keys, the even ones known: half the keys are needed, so phase 2 walks the prefix. Then the
 * stream carries a later put. */
static void warm_small(const char *prefix, bool json)
{
	struct ds_config cfg = {.endpoints = endpoints(), .snapshot_json = json};
	_cleanup_(ds_client_freep) struct ds_client *c = NULL;
	_cleanup_(ds_watch_freep) struct ds_watch *w = NULL;
	struct warm t;
	char key[64];

	assert_int_equal(ds_client_new(&cfg, &c), 0);
	warm_init(&t, c, prefix, 60);
	for (size_t i = 0; i < t.n; i += 2)
		t.known[i] = true;
	w = warm_watch(&t, c, 1);
	assert_int_equal(t.begins, 1);
	assert_int_equal(t.asked, 60);
	warm_check(&t, 0, 30);
	assert_int_equal(t.n_log, 62);
	warm_status(w, true, 30, json ? "json" : "grpc");

	/* Then a put arrives as a PUT through the stream. */
	poll_until_sync(w, true, 10);
	warm_set_value(&t, 7, 1);
	snprintf(key, sizeof(key), "%s%05d", prefix, 7);
	assert_int_equal(ds_put(c, key, t.val[7], t.vlen[7], 0, &t.mod[7]), 0);
	for (uint64_t end = mono_ms() + 10000; t.lives < 1 && mono_ms() < end;)
		assert_true(poll_round(w, 100) >= 0);
	assert_int_equal(t.lives, 1);
	assert_string_equal(t.live_key, key);
	assert_int_equal(t.live_rev, t.mod[7]);
	assert_int_equal(t.n_log, 63);
	assert_int_equal(t.log[62], DS_WATCH_PUT);
	w = ds_watch_free(w);
	warm_done(&t);
}

static void test_watch_warm_grpc(void **state)
{
	warm_small("/t/warm-g/", false);
}

static void test_watch_warm_gateway(void **state)
{
	warm_small("/t/warm-j/", true);
}

/* 12,000 keys (the listing takes several pages): a few needed keys read as ranges of their own
 * (first, middle, last), a run of needed keys with known ones between them (one range that
 * skips those), then so many needed keys (5,000), or so scattered ones (200 ranges), that phase
 * 2 walks the prefix. */
static void test_watch_warm_large(void **state)
{
	_cleanup_(ds_client_freep) struct ds_client *c = client();
	struct warm t;
	static const struct {
		size_t mod, below, lo, hi, step; /* needed: i % mod < below, or every step-th in
						  * [lo, hi) */
		size_t extra[3];
	} cases[] = {
	    {.extra = {0, 6000, 11999}},
	    {.lo = 3000, .hi = 3300, .step = 3, .extra = {0, 6000, 11999}},
	    {.mod = 12, .below = 5},
	    {.lo = 0, .hi = 12000, .step = 60},
	};

	warm_init(&t, c, "/t/warm-big/", 12000);
	for (size_t k = 0; k < ELEMENTSOF(cases); k++) {
		_cleanup_(ds_watch_freep) struct ds_watch *w = NULL;
		size_t needed = 0;

		for (size_t i = 0; i < t.n; i++) {
			bool need = (cases[k].mod && i % cases[k].mod < cases[k].below) ||
				    (cases[k].step && i >= cases[k].lo && i < cases[k].hi &&
				     (i - cases[k].lo) % cases[k].step == 0) ||
				    (cases[k].extra[2] &&
				     (i == cases[k].extra[0] || i == cases[k].extra[1] ||
				      i == cases[k].extra[2]));

			t.known[i] = !need;
			needed += need;
		}
		w = warm_watch(&t, c, 1);
		assert_int_equal(t.begins, 1);
		warm_check(&t, 0, t.n - needed);
		warm_status(w, true, t.n - needed, "grpc");
	}
	warm_done(&t);
}

/* Keys changed or deleted after the consumer recorded them: a changed one is not known (its
 * mod_revision differs) and arrives as a PUT with its new value; a deleted one is not listed. */
static void test_watch_warm_changed(void **state)
{
	_cleanup_(ds_client_freep) struct ds_client *c = client();
	_cleanup_(ds_watch_freep) struct ds_watch *w = NULL;
	struct warm t;

	warm_init(&t, c, "/t/warm-chg/", 40);
	for (size_t i = 0; i < t.n; i++)
		t.known[i] = true;
	warm_set_value(&t, 7, 1);
	assert_int_equal(ds_put(c, "/t/warm-chg/00007", t.val[7], t.vlen[7], 0, &t.mod[7]), 0);
	warm_set_value(&t, 31, 1);
	assert_int_equal(ds_put(c, "/t/warm-chg/00031", t.val[31], t.vlen[31], 0, &t.mod[31]), 0);
	assert_int_equal(ds_delete(c, "/t/warm-chg/00020", NULL), 0);
	t.absent[20] = true;
	w = warm_watch(&t, c, 1);
	assert_int_equal(t.begins, 1);
	assert_int_equal(t.asked, 39);
	assert_int_equal(t.puts[7], 1);
	assert_int_equal(t.puts[31], 1);
	warm_check(&t, 0, 37);
	warm_status(w, true, 37, "grpc");
	w = ds_watch_free(w);
	warm_done(&t);
}

/* The consumer refuses the first KEEP (-ESTALE): that snapshot is dropped and a full one
 * follows (BEGIN, every key as a PUT, END), without asking the known callback; the dispatch
 * never returns the -ESTALE (warm_watch() checks). */
static void test_watch_warm_refused(void **state)
{
	_cleanup_(ds_client_freep) struct ds_client *c = client();
	_cleanup_(ds_watch_freep) struct ds_watch *w = NULL;
	struct warm t;

	warm_init(&t, c, "/t/warm-stale/", 20);
	for (size_t i = 0; i < t.n; i++)
		t.known[i] = i != 5;
	t.refuse = 1;
	w = warm_watch(&t, c, 1);
	assert_int_equal(t.begins, 2);
	assert_int_equal(t.asked, 20); /* the first snapshot's listing only */
	assert_int_equal(t.log[0], DS_WATCH_SNAPSHOT_BEGIN);
	assert_int_equal(t.log[1], DS_WATCH_KEEP);
	/* warm_check() from the second BEGIN, with nothing known: 20 PUTs */
	for (size_t i = 0; i < t.n; i++)
		t.known[i] = false;
	warm_check(&t, 2, 0);
	assert_int_equal(t.n_log, 24);
	warm_status(w, false, 0, "grpc");
	w = ds_watch_free(w);
	warm_done(&t);
}

static void test_unreachable(void **state)
{
	_cleanup_(ds_client_freep) struct ds_client *c = client_for("http://127.0.0.1:1");
	_cleanup_(ds_watch_freep) struct ds_watch *w = NULL;
	struct recs *r = calloc(1, sizeof(*r));
	struct ds_kvs kvs = {0};
	struct ds_kv kv = {0};
	int64_t id = 0;

	assert_int_equal(ds_get(c, "/t/x", &kv, NULL), -ECONNREFUSED);
	assert_int_equal(ds_put(c, "/t/x", "v", 1, 0, NULL), -ECONNREFUSED);
	assert_int_equal(ds_create(c, "/t/x", "v", 1, 0, NULL), -ECONNREFUSED);
	assert_int_equal(ds_range_prefix(c, "/t/", 0, &kvs), -ECONNREFUSED);
	assert_int_equal(ds_lease_grant(c, 10, &id), -ECONNREFUSED);
	assert_int_equal(id, 0);

	/* The watch reports the outage once and keeps retrying without error. */
	assert_int_equal(ds_watch_new(c, "/t/", record, r, &w), 0);
	assert_int_equal(ds_watch_run(w, 200), 1);
	expect(&r->v[0], DS_WATCH_DISCONNECTED, NULL, NULL);
	for (int i = 0; i < 5; i++)
		assert_int_equal(ds_watch_run(w, 200), 0);
	assert_int_equal(ds_watch_run(w, 0), 0);
	assert_int_equal(r->n, 1);
	assert_false(ds_watch_in_sync(w));

	/* Same through a missing unix socket. */
	{
		_cleanup_(ds_client_freep) struct ds_client *u =
		    client_for("unix:///nonexistent/etcd.sock:2379");

		assert_int_equal(ds_get(u, "/t/x", &kv, NULL), -ECONNREFUSED);
	}
	w = ds_watch_free(w);
	free(r);
}

/* ---- TLS with a client certificate (own etcd) ---- */

static int sh(const char *fmt, ...) _printf_(1, 2);
static int sh(const char *fmt, ...)
{
	char cmd[8192];
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	assert_true(r > 0 && (size_t)r < sizeof(cmd));
	r = system(cmd);
	return WIFEXITED(r) ? WEXITSTATUS(r) : -1;
}

static int free_port(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	close(fd);
	return ntohs(a.sin_port);
}

/* The first snapshot of /t/tls/ through @cfg, without asserts (the TLS test must stop its etcd
 * before failing): 0 when it held @want keys and came over gRPC, else -EPROTO. */
static int tls_snapshot_grpc(const struct ds_config *cfg, size_t want)
{
	_cleanup_(ds_client_freep) struct ds_client *c = NULL;
	_cleanup_(ds_watch_freep) struct ds_watch *w = NULL;
	struct digest d = {0};
	struct ds_watch_status st;
	uint64_t end = mono_ms() + 10000;

	if (ds_client_new(cfg, &c) < 0 || ds_watch_new(c, "/t/tls/", digest_cb, &d, &w) < 0)
		return -ENOMEM;
	while (!d.end && mono_ms() < end)
		if (poll_round(w, 100) < 0)
			return -EIO;
	ds_watch_status(w, &st);
	if (!d.end || d.puts != want || strcmp(st.snapshot_via, "grpc") != 0) {
		print_message("TLS snapshot via %s: %zu keys, %s\n", cfg->endpoints, d.puts,
			      st.snapshot_via);
		return -EPROTO;
	}
	return 0;
}

static void test_tls_client_cert(void **state)
{
	char dir[] = "/tmp/tabby-ds-tls.XXXXXX", eps[256], ca[512], crt[512], key[512];
	struct ds_client *c = NULL;
	struct ds_kv kv = {0};
	int port, pport, r = -1;
	pid_t pid;

	if (sh("command -v openssl >/dev/null") != 0) {
		print_message("openssl not installed: TLS test skipped\n");
		skip();
	}
	assert_non_null(mkdtemp(dir));
	snprintf(test_child_dir, sizeof(test_child_dir), "%s", dir);
	/* The server certificate also carries clientAuth: etcd 3.4's JSON gateway dials etcd's own
	 * gRPC port with it, and --client-cert-auth would refuse it otherwise. */
	assert_int_equal(
	    sh("cd %s && "
	       "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=tabby-test-ca "
	       "-keyout ca.key -out ca.crt 2>/dev/null && "
	       "openssl req -newkey rsa:2048 -nodes -subj /CN=etcd -keyout server.key "
	       "-out server.csr 2>/dev/null && "
	       "printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\\nextendedKeyUsage=serverAuth,clientAuth\\n' > srv.ext && "
	       "openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 1 "
	       "-extfile srv.ext -out server.crt 2>/dev/null && "
	       "openssl req -newkey rsa:2048 -nodes -subj /CN=tabby -keyout client.key "
	       "-out client.csr 2>/dev/null && "
	       "printf 'extendedKeyUsage=clientAuth\\n' > cli.ext && "
	       "openssl x509 -req -in client.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 1 "
	       "-extfile cli.ext -out client.crt 2>/dev/null",
	       dir),
	    0);
	port = free_port();
	pport = free_port();
	assert_int_not_equal(port, pport);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		char lc[64], ac[64], lp[64], ip[128], dd[512], cf[512], kf[512], tf[512], lo[512];

		/* TLS on TCP and on a unix socket (etcd's unixs://, NAME:PORT in its directory). */
		snprintf(lc, sizeof(lc), "https://127.0.0.1:%d,unixs://etcd.sock:%d", port, port);
		snprintf(lp, sizeof(lp), "http://127.0.0.1:%d", pport);
		snprintf(ac, sizeof(ac), "https://127.0.0.1:%d", port);
		snprintf(ip, sizeof(ip), "tls=%s", lp);
		snprintf(dd, sizeof(dd), "%s/data", dir);
		snprintf(cf, sizeof(cf), "%s/server.crt", dir);
		snprintf(kf, sizeof(kf), "%s/server.key", dir);
		snprintf(tf, sizeof(tf), "%s/ca.crt", dir);
		snprintf(lo, sizeof(lo), "%s/etcd.log", dir);
		/* etcd reads ETCD_* variables as flags. */
		unsetenv("ETCD_PORT");
		unsetenv("ETCD_PEER_PORT");
		if (chdir(dir) < 0)
			_exit(127);
		execlp("etcd", "etcd", "--name", "tls", "--data-dir", dd, "--listen-client-urls",
		       lc, "--advertise-client-urls", ac, "--listen-peer-urls", lp,
		       "--initial-advertise-peer-urls", lp, "--initial-cluster", ip, "--cert-file",
		       cf, "--key-file", kf, "--trusted-ca-file", tf, "--client-cert-auth",
		       "--logger", "zap", "--log-outputs", lo, (char *)NULL);
		_exit(127);
	}
	test_child = pid;
	snprintf(eps, sizeof(eps), "https://127.0.0.1:%d", port);
	snprintf(ca, sizeof(ca), "%s/ca.crt", dir);
	snprintf(crt, sizeof(crt), "%s/client.crt", dir);
	snprintf(key, sizeof(key), "%s/client.key", dir);
	{
		struct ds_config cfg = {
		    .endpoints = eps, .ca_file = ca, .cert_file = crt, .key_file = key};

		assert_int_equal(ds_client_new(&cfg, &c), 0);
	}
	for (int i = 0; i < 100; i++) {
		r = ds_put(c, "/t/tls/k", "secure", 6, 0, NULL);
		if (r == 0)
			break;
		msleep(100);
	}
	if (r == 0)
		r = ds_get(c, "/t/tls/k", &kv, NULL);
	if (r == 0) {
		if (strcmp(kv.value, "secure") != 0)
			r = -EBADMSG;
		ds_kv_done(&kv);
	}
	c = ds_client_free(c);
	/* The same over TLS on the unix socket: the certificate names "localhost". */
	if (r == 0) {
		char ueps[600];
		struct ds_config cfg = {
		    .endpoints = ueps, .ca_file = ca, .cert_file = crt, .key_file = key};

		snprintf(ueps, sizeof(ueps), "unixs://%s/etcd.sock:%d", dir, port);
		assert_int_equal(ds_client_new(&cfg, &c), 0);
		r = ds_get(c, "/t/tls/k", &kv, NULL);
		if (r == 0) {
			if (strcmp(kv.value, "secure") != 0)
				r = -EBADMSG;
			ds_kv_done(&kv);
		}
		c = ds_client_free(c);
		/* Snapshot pages over gRPC: HTTP/2 by ALPN on TCP and on the socket. */
		if (r == 0) {
			struct ds_config tc = {
			    .endpoints = eps, .ca_file = ca, .cert_file = crt, .key_file = key};

			r = tls_snapshot_grpc(&tc, 1);
			if (r == 0)
				r = tls_snapshot_grpc(&cfg, 1);
		}
		/* ... and without a client certificate the socket refuses us too, by name. */
		if (r == 0) {
			struct ds_config nc = {.endpoints = ueps, .ca_file = ca};

			assert_int_equal(ds_client_new(&nc, &c), 0);
			r = ds_get(c, "/t/tls/k", &kv, NULL) == -EKEYREJECTED ? 0 : -EPERM;
			c = ds_client_free(c);
		}
	}
	/* Without a client certificate the server refuses us, with -EKEYREJECTED. */
	if (r == 0) {
		struct ds_config cfg = {.endpoints = eps, .ca_file = ca};
		int r2;

		assert_int_equal(ds_client_new(&cfg, &c), 0);
		r2 = ds_put(c, "/t/tls/k", "x", 1, 0, NULL);
		c = ds_client_free(c);
		if (r2 != -EKEYREJECTED) {
			print_message("put without a client certificate: %d (%s)\n", r2,
				      strerror(r2 < 0 ? -r2 : r2));
			r = -EPERM;
		}
	}
	stop_child(NULL);
	assert_int_equal(r, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_client_new_invalid),
	    cmocka_unit_test(test_put_get_delete),
	    cmocka_unit_test(test_range_prefix_paged),
	    cmocka_unit_test(test_range_prefix_revision),
	    cmocka_unit_test(test_cas),
	    cmocka_unit_test(test_lease),
	    cmocka_unit_test(test_watch_snapshot_and_events),
	    cmocka_unit_test(test_watch_resume_after_restart),
	    cmocka_unit_test(test_watch_resnapshot_after_compaction),
	    cmocka_unit_test(test_watch_poll_loop),
	    cmocka_unit_test(test_watch_poll_hung_endpoint),
	    cmocka_unit_test(test_watch_hung_member),
	    cmocka_unit_test(test_unix_socket),
	    cmocka_unit_test(test_endpoint_fallthrough),
	    cmocka_unit_test(test_watch_snapshot_grpc_equals_gateway),
	    cmocka_unit_test_teardown(test_watch_snapshot_falls_back_to_gateway, stop_child),
	    cmocka_unit_test_teardown(test_watch_snapshot_through_http1_proxy, stop_child),
	    cmocka_unit_test(test_watch_warm_grpc),
	    cmocka_unit_test(test_watch_warm_gateway),
	    cmocka_unit_test(test_watch_warm_large),
	    cmocka_unit_test(test_watch_warm_changed),
	    cmocka_unit_test(test_watch_warm_refused),
	    cmocka_unit_test(test_unreachable),
	    cmocka_unit_test_teardown(test_tls_client_cert, stop_child),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
