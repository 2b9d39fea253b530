/* SPDX-License-Identifier: Apache-2.0 */
/*
 * DOC: felix calculation: the BGP model (pure)
 *
 * This host's bird.conf model (bgp/bird-conf.h) from the cache: router id, AS, pools and blocks
 * to export, and the sessions: the node-to-node mesh or the route-reflector topology, BGPPeers
 * (peerIP, or nodeSelector/peerSelector as Calico selectors via acl/selector.h, with reverse
 * peering), passwords from cached secrets, and per-node BGPConfiguration overrides. The rules
 * are in calc.h above calc_desired_done(). One session per neighbour address and port.
 *
 * Dual stack (issue 9): every session between two tabby nodes exists once per family, IPv4
 * between their ipv4Address and IPv6 between their ipv6Address, when both nodes have one. Each
 * session carries its own family only (bgp/bird-conf.c), as Calico's confd renders bird.cfg and
 * bird6.cfg: the IPv6 routes never need an IPv4 next hop.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "acl/selector.h"
#include "felix/calc/calc-internal.h"
#include "model/model.h"

enum {
	/* Which source wins when two give a session to the same neighbour. */
	PRIO_MESH,
	PRIO_RR,
	PRIO_BGPPEER,
};

struct peer_item {
	struct bgp_peer p;
	int prio;
	size_t order;
};

struct bgp_ctx {
	const struct calc_cache *c;
	const struct model_resource *me;
	struct calc_desired *d;
	uint32_t cluster_as;
	const char *my_cluster;
	struct peer_item *items;
	size_t n_items, cap_items;
};

static int str_keep(struct calc_desired *d, const char *s, const char **ret)
{
	if (!s) {
		*ret = NULL;
		return 0;
	}
	int r = calc_grow(&d->bgp_strs, d->n_bgp_strs, &d->cap_bgp_strs, sizeof(*d->bgp_strs));
	if (r < 0) {
		return r;
	}
	char *dup = strdup(s);
	if (!dup) {
		return -ENOMEM;
	}
	d->bgp_strs[d->n_bgp_strs++] = dup;
	*ret = dup;
	return 0;
}

static bool node_v4(const struct model_resource *n, struct ip_addr *ret)
{
	if (!n->node.has_ipv4 || n->node.ipv4_address.addr.family != AF_INET) {
		return false;
	}
	*ret = n->node.ipv4_address.addr;
	return true;
}

/* The session address of node @n in @family: spec.bgp.ipv4Address, or spec.bgp.ipv6Address
 * when this node has one too (IPv6 sessions run between the nodes' IPv6 addresses only, so a
 * node without one takes part in none). */
static bool node_addr(const struct bgp_ctx *x, const struct model_resource *n, int family,
		      struct ip_addr *ret)
{
	if (family == AF_INET) {
		return node_v4(n, ret);
	}
	if (!x->d->bgp.local_addr6.family || !n->node.has_ipv6 ||
	    n->node.ipv6_address.addr.family != AF_INET6) {
		return false;
	}
	*ret = n->node.ipv6_address.addr;
	return true;
}

/* Both session families, IPv4 first (DESIGN.md "BGP": separate IPv6 sessions). */
static const int node_families[] = {AF_INET, AF_INET6};

static const char *node_cluster(const struct model_resource *n)
{
	const char *id = n->node.rr_cluster_id;
	return id && *id ? id : NULL;
}

/* A session with another tabby node over @family: its AS, one passive side (the higher address waits), and
 * "rr client" when we reflect and it is not a reflector of our cluster (Calico). */
static struct bgp_peer node_peer(const struct bgp_ctx *x, const struct model_resource *n,
				 enum bgp_peer_type type, int family)
{
	const struct bgp_model *m = &x->d->bgp;
	struct bgp_peer p = {.type = type};
	node_addr(x, n, family, &p.addr);
	p.as_number = n->node.as_number ? n->node.as_number : x->cluster_as;
	p.passive = ip_addr_cmp(&p.addr, family == AF_INET6 ? &m->local_addr6 : &m->local_addr) < 0;
	const char *theirs = node_cluster(n);
	p.rr_client = x->my_cluster && (!theirs || strcmp(theirs, x->my_cluster) != 0) &&
		      p.as_number == m->as_number;
	return p;
}

