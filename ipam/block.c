/* SPDX-License-Identifier: Apache-2.0 */
/*
 * DOC: IPAM block math
 *
 * One allocation block as Calico keeps it (libcalico-go lib/backend/model/block.go and
 * lib/ipam/ipam_block.go): an allocation slot per address that points into a table of
 * attributes, the free ordinals in the order they are handed out, and sequence numbers that
 * let a release refuse to free an address that was re-assigned since the caller saw it.
 *
 * Attributes are shared: every allocation made for the same (handle, secondary) pair points at
 * one entry, and an entry that no allocation refers to any more is dropped on release, with the
 * allocation indices renumbered (Calico's releaseByHandle / release do the same), so a block
 * never accumulates dead attributes.
 *
 * Everything here is pure: the datastore I/O and the compare-and-swap retry live in ipam.c.
 * Decoding is strict because a block is shared state written by many hosts: a block whose
 * allocations, free list and attributes disagree is refused instead of being "repaired".
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "ipam/block.h"
#include "lib/log.h"

static void attr_done(struct ipam_attr *a)
{
	free(a->handle_id);
	a->handle_id = NULL;
	model_labels_done(&a->secondary);
}

static int labels_copy(struct model_labels *dst, const struct model_labels *src)
{
	struct model_labels l = {0};

	for (size_t i = 0; src && i < src->n; i++) {
		int r = model_labels_set(&l, src->items[i].key, src->items[i].value);
		if (r < 0) {
			model_labels_done(&l);
			return r;
		}
	}
	*dst = l;
	return 0;
}

static bool labels_equal(const struct model_labels *a, const struct model_labels *b)
{
	size_t na = a ? a->n : 0, nb = b ? b->n : 0;

	if (na != nb)
		return false;
	/* Both are sorted by key with unique keys (model_labels_set keeps them so). */
	for (size_t i = 0; i < na; i++) {
		if (strcmp(a->items[i].key, b->items[i].key) ||
		    strcmp(a->items[i].value, b->items[i].value))
			return false;
	}
	return true;
}

static bool handle_equal(const char *a, const char *b)
{
	if (!a || !b)
		return a == b;
	return strcmp(a, b) == 0;
}

int ipam_block_init(struct ipam_block *b, struct ip_prefix cidr, const char *affinity)
{
	struct ipam_block nb = {0};
	unsigned bits = ip_addr_bits(cidr.addr.family);

	if (!bits || cidr.len > bits || bits - cidr.len > 12)
		return -EINVAL;
	nb.cidr = ip_prefix_mask(cidr);
	nb.n = (uint32_t)ip_prefix_size(&nb.cidr);
	if (nb.n > IPAM_BLOCK_MAX_ADDRS)
		return -EINVAL;
	nb.allocations = malloc(sizeof(*nb.allocations) * nb.n);
	nb.unallocated = malloc(sizeof(*nb.unallocated) * nb.n);
	nb.seq_for_alloc = calloc(nb.n, sizeof(*nb.seq_for_alloc));
	if (affinity)
		nb.affinity = strdup(affinity);
	if (!nb.allocations || !nb.unallocated || !nb.seq_for_alloc || (affinity && !nb.affinity)) {
		ipam_block_done(&nb);
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < nb.n; i++) {
		nb.allocations[i] = -1;
		nb.unallocated[i] = i;
	}
	nb.n_unallocated = nb.n;
	*b = nb;
	return 0;
}

void ipam_block_done(struct ipam_block *b)
{
	if (!b)
		return;
	free(b->affinity);
	free(b->allocations);
	free(b->unallocated);
	free(b->seq_for_alloc);
	for (size_t i = 0; i < b->n_attrs; i++)
		attr_done(&b->attrs[i]);
	free(b->attrs);
	*b = (struct ipam_block){0};
}

/* The index of the attribute for (@handle, @secondary), appending one when there is none.
 * Return: the index, or -ENOMEM with @b unchanged. */
