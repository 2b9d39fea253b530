/* SPDX-License-Identifier: Apache-2.0 */
/*
 * DOC: felix policy calculation (pure): calc cache -> acl inputs for this host.
 *
 * One pass over the cache per kind (calc_cache_foreach(), key order, so every output is
 * deterministic): policies (Kubernetes NetworkPolicies translated to their Calico form, as
 * Calico's converter does), tiers and profiles go into acl_index_new(); every endpoint of the
 * cluster and every network set into acl_set_members(); the local endpoints into acl_compile().
 * Namespace labels reach selectors as "pcns.<key>" through struct acl_endpoint's
 * namespace_labels (Calico's namespace profile labels). FelixConfiguration "node.<name>"
 * overrides "default" field by field (Calico's per-node FelixConfiguration).
 *
 * Nothing is kept between calls (STYLE.md 5.3): the dataplane drivers diff what they render.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "felix/calc/policy-internal.h"
#include "felix/calc/policy.h"
#include "lib/array.h"

static int ptrs_add(struct ptrs *p, const struct model_resource *r)
{
	if (p->n == p->cap) {
		size_t nc = p->cap ? p->cap * 2 : 16;
		const struct model_resource **nv = reallocarray(p->v, nc, sizeof(*nv));
		if (!nv) {
			return -ENOMEM;
		}
		p->v = nv;
		p->cap = nc;
	}
	p->v[p->n++] = r;
	return 0;
}

static int collect_cb(const struct model_resource *res, void *userdata)
{
	return ptrs_add(userdata, res);
}

static int collect(const struct calc_cache *c, enum model_kind kind, struct ptrs *p)
{
	return calc_cache_foreach(c, kind, collect_cb, p);
}

const struct model_labels *calc_policy_ns_labels(const struct ptrs *nss, const char *ns)
{
	size_t lo = 0, hi = nss->n;

	if (!ns) {
		return NULL;
	}
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int d = strcmp(nss->v[mid]->meta.name, ns);
		if (d == 0) {
			return &nss->v[mid]->meta.labels;
		}
		if (d < 0) {
			lo = mid + 1;
		} else {
			hi = mid;
		}
	}
	return NULL;
}

/* What the renderers accept as an interface name (acl render-common.c acl_ifname_ok(), which
 * acl.h does not export): 1..15 of [A-Za-z0-9_.-]. The model is more lenient (it only refuses
 * "/: \t\n"), so check here and name the resource instead of failing the whole render. */
static bool render_ifname_ok(const char *s)
{
	size_t n = s ? strlen(s) : 0;
	if (n == 0 || n > 15) {
		return false;
	}
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '.' || c == '-')) {
			return false;
		}
	}
	return true;
}

static bool local_ifname_ok(const char *s)
{
	size_t n = s ? strlen(s) : 0;
	return n > 3 && n < 16 && strncmp(s, "tby", 3) == 0 && !strchr(s, '/');
}

/* Field-wise merge of FelixConfiguration "default" and "node.<name>" into @ret (borrowed). */
static void merge_felix(const struct ptrs *fcs, const char *node,
			struct model_felix_configuration *ret, const char **ret_name)
{
	const struct model_felix_configuration *def = NULL, *mine = NULL;
	char want[300];

	snprintf(want, sizeof(want), "node.%s", node);
	for (size_t i = 0; i < fcs->n; i++) {
		if (strcmp(fcs->v[i]->meta.name, "default") == 0) {
			def = &fcs->v[i]->felixconfig;
		} else if (strcmp(fcs->v[i]->meta.name, want) == 0) {
			mine = &fcs->v[i]->felixconfig;
			*ret_name = fcs->v[i]->meta.name;
		}
	}
	*ret = (struct model_felix_configuration){0};
	for (int k = 0; k < 2; k++) {
		const struct model_felix_configuration *f = k == 0 ? def : mine;
		if (!f) {
			continue;
		}
		if (f->default_endpoint_to_host_action) {
			ret->default_endpoint_to_host_action = f->default_endpoint_to_host_action;
		}
		if (f->has_failsafe_inbound) {
			ret->has_failsafe_inbound = true;
			ret->failsafe_inbound = f->failsafe_inbound;
			ret->n_failsafe_inbound = f->n_failsafe_inbound;
		}
		if (f->has_failsafe_outbound) {
			ret->has_failsafe_outbound = true;
			ret->failsafe_outbound = f->failsafe_outbound;
			ret->n_failsafe_outbound = f->n_failsafe_outbound;
		}
		if (f->has_dataplane) {
			ret->has_dataplane = true;
			ret->dataplane = f->dataplane;
		}
	}
}

