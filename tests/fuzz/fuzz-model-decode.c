/* SPDX-License-Identifier: Apache-2.0 */
/*
 * model_decode() over YAML/JSON manifests of every kind. For every resource that decodes: the
 * JSON and YAML encoders run, and the JSON form (what tabbyctl stores and felix reads back with
 * model_decode_one()) must decode again to the same JSON.
 */
#include <errno.h>

#include "model/model.h"
#include "lib/strbuf.h"
#include "tests/fuzz/fuzz.h"

static void check_resource(const struct model_resource *r)
{
	_cleanup_strbuf_ struct strbuf json = {0}, json2 = {0}, yaml = {0}, key = {0};
	_cleanup_(model_resource_freep) struct model_resource *back = NULL;
	struct parse_err err = {0};
	char msg[1024];
	int k;

	FUZZ_ASSERT(model_kind_to_string(r->kind), "kind %d", r->kind);
	if (model_encode_json(r, &json) < 0 || model_encode_yaml(r, &yaml) < 0)
		return; /* ENOMEM */
	(void)!model_key(r->kind, r->meta.namespace, r->meta.name, &key);

	k = model_decode_one(json.buf, json.len, "json", &back, &err);
	FUZZ_ASSERT(k >= 0, "encoded JSON does not decode: %s\n%s",
		    parse_err_format(&err, msg, sizeof(msg)), strbuf_cstr(&json));
	if (model_encode_json(back, &json2) < 0)
		return;
	FUZZ_ASSERT(strcmp(strbuf_cstr(&json), strbuf_cstr(&json2)) == 0,
		    "JSON round trip differs:\n%s\n%s", strbuf_cstr(&json), strbuf_cstr(&json2));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct model_list l = {0};
	struct parse_err err = {0};

	fuzz_setup();
	if (size > FUZZ_MAX_INPUT)
		return 0;
	if (model_decode((const char *)data, size, "fuzz.yaml", &l, &err) < 0)
		return 0;
	for (size_t i = 0; i < l.n; i++)
		check_resource(l.items[i]);
	model_list_done(&l);
	return 0;
}
