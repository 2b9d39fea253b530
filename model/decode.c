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
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/model-internal.h"
#include "model/model.h"

#define MODEL_MAX_MAP_FIELDS 512
#define MODEL_MAX_ITEMS 10000

struct dctx {
	const char *file;
	struct parse_err *err;
	char prefix[32]; /* "items[3]." inside a List, else "" */
};

static void pathf(char *buf, size_t size, const char *fmt, ...) _printf_(3, 4);
static void pathf(char *buf, size_t size, const char *fmt, ...)
{
	va_list ap;

	/* paths longer than parse_err.field are cut; they only label an error */
	va_start(ap, fmt);
	vsnprintf(buf, size, fmt, ap);
	va_end(ap);
}

static void join(char *buf, size_t size, const char *parent, const char *key)
{
	pathf(buf, size, "%s.%s", parent, key);
}

static int fail(const struct dctx *c, const struct mnode *at, const char *field, const char *fmt,
		...) _printf_(4, 5);
static int fail(const struct dctx *c, const struct mnode *at, const char *field, const char *fmt,
		...)
{
	char msg[sizeof(c->err->msg)];
	char path[sizeof(c->err->field)];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(path, sizeof(path), "%s%s", field && *field ? c->prefix : "", field ? field : "");
	return parse_err_set(c->err, c->file, at ? at->line : 0, at ? at->column : 0, path, "%s",
			     msg);
}

static bool is_null(const struct mnode *n)
{
	return !n || (n->type == MNODE_SCALAR && mnode_scalar_kind(n) == MNODE_NULL);
}

/* A mapping (NULL and null mean an empty one). Also refuses duplicate and too many keys. */
static int want_map(const struct dctx *c, const struct mnode *n, const char *field)
{
	if (is_null(n))
		return 0;
	if (n->type != MNODE_MAP)
		return fail(c, n, field, "must be a mapping");
	if (n->n > MODEL_MAX_MAP_FIELDS)
		return fail(c, n, field, "more than %d fields", MODEL_MAX_MAP_FIELDS);
	for (size_t i = 1; i < n->n; i++)
		for (size_t j = 0; j < i; j++)
			if (strcmp(n->keys[i]->text, n->keys[j]->text) == 0) {
				char f[sizeof(c->err->field)];

				pathf(f, sizeof(f), "%s%s%s", field, *field ? "." : "",
				      n->keys[i]->text);
				return fail(c, n->keys[i], f, "duplicate field");
			}
	return 0;
}

static int want_seq(const struct dctx *c, const struct mnode *n, const char *field, size_t max)
{
	if (is_null(n))
		return 0;
	if (n->type != MNODE_SEQ)
		return fail(c, n, field, "must be a list");
	if (n->n > max)
		return fail(c, n, field, "more than %zu entries", max);
	return 0;
}

/* Number of entries of a mapping or list that may be null. */
static size_t count(const struct mnode *n)
{
	return is_null(n) ? 0 : n->n;
}

/* A string scalar, borrowed; *ret stays NULL for null. */
static int get_text(const struct dctx *c, const struct mnode *n, const char *field,
		    const char **ret)
{
	if (is_null(n))
		return 0;
	if (n->type != MNODE_SCALAR || mnode_scalar_kind(n) != MNODE_STR)
		return fail(c, n, field, "must be a string");
	if (strlen(n->text) != n->text_len)
		return fail(c, n, field, "must not contain NUL characters");
	*ret = n->text;
	return 0;
}

static int get_str(const struct dctx *c, const struct mnode *n, const char *field, char **ret)
{
	const char *t = NULL;
	char *s;
	int r = get_text(c, n, field, &t);

	if (r < 0 || !t)
		return r;
	s = strdup(t);
	if (!s)
		return -ENOMEM;
	free(*ret);
	*ret = s;
	return 0;
}

static int get_bool(const struct dctx *c, const struct mnode *n, const char *field, bool *ret)
{
	if (is_null(n))
		return 0;
	if (n->type != MNODE_SCALAR || mnode_scalar_kind(n) != MNODE_BOOL)
		return fail(c, n, field, "must be a boolean (true or false)");
	*ret = n->text[0] == 't' || n->text[0] == 'T';
	return 0;
}

