/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * The two libnetwork remote plugin APIs tabby-docker serves on one socket: NetworkDriver
 * (moby libnetwork docs/remote.md) and IpamDriver (docs/ipam.md). Every request is an HTTP POST
 * "/<Api>.<Method>" with a JSON body; every answer is JSON, {"Err":"<cause>"} on failure.
 * Transport (HTTP over the unix socket) lives in main.c; this module only maps a request body
 * to a response body, so it can be driven by any transport.
 */

#include <stdbool.h>
#include <stddef.h>

#include "datastore/datastore.h"
#include "lib/macro.h"

#define DK_GATEWAY_CIDR "169.254.1.1/32"
#define DK_MAX_BODY (1024 * 1024) /* bytes; larger requests are refused with 413 */
#define DK_MAX_NETWORKS 4096	  /* networks remembered; more are refused */
#define DK_MAX_PENDING 4096	  /* endpoints waiting for their container's labels */
/* Label on a WorkloadEndpoint whose container's Docker labels are not known yet (from
 * CreateEndpoint until shortly after Join); a GlobalNetworkPolicy selecting
 * has(docker.tabby.io/labels-pending) with Deny rules closes that window (see driver.c). */
#define DK_LABEL_PENDING "docker.tabby.io/labels-pending"

struct dk_driver;

struct dk_driver_config {
	const char *node;	   /* this host's Node name (WorkloadEndpoint spec.node, IPAM) */
	const char *state_dir;	   /* networks are remembered in <state_dir>/networks/<id>.json */
	const char *docker_socket; /* dockerd's API socket: network names, container labels */
	struct ds_client *ds;	   /* borrowed; must outlive the driver */
};

/**
 * dk_driver_new() - a driver; loads the networks remembered in @cfg->state_dir (creating the
 * directory when missing). Strings in @cfg are copied.
 * Return: 0, -ENOMEM, or -errno of mkdir/opendir.
 */
int dk_driver_new(const struct dk_driver_config *cfg, struct dk_driver **ret) _warn_unused_result_;

/** dk_driver_free() - free; NULL-safe. Return: NULL. */
struct dk_driver *dk_driver_free(struct dk_driver *d);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct dk_driver *, dk_driver_free);

/**
 * dk_driver_handle() - answer one plugin request.
 * @path: the URL path, e.g. "/NetworkDriver.CreateEndpoint".
 * @body: the request body (NUL-terminated, may be empty: Plugin.Activate has none).
 * @ret_status: 200 for every answer of a known method, also for {"Err":...} answers (the
 *              protocol carries operation failures in the body); 400 when the body is not JSON,
 *              404 for an unknown method (libnetwork then treats it as not implemented).
 * @ret_body: malloc'ed JSON text.
 * Return: 0, or -ENOMEM.
 */
int dk_driver_handle(struct dk_driver *d, const char *path, const char *body, int *ret_status,
		     char **ret_body) _warn_unused_result_;

/**
 * dk_driver_tick() - deferred work: copy container ids, names and Docker labels onto the
 * WorkloadEndpoints of endpoints that joined recently (their container becomes visible in
 * dockerd's API only after Join returns).
 * Return: milliseconds until the next call is useful, or -1 when nothing is pending.
 */
int dk_driver_tick(struct dk_driver *d);
