/* SPDX-License-Identifier: Apache-2.0 */
/**
 * DOC: tabby-docker, the libnetwork remote network and IPAM driver
 *
 * One Docker network created with "--driver tabby --ipam-driver tabby" is a routed tabby
 * network: every container on it is a WorkloadEndpoint (orchestrator "libnetwork", namespace =
 * the Docker network name), attached exactly like a CNI workload through wl-plumb (the veth,
 * host sysctls, host /32 route with our protocol and the permanent neighbour), so felix and
 * BIRD route it like any other workload. The same network name on several hosts is one network.
 *
 * Who does what (libnetwork's order of calls, observed with dockerd 20.10):
 *   IpamDriver.RequestPool    the tabby IPPool named by --ipam-opt tabby.pool=NAME, or the one
 *                             that holds --subnet (equal or larger), or every enabled pool inside
 *                             --subnet, or any enabled pool; the Pool answered is 0.0.0.0/0
 *                             unless --subnet was given (libnetwork would otherwise loop while a
 *                             host route overlaps the pool), the PoolID names the pool(s)
 *   IpamDriver.RequestAddress the gateway request gets 169.254.1.1/32 and allocates nothing;
 *                             an endpoint address comes from ipam_auto_assign() on this node, or
 *                             is exactly the one `docker run --ip` asked for (ipam_assign_ip():
 *                             any address of the network's pools; its block is claimed or
 *                             borrowed). dockerd itself refuses --ip on a network created without
 *                             --subnet ("user specified IP address is supported only when
 *                             connecting to networks with user configured subnets"), before the
 *                             driver is asked: give such a network a --subnet that is, holds or
 *                             lies in its pools
 *   NetworkDriver.CreateNetwork  checks --opt tabby.pool against the IPAM pool, remembers it
 *   NetworkDriver.CreateEndpoint veth (peer left in the host netns), WEP, host route+neighbour;
 *                             each step undone in reverse when a later one fails. The WEP's
 *                             named ports are the container's exposed ports, named
 *                             "<proto>-<port>" (Docker gives them no names)
 *   NetworkDriver.Join        SrcName = the peer; routes 169.254.1.1/32 (connected) and default
 *                             via 169.254.1.1, DisableGatewayService: the container ends up with
 *                             eth0 <ip>/32 and the same routes as a CNI workload
 *   DeleteEndpoint / ReleaseAddress  undo; both idempotent
 *
 * Dual-stack ("docker network create --ipv6"): libnetwork asks RequestPool once per family (V6
 * true for IPv6) with the same --ipam-opt options. An IPv6 request takes the IPv6 pool named by
 * --ipam-opt tabby.ipv6pool=NAME, else the one --subnet <IPv6 CIDR> names (holds or lies in, as
 * for IPv4), else any enabled IPv6 pool; tabby.pool names the IPv4 pool and is ignored by the
 * IPv6 request unless it names an IPv6 pool. Its PoolID starts with "tabby6:", so RequestAddress
 * assigns an IPv6 address (a /128, the same IPAM handle scheme); the IPv6 gateway request gets
 * fe80::ecee:eeff:feee:eeee/128, the host veth's link-local address (the EUI-64 address of
 * ee:ee:ee:ee:ee:ee), and allocates nothing. CreateEndpoint then gets Interface.AddressIPv6 as
 * well: the WEP lists both ipNetworks (IPv4 first) and the host routes both /32 and /128 to the
 * veth; Join adds "::/0 via fe80::ecee:eeff:feee:eeee" to the container's routes when the
 * network has IPv6, as the CNI plugin configures a dual-stack workload.
 *
 * Names: the libnetwork protocol gives the driver neither the container nor the network name.
 * The network name is read from dockerd (GET /networks/<id>) at the first CreateEndpoint and
 * remembered in the state directory; the container id, name and labels are read after Join
 * (GET /containers/json, matching the endpoint id) and written onto the WEP. Until the container
 * is known, the endpoint id stands in for the container id: the workload id (input of the veth
 * name) is "<network name>.<endpoint id>" and the WEP is "<node>-libnetwork-<endpoint id>-eth0",
 * both derivable again at DeleteEndpoint, so a restarted daemon needs no endpoint state.
 * RequestAddress knows neither the endpoint nor the network either, so its IPAM handle is
 * "libnetwork.<32 random hex>"; ReleaseAddress releases by address.
 *
 * Policy by Docker label, and its window: a policy that selects a container by one of its
 * Docker labels reaches the container only once the labels are on its WEP, i.e. after Join
 * (first look 100 ms after Join, then every 500 ms for a minute) plus felix's programming time.
 * Until then the endpoint carries no Docker labels, so a policy selecting it by label does not
 * apply yet: with no other policy it is open. The labels cannot be applied earlier:
 * CreateEndpoint and Join carry only exposed ports and the port map (observed with dockerd
 * 20.10), the container is listed by dockerd only with the endpoint id once Join has returned,
 * and guessing it among the network's stopped containers is unsound (a `docker network connect`
 * of a running container is not listed on the network at all until it completes). Instead the
 * WEP is written at CreateEndpoint, before the container runs, with the label
 * DK_LABEL_PENDING ("docker.tabby.io/labels-pending": "true"), which the container's labels
 * replace. An admin who wants the window closed applies a GlobalNetworkPolicy with selector
 * has(docker.tabby.io/labels-pending) that denies ingress and egress: a starting container is
 * then isolated until its labels arrive. The label also stays when the container is never found
 * (tabby-docker restarted between Join and the lookup, or dockerd unreachable for a minute), so
 * such endpoints stay isolated rather than open.
 */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "cni/wl-plumb.h"
#include "cni/workload.h"
#include "docker/dockerd-api.h"
#include "docker/driver.h"
#include "ipam/ipam.h"
#include "lib/fileio.h"
#include "lib/log.h"
#include "lib/strbuf.h"
#include "model/model.h"

#define POOL_ID_PREFIX "tabby:"
#define POOL_ID6_PREFIX "tabby6:" /* the same forms for an IPv6 pool: "tabby6:NAME", ... */
#define POOL_ID_ANY "*"
/* "tabby:in:a.b.c.d-len": every enabled pool inside that --subnet (pool names have no ':') */
#define POOL_ID_IN "in:"
#define _cleanup_model_list_ _cleanup_(model_list_done)
#define GATEWAY_ADDR "169.254.1.1"
#define GATEWAY6_ADDR WL_PLUMB_GATEWAY6 /* the host veth's EUI-64 link-local address */
#define CONTAINER_IFNAME "eth0"
#define LABEL_RETRY_MS 500
#define LABEL_MAX_TRIES 120 /* one minute */

struct dk_network {
	struct dk_network *next;
	char *id;
	char *name; /* Docker network name; NULL until read from dockerd */
	char *pool; /* IPPool name the network is bound to; NULL = any pool */
	bool ipv6;  /* created with --ipv6: endpoints get an IPv6 address and route too */
};

struct dk_pending {
	struct dk_pending *next;
	char *net_id;
	char *ep_id;
	unsigned tries;
	int64_t due_ms; /* CLOCK_MONOTONIC */
};

struct dk_driver {
	struct ds_client *ds;
	char *node;
	char *state_dir;
	char *docker_socket;
	struct dk_network *networks;
	size_t n_networks;
	struct dk_pending *pending;
	size_t n_pending;
};

