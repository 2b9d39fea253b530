# lab/lib/docker.sh - `up --docker`: one dockerd + tabby-docker per host and one Docker
# container per host on the tabby Docker network (sourced).
# shellcheck shell=bash
#
# Per host hN, as tests/integration/docker-lib.sh does:
#   tabby-docker  in hN's netns, socket $RUN/docker/hN/plugins/tabby.sock, state dir, node hN,
#                 the lab's etcd (unix socket); PID in $RUN/pids/tabby-docker-hN.pid
#   dockerd       `nsenter --net` into hN (not `ip netns exec`, which hides /sys/fs/cgroup), in
#                 a private mount namespace where $RUN/docker/hN/plugins is bind-mounted over
#                 /run/docker/plugins (dockerd finds plugins only there, and every dockerd on the
#                 machine would otherwise share it); no bridge, no iptables, vfs, cgroupfs, its
#                 own data/exec roots, pid file and API socket $RUN/docker/hN/docker.sock.
#                 nsenter, unshare and sh exec, so the PID we record is dockerd's own. The
#                 containerd it starts is recorded too (its pid file under the exec root).
#                 Every mount dockerd makes stays in its private mount namespace and goes with it.
#   image         `docker import` of a busybox-static rootfs: tabby-busybox:lab
#   network       docker network create --driver tabby --ipam-driver tabby
#                 --ipam-opt tabby.pool=default-ipv4-ippool tabby  (WEP namespace "tabby");
#                 with --ipv6 (lib/ipv6.sh) also --ipv6 --subnet 198.19.0.0/16 --subnet
#                 2001:db8:19::/112: every container dual-stack
#   container     hN-d1: busybox httpd on :8080 answering hello-from-hN-d1, label role=docker;
#                 recorded in $RUN/docker/hN-d1.env (DK_HOST, DK_NAME, DK_CID, DK_IP, DK_IP6)
# /run/docker/plugins must exist as a mount point; if /run/docker did not exist, `up` records
# that it made it ($RUN/docker/made-run-docker) and `down` removes the two (empty) directories.
# While the lab runs, /run/docker/plugins/.in-use-<prefix> keeps the host's directory non-empty:
# another lab's or test's rmdir would otherwise succeed and (Linux >= 3.18) detach the bind
# mount inside our dockerds' mount namespaces, which then find no plugin.
# `down` (docker_down, before felix, etcd and the namespaces go): docker rm -f of the recorded
# containers, docker network rm, dockerd, its containerd and tabby-docker by recorded PID.

LAB_DOCKER_NET=tabby
LAB_DOCKER_IMAGE=tabby-busybox:lab
LAB_DOCKER_CLIENT=/usr/bin/docker # the docker.io client, which matches its dockerd
LAB_T_DOCKERD=60
LAB_DOCKER=${LAB_DOCKER:-0}

# docker_parse_opt ARGS... - `--docker` of up/demo. Return: arguments taken (0 = not ours).
docker_parse_opt() {
	[ "$1" = --docker ] || return 0
	LAB_DOCKER=1
	return 1
}

docker_save_state() { printf 'LAB_DOCKER=%q\n' "$LAB_DOCKER" >"$RUN/docker.env"; }

tabby_docker_bin() { echo "$BUILD/docker/tabby-docker"; }
docker_dir() { echo "$RUN/docker/h$1"; }

# dk N ARGS... - the docker client of host hN.
dk() {
	local n=$1
	shift
	DOCKER_HOST="unix://$(docker_dir "$n")/docker.sock" "$LAB_DOCKER_CLIENT" "$@"
}

# docker_preflight - die before anything is created when something --docker needs is missing.
docker_preflight() {
	local c
	[ "$LAB_DOCKER" = 1 ] || return 0
	for c in dockerd containerd runc nsenter unshare; do
		command -v "$c" >/dev/null || die "--docker needs $c (lab/install-deps installs docker.io)"
	done
	[ -x "$LAB_DOCKER_CLIENT" ] || LAB_DOCKER_CLIENT=$(command -v docker) ||
		die "--docker needs the docker client"
	[ -x /bin/busybox ] || die "--docker needs /bin/busybox (busybox-static)"
	[ -x "$(tabby_docker_bin)" ] || die "missing binary $(tabby_docker_bin) (build $BUILD first)"
}

