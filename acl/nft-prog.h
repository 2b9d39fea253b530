/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * The nftables program of `table inet tabby` as data: sets, maps and chains, each chain an
 * ordered list of rules, each rule an ordered array of typed statements. Pure: no I/O.
 *
 * One program, two consumers:
 *   nft_prog_format()              the `nft -f` text (golden tests, debug dump, tabbyctl);
 *   felix/dataplane/policy/nft-build.h  libnftnl objects in a netlink batch (the kernel).
 * The kernel path never renders or parses text. acl_render_nft() is nft_prog_build() +
 * nft_prog_format().
 *
 * Shapes (see the DOC of acl/render-nft.c for what the chains do):
 *   sets    wl-ifaces (ifname), fw-/tw-/hi-/ho-dispatch (map ifname : verdict),
 *           {s,n,p}{4,6}-<id> (ipv4_addr/ipv6_addr, flags interval; or ADDR . inet_proto .
 *           inet_service). Created in program order.
 *   chains  forward, input, output (base chains: hook, priority 0 = filter, policy accept),
 *           tby-{fw,tw,hi,ho}-<if>, tby-p{i,e}-<id>, tby-r{i,e}-<id>. Declared in program
 *           order; a chain's rules may jump to any chain of the program.
 *
 * Memory: one chain is four allocations whatever its size (the struct, its rules[], its
 * stmts[] and its data[] blob, which holds every string, address list, port range list and
 * value list the statements refer to, 4-byte aligned). A statement is 12 bytes, a rule 12
 * bytes. Chains and sets are separately allocated so that a delta engine can build, compare,
 * take and replace them one at a time (nft_prog_endpoint_chain(), nft_prog_policy_chain(),
 * nft_prog_selector_set(), nft_prog_build_base()).
 *
 * Ownership: a program owns its sets and chains; a chain owns its arrays; a set owns its
 * elements. Every struct here is read-only to users: build it with the functions below.
 * Nothing borrows from the acl IR once built.
 *
 * The module prefix is nft_prog_ (the brief named nft_prog_free; the other names follow it,
 * so nft_chain_equal is nft_prog_chain_equal).
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "acl/acl.h"
#include "lib/macro.h"
#include "lib/strbuf.h"

#define NFT_PROG_TABLE "tabby" /* family inet */
#define NFT_PROG_NAME_MAX 32   /* chain and set names incl. NUL ("tby-pi-<16 hex>" is 23) */
#define NFT_PROG_IFNAME_MAX 16 /* IFNAMSIZ: ifname keys are 16 bytes, zero padded */
#define NFT_PROG_COMMENT_MAX \
	127 /* bytes kept of a comment (the kernel/nft limit is 128 with NUL) */
#define NFT_PROG_NO_COMMENT UINT32_MAX

enum nft_prog_op {
	NFT_PROG_EQ,  /* ==, "in set", "in { }" */
	NFT_PROG_NEQ, /* !=, "not in set"; printed "!= " */
	_NFT_PROG_OP_MAX,
};

enum nft_prog_fam {
	NFT_PROG_FAM_NONE,
	NFT_PROG_FAM_IPV4, /* ip, icmp, ipv4_addr; meta nfproto ipv4 */
	NFT_PROG_FAM_IPV6, /* ip6, icmpv6, ipv6_addr; meta nfproto ipv6 */
	_NFT_PROG_FAM_MAX,
};

/* Which end of the packet: iifname/saddr/sport or oifname/daddr/dport. */
enum nft_prog_side {
	NFT_PROG_SRC,
	NFT_PROG_DST,
	_NFT_PROG_SIDE_MAX,
};

enum nft_prog_verdict {
	NFT_PROG_V_NONE, /* a plain ifname set element; never in a rule */
	NFT_PROG_V_ACCEPT,
	NFT_PROG_V_DROP,
	NFT_PROG_V_RETURN,
	NFT_PROG_V_JUMP, /* + a chain name */
	_NFT_PROG_V_MAX,
};

