/* SPDX-License-Identifier: Apache-2.0 */
/*
 * DOC: etcd v3 client over the JSON gateway
 *
 * Every call is one HTTP POST of a JSON body to etcd's gRPC gateway (etcd 3.4, /v3/...; see
 * etcd's Documentation/dev-guide/api_grpc_gateway.md and etcdserverpb/rpc.proto). Keys and values
 * travel base64-encoded and int64 fields come back as JSON strings; proto3 omits zero values, so
 * an absent revision reads as 0 and an absent "succeeded" means the txn compare failed.
 *
 * Unary calls share one CURL easy handle per client so HTTP keep-alive reuses the connection. The
 * endpoint list is tried starting with the one that answered last. The next one is tried when the
 * failure happened before the request reached etcd (connect refused, unresolvable, TLS
 * handshake, connect timeout) or etcd answered "no leader"; for every call but a txn also after a
 * timeout, a broken connection (a hung or killed member) or "leader changed" (a read cut short by
 * an election), since those calls can be repeated safely. A CAS txn is never sent twice: it returns the error, and the next call starts at the
 * next member. Errors:
 *   -ECONNREFUSED  nothing listens (also: TLS handshake or certificate verification failed)
 *   -EHOSTUNREACH  no route or unresolvable host name
 *   -ETIMEDOUT     the request took longer than timeout_ms (default 5000 ms)
 *   -ECONNRESET    the connection broke after the request was sent
 *   -EKEYREJECTED  a TLS endpoint asked for a client certificate (etcd --client-cert-auth)
 *                  that we do not have or that it does not accept, or hung up on us right
 *                  after the handshake while we have none: configure cert_file and key_file
 *   -E2BIG         a response body larger than 64 MiB, or more than 4M keys in one range
 *   -EPROTO        etcd answered an error body {"error","code"} or malformed JSON; gRPC code 5
 *                  (NotFound) maps to -ENOENT, 11 (OutOfRange, "revision compacted") to -ERANGE,
 *                  4 (DeadlineExceeded) to -ETIMEDOUT and 14 (Unavailable, e.g. no leader) to
 *                  -EAGAIN.
 * Compare-and-swap is a txn whose failure branch reads the key back, so ds_delete_if() can tell a
 * stale revision (-ESTALE) from a key that is already gone (-ENOENT). ds_update() keeps the key's
 * lease ("ignore_lease"), so updating a leased key does not make it permanent.
 *
 * ds_range_prefix() reads pages of @page_size keys with "limit", continuing from the last key +
 * "\0", and pins every page after the first to the first page's header revision, so the listing is
 * one consistent snapshot even while others write. Those later pages are serializable reads: the
 * revision is committed, so the member may answer from its own state without a quorum round. The watch lives in ds-watch.c.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "datastore/ds-internal.h"
#include "lib/base64.h"
#include "lib/log.h"
#include "lib/strbuf.h"

void ds_kv_done(struct ds_kv *kv)
{
	if (!kv)
		return;
	free(kv->key);
	free(kv->value);
	*kv = (struct ds_kv){0};
}

void ds_kvs_done(struct ds_kvs *kvs)
{
	if (!kvs)
		return;
	for (size_t i = 0; i < kvs->n; i++)
		ds_kv_done(&kvs->items[i]);
	free(kvs->items);
	*kvs = (struct ds_kvs){0};
}

static void ds_endpoints_free(struct ds_endpoint *eps, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(eps[i].base);
		free(eps[i].unix_path);
	}
	free(eps);
}

static int ds_endpoint_parse(const char *s, size_t len, struct ds_endpoint *ret)
{
	_cleanup_free_ char *t = strndup(s, len);
	struct ds_endpoint ep = {0};

	if (!t)
		return -ENOMEM;
	if (strncmp(t, "http://", 7) == 0 || strncmp(t, "https://", 8) == 0) {
		size_t skip = t[4] == 's' ? 8 : 7;
		size_t l = strlen(t);

		while (l > skip && t[l - 1] == '/')
			t[--l] = '\0';
		if (l == skip || strchr(t + skip, '/')) {
			log_debug("datastore endpoint \"%s\": expected SCHEME://HOST:PORT", t);
			return -EINVAL;
		}
		ep.base = TAKE_PTR(t);
	} else if (strncmp(t, "unix://", 7) == 0 || strncmp(t, "unixs://", 8) == 0) {
		/* unixs: TLS over the socket (etcd's own scheme); the server's certificate must
		 * name "localhost", the host name of the URL we send through the socket. */
		bool tls = t[4] == 's';
		size_t skip = tls ? 8 : 7;

		if (t[skip] != '/' || t[skip + 1] == '\0') {
			log_debug("datastore endpoint \"%s\": expected unix:///ABSOLUTE/PATH or "
				  "unixs:///ABSOLUTE/PATH",
				  t);
			return -EINVAL;
		}
		ep.unix_path = strdup(t + skip);
		ep.base = strdup(tls ? "https://localhost" : "http://localhost");
		if (!ep.unix_path || !ep.base) {
			free(ep.unix_path);
			free(ep.base);
			return -ENOMEM;
		}
	} else {
		log_debug("datastore endpoint \"%s\": unknown scheme (http, https, unix or unixs)",
			  t);
		return -EINVAL;
	}
	*ret = ep;
	return 0;
}

static int ds_strdup_opt(const char *s, char **ret)
{
	if (!s || !*s) {
		*ret = NULL;
		return 0;
	}
	*ret = strdup(s);
	return *ret ? 0 : -ENOMEM;
}

