/* SPDX-License-Identifier: Apache-2.0 */
/*
 * DOC: tabby-felix configuration parsing (pure).
 *
 * Three layers, later wins: built-in defaults, the YAML file (a flat mapping of scalar keys, the
 * names of Calico Felix's config parameters where one exists), then TABBY_<KEY> environment
 * variables. Every value is validated where it is read so that the error names the file line or
 * the variable. No file, environment or hostname is read here: main passes them in.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

#include "felix/config.h"
#include "model/model.h"
#include "lib/log.h"

enum key_type {
	KEY_STRING,
	KEY_NODENAME,
	KEY_PREFIX4,
	KEY_IPV6,
	KEY_ASN,
	KEY_BOOL,
	KEY_PROTO,
	KEY_RESYNC,
	KEY_GC_INTERVAL,
	KEY_LEVEL,
	KEY_DATAPLANE,
	KEY_HOST,
	KEY_PORT,
};

struct key_def {
	const char *name;
	enum key_type type;
	size_t offset;
};

#define KEY(n, t, f)                                   \
	{                                              \
		n, t, offsetof(struct felix_config, f) \
	}
static const struct key_def keys[] = {
    KEY("nodeName", KEY_NODENAME, node_name),
    KEY("ipv4Address", KEY_PREFIX4, ipv4_address),
    KEY("ipv6Address", KEY_IPV6, ipv6_mode),
    KEY("asNumber", KEY_ASN, as_number),
    KEY("datastoreEndpoints", KEY_STRING, datastore_endpoints),
    KEY("datastoreCAFile", KEY_STRING, datastore_ca_file),
    KEY("datastoreCertFile", KEY_STRING, datastore_cert_file),
    KEY("datastoreKeyFile", KEY_STRING, datastore_key_file),
    KEY("birdConfigFile", KEY_STRING, bird_config_file),
    KEY("birdSocket", KEY_STRING, bird_socket),
    KEY("birdBinary", KEY_STRING, bird_binary),
    KEY("birdLogFile", KEY_STRING, bird_log_file),
    KEY("birdFastTimers", KEY_BOOL, bird_fast_timers),
    KEY("routeProtocol", KEY_PROTO, route_protocol),
    KEY("resyncIntervalSecs", KEY_RESYNC, resync_interval_s),
    KEY("ipamGCIntervalSecs", KEY_GC_INTERVAL, ipam_gc_interval_s),
    KEY("logSeverityScreen", KEY_LEVEL, log_level),
    KEY("policyDataplane", KEY_DATAPLANE, policy_dataplane),
    KEY("statusFile", KEY_STRING, status_file),
    KEY("nodenameFile", KEY_STRING, nodename_file),
    KEY("healthEnabled", KEY_BOOL, health_enabled),
    KEY("healthHost", KEY_HOST, health_host),
    KEY("healthPort", KEY_PORT, health_port),
    KEY("prometheusMetricsEnabled", KEY_BOOL, prometheus_metrics_enabled),
    KEY("prometheusMetricsHost", KEY_HOST, prometheus_metrics_host),
    KEY("prometheusMetricsPort", KEY_PORT, prometheus_metrics_port),
};

static const struct key_def *key_lookup(const char *name)
{
	for (size_t i = 0; i < ELEMENTSOF(keys); i++) {
		if (strcmp(keys[i].name, name) == 0) {
			return &keys[i];
		}
	}
	return NULL;
}

/* RFC 1123 subdomain, as Kubernetes and Calico require of node names. */
static bool valid_node_name(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > 253) {
		return false;
	}
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
		if (alnum) {
			continue;
		}
		if ((c == '-' || c == '.') && i > 0 && i + 1 < n) {
			continue;
		}
		return false;
	}
	return true;
}

bool felix_ipv6_address_usable(const struct ip_addr *a)
{
	static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	bool zero_head = true;

	if (!a || a->family != AF_INET6) {
		return false;
	}
	for (int i = 0; i < 15; i++) {
		zero_head = zero_head && a->bytes[i] == 0;
	}
	if (zero_head && (a->bytes[15] == 0 || a->bytes[15] == 1)) {
		return false; /* :: and ::1 */
	}
	if (a->bytes[0] == 0xff || (a->bytes[0] == 0xfe && (a->bytes[1] & 0xc0) == 0x80)) {
		return false; /* multicast, link-local */
	}
	return memcmp(a->bytes, mapped, sizeof(mapped)) != 0;
}

