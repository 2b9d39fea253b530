/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * Resources in Project Calico's projectcalico.org/v3 form: the kinds of the walking skeleton
 * (IPPool, Node, WorkloadEndpoint, BGPConfiguration). Field names and defaults follow Calico's
 * API reference (docs.tigera.io, "Calico resources"): a manifest written for Calico decodes here.
 *
 * All structs are plain data owned by the enclosing struct model_resource; strings are
 * heap-allocated and NUL-terminated; NULL means "absent". Decoding validates, so a decoded
 * resource is always valid on its own (cross-resource checks such as pool overlap are separate).
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/cidr.h"
#include "lib/macro.h"
#include "lib/parse-err.h"
#include "lib/strbuf.h"

#define MODEL_API_VERSION "projectcalico.org/v3"
#define MODEL_KEY_PREFIX "/tabby/v1/"
/* Where WorkloadEndpoints live: MODEL_WEP_KEY_PREFIX "<namespace>/<name>" (model_key()). */
#define MODEL_WEP_KEY_PREFIX MODEL_KEY_PREFIX "workloadendpoints/"
/* Limits on counts the datastore controls (STYLE.md section 3). */
#define MODEL_MAX_LABELS 256
#define MODEL_MAX_IP_NETWORKS 16
#define MODEL_MAX_PROFILES 64
#define MODEL_NAME_MAX 253 /* RFC 1123 subdomain */

enum model_kind {
	MODEL_KIND_IPPOOL,
	MODEL_KIND_NODE,
	MODEL_KIND_WORKLOAD_ENDPOINT,
	MODEL_KIND_BGP_CONFIGURATION,
	MODEL_KIND_BGP_PEER,
	MODEL_KIND_NETWORK_POLICY, /* namespaced */
	MODEL_KIND_GLOBAL_NETWORK_POLICY,
	MODEL_KIND_TIER,
	MODEL_KIND_NETWORK_SET, /* namespaced */
	MODEL_KIND_GLOBAL_NETWORK_SET,
	MODEL_KIND_HOST_ENDPOINT,
	MODEL_KIND_PROFILE,
	MODEL_KIND_FELIX_CONFIGURATION,
	MODEL_KIND_NAMESPACE,	       /* Kubernetes v1 Namespace (labels only) */
	MODEL_KIND_K8S_NETWORK_POLICY, /* networking.k8s.io/v1 NetworkPolicy; namespaced */
	_MODEL_KIND_MAX,
	_MODEL_KIND_INVALID = -22 /* -EINVAL */,
};

/* A label set, sorted by key, keys unique. */
struct model_label {
	char *key;
	char *value;
};
struct model_labels {
	struct model_label *items;
	size_t n;
};

#include "model/model-bgp.h"
#include "model/model-policy.h"

struct model_meta {
	char *name;	 /* required; RFC 1123 subdomain (lower case, digits, '-', '.') */
	char *namespace; /* namespaced kinds only (WorkloadEndpoint); NULL for cluster kinds */
	struct model_labels labels;
	char
	    *resource_version; /* etcd mod_revision as text, filled by the datastore; may be NULL */
	char *uid;	       /* may be NULL */
	char *creation_timestamp; /* RFC 3339, may be NULL */
};

/* IPPool spec (Calico's IPPoolSpec). ipipMode is accepted only as "Never" (this kernel has no
 * IPIP); vxlanMode is "Always", "CrossSubnet" or "Never" (IPv4 pools only). */
struct model_ippool {
	struct ip_prefix cidr; /* masked network */
	uint8_t block_size;    /* IPv4 20..32 (default 26), IPv6 116..128 (default 122) */
	bool nat_outgoing;
	bool disabled;
	bool disable_bgp_export;
	char *node_selector; /* selector text; NULL = "all()" */
	char *ipip_mode;     /* "Never" or NULL */
	char *vxlan_mode;    /* "Always", "CrossSubnet", "Never" or NULL (= Never) */
	char **allowed_uses; /* "Workload", "Tunnel"; NULL-terminated, may be NULL */
};

/* Node spec.bgp (Calico NodeBGPSpec). */
struct model_node {
	bool has_ipv4;
	struct ip_prefix
	    ipv4_address; /* host address with the subnet length, e.g. 198.18.0.11/24 */
	bool has_ipv6;
	struct ip_prefix ipv6_address;
	uint32_t as_number;  /* 0 = inherit the cluster's BGPConfiguration asNumber */
	char *rr_cluster_id; /* routeReflectorClusterID, dotted quad, or NULL */
	/* spec.ipv4VXLANTunnelAddr / spec.vxlanTunnelMACAddr (Calico NodeSpec): written by felix
	 * when a VXLAN pool selects the node; family 0 / NULL when absent. */
	struct ip_addr ipv4_vxlan_tunnel_addr;
	char *vxlan_tunnel_mac; /* "aa:bb:cc:dd:ee:ff", lower case */
};

