/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ds-snapshot PREFIX [RUNS] - time how long the datastore takes to read every key under PREFIX
 * from the etcd in TABBY_DATASTORE_ENDPOINTS, three ways:
 *   watch     ds_watch_new() -> SNAPSHOT_END, driven by a poll() loop (what felix does at start):
 *             pages as gRPC KV.Range calls
 *   watch_json the same with ds_config.snapshot_json: pages through the JSON gateway
 *   range     ds_range_prefix() with its default page
 *   range500  ds_range_prefix() in 500-key pages (the page size felix used before)
 * Prints one line per run and method: "FIGURE ds_snapshot <method> keys=<n> ms=<ms>
 * client_cpu_ms=<ms> etcd_cpu_ms=<ms>", where client_cpu_ms is this process's CPU time (parsing,
 * decoding, libcurl) and etcd_cpu_ms is the user+system CPU time etcd spent meanwhile (from
 * /proc/$BENCH_ETCD_PID/stat when that variable is set, else -1). Asserts nothing.
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "datastore/datastore.h"

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Our own CPU time (user + system) in ms. */
static long self_cpu_ms(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (long)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000 +
	       (long)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1000;
}

/* etcd's CPU time in ms, or -1. */
static long etcd_cpu_ms(void)
{
	const char *pid = getenv("BENCH_ETCD_PID");
	unsigned long ut = 0, st = 0;
	char path[64], buf[2048], *p;
	FILE *f;
	size_t n;

	if (!pid || !*pid)
		return -1;
	snprintf(path, sizeof(path), "/proc/%s/stat", pid);
	f = fopen(path, "re");
	if (!f)
		return -1;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	p = strrchr(buf, ')');
	/* After "pid (comm)": state is field 3, utime 14, stime 15. */
	if (!p ||
	    sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
		return -1;
	return (long)((ut + st) * 1000 / (unsigned long)sysconf(_SC_CLK_TCK));
}

struct count {
	size_t puts;
	bool end;
};

static int on_event(void *userdata, const struct ds_watch_event *ev)
{
	struct count *c = userdata;

	if (ev->type == DS_WATCH_SNAPSHOT_BEGIN)
		c->puts = 0;
	else if (ev->type == DS_WATCH_PUT)
		c->puts++;
	else if (ev->type == DS_WATCH_SNAPSHOT_END)
		c->end = true;
	return 0;
}

static int run_watch(struct ds_client *c, const char *prefix, size_t *ret_keys)
{
	_cleanup_(ds_watch_freep) struct ds_watch *w = NULL;
	struct count cnt = {0};
	uint64_t end = mono_ms() + 600000;
	int r;

	r = ds_watch_new(c, prefix, on_event, &cnt, &w);
	if (r < 0)
		return r;
	while (!cnt.end && mono_ms() < end) {
		struct pollfd fds[8];
		int n = ds_watch_pollfds(w, fds, 8);
		int t = ds_watch_timeout_ms(w, mono_ms());

		if (n < 0)
			return n;
		if (poll(fds, (nfds_t)n, t < 0 || t > 1000 ? 1000 : t) < 0 && errno != EINTR)
			return -errno;
		r = ds_watch_dispatch(w, fds, (size_t)n, mono_ms());
		if (r < 0)
			return r;
	}
	*ret_keys = cnt.puts;
	return cnt.end ? 0 : -ETIMEDOUT;
}

int main(int argc, char **argv)
{
	struct ds_config cfg = {0};
	_cleanup_(ds_client_freep) struct ds_client *c = NULL, *cj = NULL;
	int runs = argc > 2 ? atoi(argv[2]) : 3;
	int r;

	if (argc < 2) {
		fprintf(stderr, "usage: ds-snapshot PREFIX [RUNS]\n");
		return 2;
	}
	ds_config_from_env(&cfg);
	cfg.timeout_ms = 60000;
	r = ds_client_new(&cfg, &c);
	if (r < 0) {
		fprintf(stderr, "ds_client_new: %s\n", strerror(-r));
		return 1;
	}
	cfg.snapshot_json = true;
	r = ds_client_new(&cfg, &cj);
	if (r < 0) {
		fprintf(stderr, "ds_client_new: %s\n", strerror(-r));
		return 1;
	}
	for (int i = 0; i < runs; i++) {
		static const char *methods[] = {"watch", "watch_json", "range", "range500"};

		for (size_t m = 0; m < 4; m++) {
			struct ds_kvs kvs = {0};
			size_t keys = 0;
			long cpu0 = etcd_cpu_ms(), cpu1, self0 = self_cpu_ms();
			uint64_t t0 = mono_ms(), t1;

			if (m < 2)
				r = run_watch(m == 0 ? c : cj, argv[1], &keys);
			else
				r = ds_range_prefix(c, argv[1], m == 2 ? 0 : 500, &kvs);
			t1 = mono_ms();
			cpu1 = etcd_cpu_ms();
			if (m > 1)
				keys = kvs.n;
			ds_kvs_done(&kvs);
			if (r < 0) {
				fprintf(stderr, "%s: %s\n", methods[m], strerror(-r));
				return 1;
			}
			printf("FIGURE ds_snapshot %s keys=%zu ms=%" PRIu64
			       " client_cpu_ms=%ld etcd_cpu_ms=%ld\n",
			       methods[m], keys, t1 - t0, self_cpu_ms() - self0,
			       cpu0 >= 0 && cpu1 >= 0 ? cpu1 - cpu0 : -1);
			fflush(stdout);
		}
	}
	return 0;
}
