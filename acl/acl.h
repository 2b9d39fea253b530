/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * Policy compiler: Calico NetworkPolicy / GlobalNetworkPolicy / Tier / Profile semantics
 * (docs.tigera.io "Calico resources: NetworkPolicy, GlobalNetworkPolicy, Tier", "Policy
 * tiers", "Host endpoints") turned into an IR that the nftables and iptables renderers print.
 * Pure: no I/O. Three steps, all deterministic:
 *
 *   acl_index_new()    policy set -> index: tiers and policies sorted, every selector parsed
 *                      once, every rule compiled once, one named set per distinct address match
 *                      (selector canonical text, nets list, named port). O(total rules).
 *   acl_compile()      index x one local endpoint -> ruleset: per direction the ordered policies
 *                      (by tier) that select it. O(policies) selector matches, no allocation
 *                      per non-matching policy; the rules themselves are shared, not copied.
 *   acl_set_members()  index x all endpoints and network sets cluster-wide -> the members of
 *                      every set. O(sets x (endpoints + network sets)); acl_set_memberships()
 *                      gives one endpoint's sets in O(sets) for incremental element updates.
 *
 * Kubernetes NetworkPolicies are passed in their Calico form (model_k8s_policy_translate()).
 */

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "acl/selector.h"
#include "lib/cidr.h"
#include "lib/parse-err.h"
#include "lib/strbuf.h"
#include "model/model.h"

/* Packet-mark bits owned by tabby's policy chains (Calico uses bits of 0xffff0000 too). */
#define ACL_MARK_ACCEPT 0x00010000u /* a policy or profile allowed the packet */
#define ACL_MARK_PASS 0x00020000u   /* a Pass rule: skip the rest of the tier */
#define ACL_MARK_MASK (ACL_MARK_ACCEPT | ACL_MARK_PASS)

#define ACL_MAX_POLICIES 100000
#define ACL_MAX_SETS 200000
#define ACL_ID_LEN 17 /* 16 hex digits + NUL */

enum acl_dir {
	ACL_DIR_INGRESS, /* to the workload ("tw"), or into the host for a host endpoint */
	ACL_DIR_EGRESS,	 /* from the workload ("fw"), or out of the host */
	_ACL_DIR_MAX,
	_ACL_DIR_INVALID = -22,
};

enum acl_set_kind {
	ACL_SET_SELECTOR,   /* IPs of endpoints + CIDRs of network sets that the selector matches */
	ACL_SET_NETS,	    /* literal nets of a rule */
	ACL_SET_NAMED_PORT, /* (ip, protocol, port) of matching endpoints' named port */
	_ACL_SET_KIND_MAX,
};

struct acl_set {
	enum acl_set_kind kind;
	char id[ACL_ID_LEN]; /* FNV-1a 64 of @definition, hex; names the kernel set */
	char *definition;   /* "sel:<canonical>", "nets:<p>,<p>", "np:<proto>:<name>:<canonical>" */
	struct sel *sel;    /* SELECTOR, NAMED_PORT */
	char *port_name;    /* NAMED_PORT */
	uint8_t port_proto; /* NAMED_PORT: 6, 17, 132, or 0 = any */
	struct ip_prefix *nets; /* NETS: sorted, none inside another */
	size_t n_nets;
	bool has_v4, has_v6; /* NETS: which families occur */
	size_t pos;	     /* position in acl_index.sets (and acl_members.sets) */
};

struct acl_port_range {
	uint16_t first, last;
};

/* One side (source or destination) of a rule; NULL sets and empty lists do not constrain. */
struct acl_side {
	const struct acl_set *nets, *not_nets;
	const struct acl_set *sel, *not_sel; /* selector (+ namespace scope), notSelector */
	struct acl_port_range *ports;	     /* numeric ports: one must match ... */
	size_t n_ports;
	const struct acl_set *named_ports; /* ... or one of these (OR with @ports) */
	struct acl_port_range *not_ports;  /* none may match */
	size_t n_not_ports;
	const struct acl_set *not_named_ports;
};

struct acl_rule {
	enum model_action action;
	uint8_t ip_version; /* 0, 4, 6 */
	int16_t protocol;   /* -1 = any */
	int16_t not_protocol;
	struct model_icmp icmp, not_icmp;
	struct acl_side src, dst;
	unsigned index; /* position in the policy's ingress/egress list (for explain) */
};

enum acl_source {
	ACL_SOURCE_POLICY, /* NetworkPolicy or GlobalNetworkPolicy */
	ACL_SOURCE_PROFILE,
};

struct acl_policy {
	enum acl_source source;
	char *name;	 /* "<namespace>/<name>" for NetworkPolicy, "<name>" otherwise */
	char *namespace; /* NetworkPolicy only */
	char id[ACL_ID_LEN];
	bool has_order;
	double order;
	bool global;	      /* GlobalNetworkPolicy: may select host endpoints */
	struct sel *selector; /* effective: selector && namespace scope */
	bool types[_ACL_DIR_MAX];
	struct acl_rule *rules[_ACL_DIR_MAX];
	size_t n_rules[_ACL_DIR_MAX];
	size_t seq; /* 0.. in index order (tiers' policies, then profiles) */
	/* A 64-bit hash of everything a render of the policy's chain for a direction reads (name,
	 * id, source, rules with their sets' ids): equal hashes, equal chains. acl_index_new()
	 * sets it; a driver restages only the chains whose hash changed since it staged them. */
	uint64_t hash[_ACL_DIR_MAX];
};

struct acl_tier {
	char *name;
	bool has_order;
	double order;
	enum model_action default_action; /* DENY or PASS */
	struct acl_policy **policies;	  /* sorted: order, unordered last, then name */
	size_t n_policies;
};

struct acl_sel_filter;

/* A policy of a tier, found by its seq. */
struct acl_seq_ref {
	const struct acl_tier *tier;
	const struct acl_policy *policy;
};

struct acl_index {
	struct acl_tier *tiers; /* sorted: order, unordered last, then name */
	size_t n_tiers;
	size_t n_seq;		     /* policies + profiles */
	struct acl_policy *profiles; /* sorted by name */
	size_t n_profiles;
	struct acl_set **sets; /* sorted by id, unique */
	size_t n_sets;
	/* Which sets an endpoint can be in, found without matching every selector (sets by the
	 * label value their selector requires; acl_endpoint_members(), acl_set_memberships()). */
	struct acl_sel_filter *filter;
	/* The same for the policies of the tiers (by seq), and each one's tier (acl_compile()). */
	struct acl_sel_filter *policy_filter;
	struct acl_seq_ref *by_seq;
};

/* What a policy set holds. All resources borrowed. */
struct acl_policy_set {
	struct model_resource *const *policies; /* NETWORK_POLICY / GLOBAL_NETWORK_POLICY */
	size_t n_policies;
	struct model_resource *const *tiers;
	size_t n_tiers;
	struct model_resource *const *profiles;
	size_t n_profiles;
	/* Optional (felix's policy edits): an earlier index, and per policy whether it is the
	 * very resource @prev compiled under the same name, unchanged since (the caller knows;
	 * nothing here compares). Such a policy is copied from @prev instead of compiled: the
	 * same result, with no selector parsed again. NULL (either): compile every policy. */
	const struct acl_index *prev;
	const bool *unchanged; /* parallel to @policies */
};

/* An endpoint as policy sees it (workload or host endpoint). All pointers borrowed. */
struct acl_endpoint {
	const char *name;      /* "<namespace>/<name>" or the host endpoint name */
	const char *namespace; /* NULL for host endpoints */
	const struct model_labels *labels;
	const struct model_labels *namespace_labels; /* the Namespace's labels; may be NULL */
	const char *orchestrator;		     /* may be NULL */
	const char *ifname; /* host-side interface; NULL for remote endpoints */
	const struct ip_addr *addrs;
	size_t n_addrs;
	const struct model_named_port *ports;
	size_t n_ports;
	char *const *profiles;
	size_t n_profiles;
	bool host; /* HostEndpoint */
};

/* A NetworkSet (namespace set) or GlobalNetworkSet (namespace NULL). Borrowed pointers. */
struct acl_netset {
	const char *namespace;
	const struct model_labels *labels;
	const struct model_labels *namespace_labels;
	const struct ip_prefix *nets;
	size_t n_nets;
};

struct acl_ep_tier {
	const struct acl_tier *tier;
	const struct acl_policy **policies;
	size_t n_policies;
};

enum acl_end {
	ACL_END_ALLOW,	  /* selected by no policy: open (tabby/DESIGN "Policy") */
	ACL_END_PROFILES, /* the endpoint's profiles decide; nothing matched = deny */
	ACL_END_DENY,	  /* host endpoint with neither policy nor profile (Calico) */
};

struct acl_ep_dir {
	struct acl_ep_tier *tiers;
	size_t n_tiers;
	bool has_policy;
	enum acl_end end; /* after the tiers (reached with no policy, or by passing out) */
	const struct acl_policy **profiles;
	size_t n_profiles;
};

struct acl_ruleset {
	char *name;
	char *ifname;
	bool host;
	struct ip_addr *addrs;
	size_t n_addrs;
	struct acl_ep_dir dir[_ACL_DIR_MAX];
};

struct acl_member {
	struct ip_prefix net;
	uint8_t proto; /* NAMED_PORT sets */
	uint16_t port;
};

struct acl_set_members {
	struct acl_member *items; /* sorted, unique */
	size_t n;
};

/* Members of every set of an index, parallel to index->sets. */
struct acl_members {
	struct acl_set_members *sets;
	size_t n_sets;
};

/**
 * acl_index_new() - compile a policy set: parse every selector once, sort tiers and policies,
 * compile every rule, collect the sets.
 * @ps: borrowed; policies of kinds other than NetworkPolicy/GlobalNetworkPolicy are -EINVAL.
 *      preDNAT and doNotTrack policies are skipped (not enforced by tabby).
 * @ret: the index (acl_index_free()); untouched on failure.
 * @reterr: on -EINVAL: field = "<kind> <name>: spec.ingress[2].source.selector", column of the
 *          selector problem, message.
 * Return: 0, -EINVAL, -E2BIG (more than ACL_MAX_POLICIES / ACL_MAX_SETS) or -ENOMEM.
 */
int acl_index_new(const struct acl_policy_set *ps, struct acl_index **ret,
		  struct parse_err *reterr) _warn_unused_result_;

/** acl_index_free() - NULL-safe. Return: NULL. */
struct acl_index *acl_index_free(struct acl_index *idx);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct acl_index *, acl_index_free);

