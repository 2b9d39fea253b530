/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `tabbyctl ipam show [--show-blocks]`, laid out like `calicoctl ipam show`: one row per pool
 * with its size, the addresses in use (summed over the blocks inside it) and the free rest; with
 * --show-blocks, one row per block under its pool with the block's affinity.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl/ctl.h"
#include "ipam/ipam.h"

static void count_pct(uint64_t n, uint64_t total, char *buf, size_t size)
{
	double pct = total ? (double)n * 100.0 / (double)total : 0.0;

	snprintf(buf, size, "%" PRIu64 " (%.0f%%)", n, pct);
}

static int add_row(struct ctl_table *t, const char *group, const struct ip_prefix *cidr,
		   uint64_t total, uint64_t used, const char *affinity, bool blocks)
{
	char c[IP_PREFIX_STRLEN], tot[32], u[48], f[48];

	snprintf(tot, sizeof(tot), "%" PRIu64, total);
	count_pct(used, total, u, sizeof(u));
	count_pct(total - used, total, f, sizeof(f));
	return ctl_table_add(t, (const char *const[]){group, ip_prefix_format(cidr, c), tot, u, f,
						      blocks ? affinity : NULL});
}

int ctl_ipam(int argc, char **argv)
{
	static const struct option opts[] = {
	    CTL_GLOBAL_LONGOPTS,
	    {"show-blocks", no_argument, NULL, 'b'},
	    {},
	};
	_cleanup_(ds_client_freep) struct ds_client *ds = NULL;
	struct model_list pools = {};
	struct ipam_block *blocks = NULL;
	size_t n_blocks = 0;
	bool show_blocks = false;
	bool *placed = NULL;
	struct ctl_table t = {};
	int c, r;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) >= 0) {
		switch (c) {
		case 'b':
			show_blocks = true;
			break;
		case CTL_OPT_ENDPOINTS:
			arg_endpoints = optarg;
			break;
		default:
			return -EINVAL;
		}
	}
	if (argc - optind != 1 || strcmp(argv[optind], "show") != 0)
		return ctl_err("usage: tabbyctl ipam show [--show-blocks]");
	r = ctl_ds_open(&ds);
	if (r < 0)
		return r;
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
		r = add_row(&t, "IP Pool", cidr, ip_prefix_size(cidr), used, NULL, show_blocks);
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
