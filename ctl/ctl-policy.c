/* SPDX-License-Identifier: Apache-2.0 */
/*
 * DOC: tabbyctl selector test, tabbyctl policy explain
 *
 * `selector test` parses a selector with the same parser felix uses (acl/selector.h) and
 * evaluates it against the labels given on the command line.
 *
 * `policy explain NS/WORKLOAD` reads the whole policy state from the datastore (policies, tiers,
 * profiles, Kubernetes NetworkPolicies in their Calico form, workload and host endpoints,
 * namespaces, network sets, FelixConfiguration), builds the acl/ index, the endpoint's ruleset
 * and the set members the way felix does, and prints, per direction, the policies that apply in
 * evaluation order. With --from/--to it asks acl_explain() which rule decides a new connection,
 * which is the same IR the nftables and iptables renderers print.
 *
 * The resources go into felix's own cache (calc_cache_put()) and through felix's own pure
 * policy calculation (calc_policy_compute()) for the workload's node, so the index, the set
 * members and the ruleset are the ones tabby-felix on that host programs. When the other end of
 * a flow is an endpoint too, its side is computed the same way for its own node.
 */
#include <errno.h>
#include <getopt.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "acl/acl.h"
#include "acl/selector.h"
#include "ctl/ctl.h"
#include "felix/calc/calc.h"
#include "felix/calc/policy.h"
#include "model/model.h"

#define EXPLAIN_SOURCE_PORT 49152 /* first IANA dynamic port: the client side of a flow */

/* ---- selector test ---- */

int ctl_selector(int argc, char **argv)
{
	_cleanup_(sel_freep) struct sel *sel = NULL;
	struct model_labels labels = {};
	struct parse_err err = {};
	bool match;
	int r;

	if (argc >= 2 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
		puts("Usage: tabbyctl selector test 'EXPR' [key=value...]\n"
		     "Prints true (exit 0) when EXPR selects the labels, false (exit 1) when not;\n"
		     "exit 2 when EXPR does not parse or the arguments are wrong.");
		return 0;
	}
	if (argc < 3 || strcmp(argv[1], "test") != 0) {
		ctl_err("usage: tabbyctl selector test 'EXPR' [key=value...]");
		return 2;
	}
	r = sel_parse(argv[2], &sel, &err);
	if (r == -EINVAL) {
		fprintf(stderr, "tabbyctl: selector:1:%u: %s\n", err.column, err.msg);
		return 2;
	}
	if (r < 0) {
		ctl_err("%s", strerror(-r));
		return 2;
	}
	for (int i = 3; i < argc; i++) {
		_cleanup_free_ char *kv = strdup(argv[i]);
		char *eq = kv ? strchr(kv, '=') : NULL;

		if (!kv) {
			model_labels_done(&labels);
			ctl_err("out of memory");
			return 2;
		}
		if (!eq || eq == kv) {
			model_labels_done(&labels);
			ctl_err("\"%s\": labels are key=value", argv[i]);
			return 2;
		}
		*eq = '\0';
		r = model_labels_set(&labels, kv, eq + 1);
		if (r < 0) {
			model_labels_done(&labels);
			ctl_err("%s", strerror(-r));
			return 2;
		}
	}
	match = sel_match(sel, &labels);
	model_labels_done(&labels);
	puts(match ? "true" : "false");
	return match ? 0 : 1; /* grep's convention: 0 match, 1 none, 2 trouble */
}

/* ---- the cluster's policy state, read from the datastore into felix's cache ---- */

/* Every stored resource of @kind into @cache; values that do not decode are skipped with a
 * warning, as felix skips them. */
static int load_kind(struct ds_client *ds, enum model_kind kind, struct calc_cache *cache)
{
	_cleanup_strbuf_ struct strbuf prefix = {};
	struct ds_kvs kvs = {};
	int r;

	r = strbuf_printf(&prefix, MODEL_KEY_PREFIX "%s/", model_kind_plural(kind));
	if (r < 0)
		return r;
	r = ds_range_prefix(ds, strbuf_cstr(&prefix), 0, &kvs);
	if (r < 0)
		return ctl_ds_error(r);
	for (size_t i = 0; r >= 0 && i < kvs.n; i++) {
		struct parse_err err = {};
		char buf[1024];

		r = calc_cache_put(cache, kvs.items[i].key, kvs.items[i].value,
				   kvs.items[i].value_len, &err);
		if (r == -EINVAL) {
			fprintf(stderr, "tabbyctl: warning: %s: %s, ignoring\n", kvs.items[i].key,
				parse_err_format(&err, buf, sizeof(buf)));
			r = 0;
		}
	}
	ds_kvs_done(&kvs);
	if (r == -E2BIG)
		return ctl_err("more resources than felix's cache holds");
	return r < 0 ? r : 0;
}

