/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ipam_block_decode_json() on arbitrary bytes (the value of /tabby/v1/ipam/blocks/<name>). A block
 * that decodes must encode to JSON that decodes to the same encoding, and assigning and releasing
 * on it must keep the free count consistent (these blocks come from the datastore, which any
 * host can write).
 */
#include <errno.h>

#include "ipam/block.h"
#include "lib/strbuf.h"
#include "tests/fuzz/fuzz.h"

#define FUZZ_HANDLE "fuzz-handle.\x01"

static void exercise(struct ipam_block *b)
{
	struct ip_addr addrs[3];
	unsigned before = ipam_block_free_count(b), after;
	int n, k;

	FUZZ_ASSERT(before + ipam_block_in_use(b) == b->n, "free %u + used %u != %u", before,
		    ipam_block_in_use(b), b->n);
	n = ipam_block_assign(b, ELEMENTSOF(addrs), FUZZ_HANDLE, NULL, addrs);
	if (n < 0)
		return;
	FUZZ_ASSERT((unsigned)n <= before, "assigned %d of %u free", n, before);
	after = ipam_block_free_count(b);
	FUZZ_ASSERT(after == before - (unsigned)n, "free %u after assigning %d of %u", after, n,
		    before);
	for (int i = 0; i < n; i++) {
		const struct ipam_attr *a = ipam_block_lookup(b, &addrs[i]);

		FUZZ_ASSERT(a && a->handle_id && strcmp(a->handle_id, FUZZ_HANDLE) == 0,
			    "address %d not held by the handle", i);
	}
	k = ipam_block_release_handle(b, FUZZ_HANDLE);
	FUZZ_ASSERT(k == n, "released %d of %d", k, n);
	FUZZ_ASSERT(ipam_block_free_count(b) == before, "free %u after release, was %u",
		    ipam_block_free_count(b), before);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	_cleanup_strbuf_ struct strbuf j1 = {0}, j2 = {0};
	struct ipam_block b = {0}, b2 = {0};
	struct parse_err err = {0};
	int r;

	fuzz_setup();
	if (size > FUZZ_MAX_INPUT)
		return 0;
	if (ipam_block_decode_json((const char *)data, size, &b, &err) < 0)
		return 0;
	if (ipam_block_encode_json(&b, &j1) < 0)
		goto out;
	r = ipam_block_decode_json(j1.buf, j1.len, &b2, &err);
	FUZZ_ASSERT(r >= 0, "encoded block does not decode: %s: %s\n%s", err.field, err.msg,
		    strbuf_cstr(&j1));
	if (ipam_block_encode_json(&b2, &j2) < 0)
		goto out;
	FUZZ_ASSERT(strcmp(strbuf_cstr(&j1), strbuf_cstr(&j2)) == 0,
		    "block JSON round trip differs:\n%s\n%s", strbuf_cstr(&j1), strbuf_cstr(&j2));
	exercise(&b);
out:
	ipam_block_done(&b);
	ipam_block_done(&b2);
	return 0;
}
