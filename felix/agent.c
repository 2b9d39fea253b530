/* SPDX-License-Identifier: Apache-2.0 */
/*
 * DOC: tabby-felix's main loop (STYLE.md section 5, DESIGN.md "Inside tabby-felix").
 *
 * Start-up: register this host's Node (read-modify-write, retried until the datastore answers)
 * with its ipv4Address and, unless ipv6Address is "none", its IPv6 address (static, or the first
 * global IPv6 address of the interface that carries ipv4Address), claim a block of each IPv4
 * pool and of each IPv6 pool (ipam_ensure_block per family), then start one watch on /tabby/v1/.
 * Watch events only decode and update the calc cache. Nothing is written to the kernel before the
 * watch delivered its first complete snapshot (SNAPSHOT_END): until then we do not know which of
 * our routes are still wanted, and sweeping early would delete live workloads' routes.
 *
 * One poll() holds every fd: the signalfd, the etcd watch's sockets (curl's multi socket API),
 * each driver's own socket (the routes driver's netlink monitor) and the health/metrics server.
 * Its timeout is the nearest of: the watch's curl timer, a driver's retry, the apply throttle,
 * the periodic resync and the block-claim retry. Nothing blocks in a slice.
 *
 * After events, when the cache is dirty: calc (pure) -> each driver's set_desired() (memory) ->
 * apply() in the order of STYLE.md 5.4: policy (sets, ruleset, stale sets in one transaction),
 * natOutgoing (on the backend the policy chose), routes, BIRD. Applies are throttled to one per
 * FELIX_APPLY_INTERVAL_MS under an event storm, after a burst of FELIX_APPLY_BURST (a generic
 * cell rate algorithm): the few applies one CNI ADD causes (its block, then its endpoint) run
 * at once, a storm of changes is batched. A driver whose apply left
 * something pending names the time it wants to run again; a driver whose socket reports that
 * something we own changed under us is applied again. The periodic resync (resyncIntervalSecs
 * +- 10 %) queues a resync on every driver. Signals: SIGTERM/SIGINT stop the loop and leave every
 * route in place (restart must not drop a packet), SIGHUP forces a resync.
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

#include <netlink/netlink.h>
#include <netlink/route/addr.h>

#include "datastore/datastore.h"
#include "felix/agent.h"
#include "felix/dataplane/bird/bird.h"
#include "felix/dataplane/driver.h"
#include "felix/calc/calc.h"
#include "felix/decode-ahead.h"
#include "felix/warm.h"
#include "felix/health.h"
#include "felix/ipam-gc.h"
#include "felix/metrics.h"
#include "felix/dataplane/nat/nat.h"
#include "felix/dataplane/policy/policy.h"
#include "felix/dataplane/routes/routes.h"
#include "felix/dataplane/vxlan/vxlan.h"
#include "ipam/ipam.h"
#include "lib/clock.h"
#include "lib/log.h"
#include "model/model.h"

#define FELIX_APPLY_INTERVAL_MS 50
#define FELIX_APPLY_BURST 4
#define FELIX_BLOCK_RETRY_MS 5000
/* Retry of a failed tunnel address assignment/release, and the wait for our own Node write to
 * come back through the watch before the same step is tried again. */
#define FELIX_VXLAN_RETRY_MS 3000
#define FELIX_MAX_WATCH_FDS 16
/* The IPAM leak GC's first campaign waits this long after start (ms): the cold start's snapshot
 * and first programming go first, and a felix in a crash loop never takes the leader lease. */
#define FELIX_GC_START_DELAY_MS 60000

/* The drivers, in apply order (STYLE.md 5.4). */
enum {
	DRV_POLICY,
	DRV_NAT,   /* after policy: it follows the backend the policy apply chose */
	DRV_VXLAN, /* the device before the routes through it */
	DRV_ROUTES,
	DRV_BIRD,
	_DRV_MAX,
};

struct agent {
	const struct felix_config *cfg;
	struct ds_client *ds;
	struct ds_watch *watch;
	struct decode_ahead *ahead; /* NULL: each PUT is decoded as it is delivered */
	struct calc_cache *cache;
	/* The datastore revision of the cache file loaded at start (felix/warm.c); 0 once the
	 * first snapshot is over, or when none was loaded. A snapshot at an older revision (etcd
	 * restored from a backup) trusts nothing of the file. */
	int64_t warm_rev;
	/* The cache file's load, running while felix sets up and etcd lists the keys; the cache
	 * is swapped in by warm_finish() before the first watch callback reads it. */
	struct felix_warm_load *warm_load;
	size_t n_kept; /* entries the current snapshot confirmed without reading (DS_WATCH_KEEP) */
	struct dp_driver drv[_DRV_MAX];
	struct felix_health health; /* felix/health.h: read by the HTTP server */
	struct felix_metrics metrics;
	struct felix_health_server *http;
	struct felix_ipam_gc *gc; /* IPAM leak GC, NULL when ipamGCIntervalSecs is 0 */
	uint64_t next_gc_ms;
	size_t n_routes; /* desired routes of the last calc, for the metrics */
	int sigfd;
	bool stop;
	bool in_sync;
	bool block_ok;	       /* ipam_ensure_block(AF_INET) succeeded */
	bool block6_ok;	       /* ipam_ensure_block(AF_INET6) succeeded */
	struct ip_prefix ipv6; /* the address on our Node's bgp.ipv6Address; family 0 = none */
	bool recalc; /* a driver's resync was queued: run set_desired even on a clean cache */
	/* VXLAN tunnel address work found by the last calc (done in the loop, not in calc) */
	bool vx_assign;	   /* assign one from vx_pool and record it on our Node */
	bool vx_reassign;  /* our Node's address is outside every VXLAN pool: release first */
	bool vx_release;   /* VXLAN is off: clear it from our Node and release it */
	char *vx_pool;	   /* the pool to assign from */
	uint8_t vx_mac[6]; /* our VTEP MAC (the Node's, else derived from the node name) */
	uint64_t next_vx_ms;
	uint64_t apply_tat_ms; /* the apply throttle's theoretical arrival time (apply_next_ms()) */
	uint64_t next_resync_ms;
	uint64_t next_block_ms;
	uint64_t next_block6_ms; /* UINT64_MAX: no IPv6 pool, wait for one to appear */
	unsigned seed;
};

