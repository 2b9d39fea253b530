# lab/lib/etcd.sh - the lab's datastore: etcd 3.4 in the root namespace, one member or a cluster
# of ETCD_MEMBERS (tabby-lab up --etcd-members N, 1..5) (sourced).
# shellcheck shell=bash
#
# Member K listens on 127.0.0.1:<free port> (for etcdctl and tabbyctl in the root namespace) and
# on a unix socket, which etcd 3.4 creates in its working directory under the name
# "etcd.sock:<port>" (its unix URLs must look like host:port). The host namespaces have their own
# loopback, so felix, the CNI plugin and tabby-docker use the sockets: etcd_endpoint lists every
# member's, comma-separated, and they fail over between them. Member 1 keeps the single-member
# layout ($RUN/etcd, PID record "etcd"); member K > 1 lives in $RUN/etcd-K (record "etcd-K").
# Ports are free ports picked at `up`, so labs side by side never collide; they are recorded in
# lab.env (ETCD_PORTS, ETCD_PEER_PORTS) for etcd_member_start, which restarts a member after a
# fault test killed it. Watches get a progress notification every second, so a quiet stream
# still shows that its member is alive and the watch's heartbeat (after 1.5 s of silence) stays
# idle.
#
# --etcd-tls: etcd_tls_init makes a CA, one certificate per member (serverAuth and clientAuth,
# names 127.0.0.1 and localhost: clients reach a unix socket as https://localhost, and etcd's
# own JSON gateway and its peers present it as a client) and a client certificate, with openssl
# in $RUN/etcd-tls. Every member then asks clients and peers for a certificate of that CA
# (--client-cert-auth, --peer-client-cert-auth) on https://127.0.0.1:<port> and
# unixs://etcd.sock:<port>; etcd_endpoint lists the unixs:// sockets, and felix (felix.yaml
# datastoreCAFile/CertFile/KeyFile), the CNI plugin (etcd_ca_cert_file, etcd_cert_file,
# etcd_key_file), tabby-docker and tabbyctl (TABBY_DATASTORE_CA_FILE/CERT_FILE/KEY_FILE) get
# the files.

ETCD_MEMBERS=${ETCD_MEMBERS:-1}
ETCD_TLS=${ETCD_TLS:-0}
ETCD_PORTS=${ETCD_PORTS:-}
ETCD_PEER_PORTS=${ETCD_PEER_PORTS:-}
LAB_MAX_ETCD_MEMBERS=5

# etcd_parse_opt "$@" - --etcd-members N; returns the number of arguments it used (for shift).
etcd_parse_opt() {
	case "$1" in
	--etcd-members)
		ETCD_MEMBERS=${2:?--etcd-members needs a number}
		[[ $ETCD_MEMBERS =~ ^[0-9]+$ ]] && [ "$ETCD_MEMBERS" -ge 1 ] &&
			[ "$ETCD_MEMBERS" -le "$LAB_MAX_ETCD_MEMBERS" ] ||
			die "--etcd-members must be 1..$LAB_MAX_ETCD_MEMBERS, got '$ETCD_MEMBERS'"
		return 2
		;;
	--etcd-tls)
		ETCD_TLS=1
		return 1
		;;
	esac
	return 0
}

etcd_tls_dir() { echo "$RUN/etcd-tls"; }

# etcd_tls_env - NAME=VALUE lines of the client's TLS files for tabbyctl and tabby-docker
# (datastore/ds-config.c); nothing without --etcd-tls.
etcd_tls_env() {
	[ "${ETCD_TLS:-0}" = 1 ] || return 0
	local d
	d=$(etcd_tls_dir)
	printf '%s\n' "TABBY_DATASTORE_CA_FILE=$d/ca.crt" "TABBY_DATASTORE_CERT_FILE=$d/client.crt" \
		"TABBY_DATASTORE_KEY_FILE=$d/client.key"
}

# etcd_tls_cert NAME CN EXT - a key and a certificate signed by the lab's CA (EC P-256, 7 days).
etcd_tls_cert() {
	local name=$1 cn=$2 ext=$3
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$cn" \
		-keyout "$name.key" -out "$name.csr" 2>>openssl.log &&
		printf '%b' "$ext" >"$name.ext" &&
		openssl x509 -req -in "$name.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -days 7 \
			-extfile "$name.ext" -out "$name.crt" 2>>openssl.log
}

# etcd_tls_init - the CA, a certificate per member and the client's (see the header).
etcd_tls_init() {
	local d k
	command -v openssl >/dev/null || die "--etcd-tls needs openssl"
	d=$(etcd_tls_dir)
	mkdir -p "$d"
	chmod 700 "$d"
	(
		cd "$d" &&
			openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 7 \
				-subj "/CN=tabby-lab-ca-$PREFIX" -keyout ca.key -out ca.crt 2>>openssl.log &&
			for k in $(seq 1 "$ETCD_MEMBERS"); do
				etcd_tls_cert "member-$k" "$(etcd_member_name "$k")" \
					'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n' ||
					exit 1
			done &&
			etcd_tls_cert client tabby-lab-client 'extendedKeyUsage=clientAuth\n'
	) || fail_step "making the lab's etcd certificates with openssl" "$d/openssl.log"
}

etcd_member_name() { [ "$1" = 1 ] && echo tabby-lab || echo "tabby-lab-$1"; }
etcd_member_dir() { [ "$1" = 1 ] && echo "$RUN/etcd" || echo "$RUN/etcd-$1"; }
etcd_member_record() { [ "$1" = 1 ] && echo etcd || echo "etcd-$1"; }
etcd_member_port() { local -a p; read -ra p <<<"$ETCD_PORTS"; echo "${p[$(($1 - 1))]}"; }
etcd_member_peer_port() { local -a p; read -ra p <<<"$ETCD_PEER_PORTS"; echo "${p[$(($1 - 1))]}"; }
etcd_member_sock() { echo "$(etcd_member_dir "$1")/etcd.sock:$(etcd_member_port "$1")"; }

