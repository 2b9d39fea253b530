/* SPDX-License-Identifier: Apache-2.0 */
/*
 * model/: valid manifests round-trip through encode and decode, golden YAML -> JSON files, and
 * every invalid manifest fails with the exact "file:line:col: field: message" text.
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

#include "model/model-internal.h"
#include "model/model.h"

#define POOL_HEAD "apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata:\n  name: p1\n"

/* Decode @text, encode every resource as JSON (one per line) into @out. */
static int decode_to_json(const char *text, const char *file, struct strbuf *out,
			  struct parse_err *err)
{
	struct model_list l = {};
	int r = model_decode(text, strlen(text), file, &l, err);

	if (r < 0)
		return r;
	for (size_t i = 0; i < l.n && r >= 0; i++) {
		r = model_encode_json(l.items[i], out);
		if (r >= 0)
			r = strbuf_puts(out, "\n");
	}
	model_list_done(&l);
	return r;
}

static const char *const valid_inputs[] = {
    POOL_HEAD "spec:\n  cidr: 198.19.0.0/16\n",
    POOL_HEAD "spec:\n  cidr: 198.19.0.0/16\n  blockSize: 20\n  natOutgoing: true\n"
	      "  disabled: true\n  nodeSelector: \"rack == 'r1'\"\n  allowedUses: [Workload]\n",
    POOL_HEAD "spec:\n  cidr: 2001:db8::/64\n  blockSize: 128\n  disableBGPExport: true\n",
    "{\"apiVersion\":\"projectcalico.org/v3\",\"kind\":\"IPPool\",\"metadata\":{\"name\":\"x.y\","
    "\"labels\":{\"a/b\":\"\",\"k\":\"true\",\"n\":\"123\"}},\"spec\":{\"cidr\":\"198.18.0.0/15\","
    "\"ipipMode\":\"Never\"}}",
    "apiVersion: projectcalico.org/v3\nkind: Node\nmetadata:\n  name: h1\nspec: {}\n",
    POOL_HEAD "spec:\n  cidr: 198.19.0.0/16\n  vxlanMode: Always\n  ipipMode: Never\n",
    POOL_HEAD "spec:\n  cidr: 198.19.0.0/16\n  vxlanMode: CrossSubnet\n",
    POOL_HEAD "spec:\n  cidr: 198.19.0.0/16\n  vxlanMode: Never\n",
    "apiVersion: projectcalico.org/v3\nkind: Node\nmetadata:\n  name: h1\nspec:\n  bgp:\n"
    "    ipv4Address: 198.18.1.2/24\n  ipv4VXLANTunnelAddr: 198.19.0.1\n"
    "  vxlanTunnelMACAddr: 66:7C:01:02:03:04\n",
    "apiVersion: projectcalico.org/v3\nkind: Node\nmetadata:\n  name: h1\nspec:\n  bgp:\n"
    "    ipv4Address: 198.18.0.11\n    asNumber: 4294967295\n",
    "apiVersion: projectcalico.org/v3\nkind: WorkloadEndpoint\nmetadata:\n  name: w\n"
    "  labels: {app: \"web\", \"yes\": \"no\"}\nspec:\n  orchestrator: k8s\n  node: h1\n"
    "  interfaceName: tbyabc\n  ipNetworks: []\n",
    "apiVersion: projectcalico.org/v3\nkind: BGPConfiguration\nmetadata:\n  name: default\n"
    "spec:\n  nodeToNodeMeshEnabled: false\n  asNumber: \"65000.1\"\n",
    "apiVersion: projectcalico.org/v3\nkind: BGPConfiguration\nmetadata:\n  name: default\n"
    "  uid: \"0\"\n  resourceVersion: \"7\"\n  creationTimestamp: null\n",
};

/* Decode, encode as JSON and YAML, decode both again: every form must give the same JSON. */
static void test_round_trip(void **state)
{
	for (size_t i = 0; i < ELEMENTSOF(valid_inputs); i++) {
		_cleanup_strbuf_ struct strbuf j1 = {}, j2 = {}, j3 = {}, y = {};
		struct parse_err err = {};
		char buf[1024];
		struct model_list l = {};
		int r = model_decode(valid_inputs[i], strlen(valid_inputs[i]), "in.yaml", &l, &err);

		if (r < 0)
			fail_msg("input %zu: %s", i, parse_err_format(&err, buf, sizeof(buf)));
		assert_int_equal(l.n, 1);
		assert_int_equal(l.items[0]->source_line, 1);
		assert_int_equal(model_encode_json(l.items[0], &j1), 0);
		assert_int_equal(model_encode_yaml(l.items[0], &y), 0);
		model_list_done(&l);
		assert_true(
		    strncmp(strbuf_cstr(&y), "---\napiVersion: projectcalico.org/v3\n", 37) == 0);

		struct model_resource *res = NULL;

		r = model_decode_one(strbuf_cstr(&j1), j1.len, "json", &res, &err);
		if (r < 0)
			fail_msg("input %zu: %s in %s", i, parse_err_format(&err, buf, sizeof(buf)),
				 strbuf_cstr(&j1));
		assert_int_equal(res->source_line, 0);
		assert_int_equal(model_encode_json(res, &j2), 0);
		res = model_resource_free(res);
		assert_string_equal(strbuf_cstr(&j1), strbuf_cstr(&j2));

		r = decode_to_json(strbuf_cstr(&y), "yaml", &j3, &err);
		if (r < 0)
			fail_msg("input %zu: %s in\n%s", i,
				 parse_err_format(&err, buf, sizeof(buf)), strbuf_cstr(&y));
		assert_int_equal(strbuf_puts(&j2, "\n"), 0);
		assert_string_equal(strbuf_cstr(&j2), strbuf_cstr(&j3));
	}
}

static char *read_file(const char *path, size_t *ret_len)
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
	*ret_len = (size_t)n;
	return buf;
}

/*
 * model_decode_one() (JSON fast path, model/json-tree.c) and model_decode_one_yaml() (libyaml
 * only) must agree on @text: the same verdict, the same error text, the same resource.
 */
static void assert_json_paths_agree(const char *text, size_t len)
{
	_cleanup_strbuf_ struct strbuf a = {}, b = {};
	struct model_resource *ra = NULL, *rb = NULL;
	struct parse_err ea = {}, eb = {};
	char ma[1024], mb[1024];
	int r1 = model_decode_one(text, len, "value", &ra, &ea);
	int r2 = model_decode_one_yaml(text, len, "value", &rb, &eb);

	if (r1 != r2)
		fail_msg("fast path %d, libyaml %d (%s) on %.*s", r1, r2,
			 parse_err_format(&eb, mb, sizeof(mb)), (int)len, text);
	if (r1 < 0) {
		assert_string_equal(parse_err_format(&ea, ma, sizeof(ma)),
				    parse_err_format(&eb, mb, sizeof(mb)));
		return;
	}
	assert_int_equal(model_encode_json(ra, &a), 0);
	assert_int_equal(model_encode_json(rb, &b), 0);
	model_resource_free(ra);
	model_resource_free(rb);
	assert_string_equal(strbuf_cstr(&a), strbuf_cstr(&b));
}

#define FAST_POOL "{\"apiVersion\":\"projectcalico.org/v3\",\"kind\":\"IPPool\","

/* Texts where json-c and libyaml could read different trees: the fast path declines them. */
static void test_json_fast_path(void **state)
{
	static const struct {
		const char *text;
		int want; /* mnode_parse_json(): 0 taken, 1 declined */
	} cases[] = {
	    {FAST_POOL "\"metadata\":{\"name\":\"p\"},\"spec\":{\"cidr\":\"198.19.0.0/16\"}}", 0},
	    /* ':' inside strings is counted; an escaped quote does not end a string */
	    {FAST_POOL "\"metadata\":{\"name\":\"p\",\"labels\":{\"a:b\":\"x\\\":y\"}},"
		       "\"spec\":{\"cidr\":\"198.19.0.0/16\",\"nodeSelector\":\"a == 'b:c'\"}}",
	     0},
	    /* decoding fails: libyaml parses again for the error's column */
	    {FAST_POOL "\"metadata\":{\"name\":\"p\"},\"spec\":{\"cidr\":\"bogus\"}}", 0},
	    {FAST_POOL "\"metadata\":{\"name\":\"p\"},\"spec\":{\"cidr\":\"198.19.0.0/16\","
		       "\"blockSize\":28.0}}",
	     0},
	    /* json-c keeps the last of two equal keys, libyaml reports both */
	    {FAST_POOL "\"metadata\":{\"name\":\"p\",\"name\":\"q\"},\"spec\":{\"cidr\":"
		       "\"198.19.0.0/16\"}}",
	     1},
	    {FAST_POOL "\"metadata\":{\"name\":\"p\"},\"spec\":{\"cidr\":\"198.19.0.0/16\"},"
		       "\"spec\":{\"cidr\":\"198.19.0.0/16\"}}",
	     1},
	    /* json-c prints -0 as 0 and clamps what does not fit 64 bits; 0 and "-0," in a string
	       are fine */
	    {FAST_POOL "\"metadata\":{\"name\":\"p\",\"labels\":{\"a\":\"b-0,\"}},\"spec\":{"
		       "\"cidr\":\"198.19.0.0/16\",\"blockSize\":0}}",
	     0},
	    {FAST_POOL "\"metadata\":{\"name\":\"p\"},\"spec\":{\"cidr\":\"198.19.0.0/16\","
		       "\"blockSize\":-0}}",
	     1},
	    {FAST_POOL "\"metadata\":{\"name\":\"p\"},\"spec\":{\"cidr\":\"198.19.0.0/16\","
		       "\"blockSize\":123456789012345678901234}}",
	     1},
	    /* "\u" could make a ':' the count does not see */
	    {FAST_POOL
	     "\"metadata\":{\"name\":\"p\\u003a\"},\"spec\":{\"cidr\":\"198.19.0.0/16\"}}",
	     1},
	    /* tab, newline, DEL and UTF-8: YAML rules differ from JSON's */
	    {FAST_POOL "\"metadata\":{\"name\":\"p\"},\t\"spec\":{\"cidr\":\"198.19.0.0/16\"}}", 1},
	    {FAST_POOL "\"metadata\":{\"name\":\"p\"},\n\"spec\":{\"cidr\":\"198.19.0.0/16\"}}", 1},
	    {FAST_POOL "\"metadata\":{\"name\":\"p\x7f\"},\"spec\":{\"cidr\":\"198.19.0.0/16\"}}",
	     1},
	    {FAST_POOL
	     "\"metadata\":{\"name\":\"p\xc3\xa9\"},\"spec\":{\"cidr\":\"198.19.0.0/16\"}}",
	     1},
	    /* deeper than the fast path's 16 levels */
	    {FAST_POOL "\"metadata\":{\"name\":\"p\"},\"spec\":{\"cidr\":\"198.19.0.0/16\","
		       "\"x\":[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]}}",
	     1},
	    {FAST_POOL "\"metadata\":{\"name\":\"p\"},\"spec\":{\"cidr\":\"198.19.0.0/16\","
		       "\"x\":[[[[[[[[[[[[[1]]]]]]]]]]]]]}}",
	     0},
	    /* not strict JSON, trailing bytes, not an object, YAML */
	    {FAST_POOL "\"metadata\":{'name':\"p\"},\"spec\":{\"cidr\":\"198.19.0.0/16\"}}", 1},
	    {FAST_POOL "\"metadata\":{\"name\":\"p\"},\"spec\":{\"cidr\":\"198.19.0.0/16\"}} x", 1},
	    {FAST_POOL "\"metadata\":{\"name\":\"p\"},\"spec\":{\"cidr\":\"198.19.0.0/16\"},}", 1},
	    {" " FAST_POOL "\"metadata\":{\"name\":\"p\"},\"spec\":{\"cidr\":\"198.19.0.0/16\"}}",
	     1},
	    {"[1]", 1},
	    {"kind: IPPool", 1},
	    {"{", 1},
	};

	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		struct mnode *tree = NULL;
		size_t len = strlen(cases[i].text);
		int r = mnode_parse_json(cases[i].text, len, &tree);

		if (r != cases[i].want)
			fail_msg("case %zu: mnode_parse_json() %d, want %d", i, r, cases[i].want);
		assert_true((tree != NULL) == (r == 0));
		mnode_free(tree);
		assert_json_paths_agree(cases[i].text, len);
	}

	/* a key libyaml refuses as too long for a simple key */
	_cleanup_strbuf_ struct strbuf k = {};
	struct mnode *tree = NULL;

	assert_int_equal(strbuf_puts(&k, FAST_POOL "\"metadata\":{\"name\":\"p\",\"labels\":{\""),
			 0);
	for (int i = 0; i < 1100; i++)
		assert_int_equal(strbuf_puts(&k, "k"), 0);
	assert_int_equal(strbuf_puts(&k, "\":\"v\"}},\"spec\":{\"cidr\":\"198.19.0.0/16\"}}"), 0);
	assert_int_equal(mnode_parse_json(k.buf, k.len, &tree), 1);
	assert_json_paths_agree(k.buf, k.len);

	/* an error found after the fast path names libyaml's column */
	struct model_resource *res = NULL;
	struct parse_err err = {};
	const char *bad = FAST_POOL "\"metadata\":{\"name\":\"p\"},\"spec\":{\"cidr\":\"bogus\"}}";

	assert_int_equal(model_decode_one(bad, strlen(bad), "value", &res, &err), -EINVAL);
	assert_int_equal(err.line, 1);
	assert_int_equal(err.column, (unsigned)(strstr(bad, "\"bogus") - bad) + 1);
	assert_string_equal(err.field, "spec.cidr");
}

