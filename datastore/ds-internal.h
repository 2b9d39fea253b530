/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/* Shared between datastore/datastore.c (unary calls) and datastore/ds-watch.c (the stream).
 * Not a public API. */

#include <curl/curl.h>
#include <json-c/json.h>

#include "datastore/datastore.h"

/* Largest response body or single watch message we accept (bytes). */
#define DS_MAX_BODY ((size_t)64 << 20)
/* Largest number of keys one ds_range_prefix() returns. */
#define DS_MAX_KEYS ((size_t)1 << 22)
/* Range pages (ds_range_prefix() with page_size 0, the watch's snapshot): the first page asks
 * for DS_PAGE_KEYS keys, later ones for as many as fit DS_PAGE_BYTES of reply (JSON; protobuf
 * for the watch's gRPC pages) at the size seen so far, within [DS_PAGE_KEYS_MIN,
 * DS_PAGE_KEYS_MAX]. Fewer, larger pages cost etcd far less: etcd 3.4 walks every remaining key
 * of the range for each page (it applies "limit" after collecting the revisions), and each
 * request pays a linearizable read and the gateway's overhead. */
#define DS_PAGE_KEYS 5000
#define DS_PAGE_KEYS_MIN 100
#define DS_PAGE_KEYS_MAX 40000
#define DS_PAGE_BYTES ((size_t)4 << 20)
/* A gRPC snapshot page of the watch is twice that: its protobuf is never held as a tree (a
 * JSON page is, by json-c, at several times its size), and at 100,000 workload endpoints 8 MiB
 * pages cost etcd a third less CPU than 4 MiB ones (fewer walks over the remaining keys), which
 * felix's second core then has for decoding: a restart took ~45 ms less (bench/README.md). */
#define DS_GRPC_PAGE_BYTES ((size_t)8 << 20)
#define DS_DEFAULT_TIMEOUT_MS 5000L

struct ds_endpoint {
	char *base;	 /* "http://host:port", "https://host:port", or "http(s)://localhost" for a
		     * unix(s):// socket */
	char *unix_path; /* NULL unless unix:// or unixs:// */
};

struct ds_client {
	struct ds_endpoint *eps;
	size_t n_eps;
	size_t cur; /* the endpoint that answered last; tried first */
	char *ca_file, *cert_file, *key_file;
	long timeout_ms;
	bool snapshot_json; /* ds_config.snapshot_json */
	CURL *easy;	    /* unary calls; kept for connection reuse */
	struct curl_slist *headers;
	char errbuf[CURL_ERROR_SIZE];
};

static inline void ds_jputp(json_object **p)
{
	if (*p)
		json_object_put(*p);
}
#define _cleanup_jput_ _cleanup_(ds_jputp)

/* Sets URL, unix socket, TLS files, headers and timeouts on @e for endpoint @ep and @path. */
int ds_easy_prepare(struct ds_client *c, CURL *e, size_t ep, const char *path);
/* Maps a failed transfer to -errno (see the DOC paragraph in datastore.c). */
int ds_curl_errno(CURL *e, CURLcode cc);
/* True when the failure happened before anything was sent, so another endpoint may be tried. */
bool ds_curl_is_connect_failure(CURL *e, CURLcode cc);

/* Parses @len bytes as exactly one JSON object (whitespace around it allowed). -EPROTO otherwise. */
int ds_parse_object(const char *s, size_t len, json_object **ret);
/* The next page's key count for pages of @target bytes, after a page of @keys keys took
 * @bytes. */
static inline size_t ds_page_keys(size_t keys, size_t bytes, size_t target)
{
	double k = (double)keys * (double)target / (double)(bytes ? bytes : 1);

	if (k < DS_PAGE_KEYS_MIN)
		return DS_PAGE_KEYS_MIN;
	if (k > DS_PAGE_KEYS_MAX)
		return DS_PAGE_KEYS_MAX;
	return (size_t)k;
}
/* Field readers: absent int64 fields read as 0 (proto3 omits zero values). */
int ds_json_int64(json_object *o, const char *field, int64_t *ret);
int ds_kv_from_json(json_object *o, struct ds_kv *ret);
/* base64 of @prefix and of its range end (prefix with its last byte + 1). */
int ds_prefix_range(const char *prefix, char **ret_key, char **ret_end);
/* Maps an etcd/gateway error object (code, grpc_code) to -errno; 0 when @o is not an error. */
int ds_reply_error(json_object *o);
/* Maps a gRPC status code (google.rpc.Code, as etcd returns it in grpc-status or in the gateway's
 * "code") to -errno: 0 -> 0, DeadlineExceeded -> -ETIMEDOUT, NotFound -> -ENOENT, OutOfRange
 * (a compacted revision) -> -ERANGE, Unavailable -> -EAGAIN, anything else -> -EPROTO. */
int ds_grpc_errno(int64_t code);