static int cache_load(struct ds_client *ds, struct calc_cache *cache)
{
	static const enum model_kind kinds[] = {
	    MODEL_KIND_NETWORK_POLICY,
	    MODEL_KIND_GLOBAL_NETWORK_POLICY,
	    MODEL_KIND_K8S_NETWORK_POLICY,
	    MODEL_KIND_TIER,
	    MODEL_KIND_PROFILE,
	    MODEL_KIND_WORKLOAD_ENDPOINT,
	    MODEL_KIND_HOST_ENDPOINT,
	    MODEL_KIND_NAMESPACE,
	    MODEL_KIND_NETWORK_SET,
	    MODEL_KIND_GLOBAL_NETWORK_SET,
	    MODEL_KIND_FELIX_CONFIGURATION,
	};

	for (size_t i = 0; i < ELEMENTSOF(kinds); i++) {
		int r = load_kind(ds, kinds[i], cache);

		if (r < 0)
			return r;
	}
	return 0;
}

/* felix's policy state of @node: what tabby-felix on that host computes from the same data. */
static int compute_node(const struct calc_cache *cache, const char *node, struct calc_policy *ret)
{
	struct parse_err err = {};
	char buf[1024];
	int r;

	r = calc_policy_compute(cache, &(struct calc_policy_options){.node_name = node}, ret, &err);
	if (r == -EINVAL)
		return ctl_err("the stored policy state does not compile for node %s: %s", node,
			       parse_err_format(&err, buf, sizeof(buf)));
	if (r < 0)
		return ctl_err("computing the policy of node %s: %s", node, strerror(-r));
	return 0;
}

static const struct acl_ruleset *find_ruleset(const struct calc_policy *p, const char *name)
{
	for (size_t i = 0; i < p->n_rulesets; i++)
		if (strcmp(p->rulesets[i]->name, name) == 0)
			return p->rulesets[i];
	return NULL;
}

/* The workload endpoint NS/NAME, where NAME is the endpoint's name, its pod or its workload. */
struct find_wl {
	const char *ns, *name;
	const struct model_resource *exact, *found, *other;
};

static int find_wl_cb(const struct model_resource *res, void *userdata)
{
	struct find_wl *f = userdata;

	if (strcmp(res->meta.namespace, f->ns) != 0)
		return 0;
	if (strcmp(res->meta.name, f->name) == 0)
		f->exact = res; /* the exact endpoint name wins */
	else if ((res->wep.pod && strcmp(res->wep.pod, f->name) == 0) ||
		 (res->wep.workload && strcmp(res->wep.workload, f->name) == 0)) {
		if (f->found)
			f->other = res;
		else
			f->found = res;
	}
	return 0;
}

static int find_workload(const struct calc_cache *cache, const char *ns, const char *name,
			 const struct model_resource **ret)
{
	struct find_wl f = {.ns = ns, .name = name};
	int r = calc_cache_foreach(cache, MODEL_KIND_WORKLOAD_ENDPOINT, find_wl_cb, &f);

	if (r < 0)
		return r;
	if (f.exact) {
		*ret = f.exact;
		return 0;
	}
	if (f.other)
		return ctl_err("\"%s\" in namespace %s names several endpoints (%s, %s): give the "
			       "WorkloadEndpoint name",
			       name, ns, f.found->meta.name, f.other->meta.name);
	if (!f.found)
		return ctl_err("no WorkloadEndpoint or pod \"%s\" in namespace %s", name, ns);
	*ret = f.found;
	return 0;
}

/* The endpoint (workload or host endpoint) that owns an address. */
struct find_addr {
	const struct ip_addr *a;
	const struct model_resource *found;
};

static int find_addr_cb(const struct model_resource *res, void *userdata)
{
	struct find_addr *f = userdata;

	if (f->found)
		return 0;
	if (res->kind == MODEL_KIND_WORKLOAD_ENDPOINT) {
		for (size_t i = 0; i < res->wep.n_ip_networks; i++)
			if (ip_addr_equal(&res->wep.ip_networks[i].addr, f->a))
				f->found = res;
	} else {
		for (size_t i = 0; i < res->hep.n_expected_ips; i++)
			if (ip_addr_equal(&res->hep.expected_ips[i], f->a))
				f->found = res;
	}
	return 0;
}

