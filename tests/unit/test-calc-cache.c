/* SPDX-License-Identifier: Apache-2.0 */
/* felix/calc/cache.c: remote WorkloadEndpoints are stored trimmed (only what the calculators
 * read, with shared strings, in one block without the local-only fields); local ones whole. Replacing, deleting and sweeping entries gives
 * every shared string back (ASan in the sanitizer run checks the frees). Entries live in sorted
 * chunks that split, merge and go away as keys come and go. */
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
#include "model/model.h"

#define P "/tabby/v1/"

static void wep(struct calc_cache *c, unsigned i, const char *node, const char *app)
{
	char key[256], v[2048];
	const char *ns = i % 2 ? "ns1" : "ns0";
	snprintf(key, sizeof(key), P "workloadendpoints/%s/%s-cni-c%u-eth0", ns, node, i);
	snprintf(v, sizeof(v),
		 "{\"apiVersion\":\"projectcalico.org/v3\",\"kind\":\"WorkloadEndpoint\","
		 "\"metadata\":{\"name\":\"%s-cni-c%u-eth0\",\"namespace\":\"%s\",\"uid\":\"u%u\","
		 "\"labels\":{\"app\":\"%s\",\"role\":\"r%u\"}},"
		 "\"spec\":{\"orchestrator\":\"cni\",\"workload\":\"pod%u\",\"node\":\"%s\","
		 "\"containerID\":\"c%u\",\"pod\":\"pod%u\",\"endpoint\":\"eth0\","
		 "\"interfaceName\":\"tby%011u\",\"mac\":\"ee:00:00:00:00:%02x\","
		 "\"ipNetworks\":[\"198.18.%u.%u/32\"],\"profiles\":[\"kns.%s\"],"
		 "\"ports\":[{\"name\":\"http\",\"protocol\":\"TCP\",\"port\":80}]}}",
		 node, i, ns, i, app, i % 2, i, node, i, i, i, i % 256, i / 256, i % 256, ns);
	struct parse_err err = {0};
	int r = calc_cache_put(c, key, v, strlen(v), &err);
	if (r != 1) {
		char buf[1024];
		fail_msg("put %s: %d %s", key, r, parse_err_format(&err, buf, sizeof(buf)));
	}
}

static const struct model_resource *get(struct calc_cache *c, unsigned i, const char *node)
{
	char key[256];
	snprintf(key, sizeof(key), P "workloadendpoints/%s/%s-cni-c%u-eth0", i % 2 ? "ns1" : "ns0",
		 node, i);
	return calc_cache_get(c, key);
}

static void del(struct calc_cache *c, unsigned i, const char *node)
{
	char key[256];
	snprintf(key, sizeof(key), P "workloadendpoints/%s/%s-cni-c%u-eth0", i % 2 ? "ns1" : "ns0",
		 node, i);
	assert_int_equal(calc_cache_delete(c, key), 1);
}

static int count_cb(const struct model_resource *res, void *userdata)
{
	(void)res;
	(*(size_t *)userdata)++;
	return 0;
}

