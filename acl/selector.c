/* SPDX-License-Identifier: Apache-2.0 */
/*
 * DOC: Calico label selectors
 *
 * A recursive-descent parser over a small lexer turns selector text into an AST (struct
 * sel_node). Every node carries its canonical text, built bottom-up when the node is finished:
 * leaves print as Calico's parser/ast.go does, && and || are n-ary with nested same operators
 * flattened and operands sorted and de-duplicated by their canonical text, in {} values sorted
 * and de-duplicated (Calico's StringSet does the same). Canonical text is what set names hash,
 * so two policies that write the same selector differently share one kernel set.
 *
 * Matching walks the AST; a lookup goes through struct sel_subject so that Calico's implicit
 * labels (projectcalico.org/namespace, pcns.<namespace label>) need no merged label copies: a
 * compile over 100,000 remote endpoints allocates nothing per match.
 *
 * Limits: SEL_MAX_TEXT bytes, SEL_MAX_DEPTH nesting (recursion is bounded, so a hostile
 * selector from the datastore cannot exhaust the stack), SEL_MAX_VALUES per set literal.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "acl/selector.h"
#include "lib/array.h"

enum sel_op {
	SEL_OP_ALL,
	SEL_OP_GLOBAL,
	SEL_OP_HAS,
	SEL_OP_EQ,
	SEL_OP_NE,
	SEL_OP_IN,
	SEL_OP_NOT_IN,
	SEL_OP_CONTAINS,
	SEL_OP_STARTS,
	SEL_OP_ENDS,
	SEL_OP_NOT,
	SEL_OP_AND,
	SEL_OP_OR,
};

struct sel_node {
	enum sel_op op;
	char *label;   /* HAS and comparisons */
	char *value;   /* EQ NE CONTAINS STARTS ENDS */
	char **values; /* IN NOT_IN: sorted, unique */
	size_t n_values;
	struct sel_node **kids; /* NOT (1), AND, OR (>= 2) */
	size_t n_kids;
	char *canon;
};

struct sel {
	struct sel_node *root;
	uint64_t hash;
};

static struct sel_node *node_free(struct sel_node *n)
{
	if (!n)
		return NULL;
	free(n->label);
	free(n->value);
	for (size_t i = 0; i < n->n_values; i++)
		free(n->values[i]);
	free(n->values);
	for (size_t i = 0; i < n->n_kids; i++)
		node_free(n->kids[i]);
	free(n->kids);
	free(n->canon);
	free(n);
	return NULL;
}
DEFINE_TRIVIAL_CLEANUP_FUNC(struct sel_node *, node_free);

struct sel *sel_free(struct sel *s)
{
	if (!s)
		return NULL;
	node_free(s->root);
	free(s);
	return NULL;
}

