/* SPDX-License-Identifier: Apache-2.0 */
/*
 * DOC: tabby-felix's Prometheus metrics (names and meanings in felix/metrics.h).
 *
 * The agent bumps plain integers in struct felix_metrics as it works; nothing is formatted
 * until a scrape, and the process_* values are read from /proc/self at that moment, like the
 * Prometheus client libraries' process collector does. Output follows the text exposition
 * format 0.0.4: one # HELP and one # TYPE line per metric family, histogram buckets cumulative
 * with an le="+Inf" bucket equal to _count.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "felix/calc/calc.h"
#include "felix/metrics.h"
#include "lib/log.h"
#include "model/model.h"

/* Apply passes take microseconds for a handful of endpoints and up to seconds for thousands. */
static const double apply_bounds[FELIX_APPLY_BUCKETS] = {
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10,
};

void felix_metrics_observe_apply(struct felix_metrics *m, uint64_t duration_us)
{
	double s = (double)duration_us / 1e6;
	m->apply_count++;
	m->apply_sum_s += s;
	for (size_t i = 0; i < FELIX_APPLY_BUCKETS; i++) {
		if (s <= apply_bounds[i]) {
			m->apply_bucket[i]++;
			break;
		}
	}
}

struct ep_count {
	const char *node;
	uint64_t local, remote;
};

static int count_one(const struct model_resource *res, void *userdata)
{
	struct ep_count *c = userdata;
	const char *node = res->wep.node;
	if (node && strcmp(node, c->node) == 0) {
		c->local++;
	} else {
		c->remote++;
	}
	return 0;
}

void felix_metrics_count_endpoints(struct felix_metrics *m, const struct calc_cache *c,
				   const char *node_name)
{
	struct ep_count n = {.node = node_name};
	size_t l, rm;
	if (calc_cache_endpoint_counts(c, &l, &rm) >= 0) { /* the cache's tallies: O(1) */
		m->local_endpoints = l;
		m->remote_endpoints = rm;
	} else if (calc_cache_foreach(c, MODEL_KIND_WORKLOAD_ENDPOINT, count_one, &n) >= 0) {
		m->local_endpoints = n.local;
		m->remote_endpoints = n.remote;
	}
}

/* ---- /proc/self ---- */

struct proc_stats {
	bool have_stat;
	double cpu_s;
	double start_s; /* since the epoch */
	uint64_t rss_bytes;
	uint64_t vsize_bytes;
	bool have_fds;
	uint64_t open_fds;
	uint64_t max_fds;
};

static int read_small(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		return -errno;
	}
	ssize_t n = read(fd, buf, size - 1);
	int r = n < 0 ? -errno : 0;
	close(fd);
	if (r < 0) {
		return r;
	}
	buf[n] = '\0';
	return 0;
}

/* Seconds since the epoch at boot: "btime" in /proc/stat. */
static int boot_time(double *ret)
{
	FILE *f = fopen("/proc/stat", "re");
	if (!f) {
		return -errno;
	}
	char line[256];
	int r = -ENOENT;
	while (fgets(line, sizeof(line), f)) {
		unsigned long long bt;
		if (sscanf(line, "btime %llu", &bt) == 1) {
			*ret = (double)bt;
			r = 0;
			break;
		}
	}
	fclose(f);
	return r;
}

/* proc(5): the fields after "(comm)" start with state (field 3). */
static int read_proc_stat(struct proc_stats *p)
{
	char buf[2048];
	int r = read_small("/proc/self/stat", buf, sizeof(buf));
	if (r < 0) {
		return r;
	}
	const char *s = strrchr(buf, ')');
	if (!s) {
		return -EIO;
	}
	unsigned long long utime, stime, start, vsize;
	long long rss;
	/* state ppid pgrp session tty_nr tpgid flags minflt cminflt majflt cmajflt utime stime
	 * cutime cstime priority nice num_threads itrealvalue starttime vsize rss */
	if (sscanf(s + 1,
		   " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %*d %*d %*d %*d %*d %*d "
		   "%llu %llu %lld",
		   &utime, &stime, &start, &vsize, &rss) != 5) {
		return -EIO;
	}
	long tck = sysconf(_SC_CLK_TCK);
	long page = sysconf(_SC_PAGESIZE);
	double bt = 0;
	if (tck <= 0 || page <= 0) {
		return -EIO;
	}
	r = boot_time(&bt);
	if (r < 0) {
		return r;
	}
	p->cpu_s = (double)(utime + stime) / (double)tck;
	p->start_s = bt + (double)start / (double)tck;
	p->vsize_bytes = vsize;
	p->rss_bytes = rss > 0 ? (uint64_t)rss * (uint64_t)page : 0;
	p->have_stat = true;
	return 0;
}

static int read_proc_fds(struct proc_stats *p)
{
	DIR *d = opendir("/proc/self/fd");
	if (!d) {
		return -errno;
	}
	uint64_t n = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (e->d_name[0] != '.') {
			n++;
		}
	}
	closedir(d);
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0) {
		return -errno;
	}
	/* The directory stream's own fd was counted. */
	p->open_fds = n > 0 ? n - 1 : 0;
	p->max_fds = rl.rlim_cur == RLIM_INFINITY ? UINT64_MAX : (uint64_t)rl.rlim_cur;
	p->have_fds = true;
	return 0;
}

/* ---- rendering ---- */

