/* SPDX-License-Identifier: Apache-2.0 */
/*
 * DOC: the nftables program as data, its equality, hash and text form
 *
 * A chain keeps its statements in one array and every operand that is not a number (names,
 * address lists, port ranges, value lists) in one byte blob, so a chain of any length is four
 * allocations and a statement 12 bytes. Equality and hash look at what a statement means
 * (type, operands, referenced bytes), never at offsets, so two chains built in different
 * ways compare equal when the kernel would hold the same rules.
 *
 * The text printer writes the exact dialect acl_render_nft() has always written (the golden
 * files in tests/golden/acl pin it); the IR -> program builders live in acl/render-nft.c.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "acl/nft-prog.h"

#define ALIGN4(x) (((x) + 3u) & ~(size_t)3u)

static int grow(void **arr, size_t *cap, size_t need, size_t size)
{
	size_t n;
	void *p;

	if (need <= *cap)
		return 0;
	n = *cap ? *cap * 2 : 4;
	while (n < need)
		n *= 2;
	p = realloc(*arr, n * size);
	if (!p)
		return -ENOMEM;
	*arr = p;
	*cap = n;
	return 0;
}

static char *dup_comment(const char *s)
{
	return s ? strndup(s, NFT_PROG_COMMENT_MAX) : NULL;
}

/* ---- program ---- */

int nft_prog_new(struct nft_prog **ret)
{
	struct nft_prog *p = calloc(1, sizeof(*p));

	if (!p)
		return -ENOMEM;
	*ret = p;
	return 0;
}

struct nft_prog *nft_prog_free(struct nft_prog *p)
{
	if (!p)
		return NULL;
	for (size_t i = 0; i < p->n_sets; i++)
		nft_prog_set_free(p->sets[i]);
	for (size_t i = 0; i < p->n_chains; i++)
		nft_prog_chain_free(p->chains[i]);
	free(p->sets);
	free(p->chains);
	free(p);
	return NULL;
}

int nft_prog_add_chain(struct nft_prog *p, struct nft_prog_chain *c)
{
	if (grow((void **)&p->chains, &p->cap_chains, p->n_chains + 1, sizeof(*p->chains)) < 0) {
		nft_prog_chain_free(c);
		return -ENOMEM;
	}
	p->chains[p->n_chains++] = c;
	return 0;
}

int nft_prog_add_set(struct nft_prog *p, struct nft_prog_set *s)
{
	if (grow((void **)&p->sets, &p->cap_sets, p->n_sets + 1, sizeof(*p->sets)) < 0) {
		nft_prog_set_free(s);
		return -ENOMEM;
	}
	p->sets[p->n_sets++] = s;
	return 0;
}

const struct nft_prog_chain *nft_prog_find_chain(const struct nft_prog *p, const char *name)
{
	for (size_t i = 0; i < p->n_chains; i++)
		if (strcmp(p->chains[i]->name, name) == 0)
			return p->chains[i];
	return NULL;
}

const struct nft_prog_set *nft_prog_find_set(const struct nft_prog *p, const char *name)
{
	for (size_t i = 0; i < p->n_sets; i++)
		if (strcmp(p->sets[i]->name, name) == 0)
			return p->sets[i];
	return NULL;
}

/* ---- chains ---- */

int nft_prog_chain_new(const char *name, const char *comment, struct nft_prog_chain **ret)
{
	struct nft_prog_chain *c;
	size_t n = name ? strlen(name) : 0;

	if (n == 0 || n >= NFT_PROG_NAME_MAX)
		return -EINVAL;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	memcpy(c->name, name, n + 1);
	if (comment) {
		c->comment = dup_comment(comment);
		if (!c->comment) {
			free(c);
			return -ENOMEM;
		}
	}
	*ret = c;
	return 0;
}

struct nft_prog_chain *nft_prog_chain_free(struct nft_prog_chain *c)
{
	if (!c)
		return NULL;
	free(c->comment);
	free(c->rules);
	free(c->stmts);
	free(c->data);
	free(c);
	return NULL;
}