/* A non-negative decimal integer scalar; *ret untouched for null (then returns 0, not 1). */
static int get_uint(const struct dctx *c, const struct mnode *n, const char *field, uint64_t *ret)
{
	uint64_t v = 0;

	if (is_null(n))
		return 0;
	if (n->type != MNODE_SCALAR || mnode_scalar_kind(n) != MNODE_INT)
		return fail(c, n, field, "must be an integer");
	const char *s = n->text;

	if (*s == '+')
		s++;
	if (*s == '-')
		return fail(c, n, field, "must not be negative");
	if (!*s || strspn(s, "0123456789") != strlen(s))
		return fail(c, n, field, "must be a decimal integer");
	for (; *s; s++) {
		v = v * 10 + (uint64_t)(*s - '0');
		if (v > UINT32_MAX)
			return fail(c, n, field, "%s is too large", n->text);
	}
	*ret = v;
	return 1;
}

/* Calico numorstring.ASNumber: an integer, or a string holding a number or asdot "A.B". */
static int get_as_number(const struct dctx *c, const struct mnode *n, const char *field,
			 uint32_t *ret)
{
	if (is_null(n))
		return 0;
	if (n->type != MNODE_SCALAR || mnode_scalar_kind(n) == MNODE_BOOL)
		return fail(c, n, field, "must be an AS number");
	if (model_parse_as_number(n->text, ret) < 0)
		return fail(c, n, field,
			    "invalid AS number \"%s\": must be 1..4294967295 or asdot \"A.B\"",
			    n->text);
	return 0;
}

static int unknown(const struct dctx *c, const struct mnode *key, const char *path)
{
	return fail(c, key, path, "unknown field");
}

/* A CIDR that must be a masked network (IPPool cidr, serviceClusterIPs). */
static int get_network(const struct dctx *c, const struct mnode *n, const char *field,
		       struct ip_prefix *ret)
{
	const char *t = NULL;
	struct ip_prefix p;
	char buf[IP_PREFIX_STRLEN];
	int r = get_text(c, n, field, &t);

	if (r < 0)
		return r;
	if (!t)
		return fail(c, n, field, "required");
	if (!strchr(t, '/') || ip_prefix_parse(t, false, &p) < 0)
		return fail(c, n, field, "invalid CIDR \"%s\"", t);
	if (!ip_prefix_is_masked(&p)) {
		struct ip_prefix m = ip_prefix_mask(p);

		return fail(c, n, field, "invalid CIDR \"%s\": host bits are set (network is %s)",
			    t, ip_prefix_format(&m, buf));
	}
	*ret = p;
	return 0;
}

static int decode_labels(const struct dctx *c, const struct mnode *m, struct model_labels *l)
{
	int r = want_map(c, m, "metadata.labels");

	if (r < 0)
		return r;
	if (count(m) > MODEL_MAX_LABELS)
		return fail(c, m, "metadata.labels", "more than %d labels", MODEL_MAX_LABELS);
	for (size_t i = 0; i < count(m); i++) {
		const char *key = m->keys[i]->text, *value = NULL;
		char f[sizeof(c->err->field)];

		join(f, sizeof(f), "metadata.labels", key);
		if (!model_label_key_is_valid(key))
			return fail(c, m->keys[i], f,
				    "invalid label key: must be a qualified name ([DNS subdomain "
				    "\"/\"] name of at most 63 characters of [A-Za-z0-9-_.], "
				    "starting and ending with an alphanumeric)");
		r = get_text(c, m->values[i], f, &value);
		if (r < 0)
			return r;
		if (!value)
			value = "";
		if (!model_label_value_is_valid(value))
			return fail(c, m->values[i], f,
				    "invalid label value \"%s\": must be at most 63 characters of "
				    "[A-Za-z0-9-_.], starting and ending with an alphanumeric",
				    value);
		r = model_labels_set(l, key, value);
		if (r < 0)
			return r;
	}
	return 0;
}

static int decode_metadata(const struct dctx *c, const struct mnode *doc, const struct mnode *m,
			   struct model_resource *res)
{
	const char *kind = model_kind_to_string(res->kind);
	int r = want_map(c, m, "metadata");