static void schedule_resync(struct agent *a, uint64_t now)
{
	uint64_t base = (uint64_t)a->cfg->resync_interval_s * 1000;
	/* +-10 % jitter so that hosts restarted together do not resync in lockstep. */
	uint64_t span = base / 5;
	uint64_t jitter = span ? (uint64_t)rand_r(&a->seed) % (span + 1) : 0;
	a->next_resync_ms = now + base - base / 10 + jitter;
}

static void driver_queue_resync(struct agent *a, struct dp_driver *dv)
{
	if (dv->ops) {
		dv->ops->queue_resync(dv->d);
		dv->dirty = true;
		a->recalc = true;
	}
}

/* ---- signals ---- */

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
			log_info("SIGHUP: resync, policy recalculated in full");
			a->next_resync_ms = 0;
			felix_policy_recalc(a->drv[DRV_POLICY].d);
		} else {
			log_info("received %s, exiting and leaving routes in place",
				 si.ssi_signo == SIGTERM ? "SIGTERM" : "SIGINT");
			a->stop = true;
		}
	}
}

/* poll() only the signalfd and the health server for up to @timeout_ms (start-up backoff). */
static void poll_local(struct agent *a, int timeout_ms)
{
	struct pollfd p[2] = {{.fd = a->sigfd, .events = POLLIN},
			      {.fd = felix_health_server_fd(a->http), .events = POLLIN}};
	int r = poll(p, ELEMENTSOF(p), timeout_ms); /* negative fds are skipped */
	if (r > 0 && p[0].revents) {
		signals_read(a);
	}
	felix_health_server_run(a->http, clock_mono_ms());
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
	want.has_ipv6 = a->ipv6.addr.family == AF_INET6;
	want.ipv6_address = want.has_ipv6 ? a->ipv6 : (struct ip_prefix){0};
	bool same6 = node->node.has_ipv6 == want.has_ipv6 &&
		     (!want.has_ipv6 || memcmp(&node->node.ipv6_address, &want.ipv6_address,
					       sizeof(want.ipv6_address)) == 0);
	if (exists && node->node.has_ipv4 &&
	    memcmp(&node->node.ipv4_address, &want.ipv4_address, sizeof(want.ipv4_address)) == 0 &&
	    node->node.as_number == want.as_number && same6) {
		log_info("Node %s already registered", cfg->node_name);
		return 0;
	}
	node->node.has_ipv4 = true;
	node->node.ipv4_address = cfg->ipv4_address;
	node->node.as_number = want.as_number;
	/* ipv6Address "none" removes an address an earlier run (or an admin) recorded. */
	node->node.has_ipv6 = want.has_ipv6;
	node->node.ipv6_address = want.ipv6_address;
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
		char buf[IP_PREFIX_STRLEN], buf6[IP_PREFIX_STRLEN] = "none";
		if (want.has_ipv6) {
			ip_prefix_format(&want.ipv6_address, buf6);
		}
		log_info("registered Node %s with address %s, IPv6 address %s", cfg->node_name,
			 ip_prefix_format(&cfg->ipv4_address, buf), buf6);
	}
	return r;
}

/*
 * ipv6Address "autodetect" (Calico's IP6 autodetection, method first-found restricted to one
 * interface): the first usable (felix_ipv6_address_usable()), global-scope IPv6 address, in
 * the kernel's dump order, on the interface that holds @v4. Addresses that are tentative (DAD
 * running), failed DAD or deprecated are passed over: BGP cannot bind them.
 * Return: 1 found (@ret set), 0 none, or -errno from netlink.
 */
static int ipv6_autodetect(const struct ip_addr *v4, struct ip_prefix *ret)
{
	struct nl_sock *sk = nl_socket_alloc();
	struct nl_cache *cache = NULL;
	int ifindex = 0, found = 0, r;

	if (!sk) {
		return -ENOMEM;
	}
	r = nl_connect(sk, NETLINK_ROUTE);
	if (r >= 0) {
		r = rtnl_addr_alloc_cache(sk, &cache);
	}
	if (r < 0) {
		nl_socket_free(sk);
		return r == -NLE_NOMEM ? -ENOMEM : -EIO;
	}
	for (int pass = 0; pass < 2 && !found; pass++) {
		for (struct nl_object *o = nl_cache_get_first(cache); o; o = nl_cache_get_next(o)) {
			struct rtnl_addr *ad = (struct rtnl_addr *)o;
			struct nl_addr *local = rtnl_addr_get_local(ad);
			int fam = rtnl_addr_get_family(ad);
			struct ip_addr x = {.family = (uint8_t)fam};
			if (!local || (fam != AF_INET && fam != AF_INET6) ||
			    nl_addr_get_len(local) != ip_addr_bits(fam) / 8) {
				continue;
			}
			memcpy(x.bytes, nl_addr_get_binary_addr(local), ip_addr_bits(fam) / 8);
			if (pass == 0) {
				/* Pass 0: the interface that holds ipv4Address. */
				if (fam == AF_INET && ip_addr_equal(&x, v4)) {
					ifindex = rtnl_addr_get_ifindex(ad);
					break;
				}
				continue;
			}
			unsigned flags = (unsigned)rtnl_addr_get_flags(ad);
			if (fam != AF_INET6 || rtnl_addr_get_ifindex(ad) != ifindex ||
			    rtnl_addr_get_scope(ad) != RT_SCOPE_UNIVERSE ||
			    (flags & (IFA_F_TENTATIVE | IFA_F_DADFAILED | IFA_F_DEPRECATED)) ||
			    !felix_ipv6_address_usable(&x)) {
				continue;
			}
			*ret = (struct ip_prefix){.addr = x,
						  .len = (uint8_t)rtnl_addr_get_prefixlen(ad)};
			found = 1;
			break;
		}
		if (pass == 0 && !ifindex) {
			break;
		}
	}
	nl_cache_free(cache);
	nl_socket_free(sk);
	return found;
}

