/* SPDX-License-Identifier: Apache-2.0 */
/* Shared renderer helpers and FelixConfiguration defaults (see acl/render-internal.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "acl/render-internal.h"

#define PP(proto, p)                                                      \
	{                                                                 \
		.protocol = {.set = true, .number = (proto)}, .port = (p) \
	}

/* Calico FelixConfiguration failsafeInboundHostPorts / failsafeOutboundHostPorts defaults
 * (docs.tigera.io "Felix configuration"). */
static const struct model_proto_port failsafe_in[] = {
    PP(6, 22),	 PP(17, 68),  PP(6, 179),  PP(6, 2379), PP(6, 2380),
    PP(6, 5473), PP(6, 6443), PP(6, 6666), PP(6, 6667),
};
static const struct model_proto_port failsafe_out[] = {
    PP(17, 53),	 PP(17, 67),  PP(6, 179),  PP(6, 2379), PP(6, 2380),
    PP(6, 5473), PP(6, 6443), PP(6, 6666), PP(6, 6667),
};

/*
 * ICMPv6 that the host must exchange whatever the policy says (Calico's felix, rules/static.go
 * ICMPv6Filter and filterWorkloadToHostChain): from a workload to the host, multicast listener
 * query/report/done (130-132), router solicitation (133) and neighbour solicitation and
 * advertisement (135, 136) are accepted before any policy; a router advertisement (134) from a
 * workload is not. On other interfaces (input) and towards any interface (output: the host's
 * own answers and solicitations, also to workloads) neighbour discovery (RFC 4861, 133-136)
 * passes.
 */
const uint8_t acl_icmp6_from_wl[ACL_ICMP6_FROM_WL_N] = {130, 131, 132, 133, 135, 136};
const uint8_t acl_icmp6_nd[ACL_ICMP6_ND_N] = {133, 134, 135, 136};

const struct model_proto_port *acl_default_failsafe(bool inbound, size_t *ret_n)
{
	*ret_n = inbound ? ELEMENTSOF(failsafe_in) : ELEMENTSOF(failsafe_out);
	return inbound ? failsafe_in : failsafe_out;
}

int acl_host_config_from_model(const struct model_felix_configuration *fc,
			       struct acl_host_config *ret)
{
	struct acl_host_config h = {.endpoint_to_host = ACL_E2H_DROP};

	if (fc) {
		const char *a = fc->default_endpoint_to_host_action;

		if (!a || strcmp(a, "Drop") == 0)
			h.endpoint_to_host = ACL_E2H_DROP;
		else if (strcmp(a, "Accept") == 0)
			h.endpoint_to_host = ACL_E2H_ACCEPT;
		else if (strcmp(a, "Return") == 0)
			h.endpoint_to_host = ACL_E2H_RETURN;
		else
			return -EINVAL;
		h.has_failsafe_in = fc->has_failsafe_inbound;
		h.failsafe_in = fc->failsafe_inbound;
		h.n_failsafe_in = fc->n_failsafe_inbound;
		h.has_failsafe_out = fc->has_failsafe_outbound;
		h.failsafe_out = fc->failsafe_outbound;
		h.n_failsafe_out = fc->n_failsafe_outbound;
	}
	*ret = h;
	return 0;
}

const struct acl_host_config *acl_host_or_default(const struct acl_host_config *h)
{
	static const struct acl_host_config def = {.endpoint_to_host = ACL_E2H_DROP};

	return h ? h : &def;
}

const struct model_proto_port *acl_failsafe(const struct acl_host_config *h, bool inbound,
					    size_t *ret_n)
{
	if (inbound && (h->has_failsafe_in || h->n_failsafe_in)) {
		*ret_n = h->n_failsafe_in;
		return h->failsafe_in;
	}
	if (!inbound && (h->has_failsafe_out || h->n_failsafe_out)) {
		*ret_n = h->n_failsafe_out;
		return h->failsafe_out;
	}
	return acl_default_failsafe(inbound, ret_n);
}

bool acl_ifname_ok(const char *s)
{
	size_t n = s ? strlen(s) : 0;

	if (n == 0 || n > 15)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '.' || c == '-'))
			return false;
	}
	return true;
}

void acl_rule_label(char *buf, size_t size, const struct acl_policy *p, enum acl_dir dir,
		    unsigned index)
{
	char tail[48];
	size_t room;

	snprintf(tail, sizeof(tail), " %s[%u]", acl_dir_to_string(dir), index);
	room = size > strlen(tail) + 1 ? size - strlen(tail) - 1 : 0;
	snprintf(buf, size, "%.*s%s", (int)room, p->name, tail);
}

