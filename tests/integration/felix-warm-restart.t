#!/bin/bash
# Warm restart: felix saves its cache at exit (felix-datastore.cache beside the status file) and
# at start lists keys only, reading just the values that changed while it was down. Changes
# made while felix was stopped must all take effect, on real traffic:
#   .5  a remote client whose labels changed (app=client -> app=gone): denied after restart
#   .6  a remote client created while felix was down: allowed
#   .7  a remote client deleted while felix was down: denied
#   .8  a remote client unchanged (kept from the file, not read again): still allowed
#   .9  an unchanged endpoint (app=other) that the policy, edited while felix was down, now
#       allows: denied before, allowed after
# The table a warm start programs equals the one a cold start (no file) programs, and a damaged
# file is refused with a warning and felix starts cold.
. "$(dirname "$0")/policy-setup.sh"

policy_setup 198.19.200.5/32
for i in 6 7 8 9; do ip -n "$TOR" addr add "198.19.200.$i/32" dev th1; done

h1_config nftables 600
CACHE=$T_TMP/felix-datastore.cache
start_felix() {
	TABBY_DATASTORE_ENDPOINTS=$TABBY_TEST_ETCD_UNIX ip netns exec "$H" "$FELIX" --config "$T_TMP/felix.yaml" >>"$T_TMP/felix.log" 2>&1 &
	FELIX_PID=$!
	track_pid "$FELIX_PID"
}
applied() { grep -c "policy applied (nftables, full)" "$T_TMP/felix.log"; }
# start_wait: start felix and wait for its first full apply
start_wait() {
	local n0
	n0=$(applied)
	start_felix
	wait_for 30 bash -c "[ \$(grep -c 'policy applied (nftables, full)' $T_TMP/felix.log) -gt $n0 ]"
}
stop_felix() { kill -TERM "$FELIX_PID"; wait "$FELIX_PID"; }
trap 'rc=$?; [ $rc = 0 ] || { echo "--- felix.log"; tail -40 "$T_TMP/felix.log"; }; t_cleanup' EXIT
start_felix

local_web
remote() { wep "h2-cni-00000000000$1-eth0" h2 "198.19.200.$1" "$2" '[]' "tbyremote000$1" "ee:ee:ee:00:00:0$1"; }
can() { ip netns exec "$TOR" python3 "$T_TMP/conn.py" "$WEB" 80 "198.19.200.$1"; }
cannot() { ! can "$1"; }

# web_policy SELECTOR: NetworkPolicy prod/web lets sources matching SELECTOR reach web:80.
web_policy() {
	cat <<EOF | apply || fail "tabbyctl apply"
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: web, namespace: prod}
spec:
  selector: app == 'web'
  ingress:
  - action: Allow
    protocol: TCP
    source: {selector: "$1"}
    destination: {ports: [80]}
EOF
}
web_policy "app == 'client'"
remote 5 '{"app":"client"}'
remote 7 '{"app":"client"}'
remote 8 '{"app":"client"}'
remote 9 '{"app":"other"}'
check "policy in the kernel" wait_for 20 bash -c "ip netns exec $H nft list table inet tabby | grep -q \"client'\""
for i in 5 7 8; do check "before: .$i (app=client) -> web:80 allowed" wait_for 10 can $i; done
check "before: .6 (no endpoint) -> web:80 denied" cannot 6
check "before: .9 (app=other) -> web:80 denied" cannot 9

stop_felix
check "felix saved its cache at exit" grep -q "cache file $CACHE: .* resources at revision .* saved" "$T_TMP/felix.log"
check "the cache file is there, mode 0600" test "$(stat -c %a "$CACHE")" = 600

# While felix is down: .5 changes labels, .6 appears, .7 goes, the policy also allows
# app=other; .8 and .9 stay as they were.
remote 5 '{"app":"gone"}'
web_policy "app in {'client', 'other'}"
remote 6 '{"app":"client"}'
ectl del /tabby/v1/workloadendpoints/prod/h2-cni-000000000007-eth0 >/dev/null
start_wait
check "felix loaded the cache file" grep -q "cache file $CACHE: .* resources at revision .* loaded" "$T_TMP/felix.log"
kept=$(grep "in sync with the datastore" "$T_TMP/felix.log" | tail -1 | sed -n 's/.*; \([0-9]*\) kept from the cache file.*/\1/p')
check "the warm snapshot kept most resources from the file ($kept)" test "${kept:-0}" -ge 5
check "warm: .5 (labels changed to app=gone while down) denied" wait_for 10 cannot 5
check "warm: .6 (created while down) allowed" wait_for 10 can 6
check "warm: .7 (deleted while down) denied" wait_for 10 cannot 7
check "warm: .8 (unchanged, kept from the file) allowed" wait_for 10 can 8
check "warm: .9 (unchanged; the policy edited while down allows it) allowed" wait_for 10 can 9
list() { ip netns exec "$H" nft list table inet tabby; }
WARM=$(list)

# The same datastore with no file: a cold start programs the same table.
kill -9 "$FELIX_PID"; wait "$FELIX_PID" 2>/dev/null
rm -f "$CACHE"
start_wait
check "cold start: nothing kept" bash -c "grep 'in sync with the datastore' $T_TMP/felix.log | tail -1 | grep -q '; 0 kept from the cache file'"
COLD=$(list)
check "the warm start's table equals the cold start's" test "$WARM" = "$COLD"

# A damaged file is refused with a warning naming it, and felix starts cold.
stop_felix
check "saved again" test -s "$CACHE"
printf 'XX' | dd of="$CACHE" bs=1 seek=200 conv=notrunc status=none
start_wait
check "a damaged file is refused with a warning" grep -q "$CACHE: .*checksum: does not match (a damaged file); starting without the cache file" "$T_TMP/felix.log"
check "and nothing is kept" bash -c "grep 'in sync with the datastore' $T_TMP/felix.log | tail -1 | grep -q '; 0 kept from the cache file'"
check "after it: .6 allowed" wait_for 10 can 6
check "after it: .5 denied" cannot 5
check "after it: the same table" test "$(list)" = "$COLD"
stop_felix
summary
