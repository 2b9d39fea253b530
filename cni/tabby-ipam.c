/* SPDX-License-Identifier: Apache-2.0 */
/**
 * DOC: tabby-ipam, the CNI IPAM plugin
 *
 * ADD assigns one IPv4 address to the handle "<network name>.<container id>" from the node's
 * blocks (ipam_auto_assign(), idempotent per handle) and returns it as a CNI IPAM result (ips
 * only; SPEC.md "IP Allocation"). DEL releases every address of the handle (idempotent). CHECK
 * verifies the handle still holds an address. The main plugin calls it as a delegate with the
 * same environment and stdin.
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
#include "ipam/ipam.h"
#include "lib/log.h"

static int build_attrs(const struct cni_env *env, const char *node, struct model_labels *ret)
{
	int r;

	r = model_labels_set(ret, "node", node);
	if (r >= 0)
		r = model_labels_set(ret, "namespace", env->pod_namespace);
	if (r >= 0 && env->pod_name)
		r = model_labels_set(ret, "pod", env->pod_name);
	return r;
}

/*
 * The address the runtime asked for (CNI_ARGS IP=, runtimeConfig.ips, args.cni.ips): it must lie
 * in an enabled pool (of ipam.ipv4_pools when given); its block is claimed for this node when it
 * does not exist yet, else the address is borrowed from the block as it is (Calico's AssignIP).
 * An address held by another handle fails, and nothing is allocated then.
 */
static int assign_pinned(struct ds_client *ds, const struct ipam_assign_args *args,
			 const struct ip_addr *addr, const struct cni_conf *c, struct cni_error *e)
{
	char buf[IP_ADDR_STRLEN];
	int r;

	ip_addr_format(addr, buf);
	r = ipam_assign_ip(ds, args, addr);
	if (r == -EEXIST)
		return cni_fail(e, r, CNI_ERR_ADDRESS_IN_USE,
				"requested address %s is already in use by another container", buf);
	if (r == -ENOENT)
		return cni_fail(e, r, CNI_ERR_ADDRESS_NOT_IN_POOL,
				"requested address %s lies in no enabled IP pool%s", buf,
				c->ipv4_pools ? " of ipam.ipv4_pools" : "");
	if (r < 0) {
		log_error_errno(r, "assign %s to %s: %m", buf, args->handle);
		return cni_datastore_error(e, r, false, "IPAM assign");
	}
	log_info("assigned the requested address %s to %s", buf, args->handle);
	return 0;
}

/* Every command starts with the handle "<network name>.<container id>" and a datastore client;
 * on failure the caller's cleanup frees whatever was filled. */
static int handle_and_datastore(const struct cni_conf *c, const struct cni_env *env, char **handle,
				struct ds_client **ds, struct cni_error *e)
{
	int r = cni_handle_id(c, env, handle, e);

	if (r < 0)
		return r;
	return cni_conf_datastore(c, ds, e);
}

/* "ipam.lock_file", else TABBY_IPAM_LOCK_FILE, else the default. */
static const char *lock_path(const struct cni_conf *c)
{
	struct json_object *ipam, *f;
	const char *v;

	if (c->root && json_object_object_get_ex(c->root, "ipam", &ipam) &&
	    json_object_object_get_ex(ipam, "lock_file", &f) &&
	    json_object_is_type(f, json_type_string) && *json_object_get_string(f))
		return json_object_get_string(f);
	v = getenv("TABBY_IPAM_LOCK_FILE");
	return v && *v ? v : IPAM_HOST_LOCK_DEFAULT;
}

static void lock_closep(int *fd)
{
	if (*fd >= 0)
		close(*fd);
}

/* Take the host's IPAM lock: an fd to close when done (the lock goes with it). */
static int host_lock(const struct cni_conf *c, struct cni_error *e)
{
	const char *path = lock_path(c);
	int fd = ipam_host_lock(path);

	if (fd < 0)
		return cni_fail(e, fd, CNI_ERR_IO, "IPAM lock file %s (ipam.lock_file): %s", path,
				strerror(-fd));
	return fd;
}

