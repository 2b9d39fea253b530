/* SPDX-License-Identifier: Apache-2.0 */
/*
 * DOC: decoding
 *
 * Resources are decoded from the document tree (model/yaml-tree.c) the way Calico's strict
 * decoder does it (calicoctl and the API server): unknown fields are errors, a value of the wrong
 * YAML type is an error, and every field is validated with Calico's rules (docs.tigera.io,
 * "Calico resources": IPPool, Node, WorkloadEndpoint, BGPConfiguration). Defaults that Calico
 * fills on create (IPPool blockSize, WorkloadEndpoint namespace) are filled here, so that the
 * stored form is explicit.
 *
 * Every error carries the line and column of the offending node and the dotted field path; a
 * missing field is reported at its parent mapping. Decoding is all or nothing: the first error
 * aborts and the caller gets no resources, so a half-valid file is never half applied.
 *
 * This file holds the document, List and metadata handling and the walking skeleton's kinds;
 * model/decode-bgp.c and model/decode-policy.c decode the others, with the shared helpers of
 * model/decode-util.c (declared in model/model-internal.h). A kind is found by its manifest
 * `kind` together with its apiVersion: "NetworkPolicy" is Calico's under projectcalico.org/v3
 * and Kubernetes' under networking.k8s.io/v1.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/model-internal.h"
#include "model/model.h"

static int decode_metadata(const struct dctx *c, const struct mnode *doc, const struct mnode *m,
			   struct model_resource *res)
{
	const char *kind = model_kind_to_string(res->kind);
	int r = mdec_want_map(c, m, "metadata");

	if (r < 0)
		return r;
	size_t mark = mdec_mark(c);
	for (size_t i = 0; i < mdec_count(m); i++) {
		const char *k = m->keys[i]->text;
		const struct mnode *v = m->values[i];
		char f[sizeof(c->err->field)];

		mdec_join(f, sizeof(f), "metadata", k);
		if (strcmp(k, "name") == 0) {
			r = mdec_get_name(c, v, f, &res->meta.name);
		} else if (strcmp(k, "namespace") == 0) {
			if (!model_kind_is_namespaced(res->kind) && !mdec_is_null(v))
				return mdec_fail(c, v, f, "must not be set: %s is cluster-scoped",
						 kind);
			r = mdec_get_str(c, v, f, &res->meta.namespace);
			if (r >= 0 && res->meta.namespace &&
			    !model_dns_label_is_valid(res->meta.namespace))
				r = mdec_fail(c, v, f, "must be a lower-case RFC 1123 label");
		} else if (strcmp(k, "labels") == 0) {
			r = mdec_labels(c, v, "metadata.labels", &res->meta.labels);
		} else if (strcmp(k, "annotations") == 0) {
			/* accepted as Calico does, not stored */
			r = mdec_want_map(c, v, f);
			for (size_t j = 0; r >= 0 && j < mdec_count(v); j++) {
				const char *t;
				char g[sizeof(c->err->field)];

				mdec_join(g, sizeof(g), f, v->keys[j]->text);
				r = mdec_get_text(c, v->values[j], g, &t);
			}
		} else if (strcmp(k, "resourceVersion") == 0) {
			r = mdec_get_str(c, v, f, &res->meta.resource_version);
		} else if (strcmp(k, "uid") == 0) {
			r = mdec_get_str(c, v, f, &res->meta.uid);
		} else if (strcmp(k, "creationTimestamp") == 0) {
			r = mdec_get_str(c, v, f, &res->meta.creation_timestamp);
		} else {
			r = mdec_unknown(c, m->keys[i], f);
		}
		if (r < 0 && !mdec_go_on(c, r))
			return r;
	}
	if (mdec_failed_since(c, mark))
		return -EINVAL;
	if (!res->meta.name)
		return mdec_fail(c, mdec_is_null(m) ? doc : m, "metadata.name", "required");
	if (model_kind_is_namespaced(res->kind) && !res->meta.namespace) {
		res->meta.namespace = strdup("default");
		if (!res->meta.namespace)
			return -ENOMEM;
	}
	return 0;
}

/* ipipMode: this kernel has no IPIP module, so only Never is accepted; vxlanMode: Calico's
 * Always, CrossSubnet or Never (IPPool reference, docs.tigera.io). */
