/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Shared decoding helpers (model/model-internal.h): typed scalar access with Calico's strict
 * rules, and errors carrying the node's line, column and dotted field path.
 */
#include <errno.h>
#include <json-c/json.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/model-internal.h"
#include "model/model.h"

void mdec_pathf(char *buf, size_t size, const char *fmt, ...)
{
	va_list ap;

	/* paths longer than parse_err.field are cut; they only label an error */
	va_start(ap, fmt);
	vsnprintf(buf, size, fmt, ap);
	va_end(ap);
}

/* Append @s to @buf (@*at bytes used of @size), cutting as snprintf() would. */
static void path_put(char *buf, size_t size, size_t *at, const char *s)
{
	size_t n = strlen(s);

	if (*at + 1 >= size)
		return;
	if (n > size - 1 - *at)
		n = size - 1 - *at;
	memcpy(buf + *at, s, n);
	*at += n;
	buf[*at] = '\0';
}

/* "@parent.@key", as mdec_pathf(buf, size, "%s.%s", ...) writes it: every field of every value
 * passes here, and snprintf() was a tenth of decoding a workload endpoint. */
void mdec_join(char *buf, size_t size, const char *parent, const char *key)
{
	size_t at = 0;

	if (!size)
		return;
	buf[0] = '\0';
	path_put(buf, size, &at, parent);
	path_put(buf, size, &at, ".");
	path_put(buf, size, &at, key);
}

int mdec_fail(const struct dctx *c, const struct mnode *at, const char *field, const char *fmt, ...)
{
	char msg[sizeof(c->err->msg)];
	char path[sizeof(c->err->field)];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(path, sizeof(path), "%s%s", field && *field ? c->prefix : "", field ? field : "");
	parse_err_set(c->err, c->file, at ? at->line : 0, at ? at->column : 0, path, "%s", msg);
	/* out of memory while collecting loses this one entry; the input is refused anyway */
	if (c->diag && model_diag_add(c->diag, false, c->err) < 0)
		c->diag->oom = true;
	return -EINVAL;
}

int mdec_warn(const struct dctx *c, const struct mnode *at, const char *field, const char *fmt, ...)
{
	struct parse_err w = {};
	char msg[sizeof(w.msg)];
	char path[sizeof(w.field)];
	va_list ap;

	if (!c->diag)
		return 0;
	const struct mnode *kind = mnode_map_get(c->doc, "kind");
	const struct mnode *name = mnode_map_get(mnode_map_get(c->doc, "metadata"), "name");

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(path, sizeof(path), "%s%s", field && *field ? c->prefix : "", field ? field : "");
	/* the document too: "... (FelixConfiguration default)" */
	parse_err_set(&w, c->file, at ? at->line : 0, at ? at->column : 0, path, "%s (%s %s)", msg,
		      kind && kind->type == MNODE_SCALAR ? kind->text : "?",
		      name && name->type == MNODE_SCALAR ? name->text : "?");
	return model_diag_add(c->diag, true, &w);
}

bool mdec_go_on(const struct dctx *c, int r)
{
	return r == -EINVAL && c->diag;
}

size_t mdec_mark(const struct dctx *c)
{
	return c->diag ? c->diag->n_errors : 0;
}

bool mdec_failed_since(const struct dctx *c, size_t mark)
{
	return c->diag && c->diag->n_errors > mark;
}

void model_diag_done(struct model_diag *d)
{
	if (!d)
		return;
	free(d->errors);
	free(d->warnings);
	*d = (struct model_diag){};
}

int model_diag_add(struct model_diag *d, bool warning, const struct parse_err *e)
{
	struct parse_err **list = warning ? &d->warnings : &d->errors;
	size_t *n = warning ? &d->n_warnings : &d->n_errors;
	struct parse_err *l;

	if (*n && (*list)[*n - 1].line == e->line && (*list)[*n - 1].column == e->column &&
	    strcmp((*list)[*n - 1].field, e->field) == 0 &&
	    strcmp((*list)[*n - 1].msg, e->msg) == 0)
		return 0;
	if (*n >= 10000)
		return 0; /* bounded: a pathological input does not grow this without end */
	l = realloc(*list, (*n + 1) * sizeof(*l));
	if (!l)
		return -ENOMEM;
	*list = l;
	l[(*n)++] = *e;
	return 0;
}

int mdec_fail_required(const struct dctx *c, const struct mnode *at, const char *parent,
		       const char *key)
{
	char field[sizeof(c->err->field)];

	mdec_join(field, sizeof(field), parent, key);
	return mdec_fail(c, at, field, "required");
}

