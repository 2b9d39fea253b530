#!/bin/bash
# Policy over IPv6 (and IPv4) with real traffic, nftables backend (body: policy6-lib.sh).
BACKEND=nftables
. "$(dirname "$0")/policy6-lib.sh"