	if (r < 0)
		return r;
	for (size_t i = 0; i < count(m); i++) {
		const char *k = m->keys[i]->text;
		const struct mnode *v = m->values[i];
		char f[sizeof(c->err->field)];

		join(f, sizeof(f), "metadata", k);
		if (strcmp(k, "name") == 0) {
			r = get_str(c, v, f, &res->meta.name);
			if (r >= 0 && res->meta.name && !model_name_is_valid(res->meta.name))
				r = fail(c, v, f, "must be a lower-case RFC 1123 subdomain");
		} else if (strcmp(k, "namespace") == 0) {
			if (!model_kind_is_namespaced(res->kind) && !is_null(v))
				return fail(c, v, f, "must not be set: %s is cluster-scoped", kind);
			r = get_str(c, v, f, &res->meta.namespace);
			if (r >= 0 && res->meta.namespace &&
			    !model_dns_label_is_valid(res->meta.namespace))
				r = fail(c, v, f, "must be a lower-case RFC 1123 label");
		} else if (strcmp(k, "labels") == 0) {
			r = decode_labels(c, v, &res->meta.labels);
		} else if (strcmp(k, "annotations") == 0) {
			/* accepted as Calico does, not stored */
			r = want_map(c, v, f);
			for (size_t j = 0; r >= 0 && j < count(v); j++) {
				const char *t;
				char g[sizeof(c->err->field)];

				join(g, sizeof(g), f, v->keys[j]->text);
				r = get_text(c, v->values[j], g, &t);
			}
		} else if (strcmp(k, "resourceVersion") == 0) {
			r = get_str(c, v, f, &res->meta.resource_version);
		} else if (strcmp(k, "uid") == 0) {
			r = get_str(c, v, f, &res->meta.uid);
		} else if (strcmp(k, "creationTimestamp") == 0) {
			r = get_str(c, v, f, &res->meta.creation_timestamp);
		} else {
			r = unknown(c, m->keys[i], f);
		}
		if (r < 0)
			return r;
	}
	if (!res->meta.name)
		return fail(c, is_null(m) ? doc : m, "metadata.name", "required");
	if (model_kind_is_namespaced(res->kind) && !res->meta.namespace) {
		res->meta.namespace = strdup("default");
		if (!res->meta.namespace)
			return -ENOMEM;
	}
	return 0;
}

static int decode_mode(const struct dctx *c, const struct mnode *v, const char *f, char **ret)
{
	int r = get_str(c, v, f, ret);

	if (r < 0 || !*ret)
		return r;
	if (strcmp(*ret, "Never") != 0)
		return fail(c, v, f,
			    "\"%s\" is not supported: tabby has no overlay; only Never is "
			    "supported",
			    *ret);
	return 0;
}

static int decode_ippool(const struct dctx *c, const struct mnode *spec, const struct mnode *at,
			 struct model_resource *res)
{
	struct model_ippool *p = &res->ippool;
	const struct mnode *cidr_n = NULL, *bs_n = NULL;
	uint64_t bs = 0;
	int r = want_map(c, spec, "spec");

