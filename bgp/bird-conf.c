/* SPDX-License-Identifier: Apache-2.0 */
/**
 * DOC: bird.conf renderer
 *
 * Turns a struct bgp_model into the text of a BIRD 2 configuration. The function is pure and
 * deterministic: pools, blocks and peers are sorted (on copies) and de-duplicated, nothing
 * depends on time or on the order of the input arrays, so felix can compare the bytes with the
 * live file and reload BIRD only when they differ (confd's sync()).
 *
 * Layout (BIRD 2.0 user guide, sections "Global options", "Filters", "Kernel", "Direct",
 * "Static", "BGP"; shape after Calico's confd bird.cfg.template):
 *   - router id, a bounded "graceful restart wait" (see bird_conf_render()), logging.
 *   - filter tabby_kernel_export: only routes learned over BGP (source = RTS_BGP) that lie in a
 *     pool reach the kernel. Kernel-learned routes are never exported back, so BIRD never echoes
 *     our own /32s nor installs anything outside the pools. Pools with vxlanMode Always are
 *     rejected first: felix routes them through vxlan.tabby (Calico's confd renders
 *     "reject; # VXLAN routes are handled by Felix" for them). Calico rejects CrossSubnet VXLAN
 *     pools too, because its felix also programs the same-subnet routes; tabby's felix leaves
 *     those to BGP (DESIGN.md "Host dataplane"), so a CrossSubnet pool stays accepted: its
 *     same-subnet next hops are direct, and cross-subnet ones are not ("gateway direct"), so
 *     BIRD never installs a route that competes with felix's VXLAN routes.
 *   - kernel protocol import: routes on vxlan.tabby are not learned (felix owns them; with
 *     `learn` they would otherwise enter BIRD's table as alien routes).
 *   - filter tabby_export_bgp: own blocks as aggregates; on a route reflector, routes learned
 *     over BGP inside the pools (reflected before the own-block rule below, so that a /32 that
 *     another node borrowed from one of our blocks still reaches the other clients); nothing
 *     else inside an own block (local workload /32s); host routes learned from the kernel
 *     (RTS_INHERIT) inside a pool and outside every own block (borrowed addresses); nothing else.
 *     Service ranges (static protocol "tabby_services") are accepted first, for every peer.
 *   - device, direct (not on workload interfaces "tby*"), kernel (learn alien routes, persist
 *     across BIRD restarts, graceful restart, ECMP), static blackholes for the own blocks, and
 *     static blackholes for the service ranges (Calico advertises BGPConfiguration
 *     serviceClusterIPs/serviceExternalIPs/serviceLoadBalancerIPs from every node, "Advertise
 *     Kubernetes service IP addresses"; like Calico's kernel filter, which rejects them, BIRD
 *     never installs them: they are RTS_STATIC, and the kernel filter takes only RTS_BGP routes
 *     inside a pool, so another node's service routes stay out of the kernel too).
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
#include <strings.h>
#include <sys/types.h>

#include "bgp/bird-conf.h"

/* Limits on what the datastore controls (STYLE.md section 3). */
#define BIRD_CONF_MAX_PEERS 4096
#define BIRD_CONF_MAX_PREFIXES 65536
#define BIRD_CONF_DEFAULT_SCAN_S 10
/* "graceful restart wait" (BIRD's default: 240 s). 120 s is the restart time BIRD advertises,
 * after which the peers drop our stale routes (RFC 4724 section 4.2): waiting longer for them
 * only delays new routes. The lab's sessions are up within 2 s (connect retry 5 s). */
#define BIRD_CONF_DEFAULT_GR_WAIT_S 120
#define BIRD_CONF_FAST_GR_WAIT_S 10
#define BIRD_CONF_MAX_GR_WAIT_S 3600

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
	if (p->port && p->port != 179) {
		size_t l = strlen(buf);

		snprintf(buf + l, size - l, "_port_%u", (unsigned)p->port);
	}
	return buf;
}

