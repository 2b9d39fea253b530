/* SPDX-License-Identifier: Apache-2.0 */
/*
 * apply / create / replace / delete / get, as calicoctl does them against Calico's datastore.
 * Order of a write: decode every document, check names are unique in the input, read what
 * exists, run the cross checks (create: nothing exists; replace: everything exists; pools: no
 * overlap with the pools that stay), and only then write. Stored values are the v3 JSON
 * (model_encode_json) without resourceVersion, which `get` fills from etcd's mod_revision.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ctl/ctl.h"
#include "model/model.h"

static int print_parse_err(const struct parse_err *err)
{
	char buf[1024];

	return ctl_err("%s", parse_err_format(err, buf, sizeof(buf)));
}

/* "'IPPool' " when every resource is of one kind, else "" (calicoctl's summary line). */
static const char *summary_kind(const struct model_list *l, char *buf, size_t size)
{
	for (size_t i = 1; i < l->n; i++)
		if (l->items[i]->kind != l->items[0]->kind) {
			buf[0] = '\0';
			return buf;
		}
	snprintf(buf, size, "'%s' ", model_kind_to_string(l->items[0]->kind));
	return buf;
}

static int resource_key(const struct model_resource *r, struct strbuf *out)
{
	return model_key(r->kind, r->meta.namespace, r->meta.name, out);
}

static const char *resource_label(const struct model_resource *r, char *buf, size_t size)
{
	if (model_kind_is_namespaced(r->kind))
		snprintf(buf, size, "%s %s/%s", model_kind_to_string(r->kind), r->meta.namespace,
			 r->meta.name);
	else
		snprintf(buf, size, "%s %s", model_kind_to_string(r->kind), r->meta.name);
	return buf;
}

/* Two documents naming one resource would make the result depend on their order: refuse. */
static int check_unique(const struct model_list *l, const char *file)
{
	for (size_t j = 1; j < l->n; j++)
		for (size_t i = 0; i < j; i++) {
			const struct model_resource *a = l->items[i], *b = l->items[j];
			char buf[512];

			if (a->kind != b->kind || strcmp(a->meta.name, b->meta.name) != 0 ||
			    (a->meta.namespace &&
			     strcmp(a->meta.namespace, b->meta.namespace) != 0))
				continue;
			return ctl_err("%s:%u: metadata.name: %s is also defined at line %u", file,
				       b->source_line, resource_label(b, buf, sizeof(buf)),
				       a->source_line);
		}
	return 0;
}

static int read_uuid(char **ret)
{
	char buf[64] = {};
	FILE *f = fopen("/proc/sys/kernel/random/uuid", "re");

	if (!f)
		return -errno;
	if (!fgets(buf, sizeof(buf), f)) {
		fclose(f);
		return -EIO;
	}
	fclose(f);
	buf[strcspn(buf, "\n")] = '\0';
	*ret = strdup(buf);
	return *ret ? 0 : -ENOMEM;
}

