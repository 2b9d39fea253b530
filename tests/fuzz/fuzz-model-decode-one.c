/* SPDX-License-Identifier: Apache-2.0 */
/* model_decode_one(): one resource as the datastore stores it (JSON; YAML is accepted too). Its
 * JSON fast path (model/json-tree.c) must agree with libyaml (model_decode_one_yaml()) on every
 * input: the same verdict, the same error, the same resource. */
#include "model/model-internal.h"
#include "model/model.h"
#include "lib/strbuf.h"
#include "tests/fuzz/fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	_cleanup_(model_resource_freep) struct model_resource *r = NULL, *y = NULL;
	_cleanup_strbuf_ struct strbuf json = {0}, yjson = {0};
	struct parse_err err = {0}, yerr = {0};
	char m1[1024], m2[1024];
	int rf, ry;

	fuzz_setup();
	if (size > FUZZ_MAX_INPUT)
		return 0;
	rf = model_decode_one((const char *)data, size, "value", &r, &err);
	ry = model_decode_one_yaml((const char *)data, size, "value", &y, &yerr);
	FUZZ_ASSERT(rf == ry, "fast path %d, libyaml %d (%s)", rf, ry,
		    parse_err_format(&yerr, m2, sizeof(m2)));
	if (rf < 0) {
		parse_err_format(&err, m1, sizeof(m1));
		parse_err_format(&yerr, m2, sizeof(m2));
		FUZZ_ASSERT(rf == -ENOMEM || strcmp(m1, m2) == 0, "errors differ: %s / %s", m1, m2);
		return 0;
	}
	FUZZ_ASSERT(r && y, "success without a resource");
	if (model_encode_json(r, &json) < 0 || model_encode_json(y, &yjson) < 0)
		return 0;
	FUZZ_ASSERT(strcmp(strbuf_cstr(&json), strbuf_cstr(&yjson)) == 0,
		    "fast path and libyaml decode differently: %s / %s", strbuf_cstr(&json),
		    strbuf_cstr(&yjson));
	return 0;
}
