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

/* Lab section 2: h1 in a 3-node full mesh. felix's rule (Calico's): a node is passive toward
 * peers with a lower address, so h1 (the lowest) connects to both and waits for nobody. */
static void test_mesh(void **state)
{
	struct ip_prefix pools[] = {P("198.19.0.0/16")};
	struct ip_prefix blocks[] = {P("198.19.0.0/26")};
	struct bgp_peer peers[] = {
	    {.type = BGP_PEER_MESH, .addr = A("198.18.0.13"), .as_number = 64512},
	    {.type = BGP_PEER_MESH, .addr = A("198.18.0.12"), .as_number = 64512},
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

/* vxlanMode Always on one pool: BIRD exports its blocks but installs no BGP route of it in the
 * kernel (felix routes it through vxlan.tabby; Calico's kernel filter rejects VXLAN pools). */
static void test_vxlan(void **state)
{
	struct ip_prefix pools[] = {P("198.19.0.0/24"), P("198.19.1.0/24")};
	struct ip_prefix vxlan[] = {P("198.19.0.0/24")};
	struct ip_prefix blocks[] = {P("198.19.0.0/26")};
	struct bgp_peer peers[] = {
	    {.type = BGP_PEER_MESH, .addr = A("198.18.1.3"), .as_number = 64512},
	};
	struct bgp_model m = {
	    .node_name = "h1",
	    .router_id = A("198.18.1.2"),
	    .as_number = 64512,
	    .pools = pools,
	    .n_pools = ELEMENTSOF(pools),
	    .vxlan_pools = vxlan,
	    .n_vxlan_pools = ELEMENTSOF(vxlan),
	    .blocks = blocks,
	    .n_blocks = ELEMENTSOF(blocks),
	    .peers = peers,
	    .n_peers = ELEMENTSOF(peers),
	};

	check_case("vxlan", &m);
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
	/* h2 (198.18.0.12, 2001:db8::12) is passive toward the lower 2001:db8::11 only. */
	struct bgp_peer peers[] = {
	    {.type = BGP_PEER_MESH, .addr = A("2001:db8::13"), .as_number = 64512},
	    {.type = BGP_PEER_GLOBAL, .addr = A("198.18.0.1"), .as_number = 65000},
	    {.type = BGP_PEER_MESH, .addr = A("198.18.0.13"), .as_number = 64512},
	    {.type = BGP_PEER_MESH, .addr = A("2001:db8::11"), .as_number = 64512, .passive = true},
	    {.type = BGP_PEER_NODE,
	     .addr = A("2001:db8:ff::1"),
	     .as_number = 65000,
	     .bfd = true,
	     .password = "v6-secret"},
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
	    .local_addr6 = A("2001:db8::12"),
	};

	check_case("ipv6", &m);
}

/* Issue 4, topology rr: a redundant pair of reflectors (h1, h2, same cluster id) with clients
 * h3 and h4. The reflectors peer each other as non-clients (h1 is the lower address, so h2 is
 * the passive side of that session) and every client as "rr client". */
static void test_rr_pair(void **state)
{
	struct ip_prefix pools[] = {P("198.19.0.0/16")};
	struct ip_prefix blocks[] = {P("198.19.0.64/26")};
	struct bgp_peer peers[] = {
	    {.type = BGP_PEER_MESH,
	     .addr = A("198.18.0.14"),
	     .as_number = 64512,
	     .rr_client = true},
	    {.type = BGP_PEER_MESH, .addr = A("198.18.0.11"), .as_number = 64512, .passive = true},
	    {.type = BGP_PEER_MESH,
	     .addr = A("198.18.0.13"),
	     .as_number = 64512,
	     .rr_client = true},
	};
	struct bgp_model m = {
	    .node_name = "h2",
	    .router_id = A("198.18.0.12"),
	    .as_number = 64512,
	    .rr_cluster_id = "244.0.0.1",
	    .pools = pools,
	    .n_pools = ELEMENTSOF(pools),
	    .blocks = blocks,
	    .n_blocks = ELEMENTSOF(blocks),
	    .peers = peers,
	    .n_peers = ELEMENTSOF(peers),
	    .keepalive_s = 3,
	    .hold_s = 9,
	    .fast_timers = true,
	};

	check_case("rr-pair", &m);
}

/* A client of that pair: it peers with the two reflectors only (no mesh) and reflects nothing;
 * it is the higher address on both sessions, so it is passive toward both. */
static void test_rr_client(void **state)
{
	struct ip_prefix pools[] = {P("198.19.0.0/16")};
	struct ip_prefix blocks[] = {P("198.19.0.128/26")};
	struct bgp_peer peers[] = {
	    {.type = BGP_PEER_MESH, .addr = A("198.18.0.12"), .as_number = 64512, .passive = true},
	    {.type = BGP_PEER_MESH, .addr = A("198.18.0.11"), .as_number = 64512, .passive = true},
	};
	struct bgp_model m = {
	    .node_name = "h3",
	    .router_id = A("198.18.0.13"),
	    .as_number = 64512,
	    .pools = pools,
	    .n_pools = ELEMENTSOF(pools),
	    .blocks = blocks,
	    .n_blocks = ELEMENTSOF(blocks),
	    .peers = peers,
	    .n_peers = ELEMENTSOF(peers),
	};

	check_case("rr-client", &m);
}

/* Dual stack (issue 9), the lab's 3-node mesh with 2001:db8:18::<n>: every pair has an IPv4
 * session between the ipv4Addresses (IPv4 channel only) and a separate IPv6 session between
 * the ipv6Addresses (IPv6 channel only, template tabby_peer6 with the node's IPv6 source); the
 * higher address of each family is passive. The own IPv6 block is exported as an aggregate,
 * borrowed /128s inside the IPv6 pool as host routes, and kernel6 installs BGP routes of the
 * IPv6 pool. */
static void test_mesh_dual(void **state)
{
	struct ip_prefix pools[] = {P("198.19.0.0/16"), P("2001:db8:19::/112")};
	struct ip_prefix blocks[] = {P("198.19.0.64/26"), P("2001:db8:19::40/122")};
	struct bgp_peer peers[] = {
	    {.type = BGP_PEER_MESH, .addr = A("198.18.0.11"), .as_number = 64512, .passive = true},
	    {.type = BGP_PEER_MESH, .addr = A("198.18.0.13"), .as_number = 64512},
	    {.type = BGP_PEER_MESH,
	     .addr = A("2001:db8:18::11"),
	     .as_number = 64512,
	     .passive = true},
	    {.type = BGP_PEER_MESH, .addr = A("2001:db8:18::13"), .as_number = 64512},
	};
	struct bgp_model m = {
	    .node_name = "h2",
	    .router_id = A("198.18.0.12"),
	    .local_addr = A("198.18.0.12"),
	    .local_addr6 = A("2001:db8:18::12"),
	    .as_number = 64512,
	    .pools = pools,
	    .n_pools = ELEMENTSOF(pools),
	    .blocks = blocks,
	    .n_blocks = ELEMENTSOF(blocks),
	    .peers = peers,
	    .n_peers = ELEMENTSOF(peers),
	    .keepalive_s = 3,
	    .hold_s = 9,
	    .fast_timers = true,
	};

	check_case("mesh-dual", &m);
}

/* Dual stack, topology rr: h1 reflects in cluster 244.0.0.1 for h2 and h3 in both families;
 * it re-announces the IPv6 routes it learned inside the IPv6 pool like the IPv4 ones. */
static void test_rr_dual(void **state)
{
	struct ip_prefix pools[] = {P("198.19.0.0/16"), P("2001:db8:19::/112")};
	struct ip_prefix blocks[] = {P("198.19.0.0/26"), P("2001:db8:19::/122")};
	struct bgp_peer peers[] = {
	    {.type = BGP_PEER_NODE,
	     .addr = A("198.18.0.12"),
	     .as_number = 64512,
	     .rr_client = true},
	    {.type = BGP_PEER_NODE,
	     .addr = A("198.18.0.13"),
	     .as_number = 64512,
	     .rr_client = true},
	    {.type = BGP_PEER_NODE,
	     .addr = A("2001:db8:18::12"),
	     .as_number = 64512,
	     .rr_client = true},
	    {.type = BGP_PEER_NODE,
	     .addr = A("2001:db8:18::13"),
	     .as_number = 64512,
	     .rr_client = true},
	};
	struct bgp_model m = {
	    .node_name = "h1",
	    .router_id = A("198.18.0.11"),
	    .local_addr = A("198.18.0.11"),
	    .local_addr6 = A("2001:db8:18::11"),
	    .as_number = 64512,
	    .rr_cluster_id = "244.0.0.1",
	    .pools = pools,
	    .n_pools = ELEMENTSOF(pools),
	    .blocks = blocks,
	    .n_blocks = ELEMENTSOF(blocks),
	    .peers = peers,
	    .n_peers = ELEMENTSOF(peers),
	    .fast_timers = true,
	};

	check_case("rr-dual", &m);
}

/* Dual stack, topology tor: one eBGP session to the ToR per family (BGPPeers with an IPv4 and
 * an IPv6 peerIP), each with its own family's channel and "next hop self" as for IPv4. */
static void test_tor_ipv6(void **state)
{
	struct ip_prefix pools[] = {P("198.19.0.0/16"), P("2001:db8:19::/112")};
	struct ip_prefix blocks[] = {P("198.19.0.0/26"), P("2001:db8:19::/122")};
	struct bgp_peer peers[] = {
	    {.type = BGP_PEER_GLOBAL,
	     .addr = A("2001:db8:18::1"),
	     .as_number = 65000,
	     .next_hop = BGP_NEXT_HOP_SELF},
	    {.type = BGP_PEER_GLOBAL,
	     .addr = A("198.18.0.1"),
	     .as_number = 65000,
	     .next_hop = BGP_NEXT_HOP_SELF},
	};
	struct bgp_model m = {
	    .node_name = "h1",
	    .router_id = A("198.18.0.11"),
	    .local_addr = A("198.18.0.11"),
	    .local_addr6 = A("2001:db8:18::11"),
	    .as_number = 64601,
	    .pools = pools,
	    .n_pools = ELEMENTSOF(pools),
	    .blocks = blocks,
	    .n_blocks = ELEMENTSOF(blocks),
	    .peers = peers,
	    .n_peers = ELEMENTSOF(peers),
	    .fast_timers = true,
	};

	check_case("tor-ipv6", &m);
}

/* Topology tor, one AS per host (lab recipe section 4): h1 on its /31 has one eBGP session to
 * the FRR ToR, a node-specific BGPPeer with BFD, and no mesh. */
static void test_tor(void **state)
{
	struct ip_prefix pools[] = {P("198.19.0.0/16")};
	struct ip_prefix blocks[] = {P("198.19.0.0/26")};
	struct bgp_peer peers[] = {
	    {.type = BGP_PEER_NODE,
	     .addr = A("198.18.1.0"),
	     .as_number = 65000,
	     .bfd = true,
	     .bfd_interval_ms = 100,
	     .bfd_multiplier = 3},
	};
	struct bgp_model m = {
	    .node_name = "h1",
	    .router_id = A("198.18.1.1"),
	    .as_number = 64601,
	    .pools = pools,
	    .n_pools = ELEMENTSOF(pools),
	    .blocks = blocks,
	    .n_blocks = ELEMENTSOF(blocks),
	    .peers = peers,
	    .n_peers = ELEMENTSOF(peers),
	    .keepalive_s = 3,
	    .hold_s = 9,
	    .fast_timers = true,
	};

	check_case("tor", &m);
}

/* Topology tor with every host in AS 64512: the ToR's routes carry our own AS, so the session
 * allows it once (BGPPeer numAllowedLocalASNumbers: 1; lab README gotcha). */
static void test_tor_shared_as(void **state)
{
	struct ip_prefix pools[] = {P("198.19.0.0/16")};
	struct ip_prefix blocks[] = {P("198.19.0.64/26")};
	struct bgp_peer peers[] = {
	    {.type = BGP_PEER_GLOBAL,
	     .addr = A("198.18.1.2"),
	     .as_number = 65000,
	     .allow_local_as = 1,
	     .bfd = true},
	};
	struct bgp_model m = {
	    .node_name = "h2",
	    .router_id = A("198.18.1.3"),
	    .as_number = 64512,
	    .pools = pools,
	    .n_pools = ELEMENTSOF(pools),
	    .blocks = blocks,
	    .n_blocks = ELEMENTSOF(blocks),
	    .peers = peers,
	    .n_peers = ELEMENTSOF(peers),
	};

	check_case("tor-shared-as", &m);
}

/* Service ranges and localASNumber (Calico "Advertise Kubernetes service IP addresses" and
 * BGPPeer localASNumber): a mesh peer, a ToR in AS 65000 that expects this node as AS 64700
 * ("local as 64700"), and a peer whose localASNumber equals the node's AS (no "local as").
 * serviceClusterIPs, serviceExternalIPs and serviceLoadBalancerIPs arrive concatenated, unsorted,
 * with a duplicate and an IPv6 range: one static protocol "tabby_services" with the three IPv4
 * ranges as blackholes, accepted first by the BGP export filter, never by the kernel's. */
static void test_services_local_as(void **state)
{
	struct ip_prefix pools[] = {P("198.19.0.0/16")};
	struct ip_prefix blocks[] = {P("198.19.0.0/26")};
	struct ip_prefix services[] = {P("198.18.241.0/24"), P("198.18.240.0/24"),
				       P("2001:db8:5::/112"), P("198.18.242.16/28"),
				       P("198.18.240.0/24")};
	struct bgp_peer peers[] = {
	    {.type = BGP_PEER_MESH, .addr = A("198.18.1.3"), .as_number = 64512, .passive = true},
	    {.type = BGP_PEER_GLOBAL,
	     .addr = A("198.18.1.0"),
	     .as_number = 65000,
	     .local_as = 64700},
	    {.type = BGP_PEER_NODE, .addr = A("198.18.1.9"), .as_number = 65009, .local_as = 64512},
	};
	struct bgp_model m = {
	    .node_name = "h1",
	    .router_id = A("198.18.1.1"),
	    .as_number = 64512,
	    .pools = pools,
	    .n_pools = ELEMENTSOF(pools),
	    .blocks = blocks,
	    .n_blocks = ELEMENTSOF(blocks),
	    .peers = peers,
	    .n_peers = ELEMENTSOF(peers),
	    .service_prefixes = services,
	    .n_service_prefixes = ELEMENTSOF(services),
	};
	char *a, *b;

	check_case("services-local-as", &m);
	/* input order of the service ranges does not matter */
	a = render(&m);
	struct ip_prefix rev[ELEMENTSOF(services)];
	for (size_t i = 0; i < ELEMENTSOF(services); i++)
		rev[i] = services[ELEMENTSOF(services) - 1 - i];
	m.service_prefixes = rev;
	b = render(&m);
	assert_string_equal(a, b);
	free(a);
	free(b);
	/* the IPv6 range is not rendered (IPv4-only) */
	a = render(&m);
	assert_null(strstr(a, "2001:db8:5"));
	free(a);
	(void)state;
}

/* Every BGPPeer and BGPConfiguration knob at once: MD5 password, per-peer timers, graceful
 * restart time, TTL security one hop and three hops (multihop, recursive next hop), next hop
 * self and keep, a peer port (part of the name), sourceAddress None (its own template), bindMode
 * NodeIP (strict bind), Debug logging, ignored interfaces, communities on advertised prefixes. */
static void test_peer_options(void **state)
{
	struct ip_prefix pools[] = {P("198.19.0.0/16")};
	struct ip_prefix blocks[] = {P("198.19.0.0/26")};
	const char *ignored[] = {"docker*", "kube-ipvs0"};
	struct bgp_community c1[] = {{.a = 64512, .b = 100},
				     {.large = true, .a = 64512, .b = 1, .c = 2}};
	struct bgp_community c2[] = {{.a = 65000, .b = 7}};
	struct bgp_prefix_communities pcs[] = {
	    {.cidr = P("198.19.0.0/16"), .communities = c2, .n_communities = 1},
	    {.cidr = P("198.19.0.0/26"), .communities = c1, .n_communities = 2},
	};
	struct bgp_peer peers[] = {
	    {.type = BGP_PEER_GLOBAL,
	     .addr = A("198.18.0.1"),
	     .as_number = 65000,
	     .password = "md5 pass-word",
	     .keepalive_s = 10,
	     .hold_s = 30,
	     .gr_time_s = 300,
	     .ttl_security = 1,
	     .next_hop = BGP_NEXT_HOP_SELF},
	    {.type = BGP_PEER_NODE,
	     .addr = A("198.18.4.1"),
	     .port = 1790,
	     .as_number = 65001,
	     .ttl_security = 3},
	    {.type = BGP_PEER_NODE,
	     .addr = A("198.18.0.10"),
	     .as_number = 64512,
	     .next_hop = BGP_NEXT_HOP_KEEP,
	     .no_source_addr = true,
	     .passive = true},
	    {.type = BGP_PEER_MESH,
	     .addr = A("198.18.0.12"),
	     .as_number = 64512,
	     .password = "mesh-secret",
	     .gr_time_s = 600},
	};
	struct bgp_model m = {
	    .node_name = "h1",
	    .router_id = A("198.18.0.11"),
	    .as_number = 64512,
	    .pools = pools,
	    .n_pools = ELEMENTSOF(pools),
	    .blocks = blocks,
	    .n_blocks = ELEMENTSOF(blocks),
	    .peers = peers,
	    .n_peers = ELEMENTSOF(peers),
	    .log_file = "/var/log/bird.log",
	    .log_level = BGP_LOG_DEBUG,
	    .strict_bind = true,
	    .ignored_ifaces = ignored,
	    .n_ignored_ifaces = ELEMENTSOF(ignored),
	    .prefix_communities = pcs,
	    .n_prefix_communities = ELEMENTSOF(pcs),
	    .gr_wait_s = 30,
	};

	check_case("peer-options", &m);
}

static void test_communities_and_levels(void **state)
{
	static const struct {
		const char *s;
		int r;
		bool large;
		uint32_t a, b, c;
	} cases[] = {
	    {"64512:100", 0, false, 64512, 100, 0},
	    {"65535:65535", 0, false, 65535, 65535, 0},
	    {"4200000000:1:2", 0, true, 4200000000u, 1, 2},
	    {"65536:1", -EINVAL, false, 0, 0, 0},
	    {"1:", -EINVAL, false, 0, 0, 0},
	    {":1", -EINVAL, false, 0, 0, 0},
	    {"1:2:3:4", -EINVAL, false, 0, 0, 0},
	    {"1:-2", -EINVAL, false, 0, 0, 0},
	    {"4294967296:1:1", -EINVAL, false, 0, 0, 0},
	    {"no", -EINVAL, false, 0, 0, 0},
	};

	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		struct bgp_community c = {.a = 99};

		assert_int_equal(bird_conf_community_parse(cases[i].s, &c), cases[i].r);
		if (cases[i].r < 0) {
			assert_int_equal(c.a, 99);
			continue;
		}
		assert_int_equal(c.large, cases[i].large);
		assert_int_equal(c.a, cases[i].a);
		assert_int_equal(c.b, cases[i].b);
		assert_int_equal(c.c, cases[i].c);
	}
	assert_int_equal(bird_conf_community_parse(NULL, &(struct bgp_community){0}), -EINVAL);
	assert_int_equal(bird_conf_log_level_from_string(NULL), BGP_LOG_INFO);
	assert_int_equal(bird_conf_log_level_from_string("Debug"), BGP_LOG_DEBUG);
	assert_int_equal(bird_conf_log_level_from_string("warning"), BGP_LOG_WARNING);
	assert_int_equal(bird_conf_log_level_from_string("Fatal"), BGP_LOG_ERROR);
	assert_int_equal(bird_conf_log_level_from_string("None"), BGP_LOG_NONE);
	assert_int_equal(bird_conf_log_level_from_string("loud"), _BGP_LOG_INVALID);
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
	struct bgp_peer ported = {.type = BGP_PEER_NODE, .addr = A("198.18.4.1"), .port = 1790};
	char buf[64], small[8];

	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		struct bgp_peer p = {.type = cases[i].type, .addr = A(cases[i].addr)};

		assert_ptr_equal(bird_conf_peer_name(&p, buf, sizeof(buf)), buf);
		assert_string_equal(buf, cases[i].name);
		assert_int_equal(bird_conf_peer_type_from_name(buf), cases[i].type);
	}
	struct bgp_peer p = {.type = BGP_PEER_MESH, .addr = A("198.18.0.12")};

	assert_string_equal(bird_conf_peer_name(&p, small, sizeof(small)), "Mesh_19");
	assert_string_equal(bird_conf_peer_name(&ported, buf, sizeof(buf)),
			    "Node_198_18_4_1_port_1790");
	ported.port = 179;
	assert_string_equal(bird_conf_peer_name(&ported, buf, sizeof(buf)), "Node_198_18_4_1");

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
/* The recovery of a BIRD started with -R is always bounded: 120 s by default (the restart time
 * BIRD advertises), 10 s with the lab's fast timers, else what the model says. BIRD's own default
 * (240 s, no line) kept a first start in the lab from exporting routes for 4 minutes when a peer
 * did not send End-of-RIB. */
static void test_gr_wait(void **state)
{
	struct bgp_peer peer = {
	    .type = BGP_PEER_MESH, .addr = A("198.18.0.12"), .as_number = 64512};
	struct bgp_model m = {
	    .node_name = "h1",
	    .router_id = A("198.18.0.11"),
	    .as_number = 64512,
	    .peers = &peer,
	    .n_peers = 1,
	};
	static const struct {
		bool fast;
		unsigned wait_s;
		const char *line;
	} cases[] = {
	    {false, 0, "\ngraceful restart wait 120;\n"},
	    {true, 0, "\ngraceful restart wait 10;\n"},
	    {true, 3600, "\ngraceful restart wait 3600;\n"},
	    {false, 1, "\ngraceful restart wait 1;\n"},
	};

	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		struct strbuf sb = {0};
		const char *text;

		m.fast_timers = cases[i].fast;
		m.gr_wait_s = cases[i].wait_s;
		assert_int_equal(bird_conf_render(&m, &sb), 0);
		text = strbuf_cstr(&sb);
		if (!strstr(text, cases[i].line))
			fail_msg("case %zu: no \"%s\" in:\n%s", i, cases[i].line, text);
		/* exactly one such line, global (before any protocol) */
		assert_true(strstr(text, "graceful restart wait") < strstr(text, "protocol "));
		assert_null(
		    strstr(strstr(text, "graceful restart wait") + 1, "graceful restart wait"));
		strbuf_done(&sb);
	}
}

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
		case 12: /* would close the quoted string in bird.conf */
			bad_peer.password = "pw\";protocol";
			m.peers = &bad_peer;
			break;
		case 13:
			bad_peer.hold_s = 1;
			m.peers = &bad_peer;
			break;
		case 14:
			bad_peer.next_hop = _BGP_NEXT_HOP_MAX;
			m.peers = &bad_peer;
			break;
		case 15:
			bad_peer.bfd_multiplier = 256;
			m.peers = &bad_peer;
			break;
		case 16:
			m.log_level = _BGP_LOG_MAX;
			break;
		case 17: {
			static const char *const bad_if[] = {"eth\"0"};

			m.ignored_ifaces = bad_if;
			m.n_ignored_ifaces = 1;
			break;
		}
		case 18: {
			static const struct bgp_community c = {.a = 70000, .b = 1};
			static struct bgp_prefix_communities pc = {.communities = &c,
								   .n_communities = 1};

			pc.cidr = pools[0];
			m.prefix_communities = &pc;
			m.n_prefix_communities = 1;
			break;
		}
		case 19:
			m.local_addr6 = A("198.18.0.11");
			break;
		case 20: /* an hour bounds any recovery; more is a typo */
			m.gr_wait_s = 3601;
			break;
		case 21:
			m.service_prefixes = &unmasked;
			m.n_service_prefixes = 1;
			break;
		case 22:
			m.service_prefixes = NULL;
			m.n_service_prefixes = 1;
			break;
		case 23: /* localASNumber that makes a route reflector client eBGP */
			bad_peer.rr_client = true;
			bad_peer.local_as = 64700;
			m.peers = &bad_peer;
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
	    cmocka_unit_test(test_single),
	    cmocka_unit_test(test_vxlan),
	    cmocka_unit_test(test_mesh),
	    cmocka_unit_test(test_mesh_dual),
	    cmocka_unit_test(test_rr_dual),
	    cmocka_unit_test(test_tor_ipv6),
	    cmocka_unit_test(test_route_reflector),
	    cmocka_unit_test(test_ipv6),
	    cmocka_unit_test(test_peer_names),
	    cmocka_unit_test(test_invalid),
	    cmocka_unit_test(test_gr_wait),
	    cmocka_unit_test(test_rr_pair),
	    cmocka_unit_test(test_rr_client),
	    cmocka_unit_test(test_tor),
	    cmocka_unit_test(test_tor_shared_as),
	    cmocka_unit_test(test_peer_options),
	    cmocka_unit_test(test_communities_and_levels),
	    cmocka_unit_test(test_services_local_as),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
