/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cache-put-bench [N] [M] - felix's resource cache (felix/calc/cache.c) at scale: N remote
 * WorkloadEndpoints put in key order (as a snapshot delivers them), then M new ones at random
 * positions among them (as a watch delivers them), timed one by one, then those M deleted.
 * Prints the snapshot time (ms), the process's RSS after it (malloc_trim()ed, as felix does
 * after a full apply) and per-put/delete p50/p99/max (us). Uses only calc.h, so the same file
 * builds against older trees for a side-by-side run.
 */
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "felix/calc/calc.h"
#include "lib/parse-err.h"

static double now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

/* Key and value of remote endpoint @i (node bench-r<i/1000>, address 198.18.x.y). */
static void wep(unsigned i, char *key, size_t key_size, char *v, size_t v_size)
{
	snprintf(key, key_size, "/tabby/v1/workloadendpoints/default/bench--r%u-cni-c%08u-eth0",
		 i / 1000, i);
	snprintf(v, v_size,
		 "{\"apiVersion\":\"projectcalico.org/v3\",\"kind\":\"WorkloadEndpoint\","
		 "\"metadata\":{\"name\":\"bench--r%u-cni-c%08u-eth0\",\"namespace\":\"default\","
		 "\"labels\":{\"app\":\"app%u\",\"role\":\"r%u\"}},"
		 "\"spec\":{\"orchestrator\":\"cni\",\"workload\":\"pod%u\",\"node\":\"bench-r%u\","
		 "\"containerID\":\"c%08u\",\"endpoint\":\"eth0\",\"interfaceName\":\"tby%011u\","
		 "\"ipNetworks\":[\"198.%u.%u.%u/32\"]}}",
		 i / 1000, i, i % 100, i % 50, i, i / 1000, i, i, 18 + (i >> 16), (i >> 8) & 255,
		 i & 255);
}

/* VmRSS of this process in KiB, or -1. */
static long rss_kib(void)
{
	char line[256];
	long v = -1;
	FILE *f = fopen("/proc/self/status", "re");
	if (!f) {
		return -1;
	}
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, "VmRSS:", 6) == 0) {
			v = strtol(line + 6, NULL, 10);
		}
	}
	fclose(f);
	return v;
}

static int dcmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static void stats(const char *what, double *us, size_t n)
{
	qsort(us, n, sizeof(*us), dcmp);
	printf("%s: p50 %.2f us, p99 %.2f us, max %.2f us (n=%zu)\n", what, us[n / 2],
	       us[n * 99 / 100], us[n - 1], n);
}

int main(int argc, char **argv)
{
	unsigned n = argc > 1 ? (unsigned)strtoul(argv[1], NULL, 10) : 100000;
	unsigned m = argc > 2 ? (unsigned)strtoul(argv[2], NULL, 10) : 2000;
	if (n < 1 || m < 1 || n + m > 120000) {
		fprintf(stderr, "usage: cache-put-bench [N 1..] [M 1..] with N+M <= 120000\n");
		return 2;
	}
	struct calc_cache *c;
	if (calc_cache_new(&c) < 0 || calc_cache_set_local_node(c, "h1") < 0) {
		return 1;
	}
	char key[256], v[1024];
	struct parse_err err = {0};
	long rss0 = rss_kib();
	/* every (n+m)/m-th index is left out of the snapshot and put later */
	unsigned step = (n + m) / m;
	double t0 = now_us();
	for (unsigned i = 0; i < n + m; i++) {
		if (i % step == 0 && i / step < m) {
			continue;
		}
		wep(i, key, sizeof(key), v, sizeof(v));
		if (calc_cache_put(c, key, v, strlen(v), &err) != 1) {
			fprintf(stderr, "put %s failed\n", key);
			return 1;
		}
	}
	printf("cache-put-bench: %u endpoints in key order: %.1f ms\n", n, (now_us() - t0) / 1e3);
	malloc_trim(0);
	printf("cache-put-bench: RSS grew by %.1f MiB (after malloc_trim)\n",
	       (double)(rss_kib() - rss0) / 1024);
	double *us = calloc(m, sizeof(*us));
	unsigned *order = calloc(m, sizeof(*order));
	if (!us || !order) {
		return 1;
	}
	uint32_t x = 2463534242u;
	for (unsigned k = 0; k < m; k++) {
		order[k] = k;
	}
	for (unsigned k = m - 1; k > 0; k--) {
		x ^= x << 13, x ^= x >> 17, x ^= x << 5;
		unsigned j = x % (k + 1), t = order[k];
		order[k] = order[j];
		order[j] = t;
	}
	for (unsigned k = 0; k < m; k++) {
		wep(order[k] * step, key, sizeof(key), v, sizeof(v));
		double t = now_us();
		if (calc_cache_put(c, key, v, strlen(v), &err) != 1) {
			fprintf(stderr, "put %s failed\n", key);
			return 1;
		}
		us[k] = now_us() - t;
	}
	stats("new endpoint put among them", us, m);
	for (unsigned k = 0; k < m; k++) {
		wep(order[k] * step, key, sizeof(key), v, sizeof(v));
		double t = now_us();
		if (calc_cache_delete(c, key) != 1) {
			fprintf(stderr, "delete %s failed\n", key);
			return 1;
		}
		us[k] = now_us() - t;
	}
	stats("endpoint delete", us, m);
	free(us);
	free(order);
	calc_cache_free(c);
	return 0;
}