static int attr_find_or_add(struct ipam_block *b, const char *handle,
			    const struct model_labels *secondary)
{
	struct ipam_attr a = {0}, *attrs;
	int r;

	for (size_t i = 0; i < b->n_attrs; i++)
		if (handle_equal(b->attrs[i].handle_id, handle) &&
		    labels_equal(&b->attrs[i].secondary, secondary))
			return (int)i;
	if (b->n_attrs >= IPAM_BLOCK_MAX_ADDRS)
		return -ENOMEM; /* cannot happen: a block has at most that many allocations */
	if (handle) {
		a.handle_id = strdup(handle);
		if (!a.handle_id)
			return -ENOMEM;
	}
	r = labels_copy(&a.secondary, secondary);
	if (r < 0) {
		attr_done(&a);
		return r == -E2BIG ? -ENOMEM : r;
	}
	attrs = realloc(b->attrs, sizeof(*attrs) * (b->n_attrs + 1));
	if (!attrs) {
		attr_done(&a);
		return -ENOMEM;
	}
	b->attrs = attrs;
	b->attrs[b->n_attrs] = a;
	return (int)b->n_attrs++;
}

/* Drop attributes that no allocation refers to and renumber the allocations. Best effort: when
 * the scratch table cannot be allocated the dead entries stay until the next release. */
static void attrs_gc(struct ipam_block *b)
{
	_cleanup_free_ int32_t *remap = NULL;
	size_t kept = 0;

	if (b->n_attrs == 0)
		return;
	remap = calloc(b->n_attrs, sizeof(*remap));
	if (!remap)
		return;
	for (uint32_t o = 0; o < b->n; o++)
		if (b->allocations[o] >= 0)
			remap[b->allocations[o]] = 1;
	for (size_t i = 0; i < b->n_attrs; i++) {
		if (!remap[i]) {
			log_debug("ipam block: dropping unused attribute of handle %s",
				  b->attrs[i].handle_id ? b->attrs[i].handle_id : "(none)");
			attr_done(&b->attrs[i]);
			remap[i] = -1;
			continue;
		}
		remap[i] = (int32_t)kept;
		b->attrs[kept++] = b->attrs[i];
	}
	for (uint32_t o = 0; o < b->n; o++)
		if (b->allocations[o] >= 0)
			b->allocations[o] = remap[b->allocations[o]];
	b->n_attrs = kept;
	if (kept == 0) {
		free(b->attrs);
		b->attrs = NULL;
	}
}

static struct ip_addr ordinal_addr(const struct ipam_block *b, uint32_t o)
{
	struct ip_addr a = b->cidr.addr;

	/* Cannot fail: o < n and the block is masked. */
	if (ip_addr_add(&b->cidr.addr, o, &a) < 0)
		a = b->cidr.addr;
	return a;
}

/* The ordinal of @a, or -1 when it is not in the block. */
static int64_t ordinal_of(const struct ipam_block *b, const struct ip_addr *a)
{
	int64_t o;

	if (!a || !b->n)
		return -1;
	o = ip_prefix_offset(&b->cidr, a);
	if (o < 0 || o >= (int64_t)b->n)
		return -1;
	return o;
}

int ipam_block_assign(struct ipam_block *b, unsigned num, const char *handle,
		      const struct model_labels *secondary, struct ip_addr *ret_addrs)
{
	unsigned k = MIN(num, b->n_unallocated);
	int idx;

	if (k == 0)
		return 0;
	idx = attr_find_or_add(b, handle, secondary);
	if (idx < 0)
		return idx;
	for (unsigned i = 0; i < k; i++) {
		uint32_t o = b->unallocated[i];

		b->allocations[o] = idx;
		b->seq_for_alloc[o] = b->sequence;
		ret_addrs[i] = ordinal_addr(b, o);
	}
	b->n_unallocated -= k;
	memmove(b->unallocated, b->unallocated + k, sizeof(*b->unallocated) * b->n_unallocated);
	b->sequence++;
	return (int)k;
}

