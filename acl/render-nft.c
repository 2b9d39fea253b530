/* SPDX-License-Identifier: Apache-2.0 */
/*
 * DOC: nftables renderer (IR -> nft_prog -> one `nft -f` script for table inet tabby)
 *
 * The IR is first built into a struct nft_prog (acl/nft-prog.h): the builders here are the
 * only place that knows the layout below; nft_prog_format() prints it and
 * felix/dataplane/policy/nft-build.c sends the same program to the kernel as libnftnl objects.
 *
 * Transaction: the script starts with `table inet tabby` (create if missing), `delete table
 * inet tabby`, then the full definition. nft runs a file as one netlink batch, so the kernel
 * switches from the old table to the new one atomically and no other table is touched.
 *
 * Layout:
 *   set wl-ifaces            ifnames of local workloads
 *   map fw-dispatch          workload ifname -> jump tby-fw-<if> (from workload = egress)
 *   map tw-dispatch          workload ifname -> jump tby-tw-<if> (to workload = ingress)
 *   map hi-dispatch/ho-dispatch  host endpoint ifname -> jump tby-hi-<if> / tby-ho-<if>
 *   set {s,n,p}{4,6}-<id>    selector sets, literal nets, named ports (ip . proto . port);
 *                            <id> = acl_set.id (FNV-1a 64 of the set's definition)
 *   chain forward/input/output  base chains, filter priority, policy accept:
 *       ct state established,related accept; ct state invalid drop; ICMPv6 that must
 *       always pass (input: MLD, RS, NS, NA from "tby*" workloads as Calico, neighbour
 *       discovery on other interfaces; output: neighbour discovery); then dispatch.
 *       input: from-workload chains, then defaultEndpointToHostAction for wl-ifaces
 *       (Drop: drop, Accept: accept, Return: continue), then host endpoints. output:
 *       to-workload chains, then host endpoints.
 *       Fail closed (issue 8): right after the workload dispatch, a packet from (forward,
 *       input) or to (forward, output) a "tby*" interface that is not in wl-ifaces is
 *       dropped, as Calico drops traffic of a workload interface it has not programmed yet.
 *       The check cannot be a bare `iifname "tby*" drop`: an endpoint chain that allows
 *       returns to the base chain (forward must still run the to-workload chain), so
 *       "dispatched" is "in wl-ifaces", whose elements are the keys of fw-/tw-dispatch.
 *   chain tby-{fw,tw,hi,ho}-<if>  one per endpoint and direction
 *   chain tby-p{i,e}-<id>    one per policy and direction, rules in order
 *   chain tby-r{i,e}-<id>    one per profile and direction
 *
 * Verdicts across chains use two packet-mark bits (ACL_MARK_ACCEPT, ACL_MARK_PASS); a jump
 * cannot return a value. A policy chain's Allow sets ACCEPT and returns, Pass sets PASS and
 * returns, Deny drops, Log logs and continues, no match falls off the end (returns). The
 * endpoint chain clears both bits, then for each tier calls its policies in order, the first
 * unconditionally and the rest only while PASS is clear; after each call "ACCEPT set ->
 * return" (the endpoint chain returning means allowed: every refusal is a drop). At the end of
 * a tier: if PASS is clear and the tier's defaultAction is Deny, drop; then clear PASS. After
 * the tiers: profiles (same call pattern, then drop), or allow (return), or drop (host
 * endpoint with nothing). Anti-spoofing comes first in tby-fw-<if>: a source address that is
 * not one of the endpoint's drops. Host endpoint chains accept failsafe ports first.
 *
 * A rule whose side has both numeric and named ports is printed twice (numeric, then named):
 * Calico ORs them. Rules that depend on the family (sets, nets, ICMP) are printed once per
 * family that can match, prefixed with `meta nfproto`.
 *
 * Cost: output is O(used policies' rules + local endpoints x their policies + set members);
 * each endpoint chain is one jump per applicable policy, so a packet walks only its own
 * endpoint's policies, and address matches are set lookups.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "acl/nft-prog.h"
#include "acl/render-internal.h"

/* nft refuses comments longer than 128 bytes (NFTNL_UDATA_COMMENT_MAXLEN). */
#define NFT_COMMENT_MAX 120

#define WL_IFACES "wl-ifaces"

static enum nft_prog_fam fam_of(int family)
{
	return family == AF_INET6 ? NFT_PROG_FAM_IPV6 : NFT_PROG_FAM_IPV4;
}

/* Statement helpers: each appends one statement to the open rule of @c. */
static int st(struct nft_prog_chain *c, uint8_t type, uint8_t op, uint8_t fam, uint8_t key,
	      uint32_t value)
{
	struct nft_prog_stmt s = {.type = type, .op = op, .fam = fam, .key = key};

	s.u.value = value;
	return nft_prog_chain_add_stmt(c, s, NULL, 0);
}

