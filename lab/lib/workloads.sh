# lab/lib/workloads.sh - workloads made by the real CNI plugin, called as a runtime does (sourced).
# shellcheck shell=bash
#
# A workload is a namespace <prefix>-hN-wM. The plugin runs in the host's namespace (as it does
# under podman or containerd) with the CNI_* environment and the network config on stdin
# (CNI spec 1.0.0, "Parameters"). Its result is saved, and DEL gets it back as prevResult, which
# is what libcni does from its cache.
#
# Files per workload in $RUN/workloads/: hN-wM.env (host, namespace, container id, address),
# hN-wM.conf (network config), hN-wM.json (ADD result), hN-wM.log (plugin stderr).

# write_net_conf N FILE [LABEL=VALUE...] - the network config of host hN (brief's format).
write_net_conf() {
	local n=$1 file=$2
	shift 2
	local tls=""
	[ "${ETCD_TLS:-0}" != 1 ] || tls=$(etcd_tls_dir)
	LAB_ETCD_TLS_DIR=$tls LAB_POOL6=$([ "${IPV6:-0}" != 1 ] || echo "$LAB_POOL6_NAME") \
		python3 - "$n" "$(etcd_endpoint)" "$LAB_NETWORK" "$LAB_POOL_NAME" "$@" >"$file" <<'EOF'
import json, os, sys
n, endpoint, network, pool = sys.argv[1:5]
tls = os.environ.get("LAB_ETCD_TLS_DIR")
pool6 = os.environ.get("LAB_POOL6")  # lib/ipv6.sh --ipv6: dual-stack
labels = [dict(zip(("key", "value"), kv.split("=", 1))) for kv in sys.argv[5:]]
conf = {
    "cniVersion": "1.0.0",
    "name": network,
    "type": "tabby",
    "nodename": "h" + n,
    "datastore_endpoints": endpoint,
    "log_level": "info",
    "ipam": {"type": "tabby-ipam", "ipv4_pools": [pool]},
}
if pool6:
    conf["ipam"].update({"assign_ipv4": "true", "assign_ipv6": "true", "ipv6_pools": [pool6]})
if tls:  # lib/etcd.sh --etcd-tls
    conf["etcd_ca_cert_file"] = tls + "/ca.crt"
    conf["etcd_cert_file"] = tls + "/client.crt"
    conf["etcd_key_file"] = tls + "/client.key"
if labels:
    conf["args"] = {"cni": {"labels": labels}}
json.dump(conf, sys.stdout, indent=2)
print()
EOF
}

# cni_call N CMD NAME NETNS CID STDIN - run the plugin for hN; stdout = result, stderr = log.
cni_call() {
	local n=$1 cmd=$2 name=$3 netns=$4 cid=$5 stdin=$6 envargs
	mapfile -t envargs < <(lab_env)
	ip netns exec "$(host_ns "$n")" "${envargs[@]}" CNI_COMMAND="$cmd" CNI_CONTAINERID="$cid" \
		CNI_NETNS="/run/netns/$netns" CNI_IFNAME=eth0 CNI_PATH="$(cni_dir)" \
		CNI_ARGS="K8S_POD_NAMESPACE=default;K8S_POD_NAME=$name" "$(cni_dir)/tabby" <"$stdin"
}

# wl_add N M - create workload hN-wM. The record is written before ADD, so `down` also cleans
# up after an ADD that failed half-way (DEL is idempotent).
wl_add() {
	local n=$1 m=$2 name ns cid d="$RUN/workloads" ip
	name=$(wl_name "$n" "$m")
	ns=$(wl_ns "$n" "$m")
	# 64 hex characters, like the IDs of container runtimes; unique per lab and run
	cid=$(printf '%s %s %s' "$RUN" "$name" "$(date +%s%N)" | sha256sum | cut -c1-64)
	netns_add "$ns" || fail_step "could not create namespace $ns"
	write_net_conf "$n" "$d/$name.conf" "app=$(wl_app "$m")" "lab-host=h$n" # lib/policy.sh
	{
		printf 'WL_HOST=%q\n' "$n"
		printf 'WL_NAME=%q\n' "$name"
		printf 'WL_NETNS=%q\n' "$ns"
		printf 'WL_CID=%q\n' "$cid"
	} >"$d/$name.env"
	if ! cni_call "$n" ADD "$name" "$ns" "$cid" "$d/$name.conf" >"$d/$name.json" 2>"$d/$name.log"; then
		cat "$d/$name.json" >>"$d/$name.log"
		fail_step "CNI ADD of $name (container $cid) on h$n" "$d/$name.log"
	fi
	ip=$(json_get "$d/$name.json" 'd["ips"][0]["address"].split("/")[0]' 2>/dev/null) ||
		fail_step "CNI ADD of $name returned no address: $d/$name.json" "$d/$name.log"
	printf 'WL_IP=%q\n' "$ip" >>"$d/$name.env"
	[ "${IPV6:-0}" = 1 ] || return 0
	ip=$(json_get "$d/$name.json" '[a["address"].split("/")[0] for a in d["ips"] if ":" in a["address"]][0]' 2>/dev/null) ||
		fail_step "CNI ADD of $name returned no IPv6 address (--ipv6): $d/$name.json" "$d/$name.log"
	printf 'WL_IP6=%q\n' "$ip" >>"$d/$name.env"
}

# wl_del NAME - CNI DEL with the saved ADD result as prevResult. Never fatal: `down` goes on.
wl_del() {
	# shellcheck disable=SC2034 # the .env file sets all of them; local keeps them from leaking
	local name=$1 d="$RUN/workloads" WL_HOST WL_NAME WL_NETNS WL_CID WL_IP="" WL_IP6=""
	# shellcheck disable=SC1090
	. "$d/$name.env"
	python3 - "$d/$name.conf" "$d/$name.json" >"$d/$name.del.conf" <<'EOF'
import json, sys
conf = json.load(open(sys.argv[1]))
try:
    conf["prevResult"] = json.load(open(sys.argv[2]))
except (OSError, ValueError):
    pass  # ADD failed: DEL without prevResult, as a runtime does without a cached result
json.dump(conf, sys.stdout)
EOF
	if ! cni_call "$WL_HOST" DEL "$WL_NAME" "$WL_NETNS" "$WL_CID" "$d/$name.del.conf" \
		>>"$d/$name.log" 2>&1; then
		warn "CNI DEL of $WL_NAME failed (log: $d/$name.log):"
		tail -n 5 "$d/$name.log" | sed 's/^/    /' >&2
		return 1
	fi
}

# wl_ip N M - the address CNI ADD gave workload hN-wM.
wl_ip() {
	(
		# shellcheck disable=SC1090
		. "$RUN/workloads/$(wl_name "$1" "$2").env"
		echo "${WL_IP:-}"
	)
}

workloads_add() {
	local n m
	mkdir -p "$RUN/workloads"
	for n in $(seq 1 "$HOSTS"); do
		write_net_conf "$n" "$RUN/h$n/net.conf"
		for m in $(seq 1 "$WORKLOADS"); do
			wl_add "$n" "$m"
		done
	done
}

# workloads_del - DEL every recorded workload; needs etcd and the host namespaces, so it runs
# first in `down`. Returns 1 when some DEL failed.
workloads_del() {
	local f rc=0
	for f in "$RUN"/workloads/*.env; do
		[ -e "$f" ] || continue
		wl_del "$(basename "$f" .env)" || rc=1
	done
	return $rc
}
