/* SPDX-License-Identifier: Apache-2.0 */
/* bird.conf renderer: golden files (tests/golden/bird/<case>.conf, UPDATE_GOLDEN=1 rewrites
 * them), determinism under input order, peer names, model validation. The golden files are
 * parsed by a real BIRD in tests/integration/bird-golden.t. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bgp/bird-conf.h"

static struct ip_addr A(const char *s) {
	struct ip_addr a;

	assert_int_equal(ip_addr_parse(s, &a), 0);
	return a;
}

static struct ip_prefix
P(const char *s) {
	struct ip_prefix p;

	assert_int_equal(ip_prefix_parse(s, true, &p), 0);
	return p;
}

static char *
render(const struct bgp_model *m)
{
	struct strbuf sb = {0};

	assert_int_equal(bird_conf_render(m, &sb), 0);
	return strbuf_steal(&sb);
}

static char *read_file(const char *path)
{
	FILE *f = fopen(path, "re");
	struct strbuf sb = {0};
	char buf[4096];
	size_t n;

	if (!f)
		return NULL;
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		assert_int_equal(strbuf_append(&sb, buf, n), 0);
	fclose(f);
	return strbuf_steal(&sb);
}

static void check_golden(const char *name, const char *text)
{
	char path[512];
	char *want;

	snprintf(path, sizeof(path), "%s/tests/golden/bird/%s.conf", TABBY_SOURCE_DIR, name);
	if (getenv("UPDATE_GOLDEN")) {
		FILE *f = fopen(path, "we");

		assert_non_null(f);
		assert_int_equal(fputs(text, f) >= 0, 1);
		assert_int_equal(fclose(f), 0);
		return;
	}
	want = read_file(path);
	if (!want)
		fail_msg("missing golden file %s (run with UPDATE_GOLDEN=1)", path);
	if (strcmp(want, text) != 0) {
		fprintf(stderr, "--- %s\n+++ rendered\n%s", path, text);
		free(want);
		fail_msg("%s differs from the rendered config", path);
	}
	free(want);
}

/* Renders @m, compares with the golden file, renders again (same bytes), then renders with the
 * peers reversed and rotated (same bytes). */
static void check_case(const char *name, struct bgp_model *m)
{
	char *first = render(m), *again = render(m);

	check_golden(name, first);
	assert_string_equal(first, again);
	free(again);
	if (m->n_peers > 1) {
		struct bgp_peer *orig = m->peers;
		struct bgp_peer *shuf = calloc(m->n_peers, sizeof(*shuf));

		assert_non_null(shuf);
		for (size_t rot = 1; rot <= m->n_peers; rot++) {
			for (size_t i = 0; i < m->n_peers; i++)
				shuf[i] = orig[(m->n_peers - 1 - i + rot) % m->n_peers];
			m->peers = shuf;
			again = render(m);
			m->peers = orig;
			assert_string_equal(first, again);
			free(again);
		}
		free(shuf);
	}
	free(first);
}

static void test_single(void **state)
{
	struct bgp_model m = {
	    .node_name = "solo",
	    .router_id = A("198.18.0.21"),
	    .as_number = 64512,
	};

	check_case("single", &m);
}

/* Lab section 2: h1 in a 3-node full mesh; h1 has the lowest address, so it waits for the
 * others to connect (Calico: passive toward peers with a higher address). */
static void test_mesh(void **state)
{
	struct ip_prefix pools[] = {P("198.19.0.0/16")};
	struct ip_prefix blocks[] = {P("198.19.0.0/26")};
	struct bgp_peer peers[] = {
	    {.type = BGP_PEER_MESH, .addr = A("198.18.0.13"), .as_number = 64512, .passive = true},
	    {.type = BGP_PEER_MESH, .addr = A("198.18.0.12"), .as_number = 64512, .passive = true},
	};
	struct bgp_model m = {
	    .node_name = "h1",
	    .router_id = A("198.18.0.11"),
	    .local_addr = A("198.18.0.11"),
	    .as_number = 64512,
	    .pools = pools,
	    .n_pools = ELEMENTSOF(pools),
	    .blocks = blocks,
	    .n_blocks = ELEMENTSOF(blocks),
	    .peers = peers,
	    .n_peers = ELEMENTSOF(peers),
	    .log_file = "/tmp/tabby-lab/h1/bird.log",
	    .kernel_scan_s = 10,
	    .keepalive_s = 3,
	    .hold_s = 9,
	    .fast_timers = true,
	};

	check_case("mesh", &m);
}