# etcd_member_start K [new|existing] - start member K in the background and record its PID.
etcd_member_start() {
	local k=$1 state=${2:-existing} dir port peer cluster="" i http=http unix=unix tls=() t
	dir=$(etcd_member_dir "$k")
	port=$(etcd_member_port "$k")
	peer=$(etcd_member_peer_port "$k")
	if [ "${ETCD_TLS:-0}" = 1 ]; then
		http=https unix=unixs t=$(etcd_tls_dir)
		tls=(--cert-file "$t/member-$k.crt" --key-file "$t/member-$k.key"
			--trusted-ca-file "$t/ca.crt" --client-cert-auth
			--peer-cert-file "$t/member-$k.crt" --peer-key-file "$t/member-$k.key"
			--peer-trusted-ca-file "$t/ca.crt" --peer-client-cert-auth)
	fi
	for i in $(seq 1 "$ETCD_MEMBERS"); do
		cluster+="${cluster:+,}$(etcd_member_name "$i")=$http://127.0.0.1:$(etcd_member_peer_port "$i")"
	done
	mkdir -p "$dir/data"
	chmod 700 "$dir/data"
	# A killed member leaves its socket file behind and etcd will not bind over it ("address
	# already in use"); nothing else listens there (etcd_restart_member checks).
	rm -f "$dir/etcd.sock:$port"
	(cd "$dir" && exec etcd --name "$(etcd_member_name "$k")" --data-dir "$dir/data" \
		--listen-client-urls "$http://127.0.0.1:$port,$unix://etcd.sock:$port" \
		--advertise-client-urls "$http://127.0.0.1:$port" \
		--listen-peer-urls "$http://127.0.0.1:$peer" \
		--initial-advertise-peer-urls "$http://127.0.0.1:$peer" "${tls[@]}" \
		--initial-cluster "$cluster" --initial-cluster-state "$state" \
		--initial-cluster-token "tabby-lab-$PREFIX" \
		--experimental-watch-progress-notify-interval 1s \
		--logger zap --log-outputs "$dir/etcd.log") </dev/null >>"$dir/etcd.stdout" 2>&1 &
	record_pid "$(etcd_member_record "$k")" $!
}

etcd_up() {
	local k ports="" peers=""
	for k in $(seq 1 "$ETCD_MEMBERS"); do
		ports+="${ports:+ }$(free_port)"
		peers+="${peers:+ }$(free_port)"
	done
	ETCD_PORTS=$ports
	ETCD_PEER_PORTS=$peers
	ETCD_PORT=$(etcd_member_port 1)
	save_state
	[ "$ETCD_TLS" != 1 ] || etcd_tls_init
	# All members at once: none of them can elect a leader alone.
	for k in $(seq 1 "$ETCD_MEMBERS"); do
		etcd_member_start "$k" new
	done
	wait_for "$LAB_T_ETCD" etcd_healthy ||
		fail_step "etcd did not become healthy on $(etcd_endpoint) within ${LAB_T_ETCD}s" \
			"$RUN/etcd/etcd.log"
}

# etcd_member_healthy K - member K answers /health (it has a leader) through its socket.
etcd_member_healthy() {
	local tls=() url=http://localhost/health t
	if [ "${ETCD_TLS:-0}" = 1 ]; then
		t=$(etcd_tls_dir)
		tls=(--cacert "$t/ca.crt" --cert "$t/client.crt" --key "$t/client.key")
		url=https://localhost/health
	fi
	curl -sf --max-time 2 "${tls[@]}" --unix-socket "$(etcd_member_sock "$1")" "$url" |
		grep -q '"health":"true"'
}

# etcd_member_running K - member K's recorded process is alive (a fault test may have killed it).
etcd_member_running() {
	pid_is_ours "$(cat "$RUN/pids/$(etcd_member_record "$1").pid" 2>/dev/null)"
}

# etcd_restart_member K - start member K again on its data dir (it rejoins the cluster), after a
# fault test killed it; wait until it is healthy.
etcd_restart_member() {
	local k=$1
	! etcd_member_running "$k" || die "etcd member $k is running (pid $(cat "$RUN/pids/$(etcd_member_record "$k").pid"))"
	etcd_member_start "$k" existing
	wait_for "$LAB_T_ETCD" etcd_member_healthy "$k" ||
		fail_step "etcd member $k did not become healthy within ${LAB_T_ETCD}s" \
			"$(etcd_member_dir "$k")/etcd.log"
}

# etcd_healthy - every member is healthy (up); etcd_any_healthy - at least one is (down).
etcd_healthy() {
	local k
	for k in $(seq 1 "$ETCD_MEMBERS"); do etcd_member_healthy "$k" || return 1; done
}
etcd_any_healthy() {
	local k
	for k in $(seq 1 "$ETCD_MEMBERS"); do etcd_member_healthy "$k" && return 0; done
	return 1
}

etcd_down() {
	local k
	for k in $(seq "$ETCD_MEMBERS" -1 1); do
		# A member a fault test froze must be thawed to take SIGTERM.
		[ -f "$RUN/pids/$(etcd_member_record "$k").pid" ] &&
			kill -CONT "$(cat "$RUN/pids/$(etcd_member_record "$k").pid")" 2>/dev/null || true
		stop_pid "$(etcd_member_record "$k")"
	done
}