	if (r < 0)
		return r;
	for (size_t i = 0; i < count(spec); i++) {
		const char *k = spec->keys[i]->text;
		const struct mnode *v = spec->values[i];
		char f[sizeof(c->err->field)];

		join(f, sizeof(f), "spec", k);
		if (strcmp(k, "cidr") == 0) {
			cidr_n = v;
			r = get_network(c, v, f, &p->cidr);
		} else if (strcmp(k, "blockSize") == 0) {
			bs_n = v;
			r = get_uint(c, v, f, &bs);
		} else if (strcmp(k, "ipipMode") == 0) {
			r = decode_mode(c, v, f, &p->ipip_mode);
		} else if (strcmp(k, "vxlanMode") == 0) {
			r = decode_mode(c, v, f, &p->vxlan_mode);
		} else if (strcmp(k, "natOutgoing") == 0) {
			r = get_bool(c, v, f, &p->nat_outgoing);
		} else if (strcmp(k, "disabled") == 0) {
			r = get_bool(c, v, f, &p->disabled);
		} else if (strcmp(k, "disableBGPExport") == 0) {
			r = get_bool(c, v, f, &p->disable_bgp_export);
		} else if (strcmp(k, "nodeSelector") == 0) {
			r = get_str(c, v, f, &p->node_selector);
		} else if (strcmp(k, "allowedUses") == 0) {
			r = want_seq(c, v, f, 8);
			if (r >= 0 && count(v)) {
				p->allowed_uses = calloc(v->n + 1, sizeof(char *));
				if (!p->allowed_uses)
					return -ENOMEM;
			}
			for (size_t j = 0; r >= 0 && j < count(v); j++) {
				char g[sizeof(c->err->field)];

				pathf(g, sizeof(g), "%s[%zu]", f, j);
				r = get_str(c, v->values[j], g, &p->allowed_uses[j]);
				if (r < 0)
					break;
				if (!p->allowed_uses[j] ||
				    (strcmp(p->allowed_uses[j], "Workload") != 0 &&
				     strcmp(p->allowed_uses[j], "Tunnel") != 0 &&
				     strcmp(p->allowed_uses[j], "LoadBalancer") != 0))
					r = fail(c, v->values[j], g,
						 "must be Workload, Tunnel or LoadBalancer");
			}
		} else {
			r = unknown(c, spec->keys[i], f);
		}
		if (r < 0)
			return r;
	}
	if (!cidr_n || is_null(cidr_n))
		return fail(c, cidr_n ? cidr_n : at, "spec.cidr", "required");

	int family = p->cidr.addr.family;
	unsigned lo = family == AF_INET ? 20 : 116, hi = family == AF_INET ? 32 : 128;

	if (bs_n && !is_null(bs_n)) {
		if (bs < lo || bs > hi)
			return fail(c, bs_n, "spec.blockSize",
				    "must be between %u and %u for an %s pool", lo, hi,
				    family == AF_INET ? "IPv4" : "IPv6");
		p->block_size = (uint8_t)bs;
	} else {
		p->block_size = family == AF_INET ? 26 : 122;
	}
	if (p->cidr.len > p->block_size)
		return fail(c, cidr_n, "spec.cidr",
			    "pool /%u is smaller than one block (blockSize %u): the prefix length "
			    "must be at most the block size",
			    p->cidr.len, p->block_size);

	/* Calico refuses pools that overlap the link-local ranges. */
	struct ip_prefix ll;
	int q = ip_prefix_parse(family == AF_INET ? "169.254.0.0/16" : "fe80::/10", true, &ll);

	if (q >= 0 && ip_prefix_overlaps(&ll, &p->cidr))
		return fail(c, cidr_n, "spec.cidr", "overlaps with the link-local range %s",
			    family == AF_INET ? "169.254.0.0/16" : "fe80::/10");
	return 0;
}

static int get_host_address(const struct dctx *c, const struct mnode *v, const char *f, int family,
			    struct ip_prefix *ret)
{
	const char *t = NULL;
	struct ip_prefix p;
	int r = get_text(c, v, f, &t);

	if (r < 0 || !t)
		return r;
	if (ip_prefix_parse(t, false, &p) < 0)
		return fail(c, v, f,
			    "invalid address \"%s\": want an address with its subnet length, "
			    "e.g. %s",
			    t, family == AF_INET ? "198.18.0.11/24" : "2001:db8::11/64");
	if (p.addr.family != family)
		return fail(c, v, f, "\"%s\" is not an %s address", t,
			    family == AF_INET ? "IPv4" : "IPv6");
	*ret = p;
	return 1;
}