static int st_ref(struct nft_prog_chain *c, uint8_t type, uint8_t op, uint8_t fam, uint8_t key,
		  const void *data, size_t len)
{
	struct nft_prog_stmt s = {.type = type, .op = op, .fam = fam, .key = key};

	return nft_prog_chain_add_stmt(c, s, data, len);
}

static int st_str(struct nft_prog_chain *c, uint8_t type, uint8_t op, uint8_t fam, uint8_t key,
		  const char *str)
{
	return st_ref(c, type, op, fam, key, str, strlen(str) + 1);
}

static int st_icmp(struct nft_prog_chain *c, uint8_t type, uint8_t op, uint8_t fam, int itype,
		   int code)
{
	struct nft_prog_stmt s = {.type = type, .op = op, .fam = fam};

	s.u.icmp.type = (uint8_t)itype;
	s.u.icmp.code = (uint8_t)code;
	return nft_prog_chain_add_stmt(c, s, NULL, 0);
}

static int st_mark_test(struct nft_prog_chain *c, uint32_t mask, uint32_t value)
{
	struct nft_prog_stmt s = {.type = NFT_PROG_S_MARK_TEST, .op = NFT_PROG_EQ};

	s.u.mark.mask = mask;
	s.u.mark.value = value;
	return nft_prog_chain_add_stmt(c, s, NULL, 0);
}

static int st_verdict(struct nft_prog_chain *c, enum nft_prog_verdict v)
{
	return st(c, NFT_PROG_S_VERDICT, NFT_PROG_EQ, NFT_PROG_FAM_NONE, (uint8_t)v, 0);
}

static int st_jump(struct nft_prog_chain *c, const char *chain)
{
	return st_str(c, NFT_PROG_S_VERDICT, NFT_PROG_EQ, NFT_PROG_FAM_NONE, NFT_PROG_V_JUMP,
		      chain);
}

/* ---- names ---- */

static char set_letter(const struct acl_set *s)
{
	return s->kind == ACL_SET_SELECTOR ? 's' : s->kind == ACL_SET_NETS ? 'n' : 'p';
}

void nft_prog_set_name(const struct acl_set *s, int family, char buf[static NFT_PROG_NAME_MAX])
{
	snprintf(buf, NFT_PROG_NAME_MAX, "%c%c-%s", set_letter(s), family == AF_INET ? '4' : '6',
		 s->id);
}

void nft_prog_policy_chain_name(const struct acl_policy *p, enum acl_dir d,
				char buf[static NFT_PROG_NAME_MAX])
{
	/* "tby-%c%c-%s" without snprintf(): a policy edit names every policy's chains */
	size_t n = strnlen(p->id, ACL_ID_LEN - 1);

	_Static_assert(ACL_ID_LEN + 7 <= NFT_PROG_NAME_MAX, "tby-pi-<id> fits");
	memcpy(buf, "tby-", 4);
	buf[4] = p->source == ACL_SOURCE_PROFILE ? 'r' : 'p';
	buf[5] = d == ACL_DIR_INGRESS ? 'i' : 'e';
	buf[6] = '-';
	memcpy(buf + 7, p->id, n);
	buf[7 + n] = '\0';
}

static const char *chain_kind(const struct acl_ruleset *rs, enum acl_dir d)
{
	if (rs->host)
		return d == ACL_DIR_INGRESS ? "hi" : "ho";
	return d == ACL_DIR_INGRESS ? "tw" : "fw";
}

static bool is_wildcard(const struct acl_ruleset *rs)
{
	return rs->host && rs->ifname && strcmp(rs->ifname, "*") == 0;
}

int nft_prog_endpoint_chain_name(const struct acl_ruleset *rs, enum acl_dir d,
				 char buf[static NFT_PROG_NAME_MAX])
{
	if (!is_wildcard(rs) && !acl_ifname_ok(rs->ifname))
		return -EINVAL;
	snprintf(buf, NFT_PROG_NAME_MAX, "tby-%s-%s", chain_kind(rs, d),
		 is_wildcard(rs) ? "all" : rs->ifname);
	return 0;
}

const char *nft_prog_dispatch_map(const struct acl_ruleset *rs, enum acl_dir d)
{
	if (rs->host)
		return d == ACL_DIR_INGRESS ? "hi-dispatch" : "ho-dispatch";
	return d == ACL_DIR_INGRESS ? "tw-dispatch" : "fw-dispatch";
}

int nft_prog_dispatch_elem(const struct acl_ruleset *rs, enum acl_dir d,
			   struct nft_prog_ifelem *ret)
{
	struct nft_prog_ifelem e = {.verdict = NFT_PROG_V_JUMP};
	int r;

	if (is_wildcard(rs))
		return -ENOENT;
	r = nft_prog_endpoint_chain_name(rs, d, e.chain);
	if (r < 0)
		return r;
	memcpy(e.ifname, rs->ifname, strlen(rs->ifname)); /* <= 15 bytes: acl_ifname_ok() */
	*ret = e;
	return 0;
}

/* ---- sets ---- */