static int now_rfc3339(char **ret)
{
	char buf[32];
	time_t t = time(NULL);
	struct tm tm;

	if (!gmtime_r(&t, &tm) || strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		return -EINVAL;
	*ret = strdup(buf);
	return *ret ? 0 : -ENOMEM;
}

/* Keep the identity Calico gives a resource on create (uid, creationTimestamp) across updates. */
static int fill_identity(struct model_resource *r, const struct ds_kv *existing)
{
	_cleanup_(model_resource_freep) struct model_resource *old = NULL;
	int q;

	free(r->meta.resource_version);
	r->meta.resource_version = NULL;
	if (existing && existing->key) {
		struct parse_err err = {};

		if (model_decode_one(existing->value, existing->value_len, existing->key, &old,
				     &err) < 0)
			old = NULL; /* a broken stored value is simply replaced */
	}
	if (!r->meta.uid) {
		if (old && old->meta.uid)
			r->meta.uid = strdup(old->meta.uid);
		else if ((q = read_uuid(&r->meta.uid)) < 0 && q != -ENOENT)
			return q;
	}
	if (!r->meta.creation_timestamp) {
		if (old && old->meta.creation_timestamp)
			r->meta.creation_timestamp = strdup(old->meta.creation_timestamp);
		else
			return now_rfc3339(&r->meta.creation_timestamp);
	}
	return 0;
}

/* Overlap check of the pools after the change: stored pools not replaced, then the new ones. */
static int check_pools(struct ds_client *ds, const struct model_list *l, const char *file)
{
	_cleanup_free_ struct model_resource **all = NULL;
	struct model_list stored = {};
	struct ds_kvs kvs = {};
	struct parse_err err = {};
	size_t n = 0, n_new = 0;
	int r;

	for (size_t i = 0; i < l->n; i++)
		n_new += l->items[i]->kind == MODEL_KIND_IPPOOL;
	if (!n_new)
		return 0;
	r = ds_range_prefix(ds, MODEL_KEY_PREFIX "ippools/", 0, &kvs);
	if (r < 0)
		return ctl_ds_error(r);
	all = calloc(kvs.n + n_new, sizeof(*all));
	stored.items = calloc(kvs.n + 1, sizeof(*stored.items));
	if (!all || !stored.items) {
		ds_kvs_done(&kvs);
		model_list_done(&stored);
		return -ENOMEM;
	}
	for (size_t i = 0; i < kvs.n; i++) {
		struct model_resource *p = NULL;
		bool replaced = false;

		if (model_decode_one(kvs.items[i].value, kvs.items[i].value_len, kvs.items[i].key,
				     &p, &err) < 0) {
			fprintf(stderr, "tabbyctl: warning: %s does not decode, ignoring\n",
				kvs.items[i].key);
			continue;
		}
		stored.items[stored.n++] = p;
		for (size_t j = 0; j < l->n; j++)
			replaced |= l->items[j]->kind == MODEL_KIND_IPPOOL &&
				    strcmp(l->items[j]->meta.name, p->meta.name) == 0;
		if (!replaced)
			all[n++] = p;
	}
	ds_kvs_done(&kvs);
	for (size_t j = 0; j < l->n; j++)
		if (l->items[j]->kind == MODEL_KIND_IPPOOL)
			all[n++] = l->items[j];
	snprintf(err.file, sizeof(err.file), "%s", file);
	r = model_validate_pools(all, n, &err);
	model_list_done(&stored);
	if (r < 0)
		return print_parse_err(&err);
	return 0;
}

static int parse_file_opt(int argc, char **argv, const char **ret_file, bool *ret_skip)
{
	static const struct option opts[] = {
	    CTL_GLOBAL_LONGOPTS,
	    {"filename", required_argument, NULL, 'f'},
	    {"skip-not-exists", no_argument, NULL, 's'},
	    {},
	};
	int c;

	while ((c = getopt_long(argc, argv, "f:", opts, NULL)) >= 0) {
		switch (c) {
		case 'f':
			*ret_file = optarg;
			break;
		case 's':
			if (!ret_skip)
				return ctl_err("%s: unknown option --skip-not-exists", argv[0]);
			*ret_skip = true;
			break;
		case CTL_OPT_ENDPOINTS:
			arg_endpoints = optarg;
			break;
		default:
			return -EINVAL;
		}
	}
	return 0;
}

static int decode_input(const char *file, struct model_list *ret)
{
	_cleanup_free_ char *buf = NULL;
	struct model_diag diag = {};
	size_t len;
	int r;

	r = ctl_read_input(file, &buf, &len);
	if (r < 0)
		return r;
	r = model_decode_diag(buf, len, file, ret, &diag);
	/* every problem of the file, in order; warnings only when it is accepted */
	for (size_t i = 0; r == -EINVAL && i < diag.n_errors; i++)
		print_parse_err(&diag.errors[i]);
	if (r == -EINVAL && diag.n_errors > 1)
		ctl_err("%s: %zu errors; nothing was written", file, diag.n_errors);
	for (size_t i = 0; r >= 0 && i < diag.n_warnings; i++) {
		char msg[1024];

		fprintf(stderr, "tabbyctl: warning: %s\n",
			parse_err_format(&diag.warnings[i], msg, sizeof(msg)));
	}
	model_diag_done(&diag);
	if (r == -ENOMEM)
		return ctl_err("out of memory");
	if (r < 0)
		return r;
	if (ret->n == 0) {
		model_list_done(ret);
		return ctl_err("%s: no resources found", file);
	}
	return check_unique(ret, file);
}

enum apply_mode { MODE_APPLY, MODE_CREATE, MODE_REPLACE };

/*
 * metadata.resourceVersion, as calicoctl honours it: when set, apply and replace write only if
 * the stored resource is still at that etcd mod_revision (checked here for the whole file first,
 * and again by the compare-and-swap of the write), so an edit of a stale `get -o yaml` is a
 * conflict instead of a silent overwrite. create refuses it (nothing exists to be at a version).
 * @ret_revs: per resource, the revision to compare against, 0 = none given.
 */
static int check_versions(const struct model_list *l, const struct ds_kv *existing,
			  enum apply_mode mode, const char *file, int64_t **ret_revs)
{
	int64_t *revs = calloc(l->n + 1, sizeof(*revs));
	char label[512];
	int bad = 0;

	if (!revs)
		return -ENOMEM;
	*ret_revs = revs;
	for (size_t i = 0; i < l->n; i++) {
		const struct model_resource *res = l->items[i];
		const char *rv = res->meta.resource_version;
		char *end = NULL;
		long long v;

		if (!rv || !*rv)
			continue;
		v = strtoll(rv, &end, 10);
		if (!end || *end || v <= 0) {
			bad = ctl_err("%s:%u: metadata.resourceVersion: \"%s\" is not a revision "
				      "that tabbyctl get printed",
				      file, res->source_line, rv);
			continue;
		}
		if (mode == MODE_CREATE) {
			bad = ctl_err("%s:%u: metadata.resourceVersion: must not be set on create",
				      file, res->source_line);
			continue;
		}
		if (!existing[i].key) {
			bad = ctl_err(
			    "%s:%u: metadata.resourceVersion: conflict: %s does not exist "
			    "(deleted after revision %lld was read)",
			    file, res->source_line, resource_label(res, label, sizeof(label)), v);
			continue;
		}
		if (existing[i].mod_revision != v) {
			bad = ctl_err("%s:%u: metadata.resourceVersion: conflict: %s is at "
				      "revision %" PRId64 ", not %lld (it was changed since it was "
				      "read; get it again)",
				      file, res->source_line,
				      resource_label(res, label, sizeof(label)),
				      existing[i].mod_revision, v);
			continue;
		}
		revs[i] = v;
	}
	return bad;
}

/* A policy's tier must exist (stored, or created by the same file), as Calico's API server
 * checks; the default tier always exists. */
static int check_tiers(struct ds_client *ds, const struct model_list *l, const char *file)
{
	int bad = 0;

	for (size_t i = 0; i < l->n; i++) {
		const struct model_resource *res = l->items[i];
		_cleanup_strbuf_ struct strbuf key = {};
		struct ds_kv kv = {};
		bool found = false;
		int r;

		if ((res->kind != MODEL_KIND_NETWORK_POLICY &&
		     res->kind != MODEL_KIND_GLOBAL_NETWORK_POLICY) ||
		    !res->policy.tier || strcmp(res->policy.tier, MODEL_DEFAULT_TIER) == 0)
			continue;
		for (size_t j = 0; j < l->n && !found; j++)
			found = l->items[j]->kind == MODEL_KIND_TIER &&
				strcmp(l->items[j]->meta.name, res->policy.tier) == 0;
		if (found)
			continue;
		r = model_key(MODEL_KIND_TIER, NULL, res->policy.tier, &key);
		if (r < 0)
			return r;
		r = ds_get(ds, strbuf_cstr(&key), &kv, NULL);
		ds_kv_done(&kv);
		if (r == -ENOENT)
			bad =
			    ctl_err("%s:%u: spec.tier: tier \"%s\" does not exist (create the Tier "
				    "first, or in the same file)",
				    file, res->source_line, res->policy.tier);
		else if (r < 0)
			return ctl_ds_error(r);
	}
	return bad;
}

/* IPAM blocks inside @cidr (the keys are /tabby/v1/ipam/blocks/<a.b.c.d-len>). */
static int count_blocks_in(struct ds_client *ds, const struct ip_prefix *cidr, size_t *ret)
{
	struct ds_kvs kvs = {};
	int r = ds_range_prefix(ds, MODEL_KEY_PREFIX "ipam/blocks/", 0, &kvs);

	if (r < 0)
		return r;
	*ret = 0;
	for (size_t i = 0; i < kvs.n; i++) {
		const char *name = strrchr(kvs.items[i].key, '/');
		char buf[IP_PREFIX_STRLEN + 8];
		struct ip_prefix p;
		char *dash;

		snprintf(buf, sizeof(buf), "%s", name ? name + 1 : "");
		dash = strrchr(buf, '-');
		if (!dash)
			continue;
		*dash = '/';
		if (ip_prefix_parse(buf, true, &p) >= 0 && ip_prefix_overlaps(cidr, &p))
			(*ret)++;
	}
	ds_kvs_done(&kvs);
	return 0;
}

/* Calico refuses to change an IPPool's cidr or blockSize while addresses are allocated from it:
 * the blocks would no longer match the pool. Here: while any IPAM block lies in the old cidr. */
static int check_pool_changes(struct ds_client *ds, const struct model_list *l,
			      const struct ds_kv *existing, const char *file)
{
	int bad = 0;

	for (size_t i = 0; i < l->n; i++) {
		_cleanup_(model_resource_freep) struct model_resource *old = NULL;
		const struct model_resource *res = l->items[i];
		struct parse_err err = {};
		char a[IP_PREFIX_STRLEN], b[IP_PREFIX_STRLEN];
		size_t n = 0;
		int r;

		if (res->kind != MODEL_KIND_IPPOOL || !existing[i].key ||
		    model_decode_one(existing[i].value, existing[i].value_len, existing[i].key,
				     &old, &err) < 0)
			continue;
		if (ip_prefix_equal(&old->ippool.cidr, &res->ippool.cidr) &&
		    old->ippool.block_size == res->ippool.block_size)
			continue;
		r = count_blocks_in(ds, &old->ippool.cidr, &n);
		if (r < 0)
			return ctl_ds_error(r);
		if (!n)
			continue;
		ip_prefix_format(&old->ippool.cidr, a);
		ip_prefix_format(&res->ippool.cidr, b);
		bad = ctl_err(
		    "%s:%u: %s: IPPool %s has %zu IPAM block(s) in use: its cidr (%s) and "
		    "blockSize (%u) cannot change (to %s, %u); create a new pool, disable "
		    "this one and move the workloads",
		    file, res->source_line,
		    ip_prefix_equal(&old->ippool.cidr, &res->ippool.cidr) ? "spec.blockSize"
									  : "spec.cidr",
		    res->meta.name, n, a, old->ippool.block_size, b, res->ippool.block_size);
	}
	return bad;
}

int ctl_apply(int argc, char **argv)
{
	static const char *const done_verb[] = {"applied", "created", "replaced"};
	enum apply_mode mode = strcmp(argv[0], "create") == 0	 ? MODE_CREATE
			       : strcmp(argv[0], "replace") == 0 ? MODE_REPLACE
								 : MODE_APPLY;
	_cleanup_(ds_client_freep) struct ds_client *ds = NULL;
	_cleanup_free_ struct ds_kv *existing = NULL;
	_cleanup_free_ int64_t *revs = NULL;
	struct model_list l = {};
	const char *file = NULL;
	char label[512], kindbuf[64];
	int r;

	r = parse_file_opt(argc, argv, &file, NULL);
	if (r < 0)
		return r;
	if (!file || optind != argc)
		return ctl_err("usage: tabbyctl %s -f FILE|-", argv[0]);
	r = decode_input(file, &l);
	if (r < 0)
		return r;
	r = ctl_ds_open(&ds);
	if (r < 0)
		goto out;
	existing = calloc(l.n, sizeof(*existing));
	if (!existing) {
		r = -ENOMEM;
		goto out;
	}
	/* read first, write later: a refused document must leave the datastore untouched */
	for (size_t i = 0; i < l.n; i++) {
		_cleanup_strbuf_ struct strbuf key = {};

		r = resource_key(l.items[i], &key);
		if (r < 0)
			goto out;
		r = ds_get(ds, strbuf_cstr(&key), &existing[i], NULL);
		if (r == -ENOENT) {
			r = 0;
			if (mode == MODE_REPLACE) {
				r = ctl_err("%s does not exist",
					    resource_label(l.items[i], label, sizeof(label)));
				goto out;
			}
		} else if (r < 0) {
			ctl_ds_error(r);
			goto out;
		} else if (mode == MODE_CREATE) {
			r = ctl_err("%s already exists",
				    resource_label(l.items[i], label, sizeof(label)));
			goto out;
		}
	}
	r = check_versions(&l, existing, mode, file, &revs);
	if (r >= 0)
		r = check_pools(ds, &l, file);
	if (r >= 0)
		r = check_tiers(ds, &l, file);
	if (r >= 0)
		r = check_pool_changes(ds, &l, existing, file);
	if (r < 0)
		goto out;
	for (size_t i = 0; i < l.n; i++) {
		_cleanup_strbuf_ struct strbuf key = {}, val = {};
		struct model_resource *res = l.items[i];

		r = fill_identity(res, &existing[i]);
		if (r >= 0)
			r = resource_key(res, &key);
		if (r >= 0)
			r = model_encode_json(res, &val);
		if (r < 0)
			goto out;
		switch (mode) {
		case MODE_APPLY:
			/* with metadata.resourceVersion: only if it is still that revision */
			if (revs[i])
				r = ds_update(ds, strbuf_cstr(&key), val.buf, val.len, revs[i],
					      NULL);
			else
				r = ds_put(ds, strbuf_cstr(&key), val.buf, val.len, 0, NULL);
			break;
		case MODE_CREATE:
			r = ds_create(ds, strbuf_cstr(&key), val.buf, val.len, 0, NULL);
			break;
		case MODE_REPLACE:
			r = ds_update(ds, strbuf_cstr(&key), val.buf, val.len,
				      revs[i] ? revs[i] : existing[i].mod_revision, NULL);
			break;
		}
		if (r == -EEXIST)
			r = ctl_err("%s already exists", resource_label(res, label, sizeof(label)));
		else if (r == -ESTALE && revs[i])
			r = ctl_err("%s:%u: metadata.resourceVersion: conflict: %s was changed or "
				    "deleted after revision %" PRId64 " was read",
				    file, res->source_line,
				    resource_label(res, label, sizeof(label)), revs[i]);
		else if (r == -ESTALE)
			r = ctl_err("%s was changed or deleted meanwhile; try again",
				    resource_label(res, label, sizeof(label)));
		else if (r < 0)
			ctl_ds_error(r);
		if (r < 0) {
			if (i > 0)
				ctl_err("partial success: %s the first %zu of %zu resources",
					done_verb[mode], i, l.n);
			goto out;
		}
	}
	printf("Successfully %s %zu %sresource(s)\n", done_verb[mode], l.n,
	       summary_kind(&l, kindbuf, sizeof(kindbuf)));
	r = 0;
out:
	for (size_t i = 0; existing && i < l.n; i++)
		ds_kv_done(&existing[i]);
	model_list_done(&l);
	return r;
}

int ctl_parse_kind(const char *s, enum model_kind *ret)
{
	int k = model_kind_from_string(s);

	if (k < 0)
		return ctl_err("unknown resource type \"%s\" (known: ippool, node, "
			       "workloadendpoint, bgpconfiguration, bgppeer, networkpolicy, "
			       "globalnetworkpolicy, tier, networkset, globalnetworkset, "
			       "hostendpoint, profile, felixconfiguration, namespace, "
			       "kubernetesnetworkpolicy; plurals and short names too)",
			       s);
	*ret = (enum model_kind)k;
	return 0;
}

/* The keys a Namespace still holds (its NetworkPolicies, NetworkSets and Kubernetes
 * NetworkPolicies; WorkloadEndpoints belong to the CNI plugin and are not counted), or those of a
 * Tier (the policies named "<tier>.<name>", Calico's tiered names). @ret gets every key. */
static int dependents(struct ds_client *ds, const struct model_resource *res, struct ds_kvs *ret)
{
	static const enum model_kind ns_kinds[] = {
	    MODEL_KIND_NETWORK_POLICY, MODEL_KIND_NETWORK_SET, MODEL_KIND_K8S_NETWORK_POLICY};
	static const enum model_kind tier_kinds[] = {MODEL_KIND_NETWORK_POLICY,
						     MODEL_KIND_GLOBAL_NETWORK_POLICY};
	bool ns = res->kind == MODEL_KIND_NAMESPACE;
	const enum model_kind *kinds = ns ? ns_kinds : tier_kinds;
	size_t nk = ns ? ELEMENTSOF(ns_kinds) : ELEMENTSOF(tier_kinds);
	int r = 0;

	*ret = (struct ds_kvs){};
	if (res->kind != MODEL_KIND_NAMESPACE && res->kind != MODEL_KIND_TIER)
		return 0;
	for (size_t k = 0; r >= 0 && k < nk; k++) {
		_cleanup_strbuf_ struct strbuf prefix = {};
		struct ds_kvs kvs = {};

		r = strbuf_printf(&prefix, MODEL_KEY_PREFIX "%s/", model_kind_plural(kinds[k]));
		if (r >= 0 && ns)
			r = strbuf_printf(&prefix, "%s/", res->meta.name);
		if (r >= 0)
			r = ds_range_prefix(ds, strbuf_cstr(&prefix), 0, &kvs);
		for (size_t i = 0; r >= 0 && i < kvs.n; i++) {
			const char *base = strrchr(kvs.items[i].key, '/') + 1;
			size_t tl = strlen(res->meta.name);
			struct ds_kv *items;

			if (!ns && !(strncmp(base, res->meta.name, tl) == 0 && base[tl] == '.'))
				continue;
			items = realloc(ret->items, (ret->n + 1) * sizeof(*items));
			if (!items) {
				r = -ENOMEM;
				break;
			}
			ret->items = items;
			ret->items[ret->n++] = kvs.items[i];
			kvs.items[i] = (struct ds_kv){};
		}
		ds_kvs_done(&kvs);
	}
	if (r < 0)
		ds_kvs_done(ret);
	return r;
}

int ctl_delete(int argc, char **argv)
{
	static const struct option opts[] = {
	    CTL_GLOBAL_LONGOPTS,
	    {"filename", required_argument, NULL, 'f'},
	    {"namespace", required_argument, NULL, 'n'},
	    {"skip-not-exists", no_argument, NULL, 's'},
	    {"cascade", no_argument, NULL, 'c'},
	    {},
	};
	_cleanup_(ds_client_freep) struct ds_client *ds = NULL;
	struct model_list l = {};
	const char *file = NULL, *ns = NULL;
	bool skip = false, cascade = false;
	char label[512], kindbuf[64];
	size_t deleted = 0;
	int c, r;

	while ((c = getopt_long(argc, argv, "f:n:", opts, NULL)) >= 0) {
		switch (c) {
		case 'f':
			file = optarg;
			break;
		case 'n':
			ns = optarg;
			break;
		case 's':
			skip = true;
			break;
		case 'c':
			cascade = true;
			break;
		case CTL_OPT_ENDPOINTS:
			arg_endpoints = optarg;
			break;
		default:
			return -EINVAL;
		}
	}
	if (file && optind == argc) {
		r = decode_input(file, &l);
		if (r < 0)
			return r;
	} else if (!file && argc - optind == 2) {
		enum model_kind k = _MODEL_KIND_INVALID;
		struct model_resource *res;

		r = ctl_parse_kind(argv[optind], &k);
		if (r < 0)
			return r;
		res = calloc(1, sizeof(*res));
		l.items = calloc(1, sizeof(*l.items));
		if (!res || !l.items) {
			free(res);
			free(l.items);
			return -ENOMEM;
		}
		l.items[l.n++] = res;
		res->kind = k;
		res->meta.name = strdup(argv[optind + 1]);
		if (model_kind_is_namespaced(k))
			res->meta.namespace = strdup(ns ? ns : "default");
		if (!res->meta.name || (model_kind_is_namespaced(k) && !res->meta.namespace)) {
			model_list_done(&l);
			return -ENOMEM;
		}
	} else {
		return ctl_err("usage: tabbyctl delete -f FILE|- | KIND NAME [-n NAMESPACE]");
	}
	r = ctl_ds_open(&ds);
	if (r < 0)
		goto out;
	if (!skip) {
		/* all or nothing: every resource must exist before anything is deleted */
		for (size_t i = 0; i < l.n; i++) {
			_cleanup_strbuf_ struct strbuf key = {};
			struct ds_kv kv = {};

			r = resource_key(l.items[i], &key);
			if (r < 0)
				goto out;
			r = ds_get(ds, strbuf_cstr(&key), &kv, NULL);
			ds_kv_done(&kv);
			if (r == -ENOENT) {
				r = ctl_err("%s does not exist",
					    resource_label(l.items[i], label, sizeof(label)));
				goto out;
			}
			if (r < 0) {
				ctl_ds_error(r);
				goto out;
			}
		}
	}
	/* a Namespace that still holds policies or sets, or a Tier that still holds policies:
	 * refused (Calico refuses a non-empty tier), or emptied first with --cascade */
	for (size_t i = 0; i < l.n; i++) {
		struct ds_kvs deps = {};

		r = dependents(ds, l.items[i], &deps);
		if (r < 0) {
			ctl_ds_error(r);
			goto out;
		}
		/* what the same input deletes anyway does not count */
		for (size_t j = 0; j < deps.n;) {
			bool listed = false;

			for (size_t q = 0; q < l.n && !listed && r >= 0; q++) {
				_cleanup_strbuf_ struct strbuf k2 = {};

				r = resource_key(l.items[q], &k2);
				listed = r >= 0 && strcmp(strbuf_cstr(&k2), deps.items[j].key) == 0;
			}
			if (r < 0) {
				ds_kvs_done(&deps);
				goto out;
			}
			if (listed) {
				ds_kv_done(&deps.items[j]);
				deps.items[j] = deps.items[--deps.n];
			} else {
				j++;
			}
		}
		if (deps.n && !cascade) {
			r = ctl_err(
			    "%s still holds %zu resource(s) (first: %s); delete them first, "
			    "or use --cascade",
			    resource_label(l.items[i], label, sizeof(label)), deps.n,
			    deps.items[0].key + strlen(MODEL_KEY_PREFIX));
			ds_kvs_done(&deps);
			goto out;
		}
		for (size_t j = 0; j < deps.n && r >= 0; j++) {
			int64_t n = 0;

			r = ds_delete(ds, deps.items[j].key, &n);
			if (r >= 0 && n)
				printf("Deleted %s\n",
				       deps.items[j].key + strlen(MODEL_KEY_PREFIX));
		}
		ds_kvs_done(&deps);
		if (r < 0) {
			ctl_ds_error(r);
			goto out;
		}
	}
	for (size_t i = 0; i < l.n; i++) {
		_cleanup_strbuf_ struct strbuf key = {};
		int64_t n = 0;

		r = resource_key(l.items[i], &key);
		if (r >= 0)
			r = ds_delete(ds, strbuf_cstr(&key), &n);
		if (r < 0) {
			ctl_ds_error(r);
			goto out;
		}
		deleted += (size_t)n;
	}
	printf("Successfully deleted %zu %sresource(s)\n", deleted,
	       summary_kind(&l, kindbuf, sizeof(kindbuf)));
	r = 0;
out:
	model_list_done(&l);
	return r;
}

enum output { OUT_TABLE, OUT_WIDE, OUT_YAML, OUT_JSON };

static int fill_version(struct model_resource *res, const struct ds_kv *kv)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "%" PRId64, kv->mod_revision);
	free(res->meta.resource_version);
	res->meta.resource_version = strdup(buf);
	return res->meta.resource_version ? 0 : -ENOMEM;
}

