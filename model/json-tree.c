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
 *
 * The tree is one allocation: a first walk of json-c's tree counts its nodes, slots and text
 * bytes, a second carves them from one block (a node per key, value and element, then the
 * key/value pointer arrays, then the texts). A workload endpoint was ~40 small allocations and
 * as many frees before, a third of the time this file took. Its maps are marked unique_keys:
 * json-c keeps one of two equal keys and the ':' count below declines such a text, so the
 * decoders skip their own duplicate check.
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

struct jt {
	size_t colons;	/* ':' the tree accounts for: one per member plus those inside strings */
	size_t quotes;	/* '\'' inside strings */
	size_t negzero; /* "-0" before a delimiter inside strings (count_negzero()) */
	/* the tree's one allocation, carved front to back: nodes, then slots, then text */
	struct mnode *node;
	struct mnode **slot;
	char *text;
};

/* What the tree of a json-c object needs: nodes (a member's key is one), key and value slots,
 * and text bytes (with their NULs). */
struct jt_size {
	size_t nodes, slots, text;
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

/* The text of a scalar that is not a string: json-c prints a number as read (see the DOC
 * comment for the integers it may have changed). Return: the text, or NULL to decline. */
static const char *jt_plain_text(struct json_object *o, size_t *len)
{
	const char *s;

	switch (json_object_get_type(o)) {
	case json_type_null:
		s = "null";
		break;
	case json_type_boolean:
		s = json_object_get_boolean(o) ? "true" : "false";
		break;
	case json_type_int: {
		int64_t i = json_object_get_int64(o);
		uint64_t u = json_object_get_uint64(o);

		if (i == INT64_MIN || i == INT64_MAX || u == UINT64_MAX)
			return NULL;
		s = json_object_get_string(o);
		break;
	}
	case json_type_double:
		s = json_object_get_string(o);
		break;
	default:
		return NULL;
	}
	if (!s)
		return NULL; /* json-c out of memory printing a number: libyaml decides */
	*len = strlen(s);
	return s;
}

/* Add what @o's tree needs to @sz. Return: 0, or 1 (decline: a key too long, an integer json-c
 * may have changed). */
static int jt_measure(struct json_object *o, struct jt_size *sz)
{
	size_t len;
	int r;

	sz->nodes++;
	switch (json_object_get_type(o)) {
	case json_type_string:
		sz->text += (size_t)json_object_get_string_len(o) + 1;
		return 0;
	case json_type_array: {
		size_t count = json_object_array_length(o);

		sz->slots += count;
		for (size_t i = 0; i < count; i++) {
			r = jt_measure(json_object_array_get_idx(o, i), sz);
			if (r)
				return r;
		}
		return 0;
	}
	case json_type_object: {
		json_object_object_foreach(o, key, val)
		{
			len = strlen(key);
			if (len > MNODE_JSON_MAX_KEY)
				return 1;
			sz->nodes++;
			sz->slots += 2;
			sz->text += len + 1;
			r = jt_measure(val, sz);
			if (r)
				return r;
		}
		return 0;
	}
	default:
		if (!jt_plain_text(o, &len))
			return 1;
		sz->text += len + 1;
		return 0;
	}
}

/* The next node of the block: a scalar with a copy of @text. */
static struct mnode *jt_scalar(struct jt *t, const char *text, size_t len, bool plain)
{
	struct mnode *n = t->node++;

	*n = (struct mnode){.type = MNODE_SCALAR,
			    .line = 1,
			    .text = t->text,
			    .text_len = len,
			    .plain = plain,
			    .text_offset = -1};
	memcpy(t->text, text, len);
	t->text[len] = '\0';
	t->text += len + 1;
	return n;
}

/* A string scalar (a key or a value), counted for the checks of mnode_parse_json(). */
static struct mnode *jt_string(struct jt *t, const char *s, size_t len)
{
	t->colons += count_char(s, len, ':');
	t->quotes += count_char(s, len, '\'');
	t->negzero += count_negzero(s, len);
	return jt_scalar(t, s, len, false);
}

/* Build the node of @o (measured by jt_measure(), so it cannot fail) from the block. */
static struct mnode *jt_node(struct jt *t, struct json_object *o)
{
	struct mnode *n;
	size_t count, len;

