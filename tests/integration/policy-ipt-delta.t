#!/bin/bash
# iptables policy as deltas (issue 8 item 4): felix on iptables gets a seeded random sequence of
# DELTA_STEPS (60) changes through etcd: local workload endpoints added, relabelled and deleted,
# policies put (selector, ports and peer selector changing) and deleted, remote endpoints added
# and deleted (set members). felix applies them incrementally (only the changed chains, ipset
# add/del lines). Then the kernel state, iptables-save and ip6tables-save of the tby- chains
# (rule order kept per chain) and `ipset save` of the tby- sets (members sorted), must equal what
# a restarted felix loads with a full render of the same datastore.
. "$(dirname "$0")/policy-setup.sh"
STEPS=${DELTA_STEPS:-60}
policy_setup 198.18.0.2/24
h1_config iptables 3600 "logSeverityScreen: Info"
start_felix() {
	TABBY_DATASTORE_ENDPOINTS=$TABBY_TEST_ETCD_UNIX ip netns exec "$H" "$FELIX" --config "$T_TMP/felix.yaml" >>"$T_TMP/felix.log" 2>&1 &
	FELIX_PID=$!
	track_pid "$FELIX_PID"
}
trap 'rc=$?; [ $rc = 0 ] || { echo "--- felix.log"; tail -30 "$T_TMP/felix.log"; }; t_cleanup' EXIT

# Our kernel state, normalised: chains sorted by name with their rules in order (counters
# dropped), sets as "create NAME TYPE" plus sorted members.
dump() {
	local t
	for t in iptables ip6tables; do
		echo "## $t"
		ip netns exec "$H" "$t-save" -t filter | awk '
			/^:tby-/ { print "0 " $1; next }
			/^-A tby-/ { n[$2]++; printf "1 %s %06d %s\n", $2, n[$2], $0 }' | sort
	done
	echo "## ipset"
	ip netns exec "$H" ipset save | awk '$1 == "create" && $2 ~ /^tby-/ { print "create", $2, $3; next }
		$1 == "add" && $2 ~ /^tby-/ { print }' | sort
}
# Wait until felix has not logged a "policy applied" line for 2 s.
settle() {
	local last=-1 n
	for _ in $(seq 1 60); do
		n=$(grep -c 'policy applied' "$T_TMP/felix.log")
		[ "$n" = "$last" ] && return 0
		last=$n
		sleep 2
	done
	return 1
}

wep() { # NAME NODE IP LABELS-JSON
	local cid ifn
	cid=$(printf '%s' "$1" | sha1sum | cut -c1-12)
	ifn=tby$(printf '%s' "default.$1" | sha1sum | cut -c1-11)
	ectl put "/tabby/v1/workloadendpoints/default/$2-cni-$cid-eth0" '{"apiVersion":"projectcalico.org/v3","kind":"WorkloadEndpoint","metadata":{"name":"'$2-cni-$cid'-eth0","namespace":"default","labels":'"$4"'},"spec":{"orchestrator":"cni","node":"'$2'","containerID":"'$cid'","endpoint":"eth0","interfaceName":"'$ifn'","mac":"ee:ee:ee:00:00:01","ipNetworks":["'$3'"]}}' >/dev/null
}
wep_del() { # NAME NODE
	ectl del "/tabby/v1/workloadendpoints/default/$2-cni-$(printf '%s' "$1" | sha1sum | cut -c1-12)-eth0" >/dev/null
}
pol() { # N SELECTOR-VALUE PEER-ROLE PORT
	ectl put "/tabby/v1/networkpolicies/default/p$1" '{"apiVersion":"projectcalico.org/v3","kind":"NetworkPolicy","metadata":{"name":"p'$1'","namespace":"default"},"spec":{"order":'$((100 + $1))',"selector":"app == '"'a$2'"'","types":["Ingress","Egress"],"ingress":[{"action":"Allow","protocol":"TCP","source":{"selector":"role == '"'r$3'"'"},"destination":{"ports":['$4']}},{"action":"Deny","protocol":"UDP","destination":{"ports":[53]}}],"egress":[{"action":"Allow","destination":{"selector":"role == '"'r$3'"'"}},{"action":"Deny"}]}}' >/dev/null
}