static int ipam_add(const struct cni_conf *c, const struct cni_env *env, struct cni_error *e)
{
	_cleanup_(ds_client_freep) struct ds_client *ds = NULL;
	_cleanup_free_ char *node = NULL, *handle = NULL;
	struct model_labels attrs = {};
	struct ip_addr addr = {};
	struct ip_prefix block = {};
	char abuf[IP_ADDR_STRLEN], bbuf[IP_PREFIX_STRLEN], cidr[IP_PREFIX_STRLEN];
	struct json_object *res, *ips, *ip;
	_cleanup_(lock_closep) int lock = -1;
	int r;

	r = cni_conf_nodename(c, &node, e);
	if (r < 0)
		return r;
	r = handle_and_datastore(c, env, &handle, &ds, e);
	if (r < 0)
		return r;
	lock = host_lock(c, e);
	if (lock < 0)
		return lock;
	r = build_attrs(env, node, &attrs);
	if (r < 0) {
		model_labels_done(&attrs);
		return cni_fail(e, r, CNI_ERR_INTERNAL, "IPAM attributes: %s", strerror(-r));
	}

	struct ipam_assign_args args = {
	    .node = node,
	    .handle = handle,
	    .attrs = &attrs,
	    .family = AF_INET,
	    .pool_names = c->ipv4_pools,
	};
	r = cni_pinned_ip(c, env, &addr, e);
	if (r > 0) {
		r = assign_pinned(ds, &args, &addr, c, e);
		model_labels_done(&attrs);
		if (r < 0)
			return r;
	} else if (r == 0) {
		r = ipam_auto_assign(ds, &args, &addr, &block);
		model_labels_done(&attrs);
		if (r < 0) {
			log_error_errno(r, "assign an address for %s on %s: %m", handle, node);
			return cni_datastore_error(e, r, false, "IPAM assign");
		}
	} else {
		model_labels_done(&attrs);
		return r;
	}
	ip_addr_format(&addr, abuf);
	log_info("assigned %s to %s (block %s, node %s)", abuf, handle,
		 block.addr.family ? ip_prefix_format(&block, bbuf) : "?", node);

	snprintf(cidr, sizeof(cidr), "%s/32", abuf);
	res = json_object_new_object();
	ips = json_object_new_array();
	ip = json_object_new_object();
	json_object_object_add(res, "cniVersion", json_object_new_string(c->cni_version));
	if (c->version < CNI_VERSION_1_0_0)
		json_object_object_add(ip, "version", json_object_new_string("4"));
	json_object_object_add(ip, "address", json_object_new_string(cidr));
	json_object_array_add(ips, ip);
	json_object_object_add(res, "ips", ips);
	json_object_object_add(res, "dns", json_object_new_object());
	cni_print_json(res);
	json_object_put(res);
	return 0;
}

static int ipam_del(const struct cni_conf *c, const struct cni_env *env, struct cni_error *e)
{
	_cleanup_(ds_client_freep) struct ds_client *ds = NULL;
	_cleanup_free_ char *handle = NULL;
	_cleanup_(lock_closep) int lock = -1;
	unsigned released = 0;
	int r;

	r = handle_and_datastore(c, env, &handle, &ds, e);
	if (r < 0)
		return r;
	lock = host_lock(c, e);
	if (lock < 0)
		return lock;
	r = ipam_release_handle(ds, handle, &released);
	if (r < 0) {
		log_error_errno(r, "release %s: %m", handle);
		/* DEL must be retried by the runtime rather than leak the address */
		return cni_datastore_error(e, r, true, "IPAM release");
	}
	log_info("released %u address(es) of %s", released, handle);
	return 0;
}

static int ipam_check(const struct cni_conf *c, const struct cni_env *env, struct cni_error *e)
{
	_cleanup_(ds_client_freep) struct ds_client *ds = NULL;
	_cleanup_free_ char *handle = NULL;
	_cleanup_free_ char *key = NULL;
	struct ds_kv kv = {};
	int r;

	r = handle_and_datastore(c, env, &handle, &ds, e);
	if (r < 0)
		return r;
	if (asprintf(&key, "%s%s", IPAM_KEY_HANDLES, handle) < 0)
		return -ENOMEM;
	r = ds_get(ds, key, &kv, NULL);
	if (r == -ENOENT)
		return cni_fail(e, r, CNI_ERR_CHECK_FAILED, "IPAM handle %s holds no address",
				handle);
	if (r < 0)
		return cni_datastore_error(e, r, true, "IPAM check");
	ds_kv_done(&kv);
	return 0;
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
		if (strcmp(cmd, "ADD") == 0)
			r = ipam_add(&c, &env, &e);
		else if (strcmp(cmd, "DEL") == 0)
			r = ipam_del(&c, &env, &e);
		else if (strcmp(cmd, "CHECK") == 0) {
			if (c.version < CNI_VERSION_0_4_0)
				r = cni_fail(&e, -EINVAL, CNI_ERR_INCOMPATIBLE_VERSION,
					     "CHECK needs cniVersion 0.4.0 or later, got %s",
					     c.cni_version);
			else
				r = ipam_check(&c, &env, &e);
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
