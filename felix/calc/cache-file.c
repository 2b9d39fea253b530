/* SPDX-License-Identifier: Apache-2.0 */
/*
 * DOC: the cache as a file, for a warm restart
 *
 * felix's start at 100,000 endpoints is mostly the decoding of every value of the snapshot
 * (bench/README.md "Cold start"). At exit felix saves what its cache holds, with each key's etcd
 * mod_revision; at start it loads that, and the watch's snapshot lists keys only and reads just
 * the values whose mod_revision differs (datastore.h, "warm snapshot"). Nothing loaded is used
 * unless the snapshot lists its key at the same mod_revision: the file can only save work,
 * never stand in for the datastore.
 *
 * The bytes, all integers little-endian, strings as a u16 length and the bytes (no NUL; the
 * length 0xffff is an absent string):
 *
 *   "TBYCACHE" u32 format (CACHE_FILE_FORMAT) u32 0, str version (TABBY_VERSION), i64
 *   revision, str node, u32 records
 *   records, in key order: u8 type, str key, i64 mod_revision, then by type
 *     CF_JSON   u32 length, the value as model_encode_json() writes it (what tabbyctl and the
 *               CNI plugin store), decoded again on load by calc_cache_decode()
 *     CF_BLOCK  u32 length, the block as ipam_block_encode_json() writes it
 *     CF_WEP    a remote WorkloadEndpoint as the cache keeps it (remote_wep_trim()): str
 *               orchestrator, str node, str serviceAccountName, u16 labels (str key, str
 *               value)..., u8 ipNetworks (u8 family 4|6, u8 prefix length, 16 address bytes)...,
 *               u8 profiles (str)..., u8 ports (str name, u8 protocol, u16 port)...
 *   u64 cache_file_sum() of every byte before it (FNV-1a's step over 8-byte words)
 *
 * Secrets are never written (the snapshot reads them again), nor is an entry without a
 * mod_revision. Loading checks the checksum, every length and count, that no string holds a
 * control byte, and a remote endpoint's name, node, service account, labels, addresses and
 * ports as the JSON decoder does (JSON records go through the decoder itself), so a damaged or
 * foreign file is refused with the record, byte offset and field named, and the caller starts
 * with an empty cache.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "felix/calc/calc-internal.h"
#include "ipam/block.h"

#define CACHE_FILE_MAGIC "TBYCACHE"
/* Raise it when a record's layout or what a remote endpoint keeps (remote_wep_trim()) changes.
 * A file of another tabby version is refused too: an upgrade starts cold, and a decoder that
 * changed meanwhile reads every value again. */
#define CACHE_FILE_FORMAT 1u
#define CF_NO_STR 0xffffu

enum { CF_JSON = 1, CF_BLOCK = 2, CF_WEP = 3 };

/* ---- writing ---- */

struct cf_out {
	struct strbuf *sb;
	int r;
};

static void put_bytes(struct cf_out *o, const void *p, size_t n)
{
	if (o->r >= 0 && n)
		o->r = strbuf_append(o->sb, p, n);
}

static void put_uint(struct cf_out *o, uint64_t v, size_t bytes)
{
	uint8_t b[8];

	for (size_t i = 0; i < bytes; i++)
		b[i] = (uint8_t)(v >> (8 * i));
	put_bytes(o, b, bytes);
}

static void put_str(struct cf_out *o, const char *s)
{
	size_t n = s ? strlen(s) : 0;

	if (!s) {
		put_uint(o, CF_NO_STR, 2);
		return;
	}
	if (n >= CF_NO_STR) {
		o->r = o->r < 0 ? o->r : -E2BIG;
		return;
	}
	put_uint(o, n, 2);
	put_bytes(o, s, n);
}

static void put_blob(struct cf_out *o, const struct strbuf *v)
{
	put_uint(o, v->len, 4);
	put_bytes(o, v->buf, v->len);
}