/* The password of secretKeyRef {name, key}. Return 1 found, 0 none configured, -ENOENT. */
static int password_lookup(const struct bgp_ctx *x, const struct model_bgp_password *pw,
			   const char **ret)
{
	if (!pw->secret_name) {
		return 0;
	}
	const char *v =
	    pw->secret_key ? calc_cache_secret(x->c, pw->secret_name, pw->secret_key) : NULL;
	if (!v) {
		return -ENOENT;
	}
	*ret = v;
	return 1;
}

/* Fill @p's password fields from @pw. Return 0, -ENOENT (secret missing) or -ENOMEM. */
static int peer_set_password(struct bgp_ctx *x, struct bgp_peer *p,
			     const struct model_bgp_password *pw)
{
	const char *val = NULL;
	int r = password_lookup(x, pw, &val);
	if (r < 0) {
		return r;
	}
	if (r > 0) {
		r = str_keep(x->d, val, &p->password);
		if (r < 0) {
			return r;
		}
	}
	if (pw->file && !pw->secret_name) {
		return str_keep(x->d, pw->file, &p->password_file);
	}
	return 0;
}

static int peer_add(struct bgp_ctx *x, const struct bgp_peer *p, int prio)
{
	if (!ip_addr_bits(p->addr.family) || ip_addr_equal(&p->addr, &x->d->bgp.local_addr) ||
	    (x->d->bgp.local_addr6.family && ip_addr_equal(&p->addr, &x->d->bgp.local_addr6))) {
		return 0;
	}
	int r = calc_grow(&x->items, x->n_items, &x->cap_items, sizeof(*x->items));
	if (r < 0) {
		return r;
	}
	x->items[x->n_items] = (struct peer_item){.p = *p, .prio = prio, .order = x->n_items};
	x->n_items++;
	return 0;
}

/* A BGPPeer's session options onto @p. Return 0, -ENOENT (its secret is missing), -ENOMEM. */
static int peer_apply_spec(struct bgp_ctx *x, struct bgp_peer *p, const struct model_bgp_peer *bp)
{
	p->keepalive_s = bp->keepalive_time_s <= 65535 ? bp->keepalive_time_s : 0;
	p->hold_s = bp->hold_time_s >= 3 && bp->hold_time_s <= 65535 ? bp->hold_time_s : 0;
	p->gr_time_s = bp->max_restart_time_s <= 65535 ? bp->max_restart_time_s : 0;
	p->ttl_security = bp->ttl_security;
	p->no_source_addr = bp->source_address && strcmp(bp->source_address, "None") == 0;
	if (bp->keep_original_next_hop || bp->next_hop_mode == MODEL_NEXT_HOP_KEEP) {
		p->next_hop = BGP_NEXT_HOP_KEEP;
	} else if (bp->next_hop_mode == MODEL_NEXT_HOP_SELF) {
		p->next_hop = BGP_NEXT_HOP_SELF;
	}
	p->local_as = bp->local_as_number;
	/* BIRD: "Only internal neighbor can be RR client". */
	if (p->local_as && p->local_as != p->as_number) {
		p->rr_client = false;
	}
	p->allow_local_as = bp->num_allowed_local_as_numbers;
	p->bfd = bp->bfd_enabled;
	p->bfd_interval_ms = bp->bfd_interval_ms;
	p->bfd_multiplier = bp->bfd_multiplier <= 255 ? bp->bfd_multiplier : 0;
	return peer_set_password(x, p, &bp->password);
}

/* A BGPPeer selector (Calico syntax, acl/selector.h), parsed once per calculation and then
 * matched against every Node's labels. NULL @text gives NULL (not set).
 * Return: 0, -EINVAL (does not parse) or -ENOMEM. */
static int bgppeer_selector(const char *text, struct sel **ret)
{
	if (!text) {
		*ret = NULL;
		return 0;
	}
	return sel_parse(text, ret, NULL);
}

/* Does BGPPeer @bp, whose parsed nodeSelector is @nodesel, apply to node @n (spec.node, else
 * spec.nodeSelector, else everyone)? */
static bool bgppeer_applies(const struct model_bgp_peer *bp, const struct sel *nodesel,
			    const struct model_resource *n)
{
	if (bp->node) {
		return strcmp(bp->node, n->meta.name) == 0;
	}
	if (nodesel) {
		return sel_match(nodesel, &n->meta.labels);
	}
	return true;
}

