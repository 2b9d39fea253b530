/* SPDX-License-Identifier: Apache-2.0 */
/**
 * DOC: bird.conf renderer
 *
 * Turns a struct bgp_model into the text of a BIRD 2 configuration. The function is pure and
 * deterministic: pools, blocks and peers are sorted (on copies) and de-duplicated, nothing
 * depends on time or on the order of the input arrays, so felix can compare the bytes with the
 * live file and reload BIRD only when they differ (confd's sync()).
 *
 * Layout (BIRD 2.0 user guide, sections "Filters", "Kernel", "Direct", "Static", "BGP"; shape
 * after Calico's confd bird.cfg.template):
 *   - filter tabby_kernel_export: only routes learned over BGP (source = RTS_BGP) that lie in a
 *     pool reach the kernel. Kernel-learned routes are never exported back, so BIRD never echoes
 *     our own /32s nor installs anything outside the pools.
 *   - filter tabby_export_bgp: own blocks as aggregates; on a route reflector, routes learned
 *     over BGP inside the pools (reflected before the own-block rule below, so that a /32 that
 *     another node borrowed from one of our blocks still reaches the other clients); nothing
 *     else inside an own block (local workload /32s); host routes learned from the kernel
 *     (RTS_INHERIT) inside a pool and outside every own block (borrowed addresses); nothing else.
 *   - device, direct (not on workload interfaces "tby*"), kernel (learn alien routes, persist
 *     across BIRD restarts, graceful restart, ECMP), static blackholes for the own blocks.
 *   - one template per address family and one protocol bgp per peer, named like Calico's.
 * IPv4 and IPv6 prefix sets cannot be mixed in BIRD, and matching an IPv6 net against an IPv4
 * set is simply false, so each family gets its own set in the same filter.
 *
 * Peers equal to the local address are skipped (a node does not peer with itself), and so are
 * exact duplicates (same address and type); both would be configuration errors in BIRD.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>

#include "bgp/bird-conf.h"

/* Limits on what the datastore controls (STYLE.md section 3). */
#define BIRD_CONF_MAX_PEERS 4096
#define BIRD_CONF_MAX_PREFIXES 65536
#define BIRD_CONF_DEFAULT_SCAN_S 10

static const char *const peer_type_prefix[_BGP_PEER_TYPE_MAX] = {
    [BGP_PEER_MESH] = "Mesh_",
    [BGP_PEER_GLOBAL] = "Global_",
    [BGP_PEER_NODE] = "Node_",
};

static const char *const peer_type_string[_BGP_PEER_TYPE_MAX] = {
    [BGP_PEER_MESH] = "node-to-node mesh",
    [BGP_PEER_GLOBAL] = "global",
    [BGP_PEER_NODE] = "node specific",
};

static bool peer_type_valid(enum bgp_peer_type t)
{
	return t >= 0 && t < _BGP_PEER_TYPE_MAX;
}

char *bird_conf_peer_name(const struct bgp_peer *p, char *buf, size_t size)
{
	char addr[IP_ADDR_STRLEN];

	if (size == 0)
		return buf;
	ip_addr_format(&p->addr, addr);
	snprintf(buf, size, "%s%s", peer_type_valid(p->type) ? peer_type_prefix[p->type] : "",
		 addr);
	for (char *c = buf; *c; c++) {
		if (*c == '.' || *c == ':')
			*c = '_';
	}
	return buf;
}

enum bgp_peer_type bird_conf_peer_type_from_name(const char *name)
{
	if (!name)
		return _BGP_PEER_TYPE_INVALID;
	for (int t = 0; t < _BGP_PEER_TYPE_MAX; t++) {
		if (strncmp(name, peer_type_prefix[t], strlen(peer_type_prefix[t])) == 0)
			return (enum bgp_peer_type)t;
	}
	return _BGP_PEER_TYPE_INVALID;
}

const char *bgp_peer_type_to_string(enum bgp_peer_type t)
{
	return peer_type_valid(t) ? peer_type_string[t] : NULL;
}

