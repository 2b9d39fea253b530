/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Policy resources: NetworkPolicy, GlobalNetworkPolicy, Tier, NetworkSet, GlobalNetworkSet,
 * HostEndpoint, Profile, FelixConfiguration, the Kubernetes v1 Namespace and the
 * networking.k8s.io/v1 NetworkPolicy. The rules are Calico's (libcalico-go validator:
 * validateRule, validateICMPFields, validateGlobalNetworkPolicy, validateHostEndpointSpec,
 * validateProtoPort; docs.tigera.io "Rule", "EntityRule", "Ports") and Kubernetes'
 * (NetworkPolicy API validation: ipBlock.except inside cidr, endPort >= port).
 *
 * Nets in rules and network sets may carry host bits or be plain addresses, as with Calico's
 * ParseCIDROrIP: they are stored masked ("198.18.0.5/24" -> 198.18.0.0/24, "198.18.0.5" ->
 * 198.18.0.5/32). Selectors are only checked for structure here (TODO: acl/selector.h).
 */
#include <errno.h>
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/model-internal.h"
#include "model/model.h"

#define FIELD_MAX sizeof(((struct parse_err *)0)->field)

static bool in_list(const char *const *l, const char *s)
{
	for (; *l; l++)
		if (strcmp(*l, s) == 0)
			return true;
	return false;
}

/* A protocol: 1..255, or a name (TCP UDP ICMP ICMPv6 SCTP UDPLite, or lower case). */
static int get_protocol(const struct dctx *c, const struct mnode *v, const char *f,
			struct model_protocol *ret)
{
	uint8_t num = 0;

	if (mdec_is_null(v))
		return 0;
	if (v->type != MNODE_SCALAR ||
	    (mnode_scalar_kind(v) != MNODE_STR && mnode_scalar_kind(v) != MNODE_INT))
		return mdec_fail(c, v, f, "must be a protocol name or number");
	if (strspn(v->text, "0123456789") == strlen(v->text) && *v->text) {
		unsigned long n = strlen(v->text) <= 3 ? strtoul(v->text, NULL, 10) : 0;

		if (n < 1 || n > 255)
			return mdec_fail(c, v, f, "protocol number must be between 1 and 255");
		num = (uint8_t)n;
	} else {
		num = model_protocol_from_string(v->text);
		if (!num)
			return mdec_fail(c, v, f,
					 "unknown protocol \"%s\": want TCP, UDP, ICMP, ICMPv6, "
					 "SCTP, UDPLite or a number 1..255",
					 v->text);
	}
	ret->set = true;
	ret->number = num;
	return 0;
}

static bool protocol_has_ports(const struct model_protocol *p)
{
	return p->set && (p->number == 6 || p->number == 17 || p->number == 132);
}

static int parse_port_number(const char *s, uint16_t *ret)
{
	unsigned long v;

	if (!*s || strspn(s, "0123456789") != strlen(s) || strlen(s) > 5)
		return -EINVAL;
	v = strtoul(s, NULL, 10);
	if (v > 65535)
		return -EINVAL;
	*ret = (uint16_t)v;
	return 0;
}

/* Calico ports: 80, "80", "1000:2000" or a named port "http". */
static int get_ports(const struct dctx *c, const struct mnode *v, const char *f,
		     struct model_port **ret, size_t *ret_n)
{
	int r = mdec_want_seq(c, v, f, MODEL_MAX_PORTS);

	if (r < 0 || !mdec_count(v))
		return r;
	*ret = calloc(v->n, sizeof(**ret));
	if (!*ret)
		return -ENOMEM;
	for (size_t j = 0; j < v->n; j++) {
		const struct mnode *e = v->values[j];
		struct model_port *p = &(*ret)[*ret_n];
		char g[FIELD_MAX];
		const char *colon;

		mdec_pathf(g, sizeof(g), "%s[%zu]", f, j);
		if (e->type != MNODE_SCALAR ||
		    (mnode_scalar_kind(e) != MNODE_STR && mnode_scalar_kind(e) != MNODE_INT))
			return mdec_fail(c, e, g,
					 "must be a port, a range \"first:last\" or a name");
		colon = strchr(e->text, ':');
		if (colon) {
			char first[8];
			size_t l = (size_t)(colon - e->text);

			if (l >= sizeof(first))
				return mdec_fail(c, e, g, "invalid port range \"%s\"", e->text);
			memcpy(first, e->text, l);
			first[l] = '\0';
			if (parse_port_number(first, &p->first) < 0 ||
			    parse_port_number(colon + 1, &p->last) < 0)
				return mdec_fail(c, e, g,
						 "invalid port range \"%s\": want \"first:last\" "
						 "with ports 0..65535",
						 e->text);
			if (p->first > p->last)
				return mdec_fail(c, e, g,
						 "invalid port range \"%s\": first is above last",
						 e->text);
		} else if (strspn(e->text, "0123456789") == strlen(e->text)) {
			if (parse_port_number(e->text, &p->first) < 0)
				return mdec_fail(c, e, g, "port must be between 0 and 65535");
			p->last = p->first;
		} else {
			if (!model_port_name_is_valid(e->text))
				return mdec_fail(c, e, g,
						 "invalid port name \"%s\": 1 to 15 of [a-z0-9-] "
						 "with at least one letter",
						 e->text);
			p->name = strdup(e->text);
			if (!p->name)
				return -ENOMEM;
		}
		(*ret_n)++;
	}
	return 0;
}

/* A CIDR or an address; host bits are masked off (Calico's ParseCIDROrIP + normalisation). */
static int get_net(const struct dctx *c, const struct mnode *e, const char *g,
		   struct ip_prefix *ret)
{
	const char *t = NULL;
	struct ip_prefix p;
	int r = mdec_get_text(c, e, g, &t);

	if (r < 0)
		return r;
	if (!t || ip_prefix_parse(t, false, &p) < 0)
		return mdec_fail(c, e, g, "invalid CIDR \"%s\"", t ? t : "");
	*ret = ip_prefix_mask(p);
	return 0;
}

/* A rule's nets: Calico's validator tag "net" wants a strictly masked network (an address alone
 * is a /32 or /128). */
static int get_rule_net(const struct dctx *c, const struct mnode *e, const char *g,
			struct ip_prefix *ret)
{
	const char *t = NULL;
	struct ip_prefix p;
	char buf[IP_PREFIX_STRLEN];
	int r = mdec_get_text(c, e, g, &t);

	if (r < 0)
		return r;
	if (!t || ip_prefix_parse(t, false, &p) < 0)
		return mdec_fail(c, e, g, "invalid CIDR \"%s\"", t ? t : "");
	if (!ip_prefix_is_masked(&p)) {
		struct ip_prefix m = ip_prefix_mask(p);

		return mdec_fail(c, e, g, "invalid CIDR \"%s\": host bits are set (network is %s)",
				 t, ip_prefix_format(&m, buf));
	}
	*ret = p;
	return 0;
}

static int get_nets_as(const struct dctx *c, const struct mnode *v, const char *f, bool strict,
		       struct ip_prefix **ret, size_t *ret_n)
{
	int r = mdec_want_seq(c, v, f, MODEL_MAX_NETS);

	if (r < 0 || !mdec_count(v))
		return r;
	*ret = calloc(v->n, sizeof(**ret));
	if (!*ret)
		return -ENOMEM;
	size_t mark = mdec_mark(c);
	for (size_t j = 0; j < v->n; j++) {
		char g[FIELD_MAX];

		mdec_pathf(g, sizeof(g), "%s[%zu]", f, j);
		r = strict ? get_rule_net(c, v->values[j], g, &(*ret)[*ret_n])
			   : get_net(c, v->values[j], g, &(*ret)[*ret_n]);
		if (r < 0 && !mdec_go_on(c, r))
			return r;
		if (r >= 0)
			(*ret_n)++;
	}
	return mdec_failed_since(c, mark) ? -EINVAL : 0;
}

/* global() outside quotes: Calico allows it only in a rule's namespaceSelector. */
static bool has_global(const char *sel)
{
	char q = 0;

	for (const char *p = sel; p && *p; p++) {
		if (q) {
			q = *p == q ? 0 : q;
		} else if (*p == '"' || *p == '\'') {
			q = *p;
		} else if (strncmp(p, "global()", 8) == 0 &&
			   (p == sel || !(isalnum((unsigned char)p[-1]) || p[-1] == '_' ||
					  p[-1] == '.' || p[-1] == '/' || p[-1] == '-'))) {
			return true;
		}
	}
	return false;
}

static int get_selector_no_global(const struct dctx *c, const struct mnode *v, const char *f,
				  char **ret)
{
	int r = mdec_get_selector(c, v, f, ret);

	if (r >= 0 && has_global(*ret))
		r = mdec_fail(c, v, f, "global() can only be used in a rule's namespaceSelector");
	return r;
}

static int get_nets(const struct dctx *c, const struct mnode *v, const char *f,
		    struct ip_prefix **ret, size_t *ret_n)
{
	return get_nets_as(c, v, f, false, ret, ret_n);
}

static int get_icmp(const struct dctx *c, const struct mnode *m, const char *f,
		    struct model_icmp *ret)
{
	const struct mnode *code_n = NULL;
	bool has_type = false;
	int r = mdec_want_map(c, m, f);

