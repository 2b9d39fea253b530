/* SPDX-License-Identifier: Apache-2.0 */
/*
 * DOC: nftables policy driver (libnftables; `table inet tabby` only).
 *
 * Full sync: the acl_render_nft() script as it is, ONE nft_run_cmd_from_buffer() call, which
 * nft sends as one netlink batch: "table inet tabby" (create if missing), "delete table inet
 * tabby", the new definition. The kernel switches atomically; no other table is looked at.
 *
 * Steady state: the script is parsed into objects (sets and maps with their element lines,
 * chains with their rule lines; the renderer prints one element or rule per line) and compared
 * with the objects of the last successful apply (sort-merge by name, STYLE.md 8.5). The
 * difference is one small transaction:
 *   1. new sets (add set + add element), element removals then additions in existing sets;
 *   2. new chains declared (add chain), changed chains flushed, then their rules added;
 *   3. map (dispatch) element removals then additions, now that the target chains exist;
 *   4. removed chains flushed, then deleted (flush first: removed chains may jump to each
 *      other).
 * Sets that disappeared are deleted by felix_nft_finish(), after routes and BIRD (STYLE.md
 * 5.4). A workload appearing anywhere in the cluster is an "add element" on the sets that
 * select it; a new local workload adds its two chains, its policy chains if new, and its
 * dispatch map elements. A changed declaration (set type or comment, chain hook or comment)
 * falls back to the full script, and so does any failure of the small transaction.
 *
 * Element-only deltas (remote endpoints) skip libnftables, whose cache fill reads every element
 * of the table first: they go as one raw nf_tables batch (nft-elem.c, libnftnl); whatever that
 * cannot encode, or everything when the batch fails, takes the libnftables path above.
 *
 * After a restart the driver knows nothing, so the first apply is a full replace, which also
 * removes whatever an older felix left in our table.
 */
#include <errno.h>
#include <nftables/libnftables.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "felix/dataplane/policy/nft-elem.h"
#include "felix/dataplane/policy/backend.h"
#include "lib/log.h"
#include "lib/strbuf.h"

#define TABLE "inet tabby"

struct obj {
	char kind; /* 's' set, 'm' map, 'c' chain */
	char *name;
	char *decl;   /* declaration lines joined with "; " */
	char **items; /* sets/maps: element texts, sorted; chains: rule lines in order */
	size_t n, cap;
};

struct model {
	struct obj *v; /* sorted by kind, then name */
	size_t n, cap;
};

struct felix_nft {
	struct nft_ctx *ctx;
	bool have; /* @cur describes the kernel */
	struct model cur;
	char **stale; /* "set NAME" / "map NAME" left for felix_nft_finish() */
	size_t n_stale;
	bool fast_logged; /* the libnftnl element path was announced in the log */
};

static void obj_done(struct obj *o)
{
	free(o->name);
	free(o->decl);
	for (size_t i = 0; i < o->n; i++) {
		free(o->items[i]);
	}
	free(o->items);
	*o = (struct obj){0};
}

static void model_done(struct model *m)
{
	for (size_t i = 0; i < m->n; i++) {
		obj_done(&m->v[i]);
	}
	free(m->v);
	*m = (struct model){0};
}

static void stale_clear(struct felix_nft *n)
{
	for (size_t i = 0; i < n->n_stale; i++) {
		free(n->stale[i]);
	}
	free(n->stale);
	n->stale = NULL;
	n->n_stale = 0;
}

int felix_nft_new(struct felix_nft **ret)
{
	struct felix_nft *n = calloc(1, sizeof(*n));
	if (!n) {
		return -ENOMEM;
	}
	n->ctx = nft_ctx_new(NFT_CTX_DEFAULT);
	if (!n->ctx) {
		free(n);
		return -ENOMEM;
	}
	nft_ctx_buffer_output(n->ctx);
	nft_ctx_buffer_error(n->ctx);
	*ret = n;
	return 0;
}

struct felix_nft *felix_nft_free(struct felix_nft *n)
{
	if (!n) {
		return NULL;
	}
	model_done(&n->cur);
	stale_clear(n);
	nft_ctx_free(n->ctx);
	free(n);
	return NULL;
}

void felix_nft_forget(struct felix_nft *n)
{
	model_done(&n->cur);
	n->have = false;
}

