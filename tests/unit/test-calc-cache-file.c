/* SPDX-License-Identifier: Apache-2.0 */
/*
 * felix/calc/cache-file.c: the cache saved at exit and loaded at start (warm restart).
 * - Every resource of the model's golden manifests, remote and local endpoints (IPv4 and IPv6,
 *   labels, profiles, named ports, a service account), an IPAM block and a secret go into a
 *   cache with mod_revisions; saved and loaded, each entry comes back with its mod_revision and
 *   the same encoding, the secret does not, and saving the loaded cache gives the same bytes.
 * - calc_cache_known()/calc_cache_confirm() and the mark and sweep over loaded entries.
 * - Damage: every truncation and every flipped byte is refused (checksum); with the checksum
 *   made right again, every changed byte either loads or is refused with a record and field,
 *   never a crash (ASan in the sanitizer run); another node, format or tabby version is
 *   -ESTALE.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "felix/calc/calc-internal.h"
#include "felix/calc/calc.h"
#include "ipam/block.h"
#include "model/model.h"

#define P "/tabby/v1/"
#define NODE "h1"

static int64_t next_rev = 100;

static void put_rev(struct calc_cache *c, const char *key, const char *v, int64_t rev)
{
	struct calc_decoded d;
	struct parse_err err = {0};
	char buf[1024];

	calc_cache_decode(key, v, strlen(v), &d);
	d.mod_revision = rev;
	int r = calc_cache_put_decoded(c, key, &d, &err);
	if (r != 1)
		fail_msg("put %s: %d %s", key, r, parse_err_format(&err, buf, sizeof(buf)));
}

static void wep(struct calc_cache *c, unsigned i, const char *node, bool v6)
{
	char key[256], v[2048];
	const char *ns = i % 2 ? "ns1" : "ns0";

	snprintf(key, sizeof(key), P "workloadendpoints/%s/%s-cni-c%u-eth0", ns, node, i);
	snprintf(v, sizeof(v),
		 "{\"apiVersion\":\"projectcalico.org/v3\",\"kind\":\"WorkloadEndpoint\","
		 "\"metadata\":{\"name\":\"%s-cni-c%u-eth0\",\"namespace\":\"%s\",\"uid\":\"u%u\","
		 "\"labels\":{\"app\":\"a%u\",\"role\":\"r%u\",\"x.io/tier\":\"\"}},"
		 "\"spec\":{\"orchestrator\":\"k8s\",\"workload\":\"pod%u\",\"node\":\"%s\","
		 "\"containerID\":\"c%u\",\"pod\":\"pod%u\",\"endpoint\":\"eth0\","
		 "\"interfaceName\":\"tby%011u\",\"mac\":\"ee:00:00:00:00:%02x\","
		 "\"ipNetworks\":[\"198.18.%u.%u/32\"%s],\"profiles\":[\"kns.%s\",\"ksa.%s.sa\"],"
		 "\"serviceAccountName\":\"sa%u\","
		 "\"ports\":[{\"name\":\"http\",\"protocol\":\"TCP\",\"port\":80},"
		 "{\"name\":\"dns\",\"protocol\":\"UDP\",\"port\":53}]}}",
		 node, i, ns, i, i % 7, i % 2, i, node, i, i, i, i % 256, i / 256, i % 256,
		 v6 ? ",\"2001:db8::1:5/128\"" : "", ns, ns, i);
	put_rev(c, key, v, next_rev++);
}

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long n;

	assert_non_null(f);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = malloc((size_t)n + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	*len = (size_t)n;
	return buf;
}

/* Every resource of a golden manifest, stored as the datastore would hold it. */
static void put_manifest(struct calc_cache *c, const char *name)
{
	char path[512];
	size_t len;
	struct model_list l = {0};
	struct parse_err err = {0};
	char buf[1024];

	snprintf(path, sizeof(path), "%s/tests/golden/model/%s", TABBY_SOURCE_DIR, name);
	char *text = slurp(path, &len);
	if (model_decode(text, len, path, &l, &err) < 0)
		fail_msg("%s", parse_err_format(&err, buf, sizeof(buf)));
	for (size_t i = 0; i < l.n; i++) {
		struct strbuf key = {0}, val = {0};

		assert_int_equal(model_key(l.items[i]->kind, l.items[i]->meta.namespace,
					   l.items[i]->meta.name, &key),
				 0);
		assert_int_equal(model_encode_json(l.items[i], &val), 0);
		if (cache_key_classify(key.buf, &(const char *){0}, &(size_t){0},
				       &(const char *){0}) >= 0)
			put_rev(c, key.buf, val.buf, next_rev++);
		strbuf_done(&key);
		strbuf_done(&val);
	}
	model_list_done(&l);
	free(text);
}