/* tests/golden/model/X.yaml -> X.json (one resource per line); UPDATE_GOLDEN=1 rewrites. */
static void test_golden(void **state)
{
	const char *dir = TABBY_SOURCE_DIR "/tests/golden/model";
	bool update = getenv("UPDATE_GOLDEN") && strcmp(getenv("UPDATE_GOLDEN"), "1") == 0;
	DIR *d = opendir(dir);
	struct dirent *de;
	unsigned seen = 0;

	assert_non_null(d);
	while ((de = readdir(d))) {
		size_t nl = strlen(de->d_name), len, glen;
		char in[4096], out[4096], msg[1024];
		_cleanup_strbuf_ struct strbuf got = {};
		_cleanup_free_ char *text = NULL, *want = NULL;
		struct parse_err err = {};

		if (nl < 6 || strcmp(de->d_name + nl - 5, ".yaml") != 0)
			continue;
		snprintf(in, sizeof(in), "%s/%s", dir, de->d_name);
		snprintf(out, sizeof(out), "%s/%.*s.json", dir, (int)(nl - 5), de->d_name);
		text = read_file(in, &len);
		assert_non_null(text);
		if (decode_to_json(text, de->d_name, &got, &err) < 0)
			fail_msg("%s", parse_err_format(&err, msg, sizeof(msg)));
		if (update) {
			FILE *f = fopen(out, "we");

			assert_non_null(f);
			assert_int_equal(fwrite(got.buf, 1, got.len, f), got.len);
			assert_int_equal(fclose(f), 0);
		}
		want = read_file(out, &glen);
		if (!want)
			fail_msg("%s missing; run with UPDATE_GOLDEN=1", out);
		assert_string_equal(strbuf_cstr(&got), want);
		/* every golden resource also round-trips through its JSON and YAML forms */
		for (const char *line = want; *line;) {
			size_t ll = strcspn(line, "\n");
			_cleanup_strbuf_ struct strbuf j = {}, y = {}, j2 = {};
			struct model_resource *res = NULL;

			/* the JSON fast path takes every golden line, and libyaml reads the same */
			struct mnode *tree = NULL;

			assert_int_equal(mnode_parse_json(line, ll, &tree), 0);
			tree = mnode_free(tree);
			assert_json_paths_agree(line, ll);
			if (model_decode_one(line, ll, "golden", &res, &err) < 0)
				fail_msg("%s: %s", de->d_name,
					 parse_err_format(&err, msg, sizeof(msg)));
			assert_int_equal(model_encode_json(res, &j), 0);
			assert_int_equal(model_encode_yaml(res, &y), 0);
			res = model_resource_free(res);
			assert_int_equal(j.len, ll);
			assert_memory_equal(j.buf, line, ll);
			if (decode_to_json(strbuf_cstr(&y), "yaml", &j2, &err) < 0)
				fail_msg("%s: %s in\n%s", de->d_name,
					 parse_err_format(&err, msg, sizeof(msg)), strbuf_cstr(&y));
			assert_int_equal(j2.len, ll + 1);
			assert_memory_equal(j2.buf, line, ll);
			line += ll + (line[ll] == '\n');
		}
		seen++;
	}
	closedir(d);
	assert_true(seen >= 4);
}

struct bad_case {
	const char *text;
	const char *error;
};

