/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * The nftables delta engine (felix/dataplane/policy/nft-delta.c): pure, no I/O. It remembers
 * what it has programmed into `table inet tabby` (every set and map with its elements, every
 * chain with a hash of its declaration and one of its rules) and turns a desired change into
 * ONE ordered list of nf_tables operations, which a sink (struct nft_delta_sink: the libnftnl
 * batch of nft-sink.c, or a test's recorder) sends as one transaction. Only when the sink
 * says the transaction went through does the engine fold it into its memory; a failed batch
 * makes it forget everything, so the next commit is a full replace.
 *
 * One transaction:
 *   begin(d, flags)       NFT_DELTA_COMPLETE: what is staged is the whole desired table
 *                         (anything programmed and not staged is deleted: mark and sweep);
 *                         else only the staged objects and elements change.
 *   put(d, obj)           a desired set, map or chain (declaration + rules hash);
 *   elem(d, set, e, add)  a desired element (add) or one to remove (incremental only);
 *   del(d, kind, name)    incremental only: delete a chain, set or map;
 *   commit(d, ...)        diff against memory, order, send, fold.
 *
 * Order of the operations in a batch (what nf_tables needs to accept it in one piece): table
 * (replace: create, delete, create), new sets and maps, new chains (declared before any rule
 * jumps to them), flush of changed and removed chains, rules of new and changed chains,
 * element deletions, element additions (map elements jump to chains that now exist), removed
 * chains, removed sets (no rule refers to them any more). A change of a declaration (set
 * type or flags, chain hook) cannot be made in place: commit() returns -EAGAIN and the caller
 * commits the whole table again (NFT_DELTA_COMPLETE), which the engine then sends as a full
 * replace.
 *
 * Cost: a commit is O(staged objects + staged elements) when incremental; a complete commit
 * is O(everything programmed) (the sweep) but still sends only the difference, unless the
 * engine has no memory (first commit, after a failure or forget()): then it sends everything.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/macro.h"

#define NFT_DELTA_KEY_MAX 24 /* ipv6_addr . inet_proto . inet_service (16 + 4 + 4) */
#define NFT_DELTA_NAME_MAX 64

enum nft_delta_kind {
	NFT_DELTA_SET,	 /* a named set */
	NFT_DELTA_MAP,	 /* a named map (our dispatch maps: ifname -> verdict) */
	NFT_DELTA_CHAIN, /* a chain with its rules */
};

/* Verdict data of a map element (nf_tables NFT_JUMP / NF_DROP / NF_ACCEPT). */
enum nft_delta_verdict {
	NFT_DELTA_V_NONE, /* set element: no data */
	NFT_DELTA_V_DROP,
	NFT_DELTA_V_ACCEPT,
	NFT_DELTA_V_JUMP, /* to @chain */
};

/* One element as the kernel keys it. Identity is (key, len, plen); the verdict is its data. */
struct nft_delta_elem {
	uint8_t key[NFT_DELTA_KEY_MAX]; /* network byte order, concatenation fields padded to 4 */
	uint8_t len;			/* bytes of @key used */
	uint8_t plen;			/* interval sets: prefix length in bits (the sink sends the
					 * start and the end element); NFT_DELTA_NO_PREFIX otherwise */
	uint8_t verdict;		/* enum nft_delta_verdict */
	const char *chain;		/* NFT_DELTA_V_JUMP target (copied by nft_delta_elem()) */
};
#define NFT_DELTA_NO_PREFIX 0xff

/* A desired set, map or chain. @name and @piece are borrowed until commit() returns. */
struct nft_delta_obj {
	enum nft_delta_kind kind;
	const char *name; /* < NFT_DELTA_NAME_MAX bytes */
	uint64_t decl;	  /* hash of the declaration (set type/flags/comment, chain hook/comment) */
	uint64_t body;	  /* chains: hash of the rules in order; sets and maps: 0 */
	unsigned n_rules; /* chains: rules the sink will send (statistics) */
	const void *piece; /* what the sink encodes (opaque to the engine) */
};

enum nft_delta_op_type {
	NFT_DELTA_OP_TABLE_ADD,	  /* NEWTABLE without NLM_F_EXCL (existing is no error) */
	NFT_DELTA_OP_TABLE_DEL,	  /* DELTABLE */
	NFT_DELTA_OP_SET_ADD,	  /* NEWSET from @piece (set or map declaration) */
	NFT_DELTA_OP_CHAIN_ADD,	  /* NEWCHAIN from @piece (declaration only) */
	NFT_DELTA_OP_CHAIN_FLUSH, /* DELRULE of every rule of chain @name */
	NFT_DELTA_OP_RULES_ADD,	  /* NEWRULE for each rule of @piece, in order */
	NFT_DELTA_OP_ELEM_DEL,	  /* DELSETELEM @elem from set/map @name */
	NFT_DELTA_OP_ELEM_ADD,	  /* NEWSETELEM @elem into set/map @name */
	NFT_DELTA_OP_CHAIN_DEL,	  /* DELCHAIN @name */
	NFT_DELTA_OP_SET_DEL,	  /* DELSET @name (set or map) */
	_NFT_DELTA_OP_MAX,
};

struct nft_delta_op {
	enum nft_delta_op_type type;
	enum nft_delta_kind kind;
	const char *name;  /* the object's name */
	const void *piece; /* SET_ADD, CHAIN_ADD, RULES_ADD: the staged object's piece */
	const struct nft_delta_elem *elem; /* ELEM_ADD, ELEM_DEL */
	uint64_t decl; /* SET_ADD, CHAIN_ADD: the object's declaration hash (the sink tags it) */
	uint64_t body; /* RULES_ADD: the chain's new rules hash (the sink tags each rule) */
};

/* Where a batch goes: the kernel (nft-sink.c) or a test's recorder. */
struct nft_delta_sink {
	/*
	 * send() - put @ops[0..@n) into the kernel as ONE transaction, in this order.
	 * Return: bytes sent (>= 0), or a negative errno when the transaction was refused (then
	 * it changed nothing) or its outcome is unknown; @err gets a one-line reason.
	 */
	int (*send)(void *ctx, const struct nft_delta_op *ops, size_t n, char *err, size_t errlen);
	void *ctx;
};

/* What one commit sent. */
struct nft_delta_result {
	bool replace; /* a full replace of our table */
	bool noop;    /* nothing to send */
	size_t elems_added, elems_removed;
	size_t chains_written; /* created or rewritten */
	size_t chains_removed;
	size_t sets_added, sets_removed;
	size_t rules; /* rules sent */
	size_t ops;   /* operations in the batch */
	size_t bytes; /* what the sink reported */
};

struct nft_delta;

/** nft_delta_new() - an engine with no memory (the first commit replaces the table). @sink is
 * copied. Return: 0 or -ENOMEM. */
int nft_delta_new(const struct nft_delta_sink *sink, struct nft_delta **ret) _warn_unused_result_;

/** nft_delta_free() - NULL-safe; sends nothing. Return: NULL. */
struct nft_delta *nft_delta_free(struct nft_delta *d);

/** nft_delta_forget() - drop the memory: the next commit must be NFT_DELTA_COMPLETE and is a
 * full replace (resync, or the kernel changed under us). */
void nft_delta_forget(struct nft_delta *d);

/** nft_delta_ready() - the engine knows what the table holds (an incremental commit is
 * possible). */
bool nft_delta_ready(const struct nft_delta *d);

#define NFT_DELTA_COMPLETE 0x1 /* the staged objects and elements are the whole table */
#define NFT_DELTA_REPLACE 0x2  /* send a full replace even when the engine has memory */

/** nft_delta_begin() - start staging; drops anything staged and not committed. @flags:
 * NFT_DELTA_COMPLETE, NFT_DELTA_REPLACE (implies COMPLETE). */
void nft_delta_begin(struct nft_delta *d, unsigned flags);

/**
 * nft_delta_put() - stage a desired set, map or chain. Staging one name twice keeps the last.
 * Return: 0, -EINVAL (empty or too long name), -ENOMEM.
 */
int nft_delta_put(struct nft_delta *d, const struct nft_delta_obj *o) _warn_unused_result_;

/**
 * nft_delta_elem() - stage an element of the set or map @set (staged with put() in this
 * transaction, or programmed). @add false: remove it (incremental only; a removal of what is
 * not programmed is skipped). An addition of an element that is programmed with the same data
 * is skipped; with other data (a map element that now jumps elsewhere) it is deleted and
 * added again in the same batch.
 * Return: 0, -ENOENT (no such set), -EINVAL (@e->len 0 or too long), -ENOMEM.
 */
int nft_delta_elem(struct nft_delta *d, const char *set, const struct nft_delta_elem *e,
		   bool add) _warn_unused_result_;

/** nft_delta_del() - stage the deletion of a programmed chain, set or map (incremental; the
 * caller deletes the map elements that jump to a chain it deletes). Unknown names are
 * skipped. Return: 0 or -ENOMEM. */
int nft_delta_del(struct nft_delta *d, enum nft_delta_kind kind,
		  const char *name) _warn_unused_result_;

/**
 * nft_delta_commit() - diff what was staged against memory, order the operations and send
 * them as one batch. Nothing to send: no call to the sink (@res->noop).
 * @res: may be NULL.
 * Return: 0; -EAGAIN when an incremental commit cannot be made (no memory, or a declaration
 * changed): nothing was sent, stage the whole table with NFT_DELTA_COMPLETE; the sink's
 * negative errno (the engine then forgets its memory: the next commit is a full replace);
 * -ENOMEM. @err gets a one-line reason.
 */
int nft_delta_commit(struct nft_delta *d, struct nft_delta_result *res, char *err,
		     size_t errlen) _warn_unused_result_;

/** nft_delta_has() - the engine has programmed the object @name of @kind. */
bool nft_delta_has(const struct nft_delta *d, enum nft_delta_kind kind, const char *name);

/** nft_delta_has_elem() - the programmed set or map @set holds an element with @e's key;
 * @ret (may be NULL) gets it (its chain borrowed from the engine until the next commit). */
bool nft_delta_has_elem(const struct nft_delta *d, const char *set, const struct nft_delta_elem *e,
			struct nft_delta_elem *ret);

/** nft_delta_count() - objects of @kind programmed. */
size_t nft_delta_count(const struct nft_delta *d, enum nft_delta_kind kind);

/*
 * Adoption: instead of replacing the table it finds at start, felix fills an engine with no
 * memory from what the kernel lists (felix/dataplane/policy/nft-adopt.c reads the tags the
 * sink wrote), and the first complete transaction then sends only what differs. Whatever the
 * listing cannot vouch for is adopted so that the diff rewrites it: a chain whose rules are
 * not exactly ours gets @body 0 (flushed and refilled), an object whose declaration is not
 * ours gets @decl 0 (the commit asks for a full replace).
 */

/** nft_delta_adopt() - remember @o (its kind, name, decl, body, n_rules; @piece unused) as
 * programmed. Only between nft_delta_forget() (or new()) and nft_delta_adopt_done().
 * Return: 0, -EINVAL (bad name, or the engine has memory), -EEXIST (named twice), -ENOMEM. */
int nft_delta_adopt(struct nft_delta *d, const struct nft_delta_obj *o) _warn_unused_result_;

/** nft_delta_adopt_elem() - remember @e as an element of the adopted set or map @set.
 * Return: 0, -ENOENT (no such set adopted), -EINVAL (@e->len), -ENOMEM. */
int nft_delta_adopt_elem(struct nft_delta *d, const char *set,
			 const struct nft_delta_elem *e) _warn_unused_result_;

/** nft_delta_adopt_done() - the adopted objects are the table: the engine is ready (the next
 * commit may be incremental, though a complete one is what the caller should send). */
void nft_delta_adopt_done(struct nft_delta *d);

/* One element of an interval set as the kernel lists it: a start, or an end (the first key
 * after the interval; NFT_SET_ELEM_INTERVAL_END). */
struct nft_delta_bound {
	uint8_t key[NFT_DELTA_KEY_MAX];
	uint8_t len;
	bool end;
};

/**
 * nft_delta_prefixes() - turn the starts and ends of an interval set (@b[0..@n), any order;
 * sorted in place) into its prefixes, as nft-sink writes them: each start is followed by its
 * end, or is the last start and reaches the top of the key space. @out (room for @n) gets
 * elements with their prefix length, @ret_n how many.
 * Return: 0; -EINVAL when the bounds are not prefixes (an interval of another size or
 * alignment, an end without a start, two starts in a row, keys of different lengths).
 */
int nft_delta_prefixes(struct nft_delta_bound *b, size_t n, struct nft_delta_elem *out,
		       size_t *ret_n) _warn_unused_result_;

/** nft_delta_op_name() - "elem-add", "chain-flush", ... (logs and tests). */
const char *nft_delta_op_name(enum nft_delta_op_type t);
