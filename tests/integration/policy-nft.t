#!/bin/bash
# Policy with real traffic, nftables backend (body: policy-lib.sh).
BACKEND=nftables
. "$(dirname "$0")/policy-lib.sh"
