#!/bin/bash
# natOutgoing with real traffic, iptables-restore + ipset backend (body: nat-lib.sh).
BACKEND=iptables
. "$(dirname "$0")/nat-lib.sh"
