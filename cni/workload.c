/* SPDX-License-Identifier: Apache-2.0 */
/**
 * DOC: the WorkloadEndpoint of a container, shared by the CNI plugin and tabby-docker
 *
 * Names and keys are checked before anything is written: a WorkloadEndpoint under a key felix
 * cannot decode is worse than none, since felix drops it and the container, already running with
 * its address, is silently cut off. The rules are the ones the model decoder applies (model/);
 * the early checks here only name the argument the bad part came from.
 */

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cni/workload.h"
#include "lib/log.h"
#include "lib/strbuf.h"
/* The validators below are the model decoder's own (model/validate.c); using them keeps one
 * definition of a valid name. */
#include "model/model-internal.h"

int wl_fail(struct wl_error *e, int r, enum wl_err_kind kind, const char *fmt, ...)
{
	va_list ap;

	if (!e || e->kind != WL_ERR_NONE)
		return r;
	e->kind = kind;
	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	va_end(ap);
	return r;
}

int wl_datastore_error(struct wl_error *e, int r, const char *what)
{
	switch (r) {
	case -ECONNREFUSED:
	case -EHOSTUNREACH:
	case -ENETUNREACH:
	case -ETIMEDOUT:
	case -ECONNRESET:
	case -EIO:
	case -ECOMM:
		return wl_fail(e, r, WL_ERR_DS_UNAVAILABLE, "%s: datastore unavailable (%s)", what,
			       strerror(-r));
	case -EPROTO:
	case -EBADMSG:
		return wl_fail(e, r, WL_ERR_DS_DATA, "%s: invalid data in the datastore", what);
	case -ENAMETOOLONG:
	case -E2BIG:
	case -EMSGSIZE:
		return wl_fail(e, r, WL_ERR_TOO_LONG, "%s: argument too long", what);
	case -EINVAL:
		return wl_fail(e, r, WL_ERR_INVALID, "%s: invalid argument", what);
	case -ENOENT:
		return wl_fail(e, r, WL_ERR_NOT_FOUND, "%s: not found", what);
	default:
		return wl_fail(e, r, WL_ERR_INTERNAL, "%s: %s", what, strerror(-r));
	}
}

const char *wl_quote(const char *s, char *buf, size_t len)
{
	size_t o = 0;

	if (len == 0)
		return buf;
	for (; s && *s; s++) {
		unsigned char ch = (unsigned char)*s;
		char tmp[8];
		size_t n;

		if (ch >= 0x20 && ch < 0x7f && ch != '\\')
			n = (size_t)snprintf(tmp, sizeof(tmp), "%c", ch);
		else
			n = (size_t)snprintf(tmp, sizeof(tmp), "\\x%02x", ch);
		if (o + n + 4 > len) { /* room for "..." and the NUL */
			snprintf(buf + o, len - o, "...");
			return buf;
		}
		memcpy(buf + o, tmp, n);
		o += n;
	}
	buf[o] = '\0';
	return buf;
}

int wl_check_namespace(const char *arg, const char *s, struct wl_error *e)
{
	char q[96];

	if (!s || !*s)
		return wl_fail(e, -EINVAL, WL_ERR_INVALID, "%s: missing", arg);
	if (strlen(s) > 63)
		return wl_fail(e, -ENAMETOOLONG, WL_ERR_TOO_LONG,
			       "%s: argument too long: %zu characters, a namespace has at most 63",
			       arg, strlen(s));
	if (!model_dns_label_is_valid(s))
		return wl_fail(
		    e, -EINVAL, WL_ERR_INVALID,
		    "%s: \"%s\" is not a valid namespace name (DNS-1123 label: lower-case "
		    "letters, digits and '-', starting and ending with a letter or digit)",
		    arg, wl_quote(s, q, sizeof(q)));
	return 0;
}

int wl_check_subdomain(const char *arg, const char *s, struct wl_error *e)
{
	char q[96];

	if (!s || !*s)
		return wl_fail(e, -EINVAL, WL_ERR_INVALID, "%s: missing", arg);
	if (strlen(s) > MODEL_NAME_MAX)
		return wl_fail(e, -ENAMETOOLONG, WL_ERR_TOO_LONG,
			       "%s: argument too long: %zu characters, a name has at most %d", arg,
			       strlen(s), MODEL_NAME_MAX);
	if (!model_name_is_valid(s))
		return wl_fail(e, -EINVAL, WL_ERR_INVALID,
			       "%s: \"%s\" is not a valid name (DNS-1123 subdomain: lower-case "
			       "letters, digits, '-' and '.', each part starting and ending with a "
			       "letter or digit)",
			       arg, wl_quote(s, q, sizeof(q)));
	return 0;
}