static struct calc_cache *new_cache(void)
{
	struct calc_cache *c = NULL;

	assert_int_equal(calc_cache_new(&c), 0);
	assert_int_equal(calc_cache_set_local_node(c, NODE), 0);
	return c;
}

static struct calc_cache *sample(void)
{
	struct calc_cache *c = new_cache();
	static const char *const manifests[] = {
	    "bgp.yaml",
	    "ippools.yaml",
	    "k8s-policy.yaml",
	    "list.yaml",
	    "node.yaml",
	    "policy.yaml",
	    "workloadendpoint.yaml",
	    "k8s/default-deny.yaml",
	    "k8s/named-ports.yaml",
	    "k8s/ipblock-except.yaml",
	};
	struct ipam_block b = {0};
	struct ip_prefix cidr;
	struct ip_addr a[2];
	struct strbuf bv = {0};

	for (size_t i = 0; i < ELEMENTSOF(manifests); i++)
		put_manifest(c, manifests[i]);
	for (unsigned i = 0; i < 40; i++)
		wep(c, i, i % 5 ? "h2" : NODE, i % 3 == 0);
	assert_int_equal(ip_prefix_parse("198.19.0.64/26", true, &cidr), 0);
	assert_int_equal(ipam_block_init(&b, cidr, "host:" NODE), 0);
	assert_int_equal(ipam_block_assign(&b, 2, "h.1", NULL, a), 2);
	assert_int_equal(ipam_block_encode_json(&b, &bv), 0);
	put_rev(c, P "ipam/blocks/198.19.0.64-26", bv.buf, next_rev++);
	ipam_block_done(&b);
	strbuf_done(&bv);
	put_rev(c, P "secrets/bgp", "{\"tor\":\"pw\"}", next_rev++);
	return c;
}

/* The encoding of @key's entry in @c ("" for none), for comparisons. */
static void encode_entry(const struct calc_cache *c, const char *key, struct strbuf *out)
{
	const struct entry *e = NULL;
	struct cache_it it = {0};

	strbuf_reset(out);
	for (const struct entry *x; (x = cache_it_next(c, &it));) {
		char full[512];

		snprintf(full, sizeof(full), x->packed ? MODEL_WEP_KEY_PREFIX "%s/%s" : "%s%s",
			 x->packed ? x->res->meta.namespace : "", x->key);
		if (strcmp(full, key) == 0) {
			e = x;
			break;
		}
	}
	if (!e)
		return;
	assert_int_equal(
	    strbuf_printf(out, "rev %lld trimmed %d: ", (long long)e->mod_revision, e->trimmed), 0);
	if (e->block)
		assert_int_equal(ipam_block_encode_json(e->block, out), 0);
	else if (e->trimmed) {
		/* a packed block ends at the local-only fields */
		struct model_resource head = {0};

		memcpy(&head, e->res, MODEL_WEP_HEAD_SIZE);
		assert_int_equal(model_encode_json(&head, out), 0);
	} else if (e->res)
		assert_int_equal(model_encode_json(e->res, out), 0);
}

