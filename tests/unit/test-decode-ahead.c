/* SPDX-License-Identifier: Apache-2.0 */
/* felix/decode-ahead.c: a batch of PUTs decoded by a helper thread from the back while they are
 * taken from the front gives, for every PUT and in order, exactly what calc_cache_decode() gives
 * on the caller's thread: valid endpoints and policies, values that do not decode (with the same
 * error), keys the cache ignores. A batch ended early frees what the helper decoded and nobody
 * took (ASan in the sanitizer run checks), a PUT that is not the batch's next one is decoded on
 * the spot, and a batch below DECODE_AHEAD_MIN, or a process allowed one CPU, starts no thread. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>
#include <dirent.h>
#include <sched.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "datastore/datastore.h"
#include "felix/calc/calc.h"
#include "felix/decode-ahead.h"
#include "lib/strbuf.h"
#include "model/model.h"

#define P "/tabby/v1/"
#define N 3000

static struct ds_kv kvs[N];
static const struct ds_kv *batch[N];

/* PUT @i: mostly remote endpoints; every 7th a value that does not decode, every 11th a key
 * the cache ignores, every 13th a NetworkPolicy, every 17th an endpoint whose name does not
 * match its key. */
static void make(size_t i, struct ds_kv *kv)
{
	char key[256], v[2048];

	if (i % 11 == 0) {
		snprintf(key, sizeof(key), P "ipam/handles/h%zu", i);
		snprintf(v, sizeof(v), "{\"whatever\":%zu}", i);
	} else if (i % 7 == 0) {
		snprintf(key, sizeof(key), P "workloadendpoints/ns0/r-cni-c%zu-eth0", i);
		snprintf(v, sizeof(v), "{\"apiVersion\":\"projectcalico.org/v3\",\"kind\":\"Wor");
	} else if (i % 13 == 0) {
		snprintf(key, sizeof(key), P "networkpolicies/ns0/p%zu", i);
		snprintf(v, sizeof(v),
			 "{\"apiVersion\":\"projectcalico.org/v3\",\"kind\":\"NetworkPolicy\","
			 "\"metadata\":{\"name\":\"p%zu\",\"namespace\":\"ns0\"},\"spec\":{"
			 "\"selector\":\"app == 'a%zu'\",\"ingress\":[{\"action\":\"Allow\","
			 "\"protocol\":\"TCP\",\"destination\":{\"ports\":[%zu]}}]}}",
			 i, i % 50, 1 + i % 60000);
	} else {
		snprintf(key, sizeof(key), P "workloadendpoints/ns0/r-cni-c%zu-eth0", i);
		snprintf(
		    v, sizeof(v),
		    "{\"apiVersion\":\"projectcalico.org/v3\",\"kind\":\"WorkloadEndpoint\","
		    "\"metadata\":{\"name\":\"r-cni-c%zu-eth%d\",\"namespace\":\"ns0\","
		    "\"labels\":{\"app\":\"a%zu\"}},\"spec\":{\"orchestrator\":\"cni\","
		    "\"node\":\"r%zu\",\"containerID\":\"c%zu\",\"endpoint\":\"eth0\","
		    "\"interfaceName\":\"tby%011zu\","
		    "\"mac\":\"EE-00-00-00-00-%02zx\",\"ipNetworks\":[\"198.18.%zu.%zu/32\"]}}",
		    i, i % 17 == 0 ? 1 : 0, i % 50, i / 100, i, i, i % 256, i / 256, i % 256);
	}
	*kv = (struct ds_kv){.key = strdup(key), .value = strdup(v), .value_len = strlen(v)};
	assert_non_null(kv->key);
	assert_non_null(kv->value);
}

static int setup(void **state)
{
	for (size_t i = 0; i < N; i++) {
		make(i, &kvs[i]);
		batch[i] = &kvs[i];
	}
	return 0;
}

static int teardown(void **state)
{
	for (size_t i = 0; i < N; i++) {
		free(kvs[i].key); /* ds_kv_done() is the datastore's (io), not the core's */
		free(kvs[i].value);
	}
	return 0;
}

/* @got must be what calc_cache_decode() makes of @kv here and now. Frees @got. */
static void check(const struct ds_kv *kv, struct calc_decoded *got)
{
	struct calc_decoded want;
	_cleanup_strbuf_ struct strbuf a = {0}, b = {0};

	calc_cache_decode(kv->key, kv->value, kv->value_len, &want);
	assert_int_equal(got->r, want.r);
	assert_int_equal(got->kind, want.kind);
	if (want.r == -EINVAL) {
		assert_non_null(got->err);
		assert_string_equal(got->err->field, want.err->field);
		assert_string_equal(got->err->msg, want.err->msg);
	}
	if (want.res) {
		assert_non_null(got->res);
		assert_int_equal(model_encode_json(got->res, &a), 0);
		assert_int_equal(model_encode_json(want.res, &b), 0);
		assert_string_equal(strbuf_cstr(&a), strbuf_cstr(&b));
	} else {
		assert_null(got->res);
	}
	calc_decoded_done(&want);
	calc_decoded_done(got);
}