# docker_plugin_start N - tabby-docker in hN's netns; `ip netns exec` execs, $! is its PID.
docker_plugin_start() {
	local n=$1 d envargs
	d=$(docker_dir "$n")
	mapfile -t envargs < <(lab_env; etcd_tls_env)
	ip netns exec "$(host_ns "$n")" "${envargs[@]}" "$(tabby_docker_bin)" \
		--socket "$d/plugins/tabby.sock" --docker-socket "$d/docker.sock" \
		--state-dir "$d/state" --nodename "h$n" --datastore-endpoints "$(etcd_endpoint)" \
		</dev/null >>"$d/tabby-docker.log" 2>&1 &
	record_pid "tabby-docker-h$n" $!
	wait_for 10 test -S "$d/plugins/tabby.sock" ||
		fail_step "tabby-docker on h$n did not listen on $d/plugins/tabby.sock" "$d/tabby-docker.log"
}

# docker_daemon_start N - dockerd for hN (see the top of this file).
docker_daemon_start() {
	local n=$1 d pid
	d=$(docker_dir "$n")
	mkdir -p "$d/data" "$d/exec"
	echo '{}' >"$d/daemon.json"
	nsenter --net="/run/netns/$(host_ns "$n")" unshare -m --propagation private sh -c \
		"mount --bind '$d/plugins' /run/docker/plugins && exec dockerd \
		--config-file '$d/daemon.json' --data-root '$d/data' --exec-root '$d/exec' \
		--pidfile '$d/dockerd.pid' -H 'unix://$d/docker.sock' --bridge=none \
		--iptables=false --ip6tables=false --ip-forward=false --ip-masq=false \
		--storage-driver vfs --exec-opt native.cgroupdriver=cgroupfs --shutdown-timeout 2" \
		</dev/null >>"$d/dockerd.log" 2>&1 &
	record_pid "dockerd-h$n" $!
	wait_for "$LAB_T_DOCKERD" dk "$n" info ||
		fail_step "dockerd on h$n did not answer on $d/docker.sock within ${LAB_T_DOCKERD}s" \
			"$d/dockerd.log"
	pid=$(cat "$d/exec/containerd/containerd.pid" 2>/dev/null || true)
	if pid_is_ours "$pid"; then
		record_pid "containerd-h$n" "$pid"
	fi
}

docker_rootfs() {
	local r="$RUN/docker/rootfs"
	mkdir -p "$r/bin" "$r/proc" "$r/sys" "$r/dev" "$r/etc" "$r/tmp" "$r/run"
	cp /bin/busybox "$r/bin/busybox"
	chroot "$r" /bin/busybox --install -s /bin
	tar -C "$r" -cf "$RUN/docker/busybox.tar" .
}

