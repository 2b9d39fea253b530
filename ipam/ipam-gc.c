/* SPDX-License-Identifier: Apache-2.0 */
/*
 * DOC: IPAM garbage collection, the datastore side (see ipam/ipam-gc.h; the rules are in the pure
 * planner, ipam/block-gc.c).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "ipam/ipam-gc.h"
#include "ipam/ipam.h"
#include "lib/log.h"

#define GC_KEY_MAX 1024
#define GC_MAX_RECORDS (1u << 20)

struct snapshot {
	struct ds_kvs block_kvs, aff_kvs, node_kvs, wep_kvs, mark_kvs;
	struct ipam_block *blocks;
	int64_t *block_revs;
	size_t n_blocks;
	struct ipam_gc_affinity *affs;
	size_t n_affs;
	const char **nodes;
	size_t n_nodes;
	struct ip_addr *used;
	size_t n_used;
	struct ipam_gc_mark *marks;
	char **mark_handles;
	size_t n_marks;
};

static void snapshot_done(struct snapshot *s)
{
	for (size_t i = 0; i < s->n_blocks; i++)
		ipam_block_done(&s->blocks[i]);
	for (size_t i = 0; i < s->n_marks; i++)
		free(s->mark_handles[i]);
	free(s->blocks);
	free(s->block_revs);
	free(s->affs);
	free(s->nodes);
	free(s->used);
	free(s->marks);
	free(s->mark_handles);
	ds_kvs_done(&s->block_kvs);
	ds_kvs_done(&s->aff_kvs);
	ds_kvs_done(&s->node_kvs);
	ds_kvs_done(&s->wep_kvs);
	ds_kvs_done(&s->mark_kvs);
}

static int load_blocks(struct ds_client *ds, struct snapshot *s)
{
	int r = ds_range_prefix(ds, IPAM_KEY_BLOCKS, 0, &s->block_kvs);

	if (r < 0)
		return r;
	if (s->block_kvs.n > GC_MAX_RECORDS)
		return -E2BIG;
	s->blocks = calloc(s->block_kvs.n + 1, sizeof(*s->blocks));
	s->block_revs = calloc(s->block_kvs.n + 1, sizeof(*s->block_revs));
	if (!s->blocks || !s->block_revs)
		return -ENOMEM;
	for (size_t i = 0; i < s->block_kvs.n; i++) {
		const struct ds_kv *kv = &s->block_kvs.items[i];
		struct parse_err err = {0};
		char buf[256];

		r = ipam_block_decode_json(kv->value, kv->value_len, &s->blocks[s->n_blocks], &err);
		if (r == -ENOMEM)
			return r;
		if (r < 0) {
			/* an undecodable block is not ours to judge: leave it (ipam check reports it) */
			log_warn("%s: %s; leaving it alone", kv->key,
				 parse_err_format(&err, buf, sizeof(buf)));
			continue;
		}
		s->block_revs[s->n_blocks++] = kv->mod_revision;
	}
	return 0;
}

static int load_affinities(struct ds_client *ds, struct snapshot *s)
{
	size_t plen = strlen(IPAM_KEY_AFFINITIES);
	int r = ds_range_prefix(ds, IPAM_KEY_AFFINITIES, 0, &s->aff_kvs);

	if (r < 0)
		return r;
	if (s->aff_kvs.n > GC_MAX_RECORDS)
		return -E2BIG;
	s->affs = calloc(s->aff_kvs.n + 1, sizeof(*s->affs));
	if (!s->affs)
		return -ENOMEM;
	for (size_t i = 0; i < s->aff_kvs.n; i++) {
		struct ds_kv *kv = &s->aff_kvs.items[i];
		struct ipam_gc_affinity *a = &s->affs[s->n_affs];
		struct json_object *o, *st;
		char *node = kv->key + plen, *slash = strchr(node, '/');

		if (!slash || slash == node || ipam_block_name_parse(slash + 1, &a->cidr) < 0) {
			log_warn("%s: not <node>/<block>, leaving it alone", kv->key);
			continue;
		}
		*slash = '\0'; /* the key is ours: cut it into the node name */
		a->node = node;
		o = json_tokener_parse(kv->value);
		a->confirmed = o && json_object_object_get_ex(o, "state", &st) &&
			       json_object_is_type(st, json_type_string) &&
			       strcmp(json_object_get_string(st), "confirmed") == 0;
		if (o && json_object_object_get_ex(o, "since", &st) &&
		    json_object_is_type(st, json_type_int))
			a->pending_since_ms = json_object_get_int64(st);
		json_object_put(o);
		a->mod_revision = kv->mod_revision;
		s->n_affs++;
	}
	return 0;
}

