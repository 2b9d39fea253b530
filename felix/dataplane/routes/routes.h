/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * The host dataplane driver for workload routes, permanent neighbours and interface sysctls
 * (felix/dataplane/driver.h: dp_routes_new(), dp_routes_set_desired(), dp_routes_ops).
 *
 * The reconcile engine (felix/dataplane/routes/sync.c, pure: it only calls through the ops seam)
 * keeps the kernel's "actual" routes (main table, both families, any protocol), permanent
 * neighbours on "tby*" interfaces and links in memory, indexed by destination, key and ifindex.
 * It reads them once with a full dump (and again after a queued resync or a monitor overrun),
 * and otherwise from netlink events (ops->read_events) and from its own successful writes.
 * An apply diffs desired against actual in memory for the items marked dirty (by a desired
 * change, an event, a pending retry or a resync) and writes only the difference; after a dump
 * it marks and sweeps everything in the manner of BIRD's krt.c (init_scan -> got_route ->
 * prune):
 *   - a desired route missing or different in the kernel is written with NLM_F_REPLACE;
 *   - a route stamped with our protocol that nobody desires is deleted;
 *   - routes of any other protocol (kernel, boot, static, bird, ...) are never touched, not even
 *     when they sit on a destination we want (that destination then stays pending);
 *   - permanent neighbour entries are managed only on interfaces named "tby*" and on the
 *     VXLAN device CALC_VXLAN_IFNAME (felix creates it; its neighbours are all ours);
 *   - a route with a gateway ("<block> via <tunnel addr> dev vxlan.tabby onlink", scope
 *     universe) is equal only to a kernel route with the same gateway, interface and onlink;
 *   - a desired item whose interface does not exist yet stays pending without blocking others.
 * The netlink backend (felix/dataplane/routes/netlink.c) implements the ops with libnl-route-3.
 */

#include <net/if.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "felix/calc/calc.h"
#include "felix/dataplane/driver.h"
#include "lib/cidr.h"
#include "lib/macro.h"

#define ROUTE_TABLE_MAIN 254 /* RT_TABLE_MAIN */
#define ROUTE_TABLE_IFPREFIX "tby"
/* A route or neighbour of ours that this process never desired is left alone for this long after
 * it was first seen: the CNI plugin installs a new workload's route (with our protocol) just
 * before it writes the WorkloadEndpoint, and we must not delete it in that window. */
#define ROUTE_TABLE_STALE_GRACE_MS 2000
#define ROUTE_TABLE_DUMP_RETRIES 5
/* apply() asks to be called again this soon while an item is pending or failed. */
#define ROUTE_TABLE_RETRY_MS 1000
/* The metric of our IPv6 routes: the kernel's default for IPv6 (IP6_RT_PRIO_USER), which it
 * substitutes for 0; IPv4 routes have metric 0. */
#define ROUTE_TABLE_IPV6_METRIC 1024

/* A route as the kernel holds it (actual) or as we want it (desired). */
struct route_table_route {
	struct ip_prefix dst;
	uint8_t type;  /* RTN_UNICAST or RTN_BLACKHOLE (or anything else, for actual routes) */
	uint8_t scope; /* RT_SCOPE_LINK for IPv4 workload routes, RT_SCOPE_UNIVERSE for blackholes,
			     gateway routes and every IPv6 route (IPv6 has no scopes) */
	uint8_t protocol; /* rtm_protocol */
	uint32_t table;
	uint32_t priority; /* metric; ours are 0 (IPv4) or ROUTE_TABLE_IPV6_METRIC (IPv6) */
	int ifindex;	   /* output interface of the single next hop; 0 = none */
	struct ip_addr
	    gateway;	       /* of the single next hop; family 0 = none (VXLAN routes have one) */
	bool onlink;	       /* the single next hop has RTNH_F_ONLINK */
	bool multipath;	       /* actual: more than one next hop: never equal to ours */
	char ifname[IFNAMSIZ]; /* desired only (logs); "" in dumps and events */
};

struct route_table_neigh {
	struct ip_addr addr;
	uint8_t mac[6];
	int ifindex;
	char ifname[IFNAMSIZ]; /* desired: the interface; dumps and events leave it "" */
	bool permanent;	       /* actual: NUD_PERMANENT */
};

