/* SPDX-License-Identifier: Apache-2.0 */
/**
 * DOC: tabby, the CNI plugin
 *
 * ADD attaches a container the Calico way (wl-plumb.c) in four steps, each undone in reverse
 * when a later one fails, so a failed ADD leaves nothing behind (DESIGN.md "CNI"). A workload
 * has one IPv4 address, one IPv6 address or one of each (dual stack); ADD is all-or-nothing
 * across both families: a failure in the IPv6 part undoes the IPv4 part too.
 *   1. ipam:  the IPAM plugin named by ipam.type (SPEC.md "Delegated plugins"): tabby-ipam runs
 *             in this process (cni/ipam-plugin.h: no second exec, one datastore connection, the
 *             Node check folded into IPAM's first read); any other is exec'ed. Its result has
 *             at most one address per family.
 *   2. veth:  veth pair, host sysctls, container addresses and routes (IPv4: <v4>/32, default
 *             via 169.254.1.1; IPv6: <v6>/128 without DAD, default via the host end's
 *             link-local fe80::ecee:eeff:feee:eeee); both ends get the config's "mtu", else the
 *             host interface's MTU less the VXLAN overhead of the addresses' pools (cni/mtu.h;
 *             the pools come with IPAM's own read, vxlanMTU is read only for a VXLAN pool,
 *             neither when "mtu" is set)
 *   3. wep:   the WorkloadEndpoint in the datastore (felix and the other hosts learn from it),
 *             ipNetworks [<v4>/32, <v6>/128]
 *   4. route: host /32 and /128 routes (proto TABBY_ROUTE_PROTO) and permanent neighbours; for
 *             IPv6 the host end's sysctls (proxy_ndp, forwarding), then a wait until its
 *             link-local next hop is usable, so that success means the workload can send
 * The WEP goes before the host route so that felix never sees a routed address it cannot
 * attribute to an endpoint. A repeated ADD returns the same address (the IPAM handle is per
 * container) and rebuilds the veth, as Calico does.
 *
 * DEL is idempotent: the veth first (local, cannot be retried later if the netns is gone), then
 * the WEP, then the IPAM release. When the datastore is unreachable DEL fails with code 11 so
 * that the runtime retries, as Calico does; the veth is gone by then.
 *
 * Test hook: TABBY_CNI_FAIL_AFTER=ipam|veth|wep|route makes ADD fail right after that step,
 * to exercise the unwinding; =ipv6 right after the IPv6 part of step 4 (its host route and
 * next hop), when every IPv4 piece is in place. It is read from the environment only; nothing
 * sets it in production.
 */

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include "cni/cni.h"
#include "cni/ipam-plugin.h"
#include "cni/mtu.h"
#include "cni/wl-plumb.h"
#include "cni/workload.h"
#include "ipam/ipam.h"
#include "lib/log.h"
#include "lib/strbuf.h"
#include "model/model.h"

/* The addresses of one workload: 1 or 2, at most one per family, IPv4 first. */
struct wl_addrs {
	struct ip_addr a[2];
	size_t n;
};

static const struct ip_addr *addrs_get(const struct wl_addrs *w, int family)
{
	for (size_t i = 0; i < w->n; i++)
		if (w->a[i].family == family)
			return &w->a[i];
	return NULL;
}

/* "198.19.0.5/32, 2001:db8::5/128" for logs. */
static const char *addrs_format(const struct wl_addrs *w, char *buf, size_t len)
{
	char one[IP_ADDR_STRLEN];
	size_t at = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < w->n && at < len; i++)
		at += snprintf(buf + at, len - at, "%s%s/%u", i ? ", " : "",
			       ip_addr_format(&w->a[i], one), ip_addr_bits(w->a[i].family));
	return buf;
}

struct attach {
	const struct cni_conf *conf;
	const struct cni_env *env;
	char *node;
	char *workload_id;
	char *wep_name; /* Calico's "<node>-cni-<container id>-<ifname>" */
	char host_ifname[WL_PLUMB_IFNAMSIZ];
	char peer_ifname[WL_PLUMB_IFNAMSIZ];
	int netns_fd;
};