/* Copy @len bytes into the blob, 4-byte aligned. Return: the offset, or -errno. */
static int64_t put_data(struct nft_prog_chain *c, const void *data, size_t len)
{
	size_t off = ALIGN4(c->n_data);

	if (off + len > UINT32_MAX)
		return -E2BIG;
	if (grow((void **)&c->data, &c->cap_data, off + len, 1) < 0)
		return -ENOMEM;
	memset(c->data + c->n_data, 0, off - c->n_data);
	memcpy(c->data + off, data, len);
	c->n_data = off + len;
	return (int64_t)off;
}

int nft_prog_chain_add_stmt(struct nft_prog_chain *c, struct nft_prog_stmt s, const void *data,
			    size_t len)
{
	if (data) {
		int64_t off = put_data(c, data, len);

		if (off < 0)
			return (int)off;
		s.u.ref.off = (uint32_t)off;
		s.u.ref.len = (uint32_t)len;
	}
	if (c->n_stmts >= UINT32_MAX)
		return -E2BIG;
	if (grow((void **)&c->stmts, &c->cap_stmts, c->n_stmts + 1, sizeof(*c->stmts)) < 0)
		return -ENOMEM;
	c->stmts[c->n_stmts++] = s;
	return 0;
}

int nft_prog_chain_end_rule(struct nft_prog_chain *c, const char *comment)
{
	struct nft_prog_rule r = {.stmt = c->open,
				  .n_stmts = (uint32_t)(c->n_stmts - c->open),
				  .comment = NFT_PROG_NO_COMMENT};

	if (r.n_stmts == 0)
		return -EINVAL;
	if (comment) {
		size_t n = strnlen(comment, NFT_PROG_COMMENT_MAX);
		char buf[NFT_PROG_COMMENT_MAX + 1];
		int64_t off;

		memcpy(buf, comment, n);
		buf[n] = '\0';
		off = put_data(c, buf, n + 1);
		if (off < 0)
			return (int)off;
		r.comment = (uint32_t)off;
	}
	if (grow((void **)&c->rules, &c->cap_rules, c->n_rules + 1, sizeof(*c->rules)) < 0)
		return -ENOMEM;
	c->rules[c->n_rules++] = r;
	c->open = (uint32_t)c->n_stmts;
	return 0;
}

/* Does @type refer to bytes of the chain's data (always, or for JUMP only)? */
static bool stmt_has_ref(const struct nft_prog_stmt *s)
{
	switch (s->type) {
	case NFT_PROG_S_IFNAME:
	case NFT_PROG_S_IFNAME_SET:
	case NFT_PROG_S_L4PROTO_IN:
	case NFT_PROG_S_ADDR:
	case NFT_PROG_S_ADDR_IN:
	case NFT_PROG_S_ADDR_SET:
	case NFT_PROG_S_ADDR_PORT_SET:
	case NFT_PROG_S_PORT:
	case NFT_PROG_S_ICMP_TYPE_IN:
	case NFT_PROG_S_LOG:
	case NFT_PROG_S_VMAP:
		return true;
	case NFT_PROG_S_VERDICT:
		return s->key == NFT_PROG_V_JUMP;
	default:
		return false;
	}
}

const void *nft_prog_stmt_data(const struct nft_prog_chain *c, const struct nft_prog_stmt *s)
{
	if (!stmt_has_ref(s) || (size_t)s->u.ref.off + s->u.ref.len > c->n_data)
		return NULL;
	return c->data + s->u.ref.off;
}

const char *nft_prog_rule_comment(const struct nft_prog_chain *c, const struct nft_prog_rule *r)
{
	return r->comment == NFT_PROG_NO_COMMENT ? NULL : (const char *)c->data + r->comment;
}

/* ---- equality and hash ---- */

