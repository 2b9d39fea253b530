/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * tabby-felix agent configuration: a flat YAML mapping (/etc/tabby/felix.yaml) whose keys can be
 * overridden one by one by environment variables TABBY_<KEY IN UPPER CASE> (TABBY_NODENAME,
 * TABBY_IPV4ADDRESS, ...; the datastore also by TABBY_DATASTORE_ENDPOINTS), in the manner of
 * Calico Felix's config loading (file < environment). Parsing is pure: the caller reads the file,
 * the environment and the hostname and passes them in (felix/config.c).
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/cidr.h"
#include "lib/macro.h"
#include "lib/parse-err.h"

#define FELIX_DEFAULT_CONFIG_FILE "/etc/tabby/felix.yaml"
#define FELIX_DEFAULT_BIRD_CONFIG_FILE "/etc/bird/bird.conf"
#define FELIX_DEFAULT_BIRD_SOCKET "/run/bird/bird.ctl"
#define FELIX_DEFAULT_RESYNC_S 90
#define FELIX_DEFAULT_IPAM_GC_S 300
/* Where the node name is written at start for the CNI plugin (calico-node writes
 * /var/lib/calico/nodename; cni/cni.h CNI_NODENAME_FILE reads the same path). */
#define FELIX_DEFAULT_NODENAME_FILE "/var/lib/tabby/nodename"
/* Calico Felix's defaults for its health and Prometheus ports. */
#define FELIX_DEFAULT_HEALTH_HOST "127.0.0.1"
#define FELIX_DEFAULT_HEALTH_PORT 9099
/* Calico listens on all addresses by default; tabby uses loopback until told otherwise, so that
 * enabling metrics does not expose process details on the fabric by accident. */
#define FELIX_DEFAULT_METRICS_HOST "127.0.0.1"
#define FELIX_DEFAULT_METRICS_PORT 9091

/* How this host's IPv6 address is chosen (config key ipv6Address). */
enum felix_ipv6_mode {
	FELIX_IPV6_NONE,       /* "none": no IPv6 address on the Node, no IPv6 BGP sessions */
	FELIX_IPV6_STATIC,     /* "<addr>/<len>" */
	FELIX_IPV6_AUTODETECT, /* "autodetect" */
	_FELIX_IPV6_MAX,
	_FELIX_IPV6_INVALID = -22,
};

struct felix_config {
	char *node_name;	       /* nodeName; default: the hostname passed in */
	struct ip_prefix ipv4_address; /* ipv4Address: host address + subnet length; required */
	/* ipv6Address (Calico's IP6): "none" (default, IPv4 only), "<addr>/<len>" (static, in
	 * ipv6_address) or "autodetect" (the agent picks the first global IPv6 address of the
	 * interface that carries ipv4Address at start: felix_ipv6_autodetect()) */
	enum felix_ipv6_mode ipv6_mode;
	struct ip_prefix ipv6_address; /* FELIX_IPV6_STATIC only */
	uint32_t as_number;	       /* asNumber; 0 = inherit the cluster's */
	char *datastore_endpoints;  /* datastoreEndpoints; NULL = leave to the datastore defaults */
	char *datastore_ca_file;    /* datastoreCAFile; NULL = system CAs */
	char *datastore_cert_file;  /* datastoreCertFile */
	char *datastore_key_file;   /* datastoreKeyFile */
	char *bird_config_file;	    /* birdConfigFile */
	char *bird_socket;	    /* birdSocket */
	char *bird_binary;	    /* birdBinary, "bird" */
	char *bird_log_file;	    /* birdLogFile; NULL = syslog */
	bool bird_fast_timers;	    /* birdFastTimers (lab) */
	uint8_t route_protocol;	    /* routeProtocol, 5..255, default TABBY_ROUTE_PROTO */
	unsigned resync_interval_s; /* resyncIntervalSecs, 1..86400, default 90 */
	/* ipamGCIntervalSecs, 0..86400, default 300; 0 = this felix never collects IPAM leaks
	 * (felix/ipam-gc.h: one elected felix per cluster collects) */
	unsigned ipam_gc_interval_s;
	int log_level;	      /* logSeverityScreen as enum log_level; default info */
	int policy_dataplane; /* policyDataplane: enum model_dataplane, default nftables (0);
				 FelixConfiguration nftablesMode/policyDataplane overrides it */
	char *status_file;    /* statusFile; default <dir of birdConfigFile>/felix-status.json */
	char *ipt_state_file; /* derived: <dir of statusFile>/felix-iptables.state */
	/* derived: <dir of statusFile>/felix-datastore.cache, the cache saved at exit for a warm
	 * restart (felix/calc/cache-file.c) */
	char *cache_file;
	char *nodename_file; /* nodenameFile; default FELIX_DEFAULT_NODENAME_FILE */
	/* HTTP endpoints (felix/health.h). Hosts are IPv4/IPv6 literals ("localhost" is read as
	 * 127.0.0.1: no name resolution here); ports 1..65535. */
	bool health_enabled;		  /* healthEnabled, default true: /liveness, /readiness */
	char *health_host;		  /* healthHost, default 127.0.0.1 */
	uint16_t health_port;		  /* healthPort, default 9099 */
	bool prometheus_metrics_enabled;  /* prometheusMetricsEnabled, default false: /metrics */
	char *prometheus_metrics_host;	  /* prometheusMetricsHost, default 127.0.0.1 */
	uint16_t prometheus_metrics_port; /* prometheusMetricsPort, default 9091 */
};

/**
 * felix_config_parse() - defaults, then the YAML mapping in @buf, then the environment.
 * @buf, @len: the file's text (may be NULL/0: no file, all defaults).
 * @file: the name used in errors ("felix.yaml").
 * @env: NULL-terminated "NAME=value" array (environ), may be NULL. Only TABBY_* entries are read.
 * @hostname: default nodeName (may be NULL; then nodeName is required).
 * @ret: filled on success (free with felix_config_done()); untouched on failure.
 * @err: on failure, "FILE:LINE:COL: key: message" for the file, or file "environment" and the
 *       variable name as field for an environment value.
 * Return: 0, -EINVAL (bad YAML, unknown key, bad value, missing ipv4Address/nodeName) or -ENOMEM.
 */
int felix_config_parse(const char *buf, size_t len, const char *file, char *const *env,
		       const char *hostname, struct felix_config *ret,
		       struct parse_err *err) _warn_unused_result_;

/**
 * felix_ipv6_address_usable() - @a is an IPv6 address a Node can carry as ipv6Address and BGP
 * can use as a session address: global unicast in the sense of RFC 4291 section 2.4 (not
 * unspecified, loopback, multicast ff00::/8, link-local fe80::/10, IPv4-mapped ::ffff:0:0/96).
 * Unique local addresses (fc00::/7) count: the kernel gives them global scope. Pure.
 */
bool felix_ipv6_address_usable(const struct ip_addr *a);

/** felix_ipv6_mode_to_string() - "none", "static", "autodetect" ("?" when out of range). */
const char *felix_ipv6_mode_to_string(enum felix_ipv6_mode m);

/** felix_config_done() - free what @c owns; NULL-safe. */
void felix_config_done(struct felix_config *c);