int ds_client_new(const struct ds_config *cfg, struct ds_client **ret)
{
	_cleanup_(ds_client_freep) struct ds_client *c = NULL;
	const char *p;
	int r;

	if (!cfg || !cfg->endpoints) {
		log_debug("datastore: no endpoints configured");
		return -EINVAL;
	}
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		free(TAKE_PTR(c));
		return -ENOMEM;
	}
	c->timeout_ms = cfg->timeout_ms > 0 ? cfg->timeout_ms : DS_DEFAULT_TIMEOUT_MS;
	c->snapshot_json = cfg->snapshot_json;

	p = cfg->endpoints;
	for (;;) {
		const char *end = strchrnul(p, ',');
		const char *a = p, *b = end;
		struct ds_endpoint *n;

		while (a < b && (*a == ' ' || *a == '\t' || *a == '\n'))
			a++;
		while (b > a && (b[-1] == ' ' || b[-1] == '\t' || b[-1] == '\n'))
			b--;
		if (a == b) {
			log_debug("datastore: empty entry in endpoint list \"%s\"", cfg->endpoints);
			return -EINVAL;
		}
		if (c->n_eps >= 64) {
			log_debug("datastore: more than 64 endpoints");
			return -EINVAL;
		}
		n = realloc(c->eps, (c->n_eps + 1) * sizeof(*n));
		if (!n)
			return -ENOMEM;
		c->eps = n;
		r = ds_endpoint_parse(a, (size_t)(b - a), &c->eps[c->n_eps]);
		if (r < 0)
			return r;
		c->n_eps++;
		if (!*end)
			break;
		p = end + 1;
	}

	if (ds_strdup_opt(cfg->ca_file, &c->ca_file) < 0 ||
	    ds_strdup_opt(cfg->cert_file, &c->cert_file) < 0 ||
	    ds_strdup_opt(cfg->key_file, &c->key_file) < 0)
		return -ENOMEM;

	c->headers = curl_slist_append(NULL, "Content-Type: application/json");
	if (!c->headers)
		return -ENOMEM;
	{
		/* No "Expect: 100-continue" round trip for large bodies. */
		struct curl_slist *h = curl_slist_append(c->headers, "Expect:");

		if (!h)
			return -ENOMEM;
		c->headers = h;
	}
	*ret = TAKE_PTR(c);
	return 0;
}

struct ds_client *ds_client_free(struct ds_client *c)
{
	if (!c)
		return NULL;
	if (c->easy)
		curl_easy_cleanup(c->easy);
	curl_slist_free_all(c->headers);
	ds_endpoints_free(c->eps, c->n_eps);
	free(c->ca_file);
	free(c->cert_file);
	free(c->key_file);
	free(c);
	curl_global_cleanup();
	return NULL;
}

int ds_easy_prepare(struct ds_client *c, CURL *e, size_t ep, const char *path)
{
	char url[1024];
	int n;

	n = snprintf(url, sizeof(url), "%s%s", c->eps[ep].base, path);
	if (n < 0 || (size_t)n >= sizeof(url))
		return -EINVAL;
	if (curl_easy_setopt(e, CURLOPT_URL, url) != CURLE_OK)
		return -ENOMEM;
	curl_easy_setopt(e, CURLOPT_UNIX_SOCKET_PATH, c->eps[ep].unix_path);
	curl_easy_setopt(e, CURLOPT_POST, 1L);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, c->headers);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, c->timeout_ms);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, c->timeout_ms);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	/* HTTP/1.1 over TLS too: libcurl would negotiate HTTP/2 with etcd, multiplex the watch's
	 * heartbeat onto the stream's connection and report a broken connection as CURLE_HTTP2. */
	curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
	curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
	if (c->ca_file)
		curl_easy_setopt(e, CURLOPT_CAINFO, c->ca_file);
	if (c->cert_file)
		curl_easy_setopt(e, CURLOPT_SSLCERT, c->cert_file);
	if (c->key_file)
		curl_easy_setopt(e, CURLOPT_SSLKEY, c->key_file);
	return 0;
}

int ds_curl_errno(CURL *e, CURLcode cc)
{
	long os = 0;

	curl_easy_getinfo(e, CURLINFO_OS_ERRNO, &os);
	switch (cc) {
	case CURLE_OK:
		return 0;
	case CURLE_COULDNT_CONNECT:
		if (os == EHOSTUNREACH || os == ENETUNREACH)
			return -EHOSTUNREACH;
		if (os == ETIMEDOUT)
			return -ETIMEDOUT;
		return -ECONNREFUSED;
	case CURLE_COULDNT_RESOLVE_HOST:
		return -EHOSTUNREACH;
	case CURLE_OPERATION_TIMEDOUT:
		return -ETIMEDOUT;
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_CERTPROBLEM:
		return -ECONNREFUSED;
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
		return -ECONNRESET;
	case CURLE_OUT_OF_MEMORY:
		return -ENOMEM;
#if LIBCURL_VERSION_NUM >= 0x074d00 /* 7.77.0 */
	case CURLE_SSL_CLIENTCERT:  /* the server's "certificate required" alert */
		return -EKEYREJECTED;
#endif
	default:
		return -EIO;
	}
}

bool ds_curl_is_connect_failure(CURL *e, CURLcode cc)
{
	curl_off_t t = 0;

	switch (cc) {
	case CURLE_COULDNT_CONNECT:
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_PEER_FAILED_VERIFICATION:
		return true;
	case CURLE_OPERATION_TIMEDOUT:
		/* Timed out while connecting: nothing was sent. */
		return curl_easy_getinfo(e, CURLINFO_CONNECT_TIME_T, &t) == CURLE_OK && t == 0;
	default:
		return false;
	}
}

int ds_json_int64(json_object *o, const char *field, int64_t *ret)
{
	json_object *v;

	if (!json_object_object_get_ex(o, field, &v) || json_object_is_type(v, json_type_null)) {
		*ret = 0;
		return 0;
	}
	if (json_object_is_type(v, json_type_int)) {
		*ret = json_object_get_int64(v);
		return 0;
	}
	if (json_object_is_type(v, json_type_string)) {
		const char *s = json_object_get_string(v);
		char *end;
		long long x;

		errno = 0;
		x = strtoll(s, &end, 10);
		if (errno || end == s || *end)
			return -EPROTO;
		*ret = x;
		return 0;
	}
	return -EPROTO;
}

