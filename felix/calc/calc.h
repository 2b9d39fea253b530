/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * felix's calculation layer (pure, STYLE.md section 5): a cache of the datastore's resources
 * keyed by datastore key, fed by watch events (decode + update + mark dirty, no I/O), and
 * calc_compute(), a pure function of the cache and the local node name that gives the host's
 * desired dataplane: routes, permanent neighbours, workload interfaces to configure and the BGP
 * model for bird.conf. Follows Calico Felix's calculation graph (route resolver, IPAM block
 * affinity) in spirit: the output depends on the current model only.
 *
 * One file per calculator: cache.c (the cache), routes.c (routes, neighbours, interfaces),
 * bgp.c (the BGP model), calc.c (calc_compute() and the text form); their shared private
 * helpers are in calc-internal.h. The policy calculators have their own header, policy.h.
 */

#include <net/if.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bgp/bird-conf.h"
#include "lib/cidr.h"
#include "lib/macro.h"
#include "lib/parse-err.h"
#include "lib/strbuf.h"
#include "model/model.h"

struct model_labels;

/* Limit on how many keys the cache holds (STYLE.md section 3: every count the datastore controls
 * has a limit). */
#define CALC_CACHE_MAX_ENTRIES (1u << 20)
/* BGPConfiguration asNumber default when neither the Node nor "default" set one (Calico). */
#define CALC_DEFAULT_AS 64512

struct calc_cache;

/** calc_cache_new() - an empty cache. Return: 0 or -ENOMEM. */
int calc_cache_new(struct calc_cache **ret) _warn_unused_result_;

/** calc_cache_free() - free the cache and every entry; NULL-safe. Return: NULL. */
struct calc_cache *calc_cache_free(struct calc_cache *c);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct calc_cache *, calc_cache_free);

/**
 * calc_cache_put() - a datastore PUT: decode @value for @key and store it, replacing any
 * previous value. Keys the calculation does not use (other kinds, affinities, handles) are
 * ignored (return 0, nothing stored). The key is marked as seen (see calc_cache_mark_all()).
 * @key: full datastore key ("/tabby/v1/nodes/h1", "/tabby/v1/ipam/blocks/198.19.0.0-26").
 * @value, @len: the JSON value.
 * @err: may be NULL; where a value failed to decode.
 * Return: 1 when the key is used by the calculation, 0 when ignored, -EINVAL when the value
 * does not decode or its kind/name does not match the key (the old entry is then dropped, as
 * if deleted: a resource we cannot read must not keep its old effect), -E2BIG (more than
 * CALC_CACHE_MAX_ENTRIES) or -ENOMEM.
 */
int calc_cache_put(struct calc_cache *c, const char *key, const char *value, size_t len,
		   struct parse_err *err) _warn_unused_result_;

struct secret_kv;
struct ipam_block;

/*
 * struct calc_decoded - a PUT's value decoded by calc_cache_decode(), not yet in a cache. The
 * fields are the cache's own; only calc_cache_put_decoded() and calc_decoded_done() read them.
 */
struct calc_decoded {
	int r; /* calc_cache_decode()'s return */
	/* etcd's mod_revision of the value (ds_kv.mod_revision), set by the caller before
	 * calc_cache_put_decoded(); calc_cache_decode() leaves it 0 (unknown) */
	int64_t mod_revision;
	struct parse_err *err; /* r == -EINVAL: where (NULL when out of memory for it) */
	uint8_t kind;
	uint16_t n_secret;
	struct model_resource *res;
	struct ipam_block *block;
	struct secret_kv *secret;
};

/**
 * calc_cache_decode() - the decoding half of calc_cache_put(), which touches no cache: it may
 * run on another thread than the cache's (felix/decode-ahead.c decodes a snapshot page on two
 * cores). @key, @value, @len: as for calc_cache_put(). @d: filled in, always (r included).
 * Return: 1 (decoded), 0 (a key the calculation does not use), -EINVAL (the value does not
 * decode, or its kind/name does not match the key; d->err says where) or -ENOMEM.
 * Free @d with calc_decoded_done() unless it goes to calc_cache_put_decoded().
 */
int calc_cache_decode(const char *key, const char *value, size_t len, struct calc_decoded *d);

/**
 * calc_cache_put_decoded() - the storing half of calc_cache_put(): @d (from calc_cache_decode()
 * of @key) goes into @c, and @d is left empty whatever happens. A decode error drops the old
 * entry as calc_cache_put() does and copies d->err into @err (may be NULL).
 * Return: what calc_cache_put() returns for the same PUT.
 */