static int load_nodes(struct ds_client *ds, struct snapshot *s)
{
	const char *prefix = MODEL_KEY_PREFIX "nodes/";
	int r = ds_range_prefix(ds, prefix, 0, &s->node_kvs);

	if (r < 0)
		return r;
	s->nodes = calloc(s->node_kvs.n + 1, sizeof(*s->nodes));
	if (!s->nodes)
		return -ENOMEM;
	for (size_t i = 0; i < s->node_kvs.n; i++)
		s->nodes[s->n_nodes++] = s->node_kvs.items[i].key + strlen(prefix);
	return 0;
}

/* Append @a to s->used (growing it to at least double). Return: 0 or -ENOMEM. */
static int used_add(struct snapshot *s, size_t *cap, const struct ip_addr *a)
{
	if (s->n_used == *cap) {
		size_t ncap = *cap * 2 + 16;
		struct ip_addr *v = realloc(s->used, ncap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		s->used = v;
		*cap = ncap;
	}
	s->used[s->n_used++] = *a;
	return 0;
}

/*
 * The addresses of one WorkloadEndpoint value: its spec.ipNetworks, read with json-c alone.
 * The GC needs nothing else of the resource, and a full model decode of every endpoint (libyaml,
 * every field validated) was most of a GC pass's CPU at 100,000 endpoints (bench/README.md,
 * issue 8 idle CPU). Being lenient here is safe: an endpoint whose other fields are bad keeps
 * its addresses in use. What cannot be read (not JSON, kind not WorkloadEndpoint, ipNetworks
 * not a list of prefixes) stops the run, as before.
 * Return: 0, -ENOMEM, or -EPROTO with the reason in @why.
 */
static int wep_used(struct snapshot *s, size_t *cap, const struct ds_kv *kv, char *why,
		    size_t whylen)
{
	struct json_tokener *tok = json_tokener_new();
	struct json_object *root, *v, *spec, *nets;
	int r = 0;

	if (!tok)
		return -ENOMEM;
	root = json_tokener_parse_ex(tok, kv->value, (int)kv->value_len);
	if (!root || json_tokener_get_error(tok) != json_tokener_success ||
	    !json_object_is_type(root, json_type_object)) {
		snprintf(why, whylen, "not a JSON object");
		r = -EPROTO;
		goto out;
	}
	if (json_object_object_get_ex(root, "kind", &v) &&
	    (!json_object_is_type(v, json_type_string) ||
	     strcmp(json_object_get_string(v), "WorkloadEndpoint") != 0)) {
		snprintf(why, whylen, "not a WorkloadEndpoint");
		r = -EPROTO;
		goto out;
	}
	if (!json_object_object_get_ex(root, "spec", &spec) ||
	    !json_object_is_type(spec, json_type_object)) {
		snprintf(why, whylen, "spec: missing or not an object");
		r = -EPROTO;
		goto out;
	}
	if (!json_object_object_get_ex(spec, "ipNetworks", &nets))
		goto out; /* no addresses */
	if (!json_object_is_type(nets, json_type_array)) {
		snprintf(why, whylen, "spec.ipNetworks: not a list");
		r = -EPROTO;
		goto out;
	}
	for (size_t i = 0; i < json_object_array_length(nets) && r >= 0; i++) {
		struct json_object *e = json_object_array_get_idx(nets, i);
		struct ip_prefix pfx;

		if (!json_object_is_type(e, json_type_string) ||
		    ip_prefix_parse(json_object_get_string(e), false, &pfx) < 0) {
			snprintf(why, whylen, "spec.ipNetworks[%zu]: not an address or prefix", i);
			r = -EPROTO;
			break;
		}
		r = used_add(s, cap, &pfx.addr);
	}
out:
	json_object_put(root);
	json_tokener_free(tok);
	return r;
}

/* A Node's VXLAN tunnel address (felix's, handle "vxlan-tunnel-addr-<node>") is in use too, as
 * Calico's IPAM GC treats tunnel addresses (after load_nodes()). */
static int load_tunnel_used(struct snapshot *s, size_t *cap)
{
	int r;

	for (size_t i = 0; i < s->node_kvs.n; i++) {
		const struct ds_kv *kv = &s->node_kvs.items[i];
		struct model_resource *res = NULL;
		struct parse_err err = {0};

		r = model_decode_one(kv->value, kv->value_len, kv->key, &res, &err);
		if (r == -ENOMEM)
			return r;
		if (r >= 0 && res->kind == MODEL_KIND_NODE &&
		    res->node.ipv4_vxlan_tunnel_addr.family) {
			if (used_add(s, cap, &res->node.ipv4_vxlan_tunnel_addr) < 0) {
				model_resource_free(res);
				return -ENOMEM;
			}
		}
		model_resource_free(res);
	}
	return 0;
}

/* Every address in use: those a WorkloadEndpoint lists, read from the datastore, or when
 * @hint is not NULL, those @hint lists (an earlier view: see ipam_gc_run_hinted()); then each
 * Node's VXLAN tunnel address. A WorkloadEndpoint that cannot be read stops the run. */
static int load_used(struct ds_client *ds, struct snapshot *s, const struct ipam_gc_hint *hint)
{
	size_t cap = 0;
	int r;

	s->n_used = 0;
	if (hint) {
		for (size_t i = 0; i < hint->n_in_use; i++)
			if (used_add(s, &cap, &hint->in_use[i]) < 0)
				return -ENOMEM;
		return load_tunnel_used(s, &cap);
	}
	r = ds_range_prefix(ds, MODEL_WEP_KEY_PREFIX, 0, &s->wep_kvs);

	if (r < 0)
		return r;
	if (s->wep_kvs.n > GC_MAX_RECORDS)
		return -E2BIG;
	for (size_t i = 0; i < s->wep_kvs.n; i++) {
		const struct ds_kv *kv = &s->wep_kvs.items[i];
		char why[128];

		r = wep_used(s, &cap, kv, why, sizeof(why));
		if (r == -ENOMEM)
			return r;
		if (r < 0)
			return log_error_errno(
			    -EPROTO,
			    "%s: %s: its addresses are unknown, so no allocation "
			    "can be called leaked; fix or delete it first",
			    kv->key, why);
	}
	return load_tunnel_used(s, &cap);
}

static int load_marks(struct ds_client *ds, struct snapshot *s)
{
	int r = ds_range_prefix(ds, IPAM_KEY_GC, 0, &s->mark_kvs);

	if (r < 0)
		return r;
	if (s->mark_kvs.n > GC_MAX_RECORDS)
		return -E2BIG;
	s->marks = calloc(s->mark_kvs.n + 1, sizeof(*s->marks));
	s->mark_handles = calloc(s->mark_kvs.n + 1, sizeof(*s->mark_handles));
	if (!s->marks || !s->mark_handles)
		return -ENOMEM;
	for (size_t i = 0; i < s->mark_kvs.n; i++) {
		const struct ds_kv *kv = &s->mark_kvs.items[i];
		struct ipam_gc_mark *m = &s->marks[s->n_marks];
		struct json_object *o = json_tokener_parse(kv->value), *h, *seq, *since;
		bool ok = o && json_object_is_type(o, json_type_object) &&
			  ip_addr_parse(kv->key + strlen(IPAM_KEY_GC), &m->addr) == 0 &&
			  json_object_object_get_ex(o, "sequence", &seq) &&
			  json_object_is_type(seq, json_type_int) &&
			  json_object_object_get_ex(o, "since", &since) &&
			  json_object_is_type(since, json_type_int);

		if (!ok) {
			json_object_put(o);
			return log_error_errno(
			    -EPROTO, "%s: not a leak mark {\"handle\",\"sequence\",\"since\"}",
			    kv->key);
		}
		m->sequence = json_object_get_int64(seq);
		m->since_ms = json_object_get_int64(since);
		if (json_object_object_get_ex(o, "handle", &h) &&
		    json_object_is_type(h, json_type_string)) {
			s->mark_handles[s->n_marks] = strdup(json_object_get_string(h));
			if (!s->mark_handles[s->n_marks]) {
				json_object_put(o);
				return -ENOMEM;
			}
		}
		m->handle = s->mark_handles[s->n_marks];
		s->n_marks++;
		json_object_put(o);
	}
	return 0;
}

static void mark_key(char buf[static GC_KEY_MAX], const struct ip_addr *a)
{
	char abuf[IP_ADDR_STRLEN];

	snprintf(buf, GC_KEY_MAX, IPAM_KEY_GC "%s", ip_addr_format(a, abuf));
}

static int apply(struct ds_client *ds, const struct ipam_gc_action *a)
{
	char key[GC_KEY_MAX], name[IPAM_BLOCK_NAME_MAX], val[1024];
	struct json_object *o;
	int r;

	switch (a->kind) {
	case IPAM_GC_DELETE_AFFINITY:
		snprintf(key, sizeof(key), IPAM_KEY_AFFINITIES "%s/%s", a->node,
			 ipam_block_name(&a->cidr, name));
		r = ds_delete_if(ds, key, a->revision);
		return r == -ENOENT ? -ESTALE : r;
	case IPAM_GC_DELETE_BLOCK:
		snprintf(key, sizeof(key), IPAM_KEY_BLOCKS "%s", ipam_block_name(&a->cidr, name));
		r = ds_delete_if(ds, key, a->revision);
		return r == -ENOENT ? -ESTALE : r;
	case IPAM_GC_RELEASE:
		r = ipam_release_addr(ds, &a->addr, a->sequence);
		if (r < 0)
			return r;
		mark_key(key, &a->addr);
		r = ds_delete(ds, key, NULL);
		return r == -ENOENT ? 0 : r;
	case IPAM_GC_UNMARK:
		mark_key(key, &a->addr);
		r = ds_delete(ds, key, NULL);
		return r == -ENOENT ? 0 : r;
	case IPAM_GC_MARK:
		o = json_object_new_object();
		if (!o)
			return -ENOMEM;
		if (a->handle)
			json_object_object_add(o, "handle", json_object_new_string(a->handle));
		json_object_object_add(o, "sequence", json_object_new_int64(a->sequence));
		json_object_object_add(o, "since", json_object_new_int64(a->since_ms));
		snprintf(val, sizeof(val), "%s",
			 json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
		json_object_put(o);
		mark_key(key, &a->addr);
		return ds_put(ds, key, val, strlen(val), 0, NULL);
	}
	return -EINVAL;
}

/* Plan over @s (loaded) with what load_used() finds in use. */
static int plan_with(struct ds_client *ds, struct snapshot *s, const struct ipam_gc_hint *hint,
		     int64_t now_ms, int64_t grace_ms, struct ipam_gc_action **plan, size_t *n)
{
	int r = load_used(ds, s, hint);

	if (r >= 0) {
		struct ipam_gc_input in = {.blocks = s->blocks,
					   .block_revs = s->block_revs,
					   .n_blocks = s->n_blocks,
					   .affs = s->affs,
					   .n_affs = s->n_affs,
					   .nodes = s->nodes,
					   .n_nodes = s->n_nodes,
					   .in_use = s->used,
					   .n_in_use = s->n_used,
					   .marks = s->marks,
					   .n_marks = s->n_marks,
					   .now_ms = now_ms,
					   .grace_ms = grace_ms};

		r = ipam_gc_plan(&in, plan, n);
	}
	return r;
}

/* Whether @plan acts on an address (mark, unmark, release): the decisions that read in-use. */
static bool plan_reads_in_use(const struct ipam_gc_action *plan, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (plan[i].kind == IPAM_GC_MARK || plan[i].kind == IPAM_GC_UNMARK ||
		    plan[i].kind == IPAM_GC_RELEASE)
			return true;
	return false;
}

int ipam_gc_run(struct ds_client *ds, int64_t now_ms, int64_t grace_ms, bool dry_run,
		ipam_gc_report_fn report, void *userdata, struct ipam_gc_counts *ret)
{
	return ipam_gc_run_hinted(ds, now_ms, grace_ms, dry_run, NULL, report, userdata, ret);
}

int ipam_gc_run_hinted(struct ds_client *ds, int64_t now_ms, int64_t grace_ms, bool dry_run,
		       const struct ipam_gc_hint *hint, ipam_gc_report_fn report, void *userdata,
		       struct ipam_gc_counts *ret)
{
	struct snapshot s = {0};
	struct ipam_gc_counts c = {0};
	struct ipam_gc_action *plan = NULL;
	size_t n = 0;
	int r;

	if (!ds || grace_ms < 0 || (hint && hint->n_in_use && !hint->in_use))
		return -EINVAL;
	r = load_blocks(ds, &s);
	if (r >= 0)
		r = load_affinities(ds, &s);
	if (r >= 0)
		r = load_nodes(ds, &s);
	if (r >= 0)
		r = load_marks(ds, &s);
	if (r >= 0 && hint) {
		r = plan_with(ds, &s, hint, now_ms, grace_ms, &plan, &n);
		if (r >= 0 && !plan_reads_in_use(plan, n))
			c.hinted = 1;
		else {
			free(plan);
			plan = NULL;
			n = 0;
		}
	}
	if (r >= 0 && !c.hinted)
		r = plan_with(ds, &s, NULL, now_ms, grace_ms, &plan, &n);
	for (size_t i = 0; r >= 0 && i < n; i++) {
		int q = dry_run ? 0 : apply(ds, &plan[i]);

		if (report)
			report(&plan[i], q, userdata);
		if (q == -ESTALE) {
			c.skipped++;
			continue;
		}
		if (q < 0) {
			r = q;
			break;
		}
		switch (plan[i].kind) {
		case IPAM_GC_DELETE_AFFINITY:
			c.affinities++;
			break;
		case IPAM_GC_DELETE_BLOCK:
			c.blocks++;
			break;
		case IPAM_GC_RELEASE:
			c.released++;
			break;
		case IPAM_GC_MARK:
			c.marked++;
			break;
		case IPAM_GC_UNMARK:
			c.unmarked++;
			break;
		}
	}
	if (r >= 0) {
		c.waiting =
		    (unsigned)s.n_marks + c.marked; /* marks read or written: conservative */
		for (size_t i = 0; i < s.n_affs; i++)
			c.waiting += !s.affs[i].confirmed && s.affs[i].pending_since_ms;
		c.waiting += c.skipped;
	}
	free(plan);
	snapshot_done(&s);
	if (r >= 0 && ret)
		*ret = c;
	return r < 0 ? r : 0;
}
