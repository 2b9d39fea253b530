/* SPDX-License-Identifier: Apache-2.0 */
/*
 * model_k8s_policy_translate() on every Kubernetes NetworkPolicy that model_decode() accepts. The
 * Calico policy it produces is what felix compiles, so its JSON form must decode and validate.
 */
#include <errno.h>

#include "model/model.h"
#include "lib/strbuf.h"
#include "tests/fuzz/fuzz.h"

static void check_translation(const struct model_resource *knp)
{
	_cleanup_(model_resource_freep) struct model_resource *cp = NULL, *back = NULL;
	_cleanup_strbuf_ struct strbuf json = {0};
	struct parse_err err = {0};
	char msg[1024];
	int r;

	r = model_k8s_policy_translate(knp, &cp);
	if (r == -ENOMEM)
		return;
	FUZZ_ASSERT(r >= 0, "translate failed: %d", r);
	FUZZ_ASSERT(cp->kind == MODEL_KIND_NETWORK_POLICY, "kind %d", cp->kind);
	if (model_encode_json(cp, &json) < 0)
		return;
	r = model_decode_one(json.buf, json.len, "translated", &back, &err);
	FUZZ_ASSERT(r >= 0, "translated policy does not decode: %s\n%s",
		    parse_err_format(&err, msg, sizeof(msg)), strbuf_cstr(&json));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct model_list l = {0};
	struct parse_err err = {0};

	fuzz_setup();
	if (size > FUZZ_MAX_INPUT)
		return 0;
	if (model_decode((const char *)data, size, "knp.yaml", &l, &err) < 0)
		return 0;
	for (size_t i = 0; i < l.n; i++)
		if (l.items[i]->kind == MODEL_KIND_K8S_NETWORK_POLICY)
			check_translation(l.items[i]);
	model_list_done(&l);
	return 0;
}
