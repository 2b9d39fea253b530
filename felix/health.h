/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * tabby-felix's health status and its HTTP endpoints (DESIGN.md "Configuration and operation"),
 * on the ports Calico Felix uses:
 *
 *   GET /liveness   (healthHost:healthPort, default 127.0.0.1:9099)
 *        200 {"live":true,"loopAgeMs":N} while the main loop turns: it stamps a monotonic time at
 *        every turn, and 503 when that stamp is older than FELIX_LIVENESS_TIMEOUT_MS. The server
 *        runs inside that loop (no threads), so a loop that is wedged right now does not answer
 *        at all: the probe times out, which a kubelet or systemd counts as a failure too.
 *   GET /readiness  (same listener)
 *        200 when every part is ready, else 503; the body says which part is not:
 *        {"ready":false,"live":true,"datastore":"in-sync"|"syncing",
 *         "dataplane":"ok"|"pending"|"error","bgp":"ok"|"pending"|"not-running"|"rejected"|"error",
 *         "policy":{"ok":true}|{"ok":false,"error":"..."}}
 *        - datastore: the watch delivered a complete snapshot and its stream is connected now
 *          (Calico Felix: not ready until the syncer is in sync);
 *        - dataplane: the last route programming pass ran (some routes may still wait for their
 *          interface); "pending" until the first one, "error" while the kernel cannot be read;
 *        - bgp: the rendered bird.conf is in place and accepted, and BIRD's control socket
 *          accepts a connection at probe time. This follows calico-node's readiness probe
 *          (-bird-ready: BIRD must be running) but does not require every BGP session to be
 *          Established: one peer down elsewhere would otherwise make every host unready.
 *          "pending" until this Node has an address in the datastore, "rejected" while BIRD
 *          refuses the config we want (it keeps running the previous one);
 *        - policy: the last policy apply succeeded; otherwise the error from felix's status file
 *          (felix/dataplane/policy/policy.h) when it can be read, and new local workloads fail closed meanwhile.
 *   GET /metrics    (prometheusMetricsHost:prometheusMetricsPort, default 127.0.0.1:9091, only
 *        with prometheusMetricsEnabled) the Prometheus text format 0.0.4 (felix/metrics.h).
 *
 * When both listeners have the same address and port, one listener serves all three paths.
 * A listener that cannot bind (address in use) is logged and retried every few seconds: the
 * dataplane never waits for observability.
 */

#include <stdbool.h>
#include <stdint.h>

#include "felix/config.h"
#include "felix/dataplane/bird/bird.h"
#include "felix/metrics.h"
#include "felix/dataplane/driver.h"
#include "lib/macro.h"

#define FELIX_LIVENESS_TIMEOUT_MS 30000

enum felix_dataplane_state {
	FELIX_DATAPLANE_PENDING, /* no route programming pass has run yet */
	FELIX_DATAPLANE_OK,
	FELIX_DATAPLANE_ERROR,
};

enum felix_bgp_state {
	FELIX_BGP_PENDING,     /* no BGP model yet, or not applied yet */
	FELIX_BGP_OK,	       /* file current and BIRD told */
	FELIX_BGP_NOT_RUNNING, /* file in place, BIRD not reachable (it reads the file at start) */
	FELIX_BGP_REJECTED,    /* BIRD refused the config we want */
	FELIX_BGP_ERROR,       /* render or file write failed */
};

struct ds_watch;

/*
 * What the agent knows about itself. The agent owns it and updates it in place; the HTTP
 * server reads it at request time. Pointers are weak (borrowed from the agent).
 */
/* Slots of struct felix_health.drivers. */
#define FELIX_HEALTH_MAX_DRIVERS 4