/* An IPPool's encapsulation mode (Calico's EncapMode). */
enum model_encap {
	MODEL_ENCAP_NEVER,
	MODEL_ENCAP_ALWAYS,
	MODEL_ENCAP_CROSS_SUBNET,
	_MODEL_ENCAP_MAX,
	_MODEL_ENCAP_INVALID = -22 /* -EINVAL */,
};

/**
 * model_ippool_vxlan_mode() - @p's vxlanMode as an enum: absent or "Never" -> MODEL_ENCAP_NEVER,
 * "Always", "CrossSubnet" (Calico IPPool reference). A decoded pool never holds anything else;
 * an unknown text reads as Never.
 */
enum model_encap model_ippool_vxlan_mode(const struct model_ippool *p);

/* WorkloadEndpoint spec (Calico WorkloadEndpointSpec). The fields that only the owning host
 * reads come last (from @workload on): felix's cache stores a remote endpoint without them
 * (MODEL_WEP_HEAD_SIZE, model_resource_free_wep_head()). */
struct model_workload_endpoint {
	char *orchestrator; /* "cni", "k8s", "libnetwork"; required */
	char *node;	    /* required: the host that owns it */
	struct ip_prefix
	    *ip_networks; /* host prefixes (/32 or /128), at most MODEL_MAX_IP_NETWORKS */
	size_t n_ip_networks;
	char **profiles; /* NULL-terminated, may be NULL */
	size_t n_profiles;
	struct model_named_port
	    *ports; /* named ports (spec.ports), at most MODEL_MAX_NAMED_PORTS */
	size_t n_ports;
	char *service_account_name; /* serviceAccountName; may be NULL (policy matches the label
				       projectcalico.org/serviceaccount) */
	/* Local-only from here on (the owning host's routes, neighbours and interfaces). */
	char *workload;	      /* may be NULL */
	char *container_id;   /* required for cni */
	char *pod;	      /* K8S_POD_NAME; may be NULL */
	char *endpoint;	      /* "eth0" */
	char *interface_name; /* host-side veth, "tby" + 11 hex; required */
	char *mac;	      /* container-side MAC "aa:bb:..", may be NULL */
};

/* BGPConfiguration spec (the walking skeleton's subset; more fields come with the BGP issue). */
struct model_bgp_configuration {
	uint32_t as_number;	       /* 0 = default 64512 */
	int node_to_node_mesh_enabled; /* -1 absent (default true), 0, 1 */
	char *log_severity_screen;     /* "Info" default */
	uint16_t listen_port;	       /* 0 = default 179 */
	/* Service address ranges every node advertises over BGP (Calico "Advertise Kubernetes
	 * service IP addresses"); IPv6 ones are stored but not advertised yet. */
	struct ip_prefix *service_cluster_ips;
	size_t n_service_cluster_ips;
	struct ip_prefix *service_external_ips;
	size_t n_service_external_ips;
	struct ip_prefix *service_loadbalancer_ips;
	size_t n_service_loadbalancer_ips;
	char *bind_mode; /* "None" (default) or "NodeIP" */
	struct model_bgp_password node_mesh_password;
	uint32_t node_mesh_max_restart_time_s; /* 0 = unset */
	char **ignored_interfaces;	       /* interface globs; n_ignored_interfaces entries */
	size_t n_ignored_interfaces;
	struct model_community *communities;
	size_t n_communities;
	struct model_prefix_advertisement *prefix_advertisements;
	size_t n_prefix_advertisements;
};

struct model_resource {
	enum model_kind kind;
	/* 1-based line of the document's start in its YAML/JSON source (for later cross checks);
	 * 0 when decoded from the datastore */
	unsigned source_line;
	struct model_meta meta;
	/* JSON object text of spec fields that Calico documents and tabby accepts and stores but
	 * does not act on yet (decoding warns about each); encoded back into spec as written.
	 * NULL = none. */
	char *extra_spec;
	/* Last: see MODEL_WEP_HEAD_SIZE. */
	union {
		struct model_ippool ippool;
		struct model_node node;
		struct model_workload_endpoint wep;
		struct model_bgp_configuration bgpconfig;
		struct model_bgp_peer bgppeer;
		struct model_policy policy; /* NetworkPolicy and GlobalNetworkPolicy */
		struct model_tier tier;
		struct model_network_set netset; /* NetworkSet and GlobalNetworkSet */
		struct model_host_endpoint hep;
		struct model_profile profile;
		struct model_felix_configuration felixconfig;
		struct model_k8s_network_policy knp;
		/* MODEL_KIND_NAMESPACE has no spec: only meta.labels */
	};
};

