/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * BGP resources beyond the walking skeleton: BGPPeer, and the extra BGPConfiguration fields.
 * Included by model/model.h; do not include directly. Field names and semantics follow Calico's
 * projectcalico.org/v3 BGPPeerSpec and BGPConfigurationSpec (docs.tigera.io, "BGP peer",
 * "BGP configuration"), plus `bfd`, which is tabby's addition.
 */

#include <stdbool.h>
#include <stdint.h>

#include "lib/cidr.h"

#define MODEL_MAX_COMMUNITIES 64
#define MODEL_MAX_PREFIX_ADVERTISEMENTS 256
#define MODEL_MAX_IGNORED_INTERFACES 64
#define MODEL_MAX_SERVICE_CIDRS 256 /* per BGPConfiguration service list (serviceClusterIPs, ...) */

/* A password source: exactly one of secret (Calico's password.secretKeyRef: {name, key}, read from
 * the datastore key /tabby/v1/secrets/<name> whose JSON value maps key -> password) or file (a
 * file on the node holding the password). The password itself is never part of a resource. */
struct model_bgp_password {
	char *secret_name; /* secretKeyRef.name */
	char *secret_key;  /* secretKeyRef.key */
	char *file;	   /* tabby addition: password.file */
};

enum model_next_hop_mode {
	MODEL_NEXT_HOP_AUTO, /* default: BIRD's defaults (self for eBGP, keep for iBGP) */
	MODEL_NEXT_HOP_SELF,
	MODEL_NEXT_HOP_KEEP,
	_MODEL_NEXT_HOP_MAX,
	_MODEL_NEXT_HOP_INVALID = -22,
};

/* BGPPeer spec. Durations are in seconds (Calico writes them as Go durations "30s", "2m0s"). */
struct model_bgp_peer {
	char *node;	     /* only this node peers; NULL = every node (global peer) */
	char *node_selector; /* selector over Node labels; NULL = none */
	bool has_peer_ip;
	struct ip_addr
	    peer_ip;	     /* from peerIP "198.18.1.0", "198.18.1.0:1790", "[2001:db8::1]:179" */
	uint16_t peer_port;  /* 0 = 179 */
	char *peer_selector; /* selector over Node labels: peer with those nodes */
	uint32_t as_number;  /* required with peerIP; with peerSelector: 0 = the peers' own AS */
	uint32_t local_as_number; /* localASNumber: our AS toward this peer; 0 = the node's AS */
	struct model_bgp_password password; /* all NULL = no MD5 password */
	uint32_t keepalive_time_s;	    /* 0 = unset */
	uint32_t hold_time_s;		    /* 0 = unset */
	uint32_t max_restart_time_s;	    /* graceful restart time; 0 = unset */
	uint8_t ttl_security;		    /* hops; 0 = off (BIRD "ttl security") */
	char *source_address;		    /* "UseNodeIP" (default) or "None" */
	enum model_next_hop_mode next_hop_mode;
	uint8_t num_allowed_local_as_numbers; /* BIRD "allow local as N"; 0 = off */
	char *reverse_peering;		      /* "Auto" (default) or "Manual" */
	bool keep_original_next_hop;	      /* Calico's older field; same as next_hop_mode Keep */
	bool bfd_enabled;		      /* tabby addition */
	uint32_t bfd_interval_ms;	      /* 0 = BIRD default (100 ms) */
	uint32_t bfd_multiplier;	      /* 0 = BIRD default (5) */
};

struct model_community {
	char *name;
	char *value; /* "aa:nn" (standard) or "aa:nn:mm" (large) */
};

struct model_prefix_advertisement {
	struct ip_prefix cidr;
	char **communities; /* names from communities[] or literal values; n_communities entries */
	size_t n_communities;
};
