#!/bin/bash
# Policy with real traffic, iptables-restore + ipset backend (body: policy-lib.sh).
BACKEND=iptables
. "$(dirname "$0")/policy-lib.sh"
