/* SPDX-License-Identifier: Apache-2.0 */
/**
 * DOC: CNI protocol plumbing shared by tabby and tabby-ipam
 *
 * A CNI plugin is a short-lived program: the runtime passes the operation in CNI_* variables
 * and the network configuration on stdin, and reads a result or an error JSON from stdout
 * (SPEC.md "Section 2: Execution Protocol"). Everything here is about that protocol; what an
 * attachment is lives in tabby.c and wl-plumb.c.
 */

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <json-c/json.h>

#include "cni/cni.h"
#include "cni/mtu.h"
#include "lib/log.h"
#include "model/model-internal.h"
#include "lib/strbuf.h"

static const char *const version_names[_CNI_VERSION_MAX] = {
    [CNI_VERSION_0_3_0] = "0.3.0",
    [CNI_VERSION_0_3_1] = "0.3.1",
    [CNI_VERSION_0_4_0] = "0.4.0",
    [CNI_VERSION_1_0_0] = "1.0.0",
};

int cni_fail(struct cni_error *e, int r, int code, const char *fmt, ...)
{
	va_list ap;

	if (!e || e->code != 0)
		return r;
	e->code = code;
	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	va_end(ap);
	if (!e->details[0] && r < 0 && r != -EINVAL)
		snprintf(e->details, sizeof(e->details), "%s", strerror(-r));
	return r;
}

void cni_print_json(struct json_object *o)
{
	fputs(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
						    JSON_C_TO_STRING_NOSLASHESCAPE),
	      stdout);
	fputc('\n', stdout);
	fflush(stdout);
}

void cni_error_print(const char *version, const struct cni_error *e)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "cniVersion",
			       json_object_new_string(version ? version : "1.0.0"));
	json_object_object_add(o, "code",
			       json_object_new_int(e->code ? e->code : CNI_ERR_INTERNAL));
	json_object_object_add(o, "msg", json_object_new_string(e->msg[0] ? e->msg : "failed"));
	if (e->details[0])
		json_object_object_add(o, "details", json_object_new_string(e->details));
	cni_print_json(o);
	json_object_put(o);
}

enum cni_version cni_version_parse(const char *s)
{
	for (int i = 0; s && i < _CNI_VERSION_MAX; i++)
		if (strcmp(s, version_names[i]) == 0)
			return i;
	return _CNI_VERSION_INVALID;
}

void cni_version_print(const char *requested)
{
	struct json_object *o = json_object_new_object();
	struct json_object *list = json_object_new_array();

	for (int i = 0; i < _CNI_VERSION_MAX; i++)
		json_object_array_add(list, json_object_new_string(version_names[i]));
	json_object_object_add(o, "cniVersion",
			       json_object_new_string(requested ? requested : "1.0.0"));
	json_object_object_add(o, "supportedVersions", list);
	cni_print_json(o);
	json_object_put(o);
}

void cni_cmd_version(void)
{
	struct cni_error e = {};
	struct cni_conf c = {};
	int r;

	/* an unreadable configuration is still answered, in the default version */
	r = cni_conf_read(STDIN_FILENO, false, &c, &e);
	(void)r;
	cni_version_print(c.cni_version && c.version >= 0 ? c.cni_version : NULL);
	cni_conf_done(&c);
}

void cni_report_failure(const char *cmd, int r, const struct cni_conf *c, struct cni_error *e)
{
	if (e->code == 0)
		cni_fail(e, r, CNI_ERR_INTERNAL, "%s failed: %s", cmd, strerror(-r));
	log_error("%s: code %d: %s%s%s", cmd, e->code, e->msg, e->details[0] ? ": " : "",
		  e->details);
	cni_error_print(c->cni_version && c->version >= 0 ? c->cni_version : NULL, e);
}