int calc_cache_put_decoded(struct calc_cache *c, const char *key, struct calc_decoded *d,
			   struct parse_err *err) _warn_unused_result_;

/** calc_decoded_done() - free what @d holds (a decoded PUT never stored); @d is left empty. */
void calc_decoded_done(struct calc_decoded *d);

/**
 * calc_cache_delete() - a datastore DELETE of @key.
 * Return: 1 when an entry was removed, 0 when the key was not cached.
 */
int calc_cache_delete(struct calc_cache *c, const char *key);

/**
 * calc_cache_known() - does @c hold @key's value at etcd mod_revision @mod_revision (> 0), so
 * that a snapshot need not read that value again (ds_watch_known_cb)? Also true for a key
 * calc_cache_put() ignores whatever its value (affinities, handles, other prefixes): no value
 * of it is needed. An entry stored without a mod_revision (0) is never known. O(1) for keys
 * asked in key order (it remembers where the last one was), else O(log n); changes nothing
 * else.
 */
bool calc_cache_known(struct calc_cache *c, const char *key, int64_t mod_revision);

/**
 * calc_cache_confirm() - a snapshot listed @key at @mod_revision and calc_cache_known() said
 * @c holds it (DS_WATCH_KEEP): confirm the entry for calc_cache_sweep(), as a PUT of the same
 * value would, without decoding anything.
 * Return: 1 (confirmed), 0 (a key the cache ignores) or -ESTALE (@c does not hold @key at
 * that mod_revision: the caller must read the value after all).
 */
int calc_cache_confirm(struct calc_cache *c, const char *key, int64_t mod_revision);

/**
 * calc_cache_save() - what @c holds, as the bytes of a cache file (felix/calc/cache-file.c),
 * appended to @out: every entry with a mod_revision except secrets, with its key and
 * mod_revision; remote WorkloadEndpoints in a compact binary form, the rest as JSON.
 * @revision: the datastore revision @c reflects (ds_watch_status().revision, > 0).
 * @ret_records: may be NULL; how many entries were written.
 * Return: 0, -EINVAL (no local node set, or @revision <= 0; nothing appended), -E2BIG (a key or
 * string too long for the format) or -ENOMEM (nothing appended then either).
 */
int calc_cache_save(const struct calc_cache *c, int64_t revision, struct strbuf *out,
		    size_t *ret_records) _warn_unused_result_;

/**
 * calc_cache_load() - put the entries of a cache file (@buf, @len bytes, written by
 * calc_cache_save() on the same node) into the empty cache @c, with their mod_revisions, as
 * if a snapshot had delivered them: the next snapshot's mark and sweep confirms or drops each.
 * @file: the file's name for errors. @ret_revision: the revision the file reflects.
 * Return: 0; -EINVAL when the file is damaged or not one (@err names the record, byte offset
 * and field); -ESTALE for another format or another node (@err says which); -EBUSY (@c is not
 * empty or has no local node); -E2BIG or -ENOMEM. On any error @c may hold part of the file:
 * free it and start with a new, empty cache.
 */
int calc_cache_load(struct calc_cache *c, const void *buf, size_t len, const char *file,
		    int64_t *ret_revision, struct parse_err *err) _warn_unused_result_;

/**
 * calc_cache_mark_all() - start of a (re)snapshot: mark every entry as unconfirmed. Each
 * calc_cache_put() during the snapshot confirms its key.
 */
void calc_cache_mark_all(struct calc_cache *c);

/**
 * calc_cache_sweep() - end of a snapshot: drop every entry not confirmed since
 * calc_cache_mark_all() (it was deleted while we were not watching).
 * Return: how many entries were dropped.
 */
size_t calc_cache_sweep(struct calc_cache *c);

/** calc_cache_dirty() - something changed since calc_cache_clear_dirty(). */
bool calc_cache_dirty(const struct calc_cache *c);
/** calc_cache_clear_dirty() - clears both calc_cache_dirty() and calc_cache_dp_dirty(). */
void calc_cache_clear_dirty(struct calc_cache *c);

