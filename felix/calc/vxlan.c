/* SPDX-License-Identifier: Apache-2.0 */
/*
 * DOC: felix calculation: VXLAN routes, neighbours and FDB entries (pure)
 *
 * Calico's VXLAN route resolver (felix's vxlan manager, "Configuring VXLAN" in the Calico docs):
 * a host whose pools ask for vxlanMode Always or CrossSubnet reaches every remote block over one
 * VXLAN device, "<block> via <remote tunnel addr> dev vxlan.tabby onlink", with a static
 * neighbour entry (tunnel addr -> remote VTEP MAC) and a static FDB entry (MAC -> remote node
 * address), so the kernel never floods or learns. Blocks come from the IPAM block affinities
 * and VTEPs from the remote Nodes' ipv4VXLANTunnelAddr/vxlanTunnelMACAddr: no BGP is needed.
 * CrossSubnet encapsulates only towards nodes outside our own subnet (Node ipv4Address prefix).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "acl/selector.h"
#include "felix/calc/calc-internal.h"
#include "model/model.h"
#include "lib/array.h"

static bool vx_parse_mac(const char *s, uint8_t mac[static 6])
{
	unsigned b[6];
	char tail;

	if (!s || sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%c", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5],
			 &tail) != 6)
		return false;
	for (int i = 0; i < 6; i++)
		mac[i] = (uint8_t)b[i];
	return true;
}

/* Does @pool's nodeSelector select @node (NULL: no Node yet, only all() selects)? */
static bool pool_selects(const struct model_ippool *pool, const struct model_resource *node)
{
	_cleanup_(sel_freep) struct sel *s = NULL;

	if (!pool->node_selector || strcmp(pool->node_selector, "all()") == 0)
		return true;
	if (!node || sel_parse(pool->node_selector, &s, NULL) < 0)
		return false;
	return sel_match(s, &node->meta.labels);
}

/* FelixConfiguration vxlanMTU of @name (stored as an accepted setting in extra_spec). */
static uint32_t felix_vxlan_mtu(const struct calc_cache *c, const char *name)
{
	const struct model_resource *fc = calc_cache_get_named(c, "felixconfigurations", name);
	uint32_t mtu = 0;

	if (!fc || !fc->extra_spec)
		return 0;
	struct json_object *o = json_tokener_parse(fc->extra_spec), *v;
	if (o && json_object_object_get_ex(o, "vxlanMTU", &v) &&
	    json_object_is_type(v, json_type_int)) {
		int64_t x = json_object_get_int64(v);
		if (x >= 68 && x <= 65535)
			mtu = (uint32_t)x;
	}
	json_object_put(o);
	return mtu;
}

/* The VXLAN mode of the pool holding @block, or Never. */
static enum model_encap block_mode(const struct calc_cache *c, const struct ip_prefix *block)
{
	const struct entry *e;
	CACHE_FOR_EACH (c, e) {
		if (e->kind == ENTRY_POOL && e->res &&
		    e->res->ippool.cidr.addr.family == block->addr.family &&
		    ip_prefix_contains(&e->res->ippool.cidr, block))
			return model_ippool_vxlan_mode(&e->res->ippool);
	}
	return MODEL_ENCAP_NEVER;
}

static int vx_neigh_cmp(const void *a, const void *b)
{
	const struct calc_neigh *x = a, *y = b;
	int d = strcmp(x->ifname, y->ifname);

	return d ? d : ip_addr_cmp(&x->addr, &y->addr);
}

static int fdb_cmp(const void *a, const void *b)
{
	const struct calc_fdb *x = a, *y = b;

	return memcmp(x->mac, y->mac, 6);
}

/* This node's own VXLAN settings into d->vxlan. */
static int local_state(const struct calc_cache *c, const char *me,
		       const struct model_resource *my_node, struct calc_vxlan *vx)
{
	const struct entry *e;
	CACHE_FOR_EACH (c, e) {
		if (e->kind != ENTRY_POOL || !e->res)
			continue;
		const struct model_ippool *p = &e->res->ippool;
		if (p->cidr.addr.family != AF_INET ||
		    model_ippool_vxlan_mode(p) == MODEL_ENCAP_NEVER || !pool_selects(p, my_node))
			continue;
		vx->enabled = true;
		if (!vx->pool_name && !p->disabled) {
			vx->pool_name = strdup(e->res->meta.name);
			if (!vx->pool_name)
				return -ENOMEM;
		}
	}
	if (!my_node)
		return 0;
	const struct model_node *n = &my_node->node;
	vx->node_has_addr = n->ipv4_vxlan_tunnel_addr.family != 0 || n->vxlan_tunnel_mac;
	vx->has_mac = vx_parse_mac(n->vxlan_tunnel_mac, vx->mac);
	if (n->ipv4_vxlan_tunnel_addr.family == AF_INET) {
		struct ip_prefix host = ip_prefix_host(&n->ipv4_vxlan_tunnel_addr);
		if (block_mode(c, &host) != MODEL_ENCAP_NEVER)
			vx->addr = n->ipv4_vxlan_tunnel_addr;
	}
	char name[MODEL_NAME_MAX + 8];
	snprintf(name, sizeof(name), "node.%s", me);
	vx->mtu = felix_vxlan_mtu(c, name);
	if (!vx->mtu)
		vx->mtu = felix_vxlan_mtu(c, "default");
	return 0;
}