/* Bytes of a WorkloadEndpoint resource up to its local-only fields (wep.workload on): felix's
 * cache stores remote WorkloadEndpoints (100,000 and more) in an allocation of this size (the
 * union comes last for that). Such a resource is freed with model_resource_free_wep_head(). */
#define MODEL_WEP_HEAD_SIZE offsetof(struct model_resource, wep.workload)

/**
 * model_kind_from_string() - "IPPool" (Calico's kind name; also the lower-case plural "ippools"
 * and singular "ippool" accepted by calicoctl get) to the enum.
 * Return: the kind, or _MODEL_KIND_INVALID.
 */
enum model_kind model_kind_from_string(const char *s);

/** model_kind_to_string() - Calico's kind name ("IPPool"). NULL for an invalid kind. */
const char *model_kind_to_string(enum model_kind kind);

/**
 * model_kind_api_version() - the apiVersion a manifest of @kind carries: MODEL_API_VERSION, "v1"
 * (Namespace) or "networking.k8s.io/v1" (Kubernetes NetworkPolicy). NULL for an invalid kind.
 */
const char *model_kind_api_version(enum model_kind kind);

/**
 * model_kind_manifest_name() - the `kind:` a manifest of @kind carries: "NetworkPolicy" for
 * MODEL_KIND_K8S_NETWORK_POLICY (told apart from Calico's by its apiVersion), else
 * model_kind_to_string(). NULL for an invalid kind.
 */
const char *model_kind_manifest_name(enum model_kind kind);

/** model_kind_plural() - the datastore path segment ("ippools", "workloadendpoints"). */
const char *model_kind_plural(enum model_kind kind);

/** model_kind_is_namespaced() - true for WorkloadEndpoint, NetworkPolicy, NetworkSet and the
 * Kubernetes NetworkPolicy. */
bool model_kind_is_namespaced(enum model_kind kind);

/**
 * model_resource_free() - free @r and everything it owns. NULL-safe. Return: NULL.
 */
struct model_resource *model_resource_free(struct model_resource *r);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct model_resource *, model_resource_free);

/**
 * model_resource_free_wep_head() - free a WorkloadEndpoint @r held in MODEL_WEP_HEAD_SIZE
 * bytes: its metadata, the spec fields before wep.workload and @r itself; the local-only
 * fields are not read (they are not there). NULL-safe. Return: NULL.
 */
struct model_resource *model_resource_free_wep_head(struct model_resource *r);

/**
 * model_resource_clear_wep_head() - as model_resource_free_wep_head(), but @r itself (not
 * NULL) stays allocated: its owner keeps it in memory of its own (felix/calc/cache.c slabs).
 */
void model_resource_clear_wep_head(struct model_resource *r);

/* A list of decoded resources in document order. */
struct model_list {
	struct model_resource **items;
	size_t n;
};
/** model_list_done() - free every item and the array; NULL-safe. */
void model_list_done(struct model_list *l);

/**
 * model_decode() - decode one or more documents (YAML with "---" separators, a JSON object, or a
 * Calico/Kubernetes "List" with items) into resources, validating each one.
 * @buf, @len: the text (need not be NUL-terminated).
 * @file: name used in errors ("-" for stdin).
 * @ret: filled with every resource on success; untouched on failure.
 * @err: on failure, file, line, column and the dotted field path of the first problem, e.g.
 *       "pool.yaml:7:9: spec.cidr: invalid CIDR \"10.0.0.0/33\"".
 * Return: 0, -EINVAL (syntax or validation; @err says where) or -ENOMEM.
 * Unknown top-level fields are errors, as with Calico's strict decoding; unknown kinds are errors.
 */
int model_decode(const char *buf, size_t len, const char *file, struct model_list *ret,
		 struct parse_err *err) _warn_unused_result_;

/*
 * Every problem of an input, for tools that report them all (tabbyctl apply): errors refuse the
 * input; warnings name fields that are accepted and stored but not acted on yet.
 */
struct model_diag {
	struct parse_err *errors;
	size_t n_errors;
	struct parse_err *warnings;
	size_t n_warnings;
	bool oom; /* an entry was lost to out of memory: model_decode_diag() returns -ENOMEM */
};
/** model_diag_done() - free both lists; NULL-safe. */
void model_diag_done(struct model_diag *d);
/**
 * model_diag_add() - append a copy of @e to d->errors (@warning false) or d->warnings. An
 * identical entry already at the end of the list is not repeated.
 * Return: 0 or -ENOMEM.
 */
int model_diag_add(struct model_diag *d, bool warning,
		   const struct parse_err *e) _warn_unused_result_;

/**
 * model_decode_diag() - as model_decode(), but every error of every document goes to
 * @diag->errors (in input order), and every field that is accepted but not acted on yet to
 * @diag->warnings. Decoding goes on after an error (with the next field, rule or document), so
 * one run reports them all; follow-on errors of a field already reported are not invented
 * (a mapping with an error skips its cross-field checks).
 * @ret: every resource when there is no error; untouched otherwise.
 * Return: 0 (warnings are possible), -EINVAL (diag->n_errors > 0) or -ENOMEM.
 */