/* An interface (RTM_NEWLINK of family AF_UNSPEC). */
struct route_table_link {
	int ifindex;
	char ifname[IFNAMSIZ];
	bool up; /* IFF_UP */
};

typedef int (*route_table_route_cb)(void *userdata, const struct route_table_route *r);
typedef int (*route_table_neigh_cb)(void *userdata, const struct route_table_neigh *n);
typedef int (*route_table_link_cb)(void *userdata, const struct route_table_link *l);

/* What ops->read_events() hands to the engine, one call per netlink message. @del: an
 * RTM_DEL* message. Unfiltered: other tables, families and non-permanent entries included. */
struct route_table_events {
	int (*route)(void *userdata, bool del, const struct route_table_route *r);
	int (*neigh)(void *userdata, bool del, const struct route_table_neigh *n);
	int (*link)(void *userdata, bool del, const struct route_table_link *l);
};

/* The kernel seam (STYLE.md section 2): a real (netlink) and a fake (tests) implementation. */
struct route_table_ops {
	/* Every route of @family in @table, any protocol. A dump interrupted by a concurrent
	 * change must be retried by the backend (bounded) or fail with -EINTR / -EAGAIN. */
	int (*dump_routes)(void *h, int family, uint32_t table, route_table_route_cb cb,
			   void *userdata);
	/* Create or replace (NLM_F_CREATE | NLM_F_REPLACE) the route with @r's dst, table and
	 * priority. */
	int (*replace_route)(void *h, const struct route_table_route *r);
	/* Delete exactly @r (dst, table, priority, protocol, type). -ESRCH when gone. */
	int (*delete_route)(void *h, const struct route_table_route *r);
	/* Every neighbour entry of @family. */
	int (*dump_neighs)(void *h, int family, route_table_neigh_cb cb, void *userdata);
	/* Create or replace a permanent entry. */
	int (*replace_neigh)(void *h, const struct route_table_neigh *n);
	int (*delete_neigh)(void *h, const struct route_table_neigh *n);
	/* Every interface (same retry rule as the dumps above). */
	int (*dump_links)(void *h, route_table_link_cb cb, void *userdata);
	/* Write @value to /proc/sys/@path. -ENOENT when the interface vanished. */
	int (*write_sysctl)(void *h, const char *path, const char *value);
	/* The monitor socket (subscribed to link, neighbour and IPv4/IPv6 route events since the
	 * backend was created, so that nothing between a dump and the first read is lost), or -1.
	 * Optional (NULL: no events; only resyncs refresh the actual state). */
	int (*monitor_fd)(void *h);
	/* Consume every event queued on the monitor socket without blocking, calling @ev for each.
	 * Return: 0, -ENOBUFS when the kernel dropped events (the caller must re-dump), or another
	 * negative errno. Optional. */
	int (*read_events)(void *h, const struct route_table_events *ev, void *userdata);
	/* A monotonic clock in microseconds (for dp_stats.last_duration_us). Optional. */
	uint64_t (*now_us)(void *h);
	/* Release @h when the driver owns it (dp_routes_netlink_new()). Optional. */
	void (*free)(void *h);
};

/* What the last apply did (also summed into struct dp_stats). */
struct route_table_stats {
	unsigned routes_programmed; /* added or replaced */
	unsigned routes_removed;
	unsigned routes_pending; /* desired but not in place (interface missing, error, conflict) */
	unsigned neighs_programmed;
	unsigned neighs_removed;
	unsigned ifaces_configured; /* sysctls written this apply */
	unsigned errors;	    /* failed kernel operations (each item stays pending) */
	bool dumped;		    /* this apply read the kernel with full dumps */
};

struct dp_routes;

/**
 * dp_routes_new() - a driver over @ops/@h (borrowed unless @ops->free is set, then owned and
 * released by dp_routes_ops.free) that stamps and owns routes of @protocol in the main table.
 * No kernel I/O: desired state starts empty, the first apply dumps the kernel.
 * Return: 0, -EINVAL (@protocol < 5: the kernel's own values) or -ENOMEM.
 */
int dp_routes_new(const struct route_table_ops *ops, void *h, uint8_t protocol,
		  struct dp_routes **ret) _warn_unused_result_;

