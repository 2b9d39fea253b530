/* SPDX-License-Identifier: Apache-2.0 */
/*
 * DOC: engine batches -> one nf_tables netlink transaction (libnftnl + libmnl).
 *
 * Tables, sets, chains and rules are nft-build's (the expressions nft 1.0.6 generates, so
 * `nft list` cannot tell the paths apart). Elements are ours: the engine keeps them as
 * kernel keys, so an element change needs no piece of the program, only the set's name:
 * consecutive element operations of one set become NEWSETELEM/DELSETELEM messages of up to
 * ELEMS_PER_MSG elements each (additions with NLM_F_CREATE without NLM_F_EXCL).
 */
#include <errno.h>
#include <libmnl/libmnl.h>
#include <libnftnl/batch.h>
#include <libnftnl/common.h>
#include <libnftnl/gen.h>
#include <libnftnl/set.h>
#include <libnftnl/table.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "acl/nft-prog.h"
#include "felix/dataplane/policy/nft-build.h"
#include "felix/dataplane/policy/nft-sink.h"
#include "lib/log.h"

#define ELEMS_PER_MSG 128
#define BATCH_PAGE (128 * 1024)

struct felix_nft_sink {
	struct mnl_socket *nl;
	uint32_t seq;
	size_t sndbuf, rcvbuf; /* what we set on @nl */
	size_t last_msgs, last_bytes;
	uint32_t gen; /* the ruleset generation our last batch left */
	bool gen_ok;  /* @gen is valid: nobody committed between our read and our batch */
};

int felix_nft_sink_new(struct felix_nft_sink **ret)
{
	struct felix_nft_sink *s = calloc(1, sizeof(*s));
	if (!s) {
		return -ENOMEM;
	}
	s->seq = (uint32_t)time(NULL);
	*ret = s;
	return 0;
}

static void sock_close(struct felix_nft_sink *s)
{
	if (s->nl) {
		mnl_socket_close(s->nl);
		s->nl = NULL;
		s->sndbuf = s->rcvbuf = 0;
	}
}

struct felix_nft_sink *felix_nft_sink_free(struct felix_nft_sink *s)
{
	if (s) {
		sock_close(s);
		free(s);
	}
	return NULL;
}

void felix_nft_sink_last(const struct felix_nft_sink *s, size_t *ret_msgs, size_t *ret_bytes)
{
	*ret_msgs = s->last_msgs;
	*ret_bytes = s->last_bytes;
}