static int family(struct strbuf *out, const char *name, const char *type, const char *help)
{
	return strbuf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static int u64(struct strbuf *out, const char *name, const char *type, const char *help, uint64_t v)
{
	int r = family(out, name, type, help);
	if (r >= 0) {
		r = strbuf_printf(out, "%s %llu\n", name, (unsigned long long)v);
	}
	return r;
}

static int dbl(struct strbuf *out, const char *name, const char *type, const char *help, double v)
{
	int r = family(out, name, type, help);
	if (r >= 0) {
		r = strbuf_printf(out, "%s %.17g\n", name, v);
	}
	return r;
}

static int apply_histogram(struct strbuf *out, const struct felix_metrics *m)
{
	static const char name[] = "felix_apply_duration_seconds";
	uint64_t cum = 0;
	int r = family(out, name, "histogram",
		       "Wall time of one apply pass (calc, policy, routes, BIRD config).");
	for (size_t i = 0; r >= 0 && i < FELIX_APPLY_BUCKETS; i++) {
		cum += m->apply_bucket[i];
		r = strbuf_printf(out, "%s_bucket{le=\"%g\"} %llu\n", name, apply_bounds[i],
				  (unsigned long long)cum);
	}
	if (r >= 0) {
		r = strbuf_printf(out, "%s_bucket{le=\"+Inf\"} %llu\n%s_sum %.9f\n%s_count %llu\n",
				  name, (unsigned long long)m->apply_count, name, m->apply_sum_s,
				  name, (unsigned long long)m->apply_count);
	}
	return r;
}

int felix_metrics_render(const struct felix_metrics *m, bool in_sync, struct strbuf *out)
{
	struct proc_stats p = {0};
	int r, q;

	q = read_proc_stat(&p);
	if (q < 0) {
		log_debug_errno(q, "cannot read /proc/self/stat, leaving process metrics out: %m");
	}
	q = read_proc_fds(&p);
	if (q < 0) {
		log_debug_errno(q, "cannot count /proc/self/fd, leaving fd metrics out: %m");
	}

	r = u64(out, "felix_datastore_in_sync", "gauge",
		"1 when the datastore snapshot is complete and the watch is connected.", in_sync);
	RET_GATHER(r,
		   u64(out, "felix_datastore_updates_total", "counter",
		       "Datastore watch events (puts and deletes).", m->datastore_updates_total));
	RET_GATHER(r, u64(out, "felix_resync_total", "counter",
			  "Full resyncs with the kernel (periodic or SIGHUP).", m->resync_total));
	RET_GATHER(r, u64(out, "felix_apply_total", "counter", "Apply passes.", m->apply_total));
	RET_GATHER(r, u64(out, "felix_apply_errors_total", "counter",
			  "Apply passes whose calculation or route programming failed.",
			  m->apply_errors_total));
	RET_GATHER(r, apply_histogram(out, m));
	RET_GATHER(r, u64(out, "felix_routes_programmed", "gauge",
			  "Routes of ours desired and in the kernel after the last apply.",
			  m->routes_programmed));
	RET_GATHER(r, u64(out, "felix_routes_pending", "gauge",
			  "Desired routes not in place after the last apply.", m->routes_pending));
	RET_GATHER(r, u64(out, "felix_local_endpoints", "gauge", "WorkloadEndpoints on this node.",
			  m->local_endpoints));
	RET_GATHER(r, u64(out, "felix_remote_endpoints", "gauge",
			  "WorkloadEndpoints on other nodes.", m->remote_endpoints));
	RET_GATHER(r, u64(out, "felix_policy_errors_total", "counter",
			  "Policy applies that failed and kept the last good rules.",
			  m->policy_errors_total));
	RET_GATHER(r,
		   u64(out, "felix_bird_reconfigure_total", "counter",
		       "Successful configure commands sent to BIRD.", m->bird_reconfigure_total));
	RET_GATHER(r, u64(out, "felix_bird_config_rejected_total", "counter",
			  "Rendered BIRD configs refused by bird -p or by configure.",
			  m->bird_config_rejected_total));
	RET_GATHER(r, u64(out, "felix_nat_errors_total", "counter",
			  "natOutgoing applies that failed (retried).", m->nat_errors_total));
	RET_GATHER(r, u64(out, "felix_vxlan_errors_total", "counter",
			  "VXLAN device, route or FDB applies that failed (retried).",
			  m->vxlan_errors_total));
	if (p.have_stat) {
		RET_GATHER(r, dbl(out, "process_cpu_seconds_total", "counter",
				  "Total user and system CPU time spent in seconds.", p.cpu_s));
		RET_GATHER(r, u64(out, "process_resident_memory_bytes", "gauge",
				  "Resident memory size in bytes.", p.rss_bytes));
		RET_GATHER(r, u64(out, "process_virtual_memory_bytes", "gauge",
				  "Virtual memory size in bytes.", p.vsize_bytes));
		RET_GATHER(r, dbl(out, "process_start_time_seconds", "gauge",
				  "Start time of the process since unix epoch in seconds.",
				  p.start_s));
	}
	if (p.have_fds) {
		RET_GATHER(r, u64(out, "process_open_fds", "gauge",
				  "Number of open file descriptors.", p.open_fds));
		RET_GATHER(r, u64(out, "process_max_fds", "gauge",
				  "Maximum number of open file descriptors.", p.max_fds));
	}
	return r;
}
