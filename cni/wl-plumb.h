/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * Workload plumbing: the Calico-style veth pair, host sysctls, container addresses and routes, and
 * the host /32 and /128 routes plus permanent neighbours (DESIGN.md "Host dataplane"). A
 * workload has one IPv4 address, one IPv6 address, or one of each (dual stack). One implementation
 * shared by the CNI plugin (cni/tabby.c) and the Docker libnetwork driver, which differ only in
 * who moves the container end into the sandbox: the CNI plugin passes the container's netns fd to
 * wl_plumb_veth_create() and configures it with wl_plumb_container_setup(); Docker keeps the peer
 * in the host netns (fd -1) and lets dockerd move and configure it.
 *
 * Every function works in the calling thread's current network namespace unless it takes a netns
 * fd; the ones that enter a netns return to the original one before returning, also on error.
 * Errors are -errno; netlink errors are mapped to the nearest errno and logged at debug.
 */

#include <stdbool.h>
#include <stddef.h>

#include "lib/cidr.h"
#include "lib/macro.h"

#define WL_PLUMB_IFNAMSIZ \
	16 /* IFNAMSIZ, without <net/if.h> (it clashes with libnl's <linux/if.h>) */
#define WL_PLUMB_IFNAME_PREFIX "tby"
#define WL_PLUMB_PEER_PREFIX "tbp" /* temporary name of the container end before its rename */
#define WL_PLUMB_HOST_MAC "ee:ee:ee:ee:ee:ee"
#define WL_PLUMB_GATEWAY "169.254.1.1" /* link-local next hop answered by proxy-ARP (Calico) */
/* The IPv6 next hop of every workload: the host end's own EUI-64 link-local address, derived
 * from WL_PLUMB_HOST_MAC (Calico's choice too). */
#define WL_PLUMB_GATEWAY6 "fe80::ecee:eeff:feee:eeee"
/* How long ADD waits for the host end's link-local address to be usable (it has no DAD). */
#define WL_PLUMB_GATEWAY6_WAIT_MS 2000
#define WL_PLUMB_MAC_STRLEN 18

/**
 * wl_plumb_host_ifname() - the host-side veth name of a workload: "tby" + the first 11 hex
 * characters of SHA-1(@workload_id) (DESIGN.md), 14 characters, fits IFNAMSIZ.
 * @workload_id: "<namespace>.<pod>" or "<namespace>.<container id>".
 * @ret: filled with the NUL-terminated name.
 */
void wl_plumb_host_ifname(const char *workload_id, char ret[static WL_PLUMB_IFNAMSIZ]);

/**
 * wl_plumb_peer_ifname() - the temporary name of the container end: @host_ifname with "tby"
 * replaced by "tbp". Return: 0, or -EINVAL when @host_ifname does not start with "tby".
 */
int wl_plumb_peer_ifname(const char *host_ifname,
			 char ret[static WL_PLUMB_IFNAMSIZ]) _warn_unused_result_;

/**
 * wl_plumb_veth_create() - create the veth pair @host_ifname <-> @peer_ifname in the current
 * netns, with the host end up, MAC ee:ee:ee:ee:ee:ee and the sysctls proxy_arp=1, forwarding=1,
 * route_localnet=1, rp_filter=1 (ipv4/conf/<if>) and proxy_delay=0 (ipv4/neigh/<if>), written
 * through /proc/sys/net of the current netns. When the kernel has IPv6, also ipv6/conf/<if>
 * accept_dad=0, addr_gen_mode=0 (EUI-64) and accept_ra=0, before the peer comes up (so before
 * the kernel gives the host end its link-local address WL_PLUMB_GATEWAY6, usable at once). A
 * link already named @host_ifname (a leftover or a repeated ADD, as Calico does) is deleted
 * first.
 * @peer_netns_fd: the peer is created directly in that netns (IFLA_NET_NS_FD), down; -1 keeps it
 *                 in the current netns (Docker moves it itself).
 * @mtu: the MTU of both ends in bytes (cni_veth_mtu()); 0 leaves the kernel's default (1500).
 * @owner: may be NULL; stored as the host end's ifalias (the container id) so that a later
 *         wl_plumb_veth_delete() of an older container with the same workload id leaves it alone.
 * @ret_host_ifindex: may be NULL; the host end's ifindex.
 * Return: 0, -EEXIST (a link named @peer_ifname exists in the target netns), -EINVAL (bad name),
 * -EPERM, or another -errno. On failure no veth is left behind.
 */
int wl_plumb_veth_create(const char *host_ifname, const char *peer_ifname, int peer_netns_fd,
			 unsigned mtu, const char *owner,
			 int *ret_host_ifindex) _warn_unused_result_;

/**
 * wl_plumb_host_mtu() - the MTU of the host's main interface in the current netns: the one the
 * IPv4 default route of the main table leaves through (the lowest metric, the first next hop),
 * else the one holding @node_addr (Calico autodetects the MTU of the host's main interface).
 * @node_addr: may be NULL; the node's own IPv4 address, the fallback.
 * @ret_mtu: the MTU in bytes. @ret_ifname: may be NULL; the interface it was read from.
 * Return: 0; -ENOENT when there is neither a default route nor an interface holding
 * @node_addr; or another -errno.
 */
int wl_plumb_host_mtu(const struct ip_addr *node_addr, unsigned *ret_mtu,
		      char ret_ifname[WL_PLUMB_IFNAMSIZ]) _warn_unused_result_;

