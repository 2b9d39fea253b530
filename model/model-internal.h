/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * Internals of model/: the small document tree that libyaml's event stream is folded into, so
 * that the decoders can walk mappings by key and report every problem at the line and column of
 * the node that caused it. Used by the model sources and the model unit tests only.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/macro.h"
#include "lib/parse-err.h"

enum mnode_type {
	MNODE_SCALAR,
	MNODE_MAP,
	MNODE_SEQ,
};

struct mnode {
	enum mnode_type type;
	unsigned line;	 /* 1-based */
	unsigned column; /* 1-based */
	/* MNODE_SCALAR */
	char *text;
	size_t text_len;
	bool plain; /* unquoted and untagged, so YAML resolves it (int, bool, null...) */
	/* MNODE_MAP: no two keys are equal (mnode_parse_json() proved it), so mdec_want_map()
	 * skips its check */
	bool unique_keys;
	/* the root of a tree in one allocation (mnode_parse_json()): mnode_free() frees that */
	bool one_block;
	/* columns from @column to text[0] when every byte of @text sits on the node's line in
	 * order (a plain or quoted scalar on one line with no escapes or tag), else -1 */
	int text_offset;
	/* MNODE_MAP: keys[i] (always scalars) -> values[i]; MNODE_SEQ: values[i] */
	struct mnode **keys;
	struct mnode **values;
	size_t n;
};

/* What a YAML 1.2 core-schema resolver makes of a scalar. */
enum mnode_scalar_kind {
	MNODE_STR,
	MNODE_NULL,
	MNODE_BOOL,
	MNODE_INT,
	MNODE_FLOAT,
};

/* The documents of one input, in order. A document may be NULL (empty document). */
struct mnode_stream {
	struct mnode **docs;
	size_t n;
};

/**
 * mnode_parse() - parse YAML (or JSON, which is YAML flow syntax) text into a tree per document.
 * @buf, @len: the text. @file: name for errors.
 * @ret: filled on success; untouched on failure.
 * @err: "invalid YAML: <libyaml's problem>" at the problem's line and column.
 * Return: 0, -EINVAL or -ENOMEM. Aliases and more than 64 levels of nesting are refused.
 */
int mnode_parse(const char *buf, size_t len, const char *file, struct mnode_stream *ret,
		struct parse_err *err) _warn_unused_result_;

/**
 * mnode_parse_json() - the tree mnode_parse() would build for one document of JSON, built by
 * json-c (about four times faster than libyaml), for the texts where json-c and libyaml provably
 * read the same tree (model/json-tree.c lists the conditions: one line of printable ASCII
 * starting with '{', no "\\u" escape, no duplicate key, ...). Every node is on line 1, column 0.
 * The whole tree is one allocation (mnode_free() of the root frees it; its nodes are never freed
 * one by one).
 * @buf, @len: the text.
 * @ret: the document's mapping on success; untouched otherwise.
 * Return: 0, 1 (declined: parse with mnode_parse(), which also reports any error at its
 * position) or -ENOMEM.
 */
int mnode_parse_json(const char *buf, size_t len, struct mnode **ret) _warn_unused_result_;

struct model_resource;

/**
 * model_decode_one_yaml() - model_decode_one() without the JSON fast path: the text is read by
 * libyaml only. The tests and the fuzzer compare the two.
 * @buf, @len: the text. @file: name for errors. @ret: the resource on success, untouched
 * otherwise. @err: the first problem, at its line and column.
 * Return: 0, -EINVAL (also for zero or several documents) or -ENOMEM.
 */
int model_decode_one_yaml(const char *buf, size_t len, const char *file,
			  struct model_resource **ret, struct parse_err *err) _warn_unused_result_;

/** mnode_stream_done() - free every document tree. NULL-safe. */
void mnode_stream_done(struct mnode_stream *s);

/**
 * mnode_new_scalar() - a scalar node holding a copy of @text (@len bytes, NUL added) in the same
 * allocation; line and column 0, not plain. Return: the node or NULL (out of memory).
 */
