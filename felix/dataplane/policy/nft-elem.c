/* SPDX-License-Identifier: Apache-2.0 */
/*
 * DOC: set element deltas as raw nf_tables netlink batches (libnftnl + libmnl).
 *
 * libnftables 1.0.6 reads every element of every set of our table into its cache before it
 * runs any command, so one `add element` into a table of 100,000 elements takes a second.
 * The kernel needs none of that: an element change is one NFT_MSG_NEWSETELEM or
 * NFT_MSG_DELSETELEM message naming table and set. This module builds exactly the messages
 * nft 1.0.6 sends for acl_render_nft()'s policy sets (checked with `nft --debug=netlink`):
 * interval sets get a start element and an end element (first address after the range, flag
 * NFT_SET_ELEM_INTERVAL_END); the named-port concatenation "ADDR . PROTO . PORT" is one key
 * with every field padded to 32 bits (port in network byte order). Everything is one
 * transaction, acknowledged message by message, so a failure changes nothing and is seen;
 * the caller then falls back to libnftables.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <libmnl/libmnl.h>
#include <libnftnl/set.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "felix/dataplane/policy/nft-elem.h"
#include "lib/log.h"

#define TABLE_NAME "tabby"
#define ELEMS_PER_MSG 128
#define BATCH_LIMIT (128 * 1024)
#define KEY_MAX 24 /* ipv6_addr . inet_proto . inet_service: 16 + 4 + 4 */

struct key {
	uint8_t start[KEY_MAX];
	uint8_t end[KEY_MAX];
	size_t len;
	bool has_end;
};

static bool policy_set(const char *name, int *ret_family)
{
	if (!name || !strchr("snp", name[0]) || name[0] == '\0' ||
	    (name[1] != '4' && name[1] != '6') || name[2] != '-') {
		return false;
	}
	*ret_family = name[1] == '4' ? AF_INET : AF_INET6;
	return true;
}

static int encode(const struct felix_nft_elem *e, struct key *k)
{
	char addr[INET6_ADDRSTRLEN];
	int family;
	size_t alen;

	*k = (struct key){0};
	if (!e->elem || !policy_set(e->set, &family)) {
		return -EINVAL;
	}
	alen = family == AF_INET ? 4 : 16;
	if (e->set[0] == 'p') {
		unsigned proto, port;
		char extra;
		if (sscanf(e->elem, "%45s . %u . %u %c", addr, &proto, &port, &extra) != 3 ||
		    proto > 255 || port > 65535 || inet_pton(family, addr, k->start) != 1) {
			return -EINVAL;
		}
		k->start[alen] = (uint8_t)proto;
		k->start[alen + 4] = (uint8_t)(port >> 8);
		k->start[alen + 5] = (uint8_t)(port & 0xff);
		k->len = alen + 8;
		return 0;
	}

	const char *slash = strchr(e->elem, '/');
	size_t l = slash ? (size_t)(slash - e->elem) : strlen(e->elem);
	unsigned plen = (unsigned)alen * 8;
	if (l >= sizeof(addr)) {
		return -EINVAL;
	}
	memcpy(addr, e->elem, l);
	addr[l] = '\0';
	if (inet_pton(family, addr, k->start) != 1) {
		return -EINVAL;
	}
	if (slash) {
		char *endp;
		unsigned long v = strtoul(slash + 1, &endp, 10);
		if (endp == slash + 1 || *endp || v > plen) {
			return -EINVAL;
		}
		plen = (unsigned)v;
	}
	/* end = last address of the prefix + 1; host bits must be clear */
	memcpy(k->end, k->start, alen);
	for (unsigned bit = plen; bit < alen * 8; bit++) {
		uint8_t m = (uint8_t)(0x80 >> (bit % 8));
		if (k->start[bit / 8] & m) {
			return -EINVAL;
		}
		k->end[bit / 8] |= m;
	}
	size_t i = alen;
	while (i > 0 && ++k->end[i - 1] == 0) {
		i--;
	}
	if (i == 0) {
		return -ERANGE; /* reaches the top: nft sends no end element; leave it to nft */
	}
	k->len = alen;
	k->has_end = true;
	return 0;
}