bool calc_policy_dataplane_of(const struct calc_cache *c, const char *node,
			      enum model_dataplane *ret)
{
	char key[512];
	bool found = false;

	/* merge_felix()'s order: the node's own configuration wins */
	for (int k = 0; k < 2; k++) {
		if (k == 0) {
			snprintf(key, sizeof(key), "%sfelixconfigurations/default",
				 MODEL_KEY_PREFIX);
		} else if ((size_t)snprintf(key, sizeof(key), "%sfelixconfigurations/node.%s",
					    MODEL_KEY_PREFIX, node) >= sizeof(key)) {
			break;
		}
		const struct model_resource *res = calc_cache_get(c, key);
		if (res && res->kind == MODEL_KIND_FELIX_CONFIGURATION &&
		    res->felixconfig.has_dataplane) {
			*ret = res->felixconfig.dataplane;
			found = true;
		}
	}
	return found;
}

void calc_policy_work_done(struct work *w)
{
	struct ptrs *all[] = {&w->pols, &w->knps, &w->tiers, &w->profiles, &w->nss,
			      &w->weps, &w->heps, &w->nsets, &w->gnsets,   &w->fcs};
	for (size_t i = 0; i < ELEMENTSOF(all); i++) {
		free(all[i]->v);
	}
	for (size_t i = 0; i < w->n_names; i++) {
		free(w->names[i]);
	}
	free(w->names);
	free(w->eps);
	free(w->addrs);
	free(w->netsets);
	for (size_t i = 0; i < w->n_translated; i++) {
		model_resource_free(w->translated[i]);
	}
	free(w->translated);
	free(w->allpols);
	free(w->unchanged);
}

int calc_policy_endpoint(const struct model_resource *r, const char *node,
			 const struct model_labels *nsl, char **ret_name, struct ip_addr *addrs,
			 struct acl_endpoint *ret, struct parse_err *err)
{
	size_t k = 0;

	if (r->kind == MODEL_KIND_WORKLOAD_ENDPOINT) {
		const struct model_workload_endpoint *we = &r->wep;
		char *name;

		if (asprintf(&name, "%s/%s", r->meta.namespace, r->meta.name) < 0) {
			return -ENOMEM;
		}
		*ret_name = name;
		*ret = (struct acl_endpoint){
		    .name = name,
		    .namespace = r->meta.namespace,
		    .labels = &r->meta.labels,
		    .namespace_labels = nsl,
		    .orchestrator = we->orchestrator,
		    .addrs = addrs,
		    .n_addrs = we->n_ip_networks,
		    .ports = we->ports,
		    .n_ports = we->n_ports,
		    .profiles = we->profiles,
		    .n_profiles = we->n_profiles,
		};
		if (we->node && strcmp(we->node, node) == 0 &&
		    local_ifname_ok(we->interface_name)) {
			ret->ifname = we->interface_name;
		}
		for (size_t j = 0; j < we->n_ip_networks; j++) {
			addrs[k++] = we->ip_networks[j].addr;
		}
		return 0;
	}
	const struct model_host_endpoint *he = &r->hep;

	*ret_name = NULL;
	*ret = (struct acl_endpoint){
	    .name = r->meta.name,
	    .labels = &r->meta.labels,
	    .addrs = addrs,
	    .n_addrs = he->n_expected_ips,
	    .ports = he->ports,
	    .n_ports = he->n_ports,
	    .profiles = he->profiles,
	    .n_profiles = he->n_profiles,
	    .host = true,
	};
	if (he->node && strcmp(he->node, node) == 0 && he->interface_name) {
		if (strcmp(he->interface_name, "*") != 0 && !render_ifname_ok(he->interface_name)) {
			return parse_err_set(err, "", 0, 0, "",
					     "HostEndpoint %s: spec.interfaceName \"%s\" "
					     "cannot be rendered (1..15 of A-Z a-z 0-9 _ . -)",
					     r->meta.name, he->interface_name);
		}
		ret->ifname = he->interface_name;
	}
	for (size_t j = 0; j < he->n_expected_ips; j++) {
		addrs[k++] = he->expected_ips[j];
	}
	return 0;
}

size_t calc_policy_endpoint_n_addrs(const struct model_resource *r)
{
	return r->kind == MODEL_KIND_WORKLOAD_ENDPOINT ? r->wep.n_ip_networks
						       : r->hep.n_expected_ips;
}