/**
 * acl_compile() - the ruleset of one local endpoint: per direction, the tiers (in order) with
 * the policies (in order) that select @ep and apply in that direction; then what happens after
 * the tiers (enum acl_end). NetworkPolicies select only endpoints of their namespace; only
 * GlobalNetworkPolicies select host endpoints. @ep must have an ifname.
 * @ret: borrows from @idx (keep @idx alive); free with acl_ruleset_free().
 * Return: 0, -EINVAL (no ifname) or -ENOMEM.
 */
int acl_compile(const struct acl_index *idx, const struct acl_endpoint *ep,
		struct acl_ruleset **ret) _warn_unused_result_;

/** acl_ruleset_free() - NULL-safe. Return: NULL. */
struct acl_ruleset *acl_ruleset_free(struct acl_ruleset *rs);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct acl_ruleset *, acl_ruleset_free);

/**
 * acl_set_members() - the members of every set in @idx, from every endpoint (local and remote)
 * and network set of the cluster. Selector sets: the endpoints' addresses as host prefixes and
 * the network sets' CIDRs, sorted, with prefixes inside others dropped. Named-port sets:
 * (address, protocol, port) of each matching endpoint's named port of that name (and protocol,
 * when the rule gave one). Nets sets: their nets.
 * Return: 0 or -ENOMEM. Free with acl_members_free().
 */
