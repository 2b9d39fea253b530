/* SPDX-License-Identifier: Apache-2.0 */
/*
 * DOC: iptables renderer (IR -> iptables-restore --noflush text + ipset restore script)
 *
 * Same structure and mark protocol as the nftables renderer (see render-nft.c), for one family
 * at a time (iptables / ip6tables). Our chains all start with "tby-" and are declared in the
 * restore text, which with --noflush flushes and refills exactly them and nothing else:
 *   tby-forward, tby-input, tby-output   entered from FORWARD/INPUT/OUTPUT (ACL_IPT_HOOKS
 *                                        inserts those jumps; the driver checks with -C first)
 *   tby-from-wl, tby-to-wl               workload dispatch (`-i/-o tby+` from the three above)
 *   tby-{fw,tw,hi,ho}-<if>               per endpoint and direction
 *   tby-as-<if>                          anti-spoofing for an endpoint with several addresses
 *   tby-p{i,e}-<id>, tby-r{i,e}-<id>     per policy / profile and direction
 * There are no verdict maps: the workload dispatch is one `-i/-o <if> -g tby-fw|tw-<if>` rule
 * per local workload in tby-from-wl / tby-to-wl (a goto, so the endpoint chain's RETURN goes
 * back to the chain that jumped to the dispatch chain), host endpoints one `-j` rule each.
 * Fail closed (Calico's "Unknown interface" drop, issue 8): both dispatch chains end with a
 * DROP of any other "tby" interface, so a workload whose chains are not loaded yet (the CNI
 * plugin routes it before felix programs it) can neither send nor receive, forwarded, to the
 * host (INPUT) or from the host (OUTPUT). defaultEndpointToHostAction is one `-i tby+` rule in
 * tby-input after the dispatch. A new workload changes tby-from-wl and tby-to-wl and its own
 * chains only, which is what the iptables driver rewrites.
 * Allowed traffic returns to the built-in chain (no opinion), exactly like the nft base chains
 * with policy accept; every refusal is a DROP in our chains.
 *
 * Every address match is an ipset (selector, nets, named ports) named
 * tby-<kind><family>-<16 hex id> (23 chars, within ipset's 31). The ipset script creates each
 * set if missing and replaces its members atomically through a temporary set and `swap`.
 * hash:net cannot hold a /0, so /0 becomes its two halves (as Calico does).
 *
 * Each rule carries `-m comment --comment "tby:<16 hex>"`, the FNV-1a 64 of its chain, its
 * position and its text, so a reader of `iptables-save` finds it in the golden files.
 * multiport takes at most 15 ports (a range counts two): longer lists are split, positive lists
 * into several rules (OR), negative lists into several matches of one rule (AND).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "acl/render-internal.h"
#include "lib/array.h"

#define PORTS_PER_MATCH 7 /* ranges per multiport match: 7 x 2 <= 15 */
#define WL_PREFIX "tby"	  /* every workload interface (cni/wl-plumb.h WL_PLUMB_IFNAME_PREFIX) */

struct ipt {
	struct strbuf *sb;
	int r;
	int fam;
	struct strbuf line; /* rule being built (after "-A chain") */
	char chain[32];
	unsigned pos; /* rules so far in @chain */
	const struct acl_ipt_keep *keep;
};

_printf_(2, 3) static void L(struct ipt *o, const char *fmt, ...)
{
	va_list ap;
	int r;

	if (o->r < 0)
		return;
	va_start(ap, fmt);
	r = strbuf_vprintf(&o->line, fmt, ap);
	va_end(ap);
	if (r < 0)
		o->r = r;
}

