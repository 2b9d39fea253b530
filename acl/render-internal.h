/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/* Helpers shared by the nftables and iptables renderers (acl/render-*.c only). */

#include "acl/acl.h"

#define ACL_FAM_V4 0x1u
#define ACL_FAM_V6 0x2u

/* What one render uses: policies by seq, sets by pos; rulesets sorted by ifname. */
struct acl_used {
	bool *policies; /* idx->n_seq */
	const struct acl_policy **by_seq;
	bool *sets; /* idx->n_sets */
	struct acl_ruleset **rulesets;
	size_t n_rulesets;
};

int acl_used_collect(const struct acl_render_input *in, struct acl_used *ret);
void acl_used_done(struct acl_used *u);

/* Families in which @r can match (ACL_FAM_*), from ipVersion, protocol, ICMP and literal nets. */
unsigned acl_rule_families(const struct acl_rule *r);

/* Does a NETS set have members of @fam (AF_INET/AF_INET6)? Other kinds: always true. */
bool acl_set_has_family(const struct acl_set *s, int fam);

/* [A-Za-z0-9_.-], 1..15 bytes: safe in chain names and quoted strings of both tools. */
bool acl_ifname_ok(const char *ifname);

/* "<policy> <dir>[<index>]" (truncated to fit @size) for comments and log prefixes. */
void acl_rule_label(char *buf, size_t size, const struct acl_policy *p, enum acl_dir dir,
		    unsigned index);

/* ICMPv6 types always accepted from workloads to the host (Calico's ICMPv6Filter: MLD
 * 130-132, RS 133, NS 135, NA 136), and neighbour discovery (133-136) accepted on input from
 * other interfaces and on output. Defined in render-common.c. */
#define ACL_ICMP6_FROM_WL_N 6
#define ACL_ICMP6_ND_N 4
extern const uint8_t acl_icmp6_from_wl[ACL_ICMP6_FROM_WL_N];
extern const uint8_t acl_icmp6_nd[ACL_ICMP6_ND_N];

const struct acl_host_config *acl_host_or_default(const struct acl_host_config *h);
const struct model_proto_port *acl_failsafe(const struct acl_host_config *h, bool inbound,
					    size_t *ret_n);