/* Run @buf as one transaction; on failure copy nft's error text into @err. */
static int run(struct felix_nft *n, const char *buf, char *err, size_t errlen)
{
	int r = nft_run_cmd_from_buffer(n->ctx, buf);
	const char *e = nft_ctx_get_error_buffer(n->ctx);
	(void)nft_ctx_get_output_buffer(n->ctx); /* reset the output buffer */
	if (r != 0) {
		if (err && errlen) {
			snprintf(err, errlen, "%s", e && e[0] ? e : "nft failed");
			/* one line is enough for the status file */
			for (char *p = err; *p; p++) {
				if (*p == '\n') {
					*p = p[1] ? ' ' : '\0';
				}
			}
		}
		return -EINVAL;
	}
	return 0;
}

/* ---- parsing the renderer's script ---- */

static int obj_add_item(struct obj *o, const char *s, size_t len)
{
	if (o->n == o->cap) {
		size_t nc = o->cap ? o->cap * 2 : 8;
		char **nv = reallocarray(o->items, nc, sizeof(*nv));
		if (!nv) {
			return -ENOMEM;
		}
		o->items = nv;
		o->cap = nc;
	}
	char *c = strndup(s, len);
	if (!c) {
		return -ENOMEM;
	}
	o->items[o->n++] = c;
	return 0;
}

static int obj_add_decl(struct obj *o, const char *s, size_t len)
{
	char *d;
	int r = o->decl ? asprintf(&d, "%s; %.*s", o->decl, (int)len, s)
			: asprintf(&d, "%.*s", (int)len, s);
	if (r < 0) {
		return -ENOMEM;
	}
	free(o->decl);
	o->decl = d;
	return 0;
}

static int str_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int obj_cmp(const void *a, const void *b)
{
	const struct obj *x = a, *y = b;
	if (x->kind != y->kind) {
		return x->kind < y->kind ? -1 : 1;
	}
	return strcmp(x->name, y->name);
}

static int parse_script(const char *script, struct model *ret)
{
	struct model m = {0};
	struct obj *cur = NULL;
	bool in_table = false;
	int r = 0;

	for (const char *p = script; *p && r >= 0;) {
		const char *eol = strchr(p, '\n');
		size_t len = eol ? (size_t)(eol - p) : strlen(p);
		const char *next = eol ? eol + 1 : p + len;

		if (!in_table) {
			in_table = len == strlen("table " TABLE " {") &&
				   strncmp(p, "table " TABLE " {", len) == 0;
		} else if (!cur) {
			char kind[8], name[128];
			if (len > 2 && p[0] == '\t' && p[1] != '\t' &&
			    sscanf(p, "\t%7s %127s {", kind, name) == 2) {
				if (m.n == m.cap) {
					size_t nc = m.cap ? m.cap * 2 : 64;
					struct obj *nv = reallocarray(m.v, nc, sizeof(*nv));
					if (!nv) {
						r = -ENOMEM;
						break;
					}
					m.v = nv;
					m.cap = nc;
				}
				cur = &m.v[m.n++];
				*cur = (struct obj){.kind = strcmp(kind, "chain") == 0 ? 'c'
							    : strcmp(kind, "map") == 0 ? 'm'
										       : 's',
						    .name = strdup(name)};
				if (!cur->name) {
					r = -ENOMEM;
				}
			}
		} else if (len == 2 && p[0] == '\t' && p[1] == '}') {
			if (cur->kind != 'c' && cur->n > 1) {
				qsort(cur->items, cur->n, sizeof(char *), str_cmp);
			}
			cur = NULL;
		} else {
			const char *s = p;
			size_t l = len;
			while (l && *s == '\t') {
				s++;
				l--;
			}
			if (cur->kind == 'c') {
				if ((l >= 5 && strncmp(s, "type ", 5) == 0) ||
				    (l >= 8 && strncmp(s, "comment ", 8) == 0)) {
					r = obj_add_decl(cur, s, l);
				} else if (l) {
					r = obj_add_item(cur, s, l);
				}
			} else {
				bool elem = false;
				if (l >= 13 && strncmp(s, "elements = { ", 13) == 0) {
					s += 13;
					l -= 13;
					elem = true;
				} else if (p[0] == '\t' && len > 3 && p[3] == ' ') {
					/* continuation: "\t\t\t     elem," */
					while (l && *s == ' ') {
						s++;
						l--;
					}
					elem = true;
				}
				if (elem) {
					if (l >= 2 && strncmp(s + l - 2, " }", 2) == 0) {
						l -= 2;
					} else if (l >= 1 && s[l - 1] == ',') {
						l -= 1;
					}
					r = obj_add_item(cur, s, l);
				} else if (l) {
					r = obj_add_decl(cur, s, l);
				}
			}
		}
		p = next;
	}
	if (r < 0) {
		model_done(&m);
		return r;
	}
	if (!in_table) {
		model_done(&m);
		return -EINVAL;
	}
	qsort(m.v, m.n, sizeof(*m.v), obj_cmp);
	*ret = m;
	return 0;
}