/* Selector text inside a double-quoted nft comment: '"' and '\' become '\'', at most @max. */
static char *comment_text(const char *text, size_t max)
{
	size_t n = strnlen(text, max);
	char *s = malloc(n + 1);

	if (!s)
		return NULL;
	for (size_t i = 0; i < n; i++)
		s[i] = text[i] == '"' || text[i] == '\\' ? '\'' : text[i];
	s[n] = '\0';
	return s;
}

int nft_prog_selector_set(const struct acl_set *s, const struct acl_set_members *m, int family,
			  struct nft_prog_set **ret)
{
	_cleanup_(nft_prog_set_freep) struct nft_prog_set *set = NULL;
	bool v4 = family == AF_INET;

	if (family != AF_INET && family != AF_INET6)
		return -EINVAL;
	set = calloc(1, sizeof(*set));
	if (!set)
		return -ENOMEM;
	nft_prog_set_name(s, family, set->name);
	if (s->kind == ACL_SET_NAMED_PORT) {
		set->type = v4 ? NFT_PROG_T_IPV4_PROTO_PORT : NFT_PROG_T_IPV6_PROTO_PORT;
	} else {
		set->type = v4 ? NFT_PROG_T_IPV4 : NFT_PROG_T_IPV6;
		set->interval = true;
	}
	if (s->kind != ACL_SET_NETS) {
		set->comment = comment_text(sel_canonical(s->sel), NFT_COMMENT_MAX);
		if (!set->comment)
			return -ENOMEM;
	}
	if (m && m->n) {
		set->members = calloc(m->n, sizeof(*set->members));
		if (!set->members)
			return -ENOMEM;
		for (size_t i = 0; i < m->n; i++)
			if (m->items[i].net.addr.family == family)
				set->members[set->n_members++] = m->items[i];
	}
	*ret = TAKE_PTR(set);
	return 0;
}

static int cmp_ifelem(const void *a, const void *b)
{
	return nft_prog_ifelem_cmp(a, b);
}

/* wl-ifaces (@kind NULL) or one dispatch map, from @rs[0..@n) of @host kind. */
static int dispatch_set(struct nft_prog *p, const char *name, struct acl_ruleset *const *rs,
			size_t n, bool host, enum acl_dir d, bool map)
{
	_cleanup_(nft_prog_set_freep) struct nft_prog_set *set = calloc(1, sizeof(*set));
	int r;

	if (!set)
		return -ENOMEM;
	snprintf(set->name, sizeof(set->name), "%s", name);
	set->type = NFT_PROG_T_IFNAME;
	set->map = map;
	set->ifelems = calloc(n + 1, sizeof(*set->ifelems));
	if (!set->ifelems)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		struct nft_prog_ifelem *e = &set->ifelems[set->n_ifelems];

		if (rs[i]->host != host || is_wildcard(rs[i]))
			continue;
		r = nft_prog_dispatch_elem(rs[i], d, e);
		if (r < 0)
			return r;
		if (!map) {
			e->verdict = NFT_PROG_V_NONE;
			memset(e->chain, 0, sizeof(e->chain));
		}
		set->n_ifelems++;
	}
	qsort(set->ifelems, set->n_ifelems, sizeof(*set->ifelems), cmp_ifelem);
	for (size_t i = 1; i < set->n_ifelems; i++)
		if (nft_prog_ifelem_cmp(&set->ifelems[i - 1], &set->ifelems[i]) == 0)
			return -EINVAL; /* two endpoints on one interface */
	return nft_prog_add_set(p, TAKE_PTR(set));
}

/* ---- base chains ---- */

/* "[iifname [!=] "tby*"] icmpv6 type { ... } accept" */
static int icmp6_accept(struct nft_prog_chain *c, int wl, const uint8_t *types, size_t n,
			const char *comment)
{
	int r;

	if (wl >= 0 && (r = st_str(c, NFT_PROG_S_IFNAME, wl ? NFT_PROG_EQ : NFT_PROG_NEQ, 0,
				   NFT_PROG_SRC, "tby*")) < 0)
		return r;
	if ((r = st_ref(c, NFT_PROG_S_ICMP_TYPE_IN, NFT_PROG_EQ, NFT_PROG_FAM_IPV6, 0, types, n)) <
		0 ||
	    (r = st_verdict(c, NFT_PROG_V_ACCEPT)) < 0)
		return r;
	return nft_prog_chain_end_rule(c, comment);
}

static int base_chain(struct nft_prog *p, const char *name, enum nft_prog_hook hook,
		      struct nft_prog_chain **ret)
{
	_cleanup_(nft_prog_chain_freep) struct nft_prog_chain *c = NULL;
	int r;