static int ds_json_b64(json_object *o, const char *field, bool required, char **ret,
		       size_t *ret_len)
{
	json_object *v;
	const char *s;
	size_t dummy;
	int r;

	if (!json_object_object_get_ex(o, field, &v)) {
		if (required)
			return -EPROTO;
		*ret = strdup("");
		if (ret_len)
			*ret_len = 0;
		return *ret ? 0 : -ENOMEM;
	}
	if (!json_object_is_type(v, json_type_string))
		return -EPROTO;
	s = json_object_get_string(v);
	r = base64_decode(s, strlen(s), ret, ret_len ? ret_len : &dummy);
	return r == -EINVAL ? -EPROTO : r;
}

int ds_kv_from_json(json_object *o, struct ds_kv *ret)
{
	struct ds_kv kv = {0};
	int r;

	if (!json_object_is_type(o, json_type_object))
		return -EPROTO;
	r = ds_json_b64(o, "key", true, &kv.key, NULL);
	if (r < 0)
		return r;
	r = ds_json_b64(o, "value", false, &kv.value, &kv.value_len);
	if (r >= 0)
		r = ds_json_int64(o, "create_revision", &kv.create_revision);
	if (r >= 0)
		r = ds_json_int64(o, "mod_revision", &kv.mod_revision);
	if (r >= 0)
		r = ds_json_int64(o, "version", &kv.version);
	if (r >= 0)
		r = ds_json_int64(o, "lease", &kv.lease);
	if (r < 0) {
		ds_kv_done(&kv);
		return r;
	}
	*ret = kv;
	return 0;
}

int ds_prefix_range(const char *prefix, char **ret_key, char **ret_end)
{
	size_t len = strlen(prefix);
	_cleanup_free_ char *end = malloc(len + 1);
	_cleanup_free_ char *k = NULL;
	size_t elen = 0;
	int r;

	if (!end)
		return -ENOMEM;
	memcpy(end, prefix, len);
	for (size_t i = len; i > 0; i--) {
		if ((unsigned char)end[i - 1] != 0xff) {
			end[i - 1]++;
			elen = i;
			break;
		}
	}
	if (elen == 0) {
		/* Empty prefix (or all 0xff): "\0" means "every key >= key". */
		end[0] = '\0';
		elen = 1;
	}
	if (len == 0)
		r = base64_encode("", 1, &k); /* key "\0" + range_end "\0" = everything */
	else
		r = base64_encode(prefix, len, &k);
	if (r < 0)
		return r;
	r = base64_encode(end, elen, ret_end);
	if (r < 0)
		return r;
	*ret_key = TAKE_PTR(k);
	return 0;
}

int ds_reply_error(json_object *o)
{
	json_object *err = NULL, *m;
	int64_t code = 0;
	const char *msg = "";

	if (!json_object_is_type(o, json_type_object))
		return -EPROTO;
	if (json_object_object_get_ex(o, "error", &err) &&
	    json_object_is_type(err, json_type_object)) {
		/* Streaming form: {"error":{"grpc_code":N,"http_code":N,"message":...}} */
		if (ds_json_int64(err, "grpc_code", &code) < 0)
			return -EPROTO;
		if (code == 0)
			code = 2; /* Unknown */
		if (json_object_object_get_ex(err, "message", &m))
			msg = json_object_get_string(m);
	} else {
		if (ds_json_int64(o, "code", &code) < 0)
			return -EPROTO;
		if (code == 0 && err && json_object_is_type(err, json_type_string) &&
		    *json_object_get_string(err) && !json_object_object_get_ex(o, "header", NULL))
			code = 2; /* an error string with no code: Unknown */
		if (json_object_object_get_ex(o, "message", &m) ||
		    json_object_object_get_ex(o, "error", &m))
			msg = json_object_get_string(m);
	}
	if (code == 0)
		return 0;
	log_debug("datastore: etcd error code %" PRId64 ": %s", code, msg ? msg : "");
	return ds_grpc_errno(code);
}

int ds_grpc_errno(int64_t code)
{
	switch (code) {
	case 0:
		return 0;
	case 4: /* DeadlineExceeded */
		return -ETIMEDOUT;
	case 5: /* NotFound */
		return -ENOENT;
	case 11: /* OutOfRange: "mvcc: required revision has been compacted" */
		return -ERANGE;
	case 14: /* Unavailable */
		return -EAGAIN;
	default:
		return -EPROTO;
	}
}

struct ds_body {
	struct strbuf sb;
	int err;
};

static size_t ds_body_write(char *p, size_t size, size_t nmemb, void *userdata)
{
	struct ds_body *b = userdata;
	size_t len = size * nmemb;

	if (b->sb.len + len > DS_MAX_BODY) {
		b->err = -E2BIG;
		return 0;
	}
	if (strbuf_append(&b->sb, p, len) < 0) {
		b->err = -ENOMEM;
		return 0;
	}
	return len;
}

int ds_parse_object(const char *s, size_t len, json_object **ret)
{
	json_tokener *tok;
	json_object *o;
	size_t off;

	if (len > INT32_MAX)
		return -E2BIG;
	tok = json_tokener_new();
	if (!tok)
		return -ENOMEM;
	o = json_tokener_parse_ex(tok, s, (int)len);
	off = json_tokener_get_parse_end(tok);
	if (!o || json_tokener_get_error(tok) != json_tokener_success) {
		json_tokener_free(tok);
		if (o)
			json_object_put(o);
		return -EPROTO;
	}
	json_tokener_free(tok);
	for (; off < len; off++)
		if (s[off] != ' ' && s[off] != '\n' && s[off] != '\r' && s[off] != '\t') {
			json_object_put(o);
			return -EPROTO;
		}
	if (!json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		return -EPROTO;
	}
	*ret = o;
	return 0;
}

/*
 * etcd answered Unavailable for a request it did not carry out, so it may be sent again: "no
 * leader" (an election is under way: nothing was proposed), or, for a repeatable call, "leader
 * changed" (a linearizable read lost its leader half way, e.g. the leader was killed; etcd's
 * own clientv3 retries every Unavailable read).
 */