	if (r < 0 || mdec_is_null(m))
		return r;
	ret->set = true;
	ret->type = ret->code = -1;
	size_t mark = mdec_mark(c);
	for (size_t i = 0; i < m->n; i++) {
		const char *k = m->keys[i]->text;
		char g[FIELD_MAX];
		uint64_t u = 0;

		mdec_join(g, sizeof(g), f, k);
		if (strcmp(k, "type") == 0) {
			r = mdec_get_uint(c, m->values[i], g, &u);
			if (r > 0 && u > 254)
				return mdec_fail(c, m->values[i], g, "must be between 0 and 254");
			if (r > 0) {
				ret->type = (int16_t)u;
				has_type = true;
			}
		} else if (strcmp(k, "code") == 0) {
			code_n = m->values[i];
			r = mdec_get_uint(c, m->values[i], g, &u);
			if (r > 0 && u > 255)
				return mdec_fail(c, m->values[i], g, "must be between 0 and 255");
			if (r > 0)
				ret->code = (int16_t)u;
		} else {
			r = mdec_unknown(c, m->keys[i], g);
		}
		if (r < 0 && !mdec_go_on(c, r))
			return r;
	}
	if (mdec_failed_since(c, mark))
		return -EINVAL;
	if (ret->code >= 0 && !has_type) {
		char g[FIELD_MAX];

		mdec_join(g, sizeof(g), f, "code");
		return mdec_fail(c, code_n, g, "an ICMP code needs an ICMP type");
	}
	return 0;
}

/* Where the parts of an entity rule sit, for the rule-level checks. */
struct entity_nodes {
	const struct mnode *nets, *not_nets, *ports, *not_ports;
};

/* Calico ServiceAccountMatch: {names: [..], selector: ".."} (names are Kubernetes names). */
static int decode_service_accounts(const struct dctx *c, const struct mnode *m, const char *field,
				   struct model_entity_rule *e)
{
	int r = mdec_want_map(c, m, field);

	for (size_t i = 0; r >= 0 && i < mdec_count(m); i++) {
		const char *k = m->keys[i]->text;
		const struct mnode *v = m->values[i];
		char f[FIELD_MAX];

		mdec_join(f, sizeof(f), field, k);
		if (strcmp(k, "names") == 0) {
			r = mdec_strv(c, v, f, MODEL_MAX_NETS, &e->sa_names, &e->n_sa_names);
			for (size_t j = 0; r >= 0 && j < e->n_sa_names; j++)
				if (!model_name_is_valid(e->sa_names[j]))
					r = mdec_fail(
					    c, v->values[j], f,
					    "invalid service account name \"%s\": must be "
					    "a lower-case RFC 1123 subdomain",
					    e->sa_names[j]);
		} else if (strcmp(k, "selector") == 0) {
			r = get_selector_no_global(c, v, f, &e->sa_selector);
		} else {
			r = mdec_unknown(c, m->keys[i], f);
		}
	}
	return r;
}

static int decode_entity(const struct dctx *c, const struct mnode *m, const char *field,
			 struct model_entity_rule *e, struct entity_nodes *at)
{
	int r = mdec_want_map(c, m, field);

	if (r < 0)
		return r;
	size_t mark = mdec_mark(c);
	for (size_t i = 0; i < mdec_count(m); i++) {
		const char *k = m->keys[i]->text;
		const struct mnode *v = m->values[i];
		char f[FIELD_MAX];

		mdec_join(f, sizeof(f), field, k);
		if (strcmp(k, "nets") == 0) {
			at->nets = v;
			r = get_nets_as(c, v, f, true, &e->nets, &e->n_nets);
		} else if (strcmp(k, "notNets") == 0) {
			at->not_nets = v;
			r = get_nets_as(c, v, f, true, &e->not_nets, &e->n_not_nets);
		} else if (strcmp(k, "selector") == 0) {
			r = get_selector_no_global(c, v, f, &e->selector);
		} else if (strcmp(k, "notSelector") == 0) {
			r = get_selector_no_global(c, v, f, &e->not_selector);
		} else if (strcmp(k, "namespaceSelector") == 0) {
			r = mdec_get_selector(c, v, f, &e->namespace_selector);
		} else if (strcmp(k, "ports") == 0) {
			at->ports = v;
			r = get_ports(c, v, f, &e->ports, &e->n_ports);
		} else if (strcmp(k, "notPorts") == 0) {
			at->not_ports = v;
			r = get_ports(c, v, f, &e->not_ports, &e->n_not_ports);
		} else if (strcmp(k, "serviceAccounts") == 0) {
			r = decode_service_accounts(c, v, f, e);
		} else if (strcmp(k, "services") == 0) {
			r = mdec_fail(c, m->keys[i], f, "not supported by tabby");
		} else {
			r = mdec_unknown(c, m->keys[i], f);
		}
		if (r < 0 && !mdec_go_on(c, r))
			return r;
	}
	if (mdec_failed_since(c, mark))
		return -EINVAL;
	return 0;
}

static const char *const action_names[_MODEL_ACTION_MAX] = {"Allow", "Deny", "Log", "Pass"};

/* Calico validateRule: ports need a protocol with ports, ICMP matches need ICMP, the IP version
 * agrees with ICMP/ICMPv6 and with every CIDR, and one rule does not mix address families
 * (issue 9: nor CIDRs of one family with protocol ICMP/ICMPv6 of the other). */
static int check_rule(const struct dctx *c, const char *field, const struct model_rule *rl,
		      const struct mnode *m, const struct entity_nodes *src,
		      const struct entity_nodes *dst)
{
	const struct {
		const char *name;
		const struct mnode *n;
		size_t count;
		bool is_ports;
		const struct ip_prefix *nets;
	} parts[] = {
	    {"source.ports", src->ports, rl->source.n_ports, true, NULL},
	    {"source.notPorts", src->not_ports, rl->source.n_not_ports, true, NULL},
	    {"destination.ports", dst->ports, rl->destination.n_ports, true, NULL},
	    {"destination.notPorts", dst->not_ports, rl->destination.n_not_ports, true, NULL},
	    {"source.nets", src->nets, rl->source.n_nets, false, rl->source.nets},
	    {"source.notNets", src->not_nets, rl->source.n_not_nets, false, rl->source.not_nets},
	    {"destination.nets", dst->nets, rl->destination.n_nets, false, rl->destination.nets},
	    {"destination.notNets", dst->not_nets, rl->destination.n_not_nets, false,
	     rl->destination.not_nets},
	};
	bool seen4 = false, seen6 = false;
	char f[FIELD_MAX];

	for (size_t i = 0; i < ELEMENTSOF(parts); i++) {
		if (!parts[i].is_ports || !parts[i].count || protocol_has_ports(&rl->protocol))
			continue;
		mdec_join(f, sizeof(f), field, parts[i].name);
		return mdec_fail(c, parts[i].n, f, "ports need protocol TCP, UDP or SCTP");
	}
	for (int neg = 0; neg < 2; neg++) {
		const struct model_icmp *icmp = neg ? &rl->not_icmp : &rl->icmp;

		if (icmp->set && !(rl->protocol.set &&
				   (rl->protocol.number == 1 || rl->protocol.number == 58))) {
			mdec_join(f, sizeof(f), field, neg ? "notICMP" : "icmp");
			return mdec_fail(c, mnode_map_get(m, neg ? "notICMP" : "icmp"), f,
					 "needs protocol ICMP or ICMPv6");
		}
	}
	for (int neg = 0; neg < 2; neg++) {
		const struct model_protocol *p = neg ? &rl->not_protocol : &rl->protocol;

		if (!p->set || !rl->ip_version)
			continue;
		if ((p->number == 1 && rl->ip_version != 4) ||
		    (p->number == 58 && rl->ip_version != 6)) {
			mdec_join(f, sizeof(f), field, "ipVersion");
			return mdec_fail(c, mnode_map_get(m, "ipVersion"), f,
					 "must be %d with %s %s", p->number == 1 ? 4 : 6,
					 neg ? "notProtocol" : "protocol",
					 p->number == 1 ? "ICMP" : "ICMPv6");
		}
	}
	/* The family a rule is limited to: its ipVersion, else what protocol ICMP (4) or ICMPv6
	 * (6) implies; a CIDR of the other family would make it a rule that can never match
	 * (Calico's validator checks ipVersion only; tabby also refuses the implied case). */
	unsigned fam = rl->ip_version;
	const char *why = "the rule's ipVersion";

	if (!fam && rl->protocol.set && (rl->protocol.number == 1 || rl->protocol.number == 58)) {
		fam = rl->protocol.number == 1 ? 4 : 6;
		why = fam == 4 ? "protocol ICMP, which is IPv" : "protocol ICMPv6, which is IPv";
	}
	for (size_t i = 0; i < ELEMENTSOF(parts); i++) {
		bool v4 = false, v6 = false;

		if (parts[i].is_ports)
			continue;
		for (size_t j = 0; j < parts[i].count; j++) {
			bool is4 = parts[i].nets[j].addr.family == AF_INET;
			char buf[IP_PREFIX_STRLEN];

			v4 |= is4;
			v6 |= !is4;
			if (fam && fam != (is4 ? 4u : 6u)) {
				mdec_pathf(f, sizeof(f), "%s.%s[%zu]", field, parts[i].name, j);
				return mdec_fail(c, parts[i].n->values[j], f,
						 "%s does not match %s%s%u",
						 ip_prefix_format(&parts[i].nets[j], buf), why,
						 rl->ip_version ? " " : "", fam);
			}
		}
		if ((v4 && v6) || (v4 && seen6) || (v6 && seen4)) {
			mdec_join(f, sizeof(f), field, parts[i].name);
			return mdec_fail(c, parts[i].n, f,
					 "rule contains both IPv4 and IPv6 CIDRs");
		}
		seen4 |= v4;
		seen6 |= v6;
	}
	return 0;
}

