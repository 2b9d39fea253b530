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

struct bgp_peer {
	enum bgp_peer_type type;
	struct ip_addr addr;
	uint32_t as_number;
	bool passive;	/* wait for the peer to connect */
	bool rr_client; /* the local node reflects routes to this peer */
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
	struct bgp_peer *peers; /* sorted by address (bird_conf_render sorts a copy anyway) */
	size_t n_peers;
	const char *log_file;	/* NULL = syslog */
	unsigned kernel_scan_s; /* protocol kernel/device scan time; 0 = 10 */
	unsigned keepalive_s;	/* 0 = BIRD's default */
	unsigned hold_s;	/* 0 = BIRD's default */
	bool fast_timers;	/* lab: connect delay 1, retry 5, error wait 1,10 */
	uint16_t listen_port;	/* 0 = 179 */
};

/**
 * bird_conf_peer_name() - Calico's protocol name for @p: "Mesh_198_18_0_12",
 * "Global_2001_db8__1", "Node_..." (every '.' and ':' becomes '_'), into @buf of @size bytes.
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
 * bird_conf_render() - the whole bird.conf for @m, appended to @out.
 * Return: 0, -EINVAL (router id not IPv4, as_number 0), or -ENOMEM.
 */
int bird_conf_render(const struct bgp_model *m, struct strbuf *out) _warn_unused_result_;