/* Writes "-A <chain> -m comment --comment "tby:<hash>" <line>" and resets the line. */
static void flush_rule(struct ipt *o)
{
	char key[64];
	uint64_t h;
	int r;

	if (o->r < 0)
		return;
	snprintf(key, sizeof(key), "%s#%u#", o->chain, o->pos++);
	h = sel_fnv1a64(key, strlen(key)) ^ sel_fnv1a64(strbuf_cstr(&o->line), o->line.len);
	r = strbuf_printf(o->sb, "-A %s -m comment --comment \"tby:%016llx\"%s\n", o->chain,
			  (unsigned long long)h, strbuf_cstr(&o->line));
	if (r < 0)
		o->r = r;
	strbuf_reset(&o->line);
}

_printf_(2, 3) static void chain_begin(struct ipt *o, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(o->chain, sizeof(o->chain), fmt, ap);
	va_end(ap);
	o->pos = 0;
}

void acl_ipset_name(const struct acl_set *s, int family, char buf[static ACL_IPSET_NAME_MAX])
{
	char letter = s->kind == ACL_SET_SELECTOR ? 's' : s->kind == ACL_SET_NETS ? 'n' : 'p';

	snprintf(buf, ACL_IPSET_NAME_MAX, "tby-%c%c-%s", letter, family == AF_INET ? '4' : '6',
		 s->id);
}

const char *acl_ipset_proto(uint8_t proto)
{
	switch (proto) {
	case 6:
		return "tcp";
	case 17:
		return "udp";
	case 132:
		return "sctp";
	case 136:
		return "udplite";
	default:
		return NULL;
	}
}

static int put_member(struct strbuf *sb, const char *tmp, const struct acl_set *s,
		      const struct acl_member *x)
{
	char buf[IP_PREFIX_STRLEN];
	struct ip_prefix p = x->net;

	if (s->kind == ACL_SET_NAMED_PORT) {
		const char *pn = acl_ipset_proto(x->proto);

		if (!pn)
			return 0; /* hash:ip,port knows tcp/udp/sctp/udplite only */
		return strbuf_printf(sb, "add %s %s,%s:%u\n", tmp, ip_addr_format(&p.addr, buf), pn,
				     x->port);
	}
	if (p.len == 0) {
		/* hash:net refuses /0: add both halves. */
		struct ip_prefix hi = {.addr = p.addr, .len = 1};
		int r;

		p.len = 1;
		hi.addr.bytes[0] |= 0x80;
		r = strbuf_printf(sb, "add %s %s\n", tmp, ip_prefix_format(&p, buf));
		if (r < 0)
			return r;
		return strbuf_printf(sb, "add %s %s\n", tmp, ip_prefix_format(&hi, buf));
	}
	if (p.len == ip_addr_bits(p.addr.family))
		return strbuf_printf(sb, "add %s %s\n", tmp, ip_addr_format(&p.addr, buf));
	return strbuf_printf(sb, "add %s %s\n", tmp, ip_prefix_format(&p, buf));
}

static int emit_ipset(struct strbuf *sb, const struct acl_set *s, const struct acl_set_members *m,
		      int fam)
{
	const char *type = s->kind == ACL_SET_NAMED_PORT ? "hash:ip,port" : "hash:net";
	const char *family = fam == AF_INET ? "inet" : "inet6";
	const char *tmp = s->kind == ACL_SET_NAMED_PORT ? "tby-tmp-ipport" : "tby-tmp-net";
	char name[ACL_IPSET_NAME_MAX];
	int r;

	acl_ipset_name(s, fam, name);
	r = strbuf_printf(sb,
			  "create %s %s family %s maxelem 1048576 -exist\n"
			  "create %s %s family %s maxelem 1048576 -exist\n"
			  "flush %s\n",
			  name, type, family, tmp, type, family, tmp);
	for (size_t i = 0; r >= 0 && m && i < m->n; i++)
		if (m->items[i].net.addr.family == fam)
			r = put_member(sb, tmp, s, &m->items[i]);
	if (r >= 0)
		r = strbuf_printf(sb, "swap %s %s\ndestroy %s\n", tmp, name, tmp);
	return r;
}

