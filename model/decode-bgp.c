/* SPDX-License-Identifier: Apache-2.0 */
/*
 * BGP resources: BGPConfiguration and BGPPeer, decoded and validated with Calico's rules
 * (libcalico-go validator: validateBGPPeerSpec, validateBGPConfigurationSpec; docs.tigera.io
 * "BGP peer", "BGP configuration"). Durations are Go time.Duration strings as Calico writes
 * them ("30s", "1m30s") and are stored in seconds (BFD intervals in milliseconds).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/model-internal.h"
#include "model/model.h"

/*
 * A Go duration as whole units of @unit_ns (1e9: seconds, 1e6: milliseconds) in [@min, @max].
 * Return: 1 when set, 0 for null, -EINVAL.
 */
static int get_duration(const struct dctx *c, const struct mnode *v, const char *f,
			uint64_t unit_ns, uint64_t min, uint64_t max, uint32_t *ret)
{
	const char *t = NULL, *unit = unit_ns == 1000000000ULL ? "s" : "ms";
	uint64_t ns;
	int r;

	if (mdec_is_null(v))
		return 0;
	if (v->type != MNODE_SCALAR || mnode_scalar_kind(v) != MNODE_STR)
		return mdec_fail(c, v, f, "must be a duration string such as \"30s\" or \"1m30s\"");
	r = mdec_get_text(c, v, f, &t);
	if (r < 0)
		return r;
	if (model_parse_duration_ns(t, &ns) < 0)
		return mdec_fail(c, v, f,
				 "invalid duration \"%s\": want a Go duration such as \"30s\", "
				 "\"1m30s\" or \"100ms\"",
				 t);
	if (ns % unit_ns)
		return mdec_fail(c, v, f, "\"%s\" is not a whole number of %s", t,
				 unit_ns == 1000000000ULL ? "seconds" : "milliseconds");
	if (ns / unit_ns < min || ns / unit_ns > max)
		return mdec_fail(c, v, f,
				 "\"%s\" is out of range: must be between %llu%s and %llu%s", t,
				 (unsigned long long)min, unit, (unsigned long long)max, unit);
	*ret = (uint32_t)(ns / unit_ns);
	return 1;
}

static int get_bounded(const struct dctx *c, const struct mnode *v, const char *f, uint64_t min,
		       uint64_t max, uint64_t *ret)
{
	int r = mdec_get_uint(c, v, f, ret);

	if (r > 0 && (*ret < min || *ret > max))
		return mdec_fail(c, v, f, "must be between %llu and %llu", (unsigned long long)min,
				 (unsigned long long)max);
	return r;
}

static int get_enum(const struct dctx *c, const struct mnode *v, const char *f,
		    const char *const *allowed, const char *list, char **ret)
{
	int r = mdec_get_str(c, v, f, ret);

	if (r < 0 || !*ret)
		return r;
	for (; *allowed; allowed++)
		if (strcmp(*ret, *allowed) == 0)
			return 0;
	return mdec_fail(c, v, f, "must be %s, not \"%s\"", list, *ret);
}

/* Calico BGPPassword {secretKeyRef: {name, key}}, or tabby's {file: PATH}; exactly one. */
static int decode_password(const struct dctx *c, const struct mnode *m, const char *field,
			   struct model_bgp_password *p)
{
	int r = mdec_want_map(c, m, field);