/* ---- diff ---- */

static const char *kw(const struct obj *o)
{
	return o->kind == 'c' ? "chain" : o->kind == 'm' ? "map" : "set";
}

static bool items_equal(const struct obj *a, const struct obj *b)
{
	if (a->n != b->n) {
		return false;
	}
	for (size_t i = 0; i < a->n; i++) {
		if (strcmp(a->items[i], b->items[i]) != 0) {
			return false;
		}
	}
	return true;
}

/* "add|delete element inet tabby NAME { e, e }" for the elements of @a not in @b (both
 * sorted), in chunks of 1000 elements. */
static int elems_diff(struct strbuf *sb, const char *verb, const struct obj *o, char **a, size_t na,
		      char **b, size_t nb, size_t *count)
{
	size_t i = 0, j = 0, k = 0;
	int r = 0;

	while (i < na && r >= 0) {
		int d = j < nb ? strcmp(a[i], b[j]) : -1;
		if (d > 0) {
			j++;
			continue;
		}
		if (d == 0) {
			i++;
			j++;
			continue;
		}
		if (k == 0) {
			r = strbuf_printf(sb, "%s element " TABLE " %s { %s", verb, o->name, a[i]);
		} else {
			r = strbuf_printf(sb, ", %s", a[i]);
		}
		(*count)++;
		if (++k == 1000 && r >= 0) {
			r = strbuf_puts(sb, " }\n");
			k = 0;
		}
		i++;
	}
	if (k && r >= 0) {
		r = strbuf_puts(sb, " }\n");
	}
	return r;
}

static int decl_block(struct strbuf *sb, const struct obj *o)
{
	return strbuf_printf(sb, "add %s " TABLE " %s { %s; }\n", kw(o), o->name,
			     o->decl ? o->decl : "");
}

/*
 * The incremental script from @old to @new; *ret_full = true when a declaration changed.
 * Removed sets/maps are returned in @stale ("set NAME").
 */
