/* SPDX-License-Identifier: Apache-2.0 */
/*
 * DOC: felix calculation: natOutgoing (pure)
 *
 * Calico's masquerade manager as a pure function: the IPPools become two prefix sets, the
 * pools whose traffic leaving the cluster is masqueraded and every pool (what counts as
 * inside). Calico's calculation graph sends every pool to felix's masq manager with
 * Masquerade = spec.natOutgoing and no regard to spec.disabled, which adds the pool to
 * all-ipam-pools always and to masq-ipam-pools when Masquerade is set (felix
 * dataplane/linux/masq_mgr.go, rules/nat.go: "-m set --match-set masq-ipam-pools src -m set
 * ! --match-set all-ipam-pools dst -j MASQUERADE"). So a disabled pool is inside, and a
 * disabled pool with natOutgoing is still masqueraded: it may hold workloads that IPAM no
 * longer allocates to, and they keep reaching the outside. We follow that.
 *
 * The programs here are renderings of that state for the nat drivers
 * (felix/dataplane/nat/): an nftables program for `table inet tabby-nat` whose rules never
 * change (a pool change is set elements only), and the iptables-restore + ipset text.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "acl/nft-prog.h"
#include "felix/calc/calc.h"
#include "lib/cidr.h"

static int prefix_cmp(const void *a, const void *b)
{
	return ip_prefix_cmp(a, b);
}

/* Sort @v, then drop duplicates and prefixes inside the previous kept one. Sorted by family
 * then network address, disjoint kept prefixes are in address order, so only the last kept
 * one can contain the next. Return: the new count. */
static size_t normalize(struct ip_prefix *v, size_t n)
{
	size_t k = 0;

	if (n == 0) {
		return 0; /* v may be NULL: qsort()'s argument must not be (C11 7.1.4) */
	}
	qsort(v, n, sizeof(*v), prefix_cmp);
	for (size_t i = 0; i < n; i++) {
		if (k && v[k - 1].addr.family == v[i].addr.family &&
		    ip_prefix_contains(&v[k - 1], &v[i])) {
			continue;
		}
		v[k++] = v[i];
	}
	return k;
}

int calc_nat_from_pools(const struct model_ippool *pools, size_t n, struct calc_nat *ret)
{
	struct calc_nat x = {0};

	if (n > CALC_NAT_MAX_POOLS) {
		return -E2BIG;
	}
	if (n) {
		x.masq = calloc(n, sizeof(*x.masq));
		x.all = calloc(n, sizeof(*x.all));
		if (!x.masq || !x.all) {
			calc_nat_done(&x);
			return -ENOMEM;
		}
	}
	for (size_t i = 0; i < n; i++) {
		struct ip_prefix p = ip_prefix_mask(pools[i].cidr);

		if (p.addr.family != AF_INET && p.addr.family != AF_INET6) {
			continue;
		}
		x.all[x.n_all++] = p;
		if (pools[i].nat_outgoing) {
			x.masq[x.n_masq++] = p;
		}
	}
	x.n_all = normalize(x.all, x.n_all);
	x.n_masq = normalize(x.masq, x.n_masq);
	*ret = x;
	return 0;
}

struct pool_list {
	struct model_ippool *v;
	size_t n, cap;
};

static int collect_pool(const struct model_resource *res, void *userdata)
{
	struct pool_list *l = userdata;

	if (l->n >= CALC_NAT_MAX_POOLS) {
		return -E2BIG;
	}
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 8;
		struct model_ippool *v = realloc(l->v, cap * sizeof(*v));

		if (!v) {
			return -ENOMEM;
		}
		l->v = v;
		l->cap = cap;
	}
	l->v[l->n++] = res->ippool; /* shallow: only cidr and flags are read */
	return 0;
}

int calc_nat_compute(const struct calc_cache *c, struct calc_nat *ret)
{
	struct pool_list l = {0};
	int r = calc_cache_foreach(c, MODEL_KIND_IPPOOL, collect_pool, &l);

	if (r >= 0) {
		r = calc_nat_from_pools(l.v, l.n, ret);
	}
	free(l.v);
	return r;
}

void calc_nat_done(struct calc_nat *n)
{
	if (!n) {
		return;
	}
	free(n->masq);
	free(n->all);
	*n = (struct calc_nat){0};
}

