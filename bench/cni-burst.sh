#!/bin/bash
# cni-burst.sh [HOSTS=3] [PER_HOST=70] - latency of CNI ADD and DEL in a pod burst: HOSTS hosts
# (network namespaces, each with its own nodename and IPAM lock file) x PER_HOST ADDs of the real
# tabby plugin, all started at once against one private etcd, then the same burst of DELs.
# It runs tests/integration/cni-burst.t (which also asserts 0 failures, 0 duplicate addresses,
# the blocks per host and a clean `tabbyctl ipam check`) and prints its figures: per host and
# overall, calls, failures by CNI code, and p50/p90/p99/max in ms (nearest rank; the clock spans
# nsenter, fork, exec and wait of one call). Driver: bench/cni_burst.py. Needs root.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-${TABBY_BUILD_DIR:-$PWD/build-bench}}
[ -x "$BUILD/cni/tabby" ] || { echo "cni-burst.sh: no $BUILD/cni/tabby: build first (BUILD=...)" >&2; exit 2; }
echo "cni-burst: ${1:-3} hosts x ${2:-70} parallel ADDs, then DELs; build $BUILD; $(nproc) CPUs"
TABBY_BUILD_DIR=$BUILD TABBY_SOURCE_DIR=$PWD TABBY_BURST_HOSTS=${1:-3} TABBY_BURST_PER_HOST=${2:-70} \
	bash tests/integration/cni-burst.t | sed -n 's/^# //p; /^not ok/p; /passed,/p'