/* Text that ends up inside a quoted string or a comment: no quotes, backslashes, newlines. */
static bool text_is_safe(const char *s)
{
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c < 0x20 || c == 0x7f || c == '"' || c == '\\')
			return false;
	}
	return true;
}

static bool prefix_valid(const struct ip_prefix *p)
{
	unsigned bits = ip_addr_bits(p->addr.family);

	return bits && p->len <= bits && ip_prefix_is_masked(p);
}

static int validate(const struct bgp_model *m)
{
	struct ip_addr cluster;

	if (m->router_id.family != AF_INET || m->as_number == 0)
		return -EINVAL;
	if (m->local_addr.family != 0 && m->local_addr.family != AF_INET)
		return -EINVAL;
	if (m->node_name && !text_is_safe(m->node_name))
		return -EINVAL;
	if (m->log_file && (!*m->log_file || !text_is_safe(m->log_file)))
		return -EINVAL;
	if (m->rr_cluster_id &&
	    (ip_addr_parse(m->rr_cluster_id, &cluster) < 0 || cluster.family != AF_INET))
		return -EINVAL;
	/* BIRD: "Hold time must be in range 3-65535 or zero". */
	if (m->hold_s && (m->hold_s < 3 || m->hold_s > 65535))
		return -EINVAL;
	if (m->keepalive_s > 65535 || m->kernel_scan_s > 86400)
		return -EINVAL;
	if (m->n_peers > BIRD_CONF_MAX_PEERS || m->n_pools > BIRD_CONF_MAX_PREFIXES ||
	    m->n_blocks > BIRD_CONF_MAX_PREFIXES)
		return -EINVAL;
	if ((m->n_peers && !m->peers) || (m->n_pools && !m->pools) || (m->n_blocks && !m->blocks))
		return -EINVAL;
	for (size_t i = 0; i < m->n_pools; i++) {
		if (!prefix_valid(&m->pools[i]))
			return -EINVAL;
	}
	for (size_t i = 0; i < m->n_blocks; i++) {
		if (!prefix_valid(&m->blocks[i]))
			return -EINVAL;
	}
	for (size_t i = 0; i < m->n_peers; i++) {
		const struct bgp_peer *p = &m->peers[i];

		if (!peer_type_valid(p->type) || p->as_number == 0 || !ip_addr_bits(p->addr.family))
			return -EINVAL;
		/* BIRD: "Only internal neighbor can be RR client". */
		if (p->rr_client && p->as_number != m->as_number)
			return -EINVAL;
	}
	return 0;
}

static int prefix_qsort_cmp(const void *a, const void *b)
{
	return ip_prefix_cmp(a, b);
}

static int peer_qsort_cmp(const void *a, const void *b)
{
	const struct bgp_peer *x = a, *y = b;
	int r = ip_addr_cmp(&x->addr, &y->addr);

	if (r != 0)
		return r;
	if (x->type != y->type)
		return x->type < y->type ? -1 : 1;
	if (x->as_number != y->as_number)
		return x->as_number < y->as_number ? -1 : 1;
	if (x->passive != y->passive)
		return x->passive ? 1 : -1;
	if (x->rr_client != y->rr_client)
		return x->rr_client ? 1 : -1;
	return 0;
}

/* Sorted, de-duplicated copy of @n prefixes into *ret (NULL when n == 0). Return: count or
 * -ENOMEM. */
static ssize_t sorted_prefixes(const struct ip_prefix *in, size_t n, struct ip_prefix **ret)
{
	struct ip_prefix *v;
	size_t k = 0;

	*ret = NULL;
	if (n == 0)
		return 0;
	v = malloc(n * sizeof(*v));
	if (!v)
		return -ENOMEM;
	memcpy(v, in, n * sizeof(*v));
	qsort(v, n, sizeof(*v), prefix_qsort_cmp);
	for (size_t i = 0; i < n; i++) {
		if (k > 0 && ip_prefix_cmp(&v[k - 1], &v[i]) == 0)
			continue;
		v[k++] = v[i];
	}
	*ret = v;
	return (ssize_t)k;
}