bool acl_set_has_family(const struct acl_set *s, int fam)
{
	if (s->kind != ACL_SET_NETS)
		return true;
	return fam == AF_INET ? s->has_v4 : s->has_v6;
}

unsigned acl_rule_families(const struct acl_rule *r)
{
	unsigned f = ACL_FAM_V4 | ACL_FAM_V6;
	const struct acl_set *pos[] = {r->src.nets, r->dst.nets};

	if (r->ip_version == 4)
		f &= ACL_FAM_V4;
	if (r->ip_version == 6)
		f &= ACL_FAM_V6;
	if (r->protocol == 1)
		f &= ACL_FAM_V4;
	if (r->protocol == 58)
		f &= ACL_FAM_V6;
	for (size_t i = 0; i < ELEMENTSOF(pos); i++) {
		if (!pos[i])
			continue;
		if (!pos[i]->has_v4)
			f &= ~ACL_FAM_V4;
		if (!pos[i]->has_v6)
			f &= ~ACL_FAM_V6;
	}
	return f;
}

static void mark_rule_sets(bool *sets, const struct acl_rule *r)
{
	const struct acl_side *sides[] = {&r->src, &r->dst};

	for (size_t i = 0; i < 2; i++) {
		const struct acl_side *s = sides[i];
		const struct acl_set *all[] = {s->nets,	   s->not_nets,	   s->sel,
					       s->not_sel, s->named_ports, s->not_named_ports};

		for (size_t k = 0; k < ELEMENTSOF(all); k++)
			if (all[k])
				sets[all[k]->pos] = true;
	}
}

static void mark_policy(struct acl_used *u, const struct acl_policy *p)
{
	if (u->policies[p->seq])
		return;
	u->policies[p->seq] = true;
	for (int d = 0; d < _ACL_DIR_MAX; d++)
		for (size_t i = 0; i < p->n_rules[d]; i++)
			mark_rule_sets(u->sets, &p->rules[d][i]);
}

static int cmp_rulesetp(const void *a, const void *b)
{
	const struct acl_ruleset *x = *(struct acl_ruleset *const *)a;
	const struct acl_ruleset *y = *(struct acl_ruleset *const *)b;

	return strcmp(x->ifname, y->ifname);
}

int acl_used_collect(const struct acl_render_input *in, struct acl_used *ret)
{
	const struct acl_index *idx = in->idx;
	struct acl_used u = {0};

	u.policies = calloc(idx->n_seq + 1, sizeof(bool));
	u.by_seq = calloc(idx->n_seq + 1, sizeof(*u.by_seq));
	u.sets = calloc(idx->n_sets + 1, sizeof(bool));
	u.rulesets = calloc(in->n_rulesets + 1, sizeof(*u.rulesets));
	if (!u.policies || !u.by_seq || !u.sets || !u.rulesets) {
		acl_used_done(&u);
		return -ENOMEM;
	}
	for (size_t i = 0; i < idx->n_tiers; i++)
		for (size_t j = 0; j < idx->tiers[i].n_policies; j++)
			u.by_seq[idx->tiers[i].policies[j]->seq] = idx->tiers[i].policies[j];
	for (size_t i = 0; i < idx->n_profiles; i++)
		u.by_seq[idx->profiles[i].seq] = &idx->profiles[i];
	for (size_t i = 0; i < in->n_rulesets; i++) {
		struct acl_ruleset *rs = in->rulesets[i];

		if (!acl_ifname_ok(rs->ifname) && !(rs->host && strcmp(rs->ifname, "*") == 0)) {
			acl_used_done(&u);
			return -EINVAL;
		}
		u.rulesets[u.n_rulesets++] = rs;
		for (int d = 0; d < _ACL_DIR_MAX; d++) {
			for (size_t t = 0; t < rs->dir[d].n_tiers; t++)
				for (size_t j = 0; j < rs->dir[d].tiers[t].n_policies; j++)
					mark_policy(&u, rs->dir[d].tiers[t].policies[j]);
			for (size_t j = 0; j < rs->dir[d].n_profiles; j++)
				mark_policy(&u, rs->dir[d].profiles[j]);
		}
	}
	qsort(u.rulesets, u.n_rulesets, sizeof(*u.rulesets), cmp_rulesetp);
	for (size_t i = 1; i < u.n_rulesets; i++) {
		if (strcmp(u.rulesets[i - 1]->ifname, u.rulesets[i]->ifname) == 0) {
			acl_used_done(&u);
			return -EINVAL; /* two endpoints on one interface */
		}
	}
	*ret = u;
	return 0;
}

void acl_used_done(struct acl_used *u)
{
	free(u->policies);
	free(u->by_seq);
	free(u->sets);
	free(u->rulesets);
	*u = (struct acl_used){0};
}