static int decode_mode(const struct dctx *c, const struct mnode *v, const char *f, bool vxlan,
		       char **ret)
{
	int r = mdec_get_str(c, v, f, ret);

	if (r < 0 || !*ret)
		return r;
	if (!vxlan && strcmp(*ret, "Never") != 0)
		return mdec_fail(c, v, f,
				 "\"%s\" is not supported: this kernel has no IPIP, so tabby has "
				 "none; only Never is supported (use vxlanMode: %s to encapsulate)",
				 *ret, strcmp(*ret, "CrossSubnet") == 0 ? "CrossSubnet" : "Always");
	if (vxlan && strcmp(*ret, "Never") != 0 && strcmp(*ret, "Always") != 0 &&
	    strcmp(*ret, "CrossSubnet") != 0)
		return mdec_fail(c, v, f, "\"%s\": must be Always, CrossSubnet or Never", *ret);
	return 0;
}

static int decode_ippool(const struct dctx *c, const struct mnode *spec, const struct mnode *at,
			 struct model_resource *res)
{
	struct model_ippool *p = &res->ippool;
	const struct mnode *cidr_n = NULL, *bs_n = NULL, *vx_n = NULL;
	uint64_t bs = 0;
	int r = mdec_want_map(c, spec, "spec");

	if (r < 0)
		return r;
	size_t mark = mdec_mark(c);
	for (size_t i = 0; i < mdec_count(spec); i++) {
		const char *k = spec->keys[i]->text;
		const struct mnode *v = spec->values[i];
		char f[sizeof(c->err->field)];

		mdec_join(f, sizeof(f), "spec", k);
		if (strcmp(k, "cidr") == 0) {
			cidr_n = v;
			r = mdec_get_network(c, v, f, &p->cidr);
		} else if (strcmp(k, "blockSize") == 0) {
			bs_n = v;
			r = mdec_get_uint(c, v, f, &bs);
		} else if (strcmp(k, "ipipMode") == 0) {
			r = decode_mode(c, v, f, false, &p->ipip_mode);
		} else if (strcmp(k, "vxlanMode") == 0) {
			vx_n = v;
			r = decode_mode(c, v, f, true, &p->vxlan_mode);
		} else if (strcmp(k, "natOutgoing") == 0) {
			r = mdec_get_bool(c, v, f, &p->nat_outgoing);
		} else if (strcmp(k, "disabled") == 0) {
			r = mdec_get_bool(c, v, f, &p->disabled);
		} else if (strcmp(k, "disableBGPExport") == 0) {
			r = mdec_get_bool(c, v, f, &p->disable_bgp_export);
		} else if (strcmp(k, "nodeSelector") == 0) {
			r = mdec_get_selector(c, v, f, &p->node_selector);
		} else if (strcmp(k, "allowedUses") == 0) {
			r = mdec_want_seq(c, v, f, 8);
			if (r >= 0 && mdec_count(v)) {
				p->allowed_uses = calloc(v->n + 1, sizeof(char *));
				if (!p->allowed_uses)
					return -ENOMEM;
			}
			for (size_t j = 0; r >= 0 && j < mdec_count(v); j++) {
				char g[sizeof(c->err->field)];

				mdec_pathf(g, sizeof(g), "%s[%zu]", f, j);
				r = mdec_get_str(c, v->values[j], g, &p->allowed_uses[j]);
				if (r < 0)
					break;
				if (!p->allowed_uses[j] ||
				    (strcmp(p->allowed_uses[j], "Workload") != 0 &&
				     strcmp(p->allowed_uses[j], "Tunnel") != 0 &&
				     strcmp(p->allowed_uses[j], "LoadBalancer") != 0))
					r = mdec_fail(c, v->values[j], g,
						      "must be Workload, Tunnel or LoadBalancer");
			}
		} else {
			r = mdec_unknown(c, spec->keys[i], f);
		}
		if (r < 0 && !mdec_go_on(c, r))
			return r;
	}
	if (mdec_failed_since(c, mark))
		return -EINVAL;
	if (!cidr_n || mdec_is_null(cidr_n))
		return mdec_fail(c, cidr_n ? cidr_n : at, "spec.cidr", "required");
	/* Calico: a pool cannot use both encapsulations (ipipMode is only ever Never here). */
	if (model_ippool_vxlan_mode(p) != MODEL_ENCAP_NEVER && p->ipip_mode &&
	    strcmp(p->ipip_mode, "Never") != 0)
		return mdec_fail(c, vx_n, "spec.vxlanMode",
				 "cannot be used together with ipipMode");
	if (model_ippool_vxlan_mode(p) != MODEL_ENCAP_NEVER && p->cidr.addr.family != AF_INET)
		return mdec_fail(c, vx_n, "spec.vxlanMode",
				 "VXLAN is supported for IPv4 pools only");

