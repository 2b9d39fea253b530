/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * tabby-felix's Prometheus metrics, served on GET /metrics (felix/health.h) in the text
 * exposition format 0.0.4 when prometheusMetricsEnabled is true. The names below are an
 * interface: dashboards and alerts depend on them, so they are only ever added to, never renamed
 * or retyped.
 *
 *   felix_datastore_in_sync               gauge    1 when the watch has a complete snapshot and
 *                                                  its stream is connected, else 0
 *   felix_datastore_updates_total         counter  datastore watch events (puts and deletes)
 *   felix_resync_total                    counter  full kernel resyncs (periodic timer, SIGHUP)
 *   felix_apply_total                     counter  apply passes (calc + policy + routes + BIRD)
 *   felix_apply_errors_total              counter  apply passes whose calc or route programming
 *                                                  failed (retried)
 *   felix_apply_duration_seconds          histogram  wall time of one apply pass
 *   felix_routes_programmed               gauge    routes of ours desired and in the kernel
 *                                                  after the last apply (workload /32s and block
 *                                                  blackholes)
 *   felix_routes_pending                  gauge    desired routes not in place after the last
 *                                                  apply (interface missing, kernel error)
 *   felix_local_endpoints                 gauge    WorkloadEndpoints on this node
 *   felix_remote_endpoints                gauge    WorkloadEndpoints on other nodes
 *   felix_policy_errors_total             counter  policy applies that left the last good rules
 *                                                  in place (felix/dataplane/policy/policy.h)
 *   felix_bird_reconfigure_total          counter  successful `configure` commands to BIRD
 *   felix_bird_config_rejected_total      counter  rendered configs refused by `bird -p` or by
 *                                                  BIRD's `configure` (each distinct text once)
 *   felix_nat_errors_total                counter  natOutgoing applies that failed (retried)
 *   felix_vxlan_errors_total              counter  VXLAN device/route/FDB applies that failed
 *                                                  (retried)
 *   process_cpu_seconds_total             counter  user + system CPU time (/proc/self/stat)
 *   process_resident_memory_bytes         gauge    resident set size
 *   process_virtual_memory_bytes          gauge    virtual memory size
 *   process_open_fds                      gauge    entries in /proc/self/fd
 *   process_max_fds                       gauge    RLIMIT_NOFILE soft limit
 *   process_start_time_seconds            gauge    start time since the Unix epoch
 *
 * The process_* names and meanings are those of the Prometheus client libraries' process
 * collector, so the usual dashboards work unchanged. Counters start at 0 with the process.
 */

#include <stdbool.h>
#include <stdint.h>

#include "lib/macro.h"
#include "lib/strbuf.h"

/* Upper bounds (seconds) of felix_apply_duration_seconds' buckets, +Inf implied. */
#define FELIX_APPLY_BUCKETS 12

struct calc_cache;

/*
 * The agent's counters and gauges: a plain struct the agent updates in place (no I/O, no
 * allocation) and the HTTP server reads at scrape time.
 */
struct felix_metrics {
	uint64_t datastore_updates_total;
	uint64_t resync_total;
	uint64_t apply_total;
	uint64_t apply_errors_total;
	uint64_t apply_bucket[FELIX_APPLY_BUCKETS]; /* not cumulative; rendered cumulatively */
	uint64_t apply_count;
	double apply_sum_s;
	uint64_t routes_programmed;
	uint64_t routes_pending;
	uint64_t local_endpoints;
	uint64_t remote_endpoints;
	uint64_t policy_errors_total;
	uint64_t bird_reconfigure_total;
	uint64_t bird_config_rejected_total;
	uint64_t nat_errors_total;
	uint64_t vxlan_errors_total;
};

/** felix_metrics_observe_apply() - add one apply pass of @duration_us microseconds. */
void felix_metrics_observe_apply(struct felix_metrics *m, uint64_t duration_us);

/**
 * felix_metrics_count_endpoints() - set felix_local_endpoints / felix_remote_endpoints from the
 * WorkloadEndpoints in @c (spec.node == @node_name or not). Memory only; O(endpoints).
 */
void felix_metrics_count_endpoints(struct felix_metrics *m, const struct calc_cache *c,
				   const char *node_name);

/**
 * felix_metrics_render() - append every metric above to @out in the Prometheus text format
 * 0.0.4 (# HELP / # TYPE lines, then "name{labels} value" samples). The process_* values are
 * read from /proc/self now; one that cannot be read is left out (logged at debug).
 * @in_sync: the value of felix_datastore_in_sync.
 * Return: 0 or -ENOMEM.
 */
int felix_metrics_render(const struct felix_metrics *m, bool in_sync,
			 struct strbuf *out) _warn_unused_result_;
