#!/bin/sh
# check-pure.sh LIBCORE.a ALLOWLIST - fail when the pure core calls anything outside the
# allowlist (STYLE.md 1). The archive's undefined symbols, minus those it defines itself, must
# each match a line of ALLOWLIST (anchored extended regexes: libc memory/string/format
# functions, json-c, libyaml). Kernel, file and network calls (socket, open, read, nft_*,
# mnl_*, nl_*, rtnl_*, curl_*) are not on it, so pure code that makes one fails the build.
# Sanitizer and coverage runtime symbols are always allowed (the -DTABBY_SANITIZE=ON and
# -DTABBY_FUZZ=ON builds).
lib=$1
allow=$2
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
nm -g --defined-only "$lib" 2>/dev/null | awk 'NF == 3 { print $3 }' | sort -u >"$tmp/defined"
nm -u "$lib" | awk '$1 == "U" { print $2 }' | sed 's/@.*//' | sort -u >"$tmp/undefined"
comm -23 "$tmp/undefined" "$tmp/defined" >"$tmp/external"
sed -e '/^#/d' -e '/^$/d' -e 's/.*/^&$/' "$allow" >"$tmp/patterns"
bad=$(grep -v -E -e '^__(asan|ubsan|sanitizer|lsan|sancov)_' -f "$tmp/patterns" "$tmp/external" || true)
if [ -n "$bad" ]; then
	echo "pure core library calls functions outside cmake/pure-allowlist.txt:" >&2
	echo "$bad" >&2
	exit 1
fi
