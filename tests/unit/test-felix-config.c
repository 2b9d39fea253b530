/* SPDX-License-Identifier: Apache-2.0 */
/* tabby-felix configuration: YAML file + TABBY_* environment, validated with positions. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "felix/config.h"
#include "lib/log.h"

static int parse(const char *yaml, char *const *env, const char *host, struct felix_config *c,
		 char *msg, size_t size)
{
	struct parse_err err = {0};
	int r = felix_config_parse(yaml, yaml ? strlen(yaml) : 0, "felix.yaml", env, host, c, &err);
	if (r < 0 && msg) {
		parse_err_format(&err, msg, size);
	}
	return r;
}

static void test_defaults(void **state)
{
	struct felix_config c;
	char *env[] = {"TABBY_IPV4ADDRESS=198.18.0.11/24", "PATH=/bin", NULL};
	assert_int_equal(parse(NULL, env, "Host-1", &c, NULL, 0), 0);
	assert_string_equal(c.node_name, "host-1");
	char buf[IP_PREFIX_STRLEN];
	assert_string_equal(ip_prefix_format(&c.ipv4_address, buf), "198.18.0.11/24");
	assert_string_equal(c.bird_config_file, "/etc/bird/bird.conf");
	assert_string_equal(c.status_file, "/etc/bird/felix-status.json");
	assert_string_equal(c.ipt_state_file, "/etc/bird/felix-iptables.state");
	assert_string_equal(c.bird_socket, "/run/bird/bird.ctl");
	assert_string_equal(c.bird_binary, "bird");
	assert_null(c.bird_log_file);
	assert_null(c.datastore_endpoints);
	assert_false(c.bird_fast_timers);
	assert_int_equal(c.route_protocol, 81);
	assert_int_equal(c.resync_interval_s, 90);
	assert_int_equal(c.as_number, 0);
	assert_int_equal(c.log_level, LOG_LEVEL_INFO);
	/* Health on by default on Calico's port, metrics off; both on loopback. */
	assert_true(c.health_enabled);
	assert_string_equal(c.health_host, "127.0.0.1");
	assert_int_equal(c.health_port, 9099);
	assert_false(c.prometheus_metrics_enabled);
	assert_string_equal(c.prometheus_metrics_host, "127.0.0.1");
	assert_int_equal(c.prometheus_metrics_port, 9091);
	/* where the CNI plugin looks for the node name (Calico: /var/lib/calico/nodename) */
	assert_string_equal(c.nodename_file, "/var/lib/tabby/nodename");
	felix_config_done(&c);
}

static void test_nodename_file(void **state)
{
	static const char yaml[] = "nodeName: h1\n"
				   "ipv4Address: 198.18.0.11/24\n"
				   "nodenameFile: /tmp/h1/nodename\n";
	struct felix_config c;
	char *env[] = {"TABBY_NODENAMEFILE=/run/h1/nodename", NULL};
	char msg[256];

	assert_int_equal(parse(yaml, NULL, "ignored", &c, NULL, 0), 0);
	assert_string_equal(c.nodename_file, "/tmp/h1/nodename");
	felix_config_done(&c);
	assert_int_equal(parse(yaml, env, "ignored", &c, NULL, 0), 0);
	assert_string_equal(c.nodename_file, "/run/h1/nodename");
	felix_config_done(&c);
	assert_int_equal(parse("nodeName: h1\nipv4Address: 198.18.0.11/24\nnodenameFile: \"\"\n",
			       NULL, "ignored", &c, msg, sizeof(msg)),
			 -EINVAL);
	assert_non_null(strstr(msg, "nodenameFile"));
}