/* ct state bits, as the kernel's NF_CT_STATE_* bits (NFT_CT_STATE). */
#define NFT_PROG_CT_INVALID 0x01u
#define NFT_PROG_CT_ESTABLISHED 0x02u
#define NFT_PROG_CT_RELATED 0x04u
#define NFT_PROG_CT_NEW 0x08u

/* meta l4proto printing (NFT_PROG_S_L4PROTO's key): same kernel bytes, different text. */
#define NFT_PROG_L4_NUMBER 0 /* "meta l4proto 58" */
#define NFT_PROG_L4_NAME 1   /* "meta l4proto ipv6-icmp", "meta l4proto icmp" */

/*
 * Statement types: exactly what the renderer emits. "ref" = u.ref, bytes in chain->data (see
 * nft_prog_stmt_data()); "op" = EQ or NEQ unless stated; "fam" = IPV4/IPV6 where stated,
 * NONE otherwise; "side" = key as enum nft_prog_side.
 */
enum nft_prog_stmt_type {
	/* --- matches --- */
	NFT_PROG_S_IFNAME,	   /* iifname|oifname [!=] "NAME"; side; ref: NUL-terminated name,
				   * a trailing '*' is a prefix match ("tby*") */
	NFT_PROG_S_IFNAME_SET,	   /* iifname|oifname [!=] @SET; side; ref: set name */
	NFT_PROG_S_NFPROTO,	   /* meta nfproto ipv4|ipv6; fam; op EQ */
	NFT_PROG_S_L4PROTO,	   /* meta l4proto [!=] N; u.value = N; key = NFT_PROG_L4_* */
	NFT_PROG_S_L4PROTO_IN,	   /* meta l4proto { A, B, .. }; op EQ; ref: uint8_t[n] */
	NFT_PROG_S_ADDR,	   /* ip|ip6 saddr|daddr PREFIX; fam, side, op EQ;
				   * ref: one struct ip_prefix (printed ADDR/LEN) */
	NFT_PROG_S_ADDR_IN,	   /* ip|ip6 saddr|daddr [!=] { A, B }; fam, side;
				   * ref: struct ip_addr[n] (host addresses) */
	NFT_PROG_S_ADDR_SET,	   /* ip|ip6 saddr|daddr [!=] @SET; fam, side; ref: set name */
	NFT_PROG_S_ADDR_PORT_SET,  /* ip daddr . meta l4proto . th dport [!=] @SET (named ports);
				   * fam, side (both address and port); ref: set name */
	NFT_PROG_S_PORT,	   /* th sport|dport [!=] N | N-M | { R, R }; side;
				   * ref: struct acl_port_range[n], n >= 1, in the given order */
	NFT_PROG_S_ICMP_TYPE,	   /* icmp|icmpv6 type [!=] N; fam; u.icmp.type */
	NFT_PROG_S_ICMP_TYPE_IN,   /* icmpv6 type { nd-router-solicit, .. }; fam; op EQ;
				   * ref: uint8_t[n] types (133..136 print by name) */
	NFT_PROG_S_ICMP_CODE,	   /* icmp|icmpv6 code N; fam; op EQ; u.icmp.code */
	NFT_PROG_S_ICMP_TYPE_CODE, /* icmp|icmpv6 type . code != { T . C }; fam; op NEQ;
				    * u.icmp.type, u.icmp.code */
	NFT_PROG_S_CT_STATE,	   /* ct state A,B (any of the bits); op EQ;
				   * u.value = NFT_PROG_CT_* bits */
	NFT_PROG_S_MARK_TEST,	   /* meta mark & MASK == VALUE; op EQ; u.mark */
	/* --- actions (not terminal) --- */
	NFT_PROG_S_MARK_AND, /* meta mark set meta mark & VALUE; u.value */
	NFT_PROG_S_MARK_OR,  /* meta mark set meta mark | VALUE; u.value */
	NFT_PROG_S_LOG,	     /* log prefix "TEXT"; ref: NUL-terminated prefix */
	NFT_PROG_S_MASQ,     /* masquerade (base chains of hook POSTROUTING only) */
	/* --- verdicts: the last statement of a rule when present --- */
	NFT_PROG_S_VMAP,    /* iifname|oifname vmap @MAP; side; ref: map name */
	NFT_PROG_S_VERDICT, /* accept|drop|return|jump CHAIN; key = enum nft_prog_verdict;
			     * ref: chain name (JUMP only) */
	_NFT_PROG_S_MAX,
};