	r = nft_prog_chain_new(name, NULL, &c);
	if (r < 0)
		return r;
	c->hook = hook;
	c->priority = 0;
	c->policy = NFT_PROG_V_ACCEPT;
	if ((r = st(c, NFT_PROG_S_CT_STATE, NFT_PROG_EQ, 0, 0,
		    NFT_PROG_CT_ESTABLISHED | NFT_PROG_CT_RELATED)) < 0 ||
	    (r = st_verdict(c, NFT_PROG_V_ACCEPT)) < 0 ||
	    (r = nft_prog_chain_end_rule(c, NULL)) < 0)
		return r;
	if ((r = st(c, NFT_PROG_S_CT_STATE, NFT_PROG_EQ, 0, 0, NFT_PROG_CT_INVALID)) < 0 ||
	    (r = st_verdict(c, NFT_PROG_V_DROP)) < 0 || (r = nft_prog_chain_end_rule(c, NULL)) < 0)
		return r;
	if (hook == NFT_PROG_HOOK_INPUT) {
		if ((r = icmp6_accept(c, 1, acl_icmp6_from_wl, ACL_ICMP6_FROM_WL_N,
				      "workload ICMPv6 MLD and neighbour discovery")) < 0 ||
		    (r = icmp6_accept(c, 0, acl_icmp6_nd, ACL_ICMP6_ND_N, NULL)) < 0)
			return r;
	} else if (hook == NFT_PROG_HOOK_OUTPUT) {
		if ((r = icmp6_accept(c, -1, acl_icmp6_nd, ACL_ICMP6_ND_N, NULL)) < 0)
			return r;
	}
	*ret = c;
	return nft_prog_add_chain(p, TAKE_PTR(c));
}

static int vmap(struct nft_prog_chain *c, enum nft_prog_side side, const char *map)
{
	int r = st_str(c, NFT_PROG_S_VMAP, NFT_PROG_EQ, 0, side, map);

	return r < 0 ? r : nft_prog_chain_end_rule(c, NULL);
}

/* Fail closed: a "tby*" interface without a programmed endpoint (not in wl-ifaces) drops. */
static int fail_closed(struct nft_prog_chain *c, enum nft_prog_side side)
{
	int r;

	if ((r = st_str(c, NFT_PROG_S_IFNAME, NFT_PROG_EQ, 0, side, "tby*")) < 0 ||
	    (r = st_str(c, NFT_PROG_S_IFNAME_SET, NFT_PROG_NEQ, 0, side, WL_IFACES)) < 0 ||
	    (r = st_verdict(c, NFT_PROG_V_DROP)) < 0)
		return r;
	return nft_prog_chain_end_rule(c, "workload not programmed yet: fail closed");
}

static int cmp_rulesetp(const void *a, const void *b)
{
	const struct acl_ruleset *x = *(struct acl_ruleset *const *)a;
	const struct acl_ruleset *y = *(struct acl_ruleset *const *)b;

	return strcmp(x->ifname, y->ifname);
}

int nft_prog_build_base(struct nft_prog *p, struct acl_ruleset *const *rulesets, size_t n,
			const struct acl_host_config *hc)
{
	const struct acl_host_config *h = acl_host_or_default(hc);
	_cleanup_free_ struct acl_ruleset **rs = calloc(n + 1, sizeof(*rs));
	struct nft_prog_chain *c;
	bool wild = false;
	int r;

	if (!rs)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		if (!rulesets[i]->ifname)
			return -EINVAL;
		rs[i] = rulesets[i];
		wild = wild || is_wildcard(rs[i]);
	}
	qsort(rs, n, sizeof(*rs), cmp_rulesetp);
	if ((r = dispatch_set(p, WL_IFACES, rs, n, false, ACL_DIR_EGRESS, false)) < 0 ||
	    (r = dispatch_set(p, "fw-dispatch", rs, n, false, ACL_DIR_EGRESS, true)) < 0 ||
	    (r = dispatch_set(p, "tw-dispatch", rs, n, false, ACL_DIR_INGRESS, true)) < 0 ||
	    (r = dispatch_set(p, "hi-dispatch", rs, n, true, ACL_DIR_INGRESS, true)) < 0 ||
	    (r = dispatch_set(p, "ho-dispatch", rs, n, true, ACL_DIR_EGRESS, true)) < 0)
		return r;

	if ((r = base_chain(p, "forward", NFT_PROG_HOOK_FORWARD, &c)) < 0 ||
	    (r = vmap(c, NFT_PROG_SRC, "fw-dispatch")) < 0 ||
	    (r = vmap(c, NFT_PROG_DST, "tw-dispatch")) < 0 ||
	    (r = fail_closed(c, NFT_PROG_SRC)) < 0 || (r = fail_closed(c, NFT_PROG_DST)) < 0)
		return r;

	if ((r = base_chain(p, "input", NFT_PROG_HOOK_INPUT, &c)) < 0 ||
	    (r = vmap(c, NFT_PROG_SRC, "fw-dispatch")) < 0 ||
	    (r = fail_closed(c, NFT_PROG_SRC)) < 0)
		return r;
	if (h->endpoint_to_host == ACL_E2H_DROP || h->endpoint_to_host == ACL_E2H_ACCEPT) {
		bool drop = h->endpoint_to_host == ACL_E2H_DROP;

		if ((r = st_str(c, NFT_PROG_S_IFNAME_SET, NFT_PROG_EQ, 0, NFT_PROG_SRC,
				WL_IFACES)) < 0 ||
		    (r = st_verdict(c, drop ? NFT_PROG_V_DROP : NFT_PROG_V_ACCEPT)) < 0 ||
		    (r = nft_prog_chain_end_rule(c, drop ? "defaultEndpointToHostAction Drop"
							 : "defaultEndpointToHostAction Accept")) <
			0)
			return r;
	} /* Return: on to host endpoint policy */
	if ((r = vmap(c, NFT_PROG_SRC, "hi-dispatch")) < 0)
		return r;
	if (wild) {
		if ((r = st_str(c, NFT_PROG_S_IFNAME, NFT_PROG_NEQ, 0, NFT_PROG_SRC, "lo")) < 0 ||
		    (r = st_jump(c, "tby-hi-all")) < 0 ||
		    (r = nft_prog_chain_end_rule(c, NULL)) < 0)
			return r;
	}

	if ((r = base_chain(p, "output", NFT_PROG_HOOK_OUTPUT, &c)) < 0 ||
	    (r = vmap(c, NFT_PROG_DST, "tw-dispatch")) < 0 ||
	    (r = fail_closed(c, NFT_PROG_DST)) < 0 ||
	    (r = vmap(c, NFT_PROG_DST, "ho-dispatch")) < 0)
		return r;
	if (wild) {
		if ((r = st_str(c, NFT_PROG_S_IFNAME, NFT_PROG_NEQ, 0, NFT_PROG_DST, "lo")) < 0 ||
		    (r = st_str(c, NFT_PROG_S_IFNAME_SET, NFT_PROG_NEQ, 0, NFT_PROG_DST,
				WL_IFACES)) < 0 ||
		    (r = st_jump(c, "tby-ho-all")) < 0 ||
		    (r = nft_prog_chain_end_rule(c, NULL)) < 0)
			return r;
	}
	return 0;
}

