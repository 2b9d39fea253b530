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
 * in an enabled pool (of ipam.ipv4_pools / ipam.ipv6_pools when given); its block is claimed for
 * this node when it does not exist yet, else the address is borrowed from the block as it is
 * (Calico's AssignIP). An address held by another handle fails, and nothing is allocated then.
 */
static int assign_pinned(struct ds_client *ds, const struct ipam_assign_args *args,
			 const struct ip_addr *addr, const char *from, struct cni_error *e)
{
	char buf[IP_ADDR_STRLEN];
	int r;

	ip_addr_format(addr, buf);
	r = ipam_assign_ip(ds, args, addr);
	if (r == -EEXIST)
		return cni_fail(e, r, CNI_ERR_ADDRESS_IN_USE,
				"%s: requested address %s is already in use by another container",
				from, buf);
	if (r == -ENOENT)
		return cni_fail(e, r, CNI_ERR_ADDRESS_NOT_IN_POOL,
				"%s: requested address %s lies in no enabled IP pool%s", from, buf,
				!args->pool_names	   ? ""
				: args->family == AF_INET6 ? " of ipam.ipv6_pools"
							   : " of ipam.ipv4_pools");
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

/* The CNI error of a failed automatic assignment of @family. */
static int auto_assign_error(const struct cni_conf *c, int family, int r, struct cni_error *e)
{
	bool v6 = family == AF_INET6;
	const char *key = v6 ? "ipam.assign_ipv6" : "ipam.assign_ipv4";
	const char *pools = v6 ? "ipam.ipv6_pools" : "ipam.ipv4_pools";
	bool named = v6 ? c->ipv6_pools != NULL : c->ipv4_pools != NULL;

	if (r == -ENOENT)
		return cni_fail(e, r, CNI_ERR_NO_POOL, "%s, %s: no usable %s pool (%s)", key, pools,
				v6 ? "IPv6" : "IPv4",
				named ? "none of the pools named is enabled for workloads"
				      : "no enabled pool of that family with nodeSelector all()");
	if (r == -ENOSPC)
		return cni_fail(e, r, CNI_ERR_POOL_EXHAUSTED, "%s: every %s pool%s%s is exhausted",
				key, v6 ? "IPv6" : "IPv4", named ? " of " : "", named ? pools : "");
	return cni_datastore_error(e, r, false, "IPAM assign");
}

int cni_ipam_add_ips(const struct cni_conf *c, const struct cni_env *env, struct ds_client *ds,
		     const char *node, const char *require_key, struct cni_ips *ret,
		     struct model_list *ret_pools, struct cni_error *e)
{
	_cleanup_free_ char *handle = NULL;
	struct model_labels attrs = {};
	struct cni_ips pinned = {}, out = {};
	char abuf[IP_ADDR_STRLEN], bbuf[IP_PREFIX_STRLEN];
	_cleanup_(lock_closep) int lock = -1;
	const char *req = require_key;
	bool pools_given = false;
	int r, n_pinned;

	r = cni_handle_id(c, env, &handle, e);
	if (r < 0)
		return r;
	n_pinned = cni_pinned_ips(c, env, &pinned, e);
	if (n_pinned < 0)
		return n_pinned;
	lock = host_lock(c, e);
	if (lock < 0)
		return lock;
	r = build_attrs(env, node, &attrs);
	if (r < 0) {
		model_labels_done(&attrs);
		return cni_fail(e, r, CNI_ERR_INTERNAL, "IPAM attributes: %s", strerror(-r));
	}
	if (n_pinned > 0 && req) {
		/* ipam_assign_ip() has no require_key: read it on its own, before anything */
		struct ds_kv kv = {};

		r = ds_get(ds, req, &kv, NULL);
		ds_kv_done(&kv);
		if (r == -ENOENT) {
			model_labels_done(&attrs);
			return -ENODEV;
		}
		if (r < 0) {
			model_labels_done(&attrs);
			return cni_datastore_error(e, r, false, "IPAM assign");
		}
		req = NULL;
	}

	/* IPv4 first, then IPv6: all or nothing */
	for (int i = 0; i < 2; i++) {
		int family = i == 0 ? AF_INET : AF_INET6;
		bool want = i == 0 ? c->assign_ipv4 : c->assign_ipv6;
		bool pin = i == 0 ? pinned.has_v4 : pinned.has_v6;
		struct ip_addr addr = i == 0 ? pinned.v4 : pinned.v6;
		struct ip_prefix block = {};
		struct ipam_assign_args args = {
		    .node = node,
		    .handle = handle,
		    .attrs = &attrs,
		    .family = family,
		    .pool_names = i == 0 ? c->ipv4_pools : c->ipv6_pools,
		};

		if (!want)
			continue;
		if (pin) {
			r = assign_pinned(ds, &args, &addr,
					  i == 0 ? pinned.v4_from : pinned.v6_from, e);
		} else {
			args.require_key = req;
			args.ret_pools = pools_given ? NULL : ret_pools;
			r = ipam_auto_assign(ds, &args, &addr, &block);
			if (r >= 0)
				pools_given = true;
			else if (r != -ENODEV) {
				log_error_errno(r, "assign an %s address for %s on %s: %m",
						i == 0 ? "IPv4" : "IPv6", handle, node);
				r = auto_assign_error(c, family, r, e);
			}
			req = NULL;
		}
		if (r < 0) {
			if (out.has_v4) {
				/* all or nothing: the IPv4 address of this ADD goes too */
				unsigned released = 0;
				int q = ipam_release_handle(ds, handle, &released);

				if (q < 0)
					log_error_errno(q,
							"releasing %s after the failed IPv6 "
							"assignment: %m (leaked until \"tabbyctl "
							"ipam check\")",
							handle);
				else
					log_info("released %u address(es) of %s: the IPv6 "
						 "assignment failed",
						 released, handle);
			}
			if (pools_given && ret_pools) {
				model_list_done(ret_pools);
				*ret_pools = (struct model_list){0};
			}
			model_labels_done(&attrs);
			return r;
		}
		if (!pin)
			log_info("assigned %s to %s (block %s, node %s)",
				 ip_addr_format(&addr, abuf), handle,
				 block.addr.family ? ip_prefix_format(&block, bbuf) : "?", node);
		if (i == 0) {
			out.has_v4 = true;
			out.v4 = addr;
		} else {
			out.has_v6 = true;
			out.v6 = addr;
		}
	}
	model_labels_done(&attrs);
	*ret = out;
	return 0;
}

int cni_ipam_add(const struct cni_conf *c, const struct cni_env *env, struct ds_client *ds,
		 const char *node, const char *require_key, struct ip_addr *ret_addr,
		 struct model_list *ret_pools, struct cni_error *e)
{
	struct cni_ips ips = {};
	int r;

	r = cni_ipam_add_ips(c, env, ds, node, require_key, &ips, ret_pools, e);
	if (r < 0)
		return r;
	*ret_addr = ips.has_v4 ? ips.v4 : ips.v6;
	return 0;
}

static void add_ip(const struct cni_conf *c, struct json_object *ips, const struct ip_addr *a)
{
	char abuf[IP_ADDR_STRLEN], cidr[IP_PREFIX_STRLEN];
	struct json_object *ip = json_object_new_object();

	snprintf(cidr, sizeof(cidr), "%s/%u", ip_addr_format(a, abuf), ip_addr_bits(a->family));
	if (c->version < CNI_VERSION_1_0_0)
		json_object_object_add(ip, "version",
				       json_object_new_string(a->family == AF_INET6 ? "6" : "4"));
	json_object_object_add(ip, "address", json_object_new_string(cidr));
	json_object_array_add(ips, ip);
}

void cni_ipam_print_result_ips(const struct cni_conf *c, const struct cni_ips *ips)
{
	struct json_object *res = json_object_new_object();
	struct json_object *list = json_object_new_array();

	json_object_object_add(res, "cniVersion", json_object_new_string(c->cni_version));
	if (ips->has_v4)
		add_ip(c, list, &ips->v4);
	if (ips->has_v6)
		add_ip(c, list, &ips->v6);
	json_object_object_add(res, "ips", list);
	json_object_object_add(res, "dns", json_object_new_object());
	cni_print_json(res);
	json_object_put(res);
}

void cni_ipam_print_result(const struct cni_conf *c, const struct ip_addr *addr)
{
	struct cni_ips ips = {.has_v4 = addr->family == AF_INET,
			      .has_v6 = addr->family == AF_INET6,
			      .v4 = *addr,
			      .v6 = *addr};

	cni_ipam_print_result_ips(c, &ips);
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
	struct ip_addr held[8];
	bool v4 = false, v6 = false;
	int r;

	r = cni_handle_id(c, env, &handle, e);
	if (r < 0)
		return r;
	r = ipam_handle_addrs(ds, handle, held, ELEMENTSOF(held));
	if (r == 0)
		return cni_fail(e, -ENOENT, CNI_ERR_CHECK_FAILED, "IPAM handle %s holds no address",
				handle);
	if (r < 0)
		return cni_datastore_error(e, r, true, "IPAM check");
	for (int i = 0; i < r && i < (int)ELEMENTSOF(held); i++) {
		v4 = v4 || held[i].family == AF_INET;
		v6 = v6 || held[i].family == AF_INET6;
	}
	if (c->assign_ipv4 && !v4)
		return cni_fail(e, -ENOENT, CNI_ERR_CHECK_FAILED,
				"IPAM handle %s holds no IPv4 address (ipam.assign_ipv4 is true)",
				handle);
	if (c->assign_ipv6 && !v6)
		return cni_fail(e, -ENOENT, CNI_ERR_CHECK_FAILED,
				"IPAM handle %s holds no IPv6 address (ipam.assign_ipv6 is true)",
				handle);
	return 0;
}