/* Calico RuleMetadata: {annotations: {string: string}}; stored, no effect on traffic. */
static int decode_rule_metadata(const struct dctx *c, const struct mnode *m, const char *field,
				char **ret)
{
	int r = mdec_want_map(c, m, field);

	for (size_t i = 0; r >= 0 && i < mdec_count(m); i++) {
		const char *k = m->keys[i]->text;
		const struct mnode *v = m->values[i];
		char f[FIELD_MAX];

		mdec_join(f, sizeof(f), field, k);
		if (strcmp(k, "annotations") == 0) {
			r = mdec_want_map(c, v, f);
			for (size_t j = 0; r >= 0 && j < mdec_count(v); j++) {
				const char *t;
				char g[FIELD_MAX];

				mdec_join(g, sizeof(g), f, v->keys[j]->text);
				r = mdec_get_text(c, v->values[j], g, &t);
			}
		} else {
			r = mdec_unknown(c, m->keys[i], f);
		}
	}
	if (r < 0 || mdec_is_null(m))
		return r;
	free(*ret);
	*ret = NULL;
	return mdec_to_json_text(m, ret);
}

static int decode_rule(const struct dctx *c, const struct mnode *m, const char *field,
		       struct model_rule *rl)
{
	struct entity_nodes src = {}, dst = {};
	bool has_action = false;
	int r = mdec_require_map(c, m, field);

	if (r < 0)
		return r;
	rl->source_line = m->line;
	size_t mark = mdec_mark(c);
	for (size_t i = 0; i < m->n; i++) {
		const char *k = m->keys[i]->text;
		const struct mnode *v = m->values[i];
		char f[FIELD_MAX];

		mdec_join(f, sizeof(f), field, k);
		if (strcmp(k, "action") == 0) {
			const char *t = NULL;

			r = mdec_get_text(c, v, f, &t);
			for (int a = 0; r >= 0 && t && a < _MODEL_ACTION_MAX; a++)
				if (strcmp(t, action_names[a]) == 0) {
					rl->action = (enum model_action)a;
					has_action = true;
				}
			if (r >= 0 && !has_action)
				r = mdec_fail(c, v, f, "must be Allow, Deny, Log or Pass");
		} else if (strcmp(k, "ipVersion") == 0) {
			uint64_t u = 0;

			r = mdec_get_uint(c, v, f, &u);
			if (r > 0 && u != 4 && u != 6)
				r = mdec_fail(c, v, f, "must be 4 or 6");
			rl->ip_version = (uint8_t)u;
		} else if (strcmp(k, "protocol") == 0) {
			r = get_protocol(c, v, f, &rl->protocol);
		} else if (strcmp(k, "notProtocol") == 0) {
			r = get_protocol(c, v, f, &rl->not_protocol);
		} else if (strcmp(k, "icmp") == 0) {
			r = get_icmp(c, v, f, &rl->icmp);
		} else if (strcmp(k, "notICMP") == 0) {
			r = get_icmp(c, v, f, &rl->not_icmp);
		} else if (strcmp(k, "source") == 0) {
			r = decode_entity(c, v, f, &rl->source, &src);
		} else if (strcmp(k, "destination") == 0) {
			r = decode_entity(c, v, f, &rl->destination, &dst);
		} else if (strcmp(k, "metadata") == 0) {
			r = decode_rule_metadata(c, v, f, &rl->metadata);
		} else if (strcmp(k, "http") == 0) {
			/* ignoring an HTTP match would widen an Allow rule to all traffic */
			r = mdec_fail(c, m->keys[i], f,
				      "not supported by tabby: HTTP matches need Calico's "
				      "application layer policy (an L7 proxy), which tabby does "
				      "not have; ignoring it would widen the rule");
		} else {
			r = mdec_unknown(c, m->keys[i], f);
		}
		if (r < 0 && !mdec_go_on(c, r))
			return r;
	}
	if (mdec_failed_since(c, mark))
		return -EINVAL;
	if (!has_action) {
		char f[FIELD_MAX];

		mdec_join(f, sizeof(f), field, "action");
		return mdec_fail(c, m, f, "required");
	}
	return check_rule(c, field, rl, m, &src, &dst);
}

static int decode_rules(const struct dctx *c, const struct mnode *v, const char *f,
			struct model_rule **ret, size_t *ret_n)
{
	int r = mdec_want_seq(c, v, f, MODEL_MAX_RULES);

	if (r < 0 || !mdec_count(v))
		return r;
	*ret = calloc(v->n, sizeof(**ret));
	if (!*ret)
		return -ENOMEM;
	size_t mark = mdec_mark(c);
	for (size_t j = 0; j < v->n; j++) {
		char g[FIELD_MAX];

		mdec_pathf(g, sizeof(g), "%s[%zu]", f, j);
		(*ret_n)++;
		r = decode_rule(c, v->values[j], g, &(*ret)[j]);
		if (r < 0 && !mdec_go_on(c, r))
			return r;
	}
	if (mdec_failed_since(c, mark))
		return -EINVAL;
	return 0;
}

static int get_order(const struct dctx *c, const struct mnode *v, const char *f, bool *has,
		     double *ret)
{
	char *end = NULL;
	double d;

	if (mdec_is_null(v))
		return 0;
	if (v->type != MNODE_SCALAR ||
	    (mnode_scalar_kind(v) != MNODE_INT && mnode_scalar_kind(v) != MNODE_FLOAT))
		return mdec_fail(c, v, f, "must be a number");
	d = strtod(v->text, &end);
	if (!end || *end || !isfinite(d))
		return mdec_fail(c, v, f, "must be a finite number");
	*has = true;
	*ret = d;
	return 0;
}

/* Calico spec.types and Kubernetes spec.policyTypes: a list of at most "Ingress" and
 * "Egress", each at most once. */
static int get_policy_types(const struct dctx *c, const struct mnode *v, const char *f,
			    bool *ingress, bool *egress)
{
	int r = mdec_want_seq(c, v, f, 2);

	for (size_t j = 0; r >= 0 && j < mdec_count(v); j++) {
		const char *t = NULL;
		char g[FIELD_MAX];
		bool *b;

		mdec_pathf(g, sizeof(g), "%s[%zu]", f, j);
		r = mdec_get_text(c, v->values[j], g, &t);
		if (r < 0)
			break;
		if (t && strcmp(t, "Ingress") == 0)
			b = ingress;
		else if (t && strcmp(t, "Egress") == 0)
			b = egress;
		else
			return mdec_fail(c, v->values[j], g, "must be Ingress or Egress");
		if (*b)
			return mdec_fail(c, v->values[j], g, "\"%s\" is listed twice", t);
		*b = true;
	}
	return r;
}

/* Calico's tiered policy names (ValidateTieredPolicyName, Calico 3.26 to 3.29; later releases
 * dropped the rule): a policy in tier T is named "T.<name>"; in the default tier a name has no
 * dot or starts with "default.". Names Calico generates ("knp.default.") are accepted. */
static int check_tier_name(const struct dctx *c, const char *name, const char *tier)
{
	const struct mnode *md = mnode_map_get(c->doc, "metadata");
	const struct mnode *at = mnode_map_get(md, "name");
	size_t tl = strlen(tier);

	if (strncmp(name, "knp.default.", 12) == 0)
		return 0;
	if (strcmp(tier, MODEL_DEFAULT_TIER) == 0) {
		if (!strchr(name, '.') || strncmp(name, "default.", 8) == 0)
			return 0;
		return mdec_fail(c, at, "metadata.name",
				 "a policy in the default tier is named without a '.' or as "
				 "\"default.<name>\"");
	}
	if (strncmp(name, tier, tl) == 0 && name[tl] == '.' && name[tl + 1])
		return 0;
	return mdec_fail(c, at, "metadata.name",
			 "a policy in tier \"%s\" must be named \"%s.<name>\"", tier, tier);
}

int mdec_policy(const struct dctx *c, const struct mnode *spec, const struct mnode *at,
		struct model_resource *res)
{
	struct model_policy *p = &res->policy;
	bool global = res->kind == MODEL_KIND_GLOBAL_NETWORK_POLICY;
	const struct mnode *types_n = NULL, *tier_n = NULL;
	int r = mdec_want_map(c, spec, "spec");