/**
 * calc_cache_set_local_node() - the node felix runs on (@node, copied; NULL clears it). With it
 * set, a change of a WorkloadEndpoint of another node, before and after, leaves
 * calc_cache_dp_dirty() alone: calc_compute()'s routes, neighbours, interfaces and BGP model do
 * not read remote endpoints (only policy does, through felix/calc/policy-inc.c), so a remote
 * endpoint write costs no pass over the whole cache. Nor do the kinds only policy reads
 * (policies, tiers, network sets, host endpoints, profiles, namespaces), set or not. Remote
 * endpoints are also stored trimmed, without their local-only fields (cache.c
 * remote_wep_trim()), so the node is set once, before the first remote endpoint comes in.
 * Return: 0, -EBUSY (a different node while remote endpoints are stored) or -ENOMEM (the
 * old node is then kept).
 */
int calc_cache_set_local_node(struct calc_cache *c, const char *node) _warn_unused_result_;

/**
 * calc_cache_dp_dirty() - a change since calc_cache_clear_dirty() that calc_compute() may see:
 * anything but a WorkloadEndpoint whose spec.node was and is another node than the one set
 * by calc_cache_set_local_node() (every endpoint change counts when none is set), and but the
 * kinds only policy reads (NetworkPolicy, GlobalNetworkPolicy, KubernetesNetworkPolicy, Tier,
 * NetworkSet, GlobalNetworkSet, HostEndpoint, Profile, Namespace).
 */
bool calc_cache_dp_dirty(const struct calc_cache *c);

/**
 * calc_cache_endpoint_counts() - WorkloadEndpoints held, as local (of the node set with
 * calc_cache_set_local_node() when they were stored) and remote ones, in O(1).
 * Return: 0, or -ENODATA when no local node is set.
 */
int calc_cache_endpoint_counts(const struct calc_cache *c, size_t *ret_local,
			       size_t *ret_remote) _warn_unused_result_;

/** calc_cache_size() - entries held. */
size_t calc_cache_size(const struct calc_cache *c);

struct model_resource;

/**
 * calc_cache_foreach() - call @cb for every cached resource of @kind, in key order (the policy
 * calculation, felix/calc/policy.c, reads the cache through this). The resources are borrowed
 * until the next calc_cache_put()/calc_cache_delete()/calc_cache_sweep().
 * Return: 0, -EINVAL (a kind without a datastore plural), or the first negative value of @cb.
 */
int calc_cache_foreach(const struct calc_cache *c, enum model_kind kind,
		       int (*cb)(const struct model_resource *res, void *userdata), void *userdata);

/**
 * calc_cache_get() - the cached resource of the full datastore @key, or NULL (not cached, not a
 * resource key, or a value that did not decode). Borrowed as for calc_cache_foreach(). O(log n).
 */
const struct model_resource *calc_cache_get(const struct calc_cache *c, const char *key);

/* One desired route: a workload /32 (/128) on its host veth, scope link, a blackhole for a
 * block affine to this host, or a remote block through the VXLAN device
 * ("<block> via <tunnel addr> dev vxlan.tabby onlink", scope universe). */
struct calc_route {
	struct ip_prefix dst;
	bool blackhole;
	char ifname[IFNAMSIZ];	/* "" for a blackhole */
	struct ip_addr gateway; /* family 0: none (scope link); else the next hop, on-link */
};

/* The VXLAN device's name, VNI and UDP port (DESIGN.md "Host dataplane"; Calico uses
 * vxlan.calico, VNI 4096, port 4789: FelixConfiguration vxlanVNI/vxlanPort defaults). */
#define CALC_VXLAN_IFNAME "vxlan.tabby"
#define CALC_VXLAN_VNI 4096
#define CALC_VXLAN_PORT 4789
/* Bytes of VXLAN over IPv4 overhead (outer IPv4 20 + UDP 8 + VXLAN 8 + inner Ethernet 14):
 * the device MTU is the uplink's minus this (Calico's vxlanMTU default rule). */
#define CALC_VXLAN_OVERHEAD 50
/* IPAM handle of a node's tunnel address (Calico: "vxlan-tunnel-addr-<node>"). */
#define CALC_VXLAN_HANDLE_PREFIX "vxlan-tunnel-addr-"

/* One desired FDB entry on the VXLAN device: a remote VTEP's MAC -> its node address. */
struct calc_fdb {
	uint8_t mac[6];
	struct ip_addr dst; /* the remote Node's spec.bgp.ipv4Address */
};

