/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * Policy resources: NetworkPolicy, GlobalNetworkPolicy, Tier, NetworkSet, GlobalNetworkSet,
 * HostEndpoint, Profile, FelixConfiguration, Kubernetes v1 Namespace and networking.k8s.io/v1
 * NetworkPolicy. Included by model/model.h; do not include directly. Field names and semantics are
 * Calico's projectcalico.org/v3 (docs.tigera.io "Calico resources": NetworkPolicy, Rule,
 * EntityRule, ICMP, Ports, Tier, ...) and Kubernetes' networking.k8s.io/v1 NetworkPolicy.
 */

#include <stdbool.h>
#include <stdint.h>

#include "lib/cidr.h"

#define MODEL_MAX_RULES 1024
#define MODEL_MAX_NETS 1024 /* per rule side, per network set: more comes as many sets */
#define MODEL_MAX_PORTS 256
#define MODEL_MAX_NAMED_PORTS 64
#define MODEL_DEFAULT_TIER "default"
#define MODEL_DEFAULT_TIER_ORDER 1000000 /* Calico api.DefaultTierOrder */

enum model_action {
	MODEL_ACTION_ALLOW,
	MODEL_ACTION_DENY,
	MODEL_ACTION_LOG,
	MODEL_ACTION_PASS,
	_MODEL_ACTION_MAX,
	_MODEL_ACTION_INVALID = -22,
};

/* One entry of ports/notPorts: a number, a range "first:last", or a named port ("http"). */
struct model_port {
	uint16_t first; /* 0 when named */
	uint16_t last;	/* == first for a single port */
	char *name;	/* named port, resolved against endpoint ports at compile time; else NULL */
};

/* Calico EntityRule: what a rule's source or destination matches. Absent lists are n == 0. */
struct model_entity_rule {
	struct ip_prefix *nets;
	size_t n_nets;
	struct ip_prefix *not_nets;
	size_t n_not_nets;
	char *selector;		  /* NULL = none */
	char *not_selector;	  /* NULL = none */
	char *namespace_selector; /* NULL = none; "global()" = non-namespaced resources */
	struct model_port *ports;
	size_t n_ports;
	struct model_port *not_ports;
	size_t n_not_ports;
	/* serviceAccounts: endpoints whose service account is one of @sa_names (NULL-terminated,
	 * NULL = any name) and whose service account labels match @sa_selector (NULL = any) */
	char **sa_names;
	size_t n_sa_names;
	char *sa_selector;
};

/* Protocol: number 1..255; the names TCP(6) UDP(17) ICMP(1) ICMPv6(58) SCTP(132) UDPLite(136)
 * are decoded to numbers and encoded back to names. */
struct model_protocol {
	bool set;
	uint8_t number;
};

struct model_icmp {
	bool set;
	int16_t type; /* -1 = any (only with set) */
	int16_t code; /* -1 = any; requires type */
};

struct model_rule {
	enum model_action action;
	uint8_t ip_version; /* 0 = both, 4 or 6 */
	struct model_protocol protocol;
	struct model_protocol not_protocol;
	struct model_icmp icmp;
	struct model_icmp not_icmp;
	struct model_entity_rule source;
	struct model_entity_rule destination;
	unsigned source_line; /* 1-based line of the rule in its source; 0 from the datastore */
	char *metadata; /* JSON text of Calico's rule metadata ({"annotations": {..}}), stored and
			   shown, no effect on traffic (as in Calico); NULL = none */
};

/* NetworkPolicy (namespaced) and GlobalNetworkPolicy (cluster), and the Calico form of a
 * translated Kubernetes NetworkPolicy. `types` follows Calico's defaulting: when absent, Ingress
 * always, Egress when egress rules are present; decoding stores the resolved value. */
struct model_policy {
	bool has_order;
	double order;		  /* lower first; absent = after every ordered policy */
	char *tier;		  /* MODEL_DEFAULT_TIER when absent */
	char *selector;		  /* NULL = "all()" */
	char *namespace_selector; /* GlobalNetworkPolicy only; NULL = none */
	bool types_ingress;
	bool types_egress;
	struct model_rule *ingress;
	size_t n_ingress;
	struct model_rule *egress;
	size_t n_egress;
	bool do_not_track; /* GlobalNetworkPolicy: accepted, stored; not enforced (documented) */
	bool pre_dnat;
	bool apply_on_forward;
};

