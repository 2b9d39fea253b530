/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <stddef.h>

#include "lib/macro.h"

struct calc_decoded;
struct ds_kv;
struct decode_ahead;

/* Batches smaller than this are decoded one by one as they are delivered (no helper thread). */
#define DECODE_AHEAD_MIN 256

/**
 * decode_ahead_new() - a decoder that reads a batch of datastore PUTs ahead of their delivery
 * on a second core (felix/decode-ahead.c); with only one CPU in the process's affinity mask it
 * never starts a thread. Return: 0 or -ENOMEM.
 */
int decode_ahead_new(struct decode_ahead **ret) _warn_unused_result_;

/** decode_ahead_free() - end any batch (decode_ahead_end()) and free @da. NULL-safe. */
struct decode_ahead *decode_ahead_free(struct decode_ahead *da);

/**
 * decode_ahead_begin() - a batch of @n PUTs (@kvs, in delivery order, borrowed until each is
 * taken or decode_ahead_end() returns) is about to be delivered. With at least DECODE_AHEAD_MIN
 * of them, a helper thread decodes them with calc_cache_decode() from the last one backwards
 * while the caller takes them from the first one onwards. Without a thread (or memory for the
 * batch), every PUT is decoded when it is taken. A batch still open is ended first.
 */
void decode_ahead_begin(struct decode_ahead *da, const struct ds_kv *const *kvs, size_t n);

/**
 * decode_ahead_take() - @kv, the next PUT delivered, decoded into *@ret (as calc_cache_decode()
 * fills it): by the helper, or now on this thread when the helper has not got to it (or @kv is
 * not the batch's next PUT). Waits only for a PUT the helper is decoding at that moment.
 * Return: ret->r.
 */
int decode_ahead_take(struct decode_ahead *da, const struct ds_kv *kv, struct calc_decoded *ret);

/**
 * decode_ahead_end() - the batch's delivery is over (all taken, or a callback error stopped it):
 * stop and join the helper, free what it decoded and nobody took. No-op without a batch.
 */
void decode_ahead_end(struct decode_ahead *da);
