/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * The workload veth MTU (pure: part of the core library, unit-tested in tests/unit/test-mtu.c).
 * The CNI plugin gathers the inputs (the network config's "mtu", the host interface's MTU, the
 * IPPool the address came from, FelixConfiguration vxlanMTU) and these functions decide.
 *
 * The rule is Calico's ("Configure MTU to maximize network performance", docs.tigera.io): a
 * workload's MTU is the host MTU less the encapsulation overhead of its pool, 50 bytes for
 * VXLAN over IPv4, and nothing for routed (BGP) pools; an explicit CNI "mtu" is what the veth
 * gets; FelixConfiguration vxlanMTU, when set, is the MTU of VXLAN traffic.
 */

#include <stdbool.h>
#include <stdint.h>

#include "lib/cidr.h"
#include "model/model.h"

#define CNI_MTU_MIN 68		  /* RFC 791: every IPv4 host must take 68-byte datagrams */
#define CNI_MTU_MAX 65535	  /* IFLA_MTU is 32 bits, but an IPv4 datagram is at most this */
#define CNI_MTU_DEFAULT 1500	  /* when no host interface could be found: Ethernet */
#define CNI_MTU_VXLAN_OVERHEAD 50 /* outer IPv4 20 + UDP 8 + VXLAN 8 + inner Ethernet 14 */

/** cni_mtu_is_valid() - @mtu lies in CNI_MTU_MIN..CNI_MTU_MAX. */
bool cni_mtu_is_valid(int64_t mtu);

/**
 * cni_mtu_pool_encapsulates() - @pool's workloads send VXLAN traffic: vxlanMode Always or
 * CrossSubnet (CrossSubnet encapsulates some of it, so the veth must leave room all the same,
 * as Calico does). NULL-safe: no pool encapsulates nothing.
 */
bool cni_mtu_pool_encapsulates(const struct model_ippool *pool);

/**
 * cni_mtu_pool_of() - the IPPool among @pools (IPPool resources; other kinds are skipped) whose
 * CIDR holds @addr, the longest prefix when several do. Return: a borrowed pointer, or NULL.
 */
const struct model_ippool *cni_mtu_pool_of(const struct model_list *pools,
					   const struct ip_addr *addr);

/**
 * cni_mtu_felix_vxlan() - FelixConfiguration @fc's spec.vxlanMTU (stored as a documented
 * setting in @fc->extra_spec by model/decode-policy.c). NULL-safe.
 * Return: the MTU in bytes, or 0 when @fc is NULL, not a FelixConfiguration, does not set it,
 * or sets a value outside CNI_MTU_MIN..CNI_MTU_MAX.
 */
unsigned cni_mtu_felix_vxlan(const struct model_resource *fc);

/**
 * cni_veth_mtu() - the MTU in bytes both ends of a workload veth get.
 * @host_mtu: the MTU of the host's main interface (the one holding the default route), bytes;
 *            0 = unknown (CNI_MTU_DEFAULT is assumed).
 * @configured_mtu: the network config's "mtu", bytes; 0 = absent. When set it wins over
 *                  everything else (Calico: the CNI mtu is what the veth gets).
 * @pool_encap: the address's pool encapsulates (cni_mtu_pool_encapsulates()).
 * @felix_vxlan_mtu: FelixConfiguration vxlanMTU, bytes; 0 = unset. Used instead of
 *                   @host_mtu - CNI_MTU_VXLAN_OVERHEAD for encapsulating pools.
 * Return: the MTU, always within CNI_MTU_MIN..CNI_MTU_MAX (out-of-range inputs are clamped).
 */
unsigned cni_veth_mtu(unsigned host_mtu, unsigned configured_mtu, bool pool_encap,
		      unsigned felix_vxlan_mtu);
