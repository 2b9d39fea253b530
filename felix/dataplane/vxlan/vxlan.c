/* SPDX-License-Identifier: Apache-2.0 */
/*
 * DOC: the VXLAN device driver (libnl-route-3)
 *
 * Keeps felix's one VXLAN device in line with the desired state (vxlan.h). The device is small
 * and owned whole, so each apply reads it back (link, addresses, FDB) and mends what differs:
 * the mark-and-sweep of the routes driver would buy nothing here. Parameters the kernel cannot
 * change in place (VNI, port, local address, learning) are fixed by re-creating the device; the
 * routes driver then re-adds its routes and neighbours when the new link appears.
 */
#include <errno.h>
#include <linux/if_ether.h>
#include <linux/neighbour.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/link/vxlan.h>
#include <netlink/route/neighbour.h>

#include "felix/dataplane/routes/routes.h"
#include "felix/dataplane/vxlan/vxlan.h"
#include "lib/log.h"

#define DP_VXLAN_RETRY_MS 1000
#define DP_VXLAN_MAX_FDB 65536

struct dp_vxlan {
	struct nl_sock *sk;
	struct dp_vxlan_desired want; /* want.fdbs owned (a copy) */
	bool have_want;
};

/* libnl's NLE_* codes as -errno, the one mapping of the netlink drivers. */
static int nlerr(int nle)
{
	return route_table_nl_errno(nle);
}

int dp_vxlan_new(struct dp_vxlan **ret)
{
	struct dp_vxlan *v = calloc(1, sizeof(*v));
	if (!v) {
		return -ENOMEM;
	}
	v->sk = nl_socket_alloc();
	if (!v->sk) {
		free(v);
		return -ENOMEM;
	}
	int r = nl_connect(v->sk, NETLINK_ROUTE);
	if (r < 0) {
		nl_socket_free(v->sk);
		free(v);
		return nlerr(r);
	}
	*ret = v;
	return 0;
}

int dp_vxlan_set_desired(struct dp_vxlan *v, const struct dp_vxlan_desired *want)
{
	if (want->n_fdbs > DP_VXLAN_MAX_FDB) {
		return -E2BIG;
	}
	bool same = v->have_want && v->want.enabled == want->enabled &&
		    ip_addr_equal(&v->want.local, &want->local) &&
		    v->want.addr.family == want->addr.family &&
		    (!want->addr.family || ip_addr_equal(&v->want.addr, &want->addr)) &&
		    memcmp(v->want.mac, want->mac, 6) == 0 && v->want.mtu == want->mtu &&
		    v->want.n_fdbs == want->n_fdbs;
	for (size_t i = 0; same && i < want->n_fdbs; i++) {
		/* field by field: padding bytes are not compared */
		same = memcmp(v->want.fdbs[i].mac, want->fdbs[i].mac, 6) == 0 &&
		       ip_addr_equal(&v->want.fdbs[i].dst, &want->fdbs[i].dst);
	}
	if (same) {
		return 0;
	}
	struct calc_fdb *f = NULL;
	if (want->n_fdbs) {
		f = malloc(want->n_fdbs * sizeof(*f));
		if (!f) {
			return -ENOMEM;
		}
		memcpy(f, want->fdbs, want->n_fdbs * sizeof(*f));
	}
	free((void *)v->want.fdbs);
	v->want = *want;
	v->want.fdbs = f;
	v->have_want = true;
	return 1;
}

static struct nl_addr *v4(const struct ip_addr *a, int len)
{
	struct nl_addr *n = nl_addr_build(AF_INET, a->bytes, 4);
	if (n) {
		nl_addr_set_prefixlen(n, len);
	}
	return n;
}

static bool nl_addr_is(struct nl_addr *n, const struct ip_addr *a)
{
	return n && nl_addr_get_family(n) == AF_INET && nl_addr_get_len(n) == 4 &&
	       memcmp(nl_addr_get_binary_addr(n), a->bytes, 4) == 0;
}

/* The MTU of the interface holding @local, or 0 when none does. */
static uint32_t uplink_mtu(struct nl_sock *sk, const struct ip_addr *local)
{
	struct nl_cache *cache = NULL;
	int ifindex = 0;
	uint32_t mtu = 0;

	if (rtnl_addr_alloc_cache(sk, &cache) < 0) {
		return 0;
	}
	for (struct nl_object *o = nl_cache_get_first(cache); o; o = nl_cache_get_next(o)) {
		struct rtnl_addr *a = (struct rtnl_addr *)o;
		if (rtnl_addr_get_family(a) == AF_INET &&
		    nl_addr_is(rtnl_addr_get_local(a), local)) {
			ifindex = rtnl_addr_get_ifindex(a);
			break;
		}
	}
	nl_cache_free(cache);
	struct rtnl_link *l = NULL;
	if (ifindex && rtnl_link_get_kernel(sk, ifindex, NULL, &l) >= 0) {
		mtu = rtnl_link_get_mtu(l);
		rtnl_link_put(l);
	}
	return mtu;
}