	if (r < 0)
		return r;
	size_t mark = mdec_mark(c);
	for (size_t i = 0; i < mdec_count(spec); i++) {
		const char *k = spec->keys[i]->text;
		const struct mnode *v = spec->values[i];
		char f[FIELD_MAX];

		mdec_join(f, sizeof(f), "spec", k);
		if (strcmp(k, "order") == 0) {
			r = get_order(c, v, f, &p->has_order, &p->order);
		} else if (strcmp(k, "tier") == 0) {
			tier_n = v;
			r = mdec_get_str(c, v, f, &p->tier);
			if (r >= 0 && p->tier && !model_dns_label_is_valid(p->tier))
				r = mdec_fail(c, v, f, "must be a lower-case RFC 1123 label");
		} else if (strcmp(k, "selector") == 0) {
			r = get_selector_no_global(c, v, f, &p->selector);
		} else if (strcmp(k, "types") == 0) {
			types_n = v;
			r = get_policy_types(c, v, f, &p->types_ingress, &p->types_egress);
		} else if (strcmp(k, "ingress") == 0) {
			r = decode_rules(c, v, f, &p->ingress, &p->n_ingress);
		} else if (strcmp(k, "egress") == 0) {
			r = decode_rules(c, v, f, &p->egress, &p->n_egress);
		} else if (global && strcmp(k, "namespaceSelector") == 0) {
			r = mdec_get_selector(c, v, f, &p->namespace_selector);
		} else if (global && strcmp(k, "doNotTrack") == 0) {
			r = mdec_get_bool(c, v, f, &p->do_not_track);
		} else if (global && strcmp(k, "preDNAT") == 0) {
			r = mdec_get_bool(c, v, f, &p->pre_dnat);
		} else if (global && strcmp(k, "applyOnForward") == 0) {
			r = mdec_get_bool(c, v, f, &p->apply_on_forward);
		} else if (strcmp(k, "serviceAccountSelector") == 0) {
			r = mdec_fail(c, spec->keys[i], f,
				      "not supported by tabby (it has no service accounts)");
		} else {
			r = mdec_unknown(c, spec->keys[i], f);
		}
		if (r < 0 && !mdec_go_on(c, r))
			return r;
	}
	if (mdec_failed_since(c, mark))
		return -EINVAL;
	if (!p->tier) {
		p->tier = strdup(MODEL_DEFAULT_TIER);
		if (!p->tier)
			return -ENOMEM;
	}
	(void)tier_n;
	r = check_tier_name(c, res->meta.name, p->tier);
	if (r < 0)
		return r;
	if (!types_n || mdec_count(types_n) == 0) {
		/* Calico's defaultPolicyTypesField: Egress only for egress rules alone, both for
		 * both, else Ingress (also when there are no rules at all) */
		p->types_ingress = !p->n_egress || p->n_ingress;
		p->types_egress = p->n_egress > 0;
	}
	/* validateGlobalNetworkPolicy */
	if (p->do_not_track && p->pre_dnat)
		return mdec_fail(c, mnode_map_get(spec, "preDNAT"), "spec.preDNAT",
				 "preDNAT and doNotTrack cannot both be true");
	if (p->pre_dnat && p->n_egress)
		return mdec_fail(c, mnode_map_get(spec, "egress"), "spec.egress",
				 "a preDNAT policy cannot have egress rules");
	if (p->pre_dnat && p->types_egress)
		return mdec_fail(c, types_n ? types_n : at, "spec.types",
				 "a preDNAT policy cannot have type Egress");
	if (!p->apply_on_forward && (p->do_not_track || p->pre_dnat))
		return mdec_fail(c, at, "spec.applyOnForward",
				 "must be true when preDNAT or doNotTrack is true");
	return 0;
}

int mdec_tier(const struct dctx *c, const struct mnode *spec, const struct mnode *at,
	      struct model_resource *res)
{
	struct model_tier *t = &res->tier;
	const struct mnode *md = mnode_map_get(c->doc, "metadata");
	int r = mdec_want_map(c, spec, "spec");

	if (r < 0)
		return r;
	/* a tier name prefixes policy names, so it has no dots */
	if (!model_dns_label_is_valid(res->meta.name))
		return mdec_fail(c, mnode_map_get(md, "name"), "metadata.name",
				 "a tier name must be a lower-case RFC 1123 label (no '.')");
	t->default_action = MODEL_ACTION_DENY;
	size_t mark = mdec_mark(c);
	for (size_t i = 0; i < mdec_count(spec); i++) {
		const char *k = spec->keys[i]->text;
		const struct mnode *v = spec->values[i];
		char f[FIELD_MAX];

		mdec_join(f, sizeof(f), "spec", k);
		if (strcmp(k, "order") == 0) {
			r = get_order(c, v, f, &t->has_order, &t->order);
		} else if (strcmp(k, "defaultAction") == 0) {
			const char *s = NULL;

			r = mdec_get_text(c, v, f, &s);
			if (r >= 0 && s && strcmp(s, "Deny") == 0)
				t->default_action = MODEL_ACTION_DENY;
			else if (r >= 0 && s && strcmp(s, "Pass") == 0)
				t->default_action = MODEL_ACTION_PASS;
			else if (r >= 0 && s)
				r = mdec_fail(c, v, f, "must be Deny or Pass");
		} else {
			r = mdec_unknown(c, spec->keys[i], f);
		}
		if (r < 0 && !mdec_go_on(c, r))
			return r;
	}
	if (mdec_failed_since(c, mark))
		return -EINVAL;
	/* Calico's validator: the default tier has the fixed order DefaultTierOrder (1,000,000) */
	if (strcmp(res->meta.name, MODEL_DEFAULT_TIER) == 0 && t->has_order &&
	    t->order != MODEL_DEFAULT_TIER_ORDER)
		return mdec_fail(c, mnode_map_get(spec, "order"), "spec.order",
				 "the default tier's order must be %d (Calico's)",
				 MODEL_DEFAULT_TIER_ORDER);
	return 0;
}

int mdec_netset(const struct dctx *c, const struct mnode *spec, const struct mnode *at,
		struct model_resource *res)
{
	int r = mdec_want_map(c, spec, "spec");

	if (r < 0)
		return r;
	if (model_labels_get(&res->meta.labels, "projectcalico.org/namespace")) {
		const struct mnode *l = mnode_map_get(mnode_map_get(c->doc, "metadata"), "labels");

		return mdec_fail(c, l, "metadata.labels.projectcalico.org/namespace",
				 "reserved: Calico sets this label itself");
	}
	size_t mark = mdec_mark(c);
	for (size_t i = 0; i < mdec_count(spec); i++) {
		const char *k = spec->keys[i]->text;
		char f[FIELD_MAX];

		mdec_join(f, sizeof(f), "spec", k);
		if (strcmp(k, "nets") == 0)
			r = get_nets(c, spec->values[i], f, &res->netset.nets, &res->netset.n_nets);
		else
			r = mdec_unknown(c, spec->keys[i], f);
		if (r < 0 && !mdec_go_on(c, r))
			return r;
	}
	if (mdec_failed_since(c, mark))
		return -EINVAL;
	return 0;
}

int mdec_named_ports(const struct dctx *c, const struct mnode *v, const char *field,
		     struct model_named_port **ret, size_t *ret_n)
{
	int r = mdec_want_seq(c, v, field, MODEL_MAX_NAMED_PORTS);

	if (r < 0 || !mdec_count(v))
		return r;
	*ret = calloc(v->n, sizeof(**ret));
	if (!*ret)
		return -ENOMEM;
	size_t mark = mdec_mark(c);
	for (size_t j = 0; j < v->n; j++) {
		const struct mnode *e = v->values[j];
		struct model_named_port *p = &(*ret)[(*ret_n)++];
		char g[FIELD_MAX], h[FIELD_MAX];
		bool has_port = false;

		mdec_pathf(g, sizeof(g), "%s[%zu]", field, j);
		r = mdec_require_map(c, e, g);
		for (size_t m = 0; r >= 0 && m < mdec_count(e); m++) {
			const char *k = e->keys[m]->text;
			const struct mnode *ev = e->values[m];
			uint64_t u = 0;

			mdec_join(h, sizeof(h), g, k);
			if (strcmp(k, "name") == 0) {
				r = mdec_get_str(c, ev, h, &p->name);
				if (r >= 0 && p->name && !model_port_name_is_valid(p->name))
					r = mdec_fail(c, ev, h,
						      "invalid port name \"%s\": 1 to 15 of "
						      "[a-z0-9-] with at least one letter",
						      p->name);
				for (size_t q = 0; r >= 0 && p->name && q < j; q++)
					if ((*ret)[q].name && strcmp((*ret)[q].name, p->name) == 0)
						r = mdec_fail(c, ev, h,
							      "port \"%s\" is listed twice",
							      p->name);
			} else if (strcmp(k, "protocol") == 0) {
				r = get_protocol(c, ev, h, &p->protocol);
				if (r >= 0 && p->protocol.set && !protocol_has_ports(&p->protocol))
					r = mdec_fail(c, ev, h, "must be TCP, UDP or SCTP");
			} else if (strcmp(k, "port") == 0) {
				r = mdec_get_uint(c, ev, h, &u);
				if (r > 0 && (u < 1 || u > 65535))
					r = mdec_fail(c, ev, h, "must be between 1 and 65535");
				p->port = (uint16_t)u;
				has_port = r > 0;
			} else if (strcmp(k, "hostPort") == 0 || strcmp(k, "hostIP") == 0) {
				r = mdec_fail(c, e->keys[m], h, "not supported by tabby");
			} else {
				r = mdec_unknown(c, e->keys[m], h);
			}
		}
		if (r >= 0 && !p->name)
			r = mdec_fail_required(c, e, g, "name");
		if (r >= 0 && !p->protocol.set)
			r = mdec_fail_required(c, e, g, "protocol");
		if (r >= 0 && !has_port)
			r = mdec_fail_required(c, e, g, "port");
		if (r < 0 && !mdec_go_on(c, r))
			return r;
	}
	if (mdec_failed_since(c, mark))
		return -EINVAL;
	return 0;
}

int mdec_hep(const struct dctx *c, const struct mnode *spec, const struct mnode *at,
	     struct model_resource *res)
{
	struct model_host_endpoint *h = &res->hep;
	int r = mdec_want_map(c, spec, "spec");

