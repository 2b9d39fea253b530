/* SPDX-License-Identifier: Apache-2.0 */
/**
 * DOC: the workload veth MTU
 *
 * Pure decisions only (cni/mtu.h); the CNI plugin reads the host interface and the datastore.
 * Calico's CNI plugin is handed the MTU in its config by calico-node, which computes it from the
 * host interfaces and the enabled encapsulations; tabby's plugin computes it itself per ADD, from
 * the pool the address came from, so a routed pool keeps the full host MTU even when another
 * pool encapsulates.
 */

#include <string.h>

#include <json-c/json.h>

#include "cni/mtu.h"
#include "lib/macro.h"

bool cni_mtu_is_valid(int64_t mtu)
{
	return mtu >= CNI_MTU_MIN && mtu <= CNI_MTU_MAX;
}

bool cni_mtu_pool_encapsulates(const struct model_ippool *pool)
{
	return pool && pool->vxlan_mode &&
	       (strcmp(pool->vxlan_mode, "Always") == 0 ||
		strcmp(pool->vxlan_mode, "CrossSubnet") == 0);
}

const struct model_ippool *cni_mtu_pool_of(const struct model_list *pools,
					   const struct ip_addr *addr)
{
	const struct model_ippool *best = NULL;

	for (size_t i = 0; pools && i < pools->n; i++) {
		const struct model_resource *r = pools->items[i];

		if (!r || r->kind != MODEL_KIND_IPPOOL ||
		    !ip_prefix_contains_addr(&r->ippool.cidr, addr))
			continue;
		if (!best || r->ippool.cidr.len > best->cidr.len)
			best = &r->ippool;
	}
	return best;
}

unsigned cni_mtu_felix_vxlan(const struct model_resource *fc)
{
	struct json_object *spec, *v;
	int64_t mtu = 0;

	if (!fc || fc->kind != MODEL_KIND_FELIX_CONFIGURATION || !fc->extra_spec)
		return 0;
	spec = json_tokener_parse(fc->extra_spec);
	if (spec && json_object_is_type(spec, json_type_object) &&
	    json_object_object_get_ex(spec, "vxlanMTU", &v) &&
	    json_object_is_type(v, json_type_int))
		mtu = json_object_get_int64(v);
	json_object_put(spec);
	return cni_mtu_is_valid(mtu) ? (unsigned)mtu : 0;
}

unsigned cni_veth_mtu(unsigned host_mtu, unsigned configured_mtu, bool pool_encap,
		      unsigned felix_vxlan_mtu)
{
	unsigned mtu;

	if (configured_mtu)
		mtu = configured_mtu;
	else if (pool_encap && felix_vxlan_mtu)
		mtu = felix_vxlan_mtu;
	else {
		mtu = host_mtu ? host_mtu : CNI_MTU_DEFAULT;
		if (pool_encap)
			mtu = mtu > CNI_MTU_VXLAN_OVERHEAD ? mtu - CNI_MTU_VXLAN_OVERHEAD : 0;
	}
	return MAX(MIN(mtu, (unsigned)CNI_MTU_MAX), (unsigned)CNI_MTU_MIN);
}