static int diff(const struct model *old, const struct model *new, struct strbuf *sb, bool *ret_full,
		char ***ret_stale, size_t *ret_n_stale, struct felix_pol_stats *st)
{
	struct strbuf chains = {0}, maps = {0}, rules = {0}, dels = {0}, flushes = {0};
	char **stale = NULL;
	size_t n_stale = 0;
	size_t i = 0, j = 0;
	int r = 0;

	*ret_full = false;
	stale = calloc(old->n + 1, sizeof(*stale));
	if (!stale) {
		return -ENOMEM;
	}
	while ((i < old->n || j < new->n) && r >= 0) {
		const struct obj *o = i < old->n ? &old->v[i] : NULL;
		const struct obj *w = j < new->n ? &new->v[j] : NULL;
		int d = !o ? 1 : !w ? -1 : obj_cmp(o, w);

		if (d < 0) { /* removed */
			if (o->kind == 'c') {
				r = strbuf_printf(&flushes, "flush chain " TABLE " %s\n", o->name);
				if (r >= 0) {
					r = strbuf_printf(&dels, "delete chain " TABLE " %s\n",
							  o->name);
				}
				st->chains_removed++;
			} else if (asprintf(&stale[n_stale], "%s %s", kw(o), o->name) < 0) {
				r = -ENOMEM;
			} else {
				n_stale++;
			}
			i++;
			continue;
		}
		if (d > 0) { /* new */
			if (w->kind == 'c') {
				r = decl_block(&chains, w);
				for (size_t k = 0; k < w->n && r >= 0; k++) {
					r = strbuf_printf(&rules, "add rule " TABLE " %s %s\n",
							  w->name, w->items[k]);
				}
				st->chains_written++;
			} else {
				struct strbuf *t = w->kind == 'm' ? &maps : sb;
				r = decl_block(t, w);
				if (r >= 0) {
					r = elems_diff(t, "add", w, w->items, w->n, NULL, 0,
						       &st->elems_added);
				}
			}
			j++;
			continue;
		}
		/* both */
		if ((o->decl || w->decl) && (!o->decl || !w->decl || strcmp(o->decl, w->decl))) {
			*ret_full = true;
			break;
		}
		if (w->kind == 'c') {
			if (!items_equal(o, w)) {
				r = strbuf_printf(&chains, "flush chain " TABLE " %s\n", w->name);
				for (size_t k = 0; k < w->n && r >= 0; k++) {
					r = strbuf_printf(&rules, "add rule " TABLE " %s %s\n",
							  w->name, w->items[k]);
				}
				st->chains_written++;
			}
		} else {
			struct strbuf *t = w->kind == 'm' ? &maps : sb;
			r = elems_diff(t, "delete", w, o->items, o->n, w->items, w->n,
				       &st->elems_removed);
			if (r >= 0) {
				r = elems_diff(t, "add", w, w->items, w->n, o->items, o->n,
					       &st->elems_added);
			}
		}
		i++;
		j++;
	}
	struct strbuf *parts[] = {&chains, &rules, &maps, &flushes, &dels};
	for (size_t k = 0; k < ELEMENTSOF(parts) && r >= 0 && !*ret_full; k++) {
		if (parts[k]->len) {
			r = strbuf_append(sb, parts[k]->buf, parts[k]->len);
		}
	}
	for (size_t k = 0; k < ELEMENTSOF(parts); k++) {
		strbuf_done(parts[k]);
	}
	if (r < 0 || *ret_full) {
		for (size_t k = 0; k < n_stale; k++) {
			free(stale[k]);
		}
		free(stale);
		return r;
	}
	*ret_stale = stale;
	*ret_n_stale = n_stale;
	return 0;
}

int felix_nft_apply(struct felix_nft *n, const char *script, bool force_full,
		    struct felix_pol_stats *st, char *err, size_t errlen)
{
	struct model new = {0};
	struct felix_pol_stats s = {0};
	int r;

	r = parse_script(script, &new);
	if (r < 0) {
		snprintf(err, errlen, "cannot parse the rendered nft script");
		return r;
	}
	if (n->have && !force_full) {
		_cleanup_strbuf_ struct strbuf sb = {0};
		char **stale = NULL;
		size_t n_stale = 0;
		bool full = false;

		r = diff(&n->cur, &new, &sb, &full, &stale, &n_stale, &s);
		if (r < 0) {
			model_done(&new);
			return r;
		}
		if (!full) {
			if (sb.len == 0) {
				s.noop = true;
				r = 0;
			} else {
				s.bytes = sb.len;
				r = run(n, strbuf_cstr(&sb), err, errlen);
			}
			if (r >= 0) {
				for (size_t k = 0; k < n_stale; k++) {
					char **ns =
					    reallocarray(n->stale, n->n_stale + 1, sizeof(*ns));
					if (!ns) {
						free(stale[k]);
						continue;
					}
					n->stale = ns;
					n->stale[n->n_stale++] = stale[k];
				}
				free(stale);
				model_done(&n->cur);
				n->cur = new;
				if (st) {
					*st = s;
				}
				return 0;
			}
			log_warn("incremental nft transaction failed (%s), replacing the table",
				 err);
			for (size_t k = 0; k < n_stale; k++) {
				free(stale[k]);
			}
			free(stale);
		}
	}
	s = (struct felix_pol_stats){.full = true, .bytes = strlen(script)};
	r = run(n, script, err, errlen);
	if (r < 0) {
		model_done(&new);
		return r;
	}
	stale_clear(n);
	model_done(&n->cur);
	n->cur = new;
	n->have = true;
	if (st) {
		*st = s;
	}
	return 0;
}

bool felix_nft_ready(const struct felix_nft *n)
{
	return n->have;
}

static struct obj *find_obj(const struct model *m, char kind, const char *name)
{
	struct obj key = {.kind = kind, .name = (char *)name};
	return bsearch(&key, m->v, m->n, sizeof(*m->v), obj_cmp);
}

bool felix_nft_has_set(const struct felix_nft *n, const char *name)
{
	return n->have && find_obj(&n->cur, 's', name);
}

