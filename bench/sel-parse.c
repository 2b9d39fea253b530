/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sel-parse-bench [SEED]: how long sel_parse() takes on long selectors. Prints one line per
 * figure, `key value unit`, with the best and the median of RUNS parses:
 *
 *   sel_parse.seed.terms        the number of || operands in SEED
 *   sel_parse.seed.ms_min/med   SEED (default: tests/fuzz/corpus/sel-parse/long-canonical)
 *   sel_parse.gen<N>.ms_min/med a generated `k0 == "v0" || k1 in {"v1", "w1"} || has(k2) || ...`
 *                               of N distinct operands, N = 1000, 5000, 10000
 *
 * This binary has its own copy of acl/selector.c built with SEL_MAX_TEXT = 1 MiB (see
 * bench/CMakeLists.txt), so the 10,000-term selector (about 190 KB) parses here; tabby-felix
 * refuses selectors over 64 KiB. It also checks that every parsed selector's canonical text
 * parses back to itself, so a fast but wrong parser does not go unnoticed.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "acl/selector.h"
#include "lib/strbuf.h"

#define RUNS 5

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* Parses @text RUNS times and prints the best and median time under @key. */
static int time_parse(const char *key, const char *text)
{
	double ms[RUNS];

	for (int i = 0; i < RUNS; i++) {
		_cleanup_(sel_freep) struct sel *s = NULL, *again = NULL;
		struct parse_err err = {0};
		double t0 = now_ms();
		int r = sel_parse(text, &s, &err);

		ms[i] = now_ms() - t0;
		if (r < 0) {
			fprintf(stderr, "%s: column %u: %s\n", key, err.column, err.msg);
			return r;
		}
		r = sel_parse(sel_canonical(s), &again, &err);
		if (r < 0 || strcmp(sel_canonical(again), sel_canonical(s)) != 0) {
			fprintf(stderr, "%s: canonical text does not parse back to itself\n", key);
			return -EINVAL;
		}
	}
	qsort(ms, RUNS, sizeof(ms[0]), cmp_double);
	printf("%s.ms_min %.3f ms\n%s.ms_med %.3f ms\n", key, ms[0], key, ms[RUNS / 2]);
	return 0;
}

static char *read_file(const char *path)
{
	_cleanup_strbuf_ struct strbuf sb = {0};
	char buf[8192];
	size_t n;
	FILE *f = fopen(path, "re");

	if (!f)
		return NULL;
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		if (strbuf_append(&sb, buf, n) < 0)
			break;
	fclose(f);
	return strbuf_steal(&sb);
}

/* N distinct operands, cycling through ==, in {} and has() so sorting compares real texts. */
static char *generate(unsigned n)
{
	_cleanup_strbuf_ struct strbuf sb = {0};
	int r = 0;

	for (unsigned i = 0; r >= 0 && i < n; i++) {
		if (i > 0)
			r = strbuf_puts(&sb, " || ");
		if (r < 0)
			break;
		switch (i % 3) {
		case 0:
			r = strbuf_printf(&sb, "k%u == \"v%u\"", i, i);
			break;
		case 1:
			r = strbuf_printf(&sb, "k%u in {\"w%u\", \"v%u\"}", i, i, i);
			break;
		default:
			r = strbuf_printf(&sb, "has(k%u)", i);
			break;
		}
	}
	return r < 0 ? NULL : strbuf_steal(&sb);
}

int main(int argc, char **argv)
{
	static const unsigned sizes[] = {1000, 5000, 10000};
	const char *seed = argc > 1 ? argv[1] : SEL_BENCH_SEED;
	_cleanup_free_ char *text = read_file(seed);
	size_t terms = 1;

	if (!text) {
		fprintf(stderr, "cannot read %s: %m\n", seed);
		return 1;
	}
	for (const char *q = text; (q = strstr(q, "||")); q += 2)
		terms++;
	printf("sel_parse.seed.terms %zu\n", terms);
	if (time_parse("sel_parse.seed", text) < 0)
		return 1;
	for (size_t i = 0; i < ELEMENTSOF(sizes); i++) {
		_cleanup_free_ char *gen = generate(sizes[i]);
		char key[64];

		if (!gen)
			return 1;
		snprintf(key, sizeof(key), "sel_parse.gen%u", sizes[i]);
		if (time_parse(key, gen) < 0)
			return 1;
	}
	return 0;
}