	int family = p->cidr.addr.family;
	unsigned lo = family == AF_INET ? 20 : 116, hi = family == AF_INET ? 32 : 128;

	if (bs_n && !mdec_is_null(bs_n)) {
		if (bs < lo || bs > hi)
			return mdec_fail(c, bs_n, "spec.blockSize",
					 "must be between %u and %u for an %s pool", lo, hi,
					 family == AF_INET ? "IPv4" : "IPv6");
		p->block_size = (uint8_t)bs;
	} else {
		p->block_size = family == AF_INET ? 26 : 122;
	}
	if (p->cidr.len > p->block_size)
		return mdec_fail(
		    c, cidr_n, "spec.cidr",
		    "pool /%u is smaller than one block (blockSize %u): the prefix length "
		    "must be at most the block size",
		    p->cidr.len, p->block_size);

	/* Calico refuses pools that overlap the link-local ranges. */
	struct ip_prefix ll;
	int q = ip_prefix_parse(family == AF_INET ? "169.254.0.0/16" : "fe80::/10", true, &ll);

	if (q >= 0 && ip_prefix_overlaps(&ll, &p->cidr))
		return mdec_fail(c, cidr_n, "spec.cidr", "overlaps with the link-local range %s",
				 family == AF_INET ? "169.254.0.0/16" : "fe80::/10");
	return 0;
}

static int get_host_address(const struct dctx *c, const struct mnode *v, const char *f, int family,
			    struct ip_prefix *ret)
{
	const char *t = NULL;
	struct ip_prefix p;
	int r = mdec_get_text(c, v, f, &t);

	if (r < 0 || !t)
		return r;
	if (ip_prefix_parse(t, false, &p) < 0)
		return mdec_fail(c, v, f,
				 "invalid address \"%s\": want an address with its subnet length, "
				 "e.g. %s",
				 t, family == AF_INET ? "198.18.0.11/24" : "2001:db8::11/64");
	if (p.addr.family != family)
		return mdec_fail(c, v, f, "\"%s\" is not an %s address", t,
				 family == AF_INET ? "IPv4" : "IPv6");
	*ret = p;
	return 1;
}