/* ---- small helpers ---- */

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static const char *jstr(struct json_object *o, const char *key)
{
	struct json_object *v;

	if (!o || !json_object_object_get_ex(o, key, &v) ||
	    !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

static struct json_object *jobj(struct json_object *o, const char *key)
{
	struct json_object *v;

	if (!o || !json_object_object_get_ex(o, key, &v))
		return NULL;
	return v;
}

/* Docker ids are hex; network ids double as file names, so nothing else is accepted. */
static bool id_valid(const char *s)
{
	size_t n = s ? strlen(s) : 0;

	if (n == 0 || n > 128)
		return false;
	return strspn(s, "0123456789abcdefABCDEF") == n;
}

static void network_free(struct dk_network *n)
{
	if (!n)
		return;
	free(n->id);
	free(n->name);
	free(n->pool);
	free(n);
}

static void pending_free(struct dk_pending *p)
{
	if (!p)
		return;
	free(p->net_id);
	free(p->ep_id);
	free(p);
}

static void json_putp(struct json_object **o)
{
	if (*o)
		json_object_put(*o);
}

/* {"Err": "...", "Error": "..."}; libnetwork shows the text to the user. The NetworkDriver
 * protocol names the field "Err" (docs/remote.md); dockerd's IPAM client reads "Error" instead
 * (observed with dockerd 20.10: an answer with only "Err" was taken as success, and the empty
 * Pool then failed as "invalid CIDR address"). Both keys go into every error answer. */
static struct json_object *err_reply(const char *fmt, ...) _printf_(1, 2);
static struct json_object *err_reply(const char *fmt, ...)
{
	struct json_object *o = json_object_new_object();
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_warn("answering error: %s", msg);
	if (o) {
		json_object_object_add(o, "Err", json_object_new_string(msg));
		json_object_object_add(o, "Error", json_object_new_string(msg));
	}
	return o;
}

static const char *ds_cause(int r)
{
	switch (r) {
	case -ENOSPC:
		return "the tabby IP pool is exhausted";
	case -ENOENT:
		return "no usable tabby IP pool";
	case -EBUSY:
		return "too many concurrent IPAM updates, try again";
	case -ECONNREFUSED:
	case -EHOSTUNREACH:
	case -ETIMEDOUT:
	case -ECONNRESET:
		return "the tabby datastore is unreachable";
	case -EPROTO:
		return "the tabby datastore answered something unexpected";
	default:
		return strerror(-r);
	}
}

/* ---- network state (one JSON file per network) ---- */

static int state_path(const struct dk_driver *d, const char *id, char *buf, size_t len)
{
	int n = snprintf(buf, len, "%s/networks/%s.json", d->state_dir, id);

	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

static int network_save(const struct dk_driver *d, const struct dk_network *n)
{
	_cleanup_(json_putp) struct json_object *o = json_object_new_object();
	_cleanup_strbuf_ struct strbuf text = {0};
	char path[4096];
	const char *js;
	int r;

	if (!o)
		return -ENOMEM;
	json_object_object_add(o, "id", json_object_new_string(n->id));
	json_object_object_add(o, "name", n->name ? json_object_new_string(n->name) : NULL);
	json_object_object_add(o, "pool", n->pool ? json_object_new_string(n->pool) : NULL);
	json_object_object_add(o, "ipv6", json_object_new_boolean(n->ipv6));
	r = state_path(d, n->id, path, sizeof(path));
	if (r < 0)
		return r;
	js = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
	r = js ? strbuf_printf(&text, "%s\n", js) : -ENOMEM;
	if (r >= 0)
		r = file_write_atomic(path, text.buf, text.len, 0644);
	if (r < 0)
		return log_error_errno(r, "write %s: %m", path);
	return 0;
}

static struct dk_network *network_find(struct dk_driver *d, const char *id)
{
	for (struct dk_network *n = d->networks; n; n = n->next)
		if (strcmp(n->id, id) == 0)
			return n;
	return NULL;
}

static int network_add(struct dk_driver *d, const char *id, const char *name, const char *pool,
		       struct dk_network **ret)
{
	struct dk_network *n;

	if (d->n_networks >= DK_MAX_NETWORKS)
		return -E2BIG;
	n = calloc(1, sizeof(*n));
	if (!n)
		return -ENOMEM;
	n->id = strdup(id);
	n->name = name ? strdup(name) : NULL;
	n->pool = pool ? strdup(pool) : NULL;
	if (!n->id || (name && !n->name) || (pool && !n->pool)) {
		network_free(n);
		return -ENOMEM;
	}
	n->next = d->networks;
	d->networks = n;
	d->n_networks++;
	if (ret)
		*ret = n;
	return 0;
}

static void network_remove(struct dk_driver *d, const char *id)
{
	char path[4096];

	for (struct dk_network **pp = &d->networks; *pp; pp = &(*pp)->next) {
		if (strcmp((*pp)->id, id) == 0) {
			struct dk_network *n = *pp;

			*pp = n->next;
			network_free(n);
			d->n_networks--;
			break;
		}
	}
	if (state_path(d, id, path, sizeof(path)) >= 0 && unlink(path) < 0 && errno != ENOENT)
		log_warn_errno(-errno, "unlink %s: %m, ignoring", path);
}

static int networks_load(struct dk_driver *d)
{
	char dir[4096];
	DIR *dh;
	struct dirent *de;
	int r = 0;

	snprintf(dir, sizeof(dir), "%s/networks", d->state_dir);
	if (mkdir(d->state_dir, 0755) < 0 && errno != EEXIST)
		return log_error_errno(-errno, "mkdir %s: %m", d->state_dir);
	if (mkdir(dir, 0755) < 0 && errno != EEXIST)
		return log_error_errno(-errno, "mkdir %s: %m", dir);
	dh = opendir(dir);
	if (!dh)
		return log_error_errno(-errno, "opendir %s: %m", dir);
	while ((de = readdir(dh))) {
		_cleanup_(json_putp) struct json_object *o = NULL;
		struct dk_network *n = NULL;
		char path[4400];
		const char *id;
		size_t len = strlen(de->d_name);

		if (len < 6 || strcmp(de->d_name + len - 5, ".json") != 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		o = json_object_from_file(path);
		id = jstr(o, "id");
		if (!o || !id_valid(id)) {
			log_warn("%s: not a network state file, ignoring", path);
			continue;
		}
		r = network_add(d, id, jstr(o, "name"), jstr(o, "pool"), &n);
		if (r < 0)
			break;
		n->ipv6 = json_object_get_boolean(jobj(o, "ipv6"));
		log_debug("remembered network %s (%s)", id,
			  jstr(o, "name") ?: "name not known yet");
	}
	closedir(dh);
	return r;
}

/* The Docker network name, read once from dockerd. It is also the WEP namespace, so it must be
 * a lower-case RFC 1123 label. */
static int network_name(struct dk_driver *d, const char *id, const char **ret, char *why,
			size_t why_len)
{
	_cleanup_(json_putp) struct json_object *o = NULL;
	struct dk_network *n = network_find(d, id);
	struct wl_error we = {};
	char path[256];
	const char *name;
	int r;

	if (n && n->name) {
		*ret = n->name;
		return 0;
	}
	snprintf(path, sizeof(path), "/networks/%s", id);
	r = dk_api_get(d->docker_socket, path, &o);
	if (r < 0) {
		snprintf(why, why_len, "cannot read network %.12s from dockerd at %s: %s", id,
			 d->docker_socket, strerror(-r));
		return r;
	}
	name = jstr(o, "Name");
	r = wl_check_namespace("Docker network name", name, &we);
	if (r < 0) {
		snprintf(why, why_len, "%.300s (it becomes the endpoints' namespace)", we.msg);
		return r;
	}
	if (!n) {
		r = network_add(d, id, name, NULL, &n);
		if (r < 0) {
			snprintf(why, why_len, "cannot remember network: %s", strerror(-r));
			return r;
		}
	} else {
		n->name = strdup(name);
		if (!n->name)
			return -ENOMEM;
	}
	r = network_save(d, n);
	if (r < 0)
		log_warn_errno(r, "cannot save network %s state: %m, continuing", id);
	*ret = n->name;
	return 0;
}

/* ---- pools ---- */

static const char *family_name(int family)
{
	return family == AF_INET6 ? "IPv6" : "IPv4";
}

/* @p is enabled and of @family (AF_INET or AF_INET6). */
static int pool_usable(const struct model_resource *p, int family, char *why, size_t why_len)
{
	if (p->ippool.disabled) {
		snprintf(why, why_len, "tabby IP pool %s is disabled", p->meta.name);
		return -EINVAL;
	}
	if (p->ippool.cidr.addr.family != family) {
		snprintf(why, why_len, "tabby IP pool %s is not an %s pool", p->meta.name,
			 family_name(family));
		return -EAFNOSUPPORT;
	}
	return 0;
}

/*
 * The pool a network uses. By @name (then a --subnet @cidr, when given, must lie inside it or
 * hold it), else by @cidr: the enabled pool that holds @cidr (equal or larger), else, when
 * @cidr holds enabled pools, all of those (return 1, *@ret_name NULL): --subnet can be any
 * CIDR that overlaps the pools by containment, so `docker run --ip` works for any address of
 * the network's pools.
 * Only pools of @family (AF_INET or AF_INET6) qualify; a pool named by @name of the other
 * family is an error.
 * Return: 0 (one pool), 1 (the pools inside @cidr), or -errno with @why.
 */
static int pool_find(struct dk_driver *d, int family, const char *name,
		     const struct ip_prefix *cidr, char **ret_name, struct ip_prefix *ret_cidr,
		     char *why, size_t why_len)
{
	_cleanup_model_list_ struct model_list pools = {};
	const struct model_resource *found = NULL;
	char buf[IP_PREFIX_STRLEN], pbuf[IP_PREFIX_STRLEN];
	bool inside = false;
	int r;

	r = ipam_list_pools(d->ds, &pools);
	if (r < 0) {
		snprintf(why, why_len, "cannot read tabby IP pools: %s", ds_cause(r));
		return r;
	}
	for (size_t i = 0; i < pools.n && !found; i++) {
		const struct model_resource *p = pools.items[i];

		if (name ? strcmp(p->meta.name, name) == 0
			 : ip_prefix_contains(&p->ippool.cidr, cidr)) {
			r = pool_usable(p, family, why, why_len);
			if (r < 0)
				return r;
			found = p;
		}
	}
	if (!found && name) {
		snprintf(why, why_len, "no tabby IP pool named %s", name);
		return -ENOENT;
	}
	if (found && name && cidr && cidr->len > 0 &&
	    !ip_prefix_contains(&found->ippool.cidr, cidr) &&
	    !ip_prefix_contains(cidr, &found->ippool.cidr)) {
		snprintf(
		    why, why_len, "--subnet %s neither lies in nor holds tabby IP pool %s (%s)",
		    ip_prefix_format(cidr, buf), name, ip_prefix_format(&found->ippool.cidr, pbuf));
		return -EINVAL;
	}
	if (!found) {
		for (size_t i = 0; i < pools.n; i++) {
			const struct model_resource *p = pools.items[i];

			if (ip_prefix_contains(cidr, &p->ippool.cidr) &&
			    pool_usable(p, family, why, why_len) >= 0)
				inside = true;
		}
		if (!inside) {
			snprintf(why, why_len,
				 "no enabled tabby IP pool holds --subnet %s or lies inside it",
				 ip_prefix_format(cidr, buf));
			return -ENOENT;
		}
		if (ret_name)
			*ret_name = NULL;
		if (ret_cidr)
			*ret_cidr = *cidr;
		return 1;
	}
	if (ret_name) {
		*ret_name = strdup(found->meta.name);
		if (!*ret_name)
			return -ENOMEM;
	}
	if (ret_cidr)
		*ret_cidr = found->ippool.cidr;
	return 0;
}

static void names_free(char ***names)
{
	for (size_t i = 0; *names && (*names)[i]; i++)
		free((*names)[i]);
	free(*names);
	*names = NULL;
}

/* The names of the enabled pools inside @cidr (of its family): @ret NULL-terminated, malloc'ed. */
static int pools_inside(struct dk_driver *d, const struct ip_prefix *cidr, char ***ret)
{
	_cleanup_model_list_ struct model_list pools = {};
	_cleanup_(names_free) char **names = NULL;
	size_t n = 0;
	char why[128];
	int r;

	r = ipam_list_pools(d->ds, &pools);
	if (r < 0)
		return r;
	names = calloc(pools.n + 1, sizeof(*names));
	if (!names)
		return -ENOMEM;
	for (size_t i = 0; i < pools.n; i++) {
		const struct model_resource *p = pools.items[i];

		if (!ip_prefix_contains(cidr, &p->ippool.cidr) ||
		    pool_usable(p, cidr->addr.family, why, sizeof(why)) < 0)
			continue;
		names[n] = strdup(p->meta.name);
		if (!names[n])
			return -ENOMEM;
		n++;
	}
	if (n == 0)
		return -ENOENT;
	*ret = TAKE_PTR(names);
	return 0;
}

/* ---- WorkloadEndpoint (cni/workload.c: names, validation, build, write) ---- */

/* "<node>-libnetwork-<endpoint id>-eth0": the whole endpoint id, as for CNI the container id */
static int wep_name(const struct dk_driver *d, const char *ep_id, char **ret, char *why,
		    size_t why_len)
{
	struct wl_error we = {};
	int r = wl_wep_name(d->node, "libnetwork", ep_id, CONTAINER_IFNAME, ret, &we);

	if (r < 0)
		snprintf(why, why_len, "%s", we.msg);
	return r;
}

/*
 * The container's exposed ports (CreateEndpoint Options "com.docker.network.endpoint.exposedports",
 * [{"Proto":6,"Port":8080}]) as named ports. Docker gives them no names, so each is named
 * "<protocol>-<port>" ("tcp-8080", a valid Kubernetes port name): a policy rule can name it.
 * Protocols other than TCP, UDP and SCTP are skipped. Return: how many, at most @max.
 */
static size_t exposed_ports(struct json_object *req, struct model_named_port *ports,
			    char names[][16], size_t max)
{
	struct json_object *l =
	    jobj(jobj(req, "Options"), "com.docker.network.endpoint.exposedports");
	size_t n = 0;

	if (!l || !json_object_is_type(l, json_type_array))
		return 0;
	for (size_t i = 0; i < json_object_array_length(l) && n < max; i++) {
		struct json_object *e = json_object_array_get_idx(l, i), *pv, *prv;
		int proto, port;
		const char *pname;
		bool dup = false;

		if (!json_object_object_get_ex(e, "Proto", &prv) ||
		    !json_object_object_get_ex(e, "Port", &pv))
			continue;
		proto = json_object_get_int(prv);
		port = json_object_get_int(pv);
		pname = proto == 6 ? "tcp" : proto == 17 ? "udp" : proto == 132 ? "sctp" : NULL;
		if (!pname || port < 1 || port > 65535)
			continue;
		snprintf(names[n], sizeof(names[n]), "%s-%d", pname, port);
		for (size_t k = 0; k < n; k++)
			dup = dup || strcmp(names[k], names[n]) == 0;
		if (dup)
			continue; /* listed twice */
		ports[n] =
		    (struct model_named_port){.name = names[n],
					      .protocol = {.set = true, .number = (uint8_t)proto},
					      .port = (uint16_t)port};
		n++;
	}
	return n;
}

static int wep_write(struct dk_driver *d, const char *ns, const char *ep_id,
		     const char *host_ifname, const struct ip_addr *addrs, size_t n_addrs,
		     const char *mac, const struct model_named_port *ports, size_t n_ports,
		     char *why, size_t why_len)
{
	struct model_labels pending = {};
	struct wl_error we = {};
	int r;

	/* the container's labels come after Join: until then the endpoint says so (fail-closed
	 * hook) */
	r = model_labels_set(&pending, DK_LABEL_PENDING, "true");
	if (r < 0) {
		snprintf(why, why_len, "out of memory");
		return r;
	}
	r = wl_wep_write(d->ds,
			 &(struct wl_endpoint){
			     .orchestrator = "libnetwork",
			     .node = d->node,
			     .namespace = ns,
			     .workload_id = ep_id,
			     .endpoint = CONTAINER_IFNAME,
			     .interface_name = host_ifname,
			     .mac = mac,
			     .addrs = addrs,
			     .n_addrs = n_addrs,
			     .labels = &pending,
			     .ports = ports,
			     .n_ports = n_ports,
			 },
			 &we);
	model_labels_done(&pending);
	if (r < 0)
		snprintf(why, why_len, "%s", we.msg);
	return r;
}

static int wep_delete(struct dk_driver *d, const char *ns, const char *ep_id, char *why,
		      size_t why_len)
{
	_cleanup_free_ char *name = NULL;
	struct wl_error we = {};
	int r;

	r = wep_name(d, ep_id, &name, why, why_len);
	if (r < 0)
		return r;
	r = wl_wep_delete(d->ds, ns, name, NULL, &we);
	if (r < 0)
		snprintf(why, why_len, "%s", we.msg);
	return r;
}

/* Copy the container's id, name and labels onto the WEP (compare-and-swap on its revision).
 * Labels that are no valid Kubernetes labels are skipped (cni/workload.c has the rules). */
static int wep_set_container(struct dk_driver *d, const char *ns, const char *ep_id,
			     struct json_object *container)
{
	_cleanup_(model_resource_freep) struct model_resource *w = NULL;
	_cleanup_free_ char *name = NULL;
	struct json_object *labels = jobj(container, "Labels"), *names = jobj(container, "Names");
	const char *cid = jstr(container, "Id"), *cname = NULL;
	struct wl_error we = {};
	char why[384];
	int64_t rev = 0;
	int r;

	if (!cid)
		return -EPROTO;
	if (names && json_object_is_type(names, json_type_array) &&
	    json_object_array_length(names) > 0)
		cname = json_object_get_string(json_object_array_get_idx(names, 0));
	if (cname && cname[0] == '/')
		cname++;
	r = wep_name(d, ep_id, &name, why, sizeof(why));
	if (r < 0)
		return log_error_errno(r, "%s", why);
	r = wl_wep_read(d->ds, ns, name, &w, &rev, &we);
	if (r == -ENOENT)
		return r; /* the endpoint went away meanwhile */
	if (r < 0)
		return log_error_errno(r, "%s", we.msg);
	free(w->wep.container_id);
	w->wep.container_id = strdup(cid);
	free(w->wep.workload);
	w->wep.workload = cname ? strdup(cname) : NULL;
	if (!w->wep.container_id || (cname && !w->wep.workload))
		return -ENOMEM;
	/* the container's labels replace whatever the WEP had, DK_LABEL_PENDING included */
	model_labels_done(&w->meta.labels);
	if (labels && json_object_is_type(labels, json_type_object)) {
		json_object_object_foreach(labels, lk, lv)
		{
			const char *v = json_object_get_string(lv);
			struct wl_error le = {};

			if (strcmp(lk, DK_LABEL_PENDING) == 0)
				continue; /* reserved: a container cannot claim to be labelled */
			if (wl_check_label("label", lk, v, &le) < 0) {
				log_warn("container %.12s: %s, ignoring", cid, le.msg);
				continue;
			}
			r = model_labels_set(&w->meta.labels, lk, v);
			if (r < 0)
				return r;
		}
	}
	r = wl_wep_update(d->ds, w, rev, &we);
	if (r < 0 && r != -ESTALE)
		log_error_errno(r, "%s", we.msg);
	if (r < 0)
		return r;
	log_info("%s/%s: container %.12s (%s), %zu labels", ns, name, cid, cname ?: "",
		 w->meta.labels.n);
	return 0;
}

static bool mac_valid(const char *s)
{
	unsigned v[6];
	char end;

	return strlen(s) == 17 && sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%c", &v[0], &v[1], &v[2], &v[3],
					 &v[4], &v[5], &end) == 6;
}

struct ep_names {
	char host[WL_PLUMB_IFNAMSIZ];
	char peer[WL_PLUMB_IFNAMSIZ];
};

static int ep_names(const char *ns, const char *ep_id, struct ep_names *ret)
{
	_cleanup_free_ char *wid = NULL;

	if (asprintf(&wid, "%s.%s", ns, ep_id) < 0)
		return -ENOMEM;
	wl_plumb_host_ifname(wid, ret->host);
	return wl_plumb_peer_ifname(ret->host, ret->peer);
}

/* ---- NetworkDriver ---- */

static struct json_object *nd_create_network(struct dk_driver *d, struct json_object *req)
{
	const char *id = jstr(req, "NetworkID");
	struct json_object *opts = jobj(req, "Options");
	struct json_object *generic = jobj(opts, "com.docker.network.generic");
	const char *want = jstr(generic, "tabby.pool");
	struct json_object *v4 = jobj(req, "IPv4Data"), *v6 = jobj(req, "IPv6Data"), *ipd;
	_cleanup_free_ char *ipam_pool = NULL;
	struct dk_network *n;
	const char *space, *cidr_s;
	struct ip_prefix cidr;
	char why[384];
	int r;

	if (!id_valid(id))
		return err_reply("NetworkID: missing or not a Docker id");
	bool ipv6 =
	    v6 && json_object_is_type(v6, json_type_array) && json_object_array_length(v6) > 0;

	if (ipv6) {
		const char *s6;
		struct ip_prefix c6;

		if (json_object_array_length(v6) != 1)
			return err_reply("a tabby network takes at most one IPv6 pool");
		s6 = jstr(json_object_array_get_idx(v6, 0), "Pool");
		if (!s6 || ip_prefix_parse(s6, false, &c6) < 0 || c6.addr.family != AF_INET6)
			return err_reply("IPv6Data.Pool: invalid \"%s\"", s6 ?: "");
		if (c6.len != 0) {
			r = pool_find(d, AF_INET6, NULL, &c6, NULL, NULL, why, sizeof(why));
			if (r < 0)
				return err_reply("%s", why);
		}
	}
	if (!v4 || !json_object_is_type(v4, json_type_array) || json_object_array_length(v4) != 1)
		return err_reply(
		    "a tabby network needs exactly one IPv4 pool (--ipam-driver tabby)");
	ipd = json_object_array_get_idx(v4, 0);
	space = jstr(ipd, "AddressSpace");
	cidr_s = jstr(ipd, "Pool");
	if (!space || (strcmp(space, "tabby-local") != 0 && strcmp(space, "tabby-global") != 0))
		return err_reply("the tabby network driver needs the tabby IPAM driver: "
				 "docker network create --driver tabby --ipam-driver tabby ...");
	if (!cidr_s || ip_prefix_parse(cidr_s, false, &cidr) < 0)
		return err_reply("IPv4Data.Pool: invalid \"%s\"", cidr_s ?: "");
	if (cidr.len != 0) {
		r = pool_find(d, AF_INET, NULL, &cidr, &ipam_pool, NULL, why, sizeof(why));
		if (r < 0)
			return err_reply("%s", why);
	}
	if (want) {
		_cleanup_free_ char *found = NULL;

		r = pool_find(d, AF_INET, want, NULL, &found, NULL, why, sizeof(why));
		if (r < 0)
			return err_reply("%s", why);
		/* IPv4Data.Pool is 0.0.0.0/0 unless --subnet was given (ipam_request_pool): then
		 * only the IPAM side knows the pool, and --ipam-opt tabby.pool decides */
		if (!ipam_pool) {
			ipam_pool = strdup(want);
			if (!ipam_pool)
				return err_reply("out of memory");
		} else if (strcmp(ipam_pool, want) != 0) {
			return err_reply("--opt tabby.pool=%s disagrees with the IPAM pool %s",
					 want, ipam_pool);
		}
	}
	n = network_find(d, id);
	if (!n) {
		r = network_add(d, id, NULL, ipam_pool, &n);
		if (r < 0)
			return err_reply("cannot remember network: %s", strerror(-r));
	}
	n->ipv6 = ipv6;
	r = network_save(d, n);
	if (r < 0) {
		network_remove(d, id);
		return err_reply("cannot save network state in %s: %s", d->state_dir, strerror(-r));
	}
	log_info("created network %.12s (pool %s%s)", id, ipam_pool ?: "any", ipv6 ? ", IPv6" : "");
	return json_object_new_object();
}

static struct json_object *nd_delete_network(struct dk_driver *d, struct json_object *req)
{
	const char *id = jstr(req, "NetworkID");

	if (!id_valid(id))
		return err_reply("NetworkID: missing or not a Docker id");
	network_remove(d, id);
	log_info("deleted network %.12s", id);
	return json_object_new_object();
}

static struct json_object *nd_create_endpoint(struct dk_driver *d, struct json_object *req)
{
	const char *nid = jstr(req, "NetworkID"), *eid = jstr(req, "EndpointID");
	struct json_object *iface = jobj(req, "Interface"), *reply, *ri;
	const char *addr_s = jstr(iface, "Address"), *req_mac = jstr(iface, "MacAddress");
	const char *addr6_s = jstr(iface, "AddressIPv6");
	const char *ns;
	struct ep_names names;
	struct ip_prefix p, p6;
	struct ip_addr addrs[2];
	size_t n_addrs = 1;
	struct model_named_port ports[MODEL_MAX_NAMED_PORTS];
	char port_names[MODEL_MAX_NAMED_PORTS][16];
	size_t n_ports;
	char mac[WL_PLUMB_MAC_STRLEN], why[384], buf[IP_ADDR_STRLEN], buf6[IP_ADDR_STRLEN];
	int r, k;

	if (!id_valid(nid) || !id_valid(eid))
		return err_reply("NetworkID/EndpointID: missing or not a Docker id");
	if (!addr_s || !*addr_s || ip_prefix_parse(addr_s, false, &p) < 0 ||
	    p.addr.family != AF_INET)
		return err_reply("endpoint has no IPv4 address: create the network with "
				 "--ipam-driver tabby");
	addrs[0] = p.addr;
	if (addr6_s && *addr6_s) {
		if (ip_prefix_parse(addr6_s, false, &p6) < 0 || p6.addr.family != AF_INET6)
			return err_reply("Interface.AddressIPv6: invalid \"%s\"", addr6_s);
		addrs[n_addrs++] = p6.addr;
	}
	if (req_mac && *req_mac && !mac_valid(req_mac))
		return err_reply("Interface.MacAddress: invalid \"%s\"", req_mac);
	r = network_name(d, nid, &ns, why, sizeof(why));
	if (r < 0)
		return err_reply("%s", why);
	r = ep_names(ns, eid, &names);
	if (r < 0)
		return err_reply("veth name: %s", strerror(-r));

	/* 1. veth, the container end stays in this netns until libnetwork moves it */
	r = wl_plumb_veth_create(names.host, names.peer, -1, 0, eid, NULL);
	if (r < 0)
		return err_reply("create veth %s: %s", names.host, strerror(-r));
	if (req_mac && *req_mac) {
		snprintf(mac, sizeof(mac), "%s", req_mac); /* libnetwork sets it when moving */
	} else {
		r = wl_plumb_link_mac(names.peer, mac);
		if (r < 0) {
			reply = err_reply("read MAC of %s: %s", names.peer, strerror(-r));
			goto out_veth;
		}
	}

	/* 2. endpoint */
	n_ports = exposed_ports(req, ports, port_names, ELEMENTSOF(ports));
	r = wep_write(d, ns, eid, names.host, addrs, n_addrs, mac, ports, n_ports, why,
		      sizeof(why));
	if (r < 0) {
		reply = err_reply("write WorkloadEndpoint: %s", why);
		goto out_veth;
	}

	/* 3. host route and neighbour, per address (the veth's deletion undoes them) */
	for (size_t i = 0; i < n_addrs; i++) {
		r = wl_plumb_host_route_add(names.host, &addrs[i], mac);
		if (r < 0) {
			reply = err_reply("host route for %s to %s: %s",
					  ip_addr_format(&addrs[i], buf), names.host, strerror(-r));
			goto out_wep;
		}
	}

	log_info("endpoint %.12s on %s: %s%s%s on %s, mac %s", eid, ns,
		 ip_addr_format(&p.addr, buf), n_addrs > 1 ? " and " : "",
		 n_addrs > 1 ? ip_addr_format(&addrs[1], buf6) : "", names.host, mac);
	reply = json_object_new_object();
	ri = json_object_new_object();
	if (!req_mac || !*req_mac)
		json_object_object_add(ri, "MacAddress", json_object_new_string(mac));
	json_object_object_add(reply, "Interface", ri);
	return reply;

out_wep:
	k = wep_delete(d, ns, eid, why, sizeof(why));
	if (k < 0)
		log_error("undo: delete WorkloadEndpoint: %s", why);
out_veth:
	k = wl_plumb_veth_delete(names.host, NULL);
	if (k < 0)
		log_error_errno(k, "undo: delete veth %s: %m", names.host);
	return reply;
}

static void pending_drop(struct dk_driver *d, const char *eid)
{
	for (struct dk_pending **pp = &d->pending; *pp;) {
		struct dk_pending *p = *pp;

		if (strcmp(p->ep_id, eid) == 0) {
			*pp = p->next;
			pending_free(p);
			d->n_pending--;
		} else {
			pp = &p->next;
		}
	}
}

static struct json_object *nd_delete_endpoint(struct dk_driver *d, struct json_object *req)
{
	const char *nid = jstr(req, "NetworkID"), *eid = jstr(req, "EndpointID");
	const char *ns;
	struct ep_names names;
	char why[384];
	int r;

	if (!id_valid(nid) || !id_valid(eid))
		return err_reply("NetworkID/EndpointID: missing or not a Docker id");
	pending_drop(d, eid);
	r = network_name(d, nid, &ns, why, sizeof(why));
	if (r < 0)
		return err_reply("%s", why);
	r = ep_names(ns, eid, &names);
	if (r < 0)
		return err_reply("veth name: %s", strerror(-r));
	r = wl_plumb_veth_delete(names.host, eid);
	if (r < 0)
		return err_reply("delete veth %s: %s", names.host, strerror(-r));
	r = wep_delete(d, ns, eid, why, sizeof(why));
	if (r < 0)
		return err_reply("delete WorkloadEndpoint: %s", why);
	log_info("endpoint %.12s on %s deleted", eid, ns);
	return json_object_new_object();
}

static struct json_object *static_route(const char *dst, int type, const char *nexthop)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "Destination", json_object_new_string(dst));
	json_object_object_add(o, "RouteType", json_object_new_int(type));
	if (nexthop)
		json_object_object_add(o, "NextHop", json_object_new_string(nexthop));
	return o;
}

static struct json_object *nd_join(struct dk_driver *d, struct json_object *req)
{
	const char *nid = jstr(req, "NetworkID"), *eid = jstr(req, "EndpointID");
	struct json_object *reply, *ifn, *routes;
	struct dk_network *n;
	struct dk_pending *p;
	struct ep_names names;
	const char *ns;
	char mac[WL_PLUMB_MAC_STRLEN], why[384];
	int r;

	if (!id_valid(nid) || !id_valid(eid))
		return err_reply("NetworkID/EndpointID: missing or not a Docker id");
	r = network_name(d, nid, &ns, why, sizeof(why));
	if (r < 0)
		return err_reply("%s", why);
	r = ep_names(ns, eid, &names);
	if (r < 0)
		return err_reply("veth name: %s", strerror(-r));
	if (wl_plumb_link_mac(names.peer, mac) < 0)
		return err_reply("the container end %s of endpoint %.12s is missing", names.peer,
				 eid);

	reply = json_object_new_object();
	ifn = json_object_new_object();
	json_object_object_add(ifn, "SrcName", json_object_new_string(names.peer));
	json_object_object_add(ifn, "DstPrefix", json_object_new_string("eth"));
	json_object_object_add(reply, "InterfaceName", ifn);
	/* the gateway is not in the /32, so it cannot be "Gateway": a connected route to it and
	 * a default via it, exactly what wl-plumb gives a CNI container */
	routes = json_object_new_array();
	json_object_array_add(routes, static_route(DK_GATEWAY_CIDR, 1, NULL));
	json_object_array_add(routes, static_route("0.0.0.0/0", 0, GATEWAY_ADDR));
	n = network_find(d, nid);
	if (n && n->ipv6) /* the host veth's link-local address is the IPv6 next hop */
		json_object_array_add(routes, static_route("::/0", 0, GATEWAY6_ADDR));
	json_object_object_add(reply, "StaticRoutes", routes);
	json_object_object_add(reply, "DisableGatewayService", json_object_new_boolean(true));

	/* the container is visible in dockerd's API only after this answer: look later */
	pending_drop(d, eid);
	if (d->n_pending < DK_MAX_PENDING && (p = calloc(1, sizeof(*p)))) {
		p->net_id = strdup(nid);
		p->ep_id = strdup(eid);
		p->due_ms = now_ms() + LABEL_RETRY_MS / 5;
		if (p->net_id && p->ep_id) {
			p->next = d->pending;
			d->pending = p;
			d->n_pending++;
		} else {
			pending_free(p);
		}
	} else {
		log_warn("endpoint %.12s: too many pending label lookups, its WEP keeps no labels",
			 eid);
	}
	log_info("join %.12s: %s -> eth*", eid, names.peer);
	return reply;
}

static struct json_object *nd_leave(struct dk_driver *d, struct json_object *req)
{
	const char *eid = jstr(req, "EndpointID");

	if (eid)
		pending_drop(d, eid);
	return json_object_new_object();
}

static struct json_object *nd_oper_info(struct dk_driver *d, struct json_object *req)
{
	struct json_object *reply = json_object_new_object();

	json_object_object_add(reply, "Value", json_object_new_object());
	return reply;
}

static struct json_object *nd_capabilities(struct dk_driver *d, struct json_object *req)
{
	struct json_object *reply = json_object_new_object();

	json_object_object_add(reply, "Scope", json_object_new_string("local"));
	json_object_object_add(reply, "ConnectivityScope", json_object_new_string("global"));
	return reply;
}

static struct json_object *empty(struct dk_driver *d, struct json_object *req)
{
	return json_object_new_object();
}

static struct json_object *activate(struct dk_driver *d, struct json_object *req)
{
	struct json_object *reply = json_object_new_object(), *impl = json_object_new_array();

	json_object_array_add(impl, json_object_new_string("NetworkDriver"));
	json_object_array_add(impl, json_object_new_string("IpamDriver"));
	json_object_object_add(reply, "Implements", impl);
	return reply;
}

/* ---- IpamDriver ---- */

static struct json_object *ipam_capabilities(struct dk_driver *d, struct json_object *req)
{
	struct json_object *reply = json_object_new_object();

	json_object_object_add(reply, "RequiresMACAddress", json_object_new_boolean(false));
	return reply;
}

static struct json_object *ipam_spaces(struct dk_driver *d, struct json_object *req)
{
	struct json_object *reply = json_object_new_object();

	json_object_object_add(reply, "LocalDefaultAddressSpace",
			       json_object_new_string("tabby-local"));
	json_object_object_add(reply, "GlobalDefaultAddressSpace",
			       json_object_new_string("tabby-global"));
	return reply;
}

/* The PoolID prefix of @family: "tabby:" (IPv4) or "tabby6:" (IPv6). */
static const char *pool_id_prefix(int family)
{
	return family == AF_INET6 ? POOL_ID6_PREFIX : POOL_ID_PREFIX;
}

/* The family of a tabby PoolID, and the part after its prefix in @ret_rest; 0 when @id is not
 * one of ours. */
static int pool_id_parse(const char *id, const char **ret_rest)
{
	if (id && strncmp(id, POOL_ID6_PREFIX, strlen(POOL_ID6_PREFIX)) == 0) {
		*ret_rest = id + strlen(POOL_ID6_PREFIX);
		return AF_INET6;
	}
	if (id && strncmp(id, POOL_ID_PREFIX, strlen(POOL_ID_PREFIX)) == 0) {
		*ret_rest = id + strlen(POOL_ID_PREFIX);
		return AF_INET;
	}
	return 0;
}

/* The pool name --ipam-opt gives for @family: IPv4 tabby.pool; IPv6 tabby.ipv6pool, else
 * tabby.pool when that names an IPv6 pool (libnetwork passes one set of options to both
 * families' RequestPool, so an IPv4 tabby.pool is not the IPv6 request's business). */
static const char *pool_opt(struct dk_driver *d, struct json_object *opts, int family)
{
	_cleanup_model_list_ struct model_list pools = {};
	const char *name = jstr(opts, "tabby.pool"), *name6 = jstr(opts, "tabby.ipv6pool");

	if (family == AF_INET || name6)
		return family == AF_INET ? name : name6;
	if (!name || ipam_list_pools(d->ds, &pools) < 0)
		return name; /* pool_find then reports it */
	for (size_t i = 0; i < pools.n; i++)
		if (strcmp(pools.items[i]->meta.name, name) == 0)
			return pools.items[i]->ippool.cidr.addr.family == AF_INET6 ? name : NULL;
	return name;
}

static struct json_object *ipam_request_pool(struct dk_driver *d, struct json_object *req)
{
	const char *pool_s = jstr(req, "Pool"), *sub = jstr(req, "SubPool");
	struct json_object *v6 = jobj(req, "V6"), *reply;
	int family = v6 && json_object_get_boolean(v6) ? AF_INET6 : AF_INET;
	const char *name = pool_opt(d, jobj(req, "Options"), family);
	_cleanup_free_ char *found = NULL;
	struct ip_prefix want = {}, cidr = {};
	char why[384], buf[IP_PREFIX_STRLEN], id[MODEL_NAME_MAX + 64];
	bool have_cidr = pool_s && *pool_s;
	int r;

	if (sub && *sub)
		return err_reply("--ip-range is not supported: addresses come from the tabby "
				 "pool's blocks");
	if (have_cidr && (ip_prefix_parse(pool_s, false, &want) < 0 || want.addr.family != family))
		return err_reply("Pool: invalid %s CIDR \"%s\"", family_name(family), pool_s);
	if (name || have_cidr) {
		r = pool_find(d, family, name, have_cidr ? &want : NULL, &found, &cidr, why,
			      sizeof(why));
		if (r < 0)
			return err_reply("%s", why);
		if (r == 1) {
			/* --subnet holds pools: the network uses each of them */
			char *dash;

			snprintf(id, sizeof(id), "%s%s%s", pool_id_prefix(family), POOL_ID_IN,
				 ip_prefix_format(&want, buf));
			dash = strrchr(id, '/');
			if (dash)
				*dash = '-';
		} else {
			snprintf(id, sizeof(id), "%s%s", pool_id_prefix(family), found);
		}
		/* Without --subnet, libnetwork checks a returned pool against the host's routes
		 * and asks again, forever, while any route overlaps it (requestPoolHelper; every
		 * host of a tabby cluster routes parts of the pool). 0.0.0.0/0 (::/0) skips that
		 * check (types.IsIPNetValid), as Calico's IPAM driver does; PoolID keeps the name.
		 * With --subnet, the answer is --subnet itself: dockerd accepts --ip only inside
		 * it, and the pool check above made sure it lies in or holds tabby pools. */
		if (!have_cidr)
			cidr = (struct ip_prefix){.addr = {.family = family}, .len = 0};
		else
			cidr = want;
	} else {
		if (family == AF_INET6) { /* there must be one, or every address request fails */
			_cleanup_model_list_ struct model_list pools = {};
			bool any = false;

			r = ipam_list_pools(d->ds, &pools);
			if (r < 0)
				return err_reply("cannot read tabby IP pools: %s", ds_cause(r));
			for (size_t i = 0; i < pools.n && !any; i++)
				any = pool_usable(pools.items[i], AF_INET6, why, sizeof(why)) >= 0;
			if (!any)
				return err_reply("--ipv6: there is no enabled tabby IPv6 pool");
		}
		snprintf(id, sizeof(id), "%s%s", pool_id_prefix(family), POOL_ID_ANY);
		cidr = (struct ip_prefix){.addr = {.family = family}, .len = 0};
	}
	reply = json_object_new_object();
	json_object_object_add(reply, "PoolID", json_object_new_string(id));
	json_object_object_add(reply, "Pool", json_object_new_string(ip_prefix_format(&cidr, buf)));
	json_object_object_add(reply, "Data", json_object_new_object());
	log_info("pool %s -> %s", id, buf);
	return reply;
}

static bool is_gateway_request(struct json_object *req)
{
	const char *t = jstr(jobj(req, "Options"), "RequestAddressType");

	return t && strcmp(t, "com.docker.network.gateway") == 0;
}

static struct json_object *ipam_request_address(struct dk_driver *d, struct json_object *req)
{
	const char *pool_id = jstr(req, "PoolID"), *pref = jstr(req, "Address"), *rest = NULL;
	const char *names[2] = {};
	_cleanup_(names_free) char **in_names = NULL;
	int family = pool_id_parse(pool_id, &rest);
	struct ipam_assign_args args = {.node = d->node, .family = family};
	struct model_labels attrs = {};
	struct json_object *reply;
	struct ip_addr addr;
	uint8_t rnd[16];
	char handle[64], buf[IP_ADDR_STRLEN], cidr[IP_PREFIX_STRLEN];
	int r;

	if (!family)
		return err_reply("PoolID: \"%s\" is not a tabby pool", pool_id ?: "");
	if (is_gateway_request(req)) {
		/* proxy-ARP answers for 169.254.1.1 on every veth, and the host veth's link-local
		 * address is the IPv6 gateway: nothing to allocate */
		reply = json_object_new_object();
		json_object_object_add(reply, "Address",
				       json_object_new_string(family == AF_INET6
								  ? GATEWAY6_ADDR "/128"
								  : DK_GATEWAY_CIDR));
		json_object_object_add(reply, "Data", json_object_new_object());
		return reply;
	}
	if (strncmp(rest, POOL_ID_IN, strlen(POOL_ID_IN)) == 0) {
		char cbuf[IP_PREFIX_STRLEN], *dash;
		struct ip_prefix in;

		snprintf(cbuf, sizeof(cbuf), "%s", rest + strlen(POOL_ID_IN));
		dash = strrchr(cbuf, '-');
		if (dash)
			*dash = '/';
		if (!dash || ip_prefix_parse(cbuf, false, &in) < 0 || in.addr.family != family)
			return err_reply("PoolID: \"%s\" is not a tabby pool", pool_id);
		r = pools_inside(d, &in, &in_names);
		if (r < 0)
			return err_reply("no enabled tabby IP pool inside %s: %s", cbuf,
					 r == -ENOENT ? "none left" : ds_cause(r));
		args.pool_names = (const char *const *)in_names;
	} else if (strcmp(rest, POOL_ID_ANY) != 0) {
		names[0] = rest;
		args.pool_names = names;
	}
	if (getrandom(rnd, sizeof(rnd), 0) != sizeof(rnd))
		return err_reply("getrandom: %s", strerror(errno));
	strcpy(handle, "libnetwork.");
	for (size_t i = 0; i < sizeof(rnd); i++)
		snprintf(handle + strlen(handle), sizeof(handle) - strlen(handle), "%02x", rnd[i]);
	args.handle = handle;
	if (model_labels_set(&attrs, "node", d->node) < 0)
		return err_reply("out of memory");
	args.attrs = &attrs;

	if (pref && *pref) {
		if (ip_addr_parse(pref, &addr) < 0 || addr.family != family) {
			model_labels_done(&attrs);
			return err_reply("Address: invalid %s address \"%s\"", family_name(family),
					 pref);
		}
		r = ipam_assign_ip(d->ds, &args, &addr);
		if (r == -EEXIST) {
			model_labels_done(&attrs);
			return err_reply("address %s is already in use", pref);
		}
		if (r == -ENOENT) {
			model_labels_done(&attrs);
			return err_reply("address %s is in no tabby IP pool", pref);
		}
	} else {
		r = ipam_auto_assign(d->ds, &args, &addr, NULL);
	}
	model_labels_done(&attrs);
	if (r == -ENOSPC && names[0])
		return err_reply("tabby IP pool %s is exhausted", names[0]);
	if (r < 0)
		return err_reply("cannot assign an %s address: %s", family_name(family),
				 ds_cause(r));
	snprintf(cidr, sizeof(cidr), "%s/%d", ip_addr_format(&addr, buf),
		 family == AF_INET6 ? 128 : 32);
	log_info("assigned %s (handle %s)", cidr, handle);
	reply = json_object_new_object();
	json_object_object_add(reply, "Address", json_object_new_string(cidr));
	json_object_object_add(reply, "Data", json_object_new_object());
	return reply;
}

static struct json_object *ipam_release_address(struct dk_driver *d, struct json_object *req)
{
	const char *a = jstr(req, "Address");
	struct ip_addr addr, gw;
	int r;

	if (!a || ip_addr_parse(a, &addr) < 0)
		return err_reply("Address: invalid \"%s\"", a ?: "");
	if (ip_addr_parse(addr.family == AF_INET6 ? GATEWAY6_ADDR : GATEWAY_ADDR, &gw) >= 0 &&
	    ip_addr_equal(&addr, &gw))
		return json_object_new_object();
	r = ipam_release_addr(d->ds, &addr, -1);
	if (r == -ESTALE)
		r = 0; /* someone else holds it by now: not ours to free */
	if (r < 0)
		return err_reply("cannot release %s: %s", a, ds_cause(r));
	log_info("released %s", a);
	return json_object_new_object();
}

/* ---- dispatch ---- */

static const struct {
	const char *path;
	struct json_object *(*fn)(struct dk_driver *d, struct json_object *req);
} methods[] = {
    {"/Plugin.Activate", activate},
    {"/NetworkDriver.GetCapabilities", nd_capabilities},
    {"/NetworkDriver.CreateNetwork", nd_create_network},
    {"/NetworkDriver.DeleteNetwork", nd_delete_network},
    {"/NetworkDriver.CreateEndpoint", nd_create_endpoint},
    {"/NetworkDriver.DeleteEndpoint", nd_delete_endpoint},
    {"/NetworkDriver.EndpointOperInfo", nd_oper_info},
    {"/NetworkDriver.Join", nd_join},
    {"/NetworkDriver.Leave", nd_leave},
    {"/NetworkDriver.DiscoverNew", empty},
    {"/NetworkDriver.DiscoverDelete", empty},
    {"/NetworkDriver.ProgramExternalConnectivity", empty},
    {"/NetworkDriver.RevokeExternalConnectivity", empty},
    {"/NetworkDriver.AllocateNetwork", empty},
    {"/NetworkDriver.FreeNetwork", empty},
    {"/IpamDriver.GetCapabilities", ipam_capabilities},
    {"/IpamDriver.GetDefaultAddressSpaces", ipam_spaces},
    {"/IpamDriver.RequestPool", ipam_request_pool},
    {"/IpamDriver.ReleasePool", empty},
    {"/IpamDriver.RequestAddress", ipam_request_address},
    {"/IpamDriver.ReleaseAddress", ipam_release_address},
};

int dk_driver_handle(struct dk_driver *d, const char *path, const char *body, int *ret_status,
		     char **ret_body)
{
	_cleanup_(json_putp) struct json_object *req = NULL;
	_cleanup_(json_putp) struct json_object *reply = NULL;
	char *text;

	for (size_t i = 0; i < ELEMENTSOF(methods); i++) {
		if (strcmp(path, methods[i].path) != 0)
			continue;
		log_debug("%s %s", path, body);
		if (body && *body) {
			req = json_tokener_parse(body);
			if (!req || !json_object_is_type(req, json_type_object)) {
				text = strdup("{\"Err\":\"request body is not a JSON object\"}");
				if (!text)
					return -ENOMEM;
				*ret_status = 400;
				*ret_body = text;
				return 0;
			}
		}
		reply = methods[i].fn(d, req);
		if (!reply)
			return -ENOMEM;
		text = strdup(json_object_to_json_string_ext(reply, JSON_C_TO_STRING_PLAIN));
		if (!text)
			return -ENOMEM;
		log_debug("%s -> %s", path, text);
		*ret_status = 200;
		*ret_body = text;
		return 0;
	}
	log_debug("%s: unknown method", path);
	text = strdup("{\"Err\":\"unknown method\"}");
	if (!text)
		return -ENOMEM;
	*ret_status = 404;
	*ret_body = text;
	return 0;
}

/* ---- deferred label lookups ---- */

/* The container (from GET /containers/json) whose endpoint on @nid is @eid, or NULL. */
static struct json_object *container_of(struct json_object *list, const char *eid)
{
	for (size_t i = 0; i < json_object_array_length(list); i++) {
		struct json_object *c = json_object_array_get_idx(list, i);
		struct json_object *nets = jobj(jobj(c, "NetworkSettings"), "Networks");

		if (!nets || !json_object_is_type(nets, json_type_object))
			continue;
		json_object_object_foreach(nets, nname, nv)
		{
			const char *e = jstr(nv, "EndpointID");

			(void)nname;
			if (e && strcmp(e, eid) == 0)
				return c;
		}
	}
	return NULL;
}

static int pending_run(struct dk_driver *d, struct dk_pending *p)
{
	_cleanup_(json_putp) struct json_object *list = NULL;
	struct json_object *c;
	const char *ns;
	char path[512], why[384];
	int r;

	/* filters={"network":["<id>"]} */
	snprintf(path, sizeof(path),
		 "/containers/json?all=1&filters=%%7B%%22network%%22%%3A%%5B%%22%s%%22%%5D%%7D",
		 p->net_id);
	r = dk_api_get(d->docker_socket, path, &list);
	if (r < 0)
		return r;
	if (!json_object_is_type(list, json_type_array))
		return -EPROTO;
	c = container_of(list, p->ep_id);
	if (!c)
		return -EAGAIN;
	r = network_name(d, p->net_id, &ns, why, sizeof(why));
	if (r < 0)
		return log_warn_errno(r, "%s", why);
	return wep_set_container(d, ns, p->ep_id, c);
}

int dk_driver_tick(struct dk_driver *d)
{
	int64_t now = now_ms(), next = -1;

	for (struct dk_pending **pp = &d->pending; *pp;) {
		struct dk_pending *p = *pp;
		int r;

		if (p->due_ms > now) {
			if (next < 0 || p->due_ms < next)
				next = p->due_ms;
			pp = &p->next;
			continue;
		}
		r = pending_run(d, p);
		p->tries++;
		if (r >= 0 || r == -ENOENT || p->tries >= LABEL_MAX_TRIES) {
			if (r < 0 && r != -ENOENT)
				log_warn_errno(r,
					       "endpoint %.12s: no container found in dockerd "
					       "(%m); its WorkloadEndpoint keeps no labels",
					       p->ep_id);
			*pp = p->next;
			pending_free(p);
			d->n_pending--;
			continue;
		}
		p->due_ms = now + LABEL_RETRY_MS;
		if (next < 0 || p->due_ms < next)
			next = p->due_ms;
		pp = &p->next;
	}
	if (next < 0)
		return -1;
	return next > now ? (int)(next - now) : 0;
}

/* ---- life cycle ---- */

int dk_driver_new(const struct dk_driver_config *cfg, struct dk_driver **ret)
{
	_cleanup_(dk_driver_freep) struct dk_driver *d = calloc(1, sizeof(*d));
	int r;

	if (!d)
		return -ENOMEM;
	d->ds = cfg->ds;
	d->node = strdup(cfg->node);
	d->state_dir = strdup(cfg->state_dir);
	d->docker_socket = strdup(cfg->docker_socket);
	if (!d->node || !d->state_dir || !d->docker_socket)
		return -ENOMEM;
	r = networks_load(d);
	if (r < 0)
		return r;
	*ret = TAKE_PTR(d);
	return 0;
}

struct dk_driver *dk_driver_free(struct dk_driver *d)
{
	if (!d)
		return NULL;
	while (d->networks) {
		struct dk_network *n = d->networks;

		d->networks = n->next;
		network_free(n);
	}
	while (d->pending) {
		struct dk_pending *p = d->pending;

		d->pending = p->next;
		pending_free(p);
	}
	free(d->node);
	free(d->state_dir);
	free(d->docker_socket);
	free(d);
	return NULL;
}