static void put_set(struct ipt *o, const struct acl_set *s, bool neg, bool src)
{
	char name[ACL_IPSET_NAME_MAX];

	acl_ipset_name(s, o->fam, name);
	if (s->kind == ACL_SET_NAMED_PORT)
		L(o, " -m set %s--match-set %s %s", neg ? "! " : "", name,
		  src ? "src,src" : "dst,dst");
	else
		L(o, " -m set %s--match-set %s %s", neg ? "! " : "", name, src ? "src" : "dst");
}

static void put_ports(struct ipt *o, const struct acl_port_range *r, size_t n, bool neg, bool src)
{
	L(o, " -m multiport %s--%s ", neg ? "! " : "", src ? "sports" : "dports");
	for (size_t i = 0; i < n; i++) {
		if (r[i].first == r[i].last)
			L(o, "%s%u", i ? "," : "", r[i].first);
		else
			L(o, "%s%u:%u", i ? "," : "", r[i].first, r[i].last);
	}
}

/* Everything of one side except its positive numeric/named ports (those make variants). */
static void put_side_addrs(struct ipt *o, const struct acl_side *s, bool src)
{
	if (s->nets)
		put_set(o, s->nets, false, src);
	if (s->not_nets && acl_set_has_family(s->not_nets, o->fam))
		put_set(o, s->not_nets, true, src);
	if (s->sel)
		put_set(o, s->sel, false, src);
	if (s->not_sel)
		put_set(o, s->not_sel, true, src);
	for (size_t i = 0; i < s->n_not_ports; i += PORTS_PER_MATCH)
		put_ports(o, s->not_ports + i, MIN(PORTS_PER_MATCH, s->n_not_ports - i), true, src);
	if (s->not_named_ports)
		put_set(o, s->not_named_ports, true, src);
}

/* Port alternatives of a side: numeric chunks, then the named-port set; 1 when none. */
static size_t port_variants(const struct acl_side *s)
{
	size_t n = (s->n_ports + PORTS_PER_MATCH - 1) / PORTS_PER_MATCH + (s->named_ports ? 1 : 0);

	return n ? n : 1;
}

static void put_port_variant(struct ipt *o, const struct acl_side *s, size_t v, bool src)
{
	size_t chunks = (s->n_ports + PORTS_PER_MATCH - 1) / PORTS_PER_MATCH;

	if (v < chunks)
		put_ports(o, s->ports + v * PORTS_PER_MATCH,
			  MIN(PORTS_PER_MATCH, s->n_ports - v * PORTS_PER_MATCH), false, src);
	else if (s->named_ports)
		put_set(o, s->named_ports, false, src);
}

static bool side_has_ports(const struct acl_side *s)
{
	return s->n_ports || s->named_ports || s->n_not_ports || s->not_named_ports;
}

static void put_icmp(struct ipt *o, const struct model_icmp *ic, bool neg)
{
	if (ic->type < 0)
		return;
	if (o->fam == AF_INET)
		L(o, " -m icmp %s--icmp-type %d", neg ? "! " : "", ic->type);
	else
		L(o, " -m icmp6 %s--icmpv6-type %d", neg ? "! " : "", ic->type);
	if (ic->code >= 0)
		L(o, "/%d", ic->code);
}

static void put_action(struct ipt *o, const struct acl_policy *p, enum acl_dir dir,
		       const struct acl_rule *r)
{
	switch (r->action) {
	case MODEL_ACTION_ALLOW:
	case MODEL_ACTION_PASS: {
		unsigned bit = r->action == MODEL_ACTION_ALLOW ? ACL_MARK_ACCEPT : ACL_MARK_PASS;

		L(o, " -j MARK --set-xmark 0x%x/0x%x", bit, bit);
		flush_rule(o);
		L(o, " -m mark --mark 0x%x/0x%x -j RETURN", bit, bit);
		break;
	}
	case MODEL_ACTION_DENY:
		L(o, " -j DROP");
		break;
	case MODEL_ACTION_LOG:
		/* --log-prefix holds 29 characters. */
		L(o, " -j LOG --log-prefix \"tby %.12s %c%u: \"", p->id,
		  dir == ACL_DIR_INGRESS ? 'i' : 'e', r->index);
		break;
	default:
		o->r = -EINVAL;
		return;
	}
	flush_rule(o);
}