static void test_round_trip(void **state)
{
	struct calc_cache *c = sample(), *d = new_cache();
	struct strbuf f1 = {0}, f2 = {0}, a = {0}, b = {0};
	struct parse_err err = {0};
	struct cache_it it = {0};
	size_t records = 0, n_keys = 0, n_trimmed = 0, n_json = 0;
	int64_t rev = 0;
	char buf[1024];

	assert_int_equal(calc_cache_save(c, 4242, &f1, &records), 0);
	assert_int_equal(records, calc_cache_size(c) - 1); /* all but the secret */
	int r = calc_cache_load(d, f1.buf, f1.len, "f", &rev, &err);
	if (r < 0)
		fail_msg("load: %d %s", r, parse_err_format(&err, buf, sizeof(buf)));
	assert_int_equal(rev, 4242);
	assert_int_equal(calc_cache_size(d), calc_cache_size(c) - 1);
	for (const struct entry *e; (e = cache_it_next(c, &it));) {
		char key[512];

		snprintf(key, sizeof(key), e->packed ? MODEL_WEP_KEY_PREFIX "%s/%s" : "%s%s",
			 e->packed ? e->res->meta.namespace : "", e->key);
		encode_entry(c, key, &a);
		encode_entry(d, key, &b);
		if (e->kind == ENTRY_SECRET) {
			assert_int_equal(b.len, 0);
			assert_false(calc_cache_known(d, key, e->mod_revision));
			continue;
		}
		if (strcmp(a.buf, b.buf) != 0)
			fail_msg("%s:\n saved  %s\n loaded %s", key, a.buf, b.buf);
		assert_true(calc_cache_known(d, key, e->mod_revision));
		assert_false(calc_cache_known(d, key, e->mod_revision + 1000));
		n_keys++;
		n_trimmed += e->trimmed;
		n_json += !e->trimmed;
	}
	/* the sample covers both record forms */
	assert_true(n_trimmed >= 30);
	assert_true(n_json >= 20);
	/* A fixpoint: the loaded cache saves the same bytes. */
	assert_int_equal(calc_cache_save(d, 4242, &f2, NULL), 0);
	assert_int_equal(f1.len, f2.len);
	assert_memory_equal(f1.buf, f2.buf, f1.len);
	strbuf_done(&f1);
	strbuf_done(&f2);
	strbuf_done(&a);
	strbuf_done(&b);
	calc_cache_free(c);
	calc_cache_free(d);
	(void)n_keys;
}

static void test_known_confirm_sweep(void **state)
{
	struct calc_cache *c = sample(), *d = new_cache();
	struct strbuf f = {0};
	struct parse_err err = {0};
	int64_t rev;
	const char *pool = P "ippools/default-ipv4-ippool";
	const struct model_resource *res = calc_cache_get(c, pool);
	char wkey[256];

	assert_non_null(res);
	assert_int_equal(calc_cache_save(c, 7, &f, NULL), 0);
	assert_int_equal(calc_cache_load(d, f.buf, f.len, "f", &rev, &err), 0);
	/* A key the cache ignores is known whatever its revision, and confirms as 0. */
	assert_true(calc_cache_known(d, P "ipam/handles/x", 1));
	assert_int_equal(calc_cache_confirm(d, P "ipam/handles/x", 1), 0);
	/* An absent key, or another revision, is not known and does not confirm. */
	assert_false(calc_cache_known(d, P "ippools/nope", 1));
	assert_int_equal(calc_cache_confirm(d, P "ippools/nope", 1), -ESTALE);
	snprintf(wkey, sizeof(wkey), P "workloadendpoints/ns1/h2-cni-c1-eth0");
	assert_non_null(calc_cache_get(d, wkey));
	assert_false(calc_cache_known(d, wkey, 0));
	assert_int_equal(calc_cache_confirm(d, wkey, 99999), -ESTALE);
	/* Mark and sweep: only the confirmed entries stay. */
	calc_cache_mark_all(d);
	struct cache_it it = {0};
	int64_t pool_rev = 0, wep_rev = 0;
	for (const struct entry *e; (e = cache_it_next(d, &it));) {
		if (!e->packed && strcmp(e->key, pool) == 0)
			pool_rev = e->mod_revision;
		if (e->packed && strcmp(e->key, "h2-cni-c1-eth0") == 0)
			wep_rev = e->mod_revision;
	}
	assert_true(pool_rev > 0 && wep_rev > 0);
	assert_int_equal(calc_cache_confirm(d, pool, pool_rev), 1);
	assert_int_equal(calc_cache_confirm(d, wkey, wep_rev), 1);
	assert_int_equal(calc_cache_sweep(d), calc_cache_size(c) - 1 - 2);
	assert_int_equal(calc_cache_size(d), 2);
	assert_non_null(calc_cache_get(d, pool));
	assert_non_null(calc_cache_get(d, wkey));
	strbuf_done(&f);
	calc_cache_free(c);
	calc_cache_free(d);
}

static void fix_sum(char *buf, size_t len)
{
	uint64_t h = cache_file_sum(buf, len - 8);

	for (size_t i = 0; i < 8; i++)
		buf[len - 8 + i] = (char)(uint8_t)(h >> (8 * i));
}

/* Load @buf into a fresh cache. Return: calc_cache_load()'s return; a refusal must name a
 * field, and a load must save again. */