static int decode_node_bgp(const struct dctx *c, const struct mnode *m, struct model_node *n)
{
	int r = want_map(c, m, "spec.bgp");

	if (r < 0)
		return r;
	for (size_t i = 0; i < count(m); i++) {
		const char *k = m->keys[i]->text;
		const struct mnode *v = m->values[i];
		char f[sizeof(c->err->field)];

		join(f, sizeof(f), "spec.bgp", k);
		if (strcmp(k, "ipv4Address") == 0) {
			r = get_host_address(c, v, f, AF_INET, &n->ipv4_address);
			if (r > 0)
				n->has_ipv4 = true;
		} else if (strcmp(k, "ipv6Address") == 0) {
			r = get_host_address(c, v, f, AF_INET6, &n->ipv6_address);
			if (r > 0)
				n->has_ipv6 = true;
		} else if (strcmp(k, "asNumber") == 0) {
			r = get_as_number(c, v, f, &n->as_number);
		} else if (strcmp(k, "routeReflectorClusterID") == 0) {
			struct ip_addr a;

			r = get_str(c, v, f, &n->rr_cluster_id);
			if (r >= 0 && n->rr_cluster_id &&
			    (ip_addr_parse(n->rr_cluster_id, &a) < 0 || a.family != AF_INET))
				r = fail(c, v, f, "must be a dotted-quad IPv4 address");
		} else {
			r = unknown(c, m->keys[i], f);
		}
		if (r < 0)
			return r;
	}
	return 0;
}

static int decode_node(const struct dctx *c, const struct mnode *spec, const struct mnode *at,
		       struct model_resource *res)
{
	int r = want_map(c, spec, "spec");

	if (r < 0)
		return r;
	for (size_t i = 0; i < count(spec); i++) {
		const char *k = spec->keys[i]->text;
		char f[sizeof(c->err->field)];

		join(f, sizeof(f), "spec", k);
		if (strcmp(k, "bgp") == 0)
			r = decode_node_bgp(c, spec->values[i], &res->node);
		else
			r = unknown(c, spec->keys[i], f);
		if (r < 0)
			return r;
	}
	return 0;
}

static int decode_wep(const struct dctx *c, const struct mnode *spec, const struct mnode *at,
		      struct model_resource *res)
{
	struct model_workload_endpoint *w = &res->wep;
	int r = want_map(c, spec, "spec");

	if (r < 0)
		return r;
	for (size_t i = 0; i < count(spec); i++) {
		const char *k = spec->keys[i]->text;
		const struct mnode *v = spec->values[i];
		char f[sizeof(c->err->field)];

		join(f, sizeof(f), "spec", k);
		if (strcmp(k, "orchestrator") == 0) {
			r = get_str(c, v, f, &w->orchestrator);
		} else if (strcmp(k, "workload") == 0) {
			r = get_str(c, v, f, &w->workload);
		} else if (strcmp(k, "node") == 0) {
			r = get_str(c, v, f, &w->node);
			if (r >= 0 && w->node && !model_name_is_valid(w->node))
				r = fail(c, v, f, "must be a lower-case RFC 1123 subdomain");
		} else if (strcmp(k, "containerID") == 0) {
			r = get_str(c, v, f, &w->container_id);
		} else if (strcmp(k, "pod") == 0) {
			r = get_str(c, v, f, &w->pod);
		} else if (strcmp(k, "endpoint") == 0) {
			r = get_str(c, v, f, &w->endpoint);
		} else if (strcmp(k, "interfaceName") == 0) {
			r = get_str(c, v, f, &w->interface_name);
			if (r >= 0 && w->interface_name &&
			    (strlen(w->interface_name) == 0 || strlen(w->interface_name) > 15 ||
			     strpbrk(w->interface_name, "/: \t\n")))
				r = fail(c, v, f,
					 "invalid interface name \"%s\": 1 to 15 characters, no "
					 "'/', ':' or space",
					 w->interface_name);
		} else if (strcmp(k, "mac") == 0) {
			char mac[18];

			r = get_str(c, v, f, &w->mac);
			if (r >= 0 && w->mac) {
				if (model_parse_mac(w->mac, mac) < 0)
					r = fail(c, v, f, "invalid MAC address \"%s\"", w->mac);
				else
					memcpy(w->mac, mac, sizeof(mac));
			}
		} else if (strcmp(k, "ipNetworks") == 0) {
			r = want_seq(c, v, f, MODEL_MAX_IP_NETWORKS);
			if (r >= 0 && count(v)) {
				w->ip_networks = calloc(v->n, sizeof(*w->ip_networks));
				if (!w->ip_networks)
					return -ENOMEM;
			}
			for (size_t j = 0; r >= 0 && j < count(v); j++) {
				char g[sizeof(c->err->field)];
				const char *t = NULL;
				struct ip_prefix p;

				pathf(g, sizeof(g), "%s[%zu]", f, j);
				r = get_text(c, v->values[j], g, &t);
				if (r < 0)
					break;
				if (!t || ip_prefix_parse(t, false, &p) < 0)
					r = fail(c, v->values[j], g, "invalid CIDR \"%s\"",
						 t ? t : "");
				else if (p.len != ip_addr_bits(p.addr.family))
					r = fail(c, v->values[j], g,
						 "\"%s\" must be a host prefix (/32 or /128)", t);
				else
					w->ip_networks[w->n_ip_networks++] = p;
			}
		} else if (strcmp(k, "profiles") == 0) {
			r = want_seq(c, v, f, MODEL_MAX_PROFILES);
			if (r >= 0 && count(v)) {
				w->profiles = calloc(v->n + 1, sizeof(char *));
				if (!w->profiles)
					return -ENOMEM;
			}
			for (size_t j = 0; r >= 0 && j < count(v); j++) {
				char g[sizeof(c->err->field)];

				pathf(g, sizeof(g), "%s[%zu]", f, j);
				r = get_str(c, v->values[j], g, &w->profiles[w->n_profiles]);
				if (r >= 0 && !w->profiles[w->n_profiles])
					r = fail(c, v->values[j], g, "must be a string");
				if (r >= 0)
					w->n_profiles++;
			}
		} else {
			r = unknown(c, spec->keys[i], f);
		}
		if (r < 0)
			return r;
	}
	if (!w->orchestrator)
		return fail(c, at, "spec.orchestrator", "required");
	if (!w->node)
		return fail(c, at, "spec.node", "required");
	if (!w->interface_name)
		return fail(c, at, "spec.interfaceName", "required");
	if (strcmp(w->orchestrator, "cni") == 0 && !w->container_id)
		return fail(c, at, "spec.containerID", "required for orchestrator cni");
	return 0;
}