const char *felix_ipv6_mode_to_string(enum felix_ipv6_mode m)
{
	static const char *const names[_FELIX_IPV6_MAX] = {
	    [FELIX_IPV6_NONE] = "none",
	    [FELIX_IPV6_STATIC] = "static",
	    [FELIX_IPV6_AUTODETECT] = "autodetect",
	};
	return m >= 0 && m < _FELIX_IPV6_MAX ? names[m] : "?";
}

static int parse_uint(const char *s, unsigned long long max, unsigned long long *ret)
{
	char *end;
	if (!isdigit((unsigned char)s[0])) {
		return -EINVAL;
	}
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || *end || v > max) {
		return -EINVAL;
	}
	*ret = v;
	return 0;
}

static int set_string(char **slot, const char *value)
{
	char *c = strdup(value);
	if (!c) {
		return -ENOMEM;
	}
	free(*slot);
	*slot = c;
	return 0;
}

/* Apply one key/value to @c. @file/@line/@col/@field locate the value for the error. */
static int key_set(struct felix_config *c, const struct key_def *k, const char *value,
		   const char *file, unsigned line, unsigned col, const char *field,
		   struct parse_err *err)
{
	void *slot = (char *)c + k->offset;
	unsigned long long v;
	int r;

	switch (k->type) {
	case KEY_STRING:
		if (value[0] == '\0') {
			return parse_err_set(err, file, line, col, field, "must not be empty");
		}
		return set_string(slot, value);
	case KEY_NODENAME:
		if (!valid_node_name(value)) {
			return parse_err_set(err, file, line, col, field,
					     "invalid node name \"%s\" (RFC 1123 subdomain)",
					     value);
		}
		return set_string(slot, value);
	case KEY_PREFIX4: {
		struct ip_prefix p;
		if (ip_prefix_parse(value, false, &p) < 0 || p.addr.family != AF_INET ||
		    !strchr(value, '/')) {
			return parse_err_set(err, file, line, col, field,
					     "invalid IPv4 address with prefix length \"%s\" "
					     "(e.g. 198.18.0.11/24)",
					     value);
		}
		*(struct ip_prefix *)slot = p;
		return 0;
	}
	case KEY_IPV6: {
		/* Calico's IP6 takes "none", "autodetect" or an address with its length. */
		struct ip_prefix p;
		if (strcasecmp(value, "none") == 0) {
			c->ipv6_mode = FELIX_IPV6_NONE;
			c->ipv6_address = (struct ip_prefix){0};
			return 0;
		}
		if (strcasecmp(value, "autodetect") == 0) {
			c->ipv6_mode = FELIX_IPV6_AUTODETECT;
			c->ipv6_address = (struct ip_prefix){0};
			return 0;
		}
		if (ip_prefix_parse(value, false, &p) < 0 || p.addr.family != AF_INET6 ||
		    !strchr(value, '/') || p.len == 0) {
			return parse_err_set(err, file, line, col, field,
					     "invalid IPv6 address \"%s\" (an address with its "
					     "prefix length, e.g. 2001:db8:18::11/64, or "
					     "\"autodetect\" or \"none\")",
					     value);
		}
		if (!felix_ipv6_address_usable(&p.addr)) {
			return parse_err_set(err, file, line, col, field,
					     "\"%s\" is not a global unicast IPv6 address "
					     "(link-local, multicast, loopback and unspecified "
					     "addresses cannot carry BGP sessions)",
					     value);
		}
		c->ipv6_mode = FELIX_IPV6_STATIC;
		c->ipv6_address = p;
		return 0;
	}
	case KEY_ASN:
		/* RFC 6793 4-byte AS numbers; 0 is reserved (RFC 7607). */
		if (parse_uint(value, UINT32_MAX, &v) < 0 || v == 0) {
			return parse_err_set(err, file, line, col, field,
					     "invalid AS number \"%s\" (1..4294967295)", value);
		}
		*(uint32_t *)slot = (uint32_t)v;
		return 0;
	case KEY_BOOL:
		if (strcasecmp(value, "true") == 0 || strcasecmp(value, "yes") == 0 ||
		    strcmp(value, "1") == 0) {
			*(bool *)slot = true;
		} else if (strcasecmp(value, "false") == 0 || strcasecmp(value, "no") == 0 ||
			   strcmp(value, "0") == 0) {
			*(bool *)slot = false;
		} else {
			return parse_err_set(err, file, line, col, field,
					     "invalid boolean \"%s\" (true or false)", value);
		}
		return 0;
	case KEY_PROTO:
		/* 0..4 are the kernel's own (unspec, redirect, kernel, boot, static). */
		if (parse_uint(value, 255, &v) < 0 || v < 5) {
			return parse_err_set(err, file, line, col, field,
					     "invalid route protocol \"%s\" (5..255)", value);
		}
		*(uint8_t *)slot = (uint8_t)v;
		return 0;
	case KEY_RESYNC:
		if (parse_uint(value, 86400, &v) < 0 || v < 1) {
			return parse_err_set(err, file, line, col, field,
					     "invalid interval \"%s\" (1..86400 seconds)", value);
		}
		*(unsigned *)slot = (unsigned)v;
		return 0;
	case KEY_GC_INTERVAL:
		if (parse_uint(value, 86400, &v) < 0) {
			return parse_err_set(err, file, line, col, field,
					     "invalid interval \"%s\" (0..86400 seconds, 0 = off)",
					     value);
		}
		*(unsigned *)slot = (unsigned)v;
		return 0;
	case KEY_LEVEL:
		r = log_parse_level(value);
		if (r < 0) {
			/* Calico's Fatal and Panic map to error. */
			if (strcasecmp(value, "fatal") == 0 || strcasecmp(value, "panic") == 0) {
				r = LOG_LEVEL_ERROR;
			} else {
				return parse_err_set(err, file, line, col, field,
						     "invalid log level \"%s\" (Debug, Info, "
						     "Warning, Error)",
						     value);
			}
		}
		*(int *)slot = r;
		return 0;
	case KEY_DATAPLANE:
		if (strcasecmp(value, "nftables") == 0) {
			*(int *)slot = MODEL_DATAPLANE_NFTABLES;
		} else if (strcasecmp(value, "iptables") == 0) {
			*(int *)slot = MODEL_DATAPLANE_IPTABLES;
		} else {
			return parse_err_set(err, file, line, col, field,
					     "invalid policy dataplane \"%s\" (nftables or "
					     "iptables)",
					     value);
		}
		return 0;
	case KEY_HOST: {
		/* A literal only: parsing is pure and resolves no names. Calico's default for
		 * healthHost is "localhost", so that one name is accepted as 127.0.0.1. */
		struct ip_addr a;
		if (strcasecmp(value, "localhost") == 0) {
			value = "127.0.0.1";
		} else if (ip_addr_parse(value, &a) < 0) {
			return parse_err_set(err, file, line, col, field,
					     "invalid listen address \"%s\" (an IPv4 or IPv6 "
					     "address, e.g. 127.0.0.1 or ::1)",
					     value);
		}
		return set_string(slot, value);
	}
	case KEY_PORT:
		if (parse_uint(value, 65535, &v) < 0 || v < 1) {
			return parse_err_set(err, file, line, col, field,
					     "invalid port \"%s\" (1..65535)", value);
		}
		*(uint16_t *)slot = (uint16_t)v;
		return 0;
	}
	return -EINVAL;
}