/**
 * wl_plumb_container_setup() - inside the netns @netns_fd: set "lo" up, rename @peer_ifname to
 * @ifname and set it up, and per address: IPv4: add @addr/32 (replace), 169.254.1.1/32 scope
 * link and "default via 169.254.1.1" (replace); IPv6: add @addr/128 without DAD (IFA_F_NODAD)
 * and "default via fe80::ecee:eeff:feee:eeee" (replace). With an IPv6 address, first (while the
 * link is down) the sysctls Calico's CNI plugin writes in the container: ipv6/conf/{all,default,
 * lo,<if>}/disable_ipv6=0, ipv6/conf/<if>/accept_dad=0, ipv6/conf/all/forwarding=0. Reads the
 * container end's MAC.
 * @addrs: @n_addrs (1 or 2) addresses, at most one per family (else -EAFNOSUPPORT).
 * @ret_mac: "aa:bb:cc:dd:ee:ff". @ret_ifindex: may be NULL; ifindex of @ifname in the container.
 * Return: 0, -EEXIST (@ifname already exists in the container), -ENODEV (@peer_ifname missing),
 * -EAFNOSUPPORT (bad @addrs, or an IPv6 address and a kernel without IPv6), or another -errno.
 * The caller undoes by deleting the host end.
 */
int wl_plumb_container_setup(int netns_fd, const char *peer_ifname, const char *ifname,
			     const struct ip_addr *addrs, size_t n_addrs,
			     char ret_mac[static WL_PLUMB_MAC_STRLEN],
			     int *ret_ifindex) _warn_unused_result_;

/**
 * wl_plumb_link_mac() - the MAC address of the link @ifname in the current netns.
 * @ret: "aa:bb:cc:dd:ee:ff" (lower-case hex), untouched on failure.
 * Return: 0, -EINVAL (bad name), -ENODEV (no such link), -EADDRNOTAVAIL (the link has no
 * 6-byte hardware address), or another -errno.
 */
int wl_plumb_link_mac(const char *ifname,
		      char ret[static WL_PLUMB_MAC_STRLEN]) _warn_unused_result_;

/**
 * wl_plumb_host_route_add() - in the current netns: "<addr>/32 dev @host_ifname scope link
 * proto TABBY_ROUTE_PROTO" (NLM_F_REPLACE) and a permanent neighbour <addr> lladdr @cont_mac;
 * for an IPv6 @addr, "<addr>/128 dev @host_ifname proto TABBY_ROUTE_PROTO" and the neighbour
 * likewise, after the host end's IPv6 sysctls as Calico sets them (ipv6/conf/<if>:
 * disable_ipv6=0, proxy_ndp=1, forwarding=1, accept_ra=0; ipv6/conf/all/forwarding=1).
 * Return: 0, -ENODEV (no such link), -EINVAL (bad MAC), -EAFNOSUPPORT (IPv6 and a kernel
 * without it), or another -errno.
 */
int wl_plumb_host_route_add(const char *host_ifname, const struct ip_addr *addr,
			    const char *cont_mac) _warn_unused_result_;

/**
 * wl_plumb_host_gateway6_wait() - wait until the host end @host_ifname (current netns) holds
 * WL_PLUMB_GATEWAY6 and it is not tentative, the container's IPv6 next hop. The kernel adds it
 * from a work queue once the veth's carrier is up (the container end up), so a fresh attachment
 * may need a few milliseconds. Polls every 2 ms.
 * @timeout_ms: the bound, in milliseconds.
 * Return: 0; -ETIMEDOUT (absent or still tentative at the bound); -EADDRNOTAVAIL (DAD failed);
 * -ENODEV (no such link); or another -errno.
 */
int wl_plumb_host_gateway6_wait(const char *host_ifname, unsigned timeout_ms) _warn_unused_result_;

/**
 * wl_plumb_veth_delete() - delete the link @host_ifname in the current netns (its peer, routes
 * and neighbours go with it).
 * @owner: may be NULL (delete whatever holds the name); else the link is deleted only when its
 *         ifalias is @owner or empty, so a DEL for an old sandbox of a pod does not tear down
 *         the new one (same workload id, same name; Calico compares the container id likewise).
 * Return: 1 deleted, 0 already absent or owned by another container, or -errno.
 */
int wl_plumb_veth_delete(const char *host_ifname, const char *owner) _warn_unused_result_;

/**
 * wl_plumb_check() - verify an attachment (CNI CHECK): @host_ifname exists in the current netns
 * and is a veth; for every address, in the current netns, @addr/32 (or /128) routes via
 * @host_ifname with protocol TABBY_ROUTE_PROTO, and for IPv6 the host end holds a usable
 * WL_PLUMB_GATEWAY6; in @netns_fd, @ifname exists and holds every address, with a default route
 * of each family (via 169.254.1.1, via WL_PLUMB_GATEWAY6); both ends have the same MTU, and it is
 * @mtu unless @mtu is 0 (an auto-detected MTU may have changed with the host since ADD, so only
 * an explicit one is compared).
 * @addrs: @n_addrs (1 or 2) addresses, at most one per family (else -EAFNOSUPPORT).
 * @why: on -ENOENT, a one-line reason ("host route 198.19.0.1/32 missing") of @why_len bytes.
 * Return: 0 when all hold, -ENOENT when something is missing or different, or another -errno.
 */
int wl_plumb_check(const char *host_ifname, int netns_fd, const char *ifname,
		   const struct ip_addr *addrs, size_t n_addrs, unsigned mtu, char *why,
		   size_t why_len) _warn_unused_result_;