/* Lab section 3: h1 reflects for h2 and h3; a second block and pool show the prefix sets. */
static void test_route_reflector(void **state)
{
	struct ip_prefix pools[] = {P("198.19.0.0/16"), P("198.18.128.0/20")};
	struct ip_prefix blocks[] = {P("198.19.4.0/26"), P("198.19.0.0/26"), P("198.19.0.0/26")};
	struct bgp_peer peers[] = {
	    {.type = BGP_PEER_MESH,
	     .addr = A("198.18.0.13"),
	     .as_number = 64512,
	     .rr_client = true},
	    {.type = BGP_PEER_MESH, .addr = A("198.18.0.11"), .as_number = 64512}, /* self */
	    {.type = BGP_PEER_MESH,
	     .addr = A("198.18.0.12"),
	     .as_number = 64512,
	     .rr_client = true},
	};
	struct bgp_model m = {
	    .node_name = "h1",
	    .router_id = A("198.18.0.11"),
	    .as_number = 64512,
	    .rr_cluster_id = "198.18.0.11",
	    .pools = pools,
	    .n_pools = ELEMENTSOF(pools),
	    .blocks = blocks,
	    .n_blocks = ELEMENTSOF(blocks),
	    .peers = peers,
	    .n_peers = ELEMENTSOF(peers),
	    .kernel_scan_s = 2,
	};

	check_case("rr", &m);
}

/* Dual stack: an IPv6 pool, block and peer next to the IPv4 ones, plus a non-default port. */
static void test_ipv6(void **state)
{
	struct ip_prefix pools[] = {P("2001:db8:1::/48"), P("198.19.0.0/16")};
	struct ip_prefix blocks[] = {P("2001:db8:1::/122"), P("198.19.0.64/26")};
	struct bgp_peer peers[] = {
	    {.type = BGP_PEER_MESH, .addr = A("2001:db8::13"), .as_number = 64512, .passive = true},
	    {.type = BGP_PEER_GLOBAL, .addr = A("198.18.0.1"), .as_number = 65000},
	    {.type = BGP_PEER_MESH, .addr = A("198.18.0.13"), .as_number = 64512, .passive = true},
	};
	struct bgp_model m = {
	    .node_name = "h2",
	    .router_id = A("198.18.0.12"),
	    .as_number = 64512,
	    .pools = pools,
	    .n_pools = ELEMENTSOF(pools),
	    .blocks = blocks,
	    .n_blocks = ELEMENTSOF(blocks),
	    .peers = peers,
	    .n_peers = ELEMENTSOF(peers),
	    .listen_port = 1790,
	};

	check_case("ipv6", &m);
}