static bool str_eq(const char *a, const char *b)
{
	return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static bool stmt_equal(const struct nft_prog_chain *ca, const struct nft_prog_stmt *a,
		       const struct nft_prog_chain *cb, const struct nft_prog_stmt *b)
{
	if (a->type != b->type || a->op != b->op || a->fam != b->fam || a->key != b->key)
		return false;
	if (stmt_has_ref(a)) {
		const void *da = nft_prog_stmt_data(ca, a), *db = nft_prog_stmt_data(cb, b);

		return a->u.ref.len == b->u.ref.len && da && db &&
		       memcmp(da, db, a->u.ref.len) == 0;
	}
	return memcmp(&a->u, &b->u, sizeof(a->u)) == 0;
}

bool nft_prog_rule_equal(const struct nft_prog_chain *ca, const struct nft_prog_rule *a,
			 const struct nft_prog_chain *cb, const struct nft_prog_rule *b)
{
	if (a->n_stmts != b->n_stmts ||
	    !str_eq(nft_prog_rule_comment(ca, a), nft_prog_rule_comment(cb, b)))
		return false;
	for (uint32_t i = 0; i < a->n_stmts; i++)
		if (!stmt_equal(ca, &ca->stmts[a->stmt + i], cb, &cb->stmts[b->stmt + i]))
			return false;
	return true;
}

bool nft_prog_chain_equal(const struct nft_prog_chain *a, const struct nft_prog_chain *b)
{
	if (strcmp(a->name, b->name) != 0 || !str_eq(a->comment, b->comment) ||
	    a->hook != b->hook || a->priority != b->priority || a->policy != b->policy ||
	    a->n_rules != b->n_rules)
		return false;
	for (size_t i = 0; i < a->n_rules; i++)
		if (!nft_prog_rule_equal(a, &a->rules[i], b, &b->rules[i]))
			return false;
	return true;
}

#define FNV_OFFSET 0xcbf29ce484222325ull
#define FNV_PRIME 0x100000001b3ull

static uint64_t fnv(uint64_t h, const void *data, size_t len)
{
	const uint8_t *p = data;

	for (size_t i = 0; i < len; i++) {
		h ^= p[i];
		h *= FNV_PRIME;
	}
	return h;
}

static uint64_t fnv_u32(uint64_t h, uint32_t v)
{
	uint8_t b[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};

	return fnv(h, b, sizeof(b));
}

static uint64_t rule_hash(uint64_t h, const struct nft_prog_chain *c, const struct nft_prog_rule *r)
{
	const char *comment = nft_prog_rule_comment(c, r);

	h = fnv_u32(h, r->n_stmts);
	for (uint32_t i = 0; i < r->n_stmts; i++) {
		const struct nft_prog_stmt *s = &c->stmts[r->stmt + i];
		uint8_t head[4] = {s->type, s->op, s->fam, s->key};

		h = fnv(h, head, sizeof(head));
		if (stmt_has_ref(s)) {
			const void *d = nft_prog_stmt_data(c, s);

			h = fnv_u32(h, s->u.ref.len);
			if (d)
				h = fnv(h, d, s->u.ref.len);
		} else if (s->type == NFT_PROG_S_ICMP_TYPE || s->type == NFT_PROG_S_ICMP_CODE ||
			   s->type == NFT_PROG_S_ICMP_TYPE_CODE) {
			h = fnv_u32(h, (uint32_t)s->u.icmp.type << 8 | s->u.icmp.code);
		} else {
			h = fnv_u32(h, s->u.mark.mask);
			h = fnv_u32(h, s->u.mark.value);
		}
	}
	h = fnv_u32(h, comment ? 1 : 0);
	if (comment)
		h = fnv(h, comment, strlen(comment) + 1);
	return h;
}

uint64_t nft_prog_rule_hash(const struct nft_prog_chain *c, const struct nft_prog_rule *r)
{
	return rule_hash(FNV_OFFSET, c, r);
}

uint64_t nft_prog_chain_hash(const struct nft_prog_chain *c)
{
	uint64_t h = FNV_OFFSET;

	h = fnv_u32(h, c->comment ? 1 : 0);
	if (c->comment)
		h = fnv(h, c->comment, strlen(c->comment) + 1);
	h = fnv_u32(h, (uint32_t)c->hook);
	h = fnv_u32(h, (uint32_t)c->priority);
	h = fnv_u32(h, (uint32_t)c->policy);
	h = fnv_u32(h, (uint32_t)c->n_rules);
	for (size_t i = 0; i < c->n_rules; i++)
		h = rule_hash(h, c, &c->rules[i]);
	return h;
}

/* ---- sets ---- */

struct nft_prog_set *nft_prog_set_free(struct nft_prog_set *s)
{
	if (!s)
		return NULL;
	free(s->comment);
	free(s->members);
	free(s->ifelems);
	free(s);
	return NULL;
}

bool nft_prog_set_decl_equal(const struct nft_prog_set *a, const struct nft_prog_set *b)
{
	return strcmp(a->name, b->name) == 0 && str_eq(a->comment, b->comment) &&
	       a->type == b->type && a->interval == b->interval && a->map == b->map;
}

int nft_prog_ifelem_cmp(const struct nft_prog_ifelem *a, const struct nft_prog_ifelem *b)
{
	return strncmp(a->ifname, b->ifname, NFT_PROG_IFNAME_MAX);
}

bool nft_prog_set_equal(const struct nft_prog_set *a, const struct nft_prog_set *b)
{
	if (!nft_prog_set_decl_equal(a, b) || a->n_members != b->n_members ||
	    a->n_ifelems != b->n_ifelems)
		return false;
	for (size_t i = 0; i < a->n_members; i++)
		if (acl_member_cmp(&a->members[i], &b->members[i]) != 0)
			return false;
	for (size_t i = 0; i < a->n_ifelems; i++) {
		const struct nft_prog_ifelem *x = &a->ifelems[i], *y = &b->ifelems[i];

		if (nft_prog_ifelem_cmp(x, y) != 0 || x->verdict != y->verdict ||
		    (x->verdict == NFT_PROG_V_JUMP &&
		     strncmp(x->chain, y->chain, NFT_PROG_NAME_MAX) != 0))
			return false;
	}
	return true;
}

/* ---- text ---- */

struct out {
	struct strbuf *sb;
	int r;
};

_printf_(2, 3) static void P(struct out *o, const char *fmt, ...)
{
	va_list ap;
	int r;

	if (o->r < 0)
		return;
	va_start(ap, fmt);
	r = strbuf_vprintf(o->sb, fmt, ap);
	va_end(ap);
	if (r < 0)
		o->r = r;
}

static const char *neq(const struct nft_prog_stmt *s)
{
	return s->op == NFT_PROG_NEQ ? "!= " : "";
}

static const char *side_word(const struct nft_prog_stmt *s, const char *src, const char *dst)
{
	return s->key == NFT_PROG_SRC ? src : dst;
}

static const char *ip_word(const struct nft_prog_stmt *s)
{
	return s->fam == NFT_PROG_FAM_IPV6 ? "ip6" : "ip";
}

static const char *icmp_word(const struct nft_prog_stmt *s)
{
	return s->fam == NFT_PROG_FAM_IPV6 ? "icmpv6" : "icmp";
}

static const char *verdict_word(unsigned v)
{
	switch (v) {
	case NFT_PROG_V_ACCEPT:
		return "accept";
	case NFT_PROG_V_DROP:
		return "drop";
	case NFT_PROG_V_RETURN:
		return "return";
	case NFT_PROG_V_JUMP:
		return "jump";
	default:
		return NULL;
	}
}

static const char *icmpv6_type_name(uint8_t t)
{
	switch (t) {
	case 130:
		return "mld-listener-query";
	case 131:
		return "mld-listener-report";
	case 132:
		return "mld-listener-done";
	case 133:
		return "nd-router-solicit";
	case 134:
		return "nd-router-advert";
	case 135:
		return "nd-neighbor-solicit";
	case 136:
		return "nd-neighbor-advert";
	default:
		return NULL;
	}
}

static void put_stmt(struct out *o, const struct nft_prog_chain *c, const struct nft_prog_stmt *s)
{
	const void *d = nft_prog_stmt_data(c, s);
	const char *str = d;
	size_t len = d ? s->u.ref.len : 0;

	if (stmt_has_ref(s) && (!d || len == 0)) {
		o->r = -EINVAL;
		return;
	}
	switch (s->type) {
	case NFT_PROG_S_IFNAME:
		P(o, "%s %s\"%s\"", side_word(s, "iifname", "oifname"), neq(s), str);
		break;
	case NFT_PROG_S_IFNAME_SET:
		P(o, "%s %s@%s", side_word(s, "iifname", "oifname"), neq(s), str);
		break;
	case NFT_PROG_S_NFPROTO:
		P(o, "meta nfproto %s", s->fam == NFT_PROG_FAM_IPV6 ? "ipv6" : "ipv4");
		break;
	case NFT_PROG_S_L4PROTO:
		if (s->key == NFT_PROG_L4_NAME)
			P(o, "meta l4proto %s%s", neq(s),
			  s->u.value == 58  ? "ipv6-icmp"
			  : s->u.value == 1 ? "icmp"
					    : "?");
		else
			P(o, "meta l4proto %s%u", neq(s), s->u.value);
		break;
	case NFT_PROG_S_L4PROTO_IN: {
		const uint8_t *v = d;

		P(o, "meta l4proto %s{ ", neq(s));
		for (size_t i = 0; i < len; i++)
			P(o, "%s%u", i ? ", " : "", v[i]);
		P(o, " }");
		break;
	}
	case NFT_PROG_S_ADDR: {
		struct ip_prefix pfx;
		char buf[IP_PREFIX_STRLEN];

		if (len != sizeof(pfx)) {
			o->r = -EINVAL;
			return;
		}
		memcpy(&pfx, d, sizeof(pfx));
		P(o, "%s %s %s%s", ip_word(s), side_word(s, "saddr", "daddr"), neq(s),
		  ip_prefix_format(&pfx, buf));
		break;
	}
	case NFT_PROG_S_ADDR_IN: {
		size_t n = len / sizeof(struct ip_addr);

		P(o, "%s %s %s{ ", ip_word(s), side_word(s, "saddr", "daddr"), neq(s));
		for (size_t i = 0; i < n; i++) {
			struct ip_addr a;
			char buf[IP_ADDR_STRLEN];

			memcpy(&a, (const uint8_t *)d + i * sizeof(a), sizeof(a));
			P(o, "%s%s", i ? ", " : "", ip_addr_format(&a, buf));
		}
		P(o, " }");
		break;
	}
	case NFT_PROG_S_ADDR_SET:
		P(o, "%s %s %s@%s", ip_word(s), side_word(s, "saddr", "daddr"), neq(s), str);
		break;
	case NFT_PROG_S_ADDR_PORT_SET:
		P(o, "%s %s . meta l4proto . th %s %s@%s", ip_word(s),
		  side_word(s, "saddr", "daddr"), side_word(s, "sport", "dport"), neq(s), str);
		break;
	case NFT_PROG_S_PORT: {
		size_t n = len / sizeof(struct acl_port_range);

		P(o, "th %s %s%s", side_word(s, "sport", "dport"), neq(s), n > 1 ? "{ " : "");
		for (size_t i = 0; i < n; i++) {
			struct acl_port_range r;

			memcpy(&r, (const uint8_t *)d + i * sizeof(r), sizeof(r));
			if (r.first == r.last)
				P(o, "%s%u", i ? ", " : "", r.first);
			else
				P(o, "%s%u-%u", i ? ", " : "", r.first, r.last);
		}
		P(o, "%s", n > 1 ? " }" : "");
		break;
	}
	case NFT_PROG_S_ICMP_TYPE:
		P(o, "%s type %s%u", icmp_word(s), neq(s), s->u.icmp.type);
		break;
	case NFT_PROG_S_ICMP_TYPE_IN: {
		const uint8_t *v = d;

		P(o, "%s type %s{ ", icmp_word(s), neq(s));
		for (size_t i = 0; i < len; i++) {
			const char *name =
			    s->fam == NFT_PROG_FAM_IPV6 ? icmpv6_type_name(v[i]) : NULL;

			if (name)
				P(o, "%s%s", i ? ", " : "", name);
			else
				P(o, "%s%u", i ? ", " : "", v[i]);
		}
		P(o, " }");
		break;
	}
	case NFT_PROG_S_ICMP_CODE:
		P(o, "%s code %s%u", icmp_word(s), neq(s), s->u.icmp.code);
		break;
	case NFT_PROG_S_ICMP_TYPE_CODE:
		P(o, "%s type . %s code %s{ %u . %u }", icmp_word(s), icmp_word(s), neq(s),
		  s->u.icmp.type, s->u.icmp.code);
		break;
	case NFT_PROG_S_CT_STATE: {
		static const char *const names[] = {"invalid", "established", "related", "new"};
		bool first = true;

		P(o, "ct state %s", neq(s));
		for (unsigned i = 0; i < ELEMENTSOF(names); i++) {
			if (!(s->u.value & (1u << i)))
				continue;
			P(o, "%s%s", first ? "" : ",", names[i]);
			first = false;
		}
		break;
	}
	case NFT_PROG_S_MARK_TEST:
		if (s->u.mark.value)
			P(o, "meta mark & 0x%08x %s 0x%08x", s->u.mark.mask,
			  s->op == NFT_PROG_NEQ ? "!=" : "==", s->u.mark.value);
		else
			P(o, "meta mark & 0x%08x %s 0", s->u.mark.mask,
			  s->op == NFT_PROG_NEQ ? "!=" : "==");
		break;
	case NFT_PROG_S_MARK_AND:
		P(o, "meta mark set meta mark & 0x%08x", s->u.value);
		break;
	case NFT_PROG_S_MARK_OR:
		P(o, "meta mark set meta mark | 0x%08x", s->u.value);
		break;
	case NFT_PROG_S_LOG:
		P(o, "log prefix \"%s\"", str);
		break;
	case NFT_PROG_S_MASQ:
		P(o, "masquerade");
		break;
	case NFT_PROG_S_VMAP:
		P(o, "%s vmap @%s", side_word(s, "iifname", "oifname"), str);
		break;
	case NFT_PROG_S_VERDICT:
		if (!verdict_word(s->key)) {
			o->r = -EINVAL;
			return;
		}
		if (s->key == NFT_PROG_V_JUMP)
			P(o, "jump %s", str);
		else
			P(o, "%s", verdict_word(s->key));
		break;
	default:
		o->r = -EINVAL;
	}
}

static void put_rule(struct out *o, const struct nft_prog_chain *c, const struct nft_prog_rule *r)
{
	const char *comment = nft_prog_rule_comment(c, r);

	for (uint32_t i = 0; i < r->n_stmts; i++) {
		if (i)
			P(o, " ");
		put_stmt(o, c, &c->stmts[r->stmt + i]);
	}
	if (comment)
		P(o, " comment \"%s\"", comment);
}

int nft_prog_format_rule(const struct nft_prog_chain *c, const struct nft_prog_rule *r,
			 struct strbuf *out)
{
	struct out o = {.sb = out};

	put_rule(&o, c, r);
	return o.r;
}

static const char *hook_word(enum nft_prog_hook h)
{
	switch (h) {
	case NFT_PROG_HOOK_INPUT:
		return "input";
	case NFT_PROG_HOOK_FORWARD:
		return "forward";
	case NFT_PROG_HOOK_OUTPUT:
		return "output";
	case NFT_PROG_HOOK_POSTROUTING:
		return "postrouting";
	default:
		return NULL;
	}
}

static void put_chain(struct out *o, const struct nft_prog_chain *c)
{
	P(o, "\tchain %s {\n", c->name);
	if (c->hook != NFT_PROG_HOOK_NONE) {
		if (!hook_word(c->hook) || !verdict_word(c->policy)) {
			o->r = -EINVAL;
			return;
		}
		bool nat = c->hook == NFT_PROG_HOOK_POSTROUTING;
		P(o, "\t\ttype %s hook %s priority ", nat ? "nat" : "filter", hook_word(c->hook));
		if (c->priority == 0 && !nat)
			P(o, "filter");
		else if (c->priority == 100 && nat)
			P(o, "srcnat");
		else
			P(o, "%d", c->priority);
		P(o, "; policy %s;\n", verdict_word(c->policy));
	}
	if (c->comment)
		P(o, "\t\tcomment \"%s\"\n", c->comment);
	for (size_t i = 0; i < c->n_rules; i++) {
		P(o, "\t\t");
		put_rule(o, c, &c->rules[i]);
		P(o, "\n");
	}
	P(o, "\t}\n");
}

int nft_prog_format_chain(const struct nft_prog_chain *c, struct strbuf *out)
{
	struct out o = {.sb = out};

	put_chain(&o, c);
	return o.r;
}

static const char *key_type_word(enum nft_prog_key_type t)
{
	switch (t) {
	case NFT_PROG_T_IFNAME:
		return "ifname";
	case NFT_PROG_T_IPV4:
		return "ipv4_addr";
	case NFT_PROG_T_IPV6:
		return "ipv6_addr";
	case NFT_PROG_T_IPV4_PROTO_PORT:
		return "ipv4_addr . inet_proto . inet_service";
	case NFT_PROG_T_IPV6_PROTO_PORT:
		return "ipv6_addr . inet_proto . inet_service";
	default:
		return NULL;
	}
}

static void put_set(struct out *o, const struct nft_prog_set *s)
{
	size_t n = 0;

	if (!key_type_word(s->type)) {
		o->r = -EINVAL;
		return;
	}
	P(o, "\t%s %s {\n", s->map ? "map" : "set", s->name);
	P(o, "\t\ttype %s%s\n", key_type_word(s->type), s->map ? " : verdict" : "");
	if (s->interval)
		P(o, "\t\tflags interval\n");
	if (s->comment)
		P(o, "\t\tcomment \"%s\"\n", s->comment);
	for (size_t i = 0; i < s->n_members; i++) {
		const struct acl_member *x = &s->members[i];
		char buf[IP_PREFIX_STRLEN];

		P(o, n++ == 0 ? "\t\telements = { " : ",\n\t\t\t     ");
		if (x->net.len == ip_addr_bits(x->net.addr.family))
			P(o, "%s", ip_addr_format(&x->net.addr, buf));
		else
			P(o, "%s", ip_prefix_format(&x->net, buf));
		if (s->type == NFT_PROG_T_IPV4_PROTO_PORT || s->type == NFT_PROG_T_IPV6_PROTO_PORT)
			P(o, " . %u . %u", x->proto, x->port);
	}
	for (size_t i = 0; i < s->n_ifelems; i++) {
		const struct nft_prog_ifelem *e = &s->ifelems[i];

		P(o, n++ == 0 ? "\t\telements = { " : ",\n\t\t\t     ");
		P(o, "\"%.*s\"", NFT_PROG_IFNAME_MAX, e->ifname);
		if (e->verdict == NFT_PROG_V_JUMP)
			P(o, " : jump %.*s", NFT_PROG_NAME_MAX, e->chain);
		else if (e->verdict != NFT_PROG_V_NONE)
			P(o, " : %s", verdict_word(e->verdict) ? verdict_word(e->verdict) : "?");
	}
	if (n)
		P(o, " }\n");
	P(o, "\t}\n");
}

int nft_prog_format_set(const struct nft_prog_set *s, struct strbuf *out)
{
	struct out o = {.sb = out};

	put_set(&o, s);
	return o.r;
}

int nft_prog_format(const struct nft_prog *p, struct strbuf *out)
{
	struct out o = {.sb = out};
	size_t n = 0;

	P(&o, "#!/usr/sbin/nft -f\n");
	const char *t = p->table ? p->table : NFT_PROG_TABLE;
	P(&o, "# %s; generated, do not edit. One transaction.\n",
	  p->title ? p->title : "tabby policy (acl_render_nft)");
	P(&o, "table inet %s\n", t);
	P(&o, "delete table inet %s\n", t);
	P(&o, "table inet %s {\n", t);
	/* A blank line between two blocks, none before the closing brace. */
	for (size_t i = 0; i < p->n_sets; i++) {
		P(&o, "%s", n++ ? "\n" : "");
		put_set(&o, p->sets[i]);
	}
	for (size_t i = 0; i < p->n_chains; i++) {
		P(&o, "%s", n++ ? "\n" : "");
		put_chain(&o, p->chains[i]);
	}
	P(&o, "}\n");
	return o.r;
}