/* Our policy sets ("s4-<id>", "n6-<id>", "p4-<id>"): their elements come as deltas. */
static bool policy_set_name(const char *name)
{
	return strchr("snp", name[0]) && (name[1] == '4' || name[1] == '6') && name[2] == '-';
}

static ssize_t item_find(const struct obj *o, const char *s, size_t *ret_pos)
{
	size_t lo = 0, hi = o->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int d = strcmp(o->items[mid], s);
		if (d == 0) {
			return (ssize_t)mid;
		}
		if (d < 0) {
			lo = mid + 1;
		} else {
			hi = mid;
		}
	}
	*ret_pos = lo;
	return -1;
}

/* Apply @e to the set objects of @m (sorted items); changes that are already true are
 * dropped from the script by the caller's checks. */
static int elems_to_model(struct model *m, const struct felix_nft_elem *e, size_t n_e)
{
	for (size_t i = 0; i < n_e; i++) {
		struct obj *o = find_obj(m, 's', e[i].set);
		size_t pos = 0;
		ssize_t k;
		if (!o) {
			continue;
		}
		k = item_find(o, e[i].elem, &pos);
		if (e[i].add && k < 0) {
			char *c = strdup(e[i].elem);
			if (!c || obj_add_item(o, "", 0) < 0) { /* grow by one */
				free(c);
				return -ENOMEM;
			}
			free(o->items[o->n - 1]);
			memmove(o->items + pos + 1, o->items + pos,
				(o->n - 1 - pos) * sizeof(char *));
			o->items[pos] = c;
		} else if (!e[i].add && k >= 0) {
			free(o->items[k]);
			memmove(o->items + k, o->items + k + 1,
				(o->n - (size_t)k - 1) * sizeof(char *));
			o->n--;
		}
	}
	return 0;
}

/* @e changes the set model @m: the set exists and the element is not already as wanted. */
static bool elem_pending(const struct model *m, const struct felix_nft_elem *e)
{
	const struct obj *o = find_obj(m, 's', e->set);
	size_t pos;
	return o && (item_find(o, e->elem, &pos) >= 0) != e->add;
}

/* "delete element" lines, then "add element" lines, for the changes that the model says are
 * not true yet (a set we do not have is skipped: nobody references it); with @skip_fast,
 * only those that felix_nft_elem_apply() cannot send. */
static int elems_script(const struct model *m, const struct felix_nft_elem *e, size_t n_e,
			bool skip_fast, struct strbuf *sb, struct felix_pol_stats *st)
{
	int r = 0;
	for (int pass = 0; pass < 2 && r >= 0; pass++) {
		bool add = pass == 1;
		for (size_t i = 0; i < n_e && r >= 0; i++) {
			if (e[i].add != add || !elem_pending(m, &e[i]) ||
			    (skip_fast && felix_nft_elem_encodable(&e[i]))) {
				continue;
			}
			r = strbuf_printf(sb, "%s element " TABLE " %s { %s }\n",
					  add ? "add" : "delete", e[i].set, e[i].elem);
			if (add) {
				st->elems_added++;
			} else {
				st->elems_removed++;
			}
		}
	}
	return r;
}

/*
 * Send the pending, encodable element changes of @e with felix_nft_elem_apply(). Counts
 * them in @st when they went in; when the batch fails, @st stays zero and the caller's
 * libnftables script carries everything. Return: 0, -ENOMEM.
 */
static int elems_fast(struct felix_nft *n, const struct felix_nft_elem *e, size_t n_e,
		      struct felix_pol_stats *st)
{
	_cleanup_free_ struct felix_nft_elem *v = NULL;
	size_t nv = 0, added = 0;
	char err[256];
	int r;

	v = calloc(n_e + 1, sizeof(*v));
	if (!v) {
		return -ENOMEM;
	}
	for (size_t i = 0; i < n_e; i++) {
		if (elem_pending(&n->cur, &e[i]) && felix_nft_elem_encodable(&e[i])) {
			v[nv++] = e[i];
			added += e[i].add;
		}
	}
	if (nv == 0 || nv > FELIX_NFT_ELEM_MAX) {
		return 0;
	}
	r = felix_nft_elem_apply(v, nv, err, sizeof(err));
	if (r == -ENOMEM) {
		return r;
	}
	if (r < 0) {
		log_info("libnftnl element batch failed (%s), using libnftables", err);
		return 0;
	}
	log_debug("nftables: %zu element change(s) sent via libnftnl netlink batch (%d bytes)", nv,
		  r);
	st->bytes += (size_t)r;
	if (!n->fast_logged) {
		log_info("nftables: set element deltas go through libnftnl netlink batches");
		n->fast_logged = true;
	}
	st->elems_added += added;
	st->elems_removed += nv - added;
	return 0;
}