	switch (json_object_get_type(o)) {
	case json_type_string:
		return jt_string(t, json_object_get_string(o),
				 (size_t)json_object_get_string_len(o));
	case json_type_array:
		count = json_object_array_length(o);
		n = t->node++;
		*n = (struct mnode){.type = MNODE_SEQ, .line = 1, .text_offset = -1, .n = count};
		if (count) {
			n->values = t->slot;
			t->slot += count;
		}
		for (size_t i = 0; i < count; i++)
			n->values[i] = jt_node(t, json_object_array_get_idx(o, i));
		return n;
	case json_type_object:
		count = (size_t)json_object_object_length(o);
		n = t->node++;
		*n = (struct mnode){.type = MNODE_MAP,
				    .line = 1,
				    .text_offset = -1,
				    .n = count,
				    .unique_keys = true};
		if (count) {
			n->keys = t->slot;
			n->values = t->slot + count;
			t->slot += 2 * count;
		}
		count = 0;
		{
			json_object_object_foreach(o, key, val)
			{
				t->colons++; /* the member's own */
				n->keys[count] = jt_string(t, key, strlen(key));
				n->values[count++] = jt_node(t, val);
			}
		}
		return n;
	default: {
		const char *s = jt_plain_text(o, &len);

		return jt_scalar(t, s, len, true);
	}
	}
}

/* Byte classes of the text for mnode_parse_json()'s checks: 0 is any other printable byte. */
enum { JT_OK, JT_BAD, JT_COLON, JT_QUOTE, JT_MINUS, JT_BACKSLASH, JT_SPACE };

static const unsigned char jt_class[256] = {
    [0 ... 0x1f] = JT_BAD, [0x7f ... 0xff] = JT_BAD, [':'] = JT_COLON, ['\''] = JT_QUOTE,
    ['-'] = JT_MINUS,	   ['\\'] = JT_BACKSLASH,    [' '] = JT_SPACE,
};

int mnode_parse_json(const char *buf, size_t len, struct mnode **ret)
{
	struct json_tokener *tok;
	struct json_object *o;
	struct jt_size sz = {};
	struct jt t = {};
	size_t colons = 0, quotes = 0, negzero = 0;
	struct mnode *root;
	int r;

	if (len < 2 || buf[0] != '{' || len > INT32_MAX)
		return 1;
	for (size_t i = 0; i < len; i++) {
		while (jt_class[(unsigned char)buf[i]] == JT_OK && i + 1 < len)
			i++;
		switch (jt_class[(unsigned char)buf[i]]) {
		case JT_OK:
			break;
		case JT_BAD:
			return 1;
		case JT_COLON:
			colons++;
			break;
		case JT_QUOTE:
			quotes++;
			break;
		case JT_MINUS:
			negzero += negzero_at(buf, len, i);
			break;
		case JT_BACKSLASH:
			if (i + 1 < len && buf[i + 1] == 'u')
				return 1;
			break;
		case JT_SPACE:
			if (i + 1 < len && buf[i + 1] == ' ')
				return 1;
			break;
		}
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
	r = jt_measure(o, &sz);
	if (r) {
		json_object_put(o);
		return r;
	}
	root =
	    malloc(sz.nodes * sizeof(struct mnode) + sz.slots * sizeof(struct mnode *) + sz.text);
	if (!root) {
		json_object_put(o);
		return -ENOMEM;
	}
	t.node = root;
	t.slot = (struct mnode **)(root + sz.nodes);
	t.text = (char *)(t.slot + sz.slots);
	jt_node(&t, o);
	json_object_put(o);
	root->one_block = true;
	if (t.colons != colons || t.quotes != quotes || t.negzero != negzero) {
		free(root);
		return 1;
	}
	*ret = root;
	return 0;
}