struct felix_health {
	uint64_t loop_ms;	      /* CLOCK_MONOTONIC ms of the main loop's last turn */
	const struct ds_watch *watch; /* NULL until the watch exists */
	enum felix_dataplane_state dataplane;
	enum felix_bgp_state bgp;
	bool policy_applied;	 /* a policy apply has run */
	int policy_error;	 /* 0, or the -errno of the last policy apply (then pending) */
	const char *bird_socket; /* birdSocket, probed at /readiness */
	const char *status_file; /* statusFile, read for the policy error text */
	/* The drivers with no state of their own above (natOutgoing, VXLAN), as last noted by
	 * felix_health_note_driver(); /readiness lists them and is false while one is failing. */
	struct felix_driver_health {
		const char *name; /* static string: the driver's ops name; NULL = unused slot */
		bool applied;	  /* an apply has run */
		bool in_sync;	  /* struct dp_stats.in_sync of the last apply */
		int last_error;	  /* 0, or the -errno of the last apply */
		char error[256];  /* struct dp_stats.error */
	} drivers[FELIX_HEALTH_MAX_DRIVERS];
};

/** felix_health_init() - initial state (everything pending) for the agent of @cfg (borrowed). */
void felix_health_init(struct felix_health *h, const struct felix_config *cfg);

/**
 * felix_health_note_routes() - the routes driver's stats after an apply (@st, borrowed) and the
 * number of desired routes @n_routes (calc_desired.n_routes). Updates the dataplane state,
 * felix_routes_programmed/pending and felix_apply_errors_total.
 */
void felix_health_note_routes(struct felix_health *h, struct felix_metrics *m,
			      const struct dp_stats *st, size_t n_routes);

/**
 * felix_health_note_policy() - the policy driver's stats after an apply: the policy state of
 * /readiness and felix_policy_errors_total.
 */
void felix_health_note_policy(struct felix_health *h, struct felix_metrics *m,
			      const struct dp_stats *st);

/**
 * felix_health_note_bird() - BIRD's state as the BIRD driver saw it in its last apply (no file
 * system guesses), plus felix_bird_reconfigure_total / felix_bird_config_rejected_total.
 */
void felix_health_note_bird(struct felix_health *h, struct felix_metrics *m,
			    const struct dp_bird *b);

/**
 * felix_health_note_driver() - the stats @st (borrowed) of driver @name (a static string such
 * as "nat" or "vxlan") after an apply. /readiness shows it under "drivers" and is not ready
 * while its last apply failed; the driver's cumulative error count goes to
 * felix_nat_errors_total or felix_vxlan_errors_total by name. A name beyond
 * FELIX_HEALTH_MAX_DRIVERS distinct ones is ignored.
 */
void felix_health_note_driver(struct felix_health *h, struct felix_metrics *m, const char *name,
			      const struct dp_stats *st);

struct felix_health_server;

/**
 * felix_health_server_new() - the listeners @cfg asks for (healthEnabled,
 * prometheusMetricsEnabled), served by libmicrohttpd in external epoll mode: no thread, the
 * caller polls felix_health_server_fd() and calls felix_health_server_run(). @h and @m are
 * borrowed and must outlive the server. A listener that cannot bind is logged and retried by
 * felix_health_server_run().
 * Return: 0 (also when nothing is enabled: then the fd is -1), -ENOMEM, or -errno from
 * epoll_create1().
 */
int felix_health_server_new(const struct felix_config *cfg, const struct felix_health *h,
			    const struct felix_metrics *m,
			    struct felix_health_server **ret) _warn_unused_result_;

/** felix_health_server_fd() - an fd to poll for POLLIN (an epoll set), or -1 (NULL-safe). */
int felix_health_server_fd(const struct felix_health_server *s);

/**
 * felix_health_server_timeout_ms() - how long the caller's poll() may sleep before
 * felix_health_server_run() must run again (libmicrohttpd's connection timeouts, a listener
 * bind retry): 0 when work is ready, -1 when there is no deadline (or no server).
 */
int felix_health_server_timeout_ms(const struct felix_health_server *s, uint64_t now_ms);

/**
 * felix_health_server_run() - accept and answer whatever is ready, without blocking; retry
 * listeners that failed to bind when their time @now_ms (CLOCK_MONOTONIC ms) has come.
 * NULL-safe.
 */
void felix_health_server_run(struct felix_health_server *s, uint64_t now_ms);

/** felix_health_server_free() - close every listener and connection. NULL-safe. Return: NULL. */
struct felix_health_server *felix_health_server_free(struct felix_health_server *s);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct felix_health_server *, felix_health_server_free);
