/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * The tabby-ipam plugin's commands as a library. The tabby-ipam binary is a thin main() around
 * them; the tabby plugin calls them in its own process when its ipam.type is "tabby-ipam"
 * (CNI_IPAM_BUILTIN), instead of exec'ing the binary (SPEC.md "Delegated plugins" leaves the
 * mechanism to the plugin: what counts is that ADD, DEL and CHECK keep their semantics). That
 * saves one process start-up and one datastore connection per call. Other plugins still exec the
 * tabby-ipam binary, which behaves exactly as before.
 *
 * ADD and DEL run under this host's IPAM lock (ipam_host_lock(), as Calico's calico-ipam): the
 * file "ipam.lock_file" of the network configuration, else env TABBY_IPAM_LOCK_FILE, else
 * IPAM_HOST_LOCK_DEFAULT. The lock is held only while the IPAM records are read and written.
 */

#include "cni/cni.h"
#include "datastore/datastore.h"
#include "lib/cidr.h"

/* The ipam.type the tabby plugin runs in its own process. */
#define CNI_IPAM_BUILTIN "tabby-ipam"

/**
 * cni_ipam_add() - assign one IPv4 address to the handle "<network name>.<container id>":
 * the address the runtime asked for (cni_pinned_ip()), else ipam_auto_assign() from the node's
 * blocks. Idempotent per handle. Nothing stays allocated when it fails.
 * @ds: the datastore client (the caller's; one connection serves the whole command).
 * @node: the node name (cni_conf_nodename()).
 * @require_key: may be NULL; a key that must exist (the Node's), checked in the same request as
 * the IPAM state; when it is absent nothing is assigned and -ENODEV is returned with @e unset,
 * so that the caller words the error.
 * @ret_addr: the address.
 * @ret_pools: may be NULL; on success every IPPool that automatic assignment read (caller frees
 * with model_list_done()); left untouched for a requested address (cni_pinned_ip()), so a
 * caller that needs the pools initialises it empty and reads them itself when it stays so.
 * Return: 0, -ENODEV, or -errno with @e set (codes as tabby-ipam: 100 pool exhausted, 104 no
 * pool, 107 address in use, 108 address in no pool, 11 contention, 101 datastore, 5 lock file).
 */
int cni_ipam_add(const struct cni_conf *c, const struct cni_env *env, struct ds_client *ds,
		 const char *node, const char *require_key, struct ip_addr *ret_addr,
		 struct model_list *ret_pools, struct cni_error *e) _warn_unused_result_;

/**
 * cni_ipam_del() - release every address of the handle "<network name>.<container id>".
 * Idempotent: an unknown handle succeeds.
 * Return: 0, or -errno with @e set (code 11 when the datastore failed: the runtime retries).
 */
int cni_ipam_del(const struct cni_conf *c, const struct cni_env *env, struct ds_client *ds,
		 struct cni_error *e) _warn_unused_result_;

/**
 * cni_ipam_check() - the handle still holds an address.
 * Return: 0, or -errno with @e set (103 when it holds none, 11 when the datastore failed).
 */
int cni_ipam_check(const struct cni_conf *c, const struct cni_env *env, struct ds_client *ds,
		   struct cni_error *e) _warn_unused_result_;

/**
 * cni_ipam_print_result() - the IPAM result of an ADD on stdout: cniVersion, ips[] with the one
 * "a.b.c.d/32" (plus "version": "4" for results older than 1.0.0), empty dns (SPEC.md "IP
 * Allocation").
 */
void cni_ipam_print_result(const struct cni_conf *c, const struct ip_addr *addr);