	if (r < 0)
		return r;
	size_t mark = mdec_mark(c);
	for (size_t i = 0; i < mdec_count(spec); i++) {
		const char *k = spec->keys[i]->text;
		const struct mnode *v = spec->values[i];
		char f[FIELD_MAX];

		mdec_join(f, sizeof(f), "spec", k);
		if (strcmp(k, "node") == 0) {
			r = mdec_get_name(c, v, f, &h->node);
		} else if (strcmp(k, "interfaceName") == 0) {
			r = mdec_get_str(c, v, f, &h->interface_name);
			if (r >= 0 && h->interface_name &&
			    (!*h->interface_name || strlen(h->interface_name) > 15 ||
			     strpbrk(h->interface_name, "/: \t\n")))
				r = mdec_fail(c, v, f,
					      "invalid interface name \"%s\": 1 to 15 characters, "
					      "no '/', ':' or space (\"*\" = every interface)",
					      h->interface_name);
		} else if (strcmp(k, "expectedIPs") == 0) {
			r = mdec_want_seq(c, v, f, MODEL_MAX_IP_NETWORKS);
			if (r >= 0 && mdec_count(v)) {
				h->expected_ips = calloc(v->n, sizeof(*h->expected_ips));
				if (!h->expected_ips)
					return -ENOMEM;
			}
			for (size_t j = 0; r >= 0 && j < mdec_count(v); j++) {
				const char *t = NULL;
				char g[FIELD_MAX];

				mdec_pathf(g, sizeof(g), "%s[%zu]", f, j);
				r = mdec_get_text(c, v->values[j], g, &t);
				if (r >= 0 &&
				    (!t ||
				     ip_addr_parse(t, &h->expected_ips[h->n_expected_ips]) < 0))
					r = mdec_fail(c, v->values[j], g,
						      "invalid IP address \"%s\"", t ? t : "");
				if (r >= 0)
					h->n_expected_ips++;
			}
		} else if (strcmp(k, "profiles") == 0) {
			r = mdec_strv(c, v, f, MODEL_MAX_PROFILES, &h->profiles, &h->n_profiles);
		} else if (strcmp(k, "ports") == 0) {
			r = mdec_named_ports(c, v, f, &h->ports, &h->n_ports);
		} else {
			r = mdec_unknown(c, spec->keys[i], f);
		}
		if (r < 0 && !mdec_go_on(c, r))
			return r;
	}
	if (mdec_failed_since(c, mark))
		return -EINVAL;
	if (!h->node)
		return mdec_fail(c, at, "spec.node", "required");
	if (!h->interface_name && !h->n_expected_ips)
		return mdec_fail(c, at, "spec.interfaceName",
				 "an interfaceName or expectedIPs is required");
	return 0;
}

int mdec_profile(const struct dctx *c, const struct mnode *spec, const struct mnode *at,
		 struct model_resource *res)
{
	struct model_profile *p = &res->profile;
	int r = mdec_want_map(c, spec, "spec");

	if (r < 0)
		return r;
	size_t mark = mdec_mark(c);
	for (size_t i = 0; i < mdec_count(spec); i++) {
		const char *k = spec->keys[i]->text;
		const struct mnode *v = spec->values[i];
		char f[FIELD_MAX];

		mdec_join(f, sizeof(f), "spec", k);
		if (strcmp(k, "ingress") == 0)
			r = decode_rules(c, v, f, &p->ingress, &p->n_ingress);
		else if (strcmp(k, "egress") == 0)
			r = decode_rules(c, v, f, &p->egress, &p->n_egress);
		else if (strcmp(k, "labelsToApply") == 0)
			r = mdec_labels(c, v, f, &p->labels_to_apply);
		else
			r = mdec_unknown(c, spec->keys[i], f);
		if (r < 0 && !mdec_go_on(c, r))
			return r;
	}
	if (mdec_failed_since(c, mark))
		return -EINVAL;
	return 0;
}

static int decode_proto_ports(const struct dctx *c, const struct mnode *v, const char *f,
			      struct model_proto_port **ret, size_t *ret_n)
{
	int r = mdec_want_seq(c, v, f, MODEL_MAX_PORTS);

	if (r < 0 || !mdec_count(v))
		return r;
	*ret = calloc(v->n, sizeof(**ret));
	if (!*ret)
		return -ENOMEM;
	size_t mark = mdec_mark(c);
	for (size_t j = 0; j < v->n; j++) {
		const struct mnode *e = v->values[j];
		struct model_proto_port *p = &(*ret)[(*ret_n)++];
		char g[FIELD_MAX], h[FIELD_MAX];
		bool has_port = false;

		mdec_pathf(g, sizeof(g), "%s[%zu]", f, j);
		r = mdec_require_map(c, e, g);
		for (size_t m = 0; r >= 0 && m < mdec_count(e); m++) {
			const char *k = e->keys[m]->text;
			const struct mnode *ev = e->values[m];
			uint64_t u = 0;

			mdec_join(h, sizeof(h), g, k);
			if (strcmp(k, "protocol") == 0) {
				const char *t = NULL;

				/* validateProtoPort: exactly TCP, UDP or SCTP */
				r = mdec_get_text(c, ev, h, &t);
				if (r >= 0 && t && strcmp(t, "TCP") && strcmp(t, "UDP") &&
				    strcmp(t, "SCTP"))
					r = mdec_fail(c, ev, h, "must be TCP, UDP or SCTP");
				if (r >= 0 && t)
					p->protocol = (struct model_protocol){
					    .set = true, .number = model_protocol_from_string(t)};
			} else if (strcmp(k, "port") == 0) {
				r = mdec_get_uint(c, ev, h, &u);
				if (r > 0 && (u < 1 || u > 65535))
					r = mdec_fail(c, ev, h, "must be between 1 and 65535");
				p->port = (uint16_t)u;
				has_port = r > 0;
			} else if (strcmp(k, "net") == 0) {
				r = get_net(c, ev, h, &p->net);
			} else {
				r = mdec_unknown(c, e->keys[m], h);
			}
		}
		if (r >= 0 && !p->protocol.set)
			r = mdec_fail_required(c, e, g, "protocol");
		if (r >= 0 && !has_port)
			r = mdec_fail_required(c, e, g, "port");
		if (r < 0 && !mdec_go_on(c, r))
			return r;
	}
	if (mdec_failed_since(c, mark))
		return -EINVAL;
	return 0;
}

/* How a documented FelixConfiguration field that tabby stores without acting on it is checked
 * (Calico's FelixConfigurationSpec types and validator tags). */
enum felix_extra_type {
	FX_BOOL,
	FX_INT,
	FX_STR,
	FX_DURATION, /* metav1.Duration text: "90s", "1m30s" */
	FX_LOGLEVEL, /* validator logLevel: Debug, Info, Warning, Error, Fatal */
	FX_PORT,     /* 1..65535 */
	FX_STRV,
	FX_ANY, /* structured values (lists of objects, maps), stored as written */
};