/* One statement, 12 bytes. Fields a type does not use are zero (equality is bytewise on the
 * header and on the referenced bytes, never on offsets). */
struct nft_prog_stmt {
	uint8_t type; /* enum nft_prog_stmt_type */
	uint8_t op;   /* enum nft_prog_op */
	uint8_t fam;  /* enum nft_prog_fam */
	uint8_t key;  /* enum nft_prog_side, enum nft_prog_verdict or NFT_PROG_L4_*, per type */
	union {
		uint32_t value;
		struct {
			uint32_t mask, value;
		} mark;
		struct {
			uint8_t type, code;
		} icmp;
		struct {
			uint32_t off, len; /* bytes of chain->data */
		} ref;
	} u;
};

/* One rule: stmts[stmt .. stmt + n_stmts) of its chain, and an optional comment. */
struct nft_prog_rule {
	uint32_t stmt;
	uint32_t n_stmts;
	uint32_t comment; /* offset of a NUL-terminated string in data, or NFT_PROG_NO_COMMENT */
};

enum nft_prog_hook {
	NFT_PROG_HOOK_NONE, /* a regular chain */
	NFT_PROG_HOOK_INPUT,
	NFT_PROG_HOOK_FORWARD,
	NFT_PROG_HOOK_OUTPUT,
	NFT_PROG_HOOK_POSTROUTING, /* type nat hook postrouting; priority 100 prints "srcnat" */
	_NFT_PROG_HOOK_MAX,
};

struct nft_prog_chain {
	char name[NFT_PROG_NAME_MAX];
	char *comment;		      /* owned, NULL for none */
	enum nft_prog_hook hook;      /* base chains: type filter hook HOOK (POSTROUTING: nat) */
	int32_t priority;	      /* base chains: 0 = "filter" */
	enum nft_prog_verdict policy; /* base chains: ACCEPT or DROP */
	struct nft_prog_rule *rules;
	size_t n_rules, cap_rules;
	struct nft_prog_stmt *stmts;
	size_t n_stmts, cap_stmts;
	uint8_t *data;
	size_t n_data, cap_data;
	uint32_t open; /* first statement of the rule being built (nft_prog_chain_add_stmt) */
};

enum nft_prog_key_type {
	NFT_PROG_T_IFNAME,	    /* ifname (16 bytes) */
	NFT_PROG_T_IPV4,	    /* ipv4_addr */
	NFT_PROG_T_IPV6,	    /* ipv6_addr */
	NFT_PROG_T_IPV4_PROTO_PORT, /* ipv4_addr . inet_proto . inet_service */
	NFT_PROG_T_IPV6_PROTO_PORT, /* ipv6_addr . inet_proto . inet_service */
	_NFT_PROG_T_MAX,
};

/* An element of an ifname set (verdict NONE) or of a dispatch map (ACCEPT, DROP or JUMP). */
struct nft_prog_ifelem {
	char ifname[NFT_PROG_IFNAME_MAX];
	uint8_t verdict;	       /* enum nft_prog_verdict */
	char chain[NFT_PROG_NAME_MAX]; /* JUMP */
};

/*
 * A named set or map. Address sets hold @members (T_IPV4/T_IPV6: prefixes, with @interval;
 * *_PROTO_PORT: host prefix + proto + port), sorted by acl_member_cmp(), unique. Ifname sets
 * and maps hold @ifelems, sorted by ifname, unique.
 */