int wl_check_label(const char *arg, const char *key, const char *value, struct wl_error *e)
{
	char q[96];

	if (!key || !*key)
		return wl_fail(e, -EINVAL, WL_ERR_INVALID, "%s.key: missing", arg);
	if (!value)
		return wl_fail(e, -EINVAL, WL_ERR_INVALID, "%s.value: missing", arg);
	if (!model_label_key_is_valid(key))
		return wl_fail(e, -EINVAL, WL_ERR_INVALID, "%s: \"%s\" is not a valid label key",
			       arg, wl_quote(key, q, sizeof(q)));
	if (!model_label_value_is_valid(value))
		return wl_fail(e, -EINVAL, WL_ERR_INVALID, "%s: \"%s\" is not a valid label value",
			       arg, wl_quote(value, q, sizeof(q)));
	return 0;
}

int wl_check_port_name(const char *arg, const char *s, struct wl_error *e)
{
	char q[96];

	if (!s || !*s)
		return wl_fail(e, -EINVAL, WL_ERR_INVALID, "%s: missing", arg);
	if (!model_port_name_is_valid(s))
		return wl_fail(e, -EINVAL, WL_ERR_INVALID,
			       "%s: \"%s\" is not a valid port name (1 to 15 of [a-z0-9-] with at "
			       "least one letter)",
			       arg, wl_quote(s, q, sizeof(q)));
	return 0;
}

int wl_protocol_parse(const char *s, uint8_t *ret)
{
	uint8_t p = s ? model_protocol_from_string(s) : 0;

	if (p != 6 && p != 17 && p != 132)
		return -EINVAL;
	*ret = p;
	return 0;
}

/* @s with every '-' doubled, appended to @sb */
static int append_escaped(struct strbuf *sb, const char *s)
{
	for (; *s; s++) {
		int r = strbuf_append(sb, s, 1);

		if (r >= 0 && *s == '-')
			r = strbuf_append(sb, s, 1);
		if (r < 0)
			return r;
	}
	return 0;
}

int wl_wep_name(const char *node, const char *orchestrator, const char *workload,
		const char *endpoint, char **ret, struct wl_error *e)
{
	_cleanup_strbuf_ struct strbuf sb;
	const char *parts[] = {node, orchestrator, workload, endpoint};
	char q[96];
	int r = 0;

	strbuf_init(&sb);
	for (size_t i = 0; i < ELEMENTSOF(parts); i++) {
		if (!parts[i] || !*parts[i])
			return wl_fail(e, -EINVAL, WL_ERR_INVALID,
				       "WorkloadEndpoint name: part %zu is empty", i);
		if (i > 0)
			r = strbuf_append(&sb, "-", 1);
		if (r >= 0)
			r = append_escaped(&sb, parts[i]);
		if (r < 0)
			return wl_fail(e, r, WL_ERR_INTERNAL, "WorkloadEndpoint name: %s",
				       strerror(-r));
	}
	if (sb.len > MODEL_NAME_MAX)
		return wl_fail(e, -ENAMETOOLONG, WL_ERR_TOO_LONG,
			       "argument too long: the WorkloadEndpoint name "
			       "<node>-%s-<id>-<interface> would be %zu characters, more than %d "
			       "(node %zu, id %zu, interface %zu)",
			       orchestrator, sb.len, MODEL_NAME_MAX, strlen(node), strlen(workload),
			       strlen(endpoint));
	if (!model_name_is_valid(strbuf_cstr(&sb)))
		return wl_fail(e, -EINVAL, WL_ERR_INVALID,
			       "the WorkloadEndpoint name \"%s\" is not a lower-case RFC 1123 "
			       "subdomain: the id and interface may hold only [a-z0-9.-]",
			       wl_quote(strbuf_cstr(&sb), q, sizeof(q)));
	*ret = strbuf_steal(&sb);
	return *ret ? 0 : wl_fail(e, -ENOMEM, WL_ERR_INTERNAL, "out of memory");
}

