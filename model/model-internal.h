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

/** mnode_stream_done() - free every document tree. NULL-safe. */
void mnode_stream_done(struct mnode_stream *s);

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

/** model_name_is_valid() - a lower-case RFC 1123 subdomain of at most 253 characters. */
bool model_name_is_valid(const char *s);
/** model_dns_label_is_valid() - a lower-case RFC 1123 label of at most 63 characters. */
bool model_dns_label_is_valid(const char *s);
/** model_label_key_is_valid() - Kubernetes qualified name: [subdomain "/"] name (<= 63). */
bool model_label_key_is_valid(const char *s);
/** model_label_value_is_valid() - empty, or <= 63 of [A-Za-z0-9-_.] starting and ending alnum. */
bool model_label_value_is_valid(const char *s);
/**
 * model_parse_as_number() - "64512" or asdot "1.10" (= 1 * 65536 + 10) to 1..4294967295.
 * Return: 0 or -EINVAL.
 */
int model_parse_as_number(const char *s, uint32_t *ret) _warn_unused_result_;
/** model_parse_mac() - "aa:bb:cc:dd:ee:ff" or with '-'; canonical lower-case colon form. */
int model_parse_mac(const char *s, char ret[static 18]) _warn_unused_result_;
