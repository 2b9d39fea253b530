/* SPDX-License-Identifier: Apache-2.0 */
/*
 * DOC: nftables renderer (IR -> one `nft -f` script for table inet tabby)
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
 *       ct state established,related accept; ct state invalid drop; ICMPv6 neighbour
 *       discovery accept (input/output); then dispatch. input: from-workload chains, then
 *       defaultEndpointToHostAction for wl-ifaces (Drop: drop, Accept: accept, Return:
 *       continue), then host endpoints. output: to-workload chains, then host endpoints.
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
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "acl/render-internal.h"

/* nft refuses comments longer than 128 bytes (NFTNL_UDATA_COMMENT_MAXLEN). */
#define NFT_COMMENT_MAX 120

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

/* Selector text inside a double-quoted nft/iptables comment: '"' becomes '\'', at most @max. */
static void put_comment_text(struct out *o, const char *text, size_t max)
{
	for (size_t i = 0; text[i] && i < max; i++)
		P(o, "%c", text[i] == '"' || text[i] == '\\' ? '\'' : text[i]);
}

static char set_letter(const struct acl_set *s)
{
	return s->kind == ACL_SET_SELECTOR ? 's' : s->kind == ACL_SET_NETS ? 'n' : 'p';
}

static void put_addr_elem(struct out *o, const struct ip_prefix *p)
{
	char buf[IP_PREFIX_STRLEN];

	if (p->len == ip_addr_bits(p->addr.family))
		P(o, "%s", ip_addr_format(&p->addr, buf));
	else
		P(o, "%s", ip_prefix_format(p, buf));
}

static void emit_set(struct out *o, const struct acl_set *s, const struct acl_set_members *m,
		     int fam)
{
	const char *t = fam == AF_INET ? "ipv4_addr" : "ipv6_addr";
	size_t n = 0;

	P(o, "\tset %c%c-%s {\n", set_letter(s), fam == AF_INET ? '4' : '6', s->id);
	if (s->kind == ACL_SET_NAMED_PORT) {
		P(o, "\t\ttype %s . inet_proto . inet_service\n", t);
	} else {
		P(o, "\t\ttype %s\n", t);
		P(o, "\t\tflags interval\n");
	}
	if (s->kind != ACL_SET_NETS) {
		P(o, "\t\tcomment \"");
		put_comment_text(o, sel_canonical(s->sel), NFT_COMMENT_MAX);
		P(o, "\"\n");
	}
	for (size_t i = 0; m && i < m->n; i++) {
		const struct acl_member *x = &m->items[i];

		if (x->net.addr.family != fam)
			continue;
		P(o, n == 0 ? "\t\telements = { " : ",\n\t\t\t     ");
		put_addr_elem(o, &x->net);
		if (s->kind == ACL_SET_NAMED_PORT)
			P(o, " . %u . %u", x->proto, x->port);
		n++;
	}
	if (n)
		P(o, " }\n");
	P(o, "\t}\n\n");
}

static void put_ranges(struct out *o, const struct acl_port_range *r, size_t n)
{
	P(o, n > 1 ? "{ " : "");
	for (size_t i = 0; i < n; i++) {
		if (i)
			P(o, ", ");
		if (r[i].first == r[i].last)
			P(o, "%u", r[i].first);
		else
			P(o, "%u-%u", r[i].first, r[i].last);
	}
	P(o, n > 1 ? " }" : "");
}

static void put_icmp(struct out *o, const struct model_icmp *ic, int fam, bool neg)
{
	const char *k = fam == AF_INET6 ? "icmpv6" : "icmp";

	if (ic->type < 0) {
		P(o, " meta l4proto %s%s", neg ? "!= " : "",
		  fam == AF_INET6 ? "ipv6-icmp" : "icmp");
		return;
	}
	if (ic->code < 0)
		P(o, " %s type %s%d", k, neg ? "!= " : "", ic->type);
	else if (!neg)
		P(o, " %s type %d %s code %d", k, ic->type, k, ic->code);
	else
		P(o, " %s type . %s code != { %d . %d }", k, k, ic->type, ic->code);
}

