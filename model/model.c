/* SPDX-License-Identifier: Apache-2.0 */
/*
 * DOC: resources
 *
 * Kind names, datastore keys, ownership of decoded resources, label sets and the cross-resource
 * checks. Decoding lives in model/decode.c, encoding in model/encode.c and the document tree
 * they share in model/yaml-tree.c. Kind names and plurals are Calico's (projectcalico.org/v3);
 * calicoctl accepts the kind name, its lower-case singular and its plural on the command line.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "model/model-internal.h"
#include "model/model.h"

struct kind_info {
	const char *name;
	const char *singular;
	const char *plural;
	const char *short_name; /* aliases, comma-separated */
	bool namespaced;
};

/* aliases: calicoctl's short names and plurals of them (calicoctl resource docs), plus
 * tabby's earlier short names (netpol, gns), comma-separated */
static const struct kind_info kinds[_MODEL_KIND_MAX] = {
    [MODEL_KIND_IPPOOL] = {"IPPool", "ippool", "ippools", "ipp,ipps,pool,pools", false},
    [MODEL_KIND_NODE] = {"Node", "node", "nodes", "no,nos", false},
    [MODEL_KIND_WORKLOAD_ENDPOINT] = {"WorkloadEndpoint", "workloadendpoint", "workloadendpoints",
				      "wep,weps", true},
    [MODEL_KIND_BGP_CONFIGURATION] = {"BGPConfiguration", "bgpconfiguration", "bgpconfigurations",
				      "bgpconfig,bgpconfigs", false},
    [MODEL_KIND_BGP_PEER] = {"BGPPeer", "bgppeer", "bgppeers", "bgpp,bgpps,bp,bps", false},
    [MODEL_KIND_NETWORK_POLICY] = {"NetworkPolicy", "networkpolicy", "networkpolicies",
				   "np,nps,netpol,policy,policies,pol,pols", true},
    [MODEL_KIND_GLOBAL_NETWORK_POLICY] = {"GlobalNetworkPolicy", "globalnetworkpolicy",
					  "globalnetworkpolicies",
					  "gnp,gnps,globalpolicy,globalpolicies", false},
    [MODEL_KIND_TIER] = {"Tier", "tier", "tiers", "tier", false},
    [MODEL_KIND_NETWORK_SET] = {"NetworkSet", "networkset", "networksets", "netset,netsets", true},
    [MODEL_KIND_GLOBAL_NETWORK_SET] = {"GlobalNetworkSet", "globalnetworkset", "globalnetworksets",
				       "gnetset,gnetsets,gns", false},
    [MODEL_KIND_HOST_ENDPOINT] = {"HostEndpoint", "hostendpoint", "hostendpoints", "hep,heps",
				  false},
    [MODEL_KIND_PROFILE] = {"Profile", "profile", "profiles", "pro,pros", false},
    [MODEL_KIND_FELIX_CONFIGURATION] = {"FelixConfiguration", "felixconfiguration",
					"felixconfigurations", "felixconfig,felixconfigs", false},
    [MODEL_KIND_NAMESPACE] = {"Namespace", "namespace", "namespaces", "ns", false},
    [MODEL_KIND_K8S_NETWORK_POLICY] = {"KubernetesNetworkPolicy", "kubernetesnetworkpolicy",
				       "kubernetesnetworkpolicies", "knp,knps", true},
};

/* @s is one of the comma-separated @aliases (case-insensitive). */
static bool alias_match(const char *aliases, const char *s)
{
	size_t n = strlen(s);

	for (const char *p = aliases; *p;) {
		size_t l = strcspn(p, ",");

		if (l == n && strncasecmp(p, s, n) == 0)
			return true;
		p += l + (p[l] == ',');
	}
	return false;
}

enum model_kind model_kind_from_string(const char *s)
{
	if (!s)
		return _MODEL_KIND_INVALID;
	for (int k = 0; k < _MODEL_KIND_MAX; k++) {
		if (strcmp(s, kinds[k].name) == 0 || strcasecmp(s, kinds[k].singular) == 0 ||
		    strcasecmp(s, kinds[k].plural) == 0 || alias_match(kinds[k].short_name, s))
			return (enum model_kind)k;
	}
	return _MODEL_KIND_INVALID;
}

