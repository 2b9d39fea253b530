/* SPDX-License-Identifier: Apache-2.0 */
/*
 * DOC: nft_prog -> libnftnl objects (nf_tables netlink messages) for table inet tabby
 *
 * The kernel must end up with exactly what `nft -f` makes of nft_prog_format()'s text, so
 * that the text stays a faithful debug view and either path can replace the other. These are
 * the expressions nft 1.0.6 generates (read back with `nft --debug=netlink`):
 *
 *   iifname "x" / "tby*"        meta load iifname; cmp 16 bytes zero padded / 3-byte prefix
 *   iifname [!=] @set           meta load; lookup (NFT_LOOKUP_F_INV for !=)
 *   iifname vmap @map           meta load; lookup dreg verdict
 *   meta nfproto/l4proto N      meta load; cmp 1 byte
 *   meta l4proto { .. }         meta load; lookup anonymous set (inet_proto)
 *   ip saddr P                  [meta nfproto] payload (prefix bytes when byte aligned, else
 *                               the address and a bitwise mask); cmp
 *   ip saddr != { A }           [meta nfproto] payload; cmp (one element) or lookup anon set
 *   ip saddr @set, ip daddr . meta l4proto . th dport @set
 *                               [meta nfproto] payload(s) into consecutive 32-bit registers;
 *                               lookup
 *   th dport N | N-M | {..}     payload; cmp | cmp gte + cmp lte (!=: range neq) | lookup anon
 *                               set (interval, adjacent ranges merged, when any is a range)
 *   icmp type N icmp code M     [meta nfproto] [meta l4proto] payload 2 bytes; cmp (merged)
 *   icmp type . icmp code != {} [deps] two payloads; lookup anon concat set
 *   ct state A,B                ct load; bitwise & mask; cmp neq 0
 *   meta mark & M == V          meta load mark; bitwise; cmp
 *   meta mark set mark & M | V  meta load mark; bitwise (mask, xor); meta set mark
 *   log, verdicts               log prefix; immediate verdict [chain]
 *
 * "[meta nfproto]": in an inet table nft adds the network-protocol dependency of ip/ip6/
 * icmp matches unless the rule already matched it, and `meta l4proto` for icmp likewise.
 * Anonymous sets carry the udata nft writes (key byte order, typeof), byte for byte.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <libmnl/libmnl.h>
#include <libnftnl/batch.h>
#include <libnftnl/chain.h>
#include <libnftnl/common.h>
#include <libnftnl/expr.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <libnftnl/table.h>
#include <libnftnl/udata.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "felix/dataplane/policy/nft-build.h"
#include "lib/array.h"

#define ELEMS_PER_MSG 256
#define UDATA_MAX 256

/* nftables datatype ids (src/datatype.h) and enum byteorder, as nft writes them. */
#define TYPE_VERDICT_KERNEL NFT_DATA_VERDICT
#define TYPE_IPADDR 7
#define TYPE_IP6ADDR 8
#define TYPE_INET_PROTOCOL 12
#define TYPE_INET_SERVICE 13
#define TYPE_IFNAME 41
#define TYPE_ICMP6_TYPE 29
#define TYPE_BITS 6
#define BYTEORDER_HOST 1
#define BYTEORDER_BIG 2

static void free_udata(struct nftnl_udata_buf **p)
{
	if (*p)
		nftnl_udata_buf_free(*p);
}

/* ---- tags (FELIX_NFT_UDATA_TAG) ---- */

struct tag_decl {
	uint64_t decl, attrs;
};

struct tag_rule {
	uint64_t body;
	uint32_t index, count;
};

static uint64_t hash_u32(uint64_t h, uint32_t v)
{
	return hash_fnv1a(h, &v, sizeof(v));
}

/* What the kernel reports back of a chain's declaration (the comment is in the decl hash). */
static uint64_t chain_attrs(const struct nftnl_chain *ch)
{
	uint64_t h = HASH_FNV1A_INIT;
	if (nftnl_chain_is_set(ch, NFTNL_CHAIN_HOOKNUM)) {
		const char *type = nftnl_chain_get_str(ch, NFTNL_CHAIN_TYPE) ?: "";
		h = hash_u32(h, nftnl_chain_get_u32(ch, NFTNL_CHAIN_HOOKNUM));
		h = hash_u32(h, (uint32_t)nftnl_chain_get_s32(ch, NFTNL_CHAIN_PRIO));
		h = hash_u32(h, nftnl_chain_get_u32(ch, NFTNL_CHAIN_POLICY));
		h = hash_fnv1a(h, type, strlen(type) + 1);
	}
	return h;
}

static uint64_t set_attrs(const struct nftnl_set *s)
{
	uint64_t h = HASH_FNV1A_INIT;
	h = hash_u32(h, nftnl_set_get_u32(s, NFTNL_SET_FLAGS));
	h = hash_u32(h, nftnl_set_get_u32(s, NFTNL_SET_KEY_TYPE));
	h = hash_u32(h, nftnl_set_get_u32(s, NFTNL_SET_KEY_LEN));
	if (nftnl_set_is_set(s, NFTNL_SET_DATA_TYPE)) {
		h = hash_u32(h, nftnl_set_get_u32(s, NFTNL_SET_DATA_TYPE));
		h = hash_u32(h, nftnl_set_get_u32(s, NFTNL_SET_DATA_LEN));
	}
	return h;
}

struct tag_find {
	const void *v;
	size_t len;
};

static int tag_cb(const struct nftnl_udata *attr, void *data)
{
	struct tag_find *f = data;
	if (nftnl_udata_type(attr) == FELIX_NFT_UDATA_TAG) {
		f->v = nftnl_udata_get(attr);
		f->len = nftnl_udata_len(attr);
	}
	return 0;
}

/* The tag TLV's payload in udata @ud (@len bytes) when it is @want bytes long. */
static const void *tag_find(const void *ud, size_t len, size_t want)
{
	struct tag_find f = {0};
	if (!ud || nftnl_udata_parse(ud, (uint32_t)len, tag_cb, &f) < 0 || f.len != want)
		return NULL;
	return f.v;
}

/* A declaration tag in udata @ud whose attribute hash is @attrs (the object's, now). */
static bool tag_decl_check(const void *ud, uint32_t len, uint64_t attrs, uint64_t *ret_decl)
{
	const void *v = tag_find(ud, len, sizeof(struct tag_decl));
	struct tag_decl t;

	if (!v)
		return false;
	memcpy(&t, v, sizeof(t));
	*ret_decl = t.decl;
	return t.attrs == attrs;
}

bool felix_nft_tag_chain(const struct nftnl_chain *ch, uint64_t *ret_decl)
{
	uint32_t len = 0;
	const void *ud = nftnl_chain_get_data(ch, NFTNL_CHAIN_USERDATA, &len);

	return tag_decl_check(ud, len, chain_attrs(ch), ret_decl);
}

bool felix_nft_tag_set(const struct nftnl_set *s, uint64_t *ret_decl)
{
	uint32_t len = 0;
	const void *ud = nftnl_set_get_data(s, NFTNL_SET_USERDATA, &len);

	return tag_decl_check(ud, len, set_attrs(s), ret_decl);
}

bool felix_nft_tag_rule(const void *ud, size_t len, uint64_t *ret_body, uint32_t *ret_index,
			uint32_t *ret_count)
{
	const void *v = tag_find(ud, len, sizeof(struct tag_rule));
	struct tag_rule t;

	if (!v)
		return false;
	memcpy(&t, v, sizeof(t));
	*ret_body = t.body;
	*ret_index = t.index;
	*ret_count = t.count;
	return true;
}

/* ---- messages ---- */

static struct nlmsghdr *msg(struct felix_nft_build *b, uint16_t type, uint16_t flags)
{
	return nftnl_nlmsg_build_hdr(nftnl_batch_buffer(b->batch), type, NFPROTO_INET,
				     flags | NLM_F_ACK, b->seq++);
}