	if (r < 0)
		return r;
	if (mdec_is_null(m))
		return 0;
	size_t mark = mdec_mark(c);
	for (size_t i = 0; i < m->n; i++) {
		const char *k = m->keys[i]->text;
		const struct mnode *v = m->values[i];
		char f[sizeof(c->err->field)];

		mdec_join(f, sizeof(f), field, k);
		if (strcmp(k, "secretKeyRef") == 0) {
			r = mdec_want_map(c, v, f);
			for (size_t j = 0; r >= 0 && j < mdec_count(v); j++) {
				const char *kk = v->keys[j]->text;
				char g[sizeof(c->err->field)];

				mdec_join(g, sizeof(g), f, kk);
				if (strcmp(kk, "name") == 0) {
					r = mdec_get_str(c, v->values[j], g, &p->secret_name);
					if (r >= 0 && p->secret_name &&
					    !model_name_is_valid(p->secret_name))
						r = mdec_fail(c, v->values[j], g,
							      "must be a lower-case RFC 1123 "
							      "subdomain");
				} else if (strcmp(kk, "key") == 0) {
					r = mdec_get_str(c, v->values[j], g, &p->secret_key);
					if (r >= 0 && p->secret_key &&
					    (!*p->secret_key || strchr(p->secret_key, '/')))
						r = mdec_fail(
						    c, v->values[j], g,
						    "must be a non-empty key without '/'");
				} else {
					r = mdec_unknown(c, v->keys[j], g);
				}
			}
			if (r >= 0 && !p->secret_name) {
				mdec_join(f, sizeof(f), field, "secretKeyRef.name");
				r = mdec_fail(c, mdec_is_null(v) ? m->keys[i] : v, f, "required");
			}
			if (r >= 0 && !p->secret_key) {
				mdec_join(f, sizeof(f), field, "secretKeyRef.key");
				r = mdec_fail(c, mdec_is_null(v) ? m->keys[i] : v, f, "required");
			}
		} else if (strcmp(k, "file") == 0) {
			r = mdec_get_str(c, v, f, &p->file);
			if (r >= 0 && (!p->file || p->file[0] != '/'))
				r = mdec_fail(c, v, f, "must be an absolute path");
		} else {
			r = mdec_unknown(c, m->keys[i], f);
		}
		if (r < 0 && !mdec_go_on(c, r))
			return r;
	}
	if (mdec_failed_since(c, mark))
		return -EINVAL;
	if (p->file && p->secret_name)
		return mdec_fail(c, m, field, "secretKeyRef and file exclude each other");
	if (!p->file && !p->secret_name)
		return mdec_fail(c, m, field, "needs secretKeyRef or file");
	return 0;
}

/* "198.18.1.0", "198.18.1.0:1790", "2001:db8::1", "[2001:db8::1]:179". */
static int parse_peer_ip(const char *s, struct ip_addr *ret, uint16_t *ret_port)
{
	char host[IP_ADDR_STRLEN + 2];
	const char *port = NULL;
	size_t hl;

	if (s[0] == '[') {
		const char *end = strchr(s, ']');

		if (!end || (end[1] && end[1] != ':'))
			return -EINVAL;
		hl = (size_t)(end - s - 1);
		s++;
		port = end[1] ? end + 2 : NULL;
	} else if (strchr(s, ':') && strchr(s, ':') == strrchr(s, ':')) {
		/* one colon: IPv4 with a port */
		hl = (size_t)(strchr(s, ':') - s);
		port = strchr(s, ':') + 1;
	} else {
		hl = strlen(s);
	}
	if (hl == 0 || hl >= sizeof(host))
		return -EINVAL;
	memcpy(host, s, hl);
	host[hl] = '\0';
	if (ip_addr_parse(host, ret) < 0)
		return -EINVAL;
	*ret_port = 0;
	if (port) {
		unsigned long v = 0;

		if (!*port || strspn(port, "0123456789") != strlen(port) || strlen(port) > 5)
			return -EINVAL;
		v = strtoul(port, NULL, 10);
		if (v < 1 || v > 65535)
			return -EINVAL;
		*ret_port = (uint16_t)v;
	}
	return 0;
}

/* Calico fields tabby knows of but does not implement: refused by name, not as "unknown". */
/* How a documented field that tabby stores without acting on it yet is checked. */
enum bgp_extra_type {
	BX_IP,
	BX_SELECTOR,
	BX_ENUM,
};