int felix_nft_apply_delta(struct felix_nft *n, const char *skeleton, const struct felix_nft_elem *e,
			  size_t n_e, struct felix_pol_stats *st, char *err, size_t errlen)
{
	_cleanup_strbuf_ struct strbuf sb = {0};
	struct felix_pol_stats s = {0};
	struct model new = {0};
	char **stale = NULL;
	size_t n_stale = 0;
	int r;

	if (!n->have) {
		snprintf(err, errlen, "no model of the kernel: a full apply is needed");
		return -EAGAIN;
	}
	if (!skeleton) {
		/* Elements only: what netlink can carry goes as one nf_tables batch through
		 * libnftnl (no libnftables cache fill); the rest, or all on failure, as text. */
		r = elems_fast(n, e, n_e, &s);
		if (r < 0) {
			return r;
		}
	}
	r = elems_script(&n->cur, e, n_e, !skeleton && s.elems_added + s.elems_removed, &sb, &s);
	if (r < 0) {
		return r;
	}
	if (skeleton) {
		bool full = false;
		r = parse_script(skeleton, &new);
		if (r < 0) {
			snprintf(err, errlen, "cannot parse the rendered nft script");
			return r;
		}
		/* The elements of the policy sets we have are in @cur (plus @e): carry them over so
		 * that the diff sees no element change there. */
		r = elems_to_model(&n->cur, e, n_e);
		for (size_t i = 0; i < new.n &&r >= 0; i++) {
			struct obj *w = &new.v[i];
			struct obj *o;
			if (w->kind != 's' || !policy_set_name(w->name) ||
			    !(o = find_obj(&n->cur, 's', w->name))) {
				continue;
			}
			for (size_t k = 0; k < w->n; k++) {
				free(w->items[k]);
			}
			free(w->items);
			w->items = o->items;
			w->n = o->n;
			w->cap = o->cap;
			o->items = NULL;
			o->n = o->cap = 0;
			/* @o now has no items: diff() must not delete them; it compares @w with
			 * @o, so give @o a view of the same items for the comparison. */
			o->items = w->items;
			o->n = w->n;
		}
		if (r >= 0) {
			r = diff(&n->cur, &new, &sb, &full, &stale, &n_stale, &s);
		}
		/* Undo the shared views before anything is freed. */
		for (size_t i = 0; i < new.n; i++) {
			struct obj *w = &new.v[i];
			struct obj *o;
			if (w->kind == 's' && policy_set_name(w->name) &&
			    (o = find_obj(&n->cur, 's', w->name)) && o->items == w->items) {
				o->items = NULL;
				o->n = o->cap = 0;
			}
		}
		if (r < 0 || full) {
			model_done(&new);
			felix_nft_forget(n);
			snprintf(err, errlen, "declarations changed: a full apply is needed");
			return r < 0 ? r : -EAGAIN;
		}
	}
	if (sb.len) {
		s.bytes += sb.len;
		r = run(n, strbuf_cstr(&sb), err, errlen);
		if (r < 0) {
			log_warn("incremental nft transaction failed (%s), replacing the table",
				 err);
			for (size_t k = 0; k < n_stale; k++) {
				free(stale[k]);
			}
			free(stale);
			model_done(&new);
			felix_nft_forget(n);
			return -EAGAIN;
		}
	} else if (s.elems_added + s.elems_removed == 0) {
		s.noop = true; /* nothing went to the kernel, not even through libnftnl */
	}
	if (skeleton) {
		for (size_t k = 0; k < n_stale; k++) {
			char **ns = reallocarray(n->stale, n->n_stale + 1, sizeof(*ns));
			if (!ns) {
				free(stale[k]);
				continue;
			}
			n->stale = ns;
			n->stale[n->n_stale++] = stale[k];
		}
		free(stale);
		model_done(&n->cur);
		n->cur = new;
	} else {
		r = elems_to_model(&n->cur, e, n_e);
		if (r < 0) {
			felix_nft_forget(n);
			return r;
		}
	}
	if (st) {
		*st = s;
	}
	return 0;
}