static void emit_rule(struct ipt *o, const struct acl_policy *p, enum acl_dir dir,
		      const struct acl_rule *r)
{
	static const int16_t port_protos[] = {6, 17, 132};
	unsigned fams = acl_rule_families(r);
	int16_t protos[3];
	size_t n_protos = 0, vs = port_variants(&r->src), vd = port_variants(&r->dst);

	if (!(fams & (o->fam == AF_INET ? ACL_FAM_V4 : ACL_FAM_V6)))
		return;
	if (r->protocol >= 0 && r->not_protocol == r->protocol)
		return; /* can never match */
	if (r->protocol >= 0) {
		protos[n_protos++] = r->protocol;
	} else if (side_has_ports(&r->src) || side_has_ports(&r->dst)) {
		for (size_t i = 0; i < ELEMENTSOF(port_protos); i++)
			if (port_protos[i] != r->not_protocol)
				protos[n_protos++] = port_protos[i];
	} else if (r->icmp.set || r->not_icmp.set) {
		protos[n_protos++] = o->fam == AF_INET ? 1 : 58;
	} else {
		protos[n_protos++] = -1;
	}
	for (size_t pi = 0; pi < n_protos; pi++) {
		for (size_t a = 0; a < vs; a++) {
			for (size_t b = 0; b < vd; b++) {
				if (protos[pi] >= 0)
					L(o, " -p %d", protos[pi]);
				else if (r->not_protocol >= 0)
					L(o, " ! -p %d", r->not_protocol);
				if (r->icmp.set)
					put_icmp(o, &r->icmp, false);
				if (r->not_icmp.set)
					put_icmp(o, &r->not_icmp, true);
				put_side_addrs(o, &r->src, true);
				put_port_variant(o, &r->src, a, true);
				put_side_addrs(o, &r->dst, false);
				put_port_variant(o, &r->dst, b, false);
				put_action(o, p, dir, r);
			}
		}
	}
}

/* ---- chains the caller keeps (struct acl_ipt_keep) ---- */

static uint64_t fp_u64(uint64_t h, uint64_t v)
{
	return hash_fnv1a(h, &v, sizeof(v));
}

static uint64_t fp_str(uint64_t h, const char *s)
{
	return hash_fnv1a(h, s, strlen(s) + 1);
}

static uint64_t fp_call(uint64_t h, const struct acl_policy *p)
{
	return fp_str(fp_u64(h, (uint64_t)p->source), p->id);
}

