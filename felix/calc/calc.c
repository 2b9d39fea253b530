/* SPDX-License-Identifier: Apache-2.0 */
/*
 * DOC: felix calculation: one pass (pure)
 *
 * calc_compute() runs the calculators over the cache (felix/calc/cache.c): routes.c for the
 * routes, neighbours and interfaces, bgp.c for the BGP model. Each pass recomputes the whole
 * desired state from the cache (STYLE.md section 5.3: no "last good output"); the policy
 * calculators (policy.c, policy-inc.c) run separately. Also the text form of the result, and
 * helpers the calculators share (calc-internal.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "felix/calc/calc-internal.h"

/* A growable array: @pv points at the array pointer, @n/@cap counts, @size element size. */
int calc_compute(const struct calc_cache *c, const struct calc_options *o, struct calc_desired *ret)
{
	struct calc_desired d = {0};
	int r;

	if (!o || !o->node_name || !o->node_name[0]) {
		return -EINVAL;
	}
	r = calc_routes_compute(c, o->node_name, &d);
	if (r >= 0) {
		r = calc_vxlan_compute(c, o->node_name, &d);
	}
	if (r >= 0) {
		r = calc_bgp_compute(c, o, &d);
	}
	if (r < 0) {
		calc_desired_done(&d);
		return r;
	}
	*ret = d;
	return 0;
}

void calc_desired_done(struct calc_desired *d)
{
	if (!d) {
		return;
	}
	free(d->routes);
	free(d->neighs);
	free(d->ifaces);
	free(d->bgp.pools);
	free(d->bgp.blocks);
	free(d->bgp.vxlan_pools);
	free(d->bgp.peers);
	free(d->bgp_node_name);
	free(d->bgp_log_file);
	for (size_t i = 0; i < d->n_bgp_strs; i++) {
		/* some of them are passwords */
		explicit_bzero(d->bgp_strs[i], strlen(d->bgp_strs[i]));
		free(d->bgp_strs[i]);
	}
	free(d->bgp_strs);
	free(d->bgp_ignored_ifaces);
	free(d->bgp_pcs);
	free(d->bgp_communities);
	free(d->bgp_services);
	free(d->vxlan.pool_name);
	free(d->vxlan.fdbs);
	*d = (struct calc_desired){0};
}

int calc_desired_format(const struct calc_desired *d, struct strbuf *out)
{
	char a[IP_PREFIX_STRLEN];
	int r = 0;

	for (size_t i = 0; i < d->n_routes && r >= 0; i++) {
		const struct calc_route *rt = &d->routes[i];
		if (rt->blackhole) {
			r = strbuf_printf(out, "route %s blackhole\n",
					  ip_prefix_format(&rt->dst, a));
		} else if (rt->gateway.family) {
			char g[IP_ADDR_STRLEN];
			r = strbuf_printf(out, "route %s via %s dev %s onlink\n",
					  ip_prefix_format(&rt->dst, a),
					  ip_addr_format(&rt->gateway, g), rt->ifname);
		} else {
			r = strbuf_printf(out, "route %s dev %s\n", ip_prefix_format(&rt->dst, a),
					  rt->ifname);
		}
	}
	for (size_t i = 0; i < d->n_neighs && r >= 0; i++) {
		const struct calc_neigh *n = &d->neighs[i];
		r = strbuf_printf(out, "neigh %s %02x:%02x:%02x:%02x:%02x:%02x dev %s\n",
				  ip_addr_format(&n->addr, a), n->mac[0], n->mac[1], n->mac[2],
				  n->mac[3], n->mac[4], n->mac[5], n->ifname);
	}
	for (size_t i = 0; i < d->n_ifaces && r >= 0; i++) {
		r = strbuf_printf(out, "iface %s\n", d->ifaces[i]);
	}
	const struct calc_vxlan *vx = &d->vxlan;
	if (vx->enabled && r >= 0) {
		r = strbuf_printf(out, "vxlan pool %s addr %s", vx->pool_name ? vx->pool_name : "-",
				  vx->addr.family ? ip_addr_format(&vx->addr, a) : "-");
		if (r >= 0 && vx->has_mac) {
			r = strbuf_printf(out, " mac %02x:%02x:%02x:%02x:%02x:%02x", vx->mac[0],
					  vx->mac[1], vx->mac[2], vx->mac[3], vx->mac[4],
					  vx->mac[5]);
		}
		if (r >= 0 && vx->mtu) {
			r = strbuf_printf(out, " mtu %u", vx->mtu);
		}
		if (r >= 0) {
			r = strbuf_puts(out, "\n");
		}
	} else if (vx->node_has_addr && r >= 0) {
		r = strbuf_puts(out, "vxlan off, release tunnel address\n");
	}
	for (size_t i = 0; i < vx->n_fdbs && r >= 0; i++) {
		const struct calc_fdb *f = &vx->fdbs[i];
		r = strbuf_printf(out, "fdb %02x:%02x:%02x:%02x:%02x:%02x dst %s\n", f->mac[0],
				  f->mac[1], f->mac[2], f->mac[3], f->mac[4], f->mac[5],
				  ip_addr_format(&f->dst, a));
	}
	if (!d->has_bgp || r < 0) {
		return r;
	}
	const struct bgp_model *m = &d->bgp;
	char a6[IP_ADDR_STRLEN] = "";
	if (m->local_addr6.family) {
		ip_addr_format(&m->local_addr6, a6);
	}
	r = strbuf_printf(out, "bgp router-id %s as %u%s%s%s%s%s\n",
			  ip_addr_format(&m->router_id, a), m->as_number,
			  m->fast_timers ? " fast-timers" : "",
			  m->rr_cluster_id ? " rr-cluster-id " : "",
			  m->rr_cluster_id ? m->rr_cluster_id : "", *a6 ? " ipv6 " : "", a6);
	for (size_t i = 0; i < m->n_pools && r >= 0; i++) {
		r = strbuf_printf(out, "bgp pool %s\n", ip_prefix_format(&m->pools[i], a));
	}
	for (size_t i = 0; i < m->n_blocks && r >= 0; i++) {
		r = strbuf_printf(out, "bgp block %s\n", ip_prefix_format(&m->blocks[i], a));
	}
	for (size_t i = 0; i < m->n_peers && r >= 0; i++) {
		const struct bgp_peer *p = &m->peers[i];
		static const char *const type[_BGP_PEER_TYPE_MAX] = {[BGP_PEER_MESH] = "mesh",
								     [BGP_PEER_GLOBAL] = "global",
								     [BGP_PEER_NODE] = "node"};
		r = strbuf_printf(out, "bgp peer %s", ip_addr_format(&p->addr, a));
		if (r >= 0 && p->port) {
			r = strbuf_printf(out, " port %u", (unsigned)p->port);
		}
		/* The password itself is never printed. */
		if (r >= 0) {
			r = strbuf_printf(
			    out, "%s as %u %s%s%s%s%s%s\n", "", p->as_number,
			    p->type >= 0 && p->type < _BGP_PEER_TYPE_MAX ? type[p->type] : "?",
			    p->passive ? " passive" : "", p->rr_client ? " rr-client" : "",
			    p->password ? " md5" : "", p->password_file ? " md5-file" : "",
			    p->bfd ? " bfd" : "");
		}
	}
	return r;
}
