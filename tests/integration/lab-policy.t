#!/bin/bash
# lab-policy.t - network policy end to end through lab/tabby-lab, once per dataplane (nftables,
# then iptables): 2 hosts x 3 workloads (w1 app=client, w2 web, w3 db), the example policies of
# configs/examples/ in Calico and Kubernetes form, a TCP server in every workload, and
# `check --policy` making a real TCP connect for every flow of expected-policy.txt (allowed
# flows must connect, denied ones must time out). Then the test takes one policy away and
# checks that exactly the flows it denied now connect (so the check cannot pass vacuously),
# that the ping matrix still passes with policy on, and that `down` leaves nothing behind.
#
# Runs on the already built tree ($TABBY_BUILD_DIR) without apt, with its own namespace prefix
# and run directory, so it never touches a lab a user has running.
. "$(dirname "$0")/lib.sh"
need_root

. "$(dirname "$0")/lab-lib.sh"
lab_setup tp
FLOWS="$T_SRC/configs/examples/expected-policy.txt"

command -v iptables-restore >/dev/null && command -v ipset >/dev/null && command -v nft >/dev/null ||
	{ echo "skipped: needs nft, iptables-restore and ipset"; exit 77; }

ctl() { "$T_BUILD/ctl/tabbyctl" --datastore-endpoints "unix://$RUN/etcd/etcd.sock:$ETCD_PORT" "$@"; }
netns_left() { ip netns list | awk '{print $1}' | grep -c "^$P-" || true; }
nflows=$(grep -cvE '^[[:space:]]*(#|$)' "$FLOWS")
# db_open N - hN-w1 (a client) connects to h2-w3 (db) on 5432 within 1.5 s, as check --policy probes
db_open() {
	ip netns exec "$P-$1-w1" timeout 1.5 bash -c \
		"exec 3<>/dev/tcp/$(. "$RUN/workloads/h2-w3.env" && echo "$WL_IP")/5432" 2>/dev/null
}

for dp in nftables iptables; do
	# ---- up ---------------------------------------------------------------------------------
	if "$LAB" up --hosts 2 --workloads 3 --dataplane "$dp" >"$T_TMP/up.out" 2>&1; then
		ok "[$dp] tabby-lab up --hosts 2 --workloads 3 --dataplane $dp"
	else
		sed 's/^/#   /' "$T_TMP/up.out"
		fail "[$dp] tabby-lab up --dataplane $dp"
	fi
	. "$RUN/lab.env"
	check "[$dp] felix is configured for $dp" grep -qx "policyDataplane: $dp" "$RUN/h1/felix.yaml"
	check "[$dp] the example policies are stored (Calico and Kubernetes form)" \
		test "$(ctl get gnp | grep -c security.deny-client-to-db)" = 1 -a \
		"$(ctl get knp | grep -cE '^(web|db) ')" = 2
	check "[$dp] workloads carry the lab's app labels" \
		test "$(ctl get wep -o wide | grep -cE 'h[12]-w1 +app=client,lab-host=h[12]')" = 2

	# ---- the ruleset is in the backend felix was told to use ----------------------------------
	if [ "$dp" = nftables ]; then
		check "[$dp] h1 has table inet tabby" bash -c "ip netns exec $P-h1 nft list table inet tabby >/dev/null"
	else
		check "[$dp] h1 has tby- chains in iptables" \
			test "$(ip netns exec "$P-h1" iptables-save -t filter | grep -c '^:tby-')" -gt 0
		check "[$dp] ... and no table inet tabby" bash -c "! ip netns exec $P-h1 nft list table inet tabby >/dev/null 2>&1"
	fi

	# ---- every flow of expected-policy.txt, with real TCP connects ---------------------------
	rc=0
	"$LAB" check --policy >"$T_TMP/policy.out" 2>&1 || rc=$?
	sed 's/^/#   /' "$T_TMP/policy.out"
	check "[$dp] check --policy prints '$nflows passed, 0 failed'" grep -qx "$nflows passed, 0 failed" "$T_TMP/policy.out"
	check "[$dp] check --policy exits 0" [ "$rc" = 0 ]

	# ---- ping still works between every pair across hosts (ICMP allowed by the examples) ------
	rc=0
	"$LAB" check >"$T_TMP/check.out" 2>&1 || rc=$?
	check "[$dp] the ping matrix passes with policy on" grep -qx "18 passed, 0 failed" "$T_TMP/check.out"

	# ---- take the security tier's Deny away: the client -> db flows now connect --------------
	ctl delete globalnetworkpolicy security.deny-client-to-db >/dev/null
	# Up to 10 s for felix to program that (both client -> db flows connect), then one round of
	# check --policy: rounds never match now, so its own wait would always run out (10 s).
	end=$((SECONDS + 10))
	until db_open h1 && db_open h2; do
		[ "$SECONDS" -lt "$end" ] || break
		sleep 0.2
	done
	rc=0
	TABBY_LAB_POLICY_WAIT=0 "$LAB" check --policy >"$T_TMP/policy2.out" 2>&1 || rc=$?
	sed 's/^/#   /' "$T_TMP/policy2.out"
	failed=$(grep -E ' FAIL ' "$T_TMP/policy2.out" | awk '{print $1, $2, $4, $5, $6}' | sort)
	check "[$dp] without the tier policy, exactly the client -> db flows fail (they connect)" \
		test "$failed" = "$(printf '%s\n' 'h1-w1 h2-w3 5432 timeout connect' 'h2-w1 h2-w3 5432 timeout connect' | sort)"
	check "[$dp] ... and check --policy exits non-zero" [ "$rc" != 0 ]

	# ---- down -------------------------------------------------------------------------------
	mapfile -t pids < <(cat "$RUN"/pids/*.pid "$RUN"/policy/pids/*.pid 2>/dev/null)
	if "$LAB" down >"$T_TMP/down.out" 2>&1; then ok "[$dp] tabby-lab down"; else
		sed 's/^/#   /' "$T_TMP/down.out"
		fail "[$dp] tabby-lab down"
	fi
	left=0
	for p in "${pids[@]}"; do proc_gone "$p" || left=$((left + 1)); done
	check "[$dp] the lab recorded 5 daemons and 6 TCP servers" [ "${#pids[@]}" = 11 ]
	check "[$dp] down stopped every recorded process, TCP servers included" [ "$left" = 0 ]
	[ "$(netns_left)" = 0 ] || { ip netns list | grep "^$P-"; cat "$T_TMP/down.out"; }
	check "[$dp] down deleted every namespace of the lab" [ "$(netns_left)" = 0 ]
done

summary