static void join_prefixes(const struct ip_prefix *p, size_t n, char *buf, size_t size)
{
	size_t off = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < n && off < size; i++) {
		char s[IP_PREFIX_STRLEN];
		int w = snprintf(buf + off, size - off, "%s%s", i ? "," : "",
				 ip_prefix_format(&p[i], s));

		off += w > 0 ? (size_t)w : 0;
	}
}

#define ROW_MAX 10
#define CELL_MAX 512

static void join_strv(char *const *v, char *buf, size_t size)
{
	size_t off = 0;

	buf[0] = '\0';
	for (size_t i = 0; v && v[i] && off < size; i++) {
		int w = snprintf(buf + off, size - off, "%s%s", i ? "," : "", v[i]);

		off += w > 0 ? (size_t)w : 0;
	}
}

static void format_order(bool has, double order, char *buf, size_t size)
{
	buf[0] = '\0';
	if (has)
		snprintf(buf, size, "%g", order);
}

static const char *types_string(bool in, bool eg)
{
	return in && eg ? "Ingress,Egress" : in ? "Ingress" : eg ? "Egress" : "";
}

/*
 * Columns of the kinds added with policy and BGP peers: the header (NULL-terminated) into
 * @hdr and, for @res, the cells into @cells. @wide adds the columns `-o wide` shows.
 */
