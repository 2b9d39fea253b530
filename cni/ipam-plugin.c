/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The tabby-ipam plugin's commands (cni/ipam-plugin.h), shared by the tabby-ipam binary and the
 * tabby plugin's in-process IPAM.
 */

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include "cni/ipam-plugin.h"
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

int cni_ipam_add(const struct cni_conf *c, const struct cni_env *env, struct ds_client *ds,
		 const char *node, const char *require_key, struct ip_addr *ret_addr,
		 struct model_list *ret_pools, struct cni_error *e)
{
	_cleanup_free_ char *handle = NULL;
	struct model_labels attrs = {};
	struct ip_addr addr = {};
	struct ip_prefix block = {};
	char abuf[IP_ADDR_STRLEN], bbuf[IP_PREFIX_STRLEN];
	_cleanup_(lock_closep) int lock = -1;
	int r;

	r = cni_handle_id(c, env, &handle, e);
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
	    .require_key = require_key,
	    .ret_pools = ret_pools,
	};
	r = cni_pinned_ip(c, env, &addr, e);
	if (r > 0 && require_key) {
		/* ipam_assign_ip() has no require_key: read it on its own */
		struct ds_kv kv = {};

		r = ds_get(ds, require_key, &kv, NULL);
		ds_kv_done(&kv);
		if (r == -ENOENT) {
			model_labels_done(&attrs);
			return -ENODEV;
		}
		if (r < 0) {
			model_labels_done(&attrs);
			return cni_datastore_error(e, r, false, "IPAM assign");
		}
		r = 1;
	}
	if (r > 0) {
		r = assign_pinned(ds, &args, &addr, c, e);
		model_labels_done(&attrs);
		if (r < 0)
			return r;
	} else if (r == 0) {
		r = ipam_auto_assign(ds, &args, &addr, &block);
		model_labels_done(&attrs);
		if (r == -ENODEV)
			return r;
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
	*ret_addr = addr;
	return 0;
}

void cni_ipam_print_result(const struct cni_conf *c, const struct ip_addr *addr)
{
	char abuf[IP_ADDR_STRLEN], cidr[IP_PREFIX_STRLEN];
	struct json_object *res, *ips, *ip;

	snprintf(cidr, sizeof(cidr), "%s/32", ip_addr_format(addr, abuf));
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
}

int cni_ipam_del(const struct cni_conf *c, const struct cni_env *env, struct ds_client *ds,
		 struct cni_error *e)
{
	_cleanup_free_ char *handle = NULL;
	_cleanup_(lock_closep) int lock = -1;
	unsigned released = 0;
	int r;

	r = cni_handle_id(c, env, &handle, e);
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

int cni_ipam_check(const struct cni_conf *c, const struct cni_env *env, struct ds_client *ds,
		   struct cni_error *e)
{
	_cleanup_free_ char *handle = NULL;
	_cleanup_free_ char *key = NULL;
	struct ds_kv kv = {};
	int r;

	r = cni_handle_id(c, env, &handle, e);
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