static void test_health_and_metrics(void **state)
{
	static const char yaml[] = "nodeName: h1\n"
				   "ipv4Address: 198.18.0.11/24\n"
				   "healthEnabled: false\n"
				   "healthHost: localhost\n"
				   "healthPort: 19099\n"
				   "prometheusMetricsEnabled: true\n"
				   "prometheusMetricsHost: \"::\"\n"
				   "prometheusMetricsPort: 19091\n";
	struct felix_config c;
	assert_int_equal(parse(yaml, NULL, NULL, &c, NULL, 0), 0);
	assert_false(c.health_enabled);
	assert_string_equal(c.health_host, "127.0.0.1"); /* Calico's "localhost" */
	assert_int_equal(c.health_port, 19099);
	assert_true(c.prometheus_metrics_enabled);
	assert_string_equal(c.prometheus_metrics_host, "::");
	assert_int_equal(c.prometheus_metrics_port, 19091);
	felix_config_done(&c);

	/* The environment wins over the file, key by key. */
	char *env[] = {"TABBY_HEALTHENABLED=true",
		       "TABBY_HEALTHHOST=198.18.0.11",
		       "TABBY_HEALTHPORT=1",
		       "TABBY_PROMETHEUSMETRICSENABLED=0",
		       "TABBY_PROMETHEUSMETRICSHOST=2001:db8::11",
		       "TABBY_PROMETHEUSMETRICSPORT=65535",
		       NULL};
	assert_int_equal(parse(yaml, env, NULL, &c, NULL, 0), 0);
	assert_true(c.health_enabled);
	assert_string_equal(c.health_host, "198.18.0.11");
	assert_int_equal(c.health_port, 1);
	assert_false(c.prometheus_metrics_enabled);
	assert_string_equal(c.prometheus_metrics_host, "2001:db8::11");
	assert_int_equal(c.prometheus_metrics_port, 65535);
	felix_config_done(&c);
}

static void test_file_and_env(void **state)
{
	static const char yaml[] = "# lab host\n"
				   "nodeName: h1\n"
				   "ipv4Address: 198.18.0.11/24\n"
				   "asNumber: 64512\n"
				   "datastoreEndpoints: \"unix:///tmp/etcd.sock:2379\"\n"
				   "birdConfigFile: /tmp/h1/bird.conf\n"
				   "birdSocket: /tmp/h1/bird.ctl\n"
				   "birdLogFile: /tmp/h1/bird.log\n"
				   "birdFastTimers: true\n"
				   "routeProtocol: 81\n"
				   "resyncIntervalSecs: 5\n"
				   "logSeverityScreen: Debug\n";
	struct felix_config c;
	char *env[] = {"TABBY_NODENAME=h9", "TABBY_DATASTORE_ENDPOINTS=http://127.0.0.1:2379",
		       "TABBY_RESYNCINTERVALSECS=7", NULL};
	assert_int_equal(parse(yaml, env, "ignored", &c, NULL, 0), 0);
	assert_string_equal(c.node_name, "h9");
	assert_string_equal(c.datastore_endpoints, "http://127.0.0.1:2379");
	assert_string_equal(c.bird_config_file, "/tmp/h1/bird.conf");
	assert_string_equal(c.status_file, "/tmp/h1/felix-status.json");
	assert_string_equal(c.ipt_state_file, "/tmp/h1/felix-iptables.state");
	assert_string_equal(c.bird_socket, "/tmp/h1/bird.ctl");
	assert_string_equal(c.bird_log_file, "/tmp/h1/bird.log");
	assert_true(c.bird_fast_timers);
	assert_int_equal(c.as_number, 64512);
	assert_int_equal(c.resync_interval_s, 7);
	assert_int_equal(c.log_level, LOG_LEVEL_DEBUG);
	felix_config_done(&c);

	/* TABBY_DATASTOREENDPOINTS (the generic form) wins over the alias. */
	char *env2[] = {"TABBY_DATASTOREENDPOINTS=http://a:1",
			"TABBY_DATASTORE_ENDPOINTS=http://b:2", NULL};
	assert_int_equal(parse(yaml, env2, NULL, &c, NULL, 0), 0);
	assert_string_equal(c.datastore_endpoints, "http://a:1");
	assert_string_equal(c.node_name, "h1");
	felix_config_done(&c);
}

struct bad_case {
	const char *yaml;
	const char *env;
	const char *msg;
};