static void attach_done(struct attach *a)
{
	free(a->node);
	free(a->workload_id);
	free(a->wep_name);
	if (a->netns_fd >= 0)
		close(a->netns_fd);
}

static int attach_init(struct attach *a, const struct cni_conf *c, const struct cni_env *env,
		       bool need_netns, struct cni_error *e)
{
	struct wl_error we = {};
	int r;

	*a = (struct attach){.conf = c, .env = env, .netns_fd = -1};
	r = cni_conf_nodename(c, &a->node, e);
	if (r < 0)
		return r;
	r = cni_workload_id(env, &a->workload_id);
	if (r < 0)
		return r;
	r = wl_wep_name(a->node, "cni", env->container_id, env->ifname, &a->wep_name, &we);
	if (r < 0)
		return cni_wl_error(e, r, &we, false, false);
	wl_plumb_host_ifname(a->workload_id, a->host_ifname);
	r = wl_plumb_peer_ifname(a->host_ifname, a->peer_ifname);
	if (r < 0)
		return r;
	if (env->netns && *env->netns) {
		a->netns_fd = open(env->netns, O_RDONLY | O_CLOEXEC);
		if (a->netns_fd < 0 && (need_netns || errno != ENOENT))
			return cni_fail(e, -errno, CNI_ERR_UNKNOWN_CONTAINER,
					"CNI_NETNS: cannot open %s", env->netns);
	}
	return 0;
}

static bool fail_after(const char *step)
{
	const char *v = getenv("TABBY_CNI_FAIL_AFTER");

	return v && strcmp(v, step) == 0;
}

static int injected(struct cni_error *e, const char *step)
{
	return cni_fail(e, -ECANCELED, CNI_ERR_INTERNAL,
			"injected failure after step %s (TABBY_CNI_FAIL_AFTER)", step);
}

static int wep_write(struct ds_client *ds, const struct attach *a, const struct wl_addrs *addrs,
		     const char *mac, struct cni_error *e)
{
	const struct cni_conf *c = a->conf;
	struct wl_error we = {};
	int r;

	r = wl_wep_write(ds,
			 &(struct wl_endpoint){
			     .orchestrator = "cni",
			     .node = a->node,
			     .namespace = a->env->pod_namespace,
			     .workload_id = a->env->container_id,
			     .endpoint = a->env->ifname,
			     .workload = a->env->container_id,
			     .container_id = a->env->container_id,
			     .pod = a->env->pod_name,
			     .interface_name = a->host_ifname,
			     .mac = mac,
			     .addrs = addrs->a,
			     .n_addrs = addrs->n,
			     .labels = &c->labels,
			     .ports = c->ports,
			     .n_ports = c->n_ports,
			     .service_account = c->service_account,
			 },
			 &we);
	return r < 0 ? cni_wl_error(e, r, &we, false, false) : 0;
}

static int wep_delete(struct ds_client *ds, const struct attach *a, struct cni_error *e,
		      bool retryable)
{
	struct wl_error we = {};
	int r;

	r = wl_wep_delete(ds, a->env->pod_namespace, a->wep_name, NULL, &we);
	return r < 0 ? cni_wl_error(e, r, &we, false, retryable) : 0;
}

/* @ips as a workload's addresses, IPv4 first. */
static void addrs_from_ips(const struct cni_ips *ips, struct wl_addrs *ret)
{
	*ret = (struct wl_addrs){};
	if (ips->has_v4)
		ret->a[ret->n++] = ips->v4;
	if (ips->has_v6)
		ret->a[ret->n++] = ips->v6;
}

/* The addresses of a result's ips[] (cni_result_ips(): at most one per family; the prefix
 * lengths are ignored, the container gets host prefixes), at least one. */
static int result_ips(struct json_object *res, struct wl_addrs *ret, const char *what,
		      struct cni_error *e)
{
	struct cni_ips ips;
	int r;

	r = cni_result_ips(res, what, &ips, e);
	if (r < 0)
		return r;
	if (!ips.has_v4 && !ips.has_v6)
		return cni_fail(e, -EINVAL, CNI_ERR_DECODE, "%s.ips: no address", what);
	addrs_from_ips(&ips, ret);
	return 0;
}