/* Sorted copy of the peers without self-peers and without duplicate protocol names. */
static ssize_t sorted_peers(const struct bgp_model *m, const struct ip_addr *local,
			    struct bgp_peer **ret)
{
	struct bgp_peer *v;
	size_t k = 0;

	*ret = NULL;
	if (m->n_peers == 0)
		return 0;
	v = malloc(m->n_peers * sizeof(*v));
	if (!v)
		return -ENOMEM;
	memcpy(v, m->peers, m->n_peers * sizeof(*v));
	qsort(v, m->n_peers, sizeof(*v), peer_qsort_cmp);
	for (size_t i = 0; i < m->n_peers; i++) {
		if (ip_addr_equal(&v[i].addr, local))
			continue;
		if (k > 0 && ip_addr_equal(&v[k - 1].addr, &v[i].addr) &&
		    v[k - 1].type == v[i].type)
			continue;
		v[k++] = v[i];
	}
	*ret = v;
	return (ssize_t)k;
}

/* Output with a sticky error, so that the layout code reads like the file it writes. */
struct emitter {
	struct strbuf *sb;
	int err;
};

_printf_(2, 3) static void emit(struct emitter *e, const char *fmt, ...)
{
	va_list ap;
	int r;

	if (e->err < 0)
		return;
	va_start(ap, fmt);
	r = strbuf_vprintf(e->sb, fmt, ap);
	va_end(ap);
	if (r < 0)
		e->err = r;
}

/* The parts of the model, sorted, for one render pass. */
struct view {
	const struct bgp_model *m;
	struct ip_addr local;
	struct ip_prefix *pools, *blocks;
	size_t n_pools, n_blocks;
	struct bgp_peer *peers;
	size_t n_peers;
	bool has_v4, has_v6, v4_peers, v6_peers;
	unsigned scan_s;
};

static size_t count_family(const struct ip_prefix *v, size_t n, int family)
{
	size_t c = 0;

	for (size_t i = 0; i < n; i++) {
		if (v[i].addr.family == family)
			c++;
	}
	return c;
}

/*
 * "[ 198.19.0.0/16+, 198.19.4.0/24+ ]" over the prefixes of @family; @suffix is appended to
 * each ("" exact, "+" the prefix and everything inside it, "{32,32}" host routes inside it).
 */
static void emit_set(struct emitter *e, const struct ip_prefix *v, size_t n, int family,
		     const char *suffix)
{
	const char *sep = "";
	char buf[IP_PREFIX_STRLEN];

	emit(e, "[ ");
	for (size_t i = 0; i < n; i++) {
		if (v[i].addr.family != family)
			continue;
		emit(e, "%s%s%s", sep, ip_prefix_format(&v[i], buf), suffix);
		sep = ", ";
	}
	emit(e, " ]");
}

static void emit_kernel_filter(struct emitter *e, const struct view *w)
{
	static const int families[] = {AF_INET, AF_INET6};

	emit(e, "# Routes BIRD may install in the kernel: learned over BGP and inside an IP pool.\n"
		"filter tabby_kernel_export {\n"
		"\tif source != RTS_BGP then reject;\n");
	for (size_t f = 0; f < ELEMENTSOF(families); f++) {
		if (count_family(w->pools, w->n_pools, families[f]) == 0)
			continue;
		emit(e, "\tif net ~ ");
		emit_set(e, w->pools, w->n_pools, families[f], "+");
		emit(e, " then accept;\n");
	}
	emit(e, "\treject;\n}\n\n");
}

