/* SPDX-License-Identifier: Apache-2.0 */
/*
 * DOC: felix calculation: desired routes and neighbours (pure)
 *
 * Calico's route resolver for this host: every local WorkloadEndpoint's addresses as host routes
 * on its veth (with a permanent neighbour entry when it has a MAC), and a blackhole for every
 * IPAM block affine to this host. Recomputed from the cache on every pass.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "felix/calc/calc-internal.h"
#include "model/model.h"
#include "lib/array.h"

static int parse_mac(const char *s, uint8_t mac[static 6])
{
	unsigned b[6];
	char tail;
	if (!s || sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%c", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5],
			 &tail) != 6) {
		return -EINVAL;
	}
	for (int i = 0; i < 6; i++) {
		mac[i] = (uint8_t)b[i];
	}
	return 0;
}

/* Only interfaces with our prefix are ever programmed: a WorkloadEndpoint naming "eth0" must not
 * make felix route workload addresses to the uplink or rewrite its sysctls. */
static bool workload_ifname_ok(const char *s)
{
	size_t n = s ? strlen(s) : 0;
	return n > 3 && n < IFNAMSIZ && strncmp(s, "tby", 3) == 0 && !strchr(s, '/');
}

struct route_item {
	struct calc_route r;
	size_t order; /* source order (key order): the first claim of a dst wins */
};

static int route_item_cmp(const void *a, const void *b)
{
	const struct route_item *x = a, *y = b;
	int d = ip_prefix_cmp(&x->r.dst, &y->r.dst);
	if (d) {
		return d;
	}
	return x->order < y->order ? -1 : x->order > y->order;
}

static int neigh_cmp(const void *a, const void *b)
{
	const struct calc_neigh *x = a, *y = b;
	int d = strcmp(x->ifname, y->ifname);
	return d ? d : ip_addr_cmp(&x->addr, &y->addr);
}

static int ifname_cmp(const void *a, const void *b)
{
	return strcmp(a, b);
}

int calc_routes_compute(const struct calc_cache *c, const char *me, struct calc_desired *d)
{
	struct route_item *items = NULL;
	size_t n_items = 0, cap_items = 0, cap_neigh = 0, cap_if = 0;
	int r = 0;

	const struct entry *e;
	size_t order = 0; /* the entry's position in the cache (key order) */
	for (struct cache_it it = {0, 0}; r >= 0 && (e = cache_it_next(c, &it)) != NULL; order++) {
		if (e->kind == ENTRY_BLOCK) {
			if (e->block->deleted || !ipam_block_is_affine_to(e->block, me)) {
				continue;
			}
			r = calc_grow(&items, n_items, &cap_items, sizeof(*items));
			if (r < 0) {
				break;
			}
			items[n_items++] = (struct route_item){
			    .r = {.dst = e->block->cidr, .blackhole = true}, .order = order};
			continue;
		}
		if (e->kind != ENTRY_WEP || e->trimmed) {
			continue; /* trimmed: a remote endpoint (cache.c) */
		}
		const struct model_workload_endpoint *w = &e->res->wep;
		if (!w->node || strcmp(w->node, me) != 0 ||
		    !workload_ifname_ok(w->interface_name)) {
			continue;
		}
		uint8_t mac[6];
		bool has_mac = parse_mac(w->mac, mac) >= 0;
		bool any = false;
		for (size_t k = 0; k < w->n_ip_networks && k < MODEL_MAX_IP_NETWORKS; k++) {
			struct ip_prefix p = ip_prefix_mask(w->ip_networks[k]);
			r = calc_grow(&items, n_items, &cap_items, sizeof(*items));
			if (r < 0) {
				break;
			}
			items[n_items] = (struct route_item){.r = {.dst = p}, .order = order};
			snprintf(items[n_items].r.ifname, IFNAMSIZ, "%s", w->interface_name);
			n_items++;
			any = true;
			if (has_mac && p.len == ip_addr_bits(p.addr.family)) {
				r = calc_grow(&d->neighs, d->n_neighs, &cap_neigh,
					      sizeof(*d->neighs));
				if (r < 0) {
					break;
				}
				struct calc_neigh *nb = &d->neighs[d->n_neighs++];
				*nb = (struct calc_neigh){.addr = p.addr};
				memcpy(nb->mac, mac, 6);
				snprintf(nb->ifname, IFNAMSIZ, "%s", w->interface_name);
			}
		}
		if (r >= 0 && any) {
			r = calc_grow(&d->ifaces, d->n_ifaces, &cap_if, sizeof(*d->ifaces));
			if (r >= 0) {
				snprintf(d->ifaces[d->n_ifaces++], IFNAMSIZ, "%s",
					 w->interface_name);
			}
		}
	}
	if (r < 0) {
		free(items);
		return r;
	}

	/* One route per destination: the first claimant in key order wins. */
	if (n_items) {
		qsort(items, n_items, sizeof(*items), route_item_cmp);
		d->routes = calloc(n_items, sizeof(*d->routes));
		if (!d->routes) {
			free(items);
			return -ENOMEM;
		}
		for (size_t i = 0; i < n_items; i++) {
			if (d->n_routes &&
			    ip_prefix_equal(&d->routes[d->n_routes - 1].dst, &items[i].r.dst)) {
				continue;
			}
			d->routes[d->n_routes++] = items[i].r;
		}
	}
	free(items);

	/* Neighbours only for addresses whose route we kept on that same interface. */
	if (d->n_neighs) {
		qsort(d->neighs, d->n_neighs, sizeof(*d->neighs), neigh_cmp);
		size_t w = 0;
		for (size_t i = 0; i < d->n_neighs; i++) {
			const struct calc_neigh *nb = &d->neighs[i];
			if (w && strcmp(d->neighs[w - 1].ifname, nb->ifname) == 0 &&
			    ip_addr_equal(&d->neighs[w - 1].addr, &nb->addr)) {
				continue;
			}
			struct ip_prefix host = ip_prefix_host(&nb->addr);
			struct calc_route key = {.dst = host};
			const struct calc_route *rt = array_find(
			    &key, d->routes, d->n_routes, sizeof(*d->routes), calc_prefix_cmp);
			if (!rt || rt->blackhole || strcmp(rt->ifname, nb->ifname) != 0) {
				continue;
			}
			d->neighs[w++] = *nb;
		}
		d->n_neighs = w;
	}
	if (d->n_ifaces) {
		qsort(d->ifaces, d->n_ifaces, sizeof(*d->ifaces), ifname_cmp);
		size_t w = 0;
		for (size_t i = 0; i < d->n_ifaces; i++) {
			if (w && strcmp(d->ifaces[w - 1], d->ifaces[i]) == 0) {
				continue;
			}
			memmove(d->ifaces[w++], d->ifaces[i], IFNAMSIZ);
		}
		d->n_ifaces = w;
	}
	return 0;
}