static void print_add_result(const struct attach *a, const struct wl_addrs *addrs, const char *mac)
{
	struct json_object *res = json_object_new_object();
	struct json_object *ifs = json_object_new_array();
	struct json_object *hif = json_object_new_object();
	struct json_object *cif = json_object_new_object();
	struct json_object *ips = json_object_new_array();
	struct json_object *routes = json_object_new_array();
	char buf[IP_ADDR_STRLEN], cidr[IP_PREFIX_STRLEN];

	json_object_object_add(res, "cniVersion", json_object_new_string(a->conf->cni_version));
	json_object_object_add(hif, "name", json_object_new_string(a->host_ifname));
	json_object_object_add(hif, "mac", json_object_new_string(WL_PLUMB_HOST_MAC));
	json_object_array_add(ifs, hif);
	json_object_object_add(cif, "name", json_object_new_string(a->env->ifname));
	json_object_object_add(cif, "mac", json_object_new_string(mac));
	json_object_object_add(cif, "sandbox", json_object_new_string(a->env->netns));
	json_object_array_add(ifs, cif);
	json_object_object_add(res, "interfaces", ifs);

	for (size_t i = 0; i < addrs->n; i++) {
		struct json_object *ip = json_object_new_object();
		struct json_object *rt = json_object_new_object();
		bool v6 = addrs->a[i].family == AF_INET6;
		const char *gw = v6 ? WL_PLUMB_GATEWAY6 : WL_PLUMB_GATEWAY;

		snprintf(cidr, sizeof(cidr), "%s/%u", ip_addr_format(&addrs->a[i], buf),
			 v6 ? 128 : 32);
		if (a->conf->version < CNI_VERSION_1_0_0)
			json_object_object_add(ip, "version",
					       json_object_new_string(v6 ? "6" : "4"));
		json_object_object_add(ip, "address", json_object_new_string(cidr));
		json_object_object_add(ip, "gateway", json_object_new_string(gw));
		json_object_object_add(ip, "interface", json_object_new_int(1));
		json_object_array_add(ips, ip);

		json_object_object_add(rt, "dst",
				       json_object_new_string(v6 ? "::/0" : "0.0.0.0/0"));
		json_object_object_add(rt, "gw", json_object_new_string(gw));
		json_object_array_add(routes, rt);
	}
	json_object_object_add(res, "ips", ips);
	json_object_object_add(res, "routes", routes);
	json_object_object_add(res, "dns", json_object_new_object());
	cni_print_json(res);
	json_object_put(res);
}

/* ipam.type tabby-ipam runs in this process (cni/ipam-plugin.h). */
static bool ipam_builtin(const struct cni_conf *c)
{
	return strcmp(c->ipam_type, CNI_IPAM_BUILTIN) == 0;
}

/* The IPAM plugin's @command (DEL or CHECK): in this process or exec'ed. */
static int ipam_call(struct ds_client *ds, const struct attach *a, const char *command,
		     struct cni_error *e)
{
	if (!ipam_builtin(a->conf))
		return cni_delegate(a->env->path, a->conf->ipam_type, command, a->conf, NULL, e);
	if (strcmp(command, "DEL") == 0)
		return cni_ipam_del(a->conf, a->env, ds, e);
	return cni_ipam_check(a->conf, a->env, ds, e);
}

static void ipam_undo(struct ds_client *ds, const struct attach *a)
{
	struct cni_error e2 = {};

	if (ipam_call(ds, a, "DEL", &e2) < 0)
		log_error("undo: IPAM DEL failed: code %d: %s", e2.code, e2.msg);
}

/* The node's Node resource exists (felix registered it): else error 109. */
static int node_check(struct ds_client *ds, const struct attach *a, struct cni_error *e)
{
	struct wl_error we = {};
	int r;

	/* a node felix never registered has no blocks, routes or policy: refuse to attach to it
	 * rather than claim a block for a wrong name (Calico's CNI plugin does the same) */
	r = wl_node_exists(ds, a->node, &we);
	if (r == -ENOENT)
		return cni_fail(e, r, CNI_ERR_UNKNOWN_NODE, "%s", we.msg);
	if (r < 0)
		return cni_wl_error(e, r, &we, false, false);
	return 0;
}

