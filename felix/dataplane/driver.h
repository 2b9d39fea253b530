/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * The one contract every felix dataplane driver implements (DESIGN.md "Inside tabby-felix"):
 * routes/ (routes, neighbours, sysctls over netlink), policy/ (nftables or iptables) and bird/
 * (bird.conf + BIRD's control socket). The agent owns one poll() loop; each driver is a
 * struct dp_driver: a typed X_set_desired() (memory only, cheap, called after every calc pass)
 * plus these operations, in the manner of BIRD's struct protocol vtable.
 *
 * Lifecycle, for every driver:
 *   X_new(...)                        no kernel I/O
 *   X_set_desired(d, desired)         memory only; marks what differs from the last apply
 *   ops->apply(d, now_ms, &stats)     send the difference to the kernel/BIRD
 *   ops->queue_resync(d)              the next apply re-reads the real state first
 *   ops->fd(d) / ops->dispatch(d)     optional: a socket the driver wants polled (netlink monitor)
 *   ops->free(d)                      leaves the kernel as it is (restart must not drop a packet)
 *
 * Stats are written by the driver on every apply and read by health (/readiness) and metrics.
 */

#include <stdbool.h>
#include <stdint.h>

/* ops->apply() result: nothing pending, call again only when the desired state changes, the
 * driver's fd is readable, or a resync is queued. */
#define DP_IDLE INT64_C(-1)

/* What a driver reports after each apply; cumulative counters are never reset. */
struct dp_stats {
	uint64_t applies;	   /* apply calls that did work (cumulative) */
	uint64_t objects_changed;  /* kernel objects (routes, rules, set elements, files) written
				    * or deleted (cumulative) */
	uint64_t errors;	   /* applies that failed (cumulative) */
	uint64_t last_duration_us; /* wall time of the last apply that did work, microseconds */
	uint64_t last_ok_ms;	   /* monotonic ms of the last successful apply; 0 = never */
	unsigned pending;	   /* desired items not in place after the last apply */
	int last_error;		   /* negative errno of the last apply, 0 when it succeeded */
	bool in_sync;		   /* the last apply succeeded and nothing is pending */
	char error[256];	   /* why the last apply failed or what is pending ("" when none) */
};

struct dp_driver_ops {
	const char *name; /* "routes", "policy", "bird": metrics label and log prefix */
	/*
	 * Bring the kernel in line with the desired state. Work is in proportion to what changed
	 * since the last apply (and to everything after a queued resync). Fills @st.
	 * Return: milliseconds until the driver wants apply() called again (a retry of a failed
	 * or pending item), or DP_IDLE.
	 */
	int64_t (*apply)(void *d, uint64_t now_ms, struct dp_stats *st);
	/* The next apply re-reads the real state (kernel dump, file, BIRD) and marks and sweeps. */
	void (*queue_resync)(void *d);
	/* A socket the driver wants in the agent's poll() set (POLLIN), or -1. Optional (NULL). */
	int (*fd)(void *d);
	/* @fd is readable: consume events and update the driver's view of the kernel. Returns
	 * true when an apply is needed (something we own changed under us). Optional (NULL). */
	bool (*dispatch)(void *d, uint64_t now_ms);
	/* Free; NULL-safe; leaves the kernel as it is. */
	void (*free)(void *d);
};

/* One driver instance as the agent holds it. */
struct dp_driver {
	const struct dp_driver_ops *ops;
	void *d;
	struct dp_stats stats;
	uint64_t next_apply_ms; /* 0 = not scheduled; else monotonic ms of the wanted apply */
	bool dirty;		/* set_desired() changed something since the last apply */
};