static const struct bad_case bad_cases[] = {
    {POOL_HEAD "spec:\n  cidr: 10.0.0.0/33\n",
     "pool.yaml:6:9: spec.cidr: invalid CIDR \"10.0.0.0/33\""},
    {POOL_HEAD "spec:\n  cidr: 198.19.0.1/16\n",
     "pool.yaml:6:9: spec.cidr: invalid CIDR \"198.19.0.1/16\": host bits are set (network is "
     "198.19.0.0/16)"},
    {POOL_HEAD "spec:\n  cidr: 198.19.0.0\n",
     "pool.yaml:6:9: spec.cidr: invalid CIDR \"198.19.0.0\""},
    {POOL_HEAD "spec:\n  cidr: 198.19.0.0/16\n  blockSize: 19\n",
     "pool.yaml:7:14: spec.blockSize: must be between 20 and 32 for an IPv4 pool"},
    {POOL_HEAD "spec:\n  blockSize: 26\n  cidr: 2001:db8::/48\n",
     "pool.yaml:6:14: spec.blockSize: must be between 116 and 128 for an IPv6 pool"},
    {POOL_HEAD "spec:\n  cidr: 2001:db8:19::/112\n  blockSize: 115\n",
     "pool.yaml:7:14: spec.blockSize: must be between 116 and 128 for an IPv6 pool"},
    {POOL_HEAD "spec:\n  cidr: 2001:db8:19::/112\n  blockSize: 129\n",
     "pool.yaml:7:14: spec.blockSize: must be between 116 and 128 for an IPv6 pool"},
    {POOL_HEAD "spec:\n  cidr: 2001:db8:19::/124\n",
     "pool.yaml:6:9: spec.cidr: pool /124 is smaller than one block (blockSize 122): the "
     "prefix length must be at most the block size"},
    {POOL_HEAD "spec:\n  cidr: 198.19.0.0/28\n",
     "pool.yaml:6:9: spec.cidr: pool /28 is smaller than one block (blockSize 26): the prefix "
     "length must be at most the block size"},
    {POOL_HEAD "spec:\n  cidr: 169.254.0.0/16\n",
     "pool.yaml:6:9: spec.cidr: overlaps with the link-local range 169.254.0.0/16"},
    {POOL_HEAD "spec:\n  cidr: 198.19.0.0/16\n  blockSize: \"26\"\n",
     "pool.yaml:7:14: spec.blockSize: must be an integer"},
    {POOL_HEAD "spec:\n  cidr: 198.19.0.0/16\n  ipipMode: Always\n",
     "pool.yaml:7:13: spec.ipipMode: \"Always\" is not supported: this kernel has no IPIP, so "
     "tabby has none; only Never is supported (use vxlanMode: Always to encapsulate)"},
    {POOL_HEAD "spec:\n  cidr: 198.19.0.0/16\n  ipipMode: CrossSubnet\n  vxlanMode: Never\n",
     "pool.yaml:7:13: spec.ipipMode: \"CrossSubnet\" is not supported: this kernel has no IPIP, so "
     "tabby has none; only Never is supported (use vxlanMode: CrossSubnet to encapsulate)"},
    {POOL_HEAD "spec:\n  cidr: 198.19.0.0/16\n  vxlanMode: Sometimes\n",
     "pool.yaml:7:14: spec.vxlanMode: \"Sometimes\": must be Always, CrossSubnet or Never"},
    {POOL_HEAD "spec:\n  cidr: 2001:db8::/64\n  vxlanMode: Always\n",
     "pool.yaml:7:14: spec.vxlanMode: VXLAN is supported for IPv4 pools only"},
    {"apiVersion: projectcalico.org/v3\nkind: Node\nmetadata:\n  name: h1\nspec:\n"
     "  ipv4VXLANTunnelAddr: 2001:db8::1\n",
     "-:6:24: spec.ipv4VXLANTunnelAddr: invalid IPv4 address \"2001:db8::1\""},
    {"apiVersion: projectcalico.org/v3\nkind: Node\nmetadata:\n  name: h1\nspec:\n"
     "  vxlanTunnelMACAddr: 66:7c\n",
     "-:6:23: spec.vxlanTunnelMACAddr: invalid MAC address \"66:7c\""},
    {POOL_HEAD "spec:\n  cidr: 198.19.0.0/16\n  natOutgoing: \"yes\"\n",
     "pool.yaml:7:16: spec.natOutgoing: must be a boolean (true or false)"},
    {POOL_HEAD "spec:\n  cidr: 198.19.0.0/16\n  ipip:\n    enabled: false\n",
     "pool.yaml:7:3: spec.ipip: unknown field"},
    {POOL_HEAD "spec:\n  cidr: 198.19.0.0/16\n  cidr: 198.20.0.0/16\n",
     "pool.yaml:7:3: spec.cidr: duplicate field"},
    {POOL_HEAD "spec:\n  blockSize: 26\n", "pool.yaml:6:3: spec.cidr: required"},
    {POOL_HEAD, "pool.yaml:1:1: spec.cidr: required"},
    {POOL_HEAD "  color: blue\nspec:\n  cidr: 198.19.0.0/16\n",
     "pool.yaml:5:3: metadata.color: unknown field"},
    {POOL_HEAD "spec:\n  cidr: 198.19.0.0/16\nstatus: {}\n",
     "pool.yaml:7:1: status: unknown field"},
    {"apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata:\n  name: Pool_1\nspec:\n"
     "  cidr: 198.19.0.0/16\n",
     "pool.yaml:4:9: metadata.name: must be a lower-case RFC 1123 subdomain"},
    {"apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata:\n  name: 12\nspec:\n"
     "  cidr: 198.19.0.0/16\n",
     "pool.yaml:4:9: metadata.name: must be a string"},
    {"apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata:\n  namespace: x\n",
     "pool.yaml:4:14: metadata.namespace: must not be set: IPPool is cluster-scoped"},
    {"apiVersion: projectcalico.org/v3\nkind: IPPool\nspec:\n  cidr: 198.19.0.0/16\n",
     "pool.yaml:1:1: metadata.name: required"},
    {"apiVersion: projectcalico.org/v3\nmetadata:\n  name: p1\n", "pool.yaml:1:1: kind: required"},
    {"apiVersion: projectcalico.org/v3\nkind: IPPools\n",
     "pool.yaml:2:7: kind: unknown kind \"IPPools\" (tabby knows IPPool, Node, WorkloadEndpoint, "
     "BGPConfiguration, BGPPeer, NetworkPolicy, GlobalNetworkPolicy, Tier, NetworkSet, "
     "GlobalNetworkSet, HostEndpoint, Profile, FelixConfiguration; v1 Namespace; "
     "networking.k8s.io/v1 NetworkPolicy)"},
    {"apiVersion: projectcalico.org/v1\nkind: IPPool\n",
     "pool.yaml:1:13: apiVersion: must be projectcalico.org/v3, not \"projectcalico.org/v1\""},
    {"kind: IPPool\nmetadata:\n  name: p1\n", "pool.yaml:1:1: apiVersion: required"},
    {POOL_HEAD "spec:\n  cidr: [198.19.0.0/16\n",
     "pool.yaml:7:1: invalid YAML: did not find expected ',' or ']' while parsing a flow "
     "sequence"},
    {POOL_HEAD "spec:\n\tcidr: 198.19.0.0/16\n",
     "pool.yaml:6:1: invalid YAML: a tab character; YAML indents with spaces, never tabs"},
    {"- a\n- b\n", "pool.yaml:1:1: a document must be a mapping (a resource or a List)"},
    {POOL_HEAD "  labels:\n    Bad Key: x\nspec:\n  cidr: 198.19.0.0/16\n",
     "pool.yaml:6:5: metadata.labels.Bad Key: invalid label key: must be a qualified name ([DNS "
     "subdomain \"/\"] name of at most 63 characters of [A-Za-z0-9-_.], starting and ending with "
     "an alphanumeric)"},
    {POOL_HEAD "  labels:\n    app: -web\nspec:\n  cidr: 198.19.0.0/16\n",
     "pool.yaml:6:10: metadata.labels.app: invalid label value \"-web\": must be at most 63 "
     "characters of [A-Za-z0-9-_.], starting and ending with an alphanumeric"},
    {POOL_HEAD "  labels:\n    on: true\nspec:\n  cidr: 198.19.0.0/16\n",
     "pool.yaml:6:9: metadata.labels.on: must be a string"},
    {"apiVersion: projectcalico.org/v3\nkind: Node\nmetadata:\n  name: h1\nspec:\n  bgp:\n"
     "    ipv4Address: 2001:db8::11/64\n",
     "node.yaml:7:18: spec.bgp.ipv4Address: \"2001:db8::11/64\" is not an IPv4 address"},
    {"apiVersion: projectcalico.org/v3\nkind: Node\nmetadata:\n  name: h1\nspec:\n  bgp:\n"
     "    ipv6Address: 198.18.0.11/24\n",
     "node.yaml:7:18: spec.bgp.ipv6Address: \"198.18.0.11/24\" is not an IPv6 address"},
    {"apiVersion: projectcalico.org/v3\nkind: Node\nmetadata:\n  name: h1\nspec:\n  bgp:\n"
     "    ipv4Address: 198.18.0.311/24\n",
     "node.yaml:7:18: spec.bgp.ipv4Address: invalid address \"198.18.0.311/24\": want an address "
     "with its subnet length, e.g. 198.18.0.11/24"},
    {"apiVersion: projectcalico.org/v3\nkind: Node\nmetadata:\n  name: h1\nspec:\n  bgp:\n"
     "    asNumber: 4294967296\n",
     "node.yaml:7:15: spec.bgp.asNumber: invalid AS number \"4294967296\": must be 1..4294967295 "
     "or asdot \"A.B\""},
    {"apiVersion: projectcalico.org/v3\nkind: Node\nmetadata:\n  name: h1\nspec:\n  bgp:\n"
     "    asNumber: 0\n",
     "node.yaml:7:15: spec.bgp.asNumber: invalid AS number \"0\": must be 1..4294967295 or asdot "
     "\"A.B\""},
    {"apiVersion: projectcalico.org/v3\nkind: Node\nmetadata:\n  name: h1\nspec:\n  bgp:\n"
     "    asNumber: 1.65536\n",
     "node.yaml:7:15: spec.bgp.asNumber: invalid AS number \"1.65536\": must be 1..4294967295 or "
     "asdot \"A.B\""},
    {"apiVersion: projectcalico.org/v3\nkind: Node\nmetadata:\n  name: h1\nspec:\n  bgp:\n"
     "    routeReflectorClusterID: 1.2.3\n",
     "node.yaml:7:30: spec.bgp.routeReflectorClusterID: must be a dotted-quad IPv4 address"},
    {"apiVersion: projectcalico.org/v3\nkind: WorkloadEndpoint\nmetadata:\n  name: w\nspec:\n"
     "  orchestrator: cni\n  node: h1\n  containerID: c1\n  interfaceName: tby1\n"
     "  mac: ee:ee:ee:ee:ee\n",
     "wep.yaml:10:8: spec.mac: invalid MAC address \"ee:ee:ee:ee:ee\""},
    {"apiVersion: projectcalico.org/v3\nkind: WorkloadEndpoint\nmetadata:\n  name: w\nspec:\n"
     "  orchestrator: cni\n  node: h1\n  containerID: c1\n  interfaceName: tby1\n"
     "  ipNetworks:\n  - 198.19.0.5/32\n  - 198.19.0.0/26\n",
     "wep.yaml:12:5: spec.ipNetworks[1]: \"198.19.0.0/26\" must be a host prefix (/32 or /128)"},
    {"apiVersion: projectcalico.org/v3\nkind: WorkloadEndpoint\nmetadata:\n  name: w\nspec:\n"
     "  orchestrator: cni\n  node: h1\n  interfaceName: tby1\n",
     "wep.yaml:6:3: spec.containerID: required for orchestrator cni"},
    {"apiVersion: projectcalico.org/v3\nkind: WorkloadEndpoint\nmetadata:\n  name: w\n"
     "  namespace: Prod\nspec: {}\n",
     "wep.yaml:5:14: metadata.namespace: must be a lower-case RFC 1123 label"},
    {"apiVersion: projectcalico.org/v3\nkind: WorkloadEndpoint\nmetadata:\n  name: w\nspec:\n"
     "  orchestrator: cni\n  node: h1\n  containerID: c1\n  interfaceName: tby0123456789abcdef\n",
     "wep.yaml:9:18: spec.interfaceName: invalid interface name \"tby0123456789abcdef\": 1 to 15 "
     "characters, no '/', ':' or space"},
    {"apiVersion: projectcalico.org/v3\nkind: BGPConfiguration\nmetadata:\n  name: default\n"
     "spec:\n  listenPort: 70000\n",
     "bgp.yaml:6:15: spec.listenPort: must be between 1 and 65535"},
    {"apiVersion: projectcalico.org/v3\nkind: BGPConfiguration\nmetadata:\n  name: default\n"
     "spec:\n  logSeverityScreen: Verbose\n",
     "bgp.yaml:6:22: spec.logSeverityScreen: must be one of Trace, Debug, Info, Warning, Error, "
     "Fatal"},
    {"apiVersion: projectcalico.org/v3\nkind: BGPConfiguration\nmetadata:\n  name: default\n"
     "spec:\n  serviceClusterIPs:\n  - cidr: 198.18.0.0/33\n",
     "bgp.yaml:7:11: spec.serviceClusterIPs[0].cidr: invalid CIDR \"198.18.0.0/33\""},
    {"apiVersion: projectcalico.org/v3\nkind: BGPConfiguration\nmetadata:\n  name: default\n"
     "spec:\n  nodeToNodeMeshEnabled: 1\n",
     "bgp.yaml:6:26: spec.nodeToNodeMeshEnabled: must be a boolean (true or false)"},
#define PEER_HEAD "apiVersion: projectcalico.org/v3\nkind: BGPPeer\nmetadata:\n  name: p\nspec:\n"
    {PEER_HEAD "  asNumber: 64512\n",
     "peer.yaml:6:3: spec.peerIP: one of peerIP or peerSelector is required"},
    {PEER_HEAD "  peerIP: 198.18.1.0\n  peerSelector: all()\n",
     "peer.yaml:6:11: spec.peerIP: must be empty when peerSelector is set"},
    {PEER_HEAD "  node: h1\n  nodeSelector: all()\n  peerIP: 198.18.1.0\n  asNumber: 1\n",
     "peer.yaml:6:9: spec.node: must be empty when nodeSelector is set"},
    {PEER_HEAD "  peerIP: 198.18.1.0\n", "peer.yaml:6:3: spec.asNumber: required with peerIP"},
    {PEER_HEAD "  peerSelector: all()\n  asNumber: 64512\n",
     "peer.yaml:7:13: spec.asNumber: must be empty when peerSelector is set (the peers' own AS "
     "numbers are used)"},
    {PEER_HEAD "  peerIP: 198.18.1.0:0\n  asNumber: 1\n",
     "peer.yaml:6:11: spec.peerIP: invalid peer address \"198.18.1.0:0\": want an IP address with "
     "an optional port (198.18.1.0, 198.18.1.0:1790, [2001:db8::1]:179)"},
    {PEER_HEAD "  peerIP: \"[2001:db8::1\"\n  asNumber: 1\n",
     "peer.yaml:6:11: spec.peerIP: invalid peer address \"[2001:db8::1\": want an IP address with "
     "an optional port (198.18.1.0, 198.18.1.0:1790, [2001:db8::1]:179)"},
    {PEER_HEAD "  peerIP: 198.18.1.0\n  asNumber: 1.65536\n",
     "peer.yaml:7:13: spec.asNumber: invalid AS number \"1.65536\": must be 1..4294967295 or asdot "
     "\"A.B\""},
    {PEER_HEAD "  peerSelector: all()\n  holdTime: 2s\n",
     "peer.yaml:7:13: spec.holdTime: \"2s\" is out of range: must be between 3s and 65535s"},
    {PEER_HEAD "  peerSelector: all()\n  holdTime: 10s\n  keepaliveTime: 10s\n",
     "peer.yaml:7:13: spec.holdTime: must be longer than keepaliveTime (10s)"},
    {PEER_HEAD "  peerSelector: all()\n  keepaliveTime: 30\n",
     "peer.yaml:7:18: spec.keepaliveTime: must be a duration string such as \"30s\" or \"1m30s\""},
    {PEER_HEAD "  peerSelector: all()\n  keepaliveTime: 30 s\n",
     "peer.yaml:7:18: spec.keepaliveTime: invalid duration \"30 s\": want a Go duration such as "
     "\"30s\", \"1m30s\" or \"100ms\""},
    {PEER_HEAD "  peerSelector: all()\n  maxRestartTime: 1500ms\n",
     "peer.yaml:7:19: spec.maxRestartTime: \"1500ms\" is not a whole number of seconds"},
    {PEER_HEAD "  peerSelector: all()\n  maxRestartTime: 2h\n",
     "peer.yaml:7:19: spec.maxRestartTime: \"2h\" is out of range: must be between 1s and 4095s"},
    {PEER_HEAD "  peerSelector: all()\n  ttlSecurity: 256\n",
     "peer.yaml:7:16: spec.ttlSecurity: must be between 0 and 255"},
    {PEER_HEAD "  peerSelector: all()\n  numAllowedLocalASNumbers: 11\n",
     "peer.yaml:7:29: spec.numAllowedLocalASNumbers: must be between 0 and 10"},
    {PEER_HEAD "  peerSelector: all()\n  sourceAddress: NodeIP\n",
     "peer.yaml:7:18: spec.sourceAddress: must be UseNodeIP or None, not \"NodeIP\""},
    {PEER_HEAD "  peerSelector: all()\n  nextHopMode: self\n",
     "peer.yaml:7:16: spec.nextHopMode: must be Auto, Self or Keep, not \"self\""},
    {PEER_HEAD "  peerSelector: all()\n  reversePeering: Off\n",
     "peer.yaml:7:19: spec.reversePeering: must be Auto or Manual, not \"Off\""},
    {PEER_HEAD "  peerSelector: all()\n  keepOriginalNextHop: true\n  nextHopMode: Self\n",
     "peer.yaml:8:16: spec.nextHopMode: Self contradicts keepOriginalNextHop: true"},
    {PEER_HEAD "  peerSelector: all()\n  password:\n    secretKeyRef: {name: s}\n",
     "peer.yaml:8:19: spec.password.secretKeyRef.key: required"},
    {PEER_HEAD "  peerSelector: all()\n  password:\n    secretKeyRef: {name: s, key: k}\n"
	       "    file: /x\n",
     "peer.yaml:8:5: spec.password: secretKeyRef and file exclude each other"},
    {PEER_HEAD "  peerSelector: all()\n  password: {file: x}\n",
     "peer.yaml:7:20: spec.password.file: must be an absolute path"},
    {PEER_HEAD "  peerSelector: all()\n  password: {}\n",
     "peer.yaml:7:13: spec.password: needs secretKeyRef or file"},
    {PEER_HEAD "  peerSelector: all()\n  bfd: {enabled: true, interval: 0ms}\n",
     "peer.yaml:7:34: spec.bfd.interval: \"0ms\" is out of range: must be between 1ms and 60000ms"},
    {PEER_HEAD "  peerSelector: all()\n  bfd: {multiplier: 0}\n",
     "peer.yaml:7:21: spec.bfd.multiplier: must be between 1 and 255"},
    /* selector errors: the column points into the selector (sel_parse() of acl/selector.h) */
    {PEER_HEAD "  peerSelector: \"has(a\"\n",
     "peer.yaml:6:23: spec.peerSelector: invalid selector \"has(a\": expected ')'"},
    {PEER_HEAD "  peerSelector: \"a == 'x\"\n",
     "peer.yaml:6:23: spec.peerSelector: invalid selector \"a == 'x\": unterminated string"},
    {PEER_HEAD "  peerSelector: rack = 'r1'\n",
     "peer.yaml:6:22: spec.peerSelector: invalid selector \"rack = 'r1'\": expected '=='"},
    {PEER_HEAD "  peerSelector: 'a in {\"x\" \"y\"}'\n",
     "peer.yaml:6:28: spec.peerSelector: invalid selector \"a in {\"x\" \"y\"}\": expected ',' or "
     "'}'"},
    /* escapes or a block scalar: the column of the scalar, the selector's own in the message */
    {PEER_HEAD "  peerSelector: \"has(a) \\x26 has(b)\"\n",
     "peer.yaml:6:17: spec.peerSelector: invalid selector \"has(a) & has(b)\": expected '&&' at "
     "column 8 of the selector"},
    {PEER_HEAD "  peerSelector: |\n    has(a) ||\n",
     "peer.yaml:6:17: spec.peerSelector: invalid selector \"has(a) ||\n\": expected a label, "
     "has(), all(), global(), '!' or '(' at column 11 of the selector"},
    /* a blank selector is Calico's all(), the same as leaving it out */
    {PEER_HEAD "  nodeSelector: \"  \"\n",
     "peer.yaml:6:3: spec.peerIP: one of peerIP or peerSelector is required"},
    {PEER_HEAD "  peerSelector: all()\n  failureDetectionMode: Sometimes\n",
     "peer.yaml:7:25: spec.failureDetectionMode: must be None or BFDIfDirectlyConnected"},
    {PEER_HEAD "  peerSelector: all()\n  localASNumber: 0\n",
     "peer.yaml:7:18: spec.localASNumber: invalid AS number \"0\": must be 1..4294967295 or "
     "asdot \"A.B\""},
    {PEER_HEAD "  peerSelector: all()\n  filters: [f]\n",
     "peer.yaml:7:3: spec.filters: not supported by tabby: it has no BGPFilter, and ignoring "
     "the filters would exchange unfiltered routes"},
#define BGPC_HEAD                                                                                \
	"apiVersion: projectcalico.org/v3\nkind: BGPConfiguration\nmetadata:\n  name: default\n" \
	"spec:\n"
    {BGPC_HEAD "  bindMode: Any\n",
     "bgp.yaml:6:13: spec.bindMode: must be None or NodeIP, not \"Any\""},
    {BGPC_HEAD "  communities:\n  - {name: a, value: \"65536:1\"}\n",
     "bgp.yaml:7:22: spec.communities[0].value: invalid community \"65536:1\": want \"aa:nn\" "
     "(16-bit numbers) or \"aa:nn:mm\" (32-bit numbers)"},
    {BGPC_HEAD "  communities:\n  - {name: a, value: \"4294967296:1:1\"}\n",
     "bgp.yaml:7:22: spec.communities[0].value: invalid community \"4294967296:1:1\": want "
     "\"aa:nn\" (16-bit numbers) or \"aa:nn:mm\" (32-bit numbers)"},
    {BGPC_HEAD "  communities:\n  - {name: a, value: \"1:2\"}\n",
     "bgp.yaml:7:3: spec.communities: defined but not used in spec.prefixAdvertisements"},
    {BGPC_HEAD "  prefixAdvertisements:\n  - cidr: 198.19.0.0/16\n    communities: [b]\n"
	       "  communities:\n  - {name: a, value: \"1:2\"}\n",
     "bgp.yaml:8:19: spec.prefixAdvertisements[0].communities[0]: community \"b\" is neither a "
     "community value nor defined in spec.communities"},
    {BGPC_HEAD "  prefixAdvertisements:\n  - communities: [\"1:2\"]\n",
     "bgp.yaml:7:5: spec.prefixAdvertisements[0].cidr: required"},
    {BGPC_HEAD "  communities:\n  - {name: a, value: \"1:2\"}\n  - {name: a, value: \"1:3\"}\n",
     "bgp.yaml:8:12: spec.communities[1].name: community \"a\" is defined twice"},
    {BGPC_HEAD "  nodeToNodeMeshEnabled: false\n  nodeMeshMaxRestartTime: 60s\n",
     "bgp.yaml:7:27: spec.nodeMeshMaxRestartTime: must not be set when nodeToNodeMeshEnabled is "
     "false"},
    {BGPC_HEAD "  nodeToNodeMeshEnabled: false\n  nodeMeshPassword: {file: /p}\n",
     "bgp.yaml:7:21: spec.nodeMeshPassword: must not be set when nodeToNodeMeshEnabled is false"},
    {BGPC_HEAD "  ignoredInterfaces: [\"a b\"]\n",
     "bgp.yaml:6:23: spec.ignoredInterfaces[0]: invalid interface glob \"a b\": 1 to 15 "
     "characters, no '/', ':' or space"},
    {BGPC_HEAD "  serviceExternalIPs: [{cidr: 198.19.0.1/24}]\n",
     "bgp.yaml:6:31: spec.serviceExternalIPs[0].cidr: invalid CIDR \"198.19.0.1/24\": host bits "
     "are set (network is 198.19.0.0/24)"},
    {BGPC_HEAD "  serviceLoadBalancerIPs: [{}]\n",
     "bgp.yaml:6:28: spec.serviceLoadBalancerIPs[0].cidr: required"},
#define NP_HEAD                                                                          \
	"apiVersion: projectcalico.org/v3\nkind: NetworkPolicy\nmetadata:\n  name: np\n" \
	"  namespace: prod\nspec:\n"
#define GNP_HEAD \
	"apiVersion: projectcalico.org/v3\nkind: GlobalNetworkPolicy\nmetadata:\n  name: g\nspec:\n"
    /* libcalico-go validator: rule nets are strictly masked ("net" tag) */
    {GNP_HEAD "  ingress:\n  - action: Allow\n    source: {nets: [198.18.0.5/24]}\n",
     "gnp.yaml:8:21: spec.ingress[0].source.nets[0]: invalid CIDR \"198.18.0.5/24\": host bits "
     "are set (network is 198.18.0.0/24)"},
    {GNP_HEAD "  egress:\n  - action: Deny\n    destination: {notNets: [\"2001:db8::1/64\"]}\n",
     "gnp.yaml:8:29: spec.egress[0].destination.notNets[0]: invalid CIDR \"2001:db8::1/64\": "
     "host bits are set (network is 2001:db8::/64)"},
    /* global() only in a rule's namespaceSelector */
    {GNP_HEAD "  selector: global()\n",
     "gnp.yaml:6:13: spec.selector: global() can only be used in a rule's namespaceSelector"},
    {NP_HEAD "  ingress:\n  - action: Allow\n    source: {selector: \"a == 'x' || global()\"}\n",
     "np.yaml:9:24: spec.ingress[0].source.selector: global() can only be used in a rule's "
     "namespaceSelector"},
    {NP_HEAD "  ingress:\n  - action: Allow\n    source: {notSelector: global()}\n",
     "np.yaml:9:27: spec.ingress[0].source.notSelector: global() can only be used in a rule's "
     "namespaceSelector"},
    {"apiVersion: projectcalico.org/v3\nkind: Tier\nmetadata:\n  name: default\nspec:\n"
     "  order: 100\n",
     "tier.yaml:6:10: spec.order: the default tier's order must be 1000000 (Calico's)"},
    {NP_HEAD "  ingress:\n  - action: Allow\n    metadata: {labels: {a: b}}\n",
     "np.yaml:9:16: spec.ingress[0].metadata.labels: unknown field"},
    {NP_HEAD "  ingress:\n  - action: Allow\n    metadata: {annotations: {a: [1]}}\n",
     "np.yaml:9:33: spec.ingress[0].metadata.annotations.a: must be a string"},
    {NP_HEAD "  ingress:\n  - action: Allow\n    http: {methods: [GET]}\n",
     "np.yaml:9:5: spec.ingress[0].http: not supported by tabby: HTTP matches need Calico's "
     "application layer policy (an L7 proxy), which tabby does not have; ignoring it would "
     "widen the rule"},
    {NP_HEAD "  ingress:\n  - action: Allow\n    destination: {ports: [80]}\n",
     "np.yaml:9:26: spec.ingress[0].destination.ports: ports need protocol TCP, UDP or SCTP"},
    {NP_HEAD "  egress:\n  - action: Deny\n    protocol: ICMP\n    source: {notPorts: [80]}\n",
     "np.yaml:10:24: spec.egress[0].source.notPorts: ports need protocol TCP, UDP or SCTP"},
    {NP_HEAD "  ingress:\n  - action: Allow\n    protocol: TCP\n    icmp: {type: 8}\n",
     "np.yaml:10:11: spec.ingress[0].icmp: needs protocol ICMP or ICMPv6"},
    {NP_HEAD "  ingress:\n  - action: Allow\n    notICMP: {type: 8}\n",
     "np.yaml:9:14: spec.ingress[0].notICMP: needs protocol ICMP or ICMPv6"},
    {NP_HEAD "  ingress:\n  - action: Allow\n    protocol: ICMP\n    icmp: {code: 1}\n",
     "np.yaml:10:18: spec.ingress[0].icmp.code: an ICMP code needs an ICMP type"},
    {NP_HEAD "  ingress:\n  - action: Allow\n    protocol: ICMP\n    icmp: {type: 255}\n",
     "np.yaml:10:18: spec.ingress[0].icmp.type: must be between 0 and 254"},
    {NP_HEAD "  ingress:\n  - action: Allow\n    protocol: ICMP\n    icmp: {type: 3, code: 256}\n",
     "np.yaml:10:27: spec.ingress[0].icmp.code: must be between 0 and 255"},
    {NP_HEAD "  ingress:\n  - action: Allow\n    protocol: ICMP\n    ipVersion: 6\n",
     "np.yaml:10:16: spec.ingress[0].ipVersion: must be 4 with protocol ICMP"},
    {NP_HEAD "  ingress:\n  - action: Allow\n    notProtocol: ICMPv6\n    ipVersion: 4\n",
     "np.yaml:10:16: spec.ingress[0].ipVersion: must be 6 with notProtocol ICMPv6"},
    {NP_HEAD
     "  ingress:\n  - action: Allow\n    ipVersion: 4\n    source:\n      nets: [198.18.0.0/24, "
     "2001:db8::/32]\n",
     "np.yaml:11:29: spec.ingress[0].source.nets[1]: 2001:db8::/32 does not match the rule's "
     "ipVersion 4"},
    {NP_HEAD "  ingress:\n  - action: Allow\n    source: {nets: [198.18.0.0/24]}\n"
	     "    destination: {notNets: [2001:db8::/32]}\n",
     "np.yaml:10:28: spec.ingress[0].destination.notNets: rule contains both IPv4 and IPv6 CIDRs"},
    {NP_HEAD
     "  ingress:\n  - action: Allow\n    ipVersion: 6\n    source: {notNets: [198.18.0.0/24]}\n",
     "np.yaml:10:24: spec.ingress[0].source.notNets[0]: 198.18.0.0/24 does not match the rule's "
     "ipVersion 6"},
    {NP_HEAD "  ingress:\n  - action: Allow\n    source: {nets: [198.18.0.0/24, 2001:db8::/32]}\n",
     "np.yaml:9:20: spec.ingress[0].source.nets: rule contains both IPv4 and IPv6 CIDRs"},
    {NP_HEAD "  egress:\n  - action: Allow\n    protocol: ICMP\n"
	     "    destination: {nets: [2001:db8::/64]}\n",
     "np.yaml:10:26: spec.egress[0].destination.nets[0]: 2001:db8::/64 does not match protocol "
     "ICMP, which is IPv4"},
    {NP_HEAD "  ingress:\n  - action: Allow\n    protocol: ICMPv6\n    icmp: {type: 128}\n"
	     "    source: {nets: [198.18.0.0/24]}\n",
     "np.yaml:11:21: spec.ingress[0].source.nets[0]: 198.18.0.0/24 does not match protocol "
     "ICMPv6, which is IPv6"},
    {NP_HEAD "  ingress:\n  - action: Allow\n    protocol: ICMPv6\n    ipVersion: 4\n",
     "np.yaml:10:16: spec.ingress[0].ipVersion: must be 6 with protocol ICMPv6"},
    {NP_HEAD "  ingress:\n  - action: Allow\n    ipVersion: 5\n",
     "np.yaml:9:16: spec.ingress[0].ipVersion: must be 4 or 6"},
    {NP_HEAD "  ingress:\n  - action: allow\n",
     "np.yaml:8:13: spec.ingress[0].action: must be Allow, Deny, Log or Pass"},
    {NP_HEAD "  ingress:\n  - protocol: TCP\n", "np.yaml:8:5: spec.ingress[0].action: required"},
    {NP_HEAD "  ingress:\n  - action: Allow\n    protocol: TCPX\n",
     "np.yaml:9:15: spec.ingress[0].protocol: unknown protocol \"TCPX\": want TCP, UDP, ICMP, "
     "ICMPv6, SCTP, UDPLite or a number 1..255"},
    {NP_HEAD "  ingress:\n  - action: Allow\n    protocol: 256\n",
     "np.yaml:9:15: spec.ingress[0].protocol: protocol number must be between 1 and 255"},
    {NP_HEAD
     "  ingress:\n  - action: Allow\n    protocol: UDP\n    destination: {ports: [\"90:80\"]}\n",
     "np.yaml:10:27: spec.ingress[0].destination.ports[0]: invalid port range \"90:80\": first is "
     "above last"},
    {NP_HEAD
     "  ingress:\n  - action: Allow\n    protocol: UDP\n    destination: {ports: [70000]}\n",
     "np.yaml:10:27: spec.ingress[0].destination.ports[0]: port must be between 0 and 65535"},
    {NP_HEAD "  ingress:\n  - action: Allow\n    protocol: UDP\n    destination: {ports: [Http]}\n",
     "np.yaml:10:27: spec.ingress[0].destination.ports[0]: invalid port name \"Http\": 1 to 15 of "
     "[a-z0-9-] with at least one letter"},
    {NP_HEAD "  ingress:\n  - action: Allow\n    source: {nets: [198.18.0.0/33]}\n",
     "np.yaml:9:21: spec.ingress[0].source.nets[0]: invalid CIDR \"198.18.0.0/33\""},
    {NP_HEAD "  ingress:\n  - action: Allow\n    source: {selector: \"a == 'b\"}\n",
     "np.yaml:9:30: spec.ingress[0].source.selector: invalid selector \"a == 'b\": "
     "unterminated string"},
    {NP_HEAD "  selector: \"(has(a)\"\n",
     "np.yaml:7:21: spec.selector: invalid selector \"(has(a)\": expected ')' (to close '(' at "
     "column 1)"},
    {NP_HEAD "  egress:\n  - action: Deny\n    destination:\n      notSelector: app == web\n",
     "np.yaml:10:27: spec.egress[0].destination.notSelector: invalid selector \"app == web\": "
     "expected a quoted string"},
    {NP_HEAD "  ingress:\n  - action: Allow\n    source: {namespaceSelector: \"has(x) x\"}\n",
     "np.yaml:9:41: spec.ingress[0].source.namespaceSelector: invalid selector \"has(x) x\": "
     "expected '&&', '||' or the end"},
    {NP_HEAD "  ingress:\n  - action: Allow\n    source: {serviceAccounts: {names: [A_b]}}\n",
     "np.yaml:9:40: spec.ingress[0].source.serviceAccounts.names: invalid service account name "
     "\"A_b\": must be a lower-case RFC 1123 subdomain"},
    {NP_HEAD "  ingress:\n  - action: Allow\n    source: {serviceAccounts: {selector: \"a ==\"}}\n",
     "np.yaml:9:47: spec.ingress[0].source.serviceAccounts.selector: invalid selector "
     "\"a ==\": expected a quoted string"},
    {NP_HEAD "  ingress:\n  - action: Allow\n    source: {services: {name: a}}\n",
     "np.yaml:9:14: spec.ingress[0].source.services: not supported by tabby"},
    {NP_HEAD "  serviceAccountSelector: all()\n",
     "np.yaml:7:3: spec.serviceAccountSelector: not supported by tabby (it has no service "
     "accounts)"},
    {NP_HEAD "  namespaceSelector: all()\n", "np.yaml:7:3: spec.namespaceSelector: unknown field"},
    {NP_HEAD "  doNotTrack: true\n", "np.yaml:7:3: spec.doNotTrack: unknown field"},
    {NP_HEAD "  types: [Ingress, Ingress]\n",
     "np.yaml:7:20: spec.types[1]: \"Ingress\" is listed twice"},
    {NP_HEAD "  types: [ingress]\n", "np.yaml:7:11: spec.types[0]: must be Ingress or Egress"},
    {NP_HEAD "  order: .nan\n", "np.yaml:7:10: spec.order: must be a finite number"},
    {NP_HEAD "  order: \"1\"\n", "np.yaml:7:10: spec.order: must be a number"},
    {NP_HEAD "  tier: security\n",
     "np.yaml:4:9: metadata.name: a policy in tier \"security\" must be named \"security.<name>\""},
    {"apiVersion: projectcalico.org/v3\nkind: NetworkPolicy\nmetadata:\n  name: a.b\nspec: {}\n",
     "np.yaml:4:9: metadata.name: a policy in the default tier is named without a '.' or as "
     "\"default.<name>\""},
    {NP_HEAD "  tier: sec.urity\n", "np.yaml:7:9: spec.tier: must be a lower-case RFC 1123 label"},
    {GNP_HEAD "  preDNAT: true\n  doNotTrack: true\n  applyOnForward: true\n",
     "gnp.yaml:6:12: spec.preDNAT: preDNAT and doNotTrack cannot both be true"},
    {GNP_HEAD "  preDNAT: true\n  applyOnForward: true\n  egress: [{action: Allow}]\n",
     "gnp.yaml:8:11: spec.egress: a preDNAT policy cannot have egress rules"},
    {GNP_HEAD "  preDNAT: true\n  applyOnForward: true\n  types: [Egress]\n",
     "gnp.yaml:8:10: spec.types: a preDNAT policy cannot have type Egress"},
    {GNP_HEAD "  doNotTrack: true\n",
     "gnp.yaml:6:3: spec.applyOnForward: must be true when preDNAT or doNotTrack is true"},
    {"apiVersion: projectcalico.org/v3\nkind: Tier\nmetadata:\n  name: t\nspec:\n"
     "  defaultAction: Allow\n",
     "tier.yaml:6:18: spec.defaultAction: must be Deny or Pass"},
    {"apiVersion: projectcalico.org/v3\nkind: Tier\nmetadata:\n  name: t.x\n",
     "tier.yaml:4:9: metadata.name: a tier name must be a lower-case RFC 1123 label (no '.')"},
    {"apiVersion: projectcalico.org/v3\nkind: GlobalNetworkSet\nmetadata:\n  name: s\nspec:\n"
     "  nets: [198.18.0.0/24, bogus]\n",
     "netset.yaml:6:25: spec.nets[1]: invalid CIDR \"bogus\""},
    {"apiVersion: projectcalico.org/v3\nkind: NetworkSet\nmetadata:\n  name: s\n  labels:\n"
     "    projectcalico.org/namespace: x\n",
     "netset.yaml:6:5: metadata.labels.projectcalico.org/namespace: reserved: Calico sets this "
     "label itself"},
#define HEP_HEAD \
	"apiVersion: projectcalico.org/v3\nkind: HostEndpoint\nmetadata:\n  name: h\nspec:\n"
    {HEP_HEAD "  interfaceName: eth0\n", "hep.yaml:6:3: spec.node: required"},
    {HEP_HEAD "  node: h1\n  profiles: [a]\n",
     "hep.yaml:6:3: spec.interfaceName: an interfaceName or expectedIPs is required"},
    {HEP_HEAD "  node: h1\n  expectedIPs: [198.18.0.0/24]\n",
     "hep.yaml:7:17: spec.expectedIPs[0]: invalid IP address \"198.18.0.0/24\""},
    {HEP_HEAD
     "  node: h1\n  interfaceName: eth0\n  ports:\n  - {name: ssh, protocol: ICMP, port: 22}\n",
     "hep.yaml:9:27: spec.ports[0].protocol: must be TCP, UDP or SCTP"},
    {HEP_HEAD "  node: h1\n  interfaceName: eth0\n  ports:\n  - {name: ssh, protocol: TCP}\n",
     "hep.yaml:9:5: spec.ports[0].port: required"},
    {HEP_HEAD
     "  node: h1\n  interfaceName: eth0\n  ports:\n  - {name: ssh, protocol: TCP, port: 0}\n",
     "hep.yaml:9:38: spec.ports[0].port: must be between 1 and 65535"},
    {"apiVersion: projectcalico.org/v3\nkind: Profile\nmetadata:\n  name: p\nspec:\n"
     "  labelsToApply: {\"a b\": c}\n",
     "profile.yaml:6:19: spec.labelsToApply.a b: invalid label key: must be a qualified name ([DNS "
     "subdomain \"/\"] name of at most 63 characters of [A-Za-z0-9-_.], starting and ending with "
     "an alphanumeric)"},
#define FC_HEAD \
	"apiVersion: projectcalico.org/v3\nkind: FelixConfiguration\nmetadata:\n  name: default\nspec:\n"
    {FC_HEAD "  defaultEndpointToHostAction: Reject\n",
     "felix.yaml:6:32: spec.defaultEndpointToHostAction: must be Drop, Accept or Return"},
    {FC_HEAD "  failsafeInboundHostPorts:\n  - {protocol: tcp, port: 22}\n",
     "felix.yaml:7:16: spec.failsafeInboundHostPorts[0].protocol: must be TCP, UDP or SCTP"},
    {FC_HEAD "  failsafeOutboundHostPorts:\n  - {protocol: UDP}\n",
     "felix.yaml:7:5: spec.failsafeOutboundHostPorts[0].port: required"},
    {FC_HEAD "  nftablesMode: Auto\n",
     "felix.yaml:6:17: spec.nftablesMode: must be Enabled or Disabled"},
    {FC_HEAD "  nftablesMode: Enabled\n  policyDataplane: iptables\n",
     "felix.yaml:7:20: spec.policyDataplane: contradicts nftablesMode: Enabled"},
    {FC_HEAD "  bpfEnabledX: false\n", "felix.yaml:6:3: spec.bpfEnabledX: unknown field"},
    {FC_HEAD "  bpfEnabled: 1\n",
     "felix.yaml:6:15: spec.bpfEnabled: must be a boolean (true or false)"},
    {FC_HEAD "  logSeverityScreen: Verbose\n",
     "felix.yaml:6:22: spec.logSeverityScreen: must be Debug, Info, Warning, Error or Fatal"},
    {FC_HEAD "  reportingInterval: 30x\n",
     "felix.yaml:6:22: spec.reportingInterval: invalid duration \"30x\" (e.g. \"90s\", \"1m30s\")"},
    {FC_HEAD "  healthPort: 0\n", "felix.yaml:6:15: spec.healthPort: must be between 1 and 65535"},
    {"apiVersion: v1\nkind: Namespace\nmetadata:\n  name: prod\nspec:\n  finalizers: [kubernetes]\n",
     "ns.yaml:6:3: spec: must be empty: tabby reads only a Namespace's name and labels"},
    {"apiVersion: v1\nkind: Namespace\nmetadata:\n  name: a.b\n",
     "ns.yaml:4:9: metadata.name: must be a lower-case RFC 1123 label"},
    {"apiVersion: projectcalico.org/v3\nkind: Namespace\nmetadata:\n  name: a\n",
     "ns.yaml:1:13: apiVersion: must be v1, not \"projectcalico.org/v3\""},
    {"apiVersion: v1\nkind: NetworkPolicy\nmetadata:\n  name: a\n",
     "np.yaml:1:13: apiVersion: must be projectcalico.org/v3 or networking.k8s.io/v1, not \"v1\""},
#define KNP_HEAD \
	"apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  name: k\nspec:\n"
    {KNP_HEAD "  policyTypes: [Ingress]\n",
     "knp.yaml:6:3: spec.podSelector: required ({} selects every pod)"},
    {KNP_HEAD "  podSelector:\n    matchExpressions:\n    - {key: a, operator: In}\n",
     "knp.yaml:8:7: spec.podSelector.matchExpressions[0].values: must not be empty for In"},
    {KNP_HEAD
     "  podSelector:\n    matchExpressions:\n    - {key: a, operator: Exists, values: [x]}\n",
     "knp.yaml:8:42: spec.podSelector.matchExpressions[0].values: must be empty for Exists"},
    {KNP_HEAD "  podSelector:\n    matchExpressions:\n    - {key: a, operator: Equals}\n",
     "knp.yaml:8:26: spec.podSelector.matchExpressions[0].operator: must be In, NotIn, Exists or "
     "DoesNotExist"},
    {KNP_HEAD
     "  podSelector: {}\n  ingress:\n  - from:\n    - ipBlock: {cidr: 198.18.0.0/24, except: [198.18.1.0/24]}\n",
     "knp.yaml:9:47: spec.ingress[0].from[0].ipBlock.except[0]: 198.18.1.0/24 is not inside cidr "
     "198.18.0.0/24"},
    {KNP_HEAD "  podSelector: {}\n  ingress:\n  - from:\n    - ipBlock: {cidr: 198.18.0.0/24}\n"
	      "      podSelector: {}\n",
     "knp.yaml:9:16: spec.ingress[0].from[0]: ipBlock cannot be combined with podSelector or "
     "namespaceSelector"},
    {KNP_HEAD "  podSelector: {}\n  ingress:\n  - from:\n    - {}\n",
     "knp.yaml:9:7: spec.ingress[0].from[0]: needs podSelector, namespaceSelector or ipBlock"},
    {KNP_HEAD "  podSelector: {}\n  ingress:\n  - ports:\n    - {port: http, endPort: 90}\n",
     "knp.yaml:9:29: spec.ingress[0].ports[0].endPort: needs a numeric port"},
    {KNP_HEAD "  podSelector: {}\n  ingress:\n  - ports:\n    - {port: 100, endPort: 90}\n",
     "knp.yaml:9:28: spec.ingress[0].ports[0].endPort: must not be below port 100"},
    {KNP_HEAD "  podSelector: {}\n  ingress:\n  - ports:\n    - {endPort: 90}\n",
     "knp.yaml:9:17: spec.ingress[0].ports[0].endPort: needs a numeric port"},
    {KNP_HEAD "  podSelector: {}\n  egress:\n  - ports:\n    - {protocol: ICMP, port: 1}\n",
     "knp.yaml:9:18: spec.egress[0].ports[0].protocol: must be TCP, UDP or SCTP"},
    {KNP_HEAD "  podSelector: {}\n  egress:\n  - from: []\n",
     "knp.yaml:8:5: spec.egress[0].from: unknown field"},
    {"apiVersion: projectcalico.org/v3\nkind: WorkloadEndpoint\nmetadata:\n  name: w\nspec:\n"
     "  orchestrator: k8s\n  node: h1\n  interfaceName: tby1\n  ports:\n"
     "  - {name: http, protocol: TCP, port: 80, hostPort: 8080}\n",
     "wep.yaml:10:43: spec.ports[0].hostPort: not supported by tabby"},
    /* the first document is valid, the second is not: nothing is returned */
    {POOL_HEAD "spec:\n  cidr: 198.19.0.0/16\n---\n"
	       "apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata:\n  name: p2\nspec:\n"
	       "  cidr: 10.0.0.0/33\n",
     "pool.yaml:13:9: spec.cidr: invalid CIDR \"10.0.0.0/33\""},
    {"apiVersion: v1\nkind: List\nitems:\n- apiVersion: projectcalico.org/v3\n  kind: Node\n"
     "  metadata:\n    name: h1\n  spec:\n    bgp:\n      asNumber: -1\n",
     "list.yaml:10:17: items[0].spec.bgp.asNumber: invalid AS number \"-1\": must be "
     "1..4294967295 or asdot \"A.B\""},
    {"apiVersion: projectcalico.org/v3\nkind: NodeList\nitems:\n- kind: IPPool\n",
     "list.yaml:4:9: items[0].kind: must be Node in a NodeList"},
    {"apiVersion: v1\nkind: List\nitems: {}\n", "list.yaml:3:8: items: must be a list"},
};