static int read_all(int fd, size_t max, char **ret, size_t *ret_len)
{
	_cleanup_strbuf_ struct strbuf sb;
	char buf[4096];
	ssize_t n;
	int r;

	strbuf_init(&sb);
	for (;;) {
		n = read(fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		if (sb.len + (size_t)n > max)
			return -EFBIG;
		r = strbuf_append(&sb, buf, (size_t)n);
		if (r < 0)
			return r;
	}
	*ret_len = sb.len;
	*ret = sb.len ? strbuf_steal(&sb) : strdup("");
	return *ret ? 0 : -ENOMEM;
}

/* Optional string member: 0 (absent -> NULL), or code 7 naming @field when not a string. */
static int get_string(struct json_object *obj, const char *key, const char *field, const char **ret,
		      struct cni_error *e)
{
	struct json_object *v;

	*ret = NULL;
	if (!obj || !json_object_object_get_ex(obj, key, &v) ||
	    json_object_is_type(v, json_type_null))
		return 0;
	if (!json_object_is_type(v, json_type_string))
		return cni_fail(e, -EINVAL, CNI_ERR_INVALID_CONFIG, "%s: must be a string", field);
	*ret = json_object_get_string(v);
	return 0;
}

int cni_wl_error(struct cni_error *e, int r, const struct wl_error *we, bool from_config,
		 bool retryable)
{
	int code;

	switch (we->kind) {
	case WL_ERR_INVALID:
		code = from_config ? CNI_ERR_INVALID_CONFIG : CNI_ERR_INVALID_ENV;
		break;
	case WL_ERR_TOO_LONG:
		code = CNI_ERR_TOO_LONG;
		break;
	case WL_ERR_DS_UNAVAILABLE:
		code = retryable ? CNI_ERR_TRY_AGAIN : CNI_ERR_DATASTORE;
		break;
	case WL_ERR_DS_DATA:
		code = CNI_ERR_DATASTORE_DATA;
		break;
	case WL_ERR_NOT_FOUND:
		code = CNI_ERR_UNKNOWN_CONTAINER;
		break;
	default:
		code = CNI_ERR_INTERNAL;
		break;
	}
	return cni_fail(e, r, code, "%s", we->msg[0] ? we->msg : strerror(-r));
}

static int parse_label(struct model_labels *labels, const char *key, const char *value,
		       const char *field, struct cni_error *e)
{
	struct wl_error we = {};
	int r;

	/* They become the WorkloadEndpoint's labels, which felix refuses to decode when invalid
	 * (the endpoint would get no route and no policy). */
	r = wl_check_label(field, key, value, &we);
	if (r < 0)
		return cni_wl_error(e, r, &we, true, false);
	r = model_labels_set(labels, key, value);
	if (r == -E2BIG)
		return cni_fail(e, r, CNI_ERR_INVALID_CONFIG, "args.cni.labels: more than %d",
				CNI_MAX_LABELS);
	if (r < 0)
		return cni_fail(e, r, CNI_ERR_INTERNAL, "args.cni.labels: %s", strerror(-r));
	return 0;
}

/* args.cni.labels: a list of {"key","value"} (CONVENTIONS.md); an object {"k":"v"} too. */
static int parse_labels(struct json_object *l, struct model_labels *labels, struct cni_error *e)
{
	char field[64];
	int r;

	if (json_object_is_type(l, json_type_object)) {
		json_object_object_foreach(l, k, v)
		{
			char q[40];

			snprintf(field, sizeof(field), "args.cni.labels.%s",
				 wl_quote(k, q, sizeof(q)));
			if (!json_object_is_type(v, json_type_string))
				return cni_fail(e, -EINVAL, CNI_ERR_INVALID_CONFIG,
						"%s: must be a string", field);
			r = parse_label(labels, k, json_object_get_string(v), field, e);
			if (r < 0)
				return r;
		}
		return 0;
	}
	if (!json_object_is_type(l, json_type_array))
		return cni_fail(e, -EINVAL, CNI_ERR_INVALID_CONFIG,
				"args.cni.labels: must be a list of {\"key\",\"value\"}");
	if (json_object_array_length(l) > CNI_MAX_LABELS)
		return cni_fail(e, -EINVAL, CNI_ERR_INVALID_CONFIG, "args.cni.labels: more than %d",
				CNI_MAX_LABELS);
	for (size_t i = 0; i < json_object_array_length(l); i++) {
		struct json_object *item = json_object_array_get_idx(l, i);
		const char *k, *v;

		snprintf(field, sizeof(field), "args.cni.labels[%zu]", i);
		if (!json_object_is_type(item, json_type_object))
			return cni_fail(e, -EINVAL, CNI_ERR_INVALID_CONFIG, "%s: must be an object",
					field);
		char kf[80], vf[80];
		snprintf(kf, sizeof(kf), "%s.key", field);
		snprintf(vf, sizeof(vf), "%s.value", field);
		if (get_string(item, "key", kf, &k, e) < 0 ||
		    get_string(item, "value", vf, &v, e) < 0)
			return -EINVAL;
		r = parse_label(labels, k, v, field, e);
		if (r < 0)
			return r;
	}
	return 0;
}

/* args.cni.ports: [{"name","protocol","port"}], the WorkloadEndpoint's named ports. */
static int parse_ports(struct json_object *l, struct cni_conf *c, struct cni_error *e)
{
	struct wl_error we = {};
	size_t n;
	int r;

	if (!json_object_is_type(l, json_type_array))
		return cni_fail(
		    e, -EINVAL, CNI_ERR_INVALID_CONFIG,
		    "args.cni.ports: must be a list of {\"name\",\"protocol\",\"port\"}");
	n = json_object_array_length(l);
	if (n > MODEL_MAX_NAMED_PORTS)
		return cni_fail(e, -EINVAL, CNI_ERR_INVALID_CONFIG, "args.cni.ports: more than %d",
				MODEL_MAX_NAMED_PORTS);
	if (n == 0)
		return 0;
	c->ports = calloc(n, sizeof(*c->ports));
	if (!c->ports)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		struct json_object *item = json_object_array_get_idx(l, i), *pv;
		struct model_named_port *p = &c->ports[i];
		char f[64], nf[80], pf[80];
		const char *name, *proto;
		int64_t port;

		snprintf(f, sizeof(f), "args.cni.ports[%zu]", i);
		snprintf(nf, sizeof(nf), "%s.name", f);
		snprintf(pf, sizeof(pf), "%s.protocol", f);
		if (!json_object_is_type(item, json_type_object))
			return cni_fail(e, -EINVAL, CNI_ERR_INVALID_CONFIG, "%s: must be an object",
					f);
		json_object_object_foreach(item, k, v)
		{
			char q[40];

			(void)v;
			if (strcmp(k, "name") != 0 && strcmp(k, "protocol") != 0 &&
			    strcmp(k, "port") != 0)
				return cni_fail(e, -EINVAL, CNI_ERR_INVALID_CONFIG,
						"%s.%s: unknown field", f,
						wl_quote(k, q, sizeof(q)));
		}
		if (get_string(item, "name", nf, &name, e) < 0 ||
		    get_string(item, "protocol", pf, &proto, e) < 0)
			return -EINVAL;
		r = wl_check_port_name(nf, name, &we);
		if (r < 0)
			return cni_wl_error(e, r, &we, true, false);
		for (size_t j = 0; j < i; j++)
			if (strcmp(c->ports[j].name, name) == 0)
				return cni_fail(e, -EINVAL, CNI_ERR_INVALID_CONFIG,
						"%s: port \"%s\" is listed twice", nf, name);
		p->protocol.set = true;
		p->protocol.number = 6;
		if (proto && wl_protocol_parse(proto, &p->protocol.number) < 0) {
			char q[40];

			return cni_fail(e, -EINVAL, CNI_ERR_INVALID_CONFIG,
					"%s: \"%s\" is not TCP, UDP or SCTP", pf,
					wl_quote(proto, q, sizeof(q)));
		}
		if (!json_object_object_get_ex(item, "port", &pv) ||
		    !json_object_is_type(pv, json_type_int))
			return cni_fail(e, -EINVAL, CNI_ERR_INVALID_CONFIG,
					"%s.port: missing or not a number", f);
		port = json_object_get_int64(pv);
		if (port < 1 || port > 65535)
			return cni_fail(e, -EINVAL, CNI_ERR_INVALID_CONFIG,
					"%s.port: %lld is not between 1 and 65535", f,
					(long long)port);
		p->port = (uint16_t)port;
		p->name = strdup(name);
		if (!p->name)
			return -ENOMEM;
		c->n_ports++;
	}
	return 0;
}

