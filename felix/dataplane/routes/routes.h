/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * The host dataplane driver for workload routes, permanent neighbours and interface sysctls.
 *
 * The reconcile engine (felix/dataplane/routes/sync.c, pure: it only calls through the ops seam) holds
 * the desired state and, on every apply, reads the kernel's actual state through the ops, then
 * marks and sweeps in the manner of BIRD's krt.c (init_scan -> got_route -> prune):
 *   - a desired route missing or different in the kernel is written with NLM_F_REPLACE;
 *   - a route stamped with our protocol that nobody desires is deleted;
 *   - routes of any other protocol (kernel, boot, static, bird, ...) are never touched, not even
 *     when they sit on a destination we want (that destination then stays pending);
 *   - permanent neighbour entries are managed only on interfaces named "tby*";
 *   - a desired item whose interface does not exist yet stays pending without blocking others.
 * The netlink backend (felix/dataplane/routes/netlink.c) implements the ops with libnl-route-3.
 */

#include <net/if.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "felix/calc/calc.h"
#include "lib/cidr.h"
#include "lib/macro.h"

#define ROUTE_TABLE_MAIN 254 /* RT_TABLE_MAIN */
#define ROUTE_TABLE_IFPREFIX "tby"
/* A route or neighbour of ours that this process never desired is left alone for this long after
 * it was first seen: the CNI plugin installs a new workload's route (with our protocol) just
 * before it writes the WorkloadEndpoint, and we must not delete it in that window. */
#define ROUTE_TABLE_STALE_GRACE_MS 2000
#define ROUTE_TABLE_DUMP_RETRIES 5

/* A route as the kernel holds it (actual) or as we want it (desired). */
struct route_table_route {
	struct ip_prefix dst;
	uint8_t type;	  /* RTN_UNICAST or RTN_BLACKHOLE (or anything else, for actual routes) */
	uint8_t scope;	  /* RT_SCOPE_LINK for workload routes, RT_SCOPE_UNIVERSE for blackholes */
	uint8_t protocol; /* rtm_protocol */
	uint32_t table;
	uint32_t priority; /* metric; ours are 0 */
	int ifindex;	   /* output interface of the single next hop; 0 = none */
	bool multipath;	   /* actual: more than one next hop, or a gateway: never equal to ours */
	char ifname[IFNAMSIZ];
};

struct route_table_neigh {
	struct ip_addr addr;
	uint8_t mac[6];
	int ifindex;
	char ifname[IFNAMSIZ]; /* actual: "" when the backend could not name the interface */
	bool permanent;	       /* actual: NUD_PERMANENT */
};

typedef int (*route_table_route_cb)(void *userdata, const struct route_table_route *r);
typedef int (*route_table_neigh_cb)(void *userdata, const struct route_table_neigh *n);

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
	/* ifindex of @ifname (> 0), or -ENODEV. */
	int (*link_index)(void *h, const char *ifname);
	/* Write @value to /proc/sys/@path. -ENOENT when the interface vanished. */
	int (*write_sysctl)(void *h, const char *path, const char *value);
};

struct route_table_stats {
	unsigned routes_programmed; /* added or replaced */
	unsigned routes_removed;
	unsigned routes_pending; /* desired but not in place (interface missing, error, conflict) */
	unsigned neighs_programmed;
	unsigned neighs_removed;
	unsigned ifaces_configured; /* sysctls written this apply */
	unsigned errors;	    /* failed kernel operations (each item stays pending) */
};

struct route_table;

/**
 * route_table_new() - a driver over @ops/@h (both borrowed, must outlive it) that stamps and
 * owns routes of @protocol in the main table. Desired state starts empty and nothing is
 * applied until route_table_apply().
 * Return: 0, -EINVAL (@protocol < 5: the kernel's own values) or -ENOMEM.
 */
int route_table_new(const struct route_table_ops *ops, void *h, uint8_t protocol,
		    struct route_table **ret) _warn_unused_result_;

/** route_table_free() - NULL-safe. Writes nothing to the kernel. Return: NULL. */
struct route_table *route_table_free(struct route_table *rt);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct route_table *, route_table_free);

/**
 * route_table_set_desired() - replace the desired state with @d's routes, neighbours and
 * interfaces (copied; @d is borrowed). Memory only.
 * Return: 0 or -ENOMEM (then the old desired state is kept).
 */
int route_table_set_desired(struct route_table *rt,
			    const struct calc_desired *d) _warn_unused_result_;

/**
 * route_table_apply() - read the kernel's routes and neighbours through the ops, then delete
 * our stale ones and add/replace what is missing or different; write the workload sysctls
 * (proxy_arp=1, forwarding=1, route_localnet=1, rp_filter=1, neigh proxy_delay=0: DESIGN.md
 * "Host dataplane") once per interface instance (ifindex), again after route_table_queue_resync().
 * @now_ms: a monotonic clock in ms (the stale grace period is measured with it).
 * @ret_stats: may be NULL; what this apply did.
 * Return: 0 when everything desired is in place, 1 when something stays pending (retry later),
 * or a negative errno when the kernel state could not be read (no route or neighbour was
 * written then).
 */
int route_table_apply(struct route_table *rt, uint64_t now_ms,
		      struct route_table_stats *ret_stats) _warn_unused_result_;

/** route_table_queue_resync() - rewrite every interface's sysctls on the next apply. */
void route_table_queue_resync(struct route_table *rt);

/** route_table_netlink_ops - the libnl-route-3 backend (felix/dataplane/routes/netlink.c). */
extern const struct route_table_ops route_table_netlink_ops;

struct route_table_nl;
/**
 * route_table_nl_new() - open the netlink socket of the real backend (in the caller's network
 * namespace). Return: 0, -ENOMEM, or -errno from the socket.
 */
int route_table_nl_new(struct route_table_nl **ret) _warn_unused_result_;
/** route_table_nl_free() - close; NULL-safe. Return: NULL. */
struct route_table_nl *route_table_nl_free(struct route_table_nl *nl);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct route_table_nl *, route_table_nl_free);
