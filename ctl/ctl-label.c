/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `tabbyctl label KIND NAME key=value... key-... [-n NS] [--overwrite]`, with calicoctl's
 * semantics (calicoctl label): setting a key that is already present fails unless --overwrite;
 * removing a key that is absent fails. kubectl's "key-" form removes. The resource is read,
 * changed and written back with a compare-and-swap on its mod_revision, retried when someone
 * else wrote it in between, so a concurrent apply is never lost. All changes land in one write
 * or none does.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl/ctl.h"
#include "model/model.h"

#define LABEL_MAX_OPS MODEL_MAX_LABELS
#define LABEL_CAS_ATTEMPTS 5

struct label_op {
	char *key;   /* points into argv or the copy below */
	char *value; /* NULL = remove */
};

static int parse_ops(char **args, size_t n, struct label_op *ops)
{
	for (size_t i = 0; i < n; i++) {
		char *a = args[i], *eq = strchr(a, '=');
		size_t len = strlen(a);

		if (eq) {
			*eq = '\0';
			ops[i] = (struct label_op){.key = a, .value = eq + 1};
		} else if (len > 1 && a[len - 1] == '-') {
			a[len - 1] = '\0';
			ops[i] = (struct label_op){.key = a};
		} else {
			return ctl_err(
			    "\"%s\": want key=value to set a label or key- to remove one", a);
		}
		if (!model_label_key_is_valid(ops[i].key))
			return ctl_err("invalid label key \"%s\": [DNS subdomain \"/\"] name, the "
				       "name 1 to 63 of [A-Za-z0-9-_.] starting and ending with an "
				       "alphanumeric",
				       ops[i].key);
		if (ops[i].value && !model_label_value_is_valid(ops[i].value))
			return ctl_err("invalid value \"%s\" of label \"%s\": empty, or 1 to 63 of "
				       "[A-Za-z0-9-_.] starting and ending with an alphanumeric",
				       ops[i].value, ops[i].key);
		for (size_t j = 0; j < i; j++)
			if (strcmp(ops[j].key, ops[i].key) == 0)
				return ctl_err("label \"%s\" is given twice", ops[i].key);
	}
	return 0;
}

/* Apply @ops to @labels. Return: 0, -EEXIST / -ENOENT (after printing) or -ENOMEM. */
static int change_labels(struct model_labels *labels, const struct label_op *ops, size_t n,
			 bool overwrite, const char *what)
{
	for (size_t i = 0; i < n; i++) {
		const char *old = model_labels_get(labels, ops[i].key);
		int r;

		if (ops[i].value && old && !overwrite) {
			ctl_err("%s already has label \"%s\" (value \"%s\"); use --overwrite to "
				"change it",
				what, ops[i].key, old);
			return -EEXIST;
		}
		if (!ops[i].value && !old) {
			ctl_err("%s has no label \"%s\" to remove", what, ops[i].key);
			return -ENOENT;
		}
		r = ops[i].value ? model_labels_set(labels, ops[i].key, ops[i].value)
				 : model_labels_remove(labels, ops[i].key);
		if (r == -E2BIG)
			return ctl_err("%s would have more than %d labels", what, MODEL_MAX_LABELS);
		if (r < 0)
			return r;
	}
	return 0;
}

int ctl_label(int argc, char **argv)
{
	static const struct option opts[] = {
	    CTL_GLOBAL_LONGOPTS,
	    {"namespace", required_argument, NULL, 'n'},
	    {"overwrite", no_argument, NULL, 'O'},
	    {},
	};
	_cleanup_(ds_client_freep) struct ds_client *ds = NULL;
	_cleanup_strbuf_ struct strbuf key = {};
	_cleanup_free_ struct label_op *ops = NULL;
	enum model_kind kind;
	const char *ns = NULL, *name;
	bool overwrite = false;
	char what[512];
	size_t n_ops;
	int c, r;

	while ((c = getopt_long(argc, argv, "n:", opts, NULL)) >= 0) {
		switch (c) {
		case 'n':
			ns = optarg;
			break;
		case 'O':
			overwrite = true;
			break;
		case CTL_OPT_ENDPOINTS:
			arg_endpoints = optarg;
			break;
		default:
			return -EINVAL;
		}
	}
	if (argc - optind < 3)
		return ctl_err("usage: tabbyctl label KIND NAME key=value|key-... [-n NS] "
			       "[--overwrite]");
	r = ctl_parse_kind(argv[optind], &kind);
	if (r < 0)
		return r;
	name = argv[optind + 1];
	n_ops = (size_t)(argc - optind - 2);
	if (n_ops > LABEL_MAX_OPS)
		return ctl_err("more than %d label changes", LABEL_MAX_OPS);
	ops = calloc(n_ops, sizeof(*ops));
	if (!ops)
		return -ENOMEM;
	r = parse_ops(argv + optind + 2, n_ops, ops);
	if (r < 0)
		return r;
	if (!model_kind_is_namespaced(kind))
		ns = NULL;
	else if (!ns)
		ns = "default";
	if (ns)
		snprintf(what, sizeof(what), "%s %s/%s", model_kind_to_string(kind), ns, name);
	else
		snprintf(what, sizeof(what), "%s %s", model_kind_to_string(kind), name);
	r = model_key(kind, ns, name, &key);
	if (r < 0)
		return ctl_err("invalid name \"%s\"", name);
	r = ctl_ds_open(&ds);
	if (r < 0)
		return r;

	for (unsigned attempt = 0;; attempt++) {
		_cleanup_(model_resource_freep) struct model_resource *res = NULL;
		_cleanup_strbuf_ struct strbuf val = {};
		struct parse_err err = {};
		struct ds_kv kv = {};
		char buf[1024];

		r = ds_get(ds, strbuf_cstr(&key), &kv, NULL);
		if (r == -ENOENT)
			return ctl_err("%s does not exist", what);
		if (r < 0)
			return ctl_ds_error(r);
		r = model_decode_one(kv.value, kv.value_len, kv.key, &res, &err);
		if (r < 0) {
			ds_kv_done(&kv);
			return ctl_err("the stored %s does not decode: %s", what,
				       parse_err_format(&err, buf, sizeof(buf)));
		}
		r = change_labels(&res->meta.labels, ops, n_ops, overwrite, what);
		if (r < 0) {
			ds_kv_done(&kv);
			return r;
		}
		free(res->meta.resource_version);
		res->meta.resource_version = NULL;
		r = model_encode_json(res, &val);
		if (r >= 0)
			r = ds_update(ds, strbuf_cstr(&key), val.buf, val.len, kv.mod_revision,
				      NULL);
		ds_kv_done(&kv);
		if (r == -ESTALE && attempt + 1 < LABEL_CAS_ATTEMPTS)
			continue; /* written by someone else meanwhile: read it again */
		if (r == -ESTALE)
			return ctl_err("%s keeps changing under us (%d attempts); try again", what,
				       LABEL_CAS_ATTEMPTS);
		if (r == -ENOMEM)
			return r;
		if (r < 0)
			return ctl_ds_error(r);
		break;
	}
	for (size_t i = 0; i < n_ops; i++)
		if (ops[i].value)
			printf("Successfully set label %s=%s on %s\n", ops[i].key, ops[i].value,
			       what);
		else
			printf("Successfully removed label %s from %s\n", ops[i].key, what);
	return 0;
}