/* One address "a.b.c.d", "2001:db8::5", or either with "/len" (the CNI "ips" convention
 * carries a length, which is ignored). */
static int parse_one_ip(const char *s, const char *field, int code, struct ip_addr *ret,
			struct cni_error *e)
{
	struct ip_prefix p;
	char q[64];

	if (!s ||
	    (strchr(s, '/') ? ip_prefix_parse(s, false, &p) < 0 : ip_addr_parse(s, &p.addr) < 0))
		return cni_fail(e, -EINVAL, code, "%s: \"%s\" is not an IP address", field,
				wl_quote(s, q, sizeof(q)));
	*ret = p.addr;
	return 0;
}

static const char *family_name(int family)
{
	return family == AF_INET6 ? "IPv6" : "IPv4";
}

/* Add @a (from @field) to @ips: at most one address per family, and an address of a family
 * already there must be the same one (two sources that agree). Return: 0 or -EINVAL. */
static int ips_add(struct cni_ips *ips, const struct ip_addr *a, const char *field, int code,
		   struct cni_error *e)
{
	bool v6 = a->family == AF_INET6;
	bool *has = v6 ? &ips->has_v6 : &ips->has_v4;
	struct ip_addr *cur = v6 ? &ips->v6 : &ips->v4;
	const char **from = v6 ? &ips->v6_from : &ips->v4_from;
	char b1[IP_ADDR_STRLEN], b2[IP_ADDR_STRLEN];

	if (*has && strcmp(*from, field) == 0)
		return cni_fail(
		    e, -EINVAL, code, "%s: two %s addresses (%s, %s): at most one per family",
		    field, family_name(a->family), ip_addr_format(cur, b1), ip_addr_format(a, b2));
	if (*has && !ip_addr_equal(a, cur))
		return cni_fail(e, -EINVAL, code, "%s: %s disagrees with %s %s", field,
				ip_addr_format(a, b1), *from, ip_addr_format(cur, b2));
	*has = true;
	*cur = *a;
	*from = field;
	return 0;
}

/* runtimeConfig.ips / args.cni.ips: a list of at most one address per family. */
static int parse_ips(struct json_object *l, const char *field, struct cni_conf *c,
		     struct cni_error *e)
{
	struct cni_ips mine = {0};
	size_t n;
	int r;

	if (!json_object_is_type(l, json_type_array))
		return cni_fail(e, -EINVAL, CNI_ERR_INVALID_CONFIG,
				"%s: must be a list of addresses", field);
	n = json_object_array_length(l);
	if (n > 2)
		return cni_fail(e, -EINVAL, CNI_ERR_INVALID_CONFIG,
				"%s: %zu addresses, tabby assigns at most one IPv4 and one IPv6 "
				"address per interface",
				field, n);
	for (size_t i = 0; i < n; i++) {
		struct json_object *v = json_object_array_get_idx(l, i);
		struct ip_addr a;

		if (!json_object_is_type(v, json_type_string))
			return cni_fail(e, -EINVAL, CNI_ERR_INVALID_CONFIG,
					"%s[%zu]: must be a string", field, i);
		r = parse_one_ip(json_object_get_string(v), field, CNI_ERR_INVALID_CONFIG, &a, e);
		if (r >= 0)
			r = ips_add(&mine, &a, field, CNI_ERR_INVALID_CONFIG, e);
		if (r >= 0)
			r = ips_add(&c->ips, &a, field, CNI_ERR_INVALID_CONFIG, e);
		if (r < 0)
			return r;
	}
	return 0;
}

/* args.cni (labels, ports, serviceAccount, ips) and runtimeConfig.ips. */
static int parse_args(struct cni_conf *c, struct cni_error *e)
{
	struct json_object *args, *cni, *rc, *v;
	struct wl_error we = {};
	int r;

	if (json_object_object_get_ex(c->root, "runtimeConfig", &rc) &&
	    json_object_is_type(rc, json_type_object) && json_object_object_get_ex(rc, "ips", &v) &&
	    !json_object_is_type(v, json_type_null)) {
		r = parse_ips(v, "runtimeConfig.ips", c, e);
		if (r < 0)
			return r;
	}
	if (!json_object_object_get_ex(c->root, "args", &args) ||
	    !json_object_is_type(args, json_type_object) ||
	    !json_object_object_get_ex(args, "cni", &cni) ||
	    !json_object_is_type(cni, json_type_object))
		return 0;
	if (json_object_object_get_ex(cni, "labels", &v) &&
	    !json_object_is_type(v, json_type_null)) {
		r = parse_labels(v, &c->labels, e);
		if (r < 0)
			return r;
	}
	if (json_object_object_get_ex(cni, "ports", &v) &&
	    !json_object_is_type(v, json_type_null)) {
		r = parse_ports(v, c, e);
		if (r < 0)
			return r;
	}
	if (json_object_object_get_ex(cni, "ips", &v) && !json_object_is_type(v, json_type_null)) {
		r = parse_ips(v, "args.cni.ips", c, e);
		if (r < 0)
			return r;
	}
	if (get_string(cni, "serviceAccount", "args.cni.serviceAccount", &c->service_account, e) <
	    0)
		return -EINVAL;
	if (c->service_account) {
		r = wl_check_subdomain("args.cni.serviceAccount", c->service_account, &we);
		if (r >= 0 && strlen(c->service_account) > 63)
			r = wl_fail(&we, -ENAMETOOLONG, WL_ERR_TOO_LONG,
				    "args.cni.serviceAccount: argument too long: %zu characters, "
				    "at most 63 (it becomes the label %s)",
				    strlen(c->service_account), WL_LABEL_SERVICE_ACCOUNT);
		if (r < 0)
			return cni_wl_error(e, r, &we, true, false);
	}
	return 0;
}

/* CNI network names: ^[a-zA-Z0-9][a-zA-Z0-9_.\-]*$ (SPEC.md "Network configuration"). */
static bool network_name_valid(const char *s)
{
	if (!isalnum((unsigned char)s[0]))
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && *s != '_' && *s != '.' && *s != '-')
			return false;
	return true;
}

