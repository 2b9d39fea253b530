/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * Adopting `table inet tabby` at start (felix/dataplane/policy/nft-adopt.c): when felix
 * restarts, the table its predecessor programmed is still in the kernel. Instead of replacing
 * it (the whole program and every set element sent again, ~0.5 s at 100,000 endpoints), the
 * driver reads it back and fills the delta engine's memory from it, so the first complete
 * transaction sends only what differs, as Calico's felix reconciles iptables against
 * iptables-save. What tabby wrote carries tags (FELIX_NFT_UDATA_TAG, nft-build.h); anything
 * without them is adopted so that the diff rewrites or removes it (nft-delta.h, Adoption).
 */

#include <stddef.h>

#include "felix/dataplane/policy/nft-delta.h"
#include "lib/macro.h"

struct felix_nft_adopt_stats {
	size_t chains;	     /* chains adopted */
	size_t chains_dirty; /* of which a rule has no tag or is out of sequence (rewritten;
			      * an emptied chain is not counted, though it is refilled) */
	size_t objs_foreign; /* chains and sets without a valid tag (a full replace follows) */
	size_t sets;	     /* sets and maps adopted */
	size_t rules;	     /* rules listed */
	size_t elems;	     /* set and map elements adopted */
	size_t bytes;	     /* netlink bytes read */
};

/**
 * felix_nft_adopt() - read the table inet @table (NULL: NFT_PROG_TABLE) from the kernel of
 * this network namespace: one dump each of its chains, rules and sets, one dump of each named
 * set's elements (interval sets turned back into prefixes, nft_delta_prefixes()). Each object
 * goes into @d, an engine with no memory, with nft_delta_adopt(); the engine is then ready.
 * Rules are read only for their chain and udata (no expression is parsed).
 * @st: what was found (may be NULL).
 * Return: 0; -ENOENT (no such table); -EINVAL (the table holds what the engine cannot hold:
 * a set whose elements are not prefixes, a key too long), with @err saying what; -EBADMSG (a
 * chain or set message libnftnl cannot parse); -EINTR (the ruleset changed during a dump:
 * NLM_F_DUMP_INTR); the -errno of the socket or of a dump; -ENOMEM. On failure @d is left with no memory (forgotten).
 */
int felix_nft_adopt(struct nft_delta *d, const char *table, struct felix_nft_adopt_stats *st,
		    char *err, size_t errlen) _warn_unused_result_;