static const struct model_resource *find_by_addr(const struct calc_cache *cache,
						 const struct ip_addr *a)
{
	struct find_addr f = {.a = a};

	if (calc_cache_foreach(cache, MODEL_KIND_WORKLOAD_ENDPOINT, find_addr_cb, &f) < 0 ||
	    calc_cache_foreach(cache, MODEL_KIND_HOST_ENDPOINT, find_addr_cb, &f) < 0)
		return NULL;
	return f.found;
}

/* "<namespace>/<name>" for a workload endpoint, the name for a host endpoint: the name of its
 * ruleset (struct acl_endpoint.name). */
static void endpoint_name(const struct model_resource *res, char *buf, size_t size)
{
	if (res->kind == MODEL_KIND_WORKLOAD_ENDPOINT)
		snprintf(buf, size, "%s/%s", res->meta.namespace, res->meta.name);
	else
		snprintf(buf, size, "%s", res->meta.name);
}

/* ---- printing ---- */

static const char *const reason_names[] = {
    [ACL_REASON_RULE] = "rule",
    [ACL_REASON_TIER_DEFAULT] = "tier-default",
    [ACL_REASON_NO_POLICY] = "no-policy",
    [ACL_REASON_PROFILES_END] = "profiles-end",
    [ACL_REASON_HOST_DEFAULT] = "host-default",
    [ACL_REASON_SPOOF] = "spoof",
    [ACL_REASON_PASSED_OUT] = "passed-out",
};

static const char *action_name(enum model_action a)
{
	switch (a) {
	case MODEL_ACTION_ALLOW:
		return "Allow";
	case MODEL_ACTION_DENY:
		return "Deny";
	case MODEL_ACTION_LOG:
		return "Log";
	case MODEL_ACTION_PASS:
		return "Pass";
	default:
		return "?";
	}
}

static const char *types_of(const struct acl_policy *p)
{
	if (p->types[ACL_DIR_INGRESS] && p->types[ACL_DIR_EGRESS])
		return "Ingress,Egress";
	return p->types[ACL_DIR_EGRESS] ? "Egress" : "Ingress";
}

static const char *end_text(const struct acl_ep_dir *d, char *buf, size_t size)
{
	size_t off;

	switch (d->end) {
	case ACL_END_ALLOW:
		return d->has_policy ? "past the last tier (only through Pass): allow"
				     : "no policy applies in this direction: allow";
	case ACL_END_DENY:
		return "host endpoint with no policy: deny";
	case ACL_END_PROFILES:
		off = (size_t)snprintf(buf, size, "%s", "then the profiles");
		for (size_t i = 0; i < d->n_profiles && off < size; i++)
			off += (size_t)snprintf(buf + off, size - off, "%s %s", i ? "," : "",
						d->profiles[i]->name);
		if (off < size)
			snprintf(buf + off, size - off, "; deny when none matches");
		return buf;
	}
	return "";
}

static void format_order(const struct acl_policy *p, char *buf, size_t size)
{
	if (p->has_order)
		snprintf(buf, size, "%.15g", p->order);
	else
		snprintf(buf, size, "-");
}

static int print_dir(const struct acl_ruleset *rs, enum acl_dir dir)
{
	const struct acl_ep_dir *d = &rs->dir[dir];
	struct ctl_table t;
	char buf[1024];
	int r;

	printf("%s (%s the workload), in evaluation order:\n",
	       dir == ACL_DIR_INGRESS ? "Ingress" : "Egress",
	       dir == ACL_DIR_INGRESS ? "to" : "from");
	if (d->has_policy) {
		r = ctl_table_init(
		    &t, (const char *const[]){"  TIER", "ORDER", "POLICY", "TYPES", NULL});
		for (size_t i = 0; r >= 0 && i < d->n_tiers; i++) {
			const struct acl_ep_tier *et = &d->tiers[i];
			char tier[256];

			snprintf(tier, sizeof(tier), "  %s", et->tier->name);
			for (size_t j = 0; r >= 0 && j < et->n_policies; j++) {
				char order[32];

				format_order(et->policies[j], order, sizeof(order));
				r = ctl_table_add(
				    &t, (const char *const[]){tier, order, et->policies[j]->name,
							      types_of(et->policies[j])});
			}
		}
		if (r >= 0)
			ctl_table_print(&t, false);
		ctl_table_done(&t);
		if (r < 0)
			return r;
		for (size_t i = 0; i < d->n_tiers; i++)
			printf("  no rule matched in tier %s: %s\n", d->tiers[i].tier->name,
			       d->tiers[i].tier->default_action == MODEL_ACTION_PASS
				   ? "pass to the next tier"
				   : "deny");
	}
	printf("  %s\n", end_text(d, buf, sizeof(buf)));
	return 0;
}