start_felix
check "felix applied in full on iptables" wait_for 20 grep -q 'policy applied (iptables, full)' "$T_TMP/felix.log"

RANDOM=${DELTA_SEED:-4242} # DELTA_SEED: another sequence
declare -A LOCAL REMOTE
for step in $(seq 1 "$STEPS"); do
	i=$((RANDOM % 12))
	case $((RANDOM % 8)) in
	0 | 1) # a local endpoint appears or is relabelled (v4, sometimes v4 + v6)
		if [ $((i % 3)) = 0 ]; then
			ips='198.19.0.'$((10 + i))'/32","2001:db8::'$((10 + i))'/128'
		else
			ips=198.19.0.$((10 + i))/32
		fi
		wep "l$i" h1 "$ips" '{"app":"a'$((RANDOM % 3))'","role":"r'$((RANDOM % 3))'"}'
		LOCAL[$i]=1 ;;
	2) # a local endpoint goes
		wep_del "l$i" h1
		unset "LOCAL[$i]" ;;
	3 | 4) # a policy is put (new or changed)
		pol $((i % 4)) $((RANDOM % 3)) $((RANDOM % 3)) $((80 + RANDOM % 4)) ;;
	5) # a policy goes
		ectl del "/tabby/v1/networkpolicies/default/p$((i % 4))" >/dev/null ;;
	6) # a remote endpoint appears (set members)
		wep "r$i" h2 198.19.1.$((10 + i))/32 '{"app":"a'$((RANDOM % 3))'","role":"r'$((RANDOM % 3))'"}'
		REMOTE[$i]=1 ;;
	7)
		wep_del "r$i" h2
		unset "REMOTE[$i]" ;;
	esac
	sleep 0.$((RANDOM % 3))
done
check "the changes settled" settle
ok "$STEPS changes: ${#LOCAL[@]} local and ${#REMOTE[@]} remote endpoints remain"
n_inc=$(grep -c 'policy applied (iptables, incremental).*chains written [1-9]' "$T_TMP/felix.log")
n_full=$(grep -c 'policy applied (iptables, full)' "$T_TMP/felix.log")
check "rule changes went as deltas ($n_inc incremental applies that wrote chains, $n_full full)" \
	bash -c "[ $n_inc -ge 10 ] && [ $n_full = 1 ]"
check "no delta fell back to a full apply" bash -c "! grep -q 'incremental iptables update not possible' $T_TMP/felix.log"
dump >"$T_TMP/delta.txt"
n_fw=$(grep -c '^0 :tby-fw-' "$T_TMP/delta.txt")
check "one tby-fw- chain per remaining local endpoint and family ($n_fw)" \
	bash -c "[ $n_fw -ge ${#LOCAL[@]} ] && [ $n_fw -le $((2 * ${#LOCAL[@]})) ]"
check "the dispatch ends with the fail-closed DROP" grep -q -- '-A tby-from-wl -i tby+ .*-j DROP' "$T_TMP/delta.txt"

kill -TERM "$FELIX_PID"
wait "$FELIX_PID"
mv "$T_TMP/felix.log" "$T_TMP/felix.log.1"
# restart_and_compare WHAT EXPECTED OUT FAILMSG: start felix, wait for its full apply and for it
# to settle, dump the kernel state to OUT and fail with FAILMSG when it differs from EXPECTED.
restart_and_compare() {
	start_felix
	check "felix applied in full ($1)" wait_for 20 grep -q 'policy applied (iptables, full)' "$T_TMP/felix.log"
	check "settled ($1)" settle
	dump >"$3"
	if ! diff -u "$2" "$3" >"$3.diff"; then
		head -40 "$3.diff"
		fail "$4 ($(grep -c '^[-+][^-+]' "$3.diff") lines)"
	fi
}
restart_and_compare "restart after the deltas" "$T_TMP/delta.txt" "$T_TMP/full.txt" \
	"the deltas left a state that differs from a full render"