/* Is @l a VXLAN device with our immutable parameters? */
static bool link_matches(struct rtnl_link *l, const struct dp_vxlan_desired *w)
{
	uint32_t id = 0, port = 0;
	struct nl_addr *local = NULL;

	if (!rtnl_link_is_vxlan(l) || rtnl_link_vxlan_get_id(l, &id) < 0 || id != CALC_VXLAN_VNI ||
	    rtnl_link_vxlan_get_port(l, &port) < 0 || port != CALC_VXLAN_PORT ||
	    rtnl_link_vxlan_get_learning(l) != 0 || rtnl_link_vxlan_get_local(l, &local) < 0) {
		return false;
	}
	bool ok = nl_addr_is(local, &w->local);
	nl_addr_put(local);
	return ok;
}

static int link_create(struct dp_vxlan *v, uint32_t mtu)
{
	struct rtnl_link *l = rtnl_link_vxlan_alloc();
	struct nl_addr *local = v4(&v->want.local, 32);
	struct nl_addr *mac = nl_addr_build(AF_LLC, v->want.mac, 6);
	int r = -ENOMEM;

	if (l && local && mac) {
		rtnl_link_set_name(l, CALC_VXLAN_IFNAME);
		rtnl_link_vxlan_set_id(l, CALC_VXLAN_VNI);
		rtnl_link_vxlan_set_port(l, CALC_VXLAN_PORT);
		rtnl_link_vxlan_set_learning(l, 0);
		rtnl_link_vxlan_set_local(l, local);
		rtnl_link_set_addr(l, mac);
		if (mtu) {
			rtnl_link_set_mtu(l, mtu);
		}
		rtnl_link_set_flags(l, IFF_UP);
		r = nlerr(rtnl_link_add(v->sk, l, NLM_F_CREATE | NLM_F_EXCL));
	}
	nl_addr_put(local);
	nl_addr_put(mac);
	rtnl_link_put(l);
	return r;
}

/* Exactly the tunnel address /32 on @ifindex. */
static int sync_addrs(struct dp_vxlan *v, int ifindex)
{
	struct nl_cache *cache = NULL;
	bool have = false;
	int r = nlerr(rtnl_addr_alloc_cache(v->sk, &cache));

	if (r < 0) {
		return r;
	}
	for (struct nl_object *o = nl_cache_get_first(cache); o; o = nl_cache_get_next(o)) {
		struct rtnl_addr *a = (struct rtnl_addr *)o;
		if (rtnl_addr_get_ifindex(a) != ifindex || rtnl_addr_get_family(a) != AF_INET) {
			continue;
		}
		if (v->want.addr.family && rtnl_addr_get_prefixlen(a) == 32 &&
		    nl_addr_is(rtnl_addr_get_local(a), &v->want.addr)) {
			have = true;
			continue;
		}
		int q = nlerr(rtnl_addr_delete(v->sk, a, 0));
		if (q < 0 && r >= 0) {
			r = q;
		}
	}
	nl_cache_free(cache);
	if (!have && v->want.addr.family) {
		struct rtnl_addr *a = rtnl_addr_alloc();
		struct nl_addr *local = v4(&v->want.addr, 32);
		int q = -ENOMEM;
		if (a && local) {
			rtnl_addr_set_ifindex(a, ifindex);
			rtnl_addr_set_family(a, AF_INET);
			rtnl_addr_set_local(a, local);
			rtnl_addr_set_prefixlen(a, 32);
			rtnl_addr_set_scope(a, RT_SCOPE_UNIVERSE);
			q = nlerr(rtnl_addr_add(v->sk, a, NLM_F_REPLACE));
		}
		nl_addr_put(local);
		rtnl_addr_put(a);
		if (q < 0 && r >= 0) {
			r = q;
		}
	}
	return r;
}

static const struct calc_fdb *want_fdb(const struct dp_vxlan *v, const uint8_t *mac)
{
	for (size_t i = 0; i < v->want.n_fdbs; i++) {
		if (memcmp(v->want.fdbs[i].mac, mac, 6) == 0) {
			return &v->want.fdbs[i];
		}
	}
	return NULL;
}