/* The IPv6 address our Node carries, from the configuration (into a->ipv6). Autodetection
 * that finds nothing leaves the node IPv4-only (logged): a later restart picks it up. */
static void ipv6_choose(struct agent *a)
{
	const struct felix_config *cfg = a->cfg;
	char buf[IP_PREFIX_STRLEN];
	a->ipv6 = (struct ip_prefix){0};
	if (cfg->ipv6_mode == FELIX_IPV6_STATIC) {
		a->ipv6 = cfg->ipv6_address;
		return;
	}
	if (cfg->ipv6_mode != FELIX_IPV6_AUTODETECT) {
		return;
	}
	int r = ipv6_autodetect(&cfg->ipv4_address.addr, &a->ipv6);
	if (r < 0) {
		log_warn_errno(r, "ipv6Address autodetect: reading the addresses failed (%m); "
				  "running IPv4 only");
	} else if (r == 0) {
		log_warn("ipv6Address autodetect: no global IPv6 address on the interface of %s; "
			 "running IPv4 only",
			 ip_prefix_format(&cfg->ipv4_address, buf));
	} else {
		log_info("ipv6Address autodetect: %s", ip_prefix_format(&a->ipv6, buf));
	}
}

/* Retry until registered, the backoff interruptible by SIGTERM. */
static int node_register(struct agent *a)
{
	int delay = 100;
	ipv6_choose(a);
	for (;;) {
		a->health.loop_ms = clock_mono_ms();
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
		uint64_t until = clock_mono_ms() + (uint64_t)delay;
		for (uint64_t t = clock_mono_ms(); !a->stop && t < until; t = clock_mono_ms()) {
			a->health.loop_ms = t;
			poll_local(a, (int)(until - t));
		}
		if (a->stop) {
			return 0;
		}
		delay = MIN(delay * 2, 5000);
	}
}

/* Claim a block of each pool of @family (IPv4: retried every FELIX_BLOCK_RETRY_MS until it
 * succeeds; IPv6: the same, except that with no IPv6 pool at all it waits for an IPPool event,
 * as most clusters have none). */
static void ensure_block_family(struct agent *a, int family, uint64_t now)
{
	const char *fam = family == AF_INET ? "IPv4" : "IPv6";
	bool *ok = family == AF_INET ? &a->block_ok : &a->block6_ok;
	uint64_t *next = family == AF_INET ? &a->next_block_ms : &a->next_block6_ms;
	unsigned claimed = 0;
	int r = ipam_ensure_block(a->ds, a->cfg->node_name, family, &claimed);
	if (r >= 0) {
		*ok = true;
		if (claimed) {
			log_info("claimed %u %s block(s) for %s", claimed, fam, a->cfg->node_name);
		}
		return;
	}
	if (r == -ENOENT) {
		if (family == AF_INET) {
			log_info("no IPv4 pool yet; will claim a block when one exists");
		}
		*next = family == AF_INET ? now + FELIX_BLOCK_RETRY_MS : UINT64_MAX;
		return;
	}
	log_warn_errno(r, "claiming an %s block failed, will retry: %m", fam);
	*next = now + FELIX_BLOCK_RETRY_MS;
}

static void ensure_block(struct agent *a, uint64_t now)
{
	if (!a->block_ok && now >= a->next_block_ms) {
		ensure_block_family(a, AF_INET, now);
	}
	if (!a->block6_ok && now >= a->next_block6_ms) {
		ensure_block_family(a, AF_INET6, now);
	}
}

static void policy_note_key(struct agent *a, const char *key)
{
	felix_policy_note_key(a->drv[DRV_POLICY].d, key);
}

/* What the routes driver's last apply changed, in the log (the driver itself does not log). */
static void routes_log(const struct dp_driver *dv)
{
	const struct route_table_stats *rs = dp_routes_last_stats(dv->d);
	if (dv->stats.last_error < 0 && rs->dumped) {
		log_warn("reading the kernel's routes failed, will retry: %s",
			 strerror(-dv->stats.last_error));
	}
	if (rs->routes_programmed || rs->routes_removed || rs->neighs_programmed ||
	    rs->neighs_removed || rs->ifaces_configured || rs->errors) {
		log_info("programmed %u routes, removed %u (%u pending); neighbours +%u -%u; "
			 "configured %u interfaces%s",
			 rs->routes_programmed, rs->routes_removed, rs->routes_pending,
			 rs->neighs_programmed, rs->neighs_removed, rs->ifaces_configured,
			 rs->errors ? "; some kernel operations failed" : "");
	}
}

/* ---- VXLAN tunnel address (Calico: felix's "vxlan-tunnel-addr-<node>" allocation) ---- */

/* A stable, locally administered unicast MAC for @node's VTEP (FNV-1a of the name): the same
 * after a restart, so remote FDB entries stay right. Calico picks a random one and keeps it on
 * the Node; ours is kept on the Node too. */