static int sock_open(struct felix_nft_sink *s, char *err, size_t errlen)
{
	int one = 1, r;

	if (s->nl) {
		return 0;
	}
	s->nl = mnl_socket_open2(NETLINK_NETFILTER, SOCK_CLOEXEC);
	if (!s->nl) {
		r = -errno;
		snprintf(err, errlen, "netlink socket: %s", strerror(-r));
		return r;
	}
	if (mnl_socket_bind(s->nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		r = -errno;
		snprintf(err, errlen, "netlink bind: %s", strerror(-r));
		sock_close(s);
		return r;
	}
	/* acks without a copy of our message */
	(void)mnl_socket_setsockopt(s->nl, NETLINK_CAP_ACK, &one, sizeof(one));
	return 0;
}

/* Send the GET request @h (not a dump; sequence @seq; built in @buf, MNL_SOCKET_BUFFER_SIZE
 * bytes, which the answer then reuses) and read the answer, which the kernel sends within
 * sendto(): @fn(@m, @ctx) for each message of @seq that is not an error, until it returns
 * something other than -EPROTO. Return: what @fn returned, the kernel's error (NLMSG_ERROR),
 * -ETIMEDOUT, -EPROTO or another -errno of the socket. */
static int request(struct felix_nft_sink *s, char *buf, const struct nlmsghdr *h, uint32_t seq,
		   int (*fn)(const struct nlmsghdr *m, void *ctx), void *ctx)
{
	int r = -EPROTO;

	if (mnl_socket_sendto(s->nl, h, h->nlmsg_len) < 0) {
		return -errno;
	}
	for (int tries = 0; tries < 4 && r == -EPROTO; tries++) {
		ssize_t len =
		    recv(mnl_socket_get_fd(s->nl), buf, MNL_SOCKET_BUFFER_SIZE, MSG_DONTWAIT);
		int rem = (int)len;

		if (len < 0) {
			return errno == EAGAIN ? -ETIMEDOUT : -errno;
		}
		for (const struct nlmsghdr *m = (const struct nlmsghdr *)buf;
		     mnl_nlmsg_ok(m, rem) && r == -EPROTO; m = mnl_nlmsg_next(m, &rem)) {
			if (m->nlmsg_seq != seq) {
				continue; /* a late ack of an earlier batch */
			}
			if (m->nlmsg_type == NLMSG_ERROR) {
				const struct nlmsgerr *e = mnl_nlmsg_get_payload(m);
				r = e->error ? e->error : -EPROTO;
				break;
			}
			r = fn(m, ctx);
		}
	}
	return r;
}

static int gen_reply(const struct nlmsghdr *m, void *ctx)
{
	uint32_t *ret = ctx;
	int r;

	if (m->nlmsg_type != ((NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_NEWGEN)) {
		return -EPROTO;
	}
	struct nftnl_gen *g = nftnl_gen_alloc();
	if (!g) {
		return -ENOMEM;
	}
	if (nftnl_gen_nlmsg_parse(m, g) >= 0 && nftnl_gen_is_set(g, NFTNL_GEN_ID)) {
		*ret = nftnl_gen_get_u32(g, NFTNL_GEN_ID);
		r = 0;
	} else {
		r = -EBADMSG;
	}
	nftnl_gen_free(g);
	return r;
}

/* NFT_MSG_GETGEN: the ruleset generation of this network namespace (NFTA_GEN_ID, the kernel's
 * nf_tables base sequence: every committed transaction of any program bumps it; nft monitor
 * shows it as "new generation"). */
static int get_gen(struct felix_nft_sink *s, uint32_t *ret)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	uint32_t seq = s->seq++;
	struct nlmsghdr *h = nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETGEN, AF_UNSPEC, 0, seq);

	return request(s, buf, h, seq, gen_reply, ret);
}

bool felix_nft_sink_unchanged(struct felix_nft_sink *s)
{
	char err[128];
	uint32_t g;

	if (!s->gen_ok || sock_open(s, err, sizeof(err)) < 0 || get_gen(s, &g) < 0) {
		return false;
	}
	return g == s->gen;
}

static int table_reply(const struct nlmsghdr *m, void *ctx)
{
	return m->nlmsg_type == ((NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_NEWTABLE) ? 1 : -EPROTO;
}

int felix_nft_sink_table_exists(struct felix_nft_sink *s)
{
	char buf[MNL_SOCKET_BUFFER_SIZE], err[128];
	int r = sock_open(s, err, sizeof(err));

	if (r < 0) {
		return r;
	}
	struct nftnl_table *t = nftnl_table_alloc();
	if (!t) {
		return -ENOMEM;
	}
	uint32_t seq = s->seq++;
	struct nlmsghdr *h = nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETTABLE, NFPROTO_INET, 0, seq);
	nftnl_table_set_str(t, NFTNL_TABLE_NAME, NFT_PROG_TABLE);
	nftnl_table_nlmsg_build_payload(h, t);
	nftnl_table_free(t);
	r = request(s, buf, h, seq, table_reply, NULL);
	return r == -ENOENT ? 0 : r;
}

int felix_nft_sink_generation(struct felix_nft_sink *s, uint32_t *ret)
{
	char err[128];
	int r = sock_open(s, err, sizeof(err));
	return r < 0 ? r : get_gen(s, ret);
}

void felix_nft_sink_assume(struct felix_nft_sink *s, uint32_t gen)
{
	s->gen = gen;
	s->gen_ok = true;
}

/* The kernel runs the whole batch inside sendmsg() and queues one ack per message before
 * we read any: the receive buffer must hold them all (an skb each, about 1 KiB of
 * accounting), and the send buffer the whole batch (as nft's mnl_set_sndbuffer()). */