ok "state after $STEPS deltas == full render ($(wc -l <"$T_TMP/full.txt") lines: chains, rules, set members)"
# The restart found every chain and set as rendered (their rules' tby:<hash> comments, the
# sets' members in `ipset save`) and wrote nothing again.
check "the restart rewrote no chain and no set" \
	grep -q 'policy applied (iptables, full).*chains written 0 removed 0, .* 0 bytes' "$T_TMP/felix.log"
# ... without reading the chains back: the stop saved them, and nothing committed since.
check "the restart took the chains from the state the stop saved" \
	grep -q 'nothing committed since the last run saved its state' "$T_TMP/felix.log"

# Someone changes our chains and sets while felix is down: the next start finds and repairs
# exactly that (a rule deleted, a foreign rule added, a chain of ours that is not rendered, a
# set member removed, a member added, the FORWARD hook jump deleted).
kill -TERM "$FELIX_PID"
wait "$FELIX_PID"
mv "$T_TMP/felix.log" "$T_TMP/felix.log.2"
c1=$(grep -m1 -o '^0 :tby-fw-[^ ]*' "$T_TMP/full.txt" | cut -c4-)
c2=$(grep -m1 -o '^0 :tby-tw-[^ ]*' "$T_TMP/full.txt" | cut -c4-)
s1=$(awk '$1 == "add" { print $2; exit }' "$T_TMP/full.txt")
m1=$(awk '$1 == "add" { print $3; exit }' "$T_TMP/full.txt")
s2=$(awk '$1 == "create" && $3 == "hash:net" { print $2; exit }' "$T_TMP/full.txt")
check "tampered with $c1, $c2, $s1 and $s2" bash -c "
	ip netns exec $H iptables -D $c1 1 &&
	ip netns exec $H iptables -A $c2 -s 198.18.9.9 -j ACCEPT &&
	ip netns exec $H iptables -N tby-stale-x &&
	ip netns exec $H ipset del $s1 $m1 &&
	ip netns exec $H ipset add $s2 198.18.9.10 &&
	ip netns exec $H iptables -D FORWARD -m comment --comment tby:hook -j tby-forward"
check "the stop saved its state" test -s "$T_TMP/felix-iptables.state"
restart_and_compare "restart on the changed tables" "$T_TMP/full.txt" "$T_TMP/repaired.txt" \
	"the restart left changes made while felix was down"
check "the saved state was not trusted (the nf_tables generation moved)" \
	grep -q 'changed since the last run saved its state' "$T_TMP/felix.log"
ok "every change made while felix was down is repaired, the rest was left as it was"
check "it rewrote the two chains and removed the stale one (iptables)" \
	grep -q 'policy applied (iptables, full).*chains written 2 removed 1,' "$T_TMP/felix.log"
# The hook jumps are checked against what iptables-save printed before the restore: the
# deleted FORWARD jump is back, and the other two were not inserted twice.
check "the deleted FORWARD -> tby-forward jump is back" \
	ip netns exec "$H" iptables -C FORWARD -m comment --comment tby:hook -j tby-forward
check "one jump per hook" bash -c \
	"[ \$(ip netns exec $H iptables-save -t filter | grep -c -- '--comment \"tby:hook\"') = 3 ]"