/* ---- policy chains ---- */

static int put_icmp(struct nft_prog_chain *c, const struct model_icmp *ic, int family, bool neg)
{
	uint8_t fam = fam_of(family), op = neg ? NFT_PROG_NEQ : NFT_PROG_EQ;
	int r;

	if (ic->type < 0)
		return st(c, NFT_PROG_S_L4PROTO, op, 0, NFT_PROG_L4_NAME,
			  family == AF_INET6 ? 58 : 1);
	if (ic->code < 0)
		return st_icmp(c, NFT_PROG_S_ICMP_TYPE, op, fam, ic->type, 0);
	if (neg)
		return st_icmp(c, NFT_PROG_S_ICMP_TYPE_CODE, NFT_PROG_NEQ, fam, ic->type, ic->code);
	r = st_icmp(c, NFT_PROG_S_ICMP_TYPE, NFT_PROG_EQ, fam, ic->type, 0);
	return r < 0 ? r : st_icmp(c, NFT_PROG_S_ICMP_CODE, NFT_PROG_EQ, fam, 0, ic->code);
}

static int put_set_ref(struct nft_prog_chain *c, uint8_t type, uint8_t op, int family,
		       enum nft_prog_side side, const struct acl_set *s)
{
	char name[NFT_PROG_NAME_MAX];

	nft_prog_set_name(s, family, name);
	return st_str(c, type, op, fam_of(family), side, name);
}

/* @variant: 0 = numeric ports (or none), 1 = named ports, for the side that has both. */
static int put_side(struct nft_prog_chain *c, const struct acl_side *s, int family, bool src,
		    int variant)
{
	enum nft_prog_side side = src ? NFT_PROG_SRC : NFT_PROG_DST;
	int r = 0;

	if (s->nets)
		RET_GATHER(r,
			   put_set_ref(c, NFT_PROG_S_ADDR_SET, NFT_PROG_EQ, family, side, s->nets));
	if (s->not_nets && acl_set_has_family(s->not_nets, family))
		RET_GATHER(r, put_set_ref(c, NFT_PROG_S_ADDR_SET, NFT_PROG_NEQ, family, side,
					  s->not_nets));
	if (s->sel)
		RET_GATHER(r,
			   put_set_ref(c, NFT_PROG_S_ADDR_SET, NFT_PROG_EQ, family, side, s->sel));
	if (s->not_sel)
		RET_GATHER(
		    r, put_set_ref(c, NFT_PROG_S_ADDR_SET, NFT_PROG_NEQ, family, side, s->not_sel));
	if (s->n_ports && (variant == 0 || !s->named_ports))
		RET_GATHER(r, st_ref(c, NFT_PROG_S_PORT, NFT_PROG_EQ, 0, side, s->ports,
				     s->n_ports * sizeof(*s->ports)));
	else if (s->named_ports)
		RET_GATHER(r, put_set_ref(c, NFT_PROG_S_ADDR_PORT_SET, NFT_PROG_EQ, family, side,
					  s->named_ports));
	if (s->n_not_ports)
		RET_GATHER(r, st_ref(c, NFT_PROG_S_PORT, NFT_PROG_NEQ, 0, side, s->not_ports,
				     s->n_not_ports * sizeof(*s->not_ports)));
	if (s->not_named_ports)
		RET_GATHER(r, put_set_ref(c, NFT_PROG_S_ADDR_PORT_SET, NFT_PROG_NEQ, family, side,
					  s->not_named_ports));
	return r;
}