static int next(struct felix_nft_build *b)
{
	if (nftnl_batch_update(b->batch) < 0)
		return -ENOMEM;
	b->n_msgs++;
	return 0;
}

int felix_nft_build_begin(struct felix_nft_build *b, struct nftnl_batch *batch, uint32_t seq)
{
	*b = (struct felix_nft_build){
	    .batch = batch, .table = NFT_PROG_TABLE, .seq = seq, .set_id = 1};
	nftnl_batch_begin(nftnl_batch_buffer(batch), b->seq++);
	if (nftnl_batch_update(batch) < 0)
		return -ENOMEM;
	b->first_seq = b->seq;
	return 0;
}

int felix_nft_build_end(struct felix_nft_build *b)
{
	nftnl_batch_end(nftnl_batch_buffer(b->batch), b->seq++);
	return nftnl_batch_update(b->batch) < 0 ? -ENOMEM : 0;
}

/* The kernel's extended ack message (NETLINK_EXT_ACK on the socket), or NULL. */
static const char *ext_ack(const struct nlmsghdr *h)
{
	const struct nlmsgerr *e = mnl_nlmsg_get_payload(h);
	size_t off = sizeof(*e);
	const struct nlattr *a;

	if (!(h->nlmsg_flags & NLM_F_ACK_TLVS))
		return NULL;
	if (!(h->nlmsg_flags & NLM_F_CAPPED))
		off += e->msg.nlmsg_len - sizeof(e->msg);
	mnl_attr_for_each(a, h, off)
	{
		if (mnl_attr_get_type(a) == NLMSGERR_ATTR_MSG)
			return mnl_attr_get_str(a);
	}
	return NULL;
}

int felix_nft_build_send(struct mnl_socket *nl, const struct felix_nft_build *b, char *err,
			 size_t errlen)
{
	int n_iov = nftnl_batch_iovec_len(b->batch);
	_cleanup_free_ struct iovec *iov = calloc((size_t)n_iov + 1, sizeof(*iov));
	struct sockaddr_nl snl = {.nl_family = AF_NETLINK};
	struct msghdr mh = {.msg_name = &snl, .msg_namelen = sizeof(snl)};
	char buf[MNL_SOCKET_BUFFER_SIZE];
	size_t acks = 0;
	int first = 0;

	if (!iov)
		return -ENOMEM;
	nftnl_batch_iovec(b->batch, iov, (uint32_t)n_iov);
	mh.msg_iov = iov;
	mh.msg_iovlen = (size_t)n_iov;
	if (sendmsg(mnl_socket_get_fd(nl), &mh, 0) < 0) {
		int r = -errno;

		if (err)
			snprintf(err, errlen, "sendmsg: %s", strerror(-r));
		return r;
	}
	while (acks < b->n_msgs) {
		struct pollfd p = {.fd = mnl_socket_get_fd(nl), .events = POLLIN};
		ssize_t len;
		int rem;

		/* The kernel answers within sendmsg(); after an error it may ack no more. */
		if (poll(&p, 1, first ? 100 : 2000) == 0)
			return first ? first : -ETIMEDOUT;
		len = recv(mnl_socket_get_fd(nl), buf, sizeof(buf), MSG_DONTWAIT);
		if (len < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			return -errno;
		}
		rem = (int)len;
		for (const struct nlmsghdr *h = (const struct nlmsghdr *)buf; mnl_nlmsg_ok(h, rem);
		     h = mnl_nlmsg_next(h, &rem)) {
			const struct nlmsgerr *e;

			if (h->nlmsg_type != NLMSG_ERROR)
				continue;
			e = mnl_nlmsg_get_payload(h);
			acks++;
			if (e->error && !first) {
				first = e->error;
				if (err)
					snprintf(err, errlen, "message %u of %zu (type %u): %s%s%s",
						 e->msg.nlmsg_seq - b->first_seq + 1, b->n_msgs,
						 e->msg.nlmsg_type & 0xff, strerror(-first),
						 ext_ack(h) ? ": " : "", ext_ack(h) ?: "");
			}
		}
	}
	return first;
}

/* ---- table, chains ---- */

int felix_nft_build_table(struct felix_nft_build *b, bool add)
{
	struct nftnl_table *t = nftnl_table_alloc();
	struct nlmsghdr *nlh;

	if (!t)
		return -ENOMEM;
	nftnl_table_set_str(t, NFTNL_TABLE_NAME, b->table);
	nlh = msg(b, add ? NFT_MSG_NEWTABLE : NFT_MSG_DELTABLE, add ? NLM_F_CREATE : 0);
	nftnl_table_nlmsg_build_payload(nlh, t);
	nftnl_table_free(t);
	return next(b);
}

static uint32_t hooknum(enum nft_prog_hook h)
{
	return h == NFT_PROG_HOOK_INPUT		? NF_INET_LOCAL_IN
	       : h == NFT_PROG_HOOK_FORWARD	? NF_INET_FORWARD
	       : h == NFT_PROG_HOOK_POSTROUTING ? NF_INET_POST_ROUTING
						: NF_INET_LOCAL_OUT;
}

int felix_nft_build_chain(struct felix_nft_build *b, const struct nft_prog_chain *c)
{
	_cleanup_(free_udata) struct nftnl_udata_buf *ud = NULL;
	struct nftnl_chain *ch = nftnl_chain_alloc();
	struct nlmsghdr *nlh;

	if (!ch)
		return -ENOMEM;
	nftnl_chain_set_str(ch, NFTNL_CHAIN_TABLE, b->table);
	nftnl_chain_set_str(ch, NFTNL_CHAIN_NAME, c->name);
	if (c->hook != NFT_PROG_HOOK_NONE) {
		nftnl_chain_set_u32(ch, NFTNL_CHAIN_HOOKNUM, hooknum(c->hook));
		nftnl_chain_set_s32(ch, NFTNL_CHAIN_PRIO, c->priority);
		nftnl_chain_set_str(ch, NFTNL_CHAIN_TYPE,
				    c->hook == NFT_PROG_HOOK_POSTROUTING ? "nat" : "filter");
		nftnl_chain_set_u32(ch, NFTNL_CHAIN_POLICY,
				    c->policy == NFT_PROG_V_DROP ? NF_DROP : NF_ACCEPT);
	}
	if (c->comment || b->tag) {
		struct tag_decl t = {.decl = b->tag_decl, .attrs = chain_attrs(ch)};
		ud = nftnl_udata_buf_alloc(UDATA_MAX);
		if (!ud ||
		    (c->comment &&
		     !nftnl_udata_put_strz(ud, NFTNL_UDATA_CHAIN_COMMENT, c->comment)) ||
		    (b->tag && !nftnl_udata_put(ud, FELIX_NFT_UDATA_TAG, sizeof(t), &t))) {
			nftnl_chain_free(ch);
			return -ENOMEM;
		}
		nftnl_chain_set_data(ch, NFTNL_CHAIN_USERDATA, nftnl_udata_buf_data(ud),
				     nftnl_udata_buf_len(ud));
	}
	nlh = msg(b, NFT_MSG_NEWCHAIN, NLM_F_CREATE);
	nftnl_chain_nlmsg_build_payload(nlh, ch);
	nftnl_chain_free(ch);
	return next(b);
}

static int del_chain_or_rules(struct felix_nft_build *b, const char *name, bool chain)
{
	struct nlmsghdr *nlh;

	if (chain) {
		struct nftnl_chain *ch = nftnl_chain_alloc();

		if (!ch)
			return -ENOMEM;
		nftnl_chain_set_str(ch, NFTNL_CHAIN_TABLE, b->table);
		nftnl_chain_set_str(ch, NFTNL_CHAIN_NAME, name);
		nlh = msg(b, NFT_MSG_DELCHAIN, 0);
		nftnl_chain_nlmsg_build_payload(nlh, ch);
		nftnl_chain_free(ch);
	} else {
		struct nftnl_rule *r = nftnl_rule_alloc();

		if (!r)
			return -ENOMEM;
		nftnl_rule_set_str(r, NFTNL_RULE_TABLE, b->table);
		nftnl_rule_set_str(r, NFTNL_RULE_CHAIN, name);
		nlh = msg(b, NFT_MSG_DELRULE, 0);
		nftnl_rule_nlmsg_build_payload(nlh, r);
		nftnl_rule_free(r);
	}
	return next(b);
}

