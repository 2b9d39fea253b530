/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * The WorkloadEndpoint of a container, one implementation for both front ends: the CNI plugin
 * (cni/tabby.c, orchestrator "cni") and the Docker libnetwork driver (docker/driver.c,
 * orchestrator "libnetwork"). It owns every rule about what may become a datastore key or a
 * resource name: Kubernetes names (DNS-1123, Kubernetes "Object Names and IDs"), label keys and
 * values ("Labels and Selectors"), port names (IANA_SVC_NAME), Calico's WorkloadEndpoint name
 * (libcalico-go names.WorkloadEndpointIdentifiers: "<node>-<orchestrator>-<workload>-<endpoint>"
 * with every '-' inside a part doubled), and, as a last line, the model decoder itself: an
 * endpoint is written only when it decodes back, because felix drops one that does not.
 *
 * Errors carry a kind (struct wl_error) so that each front end words them its own way: the CNI
 * plugin maps kinds to CNI error codes (cni/cni.h), tabby-docker to its "Err" text.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "datastore/datastore.h"
#include "lib/cidr.h"
#include "lib/macro.h"
#include "model/model.h"

/* Calico's labels for a workload's service account (libcalico-go apis/v3 constants). */
#define WL_LABEL_SERVICE_ACCOUNT "projectcalico.org/serviceaccount"
#define WL_LABEL_SA_PREFIX "pcsa."

enum wl_err_kind {
	WL_ERR_NONE,
	WL_ERR_INVALID,	       /* an argument is not valid; the message names it */
	WL_ERR_TOO_LONG,       /* an argument, or a name or key built from it, is too long */
	WL_ERR_DS_UNAVAILABLE, /* the datastore cannot be reached or timed out */
	WL_ERR_DS_DATA,	       /* the datastore holds or answered data that does not decode */
	WL_ERR_NOT_FOUND,      /* a datastore object the operation needs does not exist */
	WL_ERR_INTERNAL,       /* out of memory and other local failures */
	_WL_ERR_KIND_MAX,
	_WL_ERR_KIND_INVALID = -22,
};

struct wl_error {
	enum wl_err_kind kind; /* WL_ERR_NONE = nothing recorded */
	char msg[384];
};

/**
 * wl_fail() - record an error (the first one wins) and return @r (a negative errno).
 * @fmt: the message, naming the argument ("K8S_POD_NAME: ...").
 */
int wl_fail(struct wl_error *e, int r, enum wl_err_kind kind, const char *fmt, ...) _printf_(4, 5);

/**
 * wl_datastore_error() - record a datastore failure @r during @what with its kind:
 * -ECONNREFUSED, -EHOSTUNREACH, -ENETUNREACH, -ETIMEDOUT, -ECONNRESET, -EIO, -ECOMM:
 * WL_ERR_DS_UNAVAILABLE ("<what>: datastore unavailable"); -EPROTO, -EBADMSG: WL_ERR_DS_DATA
 * ("invalid data in the datastore"); -ENAMETOOLONG, -E2BIG, -EMSGSIZE: WL_ERR_TOO_LONG;
 * -EINVAL: WL_ERR_INVALID; -ENOENT: WL_ERR_NOT_FOUND; anything else WL_ERR_INTERNAL.
 * Return: @r.
 */
int wl_datastore_error(struct wl_error *e, int r, const char *what);

/**
 * wl_quote() - @s for an error message: printable ASCII kept, every other byte as \xHH, at
 * most @len - 1 bytes (cut with "..."), so a message is valid UTF-8 whatever the input.
 * Return: @buf.
 */
const char *wl_quote(const char *s, char *buf, size_t len);

/**
 * wl_check_namespace() - @s is a Kubernetes namespace name: a DNS-1123 label (1..63 of
 * [a-z0-9-], alphanumeric at both ends). @arg names the argument in the error.
 * Return: 0; -EINVAL (WL_ERR_INVALID), -ENAMETOOLONG (WL_ERR_TOO_LONG, longer than 63).
 */
int wl_check_namespace(const char *arg, const char *s, struct wl_error *e) _warn_unused_result_;

/**
 * wl_check_subdomain() - @s is a DNS-1123 subdomain (1..253 of [a-z0-9-.], each dot-separated
 * part alphanumeric at both ends): a pod name or a node name (Kubernetes "Object Names").
 * Return: 0; -EINVAL (WL_ERR_INVALID), -ENAMETOOLONG (WL_ERR_TOO_LONG, longer than 253).
 */
int wl_check_subdomain(const char *arg, const char *s, struct wl_error *e) _warn_unused_result_;

/**
 * wl_check_label() - @key=@value is a valid Kubernetes label (qualified name; value empty or
 * 1..63 of [A-Za-z0-9-_.] alphanumeric at both ends). @arg names it ("args.cni.labels[0]").
 * Return: 0 or -EINVAL (WL_ERR_INVALID).
 */
int wl_check_label(const char *arg, const char *key, const char *value,
		   struct wl_error *e) _warn_unused_result_;

/**
 * wl_check_port_name() - @s is a Kubernetes port name (IANA_SVC_NAME: 1..15 of [a-z0-9-], at
 * least one letter, no "--", no '-' at either end). Return: 0 or -EINVAL (WL_ERR_INVALID).
 */
