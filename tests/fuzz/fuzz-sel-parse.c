/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sel_parse() on arbitrary text. A parsed selector's canonical form (sel_format) must parse again
 * to the same canonical text and hash (set names are derived from it), and matching must not
 * crash on a few label sets.
 */
#include "acl/selector.h"
#include "lib/strbuf.h"
#include "model/model.h"
#include "tests/fuzz/fuzz.h"

static struct model_labels labels[3];

static void labels_setup(void)
{
	static int done;

	if (done)
		return;
	done = 1;
	(void)!model_labels_set(&labels[1], "app", "web");
	(void)!model_labels_set(&labels[1], "tier", "frontend");
	(void)!model_labels_set(&labels[2], "app", "db");
	(void)!model_labels_set(&labels[2], "projectcalico.org/namespace", "prod");
	(void)!model_labels_set(&labels[2], "x", "");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	_cleanup_(sel_freep) struct sel *s = NULL, *s2 = NULL;
	_cleanup_strbuf_ struct strbuf out = {0};
	_cleanup_free_ char *text = NULL;
	struct parse_err err = {0};
	const char *canon;
	int r;

	fuzz_setup();
	labels_setup();
	if (size > FUZZ_MAX_INPUT)
		return 0;
	text = fuzz_strndup(data, size);
	if (!text)
		return 0;
	if (sel_parse(text, &s, &err) < 0)
		return 0;
	canon = sel_canonical(s);
	FUZZ_ASSERT(canon, "no canonical text for \"%s\"", text);
	if (sel_format(s, &out) < 0)
		return 0;
	FUZZ_ASSERT(strcmp(strbuf_cstr(&out), canon) == 0, "sel_format \"%s\" != canonical \"%s\"",
		    strbuf_cstr(&out), canon);

	r = sel_parse(canon, &s2, &err);
	FUZZ_ASSERT(r >= 0, "canonical \"%s\" of \"%s\" does not parse: %d:%u: %s", canon, text, r,
		    err.column, err.msg);
	FUZZ_ASSERT(strcmp(sel_canonical(s2), canon) == 0,
		    "canonical form not stable: \"%s\" -> \"%s\" -> \"%s\"", text, canon,
		    sel_canonical(s2));
	FUZZ_ASSERT(sel_hash(s2) == sel_hash(s), "hash differs for \"%s\"", canon);

	for (size_t i = 0; i < ELEMENTSOF(labels); i++)
		FUZZ_ASSERT(sel_match(s, &labels[i]) == sel_match(s2, &labels[i]),
			    "\"%s\" and its canonical form \"%s\" match label set %zu differently",
			    text, canon, i);
	(void)sel_match(s, NULL);
	(void)sel_is_all(s);
	return 0;
}
