/* SPDX-License-Identifier: Apache-2.0 */
/* felix/calc, BGP part: route reflectors from Node cluster ids, BGPPeer (global, node,
 * nodeSelector, peerSelector with reverse peering), passwords from cached secrets, per-node
 * BGPConfiguration overrides, one session per neighbour, BGPPeer selectors in full Calico syntax. Pure: datastore JSON in, model out. */
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
#include "lib/strbuf.h"
#include "model/model.h"

#define P "/tabby/v1/"
#define HDR "{\"apiVersion\":\"projectcalico.org/v3\","

/* Node @name at @addr; @extra is spliced into spec.bgp (e.g. ,"routeReflectorClusterID":..);
 * @labels is a JSON object body or "". */
static char *node(const char *name, const char *addr, const char *extra, const char *labels)
{
	char *s;
	assert_true(asprintf(&s,
			     HDR "\"kind\":\"Node\",\"metadata\":{\"name\":\"%s\",\"labels\":{%s}},"
				 "\"spec\":{\"bgp\":{\"ipv4Address\":\"%s\"%s}}}",
			     name, labels, addr, extra) > 0);
	return s;
}

static char *bgppeer(const char *name, const char *spec)
{
	char *s;
	assert_true(asprintf(&s,
			     HDR "\"kind\":\"BGPPeer\",\"metadata\":{\"name\":\"%s\"},\"spec\":%s}",
			     name, spec) > 0);
	return s;
}