static void put_wep(struct cf_out *o, const struct model_resource *res)
{
	const struct model_workload_endpoint *w = &res->wep;

	put_str(o, w->orchestrator);
	put_str(o, w->node);
	put_str(o, w->service_account_name);
	put_uint(o, res->meta.labels.n, 2);
	for (size_t i = 0; i < res->meta.labels.n; i++) {
		put_str(o, res->meta.labels.items[i].key);
		put_str(o, res->meta.labels.items[i].value);
	}
	put_uint(o, w->n_ip_networks, 1);
	for (size_t i = 0; i < w->n_ip_networks; i++) {
		const struct ip_prefix *p = &w->ip_networks[i];

		put_uint(o, p->addr.family == AF_INET6 ? 6 : 4, 1);
		put_uint(o, p->len, 1);
		put_bytes(o, p->addr.bytes, sizeof(p->addr.bytes));
	}
	put_uint(o, w->n_profiles, 1);
	for (size_t i = 0; i < w->n_profiles; i++)
		put_str(o, w->profiles[i]);
	put_uint(o, w->n_ports, 1);
	for (size_t i = 0; i < w->n_ports; i++) {
		put_str(o, w->ports[i].name);
		put_uint(o, w->ports[i].protocol.number, 1);
		put_uint(o, w->ports[i].port, 2);
	}
}

/* The full datastore key of @e into @buf (a packed entry keeps only the name). */
static const char *entry_full_key(const struct entry *e, char *buf, size_t size)
{
	if (!e->packed)
		return e->key;
	int n = snprintf(buf, size, MODEL_WEP_KEY_PREFIX "%s/%s", e->res->meta.namespace, e->key);
	return n > 0 && (size_t)n < size ? buf : NULL;
}

