#!/bin/bash
# docker-policy.t - policy by Docker label: Docker containers are WorkloadEndpoints (namespace =
# Docker network name, labels = the container's Docker labels, applied by tabby-docker shortly
# after Join), so a NetworkPolicy in the network's namespace selects them like CNI workloads.
# Containers: h1 srv (role=server, httpd), h1 same (role=other), h1 open (no labels, httpd),
# h2 fe (role=frontend), h2 oth (role=other). A policy on srv allows TCP 8080 only from
# role == 'frontend': fe connects across hosts, oth (other host) and same (same host) time out,
# while open, selected by no policy, stays reachable from everyone. felix's nft table in h1
# dispatches srv's tby interface to its own chains. Finally the fail-closed hook for the label
# window: with a GlobalNetworkPolicy denying has(docker.tabby.io/labels-pending), a container
# whose labels tabby-docker cannot read (plugin pointed at a dead dockerd socket) is isolated.
# Setup: docker-lib.sh.
. "$(dirname "$0")/docker-lib.sh"

apply() { "$CTL" --datastore-endpoints "$TABBY_DATASTORE_ENDPOINTS" apply -f - >/dev/null; }
run() { "$@" >"$T_TMP/out" 2>&1; }
for n in 1 2; do
	run dk "$n" network create --driver tabby --ipam-driver tabby \
		--ipam-opt tabby.pool=default-ipv4-ippool pol
	check "h$n: docker network create pol" [ $? = 0 ]
done

declare -A HOST IP EID
# ctr N NAME LABEL-ARGS...: an httpd container on host N answering hello-NAME on 8080
ctr() {
	local n=$1 name=$2; shift 2
	run dk "$n" run -d --name "$name" --network pol "$@" tabby-busybox:test /bin/sh -c \
		"echo hello-$name >/tmp/index.html; exec httpd -f -p 8080 -h /tmp"
	check "h$n: docker run $name $*" [ $? = 0 ]
	HOST[$name]=$n
	IP[$name]=$(dk "$n" inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' "$name")
	EID[$name]=$(dk "$n" inspect -f '{{range .NetworkSettings.Networks}}{{.EndpointID}}{{end}}' "$name")
	echo "# $name on h$n: ${IP[$name]}"
}
wep() { # NAME: the container's WorkloadEndpoint JSON
	ectl get --print-value-only "/tabby/v1/workloadendpoints/pol/h${HOST[$1]}-libnetwork-${EID[$1]}-eth0"
}
labels_are() { # NAME JSON: the WEP's labels are exactly JSON
	[ "$(wep "$1" | python3 -c 'import json,sys; print(json.dumps(json.load(sys.stdin)["metadata"].get("labels",{}),sort_keys=True))')" = "$2" ]
}
# can FROM TO: FROM fetches http://TO:8080/ (busybox nc, 2 s connect timeout) and sees hello-TO
can() {
	dk "${HOST[$1]}" exec "$1" sh -c "printf 'GET / HTTP/1.0\r\n\r\n' | nc -w 2 ${IP[$2]} 8080" 2>/dev/null |
		grep -q "hello-$2"
}
cannot() { ! can "$@"; }

ctr 1 srv --label role=server
ctr 1 same --label role=other
ctr 1 open
ctr 2 fe --label role=frontend
ctr 2 oth --label role=other
# the labels arrive after Join: wait for them (and for the pending marker to go) before asserting
for c in srv same open fe oth; do
	case $c in
	srv) want='{"role": "server"}' ;;
	same | oth) want='{"role": "other"}' ;;
	open) want='{}' ;;
	fe) want='{"role": "frontend"}' ;;
	esac
	check "$c: WEP labels become exactly $want (Docker labels, pending marker gone)" \
		wait_for 15 labels_are "$c" "$want"
done
check "h1 learned h2's block over BGP" wait_for 30 bash -c "ip -n ${HNS[1]} route show proto bird | grep -q ."

check "no policy: oth -> srv open (across hosts)" wait_for 20 can oth srv
check "no policy: same -> srv open (same host)" can same srv
check "no policy: fe -> srv open" can fe srv

cat <<EOF | apply
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: srv-from-frontend, namespace: pol}
spec:
  selector: role == 'server'
  types: [Ingress]
  ingress:
  - action: Allow
    protocol: TCP
    source: {selector: role == 'frontend'}
    destination: {ports: [8080]}
EOF
check "policy: oth (role=other, h2) -> srv times out" wait_for 20 cannot oth srv
check "policy: same (role=other, h1) -> srv times out" cannot same srv
check "policy: fe (role=frontend, h2) -> srv connects" can fe srv
check "no policy selects open: oth -> open connects" can oth open
check "no policy selects open: same -> open connects" can same open
check "srv itself is not limited in egress: srv -> open connects" can srv open

SRV_IF=$(ip -n "${HNS[1]}" route show "${IP[srv]}/32" | awk '{print $3}')
ip netns exec "${HNS[1]}" nft list table inet tabby >"$T_TMP/nft" 2>&1
check "h1: nft table inet tabby dispatches srv's $SRV_IF to its ingress chain" \
	grep -q "\"$SRV_IF\" : jump tby-tw-$SRV_IF" "$T_TMP/nft"
check "h1: chain tby-tw-$SRV_IF exists" grep -q "chain tby-tw-$SRV_IF {" "$T_TMP/nft"

# Changing the selector to role == 'other' flips who gets in (labels are really what matters).
cat <<EOF | apply
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: srv-from-frontend, namespace: pol}
spec:
  selector: role == 'server'
  types: [Ingress]
  ingress:
  - action: Allow
    protocol: TCP
    source: {selector: role == 'other'}
    destination: {ports: [8080]}
EOF
check "policy changed to role == 'other': fe -> srv times out" wait_for 20 cannot fe srv
check "... oth -> srv connects" can oth srv

# ---- the label window, made fail-closed by a policy on the pending marker
cat <<EOF | apply
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: docker-labels-pending}
spec:
  selector: has(docker.tabby.io/labels-pending)
  types: [Ingress, Egress]
  ingress: [{action: Deny}]
  egress: [{action: Deny}]
EOF
# What another docker test's or lab's cleanup does when it ends while we run: it must fail (our
# in-use file), else our dockerds' bind mounts are gone and the next `docker run` finds no plugin.
check "another run's cleanup cannot remove /run/docker/plugins while we use it" \
	bash -c '! rmdir /run/docker/plugins 2>/dev/null'
kill "${PPID_[1]}"
wait "${PPID_[1]}" 2>/dev/null
start_plugin 1 "$T_TMP/h1/no-dockerd.sock" # tabby-docker cannot ask dockerd for labels now
ctr 1 late --label role=frontend
sleep 2 # several lookups have failed by now
check "late: its WEP still carries only the pending marker" \
	labels_are late '{"docker.tabby.io/labels-pending": "true"}'
check "late (labels unknown) is isolated: oth -> late times out" wait_for 20 cannot oth late
check "late (labels unknown) is isolated: late -> open times out" cannot late open
check "open is still reachable: oth -> open" can oth open

for c in srv same open fe oth late; do dk "${HOST[$c]}" rm -f "$c" >/dev/null 2>&1; done
check "no WorkloadEndpoint left in pol" wait_for 10 bash -c \
	"[ -z \"\$(ETCDCTL_API=3 etcdctl --endpoints $TABBY_DATASTORE_ENDPOINTS get --keys-only --prefix /tabby/v1/workloadendpoints/pol/)\" ]"
summary
