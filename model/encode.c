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
		if (r >= 0 && b->listen_port)
			r = add(s, "listenPort", json_object_new_int(b->listen_port));
		break;
	}
	default:
		return -EINVAL;
	}
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
	r = add_str(o, "apiVersion", MODEL_API_VERSION);
	if (r >= 0)
		r = add_str(o, "kind", kind);
	md = json_object_new_object();
	if (r >= 0)
		r = add(o, "metadata", md);
	else
		json_object_put(md);
	if (r >= 0)
		r = build_meta(res, md);
	spec = json_object_new_object();
	if (r >= 0)
		r = add(o, "spec", spec);
	else
		json_object_put(spec);
	if (r >= 0)
		r = build_spec(res, spec);
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
