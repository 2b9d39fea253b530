/* SPDX-License-Identifier: Apache-2.0 */
/*
 * DOC: document tree
 *
 * libyaml delivers events; the decoders want to look fields up by name and to know where each
 * value sits in the source. This file folds the event stream of every document into a tree of
 * mappings, sequences and scalars that remembers the 1-based line and column of each node. JSON
 * input goes through the same parser, since JSON is YAML flow syntax. Aliases are refused: no
 * Calico manifest needs them and they allow "billion laughs" inputs.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "model/model-internal.h"

#define MNODE_MAX_DEPTH 64
#define MNODE_MAX_DOCS 10000

struct mnode *mnode_free(struct mnode *n)
{
	if (!n)
		return NULL;
	if (n->one_block) {
		free(n);
		return NULL;
	}
	for (size_t i = 0; i < n->n; i++) {
		if (n->keys)
			mnode_free(n->keys[i]);
		mnode_free(n->values[i]);
	}
	free(n->keys);
	free(n->values);
	if (n->text != (char *)(n + 1))
		free(n->text);
	free(n);
	return NULL;
}
DEFINE_TRIVIAL_CLEANUP_FUNC(struct mnode *, mnode_free);

void mnode_stream_done(struct mnode_stream *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->n; i++)
		mnode_free(s->docs[i]);
	free(s->docs);
	s->docs = NULL;
	s->n = 0;
}

/* Append-growth in powers of two: @n is the count before the append. */
static int grow(void *pp, size_t n, size_t size)
{
	void **p = pp;
	void *q;

	if (n != 0 && (n & (n - 1)) != 0)
		return 0;
	q = realloc(*p, (n ? 2 * n : 1) * size);
	if (!q)
		return -ENOMEM;
	*p = q;
	return 0;
}

static int mnode_append(struct mnode *parent, struct mnode *key, struct mnode *value)
{
	if (grow(&parent->values, parent->n, sizeof(*parent->values)) < 0)
		return -ENOMEM;
	if (parent->type == MNODE_MAP && grow(&parent->keys, parent->n, sizeof(*parent->keys)) < 0)
		return -ENOMEM;
	if (parent->type == MNODE_MAP)
		parent->keys[parent->n] = key;
	parent->values[parent->n++] = value;
	return 0;
}

struct mnode *mnode_new_scalar(const char *text, size_t len)
{
	struct mnode *n = malloc(sizeof(*n) + len + 1);

	if (!n)
		return NULL;
	*n = (struct mnode){.type = MNODE_SCALAR, .text_offset = -1, .text_len = len};
	n->text = (char *)(n + 1);
	memcpy(n->text, text, len);
	n->text[len] = '\0';
	return n;
}

static struct mnode *mnode_new(enum mnode_type type, const yaml_mark_t *mark)
{
	struct mnode *n = calloc(1, sizeof(*n));

	if (!n)
		return NULL;
	n->type = type;
	n->line = (unsigned)mark->line + 1;
	n->column = (unsigned)mark->column + 1;
	n->text_offset = -1;
	return n;
}

struct builder {
	const char *file;
	struct parse_err *err;
	struct mnode *stack[MNODE_MAX_DEPTH];
	size_t depth;
	struct mnode *pending_key[MNODE_MAX_DEPTH]; /* per open mapping: key awaiting its value */
	struct mnode *root;
};

static void builder_done(struct builder *b)
{
	for (size_t i = 0; i < b->depth; i++)
		mnode_free(b->pending_key[i]);
	/* stack[0] is the root; everything else is reachable from it once attached */
	if (b->depth)
		mnode_free(b->stack[0]);
	else
		mnode_free(b->root);
	b->depth = 0;
	b->root = NULL;
}

/* Attach a complete node (scalar, or container being opened) to the current parent. */
static int builder_add(struct builder *b, struct mnode *n)
{
	if (b->depth == 0) {
		b->root = n;
		return 0;
	}
	struct mnode *parent = b->stack[b->depth - 1];

	if (parent->type == MNODE_MAP) {
		if (!b->pending_key[b->depth - 1]) {
			if (n->type != MNODE_SCALAR) {
				int r = parse_err_set(b->err, b->file, n->line, n->column, NULL,
						      "invalid YAML: mapping keys must be scalars");
				mnode_free(n);
				return r;
			}
			b->pending_key[b->depth - 1] = n;
			return 0;
		}
		struct mnode *key = b->pending_key[b->depth - 1];

		if (mnode_append(parent, key, n) < 0) {
			mnode_free(n);
			return -ENOMEM;
		}
		b->pending_key[b->depth - 1] = NULL;
		return 0;
	}
	if (mnode_append(parent, NULL, n) < 0) {
		mnode_free(n);
		return -ENOMEM;
	}
	return 0;
}

