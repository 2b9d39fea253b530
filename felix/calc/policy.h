/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * felix's policy calculation (pure, STYLE.md section 5/6): from the calc cache's policy kinds
 * (NetworkPolicy, GlobalNetworkPolicy, Kubernetes NetworkPolicy via
 * model_k8s_policy_translate(), Tier, Profile), endpoints (WorkloadEndpoint, HostEndpoint),
 * Namespace labels, NetworkSet/GlobalNetworkSet and FelixConfiguration ("default", overridden
 * field by field by "node.<name>", as Calico's per-node configuration does) to everything
 * acl_render_nft()/acl_render_ipt() need for this host (struct acl_render_input).
 *
 * Local endpoints: WorkloadEndpoints with spec.node == this node and a "tby" interface, and
 * HostEndpoints with spec.node == this node and an interfaceName. Every endpoint of the cluster
 * (local or not) and every network set feeds the set members (acl_set_members()).
 */

#include <stdbool.h>
#include <stddef.h>

#include "acl/acl.h"
#include "felix/calc/calc.h"
#include "lib/macro.h"
#include "lib/parse-err.h"
#include "model/model.h"

struct calc_policy_options {
	const char *node_name; /* this host's Node name (required) */
};

/* Resources the calculation saw (for logs and the benchmark). */
struct calc_policy_stats {
	size_t policies, tiers, profiles, endpoints, local_endpoints, netsets, sets;
};

struct calc_policy {
	struct acl_index *idx;
	struct acl_members *members;
	struct acl_ruleset **rulesets; /* local endpoints, in cache key order */
	size_t n_rulesets;
	struct acl_host_config host;
	bool has_dataplane; /* FelixConfiguration chose a backend (nftablesMode/policyDataplane) */
	enum model_dataplane dataplane;
	struct calc_policy_stats stats;
	/* storage */
	struct model_resource **translated; /* Calico form of Kubernetes NetworkPolicies */
	size_t n_translated;
	struct model_felix_configuration fc; /* merged FelixConfiguration (borrowed lists) */
};

/**
 * calc_policy_compute() - the policy state of this host from the current cache (pure).
 * @c: the cache; borrowed, and must not change while @ret is used (the index copies what it
 *     needs, but @ret->host borrows the FelixConfiguration's failsafe lists).
 * @o: options; node_name required.
 * @ret: filled on success (free with calc_policy_done()); untouched on failure.
 * @err: on -EINVAL, which resource and field could not be compiled, e.g. field
 *       "GlobalNetworkPolicy bad: spec.ingress[0].source.selector" (acl_index_new()), or
 *       "FelixConfiguration default: defaultEndpointToHostAction".
 * Return: 0, -EINVAL (a policy or configuration that cannot be compiled), -E2BIG (acl limits)
 * or -ENOMEM.
 */
int calc_policy_compute(const struct calc_cache *c, const struct calc_policy_options *o,
			struct calc_policy *ret, struct parse_err *err) _warn_unused_result_;

/** calc_policy_done() - free what @p owns; NULL-safe; @p becomes zeroed. */
void calc_policy_done(struct calc_policy *p);

/** calc_policy_render_input() - the acl_render_input view of @p (borrows from @p). */
struct acl_render_input calc_policy_render_input(const struct calc_policy *p);