static const struct {
	enum model_kind kind;
	const char *name;
	enum bgp_extra_type type;
	const char *values[4]; /* BX_ENUM */
	const char *why;
} bgp_extras[] = {
    {MODEL_KIND_BGP_PEER,
     "failureDetectionMode",
     BX_ENUM,
     {"None", "BFDIfDirectlyConnected"},
     "use tabby's bfd field for BFD"},
    {MODEL_KIND_BGP_PEER,
     "restartMode",
     BX_ENUM,
     {"GracefulRestart", "LongLivedGracefulRestart"},
     "BIRD uses graceful restart"},
    {MODEL_KIND_BGP_PEER,
     "birdGatewayMode",
     BX_ENUM,
     {"Recursive", "DirectIfDirectlyReachable"},
     "BIRD uses its default gateway mode"},
    {MODEL_KIND_BGP_PEER, "reachableBy", BX_IP, {}, "no static route to the peer is added"},
    {MODEL_KIND_BGP_PEER, "localWorkloadSelector", BX_SELECTOR, {}, "no workload peerings"},
    {MODEL_KIND_BGP_CONFIGURATION, "localWorkloadPeeringIPV4", BX_IP, {}, "no workload peerings"},
    {MODEL_KIND_BGP_CONFIGURATION, "localWorkloadPeeringIPV6", BX_IP, {}, "no workload peerings"},
    {MODEL_KIND_BGP_CONFIGURATION,
     "programClusterRoutes",
     BX_ENUM,
     {"Enabled", "Disabled"},
     "BIRD programs the routes"},
};

/* A documented field of @res's kind that tabby only stores: 1 when @k is one (checked, stored,
 * warned about, or an error), 0 when it is not. Return: 1, 0, -EINVAL or -ENOMEM. */
static int bgp_extra(const struct dctx *c, const struct mnode *key, const struct mnode *v,
		     const char *f, struct model_resource *res)
{
	const char *t = NULL;
	size_t x = 0;
	int r = 0;

	while (x < ELEMENTSOF(bgp_extras) &&
	       (bgp_extras[x].kind != res->kind || strcmp(bgp_extras[x].name, key->text) != 0))
		x++;
	if (x == ELEMENTSOF(bgp_extras))
		return 0;
	switch (bgp_extras[x].type) {
	case BX_IP: {
		struct ip_addr a;

		r = mdec_get_text(c, v, f, &t);
		if (r >= 0 && t && ip_addr_parse(t, &a) < 0)
			r = mdec_fail(c, v, f, "invalid IP address \"%s\"", t);
		break;
	}
	case BX_SELECTOR: {
		char *sel = NULL;

		r = mdec_get_selector(c, v, f, &sel);
		free(sel);
		break;
	}
	case BX_ENUM: {
		bool ok = false;

		r = mdec_get_text(c, v, f, &t);
		for (size_t i = 0; t && i < ELEMENTSOF(bgp_extras[x].values); i++)
			ok |= bgp_extras[x].values[i] && strcmp(bgp_extras[x].values[i], t) == 0;
		if (r >= 0 && t && !ok)
			r = mdec_fail(c, v, f, "must be %s or %s", bgp_extras[x].values[0],
				      bgp_extras[x].values[1]);
		break;
	}
	}
	if (r >= 0)
		r = mdec_extra(c, key, v, f, &res->extra_spec, bgp_extras[x].why);
	return r < 0 ? r : 1;
}

static const char *const bgppeer_unsupported[] = {
    "filters", /* BGPFilter names: ignoring them would export and import unfiltered routes */
    NULL,
};

static bool in_list(const char *const *l, const char *s)
{
	for (; *l; l++)
		if (strcmp(*l, s) == 0)
			return true;
	return false;
}

int mdec_bgppeer(const struct dctx *c, const struct mnode *spec, const struct mnode *at,
		 struct model_resource *res)
{
	static const char *const source_addresses[] = {"UseNodeIP", "None", NULL};
	static const char *const next_hop_modes[] = {"Auto", "Self", "Keep", NULL};
	static const char *const reverse_peerings[] = {"Auto", "Manual", NULL};
	struct model_bgp_peer *p = &res->bgppeer;
	const struct mnode *node_n = NULL, *nodesel_n = NULL, *ip_n = NULL, *peersel_n = NULL,
			   *as_n = NULL, *keepalive_n = NULL, *hold_n = NULL, *nhm_n = NULL;
	int r = mdec_want_map(c, spec, "spec");

