/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * The kernel side of the nftables delta engine (felix/dataplane/policy/nft-sink.c): one
 * NETLINK_NETFILTER socket, and each engine batch (nft-delta.h) turned into nf_tables
 * messages in ONE NFNL_MSG_BATCH_BEGIN .. NFNL_MSG_BATCH_END transaction: table, set,
 * chain and rule messages through felix/dataplane/policy/nft-build.h from the nft_prog
 * pieces, set and map elements from the engine's keys (as nft 1.0.6 sends them: interval
 * sets get a start element and an NFT_SET_ELEM_INTERVAL_END element at the first address
 * after the prefix, none when the prefix reaches the top of the space; map elements carry
 * their verdict). Every chain, set and rule carries its tag (FELIX_NFT_UDATA_TAG in
 * nft-build.h: the op's decl or rules hash), which nft-adopt.c reads back when felix starts
 * over a table an earlier felix programmed. Nothing is read back while sending.
 */

#include <stdbool.h>
#include <stddef.h>

#include "felix/dataplane/policy/nft-delta.h"
#include "lib/macro.h"

struct felix_nft_sink;

/** felix_nft_sink_new() - no socket yet (opened by the first send). Return: 0 or -ENOMEM. */
int felix_nft_sink_new(struct felix_nft_sink **ret) _warn_unused_result_;

/** felix_nft_sink_free() - close the socket. NULL-safe. Return: NULL. */
struct felix_nft_sink *felix_nft_sink_free(struct felix_nft_sink *s);

/**
 * felix_nft_sink_send() - struct nft_delta_sink.send for the kernel: @ctx is a struct
 * felix_nft_sink. Every message carries NLM_F_ACK and every ack is read.
 * Return: bytes sent; -EINVAL/-EOPNOTSUPP (a piece nft-build cannot express: nothing sent);
 * the -errno of the socket or of the first message the kernel refused (the transaction
 * then changed nothing; the socket is reopened on the next send), with @err saying which.
 */
int felix_nft_sink_send(void *ctx, const struct nft_delta_op *ops, size_t n, char *err,
			size_t errlen);

/**
 * felix_nft_sink_unchanged() - true when the network namespace's nf_tables ruleset generation
 * (NFT_MSG_GETGEN) is still the one our last successful send left, read right before and after
 * it: no program (nft, iptables-nft, another felix) has committed any nf_tables change since,
 * so the kernel holds exactly what we sent. False after a failed send, when the generation
 * moved (whatever changed), or when it cannot be read (one netlink round trip, ~10 us).
 */
bool felix_nft_sink_unchanged(struct felix_nft_sink *s);

/** felix_nft_sink_table_exists() - whether table inet NFT_PROG_TABLE exists in the network
 * namespace (NFT_MSG_GETTABLE). Return: 1, 0 (-ENOENT from the kernel), or the -errno of the
 * socket or the request. */
int felix_nft_sink_table_exists(struct felix_nft_sink *s) _warn_unused_result_;

/** felix_nft_sink_generation() - the namespace's nf_tables ruleset generation now
 * (NFT_MSG_GETGEN). Return: 0 or the -errno of the socket or the request. */
int felix_nft_sink_generation(struct felix_nft_sink *s, uint32_t *ret) _warn_unused_result_;

/** felix_nft_sink_assume() - the kernel at generation @gen holds what the engine remembers
 * (it adopted the table at that generation and nothing committed meanwhile): what
 * felix_nft_sink_unchanged() compares with until the next send. */
void felix_nft_sink_assume(struct felix_nft_sink *s, uint32_t gen);

/** felix_nft_sink_stats() - messages and bytes sent by the last successful send. */
void felix_nft_sink_last(const struct felix_nft_sink *s, size_t *ret_msgs, size_t *ret_bytes);