int acl_set_members(const struct acl_index *idx, const struct acl_endpoint *eps, size_t n_eps,
		    const struct acl_netset *netsets, size_t n_netsets,
		    struct acl_members **ret) _warn_unused_result_;

/** acl_members_free() - NULL-safe. Return: NULL. */
struct acl_members *acl_members_free(struct acl_members *m);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct acl_members *, acl_members_free);

/**
 * acl_set_memberships() - call @cb for each selector or named-port set of @idx that @ep belongs
 * to (in index order), so that one endpoint change is a set-element update: O(sets).
 * Return: 0, or the first negative value @cb returns.
 */
int acl_set_memberships(const struct acl_index *idx, const struct acl_endpoint *ep,
			int (*cb)(const struct acl_set *set, void *userdata), void *userdata);

/**
 * acl_endpoint_members() - call @cb once for every member @ep contributes to the selector and
 * named-port sets of @idx (in index order), exactly as acl_set_members() counts it: a host
 * prefix per address for a selector set, (host prefix, protocol, port) per address and
 * matching named port for a named-port set. A member may be reported twice (an address listed
 * twice); acl_set_members() keeps one. This is what an incremental calculation adds when @ep
 * appears and removes when it goes: O(sets).
 * Return: 0, or the first negative value @cb returns.
 */