static void test_remote_trimmed(void **state)
{
	_cleanup_(calc_cache_freep) struct calc_cache *c = NULL;
	char app[16], name[64];

	assert_int_equal(calc_cache_new(&c), 0);
	assert_int_equal(calc_cache_set_local_node(c, "h1"), 0);
	for (unsigned i = 0; i < 300; i++) {
		snprintf(app, sizeof(app), "app%u", i % 3);
		wep(c, i, "h2", app);
	}
	wep(c, 1000, "h1", "app0");

	/* local: whole */
	const struct model_resource *l = get(c, 1000, "h1");
	assert_non_null(l);
	assert_string_equal(l->wep.container_id, "c1000");
	assert_string_equal(l->wep.interface_name, "tby00000001000");
	assert_string_equal(l->wep.mac, "ee:00:00:00:00:e8");
	assert_string_equal(l->meta.uid, "u1000");

	/* remote: what policy reads, nothing else */
	for (unsigned i = 0; i < 300; i++) {
		const struct model_resource *r = get(c, i, "h2");
		assert_non_null(r);
		snprintf(name, sizeof(name), "h2-cni-c%u-eth0", i);
		assert_string_equal(r->meta.name, name);
		assert_string_equal(r->meta.namespace, i % 2 ? "ns1" : "ns0");
		assert_string_equal(r->wep.node, "h2");
		assert_string_equal(r->wep.orchestrator, "cni");
		snprintf(app, sizeof(app), "app%u", i % 3);
		assert_string_equal(model_labels_get(&r->meta.labels, "app"), app);
		assert_int_equal(r->wep.n_ip_networks, 1);
		char net[IP_PREFIX_STRLEN], want[IP_PREFIX_STRLEN];
		snprintf(want, sizeof(want), "198.18.%u.%u/32", i / 256, i % 256);
		assert_string_equal(ip_prefix_format(&r->wep.ip_networks[0], net), want);
		assert_int_equal(r->wep.n_ports, 1);
		assert_int_equal(r->wep.n_profiles, 1);
		assert_string_equal(r->wep.profiles[0], i % 2 ? "kns.ns1" : "kns.ns0");
		assert_null(r->meta.uid);
		/* One block: the head (no local-only fields), labels, addresses, the key. */
		const char *b = (const char *)r, *end = b + MODEL_WEP_HEAD_SIZE + 256;
		assert_true((const char *)r->meta.labels.items >= b + MODEL_WEP_HEAD_SIZE);
		assert_true((const char *)r->wep.ip_networks > (const char *)r->meta.labels.items);
		assert_true(r->meta.name > (const char *)r->wep.ip_networks && r->meta.name < end);
	}
	/* Keys without their common prefix still sort and scan as whole keys: the local
	 * endpoint (a whole key) sits among the packed ones, and a scan by kind sees all. */
	size_t n_seen = 0;
	assert_int_equal(calc_cache_foreach(c, MODEL_KIND_WORKLOAD_ENDPOINT, count_cb, &n_seen), 0);
	assert_int_equal(n_seen, 301);
	assert_null(calc_cache_get(c, P "workloadendpoints/"));
	assert_null(calc_cache_get(c, P "workloadendpoints"));
	assert_null(calc_cache_get(c, P "workloadendpoints/ns0/h2-cni-c0-eth"));
	assert_null(calc_cache_get(c, P "workloadendpoints/ns0/h2-cni-c0-eth00"));
	assert_null(calc_cache_get(c, P "workloadendpoints/ns0h2-cni-c0-eth0"));
	assert_null(calc_cache_get(c, P "workloadendpoints/ns0/"));
	assert_null(calc_cache_get(c, P "workloadendpoints/ns"));
	assert_null(calc_cache_get(c, P "workloadendpoints/ns/0/h2-cni-c0-eth0"));
	assert_non_null(calc_cache_get(c, P "workloadendpoints/ns0/h2-cni-c0-eth0"));
	/* The node cannot change under trimmed endpoints: they lack the local-only fields. */
	assert_int_equal(calc_cache_set_local_node(c, "h2"), -EBUSY);
	assert_int_equal(calc_cache_set_local_node(c, NULL), -EBUSY);
	assert_int_equal(calc_cache_set_local_node(c, "h1"), 0);
	/* shared: one copy of each string */
	assert_ptr_equal(get(c, 0, "h2")->meta.namespace, get(c, 2, "h2")->meta.namespace);
	assert_ptr_equal(model_labels_get(&get(c, 0, "h2")->meta.labels, "app"),
			 model_labels_get(&get(c, 3, "h2")->meta.labels, "app"));
	size_t nl = 0, nr = 0;
	assert_int_equal(calc_cache_endpoint_counts(c, &nl, &nr), 0);
	assert_int_equal(nl, 1);
	assert_int_equal(nr, 300);
	/* ns0 ns1 h2 cni app role app0 app1 app2 r0 r1 */
	assert_int_equal(c->strs_n, 11);
	/* Packed blocks come from the cache's slabs (300 fit in one); a deleted endpoint's block
	 * is reused by the next one of its size. */
	assert_int_equal(c->slabs.n_slab, 1);
	const struct model_resource *blk = get(c, 7, "h2");
	del(c, 7, "h2");
	assert_null(get(c, 7, "h2"));
	wep(c, 7, "h2", "app2");
	assert_ptr_equal(get(c, 7, "h2"), blk);
	assert_string_equal(model_labels_get(&get(c, 7, "h2")->meta.labels, "app"), "app2");
	assert_string_equal(get(c, 7, "h2")->meta.name, "h2-cni-c7-eth0");
	wep(c, 7, "h2", "app1");
	assert_int_equal(c->slabs.n_slab, 1);
	assert_string_equal(model_labels_get(&get(c, 7, "h2")->meta.labels, "app"), "app1");

	/* replace with a new label value, delete some, sweep the rest but a few */
	wep(c, 5, "h2", "fresh");
	assert_string_equal(model_labels_get(&get(c, 5, "h2")->meta.labels, "app"), "fresh");
	assert_int_equal(c->strs_n, 12);
	wep(c, 5, "h2", "app2");
	assert_int_equal(c->strs_n, 11);
	for (unsigned i = 0; i < 100; i++) {
		del(c, i, "h2");
	}
	calc_cache_mark_all(c);
	wep(c, 1000, "h1", "app0");
	for (unsigned i = 200; i < 203; i++) {
		snprintf(app, sizeof(app), "app%u", i % 3);
		wep(c, i, "h2", app);
	}
	assert_int_equal(calc_cache_sweep(c), 197);
	assert_non_null(get(c, 201, "h2"));
	assert_null(get(c, 150, "h2"));
	for (unsigned i = 200; i < 203; i++) {
		del(c, i, "h2");
	}
	assert_int_equal(c->strs_n, 0);
	assert_non_null(get(c, 1000, "h1"));
	assert_int_equal(calc_cache_endpoint_counts(c, &nl, &nr), 0);
	assert_int_equal(nl, 1);
	assert_int_equal(nr, 0);
	del(c, 1000, "h1");
	assert_int_equal(calc_cache_endpoint_counts(c, &nl, &nr), 0);
	assert_int_equal(nl + nr, 0);

	_cleanup_(calc_cache_freep) struct calc_cache *none = NULL;
	assert_int_equal(calc_cache_new(&none), 0);
	assert_int_equal(calc_cache_endpoint_counts(none, &nl, &nr), -ENODATA);
}

