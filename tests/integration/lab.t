#!/bin/bash
# lab.t - the lab end to end, through lab/tabby-lab: etcd, 3 hosts each with tabby-felix and
# BIRD, 2 workloads per host made by the tabby CNI plugin. Asserts real behaviour: pings across
# hosts pass, a ping to an address nobody holds fails, one /26 per host in etcd and in the kernel
# (blackhole), full-mesh BGP sessions Established, and `down` leaves no namespace or process.
#
# Runs on the already built tree ($TABBY_BUILD_DIR) without apt, with its own namespace prefix
# and run directory, so it never touches a lab a user has running.
. "$(dirname "$0")/lib.sh"
need_root

H=3
W=2
. "$(dirname "$0")/lab-lib.sh"
lab_setup tl

ctl() { "$T_BUILD/ctl/tabbyctl" --datastore-endpoints "$ENDPOINT" "$@"; }
etcdget() { ETCDCTL_API=3 etcdctl --endpoints "http://127.0.0.1:$ETCD_PORT" get "$@"; }
wl_ip() { sed -n 's/^WL_IP=//p' "$RUN/workloads/$1.env"; }
netns_left() { ip netns list | awk '{print $1}' | grep -c "^$P-" || true; }

# ---- up -----------------------------------------------------------------------------------------
if "$LAB" up --hosts "$H" --workloads "$W" >"$T_TMP/up.out" 2>&1; then
	ok "tabby-lab up --hosts $H --workloads $W"
else
	sed 's/^/#   /' "$T_TMP/up.out"
	fail "tabby-lab up --hosts $H --workloads $W"
fi
. "$RUN/lab.env"
ENDPOINT="unix://$RUN/etcd/etcd.sock:$ETCD_PORT"

# ---- check: every ordered pair of workloads on different hosts ----------------------------------
pairs=$((H * W * (H - 1) * W))
rc=0
"$LAB" check >"$T_TMP/check.out" 2>&1 || rc=$?
sed 's/^/#   /' "$T_TMP/check.out"
check "check prints '$pairs passed, 0 failed'" grep -qx "$pairs passed, 0 failed" "$T_TMP/check.out"
check "check exits 0" [ "$rc" = 0 ]