int wl_check_port_name(const char *arg, const char *s, struct wl_error *e) _warn_unused_result_;

/**
 * wl_protocol_parse() - a named port's protocol "TCP", "UDP" or "SCTP" (any case) to its IP
 * protocol number (6, 17, 132). Return: 0 or -EINVAL.
 */
int wl_protocol_parse(const char *s, uint8_t *ret) _warn_unused_result_;

/**
 * wl_wep_name() - Calico's WorkloadEndpoint name "<node>-<orchestrator>-<workload>-<endpoint>",
 * each part with '-' doubled (libcalico-go names.WorkloadEndpointIdentifiers), so that distinct
 * parts never give one name. @workload: the WHOLE container id (CNI) or endpoint id (Docker).
 * @ret: malloc'ed.
 * Return: 0; -ENAMETOOLONG (WL_ERR_TOO_LONG, longer than MODEL_NAME_MAX; the message names the
 * parts); -EINVAL (WL_ERR_INVALID: the name is no lower-case RFC 1123 subdomain, e.g. a
 * container id with upper case or '_'); -ENOMEM.
 */
int wl_wep_name(const char *node, const char *orchestrator, const char *workload,
		const char *endpoint, char **ret, struct wl_error *e) _warn_unused_result_;

/* What a WorkloadEndpoint is made of. Everything is borrowed. */
struct wl_endpoint {
	const char *orchestrator; /* "cni" or "libnetwork" */
	const char *node;
	const char *namespace;	    /* Kubernetes namespace / Docker network name */
	const char *workload_id;    /* name part: the whole container id or endpoint id */
	const char *endpoint;	    /* interface in the container, "eth0" */
	const char *workload;	    /* spec.workload; may be NULL */
	const char *container_id;   /* spec.containerID; may be NULL (not for "cni") */
	const char *pod;	    /* spec.pod; may be NULL */
	const char *interface_name; /* host-side veth */
	const char *mac;	    /* container-side MAC; may be NULL */
	const struct ip_addr *addrs;
	size_t n_addrs;				 /* 0..MODEL_MAX_IP_NETWORKS */
	const struct model_labels *labels;	 /* may be NULL */
	const struct model_named_port *ports;	 /* may be NULL */
	size_t n_ports;				 /* 0..MODEL_MAX_NAMED_PORTS */
	const char *service_account;		 /* may be NULL: adds WL_LABEL_SERVICE_ACCOUNT */
	const struct model_labels *extra_labels; /* may be NULL; added after @labels */
};

/**
 * wl_wep_build() - the WorkloadEndpoint resource of @ep, validated: the namespace, node, pod
 * and service account names, every label and port name, and finally the encoded resource is
 * decoded back (the check felix applies).
 * @ret: a new resource (model_resource_free()). @ret_key: may be NULL; its datastore key.
 * Return: 0, -EINVAL / -ENAMETOOLONG with @e naming the part, or -ENOMEM.
 */
int wl_wep_build(const struct wl_endpoint *ep, struct model_resource **ret, struct strbuf *ret_key,
		 struct wl_error *e) _warn_unused_result_;

/**
 * wl_wep_write() - wl_wep_build() and an unconditional write of the result (a repeated ADD
 * replaces the endpoint, as Calico does).
 * Return: 0, a wl_wep_build() error, or a datastore error (wl_datastore_error()).
 */
int wl_wep_write(struct ds_client *ds, const struct wl_endpoint *ep,
		 struct wl_error *e) _warn_unused_result_;

/**
 * wl_wep_read() - the WorkloadEndpoint @namespace/@name.
 * @ret: decoded (model_resource_free()). @ret_rev: may be NULL; its mod_revision.
 * Return: 0; -ENOENT (WL_ERR_NOT_FOUND); -EPROTO (WL_ERR_DS_DATA: it does not decode); or a
 * datastore error.
 */
int wl_wep_read(struct ds_client *ds, const char *namespace, const char *name,
		struct model_resource **ret, int64_t *ret_rev,
		struct wl_error *e) _warn_unused_result_;

/**
 * wl_wep_update() - write @w back if its key still has mod_revision @rev (compare-and-swap),
 * after checking it decodes back. Return: 0, -ESTALE (changed meanwhile), -EINVAL, or a
 * datastore error.
 */
int wl_wep_update(struct ds_client *ds, const struct model_resource *w, int64_t rev,
		  struct wl_error *e) _warn_unused_result_;

/**
 * wl_wep_delete() - delete the WorkloadEndpoint @namespace/@name. Idempotent.
 * @ret_deleted: may be NULL; whether it existed.
 * Return: 0 or a datastore error.
 */
int wl_wep_delete(struct ds_client *ds, const char *namespace, const char *name, bool *ret_deleted,
		  struct wl_error *e) _warn_unused_result_;

/**
 * wl_node_exists() - whether the Node resource @node exists (Calico's CNI plugin refuses to
 * attach a workload on a node it does not know).
 * Return: 0 (exists); -ENOENT (WL_ERR_NOT_FOUND, the message says how to fix it); or a
 * datastore error.
 */
int wl_node_exists(struct ds_client *ds, const char *node, struct wl_error *e) _warn_unused_result_;