/* @e's full datastore key into @buf (a packed entry keeps only the name). */
static const char *full_key(const struct entry *e, char *buf, size_t size)
{
	if (!e->packed) {
		return e->key;
	}
	snprintf(buf, size, "%s%s/%s", MODEL_WEP_KEY_PREFIX, e->res->meta.namespace, e->key);
	return buf;
}

/* The chunk invariants: no chunk empty or over CACHE_CHUNK, the sizes add up to c->n, keys
 * strictly increase over the whole iteration, and each is found by calc_cache_get(). */
static void check_chunks(const struct calc_cache *c)
{
	size_t n = 0;
	for (size_t k = 0; k < c->n_ch; k++) {
		assert_true(c->ch[k]->n > 0 && c->ch[k]->n <= CACHE_CHUNK);
		n += c->ch[k]->n;
	}
	assert_int_equal(n, c->n);
	char prev[512] = "", buf[512];
	size_t seen = 0;
	const struct entry *e;
	CACHE_FOR_EACH (c, e) {
		const char *key = full_key(e, buf, sizeof(buf));
		assert_true(strcmp(prev, key) < 0);
		assert_ptr_equal(calc_cache_get(c, key), e->res);
		snprintf(prev, sizeof(prev), "%s", key);
		seen++;
	}
	assert_int_equal(seen, c->n);
}

/* Entries live in chunks: keys in order (a snapshot) fill every chunk; keys in random order
 * split chunks; deletions free or merge them; the order and lookups hold throughout. */
static void test_chunks(void **state)
{
	(void)state;
	_cleanup_(calc_cache_freep) struct calc_cache *c = NULL;
	assert_int_equal(calc_cache_new(&c), 0);
	assert_int_equal(calc_cache_set_local_node(c, "h1"), 0);
	enum { N = 3000 };
	for (unsigned k = 0; k < N; k++) {
		wep(c, 10000 + 2 * k, "h2", "app0"); /* ns0, keys ascending */
	}
	check_chunks(c);
	assert_int_equal(c->n_ch, (N + CACHE_CHUNK - 1) / CACHE_CHUNK);

	unsigned perm[N];
	uint32_t x = 12345;
	for (unsigned k = 0; k < N; k++) {
		perm[k] = k;
	}
	for (unsigned k = N - 1; k > 0; k--) {
		x = x * 1103515245u + 12345u;
		unsigned j = (x >> 8) % (k + 1), t = perm[k];
		perm[k] = perm[j];
		perm[j] = t;
	}
	for (unsigned k = 0; k < N; k++) {
		wep(c, 10001 + 2 * perm[k], k % 2 ? "h2" : "h1", "app1"); /* ns1, random order */
	}
	check_chunks(c);
	assert_int_equal(c->n, 2 * N);
	size_t count = 0;
	assert_int_equal(calc_cache_foreach(c, MODEL_KIND_WORKLOAD_ENDPOINT, count_cb, &count), 0);
	assert_int_equal(count, 2 * N);

	for (unsigned k = 0; k < N; k++) {
		if (k % 10) {
			del(c, 10000 + 2 * perm[k], "h2");
			del(c, 10001 + 2 * perm[k], k % 2 ? "h2" : "h1");
		}
	}
	check_chunks(c);
	assert_int_equal(c->n, 2 * (N / 10));
	/* merged (for this sequence): no two neighbours both a quarter full or less */
	for (size_t k = 0; k + 1 < c->n_ch; k++) {
		assert_false(c->ch[k]->n <= CACHE_CHUNK / 4 && c->ch[k + 1]->n <= CACHE_CHUNK / 4);
	}
	calc_cache_mark_all(c);
	assert_int_equal(calc_cache_sweep(c), 2 * (N / 10));
	assert_int_equal(c->n_ch, 0);
	check_chunks(c);
	wep(c, 10000, "h2", "app0");
	check_chunks(c);
	assert_non_null(get(c, 10000, "h2"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_remote_trimmed),
	    cmocka_unit_test(test_chunks),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