static size_t kind_columns(enum model_kind kind, bool wide, const char **hdr)
{
	static const char *const cols[_MODEL_KIND_MAX][2][ROW_MAX] = {
	    [MODEL_KIND_BGP_PEER] = {{"NAME", "PEERIP", "NODE", "ASN"},
				     {"NAME", "PEERIP", "NODE", "ASN", "PEERSELECTOR",
				      "NODESELECTOR", "KEEPALIVE", "HOLD", "BFD"}},
	    [MODEL_KIND_NETWORK_POLICY] = {{"NAME", "TIER", "ORDER", "SELECTOR"},
					   {"NAME", "TIER", "ORDER", "SELECTOR", "TYPES", "INGRESS",
					    "EGRESS"}},
	    [MODEL_KIND_GLOBAL_NETWORK_POLICY] = {{"NAME", "TIER", "ORDER", "SELECTOR"},
						  {"NAME", "TIER", "ORDER", "SELECTOR", "TYPES",
						   "INGRESS", "EGRESS", "NAMESPACESELECTOR"}},
	    [MODEL_KIND_TIER] = {{"NAME", "ORDER", "DEFAULTACTION"},
				 {"NAME", "ORDER", "DEFAULTACTION"}},
	    [MODEL_KIND_NETWORK_SET] = {{"NAME", "NETS"}, {"NAME", "NETS", "LABELS"}},
	    [MODEL_KIND_GLOBAL_NETWORK_SET] = {{"NAME", "NETS"}, {"NAME", "NETS", "LABELS"}},
	    [MODEL_KIND_HOST_ENDPOINT] = {{"NAME", "NODE", "INTERFACE"},
					  {"NAME", "NODE", "INTERFACE", "EXPECTEDIPS", "PROFILES",
					   "PORTS"}},
	    [MODEL_KIND_PROFILE] = {{"NAME"}, {"NAME", "INGRESS", "EGRESS", "LABELSTOAPPLY"}},
	    [MODEL_KIND_FELIX_CONFIGURATION] = {{"NAME", "DATAPLANE"},
						{"NAME", "DATAPLANE", "ENDPOINTTOHOST",
						 "FAILSAFEIN", "FAILSAFEOUT"}},
	    [MODEL_KIND_NAMESPACE] = {{"NAME", "LABELS"}, {"NAME", "LABELS"}},
	    [MODEL_KIND_K8S_NETWORK_POLICY] = {{"NAME", "PODSELECTOR"},
					       {"NAME", "PODSELECTOR", "TYPES", "INGRESS",
						"EGRESS"}},
	};
	size_t n = 0;

	while (n < ROW_MAX && cols[kind][wide][n]) {
		hdr[n] = cols[kind][wide][n];
		n++;
	}
	hdr[n] = NULL;
	return n;
}