static int try_load(const char *buf, size_t len)
{
	struct calc_cache *d = new_cache();
	struct parse_err err = {0};
	int64_t rev = 0;
	int r = calc_cache_load(d, buf, len, "f", &rev, &err);

	if (r == -EINVAL) {
		assert_string_equal(err.file, "f");
		assert_true(err.field[0] != '\0');
	} else if (r == 0) {
		struct strbuf again = {0};

		assert_int_equal(calc_cache_save(d, rev, &again, NULL), 0);
		strbuf_done(&again);
	}
	calc_cache_free(d);
	return r;
}

static void test_damage(void **state)
{
	struct calc_cache *c = new_cache();
	struct strbuf f = {0};
	size_t loaded = 0, refused = 0;

	/* a small file: two remote endpoints (one IPv6), a local one, a pool, a policy */
	wep(c, 1, "h2", true);
	wep(c, 2, "h2", false);
	wep(c, 5, NODE, false);
	put_manifest(c, "ippools.yaml");
	assert_int_equal(calc_cache_save(c, 9, &f, NULL), 0);
	assert_int_equal(try_load(f.buf, f.len), 0);
	char *m = malloc(f.len);
	assert_non_null(m);
	for (size_t n = 0; n < f.len; n++)
		assert_int_equal(try_load(f.buf, n), -EINVAL);
	for (size_t i = 0; i < f.len; i++) {
		static const uint8_t vals[] = {0x00, 0x01, 0x7f, 0xff};

		memcpy(m, f.buf, f.len);
		m[i] ^= 0x20;
		assert_int_equal(try_load(m, f.len), -EINVAL); /* the checksum */
		for (size_t k = 0; k < ELEMENTSOF(vals) && i < f.len - 8; k++) {
			memcpy(m, f.buf, f.len);
			m[i] = (char)vals[k];
			fix_sum(m, f.len);
			int r = try_load(m, f.len);
			assert_true(r == 0 || r == -EINVAL || r == -ESTALE);
			loaded += r == 0;
			refused += r != 0;
		}
	}
	assert_true(refused > f.len); /* most damage is caught past the checksum too */
	assert_true(loaded > 0);      /* and some bytes are free (a label's text) */
	/* A remote endpoint's node must be a name, as the decoder requires: "h2" -> "H2". */
	static const char node_field[] = "\x03\x00k8s\x02\x00h2";
	memcpy(m, f.buf, f.len);
	char *at = memmem(m, f.len, node_field, sizeof(node_field) - 1);
	assert_non_null(at);
	at[sizeof(node_field) - 3] = 'H';
	fix_sum(m, f.len);
	{
		struct calc_cache *d = new_cache();
		struct parse_err e = {0};
		int64_t rv;

		assert_int_equal(calc_cache_load(d, m, f.len, "f", &rv, &e), -EINVAL);
		assert_non_null(strstr(e.field, "spec.node"));
		calc_cache_free(d);
	}

	free(m);

	/* Another node's file, and another format, are -ESTALE; a full cache is -EBUSY. */
	struct calc_cache *o = NULL;
	struct parse_err err = {0};
	int64_t rev;
	assert_int_equal(calc_cache_new(&o), 0);
	assert_int_equal(calc_cache_set_local_node(o, "h9"), 0);
	assert_int_equal(calc_cache_load(o, f.buf, f.len, "f", &rev, &err), -ESTALE);
	assert_string_equal(err.field, "node");
	calc_cache_free(o);
	m = malloc(f.len);
	memcpy(m, f.buf, f.len);
	m[8] = 2; /* format 2 */
	fix_sum(m, f.len);
	assert_int_equal(try_load(m, f.len), -ESTALE);
	memcpy(m, f.buf, f.len);
	m[18] = 'x'; /* the version string's first byte: another tabby version */
	fix_sum(m, f.len);
	assert_int_equal(calc_cache_new(&o), 0);
	assert_int_equal(calc_cache_set_local_node(o, NODE), 0);
	assert_int_equal(calc_cache_load(o, m, f.len, "f", &rev, &err), -ESTALE);
	assert_string_equal(err.field, "version");
	calc_cache_free(o);
	free(m);
	assert_int_equal(calc_cache_load(c, f.buf, f.len, "f", &rev, &err), -EBUSY);
	strbuf_done(&f);
	calc_cache_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_round_trip),
	    cmocka_unit_test(test_known_confirm_sweep),
	    cmocka_unit_test(test_damage),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