int ipam_block_assign_addr(struct ipam_block *b, const struct ip_addr *a, const char *handle,
			   const struct model_labels *secondary)
{
	int64_t o = ordinal_of(b, a);
	uint32_t pos;
	int idx;

	if (o < 0)
		return -EINVAL;
	if (b->allocations[o] >= 0)
		return -EEXIST;
	for (pos = 0; pos < b->n_unallocated; pos++)
		if (b->unallocated[pos] == (uint32_t)o)
			break;
	if (pos == b->n_unallocated)
		return -EEXIST; /* inconsistent block; decode refuses these, so never reached */
	idx = attr_find_or_add(b, handle, secondary);
	if (idx < 0)
		return idx;
	memmove(b->unallocated + pos, b->unallocated + pos + 1,
		sizeof(*b->unallocated) * (b->n_unallocated - pos - 1));
	b->n_unallocated--;
	b->allocations[o] = idx;
	b->seq_for_alloc[o] = b->sequence;
	b->sequence++;
	return 0;
}

/* Free ordinal @o (allocated): it goes to the back of the free list, as in Calico. */
static void release_ordinal(struct ipam_block *b, uint32_t o)
{
	b->allocations[o] = -1;
	b->seq_for_alloc[o] = 0;
	b->unallocated[b->n_unallocated++] = o;
}

int ipam_block_release_addr(struct ipam_block *b, const struct ip_addr *a, int64_t sequence)
{
	int64_t o = ordinal_of(b, a);

	if (o < 0)
		return -EINVAL;
	if (b->allocations[o] < 0)
		return -ENOENT;
	if (sequence >= 0 && b->seq_for_alloc[o] != (uint64_t)sequence) {
		log_debug("ipam block: release of ordinal %" PRId64 " with sequence %" PRId64
			  " refused, it was assigned at %" PRIu64,
			  o, sequence, b->seq_for_alloc[o]);
		return -ESTALE;
	}
	release_ordinal(b, (uint32_t)o);
	attrs_gc(b);
	return 0;
}

int ipam_block_release_handle(struct ipam_block *b, const char *handle)
{
	int freed = 0;

	if (!handle)
		return 0;
	for (uint32_t o = 0; o < b->n; o++) {
		int32_t idx = b->allocations[o];

		if (idx >= 0 && handle_equal(b->attrs[idx].handle_id, handle)) {
			release_ordinal(b, o);
			freed++;
		}
	}
	if (freed)
		attrs_gc(b);
	return freed;
}

unsigned ipam_block_addrs_by_handle(const struct ipam_block *b, const char *handle,
				    struct ip_addr *ret, unsigned max)
{
	unsigned count = 0;

	if (!handle)
		return 0;
	for (uint32_t o = 0; o < b->n; o++) {
		int32_t idx = b->allocations[o];

		if (idx < 0 || !handle_equal(b->attrs[idx].handle_id, handle))
			continue;
		if (ret && count < max)
			ret[count] = ordinal_addr(b, o);
		count++;
	}
	return count;
}

const struct ipam_attr *ipam_block_lookup(const struct ipam_block *b, const struct ip_addr *a)
{
	int64_t o = ordinal_of(b, a);

	if (o < 0 || b->allocations[o] < 0)
		return NULL;
	return &b->attrs[b->allocations[o]];
}

int64_t ipam_block_sequence_of(const struct ipam_block *b, const struct ip_addr *a)
{
	int64_t o = ordinal_of(b, a);

	if (o < 0 || b->allocations[o] < 0)
		return -1;
	return (int64_t)b->seq_for_alloc[o];
}

unsigned ipam_block_free_count(const struct ipam_block *b)
{
	return b->n_unallocated;
}

unsigned ipam_block_in_use(const struct ipam_block *b)
{
	return b->n - b->n_unallocated;
}

bool ipam_block_is_affine_to(const struct ipam_block *b, const char *node)
{
	return b->affinity && node && strncmp(b->affinity, "host:", 5) == 0 &&
	       strcmp(b->affinity + 5, node) == 0;
}

/* ---- JSON ---------------------------------------------------------------------------------- */

static void json_putp(struct json_object **p)
{
	if (*p)
		json_object_put(*p);
}
#define _cleanup_json_ _cleanup_(json_putp)

/* json_object_object_add() takes the value's reference even when it fails. */
static int obj_add(struct json_object *o, const char *key, struct json_object *v)
{
	if (!v)
		return -ENOMEM;
	if (json_object_object_add(o, key, v) < 0)
		return -ENOMEM;
	return 0;
}

