/* SPDX-License-Identifier: Apache-2.0 */
/*
 * DOC: adopting our nftables table at start (nft-adopt.h). Four kinds of dump on one
 * NETLINK_NETFILTER socket, filtered by table in the kernel: chains (libnftnl parses them and
 * felix_nft_tag_chain() checks their tag), rules (only NFTA_RULE_CHAIN and
 * NFTA_RULE_USERDATA are read, with libmnl's attribute parser: a rule's expressions are of no
 * use here and parsing 10,000 of them would cost more than the rest), sets, and each named
 * set's elements (libmnl again: 100,000 elements as libnftnl objects would be 100,000
 * allocations). A chain's rules are ours when their tags count 0, 1, .. n-1 of n with one
 * rules hash; the kernel lists a chain's rules in order.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <libmnl/libmnl.h>
#include <libnftnl/chain.h>
#include <libnftnl/common.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "acl/nft-prog.h"
#include "felix/dataplane/policy/nft-adopt.h"
#include "felix/dataplane/policy/nft-build.h"
#include "lib/array.h"

#define RECV_BUF (64 * 1024) /* the kernel fills dump skbs up to 32 KiB for large readers */

struct chain_info {
	char name[NFT_DELTA_NAME_MAX];
	bool tagged; /* declaration tag valid */
	bool dirty;  /* a rule without our tag, or out of sequence */
	uint64_t decl, body;
	uint32_t count; /* rules the tags announce */
	uint32_t seen;	/* rules listed */
};

struct set_info {
	char name[NFT_DELTA_NAME_MAX];
	bool interval;
};

struct adopt {
	struct nft_delta *d;
	const char *table;
	struct mnl_socket *nl;
	uint32_t seq, portid;
	char *buf;
	struct chain_info *chains;
	size_t n_chains, cap_chains;
	struct set_info *sets;
	size_t n_sets, cap_sets;
	/* the set whose elements are being listed */
	const struct set_info *set;
	struct nft_delta_bound *bounds;
	size_t n_bounds, cap_bounds;
	struct felix_nft_adopt_stats st;
	int r; /* first error of a callback */
	char *err;
	size_t errlen;
};

/* Send the dump request @nlh and run @cb over every message of the answer. */
static int dump(struct adopt *a, struct nlmsghdr *nlh, mnl_cb_t cb)
{
	if (mnl_socket_sendto(a->nl, nlh, nlh->nlmsg_len) < 0) {
		return -errno;
	}
	for (;;) {
		ssize_t n = mnl_socket_recvfrom(a->nl, a->buf, RECV_BUF);
		if (n < 0) {
			return -errno;
		}
		a->st.bytes += (size_t)n;
		int r = mnl_cb_run(a->buf, (size_t)n, nlh->nlmsg_seq, a->portid, cb, a);
		if (r < 0) {
			return a->r < 0 ? a->r : -errno;
		}
		if (r == MNL_CB_STOP) {
			return a->r;
		}
	}
}

/* Every table-scoped object of kind @type (NFT_MSG_GETCHAIN, _GETRULE, _GETSET) of our table,
 * or with @set the elements of that set (NFT_MSG_GETSETELEM), through @cb. The kernel
 * filters by the table (and set) attributes of the request. */
