/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * What the two CNI plugins (tabby, tabby-ipam) share: the network configuration, the CNI_*
 * environment, the error JSON, result versions, and exec'ing a delegated plugin. The rules come
 * from the CNI specification 1.0.0 (SPEC.md: "Parameters", "Error", "Version", "Delegated
 * plugins", "Success") and CONVENTIONS.md (CNI_ARGS, args.cni.labels).
 */

#include <stdbool.h>
#include <stddef.h>

#include "cni/workload.h"
#include "datastore/datastore.h"
#include "lib/cidr.h"
#include "lib/macro.h"
#include "model/model.h"

struct json_object;

/*
 * Error codes. 1-99 are reserved by the CNI specification (SPEC.md "Error": 1 incompatible
 * version, 2 unsupported field, 3 unknown container, 4 invalid environment variables, 5 I/O
 * error, 6 decode error, 7 invalid network config, 11 try again later); 100 and up are
 * plugin-specific, ours are:
 *   100 the IP pool is exhausted
 *   101 the datastore is unavailable (unreachable or timed out)
 *   102 a local failure (kernel, memory); the message names the step
 *   103 CHECK found the attachment missing or different
 *   104 no usable IP pool (none enabled, or ipam.ipv4_pools / ipam.ipv6_pools names none)
 *   105 invalid data in the datastore (a record that does not decode)
 *   106 an argument is too long (or a name or key built from it)
 *   107 the requested address is already in use
 *   108 the requested address lies in no enabled pool
 *   109 the node has no Node resource in the datastore
 */
enum {
	CNI_ERR_INCOMPATIBLE_VERSION = 1,
	CNI_ERR_UNSUPPORTED_FIELD = 2,
	CNI_ERR_UNKNOWN_CONTAINER = 3,
	CNI_ERR_INVALID_ENV = 4,
	CNI_ERR_IO = 5,
	CNI_ERR_DECODE = 6,
	CNI_ERR_INVALID_CONFIG = 7,
	CNI_ERR_TRY_AGAIN = 11,
	CNI_ERR_POOL_EXHAUSTED = 100,
	CNI_ERR_DATASTORE = 101,
	CNI_ERR_INTERNAL = 102, /* kernel or other local failure; msg says which step */
	CNI_ERR_CHECK_FAILED = 103,
	CNI_ERR_NO_POOL = 104,
	CNI_ERR_DATASTORE_DATA = 105,
	CNI_ERR_TOO_LONG = 106,
	CNI_ERR_ADDRESS_IN_USE = 107,
	CNI_ERR_ADDRESS_NOT_IN_POOL = 108,
	CNI_ERR_UNKNOWN_NODE = 109,
};

#define CNI_MAX_CONFIG_BYTES (1024 * 1024)
#define CNI_MAX_LABELS MODEL_MAX_LABELS
#define CNI_MAX_POOLS 64

/* Result versions we produce (SPEC.md "Version"). 0.3.x/0.4.0 results carry ips[].version. */
enum cni_version {
	CNI_VERSION_0_3_0,
	CNI_VERSION_0_3_1,
	CNI_VERSION_0_4_0,
	CNI_VERSION_1_0_0,
	_CNI_VERSION_MAX,
	_CNI_VERSION_INVALID = -22,
};

struct cni_error {
	int code; /* 0 = no error recorded */
	char msg[256];
	char details[512];
};

/**
 * cni_fail() - record a CNI error (the first one wins) and return @r.
 * @r: negative errno returned to the caller (and strerror'ed into details when details are
 *     empty). @code: CNI code. @fmt: message, naming the field ("ipam.type: missing").
 */
int cni_fail(struct cni_error *e, int r, int code, const char *fmt, ...) _printf_(4, 5);

/**
 * cni_error_print() - the error JSON {"cniVersion","code","msg","details"} on stdout
 * (SPEC.md "Error"). @version: the config's cniVersion, NULL for "1.0.0".
 */
void cni_error_print(const char *version, const struct cni_error *e);

/** cni_version_parse() - "0.3.0" .. "1.0.0" to the enum, else _CNI_VERSION_INVALID. */
enum cni_version cni_version_parse(const char *s);

/**
 * cni_version_print() - the VERSION answer {"cniVersion","supportedVersions"} on stdout.
 * @requested: the cniVersion from stdin, or NULL.
 */
void cni_version_print(const char *requested);

/* Up to one address per family: pinned addresses, an IPAM result. */
struct cni_ips {
	bool has_v4, has_v6;
	struct ip_addr v4, v6;
	const char *v4_from, *v6_from; /* pinned: where each came from ("CNI_ARGS IP", ...) */
};

/* Network configuration as both plugins read it. Strings point into @root. */
struct cni_conf {
	struct json_object *root;
	char *raw; /* stdin bytes, NUL-terminated, handed unchanged to delegated plugins */
	size_t raw_len;
	const char *cni_version;
	enum cni_version version;
	const char *name;
	const char *type;
	const char *ipam_type; /* NULL when there is no ipam section */
	const char *nodename;
	const char *nodename_file;
	const char *endpoints; /* datastore_endpoints or etcd_endpoints */
	const char *ca_file, *cert_file, *key_file;
	const char *log_level;
	unsigned mtu; /* "mtu" (Calico's key): bytes, CNI_MTU_MIN..CNI_MTU_MAX; 0 = absent */
	const char **ipv4_pools; /* NULL-terminated; NULL = every pool */
	const char **ipv6_pools; /* NULL-terminated; NULL = every IPv6 pool */
	/* the address families to assign (Calico's ipam.assign_ipv4, default true, and
	 * ipam.assign_ipv6, default false); at least one is true. The main plugin configures
	 * exactly these families; the IPAM result holds one address of each. */
	bool assign_ipv4, assign_ipv6;
	struct model_labels labels;	/* args.cni.labels */
	struct model_named_port *ports; /* args.cni.ports; names owned */
	size_t n_ports;
	const char *service_account; /* args.cni.serviceAccount; may be NULL */
	/* the addresses asked for by runtimeConfig.ips (the "ips" capability) or args.cni.ips: at
	 * most one per family (v4_from/v6_from: "runtimeConfig.ips" or "args.cni.ips") */
	struct cni_ips ips;
	struct json_object *prev_result; /* borrowed from root; may be NULL */
};

/**
 * cni_conf_read() - read all of stdin (at most CNI_MAX_CONFIG_BYTES) and parse it.
 * @need_ipam: ipam.type is required (the main plugin).
 * "name" must match ^[a-zA-Z0-9][a-zA-Z0-9_.-]*$ (SPEC.md "Network configuration"); it becomes
 * part of the IPAM handle. args.cni (CONVENTIONS.md "args in network config"): labels (a list of
 * {"key","value"} or an object), ports (a list of {"name","protocol","port"}, protocol TCP, UDP
 * or SCTP, default TCP; Kubernetes port names), serviceAccount (a DNS-1123 subdomain of at most
 * 63 characters), ips (a list of one IPv4 address, "a.b.c.d" or "a.b.c.d/len"; the length is
 * ignored). runtimeConfig.ips (CONVENTIONS.md "ips" capability, what `podman run --ip` sends):
 * the same form; when both are given they must agree. "mtu": an integer 68..65535, the MTU of
 * both veth ends (cni/mtu.h).
 * Return: 0; -EINVAL with @e code 6 (not JSON), 7 (a field is missing or of the wrong type; the
 * message names it, e.g. "ipam.type: missing"), 1 (unsupported cniVersion); -EIO; -ENOMEM.
 */
int cni_conf_read(int fd, bool need_ipam, struct cni_conf *ret,
		  struct cni_error *e) _warn_unused_result_;

/** cni_conf_done() - free what cni_conf_read() filled. NULL-safe. */
void cni_conf_done(struct cni_conf *c);

/**
 * cni_cmd_version() - answer CNI_COMMAND=VERSION: read stdin as a network configuration
 * (problems ignored) and cni_version_print() in its cniVersion, if it has a valid one
 * (SPEC.md "VERSION").
 */
void cni_cmd_version(void);

/**
 * cni_report_failure() - finish a failed command: when nothing recorded an error in @e yet,
 * record CNI_ERR_INTERNAL "<@cmd> failed: <strerror(-@r)>"; log it and print the error JSON
 * (cni_error_print()) in the cniVersion of @c (read or not), else "1.0.0".
 * @cmd: the CNI_COMMAND. @r: the command's negative errno.
 */
void cni_report_failure(const char *cmd, int r, const struct cni_conf *c, struct cni_error *e);

/* Where tabby-felix writes its node name at start (felix config nodenameFile), as calico-node
 * writes /var/lib/calico/nodename for Calico's CNI plugin. */
#define CNI_NODENAME_FILE "/var/lib/tabby/nodename"

/**
 * cni_conf_nodename() - "nodename", else the first line of the file "nodename_file", else env
 * TABBY_NODENAME, else the first line of CNI_NODENAME_FILE when it exists, else gethostname()
 * (Calico's CNI plugin: config, nodename file, host name). The name must be a DNS-1123
 * subdomain: it is part of IPAM keys and WorkloadEndpoint names. @ret: malloc'ed.
 * Return: 0, or -errno with @e set (code 7 for an unreadable nodename_file or an invalid name,
 * 106 for a name longer than 253).
 */
int cni_conf_nodename(const struct cni_conf *c, char **ret,
		      struct cni_error *e) _warn_unused_result_;

/**
 * cni_conf_datastore() - a connected-on-demand client from "datastore_endpoints" /
 * "etcd_endpoints" (+ etcd_ca_cert_file, etcd_cert_file, etcd_key_file), with
 * TABBY_DATASTORE_* filling what the config leaves out.
 * Return: 0, or -EINVAL with @e code 7 (no or malformed endpoints).
 */
int cni_conf_datastore(const struct cni_conf *c, struct ds_client **ret,
		       struct cni_error *e) _warn_unused_result_;

/* The CNI_* environment (SPEC.md "Parameters"). Strings are getenv() pointers or point into
 * the CNI_ARGS copy. */
struct cni_env {
	const char *command; /* ADD, DEL, CHECK, VERSION */
	const char *container_id;
	const char *netns;
	const char *ifname;
	const char *path;
	const char *pod_namespace; /* K8S_POD_NAMESPACE, else "default" */
	const char *pod_name;	   /* K8S_POD_NAME, may be NULL */
	const char *ip;		   /* CNI_ARGS IP= (Calico's pinned address), may be NULL */
	char *args_copy;	   /* owned */
};

/**
 * cni_env_read() - read and validate the environment for @command.
 * @need_netns, @need_ifname: whether CNI_NETNS / CNI_IFNAME are required.
 * CNI_ARGS is "K=V;K=V"; keys other than IgnoreUnknown, K8S_POD_NAMESPACE, K8S_POD_NAME,
 * K8S_POD_INFRA_CONTAINER_ID, K8S_POD_UID and IP (Calico's pinned address) are errors unless
 * IgnoreUnknown is 1/true (CONVENTIONS.md "CNI_ARGS"). K8S_POD_NAMESPACE must be a DNS-1123
 * label and K8S_POD_NAME a DNS-1123 subdomain (Kubernetes "Object Names and IDs"): they become
 * datastore keys and resource names.
 * Return: 0, -EINVAL with @e code 4 naming the variable, or -ENAMETOOLONG with @e code 106.
 */
int cni_env_read(struct cni_env *ret, bool need_netns, bool need_ifname,
		 struct cni_error *e) _warn_unused_result_;

/** cni_env_done() - free what cni_env_read() allocated. */
void cni_env_done(struct cni_env *env);

/**
 * cni_delegate() - run the delegated plugin @plugin found in the colon-separated @cni_path with
 * CNI_COMMAND=@command, the rest of our environment, and @c->raw on stdin (SPEC.md "Delegated
 * plugins"), and parse its stdout.
 * @ret_result: may be NULL (DEL, CHECK); the parsed JSON result on success (caller puts it).
 * Return: 0; -ENOENT (plugin not found: @e code 7 naming ipam.type); -EREMOTEIO (the plugin
 * failed: @e holds its code/msg/details); -EPROTO (not JSON, @e code 6); or -errno.
 */
int cni_delegate(const char *cni_path, const char *plugin, const char *command,
		 const struct cni_conf *c, struct json_object **ret_result,
		 struct cni_error *e) _warn_unused_result_;

/**
 * cni_workload_id() - "<namespace>.<pod>" when a pod name is known, else
 * "<namespace>.<container id>" (the input of the host veth name). @ret: malloc'ed.
 */
int cni_workload_id(const struct cni_env *env, char **ret) _warn_unused_result_;

/**
 * cni_handle_id() - the IPAM handle "<network name>.<container id>". @ret: malloc'ed.
 * Return: 0, -ENAMETOOLONG (@e code 106: longer than CNI_MAX_HANDLE) or -ENOMEM.
 */
int cni_handle_id(const struct cni_conf *c, const struct cni_env *env, char **ret,
		  struct cni_error *e) _warn_unused_result_;
#define CNI_MAX_HANDLE 512 /* ipam.h: handles are at most 512 bytes */

/**
 * cni_pinned_ips() - the addresses the runtime asked for, at most one per family: CNI_ARGS
 * IP=a[,b] (Calico's pinned addresses), runtimeConfig.ips and args.cni.ips (those given must
 * agree per family). A pinned address of a family that ipam.assign_ipv4/assign_ipv6 does not
 * request is refused: the families a container gets come from the configuration alone.
 * Return: how many (0..2) with @ret filled (v4_from/v6_from name the source), or -EINVAL (@e
 * code 4 or 7 naming the source: not an address, two of one family, a family not requested,
 * or two sources disagree).
 */
int cni_pinned_ips(const struct cni_conf *c, const struct cni_env *env, struct cni_ips *ret,
		   struct cni_error *e) _warn_unused_result_;

/**
 * cni_result_ips() - the addresses of a CNI result's (or IPAM result's) "ips" list, at most one
 * per family (SPEC.md "Success": ips[].address is "ADDR/LEN").
 * @what: the name of the result in messages ("ipam result").
 * Return: 0 with @ret filled (has_v4/has_v6 say which), or -EINVAL with @e code 6 naming the
 * field (no ips list, an entry without a valid address, two addresses of one family).
 */
int cni_result_ips(struct json_object *res, const char *what, struct cni_ips *ret,
		   struct cni_error *e) _warn_unused_result_;

/**
 * cni_wl_error() - the CNI error for a workload-module error @we (cni/workload.h) and return
 * @r: WL_ERR_INVALID code 4 (from the environment) or 7 (@from_config), WL_ERR_TOO_LONG 106,
 * WL_ERR_DS_UNAVAILABLE 101 (11 when @retryable), WL_ERR_DS_DATA 105, WL_ERR_NOT_FOUND 3,
 * other kinds 102.
 */
int cni_wl_error(struct cni_error *e, int r, const struct wl_error *we, bool from_config,
		 bool retryable);

/**
 * cni_datastore_error() - the CNI error for a datastore failure @r during @what: code 100 for
 * -ENOSPC, 104 for -ENOENT (no usable pool), 11 for -EBUSY, 105 for -EPROTO/-EBADMSG (invalid
 * data in the datastore), 106 for -ENAMETOOLONG/-E2BIG (argument too long), 102 for -ENOMEM
 * and -EINVAL; else 101 "datastore unavailable", or 11 when @retryable (DEL: the runtime
 * retries). Return: @r.
 */
int cni_datastore_error(struct cni_error *e, int r, bool retryable, const char *what);

/** cni_print_json() - @o compactly on stdout, with a newline. */
void cni_print_json(struct json_object *o);