bool mdec_is_null(const struct mnode *n)
{
	return !n || (n->type == MNODE_SCALAR && mnode_scalar_kind(n) == MNODE_NULL);
}

/* A mapping (NULL and null mean an empty one). Also refuses duplicate (unless the tree proved
 * there are none) and too many keys. */
int mdec_want_map(const struct dctx *c, const struct mnode *n, const char *field)
{
	if (mdec_is_null(n))
		return 0;
	if (n->type != MNODE_MAP)
		return mdec_fail(c, n, field, "must be a mapping");
	if (n->n > MODEL_MAX_MAP_FIELDS)
		return mdec_fail(c, n, field, "more than %d fields", MODEL_MAX_MAP_FIELDS);
	for (size_t i = 1; i < n->n && !n->unique_keys; i++)
		for (size_t j = 0; j < i; j++)
			if (strcmp(n->keys[i]->text, n->keys[j]->text) == 0) {
				char f[sizeof(c->err->field)];

				mdec_pathf(f, sizeof(f), "%s%s%s", field, *field ? "." : "",
					   n->keys[i]->text);
				return mdec_fail(c, n->keys[i], f, "duplicate field");
			}
	return 0;
}

int mdec_require_map(const struct dctx *c, const struct mnode *n, const char *field)
{
	int r = mdec_want_map(c, n, field);

	if (r >= 0 && mdec_is_null(n))
		r = mdec_fail(c, n, field, "must be a mapping");
	return r;
}

int mdec_want_seq(const struct dctx *c, const struct mnode *n, const char *field, size_t max)
{
	if (mdec_is_null(n))
		return 0;
	if (n->type != MNODE_SEQ)
		return mdec_fail(c, n, field, "must be a list");
	if (n->n > max)
		return mdec_fail(c, n, field, "more than %zu entries", max);
	return 0;
}

/* Number of entries of a mapping or list that may be null. */
size_t mdec_count(const struct mnode *n)
{
	return mdec_is_null(n) ? 0 : n->n;
}

/* A string scalar, borrowed; *ret stays NULL for null. */
int mdec_get_text(const struct dctx *c, const struct mnode *n, const char *field, const char **ret)
{
	if (mdec_is_null(n))
		return 0;
	if (n->type != MNODE_SCALAR || mnode_scalar_kind(n) != MNODE_STR)
		return mdec_fail(c, n, field, "must be a string");
	if (strlen(n->text) != n->text_len)
		return mdec_fail(c, n, field, "must not contain NUL characters");
	*ret = n->text;
	return 0;
}

int mdec_get_str(const struct dctx *c, const struct mnode *n, const char *field, char **ret)
{
	const char *t = NULL;
	char *s;
	int r = mdec_get_text(c, n, field, &t);

	if (r < 0 || !t)
		return r;
	s = strdup(t);
	if (!s)
		return -ENOMEM;
	free(*ret);
	*ret = s;
	return 0;
}

int mdec_get_name(const struct dctx *c, const struct mnode *n, const char *field, char **ret)
{
	int r = mdec_get_str(c, n, field, ret);

	if (r >= 0 && *ret && !model_name_is_valid(*ret))
		r = mdec_fail(c, n, field, "must be a lower-case RFC 1123 subdomain");
	return r;
}

int mdec_get_bool(const struct dctx *c, const struct mnode *n, const char *field, bool *ret)
{
	if (mdec_is_null(n))
		return 0;
	if (n->type != MNODE_SCALAR || mnode_scalar_kind(n) != MNODE_BOOL)
		return mdec_fail(c, n, field, "must be a boolean (true or false)");
	*ret = n->text[0] == 't' || n->text[0] == 'T';
	return 0;
}

/* A non-negative decimal integer scalar; *ret untouched for null (then returns 0, not 1). */
int mdec_get_uint(const struct dctx *c, const struct mnode *n, const char *field, uint64_t *ret)
{
	uint64_t v = 0;

	if (mdec_is_null(n))
		return 0;
	if (n->type != MNODE_SCALAR || mnode_scalar_kind(n) != MNODE_INT)
		return mdec_fail(c, n, field, "must be an integer");
	const char *s = n->text;

	if (*s == '+')
		s++;
	if (*s == '-')
		return mdec_fail(c, n, field, "must not be negative");
	if (!*s || strspn(s, "0123456789") != strlen(s))
		return mdec_fail(c, n, field, "must be a decimal integer");
	for (; *s; s++) {
		v = v * 10 + (uint64_t)(*s - '0');
		if (v > UINT32_MAX)
			return mdec_fail(c, n, field, "%s is too large", n->text);
	}
	*ret = v;
	return 1;
}