static void vxlan_derive_mac(const char *node, uint8_t mac[static 6])
{
	uint64_t h = 1469598103934665603ULL;
	for (const char *p = node; *p; p++) {
		h = (h ^ (uint8_t)*p) * 1099511628211ULL;
	}
	mac[0] = 0x66; /* locally administered (0x02), unicast (0x01 clear) */
	for (int i = 1; i < 6; i++) {
		mac[i] = (uint8_t)(h >> (8 * i));
	}
}

/* Read-modify-write our Node's tunnel fields (@addr family 0: remove them). Return 0, -EAGAIN
 * (lost a race), -ENOENT (no Node) or a datastore error. */
static int vxlan_node_write(struct agent *a, const struct ip_addr *addr)
{
	_cleanup_strbuf_ struct strbuf key = {0}, val = {0};
	_cleanup_(model_resource_freep) struct model_resource *node = NULL;
	struct ds_kv kv = {0};
	struct parse_err err = {0};
	int r = model_key(MODEL_KIND_NODE, NULL, a->cfg->node_name, &key);

	if (r >= 0) {
		r = ds_get(a->ds, strbuf_cstr(&key), &kv, NULL);
	}
	if (r < 0) {
		return r;
	}
	int64_t mod = kv.mod_revision;
	r = model_decode_one(kv.value, kv.value_len, kv.key, &node, &err);
	ds_kv_done(&kv);
	if (r < 0 || node->kind != MODEL_KIND_NODE) {
		return r < 0 ? r : -EINVAL;
	}
	char mac[18];
	snprintf(mac, sizeof(mac), "%02x:%02x:%02x:%02x:%02x:%02x", a->vx_mac[0], a->vx_mac[1],
		 a->vx_mac[2], a->vx_mac[3], a->vx_mac[4], a->vx_mac[5]);
	struct model_node *n = &node->node;
	bool same = addr->family ? n->ipv4_vxlan_tunnel_addr.family == AF_INET &&
				       ip_addr_equal(&n->ipv4_vxlan_tunnel_addr, addr) &&
				       n->vxlan_tunnel_mac && strcmp(n->vxlan_tunnel_mac, mac) == 0
				 : !n->ipv4_vxlan_tunnel_addr.family && !n->vxlan_tunnel_mac;
	if (same) {
		return 0;
	}
	n->ipv4_vxlan_tunnel_addr = *addr;
	free(n->vxlan_tunnel_mac);
	n->vxlan_tunnel_mac = NULL;
	if (addr->family) {
		n->vxlan_tunnel_mac = strdup(mac);
		if (!n->vxlan_tunnel_mac) {
			return -ENOMEM;
		}
	}
	free(node->meta.resource_version);
	node->meta.resource_version = NULL;
	r = model_encode_json(node, &val);
	if (r < 0) {
		return r;
	}
	r = ds_update(a->ds, strbuf_cstr(&key), val.buf, val.len, mod, NULL);
	return r == -ESTALE ? -EAGAIN : r;
}

static int vxlan_node_write_retry(struct agent *a, const struct ip_addr *addr)
{
	int r = -EAGAIN;
	for (int i = 0; i < 5 && r == -EAGAIN; i++) {
		r = vxlan_node_write(a, addr);
	}
	return r;
}

/* Assign or release our tunnel address as the last calc asked (datastore round trips). */
static void vxlan_tunnel_sync(struct agent *a, uint64_t now)
{
	char handle[sizeof(CALC_VXLAN_HANDLE_PREFIX) + MODEL_NAME_MAX];
	char buf[IP_ADDR_STRLEN];
	struct ip_addr none = {0}, addr = {0};
	int r = 0;

	snprintf(handle, sizeof(handle), "%s%s", CALC_VXLAN_HANDLE_PREFIX, a->cfg->node_name);
	a->next_vx_ms = now + FELIX_VXLAN_RETRY_MS;
	if (a->vx_release || a->vx_reassign) {
		/* The Node first: remote hosts stop routing to the address before it is freed. */
		r = vxlan_node_write_retry(a, &none);
		if (r >= 0) {
			r = ipam_release_handle(a->ds, handle, NULL);
		}
		if (r < 0) {
			log_warn_errno(r,
				       "releasing the VXLAN tunnel address failed, will retry: %m");
			return;
		}
		log_info("released the VXLAN tunnel address (handle %s)", handle);
		a->vx_release = a->vx_reassign = false;
	}
	if (!a->vx_assign || !a->vx_pool) {
		return;
	}
	const char *pools[] = {a->vx_pool, NULL};
	struct ipam_assign_args args = {
	    .node = a->cfg->node_name,
	    .handle = handle,
	    .family = AF_INET,
	    .pool_names = pools,
	};
	r = ipam_auto_assign(a->ds, &args, &addr, NULL);
	if (r >= 0) {
		r = vxlan_node_write_retry(a, &addr);
	}
	if (r < 0) {
		log_warn_errno(r,
			       "assigning the VXLAN tunnel address from pool %s failed, will "
			       "retry: %m",
			       a->vx_pool);
		return;
	}
	log_info("VXLAN tunnel address %s (pool %s) recorded on Node %s",
		 ip_addr_format(&addr, buf), a->vx_pool, a->cfg->node_name);
	a->vx_assign = false;
}

/* ---- watch ---- */

/* A batch of PUTs is about to be delivered (n > 0), or its delivery is over (n == 0). */
static void on_watch_batch(void *userdata, const struct ds_kv *const *kvs, size_t n)
{
	struct agent *a = userdata;

	if (n)
		decode_ahead_begin(a->ahead, kvs, n);
	else
		decode_ahead_end(a->ahead);
}

/* The cache file's load (started by felix_agent_run()) is over: its cache replaces the empty
 * one, which nothing has written yet (no watch event was delivered before this). */