struct mnode *mnode_new_scalar(const char *text, size_t len);

/** mnode_free() - free one tree. NULL-safe. Return: NULL. */
struct mnode *mnode_free(struct mnode *n);

/** mnode_scalar_kind() - resolve a scalar by the YAML 1.2 core schema (quoted = string). */
enum mnode_scalar_kind mnode_scalar_kind(const struct mnode *n);

/** mnode_map_get() - the value under @key in mapping @map, or NULL. */
const struct mnode *mnode_map_get(const struct mnode *map, const char *key);

/**
 * model_yaml_needs_quotes() - true when @s written as a plain YAML scalar would not read back as
 * the same string (it looks like a number, boolean or null in YAML 1.1 or 1.2, or is empty).
 */
bool model_yaml_needs_quotes(const char *s);

/* model/validate.c */

/* model_name_is_valid(): public, in model/model.h */
/** model_dns_label_is_valid() - a lower-case RFC 1123 label of at most 63 characters. */
bool model_dns_label_is_valid(const char *s);
/* model_label_key_is_valid(), model_label_value_is_valid(): public, in model/model.h */
/**
 * model_parse_as_number() - "64512" or asdot "1.10" (= 1 * 65536 + 10) to 1..4294967295.
 * Return: 0 or -EINVAL.
 */
int model_parse_as_number(const char *s, uint32_t *ret) _warn_unused_result_;
/** model_parse_mac() - "aa:bb:cc:dd:ee:ff" or with '-'; canonical lower-case colon form. */
int model_parse_mac(const char *s, char ret[static 18]) _warn_unused_result_;

/* model/decode-util.c: helpers shared by the per-kind decoders (decode*.c). */

struct model_resource;
struct model_labels;
struct ip_prefix;

#define MODEL_MAX_MAP_FIELDS 512
#define MODEL_MAX_ITEMS 10000

/* Decoding context of one input. */
struct dctx {
	const char *file;
	struct parse_err *err;
	char prefix[32];	 /* "items[3]." inside a List, else "" */
	const struct mnode *doc; /* the resource document being decoded */
	struct model_diag *diag; /* NULL: stop at the first error (model_decode()) */
};

/**
 * mdec_go_on() - after a field's decoder returned @r < 0: true when decoding should go on with
 * the next field (@r is -EINVAL and every error is being collected), false to return @r.
 */
bool mdec_go_on(const struct dctx *c, int r);
/** mdec_mark() - the number of errors collected so far (0 without collection). */
size_t mdec_mark(const struct dctx *c);
/** mdec_failed_since() - errors were collected after @mark: skip the cross-field checks. */
bool mdec_failed_since(const struct dctx *c, size_t mark);
/**
 * mdec_warn() - a warning at @at for @field (only when collecting): the field is accepted and
 * stored but tabby does not act on it yet; @fmt says what happens instead.
 * Return: 0 or -ENOMEM.
 */
int mdec_warn(const struct dctx *c, const struct mnode *at, const char *field, const char *fmt, ...)
    _printf_(4, 5);

/* A per-kind spec decoder: @spec may be NULL or null; "required" errors point at @at. */
typedef int (*mdec_spec_fn)(const struct dctx *c, const struct mnode *spec, const struct mnode *at,
			    struct model_resource *res);

/** mdec_pathf() - format a field path into @buf (cut at @size). */
void mdec_pathf(char *buf, size_t size, const char *fmt, ...) _printf_(3, 4);
/** mdec_join() - "@parent.@key" into @buf of @size bytes, cut as mdec_pathf() cuts. */
void mdec_join(char *buf, size_t size, const char *parent, const char *key);
/**
 * mdec_fail() - fill c->err with the position of @at (0:0 for NULL), the List item prefix plus
 * @field, and the message. Return: -EINVAL.
 */
int mdec_fail(const struct dctx *c, const struct mnode *at, const char *field, const char *fmt, ...)
    _printf_(4, 5);
/** mdec_fail_required() - mdec_fail() "required" for the missing field "@parent.@key" of the
 * mapping @at. Return: -EINVAL. */