static const char *const log_levels[] = {"Trace", "Debug", "Info", "Warning", "Error", "Fatal"};

static int decode_bgpconfig(const struct dctx *c, const struct mnode *spec, const struct mnode *at,
			    struct model_resource *res)
{
	struct model_bgp_configuration *b = &res->bgpconfig;
	int r = want_map(c, spec, "spec");

	b->node_to_node_mesh_enabled = -1;
	if (r < 0)
		return r;
	for (size_t i = 0; i < count(spec); i++) {
		const char *k = spec->keys[i]->text;
		const struct mnode *v = spec->values[i];
		char f[sizeof(c->err->field)];

		join(f, sizeof(f), "spec", k);
		if (strcmp(k, "asNumber") == 0) {
			r = get_as_number(c, v, f, &b->as_number);
		} else if (strcmp(k, "nodeToNodeMeshEnabled") == 0) {
			bool on = true;

			r = get_bool(c, v, f, &on);
			if (r >= 0 && !is_null(v))
				b->node_to_node_mesh_enabled = on;
		} else if (strcmp(k, "logSeverityScreen") == 0) {
			bool ok = false;

			r = get_str(c, v, f, &b->log_severity_screen);
			for (size_t j = 0; b->log_severity_screen && j < ELEMENTSOF(log_levels);
			     j++)
				ok |= strcmp(b->log_severity_screen, log_levels[j]) == 0;
			if (r >= 0 && b->log_severity_screen && !ok)
				r = fail(
				    c, v, f,
				    "must be one of Trace, Debug, Info, Warning, Error, Fatal");
		} else if (strcmp(k, "listenPort") == 0) {
			uint64_t port = 0;

			r = get_uint(c, v, f, &port);
			if (r > 0 && (port < 1 || port > 65535))
				r = fail(c, v, f, "must be between 1 and 65535");
			b->listen_port = (uint16_t)port;
		} else if (strcmp(k, "serviceClusterIPs") == 0) {
			r = want_seq(c, v, f, MODEL_MAX_IP_NETWORKS);
			if (r >= 0 && count(v)) {
				b->service_cluster_ips = calloc(v->n, sizeof(struct ip_prefix));
				if (!b->service_cluster_ips)
					return -ENOMEM;
			}
			for (size_t j = 0; r >= 0 && j < count(v); j++) {
				const struct mnode *e = v->values[j];
				char g[sizeof(c->err->field)], h[sizeof(c->err->field)];

				pathf(g, sizeof(g), "%s[%zu]", f, j);
				r = want_map(c, e, g);
				if (r >= 0 && is_null(e))
					r = fail(c, e, g, "must be a mapping");
				for (size_t m = 0; r >= 0 && m < count(e); m++) {
					join(h, sizeof(h), g, e->keys[m]->text);
					if (strcmp(e->keys[m]->text, "cidr") == 0)
						r = get_network(c, e->values[m], h,
								&b->service_cluster_ips
								     [b->n_service_cluster_ips]);
					else
						r = unknown(c, e->keys[m], h);
				}
				if (r >= 0 && !mnode_map_get(e, "cidr")) {
					join(h, sizeof(h), g, "cidr");
					r = fail(c, e, h, "required");
				}
				if (r >= 0)
					b->n_service_cluster_ips++;
			}
		} else {
			r = unknown(c, spec->keys[i], f);
		}
		if (r < 0)
			return r;
	}
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

/* One resource document (or List item). @default_kind: a typed List's item kind, or -1. */
static int decode_resource(const struct dctx *c, const struct mnode *doc, int default_kind,
			   struct model_list *out)
{
	_cleanup_(model_resource_freep) struct model_resource *res = NULL;
	const struct mnode *kind_n = mnode_map_get(doc, "kind");
	const struct mnode *api_n = mnode_map_get(doc, "apiVersion");
	const char *kind = NULL, *api = NULL;
	enum model_kind k;
	int r;