static int builder_open(struct builder *b, enum mnode_type type, const yaml_mark_t *mark)
{
	struct mnode *n;
	int r;

	if (b->depth >= MNODE_MAX_DEPTH)
		return parse_err_set(b->err, b->file, (unsigned)mark->line + 1,
				     (unsigned)mark->column + 1, NULL,
				     "invalid YAML: nested more than %d levels", MNODE_MAX_DEPTH);
	n = mnode_new(type, mark);
	if (!n)
		return -ENOMEM;
	if (b->depth == 0) {
		b->root = NULL;
	} else {
		r = builder_add(b, n);
		if (r < 0)
			return r;
	}
	b->stack[b->depth] = n;
	b->pending_key[b->depth] = NULL;
	b->depth++;
	return 0;
}

static void builder_close(struct builder *b)
{
	struct mnode *n = b->stack[--b->depth];

	/* libyaml guarantees balanced events, so a pending key cannot remain here */
	mnode_free(b->pending_key[b->depth]);
	b->pending_key[b->depth] = NULL;
	if (b->depth == 0)
		b->root = n;
}

/*
 * Where the value's first byte sits relative to the node's column, when the source holds the
 * value verbatim on one line: plain (width == length) or single/double quoted with no escapes
 * (width == length + 2). libyaml marks count characters; the selector columns count bytes,
 * so the two agree for ASCII, which selectors are in practice. -1 otherwise.
 */
static int scalar_text_offset(const yaml_event_t *ev)
{
	const yaml_mark_t *s = &ev->start_mark, *e = &ev->end_mark;
	size_t width = e->column - s->column;

	if (e->line != s->line || e->column < s->column || ev->data.scalar.tag)
		return -1;
	switch (ev->data.scalar.style) {
	case YAML_PLAIN_SCALAR_STYLE:
		return width == ev->data.scalar.length ? 0 : -1;
	case YAML_SINGLE_QUOTED_SCALAR_STYLE:
	case YAML_DOUBLE_QUOTED_SCALAR_STYLE:
		return width == ev->data.scalar.length + 2 ? 1 : -1;
	default:
		return -1;
	}
}

static int builder_scalar(struct builder *b, const yaml_event_t *ev)
{
	struct mnode *n =
	    mnode_new_scalar((const char *)ev->data.scalar.value, ev->data.scalar.length);

	if (!n)
		return -ENOMEM;
	n->line = (unsigned)ev->start_mark.line + 1;
	n->column = (unsigned)ev->start_mark.column + 1;
	n->plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
		   (!ev->data.scalar.tag || ev->data.scalar.plain_implicit);
	if (ev->data.scalar.tag && strcmp((const char *)ev->data.scalar.tag, YAML_STR_TAG) == 0)
		n->plain = false;
	n->text_offset = scalar_text_offset(ev);
	return builder_add(b, n);
}

static int yaml_fail(const yaml_parser_t *p, const char *buf, size_t len, const char *file,
		     struct parse_err *err)
{
	const yaml_mark_t *m = &p->problem_mark;

	if (p->error == YAML_MEMORY_ERROR)
		return -ENOMEM;
	/* libyaml says "found character that cannot start any token" for a tab: name it */
	if (m->index < len && buf[m->index] == '\t')
		return parse_err_set(err, file, (unsigned)m->line + 1, (unsigned)m->column + 1,
				     NULL,
				     "invalid YAML: a tab character; YAML indents with spaces, "
				     "never tabs");
	if (p->context)
		return parse_err_set(err, file, (unsigned)m->line + 1, (unsigned)m->column + 1,
				     NULL, "invalid YAML: %s %s",
				     p->problem ? p->problem : "syntax error", p->context);
	return parse_err_set(err, file, (unsigned)m->line + 1, (unsigned)m->column + 1, NULL,
			     "invalid YAML: %s", p->problem ? p->problem : "syntax error");
}

int mnode_parse(const char *buf, size_t len, const char *file, struct mnode_stream *ret,
		struct parse_err *err)
{
	yaml_parser_t parser;
	struct builder b = {.file = file, .err = err};
	struct mnode_stream s = {};
	bool done = false;
	int r = 0;