static const struct {
	const char *name;
	enum felix_extra_type type;
} felix_extras[] = {
    {"logSeverityScreen", FX_LOGLEVEL},
    {"logSeverityFile", FX_LOGLEVEL},
    {"logSeveritySys", FX_LOGLEVEL},
    {"logFilePath", FX_STR},
    {"logPrefix", FX_STR},
    {"logDebugFilenameRegex", FX_STR},
    {"useInternalDataplaneDriver", FX_BOOL},
    {"dataplaneDriver", FX_STR},
    {"dataplaneWatchdogTimeout", FX_DURATION},
    {"ipv6Support", FX_BOOL},
    {"routeRefreshInterval", FX_DURATION},
    {"interfaceRefreshInterval", FX_DURATION},
    {"iptablesRefreshInterval", FX_DURATION},
    {"iptablesPostWriteCheckInterval", FX_DURATION},
    {"iptablesLockFilePath", FX_STR},
    {"iptablesLockTimeout", FX_DURATION},
    {"iptablesLockProbeInterval", FX_DURATION},
    {"iptablesBackend", FX_STR},
    {"iptablesMarkMask", FX_INT},
    {"iptablesFilterAllowAction", FX_STR},
    {"iptablesMangleAllowAction", FX_STR},
    {"iptablesFilterDenyAction", FX_STR},
    {"iptablesNATOutgoingInterfaceFilter", FX_STR},
    {"ipsetsRefreshInterval", FX_DURATION},
    {"nftablesRefreshInterval", FX_DURATION},
    {"nftablesFilterAllowAction", FX_STR},
    {"nftablesMangleAllowAction", FX_STR},
    {"nftablesFilterDenyAction", FX_STR},
    {"nftablesMarkMask", FX_INT},
    {"maxIpsetSize", FX_INT},
    {"xdpRefreshInterval", FX_DURATION},
    {"xdpEnabled", FX_BOOL},
    {"genericXDPEnabled", FX_BOOL},
    {"netlinkTimeout", FX_DURATION},
    {"metadataAddr", FX_STR},
    {"metadataPort", FX_PORT},
    {"openstackRegion", FX_STR},
    {"interfacePrefix", FX_STR},
    {"interfaceExclude", FX_STR},
    {"chainInsertMode", FX_STR},
    {"defaultEndpointToHostAction", FX_STR}, /* decoded above; listed for completeness */
    {"ipipEnabled", FX_BOOL},
    {"ipipMTU", FX_INT},
    {"vxlanEnabled", FX_BOOL},
    {"vxlanMTU", FX_INT},
    {"vxlanMTUV6", FX_INT},
    {"vxlanPort", FX_PORT},
    {"vxlanVNI", FX_INT},
    {"allowVXLANPacketsFromWorkloads", FX_BOOL},
    {"allowIPIPPacketsFromWorkloads", FX_BOOL},
    {"reportingInterval", FX_DURATION},
    {"reportingTTL", FX_DURATION},
    {"endpointReportingEnabled", FX_BOOL},
    {"endpointReportingDelay", FX_DURATION},
    {"healthEnabled", FX_BOOL},
    {"healthHost", FX_STR},
    {"healthPort", FX_PORT},
    {"healthTimeoutOverrides", FX_ANY},
    {"prometheusMetricsEnabled", FX_BOOL},
    {"prometheusMetricsHost", FX_STR},
    {"prometheusMetricsPort", FX_PORT},
    {"prometheusGoMetricsEnabled", FX_BOOL},
    {"prometheusProcessMetricsEnabled", FX_BOOL},
    {"prometheusWireGuardMetricsEnabled", FX_BOOL},
    {"failsafeInboundHostPorts", FX_ANY},  /* decoded above */
    {"failsafeOutboundHostPorts", FX_ANY}, /* decoded above */
    {"kubeNodePortRanges", FX_ANY},
    {"policySyncPathPrefix", FX_STR},
    {"usageReportingEnabled", FX_BOOL},
    {"usageReportingInitialDelay", FX_DURATION},
    {"usageReportingInterval", FX_DURATION},
    {"natPortRange", FX_STR},
    {"natOutgoingAddress", FX_STR},
    {"deviceRouteSourceAddress", FX_STR},
    {"deviceRouteSourceAddressIPv6", FX_STR},
    {"deviceRouteProtocol", FX_INT},
    {"removeExternalRoutes", FX_BOOL},
    {"routeSource", FX_STR},
    {"routeTableRange", FX_ANY},
    {"routeTableRanges", FX_ANY},
    {"routeSyncDisabled", FX_BOOL},
    {"externalNodesList", FX_STRV},
    {"debugMemoryProfilePath", FX_STR},
    {"debugDisableLogDropping", FX_BOOL},
    {"debugSimulateCalcGraphHangAfter", FX_DURATION},
    {"debugSimulateDataplaneHangAfter", FX_DURATION},
    {"sidecarAccelerationEnabled", FX_BOOL},
    {"disableConntrackInvalidCheck", FX_BOOL},
    {"mtuIfacePattern", FX_STR},
    {"featureDetectOverride", FX_STR},
    {"featureGates", FX_STR},
    {"floatingIPs", FX_STR},
    {"ipForwarding", FX_STR},
    {"serviceLoopPrevention", FX_STR},
    {"awsSrcDstCheck", FX_STR},
    {"wireguardEnabled", FX_BOOL},
    {"wireguardEnabledV6", FX_BOOL},
    {"wireguardListeningPort", FX_PORT},
    {"wireguardListeningPortV6", FX_PORT},
    {"wireguardRoutingRulePriority", FX_INT},
    {"wireguardInterfaceName", FX_STR},
    {"wireguardInterfaceNameV6", FX_STR},
    {"wireguardMTU", FX_INT},
    {"wireguardMTUV6", FX_INT},
    {"wireguardHostEncryptionEnabled", FX_BOOL},
    {"wireguardKeepAlive", FX_DURATION},
    {"bpfEnabled", FX_BOOL},
    {"bpfDisableUnprivileged", FX_BOOL},
    {"bpfLogLevel", FX_STR},
    {"bpfDataIfacePattern", FX_STR},
    {"bpfL3IfacePattern", FX_STR},
    {"bpfConnectTimeLoadBalancingEnabled", FX_BOOL},
    {"bpfConnectTimeLoadBalancing", FX_STR},
    {"bpfHostNetworkedNATWithoutCTLB", FX_STR},
    {"bpfExternalServiceMode", FX_STR},
    {"bpfKubeProxyIptablesCleanupEnabled", FX_BOOL},
    {"bpfKubeProxyMinSyncPeriod", FX_DURATION},
    {"bpfKubeProxyEndpointSlicesEnabled", FX_BOOL},
    {"bpfExtToServiceConnmark", FX_INT},
    {"bpfDSROptoutCIDRs", FX_STRV},
    {"bpfMapSizeNATFrontend", FX_INT},
    {"bpfMapSizeNATBackend", FX_INT},
    {"bpfMapSizeNATAffinity", FX_INT},
    {"bpfMapSizeRoute", FX_INT},
    {"bpfMapSizeConntrack", FX_INT},
    {"bpfMapSizeIPSets", FX_INT},
    {"bpfMapSizeIfState", FX_INT},
    {"bpfEnforceRPF", FX_STR},
    {"bpfPolicyDebugEnabled", FX_BOOL},
    {"bpfPSNATPorts", FX_STR},
    {"bpfHostConntrackBypass", FX_BOOL},
    {"bpfForceTrackPacketsFromIfaces", FX_STRV},
    {"bpfDisableGROForIfaces", FX_STR},
    {"bpfCTLBLogFilter", FX_STR},
    {"bpfAttachType", FX_STR},
    {"bpfRedirectToPeer", FX_STR},
    {"bpfExcludeCIDRsFromNAT", FX_STRV},
    {"bpfExportBufferSizeMB", FX_INT},
    {"bpfConntrackLogLevel", FX_STR},
    {"bpfConntrackCleanupMode", FX_STR},
    {"bpfConntrackTimeouts", FX_ANY},
    {"bpfProfiling", FX_STR},
    {"bpfJITHardening", FX_STR},
    {"flowLogsFlushInterval", FX_DURATION},
    {"flowLogsCollectorDebugTrace", FX_BOOL},
    {"flowLogsGoldmaneServer", FX_STR},
    {"programClusterRoutes", FX_STR},
    {"nfNetlinkBufSize", FX_STR},
    {"goGCThreshold", FX_INT},
    {"goMemoryLimitMB", FX_INT},
    {"goMaxProcs", FX_INT},
    {"requireMTUFile", FX_BOOL},
};

/* Check a documented field felix does not act on yet, then store it and warn. */
static int felix_extra(const struct dctx *c, const struct mnode *key, const struct mnode *v,
		       const char *f, enum felix_extra_type type, struct model_resource *res)
{
	static const char *const levels[] = {"Debug", "Info", "Warning", "Error", "Fatal", NULL};
	const char *t = NULL;
	uint64_t u = 0, ns = 0;
	bool b;
	int r = 0;

	switch (type) {
	case FX_BOOL:
		r = mdec_get_bool(c, v, f, &b);
		break;
	case FX_INT:
		r = mdec_get_uint(c, v, f, &u);
		break;
	case FX_PORT:
		r = mdec_get_uint(c, v, f, &u);
		if (r > 0 && (u < 1 || u > 65535))
			r = mdec_fail(c, v, f, "must be between 1 and 65535");
		break;
	case FX_STR:
		r = mdec_get_text(c, v, f, &t);
		break;
	case FX_LOGLEVEL:
		r = mdec_get_text(c, v, f, &t);
		if (r >= 0 && t && !in_list(levels, t))
			r = mdec_fail(c, v, f, "must be Debug, Info, Warning, Error or Fatal");
		break;
	case FX_DURATION:
		r = mdec_get_text(c, v, f, &t);
		if (r >= 0 && t && model_parse_duration_ns(t, &ns) < 0)
			r = mdec_fail(c, v, f, "invalid duration \"%s\" (e.g. \"90s\", \"1m30s\")",
				      t);
		break;
	case FX_STRV: {
		char **sv = NULL;
		size_t n = 0;

		r = mdec_strv(c, v, f, MODEL_MAX_ITEMS, &sv, &n);
		for (size_t i = 0; sv && sv[i]; i++)
			free(sv[i]);
		free(sv);
		break;
	}
	case FX_ANY:
		break;
	}
	if (r < 0)
		return r;
	/* vxlanMTU is acted on (felix/calc/vxlan.c reads it from the stored settings). */
	return mdec_extra(
	    c, key, v, f, &res->extra_spec,
	    strcmp(key->text, "vxlanMTU") == 0 ? NULL : "tabby's felix does not act on it yet");
}

int mdec_felixconfig(const struct dctx *c, const struct mnode *spec, const struct mnode *at,
		     struct model_resource *res)
{
	static const char *const actions[] = {"Drop", "Accept", "Return", NULL};
	struct model_felix_configuration *fc = &res->felixconfig;
	const struct mnode *nft_n = NULL, *pd_n = NULL;
	int nft = -1, pd = -1;
	int r = mdec_want_map(c, spec, "spec");

