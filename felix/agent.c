/* SPDX-License-Identifier: Apache-2.0 */
/*
 * DOC: tabby-felix's main loop (STYLE.md section 5).
 *
 * Start-up: register this host's Node (read-modify-write, retried until the datastore answers),
 * claim a block of each IPv4 pool (ipam_ensure_block), then start one watch on /tabby/v1/.
 * Watch events only decode and update the calc cache. Nothing is written to the kernel before the
 * watch delivered its first complete snapshot (SNAPSHOT_END): until then we do not know which of
 * our routes are still wanted, and sweeping early would delete live workloads' routes.
 *
 * After each batch of events, when the cache is dirty: calc (pure) -> route table apply
 * (routes, neighbours, sysctls) -> bird.conf. Applies are throttled to one per
 * FELIX_APPLY_INTERVAL_MS under an event storm, but the first change after a quiet period is
 * applied at once, so a single new workload is programmed within milliseconds. A periodic
 * resync (resyncIntervalSecs +- 10 %) re-reads the kernel and rewrites sysctls; pending items
 * (missing interfaces, kernel errors) are retried when the routes driver asks (its apply's
 * return) and whenever its netlink monitor (felix/dataplane/routes/routes.h, polled here)
 * reports that something of ours changed. Signals arrive through a signalfd: SIGTERM/SIGINT
 * stop the loop and leave every route in place (restart must not drop a packet), SIGHUP forces
 * a resync.
 * The health/metrics HTTP server (felix/health.h) is polled beside them, from before the Node
 * registration on; the watch slice is bounded so that a probe waits at most ~20 ms.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "datastore/datastore.h"
#include "felix/agent.h"
#include "felix/dataplane/bird/bird.h"
#include "felix/calc/calc.h"
#include "felix/health.h"
#include "felix/metrics.h"
#include "felix/dataplane/policy/policy.h"
#include "felix/dataplane/routes/routes.h"
#include "ipam/ipam.h"
#include "lib/log.h"
#include "model/model.h"

#define FELIX_APPLY_INTERVAL_MS 50
#define FELIX_WATCH_SLICE_MS 200
#define FELIX_RETRY_MS 1000
#define FELIX_BLOCK_RETRY_MS 5000

struct agent {
	const struct felix_config *cfg;
	struct ds_client *ds;
	struct ds_watch *watch;
	struct calc_cache *cache;
	struct dp_routes *routes; /* felix/dataplane/routes/routes.h; owns the netlink monitor */
	struct dp_stats routes_stats;
	struct felix_bird bird;
	struct felix_policy *policy; /* felix/dataplane/policy/policy.h */
	struct felix_health health;  /* felix/health.h: read by the HTTP server */
	struct felix_metrics metrics;
	struct felix_health_server *http;
	int sigfd;
	bool stop;
	bool in_sync;
	bool needs_apply; /* retry or resync requested independently of the cache */
	bool pending;	  /* the last apply left something pending */
	bool block_ok;	  /* ipam_ensure_block() succeeded */
	uint64_t last_apply_ms;
	uint64_t next_retry_ms;
	uint64_t next_resync_ms;
	uint64_t next_block_ms;
	unsigned seed;
};

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void schedule_resync(struct agent *a, uint64_t now)
{
	uint64_t base = (uint64_t)a->cfg->resync_interval_s * 1000;
	/* +-10 % jitter so that hosts restarted together do not resync in lockstep. */
	uint64_t span = base / 5;
	uint64_t jitter = span ? (uint64_t)rand_r(&a->seed) % (span + 1) : 0;
	a->next_resync_ms = now + base - base / 10 + jitter;
}

/* ---- signals and the netlink monitor ---- */

static int signals_open(void)
{
	sigset_t mask;
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0) {
		return -errno;
	}
	int fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