/* This host's VXLAN state (calc_vxlan_compute()). */
struct calc_vxlan {
	bool enabled;	     /* an IPv4 pool selecting this node has vxlanMode Always/CrossSubnet */
	char *pool_name;     /* enabled: the first such enabled pool (key order): where the
				 tunnel address comes from; owned */
	struct ip_addr addr; /* this Node's ipv4VXLANTunnelAddr when it lies in a VXLAN pool;
				 family 0 otherwise (the agent must assign one) */
	bool node_has_addr;  /* this Node records any tunnel address or MAC (to clear) */
	bool has_mac;	     /* this Node's vxlanTunnelMACAddr, parsed into mac */
	uint8_t mac[6];
	uint32_t mtu;	       /* FelixConfiguration vxlanMTU ("node.<name>", then "default");
				 0 = not set: uplink MTU - CALC_VXLAN_OVERHEAD */
	struct calc_fdb *fdbs; /* sorted by mac, unique */
	size_t n_fdbs;
};

/* One desired permanent neighbour entry: the workload's address -> its MAC on the host veth. */
struct calc_neigh {
	struct ip_addr addr;
	uint8_t mac[6];
	char ifname[IFNAMSIZ];
};

struct calc_desired {
	struct calc_route *routes; /* sorted by dst; one per dst */
	size_t n_routes;
	struct calc_neigh *neighs; /* sorted by ifname, then addr */
	size_t n_neighs;
	char (*ifaces)[IFNAMSIZ]; /* local workload interfaces, sorted, unique */
	size_t n_ifaces;
	bool has_bgp; /* false when this node has no Node resource with an IPv4 address yet */
	struct bgp_model bgp; /* pools/blocks/peers arrays owned by this struct */
	char *bgp_node_name;  /* storage for bgp.node_name */
	char *bgp_log_file;   /* storage for bgp.log_file */
	/* Storage behind the BGP model's borrowed pointers (passwords, password files, interface
	 * globs, community lists); freed by calc_desired_done(). */
	char **bgp_strs;
	size_t n_bgp_strs, cap_bgp_strs;
	const char **bgp_ignored_ifaces;
	struct bgp_prefix_communities *bgp_pcs;
	struct bgp_community *bgp_communities;
	struct ip_prefix *bgp_services; /* storage for bgp.service_prefixes */
	/* BGPPeers left out: secret missing or unreadable, or a selector that does not parse */
	size_t bgp_skipped_peers;
	struct calc_vxlan vxlan;
};

struct calc_options {
	const char *node_name;	   /* this host's Node name (required) */
	bool bird_fast_timers;	   /* lab timers in bird.conf */
	const char *bird_log_file; /* NULL = syslog */
};

/**
 * calc_compute() - the desired state of this host from the current cache (pure).
 *   routes: for every WorkloadEndpoint with spec.node == @o->node_name, each ipNetworks entry as
 *     a host route on spec.interfaceName (Calico's route resolver); when two endpoints claim the
 *     same address the one with the smaller key wins (deterministic), the other is skipped;
 *     plus one blackhole route per IPAM block whose affinity is "host:<node_name>".
 *   neighs: a permanent entry per local workload address whose endpoint has a MAC.
 *   vxlan, and VXLAN routes/neighbours: see calc_vxlan_compute() in calc-internal.h.
 *   ifaces: every local workload interface name.
 *   bgp.vxlan_pools: every IPv4 IPPool with vxlanMode Always (BIRD installs none of their routes).
 *   bgp: router id and session address = this Node's spec.bgp.ipv4Address; AS = the Node's
 *     asNumber, else BGPConfiguration "default" asNumber, else 64512; pools = enabled IPPools
 *     without disableBGPExport; blocks = the blocks above; node-to-node mesh peers = every other
 *     Node with an IPv4 address unless BGPConfiguration "default" sets nodeToNodeMeshEnabled
 *     false. A mesh peer is passive (we wait for it to connect) when its address is lower than
 *     ours, so the higher address is always the passive side and exactly one TCP session forms.
 *   Dual stack: with spec.bgp.ipv6Address on this Node, bgp.local_addr6 is it, IPv6 pools and
 *     blocks are in the model, and every session with another Node that has an ipv6Address
 *     (mesh, route reflector, peerSelector and reverse peering) exists twice: once between the
 *     IPv4 addresses and once between the IPv6 addresses (the higher IPv6 address passive).
 *     Without it: IPv4 pools, blocks and node sessions only (BGPPeers with an IPv6 peerIP stay).
 * @ret: filled on success (free with calc_desired_done()); untouched on failure.
 * Return: 0, -EINVAL (no node name) or -ENOMEM.
 */