	if (r < 0)
		return r;
	size_t mark = mdec_mark(c);
	for (size_t i = 0; i < mdec_count(spec); i++) {
		const char *k = spec->keys[i]->text;
		const struct mnode *v = spec->values[i];
		char f[sizeof(c->err->field)];
		uint64_t u = 0;

		mdec_join(f, sizeof(f), "spec", k);
		if (strcmp(k, "node") == 0) {
			node_n = v;
			r = mdec_get_name(c, v, f, &p->node);
		} else if (strcmp(k, "nodeSelector") == 0) {
			nodesel_n = v;
			r = mdec_get_selector(c, v, f, &p->node_selector);
		} else if (strcmp(k, "peerIP") == 0) {
			const char *t = NULL;

			ip_n = v;
			r = mdec_get_text(c, v, f, &t);
			if (r >= 0 && t && parse_peer_ip(t, &p->peer_ip, &p->peer_port) < 0)
				r = mdec_fail(
				    c, v, f,
				    "invalid peer address \"%s\": want an IP address with "
				    "an optional port (198.18.1.0, 198.18.1.0:1790, "
				    "[2001:db8::1]:179)",
				    t);
			p->has_peer_ip = r >= 0 && t;
		} else if (strcmp(k, "peerSelector") == 0) {
			peersel_n = v;
			r = mdec_get_selector(c, v, f, &p->peer_selector);
		} else if (strcmp(k, "asNumber") == 0) {
			as_n = v;
			r = mdec_get_as_number(c, v, f, &p->as_number);
		} else if (strcmp(k, "password") == 0) {
			r = decode_password(c, v, f, &p->password);
		} else if (strcmp(k, "keepaliveTime") == 0) {
			keepalive_n = v;
			r = get_duration(c, v, f, 1000000000ULL, 1, 65535, &p->keepalive_time_s);
		} else if (strcmp(k, "holdTime") == 0) {
			hold_n = v;
			/* RFC 4271 4.2: a hold time is 0 or at least 3 seconds, 16 bits */
			r = get_duration(c, v, f, 1000000000ULL, 3, 65535, &p->hold_time_s);
		} else if (strcmp(k, "maxRestartTime") == 0) {
			/* RFC 4724 3: the restart time field has 12 bits */
			r = get_duration(c, v, f, 1000000000ULL, 1, 4095, &p->max_restart_time_s);
		} else if (strcmp(k, "ttlSecurity") == 0) {
			r = get_bounded(c, v, f, 0, 255, &u);
			p->ttl_security = (uint8_t)u;
		} else if (strcmp(k, "sourceAddress") == 0) {
			r = get_enum(c, v, f, source_addresses, "UseNodeIP or None",
				     &p->source_address);
		} else if (strcmp(k, "nextHopMode") == 0) {
			char *m = NULL;

			nhm_n = v;
			r = get_enum(c, v, f, next_hop_modes, "Auto, Self or Keep", &m);
			if (r >= 0 && m)
				p->next_hop_mode = strcmp(m, "Self") == 0   ? MODEL_NEXT_HOP_SELF
						   : strcmp(m, "Keep") == 0 ? MODEL_NEXT_HOP_KEEP
									    : MODEL_NEXT_HOP_AUTO;
			free(m);
		} else if (strcmp(k, "keepOriginalNextHop") == 0) {
			r = mdec_get_bool(c, v, f, &p->keep_original_next_hop);
		} else if (strcmp(k, "localASNumber") == 0) {
			/* Calico BGPPeer localASNumber: BIRD's "local as" for this session */
			r = mdec_get_as_number(c, v, f, &p->local_as_number);
		} else if (strcmp(k, "numAllowedLocalASNumbers") == 0) {
			r = get_bounded(c, v, f, 0, 10, &u);
			p->num_allowed_local_as_numbers = (uint8_t)u;
		} else if (strcmp(k, "reversePeering") == 0) {
			r = get_enum(c, v, f, reverse_peerings, "Auto or Manual",
				     &p->reverse_peering);
		} else if (strcmp(k, "bfd") == 0) {
			r = mdec_want_map(c, v, f);
			for (size_t j = 0; r >= 0 && j < mdec_count(v); j++) {
				const char *kk = v->keys[j]->text;
				char g[sizeof(c->err->field)];

				mdec_join(g, sizeof(g), f, kk);
				if (strcmp(kk, "enabled") == 0) {
					r = mdec_get_bool(c, v->values[j], g, &p->bfd_enabled);
				} else if (strcmp(kk, "interval") == 0) {
					r = get_duration(c, v->values[j], g, 1000000ULL, 1, 60000,
							 &p->bfd_interval_ms);
				} else if (strcmp(kk, "multiplier") == 0) {
					/* RFC 5880 4.1: Detect Mult is 8 bits, 0 is invalid */
					r = get_bounded(c, v->values[j], g, 1, 255, &u);
					if (r > 0)
						p->bfd_multiplier = (uint32_t)u;
				} else {
					r = mdec_unknown(c, v->keys[j], g);
				}
			}
		} else if ((r = bgp_extra(c, spec->keys[i], v, f, res)) != 0) {
			/* stored, warned about (or an error) */
		} else if (in_list(bgppeer_unsupported, k)) {
			r = mdec_fail(c, spec->keys[i], f,
				      "not supported by tabby: it has no BGPFilter, and ignoring "
				      "the filters would exchange unfiltered routes");
		} else {
			r = mdec_unknown(c, spec->keys[i], f);
		}
		if (r < 0 && !mdec_go_on(c, r))
			return r;
	}
	if (mdec_failed_since(c, mark))
		return -EINVAL;
	/* validateBGPPeerSpec */
	if (p->node && p->node_selector)
		return mdec_fail(c, node_n, "spec.node", "must be empty when nodeSelector is set");
	if (p->has_peer_ip && p->peer_selector)
		return mdec_fail(c, ip_n, "spec.peerIP", "must be empty when peerSelector is set");
	if (!p->has_peer_ip && !p->peer_selector)
		return mdec_fail(c, at, "spec.peerIP", "one of peerIP or peerSelector is required");
	if (p->peer_selector && p->as_number)
		return mdec_fail(c, as_n, "spec.asNumber",
				 "must be empty when peerSelector is set (the peers' own AS "
				 "numbers are used)");
	if (p->has_peer_ip && !p->as_number)
		return mdec_fail(c, at, "spec.asNumber", "required with peerIP");
	if (p->hold_time_s && p->keepalive_time_s && p->hold_time_s <= p->keepalive_time_s)
		return mdec_fail(c, hold_n, "spec.holdTime",
				 "must be longer than keepaliveTime (%us)", p->keepalive_time_s);
	if (p->keep_original_next_hop && p->next_hop_mode == MODEL_NEXT_HOP_SELF)
		return mdec_fail(c, nhm_n, "spec.nextHopMode",
				 "Self contradicts keepOriginalNextHop: true");
	(void)nodesel_n;
	(void)peersel_n;
	(void)keepalive_n;
	return 0;
}