/* Step 1: the addresses, and the Node check. Nothing is allocated when it fails. @ret_pools: may
 * be NULL; the IPPools the in-process IPAM read on the way, when it read them (else left
 * empty). */
static int ipam_add(struct ds_client *ds, const struct attach *a, struct wl_addrs *ret,
		    struct model_list *ret_pools, struct cni_error *e)
{
	const struct cni_conf *c = a->conf;
	_cleanup_strbuf_ struct strbuf nkey = {0};
	struct json_object *res = NULL;
	int r;

	if (ipam_builtin(c)) {
		r = model_key(MODEL_KIND_NODE, NULL, a->node, &nkey);
		if (r < 0)
			return cni_fail(e, r, CNI_ERR_INTERNAL, "Node key: %s", strerror(-r));
		struct cni_ips ips = {};

		r = cni_ipam_add_ips(c, a->env, ds, a->node, strbuf_cstr(&nkey), &ips, ret_pools,
				     e);
		if (r >= 0)
			addrs_from_ips(&ips, ret);
		if (r != -ENODEV)
			return r;
		/* the Node is absent: word the error as node_check() does */
		r = node_check(ds, a, e);
		return r < 0 ? r
			     : cni_fail(e, -EAGAIN, CNI_ERR_TRY_AGAIN,
					"node \"%s\" registered while ADD ran: try again", a->node);
	}
	r = node_check(ds, a, e);
	if (r < 0)
		return r;
	r = cni_delegate(a->env->path, c->ipam_type, "ADD", c, &res, e);
	if (r < 0)
		return r; /* the IPAM plugin keeps nothing on failure */
	r = result_ips(res, ret, "ipam result", e);
	json_object_put(res);
	if (r < 0)
		ipam_undo(ds, a);
	return r;
}

/* Read and decode the resource at @kind/@name: 0, -ENOENT, -EBADMSG (does not decode), or a
 * datastore error. */
static int resource_read(struct ds_client *ds, enum model_kind kind, const char *name,
			 struct model_resource **ret)
{
	_cleanup_strbuf_ struct strbuf key = {0};
	struct parse_err err = {};
	struct ds_kv kv = {};
	int r;

	r = model_key(kind, NULL, name, &key);
	if (r < 0)
		return r;
	r = ds_get(ds, strbuf_cstr(&key), &kv, NULL);
	if (r < 0)
		return r;
	r = model_decode_one(kv.value, kv.value_len, strbuf_cstr(&key), ret, &err);
	if (r == -EINVAL)
		log_warn("%s: %s, ignoring", strbuf_cstr(&key), err.msg);
	ds_kv_done(&kv);
	return r == -EINVAL ? -EBADMSG : r;
}

/* FelixConfiguration vxlanMTU: "node.<node>" over "default", as felix merges them; 0 = unset.
 * Only read for encapsulating pools: two single-key reads. */
static int felix_vxlan_mtu(struct ds_client *ds, const char *node, unsigned *ret)
{
	_cleanup_free_ char *per_node = NULL;
	const char *names[2];
	int r;

	if (asprintf(&per_node, "node.%s", node) < 0)
		return -ENOMEM;
	names[0] = per_node;
	names[1] = "default";
	*ret = 0;
	for (size_t i = 0; i < ELEMENTSOF(names) && !*ret; i++) {
		_cleanup_(model_resource_freep) struct model_resource *fc = NULL;

		r = resource_read(ds, MODEL_KIND_FELIX_CONFIGURATION, names[i], &fc);
		if (r == -ENOENT || r == -EBADMSG)
			continue;
		if (r < 0)
			return r;
		*ret = cni_mtu_felix_vxlan(fc);
	}
	return 0;
}

/* The host interface's MTU (cni/mtu.h): the default route's interface, else the one holding the
 * Node's address; 0 when there is neither (cni_veth_mtu() then assumes 1500). */
