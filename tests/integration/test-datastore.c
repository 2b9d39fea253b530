/* SPDX-License-Identifier: Apache-2.0 */
/*
 * datastore/ against a real etcd started by tests/integration/with-etcd: unary calls, CAS, leases,
 * the watch (snapshot, live events, resume after an etcd restart, re-snapshot after compaction),
 * the unix socket endpoint and endpoint fall-through. TLS with a client certificate runs when
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
	/* The server certificate also carries clientAuth: etcd 3.4's JSON gateway dials etcd's own
	 * gRPC port with it, and --client-cert-auth would refuse it otherwise. */
	assert_int_equal(
	    sh("cd %s && "
	       "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=tabby-test-ca "
	       "-keyout ca.key -out ca.crt 2>/dev/null && "
	       "openssl req -newkey rsa:2048 -nodes -subj /CN=etcd -keyout server.key "
	       "-out server.csr 2>/dev/null && "
	       "printf 'subjectAltName=IP:127.0.0.1\\nextendedKeyUsage=serverAuth,clientAuth\\n' > srv.ext && "
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

		snprintf(lc, sizeof(lc), "https://127.0.0.1:%d", port);
		snprintf(lp, sizeof(lp), "http://127.0.0.1:%d", pport);
		snprintf(ac, sizeof(ac), "%s", lc);
		snprintf(ip, sizeof(ip), "tls=%s", lp);
		snprintf(dd, sizeof(dd), "%s/data", dir);
		snprintf(cf, sizeof(cf), "%s/server.crt", dir);
		snprintf(kf, sizeof(kf), "%s/server.key", dir);
		snprintf(tf, sizeof(tf), "%s/ca.crt", dir);
		snprintf(lo, sizeof(lo), "%s/etcd.log", dir);
		/* etcd reads ETCD_* variables as flags. */
		unsetenv("ETCD_PORT");
		unsetenv("ETCD_PEER_PORT");
		execlp("etcd", "etcd", "--name", "tls", "--data-dir", dd, "--listen-client-urls",
		       lc, "--advertise-client-urls", ac, "--listen-peer-urls", lp,
		       "--initial-advertise-peer-urls", lp, "--initial-cluster", ip, "--cert-file",
		       cf, "--key-file", kf, "--trusted-ca-file", tf, "--client-cert-auth",
		       "--logger", "zap", "--log-outputs", lo, (char *)NULL);
		_exit(127);
	}
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
	/* Without a client certificate the server refuses us. */
	if (r == 0) {
		struct ds_config cfg = {.endpoints = eps, .ca_file = ca};
		int r2;

		assert_int_equal(ds_client_new(&cfg, &c), 0);
		r2 = ds_put(c, "/t/tls/k", "x", 1, 0, NULL);
		c = ds_client_free(c);
		if (r2 == 0)
			r = -EPERM;
	}
	kill(pid, SIGTERM);
	waitpid(pid, NULL, 0);
	sh("rm -rf %s", dir);
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
	    cmocka_unit_test(test_unix_socket),
	    cmocka_unit_test(test_endpoint_fallthrough),
	    cmocka_unit_test(test_unreachable),
	    cmocka_unit_test(test_tls_client_cert),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