/* ipam.<key>: a list of pool names or CIDRs into @ret (NULL-terminated; NULL when absent or
 * empty). Return: 0, -EINVAL (code 7 naming the field) or -ENOMEM. */
static int parse_pools(struct json_object *ipam, const char *key, const char ***ret,
		       struct cni_error *e)
{
	struct json_object *pools, *v;
	size_t n;

	if (!json_object_object_get_ex(ipam, key, &pools) ||
	    json_object_is_type(pools, json_type_null))
		return 0;
	if (!json_object_is_type(pools, json_type_array))
		return cni_fail(e, -EINVAL, CNI_ERR_INVALID_CONFIG,
				"ipam.%s: must be a list of pool names", key);
	n = json_object_array_length(pools);
	if (n > CNI_MAX_POOLS)
		return cni_fail(e, -EINVAL, CNI_ERR_INVALID_CONFIG, "ipam.%s: more than %d", key,
				CNI_MAX_POOLS);
	if (n == 0)
		return 0;
	*ret = calloc(n + 1, sizeof(**ret));
	if (!*ret)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		v = json_object_array_get_idx(pools, i);
		if (!json_object_is_type(v, json_type_string) || !*json_object_get_string(v))
			return cni_fail(e, -EINVAL, CNI_ERR_INVALID_CONFIG,
					"ipam.%s[%zu]: must be a pool name", key, i);
		(*ret)[i] = json_object_get_string(v);
	}
	return 0;
}

/* ipam.<key> (assign_ipv4, assign_ipv6): Calico takes the strings "true"/"false"; a JSON
 * boolean is accepted too. Absent or null: @ret keeps its default. Return: 0 or -EINVAL. */
static int parse_assign(struct json_object *ipam, const char *key, bool *ret, struct cni_error *e)
{
	struct json_object *v;
	const char *s;
	char q[64];

	if (!json_object_object_get_ex(ipam, key, &v) || json_object_is_type(v, json_type_null))
		return 0;
	if (json_object_is_type(v, json_type_boolean)) {
		*ret = json_object_get_boolean(v);
		return 0;
	}
	s = json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
	if (s && strcmp(s, "true") == 0)
		*ret = true;
	else if (s && strcmp(s, "false") == 0)
		*ret = false;
	else
		return cni_fail(e, -EINVAL, CNI_ERR_INVALID_CONFIG,
				"ipam.%s: must be \"true\" or \"false\", got %s", key,
				s ? wl_quote(s, q, sizeof(q)) : json_object_to_json_string(v));
	return 0;
}

static int parse_conf(struct cni_conf *c, bool need_ipam, struct cni_error *e)
{
	struct json_tokener *tok;
	struct json_object *ipam = NULL, *v;
	enum json_tokener_error jerr;
	int r;

	c->assign_ipv4 = true; /* Calico's defaults */
	c->assign_ipv6 = false;
	tok = json_tokener_new();
	if (!tok)
		return -ENOMEM;
	c->root = json_tokener_parse_ex(tok, c->raw, (int)c->raw_len);
	jerr = json_tokener_get_error(tok);
	if (!c->root || jerr != json_tokener_success ||
	    json_tokener_get_parse_end(tok) < c->raw_len) {
		/* trailing whitespace after the object is fine */
		size_t end = json_tokener_get_parse_end(tok);
		bool trailing_ok = c->root && jerr == json_tokener_success;

		for (size_t i = end; trailing_ok && i < c->raw_len; i++)
			if (!isspace((unsigned char)c->raw[i]))
				trailing_ok = false;
		if (!trailing_ok) {
			r = cni_fail(
			    e, -EINVAL, CNI_ERR_DECODE,
			    "network config: invalid JSON at byte %zu: %s", end,
			    c->root ? "trailing data"
				    : json_tokener_error_desc(jerr == json_tokener_continue
								  ? json_tokener_error_parse_eof
								  : jerr));
			json_tokener_free(tok);
			return r;
		}
	}
	json_tokener_free(tok);
	if (!json_object_is_type(c->root, json_type_object))
		return cni_fail(e, -EINVAL, CNI_ERR_DECODE, "network config: not a JSON object");

	if (get_string(c->root, "cniVersion", "cniVersion", &c->cni_version, e) < 0)
		return -EINVAL;
	if (!c->cni_version)
		return cni_fail(e, -EINVAL, CNI_ERR_INVALID_CONFIG, "cniVersion: missing");
	c->version = cni_version_parse(c->cni_version);
	if (c->version < 0) {
		cni_fail(e, -EINVAL, CNI_ERR_INCOMPATIBLE_VERSION,
			 "cniVersion: %s is not supported", c->cni_version);
		snprintf(e->details, sizeof(e->details), "supported: 0.3.0, 0.3.1, 0.4.0, 1.0.0");
		return -EINVAL;
	}
	if (get_string(c->root, "name", "name", &c->name, e) < 0 ||
	    get_string(c->root, "type", "type", &c->type, e) < 0 ||
	    get_string(c->root, "nodename", "nodename", &c->nodename, e) < 0 ||
	    get_string(c->root, "nodename_file", "nodename_file", &c->nodename_file, e) < 0 ||
	    get_string(c->root, "datastore_endpoints", "datastore_endpoints", &c->endpoints, e) <
		0 ||
	    get_string(c->root, "etcd_ca_cert_file", "etcd_ca_cert_file", &c->ca_file, e) < 0 ||
	    get_string(c->root, "etcd_cert_file", "etcd_cert_file", &c->cert_file, e) < 0 ||
	    get_string(c->root, "etcd_key_file", "etcd_key_file", &c->key_file, e) < 0 ||
	    get_string(c->root, "log_level", "log_level", &c->log_level, e) < 0)
		return -EINVAL;
	if (!c->endpoints &&
	    get_string(c->root, "etcd_endpoints", "etcd_endpoints", &c->endpoints, e) < 0)
		return -EINVAL;
	if (!c->name || !*c->name)
		return cni_fail(e, -EINVAL, CNI_ERR_INVALID_CONFIG, "name: missing");
	if (!network_name_valid(c->name)) {
		char q[96];

		return cni_fail(e, -EINVAL, CNI_ERR_INVALID_CONFIG,
				"name: \"%s\" has characters other than [A-Za-z0-9_.-] or does not "
				"start with a letter or digit",
				wl_quote(c->name, q, sizeof(q)));
	}
	if (!c->type || !*c->type)
		return cni_fail(e, -EINVAL, CNI_ERR_INVALID_CONFIG, "type: missing");
	if (c->log_level && log_parse_level(c->log_level) < 0)
		return cni_fail(e, -EINVAL, CNI_ERR_INVALID_CONFIG,
				"log_level: \"%s\" is not one of error, warning, info, debug",
				c->log_level);

	if (json_object_object_get_ex(c->root, "mtu", &v) &&
	    !json_object_is_type(v, json_type_null)) {
		int64_t mtu = json_object_is_type(v, json_type_int) ? json_object_get_int64(v) : -1;

		/* checked here, before ADD creates anything */
		if (!cni_mtu_is_valid(mtu)) {
			char q[40];

			return cni_fail(
			    e, -EINVAL, CNI_ERR_INVALID_CONFIG,
			    "mtu: %s is not an integer between %d and %d",
			    wl_quote(json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN), q,
				     sizeof(q)),
			    CNI_MTU_MIN, CNI_MTU_MAX);
		}
		c->mtu = (unsigned)mtu;
	}

	if (json_object_object_get_ex(c->root, "ipam", &ipam) &&
	    !json_object_is_type(ipam, json_type_null)) {
		if (!json_object_is_type(ipam, json_type_object))
			return cni_fail(e, -EINVAL, CNI_ERR_INVALID_CONFIG,
					"ipam: must be an object");
		if (get_string(ipam, "type", "ipam.type", &c->ipam_type, e) < 0)
			return -EINVAL;
		r = parse_pools(ipam, "ipv4_pools", &c->ipv4_pools, e);
		if (r >= 0)
			r = parse_pools(ipam, "ipv6_pools", &c->ipv6_pools, e);
		if (r >= 0)
			r = parse_assign(ipam, "assign_ipv4", &c->assign_ipv4, e);
		if (r >= 0)
			r = parse_assign(ipam, "assign_ipv6", &c->assign_ipv6, e);
		if (r < 0)
			return r;
		if (!c->assign_ipv4 && !c->assign_ipv6)
			return cni_fail(
			    e, -EINVAL, CNI_ERR_INVALID_CONFIG,
			    "ipam.assign_ipv4, ipam.assign_ipv6: both are false, at least "
			    "one family must be assigned");
	} else {
		ipam = NULL;
	}
	if (need_ipam && !ipam)
		return cni_fail(e, -EINVAL, CNI_ERR_INVALID_CONFIG, "ipam: missing");
	if (need_ipam && (!c->ipam_type || !*c->ipam_type))
		return cni_fail(e, -EINVAL, CNI_ERR_INVALID_CONFIG, "ipam.type: missing");
	if (c->ipam_type && (strchr(c->ipam_type, '/') || strcmp(c->ipam_type, ".") == 0 ||
			     strcmp(c->ipam_type, "..") == 0))
		return cni_fail(e, -EINVAL, CNI_ERR_INVALID_CONFIG,
				"ipam.type: \"%s\" is not a plugin name", c->ipam_type);

	if (json_object_object_get_ex(c->root, "prevResult", &v) &&
	    json_object_is_type(v, json_type_object))
		c->prev_result = v;

	return parse_args(c, e);
}