static void join_labels(const struct model_labels *l, char *buf, size_t size)
{
	size_t off = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < l->n && off < size; i++) {
		int w = snprintf(buf + off, size - off, "%s%s=%s", i ? "," : "", l->items[i].key,
				 l->items[i].value);

		off += w > 0 ? (size_t)w : 0;
	}
}

static const char *failsafe_string(bool has, const struct model_proto_port *p, size_t n, char *buf,
				   size_t size)
{
	size_t off = 0;

	if (!has)
		return "default";
	buf[0] = '\0';
	for (size_t i = 0; i < n && off < size; i++) {
		int w = snprintf(buf + off, size - off, "%s%s:%u", i ? "," : "",
				 p[i].protocol.number == 6    ? "tcp"
				 : p[i].protocol.number == 17 ? "udp"
							      : "sctp",
				 p[i].port);

		off += w > 0 ? (size_t)w : 0;
	}
	return n ? buf : "none";
}

static void kind_row(const struct model_resource *res, bool wide, char cells[][CELL_MAX])
{
	char tmp[CELL_MAX];

	snprintf(cells[0], CELL_MAX, "%s", res->meta.name);
	switch (res->kind) {
	case MODEL_KIND_BGP_PEER: {
		const struct model_bgp_peer *p = &res->bgppeer;
		char a[IP_ADDR_STRLEN] = "";

		if (p->has_peer_ip)
			ip_addr_format(&p->peer_ip, a);
		if (p->has_peer_ip && p->peer_port)
			snprintf(cells[1], CELL_MAX, "%s%s%s:%u",
				 p->peer_ip.family == AF_INET6 ? "[" : "", a,
				 p->peer_ip.family == AF_INET6 ? "]" : "", p->peer_port);
		else
			snprintf(cells[1], CELL_MAX, "%s", a);
		snprintf(cells[2], CELL_MAX, "%s",
			 p->node	    ? p->node
			 : p->node_selector ? ""
					    : "(global)");
		if (p->as_number)
			snprintf(cells[3], CELL_MAX, "%" PRIu32, p->as_number);
		if (!wide)
			break;
		snprintf(cells[4], CELL_MAX, "%s", p->peer_selector ? p->peer_selector : "");
		snprintf(cells[5], CELL_MAX, "%s", p->node_selector ? p->node_selector : "");
		if (p->keepalive_time_s)
			snprintf(cells[6], CELL_MAX, "%" PRIu32 "s", p->keepalive_time_s);
		if (p->hold_time_s)
			snprintf(cells[7], CELL_MAX, "%" PRIu32 "s", p->hold_time_s);
		snprintf(cells[8], CELL_MAX, "%s", p->bfd_enabled ? "true" : "false");
		break;
	}
	case MODEL_KIND_NETWORK_POLICY:
	case MODEL_KIND_GLOBAL_NETWORK_POLICY: {
		const struct model_policy *p = &res->policy;

		snprintf(cells[1], CELL_MAX, "%s", p->tier ? p->tier : "default");
		format_order(p->has_order, p->order, cells[2], CELL_MAX);
		snprintf(cells[3], CELL_MAX, "%s", p->selector ? p->selector : "all()");
		if (!wide)
			break;
		snprintf(cells[4], CELL_MAX, "%s", types_string(p->types_ingress, p->types_egress));
		snprintf(cells[5], CELL_MAX, "%zu", p->n_ingress);
		snprintf(cells[6], CELL_MAX, "%zu", p->n_egress);
		if (res->kind == MODEL_KIND_GLOBAL_NETWORK_POLICY)
			snprintf(cells[7], CELL_MAX, "%s",
				 p->namespace_selector ? p->namespace_selector : "");
		break;
	}
	case MODEL_KIND_TIER:
		format_order(res->tier.has_order, res->tier.order, cells[1], CELL_MAX);
		snprintf(cells[2], CELL_MAX, "%s",
			 res->tier.default_action == MODEL_ACTION_PASS ? "Pass" : "Deny");
		break;
	case MODEL_KIND_NETWORK_SET:
	case MODEL_KIND_GLOBAL_NETWORK_SET:
		/* the table shows the first few nets; -o wide all of them (cut at the cell size) */
		join_prefixes(res->netset.nets,
			      wide ? res->netset.n_nets : MIN(res->netset.n_nets, 3), cells[1],
			      CELL_MAX);
		if (!wide && res->netset.n_nets > 3) {
			snprintf(tmp, sizeof(tmp), "%s,... (%zu)", cells[1], res->netset.n_nets);
			snprintf(cells[1], CELL_MAX, "%s", tmp);
		}
		if (wide)
			join_labels(&res->meta.labels, cells[2], CELL_MAX);
		break;
	case MODEL_KIND_HOST_ENDPOINT: {
		const struct model_host_endpoint *h = &res->hep;
		size_t off = 0;

		snprintf(cells[1], CELL_MAX, "%s", h->node);
		snprintf(cells[2], CELL_MAX, "%s", h->interface_name ? h->interface_name : "");
		if (!wide)
			break;
		for (size_t i = 0; i < h->n_expected_ips && off < CELL_MAX; i++) {
			char a[IP_ADDR_STRLEN];
			int w = snprintf(cells[3] + off, CELL_MAX - off, "%s%s", i ? "," : "",
					 ip_addr_format(&h->expected_ips[i], a));

			off += w > 0 ? (size_t)w : 0;
		}
		join_strv(h->profiles, cells[4], CELL_MAX);
		off = 0;
		for (size_t i = 0; i < h->n_ports && off < CELL_MAX; i++) {
			int w = snprintf(cells[5] + off, CELL_MAX - off, "%s%s:%u", i ? "," : "",
					 h->ports[i].name, h->ports[i].port);

			off += w > 0 ? (size_t)w : 0;
		}
		break;
	}
	case MODEL_KIND_PROFILE:
		if (!wide)
			break;
		snprintf(cells[1], CELL_MAX, "%zu", res->profile.n_ingress);
		snprintf(cells[2], CELL_MAX, "%zu", res->profile.n_egress);
		join_labels(&res->profile.labels_to_apply, cells[3], CELL_MAX);
		break;
	case MODEL_KIND_FELIX_CONFIGURATION: {
		const struct model_felix_configuration *f = &res->felixconfig;

		snprintf(cells[1], CELL_MAX, "%s",
			 !f->has_dataplane || f->dataplane == MODEL_DATAPLANE_NFTABLES
			     ? "nftables"
			     : "iptables");
		if (!wide)
			break;
		snprintf(cells[2], CELL_MAX, "%s",
			 f->default_endpoint_to_host_action ? f->default_endpoint_to_host_action
							    : "Drop");
		snprintf(cells[3], CELL_MAX, "%s",
			 failsafe_string(f->has_failsafe_inbound, f->failsafe_inbound,
					 f->n_failsafe_inbound, tmp, sizeof(tmp)));
		snprintf(cells[4], CELL_MAX, "%s",
			 failsafe_string(f->has_failsafe_outbound, f->failsafe_outbound,
					 f->n_failsafe_outbound, tmp, sizeof(tmp)));
		break;
	}
	case MODEL_KIND_NAMESPACE:
		join_labels(&res->meta.labels, cells[1], CELL_MAX);
		break;
	case MODEL_KIND_K8S_NETWORK_POLICY:
		snprintf(cells[1], CELL_MAX, "%s", res->knp.pod_selector);
		if (!wide)
			break;
		snprintf(cells[2], CELL_MAX, "%s",
			 types_string(res->knp.types_ingress, res->knp.types_egress));
		snprintf(cells[3], CELL_MAX, "%zu", res->knp.n_ingress);
		snprintf(cells[4], CELL_MAX, "%zu", res->knp.n_egress);
		break;
	default:
		break;
	}
}

