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
 * cni_ipam_add_ips() - assign the families the configuration asks for (ipam.assign_ipv4,
 * default true; ipam.assign_ipv6, default false) to the handle "<network name>.<container id>":
 * one address per family, IPv4 first. For each family the address the runtime pinned
 * (cni_pinned_ips()) is used, else ipam_auto_assign() from the node's blocks of the pools of
 * ipam.ipv4_pools / ipam.ipv6_pools (names or CIDRs; all enabled pools of the family when
 * absent). Idempotent per handle and family. All or nothing: when the IPv6 assignment fails,
 * the IPv4 address of the same ADD is released again (the whole handle), so nothing stays
 * allocated.
 * @ds: the datastore client (the caller's; one connection serves the whole command).
 * @node: the node name (cni_conf_nodename()).
 * @require_key: may be NULL; a key that must exist (the Node's), checked in the same request as
 * the IPAM state; when it is absent nothing is assigned and -ENODEV is returned with @e unset,
 * so that the caller words the error.
 * @ret: the addresses (has_v4/has_v6 as configured).
 * @ret_pools: may be NULL; on success every IPPool that the first automatic assignment read
 * (caller frees with model_list_done()); left untouched when every family was pinned, so a
 * caller that needs the pools initialises it empty and reads them itself when it stays so.
 * Return: 0, -ENODEV, or -errno with @e set (codes: 100 pool exhausted, 104 no usable pool of a
 * requested family, naming ipam.assign_ipv4/ipam.assign_ipv6 and the pools key, 107 address in
 * use, 108 address in no pool, 4/7 bad pinned address, 11 contention, 101 datastore, 5 lock
 * file).
 */
int cni_ipam_add_ips(const struct cni_conf *c, const struct cni_env *env, struct ds_client *ds,
		     const char *node, const char *require_key, struct cni_ips *ret,
		     struct model_list *ret_pools, struct cni_error *e) _warn_unused_result_;

/**
 * cni_ipam_add() - cni_ipam_add_ips() for a caller that takes one address: @ret_addr is the
 * IPv4 address when one was assigned, else the IPv6 one. Kept for the single-stack main plugin;
 * a dual-stack caller uses cni_ipam_add_ips().
 */
int cni_ipam_add(const struct cni_conf *c, const struct cni_env *env, struct ds_client *ds,
		 const char *node, const char *require_key, struct ip_addr *ret_addr,
		 struct model_list *ret_pools, struct cni_error *e) _warn_unused_result_;

/**
 * cni_ipam_del() - release every address (both families) of the handle "<network name>.<container id>".
 * Idempotent: an unknown handle succeeds.
 * Return: 0, or -errno with @e set (code 11 when the datastore failed: the runtime retries).
 */
int cni_ipam_del(const struct cni_conf *c, const struct cni_env *env, struct ds_client *ds,
		 struct cni_error *e) _warn_unused_result_;

/**
 * cni_ipam_check() - the handle still holds an address of each family the configuration asks
 * for (ipam.assign_ipv4, ipam.assign_ipv6), read from its blocks (ipam_handle_addrs()).
 * Return: 0, or -errno with @e set (103 when a family's address is missing, naming it; 11 when
 * the datastore failed).
 */
int cni_ipam_check(const struct cni_conf *c, const struct cni_env *env, struct ds_client *ds,
		   struct cni_error *e) _warn_unused_result_;

/**
 * cni_ipam_print_result_ips() - the IPAM result of an ADD on stdout: cniVersion, ips[] with
 * "a.b.c.d/32" and/or "2001:db8::z/128", IPv4 first (plus "version": "4"/"6" for results older
 * than 1.0.0), empty dns (SPEC.md "IP Allocation").
 */
void cni_ipam_print_result_ips(const struct cni_conf *c, const struct cni_ips *ips);

/** cni_ipam_print_result() - cni_ipam_print_result_ips() with the one address @addr. */
void cni_ipam_print_result(const struct cni_conf *c, const struct ip_addr *addr);