static void emit_bgp_filter(struct emitter *e, const struct view *w)
{
	static const struct {
		int family;
		const char *host;
	} families[] = {{AF_INET, "{32,32}"}, {AF_INET6, "{128,128}"}};

	emit(e, "# Routes announced to BGP peers: own blocks as aggregates, borrowed host routes.\n"
		"filter tabby_export_bgp {\n");
	for (size_t f = 0; f < ELEMENTSOF(families); f++) {
		int af = families[f].family;
		bool blocks = count_family(w->blocks, w->n_blocks, af) > 0;
		bool pools = count_family(w->pools, w->n_pools, af) > 0;

		if (blocks) {
			emit(e, "\tif net ~ ");
			emit_set(e, w->blocks, w->n_blocks, af, "");
			emit(e, " then accept;\n");
		}
		if (pools && w->m->rr_cluster_id) {
			emit(e, "\tif source = RTS_BGP && net ~ ");
			emit_set(e, w->pools, w->n_pools, af, "+");
			emit(e, " then accept;\n");
		}
		if (blocks) {
			emit(e, "\tif net ~ ");
			emit_set(e, w->blocks, w->n_blocks, af, "+");
			emit(e, " then reject;\n");
		}
		if (pools) {
			emit(e, "\tif source = RTS_INHERIT && net ~ ");
			emit_set(e, w->pools, w->n_pools, af, families[f].host);
			emit(e, " then accept;\n");
		}
	}
	emit(e, "\treject;\n}\n\n");
}

static void emit_kernel(struct emitter *e, const struct view *w, const char *name,
			const char *channel)
{
	emit(e,
	     "protocol kernel%s%s {\n"
	     "\t%s {\n"
	     "\t\timport all;\n"
	     "\t\texport filter tabby_kernel_export;\n"
	     "\t};\n"
	     "\tlearn;\n"
	     "\tpersist;\n"
	     "\tscan time %u;\n"
	     "\tgraceful restart;\n"
	     "\tmerge paths on;\n"
	     "}\n\n",
	     *name ? " " : "", name, channel, w->scan_s);
}

static void emit_static(struct emitter *e, const struct view *w, const char *name, int family)
{
	char buf[IP_PREFIX_STRLEN];

	if (count_family(w->blocks, w->n_blocks, family) == 0)
		return;
	emit(e, "protocol static %s {\n\t%s;\n", name, family == AF_INET ? "ipv4" : "ipv6");
	for (size_t i = 0; i < w->n_blocks; i++) {
		if (w->blocks[i].addr.family == family)
			emit(e, "\troute %s blackhole;\n", ip_prefix_format(&w->blocks[i], buf));
	}
	emit(e, "}\n\n");
}

static void emit_template(struct emitter *e, const struct view *w, int family)
{
	const struct bgp_model *m = w->m;
	char addr[IP_ADDR_STRLEN], port[16] = "";

	if (m->listen_port && m->listen_port != 179)
		snprintf(port, sizeof(port), " port %u", (unsigned)m->listen_port);
	if (family == AF_INET) {
		emit(e, "template bgp tabby_peer {\n\tlocal %s%s as %u;\n",
		     ip_addr_format(&w->local, addr), port, m->as_number);
	} else {
		/* No IPv6 source address in the model: the kernel picks it per neighbour. */
		emit(e, "template bgp tabby_peer6 {\n\tlocal%s as %u;\n", port, m->as_number);
	}
	/* Peers share the node's segment (lab recipe): single hop, next hop = the originator. */
	emit(e, "\tdirect;\n");
	if (m->hold_s)
		emit(e, "\thold time %u;\n", m->hold_s);
	if (m->keepalive_s)
		emit(e, "\tkeepalive time %u;\n", m->keepalive_s);
	if (m->fast_timers)
		emit(e, "\tconnect delay time 1;\n"
			"\tconnect retry time 5;\n"
			"\terror wait time 1, 10;\n");
	emit(e,
	     "\tgraceful restart;\n"
	     "\t%s {\n"
	     "\t\timport all;\n"
	     "\t\texport filter tabby_export_bgp;\n"
	     "\t\tgateway direct;\n"
	     "\t};\n"
	     "}\n\n",
	     family == AF_INET ? "ipv4" : "ipv6");
}