static struct rtnl_neigh *fdb_build(int ifindex, const struct calc_fdb *f)
{
	struct rtnl_neigh *n = rtnl_neigh_alloc();
	struct nl_addr *ll = nl_addr_build(AF_LLC, f->mac, 6);
	struct nl_addr *dst = v4(&f->dst, 32);

	if (!n || !ll || !dst) {
		rtnl_neigh_put(n);
		n = NULL;
	} else {
		rtnl_neigh_set_family(n, AF_BRIDGE);
		rtnl_neigh_set_ifindex(n, ifindex);
		rtnl_neigh_set_lladdr(n, ll);
		rtnl_neigh_set_dst(n, dst);
		rtnl_neigh_set_state(n, NUD_PERMANENT);
		rtnl_neigh_set_flags(n, NTF_SELF);
	}
	nl_addr_put(ll);
	nl_addr_put(dst);
	return n;
}

/* Add or replace one FDB entry ("bridge fdb replace <mac> dev vxlan.tabby dst <ip> self
 * permanent"). libnl's neighbour message leaves NDA_DST out for AF_BRIDGE (libnl 3.x
 * build_neigh_msg()), and a VXLAN FDB entry without a destination is refused with EINVAL, so
 * the destination is appended to the request libnl built. */
static int fdb_add(struct dp_vxlan *v, int ifindex, const struct calc_fdb *f)
{
	struct rtnl_neigh *n = fdb_build(ifindex, f);
	struct nl_addr *dst = v4(&f->dst, 32);
	struct nl_msg *m = NULL;
	int r = n && dst ? rtnl_neigh_build_add_request(n, NLM_F_CREATE | NLM_F_REPLACE, &m)
			 : -NLE_NOMEM;

	if (r >= 0) {
		r = nla_put_addr(m, NDA_DST, dst);
	}
	if (r >= 0) {
		r = nl_send_auto_complete(v->sk, m);
	}
	if (r >= 0) {
		r = nl_wait_for_ack(v->sk);
	}
	nlmsg_free(m);
	nl_addr_put(dst);
	rtnl_neigh_put(n);
	return nlerr(r);
}

/* The FDB of @ifindex equal to the desired entries. */
static int sync_fdb(struct dp_vxlan *v, int ifindex, unsigned *changed)
{
	struct nl_cache *cache = NULL;
	/* NL_CACHE_AF_ITER: the AF_UNSPEC neighbour dump leaves the bridge family (FDB) out;
	 * libnl then dumps AF_BRIDGE too. */
	int r = nlerr(rtnl_neigh_alloc_cache_flags(v->sk, &cache, NL_CACHE_AF_ITER));
	bool *have = calloc(v->want.n_fdbs + 1, sizeof(bool));

	if (r < 0 || !have) {
		nl_cache_free(cache);
		free(have);
		return r < 0 ? r : -ENOMEM;
	}
	for (struct nl_object *o = nl_cache_get_first(cache); o; o = nl_cache_get_next(o)) {
		struct rtnl_neigh *n = (struct rtnl_neigh *)o;
		if (rtnl_neigh_get_family(n) != AF_BRIDGE || rtnl_neigh_get_ifindex(n) != ifindex) {
			continue;
		}
		struct nl_addr *ll = rtnl_neigh_get_lladdr(n);
		const struct calc_fdb *f = NULL;
		if (ll && nl_addr_get_len(ll) == 6) {
			f = want_fdb(v, nl_addr_get_binary_addr(ll));
		}
		if (f && nl_addr_is(rtnl_neigh_get_dst(n), &f->dst)) {
			have[f - v->want.fdbs] = true;
			continue;
		}
		int q = nlerr(rtnl_neigh_delete(v->sk, n, 0));
		if (q < 0 && q != -ENOENT && q != -ESRCH && r >= 0) {
			r = q;
		}
		(*changed)++;
	}
	nl_cache_free(cache);
	for (size_t i = 0; i < v->want.n_fdbs; i++) {
		if (have[i]) {
			continue;
		}
		int q = fdb_add(v, ifindex, &v->want.fdbs[i]);
		if (q < 0 && r >= 0) {
			r = q;
		}
		(*changed)++;
	}
	free(have);
	return r;
}