int acl_endpoint_members(const struct acl_index *idx, const struct acl_endpoint *ep,
			 int (*cb)(const struct acl_set *set, const struct acl_member *m,
				   void *userdata),
			 void *userdata);

/**
 * acl_netset_members() - as acl_endpoint_members() for a network set: its CIDRs (host bits
 * cleared) for every selector set whose selector matches it. acl_set_members() then drops
 * prefixes that lie inside another member of the same selector set.
 * Return: 0, or the first negative value @cb returns.
 */
int acl_netset_members(const struct acl_index *idx, const struct acl_netset *ns,
		       int (*cb)(const struct acl_set *set, const struct acl_member *m,
				 void *userdata),
		       void *userdata);

/** acl_member_cmp() - the order of struct acl_set_members items: prefix, protocol, port. */
int acl_member_cmp(const struct acl_member *a, const struct acl_member *b);

/** acl_set_index() - position of the set with @id in idx->sets, or -1. */
ssize_t acl_set_index(const struct acl_index *idx, const char *id);

/* A packet for acl_explain(): addresses in the IP header's orientation. */
struct acl_packet {
	struct ip_addr src, dst;
	uint8_t proto; /* 0 = none */
	uint16_t sport, dport;
	int16_t icmp_type, icmp_code; /* -1 when not ICMP */
};

enum acl_reason {
	ACL_REASON_RULE,	 /* policy/profile rule @rule of @policy */
	ACL_REASON_TIER_DEFAULT, /* end of tier @tier: its defaultAction */
	ACL_REASON_NO_POLICY,	 /* selected by no policy and no profiles: open */
	ACL_REASON_PROFILES_END, /* the profiles matched nothing: deny */
	ACL_REASON_HOST_DEFAULT, /* host endpoint with no policy: deny */
	ACL_REASON_SPOOF,	 /* egress: source is not one of the endpoint's addresses */
	ACL_REASON_PASSED_OUT,	 /* passed out of the last tier, no profiles: open */
};

struct acl_verdict {
	enum model_action action; /* ALLOW or DENY (final) */
	enum acl_reason reason;
	const char *tier;		 /* borrowed from the index; NULL when not a tier verdict */
	const struct acl_policy *policy; /* RULE */
	enum acl_dir dir;
	unsigned rule;	   /* index in the policy's rules of @dir */
	unsigned n_logged; /* Log rules passed on the way */
};

/**
 * acl_explain() - which policy or rule decides @pkt in direction @dir of the endpoint @rs,
 * evaluated over the same IR the renderers print (so `tabbyctl policy explain` matches the
 * dataplane). Set membership comes from @m (acl_set_members() over the same @idx).
 * Established-connection state is not modelled: this is the verdict for a new connection.
 * Return: 0 or -EINVAL (@m does not belong to @idx).
 */
int acl_explain(const struct acl_index *idx, const struct acl_members *m,
		const struct acl_ruleset *rs, enum acl_dir dir, const struct acl_packet *pkt,
		struct acl_verdict *ret) _warn_unused_result_;

/** acl_dir_to_string() - "ingress" / "egress". */
const char *acl_dir_to_string(enum acl_dir dir);

/* ---- renderers ---- */

enum acl_e2h_action {
	ACL_E2H_DROP, /* Calico default */
	ACL_E2H_ACCEPT,
	ACL_E2H_RETURN, /* continue with host-endpoint policy / the rest of INPUT */
	_ACL_E2H_MAX,
	_ACL_E2H_INVALID = -22,
};

/* FelixConfiguration's policy subset as the renderers need it. */
struct acl_host_config {
	enum acl_e2h_action endpoint_to_host;
	const struct model_proto_port *failsafe_in; /* NULL with n == 0: Calico's defaults */
	size_t n_failsafe_in;
	bool has_failsafe_in; /* true: use the list even when empty */
	const struct model_proto_port *failsafe_out;
	size_t n_failsafe_out;
	bool has_failsafe_out;
};