/* The session BGPPeer @bp makes with Node @n over family @fam (@peer_as: the BGPPeer's
 * asNumber, when set, replaces the node's; not for reverse peering, where the far end is us).
 * A peer whose password secret is missing is counted in bgp_skipped_peers and skipped.
 * Return: 0, or a negative errno from peer_apply_spec()/peer_add(). */
static int bgppeer_node_session(struct bgp_ctx *x, const struct model_bgp_peer *bp,
				const struct model_resource *n, enum bgp_peer_type type, int fam,
				bool peer_as)
{
	struct bgp_peer p = node_peer(x, n, type, fam);
	if (peer_as && bp->as_number) {
		p.as_number = bp->as_number;
		p.rr_client = p.rr_client && p.as_number == x->d->bgp.as_number;
	}
	int r = peer_apply_spec(x, &p, bp);
	if (r == -ENOENT) {
		x->d->bgp_skipped_peers++;
		return 0;
	}
	if (r < 0 || (r = peer_add(x, &p, PRIO_BGPPEER)) < 0) {
		return r;
	}
	return 0;
}

static int add_bgppeer(struct bgp_ctx *x, const struct model_bgp_peer *bp)
{
	_cleanup_(sel_freep) struct sel *nodesel = NULL, *peersel = NULL;
	enum bgp_peer_type type = bp->node || bp->node_selector ? BGP_PEER_NODE : BGP_PEER_GLOBAL;
	bool reverse = !bp->reverse_peering || strcmp(bp->reverse_peering, "Manual") != 0;
	const struct calc_cache *c = x->c;
	int r;

	/* Decoding already rejects a BGPPeer whose selector does not parse (model_selector_check),
	 * so -EINVAL is defensive: such a BGPPeer selects nothing and counts as skipped. */
	r = bgppeer_selector(bp->node_selector, &nodesel);
	if (r >= 0) {
		r = bgppeer_selector(bp->peer_selector, &peersel);
	}
	if (r == -EINVAL) {
		x->d->bgp_skipped_peers++;
		return 0;
	}
	if (r < 0) {
		return r;
	}
	if (bgppeer_applies(bp, nodesel, x->me)) {
		if (bp->has_peer_ip && bp->as_number) {
			struct bgp_peer p = {.type = type,
					     .addr = bp->peer_ip,
					     .port = bp->peer_port,
					     .as_number = bp->as_number};
			r = peer_apply_spec(x, &p, bp);
			if (r == -ENOENT) {
				x->d->bgp_skipped_peers++;
			} else if (r < 0 || (r = peer_add(x, &p, PRIO_BGPPEER)) < 0) {
				return r;
			}
		}
		const struct entry *e;
		CACHE_FOR_EACH (c, e) {
			for (size_t f = 0; peersel && f < ELEMENTSOF(node_families); f++) {
				int fam = node_families[f];
				const struct model_resource *n = e->res;
				struct ip_addr a;
				if (e->kind != ENTRY_NODE || n == x->me ||
				    !node_addr(x, n, fam, &a) ||
				    !sel_match(peersel, &n->meta.labels)) {
					continue;
				}
				r = bgppeer_node_session(x, bp, n, type, fam, true);
				if (r < 0) {
					return r;
				}
			}
		}
	}
	/* Reverse peering: we are a target of the peerSelector; peer back with every node the
	 * BGPPeer applies to, so that both ends configure the session. */
	if (!reverse || !peersel || !sel_match(peersel, &x->me->meta.labels)) {
		return 0;
	}
	const struct entry *e;
	CACHE_FOR_EACH (c, e) {
		for (size_t f = 0; f < ELEMENTSOF(node_families); f++) {
			int fam = node_families[f];
			const struct model_resource *n = e->res;
			struct ip_addr a;
			if (e->kind != ENTRY_NODE || n == x->me || !node_addr(x, n, fam, &a) ||
			    !bgppeer_applies(bp, nodesel, n)) {
				continue;
			}
			r = bgppeer_node_session(x, bp, n, type, fam, false);
			if (r < 0) {
				return r;
			}
		}
	}
	return 0;
}

/* Node-to-node sessions: the full mesh, or (mesh disabled) the route-reflector topology given
 * by the Nodes' cluster ids. */