int mdec_fail_required(const struct dctx *c, const struct mnode *at, const char *parent,
		       const char *key);
/** mdec_is_null() - absent (NULL) or a YAML null scalar. */
bool mdec_is_null(const struct mnode *n);
/** mdec_want_map() - a mapping or null; refuses duplicate keys and more than
 * MODEL_MAX_MAP_FIELDS keys. Return: 0 or -EINVAL. */
int mdec_want_map(const struct dctx *c, const struct mnode *n, const char *field);
/** mdec_require_map() - as mdec_want_map() but null is refused too ("must be a mapping"). */
int mdec_require_map(const struct dctx *c, const struct mnode *n, const char *field);
/** mdec_want_seq() - a list of at most @max entries, or null. Return: 0 or -EINVAL. */
int mdec_want_seq(const struct dctx *c, const struct mnode *n, const char *field, size_t max);
/** mdec_count() - entries of a mapping or list; 0 for null. */
size_t mdec_count(const struct mnode *n);
/** mdec_get_text() - a string scalar, borrowed; *ret untouched for null. Return: 0 or -EINVAL. */
int mdec_get_text(const struct dctx *c, const struct mnode *n, const char *field, const char **ret);
/** mdec_get_str() - as mdec_get_text() but a heap copy replacing *ret. 0, -EINVAL or -ENOMEM. */
int mdec_get_str(const struct dctx *c, const struct mnode *n, const char *field, char **ret);
/** mdec_get_name() - as mdec_get_str() for a resource or node name: a lower-case RFC 1123
 * subdomain (model_name_is_valid()). Return: 0, -EINVAL or -ENOMEM. */
int mdec_get_name(const struct dctx *c, const struct mnode *n, const char *field, char **ret);
/** mdec_get_bool() - true/false. Return: 0 or -EINVAL. */
int mdec_get_bool(const struct dctx *c, const struct mnode *n, const char *field, bool *ret);
/** mdec_get_uint() - decimal integer 0..UINT32_MAX. Return: 1 when set, 0 for null, -EINVAL. */
int mdec_get_uint(const struct dctx *c, const struct mnode *n, const char *field, uint64_t *ret);
/** mdec_get_as_number() - Calico numorstring.ASNumber (plain or asdot). Return: 0 or -EINVAL. */
int mdec_get_as_number(const struct dctx *c, const struct mnode *n, const char *field,
		       uint32_t *ret);
/** mdec_unknown() - "unknown field" at @key. Return: -EINVAL. */
int mdec_unknown(const struct dctx *c, const struct mnode *key, const char *path);
/** mdec_get_network() - a required CIDR with no host bits set. Return: 0 or -EINVAL. */
int mdec_get_network(const struct dctx *c, const struct mnode *n, const char *field,
		     struct ip_prefix *ret);
/** mdec_labels() - a label map (keys and values checked as Kubernetes does) into @l; @field
 * names it in errors ("metadata.labels", "spec.labelsToApply"). Return: 0, -EINVAL, -ENOMEM. */
int mdec_labels(const struct dctx *c, const struct mnode *m, const char *field,
		struct model_labels *l);
/** mdec_strv() - a list of at most @max strings into a NULL-terminated vector. */
int mdec_strv(const struct dctx *c, const struct mnode *v, const char *field, size_t max,
	      char ***ret, size_t *ret_n);

/**
 * mdec_extra() - store the field @key: @v (any YAML value, converted to JSON by the core schema)
 * in the JSON object text *@extra (created when NULL), and warn with @why when it is not NULL:
 * "accepted and stored, but <why>". Return: 0, -EINVAL (a key twice) or -ENOMEM.
 */
int mdec_extra(const struct dctx *c, const struct mnode *key, const struct mnode *v,
	       const char *field, char **extra, const char *why);
/** mdec_to_json_text() - @v as compact JSON text (heap). Return: 0 or -ENOMEM. */
int mdec_to_json_text(const struct mnode *v, char **ret);