int calc_compute(const struct calc_cache *c, const struct calc_options *o,
		 struct calc_desired *ret) _warn_unused_result_;
/*
 * BGP beyond the mesh (issue 4), all from the cache:
 *   BGPConfiguration "default" sets the cluster: asNumber, nodeToNodeMeshEnabled,
 *     nodeMeshPassword (secretKeyRef), nodeMeshMaxRestartTime; "node.<name>" overrides, for
 *     this node only, logSeverityScreen, listenPort, bindMode, ignoredInterfaces, communities
 *     and prefixAdvertisements (each when set), as Calico's per-node configuration does.
 *   Route reflectors: when the mesh is disabled and some Node has routeReflectorClusterID, a
 *     reflector peers with every other node (as "rr client" unless that node reflects in the
 *     same cluster) and a non-reflector peers with the reflectors only (type Node_).
 *   BGPPeer (key order): applies to this node when spec.node names it, or spec.nodeSelector
 *     selects its labels, or neither is set (global, type Global_; else Node_). Both selectors
 *     are Calico selectors over Node labels (acl/selector.h: ||, &&, !, in {}, has(), ...),
 *     parsed once per calc_compute(); one that does not parse selects nothing and the BGPPeer
 *     counts in bgp_skipped_peers. peerIP gives one
 *     peer; peerSelector gives every other Node it selects (AS = spec.asNumber or the node's
 *     own). Reverse peering (Calico, unless reversePeering: Manual): when this node is
 *     selected by a BGPPeer's peerSelector, it peers back with every node the BGPPeer applies
 *     to. Between two tabby nodes the higher address is passive.
 *   One session per neighbour address and port: an explicit BGPPeer beats the implicit
 *     route-reflector peering, which beats the mesh; among BGPPeers the first key wins.
 *   Passwords: secretKeyRef {name, key} is looked up in the cached value of
 *     /tabby/v1/secrets/<name> (a JSON object of key -> password); a missing secret leaves the
 *     peer out (counted in bgp_skipped_peers). password.file is passed on as password_file for
 *     the I/O layer to read.
 */

/** calc_desired_done() - free what @d owns; NULL-safe; @d becomes zeroed. */
void calc_desired_done(struct calc_desired *d);

/**
 * calc_desired_format() - a stable text form of @d for tests and debug logs, appended to @out:
 *   "route 198.19.0.5/32 dev tbyaaaaaaaaaaa\n", "route 198.19.0.0/26 blackhole\n",
 *   "route 198.19.1.0/26 via 198.19.1.0 dev vxlan.tabby onlink\n",
 *   "vxlan pool p1 addr 198.19.0.0 mac 66:..[ mtu 1400]\n", "fdb 66:.. dst 198.18.2.2\n",
 *   "neigh 198.19.0.5 ee:.. dev tby..\n", "iface tby..\n",
 *   "bgp router-id 198.18.0.11 as 64512\n", "bgp pool ..", "bgp block ..",
 *   "bgp peer 198.18.0.12 as 64512 mesh [passive]\n".
 * Return: 0 or -ENOMEM.
 */
int calc_desired_format(const struct calc_desired *d, struct strbuf *out) _warn_unused_result_;

/*
 * natOutgoing (felix/calc/nat.c, pure). Calico's rule (felix masq_mgr.go and rules/nat.go,
 * the IPAMPool the calculation graph sends has Masquerade = spec.natOutgoing whatever
 * spec.disabled says): traffic from an address of a pool with natOutgoing to a destination
 * outside EVERY pool is masqueraded with the host's address. "all" holds every pool, disabled
 * ones included (a disabled pool still has workloads; IPAM only stops allocating from it);
 * "masq" holds every pool with natOutgoing, disabled ones included.
 */

/* Limit on pools the nat calculation takes (STYLE.md 3: counts the datastore controls). */
#define CALC_NAT_MAX_POOLS 4096

/* The two prefix sets. Each array is sorted by ip_prefix_cmp() (IPv4 first), unique, and no
 * prefix lies inside another of the same array (a pool inside a wider pool is covered by it:
 * interval sets refuse overlapping elements). */
