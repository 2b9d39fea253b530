/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The datastore's JSON decoding: the etcd watch stream (newline-separated JSON messages, decoded by
 * ds-watch.c's ds_watch_lines()/ds_watch_message() into queued events via ds_kv_from_json()) and
 * the unary replies (ds_reply_error(), ds_kv_from_json() on "kvs", ds_json_int64() on
 * "header.revision"), and the same bytes as a snapshot page, from the JSON gateway (ds_page_take())
 * and as a gRPC RangeResponse message (ds_grpc_page_take()). The harness compiles
 * datastore/ds-watch.c in to reach its static decoder
 * with a watch that has no client and no curl handles: nothing is sent or received.
 */
#include "datastore/ds-watch.c"
#include "tests/fuzz/fuzz.h"

#define START_REV 5

static void unary_reply(const uint8_t *data, size_t size)
{
	_cleanup_jput_ json_object *o = NULL;
	json_object *kvs, *h;
	json_tokener *tok;
	int64_t rev;

	tok = json_tokener_new();
	if (!tok)
		return;
	o = json_tokener_parse_ex(tok, (const char *)data, (int)size);
	json_tokener_free(tok);
	if (!o || !json_object_is_type(o, json_type_object))
		return;
	if (ds_reply_error(o) < 0)
		return;
	if (json_object_object_get_ex(o, "header", &h))
		(void)ds_json_int64(h, "revision", &rev);
	if (json_object_object_get_ex(o, "kvs", &kvs) && json_object_is_type(kvs, json_type_array))
		for (size_t i = 0; i < json_object_array_length(kvs); i++) {
			struct ds_kv kv;

			if (ds_kv_from_json(json_object_array_get_idx(kvs, i), &kv) < 0)
				continue;
			FUZZ_ASSERT(kv.key && kv.value && kv.value[kv.value_len] == '\0',
				    "kv not filled");
			ds_kv_done(&kv);
		}
}

/* A page either queues BEGIN (first page) plus one PUT per key and leaves the resume point
 * alone, or queues nothing. */
static void check_page(struct ds_watch *w, int r)
{
	if (r >= 0) {
		FUZZ_ASSERT(w->q_n >= 1 && w->q[0].type == DS_WATCH_SNAPSHOT_BEGIN,
			    "page without BEGIN");
		FUZZ_ASSERT(w->snap_rev > 0 && w->q[0].revision == w->snap_rev,
			    "bad snapshot revision");
		for (size_t i = 1; i < w->q_n; i++)
			FUZZ_ASSERT(w->q[i].type == DS_WATCH_PUT ||
					(i == w->q_n - 1 && w->q[i].type == DS_WATCH_SNAPSHOT_END),
				    "event %zu of type %d in a page", i, (int)w->q[i].type);
		FUZZ_ASSERT(w->page_keys >= DS_PAGE_KEYS_MIN && w->page_keys <= DS_PAGE_KEYS_MAX,
			    "page size %zu", w->page_keys);
		if (w->state == DS_W_CONNECT)
			FUZZ_ASSERT(w->next_rev == w->snap_rev + 1,
				    "resume point after the snapshot");
	} else {
		FUZZ_ASSERT(w->q_n == 0, "a failed page left events queued");
	}
	ds_queue_truncate(w, 0);
	free(w->q);
	free(w->page_start);
}

/* The same bytes as a snapshot page reply from the JSON gateway (ds_page_take()). */
static void snapshot_page(const uint8_t *data, size_t size)
{
	struct ds_watch w = {.prefix = (char *)"/tabby/v1/", .page_keys = DS_PAGE_KEYS};
	_cleanup_jput_ json_object *o = NULL;

	if (ds_parse_object((const char *)data, size, &o) < 0)
		return;
	check_page(&w, ds_page_take(&w, o));
}

/* The same bytes as the message of a gRPC KV.Range reply (protobuf-c's unpack, then
 * ds_grpc_page_take(), as ds_grpc_reply() hands it over: only with a header). */
static void grpc_page(const uint8_t *data, size_t size)
{
	struct ds_watch w = {
	    .prefix = (char *)"/tabby/v1/", .page_keys = DS_PAGE_KEYS, .page_grpc = true};
	Tabbyetcd__RangeResponse *rr = tabbyetcd__range_response__unpack(NULL, size, data);

	if (!rr)
		return;
	if (rr->header) {
		int r = ds_grpc_page_take(&w, rr, size);

		FUZZ_ASSERT(r < 0 || w.snap_grpc, "a gRPC page not marked as one");
		for (size_t i = 0; r >= 0 && i < w.q_n; i++)
			FUZZ_ASSERT(w.q[i].type != DS_WATCH_PUT ||
					(w.q[i].kv.key && w.q[i].kv.value &&
					 w.q[i].kv.value[w.q[i].kv.value_len] == '\0'),
				    "kv %zu not filled", i);
		check_page(&w, r);
	}
	tabbyetcd__range_response__free_unpacked(rr, NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ds_watch w = {.prefix = (char *)"/tabby/v1/", .next_rev = START_REV};
	int64_t last = START_REV - 1;

	fuzz_setup();
	if (size > FUZZ_MAX_INPUT)
		return 0;
	unary_reply(data, size);
	snapshot_page(data, size);
	grpc_page(data, size);

	if (strbuf_append(&w.line, data, size) < 0)
		return 0;
	if (ds_watch_lines(&w, false) >= 0)
		(void)ds_watch_lines(&w, true);
	/* No event is queued before the resume point, and the resume point moves past every
	 * queued event (so a reconnect neither repeats nor skips one). */
	for (size_t i = w.q_head; i < w.q_n; i++) {
		FUZZ_ASSERT(w.q[i].revision >= START_REV, "event %zu revision %" PRId64, i,
			    w.q[i].revision);
		FUZZ_ASSERT(w.q[i].kv.key, "event without a key");
		last = MAX(last, w.q[i].revision);
	}
	FUZZ_ASSERT(w.next_rev > last, "next_rev %" PRId64 " <= last event %" PRId64, w.next_rev,
		    last);
	ds_queue_truncate(&w, 0);
	free(w.q);
	strbuf_done(&w.line);
	return 0;
}
