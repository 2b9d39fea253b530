/* SPDX-License-Identifier: Apache-2.0 */
/*
 * felix/calc/vxlan.c: VXLAN routes, neighbours and FDB entries for vxlanMode Always and
 * CrossSubnet (table-driven: datastore state in, golden desired state out).
 *
 * The cluster: h1 198.18.1.2/24 and h3 198.18.1.3/24 in one subnet, h2 198.18.2.2/24 behind a
 * router; a /26 block each in pool 198.19.0.0/16. Only the VXLAN lines of calc_desired_format()
 * are compared (route ... vxlan.tabby, neigh ... vxlan.tabby, fdb, vxlan), plus blackholes.
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

#include "felix/calc/calc.h"
#include "ipam/block.h"
#include "lib/strbuf.h"

#define P "/tabby/v1/"

static char *node_json(const char *name, const char *addr, const char *tun, const char *mac,
		       const char *labels)
{
	char *s, extra[256] = "";

	if (tun)
		snprintf(extra, sizeof(extra),
			 ",\"ipv4VXLANTunnelAddr\":\"%s\",\"vxlanTunnelMACAddr\":\"%s\"", tun, mac);
	assert_true(asprintf(&s,
			     "{\"apiVersion\":\"projectcalico.org/v3\",\"kind\":\"Node\","
			     "\"metadata\":{\"name\":\"%s\"%s},\"spec\":{\"bgp\":{\"ipv4Address\":"
			     "\"%s\"}%s}}",
			     name, labels ? labels : "", addr, extra) > 0);
	return s;
}

static char *pool_json(const char *cidr, const char *mode, const char *sel)
{
	char *s, extra[256] = "";

	if (sel)
		snprintf(extra, sizeof(extra), ",\"nodeSelector\":\"%s\"", sel);
	assert_true(asprintf(&s,
			     "{\"apiVersion\":\"projectcalico.org/v3\",\"kind\":\"IPPool\","
			     "\"metadata\":{\"name\":\"p1\"},\"spec\":{\"cidr\":\"%s\","
			     "\"vxlanMode\":\"%s\"%s}}",
			     cidr, mode, extra) > 0);
	return s;
}

static void put(struct calc_cache *c, const char *key, char *value)
{
	struct parse_err err = {0};
	int r = calc_cache_put(c, key, value, strlen(value), &err);

	if (r != 1) {
		char buf[1024];
		fail_msg("put %s: %d %s", key, r, parse_err_format(&err, buf, sizeof(buf)));
	}
	free(value);
}

static void put_block(struct calc_cache *c, const char *cidr, const char *node)
{
	struct ipam_block b;
	struct ip_prefix p;
	char aff[128], name[IPAM_BLOCK_NAME_MAX], key[256];
	struct strbuf sb = {0};

	snprintf(aff, sizeof(aff), "host:%s", node);
	assert_int_equal(ip_prefix_parse(cidr, true, &p), 0);
	assert_int_equal(ipam_block_init(&b, p, aff), 0);
	assert_int_equal(ipam_block_encode_json(&b, &sb), 0);
	ipam_block_done(&b);
	snprintf(key, sizeof(key), P "ipam/blocks/%s", ipam_block_name(&p, name));
	put(c, key, strbuf_steal(&sb));
}

/* The VXLAN-relevant lines of the desired state of @me. */
static char *vxlan_lines(const struct calc_cache *c, const char *me)
{
	struct calc_options o = {.node_name = me};
	struct calc_desired d;
	struct strbuf sb = {0}, out = {0};

	assert_int_equal(calc_compute(c, &o, &d), 0);
	assert_int_equal(calc_desired_format(&d, &sb), 0);
	calc_desired_done(&d);
	char *all = strbuf_steal(&sb), *save = NULL;
	for (char *l = strtok_r(all, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		if (strstr(l, "vxlan") || strncmp(l, "fdb ", 4) == 0 || strstr(l, "blackhole"))
			assert_int_equal(strbuf_printf(&out, "%s\n", l), 0);
	}
	free(all);
	return out.buf ? strbuf_steal(&out) : strdup("");
}

struct vx_case {
	const char *name;
	const char *mode;     /* the pool's vxlanMode */
	const char *selector; /* the pool's nodeSelector, NULL = all */
	bool h2_no_tunnel;    /* h2 has not recorded its VTEP yet */
	const char *felixconfig;
	const char *me;
	const char *expected;
};

static const struct vx_case cases[] = {
    {"always from h1", "Always", NULL, false, NULL, "h1",
     "route 198.19.0.0/26 blackhole\n"
     "route 198.19.0.64/26 via 198.19.0.65 dev vxlan.tabby onlink\n"
     "route 198.19.0.128/26 via 198.19.0.129 dev vxlan.tabby onlink\n"
     "neigh 198.19.0.65 66:00:00:00:00:02 dev vxlan.tabby\n"
     "neigh 198.19.0.129 66:00:00:00:00:03 dev vxlan.tabby\n"
     "vxlan pool p1 addr 198.19.0.1 mac 66:00:00:00:00:01\n"
     "fdb 66:00:00:00:00:02 dst 198.18.2.2\n"
     "fdb 66:00:00:00:00:03 dst 198.18.1.3\n"},
    {"always from h2", "Always", NULL, false, NULL, "h2",
     "route 198.19.0.0/26 via 198.19.0.1 dev vxlan.tabby onlink\n"
     "route 198.19.0.64/26 blackhole\n"
     "route 198.19.0.128/26 via 198.19.0.129 dev vxlan.tabby onlink\n"
     "neigh 198.19.0.1 66:00:00:00:00:01 dev vxlan.tabby\n"
     "neigh 198.19.0.129 66:00:00:00:00:03 dev vxlan.tabby\n"
     "vxlan pool p1 addr 198.19.0.65 mac 66:00:00:00:00:02\n"
     "fdb 66:00:00:00:00:01 dst 198.18.1.2\n"
     "fdb 66:00:00:00:00:03 dst 198.18.1.3\n"},
    /* h3 shares h1's subnet: routed by BGP, no encapsulation; h2 is across the router. */
    {"crosssubnet from h1", "CrossSubnet", NULL, false, NULL, "h1",
     "route 198.19.0.0/26 blackhole\n"
     "route 198.19.0.64/26 via 198.19.0.65 dev vxlan.tabby onlink\n"
     "neigh 198.19.0.65 66:00:00:00:00:02 dev vxlan.tabby\n"
     "vxlan pool p1 addr 198.19.0.1 mac 66:00:00:00:00:01\n"
     "fdb 66:00:00:00:00:02 dst 198.18.2.2\n"},
    {"crosssubnet from h2", "CrossSubnet", NULL, false, NULL, "h2",
     "route 198.19.0.0/26 via 198.19.0.1 dev vxlan.tabby onlink\n"
     "route 198.19.0.64/26 blackhole\n"
     "route 198.19.0.128/26 via 198.19.0.129 dev vxlan.tabby onlink\n"
     "neigh 198.19.0.1 66:00:00:00:00:01 dev vxlan.tabby\n"
     "neigh 198.19.0.129 66:00:00:00:00:03 dev vxlan.tabby\n"
     "vxlan pool p1 addr 198.19.0.65 mac 66:00:00:00:00:02\n"
     "fdb 66:00:00:00:00:01 dst 198.18.1.2\n"
     "fdb 66:00:00:00:00:03 dst 198.18.1.3\n"},
    {"never", "Never", NULL, false, NULL, "h1",
     "route 198.19.0.0/26 blackhole\n"
     "vxlan off, release tunnel address\n"},
    /* a remote node without a VTEP yet gets no route (it cannot decapsulate either) */
    {"remote without VTEP", "Always", NULL, true, NULL, "h1",
     "route 198.19.0.0/26 blackhole\n"
     "route 198.19.0.128/26 via 198.19.0.129 dev vxlan.tabby onlink\n"
     "neigh 198.19.0.129 66:00:00:00:00:03 dev vxlan.tabby\n"
     "vxlan pool p1 addr 198.19.0.1 mac 66:00:00:00:00:01\n"
     "fdb 66:00:00:00:00:03 dst 198.18.1.3\n"},
    /* a pool that does not select this node does not enable VXLAN here */
    {"pool not selecting me", "Always", "zone == 'b'", false, NULL, "h1",
     "route 198.19.0.0/26 blackhole\n"
     "vxlan off, release tunnel address\n"},
    {"vxlanMTU", "Always", "zone == 'a'", false, "{\"vxlanMTU\":1400}", "h1",
     "route 198.19.0.0/26 blackhole\n"
     "route 198.19.0.64/26 via 198.19.0.65 dev vxlan.tabby onlink\n"
     "route 198.19.0.128/26 via 198.19.0.129 dev vxlan.tabby onlink\n"
     "neigh 198.19.0.65 66:00:00:00:00:02 dev vxlan.tabby\n"
     "neigh 198.19.0.129 66:00:00:00:00:03 dev vxlan.tabby\n"
     "vxlan pool p1 addr 198.19.0.1 mac 66:00:00:00:00:01 mtu 1400\n"
     "fdb 66:00:00:00:00:02 dst 198.18.2.2\n"
     "fdb 66:00:00:00:00:03 dst 198.18.1.3\n"},
};

static void test_cases(void **state)
{
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct vx_case *t = &cases[i];
		struct calc_cache *c;

		assert_int_equal(calc_cache_new(&c), 0);
		put(c, P "nodes/h1",
		    node_json("h1", "198.18.1.2/24", "198.19.0.1", "66:00:00:00:00:01",
			      ",\"labels\":{\"zone\":\"a\"}"));
		put(c, P "nodes/h2",
		    node_json("h2", "198.18.2.2/24", t->h2_no_tunnel ? NULL : "198.19.0.65",
			      "66:00:00:00:00:02", NULL));
		put(c, P "nodes/h3",
		    node_json("h3", "198.18.1.3/24", "198.19.0.129", "66:00:00:00:00:03", NULL));
		put(c, P "ippools/p1", pool_json("198.19.0.0/16", t->mode, t->selector));
		put_block(c, "198.19.0.0/26", "h1");
		put_block(c, "198.19.0.64/26", "h2");
		put_block(c, "198.19.0.128/26", "h3");
		if (t->felixconfig) {
			char *fc;
			assert_true(asprintf(&fc,
					     "{\"apiVersion\":\"projectcalico.org/v3\",\"kind\":"
					     "\"FelixConfiguration\",\"metadata\":{\"name\":"
					     "\"default\"},\"spec\":%s}",
					     t->felixconfig) > 0);
			struct parse_err err = {0};
			assert_true(calc_cache_put(c, P "felixconfigurations/default", fc,
						   strlen(fc), &err) >= 0);
			free(fc);
		}
		char *got = vxlan_lines(c, t->me);
		if (strcmp(got, t->expected) != 0)
			fprintf(stderr, "case %s\n--- expected\n%s--- got\n%s", t->name,
				t->expected, got);
		assert_string_equal(got, t->expected);
		free(got);
		calc_cache_free(c);
	}
}