/* Everything emit_endpoint_chain() reads for direction @d of @rs in family @fam. */
static uint64_t endpoint_fp(const struct acl_ruleset *rs, enum acl_dir d,
			    const struct acl_host_config *h, int fam)
{
	const struct acl_ep_dir *ed = &rs->dir[d];
	uint64_t x = fp_u64(HASH_FNV1A_INIT, (uint64_t)fam << 16 | (uint64_t)d << 8 | rs->host);

	x = fp_str(x, rs->ifname);
	for (size_t i = 0; i < rs->n_addrs; i++)
		if (rs->addrs[i].family == fam)
			x = hash_fnv1a(x, rs->addrs[i].bytes, sizeof(rs->addrs[i].bytes));
	if (rs->host) {
		size_t n;
		const struct model_proto_port *fs = acl_failsafe(h, d == ACL_DIR_INGRESS, &n);

		x = fp_u64(x, n);
		for (size_t i = 0; i < n; i++) {
			x = fp_u64(x, (uint64_t)fs[i].protocol.set << 48 |
					  (uint64_t)fs[i].protocol.number << 40 |
					  (uint64_t)fs[i].port << 16 |
					  (uint64_t)fs[i].net.len << 8 | fs[i].net.addr.family);
			x = hash_fnv1a(x, fs[i].net.addr.bytes, sizeof(fs[i].net.addr.bytes));
		}
	}
	x = fp_u64(x, ed->n_tiers);
	for (size_t t = 0; t < ed->n_tiers; t++) {
		const struct acl_ep_tier *et = &ed->tiers[t];

		x = fp_u64(x, (uint64_t)et->tier->default_action << 32 | et->n_policies);
		for (size_t i = 0; i < et->n_policies; i++)
			x = fp_call(x, et->policies[i]);
	}
	x = fp_u64(x, (uint64_t)ed->end << 32 | ed->n_profiles);
	for (size_t i = 0; i < ed->n_profiles; i++)
		x = fp_call(x, ed->profiles[i]);
	return x;
}

/* Asks the caller about o->chain (fingerprint @fp); when it keeps it, writes "#keep <chain>".
 * Return: true when the chain's rules are to be left out. */
static bool kept(struct ipt *o, uint64_t fp)
{
	int r;

	if (!o->keep || o->r < 0 || !o->keep->keep(o->keep->ctx, o->chain, fp))
		return false;
	r = strbuf_printf(o->sb, "#keep %s\n", o->chain);
	if (r < 0)
		o->r = r;
	return true;
}

static void emit_policy_chain(struct ipt *o, const struct acl_policy *p, enum acl_dir dir)
{
	chain_begin(o, "tby-%c%c-%s", p->source == ACL_SOURCE_PROFILE ? 'r' : 'p',
		    dir == ACL_DIR_INGRESS ? 'i' : 'e', p->id);
	/* acl_policy.hash covers everything a render of the chain reads (acl_index_new()) */
	if (kept(o, fp_u64(p->hash[dir], (uint64_t)o->fam)))
		return;
	for (size_t i = 0; i < p->n_rules[dir]; i++)
		emit_rule(o, p, dir, &p->rules[dir][i]);
}