/* One decimal number of at most @max, the whole of [@s, @e). */
static int parse_u32(const char *s, const char *e, uint32_t max, uint32_t *ret)
{
	uint64_t v = 0;

	if (s == e || e - s > 10)
		return -EINVAL;
	for (const char *c = s; c < e; c++) {
		if (*c < '0' || *c > '9')
			return -EINVAL;
		v = v * 10 + (uint64_t)(*c - '0');
	}
	if (v > max)
		return -EINVAL;
	*ret = (uint32_t)v;
	return 0;
}

int bird_conf_community_parse(const char *s, struct bgp_community *ret)
{
	const char *c1, *c2, *end;
	struct bgp_community v = {0};

	if (!s)
		return -EINVAL;
	end = s + strlen(s);
	c1 = strchr(s, ':');
	if (!c1)
		return -EINVAL;
	c2 = strchr(c1 + 1, ':');
	if (!c2) {
		if (parse_u32(s, c1, 65535, &v.a) < 0 || parse_u32(c1 + 1, end, 65535, &v.b) < 0)
			return -EINVAL;
	} else {
		v.large = true;
		if (parse_u32(s, c1, UINT32_MAX, &v.a) < 0 ||
		    parse_u32(c1 + 1, c2, UINT32_MAX, &v.b) < 0 ||
		    parse_u32(c2 + 1, end, UINT32_MAX, &v.c) < 0)
			return -EINVAL;
	}
	*ret = v;
	return 0;
}

enum bgp_log_level bird_conf_log_level_from_string(const char *s)
{
	static const struct {
		const char *name;
		enum bgp_log_level level;
	} map[] = {
	    {"debug", BGP_LOG_DEBUG}, {"info", BGP_LOG_INFO},	{"warning", BGP_LOG_WARNING},
	    {"error", BGP_LOG_ERROR}, {"fatal", BGP_LOG_ERROR}, {"none", BGP_LOG_NONE},
	};

	if (!s)
		return BGP_LOG_INFO;
	for (size_t i = 0; i < ELEMENTSOF(map); i++) {
		if (strcasecmp(s, map[i].name) == 0)
			return map[i].level;
	}
	return _BGP_LOG_INVALID;
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
	if (m->keepalive_s > 65535 || m->kernel_scan_s > 86400 ||
	    m->gr_wait_s > BIRD_CONF_MAX_GR_WAIT_S)
		return -EINVAL;
	if (m->local_addr6.family != 0 && m->local_addr6.family != AF_INET6)
		return -EINVAL;
	if (m->log_level < 0 || m->log_level >= _BGP_LOG_MAX)
		return -EINVAL;
	if (m->n_ignored_ifaces > BIRD_CONF_MAX_PEERS ||
	    (m->n_ignored_ifaces && !m->ignored_ifaces))
		return -EINVAL;
	for (size_t i = 0; i < m->n_ignored_ifaces; i++) {
		const char *g = m->ignored_ifaces[i];

		if (!g || !*g || strlen(g) > 64 || !text_is_safe(g))
			return -EINVAL;
	}
	if (m->n_prefix_communities > BIRD_CONF_MAX_PREFIXES ||
	    (m->n_prefix_communities && !m->prefix_communities))
		return -EINVAL;
	for (size_t i = 0; i < m->n_prefix_communities; i++) {
		const struct bgp_prefix_communities *pc = &m->prefix_communities[i];

		if (!prefix_valid(&pc->cidr) || pc->n_communities > 64 ||
		    (pc->n_communities && !pc->communities))
			return -EINVAL;
		for (size_t k = 0; k < pc->n_communities; k++) {
			const struct bgp_community *c = &pc->communities[k];

			if (!c->large && (c->a > 65535 || c->b > 65535 || c->c))
				return -EINVAL;
		}
	}
	if (m->n_service_prefixes > BIRD_CONF_MAX_PREFIXES ||
	    (m->n_service_prefixes && !m->service_prefixes))
		return -EINVAL;
	for (size_t i = 0; i < m->n_service_prefixes; i++) {
		if (!prefix_valid(&m->service_prefixes[i]))
			return -EINVAL;
	}
	if (m->n_peers > BIRD_CONF_MAX_PEERS || m->n_pools > BIRD_CONF_MAX_PREFIXES ||
	    m->n_blocks > BIRD_CONF_MAX_PREFIXES)
		return -EINVAL;
	if ((m->n_peers && !m->peers) || (m->n_pools && !m->pools) || (m->n_blocks && !m->blocks))
		return -EINVAL;
	if (m->n_vxlan_pools > BIRD_CONF_MAX_PREFIXES || (m->n_vxlan_pools && !m->vxlan_pools))
		return -EINVAL;
	for (size_t i = 0; i < m->n_vxlan_pools; i++) {
		if (!prefix_valid(&m->vxlan_pools[i]) || m->vxlan_pools[i].addr.family != AF_INET)
			return -EINVAL;
	}
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
		if (p->rr_client && p->as_number != (p->local_as ? p->local_as : m->as_number))
			return -EINVAL;
		if (p->password_file && !p->password)
			return -EINVAL;
		if (p->password &&
		    (!*p->password || strlen(p->password) > 80 || !text_is_safe(p->password)))
			return -EINVAL;
		if ((p->hold_s && (p->hold_s < 3 || p->hold_s > 65535)) || p->keepalive_s > 65535 ||
		    p->gr_time_s > 65535)
			return -EINVAL;
		if (p->next_hop < 0 || p->next_hop >= _BGP_NEXT_HOP_MAX)
			return -EINVAL;
		/* BFD intervals: RFC 5880 section 6.8.7 (microseconds in 32 bits); BIRD caps the
		 * multiplier at 255. */
		if (p->bfd_interval_ms > 4294967 || p->bfd_multiplier > 255)
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
	if (x->port != y->port)
		return x->port < y->port ? -1 : 1;
	if (x->as_number != y->as_number)
		return x->as_number < y->as_number ? -1 : 1;
	if (x->passive != y->passive)
		return x->passive ? 1 : -1;
	if (x->rr_client != y->rr_client)
		return x->rr_client ? 1 : -1;
	return 0;
}