/**
 * acl_host_config_from_model() - from a FelixConfiguration (NULL = all defaults); borrows its
 * lists. Return: 0 or -EINVAL (defaultEndpointToHostAction not Drop/Accept/Return).
 */
int acl_host_config_from_model(const struct model_felix_configuration *fc,
			       struct acl_host_config *ret) _warn_unused_result_;

/** acl_default_failsafe() - Calico's default failsafe lists (inbound or outbound). */
const struct model_proto_port *acl_default_failsafe(bool inbound, size_t *ret_n);

/* Everything one render needs. Borrowed. */
/*
 * struct acl_ipt_keep - lets acl_render_ipt() leave out the rules of chains the caller has
 * loaded already (the iptables driver's delta path, issue 8). For every endpoint chain
 * (tby-{fw,tw,hi,ho}-<if>, with its tby-as-<if>) and every policy / profile chain
 * (tby-{p,r}{i,e}-<id>) the renderer computes a fingerprint, a 64-bit hash of everything that
 * chain's rules are made from in that family: equal fingerprints, equal rules. It calls
 * @keep(@ctx, chain name, fingerprint) for each; when that returns true, the chain is still
 * declared but its "-A" lines are replaced by one "#keep <chain>" line (and "#keep
 * tby-as-<if>" for its anti-spoofing chain), which iptables-restore would skip as a comment.
 */
struct acl_ipt_keep {
	bool (*keep)(void *ctx, const char *chain, uint64_t fp);
	void *ctx;
};

struct acl_render_input {
	const struct acl_index *idx;
	const struct acl_members *members;
	struct acl_ruleset *const *rulesets; /* the local endpoints (workloads and hosts) */
	size_t n_rulesets;
	const struct acl_host_config *host;  /* NULL = defaults */
	const struct acl_ipt_keep *ipt_keep; /* acl_render_ipt() only; NULL = every rule */
};

/**
 * acl_render_nft() - one nftables script for `table inet tabby` (see the DOC in
 * render-nft.c), to be run as a single `nft -f` transaction: it creates the table if missing,
 * deletes it and defines it again, so the kernel switches atomically and no other table is
 * touched. Deterministic for a given input. Appends to @out.
 * Return: 0, -EINVAL (a ruleset without ifname) or -ENOMEM.
 */
int acl_render_nft(const struct acl_render_input *in, struct strbuf *out) _warn_unused_result_;

#define ACL_IPT_HOOKS 0x1 /* also insert the jumps from INPUT/FORWARD/OUTPUT (first apply) */

/**
 * acl_render_ipt() - iptables-restore text for the filter table of one family (AF_INET:
 * iptables, AF_INET6: ip6tables) to be loaded with `iptables-restore --noflush`: declares
 * (and so flushes) every tby- chain and fills it; each rule carries
 * `-m comment --comment "tby:<16 hex>"`. With ACL_IPT_HOOKS the text also inserts
 * `-j tby-input|tby-forward|tby-output` at the top of the built-in chains (the driver passes
 * the flag only when `iptables -C` finds the jump missing). With @in->ipt_keep, the chains it
 * keeps are declared and marked "#keep <chain>" instead of filled (struct acl_ipt_keep).
 * Appends the `ipset restore` script for the sets it references to @ipset.
 * Return: 0, -EINVAL or -ENOMEM.
 */
int acl_render_ipt(const struct acl_render_input *in, int family, unsigned flags,
		   struct strbuf *out, struct strbuf *ipset) _warn_unused_result_;

#define ACL_IPSET_NAME_MAX 32 /* ipset names incl. NUL (IPSET_MAXNAMELEN) */

/**
 * acl_ipset_name() - the ipset that holds set @s for @family (AF_INET or AF_INET6):
 * "tby-{s,n,p}{4,6}-<id>" (s: selector, n: nets, p: named port), at most 27 bytes + NUL, into @buf.
 * The iptables renderer and the iptables driver's member deltas both name sets through it.
 */
void acl_ipset_name(const struct acl_set *s, int family, char buf[static ACL_IPSET_NAME_MAX]);

/**
 * acl_ipset_proto() - ipset's name for IP protocol number @proto in a hash:ip,port member
 * ("tcp" 6, "udp" 17, "sctp" 132, "udplite" 136; ipset(8) "hash:ip,port"), or NULL for any other
 * protocol, which such a set cannot hold.
 */
const char *acl_ipset_proto(uint8_t proto);
