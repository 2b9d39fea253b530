/* SPDX-License-Identifier: Apache-2.0 */
/*
 * model_k8s_policy_translate(): Kubernetes NetworkPolicy YAML in tests/golden/model/k8s/X.yaml,
 * the Calico NetworkPolicy JSON it becomes in X.json (one per line; UPDATE_GOLDEN=1 rewrites).
 * Every translated policy must also decode again as a valid Calico resource.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "model/model.h"

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "re");
	char *buf;
	long n;

	if (!f)
		return NULL;
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	rewind(f);
	buf = malloc((size_t)n + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

static void test_translate_golden(void **state)
{
	const char *dir = TABBY_SOURCE_DIR "/tests/golden/model/k8s";
	bool update = getenv("UPDATE_GOLDEN") && strcmp(getenv("UPDATE_GOLDEN"), "1") == 0;
	DIR *d = opendir(dir);
	struct dirent *de;
	unsigned seen = 0;

	assert_non_null(d);
	while ((de = readdir(d))) {
		size_t nl = strlen(de->d_name);
		char in[4096], out[4096], msg[1024];
		_cleanup_strbuf_ struct strbuf got = {};
		_cleanup_free_ char *text = NULL, *want = NULL;
		struct parse_err err = {};
		struct model_list l = {};

		if (nl < 6 || strcmp(de->d_name + nl - 5, ".yaml") != 0)
			continue;
		snprintf(in, sizeof(in), "%s/%s", dir, de->d_name);
		snprintf(out, sizeof(out), "%s/%.*s.json", dir, (int)(nl - 5), de->d_name);
		text = slurp(in);
		assert_non_null(text);
		if (model_decode(text, strlen(text), de->d_name, &l, &err) < 0)
			fail_msg("%s", parse_err_format(&err, msg, sizeof(msg)));
		for (size_t i = 0; i < l.n; i++) {
			_cleanup_strbuf_ struct strbuf again = {};
			struct model_resource *cal = NULL, *back = NULL;
			size_t start = got.len;

			assert_int_equal(l.items[i]->kind, MODEL_KIND_K8S_NETWORK_POLICY);
			assert_int_equal(model_k8s_policy_translate(l.items[i], &cal), 0);
			assert_int_equal(cal->kind, MODEL_KIND_NETWORK_POLICY);
			assert_int_equal(cal->source_line, l.items[i]->source_line);
			assert_int_equal(model_encode_json(cal, &got), 0);
			cal = model_resource_free(cal);
			/* the Calico form is itself a valid resource that encodes identically */
			if (model_decode_one(got.buf + start, got.len - start, "translated", &back,
					     &err) < 0)
				fail_msg("%s: %s: %s", de->d_name, got.buf + start,
					 parse_err_format(&err, msg, sizeof(msg)));
			assert_int_equal(model_encode_json(back, &again), 0);
			back = model_resource_free(back);
			assert_string_equal(strbuf_cstr(&again), got.buf + start);
			assert_int_equal(strbuf_puts(&got, "\n"), 0);
		}
		model_list_done(&l);
		if (update) {
			FILE *f = fopen(out, "we");

			assert_non_null(f);
			assert_int_equal(fwrite(got.buf, 1, got.len, f), got.len);
			assert_int_equal(fclose(f), 0);
		}
		want = slurp(out);
		if (!want)
			fail_msg("%s missing; run with UPDATE_GOLDEN=1", out);
		assert_string_equal(strbuf_cstr(&got), want);
		seen++;
	}
	closedir(d);
	assert_true(seen >= 6);
}

static void test_translate_details(void **state)
{
	const char *text = "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n"
			   "  name: a\n  namespace: ns1\nspec:\n  podSelector: {}\n  ingress:\n"
			   "  - from:\n    - podSelector: {matchLabels: {x: y}}\n"
			   "    - ipBlock: {cidr: 198.18.0.0/24}\n";
	struct model_resource *knp = NULL, *cal = NULL;
	struct parse_err err = {};

	assert_int_equal(model_decode_one(text, strlen(text), "a", &knp, &err), 0);
	assert_int_equal(model_k8s_policy_translate(knp, &cal), 0);
	assert_string_equal(cal->meta.name, "knp.default.a");
	assert_string_equal(cal->meta.namespace, "ns1");
	assert_string_equal(cal->policy.tier, "default");
	assert_true(cal->policy.has_order);
	assert_true(cal->policy.order == 1000.0);
	assert_string_equal(cal->policy.selector, "all()");
	assert_true(cal->policy.types_ingress);
	assert_false(cal->policy.types_egress);
	assert_int_equal(cal->policy.n_ingress, 2);
	assert_string_equal(cal->policy.ingress[0].source.selector, "x == 'y'");
	assert_null(cal->policy.ingress[0].source.namespace_selector);
	assert_int_equal(cal->policy.ingress[1].source.n_nets, 1);
	assert_int_equal(cal->policy.ingress[0].action, MODEL_ACTION_ALLOW);
	/* from the datastore: no source lines */
	assert_int_equal(knp->knp.ingress[0].source_line, 0);
	assert_int_equal(cal->policy.ingress[0].source_line, 0);
	model_resource_free(cal);

	/* from a file: the rule's line */
	struct model_list l = {};

	assert_int_equal(model_decode(text, strlen(text), "a", &l, &err), 0);
	assert_int_equal(model_k8s_policy_translate(l.items[0], &cal), 0);
	assert_int_equal(cal->policy.ingress[1].source_line, 9);
	cal = model_resource_free(cal);
	model_list_done(&l);

	/* only a Kubernetes NetworkPolicy translates */
	cal = (struct model_resource *)0x1;
	knp->kind = MODEL_KIND_NAMESPACE;
	assert_int_equal(model_k8s_policy_translate(knp, &cal), -EINVAL);
	assert_ptr_equal(cal, (void *)0x1);
	knp->kind = MODEL_KIND_K8S_NETWORK_POLICY;
	model_resource_free(knp);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_translate_golden),
	    cmocka_unit_test(test_translate_details),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