int felix_nft_build_flush_chain(struct felix_nft_build *b, const char *name)
{
	return del_chain_or_rules(b, name, false);
}

int felix_nft_build_del_chain(struct felix_nft_build *b, const char *name)
{
	return del_chain_or_rules(b, name, true);
}

/* ---- sets and elements ---- */

/* One element: key, optional interval-end flag, verdict data, udata flags. */
struct elem {
	uint8_t key[40];
	uint32_t len;
	bool end;  /* NFT_SET_ELEM_INTERVAL_END */
	bool open; /* udata NFTNL_SET_ELEM_F_INTERVAL_OPEN: an interval reaching the top */
	int verdict;
	const char *chain;
	bool has_verdict;
};

static int add_elem(struct nftnl_set *s, const struct elem *e)
{
	struct nftnl_set_elem *x = nftnl_set_elem_alloc();

	if (!x)
		return -ENOMEM;
	if (nftnl_set_elem_set(x, NFTNL_SET_ELEM_KEY, e->key, e->len) < 0)
		goto nomem;
	if (e->end)
		nftnl_set_elem_set_u32(x, NFTNL_SET_ELEM_FLAGS, NFT_SET_ELEM_INTERVAL_END);
	if (e->has_verdict) {
		nftnl_set_elem_set_u32(x, NFTNL_SET_ELEM_VERDICT, (uint32_t)e->verdict);
		if (e->chain && nftnl_set_elem_set_str(x, NFTNL_SET_ELEM_CHAIN, e->chain) < 0)
			goto nomem;
	}
	if (e->open) {
		static const uint8_t open[] = {NFTNL_UDATA_SET_ELEM_FLAGS, 4, 1, 0, 0, 0};

		if (nftnl_set_elem_set(x, NFTNL_SET_ELEM_USERDATA, open, sizeof(open)) < 0)
			goto nomem;
	}
	nftnl_set_elem_add(s, x);
	return 0;
nomem:
	nftnl_set_elem_free(x);
	return -ENOMEM;
}

/* NEWSETELEM/DELSETELEM for @e[0..@n) in messages of ELEMS_PER_MSG; @set_id for anon sets. */
static int put_elems(struct felix_nft_build *b, const char *set, uint32_t set_id,
		     const struct elem *e, size_t n, bool add)
{
	for (size_t i = 0; i < n; i += ELEMS_PER_MSG) {
		struct nftnl_set *s = nftnl_set_alloc();
		struct nlmsghdr *nlh;
		int r = 0;

		if (!s)
			return -ENOMEM;
		nftnl_set_set_str(s, NFTNL_SET_TABLE, b->table);
		nftnl_set_set_str(s, NFTNL_SET_NAME, set);
		if (set_id)
			nftnl_set_set_u32(s, NFTNL_SET_ID, set_id);
		for (size_t k = i; k < n && k < i + ELEMS_PER_MSG && r >= 0; k++)
			r = add_elem(s, &e[k]);
		if (r < 0) {
			nftnl_set_free(s);
			return r;
		}
		nlh = msg(b, add ? NFT_MSG_NEWSETELEM : NFT_MSG_DELSETELEM, add ? NLM_F_CREATE : 0);
		nftnl_set_elems_nlmsg_build_payload(nlh, s);
		nftnl_set_free(s);
		r = next(b);
		if (r < 0)
			return r;
	}
	return 0;
}

struct set_desc {
	const char *name; /* "__set%d" for anonymous sets */
	uint32_t id;	  /* anonymous sets */
	uint32_t flags;
	uint32_t key_type, key_len;
	bool map;
	const uint8_t *udata;
	size_t udata_len;
	const char *comment;
	uint32_t size; /* NFTNL_SET_DESC_SIZE, 0 = none */
};

static int put_set(struct felix_nft_build *b, const struct set_desc *d)
{
	struct nftnl_set *s = nftnl_set_alloc();
	struct nlmsghdr *nlh;
	uint8_t ud[UDATA_MAX];
	size_t n = d->udata_len;
	int r = -ENOMEM;

	if (!s)
		return -ENOMEM;
	nftnl_set_set_str(s, NFTNL_SET_TABLE, b->table);
	nftnl_set_set_str(s, NFTNL_SET_NAME, d->name);
	nftnl_set_set_u32(s, NFTNL_SET_FLAGS, d->flags);
	nftnl_set_set_u32(s, NFTNL_SET_KEY_TYPE, d->key_type);
	nftnl_set_set_u32(s, NFTNL_SET_KEY_LEN, d->key_len);
	if (d->map) {
		nftnl_set_set_u32(s, NFTNL_SET_DATA_TYPE, TYPE_VERDICT_KERNEL);
		nftnl_set_set_u32(s, NFTNL_SET_DATA_LEN, 16);
	}
	/* The kernel wants an id on every NEWSET (rules of the same batch may use it). */
	nftnl_set_set_u32(s, NFTNL_SET_ID, d->id ? d->id : b->set_id++);
	if (d->size)
		nftnl_set_set_u32(s, NFTNL_SET_DESC_SIZE, d->size);
	/* udata: nft's TLVs (d->udata) then the comment TLV (NFTNL_UDATA_SET_COMMENT). */
	memcpy(ud, d->udata, n);
	if (d->comment) {
		size_t cl = strlen(d->comment) + 1;

		if (cl > NFT_PROG_COMMENT_MAX + 1 || n + 2 + cl > sizeof(ud)) {
			r = -EINVAL;
			goto out;
		}
		ud[n++] = NFTNL_UDATA_SET_COMMENT;
		ud[n++] = (uint8_t)cl;
		memcpy(ud + n, d->comment, cl);
		n += cl;
	}
	if (b->tag && !(d->flags & NFT_SET_ANONYMOUS)) {
		struct tag_decl t = {.decl = b->tag_decl, .attrs = set_attrs(s)};

		if (n + 2 + sizeof(t) > sizeof(ud)) {
			r = -EINVAL;
			goto out;
		}
		ud[n++] = FELIX_NFT_UDATA_TAG;
		ud[n++] = (uint8_t)sizeof(t);
		memcpy(ud + n, &t, sizeof(t));
		n += sizeof(t);
	}
	if (n && nftnl_set_set_data(s, NFTNL_SET_USERDATA, ud, (uint32_t)n) < 0)
		goto out;
	nlh = msg(b, NFT_MSG_NEWSET, NLM_F_CREATE);
	nftnl_set_nlmsg_build_payload(nlh, s);
	r = next(b);
out:
	nftnl_set_free(s);
	return r;
}

/* Udata of named sets, as nft 1.0.6 writes them (before the comment). */
static const uint8_t ud_addr[] = {0x00, 0x04, 0x02, 0x00, 0x00, 0x00};	 /* key byte order: big */
static const uint8_t ud_ifname[] = {0x00, 0x04, 0x01, 0x00, 0x00, 0x00}; /* host */
static const uint8_t ud_map[] = {0x00, 0x04, 0x01, 0x00, 0x00, 0x00,	 /* key: host */
				 0x01, 0x04, 0x00, 0x00, 0x00, 0x00,	 /* data: invalid */
				 0x06, 0x04, 0x00, 0x00, 0x00, 0x00};	 /* data interval: 0 */
static const uint8_t ud_concat[] = {0x00, 0x04, 0x00, 0x00, 0x00, 0x00, 0x03, 0x08,
				    0x00, 0x04, 0x0d, 0x00, 0x00, 0x00, 0x01, 0x00};

static uint32_t concat_type(uint32_t a, uint32_t b, uint32_t c)
{
	return (a << (2 * TYPE_BITS)) | (b << TYPE_BITS) | c;
}