/* Calico numorstring.ASNumber: an integer, or a string holding a number or asdot "A.B". */
int mdec_get_as_number(const struct dctx *c, const struct mnode *n, const char *field,
		       uint32_t *ret)
{
	if (mdec_is_null(n))
		return 0;
	if (n->type != MNODE_SCALAR || mnode_scalar_kind(n) == MNODE_BOOL)
		return mdec_fail(c, n, field, "must be an AS number");
	if (model_parse_as_number(n->text, ret) < 0)
		return mdec_fail(c, n, field,
				 "invalid AS number \"%s\": must be 1..4294967295 or asdot \"A.B\"",
				 n->text);
	return 0;
}

int mdec_unknown(const struct dctx *c, const struct mnode *key, const char *path)
{
	return mdec_fail(c, key, path, "unknown field");
}

/* A CIDR that must be a masked network (IPPool cidr, serviceClusterIPs). */
int mdec_get_network(const struct dctx *c, const struct mnode *n, const char *field,
		     struct ip_prefix *ret)
{
	const char *t = NULL;
	struct ip_prefix p;
	char buf[IP_PREFIX_STRLEN];
	int r = mdec_get_text(c, n, field, &t);

	if (r < 0)
		return r;
	if (!t)
		return mdec_fail(c, n, field, "required");
	if (!strchr(t, '/') || ip_prefix_parse(t, false, &p) < 0)
		return mdec_fail(c, n, field, "invalid CIDR \"%s\"", t);
	if (!ip_prefix_is_masked(&p)) {
		struct ip_prefix m = ip_prefix_mask(p);

		return mdec_fail(c, n, field,
				 "invalid CIDR \"%s\": host bits are set (network is %s)", t,
				 ip_prefix_format(&m, buf));
	}
	*ret = p;
	return 0;
}

int mdec_labels(const struct dctx *c, const struct mnode *m, const char *field,
		struct model_labels *l)
{
	int r = mdec_want_map(c, m, field);

	if (r < 0)
		return r;
	if (mdec_count(m) > MODEL_MAX_LABELS)
		return mdec_fail(c, m, field, "more than %d labels", MODEL_MAX_LABELS);
	for (size_t i = 0; i < mdec_count(m); i++) {
		const char *key = m->keys[i]->text, *value = NULL;
		char f[sizeof(c->err->field)];

		mdec_join(f, sizeof(f), field, key);
		if (!model_label_key_is_valid(key))
			return mdec_fail(
			    c, m->keys[i], f,
			    "invalid label key: must be a qualified name ([DNS subdomain "
			    "\"/\"] name of at most 63 characters of [A-Za-z0-9-_.], "
			    "starting and ending with an alphanumeric)");
		r = mdec_get_text(c, m->values[i], f, &value);
		if (r < 0)
			return r;
		if (!value)
			value = "";
		if (!model_label_value_is_valid(value))
			return mdec_fail(
			    c, m->values[i], f,
			    "invalid label value \"%s\": must be at most 63 characters of "
			    "[A-Za-z0-9-_.], starting and ending with an alphanumeric",
			    value);
		r = model_labels_set(l, key, value);
		if (r < 0)
			return r;
	}
	return 0;
}

int mdec_strv(const struct dctx *c, const struct mnode *v, const char *field, size_t max,
	      char ***ret, size_t *ret_n)
{
	int r = mdec_want_seq(c, v, field, max);

	if (r < 0 || !mdec_count(v))
		return r;
	*ret = calloc(v->n + 1, sizeof(char *));
	if (!*ret)
		return -ENOMEM;
	for (size_t j = 0; j < v->n; j++) {
		char g[sizeof(c->err->field)];

		mdec_pathf(g, sizeof(g), "%s[%zu]", field, j);
		r = mdec_get_str(c, v->values[j], g, &(*ret)[*ret_n]);
		if (r < 0)
			return r;
		if (!(*ret)[*ret_n])
			return mdec_fail(c, v->values[j], g, "must be a string");
		(*ret_n)++;
	}
	return 0;
}