/* Switching the pool's mode converges from the cache alone: no memory of the last pass. */
static void test_mode_switch(void **state)
{
	struct calc_cache *c;

	assert_int_equal(calc_cache_new(&c), 0);
	put(c, P "nodes/h1",
	    node_json("h1", "198.18.1.2/24", "198.19.0.1", "66:00:00:00:00:01", NULL));
	put(c, P "nodes/h2",
	    node_json("h2", "198.18.2.2/24", "198.19.0.65", "66:00:00:00:00:02", NULL));
	put_block(c, "198.19.0.0/26", "h1");
	put_block(c, "198.19.0.64/26", "h2");
	const char *modes[] = {"Always", "Never", "CrossSubnet", "Never", "Always"};
	for (size_t i = 0; i < 5; i++) {
		put(c, P "ippools/p1", pool_json("198.19.0.0/16", modes[i], NULL));
		char *got = vxlan_lines(c, "h1");
		bool on = strcmp(modes[i], "Never") != 0;
		assert_int_equal(strstr(got, "198.19.0.64/26 via 198.19.0.65") != NULL, on);
		assert_int_equal(strstr(got, "fdb 66:00:00:00:00:02 dst 198.18.2.2") != NULL, on);
		free(got);
	}
	calc_cache_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_cases),
	    cmocka_unit_test(test_mode_switch),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
