/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * bird.conf rendering (pure, deterministic: same model, same bytes; peers sorted by address;
 * no timestamps). The layout follows Calico's confd templates (calico/confd
 * etc/calico/confd/templates/bird.cfg.template) adapted to tabby's names:
 *   router id; filter tabby_export_bgp (own blocks as aggregates, /32s of borrowed addresses
 *   inside a pool but outside every own block, nothing else); protocol kernel (learn, scan time,
 *   graceful restart, merge paths, export only routes learned over BGP into the pools);
 *   protocol device; protocol direct (interfaces "-tby*", "*"); protocol static with a blackhole
 *   per own block; one protocol bgp per peer named like Calico's: "Mesh_198_18_0_12" for
 *   node-to-node mesh peers, "Global_..." and "Node_..." for BGPPeer peers (later issue).
 * Node-to-node mesh: every peer is iBGP in the local AS; the side with the higher address is
 * passive so that exactly one TCP session forms (Calico does the same).
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/cidr.h"
#include "lib/macro.h"
#include "lib/strbuf.h"

enum bgp_peer_type {
	BGP_PEER_MESH,	 /* "Mesh_" */
	BGP_PEER_GLOBAL, /* "Global_" */
	BGP_PEER_NODE,	 /* "Node_" */
	_BGP_PEER_TYPE_MAX,
	_BGP_PEER_TYPE_INVALID = -22,
};

/* Next hop handling toward one peer (Calico BGPPeer nextHopMode; BIRD "next hop self/keep"). */
enum bgp_next_hop {
	BGP_NEXT_HOP_AUTO, /* BIRD's default: self for eBGP, unchanged for iBGP */
	BGP_NEXT_HOP_SELF,
	BGP_NEXT_HOP_KEEP,
	_BGP_NEXT_HOP_MAX,
	_BGP_NEXT_HOP_INVALID = -22,
};

struct bgp_peer {
	enum bgp_peer_type type;
	struct ip_addr addr;
	uint32_t as_number;
	uint32_t local_as; /* Calico BGPPeer localASNumber: the AS this node uses toward this peer
			    * ("local as <n>"); 0 = the model's as_number */
	bool passive;	   /* wait for the peer to connect */
	bool rr_client;	   /* the local node reflects routes to this peer */
	/* Optional (BGPPeer and BGPConfiguration fields); zero = the default noted. */
	uint16_t port;		    /* peer's TCP port; 0 = the model's listen_port for mesh
				     * peers, 179 for the others. A port other than 179 is part of
				     * the protocol name ("Node_198_18_1_0_port_1790", as Calico). */
	const char *password;	    /* TCP MD5 secret (RFC 2385), borrowed; NULL = none; never
				     * logged; no '"', backslash or control characters */
	unsigned keepalive_s;	    /* 0 = the model's keepalive_s */
	unsigned hold_s;	    /* 0 = the model's hold_s; else 3..65535 */
	unsigned gr_time_s;	    /* graceful restart time; 0 = BIRD's default (120 s) */
	uint8_t ttl_security;	    /* GTSM (RFC 5082) for a peer this many hops away; 0 = off */
	enum bgp_next_hop next_hop; /* BGP_NEXT_HOP_AUTO = BIRD's default */
	uint8_t allow_local_as;	    /* accept AS paths holding our AS up to this many times */
	bool no_source_addr;	    /* Calico sourceAddress None: the kernel picks the source */
	bool bfd;		    /* BFD (RFC 5880) liveness for this session */
	unsigned bfd_interval_ms;   /* min rx/tx interval; 0 = BIRD's default (100 ms) */
	unsigned bfd_multiplier;    /* 0 = BIRD's default (5) */
	const char *password_file;  /* where the password lives (BGPPeer password.file): the I/O
				     * layer reads it into @password before rendering; with
				     * @password NULL the render fails (-EINVAL) rather than
				     * silently dropping the MD5 protection */
};

/* A BGP community: standard (RFC 1997, "aa:nn", 16-bit parts) or large (RFC 8092, "aa:nn:mm",
 * 32-bit parts). */
struct bgp_community {
	bool large;
	uint32_t a, b, c; /* c only when large */
};

/* Communities attached to every route announced inside @cidr (Calico prefixAdvertisements). */
struct bgp_prefix_communities {
	struct ip_prefix cidr;
	const struct bgp_community *communities;
	size_t n_communities;
};

/* BIRD logging (Calico BGPConfiguration logSeverityScreen). */
enum bgp_log_level {
	BGP_LOG_INFO,	 /* default: every class */
	BGP_LOG_DEBUG,	 /* every class plus "debug protocols all" */
	BGP_LOG_WARNING, /* warning, error, auth, fatal, bug */
	BGP_LOG_ERROR,	 /* error, fatal, bug */
	BGP_LOG_NONE,	 /* nothing */
	_BGP_LOG_MAX,
	_BGP_LOG_INVALID = -22,
};