static int host_mtu(struct ds_client *ds, const struct attach *a, unsigned *ret,
		    struct cni_error *e)
{
	_cleanup_(model_resource_freep) struct model_resource *node = NULL;
	char ifname[WL_PLUMB_IFNAMSIZ] = "";
	int r;

	r = wl_plumb_host_mtu(NULL, ret, ifname);
	if (r == -ENOENT && resource_read(ds, MODEL_KIND_NODE, a->node, &node) >= 0 &&
	    node->node.has_ipv4)
		r = wl_plumb_host_mtu(&node->node.ipv4_address.addr, ret, ifname);
	if (r == -ENOENT) {
		log_warn("mtu: no default route and no interface with the node's address; "
			 "assuming %d (set \"mtu\" in the network config)",
			 CNI_MTU_DEFAULT);
		*ret = 0;
		return 0;
	}
	if (r < 0)
		return cni_fail(e, r, CNI_ERR_INTERNAL, "mtu: cannot read the host interface: %s",
				strerror(-r));
	log_debug("host interface %s has mtu %u", ifname, *ret);
	return 0;
}

/* The MTU of both veth ends: the config's "mtu", else from the host interface and the pools
 * @addrs came from (cni_veth_mtu(); encapsulated when either pool encapsulates). @known_pools:
 * the IPPools IPAM read, or empty: then they are read here (an exec'ed IPAM plugin, a requested
 * address). */
static int veth_mtu(struct ds_client *ds, const struct attach *a, const struct wl_addrs *addrs,
		    const struct model_list *known_pools, unsigned *ret, struct cni_error *e)
{
	_cleanup_(model_list_done) struct model_list read_pools = {};
	const struct model_list *pools = known_pools;
	unsigned host = 0, vxlan = 0;
	bool encap;
	int r;

	if (a->conf->mtu) {
		*ret = cni_veth_mtu(0, a->conf->mtu, false, 0);
		return 0;
	}
	r = host_mtu(ds, a, &host, e);
	if (r < 0)
		return r;
	if (pools->n == 0) {
		r = ipam_list_pools(ds, &read_pools);
		if (r < 0)
			return cni_datastore_error(e, r, false, "mtu: read IPPools");
		pools = &read_pools;
	}
	encap = false;
	for (size_t i = 0; i < addrs->n; i++)
		encap = encap || cni_mtu_pool_encapsulates(cni_mtu_pool_of(pools, &addrs->a[i]));
	if (encap) {
		r = felix_vxlan_mtu(ds, a->node, &vxlan);
		if (r < 0)
			return cni_datastore_error(e, r, false, "mtu: read FelixConfiguration");
	}
	*ret = cni_veth_mtu(host, 0, encap, vxlan);
	log_debug("veth mtu %u (host %u, %s pool, vxlanMTU %u)", *ret, host,
		  encap ? "VXLAN" : "routed", vxlan);
	return 0;
}

