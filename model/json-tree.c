/* SPDX-License-Identifier: Apache-2.0 */
/*
 * DOC: JSON fast path for datastore values
 *
 * Every value tabby reads from etcd is one line of JSON, and libyaml reads it at ~40 MB/s: at
 * 100,000 workload endpoints that is most of felix's cold start. json-c reads the same text about
 * four times faster. This file turns json-c's object tree into the same mnode tree that
 * yaml-tree.c builds, for the inputs where the two parsers provably agree, and declines the rest
 * so the caller parses them with libyaml as before:
 *
 * - the text is one line of printable ASCII (0x20..0x7e) that starts with '{': no tab, no
 *   newline (YAML line folding and positions), no byte libyaml refuses as non-printable (DEL,
 *   C1 controls) and no UTF-8 to validate;
 * - no "\u" escape, so every ':' and '\'' of a decoded string is one of the text, and no two
 *   spaces in a row;
 * - json-c in strict mode consumes the whole text (no trailing bytes, comments or trailing
 *   commas);
 * - no single-quoted key, which json-c's strict mode still accepts, with JSON's escapes where
 *   YAML has none: the text has no '\'' beyond those inside the decoded strings;
 * - no duplicate key: json-c keeps the last of two equal keys where libyaml reports both (and the
 *   decoders refuse the mapping). The text has exactly one ':' per mapping member plus the ':'
 *   inside strings, so a collapsed duplicate shows as a missing ':' in the count;
 * - no integer json-c may have changed: "-0" (json-c prints 0; the text has no "-0" before a
 *   ',', '}', ']' or ' ' beyond those inside the decoded strings) and the int64/uint64 limits
 *   json-c clamps out-of-range numbers to. Other integers print back as their text, and json-c
 *   keeps a double's text as written;
 * - no key longer than MNODE_JSON_MAX_KEY bytes decoded (at most 2 + 2 * 500 in the text, as
 *   "\u" is excluded) and no two spaces in a row: libyaml takes a flow mapping's key as one only
 *   when its ':' follows within 1024 characters;
 * - nesting within MNODE_JSON_MAX_DEPTH (16) levels, below the tree's limit of 64.
 *
 * Every node sits on line 1; columns are not known (0). Callers use the tree only when decoding
 * succeeds and parse again with libyaml to report an error at its position.
 */
#include <errno.h>
#include <json-c/json.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "model/model-internal.h"

#define MNODE_JSON_MAX_KEY 500
/* Calico's deepest resource (a Kubernetes NetworkPolicy's matchExpressions values) nests 10
 * levels; json-c's tokener clears its stack of this many levels for every value. */
#define MNODE_JSON_MAX_DEPTH 16

DEFINE_TRIVIAL_CLEANUP_FUNC(struct mnode *, mnode_free);

struct jt {
	size_t colons;	/* ':' the tree accounts for: one per member plus those inside strings */
	size_t quotes;	/* '\'' inside strings */
	size_t negzero; /* "-0" before a delimiter inside strings (count_negzero()) */
};

/* Is @s[@i] the start of "-0" followed by a byte that may end a JSON number here? */
static bool negzero_at(const char *s, size_t len, size_t i)
{
	return i + 2 < len && s[i] == '-' && s[i + 1] == '0' && s[i + 2] &&
	       strchr(",}] ", s[i + 2]);
}

static size_t count_negzero(const char *s, size_t len)
{
	size_t n = 0;

	for (const char *p = s, *end = s + len;
	     p < end && (p = memchr(p, '-', (size_t)(end - p))) != NULL; p++)
		n += negzero_at(s, len, (size_t)(p - s));
	return n;
}

static size_t count_char(const char *s, size_t len, char ch)
{
	size_t n = 0;
	const char *p = s, *end = s + len;

	while (p < end && (p = memchr(p, ch, (size_t)(end - p))) != NULL) {
		n++;
		p++;
	}
	return n;
}

static struct mnode *jt_scalar(const char *text, size_t len, bool plain)
{
	struct mnode *n = mnode_new_scalar(text, len);

	if (!n)
		return NULL;
	n->line = 1;
	n->plain = plain;
	return n;
}

/* An empty mapping or sequence with exactly @count slots (the tree is built whole), or NULL. */
static struct mnode *jt_container(enum mnode_type type, size_t count)
{
	_cleanup_(mnode_freep) struct mnode *n = calloc(1, sizeof(*n));

