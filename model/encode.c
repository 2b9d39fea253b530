/* SPDX-License-Identifier: Apache-2.0 */
/*
 * DOC: encoding
 *
 * One builder turns a resource into a json-c object with a fixed key order (apiVersion, kind,
 * metadata {name, namespace, labels, resourceVersion, uid, creationTimestamp}, spec in Calico's
 * field order) and absent fields left out. JSON is that object printed by json-c; YAML is the
 * same object walked through libyaml's emitter, quoting strings that would otherwise read back
 * as numbers, booleans or null. Neither path escapes anything by hand.
 */
#include <errno.h>
#include <stdio.h>
#include <json-c/json.h>
#include <string.h>
#include <yaml.h>

#include "model/model-internal.h"
#include "model/model.h"

static inline void json_putp(struct json_object **p)
{
	if (*p)
		json_object_put(*p);
}

static int add(struct json_object *o, const char *key, struct json_object *v)
{
	if (!v)
		return -ENOMEM;
	if (json_object_object_add(o, key, v) < 0) {
		json_object_put(v);
		return -ENOMEM;
	}
	return 0;
}

static int add_str(struct json_object *o, const char *key, const char *s)
{
	if (!s)
		return 0;
	return add(o, key, json_object_new_string(s));
}

static int add_prefix(struct json_object *o, const char *key, const struct ip_prefix *p)
{
	char buf[IP_PREFIX_STRLEN];

	return add(o, key, json_object_new_string(ip_prefix_format(p, buf)));
}

static int add_bool_if(struct json_object *o, const char *key, bool b)
{
	return b ? add(o, key, json_object_new_boolean(true)) : 0;
}

static int add_strv(struct json_object *o, const char *key, char *const *v)
{
	struct json_object *a;
	int r;

	if (!v)
		return 0;
	a = json_object_new_array();
	r = add(o, key, a);
	for (; r >= 0 && *v; v++)
		if (json_object_array_add(a, json_object_new_string(*v)) < 0)
			r = -ENOMEM;
	return r;
}

static int add_prefixes(struct json_object *o, const char *key, const struct ip_prefix *p, size_t n,
			const char *wrap)
{
	struct json_object *a;
	int r;

	if (!n)
		return 0;
	a = json_object_new_array();
	r = add(o, key, a);
	for (size_t i = 0; r >= 0 && i < n; i++) {
		char buf[IP_PREFIX_STRLEN];
		struct json_object *e = json_object_new_string(ip_prefix_format(&p[i], buf));

		if (wrap && e) {
			struct json_object *m = json_object_new_object();

			if (m && add(m, wrap, e) < 0) {
				json_object_put(m);
				m = NULL;
			}
			e = m;
		}
		if (!e || json_object_array_add(a, e) < 0) {
			json_object_put(e);
			r = -ENOMEM;
		}
	}
	return r;
}

static int add_int(struct json_object *o, const char *key, int64_t v)
{
	return add(o, key, json_object_new_int64(v));
}

static int add_duration_s(struct json_object *o, const char *key, uint32_t s)
{
	char buf[32];

	if (!s)
		return 0;
	return add_str(o, key, model_format_duration_ms((uint64_t)s * 1000, buf, sizeof(buf)));
}

/* A new array under @key (so that the caller appends to it). */
static int add_array(struct json_object *o, const char *key, struct json_object **ret)
{
	struct json_object *a = json_object_new_array();
	int r = add(o, key, a);

	if (r >= 0)
		*ret = a;
	return r;
}

static int add_object(struct json_object *o, const char *key, struct json_object **ret)
{
	struct json_object *m = json_object_new_object();
	int r = add(o, key, m);

	if (r >= 0)
		*ret = m;
	return r;
}

static int push(struct json_object *a, struct json_object *v)
{
	if (!v)
		return -ENOMEM;
	if (json_object_array_add(a, v) < 0) {
		json_object_put(v);
		return -ENOMEM;
	}
	return 0;
}

/* An array element that is a new object. */
static int push_object(struct json_object *a, struct json_object **ret)
{
	struct json_object *m = json_object_new_object();
	int r = push(a, m);

	if (r >= 0)
		*ret = m;
	return r;
}

static int add_order(struct json_object *o, const char *key, bool has, double d)
{
	if (!has)
		return 0;
	/* Calico writes whole orders as integers: keep them so (range first: casting a double
	 * outside int64_t's range is undefined) */
	if (d > -9e15 && d < 9e15 && d == (double)(int64_t)d)
		return add_int(o, key, (int64_t)d);
	return add(o, key, json_object_new_double(d));
}