static bool set_is_v6(const struct nft_prog_set *s)
{
	return s->type == NFT_PROG_T_IPV6 || s->type == NFT_PROG_T_IPV6_PROTO_PORT;
}

static bool set_is_proto_port(const struct nft_prog_set *s)
{
	return s->type == NFT_PROG_T_IPV4_PROTO_PORT || s->type == NFT_PROG_T_IPV6_PROTO_PORT;
}

/* The elements of one member: 1 (concat, or a prefix reaching the top) or 2. */
static int member_elems(const struct nft_prog_set *s, const struct acl_member *m,
			struct elem out[2], size_t *ret_n)
{
	int family = set_is_v6(s) ? AF_INET6 : AF_INET;
	size_t alen = family == AF_INET ? 4 : 16;
	struct ip_prefix p;
	size_t i;

	if (m->net.addr.family != family || s->type == NFT_PROG_T_IFNAME)
		return -EINVAL;
	p = ip_prefix_mask(m->net);
	memset(out, 0, 2 * sizeof(*out));
	memcpy(out[0].key, p.addr.bytes, alen);
	if (set_is_proto_port(s)) {
		out[0].key[alen] = m->proto;
		out[0].key[alen + 4] = (uint8_t)(m->port >> 8);
		out[0].key[alen + 5] = (uint8_t)m->port;
		out[0].len = (uint32_t)alen + 8;
		*ret_n = 1;
		return 0;
	}
	out[0].len = (uint32_t)alen;
	out[1] = out[0];
	out[1].end = true;
	for (unsigned bit = p.len; bit < alen * 8; bit++)
		out[1].key[bit / 8] |= (uint8_t)(0x80u >> (bit % 8));
	for (i = alen; i > 0 && ++out[1].key[i - 1] == 0; i--)
		;
	if (i == 0) {
		out[0].open = true; /* reaches the top: no end element */
		*ret_n = 1;
		return 0;
	}
	*ret_n = 2;
	return 0;
}

int felix_nft_build_set_members(struct felix_nft_build *b, const struct nft_prog_set *s,
				const struct acl_member *m, size_t n, bool add)
{
	_cleanup_free_ struct elem *e = calloc(2 * n + 1, sizeof(*e));
	size_t k = 0;
	int r;

	if (!e)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		size_t got;

		r = member_elems(s, &m[i], &e[k], &got);
		if (r < 0)
			return r;
		k += got;
	}
	return put_elems(b, s->name, 0, e, k, add);
}

int felix_nft_build_set_ifelems(struct felix_nft_build *b, const struct nft_prog_set *s,
				const struct nft_prog_ifelem *x, size_t n, bool add)
{
	_cleanup_free_ struct elem *e = calloc(n + 1, sizeof(*e));

	if (!e)
		return -ENOMEM;
	if (s->type != NFT_PROG_T_IFNAME)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		memcpy(e[i].key, x[i].ifname, NFT_PROG_IFNAME_MAX);
		e[i].len = NFT_PROG_IFNAME_MAX;
		if (!s->map) {
			if (x[i].verdict != NFT_PROG_V_NONE)
				return -EINVAL;
			continue;
		}
		e[i].has_verdict = true;
		switch (x[i].verdict) {
		case NFT_PROG_V_ACCEPT:
			e[i].verdict = NF_ACCEPT;
			break;
		case NFT_PROG_V_DROP:
			e[i].verdict = NF_DROP;
			break;
		case NFT_PROG_V_JUMP:
			if (strnlen(x[i].chain, NFT_PROG_NAME_MAX) == NFT_PROG_NAME_MAX)
				return -EINVAL;
			e[i].verdict = NFT_JUMP;
			e[i].chain = x[i].chain;
			break;
		default:
			return -EINVAL;
		}
	}
	return put_elems(b, s->name, 0, e, n, add);
}

int felix_nft_build_set(struct felix_nft_build *b, const struct nft_prog_set *s, bool with_elems)
{
	struct set_desc d = {.name = s->name, .comment = s->comment};
	int r;

	switch (s->type) {
	case NFT_PROG_T_IFNAME:
		d.key_type = TYPE_IFNAME;
		d.key_len = NFT_PROG_IFNAME_MAX;
		d.map = s->map;
		d.flags = s->map ? NFT_SET_MAP : 0;
		d.udata = s->map ? ud_map : ud_ifname;
		d.udata_len = s->map ? sizeof(ud_map) : sizeof(ud_ifname);
		break;
	case NFT_PROG_T_IPV4:
	case NFT_PROG_T_IPV6:
		d.key_type = s->type == NFT_PROG_T_IPV4 ? TYPE_IPADDR : TYPE_IP6ADDR;
		d.key_len = s->type == NFT_PROG_T_IPV4 ? 4 : 16;
		d.udata = ud_addr;
		d.udata_len = sizeof(ud_addr);
		break;
	case NFT_PROG_T_IPV4_PROTO_PORT:
	case NFT_PROG_T_IPV6_PROTO_PORT:
		d.key_type = concat_type(set_is_v6(s) ? TYPE_IP6ADDR : TYPE_IPADDR,
					 TYPE_INET_PROTOCOL, TYPE_INET_SERVICE);
		d.key_len = set_is_v6(s) ? 24 : 12;
		d.udata = ud_concat;
		d.udata_len = sizeof(ud_concat);
		break;
	default:
		return -EINVAL;
	}
	if (s->interval)
		d.flags |= NFT_SET_INTERVAL;
	r = put_set(b, &d);
	if (r < 0 || !with_elems)
		return r;
	if (s->n_ifelems)
		return felix_nft_build_set_ifelems(b, s, s->ifelems, s->n_ifelems, true);
	if (s->n_members == 0)
		return 0;
	{
		_cleanup_free_ struct elem *e = calloc(2 * s->n_members + 2, sizeof(*e));
		size_t k = 0;

		if (!e)
			return -ENOMEM;
		for (size_t i = 0; i < s->n_members; i++) {
			size_t got;

			r = member_elems(s, &s->members[i], &e[k + 1], &got);
			if (r < 0)
				return r;
			k += got;
		}
		/* A full interval set starts with an end element at 0 unless its first interval
		 * does (nft's segtree). */
		if (s->interval) {
			bool zero = true;

			for (uint32_t i = 0; i < e[1].len; i++)
				zero = zero && e[1].key[i] == 0;
			if (!zero) {
				e[0] = (struct elem){.len = e[1].len, .end = true};
				return put_elems(b, s->name, 0, e, k + 1, true);
			}
		}
		return put_elems(b, s->name, 0, e + 1, k, true);
	}
}

int felix_nft_build_del_set(struct felix_nft_build *b, const char *name)
{
	struct nftnl_set *s = nftnl_set_alloc();
	struct nlmsghdr *nlh;

	if (!s)
		return -ENOMEM;
	nftnl_set_set_str(s, NFTNL_SET_TABLE, b->table);
	nftnl_set_set_str(s, NFTNL_SET_NAME, name);
	nlh = msg(b, NFT_MSG_DELSET, 0);
	nftnl_set_nlmsg_build_payload(nlh, s);
	nftnl_set_free(s);
	return next(b);
}

/* ---- anonymous sets ---- */

/* Udata of anonymous sets, as nft 1.0.6 writes them: key byte order, [automerge], typeof. */
#define UD_BIG 0x00, 0x04, 0x02, 0x00, 0x00, 0x00
#define UD_MERGE 0x02, 0x04, 0x01, 0x00, 0x00, 0x00
#define UD_PAYLOAD(desc, field)                                                               \
	0x03, 0x14, 0x00, 0x04, 0x07, 0x00, 0x00, 0x00, 0x01, 0x0c, 0x00, 0x04, (desc), 0x00, \
	    0x00, 0x00, 0x01, 0x04, (field), 0x00, 0x00, 0x00