	if (r < 0)
		return r;
	size_t mark = mdec_mark(c);
	for (size_t i = 0; i < mdec_count(spec); i++) {
		const char *k = spec->keys[i]->text;
		const struct mnode *v = spec->values[i];
		const char *t = NULL;
		char f[FIELD_MAX];

		mdec_join(f, sizeof(f), "spec", k);
		if (strcmp(k, "defaultEndpointToHostAction") == 0) {
			r = mdec_get_str(c, v, f, &fc->default_endpoint_to_host_action);
			if (r >= 0 && fc->default_endpoint_to_host_action &&
			    !in_list(actions, fc->default_endpoint_to_host_action))
				r = mdec_fail(c, v, f, "must be Drop, Accept or Return");
		} else if (strcmp(k, "failsafeInboundHostPorts") == 0) {
			/* present but empty = no failsafe ports; absent = Calico's defaults */
			fc->has_failsafe_inbound = !mdec_is_null(v);
			r = decode_proto_ports(c, v, f, &fc->failsafe_inbound,
					       &fc->n_failsafe_inbound);
		} else if (strcmp(k, "failsafeOutboundHostPorts") == 0) {
			fc->has_failsafe_outbound = !mdec_is_null(v);
			r = decode_proto_ports(c, v, f, &fc->failsafe_outbound,
					       &fc->n_failsafe_outbound);
		} else if (strcmp(k, "nftablesMode") == 0) {
			nft_n = v;
			r = mdec_get_text(c, v, f, &t);
			if (r >= 0 && t && strcmp(t, "Enabled") == 0)
				nft = MODEL_DATAPLANE_NFTABLES;
			else if (r >= 0 && t && strcmp(t, "Disabled") == 0)
				nft = MODEL_DATAPLANE_IPTABLES;
			else if (r >= 0 && t)
				r = mdec_fail(c, v, f, "must be Enabled or Disabled");
		} else if (strcmp(k, "policyDataplane") == 0) {
			pd_n = v;
			r = mdec_get_text(c, v, f, &t);
			if (r >= 0 && t && strcmp(t, "nftables") == 0)
				pd = MODEL_DATAPLANE_NFTABLES;
			else if (r >= 0 && t && strcmp(t, "iptables") == 0)
				pd = MODEL_DATAPLANE_IPTABLES;
			else if (r >= 0 && t)
				r = mdec_fail(c, v, f, "must be nftables or iptables");
		} else {
			/* a documented Calico setting felix does not act on yet is stored and
			 * warned about; anything else is an unknown field */
			size_t x = 0;

			while (x < ELEMENTSOF(felix_extras) && strcmp(felix_extras[x].name, k) != 0)
				x++;
			if (x < ELEMENTSOF(felix_extras))
				r = felix_extra(c, spec->keys[i], v, f, felix_extras[x].type, res);
			else
				r = mdec_unknown(c, spec->keys[i], f);
		}
		if (r < 0 && !mdec_go_on(c, r))
			return r;
	}
	if (mdec_failed_since(c, mark))
		return -EINVAL;
	if (nft >= 0 && pd >= 0 && nft != pd)
		return mdec_fail(c, pd_n, "spec.policyDataplane", "contradicts nftablesMode: %s",
				 nft_n->text);
	if (nft >= 0 || pd >= 0) {
		fc->has_dataplane = true;
		fc->dataplane = (enum model_dataplane)(nft >= 0 ? nft : pd);
	}
	return 0;
}

int mdec_namespace(const struct dctx *c, const struct mnode *spec, const struct mnode *at,
		   struct model_resource *res)
{
	const struct mnode *md = mnode_map_get(c->doc, "metadata");

	if (!model_dns_label_is_valid(res->meta.name))
		return mdec_fail(c, mnode_map_get(md, "name"), "metadata.name",
				 "must be a lower-case RFC 1123 label");
	if (!mdec_is_null(spec) && (spec->type != MNODE_MAP || spec->n))
		return mdec_fail(c, spec, "spec",
				 "must be empty: tabby reads only a Namespace's name and labels");
	return 0;
}

/* Kubernetes networking.k8s.io/v1 NetworkPolicy */

static int sb_err(int r)
{
	return r < 0 ? -ENOMEM : 0;
}

/*
 * A metav1.LabelSelector to Calico selector text as Calico's converter writes it: matchLabels
 * (sorted) as "k == 'v'", then matchExpressions in order as "k in { 'a', 'b' }",
 * "k not in { ... }", "has(k)", "! has(k)", joined by " && "; {} selects everything, "all()".
 */
static int k8s_selector(const struct dctx *c, const struct mnode *m, const char *field, char **ret)
{
	_cleanup_strbuf_ struct strbuf sb = {};
	struct model_labels ml = {};
	const struct mnode *exprs = NULL;
	int r = mdec_want_map(c, m, field);

	if (r < 0)
		return r;
	for (size_t i = 0; i < mdec_count(m); i++) {
		const char *k = m->keys[i]->text;
		char f[FIELD_MAX];

		mdec_join(f, sizeof(f), field, k);
		if (strcmp(k, "matchLabels") == 0)
			r = mdec_labels(c, m->values[i], f, &ml);
		else if (strcmp(k, "matchExpressions") == 0)
			r = mdec_want_seq(c, exprs = m->values[i], f, MODEL_MAX_LABELS);
		else
			r = mdec_unknown(c, m->keys[i], f);
		if (r < 0)
			goto out;
	}
	for (size_t i = 0; i < ml.n && r >= 0; i++)
		r = sb_err(strbuf_printf(&sb, "%s%s == '%s'", sb.len ? " && " : "", ml.items[i].key,
					 ml.items[i].value));
	for (size_t j = 0; r >= 0 && j < mdec_count(exprs); j++) {
		const struct mnode *e = exprs->values[j];
		const char *key = NULL, *op = NULL;
		const struct mnode *values = NULL;
		char g[FIELD_MAX], h[FIELD_MAX];

		mdec_pathf(g, sizeof(g), "%s.matchExpressions[%zu]", field, j);
		r = mdec_require_map(c, e, g);
		for (size_t q = 0; r >= 0 && q < mdec_count(e); q++) {
			const char *k = e->keys[q]->text;

			mdec_join(h, sizeof(h), g, k);
			if (strcmp(k, "key") == 0)
				r = mdec_get_text(c, e->values[q], h, &key);
			else if (strcmp(k, "operator") == 0)
				r = mdec_get_text(c, e->values[q], h, &op);
			else if (strcmp(k, "values") == 0)
				r = mdec_want_seq(c, values = e->values[q], h, MODEL_MAX_LABELS);
			else
				r = mdec_unknown(c, e->keys[q], h);
		}
		if (r < 0)
			break;
		mdec_join(h, sizeof(h), g, "key");
		if (!key) {
			r = mdec_fail(c, e, h, "required");
			break;
		}
		if (!model_label_key_is_valid(key)) {
			r = mdec_fail(c, mnode_map_get(e, "key"), h, "invalid label key \"%s\"",
				      key);
			break;
		}
		mdec_join(h, sizeof(h), g, "operator");
		if (!op) {
			r = mdec_fail(c, e, h, "required");
			break;
		}
		bool set_op = strcmp(op, "In") == 0 || strcmp(op, "NotIn") == 0;

		if (!set_op && strcmp(op, "Exists") != 0 && strcmp(op, "DoesNotExist") != 0) {
			r = mdec_fail(c, mnode_map_get(e, "operator"), h,
				      "must be In, NotIn, Exists or DoesNotExist");
			break;
		}
		mdec_join(h, sizeof(h), g, "values");
		if (set_op && !mdec_count(values)) {
			r = mdec_fail(c, values ? values : e, h, "must not be empty for %s", op);
			break;
		}
		if (!set_op && mdec_count(values)) {
			r = mdec_fail(c, values, h, "must be empty for %s", op);
			break;
		}
		if (sb.len)
			r = sb_err(strbuf_puts(&sb, " && "));
		if (r >= 0 && !set_op)
			r = sb_err(strbuf_printf(&sb, "%shas(%s)", *op == 'D' ? "! " : "", key));
		if (r >= 0 && set_op)
			r = sb_err(strbuf_printf(&sb, "%s %s { ", key,
						 strcmp(op, "In") == 0 ? "in" : "not in"));
		for (size_t q = 0; r >= 0 && set_op && q < values->n; q++) {
			const char *val = NULL;
			char hh[FIELD_MAX];

			mdec_pathf(hh, sizeof(hh), "%s[%zu]", h, q);
			r = mdec_get_text(c, values->values[q], hh, &val);
			if (r >= 0 && (!val || !model_label_value_is_valid(val)))
				r = mdec_fail(c, values->values[q], hh,
					      "invalid label value \"%s\"", val ? val : "");
			if (r >= 0)
				r = sb_err(strbuf_printf(&sb, "%s'%s'", q ? ", " : "", val));
		}
		if (r >= 0 && set_op)
			r = sb_err(strbuf_puts(&sb, " }"));
	}
	if (r >= 0 && !sb.len)
		r = sb_err(strbuf_puts(&sb, "all()"));
	if (r >= 0) {
		free(*ret);
		*ret = strbuf_steal(&sb);
		if (!*ret)
			r = -ENOMEM;
	}
out:
	model_labels_done(&ml);
	return r;
}

static int k8s_peer(const struct dctx *c, const struct mnode *m, const char *field,
		    struct model_k8s_peer *p)
{
	int r = mdec_require_map(c, m, field);