# docker_container_add N - container hN-d1 on the tabby network of hN; records its address.
docker_container_add() {
	local n=$1 name d log ip cid
	name="h$n-d1"
	d="$RUN/docker"
	log="$(docker_dir "$n")/docker-cli.log"
	printf 'DK_HOST=%q\nDK_NAME=%q\n' "$n" "$name" >"$d/$name.env"
	dk "$n" run -d --name "$name" --network "$LAB_DOCKER_NET" --label role=docker \
		"$LAB_DOCKER_IMAGE" /bin/sh -c \
		"echo hello-from-$name >/tmp/index.html; exec httpd -f -p 8080 -h /tmp" \
		>>"$log" 2>&1 || fail_step "docker run $name on h$n" "$log"
	cid=$(dk "$n" inspect -f '{{.Id}}' "$name")
	ip=$(dk "$n" inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' "$name")
	[ -n "$ip" ] || fail_step "$name on h$n got no address" "$(docker_dir "$n")/tabby-docker.log"
	printf 'DK_CID=%q\nDK_IP=%q\n' "$cid" "$ip" >>"$d/$name.env"
	[ "${IPV6:-0}" = 1 ] || return 0
	ip=$(dk "$n" inspect -f '{{range .NetworkSettings.Networks}}{{.GlobalIPv6Address}}{{end}}' "$name")
	[ -n "$ip" ] || fail_step "$name on h$n got no IPv6 address (--ipv6)" "$(docker_dir "$n")/tabby-docker.log"
	printf 'DK_IP6=%q\n' "$ip" >>"$d/$name.env"
}

docker_up() {
	local n log v6
	[ "$LAB_DOCKER" = 1 ] || return 0
	step "Docker: dockerd + tabby-docker per host, network $LAB_DOCKER_NET, container hN-d1"
	mkdir -p "$RUN/docker"
	if [ ! -d /run/docker ]; then
		touch "$RUN/docker/made-run-docker"
	fi
	mkdir -p /run/docker/plugins || fail_step "mkdir /run/docker/plugins"
	touch "/run/docker/plugins/.in-use-$PREFIX" || fail_step "touch /run/docker/plugins/.in-use-$PREFIX"
	docker_rootfs || fail_step "building the busybox rootfs in $RUN/docker/rootfs"
	for n in $(seq 1 "$HOSTS"); do
		mkdir -p "$(docker_dir "$n")/plugins" "$(docker_dir "$n")/state"
		docker_plugin_start "$n"
		docker_daemon_start "$n"
	done
	for n in $(seq 1 "$HOSTS"); do
		log="$(docker_dir "$n")/docker-cli.log"
		dk "$n" import "$RUN/docker/busybox.tar" "$LAB_DOCKER_IMAGE" >>"$log" 2>&1 ||
			fail_step "docker import on h$n" "$log"
		v6=()
		[ "${IPV6:-0}" != 1 ] || v6=(--ipv6 --subnet "$LAB_POOL_CIDR" --subnet "$LAB_POOL6_CIDR")
		dk "$n" network create --driver tabby --ipam-driver tabby \
			--ipam-opt "tabby.pool=$LAB_POOL_NAME" "${v6[@]}" "$LAB_DOCKER_NET" >>"$log" 2>&1 ||
			fail_step "docker network create $LAB_DOCKER_NET on h$n" "$log"
		docker_container_add "$n"
	done
}

# docker_entries - "N d1" for every recorded container (the check matrix's entry form).
docker_entries() {
	local n
	[ "$LAB_DOCKER" = 1 ] || return 0
	for n in $(seq 1 "$HOSTS"); do
		[ -f "$RUN/docker/h$n-d1.env" ] && echo "$n d1"
	done
	return 0
}

# docker_ip N - the address of hN-d1.
docker_ip() {
	(
		DK_IP=""
		# shellcheck disable=SC1090
		. "$RUN/docker/h$1-d1.env"
		echo "$DK_IP"
	)
}

# docker_ip6 N - the IPv6 address of hN-d1 ("" unless the lab is dual-stack, lib/ipv6.sh).
docker_ip6() {
	(
		DK_IP6=""
		# shellcheck disable=SC1090
		. "$RUN/docker/h$1-d1.env"
		echo "$DK_IP6"
	)
}

# docker_ping_ok N IP - two echo requests from hN-d1 (one retry, as ping_ok).
docker_ping_ok() {
	dk "$1" exec "h$1-d1" ping -q -c 2 -W 1 "$2" >/dev/null 2>&1 ||
		dk "$1" exec "h$1-d1" ping -q -c 2 -W 1 "$2" >/dev/null 2>&1
}

# docker_down - see the top of this file; never fatal.
docker_down() {
	local f n DK_HOST DK_NAME DK_CID DK_IP
	[ -d "$RUN/docker" ] || return 0
	step "removing the Docker containers and network, stopping dockerd and tabby-docker"
	for f in "$RUN"/docker/h*-d*.env; do
		[ -e "$f" ] || continue
		DK_CID=""
		# shellcheck disable=SC1090
		. "$f"
		if [ -S "$(docker_dir "$DK_HOST")/docker.sock" ]; then
			dk "$DK_HOST" rm -f "${DK_CID:-$DK_NAME}" >/dev/null 2>&1 ||
				warn "docker rm -f $DK_NAME on h$DK_HOST failed"
		fi
	done
	for n in $(seq 1 "${HOSTS:-0}"); do
		[ -S "$(docker_dir "$n")/docker.sock" ] || continue
		dk "$n" network rm "$LAB_DOCKER_NET" >/dev/null 2>&1 || true
	done
	for f in "$RUN"/pids/dockerd-*.pid; do
		[ -e "$f" ] || continue
		docker_stop_pid "$(basename "$f" .pid)"
	done
	for f in "$RUN"/pids/containerd-*.pid "$RUN"/pids/tabby-docker-*.pid; do
		[ -e "$f" ] || continue
		stop_pid "$(basename "$f" .pid)"
	done
	rm -f "/run/docker/plugins/.in-use-$PREFIX"
	# fails, harmlessly, while another lab's or test's in-use file is there
	if [ -e "$RUN/docker/made-run-docker" ]; then
		rmdir /run/docker/plugins /run/docker 2>/dev/null || true
	fi
	return 0
}

# docker_stop_pid NAME - as stop_pid, but dockerd may take a while to stop its containerd.
docker_stop_pid() {
	local f="$RUN/pids/$1.pid" pid
	pid=$(cat "$f")
	if pid_is_ours "$pid"; then
		stop_proc "$pid" 15 "$1"
	fi
	rm -f "$f"
}
