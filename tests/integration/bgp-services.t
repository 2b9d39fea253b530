#!/bin/bash
# bgp-services.t - service addresses over BGP and BGPPeer localASNumber, against FRR as the ToR
# (`tabby-lab up --topology tor`: AS 65000, one eBGP session per host, hosts in AS 64601, 64602).
#  - Calico "Advertise Kubernetes service IP addresses": after the default BGPConfiguration gets
#    serviceClusterIPs 198.18.240.0/24 and serviceExternalIPs 198.18.241.0/24, the ToR
#    (vtysh 'show ip bgp json') learns both from every host, and no host installs a route for
#    them in its kernel (BIRD keeps its blackholes to itself; another host's announcement,
#    reflected by the ToR, stays out as well);
#  - removing them from the BGPConfiguration withdraws both from the ToR;
#  - a BGPPeer with localASNumber 64700 makes h1 present AS 64700: the session drops while the
#    ToR expects 64601 and is Established once the ToR expects 64700.
. "$(dirname "$0")/lib.sh"
need_root
command -v vtysh >/dev/null && [ -x /usr/lib/frr/bgpd ] || { echo "skipped: frr not installed"; exit 77; }
export TABBY_LAB_PREFIX="bs$$"
. "$(dirname "$0")/bgp-lib.sh"
H=2
SVC="198.18.240.0/24 198.18.241.0/24"

lab_up --topology tor --hosts $H --workloads 1
for n in $(seq 1 $H); do
	wait_for 30 all_established "$n" 1 || fail "h$n: its one ToR session is Established"
done
ok "every host's ToR session is Established"

# tor_nexthops PREFIX - the next hops of the ToR's paths for PREFIX, sorted, space separated.
tor_nexthops() {
	tor_vtysh -c 'show ip bgp json' | python3 -c '
import json,sys
d=json.load(sys.stdin)
print(" ".join(sorted(x["nexthops"][0]["ip"] for x in d.get("routes",{}).get(sys.argv[1],[]))))' "$1"
}
all_hosts="198.18.1.1 198.18.1.3"
tor_learns_all() { for p in $SVC; do [ "$(tor_nexthops "$p")" = "$all_hosts" ] || return 1; done; }
tor_learns_none() { for p in $SVC; do [ -z "$(tor_nexthops "$p")" ] || return 1; done; }

bgpconfig() {
	cat <<Y
apiVersion: projectcalico.org/v3
kind: BGPConfiguration
metadata:
  name: default
spec:
  asNumber: 64512
  nodeToNodeMeshEnabled: false
  logSeverityScreen: Info
Y
	[ "$1" = with-services ] && cat <<Y
  serviceClusterIPs:
  - cidr: 198.18.240.0/24
  serviceExternalIPs:
  - cidr: 198.18.241.0/24
Y
}
check "the ToR has no service route before" tor_learns_none
bgpconfig with-services | ctl apply -f - >"$T_TMP/apply.out" 2>&1 || { cat "$T_TMP/apply.out"; fail "apply the BGPConfiguration with service ranges"; }
check "apply does not warn about the service ranges" [ "$(grep -c warning "$T_TMP/apply.out")" = 0 ]
wait_for 30 tor_learns_all || {
	for p in $SVC; do echo "# $p via: $(tor_nexthops "$p")"; done
	fail "the ToR learns $SVC from every host"
}
ok "the ToR learns $SVC from every host ($all_hosts)"
# The ToR passes its best path on to the other host (never back to the one it came from): one
# host's BIRD learns the other's announcement (AS path 65000 6460x); the kernel must not.
hears_other() {
	for n in $(seq 1 $H); do
		bird_ctl "$n" show route 198.18.240.0/24 all 2>/dev/null | grep -q "BGP.as_path: 65000 6460" && return 0
	done
	return 1
}
wait_for 20 hears_other || { bird_ctl 1 show route 198.18.240.0/24 all; fail "a host's BIRD learns another host's cluster IP range through the ToR"; }
ok "a host's BIRD learns another host's cluster IP range through the ToR"
for n in $(seq 1 $H); do
	grep -q "route 198.18.240.0/24 blackhole;" "$RUN/h$n/bird.conf" ||
		fail "h$n: bird.conf has the cluster IP range in its static protocol"
	for p in $SVC; do
		check "h$n: no kernel route for $p (BIRD does not install service ranges)" no_route "$n" "$p"
	done
done

bgpconfig | ctl apply -f - >/dev/null || fail "apply the BGPConfiguration without service ranges"
wait_for 30 tor_learns_none || fail "the ToR withdraws $SVC once they are removed"
ok "the ToR withdraws $SVC once they are removed"

# localASNumber: h1 presents AS 64700 to the ToR.
peer_yaml() {
	cat <<Y
apiVersion: projectcalico.org/v3
kind: BGPPeer
metadata:
  name: tor-h1
spec:
  node: h1
  peerIP: 198.18.1.0
  asNumber: 65000
  localASNumber: 64700
  keepaliveTime: 3s
  holdTime: 9s
Y
}
peer_yaml | ctl apply -f - >"$T_TMP/apply.out" 2>&1 || { cat "$T_TMP/apply.out"; fail "apply BGPPeer tor-h1 with localASNumber 64700"; }
check "apply does not warn about localASNumber" [ "$(grep -c warning "$T_TMP/apply.out")" = 0 ]
wait_for 20 grep -q "local as 64700;" "$RUN/h1/bird.conf" || fail "felix renders 'local as 64700' for h1's ToR peer"
ok "felix renders 'local as 64700' for h1's ToR peer"
wait_for 20 est_is 1 0 || fail "h1's session leaves Established while the ToR expects AS 64601"
ok "h1's session leaves Established while the ToR expects AS 64601"
tor_vtysh -c 'configure terminal' -c 'router bgp 65000' -c 'neighbor 198.18.1.1 remote-as 64700' >/dev/null
tor_state() {
	tor_vtysh -c 'show bgp neighbors 198.18.1.1 json' |
		python3 -c 'import json,sys; d=json.load(sys.stdin)["198.18.1.1"]; print(d.get("bgpState",""), d.get("remoteAs",""))'
}
wait_for 30 all_established 1 1 || { tor_state; fail "h1's session is Established with the ToR expecting AS 64700"; }
ok "h1's session is Established with the ToR expecting AS 64700"
check "the ToR sees h1 Established as AS 64700 ($(tor_state))" [ "$(tor_state)" = "Established 64700" ]
lab_down
summary