static int add_node_peers(struct bgp_ctx *x, const struct model_bgp_configuration *def, bool mesh)
{
	const struct calc_cache *c = x->c;
	bool any_rr = false;
	const struct entry *e;
	CACHE_FOR_EACH (c, e) {
		if (e->kind == ENTRY_NODE && node_cluster(e->res)) {
			any_rr = true;
		}
	}
	if (!mesh && !any_rr) {
		return 0;
	}
	CACHE_FOR_EACH (c, e) {
		for (size_t f = 0; f < ELEMENTSOF(node_families); f++) {
			int fam = node_families[f];
			const struct model_resource *n = e->res;
			struct ip_addr a;
			if (e->kind != ENTRY_NODE || n == x->me || !node_addr(x, n, fam, &a)) {
				continue;
			}
			struct bgp_peer p;
			int prio = PRIO_MESH;
			if (mesh) {
				p = node_peer(x, n, BGP_PEER_MESH, fam);
				p.rr_client = false;
			} else {
				if (!x->my_cluster && !node_cluster(n)) {
					continue; /* two clients do not peer */
				}
				p = node_peer(x, n, BGP_PEER_NODE, fam);
				prio = PRIO_RR;
			}
			if (def) {
				p.gr_time_s = def->node_mesh_max_restart_time_s <= 65535
						  ? def->node_mesh_max_restart_time_s
						  : 0;
				int r = peer_set_password(x, &p, &def->node_mesh_password);
				if (r == -ENOENT) {
					x->d->bgp_skipped_peers++;
					continue;
				}
				if (r < 0) {
					return r;
				}
			}
			int r = peer_add(x, &p, prio);
			if (r < 0) {
				return r;
			}
		}
	}
	return 0;
}

static int peer_item_cmp(const void *a, const void *b)
{
	const struct peer_item *x = a, *y = b;
	int d = ip_addr_cmp(&x->p.addr, &y->p.addr);
	if (d) {
		return d;
	}
	unsigned px = x->p.port == 179 ? 0 : x->p.port, py = y->p.port == 179 ? 0 : y->p.port;
	if (px != py) {
		return px < py ? -1 : 1;
	}
	if (x->prio != y->prio) {
		return x->prio > y->prio ? -1 : 1;
	}
	return x->order < y->order ? -1 : x->order > y->order;
}

/* Communities of a BGPConfiguration's prefixAdvertisements: names resolve through its
 * communities list, anything else must be a literal "aa:nn" / "aa:nn:mm"; unknown ones are
 * skipped. */
static int add_communities(struct calc_desired *d, const struct model_bgp_configuration *cfg)
{
	struct bgp_model *m = &d->bgp;
	size_t total = 0;
	if (!cfg || cfg->n_prefix_advertisements == 0) {
		return 0;
	}
	for (size_t i = 0; i < cfg->n_prefix_advertisements; i++) {
		total += cfg->prefix_advertisements[i].n_communities;
	}
	d->bgp_pcs = calloc(cfg->n_prefix_advertisements, sizeof(*d->bgp_pcs));
	d->bgp_communities = calloc(total ? total : 1, sizeof(*d->bgp_communities));
	if (!d->bgp_pcs || !d->bgp_communities) {
		return -ENOMEM;
	}
	size_t used = 0;
	for (size_t i = 0; i < cfg->n_prefix_advertisements; i++) {
		const struct model_prefix_advertisement *pa = &cfg->prefix_advertisements[i];
		struct bgp_prefix_communities *pc = &d->bgp_pcs[i];
		pc->cidr = ip_prefix_mask(pa->cidr);
		pc->communities = &d->bgp_communities[used];
		for (size_t k = 0; k < pa->n_communities; k++) {
			const char *text = pa->communities[k];
			for (size_t j = 0; j < cfg->n_communities; j++) {
				if (cfg->communities[j].name &&
				    strcmp(cfg->communities[j].name, text) == 0) {
					text = cfg->communities[j].value;
					break;
				}
			}
			if (bird_conf_community_parse(text, &d->bgp_communities[used]) < 0) {
				continue;
			}
			used++;
			pc->n_communities++;
		}
	}
	m->prefix_communities = d->bgp_pcs;
	m->n_prefix_communities = cfg->n_prefix_advertisements;
	return 0;
}

