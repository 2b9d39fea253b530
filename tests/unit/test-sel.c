/* SPDX-License-Identifier: Apache-2.0 */
/* Calico selectors: table-driven from tests/vectors/selectors.txt (match), selector-errors.txt
 * (parse errors with columns) and selector-canonical.txt (canonical text), plus round trips
 * (format -> parse -> same text), stable hashes, implicit labels through struct sel_subject and
 * the namespace-scope conversion. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "acl/selector.h"

/* Splits @line from the right on " | " into @n fields (the first keeps any earlier " | "). */
static bool split_right(char *line, char **fields, int n)
{
	for (int i = n - 1; i > 0; i--) {
		char *bar = NULL;

		for (char *p = line; (p = strstr(p, " | ")); p++)
			bar = p;
		if (!bar) {
			/* "EXPR | ..." with an empty EXPR starts with " | " handled above; a line
			 * starting with "| " has an empty first field. */
			if (strncmp(line, "| ", 2) == 0 && i == 1) {
				fields[1] = line + 2;
				fields[0] = line + 1;
				line[0] = '\0';
				return true;
			}
			return false;
		}
		*bar = '\0';
		fields[i] = bar + 3;
	}
	fields[0] = line;
	return true;
}

typedef void (*vector_fn)(char **fields, const char *where);

static void for_each_vector(const char *file, int nfields, vector_fn fn, int min_cases)
{
	char path[512], line[1024], where[1600];
	int lineno = 0, cases = 0;
	FILE *f;

	snprintf(path, sizeof(path), "%s/tests/vectors/%s", TABBY_SOURCE_DIR, file);
	f = fopen(path, "re");
	assert_non_null(f);
	while (fgets(line, sizeof(line), f)) {
		char *fields[4] = {0};
		size_t len = strlen(line);

		lineno++;
		while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
			line[--len] = '\0';
		if (line[0] == '#' || len == 0)
			continue;
		snprintf(where, sizeof(where), "%s:%d: %s", file, lineno, line);
		if (!split_right(line, fields, nfields))
			fail_msg("%s: malformed vector", where);
		fn(fields, where);
		cases++;
	}
	fclose(f);
	if (cases < min_cases)
		fail_msg("%s: only %d cases", file, cases);
}

static void parse_labels(char *text, struct model_labels *l)
{
	char *save = NULL;

	if (strcmp(text, "-") == 0)
		return;
	for (char *kv = strtok_r(text, ",", &save); kv; kv = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(kv, '=');

		assert_non_null(eq);
		*eq = '\0';
		assert_int_equal(model_labels_set(l, kv, eq + 1), 0);
	}
}

static void match_vector(char **f, const char *where)
{
	struct model_labels labels = {0};
	struct parse_err err = {0};
	struct sel *s = NULL;
	bool want;

	parse_labels(f[1], &labels);
	if (strcmp(f[2], "true") == 0)
		want = true;
	else if (strcmp(f[2], "false") == 0)
		want = false;
	else
		fail_msg("%s: expected true or false", where);
	if (sel_parse(f[0], &s, &err) < 0)
		fail_msg("%s: parse failed at column %u: %s", where, err.column, err.msg);
	if (sel_match(s, &labels) != want)
		fail_msg("%s: got %s (canonical %s)", where, want ? "false" : "true",
			 sel_canonical(s));

	/* The canonical form means the same thing. */
	{
		struct sel *again = NULL;

		assert_int_equal(sel_parse(sel_canonical(s), &again, &err), 0);
		if (sel_match(again, &labels) != want)
			fail_msg("%s: canonical %s matches differently", where, sel_canonical(s));
		assert_string_equal(sel_canonical(again), sel_canonical(s));
		assert_true(sel_hash(again) == sel_hash(s));
		sel_free(again);
	}
	sel_free(s);
	model_labels_done(&labels);
}

static void test_match_vectors(void **state)
{
	for_each_vector("selectors.txt", 3, match_vector, 75);
}

static void error_vector(char **f, const char *where)
{
	struct parse_err err = {0};
	struct sel *s = (struct sel *)0x1;
	unsigned col = (unsigned)strtoul(f[1], NULL, 10);
	int r;

	r = sel_parse(f[0], &s, &err);
	if (r != -EINVAL)
		fail_msg("%s: parse returned %d, expected -EINVAL", where, r);
	assert_ptr_equal(s, (struct sel *)0x1); /* ret untouched on failure */
	if (err.column != col || !strstr(err.msg, f[2]))
		fail_msg("%s: got column %u \"%s\"", where, err.column, err.msg);
	assert_int_equal(err.line, 1);
	/* NULL reterr is allowed. */
	assert_int_equal(sel_parse(f[0], &s, NULL), -EINVAL);
}