#define PROTO_DESC_ICMP 0x04
#define PROTO_DESC_TH 0x0b
#define PROTO_DESC_IP 0x0c
#define PROTO_DESC_IP6 0x0d
#define PROTO_DESC_ICMP6 0x0e

static const uint8_t ud_l4proto[] = {0x00, 0x04, 0x01, 0x00, 0x00, 0x00, 0x03, 0x0e,
				     0x00, 0x04, 0x09, 0x00, 0x00, 0x00, 0x01, 0x06,
				     0x00, 0x04, 0x10, 0x00, 0x00, 0x00};
static const uint8_t ud_sport[] = {UD_BIG, UD_PAYLOAD(PROTO_DESC_TH, 1)};
static const uint8_t ud_dport[] = {UD_BIG, UD_PAYLOAD(PROTO_DESC_TH, 2)};
static const uint8_t ud_sport_iv[] = {UD_BIG, UD_MERGE, UD_PAYLOAD(PROTO_DESC_TH, 1)};
static const uint8_t ud_dport_iv[] = {UD_BIG, UD_MERGE, UD_PAYLOAD(PROTO_DESC_TH, 2)};
static const uint8_t ud_ip_saddr[] = {UD_BIG, UD_PAYLOAD(PROTO_DESC_IP, 11)};
static const uint8_t ud_ip_daddr[] = {UD_BIG, UD_PAYLOAD(PROTO_DESC_IP, 12)};
static const uint8_t ud_ip6_saddr[] = {UD_BIG, UD_PAYLOAD(PROTO_DESC_IP6, 8)};
static const uint8_t ud_ip6_daddr[] = {UD_BIG, UD_PAYLOAD(PROTO_DESC_IP6, 9)};
static const uint8_t ud_icmp6_type[] = {UD_BIG, UD_PAYLOAD(PROTO_DESC_ICMP6, 1)};
#define UD_TYPE_CODE(desc)                                                                        \
	0x00, 0x04, 0x00, 0x00, 0x00, 0x00, 0x03, 0x34, 0x00, 0x04, 0x0d, 0x00, 0x00, 0x00, 0x01, \
	    0x2c, 0x00, 0x14, UD_PAYLOAD_BODY(desc, 1), 0x01, 0x14, UD_PAYLOAD_BODY(desc, 2)
#define UD_PAYLOAD_BODY(desc, field)                                                          \
	0x00, 0x04, 0x07, 0x00, 0x00, 0x00, 0x01, 0x0c, 0x00, 0x04, (desc), 0x00, 0x00, 0x00, \
	    0x01, 0x04, (field), 0x00, 0x00, 0x00
static const uint8_t ud_icmp_tc[] = {UD_TYPE_CODE(PROTO_DESC_ICMP)};
static const uint8_t ud_icmp6_tc[] = {UD_TYPE_CODE(PROTO_DESC_ICMP6)};
#define TYPE_ICMP_TYPE_CODE 0x3a0
#define TYPE_ICMP6_TYPE_CODE 0x761

/* NEWSET "__set%d" (anonymous, constant) + its elements. Return: its set id, or -errno. */
static int64_t anon_set(struct felix_nft_build *b, uint32_t key_type, uint32_t key_len,
			bool interval, const uint8_t *ud, size_t ud_len, const struct elem *e,
			size_t n, uint32_t size)
{
	struct set_desc d = {.name = "__set%d",
			     .id = b->set_id++,
			     .flags = NFT_SET_ANONYMOUS | NFT_SET_CONSTANT |
				      (interval ? NFT_SET_INTERVAL : 0),
			     .key_type = key_type,
			     .key_len = key_len,
			     .udata = ud,
			     .udata_len = ud_len,
			     .size = size};
	int r = put_set(b, &d);

	if (r >= 0)
		r = put_elems(b, d.name, d.id, e, n, true);
	return r < 0 ? r : (int64_t)d.id;
}

/* ---- rules ---- */

/* nftables' netlink_put_register(): 32-bit register index -> the number the kernel gets. */
static uint32_t reg32(unsigned idx)
{
	return idx % 4 == 0 ? NFT_REG_1 + idx / 4 : NFT_REG32_00 + idx;
}

struct rb {
	struct felix_nft_build *b;
	struct nftnl_rule *r;
	int nfproto; /* established by the rule so far: 0, NFPROTO_IPV4, NFPROTO_IPV6 */
	int l4proto; /* -1 unknown */
};

static int push(struct rb *x, struct nftnl_expr *e)
{
	if (!e)
		return -ENOMEM;
	nftnl_rule_add_expr(x->r, e);
	return 0;
}

static int e_meta(struct rb *x, uint32_t key, uint32_t reg, bool set)
{
	struct nftnl_expr *e = nftnl_expr_alloc("meta");

	if (e) {
		nftnl_expr_set_u32(e, NFTNL_EXPR_META_KEY, key);
		nftnl_expr_set_u32(e, set ? NFTNL_EXPR_META_SREG : NFTNL_EXPR_META_DREG, reg);
	}
	return push(x, e);
}

static int e_payload(struct rb *x, uint32_t base, uint32_t off, uint32_t len, uint32_t reg)
{
	struct nftnl_expr *e = nftnl_expr_alloc("payload");

	if (e) {
		nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_DREG, reg);
		nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_BASE, base);
		nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_OFFSET, off);
		nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_LEN, len);
	}
	return push(x, e);
}

static int e_cmp(struct rb *x, uint32_t op, const void *data, uint32_t len)
{
	struct nftnl_expr *e = nftnl_expr_alloc("cmp");

	if (e) {
		nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_SREG, NFT_REG_1);
		nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_OP, op);
		if (nftnl_expr_set(e, NFTNL_EXPR_CMP_DATA, data, len) < 0) {
			nftnl_expr_free(e);
			e = NULL;
		}
	}
	return push(x, e);
}

static int e_bitwise(struct rb *x, uint32_t len, const void *mask, const void * xor)
{
	struct nftnl_expr *e = nftnl_expr_alloc("bitwise");

	if (e) {
		nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_SREG, NFT_REG_1);
		nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_DREG, NFT_REG_1);
		nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_LEN, len);
		if (nftnl_expr_set(e, NFTNL_EXPR_BITWISE_MASK, mask, len) < 0 ||
		    nftnl_expr_set(e, NFTNL_EXPR_BITWISE_XOR, xor, len) < 0) {
			nftnl_expr_free(e);
			e = NULL;
		}
	}
	return push(x, e);
}

/* @set_id 0: a named set; @dreg < 0: no data register. */
static int e_lookup(struct rb *x, const char *set, uint32_t set_id, int dreg, bool inv)
{
	struct nftnl_expr *e = nftnl_expr_alloc("lookup");

	if (e) {
		nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_SREG, NFT_REG_1);
		if (nftnl_expr_set_str(e, NFTNL_EXPR_LOOKUP_SET, set) < 0) {
			nftnl_expr_free(e);
			return -ENOMEM;
		}
		if (set_id)
			nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_SET_ID, set_id);
		if (dreg >= 0)
			nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_DREG, (uint32_t)dreg);
		if (inv)
			nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_FLAGS, NFT_LOOKUP_F_INV);
	}
	return push(x, e);
}

static int e_range(struct rb *x, uint32_t op, const void *from, const void *to, uint32_t len)
{
	struct nftnl_expr *e = nftnl_expr_alloc("range");

	if (e) {
		nftnl_expr_set_u32(e, NFTNL_EXPR_RANGE_SREG, NFT_REG_1);
		nftnl_expr_set_u32(e, NFTNL_EXPR_RANGE_OP, op);
		if (nftnl_expr_set(e, NFTNL_EXPR_RANGE_FROM_DATA, from, len) < 0 ||
		    nftnl_expr_set(e, NFTNL_EXPR_RANGE_TO_DATA, to, len) < 0) {
			nftnl_expr_free(e);
			e = NULL;
		}
	}
	return push(x, e);
}

