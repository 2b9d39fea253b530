#!/bin/bash
# bgp-password.t - a BGPPeer's MD5 password (RFC 2385, TCP-MD5 in the kernel) set and changed
# while BIRD runs (`tabby-lab up --topology tor`, 2 hosts; FRR is the other side).
# The password comes from a secret (/tabby/v1/secrets/<name>, a JSON object of keys) named by
# the BGPPeer's password.secretKeyRef, as in Calico. Real daemons:
#  - with the password on our side only, the ToR session cannot come up (the ToR drops the
#    signed SYNs); once FRR has the same password it is Established: MD5 is really in use;
#  - changing the secret's value re-renders bird.conf and reconfigures BIRD (same PID): the
#    session goes down and stays down while FRR still has the old password, and is
#    Established again when FRR gets the new one; workloads ping across the ToR again;
#  - pointing the BGPPeer at another key of the secret works the same way.
. "$(dirname "$0")/lib.sh"
need_root
command -v vtysh >/dev/null && [ -x /usr/lib/frr/bgpd ] || { echo "skipped: frr not installed"; exit 77; }
export TABBY_LAB_PREFIX="bp$$"
. "$(dirname "$0")/bgp-lib.sh"

lab_up --topology tor --hosts 2 --workloads 1
for n in 1 2; do wait_for 30 all_established "$n" 1 || fail "h$n's ToR session is Established"; done
ok "both hosts' ToR sessions are Established (no password yet)"
pid=$(bird_pid 1)

peer() {
	cat <<EOF
apiVersion: projectcalico.org/v3
kind: BGPPeer
metadata:
  name: tor-h1
spec:
  node: h1
  peerIP: 198.18.1.0
  asNumber: 65000
  keepaliveTime: 3s
  holdTime: 9s
  bfd:
    enabled: true
    interval: 100ms
    multiplier: 3
  password:
    secretKeyRef:
      name: bgp-tor
      key: $1
EOF
}
secret() { lab_etcdctl put /tabby/v1/secrets/bgp-tor "$1" >/dev/null || fail "write secret bgp-tor"; }
frr_password() {
	tor_vtysh -c 'configure terminal' -c 'router bgp 65000' -c "neighbor 198.18.1.1 password $1" ||
		fail "set the password on FRR"
}
conf_has() { grep -qF "password \"$1\";" "$RUN/h1/bird.conf"; }
# stays_down SECS - h1's ToR session is not Established at any poll during SECS seconds
stays_down() {
	for _ in $(seq 1 $(($1 * 5))); do
		est_is 1 0 || return 1
		sleep 0.2
	done
}

# 1. our side first: the session must stay down until FRR knows the password
secret '{"md5":"tabby-pw-one","alt":"tabby-pw-three"}'
peer md5 | ctl apply -f - >/dev/null || fail "apply BGPPeer tor-h1 with a password"
wait_for 20 conf_has tabby-pw-one || fail "felix renders the password into h1's bird.conf"
ok "felix renders the password from the secret into h1's bird.conf"
wait_for 20 est_is 1 0 || fail "h1's session goes down (BIRD now signs, FRR does not)"
check "and stays down for 5 s: the ToR refuses unsigned/mis-signed TCP" stays_down 5
frr_password tabby-pw-one
wait_for 30 all_established 1 1 || fail "h1's session is Established once FRR has the same password"
ok "h1's session is Established once FRR has the same password (MD5 on both ends)"

# 2. a changed secret value: BIRD reconfigured in place, the session follows the password
secret '{"md5":"tabby-pw-two","alt":"tabby-pw-three"}'
wait_for 20 conf_has tabby-pw-two || fail "felix renders the new password into h1's bird.conf"
ok "felix renders the changed secret value into h1's bird.conf"
wait_for 20 est_is 1 0 || fail "h1's session restarts with the new password"
check "it stays down while FRR still has the old password" stays_down 5
frr_password tabby-pw-two
wait_for 30 all_established 1 1 || fail "h1's session is Established with the new password on both ends"
ok "h1's session is Established with the new password on both ends"
check "BIRD was never restarted (pid $pid)" [ "$(bird_pid 1)" = "$pid" ]
check "h2's session was not disturbed" all_established 2 1
wait_for 20 ping_ok 1 "$(wl_ip 2)" || fail "h1-w1 pings h2-w1 across the ToR again"
ok "h1-w1 pings h2-w1 across the ToR again"

# 3. the BGPPeer names another key of the secret
peer alt | ctl apply -f - >/dev/null || fail "apply BGPPeer tor-h1 with key alt"
wait_for 20 conf_has tabby-pw-three || fail "felix renders the password of key alt"
ok "felix renders the password of the BGPPeer's new key"
wait_for 20 est_is 1 0 || fail "h1's session restarts"
frr_password tabby-pw-three
wait_for 30 all_established 1 1 || fail "h1's session is Established with the third password"
ok "h1's session is Established with the third password"
check "BIRD still has the same PID ($pid)" [ "$(bird_pid 1)" = "$pid" ]
check "felix never logged a password" bash -c "! grep -q 'tabby-pw-' '$RUN/h1/felix.log'"
lab_down
summary
