#!/bin/sh
# check-pure.sh LIBCORE.a - fail when the pure core references libnl or libcurl (STYLE.md 1).
bad=$(nm -u "$1" | grep -E ' U (rtnl_|nl_|curl_)' || true)
if [ -n "$bad" ]; then
	echo "pure core library calls I/O libraries:" >&2
	echo "$bad" >&2
	exit 1
fi
