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

#include "datastore/datastore.h"
#include "lib/macro.h"
#include "model/model.h"

struct json_object;

/* Well-known error codes (SPEC.md "Error"); 100+ are ours. */
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
	const char **ipv4_pools;	 /* NULL-terminated; NULL = every pool */
	struct model_labels labels;	 /* args.cni.labels */
	struct json_object *prev_result; /* borrowed from root; may be NULL */
};

/**
 * cni_conf_read() - read all of stdin (at most CNI_MAX_CONFIG_BYTES) and parse it.
 * @need_ipam: ipam.type is required (the main plugin).
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

/**
 * cni_conf_nodename() - "nodename", else the first line of the file "nodename_file", else env
 * TABBY_NODENAME, else gethostname(). @ret: malloc'ed.
 * Return: 0, or -errno with @e set (code 7 for an unreadable nodename_file).
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
	char *args_copy;	   /* owned */
};

/**
 * cni_env_read() - read and validate the environment for @command.
 * @need_netns, @need_ifname: whether CNI_NETNS / CNI_IFNAME are required.
 * CNI_ARGS is "K=V;K=V"; keys other than IgnoreUnknown, K8S_POD_NAMESPACE, K8S_POD_NAME,
 * K8S_POD_INFRA_CONTAINER_ID and K8S_POD_UID are errors unless IgnoreUnknown is 1/true
 * (CONVENTIONS.md "CNI_ARGS").
 * Return: 0 or -EINVAL with @e code 4 naming the variable.
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

/** cni_handle_id() - the IPAM handle "<network name>.<container id>". @ret: malloc'ed. */
int cni_handle_id(const struct cni_conf *c, const struct cni_env *env,
		  char **ret) _warn_unused_result_;

/**
 * cni_datastore_error() - the CNI error for a datastore failure @r during @what: code 100 for
 * -ENOSPC, 104 for -ENOENT (no usable pool), 11 for -EBUSY and when @retryable (DEL: the
 * runtime retries), 101 otherwise. Return: @r.
 */
int cni_datastore_error(struct cni_error *e, int r, bool retryable, const char *what);

/** cni_print_json() - @o compactly on stdout, with a newline. */
void cni_print_json(struct json_object *o);