const char *model_kind_to_string(enum model_kind kind)
{
	if (kind < 0 || kind >= _MODEL_KIND_MAX)
		return NULL;
	return kinds[kind].name;
}

const char *model_kind_api_version(enum model_kind kind)
{
	if (kind < 0 || kind >= _MODEL_KIND_MAX)
		return NULL;
	if (kind == MODEL_KIND_NAMESPACE)
		return "v1";
	if (kind == MODEL_KIND_K8S_NETWORK_POLICY)
		return "networking.k8s.io/v1";
	return MODEL_API_VERSION;
}

const char *model_kind_manifest_name(enum model_kind kind)
{
	if (kind == MODEL_KIND_K8S_NETWORK_POLICY)
		return "NetworkPolicy";
	return model_kind_to_string(kind);
}

const char *model_kind_plural(enum model_kind kind)
{
	if (kind < 0 || kind >= _MODEL_KIND_MAX)
		return NULL;
	return kinds[kind].plural;
}

bool model_kind_is_namespaced(enum model_kind kind)
{
	return kind >= 0 && kind < _MODEL_KIND_MAX && kinds[kind].namespaced;
}

static void strv_free(char **v)
{
	if (!v)
		return;
	for (char **p = v; *p; p++)
		free(*p);
	free(v);
}

static void password_done(struct model_bgp_password *p)
{
	free(p->secret_name);
	free(p->secret_key);
	free(p->file);
}

static void ports_free(struct model_port *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(p[i].name);
	free(p);
}

static void entity_done(struct model_entity_rule *e)
{
	free(e->nets);
	free(e->not_nets);
	free(e->selector);
	free(e->not_selector);
	free(e->namespace_selector);
	for (size_t i = 0; i < e->n_sa_names; i++)
		free(e->sa_names[i]);
	free(e->sa_names);
	free(e->sa_selector);
	ports_free(e->ports, e->n_ports);
	ports_free(e->not_ports, e->n_not_ports);
}

void model_rules_free(struct model_rule *rules, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		entity_done(&rules[i].source);
		entity_done(&rules[i].destination);
		free(rules[i].metadata);
	}
	free(rules);
}

static void named_ports_free(struct model_named_port *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(p[i].name);
	free(p);
}

static void k8s_rules_free(struct model_k8s_rule *rules, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		for (size_t j = 0; j < rules[i].n_peers; j++) {
			free(rules[i].peers[j].pod_selector);
			free(rules[i].peers[j].namespace_selector);
			free(rules[i].peers[j].except);
		}
		free(rules[i].peers);
		for (size_t j = 0; j < rules[i].n_ports; j++)
			free(rules[i].ports[j].name);
		free(rules[i].ports);
	}
	free(rules);
}

void model_labels_done(struct model_labels *l)
{
	if (!l)
		return;
	for (size_t i = 0; i < l->n; i++) {
		free(l->items[i].key);
		free(l->items[i].value);
	}
	free(l->items);
	l->items = NULL;
	l->n = 0;
}

static void meta_done(struct model_resource *r)
{
	free(r->meta.name);
	free(r->meta.namespace);
	model_labels_done(&r->meta.labels);
	free(r->meta.resource_version);
	free(r->meta.uid);
	free(r->meta.creation_timestamp);
	free(r->extra_spec);
}

/* What a WorkloadEndpoint's spec owns before its local-only fields. */
static void wep_head_done(struct model_workload_endpoint *w)
{
	free(w->orchestrator);
	free(w->node);
	free(w->service_account_name);
	free(w->ip_networks);
	strv_free(w->profiles);
	named_ports_free(w->ports, w->n_ports);
}

void model_resource_clear_wep_head(struct model_resource *r)
{
	meta_done(r);
	wep_head_done(&r->wep);
}

struct model_resource *model_resource_free_wep_head(struct model_resource *r)
{
	if (!r)
		return NULL;
	model_resource_clear_wep_head(r);
	free(r);
	return NULL;
}