/** mdec_get_selector() - a Calico selector string; "" means absent (*ret stays NULL). */
int mdec_get_selector(const struct dctx *c, const struct mnode *v, const char *field, char **ret);

/* model/decode-bgp.c */
int mdec_bgpconfig(const struct dctx *c, const struct mnode *spec, const struct mnode *at,
		   struct model_resource *res);
int mdec_bgppeer(const struct dctx *c, const struct mnode *spec, const struct mnode *at,
		 struct model_resource *res);

/* model/decode-policy.c */
int mdec_policy(const struct dctx *c, const struct mnode *spec, const struct mnode *at,
		struct model_resource *res);
int mdec_tier(const struct dctx *c, const struct mnode *spec, const struct mnode *at,
	      struct model_resource *res);
int mdec_netset(const struct dctx *c, const struct mnode *spec, const struct mnode *at,
		struct model_resource *res);
int mdec_hep(const struct dctx *c, const struct mnode *spec, const struct mnode *at,
	     struct model_resource *res);
int mdec_profile(const struct dctx *c, const struct mnode *spec, const struct mnode *at,
		 struct model_resource *res);
int mdec_felixconfig(const struct dctx *c, const struct mnode *spec, const struct mnode *at,
		     struct model_resource *res);
int mdec_namespace(const struct dctx *c, const struct mnode *spec, const struct mnode *at,
		   struct model_resource *res);
int mdec_k8s_policy(const struct dctx *c, const struct mnode *spec, const struct mnode *at,
		    struct model_resource *res);
struct model_named_port;
/** mdec_named_ports() - endpoint spec.ports [{name, protocol, port}]. */
int mdec_named_ports(const struct dctx *c, const struct mnode *v, const char *field,
		     struct model_named_port **ret, size_t *ret_n);

/* model/validate.c (more) */

/**
 * model_parse_duration_ns() - a Go time.Duration string ("30s", "1m30s", "100ms", "1.5h") to
 * nanoseconds; negative and overflowing values are refused. Return: 0 or -EINVAL.
 */
int model_parse_duration_ns(const char *s, uint64_t *ret) _warn_unused_result_;
/** model_format_duration_ms() - Go's Duration.String() of @ms milliseconds ("1m30s", "100ms"). */
char *model_format_duration_ms(uint64_t ms, char *buf, size_t size);
/**
 * model_selector_check() - a Calico selector, checked by the full grammar (sel_parse() of
 * acl/selector.h, docs.tigera.io "Calico resources: NetworkPolicy", section "Selectors").
 * @s: the selector text (blank means all() and passes).
 * @ret_column: on failure, the 1-based byte column of the offending token inside @s.
 * @ret_why: on failure, sel_parse()'s message copied into @why of @why_size bytes.
 * Return: 0, -EINVAL (syntax) or -ENOMEM.
 */
int model_selector_check(const char *s, unsigned *ret_column, char *why, size_t why_size);
/* model_port_name_is_valid(): public, in model/model.h */
/** model_protocol_from_string() - "TCP"/"tcp" ... "UDPLite" to its number; 0 if unknown. */
uint8_t model_protocol_from_string(const char *s);
/** model_protocol_name() - the canonical name of a known protocol number, else NULL. */
const char *model_protocol_name(uint8_t number);
/** model_community_is_valid() - "aa:nn" (16-bit parts) or "aa:nn:mm" (32-bit parts). */
bool model_community_is_valid(const char *s);

/* model/encode-k8s helpers: the restricted selector text that decoding generated from a
 * Kubernetes LabelSelector, parsed back (model/decode-policy.c). */
struct json_object;
/** model_k8s_selector_to_json() - {"matchLabels":..., "matchExpressions":...} for @sel.
 * Return: 0, -EINVAL (not in the generated form) or -ENOMEM. */
int model_k8s_selector_to_json(const char *sel, struct json_object **ret);

/* model/model.c */
struct model_rule;
/** model_rules_free() - free @n rules and the array. NULL-safe. */
void model_rules_free(struct model_rule *rules, size_t n);