uint64_t cache_file_sum(const void *p, size_t n)
{
	const uint8_t *b = p;
	uint64_t h = 0xcbf29ce484222325ull;
	size_t i = 0;

	/* FNV-1a's step over 8-byte little-endian words, then the bytes left: 8 times fewer
	 * dependent multiplies than FNV-1a proper (~2 ms for a 15 MB file). */
	for (; i + 8 <= n; i += 8) {
		uint64_t w = 0;

		for (size_t k = 0; k < 8; k++)
			w |= (uint64_t)b[i + k] << (8 * k);
		h ^= w;
		h *= 0x100000001b3ull;
		h ^= h >> 29;
	}
	for (; i < n; i++) {
		h ^= b[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

int calc_cache_save(const struct calc_cache *c, int64_t revision, struct strbuf *out,
		    size_t *ret_records)
{
	struct cf_out o = {.sb = out};
	_cleanup_(strbuf_donep) struct strbuf v = {0};
	char keybuf[1024];
	size_t start = out->len, n_at, n = 0;
	struct cache_it it = {0};

	if (!c->local_node || revision <= 0)
		return -EINVAL;
	put_bytes(&o, CACHE_FILE_MAGIC, 8);
	put_uint(&o, CACHE_FILE_FORMAT, 4);
	put_uint(&o, 0, 4);
	put_str(&o, TABBY_VERSION);
	put_uint(&o, (uint64_t)revision, 8);
	put_str(&o, c->local_node);
	n_at = out->len;
	put_uint(&o, 0, 4); /* the record count, filled in below */
	for (const struct entry *e; o.r >= 0 && (e = cache_it_next(c, &it));) {
		const char *key = entry_full_key(e, keybuf, sizeof(keybuf));
		uint8_t type;

		if (!key || e->mod_revision <= 0 || e->kind == ENTRY_SECRET)
			continue;
		strbuf_reset(&v);
		if (e->kind == ENTRY_BLOCK && e->block) {
			type = CF_BLOCK;
			o.r = ipam_block_encode_json(e->block, &v);
		} else if (e->trimmed && e->res) {
			type = CF_WEP;
		} else if (e->res) {
			type = CF_JSON;
			o.r = model_encode_json(e->res, &v);
		} else {
			continue;
		}
		if (o.r < 0)
			break;
		put_uint(&o, type, 1);
		put_str(&o, key);
		put_uint(&o, (uint64_t)e->mod_revision, 8);
		if (type == CF_WEP)
			put_wep(&o, e->res);
		else
			put_blob(&o, &v);
		n++;
	}
	if (o.r >= 0 && n > UINT32_MAX)
		o.r = -E2BIG;
	if (o.r < 0) {
		out->len = start;
		return o.r;
	}
	for (size_t i = 0; i < 4; i++)
		out->buf[n_at + i] = (char)(uint8_t)(n >> (8 * i));
	put_uint(&o, cache_file_sum(out->buf + start, out->len - start), 8);
	if (o.r < 0) {
		out->len = start;
		return o.r;
	}
	if (ret_records)
		*ret_records = n;
	return 0;
}

/* ---- reading ---- */

struct cf_in {
	const uint8_t *p, *end;
	const char *file;
	size_t record; /* 1-based while reading records, 0 in the header */
	struct parse_err *err;
};

/* -EINVAL with @what (a field) and the record and byte offset where it went wrong. */
static int cf_bad(struct cf_in *in, const uint8_t *base, const char *what, const char *msg)
{
	char field[128];

	if (in->record)
		snprintf(field, sizeof(field), "record %zu (byte %zu): %s", in->record,
			 (size_t)(in->p - base), what);
	else
		snprintf(field, sizeof(field), "header (byte %zu): %s", (size_t)(in->p - base),
			 what);
	return parse_err_set(in->err, in->file, 0, 0, field, "%s", msg);
}

static bool get_uint(struct cf_in *in, size_t bytes, uint64_t *ret)
{
	uint64_t v = 0;

	if ((size_t)(in->end - in->p) < bytes)
		return false;
	for (size_t i = 0; i < bytes; i++)
		v |= (uint64_t)in->p[i] << (8 * i);
	in->p += bytes;
	*ret = v;
	return true;
}

/* A string: *@ret NULL when absent (only with @optional), else a copy with a NUL. */
static int get_str(struct cf_in *in, bool optional, char **ret)
{
	uint64_t n;

	*ret = NULL;
	if (!get_uint(in, 2, &n))
		return -EINVAL;
	if (n == CF_NO_STR)
		return optional ? 0 : -EINVAL;
	if ((size_t)(in->end - in->p) < n)
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		if (in->p[i] < 0x20 || in->p[i] == 0x7f)
			return -EINVAL; /* no NUL nor control byte: every string is printed or a name */
	*ret = malloc(n + 1);
	if (!*ret)
		return -ENOMEM;
	memcpy(*ret, in->p, n);
	(*ret)[n] = '\0';
	in->p += n;
	return 0;
}

/* A remote WorkloadEndpoint record's fields into @res (kind, name and namespace are set). */
static int get_wep(struct cf_in *in, const uint8_t *base, struct model_resource *res)
{
	struct model_workload_endpoint *w = &res->wep;
	uint64_t n;
	int r;

#define WANT(cond, what, msg)                               \
	do {                                                \
		if (!(cond))                                \
			return cf_bad(in, base, what, msg); \
	} while (0)
#define STR(dst, optional, what)                                                         \
	do {                                                                             \
		r = get_str(in, optional, dst);                                          \
		if (r == -ENOMEM)                                                        \
			return r;                                                        \
		WANT(r >= 0 && (optional || (*(dst))[0]), what, "missing or truncated"); \
	} while (0)

	WANT(model_name_is_valid(res->meta.name), "metadata.name", "not an RFC 1123 subdomain");
	STR(&w->orchestrator, false, "spec.orchestrator");
	STR(&w->node, false, "spec.node");
	WANT(model_name_is_valid(w->node), "spec.node", "not an RFC 1123 subdomain");
	STR(&w->service_account_name, true, "spec.serviceAccountName");
	WANT(!w->service_account_name || model_name_is_valid(w->service_account_name),
	     "spec.serviceAccountName", "not an RFC 1123 subdomain");
	WANT(get_uint(in, 2, &n) && n <= MODEL_MAX_LABELS, "metadata.labels", "bad count");
	if (n) {
		res->meta.labels.items = calloc(n, sizeof(struct model_label));
		if (!res->meta.labels.items)
			return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		struct model_label *l = &res->meta.labels.items[i];

		res->meta.labels.n = i + 1; /* counted first: freed with the resource */
		STR(&l->key, false, "metadata.labels");
		r = get_str(in, false, &l->value); /* may be empty */
		if (r == -ENOMEM)
			return r;
		WANT(r >= 0, "metadata.labels", "missing or truncated");
		WANT(model_label_key_is_valid(l->key) && model_label_value_is_valid(l->value),
		     "metadata.labels", "not a valid label");
		WANT(i == 0 || strcmp(l[-1].key, l->key) < 0, "metadata.labels",
		     "labels not sorted by key or a key twice");
	}
	WANT(get_uint(in, 1, &n) && n <= MODEL_MAX_IP_NETWORKS, "spec.ipNetworks", "bad count");
	if (n) {
		w->ip_networks = calloc(n, sizeof(struct ip_prefix));
		if (!w->ip_networks)
			return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		struct ip_prefix *p = &w->ip_networks[i];
		uint64_t fam, len;

		WANT(get_uint(in, 1, &fam) && get_uint(in, 1, &len) &&
			 (size_t)(in->end - in->p) >= sizeof(p->addr.bytes),
		     "spec.ipNetworks", "truncated");
		WANT(fam == 4 || fam == 6, "spec.ipNetworks", "bad address family");
		p->addr.family = fam == 4 ? AF_INET : AF_INET6;
		memcpy(p->addr.bytes, in->p, sizeof(p->addr.bytes));
		in->p += sizeof(p->addr.bytes);
		p->len = (uint8_t)len;
		w->n_ip_networks = i + 1;
		WANT(len == ip_addr_bits(p->addr.family) && ip_prefix_is_masked(p),
		     "spec.ipNetworks", "not a host prefix");
	}
	WANT(get_uint(in, 1, &n) && n <= MODEL_MAX_PROFILES, "spec.profiles", "bad count");
	if (n) {
		w->profiles = calloc(n + 1, sizeof(char *));
		if (!w->profiles)
			return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		w->n_profiles = i + 1;
		STR(&w->profiles[i], false, "spec.profiles");
	}
	WANT(get_uint(in, 1, &n) && n <= MODEL_MAX_NAMED_PORTS, "spec.ports", "bad count");
	if (n) {
		w->ports = calloc(n, sizeof(struct model_named_port));
		if (!w->ports)
			return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		struct model_named_port *np = &w->ports[i];
		uint64_t proto, port;

		w->n_ports = i + 1;
		STR(&np->name, false, "spec.ports");
		WANT(model_port_name_is_valid(np->name), "spec.ports", "not a valid port name");
		WANT(get_uint(in, 1, &proto) && get_uint(in, 2, &port), "spec.ports", "truncated");
		WANT((proto == 6 || proto == 17 || proto == 132) && port > 0, "spec.ports",
		     "bad protocol or port");
		np->protocol = (struct model_protocol){.set = true, .number = (uint8_t)proto};
		np->port = (uint16_t)port;
	}
	return 0;
#undef STR
#undef WANT
}

/* One record into @c. */
static int get_record(struct cf_in *in, const uint8_t *base, struct calc_cache *c)
{
	_cleanup_free_ char *key = NULL;
	struct calc_decoded d = {0};
	struct parse_err perr = {0};
	uint64_t type, rev, len;
	const char *ns, *name;
	size_t ns_len;
	int kind, r;

	if (!get_uint(in, 1, &type) || type < CF_JSON || type > CF_WEP)
		return cf_bad(in, base, "type", "unknown record type");
	r = get_str(in, false, &key);
	if (r == -ENOMEM)
		return r;
	if (r < 0)
		return cf_bad(in, base, "key", "missing or truncated");
	kind = cache_key_classify(key, &ns, &ns_len, &name);
	if (kind < 0 || kind == ENTRY_SECRET || (type == CF_BLOCK) != (kind == ENTRY_BLOCK) ||
	    (type == CF_WEP && kind != ENTRY_WEP))
		return cf_bad(in, base, "key", "not a key of this record type");
	if (!get_uint(in, 8, &rev) || (int64_t)rev <= 0)
		return cf_bad(in, base, "mod_revision", "missing or not positive");
	if (type == CF_WEP) {
		struct model_resource *res = calloc(1, sizeof(*res));

		if (!res)
			return -ENOMEM;
		res->kind = MODEL_KIND_WORKLOAD_ENDPOINT;
		res->meta.name = strdup(name);
		res->meta.namespace = strndup(ns, ns_len);
		r = res->meta.name && res->meta.namespace ? get_wep(in, base, res) : -ENOMEM;
		if (r < 0) {
			model_resource_free(res);
			return r;
		}
		if (c->local_node && strcmp(res->wep.node, c->local_node) == 0) {
			model_resource_free(res);
			return cf_bad(in, base, "spec.node", "a remote endpoint of the local node");
		}
		d = (struct calc_decoded){.r = 1, .kind = ENTRY_WEP, .res = res};
	} else {
		if (!get_uint(in, 4, &len) || (size_t)(in->end - in->p) < len)
			return cf_bad(in, base, "value", "truncated");
		r = calc_cache_decode(key, (const char *)in->p, (size_t)len, &d);
		in->p += len;
		if (r == -ENOMEM)
			return r;
		if (r <= 0) {
			calc_decoded_done(&d);
			return cf_bad(in, base, "value", "does not decode");
		}
	}
	d.mod_revision = (int64_t)rev;
	r = calc_cache_put_decoded(c, key, &d, &perr);
	if (r == -EINVAL)
		return cf_bad(in, base, "value", "does not decode");
	return r < 0 ? r : 0;
}

int calc_cache_load(struct calc_cache *c, const void *buf, size_t len, const char *file,
		    int64_t *ret_revision, struct parse_err *err)
{
	const uint8_t *base = buf;
	struct cf_in in = {.p = base, .end = base + len, .file = file, .err = err};
	_cleanup_free_ char *node = NULL, *version = NULL;
	uint64_t format, reserved, rev, n, sum = 0;
	int r;

	if (c->n || !c->local_node)
		return -EBUSY;
	if (len < 8 + 8 || memcmp(base, CACHE_FILE_MAGIC, 8) != 0)
		return cf_bad(&in, base, "magic", "not a tabby cache file");
	in.p = base + len - 8;
	get_uint(&in, 8, &sum);
	if (sum != cache_file_sum(base, len - 8)) {
		in.p = base;
		return cf_bad(&in, base, "checksum", "does not match (a damaged file)");
	}
	in = (struct cf_in){.p = base + 8, .end = base + len - 8, .file = file, .err = err};
	if (!get_uint(&in, 4, &format) || !get_uint(&in, 4, &reserved))
		return cf_bad(&in, base, "format", "truncated");
	if (format != CACHE_FILE_FORMAT || reserved != 0) {
		parse_err_set(err, file, 0, 0, "format", "format %llu, this felix writes %u",
			      (unsigned long long)format, CACHE_FILE_FORMAT);
		return -ESTALE;
	}
	r = get_str(&in, false, &version);
	if (r == -ENOMEM)
		return r;
	if (r < 0)
		return cf_bad(&in, base, "version", "missing or truncated");
	if (strcmp(version, TABBY_VERSION) != 0) {
		parse_err_set(err, file, 0, 0, "version", "written by tabby %s, this is %s",
			      version, TABBY_VERSION);
		return -ESTALE;
	}
	if (!get_uint(&in, 8, &rev) || (int64_t)rev <= 0)
		return cf_bad(&in, base, "revision", "missing or not positive");
	r = get_str(&in, false, &node);
	if (r == -ENOMEM)
		return r;
	if (r < 0)
		return cf_bad(&in, base, "node", "missing or truncated");
	if (strcmp(node, c->local_node) != 0) {
		parse_err_set(err, file, 0, 0, "node", "written by node %s, this is %s", node,
			      c->local_node);
		return -ESTALE;
	}
	if (!get_uint(&in, 4, &n) || n > CALC_CACHE_MAX_ENTRIES)
		return cf_bad(&in, base, "records", "missing or more than the cache holds");
	for (size_t i = 0; i < n; i++) {
		in.record = i + 1;
		r = get_record(&in, base, c);
		if (r < 0)
			return r;
	}
	in.record = 0;
	if (in.p != in.end)
		return cf_bad(&in, base, "records", "bytes after the last record");
	/* Loaded entries take part in the next snapshot's mark and sweep like any other. */
	*ret_revision = (int64_t)rev;
	return 0;
}