static const char *const log_levels[] = {"Trace", "Debug", "Info", "Warning",
					 "Error", "Fatal", NULL};

static const char *const bgpconfig_unsupported[] = {
    NULL,
};

static int decode_communities(const struct dctx *c, const struct mnode *v, const char *f,
			      struct model_bgp_configuration *b)
{
	int r = mdec_want_seq(c, v, f, MODEL_MAX_COMMUNITIES);

	if (r < 0 || !mdec_count(v))
		return r;
	b->communities = calloc(v->n, sizeof(*b->communities));
	if (!b->communities)
		return -ENOMEM;
	size_t mark = mdec_mark(c);
	for (size_t j = 0; j < v->n; j++) {
		const struct mnode *e = v->values[j];
		struct model_community *cm = &b->communities[b->n_communities++];
		char g[sizeof(c->err->field)], h[sizeof(c->err->field)];

		mdec_pathf(g, sizeof(g), "%s[%zu]", f, j);
		r = mdec_require_map(c, e, g);
		for (size_t m = 0; r >= 0 && m < mdec_count(e); m++) {
			const char *k = e->keys[m]->text;

			mdec_join(h, sizeof(h), g, k);
			if (strcmp(k, "name") == 0) {
				r = mdec_get_str(c, e->values[m], h, &cm->name);
				if (r >= 0 && cm->name && !*cm->name)
					r = mdec_fail(c, e->values[m], h, "must not be empty");
				for (size_t q = 0; r >= 0 && cm->name && q < j; q++)
					if (strcmp(b->communities[q].name, cm->name) == 0)
						r = mdec_fail(c, e->values[m], h,
							      "community \"%s\" is defined twice",
							      cm->name);
			} else if (strcmp(k, "value") == 0) {
				r = mdec_get_str(c, e->values[m], h, &cm->value);
				if (r >= 0 && cm->value && !model_community_is_valid(cm->value))
					r = mdec_fail(c, e->values[m], h,
						      "invalid community \"%s\": want \"aa:nn\" "
						      "(16-bit numbers) or \"aa:nn:mm\" (32-bit "
						      "numbers)",
						      cm->value);
			} else {
				r = mdec_unknown(c, e->keys[m], h);
			}
		}
		if (r >= 0 && !cm->name)
			r = mdec_fail_required(c, e, g, "name");
		if (r >= 0 && !cm->value)
			r = mdec_fail_required(c, e, g, "value");
		if (r < 0 && !mdec_go_on(c, r))
			return r;
	}
	if (mdec_failed_since(c, mark))
		return -EINVAL;
	return 0;
}

