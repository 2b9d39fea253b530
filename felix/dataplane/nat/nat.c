/* SPDX-License-Identifier: Apache-2.0 */
/*
 * DOC: natOutgoing driver
 *
 * Holds the desired nat state (felix/calc/nat.c) and what it last put in the kernel, and sends
 * the difference: set elements in the common case (a pool created, deleted or toggled), whole
 * objects only when it has no memory. It owns `table inet tabby-nat` (nftables) or the chain
 * tbynat-outgoing, its POSTROUTING jump and the tbynat-* ipsets (iptables), and nothing else:
 * the policy drivers' `table inet tabby` and "tby-" chains and sets are never touched, and the
 * names here never start with "tby-", which the iptables policy driver sweeps.
 *
 * After a restart the first apply replaces our objects in full (one nf_tables transaction, or
 * an atomic ipset swap plus one iptables-restore), which keeps established flows: their NAT
 * mapping lives in conntrack, not in the rules.
 */
#include <errno.h>
#include <libmnl/libmnl.h>
#include <libnftnl/batch.h>
#include <libnftnl/common.h>
#include <linux/netfilter/nfnetlink.h>
#include <nftables/libnftables.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "acl/nft-prog.h"
#include "felix/dataplane/nat/nat.h"
#include "felix/dataplane/policy/backend.h"
#include "felix/dataplane/policy/nft-build.h"
#include "lib/clock.h"
#include "lib/log.h"
#include "lib/strbuf.h"

#define RETRY_MIN_MS 1000
#define RETRY_MAX_MS 30000
#define BATCH_PAGE (64 * 1024)

struct dp_nat {
	struct calc_nat desired;
	bool has_desired;
	enum model_dataplane backend; /* wanted */
	enum model_dataplane active;  /* whose objects we programmed; INVALID: none yet */
	bool known[2];		      /* actual[] is what the kernel holds (v4, v6; nft: [0]) */
	struct calc_nat actual;
	char *listing; /* nft: `list table` after our last transaction ("" = no table) */
	bool resync;
	unsigned failures;
	struct mnl_socket *nl;
	uint32_t seq;
	char err[512];
};

int dp_nat_new(struct dp_nat **ret)
{
	struct dp_nat *n = calloc(1, sizeof(*n));

	if (!n) {
		return -ENOMEM;
	}
	n->backend = MODEL_DATAPLANE_NFTABLES;
	n->active = _MODEL_DATAPLANE_INVALID;
	n->seq = (uint32_t)time(NULL);
	*ret = n;
	return 0;
}

static void forget(struct dp_nat *n)
{
	n->known[0] = n->known[1] = false;
}

int dp_nat_set_desired(struct dp_nat *n, const struct calc_nat *d)
{
	struct calc_nat copy;
	bool changed = !n->has_desired || !calc_nat_equal(&n->desired, d);

	if (!changed) {
		return 0;
	}
	if (calc_nat_copy(d, &copy) < 0) {
		return -ENOMEM;
	}
	calc_nat_done(&n->desired);
	n->desired = copy;
	n->has_desired = true;
	return 1;
}

bool dp_nat_set_backend(struct dp_nat *n, enum model_dataplane backend)
{
	if (backend != MODEL_DATAPLANE_IPTABLES) {
		backend = MODEL_DATAPLANE_NFTABLES;
	}
	if (n->backend == backend) {
		return false;
	}
	n->backend = backend;
	return true;
}

/* The prefixes of @family of @v[0..@n) into @ret (room for @n). Return: the count. */
static size_t of_family(const struct ip_prefix *v, size_t n, int family, struct ip_prefix *ret)
{
	size_t k = 0;

	for (size_t i = 0; i < n; i++) {
		if (v[i].addr.family == family) {
			ret[k++] = v[i];
		}
	}
	return k;
}

/* Sort-merge of two sorted prefix arrays of one family (wg setconf.c): @fn(prefix, add) for
 * each prefix only in @want (add) or only in @have (delete); deletions first. */
static int diff(const struct ip_prefix *have, size_t nh, const struct ip_prefix *want, size_t nw,
		int (*fn)(const struct ip_prefix *p, bool add, void *ud), void *ud)
{
	int r = 0;

	for (int pass = 0; pass < 2 && r >= 0; pass++) {
		size_t i = 0, j = 0;

		while ((i < nh || j < nw) && r >= 0) {
			int c = i >= nh ? 1 : j >= nw ? -1 : ip_prefix_cmp(&have[i], &want[j]);

			if (c == 0) {
				i++, j++;
			} else if (c < 0) {
				if (pass == 0) {
					r = fn(&have[i], false, ud);
				}
				i++;
			} else {
				if (pass == 1) {
					r = fn(&want[j], true, ud);
				}
				j++;
			}
		}
	}
	return r;
}