int calc_vxlan_compute(const struct calc_cache *c, const char *me, struct calc_desired *d)
{
	const struct model_resource *my_node = calc_cache_get_named(c, "nodes", me);
	struct calc_vxlan *vx = &d->vxlan;
	struct calc_route *routes = NULL;
	size_t n_routes = 0, cap_routes = 0, cap_neigh = d->n_neighs, cap_fdb = 0;
	int r = local_state(c, me, my_node, vx);

	if (r < 0 || !vx->enabled || !my_node || !my_node->node.has_ipv4)
		return r;
	const struct ip_prefix my_subnet = ip_prefix_mask(my_node->node.ipv4_address);

	const struct entry *e;
	for (struct cache_it it = {0, 0}; r >= 0 && (e = cache_it_next(c, &it)) != NULL;) {
		if (e->kind != ENTRY_BLOCK || e->block->deleted || !e->block->affinity ||
		    strncmp(e->block->affinity, "host:", 5) != 0 ||
		    strcmp(e->block->affinity + 5, me) == 0)
			continue;
		enum model_encap mode = block_mode(c, &e->block->cidr);
		if (mode == MODEL_ENCAP_NEVER)
			continue;
		const struct model_resource *rn =
		    calc_cache_get_named(c, "nodes", e->block->affinity + 5);
		uint8_t mac[6];
		if (!rn || !rn->node.has_ipv4 ||
		    rn->node.ipv4_vxlan_tunnel_addr.family != AF_INET ||
		    !vx_parse_mac(rn->node.vxlan_tunnel_mac, mac))
			continue;
		const struct model_node *n = &rn->node;
		if (mode == MODEL_ENCAP_CROSS_SUBNET &&
		    ip_prefix_contains_addr(&my_subnet, &n->ipv4_address.addr))
			continue; /* same subnet: routed by BGP, no encapsulation */
		struct calc_route key = {.dst = e->block->cidr};
		if (array_find(&key, d->routes, d->n_routes, sizeof(*d->routes), calc_prefix_cmp))
			continue; /* a local route claims it */
		r = calc_grow(&routes, n_routes, &cap_routes, sizeof(*routes));
		if (r < 0)
			break;
		routes[n_routes] = (struct calc_route){.dst = e->block->cidr,
						       .gateway = n->ipv4_vxlan_tunnel_addr};
		snprintf(routes[n_routes].ifname, IFNAMSIZ, "%s", CALC_VXLAN_IFNAME);
		n_routes++;

		r = calc_grow(&d->neighs, d->n_neighs, &cap_neigh, sizeof(*d->neighs));
		if (r < 0)
			break;
		struct calc_neigh *nb = &d->neighs[d->n_neighs++];
		*nb = (struct calc_neigh){.addr = n->ipv4_vxlan_tunnel_addr};
		memcpy(nb->mac, mac, 6);
		snprintf(nb->ifname, IFNAMSIZ, "%s", CALC_VXLAN_IFNAME);

		r = calc_grow(&vx->fdbs, vx->n_fdbs, &cap_fdb, sizeof(*vx->fdbs));
		if (r < 0)
			break;
		vx->fdbs[vx->n_fdbs] = (struct calc_fdb){.dst = n->ipv4_address.addr};
		memcpy(vx->fdbs[vx->n_fdbs].mac, mac, 6);
		vx->n_fdbs++;
	}
	if (r >= 0 && n_routes) {
		struct calc_route *all =
		    realloc(d->routes, (d->n_routes + n_routes) * sizeof(*d->routes));
		if (!all) {
			r = -ENOMEM;
		} else {
			memcpy(all + d->n_routes, routes, n_routes * sizeof(*routes));
			d->routes = all;
			d->n_routes += n_routes;
			/* block dsts are unique keys of the cache: no duplicates to drop */
			qsort(d->routes, d->n_routes, sizeof(*d->routes), calc_prefix_cmp);
		}
	}
	free(routes);
	if (r < 0)
		return r;
	/* Several blocks of one node share its neighbour and FDB entry: keep one of each. */
	array_sort(d->neighs, d->n_neighs, sizeof(*d->neighs), vx_neigh_cmp);
	size_t w = 0;
	for (size_t i = 0; i < d->n_neighs; i++) {
		if (w && vx_neigh_cmp(&d->neighs[w - 1], &d->neighs[i]) == 0)
			continue;
		d->neighs[w++] = d->neighs[i];
	}
	d->n_neighs = w;
	if (vx->n_fdbs) {
		/* qsort is not stable: the same MAC on two nodes is a misconfiguration, and the
		 * smaller destination wins so that the result stays deterministic */
		qsort(vx->fdbs, vx->n_fdbs, sizeof(*vx->fdbs), fdb_cmp);
		w = 0;
		for (size_t i = 0; i < vx->n_fdbs; i++) {
			if (w && fdb_cmp(&vx->fdbs[w - 1], &vx->fdbs[i]) == 0) {
				if (ip_addr_cmp(&vx->fdbs[i].dst, &vx->fdbs[w - 1].dst) < 0)
					vx->fdbs[w - 1] = vx->fdbs[i];
				continue;
			}
			vx->fdbs[w++] = vx->fdbs[i];
		}
		vx->n_fdbs = w;
	}
	return 0;
}