bool felix_nft_elem_encodable(const struct felix_nft_elem *e)
{
	struct key k;
	return encode(e, &k) >= 0;
}

static int add_elem(struct nftnl_set *s, const uint8_t *key, size_t len, bool end)
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
	nftnl_set_elem_add(s, x);
	return 0;
}

/* One NEWSETELEM/DELSETELEM message for @idx[0..@n) (same set, same operation). */
static int put_msg(struct mnl_nlmsg_batch *b, uint32_t *seq, const struct felix_nft_elem *e,
		   const size_t *idx, size_t n)
{
	struct nftnl_set *s = nftnl_set_alloc();
	bool add = e[idx[0]].add;
	int r = 0;

	if (!s) {
		return -ENOMEM;
	}
	nftnl_set_set_str(s, NFTNL_SET_TABLE, TABLE_NAME);
	nftnl_set_set_str(s, NFTNL_SET_NAME, e[idx[0]].set);
	for (size_t i = 0; i < n && r >= 0; i++) {
		struct key k;
		r = encode(&e[idx[i]], &k);
		if (r >= 0) {
			r = add_elem(s, k.start, k.len, false);
		}
		if (r >= 0 && k.has_end) {
			r = add_elem(s, k.end, k.len, true);
		}
	}
	if (r >= 0) {
		struct nlmsghdr *nlh = nftnl_nlmsg_build_hdr(
		    mnl_nlmsg_batch_current(b), add ? NFT_MSG_NEWSETELEM : NFT_MSG_DELSETELEM,
		    NFPROTO_INET, (add ? NLM_F_CREATE : 0) | NLM_F_ACK, (*seq)++);
		nftnl_set_elems_nlmsg_build_payload(nlh, s);
		if (!mnl_nlmsg_batch_next(b)) {
			r = -E2BIG;
		}
	}
	nftnl_set_free(s);
	return r;
}

/* Read the acks of @n_msgs messages. Return: 0, the first message's -errno, -ETIMEDOUT. */
static int read_acks(struct mnl_socket *nl, size_t n_msgs, bool ignore_enoent)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	size_t acks = 0;
	int first = 0;

	while (acks < n_msgs) {
		ssize_t len = recv(mnl_socket_get_fd(nl), buf, sizeof(buf), MSG_DONTWAIT);
		if (len < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			/* the kernel answers within sendmsg(); wait a little to be safe */
			struct pollfd p = {.fd = mnl_socket_get_fd(nl), .events = POLLIN};
			int pr = poll(&p, 1, 2000);
			if (pr == 0) {
				return first ? first : -ETIMEDOUT;
			}
			if (pr < 0 && errno != EINTR) {
				return -errno;
			}
			continue;
		}
		if (len < 0) {
			if (errno == EINTR) {
				continue;
			}
			return -errno;
		}
		int rem = (int)len;
		for (const struct nlmsghdr *h = (const struct nlmsghdr *)buf; mnl_nlmsg_ok(h, rem);
		     h = mnl_nlmsg_next(h, &rem)) {
			if (h->nlmsg_type != NLMSG_ERROR) {
				continue;
			}
			const struct nlmsgerr *er = mnl_nlmsg_get_payload(h);
			acks++;
			if (er->error && !(ignore_enoent && er->error == -ENOENT) && !first) {
				first = er->error;
			}
		}
	}
	return first;
}

/* One transaction with the elements @idx[0..@n) (sorted: deletions first, then by set). */
static int send_batch(struct mnl_socket *nl, uint32_t *seq, const struct felix_nft_elem *e,
		      const size_t *idx, size_t n, bool ignore_enoent)
{
	_cleanup_free_ char *buf = malloc(2 * BATCH_LIMIT);
	struct mnl_nlmsg_batch *b;
	size_t n_msgs = 0;
	int r = 0;

	if (!buf) {
		return -ENOMEM;
	}
	b = mnl_nlmsg_batch_start(buf, BATCH_LIMIT);
	if (!b) {
		return -ENOMEM;
	}
	nftnl_batch_begin(mnl_nlmsg_batch_current(b), (*seq)++);
	mnl_nlmsg_batch_next(b);
	for (size_t i = 0; i < n && r >= 0;) {
		size_t j = i + 1;
		while (j < n && j - i < ELEMS_PER_MSG && e[idx[j]].add == e[idx[i]].add &&
		       strcmp(e[idx[j]].set, e[idx[i]].set) == 0) {
			j++;
		}
		r = put_msg(b, seq, e, idx + i, j - i);
		n_msgs++;
		i = j;
	}
	if (r >= 0) {
		nftnl_batch_end(mnl_nlmsg_batch_current(b), (*seq)++);
		if (!mnl_nlmsg_batch_next(b)) {
			r = -E2BIG;
		}
	}
	size_t bytes = mnl_nlmsg_batch_size(b);
	if (r >= 0 && mnl_socket_sendto(nl, mnl_nlmsg_batch_head(b), bytes) < 0) {
		r = -errno;
	}
	mnl_nlmsg_batch_stop(b);
	if (r < 0) {
		return r;
	}
	r = read_acks(nl, n_msgs, ignore_enoent);
	return r < 0 ? r : (int)bytes;
}