int cni_conf_read(int fd, bool need_ipam, struct cni_conf *ret, struct cni_error *e)
{
	struct cni_conf c = {};
	int r;

	r = read_all(fd, CNI_MAX_CONFIG_BYTES, &c.raw, &c.raw_len);
	if (r == -EFBIG)
		return cni_fail(e, r, CNI_ERR_INVALID_CONFIG,
				"network config: larger than %d bytes", CNI_MAX_CONFIG_BYTES);
	if (r < 0)
		return cni_fail(e, r, CNI_ERR_IO, "network config: cannot read stdin");
	r = parse_conf(&c, need_ipam, e);
	if (r < 0) {
		if (r != -EINVAL)
			cni_fail(e, r, CNI_ERR_INTERNAL, "network config: %s", strerror(-r));
		/* keep cniVersion for the error JSON */
		*ret = c;
		return r;
	}
	*ret = c;
	return 0;
}

void cni_conf_done(struct cni_conf *c)
{
	if (!c)
		return;
	model_labels_done(&c->labels);
	for (size_t i = 0; i < c->n_ports; i++)
		free(c->ports[i].name);
	free(c->ports);
	free(c->ipv4_pools);
	free(c->ipv6_pools);
	json_object_put(c->root);
	free(c->raw);
	*c = (struct cni_conf){};
}

/* The first line of @path into @buf. Return: 0, -ENOENT, -ENODATA (empty) or -errno. */
static int read_first_line(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "re");

	if (!f)
		return -errno;
	if (!fgets(buf, (int)len, f))
		buf[0] = '\0';
	fclose(f);
	buf[strcspn(buf, "\r\n")] = '\0';
	return buf[0] ? 0 : -ENODATA;
}