static void warm_finish(struct agent *a)
{
	struct calc_cache *c = NULL;
	uint64_t t0 = clock_mono_ms(), ms = 0;
	int r;

	if (!a->warm_load)
		return;
	r = felix_warm_load_finish(TAKE_PTR(a->warm_load), &c, &a->warm_rev, &ms);
	if (r == -ENOMEM)
		log_warn("cache file %s: out of memory loading it; starting without it",
			 a->cfg->cache_file);
	if (!c)
		return; /* an empty cache: every key is read (known to none) */
	log_info("cache file %s: %d resources at revision %lld loaded in %llu ms (waited %llu ms)",
		 a->cfg->cache_file, r, (long long)a->warm_rev, (unsigned long long)ms,
		 (unsigned long long)(clock_mono_ms() - t0));
	calc_cache_free(a->cache);
	a->cache = c;
}

/* ds_watch_known_cb: a snapshot lists @kv; does the cache hold it at that revision already? */
static bool on_known(void *userdata, const struct ds_kv *kv, int64_t snap_rev)
{
	struct agent *a = userdata;

	warm_finish(a);
	if (a->warm_rev && snap_rev < a->warm_rev)
		return false;
	return calc_cache_known(a->cache, kv->key, kv->mod_revision);
}

static int on_watch(void *userdata, const struct ds_watch_event *ev)
{
	struct agent *a = userdata;
	struct parse_err err = {0};
	char msg[768];
	int r;

	warm_finish(a);
	switch (ev->type) {
	case DS_WATCH_SNAPSHOT_BEGIN:
		calc_cache_mark_all(a->cache);
		a->n_kept = 0;
		break;
	case DS_WATCH_PUT: {
		struct calc_decoded d;

		a->metrics.datastore_updates_total++;
		if (a->ahead)
			decode_ahead_take(a->ahead, ev->kv, &d);
		else
			calc_cache_decode(ev->kv->key, ev->kv->value, ev->kv->value_len, &d);
		d.mod_revision = ev->kv->mod_revision;
		r = calc_cache_put_decoded(a->cache, ev->kv->key, &d, &err);
		policy_note_key(a, ev->kv->key);
		if (r == -EINVAL) {
			log_warn("%s, ignoring", parse_err_format(&err, msg, sizeof(msg)));
		} else if (r < 0) {
			return log_error_errno(r, "cache update for %s failed: %m", ev->kv->key);
		} else if (r > 0 && (!a->block_ok || !a->block6_ok) &&
			   strncmp(ev->kv->key, MODEL_KEY_PREFIX "ippools/",
				   strlen(MODEL_KEY_PREFIX "ippools/")) == 0) {
			a->next_block_ms = 0; /* a pool appeared: claim now */
			a->next_block6_ms = 0;
		}
		break;
	}
	case DS_WATCH_KEEP:
		r = calc_cache_confirm(a->cache, ev->kv->key, ev->kv->mod_revision);
		if (r < 0) {
			/* on_known() said yes to this key: the watch reads everything again */
			log_warn("cache lost %s at revision %lld; reading the whole snapshot",
				 ev->kv->key, (long long)ev->kv->mod_revision);
			return -ESTALE;
		}
		a->n_kept += (size_t)r;
		break;
	case DS_WATCH_DELETE:
		a->metrics.datastore_updates_total++;
		calc_cache_delete(a->cache, ev->kv->key);
		policy_note_key(a, ev->kv->key);
		break;
	case DS_WATCH_SNAPSHOT_END: {
		size_t gone = calc_cache_sweep(a->cache);
		if (gone) {
			felix_policy_recalc(a->drv[DRV_POLICY].d);
			driver_queue_resync(a, &a->drv[DRV_POLICY]);
		}
		if (!a->in_sync) {
			log_info(
			    "in sync with the datastore at revision %lld (%zu resources; %zu kept "
			    "from the cache file)",
			    (long long)ev->revision, calc_cache_size(a->cache), a->n_kept);
		} else {
			log_info("datastore resnapshot at revision %lld: %zu resources dropped",
				 (long long)ev->revision, gone);
		}
		a->in_sync = true;
		a->warm_rev = 0;
		/* The cache is complete now: a later resnapshot (compaction) reads only the values
		 * that changed. */
		ds_watch_set_known_cb(a->watch, on_known);
		break;
	}
	case DS_WATCH_DISCONNECTED:
		log_debug("datastore watch disconnected, reconnecting");
		break;
	}
	return 0;
}

struct in_use_acc {
	struct ip_addr *v;
	size_t n, cap;
};

static int in_use_add(const struct model_resource *res, void *userdata)
{
	struct in_use_acc *acc = userdata;

	for (size_t i = 0; i < res->wep.n_ip_networks; i++) {
		if (acc->n == acc->cap) {
			size_t ncap = acc->cap * 2 + 1024;
			struct ip_addr *v = realloc(acc->v, ncap * sizeof(*v));

			if (!v)
				return -ENOMEM;
			acc->v = v;
			acc->cap = ncap;
		}
		acc->v[acc->n++] = res->wep.ip_networks[i].addr;
	}
	return 0;
}

/* felix_ipam_gc_config.in_use: the addresses of every cached WorkloadEndpoint, once the watch
 * is in sync (before that, -EAGAIN: the GC pass reads them from the datastore). */
static int gc_in_use(void *userdata, struct ip_addr **ret, size_t *ret_n)
{
	struct agent *a = userdata;
	struct in_use_acc acc = {0};
	int r;

	if (!a->in_sync)
		return -EAGAIN;
	r = calc_cache_foreach(a->cache, MODEL_KIND_WORKLOAD_ENDPOINT, in_use_add, &acc);
	if (r < 0) {
		free(acc.v);
		return r;
	}
	*ret = acc.v;
	*ret_n = acc.n;
	return 0;
}