static bool side_uses_family(const struct acl_side *s)
{
	return s->nets || s->not_nets || s->sel || s->not_sel || s->named_ports ||
	       s->not_named_ports;
}

static bool side_has_ports(const struct acl_side *s)
{
	return s->n_ports || s->named_ports || s->n_not_ports || s->not_named_ports;
}

static int put_rule(struct nft_prog_chain *c, const struct acl_policy *p, enum acl_dir dir,
		    const struct acl_rule *ru)
{
	static const uint8_t port_protos[] = {6, 17, 132, 136};
	unsigned fams = acl_rule_families(ru);
	bool per_family = side_uses_family(&ru->src) || side_uses_family(&ru->dst) ||
			  ru->icmp.set || ru->not_icmp.set || fams != (ACL_FAM_V4 | ACL_FAM_V6);
	int variants =
	    (ru->src.n_ports && ru->src.named_ports) || (ru->dst.n_ports && ru->dst.named_ports)
		? 2
		: 1;
	char label[NFT_COMMENT_MAX + 1], prefix[NFT_COMMENT_MAX + 16];
	int r = 0;

	acl_rule_label(label, sizeof(label), p, dir, ru->index);
	snprintf(prefix, sizeof(prefix), "tby %.100s: ", label);
	for (int fi = 0; fi < 2 && r >= 0; fi++) {
		int family = fi == 0 ? AF_INET : AF_INET6;

		if (per_family && !(fams & (fi == 0 ? ACL_FAM_V4 : ACL_FAM_V6)))
			continue;
		if (!per_family && fi == 1)
			break;
		for (int v = 0; v < variants && r >= 0; v++) {
			if (per_family)
				RET_GATHER(r, st(c, NFT_PROG_S_NFPROTO, NFT_PROG_EQ, fam_of(family),
						 0, 0));
			if (ru->protocol >= 0)
				RET_GATHER(r, st(c, NFT_PROG_S_L4PROTO, NFT_PROG_EQ, 0,
						 NFT_PROG_L4_NUMBER, (uint32_t)ru->protocol));
			else if (side_has_ports(&ru->src) || side_has_ports(&ru->dst))
				RET_GATHER(r, st_ref(c, NFT_PROG_S_L4PROTO_IN, NFT_PROG_EQ, 0, 0,
						     port_protos, sizeof(port_protos)));
			if (ru->not_protocol >= 0)
				RET_GATHER(r, st(c, NFT_PROG_S_L4PROTO, NFT_PROG_NEQ, 0,
						 NFT_PROG_L4_NUMBER, (uint32_t)ru->not_protocol));
			if (ru->icmp.set)
				RET_GATHER(r, put_icmp(c, &ru->icmp, family, false));
			if (ru->not_icmp.set)
				RET_GATHER(r, put_icmp(c, &ru->not_icmp, family, true));
			RET_GATHER(r, put_side(c, &ru->src, family, true, v));
			RET_GATHER(r, put_side(c, &ru->dst, family, false, v));
			switch (ru->action) {
			case MODEL_ACTION_ALLOW:
			case MODEL_ACTION_PASS:
				RET_GATHER(r, st(c, NFT_PROG_S_MARK_OR, 0, 0, 0,
						 ru->action == MODEL_ACTION_ALLOW ? ACL_MARK_ACCEPT
										  : ACL_MARK_PASS));
				RET_GATHER(r, st_verdict(c, NFT_PROG_V_RETURN));
				break;
			case MODEL_ACTION_DENY:
				RET_GATHER(r, st_verdict(c, NFT_PROG_V_DROP));
				break;
			case MODEL_ACTION_LOG:
				RET_GATHER(r, st_str(c, NFT_PROG_S_LOG, 0, 0, 0, prefix));
				break;
			default:
				return -EINVAL;
			}
			RET_GATHER(r, nft_prog_chain_end_rule(c, label));
		}
	}
	return r;
}

int nft_prog_policy_chain(const struct acl_policy *p, enum acl_dir d, struct nft_prog_chain **ret)
{
	_cleanup_(nft_prog_chain_freep) struct nft_prog_chain *c = NULL;
	bool profile = p->source == ACL_SOURCE_PROFILE;
	char name[NFT_PROG_NAME_MAX], comment[NFT_COMMENT_MAX + 32];
	int r;

	nft_prog_policy_chain_name(p, d, name);
	snprintf(comment, sizeof(comment), "%s %.100s %s", profile ? "profile" : "policy", p->name,
		 acl_dir_to_string(d));
	r = nft_prog_chain_new(name, comment, &c);
	if (r < 0)
		return r;
	for (size_t i = 0; i < p->n_rules[d]; i++) {
		r = put_rule(c, p, d, &p->rules[d][i]);
		if (r < 0)
			return r;
	}
	*ret = TAKE_PTR(c);
	return 0;
}