int cni_conf_nodename(const struct cni_conf *c, char **ret, struct cni_error *e)
{
	char buf[256] = "";
	const char *s = c->nodename, *from = "nodename";
	struct wl_error we = {};
	char *dup;
	int r;

	if (!s && c->nodename_file) {
		r = read_first_line(c->nodename_file, buf, sizeof(buf));
		if (r == -ENODATA)
			return cni_fail(e, -EINVAL, CNI_ERR_INVALID_CONFIG,
					"nodename_file: %s is empty", c->nodename_file);
		if (r < 0)
			return cni_fail(e, r, CNI_ERR_INVALID_CONFIG,
					"nodename_file: cannot read %s", c->nodename_file);
		s = buf;
		from = "nodename_file";
	}
	if (!s || !*s) {
		s = getenv("TABBY_NODENAME");
		from = "TABBY_NODENAME";
	}
	if ((!s || !*s) && read_first_line(CNI_NODENAME_FILE, buf, sizeof(buf)) >= 0) {
		/* written by tabby-felix at start (its nodenameFile), as calico-node does */
		s = buf;
		from = CNI_NODENAME_FILE;
	}
	if (!s || !*s) {
		if (gethostname(buf, sizeof(buf) - 1) < 0)
			return cni_fail(e, -errno, CNI_ERR_INTERNAL, "gethostname failed");
		buf[sizeof(buf) - 1] = '\0';
		s = buf;
		from = "the host name";
	}
	/* it becomes part of IPAM keys and of every WorkloadEndpoint name */
	r = wl_check_subdomain(from, s, &we);
	if (r < 0)
		return cni_fail(e, r,
				r == -ENAMETOOLONG ? CNI_ERR_TOO_LONG : CNI_ERR_INVALID_CONFIG,
				"node name from %s", we.msg);
	dup = strdup(s);
	if (!dup)
		return -ENOMEM;
	*ret = dup;
	return 0;
}

int cni_conf_datastore(const struct cni_conf *c, struct ds_client **ret, struct cni_error *e)
{
	struct ds_config cfg = {};
	int r;

	ds_config_from_env(&cfg);
	if (c->endpoints && *c->endpoints)
		cfg.endpoints = c->endpoints;
	if (c->ca_file)
		cfg.ca_file = c->ca_file;
	if (c->cert_file)
		cfg.cert_file = c->cert_file;
	if (c->key_file)
		cfg.key_file = c->key_file;
	if (!cfg.endpoints || !*cfg.endpoints)
		return cni_fail(
		    e, -EINVAL, CNI_ERR_INVALID_CONFIG,
		    "datastore_endpoints: missing (and TABBY_DATASTORE_ENDPOINTS unset)");
	r = ds_client_new(&cfg, ret);
	if (r == -EINVAL)
		return cni_fail(e, r, CNI_ERR_INVALID_CONFIG, "datastore_endpoints: invalid \"%s\"",
				cfg.endpoints);
	if (r < 0)
		return cni_fail(e, r, CNI_ERR_INTERNAL, "datastore client: %s", strerror(-r));
	return 0;
}

static bool container_id_valid(const char *s)
{
	if (!s || !isalnum((unsigned char)s[0]))
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && *s != '_' && *s != '.' && *s != '-')
			return false;
	return true;
}