static void test_invalid(void **state)
{
	unsigned failed = 0;

	for (size_t i = 0; i < ELEMENTSOF(bad_cases); i++) {
		const char *want = bad_cases[i].error;
		char file[32], buf[1024];
		struct parse_err err = {};
		struct model_list l = {.items = (void *)0x1, .n = 99};
		int r;

		/* the expected text names the file the case pretends to come from */
		snprintf(file, sizeof(file), "%.*s", (int)strcspn(want, ":"), want);
		r = model_decode(bad_cases[i].text, strlen(bad_cases[i].text), file, &l, &err);
		if (r != -EINVAL) {
			print_error("case %zu: decoded (%d), want %s\n", i, r, want);
			failed++;
			continue;
		}
		/* untouched on failure */
		assert_ptr_equal(l.items, (void *)0x1);
		assert_int_equal(l.n, 99);
		if (strcmp(parse_err_format(&err, buf, sizeof(buf)), want) != 0) {
			print_error("case %zu:\n got: %s\nwant: %s\n", i, buf, want);
			failed++;
		}
	}
	assert_int_equal(failed, 0);
}

static struct model_resource *pool(const char *name, const char *cidr, bool disabled, unsigned line)
{
	char text[512];
	struct model_resource *r = NULL;
	struct parse_err err = {};

