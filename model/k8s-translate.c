/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Kubernetes networking.k8s.io/v1 NetworkPolicy to its Calico form, as libcalico-go's
 * converter (lib/backend/k8s/conversion) does it: name "knp.default.<name>", tier default,
 * order 1000, selector from podSelector, types from policyTypes, and per k8s rule one Allow
 * rule for every (protocol, peer) pair: ports are grouped by protocol (sorted by protocol name,
 * a port-less entry opening the whole protocol), no peers mean any peer, no ports any
 * traffic. A peer with podSelector and namespaceSelector becomes one rule with both selectors;
 * ipBlock becomes nets with except as notNets. An empty rule list with the direction in
 * policyTypes gives no rules: the selected pods are isolated (default deny).
 *
 * Differences from Calico, on purpose: the selectors carry no
 * "projectcalico.org/orchestrator == 'k8s'" term (tabby's endpoints are written by its CNI
 * plugin with orchestrator "cni") and a namespaced policy already applies only inside its
 * namespace; ports are not merged into ranges (Calico's SimplifyPorts), which matches the same
 * traffic.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/model-internal.h"
#include "model/model.h"

#define K8S_ORDER 1000.0

static char *dup_or_null(const char *s, int *r)
{
	char *d;

	if (!s)
		return NULL;
	d = strdup(s);
	if (!d)
		*r = -ENOMEM;
	return d;
}

/* The ports of one protocol, gathered from a k8s rule. */
struct proto_ports {
	uint8_t protocol; /* 0 = no ports at all (any traffic) */
	bool all;	  /* a port-less entry: every port of the protocol */
	struct model_port *ports;
	size_t n;
};

static const char *proto_key(uint8_t p)
{
	return p ? model_protocol_name(p) : "";
}

static void proto_ports_free(struct proto_ports *g, size_t n)
{
	for (size_t j = 0; g && j < n; j++) {
		for (size_t q = 0; q < g[j].n; q++)
			free(g[j].ports[q].name);
		free(g[j].ports);
	}
	free(g);
}

static int gather_ports(const struct model_k8s_rule *kr, struct proto_ports **ret, size_t *ret_n)
{
	struct proto_ports *g = NULL;
	size_t n = 0;

	if (!kr->n_ports) {
		g = calloc(1, sizeof(*g));
		if (!g)
			return -ENOMEM;
		*ret = g;
		*ret_n = 1;
		return 0;
	}
	g = calloc(kr->n_ports, sizeof(*g));
	if (!g)
		return -ENOMEM;
	for (size_t i = 0; i < kr->n_ports; i++) {
		const struct model_k8s_port *kp = &kr->ports[i];
		struct proto_ports *pp = NULL;

		for (size_t j = 0; j < n && !pp; j++)
			if (g[j].protocol == kp->protocol.number)
				pp = &g[j];
		if (!pp) {
			/* sorted insert by protocol name, as Calico sorts its map keys */
			size_t at = n;

			while (at > 0 && strcmp(proto_key(g[at - 1].protocol),
						proto_key(kp->protocol.number)) > 0)
				at--;
			memmove(&g[at + 1], &g[at], (n - at) * sizeof(*g));
			g[at] = (struct proto_ports){.protocol = kp->protocol.number};
			pp = &g[at];
			n++;
		}
		if (!kp->has_port) {
			pp->all = true;
			continue;
		}
		struct model_port *np = realloc(pp->ports, (pp->n + 1) * sizeof(*np));

		if (!np) {
			proto_ports_free(g, n);
			return -ENOMEM;
		}
		pp->ports = np;
		np[pp->n] = (struct model_port){
		    .first = kp->name ? 0 : kp->port,
		    .last = kp->name ? 0 : (kp->end_port ? kp->end_port : kp->port),
		    .name = kp->name ? strdup(kp->name) : NULL,
		};
		pp->n++;
		if (kp->name && !np[pp->n - 1].name) {
			proto_ports_free(g, n);
			return -ENOMEM;
		}
	}
	*ret = g;
	*ret_n = n;
	return 0;
}

static int copy_ports(const struct proto_ports *pp, struct model_port **ret, size_t *ret_n)
{
	if (pp->all || !pp->n)
		return 0;
	*ret = calloc(pp->n, sizeof(**ret));
	if (!*ret)
		return -ENOMEM;
	for (size_t i = 0; i < pp->n; i++) {
		(*ret)[i] = pp->ports[i];
		(*ret)[i].name = NULL;
		if (pp->ports[i].name && !((*ret)[i].name = strdup(pp->ports[i].name)))
			return -ENOMEM;
		(*ret_n)++;
	}
	return 0;
}

static int peer_to_entity(const struct model_k8s_peer *p, struct model_entity_rule *e)
{
	int r = 0;

	if (!p)
		return 0;
	if (p->has_pod_selector)
		e->selector = dup_or_null(p->pod_selector, &r);
	if (p->has_namespace_selector)
		e->namespace_selector = dup_or_null(p->namespace_selector, &r);
	if (p->has_ip_block) {
		e->nets = calloc(1, sizeof(*e->nets));
		if (!e->nets)
			return -ENOMEM;
		e->nets[0] = p->ip_block;
		e->n_nets = 1;
		if (p->n_except) {
			e->not_nets = calloc(p->n_except, sizeof(*e->not_nets));
			if (!e->not_nets)
				return -ENOMEM;
			memcpy(e->not_nets, p->except, p->n_except * sizeof(*e->not_nets));
			e->n_not_nets = p->n_except;
		}
	}
	return r;
}

static int translate_rules(const struct model_k8s_rule *kr, size_t n, bool ingress,
			   struct model_rule **ret, size_t *ret_n)
{
	struct model_rule *out = NULL;
	size_t nout = 0, cap = 0;
	int r = 0;

	for (size_t i = 0; r >= 0 && i < n; i++) {
		struct proto_ports *g = NULL;
		size_t ng = 0;
		size_t npeers = kr[i].n_peers ? kr[i].n_peers : 1;

		r = gather_ports(&kr[i], &g, &ng);
		for (size_t j = 0; r >= 0 && j < ng; j++)
			for (size_t q = 0; r >= 0 && q < npeers; q++) {
				const struct model_k8s_peer *peer =
				    kr[i].n_peers ? &kr[i].peers[q] : NULL;
				struct model_rule *rl;

				if (nout == cap) {
					struct model_rule *nr;

					cap = cap ? 2 * cap : 4;
					if (cap > MODEL_MAX_RULES * 4)
						r = -E2BIG;
					nr = r < 0 ? NULL : realloc(out, cap * sizeof(*nr));
					if (!nr) {
						r = r < 0 ? r : -ENOMEM;
						break;
					}
					out = nr;
				}
				rl = &out[nout++];
				*rl = (struct model_rule){.action = MODEL_ACTION_ALLOW,
							  .source_line = kr[i].source_line};
				if (g[j].protocol)
					rl->protocol = (struct model_protocol){
					    .set = true, .number = g[j].protocol};
				r = peer_to_entity(peer, ingress ? &rl->source : &rl->destination);
				if (r >= 0)
					r = copy_ports(&g[j], &rl->destination.ports,
						       &rl->destination.n_ports);
			}
		proto_ports_free(g, ng);
	}
	if (r < 0) {
		model_rules_free(out, nout);
		return r;
	}
	*ret = out;
	*ret_n = nout;
	return 0;
}

int model_k8s_policy_translate(const struct model_resource *knp, struct model_resource **ret)
{
	_cleanup_(model_resource_freep) struct model_resource *res = NULL;
	const struct model_k8s_network_policy *k;
	size_t len;
	int r = 0;

	if (!knp || knp->kind != MODEL_KIND_K8S_NETWORK_POLICY || !knp->meta.name)
		return -EINVAL;
	k = &knp->knp;
	res = calloc(1, sizeof(*res));
	if (!res)
		return -ENOMEM;
	res->kind = MODEL_KIND_NETWORK_POLICY;
	res->source_line = knp->source_line;
	len = strlen("knp.default.") + strlen(knp->meta.name) + 1;
	res->meta.name = malloc(len);
	if (!res->meta.name)
		return -ENOMEM;
	snprintf(res->meta.name, len, "knp.default.%s", knp->meta.name);
	res->meta.namespace =
	    dup_or_null(knp->meta.namespace ? knp->meta.namespace : "default", &r);
	res->meta.uid = dup_or_null(knp->meta.uid, &r);
	res->meta.creation_timestamp = dup_or_null(knp->meta.creation_timestamp, &r);
	res->policy.tier = dup_or_null(MODEL_DEFAULT_TIER, &r);
	res->policy.selector = dup_or_null(k->pod_selector ? k->pod_selector : "all()", &r);
	if (r < 0)
		return r;
	res->policy.has_order = true;
	res->policy.order = K8S_ORDER;
	res->policy.types_ingress = k->types_ingress;
	res->policy.types_egress = k->types_egress;
	/* like Calico, rules of a direction missing from policyTypes are kept (and unused) */
	r = translate_rules(k->ingress, k->n_ingress, true, &res->policy.ingress,
			    &res->policy.n_ingress);
	if (r >= 0)
		r = translate_rules(k->egress, k->n_egress, false, &res->policy.egress,
				    &res->policy.n_egress);
	if (r < 0)
		return r;
	*ret = TAKE_PTR(res);
	return 0;
}