static int arr_add(struct json_object *a, struct json_object *v)
{
	if (json_object_array_add(a, v) < 0) {
		json_object_put(v);
		return -ENOMEM;
	}
	return 0;
}

static struct json_object *string_or_null(const char *s)
{
	return s ? json_object_new_string(s) : NULL;
}

/* Adds "key": string or null; a NULL string is an explicit JSON null, not a failure. */
static int obj_add_nullable(struct json_object *o, const char *key, const char *s)
{
	struct json_object *v = string_or_null(s);

	if (s && !v)
		return -ENOMEM;
	return json_object_object_add(o, key, v) < 0 ? -ENOMEM : 0;
}

static int encode_attr(const struct ipam_attr *a, struct json_object *arr)
{
	_cleanup_json_ struct json_object *o = json_object_new_object();
	_cleanup_json_ struct json_object *sec = json_object_new_object();
	int r;

	if (!o || !sec)
		return -ENOMEM;
	r = obj_add_nullable(o, "handle_id", a->handle_id);
	if (r < 0)
		return r;
	for (size_t i = 0; i < a->secondary.n; i++) {
		r = obj_add(sec, a->secondary.items[i].key,
			    json_object_new_string(a->secondary.items[i].value));
		if (r < 0)
			return r;
	}
	r = obj_add(o, "secondary", TAKE_PTR(sec));
	if (r < 0)
		return r;
	return arr_add(arr, TAKE_PTR(o));
}

static int encode_block(const struct ipam_block *b, struct json_object **ret)
{
	_cleanup_json_ struct json_object *o = json_object_new_object();
	_cleanup_json_ struct json_object *allocs = json_object_new_array();
	_cleanup_json_ struct json_object *unalloc = json_object_new_array();
	_cleanup_json_ struct json_object *attrs = json_object_new_array();
	_cleanup_json_ struct json_object *seqs = json_object_new_object();
	char cidr[IP_PREFIX_STRLEN];
	int r;

	if (!o || !allocs || !unalloc || !attrs || !seqs)
		return -ENOMEM;
	r = obj_add(o, "cidr", json_object_new_string(ip_prefix_format(&b->cidr, cidr)));
	if (r >= 0)
		r = obj_add_nullable(o, "affinity", b->affinity);
	if (r >= 0)
		r = obj_add(o, "strictAffinity", json_object_new_boolean(b->strict_affinity));
	if (r < 0)
		return r;
	for (uint32_t i = 0; i < b->n; i++) {
		struct json_object *v = NULL;

		if (b->allocations[i] >= 0) {
			v = json_object_new_int(b->allocations[i]);
			if (!v)
				return -ENOMEM;
		}
		r = arr_add(allocs, v);
		if (r < 0)
			return r;
	}
	for (uint32_t i = 0; i < b->n_unallocated; i++) {
		struct json_object *v = json_object_new_int((int32_t)b->unallocated[i]);

		if (!v)
			return -ENOMEM;
		r = arr_add(unalloc, v);
		if (r < 0)
			return r;
	}
	for (size_t i = 0; i < b->n_attrs; i++) {
		r = encode_attr(&b->attrs[i], attrs);
		if (r < 0)
			return r;
	}
	for (uint32_t i = 0; i < b->n; i++) {
		char key[16];

		if (b->allocations[i] < 0)
			continue;
		snprintf(key, sizeof(key), "%" PRIu32, i);
		r = obj_add(seqs, key, json_object_new_uint64(b->seq_for_alloc[i]));
		if (r < 0)
			return r;
	}
	r = obj_add(o, "allocations", TAKE_PTR(allocs));
	if (r >= 0)
		r = obj_add(o, "unallocated", TAKE_PTR(unalloc));
	if (r >= 0)
		r = obj_add(o, "attributes", TAKE_PTR(attrs));
	if (r >= 0)
		r = obj_add(o, "deleted", json_object_new_boolean(b->deleted));
	if (r >= 0)
		r = obj_add(o, "sequenceNumber", json_object_new_uint64(b->sequence));
	if (r >= 0)
		r = obj_add(o, "sequenceNumberForAllocation", TAKE_PTR(seqs));
	if (r < 0)
		return r;
	*ret = TAKE_PTR(o);
	return 0;
}