struct model_tier {
	bool has_order;
	double order;
	enum model_action
	    default_action; /* Deny (default) or Pass: what happens at the tier's end */
};

/* NetworkSet (namespaced) / GlobalNetworkSet: labels live in meta.labels. */
struct model_network_set {
	struct ip_prefix *nets;
	size_t n_nets;
};

/* A named port of an endpoint (WorkloadEndpoint/HostEndpoint spec.ports). */
struct model_named_port {
	char *name;
	struct model_protocol protocol; /* TCP, UDP or SCTP */
	uint16_t port;
};

struct model_host_endpoint {
	char *node;	      /* required */
	char *interface_name; /* "eth0"; "*" = all interfaces of the host; NULL with expected IPs */
	struct ip_addr *expected_ips;
	size_t n_expected_ips;
	char **profiles; /* NULL-terminated, may be NULL */
	size_t n_profiles;
	struct model_named_port *ports;
	size_t n_ports;
};

struct model_profile {
	struct model_rule *ingress;
	size_t n_ingress;
	struct model_rule *egress;
	size_t n_egress;
	struct model_labels labels_to_apply;
};

/* A protocol:port pair of FelixConfiguration failsafe lists, e.g. {protocol: TCP, port: 22}. */
struct model_proto_port {
	struct model_protocol protocol;
	uint16_t port;
	struct ip_prefix net; /* optional "net"; len 0 and family 0 = any */
};

enum model_dataplane {
	MODEL_DATAPLANE_NFTABLES, /* default */
	MODEL_DATAPLANE_IPTABLES,
	_MODEL_DATAPLANE_MAX,
	_MODEL_DATAPLANE_INVALID = -22,
};

/* FelixConfiguration ("default" and "node.<name>"): the policy subset. */
struct model_felix_configuration {
	char *default_endpoint_to_host_action; /* "Drop" (default), "Accept", "Return" */
	bool has_failsafe_inbound;	       /* absent = Calico's default list */
	struct model_proto_port *failsafe_inbound;
	size_t n_failsafe_inbound;
	bool has_failsafe_outbound;
	struct model_proto_port *failsafe_outbound;
	size_t n_failsafe_outbound;
	bool has_dataplane;
	enum model_dataplane dataplane; /* from nftablesMode: Enabled -> nftables, Disabled ->
					   iptables (Calico's field); tabby also accepts
					   policyDataplane: nftables|iptables */
};

/* Kubernetes networking.k8s.io/v1 NetworkPolicy, kept in its own form so that it encodes back as
 * written; model_k8s_policy_translate() gives the Calico form (Calico's conversion: name
 * "knp.default.<name>", order 1000, tier default, selector from podSelector with
 * projectcalico.org/namespace == '<ns>', policyTypes resolved, ipBlock.except as notNets). */
struct model_k8s_peer {
	bool has_pod_selector;
	char *pod_selector; /* converted to Calico selector syntax at decode time */
	bool has_namespace_selector;
	char *namespace_selector; /* converted; "all()" for {} */
	bool has_ip_block;
	struct ip_prefix ip_block;
	struct ip_prefix *except;
	size_t n_except;
};

struct model_k8s_port {
	struct model_protocol protocol; /* default TCP */
	bool has_port;
	uint16_t port;	   /* number, or 0 with name */
	char *name;	   /* named port */
	uint16_t end_port; /* 0 = none */
};

struct model_k8s_rule {
	struct model_k8s_peer *peers; /* from / to; n == 0 = everyone */
	size_t n_peers;
	struct model_k8s_port *ports;
	size_t n_ports;
	unsigned source_line;
};

struct model_k8s_network_policy {
	char *pod_selector; /* converted to Calico syntax; "all()" for {} */
	bool types_ingress;
	bool types_egress;
	struct model_k8s_rule *ingress;
	size_t n_ingress;
	struct model_k8s_rule *egress;
	size_t n_egress;
};