struct calc_nat {
	struct ip_prefix *masq; /* source prefixes to masquerade */
	size_t n_masq;
	struct ip_prefix *all; /* destinations that are never masqueraded */
	size_t n_all;
};

/**
 * calc_nat_from_pools() - the nat state of @pools[0..@n) (borrowed): see above.
 * @ret: filled on success (calc_nat_done()); untouched on failure.
 * Return: 0, -E2BIG (more than CALC_NAT_MAX_POOLS pools) or -ENOMEM.
 */
int calc_nat_from_pools(const struct model_ippool *pools, size_t n,
			struct calc_nat *ret) _warn_unused_result_;

/**
 * calc_nat_compute() - calc_nat_from_pools() over every IPPool of the cache @c.
 * Return: as calc_nat_from_pools().
 */
int calc_nat_compute(const struct calc_cache *c, struct calc_nat *ret) _warn_unused_result_;

/** calc_nat_done() - free what @n owns; NULL-safe; @n becomes zeroed. */
void calc_nat_done(struct calc_nat *n);

/** calc_nat_copy() - a deep copy of @n into @ret (untouched on failure). Return: 0/-ENOMEM. */
int calc_nat_copy(const struct calc_nat *n, struct calc_nat *ret) _warn_unused_result_;

/** calc_nat_equal() - the same prefixes in both arrays. */
bool calc_nat_equal(const struct calc_nat *a, const struct calc_nat *b);

/** calc_nat_active() - some pool of @family (AF_INET, AF_INET6; AF_UNSPEC: any) masquerades. */
bool calc_nat_active(const struct calc_nat *n, int family);

/**
 * calc_nat_format() - "masq 198.19.0.0/16\n" lines then "all 198.19.0.0/16\n" lines, appended
 * to @out (tests, debug logs). Return: 0 or -ENOMEM.
 */
int calc_nat_format(const struct calc_nat *n, struct strbuf *out) _warn_unused_result_;

/* Names of the objects natOutgoing owns (they never start with "tby-", which the policy's
 * iptables driver sweeps). */
#define CALC_NAT_NFT_TABLE "tabby-nat" /* family inet */
#define CALC_NAT_IPT_CHAIN "tbynat-outgoing"
#define CALC_NAT_IPT_HOOK_COMMENT "tby:nat"

struct nft_prog;

/**
 * calc_nat_prog() - the nftables program of `table inet tabby-nat` for @n: interval sets masq4,
 * all4, masq6, all6 (the prefixes of each family) and the base chain postrouting (type nat
 * hook postrouting priority srcnat, policy accept) with two rules,
 * "ip saddr @masq4 ip daddr != @all4 masquerade" and the same for ip6. The rules do not
 * depend on @n, so a pool change is set elements only.
 * @ret: the program (nft_prog_free()), untouched on failure. Return: 0 or -ENOMEM.
 */
int calc_nat_prog(const struct calc_nat *n, struct nft_prog **ret) _warn_unused_result_;

/** calc_nat_render_nft() - the `nft -f` text of calc_nat_prog() (golden tests, debug), appended
 * to @out. Return: 0, -EINVAL or -ENOMEM. */
int calc_nat_render_nft(const struct calc_nat *n, struct strbuf *out) _warn_unused_result_;

/** calc_nat_ipset_name() - "tbynat-masq4", "tbynat-all6", ... into @buf (32 bytes). */
void calc_nat_ipset_name(bool masq, int family, char buf[static 32]);

/**
 * calc_nat_render_ipt() - the iptables form of @n for @family (AF_INET or AF_INET6), as
 * Calico's cali-nat-outgoing: appended to @ipset, an `ipset restore` script that replaces the
 * contents of the hash:net sets tbynat-masq{4,6} and tbynat-all{4,6} atomically (create
 * -exist, fill a temporary set tbynat-tmp{4,6}, swap, destroy it); appended to @rules, an
 * `iptables-restore --noflush` script for table nat: ":tbynat-outgoing - [0:0]" (declaring
 * flushes it) and "-A tbynat-outgoing -m set --match-set tbynat-masq4 src -m set !
 * --match-set tbynat-all4 dst -j MASQUERADE". When no pool of @family has natOutgoing,
 * nothing is appended (the driver removes the family's objects).
 * Return: 0, -EINVAL (family) or -ENOMEM.
 */
int calc_nat_render_ipt(const struct calc_nat *n, int family, struct strbuf *rules,
			struct strbuf *ipset) _warn_unused_result_;