/**
 * dp_routes_set_desired() - replace the desired state with @d's routes (sorted by dst, one per
 * dst), neighbours (sorted by ifname, addr) and interfaces (sorted, unique), copied; @d is
 * borrowed. Memory only: sort-merges the old desired state against @d and marks the
 * destinations, neighbours and interfaces that differ for the next apply.
 * Return: 0 or -ENOMEM (then the old desired state is kept). When only the marking runs out
 * of memory, 0 is returned and the next apply examines every item instead.
 */
int dp_routes_set_desired(struct dp_routes *d,
			  const struct calc_desired *desired) _warn_unused_result_;

/**
 * dp_routes_last_stats() - what the last apply did (zeroes before the first).
 */
const struct route_table_stats *dp_routes_last_stats(const struct dp_routes *d);

/*
 * dp_routes_ops - the driver contract (felix/dataplane/driver.h) over struct dp_routes:
 *   apply: when a dump is due (first apply, queue_resync, monitor overrun) read links, routes
 *     and neighbours (bounded retries on NLM_F_DUMP_INTR in the backend) and mark every desired
 *     and every owned item; then for each marked item only: write the workload sysctls
 *     (proxy_arp=1, forwarding=1, route_localnet=1, rp_filter=1, neigh proxy_delay=0:
 *     DESIGN.md "Host dataplane"; IPv6 accept_ra=0, forwarding=1, proxy_ndp=1 as Calico,
 *     skipped when the host has no IPv6 on the interface) once per interface instance (ifindex), delete our stale
 *     routes and neighbours, then add/replace what is missing or different. Returns
 *     ROUTE_TABLE_RETRY_MS while an item is pending or failed, the time left of a stale item's
 *     grace period, or DP_IDLE. A failed dump writes nothing and returns ROUTE_TABLE_RETRY_MS
 *     (st->last_error = the dump's errno).
 *   queue_resync: the next apply re-dumps, marks and sweeps, and rewrites every sysctl.
 *   fd: the backend's monitor socket (-1 without one).
 *   dispatch: read the queued events into the actual state; true when an apply is needed
 *     (an item of ours changed under us, a foreign route left a destination we want, an
 *     interface a pending item waits for appeared, or events were lost: ENOBUFS queues a dump).
 *   free: NULL-safe; writes nothing to the kernel (restart must not drop a packet).
 */
extern const struct dp_driver_ops dp_routes_ops;

/** route_table_netlink_ops - the libnl-route-3 backend (felix/dataplane/routes/netlink.c). */
extern const struct route_table_ops route_table_netlink_ops;

struct route_table_nl;
/**
 * route_table_nl_new() - open the request socket and the monitor socket (link, neighbour and
 * IPv4/IPv6 route groups, non-blocking) of the real backend, in the caller's network namespace.
 * Return: 0, -ENOMEM, or -errno from the socket.
 */
int route_table_nl_new(struct route_table_nl **ret) _warn_unused_result_;
/** route_table_nl_free() - close; NULL-safe. Return: NULL. */
struct route_table_nl *route_table_nl_free(struct route_table_nl *nl);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct route_table_nl *, route_table_nl_free);

/**
 * dp_routes_netlink_new() - dp_routes_new() over a new netlink backend that the driver owns
 * (closed by dp_routes_ops.free). Return: 0, -EINVAL, -ENOMEM or -errno from the sockets.
 */
int dp_routes_netlink_new(uint8_t protocol, struct dp_routes **ret) _warn_unused_result_;

/**
 * route_table_nl_errno() - libnl's NLE_* code @nle (negative or positive; 0 = success) as a
 * negative errno, for every netlink driver (routes, VXLAN). The mapping follows the kernel's own
 * errno where libnl folded it: NLE_OBJ_NOTFOUND is what libnl makes of ESRCH (route delete) and
 * ENOENT (neighbour, FDB delete), returned as -ESRCH, so callers that treat "already gone" as
 * success accept both -ESRCH and -ENOENT. NLE_NOATTR/NLE_MISSING_ATTR give -ENODATA; any code
 * without an errno counterpart gives -EIO.
 * Return: 0 or a negative errno.
 */
int route_table_nl_errno(int nle);
