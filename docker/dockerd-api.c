/* SPDX-License-Identifier: Apache-2.0 */
/**
 * DOC: dockerd API client
 *
 * One blocking GET per call with a short timeout. It is only used outside dockerd's own calls
 * into the plugin where dockerd holds no lock we would wait for (CreateEndpoint: the network
 * exists and is readable; deferred label lookups: the container list is served from dockerd's
 * lock-free view), so a call cannot deadlock against the request that caused it.
 */

#include <errno.h>
#include <string.h>

#include <curl/curl.h>
#include <json-c/json.h>

#include "docker/dockerd-api.h"
#include "lib/log.h"
#include "lib/strbuf.h"

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	struct strbuf *sb = userdata;
	size_t n = size * nmemb;

	if (sb->len + n > DK_API_MAX_BYTES || strbuf_append(sb, ptr, n) < 0)
		return 0; /* makes curl fail with CURLE_WRITE_ERROR */
	return n;
}

static void curl_cleanupp(CURL **c)
{
	if (*c)
		curl_easy_cleanup(*c);
}

int dk_api_get(const char *socket_path, const char *path, struct json_object **ret)
{
	_cleanup_(curl_cleanupp) CURL *c = curl_easy_init();
	_cleanup_strbuf_ struct strbuf url, body;
	struct json_object *o;
	long status = 0;
	CURLcode cr;

	strbuf_init(&url);
	strbuf_init(&body);
	if (!c || strbuf_printf(&url, "http://localhost%s", path) < 0)
		return -ENOMEM;
	curl_easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, socket_path);
	curl_easy_setopt(c, CURLOPT_URL, strbuf_cstr(&url));
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)DK_API_TIMEOUT_MS);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &body);
	cr = curl_easy_perform(c);
	if (cr == CURLE_WRITE_ERROR)
		return -E2BIG;
	if (cr == CURLE_OPERATION_TIMEDOUT)
		return log_debug_errno(-ETIMEDOUT, "dockerd GET %s: timed out", path);
	if (cr != CURLE_OK)
		return log_debug_errno(-ECONNREFUSED, "dockerd GET %s: %s", path,
				       curl_easy_strerror(cr));
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	if (status == 404)
		return -ENOENT;
	if (status != 200)
		return log_debug_errno(-EPROTO, "dockerd GET %s: HTTP %ld", path, status);
	o = json_tokener_parse(body.len ? strbuf_cstr(&body) : "");
	if (!o)
		return log_debug_errno(-EPROTO, "dockerd GET %s: answer is not JSON", path);
	*ret = o;
	return 0;
}