static int idx_cmp(const void *a, const void *b, void *userdata)
{
	const struct felix_nft_elem *base = userdata;
	const struct felix_nft_elem *x = &base[*(const size_t *)a];
	const struct felix_nft_elem *y = &base[*(const size_t *)b];
	if (x->add != y->add) {
		return x->add ? 1 : -1;
	}
	int d = strcmp(x->set, y->set);
	if (d) {
		return d;
	}
	return *(const size_t *)a < *(const size_t *)b ? -1 : 1;
}

static void mnl_socket_closep(struct mnl_socket **p)
{
	if (*p) {
		mnl_socket_close(*p);
	}
}

int felix_nft_elem_apply(const struct felix_nft_elem *e, size_t n_e, char *err, size_t errlen)
{
	_cleanup_(mnl_socket_closep) struct mnl_socket *nl = NULL;
	_cleanup_free_ size_t *idx = NULL;
	uint32_t seq;
	size_t n_del = 0, bytes = 0;
	int one = 1;
	int r;

	if (n_e == 0) {
		return 0;
	}
	if (n_e > FELIX_NFT_ELEM_MAX) {
		snprintf(err, errlen, "%zu element changes: more than %d", n_e, FELIX_NFT_ELEM_MAX);
		return -EINVAL;
	}
	idx = calloc(n_e, sizeof(*idx));
	if (!idx) {
		return -ENOMEM;
	}
	for (size_t i = 0; i < n_e; i++) {
		if (!felix_nft_elem_encodable(&e[i])) {
			snprintf(err, errlen, "cannot encode element %s of set %s", e[i].elem,
				 e[i].set);
			return -EINVAL;
		}
		idx[i] = i;
		n_del += !e[i].add;
	}
	qsort_r(idx, n_e, sizeof(*idx), idx_cmp, (void *)e);

	nl = mnl_socket_open2(NETLINK_NETFILTER, SOCK_CLOEXEC);
	if (!nl) {
		r = -errno;
		snprintf(err, errlen, "netlink socket: %s", strerror(-r));
		return r;
	}
	if (mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		r = -errno;
		snprintf(err, errlen, "netlink bind: %s", strerror(-r));
		return r;
	}
	/* acks without a copy of our message */
	(void)mnl_socket_setsockopt(nl, NETLINK_CAP_ACK, &one, sizeof(one));
	seq = (uint32_t)time(NULL);

	r = send_batch(nl, &seq, e, idx, n_e, false);
	if (r == -ENOENT && n_del) {
		/* An element we delete is not in the kernel: delete one by one, ENOENT ignored. */
		log_debug("nftables element batch: ENOENT, deleting element by element");
		bytes = 0;
		r = 0;
		for (size_t i = 0; i < n_del && r >= 0; i++) {
			r = send_batch(nl, &seq, e, idx + i, 1, true);
			bytes += r > 0 ? (size_t)r : 0;
		}
		if (r >= 0 && n_del < n_e) {
			r = send_batch(nl, &seq, e, idx + n_del, n_e - n_del, false);
		}
	}
	if (r < 0) {
		snprintf(err, errlen, "nf_tables element batch: %s", strerror(-r));
		return r;
	}
	bytes += (size_t)r;
	return bytes > INT_MAX ? INT_MAX : (int)bytes;
}
