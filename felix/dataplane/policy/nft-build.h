/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * An nft_prog (acl/nft-prog.h) as libnftnl objects: nf_tables netlink messages for family
 * inet, table "tabby" (or the owned table named in felix_nft_build.table), appended to a libnftnl batch (struct nftnl_batch: pages of
 * mnl_nlmsg_batch, sent as one sendmsg, so one transaction of any size). The expressions are
 * the ones nft 1.0.6 generates from acl_render_nft()'s text (checked with
 * `nft --debug=netlink` and by tests/integration/test-nft-build.c, which lists both in the
 * kernel and compares), so `nft list table inet tabby` cannot tell the two paths apart.
 *
 * Usage: felix_nft_build_begin(), any emitters, felix_nft_build_end(), then
 * felix_nft_build_send() (or send nftnl_batch_iovec() yourself and read b->n_msgs acks).
 * Every message carries NLM_F_ACK. Order inside a batch is the caller's: a set or chain
 * must be created before a rule that refers to it.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "acl/nft-prog.h"
#include "lib/macro.h"

struct nftnl_batch;
struct mnl_socket;

/* One batch being built. Fill with felix_nft_build_begin(); fields are read-only after. */
struct felix_nft_build {
	struct nftnl_batch *batch; /* borrowed */
	const char *table;	   /* inet table of every message: NFT_PROG_TABLE after
				    * felix_nft_build_begin(); another owned table may be set */
	uint32_t seq;		   /* sequence number of the next message */
	uint32_t first_seq;	   /* of the first message after BATCH_BEGIN */
	uint32_t set_id;	   /* next NFTA_SET_ID for an anonymous set of this batch */
	size_t n_msgs;		   /* messages between BEGIN and END: acks expected */
	/* Tags, for a restart to adopt the table (nft-adopt.c): with @tag set, every chain and
	 * set built carries @tag_decl and every rule @tag_body (see FELIX_NFT_UDATA_TAG). The
	 * caller sets them before each felix_nft_build_chain(), _set() or _chain_rules(). */
	bool tag;
	uint64_t tag_decl; /* struct nft_delta_obj.decl of the chain or set */
	uint64_t tag_body; /* struct nft_delta_obj.body of the chain whose rules are built */
	uint32_t tag_index, tag_count; /* felix_nft_build_chain_rules(): the rule's position */
};

/*
 * The tag TLV: one more udata attribute after nft's (nft skips a type it does not know, so
 * `nft list` prints the table as before). Chains and sets: the declaration hash and a hash of
 * the attributes the kernel reports back (chain hook, priority, type and policy; set flags,
 * key and data type and length), so a chain whose policy was changed under us no longer
 * passes for ours. Rules: the chain's rules hash, the rule's position and the number of
 * rules, so a deleted, added or moved rule breaks the chain's sequence.
 */
#define FELIX_NFT_UDATA_TAG 0xf4

struct nftnl_chain;
struct nftnl_set;

/** felix_nft_tag_chain() - @ch (as the kernel lists it) carries our tag and its attributes
 * are the tagged ones: @ret_decl gets the declaration hash. Return: false otherwise. */
bool felix_nft_tag_chain(const struct nftnl_chain *ch, uint64_t *ret_decl);

/** felix_nft_tag_set() - felix_nft_tag_chain() for a set or map. */
bool felix_nft_tag_set(const struct nftnl_set *s, uint64_t *ret_decl);

/** felix_nft_tag_rule() - the tag in a rule's udata (@ud, @len bytes: NFTA_RULE_USERDATA):
 * the chain's rules hash, the rule's position (0-based) and the chain's rule count.
 * Return: false when there is none. */
bool felix_nft_tag_rule(const void *ud, size_t len, uint64_t *ret_body, uint32_t *ret_index,
			uint32_t *ret_count);

/**
 * felix_nft_build_begin() - start a transaction: NFNL_MSG_BATCH_BEGIN into @batch (empty,
 * from nftnl_batch_alloc()). @seq: first sequence number (e.g. time(NULL)).
 * Return: 0 or -ENOMEM.
 */
int felix_nft_build_begin(struct felix_nft_build *b, struct nftnl_batch *batch,
			  uint32_t seq) _warn_unused_result_;

/** felix_nft_build_end() - NFNL_MSG_BATCH_END. Return: 0 or -ENOMEM. */
int felix_nft_build_end(struct felix_nft_build *b) _warn_unused_result_;

/**
 * felix_nft_build_send() - send the batch (begin..end) on @nl (NETLINK_NETFILTER, bound) as
 * one sendmsg and read the b->n_msgs acks. The kernel applies all of it or nothing.
 * Return: 0; -errno of the socket; or the -errno of the first failing message, with @err
 * (may be NULL) naming its position ("message 12 of 40: No such file or directory").
 */