static int build_endpoints(struct work *w, const char *node)
{
	size_t n_addr = 0, k = 0;

	for (size_t i = 0; i < w->weps.n; i++) {
		n_addr += w->weps.v[i]->wep.n_ip_networks;
	}
	for (size_t i = 0; i < w->heps.n; i++) {
		n_addr += w->heps.v[i]->hep.n_expected_ips;
	}
	w->eps = calloc(w->weps.n + w->heps.n + 1, sizeof(*w->eps));
	w->names = calloc(w->weps.n + 1, sizeof(*w->names));
	w->addrs = calloc(n_addr + 1, sizeof(*w->addrs));
	if (!w->eps || !w->names || !w->addrs) {
		return -ENOMEM;
	}
	for (int h = 0; h < 2; h++) {
		const struct ptrs *p = h == 0 ? &w->weps : &w->heps;
		for (size_t i = 0; i < p->n; i++) {
			const struct model_resource *r = p->v[i];
			char *name = NULL;
			int q = calc_policy_endpoint(
			    r, node,
			    h == 0 ? calc_policy_ns_labels(&w->nss, r->meta.namespace) : NULL,
			    &name, &w->addrs[k], &w->eps[w->n_eps], w->err);
			if (name) {
				w->names[w->n_names++] = name;
			}
			if (q < 0) {
				return q;
			}
			k += w->eps[w->n_eps++].n_addrs;
		}
	}
	return 0;
}

static int build_netsets(struct work *w)
{
	w->netsets = calloc(w->nsets.n + w->gnsets.n + 1, sizeof(*w->netsets));
	if (!w->netsets) {
		return -ENOMEM;
	}
	for (int g = 0; g < 2; g++) {
		const struct ptrs *p = g == 0 ? &w->nsets : &w->gnsets;
		for (size_t i = 0; i < p->n; i++) {
			const struct model_resource *r = p->v[i];
			w->netsets[w->n_netsets++] = (struct acl_netset){
			    .namespace = g == 0 ? r->meta.namespace : NULL,
			    .labels = &r->meta.labels,
			    .namespace_labels =
				g == 0 ? calc_policy_ns_labels(&w->nss, r->meta.namespace) : NULL,
			    .nets = r->netset.nets,
			    .n_nets = r->netset.n_nets,
			};
		}
	}
	return 0;
}

static int build_policies(struct work *w)
{
	size_t n = w->pols.n + w->knps.n;

	w->translated = calloc(w->knps.n + 1, sizeof(*w->translated));
	w->allpols = calloc(n + 1, sizeof(*w->allpols));
	if (!w->translated || !w->allpols) {
		return -ENOMEM;
	}
	for (size_t i = 0; i < w->pols.n; i++) {
		w->allpols[i] = w->pols.v[i];
	}
	for (size_t i = 0; i < w->knps.n; i++) {
		int r = model_k8s_policy_translate(w->knps.v[i], &w->translated[w->n_translated]);
		if (r < 0) {
			return r;
		}
		w->allpols[w->pols.n + i] = w->translated[w->n_translated++];
	}
	return 0;
}

/* w->unchanged[i]: the datastore key of allpols[i] (for a translated Kubernetes policy, its
 * source's) is not among w->changed. Return: 0 or -ENOMEM. */
static int mark_unchanged(struct work *w)
{
	_cleanup_strbuf_ struct strbuf key = {0};
	size_t n = w->pols.n + w->knps.n;

	w->unchanged = calloc(n + 1, sizeof(*w->unchanged));
	if (!w->unchanged) {
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		const struct model_resource *r =
		    i < w->pols.n ? w->pols.v[i] : w->knps.v[i - w->pols.n];
		strbuf_reset(&key);
		int k = model_key(r->kind, r->meta.namespace, r->meta.name, &key);
		if (k == -ENOMEM) {
			return k;
		}
		const char *ks = strbuf_cstr(&key);
		w->unchanged[i] = k >= 0 && !array_find(&ks, w->changed, w->n_changed,
							sizeof(char *), array_cmp_str);
	}
	return 0;
}

int calc_policy_prepare(const struct calc_cache *c, const struct calc_policy_options *o,
			struct work *w, struct calc_policy *p, struct parse_err *err)
{
	const char *fc_name = "default";
	int r;