	r = get_text(c, kind_n, "kind", &kind);
	if (r < 0)
		return r;
	if (!kind && default_kind < 0)
		return fail(c, doc, "kind", "required");
	if (!kind) {
		k = (enum model_kind)default_kind;
	} else {
		k = model_kind_from_string(kind);
		if (k < 0 || strcmp(model_kind_to_string(k), kind) != 0)
			return fail(c, kind_n, "kind",
				    "unknown kind \"%s\" (tabby knows IPPool, Node, "
				    "WorkloadEndpoint, BGPConfiguration)",
				    kind);
		if (default_kind >= 0 && (int)k != default_kind)
			return fail(c, kind_n, "kind", "must be %s in a %sList",
				    model_kind_to_string((enum model_kind)default_kind),
				    model_kind_to_string((enum model_kind)default_kind));
	}
	r = get_text(c, api_n, "apiVersion", &api);
	if (r < 0)
		return r;
	if (!api && default_kind < 0)
		return fail(c, doc, "apiVersion", "required");
	if (api && strcmp(api, MODEL_API_VERSION) != 0)
		return fail(c, api_n, "apiVersion", "must be " MODEL_API_VERSION ", not \"%s\"",
			    api);

	res = calloc(1, sizeof(*res));
	if (!res)
		return -ENOMEM;
	res->kind = k;
	res->source_line = doc->line;
	for (size_t i = 0; i < doc->n; i++) {
		const char *key = doc->keys[i]->text;

		if (strcmp(key, "apiVersion") != 0 && strcmp(key, "kind") != 0 &&
		    strcmp(key, "metadata") != 0 && strcmp(key, "spec") != 0)
			return unknown(c, doc->keys[i], key);
	}
	r = decode_metadata(c, doc, mnode_map_get(doc, "metadata"), res);
	if (r < 0)
		return r;

	const struct mnode *spec = mnode_map_get(doc, "spec");
	/* "required" errors for spec fields point at spec, or at the document without one */
	const struct mnode *at = is_null(spec) ? doc : spec;

	switch (k) {
	case MODEL_KIND_IPPOOL:
		r = decode_ippool(c, spec, at, res);
		break;
	case MODEL_KIND_NODE:
		r = decode_node(c, spec, at, res);
		break;
	case MODEL_KIND_WORKLOAD_ENDPOINT:
		r = decode_wep(c, spec, at, res);
		break;
	case MODEL_KIND_BGP_CONFIGURATION:
		r = decode_bgpconfig(c, spec, at, res);
		break;
	default:
		r = -EINVAL;
	}
	if (r < 0)
		return r;
	r = list_append(out, res);
	if (r < 0)
		return r == -E2BIG ? fail(c, doc, NULL, "more than %d resources", MODEL_MAX_ITEMS)
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