static int add_labels(struct json_object *o, const char *key, const struct model_labels *l)
{
	struct json_object *m;
	int r;

	if (!l->n)
		return 0;
	r = add_object(o, key, &m);
	for (size_t i = 0; r >= 0 && i < l->n; i++)
		r = add_str(m, l->items[i].key, l->items[i].value);
	return r;
}

static int add_password(struct json_object *o, const char *key, const struct model_bgp_password *p)
{
	struct json_object *m, *ref;
	int r;

	if (!p->secret_name && !p->file)
		return 0;
	r = add_object(o, key, &m);
	if (r >= 0 && p->secret_name) {
		r = add_object(m, "secretKeyRef", &ref);
		if (r >= 0)
			r = add_str(ref, "name", p->secret_name);
		if (r >= 0)
			r = add_str(ref, "key", p->secret_key);
	}
	if (r >= 0)
		r = add_str(m, "file", p->file);
	return r;
}

static struct json_object *protocol_json(const struct model_protocol *p)
{
	const char *name = model_protocol_name(p->number);

	return name ? json_object_new_string(name) : json_object_new_int(p->number);
}

static int add_protocol(struct json_object *o, const char *key, const struct model_protocol *p)
{
	return p->set ? add(o, key, protocol_json(p)) : 0;
}

static int add_icmp(struct json_object *o, const char *key, const struct model_icmp *i)
{
	struct json_object *m;
	int r;

	if (!i->set)
		return 0;
	r = add_object(o, key, &m);
	if (r >= 0 && i->type >= 0)
		r = add_int(m, "type", i->type);
	if (r >= 0 && i->code >= 0)
		r = add_int(m, "code", i->code);
	return r;
}

static int add_ports(struct json_object *o, const char *key, const struct model_port *p, size_t n)
{
	struct json_object *a;
	int r;

	if (!n)
		return 0;
	r = add_array(o, key, &a);
	for (size_t i = 0; r >= 0 && i < n; i++) {
		char buf[16];

		if (p[i].name)
			r = push(a, json_object_new_string(p[i].name));
		else if (p[i].first == p[i].last)
			r = push(a, json_object_new_int(p[i].first));
		else {
			snprintf(buf, sizeof(buf), "%u:%u", p[i].first, p[i].last);
			r = push(a, json_object_new_string(buf));
		}
	}
	return r;
}

static int add_entity(struct json_object *o, const char *key, const struct model_entity_rule *e)
{
	struct json_object *m;
	int r;

	if (!e->n_nets && !e->n_not_nets && !e->selector && !e->not_selector &&
	    !e->namespace_selector && !e->n_ports && !e->n_not_ports && !e->sa_names &&
	    !e->sa_selector)
		return 0;
	r = add_object(o, key, &m);
	if (r >= 0)
		r = add_prefixes(m, "nets", e->nets, e->n_nets, NULL);
	if (r >= 0)
		r = add_str(m, "selector", e->selector);
	if (r >= 0)
		r = add_str(m, "namespaceSelector", e->namespace_selector);
	if (r >= 0)
		r = add_ports(m, "ports", e->ports, e->n_ports);
	if (r >= 0)
		r = add_prefixes(m, "notNets", e->not_nets, e->n_not_nets, NULL);
	if (r >= 0)
		r = add_str(m, "notSelector", e->not_selector);
	if (r >= 0)
		r = add_ports(m, "notPorts", e->not_ports, e->n_not_ports);
	if (r >= 0 && (e->sa_names || e->sa_selector)) {
		struct json_object *sa;

		r = add_object(m, "serviceAccounts", &sa);
		if (r >= 0 && e->sa_names)
			r = add_strv(sa, "names", e->sa_names);
		if (r >= 0)
			r = add_str(sa, "selector", e->sa_selector);
	}
	return r;
}

static const char *const action_names[_MODEL_ACTION_MAX] = {"Allow", "Deny", "Log", "Pass"};

static int add_rules(struct json_object *o, const char *key, const struct model_rule *rl, size_t n)
{
	struct json_object *a, *m;
	int r;

	if (!n)
		return 0;
	r = add_array(o, key, &a);
	for (size_t i = 0; r >= 0 && i < n; i++) {
		r = push_object(a, &m);
		if (r >= 0)
			r = add_str(m, "action", action_names[rl[i].action]);
		if (r >= 0 && rl[i].ip_version)
			r = add_int(m, "ipVersion", rl[i].ip_version);
		if (r >= 0)
			r = add_protocol(m, "protocol", &rl[i].protocol);
		if (r >= 0)
			r = add_icmp(m, "icmp", &rl[i].icmp);
		if (r >= 0)
			r = add_protocol(m, "notProtocol", &rl[i].not_protocol);
		if (r >= 0)
			r = add_icmp(m, "notICMP", &rl[i].not_icmp);
		if (r >= 0)
			r = add_entity(m, "source", &rl[i].source);
		if (r >= 0)
			r = add_entity(m, "destination", &rl[i].destination);
		if (r >= 0 && rl[i].metadata) {
			struct json_object *md = json_tokener_parse(rl[i].metadata);

			r = md ? add(m, "metadata", md) : -ENOMEM;
		}
	}
	return r;
}