static bool ds_reply_no_leader(json_object *o, bool repeatable)
{
	json_object *m;
	const char *s;

	if (!(json_object_object_get_ex(o, "message", &m) ||
	      json_object_object_get_ex(o, "error", &m)) ||
	    !json_object_is_type(m, json_type_string))
		return false;
	s = json_object_get_string(m);
	return strstr(s, "no leader") || (repeatable && strstr(s, "leader changed"));
}

/*
 * A TLS endpoint hung up on a client without a certificate: the handshake completed (TLS 1.3
 * sends the server's "certificate required" alert only afterwards) or failed on a certificate
 * alert, and no HTTP answer came. etcd with --client-cert-auth does exactly this, so the caller
 * gets -EKEYREJECTED ("Key was rejected by service") rather than a bare connection reset.
 */
static bool ds_tls_refused(const struct ds_client *c, CURL *e, CURLcode cc)
{
	const char *scheme = NULL;
	curl_off_t tls_us = 0;
	long status = 0;

	if (c->cert_file)
		return false;
	if (curl_easy_getinfo(e, CURLINFO_SCHEME, &scheme) != CURLE_OK || !scheme ||
	    strcasecmp(scheme, "https") != 0)
		return false;
	if (cc == CURLE_SSL_CONNECT_ERROR)
		return strstr(c->errbuf, "alert") && strstr(c->errbuf, "certificate");
	if (cc != CURLE_SEND_ERROR && cc != CURLE_RECV_ERROR && cc != CURLE_GOT_NOTHING)
		return false;
	curl_easy_getinfo(e, CURLINFO_APPCONNECT_TIME_T, &tls_us);
	curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
	return tls_us > 0 && status == 0;
}

/*
 * POST @req to @path; the parsed reply object on success, and (@ret_bytes may be NULL) the
 * size of its JSON text.
 *
 * Failover (see the DOC paragraph): the endpoints are tried from c->cur on. The next one is tried
 * when the request never reached etcd (connect failure), when etcd had no leader (not proposed),
 * and, for a @repeatable call, when it timed out or the connection broke after sending: put,
 * delete, range, a read-only txn and the lease calls can be repeated, a CAS txn cannot (a repeated create or
 * update that did apply the first time would report -EEXIST/-ESTALE). After a timeout or a
 * broken connection c->cur moves on in any case, so the next call avoids a hung member. When
 * every member said "no leader", the calls wait 200 ms and go round again for up to timeout_ms.
 */
static int ds_call_rep(struct ds_client *c, const char *path, json_object *req, json_object **ret,
		       size_t *ret_bytes, bool repeatable)
{
	const char *payload = json_object_to_json_string_ext(req, JSON_C_TO_STRING_PLAIN);
	long waited_ms = 0;
	int last = -ECONNREFUSED;
	bool leaderless = false; /* some member of this round said "no leader" */

	if (!payload)
		return -ENOMEM;
	if (!c->easy) {
		c->easy = curl_easy_init();
		if (!c->easy)
			return -ENOMEM;
	}
	for (size_t i = 0;; i++) {
		size_t ep = (c->cur + i) % c->n_eps;
		struct ds_body body = {0};
		json_object *o = NULL;
		CURLcode cc;
		long status = 0;
		int r;

		if (i > 0 && i % c->n_eps == 0) {
			/* A whole round failed: only "no leader" goes round again (also when the
			 * round's last member was a dead one: the others are electing). */
			if (!leaderless || waited_ms >= c->timeout_ms)
				return leaderless ? -EAGAIN : last;
			leaderless = false;
			struct timespec ts = {.tv_nsec = 200 * 1000000L};

			nanosleep(&ts, NULL);
			waited_ms += 200;
		}
		r = ds_easy_prepare(c, c->easy, ep, path);
		if (r < 0)
			return r;
		c->errbuf[0] = '\0';
		curl_easy_setopt(c->easy, CURLOPT_ERRORBUFFER, c->errbuf);
		curl_easy_setopt(c->easy, CURLOPT_POSTFIELDS, payload);
		curl_easy_setopt(c->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(payload));
		curl_easy_setopt(c->easy, CURLOPT_WRITEFUNCTION, ds_body_write);
		curl_easy_setopt(c->easy, CURLOPT_WRITEDATA, &body);
		cc = curl_easy_perform(c->easy);
		curl_easy_setopt(c->easy, CURLOPT_WRITEDATA, NULL);
		if (cc != CURLE_OK) {
			strbuf_done(&body.sb);
			if (body.err)
				return body.err;
			r = ds_curl_errno(c->easy, cc);
			if (ds_tls_refused(c, c->easy, cc))
				r = -EKEYREJECTED;
			log_debug("datastore: %s%s: %s", c->eps[ep].unix_path ?: c->eps[ep].base,
				  path, c->errbuf[0] ? c->errbuf : curl_easy_strerror(cc));
			last = r;
			if (ds_curl_is_connect_failure(c->easy, cc))
				continue;
			/* -EKEYREJECTED may also be a member killed mid-request: fail over too. */
			if (r == -ETIMEDOUT || r == -ECONNRESET || r == -EKEYREJECTED) {
				if (c->cur == ep && c->n_eps > 1)
					c->cur = (ep + 1) % c->n_eps;
				if (repeatable && i + 1 < c->n_eps)
					continue;
			}
			return r;
		}
		curl_easy_getinfo(c->easy, CURLINFO_RESPONSE_CODE, &status);
		if (ret_bytes)
			*ret_bytes = body.sb.len;
		r = ds_parse_object(body.sb.buf ?: "", body.sb.len, &o);
		strbuf_done(&body.sb);
		if (r < 0) {
			log_debug("datastore: %s: HTTP %ld with a body that is not a JSON object",
				  path, status);
			return r;
		}
		r = ds_reply_error(o);
		if (r == -EAGAIN && ds_reply_no_leader(o, repeatable)) {
			json_object_put(o);
			leaderless = true;
			last = r;
			continue;
		}
		c->cur = ep;
		if (r == 0 && status != 200)
			r = -EPROTO;
		if (r < 0) {
			json_object_put(o);
			return r;
		}
		*ret = o;
		return 0;
	}
}

