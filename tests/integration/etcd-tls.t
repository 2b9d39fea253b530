#!/bin/bash
# etcd-tls.t - etcd with client certificates across three members (issue 12 item 3): a 2-host
# lab with `tabby-lab up --etcd-members 3 --etcd-tls` (CA, member and client certificates made
# by openssl; etcd asks clients and peers for a certificate). Felix, the CNI plugin and
# tabbyctl reach etcd over unixs:// sockets with the client certificate: workloads ping across
# hosts, a CNI ADD over TLS works, tabbyctl with the certificate lists the nodes h1 and h2 (-o
# json), and without it fails naming the refused key ("Key was rejected by service").
. "$(dirname "$0")/lib.sh"
need_root
export TABBY_LAB_PREFIX="et$$"
. "$(dirname "$0")/etcd-lib.sh"
command -v openssl >/dev/null || { echo "skipped: openssl not installed"; exit 77; }

lab_up --hosts 2 --workloads 1 --etcd-tls
T="$RUN/etcd-tls"
eps=$(sed -n 's/^datastoreEndpoints: //p' "$RUN/h1/felix.yaml")
check "felix is given 3 unixs:// endpoints ($eps)" [ "$(tr ',' '\n' <<<"$eps" | grep -c '^unixs://')" = 3 ]
check "felix is given the client certificate" grep -q "^datastoreCertFile: $T/client.crt" "$RUN/h1/felix.yaml"
check "every member requires client certificates" \
	bash -c "[ \$(grep -l -- '--client-cert-auth' /proc/\$(cat '$RUN/pids/etcd.pid')/cmdline /proc/\$(cat '$RUN/pids/etcd-2.pid')/cmdline /proc/\$(cat '$RUN/pids/etcd-3.pid')/cmdline | wc -l) = 3 ]"
check "plain http to a member is refused" \
	bash -c "! curl -sf --max-time 2 http://127.0.0.1:$(member_port 1)/health"
check "felix on h1 is ready over TLS" wait_for 30 is_ready 1
check "felix on h2 is ready over TLS" wait_for 30 is_ready 2
check "h1-w1 pings h2-w1" ip netns exec "$P-h1-w1" ping -c 2 -W 2 "$(wl_ip 2)"
check "h2-w1 pings h1-w1" ip netns exec "$P-h2-w1" ping -c 2 -W 2 "$(wl_ip 1)"

TLSENV=(TABBY_DATASTORE_CA_FILE="$T/ca.crt" TABBY_DATASTORE_CERT_FILE="$T/client.crt" TABBY_DATASTORE_KEY_FILE="$T/client.key")
env "${TLSENV[@]}" "$CTL" --datastore-endpoints "$eps" get nodes -o json >"$T_TMP/nodes.json" 2>"$T_TMP/nodes.err" ||
	{ cat "$T_TMP/nodes.err"; fail "tabbyctl get nodes -o json with the client certificate"; }
names=$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); d=d.get("items",d) if isinstance(d,dict) else d; print(" ".join(sorted(i["metadata"]["name"] for i in d)))' "$T_TMP/nodes.json")
check "tabbyctl with the client certificate lists nodes h1 h2 (got '$names')" [ "$names" = "h1 h2" ]
rc=0
env -u TABBY_DATASTORE_CERT_FILE -u TABBY_DATASTORE_KEY_FILE TABBY_DATASTORE_CA_FILE="$T/ca.crt" \
	"$CTL" --datastore-endpoints "$eps" get nodes -o json >"$T_TMP/nocert.out" 2>"$T_TMP/nocert.err" || rc=$?
echo "# without a client certificate: $(cat "$T_TMP/nocert.err")"
check "tabbyctl without the client certificate fails" [ "$rc" != 0 ]
check "... and prints no nodes" bash -c "! grep -q h1 '$T_TMP/nocert.out'"
check "... and says the key was rejected" grep -q 'Key was rejected' "$T_TMP/nocert.err"

cni_add 2 add-tls || { cat "$T_TMP/add-tls.cni.log"; fail "CNI ADD over TLS"; }
ok "CNI ADD over TLS ($(cat "$T_TMP/add-tls.ms") ms)"
echo "# measured: CNI ADD over TLS: $(cat "$T_TMP/add-tls.ms") ms"
check "the new workload (h2) pings h1-w1" wait_for 5 ip netns exec "$T_PREFIX-add-tls" ping -c 1 -W 1 "$(wl_ip 1)"
summary