static void signals_read(struct agent *a)
{
	struct signalfd_siginfo si;
	while (read(a->sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		if (si.ssi_signo == SIGHUP) {
			log_info("SIGHUP: resync");
			a->next_resync_ms = 0;
		} else {
			log_info("received %s, exiting and leaving routes in place",
				 si.ssi_signo == SIGTERM ? "SIGTERM" : "SIGINT");
			a->stop = true;
		}
	}
}

/* poll() the signalfd and the monitor for up to @timeout_ms. */
static void poll_local(struct agent *a, int timeout_ms)
{
	struct pollfd p[3] = {
	    {.fd = a->sigfd, .events = POLLIN},
	    {.fd = a->routes ? dp_routes_ops.fd(a->routes) : -1, .events = POLLIN},
	    {.fd = felix_health_server_fd(a->http), .events = POLLIN}};
	int r = poll(p, ELEMENTSOF(p), timeout_ms); /* negative fds are skipped */
	if (r > 0 && p[0].revents) {
		signals_read(a);
	}
	if (r > 0 && p[1].revents && dp_routes_ops.dispatch(a->routes, now_ms())) {
		a->needs_apply = true;
	}
	/* Non-blocking; also runs libmicrohttpd's connection timeouts and bind retries. */
	felix_health_server_run(a->http, now_ms());
}

/* ---- start-up: Node and block ---- */

static int node_build(const struct felix_config *cfg, struct model_resource **ret)
{
	struct model_resource *r = calloc(1, sizeof(*r));
	if (!r) {
		return -ENOMEM;
	}
	r->kind = MODEL_KIND_NODE;
	r->meta.name = strdup(cfg->node_name);
	if (!r->meta.name) {
		model_resource_free(r);
		return -ENOMEM;
	}
	*ret = r;
	return 0;
}

/* One read-modify-write of our Node. Return 0 done, -EAGAIN lost a race, or a datastore error. */
static int node_register_once(struct agent *a)
{
	const struct felix_config *cfg = a->cfg;
	_cleanup_strbuf_ struct strbuf key = {0}, val = {0};
	_cleanup_(model_resource_freep) struct model_resource *node = NULL;
	struct ds_kv kv = {0};
	int r;

	r = model_key(MODEL_KIND_NODE, NULL, cfg->node_name, &key);
	if (r < 0) {
		return r;
	}
	r = ds_get(a->ds, strbuf_cstr(&key), &kv, NULL);
	if (r < 0 && r != -ENOENT) {
		return r;
	}
	bool exists = r >= 0;
	int64_t mod = kv.mod_revision;
	if (exists) {
		struct parse_err err = {0};
		if (model_decode_one(kv.value, kv.value_len, kv.key, &node, &err) < 0 ||
		    node->kind != MODEL_KIND_NODE) {
			char msg[512];
			log_warn("our Node %s does not decode (%s), replacing it", kv.key,
				 parse_err_format(&err, msg, sizeof(msg)));
			node = model_resource_free(node);
		}
	}
	ds_kv_done(&kv);
	if (!node) {
		r = node_build(cfg, &node);
		if (r < 0) {
			return r;
		}
	}
	struct model_node want = node->node;
	want.has_ipv4 = true;
	want.ipv4_address = cfg->ipv4_address;
	if (cfg->as_number) {
		want.as_number = cfg->as_number;
	}
	if (exists && node->node.has_ipv4 &&
	    memcmp(&node->node.ipv4_address, &want.ipv4_address, sizeof(want.ipv4_address)) == 0 &&
	    node->node.as_number == want.as_number) {
		log_info("Node %s already registered", cfg->node_name);
		return 0;
	}
	node->node.has_ipv4 = true;
	node->node.ipv4_address = cfg->ipv4_address;
	node->node.as_number = want.as_number;
	/* The datastore owns these; do not write them back. */
	free(node->meta.resource_version);
	node->meta.resource_version = NULL;
	r = model_encode_json(node, &val);
	if (r < 0) {
		return r;
	}
	if (exists) {
		r = ds_update(a->ds, strbuf_cstr(&key), val.buf, val.len, mod, NULL);
	} else {
		r = ds_create(a->ds, strbuf_cstr(&key), val.buf, val.len, 0, NULL);
	}
	if (r == -ESTALE || r == -EEXIST) {
		return -EAGAIN;
	}
	if (r >= 0) {
		char buf[IP_PREFIX_STRLEN];
		log_info("registered Node %s with address %s", cfg->node_name,
			 ip_prefix_format(&cfg->ipv4_address, buf));
	}
	return r;
}

/* Retry until registered, the backoff interruptible by SIGTERM. */
static int node_register(struct agent *a)
{
	int delay = 100;
	for (;;) {
		a->health.loop_ms = now_ms();
		int r = node_register_once(a);
		if (r >= 0) {
			return 0;
		}
		if (r == -ENOMEM || r == -EINVAL) {
			return log_error_errno(r, "cannot register Node %s: %m", a->cfg->node_name);
		}
		if (r != -EAGAIN) {
			log_info_errno(
			    r, "datastore not reachable yet (%m), retrying Node registration");
		}
		/* The whole backoff, even when a health probe wakes the poll early. */
		uint64_t until = now_ms() + (uint64_t)delay;
		for (uint64_t t = now_ms(); !a->stop && t < until; t = now_ms()) {
			a->health.loop_ms = t;
			poll_local(a, (int)(until - t));
		}
		if (a->stop) {
			return 0;
		}
		delay = MIN(delay * 2, 5000);
	}
}

static void ensure_block(struct agent *a, uint64_t now)
{
	unsigned claimed = 0;
	int r = ipam_ensure_block(a->ds, a->cfg->node_name, AF_INET, &claimed);
	if (r >= 0) {
		a->block_ok = true;
		if (claimed) {
			log_info("claimed %u IPv4 block(s) for %s", claimed, a->cfg->node_name);
		}
		return;
	}
	if (r == -ENOENT) {
		log_info("no IPv4 pool yet; will claim a block when one exists");
	} else {
		log_warn_errno(r, "claiming an IPv4 block failed, will retry: %m");
	}
	a->next_block_ms = now + FELIX_BLOCK_RETRY_MS;
}

/* ---- watch ---- */

static int on_watch(void *userdata, const struct ds_watch_event *ev)
{
	struct agent *a = userdata;
	struct parse_err err = {0};
	char msg[768];
	int r;

	switch (ev->type) {
	case DS_WATCH_SNAPSHOT_BEGIN:
		calc_cache_mark_all(a->cache);
		break;
	case DS_WATCH_PUT:
		a->metrics.datastore_updates_total++;
		r = calc_cache_put(a->cache, ev->kv->key, ev->kv->value, ev->kv->value_len, &err);
		felix_policy_note_key(a->policy, ev->kv->key);
		if (r == -EINVAL) {
			log_warn("%s, ignoring", parse_err_format(&err, msg, sizeof(msg)));
		} else if (r < 0) {
			return log_error_errno(r, "cache update for %s failed: %m", ev->kv->key);
		} else if (r > 0 && !a->block_ok &&
			   strncmp(ev->kv->key, MODEL_KEY_PREFIX "ippools/",
				   strlen(MODEL_KEY_PREFIX "ippools/")) == 0) {
			a->next_block_ms = 0; /* a pool appeared: claim now */
		}
		break;
	case DS_WATCH_DELETE:
		a->metrics.datastore_updates_total++;
		calc_cache_delete(a->cache, ev->kv->key);
		felix_policy_note_key(a->policy, ev->kv->key);
		break;
	case DS_WATCH_SNAPSHOT_END: {
		size_t gone = calc_cache_sweep(a->cache);
		if (gone) {
			felix_policy_queue_resync(a->policy);
		}
		if (!a->in_sync) {
			log_info("in sync with the datastore at revision %lld (%zu resources)",
				 (long long)ev->revision, calc_cache_size(a->cache));
		} else {
			log_info("datastore resnapshot at revision %lld: %zu resources dropped",
				 (long long)ev->revision, gone);
		}
		a->in_sync = true;
		break;
	}
	case DS_WATCH_DISCONNECTED:
		log_debug("datastore watch disconnected, reconnecting");
		break;
	}
	return 0;
}

/* ---- apply ---- */

static void apply(struct agent *a, uint64_t now)
{
	struct calc_options o = {
	    .node_name = a->cfg->node_name,
	    .bird_fast_timers = a->cfg->bird_fast_timers,
	    .bird_log_file = a->cfg->bird_log_file,
	};
	struct calc_desired d;
	struct route_table_stats st = {0};
	int64_t next = DP_IDLE;
	int r;

	a->last_apply_ms = now;
	a->needs_apply = false;
	calc_cache_clear_dirty(a->cache);
	r = calc_compute(a->cache, &o, &d);
	if (r < 0) {
		log_error_errno(r, "calculation failed: %m");
		felix_health_note_routes(&a->health, &a->metrics, r, 0, NULL);
		a->pending = true;
		a->next_retry_ms = now + FELIX_RETRY_MS;
		return;
	}
	/* Apply order (STYLE.md 5.4): sets + ruleset transaction, routes, BIRD, stale sets. */
	r = felix_policy_apply(a->policy, a->cache, d.ifaces, d.n_ifaces, now);
	felix_health_note_policy(&a->health, &a->metrics, r, felix_policy_next_retry_ms(a->policy));
	r = dp_routes_set_desired(a->routes, &d);
	if (r >= 0) {
		next = dp_routes_ops.apply(a->routes, now, &a->routes_stats);
		st = *dp_routes_last_stats(a->routes);
		r = a->routes_stats.last_error < 0 ? a->routes_stats.last_error : next != DP_IDLE;
	}
	if (r < 0) {
		log_warn_errno(r, "programming routes failed, will retry: %m");
	} else if (st.routes_programmed || st.routes_removed || st.neighs_programmed ||
		   st.neighs_removed || st.ifaces_configured || st.errors) {
		log_info("programmed %u routes, removed %u (%u pending); neighbours +%u -%u; "
			 "configured %u interfaces%s",
			 st.routes_programmed, st.routes_removed, st.routes_pending,
			 st.neighs_programmed, st.neighs_removed, st.ifaces_configured,
			 st.errors ? "; some kernel operations failed" : "");
	} else if (st.routes_pending) {
		log_debug("%u routes pending", st.routes_pending);
	}
	a->pending = r != 0;
	felix_health_note_routes(&a->health, &a->metrics, r, d.n_routes, &st);

	if (d.has_bgp) {
		/* Errors are logged inside. When BIRD is not reachable the file is in place and
		 * configure is retried with the next apply (event or resync), not on a timer. */
		int b = felix_health_bird_apply(&a->health, &a->metrics, &a->bird, &d.bgp);
		log_debug("bird.conf apply: %d", b);
	} else {
		log_debug("no BGP model yet (our Node has no IPv4 address in the datastore)");
	}
	felix_policy_finish(a->policy);
	calc_desired_done(&d);
	if (a->pending) {
		a->next_retry_ms = now + (next >= 0 ? (uint64_t)next : FELIX_RETRY_MS);
	}
}

/* apply() with its duration and the endpoint gauges recorded (felix/metrics.h). */
static void apply_observed(struct agent *a, uint64_t now)
{
	uint64_t t0 = felix_health_now_us();
	apply(a, now);
	a->metrics.apply_total++;
	felix_metrics_observe_apply(&a->metrics, felix_health_now_us() - t0);
	felix_metrics_count_endpoints(&a->metrics, a->cache, a->cfg->node_name);
}

static int agent_loop(struct agent *a)
{
	uint64_t now = now_ms();
	schedule_resync(a, now);
	while (!a->stop) {
		now = now_ms();
		a->health.loop_ms = now;
		int64_t timeout = FELIX_WATCH_SLICE_MS;
		/* The watch does not poll the HTTP fd: bound its slice (felix/health.h). */
		int http_slice = felix_health_server_slice_ms(a->http);
		if (http_slice >= 0) {
			timeout = MIN(timeout, http_slice);
		}
		bool want = a->in_sync && (calc_cache_dirty(a->cache) || a->needs_apply);
		if (want) {
			int64_t due =
			    (int64_t)(a->last_apply_ms + FELIX_APPLY_INTERVAL_MS) - (int64_t)now;
			timeout = MIN(timeout, MAX(due, 0));
		}
		if (a->in_sync && a->pending) {
			timeout = MIN(timeout, MAX((int64_t)a->next_retry_ms - (int64_t)now, 0));
		}
		timeout = MIN(timeout, MAX((int64_t)a->next_resync_ms - (int64_t)now, 0));

		int r = ds_watch_run(a->watch, (int)timeout);
		if (r < 0) {
			return r;
		}
		poll_local(a, 0);
		if (a->stop) {
			break;
		}
		now = now_ms();
		if (!a->block_ok && now >= a->next_block_ms) {
			ensure_block(a, now);
		}
		if (!a->in_sync) {
			continue;
		}
		if (now >= a->next_resync_ms) {
			log_debug("periodic resync");
			dp_routes_ops.queue_resync(a->routes);
			felix_policy_queue_resync(a->policy);
			a->needs_apply = true;
			a->metrics.resync_total++;
			schedule_resync(a, now);
		}
		if (a->pending && now >= a->next_retry_ms) {
			a->needs_apply = true;
		}
		if ((calc_cache_dirty(a->cache) || a->needs_apply ||
		     felix_policy_wants_apply(a->policy, now)) &&
		    now >= a->last_apply_ms + FELIX_APPLY_INTERVAL_MS) {
			apply_observed(a, now);
		}
	}
	return 0;
}

int felix_agent_run(const struct felix_config *cfg)
{
	struct agent a = {.cfg = cfg, .sigfd = -1};
	struct ds_config dc = {0};
	int r;

	a.seed = (unsigned)getpid() ^ (unsigned)time(NULL);
	a.bird.conf_path = cfg->bird_config_file;
	a.bird.binary = cfg->bird_binary;
	a.bird.socket = cfg->bird_socket;

	r = signals_open();
	if (r < 0) {
		return log_error_errno(r, "signalfd: %m");
	}
	a.sigfd = r;

	ds_config_from_env(&dc);
	if (cfg->datastore_endpoints) {
		dc.endpoints = cfg->datastore_endpoints;
	}
	if (!dc.endpoints) {
		dc.endpoints = "http://127.0.0.1:2379";
	}
	if (cfg->datastore_ca_file) {
		dc.ca_file = cfg->datastore_ca_file;
	}
	if (cfg->datastore_cert_file) {
		dc.cert_file = cfg->datastore_cert_file;
	}
	if (cfg->datastore_key_file) {
		dc.key_file = cfg->datastore_key_file;
	}
	r = ds_client_new(&dc, &a.ds);
	if (r < 0) {
		log_error_errno(r, "bad datastore endpoints \"%s\": %m", dc.endpoints);
		goto out;
	}
	r = calc_cache_new(&a.cache);
	if (r >= 0) {
		r = dp_routes_netlink_new(cfg->route_protocol, &a.routes);
	}
	if (r >= 0) {
		struct felix_policy_options po = {
		    .node_name = cfg->node_name,
		    .dataplane = (enum model_dataplane)cfg->policy_dataplane,
		    .status_file = cfg->status_file,
		};
		r = felix_policy_new(&po, &a.policy);
	}
	if (r < 0) {
		log_error_errno(r, "cannot set up the dataplane: %m");
		goto out;
	}
	log_info("starting for node %s (route protocol %u, resync every %u s)", cfg->node_name,
		 cfg->route_protocol, cfg->resync_interval_s);
	/* Before the Node registration, which waits for the datastore: probes answer meanwhile. */
	felix_health_init(&a.health, cfg);
	r = felix_health_server_new(cfg, &a.health, &a.metrics, &a.http);
	if (r < 0) {
		log_error_errno(r, "cannot set up the health server: %m");
		goto out;
	}

	r = node_register(&a);
	if (r < 0 || a.stop) {
		goto out;
	}
	ensure_block(&a, now_ms());
	r = ds_watch_new(a.ds, MODEL_KEY_PREFIX, on_watch, &a, &a.watch);
	if (r < 0) {
		log_error_errno(r, "cannot create the datastore watch: %m");
		goto out;
	}
	a.health.watch = a.watch;
	r = agent_loop(&a);
out:
	felix_health_server_free(a.http);
	ds_watch_free(a.watch);
	dp_routes_ops.free(a.routes);
	calc_cache_free(a.cache);
	felix_policy_free(a.policy);
	felix_bird_done(&a.bird);
	ds_client_free(a.ds);
	if (a.sigfd >= 0) {
		close(a.sigfd);
	}
	return r < 0 ? r : 0;
}