	if (r < 0)
		return r;
	size_t mark = mdec_mark(c);
	for (size_t i = 0; i < m->n; i++) {
		const char *k = m->keys[i]->text;
		const struct mnode *v = m->values[i];
		char f[FIELD_MAX];

		mdec_join(f, sizeof(f), field, k);
		if (strcmp(k, "podSelector") == 0) {
			p->has_pod_selector = true;
			r = k8s_selector(c, v, f, &p->pod_selector);
		} else if (strcmp(k, "namespaceSelector") == 0) {
			p->has_namespace_selector = true;
			r = k8s_selector(c, v, f, &p->namespace_selector);
		} else if (strcmp(k, "ipBlock") == 0) {
			const struct mnode *cidr_n = mnode_map_get(v, "cidr"), *ex = NULL;

			p->has_ip_block = true;
			r = mdec_require_map(c, v, f);
			for (size_t j = 0; r >= 0 && j < v->n; j++) {
				const char *kk = v->keys[j]->text;
				char g[FIELD_MAX];

				mdec_join(g, sizeof(g), f, kk);
				if (strcmp(kk, "cidr") == 0)
					r = get_net(c, v->values[j], g, &p->ip_block);
				else if (strcmp(kk, "except") == 0)
					r = get_nets(c, ex = v->values[j], g, &p->except,
						     &p->n_except);
				else
					r = mdec_unknown(c, v->keys[j], g);
			}
			if (r >= 0 && !cidr_n) {
				mdec_join(f, sizeof(f), field, "ipBlock.cidr");
				r = mdec_fail(c, v, f, "required");
			}
			/* Kubernetes: each except is a strict subset of cidr */
			for (size_t j = 0; r >= 0 && j < p->n_except; j++) {
				char g[FIELD_MAX], b1[IP_PREFIX_STRLEN], b2[IP_PREFIX_STRLEN];

				if (ip_prefix_contains(&p->ip_block, &p->except[j]) &&
				    p->except[j].len > p->ip_block.len)
					continue;
				mdec_pathf(g, sizeof(g), "%s.ipBlock.except[%zu]", field, j);
				r = mdec_fail(c, ex->values[j], g, "%s is not inside cidr %s",
					      ip_prefix_format(&p->except[j], b1),
					      ip_prefix_format(&p->ip_block, b2));
			}
		} else {
			r = mdec_unknown(c, m->keys[i], f);
		}
		if (r < 0 && !mdec_go_on(c, r))
			return r;
	}
	if (mdec_failed_since(c, mark))
		return -EINVAL;
	if (!p->has_pod_selector && !p->has_namespace_selector && !p->has_ip_block)
		return mdec_fail(c, m, field, "needs podSelector, namespaceSelector or ipBlock");
	if (p->has_ip_block && (p->has_pod_selector || p->has_namespace_selector))
		return mdec_fail(c, mnode_map_get(m, "ipBlock"), field,
				 "ipBlock cannot be combined with podSelector or "
				 "namespaceSelector");
	return 0;
}

static int k8s_port(const struct dctx *c, const struct mnode *m, const char *field,
		    struct model_k8s_port *p)
{
	const struct mnode *port_n = NULL, *end_n = NULL;
	uint64_t end = 0;
	int r = mdec_require_map(c, m, field);

	if (r < 0)
		return r;
	p->protocol = (struct model_protocol){.set = true, .number = 6}; /* Kubernetes default */
	size_t mark = mdec_mark(c);
	for (size_t i = 0; i < m->n; i++) {
		const char *k = m->keys[i]->text;
		const struct mnode *v = m->values[i];
		char f[FIELD_MAX];

		mdec_join(f, sizeof(f), field, k);
		if (strcmp(k, "protocol") == 0) {
			const char *t = NULL;

			r = mdec_get_text(c, v, f, &t);
			if (r >= 0 && t && strcmp(t, "TCP") && strcmp(t, "UDP") &&
			    strcmp(t, "SCTP"))
				r = mdec_fail(c, v, f, "must be TCP, UDP or SCTP");
			if (r >= 0 && t)
				p->protocol.number = model_protocol_from_string(t);
		} else if (strcmp(k, "port") == 0) {
			port_n = v;
			if (mdec_is_null(v))
				continue;
			if (v->type == MNODE_SCALAR && mnode_scalar_kind(v) == MNODE_INT) {
				uint64_t u = 0;

				r = mdec_get_uint(c, v, f, &u);
				if (r >= 0 && (u < 1 || u > 65535))
					r = mdec_fail(c, v, f, "must be between 1 and 65535");
				p->port = (uint16_t)u;
			} else {
				r = mdec_get_str(c, v, f, &p->name);
				if (r >= 0 && p->name && !model_port_name_is_valid(p->name))
					r = mdec_fail(c, v, f,
						      "invalid port name \"%s\": 1 to 15 of "
						      "[a-z0-9-] with at least one letter",
						      p->name);
			}
			p->has_port = r >= 0;
		} else if (strcmp(k, "endPort") == 0) {
			end_n = v;
			r = mdec_get_uint(c, v, f, &end);
			if (r > 0 && (end < 1 || end > 65535))
				r = mdec_fail(c, v, f, "must be between 1 and 65535");
		} else {
			r = mdec_unknown(c, m->keys[i], f);
		}
		if (r < 0 && !mdec_go_on(c, r))
			return r;
	}
	if (mdec_failed_since(c, mark))
		return -EINVAL;
	if (end_n && !mdec_is_null(end_n)) {
		char f[FIELD_MAX];

		mdec_join(f, sizeof(f), field, "endPort");
		if (!p->has_port || p->name)
			return mdec_fail(c, end_n, f, "needs a numeric port");
		if (end < p->port)
			return mdec_fail(c, end_n, f, "must not be below port %u", p->port);
		p->end_port = (uint16_t)end;
	}
	(void)port_n;
	return 0;
}

static int k8s_rules(const struct dctx *c, const struct mnode *v, const char *f, bool ingress,
		     struct model_k8s_rule **ret, size_t *ret_n)
{
	const char *peers_key = ingress ? "from" : "to";
	int r = mdec_want_seq(c, v, f, MODEL_MAX_RULES);

	if (r < 0 || !mdec_count(v))
		return r;
	*ret = calloc(v->n, sizeof(**ret));
	if (!*ret)
		return -ENOMEM;
	for (size_t j = 0; j < v->n; j++) {
		const struct mnode *e = v->values[j];
		struct model_k8s_rule *rl = &(*ret)[(*ret_n)++];
		char g[FIELD_MAX], h[FIELD_MAX];

		mdec_pathf(g, sizeof(g), "%s[%zu]", f, j);
		/* "- {}" is a rule matching everything */
		r = mdec_want_map(c, e, g);
		if (r < 0)
			return r;
		rl->source_line = e->line;
		for (size_t m = 0; m < mdec_count(e); m++) {
			const char *k = e->keys[m]->text;
			const struct mnode *ev = e->values[m];

			mdec_join(h, sizeof(h), g, k);
			if (strcmp(k, peers_key) == 0) {
				r = mdec_want_seq(c, ev, h, MODEL_MAX_RULES);
				if (r >= 0 && mdec_count(ev)) {
					rl->peers = calloc(ev->n, sizeof(*rl->peers));
					if (!rl->peers)
						return -ENOMEM;
				}
				for (size_t q = 0; r >= 0 && q < mdec_count(ev); q++) {
					char hh[FIELD_MAX];

					mdec_pathf(hh, sizeof(hh), "%s[%zu]", h, q);
					r = k8s_peer(c, ev->values[q], hh,
						     &rl->peers[rl->n_peers++]);
				}
			} else if (strcmp(k, "ports") == 0) {
				r = mdec_want_seq(c, ev, h, MODEL_MAX_PORTS);
				if (r >= 0 && mdec_count(ev)) {
					rl->ports = calloc(ev->n, sizeof(*rl->ports));
					if (!rl->ports)
						return -ENOMEM;
				}
				for (size_t q = 0; r >= 0 && q < mdec_count(ev); q++) {
					char hh[FIELD_MAX];

					mdec_pathf(hh, sizeof(hh), "%s[%zu]", h, q);
					r = k8s_port(c, ev->values[q], hh,
						     &rl->ports[rl->n_ports++]);
				}
			} else {
				r = mdec_unknown(c, e->keys[m], h);
			}
			if (r < 0)
				return r;
		}
	}
	return 0;
}

int mdec_k8s_policy(const struct dctx *c, const struct mnode *spec, const struct mnode *at,
		    struct model_resource *res)
{
	struct model_k8s_network_policy *p = &res->knp;
	const struct mnode *types_n = NULL;
	int r = mdec_want_map(c, spec, "spec");

	if (r < 0)
		return r;
	size_t mark = mdec_mark(c);
	for (size_t i = 0; i < mdec_count(spec); i++) {
		const char *k = spec->keys[i]->text;
		const struct mnode *v = spec->values[i];
		char f[FIELD_MAX];

		mdec_join(f, sizeof(f), "spec", k);
		if (strcmp(k, "podSelector") == 0) {
			r = k8s_selector(c, v, f, &p->pod_selector);
		} else if (strcmp(k, "policyTypes") == 0) {
			types_n = v;
			r = get_policy_types(c, v, f, &p->types_ingress, &p->types_egress);
		} else if (strcmp(k, "ingress") == 0) {
			r = k8s_rules(c, v, f, true, &p->ingress, &p->n_ingress);
		} else if (strcmp(k, "egress") == 0) {
			r = k8s_rules(c, v, f, false, &p->egress, &p->n_egress);
		} else {
			r = mdec_unknown(c, spec->keys[i], f);
		}
		if (r < 0 && !mdec_go_on(c, r))
			return r;
	}
	if (mdec_failed_since(c, mark))
		return -EINVAL;
	if (!p->pod_selector)
		return mdec_fail(c, at, "spec.podSelector", "required ({} selects every pod)");
	if (!types_n || !mdec_count(types_n)) {
		/* Kubernetes' defaulting: Ingress always, Egress when egress rules exist */
		p->types_ingress = true;
		p->types_egress = p->n_egress > 0;
	}
	return 0;
}