int model_decode_diag(const char *buf, size_t len, const char *file, struct model_list *ret,
		      struct model_diag *diag) _warn_unused_result_;

/**
 * model_decode_one() - as model_decode() for text holding exactly one resource (the datastore's
 * JSON values). One line of JSON is parsed by json-c where it provably reads the same tree as
 * libyaml (model/json-tree.c); anything else, and every error, goes through libyaml, so the
 * result and the error (file, line, column, field) are the same either way.
 * Return: 0, -EINVAL (also for zero or several documents) or -ENOMEM.
 */
int model_decode_one(const char *buf, size_t len, const char *file, struct model_resource **ret,
		     struct parse_err *err) _warn_unused_result_;

/**
 * model_encode_json() - the v3 JSON form ({"apiVersion","kind","metadata","spec"}), compact,
 * keys in a fixed order, appended to @out. This is what the datastore stores.
 * Return: 0 or -ENOMEM.
 */
int model_encode_json(const struct model_resource *r, struct strbuf *out) _warn_unused_result_;

/**
 * model_encode_yaml() - the same as YAML (one document starting with "---"), appended to @out.
 * Return: 0 or -ENOMEM.
 */
int model_encode_yaml(const struct model_resource *r, struct strbuf *out) _warn_unused_result_;

/**
 * model_key() - the datastore key: MODEL_KEY_PREFIX "<plural>/<name>" or
 * "<plural>/<namespace>/<name>", appended to @out. Return: 0, -EINVAL (no name) or -ENOMEM.
 */
int model_key(enum model_kind kind, const char *namespace, const char *name,
	      struct strbuf *out) _warn_unused_result_;

/**
 * model_validate_pools() - cross-resource check of IP pools: no two enabled pools overlap
 * (Calico's IPPool validation). @pools: the pools after a change (borrowed).
 * @err: names the later pool's file line and "spec.cidr".
 * Return: 0 or -EINVAL.
 */
int model_validate_pools(struct model_resource *const *pools, size_t n,
			 struct parse_err *err) _warn_unused_result_;

/**
 * model_k8s_policy_translate() - the Calico form of a Kubernetes NetworkPolicy @knp (kind
 * MODEL_KIND_K8S_NETWORK_POLICY), as Calico's converter does: a MODEL_KIND_NETWORK_POLICY named
 * "knp.default.<name>" in the same namespace, tier "default", order 1000, selector = the
 * podSelector (a namespaced policy only selects endpoints of its own namespace), types from
 * policyTypes, one Allow rule per k8s rule and peer (ipBlock.except -> notNets,
 * namespaceSelector -> namespaceSelector, ports -> destination ports, endPort -> a port range).
 * @ret: a new resource owned by the caller.
 * Return: 0, -EINVAL (not a Kubernetes NetworkPolicy) or -ENOMEM.
 */
int model_k8s_policy_translate(const struct model_resource *knp,
			       struct model_resource **ret) _warn_unused_result_;

/**
 * model_labels_get() - the value of @key, or NULL when absent.
 */
const char *model_labels_get(const struct model_labels *l, const char *key);

/**
 * model_labels_set() - insert or replace @key = @value, keeping the set sorted.
 * Return: 0, -E2BIG (more than MODEL_MAX_LABELS) or -ENOMEM.
 */
int model_labels_set(struct model_labels *l, const char *key,
		     const char *value) _warn_unused_result_;

/**
 * model_labels_remove() - delete @key, keeping the set sorted.
 * Return: 0, or -ENOENT when @key is absent (@l unchanged).
 */
int model_labels_remove(struct model_labels *l, const char *key);

/** model_labels_done() - free all labels. */
void model_labels_done(struct model_labels *l);

/**
 * model_label_key_is_valid() - a Kubernetes qualified name (Kubernetes "Labels and Selectors",
 * syntax and character set): [DNS subdomain "/"] name, the name 1..63 of [A-Za-z0-9-_.]
 * starting and ending with an alphanumeric.
 */
bool model_label_key_is_valid(const char *s);

/** model_label_value_is_valid() - empty, or <= 63 of [A-Za-z0-9-_.] starting and ending alnum. */
bool model_label_value_is_valid(const char *s);

/** model_name_is_valid() - a lower-case RFC 1123 subdomain of at most 253 characters (the
 * metadata.name of most kinds, spec.node, serviceAccountName). */
bool model_name_is_valid(const char *s);

/** model_port_name_is_valid() - Kubernetes IsValidPortName: 1..15 of [a-z0-9-], a letter,
 * no leading, trailing or double '-' (a named port's name). */
bool model_port_name_is_valid(const char *s);