/* The table of a kind described by kind_columns(), with a NAMESPACE column under -A. */
static int print_generic_table(struct ctl_table *t, const struct model_list *l,
			       enum model_kind kind, bool all_ns, bool wide)
{
	const char *hdr[ROW_MAX + 2];
	size_t off = all_ns && model_kind_is_namespaced(kind) ? 1 : 0;
	size_t n = kind_columns(kind, wide, hdr + off);
	int r;

	if (off)
		hdr[0] = "NAMESPACE";
	r = ctl_table_init(t, hdr);
	for (size_t i = 0; r >= 0 && i < l->n; i++) {
		char cells[ROW_MAX + 1][CELL_MAX] = {};
		const char *row[ROW_MAX + 1];

		if (off)
			snprintf(cells[0], CELL_MAX, "%s", l->items[i]->meta.namespace);
		kind_row(l->items[i], wide, cells + off);
		for (size_t c = 0; c < n + off; c++)
			row[c] = cells[c];
		r = ctl_table_add(t, row);
	}
	return r;
}

static int print_table(const struct model_list *l, enum model_kind kind, bool all_ns,
		       enum output out)
{
	struct ctl_table t;
	int r;

	switch (kind) {
	case MODEL_KIND_IPPOOL:
		/* -o wide: calicoctl's wide IPPool columns, without IPIPMODE/VXLANMODE for now */
		if (out == OUT_WIDE)
			r = ctl_table_init(&t, (const char *const[]){
						   "NAME", "CIDR", "BLOCKSIZE", "NAT", "DISABLED",
						   "DISABLEBGPEXPORT", "SELECTOR", NULL});
		else
			r = ctl_table_init(&t,
					   (const char *const[]){"NAME", "CIDR", "SELECTOR", NULL});
		for (size_t i = 0; r >= 0 && i < l->n; i++) {
			const struct model_ippool *p = &l->items[i]->ippool;
			const char *sel = p->node_selector ? p->node_selector : "all()";
			char cidr[IP_PREFIX_STRLEN], bs[8];

			ip_prefix_format(&p->cidr, cidr);
			snprintf(bs, sizeof(bs), "%u", p->block_size);
			if (out == OUT_WIDE)
				r = ctl_table_add(&t, (const char *const[]){
							  l->items[i]->meta.name, cidr, bs,
							  p->nat_outgoing ? "true" : "false",
							  p->disabled ? "true" : "false",
							  p->disable_bgp_export ? "true" : "false",
							  sel});
			else
				r = ctl_table_add(
				    &t, (const char *const[]){l->items[i]->meta.name, cidr, sel});
		}
		break;
	case MODEL_KIND_NODE:
		r = ctl_table_init(&t, (const char *const[]){"NAME", "ASN", "IPV4", "IPV6", NULL});
		for (size_t i = 0; r >= 0 && i < l->n; i++) {
			const struct model_node *n = &l->items[i]->node;
			char v4[IP_PREFIX_STRLEN] = "", v6[IP_PREFIX_STRLEN] = "", as[16] = "";

			if (n->has_ipv4)
				ip_prefix_format(&n->ipv4_address, v4);
			if (n->has_ipv6)
				ip_prefix_format(&n->ipv6_address, v6);
			if (n->as_number)
				snprintf(as, sizeof(as), "%" PRIu32, n->as_number);
			r = ctl_table_add(
			    &t, (const char *const[]){l->items[i]->meta.name, as, v4, v6});
		}
		break;
	case MODEL_KIND_WORKLOAD_ENDPOINT: {
		/* -o wide adds what policy selects on: the pod, the labels and the profiles */
		static const char *const hdr[] = {"NAMESPACE", "WORKLOAD",  "NODE",
						  "NETWORKS",  "INTERFACE", "POD",
						  "LABELS",    "PROFILES",  NULL};
		const char *h[ELEMENTSOF(hdr)];
		size_t first = all_ns ? 0 : 1, ncols = out == OUT_WIDE ? 8 : 5, n = 0;

		for (size_t c = first; c < ncols; c++)
			h[n++] = hdr[c];
		h[n] = NULL;
		r = ctl_table_init(&t, h);
		for (size_t i = 0; r >= 0 && i < l->n; i++) {
			const struct model_resource *res = l->items[i];
			const struct model_workload_endpoint *w = &res->wep;
			char nets[512], labels[CELL_MAX], profiles[CELL_MAX];
			const char *row[8];

			join_prefixes(w->ip_networks, w->n_ip_networks, nets, sizeof(nets));
			join_labels(&res->meta.labels, labels, sizeof(labels));
			join_strv(w->profiles, profiles, sizeof(profiles));
			const char *cells[] = {
			    res->meta.namespace, res->meta.name,       w->node, nets,
			    w->interface_name,	 w->pod ? w->pod : "", labels,	profiles};
			n = 0;
			for (size_t c = first; c < ncols; c++)
				row[n++] = cells[c];
			r = ctl_table_add(&t, row);
		}
		break;
	}
	case MODEL_KIND_BGP_CONFIGURATION:
		r = ctl_table_init(&t, (const char *const[]){"NAME", "LOGSEVERITY", "MESHENABLED",
							     "ASNUMBER", NULL});
		for (size_t i = 0; r >= 0 && i < l->n; i++) {
			const struct model_bgp_configuration *b = &l->items[i]->bgpconfig;
			char as[16] = "";

			if (b->as_number)
				snprintf(as, sizeof(as), "%" PRIu32, b->as_number);
			r = ctl_table_add(
			    &t, (const char *const[]){
				    l->items[i]->meta.name,
				    b->log_severity_screen ? b->log_severity_screen : "",
				    b->node_to_node_mesh_enabled == 0 ? "false" : "true", as});
		}
		break;
	default:
		r = print_generic_table(&t, l, kind, all_ns, out == OUT_WIDE);
		break;
	}
	if (r >= 0)
		ctl_table_print(&t, false);
	ctl_table_done(&t);
	return r;
}