# ---- IPAM: exactly one /26 per host, distinct, inside the pool; workloads inside their block -----
declare -A block_of
for n in $(seq 1 "$H"); do
	mapfile -t aff < <(etcdget --prefix --keys-only "/tabby/v1/ipam/affinities/h$n/" | grep .)
	check "h$n has exactly one block affinity in etcd (${aff[*]:-none})" [ "${#aff[@]}" = 1 ]
	b=${aff[0]##*/}
	block_of[$n]="${b%-*}/${b##*-}"
	check "h$n's block ${block_of[$n]} is a /26 of 198.19.0.0/16" \
		python3 -c 'import ipaddress,sys; n=ipaddress.ip_network(sys.argv[1]); sys.exit(not (n.prefixlen==26 and n.subnet_of(ipaddress.ip_network("198.19.0.0/16"))))' "${block_of[$n]}"
	check "block ${block_of[$n]} exists in etcd" test -n "$(etcdget --keys-only "/tabby/v1/ipam/blocks/$b")"
	for m in $(seq 1 "$W"); do
		ip=$(wl_ip "h$n-w$m")
		check "h$n-w$m ($ip) is in h$n's block ${block_of[$n]}" \
			python3 -c 'import ipaddress,sys; sys.exit(ipaddress.ip_address(sys.argv[1]) not in ipaddress.ip_network(sys.argv[2]))' "$ip" "${block_of[$n]}"
	done
done
check "the $H blocks are distinct" [ "$(printf '%s\n' "${block_of[@]}" | sort -u | wc -l)" = "$H" ]
ctl ipam show --show-blocks >"$T_TMP/ipam.out" 2>&1 || fail "tabbyctl ipam show --show-blocks failed: $(cat "$T_TMP/ipam.out")"
for n in $(seq 1 "$H"); do
	check "tabbyctl ipam show --show-blocks lists ${block_of[$n]}" grep -qF "${block_of[$n]}" "$T_TMP/ipam.out"
done

# ---- kernel and BGP on every host ---------------------------------------------------------------
for n in $(seq 1 "$H"); do
	ns="$P-h$n"
	est=$(birdc -s "$RUN/h$n/bird.ctl" show protocols | grep -c Established || true)
	check "h$n: $est of $((H - 1)) BGP sessions Established" [ "$est" = $((H - 1)) ]
	check "h$n: tabbyctl node status reports Established sessions" \
		sh -c "'$T_BUILD/ctl/tabbyctl' node status --bird-socket '$RUN/h$n/bird.ctl' | grep -q Established"
	check "h$n: blackhole for its block ${block_of[$n]}" \
		sh -c "ip -n '$ns' route show '${block_of[$n]}' | grep -q '^blackhole'"
	for m in $(seq 1 "$W"); do
		ip=$(wl_ip "h$n-w$m")
		check "h$n: route $ip/32 dev tby* proto 81" \
			sh -c "ip -n '$ns' route show proto 81 | grep -Eq '^$ip dev tby[0-9a-f]{11} '"
	done
	for o in $(seq 1 "$H"); do
		[ "$o" = "$n" ] && continue
		check "h$n: route to h$o's block ${block_of[$o]} via 198.18.0.$((10 + o))" \
			sh -c "ip -n '$ns' route show '${block_of[$o]}' | grep -q 'via 198.18.0.$((10 + o)) '"
	done
done

# ---- a ping to an address no workload holds must fail -------------------------------------------
assigned=$(cat "$RUN"/workloads/*.env | sed -n 's/^WL_IP=//p')
unused=$(python3 -c '
import ipaddress, sys
used = set(sys.argv[2].split())
for a in reversed(list(ipaddress.ip_network(sys.argv[1]).hosts())):
    if str(a) not in used:
        print(a); break' "${block_of[1]}" "$assigned")
check "$unused (in h1's block, unassigned) is not a workload address" [ -n "$unused" ]
if ip netns exec "$P-h2-w1" ping -c 2 -W 1 -i 0.2 "$unused" >/dev/null 2>&1; then
	fail "ping h2-w1 -> $unused (unassigned) must fail but was answered"
else
	ok "ping h2-w1 -> $unused (unassigned) fails"
fi
if ip netns exec "$P-h2-w1" ping -c 2 -W 1 -i 0.2 198.19.255.254 >/dev/null 2>&1; then
	fail "ping h2-w1 -> 198.19.255.254 (pool, no block) must fail but was answered"
else
	ok "ping h2-w1 -> 198.19.255.254 (pool, no block) fails"
fi

# ---- down: nothing of ours remains --------------------------------------------------------------
mapfile -t pids < <(cat "$RUN"/pids/*.pid)
check "up recorded $((2 * H + 1)) daemons (felix and BIRD per host, etcd)" [ "${#pids[@]}" = $((2 * H + 1)) ]
check "$((1 + H + H * W)) namespaces with prefix $P exist before down" [ "$(netns_left)" = $((1 + H + H * W)) ]
"$LAB" down >"$T_TMP/down.out" 2>&1 || { cat "$T_TMP/down.out"; fail "tabby-lab down"; }
ok "tabby-lab down"
[ "$(netns_left)" = 0 ] || { ip netns list | grep "^$P-"; cat "$T_TMP/down.out"; }
check "no namespace with prefix $P is left" [ "$(netns_left)" = 0 ]
for p in "${pids[@]}"; do
	check "recorded pid $p is gone" proc_gone "$p"
done
check "the run directory is removed" [ ! -e "$RUN" ]
check "a second down succeeds and does nothing" "$LAB" down
summary
