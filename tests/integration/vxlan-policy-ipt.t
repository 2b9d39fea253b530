#!/bin/bash
# Policy over VXLAN, iptables-restore + ipset backend (body: vxlan-policy-lib.sh).
BACKEND=iptables
. "$(dirname "$0")/vxlan-policy-lib.sh"