static int cmd_add(const struct cni_conf *c, const struct cni_env *env, struct cni_error *e)
{
	_cleanup_(ds_client_freep) struct ds_client *ds = NULL;
	_cleanup_(model_list_done) struct model_list pools = {};
	struct attach a;
	struct wl_addrs addrs = {};
	char mac[WL_PLUMB_MAC_STRLEN] = "";
	char buf[2 * IP_PREFIX_STRLEN + 4];
	unsigned mtu = 0;
	int r, k;

	r = attach_init(&a, c, env, true, e);
	if (r < 0)
		goto out;
	r = cni_conf_datastore(c, &ds, e);
	if (r < 0)
		goto out;

	/* 1. address */
	/* without "mtu", the pools IPAM reads anyway tell whether the address encapsulates */
	r = ipam_add(ds, &a, &addrs, c->mtu ? NULL : &pools, e);
	if (r < 0)
		goto out;
	if (fail_after("ipam")) {
		r = injected(e, "ipam");
		goto out_ipam;
	}

	/* 2. veth and container side */
	r = veth_mtu(ds, &a, &addrs, &pools, &mtu, e);
	if (r < 0)
		goto out_ipam;
	r = wl_plumb_veth_create(a.host_ifname, a.peer_ifname, a.netns_fd, mtu, env->container_id,
				 NULL);
	if (r < 0) {
		cni_fail(e, r, CNI_ERR_INTERNAL, "create veth %s: %s", a.host_ifname, strerror(-r));
		goto out_ipam;
	}
	r = wl_plumb_container_setup(a.netns_fd, a.peer_ifname, env->ifname, addrs.a, addrs.n, mac,
				     NULL);
	if (r < 0) {
		if (r == -EEXIST)
			cni_fail(e, r, CNI_ERR_INTERNAL,
				 "CNI_IFNAME: %s already exists in the container", env->ifname);
		else
			cni_fail(e, r, CNI_ERR_INTERNAL, "configure container interface %s: %s",
				 env->ifname, strerror(-r));
		goto out_veth;
	}
	if (fail_after("veth")) {
		r = injected(e, "veth");
		goto out_veth;
	}

	/* 3. endpoint */
	r = wep_write(ds, &a, &addrs, mac, e);
	if (r < 0)
		goto out_veth;
	if (fail_after("wep")) {
		r = injected(e, "wep");
		goto out_wep;
	}

	/* 4. host routes and neighbours, IPv4 first */
	for (size_t i = 0; i < addrs.n; i++) {
		r = wl_plumb_host_route_add(a.host_ifname, &addrs.a[i], mac);
		if (r < 0) {
			cni_fail(e, r, CNI_ERR_INTERNAL, "host route to %s for %s: %s",
				 a.host_ifname, ip_addr_format(&addrs.a[i], buf), strerror(-r));
			goto out_wep;
		}
	}
	if (addrs_get(&addrs, AF_INET6)) {
		/* the container's IPv6 next hop must answer before ADD reports success */
		r = wl_plumb_host_gateway6_wait(a.host_ifname, WL_PLUMB_GATEWAY6_WAIT_MS);
		if (r < 0) {
			cni_fail(e, r, CNI_ERR_INTERNAL,
				 "host veth %s: IPv6 next hop %s not usable: %s", a.host_ifname,
				 WL_PLUMB_GATEWAY6, strerror(-r));
			goto out_wep;
		}
		if (fail_after("ipv6")) {
			r = injected(e, "ipv6");
			goto out_wep;
		}
	}
	if (fail_after("route")) {
		r = injected(e, "route");
		goto out_wep;
	}

	log_info("ADD %s: %s on %s mtu %u (container %s)", a.workload_id,
		 addrs_format(&addrs, buf, sizeof(buf)), a.host_ifname, mtu, env->container_id);
	print_add_result(&a, &addrs, mac);
	attach_done(&a);
	return 0;

out_wep:
	k = wep_delete(ds, &a, NULL, false);
	if (k < 0)
		log_error_errno(k, "undo: delete WorkloadEndpoint: %m");
out_veth:
	/* the host route and neighbour go with the link */
	k = wl_plumb_veth_delete(a.host_ifname, NULL);
	if (k < 0)
		log_error_errno(k, "undo: delete veth %s: %m", a.host_ifname);
out_ipam:
	ipam_undo(ds, &a);
out:
	attach_done(&a);
	return r;
}

static int cmd_del(const struct cni_conf *c, const struct cni_env *env, struct cni_error *e)
{
	_cleanup_(ds_client_freep) struct ds_client *ds = NULL;
	struct attach a;
	int r, k;

	r = attach_init(&a, c, env, false, e);
	if (r < 0)
		goto out;

	k = wl_plumb_veth_delete(a.host_ifname, env->container_id);
	if (k < 0)
		RET_GATHER(r, cni_fail(e, k, CNI_ERR_INTERNAL, "delete veth %s: %s", a.host_ifname,
				       strerror(-k)));

	k = cni_conf_datastore(c, &ds, e);
	if (k < 0) {
		RET_GATHER(r, k);
		goto out;
	}
	k = wep_delete(ds, &a, e, true);
	RET_GATHER(r, k);

	k = ipam_call(ds, &a, "DEL", e);
	RET_GATHER(r, k);
	if (r >= 0)
		log_info("DEL %s (container %s)", a.workload_id, env->container_id);
out:
	attach_done(&a);
	return r;
}

