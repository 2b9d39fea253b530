/* SPDX-License-Identifier: Apache-2.0 */
/*
 * calc_cache_load(): felix's cache file (felix/calc/cache-file.c) on arbitrary bytes, for node
 * "h1". The harness writes the right checksum into the last 8 bytes first, so the fuzzer gets
 * past it into the records. A file that loads must save again to bytes that load to the same
 * bytes (a fixpoint), and with the same revision.
 */
#include <errno.h>

#include "felix/calc/calc-internal.h"
#include "felix/calc/calc.h"
#include "tests/fuzz/fuzz.h"

static struct calc_cache *fresh(void)
{
	struct calc_cache *c = NULL;

	if (calc_cache_new(&c) < 0)
		return NULL;
	if (calc_cache_set_local_node(c, "h1") < 0)
		return calc_cache_free(c);
	return c;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct calc_cache *c, *d;
	struct parse_err err = {0};
	struct strbuf a = {0}, b = {0};
	int64_t rev = 0, rev2 = 0;
	uint8_t *buf;
	uint64_t h;
	int r;

	fuzz_setup();
	if (size < 16 || size > FUZZ_MAX_INPUT)
		return 0;
	buf = malloc(size);
	c = fresh();
	d = fresh();
	if (!buf || !c || !d)
		goto out;
	memcpy(buf, data, size);
	h = cache_file_sum(buf, size - 8);
	for (size_t i = 0; i < 8; i++)
		buf[size - 8 + i] = (uint8_t)(h >> (8 * i));
	r = calc_cache_load(c, buf, size, "fuzz", &rev, &err);
	FUZZ_ASSERT(r == 0 || r == -EINVAL || r == -ESTALE || r == -ENOMEM || r == -E2BIG,
		    "load returned %d", r);
	if (r < 0)
		goto out;
	FUZZ_ASSERT(rev > 0, "revision %lld", (long long)rev);
	if (calc_cache_save(c, rev, &a, NULL) < 0)
		goto out;
	r = calc_cache_load(d, a.buf, a.len, "fuzz-saved", &rev2, &err);
	FUZZ_ASSERT(r == 0 || r == -ENOMEM, "a saved file does not load: %d (%s: %s)", r, err.field,
		    err.msg);
	if (r < 0)
		goto out;
	FUZZ_ASSERT(rev2 == rev, "revision %lld, was %lld", (long long)rev2, (long long)rev);
	if (calc_cache_save(d, rev2, &b, NULL) < 0)
		goto out;
	FUZZ_ASSERT(a.len == b.len && memcmp(a.buf, b.buf, a.len) == 0,
		    "saved twice, %zu and %zu bytes differ", a.len, b.len);
out:
	strbuf_done(&a);
	strbuf_done(&b);
	calc_cache_free(c);
	calc_cache_free(d);
	free(buf);
	return 0;
}