/* Prefix advertisements by prefix, then by their community lists (stable output for any input
 * order). */
static int pc_qsort_cmp(const void *a, const void *b)
{
	const struct bgp_prefix_communities *x = a, *y = b;
	int r = ip_prefix_cmp(&x->cidr, &y->cidr);

	if (r != 0)
		return r;
	if (x->n_communities != y->n_communities)
		return x->n_communities < y->n_communities ? -1 : 1;
	for (size_t i = 0; i < x->n_communities; i++) {
		const struct bgp_community *p = &x->communities[i], *q = &y->communities[i];

		if (p->large != q->large)
			return p->large ? 1 : -1;
		if (p->a != q->a)
			return p->a < q->a ? -1 : 1;
		if (p->b != q->b)
			return p->b < q->b ? -1 : 1;
		if (p->c != q->c)
			return p->c < q->c ? -1 : 1;
	}
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
	for (size_t i = 0; i < m->n_peers; i++) {
		if (v[i].port == 179)
			v[i].port = 0;
	}
	qsort(v, m->n_peers, sizeof(*v), peer_qsort_cmp);
	for (size_t i = 0; i < m->n_peers; i++) {
		if (ip_addr_equal(&v[i].addr, local) ||
		    (m->local_addr6.family && ip_addr_equal(&v[i].addr, &m->local_addr6)))
			continue;
		if (k > 0 && ip_addr_equal(&v[k - 1].addr, &v[i].addr) &&
		    v[k - 1].type == v[i].type && v[k - 1].port == v[i].port)
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

/* Peer templates: per address family, with or without the node's address as session source. */
enum template_id {
	TEMPLATE_V4,
	TEMPLATE_V6,
	TEMPLATE_V4_NOSRC,
	TEMPLATE_V6_NOSRC,
	_TEMPLATE_MAX,
};

static const char *const template_name[_TEMPLATE_MAX] = {
    [TEMPLATE_V4] = "tabby_peer",
    [TEMPLATE_V6] = "tabby_peer6",
    [TEMPLATE_V4_NOSRC] = "tabby_peer_nosrc",
    [TEMPLATE_V6_NOSRC] = "tabby_peer6_nosrc",
};

/* The parts of the model, sorted, for one render pass. */
struct view {
	const struct bgp_model *m;
	struct ip_addr local;
	struct ip_prefix *pools, *blocks, *services, *vxlan_pools;
	size_t n_pools, n_blocks, n_services, n_vxlan_pools;
	struct bgp_peer *peers;
	size_t n_peers;
	struct bgp_prefix_communities *pcs;
	size_t n_pcs;
	bool has_v4, has_v6, bfd;
	bool templates[_TEMPLATE_MAX]; /* which templates some peer uses */
	unsigned scan_s;
	unsigned gr_wait_s; /* rendered "graceful restart wait" */
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
	if (w->n_vxlan_pools) {
		emit(e, "\tif net ~ ");
		emit_set(e, w->vxlan_pools, w->n_vxlan_pools, AF_INET, "+");
		emit(e, " then reject; # VXLAN routes are handled by felix\n");
	}
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
	for (size_t i = 0; i < w->n_pcs; i++) {
		const struct bgp_prefix_communities *pc = &w->pcs[i];

		if (pc->n_communities == 0)
			continue;
		emit(e, "\tif net ~ ");
		emit_set(e, &pc->cidr, 1, pc->cidr.addr.family, "+");
		emit(e, " then {");
		for (size_t k = 0; k < pc->n_communities; k++) {
			const struct bgp_community *c = &pc->communities[k];

			if (c->large)
				emit(e, " bgp_large_community.add((%u, %u, %u));", c->a, c->b,
				     c->c);
			else
				emit(e, " bgp_community.add((%u, %u));", c->a, c->b);
		}
		emit(e, " }\n");
	}
	if (count_family(w->services, w->n_services, AF_INET))
		emit(e, "\tif proto = \"tabby_services\" then accept;\n");
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
	     "\t\t# felix's VXLAN routes are neither learned nor exported (its device)\n"
	     "\t\timport where ifname != \"vxlan.tabby\";\n"
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

static void emit_static(struct emitter *e, const char *name, const struct ip_prefix *v, size_t n,
			int family)
{
	char buf[IP_PREFIX_STRLEN];

	if (count_family(v, n, family) == 0)
		return;
	emit(e, "protocol static %s {\n\t%s;\n", name, family == AF_INET ? "ipv4" : "ipv6");
	for (size_t i = 0; i < n; i++) {
		if (v[i].addr.family == family)
			emit(e, "\troute %s blackhole;\n", ip_prefix_format(&v[i], buf));
	}
	emit(e, "}\n\n");
}

static enum template_id peer_template(const struct view *w, const struct bgp_peer *p)
{
	if (p->addr.family == AF_INET)
		return p->no_source_addr ? TEMPLATE_V4_NOSRC : TEMPLATE_V4;
	/* Without an IPv6 node address, tabby_peer6 already lets the kernel pick. */
	if (!w->m->local_addr6.family)
		return TEMPLATE_V6;
	return p->no_source_addr ? TEMPLATE_V6_NOSRC : TEMPLATE_V6;
}

static void emit_template(struct emitter *e, const struct view *w, enum template_id t)
{
	const struct bgp_model *m = w->m;
	char addr[IP_ADDR_STRLEN], port[16] = "";
	const struct ip_addr *src = NULL;
	bool v4 = t == TEMPLATE_V4 || t == TEMPLATE_V4_NOSRC;

	if (m->listen_port && m->listen_port != 179)
		snprintf(port, sizeof(port), " port %u", (unsigned)m->listen_port);
	if (t == TEMPLATE_V4)
		src = &w->local;
	else if (t == TEMPLATE_V6 && m->local_addr6.family)
		src = &m->local_addr6;
	if (src)
		emit(e, "template bgp %s {\n\tlocal %s%s as %u;\n", template_name[t],
		     ip_addr_format(src, addr), port, m->as_number);
	else
		/* No source address: the kernel picks it per neighbour. */
		emit(e, "template bgp %s {\n\tlocal%s as %u;\n", template_name[t], port,
		     m->as_number);
	/* Peers share the node's segment (lab recipe): single hop, next hop = the originator. */
	emit(e, "\tdirect;\n");
	if (src && m->strict_bind)
		emit(e, "\tstrict bind on;\n");
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
	     v4 ? "ipv4" : "ipv6");
}

static void emit_peer(struct emitter *e, const struct view *w, const struct bgp_peer *p)
{
	const struct bgp_model *m = w->m;
	char name[96], addr[IP_ADDR_STRLEN], port[16] = "";
	uint16_t pport = p->port ? p->port : (p->type == BGP_PEER_MESH ? m->listen_port : 0);

	if (pport && pport != 179)
		snprintf(port, sizeof(port), " port %u", (unsigned)pport);
	emit(e, "protocol bgp %s from %s {\n\tneighbor %s%s as %u;\n",
	     bird_conf_peer_name(p, name, sizeof(name)), template_name[peer_template(w, p)],
	     ip_addr_format(&p->addr, addr), port, p->as_number);
	/* Calico BGPPeer localASNumber; "local as" keeps the template's source address. */
	if (p->local_as && p->local_as != m->as_number)
		emit(e, "\tlocal as %u;\n", p->local_as);
	if (p->passive)
		emit(e, "\tpassive on;\n");
	if (p->rr_client) {
		emit(e, "\trr client;\n");
		if (m->rr_cluster_id)
			emit(e, "\trr cluster id %s;\n", m->rr_cluster_id);
	}
	if (p->password)
		emit(e, "\tpassword \"%s\";\n", p->password);
	if (p->hold_s)
		emit(e, "\thold time %u;\n", p->hold_s);
	if (p->keepalive_s)
		emit(e, "\tkeepalive time %u;\n", p->keepalive_s);
	if (p->gr_time_s)
		emit(e, "\tgraceful restart time %u;\n", p->gr_time_s);
	if (p->ttl_security) {
		emit(e, "\tttl security on;\n");
		if (p->ttl_security > 1)
			emit(e, "\tmultihop %u;\n", (unsigned)p->ttl_security);
	}
	if (p->allow_local_as)
		emit(e, "\tallow local as %u;\n", (unsigned)p->allow_local_as);
	if (p->bfd) {
		if (!p->bfd_interval_ms && !p->bfd_multiplier) {
			emit(e, "\tbfd on;\n");
		} else {
			emit(e, "\tbfd {");
			if (p->bfd_interval_ms)
				emit(e, " interval %u ms;", p->bfd_interval_ms);
			if (p->bfd_multiplier)
				emit(e, " multiplier %u;", p->bfd_multiplier);
			emit(e, " };\n");
		}
	}
	/* Channel options merge into the template's channel (BIRD 2 "Channels"). Beyond one hop
	 * the next hop is not on a shared segment: resolve it recursively. */
	if (p->next_hop != BGP_NEXT_HOP_AUTO || p->ttl_security > 1) {
		emit(e, "\t%s {", p->addr.family == AF_INET ? "ipv4" : "ipv6");
		if (p->next_hop == BGP_NEXT_HOP_SELF)
			emit(e, " next hop self;");
		else if (p->next_hop == BGP_NEXT_HOP_KEEP)
			emit(e, " next hop keep;");
		if (p->ttl_security > 1)
			emit(e, " gateway recursive;");
		emit(e, " };\n");
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
	/* Bounds the recovery of a BIRD started with -R: it exports to the kernel only once every
	 * peer sent End-of-RIB or this many seconds passed (BIRD 2 "Global options"). */
	emit(e, "graceful restart wait %u;\n", w->gr_wait_s);
	if (m->log_level != BGP_LOG_NONE) {
		static const char *const classes[_BGP_LOG_MAX] = {
		    [BGP_LOG_INFO] = "all",
		    [BGP_LOG_DEBUG] = "all",
		    [BGP_LOG_WARNING] = "{ warning, error, auth, fatal, bug }",
		    [BGP_LOG_ERROR] = "{ error, fatal, bug }",
		};

		if (m->log_file)
			emit(e, "log \"%s\" %s;\n", m->log_file, classes[m->log_level]);
		else
			emit(e, "log syslog %s;\n", classes[m->log_level]);
	}
	if (m->log_level == BGP_LOG_DEBUG)
		emit(e, "debug protocols all;\n");
	emit(e, "\n");

	emit_kernel_filter(e, w);
	emit_bgp_filter(e, w);

	emit(e, "protocol device {\n\tscan time %u;\n}\n\n", w->scan_s);
	/* Connected routes are learned (next-hop resolution) but never exported: neither filter
	 * accepts RTS_DEVICE. */
	emit(e, "protocol direct {\n%s%s\tinterface -\"tby*\", -\"vxlan.tabby\", ",
	     w->has_v4 ? "\tipv4;\n" : "", w->has_v6 ? "\tipv6;\n" : "");
	for (size_t i = 0; i < m->n_ignored_ifaces; i++)
		emit(e, "-\"%s\", ", m->ignored_ifaces[i]);
	emit(e, "\"*\";\n}\n\n");
	if (w->has_v4)
		emit_kernel(e, w, "", "ipv4");
	if (w->has_v6)
		emit_kernel(e, w, "kernel6", "ipv6");
	emit_static(e, "tabby_blocks", w->blocks, w->n_blocks, AF_INET);
	emit_static(e, "tabby_blocks6", w->blocks, w->n_blocks, AF_INET6);
	/* Service ranges: IPv4 only for now (see struct bgp_model). */
	emit_static(e, "tabby_services", w->services, w->n_services, AF_INET);

	/* One BFD instance serves every session that asks for it (BIRD "BFD"). */
	if (w->bfd)
		emit(e, "protocol bfd tabby_bfd {\n}\n\n");
	for (int t = 0; t < _TEMPLATE_MAX; t++) {
		if (w->templates[t])
			emit_template(e, w, (enum template_id)t);
	}
	for (size_t i = 0; i < w->n_peers; i++)
		emit_peer(e, w, &w->peers[i]);
}

int bird_conf_render(const struct bgp_model *m, struct strbuf *out)
{
	_cleanup_free_ struct ip_prefix *pools = NULL, *blocks = NULL, *services = NULL,
					*vxlan_pools = NULL;
	_cleanup_free_ struct bgp_peer *peers = NULL;
	_cleanup_free_ struct bgp_prefix_communities *pcs = NULL;
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
	n = sorted_prefixes(m->service_prefixes, m->n_service_prefixes, &services);
	if (n < 0)
		return (int)n;
	w.services = services;
	w.n_services = (size_t)n;
	n = sorted_prefixes(m->vxlan_pools, m->n_vxlan_pools, &vxlan_pools);
	if (n < 0)
		return (int)n;
	w.vxlan_pools = vxlan_pools;
	w.n_vxlan_pools = (size_t)n;
	n = sorted_peers(m, &w.local, &peers);
	if (n < 0)
		return (int)n;
	w.peers = peers;
	w.n_peers = (size_t)n;

	bool v6_peers = false;
	for (size_t i = 0; i < w.n_peers; i++) {
		w.templates[peer_template(&w, &w.peers[i])] = true;
		if (w.peers[i].addr.family == AF_INET6)
			v6_peers = true;
		if (w.peers[i].bfd)
			w.bfd = true;
	}
	if (m->n_prefix_communities) {
		pcs = malloc(m->n_prefix_communities * sizeof(*pcs));
		if (!pcs)
			return -ENOMEM;
		memcpy(pcs, m->prefix_communities, m->n_prefix_communities * sizeof(*pcs));
		qsort(pcs, m->n_prefix_communities, sizeof(*pcs), pc_qsort_cmp);
		w.pcs = pcs;
		w.n_pcs = m->n_prefix_communities;
	}
	/* The router id is IPv4, so the IPv4 side always exists. */
	w.has_v4 = true;
	w.has_v6 = v6_peers || count_family(w.pools, w.n_pools, AF_INET6) > 0 ||
		   count_family(w.blocks, w.n_blocks, AF_INET6) > 0;
	w.scan_s = m->kernel_scan_s ? m->kernel_scan_s : BIRD_CONF_DEFAULT_SCAN_S;
	if (m->gr_wait_s)
		w.gr_wait_s = m->gr_wait_s;
	else
		w.gr_wait_s =
		    m->fast_timers ? BIRD_CONF_FAST_GR_WAIT_S : BIRD_CONF_DEFAULT_GR_WAIT_S;

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