struct model_resource *model_resource_free(struct model_resource *r)
{
	if (!r)
		return NULL;
	meta_done(r);
	switch (r->kind) {
	case MODEL_KIND_IPPOOL:
		free(r->ippool.node_selector);
		free(r->ippool.ipip_mode);
		free(r->ippool.vxlan_mode);
		strv_free(r->ippool.allowed_uses);
		break;
	case MODEL_KIND_NODE:
		free(r->node.rr_cluster_id);
		free(r->node.vxlan_tunnel_mac);
		break;
	case MODEL_KIND_WORKLOAD_ENDPOINT:
		wep_head_done(&r->wep);
		free(r->wep.workload);
		free(r->wep.container_id);
		free(r->wep.pod);
		free(r->wep.endpoint);
		free(r->wep.interface_name);
		free(r->wep.mac);
		break;
	case MODEL_KIND_BGP_CONFIGURATION:
		free(r->bgpconfig.log_severity_screen);
		free(r->bgpconfig.service_cluster_ips);
		free(r->bgpconfig.service_external_ips);
		free(r->bgpconfig.service_loadbalancer_ips);
		free(r->bgpconfig.bind_mode);
		password_done(&r->bgpconfig.node_mesh_password);
		strv_free(r->bgpconfig.ignored_interfaces);
		for (size_t i = 0; i < r->bgpconfig.n_communities; i++) {
			free(r->bgpconfig.communities[i].name);
			free(r->bgpconfig.communities[i].value);
		}
		free(r->bgpconfig.communities);
		for (size_t i = 0; i < r->bgpconfig.n_prefix_advertisements; i++)
			strv_free(r->bgpconfig.prefix_advertisements[i].communities);
		free(r->bgpconfig.prefix_advertisements);
		break;
	case MODEL_KIND_BGP_PEER:
		free(r->bgppeer.node);
		free(r->bgppeer.node_selector);
		free(r->bgppeer.peer_selector);
		password_done(&r->bgppeer.password);
		free(r->bgppeer.source_address);
		free(r->bgppeer.reverse_peering);
		break;
	case MODEL_KIND_NETWORK_POLICY:
	case MODEL_KIND_GLOBAL_NETWORK_POLICY:
		free(r->policy.tier);
		free(r->policy.selector);
		free(r->policy.namespace_selector);
		model_rules_free(r->policy.ingress, r->policy.n_ingress);
		model_rules_free(r->policy.egress, r->policy.n_egress);
		break;
	case MODEL_KIND_TIER:
	case MODEL_KIND_NAMESPACE:
		break;
	case MODEL_KIND_NETWORK_SET:
	case MODEL_KIND_GLOBAL_NETWORK_SET:
		free(r->netset.nets);
		break;
	case MODEL_KIND_HOST_ENDPOINT:
		free(r->hep.node);
		free(r->hep.interface_name);
		free(r->hep.expected_ips);
		strv_free(r->hep.profiles);
		named_ports_free(r->hep.ports, r->hep.n_ports);
		break;
	case MODEL_KIND_PROFILE:
		model_rules_free(r->profile.ingress, r->profile.n_ingress);
		model_rules_free(r->profile.egress, r->profile.n_egress);
		model_labels_done(&r->profile.labels_to_apply);
		break;
	case MODEL_KIND_FELIX_CONFIGURATION:
		free(r->felixconfig.default_endpoint_to_host_action);
		free(r->felixconfig.failsafe_inbound);
		free(r->felixconfig.failsafe_outbound);
		break;
	case MODEL_KIND_K8S_NETWORK_POLICY:
		free(r->knp.pod_selector);
		k8s_rules_free(r->knp.ingress, r->knp.n_ingress);
		k8s_rules_free(r->knp.egress, r->knp.n_egress);
		break;
	default:
		break;
	}
	free(r);
	return NULL;
}

void model_list_done(struct model_list *l)
{
	if (!l)
		return;
	for (size_t i = 0; i < l->n; i++)
		model_resource_free(l->items[i]);
	free(l->items);
	l->items = NULL;
	l->n = 0;
}