static void emit_peer(struct emitter *e, const struct view *w, const struct bgp_peer *p)
{
	const struct bgp_model *m = w->m;
	char name[64], addr[IP_ADDR_STRLEN], port[16] = "";

	if (m->listen_port && m->listen_port != 179)
		snprintf(port, sizeof(port), " port %u", (unsigned)m->listen_port);
	emit(e, "protocol bgp %s from %s {\n\tneighbor %s%s as %u;\n",
	     bird_conf_peer_name(p, name, sizeof(name)),
	     p->addr.family == AF_INET ? "tabby_peer" : "tabby_peer6",
	     ip_addr_format(&p->addr, addr), port, p->as_number);
	if (p->passive)
		emit(e, "\tpassive on;\n");
	if (p->rr_client) {
		emit(e, "\trr client;\n");
		if (m->rr_cluster_id)
			emit(e, "\trr cluster id %s;\n", m->rr_cluster_id);
	}
	emit(e, "}\n\n");
}

static void emit_all(struct emitter *e, const struct view *w)
{
	const struct bgp_model *m = w->m;
	char addr[IP_ADDR_STRLEN];

	emit(e, "# Generated by tabby-felix for node %s. Do not edit.\n\n",
	     m->node_name ? m->node_name : "(unset)");
	emit(e, "router id %s;\n", ip_addr_format(&m->router_id, addr));
	if (m->log_file)
		emit(e, "log \"%s\" all;\n\n", m->log_file);
	else
		emit(e, "log syslog all;\n\n");

	emit_kernel_filter(e, w);
	emit_bgp_filter(e, w);

	emit(e, "protocol device {\n\tscan time %u;\n}\n\n", w->scan_s);
	/* Connected routes are learned (next-hop resolution) but never exported: neither filter
	 * accepts RTS_DEVICE. */
	emit(e, "protocol direct {\n%s%s\tinterface -\"tby*\", \"*\";\n}\n\n",
	     w->has_v4 ? "\tipv4;\n" : "", w->has_v6 ? "\tipv6;\n" : "");
	if (w->has_v4)
		emit_kernel(e, w, "", "ipv4");
	if (w->has_v6)
		emit_kernel(e, w, "kernel6", "ipv6");
	emit_static(e, w, "tabby_blocks", AF_INET);
	emit_static(e, w, "tabby_blocks6", AF_INET6);

	if (w->v4_peers)
		emit_template(e, w, AF_INET);
	if (w->v6_peers)
		emit_template(e, w, AF_INET6);
	for (size_t i = 0; i < w->n_peers; i++)
		emit_peer(e, w, &w->peers[i]);
}

int bird_conf_render(const struct bgp_model *m, struct strbuf *out)
{
	_cleanup_free_ struct ip_prefix *pools = NULL, *blocks = NULL;
	_cleanup_free_ struct bgp_peer *peers = NULL;
	struct view w = {.m = m};
	struct emitter e = {.sb = out};
	size_t start = out->len;
	ssize_t n;
	int r;

	r = validate(m);
	if (r < 0)
		return r;

	w.local = m->local_addr.family ? m->local_addr : m->router_id;
	n = sorted_prefixes(m->pools, m->n_pools, &pools);
	if (n < 0)
		return (int)n;
	w.pools = pools;
	w.n_pools = (size_t)n;
	n = sorted_prefixes(m->blocks, m->n_blocks, &blocks);
	if (n < 0)
		return (int)n;
	w.blocks = blocks;
	w.n_blocks = (size_t)n;
	n = sorted_peers(m, &w.local, &peers);
	if (n < 0)
		return (int)n;
	w.peers = peers;
	w.n_peers = (size_t)n;

	for (size_t i = 0; i < w.n_peers; i++) {
		if (w.peers[i].addr.family == AF_INET)
			w.v4_peers = true;
		else
			w.v6_peers = true;
	}
	/* The router id is IPv4, so the IPv4 side always exists. */
	w.has_v4 = true;
	w.has_v6 = w.v6_peers || count_family(w.pools, w.n_pools, AF_INET6) > 0 ||
		   count_family(w.blocks, w.n_blocks, AF_INET6) > 0;
	w.scan_s = m->kernel_scan_s ? m->kernel_scan_s : BIRD_CONF_DEFAULT_SCAN_S;

	emit_all(&e, &w);
	if (e.err < 0) {
		/* Leave @out as it was. */
		out->len = start;
		if (out->buf)
			out->buf[start] = '\0';
		return e.err;
	}
	return 0;
}