static bool ifname_valid(const char *s)
{
	size_t n = s ? strlen(s) : 0;

	if (n == 0 || n > 15 || strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
		return false;
	for (; *s; s++)
		if (*s == '/' || *s == ':' || isspace((unsigned char)*s))
			return false;
	return true;
}

static bool truthy(const char *v)
{
	return v && (strcmp(v, "1") == 0 || strcasecmp(v, "true") == 0);
}

int cni_env_read(struct cni_env *ret, bool need_netns, bool need_ifname, struct cni_error *e)
{
	struct cni_env env = {.pod_namespace = "default"};
	const char *args = getenv("CNI_ARGS");
	const char *unknown = NULL;
	bool ignore_unknown = false;
	struct wl_error we = {};
	char *save = NULL;
	int r;

	env.command = getenv("CNI_COMMAND");
	env.container_id = getenv("CNI_CONTAINERID");
	env.netns = getenv("CNI_NETNS");
	env.ifname = getenv("CNI_IFNAME");
	env.path = getenv("CNI_PATH");

	if (!env.container_id || !*env.container_id)
		return cni_fail(e, -EINVAL, CNI_ERR_INVALID_ENV, "CNI_CONTAINERID: missing");
	if (!container_id_valid(env.container_id)) {
		char q[96];

		return cni_fail(e, -EINVAL, CNI_ERR_INVALID_ENV,
				"CNI_CONTAINERID: \"%s\" has characters other than [A-Za-z0-9_.-]",
				wl_quote(env.container_id, q, sizeof(q)));
	}
	if (need_netns && (!env.netns || !*env.netns))
		return cni_fail(e, -EINVAL, CNI_ERR_INVALID_ENV, "CNI_NETNS: missing");
	if (need_ifname && (!env.ifname || !*env.ifname))
		return cni_fail(e, -EINVAL, CNI_ERR_INVALID_ENV, "CNI_IFNAME: missing");
	if (env.ifname && *env.ifname && !ifname_valid(env.ifname)) {
		char q[96];

		return cni_fail(e, -EINVAL, CNI_ERR_INVALID_ENV,
				"CNI_IFNAME: \"%s\" is not a valid interface name",
				wl_quote(env.ifname, q, sizeof(q)));
	}
	if (!env.path || !*env.path)
		return cni_fail(e, -EINVAL, CNI_ERR_INVALID_ENV, "CNI_PATH: missing");

	if (args && *args) {
		env.args_copy = strdup(args);
		if (!env.args_copy)
			return -ENOMEM;
		for (char *kv = strtok_r(env.args_copy, ";", &save); kv;
		     kv = strtok_r(NULL, ";", &save)) {
			char *eq = strchr(kv, '=');
			char q[96];

			if (!eq || eq == kv) {
				/* quote before freeing: kv points into args_copy */
				cni_fail(e, -EINVAL, CNI_ERR_INVALID_ENV,
					 "CNI_ARGS: \"%s\" is not KEY=VALUE",
					 wl_quote(kv, q, sizeof(q)));
				free(env.args_copy);
				return -EINVAL;
			}
			*eq = '\0';
			if (strcmp(kv, "IgnoreUnknown") == 0)
				ignore_unknown = truthy(eq + 1);
			else if (strcmp(kv, "K8S_POD_NAMESPACE") == 0)
				env.pod_namespace = *(eq + 1) ? eq + 1 : "default";
			else if (strcmp(kv, "K8S_POD_NAME") == 0)
				env.pod_name = *(eq + 1) ? eq + 1 : NULL;
			else if (strcmp(kv, "IP") == 0)
				env.ip = *(eq + 1) ? eq + 1 : NULL;
			else if (strcmp(kv, "K8S_POD_INFRA_CONTAINER_ID") != 0 &&
				 strcmp(kv, "K8S_POD_UID") != 0 && !unknown)
				unknown = kv;
		}
		if (unknown && !ignore_unknown) {
			char q[96];

			cni_fail(e, -EINVAL, CNI_ERR_INVALID_ENV,
				 "CNI_ARGS: unknown key %s (set IgnoreUnknown=1 to ignore)",
				 wl_quote(unknown, q, sizeof(q)));
			free(env.args_copy);
			return -EINVAL;
		}
		/* both become datastore keys and names (WorkloadEndpoint, IPAM attributes) */
		r = wl_check_namespace("CNI_ARGS K8S_POD_NAMESPACE", env.pod_namespace, &we);
		if (r >= 0 && env.pod_name)
			r = wl_check_subdomain("CNI_ARGS K8S_POD_NAME", env.pod_name, &we);
		if (r < 0) {
			cni_wl_error(e, r, &we, false, false);
			free(env.args_copy);
			return r;
		}
	}
	*ret = env;
	return 0;
}

void cni_env_done(struct cni_env *env)
{
	if (!env)
		return;
	free(env->args_copy);
	env->args_copy = NULL;
}

int cni_workload_id(const struct cni_env *env, char **ret)
{
	char *s;

	if (asprintf(&s, "%s.%s", env->pod_namespace,
		     env->pod_name ? env->pod_name : env->container_id) < 0)
		return -ENOMEM;
	*ret = s;
	return 0;
}

int cni_handle_id(const struct cni_conf *c, const struct cni_env *env, char **ret,
		  struct cni_error *e)
{
	char *s;

	if (strlen(c->name) + 1 + strlen(env->container_id) > CNI_MAX_HANDLE)
		return cni_fail(e, -ENAMETOOLONG, CNI_ERR_TOO_LONG,
				"CNI_CONTAINERID: argument too long: the IPAM handle "
				"<name>.<CNI_CONTAINERID> would be %zu bytes, at most %d",
				strlen(c->name) + 1 + strlen(env->container_id), CNI_MAX_HANDLE);
	if (asprintf(&s, "%s.%s", c->name, env->container_id) < 0)
		return -ENOMEM;
	*ret = s;
	return 0;
}

int cni_pinned_ips(const struct cni_conf *c, const struct cni_env *env, struct cni_ips *ret,
		   struct cni_error *e)
{
	struct cni_ips ips = c->ips;
	int r;

	if (env->ip) {
		_cleanup_free_ char *copy = strdup(env->ip);
		struct cni_ips mine = {0};
		char *save = NULL;

		if (!copy)
			return -ENOMEM;
		for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
			struct ip_addr a;

			r = parse_one_ip(t, "CNI_ARGS IP", CNI_ERR_INVALID_ENV, &a, e);
			if (r >= 0)
				r = ips_add(&mine, &a, "CNI_ARGS IP", CNI_ERR_INVALID_ENV, e);
			if (r >= 0)
				r = ips_add(&ips, &a, "CNI_ARGS IP", CNI_ERR_INVALID_ENV, e);
			if (r < 0)
				return r;
		}
	}
	if (ips.has_v4 && !c->assign_ipv4) {
		char b[IP_ADDR_STRLEN];

		return cni_fail(e, -EINVAL,
				strcmp(ips.v4_from, "CNI_ARGS IP") == 0 ? CNI_ERR_INVALID_ENV
									: CNI_ERR_INVALID_CONFIG,
				"%s: %s is an IPv4 address but ipam.assign_ipv4 is false",
				ips.v4_from, ip_addr_format(&ips.v4, b));
	}
	if (ips.has_v6 && !c->assign_ipv6) {
		char b[IP_ADDR_STRLEN];

		return cni_fail(e, -EINVAL,
				strcmp(ips.v6_from, "CNI_ARGS IP") == 0 ? CNI_ERR_INVALID_ENV
									: CNI_ERR_INVALID_CONFIG,
				"%s: %s is an IPv6 address but ipam.assign_ipv6 is false",
				ips.v6_from, ip_addr_format(&ips.v6, b));
	}
	*ret = ips;
	return ips.has_v4 + ips.has_v6;
}

int cni_result_ips(struct json_object *res, const char *what, struct cni_ips *ret,
		   struct cni_error *e)
{
	struct json_object *ips, *v;
	struct cni_ips out = {0};

	if (!res || !json_object_object_get_ex(res, "ips", &ips) ||
	    !json_object_is_type(ips, json_type_array))
		return cni_fail(e, -EINVAL, CNI_ERR_DECODE, "%s.ips: missing", what);
	for (size_t i = 0; i < json_object_array_length(ips); i++) {
		struct json_object *ip = json_object_array_get_idx(ips, i);
		struct ip_prefix p;
		bool v6;

		if (!json_object_is_type(ip, json_type_object) ||
		    !json_object_object_get_ex(ip, "address", &v) ||
		    !json_object_is_type(v, json_type_string))
			return cni_fail(e, -EINVAL, CNI_ERR_DECODE, "%s.ips[%zu].address: missing",
					what, i);
		if (ip_prefix_parse(json_object_get_string(v), false, &p) < 0)
			return cni_fail(e, -EINVAL, CNI_ERR_DECODE,
					"%s.ips[%zu].address: invalid \"%s\"", what, i,
					json_object_get_string(v));
		v6 = p.addr.family == AF_INET6;
		if (v6 ? out.has_v6 : out.has_v4)
			return cni_fail(e, -EINVAL, CNI_ERR_DECODE,
					"%s.ips[%zu].address: a second %s address", what, i,
					family_name(p.addr.family));
		if (v6) {
			out.has_v6 = true;
			out.v6 = p.addr;
		} else {
			out.has_v4 = true;
			out.v4 = p.addr;
		}
	}
	*ret = out;
	return 0;
}