static void buffers(struct felix_nft_sink *s, size_t bytes, size_t n_msgs)
{
	int fd = mnl_socket_get_fd(s->nl);
	size_t snd = bytes + 65536, rcv = n_msgs * 1024 + 262144;
	int v;

	if (snd > s->sndbuf) {
		v = snd > INT32_MAX ? INT32_MAX : (int)snd;
		if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &v, sizeof(v)) < 0) {
			(void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &v, sizeof(v));
		}
		s->sndbuf = snd;
	}
	if (rcv > s->rcvbuf) {
		v = rcv > INT32_MAX ? INT32_MAX : (int)rcv;
		if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &v, sizeof(v)) < 0) {
			(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &v, sizeof(v));
		}
		s->rcvbuf = rcv;
	}
}

static int elem_add_key(struct nftnl_set *set, const uint8_t *key, size_t len, bool end,
			const struct nft_delta_elem *e)
{
	struct nftnl_set_elem *x = nftnl_set_elem_alloc();
	if (!x) {
		return -ENOMEM;
	}
	if (nftnl_set_elem_set(x, NFTNL_SET_ELEM_KEY, key, (uint32_t)len) < 0) {
		nftnl_set_elem_free(x);
		return -ENOMEM;
	}
	if (end) {
		nftnl_set_elem_set_u32(x, NFTNL_SET_ELEM_FLAGS, NFT_SET_ELEM_INTERVAL_END);
	}
	switch (e ? e->verdict : NFT_DELTA_V_NONE) {
	case NFT_DELTA_V_DROP:
		nftnl_set_elem_set_u32(x, NFTNL_SET_ELEM_VERDICT, NF_DROP);
		break;
	case NFT_DELTA_V_ACCEPT:
		nftnl_set_elem_set_u32(x, NFTNL_SET_ELEM_VERDICT, NF_ACCEPT);
		break;
	case NFT_DELTA_V_JUMP:
		nftnl_set_elem_set_u32(x, NFTNL_SET_ELEM_VERDICT, (uint32_t)NFT_JUMP);
		if (nftnl_set_elem_set_str(x, NFTNL_SET_ELEM_CHAIN, e->chain) < 0) {
			nftnl_set_elem_free(x);
			return -ENOMEM;
		}
		break;
	default:
		break;
	}
	nftnl_set_elem_add(set, x);
	return 0;
}

/* @e into @set: the key, and for an interval the end element (first key after the prefix;
 * none when the prefix reaches the top of the space). Data only on additions. */
static int elem_put(struct nftnl_set *set, const struct nft_delta_elem *e, bool add)
{
	int r = elem_add_key(set, e->key, e->len, false, add ? e : NULL);
	if (r < 0 || e->plen == NFT_DELTA_NO_PREFIX) {
		return r;
	}
	uint8_t end[NFT_DELTA_KEY_MAX];
	memcpy(end, e->key, e->len);
	for (unsigned bit = e->plen; bit < e->len * 8u; bit++) {
		end[bit / 8] |= (uint8_t)(0x80 >> (bit % 8));
	}
	size_t i = e->len;
	while (i > 0 && ++end[i - 1] == 0) {
		i--;
	}
	if (i == 0) {
		return 0; /* reaches the top: nft sends no end element */
	}
	return elem_add_key(set, end, e->len, true, NULL);
}

/* One NEWSETELEM/DELSETELEM message for ops[0..n) (same set, same type). */
static int put_elems(struct felix_nft_build *b, const struct nft_delta_op *ops, size_t n)
{
	bool add = ops[0].type == NFT_DELTA_OP_ELEM_ADD;
	struct nftnl_set *set = nftnl_set_alloc();
	int r = 0;

	if (!set) {
		return -ENOMEM;
	}
	nftnl_set_set_str(set, NFTNL_SET_TABLE, NFT_PROG_TABLE);
	nftnl_set_set_str(set, NFTNL_SET_NAME, ops[0].name);
	for (size_t i = 0; i < n && r >= 0; i++) {
		r = elem_put(set, ops[i].elem, add);
	}
	if (r >= 0) {
		struct nlmsghdr *nlh = nftnl_nlmsg_build_hdr(
		    nftnl_batch_buffer(b->batch), add ? NFT_MSG_NEWSETELEM : NFT_MSG_DELSETELEM,
		    NFPROTO_INET, (add ? NLM_F_CREATE : 0) | NLM_F_ACK, b->seq++);
		nftnl_set_elems_nlmsg_build_payload(nlh, set);
		b->n_msgs++;
		if (nftnl_batch_update(b->batch) < 0) {
			r = -ENOMEM;
		}
	}
	nftnl_set_free(set);
	return r;
}