static int apply_enabled(struct dp_vxlan *v, unsigned *changed, const char **what)
{
	const struct dp_vxlan_desired *w = &v->want;
	struct rtnl_link *l = NULL;
	uint32_t mtu = w->mtu;
	int r;

	if (!mtu) {
		uint32_t up = uplink_mtu(v->sk, &w->local);
		mtu = up > CALC_VXLAN_OVERHEAD + 68 ? up - CALC_VXLAN_OVERHEAD : 0;
	}
	r = rtnl_link_get_kernel(v->sk, 0, CALC_VXLAN_IFNAME, &l);
	if (r >= 0 && !link_matches(l, w)) {
		log_info("%s: parameters differ, re-creating it", CALC_VXLAN_IFNAME);
		*what = "deleting the device";
		r = nlerr(rtnl_link_delete(v->sk, l));
		rtnl_link_put(l);
		l = NULL;
		if (r < 0) {
			return r;
		}
		r = -NLE_NODEV;
	}
	if (r < 0) {
		*what = "creating the device";
		r = link_create(v, mtu);
		if (r < 0) {
			return r;
		}
		log_info("created %s (VNI %d, port %d, MTU %u)", CALC_VXLAN_IFNAME, CALC_VXLAN_VNI,
			 CALC_VXLAN_PORT, mtu);
		(*changed)++;
		r = nlerr(rtnl_link_get_kernel(v->sk, 0, CALC_VXLAN_IFNAME, &l));
		if (r < 0) {
			return r;
		}
	}
	int ifindex = rtnl_link_get_ifindex(l);
	struct nl_addr *mac = rtnl_link_get_addr(l);
	bool mac_ok = mac && nl_addr_get_len(mac) == 6 &&
		      memcmp(nl_addr_get_binary_addr(mac), w->mac, 6) == 0;
	bool mtu_ok = !mtu || rtnl_link_get_mtu(l) == mtu;
	bool up_ok = (rtnl_link_get_flags(l) & IFF_UP) != 0;
	if (!mac_ok || !mtu_ok || !up_ok) {
		struct rtnl_link *c = rtnl_link_alloc();
		struct nl_addr *m = nl_addr_build(AF_LLC, w->mac, 6);
		r = -ENOMEM;
		if (c && m) {
			if (!mac_ok) {
				rtnl_link_set_addr(c, m);
			}
			if (!mtu_ok) {
				rtnl_link_set_mtu(c, mtu);
			}
			rtnl_link_set_flags(c, IFF_UP);
			*what = "changing the device";
			r = nlerr(rtnl_link_change(v->sk, l, c, 0));
		}
		nl_addr_put(m);
		rtnl_link_put(c);
		(*changed)++;
	}
	rtnl_link_put(l);
	if (r < 0) {
		return r;
	}
	*what = "setting the tunnel address";
	r = sync_addrs(v, ifindex);
	if (r < 0) {
		return r;
	}
	*what = "writing the FDB";
	return sync_fdb(v, ifindex, changed);
}

static int64_t vx_apply(void *d, uint64_t now_ms, struct dp_stats *st)
{
	struct dp_vxlan *v = d;
	unsigned changed = 0;
	const char *what = "";
	int r = 0;

	if (!v->have_want) {
		return DP_IDLE;
	}
	if (v->want.enabled) {
		r = apply_enabled(v, &changed, &what);
	} else {
		struct rtnl_link *l = NULL;
		if (rtnl_link_get_kernel(v->sk, 0, CALC_VXLAN_IFNAME, &l) >= 0) {
			what = "deleting the device";
			r = nlerr(rtnl_link_delete(v->sk, l));
			rtnl_link_put(l);
			if (r >= 0) {
				log_info("deleted %s: no VXLAN pool selects this node",
					 CALC_VXLAN_IFNAME);
				changed++;
			}
		}
	}
	st->applies++;
	st->objects_changed += changed;
	st->last_error = r < 0 ? r : 0;
	st->in_sync = r >= 0;
	st->pending = r < 0;
	if (r < 0) {
		st->errors++;
		snprintf(st->error, sizeof(st->error), "%s %s: %s", CALC_VXLAN_IFNAME, what,
			 strerror(-r));
		log_warn("%s, will retry", st->error);
		return DP_VXLAN_RETRY_MS;
	}
	st->error[0] = '\0';
	st->last_ok_ms = now_ms;
	return DP_IDLE;
}

static void vx_queue_resync(void *d)
{
}

static void vx_free(void *d)
{
	struct dp_vxlan *v = d;
	if (!v) {
		return;
	}
	free((void *)v->want.fdbs);
	nl_socket_free(v->sk);
	free(v);
}

const struct dp_driver_ops dp_vxlan_ops = {
    .name = "vxlan",
    .apply = vx_apply,
    .queue_resync = vx_queue_resync,
    .free = vx_free,
};
