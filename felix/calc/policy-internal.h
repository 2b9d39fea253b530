/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/* Shared by felix/calc/policy.c (full calculation) and felix/calc/policy-inc.c (incremental). */

#include "felix/calc/policy.h"

/* A growable array of borrowed resources. */
struct ptrs {
	const struct model_resource **v;
	size_t n, cap;
};

/* One full pass: the cache's policy kinds, collected in key order, and what acl needs. */
struct work {
	struct ptrs pols, knps, tiers, profiles, nss, weps, heps, nsets, gnsets, fcs;
	struct acl_endpoint *eps; /* weps (key order), then heps (key order) */
	size_t n_eps;
	char **names; /* "<ns>/<name>" storage, one per workload endpoint */
	size_t n_names;
	struct ip_addr *addrs;
	struct acl_netset *netsets;
	size_t n_netsets;
	struct model_resource **translated;
	size_t n_translated;
	const struct model_resource **allpols;
	struct parse_err *err;
	bool index_only; /* set before calc_policy_prepare(): skip endpoints and network sets */
	/* Optional, set before calc_policy_prepare(): the index of the last pass, and the keys
	 * of the policies put or deleted since it was built (sorted). A policy whose key is not
	 * among them is copied from @prev (struct acl_policy_set.prev) instead of compiled. */
	const struct acl_index *prev;
	char *const *changed;
	size_t n_changed;
	bool *unchanged; /* parallel to allpols when @prev is set */
};

/* Everything of calc_policy_compute() up to and including acl_index_new(): fills @w (free with
 * calc_policy_work_done() in every case) and @p's idx, host, fc, dataplane and stats (except
 * local_endpoints). With @w->index_only set beforehand, endpoints and network sets are not
 * collected (w->eps, w->netsets stay empty; stats.endpoints and stats.netsets are 0): the
 * index alone, O(policies) instead of O(endpoints). Return: 0 or as calc_policy_compute(). */
int calc_policy_prepare(const struct calc_cache *c, const struct calc_policy_options *o,
			struct work *w, struct calc_policy *p, struct parse_err *err);
void calc_policy_work_done(struct work *w);

/* The labels of Namespace @ns among @nss (sorted by name), or NULL. */
const struct model_labels *calc_policy_ns_labels(const struct ptrs *nss, const char *ns);

/* The acl view of one WorkloadEndpoint or HostEndpoint @r (borrowed pointers into @r; the
 * workload name "<ns>/<name>" is allocated into *ret_name, NULL for host endpoints; @addrs has
 * room for calc_policy_endpoint_n_addrs(@r)). ifname is set when the endpoint is local to @node.
 * Return: 0, -ENOMEM, or -EINVAL (a local host endpoint's interfaceName cannot be rendered;
 * @err says which). */
int calc_policy_endpoint(const struct model_resource *r, const char *node,
			 const struct model_labels *nsl, char **ret_name, struct ip_addr *addrs,
			 struct acl_endpoint *ret, struct parse_err *err);
size_t calc_policy_endpoint_n_addrs(const struct model_resource *r);