static int parse_yaml(struct felix_config *c, const char *buf, size_t len, const char *file,
		      struct parse_err *err)
{
	yaml_parser_t parser;
	yaml_event_t ev;
	int depth = 0, r = 0;
	bool done = false;
	/* A pending key while its value is awaited. */
	char *key = NULL;
	unsigned key_line = 0, key_col = 0;

	if (!yaml_parser_initialize(&parser)) {
		return -ENOMEM;
	}
	yaml_parser_set_input_string(&parser, (const unsigned char *)buf, len);
	while (!done) {
		if (!yaml_parser_parse(&parser, &ev)) {
			r = parse_err_set(err, file, (unsigned)parser.problem_mark.line + 1,
					  (unsigned)parser.problem_mark.column + 1, NULL,
					  "YAML syntax error: %s",
					  parser.problem ? parser.problem : "unknown");
			break;
		}
		unsigned line = (unsigned)ev.start_mark.line + 1;
		unsigned col = (unsigned)ev.start_mark.column + 1;
		switch (ev.type) {
		case YAML_STREAM_END_EVENT:
			done = true;
			break;
		case YAML_DOCUMENT_START_EVENT:
		case YAML_STREAM_START_EVENT:
		case YAML_DOCUMENT_END_EVENT:
			break;
		case YAML_MAPPING_START_EVENT:
			if (depth > 0) {
				r = parse_err_set(err, file, line, col, key,
						  "expected a scalar value, got a mapping");
			}
			depth++;
			break;
		case YAML_MAPPING_END_EVENT:
			depth--;
			break;
		case YAML_SEQUENCE_END_EVENT:
			break;
		case YAML_SEQUENCE_START_EVENT:
			r = parse_err_set(err, file, line, col, key,
					  depth ? "expected a scalar value, got a list"
						: "expected a mapping of keys to values");
			break;
		case YAML_ALIAS_EVENT:
			r = parse_err_set(err, file, line, col, key, "aliases are not supported");
			break;
		case YAML_SCALAR_EVENT: {
			const char *s = (const char *)ev.data.scalar.value;
			if (depth == 0) {
				/* An empty document ("" or "~") means all defaults. */
				if (s[0] != '\0' && strcmp(s, "~") != 0 && strcmp(s, "null") != 0) {
					r = parse_err_set(err, file, line, col, NULL,
							  "expected a mapping of keys to values");
				}
			} else if (!key) {
				key = strdup(s);
				if (!key) {
					r = -ENOMEM;
				}
				key_line = line;
				key_col = col;
			} else {
				const struct key_def *k = key_lookup(key);
				bool null =
				    ev.data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
				    (s[0] == '\0' || strcmp(s, "~") == 0 || strcmp(s, "null") == 0);
				if (!k) {
					r = parse_err_set(err, file, key_line, key_col, key,
							  "unknown key");
				} else if (!null) {
					r = key_set(c, k, s, file, line, col, key, err);
				}
				free(key);
				key = NULL;
			}
			break;
		}
		case YAML_NO_EVENT:
			done = true;
			break;
		}
		yaml_event_delete(&ev);
		if (r < 0) {
			break;
		}
	}
	free(key);
	yaml_parser_delete(&parser);
	return r;
}