/* ---- endpoint chains ---- */

static int put_call(struct nft_prog_chain *c, const struct acl_policy *p, enum acl_dir d,
		    bool guard)
{
	char name[NFT_PROG_NAME_MAX];
	int r = 0;

	nft_prog_policy_chain_name(p, d, name);
	if (guard)
		RET_GATHER(r, st_mark_test(c, ACL_MARK_PASS, 0));
	RET_GATHER(r, st_jump(c, name));
	RET_GATHER(r, nft_prog_chain_end_rule(c, NULL));
	RET_GATHER(r, st_mark_test(c, ACL_MARK_ACCEPT, ACL_MARK_ACCEPT));
	RET_GATHER(r, st_verdict(c, NFT_PROG_V_RETURN));
	RET_GATHER(r, nft_prog_chain_end_rule(c, NULL));
	return r;
}

static int put_failsafe(struct nft_prog_chain *c, const struct acl_host_config *h, bool inbound)
{
	size_t n;
	const struct model_proto_port *fs = acl_failsafe(h, inbound, &n);
	int r = 0;

	for (size_t i = 0; i < n && r >= 0; i++) {
		if (fs[i].net.addr.family)
			RET_GATHER(r, st_ref(c, NFT_PROG_S_ADDR, NFT_PROG_EQ,
					     fam_of(fs[i].net.addr.family),
					     inbound ? NFT_PROG_SRC : NFT_PROG_DST, &fs[i].net,
					     sizeof(fs[i].net)));
		RET_GATHER(r, st(c, NFT_PROG_S_L4PROTO, NFT_PROG_EQ, 0, NFT_PROG_L4_NUMBER,
				 fs[i].protocol.set ? fs[i].protocol.number : 6));
		RET_GATHER(r, st_ref(c, NFT_PROG_S_PORT, NFT_PROG_EQ, 0, NFT_PROG_DST,
				     &(struct acl_port_range){fs[i].port, fs[i].port},
				     sizeof(struct acl_port_range)));
		RET_GATHER(r, st_verdict(c, NFT_PROG_V_ACCEPT));
		RET_GATHER(r, nft_prog_chain_end_rule(c, "failsafe"));
	}
	return r;
}

static int put_anti_spoof(struct nft_prog_chain *c, const struct acl_ruleset *rs)
{
	int r = 0;

	for (int fi = 0; fi < 2 && r >= 0; fi++) {
		int family = fi == 0 ? AF_INET : AF_INET6;
		_cleanup_free_ struct ip_addr *a = calloc(rs->n_addrs + 1, sizeof(*a));
		size_t n = 0;

		if (!a)
			return -ENOMEM;
		for (size_t i = 0; i < rs->n_addrs; i++)
			if (rs->addrs[i].family == family)
				a[n++] = rs->addrs[i];
		if (n)
			RET_GATHER(r, st_ref(c, NFT_PROG_S_ADDR_IN, NFT_PROG_NEQ, fam_of(family),
					     NFT_PROG_SRC, a, n * sizeof(*a)));
		else
			RET_GATHER(r, st(c, NFT_PROG_S_NFPROTO, NFT_PROG_EQ, fam_of(family), 0, 0));
		RET_GATHER(r, st_verdict(c, NFT_PROG_V_DROP));
		RET_GATHER(r, nft_prog_chain_end_rule(c, "anti-spoof"));
	}
	return r;
}