static void verdict_text(const struct acl_verdict *v, char *buf, size_t size)
{
	const char *dir = acl_dir_to_string(v->dir);

	switch (v->reason) {
	case ACL_REASON_RULE:
		if (v->policy->source == ACL_SOURCE_PROFILE)
			snprintf(buf, size, "%s rule %u (%s) of profile %s", dir, v->rule,
				 action_name(v->action), v->policy->name);
		else
			snprintf(buf, size, "%s rule %u (%s) of policy %s in tier %s", dir, v->rule,
				 action_name(v->action), v->policy->name, v->tier ? v->tier : "?");
		break;
	case ACL_REASON_TIER_DEFAULT:
		snprintf(buf, size, "end of tier %s: no rule of its policies matched", v->tier);
		break;
	case ACL_REASON_NO_POLICY:
		snprintf(buf, size, "no policy applies to the workload in the %s direction", dir);
		break;
	case ACL_REASON_PROFILES_END:
		snprintf(buf, size, "no rule of the endpoint's profiles matched");
		break;
	case ACL_REASON_HOST_DEFAULT:
		snprintf(buf, size, "host endpoint with no policy");
		break;
	case ACL_REASON_SPOOF:
		snprintf(buf, size, "the source address is not the workload's own");
		break;
	case ACL_REASON_PASSED_OUT:
		snprintf(buf, size, "passed out of the last tier with no profiles");
		break;
	}
}

/* ---- the flow ---- */

struct flow {
	bool set;
	enum acl_dir dir; /* of the explained workload */
	struct ip_addr peer;
	uint8_t proto;
	bool has_port;
	uint16_t port;
	uint16_t sport;
};

static int parse_proto(const char *s, uint8_t *ret)
{
	static const struct {
		const char *name;
		uint8_t n;
	} names[] = {{"tcp", 6}, {"udp", 17}, {"icmp", 1}, {"icmpv6", 58}, {"sctp", 132}};
	char *end;
	unsigned long v;

	for (size_t i = 0; i < ELEMENTSOF(names); i++)
		if (strcasecmp(s, names[i].name) == 0) {
			*ret = names[i].n;
			return 0;
		}
	v = strtoul(s, &end, 10);
	if (!*s || *end || v < 1 || v > 255)
		return ctl_err("invalid --proto \"%s\": tcp, udp, icmp, icmpv6, sctp or 1..255", s);
	*ret = (uint8_t)v;
	return 0;
}

static int parse_port(const char *opt, const char *s, uint16_t *ret)
{
	char *end;
	unsigned long v = strtoul(s, &end, 10);

	if (!*s || *end || v < 1 || v > 65535)
		return ctl_err("invalid %s \"%s\": 1..65535", opt, s);
	*ret = (uint16_t)v;
	return 0;
}

static bool proto_has_ports(uint8_t p)
{
	return p == 6 || p == 17 || p == 132 || p == 136;
}

static const char *proto_text(uint8_t p, char *buf, size_t size)
{
	switch (p) {
	case 6:
		return "tcp";
	case 17:
		return "udp";
	case 1:
		return "icmp";
	case 58:
		return "icmpv6";
	case 132:
		return "sctp";
	default:
		snprintf(buf, size, "%u", p);
		return buf;
	}
}

/* The packet of @f between the explained endpoint (at @self_addr) and @peer. */
static struct acl_packet make_packet(const struct flow *f, const struct ip_addr *self_addr,
				     const struct ip_addr *peer)
{
	struct acl_packet p = {.proto = f->proto, .icmp_type = -1, .icmp_code = -1};
	bool peer_is_client = f->dir == ACL_DIR_INGRESS; /* --from: the peer connects to us */

	if (peer_is_client) {
		p.src = *peer;
		p.dst = *self_addr;
	} else {
		p.src = *self_addr;
		p.dst = *peer;
	}
	if (proto_has_ports(f->proto)) {
		p.sport = f->sport;
		p.dport = f->port;
	} else if (f->proto == 1 || f->proto == 58) {
		p.icmp_type = f->proto == 1 ? 8 : 128; /* echo request */
		p.icmp_code = 0;
	}
	return p;
}

/* ---- JSON ---- */

static struct json_object *jstr(const char *s)
{
	return s ? json_object_new_string(s) : NULL;
}

