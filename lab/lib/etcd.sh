# lab/lib/etcd.sh - the lab's datastore: one etcd 3.4 member in the root namespace (sourced).
# shellcheck shell=bash
#
# It listens on 127.0.0.1:<free port> (for etcdctl and tabbyctl in the root namespace) and on a
# unix socket, which etcd 3.4 creates in its working directory under the name "etcd.sock:<port>"
# (its unix URLs must look like host:port). The host namespaces have their own loopback, so
# felix and the CNI plugin use the socket: unix://$RUN/etcd/etcd.sock:<port>.

etcd_up() {
	local dir="$RUN/etcd" peer
	mkdir -p "$dir/data"
	ETCD_PORT=$(free_port)
	peer=$(free_port)
	save_state
	(cd "$dir" && exec etcd --name tabby-lab --data-dir "$dir/data" \
		--listen-client-urls "http://127.0.0.1:$ETCD_PORT,unix://etcd.sock:$ETCD_PORT" \
		--advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
		--listen-peer-urls "http://127.0.0.1:$peer" \
		--initial-advertise-peer-urls "http://127.0.0.1:$peer" \
		--initial-cluster "tabby-lab=http://127.0.0.1:$peer" \
		--logger zap --log-outputs "$dir/etcd.log") </dev/null >"$dir/etcd.stdout" 2>&1 &
	record_pid etcd $!
	wait_for "$LAB_T_ETCD" etcd_healthy ||
		fail_step "etcd did not become healthy on $(etcd_endpoint) within ${LAB_T_ETCD}s" \
			"$dir/etcd.log"
}

# etcd_healthy - etcd answers /health through the same socket felix and the CNI plugin use.
etcd_healthy() {
	curl -sf --max-time 2 --unix-socket "$RUN/etcd/etcd.sock:$ETCD_PORT" http://localhost/health |
		grep -q '"health":"true"'
}

etcd_down() {
	stop_pid etcd
}