/* As ds_call_rep(); a txn (a CAS) is not repeatable, every other call is. */
static int ds_call_sized(struct ds_client *c, const char *path, json_object *req, json_object **ret,
			 size_t *ret_bytes)
{
	return ds_call_rep(c, path, req, ret, ret_bytes, strcmp(path, "/v3/kv/txn") != 0);
}

static int ds_call(struct ds_client *c, const char *path, json_object *req, json_object **ret)
{
	return ds_call_sized(c, path, req, ret, NULL);
}

static int ds_add_str(json_object *o, const char *field, const char *s)
{
	json_object *v = json_object_new_string(s);

	if (!v)
		return -ENOMEM;
	if (json_object_object_add(o, field, v) < 0) {
		json_object_put(v);
		return -ENOMEM;
	}
	return 0;
}

static int ds_add_int64(json_object *o, const char *field, int64_t x)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "%" PRId64, x);
	return ds_add_str(o, field, buf);
}

static int ds_add_b64(json_object *o, const char *field, const void *data, size_t len)
{
	_cleanup_free_ char *s = NULL;
	int r = base64_encode(data, len, &s);

	if (r < 0)
		return r;
	return ds_add_str(o, field, s);
}

static int ds_add_obj(json_object *o, const char *field, json_object *child)
{
	if (!child)
		return -ENOMEM;
	if (json_object_object_add(o, field, child) < 0) {
		json_object_put(child);
		return -ENOMEM;
	}
	return 0;
}

static int ds_header_revision(json_object *reply, int64_t *ret)
{
	json_object *h;

	if (!json_object_object_get_ex(reply, "header", &h))
		return -EPROTO;
	return ds_json_int64(h, "revision", ret);
}

static bool ds_key_ok(const char *key)
{
	return key && *key;
}

/*
 * Reads keys starting at @key_b64 (up to @end_b64 when non-NULL); appends to @out, whose array
 * has room for *@cap items (@cap NULL: exactly out->n; grown by doubling, so paging is linear).
 * @revision > 0 pins the read to that revision and lets the member answer from its own state
 * (serializable): the revision is known to be committed. @ret_bytes: the reply's JSON size.
 */
static int ds_range_once(struct ds_client *c, const char *key_b64, const char *end_b64,
			 int64_t limit, int64_t revision, struct ds_kvs *out, size_t *cap,
			 bool *ret_more, size_t *ret_bytes)
{
	_cleanup_jput_ json_object *req = json_object_new_object(), *reply = NULL;
	json_object *kvs, *more;
	size_t n;
	int r;

	if (!req)
		return -ENOMEM;
	r = ds_add_str(req, "key", key_b64);
	if (r >= 0 && end_b64)
		r = ds_add_str(req, "range_end", end_b64);
	if (r >= 0 && limit > 0)
		r = ds_add_int64(req, "limit", limit);
	if (r >= 0 && revision > 0)
		r = ds_add_int64(req, "revision", revision);
	if (r >= 0 && revision > 0)
		r = ds_add_obj(req, "serializable", json_object_new_boolean(1));
	if (r < 0)
		return r;
	r = ds_call_sized(c, "/v3/kv/range", req, &reply, ret_bytes);
	if (r < 0)
		return r;
	if (out->revision == 0) {
		r = ds_header_revision(reply, &out->revision);
		if (r < 0)
			return r;
	}
	*ret_more =
	    json_object_object_get_ex(reply, "more", &more) && json_object_get_boolean(more);
	if (!json_object_object_get_ex(reply, "kvs", &kvs))
		return 0;
	if (!json_object_is_type(kvs, json_type_array))
		return -EPROTO;
	n = json_object_array_length(kvs);
	if (out->n + n > DS_MAX_KEYS)
		return -E2BIG;
	if (n > 0 && (!cap || out->n + n > *cap)) {
		size_t want = cap ? MAX(out->n + n, *cap * 2) : out->n + n;
		struct ds_kv *items = realloc(out->items, want * sizeof(*items));

		if (!items)
			return -ENOMEM;
		out->items = items;
		if (cap)
			*cap = want;
	}
	for (size_t i = 0; i < n; i++) {
		r = ds_kv_from_json(json_object_array_get_idx(kvs, i), &out->items[out->n]);
		if (r < 0)
			return r;
		out->n++;
	}
	return 0;
}

int ds_get(struct ds_client *c, const char *key, struct ds_kv *ret, int64_t *ret_revision)
{
	_cleanup_(ds_kvs_done) struct ds_kvs kvs = {0};
	_cleanup_free_ char *k = NULL;
	bool more;
	int r;

	if (!ds_key_ok(key))
		return -EINVAL;
	r = base64_encode(key, strlen(key), &k);
	if (r < 0)
		return r;
	r = ds_range_once(c, k, NULL, 0, 0, &kvs, NULL, &more, NULL);
	if (r < 0)
		return r;
	if (kvs.n == 0)
		return -ENOENT;
	if (ret_revision)
		*ret_revision = kvs.revision;
	*ret = kvs.items[0];
	kvs.items[0] = (struct ds_kv){0};
	return 0;
}