static int dump_table(struct adopt *a, uint16_t type, const char *set, mnl_cb_t cb)
{
	_Static_assert((int)NFTA_CHAIN_TABLE == (int)NFTA_RULE_TABLE &&
			   (int)NFTA_RULE_TABLE == (int)NFTA_SET_TABLE &&
			   (int)NFTA_SET_TABLE == (int)NFTA_SET_ELEM_LIST_TABLE,
		       "one table attribute for every dump");
	char req[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh = nftnl_nlmsg_build_hdr(req, type, NFPROTO_INET, NLM_F_DUMP, a->seq++);

	mnl_attr_put_strz(nlh, NFTA_CHAIN_TABLE, a->table);
	if (set) {
		mnl_attr_put_strz(nlh, NFTA_SET_ELEM_LIST_SET, set);
	}
	return dump(a, nlh, cb);
}

/* ---- chains ---- */

static int chain_cb(const struct nlmsghdr *nlh, void *data)
{
	struct adopt *a = data;
	struct nftnl_chain *ch = nftnl_chain_alloc();
	int r;

	if (!ch || nftnl_chain_nlmsg_parse(nlh, ch) < 0) {
		nftnl_chain_free(ch);
		a->r = ch ? -EBADMSG : -ENOMEM;
		return MNL_CB_ERROR;
	}
	const char *name = nftnl_chain_get_str(ch, NFTNL_CHAIN_NAME) ?: "";
	const char *table = nftnl_chain_get_str(ch, NFTNL_CHAIN_TABLE) ?: "";
	if (strcmp(table, a->table) != 0) {
		nftnl_chain_free(ch);
		return MNL_CB_OK;
	}
	if (strlen(name) >= NFT_DELTA_NAME_MAX) {
		snprintf(a->err, a->errlen, "chain name too long: %.80s", name);
		nftnl_chain_free(ch);
		a->r = -EINVAL;
		return MNL_CB_ERROR;
	}
	r = array_grow(&a->chains, a->n_chains + 1, &a->cap_chains, sizeof(*a->chains));
	if (r < 0) {
		nftnl_chain_free(ch);
		a->r = r;
		return MNL_CB_ERROR;
	}
	struct chain_info *c = &a->chains[a->n_chains++];
	*c = (struct chain_info){0};
	snprintf(c->name, sizeof(c->name), "%s", name);
	c->tagged = felix_nft_tag_chain(ch, &c->decl);
	nftnl_chain_free(ch);
	return MNL_CB_OK;
}

static int chain_cmp(const void *x, const void *y)
{
	return strcmp(((const struct chain_info *)x)->name, ((const struct chain_info *)y)->name);
}

static int list_chains(struct adopt *a)
{
	int r = dump_table(a, NFT_MSG_GETCHAIN, NULL, chain_cb);
	if (r >= 0 && a->n_chains > 1) {
		qsort(a->chains, a->n_chains, sizeof(*a->chains), chain_cmp);
	}
	return r;
}

/* ---- rules: chain and udata only ---- */

static int rule_attr_cb(const struct nlattr *attr, void *data)
{
	const struct nlattr **tb = data;
	uint16_t type = mnl_attr_get_type(attr);
	if (type == NFTA_RULE_TABLE || type == NFTA_RULE_CHAIN || type == NFTA_RULE_USERDATA) {
		tb[type] = attr;
	}
	return MNL_CB_OK;
}

static int rule_cb(const struct nlmsghdr *nlh, void *data)
{
	struct adopt *a = data;
	const struct nlattr *tb[NFTA_RULE_MAX + 1] = {0};

	if (mnl_attr_parse(nlh, sizeof(struct nfgenmsg), rule_attr_cb, tb) < 0) {
		a->r = -EINVAL;
		snprintf(a->err, a->errlen, "cannot parse a rule");
		return MNL_CB_ERROR;
	}
	if (!tb[NFTA_RULE_TABLE] || !tb[NFTA_RULE_CHAIN] ||
	    strcmp(mnl_attr_get_str(tb[NFTA_RULE_TABLE]), a->table) != 0) {
		return MNL_CB_OK;
	}
	struct chain_info key = {0};
	snprintf(key.name, sizeof(key.name), "%s", mnl_attr_get_str(tb[NFTA_RULE_CHAIN]));
	struct chain_info *c =
	    array_find(&key, a->chains, a->n_chains, sizeof(*a->chains), chain_cmp);
	if (!c) {
		return MNL_CB_OK; /* a chain created since we listed them: its rules are not ours */
	}
	uint64_t body = 0;
	uint32_t index = 0, count = 0;
	const struct nlattr *ud = tb[NFTA_RULE_USERDATA];
	bool tagged = ud && felix_nft_tag_rule(mnl_attr_get_payload(ud),
					       mnl_attr_get_payload_len(ud), &body, &index, &count);
	if (!tagged || index != c->seen || (c->seen && (body != c->body || count != c->count))) {
		c->dirty = true;
	} else if (c->seen == 0) {
		c->body = body;
		c->count = count;
	}
	c->seen++;
	a->st.rules++;
	return MNL_CB_OK;
}

static int list_rules(struct adopt *a)
{
	return dump_table(a, NFT_MSG_GETRULE, NULL, rule_cb);
}

static int adopt_chains(struct adopt *a)
{
	int r = 0;
	for (size_t i = 0; i < a->n_chains && r >= 0; i++) {
		struct chain_info *c = &a->chains[i];
		bool ours = !c->dirty && (c->seen == 0 || c->seen == c->count);
		struct nft_delta_obj o = {.kind = NFT_DELTA_CHAIN,
					  .name = c->name,
					  .decl = c->tagged ? c->decl : 0,
					  .body = ours ? c->body : 0,
					  .n_rules = c->seen};
		a->st.chains++;
		a->st.chains_dirty += !ours;
		a->st.objs_foreign += !c->tagged;
		r = nft_delta_adopt(a->d, &o);
	}
	return r;
}

/* ---- sets ---- */

static int set_cb(const struct nlmsghdr *nlh, void *data)
{
	struct adopt *a = data;
	struct nftnl_set *s = nftnl_set_alloc();
	int r = 0;

	if (!s || nftnl_set_nlmsg_parse(nlh, s) < 0) {
		nftnl_set_free(s);
		a->r = s ? -EBADMSG : -ENOMEM;
		return MNL_CB_ERROR;
	}
	const char *name = nftnl_set_get_str(s, NFTNL_SET_NAME) ?: "";
	const char *table = nftnl_set_get_str(s, NFTNL_SET_TABLE) ?: "";
	uint32_t flags = nftnl_set_get_u32(s, NFTNL_SET_FLAGS);
	if (strcmp(table, a->table) != 0 || (flags & NFT_SET_ANONYMOUS)) {
		nftnl_set_free(s); /* anonymous sets belong to their rule */
		return MNL_CB_OK;
	}
	if (strlen(name) >= NFT_DELTA_NAME_MAX) {
		snprintf(a->err, a->errlen, "set name too long: %.80s", name);
		r = -EINVAL;
	}
	uint64_t decl = 0;
	bool tagged = felix_nft_tag_set(s, &decl);
	if (r >= 0) {
		r = array_grow(&a->sets, a->n_sets + 1, &a->cap_sets, sizeof(*a->sets));
	}
	if (r >= 0) {
		struct set_info *si = &a->sets[a->n_sets++];
		snprintf(si->name, sizeof(si->name), "%s", name);
		si->interval = flags & NFT_SET_INTERVAL;
		struct nft_delta_obj o = {.kind =
					      (flags & NFT_SET_MAP) ? NFT_DELTA_MAP : NFT_DELTA_SET,
					  .name = si->name,
					  .decl = tagged ? decl : 0};
		a->st.sets++;
		a->st.objs_foreign += !tagged;
		r = nft_delta_adopt(a->d, &o);
	}
	nftnl_set_free(s);
	if (r < 0) {
		a->r = r;
		return MNL_CB_ERROR;
	}
	return MNL_CB_OK;
}

static int list_sets(struct adopt *a)
{
	return dump_table(a, NFT_MSG_GETSET, NULL, set_cb);
}

/* ---- elements ---- */

/* tb[type] = attr for the attributes of one nest, ignoring types above @max. */
struct nest {
	const struct nlattr **tb;
	uint16_t max;
};

static int nest_cb(const struct nlattr *attr, void *data)
{
	const struct nest *n = data;
	uint16_t type = mnl_attr_get_type(attr);
	if (type <= n->max) {
		n->tb[type] = attr;
	}
	return MNL_CB_OK;
}

static int parse_nest(const struct nlattr *attr, const struct nlattr **tb, uint16_t max)
{
	struct nest n = {.tb = tb, .max = max};
	return mnl_attr_parse_nested(attr, nest_cb, &n) < 0 ? -EINVAL : 0;
}

/* The verdict of a map element (NFTA_SET_ELEM_DATA) into @e; @e->chain points into the
 * message. */
static int elem_verdict(const struct nlattr *data, struct nft_delta_elem *e)
{
	const struct nlattr *dtb[NFTA_DATA_MAX + 1] = {0};
	const struct nlattr *vtb[NFTA_VERDICT_MAX + 1] = {0};

	if (parse_nest(data, dtb, NFTA_DATA_MAX) < 0 || !dtb[NFTA_DATA_VERDICT] ||
	    parse_nest(dtb[NFTA_DATA_VERDICT], vtb, NFTA_VERDICT_MAX) < 0 ||
	    !vtb[NFTA_VERDICT_CODE]) {
		return -EINVAL;
	}
	switch ((int32_t)ntohl(mnl_attr_get_u32(vtb[NFTA_VERDICT_CODE]))) {
	case NF_DROP:
		e->verdict = NFT_DELTA_V_DROP;
		return 0;
	case NF_ACCEPT:
		e->verdict = NFT_DELTA_V_ACCEPT;
		return 0;
	case NFT_JUMP:
		if (!vtb[NFTA_VERDICT_CHAIN]) {
			return -EINVAL;
		}
		e->verdict = NFT_DELTA_V_JUMP;
		e->chain = mnl_attr_get_str(vtb[NFTA_VERDICT_CHAIN]);
		return 0;
	default:
		return -EINVAL; /* goto, return, continue: nothing tabby writes */
	}
}

static int elem_one(struct adopt *a, const struct nlattr *attr)
{
	const struct nlattr *tb[NFTA_SET_ELEM_MAX + 1] = {0};
	const struct nlattr *ktb[NFTA_DATA_MAX + 1] = {0};
	struct nft_delta_elem e = {.plen = NFT_DELTA_NO_PREFIX};

	if (parse_nest(attr, tb, NFTA_SET_ELEM_MAX) < 0 || !tb[NFTA_SET_ELEM_KEY] ||
	    parse_nest(tb[NFTA_SET_ELEM_KEY], ktb, NFTA_DATA_MAX) < 0 || !ktb[NFTA_DATA_VALUE]) {
		snprintf(a->err, a->errlen, "set %s: an element without a key", a->set->name);
		return -EINVAL;
	}
	uint16_t len = mnl_attr_get_payload_len(ktb[NFTA_DATA_VALUE]);
	if (len == 0 || len > NFT_DELTA_KEY_MAX) {
		snprintf(a->err, a->errlen, "set %s: a key of %u bytes", a->set->name, len);
		return -EINVAL;
	}
	const void *key = mnl_attr_get_payload(ktb[NFTA_DATA_VALUE]);
	uint32_t flags =
	    tb[NFTA_SET_ELEM_FLAGS] ? ntohl(mnl_attr_get_u32(tb[NFTA_SET_ELEM_FLAGS])) : 0;
	if (a->set->interval) {
		int r = array_grow(&a->bounds, a->n_bounds + 1, &a->cap_bounds, sizeof(*a->bounds));
		if (r < 0) {
			return r;
		}
		struct nft_delta_bound *b = &a->bounds[a->n_bounds++];
		memcpy(b->key, key, len);
		b->len = (uint8_t)len;
		b->end = flags & NFT_SET_ELEM_INTERVAL_END;
		return 0;
	}
	memcpy(e.key, key, len);
	e.len = (uint8_t)len;
	if (tb[NFTA_SET_ELEM_DATA] && elem_verdict(tb[NFTA_SET_ELEM_DATA], &e) < 0) {
		snprintf(a->err, a->errlen,
			 "set %s: an element with a verdict tabby does not write", a->set->name);
		return -EINVAL;
	}
	a->st.elems++;
	return nft_delta_adopt_elem(a->d, a->set->name, &e);
}

static int elem_cb(const struct nlmsghdr *nlh, void *data)
{
	struct adopt *a = data;
	const struct nlattr *tb[NFTA_SET_ELEM_LIST_MAX + 1] = {0};
	struct nest n = {.tb = tb, .max = NFTA_SET_ELEM_LIST_MAX};
	const struct nlattr *x;
	int r = 0;

	if (mnl_attr_parse(nlh, sizeof(struct nfgenmsg), nest_cb, &n) < 0) {
		a->r = -EINVAL;
		return MNL_CB_ERROR;
	}
	if (!tb[NFTA_SET_ELEM_LIST_ELEMENTS]) {
		return MNL_CB_OK;
	}
	mnl_attr_for_each_nested(x, tb[NFTA_SET_ELEM_LIST_ELEMENTS])
	{
		if (mnl_attr_get_type(x) == NFTA_LIST_ELEM && (r = elem_one(a, x)) < 0) {
			a->r = r;
			return MNL_CB_ERROR;
		}
	}
	return MNL_CB_OK;
}

static int list_elems(struct adopt *a, const struct set_info *si)
{
	a->set = si;
	a->n_bounds = 0;
	int r = dump_table(a, NFT_MSG_GETSETELEM, si->name, elem_cb);
	if (r < 0 || !si->interval || a->n_bounds == 0) {
		return r;
	}
	/* starts and ends back into prefixes, into the engine */
	_cleanup_free_ struct nft_delta_elem *v = calloc(a->n_bounds, sizeof(*v));
	size_t n = 0;
	if (!v) {
		return -ENOMEM;
	}
	if (nft_delta_prefixes(a->bounds, a->n_bounds, v, &n) < 0) {
		snprintf(a->err, a->errlen,
			 "set %s: its intervals are not the prefixes tabby writes", si->name);
		return -EINVAL;
	}
	for (size_t i = 0; i < n && r >= 0; i++) {
		r = nft_delta_adopt_elem(a->d, si->name, &v[i]);
	}
	a->st.elems += n;
	return r;
}

int felix_nft_adopt(struct nft_delta *d, const char *table, struct felix_nft_adopt_stats *st,
		    char *err, size_t errlen)
{
	struct adopt a = {.d = d,
			  .table = table ?: NFT_PROG_TABLE,
			  .seq = (uint32_t)time(NULL),
			  .err = err,
			  .errlen = errlen};
	int r = 0;

	err[0] = '\0';
	nft_delta_forget(d);
	a.buf = malloc(RECV_BUF);
	a.nl = mnl_socket_open2(NETLINK_NETFILTER, SOCK_CLOEXEC);
	if (!a.buf) {
		r = -ENOMEM;
	} else if (!a.nl || mnl_socket_bind(a.nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		r = -errno;
		snprintf(err, errlen, "netlink socket: %s", strerror(-r));
	} else {
		a.portid = mnl_socket_get_portid(a.nl);
		r = list_chains(&a);
		if (r == -ENOENT) {
			snprintf(err, errlen, "no table inet %s", a.table);
		}
	}
	if (r >= 0) {
		r = list_rules(&a);
	}
	if (r >= 0) {
		r = adopt_chains(&a);
	}
	if (r >= 0) {
		r = list_sets(&a);
	}
	for (size_t i = 0; i < a.n_sets && r >= 0; i++) {
		r = list_elems(&a, &a.sets[i]);
	}
	if (r < 0 && !err[0]) {
		snprintf(err, errlen, "listing table inet %s: %s", a.table, strerror(-r));
	}
	if (a.nl) {
		mnl_socket_close(a.nl);
	}
	free(a.buf);
	free(a.chains);
	free(a.sets);
	free(a.bounds);
	if (r < 0) {
		nft_delta_forget(d);
		return r;
	}
	nft_delta_adopt_done(d);
	if (st) {
		*st = a.st;
	}
	return 0;
}