/*
 * decode_service_cidrs() - a BGPConfiguration service address list (serviceClusterIPs,
 * serviceExternalIPs, serviceLoadBalancerIPs: [{cidr: <masked network>}], at most
 * MODEL_MAX_SERVICE_CIDRS entries) at @v into a new array *@ret of *@n prefixes. Calico ("Advertise
 * Kubernetes service IP addresses") advertises these ranges from every node; tabby's BIRD is
 * IPv4-only, so an IPv6 range is stored and warned about but not advertised.
 * Return: >= 0, -EINVAL (reported through @c) or -ENOMEM.
 */
static int decode_service_cidrs(const struct dctx *c, const struct mnode *v, const char *f,
				struct ip_prefix **ret, size_t *n)
{
	int r = mdec_want_seq(c, v, f, MODEL_MAX_SERVICE_CIDRS);

	if (r >= 0 && mdec_count(v)) {
		free(*ret);
		*n = 0;
		*ret = calloc(v->n, sizeof(struct ip_prefix));
		if (!*ret)
			return -ENOMEM;
	}
	for (size_t j = 0; r >= 0 && j < mdec_count(v); j++) {
		const struct mnode *e = v->values[j];
		char g[sizeof(c->err->field)], h[sizeof(c->err->field)];
		struct ip_prefix *p = &(*ret)[*n];

		mdec_pathf(g, sizeof(g), "%s[%zu]", f, j);
		r = mdec_require_map(c, e, g);
		for (size_t m = 0; r >= 0 && m < mdec_count(e); m++) {
			mdec_join(h, sizeof(h), g, e->keys[m]->text);
			if (strcmp(e->keys[m]->text, "cidr") == 0)
				r = mdec_get_network(c, e->values[m], h, p);
			else
				r = mdec_unknown(c, e->keys[m], h);
		}
		if (r >= 0 && !mnode_map_get(e, "cidr"))
			r = mdec_fail_required(c, e, g, "cidr");
		if (r < 0)
			break;
		(*n)++;
		if (p->addr.family == AF_INET6) {
			char buf[IP_PREFIX_STRLEN];

			r = mdec_warn(c, e, g,
				      "IPv6 service range %s is stored but not advertised: "
				      "tabby's BIRD configuration is IPv4-only",
				      ip_prefix_format(p, buf));
		}
	}
	return r;
}

static int decode_prefix_advertisements(const struct dctx *c, const struct mnode *v, const char *f,
					struct model_bgp_configuration *b)
{
	int r = mdec_want_seq(c, v, f, MODEL_MAX_PREFIX_ADVERTISEMENTS);

