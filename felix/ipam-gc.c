/* SPDX-License-Identifier: Apache-2.0 */
/*
 * DOC: periodic IPAM GC with an etcd-lease leader election (see felix/ipam-gc.h).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "felix/ipam-gc.h"
#include "ipam/ipam-gc.h"
#include "lib/log.h"

struct felix_ipam_gc {
	struct ds_client *ds;
	char *node;
	int64_t interval_ms, grace_ms, ttl_s;
	bool leader;
	int64_t lease;	   /* 0 = none */
	int64_t next_try;  /* not leading: next campaign */
	int64_t next_keep; /* leading: next keepalive + key check */
	int64_t next_gc;   /* leading: next GC pass */
	int64_t
	    quiet_rev; /* store revision read before a pass that did and awaits nothing; 0 = none */
	int (*in_use)(void *userdata, struct ip_addr **ret, size_t *ret_n);
	void *in_use_userdata;
	unsigned passes, quiet, hinted;
};

struct felix_ipam_gc *felix_ipam_gc_new(struct ds_client *ds,
					const struct felix_ipam_gc_config *cfg)
{
	struct felix_ipam_gc *gc;

	if (!ds || !cfg || !cfg->node || !*cfg->node)
		return NULL;
	gc = calloc(1, sizeof(*gc));
	if (!gc)
		return NULL;
	gc->node = strdup(cfg->node);
	if (!gc->node) {
		free(gc);
		return NULL;
	}
	gc->ds = ds;
	gc->in_use = cfg->in_use;
	gc->in_use_userdata = cfg->in_use_userdata;
	gc->interval_ms =
	    cfg->interval_ms > 0 ? cfg->interval_ms : FELIX_IPAM_GC_DEFAULT_INTERVAL_MS;
	gc->grace_ms = cfg->grace_ms > 0   ? cfg->grace_ms
		       : cfg->grace_ms < 0 ? 0
					   : IPAM_GC_DEFAULT_GRACE_MS;
	gc->ttl_s = cfg->ttl_s > 0 ? cfg->ttl_s : FELIX_IPAM_GC_DEFAULT_TTL_S;
	return gc;
}

static void drop_lease(struct felix_ipam_gc *gc)
{
	if (gc->lease) {
		int r = ds_lease_revoke(gc->ds, gc->lease);

		if (r < 0 && r != -ENOENT)
			log_debug_errno(r, "IPAM GC: revoking lease %lld: %m",
					(long long)gc->lease);
	}
	gc->lease = 0;
}

static void lose(struct felix_ipam_gc *gc, int64_t now_ms, const char *why)
{
	log_warn("IPAM GC: no longer the leader (%s)", why);
	gc->leader = false;
	drop_lease(gc);
	gc->next_try = now_ms + gc->ttl_s * 1000 / 2;
}

static void campaign(struct felix_ipam_gc *gc, int64_t now_ms)
{
	int r;

	gc->next_try = now_ms + gc->ttl_s * 1000 / 2;
	if (!gc->lease) {
		r = ds_lease_grant(gc->ds, gc->ttl_s, &gc->lease);
		if (r < 0) {
			gc->lease = 0;
			log_debug_errno(r, "IPAM GC: lease grant: %m");
			return;
		}
	}
	r = ds_create(gc->ds, FELIX_IPAM_GC_LEADER_KEY, gc->node, strlen(gc->node), gc->lease,
		      NULL);
	if (r == -EEXIST) {
		/* someone leads: keep our lease for the next try only if it is still alive */
		drop_lease(gc);
		return;
	}
	if (r < 0) {
		log_debug_errno(r, "IPAM GC: campaign: %m");
		return;
	}
	gc->leader = true;
	gc->next_keep = now_ms + gc->ttl_s * 1000 / 3;
	gc->next_gc = now_ms; /* collect right away */
	log_info("IPAM GC: %s leads the cluster's IPAM garbage collection (lease %lld, ttl %llds)",
		 gc->node, (long long)gc->lease, (long long)gc->ttl_s);
}