int ds_range_prefix(struct ds_client *c, const char *prefix, size_t page_size, struct ds_kvs *ret)
{
	_cleanup_(ds_kvs_done) struct ds_kvs kvs = {0};
	_cleanup_free_ char *start = NULL, *end = NULL;
	bool adapt = page_size == 0;
	size_t cap = 0;
	int r;

	if (!prefix)
		return -EINVAL;
	if (page_size == 0)
		page_size = DS_PAGE_KEYS;
	if (page_size > DS_MAX_KEYS)
		page_size = DS_MAX_KEYS;
	r = ds_prefix_range(prefix, &start, &end);
	if (r < 0)
		return r;
	for (;;) {
		bool more = false;
		size_t before = kvs.n, bytes = 0;
		const char *last;

		r = ds_range_once(c, start, end, (int64_t)page_size, kvs.revision, &kvs, &cap,
				  &more, &bytes);
		if (r == -ERANGE && before > 0)
			log_debug("datastore: revision %" PRId64 " compacted while listing %s",
				  kvs.revision, prefix);
		if (r < 0)
			return r;
		if (!more || kvs.n == before)
			break;
		if (adapt && bytes > 0)
			page_size = ds_page_keys(kvs.n - before, bytes, DS_PAGE_BYTES);
		/* Next page starts right after the last key: last key + "\0". */
		last = kvs.items[kvs.n - 1].key;
		free(start);
		start = NULL;
		r = base64_encode(last, strlen(last) + 1, &start);
		if (r < 0)
			return r;
	}
	*ret = kvs;
	kvs = (struct ds_kvs){0};
	return 0;
}

int ds_put(struct ds_client *c, const char *key, const char *value, size_t len, int64_t lease,
	   int64_t *ret_revision)
{
	_cleanup_jput_ json_object *req = json_object_new_object(), *reply = NULL;
	int64_t rev;
	int r;

	if (!ds_key_ok(key) || (!value && len) || lease < 0)
		return -EINVAL;
	if (!req)
		return -ENOMEM;
	r = ds_add_b64(req, "key", key, strlen(key));
	if (r >= 0)
		r = ds_add_b64(req, "value", value ?: "", len);
	if (r >= 0 && lease)
		r = ds_add_int64(req, "lease", lease);
	if (r < 0)
		return r;
	r = ds_call(c, "/v3/kv/put", req, &reply);
	if (r < 0)
		return r;
	r = ds_header_revision(reply, &rev);
	if (r < 0)
		return r;
	if (ret_revision)
		*ret_revision = rev;
	return 0;
}

int ds_delete(struct ds_client *c, const char *key, int64_t *ret_deleted)
{
	_cleanup_jput_ json_object *req = json_object_new_object(), *reply = NULL;
	int64_t deleted;
	int r;

	if (!ds_key_ok(key))
		return -EINVAL;
	if (!req)
		return -ENOMEM;
	r = ds_add_b64(req, "key", key, strlen(key));
	if (r < 0)
		return r;
	r = ds_call(c, "/v3/kv/deleterange", req, &reply);
	if (r < 0)
		return r;
	r = ds_json_int64(reply, "deleted", &deleted);
	if (r < 0)
		return r;
	if (ret_deleted)
		*ret_deleted = deleted;
	return 0;
}

/*
 * One-compare txn on @key: target "CREATE" (create_revision) or "MOD" (mod_revision) EQUAL @rev;
 * @success is one request op (consumed); the failure branch reads the key back.
 * Return: 1 when the compare held, 0 when not (then *ret_exists says whether the key is there).
 */
static int ds_txn(struct ds_client *c, const char *key, const char *target, int64_t rev,
		  json_object *success, int64_t *ret_revision, bool *ret_exists)
{
	_cleanup_jput_ json_object *req = json_object_new_object(), *reply = NULL;
	_cleanup_jput_ json_object *op = success;
	json_object *cmp, *arr, *fail_op, *range, *v;
	int r;

	if (!req || !op)
		return -ENOMEM;
	cmp = json_object_new_object();
	r = ds_add_obj(req, "compare", json_object_new_array());
	if (r < 0) {
		json_object_put(cmp);
		return r;
	}
	json_object_object_get_ex(req, "compare", &arr);
	if (!cmp || json_object_array_add(arr, cmp) < 0) {
		json_object_put(cmp);
		return -ENOMEM;
	}
	r = ds_add_b64(cmp, "key", key, strlen(key));
	if (r >= 0)
		r = ds_add_str(cmp, "target", target);
	if (r >= 0)
		r = ds_add_str(cmp, "result", "EQUAL");
	if (r >= 0)
		r = ds_add_int64(
		    cmp, strcmp(target, "CREATE") == 0 ? "create_revision" : "mod_revision", rev);
	if (r >= 0)
		r = ds_add_obj(req, "success", json_object_new_array());
	if (r < 0)
		return r;
	json_object_object_get_ex(req, "success", &arr);
	if (json_object_array_add(arr, op) < 0)
		return -ENOMEM;
	op = NULL;

	r = ds_add_obj(req, "failure", json_object_new_array());
	if (r < 0)
		return r;
	json_object_object_get_ex(req, "failure", &arr);
	fail_op = json_object_new_object();
	if (!fail_op || json_object_array_add(arr, fail_op) < 0) {
		json_object_put(fail_op);
		return -ENOMEM;
	}
	range = json_object_new_object();
	r = ds_add_obj(fail_op, "request_range", range);
	if (r >= 0)
		r = ds_add_b64(range, "key", key, strlen(key));
	if (r >= 0)
		r = ds_add_obj(range, "keys_only", json_object_new_boolean(1));
	if (r < 0)
		return r;

	r = ds_call(c, "/v3/kv/txn", req, &reply);
	if (r < 0)
		return r;
	if (ret_revision) {
		r = ds_header_revision(reply, ret_revision);
		if (r < 0)
			return r;
	}
	if (json_object_object_get_ex(reply, "succeeded", &v) && json_object_get_boolean(v))
		return 1;
	if (ret_exists) {
		/* responses[0].response_range.kvs */
		json_object *resps, *rr, *kvs;

		*ret_exists = false;
		if (json_object_object_get_ex(reply, "responses", &resps) &&
		    json_object_is_type(resps, json_type_array) &&
		    json_object_array_length(resps) > 0 &&
		    json_object_object_get_ex(json_object_array_get_idx(resps, 0), "response_range",
					      &rr) &&
		    json_object_object_get_ex(rr, "kvs", &kvs) &&
		    json_object_is_type(kvs, json_type_array))
			*ret_exists = json_object_array_length(kvs) > 0;
	}
	return 0;
}