/* ---- nftables ---- */

static int nl_open(struct dp_nat *n)
{
	if (n->nl) {
		return 0;
	}
	n->nl = mnl_socket_open2(NETLINK_NETFILTER, SOCK_CLOEXEC);
	if (!n->nl) {
		return -errno;
	}
	if (mnl_socket_bind(n->nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		int r = -errno;
		mnl_socket_close(n->nl);
		n->nl = NULL;
		return r;
	}
	return 0;
}

/* `nft list table inet tabby-nat` through libnftables; "" when there is no such table. */
static char *nft_listing(void)
{
	struct nft_ctx *ctx = nft_ctx_new(NFT_CTX_DEFAULT);
	char *s = NULL;

	if (!ctx) {
		return NULL;
	}
	nft_ctx_buffer_output(ctx);
	nft_ctx_buffer_error(ctx);
	if (nft_run_cmd_from_buffer(ctx, "list table inet " CALC_NAT_NFT_TABLE) == 0) {
		s = strdup(nft_ctx_get_output_buffer(ctx));
	} else {
		s = strdup("");
	}
	nft_ctx_free(ctx);
	return s;
}

struct elem_ctx {
	struct felix_nft_build *b;
	const struct nft_prog_set *set;
	size_t changed;
};

static int elem_fn(const struct ip_prefix *p, bool add, void *ud)
{
	struct elem_ctx *x = ud;
	struct acl_member m = {.net = *p};

	x->changed++;
	return felix_nft_build_set_members(x->b, x->set, &m, 1, add);
}

/* Stage the element differences of the four sets; @ret_changed counts them. */
static int nft_elems(struct felix_nft_build *b, const struct nft_prog *prog,
		     const struct calc_nat *have, const struct calc_nat *want, size_t *ret_changed)
{
	size_t cap = have->n_all + have->n_masq + want->n_all + want->n_masq + 1;
	_cleanup_free_ struct ip_prefix *h = calloc(cap, sizeof(*h));
	_cleanup_free_ struct ip_prefix *w = calloc(cap, sizeof(*w));
	struct elem_ctx x = {.b = b};
	int r = 0;

	if (!h || !w) {
		return -ENOMEM;
	}
	for (int masq = 1; masq >= 0 && r >= 0; masq--) {
		for (int v6 = 0; v6 < 2 && r >= 0; v6++) {
			int fam = v6 ? AF_INET6 : AF_INET;
			char name[8];

			snprintf(name, sizeof(name), "%s%c", masq ? "masq" : "all", v6 ? '6' : '4');
			x.set = nft_prog_find_set(prog, name);
			if (!x.set) {
				return -EINVAL;
			}
			size_t nh = masq ? of_family(have->masq, have->n_masq, fam, h)
					 : of_family(have->all, have->n_all, fam, h);
			size_t nw = masq ? of_family(want->masq, want->n_masq, fam, w)
					 : of_family(want->all, want->n_all, fam, w);
			r = diff(h, nh, w, nw, elem_fn, &x);
		}
	}
	*ret_changed = x.changed;
	return r;
}

static int nft_send(struct dp_nat *n, const struct calc_nat *want, bool replace, bool remove,
		    size_t *ret_changed)
{
	_cleanup_(nft_prog_freep) struct nft_prog *prog = NULL;
	struct felix_nft_build b;
	struct nftnl_batch *batch = NULL;
	int r = calc_nat_prog(want, &prog);

	*ret_changed = 0;
	if (r < 0) {
		return r;
	}
	batch = nftnl_batch_alloc(BATCH_PAGE, BATCH_PAGE);
	if (!batch) {
		return -ENOMEM;
	}
	r = felix_nft_build_begin(&b, batch, n->seq);
	b.table = CALC_NAT_NFT_TABLE;
	if (r >= 0 && remove) {
		/* create-if-missing then delete: no error whether or not it exists */
		r = felix_nft_build_table(&b, true);
		RET_GATHER(r, felix_nft_build_table(&b, false));
		*ret_changed = 1;
	} else if (r >= 0 && replace) {
		r = felix_nft_build_prog(&b, prog, FELIX_NFT_BUILD_REPLACE);
		*ret_changed = 1 + want->n_masq + want->n_all;
	} else if (r >= 0) {
		r = nft_elems(&b, prog, &n->actual, want, ret_changed);
	}
	if (r >= 0) {
		r = felix_nft_build_end(&b);
	}
	n->seq = b.seq + 1;
	if (r >= 0 && *ret_changed) {
		r = nl_open(n);
		if (r >= 0) {
			r = felix_nft_build_send(n->nl, &b, n->err, sizeof(n->err));
		}
		if (r < 0) {
			/* unread acks would confuse the next transaction */
			mnl_socket_close(n->nl);
			n->nl = NULL;
		}
	}
	nftnl_batch_free(batch);
	return r;
}

/* Read the listing of our table into n->listing: true when there is no table. */
static bool table_absent(struct dp_nat *n)
{
	free(n->listing);
	n->listing = nft_listing();
	return n->listing && !n->listing[0];
}

static int apply_nft(struct dp_nat *n, size_t *ret_changed)
{
	bool want = calc_nat_active(&n->desired, AF_UNSPEC);
	bool have = n->known[0] && calc_nat_active(&n->actual, AF_UNSPEC);
	int r;

	*ret_changed = 0;
	if (n->resync && n->known[0]) {
		_cleanup_free_ char *now = nft_listing();

		if (!now || !n->listing || strcmp(now, n->listing) != 0) {
			log_info("nat: table inet " CALC_NAT_NFT_TABLE
				 " changed under us, replacing it");
			forget(n);
			have = false;
		}
	}
	if (n->known[0] && (calc_nat_equal(&n->actual, &n->desired) || (!have && !want))) {
		r = 0;
	} else if (!want && !n->known[0] && table_absent(n)) {
		/* no table and none wanted (the common start): no transaction at all, which would
		 * also move the nf_tables generation the policy driver's resync checks */
		r = 0;
	} else if (!want) {
		r = nft_send(n, &n->desired, false, true, ret_changed);
	} else {
		r = nft_send(n, &n->desired, !have, false, ret_changed);
	}
	if (r < 0) {
		if (!n->err[0]) {
			snprintf(n->err, sizeof(n->err), "nftables: %s", strerror(-r));
		}
		forget(n);
		return r;
	}
	if (*ret_changed || !n->known[0]) {
		free(n->listing);
		n->listing = nft_listing();
	}
	n->known[0] = true;
	return 0;
}

static void remove_nft(struct dp_nat *n)
{
	size_t changed;
	int r;

	if (table_absent(n)) {
		return;
	}
	r = nft_send(n, &(struct calc_nat){0}, false, true, &changed);
	if (r < 0) {
		log_warn("nat: deleting table inet " CALC_NAT_NFT_TABLE " failed: %s", n->err);
	}
	free(n->listing);
	n->listing = NULL;
}

/* ---- iptables ---- */

static const char *ipt_bin(bool v6)
{
	return v6 ? "ip6tables" : "iptables";
}

static int run(struct dp_nat *n, char *const argv[], const char *in, size_t len)
{
	char *out = NULL;
	int r = felix_ipt_tool(argv, in, len, &out);

	if (r != 0) {
		snprintf(n->err, sizeof(n->err), "%s: %.*s", argv[0],
			 (int)strcspn(out ? out : "", "\n"), out ? out : "");
		r = r < 0 ? r : -EINVAL;
	}
	free(out);
	return r;
}

/* Our ipsets of @v6's family exist ("ipset list -n" has no side effect, whereas an iptables-nft
 * command on table nat may create that table): they are made before the chain and destroyed
 * after it, so without them there is no chain or jump of ours either. */
static bool ipt_family_present(bool v6)
{
	_cleanup_free_ char *out = NULL;
	char *argv[] = {"ipset", "list", "-n", NULL};
	bool found = false;

	if (felix_ipt_tool(argv, NULL, 0, &out) != 0 || !out) {
		return false;
	}
	for (int masq = 0; masq < 2 && !found; masq++) {
		char name[32];
		calc_nat_ipset_name(masq, v6 ? AF_INET6 : AF_INET, name);
		for (const char *p = out; (p = strstr(p, name)); p += strlen(name)) {
			if ((p == out || p[-1] == '\n') &&
			    (p[strlen(name)] == '\n' || !p[strlen(name)])) {
				found = true;
				break;
			}
		}
	}
	return found;
}

static void remove_ipt_family(bool v6)
{
	char *ipt = (char *)ipt_bin(v6);

	if (!ipt_family_present(v6)) {
		return;
	}
	char *del[] = {ipt,	    "-w",
		       "-t",	    "nat",
		       "-D",	    "POSTROUTING",
		       "-m",	    "comment",
		       "--comment", CALC_NAT_IPT_HOOK_COMMENT,
		       "-j",	    CALC_NAT_IPT_CHAIN,
		       NULL};
	char *flush[] = {ipt, "-w", "-t", "nat", "-F", CALC_NAT_IPT_CHAIN, NULL};
	char *x[] = {ipt, "-w", "-t", "nat", "-X", CALC_NAT_IPT_CHAIN, NULL};

	for (int k = 0; k < 4 && felix_ipt_tool(del, NULL, 0, NULL) == 0; k++) {
	}
	(void)felix_ipt_tool(flush, NULL, 0, NULL);
	(void)felix_ipt_tool(x, NULL, 0, NULL);
	for (int masq = 0; masq < 2; masq++) {
		char name[32];
		calc_nat_ipset_name(masq, v6 ? AF_INET6 : AF_INET, name);
		char *d[] = {"ipset", "destroy", name, NULL};
		(void)felix_ipt_tool(d, NULL, 0, NULL);
	}
}

static int ipt_full(struct dp_nat *n, bool v6)
{
	_cleanup_strbuf_ struct strbuf rules = {0}, ipset = {0};
	char *ipt = (char *)ipt_bin(v6);
	int r = calc_nat_render_ipt(&n->desired, v6 ? AF_INET6 : AF_INET, &rules, &ipset);

	if (r < 0) {
		return r;
	}
	char *sets[] = {"ipset", "restore", "-exist", NULL};
	r = run(n, sets, ipset.buf, ipset.len);
	if (r >= 0) {
		char *restore[] = {v6 ? "ip6tables-restore" : "iptables-restore", "-w", "--noflush",
				   NULL};
		r = run(n, restore, rules.buf, rules.len);
	}
	if (r >= 0) {
		char *chk[] = {ipt,	    "-w",
			       "-t",	    "nat",
			       "-C",	    "POSTROUTING",
			       "-m",	    "comment",
			       "--comment", CALC_NAT_IPT_HOOK_COMMENT,
			       "-j",	    CALC_NAT_IPT_CHAIN,
			       NULL};
		char *ins[] = {ipt,
			       "-w",
			       "-t",
			       "nat",
			       "-I",
			       "POSTROUTING",
			       "1",
			       "-m",
			       "comment",
			       "--comment",
			       CALC_NAT_IPT_HOOK_COMMENT,
			       "-j",
			       CALC_NAT_IPT_CHAIN,
			       NULL};
		if (felix_ipt_tool(chk, NULL, 0, NULL) != 0) {
			r = run(n, ins, NULL, 0);
		}
	}
	return r;
}

struct line_ctx {
	struct strbuf *sb;
	const char *set;
	int r;
};

static int line_fn(const struct ip_prefix *p, bool add, void *ud)
{
	struct line_ctx *x = ud;
	char buf[IP_PREFIX_STRLEN];

	return strbuf_printf(x->sb, "%s %s %s\n", add ? "add" : "del", x->set,
			     ip_prefix_format(p, buf));
}

/* "del"/"add" lines for the ipsets of @family; @ret_changed counts them. */
static int ipt_delta(struct dp_nat *n, bool v6, size_t *ret_changed)
{
	const struct calc_nat *have = &n->actual, *want = &n->desired;
	size_t cap = have->n_all + have->n_masq + want->n_all + want->n_masq + 1;
	_cleanup_free_ struct ip_prefix *h = calloc(cap, sizeof(*h));
	_cleanup_free_ struct ip_prefix *w = calloc(cap, sizeof(*w));
	_cleanup_strbuf_ struct strbuf sb = {0};
	int fam = v6 ? AF_INET6 : AF_INET, r = 0;

	if (!h || !w) {
		return -ENOMEM;
	}
	for (int masq = 1; masq >= 0 && r >= 0; masq--) {
		char name[32];
		struct line_ctx x = {.sb = &sb, .set = name};

		calc_nat_ipset_name(masq, fam, name);
		size_t nh = masq ? of_family(have->masq, have->n_masq, fam, h)
				 : of_family(have->all, have->n_all, fam, h);
		size_t nw = masq ? of_family(want->masq, want->n_masq, fam, w)
				 : of_family(want->all, want->n_all, fam, w);
		r = diff(h, nh, w, nw, line_fn, &x);
	}
	if (r < 0 || !sb.len) {
		return r;
	}
	for (size_t i = 0; i < sb.len; i++) {
		*ret_changed += sb.buf[i] == '\n';
	}
	char *argv[] = {"ipset", "restore", "-exist", NULL};
	return run(n, argv, sb.buf, sb.len);
}

static int apply_ipt(struct dp_nat *n, size_t *ret_changed)
{
	int ret = 0;

	*ret_changed = 0;
	if (n->resync) {
		forget(n);
	}
	for (int v6 = 0; v6 < 2; v6++) {
		int fam = v6 ? AF_INET6 : AF_INET;
		bool want = calc_nat_active(&n->desired, fam);
		bool have = n->known[v6] && calc_nat_active(&n->actual, fam);
		int r = 0;

		if (want && have) {
			r = ipt_delta(n, v6, ret_changed);
		} else if (want) {
			r = ipt_full(n, v6);
			*ret_changed += 1;
		} else if (have || !n->known[v6]) {
			remove_ipt_family(v6);
			*ret_changed += have;
		}
		if (r < 0) {
			n->known[v6] = false;
			RET_GATHER(ret, r);
			continue;
		}
		n->known[v6] = true;
	}
	return ret;
}

/* ---- the driver ---- */

static int64_t nat_apply(void *d, uint64_t now_ms, struct dp_stats *st)
{
	struct dp_nat *n = d;
	uint64_t t0 = clock_mono_us();
	size_t changed = 0;
	struct calc_nat copy;
	int r;

	if (!n->has_desired) {
		return DP_IDLE; /* nothing is written before the first calculation */
	}
	n->err[0] = '\0';
	if (n->active != n->backend) {
		/* the other backend's objects go, whether we made them in this run or before a
		 * restart with another configuration */
		if (n->backend == MODEL_DATAPLANE_IPTABLES) {
			remove_nft(n);
		} else {
			remove_ipt_family(false);
			remove_ipt_family(true);
		}
		if (n->active != _MODEL_DATAPLANE_INVALID) {
			log_info("nat: dataplane %s",
				 n->backend == MODEL_DATAPLANE_IPTABLES ? "iptables" : "nftables");
		}
		n->active = n->backend;
		forget(n);
	}
	r = n->active == MODEL_DATAPLANE_IPTABLES ? apply_ipt(n, &changed) : apply_nft(n, &changed);
	n->resync = false;
	if (r >= 0) {
		r = calc_nat_copy(&n->desired, &copy);
		if (r >= 0) {
			calc_nat_done(&n->actual);
			n->actual = copy;
		} else {
			forget(n);
		}
	}
	if (r < 0) {
		uint64_t delay = RETRY_MIN_MS;

		for (unsigned i = 0; i < n->failures && delay < RETRY_MAX_MS; i++) {
			delay *= 2;
		}
		delay = MIN(delay, (uint64_t)RETRY_MAX_MS);
		n->failures++;
		log_error("nat: natOutgoing not applied (retry in %llu ms): %s",
			  (unsigned long long)delay, n->err[0] ? n->err : strerror(-r));
		st->applies++;
		st->errors++;
		st->last_error = r;
		st->in_sync = false;
		st->pending = 1;
		snprintf(st->error, sizeof(st->error), "%.*s", (int)sizeof(st->error) - 1,
			 n->err[0] ? n->err : strerror(-r));
		return (int64_t)delay;
	}
	if (changed) {
		_cleanup_strbuf_ struct strbuf sb = {0};
		if (calc_nat_format(&n->desired, &sb) >= 0) {
			for (size_t i = 0; i < sb.len; i++) {
				sb.buf[i] = sb.buf[i] == '\n' ? ';' : sb.buf[i];
			}
		}
		log_info("nat: applied (%s), %zu change(s): %s",
			 n->active == MODEL_DATAPLANE_IPTABLES ? "iptables" : "nftables", changed,
			 sb.len ? sb.buf : "no pools");
		st->applies++;
		st->objects_changed += changed;
		st->last_duration_us = clock_mono_us() - t0;
	}
	n->failures = 0;
	st->last_ok_ms = now_ms ? now_ms : 1;
	st->last_error = 0;
	st->pending = 0;
	st->in_sync = true;
	st->error[0] = '\0';
	return DP_IDLE;
}

static void nat_queue_resync(void *d)
{
	struct dp_nat *n = d;

	n->resync = true;
}

static void nat_free(void *d)
{
	struct dp_nat *n = d;

	if (!n) {
		return;
	}
	calc_nat_done(&n->desired);
	calc_nat_done(&n->actual);
	free(n->listing);
	if (n->nl) {
		mnl_socket_close(n->nl);
	}
	free(n);
}

const struct dp_driver_ops dp_nat_ops = {
    .name = "nat",
    .apply = nat_apply,
    .queue_resync = nat_queue_resync,
    .free = nat_free,
};