static void test_errors(void **state)
{
	static const struct bad_case cases[] = {
	    {"nodeName: h1\nipv4Address: 198.18.0.11/24\nbogus: 1\n", NULL,
	     "felix.yaml:3:1: bogus: unknown key"},
	    {"nodeName: h1\nipv4Address: 198.18.0.11\n", NULL,
	     "felix.yaml:2:14: ipv4Address: invalid IPv4 address with prefix length"},
	    {"nodeName: h1\nipv4Address: 2001:db8::1/64\n", NULL,
	     "felix.yaml:2:14: ipv4Address: invalid IPv4"},
	    {"nodeName: h1\n", NULL, "felix.yaml: ipv4Address: required"},
	    {"ipv4Address: 198.18.0.11/24\n", NULL, "felix.yaml: nodeName: required"},
	    {"nodeName: H_1\nipv4Address: 198.18.0.11/24\n", NULL,
	     "felix.yaml:1:11: nodeName: invalid node name"},
	    {"nodeName: h1\nipv4Address: 198.18.0.11/24\nrouteProtocol: 2\n", NULL,
	     "felix.yaml:3:16: routeProtocol: invalid route protocol \"2\" (5..255)"},
	    {"nodeName: h1\nipv4Address: 198.18.0.11/24\nrouteProtocol: 256\n", NULL,
	     "felix.yaml:3:16: routeProtocol: invalid route protocol"},
	    {"nodeName: h1\nipv4Address: 198.18.0.11/24\nresyncIntervalSecs: 0\n", NULL,
	     "felix.yaml:3:21: resyncIntervalSecs: invalid interval"},
	    {"nodeName: h1\nipv4Address: 198.18.0.11/24\nasNumber: -1\n", NULL,
	     "felix.yaml:3:11: asNumber: invalid AS number"},
	    {"nodeName: h1\nipv4Address: 198.18.0.11/24\nbirdFastTimers: maybe\n", NULL,
	     "felix.yaml:3:17: birdFastTimers: invalid boolean"},
	    {"nodeName: h1\nipv4Address: 198.18.0.11/24\nlogSeverityScreen: loud\n", NULL,
	     "felix.yaml:3:20: logSeverityScreen: invalid log level"},
	    {"nodeName: [h1]\n", NULL, "felix.yaml:1:11: nodeName: expected a scalar value"},
	    {"- a\n- b\n", NULL, "felix.yaml:1:1: expected a mapping"},
	    {"nodeName: h1\nbirdSocket: \"/tmp\n", NULL, "felix.yaml:3:1: YAML syntax error"},
	    {"nodeName: h1\nipv4Address: 198.18.0.11/24\n", "TABBY_ROUTEPROTOCOL=abc",
	     "environment: TABBY_ROUTEPROTOCOL: invalid route protocol"},
	    {"nodeName: h1\n", "TABBY_IPV4ADDRESS=198.18.0.300/24",
	     "environment: TABBY_IPV4ADDRESS: invalid IPv4"},
	    {"nodeName: h1\nipv4Address: 198.18.0.11/24\nhealthPort: 0\n", NULL,
	     "felix.yaml:3:13: healthPort: invalid port \"0\" (1..65535)"},
	    {"nodeName: h1\nipv4Address: 198.18.0.11/24\nhealthPort: 65536\n", NULL,
	     "felix.yaml:3:13: healthPort: invalid port"},
	    {"nodeName: h1\nipv4Address: 198.18.0.11/24\nhealthHost: felix.example\n", NULL,
	     "felix.yaml:3:13: healthHost: invalid listen address \"felix.example\""},
	    {"nodeName: h1\nipv4Address: 198.18.0.11/24\nhealthEnabled: sometimes\n", NULL,
	     "felix.yaml:3:16: healthEnabled: invalid boolean"},
	    {"nodeName: h1\nipv4Address: 198.18.0.11/24\nipv6Address: 2001:db8:18::11\n", NULL,
	     "felix.yaml:3:14: ipv6Address: invalid IPv6 address \"2001:db8:18::11\""},
	    {"nodeName: h1\nipv4Address: 198.18.0.11/24\nipv6Address: 198.18.0.11/24\n", NULL,
	     "felix.yaml:3:14: ipv6Address: invalid IPv6 address"},
	    {"nodeName: h1\nipv4Address: 198.18.0.11/24\nipv6Address: auto\n", NULL,
	     "felix.yaml:3:14: ipv6Address: invalid IPv6 address \"auto\""},
	    {"nodeName: h1\nipv4Address: 198.18.0.11/24\nipv6Address: fe80::1/64\n", NULL,
	     "felix.yaml:3:14: ipv6Address: \"fe80::1/64\" is not a global unicast"},
	    {"nodeName: h1\nipv4Address: 198.18.0.11/24\n", "TABBY_IPV6ADDRESS=ff02::1/64",
	     "environment: TABBY_IPV6ADDRESS: \"ff02::1/64\" is not a global unicast"},
	    {"nodeName: h1\nipv4Address: 198.18.0.11/24\n", "TABBY_IPV6ADDRESS=2001:db8::1/129",
	     "environment: TABBY_IPV6ADDRESS: invalid IPv6 address"},
	    {"nodeName: h1\nipv4Address: 198.18.0.11/24\n", "TABBY_PROMETHEUSMETRICSPORT=9091x",
	     "environment: TABBY_PROMETHEUSMETRICSPORT: invalid port"},
	    {"nodeName: h1\nipv4Address: 198.18.0.11/24\n",
	     "TABBY_PROMETHEUSMETRICSHOST=198.18.0.300",
	     "environment: TABBY_PROMETHEUSMETRICSHOST: invalid listen address"},
	};
	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		struct felix_config c = {.node_name = (char *)"untouched"};
		char msg[512] = "";
		char *env[] = {(char *)cases[i].env, NULL};
		int r = parse(cases[i].yaml, env, NULL, &c, msg, sizeof(msg));
		if (r != -EINVAL || strncmp(msg, cases[i].msg, strlen(cases[i].msg)) != 0) {
			fail_msg("case %zu: r=%d msg=\"%s\", expected \"%s\"", i, r, msg,
				 cases[i].msg);
		}
		assert_string_equal(c.node_name, "untouched");
	}
}