static int add_types(struct json_object *o, const char *key, bool in, bool eg)
{
	struct json_object *a;
	int r = add_array(o, key, &a);

	if (r >= 0 && in)
		r = push(a, json_object_new_string("Ingress"));
	if (r >= 0 && eg)
		r = push(a, json_object_new_string("Egress"));
	return r;
}

static int add_named_ports(struct json_object *o, const struct model_named_port *p, size_t n)
{
	struct json_object *a, *m;
	int r;

	if (!n)
		return 0;
	r = add_array(o, "ports", &a);
	for (size_t i = 0; r >= 0 && i < n; i++) {
		r = push_object(a, &m);
		if (r >= 0)
			r = add_str(m, "name", p[i].name);
		if (r >= 0)
			r = add_protocol(m, "protocol", &p[i].protocol);
		if (r >= 0)
			r = add_int(m, "port", p[i].port);
	}
	return r;
}

static int add_proto_ports(struct json_object *o, const char *key, bool has,
			   const struct model_proto_port *p, size_t n)
{
	struct json_object *a, *m;
	int r;

	if (!has)
		return 0;
	r = add_array(o, key, &a);
	for (size_t i = 0; r >= 0 && i < n; i++) {
		r = push_object(a, &m);
		if (r >= 0)
			r = add_protocol(m, "protocol", &p[i].protocol);
		if (r >= 0)
			r = add_int(m, "port", p[i].port);
		if (r >= 0 && p[i].net.addr.family)
			r = add_prefix(m, "net", &p[i].net);
	}
	return r;
}

static int add_k8s_selector(struct json_object *o, const char *key, const char *sel)
{
	struct json_object *m = NULL;
	int r = model_k8s_selector_to_json(sel, &m);

	return r < 0 ? r : add(o, key, m);
}

static int add_k8s_rules(struct json_object *o, const char *key, const char *peers_key,
			 const struct model_k8s_rule *rl, size_t n)
{
	struct json_object *a = NULL, *m = NULL, *pa = NULL, *pm = NULL, *ib = NULL;
	int r;

	if (!n)
		return 0;
	r = add_array(o, key, &a);
	for (size_t i = 0; r >= 0 && i < n; i++) {
		r = push_object(a, &m);
		if (r >= 0 && rl[i].n_peers)
			r = add_array(m, peers_key, &pa);
		for (size_t j = 0; r >= 0 && j < rl[i].n_peers; j++) {
			const struct model_k8s_peer *p = &rl[i].peers[j];

			r = push_object(pa, &pm);
			if (r >= 0 && p->has_pod_selector)
				r = add_k8s_selector(pm, "podSelector", p->pod_selector);
			if (r >= 0 && p->has_namespace_selector)
				r = add_k8s_selector(pm, "namespaceSelector",
						     p->namespace_selector);
			if (r >= 0 && p->has_ip_block) {
				r = add_object(pm, "ipBlock", &ib);
				if (r >= 0)
					r = add_prefix(ib, "cidr", &p->ip_block);
				if (r >= 0)
					r = add_prefixes(ib, "except", p->except, p->n_except,
							 NULL);
			}
		}
		if (r >= 0 && rl[i].n_ports)
			r = add_array(m, "ports", &pa);
		for (size_t j = 0; r >= 0 && j < rl[i].n_ports; j++) {
			const struct model_k8s_port *p = &rl[i].ports[j];

			r = push_object(pa, &pm);
			if (r >= 0)
				r = add_protocol(pm, "protocol", &p->protocol);
			if (r >= 0 && p->name)
				r = add_str(pm, "port", p->name);
			else if (r >= 0 && p->has_port)
				r = add_int(pm, "port", p->port);
			if (r >= 0 && p->end_port)
				r = add_int(pm, "endPort", p->end_port);
		}
	}
	return r;
}

/* "k == 'v'", "k in { 'a', 'b' }", "k not in { ... }", "has(k)", "! has(k)": the terms
 * model/decode-policy.c writes for a Kubernetes LabelSelector, read back. */