int felix_nft_finish(struct felix_nft *n)
{
	_cleanup_strbuf_ struct strbuf sb = {0};
	char err[1024];
	int r = 0;

	if (!n->n_stale) {
		return 0;
	}
	/* "set NAME" -> "delete set inet tabby NAME" */
	for (size_t i = 0; i < n->n_stale && r >= 0; i++) {
		const char *sp = strchr(n->stale[i], ' ');
		r = strbuf_printf(&sb, "delete %.*s " TABLE " %s\n", (int)(sp - n->stale[i]),
				  n->stale[i], sp + 1);
	}
	if (r >= 0) {
		r = run(n, strbuf_cstr(&sb), err, sizeof(err));
		if (r < 0) {
			log_warn("deleting stale nft sets failed: %s", err);
			felix_nft_forget(n); /* the next apply replaces the table */
		}
	}
	stale_clear(n);
	return r;
}

/* The interface names in the model's fw-dispatch map, or in the kernel's when we have none. */
static bool dispatched(const struct felix_nft *n, const char *kernel_list, const char *ifname)
{
	char q[IFNAMSIZ + 3];
	snprintf(q, sizeof(q), "\"%s\"", ifname);
	if (n->have) {
		struct obj key = {.kind = 'm', .name = (char *)"fw-dispatch"};
		const struct obj *o = bsearch(&key, n->cur.v, n->cur.n, sizeof(*n->cur.v), obj_cmp);
		for (size_t i = 0; o && i < o->n; i++) {
			if (strncmp(o->items[i], q, strlen(q)) == 0) {
				return true;
			}
		}
		return false;
	}
	return kernel_list && strstr(kernel_list, q);
}

int felix_nft_fail_closed(struct felix_nft *n, char (*ifaces)[IFNAMSIZ], size_t n_ifaces, char *err,
			  size_t errlen)
{
	_cleanup_strbuf_ struct strbuf sb = {0};
	char *listing = NULL;
	bool table = n->have;
	size_t added = 0;
	int r = 0;

	if (!n->have) {
		/* No memory: ask the kernel what our table dispatches already. */
		if (nft_run_cmd_from_buffer(n->ctx, "list map " TABLE " fw-dispatch") == 0) {
			listing = strdup(nft_ctx_get_output_buffer(n->ctx) ?: "");
			table = true;
		}
		(void)nft_ctx_get_error_buffer(n->ctx);
	}
	if (!table) {
		r = strbuf_puts(
		    &sb, "table " TABLE " {\n"
			 "\tset wl-ifaces { type ifname; }\n"
			 "\tmap fw-dispatch { type ifname : verdict; }\n"
			 "\tmap tw-dispatch { type ifname : verdict; }\n"
			 "\tchain forward { type filter hook forward priority filter; policy "
			 "accept;\n"
			 "\t\tct state established,related accept\n"
			 "\t\tiifname vmap @fw-dispatch\n\t\toifname vmap @tw-dispatch\n\t}\n"
			 "}\n");
	}
	for (size_t i = 0; i < n_ifaces && r >= 0; i++) {
		if (dispatched(n, listing, ifaces[i])) {
			continue;
		}
		r = strbuf_printf(&sb,
				  "add element " TABLE " fw-dispatch { \"%s\" : drop }\n"
				  "add element " TABLE " tw-dispatch { \"%s\" : drop }\n",
				  ifaces[i], ifaces[i]);
		added++;
	}
	free(listing);
	if (r < 0 || sb.len == 0) {
		return r;
	}
	r = run(n, strbuf_cstr(&sb), err, errlen);
	if (r >= 0 && added) {
		log_warn("policy not applied: %zu new workload interface(s) fail closed (drop)",
			 added);
		/* The model no longer matches the kernel exactly: replace in full next time. */
		felix_nft_forget(n);
	}
	return r;
}

int felix_nft_remove(struct felix_nft *n)
{
	char err[512];
	int r = run(n, "table " TABLE "\ndelete table " TABLE "\n", err, sizeof(err));
	if (r < 0) {
		log_warn("deleting table " TABLE " failed: %s", err);
	}
	felix_nft_forget(n);
	stale_clear(n);
	return r;
}