	snprintf(text, sizeof(text),
		 "apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata:\n  name: %s\n"
		 "spec:\n  cidr: %s\n  disabled: %s\n",
		 name, cidr, disabled ? "true" : "false");
	assert_int_equal(model_decode_one(text, strlen(text), "x", &r, &err), 0);
	r->source_line = line;
	return r;
}

static void test_validate_pools(void **state)
{
	struct model_resource *p[4] = {
	    pool("a", "198.19.0.0/16", false, 1),
	    pool("b", "198.18.0.0/16", false, 9),
	    pool("c", "198.19.128.0/17", true, 17), /* disabled: may overlap */
	    pool("d", "198.19.64.0/18", false, 25),
	};
	struct parse_err err = {.file = "pools.yaml"};
	char buf[512];

	assert_int_equal(model_validate_pools(p, 3, &err), 0);
	assert_int_equal(model_validate_pools(p, 4, &err), -EINVAL);
	assert_string_equal(parse_err_format(&err, buf, sizeof(buf)),
			    "pools.yaml:25: spec.cidr: IPPool \"d\" (198.19.64.0/18) overlaps with "
			    "IPPool \"a\" (198.19.0.0/16)");
	for (size_t i = 0; i < ELEMENTSOF(p); i++)
		model_resource_free(p[i]);

	/* two documents of one file, decoded together, then checked together */
	const char *text = POOL_HEAD "spec:\n  cidr: 198.19.0.0/16\n---\n"
				     "apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata:\n"
				     "  name: p2\nspec:\n  cidr: 198.19.0.0/24\n  blockSize: 28\n";
	struct model_list l = {};
	struct parse_err e2 = {.file = "two.yaml"};

	assert_int_equal(model_decode(text, strlen(text), "two.yaml", &l, &e2), 0);
	assert_int_equal(l.n, 2);
	assert_int_equal(l.items[1]->source_line, 8);
	assert_int_equal(model_validate_pools(l.items, l.n, &e2), -EINVAL);
	assert_string_equal(parse_err_format(&e2, buf, sizeof(buf)),
			    "two.yaml:8: spec.cidr: IPPool \"p2\" (198.19.0.0/24) overlaps with "
			    "IPPool \"p1\" (198.19.0.0/16)");
	model_list_done(&l);

	/* IPv6 pools: blockSize defaults to 122; 116 and 128 are the bounds; /48 and /64 pools */
	static const struct {
		const char *cidr, *bs;
		unsigned want;
	} v6[] = {
	    {"2001:db8:19::/112", NULL, 122},
	    {"2001:db8::/64", NULL, 122},
	    {"2001:db8::/48", "116", 116},
	    {"2001:db8:19::/112", "128", 128},
	};
	for (size_t i = 0; i < ELEMENTSOF(v6); i++) {
		char doc[512];
		struct model_resource *r = NULL;
		struct parse_err pe = {0};

		snprintf(doc, sizeof(doc), POOL_HEAD "spec:\n  cidr: %s\n%s%s%s", v6[i].cidr,
			 v6[i].bs ? "  blockSize: " : "", v6[i].bs ? v6[i].bs : "",
			 v6[i].bs ? "\n" : "");
		assert_int_equal(model_decode_one(doc, strlen(doc), "v6.yaml", &r, &pe), 0);
		assert_int_equal(r->ippool.block_size, v6[i].want);
		model_resource_free(r);
	}
}