uint64_t sel_fnv1a64(const void *data, size_t len)
{
	const unsigned char *p = data;
	uint64_t h = 0xcbf29ce484222325ULL;

	for (size_t i = 0; i < len; i++) {
		h ^= p[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

/* ---- canonical text ---- */

static int put_quoted(struct strbuf *sb, const char *v)
{
	char q = strchr(v, '"') ? '\'' : '"';

	return strbuf_printf(sb, "%c%s%c", q, v, q);
}

static int cmp_nodep(const void *a, const void *b)
{
	const struct sel_node *x = *(struct sel_node *const *)a, *y = *(struct sel_node *const *)b;

	return strcmp(x->canon, y->canon);
}

/* Fills n->canon from the children's canonical texts (which must already be set). For AND/OR
 * it first flattens, sorts and de-duplicates the operands. */
static int node_finish(struct sel_node *n)
{
	_cleanup_strbuf_ struct strbuf sb = {0};
	static const char *const binop[] = {
	    [SEL_OP_EQ] = " == ",
	    [SEL_OP_NE] = " != ",
	    [SEL_OP_CONTAINS] = " contains ",
	    [SEL_OP_STARTS] = " starts with ",
	    [SEL_OP_ENDS] = " ends with ",
	};
	int r = 0;

	switch (n->op) {
	case SEL_OP_ALL:
		r = strbuf_puts(&sb, "all()");
		break;
	case SEL_OP_GLOBAL:
		r = strbuf_puts(&sb, "global()");
		break;
	case SEL_OP_HAS:
		r = strbuf_printf(&sb, "has(%s)", n->label);
		break;
	case SEL_OP_EQ:
	case SEL_OP_NE:
	case SEL_OP_CONTAINS:
	case SEL_OP_STARTS:
	case SEL_OP_ENDS:
		r = strbuf_printf(&sb, "%s%s", n->label, binop[n->op]);
		if (r >= 0)
			r = put_quoted(&sb, n->value);
		break;
	case SEL_OP_IN:
	case SEL_OP_NOT_IN: {
		size_t w = 0;

		array_sort(n->values, n->n_values, sizeof(char *), array_cmp_str);
		for (size_t i = 0; i < n->n_values; i++) {
			if (w > 0 && strcmp(n->values[w - 1], n->values[i]) == 0) {
				free(n->values[i]);
				continue;
			}
			n->values[w++] = n->values[i];
		}
		n->n_values = w;
		r = strbuf_printf(&sb, "%s %s {", n->label, n->op == SEL_OP_IN ? "in" : "not in");
		for (size_t i = 0; r >= 0 && i < n->n_values; i++) {
			if (i > 0)
				r = strbuf_puts(&sb, ", ");
			if (r >= 0)
				r = put_quoted(&sb, n->values[i]);
		}
		if (r >= 0)
			r = strbuf_puts(&sb, "}");
		break;
	}
	case SEL_OP_NOT:
		r = strbuf_printf(&sb, "!%s", n->kids[0]->canon);
		break;
	case SEL_OP_AND:
	case SEL_OP_OR: {
		size_t total = 0, w = 0;
		struct sel_node **kids;

		/* Flatten: a child with the same operator contributes its operands. */
		for (size_t i = 0; i < n->n_kids; i++)
			total += n->kids[i]->op == n->op ? n->kids[i]->n_kids : 1;
		kids = calloc(total, sizeof(*kids));
		if (!kids)
			return -ENOMEM;
		for (size_t i = 0; i < n->n_kids; i++) {
			struct sel_node *k = n->kids[i];

			if (k->op == n->op) {
				for (size_t j = 0; j < k->n_kids; j++)
					kids[w++] = k->kids[j];
				k->n_kids = 0;
				node_free(k);
			} else {
				kids[w++] = k;
			}
		}
		free(n->kids);
		n->kids = kids;
		n->n_kids = w;
		qsort(n->kids, n->n_kids, sizeof(*n->kids), cmp_nodep);
		w = 0;
		for (size_t i = 0; i < n->n_kids; i++) {
			if (w > 0 && strcmp(n->kids[w - 1]->canon, n->kids[i]->canon) == 0) {
				node_free(n->kids[i]);
				continue;
			}
			n->kids[w++] = n->kids[i];
		}
		n->n_kids = w;
		if (n->n_kids == 1) {
			/* (a && a) is a: become the single operand. */
			struct sel_node *only = n->kids[0];

			free(n->kids);
			*n = *only;
			free(only);
			return 0;
		}
		r = strbuf_puts(&sb, "(");
		for (size_t i = 0; r >= 0 && i < n->n_kids; i++) {
			if (i > 0)
				r = strbuf_puts(&sb, n->op == SEL_OP_AND ? " && " : " || ");
			if (r >= 0)
				r = strbuf_puts(&sb, n->kids[i]->canon);
		}
		if (r >= 0)
			r = strbuf_puts(&sb, ")");
		break;
	}
	}
	if (r < 0)
		return r;
	free(n->canon);
	n->canon = strbuf_steal(&sb);
	return n->canon ? 0 : -ENOMEM;
}

static struct sel_node *node_new(enum sel_op op)
{
	struct sel_node *n = calloc(1, sizeof(*n));

	if (n)
		n->op = op;
	return n;
}

/* Builds an AND/OR of two finished nodes, consuming both (also on failure). */
static int node_pair(enum sel_op op, struct sel_node *a, struct sel_node *b, struct sel_node **ret)
{
	_cleanup_(node_freep) struct sel_node *n = node_new(op);
	int r;

	if (!n || !(n->kids = calloc(2, sizeof(*n->kids)))) {
		node_free(a);
		node_free(b);
		return -ENOMEM;
	}
	n->kids[0] = a;
	n->kids[1] = b;
	n->n_kids = 2;
	r = node_finish(n);
	if (r < 0)
		return r;
	*ret = TAKE_PTR(n);
	return 0;
}

/* ---- lexer ---- */

enum tok {
	TOK_EOF,
	TOK_LPAREN,
	TOK_RPAREN,
	TOK_LBRACE,
	TOK_RBRACE,
	TOK_COMMA,
	TOK_EQ,
	TOK_NE,
	TOK_NOT,
	TOK_AND,
	TOK_OR,
	TOK_STRING,
	TOK_WORD,
};

struct parser {
	const char *text;
	size_t pos;	 /* offset of the next unread byte */
	enum tok tok;	 /* current token */
	size_t tok_pos;	 /* its offset */
	size_t tok_len;	 /* its length (for STRING: of the contents) */
	size_t tok_data; /* offset of the contents (STRING, WORD) */
	unsigned depth;
	struct parse_err *err;
};

_printf_(3, 4) static int p_error(struct parser *p, size_t at, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	if (!p->err)
		return -EINVAL;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return parse_err_set(p->err, NULL, 1, (unsigned)at + 1, NULL, "%s", msg);
}

static bool is_word_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '_' || c == '.' || c == '-' || c == '/';
}

static bool is_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

static int next(struct parser *p)
{
	const char *t = p->text;
	size_t i = p->pos;

	while (t[i] == ' ' || t[i] == '\t' || t[i] == '\n' || t[i] == '\r')
		i++;
	p->tok_pos = i;
	p->tok_len = 1;
	switch (t[i]) {
	case '\0':
		p->tok = TOK_EOF;
		p->tok_len = 0;
		break;
	case '(':
		p->tok = TOK_LPAREN;
		break;
	case ')':
		p->tok = TOK_RPAREN;
		break;
	case '{':
		p->tok = TOK_LBRACE;
		break;
	case '}':
		p->tok = TOK_RBRACE;
		break;
	case ',':
		p->tok = TOK_COMMA;
		break;
	case '=':
		if (t[i + 1] != '=')
			return p_error(p, i, "expected '=='");
		p->tok = TOK_EQ;
		p->tok_len = 2;
		break;
	case '!':
		p->tok = t[i + 1] == '=' ? TOK_NE : TOK_NOT;
		p->tok_len = t[i + 1] == '=' ? 2 : 1;
		break;
	case '&':
		if (t[i + 1] != '&')
			return p_error(p, i, "expected '&&'");
		p->tok = TOK_AND;
		p->tok_len = 2;
		break;
	case '|':
		if (t[i + 1] != '|')
			return p_error(p, i, "expected '||'");
		p->tok = TOK_OR;
		p->tok_len = 2;
		break;
	case '"':
	case '\'': {
		const char *end = strchr(t + i + 1, t[i]);

		if (!end)
			return p_error(p, i, "unterminated string");
		p->tok = TOK_STRING;
		p->tok_data = i + 1;
		p->tok_len = (size_t)(end - (t + i + 1));
		p->pos = (size_t)(end - t) + 1;
		return 0;
	}
	default:
		if (!is_word_char(t[i])) {
			char c[2] = {t[i], 0};

			return p_error(p, i, "unexpected character '%s'", c);
		}
		p->tok = TOK_WORD;
		p->tok_data = i;
		p->tok_len = 0;
		while (is_word_char(t[i + p->tok_len]))
			p->tok_len++;
		p->pos = i + p->tok_len;
		return 0;
	}
	p->pos = i + p->tok_len;
	return 0;
}

static bool word_is(const struct parser *p, const char *w)
{
	return p->tok == TOK_WORD && strlen(w) == p->tok_len &&
	       memcmp(p->text + p->tok_data, w, p->tok_len) == 0;
}

static char *tok_dup(const struct parser *p)
{
	return strndup(p->text + p->tok_data, p->tok_len);
}

/* Calico LabelKeyMatcher: ([a-zA-Z0-9_.\-/]{0,253}/)?[a-zA-Z0-9]([a-zA-Z0-9_.-]{0,61}[a-zA-Z0-9])? */
static bool label_key_valid(const char *k, size_t len)
{
	const char *slash = memrchr(k, '/', len);
	const char *name = slash ? slash + 1 : k;
	size_t nlen = len - (size_t)(name - k);

	if (slash && (size_t)(slash - k) > 253)
		return false;
	if (nlen < 1 || nlen > 63 || !is_alnum(name[0]) || !is_alnum(name[nlen - 1]))
		return false;
	for (size_t i = 0; i < nlen; i++)
		if (name[i] == '/')
			return false;
	return true;
}

static int parse_or(struct parser *p, struct sel_node **ret);

static int expect(struct parser *p, enum tok t, const char *what)
{
	if (p->tok != t)
		return p_error(p, p->tok_pos, "expected %s", what);
	return next(p);
}

static int parse_string(struct parser *p, char **ret)
{
	char *s;
	int r;

	if (p->tok != TOK_STRING)
		return p_error(p, p->tok_pos, "expected a quoted string");
	s = tok_dup(p);
	if (!s)
		return -ENOMEM;
	r = next(p);
	if (r < 0) {
		free(s);
		return r;
	}
	*ret = s;
	return 0;
}

static int parse_set(struct parser *p, struct sel_node *n)
{
	int r;

	r = expect(p, TOK_LBRACE, "'{'");
	if (r < 0)
		return r;
	if (p->tok == TOK_RBRACE)
		return next(p);
	for (;;) {
		char *v;

		if (n->n_values >= SEL_MAX_VALUES)
			return p_error(p, p->tok_pos, "more than %d values in a set",
				       SEL_MAX_VALUES);
		if (n->n_values % 16 == 0) {
			char **nv = realloc(n->values, (n->n_values + 16) * sizeof(char *));

			if (!nv)
				return -ENOMEM;
			n->values = nv;
		}
		r = parse_string(p, &v);
		if (r < 0)
			return r;
		n->values[n->n_values++] = v;
		if (p->tok == TOK_RBRACE)
			return next(p);
		if (p->tok != TOK_COMMA)
			return p_error(p, p->tok_pos, "expected ',' or '}'");
		r = next(p);
		if (r < 0)
			return r;
	}
}

/* "word(" ")" for all() and global(); we are on the word. */
static int parse_empty_call(struct parser *p, enum sel_op op, struct sel_node **ret)
{
	_cleanup_(node_freep) struct sel_node *n = NULL;
	int r;

	r = next(p);
	if (r < 0)
		return r;
	r = expect(p, TOK_LPAREN, "'('");
	if (r < 0)
		return r;
	r = expect(p, TOK_RPAREN, "')'");
	if (r < 0)
		return r;
	n = node_new(op);
	if (!n)
		return -ENOMEM;
	r = node_finish(n);
	if (r < 0)
		return r;
	*ret = TAKE_PTR(n);
	return 0;
}

static int parse_primary(struct parser *p, struct sel_node **ret)
{
	_cleanup_(node_freep) struct sel_node *n = NULL;
	size_t key_pos;
	int r;

	if (p->tok == TOK_LPAREN) {
		size_t open = p->tok_pos;

		if (++p->depth > SEL_MAX_DEPTH)
			return p_error(p, p->tok_pos, "nested deeper than %d levels",
				       SEL_MAX_DEPTH);
		r = next(p);
		if (r < 0)
			return r;
		r = parse_or(p, &n);
		if (r < 0)
			return r;
		if (p->tok != TOK_RPAREN) {
			if (p->err)
				parse_err_set(p->err, NULL, 1, (unsigned)p->tok_pos + 1, NULL,
					      "expected ')' (to close '(' at column %zu)",
					      open + 1);
			return -EINVAL;
		}
		r = next(p);
		if (r < 0)
			return r;
		p->depth--;
		*ret = TAKE_PTR(n);
		return 0;
	}
	if (p->tok != TOK_WORD)
		return p_error(p, p->tok_pos,
			       "expected a label, has(), all(), global(), '!' or '('");

	/* Peek: a keyword call is the word followed by '(' (possibly after blanks). */
	{
		const char *q = p->text + p->pos;

		while (*q == ' ' || *q == '\t' || *q == '\n' || *q == '\r')
			q++;
		if (*q == '(') {
			if (word_is(p, "all"))
				return parse_empty_call(p, SEL_OP_ALL, ret);
			if (word_is(p, "global"))
				return parse_empty_call(p, SEL_OP_GLOBAL, ret);
			if (word_is(p, "has")) {
				r = next(p);
				if (r < 0)
					return r;
				r = next(p); /* the '(' */
				if (r < 0)
					return r;
				if (p->tok != TOK_WORD ||
				    !label_key_valid(p->text + p->tok_data, p->tok_len))
					return p_error(p, p->tok_pos,
						       "expected a label key in has()");
				n = node_new(SEL_OP_HAS);
				if (!n || !(n->label = tok_dup(p)))
					return -ENOMEM;
				r = next(p);
				if (r < 0)
					return r;
				r = expect(p, TOK_RPAREN, "')'");
				if (r < 0)
					return r;
				r = node_finish(n);
				if (r < 0)
					return r;
				*ret = TAKE_PTR(n);
				return 0;
			}
		}
	}

	key_pos = p->tok_pos;
	if (!label_key_valid(p->text + p->tok_data, p->tok_len)) {
		_cleanup_free_ char *k = tok_dup(p);

		return p_error(p, key_pos, "invalid label key \"%s\"", k);
	}
	n = node_new(SEL_OP_ALL);
	if (!n || !(n->label = tok_dup(p)))
		return -ENOMEM;
	r = next(p);
	if (r < 0)
		return r;
	if (p->tok == TOK_EQ || p->tok == TOK_NE) {
		n->op = p->tok == TOK_EQ ? SEL_OP_EQ : SEL_OP_NE;
		r = next(p);
		if (r >= 0)
			r = parse_string(p, &n->value);
	} else if (word_is(p, "in")) {
		n->op = SEL_OP_IN;
		r = next(p);
		if (r >= 0)
			r = parse_set(p, n);
	} else if (word_is(p, "not")) {
		n->op = SEL_OP_NOT_IN;
		r = next(p);
		if (r >= 0 && !word_is(p, "in"))
			r = p_error(p, p->tok_pos, "expected 'in' after 'not'");
		if (r >= 0)
			r = next(p);
		if (r >= 0)
			r = parse_set(p, n);
	} else if (word_is(p, "notin")) { /* Calico's tokenizer: not\s*in */
		n->op = SEL_OP_NOT_IN;
		r = next(p);
		if (r >= 0)
			r = parse_set(p, n);
	} else if (word_is(p, "contains")) {
		n->op = SEL_OP_CONTAINS;
		r = next(p);
		if (r >= 0)
			r = parse_string(p, &n->value);
	} else if (word_is(p, "starts") || word_is(p, "ends")) {
		n->op = word_is(p, "starts") ? SEL_OP_STARTS : SEL_OP_ENDS;
		r = next(p);
		if (r >= 0 && !word_is(p, "with"))
			r = p_error(p, p->tok_pos, "expected 'with'");
		if (r >= 0)
			r = next(p);
		if (r >= 0)
			r = parse_string(p, &n->value);
	} else {
		return p_error(p, p->tok_pos, "expected an operator after label \"%s\"", n->label);
	}
	if (r < 0)
		return r;
	r = node_finish(n);
	if (r < 0)
		return r;
	*ret = TAKE_PTR(n);
	return 0;
}

static int parse_unary(struct parser *p, struct sel_node **ret)
{
	_cleanup_(node_freep) struct sel_node *n = NULL;
	int r;

	if (p->tok != TOK_NOT)
		return parse_primary(p, ret);
	if (++p->depth > SEL_MAX_DEPTH)
		return p_error(p, p->tok_pos, "nested deeper than %d levels", SEL_MAX_DEPTH);
	r = next(p);
	if (r < 0)
		return r;
	n = node_new(SEL_OP_NOT);
	if (!n || !(n->kids = calloc(1, sizeof(*n->kids))))
		return -ENOMEM;
	r = parse_unary(p, &n->kids[0]);
	if (r < 0)
		return r;
	n->n_kids = 1;
	p->depth--;
	r = node_finish(n);
	if (r < 0)
		return r;
	*ret = TAKE_PTR(n);
	return 0;
}

/* One "a OP b OP c ..." chain: every operand is parsed first, then the n-ary node is finished
 * once (flattened, sorted, de-duplicated, its text built), so a chain of n operands costs
 * O(n log n) comparisons and O(text) bytes. Folding pair by pair would re-sort and re-print the
 * whole chain for every operand, O(n^2); the result is the same set of operands either way. */
static int parse_chain(struct parser *p, enum sel_op op, struct sel_node **ret)
{
	_cleanup_(node_freep) struct sel_node *n = node_new(op);
	enum tok t = op == SEL_OP_AND ? TOK_AND : TOK_OR;
	size_t cap = 0;
	int r;

	if (!n)
		return -ENOMEM;
	for (;;) {
		if (n->n_kids == cap) {
			size_t ncap = cap ? cap * 2 : 4;
			struct sel_node **nk = realloc(n->kids, ncap * sizeof(*nk));

			if (!nk)
				return -ENOMEM;
			n->kids = nk;
			cap = ncap;
		}
		r = op == SEL_OP_AND ? parse_unary(p, &n->kids[n->n_kids])
				     : parse_chain(p, SEL_OP_AND, &n->kids[n->n_kids]);
		if (r < 0)
			return r;
		n->n_kids++;
		if (p->tok != t)
			break;
		r = next(p);
		if (r < 0)
			return r;
	}
	if (n->n_kids == 1) {
		*ret = TAKE_PTR(n->kids[0]);
		n->n_kids = 0;
		return 0;
	}
	r = node_finish(n);
	if (r < 0)
		return r;
	*ret = TAKE_PTR(n);
	return 0;
}

static int parse_or(struct parser *p, struct sel_node **ret)
{
	return parse_chain(p, SEL_OP_OR, ret);
}

static int sel_wrap(struct sel_node *root, struct sel **ret)
{
	struct sel *s = calloc(1, sizeof(*s));

	if (!s) {
		node_free(root);
		return -ENOMEM;
	}
	s->root = root;
	s->hash = sel_fnv1a64(root->canon, strlen(root->canon));
	*ret = s;
	return 0;
}

/* Nesting of the canonical text: it prints every && and || in parentheses and every ! as is,
 * so "a == 'x' && !!...b == 'y'" nests one level deeper than its input. */
static unsigned node_depth(const struct sel_node *n)
{
	unsigned d = 0;

	for (size_t i = 0; i < n->n_kids; i++) {
		unsigned k = node_depth(n->kids[i]); /* not inside MAX(): it evaluates twice */

		d = MAX(d, k);
	}
	return d + (n->n_kids > 0);
}

int sel_parse(const char *text, struct sel **ret, struct parse_err *reterr)
{
	_cleanup_(node_freep) struct sel_node *root = NULL;
	struct parser p = {.text = text ? text : "", .err = reterr};
	int r;

	if (strnlen(p.text, SEL_MAX_TEXT + 1) > SEL_MAX_TEXT)
		return p_error(&p, SEL_MAX_TEXT, "selector longer than %d bytes", SEL_MAX_TEXT);
	r = next(&p);
	if (r < 0)
		return r;
	if (p.tok == TOK_EOF) {
		root = node_new(SEL_OP_ALL);
		if (!root)
			return -ENOMEM;
		r = node_finish(root);
	} else {
		r = parse_or(&p, &root);
		if (r >= 0 && p.tok != TOK_EOF)
			r = p_error(&p, p.tok_pos,
				    p.tok == TOK_RPAREN ? "unexpected ')'"
							: "expected '&&', '||' or the end");
	}
	if (r < 0)
		return r;
	/* The canonical text spells operators out ("a==''" -> "a == \"\""), so it can outgrow
	 * the input; refuse what would not parse back. */
	if (strlen(root->canon) > SEL_MAX_TEXT)
		return p_error(&p, 0, "selector longer than %d bytes in canonical form",
			       SEL_MAX_TEXT);
	if (node_depth(root) > SEL_MAX_DEPTH)
		return p_error(&p, 0, "nested deeper than %d levels in canonical form",
			       SEL_MAX_DEPTH);
	return sel_wrap(TAKE_PTR(root), ret);
}

/* ---- matching ---- */

const char *sel_subject_get(const struct sel_subject *s, const char *key)
{
	static const size_t pfx = sizeof(SEL_NS_LABEL_PREFIX) - 1;
	const char *v;

	/* Every special key starts with 'p' (SEL_LABEL_NAMESPACE, SEL_LABEL_ORCHESTRATOR and
	 * SEL_NS_LABEL_PREFIX: "projectcalico.org/", "pcns."): an ordinary label
	 * such as "app" costs one byte compare here, not three string compares, and this runs
	 * for every selector term against every endpoint in a full calculation. */
	if (key[0] != 'p')
		return s->labels ? model_labels_get(s->labels, key) : NULL;
	if (strcmp(key, SEL_LABEL_NAMESPACE) == 0)
		return s->namespace ? s->namespace
				    : (s->labels ? model_labels_get(s->labels, key) : NULL);
	if (strncmp(key, SEL_NS_LABEL_PREFIX, pfx) == 0) {
		if (strcmp(key + pfx, SEL_LABEL_NAME) == 0 && s->namespace)
			return s->namespace;
		if (s->namespace_labels)
			return model_labels_get(s->namespace_labels, key + pfx);
	}
	v = s->labels ? model_labels_get(s->labels, key) : NULL;
	if (!v && s->orchestrator && strcmp(key, SEL_LABEL_ORCHESTRATOR) == 0)
		return s->orchestrator;
	return v;
}

static bool node_match(const struct sel_node *n, const struct sel_subject *s)
{
	const char *v;

	switch (n->op) {
	case SEL_OP_ALL:
		return true;
	case SEL_OP_GLOBAL:
		return sel_subject_get(s, SEL_LABEL_NAMESPACE) == NULL;
	case SEL_OP_NOT:
		return !node_match(n->kids[0], s);
	case SEL_OP_AND:
		for (size_t i = 0; i < n->n_kids; i++)
			if (!node_match(n->kids[i], s))
				return false;
		return true;
	case SEL_OP_OR:
		for (size_t i = 0; i < n->n_kids; i++)
			if (node_match(n->kids[i], s))
				return true;
		return false;
	default:
		break;
	}
	v = sel_subject_get(s, n->label);
	switch (n->op) {
	case SEL_OP_HAS:
		return v != NULL;
	case SEL_OP_EQ:
		return v && strcmp(v, n->value) == 0;
	case SEL_OP_NE:
		return !v || strcmp(v, n->value) != 0;
	case SEL_OP_CONTAINS:
		return v && strstr(v, n->value) != NULL;
	case SEL_OP_STARTS:
		return v && strncmp(v, n->value, strlen(n->value)) == 0;
	case SEL_OP_ENDS: {
		size_t lv, ln;

		if (!v)
			return false;
		lv = strlen(v);
		ln = strlen(n->value);
		return lv >= ln && strcmp(v + lv - ln, n->value) == 0;
	}
	case SEL_OP_IN:
	case SEL_OP_NOT_IN: {
		bool found = false;

		if (v)
			found = array_find(&v, n->values, n->n_values, sizeof(char *),
					   array_cmp_str) != NULL;
		return n->op == SEL_OP_IN ? found : !found;
	}
	default:
		return false;
	}
}

bool sel_match_subject(const struct sel *s, const struct sel_subject *subj)
{
	return node_match(s->root, subj);
}

/* A leaf test "the value of n->label is one of these" (== or a non-empty in {}); its values in
 * *@ret_values / *@ret_n. */
static bool node_required(const struct sel_node *n, char *const **ret_values, size_t *ret_n)
{
	if (n->op == SEL_OP_EQ) {
		*ret_values = &n->value;
		*ret_n = 1;
		return true;
	}
	if (n->op == SEL_OP_IN && n->n_values) {
		*ret_values = n->values;
		*ret_n = n->n_values;
		return true;
	}
	return false;
}

bool sel_required_values(const struct sel *s, const char **ret_key, char *const **ret_values,
			 size_t *ret_n)
{
	const struct sel_node *n = s->root, *best = NULL;
	char *const *best_v = NULL;
	size_t best_n = 0;

	if (n->op != SEL_OP_AND) {
		if (!node_required(n, &best_v, &best_n))
			return false;
		best = n;
	}
	for (size_t i = 0; n->op == SEL_OP_AND && i < n->n_kids; i++) {
		char *const *v;
		size_t k;
		bool ns, best_ns;

		if (!node_required(n->kids[i], &v, &k))
			continue;
		ns = strcmp(n->kids[i]->label, SEL_LABEL_NAMESPACE) == 0;
		best_ns = best && strcmp(best->label, SEL_LABEL_NAMESPACE) == 0;
		if (!best || (best_ns && !ns) || (best_ns == ns && k < best_n)) {
			best = n->kids[i];
			best_v = v;
			best_n = k;
		}
	}
	if (!best)
		return false;
	*ret_key = best->label;
	*ret_values = best_v;
	*ret_n = best_n;
	return true;
}

bool sel_match(const struct sel *s, const struct model_labels *labels)
{
	struct sel_subject subj = {.labels = labels};

	return node_match(s->root, &subj);
}

/* ---- output ---- */

const char *sel_canonical(const struct sel *s)
{
	return s->root->canon;
}

int sel_format(const struct sel *s, struct strbuf *out)
{
	return strbuf_puts(out, s->root->canon);
}

uint64_t sel_hash(const struct sel *s)
{
	return s->hash;
}

char *sel_hash_hex(const struct sel *s, char buf[static SEL_HASH_HEXLEN])
{
	snprintf(buf, SEL_HASH_HEXLEN, "%016llx", (unsigned long long)s->hash);
	return buf;
}

bool sel_is_all(const struct sel *s)
{
	return s->root->op == SEL_OP_ALL;
}

/* ---- construction ---- */

static int node_clone(const struct sel_node *n, const char *prefix, struct sel_node **ret)
{
	_cleanup_(node_freep) struct sel_node *c = node_new(n->op);
	int r;

	if (!c)
		return -ENOMEM;
	if (n->label) {
		if (asprintf(&c->label, "%s%s", prefix ? prefix : "", n->label) < 0) {
			c->label = NULL;
			return -ENOMEM;
		}
	}
	if (n->value && !(c->value = strdup(n->value)))
		return -ENOMEM;
	if (n->n_values) {
		c->values = calloc(n->n_values, sizeof(char *));
		if (!c->values)
			return -ENOMEM;
		for (size_t i = 0; i < n->n_values; i++, c->n_values++)
			if (!(c->values[i] = strdup(n->values[i])))
				return -ENOMEM;
	}
	if (n->n_kids) {
		c->kids = calloc(n->n_kids, sizeof(*c->kids));
		if (!c->kids)
			return -ENOMEM;
		for (size_t i = 0; i < n->n_kids; i++, c->n_kids++) {
			r = node_clone(n->kids[i], prefix, &c->kids[i]);
			if (r < 0)
				return r;
		}
	}
	if (prefix) {
		r = node_finish(c); /* the labels changed: sort and print again */
		if (r < 0)
			return r;
	} else if (!(c->canon = strdup(n->canon))) {
		/* A finished node's operands are already flat, sorted and unique: the copy's
		 * canonical text is the original's (node_finish() would print the same). */
		return -ENOMEM;
	}
	*ret = TAKE_PTR(c);
	return 0;
}

int sel_clone(const struct sel *s, struct sel **ret)
{
	struct sel_node *root = NULL;
	struct sel *c;

	if (node_clone(s->root, NULL, &root) < 0)
		return -ENOMEM;
	c = calloc(1, sizeof(*c));
	if (!c) {
		node_free(root);
		return -ENOMEM;
	}
	c->root = root;
	c->hash = s->hash;
	*ret = c;
	return 0;
}

int sel_and(const struct sel *a, const struct sel *b, struct sel **ret)
{
	struct sel_node *x = NULL, *y = NULL, *root = NULL;
	int r;

	if (!a || sel_is_all(a))
		return b ? (node_clone(b->root, NULL, &root) < 0 ? -ENOMEM : sel_wrap(root, ret))
			 : sel_parse(NULL, ret, NULL);
	if (!b || sel_is_all(b))
		return node_clone(a->root, NULL, &root) < 0 ? -ENOMEM : sel_wrap(root, ret);
	r = node_clone(a->root, NULL, &x);
	if (r < 0)
		return r;
	r = node_clone(b->root, NULL, &y);
	if (r < 0) {
		node_free(x);
		return r;
	}
	r = node_pair(SEL_OP_AND, x, y, &root);
	if (r < 0)
		return r;
	return sel_wrap(root, ret);
}

int sel_namespace_scope(const struct sel *nssel, struct sel **ret)
{
	struct sel_node *root = NULL;
	int r;

	if (sel_is_all(nssel))
		return sel_parse("has(" SEL_LABEL_NAMESPACE ")", ret, NULL);
	r = node_clone(nssel->root, SEL_NS_LABEL_PREFIX, &root);
	if (r < 0)
		return r;
	return sel_wrap(root, ret);
}

int sel_in_namespace(const char *ns, struct sel **ret)
{
	_cleanup_(node_freep) struct sel_node *n = NULL;
	int r;

	if (!ns)
		return -EINVAL;
	n = node_new(SEL_OP_EQ);
	if (!n || !(n->label = strdup(SEL_LABEL_NAMESPACE)) || !(n->value = strdup(ns)))
		return -ENOMEM;
	r = node_finish(n);
	if (r < 0)
		return r;
	return sel_wrap(TAKE_PTR(n), ret);
}
