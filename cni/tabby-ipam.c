/* SPDX-License-Identifier: Apache-2.0 */
/**
 * DOC: tabby-ipam, the CNI IPAM plugin
 *
 * ADD assigns one address per requested family (ipam.assign_ipv4, default "true";
 * ipam.assign_ipv6, default "false": Calico's keys) to the handle "<network name>.<container
 * id>" from the node's blocks (ipam_auto_assign(), idempotent per handle), or the pinned ones,
 * and returns them as a CNI IPAM result, IPv4 first (ips only; SPEC.md "IP Allocation"). It is
 * all or nothing: when the IPv6 address cannot be assigned, the IPv4 one is released again.
 * DEL releases every address of the handle, both families (idempotent). CHECK verifies the
 * handle still holds an address of each requested family. The main plugin calls it as a delegate with the
 * same environment and stdin.
 *
 * The commands live in cni/ipam-plugin.c, which the tabby plugin also calls in its own process
 * when its ipam.type is "tabby-ipam".
 *
 * ADD and DEL run under this host's IPAM lock (ipam_host_lock(), as Calico's calico-ipam): the
 * file "ipam.lock_file" of the network configuration, else env TABBY_IPAM_LOCK_FILE, else
 * IPAM_HOST_LOCK_DEFAULT (/var/run/tabby/ipam.lock). Every plugin on one host must name the same
 * file; a lab or test that runs several "hosts" on one machine gives each its own.
 */

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include "cni/cni.h"
#include "cni/ipam-plugin.h"
#include "lib/log.h"

/* The command with a datastore client of its own (a process serves one command). */
static int run(const char *cmd, const struct cni_conf *c, const struct cni_env *env,
	       struct cni_error *e)
{
	_cleanup_(ds_client_freep) struct ds_client *ds = NULL;
	_cleanup_free_ char *node = NULL;
	struct cni_ips ips = {};
	int r;

	if (strcmp(cmd, "ADD") == 0) {
		r = cni_conf_nodename(c, &node, e);
		if (r < 0)
			return r;
	}
	r = cni_conf_datastore(c, &ds, e);
	if (r < 0)
		return r;
	if (strcmp(cmd, "ADD") == 0) {
		r = cni_ipam_add_ips(c, env, ds, node, NULL, &ips, NULL, e);
		if (r >= 0)
			cni_ipam_print_result_ips(c, &ips);
		return r;
	}
	if (strcmp(cmd, "DEL") == 0)
		return cni_ipam_del(c, env, ds, e);
	return cni_ipam_check(c, env, ds, e);
}

int main(int argc, char **argv)
{
	struct cni_error e = {};
	struct cni_conf c = {};
	struct cni_env env = {};
	const char *cmd = getenv("CNI_COMMAND");
	int r;

	log_set_ident("tabby-ipam");
	log_set_level(LOG_LEVEL_INFO);

	if (!cmd || !*cmd) {
		cni_fail(&e, -EINVAL, CNI_ERR_INVALID_ENV, "CNI_COMMAND: missing");
		cni_error_print(NULL, &e);
		return 1;
	}
	if (strcmp(cmd, "VERSION") == 0) {
		cni_cmd_version();
		return 0;
	}

	r = cni_conf_read(STDIN_FILENO, false, &c, &e);
	if (r >= 0 && c.log_level)
		log_set_level(log_parse_level(c.log_level));
	if (r >= 0)
		r = cni_env_read(&env, false, false, &e);
	if (r >= 0) {
		if (strcmp(cmd, "ADD") == 0 || strcmp(cmd, "DEL") == 0)
			r = run(cmd, &c, &env, &e);
		else if (strcmp(cmd, "CHECK") == 0) {
			if (c.version < CNI_VERSION_0_4_0)
				r = cni_fail(&e, -EINVAL, CNI_ERR_INCOMPATIBLE_VERSION,
					     "CHECK needs cniVersion 0.4.0 or later, got %s",
					     c.cni_version);
			else
				r = run(cmd, &c, &env, &e);
		} else
			r = cni_fail(&e, -EINVAL, CNI_ERR_INVALID_ENV,
				     "CNI_COMMAND: unknown command \"%s\"", cmd);
	}
	if (r < 0)
		cni_report_failure(cmd, r, &c, &e);
	cni_env_done(&env);
	cni_conf_done(&c);
	return r < 0 ? 1 : 0;
}