static int dup_prefixes(const struct ip_prefix *v, size_t n, struct ip_prefix **ret)
{
	*ret = NULL;
	if (!n) {
		return 0;
	}
	*ret = malloc(n * sizeof(*v));
	if (!*ret) {
		return -ENOMEM;
	}
	memcpy(*ret, v, n * sizeof(*v));
	return 0;
}

int calc_nat_copy(const struct calc_nat *n, struct calc_nat *ret)
{
	struct calc_nat x = {.n_masq = n->n_masq, .n_all = n->n_all};

	if (dup_prefixes(n->masq, n->n_masq, &x.masq) < 0 ||
	    dup_prefixes(n->all, n->n_all, &x.all) < 0) {
		calc_nat_done(&x);
		return -ENOMEM;
	}
	*ret = x;
	return 0;
}

static bool prefixes_equal(const struct ip_prefix *a, size_t na, const struct ip_prefix *b,
			   size_t nb)
{
	if (na != nb) {
		return false;
	}
	for (size_t i = 0; i < na; i++) {
		if (ip_prefix_cmp(&a[i], &b[i]) != 0) {
			return false;
		}
	}
	return true;
}

bool calc_nat_equal(const struct calc_nat *a, const struct calc_nat *b)
{
	return prefixes_equal(a->masq, a->n_masq, b->masq, b->n_masq) &&
	       prefixes_equal(a->all, a->n_all, b->all, b->n_all);
}

bool calc_nat_active(const struct calc_nat *n, int family)
{
	for (size_t i = 0; i < n->n_masq; i++) {
		if (family == AF_UNSPEC || n->masq[i].addr.family == family) {
			return true;
		}
	}
	return false;
}

int calc_nat_format(const struct calc_nat *n, struct strbuf *out)
{
	char buf[IP_PREFIX_STRLEN];
	int r = 0;

	for (size_t i = 0; i < n->n_masq && r >= 0; i++) {
		r = strbuf_printf(out, "masq %s\n", ip_prefix_format(&n->masq[i], buf));
	}
	for (size_t i = 0; i < n->n_all && r >= 0; i++) {
		r = strbuf_printf(out, "all %s\n", ip_prefix_format(&n->all[i], buf));
	}
	return r;
}

/* ---- nftables ---- */

static int nat_set(const struct ip_prefix *v, size_t n, const char *name, int family,
		   struct nft_prog_set **ret)
{
	_cleanup_(nft_prog_set_freep) struct nft_prog_set *s = calloc(1, sizeof(*s));

	if (!s) {
		return -ENOMEM;
	}
	snprintf(s->name, sizeof(s->name), "%s", name);
	s->type = family == AF_INET ? NFT_PROG_T_IPV4 : NFT_PROG_T_IPV6;
	s->interval = true;
	for (size_t i = 0; i < n; i++) {
		if (v[i].addr.family != family) {
			continue;
		}
		if (!s->members) {
			s->members = calloc(n, sizeof(*s->members));
			if (!s->members) {
				return -ENOMEM;
			}
		}
		s->members[s->n_members++] = (struct acl_member){.net = v[i]};
	}
	*ret = TAKE_PTR(s);
	return 0;
}

static int masq_rule(struct nft_prog_chain *c, int family)
{
	uint8_t fam = family == AF_INET ? NFT_PROG_FAM_IPV4 : NFT_PROG_FAM_IPV6;
	const char *masq = family == AF_INET ? "masq4" : "masq6";
	const char *all = family == AF_INET ? "all4" : "all6";
	struct nft_prog_stmt src = {
	    .type = NFT_PROG_S_ADDR_SET, .op = NFT_PROG_EQ, .fam = fam, .key = NFT_PROG_SRC};
	struct nft_prog_stmt dst = {
	    .type = NFT_PROG_S_ADDR_SET, .op = NFT_PROG_NEQ, .fam = fam, .key = NFT_PROG_DST};
	struct nft_prog_stmt act = {.type = NFT_PROG_S_MASQ};
	int r = nft_prog_chain_add_stmt(c, src, masq, strlen(masq) + 1);

	if (r >= 0) {
		r = nft_prog_chain_add_stmt(c, dst, all, strlen(all) + 1);
	}
	if (r >= 0) {
		r = nft_prog_chain_add_stmt(c, act, NULL, 0);
	}
	if (r >= 0) {
		r = nft_prog_chain_end_rule(c, NULL);
	}
	return r;
}