# A restart that waits for the datastore: felix starts reading the kernel at once (the status
# file names iptables), and a rule of ours is deleted before the datastore answers. The first
# apply must not trust the read made before that (the nf_tables generation moved: it reads
# again) and must put the rule back.
kill -TERM "$FELIX_PID"
wait "$FELIX_PID"
mv "$T_TMP/felix.log" "$T_TMP/felix.log.3"
check "the status file names iptables" grep -q '"dataplane":"iptables"' "$T_TMP/felix-status.json"
TABBY_DATASTORE_ENDPOINTS="unix://$T_TMP/late.sock" ip netns exec "$H" "$FELIX" --config "$T_TMP/felix.yaml" >>"$T_TMP/felix.log" 2>&1 &
FELIX_PID=$!
track_pid "$FELIX_PID"
check "felix waits for the datastore" wait_for 20 grep -q 'datastore not reachable yet' "$T_TMP/felix.log"
sleep 1 # the three tools started before that line; at this scale they end within milliseconds
check "deleted rule 1 of $c1 while felix waits" ip netns exec "$H" iptables -D "$c1" 1
ln -s "${TABBY_TEST_ETCD_UNIX#unix://}" "$T_TMP/late.sock"
check "felix applied in full (late datastore)" wait_for 30 grep -q 'policy applied (iptables, full)' "$T_TMP/felix.log"
check "settled (late datastore)" settle
check "it started from the state the stop saved" \
	grep -q 'nothing committed since the last run saved its state' "$T_TMP/felix.log"
check "it noticed the change since its read ahead" grep -q 'changed while they were read ahead' "$T_TMP/felix.log"
dump >"$T_TMP/late.txt"
if diff -u "$T_TMP/full.txt" "$T_TMP/late.txt" >"$T_TMP/late.txt.diff"; then
	ok "the rule deleted after the read ahead is back"
else
	head -20 "$T_TMP/late.txt.diff"
	fail "the first apply trusted a read made before the change"
fi

# The backend switched at run time (FelixConfiguration nftablesMode), and back: the status
# file follows each switch, so the next start reads ahead (and takes the saved state) for the
# backend felix last ran, not the one it started with.
felixcfg() {
	ectl put /tabby/v1/felixconfigurations/default '{"apiVersion":"projectcalico.org/v3","kind":"FelixConfiguration","metadata":{"name":"default"},"spec":{"nftablesMode":"'"$1"'"}}' >/dev/null
}
n0=$(grep -c 'policy applied (iptables, full)' "$T_TMP/felix.log")
felixcfg Enabled
check "switched to nftables at run time" wait_for 30 grep -q 'policy applied (nftables, full)' "$T_TMP/felix.log"
check "the status file names nftables" wait_for 5 grep -q '"dataplane":"nftables"' "$T_TMP/felix-status.json"
felixcfg Disabled
check "switched back to iptables" wait_for 30 bash -c \
	"[ \$(grep -c 'policy applied (iptables, full)' $T_TMP/felix.log) -gt $n0 ]"
check "the status file names iptables again" wait_for 5 grep -q '"dataplane":"iptables"' "$T_TMP/felix-status.json"
check "settled (switched back)" settle
kill -TERM "$FELIX_PID"
wait "$FELIX_PID"
mv "$T_TMP/felix.log" "$T_TMP/felix.log.4"
restart_and_compare "restart after switching back" "$T_TMP/full.txt" "$T_TMP/back.txt" \
	"the switches left a state that differs from a full render"
check "that restart took the chains from the saved state and wrote nothing" bash -c \
	"grep -q 'nothing committed since the last run saved its state' $T_TMP/felix.log &&
	 grep -q 'policy applied (iptables, full).*chains written 0 removed 0, .* 0 bytes' $T_TMP/felix.log"

# A commit of someone else while felix runs (a chain that is not ours): at exit felix cannot
# prove the kernel holds what it applied, so it saves nothing and the next start reads back.
check "another program commits while felix runs" ip netns exec "$H" iptables -N ext-x
kill -TERM "$FELIX_PID"
wait "$FELIX_PID"
check "felix saw the foreign commit at exit" grep -q 'not provably ours as applied' "$T_TMP/felix.log"
check "and left no state file" test ! -e "$T_TMP/felix-iptables.state"
summary