/* @lease < 0: keep whatever lease the key has ("ignore_lease"). */
static json_object *ds_put_op(const char *key, const char *value, size_t len, int64_t lease)
{
	_cleanup_jput_ json_object *op = json_object_new_object();
	json_object *put = json_object_new_object();

	if (!op || ds_add_obj(op, "request_put", put) < 0)
		return NULL;
	if (ds_add_b64(put, "key", key, strlen(key)) < 0 ||
	    ds_add_b64(put, "value", value ?: "", len) < 0 ||
	    (lease > 0 && ds_add_int64(put, "lease", lease) < 0) ||
	    (lease < 0 && ds_add_obj(put, "ignore_lease", json_object_new_boolean(1)) < 0))
		return NULL;
	return TAKE_PTR(op);
}

int ds_create(struct ds_client *c, const char *key, const char *value, size_t len, int64_t lease,
	      int64_t *ret_revision)
{
	int64_t rev;
	int r;

	if (!ds_key_ok(key) || (!value && len) || lease < 0)
		return -EINVAL;
	r = ds_txn(c, key, "CREATE", 0, ds_put_op(key, value, len, lease), &rev, NULL);
	if (r < 0)
		return r;
	if (r == 0)
		return -EEXIST;
	if (ret_revision)
		*ret_revision = rev;
	return 0;
}

int ds_update(struct ds_client *c, const char *key, const char *value, size_t len,
	      int64_t mod_revision, int64_t *ret_revision)
{
	int64_t rev;
	int r;

	if (!ds_key_ok(key) || (!value && len) || mod_revision <= 0)
		return -EINVAL;
	/* The key keeps its lease, if any. */
	r = ds_txn(c, key, "MOD", mod_revision, ds_put_op(key, value, len, -1), &rev, NULL);
	if (r < 0)
		return r;
	if (r == 0)
		return -ESTALE;
	if (ret_revision)
		*ret_revision = rev;
	return 0;
}

int ds_delete_if(struct ds_client *c, const char *key, int64_t mod_revision)
{
	_cleanup_jput_ json_object *op = json_object_new_object();
	json_object *del = json_object_new_object();
	bool exists = false;
	int r;

	if (!ds_key_ok(key) || mod_revision <= 0) {
		json_object_put(del);
		return -EINVAL;
	}
	if (!op || ds_add_obj(op, "request_delete_range", del) < 0)
		return -ENOMEM;
	r = ds_add_b64(del, "key", key, strlen(key));
	if (r < 0)
		return r;
	r = ds_txn(c, key, "MOD", mod_revision, TAKE_PTR(op), NULL, &exists);
	if (r < 0)
		return r;
	if (r == 0)
		return exists ? -ESTALE : -ENOENT;
	return 0;
}

/* POST {"@field":"@value"} to @path (etcd's int64 travel as JSON strings): the lease calls. */
static int ds_call_int64(struct ds_client *c, const char *path, const char *field, int64_t value,
			 json_object **ret)
{
	_cleanup_jput_ json_object *req = json_object_new_object();
	int r;

	if (!req)
		return -ENOMEM;
	r = ds_add_int64(req, field, value);
	if (r < 0)
		return r;
	return ds_call(c, path, req, ret);
}

int ds_lease_grant(struct ds_client *c, int64_t ttl_s, int64_t *ret_id)
{
	_cleanup_jput_ json_object *reply = NULL;
	json_object *e;
	int64_t id;
	int r;

	if (ttl_s <= 0)
		return -EINVAL;
	r = ds_call_int64(c, "/v3/lease/grant", "TTL", ttl_s, &reply);
	if (r < 0)
		return r;
	if (json_object_object_get_ex(reply, "error", &e) && *json_object_get_string(e)) {
		log_debug("datastore: lease grant: %s", json_object_get_string(e));
		return -EPROTO;
	}
	r = ds_json_int64(reply, "ID", &id);
	if (r < 0)
		return r;
	if (id == 0)
		return -EPROTO;
	*ret_id = id;
	return 0;
}

int ds_lease_keepalive(struct ds_client *c, int64_t id, int64_t *ret_ttl_s)
{
	_cleanup_jput_ json_object *reply = NULL;
	json_object *res;
	int64_t ttl;
	int r;

	/* A bidirectional stream in gRPC; the gateway answers one request with one line
	 * {"result":{...,"ID","TTL"}}. An unknown or expired lease has no (zero) TTL. */
	r = ds_call_int64(c, "/v3/lease/keepalive", "ID", id, &reply);
	if (r < 0)
		return r;
	if (!json_object_object_get_ex(reply, "result", &res))
		return -EPROTO;
	r = ds_json_int64(res, "TTL", &ttl);
	if (r < 0)
		return r;
	if (ttl <= 0)
		return -ENOENT;
	if (ret_ttl_s)
		*ret_ttl_s = ttl;
	return 0;
}

int ds_lease_revoke(struct ds_client *c, int64_t id)
{
	_cleanup_jput_ json_object *reply = NULL;

	return ds_call_int64(c, "/v3/lease/revoke", "ID", id, &reply);
}

int ds_compact(struct ds_client *c, int64_t revision)
{
	_cleanup_jput_ json_object *req = json_object_new_object(), *reply = NULL;
	int r;

	if (revision <= 0)
		return -EINVAL;
	if (!req)
		return -ENOMEM;
	r = ds_add_int64(req, "revision", revision);
	if (r >= 0)
		r = ds_add_obj(req, "physical", json_object_new_boolean(1));
	if (r < 0)
		return r;
	return ds_call(c, "/v3/kv/compaction", req, &reply);
}

/* ---- batched reads and multi-key compare-and-swap (one round trip each) -------------------- */

/* An array member @field of @o, created when absent. */
static json_object *ds_array_member(json_object *o, const char *field)
{
	json_object *a;

	if (json_object_object_get_ex(o, field, &a))
		return a;
	if (ds_add_obj(o, field, json_object_new_array()) < 0)
		return NULL;
	json_object_object_get_ex(o, field, &a);
	return a;
}