int model_k8s_selector_to_json(const char *sel, struct json_object **ret)
{
	_cleanup_(json_putp) struct json_object *o = json_object_new_object();
	struct json_object *labels = NULL, *exprs = NULL;
	const char *p = sel;
	int r = 0;

	if (!o)
		return -ENOMEM;
	if (strcmp(sel, "all()") == 0) {
		*ret = TAKE_PTR(o);
		return 0;
	}
	while (*p && r >= 0) {
		size_t len = strstr(p, " && ") ? (size_t)(strstr(p, " && ") - p) : strlen(p);
		char term[512], key[320], val[320];
		const char *op = NULL;
		struct json_object *e, *vals;
		char *q;

		if (len >= sizeof(term))
			return -EINVAL;
		memcpy(term, p, len);
		term[len] = '\0';
		p += len;
		if (strncmp(p, " && ", 4) == 0)
			p += 4;
		if (sscanf(term, "%319[^ ] == '%319[^']'", key, val) == 2) {
			if (!labels) {
				labels = json_object_new_object();
				if (!labels ||
				    json_object_object_add(o, "matchLabels", labels) < 0) {
					json_object_put(labels);
					return -ENOMEM;
				}
			}
			r = add_str(labels, key, val);
			continue;
		}
		if (!exprs)
			r = add_array(o, "matchExpressions", &exprs);
		if (r < 0)
			return r;
		r = push_object(exprs, &e);
		if (r < 0)
			return r;
		if (sscanf(term, "has(%319[^)])", key) == 1)
			op = "Exists";
		else if (sscanf(term, "! has(%319[^)])", key) == 1)
			op = "DoesNotExist";
		else if ((q = strstr(term, " not in { ")))
			op = "NotIn";
		else if ((q = strstr(term, " in { ")))
			op = "In";
		else
			return -EINVAL;
		if (strcmp(op, "In") == 0 || strcmp(op, "NotIn") == 0) {
			const char *v = q + (op[0] == 'N' ? 10 : 6);

			snprintf(key, sizeof(key), "%.*s", (int)(q - term), term);
			r = add_str(e, "key", key);
			if (r >= 0)
				r = add_str(e, "operator", op);
			if (r >= 0)
				r = add_array(e, "values", &vals);
			while (r >= 0 && *v == '\'') {
				const char *end = strchr(v + 1, '\'');

				if (!end)
					return -EINVAL;
				snprintf(val, sizeof(val), "%.*s", (int)(end - v - 1), v + 1);
				r = push(vals, json_object_new_string(val));
				v = end + 1;
				if (strncmp(v, ", ", 2) == 0)
					v += 2;
			}
		} else {
			r = add_str(e, "key", key);
			if (r >= 0)
				r = add_str(e, "operator", op);
		}
	}
	if (r < 0)
		return r;
	*ret = TAKE_PTR(o);
	return 0;
}

static int build_meta(const struct model_resource *res, struct json_object *md)
{
	int r = add_str(md, "name", res->meta.name);

	if (r >= 0 && model_kind_is_namespaced(res->kind))
		r = add_str(md, "namespace", res->meta.namespace ? res->meta.namespace : "default");
	if (r >= 0 && res->meta.labels.n) {
		struct json_object *l = json_object_new_object();

		r = add(md, "labels", l);
		for (size_t i = 0; r >= 0 && i < res->meta.labels.n; i++)
			r = add_str(l, res->meta.labels.items[i].key,
				    res->meta.labels.items[i].value);
	}
	if (r >= 0)
		r = add_str(md, "resourceVersion", res->meta.resource_version);
	if (r >= 0)
		r = add_str(md, "uid", res->meta.uid);
	if (r >= 0)
		r = add_str(md, "creationTimestamp", res->meta.creation_timestamp);
	return r;
}