struct bgp_model {
	const char *node_name;	   /* comment only */
	struct ip_addr router_id;  /* IPv4 */
	struct ip_addr local_addr; /* source address of sessions (usually = router_id) */
	uint32_t as_number;
	const char *rr_cluster_id; /* NULL unless this node is a route reflector */
	struct ip_prefix *pools;   /* enabled pools with BGP export, sorted */
	size_t n_pools;
	struct ip_prefix *blocks; /* blocks affine to this node, sorted */
	size_t n_blocks;
	/* IPv4 pools with vxlanMode Always: felix programs their routes through vxlan.tabby, so
	 * BIRD must not install BGP routes for them in the kernel (Calico's kernel filter:
	 * "reject; # VXLAN routes are handled by Felix"). They are still exported over BGP. */
	struct ip_prefix *vxlan_pools;
	size_t n_vxlan_pools;
	struct bgp_peer *peers; /* sorted by address (bird_conf_render sorts a copy anyway) */
	size_t n_peers;
	const char *log_file;	/* NULL = syslog */
	unsigned kernel_scan_s; /* protocol kernel/device scan time; 0 = 10 */
	unsigned keepalive_s;	/* 0 = BIRD's default */
	unsigned hold_s;	/* 0 = BIRD's default */
	bool fast_timers;	/* lab: connect delay 1, retry 5, error wait 1,10, and a 10 s
				 * graceful restart wait unless gr_wait_s is set */
	unsigned gr_wait_s;	/* global "graceful restart wait": how long BIRD started with -R
				 * defers its kernel sync for the peers' End-of-RIB; 0 = 120 s
				 * (10 s with fast_timers); else 1..3600 */
	uint16_t listen_port;	/* 0 = 179 */
	/* Additions (BGPConfiguration); zero = default. */
	struct ip_addr local_addr6; /* IPv6 session source; family 0 = the kernel picks */
	bool strict_bind;	    /* Calico bindMode NodeIP: listen on local_addr only */
	enum bgp_log_level log_level;
	const char *const *ignored_ifaces; /* globs kept out of protocol direct (no '"') */
	size_t n_ignored_ifaces;
	const struct bgp_prefix_communities *prefix_communities; /* any order */
	size_t n_prefix_communities;
	/* Service address ranges (BGPConfiguration serviceClusterIPs, serviceExternalIPs,
	 * serviceLoadBalancerIPs), any order, duplicates allowed: advertised to every BGP peer from
	 * a blackhole static protocol "tabby_services", never installed in the kernel (Calico,
	 * "Advertise Kubernetes service IP addresses"). IPv6 ranges are skipped (IPv4-only). */
	const struct ip_prefix *service_prefixes;
	size_t n_service_prefixes;
};

/**
 * bird_conf_peer_name() - Calico's protocol name for @p: "Mesh_198_18_0_12",
 * "Global_2001_db8__1", "Node_..." (every '.' and ':' becomes '_'), with "_port_<n>" appended
 * when @p->port is set and is not 179, into @buf of @size bytes.
 * Return: @buf.
 */
char *bird_conf_peer_name(const struct bgp_peer *p, char *buf, size_t size);

/**
 * bird_conf_peer_type_from_name() - inverse mapping of the prefix ("Mesh_" -> BGP_PEER_MESH);
 * _BGP_PEER_TYPE_INVALID for a name that is not ours.
 */
enum bgp_peer_type bird_conf_peer_type_from_name(const char *name);

/** bgp_peer_type_to_string() - "node-to-node mesh", "global", "node specific". */
const char *bgp_peer_type_to_string(enum bgp_peer_type t);

/**
 * bird_conf_community_parse() - "64512:100" (standard, each part 0..65535) or "64512:1:2"
 * (large, each part 0..4294967295) into @ret (RFC 1997, RFC 8092).
 * Return: 0 or -EINVAL (@ret untouched).
 */
int bird_conf_community_parse(const char *s, struct bgp_community *ret) _warn_unused_result_;

/**
 * bird_conf_log_level_from_string() - Calico's logSeverityScreen ("Debug", "Info", "Warning",
 * "Error", "Fatal", "None"; case-insensitive) to the enum; NULL gives BGP_LOG_INFO.
 * Return: the level or _BGP_LOG_INVALID.
 */
enum bgp_log_level bird_conf_log_level_from_string(const char *s);

/**
 * bird_conf_render() - the whole bird.conf for @m, appended to @out.
 * Globally (BIRD 2.0 user guide, "Global options"): "graceful restart wait <s>", always, so that
 * a BIRD started with -R (graceful restart recovery after a crash) defers its kernel sync for at
 * most @m->gr_wait_s seconds (default 120 s, the restart time BIRD advertises to its peers,
 * RFC 4724 section 3: they drop our stale routes after it anyway) instead of BIRD's 240 s when a
 * peer is down or never sends End-of-RIB.
 * Per peer (BIRD 2.0 user guide, "BGP"): "passive on", "rr client" + "rr cluster id",
 * "password", "hold time"/"keepalive time", "graceful restart time", "ttl security on" (plus
 * "multihop <n>" and a recursive gateway beyond one hop), "allow local as <n>", "bfd { interval;
 * multiplier; }" (and one "protocol bfd" when any peer uses BFD), "next hop self|keep" in the
 * channel, "local as <n>" when @p->local_as is set (Calico BGPPeer localASNumber).
 * Service ranges (@m->service_prefixes, Calico "Advertise Kubernetes service IP addresses"):
 * one "protocol static tabby_services" with "route <cidr> blackhole" per IPv4 range, accepted
 * by the BGP export filter for every peer (mesh, route reflector, BGPPeer) and rejected by the
 * kernel export filter, so the host never gets a blackhole route for them from BIRD.
 * Return: 0, -EINVAL (router id not IPv4, as_number 0, a hold time outside 3..65535, a
 * graceful restart wait above 3600 s, an
 * unsafe string, a local_as that makes a route reflector client eBGP, an eBGP route reflector client, a bad prefix), or -ENOMEM; @out is unchanged
 * on failure.
 */
int bird_conf_render(const struct bgp_model *m, struct strbuf *out) _warn_unused_result_;