static void test_batch_in_order(void **state)
{
	struct decode_ahead *da = NULL;
	size_t kinds[4] = {0}; /* decoded, ignored, -EINVAL, other */

	assert_int_equal(decode_ahead_new(&da), 0);
	for (int round = 0; round < 8; round++) {
		decode_ahead_begin(da, batch, N);
		for (size_t i = 0; i < N; i++) {
			struct calc_decoded d;

			decode_ahead_take(da, &kvs[i], &d);
			if (round == 0) {
				kinds[d.r == 1 ? 0 : d.r == 0 ? 1 : d.r == -EINVAL ? 2 : 3]++;
			}
			check(&kvs[i], &d);
		}
		decode_ahead_end(da);
	}
	/* the batch holds each kind of PUT */
	assert_true(kinds[0] > N / 2 && kinds[1] > 100 && kinds[2] > 300);
	assert_int_equal(kinds[3], 0);
	decode_ahead_free(da);
}

/* Ended after @k of the N PUTs, as a callback error ends a delivery: the helper stops and what
 * it decoded beyond @k is freed; a second batch over the rest starts clean. */
static void test_batch_ended_early(void **state)
{
	struct decode_ahead *da = NULL;

	assert_int_equal(decode_ahead_new(&da), 0);
	for (size_t k = 0; k < N; k += 379) {
		decode_ahead_begin(da, batch, N);
		for (size_t i = 0; i < k; i++) {
			struct calc_decoded d;

			decode_ahead_take(da, &kvs[i], &d);
			check(&kvs[i], &d);
		}
		decode_ahead_end(da);
		decode_ahead_begin(da, batch + k, N - k);
		for (size_t i = k; i < N; i++) {
			struct calc_decoded d;

			decode_ahead_take(da, &kvs[i], &d);
			check(&kvs[i], &d);
		}
	}
	/* freed with a batch still open: decode_ahead_free() ends it */
	decode_ahead_begin(da, batch, N);
	decode_ahead_free(da);
}

/* A PUT that is not the batch's next one (not told, or out of order) is decoded on the spot and
 * leaves the batch's order alone; so is every PUT of a batch too small for a thread. */
static void test_not_in_batch(void **state)
{
	struct decode_ahead *da = NULL;
	struct calc_decoded d;

	assert_int_equal(decode_ahead_new(&da), 0);
	decode_ahead_begin(da, batch, N / 2);
	decode_ahead_take(da, &kvs[N - 1], &d); /* not in the batch */
	check(&kvs[N - 1], &d);
	for (size_t i = 0; i < N / 2; i++) {
		decode_ahead_take(da, &kvs[i], &d);
		check(&kvs[i], &d);
	}
	decode_ahead_take(da, &kvs[0], &d); /* past the batch's end */
	check(&kvs[0], &d);
	decode_ahead_end(da);
	decode_ahead_end(da); /* twice: a no-op */

	decode_ahead_begin(da, batch, DECODE_AHEAD_MIN - 1);
	for (size_t i = 0; i < DECODE_AHEAD_MIN - 1; i++) {
		decode_ahead_take(da, &kvs[i], &d);
		check(&kvs[i], &d);
	}
	decode_ahead_end(da);
	decode_ahead_free(da);
}

/* Threads of this process now (entries of /proc/self/task). */
static size_t threads(void)
{
	DIR *d = opendir("/proc/self/task");
	size_t n = 0;

	assert_non_null(d);
	for (struct dirent *e; (e = readdir(d));) {
		n += e->d_name[0] != '.';
	}
	closedir(d);
	return n;
}

/* Allowed one CPU only (a cpuset, a small VM), the decoder starts no helper: every PUT is
 * decoded as it is taken. */
static void test_one_cpu(void **state)
{
	cpu_set_t all, one;
	struct decode_ahead *da = NULL;

	assert_int_equal(sched_getaffinity(0, sizeof(all), &all), 0);
	CPU_ZERO(&one);
	for (int c = 0; c < CPU_SETSIZE; c++) {
		if (CPU_ISSET(c, &all)) {
			CPU_SET(c, &one);
			break;
		}
	}
	assert_int_equal(sched_setaffinity(0, sizeof(one), &one), 0);
	assert_int_equal(decode_ahead_new(&da), 0);
	assert_int_equal(sched_setaffinity(0, sizeof(all), &all), 0);
	size_t before = threads();
	decode_ahead_begin(da, batch, N);
	assert_int_equal(threads(), before);
	for (size_t i = 0; i < N; i++) {
		struct calc_decoded d;

		decode_ahead_take(da, &kvs[i], &d);
		check(&kvs[i], &d);
	}
	decode_ahead_free(da);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_batch_in_order),
	    cmocka_unit_test(test_batch_ended_early),
	    cmocka_unit_test(test_not_in_batch),
	    cmocka_unit_test(test_one_cpu),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