static int build_spec(const struct model_resource *res, struct json_object *s)
{
	int r = 0;

	switch (res->kind) {
	case MODEL_KIND_IPPOOL: {
		const struct model_ippool *p = &res->ippool;

		r = add_prefix(s, "cidr", &p->cidr);
		if (r >= 0)
			r = add_str(s, "vxlanMode", p->vxlan_mode);
		if (r >= 0)
			r = add_str(s, "ipipMode", p->ipip_mode);
		if (r >= 0)
			r = add_bool_if(s, "natOutgoing", p->nat_outgoing);
		if (r >= 0)
			r = add_bool_if(s, "disabled", p->disabled);
		if (r >= 0)
			r = add_bool_if(s, "disableBGPExport", p->disable_bgp_export);
		if (r >= 0)
			r = add(s, "blockSize", json_object_new_int(p->block_size));
		if (r >= 0)
			r = add_str(s, "nodeSelector", p->node_selector);
		if (r >= 0)
			r = add_strv(s, "allowedUses", p->allowed_uses);
		break;
	}
	case MODEL_KIND_NODE: {
		const struct model_node *n = &res->node;
		struct json_object *bgp;

		if (n->ipv4_vxlan_tunnel_addr.family == AF_INET) {
			char t[IP_ADDR_STRLEN];

			r = add_str(s, "ipv4VXLANTunnelAddr",
				    ip_addr_format(&n->ipv4_vxlan_tunnel_addr, t));
		}
		if (r >= 0)
			r = add_str(s, "vxlanTunnelMACAddr", n->vxlan_tunnel_mac);
		if (r < 0)
			break;
		if (!n->has_ipv4 && !n->has_ipv6 && !n->as_number && !n->rr_cluster_id)
			break;
		bgp = json_object_new_object();
		r = add(s, "bgp", bgp);
		if (r >= 0 && n->has_ipv4)
			r = add_prefix(bgp, "ipv4Address", &n->ipv4_address);
		if (r >= 0 && n->has_ipv6)
			r = add_prefix(bgp, "ipv6Address", &n->ipv6_address);
		if (r >= 0 && n->as_number)
			r = add(bgp, "asNumber", json_object_new_int64(n->as_number));
		if (r >= 0)
			r = add_str(bgp, "routeReflectorClusterID", n->rr_cluster_id);
		break;
	}
	case MODEL_KIND_WORKLOAD_ENDPOINT: {
		const struct model_workload_endpoint *w = &res->wep;

		r = add_str(s, "orchestrator", w->orchestrator);
		if (r >= 0)
			r = add_str(s, "workload", w->workload);
		if (r >= 0)
			r = add_str(s, "node", w->node);
		if (r >= 0)
			r = add_str(s, "containerID", w->container_id);
		if (r >= 0)
			r = add_str(s, "pod", w->pod);
		if (r >= 0)
			r = add_str(s, "endpoint", w->endpoint);
		if (r >= 0)
			r = add_prefixes(s, "ipNetworks", w->ip_networks, w->n_ip_networks, NULL);
		if (r >= 0)
			r = add_strv(s, "profiles", w->profiles);
		if (r >= 0)
			r = add_str(s, "interfaceName", w->interface_name);
		if (r >= 0)
			r = add_str(s, "mac", w->mac);
		if (r >= 0)
			r = add_named_ports(s, w->ports, w->n_ports);
		if (r >= 0)
			r = add_str(s, "serviceAccountName", w->service_account_name);
		break;
	}
	case MODEL_KIND_BGP_CONFIGURATION: {
		const struct model_bgp_configuration *b = &res->bgpconfig;

		if (b->log_severity_screen)
			r = add_str(s, "logSeverityScreen", b->log_severity_screen);
		if (r >= 0 && b->node_to_node_mesh_enabled >= 0)
			r = add(s, "nodeToNodeMeshEnabled",
				json_object_new_boolean(b->node_to_node_mesh_enabled));
		if (r >= 0 && b->as_number)
			r = add(s, "asNumber", json_object_new_int64(b->as_number));
		if (r >= 0)
			r = add_prefixes(s, "serviceClusterIPs", b->service_cluster_ips,
					 b->n_service_cluster_ips, "cidr");
		if (r >= 0)
			r = add_prefixes(s, "serviceExternalIPs", b->service_external_ips,
					 b->n_service_external_ips, "cidr");
		if (r >= 0)
			r = add_prefixes(s, "serviceLoadBalancerIPs", b->service_loadbalancer_ips,
					 b->n_service_loadbalancer_ips, "cidr");
		if (r >= 0 && b->listen_port)
			r = add(s, "listenPort", json_object_new_int(b->listen_port));
		if (r >= 0)
			r = add_str(s, "bindMode", b->bind_mode);
		if (r >= 0 && b->n_communities) {
			struct json_object *a, *m;

			r = add_array(s, "communities", &a);
			for (size_t i = 0; r >= 0 && i < b->n_communities; i++) {
				r = push_object(a, &m);
				if (r >= 0)
					r = add_str(m, "name", b->communities[i].name);
				if (r >= 0)
					r = add_str(m, "value", b->communities[i].value);
			}
		}
		if (r >= 0 && b->n_prefix_advertisements) {
			struct json_object *a, *m;

			r = add_array(s, "prefixAdvertisements", &a);
			for (size_t i = 0; r >= 0 && i < b->n_prefix_advertisements; i++) {
				r = push_object(a, &m);
				if (r >= 0)
					r = add_prefix(m, "cidr",
						       &b->prefix_advertisements[i].cidr);
				if (r >= 0)
					r = add_strv(m, "communities",
						     b->prefix_advertisements[i].communities);
			}
		}
		if (r >= 0)
			r = add_password(s, "nodeMeshPassword", &b->node_mesh_password);
		if (r >= 0)
			r = add_duration_s(s, "nodeMeshMaxRestartTime",
					   b->node_mesh_max_restart_time_s);
		if (r >= 0)
			r = add_strv(s, "ignoredInterfaces", b->ignored_interfaces);
		break;
	}
	case MODEL_KIND_BGP_PEER: {
		const struct model_bgp_peer *p = &res->bgppeer;

		r = add_str(s, "node", p->node);
		if (r >= 0 && p->has_peer_ip) {
			char a[IP_ADDR_STRLEN], buf[IP_ADDR_STRLEN + 10];

			ip_addr_format(&p->peer_ip, a);
			if (!p->peer_port)
				snprintf(buf, sizeof(buf), "%s", a);
			else if (p->peer_ip.family == AF_INET6)
				snprintf(buf, sizeof(buf), "[%s]:%u", a, p->peer_port);
			else
				snprintf(buf, sizeof(buf), "%s:%u", a, p->peer_port);
			r = add_str(s, "peerIP", buf);
		}
		if (r >= 0 && p->as_number)
			r = add_int(s, "asNumber", p->as_number);
		if (r >= 0)
			r = add_str(s, "nodeSelector", p->node_selector);
		if (r >= 0)
			r = add_str(s, "peerSelector", p->peer_selector);
		if (r >= 0)
			r = add_bool_if(s, "keepOriginalNextHop", p->keep_original_next_hop);
		if (r >= 0)
			r = add_password(s, "password", &p->password);
		if (r >= 0)
			r = add_str(s, "sourceAddress", p->source_address);
		if (r >= 0)
			r = add_duration_s(s, "maxRestartTime", p->max_restart_time_s);
		if (r >= 0 && p->local_as_number)
			r = add_int(s, "localASNumber", p->local_as_number);
		if (r >= 0 && p->num_allowed_local_as_numbers)
			r = add_int(s, "numAllowedLocalASNumbers", p->num_allowed_local_as_numbers);
		if (r >= 0 && p->ttl_security)
			r = add_int(s, "ttlSecurity", p->ttl_security);
		if (r >= 0)
			r = add_duration_s(s, "keepaliveTime", p->keepalive_time_s);
		if (r >= 0)
			r = add_duration_s(s, "holdTime", p->hold_time_s);
		if (r >= 0 && p->next_hop_mode != MODEL_NEXT_HOP_AUTO)
			r = add_str(s, "nextHopMode",
				    p->next_hop_mode == MODEL_NEXT_HOP_SELF ? "Self" : "Keep");
		if (r >= 0)
			r = add_str(s, "reversePeering", p->reverse_peering);
		if (r >= 0 && (p->bfd_enabled || p->bfd_interval_ms || p->bfd_multiplier)) {
			struct json_object *m;
			char buf[32];

			r = add_object(s, "bfd", &m);
			if (r >= 0)
				r = add(m, "enabled", json_object_new_boolean(p->bfd_enabled));
			if (r >= 0 && p->bfd_interval_ms)
				r = add_str(
				    m, "interval",
				    model_format_duration_ms(p->bfd_interval_ms, buf, sizeof(buf)));
			if (r >= 0 && p->bfd_multiplier)
				r = add_int(m, "multiplier", p->bfd_multiplier);
		}
		break;
	}
	case MODEL_KIND_NETWORK_POLICY:
	case MODEL_KIND_GLOBAL_NETWORK_POLICY: {
		const struct model_policy *p = &res->policy;

		r = add_str(s, "tier", p->tier ? p->tier : MODEL_DEFAULT_TIER);
		if (r >= 0)
			r = add_order(s, "order", p->has_order, p->order);
		if (r >= 0)
			r = add_rules(s, "ingress", p->ingress, p->n_ingress);
		if (r >= 0)
			r = add_rules(s, "egress", p->egress, p->n_egress);
		if (r >= 0)
			r = add_str(s, "selector", p->selector);
		if (r >= 0)
			r = add_types(s, "types", p->types_ingress, p->types_egress);
		if (r >= 0)
			r = add_bool_if(s, "doNotTrack", p->do_not_track);
		if (r >= 0)
			r = add_bool_if(s, "preDNAT", p->pre_dnat);
		if (r >= 0)
			r = add_bool_if(s, "applyOnForward", p->apply_on_forward);
		if (r >= 0)
			r = add_str(s, "namespaceSelector", p->namespace_selector);
		break;
	}
	case MODEL_KIND_TIER:
		r = add_order(s, "order", res->tier.has_order, res->tier.order);
		if (r >= 0)
			r = add_str(s, "defaultAction", action_names[res->tier.default_action]);
		break;
	case MODEL_KIND_NETWORK_SET:
	case MODEL_KIND_GLOBAL_NETWORK_SET:
		r = add_prefixes(s, "nets", res->netset.nets, res->netset.n_nets, NULL);
		break;
	case MODEL_KIND_HOST_ENDPOINT: {
		const struct model_host_endpoint *h = &res->hep;

		r = add_str(s, "node", h->node);
		if (r >= 0)
			r = add_str(s, "interfaceName", h->interface_name);
		if (r >= 0 && h->n_expected_ips) {
			struct json_object *a;

			r = add_array(s, "expectedIPs", &a);
			for (size_t i = 0; r >= 0 && i < h->n_expected_ips; i++) {
				char buf[IP_ADDR_STRLEN];

				r = push(a, json_object_new_string(
						ip_addr_format(&h->expected_ips[i], buf)));
			}
		}
		if (r >= 0)
			r = add_strv(s, "profiles", h->profiles);
		if (r >= 0)
			r = add_named_ports(s, h->ports, h->n_ports);
		break;
	}
	case MODEL_KIND_PROFILE:
		r = add_rules(s, "ingress", res->profile.ingress, res->profile.n_ingress);
		if (r >= 0)
			r = add_rules(s, "egress", res->profile.egress, res->profile.n_egress);
		if (r >= 0)
			r = add_labels(s, "labelsToApply", &res->profile.labels_to_apply);
		break;
	case MODEL_KIND_FELIX_CONFIGURATION: {
		const struct model_felix_configuration *f = &res->felixconfig;

		r = add_str(s, "defaultEndpointToHostAction", f->default_endpoint_to_host_action);
		if (r >= 0)
			r = add_proto_ports(s, "failsafeInboundHostPorts", f->has_failsafe_inbound,
					    f->failsafe_inbound, f->n_failsafe_inbound);
		if (r >= 0)
			r = add_proto_ports(s, "failsafeOutboundHostPorts",
					    f->has_failsafe_outbound, f->failsafe_outbound,
					    f->n_failsafe_outbound);
		if (r >= 0 && f->has_dataplane)
			r = add_str(s, "nftablesMode",
				    f->dataplane == MODEL_DATAPLANE_NFTABLES ? "Enabled"
									     : "Disabled");
		break;
	}
	case MODEL_KIND_K8S_NETWORK_POLICY: {
		const struct model_k8s_network_policy *k = &res->knp;

		r = add_k8s_selector(s, "podSelector", k->pod_selector ? k->pod_selector : "all()");
		if (r >= 0)
			r = add_k8s_rules(s, "ingress", "from", k->ingress, k->n_ingress);
		if (r >= 0)
			r = add_k8s_rules(s, "egress", "to", k->egress, k->n_egress);
		if (r >= 0)
			r = add_types(s, "policyTypes", k->types_ingress, k->types_egress);
		break;
	}
	default:
		return -EINVAL;
	}
	return r;
}