static void test_error_vectors(void **state)
{
	for_each_vector("selector-errors.txt", 3, error_vector, 25);
}

static void canonical_vector(char **f, const char *where)
{
	struct strbuf sb = {0};
	struct sel *s = NULL, *again = NULL;
	struct parse_err err = {0};

	if (sel_parse(f[0], &s, &err) < 0)
		fail_msg("%s: parse failed at column %u: %s", where, err.column, err.msg);
	assert_int_equal(sel_format(s, &sb), 0);
	if (strcmp(strbuf_cstr(&sb), f[1]) != 0)
		fail_msg("%s: got %s", where, strbuf_cstr(&sb));
	assert_int_equal(sel_parse(strbuf_cstr(&sb), &again, &err), 0);
	assert_string_equal(sel_canonical(again), f[1]);
	sel_free(again);
	sel_free(s);
	strbuf_done(&sb);
}

static void test_canonical_vectors(void **state)
{
	for_each_vector("selector-canonical.txt", 2, canonical_vector, 20);
}

static void test_hash(void **state)
{
	struct sel *a = NULL, *b = NULL;
	char hex[SEL_HASH_HEXLEN];

	/* FNV-1a 64 reference values (draft-eastlake-fnv test vectors). */
	assert_true(sel_fnv1a64("", 0) == 0xcbf29ce484222325ULL);
	assert_true(sel_fnv1a64("a", 1) == 0xaf63dc4c8601ec8cULL);
	assert_true(sel_fnv1a64("foobar", 6) == 0x85944171f73967e8ULL);

	assert_int_equal(sel_parse("b=='1'&&a=='1'", &a, NULL), 0);
	assert_int_equal(sel_parse("a == \"1\" && b == \"1\"", &b, NULL), 0);
	assert_true(sel_hash(a) == sel_hash(b));
	{
		const char *canon = "(a == \"1\" && b == \"1\")";

		assert_true(sel_hash(a) == sel_fnv1a64(canon, strlen(canon)));
	}
	assert_int_equal(strlen(sel_hash_hex(a, hex)), 16);
	sel_free(a);
	sel_free(b);
}

static void test_subject(void **state)
{
	struct model_labels own = {0}, nsl = {0};
	struct sel_subject wl = {
	    .labels = &own, .namespace = "prod", .namespace_labels = &nsl, .orchestrator = "k8s"};
	struct sel_subject gns = {.labels = &own};
	static const struct {
		const char *expr;
		bool wl, gns;
	} cases[] = {
	    {"projectcalico.org/namespace == 'prod'", true, false},
	    {"global()", false, true},
	    {"!global()", true, false},
	    {"pcns.env == 'production'", true, false},
	    {"pcns.projectcalico.org/name == 'prod'", true, false},
	    {"has(pcns.env)", true, false},
	    {"projectcalico.org/orchestrator == 'k8s'", true, false},
	    {"app == 'web'", true, true},
	    {"env == 'production'", false, false},
	};

	assert_int_equal(model_labels_set(&own, "app", "web"), 0);
	assert_int_equal(model_labels_set(&nsl, "env", "production"), 0);
	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		struct sel *s = NULL;

		assert_int_equal(sel_parse(cases[i].expr, &s, NULL), 0);
		if (sel_match_subject(s, &wl) != cases[i].wl ||
		    sel_match_subject(s, &gns) != cases[i].gns)
			fail_msg("%s: wl %d gns %d", cases[i].expr, sel_match_subject(s, &wl),
				 sel_match_subject(s, &gns));
		sel_free(s);
	}
	model_labels_done(&own);
	model_labels_done(&nsl);
}

static void test_namespace_scope(void **state)
{
	static const struct {
		const char *nssel, *scoped;
	} cases[] = {
	    {"all()", "has(projectcalico.org/namespace)"},
	    {"", "has(projectcalico.org/namespace)"},
	    {"global()", "global()"},
	    {"env == 'prod'", "pcns.env == \"prod\""},
	    {"env in {'a'} && !has(x)", "(!has(pcns.x) && pcns.env in {\"a\"})"},
	};

	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		struct sel *ns = NULL, *scoped = NULL;

		assert_int_equal(sel_parse(cases[i].nssel, &ns, NULL), 0);
		assert_int_equal(sel_namespace_scope(ns, &scoped), 0);
		assert_string_equal(sel_canonical(scoped), cases[i].scoped);
		sel_free(ns);
		sel_free(scoped);
	}
}