static void test_peer_names(void **state)
{
	static const struct {
		enum bgp_peer_type type;
		const char *addr, *name;
	} cases[] = {
	    {BGP_PEER_MESH, "198.18.0.12", "Mesh_198_18_0_12"},
	    {BGP_PEER_GLOBAL, "198.18.0.1", "Global_198_18_0_1"},
	    {BGP_PEER_NODE, "198.18.1.0", "Node_198_18_1_0"},
	    {BGP_PEER_GLOBAL, "2001:db8::1", "Global_2001_db8__1"},
	    {BGP_PEER_MESH, "2001:DB8:0:0:0:0:0:12", "Mesh_2001_db8__12"},
	};
	char buf[64], small[8];

	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		struct bgp_peer p = {.type = cases[i].type, .addr = A(cases[i].addr)};

		assert_ptr_equal(bird_conf_peer_name(&p, buf, sizeof(buf)), buf);
		assert_string_equal(buf, cases[i].name);
		assert_int_equal(bird_conf_peer_type_from_name(buf), cases[i].type);
	}
	struct bgp_peer p = {.type = BGP_PEER_MESH, .addr = A("198.18.0.12")};

	assert_string_equal(bird_conf_peer_name(&p, small, sizeof(small)), "Mesh_19");

	assert_int_equal(bird_conf_peer_type_from_name("kernel1"), _BGP_PEER_TYPE_INVALID);
	assert_int_equal(bird_conf_peer_type_from_name("mesh_198_18_0_12"), _BGP_PEER_TYPE_INVALID);
	assert_int_equal(bird_conf_peer_type_from_name(NULL), _BGP_PEER_TYPE_INVALID);
	assert_string_equal(bgp_peer_type_to_string(BGP_PEER_MESH), "node-to-node mesh");
	assert_string_equal(bgp_peer_type_to_string(BGP_PEER_GLOBAL), "global");
	assert_string_equal(bgp_peer_type_to_string(BGP_PEER_NODE), "node specific");
	assert_null(bgp_peer_type_to_string(_BGP_PEER_TYPE_MAX));
	assert_null(bgp_peer_type_to_string(_BGP_PEER_TYPE_INVALID));
}

/* Each broken model is -EINVAL and leaves the output buffer exactly as it was. */
static void test_invalid(void **state)
{
	struct ip_prefix pools[] = {P("198.19.0.0/16")};
	struct ip_prefix unmasked;
	struct bgp_peer peer = {
	    .type = BGP_PEER_MESH, .addr = A("198.18.0.12"), .as_number = 64512};
	const struct bgp_model good = {
	    .node_name = "h1",
	    .router_id = A("198.18.0.11"),
	    .as_number = 64512,
	    .pools = pools,
	    .n_pools = 1,
	    .peers = &peer,
	    .n_peers = 1,
	};
	struct strbuf sb = {0};

	assert_int_equal(ip_prefix_parse("198.19.0.1/26", false, &unmasked), 0);
	assert_int_equal(strbuf_puts(&sb, "keep"), 0);
	assert_int_equal(bird_conf_render(&good, &sb), 0);
	assert_true(strncmp(strbuf_cstr(&sb), "keep# Generated", 15) == 0);

	for (int i = 0;; i++) {
		struct bgp_model m = good;
		struct bgp_peer bad_peer = peer;

		switch (i) {
		case 0:
			m.as_number = 0;
			break;
		case 1:
			m.router_id = A("2001:db8::11");
			break;
		case 2:
			m.router_id = (struct ip_addr){0};
			break;
		case 3:
			m.pools = &unmasked;
			break;
		case 4:
			m.log_file = "/tmp/x\";\nprotocol device {}";
			break;
		case 5:
			m.node_name = "h1\nrouter id 1.1.1.1;";
			break;
		case 6:
			m.rr_cluster_id = "not-an-address";
			break;
		case 7:
			bad_peer.as_number = 0;
			m.peers = &bad_peer;
			break;
		case 8: /* BIRD: only internal neighbours can be route reflector clients */
			bad_peer.as_number = 65000;
			bad_peer.rr_client = true;
			m.peers = &bad_peer;
			break;
		case 9:
			bad_peer.type = _BGP_PEER_TYPE_MAX;
			m.peers = &bad_peer;
			break;
		case 10:
			m.hold_s = 2;
			break;
		case 11:
			m.local_addr = A("2001:db8::11");
			break;
		default:
			strbuf_done(&sb);
			return;
		}
		size_t len = sb.len;

		assert_int_equal(bird_conf_render(&m, &sb), -EINVAL);
		assert_int_equal(sb.len, len);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_single),	    cmocka_unit_test(test_mesh),
	    cmocka_unit_test(test_route_reflector), cmocka_unit_test(test_ipv6),
	    cmocka_unit_test(test_peer_names),	    cmocka_unit_test(test_invalid),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