static char *bgpconfig(const char *name, const char *spec)
{
	char *s;
	assert_true(asprintf(&s,
			     HDR "\"kind\":\"BGPConfiguration\",\"metadata\":{\"name\":\"%s\"},"
				 "\"spec\":%s}",
			     name, spec) > 0);
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

static char *format(const struct calc_desired *d)
{
	struct strbuf sb = {0};
	assert_int_equal(calc_desired_format(d, &sb), 0);
	return strbuf_steal(&sb);
}

static void assert_bgp(const struct calc_cache *c, const char *me, const char *expected)
{
	struct calc_options o = {.node_name = me};
	struct calc_desired d;
	assert_int_equal(calc_compute(c, &o, &d), 0);
	char *got = format(&d);
	if (strcmp(got, expected) != 0) {
		fprintf(stderr, "--- expected (%s)\n%s--- got\n%s", me, expected, got);
	}
	assert_string_equal(got, expected);
	free(got);
	calc_desired_done(&d);
}

/* h1..h4 at .11-.14, mesh off, h1 and h2 reflect in cluster 244.0.0.1. */
static struct calc_cache *rr_cluster(void)
{
	struct calc_cache *c;
	const char *rr = ",\"routeReflectorClusterID\":\"244.0.0.1\"";
	assert_int_equal(calc_cache_new(&c), 0);
	put(c, P "nodes/h1", node("h1", "198.18.0.11/24", rr, ""));
	put(c, P "nodes/h2", node("h2", "198.18.0.12/24", rr, ""));
	put(c, P "nodes/h3", node("h3", "198.18.0.13/24", "", ""));
	put(c, P "nodes/h4", node("h4", "198.18.0.14/24", "", ""));
	put(c, P "bgpconfigurations/default",
	    bgpconfig("default", "{\"nodeToNodeMeshEnabled\":false}"));
	return c;
}

/* Reflectors peer with everyone (clients as "rr client", the other reflector of the same
 * cluster as a plain peer); clients peer with the reflectors only; the higher address waits. */
static void test_route_reflectors(void **state)
{
	struct calc_cache *c = rr_cluster();
	assert_bgp(c, "h1",
		   "bgp router-id 198.18.0.11 as 64512 rr-cluster-id 244.0.0.1\n"
		   "bgp peer 198.18.0.12 as 64512 node\n"
		   "bgp peer 198.18.0.13 as 64512 node rr-client\n"
		   "bgp peer 198.18.0.14 as 64512 node rr-client\n");
	assert_bgp(c, "h2",
		   "bgp router-id 198.18.0.12 as 64512 rr-cluster-id 244.0.0.1\n"
		   "bgp peer 198.18.0.11 as 64512 node passive\n"
		   "bgp peer 198.18.0.13 as 64512 node rr-client\n"
		   "bgp peer 198.18.0.14 as 64512 node rr-client\n");
	assert_bgp(c, "h3",
		   "bgp router-id 198.18.0.13 as 64512\n"
		   "bgp peer 198.18.0.11 as 64512 node passive\n"
		   "bgp peer 198.18.0.12 as 64512 node passive\n");
	/* Mesh back on: a plain full mesh, nobody is a client. */
	put(c, P "bgpconfigurations/default", bgpconfig("default", "{}"));
	assert_bgp(c, "h1",
		   "bgp router-id 198.18.0.11 as 64512 rr-cluster-id 244.0.0.1\n"
		   "bgp peer 198.18.0.12 as 64512 mesh\n"
		   "bgp peer 198.18.0.13 as 64512 mesh\n"
		   "bgp peer 198.18.0.14 as 64512 mesh\n");
	calc_cache_free(c);
}

/* Global and node-specific BGPPeers with peerIP; the MD5 password comes from the cached secret
 * and never shows in the text form; a missing secret leaves the peer out. */
static char *pool(const char *name, const char *cidr, int block_size)
{
	char *s;
	assert_true(asprintf(&s,
			     HDR "\"kind\":\"IPPool\",\"metadata\":{\"name\":\"%s\"},"
				 "\"spec\":{\"cidr\":\"%s\",\"blockSize\":%d}}",
			     name, cidr, block_size) > 0);
	return s;
}

/* Dual stack (issue 9): separate IPv6 sessions between the nodes' ipv6Address, beside the IPv4
 * ones, in the mesh, the route-reflector topology and from BGPPeers (peerIP and peerSelector);
 * a node without an IPv6 address has IPv4 sessions only, and exports no IPv6 pool. */
static void test_dual_stack(void **state)
{
	struct calc_cache *c;
	assert_int_equal(calc_cache_new(&c), 0);
	put(c, P "nodes/h1",
	    node("h1", "198.18.0.11/24", ",\"ipv6Address\":\"2001:db8:18::11/64\"", ""));
	put(c, P "nodes/h2",
	    node("h2", "198.18.0.12/24", ",\"ipv6Address\":\"2001:db8:18::12/64\"",
		 "\"rack\":\"a\""));
	put(c, P "nodes/h3", node("h3", "198.18.0.13/24", "", "\"rack\":\"a\""));
	put(c, P "ippools/v4", pool("v4", "198.19.0.0/16", 26));
	put(c, P "ippools/v6", pool("v6", "2001:db8:19::/112", 122));
	/* Mesh: h1 has both families with h2, IPv4 only with h3; h2 (the higher address of
	 * each family) is the passive side of both its sessions with h1. */
	assert_bgp(c, "h1",
		   "bgp router-id 198.18.0.11 as 64512 ipv6 2001:db8:18::11\n"
		   "bgp pool 198.19.0.0/16\n"
		   "bgp pool 2001:db8:19::/112\n"
		   "bgp peer 198.18.0.12 as 64512 mesh\n"
		   "bgp peer 198.18.0.13 as 64512 mesh\n"
		   "bgp peer 2001:db8:18::12 as 64512 mesh\n");
	assert_bgp(c, "h2",
		   "bgp router-id 198.18.0.12 as 64512 ipv6 2001:db8:18::12\n"
		   "bgp pool 198.19.0.0/16\n"
		   "bgp pool 2001:db8:19::/112\n"
		   "bgp peer 198.18.0.11 as 64512 mesh passive\n"
		   "bgp peer 198.18.0.13 as 64512 mesh\n"
		   "bgp peer 2001:db8:18::11 as 64512 mesh passive\n");
	assert_bgp(c, "h3",
		   "bgp router-id 198.18.0.13 as 64512\n"
		   "bgp pool 198.19.0.0/16\n"
		   "bgp peer 198.18.0.11 as 64512 mesh passive\n"
		   "bgp peer 198.18.0.12 as 64512 mesh passive\n");

	/* Route reflector h1 (cluster 244.0.0.1), mesh off: its clients in both families. */
	put(c, P "nodes/h1",
	    node("h1", "198.18.0.11/24",
		 ",\"ipv6Address\":\"2001:db8:18::11/64\",\"routeReflectorClusterID\":"
		 "\"244.0.0.1\"",
		 ""));
	put(c, P "bgpconfigurations/default",
	    bgpconfig("default", "{\"nodeToNodeMeshEnabled\":false}"));
	assert_bgp(c, "h1",
		   "bgp router-id 198.18.0.11 as 64512 rr-cluster-id 244.0.0.1 ipv6 "
		   "2001:db8:18::11\n"
		   "bgp pool 198.19.0.0/16\n"
		   "bgp pool 2001:db8:19::/112\n"
		   "bgp peer 198.18.0.12 as 64512 node rr-client\n"
		   "bgp peer 198.18.0.13 as 64512 node rr-client\n"
		   "bgp peer 2001:db8:18::12 as 64512 node rr-client\n");
	assert_bgp(c, "h2",
		   "bgp router-id 198.18.0.12 as 64512 ipv6 2001:db8:18::12\n"
		   "bgp pool 198.19.0.0/16\n"
		   "bgp pool 2001:db8:19::/112\n"
		   "bgp peer 198.18.0.11 as 64512 node passive\n"
		   "bgp peer 2001:db8:18::11 as 64512 node passive\n");

	/* A ToR over IPv6 (global BGPPeer peerIP) and a peerSelector over both families. */
	put(c, P "bgppeers/tor6",
	    bgppeer("tor6", "{\"peerIP\":\"2001:db8:18::1\",\"asNumber\":65000}"));
	put(c, P "bgppeers/rack",
	    bgppeer("rack", "{\"node\":\"h1\",\"peerSelector\":\"rack == 'a'\"}"));
	assert_bgp(c, "h1",
		   "bgp router-id 198.18.0.11 as 64512 rr-cluster-id 244.0.0.1 ipv6 "
		   "2001:db8:18::11\n"
		   "bgp pool 198.19.0.0/16\n"
		   "bgp pool 2001:db8:19::/112\n"
		   "bgp peer 198.18.0.12 as 64512 node rr-client\n"
		   "bgp peer 198.18.0.13 as 64512 node rr-client\n"
		   "bgp peer 2001:db8:18::1 as 65000 global\n"
		   "bgp peer 2001:db8:18::12 as 64512 node rr-client\n");
	/* h3 has no IPv6 address: the IPv6 ToR session still renders (the kernel picks the
	 * source), but no IPv6 session with another node and no IPv6 pool to export. */
	assert_bgp(c, "h3",
		   "bgp router-id 198.18.0.13 as 64512\n"
		   "bgp pool 198.19.0.0/16\n"
		   "bgp peer 198.18.0.11 as 64512 node passive\n"
		   "bgp peer 2001:db8:18::1 as 65000 global\n");
	calc_cache_free(c);
}

static void test_bgppeer_ip_and_password(void **state)
{
	struct calc_cache *c = rr_cluster();
	put(c, P "bgppeers/tor",
	    bgppeer("tor", "{\"peerIP\":\"198.18.0.1\",\"asNumber\":65000,\"password\":"
			   "{\"secretKeyRef\":{\"name\":\"bgp\",\"key\":\"tor\"}}}"));
	put(c, P "bgppeers/h3-extra",
	    bgppeer("h3-extra", "{\"node\":\"h3\",\"peerIP\":\"198.18.4.1:1790\","
				"\"asNumber\":65001,\"bfd\":{\"enabled\":true}}"));
	/* Secret not there yet: the global peer is skipped on every node. */
	struct calc_options o = {.node_name = "h3"};
	struct calc_desired d;
	assert_int_equal(calc_compute(c, &o, &d), 0);
	assert_int_equal(d.bgp_skipped_peers, 1);
	calc_desired_done(&d);

	put(c, P "secrets/bgp", strdup("{\"tor\":\"s3cret-pw\",\"other\":\"x\"}"));
	assert_bgp(c, "h3",
		   "bgp router-id 198.18.0.13 as 64512\n"
		   "bgp peer 198.18.0.1 as 65000 global md5\n"
		   "bgp peer 198.18.0.11 as 64512 node passive\n"
		   "bgp peer 198.18.0.12 as 64512 node passive\n"
		   "bgp peer 198.18.4.1 port 1790 as 65001 node bfd\n");
	assert_bgp(c, "h4",
		   "bgp router-id 198.18.0.14 as 64512\n"
		   "bgp peer 198.18.0.1 as 65000 global md5\n"
		   "bgp peer 198.18.0.11 as 64512 node passive\n"
		   "bgp peer 198.18.0.12 as 64512 node passive\n");

	o.node_name = "h4";
	assert_int_equal(calc_compute(c, &o, &d), 0);
	assert_int_equal(d.bgp_skipped_peers, 0);
	const struct bgp_peer *tor = &d.bgp.peers[0];
	assert_string_equal(tor->password, "s3cret-pw");
	char *text = format(&d);
	assert_null(strstr(text, "s3cret"));
	free(text);
	calc_desired_done(&d);

	/* The secret changes: the next computation carries the new password. */
	put(c, P "secrets/bgp", strdup("{\"tor\":\"new-pw\"}"));
	assert_int_equal(calc_compute(c, &o, &d), 0);
	assert_string_equal(d.bgp.peers[0].password, "new-pw");
	calc_desired_done(&d);

	/* A secret that is not an object of strings does not decode and is dropped. */
	struct parse_err err = {0};
	const char *bad = "{\"tor\":42}";
	assert_int_equal(calc_cache_put(c, P "secrets/bgp", bad, strlen(bad), &err), -EINVAL);
	assert_int_equal(calc_compute(c, &o, &d), 0);
	assert_int_equal(d.bgp_skipped_peers, 1);
	calc_desired_done(&d);
	calc_cache_free(c);
}

/* nodeSelector + peerSelector: rack-a nodes peer with the nodes labelled route-reflector, and
 * those peer back automatically (Calico reverse peering) unless reversePeering is Manual. */
static void test_selector_and_reverse_peering(void **state)
{
	struct calc_cache *c;
	assert_int_equal(calc_cache_new(&c), 0);
	put(c, P "nodes/h1", node("h1", "198.18.0.11/24", "", "\"rack\":\"a\""));
	put(c, P "nodes/h2", node("h2", "198.18.0.12/24", "", "\"route-reflector\":\"true\""));
	put(c, P "nodes/h3", node("h3", "198.18.0.13/24", "", "\"rack\":\"b\""));
	put(c, P "nodes/h4", node("h4", "198.18.0.14/24", "", "\"rack\":\"a\""));
	put(c, P "bgpconfigurations/default",
	    bgpconfig("default", "{\"nodeToNodeMeshEnabled\":false}"));
	put(c, P "bgppeers/rack-a",
	    bgppeer("rack-a",
		    "{\"nodeSelector\":\"rack == 'a'\","
		    "\"peerSelector\":\"has(route-reflector)\",\"keepaliveTime\":\"10s\"}"));
	assert_bgp(c, "h1",
		   "bgp router-id 198.18.0.11 as 64512\n"
		   "bgp peer 198.18.0.12 as 64512 node\n");
	assert_bgp(c, "h2",
		   "bgp router-id 198.18.0.12 as 64512\n"
		   "bgp peer 198.18.0.11 as 64512 node passive\n"
		   "bgp peer 198.18.0.14 as 64512 node\n");
	assert_bgp(c, "h3", "bgp router-id 198.18.0.13 as 64512\n");

	struct calc_options o = {.node_name = "h2"};
	struct calc_desired d;
	assert_int_equal(calc_compute(c, &o, &d), 0);
	assert_int_equal(d.bgp.n_peers, 2);
	assert_int_equal(d.bgp.peers[0].keepalive_s, 10);
	calc_desired_done(&d);

	put(c, P "bgppeers/rack-a",
	    bgppeer("rack-a", "{\"nodeSelector\":\"rack == 'a'\","
			      "\"peerSelector\":\"has(route-reflector)\","
			      "\"reversePeering\":\"Manual\"}"));
	assert_bgp(c, "h2", "bgp router-id 198.18.0.12 as 64512\n");
	calc_cache_free(c);
}

/* Calico "Advertise Kubernetes service IP addresses": the default BGPConfiguration's service
 * ranges reach every node's model (a per-node BGPConfiguration does not carry them); BGPPeer
 * localASNumber becomes the peer's local_as and "local as" in bird.conf. */
static void test_services_local_as(void **state)
{
	struct calc_cache *c;
	assert_int_equal(calc_cache_new(&c), 0);
	put(c, P "nodes/h1", node("h1", "198.18.0.11/24", "", ""));
	put(c, P "bgpconfigurations/default",
	    bgpconfig("default", "{\"serviceClusterIPs\":[{\"cidr\":\"198.18.240.0/24\"}],"
				 "\"serviceExternalIPs\":[{\"cidr\":\"198.18.241.0/24\"}],"
				 "\"serviceLoadBalancerIPs\":[{\"cidr\":\"198.18.242.0/28\"}]}"));
	put(c, P "bgpconfigurations/node.h1",
	    bgpconfig("node.h1", "{\"serviceClusterIPs\":[{\"cidr\":\"198.18.243.0/24\"}]}"));
	put(c, P "bgppeers/tor",
	    bgppeer("tor", "{\"peerIP\":\"198.18.0.1\",\"asNumber\":65000,"
			   "\"localASNumber\":64700}"));
	struct calc_options o = {.node_name = "h1"};
	struct calc_desired d;
	assert_int_equal(calc_compute(c, &o, &d), 0);
	assert_int_equal(d.bgp.n_service_prefixes, 3);
	assert_int_equal(d.bgp.n_peers, 1);
	assert_int_equal(d.bgp.peers[0].local_as, 64700);
	struct strbuf sb = {0};
	assert_int_equal(bird_conf_render(&d.bgp, &sb), 0);
	assert_non_null(strstr(strbuf_cstr(&sb), "\troute 198.18.240.0/24 blackhole;\n"
						 "\troute 198.18.241.0/24 blackhole;\n"
						 "\troute 198.18.242.0/28 blackhole;\n"));
	assert_null(strstr(strbuf_cstr(&sb), "198.18.243.0"));
	assert_non_null(strstr(strbuf_cstr(&sb), "\tlocal as 64700;\n"));
	strbuf_done(&sb);
	calc_desired_done(&d);
	calc_cache_free(c);
	(void)state;
}

/* A BGPPeer toward a node that the mesh already reaches: one session, the explicit one. */
static void test_explicit_beats_mesh(void **state)
{
	struct calc_cache *c;
	assert_int_equal(calc_cache_new(&c), 0);
	put(c, P "nodes/h1", node("h1", "198.18.0.11/24", "", ""));
	put(c, P "nodes/h2", node("h2", "198.18.0.12/24", ",\"asNumber\":64700", ""));
	put(c, P "bgppeers/h1-h2",
	    bgppeer("h1-h2", "{\"node\":\"h1\",\"peerIP\":\"198.18.0.12\",\"asNumber\":64700,"
			     "\"ttlSecurity\":1,\"nextHopMode\":\"Self\"}"));
	assert_bgp(c, "h1",
		   "bgp router-id 198.18.0.11 as 64512\n"
		   "bgp peer 198.18.0.12 as 64700 node\n");
	assert_bgp(c, "h2",
		   "bgp router-id 198.18.0.12 as 64700\n"
		   "bgp peer 198.18.0.11 as 64512 mesh passive\n");
	struct calc_options o = {.node_name = "h1"};
	struct calc_desired d;
	assert_int_equal(calc_compute(c, &o, &d), 0);
	assert_int_equal(d.bgp.peers[0].ttl_security, 1);
	assert_int_equal(d.bgp.peers[0].next_hop, BGP_NEXT_HOP_SELF);
	calc_desired_done(&d);
	calc_cache_free(c);
}

/* BGPConfiguration "node.<name>" overrides the default's per-node fields for that node only;
 * mesh password and restart time come from the default. */
static void test_bgpconfig_node_override(void **state)
{
	struct calc_cache *c;
	assert_int_equal(calc_cache_new(&c), 0);
	put(c, P "nodes/h1", node("h1", "198.18.0.11/24", "", ""));
	put(c, P "nodes/h2", node("h2", "198.18.0.12/24", "", ""));
	put(c, P "secrets/mesh", strdup("{\"pw\":\"mesh-pw\"}"));
	put(c, P "bgpconfigurations/default",
	    bgpconfig("default",
		      "{\"logSeverityScreen\":\"Warning\",\"listenPort\":1790,"
		      "\"ignoredInterfaces\":[\"docker*\"],\"nodeMeshMaxRestartTime\":\"300s\","
		      "\"nodeMeshPassword\":{\"secretKeyRef\":{\"name\":\"mesh\",\"key\":\"pw\"}},"
		      "\"communities\":[{\"name\":\"c1\",\"value\":\"64512:100\"}],"
		      "\"prefixAdvertisements\":[{\"cidr\":\"198.19.0.0/16\","
		      "\"communities\":[\"c1\",\"64512:1:2\"]}]}"));
	put(c, P "bgpconfigurations/node.h1",
	    bgpconfig("node.h1", "{\"logSeverityScreen\":\"Debug\",\"bindMode\":\"NodeIP\"}"));

	struct calc_options o = {.node_name = "h1"};
	struct calc_desired d;
	assert_int_equal(calc_compute(c, &o, &d), 0);
	assert_int_equal(d.bgp.log_level, BGP_LOG_DEBUG);
	assert_true(d.bgp.strict_bind);
	assert_int_equal(d.bgp.listen_port, 1790);
	assert_int_equal(d.bgp.n_ignored_ifaces, 1);
	assert_string_equal(d.bgp.ignored_ifaces[0], "docker*");
	assert_int_equal(d.bgp.n_prefix_communities, 1);
	assert_int_equal(d.bgp.prefix_communities[0].n_communities, 2);
	assert_false(d.bgp.prefix_communities[0].communities[0].large);
	assert_int_equal(d.bgp.prefix_communities[0].communities[0].b, 100);
	assert_true(d.bgp.prefix_communities[0].communities[1].large);
	assert_int_equal(d.bgp.n_peers, 1);
	assert_string_equal(d.bgp.peers[0].password, "mesh-pw");
	assert_int_equal(d.bgp.peers[0].gr_time_s, 300);
	/* The model renders and the password lands in bird.conf (which felix writes 0600). */
	struct strbuf sb = {0};
	assert_int_equal(bird_conf_render(&d.bgp, &sb), 0);
	assert_non_null(strstr(strbuf_cstr(&sb), "password \"mesh-pw\";"));
	assert_non_null(strstr(strbuf_cstr(&sb), "debug protocols all;"));
	strbuf_done(&sb);
	calc_desired_done(&d);

	o.node_name = "h2";
	assert_int_equal(calc_compute(c, &o, &d), 0);
	assert_int_equal(d.bgp.log_level, BGP_LOG_WARNING);
	assert_false(d.bgp.strict_bind);
	calc_desired_done(&d);
	calc_cache_free(c);
}

/* Five labelled nodes h1..h5 (198.18.0.11-.15) and an unlabelled-by-rack viewer h0 (.10); mesh
 * off, so every session comes from the BGPPeer under test. */
static struct calc_cache *labelled_nodes(void)
{
	struct calc_cache *c;
	assert_int_equal(calc_cache_new(&c), 0);
	put(c, P "nodes/h0", node("h0", "198.18.0.10/24", "", "\"viewer\":\"yes\""));
	put(c, P "nodes/h1", node("h1", "198.18.0.11/24", "", "\"rack\":\"a\",\"zone\":\"east\""));
	put(c, P "nodes/h2",
	    node("h2", "198.18.0.12/24", "", "\"rack\":\"b\",\"route-reflector\":\"true\""));
	put(c, P "nodes/h3", node("h3", "198.18.0.13/24", "", "\"rack\":\"c\",\"zone\":\"west\""));
	put(c, P "nodes/h4", node("h4", "198.18.0.14/24", "", ""));
	put(c, P "nodes/h5",
	    node("h5", "198.18.0.15/24", "", "\"rack\":\"a-2\",\"tier\":\"edge\""));
	put(c, P "bgpconfigurations/default",
	    bgpconfig("default", "{\"nodeToNodeMeshEnabled\":false}"));
	return c;
}

/* The names of @me's BGP peers in 198.18.0.1x ("h1 h3"), from the real calculation; the peer
 * 198.18.9.1 shows as "tor". */
static void peer_names(const struct calc_cache *c, const char *me, char *buf, size_t size)
{
	struct calc_options o = {.node_name = me};
	struct calc_desired d;
	char a[IP_ADDR_STRLEN];
	size_t used = 0;

	buf[0] = '\0';
	assert_int_equal(calc_compute(c, &o, &d), 0);
	assert_true(d.has_bgp);
	assert_int_equal(d.bgp_skipped_peers, 0);
	for (size_t i = 0; i < d.bgp.n_peers; i++) {
		const char *t = ip_addr_format(&d.bgp.peers[i].addr, a);
		int n;
		if (strcmp(t, "198.18.9.1") == 0) {
			n = snprintf(buf + used, size - used, "%stor", used ? " " : "");
		} else {
			assert_true(strncmp(t, "198.18.0.1", 10) == 0 && t[10] && !t[11]);
			n = snprintf(buf + used, size - used, "%sh%c", used ? " " : "", t[10]);
		}
		assert_true(n > 0 && (size_t)n < size - used);
		used += (size_t)n;
	}
	calc_desired_done(&d);
}

/* BGPPeer selectors are full Calico selectors (acl/selector.h), driven through calc_compute():
 * a peerSelector picks the nodes h0 peers with; a nodeSelector picks the nodes that get a
 * peerIP session to 198.18.9.1. Absent labels match != and not in, as in Calico. */
static const struct {
	const char *sel;
	const char *want; /* the selected nodes among h1..h5 */
} bgp_selector_cases[] = {
    {"all()", "h1 h2 h3 h4 h5"},
    {"has(zone)", "h1 h3"},
    {"!has(rack)", "h4"},
    {"rack == 'a' || rack == 'b'", "h1 h2"},
    {"rack == 'b' || has(zone)", "h1 h2 h3"},
    {"rack in {'a', 'c'}", "h1 h3"},
    {"rack not in {'a', 'c'}", "h2 h4 h5"},
    {"rack starts with 'a'", "h1 h5"},
    {"(rack == 'a' || rack == 'b') && !has(zone)", "h2"},
    {"rack == 'c' || (has(tier) && zone != 'east')", "h3 h5"},
    {"!(rack in {'a'} || has(route-reflector)) && has(rack)", "h3 h5"},
    {"has(nothing) || rack == 'z'", ""},
};

static void test_bgppeer_peer_selector(void **state)
{
	struct calc_cache *c = labelled_nodes();
	for (size_t i = 0; i < ELEMENTSOF(bgp_selector_cases); i++) {
		char spec[512], got[128];
		snprintf(spec, sizeof(spec),
			 "{\"peerSelector\":\"%s\",\"reversePeering\":\"Manual\"}",
			 bgp_selector_cases[i].sel);
		put(c, P "bgppeers/p", bgppeer("p", spec));
		peer_names(c, "h0", got, sizeof(got));
		if (strcmp(got, bgp_selector_cases[i].want) != 0) {
			fail_msg("peerSelector \"%s\": h0 peers with \"%s\", want \"%s\"",
				 bgp_selector_cases[i].sel, got, bgp_selector_cases[i].want);
		}
	}
	calc_cache_free(c);
}

static void test_bgppeer_node_selector(void **state)
{
	static const char *const nodes[] = {"h1", "h2", "h3", "h4", "h5"};
	struct calc_cache *c = labelled_nodes();
	for (size_t i = 0; i < ELEMENTSOF(bgp_selector_cases); i++) {
		char spec[512], got[128], selected[64] = "";
		snprintf(spec, sizeof(spec),
			 "{\"nodeSelector\":\"%s\",\"peerIP\":\"198.18.9.1\",\"asNumber\":65000}",
			 bgp_selector_cases[i].sel);
		put(c, P "bgppeers/p", bgppeer("p", spec));
		for (size_t k = 0; k < ELEMENTSOF(nodes); k++) {
			peer_names(c, nodes[k], got, sizeof(got));
			if (strcmp(got, "tor") == 0) {
				if (selected[0]) {
					strcat(selected, " ");
				}
				strcat(selected, nodes[k]);
			} else if (got[0]) {
				fail_msg("nodeSelector \"%s\": %s peers with \"%s\"",
					 bgp_selector_cases[i].sel, nodes[k], got);
			}
		}
		if (strcmp(selected, bgp_selector_cases[i].want) != 0) {
			fail_msg("nodeSelector \"%s\" selects \"%s\", want \"%s\"",
				 bgp_selector_cases[i].sel, selected, bgp_selector_cases[i].want);
		}
	}
	calc_cache_free(c);
}

/* Reverse peering with || and in {}: the nodes the peerSelector picks peer back with every
 * node the nodeSelector picks. */
static void test_bgppeer_selectors_reverse(void **state)
{
	struct calc_cache *c = labelled_nodes();
	char got[128];
	put(c, P "bgppeers/p",
	    bgppeer("p", "{\"nodeSelector\":\"rack == 'a' || rack == 'c'\","
			 "\"peerSelector\":\"rack in {'b'} || viewer == 'yes'\"}"));
	peer_names(c, "h1", got, sizeof(got));
	assert_string_equal(got, "h0 h2");
	peer_names(c, "h3", got, sizeof(got));
	assert_string_equal(got, "h0 h2");
	peer_names(c, "h2", got, sizeof(got));
	assert_string_equal(got, "h1 h3");
	peer_names(c, "h0", got, sizeof(got));
	assert_string_equal(got, "h1 h3");
	peer_names(c, "h5", got, sizeof(got));
	assert_string_equal(got, "");
	calc_cache_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_route_reflectors),
	    cmocka_unit_test(test_dual_stack),
	    cmocka_unit_test(test_bgppeer_ip_and_password),
	    cmocka_unit_test(test_selector_and_reverse_peering),
	    cmocka_unit_test(test_explicit_beats_mesh),
	    cmocka_unit_test(test_bgpconfig_node_override),
	    cmocka_unit_test(test_bgppeer_peer_selector),
	    cmocka_unit_test(test_bgppeer_node_selector),
	    cmocka_unit_test(test_bgppeer_selectors_reverse),
	    cmocka_unit_test(test_services_local_as),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