static int e_verdict(struct rb *x, int verdict, const char *chain)
{
	struct nftnl_expr *e = nftnl_expr_alloc("immediate");

	if (e) {
		nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_DREG, NFT_REG_VERDICT);
		nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_VERDICT, (uint32_t)verdict);
		if (chain && nftnl_expr_set_str(e, NFTNL_EXPR_IMM_CHAIN, chain) < 0) {
			nftnl_expr_free(e);
			e = NULL;
		}
	}
	return push(x, e);
}

static uint32_t cmp_op(const struct nft_prog_stmt *s)
{
	return s->op == NFT_PROG_NEQ ? NFT_CMP_NEQ : NFT_CMP_EQ;
}

static int meta_cmp(struct rb *x, uint32_t key, uint32_t op, uint8_t v)
{
	int r = e_meta(x, key, NFT_REG_1, false);

	return r < 0 ? r : e_cmp(x, op, &v, 1);
}

/* The dependencies nft adds in an inet table: meta nfproto, and meta l4proto for icmp. */
static int dep_nfproto(struct rb *x, const struct nft_prog_stmt *s)
{
	int want = s->fam == NFT_PROG_FAM_IPV6 ? NFPROTO_IPV6 : NFPROTO_IPV4;

	if (x->nfproto == want)
		return 0;
	x->nfproto = want;
	return meta_cmp(x, NFT_META_NFPROTO, NFT_CMP_EQ, (uint8_t)want);
}

static int dep_icmp(struct rb *x, const struct nft_prog_stmt *s)
{
	int want = s->fam == NFT_PROG_FAM_IPV6 ? IPPROTO_ICMPV6 : IPPROTO_ICMP;
	int r = dep_nfproto(x, s);

	if (r < 0 || x->l4proto == want)
		return r;
	x->l4proto = want;
	return meta_cmp(x, NFT_META_L4PROTO, NFT_CMP_EQ, (uint8_t)want);
}

static int addr_payload(struct rb *x, const struct nft_prog_stmt *s, uint32_t len, unsigned reg)
{
	bool v6 = s->fam == NFT_PROG_FAM_IPV6;
	uint32_t off = v6 ? (s->key == NFT_PROG_SRC ? 8 : 24) : (s->key == NFT_PROG_SRC ? 12 : 16);

	return e_payload(x, NFT_PAYLOAD_NETWORK_HEADER, off, len, reg32(reg));
}

static int port_payload(struct rb *x, enum nft_prog_side side, unsigned reg)
{
	return e_payload(x, NFT_PAYLOAD_TRANSPORT_HEADER, side == NFT_PROG_SRC ? 0 : 2, 2,
			 reg32(reg));
}

static int do_addr_prefix(struct rb *x, const struct nft_prog_stmt *s, const void *d, size_t len)
{
	uint32_t alen = s->fam == NFT_PROG_FAM_IPV6 ? 16 : 4;
	uint8_t mask[16] = {0}, zero[16] = {0};
	struct ip_prefix p;
	int r;

	if (len != sizeof(p))
		return -EINVAL;
	memcpy(&p, d, sizeof(p));
	if (p.len == 0 || p.len > alen * 8)
		return -EOPNOTSUPP;
	p = ip_prefix_mask(p);
	r = dep_nfproto(x, s);
	if (r < 0)
		return r;
	if (p.len % 8 == 0) { /* nft shortens the load to the prefix's bytes */
		r = addr_payload(x, s, p.len / 8, 0);
		return r < 0 ? r : e_cmp(x, cmp_op(s), p.addr.bytes, p.len / 8);
	}
	for (unsigned bit = 0; bit < p.len; bit++)
		mask[bit / 8] |= (uint8_t)(0x80u >> (bit % 8));
	if ((r = addr_payload(x, s, alen, 0)) < 0 || (r = e_bitwise(x, alen, mask, zero)) < 0)
		return r;
	return e_cmp(x, cmp_op(s), p.addr.bytes, alen);
}

static int do_addr_in(struct rb *x, const struct nft_prog_stmt *s, const void *d, size_t len)
{
	bool v6 = s->fam == NFT_PROG_FAM_IPV6;
	uint32_t alen = v6 ? 16 : 4;
	size_t n = len / sizeof(struct ip_addr);
	_cleanup_free_ struct elem *e = NULL;
	const uint8_t *ud;
	size_t ud_len;
	int64_t id;
	int r;

	if (n == 0)
		return -EINVAL;
	if ((r = dep_nfproto(x, s)) < 0 || (r = addr_payload(x, s, alen, 0)) < 0)
		return r;
	if (n == 1) { /* nft turns a one-element anonymous set into a comparison */
		struct ip_addr a;

		memcpy(&a, d, sizeof(a));
		return e_cmp(x, cmp_op(s), a.bytes, alen);
	}
	e = calloc(n, sizeof(*e));
	if (!e)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		struct ip_addr a;

		memcpy(&a, (const uint8_t *)d + i * sizeof(a), sizeof(a));
		memcpy(e[i].key, a.bytes, alen);
		e[i].len = alen;
	}
	ud = v6 ? (s->key == NFT_PROG_SRC ? ud_ip6_saddr : ud_ip6_daddr)
		: (s->key == NFT_PROG_SRC ? ud_ip_saddr : ud_ip_daddr);
	ud_len = sizeof(ud_ip_saddr);
	id = anon_set(x->b, v6 ? TYPE_IP6ADDR : TYPE_IPADDR, alen, false, ud, ud_len, e, n,
		      (uint32_t)n);
	if (id < 0)
		return (int)id;
	return e_lookup(x, "__set%d", (uint32_t)id, -1, s->op == NFT_PROG_NEQ);
}

static int cmp_range(const void *a, const void *b)
{
	const struct acl_port_range *x = a, *y = b;

	return x->first != y->first ? (x->first < y->first ? -1 : 1)
				    : (x->last < y->last ? -1 : x->last > y->last);
}

static void port_key(struct elem *e, uint32_t port)
{
	e->key[0] = (uint8_t)(port >> 8);
	e->key[1] = (uint8_t)port;
	e->len = 2;
}

static int do_port(struct rb *x, const struct nft_prog_stmt *s, const void *d, size_t len)
{
	size_t n = len / sizeof(struct acl_port_range);
	_cleanup_free_ struct acl_port_range *rg = NULL;
	_cleanup_free_ struct elem *e = NULL;
	bool interval = false;
	size_t k = 0, m = 0;
	int64_t id;
	int r;

	if (n == 0)
		return -EINVAL;
	rg = calloc(n, sizeof(*rg));
	if (!rg)
		return -ENOMEM;
	memcpy(rg, d, n * sizeof(*rg));
	for (size_t i = 0; i < n; i++) {
		if (rg[i].first > rg[i].last)
			return -EINVAL;
		interval = interval || rg[i].first != rg[i].last;
	}
	r = port_payload(x, (enum nft_prog_side)s->key, 0);
	if (r < 0)
		return r;
	if (n == 1) {
		uint16_t a = htons(rg[0].first), z = htons(rg[0].last);

		if (rg[0].first == rg[0].last)
			return e_cmp(x, cmp_op(s), &a, 2);
		if (s->op == NFT_PROG_NEQ)
			return e_range(x, NFT_RANGE_NEQ, &a, &z, 2);
		r = e_cmp(x, NFT_CMP_GTE, &a, 2);
		return r < 0 ? r : e_cmp(x, NFT_CMP_LTE, &z, 2);
	}
	e = calloc(2 * n + 1, sizeof(*e));
	if (!e)
		return -ENOMEM;
	if (!interval) {
		for (size_t i = 0; i < n; i++)
			port_key(&e[k++], rg[i].first);
		id = anon_set(x->b, TYPE_INET_SERVICE, 2, false,
			      s->key == NFT_PROG_SRC ? ud_sport : ud_dport, sizeof(ud_sport), e, k,
			      (uint32_t)k);
	} else {
		/* Sorted, overlapping and adjacent ranges merged (nft's automerge), a leading
		 * end element at 0, an end element after each range unless it reaches 65535. */
		qsort(rg, n, sizeof(*rg), cmp_range);
		for (size_t i = 1; i < n; i++) {
			if ((uint32_t)rg[m].last + 1 >= rg[i].first) {
				if (rg[i].last > rg[m].last)
					rg[m].last = rg[i].last;
			} else {
				rg[++m] = rg[i];
			}
		}
		m++;
		if (rg[0].first != 0) {
			port_key(&e[k], 0);
			e[k++].end = true;
		}
		for (size_t i = 0; i < m; i++) {
			port_key(&e[k++], rg[i].first);
			if (rg[i].last == UINT16_MAX) {
				e[k - 1].open = true;
				continue;
			}
			port_key(&e[k], (uint32_t)rg[i].last + 1);
			e[k++].end = true;
		}
		id = anon_set(x->b, TYPE_INET_SERVICE, 2, true,
			      s->key == NFT_PROG_SRC ? ud_sport_iv : ud_dport_iv,
			      sizeof(ud_sport_iv), e, k, (uint32_t)(2 * m + (rg[0].first != 0)));
	}
	if (id < 0)
		return (int)id;
	return e_lookup(x, "__set%d", (uint32_t)id, -1, s->op == NFT_PROG_NEQ);
}