/* The fields of the JSON object text @extra that @o does not have yet, added to @o. */
static int merge_extra(struct json_object *o, const char *extra)
{
	struct json_object *x;
	int r = 0;

	if (!extra)
		return 0;
	x = json_tokener_parse(extra);
	if (!x || !json_object_is_type(x, json_type_object)) {
		json_object_put(x);
		return -EINVAL;
	}
	json_object_object_foreach(x, key, val)
	{
		if (r < 0 || json_object_object_get_ex(o, key, NULL))
			continue;
		r = add(o, key, json_object_get(val));
	}
	json_object_put(x);
	return r;
}

static int build(const struct model_resource *res, struct json_object **ret)
{
	_cleanup_(json_putp) struct json_object *o = json_object_new_object();
	struct json_object *md, *spec;
	const char *kind = model_kind_to_string(res->kind);
	int r;

	if (!kind)
		return -EINVAL;
	if (!o)
		return -ENOMEM;
	r = add_str(o, "apiVersion", model_kind_api_version(res->kind));
	if (r >= 0)
		r = add_str(o, "kind", model_kind_manifest_name(res->kind));
	md = json_object_new_object();
	if (r >= 0)
		r = add(o, "metadata", md);
	else
		json_object_put(md);
	if (r >= 0)
		r = build_meta(res, md);
	if (res->kind == MODEL_KIND_NAMESPACE) {
		/* a Kubernetes Namespace: metadata only */
	} else {
		spec = json_object_new_object();
		if (r >= 0)
			r = add(o, "spec", spec);
		else
			json_object_put(spec);
		if (r >= 0)
			r = build_spec(res, spec);
		if (r >= 0)
			r = merge_extra(spec, res->extra_spec);
	}
	if (r < 0)
		return r;
	*ret = TAKE_PTR(o);
	return 0;
}

