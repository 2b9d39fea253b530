/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * A minimal client of dockerd's Engine API over its unix socket (libcurl), for the two things
 * the libnetwork protocol does not tell a driver: the network's name (GET /networks/<id>) and
 * which container an endpoint belongs to, with its labels (GET /containers/json).
 */

#include "lib/macro.h"

struct json_object;

#define DK_API_TIMEOUT_MS 5000
#define DK_API_MAX_BYTES (16 * 1024 * 1024)

/**
 * dk_api_get() - GET @path (e.g. "/networks/<id>"; query already URL-encoded) from the dockerd
 * listening on the unix socket @socket_path, and parse the JSON answer.
 * @ret: the parsed answer (caller puts it).
 * Return: 0, -ENOENT (HTTP 404), -EPROTO (another HTTP status or not JSON), -E2BIG (answer over
 * DK_API_MAX_BYTES), -ECONNREFUSED / -ETIMEDOUT (dockerd unreachable), or -ENOMEM.
 */
int dk_api_get(const char *socket_path, const char *path,
	       struct json_object **ret) _warn_unused_result_;
