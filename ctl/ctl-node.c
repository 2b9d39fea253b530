/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `tabbyctl node status`, laid out like `calicoctl node status`: the BGP sessions of the local
 * BIRD that tabby configured (protocol names "Mesh_", "Global_", "Node_" + the peer address with
 * '.'/':' written as '_', see bgp/bird-conf.h), per address family.
 */
#include <errno.h>
#include <getopt.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bgp/bird-conf.h"
#include "bgp/bird-ctl.h"
#include "ctl/ctl.h"
#include "lib/cidr.h"

/* "Mesh_198_18_0_12" -> 198.18.0.12; "Node_2001_db8__12" -> 2001:db8::12;
 * "Node_198_18_4_1_port_1790" -> 198.18.4.1. */
static int peer_addr_from_name(const char *name, struct ip_addr *ret)
{
	const char *u = strchr(name, '_');
	char buf[64];

	if (!u || strlen(u + 1) >= sizeof(buf))
		return -EINVAL;
	snprintf(buf, sizeof(buf), "%s", u + 1);
	/* "Node_198_18_4_1_port_1790": a peer on another port (bird_conf_peer_name()). */
	char *port = strstr(buf, "_port_");
	if (port)
		*port = '\0';
	for (char *p = buf; *p; p++)
		if (*p == '_')
			*p = '.';
	if (ip_addr_parse(buf, ret) >= 0 && ret->family == AF_INET)
		return 0;
	for (char *p = buf; *p; p++)
		if (*p == '.')
			*p = ':';
	return ip_addr_parse(buf, ret);
}

int ctl_node(int argc, char **argv)
{
	static const struct option opts[] = {
	    CTL_GLOBAL_LONGOPTS,
	    {"bird-socket", required_argument, NULL, 's'},
	    {"output", required_argument, NULL, 'o'},
	    {},
	};
	const char *env = getenv("TABBY_BIRD_SOCKET");
	const char *sock = env && *env ? env : CTL_DEFAULT_BIRD_SOCKET;
	_cleanup_free_ struct bird_protocol *protos = NULL;
	struct json_object *peers = NULL;
	bool json = false;
	size_t n = 0;
	int c, r;

	while ((c = getopt_long(argc, argv, "o:", opts, NULL)) >= 0) {
		switch (c) {
		case 's':
			sock = optarg;
			break;
		case 'o':
			if (strcmp(optarg, "json") != 0)
				return ctl_err("unknown output format \"%s\" (json)", optarg);
			json = true;
			break;
		case CTL_OPT_ENDPOINTS:
			arg_endpoints = optarg;
			break;
		default:
			return -EINVAL;
		}
	}
	if (argc - optind != 1 || strcmp(argv[optind], "status") != 0)
		return ctl_err("usage: tabbyctl node status [--bird-socket PATH] [-o json]");
	r = bird_ctl_show_protocols(sock, &protos, &n);
	if (r < 0)
		return ctl_err("cannot reach BIRD at %s: %s (is BIRD running?)", sock,
			       strerror(-r));
	if (json) {
		peers = json_object_new_array();
		if (!peers)
			return -ENOMEM;
	} else {
		printf("BIRD is running (control socket %s).\n", sock);
	}
	for (int family = AF_INET; family; family = family == AF_INET ? AF_INET6 : 0) {
		struct ctl_table t;
		size_t rows = 0;

		r = ctl_table_init(&t, (const char *const[]){"PEER ADDRESS", "PEER TYPE", "STATE",
							     "SINCE", "INFO", NULL});
		if (r < 0)
			break;
		for (size_t i = 0; r >= 0 && i < n; i++) {
			const struct bird_protocol *p = &protos[i];
			enum bgp_peer_type type = bird_conf_peer_type_from_name(p->name);
			char addr[IP_ADDR_STRLEN];
			struct ip_addr a;

			if (type < 0 || strcmp(p->proto, "BGP") != 0 ||
			    peer_addr_from_name(p->name, &a) < 0 || a.family != family)
				continue;
			ip_addr_format(&a, addr);
			rows++;
			if (json) {
				struct json_object *o = json_object_new_object();

				if (!o) {
					r = -ENOMEM;
					break;
				}
				json_object_object_add(o, "peerAddress",
						       json_object_new_string(addr));
				json_object_object_add(
				    o, "peerType",
				    json_object_new_string(bgp_peer_type_to_string(type)));
				json_object_object_add(o, "state",
						       json_object_new_string(p->state));
				json_object_object_add(o, "since",
						       json_object_new_string(p->since));
				json_object_object_add(o, "info", json_object_new_string(p->info));
				json_object_object_add(o, "protocol",
						       json_object_new_string(p->name));
				json_object_array_add(peers, o);
				continue;
			}
			r = ctl_table_add(&t,
					  (const char *const[]){addr, bgp_peer_type_to_string(type),
								p->state, p->since, p->info});
		}
		if (!json && r >= 0) {
			const char *fam = family == AF_INET ? "IPv4" : "IPv6";

			printf("\n%s BGP status\n", fam);
			if (rows)
				ctl_table_print(&t, true);
			else
				printf("No %s peers found.\n", fam);
		}
		ctl_table_done(&t);
	}
	if (json && r >= 0)
		puts(json_object_to_json_string_ext(peers, JSON_C_TO_STRING_PRETTY |
							       JSON_C_TO_STRING_SPACED |
							       JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(peers);
	return r;
}