/* "nodeName" -> "TABBY_NODENAME" into @buf. */
static void env_name(const char *key, char *buf, size_t size)
{
	size_t i = 0;
	for (const char *p = "TABBY_"; *p && i + 1 < size; p++) {
		buf[i++] = *p;
	}
	for (const char *p = key; *p && i + 1 < size; p++) {
		buf[i++] = (char)toupper((unsigned char)*p);
	}
	buf[i] = '\0';
}

static const char *env_get(char *const *env, const char *name)
{
	size_t n = strlen(name);
	if (!env) {
		return NULL;
	}
	for (char *const *e = env; *e; e++) {
		if (strncmp(*e, name, n) == 0 && (*e)[n] == '=') {
			return *e + n + 1;
		}
	}
	return NULL;
}

static int apply_env(struct felix_config *c, char *const *env, struct parse_err *err)
{
	for (size_t i = 0; i < ELEMENTSOF(keys); i++) {
		char name[64];
		env_name(keys[i].name, name, sizeof(name));
		const char *v = env_get(env, name);
		if (!v && strcmp(keys[i].name, "datastoreEndpoints") == 0) {
			v = env_get(env, "TABBY_DATASTORE_ENDPOINTS");
			if (v) {
				snprintf(name, sizeof(name), "TABBY_DATASTORE_ENDPOINTS");
			}
		}
		if (!v || v[0] == '\0') {
			continue;
		}
		int r = key_set(c, &keys[i], v, "environment", 0, 0, name, err);
		if (r < 0) {
			return r;
		}
	}
	return 0;
}

/* *@ret = "<directory of @file>/@name" (the current directory when @file has no '/'; "/" when
 * it is in the root). Return: 0 or -ENOMEM. */