int model_encode_json(const struct model_resource *r, struct strbuf *out)
{
	_cleanup_(json_putp) struct json_object *o = NULL;
	const char *s;
	int q = build(r, &o);

	if (q < 0)
		return q;
	s = json_object_to_json_string_ext(o,
					   JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	if (!s)
		return -ENOMEM;
	return strbuf_puts(out, s);
}

static int yaml_write(void *data, unsigned char *buffer, size_t size)
{
	return strbuf_append(data, buffer, size) >= 0;
}

static int emit(yaml_emitter_t *em, yaml_event_t *ev)
{
	/* yaml_emitter_emit() takes the event over, also on failure */
	return yaml_emitter_emit(em, ev) ? 0 : -ENOMEM;
}

static int emit_scalar(yaml_emitter_t *em, const char *s, bool plain_ok)
{
	yaml_event_t ev;
	yaml_scalar_style_t style =
	    plain_ok ? YAML_ANY_SCALAR_STYLE : YAML_DOUBLE_QUOTED_SCALAR_STYLE;

	if (!yaml_scalar_event_initialize(&ev, NULL, NULL, (yaml_char_t *)s, (int)strlen(s), 1, 1,
					  style))
		return -ENOMEM;
	return emit(em, &ev);
}

static int emit_value(yaml_emitter_t *em, struct json_object *v)
{
	yaml_event_t ev;
	int r = 0;

	switch (json_object_get_type(v)) {
	case json_type_object:
		if (!yaml_mapping_start_event_initialize(&ev, NULL, NULL, 1,
							 YAML_BLOCK_MAPPING_STYLE))
			return -ENOMEM;
		r = emit(em, &ev);
		json_object_object_foreach(v, key, val)
		{
			if (r >= 0)
				r = emit_scalar(em, key, !model_yaml_needs_quotes(key));
			if (r >= 0)
				r = emit_value(em, val);
		}
		if (r >= 0 && !yaml_mapping_end_event_initialize(&ev))
			return -ENOMEM;
		return r < 0 ? r : emit(em, &ev);
	case json_type_array:
		if (!yaml_sequence_start_event_initialize(&ev, NULL, NULL, 1,
							  YAML_BLOCK_SEQUENCE_STYLE))
			return -ENOMEM;
		r = emit(em, &ev);
		for (size_t i = 0; r >= 0 && i < json_object_array_length(v); i++)
			r = emit_value(em, json_object_array_get_idx(v, i));
		if (r >= 0 && !yaml_sequence_end_event_initialize(&ev))
			return -ENOMEM;
		return r < 0 ? r : emit(em, &ev);
	case json_type_string: {
		const char *s = json_object_get_string(v);

		return emit_scalar(em, s, !model_yaml_needs_quotes(s));
	}
	default:
		/* numbers and booleans: their JSON text is also their plain YAML form */
		return emit_scalar(em, json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN),
				   true);
	}
}