int ipam_block_encode_json(const struct ipam_block *b, struct strbuf *out)
{
	_cleanup_json_ struct json_object *o = NULL;
	const char *s;
	int r;

	r = encode_block(b, &o);
	if (r < 0)
		return r;
	s = json_object_to_json_string_ext(o,
					   JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	if (!s)
		return -ENOMEM;
	return strbuf_puts(out, s);
}

static bool json_is(struct json_object *v, enum json_type t)
{
	return v && json_object_get_type(v) == t;
}

/* A non-negative JSON integer. */
static bool get_u64(struct json_object *v, uint64_t *ret)
{
	if (!json_is(v, json_type_int) || json_object_get_int64(v) < 0)
		return false;
	*ret = json_object_get_uint64(v);
	return true;
}

static int decode_attr(struct json_object *v, size_t i, struct ipam_attr *ret,
		       struct parse_err *err)
{
	struct ipam_attr a = {0};
	char field[64];
	int r = 0;

	snprintf(field, sizeof(field), "attributes[%zu]", i);
	if (!json_is(v, json_type_object))
		return parse_err_set(err, NULL, 0, 0, field, "expected an object");
	json_object_object_foreach(v, key, val)
	{
		if (strcmp(key, "handle_id") == 0) {
			if (!val)
				continue;
			if (!json_is(val, json_type_string)) {
				snprintf(field, sizeof(field), "attributes[%zu].handle_id", i);
				r = parse_err_set(err, NULL, 0, 0, field, "expected a string");
				break;
			}
			free(a.handle_id);
			a.handle_id = strdup(json_object_get_string(val));
			if (!a.handle_id) {
				r = -ENOMEM;
				break;
			}
		} else if (strcmp(key, "secondary") == 0) {
			if (!val)
				continue;
			if (!json_is(val, json_type_object)) {
				snprintf(field, sizeof(field), "attributes[%zu].secondary", i);
				r = parse_err_set(err, NULL, 0, 0, field, "expected an object");
				break;
			}
			json_object_object_foreach(val, k2, v2)
			{
				if (!json_is(v2, json_type_string)) {
					snprintf(field, sizeof(field),
						 "attributes[%zu].secondary.%s", i, k2);
					r = parse_err_set(err, NULL, 0, 0, field,
							  "expected a string");
					break;
				}
				r = model_labels_set(&a.secondary, k2, json_object_get_string(v2));
				if (r == -E2BIG) {
					snprintf(field, sizeof(field), "attributes[%zu].secondary",
						 i);
					r = parse_err_set(err, NULL, 0, 0, field,
							  "more than %d entries", MODEL_MAX_LABELS);
				}
				if (r < 0)
					break;
			}
			if (r < 0)
				break;
		} else {
			snprintf(field, sizeof(field), "attributes[%zu].%s", i, key);
			r = parse_err_set(err, NULL, 0, 0, field, "unknown field");
			break;
		}
	}
	if (r < 0) {
		attr_done(&a);
		return r;
	}
	*ret = a;
	return 0;
}

static const char *const block_fields[] = {
    "cidr",	   "affinity",	     "strictAffinity",
    "allocations", "unallocated",    "attributes",
    "deleted",	   "sequenceNumber", "sequenceNumberForAllocation",
};

static int decode_block(struct json_object *root, struct ipam_block *b, struct parse_err *err)
{
	struct json_object *v;
	char field[64];
	int r;

	if (!json_is(root, json_type_object))
		return parse_err_set(err, NULL, 0, 0, NULL, "a block must be a JSON object");
	json_object_object_foreach(root, key, val)
	{
		bool known = false;

		(void)val;
		for (size_t i = 0; i < ELEMENTSOF(block_fields); i++)
			known = known || strcmp(key, block_fields[i]) == 0;
		if (!known)
			return parse_err_set(err, NULL, 0, 0, key, "unknown field");
	}

	/* cidr first: it fixes the size of everything else. */
	{
		struct ip_prefix p;

		if (!json_object_object_get_ex(root, "cidr", &v) || !json_is(v, json_type_string))
			return parse_err_set(err, NULL, 0, 0, "cidr", "required string");
		if (ip_prefix_parse(json_object_get_string(v), true, &p) < 0)
			return parse_err_set(err, NULL, 0, 0, "cidr", "invalid CIDR \"%s\"",
					     json_object_get_string(v));
		v = NULL;
		json_object_object_get_ex(root, "affinity", &v);
		if (v && !json_is(v, json_type_string))
			return parse_err_set(err, NULL, 0, 0, "affinity", "expected a string");
		r = ipam_block_init(b, p, v ? json_object_get_string(v) : NULL);
		if (r == -EINVAL)
			return parse_err_set(
			    err, NULL, 0, 0, "cidr", "block \"%s\" larger than %d addresses",
			    json_object_get_string(json_object_object_get(root, "cidr")),
			    IPAM_BLOCK_MAX_ADDRS);
		if (r < 0)
			return r;
	}

	v = NULL;
	json_object_object_get_ex(root, "strictAffinity", &v);
	if (v && !json_is(v, json_type_boolean))
		return parse_err_set(err, NULL, 0, 0, "strictAffinity", "expected a boolean");
	b->strict_affinity = v && json_object_get_boolean(v);
	v = NULL;
	json_object_object_get_ex(root, "deleted", &v);
	if (v && !json_is(v, json_type_boolean))
		return parse_err_set(err, NULL, 0, 0, "deleted", "expected a boolean");
	b->deleted = v && json_object_get_boolean(v);

	/* attributes before allocations, which index into them */
	v = NULL;
	json_object_object_get_ex(root, "attributes", &v);
	if (v) {
		size_t n;

		if (!json_is(v, json_type_array))
			return parse_err_set(err, NULL, 0, 0, "attributes", "expected an array");
		n = json_object_array_length(v);
		if (n > IPAM_BLOCK_MAX_ADDRS)
			return parse_err_set(err, NULL, 0, 0, "attributes", "more than %d entries",
					     IPAM_BLOCK_MAX_ADDRS);
		if (n) {
			b->attrs = calloc(n, sizeof(*b->attrs));
			if (!b->attrs)
				return -ENOMEM;
		}
		for (size_t i = 0; i < n; i++) {
			r = decode_attr(json_object_array_get_idx(v, i), i, &b->attrs[i], err);
			if (r < 0)
				return r;
			b->n_attrs++;
		}
	}

	if (!json_object_object_get_ex(root, "allocations", &v) || !json_is(v, json_type_array))
		return parse_err_set(err, NULL, 0, 0, "allocations", "required array");
	if (json_object_array_length(v) != b->n)
		return parse_err_set(err, NULL, 0, 0, "allocations",
				     "%zu entries for a block of %" PRIu32 " addresses",
				     json_object_array_length(v), b->n);
	for (uint32_t i = 0; i < b->n; i++) {
		struct json_object *e = json_object_array_get_idx(v, i);
		int64_t idx;

		if (!e)
			continue;
		idx = json_is(e, json_type_int) ? json_object_get_int64(e) : -1;
		if (idx < 0 || (uint64_t)idx >= b->n_attrs) {
			snprintf(field, sizeof(field), "allocations[%" PRIu32 "]", i);
			return parse_err_set(err, NULL, 0, 0, field,
					     "attribute index %s out of range (%zu attributes)",
					     json_object_to_json_string(e), b->n_attrs);
		}
		b->allocations[i] = (int32_t)idx;
	}

	if (!json_object_object_get_ex(root, "unallocated", &v) || !json_is(v, json_type_array))
		return parse_err_set(err, NULL, 0, 0, "unallocated", "required array");
	{
		/* Every free ordinal exactly once, nothing else. seq_for_alloc doubles as the
		 * "seen" mark here; it is reset below. */
		size_t n = json_object_array_length(v), free_slots = 0;

		for (uint32_t i = 0; i < b->n; i++)
			free_slots += b->allocations[i] < 0;
		if (n != free_slots)
			return parse_err_set(err, NULL, 0, 0, "unallocated",
					     "%zu entries but %zu addresses are free", n,
					     free_slots);
		for (size_t i = 0; i < n; i++) {
			struct json_object *e = json_object_array_get_idx(v, i);
			int64_t o = json_is(e, json_type_int) ? json_object_get_int64(e) : -1;

			snprintf(field, sizeof(field), "unallocated[%zu]", i);
			if (o < 0 || o >= (int64_t)b->n)
				return parse_err_set(err, NULL, 0, 0, field,
						     "ordinal out of range 0..%" PRIu32, b->n - 1);
			if (b->allocations[o] >= 0)
				return parse_err_set(err, NULL, 0, 0, field,
						     "ordinal %" PRId64 " is allocated", o);
			if (b->seq_for_alloc[o])
				return parse_err_set(err, NULL, 0, 0, field,
						     "ordinal %" PRId64 " listed twice", o);
			b->seq_for_alloc[o] = 1;
			b->unallocated[i] = (uint32_t)o;
		}
		b->n_unallocated = (uint32_t)n;
		memset(b->seq_for_alloc, 0, sizeof(*b->seq_for_alloc) * b->n);
	}

	v = NULL;
	json_object_object_get_ex(root, "sequenceNumber", &v);
	if (v && !get_u64(v, &b->sequence))
		return parse_err_set(err, NULL, 0, 0, "sequenceNumber",
				     "expected a non-negative integer");

	v = NULL;
	json_object_object_get_ex(root, "sequenceNumberForAllocation", &v);
	if (v) {
		if (!json_is(v, json_type_object))
			return parse_err_set(err, NULL, 0, 0, "sequenceNumberForAllocation",
					     "expected an object");
		json_object_object_foreach(v, skey, sval)
		{
			char *end;
			unsigned long o;
			uint64_t seq;

			snprintf(field, sizeof(field), "sequenceNumberForAllocation.%.32s", skey);
			errno = 0;
			o = strtoul(skey, &end, 10);
			if (skey[0] < '0' || skey[0] > '9' || *end || errno || o >= b->n)
				return parse_err_set(err, NULL, 0, 0, field,
						     "key is not an ordinal of the block");
			if (!get_u64(sval, &seq))
				return parse_err_set(err, NULL, 0, 0, field,
						     "expected a non-negative integer");
			/* Entries for free ordinals are stale leftovers: they carry nothing. */
			if (b->allocations[o] >= 0)
				b->seq_for_alloc[o] = seq;
		}
	}
	return 0;
}

int ipam_block_decode_json(const char *buf, size_t len, struct ipam_block *ret,
			   struct parse_err *err)
{
	struct json_tokener *tok;
	struct json_object *root;
	struct ipam_block b = {0};
	enum json_tokener_error jerr;
	size_t end;
	int r;

	if (len > INT32_MAX)
		return parse_err_set(err, NULL, 0, 0, NULL, "block JSON too large");
	tok = json_tokener_new();
	if (!tok)
		return -ENOMEM;
	root = json_tokener_parse_ex(tok, buf, (int)len);
	jerr = json_tokener_get_error(tok);
	end = json_tokener_get_parse_end(tok);
	json_tokener_free(tok);
	if (!root || jerr != json_tokener_success) {
		json_object_put(root);
		return parse_err_set(err, NULL, 0, 0, NULL, "invalid JSON: %s",
				     jerr == json_tokener_continue ? "unexpected end of input"
								   : json_tokener_error_desc(jerr));
	}
	for (; end < len; end++) {
		if (!strchr(" \t\r\n", buf[end]) || buf[end] == '\0') {
			json_object_put(root);
			return parse_err_set(err, NULL, 0, 0, NULL,
					     "invalid JSON: trailing data after the block");
		}
	}
	r = decode_block(root, &b, err);
	json_object_put(root);
	if (r < 0) {
		ipam_block_done(&b);
		return r;
	}
	*ret = b;
	return 0;
}

/* ---- names and pool math ------------------------------------------------------------------- */

char *ipam_block_name(const struct ip_prefix *cidr, char buf[static IPAM_BLOCK_NAME_MAX])
{
	char a[IP_ADDR_STRLEN];

	snprintf(buf, IPAM_BLOCK_NAME_MAX, "%s-%u", ip_addr_format(&cidr->addr, a), cidr->len);
	return buf;
}

int ipam_block_name_parse(const char *name, struct ip_prefix *ret)
{
	char addr[IP_ADDR_STRLEN], canon[IPAM_BLOCK_NAME_MAX];
	const char *dash;
	struct ip_prefix p = {0};
	unsigned long len;
	char *end;

	if (!name)
		return -EINVAL;
	dash = strrchr(name, '-');
	if (!dash || (size_t)(dash - name) >= sizeof(addr) || dash[1] < '0' || dash[1] > '9')
		return -EINVAL;
	memcpy(addr, name, dash - name);
	addr[dash - name] = '\0';
	if (ip_addr_parse(addr, &p.addr) < 0)
		return -EINVAL;
	errno = 0;
	len = strtoul(dash + 1, &end, 10);
	if (errno || *end || len > ip_addr_bits(p.addr.family))
		return -EINVAL;
	p.len = (uint8_t)len;
	/* Keys are canonical: masked, RFC 5952 text, no leading zeros in the length. */
	if (!ip_prefix_is_masked(&p) || strcmp(ipam_block_name(&p, canon), name) != 0)
		return -EINVAL;
	*ret = p;
	return 0;
}

uint32_t ipam_pool_block_count(const struct ip_prefix *pool, uint8_t block_size)
{
	unsigned bits = ip_addr_bits(pool->addr.family);

	if (!bits || block_size > bits || block_size < pool->len)
		return 0;
	if (block_size - pool->len >= 31)
		return UINT32_C(1) << 31;
	return UINT32_C(1) << (block_size - pool->len);
}

int ipam_pool_block_at(const struct ip_prefix *pool, uint8_t block_size, uint32_t index,
		       struct ip_prefix *ret)
{
	struct ip_prefix p;
	unsigned bits = ip_addr_bits(pool->addr.family), shift, pos;
	uint64_t carry;

	if (index >= ipam_pool_block_count(pool, block_size))
		return -ERANGE;
	p = ip_prefix_mask(*pool);
	p.len = block_size;
	/* Add index << (bits - block_size) as a big-endian number, byte by byte. The sum stays
	 * inside the pool because index < 2^(block_size - pool len). */
	shift = bits - block_size;
	pos = bits / 8 - 1 - shift / 8;
	carry = (uint64_t)index << (shift % 8);
	for (int i = (int)pos; i >= 0 && carry; i--) {
		carry += p.addr.bytes[i];
		p.addr.bytes[i] = (uint8_t)carry;
		carry >>= 8;
	}
	*ret = p;
	return 0;
}

int ipam_pool_block_index(const struct ip_prefix *pool, uint8_t block_size, const struct ip_addr *a,
			  uint32_t *ret)
{
	unsigned bits = ip_addr_bits(pool->addr.family);
	uint32_t idx = 0;

	if (!bits || !a || block_size > bits || block_size < pool->len ||
	    !ip_prefix_contains_addr(pool, a))
		return -EINVAL;
	/* bit b of the address, counted from the most significant one */
	for (unsigned b = pool->len; b < block_size; b++) {
		if (idx >= UINT32_C(1) << 30)
			return -ERANGE; /* one more bit makes it 2^31 or more */
		idx = idx << 1 | ((a->bytes[b / 8] >> (7 - b % 8)) & 1u);
	}
	*ret = idx;
	return 0;
}

struct ip_addr ipam_prefix_last(const struct ip_prefix *p)
{
	struct ip_addr a = ip_prefix_mask(*p).addr;
	unsigned bits = ip_addr_bits(a.family);

	for (unsigned b = p->len; b < bits; b++)
		a.bytes[b / 8] |= (uint8_t)(0x80u >> (b % 8));
	return a;
}

uint32_t ipam_backoff_us(unsigned attempt, uint32_t rnd)
{
	uint32_t window = IPAM_BACKOFF_MAX_US;

	/* 500 us << 7 = 64 ms: from there on the window is the cap (and no shift overflows) */
	if (attempt < 7)
		window = MIN(IPAM_BACKOFF_BASE_US << attempt, IPAM_BACKOFF_MAX_US);
	return window / 2 + rnd % (window / 2 + 1);
}

struct ip_addr ipam_block_addr_at(const struct ipam_block *b, uint32_t ordinal)
{
	return ordinal_addr(b, ordinal);
}