static int path_beside(const char *file, const char *name, char **ret)
{
	const char *slash = strrchr(file, '/');
	int dl = slash ? (int)(slash - file) : 1;

	if (asprintf(ret, "%.*s/%s", dl, slash ? file : ".", name) < 0) {
		*ret = NULL;
		return -ENOMEM;
	}
	return 0;
}

static int set_default(char **slot, const char *value)
{
	return *slot ? 0 : set_string(slot, value);
}

int felix_config_parse(const char *buf, size_t len, const char *file, char *const *env,
		       const char *hostname, struct felix_config *ret, struct parse_err *err)
{
	struct felix_config c = {
	    .route_protocol = TABBY_ROUTE_PROTO,
	    .resync_interval_s = FELIX_DEFAULT_RESYNC_S,
	    .ipam_gc_interval_s = FELIX_DEFAULT_IPAM_GC_S,
	    .log_level = LOG_LEVEL_INFO,
	    .health_enabled = true,
	    .health_port = FELIX_DEFAULT_HEALTH_PORT,
	    .prometheus_metrics_port = FELIX_DEFAULT_METRICS_PORT,
	};
	int r = 0;

	if (!file) {
		file = FELIX_DEFAULT_CONFIG_FILE;
	}
	if (buf && len > 0) {
		r = parse_yaml(&c, buf, len, file, err);
	}
	if (r >= 0) {
		r = apply_env(&c, env, err);
	}
	if (r >= 0 && !c.node_name && hostname) {
		/* Hostnames may carry upper case; node names may not. */
		char lower[256];
		size_t i;
		for (i = 0; hostname[i] && i + 1 < sizeof(lower); i++) {
			lower[i] = (char)tolower((unsigned char)hostname[i]);
		}
		lower[i] = '\0';
		if (!valid_node_name(lower)) {
			r = parse_err_set(err, file, 0, 0, "nodeName",
					  "hostname \"%s\" is not a valid node name; set nodeName",
					  hostname);
		} else {
			r = set_string(&c.node_name, lower);
		}
	}
	if (r >= 0 && !c.node_name) {
		r = parse_err_set(err, file, 0, 0, "nodeName", "required");
	}
	if (r >= 0 && c.ipv4_address.addr.family != AF_INET) {
		r = parse_err_set(err, file, 0, 0, "ipv4Address",
				  "required (this host's address with its prefix length, e.g. "
				  "198.18.0.11/24)");
	}
	if (r >= 0) {
		r = set_default(&c.bird_config_file, FELIX_DEFAULT_BIRD_CONFIG_FILE);
	}
	if (r >= 0) {
		r = set_default(&c.bird_socket, FELIX_DEFAULT_BIRD_SOCKET);
	}
	if (r >= 0) {
		r = set_default(&c.bird_binary, "bird");
	}
	if (r >= 0) {
		r = set_default(&c.health_host, FELIX_DEFAULT_HEALTH_HOST);
	}
	if (r >= 0) {
		r = set_default(&c.nodename_file, FELIX_DEFAULT_NODENAME_FILE);
	}
	if (r >= 0) {
		r = set_default(&c.prometheus_metrics_host, FELIX_DEFAULT_METRICS_HOST);
	}
	if (r >= 0 && !c.status_file) {
		r = path_beside(c.bird_config_file, "felix-status.json", &c.status_file);
	}
	if (r >= 0) {
		r = path_beside(c.status_file, "felix-iptables.state", &c.ipt_state_file);
	}
	if (r >= 0) {
		r = path_beside(c.status_file, "felix-datastore.cache", &c.cache_file);
	}
	if (r < 0) {
		felix_config_done(&c);
		return r;
	}
	*ret = c;
	return 0;
}

void felix_config_done(struct felix_config *c)
{
	if (!c) {
		return;
	}
	free(c->node_name);
	free(c->datastore_endpoints);
	free(c->datastore_ca_file);
	free(c->datastore_cert_file);
	free(c->datastore_key_file);
	free(c->bird_config_file);
	free(c->bird_socket);
	free(c->bird_binary);
	free(c->bird_log_file);
	free(c->status_file);
	free(c->ipt_state_file);
	free(c->cache_file);
	free(c->nodename_file);
	free(c->health_host);
	free(c->prometheus_metrics_host);
	*c = (struct felix_config){0};
}