static void test_kinds_keys_labels(void **state)
{
	_cleanup_strbuf_ struct strbuf k = {};
	struct model_labels l = {};

	assert_int_equal(model_kind_from_string("IPPool"), MODEL_KIND_IPPOOL);
	assert_int_equal(model_kind_from_string("ippools"), MODEL_KIND_IPPOOL);
	assert_int_equal(model_kind_from_string("wep"), MODEL_KIND_WORKLOAD_ENDPOINT);
	assert_int_equal(model_kind_from_string("bgpconfiguration"), MODEL_KIND_BGP_CONFIGURATION);
	assert_int_equal(model_kind_from_string("Nodes"), MODEL_KIND_NODE);
	assert_int_equal(model_kind_from_string("poo"), _MODEL_KIND_INVALID);
	/* calicoctl's aliases */
	assert_int_equal(model_kind_from_string("ipp"), MODEL_KIND_IPPOOL);
	assert_int_equal(model_kind_from_string("pools"), MODEL_KIND_IPPOOL);
	assert_int_equal(model_kind_from_string("bgpconfigs"), MODEL_KIND_BGP_CONFIGURATION);
	assert_int_equal(model_kind_from_string("bgpp"), MODEL_KIND_BGP_PEER);
	assert_int_equal(model_kind_from_string("np"), MODEL_KIND_NETWORK_POLICY);
	assert_int_equal(model_kind_from_string("gnps"), MODEL_KIND_GLOBAL_NETWORK_POLICY);
	assert_int_equal(model_kind_from_string("netsets"), MODEL_KIND_NETWORK_SET);
	assert_int_equal(model_kind_from_string("gnetset"), MODEL_KIND_GLOBAL_NETWORK_SET);
	assert_int_equal(model_kind_from_string("heps"), MODEL_KIND_HOST_ENDPOINT);
	assert_int_equal(model_kind_from_string("felixconfigs"), MODEL_KIND_FELIX_CONFIGURATION);
	assert_int_equal(model_kind_from_string("tiers"), MODEL_KIND_TIER);
	assert_string_equal(model_kind_to_string(MODEL_KIND_WORKLOAD_ENDPOINT), "WorkloadEndpoint");
	assert_null(model_kind_to_string(_MODEL_KIND_MAX));
	assert_string_equal(model_kind_plural(MODEL_KIND_BGP_CONFIGURATION), "bgpconfigurations");
	assert_true(model_kind_is_namespaced(MODEL_KIND_WORKLOAD_ENDPOINT));
	assert_false(model_kind_is_namespaced(MODEL_KIND_NODE));

	assert_int_equal(model_key(MODEL_KIND_IPPOOL, NULL, "default-ipv4-ippool", &k), 0);
	assert_string_equal(strbuf_cstr(&k), "/tabby/v1/ippools/default-ipv4-ippool");
	strbuf_reset(&k);
	assert_int_equal(model_key(MODEL_KIND_WORKLOAD_ENDPOINT, "prod", "w1", &k), 0);
	assert_string_equal(strbuf_cstr(&k), "/tabby/v1/workloadendpoints/prod/w1");
	assert_int_equal(model_key(MODEL_KIND_NODE, NULL, "", &k), -EINVAL);

	assert_int_equal(model_labels_set(&l, "b", "2"), 0);
	assert_int_equal(model_labels_set(&l, "a", "1"), 0);
	assert_int_equal(model_labels_set(&l, "c", "3"), 0);
	assert_int_equal(model_labels_set(&l, "b", "two"), 0);
	assert_int_equal(l.n, 3);
	assert_string_equal(l.items[0].key, "a");
	assert_string_equal(l.items[2].key, "c");
	assert_string_equal(model_labels_get(&l, "b"), "two");
	assert_null(model_labels_get(&l, "d"));
	model_labels_done(&l);
	for (int i = 0; i < MODEL_MAX_LABELS; i++) {
		char key[16];

		snprintf(key, sizeof(key), "k%d", i);
		assert_int_equal(model_labels_set(&l, key, "v"), 0);
	}
	assert_int_equal(model_labels_set(&l, "one-more", "v"), -E2BIG);
	assert_int_equal(model_labels_set(&l, "k7", "w"), 0);
	model_labels_done(&l);
}