	if (!n)
		return NULL;
	n->type = type;
	n->line = 1;
	n->text_offset = -1;
	if (count) {
		n->values = calloc(count, sizeof(*n->values));
		if (type == MNODE_MAP)
			n->keys = calloc(count, sizeof(*n->keys));
		if (!n->values || (type == MNODE_MAP && !n->keys))
			return NULL;
	}
	return TAKE_PTR(n);
}

/* A string scalar (a key or a value), counted for the checks of mnode_parse_json(). */
static struct mnode *jt_string(struct jt *t, const char *s, size_t len)
{
	t->colons += count_char(s, len, ':');
	t->quotes += count_char(s, len, '\'');
	t->negzero += count_negzero(s, len);
	return jt_scalar(s, len, false);
}

/* Return: 0 with *@ret set, 1 (the parsers might disagree: decline) or -ENOMEM. */
static int jt_node(struct jt *t, struct json_object *o, struct mnode **ret)
{
	_cleanup_(mnode_freep) struct mnode *n = NULL;
	int r;

	switch (json_object_get_type(o)) {
	case json_type_null:
		n = jt_scalar("null", 4, true);
		break;
	case json_type_boolean:
		n = json_object_get_boolean(o) ? jt_scalar("true", 4, true)
					       : jt_scalar("false", 5, true);
		break;
	case json_type_double: {
		const char *s = json_object_get_string(o);

		n = jt_scalar(s, strlen(s), true);
		break;
	}
	case json_type_int: {
		int64_t i = json_object_get_int64(o);
		uint64_t u = json_object_get_uint64(o);
		const char *s;

		if (i == INT64_MIN || i == INT64_MAX || u == UINT64_MAX)
			return 1;
		s = json_object_get_string(o);
		n = jt_scalar(s, strlen(s), true);
		break;
	}
	case json_type_string:
		n = jt_string(t, json_object_get_string(o), (size_t)json_object_get_string_len(o));
		break;
	case json_type_array: {
		size_t count = json_object_array_length(o);

		n = jt_container(MNODE_SEQ, count);
		if (!n)
			return -ENOMEM;
		for (size_t i = 0; i < count; i++) {
			r = jt_node(t, json_object_array_get_idx(o, i), &n->values[i]);
			if (r != 0)
				return r;
			n->n++;
		}
		break;
	}
	case json_type_object:
		n = jt_container(MNODE_MAP, (size_t)json_object_object_length(o));
		if (!n)
			return -ENOMEM;
		json_object_object_foreach(o, key, val)
		{
			size_t klen = strlen(key);

			if (klen > MNODE_JSON_MAX_KEY)
				return 1;
			t->colons++; /* the member's own */
			n->keys[n->n] = jt_string(t, key, klen);
			if (!n->keys[n->n])
				return -ENOMEM;
			r = jt_node(t, val, &n->values[n->n]);
			if (r != 0) {
				n->keys[n->n] = mnode_free(n->keys[n->n]);
				return r;
			}
			n->n++;
		}
		break;
	}
	if (!n)
		return -ENOMEM;
	*ret = TAKE_PTR(n);
	return 0;
}

int mnode_parse_json(const char *buf, size_t len, struct mnode **ret)
{
	struct json_tokener *tok;
	struct json_object *o;
	struct jt t = {};
	size_t colons = 0, quotes = 0, negzero = 0;
	int r;

	if (len < 2 || buf[0] != '{' || len > INT32_MAX)
		return 1;
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)buf[i];

		if (ch < 0x20 || ch > 0x7e)
			return 1;
		if (ch == ':')
			colons++;
		else if (ch == '\'')
			quotes++;
		else if (ch == '-')
			negzero += negzero_at(buf, len, i);
		else if (i + 1 < len &&
			 ((ch == '\\' && buf[i + 1] == 'u') || (ch == ' ' && buf[i + 1] == ' ')))
			return 1;
	}
	tok = json_tokener_new_ex(MNODE_JSON_MAX_DEPTH);
	if (!tok)
		return -ENOMEM;
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
	o = json_tokener_parse_ex(tok, buf, (int)len);
	if (!o || json_tokener_get_error(tok) != json_tokener_success ||
	    json_tokener_get_parse_end(tok) != len) {
		/* json-c's own allocation failures look like parse errors: libyaml decides */
		json_object_put(o);
		json_tokener_free(tok);
		return 1;
	}
	json_tokener_free(tok);
	r = jt_node(&t, o, ret);
	json_object_put(o);
	if (r == 0 && (t.colons != colons || t.quotes != quotes || t.negzero != negzero)) {
		*ret = mnode_free(*ret);
		return 1;
	}
	return r;
}