int mdec_get_selector(const struct dctx *c, const struct mnode *v, const char *field, char **ret)
{
	char why[sizeof(c->err->msg)] = "";
	unsigned col = 0;
	int r = mdec_get_str(c, v, field, ret);

	if (r < 0 || !*ret)
		return r;
	if (!(*ret)[strspn(*ret, " \t\r\n")]) {
		/* Calico's default: "" (and a blank selector, which parses as all() with no
		 * restriction) is the same as leaving the selector out */
		free(*ret);
		*ret = NULL;
		return 0;
	}
	r = model_selector_check(*ret, &col, why, sizeof(why));
	if (r == -EINVAL) {
		struct mnode at = *v;

		/* point into the selector when the scalar maps byte for byte onto its line; else
		 * at the scalar, with the column inside the selector in the message */
		if (v->text_offset >= 0 && col > 0) {
			at.column = v->column + (unsigned)v->text_offset + col - 1;
			return mdec_fail(c, &at, field, "invalid selector \"%s\": %s", *ret, why);
		}
		return mdec_fail(c, v, field,
				 "invalid selector \"%s\": %s at column %u of the selector", *ret,
				 why, col);
	}
	return r;
}

/* The core schema's reading of a scalar, as JSON. */
static struct json_object *scalar_json(const struct mnode *v)
{
	switch (mnode_scalar_kind(v)) {
	case MNODE_NULL:
		return NULL;
	case MNODE_BOOL:
		return json_object_new_boolean(v->text[0] == 't' || v->text[0] == 'T');
	case MNODE_INT: {
		char *end = NULL;
		long long n = strtoll(v->text, &end, 0);

		if (end && !*end)
			return json_object_new_int64(n);
		return json_object_new_string(v->text);
	}
	case MNODE_FLOAT: {
		char *end = NULL;
		double d = strtod(v->text, &end);

		if (end && !*end)
			return json_object_new_double(d);
		return json_object_new_string(v->text);
	}
	default:
		return json_object_new_string_len(v->text, (int)v->text_len);
	}
}

/* @v as a json-c value; *ret NULL for null. Return: 0 or -ENOMEM. */
static int node_json(const struct mnode *v, struct json_object **ret)
{
	struct json_object *o;

	*ret = NULL;
	if (!v)
		return 0;
	if (v->type == MNODE_SCALAR) {
		*ret = scalar_json(v);
		return *ret || mdec_is_null(v) ? 0 : -ENOMEM;
	}
	o = v->type == MNODE_MAP ? json_object_new_object() : json_object_new_array();
	if (!o)
		return -ENOMEM;
	for (size_t i = 0; i < v->n; i++) {
		struct json_object *e = NULL;
		int r = node_json(v->values[i], &e);

		if (r >= 0 && v->type == MNODE_MAP)
			r = json_object_object_add(o, v->keys[i]->text, e) < 0 ? -ENOMEM : 0;
		else if (r >= 0)
			r = json_object_array_add(o, e) < 0 ? -ENOMEM : 0;
		if (r < 0) {
			json_object_put(e);
			json_object_put(o);
			return r;
		}
	}
	*ret = o;
	return 0;
}

int mdec_to_json_text(const struct mnode *v, char **ret)
{
	struct json_object *o = NULL;
	int r = node_json(v, &o);
	char *s;

	if (r < 0)
		return r;
	s = strdup(o ? json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
							     JSON_C_TO_STRING_NOSLASHESCAPE)
		     : "null");
	json_object_put(o);
	if (!s)
		return -ENOMEM;
	*ret = s;
	return 0;
}

int mdec_extra(const struct dctx *c, const struct mnode *key, const struct mnode *v,
	       const char *field, char **extra, const char *why)
{
	struct json_object *o = NULL, *e = NULL;
	const char *k = key->text;
	char *s;
	int r;

	if (mdec_is_null(v))
		return 0;
	o = *extra ? json_tokener_parse(*extra) : json_object_new_object();
	if (!o)
		return -ENOMEM;
	if (json_object_object_get_ex(o, k, NULL)) {
		json_object_put(o);
		return mdec_fail(c, key, field, "duplicate field");
	}
	r = node_json(v, &e);
	if (r >= 0 && json_object_object_add(o, k, e) < 0) {
		json_object_put(e);
		r = -ENOMEM;
	}
	s = r >= 0 ? strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
								  JSON_C_TO_STRING_NOSLASHESCAPE))
		   : NULL;
	json_object_put(o);
	if (!s)
		return -ENOMEM;
	free(*extra);
	*extra = s;
	if (why)
		return mdec_warn(c, key, field, "accepted and stored, but %s", why);
	return 0;
}