/* ---- drivers ---- */

/* calc (pure) -> every driver's set_desired() (memory only). */
static void calc_and_set_desired(struct agent *a)
{
	struct calc_options o = {
	    .node_name = a->cfg->node_name,
	    .bird_fast_timers = a->cfg->bird_fast_timers,
	    .bird_log_file = a->cfg->bird_log_file,
	};
	struct calc_desired d;
	int r;

	calc_cache_clear_dirty(a->cache);
	r = calc_compute(a->cache, &o, &d);
	if (r < 0) {
		/* Keep every driver's last desired state: nothing is swept on a calc failure. */
		log_error_errno(r, "calculation failed, keeping the programmed state: %m");
		return;
	}
	a->n_routes = d.n_routes;
	const struct calc_vxlan *vx = &d.vxlan;
	if (vx->has_mac) {
		memcpy(a->vx_mac, vx->mac, 6);
	} else {
		vxlan_derive_mac(a->cfg->node_name, a->vx_mac);
	}
	a->vx_assign = vx->enabled && vx->pool_name && (!vx->addr.family || !vx->has_mac);
	a->vx_reassign = a->vx_assign && !vx->addr.family && vx->node_has_addr;
	a->vx_release = !vx->enabled && vx->node_has_addr;
	if (a->vx_assign && (!a->vx_pool || strcmp(a->vx_pool, vx->pool_name) != 0)) {
		free(a->vx_pool);
		a->vx_pool = strdup(vx->pool_name);
		a->next_vx_ms = 0;
	}
	struct dp_vxlan_desired vw = {
	    .enabled = vx->enabled,
	    .local = a->cfg->ipv4_address.addr,
	    .addr = vx->addr,
	    .mtu = vx->mtu,
	    .fdbs = vx->fdbs,
	    .n_fdbs = vx->n_fdbs,
	};
	memcpy(vw.mac, a->vx_mac, 6);
	r = dp_vxlan_set_desired(a->drv[DRV_VXLAN].d, &vw);
	if (r < 0) {
		log_error_errno(r, "vxlan: cannot take the desired state: %m");
	}
	a->drv[DRV_VXLAN].dirty |= r != 0;
	/* A policy that does not compile is the driver's to report: it fails closed on apply. */
	(void)dp_policy_set_desired(a->drv[DRV_POLICY].d, a->cache, d.ifaces, d.n_ifaces);
	a->drv[DRV_POLICY].dirty |= felix_policy_wants_apply(a->drv[DRV_POLICY].d, 0);
	struct calc_nat nat;
	r = calc_nat_compute(a->cache, &nat);
	if (r >= 0) {
		r = dp_nat_set_desired(a->drv[DRV_NAT].d, &nat);
		calc_nat_done(&nat);
	}
	if (r < 0) {
		log_error_errno(r, "nat: cannot take the desired state: %m");
	}
	a->drv[DRV_NAT].dirty |= r > 0;
	r = dp_routes_set_desired(a->drv[DRV_ROUTES].d, &d);
	if (r < 0) {
		log_error_errno(r, "routes: cannot take the desired state: %m");
	}
	a->drv[DRV_ROUTES].dirty = true;
	if (d.has_bgp) {
		r = dp_bird_set_desired(a->drv[DRV_BIRD].d, &d.bgp);
		a->drv[DRV_BIRD].dirty |= r != 0;
	} else {
		log_debug("no BGP model yet (our Node has no IPv4 address in the datastore)");
	}
	calc_desired_done(&d);
}

/* Only remote WorkloadEndpoints changed (calc_cache_dp_dirty() is false): routes, neighbours,
 * interfaces and the BGP model stay as they are; the policy driver's incremental calculation
 * takes the noted keys. Saves a pass over the whole cache per remote endpoint write. */
static void policy_only(struct agent *a)
{
	calc_cache_clear_dirty(a->cache);
	(void)dp_policy_refresh(a->drv[DRV_POLICY].d);
	a->drv[DRV_POLICY].dirty |= felix_policy_wants_apply(a->drv[DRV_POLICY].d, 0);
}

/* Apply every driver that is dirty or whose retry is due, in order; record health/metrics. */
static void apply_drivers(struct agent *a, uint64_t now)
{
	uint64_t t0 = clock_mono_us();
	bool any = false;
	for (size_t i = 0; i < _DRV_MAX; i++) {
		struct dp_driver *dv = &a->drv[i];
		if (i == DRV_NAT &&
		    dp_nat_set_backend(dv->d, felix_policy_dataplane(a->drv[DRV_POLICY].d))) {
			dv->dirty = true;
		}
		if (!dv->dirty && !(dv->next_apply_ms && now >= dv->next_apply_ms)) {
			continue;
		}
		dv->dirty = false;
		int64_t next = dv->ops->apply(dv->d, now, &dv->stats);
		dv->next_apply_ms = next == DP_IDLE ? 0 : now + (uint64_t)MAX(next, 1);
		if (i == DRV_ROUTES) {
			routes_log(dv);
		}
		any = true;
	}
	if (!any) {
		return;
	}
	/* Step 5 of the apply order: stale ipsets go after routes and BIRD. */
	felix_policy_finish(a->drv[DRV_POLICY].d);
	a->apply_tat_ms = MAX(a->apply_tat_ms, now) + FELIX_APPLY_INTERVAL_MS;
	felix_health_note_policy(&a->health, &a->metrics, &a->drv[DRV_POLICY].stats);
	felix_health_note_routes(&a->health, &a->metrics, &a->drv[DRV_ROUTES].stats, a->n_routes);
	felix_health_note_bird(&a->health, &a->metrics, a->drv[DRV_BIRD].d);
	felix_health_note_driver(&a->health, &a->metrics, "nat", &a->drv[DRV_NAT].stats);
	felix_health_note_driver(&a->health, &a->metrics, "vxlan", &a->drv[DRV_VXLAN].stats);
	a->metrics.apply_total++;
	felix_metrics_observe_apply(&a->metrics, clock_mono_us() - t0);
	felix_metrics_count_endpoints(&a->metrics, a->cache, a->cfg->node_name);
}