static void test_ipv6_address(void **state)
{
	struct felix_config c;
	char buf[IP_PREFIX_STRLEN];
	char *env_none[] = {"TABBY_IPV4ADDRESS=198.18.0.11/24", NULL};
	assert_int_equal(parse("nodeName: h1\n", env_none, NULL, &c, NULL, 0), 0);
	assert_int_equal(c.ipv6_mode, FELIX_IPV6_NONE); /* default: IPv4 only */
	felix_config_done(&c);

	assert_int_equal(
	    parse("nodeName: h1\nipv6Address: 2001:db8:18::11/64\n", env_none, NULL, &c, NULL, 0),
	    0);
	assert_int_equal(c.ipv6_mode, FELIX_IPV6_STATIC);
	assert_string_equal(ip_prefix_format(&c.ipv6_address, buf), "2001:db8:18::11/64");
	felix_config_done(&c);

	/* The environment overrides the file, in every direction. */
	char *env_auto[] = {"TABBY_IPV4ADDRESS=198.18.0.11/24", "TABBY_IPV6ADDRESS=AutoDetect",
			    NULL};
	assert_int_equal(
	    parse("nodeName: h1\nipv6Address: 2001:db8:18::11/64\n", env_auto, NULL, &c, NULL, 0),
	    0);
	assert_int_equal(c.ipv6_mode, FELIX_IPV6_AUTODETECT);
	assert_int_equal(c.ipv6_address.addr.family, 0);
	assert_string_equal(felix_ipv6_mode_to_string(c.ipv6_mode), "autodetect");
	felix_config_done(&c);
	char *env_off[] = {"TABBY_IPV4ADDRESS=198.18.0.11/24", "TABBY_IPV6ADDRESS=none", NULL};
	assert_int_equal(
	    parse("nodeName: h1\nipv6Address: 2001:db8:18::11/64\n", env_off, NULL, &c, NULL, 0),
	    0);
	assert_int_equal(c.ipv6_mode, FELIX_IPV6_NONE);
	assert_int_equal(c.ipv6_address.addr.family, 0);
	felix_config_done(&c);

	static const struct {
		const char *addr;
		bool usable;
	} cases[] = {
	    {"2001:db8:18::11", true},
	    {"fd00::1", true},
	    {"::", false},
	    {"::1", false},
	    {"fe80::1", false},
	    {"febf::1", false},
	    {"fec0::1", true},
	    {"ff02::1", false},
	    {"::ffff:198.18.0.1", false},
	    {"198.18.0.1", false},
	    {"2001:db8::ffff:0:1", true},
	};
	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		struct ip_addr a;
		assert_int_equal(ip_addr_parse(cases[i].addr, &a), 0);
		if (felix_ipv6_address_usable(&a) != cases[i].usable) {
			fail_msg("%s: expected usable=%d", cases[i].addr, cases[i].usable);
		}
	}
}

static void test_empty_values_and_document(void **state)
{
	struct felix_config c;
	char *env[] = {"TABBY_IPV4ADDRESS=198.18.0.12/24", "TABBY_ASNUMBER=", NULL};
	assert_int_equal(
	    parse("---\nnodeName: h2\nasNumber:\nbirdLogFile: ~\n", env, NULL, &c, NULL, 0), 0);
	assert_int_equal(c.as_number, 0);
	assert_null(c.bird_log_file);
	felix_config_done(&c);
	assert_int_equal(parse("", env, "h3", &c, NULL, 0), 0);
	assert_string_equal(c.node_name, "h3");
	felix_config_done(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_defaults),	 cmocka_unit_test(test_nodename_file),
	    cmocka_unit_test(test_file_and_env), cmocka_unit_test(test_health_and_metrics),
	    cmocka_unit_test(test_errors),	 cmocka_unit_test(test_empty_values_and_document),
	    cmocka_unit_test(test_ipv6_address),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