/* Service ranges of the default BGPConfiguration @cfg (serviceClusterIPs, serviceExternalIPs,
 * serviceLoadBalancerIPs), copied into d->bgp_services: every node advertises them (Calico,
 * "Advertise Kubernetes service IP addresses", reads them from the default configuration only).
 * Return: 0 or -ENOMEM. */
static int add_services(struct calc_desired *d, const struct model_bgp_configuration *cfg)
{
	if (!cfg) {
		return 0;
	}
	const struct {
		const struct ip_prefix *v;
		size_t n;
	} lists[] = {
	    {cfg->service_cluster_ips, cfg->n_service_cluster_ips},
	    {cfg->service_external_ips, cfg->n_service_external_ips},
	    {cfg->service_loadbalancer_ips, cfg->n_service_loadbalancer_ips},
	};
	size_t total = 0;
	for (size_t i = 0; i < ELEMENTSOF(lists); i++) {
		total += lists[i].n;
	}
	if (total == 0) {
		return 0;
	}
	d->bgp_services = calloc(total, sizeof(*d->bgp_services));
	if (!d->bgp_services) {
		return -ENOMEM;
	}
	size_t k = 0;
	for (size_t i = 0; i < ELEMENTSOF(lists); i++) {
		for (size_t j = 0; j < lists[i].n; j++) {
			d->bgp_services[k++] = ip_prefix_mask(lists[i].v[j]);
		}
	}
	d->bgp.service_prefixes = d->bgp_services;
	d->bgp.n_service_prefixes = total;
	return 0;
}

int calc_bgp_compute(const struct calc_cache *c, const struct calc_options *o,
		     struct calc_desired *d)
{
	const struct model_resource *me = calc_cache_get_named(c, "nodes", o->node_name);
	const struct model_resource *bc = calc_cache_get_named(c, "bgpconfigurations", "default");
	char node_cfg[MODEL_NAME_MAX + 8];
	snprintf(node_cfg, sizeof(node_cfg), "node.%s", o->node_name);
	const struct model_resource *bcn = calc_cache_get_named(c, "bgpconfigurations", node_cfg);
	const struct model_bgp_configuration *def = bc ? &bc->bgpconfig : NULL;
	const struct model_bgp_configuration *nod = bcn ? &bcn->bgpconfig : NULL;
	struct bgp_model *m = &d->bgp;
	size_t cap_pools = 0, cap_blocks = 0, cap_vx = 0;
	int r;

	if (!me || !me->node.has_ipv4 || me->node.ipv4_address.addr.family != AF_INET) {
		return 0;
	}
	struct bgp_ctx x = {
	    .c = c,
	    .me = me,
	    .d = d,
	    .cluster_as = def && def->as_number ? def->as_number : CALC_DEFAULT_AS,
	    .my_cluster = node_cluster(me),
	};
	bool mesh = !def || def->node_to_node_mesh_enabled != 0;

	d->bgp_node_name = strdup(o->node_name);
	if (!d->bgp_node_name) {
		return -ENOMEM;
	}
	if (o->bird_log_file) {
		d->bgp_log_file = strdup(o->bird_log_file);
		if (!d->bgp_log_file) {
			return -ENOMEM;
		}
	}
	m->node_name = d->bgp_node_name;
	m->log_file = d->bgp_log_file;
	m->router_id = me->node.ipv4_address.addr;
	m->local_addr = me->node.ipv4_address.addr;
	if (me->node.has_ipv6 && me->node.ipv6_address.addr.family == AF_INET6) {
		m->local_addr6 = me->node.ipv6_address.addr;
	}
	m->as_number = me->node.as_number ? me->node.as_number : x.cluster_as;
	m->fast_timers = o->bird_fast_timers;
	if (x.my_cluster) {
		r = str_keep(d, x.my_cluster, &m->rr_cluster_id);
		if (r < 0) {
			return r;
		}
	}