/* ---- the loop ---- */

static int64_t min_timeout(int64_t t, int64_t u)
{
	if (u < 0) {
		return t;
	}
	return t < 0 ? u : MIN(t, u);
}

static int64_t until(uint64_t when, uint64_t now)
{
	return when > now ? (int64_t)(when - now) : 0;
}

/* The earliest time of the next apply: FELIX_APPLY_BURST applies may run back to back, then
 * one per FELIX_APPLY_INTERVAL_MS until the bucket refills (GCRA). */
static uint64_t apply_next_ms(const struct agent *a)
{
	uint64_t slack = (FELIX_APPLY_BURST - 1) * FELIX_APPLY_INTERVAL_MS;
	return a->apply_tat_ms > slack ? a->apply_tat_ms - slack : 0;
}

/* Milliseconds poll() may sleep, or -1. */
static int64_t loop_timeout(struct agent *a, uint64_t now)
{
	int64_t t = ds_watch_timeout_ms(a->watch, now);
	t = min_timeout(t, felix_health_server_timeout_ms(a->http, now));
	if (!a->block_ok) {
		t = min_timeout(t, until(a->next_block_ms, now));
	}
	if (!a->block6_ok && a->next_block6_ms != UINT64_MAX) {
		t = min_timeout(t, until(a->next_block6_ms, now));
	}
	if (!a->in_sync) {
		return t;
	}
	t = min_timeout(t, until(a->next_resync_ms, now));
	if (a->gc) {
		t = min_timeout(t, until(a->next_gc_ms, now));
	}
	bool want = calc_cache_dirty(a->cache) || a->recalc;
	for (size_t i = 0; i < _DRV_MAX; i++) {
		want |= a->drv[i].dirty;
		if (a->drv[i].next_apply_ms) {
			t = min_timeout(t, MAX(until(a->drv[i].next_apply_ms, now),
					       until(apply_next_ms(a), now)));
		}
	}
	if (want) {
		t = min_timeout(t, until(apply_next_ms(a), now));
	}
	if (a->vx_assign || a->vx_release || a->vx_reassign) {
		t = min_timeout(t, until(a->next_vx_ms, now));
	}
	return t;
}

static int agent_loop(struct agent *a)
{
	struct pollfd p[3 + _DRV_MAX + FELIX_MAX_WATCH_FDS];
	uint64_t now = clock_mono_ms();
	schedule_resync(a, now);
	while (!a->stop) {
		now = clock_mono_ms();
		a->health.loop_ms = now;
		size_t n = 0, drv_at[_DRV_MAX];
		p[n++] = (struct pollfd){.fd = a->sigfd, .events = POLLIN};
		p[n++] = (struct pollfd){.fd = felix_health_server_fd(a->http), .events = POLLIN};
		for (size_t i = 0; i < _DRV_MAX; i++) {
			int fd = a->drv[i].ops->fd ? a->drv[i].ops->fd(a->drv[i].d) : -1;
			drv_at[i] = n;
			p[n++] = (struct pollfd){.fd = fd, .events = POLLIN};
		}
		size_t watch_at = n;
		int nw = ds_watch_pollfds(a->watch, p + n, ELEMENTSOF(p) - n);
		if (nw < 0) {
			return log_error_errno(nw, "datastore watch: %m");
		}
		n += (size_t)nw;
		int64_t timeout = loop_timeout(a, now);
		int r = poll(p, n, (int)MIN(timeout, INT32_MAX)); /* negative fds are skipped */
		if (r < 0 && errno != EINTR) {
			return log_error_errno(-errno, "poll: %m");
		}
		now = clock_mono_ms();
		a->health.loop_ms = now;
		if (p[0].revents) {
			signals_read(a);
		}
		felix_health_server_run(a->http, now);
		for (size_t i = 0; i < _DRV_MAX; i++) {
			if (p[drv_at[i]].revents && a->drv[i].ops->dispatch(a->drv[i].d, now)) {
				a->drv[i].dirty = true;
			}
		}
		/* Always: it also runs the watch's timers (curl, reconnect backoff). */
		r = ds_watch_dispatch(a->watch, p + watch_at, (size_t)nw, now);
		if (r < 0) {
			return r;
		}
		if (a->stop) {
			break;
		}
		now = clock_mono_ms();
		if ((!a->block_ok && now >= a->next_block_ms) ||
		    (!a->block6_ok && now >= a->next_block6_ms)) {
			ensure_block(a, now);
		}
		if (!a->in_sync) {
			continue;
		}
		if (now >= a->next_resync_ms) {
			log_debug("periodic resync");
			for (size_t i = 0; i < _DRV_MAX; i++) {
				driver_queue_resync(a, &a->drv[i]);
			}
			a->metrics.resync_total++;
			schedule_resync(a, now);
		}
		if (a->gc && now >= a->next_gc_ms) {
			/* A few short etcd requests when due (campaign, keepalive, a GC pass). */
			a->next_gc_ms = now + (uint64_t)felix_ipam_gc_tick(a->gc, (int64_t)now);
		}
		if (now < apply_next_ms(a)) {
			continue;
		}
		if (a->recalc || calc_cache_dp_dirty(a->cache)) {
			a->recalc = false;
			calc_and_set_desired(a);
		} else if (calc_cache_dirty(a->cache)) {
			policy_only(a);
		}
		apply_drivers(a, now);
		if ((a->vx_assign || a->vx_release || a->vx_reassign) && now >= a->next_vx_ms) {
			vxlan_tunnel_sync(a, now);
		}
	}
	return 0;
}