struct nft_prog_set {
	char name[NFT_PROG_NAME_MAX];
	char *comment; /* owned, NULL for none */
	enum nft_prog_key_type type;
	bool interval; /* flags interval */
	bool map;      /* type ifname : verdict */
	struct acl_member *members;
	size_t n_members;
	struct nft_prog_ifelem *ifelems;
	size_t n_ifelems;
};

struct nft_prog {
	const char *table; /* static string: the inet table's name; NULL = NFT_PROG_TABLE */
	const char *title; /* static string: the script's comment line; NULL = the policy's */
	struct nft_prog_set **sets; /* creation (and print) order */
	size_t n_sets, cap_sets;
	struct nft_prog_chain **chains; /* declaration (and print) order */
	size_t n_chains, cap_chains;
};

/* ---- whole program ---- */

/** nft_prog_new() - an empty program. Return: 0 or -ENOMEM. */
int nft_prog_new(struct nft_prog **ret) _warn_unused_result_;

/** nft_prog_free() - free the program, its sets and chains. NULL-safe. Return: NULL. */
struct nft_prog *nft_prog_free(struct nft_prog *p);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct nft_prog *, nft_prog_free);

/**
 * nft_prog_build() - the whole program for @in, in the order acl_render_nft() prints it:
 * nft_prog_build_base() (wl-ifaces, the four dispatch maps, forward/input/output), then every
 * used selector/nets/named-port set (index order, v4 before v6), then per local endpoint
 * (sorted by ifname) its egress and ingress chain, then every used policy/profile chain
 * (index order, ingress before egress). Deterministic.
 * @in: borrowed; nothing of it is kept.
 * @ret: the program (nft_prog_free()); untouched on failure.
 * Return: 0, -EINVAL (members not of @in->idx, a bad or duplicate ifname) or -ENOMEM.
 */
int nft_prog_build(const struct acl_render_input *in, struct nft_prog **ret) _warn_unused_result_;

/**
 * nft_prog_build_base() - append the endpoint-independent skeleton to @p: set wl-ifaces,
 * maps fw-dispatch, tw-dispatch, hi-dispatch, ho-dispatch (with one element per ruleset of
 * @rulesets[0..@n): nft_prog_dispatch_elem()), then base chains forward, input, output. The
 * base chains fail closed: after the dispatch lookups, a packet from or to a "tby*"
 * interface that is not in wl-ifaces is dropped (a workload whose chains are not programmed
 * yet). The delta engine adds a workload's wl-ifaces element and its two map elements in the
 * same batch as its chains. @h: NULL = defaults. A wildcard host endpoint (ifname "*") among
 * @rulesets adds the tby-hi-all / tby-ho-all jumps.
 * Return: 0, -EINVAL (bad or duplicate ifname) or -ENOMEM (@p then holds what was added).
 */
int nft_prog_build_base(struct nft_prog *p, struct acl_ruleset *const *rulesets, size_t n,
			const struct acl_host_config *h) _warn_unused_result_;

/**
 * nft_prog_endpoint_chain() - the chain tby-{fw,tw,hi,ho}-<if> of one local endpoint and
 * direction (anti-spoofing, failsafe ports, the tiers' policy calls, profiles, end action).
 * @h: NULL = defaults (failsafe ports of host endpoints).
 * @ret: a new chain (nft_prog_chain_free()), untouched on failure.
 * Return: 0, -EINVAL (bad ifname) or -ENOMEM.
 */
int nft_prog_endpoint_chain(const struct acl_ruleset *rs, enum acl_dir d,
			    const struct acl_host_config *h,
			    struct nft_prog_chain **ret) _warn_unused_result_;

/**
 * nft_prog_policy_chain() - the chain tby-p{i,e}-<id> (policy) or tby-r{i,e}-<id> (profile)
 * of one policy and direction: its rules in order, each printed once per family it can match
 * and twice when a side has numeric and named ports (Calico ORs them).
 * Return: 0, -EINVAL (a rule action other than Allow/Deny/Log/Pass) or -ENOMEM.
 */
int nft_prog_policy_chain(const struct acl_policy *p, enum acl_dir d,
			  struct nft_prog_chain **ret) _warn_unused_result_;