static struct json_object *dir_json(const struct acl_ruleset *rs, enum acl_dir dir)
{
	const struct acl_ep_dir *d = &rs->dir[dir];
	struct json_object *o = json_object_new_object(), *pols = json_object_new_array(),
			   *tiers = json_object_new_array(), *profs = json_object_new_array();
	static const char *const ends[] = {
	    [ACL_END_ALLOW] = "allow", [ACL_END_PROFILES] = "profiles", [ACL_END_DENY] = "deny"};

	for (size_t i = 0; i < d->n_tiers; i++) {
		const struct acl_ep_tier *et = &d->tiers[i];
		struct json_object *t = json_object_new_object();

		json_object_object_add(t, "name", jstr(et->tier->name));
		json_object_object_add(t, "defaultAction",
				       jstr(action_name(et->tier->default_action)));
		json_object_array_add(tiers, t);
		for (size_t j = 0; j < et->n_policies; j++) {
			const struct acl_policy *p = et->policies[j];
			struct json_object *po = json_object_new_object(),
					   *types = json_object_new_array();

			json_object_object_add(po, "tier", jstr(et->tier->name));
			json_object_object_add(
			    po, "order", p->has_order ? json_object_new_double(p->order) : NULL);
			json_object_object_add(po, "name", jstr(p->name));
			if (p->types[ACL_DIR_INGRESS])
				json_object_array_add(types, jstr("Ingress"));
			if (p->types[ACL_DIR_EGRESS])
				json_object_array_add(types, jstr("Egress"));
			json_object_object_add(po, "types", types);
			json_object_array_add(pols, po);
		}
	}
	for (size_t i = 0; i < d->n_profiles; i++)
		json_object_array_add(profs, jstr(d->profiles[i]->name));
	json_object_object_add(o, "hasPolicy", json_object_new_boolean(d->has_policy));
	json_object_object_add(o, "policies", pols);
	json_object_object_add(o, "tiers", tiers);
	json_object_object_add(o, "end", jstr(ends[d->end]));
	json_object_object_add(o, "profiles", profs);
	return o;
}

static struct json_object *verdict_json(const struct acl_verdict *v, const char *endpoint)
{
	struct json_object *o = json_object_new_object();
	char text[1024];

	verdict_text(v, text, sizeof(text));
	json_object_object_add(o, "endpoint", jstr(endpoint));
	json_object_object_add(o, "direction", jstr(acl_dir_to_string(v->dir)));
	json_object_object_add(o, "action", jstr(action_name(v->action)));
	json_object_object_add(o, "reason", jstr(reason_names[v->reason]));
	json_object_object_add(o, "tier", jstr(v->tier));
	if (v->reason == ACL_REASON_RULE) {
		json_object_object_add(o, "policy", jstr(v->policy->name));
		json_object_object_add(
		    o, "profile", json_object_new_boolean(v->policy->source == ACL_SOURCE_PROFILE));
		json_object_object_add(o, "rule", json_object_new_int((int)v->rule));
	}
	json_object_object_add(o, "logged", json_object_new_int((int)v->n_logged));
	json_object_object_add(o, "text", jstr(text));
	return o;
}

static struct json_object *labels_json(const struct model_labels *l)
{
	struct json_object *o = json_object_new_object();

	for (size_t i = 0; i < l->n; i++)
		json_object_object_add(o, l->items[i].key, jstr(l->items[i].value));
	return o;
}

/* ---- policy explain ---- */

struct explain {
	struct calc_cache *cache;
	const struct model_resource *self_res; /* borrowed from the cache */
	char self_name[512];
	struct calc_policy pol; /* felix's state of the workload's node */
	const struct acl_ruleset *rs;
	struct flow flow;
	/* with a flow: */
	struct acl_packet pkt;
	struct acl_verdict v;
	const struct model_resource *peer_res; /* the other end, when it is an endpoint */
	char peer_name[512];
	struct calc_policy peer_pol; /* of the peer's node, when it differs */
	struct acl_verdict peer_v;
	bool peer_judged;
};

static void explain_done(struct explain *e)
{
	calc_policy_done(&e->peer_pol);
	calc_policy_done(&e->pol);
	calc_cache_free(e->cache);
}

static const struct ip_addr *addr_of_family(const struct acl_ruleset *rs, int family)
{
	for (size_t i = 0; i < rs->n_addrs; i++)
		if (rs->addrs[i].family == family)
			return &rs->addrs[i];
	return NULL;
}

static const char *res_node(const struct model_resource *res)
{
	return res->kind == MODEL_KIND_WORKLOAD_ENDPOINT ? res->wep.node : res->hep.node;
}