static int cmd_check(const struct cni_conf *c, const struct cni_env *env, struct cni_error *e)
{
	_cleanup_(ds_client_freep) struct ds_client *ds = NULL;
	_cleanup_(model_resource_freep) struct model_resource *wep = NULL;
	struct wl_addrs addrs = {};
	struct attach a;
	char why[256] = "";
	int r;

	if (c->version < CNI_VERSION_0_4_0)
		return cni_fail(e, -EINVAL, CNI_ERR_INCOMPATIBLE_VERSION,
				"CHECK needs cniVersion 0.4.0 or later, got %s", c->cni_version);
	if (!c->prev_result)
		return cni_fail(e, -EINVAL, CNI_ERR_INVALID_CONFIG, "prevResult: missing");
	r = result_ips(c->prev_result, &addrs, "prevResult", e);
	if (r < 0)
		return r;

	r = attach_init(&a, c, env, true, e);
	if (r < 0)
		goto out;
	r = cni_conf_datastore(c, &ds, e);
	if (r < 0)
		goto out;
	r = ipam_call(ds, &a, "CHECK", e);
	if (r < 0)
		goto out;
	r = wl_plumb_check(a.host_ifname, a.netns_fd, env->ifname, addrs.a, addrs.n, c->mtu, why,
			   sizeof(why));
	if (r == -ENOENT) {
		cni_fail(e, r, CNI_ERR_CHECK_FAILED, "%s", why);
		goto out;
	}
	if (r < 0) {
		cni_fail(e, r, CNI_ERR_INTERNAL, "check: %s", strerror(-r));
		goto out;
	}
	{
		struct wl_error we = {};

		r = wl_wep_read(ds, env->pod_namespace, a.wep_name, &wep, NULL, &we);
		if (r == -ENOENT)
			cni_fail(e, r, CNI_ERR_CHECK_FAILED, "%s", we.msg);
		else if (r < 0)
			cni_wl_error(e, r, &we, false, true);
	}
out:
	attach_done(&a);
	return r;
}

int main(int argc, char **argv)
{
	struct cni_error e = {};
	struct cni_conf c = {};
	struct cni_env env = {};
	const char *cmd = getenv("CNI_COMMAND");
	bool is_add, is_del, is_check;
	int r;

	log_set_ident("tabby");
	log_set_level(LOG_LEVEL_INFO);
	signal(SIGPIPE, SIG_IGN);

	if (!cmd || !*cmd) {
		cni_fail(&e, -EINVAL, CNI_ERR_INVALID_ENV, "CNI_COMMAND: missing");
		cni_error_print(NULL, &e);
		return 1;
	}
	if (strcmp(cmd, "VERSION") == 0) {
		cni_cmd_version();
		return 0;
	}
	is_add = strcmp(cmd, "ADD") == 0;
	is_del = strcmp(cmd, "DEL") == 0;
	is_check = strcmp(cmd, "CHECK") == 0;

	r = cni_conf_read(STDIN_FILENO, true, &c, &e);
	if (r >= 0 && c.log_level)
		log_set_level(log_parse_level(c.log_level));
	if (r >= 0 && !is_add && !is_del && !is_check)
		r = cni_fail(&e, -EINVAL, CNI_ERR_INVALID_ENV,
			     "CNI_COMMAND: unknown command \"%s\"", cmd);
	if (r >= 0)
		r = cni_env_read(&env, !is_del, true, &e);
	if (r >= 0) {
		if (is_add)
			r = cmd_add(&c, &env, &e);
		else if (is_del)
			r = cmd_del(&c, &env, &e);
		else
			r = cmd_check(&c, &env, &e);
	}
	if (r < 0)
		cni_report_failure(cmd, r, &c, &e);
	cni_env_done(&env);
	cni_conf_done(&c);
	return r < 0 ? 1 : 0;
}