static int build(struct felix_nft_build *b, const struct nft_delta_op *ops, size_t n, size_t *at)
{
	int r = 0;

	for (size_t i = 0; i < n && r >= 0;) {
		const struct nft_delta_op *o = &ops[i];
		*at = i;
		/* every chain, set and rule carries its tag (a restart adopts them: nft-adopt.c) */
		b->tag = true;
		b->tag_decl = o->decl;
		b->tag_body = o->body;
		switch (o->type) {
		case NFT_DELTA_OP_TABLE_ADD:
		case NFT_DELTA_OP_TABLE_DEL:
			r = felix_nft_build_table(b, o->type == NFT_DELTA_OP_TABLE_ADD);
			break;
		case NFT_DELTA_OP_SET_ADD:
			r = felix_nft_build_set(b, o->piece, false);
			break;
		case NFT_DELTA_OP_CHAIN_ADD:
			r = felix_nft_build_chain(b, o->piece);
			break;
		case NFT_DELTA_OP_CHAIN_FLUSH:
			r = felix_nft_build_flush_chain(b, o->name);
			break;
		case NFT_DELTA_OP_RULES_ADD:
			r = felix_nft_build_chain_rules(b, o->piece);
			break;
		case NFT_DELTA_OP_CHAIN_DEL:
			r = felix_nft_build_del_chain(b, o->name);
			break;
		case NFT_DELTA_OP_SET_DEL:
			r = felix_nft_build_del_set(b, o->name);
			break;
		case NFT_DELTA_OP_ELEM_ADD:
		case NFT_DELTA_OP_ELEM_DEL: {
			size_t j = i + 1;
			while (j < n && j - i < ELEMS_PER_MSG && ops[j].type == o->type &&
			       strcmp(ops[j].name, o->name) == 0) {
				j++;
			}
			r = put_elems(b, o, j - i);
			i = j;
			continue;
		}
		default:
			r = -EINVAL;
			break;
		}
		i++;
	}
	return r;
}

int felix_nft_sink_send(void *ctx, const struct nft_delta_op *ops, size_t n, char *err,
			size_t errlen)
{
	struct felix_nft_sink *s = ctx;
	struct felix_nft_build b = {0};
	struct nftnl_batch *batch = nftnl_batch_alloc(BATCH_PAGE, BATCH_PAGE);
	size_t at = 0;
	int r;

	if (!batch) {
		return -ENOMEM;
	}
	r = felix_nft_build_begin(&b, batch, s->seq);
	if (r >= 0) {
		r = build(&b, ops, n, &at);
		if (r < 0) {
			snprintf(err, errlen, "cannot encode %s %s: %s",
				 nft_delta_op_name(ops[at].type), ops[at].name ?: "", strerror(-r));
		}
	}
	if (r >= 0) {
		r = felix_nft_build_end(&b);
	}
	s->seq = b.seq + 1;
	if (r >= 0) {
		r = sock_open(s, err, errlen);
	}
	size_t bytes = 0;
	if (r >= 0) {
		int iovlen = nftnl_batch_iovec_len(batch);
		struct iovec iov[iovlen > 0 ? iovlen : 1];
		nftnl_batch_iovec(batch, iov, (uint32_t)iovlen);
		for (int i = 0; i < iovlen; i++) {
			bytes += iov[i].iov_len;
		}
		uint32_t g0 = 0, g1 = 0;
		bool g0_ok = get_gen(s, &g0) >= 0;

		buffers(s, bytes, b.n_msgs);
		r = felix_nft_build_send(s->nl, &b, err, errlen);
		if (r < 0) {
			/* unread acks would confuse the next transaction: start afresh */
			sock_close(s);
		}
		/* Ours alone when exactly one transaction, this one, came between the reads. */
		s->gen_ok = r >= 0 && g0_ok && get_gen(s, &g1) >= 0 && g1 == g0 + 1;
		s->gen = g1;
	} else {
		s->gen_ok = false;
	}
	nftnl_batch_free(batch);
	if (r < 0) {
		return r;
	}
	s->last_msgs = b.n_msgs;
	s->last_bytes = bytes;
	return bytes > INT32_MAX ? INT32_MAX : (int)bytes;
}
