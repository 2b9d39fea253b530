/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * The VXLAN device driver (felix/dataplane/driver.h): felix's own device CALC_VXLAN_IFNAME
 * ("vxlan.tabby"), its tunnel address and its static FDB entries, over libnl-route-3
 * (rtnl_link_vxlan_*). DESIGN.md "Host dataplane"; the device follows Calico's vxlan.calico:
 * VNI 4096, UDP destination port 4789, learning off, local = the node's IPv4 address,
 * MTU = the uplink's MTU - 50 unless FelixConfiguration vxlanMTU sets it.
 *
 * The routes and neighbour entries through the device belong to the routes driver
 * (felix/dataplane/routes/), which waits for the device to exist; apply this driver first.
 * The device is felix-owned: when no pool selecting this node asks for VXLAN it is deleted,
 * and everything on it (address, FDB, neighbours, routes) goes with it.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "felix/calc/calc.h"
#include "felix/dataplane/driver.h"
#include "lib/cidr.h"
#include "lib/macro.h"

/* What the device should look like (copied by dp_vxlan_set_desired()). */
struct dp_vxlan_desired {
	bool enabled;	      /* false: no device */
	struct ip_addr local; /* the node's IPv4 address (VXLAN source, finds the uplink) */
	struct ip_addr addr;  /* the tunnel address, put on the device as /32; family 0: none */
	uint8_t mac[6];	      /* the device's MAC (the Node's vxlanTunnelMACAddr) */
	uint32_t mtu;	      /* 0: the uplink's MTU - CALC_VXLAN_OVERHEAD */
	const struct calc_fdb *fdbs; /* borrowed; sorted by MAC */
	size_t n_fdbs;
};

struct dp_vxlan;

/**
 * dp_vxlan_new() - a driver with a netlink socket in the caller's network namespace; no
 * kernel write (the first apply reads the device and reconciles).
 * Return: 0, -ENOMEM, or -errno of the socket.
 */
int dp_vxlan_new(struct dp_vxlan **ret) _warn_unused_result_;

/**
 * dp_vxlan_set_desired() - replace the desired state with a copy of @want (memory only).
 * Return: 1 when it differs from the previous desired state (apply needed), 0 when equal,
 * -ENOMEM (the old desired state is kept).
 */
int dp_vxlan_set_desired(struct dp_vxlan *v,
			 const struct dp_vxlan_desired *want) _warn_unused_result_;

/**
 * dp_vxlan_ops - the driver contract over struct dp_vxlan:
 *   apply: disabled: delete the device when it exists. Enabled: create it when missing, or
 *     delete and re-create it when its VNI, port, local address or learning flag differ (they
 *     cannot be changed in place); set its MAC, MTU and IFF_UP when they differ; keep exactly
 *     the tunnel address /32 on it; then make its FDB equal to the desired entries (permanent,
 *     NTF_SELF, one destination each; others deleted). Every apply re-reads the device, its
 *     addresses and its FDB (a handful of objects), so no separate resync state is kept.
 *     Returns DP_IDLE, or 1000 ms after an error (st->last_error, st->error say which).
 *   queue_resync: no-op beyond marking dirty (each apply reads the kernel).
 *   free: NULL-safe; leaves the device in place (restart must not drop a packet).
 */
extern const struct dp_driver_ops dp_vxlan_ops;