/* Append {@name: {}} to @arr; the inner object is returned (owned by @arr). */
static json_object *ds_append_op(json_object *arr, const char *name)
{
	json_object *op = json_object_new_object(), *inner;

	if (!op || json_object_array_add(arr, op) < 0) {
		json_object_put(op);
		return NULL;
	}
	inner = json_object_new_object();
	if (ds_add_obj(op, name, inner) < 0)
		return NULL;
	return inner;
}

int ds_read_many(struct ds_client *c, struct ds_read *reads, size_t n, int64_t *ret_revision)
{
	_cleanup_jput_ json_object *req = json_object_new_object(), *reply = NULL;
	json_object *ops, *resps;
	int64_t rev;
	int r;

	if (!c || !reads || n == 0 || n > DS_TXN_MAX_OPS)
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		if (!ds_key_ok(reads[i].key))
			return -EINVAL;
	if (!req)
		return -ENOMEM;
	ops = ds_array_member(req, "success");
	if (!ops)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		json_object *range = ds_append_op(ops, "request_range");

		if (!range)
			return -ENOMEM;
		if (reads[i].prefix) {
			_cleanup_free_ char *start = NULL, *end = NULL;

			r = ds_prefix_range(reads[i].key, &start, &end);
			if (r >= 0)
				r = ds_add_str(range, "key", start);
			if (r >= 0)
				r = ds_add_str(range, "range_end", end);
		} else
			r = ds_add_b64(range, "key", reads[i].key, strlen(reads[i].key));
		if (r < 0)
			return r;
	}
	/* No compare: the success branch always runs. A txn of ranges only is a read-only txn:
	 * etcd serves it as one linearizable read, with no raft proposal and no WAL write; so it
	 * is repeatable, and fails over like a range (a member killed mid-read, "leader changed"). */
	r = ds_call_rep(c, "/v3/kv/txn", req, &reply, NULL, true);
	if (r < 0)
		return r;
	r = ds_header_revision(reply, &rev);
	if (r < 0)
		return r;
	if (ret_revision)
		*ret_revision = rev;
	if (!json_object_object_get_ex(reply, "responses", &resps) ||
	    !json_object_is_type(resps, json_type_array) || json_object_array_length(resps) != n)
		return -EPROTO;
	for (size_t i = 0; i < n; i++) {
		json_object *rr, *kvs;
		size_t m;

		if (!json_object_object_get_ex(json_object_array_get_idx(resps, i),
					       "response_range", &rr))
			return -EPROTO;
		ds_kvs_done(&reads[i].kvs);
		if (!json_object_object_get_ex(rr, "kvs", &kvs))
			continue; /* proto3 omits an empty list */
		if (!json_object_is_type(kvs, json_type_array))
			return -EPROTO;
		m = json_object_array_length(kvs);
		if (m > DS_MAX_KEYS)
			return -E2BIG;
		if (m == 0)
			continue;
		reads[i].kvs.items = calloc(m, sizeof(*reads[i].kvs.items));
		if (!reads[i].kvs.items)
			return -ENOMEM;
		for (size_t k = 0; k < m; k++) {
			r = ds_kv_from_json(json_object_array_get_idx(kvs, k),
					    &reads[i].kvs.items[reads[i].kvs.n]);
			if (r < 0)
				return r;
			reads[i].kvs.n++;
		}
	}
	for (size_t i = 0; i < n; i++)
		reads[i].kvs.revision = rev;
	return 0;
}

int ds_cas_many(struct ds_client *c, const struct ds_cas *ops, size_t n, int64_t *ret_revision)
{
	_cleanup_jput_ json_object *req = json_object_new_object(), *reply = NULL;
	json_object *cmps, *succ, *v;
	int r;

	if (!c || !ops || n == 0 || n > DS_TXN_MAX_OPS)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		const struct ds_cas *o = &ops[i];

		if (!ds_key_ok(o->key) || o->kind < DS_CAS_CREATE || o->kind > DS_CAS_DELETE ||
		    (!o->value && o->len) ||
		    ((o->kind == DS_CAS_UPDATE || o->kind == DS_CAS_DELETE) &&
		     o->mod_revision <= 0))
			return -EINVAL;
	}
	if (!req)
		return -ENOMEM;
	cmps = ds_array_member(req, "compare");
	succ = ds_array_member(req, "success");
	if (!cmps || !succ)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		const struct ds_cas *o = &ops[i];
		json_object *cmp, *op;

		if (o->kind != DS_CAS_PUT) {
			bool create = o->kind == DS_CAS_CREATE;

			cmp = json_object_new_object();
			if (!cmp || json_object_array_add(cmps, cmp) < 0) {
				json_object_put(cmp);
				return -ENOMEM;
			}
			r = ds_add_b64(cmp, "key", o->key, strlen(o->key));
			if (r >= 0)
				r = ds_add_str(cmp, "target", create ? "CREATE" : "MOD");
			if (r >= 0)
				r = ds_add_str(cmp, "result", "EQUAL");
			if (r >= 0)
				r = ds_add_int64(cmp, create ? "create_revision" : "mod_revision",
						 create ? 0 : o->mod_revision);
			if (r < 0)
				return r;
		}
		if (o->kind == DS_CAS_DELETE) {
			op = ds_append_op(succ, "request_delete_range");
			if (!op)
				return -ENOMEM;
			r = ds_add_b64(op, "key", o->key, strlen(o->key));
		} else {
			/* an update keeps the key's lease, as ds_update() does */
			op = ds_put_op(o->key, o->value, o->len, o->kind == DS_CAS_UPDATE ? -1 : 0);
			r = op && json_object_array_add(succ, op) >= 0 ? 0 : -ENOMEM;
			if (r < 0)
				json_object_put(op);
		}
		if (r < 0)
			return r;
	}
	r = ds_call(c, "/v3/kv/txn", req, &reply);
	if (r < 0)
		return r;
	if (!json_object_object_get_ex(reply, "succeeded", &v) || !json_object_get_boolean(v))
		return -ESTALE;
	if (ret_revision)
		return ds_header_revision(reply, ret_revision);
	return 0;
}