static void put_call(struct ipt *o, const struct acl_policy *p, enum acl_dir dir, bool guard)
{
	if (guard)
		L(o, " -m mark --mark 0x0/0x%x", ACL_MARK_PASS);
	L(o, " -j tby-%c%c-%s", p->source == ACL_SOURCE_PROFILE ? 'r' : 'p',
	  dir == ACL_DIR_INGRESS ? 'i' : 'e', p->id);
	flush_rule(o);
	L(o, " -m mark --mark 0x%x/0x%x -j RETURN", ACL_MARK_ACCEPT, ACL_MARK_ACCEPT);
	flush_rule(o);
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

static size_t own_addrs(const struct acl_ruleset *rs, int fam)
{
	size_t n = 0;

	for (size_t i = 0; i < rs->n_addrs; i++)
		n += rs->addrs[i].family == fam;
	return n;
}

static void emit_endpoint_chain(struct ipt *o, const struct acl_ruleset *rs, enum acl_dir d,
				const struct acl_host_config *h)
{
	const struct acl_ep_dir *ed = &rs->dir[d];
	char buf[IP_ADDR_STRLEN];

	chain_begin(o, "tby-%s-%s", chain_kind(rs, d), ifname_id(rs));
	if (o->keep && kept(o, endpoint_fp(rs, d, h, o->fam))) {
		if (!rs->host && d == ACL_DIR_EGRESS && own_addrs(rs, o->fam) > 1 && o->r >= 0) {
			int r = strbuf_printf(o->sb, "#keep tby-as-%s\n", rs->ifname);

			if (r < 0)
				o->r = r;
		}
		return;
	}
	if (!rs->host && d == ACL_DIR_EGRESS) {
		size_t n = own_addrs(rs, o->fam);

		if (n == 0) {
			L(o, " -j DROP");
		} else if (n == 1) {
			for (size_t i = 0; i < rs->n_addrs; i++)
				if (rs->addrs[i].family == o->fam)
					L(o, " ! -s %s -j DROP",
					  ip_addr_format(&rs->addrs[i], buf));
		} else {
			L(o, " -j tby-as-%s", rs->ifname);
		}
		flush_rule(o);
	}
	if (rs->host) {
		size_t n;
		const struct model_proto_port *fs = acl_failsafe(h, d == ACL_DIR_INGRESS, &n);

		for (size_t i = 0; i < n; i++) {
			char pb[IP_PREFIX_STRLEN];
			uint8_t proto = fs[i].protocol.set ? fs[i].protocol.number : 6;

			if (fs[i].net.addr.family && fs[i].net.addr.family != o->fam)
				continue;
			if (!acl_ipset_proto(proto))
				continue;
			if (fs[i].net.addr.family)
				L(o, " %s %s", d == ACL_DIR_INGRESS ? "-s" : "-d",
				  ip_prefix_format(&fs[i].net, pb));
			L(o, " -p %s -m %s --dport %u -j ACCEPT", acl_ipset_proto(proto),
			  acl_ipset_proto(proto), fs[i].port);
			flush_rule(o);
		}
	}
	L(o, " -j MARK --set-xmark 0x0/0x%x", ACL_MARK_MASK);
	flush_rule(o);
	for (size_t t = 0; t < ed->n_tiers; t++) {
		const struct acl_ep_tier *et = &ed->tiers[t];

		for (size_t i = 0; i < et->n_policies; i++)
			put_call(o, et->policies[i], d, i > 0);
		if (et->tier->default_action == MODEL_ACTION_DENY) {
			L(o, " -m mark --mark 0x0/0x%x -j DROP", ACL_MARK_PASS);
			flush_rule(o);
		}
		L(o, " -j MARK --set-xmark 0x0/0x%x", ACL_MARK_PASS);
		flush_rule(o);
	}
	switch (ed->end) {
	case ACL_END_ALLOW:
		L(o, " -j MARK --set-xmark 0x%x/0x%x", ACL_MARK_ACCEPT, ACL_MARK_ACCEPT);
		flush_rule(o);
		L(o, " -j RETURN");
		flush_rule(o);
		break;
	case ACL_END_PROFILES:
		for (size_t i = 0; i < ed->n_profiles; i++)
			put_call(o, ed->profiles[i], d, false);
		L(o, " -j DROP");
		flush_rule(o);
		break;
	case ACL_END_DENY:
		L(o, " -j DROP");
		flush_rule(o);
		break;
	}
	if (!rs->host && d == ACL_DIR_EGRESS && own_addrs(rs, o->fam) > 1) {
		chain_begin(o, "tby-as-%s", rs->ifname);
		for (size_t i = 0; i < rs->n_addrs; i++) {
			if (rs->addrs[i].family != o->fam)
				continue;
			L(o, " -s %s -j RETURN", ip_addr_format(&rs->addrs[i], buf));
			flush_rule(o);
		}
		L(o, " -j DROP");
		flush_rule(o);
	}
}

static void emit_base(struct ipt *o, const char *name)
{
	chain_begin(o, "%s", name);
	L(o, " -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT");
	flush_rule(o);
	L(o, " -m conntrack --ctstate INVALID -j DROP");
	flush_rule(o);
	if (o->fam == AF_INET6 && strcmp(name, "tby-input") == 0) {
		/* As the nft base chains (render-nft.c, acl_icmp6_from_wl): Calico's workload list,
		 * then neighbour discovery on other interfaces. */
		for (size_t i = 0; i < ACL_ICMP6_FROM_WL_N; i++) {
			L(o, " -i %s+ -p 58 -m icmp6 --icmpv6-type %u -j ACCEPT", WL_PREFIX,
			  acl_icmp6_from_wl[i]);
			flush_rule(o);
		}
		for (size_t i = 0; i < ACL_ICMP6_ND_N; i++) {
			L(o, " ! -i %s+ -p 58 -m icmp6 --icmpv6-type %u -j ACCEPT", WL_PREFIX,
			  acl_icmp6_nd[i]);
			flush_rule(o);
		}
	} else if (o->fam == AF_INET6 && strcmp(name, "tby-output") == 0) {
		for (size_t i = 0; i < ACL_ICMP6_ND_N; i++) {
			L(o, " -p 58 -m icmp6 --icmpv6-type %u -j ACCEPT", acl_icmp6_nd[i]);
			flush_rule(o);
		}
	}
}

/* One dispatch rule per host endpoint (@host true: " <dir> <if> -j <chain><if>") or workload
 * (@host false: " <dir> <if> -g <chain><if>", a goto: see tby-from-wl) ruleset, in ruleset
 * order, except @skip (the "*" host endpoint). */
static void emit_jumps(struct ipt *o, const struct acl_used *u, bool host,
		       const struct acl_ruleset *skip, const char *dir, const char *chain)
{
	for (size_t i = 0; i < u->n_rulesets; i++) {
		const struct acl_ruleset *rs = u->rulesets[i];

		if (rs->host != host || rs == skip)
			continue;
		L(o, " %s %s -%c %s%s", dir, rs->ifname, host ? 'j' : 'g', chain, rs->ifname);
		flush_rule(o);
	}
}

/* ":tby-<a><b> - [0:0]": declaring a chain in --noflush mode flushes it. */
static void declare(struct ipt *o, const char *a, const char *b)
{
	int r;

	if (o->r < 0)
		return;
	r = strbuf_printf(o->sb, ":tby-%s%s - [0:0]\n", a, b);
	if (r < 0)
		o->r = r;
}

int acl_render_ipt(const struct acl_render_input *in, int family, unsigned flags,
		   struct strbuf *out, struct strbuf *ipset)
{
	const struct acl_host_config *h = acl_host_or_default(in->host);
	const struct acl_index *idx = in->idx;
	struct ipt o = {.sb = out, .fam = family, .keep = in->ipt_keep};
	const struct acl_ruleset *wild = NULL;
	struct acl_used u = {0};
	int r;

	if ((family != AF_INET && family != AF_INET6) || !in->members ||
	    in->members->n_sets != idx->n_sets)
		return -EINVAL;
	r = acl_used_collect(in, &u);
	if (r < 0)
		return r;

	/* ipsets first: the rules reference them. */
	r = strbuf_printf(ipset, "# tabby policy ipsets (acl_render_ipt, %s)\n",
			  family == AF_INET ? "inet" : "inet6");
	for (size_t i = 0; r >= 0 && i < idx->n_sets; i++)
		if (u.sets[i] && acl_set_has_family(idx->sets[i], family))
			r = emit_ipset(ipset, idx->sets[i], &in->members->sets[i], family);
	if (r < 0) {
		acl_used_done(&u);
		return r;
	}

	r = strbuf_printf(out,
			  "# tabby policy (acl_render_ipt, %s); load with iptables-restore "
			  "--noflush\n*filter\n",
			  family == AF_INET ? "iptables" : "ip6tables");
	if (r < 0)
		o.r = r;
	declare(&o, "forward", "");
	declare(&o, "input", "");
	declare(&o, "output", "");
	declare(&o, "from-wl", "");
	declare(&o, "to-wl", "");
	for (size_t i = 0; i < u.n_rulesets; i++) {
		const struct acl_ruleset *rs = u.rulesets[i];

		if (rs->host && strcmp(rs->ifname, "*") == 0)
			wild = rs;
		for (int d = _ACL_DIR_MAX - 1; d >= 0; d--) {
			char c[8];

			snprintf(c, sizeof(c), "%s-", chain_kind(rs, (enum acl_dir)d));
			declare(&o, c, ifname_id(rs));
		}
		if (!rs->host && own_addrs(rs, family) > 1)
			declare(&o, "as-", rs->ifname);
	}
	for (size_t i = 0; i < idx->n_seq; i++) {
		const struct acl_policy *p = u.by_seq[i];

		if (!u.policies[i])
			continue;
		for (int d = 0; d < _ACL_DIR_MAX; d++) {
			char c[32];

			if (!p->types[d])
				continue;
			snprintf(c, sizeof(c), "%c%c-%s",
				 p->source == ACL_SOURCE_PROFILE ? 'r' : 'p',
				 d == ACL_DIR_INGRESS ? 'i' : 'e', p->id);
			declare(&o, c, "");
		}
	}
	if (flags & ACL_IPT_HOOKS) {
		static const char *const hooks[][2] = {
		    {"FORWARD", "tby-forward"}, {"INPUT", "tby-input"}, {"OUTPUT", "tby-output"}};

		for (size_t i = 0; o.r >= 0 && i < ELEMENTSOF(hooks); i++)
			o.r =
			    strbuf_printf(o.sb, "-I %s 1 -m comment --comment \"tby:hook\" -j %s\n",
					  hooks[i][0], hooks[i][1]);
	}

	/* Fail closed: a "tby" interface that the dispatch chains do not name is dropped. */
	emit_base(&o, "tby-forward");
	L(&o, " -i %s+ -j tby-from-wl", WL_PREFIX);
	flush_rule(&o);
	L(&o, " -o %s+ -j tby-to-wl", WL_PREFIX);
	flush_rule(&o);

	emit_base(&o, "tby-input");
	L(&o, " -i %s+ -j tby-from-wl", WL_PREFIX);
	flush_rule(&o);
	if (h->endpoint_to_host != ACL_E2H_RETURN) {
		L(&o, " -i %s+ -j %s", WL_PREFIX,
		  h->endpoint_to_host == ACL_E2H_DROP ? "DROP" : "ACCEPT");
		flush_rule(&o);
	}
	emit_jumps(&o, &u, true, wild, "-i", "tby-hi-");
	if (wild) {
		L(&o, " ! -i lo -j tby-hi-all");
		flush_rule(&o);
	}

	emit_base(&o, "tby-output");
	L(&o, " -o %s+ -j tby-to-wl", WL_PREFIX);
	flush_rule(&o);
	emit_jumps(&o, &u, true, wild, "-o", "tby-ho-");
	if (wild) {
		/* Workload interfaces were dispatched above; their packets return here. */
		L(&o, " -o %s+ -j RETURN", WL_PREFIX);
		flush_rule(&o);
		L(&o, " ! -o lo -j tby-ho-all");
		flush_rule(&o);
	}

	/* The dispatch chains: a goto per known workload (its RETURN continues after the
	 * "-j tby-from-wl|tby-to-wl" of the caller), then DROP for any other workload
	 * interface: one it has no policy for yet (Calico's "Unknown interface" rule). */
	chain_begin(&o, "tby-from-wl");
	emit_jumps(&o, &u, false, NULL, "-i", "tby-fw-");
	L(&o, " -i %s+ -j DROP", WL_PREFIX);
	flush_rule(&o);
	chain_begin(&o, "tby-to-wl");
	emit_jumps(&o, &u, false, NULL, "-o", "tby-tw-");
	L(&o, " -o %s+ -j DROP", WL_PREFIX);
	flush_rule(&o);

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
	if (o.r >= 0)
		o.r = strbuf_puts(out, "COMMIT\n");
	strbuf_done(&o.line);
	acl_used_done(&u);
	return o.r;
}
