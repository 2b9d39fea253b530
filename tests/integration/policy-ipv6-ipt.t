#!/bin/bash
# Policy over IPv6 (and IPv4) with real traffic, iptables backend: ip6tables-restore + ipset
# inet6 (body: policy6-lib.sh).
BACKEND=iptables
. "$(dirname "$0")/policy6-lib.sh"