static void test_validators(void **state)
{
	uint32_t as;
	char mac[18];

	assert_true(model_name_is_valid("default-ipv4-ippool"));
	assert_true(model_name_is_valid("a.b-c.d"));
	assert_false(model_name_is_valid("a..b"));
	assert_false(model_name_is_valid("-a"));
	assert_false(model_name_is_valid("a."));
	assert_false(model_name_is_valid("A"));
	assert_false(model_name_is_valid(""));
	assert_true(model_label_key_is_valid("projectcalico.org/namespace"));
	assert_false(model_label_key_is_valid("/x"));
	assert_false(model_label_key_is_valid("a/b/c"));
	assert_true(model_label_value_is_valid(""));
	assert_false(model_label_value_is_valid(
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"));
	assert_int_equal(model_parse_as_number("64512", &as), 0);
	assert_int_equal(as, 64512);
	assert_int_equal(model_parse_as_number("1.10", &as), 0);
	assert_int_equal(as, 65546);
	assert_int_equal(model_parse_as_number("65535.65535", &as), 0);
	assert_int_equal(as, UINT32_MAX);
	assert_int_equal(model_parse_as_number("1.", &as), -EINVAL);
	assert_int_equal(model_parse_as_number(".1", &as), -EINVAL);
	assert_int_equal(model_parse_as_number("0.0", &as), -EINVAL);
	assert_int_equal(model_parse_mac("EE-EE-EE-EE-EE-0A", mac), 0);
	assert_string_equal(mac, "ee:ee:ee:ee:ee:0a");
	assert_int_equal(model_parse_mac("ee:ee:ee:ee:ee:eg", mac), -EINVAL);
	assert_int_equal(model_parse_mac("ee:ee-ee:ee:ee:ee", mac), -EINVAL);
	assert_true(model_yaml_needs_quotes("123"));
	assert_true(model_yaml_needs_quotes("yes"));
	assert_true(model_yaml_needs_quotes(""));
	assert_true(model_yaml_needs_quotes("1.10"));
	assert_false(model_yaml_needs_quotes("Never"));
}

/* Odd documents: empty ones are skipped, Lists are flattened, JSON works, limits hold. */
static void test_documents(void **state)
{
	struct model_list l = {};
	struct parse_err err = {};
	char buf[512];
	const char *empty = "# nothing\n---\n---\n";
	const char *two = "---\n" POOL_HEAD "spec:\n  cidr: 198.19.0.0/16\n---\n"
			  "apiVersion: projectcalico.org/v3\nkind: Node\nmetadata: {name: h1}\n";
	_cleanup_strbuf_ struct strbuf many = {};

	assert_int_equal(model_decode(empty, strlen(empty), "e", &l, &err), 0);
	assert_int_equal(l.n, 0);
	model_list_done(&l);
	assert_int_equal(model_decode(two, strlen(two), "t", &l, &err), 0);
	assert_int_equal(l.n, 2);
	assert_int_equal(l.items[0]->source_line, 2);
	assert_int_equal(l.items[1]->source_line, 9);
	assert_int_equal(l.items[1]->kind, MODEL_KIND_NODE);
	model_list_done(&l);

	struct model_resource *r = NULL;

	assert_int_equal(model_decode_one(two, strlen(two), "t", &r, &err), -EINVAL);
	assert_string_equal(parse_err_format(&err, buf, sizeof(buf)),
			    "t: expected exactly one resource, found 2");
	assert_null(r);

	/* more than MODEL_MAX_IP_NETWORKS addresses */
	assert_int_equal(strbuf_puts(&many, "apiVersion: projectcalico.org/v3\n"
					    "kind: WorkloadEndpoint\nmetadata: {name: w}\n"
					    "spec: {orchestrator: k8s, node: h1, interfaceName: x, "
					    "ipNetworks: ["),
			 0);
	for (int i = 0; i <= MODEL_MAX_IP_NETWORKS; i++)
		assert_int_equal(strbuf_printf(&many, "%s198.19.0.%d", i ? ", " : "", i), 0);
	assert_int_equal(strbuf_puts(&many, "]}\n"), 0);
	assert_int_equal(model_decode(many.buf, many.len, "m", &l, &err), -EINVAL);
	assert_string_equal(parse_err_format(&err, buf, sizeof(buf)),
			    "m:4:67: spec.ipNetworks: more than 16 entries");

	/* aliases are refused */
	const char *alias = POOL_HEAD "  labels: &l {a: b}\nspec: {cidr: 198.19.0.0/16}\nx: *l\n";

	assert_int_equal(model_decode(alias, strlen(alias), "a", &l, &err), -EINVAL);
	assert_string_equal(parse_err_format(&err, buf, sizeof(buf)),
			    "a:7:4: invalid YAML: aliases are not supported");
}

/* model_decode_diag(): every error of a file in order, warnings for stored-only fields, and the
 * stored-only fields survive encode and decode. */
static void test_diag(void **state)
{
	static const char text[] = /* errors in two documents, and a good one between */
	    POOL_HEAD "spec:\n  cidr: 198.19.0.0/33\n  bogus: 1\n"			/* 1-7 */
		      "---\n" FC_HEAD "  logSeverityScreen: Info\n  healthPort: 9099\n" /* 8-15 */
		      "---\n" GNP_HEAD "  ingress:\n  - action: Allowed\n"		/* 16-23 */
		      "  - action: Allow\n    source: {nets: [198.18.0.1/24]}\n";	/* 24-25 */
	static const char *const want_errors[] = {
	    "d.yaml:6:9: spec.cidr: invalid CIDR \"198.19.0.0/33\"",
	    "d.yaml:7:3: spec.bogus: unknown field",
	    "d.yaml:23:13: spec.ingress[0].action: must be Allow, Deny, Log or Pass",
	    "d.yaml:25:21: spec.ingress[1].source.nets[0]: invalid CIDR \"198.18.0.1/24\": host bits "
	    "are set (network is 198.18.0.0/24)",
	};
	static const char good[] = FC_HEAD
	    "  logSeverityScreen: Info\n  healthPort: 9099\n  kubeNodePortRanges: [\"30000:32767\"]\n"
	    "---\n" GNP_HEAD
	    "  ingress:\n  - action: Allow\n    metadata:\n      annotations: {who: ops}\n"
	    "---\napiVersion: projectcalico.org/v3\nkind: BGPPeer\nmetadata: {name: p}\nspec:\n"
	    "  peerIP: 198.18.0.1\n  asNumber: 64513\n  localASNumber: 64600\n"
	    "---\napiVersion: projectcalico.org/v3\nkind: BGPConfiguration\nmetadata: {name: "
	    "default}\nspec:\n  serviceClusterIPs: [{cidr: 198.18.240.0/24}]\n"
	    "  serviceExternalIPs: [{cidr: 198.18.241.0/24}, {cidr: \"2001:db8:5::/112\"}]\n"
	    "  serviceLoadBalancerIPs: [{cidr: 198.18.242.16/28}]\n";
	struct model_list l = {.items = (void *)0x1};
	struct model_diag d = {};
	char buf[1024];

	assert_int_equal(model_decode_diag(text, strlen(text), "d.yaml", &l, &d), -EINVAL);
	assert_ptr_equal(l.items, (void *)0x1);
	assert_int_equal(d.n_errors, ELEMENTSOF(want_errors));
	for (size_t i = 0; i < d.n_errors; i++)
		assert_string_equal(parse_err_format(&d.errors[i], buf, sizeof(buf)),
				    want_errors[i]);
	model_diag_done(&d);

	l = (struct model_list){};
	assert_int_equal(model_decode_diag(good, strlen(good), "g.yaml", &l, &d), 0);
	assert_int_equal(d.n_errors, 0);
	/* localASNumber and IPv4 service ranges are acted upon: no warning; an IPv6 service
	 * range is stored but not advertised (IPv4-only BIRD) */
	assert_int_equal(d.n_warnings, 4);
	assert_string_equal(parse_err_format(&d.warnings[0], buf, sizeof(buf)),
			    "g.yaml:6:3: spec.logSeverityScreen: accepted and stored, but tabby's "
			    "felix does not act on it yet (FelixConfiguration default)");
	assert_string_equal(parse_err_format(&d.warnings[3], buf, sizeof(buf)),
			    "g.yaml:33:49: spec.serviceExternalIPs[1]: IPv6 service range "
			    "2001:db8:5::/112 is stored but not advertised: tabby's BIRD "
			    "configuration is IPv4-only (BGPConfiguration default)");
	model_diag_done(&d);
	assert_int_equal(l.n, 4);

	/* stored as written, and read back from the stored JSON */
	static const char *const want_json[] = {
	    "{\"apiVersion\":\"projectcalico.org/v3\",\"kind\":\"FelixConfiguration\","
	    "\"metadata\":{\"name\":\"default\"},\"spec\":{\"logSeverityScreen\":\"Info\","
	    "\"healthPort\":9099,\"kubeNodePortRanges\":[\"30000:32767\"]}}",
	    NULL,
	    NULL,
	    NULL,
	};
	for (size_t i = 0; i < l.n; i++) {
		_cleanup_strbuf_ struct strbuf js = {}, again = {};
		struct model_resource *r = NULL;
		struct parse_err err = {};

		assert_int_equal(model_encode_json(l.items[i], &js), 0);
		if (want_json[i])
			assert_string_equal(strbuf_cstr(&js), want_json[i]);
		assert_int_equal(model_decode_one(js.buf, js.len, "ds", &r, &err), 0);
		assert_int_equal(model_encode_json(r, &again), 0);
		assert_string_equal(strbuf_cstr(&js), strbuf_cstr(&again));
		model_resource_free(r);
	}
	assert_non_null(l.items[1]->policy.ingress[0].metadata);
	assert_string_equal(l.items[1]->policy.ingress[0].metadata,
			    "{\"annotations\":{\"who\":\"ops\"}}");
	assert_int_equal(l.items[2]->bgppeer.local_as_number, 64600);
	assert_int_equal(l.items[3]->bgpconfig.n_service_cluster_ips, 1);
	assert_int_equal(l.items[3]->bgpconfig.n_service_external_ips, 2);
	assert_int_equal(l.items[3]->bgpconfig.n_service_loadbalancer_ips, 1);
	model_list_done(&l);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_round_trip),	      cmocka_unit_test(test_golden),
	    cmocka_unit_test(test_invalid),	      cmocka_unit_test(test_validate_pools),
	    cmocka_unit_test(test_kinds_keys_labels), cmocka_unit_test(test_validators),
	    cmocka_unit_test(test_documents),	      cmocka_unit_test(test_diag),
	    cmocka_unit_test(test_json_fast_path),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