int model_encode_yaml(const struct model_resource *r, struct strbuf *out)
{
	_cleanup_(json_putp) struct json_object *o = NULL;
	yaml_emitter_t em;
	yaml_event_t ev;
	int q = build(r, &o);

	if (q < 0)
		return q;
	if (!yaml_emitter_initialize(&em))
		return -ENOMEM;
	yaml_emitter_set_output(&em, yaml_write, out);
	yaml_emitter_set_unicode(&em, 1);
	yaml_emitter_set_width(&em, -1);
	if (!yaml_stream_start_event_initialize(&ev, YAML_UTF8_ENCODING) || emit(&em, &ev) < 0)
		q = -ENOMEM;
	if (q >= 0 &&
	    (!yaml_document_start_event_initialize(&ev, NULL, NULL, NULL, 0) || emit(&em, &ev) < 0))
		q = -ENOMEM;
	if (q >= 0)
		q = emit_value(&em, o);
	if (q >= 0 && (!yaml_document_end_event_initialize(&ev, 1) || emit(&em, &ev) < 0))
		q = -ENOMEM;
	if (q >= 0 && (!yaml_stream_end_event_initialize(&ev) || emit(&em, &ev) < 0))
		q = -ENOMEM;
	if (q >= 0 && !yaml_emitter_flush(&em))
		q = -ENOMEM;
	yaml_emitter_delete(&em);
	return q;
}