/**
 * nft_prog_selector_set() - the set {s,n,p}{4,6}-<id> of @s for @family (AF_INET/AF_INET6)
 * with @m's members of that family (NULL = no elements).
 * Return: 0, -EINVAL (bad family) or -ENOMEM.
 */
int nft_prog_selector_set(const struct acl_set *s, const struct acl_set_members *m, int family,
			  struct nft_prog_set **ret) _warn_unused_result_;

/**
 * nft_prog_dispatch_elem() - the element of map {fw,tw,hi,ho}-dispatch for @rs in direction
 * @d: "<ifname>" : jump tby-<kind>-<ifname>. A wildcard host endpoint has none (-ENOENT).
 * Return: 0, -ENOENT or -EINVAL (bad ifname).
 */
int nft_prog_dispatch_elem(const struct acl_ruleset *rs, enum acl_dir d,
			   struct nft_prog_ifelem *ret) _warn_unused_result_;

/** nft_prog_dispatch_map() - "fw-dispatch", "tw-dispatch", "hi-dispatch" or "ho-dispatch". */
const char *nft_prog_dispatch_map(const struct acl_ruleset *rs, enum acl_dir d);

/**
 * nft_prog_endpoint_chain_name() - "tby-<kind>-<ifname>" ("tby-hi-all" for the wildcard
 * host endpoint) into @buf. Return: 0 or -EINVAL (bad ifname).
 */
int nft_prog_endpoint_chain_name(const struct acl_ruleset *rs, enum acl_dir d,
				 char buf[static NFT_PROG_NAME_MAX]);

/** nft_prog_policy_chain_name() - "tby-p{i,e}-<id>" or "tby-r{i,e}-<id>" into @buf. */
void nft_prog_policy_chain_name(const struct acl_policy *p, enum acl_dir d,
				char buf[static NFT_PROG_NAME_MAX]);

/** nft_prog_set_name() - "{s,n,p}{4,6}-<id>" into @buf (@family AF_INET or AF_INET6). */
void nft_prog_set_name(const struct acl_set *s, int family, char buf[static NFT_PROG_NAME_MAX]);

/** nft_prog_add_chain() - append @c to @p; consumes @c, also on failure. Return: 0/-ENOMEM. */
int nft_prog_add_chain(struct nft_prog *p, struct nft_prog_chain *c) _warn_unused_result_;

/** nft_prog_add_set() - append @s to @p; consumes @s, also on failure. Return: 0/-ENOMEM. */
int nft_prog_add_set(struct nft_prog *p, struct nft_prog_set *s) _warn_unused_result_;

/** nft_prog_find_chain() - the chain called @name, or NULL. O(chains). */
const struct nft_prog_chain *nft_prog_find_chain(const struct nft_prog *p, const char *name);

/** nft_prog_find_set() - the set or map called @name, or NULL. O(sets). */
const struct nft_prog_set *nft_prog_find_set(const struct nft_prog *p, const char *name);

/* ---- chains, rules, statements ---- */

/**
 * nft_prog_chain_new() - an empty regular chain.
 * @name: 1..NFT_PROG_NAME_MAX-1 bytes. @comment: NULL or text, cut to NFT_PROG_COMMENT_MAX.
 * Return: 0, -EINVAL (name) or -ENOMEM.
 */
int nft_prog_chain_new(const char *name, const char *comment,
		       struct nft_prog_chain **ret) _warn_unused_result_;

/** nft_prog_chain_free() - NULL-safe. Return: NULL. */
struct nft_prog_chain *nft_prog_chain_free(struct nft_prog_chain *c);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct nft_prog_chain *, nft_prog_chain_free);

/**
 * nft_prog_chain_add_stmt() - append @s to the rule being built in @c. When @data is not
 * NULL, @len bytes are copied into @c's data and s.u.ref is set to them (strings: include
 * the NUL in @len).
 * Return: 0, -E2BIG (the chain's data would pass 4 GiB) or -ENOMEM.
 */
