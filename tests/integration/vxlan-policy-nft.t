#!/bin/bash
# Policy over VXLAN, nftables backend (body: vxlan-policy-lib.sh).
BACKEND=nftables
. "$(dirname "$0")/vxlan-policy-lib.sh"
