/* SPDX-License-Identifier: Apache-2.0 */
/*
 * DOC: IPAM garbage collection planner (pure; see ipam/block-gc.h). The inputs are small enough
 * (blocks x addresses, marks, nodes) for plain scans; only the in-use addresses are sorted.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ipam/block-gc.h"
#include "lib/array.h"

struct plan {
	struct ipam_gc_action *v;
	size_t n, cap;
};

static int add(struct plan *p, struct ipam_gc_action a)
{
	if (p->n == p->cap) {
		size_t cap = p->cap ? p->cap * 2 : 16;
		struct ipam_gc_action *v = realloc(p->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		p->v = v;
		p->cap = cap;
	}
	p->v[p->n++] = a;
	return 0;
}

static int addr_cmp(const void *a, const void *b)
{
	return ip_addr_cmp(a, b);
}

static bool node_exists(const struct ipam_gc_input *in, const char *node)
{
	for (size_t i = 0; i < in->n_nodes; i++)
		if (strcmp(in->nodes[i], node) == 0)
			return true;
	return false;
}

/* The node a block's affinity "host:<node>" names, or NULL. */
static const char *block_node(const struct ipam_block *b)
{
	return b->affinity && strncmp(b->affinity, "host:", 5) == 0 && b->affinity[5]
		   ? b->affinity + 5
		   : NULL;
}

static const struct ipam_block *find_block(const struct ipam_gc_input *in,
					   const struct ip_prefix *cidr, size_t *ret_i)
{
	for (size_t i = 0; i < in->n_blocks; i++)
		if (ip_prefix_equal(&in->blocks[i].cidr, cidr)) {
			*ret_i = i;
			return &in->blocks[i];
		}
	return NULL;
}

static bool str_eq0(const char *a, const char *b)
{
	return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static bool orphan_empty(const struct ipam_gc_input *in, const struct ipam_block *b)
{
	const char *node = block_node(b);

	return ipam_block_in_use(b) == 0 && (!node || !node_exists(in, node));
}

int ipam_gc_plan(const struct ipam_gc_input *in, struct ipam_gc_action **ret, size_t *ret_n)
{
	struct plan p = {0};
	struct ip_addr *used = NULL;
	int r = 0;

	if (!in || !ret || !ret_n || in->grace_ms < 0)
		return -EINVAL;
	if (in->n_in_use) {
		used = malloc(in->n_in_use * sizeof(*used));
		if (!used)
			return -ENOMEM;
		memcpy(used, in->in_use, in->n_in_use * sizeof(*used));
		qsort(used, in->n_in_use, sizeof(*used), addr_cmp);
	}

	/* 1: affinities whose block is missing, names another node, or goes below */
	for (size_t i = 0; i < in->n_affs && r >= 0; i++) {
		const struct ipam_gc_affinity *a = &in->affs[i];
		size_t bi;
		const struct ipam_block *b = find_block(in, &a->cidr, &bi);
		const char *owner = b ? block_node(b) : NULL;

		if (!a->confirmed && a->pending_since_ms &&
		    in->now_ms - a->pending_since_ms < IPAM_GC_PENDING_GRACE_MS)
			continue; /* maybe a claim in flight */
		if (!b || !owner || strcmp(owner, a->node) != 0 || orphan_empty(in, b))
			r = add(&p, (struct ipam_gc_action){.kind = IPAM_GC_DELETE_AFFINITY,
							    .node = a->node,
							    .cidr = a->cidr,
							    .revision = a->mod_revision});
	}
	/* 2: empty blocks of nodes that are gone (or of none) */
	for (size_t i = 0; i < in->n_blocks && r >= 0; i++)
		if (orphan_empty(in, &in->blocks[i]))
			r = add(&p, (struct ipam_gc_action){.kind = IPAM_GC_DELETE_BLOCK,
							    .cidr = in->blocks[i].cidr,
							    .revision = in->block_revs[i]});

	/* 3: marks that no longer match a leaked allocation */
	for (size_t m = 0; m < in->n_marks && r >= 0; m++) {
		const struct ipam_gc_mark *k = &in->marks[m];
		bool still = false;

		for (size_t i = 0; i < in->n_blocks && !still; i++) {
			const struct ipam_block *b = &in->blocks[i];
			const struct ipam_attr *at = ipam_block_lookup(b, &k->addr);

			if (at && ipam_block_sequence_of(b, &k->addr) == k->sequence &&
			    str_eq0(at->handle_id, k->handle))
				still = true;
		}
		if (still && array_find(&k->addr, used, in->n_in_use, sizeof(*used), addr_cmp))
			still = false;
		if (!still)
			r = add(&p,
				(struct ipam_gc_action){.kind = IPAM_GC_UNMARK, .addr = k->addr});
	}

	/* 4: leaked allocations: release after the grace period, else mark */
	for (size_t i = 0; i < in->n_blocks && r >= 0; i++) {
		const struct ipam_block *b = &in->blocks[i];

		for (uint32_t o = 0; o < b->n && r >= 0; o++) {
			struct ip_addr a;
			const struct ipam_attr *at;
			const struct ipam_gc_mark *mark = NULL;
			int64_t seq;

			if (b->allocations[o] < 0)
				continue;
			a = ipam_block_addr_at(b, o);
			if (array_find(&a, used, in->n_in_use, sizeof(*used), addr_cmp))
				continue;
			at = ipam_block_lookup(b, &a);
			seq = ipam_block_sequence_of(b, &a);
			for (size_t m = 0; m < in->n_marks && !mark; m++)
				if (ip_addr_equal(&in->marks[m].addr, &a) &&
				    in->marks[m].sequence == seq &&
				    str_eq0(in->marks[m].handle, at ? at->handle_id : NULL))
					mark = &in->marks[m];
			struct ipam_gc_action act = {.addr = a,
						     .cidr = b->cidr,
						     .handle = at ? at->handle_id : NULL,
						     .sequence = seq,
						     .since_ms =
							 mark ? mark->since_ms : in->now_ms};

			if (in->grace_ms == 0 ||
			    (mark && in->now_ms - mark->since_ms >= in->grace_ms))
				act.kind = IPAM_GC_RELEASE;
			else if (mark)
				continue; /* marked, grace period not over */
			else
				act.kind = IPAM_GC_MARK;
			r = add(&p, act);
		}
	}
	free(used);
	if (r < 0) {
		free(p.v);
		return r;
	}
	*ret = p.v;
	*ret_n = p.n;
	return 0;
}

const char *ipam_gc_kind_name(enum ipam_gc_kind k)
{
	static const char *const names[] = {
	    [IPAM_GC_DELETE_AFFINITY] = "delete-affinity",
	    [IPAM_GC_DELETE_BLOCK] = "delete-block",
	    [IPAM_GC_RELEASE] = "release",
	    [IPAM_GC_MARK] = "mark",
	    [IPAM_GC_UNMARK] = "unmark",
	};

	return (unsigned)k < ELEMENTSOF(names) ? names[k] : "?";
}
