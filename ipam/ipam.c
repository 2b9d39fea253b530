/* SPDX-License-Identifier: Apache-2.0 */
/*
 * DOC: IPAM over the datastore
 *
 * Calico's IPAM (libcalico-go lib/ipam/ipam.go) on etcd: the block math is ipam/block.c, this file
 * reads blocks, affinities, handle records and IP pools and writes every change back as a
 * compare-and-swap (create: key absent; update/delete: mod_revision unchanged). A lost race shows
 * up as -ESTALE/-EEXIST from the datastore and is answered by re-reading and trying again, up to
 * IPAM_CAS_RETRIES times, with a jittered exponential pause so that contenders spread out. On one
 * host, the plugins serialise their calls with ipam_host_lock(), as Calico's calico-ipam does.
 *
 * Ordering rules that keep the store consistent when a host dies between two writes:
 *  - A block claim writes the affinity as "pending" before the block exists and confirms it after,
 *    so a host never owns a block nobody knows about. A block whose affinity is still pending but
 *    whose "affinity" field names us is ours (the claimer died before confirming).
 *  - An assignment writes the block first and the handle record second; if the handle write fails
 *    the block assignment is undone (sequence-guarded, so it never frees a reused address). An
 *    allocation whose handle record is missing is found again by the next assignment for the same
 *    handle, which reads the node's blocks anyway, so retries do not leak.
 *  - A release frees the addresses in the blocks first and deletes the handle record last.
 *
 * Pools with a nodeSelector other than all() are skipped: evaluating a selector needs the Node's
 * labels, which this module does not read.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "ipam/ipam.h"
#include "lib/log.h"

/* Limits on counts the datastore controls (STYLE.md section 3). */
#define IPAM_MAX_POOLS 1024
#define IPAM_MAX_NODE_BLOCKS 4096
#define IPAM_MAX_BLOCKS (1u << 20)
#define IPAM_HANDLE_MAX_BLOCKS 64
#define IPAM_KEY_MAX 1024
#define IPAM_NAME_MAX 512 /* node names and handles */

#define POOLS_PREFIX MODEL_KEY_PREFIX "ippools/"

static void json_putp(struct json_object **p)
{
	if (*p)
		json_object_put(*p);
}
#define _cleanup_json_ _cleanup_(json_putp)

/* The *_done() destructors take a pointer to the struct, as _cleanup_ passes it. */
#define _cleanup_kvs_ _cleanup_(ds_kvs_done)
#define _cleanup_kv_ _cleanup_(ds_kv_done)
#define _cleanup_block_ _cleanup_(ipam_block_done)
#define _cleanup_model_list_ _cleanup_(model_list_done)
/* Hand a struct model_list over, leaving an empty one behind. */
#define TAKE_LIST(l)                          \
	({                                    \
		struct model_list _l_ = (l);  \
		(l) = (struct model_list){0}; \
		_l_;                          \
	})