static char *xstrdup0(const char *s)
{
	return s ? strdup(s) : NULL;
}

/* Encode @w and decode it again: what felix will do with it. */
static int round_trip(const struct model_resource *w, struct strbuf *ret_val, struct wl_error *e)
{
	_cleanup_(model_resource_freep) struct model_resource *back = NULL;
	struct parse_err perr = {};
	int r;

	r = model_encode_json(w, ret_val);
	if (r < 0)
		return wl_fail(e, r, WL_ERR_INTERNAL, "WorkloadEndpoint: cannot encode: %s",
			       strerror(-r));
	r = model_decode_one(strbuf_cstr(ret_val), ret_val->len, "WorkloadEndpoint", &back, &perr);
	if (r == -ENOMEM)
		return wl_fail(e, r, WL_ERR_INTERNAL, "out of memory");
	if (r < 0)
		return wl_fail(e, r, WL_ERR_INVALID, "WorkloadEndpoint %s/%s: %s: %s",
			       w->meta.namespace, w->meta.name, perr.field, perr.msg);
	return 0;
}

static int wep_labels(const struct wl_endpoint *ep, struct model_labels *l, struct wl_error *e)
{
	const struct model_labels *sets[] = {ep->labels, ep->extra_labels};
	int r;

	for (size_t s = 0; s < ELEMENTSOF(sets); s++) {
		for (size_t i = 0; sets[s] && i < sets[s]->n; i++) {
			const struct model_label *lb = &sets[s]->items[i];

			r = wl_check_label("labels", lb->key, lb->value, e);
			if (r < 0)
				return r;
			r = model_labels_set(l, lb->key, lb->value);
			if (r == -E2BIG)
				return wl_fail(e, r, WL_ERR_TOO_LONG, "labels: more than %d",
					       MODEL_MAX_LABELS);
			if (r < 0)
				return wl_fail(e, r, WL_ERR_INTERNAL, "out of memory");
		}
	}
	if (ep->service_account) {
		r = wl_check_subdomain("serviceAccount", ep->service_account, e);
		if (r >= 0 && !model_label_value_is_valid(ep->service_account))
			r = wl_fail(e, -EINVAL, WL_ERR_INVALID,
				    "serviceAccount: \"%s\" cannot be a label value (at most 63 "
				    "characters)",
				    ep->service_account);
		if (r < 0)
			return r;
		r = model_labels_set(l, WL_LABEL_SERVICE_ACCOUNT, ep->service_account);
		if (r < 0)
			return wl_fail(e, r, r == -E2BIG ? WL_ERR_TOO_LONG : WL_ERR_INTERNAL,
				       "labels: %s", strerror(-r));
	}
	return 0;
}

int wl_wep_build(const struct wl_endpoint *ep, struct model_resource **ret, struct strbuf *ret_key,
		 struct wl_error *e)
{
	_cleanup_(model_resource_freep) struct model_resource *w = calloc(1, sizeof(*w));
	_cleanup_strbuf_ struct strbuf val;
	struct model_workload_endpoint *s;
	char q[96];
	int r;

	strbuf_init(&val);
	if (!w)
		return wl_fail(e, -ENOMEM, WL_ERR_INTERNAL, "out of memory");
	r = wl_check_namespace("namespace", ep->namespace, e);
	if (r >= 0)
		r = wl_check_subdomain("node name", ep->node, e);
	if (r >= 0 && ep->pod)
		r = wl_check_subdomain("pod name", ep->pod, e);
	if (r < 0)
		return r;
	if (ep->n_addrs > MODEL_MAX_IP_NETWORKS)
		return wl_fail(e, -E2BIG, WL_ERR_TOO_LONG, "more than %d addresses",
			       MODEL_MAX_IP_NETWORKS);
	if (ep->n_ports > MODEL_MAX_NAMED_PORTS)
		return wl_fail(e, -E2BIG, WL_ERR_TOO_LONG, "ports: more than %d",
			       MODEL_MAX_NAMED_PORTS);
	for (size_t i = 0; i < ep->n_ports; i++) {
		r = wl_check_port_name("ports", ep->ports[i].name, e);
		if (r < 0)
			return r;
		for (size_t j = 0; j < i; j++)
			if (strcmp(ep->ports[i].name, ep->ports[j].name) == 0)
				return wl_fail(e, -EINVAL, WL_ERR_INVALID,
					       "ports: \"%s\" is listed twice",
					       wl_quote(ep->ports[i].name, q, sizeof(q)));
	}