int nft_prog_chain_add_stmt(struct nft_prog_chain *c, struct nft_prog_stmt s, const void *data,
			    size_t len) _warn_unused_result_;

/**
 * nft_prog_chain_end_rule() - close the rule being built (the statements added since the
 * last call) with @comment (NULL for none; cut to NFT_PROG_COMMENT_MAX bytes).
 * Return: 0, -EINVAL (no statement) or -ENOMEM.
 */
int nft_prog_chain_end_rule(struct nft_prog_chain *c, const char *comment) _warn_unused_result_;

/** nft_prog_stmt_data() - the bytes @s refers to in @c (NULL when it refers to none). */
const void *nft_prog_stmt_data(const struct nft_prog_chain *c, const struct nft_prog_stmt *s);

/** nft_prog_rule_comment() - the comment of @r in @c, or NULL. */
const char *nft_prog_rule_comment(const struct nft_prog_chain *c, const struct nft_prog_rule *r);

/**
 * nft_prog_rule_equal() - same statements (types, operands, referenced bytes) and comment,
 * in the same order. Offsets into the chains' data do not matter.
 */
bool nft_prog_rule_equal(const struct nft_prog_chain *ca, const struct nft_prog_rule *a,
			 const struct nft_prog_chain *cb, const struct nft_prog_rule *b);

/** nft_prog_chain_equal() - same name, comment, base hook/priority/policy and equal rules. */
bool nft_prog_chain_equal(const struct nft_prog_chain *a, const struct nft_prog_chain *b);

/**
 * nft_prog_rule_hash() / nft_prog_chain_hash() - FNV-1a 64 over what the _equal() functions
 * compare (the chain hash: comment, base attributes and every rule; not the name). Stable
 * across runs and builds of the same program; equal chains hash equal.
 */
uint64_t nft_prog_rule_hash(const struct nft_prog_chain *c, const struct nft_prog_rule *r);
uint64_t nft_prog_chain_hash(const struct nft_prog_chain *c);

/* ---- sets ---- */

/** nft_prog_set_free() - NULL-safe. Return: NULL. */
struct nft_prog_set *nft_prog_set_free(struct nft_prog_set *s);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct nft_prog_set *, nft_prog_set_free);

/**
 * nft_prog_set_decl_equal() - same name, comment, key type, interval and map flags: when
 * false the kernel set must be recreated; when true only elements may differ.
 */
bool nft_prog_set_decl_equal(const struct nft_prog_set *a, const struct nft_prog_set *b);

/** nft_prog_set_equal() - nft_prog_set_decl_equal() and the same elements. */
bool nft_prog_set_equal(const struct nft_prog_set *a, const struct nft_prog_set *b);

/** nft_prog_ifelem_cmp() - the order of nft_prog_set.ifelems: by ifname (strcmp). */
int nft_prog_ifelem_cmp(const struct nft_prog_ifelem *a, const struct nft_prog_ifelem *b);

/* ---- text ---- */

/**
 * nft_prog_format() - the `nft -f` script of @p, as acl_render_nft() documents it: the
 * create/delete/define transaction of table inet @p->table (tabby unless set) with every set,
 * then every chain.
 * Appends to @out. Return: 0, -EINVAL (a malformed statement) or -ENOMEM.
 */
int nft_prog_format(const struct nft_prog *p, struct strbuf *out) _warn_unused_result_;

/** nft_prog_format_chain() - "\tchain NAME {\n" .. "\t}\n" of one chain. Appends. */
int nft_prog_format_chain(const struct nft_prog_chain *c, struct strbuf *out) _warn_unused_result_;

/** nft_prog_format_set() - "\tset NAME {\n" .. "\t}\n" (or map) of one set. Appends. */
int nft_prog_format_set(const struct nft_prog_set *s, struct strbuf *out) _warn_unused_result_;

/** nft_prog_format_rule() - one rule's text, without indent or newline. Appends. */
int nft_prog_format_rule(const struct nft_prog_chain *c, const struct nft_prog_rule *r,
			 struct strbuf *out) _warn_unused_result_;