	if (r < 0 || !mdec_count(v))
		return r;
	b->prefix_advertisements = calloc(v->n, sizeof(*b->prefix_advertisements));
	if (!b->prefix_advertisements)
		return -ENOMEM;
	size_t mark = mdec_mark(c);
	for (size_t j = 0; j < v->n; j++) {
		const struct mnode *e = v->values[j];
		struct model_prefix_advertisement *pa =
		    &b->prefix_advertisements[b->n_prefix_advertisements++];
		char g[sizeof(c->err->field)], h[sizeof(c->err->field)];
		bool has_cidr = false;

		mdec_pathf(g, sizeof(g), "%s[%zu]", f, j);
		r = mdec_require_map(c, e, g);
		for (size_t m = 0; r >= 0 && m < mdec_count(e); m++) {
			const char *k = e->keys[m]->text;
			const struct mnode *ev = e->values[m];

			mdec_join(h, sizeof(h), g, k);
			if (strcmp(k, "cidr") == 0) {
				const char *t = NULL;

				r = mdec_get_text(c, ev, h, &t);
				/* Calico's ParseCIDROrIP: an address is a host prefix, host
				 * bits are masked off */
				if (r >= 0 && (!t || ip_prefix_parse(t, false, &pa->cidr) < 0))
					r = mdec_fail(c, ev, h, "invalid CIDR \"%s\"", t ? t : "");
				pa->cidr = ip_prefix_mask(pa->cidr);
				has_cidr = r >= 0;
			} else if (strcmp(k, "communities") == 0) {
				r = mdec_strv(c, ev, h, MODEL_MAX_COMMUNITIES, &pa->communities,
					      &pa->n_communities);
				for (size_t q = 0; r >= 0 && q < pa->n_communities; q++) {
					const char *name = pa->communities[q];
					bool defined = model_community_is_valid(name);
					char hh[sizeof(c->err->field)];

					for (size_t d = 0; !defined && d < b->n_communities; d++)
						defined = strcmp(b->communities[d].name, name) == 0;
					mdec_pathf(hh, sizeof(hh), "%s[%zu]", h, q);
					if (!defined)
						r = mdec_fail(c, ev->values[q], hh,
							      "community \"%s\" is neither a "
							      "community value nor defined in "
							      "spec.communities",
							      name);
				}
			} else {
				r = mdec_unknown(c, e->keys[m], h);
			}
		}
		if (r >= 0 && !has_cidr)
			r = mdec_fail_required(c, e, g, "cidr");
		if (r < 0 && !mdec_go_on(c, r))
			return r;
	}
	if (mdec_failed_since(c, mark))
		return -EINVAL;
	return 0;
}

int mdec_bgpconfig(const struct dctx *c, const struct mnode *spec, const struct mnode *at,
		   struct model_resource *res)
{
	static const char *const bind_modes[] = {"None", "NodeIP", NULL};
	struct model_bgp_configuration *b = &res->bgpconfig;
	const struct mnode *pw_n = NULL, *mrt_n = NULL;
	int r = mdec_want_map(c, spec, "spec");

