#!/bin/bash
# nftables delta path: a REMOTE endpoint written to etcd reaches the kernel sets of `table inet
# tabby` as an element-only nf_tables batch (libnftnl), with no chain touched. Checks the
# elements in the kernel (nft list set), real traffic that depends on the interval elements,
# the removal on delete, and felix's log: element-only incremental batches, one full replace
# (the first apply) and no failed batch.
. "$(dirname "$0")/policy-setup.sh"

# The tor also owns 198.19.200.5, the address of a workload on "h2".
policy_setup 198.19.200.5/32

h1_config nftables 600 "logSeverityScreen: Debug"
TABBY_DATASTORE_ENDPOINTS=$TABBY_TEST_ETCD_UNIX ip netns exec "$H" "$FELIX" --config "$T_TMP/felix.yaml" >>"$T_TMP/felix.log" 2>&1 &
FELIX_PID=$!
track_pid "$FELIX_PID"
trap 'rc=$?; [ $rc = 0 ] || { echo "--- felix.log"; tail -40 "$T_TMP/felix.log"; }; t_cleanup' EXIT

local_web
can() { ip netns exec "$TOR" python3 "$T_TMP/conn.py" "$WEB" 80 198.19.200.5; }
cannot() { ! can; }

cat <<EOF | apply
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: web, namespace: prod}
spec:
  selector: app == 'web'
  ingress:
  - action: Allow
    protocol: TCP
    source: {selector: app == 'client'}
    destination: {ports: [80]}
  - action: Allow
    protocol: TCP
    destination: {ports: [http-alt]}
EOF
check "policy in the kernel" wait_for 20 bash -c "ip netns exec $H nft list table inet tabby | grep -q \"client'\""
check "default deny: 198.19.200.5 (no endpoint yet) -> web:80" wait_for 10 cannot
# The selector set of "app == 'client'" and the named-port set of http-alt, by their comments.
set_of() { ip netns exec "$H" nft list table inet tabby | awk -v pat="$1" -v pfx="$2" '
	/^\tset / { name = $2 } index($0, pat) && index(name, pfx) == 1 { print name; exit }'; }
SEL=$(set_of "'client'" s4-)
[ -n "$SEL" ] || fail "no s4- set for app == 'client'"
in_set() { ip netns exec "$H" nft list set inet tabby "$1" | grep -q -- "$2"; }

wep h2-cni-00000000000a-eth0 h2 198.19.200.5 '{"app":"client"}' '[]' tbyremote0001 ee:ee:ee:00:00:01
check "remote endpoint 198.19.200.5 in set $SEL" wait_for 10 in_set "$SEL" '198\.19\.200\.5\b'
check "remote client allowed by the kernel set: 198.19.200.5 -> web:80" wait_for 10 can
check "neighbour 198.19.200.4 is not in $SEL" bash -c "! ip netns exec $H nft get element inet tabby $SEL '{ 198.19.200.4 }' >/dev/null 2>&1"
check "neighbour 198.19.200.6 is not in $SEL" bash -c "! ip netns exec $H nft get element inet tabby $SEL '{ 198.19.200.6 }' >/dev/null 2>&1"

# A remote endpoint with a named port lands in the p4- set (concatenated key).
wep h2-cni-00000000000b-eth0 h2 198.19.200.9 '{"app":"db"}' '[{"name":"http-alt","protocol":"TCP","port":8080}]' tbyremote0002 ee:ee:ee:00:00:02
PS=$(ip netns exec "$H" nft list table inet tabby | sed -n 's/^\tset \(p4-[^ ]*\) {/\1/p' | head -1)
[ -n "$PS" ] || fail "no p4- set for the named port"
check "named port element in $PS" wait_for 10 in_set "$PS" '198\.19\.200\.9 \. tcp \. 8080'

ectl del /tabby/v1/workloadendpoints/prod/h2-cni-00000000000a-eth0 >/dev/null
check "deleted remote endpoint leaves $SEL" wait_for 10 bash -c "! ip netns exec $H nft list set inet tabby $SEL | grep -q '198\.19\.200\.5\b'"
check "and its traffic is denied again" wait_for 10 cannot
ectl del /tabby/v1/workloadendpoints/prod/h2-cni-00000000000b-eth0 >/dev/null
check "named port element leaves $PS" wait_for 10 bash -c "! ip netns exec $H nft list set inet tabby $PS | grep -q '198\.19\.200\.9'"

check "remote endpoints went as element-only batches" grep -q "policy applied (nftables, incremental).*elements +1 -0, chains written 0 removed 0, 0 rules" "$T_TMP/felix.log"
check "no failed nftables batch" bash -c "! grep -q 'nftables batch failed' $T_TMP/felix.log"
check "one full replace (the first apply)" test "$(grep -c 'policy applied (nftables, full)' "$T_TMP/felix.log")" = 1

# The resync (SIGHUP forces one) replaces nothing while no nf_tables transaction was committed
# since felix's last batch (the ruleset generation): every handle stays. After a change by hand
# (an element added to our set, so the generation moves) the resync replaces the table: the
# element goes.
handles() { ip netns exec "$H" nft -a list table inet tabby | md5sum; }
before=$(handles)
kill -HUP "$FELIX_PID"
check "resync with an unchanged generation replaces nothing" wait_for 10 grep -q "resync: nftables unchanged since our last batch" "$T_TMP/felix.log"
check "every handle of table inet tabby is the same after it" test "$(handles)" = "$before"
check "still one full replace" test "$(grep -c 'policy applied (nftables, full)' "$T_TMP/felix.log")" = 1
ip netns exec "$H" nft add element inet tabby "$SEL" '{ 198.19.200.77 }'
check "element added by hand" in_set "$SEL" '198\.19\.200\.77\b'
kill -HUP "$FELIX_PID"
check "resync after a change by hand replaces the table" wait_for 10 bash -c "test \$(grep -c 'policy applied (nftables, full)' $T_TMP/felix.log) = 2"
check "the element added by hand is gone" bash -c "! ip netns exec $H nft list set inet tabby $SEL | grep -q '198\.19\.200\.77'"
check "traffic from a deleted endpoint's address is still denied" cannot
kill -TERM "$FELIX_PID"; wait "$FELIX_PID"
summary