	if (strcmp(kind, "List") != 0) {
		char base[64];

		snprintf(base, sizeof(base), "%.*s", (int)(strlen(kind) - 4), kind);
		item_kind = model_kind_from_string(base);
		if (item_kind < 0 || strcmp(model_kind_to_string(item_kind), base) != 0)
			return fail(c, mnode_map_get(doc, "kind"), "kind",
				    "unknown kind \"%s\" (tabby knows IPPool, Node, "
				    "WorkloadEndpoint, BGPConfiguration and their Lists)",
				    kind);
	}
	r = get_text(c, api_n, "apiVersion", &api);
	if (r < 0)
		return r;
	if (!api)
		return fail(c, doc, "apiVersion", "required");
	if (strcmp(api, MODEL_API_VERSION) != 0 && !(item_kind < 0 && strcmp(api, "v1") == 0))
		return fail(c, api_n, "apiVersion", "must be " MODEL_API_VERSION ", not \"%s\"",
			    api);
	for (size_t i = 0; i < doc->n; i++) {
		const char *key = doc->keys[i]->text;

		if (strcmp(key, "metadata") == 0) {
			r = want_map(c, doc->values[i], key);
			if (r < 0)
				return r;
		} else if (strcmp(key, "apiVersion") != 0 && strcmp(key, "kind") != 0 &&
			   strcmp(key, "items") != 0) {
			return unknown(c, doc->keys[i], key);
		}
	}
	r = want_seq(c, items, "items", MODEL_MAX_ITEMS);
	if (r < 0)
		return r;
	for (size_t i = 0; i < count(items); i++) {
		const struct mnode *item = items->values[i];
		char f[32];

		snprintf(f, sizeof(f), "items[%zu]", i);
		if (is_null(item) || item->type != MNODE_MAP)
			return fail(c, item, f, "must be a mapping");
		r = want_map(c, item, f);
		if (r < 0)
			return r;
		snprintf(c->prefix, sizeof(c->prefix), "items[%zu].", i);
		r = decode_resource(c, item, item_kind, out);
		c->prefix[0] = '\0';
		if (r < 0)
			return r;
	}
	return 0;
}

static int decode_doc(struct dctx *c, const struct mnode *doc, struct model_list *out)
{
	const char *kind = NULL;
	int r;

	if (is_null(doc))
		return 0; /* empty document, e.g. a trailing "---" */
	if (doc->type != MNODE_MAP)
		return fail(c, doc, NULL, "a document must be a mapping (a resource or a List)");
	r = want_map(c, doc, "");
	if (r < 0)
		return r;
	r = get_text(c, mnode_map_get(doc, "kind"), "kind", &kind);
	if (r < 0)
		return r;
	if (kind && strlen(kind) >= 4 && strcmp(kind + strlen(kind) - 4, "List") == 0)
		return decode_list(c, doc, kind, out);
	return decode_resource(c, doc, -1, out);
}

static int decode_all(const char *buf, size_t len, const char *file, struct model_list *ret,
		      struct parse_err *err)
{
	struct parse_err scratch;
	struct dctx c = {.file = file ? file : "", .err = err ? err : &scratch};
	struct mnode_stream s = {};
	struct model_list l = {};
	int r;

	r = mnode_parse(buf, len, c.file, &s, c.err);
	if (r < 0)
		return r;
	for (size_t i = 0; i < s.n && r >= 0; i++)
		r = decode_doc(&c, s.docs[i], &l);
	mnode_stream_done(&s);
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
	return decode_all(buf, len, file, ret, err);
}

int model_decode_one(const char *buf, size_t len, const char *file, struct model_resource **ret,
		     struct parse_err *err)
{
	struct model_list l = {};
	int r = decode_all(buf, len, file, &l, err);

	if (r < 0)
		return r;
	if (l.n != 1) {
		r = parse_err_set(err, file ? file : "", 0, 0, NULL,
				  "expected exactly one resource, found %zu", l.n);
		model_list_done(&l);
		return r;
	}
	l.items[0]->source_line = 0;
	*ret = TAKE_PTR(l.items[0]);
	model_list_done(&l);
	return 0;
}
