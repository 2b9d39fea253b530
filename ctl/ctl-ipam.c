/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `tabbyctl ipam show|check|release|gc`.
 *
 * show [--show-blocks]: laid out like `calicoctl ipam show`: one row per pool with its size, the
 * addresses in use (summed over the blocks inside it) and the free rest; with --show-blocks, one
 * row per block under its pool with the block's affinity.
 *
 * check [--show-all-ips] [-o json]: cross-checks every block, handle record, affinity record,
 * WorkloadEndpoint and Node, in the manner of `calicoctl ipam check` (calico/calicoctl
 * commands/ipam/check.go): the same scan phases and wording, plus tabby's own checks. A problem
 * is one of
 *   leaked                 an allocation no WorkloadEndpoint uses, or whose node (secondary
 *                          attribute "node", else the block's affinity) has no Node resource
 *                          (Calico's IPAM garbage collection treats those as leaked too);
 *   not-in-pool            a WorkloadEndpoint IP that is allocated nowhere and lies outside every
 *                          enabled pool; not-allocated: the same inside an enabled pool;
 *   wrong-handle           a cni/k8s WorkloadEndpoint IP allocated to a handle that is not
 *                          "<network>.<its containerID>" (DESIGN.md "IPAM");
 *   duplicate-workload-ip  one IP in the ipNetworks of two WorkloadEndpoints;
 *   duplicate-allocation   one IP allocated in two (overlapping) blocks;
 *   leaked-handle          a handle record whose handle holds no address in any block;
 *   missing-handle         a block allocation whose handle has no handle record;
 *   no-handle              a block allocation without a handle;
 *   handle-count           a handle record whose per-block count differs from the blocks;
 *   block-node-missing     a block affine to a node that has no Node resource;
 *   affinity               an affinity record that disagrees with its block: a confirmed
 *                          affinity of a block that is missing or names another node, a pending
 *                          affinity of a missing block, a pending affinity older than the block
 *                          (by etcd revision) that names another node (a claim that lost the race
 *                          and died before removing it), or a block without its affinity record;
 *   undecodable            a block, handle record or WorkloadEndpoint that does not decode.
 * Exit status 0 when nothing is found, 1 when anything is (or on an error).
 *
 * gc [--dry-run] [--grace DURATION]: one leak garbage collection pass (ipam_gc_run(); the rules
 * are in ipam/block-gc.h): stale affinities, empty blocks of deleted nodes, and allocations no
 * WorkloadEndpoint has listed for DURATION (default 15m, Calico's; "0" releases at once). One
 * line per change ("DRY-RUN" prefix with --dry-run), then a summary. DURATION: N[s|m|h].
 *
 * release --ip IP [--force]: free an allocated address (calicoctl ipam release --ip), with the
 * allocation's sequence number so that an address re-assigned meanwhile is left alone. Refused
 * while a WorkloadEndpoint lists IP in its ipNetworks, unless --force.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <time.h>

#include "ctl/ctl.h"
#include "ipam/ipam-gc.h"
#include "ipam/ipam.h"
#include "lib/array.h"

/* Limits on what the datastore controls (STYLE.md section 3). */
#define CK_MAX_BLOCKS 65536u
#define CK_MAX_WEPS (1u << 20)
#define CK_MAX_HANDLE_BLOCKS 4096u

/* ---- ipam show --------------------------------------------------------------------------- */

/* @v in decimal into @buf (at least 40 bytes: 2^128 has 39 digits). */
static void u128_format(unsigned __int128 v, char *buf, size_t size)
{
	char tmp[48];
	size_t n = 0;

	do {
		tmp[n++] = (char)('0' + (int)(v % 10));
		v /= 10;
	} while (v && n < sizeof(tmp));
	for (size_t i = 0; i < n && i + 1 < size; i++)
		buf[i] = tmp[n - 1 - i];
	buf[MIN(n, size - 1)] = '\0';
}

static void count_pct(unsigned __int128 n, unsigned __int128 total, char *buf, size_t size)
{
	double pct = total ? (double)n * 100.0 / (double)total : 0.0;
	char num[48];

	u128_format(n, num, sizeof(num));
	snprintf(buf, size, "%s (%.0f%%)", num, pct);
}

/* The number of addresses in @cidr, exact also for IPv6 pools as large as a /1
 * (ip_prefix_size() saturates at 2^62); ::/0 (2^128) is shown as 2^128 - 1. */
static unsigned __int128 prefix_size128(const struct ip_prefix *cidr)
{
	unsigned host = ip_addr_bits(cidr->addr.family) - cidr->len;

	if (host >= 128)
		return ~(unsigned __int128)0;
	return (unsigned __int128)1 << host;
}

static int add_row(struct ctl_table *t, const char *group, const struct ip_prefix *cidr,
		   unsigned __int128 total, uint64_t used, const char *affinity, bool blocks)
{
	char c[IP_PREFIX_STRLEN], tot[48], u[64], f[64];

	u128_format(total, tot, sizeof(tot));
	count_pct(used, total, u, sizeof(u));
	count_pct(total - used, total, f, sizeof(f));
	return ctl_table_add(t, (const char *const[]){group, ip_prefix_format(cidr, c), tot, u, f,
						      blocks ? affinity : NULL});
}

static int ipam_show(struct ds_client *ds, bool show_blocks)
{
	struct model_list pools = {};
	struct ipam_block *blocks = NULL;
	size_t n_blocks = 0;
	bool *placed = NULL;
	struct ctl_table t = {};
	int r;

	r = ipam_list_pools(ds, &pools);
	if (r < 0)
		return ctl_ds_error(r);
	r = ipam_list_blocks(ds, &blocks, &n_blocks);
	if (r == -EPROTO) {
		ctl_err("a block in the datastore does not decode");
		goto out;
	}
	if (r < 0) {
		ctl_ds_error(r);
		goto out;
	}
	placed = calloc(n_blocks + 1, sizeof(*placed));
	if (!placed) {
		r = -ENOMEM;
		goto out;
	}
	r = show_blocks ? ctl_table_init(&t, (const char *const[]){"GROUPING", "CIDR", "IPS TOTAL",
								   "IPS IN USE", "IPS FREE",
								   "AFFINITY", NULL})
			: ctl_table_init(&t, (const char *const[]){"GROUPING", "CIDR", "IPS TOTAL",
								   "IPS IN USE", "IPS FREE", NULL});
	if (r < 0)
		goto out;
	if (!show_blocks)
		t.ncols = 5;
	for (size_t i = 0; r >= 0 && i < pools.n; i++) {
		const struct ip_prefix *cidr = &pools.items[i]->ippool.cidr;
		uint64_t used = 0;

		for (size_t b = 0; b < n_blocks; b++)
			if (ip_prefix_contains(cidr, &blocks[b].cidr))
				used += ipam_block_in_use(&blocks[b]);
		r = add_row(&t, "IP Pool", cidr, prefix_size128(cidr), used, NULL, show_blocks);
		for (size_t b = 0; r >= 0 && show_blocks && b < n_blocks; b++) {
			if (placed[b] || !ip_prefix_contains(cidr, &blocks[b].cidr))
				continue;
			placed[b] = true;
			r = add_row(&t, "Block", &blocks[b].cidr, blocks[b].n,
				    ipam_block_in_use(&blocks[b]),
				    blocks[b].affinity ? blocks[b].affinity : "(none)", true);
		}
	}
	/* blocks whose pool is gone still hold addresses: show them too */
	for (size_t b = 0; r >= 0 && show_blocks && b < n_blocks; b++)
		if (!placed[b])
			r = add_row(&t, "Block (no pool)", &blocks[b].cidr, blocks[b].n,
				    ipam_block_in_use(&blocks[b]),
				    blocks[b].affinity ? blocks[b].affinity : "(none)", true);
	if (r >= 0)
		ctl_table_print(&t, true);
out:
	if (t.cells)
		ctl_table_done(&t);
	for (size_t b = 0; b < n_blocks; b++)
		ipam_block_done(&blocks[b]);
	free(blocks);
	free(placed);
	model_list_done(&pools);
	return r;
}

/* ---- the datastore snapshot that check and release work on ------------------------------- */

struct ck_block {
	struct ipam_block b;
	char name[IPAM_BLOCK_NAME_MAX]; /* key segment "198.19.0.0-26" */
	char cidr[IP_PREFIX_STRLEN];	/* shown to the user: "198.19.0.0/26" */
	const char *node; /* the affinity's node (into b.affinity), NULL when unaffine */
	int64_t create_revision;
};

/* One allocated address of one block. */
struct ck_alloc {
	struct ip_addr addr;
	size_t block; /* index into blocks */
	const struct ipam_attr *attr;
	const char *node; /* secondary "node", else the block's affinity node; may be NULL */
	int64_t sequence;
	size_t n_owners; /* WorkloadEndpoints listing addr */
};

/* One IP of one WorkloadEndpoint. */
struct ck_use {
	struct ip_addr addr;
	const struct model_resource *wep;
};

struct ck_handle_entry {
	char name[IPAM_BLOCK_NAME_MAX];
	char cidr[IP_PREFIX_STRLEN];
	int64_t count;
};

struct ck_handle {
	char *id;
	struct ck_handle_entry *items;
	size_t n;
};

struct ck_affinity {
	char *node;
	char name[IPAM_BLOCK_NAME_MAX];
	char cidr[IP_PREFIX_STRLEN];
	bool confirmed;
	int64_t mod_revision;
};

struct ck_state {
	struct ck_block *blocks;
	size_t n_blocks;
	struct ck_alloc *allocs; /* sorted by address, then block */
	size_t n_allocs;
	struct model_list weps;
	struct ck_use *uses; /* sorted by address, then endpoint */
	size_t n_uses;
	struct model_list pools;
	char **nodes; /* sorted */
	size_t n_nodes;
	struct ck_handle *handles; /* sorted by id */
	size_t n_handles;
	struct ck_affinity *affs;
	size_t n_affs;
	/* what did not decode: "<key>: <why>" */
	char **undecodable;
	size_t n_undecodable;
};

static void ck_state_done(struct ck_state *s)
{
	for (size_t i = 0; i < s->n_blocks; i++)
		ipam_block_done(&s->blocks[i].b);
	free(s->blocks);
	free(s->allocs);
	model_list_done(&s->weps);
	free(s->uses);
	model_list_done(&s->pools);
	for (size_t i = 0; i < s->n_nodes; i++)
		free(s->nodes[i]);
	free(s->nodes);
	for (size_t i = 0; i < s->n_handles; i++) {
		free(s->handles[i].id);
		free(s->handles[i].items);
	}
	free(s->handles);
	for (size_t i = 0; i < s->n_affs; i++)
		free(s->affs[i].node);
	free(s->affs);
	for (size_t i = 0; i < s->n_undecodable; i++)
		free(s->undecodable[i]);
	free(s->undecodable);
	*s = (struct ck_state){};
}

static int note_undecodable(struct ck_state *s, const char *key, const char *why)
{
	char **v = realloc(s->undecodable, (s->n_undecodable + 1) * sizeof(*v));

	if (!v)
		return -ENOMEM;
	s->undecodable = v;
	if (asprintf(&v[s->n_undecodable], "%s: %s", key, why) < 0)
		return -ENOMEM;
	s->n_undecodable++;
	return 0;
}

static int alloc_cmp(const void *a, const void *b)
{
	const struct ck_alloc *x = a, *y = b;
	int c = ip_addr_cmp(&x->addr, &y->addr);

	return c ? c : (x->block > y->block) - (x->block < y->block);
}

static int use_cmp(const void *a, const void *b)
{
	const struct ck_use *x = a, *y = b;
	int c = ip_addr_cmp(&x->addr, &y->addr);

	if (c)
		return c;
	c = strcmp(x->wep->meta.namespace ? x->wep->meta.namespace : "",
		   y->wep->meta.namespace ? y->wep->meta.namespace : "");
	return c ? c : strcmp(x->wep->meta.name, y->wep->meta.name);
}

static int handle_cmp(const void *a, const void *b)
{
	return strcmp(((const struct ck_handle *)a)->id, ((const struct ck_handle *)b)->id);
}

static const char *affinity_node(const char *affinity)
{
	return affinity && strncmp(affinity, "host:", 5) == 0 && affinity[5] ? affinity + 5 : NULL;
}

/* Every block, and every allocation in them. */
static int load_blocks(struct ds_client *ds, struct ck_state *s)
{
	struct ds_kvs kvs = {};
	size_t n_allocs = 0;
	int r;

	r = ds_range_prefix(ds, IPAM_KEY_BLOCKS, 0, &kvs);
	if (r < 0)
		return ctl_ds_error(r);
	if (kvs.n > CK_MAX_BLOCKS) {
		ds_kvs_done(&kvs);
		return ctl_err("more than %u IPAM blocks in the datastore", CK_MAX_BLOCKS);
	}
	s->blocks = calloc(kvs.n + 1, sizeof(*s->blocks));
	if (!s->blocks) {
		ds_kvs_done(&kvs);
		return -ENOMEM;
	}
	for (size_t i = 0; i < kvs.n; i++) {
		struct ck_block *cb = &s->blocks[s->n_blocks];
		struct parse_err err = {};
		char buf[512];

		r = ipam_block_decode_json(kvs.items[i].value, kvs.items[i].value_len, &cb->b,
					   &err);
		if (r == -ENOMEM)
			goto out;
		if (r < 0) {
			r = note_undecodable(s, kvs.items[i].key,
					     parse_err_format(&err, buf, sizeof(buf)));
			if (r < 0)
				goto out;
			continue;
		}
		ipam_block_name(&cb->b.cidr, cb->name);
		ip_prefix_format(&cb->b.cidr, cb->cidr);
		cb->node = affinity_node(cb->b.affinity);
		cb->create_revision = kvs.items[i].create_revision;
		n_allocs += ipam_block_in_use(&cb->b);
		s->n_blocks++;
	}
	s->allocs = calloc(n_allocs + 1, sizeof(*s->allocs));
	if (!s->allocs) {
		r = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < s->n_blocks; i++) {
		const struct ck_block *cb = &s->blocks[i];

		for (uint32_t ord = 0; ord < cb->b.n && s->n_allocs < n_allocs; ord++) {
			struct ck_alloc *a = &s->allocs[s->n_allocs];
			int32_t idx = cb->b.allocations[ord];
			const char *node;

			if (idx < 0)
				continue;
			r = ip_addr_add(&cb->b.cidr.addr, ord, &a->addr);
			if (r < 0)
				goto out;
			a->block = i;
			a->attr = (size_t)idx < cb->b.n_attrs ? &cb->b.attrs[idx] : NULL;
			node = a->attr ? model_labels_get(&a->attr->secondary, "node") : NULL;
			a->node = node && *node ? node : cb->node;
			a->sequence = cb->b.seq_for_alloc ? (int64_t)cb->b.seq_for_alloc[ord] : -1;
			s->n_allocs++;
		}
	}
	array_sort(s->allocs, s->n_allocs, sizeof(*s->allocs), alloc_cmp);
	r = 0;
out:
	ds_kvs_done(&kvs);
	return r;
}

/* Every WorkloadEndpoint, and one use per IP it lists. */
static int load_weps(struct ds_client *ds, struct ck_state *s)
{
	struct ds_kvs kvs = {};
	size_t n_uses = 0;
	int r;

	r = ds_range_prefix(ds, MODEL_WEP_KEY_PREFIX, 0, &kvs);
	if (r < 0)
		return ctl_ds_error(r);
	if (kvs.n > CK_MAX_WEPS) {
		ds_kvs_done(&kvs);
		return ctl_err("more than %u WorkloadEndpoints in the datastore", CK_MAX_WEPS);
	}
	s->weps.items = calloc(kvs.n + 1, sizeof(*s->weps.items));
	if (!s->weps.items) {
		ds_kvs_done(&kvs);
		return -ENOMEM;
	}
	for (size_t i = 0; i < kvs.n; i++) {
		struct model_resource *res = NULL;
		struct parse_err err = {};
		char buf[512];

		r = model_decode_one(kvs.items[i].value, kvs.items[i].value_len, kvs.items[i].key,
				     &res, &err);
		if (r == -ENOMEM)
			goto out;
		if (r >= 0 && res->kind != MODEL_KIND_WORKLOAD_ENDPOINT) {
			res = model_resource_free(res);
			snprintf(err.msg, sizeof(err.msg), "not a WorkloadEndpoint");
			r = -EINVAL;
		}
		if (r < 0) {
			r = note_undecodable(s, kvs.items[i].key,
					     parse_err_format(&err, buf, sizeof(buf)));
			if (r < 0)
				goto out;
			continue;
		}
		s->weps.items[s->weps.n++] = res;
		n_uses += res->wep.n_ip_networks;
	}
	s->uses = calloc(n_uses + 1, sizeof(*s->uses));
	if (!s->uses) {
		r = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < s->weps.n; i++) {
		const struct model_resource *w = s->weps.items[i];

		for (size_t k = 0; k < w->wep.n_ip_networks; k++) {
			bool again = false;

			/* an endpoint listing one address twice owns it once */
			for (size_t j = 0; j < k; j++)
				again = again || ip_addr_equal(&w->wep.ip_networks[j].addr,
							       &w->wep.ip_networks[k].addr);
			if (again)
				continue;
			s->uses[s->n_uses++] =
			    (struct ck_use){.addr = w->wep.ip_networks[k].addr, .wep = w};
		}
	}
	array_sort(s->uses, s->n_uses, sizeof(*s->uses), use_cmp);
	r = 0;
out:
	ds_kvs_done(&kvs);
	return r;
}

static int load_nodes(struct ds_client *ds, struct ck_state *s)
{
	const size_t plen = strlen(MODEL_KEY_PREFIX "nodes/");
	struct ds_kvs kvs = {};
	int r;

	r = ds_range_prefix(ds, MODEL_KEY_PREFIX "nodes/", 0, &kvs);
	if (r < 0)
		return ctl_ds_error(r);
	s->nodes = calloc(kvs.n + 1, sizeof(*s->nodes));
	if (!s->nodes) {
		ds_kvs_done(&kvs);
		return -ENOMEM;
	}
	for (size_t i = 0; i < kvs.n; i++) {
		s->nodes[s->n_nodes] = strdup(kvs.items[i].key + plen);
		if (!s->nodes[s->n_nodes]) {
			ds_kvs_done(&kvs);
			return -ENOMEM;
		}
		s->n_nodes++;
	}
	array_sort(s->nodes, s->n_nodes, sizeof(*s->nodes), array_cmp_str);
	ds_kvs_done(&kvs);
	return 0;
}

/* {"handleID":"..","block":{"<a.b.c.d-len>":count}} (ipam/ipam.h). Return: 0, -EPROTO, -ENOMEM. */
static int handle_decode(const struct ds_kv *kv, const char *id, struct ck_handle *ret,
			 const char **ret_why)
{
	struct json_object *o, *blocks;
	struct ck_handle h = {};
	int r = -EPROTO;

	o = json_tokener_parse(kv->value);
	*ret_why = "not a JSON object with a \"block\" object";
	if (!o || !json_object_object_get_ex(o, "block", &blocks) ||
	    !json_object_is_type(blocks, json_type_object))
		goto out;
	if ((size_t)json_object_object_length(blocks) > CK_MAX_HANDLE_BLOCKS) {
		*ret_why = "too many blocks";
		goto out;
	}
	h.items = calloc((size_t)json_object_object_length(blocks) + 1, sizeof(*h.items));
	h.id = strdup(id);
	if (!h.items || !h.id) {
		r = -ENOMEM;
		goto out;
	}
	json_object_object_foreach(blocks, name, count)
	{
		struct ip_prefix c;

		if (ipam_block_name_parse(name, &c) < 0 ||
		    !json_object_is_type(count, json_type_int) ||
		    json_object_get_int64(count) < 0) {
			*ret_why = "a block entry is not \"<a.b.c.d-len>\": count";
			goto out;
		}
		snprintf(h.items[h.n].name, sizeof(h.items[h.n].name), "%s", name);
		ip_prefix_format(&c, h.items[h.n].cidr);
		h.items[h.n++].count = json_object_get_int64(count);
	}
	*ret = h;
	h = (struct ck_handle){};
	r = 0;
out:
	free(h.id);
	free(h.items);
	json_object_put(o);
	return r;
}

static int load_handles(struct ds_client *ds, struct ck_state *s)
{
	const size_t plen = strlen(IPAM_KEY_HANDLES);
	struct ds_kvs kvs = {};
	int r;

	r = ds_range_prefix(ds, IPAM_KEY_HANDLES, 0, &kvs);
	if (r < 0)
		return ctl_ds_error(r);
	s->handles = calloc(kvs.n + 1, sizeof(*s->handles));
	if (!s->handles) {
		ds_kvs_done(&kvs);
		return -ENOMEM;
	}
	for (size_t i = 0; i < kvs.n; i++) {
		const char *why = NULL;

		r = handle_decode(&kvs.items[i], kvs.items[i].key + plen, &s->handles[s->n_handles],
				  &why);
		if (r == -EPROTO)
			r = note_undecodable(s, kvs.items[i].key, why);
		else if (r >= 0)
			s->n_handles++;
		if (r < 0) {
			ds_kvs_done(&kvs);
			return r;
		}
	}
	array_sort(s->handles, s->n_handles, sizeof(*s->handles), handle_cmp);
	ds_kvs_done(&kvs);
	return 0;
}

/* /tabby/v1/ipam/affinities/<node>/<a.b.c.d-len> = {"state":"pending"|"confirmed"} */
static int load_affinities(struct ds_client *ds, struct ck_state *s)
{
	const size_t plen = strlen(IPAM_KEY_AFFINITIES);
	struct ds_kvs kvs = {};
	int r = 0;

	r = ds_range_prefix(ds, IPAM_KEY_AFFINITIES, 0, &kvs);
	if (r < 0)
		return ctl_ds_error(r);
	s->affs = calloc(kvs.n + 1, sizeof(*s->affs));
	if (!s->affs) {
		ds_kvs_done(&kvs);
		return -ENOMEM;
	}
	for (size_t i = 0; r >= 0 && i < kvs.n; i++) {
		const char *rest = kvs.items[i].key + plen, *slash = strrchr(rest, '/');
		struct ck_affinity *a = &s->affs[s->n_affs];
		struct json_object *o = NULL, *st;
		struct ip_prefix c;

		if (!slash || slash == rest || ipam_block_name_parse(slash + 1, &c) < 0) {
			r = note_undecodable(s, kvs.items[i].key, "not <node>/<a.b.c.d-len>");
			continue;
		}
		a->node = strndup(rest, (size_t)(slash - rest));
		if (!a->node) {
			r = -ENOMEM;
			break;
		}
		snprintf(a->name, sizeof(a->name), "%s", slash + 1);
		ip_prefix_format(&c, a->cidr);
		o = json_tokener_parse(kvs.items[i].value);
		a->confirmed = o && json_object_object_get_ex(o, "state", &st) &&
			       json_object_is_type(st, json_type_string) &&
			       strcmp(json_object_get_string(st), "confirmed") == 0;
		json_object_put(o);
		a->mod_revision = kvs.items[i].mod_revision;
		s->n_affs++;
	}
	ds_kvs_done(&kvs);
	return r;
}

/* First index in the sorted @s->allocs / @s->uses whose address is >= @a. */
static size_t allocs_lower(const struct ck_state *s, const struct ip_addr *a)
{
	size_t lo = 0, hi = s->n_allocs;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (ip_addr_cmp(&s->allocs[mid].addr, a) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static size_t uses_lower(const struct ck_state *s, const struct ip_addr *a)
{
	size_t lo = 0, hi = s->n_uses;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (ip_addr_cmp(&s->uses[mid].addr, a) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static bool node_exists(const struct ck_state *s, const char *node)
{
	return array_find(&node, s->nodes, s->n_nodes, sizeof(*s->nodes), array_cmp_str) != NULL;
}

static const struct ck_handle *handle_find(const struct ck_state *s, const char *id)
{
	struct ck_handle key = {.id = (char *)id};

	return array_find(&key, s->handles, s->n_handles, sizeof(*s->handles), handle_cmp);
}

static const struct ck_block *block_by_name(const struct ck_state *s, const char *name)
{
	for (size_t i = 0; i < s->n_blocks; i++)
		if (strcmp(s->blocks[i].name, name) == 0)
			return &s->blocks[i];
	return NULL;
}

static void wep_label(const struct model_resource *w, char *buf, size_t size)
{
	snprintf(buf, size, "Workload(%s/%s)", w->meta.namespace ? w->meta.namespace : "",
		 w->meta.name);
}

/* "Main:<handle> Extra:k=v,k=v", as calicoctl prints an allocation's attributes. */
static void attr_string(const struct ipam_attr *at, char *buf, size_t size)
{
	size_t len;

	snprintf(buf, size, "Main:%s Extra:", at && at->handle_id ? at->handle_id : "<none>");
	for (size_t i = 0; at && i < at->secondary.n; i++) {
		len = strlen(buf);
		snprintf(buf + len, size - len, "%s%s=%s", i ? "," : "", at->secondary.items[i].key,
			 at->secondary.items[i].value);
	}
}

/* ---- ipam check -------------------------------------------------------------------------- */

enum ck_type {
	CK_LEAKED,
	CK_NOT_IN_POOL,
	CK_NOT_ALLOCATED,
	CK_WRONG_HANDLE,
	CK_DUP_WORKLOAD,
	CK_DUP_ALLOCATION,
	CK_LEAKED_HANDLE,
	CK_MISSING_HANDLE,
	CK_NO_HANDLE,
	CK_HANDLE_COUNT,
	CK_BLOCK_NODE,
	CK_AFFINITY,
	CK_UNDECODABLE,
	_CK_MAX,
};

static const char *const ck_type_name[_CK_MAX] = {
    [CK_LEAKED] = "leaked",
    [CK_NOT_IN_POOL] = "not-in-pool",
    [CK_NOT_ALLOCATED] = "not-allocated",
    [CK_WRONG_HANDLE] = "wrong-handle",
    [CK_DUP_WORKLOAD] = "duplicate-workload-ip",
    [CK_DUP_ALLOCATION] = "duplicate-allocation",
    [CK_LEAKED_HANDLE] = "leaked-handle",
    [CK_MISSING_HANDLE] = "missing-handle",
    [CK_NO_HANDLE] = "no-handle",
    [CK_HANDLE_COUNT] = "handle-count",
    [CK_BLOCK_NODE] = "block-node-missing",
    [CK_AFFINITY] = "affinity",
    [CK_UNDECODABLE] = "undecodable",
};

struct ck_report {
	bool json;
	bool show_all;
	struct json_object *root;
	struct json_object *problems;
	unsigned count[_CK_MAX];
	unsigned total;
	int error; /* -ENOMEM seen while building JSON */
};

/* Fields of one problem; NULL ones are left out of the JSON. */
struct ck_fields {
	const char *ip;
	const char *block;
	const char *handle;
	const char *node;
	const struct ck_use *uses; /* WorkloadEndpoints involved: "workloads": ["ns/name"] */
	size_t n_uses;
	bool has_sequence;
	int64_t sequence; /* the allocation's sequenceNumberForAllocation */
	const char *key;
};

/* Text mode only: a progress or count line. */
static void say(const struct ck_report *rep, const char *fmt, ...) _printf_(2, 3);
static void say(const struct ck_report *rep, const char *fmt, ...)
{
	va_list ap;

	if (rep->json)
		return;
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
}

static void jadd_str(struct ck_report *rep, struct json_object *o, const char *k, const char *v)
{
	struct json_object *s;

	if (!v)
		return;
	s = json_object_new_string(v);
	if (!s || json_object_object_add(o, k, s) < 0) {
		json_object_put(s);
		rep->error = -ENOMEM;
	}
}

static void jadd_int(struct ck_report *rep, struct json_object *o, const char *k, int64_t v)
{
	struct json_object *i = json_object_new_int64(v);

	if (!i || json_object_object_add(o, k, i) < 0) {
		json_object_put(i);
		rep->error = -ENOMEM;
	}
}

/* One problem: a "  MESSAGE" line, or an entry of the JSON report's "problems". */
static void problem(struct ck_report *rep, enum ck_type type, const struct ck_fields *f,
		    const char *fmt, ...) _printf_(4, 5);
static void problem(struct ck_report *rep, enum ck_type type, const struct ck_fields *f,
		    const char *fmt, ...)
{
	struct json_object *o;
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	rep->count[type]++;
	rep->total++;
	if (!rep->json) {
		printf("  %s\n", msg);
		return;
	}
	o = json_object_new_object();
	if (!o || json_object_array_add(rep->problems, o) < 0) {
		json_object_put(o);
		rep->error = -ENOMEM;
		return;
	}
	jadd_str(rep, o, "type", ck_type_name[type]);
	jadd_str(rep, o, "ip", f->ip);
	jadd_str(rep, o, "block", f->block);
	jadd_str(rep, o, "handle", f->handle);
	jadd_str(rep, o, "node", f->node);
	if (f->n_uses) {
		struct json_object *a = json_object_new_array();

		if (!a || json_object_object_add(o, "workloads", a) < 0) {
			json_object_put(a);
			rep->error = -ENOMEM;
		}
		for (size_t i = 0; a && i < f->n_uses; i++) {
			const struct model_resource *w = f->uses[i].wep;
			char who[600];

			snprintf(who, sizeof(who), "%s/%s",
				 w->meta.namespace ? w->meta.namespace : "", w->meta.name);
			if (json_object_array_add(a, json_object_new_string(who)) < 0)
				rep->error = -ENOMEM;
		}
	}
	if (f->has_sequence)
		jadd_int(rep, o, "sequenceNumber", f->sequence);
	jadd_str(rep, o, "key", f->key);
	jadd_str(rep, o, "message", msg);
}

static bool in_active_pool(const struct ck_state *s, const struct ip_addr *a)
{
	for (size_t i = 0; i < s->pools.n; i++)
		if (!s->pools.items[i]->ippool.disabled &&
		    ip_prefix_contains_addr(&s->pools.items[i]->ippool.cidr, a))
			return true;
	return false;
}

/* The handle a WorkloadEndpoint's allocation must carry ends in ".<containerID>", when the
 * orchestrator names handles that way (cni, k8s); libnetwork's handles are random. */
static const char *wep_container_id(const struct model_resource *w)
{
	const char *o = w->wep.orchestrator;

	if (!o || (strcmp(o, "cni") != 0 && strcmp(o, "k8s") != 0))
		return NULL;
	return w->wep.container_id && *w->wep.container_id ? w->wep.container_id : NULL;
}

static bool handle_matches_container(const char *handle, const char *cid)
{
	size_t hl, cl = strlen(cid);

	if (!handle)
		return false;
	hl = strlen(handle);
	return hl > cl + 1 && handle[hl - cl - 1] == '.' && strcmp(handle + hl - cl, cid) == 0;
}

/* Allocations nobody uses, and those whose node is gone. */
static void scan_leaks(const struct ck_state *s, struct ck_report *rep)
{
	unsigned n = 0;

	say(rep, "Scanning for IPs that are allocated but not actually in use...\n");
	for (size_t i = 0; i < s->n_allocs; i++) {
		const struct ck_alloc *a = &s->allocs[i];
		const struct ck_block *b = &s->blocks[a->block];
		bool node_gone = a->node && !node_exists(s, a->node);
		char ip[IP_ADDR_STRLEN], attrs[1024];
		struct ck_fields f = {.block = b->cidr,
				      .node = a->node,
				      .has_sequence = a->sequence >= 0,
				      .sequence = a->sequence};

		if (a->n_owners > 0 && !node_gone)
			continue;
		/* A node's VXLAN tunnel address (felix's handle "vxlan-tunnel-addr-<node>",
		 * CALC_VXLAN_HANDLE_PREFIX) has no endpoint: in use while its node exists, as in
		 * Calico's ipam check. */
		if (a->attr && a->attr->handle_id &&
		    strncmp(a->attr->handle_id, "vxlan-tunnel-addr-", 18) == 0 &&
		    node_exists(s, a->attr->handle_id + 18))
			continue;
		ip_addr_format(&a->addr, ip);
		attr_string(a->attr, attrs, sizeof(attrs));
		f.ip = ip;
		f.handle = a->attr ? a->attr->handle_id : NULL;
		if (a->n_owners == 0)
			problem(rep, CK_LEAKED, &f, "%s leaked; attrs %s%s%s%s", ip, attrs,
				node_gone ? " (node " : "", node_gone ? a->node : "",
				node_gone ? " does not exist)" : "");
		else
			problem(rep, CK_LEAKED, &f,
				"%s leaked: node %s does not exist (still listed by %zu "
				"WorkloadEndpoint(s)); attrs %s",
				ip, a->node, a->n_owners, attrs);
		n++;
	}
	say(rep, "Found %u IPs that are allocated in IPAM but not actually in use.\n", n);
}

/* Endpoint IPs without an allocation, or allocated to another container's handle. */
static void scan_unallocated(const struct ck_state *s, struct ck_report *rep)
{
	say(rep, "Scanning for IPs that are in use by a workload but not allocated in IPAM...\n");
	for (size_t i = 0; i < s->n_uses; i++) {
		const struct ck_use *u = &s->uses[i];
		size_t lo = allocs_lower(s, &u->addr), hi = lo;
		char ip[IP_ADDR_STRLEN], who[600];
		struct ck_fields f = {.ip = ip, .uses = u, .n_uses = 1, .node = u->wep->wep.node};
		const char *cid = wep_container_id(u->wep);
		bool match = false;

		while (hi < s->n_allocs && ip_addr_equal(&s->allocs[hi].addr, &u->addr))
			hi++;
		ip_addr_format(&u->addr, ip);
		wep_label(u->wep, who, sizeof(who));
		if (lo == hi) {
			if (in_active_pool(s, &u->addr))
				problem(rep, CK_NOT_ALLOCATED, &f,
					"%s in use by %s and in active IPAM pool but has no IPAM "
					"allocation.",
					ip, who);
			else
				problem(rep, CK_NOT_IN_POOL, &f,
					"%s in use by %s is not in any active IP pool.", ip, who);
			continue;
		}
		if (!cid)
			continue;
		for (size_t k = lo; k < hi; k++)
			match = match ||
				handle_matches_container(
				    s->allocs[k].attr ? s->allocs[k].attr->handle_id : NULL, cid);
		if (!match) {
			const struct ck_alloc *a = &s->allocs[lo];

			f.handle = a->attr && a->attr->handle_id ? a->attr->handle_id : NULL;
			f.block = s->blocks[a->block].cidr;
			problem(rep, CK_WRONG_HANDLE, &f,
				"%s in use by %s (container %s) is allocated to handle %s, not "
				"<network>.%s.",
				ip, who, cid, f.handle ? f.handle : "<none>", cid);
		}
	}
	say(rep, "Found %u in-use IPs that are not in active IP pools.\n",
	    rep->count[CK_NOT_IN_POOL]);
	say(rep,
	    "Found %u in-use IPs that are in active IP pools but have no corresponding IPAM "
	    "allocation.\n",
	    rep->count[CK_NOT_ALLOCATED]);
	say(rep, "Found %u in-use IPs that are allocated to another container's handle.\n",
	    rep->count[CK_WRONG_HANDLE]);
}

static void scan_duplicates(const struct ck_state *s, struct ck_report *rep)
{
	say(rep, "Scanning for IPs used or allocated more than once...\n");
	for (size_t i = 0; i < s->n_uses;) {
		size_t j = i + 1;

		while (j < s->n_uses && ip_addr_equal(&s->uses[j].addr, &s->uses[i].addr))
			j++;
		if (j - i > 1) {
			char ip[IP_ADDR_STRLEN], who[2048] = "";
			struct ck_fields f = {.ip = ip, .uses = &s->uses[i], .n_uses = j - i};

			for (size_t k = i; k < j; k++) {
				size_t len = strlen(who);

				if (k > i)
					snprintf(who + len, sizeof(who) - len, ", ");
				len = strlen(who);
				wep_label(s->uses[k].wep, who + len, sizeof(who) - len);
			}
			ip_addr_format(&s->uses[i].addr, ip);
			problem(rep, CK_DUP_WORKLOAD, &f, "%s has multiple owners: %s.", ip, who);
		}
		i = j;
	}
	for (size_t i = 0; i < s->n_allocs;) {
		size_t j = i + 1;

		while (j < s->n_allocs && ip_addr_equal(&s->allocs[j].addr, &s->allocs[i].addr))
			j++;
		if (j - i > 1) {
			char ip[IP_ADDR_STRLEN], blocks[1024] = "";
			struct ck_fields f = {.ip = ip, .block = blocks};

			for (size_t k = i; k < j; k++) {
				size_t len = strlen(blocks);

				snprintf(blocks + len, sizeof(blocks) - len, "%s%s",
					 k > i ? "," : "", s->blocks[s->allocs[k].block].cidr);
			}
			ip_addr_format(&s->allocs[i].addr, ip);
			problem(rep, CK_DUP_ALLOCATION, &f, "%s is allocated in %zu blocks: %s.",
				ip, j - i, blocks);
		}
		i = j;
	}
	say(rep, "Found %u IPs in use by more than one workload.\n", rep->count[CK_DUP_WORKLOAD]);
	say(rep, "Found %u IPs allocated in more than one block.\n", rep->count[CK_DUP_ALLOCATION]);
}

/* How many addresses one handle holds in one block, from the blocks themselves. */
struct ck_held {
	const char *handle;
	size_t block;
	int64_t count;
};

static int held_cmp(const void *a, const void *b)
{
	const struct ck_held *x = a, *y = b;
	int c = strcmp(x->handle, y->handle);

	return c ? c : (x->block > y->block) - (x->block < y->block);
}

/* First index of @handle in the sorted @v. */
static size_t held_lower(const struct ck_held *v, size_t n, const char *handle)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (strcmp(v[mid].handle, handle) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static void check_handle_record(const struct ck_state *s, const struct ck_handle *h,
				const struct ck_held *v, size_t lo, size_t hi,
				struct ck_report *rep)
{
	struct ck_fields f = {.handle = h->id};

	/* the record's counts against the blocks, both ways */
	for (size_t e = 0; e < h->n; e++) {
		int64_t n = 0;

		for (size_t k = lo; k < hi; k++)
			if (strcmp(s->blocks[v[k].block].name, h->items[e].name) == 0)
				n = v[k].count;
		if (n == h->items[e].count)
			continue;
		f.block = h->items[e].cidr;
		problem(rep, CK_HANDLE_COUNT, &f,
			"handle %s records %" PRId64 " address(es) in block %s, the block%s holds "
			"%" PRId64 ".",
			h->id, h->items[e].count, h->items[e].cidr,
			block_by_name(s, h->items[e].name) ? "" : " does not exist: it", n);
	}
	for (size_t k = lo; k < hi; k++) {
		const char *name = s->blocks[v[k].block].name, *cidr = s->blocks[v[k].block].cidr;
		bool listed = false;

		for (size_t e = 0; !listed && e < h->n; e++)
			listed = strcmp(h->items[e].name, name) == 0;
		if (listed)
			continue;
		f.block = cidr;
		problem(rep, CK_HANDLE_COUNT, &f,
			"handle %s holds %" PRId64 " address(es) in block %s, which its record "
			"does not list.",
			h->id, v[k].count, cidr);
	}
}

static int scan_handles(const struct ck_state *s, struct ck_report *rep)
{
	_cleanup_free_ struct ck_held *v = calloc(s->n_allocs + 1, sizeof(*v));
	size_t n = 0, m = 0;
	unsigned good = 0;

	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < s->n_allocs; i++)
		if (s->allocs[i].attr && s->allocs[i].attr->handle_id)
			v[n++] = (struct ck_held){.handle = s->allocs[i].attr->handle_id,
						  .block = s->allocs[i].block,
						  .count = 1};
	qsort(v, n, sizeof(*v), held_cmp);
	/* one entry per (handle, block), with its count */
	for (size_t i = 0; i < n; i++) {
		if (m > 0 && held_cmp(&v[m - 1], &v[i]) == 0)
			v[m - 1].count++;
		else
			v[m++] = v[i];
	}
	n = m;

	say(rep, "Scanning for IPAM handles with no matching IPs...\n");
	for (size_t i = 0; i < s->n_handles; i++) {
		const struct ck_handle *h = &s->handles[i];
		size_t lo = held_lower(v, n, h->id), hi = lo;
		struct ck_fields f = {.handle = h->id};

		while (hi < n && strcmp(v[hi].handle, h->id) == 0)
			hi++;
		if (lo == hi) {
			problem(rep, CK_LEAKED_HANDLE, &f, "%s doesn't have any active IPs.",
				h->id);
			continue;
		}
		good++;
		check_handle_record(s, h, v, lo, hi, rep);
	}
	say(rep, "Found %u handles with no matching IPs (and %u handles with matches).\n",
	    rep->count[CK_LEAKED_HANDLE], good);
	say(rep, "Found %u handle records that disagree with the blocks.\n",
	    rep->count[CK_HANDLE_COUNT]);

	say(rep, "Scanning for IPs with missing handle...\n");
	for (size_t i = 0; i < n; i++) {
		struct ck_fields f = {.handle = v[i].handle, .block = s->blocks[v[i].block].cidr};

		if ((i > 0 && strcmp(v[i - 1].handle, v[i].handle) == 0) ||
		    handle_find(s, v[i].handle))
			continue;
		problem(rep, CK_MISSING_HANDLE, &f, "%s is in use in a block but doesn't exist.",
			v[i].handle);
	}
	for (size_t i = 0; i < s->n_allocs; i++) {
		const struct ck_alloc *a = &s->allocs[i];
		char ip[IP_ADDR_STRLEN];
		struct ck_fields f = {.ip = ip, .block = s->blocks[a->block].cidr};

		if (a->attr && a->attr->handle_id)
			continue;
		ip_addr_format(&a->addr, ip);
		problem(rep, CK_NO_HANDLE, &f, "%s is allocated in block %s without a handle.", ip,
			f.block);
	}
	say(rep, "Found %u handles mentioned in blocks with no matching handle resource.\n",
	    rep->count[CK_MISSING_HANDLE]);
	say(rep, "Found %u allocations without a handle.\n", rep->count[CK_NO_HANDLE]);
	return 0;
}

static void scan_affinities(const struct ck_state *s, struct ck_report *rep)
{
	say(rep, "Scanning block affinities...\n");
	for (size_t i = 0; i < s->n_blocks; i++) {
		const struct ck_block *b = &s->blocks[i];
		struct ck_fields f = {.block = b->cidr, .node = b->node};
		bool recorded = false;

		if (!b->node)
			continue;
		if (!node_exists(s, b->node))
			problem(rep, CK_BLOCK_NODE, &f,
				"block %s is affine to node %s, which does not exist.", b->cidr,
				b->node);
		for (size_t k = 0; !recorded && k < s->n_affs; k++)
			recorded = strcmp(s->affs[k].node, b->node) == 0 &&
				   strcmp(s->affs[k].name, b->name) == 0;
		if (!recorded)
			problem(rep, CK_AFFINITY, &f,
				"block %s is affine to node %s but has no affinity record.",
				b->cidr, b->node);
	}
	for (size_t i = 0; i < s->n_affs; i++) {
		const struct ck_affinity *a = &s->affs[i];
		const struct ck_block *b = block_by_name(s, a->name);
		struct ck_fields f = {.block = a->cidr, .node = a->node};
		const char *state = a->confirmed ? "confirmed" : "pending";

		if (!b) {
			problem(rep, CK_AFFINITY, &f,
				"%s affinity of node %s for block %s, which does not exist%s.",
				state, a->node, a->cidr,
				a->confirmed ? "" : " (a claim that did not finish)");
			continue;
		}
		if (b->node && strcmp(b->node, a->node) == 0)
			continue;
		/* A pending affinity newer than the block is a claim in flight that lost the race
		 * and is about to remove its affinity; an older one was left by a claimer that
		 * died. */
		if (!a->confirmed && a->mod_revision > b->create_revision)
			continue;
		problem(rep, CK_AFFINITY, &f,
			"%s affinity of node %s for block %s, which is affine to %s%s.", state,
			a->node, a->cidr, b->node ? "node " : "", b->node ? b->node : "no node");
	}
	say(rep, "Found %u blocks affine to nodes that do not exist.\n", rep->count[CK_BLOCK_NODE]);
	say(rep, "Found %u block affinity problems.\n", rep->count[CK_AFFINITY]);
}

static int allocation_json(const struct ck_state *s, const struct ck_alloc *a,
			   struct ck_report *rep, struct json_object **ret)
{
	const struct ck_block *b = &s->blocks[a->block];
	struct json_object *o = json_object_new_object(), *owners = json_object_new_array();
	size_t lo = uses_lower(s, &a->addr);
	char ip[IP_ADDR_STRLEN], who[600];

	if (!o || !owners || json_object_object_add(o, "owners", owners) < 0) {
		json_object_put(o);
		json_object_put(owners);
		return -ENOMEM;
	}
	jadd_str(rep, o, "ip", ip_addr_format(&a->addr, ip));
	jadd_str(rep, o, "block", b->cidr);
	jadd_str(rep, o, "handle", a->attr ? a->attr->handle_id : NULL);
	jadd_str(rep, o, "node", a->node);
	jadd_str(rep, o, "namespace",
		 a->attr ? model_labels_get(&a->attr->secondary, "namespace") : NULL);
	jadd_str(rep, o, "pod", a->attr ? model_labels_get(&a->attr->secondary, "pod") : NULL);
	jadd_int(rep, o, "sequenceNumber", a->sequence);
	json_object_object_add(o, "inUse", json_object_new_boolean(a->n_owners > 0));
	json_object_object_add(
	    o, "borrowed",
	    json_object_new_boolean(a->node && (!b->node || strcmp(a->node, b->node) != 0)));
	for (size_t k = lo; k < s->n_uses && ip_addr_equal(&s->uses[k].addr, &a->addr); k++) {
		wep_label(s->uses[k].wep, who, sizeof(who));
		json_object_array_add(owners, json_object_new_string(who));
	}
	*ret = o;
	return 0;
}

static int report_json(const struct ck_state *s, struct ck_report *rep, size_t n_in_use)
{
	struct json_object *summary = json_object_new_object(), *all = NULL;
	int r;

	if (!summary || json_object_object_add(rep->root, "summary", summary) < 0) {
		json_object_put(summary);
		return -ENOMEM;
	}
	jadd_int(rep, summary, "blocks", (int64_t)s->n_blocks);
	jadd_int(rep, summary, "allocations", (int64_t)s->n_allocs);
	jadd_int(rep, summary, "nodes", (int64_t)s->n_nodes);
	jadd_int(rep, summary, "workloadIPs", (int64_t)s->n_uses);
	jadd_int(rep, summary, "inUseIPs", (int64_t)n_in_use);
	jadd_int(rep, summary, "handles", (int64_t)s->n_handles);
	for (int t = 0; t < _CK_MAX; t++)
		jadd_int(rep, summary, ck_type_name[t], rep->count[t]);
	jadd_int(rep, rep->root, "problemCount", rep->total);
	if (rep->show_all) {
		all = json_object_new_array();
		if (!all || json_object_object_add(rep->root, "allocations", all) < 0) {
			json_object_put(all);
			return -ENOMEM;
		}
		for (size_t i = 0; i < s->n_allocs; i++) {
			struct json_object *o;

			r = allocation_json(s, &s->allocs[i], rep, &o);
			if (r < 0)
				return r;
			if (json_object_array_add(all, o) < 0) {
				json_object_put(o);
				return -ENOMEM;
			}
		}
	}
	if (rep->error < 0)
		return rep->error;
	puts(json_object_to_json_string_ext(rep->root, JSON_C_TO_STRING_PRETTY |
							   JSON_C_TO_STRING_SPACED |
							   JSON_C_TO_STRING_NOSLASHESCAPE));
	return 0;
}

static int load_all(struct ds_client *ds, struct ck_state *s, bool everything)
{
	int r;

	r = load_blocks(ds, s);
	if (r >= 0)
		r = load_weps(ds, s);
	if (r < 0 || !everything)
		return r;
	r = ipam_list_pools(ds, &s->pools);
	if (r < 0)
		return ctl_ds_error(r);
	r = load_nodes(ds, s);
	if (r >= 0)
		r = load_handles(ds, s);
	if (r >= 0)
		r = load_affinities(ds, s);
	return r;
}

static int ipam_check(struct ds_client *ds, bool show_all, bool json)
{
	struct ck_state s = {};
	struct ck_report rep = {.json = json, .show_all = show_all};
	size_t n_in_use = 0, n_active = 0;
	int r;

	if (json) {
		rep.root = json_object_new_object();
		rep.problems = json_object_new_array();
		if (!rep.root || !rep.problems ||
		    json_object_object_add(rep.root, "problems", rep.problems) < 0) {
			json_object_put(rep.root);
			json_object_put(rep.problems);
			return -ENOMEM;
		}
	}
	r = load_all(ds, &s, true);
	if (r < 0)
		goto out;
	for (size_t i = 0; i < s.n_allocs; i++) {
		size_t k = uses_lower(&s, &s.allocs[i].addr);

		while (k < s.n_uses && ip_addr_equal(&s.uses[k].addr, &s.allocs[i].addr)) {
			s.allocs[i].n_owners++;
			k++;
		}
	}
	for (size_t i = 0; i < s.n_uses; i++)
		n_in_use += i == 0 || !ip_addr_equal(&s.uses[i].addr, &s.uses[i - 1].addr);

	say(&rep, "Checking IPAM for inconsistencies...\n\nLoading all IPAM blocks...\n");
	say(&rep, "Found %zu IPAM blocks.\n", s.n_blocks);
	for (size_t i = 0; i < s.n_blocks; i++) {
		say(&rep, " IPAM block %s affinity=%s:\n", s.blocks[i].cidr,
		    s.blocks[i].b.affinity ? s.blocks[i].b.affinity : "<none>");
		for (size_t k = 0; show_all && k < s.n_allocs; k++) {
			char ip[IP_ADDR_STRLEN], attrs[1024];

			if (s.allocs[k].block != i)
				continue;
			attr_string(s.allocs[k].attr, attrs, sizeof(attrs));
			say(&rep, "  %s allocated; attrs %s\n",
			    ip_addr_format(&s.allocs[k].addr, ip), attrs);
		}
	}
	say(&rep, "IPAM blocks record %zu allocations.\n\nLoading all IPAM pools...\n", s.n_allocs);
	for (size_t i = 0; i < s.pools.n; i++) {
		char c[IP_PREFIX_STRLEN];

		if (s.pools.items[i]->ippool.disabled)
			continue;
		n_active++;
		say(&rep, "  %s\n", ip_prefix_format(&s.pools.items[i]->ippool.cidr, c));
	}
	say(&rep, "Found %zu active IP pools.\n\nLoading all nodes.\nFound %zu nodes.\n\n",
	    n_active, s.n_nodes);
	say(&rep, "Loading all workload endpoints.\n");
	for (size_t i = 0; show_all && i < s.n_uses; i++) {
		char ip[IP_ADDR_STRLEN], who[600];

		wep_label(s.uses[i].wep, who, sizeof(who));
		say(&rep, "  %s belongs to %s\n", ip_addr_format(&s.uses[i].addr, ip), who);
	}
	say(&rep, "Found %zu workload IPs.\nWorkloads are using %zu IPs.\n\n", s.n_uses, n_in_use);
	say(&rep, "Loading all handles\nFound %zu handles.\n\n", s.n_handles);

	if (s.n_undecodable) {
		say(&rep, "Records that do not decode (left out of the checks below):\n");
		for (size_t i = 0; i < s.n_undecodable; i++) {
			struct ck_fields f = {.key = s.undecodable[i]};

			problem(&rep, CK_UNDECODABLE, &f, "%s", s.undecodable[i]);
		}
		say(&rep, "\n");
	}
	scan_leaks(&s, &rep);
	scan_unallocated(&s, &rep);
	say(&rep, "\n");
	scan_duplicates(&s, &rep);
	say(&rep, "\n");
	r = scan_handles(&s, &rep);
	if (r < 0)
		goto out;
	say(&rep, "\n");
	scan_affinities(&s, &rep);
	say(&rep, "\n");
	say(&rep,
	    "Found %zu IPs in use, %zu allocated: %u leaked, %u in use without allocation, %u "
	    "with another handle, %u duplicated, %u handle problems, %u affinity problems.\n",
	    n_in_use, s.n_allocs, rep.count[CK_LEAKED],
	    rep.count[CK_NOT_ALLOCATED] + rep.count[CK_NOT_IN_POOL], rep.count[CK_WRONG_HANDLE],
	    rep.count[CK_DUP_WORKLOAD] + rep.count[CK_DUP_ALLOCATION],
	    rep.count[CK_LEAKED_HANDLE] + rep.count[CK_MISSING_HANDLE] + rep.count[CK_NO_HANDLE] +
		rep.count[CK_HANDLE_COUNT],
	    rep.count[CK_BLOCK_NODE] + rep.count[CK_AFFINITY]);
	say(&rep, "Check complete; found %u problems.\n", rep.total);
	if (json) {
		r = report_json(&s, &rep, n_in_use);
		if (r < 0)
			goto out;
	}
	/* problems found: exit status 1, with nothing more to say */
	r = rep.total ? -EUCLEAN : 0;
out:
	json_object_put(rep.root);
	ck_state_done(&s);
	return r;
}

/* ---- ipam release ------------------------------------------------------------------------ */

static int ipam_release(struct ds_client *ds, const char *ip_text, bool force)
{
	struct ck_state s = {};
	struct ip_addr addr;
	char ip[IP_ADDR_STRLEN], who[600];
	size_t lo, hi, u;
	int64_t seq;
	int r;

	if (ip_addr_parse(ip_text, &addr) < 0)
		return ctl_err("--ip: invalid IP address \"%s\"", ip_text);
	ip_addr_format(&addr, ip);
	r = load_all(ds, &s, false);
	if (r < 0)
		goto out;
	lo = allocs_lower(&s, &addr);
	for (hi = lo; hi < s.n_allocs && ip_addr_equal(&s.allocs[hi].addr, &addr);)
		hi++;
	if (lo == hi) {
		r = ctl_err("%s is not allocated", ip);
		goto out;
	}
	u = uses_lower(&s, &addr);
	if (u < s.n_uses && ip_addr_equal(&s.uses[u].addr, &addr)) {
		wep_label(s.uses[u].wep, who, sizeof(who));
		if (!force) {
			r = ctl_err("%s is in use by %s; not released (--force releases it anyway)",
				    ip, who);
			goto out;
		}
		fprintf(stderr, "tabbyctl: warning: %s is in use by %s, releasing it anyway\n", ip,
			who);
	}
	if (s.n_undecodable && !force) {
		r = ctl_err("%s does not decode, so whether %s is in use is unknown; not released "
			    "(--force releases it anyway)",
			    s.undecodable[0], ip);
		goto out;
	}
	/* With the sequence number seen here, an address released and handed out again since
	 * stays allocated. Two blocks holding it: release whichever ipam_release_addr() picks. */
	seq = hi - lo == 1 ? s.allocs[lo].sequence : -1;
	r = ipam_release_addr(ds, &addr, seq);
	if (r == -ESTALE) {
		r = ctl_err("%s was released and assigned again meanwhile; not released", ip);
		goto out;
	}
	if (r < 0) {
		ctl_ds_error(r);
		goto out;
	}
	printf("Successfully released IP address %s\n", ip);
out:
	ck_state_done(&s);
	return r;
}

/* ---- ipam gc ------------------------------------------------------------------------------ */

/* "N", "Ns", "Nm", "Nh" -> ms. Return: 0 or -EINVAL. */
static int parse_duration_ms(const char *s, int64_t *ret)
{
	char *end;
	long long v;
	int64_t unit = 1000;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || end == s || v < 0 || v > 100LL * 365 * 86400)
		return -EINVAL;
	if (*end == 'h')
		unit = 3600 * 1000;
	else if (*end == 'm')
		unit = 60 * 1000;
	else if (*end != 's' && *end != '\0')
		return -EINVAL;
	if (*end && end[1])
		return -EINVAL;
	*ret = (int64_t)v * unit;
	return 0;
}

struct gc_ctx {
	bool dry_run;
	int64_t now_ms;
};

static void gc_report(const struct ipam_gc_action *a, int result, void *userdata)
{
	const struct gc_ctx *ctx = userdata;
	bool dry = ctx->dry_run;
	char buf[IP_PREFIX_STRLEN], abuf[IP_ADDR_STRLEN];
	const char *pre = dry ? "DRY-RUN " : "";
	const char *res = result == -ESTALE ? " (changed meanwhile: skipped)"
			  : result < 0	    ? " (failed)"
					    : "";

	switch (a->kind) {
	case IPAM_GC_DELETE_AFFINITY:
		printf("%sdelete affinity of node %s for block %s%s\n", pre, a->node,
		       ip_prefix_format(&a->cidr, buf), res);
		break;
	case IPAM_GC_DELETE_BLOCK:
		printf("%sdelete empty block %s (its node is gone)%s\n", pre,
		       ip_prefix_format(&a->cidr, buf), res);
		break;
	case IPAM_GC_RELEASE:
		printf("%srelease leaked %s (handle %s, leaked for %" PRId64 " s)%s\n", pre,
		       ip_addr_format(&a->addr, abuf), a->handle ? a->handle : "none",
		       (ctx->now_ms - a->since_ms) / 1000, res);
		break;
	case IPAM_GC_MARK:
		printf("%smark %s (handle %s) as leaked: released after the grace period%s\n", pre,
		       ip_addr_format(&a->addr, abuf), a->handle ? a->handle : "none", res);
		break;
	case IPAM_GC_UNMARK:
		printf("%sforget leak mark of %s (in use again, or freed)%s\n", pre,
		       ip_addr_format(&a->addr, abuf), res);
		break;
	}
}

static int ipam_gc(struct ds_client *ds, bool dry_run, int64_t grace_ms)
{
	struct ipam_gc_counts c = {0};
	struct gc_ctx ctx = {.dry_run = dry_run};
	struct timespec ts;
	int r;

	clock_gettime(CLOCK_REALTIME, &ts);
	ctx.now_ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
	r = ipam_gc_run(ds, ctx.now_ms, grace_ms, dry_run, gc_report, &ctx, &c);
	if (r == -EPROTO)
		return ctl_err(
		    "ipam gc: a WorkloadEndpoint or leak mark does not decode (see above); "
		    "nothing was changed");
	if (r < 0)
		return ctl_ds_error(r);
	printf("%s%u stale affinities, %u empty blocks deleted, %u leaked addresses released, %u "
	       "marked, %u marks dropped, %u skipped.\n",
	       dry_run ? "Dry run, nothing changed: would have: " : "", c.affinities, c.blocks,
	       c.released, c.marked, c.unmarked, c.skipped);
	return 0;
}

int ctl_ipam(int argc, char **argv)
{
	enum { OPT_SHOW_BLOCKS = 0x200, OPT_SHOW_ALL, OPT_IP, OPT_FORCE, OPT_DRY_RUN, OPT_GRACE };
	static const struct option opts[] = {
	    CTL_GLOBAL_LONGOPTS,
	    {"show-blocks", no_argument, NULL, OPT_SHOW_BLOCKS},
	    {"show-all-ips", no_argument, NULL, OPT_SHOW_ALL},
	    {"output", required_argument, NULL, 'o'},
	    {"ip", required_argument, NULL, OPT_IP},
	    {"force", no_argument, NULL, OPT_FORCE},
	    {"dry-run", no_argument, NULL, OPT_DRY_RUN},
	    {"grace", required_argument, NULL, OPT_GRACE},
	    {},
	};
	static const char usage[] = "usage: tabbyctl ipam show [--show-blocks] | check "
				    "[--show-all-ips] [-o json] | release --ip IP [--force] | gc "
				    "[--dry-run] [--grace DURATION]";
	_cleanup_(ds_client_freep) struct ds_client *ds = NULL;
	bool show_blocks = false, show_all = false, json = false, force = false, dry_run = false,
	     gc_opts = false;
	int64_t grace_ms = IPAM_GC_DEFAULT_GRACE_MS;
	const char *ip = NULL, *verb;
	int c, r;

	while ((c = getopt_long(argc, argv, "o:", opts, NULL)) >= 0) {
		switch (c) {
		case OPT_SHOW_BLOCKS:
			show_blocks = true;
			break;
		case OPT_SHOW_ALL:
			show_all = true;
			break;
		case 'o':
			if (strcmp(optarg, "json") != 0)
				return ctl_err("unknown output format \"%s\" (json)", optarg);
			json = true;
			break;
		case OPT_IP:
			ip = optarg;
			break;
		case OPT_FORCE:
			force = true;
			break;
		case OPT_DRY_RUN:
			dry_run = gc_opts = true;
			break;
		case OPT_GRACE:
			if (parse_duration_ms(optarg, &grace_ms) < 0)
				return ctl_err("--grace: \"%s\" is not a duration N[s|m|h]",
					       optarg);
			gc_opts = true;
			break;
		case CTL_OPT_ENDPOINTS:
			arg_endpoints = optarg;
			break;
		default:
			return -EINVAL;
		}
	}
	if (argc - optind != 1)
		return ctl_err("%s", usage);
	verb = argv[optind];
	if (gc_opts && strcmp(verb, "gc") != 0)
		return ctl_err("%s", usage);
	if (strcmp(verb, "gc") == 0) {
		if (show_blocks || show_all || json || ip || force)
			return ctl_err("%s", usage);
	} else if (strcmp(verb, "show") == 0) {
		if (show_all || json || ip || force)
			return ctl_err("%s", usage);
	} else if (strcmp(verb, "check") == 0) {
		if (show_blocks || ip || force)
			return ctl_err("%s", usage);
	} else if (strcmp(verb, "release") == 0) {
		if (show_blocks || show_all || json)
			return ctl_err("%s", usage);
		if (!ip)
			return ctl_err("ipam release: --ip IP is required");
	} else {
		return ctl_err("%s", usage);
	}
	r = ctl_ds_open(&ds);
	if (r < 0)
		return r;
	if (strcmp(verb, "show") == 0)
		return ipam_show(ds, show_blocks);
	if (strcmp(verb, "check") == 0)
		return ipam_check(ds, show_all, json);
	if (strcmp(verb, "gc") == 0)
		return ipam_gc(ds, dry_run, grace_ms);
	return ipam_release(ds, ip, force);
}