int calc_nat_prog(const struct calc_nat *n, struct nft_prog **ret)
{
	_cleanup_(nft_prog_freep) struct nft_prog *p = NULL;
	_cleanup_(nft_prog_chain_freep) struct nft_prog_chain *c = NULL;
	static const struct {
		const char *name;
		bool masq;
		int family;
	} sets[] = {
	    {"masq4", true, AF_INET},
	    {"all4", false, AF_INET},
	    {"masq6", true, AF_INET6},
	    {"all6", false, AF_INET6},
	};
	int r = nft_prog_new(&p);

	if (r < 0) {
		return r;
	}
	p->table = CALC_NAT_NFT_TABLE;
	p->title = "tabby natOutgoing (calc_nat_render_nft)";
	for (size_t i = 0; i < ELEMENTSOF(sets) && r >= 0; i++) {
		struct nft_prog_set *s = NULL;

		r = nat_set(sets[i].masq ? n->masq : n->all, sets[i].masq ? n->n_masq : n->n_all,
			    sets[i].name, sets[i].family, &s);
		if (r >= 0) {
			r = nft_prog_add_set(p, s);
		}
	}
	if (r >= 0) {
		r = nft_prog_chain_new("postrouting", NULL, &c);
	}
	if (r < 0) {
		return r;
	}
	c->hook = NFT_PROG_HOOK_POSTROUTING;
	c->priority = 100; /* srcnat */
	c->policy = NFT_PROG_V_ACCEPT;
	r = masq_rule(c, AF_INET);
	if (r >= 0) {
		r = masq_rule(c, AF_INET6);
	}
	if (r >= 0) {
		r = nft_prog_add_chain(p, TAKE_PTR(c));
	}
	if (r < 0) {
		return r;
	}
	*ret = TAKE_PTR(p);
	return 0;
}

int calc_nat_render_nft(const struct calc_nat *n, struct strbuf *out)
{
	_cleanup_(nft_prog_freep) struct nft_prog *p = NULL;
	int r = calc_nat_prog(n, &p);

	return r < 0 ? r : nft_prog_format(p, out);
}

/* ---- iptables ---- */

void calc_nat_ipset_name(bool masq, int family, char buf[static 32])
{
	snprintf(buf, 32, "tbynat-%s%c", masq ? "masq" : "all", family == AF_INET6 ? '6' : '4');
}

static int ipset_block(struct strbuf *o, const struct ip_prefix *v, size_t n, bool masq, int family)
{
	const char *fam = family == AF_INET6 ? "inet6" : "inet";
	char name[32], tmp[32], buf[IP_PREFIX_STRLEN];
	int r;

	calc_nat_ipset_name(masq, family, name);
	snprintf(tmp, sizeof(tmp), "tbynat-tmp%c", family == AF_INET6 ? '6' : '4');
	r = strbuf_printf(o,
			  "create %s hash:net family %s -exist\n"
			  "create %s hash:net family %s -exist\n"
			  "flush %s\n",
			  name, fam, tmp, fam, tmp);
	for (size_t i = 0; i < n && r >= 0; i++) {
		if (v[i].addr.family == family) {
			r = strbuf_printf(o, "add %s %s\n", tmp, ip_prefix_format(&v[i], buf));
		}
	}
	if (r >= 0) {
		r = strbuf_printf(o, "swap %s %s\ndestroy %s\n", tmp, name, tmp);
	}
	return r;
}

int calc_nat_render_ipt(const struct calc_nat *n, int family, struct strbuf *rules,
			struct strbuf *ipset)
{
	char masq[32], all[32];
	int r;

	if (family != AF_INET && family != AF_INET6) {
		return -EINVAL;
	}
	if (!calc_nat_active(n, family)) {
		return 0;
	}
	r = ipset_block(ipset, n->masq, n->n_masq, true, family);
	if (r >= 0) {
		r = ipset_block(ipset, n->all, n->n_all, false, family);
	}
	calc_nat_ipset_name(true, family, masq);
	calc_nat_ipset_name(false, family, all);
	if (r >= 0) {
		r = strbuf_printf(rules,
				  "*nat\n"
				  ":" CALC_NAT_IPT_CHAIN " - [0:0]\n"
				  "-A " CALC_NAT_IPT_CHAIN " -m set --match-set %s src -m set ! "
				  "--match-set %s dst -m comment --comment \"tby:nat-outgoing\" -j "
				  "MASQUERADE\n"
				  "COMMIT\n",
				  masq, all);
	}
	return r;
}