static int print_json(const struct model_list *l, enum model_kind kind, bool single,
		      int64_t revision)
{
	struct json_object *root = NULL, *items = NULL;
	int r = 0;

	if (!single) {
		char kbuf[64], rev[32];
		struct json_object *md = json_object_new_object();

		snprintf(kbuf, sizeof(kbuf), "%sList", model_kind_manifest_name(kind));
		snprintf(rev, sizeof(rev), "%" PRId64, revision);
		root = json_object_new_object();
		items = json_object_new_array();
		if (!root || !items || !md) {
			json_object_put(root);
			json_object_put(items);
			json_object_put(md);
			return -ENOMEM;
		}
		json_object_object_add(root, "apiVersion",
				       json_object_new_string(model_kind_api_version(kind)));
		json_object_object_add(root, "kind", json_object_new_string(kbuf));
		json_object_object_add(md, "resourceVersion", json_object_new_string(rev));
		json_object_object_add(root, "metadata", md);
		json_object_object_add(root, "items", items);
	}
	for (size_t i = 0; r >= 0 && i < l->n; i++) {
		_cleanup_strbuf_ struct strbuf sb = {};
		struct json_object *o;

		r = model_encode_json(l->items[i], &sb);
		if (r < 0)
			break;
		o = json_tokener_parse(strbuf_cstr(&sb));
		if (!o) {
			r = -ENOMEM;
			break;
		}
		if (single)
			root = o;
		else
			json_object_array_add(items, o);
	}
	if (r >= 0 && root)
		puts(json_object_to_json_string_ext(root, JSON_C_TO_STRING_PRETTY |
							      JSON_C_TO_STRING_SPACED |
							      JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(root);
	return r;
}

int ctl_get(int argc, char **argv)
{
	static const struct option opts[] = {
	    CTL_GLOBAL_LONGOPTS,
	    {"namespace", required_argument, NULL, 'n'},
	    {"all-namespaces", no_argument, NULL, 'A'},
	    {"output", required_argument, NULL, 'o'},
	    {},
	};
	_cleanup_(ds_client_freep) struct ds_client *ds = NULL;
	_cleanup_strbuf_ struct strbuf key = {};
	struct model_list l = {};
	struct ds_kvs kvs = {};
	const char *ns = NULL, *name = NULL;
	enum output out = OUT_TABLE;
	enum model_kind kind = _MODEL_KIND_INVALID;
	bool all_ns = false;
	int c, r;

	while ((c = getopt_long(argc, argv, "n:Ao:", opts, NULL)) >= 0) {
		switch (c) {
		case 'n':
			ns = optarg;
			break;
		case 'A':
			all_ns = true;
			break;
		case 'o':
			if (strcmp(optarg, "yaml") == 0)
				out = OUT_YAML;
			else if (strcmp(optarg, "json") == 0)
				out = OUT_JSON;
			else if (strcmp(optarg, "wide") == 0)
				out = OUT_WIDE;
			else
				return ctl_err("unknown output format \"%s\" (yaml, json, wide)",
					       optarg);
			break;
		case CTL_OPT_ENDPOINTS:
			arg_endpoints = optarg;
			break;
		default:
			return -EINVAL;
		}
	}
	if (argc - optind < 1 || argc - optind > 2)
		return ctl_err("usage: tabbyctl get KIND [NAME] [-n NS | -A] [-o yaml|json|wide]");
	if (ns && all_ns)
		return ctl_err("-n and -A exclude each other");
	r = ctl_parse_kind(argv[optind], &kind);
	if (r < 0)
		return r;
	if (argc - optind == 2)
		name = argv[optind + 1];
	if (name && all_ns)
		return ctl_err("a NAME needs a namespace, not -A");
	if (!model_kind_is_namespaced(kind)) {
		ns = NULL;
		all_ns = false;
	} else if (!ns) {
		ns = "default";
	}
	r = ctl_ds_open(&ds);
	if (r < 0)
		return r;
	if (name) {
		struct ds_kv kv = {};

		r = model_key(kind, ns, name, &key);
		if (r < 0)
			return r;
		r = ds_get(ds, strbuf_cstr(&key), &kv, &kvs.revision);
		if (r == -ENOENT) {
			if (ns)
				return ctl_err("%s %s/%s does not exist",
					       model_kind_to_string(kind), ns, name);
			return ctl_err("%s %s does not exist", model_kind_to_string(kind), name);
		}
		if (r < 0)
			return ctl_ds_error(r);
		kvs.items = malloc(sizeof(*kvs.items));
		if (!kvs.items) {
			ds_kv_done(&kv);
			return -ENOMEM;
		}
		kvs.items[kvs.n++] = kv;
	} else {
		r = strbuf_printf(&key, MODEL_KEY_PREFIX "%s/", model_kind_plural(kind));
		if (r >= 0 && ns && !all_ns)
			r = strbuf_printf(&key, "%s/", ns);
		if (r < 0)
			return r;
		r = ds_range_prefix(ds, strbuf_cstr(&key), 0, &kvs);
		if (r < 0)
			return ctl_ds_error(r);
	}
	l.items = calloc(kvs.n + 1, sizeof(*l.items));
	if (!l.items) {
		r = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < kvs.n; i++) {
		struct model_resource *res = NULL;
		struct parse_err err = {};
		char buf[1024];

		r = model_decode_one(kvs.items[i].value, kvs.items[i].value_len, kvs.items[i].key,
				     &res, &err);
		if (r < 0) {
			fprintf(stderr, "tabbyctl: warning: %s, ignoring\n",
				parse_err_format(&err, buf, sizeof(buf)));
			continue;
		}
		l.items[l.n++] = res;
		r = fill_version(res, &kvs.items[i]);
		if (r < 0)
			goto out;
	}
	r = 0;
	switch (out) {
	case OUT_JSON:
		r = print_json(&l, kind, name != NULL, kvs.revision);
		break;
	case OUT_YAML:
		/* one document per resource: `get -o yaml | apply -f -` works as is */
		for (size_t i = 0; r >= 0 && i < l.n; i++) {
			_cleanup_strbuf_ struct strbuf sb = {};

			r = model_encode_yaml(l.items[i], &sb);
			if (r >= 0)
				fputs(strbuf_cstr(&sb), stdout);
		}
		break;
	default:
		r = print_table(&l, kind, all_ns, out);
	}
out:
	ds_kvs_done(&kvs);
	model_list_done(&l);
	return r;
}