/* Refresh the lease and check that the key is still ours. */
static void keep(struct felix_ipam_gc *gc, int64_t now_ms)
{
	struct ds_kv kv = {0};
	int r;

	gc->next_keep = now_ms + gc->ttl_s * 1000 / 3;
	r = ds_lease_keepalive(gc->ds, gc->lease, NULL);
	if (r == -ENOENT) {
		lose(gc, now_ms, "lease expired");
		return;
	}
	if (r < 0) {
		log_warn_errno(r, "IPAM GC: lease keepalive: %m");
		return;
	}
	r = ds_get(gc->ds, FELIX_IPAM_GC_LEADER_KEY, &kv, NULL);
	if (r == -ENOENT || (r >= 0 && (kv.lease != gc->lease || strcmp(kv.value, gc->node) != 0)))
		lose(gc, now_ms, "the leader key is gone or not ours");
	else if (r < 0)
		log_warn_errno(r, "IPAM GC: reading %s: %m", FELIX_IPAM_GC_LEADER_KEY);
	ds_kv_done(&kv);
}

static void collect(struct felix_ipam_gc *gc, int64_t now_ms)
{
	struct ipam_gc_counts c = {0};
	struct ds_kv kv = {0};
	struct timespec ts;
	struct ip_addr *hint_addrs = NULL;
	struct ipam_gc_hint hint = {0};
	bool have_hint;
	int64_t rev = 0;
	int r;

	gc->next_gc = now_ms + gc->interval_ms;
	/* Nothing written since a pass that changed nothing and left nothing waiting on a grace
	 * period: a pass now would read the same records and plan nothing, so skip it. On a quiet
	 * cluster of 100,000 endpoints this saves the read and decode of every WorkloadEndpoint
	 * (~1.4 s of CPU each interval). */
	r = ds_get(gc->ds, FELIX_IPAM_GC_LEADER_KEY, &kv, &rev);
	ds_kv_done(&kv);
	if (r < 0)
		rev = 0;
	if (rev && rev == gc->quiet_rev) {
		gc->quiet++;
		log_debug("IPAM GC: nothing written since revision %lld, pass skipped",
			  (long long)rev);
		return;
	}
	gc->quiet_rev = 0;
	clock_gettime(CLOCK_REALTIME, &ts);
	have_hint = gc->in_use && gc->in_use(gc->in_use_userdata, &hint_addrs, &hint.n_in_use) >= 0;
	hint.in_use = hint_addrs;
	r = ipam_gc_run_hinted(gc->ds, (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000,
			       gc->grace_ms, false, have_hint ? &hint : NULL, NULL, NULL, &c);
	free(hint_addrs);
	if (r < 0) {
		log_warn_errno(r, "IPAM GC pass failed: %m");
		return;
	}
	gc->passes++;
	gc->hinted += c.hinted;
	if (!c.affinities && !c.blocks && !c.released && !c.marked && !c.unmarked && !c.waiting)
		gc->quiet_rev = rev;
	if (c.affinities || c.blocks || c.released || c.marked || c.unmarked)
		log_info("IPAM GC: %u stale affinities and %u empty blocks deleted, %u leaked "
			 "addresses released, %u marked, %u marks dropped, %u skipped",
			 c.affinities, c.blocks, c.released, c.marked, c.unmarked, c.skipped);
}

int64_t felix_ipam_gc_tick(struct felix_ipam_gc *gc, int64_t now_ms)
{
	int64_t next;

	if (!gc->leader && now_ms >= gc->next_try)
		campaign(gc, now_ms);
	if (gc->leader && now_ms >= gc->next_keep)
		keep(gc, now_ms);
	if (gc->leader && now_ms >= gc->next_gc)
		collect(gc, now_ms);
	next =
	    gc->leader ? (gc->next_keep < gc->next_gc ? gc->next_keep : gc->next_gc) : gc->next_try;
	return next > now_ms ? next - now_ms : 0;
}

bool felix_ipam_gc_is_leader(const struct felix_ipam_gc *gc)
{
	return gc && gc->leader;
}

unsigned felix_ipam_gc_passes(const struct felix_ipam_gc *gc)
{
	return gc ? gc->passes : 0;
}

unsigned felix_ipam_gc_quiet(const struct felix_ipam_gc *gc)
{
	return gc ? gc->quiet : 0;
}

unsigned felix_ipam_gc_hinted(const struct felix_ipam_gc *gc)
{
	return gc ? gc->hinted : 0;
}

void felix_ipam_gc_free(struct felix_ipam_gc *gc)
{
	if (!gc)
		return;
	if (gc->leader)
		log_info("IPAM GC: %s steps down", gc->node);
	drop_lease(gc);
	free(gc->node);
	free(gc);
}