static int drivers_new(struct agent *a)
{
	const struct felix_config *cfg = a->cfg;
	int r;

	struct felix_policy_options po = {
	    .node_name = cfg->node_name,
	    .dataplane = (enum model_dataplane)cfg->policy_dataplane,
	    .status_file = cfg->status_file,
	    .ipt_state_file = cfg->ipt_state_file,
	};
	struct felix_policy *p = NULL;
	r = dp_policy_new(&po, &p);
	if (r < 0) {
		return r;
	}
	a->drv[DRV_POLICY] = (struct dp_driver){.ops = &dp_policy_ops, .d = p};

	struct dp_nat *nat = NULL;
	r = dp_nat_new(&nat);
	if (r < 0) {
		return r;
	}
	a->drv[DRV_NAT] = (struct dp_driver){.ops = &dp_nat_ops, .d = nat};

	struct dp_routes *rt = NULL;
	r = dp_routes_netlink_new(cfg->route_protocol, &rt);
	if (r < 0) {
		return r;
	}
	a->drv[DRV_ROUTES] = (struct dp_driver){.ops = &dp_routes_ops, .d = rt};

	struct dp_vxlan *vx = NULL;
	r = dp_vxlan_new(&vx);
	if (r < 0) {
		return r;
	}
	a->drv[DRV_VXLAN] = (struct dp_driver){.ops = &dp_vxlan_ops, .d = vx};

	struct dp_bird *b = NULL;
	struct dp_bird_config bc = {
	    .conf_path = cfg->bird_config_file,
	    .binary = cfg->bird_binary,
	    .socket = cfg->bird_socket,
	};
	r = dp_bird_new(&bc, &b);
	if (r < 0) {
		return r;
	}
	a->drv[DRV_BIRD] = (struct dp_driver){.ops = &dp_bird_ops, .d = b};
	return 0;
}

static void drivers_free(struct agent *a)
{
	for (size_t i = 0; i < _DRV_MAX; i++) {
		if (a->drv[i].ops) {
			a->drv[i].ops->free(a->drv[i].d);
		}
		a->drv[i] = (struct dp_driver){0};
	}
}

/* An empty calculation cache for this node, and the cache file's load on a thread of its own
 * (a.warm_load; warm_finish() takes its cache). Return: 0 or -ENOMEM. */
static int new_cache(struct agent *a)
{
	int r = calc_cache_new(&a->cache);

	if (r >= 0)
		r = calc_cache_set_local_node(a->cache, a->cfg->node_name);
	if (r >= 0)
		r = felix_warm_load_start(a->cfg->cache_file, a->cfg->node_name, &a->warm_load);
	return r;
}

/* At exit, in sync: save the cache for the next start's warm snapshot (felix/warm.c). */
static void save_cache(struct agent *a)
{
	struct ds_watch_status st;
	uint64_t t0 = clock_mono_ms();
	int r;

	ds_watch_status(a->watch, &st);
	if (st.revision <= 0)
		return;
	r = felix_warm_save(a->cache, a->cfg->cache_file, st.revision);
	if (r < 0)
		log_warn("cache file %s: not saved: %s", a->cfg->cache_file, strerror(-r));
	else
		log_info("cache file %s: %d resources at revision %lld saved in %llu ms",
			 a->cfg->cache_file, r, (long long)st.revision,
			 (unsigned long long)(clock_mono_ms() - t0));
}

int felix_agent_run(const struct felix_config *cfg)
{
	struct agent a = {.cfg = cfg, .sigfd = -1};
	struct ds_config dc = {0};
	int r;

	a.seed = (unsigned)getpid() ^ (unsigned)time(NULL);

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
	r = new_cache(&a);
	if (r >= 0) {
		r = drivers_new(&a);
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
	ensure_block(&a, clock_mono_ms());
	r = ds_watch_new(a.ds, MODEL_KEY_PREFIX, on_watch, &a, &a.watch);
	if (r < 0) {
		log_error_errno(r, "cannot create the datastore watch: %m");
		goto out;
	}
	a.health.watch = a.watch;
	if (a.warm_load) {
		ds_watch_set_known_cb(a.watch, on_known);
	}
	if (decode_ahead_new(&a.ahead) >= 0)
		ds_watch_set_batch_cb(a.watch, on_watch_batch);
	if (cfg->ipam_gc_interval_s) {
		struct felix_ipam_gc_config gcc = {
		    .node = cfg->node_name,
		    .interval_ms = (int64_t)cfg->ipam_gc_interval_s * 1000,
		    .in_use = gc_in_use,
		    .in_use_userdata = &a,
		};
		a.gc = felix_ipam_gc_new(a.ds, &gcc);
		a.next_gc_ms = clock_mono_ms() + FELIX_GC_START_DELAY_MS;
		if (!a.gc) {
			log_warn("IPAM garbage collection disabled: out of memory");
		}
	}
	r = agent_loop(&a);
	if (r >= 0 && a.in_sync)
		save_cache(&a); /* a clean stop: every delivered event is in the cache */
out:
	warm_finish(&a);	  /* an exit before the first watch event: join the load */
	felix_ipam_gc_free(a.gc); /* revokes the leader lease: another felix takes over */
	felix_health_server_free(a.http);
	ds_watch_free(a.watch);
	decode_ahead_free(a.ahead);
	drivers_free(&a);
	calc_cache_free(a.cache);
	free(a.vx_pool);
	ds_client_free(a.ds);
	if (a.sigfd >= 0) {
		close(a.sigfd);
	}
	return r < 0 ? r : 0;
}