int model_key(enum model_kind kind, const char *namespace, const char *name, struct strbuf *out)
{
	const char *plural = model_kind_plural(kind);

	int r;

	if (!plural || !name || !*name)
		return -EINVAL;
	/* No printf: a full policy calculation builds one key per endpoint (100,000). */
	r = strbuf_puts(out, MODEL_KEY_PREFIX);
	if (r >= 0)
		r = strbuf_puts(out, plural);
	if (r >= 0 && model_kind_is_namespaced(kind)) {
		r = strbuf_puts(out, "/");
		if (r >= 0)
			r = strbuf_puts(out, namespace && *namespace ? namespace : "default");
	}
	if (r >= 0)
		r = strbuf_puts(out, "/");
	return r >= 0 ? strbuf_puts(out, name) : r;
}

int model_validate_pools(struct model_resource *const *pools, size_t n, struct parse_err *err)
{
	/* Calico refuses an enabled pool whose CIDR overlaps another enabled pool: IPAM would
	 * otherwise hand out one address from two pools' blocks. n is small (admin-written). */
	for (size_t j = 1; j < n; j++) {
		const struct model_resource *b = pools[j];

		if (b->kind != MODEL_KIND_IPPOOL || b->ippool.disabled)
			continue;
		for (size_t i = 0; i < j; i++) {
			const struct model_resource *a = pools[i];
			char ab[IP_PREFIX_STRLEN], bb[IP_PREFIX_STRLEN];

			if (a->kind != MODEL_KIND_IPPOOL || a->ippool.disabled)
				continue;
			if (!ip_prefix_overlaps(&a->ippool.cidr, &b->ippool.cidr))
				continue;
			return parse_err_set(err, NULL, b->source_line, 0, "spec.cidr",
					     "IPPool \"%s\" (%s) overlaps with IPPool \"%s\" (%s)",
					     b->meta.name, ip_prefix_format(&b->ippool.cidr, bb),
					     a->meta.name, ip_prefix_format(&a->ippool.cidr, ab));
		}
	}
	return 0;
}

const char *model_labels_get(const struct model_labels *l, const char *key)
{
	size_t lo = 0, hi = l->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(key, l->items[mid].key);

		if (c == 0)
			return l->items[mid].value;
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

int model_labels_set(struct model_labels *l, const char *key, const char *value)
{
	size_t lo = 0, hi = l->n;
	char *v, *k;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(key, l->items[mid].key);

		if (c == 0) {
			v = strdup(value);
			if (!v)
				return -ENOMEM;
			free(l->items[mid].value);
			l->items[mid].value = v;
			return 0;
		}
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	if (l->n >= MODEL_MAX_LABELS)
		return -E2BIG;
	struct model_label *items = realloc(l->items, (l->n + 1) * sizeof(*items));

	if (!items)
		return -ENOMEM;
	l->items = items;
	k = strdup(key);
	v = strdup(value);
	if (!k || !v) {
		free(k);
		free(v);
		return -ENOMEM;
	}
	memmove(&items[lo + 1], &items[lo], (l->n - lo) * sizeof(*items));
	items[lo] = (struct model_label){.key = k, .value = v};
	l->n++;
	return 0;
}

int model_labels_remove(struct model_labels *l, const char *key)
{
	for (size_t i = 0; i < l->n; i++) {
		if (strcmp(l->items[i].key, key) != 0)
			continue;
		free(l->items[i].key);
		free(l->items[i].value);
		memmove(&l->items[i], &l->items[i + 1], (l->n - i - 1) * sizeof(*l->items));
		l->n--;
		if (!l->n) {
			free(l->items);
			l->items = NULL;
		}
		return 0;
	}
	return -ENOENT;
}

enum model_encap model_ippool_vxlan_mode(const struct model_ippool *p)
{
	if (!p->vxlan_mode)
		return MODEL_ENCAP_NEVER;
	if (strcmp(p->vxlan_mode, "Always") == 0)
		return MODEL_ENCAP_ALWAYS;
	if (strcmp(p->vxlan_mode, "CrossSubnet") == 0)
		return MODEL_ENCAP_CROSS_SUBNET;
	return MODEL_ENCAP_NEVER;
}
