#!/bin/bash
# natOutgoing with real traffic, nftables backend (body: nat-lib.sh).
BACKEND=nftables
. "$(dirname "$0")/nat-lib.sh"