	w->err = err;
	if (!o || !o->node_name) {
		return -EINVAL;
	}
	struct {
		enum model_kind kind;
		struct ptrs *p;
	} kinds[] = {
	    {MODEL_KIND_NETWORK_POLICY, &w->pols},     {MODEL_KIND_GLOBAL_NETWORK_POLICY, &w->pols},
	    {MODEL_KIND_K8S_NETWORK_POLICY, &w->knps}, {MODEL_KIND_TIER, &w->tiers},
	    {MODEL_KIND_PROFILE, &w->profiles},	       {MODEL_KIND_NAMESPACE, &w->nss},
	    {MODEL_KIND_WORKLOAD_ENDPOINT, &w->weps},  {MODEL_KIND_HOST_ENDPOINT, &w->heps},
	    {MODEL_KIND_NETWORK_SET, &w->nsets},       {MODEL_KIND_GLOBAL_NETWORK_SET, &w->gnsets},
	    {MODEL_KIND_FELIX_CONFIGURATION, &w->fcs},
	};
	for (size_t i = 0; i < ELEMENTSOF(kinds); i++) {
		if (w->index_only && (kinds[i].p == &w->weps || kinds[i].p == &w->heps ||
				      kinds[i].p == &w->nsets || kinds[i].p == &w->gnsets)) {
			continue;
		}
		r = collect(c, kinds[i].kind, kinds[i].p);
		if (r < 0) {
			return r;
		}
	}
	merge_felix(&w->fcs, o->node_name, &p->fc, &fc_name);
	r = acl_host_config_from_model(&p->fc, &p->host);
	if (r < 0) {
		return parse_err_set(err, "", 0, 0, "",
				     "FelixConfiguration %s: defaultEndpointToHostAction "
				     "\"%s\" is not Drop, Accept or Return",
				     fc_name, p->fc.default_endpoint_to_host_action ?: "");
	}
	p->has_dataplane = p->fc.has_dataplane;
	p->dataplane = p->fc.dataplane;

	r = build_policies(w);
	if (r >= 0 && !w->index_only) {
		r = build_endpoints(w, o->node_name);
	}
	if (r >= 0 && !w->index_only) {
		r = build_netsets(w);
	}
	if (r < 0) {
		return r;
	}
	struct acl_policy_set ps = {
	    .policies = (struct model_resource *const *)w->allpols,
	    .n_policies = w->pols.n + w->knps.n,
	    .tiers = (struct model_resource *const *)w->tiers.v,
	    .n_tiers = w->tiers.n,
	    .profiles = (struct model_resource *const *)w->profiles.v,
	    .n_profiles = w->profiles.n,
	};
	if (w->prev) {
		r = mark_unchanged(w);
		if (r < 0) {
			return r;
		}
		ps.prev = w->prev;
		ps.unchanged = w->unchanged;
	}
	r = acl_index_new(&ps, &p->idx, err);
	if (r < 0) {
		return r;
	}
	p->stats = (struct calc_policy_stats){
	    .policies = w->pols.n + w->knps.n,
	    .tiers = w->tiers.n,
	    .profiles = w->profiles.n,
	    .endpoints = w->n_eps,
	    .netsets = w->n_netsets,
	    .sets = p->idx->n_sets,
	};
	return 0;
}

int calc_policy_compute(const struct calc_cache *c, const struct calc_policy_options *o,
			struct calc_policy *ret, struct parse_err *err)
{
	_cleanup_(calc_policy_done) struct calc_policy p = {0};
	struct work w = {0};
	int r;

	r = calc_policy_prepare(c, o, &w, &p, err);
	if (r < 0) {
		goto out;
	}
	r = acl_set_members(p.idx, w.eps, w.n_eps, w.netsets, w.n_netsets, &p.members);
	if (r < 0) {
		goto out;
	}
	size_t n_local = 0;
	for (size_t i = 0; i < w.n_eps; i++) {
		n_local += w.eps[i].ifname != NULL;
	}
	p.rulesets = calloc(n_local + 1, sizeof(*p.rulesets));
	if (!p.rulesets) {
		r = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < w.n_eps; i++) {
		if (!w.eps[i].ifname) {
			continue;
		}
		r = acl_compile(p.idx, &w.eps[i], &p.rulesets[p.n_rulesets]);
		if (r < 0) {
			parse_err_set(err, "", 0, 0, "", "endpoint %s: cannot compile its policy",
				      w.eps[i].name);
			goto out;
		}
		p.n_rulesets++;
	}
	p.stats.local_endpoints = n_local;
	/* The translated policies are only needed by acl_index_new(), which copies. */
	*ret = p;
	p = (struct calc_policy){0};
	r = 0;
out:
	calc_policy_work_done(&w);
	return r;
}

void calc_policy_done(struct calc_policy *p)
{
	if (!p) {
		return;
	}
	for (size_t i = 0; i < p->n_rulesets; i++) {
		acl_ruleset_free(p->rulesets[i]);
	}
	free(p->rulesets);
	acl_members_free(p->members);
	acl_index_free(p->idx);
	for (size_t i = 0; i < p->n_translated; i++) {
		model_resource_free(p->translated[i]);
	}
	free(p->translated);
	*p = (struct calc_policy){0};
}

struct acl_render_input calc_policy_render_input(const struct calc_policy *p)
{
	return (struct acl_render_input){
	    .idx = p->idx,
	    .members = p->members,
	    .rulesets = p->rulesets,
	    .n_rulesets = p->n_rulesets,
	    .host = &p->host,
	};
}