/* Node names and handles become key segments: no '/', no control characters, bounded. */
static bool name_ok(const char *s)
{
	size_t n;

	if (!s || !*s)
		return false;
	n = strlen(s);
	if (n > IPAM_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (s[i] == '/' || (unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return false;
	return true;
}

static void key_block(char buf[static IPAM_KEY_MAX], const struct ip_prefix *cidr)
{
	char name[IPAM_BLOCK_NAME_MAX];

	snprintf(buf, IPAM_KEY_MAX, IPAM_KEY_BLOCKS "%s", ipam_block_name(cidr, name));
}

static void key_affinity(char buf[static IPAM_KEY_MAX], const char *node,
			 const struct ip_prefix *cidr)
{
	char name[IPAM_BLOCK_NAME_MAX];

	snprintf(buf, IPAM_KEY_MAX, IPAM_KEY_AFFINITIES "%s/%s", node, ipam_block_name(cidr, name));
}

static void key_handle(char buf[static IPAM_KEY_MAX], const char *handle)
{
	snprintf(buf, IPAM_KEY_MAX, IPAM_KEY_HANDLES "%s", handle);
}

/* A pause before retrying a lost compare-and-swap: jittered exponential backoff
 * (ipam_backoff_us()), so that contenders spread out instead of colliding in lock step. */
static void cas_backoff(unsigned attempt)
{
	static unsigned seed;
	struct timespec ts;
	uint32_t us;

	if (!seed) {
		clock_gettime(CLOCK_MONOTONIC, &ts);
		seed = (unsigned)ts.tv_nsec ^ ((unsigned)getpid() << 16) ^ 1u;
	}
	seed ^= seed << 13;
	seed ^= seed >> 17;
	seed ^= seed << 5;
	us = ipam_backoff_us(attempt, seed);
	ts = (struct timespec){.tv_sec = us / 1000000u, .tv_nsec = (long)(us % 1000000u) * 1000};
	nanosleep(&ts, NULL);
}

int ipam_host_lock(const char *path)
{
	_cleanup_free_ char *dir = NULL;
	char *slash;
	int fd, r;

	if (!path || !*path)
		return -EINVAL;
	dir = strdup(path);
	if (!dir)
		return -ENOMEM;
	slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = 0;
		if (mkdir(dir, 0755) < 0 && errno != EEXIST)
			return log_error_errno(-errno, "IPAM lock directory %s: %m", dir);
	}
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return log_error_errno(-errno, "IPAM lock file %s: %m", path);
	do
		r = flock(fd, LOCK_EX);
	while (r < 0 && errno == EINTR);
	if (r < 0) {
		r = -errno;
		close(fd);
		return log_error_errno(r, "IPAM lock file %s: flock: %m", path);
	}
	return fd;
}

static struct json_object *parse_json(const char *buf, size_t len)
{
	struct json_tokener *tok;
	struct json_object *o;

	if (len > INT32_MAX)
		return NULL;
	tok = json_tokener_new();
	if (!tok)
		return NULL;
	o = json_tokener_parse_ex(tok, buf, (int)len);
	if (json_tokener_get_error(tok) != json_tokener_success) {
		json_object_put(o);
		o = NULL;
	}
	json_tokener_free(tok);
	return o;
}

/* ---- config and pools ---------------------------------------------------------------------- */

/* Decode the config record @kv (NULL: absent, the defaults). Return: 0 or -EPROTO. */
static int config_decode(const struct ds_kv *kv, struct ipam_config *ret)
{
	_cleanup_json_ struct json_object *o = NULL;
	struct ipam_config cfg = {0};
	struct json_object *v;

	if (!kv) {
		*ret = cfg;
		return 0;
	}
	o = parse_json(kv->value, kv->value_len);
	if (!o || !json_object_is_type(o, json_type_object))
		return log_warn_errno(-EPROTO, "%s: not a JSON object", IPAM_KEY_CONFIG);
	if (json_object_object_get_ex(o, "strictAffinity", &v) && v) {
		if (!json_object_is_type(v, json_type_boolean))
			return log_warn_errno(-EPROTO, "%s: strictAffinity: expected a boolean",
					      IPAM_KEY_CONFIG);
		cfg.strict_affinity = json_object_get_boolean(v);
	}
	if (json_object_object_get_ex(o, "maxBlocksPerHost", &v) && v) {
		int64_t m = json_object_is_type(v, json_type_int) ? json_object_get_int64(v) : -1;

		if (m < 0 || m > UINT32_MAX)
			return log_warn_errno(
			    -EPROTO, "%s: maxBlocksPerHost: expected a non-negative integer",
			    IPAM_KEY_CONFIG);
		cfg.max_blocks_per_host = (uint32_t)m;
	}
	*ret = cfg;
	return 0;
}

int ipam_read_config(struct ds_client *ds, struct ipam_config *ret)
{
	_cleanup_kv_ struct ds_kv kv = {0};
	int r;

	r = ds_get(ds, IPAM_KEY_CONFIG, &kv, NULL);
	if (r == -ENOENT)
		return config_decode(NULL, ret);
	if (r < 0)
		return r;
	return config_decode(&kv, ret);
}

static int pool_cmp(const void *a, const void *b)
{
	const struct model_resource *const *x = a, *const *y = b;

	return strcmp((*x)->meta.name, (*y)->meta.name);
}

/* Decode the IPPool records @kvs (undecodable ones are skipped with a warning, or silently when
 * @quiet: a second decode of the same records), sorted by name. Return: 0 or -ENOMEM. */
static int pools_decode_ex(const struct ds_kvs *pkvs, bool quiet, struct model_list *ret)
{
	const struct ds_kvs kvs = *pkvs;
	_cleanup_model_list_ struct model_list l = {0};
	int r;

	if (kvs.n > IPAM_MAX_POOLS && !quiet)
		log_warn("%zu IP pools in the datastore, using the first %d", kvs.n,
			 IPAM_MAX_POOLS);
	l.items = calloc(MIN(kvs.n, (size_t)IPAM_MAX_POOLS) + 1, sizeof(*l.items));
	if (!l.items)
		return -ENOMEM;
	for (size_t i = 0; i < kvs.n && i < IPAM_MAX_POOLS; i++) {
		struct model_resource *res = NULL;
		struct parse_err err = {0};
		char msg[800];

		r = model_decode_one(kvs.items[i].value, kvs.items[i].value_len, kvs.items[i].key,
				     &res, &err);
		if (r == -ENOMEM)
			return r;
		if (r < 0) {
			if (!quiet)
				log_warn("%s, ignoring", parse_err_format(&err, msg, sizeof(msg)));
			continue;
		}
		if (res->kind != MODEL_KIND_IPPOOL) {
			if (!quiet)
				log_warn("%s: not an IPPool, ignoring", kvs.items[i].key);
			model_resource_free(res);
			continue;
		}
		l.items[l.n++] = res;
	}
	qsort(l.items, l.n, sizeof(*l.items), pool_cmp);
	*ret = l;
	l = (struct model_list){0};
	return 0;
}

static int pools_decode(const struct ds_kvs *pkvs, struct model_list *ret)
{
	return pools_decode_ex(pkvs, false, ret);
}

int ipam_list_pools(struct ds_client *ds, struct model_list *ret)
{
	_cleanup_kvs_ struct ds_kvs kvs = {0};
	int r;

	r = ds_range_prefix(ds, POOLS_PREFIX, 0, &kvs);
	if (r < 0)
		return r;
	return pools_decode(&kvs, ret);
}

static bool selector_is_all(const char *sel)
{
	char buf[16];
	size_t n = 0;

	if (!sel)
		return true;
	for (; *sel && n < sizeof(buf) - 1; sel++)
		if (*sel != ' ' && *sel != '\t')
			buf[n++] = *sel;
	buf[n] = '\0';
	return *sel == '\0' && (n == 0 || strcmp(buf, "all()") == 0);
}

static bool pool_allows_workloads(const struct model_ippool *p)
{
	if (!p->allowed_uses)
		return true;
	for (char **u = p->allowed_uses; *u; u++)
		if (strcmp(*u, "Workload") == 0)
			return true;
	return false;
}

/* Enabled pools of @family for workloads of any node, restricted to @names when given.
 * Return: 0 (possibly with no pool) or a datastore error. */
static int usable_pools_of(struct model_list *pall, int family, const char *const *names,
			   struct model_list *ret)
{
	_cleanup_model_list_ struct model_list all = *pall;
	size_t kept = 0;

	*pall = (struct model_list){0};
	for (size_t i = 0; i < all.n; i++) {
		struct model_resource *p = all.items[i];
		bool keep = !p->ippool.disabled && p->ippool.cidr.addr.family == family &&
			    pool_allows_workloads(&p->ippool);

		if (keep && names) {
			bool named = false;

			for (const char *const *n = names; *n && !named; n++) {
				struct ip_prefix c;

				named = strcmp(*n, p->meta.name) == 0 ||
					(ip_prefix_parse(*n, true, &c) == 0 &&
					 ip_prefix_equal(&c, &p->ippool.cidr));
			}
			keep = named;
		}
		if (keep && !selector_is_all(p->ippool.node_selector)) {
			log_debug("IP pool %s: nodeSelector \"%s\" is not supported yet, ignoring",
				  p->meta.name, p->ippool.node_selector);
			keep = false;
		}
		if (keep)
			all.items[kept++] = p;
		else
			model_resource_free(p);
	}
	all.n = kept;
	*ret = all;
	all = (struct model_list){0};
	return 0;
}

static int usable_pools(struct ds_client *ds, int family, const char *const *names,
			struct model_list *ret)
{
	struct model_list all = {0};
	int r;

	r = ipam_list_pools(ds, &all);
	if (r < 0)
		return r;
	return usable_pools_of(&all, family, names, ret);
}

static const struct model_resource *pool_holding(const struct model_list *pools,
						 const struct ip_prefix *cidr)
{
	for (size_t i = 0; i < pools->n; i++)
		if (ip_prefix_contains(&pools->items[i]->ippool.cidr, cidr))
			return pools->items[i];
	return NULL;
}

/* ---- blocks -------------------------------------------------------------------------------- */

/* Read and decode one block. Return: 0, -ENOENT, -EPROTO (undecodable) or a datastore error. */
static int block_read(struct ds_client *ds, const struct ip_prefix *cidr, struct ipam_block *ret,
		      int64_t *ret_rev)
{
	_cleanup_kv_ struct ds_kv kv = {0};
	char key[IPAM_KEY_MAX], msg[800];
	struct parse_err err = {0};
	int r;

	key_block(key, cidr);
	r = ds_get(ds, key, &kv, NULL);
	if (r < 0)
		return r;
	r = ipam_block_decode_json(kv.value, kv.value_len, ret, &err);
	if (r == -EINVAL) {
		snprintf(err.file, sizeof(err.file), "%.255s", key);
		return log_warn_errno(-EPROTO, "%s", parse_err_format(&err, msg, sizeof(msg)));
	}
	if (r < 0)
		return r;
	*ret_rev = kv.mod_revision;
	return 0;
}

/* Write @b back if the key still has @rev. Return: 0, -ESTALE or a datastore error. */
static int block_write(struct ds_client *ds, const struct ipam_block *b, int64_t rev)
{
	_cleanup_strbuf_ struct strbuf sb = {0};
	char key[IPAM_KEY_MAX];
	int r;

	r = ipam_block_encode_json(b, &sb);
	if (r < 0)
		return r;
	key_block(key, &b->cidr);
	return ds_update(ds, key, strbuf_cstr(&sb), sb.len, rev, NULL);
}

struct handle_entry {
	char name[IPAM_BLOCK_NAME_MAX];
	uint32_t count;
};

struct handle_rec {
	struct handle_entry items[IPAM_HANDLE_MAX_BLOCKS];
	size_t n;
};

struct assigned {
	struct ip_addr addr;
	struct ip_prefix block;
	int64_t sequence;      /* the address's sequenceNumberForAllocation */
	unsigned handle_count; /* addresses the handle holds in that block afterwards */
	bool fresh;	       /* newly assigned (false: the handle already held it) */
	bool committed;	       /* the handle record was written in the block's txn */
};

static int handle_encode(const char *handle, const struct handle_rec *h, struct strbuf *out);

/* The handle record as ipam_auto_assign()'s first read saw it, for the one-txn write below. */
struct handle_snap {
	bool fast;	       /* worth trying: nothing has contradicted the snapshot yet */
	bool present;	       /* the record existed: @rec and @rev are what was read */
	struct handle_rec rec; /* the record (empty when absent) */
	int64_t rev;	       /* its mod_revision */
};

/*
 * Write block @b back if its key still has @rev and, in the same txn, write the record of
 * @handle with @a->handle_count addresses in that block: created when @snap says it was absent
 * (and it still is), else updated from @snap->rec if it still has @snap->rev (a dual-stack ADD's
 * second family, whose handle already holds the first). The two writes land together or not at
 * all (ds_cas_many()), where block_write() followed by handle_set_block() takes four round
 * trips. Return: 0, -ESTALE (either compare failed: nothing was written), -E2BIG (the record
 * holds IPAM_HANDLE_MAX_BLOCKS blocks already: nothing was written) or a datastore error.
 */
static int block_write_with_handle(struct ds_client *ds, const struct ipam_block *b, int64_t rev,
				   const char *handle, const struct assigned *a,
				   const struct handle_snap *snap)
{
	_cleanup_strbuf_ struct strbuf bsb = {0}, hsb = {0};
	char bkey[IPAM_KEY_MAX], hkey[IPAM_KEY_MAX], name[IPAM_BLOCK_NAME_MAX];
	struct handle_rec h = snap->rec;
	size_t i;
	int r;

	if (!snap->present)
		h.n = 0;
	ipam_block_name(&a->block, name);
	for (i = 0; i < h.n; i++)
		if (strcmp(h.items[i].name, name) == 0)
			break;
	if (i == h.n) {
		if (h.n >= IPAM_HANDLE_MAX_BLOCKS)
			return -E2BIG;
		snprintf(h.items[h.n++].name, IPAM_BLOCK_NAME_MAX, "%s", name);
	}
	h.items[i].count = a->handle_count;
	r = ipam_block_encode_json(b, &bsb);
	if (r < 0)
		return r;
	r = handle_encode(handle, &h, &hsb);
	if (r < 0)
		return r;
	key_block(bkey, &b->cidr);
	key_handle(hkey, handle);
	return ds_cas_many(ds,
			   (const struct ds_cas[]){
			       {.kind = DS_CAS_UPDATE,
				.key = bkey,
				.value = strbuf_cstr(&bsb),
				.len = bsb.len,
				.mod_revision = rev},
			       {.kind = snap->present ? DS_CAS_UPDATE : DS_CAS_CREATE,
				.key = hkey,
				.value = strbuf_cstr(&hsb),
				.len = hsb.len,
				.mod_revision = snap->rev},
			   },
			   2, NULL);
}

/*
 * Assign one address to the handle in block @cidr, compare-and-swap with retry.
 * @only_node: when set, use the block only when it is affine to that node.
 * Return: 1 (assigned, @ret filled), 0 (the block is full, absent, deleted or not ours), -EBUSY,
 * -EPROTO or a datastore error.
 */
static int block_assign_one(struct ds_client *ds, const struct ip_prefix *cidr,
			    const char *only_node, const struct ipam_assign_args *args,
			    struct handle_snap *snap, struct assigned *ret)
{
	for (unsigned attempt = 0; attempt < IPAM_CAS_RETRIES; attempt++) {
		_cleanup_block_ struct ipam_block b = {0};
		struct assigned a = {.block = *cidr};
		char name[IPAM_BLOCK_NAME_MAX];
		int64_t rev;
		int r;

		r = block_read(ds, cidr, &b, &rev);
		if (r == -ENOENT)
			return 0;
		if (r < 0)
			return r;
		if (b.deleted || (only_node && !ipam_block_is_affine_to(&b, only_node)))
			return 0;
		/* The handle may already hold an address here when an earlier attempt wrote the
		 * block but not the handle record: hand that one out again. */
		if (ipam_block_addrs_by_handle(&b, args->handle, &a.addr, 1) > 0) {
			a.sequence = ipam_block_sequence_of(&b, &a.addr);
			a.handle_count = ipam_block_addrs_by_handle(&b, args->handle, NULL, 0);
			*ret = a;
			return 1;
		}
		r = ipam_block_assign(&b, 1, args->handle, args->attrs, &a.addr);
		if (r <= 0)
			return r;
		a.sequence = ipam_block_sequence_of(&b, &a.addr);
		a.handle_count = ipam_block_addrs_by_handle(&b, args->handle, NULL, 0);
		a.fresh = true;
		if (snap && snap->fast) {
			/* Write the block and the handle record in one txn (block unchanged since
			 * read, record unchanged since this ADD read it). */
			r = block_write_with_handle(ds, &b, rev, args->handle, &a, snap);
			if (r == -ESTALE || r == -E2BIG) {
				/* the block or the record changed: go the long way */
				snap->fast = false;
				if (r == -ESTALE)
					cas_backoff(attempt);
				continue;
			}
			if (r < 0)
				return r;
			a.committed = true;
			*ret = a;
			return 1;
		}
		r = block_write(ds, &b, rev);
		if (r == -ESTALE) {
			log_debug("block %s changed since it was read, retrying",
				  ipam_block_name(cidr, name));
			cas_backoff(attempt);
			continue;
		}
		if (r < 0)
			return r;
		*ret = a;
		return 1;
	}
	return -EBUSY;
}

/* Free @addr in its block when it still carries @sequence (-1: whatever it carries).
 * @ret_handle_count, @ret_handle: may be NULL; when an address was freed, how many addresses its
 * handle still holds in the block and that handle (NULL: it had none).
 * Return: 0 (freed, or already free), -ESTALE (re-assigned since), -EBUSY or a datastore error. */
static int block_release_seq(struct ds_client *ds, const struct ip_prefix *cidr,
			     const struct ip_addr *addr, int64_t sequence,
			     unsigned *ret_handle_count, char **ret_handle)
{
	for (unsigned attempt = 0; attempt < IPAM_CAS_RETRIES; attempt++) {
		_cleanup_block_ struct ipam_block b = {0};
		_cleanup_free_ char *handle = NULL;
		const struct ipam_attr *at;
		int64_t rev;
		int r;

		r = block_read(ds, cidr, &b, &rev);
		if (r == -ENOENT)
			return 0;
		if (r < 0)
			return r;
		at = ipam_block_lookup(&b, addr);
		if (at && at->handle_id) {
			handle = strdup(at->handle_id);
			if (!handle)
				return -ENOMEM;
		}
		r = ipam_block_release_addr(&b, addr, sequence);
		if (r == -ENOENT || r == -EINVAL)
			return 0;
		if (r < 0)
			return r; /* -ESTALE */
		r = block_write(ds, &b, rev);
		if (r == -ESTALE) {
			cas_backoff(attempt);
			continue;
		}
		if (r < 0)
			return r;
		if (ret_handle_count)
			*ret_handle_count =
			    handle ? ipam_block_addrs_by_handle(&b, handle, NULL, 0) : 0;
		if (ret_handle)
			*ret_handle = TAKE_PTR(handle);
		return 0;
	}
	return -EBUSY;
}

/* Free everything @handle holds in block @cidr. Return: how many were freed, -EBUSY or a
 * datastore error. */
static int block_release_handle(struct ds_client *ds, const struct ip_prefix *cidr,
				const char *handle)
{
	for (unsigned attempt = 0; attempt < IPAM_CAS_RETRIES; attempt++) {
		_cleanup_block_ struct ipam_block b = {0};
		int64_t rev;
		int r, n;

		r = block_read(ds, cidr, &b, &rev);
		if (r == -ENOENT)
			return 0;
		if (r < 0)
			return r;
		n = ipam_block_release_handle(&b, handle);
		if (n == 0)
			return 0;
		r = block_write(ds, &b, rev);
		if (r == -ESTALE) {
			cas_backoff(attempt);
			continue;
		}
		if (r < 0)
			return r;
		return n;
	}
	return -EBUSY;
}

static int block_cmp(const void *a, const void *b)
{
	const struct ipam_block *x = a, *y = b;

	return ip_prefix_cmp(&x->cidr, &y->cidr);
}

/* Every key and value under IPAM_KEY_BLOCKS into @kvs (the caller's, freed by the caller also
 * on failure); -E2BIG beyond IPAM_MAX_BLOCKS. */
static int range_blocks(struct ds_client *ds, struct ds_kvs *kvs)
{
	int r = ds_range_prefix(ds, IPAM_KEY_BLOCKS, 0, kvs);

	if (r < 0)
		return r;
	if (kvs->n > IPAM_MAX_BLOCKS)
		return log_warn_errno(-E2BIG, "%zu IPAM blocks in the datastore, more than %u",
				      kvs->n, IPAM_MAX_BLOCKS);
	return r;
}

int ipam_list_blocks(struct ds_client *ds, struct ipam_block **ret, size_t *ret_n)
{
	_cleanup_kvs_ struct ds_kvs kvs = {0};
	struct ipam_block *blocks;
	size_t n = 0;
	int r;

	r = range_blocks(ds, &kvs);
	if (r < 0)
		return r;
	blocks = calloc(kvs.n + 1, sizeof(*blocks));
	if (!blocks)
		return -ENOMEM;
	for (size_t i = 0; i < kvs.n; i++) {
		struct parse_err err = {0};
		char msg[800];

		r = ipam_block_decode_json(kvs.items[i].value, kvs.items[i].value_len, &blocks[n],
					   &err);
		if (r < 0) {
			if (r == -EINVAL) {
				snprintf(err.file, sizeof(err.file), "%.255s", kvs.items[i].key);
				r = log_warn_errno(-EPROTO, "%s",
						   parse_err_format(&err, msg, sizeof(msg)));
			}
			for (size_t j = 0; j < n; j++)
				ipam_block_done(&blocks[j]);
			free(blocks);
			return r;
		}
		n++;
	}
	qsort(blocks, n, sizeof(*blocks), block_cmp);
	*ret = blocks;
	*ret_n = n;
	return 0;
}

static int prefix_cmp(const void *a, const void *b)
{
	return ip_prefix_cmp(a, b);
}

/* The cidrs named by the keys under IPAM_KEY_BLOCKS, sorted. */
static int existing_block_cidrs(struct ds_client *ds, struct ip_prefix **ret, size_t *ret_n)
{
	_cleanup_kvs_ struct ds_kvs kvs = {0};
	_cleanup_free_ struct ip_prefix *v = NULL;
	size_t n = 0;
	int r;

	r = range_blocks(ds, &kvs);
	if (r < 0)
		return r;
	v = calloc(kvs.n + 1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < kvs.n; i++) {
		if (ipam_block_name_parse(kvs.items[i].key + strlen(IPAM_KEY_BLOCKS), &v[n]) < 0) {
			log_warn("%s: not a block name, ignoring", kvs.items[i].key);
			continue;
		}
		n++;
	}
	qsort(v, n, sizeof(*v), prefix_cmp);
	*ret = TAKE_PTR(v);
	*ret_n = n;
	return 0;
}

/* ---- affinities ---------------------------------------------------------------------------- */

struct affinity {
	struct ip_prefix cidr;
	bool confirmed;
};

static int affinity_cmp(const void *a, const void *b)
{
	const struct affinity *x = a, *y = b;

	return ip_prefix_cmp(&x->cidr, &y->cidr);
}

/* Every affinity of @node, sorted by block address. @pre: NULL, or the affinity records of @node
 * already read (ds_read_many() in ipam_auto_assign()); they are used instead of a read and
 * freed. */
static int node_affinities(struct ds_client *ds, const char *node, struct ds_kvs *pre,
			   struct affinity **ret, size_t *ret_n)
{
	_cleanup_kvs_ struct ds_kvs kvs = {0};
	_cleanup_free_ struct affinity *v = NULL;
	char prefix[IPAM_KEY_MAX];
	size_t n = 0, plen;
	int r;

	plen = (size_t)snprintf(prefix, sizeof(prefix), IPAM_KEY_AFFINITIES "%s/", node);
	if (pre) {
		kvs = *pre;
		*pre = (struct ds_kvs){0};
	} else {
		r = ds_range_prefix(ds, prefix, 0, &kvs);
		if (r < 0)
			return r;
	}
	if (kvs.n > IPAM_MAX_NODE_BLOCKS)
		log_warn("node %s has %zu block affinities, using the first %d", node, kvs.n,
			 IPAM_MAX_NODE_BLOCKS);
	v = calloc(MIN(kvs.n, (size_t)IPAM_MAX_NODE_BLOCKS) + 1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < kvs.n && n < IPAM_MAX_NODE_BLOCKS; i++) {
		_cleanup_json_ struct json_object *o = NULL;
		struct json_object *st;

		if (ipam_block_name_parse(kvs.items[i].key + plen, &v[n].cidr) < 0) {
			log_warn("%s: not a block name, ignoring", kvs.items[i].key);
			continue;
		}
		o = parse_json(kvs.items[i].value, kvs.items[i].value_len);
		v[n].confirmed = o && json_object_object_get_ex(o, "state", &st) &&
				 json_object_is_type(st, json_type_string) &&
				 strcmp(json_object_get_string(st), "confirmed") == 0;
		n++;
	}
	qsort(v, n, sizeof(*v), affinity_cmp);
	*ret = TAKE_PTR(v);
	*ret_n = n;
	return 0;
}

static size_t count_family(const struct affinity *affs, size_t n, int family)
{
	size_t c = 0;

	for (size_t i = 0; i < n; i++)
		c += affs[i].cidr.addr.family == family;
	return c;
}

static const char *affinity_value(bool confirmed)
{
	return confirmed ? "{\"state\":\"confirmed\"}" : "{\"state\":\"pending\"}";
}

/*
 * Two-phase claim of exactly @cidr for @node.
 * Return: 0 (claimed), -EEXIST (the block or our affinity for it already exists: try another),
 * or a datastore error.
 */
static int claim_specific(struct ds_client *ds, const char *node, const struct ip_prefix *cidr,
			  const struct ipam_config *cfg)
{
	_cleanup_block_ struct ipam_block b = {0};
	_cleanup_strbuf_ struct strbuf sb = {0};
	_cleanup_free_ char *affinity = NULL;
	char akey[IPAM_KEY_MAX], bkey[IPAM_KEY_MAX], name[IPAM_BLOCK_NAME_MAX];
	const char *confirmed = affinity_value(true);
	char pending[96];
	struct timespec now;
	int64_t arev = 0;
	int r, q;

	key_affinity(akey, node, cidr);
	key_block(bkey, cidr);
	ipam_block_name(cidr, name);
	if (asprintf(&affinity, "host:%s", node) < 0) {
		affinity = NULL;
		return -ENOMEM;
	}
	r = ipam_block_init(&b, *cidr, affinity);
	if (r < 0)
		return r;
	b.strict_affinity = cfg->strict_affinity;
	r = ipam_block_encode_json(&b, &sb);
	if (r < 0)
		return r;

	/* (1) pending affinity: if it exists, another claim of ours is in flight (or died). It
	 * carries its wall-clock time, so that the leak GC (ipam/block-gc.h) leaves a claim in
	 * flight alone. */
	clock_gettime(CLOCK_REALTIME, &now);
	snprintf(pending, sizeof(pending), "{\"state\":\"pending\",\"since\":%" PRId64 "}",
		 (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000);
	r = ds_create(ds, akey, pending, strlen(pending), 0, &arev);
	if (r < 0)
		return r;
	/* (2) the block itself: whoever creates it owns it. */
	r = ds_create(ds, bkey, strbuf_cstr(&sb), sb.len, 0, NULL);
	if (r < 0) {
		q = ds_delete_if(ds, akey, arev);
		if (q < 0 && q != -ENOENT && q != -ESTALE)
			log_warn_errno(q, "removing pending affinity %s: %m", akey);
		if (r == -EEXIST)
			log_debug("block %s was claimed by another host, trying the next one",
				  name);
		return r;
	}
	/* (3) confirm. The block is ours from (2) on; a failure here leaves a pending affinity to
	 * a block that names us, which the assignment path treats as ours. */
	r = ds_update(ds, akey, confirmed, strlen(confirmed), arev, NULL);
	if (r < 0)
		log_warn_errno(r, "confirming affinity %s: %m", akey);
	if (r < 0 && r != -ESTALE)
		return r;
	log_info("claimed IPAM block %s for node %s", name, node);
	return 0;
}

/*
 * Candidate blocks in ascending order, skipping every one that overlaps an existing block.
 * Bounded for any pool size (an IPv6 /48 or /64 pool holds 2^58 or more /122 blocks): the search
 * walks the sorted list of existing blocks instead of the pool's blocks, jumping past each
 * existing block that overlaps the candidate (ipam_pool_block_index() of its last address), so
 * it looks at no more candidates than there are existing blocks, plus the claims lost to
 * concurrent claimers, which are capped at IPAM_CAS_RETRIES. Only the first 2^31 blocks of a
 * pool are used (ipam_pool_block_count()).
 * Return: 0, -ENOSPC (no free block), -EBUSY (lost IPAM_CAS_RETRIES races), or an error.
 */
static int claim_block(struct ds_client *ds, const char *node, const struct model_resource *pool,
		       const struct ipam_config *cfg, struct ip_prefix *ret)
{
	_cleanup_free_ struct ip_prefix *existing = NULL;
	const struct ip_prefix *pc = &pool->ippool.cidr;
	uint8_t bs = pool->ippool.block_size;
	uint32_t count = ipam_pool_block_count(pc, bs), i = 0;
	unsigned lost = 0;
	size_t n = 0, j = 0;
	int r;

	if (!count)
		return log_warn_errno(-EINVAL, "IP pool %s: block size /%u does not fit %u",
				      pool->meta.name, bs, pc->len);
	r = existing_block_cidrs(ds, &existing, &n);
	if (r < 0)
		return r;
	while (i < count) {
		const struct ip_prefix *over = NULL;
		struct ip_prefix c;
		struct ip_addr last;
		uint32_t li;

		r = ipam_pool_block_at(pc, bs, i, &c);
		if (r < 0)
			return r;
		/* existing[] is sorted: skip the ones that lie wholly below this candidate */
		while (j < n && ip_prefix_cmp(&existing[j], &c) < 0 &&
		       !ip_prefix_overlaps(&existing[j], &c))
			j++;
		for (size_t k = j; k < n && !over; k++) {
			if (ip_prefix_overlaps(&existing[k], &c))
				over = &existing[k];
			else if (ip_prefix_cmp(&existing[k], &c) > 0)
				break;
		}
		if (over) {
			/* the next candidate is the first block past the end of @over */
			last = ipam_prefix_last(over);
			if (!ip_prefix_contains_addr(pc, &last) ||
			    ipam_pool_block_index(pc, bs, &last, &li) < 0)
				break;
			i = li + 1;
			continue;
		}
		r = claim_specific(ds, node, &c, cfg);
		if (r == -EEXIST) {
			if (++lost >= IPAM_CAS_RETRIES)
				return log_warn_errno(-EBUSY,
						      "IP pool %s: lost %u block claims in a row",
						      pool->meta.name, lost);
			i++;
			continue;
		}
		if (r < 0)
			return r;
		*ret = c;
		return 0;
	}
	return -ENOSPC;
}

int ipam_claim_block(struct ds_client *ds, const char *node, const struct model_resource *pool,
		     struct ip_prefix *ret)
{
	struct ipam_config cfg;
	int r;

	if (!name_ok(node) || !pool || pool->kind != MODEL_KIND_IPPOOL)
		return -EINVAL;
	r = ipam_read_config(ds, &cfg);
	if (r < 0)
		return r;
	return claim_block(ds, node, pool, &cfg, ret);
}

/* Is @a's block really ours? A pending affinity counts only when the block names us. */
static int affinity_is_live(struct ds_client *ds, const char *node, const struct affinity *a)
{
	_cleanup_block_ struct ipam_block b = {0};
	int64_t rev;
	int r;

	if (a->confirmed)
		return 1;
	r = block_read(ds, &a->cidr, &b, &rev);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return r;
	return ipam_block_is_affine_to(&b, node);
}

int ipam_ensure_block(struct ds_client *ds, const char *node, int family, unsigned *ret_claimed)
{
	_cleanup_model_list_ struct model_list pools = {0};
	_cleanup_free_ struct affinity *affs = NULL;
	struct ipam_config cfg;
	size_t n_affs = 0, owned;
	unsigned claimed = 0;
	int r, ret = 0;

	if (!name_ok(node) || (family != AF_INET && family != AF_INET6))
		return -EINVAL;
	r = usable_pools(ds, family, NULL, &pools);
	if (r < 0)
		return r;
	if (pools.n == 0)
		return -ENOENT;
	r = ipam_read_config(ds, &cfg);
	if (r < 0)
		return r;
	r = node_affinities(ds, node, NULL, &affs, &n_affs);
	if (r < 0)
		return r;
	owned = count_family(affs, n_affs, family);
	for (size_t p = 0; p < pools.n; p++) {
		const struct model_resource *pool = pools.items[p];
		struct ip_prefix c;
		bool have = false;

		for (size_t i = 0; i < n_affs && !have; i++) {
			if (!ip_prefix_contains(&pool->ippool.cidr, &affs[i].cidr))
				continue;
			r = affinity_is_live(ds, node, &affs[i]);
			if (r < 0)
				return r;
			have = r > 0;
		}
		if (have)
			continue;
		if (cfg.max_blocks_per_host && owned >= cfg.max_blocks_per_host) {
			log_debug("node %s has %zu blocks (maxBlocksPerHost %" PRIu32
				  "), not claiming one in pool %s",
				  node, owned, cfg.max_blocks_per_host, pool->meta.name);
			continue;
		}
		r = claim_block(ds, node, pool, &cfg, &c);
		if (r == -ENOSPC) {
			log_info("IP pool %s has no free block for node %s", pool->meta.name, node);
			RET_GATHER(ret, r);
			continue;
		}
		if (r < 0)
			return r;
		claimed++;
		owned++;
	}
	if (ret_claimed)
		*ret_claimed = claimed;
	return ret;
}

/* ---- handle records ------------------------------------------------------------------------ */

/* Return: 0, -EPROTO (not a handle record). */
static int handle_decode(const char *key, const char *buf, size_t len, struct handle_rec *ret)
{
	_cleanup_json_ struct json_object *o = parse_json(buf, len);
	struct json_object *blocks;

	ret->n = 0;
	if (!o || !json_object_object_get_ex(o, "block", &blocks) ||
	    !json_object_is_type(blocks, json_type_object))
		return log_warn_errno(-EPROTO, "%s: not a handle record", key);
	json_object_object_foreach(blocks, name, count)
	{
		struct ip_prefix c;
		int64_t v =
		    json_object_is_type(count, json_type_int) ? json_object_get_int64(count) : -1;

		if (ipam_block_name_parse(name, &c) < 0 || v < 0 || v > IPAM_BLOCK_MAX_ADDRS)
			return log_warn_errno(-EPROTO, "%s: block.%s: invalid entry", key, name);
		if (ret->n >= IPAM_HANDLE_MAX_BLOCKS)
			return log_warn_errno(-EPROTO, "%s: more than %d blocks", key,
					      IPAM_HANDLE_MAX_BLOCKS);
		snprintf(ret->items[ret->n].name, IPAM_BLOCK_NAME_MAX, "%s", name);
		ret->items[ret->n++].count = (uint32_t)v;
	}
	return 0;
}

static int handle_encode(const char *handle, const struct handle_rec *h, struct strbuf *out)
{
	_cleanup_json_ struct json_object *o = json_object_new_object();
	struct json_object *blocks = json_object_new_object();
	const char *s;

	if (!o || !blocks) {
		json_object_put(blocks);
		return -ENOMEM;
	}
	if (json_object_object_add(o, "handleID", json_object_new_string(handle)) < 0 ||
	    json_object_object_add(o, "block", blocks) < 0)
		return -ENOMEM;
	for (size_t i = 0; i < h->n; i++)
		if (json_object_object_add(blocks, h->items[i].name,
					   json_object_new_int((int32_t)h->items[i].count)) < 0)
			return -ENOMEM;
	s = json_object_to_json_string_ext(o,
					   JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	if (!s)
		return -ENOMEM;
	return strbuf_puts(out, s);
}

/* Read the handle record. Return: 0, -ENOENT, -EPROTO or a datastore error. */
static int handle_read(struct ds_client *ds, const char *handle, struct handle_rec *ret,
		       int64_t *ret_rev)
{
	_cleanup_kv_ struct ds_kv kv = {0};
	char key[IPAM_KEY_MAX];
	int r;

	key_handle(key, handle);
	r = ds_get(ds, key, &kv, NULL);
	if (r < 0)
		return r;
	r = handle_decode(key, kv.value, kv.value_len, ret);
	if (r < 0)
		return r;
	*ret_rev = kv.mod_revision;
	return 0;
}

/*
 * Record that @handle holds @count addresses in @block (0: none; the entry goes, and the record
 * too when it was the last). Compare-and-swap with retry.
 * Return: 0, -EBUSY, -E2BIG (too many blocks for one handle) or a datastore error.
 */
static int handle_set_block(struct ds_client *ds, const char *handle, const struct ip_prefix *block,
			    unsigned count)
{
	char key[IPAM_KEY_MAX], name[IPAM_BLOCK_NAME_MAX];

	key_handle(key, handle);
	ipam_block_name(block, name);
	for (unsigned attempt = 0; attempt < IPAM_CAS_RETRIES; attempt++) {
		_cleanup_strbuf_ struct strbuf sb = {0};
		struct handle_rec h = {0};
		int64_t rev = 0;
		size_t i;
		int r;

		r = handle_read(ds, handle, &h, &rev);
		if (r < 0 && r != -ENOENT)
			return r;
		for (i = 0; i < h.n; i++)
			if (strcmp(h.items[i].name, name) == 0)
				break;
		if (i == h.n) {
			if (count == 0)
				return 0;
			if (h.n >= IPAM_HANDLE_MAX_BLOCKS)
				return log_warn_errno(-E2BIG, "handle %s: more than %d blocks",
						      handle, IPAM_HANDLE_MAX_BLOCKS);
			snprintf(h.items[h.n++].name, IPAM_BLOCK_NAME_MAX, "%s", name);
		}
		if (h.items[i].count == count && rev)
			return 0;
		h.items[i].count = count;
		if (count == 0) {
			memmove(&h.items[i], &h.items[i + 1], sizeof(h.items[0]) * (h.n - i - 1));
			h.n--;
		}
		if (h.n == 0) {
			r = ds_delete_if(ds, key, rev);
			if (r == -ENOENT)
				r = 0;
		} else {
			r = handle_encode(handle, &h, &sb);
			if (r < 0)
				return r;
			if (rev)
				r = ds_update(ds, key, strbuf_cstr(&sb), sb.len, rev, NULL);
			else
				r = ds_create(ds, key, strbuf_cstr(&sb), sb.len, 0, NULL);
		}
		if (r == -ESTALE || r == -EEXIST) {
			cas_backoff(attempt);
			continue;
		}
		return r;
	}
	return -EBUSY;
}

/* The address of @family that @handle already holds, via its record. @pre: the record already
 * read (its key's ds_read_many() result: n == 0 when absent), the record decoded from it. @pre
 * is never NULL here: ipam_auto_assign() reads it with the rest of its state.
 * Return: 1 (found), 0 (none) or an error. */
static int handle_lookup(struct ds_client *ds, const char *handle, int family,
			 const struct ds_kvs *pre, struct ip_addr *ret_addr,
			 struct ip_prefix *ret_block)
{
	struct handle_rec h = {0};
	int r;

	if (pre->n == 0)
		return 0;
	r = handle_decode(pre->items[0].key, pre->items[0].value, pre->items[0].value_len, &h);
	if (r < 0)
		return r;
	for (size_t i = 0; i < h.n; i++) {
		_cleanup_block_ struct ipam_block b = {0};
		struct ip_prefix c;
		int64_t brev;

		if (ipam_block_name_parse(h.items[i].name, &c) < 0 || c.addr.family != family)
			continue;
		r = block_read(ds, &c, &b, &brev);
		if (r == -ENOENT)
			continue;
		if (r < 0)
			return r;
		if (ipam_block_addrs_by_handle(&b, handle, ret_addr, 1) > 0) {
			if (ret_block)
				*ret_block = c;
			return 1;
		}
	}
	return 0;
}

static int addr_cmp(const void *a, const void *b)
{
	return ip_addr_cmp(a, b);
}

int ipam_handle_addrs(struct ds_client *ds, const char *handle, struct ip_addr *ret, unsigned max)
{
	struct ip_addr found[IPAM_HANDLE_MAX_BLOCKS * 4];
	struct handle_rec h = {0};
	unsigned total = 0, kept = 0;
	int64_t rev;
	int r;

	if (!name_ok(handle))
		return -EINVAL;
	r = handle_read(ds, handle, &h, &rev);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return r;
	for (size_t i = 0; i < h.n; i++) {
		_cleanup_block_ struct ipam_block b = {0};
		struct ip_prefix c;
		int64_t brev;
		unsigned k;

		if (ipam_block_name_parse(h.items[i].name, &c) < 0)
			continue;
		r = block_read(ds, &c, &b, &brev);
		if (r == -ENOENT)
			continue;
		if (r < 0)
			return r;
		k = ipam_block_addrs_by_handle(&b, handle, found + kept,
					       (unsigned)ELEMENTSOF(found) - kept);
		total += k;
		kept += MIN(k, (unsigned)ELEMENTSOF(found) - kept);
	}
	qsort(found, kept, sizeof(found[0]), addr_cmp);
	if (ret)
		memcpy(ret, found, sizeof(found[0]) * MIN(kept, max));
	return (int)total;
}

/* After a block write: record it under the handle, or undo the block write. */
static int commit_handle(struct ds_client *ds, const char *handle, const struct assigned *a)
{
	char abuf[IP_ADDR_STRLEN];
	int r, q;

	if (a->committed)
		return 0;
	r = handle_set_block(ds, handle, &a->block, a->handle_count);
	if (r >= 0 || !a->fresh)
		return r;
	log_warn_errno(r, "recording %s for handle %s failed, releasing it: %m",
		       ip_addr_format(&a->addr, abuf), handle);
	q = block_release_seq(ds, &a->block, &a->addr, a->sequence, NULL, NULL);
	if (q < 0)
		log_error_errno(q,
				"releasing %s after a failed assignment: %m (leaked until "
				"\"tabbyctl ipam check\")",
				abuf);
	return r;
}

/* ---- assignment ---------------------------------------------------------------------------- */

static bool args_ok(const struct ipam_assign_args *args)
{
	return args && name_ok(args->node) && name_ok(args->handle) &&
	       (args->family == AF_INET || args->family == AF_INET6);
}

/*
 * One pass of auto-assignment: own blocks, then a new block, then borrowing.
 * Return: 1 (assigned), 0 (lost a race with a concurrent claimer: run another pass), -ENOSPC or
 * an error.
 */
static int auto_assign_pass(struct ds_client *ds, const struct ipam_assign_args *args,
			    const struct ipam_config *cfg, const struct model_list *pools,
			    struct ds_kvs *pre_affs, struct handle_snap *snap, struct assigned *ret)
{
	_cleanup_free_ struct affinity *affs = NULL;
	_cleanup_free_ struct ip_prefix *all = NULL;
	size_t n_affs = 0, n_all = 0, owned;
	char name[IPAM_BLOCK_NAME_MAX];
	bool quota_left;
	int r;

	r = node_affinities(ds, args->node, pre_affs, &affs, &n_affs);
	if (r < 0)
		return r;
	/* 1: blocks affine to this node, lowest address first */
	for (size_t i = 0; i < n_affs; i++) {
		if (affs[i].cidr.addr.family != args->family || !pool_holding(pools, &affs[i].cidr))
			continue;
		r = block_assign_one(ds, &affs[i].cidr, args->node, args, snap, ret);
		if (r != 0)
			return r;
	}

	/* 2: claim a new block, pool by pool */
	owned = count_family(affs, n_affs, args->family);
	quota_left = !cfg->max_blocks_per_host || owned < cfg->max_blocks_per_host;
	for (size_t p = 0; quota_left && p < pools->n; p++) {
		struct ip_prefix c;

		r = claim_block(ds, args->node, pools->items[p], cfg, &c);
		if (r == -ENOSPC)
			continue;
		if (r < 0)
			return r;
		r = block_assign_one(ds, &c, args->node, args, snap, ret);
		/* 0: other assignments on this node filled the new block first */
		return r;
	}
	if (cfg->strict_affinity) {
		log_debug("node %s: no free address in its blocks and strictAffinity is set",
			  args->node);
		return -ENOSPC;
	}

	/* 3: borrow from any block in the pools (Calico does this when strictAffinity is off) */
	r = existing_block_cidrs(ds, &all, &n_all);
	if (r < 0)
		return r;
	for (size_t i = 0; i < n_all; i++) {
		if (all[i].addr.family != args->family || !pool_holding(pools, &all[i]))
			continue;
		r = block_assign_one(ds, &all[i], NULL, args, snap, ret);
		if (r == 0)
			continue;
		if (r > 0 && ret->fresh)
			log_info("node %s borrowed an address from block %s", args->node,
				 ipam_block_name(&all[i], name));
		return r;
	}
	return -ENOSPC;
}

int ipam_auto_assign(struct ds_client *ds, const struct ipam_assign_args *args,
		     struct ip_addr *ret_addr, struct ip_prefix *ret_block)
{
	_cleanup_model_list_ struct model_list pools = {0};
	_cleanup_model_list_ struct model_list read_pools = {0};
	struct model_list all = {0};
	struct ipam_config cfg;
	struct assigned a = {0};
	char abuf[IP_ADDR_STRLEN], name[IPAM_BLOCK_NAME_MAX];
	char hkey[IPAM_KEY_MAX], aprefix[IPAM_KEY_MAX];
	/* Everything the first pass needs, in one read-only txn (one round trip, one revision):
	 * the handle record, the IPAM config, the pools, this node's affinities and, when the
	 * caller asks, a key that must exist (the CNI plugin's Node). */
	struct ds_read rd[5] = {
	    {.key = hkey},
	    {.key = IPAM_KEY_CONFIG},
	    {.key = POOLS_PREFIX, .prefix = true},
	    {.key = aprefix, .prefix = true},
	    {.key = args ? args->require_key : NULL},
	};
	struct handle_snap snap = {0};
	int r;

	if (!args_ok(args) || (args->require_key && !*args->require_key))
		return -EINVAL;
	key_handle(hkey, args->handle);
	snprintf(aprefix, sizeof(aprefix), IPAM_KEY_AFFINITIES "%s/", args->node);
	r = ds_read_many(ds, rd, args->require_key ? 5 : 4, NULL);
	if (r >= 0 && args->require_key && rd[4].kvs.n == 0)
		r = log_debug_errno(-ENODEV, "%s: absent", args->require_key);
	if (r >= 0 && args->ret_pools)
		r = pools_decode_ex(&rd[2].kvs, true, &read_pools);
	if (r >= 0)
		r = handle_lookup(ds, args->handle, args->family, &rd[0].kvs, &a.addr, &a.block);
	if (r > 0) {
		for (size_t i = 0; i < ELEMENTSOF(rd); i++)
			ds_kvs_done(&rd[i].kvs);
		log_debug("handle %s already holds %s", args->handle,
			  ip_addr_format(&a.addr, abuf));
		*ret_addr = a.addr;
		if (ret_block)
			*ret_block = a.block;
		if (args->ret_pools)
			*args->ret_pools = TAKE_LIST(read_pools);
		return 0;
	}
	/* the one-txn write needs the record as read: absent, or decoded with its revision */
	snap.fast = rd[0].kvs.n == 0 ||
		    (r >= 0 && handle_decode(rd[0].kvs.items[0].key, rd[0].kvs.items[0].value,
					     rd[0].kvs.items[0].value_len, &snap.rec) == 0);
	snap.present = rd[0].kvs.n > 0;
	snap.rev = snap.present ? rd[0].kvs.items[0].mod_revision : 0;
	if (r >= 0)
		r = pools_decode(&rd[2].kvs, &all);
	if (r >= 0)
		r = usable_pools_of(&all, args->family, args->pool_names, &pools);
	if (r >= 0 && pools.n == 0)
		r = log_debug_errno(-ENOENT, "no usable IPv%d pool for node %s",
				    args->family == AF_INET6 ? 6 : 4, args->node);
	if (r >= 0)
		r = config_decode(rd[1].kvs.n ? &rd[1].kvs.items[0] : NULL, &cfg);
	for (unsigned pass = 0; r >= 0; pass++) {
		if (pass == IPAM_CAS_RETRIES) {
			r = -EBUSY;
			break;
		}
		/* the prefetched affinities serve the first pass only */
		r = auto_assign_pass(ds, args, &cfg, &pools, pass ? NULL : &rd[3].kvs, &snap, &a);
		if (r > 0)
			break;
		if (r == 0)
			cas_backoff(pass);
	}
	for (size_t i = 0; i < ELEMENTSOF(rd); i++)
		ds_kvs_done(&rd[i].kvs);
	if (r < 0)
		return r;
	r = commit_handle(ds, args->handle, &a);
	if (r < 0)
		return r;
	log_debug("assigned %s from block %s to handle %s on node %s",
		  ip_addr_format(&a.addr, abuf), ipam_block_name(&a.block, name), args->handle,
		  args->node);
	*ret_addr = a.addr;
	if (ret_block)
		*ret_block = a.block;
	if (args->ret_pools)
		*args->ret_pools = TAKE_LIST(read_pools);
	return 0;
}

int ipam_assign_ip(struct ds_client *ds, const struct ipam_assign_args *args,
		   const struct ip_addr *addr)
{
	_cleanup_model_list_ struct model_list pools = {0};
	const struct model_resource *pool;
	struct ip_prefix host, cidr;
	struct ipam_config cfg;
	struct assigned a = {0};
	bool done = false;
	int r;

	if (!args_ok(args) || !addr || addr->family != args->family)
		return -EINVAL;
	r = usable_pools(ds, args->family, args->pool_names, &pools);
	if (r < 0)
		return r;
	host = ip_prefix_host(addr);
	pool = pool_holding(&pools, &host);
	if (!pool)
		return -ENOENT;
	cidr = host;
	cidr.len = pool->ippool.block_size;
	cidr = ip_prefix_mask(cidr);
	r = ipam_read_config(ds, &cfg);
	if (r < 0)
		return r;

	for (unsigned attempt = 0; !done; attempt++) {
		_cleanup_block_ struct ipam_block b = {0};
		const struct ipam_attr *at;
		int64_t rev;

		if (attempt == IPAM_CAS_RETRIES)
			return -EBUSY;
		r = block_read(ds, &cidr, &b, &rev);
		if (r == -ENOENT) {
			/* no block there yet: claim it for this node, then assign */
			r = claim_specific(ds, args->node, &cidr, &cfg);
			if (r < 0 && r != -EEXIST)
				return r;
			continue;
		}
		if (r < 0)
			return r;
		at = ipam_block_lookup(&b, addr);
		if (at) {
			if (!at->handle_id || strcmp(at->handle_id, args->handle) != 0)
				return -EEXIST;
			a.fresh = false; /* already ours: just make sure the record says so */
		} else {
			r = ipam_block_assign_addr(&b, addr, args->handle, args->attrs);
			if (r < 0)
				return r;
			r = block_write(ds, &b, rev);
			if (r == -ESTALE) {
				cas_backoff(attempt);
				continue;
			}
			if (r < 0)
				return r;
			a.fresh = true;
		}
		a.addr = *addr;
		a.block = cidr;
		a.sequence = ipam_block_sequence_of(&b, addr);
		a.handle_count = ipam_block_addrs_by_handle(&b, args->handle, NULL, 0);
		done = true;
	}
	return commit_handle(ds, args->handle, &a);
}

/* ---- release ------------------------------------------------------------------------------- */

int ipam_release_handle(struct ds_client *ds, const char *handle, unsigned *ret_released)
{
	char key[IPAM_KEY_MAX];
	unsigned released = 0;
	int r;

	if (!name_ok(handle))
		return -EINVAL;
	key_handle(key, handle);
	for (unsigned attempt = 0; attempt < IPAM_CAS_RETRIES; attempt++) {
		struct handle_rec h = {0};
		int64_t rev;

		r = handle_read(ds, handle, &h, &rev);
		if (r == -ENOENT)
			break;
		if (r < 0)
			return r;
		for (size_t i = 0; i < h.n; i++) {
			struct ip_prefix c;

			if (ipam_block_name_parse(h.items[i].name, &c) < 0)
				continue;
			r = block_release_handle(ds, &c, handle);
			if (r < 0)
				return r;
			released += (unsigned)r;
		}
		/* last: the record goes only when nobody changed it meanwhile */
		r = ds_delete_if(ds, key, rev);
		if (r == -ESTALE) {
			cas_backoff(attempt);
			continue;
		}
		if (r < 0 && r != -ENOENT)
			return r;
		if (released)
			log_debug("released %u address(es) of handle %s", released, handle);
		if (ret_released)
			*ret_released = released;
		return 0;
	}
	if (r != -ENOENT)
		return -EBUSY;
	if (ret_released)
		*ret_released = released;
	return 0;
}

/* The block holding @addr: the pool's block-size alignment when a pool holds it and the block
 * exists, else whichever stored block contains it. Return: 1 (found), 0 (none) or an error. */
static int find_block_of(struct ds_client *ds, const struct ip_addr *addr, struct ip_prefix *ret)
{
	_cleanup_model_list_ struct model_list pools = {0};
	_cleanup_free_ struct ip_prefix *all = NULL;
	struct ip_prefix host = ip_prefix_host(addr);
	size_t n_all = 0;
	int r;

	r = ipam_list_pools(ds, &pools);
	if (r < 0)
		return r;
	for (size_t i = 0; i < pools.n; i++) {
		const struct model_ippool *p = &pools.items[i]->ippool;
		_cleanup_kv_ struct ds_kv kv = {0};
		char key[IPAM_KEY_MAX];
		struct ip_prefix c;

		if (!ip_prefix_contains(&p->cidr, &host))
			continue;
		c = host;
		c.len = p->block_size;
		c = ip_prefix_mask(c);
		key_block(key, &c);
		r = ds_get(ds, key, &kv, NULL);
		if (r == 0) {
			*ret = c;
			return 1;
		}
		if (r != -ENOENT)
			return r;
	}
	/* the pool was deleted or its block size changed since: look at the blocks themselves */
	r = existing_block_cidrs(ds, &all, &n_all);
	if (r < 0)
		return r;
	for (size_t i = 0; i < n_all; i++)
		if (ip_prefix_contains(&all[i], &host)) {
			*ret = all[i];
			return 1;
		}
	return 0;
}

int ipam_release_addr(struct ds_client *ds, const struct ip_addr *addr, int64_t sequence)
{
	_cleanup_free_ char *handle = NULL;
	struct ip_prefix cidr;
	unsigned left = 0;
	char abuf[IP_ADDR_STRLEN];
	int r;

	if (!addr || (addr->family != AF_INET && addr->family != AF_INET6))
		return -EINVAL;
	r = find_block_of(ds, addr, &cidr);
	if (r <= 0)
		return r;
	r = block_release_seq(ds, &cidr, addr, sequence < 0 ? -1 : sequence, &left, &handle);
	if (r < 0)
		return r;
	if (!handle)
		return 0; /* was free already, or had no handle */
	log_debug("released %s of handle %s", ip_addr_format(addr, abuf), handle);
	r = handle_set_block(ds, handle, &cidr, left);
	if (r < 0)
		log_warn_errno(r, "updating handle record %s after releasing %s: %m", handle, abuf);
	return 0;
}