static int do_icmp(struct rb *x, const struct nft_prog_stmt *s, const struct nft_prog_stmt *next_s,
		   const void *d, size_t len, bool *ret_merged)
{
	bool v6 = s->fam == NFT_PROG_FAM_IPV6;
	int r = dep_icmp(x, s);

	*ret_merged = false;
	if (r < 0)
		return r;
	switch (s->type) {
	case NFT_PROG_S_ICMP_TYPE:
		if (s->op == NFT_PROG_EQ && next_s && next_s->type == NFT_PROG_S_ICMP_CODE &&
		    next_s->op == NFT_PROG_EQ && next_s->fam == s->fam) {
			/* nft merges adjacent payload matches: type and code in one load */
			uint8_t tc[2] = {s->u.icmp.type, next_s->u.icmp.code};

			*ret_merged = true;
			r = e_payload(x, NFT_PAYLOAD_TRANSPORT_HEADER, 0, 2, NFT_REG_1);
			return r < 0 ? r : e_cmp(x, NFT_CMP_EQ, tc, 2);
		}
		r = e_payload(x, NFT_PAYLOAD_TRANSPORT_HEADER, 0, 1, NFT_REG_1);
		return r < 0 ? r : e_cmp(x, cmp_op(s), &s->u.icmp.type, 1);
	case NFT_PROG_S_ICMP_CODE:
		r = e_payload(x, NFT_PAYLOAD_TRANSPORT_HEADER, 1, 1, NFT_REG_1);
		return r < 0 ? r : e_cmp(x, cmp_op(s), &s->u.icmp.code, 1);
	case NFT_PROG_S_ICMP_TYPE_IN: {
		_cleanup_free_ struct elem *e = calloc(len + 1, sizeof(*e));
		int64_t id;

		if (!v6)
			return -EOPNOTSUPP;
		if (!e || len == 0)
			return e ? -EINVAL : -ENOMEM;
		for (size_t i = 0; i < len; i++) {
			e[i].key[0] = ((const uint8_t *)d)[i];
			e[i].len = 1;
		}
		r = e_payload(x, NFT_PAYLOAD_TRANSPORT_HEADER, 0, 1, NFT_REG_1);
		if (r < 0)
			return r;
		id = anon_set(x->b, TYPE_ICMP6_TYPE, 1, false, ud_icmp6_type, sizeof(ud_icmp6_type),
			      e, len, (uint32_t)len);
		if (id < 0)
			return (int)id;
		return e_lookup(x, "__set%d", (uint32_t)id, -1, s->op == NFT_PROG_NEQ);
	}
	case NFT_PROG_S_ICMP_TYPE_CODE: {
		struct elem e = {.key = {s->u.icmp.type, 0, 0, 0, s->u.icmp.code}, .len = 8};
		int64_t id;

		if ((r = e_payload(x, NFT_PAYLOAD_TRANSPORT_HEADER, 0, 1, reg32(0))) < 0 ||
		    (r = e_payload(x, NFT_PAYLOAD_TRANSPORT_HEADER, 1, 1, reg32(1))) < 0)
			return r;
		id = anon_set(x->b, v6 ? TYPE_ICMP6_TYPE_CODE : TYPE_ICMP_TYPE_CODE, 8, false,
			      v6 ? ud_icmp6_tc : ud_icmp_tc, sizeof(ud_icmp_tc), &e, 1, 1);
		if (id < 0)
			return (int)id;
		return e_lookup(x, "__set%d", (uint32_t)id, -1, s->op == NFT_PROG_NEQ);
	}
	default:
		return -EINVAL;
	}
}

static int do_mark(struct rb *x, const struct nft_prog_stmt *s)
{
	uint32_t mask, xor = 0, zero = 0;
	int r = e_meta(x, NFT_META_MARK, NFT_REG_1, false);

	if (r < 0)
		return r;
	switch (s->type) {
	case NFT_PROG_S_MARK_TEST:
		mask = s->u.mark.mask;
		r = e_bitwise(x, 4, &mask, &zero);
		return r < 0 ? r : e_cmp(x, cmp_op(s), &s->u.mark.value, 4);
	case NFT_PROG_S_MARK_AND:
		mask = s->u.value;
		break;
	default: /* MARK_OR: (mark & ~v) ^ v */
		mask = ~s->u.value;
		xor = s->u.value;
		break;
	}
	r = e_bitwise(x, 4, &mask, &xor);
	return r < 0 ? r : e_meta(x, NFT_META_MARK, NFT_REG_1, true);
}