int nft_prog_endpoint_chain(const struct acl_ruleset *rs, enum acl_dir d,
			    const struct acl_host_config *hc, struct nft_prog_chain **ret)
{
	const struct acl_host_config *h = acl_host_or_default(hc);
	_cleanup_(nft_prog_chain_freep) struct nft_prog_chain *c = NULL;
	const struct acl_ep_dir *ed = &rs->dir[d];
	char name[NFT_PROG_NAME_MAX], comment[NFT_COMMENT_MAX + 32];
	int r;

	r = nft_prog_endpoint_chain_name(rs, d, name);
	if (r < 0)
		return r;
	snprintf(comment, sizeof(comment), "%s %.100s %s", rs->host ? "host endpoint" : "workload",
		 rs->name, acl_dir_to_string(d));
	r = nft_prog_chain_new(name, comment, &c);
	if (r < 0)
		return r;
	if (!rs->host && d == ACL_DIR_EGRESS)
		RET_GATHER(r, put_anti_spoof(c, rs));
	if (rs->host)
		RET_GATHER(r, put_failsafe(c, h, d == ACL_DIR_INGRESS));
	RET_GATHER(r, st(c, NFT_PROG_S_MARK_AND, 0, 0, 0, ~ACL_MARK_MASK));
	RET_GATHER(r, nft_prog_chain_end_rule(c, NULL));
	for (size_t t = 0; t < ed->n_tiers && r >= 0; t++) {
		const struct acl_ep_tier *et = &ed->tiers[t];
		char tc[NFT_COMMENT_MAX + 32];

		for (size_t i = 0; i < et->n_policies; i++)
			RET_GATHER(r, put_call(c, et->policies[i], d, i > 0));
		if (et->tier->default_action == MODEL_ACTION_DENY) {
			snprintf(tc, sizeof(tc), "tier %.100s: default deny", et->tier->name);
			RET_GATHER(r, st_mark_test(c, ACL_MARK_PASS, 0));
			RET_GATHER(r, st_verdict(c, NFT_PROG_V_DROP));
			RET_GATHER(r, nft_prog_chain_end_rule(c, tc));
		}
		RET_GATHER(r, st(c, NFT_PROG_S_MARK_AND, 0, 0, 0, ~ACL_MARK_PASS));
		RET_GATHER(r, nft_prog_chain_end_rule(c, NULL));
	}
	switch (ed->end) {
	case ACL_END_ALLOW:
		RET_GATHER(r, st(c, NFT_PROG_S_MARK_OR, 0, 0, 0, ACL_MARK_ACCEPT));
		RET_GATHER(r, st_verdict(c, NFT_PROG_V_RETURN));
		RET_GATHER(r, nft_prog_chain_end_rule(
				  c, ed->has_policy ? "passed out of the last tier" : "no policy"));
		break;
	case ACL_END_PROFILES:
		for (size_t i = 0; i < ed->n_profiles; i++)
			RET_GATHER(r, put_call(c, ed->profiles[i], d, false));
		RET_GATHER(r, st_verdict(c, NFT_PROG_V_DROP));
		RET_GATHER(r, nft_prog_chain_end_rule(c, "profiles: no match"));
		break;
	case ACL_END_DENY:
		RET_GATHER(r, st_verdict(c, NFT_PROG_V_DROP));
		RET_GATHER(r, nft_prog_chain_end_rule(c, "host endpoint: default deny"));
		break;
	}
	if (r < 0)
		return r;
	*ret = TAKE_PTR(c);
	return 0;
}

/* ---- the whole program ---- */

static int add_chain(struct nft_prog *p, int r, struct nft_prog_chain *c)
{
	return r < 0 ? r : nft_prog_add_chain(p, c);
}

static int build(const struct acl_render_input *in, const struct acl_used *u, struct nft_prog *p)
{
	const struct acl_index *idx = in->idx;
	int r;

	r = nft_prog_build_base(p, u->rulesets, u->n_rulesets, in->host);
	if (r < 0)
		return r;
	for (size_t i = 0; i < idx->n_sets; i++) {
		const int fams[] = {AF_INET, AF_INET6};

		if (!u->sets[i])
			continue;
		for (size_t k = 0; k < ELEMENTSOF(fams); k++) {
			struct nft_prog_set *s = NULL;

			if (!acl_set_has_family(idx->sets[i], fams[k]))
				continue;
			r = nft_prog_selector_set(idx->sets[i], &in->members->sets[i], fams[k], &s);
			if (r < 0 || (r = nft_prog_add_set(p, s)) < 0)
				return r;
		}
	}
	for (size_t i = 0; i < u->n_rulesets; i++) {
		for (int d = _ACL_DIR_MAX - 1; d >= 0; d--) {
			struct nft_prog_chain *c = NULL;

			r = nft_prog_endpoint_chain(u->rulesets[i], (enum acl_dir)d, in->host, &c);
			if ((r = add_chain(p, r, c)) < 0)
				return r;
		}
	}
	for (size_t i = 0; i < idx->n_seq; i++) {
		if (!u->policies[i])
			continue;
		for (int d = 0; d < _ACL_DIR_MAX; d++) {
			struct nft_prog_chain *c = NULL;

			if (!u->by_seq[i]->types[d])
				continue;
			r = nft_prog_policy_chain(u->by_seq[i], (enum acl_dir)d, &c);
			if ((r = add_chain(p, r, c)) < 0)
				return r;
		}
	}
	return 0;
}

int nft_prog_build(const struct acl_render_input *in, struct nft_prog **ret)
{
	_cleanup_(nft_prog_freep) struct nft_prog *p = NULL;
	struct acl_used u = {0};
	int r;

	if (!in->members || in->members->n_sets != in->idx->n_sets)
		return -EINVAL;
	r = nft_prog_new(&p);
	if (r < 0)
		return r;
	r = acl_used_collect(in, &u);
	if (r < 0)
		return r;
	r = build(in, &u, p);
	acl_used_done(&u);
	if (r < 0)
		return r;
	*ret = TAKE_PTR(p);
	return 0;
}

int acl_render_nft(const struct acl_render_input *in, struct strbuf *out)
{
	_cleanup_(nft_prog_freep) struct nft_prog *p = NULL;
	int r;

	r = nft_prog_build(in, &p);
	if (r < 0)
		return r;
	return nft_prog_format(p, out);
}
