/* SPDX-License-Identifier: Apache-2.0 */
/*
 * DOC: document tree
 *
 * libyaml delivers events; the decoders want to look fields up by name and to know where each
 * value sits in the source. This file folds the event stream of every document into a tree of
 * mappings, sequences and scalars that remembers the 1-based line and column of each node. JSON
 * input goes through the same parser, since JSON is YAML flow syntax. Aliases are refused: no
 * Calico manifest needs them and they allow "billion laughs" inputs.
 *
 * Every node, scalar text and child array of a stream comes from the stream's arena (blocks
 * from 4 KiB, doubling up to 1 MiB) and goes with it in mnode_stream_done(): a datastore value
 * of ~40 nodes costs one or two malloc() calls instead of ~100 (felix decodes 100,000 of them
 * at a cold start).
 */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "model/model-internal.h"

#define MNODE_MAX_DEPTH 64
#define MNODE_MAX_DOCS 10000

#define ARENA_FIRST 4096
#define ARENA_MAX_BLOCK (1024 * 1024)
#if defined(__SANITIZE_ADDRESS__)
#define ARENA_EXACT 1 /* one block per allocation, so that ASan checks each one's bounds */
#else
#define ARENA_EXACT 0
#endif

struct mnode_arena {
	struct mnode_arena *next; /* the previous (smaller) block */
	size_t used, size;
	max_align_t data[];
};

/* @size zeroed bytes from the arena *@a (a new block when the current one is full), aligned
 * for any type; NULL when out of memory. */
static void *arena_zalloc(struct mnode_arena **a, size_t size)
{
	struct mnode_arena *b = *a;

	size = (size + _Alignof(max_align_t) - 1) & ~(_Alignof(max_align_t) - 1);
	if (!b || b->size - b->used < size) {
		size_t bs = b ? (b->size < ARENA_MAX_BLOCK ? 2 * b->size : b->size) : ARENA_FIRST;

		if (bs < size || ARENA_EXACT)
			bs = size;
		b = malloc(sizeof(*b) + bs);
		if (!b)
			return NULL;
		b->next = *a;
		b->used = 0;
		b->size = bs;
		*a = b;
	}
	void *p = (char *)b->data + b->used;

	b->used += size;
	return memset(p, 0, size);
}

void mnode_stream_done(struct mnode_stream *s)
{
	if (!s)
		return;
	while (s->arena) {
		struct mnode_arena *next = s->arena->next;

		free(s->arena);
		s->arena = next;
	}
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

/* As grow(), for a node's child array in the arena (the old array stays there, unused). */
static int arena_grow(struct mnode_arena **a, struct mnode ***p, size_t n)
{
	struct mnode **q;

	if (n != 0 && (n & (n - 1)) != 0)
		return 0;
	q = arena_zalloc(a, (n ? 2 * n : 1) * sizeof(*q));
	if (!q)
		return -ENOMEM;
	if (n)
		memcpy(q, *p, n * sizeof(*q));
	*p = q;
	return 0;
}

static int mnode_append(struct mnode_arena **a, struct mnode *parent, struct mnode *key,
			struct mnode *value)
{
	if (arena_grow(a, &parent->values, parent->n) < 0)
		return -ENOMEM;
	if (parent->type == MNODE_MAP && arena_grow(a, &parent->keys, parent->n) < 0)
		return -ENOMEM;
	if (parent->type == MNODE_MAP)
		parent->keys[parent->n] = key;
	parent->values[parent->n++] = value;
	return 0;
}

static struct mnode *mnode_new(struct mnode_arena **a, enum mnode_type type,
			       const yaml_mark_t *mark)
{
	struct mnode *n = arena_zalloc(a, sizeof(*n));

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
	struct mnode_arena **arena; /* the stream's */
	struct mnode *stack[MNODE_MAX_DEPTH];
	size_t depth;
	struct mnode *pending_key[MNODE_MAX_DEPTH]; /* per open mapping: key awaiting its value */
	struct mnode *root;
};

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
				return parse_err_set(b->err, b->file, n->line, n->column, NULL,
						     "invalid YAML: mapping keys must be scalars");
			}
			b->pending_key[b->depth - 1] = n;
			return 0;
		}
		struct mnode *key = b->pending_key[b->depth - 1];

		if (mnode_append(b->arena, parent, key, n) < 0)
			return -ENOMEM;
		b->pending_key[b->depth - 1] = NULL;
		return 0;
	}
	if (mnode_append(b->arena, parent, NULL, n) < 0)
		return -ENOMEM;
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
	n = mnode_new(b->arena, type, mark);
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
	struct mnode *n = mnode_new(b->arena, MNODE_SCALAR, &ev->start_mark);

	if (!n)
		return -ENOMEM;
	n->text_len = ev->data.scalar.length;
	n->text = arena_zalloc(b->arena, n->text_len + 1);
	if (!n->text)
		return -ENOMEM;
	memcpy(n->text, ev->data.scalar.value, n->text_len);
	n->text[n->text_len] = '\0';
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
	struct mnode_stream s = {};
	struct builder b = {.file = file, .err = err, .arena = &s.arena};
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
