#!/bin/bash
# Every golden policy rendering (tests/golden/acl/<case>/, written by tests/unit/test-acl.c) must
# be accepted by the real tools:
#   expected.nft    `nft -f` inside a fresh network namespace (unshare -n), then listed back:
#                   table inet tabby exists with the rendered chains; loading it a second time
#                   (the replace path: table exists) also works, and a foreign table survives.
#   expected.ipset  `ipset restore` in that namespace (ipsets are per netns);
#   expected.ipt    `iptables-restore --noflush --test`, then a real `iptables-restore --noflush`
#                   and `iptables-save` shows the tagged rules.
#   expected.ip6t   the same with ip6tables-restore, after `ipset restore` of expected.ipset6
#                   (family inet6 sets).
# Needs root (unshare -n, netfilter).
. "$(dirname "$0")/lib.sh"

need_root
for t in nft iptables-restore ip6tables-restore ipset unshare; do
	command -v $t >/dev/null || { echo "skipped: $t not installed"; exit 77; }
done
GOLDEN="$T_SRC/tests/golden/acl"

n=0
for d in "$GOLDEN"/*/; do
	c=$(basename "$d")
	[ -e "$d/expected.nft" ] || continue
	n=$((n + 1))
	# nft: load into a fresh netns next to a foreign table, load again (replace), list back.
	if out=$(unshare -n sh -c '
		set -e
		nft add table inet foreign
		nft add chain inet foreign keep
		nft -c -f "$1"
		nft -f "$1"
		nft -f "$1"
		nft list table inet foreign >/dev/null
		nft list table inet tabby' sh "$d/expected.nft" 2>&1); then
		want=$(grep -c '^	chain ' "$d/expected.nft")
		got=$(grep -c '^	chain ' <<<"$out")
		if [ "$want" = "$got" ]; then
			ok "nft loads $c ($got chains, twice, foreign table kept)"
		else
			echo "$out"
			fail "nft lists $got chains for $c, the script has $want"
		fi
	else
		echo "$out"
		fail "nft rejects $c/expected.nft"
	fi

	# iptables: ipsets first, then the rules, in one fresh netns.
	if out=$(unshare -n sh -c '
		set -e
		ipset restore <"$1"
		iptables-restore --noflush --test <"$2"
		iptables-restore --noflush <"$2"
		iptables-save -t filter' sh "$d/expected.ipset" "$d/expected.ipt" 2>&1); then
		want=$(grep -c '^-[AI] ' "$d/expected.ipt")
		got=$(grep -c -- '--comment "\?tby:' <<<"$out")
		if [ "$want" = "$got" ]; then
			ok "iptables-restore + ipset load $c ($got tagged rules)"
		else
			echo "$out"
			fail "iptables-save shows $got tagged rules for $c, the text has $want"
		fi
	else
		echo "$out"
		fail "iptables-restore/ipset reject $c"
	fi

	# ip6tables (issue 9): the IPv6 text and its inet6 ipsets, the same way.
	if out=$(unshare -n sh -c '
		set -e
		ipset restore <"$1"
		ip6tables-restore --noflush --test <"$2"
		ip6tables-restore --noflush <"$2"
		ip6tables-save -t filter
		ipset list -t' sh "$d/expected.ipset6" "$d/expected.ip6t" 2>&1); then
		want=$(grep -c '^-[AI] ' "$d/expected.ip6t")
		got=$(grep -c -- '--comment "\?tby:' <<<"$out")
		sets=$(grep -c '^create tby-[snp]6-' "$d/expected.ipset6")
		fam6=$(grep -c 'family inet6' <<<"$out")
		if [ "$want" = "$got" ] && [ "$fam6" -ge "$sets" ]; then
			ok "ip6tables-restore + ipset inet6 load $c ($got tagged rules, $sets sets)"
		else
			echo "$out"
			fail "ip6tables-save shows $got tagged rules for $c (text: $want), $fam6 inet6 sets (script: $sets)"
		fi
	else
		echo "$out"
		fail "ip6tables-restore/ipset reject $c"
	fi
done
[ "$n" -ge 10 ] || fail "expected at least 10 golden cases in $GOLDEN, found $n"

# Behaviour: the namespace-selector case on real veths. Host namespace H with workloads web
# (198.19.0.2, tbyweb), db (198.19.0.3, tbydb) and client (198.19.0.4, tbyclient), wired the
# tabby way (/32 on eth0, default via 169.254.1.1, host route per workload), and new
# (198.19.0.5, tbynew), a workload interface the ruleset does not know yet. The policy
# prod/allow-dev-clients selects web for ingress and allows dev/client (and prod/api); db and
# client are not selected (open). Every expected failure has a control that passes before the
# ruleset is loaded.
ns_add h; H=$NS_LAST
ip netns exec "$H" sysctl -qw net.ipv4.ip_forward=1
for w in web:198.19.0.2 db:198.19.0.3 client:198.19.0.4 new:198.19.0.5; do
	name=${w%%:*}; ip=${w#*:}
	ns_add "$name"; W=$NS_LAST
	eval "NS_$name=$W"
	ip link add "tby$name" netns "$H" type veth peer name eth0 netns "$W" || fail "veth $name"
	ip -n "$H" link set "tby$name" up
	ip -n "$H" addr add 169.254.1.1/32 dev "tby$name"
	ip -n "$H" route add "$ip/32" dev "tby$name"
	ip -n "$W" link set eth0 up
	ip -n "$W" addr add "$ip/32" dev eth0
	ip -n "$W" route add 169.254.1.1/32 dev eth0 scope link
	ip -n "$W" route add default via 169.254.1.1 dev eth0
done
# A second address on client for the anti-spoofing check; H routes it back to client.
ip -n "$NS_client" addr add 198.19.0.99/32 dev eth0
ip -n "$H" route add 198.19.0.99/32 dev tbyclient

can() { ip netns exec "$1" ping -c 1 -W 1 "${@:2}" >/dev/null 2>&1; }
reach() { # reach DESCRIPTION yes|no NS PING-ARGS...
	local what=$1 want=$2; shift 2
	if can "$@"; then got=yes; else got=no; fi
	[ "$got" = "$want" ] || fail "$what: expected reachable=$want"
	ok "$what (reachable=$want)"
}
controls() {
	reach "control: db -> web" yes "$NS_db" 198.19.0.2
	reach "control: client from 198.19.0.99 -> db" yes "$NS_client" -I 198.19.0.99 198.19.0.3
	reach "control: client -> host 169.254.1.1" yes "$NS_client" 169.254.1.1
	reach "control: new -> db" yes "$NS_new" 198.19.0.3
	reach "control: db -> new" yes "$NS_db" 198.19.0.5
	reach "control: new -> host 169.254.1.1" yes "$NS_new" 169.254.1.1
}
behaviour() { # behaviour BACKEND
	reach "$1: dev/client -> prod/web (allowed by rule 0)" yes "$NS_client" 198.19.0.2
	reach "$1: prod/db -> prod/web (default deny)" no "$NS_db" 198.19.0.2
	reach "$1: prod/web -> prod/db (db not selected: open)" yes "$NS_web" 198.19.0.3
	reach "$1: client spoofing 198.19.0.99 -> db (anti-spoof)" no "$NS_client" -I 198.19.0.99 198.19.0.3
	reach "$1: client -> host (defaultEndpointToHostAction Drop)" no "$NS_client" 169.254.1.1
}
# Fail closed (issue 8): tbynew has no chains yet, so nothing goes to or from it.
fail_closed() {
	reach "$1: new (not programmed) -> db (fail closed)" no "$NS_new" 198.19.0.3
	reach "$1: db -> new (not programmed) (fail closed)" no "$NS_db" 198.19.0.5
	reach "$1: new (not programmed) -> host (fail closed)" no "$NS_new" 169.254.1.1
}
CASE="$GOLDEN/namespace-selector"
controls
ip netns exec "$H" nft -f "$CASE/expected.nft" || fail "load namespace-selector nft"
behaviour nft
fail_closed nft
# Pass across tiers: security passes app=client on to the default tier, which allows it; db is
# neither denied nor passed, so the security tier's default deny drops it.
PASS="$GOLDEN/pass-two-tiers"
ip netns exec "$H" nft -f "$PASS/expected.nft" || fail "load pass-two-tiers nft (replace)"
reach "nft: client -> web (Pass in tier security, Allow in default)" yes "$NS_client" 198.19.0.2
reach "nft: db -> web (tier security default deny)" no "$NS_db" 198.19.0.2
ip netns exec "$H" nft delete table inet tabby
controls
ip netns exec "$H" ipset restore <"$CASE/expected.ipset" || fail "ipset restore"
ip netns exec "$H" iptables-restore --noflush <"$CASE/expected.ipt" || fail "iptables-restore"
behaviour iptables
ip netns exec "$H" ipset restore <"$PASS/expected.ipset" || fail "ipset restore pass-two-tiers"
ip netns exec "$H" iptables-restore --noflush <"$PASS/expected.ipt" || fail "iptables-restore pass"
reach "iptables: client -> web (Pass in tier security, Allow in default)" yes "$NS_client" 198.19.0.2
reach "iptables: db -> web (tier security default deny)" no "$NS_db" 198.19.0.2
summary