static int explain_flow(struct explain *e)
{
	const struct ip_addr *self_addr = addr_of_family(e->rs, e->flow.peer.family);
	const struct calc_policy *pp = &e->pol;
	const struct acl_ruleset *peer_rs;
	enum acl_dir peer_dir;
	int r;

	if (!self_addr) {
		char a[IP_ADDR_STRLEN];

		return ctl_err("%s has no IPv%c address to talk to %s", e->self_name,
			       e->flow.peer.family == AF_INET ? '4' : '6',
			       ip_addr_format(&e->flow.peer, a));
	}
	e->pkt = make_packet(&e->flow, self_addr, &e->flow.peer);
	r = acl_explain(e->pol.idx, e->pol.members, e->rs, e->flow.dir, &e->pkt, &e->v);
	if (r < 0)
		return ctl_err("explaining the flow: %s", strerror(-r));

	/* the other end, when it is an endpoint: its own host's policy sees the same packet */
	e->peer_res = find_by_addr(e->cache, &e->flow.peer);
	if (!e->peer_res || e->peer_res == e->self_res || !res_node(e->peer_res))
		return 0;
	endpoint_name(e->peer_res, e->peer_name, sizeof(e->peer_name));
	if (strcmp(res_node(e->peer_res), res_node(e->self_res)) != 0) {
		r = compute_node(e->cache, res_node(e->peer_res), &e->peer_pol);
		if (r < 0)
			return r;
		pp = &e->peer_pol;
	}
	peer_rs = find_ruleset(pp, e->peer_name);
	if (!peer_rs)
		return 0; /* not programmed on its host (no tby interface, no interfaceName) */
	peer_dir = e->flow.dir == ACL_DIR_INGRESS ? ACL_DIR_EGRESS : ACL_DIR_INGRESS;
	r = acl_explain(pp->idx, pp->members, peer_rs, peer_dir, &e->pkt, &e->peer_v);
	if (r < 0)
		return ctl_err("explaining the flow: %s", strerror(-r));
	e->peer_judged = true;
	return 0;
}

static void flow_text(const struct explain *e, char *buf, size_t size)
{
	char s[IP_ADDR_STRLEN], d[IP_ADDR_STRLEN], p[8];

	ip_addr_format(&e->pkt.src, s);
	ip_addr_format(&e->pkt.dst, d);
	if (proto_has_ports(e->pkt.proto))
		snprintf(buf, size, "%s %s:%u -> %s:%u", proto_text(e->pkt.proto, p, sizeof(p)), s,
			 e->pkt.sport, d, e->pkt.dport);
	else
		snprintf(buf, size, "%s %s -> %s", proto_text(e->pkt.proto, p, sizeof(p)), s, d);
}

static int print_explain_text(const struct explain *e)
{
	const struct model_resource *res = e->self_res;
	const struct model_labels *labels = &res->meta.labels;
	char buf[1024];
	size_t off = 0;
	int r;

	printf("Workload %s", e->self_name);
	if (res->wep.pod)
		printf(" (pod %s)", res->wep.pod);
	printf(" on node %s, interface %s\n", res->wep.node, res->wep.interface_name);
	buf[0] = '\0';
	for (size_t i = 0; i < e->rs->n_addrs && off < sizeof(buf); i++) {
		char a[IP_ADDR_STRLEN];

		off += (size_t)snprintf(buf + off, sizeof(buf) - off, "%s%s", i ? ", " : "",
					ip_addr_format(&e->rs->addrs[i], a));
	}
	printf("  addresses: %s\n", off ? buf : "(none)");
	off = 0;
	buf[0] = '\0';
	for (size_t i = 0; i < labels->n && off < sizeof(buf); i++)
		off += (size_t)snprintf(buf + off, sizeof(buf) - off, "%s%s=%s", i ? "," : "",
					labels->items[i].key, labels->items[i].value);
	printf("  labels: %s\n", off ? buf : "(none)");
	if (e->pol.has_dataplane)
		printf("  dataplane (FelixConfiguration): %s\n",
		       e->pol.dataplane == MODEL_DATAPLANE_IPTABLES ? "iptables" : "nftables");
	putchar('\n');
	for (int d = 0; d < _ACL_DIR_MAX; d++) {
		r = print_dir(e->rs, (enum acl_dir)d);
		if (r < 0)
			return r;
	}
	if (!e->flow.set)
		return 0;
	flow_text(e, buf, sizeof(buf));
	printf("\nFlow %s (a new connection; %s of %s)\n", buf, acl_dir_to_string(e->flow.dir),
	       e->self_name);
	verdict_text(&e->v, buf, sizeof(buf));
	printf("  verdict: %s\n  decided by: %s\n", action_name(e->v.action), buf);
	if (e->v.n_logged)
		printf("  logged by %u Log rule(s) on the way\n", e->v.n_logged);
	if (e->peer_judged) {
		verdict_text(&e->peer_v, buf, sizeof(buf));
		printf("  the other end, %s (%s): %s by %s\n", e->peer_name,
		       acl_dir_to_string(e->peer_v.dir), action_name(e->peer_v.action), buf);
		printf("  end to end: %s\n",
		       e->v.action == MODEL_ACTION_ALLOW && e->peer_v.action == MODEL_ACTION_ALLOW
			   ? "Allow"
			   : "Deny");
	}
	return 0;
}