static int do_stmt(struct rb *x, const struct nft_prog_chain *c, const struct nft_prog_stmt *s,
		   const struct nft_prog_stmt *next_s, bool *ret_skip_next)
{
	const void *d = nft_prog_stmt_data(c, s);
	size_t len = d ? s->u.ref.len : 0;
	uint32_t ifkey = s->key == NFT_PROG_SRC ? NFT_META_IIFNAME : NFT_META_OIFNAME;
	int r;

	*ret_skip_next = false;
	switch (s->type) {
	case NFT_PROG_S_IFNAME: {
		char name[NFT_PROG_IFNAME_MAX] = {0};
		size_t n = d ? strnlen(d, len) : 0;

		if (n == 0 || n >= NFT_PROG_IFNAME_MAX)
			return -EINVAL;
		memcpy(name, d, n);
		if ((r = e_meta(x, ifkey, NFT_REG_1, false)) < 0)
			return r;
		if (name[n - 1] == '*') /* wildcard: compare the prefix only */
			return e_cmp(x, cmp_op(s), name, (uint32_t)(n - 1));
		return e_cmp(x, cmp_op(s), name, NFT_PROG_IFNAME_MAX);
	}
	case NFT_PROG_S_IFNAME_SET:
	case NFT_PROG_S_VMAP:
		if (!d)
			return -EINVAL;
		if ((r = e_meta(x, ifkey, NFT_REG_1, false)) < 0)
			return r;
		return e_lookup(x, d, 0, s->type == NFT_PROG_S_VMAP ? NFT_REG_VERDICT : -1,
				s->op == NFT_PROG_NEQ);
	case NFT_PROG_S_NFPROTO:
		x->nfproto = s->fam == NFT_PROG_FAM_IPV6 ? NFPROTO_IPV6 : NFPROTO_IPV4;
		return meta_cmp(x, NFT_META_NFPROTO, cmp_op(s), (uint8_t)x->nfproto);
	case NFT_PROG_S_L4PROTO:
		if (s->op == NFT_PROG_EQ)
			x->l4proto = (int)s->u.value;
		return meta_cmp(x, NFT_META_L4PROTO, cmp_op(s), (uint8_t)s->u.value);
	case NFT_PROG_S_L4PROTO_IN: {
		_cleanup_free_ struct elem *e = calloc(len + 1, sizeof(*e));
		int64_t id;

		if (!e || len == 0)
			return e ? -EINVAL : -ENOMEM;
		for (size_t i = 0; i < len; i++) {
			e[i].key[0] = ((const uint8_t *)d)[i];
			e[i].len = 1;
		}
		if ((r = e_meta(x, NFT_META_L4PROTO, NFT_REG_1, false)) < 0)
			return r;
		id = anon_set(x->b, TYPE_INET_PROTOCOL, 1, false, ud_l4proto, sizeof(ud_l4proto), e,
			      len, (uint32_t)len);
		if (id < 0)
			return (int)id;
		return e_lookup(x, "__set%d", (uint32_t)id, -1, s->op == NFT_PROG_NEQ);
	}
	case NFT_PROG_S_ADDR:
		return d ? do_addr_prefix(x, s, d, len) : -EINVAL;
	case NFT_PROG_S_ADDR_IN:
		return d ? do_addr_in(x, s, d, len) : -EINVAL;
	case NFT_PROG_S_ADDR_SET:
		if (!d)
			return -EINVAL;
		if ((r = dep_nfproto(x, s)) < 0 ||
		    (r = addr_payload(x, s, s->fam == NFT_PROG_FAM_IPV6 ? 16 : 4, 0)) < 0)
			return r;
		return e_lookup(x, d, 0, -1, s->op == NFT_PROG_NEQ);
	case NFT_PROG_S_ADDR_PORT_SET: {
		unsigned words = s->fam == NFT_PROG_FAM_IPV6 ? 4 : 1;

		if (!d)
			return -EINVAL;
		if ((r = dep_nfproto(x, s)) < 0 || (r = addr_payload(x, s, words * 4, 0)) < 0 ||
		    (r = e_meta(x, NFT_META_L4PROTO, reg32(words), false)) < 0 ||
		    (r = port_payload(x, (enum nft_prog_side)s->key, words + 1)) < 0)
			return r;
		return e_lookup(x, d, 0, -1, s->op == NFT_PROG_NEQ);
	}
	case NFT_PROG_S_PORT:
		return d ? do_port(x, s, d, len) : -EINVAL;
	case NFT_PROG_S_ICMP_TYPE:
	case NFT_PROG_S_ICMP_TYPE_IN:
	case NFT_PROG_S_ICMP_CODE:
	case NFT_PROG_S_ICMP_TYPE_CODE:
		return do_icmp(x, s, next_s, d, len, ret_skip_next);
	case NFT_PROG_S_CT_STATE: {
		uint32_t mask = s->u.value, zero = 0;
		struct nftnl_expr *e = nftnl_expr_alloc("ct");

		if (e) {
			nftnl_expr_set_u32(e, NFTNL_EXPR_CT_KEY, NFT_CT_STATE);
			nftnl_expr_set_u32(e, NFTNL_EXPR_CT_DREG, NFT_REG_1);
		}
		if ((r = push(x, e)) < 0 || (r = e_bitwise(x, 4, &mask, &zero)) < 0)
			return r;
		return e_cmp(x, s->op == NFT_PROG_NEQ ? NFT_CMP_EQ : NFT_CMP_NEQ, &zero, 4);
	}
	case NFT_PROG_S_MARK_TEST:
	case NFT_PROG_S_MARK_AND:
	case NFT_PROG_S_MARK_OR:
		return do_mark(x, s);
	case NFT_PROG_S_LOG: {
		struct nftnl_expr *e = nftnl_expr_alloc("log");

		if (!d)
			return -EINVAL;
		if (e && nftnl_expr_set_str(e, NFTNL_EXPR_LOG_PREFIX, d) < 0) {
			nftnl_expr_free(e);
			e = NULL;
		}
		return push(x, e);
	}
	case NFT_PROG_S_MASQ:
		return push(x, nftnl_expr_alloc("masq"));
	case NFT_PROG_S_VERDICT:
		switch (s->key) {
		case NFT_PROG_V_ACCEPT:
			return e_verdict(x, NF_ACCEPT, NULL);
		case NFT_PROG_V_DROP:
			return e_verdict(x, NF_DROP, NULL);
		case NFT_PROG_V_RETURN:
			return e_verdict(x, NFT_RETURN, NULL);
		case NFT_PROG_V_JUMP:
			return d ? e_verdict(x, NFT_JUMP, d) : -EINVAL;
		default:
			return -EINVAL;
		}
	default:
		return -EINVAL;
	}
}

int felix_nft_build_rule(struct felix_nft_build *b, const struct nft_prog_chain *c,
			 const struct nft_prog_rule *r)
{
	_cleanup_(free_udata) struct nftnl_udata_buf *ud = NULL;
	const char *comment = nft_prog_rule_comment(c, r);
	struct rb x = {.b = b, .r = nftnl_rule_alloc(), .l4proto = -1};
	struct nlmsghdr *nlh;
	int ret = 0;

	if (!x.r)
		return -ENOMEM;
	if ((size_t)r->stmt + r->n_stmts > c->n_stmts) {
		ret = -EINVAL;
		goto out;
	}
	nftnl_rule_set_str(x.r, NFTNL_RULE_TABLE, b->table);
	nftnl_rule_set_str(x.r, NFTNL_RULE_CHAIN, c->name);
	for (uint32_t i = 0; i < r->n_stmts && ret >= 0; i++) {
		const struct nft_prog_stmt *s = &c->stmts[r->stmt + i];
		const struct nft_prog_stmt *ns = i + 1 < r->n_stmts ? s + 1 : NULL;
		bool skip = false;

		ret = do_stmt(&x, c, s, ns, &skip);
		i += skip;
	}
	if (ret >= 0 && (comment || b->tag)) {
		struct tag_rule t = {
		    .body = b->tag_body, .index = b->tag_index, .count = b->tag_count};
		ud = nftnl_udata_buf_alloc(UDATA_MAX);
		if (!ud ||
		    (comment && !nftnl_udata_put_strz(ud, NFTNL_UDATA_RULE_COMMENT, comment)) ||
		    (b->tag && !nftnl_udata_put(ud, FELIX_NFT_UDATA_TAG, sizeof(t), &t))) {
			ret = -ENOMEM;
			goto out;
		}
		nftnl_rule_set_data(x.r, NFTNL_RULE_USERDATA, nftnl_udata_buf_data(ud),
				    nftnl_udata_buf_len(ud));
	}
	if (ret < 0)
		goto out;
	nlh = msg(b, NFT_MSG_NEWRULE, NLM_F_CREATE | NLM_F_APPEND);
	nftnl_rule_nlmsg_build_payload(nlh, x.r);
	ret = next(b);
out:
	nftnl_rule_free(x.r);
	return ret;
}

int felix_nft_build_chain_rules(struct felix_nft_build *b, const struct nft_prog_chain *c)
{
	b->tag_count = (uint32_t)c->n_rules;
	for (size_t i = 0; i < c->n_rules; i++) {
		int r;

		b->tag_index = (uint32_t)i;
		r = felix_nft_build_rule(b, c, &c->rules[i]);

		if (r < 0)
			return r;
	}
	return 0;
}

int felix_nft_build_prog(struct felix_nft_build *b, const struct nft_prog *p, unsigned flags)
{
	int r = felix_nft_build_table(b, true);

	if (r >= 0 && (flags & FELIX_NFT_BUILD_REPLACE)) {
		RET_GATHER(r, felix_nft_build_table(b, false));
		RET_GATHER(r, felix_nft_build_table(b, true));
	}
	for (size_t i = 0; i < p->n_chains && r >= 0; i++)
		r = felix_nft_build_chain(b, p->chains[i]);
	for (size_t i = 0; i < p->n_sets && r >= 0; i++)
		r = felix_nft_build_set(b, p->sets[i], true);
	for (size_t i = 0; i < p->n_chains && r >= 0; i++)
		r = felix_nft_build_chain_rules(b, p->chains[i]);
	return r;
}