int cni_datastore_error(struct cni_error *e, int r, bool retryable, const char *what)
{
	switch (r) {
	case -ENOSPC:
		return cni_fail(e, r, CNI_ERR_POOL_EXHAUSTED, "%s: IP pool exhausted", what);
	case -ENOENT:
		return cni_fail(e, r, CNI_ERR_NO_POOL, "%s: no usable IP pool", what);
	case -EBUSY:
		return cni_fail(e, r, CNI_ERR_TRY_AGAIN, "%s: datastore contention, try again",
				what);
	case -ENOMEM:
		return cni_fail(e, r, CNI_ERR_INTERNAL, "%s: out of memory", what);
	case -EINVAL:
		return cni_fail(e, r, CNI_ERR_INTERNAL, "%s: invalid argument", what);
	case -EPROTO:
	case -EBADMSG:
		return cni_fail(e, r, CNI_ERR_DATASTORE_DATA, "%s: invalid data in the datastore",
				what);
	case -ENAMETOOLONG:
	case -E2BIG:
	case -EMSGSIZE:
		return cni_fail(e, r, CNI_ERR_TOO_LONG, "%s: argument too long", what);
	default:
		return cni_fail(e, r, retryable ? CNI_ERR_TRY_AGAIN : CNI_ERR_DATASTORE,
				"%s: datastore unavailable", what);
	}
}

/* Look @plugin up in the colon-separated @cni_path. */
static int find_plugin(const char *cni_path, const char *plugin, char **ret)
{
	const char *p = cni_path;

	while (p && *p) {
		size_t n = strcspn(p, ":");
		char *cand;

		if (n > 0) {
			if (asprintf(&cand, "%.*s/%s", (int)n, p, plugin) < 0)
				return -ENOMEM;
			if (access(cand, X_OK) == 0) {
				*ret = cand;
				return 0;
			}
			free(cand);
		}
		p += n;
		if (*p == ':')
			p++;
	}
	return -ENOENT;
}

static int write_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, buf, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

/* Copy a delegated plugin's error JSON into @e (code, msg, details). */
static void take_plugin_error(const char *plugin, struct json_object *o, int status,
			      struct cni_error *e)
{
	struct json_object *v;
	int code = CNI_ERR_INTERNAL;
	const char *msg = NULL, *details = NULL;

	if (e->code != 0)
		return;
	if (o && json_object_is_type(o, json_type_object)) {
		if (json_object_object_get_ex(o, "code", &v) &&
		    json_object_is_type(v, json_type_int))
			code = json_object_get_int(v);
		if (json_object_object_get_ex(o, "msg", &v) &&
		    json_object_is_type(v, json_type_string))
			msg = json_object_get_string(v);
		if (json_object_object_get_ex(o, "details", &v) &&
		    json_object_is_type(v, json_type_string))
			details = json_object_get_string(v);
	}
	e->code = code;
	if (msg)
		snprintf(e->msg, sizeof(e->msg), "%s", msg);
	else
		snprintf(e->msg, sizeof(e->msg), "%s failed (exit status %d) without an error JSON",
			 plugin, status);
	snprintf(e->details, sizeof(e->details), "%s", details ? details : "");
}

int cni_delegate(const char *cni_path, const char *plugin, const char *command,
		 const struct cni_conf *c, struct json_object **ret_result, struct cni_error *e)
{
	_cleanup_free_ char *exe = NULL;
	_cleanup_free_ char *out = NULL;
	int in_pipe[2] = {-1, -1}, out_pipe[2] = {-1, -1};
	struct json_object *o = NULL;
	size_t out_len = 0;
	int r, status;
	pid_t pid;

	r = find_plugin(cni_path, plugin, &exe);
	if (r == -ENOENT)
		return cni_fail(e, r, CNI_ERR_INVALID_CONFIG,
				"ipam.type: plugin \"%s\" not found in CNI_PATH %s", plugin,
				cni_path);
	if (r < 0)
		return r;

	if (pipe2(in_pipe, O_CLOEXEC) < 0 || pipe2(out_pipe, O_CLOEXEC) < 0) {
		r = -errno;
		close_fd(&in_pipe[0]);
		close_fd(&in_pipe[1]);
		return cni_fail(e, r, CNI_ERR_INTERNAL, "%s %s: pipe failed", plugin, command);
	}
	log_debug("delegating %s to %s", command, exe);
	pid = fork();
	if (pid < 0) {
		r = -errno;
		goto out_close;
	}
	if (pid == 0) {
		/* child (the plugins are single-threaded, so setenv() is safe here) */
		if (dup2(in_pipe[0], STDIN_FILENO) < 0 || dup2(out_pipe[1], STDOUT_FILENO) < 0)
			_exit(127);
		setenv("CNI_COMMAND", command, 1);
		execl(exe, plugin, (char *)NULL);
		_exit(127);
	}
	close_fd(&in_pipe[0]);
	close_fd(&out_pipe[1]);
	/* A config far larger than the pipe buffer is fine: plugins read stdin before writing. */
	r = write_all(in_pipe[1], c->raw, c->raw_len);
	close_fd(&in_pipe[1]);
	if (r < 0 && r != -EPIPE)
		log_warn_errno(r, "writing the config to %s: %m", plugin);
	r = read_all(out_pipe[0], CNI_MAX_CONFIG_BYTES, &out, &out_len);
	close_fd(&out_pipe[0]);
	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR)
			return cni_fail(e, -errno, CNI_ERR_INTERNAL, "%s %s: waitpid failed",
					plugin, command);
	}
	if (r < 0)
		return cni_fail(e, r, CNI_ERR_INTERNAL, "%s %s: reading its output failed", plugin,
				command);

	if (out_len > 0)
		o = json_tokener_parse(out);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		int st = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);

		take_plugin_error(plugin, o, st, e);
		log_debug("%s %s failed: code %d: %s", plugin, command, e->code, e->msg);
		json_object_put(o);
		return -EREMOTEIO;
	}
	if (ret_result) {
		if (!o || !json_object_is_type(o, json_type_object)) {
			json_object_put(o);
			return cni_fail(e, -EPROTO, CNI_ERR_DECODE,
					"%s %s: result is not a JSON object", plugin, command);
		}
		*ret_result = o;
		return 0;
	}
	json_object_put(o);
	return 0;

out_close:
	close_fd(&in_pipe[0]);
	close_fd(&in_pipe[1]);
	close_fd(&out_pipe[0]);
	close_fd(&out_pipe[1]);
	return cni_fail(e, r, CNI_ERR_INTERNAL, "%s %s: fork failed", plugin, command);
}