static int print_explain_json(const struct explain *e)
{
	const struct model_resource *res = e->self_res;
	struct json_object *root = json_object_new_object(), *w = json_object_new_object(),
			   *addrs = json_object_new_array();
	char a[IP_ADDR_STRLEN], p[8];

	if (!root || !w || !addrs) {
		json_object_put(root);
		json_object_put(w);
		json_object_put(addrs);
		return -ENOMEM;
	}
	json_object_object_add(w, "namespace", jstr(res->meta.namespace));
	json_object_object_add(w, "name", jstr(res->meta.name));
	json_object_object_add(w, "pod", jstr(res->wep.pod));
	json_object_object_add(w, "node", jstr(res->wep.node));
	json_object_object_add(w, "interfaceName", jstr(res->wep.interface_name));
	for (size_t i = 0; i < e->rs->n_addrs; i++)
		json_object_array_add(addrs, jstr(ip_addr_format(&e->rs->addrs[i], a)));
	json_object_object_add(w, "addresses", addrs);
	json_object_object_add(w, "labels", labels_json(&res->meta.labels));
	json_object_object_add(root, "workload", w);
	if (e->pol.has_dataplane)
		json_object_object_add(
		    root, "dataplane",
		    jstr(e->pol.dataplane == MODEL_DATAPLANE_IPTABLES ? "iptables" : "nftables"));
	json_object_object_add(root, "ingress", dir_json(e->rs, ACL_DIR_INGRESS));
	json_object_object_add(root, "egress", dir_json(e->rs, ACL_DIR_EGRESS));
	if (e->flow.set) {
		struct json_object *f = json_object_new_object();

		json_object_object_add(f, "direction", jstr(acl_dir_to_string(e->flow.dir)));
		json_object_object_add(f, "protocol", jstr(proto_text(e->pkt.proto, p, sizeof(p))));
		json_object_object_add(f, "source", jstr(ip_addr_format(&e->pkt.src, a)));
		json_object_object_add(f, "destination", jstr(ip_addr_format(&e->pkt.dst, a)));
		if (proto_has_ports(e->pkt.proto)) {
			json_object_object_add(f, "sourcePort", json_object_new_int(e->pkt.sport));
			json_object_object_add(f, "destinationPort",
					       json_object_new_int(e->pkt.dport));
		}
		json_object_object_add(root, "flow", f);
		json_object_object_add(root, "verdict", verdict_json(&e->v, e->self_name));
		if (e->peer_judged) {
			json_object_object_add(root, "peerVerdict",
					       verdict_json(&e->peer_v, e->peer_name));
			json_object_object_add(root, "endToEnd",
					       jstr(e->v.action == MODEL_ACTION_ALLOW &&
							    e->peer_v.action == MODEL_ACTION_ALLOW
							? "Allow"
							: "Deny"));
		}
	}
	puts(json_object_to_json_string_ext(root, JSON_C_TO_STRING_PRETTY |
						      JSON_C_TO_STRING_SPACED |
						      JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(root);
	return 0;
}

/* Load, find the workload, compute its node's state and, with a flow, the verdicts. */
static int explain_run(struct explain *e, const char *ns, const char *name)
{
	_cleanup_(ds_client_freep) struct ds_client *ds = NULL;
	int r;

	r = ctl_ds_open(&ds);
	if (r < 0)
		return r;
	r = calc_cache_new(&e->cache);
	if (r < 0)
		return r;
	r = cache_load(ds, e->cache);
	if (r < 0)
		return r;
	r = find_workload(e->cache, ns, name, &e->self_res);
	if (r < 0)
		return r;
	endpoint_name(e->self_res, e->self_name, sizeof(e->self_name));
	r = compute_node(e->cache, e->self_res->wep.node, &e->pol);
	if (r < 0)
		return r;
	e->rs = find_ruleset(&e->pol, e->self_name);
	if (!e->rs)
		return ctl_err("%s is not programmed by felix on %s: its interfaceName \"%s\" is "
			       "not a tabby veth (tby...)",
			       e->self_name, e->self_res->wep.node,
			       e->self_res->wep.interface_name);
	if (e->flow.set)
		return explain_flow(e);
	return 0;
}

static int policy_explain(int argc, char **argv)
{
	static const struct option opts[] = {
	    CTL_GLOBAL_LONGOPTS,
	    {"namespace", required_argument, NULL, 'n'},
	    {"from", required_argument, NULL, 'F'},
	    {"to", required_argument, NULL, 'T'},
	    {"proto", required_argument, NULL, 'P'},
	    {"protocol", required_argument, NULL, 'P'},
	    {"port", required_argument, NULL, 'p'},
	    {"source-port", required_argument, NULL, 's'},
	    {"output", required_argument, NULL, 'o'},
	    {},
	};
	_cleanup_free_ char *target = NULL;
	struct explain e = {.flow = {.proto = 6, .sport = EXPLAIN_SOURCE_PORT}};
	const char *ns = NULL, *name, *slash;
	bool json = false, from = false, to = false;
	int c, r;

	while ((c = getopt_long(argc, argv, "n:o:", opts, NULL)) >= 0) {
		switch (c) {
		case 'n':
			ns = optarg;
			break;
		case 'F':
		case 'T':
			if (ip_addr_parse(optarg, &e.flow.peer) < 0)
				return ctl_err("invalid address \"%s\" for --%s", optarg,
					       c == 'F' ? "from" : "to");
			from |= c == 'F';
			to |= c == 'T';
			break;
		case 'P':
			r = parse_proto(optarg, &e.flow.proto);
			if (r < 0)
				return r;
			break;
		case 'p':
			r = parse_port("--port", optarg, &e.flow.port);
			if (r < 0)
				return r;
			e.flow.has_port = true;
			break;
		case 's':
			r = parse_port("--source-port", optarg, &e.flow.sport);
			if (r < 0)
				return r;
			break;
		case 'o':
			if (strcmp(optarg, "json") == 0)
				json = true;
			else if (strcmp(optarg, "text") != 0)
				return ctl_err("unknown output format \"%s\" (text, json)", optarg);
			break;
		case CTL_OPT_ENDPOINTS:
			arg_endpoints = optarg;
			break;
		default:
			return -EINVAL;
		}
	}
	if (argc - optind != 1)
		return ctl_err(
		    "usage: tabbyctl policy explain NAMESPACE/WORKLOAD [--from IP | --to "
		    "IP] [--proto tcp|udp|icmp|N] [--port N] [-o json]");
	if (from && to)
		return ctl_err("--from and --to exclude each other: the workload is one end of "
			       "the flow");
	e.flow.set = from || to;
	e.flow.dir = from ? ACL_DIR_INGRESS : ACL_DIR_EGRESS;
	if (e.flow.set && proto_has_ports(e.flow.proto) && !e.flow.has_port)
		return ctl_err("a %s flow needs --port", e.flow.proto == 6    ? "tcp"
							 : e.flow.proto == 17 ? "udp"
									      : "port-based");
	if (!e.flow.set && (e.flow.has_port))
		return ctl_err("--port needs --from or --to");
	slash = strchr(argv[optind], '/');
	if (slash) {
		target = strndup(argv[optind], (size_t)(slash - argv[optind]));
		if (!target)
			return -ENOMEM;
		if (ns && strcmp(ns, target) != 0)
			return ctl_err("-n %s contradicts %s", ns, argv[optind]);
		ns = target;
		name = slash + 1;
	} else {
		name = argv[optind];
		if (!ns)
			ns = "default";
	}
	if (!*ns || !*name)
		return ctl_err("usage: tabbyctl policy explain NAMESPACE/WORKLOAD");

	r = explain_run(&e, ns, name);
	if (r >= 0)
		r = json ? print_explain_json(&e) : print_explain_text(&e);
	explain_done(&e);
	return r;
}

int ctl_policy(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "explain") == 0)
		return policy_explain(argc - 1, argv + 1);
	return ctl_err("usage: tabbyctl policy explain NAMESPACE/WORKLOAD [--from IP | --to IP] "
		       "[--proto tcp|udp|icmp|N] [--port N] [-o json]");
}