	b->node_to_node_mesh_enabled = -1;
	if (r < 0)
		return r;
	/* communities first: prefixAdvertisements refer to them by name */
	r = decode_communities(c, mnode_map_get(spec, "communities"), "spec.communities", b);
	if (r < 0)
		return r;
	size_t mark = mdec_mark(c);
	for (size_t i = 0; i < mdec_count(spec); i++) {
		const char *k = spec->keys[i]->text;
		const struct mnode *v = spec->values[i];
		char f[sizeof(c->err->field)];

		mdec_join(f, sizeof(f), "spec", k);
		if (strcmp(k, "asNumber") == 0) {
			r = mdec_get_as_number(c, v, f, &b->as_number);
		} else if (strcmp(k, "nodeToNodeMeshEnabled") == 0) {
			bool on = true;

			r = mdec_get_bool(c, v, f, &on);
			if (r >= 0 && !mdec_is_null(v))
				b->node_to_node_mesh_enabled = on;
		} else if (strcmp(k, "logSeverityScreen") == 0) {
			bool ok = false;

			r = mdec_get_str(c, v, f, &b->log_severity_screen);
			for (size_t j = 0; b->log_severity_screen && log_levels[j]; j++)
				ok |= strcmp(b->log_severity_screen, log_levels[j]) == 0;
			if (r >= 0 && b->log_severity_screen && !ok)
				r = mdec_fail(
				    c, v, f,
				    "must be one of Trace, Debug, Info, Warning, Error, Fatal");
		} else if (strcmp(k, "listenPort") == 0) {
			uint64_t port = 0;

			r = mdec_get_uint(c, v, f, &port);
			if (r > 0 && (port < 1 || port > 65535))
				r = mdec_fail(c, v, f, "must be between 1 and 65535");
			b->listen_port = (uint16_t)port;
		} else if (strcmp(k, "serviceClusterIPs") == 0) {
			r = decode_service_cidrs(c, v, f, &b->service_cluster_ips,
						 &b->n_service_cluster_ips);
		} else if (strcmp(k, "serviceExternalIPs") == 0) {
			r = decode_service_cidrs(c, v, f, &b->service_external_ips,
						 &b->n_service_external_ips);
		} else if (strcmp(k, "serviceLoadBalancerIPs") == 0) {
			r = decode_service_cidrs(c, v, f, &b->service_loadbalancer_ips,
						 &b->n_service_loadbalancer_ips);
		} else if (strcmp(k, "bindMode") == 0) {
			r = get_enum(c, v, f, bind_modes, "None or NodeIP", &b->bind_mode);
		} else if (strcmp(k, "nodeMeshPassword") == 0) {
			pw_n = v;
			r = decode_password(c, v, f, &b->node_mesh_password);
		} else if (strcmp(k, "nodeMeshMaxRestartTime") == 0) {
			mrt_n = v;
			r = get_duration(c, v, f, 1000000000ULL, 1, 4095,
					 &b->node_mesh_max_restart_time_s);
		} else if (strcmp(k, "ignoredInterfaces") == 0) {
			r = mdec_strv(c, v, f, MODEL_MAX_IGNORED_INTERFACES, &b->ignored_interfaces,
				      &b->n_ignored_interfaces);
			for (size_t j = 0; r >= 0 && j < b->n_ignored_interfaces; j++) {
				const char *g = b->ignored_interfaces[j];
				char h[sizeof(c->err->field)];

				mdec_pathf(h, sizeof(h), "%s[%zu]", f, j);
				if (!*g || strlen(g) > 15 || strpbrk(g, "/: \t\n"))
					r = mdec_fail(c, v->values[j], h,
						      "invalid interface glob \"%s\": 1 to 15 "
						      "characters, no '/', ':' or space",
						      g);
			}
		} else if (strcmp(k, "communities") == 0) {
			/* decoded above */
		} else if (strcmp(k, "prefixAdvertisements") == 0) {
			r = decode_prefix_advertisements(c, v, f, b);
		} else if ((r = bgp_extra(c, spec->keys[i], v, f, res)) != 0) {
			/* stored, warned about (or an error) */
		} else if (in_list(bgpconfig_unsupported, k)) {
			r = mdec_fail(c, spec->keys[i], f, "not supported by tabby");
		} else {
			r = mdec_unknown(c, spec->keys[i], f);
		}
		if (r < 0 && !mdec_go_on(c, r))
			return r;
	}
	if (mdec_failed_since(c, mark))
		return -EINVAL;
	/* validateBGPConfigurationSpec */
	if (b->n_communities && !b->n_prefix_advertisements)
		return mdec_fail(c, mnode_map_get(spec, "communities"), "spec.communities",
				 "defined but not used in spec.prefixAdvertisements");
	if (b->node_to_node_mesh_enabled == 0 && pw_n)
		return mdec_fail(c, pw_n, "spec.nodeMeshPassword",
				 "must not be set when nodeToNodeMeshEnabled is false");
	if (b->node_to_node_mesh_enabled == 0 && mrt_n)
		return mdec_fail(c, mrt_n, "spec.nodeMeshMaxRestartTime",
				 "must not be set when nodeToNodeMeshEnabled is false");
	return 0;
}