	w->kind = MODEL_KIND_WORKLOAD_ENDPOINT;
	r = wl_wep_name(ep->node, ep->orchestrator, ep->workload_id, ep->endpoint, &w->meta.name,
			e);
	if (r < 0)
		return r;
	s = &w->wep;
	w->meta.namespace = strdup(ep->namespace);
	s->orchestrator = strdup(ep->orchestrator);
	s->node = strdup(ep->node);
	s->workload = xstrdup0(ep->workload);
	s->container_id = xstrdup0(ep->container_id);
	s->pod = xstrdup0(ep->pod);
	s->endpoint = xstrdup0(ep->endpoint);
	s->interface_name = xstrdup0(ep->interface_name);
	s->mac = xstrdup0(ep->mac);
	s->service_account_name = xstrdup0(ep->service_account);
	if (!w->meta.namespace || !s->orchestrator || !s->node || (ep->workload && !s->workload) ||
	    (ep->container_id && !s->container_id) || (ep->pod && !s->pod) ||
	    (ep->endpoint && !s->endpoint) || (ep->interface_name && !s->interface_name) ||
	    (ep->mac && !s->mac) || (ep->service_account && !s->service_account_name))
		return wl_fail(e, -ENOMEM, WL_ERR_INTERNAL, "out of memory");
	if (ep->n_addrs) {
		s->ip_networks = calloc(ep->n_addrs, sizeof(*s->ip_networks));
		if (!s->ip_networks)
			return wl_fail(e, -ENOMEM, WL_ERR_INTERNAL, "out of memory");
		for (size_t i = 0; i < ep->n_addrs; i++)
			s->ip_networks[i] = ip_prefix_host(&ep->addrs[i]);
		s->n_ip_networks = ep->n_addrs;
	}
	if (ep->n_ports) {
		s->ports = calloc(ep->n_ports, sizeof(*s->ports));
		if (!s->ports)
			return wl_fail(e, -ENOMEM, WL_ERR_INTERNAL, "out of memory");
		for (size_t i = 0; i < ep->n_ports; i++) {
			s->ports[i] = ep->ports[i];
			s->ports[i].name = strdup(ep->ports[i].name);
			s->n_ports++;
			if (!s->ports[i].name)
				return wl_fail(e, -ENOMEM, WL_ERR_INTERNAL, "out of memory");
		}
	}
	r = wep_labels(ep, &w->meta.labels, e);
	if (r < 0)
		return r;
	r = round_trip(w, &val, e);
	if (r < 0)
		return r;
	if (ret_key) {
		r = model_key(w->kind, w->meta.namespace, w->meta.name, ret_key);
		if (r < 0)
			return wl_fail(e, r, WL_ERR_INTERNAL, "WorkloadEndpoint key: %s",
				       strerror(-r));
	}
	*ret = TAKE_PTR(w);
	return 0;
}

int wl_wep_write(struct ds_client *ds, const struct wl_endpoint *ep, struct wl_error *e)
{
	_cleanup_(model_resource_freep) struct model_resource *w = NULL;
	_cleanup_strbuf_ struct strbuf key, val;
	int r;

	strbuf_init(&key);
	strbuf_init(&val);
	r = wl_wep_build(ep, &w, &key, e);
	if (r < 0)
		return r;
	r = model_encode_json(w, &val);
	if (r < 0)
		return wl_fail(e, r, WL_ERR_INTERNAL, "out of memory");
	r = ds_put(ds, strbuf_cstr(&key), strbuf_cstr(&val), val.len, 0, NULL);
	if (r < 0) {
		log_error_errno(r, "write %s: %m", strbuf_cstr(&key));
		return wl_datastore_error(e, r, "WorkloadEndpoint write");
	}
	log_info("wrote %s", strbuf_cstr(&key));
	return 0;
}