/* @variant: 0 = numeric ports (or none), 1 = named ports, for the side that has both. */
static void put_side(struct out *o, const struct acl_side *s, int fam, bool src, int variant)
{
	const char *ip = fam == AF_INET ? "ip" : "ip6";
	const char *dir = src ? "saddr" : "daddr";
	const char *port = src ? "sport" : "dport";
	char f = fam == AF_INET ? '4' : '6';

	if (s->nets)
		P(o, " %s %s @n%c-%s", ip, dir, f, s->nets->id);
	if (s->not_nets && acl_set_has_family(s->not_nets, fam))
		P(o, " %s %s != @n%c-%s", ip, dir, f, s->not_nets->id);
	if (s->sel)
		P(o, " %s %s @s%c-%s", ip, dir, f, s->sel->id);
	if (s->not_sel)
		P(o, " %s %s != @s%c-%s", ip, dir, f, s->not_sel->id);
	if (s->n_ports && (variant == 0 || !s->named_ports)) {
		P(o, " th %s ", port);
		put_ranges(o, s->ports, s->n_ports);
	} else if (s->named_ports) {
		P(o, " %s %s . meta l4proto . th %s @p%c-%s", ip, dir, port, f, s->named_ports->id);
	}
	if (s->n_not_ports) {
		P(o, " th %s != ", port);
		put_ranges(o, s->not_ports, s->n_not_ports);
	}
	if (s->not_named_ports)
		P(o, " %s %s . meta l4proto . th %s != @p%c-%s", ip, dir, port, f,
		  s->not_named_ports->id);
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

static void emit_rule(struct out *o, const struct acl_policy *p, enum acl_dir dir,
		      const struct acl_rule *r)
{
	unsigned fams = acl_rule_families(r);
	bool per_family = side_uses_family(&r->src) || side_uses_family(&r->dst) || r->icmp.set ||
			  r->not_icmp.set || fams != (ACL_FAM_V4 | ACL_FAM_V6);
	int variants =
	    (r->src.n_ports && r->src.named_ports) || (r->dst.n_ports && r->dst.named_ports) ? 2
											     : 1;
	char label[NFT_COMMENT_MAX + 1];

	acl_rule_label(label, sizeof(label), p, dir, r->index);
	for (int fi = 0; fi < 2; fi++) {
		int fam = fi == 0 ? AF_INET : AF_INET6;

		if (per_family && !(fams & (fi == 0 ? ACL_FAM_V4 : ACL_FAM_V6)))
			continue;
		if (!per_family && fi == 1)
			break;
		for (int v = 0; v < variants; v++) {
			P(o, "\t\t");
			if (per_family)
				P(o, "meta nfproto %s", fam == AF_INET ? "ipv4" : "ipv6");
			if (r->protocol >= 0)
				P(o, " meta l4proto %d", r->protocol);
			else if (side_has_ports(&r->src) || side_has_ports(&r->dst))
				P(o, " meta l4proto { 6, 17, 132, 136 }");
			if (r->not_protocol >= 0)
				P(o, " meta l4proto != %d", r->not_protocol);
			if (r->icmp.set)
				put_icmp(o, &r->icmp, fam, false);
			if (r->not_icmp.set)
				put_icmp(o, &r->not_icmp, fam, true);
			put_side(o, &r->src, fam, true, v);
			put_side(o, &r->dst, fam, false, v);
			switch (r->action) {
			case MODEL_ACTION_ALLOW:
				P(o, " meta mark set meta mark | 0x%08x return", ACL_MARK_ACCEPT);
				break;
			case MODEL_ACTION_DENY:
				P(o, " drop");
				break;
			case MODEL_ACTION_LOG:
				P(o, " log prefix \"tby %.100s: \"", label);
				break;
			case MODEL_ACTION_PASS:
				P(o, " meta mark set meta mark | 0x%08x return", ACL_MARK_PASS);
				break;
			default:
				o->r = -EINVAL;
				return;
			}
			P(o, " comment \"%s\"\n", label);
		}
	}
}

static void emit_policy_chain(struct out *o, const struct acl_policy *p, enum acl_dir dir)
{
	bool profile = p->source == ACL_SOURCE_PROFILE;

	P(o, "\tchain tby-%c%c-%s {\n", profile ? 'r' : 'p', dir == ACL_DIR_INGRESS ? 'i' : 'e',
	  p->id);
	P(o, "\t\tcomment \"%s %.100s %s\"\n", profile ? "profile" : "policy", p->name,
	  acl_dir_to_string(dir));
	for (size_t i = 0; i < p->n_rules[dir]; i++)
		emit_rule(o, p, dir, &p->rules[dir][i]);
	P(o, "\t}\n\n");
}

static void put_call(struct out *o, const struct acl_policy *p, enum acl_dir dir, bool guard)
{
	P(o, "\t\t");
	if (guard)
		P(o, "meta mark & 0x%08x == 0 ", ACL_MARK_PASS);
	P(o, "jump tby-%c%c-%s\n", p->source == ACL_SOURCE_PROFILE ? 'r' : 'p',
	  dir == ACL_DIR_INGRESS ? 'i' : 'e', p->id);
	P(o, "\t\tmeta mark & 0x%08x == 0x%08x return\n", ACL_MARK_ACCEPT, ACL_MARK_ACCEPT);
}

static void emit_failsafe(struct out *o, const struct acl_host_config *h, bool inbound)
{
	size_t n;
	const struct model_proto_port *fs = acl_failsafe(h, inbound, &n);

	for (size_t i = 0; i < n; i++) {
		char buf[IP_PREFIX_STRLEN];

		P(o, "\t\t");
		if (fs[i].net.addr.family)
			P(o, "%s %s %s ", fs[i].net.addr.family == AF_INET ? "ip" : "ip6",
			  inbound ? "saddr" : "daddr", ip_prefix_format(&fs[i].net, buf));
		P(o, "meta l4proto %u th dport %u accept comment \"failsafe\"\n",
		  fs[i].protocol.set ? fs[i].protocol.number : 6, fs[i].port);
	}
}

static const char *chain_kind(const struct acl_ruleset *rs, enum acl_dir d)
{
	if (rs->host)
		return d == ACL_DIR_INGRESS ? "hi" : "ho";
	return d == ACL_DIR_INGRESS ? "tw" : "fw";
}

static const char *ifname_id(const struct acl_ruleset *rs)
{
	return strcmp(rs->ifname, "*") == 0 ? "all" : rs->ifname;
}

static void emit_endpoint_chain(struct out *o, const struct acl_ruleset *rs, enum acl_dir d,
				const struct acl_host_config *h)
{
	const struct acl_ep_dir *ed = &rs->dir[d];

	P(o, "\tchain tby-%s-%s {\n", chain_kind(rs, d), ifname_id(rs));
	P(o, "\t\tcomment \"%s %.100s %s\"\n", rs->host ? "host endpoint" : "workload", rs->name,
	  acl_dir_to_string(d));
	if (!rs->host && d == ACL_DIR_EGRESS) {
		for (int fi = 0; fi < 2; fi++) {
			int fam = fi == 0 ? AF_INET : AF_INET6;
			size_t n = 0;

			for (size_t i = 0; i < rs->n_addrs; i++) {
				char buf[IP_ADDR_STRLEN];

				if (rs->addrs[i].family != fam)
					continue;
				if (n == 0)
					P(o, "\t\t%s saddr != { ", fam == AF_INET ? "ip" : "ip6");
				else
					P(o, ", ");
				P(o, "%s", ip_addr_format(&rs->addrs[i], buf));
				n++;
			}
			if (n)
				P(o, " } drop comment \"anti-spoof\"\n");
			else
				P(o, "\t\tmeta nfproto %s drop comment \"anti-spoof\"\n",
				  fam == AF_INET ? "ipv4" : "ipv6");
		}
	}
	if (rs->host)
		emit_failsafe(o, h, d == ACL_DIR_INGRESS);
	P(o, "\t\tmeta mark set meta mark & 0x%08x\n", ~ACL_MARK_MASK);
	for (size_t t = 0; t < ed->n_tiers; t++) {
		const struct acl_ep_tier *et = &ed->tiers[t];

		for (size_t i = 0; i < et->n_policies; i++)
			put_call(o, et->policies[i], d, i > 0);
		if (et->tier->default_action == MODEL_ACTION_DENY)
			P(o,
			  "\t\tmeta mark & 0x%08x == 0 drop comment \"tier %.100s: default deny\"\n",
			  ACL_MARK_PASS, et->tier->name);
		P(o, "\t\tmeta mark set meta mark & 0x%08x\n", ~ACL_MARK_PASS);
	}
	switch (ed->end) {
	case ACL_END_ALLOW:
		P(o, "\t\tmeta mark set meta mark | 0x%08x return comment \"%s\"\n",
		  ACL_MARK_ACCEPT, ed->has_policy ? "passed out of the last tier" : "no policy");
		break;
	case ACL_END_PROFILES:
		for (size_t i = 0; i < ed->n_profiles; i++)
			put_call(o, ed->profiles[i], d, false);
		P(o, "\t\tdrop comment \"profiles: no match\"\n");
		break;
	case ACL_END_DENY:
		P(o, "\t\tdrop comment \"host endpoint: default deny\"\n");
		break;
	}
	P(o, "\t}\n\n");
}

/* The two-element-per-line ifname set or map. @kind: NULL for the set. */
static void emit_dispatch(struct out *o, const char *name, const struct acl_used *u, bool host,
			  const char *kind)
{
	size_t n = 0;

	if (kind)
		P(o, "\tmap %s {\n\t\ttype ifname : verdict\n", name);
	else
		P(o, "\tset %s {\n\t\ttype ifname\n", name);
	for (size_t i = 0; i < u->n_rulesets; i++) {
		const struct acl_ruleset *rs = u->rulesets[i];

		if (rs->host != host || strcmp(rs->ifname, "*") == 0)
			continue;
		P(o, n == 0 ? "\t\telements = { " : ",\n\t\t\t     ");
		if (kind)
			P(o, "\"%s\" : jump tby-%s-%s", rs->ifname, kind, rs->ifname);
		else
			P(o, "\"%s\"", rs->ifname);
		n++;
	}
	if (n)
		P(o, " }\n");
	P(o, "\t}\n\n");
}

static void emit_base_start(struct out *o, const char *hook)
{
	P(o, "\tchain %s {\n", hook);
	P(o, "\t\ttype filter hook %s priority filter; policy accept;\n", hook);
	P(o, "\t\tct state established,related accept\n");
	P(o, "\t\tct state invalid drop\n");
}

static const struct acl_ruleset *wildcard_host(const struct acl_used *u)
{
	for (size_t i = 0; i < u->n_rulesets; i++)
		if (u->rulesets[i]->host && strcmp(u->rulesets[i]->ifname, "*") == 0)
			return u->rulesets[i];
	return NULL;
}

int acl_render_nft(const struct acl_render_input *in, struct strbuf *out)
{
	const struct acl_host_config *h = acl_host_or_default(in->host);
	const struct acl_index *idx = in->idx;
	static const char nd[] = "\t\ticmpv6 type { nd-router-solicit, nd-router-advert, "
				 "nd-neighbor-solicit, nd-neighbor-advert } accept\n";
	const struct acl_ruleset *wild;
	struct acl_used u = {0};
	struct out o = {.sb = out};
	int r;

	if (!in->members || in->members->n_sets != idx->n_sets)
		return -EINVAL;
	r = acl_used_collect(in, &u);
	if (r < 0)
		return r;
	wild = wildcard_host(&u);

	P(&o, "#!/usr/sbin/nft -f\n");
	P(&o, "# tabby policy (acl_render_nft); generated, do not edit. One transaction.\n");
	P(&o, "table inet tabby\n");
	P(&o, "delete table inet tabby\n");
	P(&o, "table inet tabby {\n");
	emit_dispatch(&o, "wl-ifaces", &u, false, NULL);
	emit_dispatch(&o, "fw-dispatch", &u, false, "fw");
	emit_dispatch(&o, "tw-dispatch", &u, false, "tw");
	emit_dispatch(&o, "hi-dispatch", &u, true, "hi");
	emit_dispatch(&o, "ho-dispatch", &u, true, "ho");
	for (size_t i = 0; i < idx->n_sets; i++) {
		const struct acl_set *s = idx->sets[i];

		if (!u.sets[i])
			continue;
		if (acl_set_has_family(s, AF_INET))
			emit_set(&o, s, &in->members->sets[i], AF_INET);
		if (acl_set_has_family(s, AF_INET6))
			emit_set(&o, s, &in->members->sets[i], AF_INET6);
	}

	emit_base_start(&o, "forward");
	P(&o, "\t\tiifname vmap @fw-dispatch\n");
	P(&o, "\t\toifname vmap @tw-dispatch\n");
	P(&o, "\t}\n\n");

	emit_base_start(&o, "input");
	P(&o, "%s", nd);
	P(&o, "\t\tiifname vmap @fw-dispatch\n");
	switch (h->endpoint_to_host) {
	case ACL_E2H_DROP:
		P(&o, "\t\tiifname @wl-ifaces drop comment \"defaultEndpointToHostAction Drop\"\n");
		break;
	case ACL_E2H_ACCEPT:
		P(&o, "\t\tiifname @wl-ifaces accept comment \"defaultEndpointToHostAction "
		      "Accept\"\n");
		break;
	default:
		break; /* Return: on to host endpoint policy */
	}
	P(&o, "\t\tiifname vmap @hi-dispatch\n");
	if (wild)
		P(&o, "\t\tiifname != \"lo\" jump tby-hi-all\n");
	P(&o, "\t}\n\n");

	emit_base_start(&o, "output");
	P(&o, "%s", nd);
	P(&o, "\t\toifname vmap @tw-dispatch\n");
	P(&o, "\t\toifname vmap @ho-dispatch\n");
	if (wild)
		P(&o, "\t\toifname != \"lo\" oifname != @wl-ifaces jump tby-ho-all\n");
	P(&o, "\t}\n\n");

	for (size_t i = 0; i < u.n_rulesets; i++)
		for (int d = _ACL_DIR_MAX - 1; d >= 0; d--)
			emit_endpoint_chain(&o, u.rulesets[i], (enum acl_dir)d, h);
	for (size_t i = 0; i < idx->n_seq; i++) {
		if (!u.policies[i])
			continue;
		for (int d = 0; d < _ACL_DIR_MAX; d++)
			if (u.by_seq[i]->types[d])
				emit_policy_chain(&o, u.by_seq[i], (enum acl_dir)d);
	}
	/* Drop the blank line before the closing brace. */
	if (o.r >= 0 && out->len >= 2 && out->buf[out->len - 1] == '\n' &&
	    out->buf[out->len - 2] == '\n')
		out->buf[--out->len] = '\0';
	P(&o, "}\n");
	acl_used_done(&u);
	return o.r;
}
