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

/*
 * Incremental policy calculation (Felix's calculation graph, STYLE.md 5.3 "incremental only
 * when profiling demands": at 100,000 endpoints a full pass takes seconds).
 *
 * The state keeps the acl index, the members of every set with a count of contributors per
 * member, what each endpoint contributed, and the rulesets of the local endpoints. While no
 * policy, tier, profile, namespace, network set or FelixConfiguration changes, an endpoint
 * change is O(sets) selector matches (acl_endpoint_members()) plus, for a local endpoint, one
 * acl_compile(); the result equals calc_policy_compute() of the same cache (the unit test
 * test-felix-policy-inc.c checks this after every step of random change sequences). Any
 * other change, too many pending endpoints, or an error makes the next update a full one.
 */
struct calc_policy_inc;

/* One change of a set's members (as acl_set_members() would give them). */
struct calc_policy_change {
	uint32_t set; /* position in idx->sets */
	bool add;     /* false: removed */
	struct acl_member m;
};

/* What one calc_policy_inc_update() did. */
struct calc_policy_update {
	bool full; /* rebuilt from the cache: index, members and rulesets are new */
	bool
	    rulesets_changed; /* incremental: a local endpoint's ruleset appeared, went or changed */
	bool policies_changed; /* incremental: a new index (a policy or tier changed, the sets are
				* the same ones): any policy's rules may differ; rulesets_changed */
	const struct calc_policy_change *changes; /* incremental: net member changes, sorted by
						     set then member; borrowed until the next update */
	size_t n_changes;
	size_t n_endpoints; /* incremental: endpoint keys looked at */
};

/* Pending endpoint keys beyond this make the next update a full one. */
#define CALC_POLICY_INC_MAX_PENDING 65536
/* Policy keys remembered between two index builds; more and every policy is compiled again. */
#define CALC_POLICY_INC_MAX_POLICY_KEYS 256

/** calc_policy_inc_new() - empty state; the first update is full. @o->node_name is copied.
 * Return: 0, -EINVAL (no node name) or -ENOMEM. */
int calc_policy_inc_new(const struct calc_policy_options *o,
			struct calc_policy_inc **ret) _warn_unused_result_;

/** calc_policy_inc_free() - NULL-safe. Return: NULL. */
struct calc_policy_inc *calc_policy_inc_free(struct calc_policy_inc *s);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct calc_policy_inc *, calc_policy_inc_free);

/**
 * calc_policy_inc_note_key() - the datastore key @key was put or deleted (call after the cache
 * changed). WorkloadEndpoint and HostEndpoint keys are queued for the next update; keys of the
 * other kinds policy reads (policies, Kubernetes policies, tiers, profiles, namespaces, network
 * sets, FelixConfigurations) make it full. No I/O, O(1) amortised.
 * Return: true when policy reads @key's kind (the caller marks itself dirty).
 */
bool calc_policy_inc_note_key(struct calc_policy_inc *s, const char *key);

/** calc_policy_inc_invalidate() - the next update is full (resync, resnapshot). */
void calc_policy_inc_invalidate(struct calc_policy_inc *s);

/**
 * calc_policy_inc_update() - bring the state to the cache @c (pure).
 * @ret: what changed (see struct calc_policy_update).
 * @err: as calc_policy_compute().
 * Return: 0, or as calc_policy_compute(); on failure the state is dropped (the next update is
 * full) and calc_policy_inc_get() returns NULL until an update succeeds.
 */
int calc_policy_inc_update(struct calc_policy_inc *s, const struct calc_cache *c,
			   struct calc_policy_update *ret,
			   struct parse_err *err) _warn_unused_result_;

/**
 * calc_policy_dataplane_of() - the policy dataplane FelixConfiguration in @c asks of @node
 * ("node.<node>" over "default", spec.nftablesMode), as the next calc_policy_inc_update() will
 * report it in calc_policy.dataplane, without computing anything else (pure, O(log n)).
 * Return: true with *@ret set, false when neither sets it (*@ret untouched).
 */
bool calc_policy_dataplane_of(const struct calc_cache *c, const char *node,
			      enum model_dataplane *ret);

/** calc_policy_inc_get() - the current result (as calc_policy_compute() would give it for the
 * cache of the last successful update), or NULL. Borrowed until the next update. */
const struct calc_policy *calc_policy_inc_get(const struct calc_policy_inc *s);