int wl_wep_read(struct ds_client *ds, const char *namespace, const char *name,
		struct model_resource **ret, int64_t *ret_rev, struct wl_error *e)
{
	_cleanup_strbuf_ struct strbuf key;
	struct parse_err perr = {};
	struct ds_kv kv = {};
	int r;

	strbuf_init(&key);
	r = model_key(MODEL_KIND_WORKLOAD_ENDPOINT, namespace, name, &key);
	if (r < 0)
		return wl_fail(e, r, WL_ERR_INTERNAL, "WorkloadEndpoint key: %s", strerror(-r));
	r = ds_get(ds, strbuf_cstr(&key), &kv, NULL);
	if (r == -ENOENT)
		return wl_fail(e, r, WL_ERR_NOT_FOUND, "WorkloadEndpoint %s missing",
			       strbuf_cstr(&key));
	if (r < 0)
		return wl_datastore_error(e, r, "WorkloadEndpoint read");
	r = model_decode_one(kv.value, kv.value_len, strbuf_cstr(&key), ret, &perr);
	if (r >= 0 && ret_rev)
		*ret_rev = kv.mod_revision;
	ds_kv_done(&kv);
	if (r == -ENOMEM)
		return wl_fail(e, r, WL_ERR_INTERNAL, "out of memory");
	if (r < 0)
		return wl_fail(e, -EPROTO, WL_ERR_DS_DATA,
			       "invalid data in the datastore: %s: %s: %s", strbuf_cstr(&key),
			       perr.field, perr.msg);
	return 0;
}

int wl_wep_update(struct ds_client *ds, const struct model_resource *w, int64_t rev,
		  struct wl_error *e)
{
	_cleanup_strbuf_ struct strbuf key, val;
	int r;

	strbuf_init(&key);
	strbuf_init(&val);
	r = round_trip(w, &val, e);
	if (r < 0)
		return r;
	r = model_key(w->kind, w->meta.namespace, w->meta.name, &key);
	if (r < 0)
		return wl_fail(e, r, WL_ERR_INTERNAL, "WorkloadEndpoint key: %s", strerror(-r));
	r = ds_update(ds, strbuf_cstr(&key), strbuf_cstr(&val), val.len, rev, NULL);
	if (r == -ESTALE)
		return r;
	if (r < 0)
		return wl_datastore_error(e, r, "WorkloadEndpoint update");
	return 0;
}

int wl_wep_delete(struct ds_client *ds, const char *namespace, const char *name, bool *ret_deleted,
		  struct wl_error *e)
{
	_cleanup_strbuf_ struct strbuf key;
	int64_t deleted = 0;
	int r;

	strbuf_init(&key);
	r = model_key(MODEL_KIND_WORKLOAD_ENDPOINT, namespace, name, &key);
	if (r < 0)
		return wl_fail(e, r, WL_ERR_INTERNAL, "WorkloadEndpoint key: %s", strerror(-r));
	r = ds_delete(ds, strbuf_cstr(&key), &deleted);
	if (r < 0) {
		log_error_errno(r, "delete %s: %m", strbuf_cstr(&key));
		return wl_datastore_error(e, r, "WorkloadEndpoint delete");
	}
	if (deleted)
		log_info("deleted %s", strbuf_cstr(&key));
	if (ret_deleted)
		*ret_deleted = deleted > 0;
	return 0;
}

int wl_node_exists(struct ds_client *ds, const char *node, struct wl_error *e)
{
	_cleanup_strbuf_ struct strbuf key;
	struct ds_kv kv = {};
	int r;

	strbuf_init(&key);
	r = model_key(MODEL_KIND_NODE, NULL, node, &key);
	if (r < 0)
		return wl_fail(e, r, WL_ERR_INTERNAL, "Node key: %s", strerror(-r));
	r = ds_get(ds, strbuf_cstr(&key), &kv, NULL);
	if (r == -ENOENT)
		return wl_fail(e, r, WL_ERR_NOT_FOUND,
			       "node \"%s\" has no Node resource: start tabby-felix on this host "
			       "or set the node name (nodename, nodename_file, TABBY_NODENAME) to "
			       "the one felix uses",
			       node);
	if (r < 0)
		return wl_datastore_error(e, r, "Node read");
	ds_kv_done(&kv);
	return 0;
}