static void test_and_in_namespace(void **state)
{
	struct sel *a = NULL, *ns = NULL, *both = NULL, *all = NULL;

	assert_int_equal(sel_parse("app == 'web' && has(x)", &a, NULL), 0);
	assert_int_equal(sel_in_namespace("prod", &ns), 0);
	assert_string_equal(sel_canonical(ns), "projectcalico.org/namespace == \"prod\"");
	assert_int_equal(sel_and(a, ns, &both), 0);
	assert_string_equal(
	    sel_canonical(both),
	    "(app == \"web\" && has(x) && projectcalico.org/namespace == \"prod\")");
	sel_free(both);
	assert_int_equal(sel_and(NULL, a, &both), 0);
	assert_string_equal(sel_canonical(both), sel_canonical(a));
	sel_free(both);
	assert_int_equal(sel_and(NULL, NULL, &all), 0);
	assert_true(sel_is_all(all));
	assert_int_equal(sel_in_namespace(NULL, &both), -EINVAL);
	sel_free(all);
	sel_free(a);
	sel_free(ns);
}

/* sel_required_values(): the test every selected subject passes, as "key=v1,v2"; "" = none. */
static void test_required_values(void **state)
{
	static const struct {
		const char *sel, *want;
	} v[] = {
	    {"app == 'web'", "app=web"},
	    {"app in {'b', 'a', 'b'}", "app=a,b"},
	    {"app == 'web' && role in {'x', 'y'}", "app=web"},
	    {"role in {'x', 'y'} && has(app)", "role=x,y"},
	    {"projectcalico.org/namespace == 'prod' && role in {'x', 'y'}", "role=x,y"},
	    {"projectcalico.org/namespace == 'prod' && has(role)",
	     "projectcalico.org/namespace=prod"},
	    {"app == 'web' || role == 'x'", ""},
	    {"!app == 'web'", ""},
	    {"app != 'web'", ""},
	    {"app not in {'web'}", ""},
	    {"app in {}", ""},
	    {"has(app)", ""},
	    {"all()", ""},
	    {"global()", ""},
	    {"app contains 'w'", ""},
	    {"(app == 'a' || app == 'b') && has(c)", ""},
	};

	for (size_t i = 0; i < ELEMENTSOF(v); i++) {
		_cleanup_(sel_freep) struct sel *s = NULL;
		_cleanup_strbuf_ struct strbuf out = {0};
		const char *key = NULL;
		char *const *values = NULL;
		size_t n = 0;

		assert_int_equal(sel_parse(v[i].sel, &s, NULL), 0);
		if (sel_required_values(s, &key, &values, &n)) {
			assert_int_equal(strbuf_printf(&out, "%s=", key), 0);
			for (size_t k = 0; k < n; k++)
				assert_int_equal(
				    strbuf_printf(&out, "%s%s", k ? "," : "", values[k]), 0);
		}
		if (strcmp(strbuf_cstr(&out), v[i].want) != 0)
			fail_msg("%s: got \"%s\", want \"%s\"", v[i].sel, strbuf_cstr(&out),
				 v[i].want);
	}
}

static void test_limits(void **state)
{
	char deep[SEL_MAX_DEPTH * 2 + 32];
	struct parse_err err = {0};
	struct sel *s = NULL;
	size_t n = 0;
	char *big;

	for (int i = 0; i < SEL_MAX_DEPTH + 1; i++)
		deep[n++] = '(';
	snprintf(deep + n, sizeof(deep) - n, "has(a)");
	assert_int_equal(sel_parse(deep, &s, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "nested deeper"));
	memset(deep, '!', SEL_MAX_DEPTH + 1);
	snprintf(deep + SEL_MAX_DEPTH + 1, sizeof(deep) - SEL_MAX_DEPTH - 1, "has(a)");
	assert_int_equal(sel_parse(deep, &s, &err), -EINVAL);

	big = malloc(SEL_MAX_TEXT + 2);
	assert_non_null(big);
	memset(big, ' ', SEL_MAX_TEXT + 1);
	big[SEL_MAX_TEXT + 1] = '\0';
	assert_int_equal(sel_parse(big, &s, &err), -EINVAL);
	free(big);
	assert_int_equal(sel_parse(NULL, &s, NULL), 0);
	assert_true(sel_is_all(s));
	sel_free(s);
	assert_null(sel_free(NULL));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_match_vectors),     cmocka_unit_test(test_error_vectors),
	    cmocka_unit_test(test_canonical_vectors), cmocka_unit_test(test_hash),
	    cmocka_unit_test(test_subject),	      cmocka_unit_test(test_namespace_scope),
	    cmocka_unit_test(test_and_in_namespace),  cmocka_unit_test(test_limits),
	    cmocka_unit_test(test_required_values),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