static int decode_node_bgp(const struct dctx *c, const struct mnode *m, struct model_node *n)
{
	int r = mdec_want_map(c, m, "spec.bgp");

	if (r < 0)
		return r;
	size_t mark = mdec_mark(c);
	for (size_t i = 0; i < mdec_count(m); i++) {
		const char *k = m->keys[i]->text;
		const struct mnode *v = m->values[i];
		char f[sizeof(c->err->field)];

		mdec_join(f, sizeof(f), "spec.bgp", k);
		if (strcmp(k, "ipv4Address") == 0) {
			r = get_host_address(c, v, f, AF_INET, &n->ipv4_address);
			if (r > 0)
				n->has_ipv4 = true;
		} else if (strcmp(k, "ipv6Address") == 0) {
			r = get_host_address(c, v, f, AF_INET6, &n->ipv6_address);
			if (r > 0)
				n->has_ipv6 = true;
		} else if (strcmp(k, "asNumber") == 0) {
			r = mdec_get_as_number(c, v, f, &n->as_number);
		} else if (strcmp(k, "routeReflectorClusterID") == 0) {
			struct ip_addr a;

			r = mdec_get_str(c, v, f, &n->rr_cluster_id);
			if (r >= 0 && n->rr_cluster_id &&
			    (ip_addr_parse(n->rr_cluster_id, &a) < 0 || a.family != AF_INET))
				r = mdec_fail(c, v, f, "must be a dotted-quad IPv4 address");
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

static int decode_node(const struct dctx *c, const struct mnode *spec, const struct mnode *at,
		       struct model_resource *res)
{
	int r = mdec_want_map(c, spec, "spec");

	if (r < 0)
		return r;
	size_t mark = mdec_mark(c);
	for (size_t i = 0; i < mdec_count(spec); i++) {
		const char *k = spec->keys[i]->text;
		char f[sizeof(c->err->field)];

		mdec_join(f, sizeof(f), "spec", k);
		const struct mnode *v = spec->values[i];

		if (strcmp(k, "bgp") == 0) {
			r = decode_node_bgp(c, v, &res->node);
		} else if (strcmp(k, "ipv4VXLANTunnelAddr") == 0) {
			char *t = NULL;

			r = mdec_get_str(c, v, f, &t);
			if (r >= 0 && t &&
			    (ip_addr_parse(t, &res->node.ipv4_vxlan_tunnel_addr) < 0 ||
			     res->node.ipv4_vxlan_tunnel_addr.family != AF_INET)) {
				res->node.ipv4_vxlan_tunnel_addr = (struct ip_addr){0};
				r = mdec_fail(c, v, f, "invalid IPv4 address \"%s\"", t);
			}
			free(t);
		} else if (strcmp(k, "vxlanTunnelMACAddr") == 0) {
			char mac[18];

			r = mdec_get_str(c, v, f, &res->node.vxlan_tunnel_mac);
			if (r >= 0 && res->node.vxlan_tunnel_mac) {
				if (model_parse_mac(res->node.vxlan_tunnel_mac, mac) < 0)
					r = mdec_fail(c, v, f, "invalid MAC address \"%s\"",
						      res->node.vxlan_tunnel_mac);
				else
					memcpy(res->node.vxlan_tunnel_mac, mac, sizeof(mac));
			}
		} else {
			r = mdec_unknown(c, spec->keys[i], f);
		}
		if (r < 0 && !mdec_go_on(c, r))
			return r;
	}
	if (mdec_failed_since(c, mark))
		return -EINVAL;
	return 0;
}

static int decode_wep(const struct dctx *c, const struct mnode *spec, const struct mnode *at,
		      struct model_resource *res)
{
	struct model_workload_endpoint *w = &res->wep;
	int r = mdec_want_map(c, spec, "spec");

	if (r < 0)
		return r;
	size_t mark = mdec_mark(c);
	for (size_t i = 0; i < mdec_count(spec); i++) {
		const char *k = spec->keys[i]->text;
		const struct mnode *v = spec->values[i];
		char f[sizeof(c->err->field)];

		mdec_join(f, sizeof(f), "spec", k);
		if (strcmp(k, "orchestrator") == 0) {
			r = mdec_get_str(c, v, f, &w->orchestrator);
		} else if (strcmp(k, "workload") == 0) {
			r = mdec_get_str(c, v, f, &w->workload);
		} else if (strcmp(k, "node") == 0) {
			r = mdec_get_name(c, v, f, &w->node);
		} else if (strcmp(k, "containerID") == 0) {
			r = mdec_get_str(c, v, f, &w->container_id);
		} else if (strcmp(k, "pod") == 0) {
			r = mdec_get_str(c, v, f, &w->pod);
		} else if (strcmp(k, "endpoint") == 0) {
			r = mdec_get_str(c, v, f, &w->endpoint);
		} else if (strcmp(k, "interfaceName") == 0) {
			r = mdec_get_str(c, v, f, &w->interface_name);
			if (r >= 0 && w->interface_name &&
			    (strlen(w->interface_name) == 0 || strlen(w->interface_name) > 15 ||
			     strpbrk(w->interface_name, "/: \t\n")))
				r = mdec_fail(
				    c, v, f,
				    "invalid interface name \"%s\": 1 to 15 characters, no "
				    "'/', ':' or space",
				    w->interface_name);
		} else if (strcmp(k, "mac") == 0) {
			char mac[18];

			r = mdec_get_str(c, v, f, &w->mac);
			if (r >= 0 && w->mac) {
				if (model_parse_mac(w->mac, mac) < 0)
					r = mdec_fail(c, v, f, "invalid MAC address \"%s\"",
						      w->mac);
				else
					memcpy(w->mac, mac, sizeof(mac));
			}
		} else if (strcmp(k, "ipNetworks") == 0) {
			r = mdec_want_seq(c, v, f, MODEL_MAX_IP_NETWORKS);
			if (r >= 0 && mdec_count(v)) {
				w->ip_networks = calloc(v->n, sizeof(*w->ip_networks));
				if (!w->ip_networks)
					return -ENOMEM;
			}
			for (size_t j = 0; r >= 0 && j < mdec_count(v); j++) {
				char g[sizeof(c->err->field)];
				const char *t = NULL;
				struct ip_prefix p;

				mdec_pathf(g, sizeof(g), "%s[%zu]", f, j);
				r = mdec_get_text(c, v->values[j], g, &t);
				if (r < 0)
					break;
				if (!t || ip_prefix_parse(t, false, &p) < 0)
					r = mdec_fail(c, v->values[j], g, "invalid CIDR \"%s\"",
						      t ? t : "");
				else if (p.len != ip_addr_bits(p.addr.family))
					r = mdec_fail(c, v->values[j], g,
						      "\"%s\" must be a host prefix (/32 or /128)",
						      t);
				else
					w->ip_networks[w->n_ip_networks++] = p;
			}
		} else if (strcmp(k, "profiles") == 0) {
			r = mdec_want_seq(c, v, f, MODEL_MAX_PROFILES);
			if (r >= 0 && mdec_count(v)) {
				w->profiles = calloc(v->n + 1, sizeof(char *));
				if (!w->profiles)
					return -ENOMEM;
			}
			for (size_t j = 0; r >= 0 && j < mdec_count(v); j++) {
				char g[sizeof(c->err->field)];

				mdec_pathf(g, sizeof(g), "%s[%zu]", f, j);
				r = mdec_get_str(c, v->values[j], g, &w->profiles[w->n_profiles]);
				if (r >= 0 && !w->profiles[w->n_profiles])
					r = mdec_fail(c, v->values[j], g, "must be a string");
				if (r >= 0)
					w->n_profiles++;
			}
		} else if (strcmp(k, "ports") == 0) {
			r = mdec_named_ports(c, v, f, &w->ports, &w->n_ports);
		} else if (strcmp(k, "serviceAccountName") == 0) {
			r = mdec_get_name(c, v, f, &w->service_account_name);
		} else {
			r = mdec_unknown(c, spec->keys[i], f);
		}
		if (r < 0 && !mdec_go_on(c, r))
			return r;
	}
	if (mdec_failed_since(c, mark))
		return -EINVAL;
	if (!w->orchestrator)
		return mdec_fail(c, at, "spec.orchestrator", "required");
	if (!w->node)
		return mdec_fail(c, at, "spec.node", "required");
	if (!w->interface_name)
		return mdec_fail(c, at, "spec.interfaceName", "required");
	if (strcmp(w->orchestrator, "cni") == 0 && !w->container_id)
		return mdec_fail(c, at, "spec.containerID", "required for orchestrator cni");
	return 0;
}

static int list_append(struct model_list *l, struct model_resource *res)
{
	struct model_resource **items;

	if (l->n >= MODEL_MAX_ITEMS)
		return -E2BIG;
	items = realloc(l->items, (l->n + 1) * sizeof(*items));
	if (!items)
		return -ENOMEM;
	l->items = items;
	l->items[l->n++] = res;
	return 0;
}

static const mdec_spec_fn spec_decoders[_MODEL_KIND_MAX] = {
    [MODEL_KIND_IPPOOL] = decode_ippool,
    [MODEL_KIND_NODE] = decode_node,
    [MODEL_KIND_WORKLOAD_ENDPOINT] = decode_wep,
    [MODEL_KIND_BGP_CONFIGURATION] = mdec_bgpconfig,
    [MODEL_KIND_BGP_PEER] = mdec_bgppeer,
    [MODEL_KIND_NETWORK_POLICY] = mdec_policy,
    [MODEL_KIND_GLOBAL_NETWORK_POLICY] = mdec_policy,
    [MODEL_KIND_TIER] = mdec_tier,
    [MODEL_KIND_NETWORK_SET] = mdec_netset,
    [MODEL_KIND_GLOBAL_NETWORK_SET] = mdec_netset,
    [MODEL_KIND_HOST_ENDPOINT] = mdec_hep,
    [MODEL_KIND_PROFILE] = mdec_profile,
    [MODEL_KIND_FELIX_CONFIGURATION] = mdec_felixconfig,
    [MODEL_KIND_NAMESPACE] = mdec_namespace,
    [MODEL_KIND_K8S_NETWORK_POLICY] = mdec_k8s_policy,
};

#define KNOWN_KINDS                                                                        \
	"IPPool, Node, WorkloadEndpoint, BGPConfiguration, BGPPeer, NetworkPolicy, "       \
	"GlobalNetworkPolicy, Tier, NetworkSet, GlobalNetworkSet, HostEndpoint, Profile, " \
	"FelixConfiguration; v1 Namespace; networking.k8s.io/v1 NetworkPolicy"

/*
 * The kind a manifest names: its `kind` (the manifest name, "NetworkPolicy") together with its
 * apiVersion, since Calico's and Kubernetes' NetworkPolicy share a name. @api may be NULL (a
 * typed List's item). Return: the kind, or -1 when @kind is no manifest name at all.
 */
static int kind_for_manifest(const char *kind, const char *api)
{
	int found = -1;

	for (int k = 0; k < _MODEL_KIND_MAX; k++) {
		if (strcmp(model_kind_manifest_name((enum model_kind)k), kind) != 0)
			continue;
		if (!api || strcmp(model_kind_api_version((enum model_kind)k), api) == 0)
			return k;
		if (found < 0)
			found = k;
	}
	return found;
}

/* "projectcalico.org/v3 or networking.k8s.io/v1" for a shared manifest name. */
static void api_choices(const char *kind, char *buf, size_t size)
{
	size_t off = 0;

	buf[0] = '\0';
	for (int k = 0; k < _MODEL_KIND_MAX && off < size; k++) {
		int w;

		if (strcmp(model_kind_manifest_name((enum model_kind)k), kind) != 0)
			continue;
		w = snprintf(buf + off, size - off, "%s%s", off ? " or " : "",
			     model_kind_api_version((enum model_kind)k));
		off += w > 0 ? (size_t)w : 0;
	}
}

/* One resource document (or List item). @default_kind: a typed List's item kind, or -1. */
static int decode_resource(struct dctx *c, const struct mnode *doc, int default_kind,
			   struct model_list *out)
{
	_cleanup_(model_resource_freep) struct model_resource *res = NULL;
	const struct mnode *kind_n = mnode_map_get(doc, "kind");
	const struct mnode *api_n = mnode_map_get(doc, "apiVersion");
	const char *kind = NULL, *api = NULL;
	char choices[128];
	int k;
	int r;

	r = mdec_get_text(c, kind_n, "kind", &kind);
	if (r < 0)
		return r;
	if (!kind && default_kind < 0)
		return mdec_fail(c, doc, "kind", "required");
	r = mdec_get_text(c, api_n, "apiVersion", &api);
	if (r < 0)
		return r;
	if (default_kind >= 0) {
		const char *want = model_kind_manifest_name((enum model_kind)default_kind);

		k = default_kind;
		if (kind && strcmp(kind, want) != 0)
			return mdec_fail(c, kind_n, "kind", "must be %s in a %sList", want, want);
		if (api && strcmp(api, model_kind_api_version((enum model_kind)k)) != 0)
			return mdec_fail(c, api_n, "apiVersion", "must be %s, not \"%s\"",
					 model_kind_api_version((enum model_kind)k), api);
	} else {
		k = kind_for_manifest(kind, api);
		if (k < 0)
			return mdec_fail(c, kind_n, "kind",
					 "unknown kind \"%s\" (tabby knows " KNOWN_KINDS ")", kind);
		if (!api)
			return mdec_fail(c, doc, "apiVersion", "required");
		if (strcmp(api, model_kind_api_version((enum model_kind)k)) != 0) {
			api_choices(kind, choices, sizeof(choices));
			return mdec_fail(c, api_n, "apiVersion", "must be %s, not \"%s\"", choices,
					 api);
		}
	}

	res = calloc(1, sizeof(*res));
	if (!res)
		return -ENOMEM;
	res->kind = (enum model_kind)k;
	res->source_line = doc->line;
	for (size_t i = 0; i < doc->n; i++) {
		const char *key = doc->keys[i]->text;

		if (strcmp(key, "apiVersion") != 0 && strcmp(key, "kind") != 0 &&
		    strcmp(key, "metadata") != 0 && strcmp(key, "spec") != 0)
			return mdec_unknown(c, doc->keys[i], key);
	}
	c->doc = doc;
	r = decode_metadata(c, doc, mnode_map_get(doc, "metadata"), res);
	if (r < 0)
		return r;

	const struct mnode *spec = mnode_map_get(doc, "spec");
	/* "required" errors for spec fields point at spec, or at the document without one */
	const struct mnode *at = mdec_is_null(spec) ? doc : spec;

	size_t mark = mdec_mark(c);

	r = spec_decoders[k](c, spec, at, res);
	if (r < 0)
		return r;
	if (mdec_failed_since(c, mark))
		return -EINVAL;
	r = list_append(out, res);
	if (r < 0)
		return r == -E2BIG
			   ? mdec_fail(c, doc, NULL, "more than %d resources", MODEL_MAX_ITEMS)
			   : r;
	TAKE_PTR(res);
	return 0;
}

/* "List" (Kubernetes v1) or "<Kind>List" (calicoctl get -o yaml): decode every item. */
static int decode_list(struct dctx *c, const struct mnode *doc, const char *kind,
		       struct model_list *out)
{
	const struct mnode *api_n = mnode_map_get(doc, "apiVersion");
	const struct mnode *items = mnode_map_get(doc, "items");
	const char *api = NULL;
	int item_kind = -1;
	int r;

	r = mdec_get_text(c, api_n, "apiVersion", &api);
	if (r < 0)
		return r;
	if (strcmp(kind, "List") != 0) {
		char base[64];

		snprintf(base, sizeof(base), "%.*s", (int)(strlen(kind) - 4), kind);
		item_kind = kind_for_manifest(base, api);
		if (item_kind < 0)
			return mdec_fail(c, mnode_map_get(doc, "kind"), "kind",
					 "unknown kind \"%s\" (tabby knows " KNOWN_KINDS
					 " and their Lists)",
					 kind);
	}
	if (!api)
		return mdec_fail(c, doc, "apiVersion", "required");
	if (item_kind >= 0 && strcmp(api, model_kind_api_version(item_kind)) != 0) {
		char choices[128];

		api_choices(model_kind_manifest_name(item_kind), choices, sizeof(choices));
		return mdec_fail(c, api_n, "apiVersion", "must be %s, not \"%s\"", choices, api);
	}
	if (item_kind < 0 && strcmp(api, MODEL_API_VERSION) != 0 && strcmp(api, "v1") != 0)
		return mdec_fail(c, api_n, "apiVersion",
				 "must be " MODEL_API_VERSION " or v1, not \"%s\"", api);
	for (size_t i = 0; i < doc->n; i++) {
		const char *key = doc->keys[i]->text;

		if (strcmp(key, "metadata") == 0) {
			r = mdec_want_map(c, doc->values[i], key);
			if (r < 0)
				return r;
		} else if (strcmp(key, "apiVersion") != 0 && strcmp(key, "kind") != 0 &&
			   strcmp(key, "items") != 0) {
			return mdec_unknown(c, doc->keys[i], key);
		}
	}
	r = mdec_want_seq(c, items, "items", MODEL_MAX_ITEMS);
	if (r < 0)
		return r;
	size_t mark = mdec_mark(c);
	for (size_t i = 0; i < mdec_count(items); i++) {
		const struct mnode *item = items->values[i];
		char f[32];

		snprintf(f, sizeof(f), "items[%zu]", i);
		if (mdec_is_null(item) || item->type != MNODE_MAP)
			return mdec_fail(c, item, f, "must be a mapping");
		r = mdec_want_map(c, item, f);
		if (r < 0)
			return r;
		snprintf(c->prefix, sizeof(c->prefix), "items[%zu].", i);
		r = decode_resource(c, item, item_kind, out);
		c->prefix[0] = '\0';
		if (r < 0 && !mdec_go_on(c, r))
			return r;
	}
	if (mdec_failed_since(c, mark))
		return -EINVAL;
	return 0;
}

static int decode_doc(struct dctx *c, const struct mnode *doc, struct model_list *out)
{
	const char *kind = NULL;
	int r;

	if (mdec_is_null(doc))
		return 0; /* empty document, e.g. a trailing "---" */
	if (doc->type != MNODE_MAP)
		return mdec_fail(c, doc, NULL,
				 "a document must be a mapping (a resource or a List)");
	r = mdec_want_map(c, doc, "");
	if (r < 0)
		return r;
	r = mdec_get_text(c, mnode_map_get(doc, "kind"), "kind", &kind);
	if (r < 0)
		return r;
	if (kind && strlen(kind) >= 4 && strcmp(kind + strlen(kind) - 4, "List") == 0)
		return decode_list(c, doc, kind, out);
	return decode_resource(c, doc, -1, out);
}

static int decode_all(const char *buf, size_t len, const char *file, struct model_list *ret,
		      struct parse_err *err, struct model_diag *diag)
{
	struct parse_err scratch;
	struct dctx c = {.file = file ? file : "", .err = err ? err : &scratch, .diag = diag};
	struct mnode_stream s = {};
	struct model_list l = {};
	int r;

	r = mnode_parse(buf, len, c.file, &s, c.err);
	if (r == -EINVAL && diag && model_diag_add(diag, false, c.err) < 0)
		r = -ENOMEM;
	if (r < 0)
		return r;
	for (size_t i = 0; i < s.n && (r >= 0 || mdec_go_on(&c, r)); i++)
		r = decode_doc(&c, s.docs[i], &l);
	mnode_stream_done(&s);
	if (r >= 0 && diag && diag->n_errors)
		r = -EINVAL;
	if (diag && diag->oom)
		r = -ENOMEM;
	if (r < 0) {
		model_list_done(&l);
		return r;
	}
	*ret = l;
	return 0;
}

int model_decode(const char *buf, size_t len, const char *file, struct model_list *ret,
		 struct parse_err *err)
{
	return decode_all(buf, len, file, ret, err, NULL);
}

int model_decode_diag(const char *buf, size_t len, const char *file, struct model_list *ret,
		      struct model_diag *diag)
{
	struct parse_err err = {};

	return decode_all(buf, len, file, ret, &err, diag);
}

/* From the datastore there is no source file: every line number is 0. */
static void clear_source_lines(struct model_resource *res)
{
	struct model_rule *sets[2] = {};
	size_t ns[2] = {};

	res->source_line = 0;
	switch (res->kind) {
	case MODEL_KIND_NETWORK_POLICY:
	case MODEL_KIND_GLOBAL_NETWORK_POLICY:
		sets[0] = res->policy.ingress, ns[0] = res->policy.n_ingress;
		sets[1] = res->policy.egress, ns[1] = res->policy.n_egress;
		break;
	case MODEL_KIND_PROFILE:
		sets[0] = res->profile.ingress, ns[0] = res->profile.n_ingress;
		sets[1] = res->profile.egress, ns[1] = res->profile.n_egress;
		break;
	case MODEL_KIND_K8S_NETWORK_POLICY:
		for (size_t i = 0; i < res->knp.n_ingress; i++)
			res->knp.ingress[i].source_line = 0;
		for (size_t i = 0; i < res->knp.n_egress; i++)
			res->knp.egress[i].source_line = 0;
		break;
	default:
		break;
	}
	for (size_t s = 0; s < 2; s++)
		for (size_t i = 0; i < ns[s]; i++)
			sets[s][i].source_line = 0;
}

/* The single resource of @l, its source lines cleared, into *@ret; frees @l otherwise. */
static int take_one(struct model_list *l, const char *file, struct model_resource **ret,
		    struct parse_err *err)
{
	int r;

	if (l->n != 1) {
		r = parse_err_set(err, file ? file : "", 0, 0, NULL,
				  "expected exactly one resource, found %zu", l->n);
		model_list_done(l);
		return r;
	}
	clear_source_lines(l->items[0]);
	*ret = TAKE_PTR(l->items[0]);
	model_list_done(l);
	return 0;
}

int model_decode_one_yaml(const char *buf, size_t len, const char *file,
			  struct model_resource **ret, struct parse_err *err)
{
	struct model_list l = {};
	int r = decode_all(buf, len, file, &l, err, NULL);

	if (r < 0)
		return r;
	return take_one(&l, file, ret, err);
}

int model_decode_one(const char *buf, size_t len, const char *file, struct model_resource **ret,
		     struct parse_err *err)
{
	struct parse_err scratch = {};
	struct dctx c = {.file = file ? file : "", .err = &scratch};
	struct model_list l = {};
	struct mnode *doc = NULL;
	int r = mnode_parse_json(buf, len, &doc);

	if (r < 0)
		return r;
	if (r > 0)
		return model_decode_one_yaml(buf, len, file, ret, err);
	r = decode_doc(&c, doc, &l);
	mnode_free(doc);
	if (r == -ENOMEM) {
		model_list_done(&l);
		return r;
	}
	if (r < 0 || l.n != 1) {
		/* libyaml's tree carries positions: decode again for the error */
		model_list_done(&l);
		return model_decode_one_yaml(buf, len, file, ret, err);
	}
	return take_one(&l, file, ret, err);
}