	/* Per-node BGPConfiguration fields override the default one's when set. */
	const struct model_bgp_configuration *pick;
	m->listen_port = nod && nod->listen_port ? nod->listen_port : def ? def->listen_port : 0;
	pick = nod && nod->log_severity_screen ? nod : def;
	if (pick && pick->log_severity_screen) {
		enum bgp_log_level lv = bird_conf_log_level_from_string(pick->log_severity_screen);
		m->log_level = lv >= 0 ? lv : BGP_LOG_INFO;
	}
	pick = nod && nod->bind_mode ? nod : def;
	m->strict_bind = pick && pick->bind_mode && strcmp(pick->bind_mode, "NodeIP") == 0;
	pick = nod && nod->n_ignored_interfaces ? nod : def;
	if (pick && pick->n_ignored_interfaces) {
		d->bgp_ignored_ifaces = calloc(pick->n_ignored_interfaces, sizeof(char *));
		if (!d->bgp_ignored_ifaces) {
			return -ENOMEM;
		}
		for (size_t i = 0; i < pick->n_ignored_interfaces; i++) {
			r = str_keep(d, pick->ignored_interfaces[i], &d->bgp_ignored_ifaces[i]);
			if (r < 0) {
				return r;
			}
		}
		m->ignored_ifaces = d->bgp_ignored_ifaces;
		m->n_ignored_ifaces = pick->n_ignored_interfaces;
	}
	r = add_communities(d, nod && nod->n_prefix_advertisements ? nod : def);
	if (r < 0) {
		return r;
	}
	r = add_services(d, def);
	if (r < 0) {
		return r;
	}

	const struct entry *e;
	CACHE_FOR_EACH (c, e) {
		switch (e->kind) {
		case ENTRY_POOL: {
			const struct model_ippool *p = &e->res->ippool;
			if (model_ippool_vxlan_mode(p) == MODEL_ENCAP_ALWAYS &&
			    p->cidr.addr.family == AF_INET) {
				r = calc_grow(&m->vxlan_pools, m->n_vxlan_pools, &cap_vx,
					      sizeof(*m->vxlan_pools));
				if (r < 0) {
					return r;
				}
				m->vxlan_pools[m->n_vxlan_pools++] = p->cidr;
			}
			if (p->disabled || p->disable_bgp_export ||
			    (p->cidr.addr.family != AF_INET && !m->local_addr6.family)) {
				break;
			}
			r = calc_grow(&m->pools, m->n_pools, &cap_pools, sizeof(*m->pools));
			if (r < 0) {
				return r;
			}
			m->pools[m->n_pools++] = p->cidr;
			break;
		}
		case ENTRY_BLOCK:
			if (e->block->deleted ||
			    (e->block->cidr.addr.family != AF_INET && !m->local_addr6.family) ||
			    !ipam_block_is_affine_to(e->block, o->node_name)) {
				break;
			}
			r = calc_grow(&m->blocks, m->n_blocks, &cap_blocks, sizeof(*m->blocks));
			if (r < 0) {
				return r;
			}
			m->blocks[m->n_blocks++] = e->block->cidr;
			break;
		default:
			break;
		}
	}
	if (m->n_pools) {
		qsort(m->pools, m->n_pools, sizeof(*m->pools), calc_prefix_cmp);
	}
	if (m->n_blocks) {
		qsort(m->blocks, m->n_blocks, sizeof(*m->blocks), calc_prefix_cmp);
	}

	r = add_node_peers(&x, def, mesh);
	struct cache_it it = {0, 0};
	while (r >= 0 && (e = cache_it_next(c, &it)) != NULL) {
		if (e->kind == ENTRY_BGPPEER) {
			r = add_bgppeer(&x, &e->res->bgppeer);
		}
	}
	if (r < 0) {
		free(x.items);
		return r;
	}
	/* One session per neighbour address and port: the highest priority, then the first. */
	if (x.n_items) {
		qsort(x.items, x.n_items, sizeof(*x.items), peer_item_cmp);
		m->peers = calloc(x.n_items, sizeof(*m->peers));
		if (!m->peers) {
			free(x.items);
			return -ENOMEM;
		}
		for (size_t i = 0; i < x.n_items; i++) {
			const struct bgp_peer *p = &x.items[i].p;
			if (m->n_peers) {
				const struct bgp_peer *q = &m->peers[m->n_peers - 1];
				unsigned pp = p->port == 179 ? 0 : p->port;
				unsigned qp = q->port == 179 ? 0 : q->port;
				if (ip_addr_equal(&q->addr, &p->addr) && pp == qp) {
					continue;
				}
			}
			m->peers[m->n_peers++] = *p;
		}
	}
	free(x.items);
	d->has_bgp = true;
	return 0;
}
