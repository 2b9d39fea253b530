/* SPDX-License-Identifier: Apache-2.0 */
/*
 * DOC: decoding a snapshot page on two cores
 *
 * A felix (re)start reads every resource under /tabby/v1/ in pages of ~4 MiB, about 7,600
 * workload endpoints each at 100,000 endpoints. Decoding their JSON (json-c, then the model's
 * checks) is over half of felix's CPU time at that scale, and felix is CPU bound while it reads:
 * etcd has the next page ready before felix has digested this one. Everything else felix does
 * stays on its one thread and its one poll loop (STYLE.md "No threads"); this file is the one
 * exception, and only for the pure calc_cache_decode(), which reads nothing but its arguments.
 *
 * For a batch of at least DECODE_AHEAD_MIN PUTs (ds_watch_set_batch_cb(): the PUTs of one
 * dispatch, a whole page during a snapshot) a helper thread decodes from the batch's last PUT
 * backwards while the agent takes them from the first one onwards, each side claiming a PUT
 * before decoding it (an atomic state per PUT). They meet in the middle, or wherever the
 * agent's share of the work (storing, trimming, the policy bookkeeping) puts the meeting point.
 * The agent waits only for a PUT the helper is decoding at that moment. Results are applied in
 * delivery order on the agent's thread, so the cache sees exactly the sequence it would see
 * without the helper, and the thread is joined before the dispatch returns: between batches
 * felix has one thread.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "datastore/datastore.h"
#include "felix/calc/calc.h"
#include "felix/decode-ahead.h"
#include "lib/log.h"

enum {
	ITEM_FREE,   /* nobody has claimed it */
	ITEM_HELPER, /* the helper is decoding it */
	ITEM_READY,  /* the helper decoded it into d */
	ITEM_AGENT,  /* the agent took it (decoded it itself, or took d) */
};

/* Items kept allocated between batches; a larger array is freed when its batch ends. */
#define DECODE_AHEAD_KEEP 1024

struct item {
	const char *key, *value; /* borrowed from the ds_kv */
	size_t len;
	_Atomic unsigned char state;
	struct calc_decoded d; /* ITEM_READY */
};

struct decode_ahead {
	struct item *items;
	size_t n, cap; /* n == 0: no batch, or one decoded as it is taken */
	size_t next;   /* the agent's next item */
	pthread_t helper;
	bool running;
	bool one_cpu;	     /* the process may run on one CPU only: never start the helper */
	atomic_bool stop;    /* the batch ended: the helper claims nothing more */
	atomic_bool waiting; /* the agent waits for an ITEM_HELPER item */
	pthread_mutex_t mu;
	pthread_cond_t ready;
};

int decode_ahead_new(struct decode_ahead **ret)
{
	struct decode_ahead *da = calloc(1, sizeof(*da));
	cpu_set_t cpus;

	if (!da)
		return -ENOMEM;
	/* one CPU to run on (a cpuset, a small VM): a helper would only take turns with us */
	da->one_cpu = sched_getaffinity(0, sizeof(cpus), &cpus) == 0 && CPU_COUNT(&cpus) < 2;
	pthread_mutex_init(&da->mu, NULL);
	pthread_cond_init(&da->ready, NULL);
	*ret = da;
	return 0;
}

struct decode_ahead *decode_ahead_free(struct decode_ahead *da)
{
	if (!da)
		return NULL;
	decode_ahead_end(da);
	pthread_cond_destroy(&da->ready);
	pthread_mutex_destroy(&da->mu);
	free(da->items);
	free(da);
	return NULL;
}

static void *helper_main(void *arg)
{
	struct decode_ahead *da = arg;

	for (size_t j = da->n; j-- > 0;) {
		unsigned char free_state = ITEM_FREE;
		struct item *it = &da->items[j];

		if (atomic_load(&da->stop) ||
		    !atomic_compare_exchange_strong(&it->state, &free_state, ITEM_HELPER))
			break; /* the agent got here first: the rest below is its own */
		calc_cache_decode(it->key, it->value, it->len, &it->d);
		atomic_store(&it->state, ITEM_READY);
		if (atomic_load(&da->waiting)) {
			pthread_mutex_lock(&da->mu);
			pthread_cond_broadcast(&da->ready);
			pthread_mutex_unlock(&da->mu);
		}
	}
	return NULL;
}

void decode_ahead_begin(struct decode_ahead *da, const struct ds_kv *const *kvs, size_t n)
{
	decode_ahead_end(da);
	if (n < DECODE_AHEAD_MIN || da->one_cpu)
		return;
	if (da->cap < n) {
		struct item *items = realloc(da->items, n * sizeof(*items));

		if (!items)
			return;
		da->items = items;
		da->cap = n;
	}
	for (size_t i = 0; i < n; i++) {
		da->items[i] = (struct item){
		    .key = kvs[i]->key, .value = kvs[i]->value, .len = kvs[i]->value_len};
		atomic_init(&da->items[i].state, ITEM_FREE);
	}
	da->n = n;
	da->next = 0;
	atomic_store(&da->stop, false);
	atomic_store(&da->waiting, false);
	int r = pthread_create(&da->helper, NULL, helper_main, da);
	if (r != 0) {
		log_debug("decoding ahead on a second thread: %s", strerror(r));
		da->n = 0;
		return;
	}
	da->running = true;
}

int decode_ahead_take(struct decode_ahead *da, const struct ds_kv *kv, struct calc_decoded *ret)
{
	struct item *it = da->next < da->n ? &da->items[da->next] : NULL;
	unsigned char free_state = ITEM_FREE;

	if (!it || it->value != kv->value || it->key != kv->key)
		return calc_cache_decode(kv->key, kv->value, kv->value_len, ret);
	da->next++;
	if (atomic_compare_exchange_strong(&it->state, &free_state, ITEM_AGENT))
		return calc_cache_decode(kv->key, kv->value, kv->value_len, ret);
	if (atomic_load(&it->state) == ITEM_HELPER) {
		pthread_mutex_lock(&da->mu);
		atomic_store(&da->waiting, true);
		while (atomic_load(&it->state) == ITEM_HELPER)
			pthread_cond_wait(&da->ready, &da->mu);
		atomic_store(&da->waiting, false);
		pthread_mutex_unlock(&da->mu);
	}
	*ret = it->d; /* ITEM_READY: the helper's store of the state published d */
	it->d = (struct calc_decoded){0};
	atomic_store(&it->state, ITEM_AGENT);
	return ret->r;
}

void decode_ahead_end(struct decode_ahead *da)
{
	if (da->running) {
		atomic_store(&da->stop, true);
		pthread_join(da->helper, NULL);
		da->running = false;
	}
	for (size_t i = 0; i < da->n; i++)
		if (atomic_load(&da->items[i].state) == ITEM_READY)
			calc_decoded_done(&da->items[i].d);
	da->n = 0;
	da->next = 0;
	if (da->cap > DECODE_AHEAD_KEEP) {
		/* a snapshot page's worth: the next page allocates its own */
		free(da->items);
		da->items = NULL;
		da->cap = 0;
	}
}