int felix_nft_build_send(struct mnl_socket *nl, const struct felix_nft_build *b, char *err,
			 size_t errlen) _warn_unused_result_;

/** felix_nft_build_table() - NEWTABLE inet @b->table (@add) or DELTABLE. Return: 0/-ENOMEM. */
int felix_nft_build_table(struct felix_nft_build *b, bool add) _warn_unused_result_;

#define FELIX_NFT_BUILD_REPLACE 0x1 /* create table, delete it, create it: as the nft script */

/**
 * felix_nft_build_prog() - the whole program in the order nft sends the text of
 * nft_prog_format(): the table (with FELIX_NFT_BUILD_REPLACE: create, delete, create, so
 * whatever was there goes in the same transaction), every chain declared, every set with its
 * elements, then every rule. Return: 0, -EINVAL/-EOPNOTSUPP (a statement nft could not
 * express either) or -ENOMEM.
 */
int felix_nft_build_prog(struct felix_nft_build *b, const struct nft_prog *p,
			 unsigned flags) _warn_unused_result_;

/**
 * felix_nft_build_chain() - NEWCHAIN for @c: name, comment (udata), and for a base chain
 * type filter, hook, priority and policy. No rules. Return: 0 or -ENOMEM.
 */
int felix_nft_build_chain(struct felix_nft_build *b,
			  const struct nft_prog_chain *c) _warn_unused_result_;

/** felix_nft_build_chain_rules() - felix_nft_build_rule() for every rule of @c, in order. */
int felix_nft_build_chain_rules(struct felix_nft_build *b,
				const struct nft_prog_chain *c) _warn_unused_result_;

/**
 * felix_nft_build_rule() - NEWRULE appending rule @r of @c to the kernel chain @c->name,
 * preceded by the anonymous sets it uses (NEWSET "__set%d" + NEWSETELEM, referred to by
 * NFTA_SET_ID). Expressions per statement type: see the table in nft-build.c.
 * Return: 0, -EINVAL (malformed statement), -EOPNOTSUPP (an address match on a /0 prefix,
 * an IPv4 icmp type set) or -ENOMEM.
 */
int felix_nft_build_rule(struct felix_nft_build *b, const struct nft_prog_chain *c,
			 const struct nft_prog_rule *r) _warn_unused_result_;

/** felix_nft_build_flush_chain() - DELRULE of every rule of chain @name. */
int felix_nft_build_flush_chain(struct felix_nft_build *b, const char *name) _warn_unused_result_;

/** felix_nft_build_del_chain() - DELCHAIN @name (must have no rules and no references). */
int felix_nft_build_del_chain(struct felix_nft_build *b, const char *name) _warn_unused_result_;

/**
 * felix_nft_build_set() - NEWSET for @s (key type, flags interval/map, udata with key byte
 * order and comment, as nft writes them), then, with @with_elems, NEWSETELEM with all its
 * elements (interval sets: as nft sends a full set, with the leading 0 end element).
 * Return: 0 or -ENOMEM.
 */
int felix_nft_build_set(struct felix_nft_build *b, const struct nft_prog_set *s,
			bool with_elems) _warn_unused_result_;

/** felix_nft_build_del_set() - DELSET @name (no rule may still refer to it). */
int felix_nft_build_del_set(struct felix_nft_build *b, const char *name) _warn_unused_result_;

/**
 * felix_nft_build_set_members() - NEWSETELEM (@add) or DELSETELEM of the address members
 * @m[0..@n) of set @s (T_IPV4/T_IPV6: a start element and an interval end element, the
 * first address after the prefix, none when the prefix reaches the top of the space;
 * *_PROTO_PORT: one concatenated key, fields padded to 32 bits, port in network order).
 * Additions use NLM_F_CREATE without NLM_F_EXCL, so an element that exists is no error.
 * Return: 0, -EINVAL (a member of another family or of a kind @s cannot hold) or -ENOMEM.
 */
int felix_nft_build_set_members(struct felix_nft_build *b, const struct nft_prog_set *s,
				const struct acl_member *m, size_t n,
				bool add) _warn_unused_result_;

/**
 * felix_nft_build_set_ifelems() - NEWSETELEM (@add) or DELSETELEM of @e[0..@n) in the
 * ifname set or dispatch map @s ("ifname" : jump chain | accept | drop).
 * Return: 0, -EINVAL (@s is not an ifname set, or a verdict that does not fit it) or -ENOMEM.
 */
int felix_nft_build_set_ifelems(struct felix_nft_build *b, const struct nft_prog_set *s,
				const struct nft_prog_ifelem *e, size_t n,
				bool add) _warn_unused_result_;
