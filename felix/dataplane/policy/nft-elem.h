/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "felix/dataplane/policy/backend.h"
#include "lib/macro.h"

/**
 * felix_nft_elem_encodable() - @e can go through felix_nft_elem_apply(): a policy set of
 * acl_render_nft() ("s4-", "n4-", "s6-", "n6-": `flags interval` sets of ipv4_addr/ipv6_addr,
 * elements "ADDR" or "ADDR/LEN" without host bits and not reaching the top of the address
 * space; "p4-", "p6-": concatenations "ADDR . PROTO . PORT"). Anything else goes through
 * libnftables.
 */
bool felix_nft_elem_encodable(const struct felix_nft_elem *e);

/**
 * felix_nft_elem_apply() - add and delete the elements @e[0..@n_e) of sets of `table inet
 * tabby` with raw nf_tables netlink messages (libnftnl + libmnl, NETLINK_NETFILTER): one
 * NFNL_MSG_BATCH_BEGIN .. NFNL_MSG_BATCH_END transaction, deletions (NFT_MSG_DELSETELEM)
 * before additions (NFT_MSG_NEWSETELEM, NLM_F_CREATE without NLM_F_EXCL, so an element that
 * exists is not an error), every message with NLM_F_ACK and every ack read back. Interval
 * sets get the start element and the end element (first address after the range, flag
 * NFT_SET_ELEM_INTERVAL_END), as nft 1.0.6 sends them. When the batch fails with ENOENT (a
 * deletion of an element the kernel does not have), the deletions are sent again one
 * element per transaction, ENOENT ignored, then the additions in one transaction.
 *
 * Every element must be felix_nft_elem_encodable(). @n_e <= FELIX_NFT_ELEM_MAX.
 *
 * Return: the number of bytes sent to the kernel (>= 0); -EINVAL (an element is not encodable, or @n_e too large); -errno of the
 * socket or of the first failing message (the transaction then changed nothing). @err gets
 * a one-line reason.
 */
int felix_nft_elem_apply(const struct felix_nft_elem *e, size_t n_e, char *err,
			 size_t errlen) _warn_unused_result_;

#define FELIX_NFT_ELEM_MAX 2048