	if (!yaml_parser_initialize(&parser))
		return -ENOMEM;
	yaml_parser_set_input_string(&parser, (const unsigned char *)buf, len);
	while (!done && r >= 0) {
		yaml_event_t ev;

		if (!yaml_parser_parse(&parser, &ev)) {
			r = yaml_fail(&parser, buf, len, file, err);
			break;
		}
		switch (ev.type) {
		case YAML_STREAM_END_EVENT:
			done = true;
			break;
		case YAML_DOCUMENT_START_EVENT:
			b.root = NULL;
			break;
		case YAML_DOCUMENT_END_EVENT:
			if (s.n >= MNODE_MAX_DOCS) {
				r = parse_err_set(err, file, (unsigned)ev.start_mark.line + 1, 0,
						  NULL, "more than %d documents", MNODE_MAX_DOCS);
				break;
			}
			r = grow(&s.docs, s.n, sizeof(*s.docs));
			if (r >= 0)
				s.docs[s.n++] = TAKE_PTR(b.root);
			break;
		case YAML_ALIAS_EVENT:
			r = parse_err_set(err, file, (unsigned)ev.start_mark.line + 1,
					  (unsigned)ev.start_mark.column + 1, NULL,
					  "invalid YAML: aliases are not supported");
			break;
		case YAML_SCALAR_EVENT:
			r = builder_scalar(&b, &ev);
			break;
		case YAML_MAPPING_START_EVENT:
			r = builder_open(&b, MNODE_MAP, &ev.start_mark);
			break;
		case YAML_SEQUENCE_START_EVENT:
			r = builder_open(&b, MNODE_SEQ, &ev.start_mark);
			break;
		case YAML_MAPPING_END_EVENT:
		case YAML_SEQUENCE_END_EVENT:
			builder_close(&b);
			break;
		default:
			break;
		}
		yaml_event_delete(&ev);
	}
	yaml_parser_delete(&parser);
	builder_done(&b);
	if (r < 0) {
		mnode_stream_done(&s);
		return r;
	}
	*ret = s;
	return 0;
}

static bool all_in(const char *s, const char *set)
{
	if (!*s)
		return false;
	return s[strspn(s, set)] == '\0';
}

static bool is_int_text(const char *s)
{
	if (*s == '-' || *s == '+')
		s++;
	if (s[0] == '0' && s[1] == 'x')
		return all_in(s + 2, "0123456789abcdefABCDEF");
	if (s[0] == '0' && s[1] == 'o')
		return all_in(s + 2, "01234567");
	return all_in(s, "0123456789_");
}

static bool is_float_text(const char *s)
{
	static const char *const special[] = {".inf", ".Inf", ".INF", ".nan", ".NaN", ".NAN"};
	size_t digits = 0;

	if (*s == '-' || *s == '+')
		s++;
	for (size_t i = 0; i < ELEMENTSOF(special); i++)
		if (strcmp(s, special[i]) == 0)
			return true;
	while (*s >= '0' && *s <= '9')
		s++, digits++;
	if (*s == '.') {
		s++;
		while (*s >= '0' && *s <= '9')
			s++, digits++;
	}
	if (!digits)
		return false;
	if (*s == 'e' || *s == 'E') {
		s++;
		if (*s == '-' || *s == '+')
			s++;
		if (!(*s >= '0' && *s <= '9'))
			return false;
		while (*s >= '0' && *s <= '9')
			s++;
	}
	return *s == '\0';
}

static bool in_list(const char *s, const char *const *list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(s, list[i]) == 0)
			return true;
	return false;
}

static const char *const null_words[] = {"", "~", "null", "Null", "NULL"};
static const char *const bool_words[] = {"true", "True", "TRUE", "false", "False", "FALSE"};
/* YAML 1.1 adds these; other tools (PyYAML, go-yaml v2) still read them as booleans. */
static const char *const bool_words_11[] = {"y",  "Y",	"yes", "Yes", "YES", "n",   "N",   "no",
					    "No", "NO", "on",  "On",  "ON",  "off", "Off", "OFF"};

enum mnode_scalar_kind mnode_scalar_kind(const struct mnode *n)
{
	if (!n->plain)
		return MNODE_STR;
	if (in_list(n->text, null_words, ELEMENTSOF(null_words)))
		return MNODE_NULL;
	if (in_list(n->text, bool_words, ELEMENTSOF(bool_words)))
		return MNODE_BOOL;
	if (is_int_text(n->text))
		return MNODE_INT;
	if (is_float_text(n->text))
		return MNODE_FLOAT;
	return MNODE_STR;
}

bool model_yaml_needs_quotes(const char *s)
{
	return in_list(s, null_words, ELEMENTSOF(null_words)) ||
	       in_list(s, bool_words, ELEMENTSOF(bool_words)) ||
	       in_list(s, bool_words_11, ELEMENTSOF(bool_words_11)) || is_int_text(s) ||
	       is_float_text(s) || all_in(s, "0123456789:._-+");
}

const struct mnode *mnode_map_get(const struct mnode *map, const char *key)
{
	if (!map || map->type != MNODE_MAP)
		return NULL;
	for (size_t i = 0; i < map->n; i++)
		if (strcmp(map->keys[i]->text, key) == 0)
			return map->values[i];
	return NULL;
}
