/* SPDX-License-Identifier: Apache-2.0 */
/* model_decode_one(): one resource as the datastore stores it (JSON; YAML is accepted too). */
#include "model/model.h"
#include "lib/strbuf.h"
#include "tests/fuzz/fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	_cleanup_(model_resource_freep) struct model_resource *r = NULL;
	_cleanup_strbuf_ struct strbuf json = {0};
	struct parse_err err = {0};

	fuzz_setup();
	if (size > FUZZ_MAX_INPUT)
		return 0;
	if (model_decode_one((const char *)data, size, "value", &r, &err) < 0)
		return 0;
	FUZZ_ASSERT(r, "success without a resource");
	(void)!model_encode_json(r, &json);
	return 0;
}
