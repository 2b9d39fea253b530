#!/bin/bash
# package.t - install like a package (issue 12 item 6), from the build tree under test:
#  - `cmake --install --prefix /usr` (DESTDIR) puts binaries, CNI plugins, units and examples in
#    FHS places, and `--prefix /opt/tabby` moves the units' ExecStart with it;
#  - `cpack -G DEB` builds a .deb whose Depends name bird2 and the Debian packages of every shared
#    library the binaries load (checked against ldd + dpkg -S: none missing);
#  - dpkg installs it into a clean root (an empty dpkg database: --root, --force-depends as the
#    root has no other package), lists and removes it; the installed tabby-felix --version,
#    tabbyctl and the CNI plugin's VERSION run; systemd-analyze accepts the installed units.
. "$(dirname "$0")/lib.sh"
need_root
for c in cpack dpkg dpkg-deb dpkg-shlibdeps ldd; do
	command -v "$c" >/dev/null || { echo "skipped: $c not installed"; exit 77; }
done
[ -f "$T_BUILD/CPackConfig.cmake" ] || fail "no $T_BUILD/CPackConfig.cmake (configure the tree first)"
VERSION=$(sed -n 's/^set(CPACK_PACKAGE_VERSION "\(.*\)")/\1/p' "$T_BUILD/CPackConfig.cmake")
[ -n "$VERSION" ] || fail "no CPACK_PACKAGE_VERSION in $T_BUILD/CPackConfig.cmake"

# --- cmake --install
D=$T_TMP/destdir
DESTDIR=$D cmake --install "$T_BUILD" --prefix /usr >"$T_TMP/install.log" 2>&1 ||
	{ cat "$T_TMP/install.log"; fail "cmake --install --prefix /usr"; }
for f in usr/sbin/tabby-felix usr/sbin/tabby-docker usr/bin/tabbyctl usr/lib/cni/tabby \
	usr/lib/cni/tabby-ipam; do
	check "cmake --install: /$f is an executable" test -x "$D/$f"
done
for f in usr/lib/systemd/system/tabby-felix.service usr/lib/systemd/system/tabby-bird.service \
	usr/lib/systemd/system/tabby-docker.service usr/share/doc/tabby/README.md \
	usr/share/doc/tabby/examples/felix.yaml usr/share/doc/tabby/examples/10-tabby.conflist \
	usr/share/doc/tabby/examples/podman-containers.conf \
	usr/share/doc/tabby/examples/ippool.yaml; do
	check "cmake --install: /$f" test -s "$D/$f"
done
check "cmake --install: nothing in /etc (felix.yaml names the host: the admin writes it)" test ! -e "$D/etc"
check "cmake --install: no test or bench binary installed" \
	bash -c "[ -z \"\$(find '$D' -type f -name 'test-*' -o -type f -name 'replay-*')\" ]"
check "tabby-felix.service runs /usr/sbin/tabby-felix" \
	grep -qx 'ExecStart=/usr/sbin/tabby-felix --config /etc/tabby/felix.yaml' "$D/usr/lib/systemd/system/tabby-felix.service"
UNIT=$D/usr/lib/systemd/system/tabby-bird.service
check "tabby-bird.service runs BIRD with \$BIRD_RECOVER (-R after a crash, nothing on a first start)" \
	grep -q '^ExecStart=/usr/sbin/bird -f \$BIRD_RECOVER ' "$UNIT"
check "tabby-bird.service reads BIRD_RECOVER from /run/bird/tabby-recover.env" \
	grep -qx 'EnvironmentFile=-/run/bird/tabby-recover.env' "$UNIT"
# The ExecStartPre that chooses, run in a namespace of ours (writing under $T_TMP): a first start
# finds no route a previous BIRD left and gets no -R; once one is there (proto bird), -R.
pre=$(sed -n "s|^ExecStartPre=/bin/sh -c '\(.*\)'\$|\1|p" "$UNIT" |
	sed "s|/run/bird/tabby-recover.env|$T_TMP/recover.env|")
[ -n "$pre" ] || fail "tabby-bird.service has an ExecStartPre that writes BIRD_RECOVER"
ns_add pk
ip netns exec "$NS_LAST" sh -c "$pre"
check "tabby-bird.service: no route left by a BIRD: BIRD_RECOVER is empty" \
	grep -qx 'BIRD_RECOVER=' "$T_TMP/recover.env"
ip -n "$NS_LAST" route add blackhole 198.19.0.0/26 proto bird || fail "ip route add ... proto bird"
ip netns exec "$NS_LAST" sh -c "$pre"
check "tabby-bird.service: a route left by a BIRD (proto bird): BIRD_RECOVER=-R" \
	grep -qx 'BIRD_RECOVER=-R' "$T_TMP/recover.env"
check "tabby-felix.service wants tabby-bird.service" \
	grep -q '^Wants=.*tabby-bird.service' "$D/usr/lib/systemd/system/tabby-felix.service"
D2=$T_TMP/destdir-opt
DESTDIR=$D2 cmake --install "$T_BUILD" --prefix /opt/tabby >"$T_TMP/install2.log" 2>&1 ||
	{ cat "$T_TMP/install2.log"; fail "cmake --install --prefix /opt/tabby"; }
check "--prefix /opt/tabby: the unit runs /opt/tabby/sbin/tabby-felix" \
	grep -qx 'ExecStart=/opt/tabby/sbin/tabby-felix --config /etc/tabby/felix.yaml' "$D2/opt/tabby/lib/systemd/system/tabby-felix.service"

# --- cpack -G DEB
cpack -G DEB --config "$T_BUILD/CPackConfig.cmake" -B "$T_TMP/pkg" >"$T_TMP/cpack.log" 2>&1 ||
	{ cat "$T_TMP/cpack.log"; fail "cpack -G DEB"; }
DEB=$(ls "$T_TMP"/pkg/tabby_*.deb 2>/dev/null | head -1)
check "cpack -G DEB built tabby_${VERSION}_*.deb" test -s "$DEB"
DEPENDS=$(dpkg-deb -f "$DEB" Depends)
echo "# Depends: $DEPENDS"
deps=$(echo "$DEPENDS" | tr ',' '\n' | sed 's/(.*)//; s/|.*//; s/ //g')
check "Depends names bird2 (BIRD 2, which tabby-bird.service runs)" grep -qx bird2 <<<"$deps"
# every shared library the installed binaries link comes from a package in Depends
missing=()
for b in usr/sbin/tabby-felix usr/sbin/tabby-docker usr/bin/tabbyctl usr/lib/cni/tabby usr/lib/cni/tabby-ipam; do
	ldd "$D/$b" | grep -q 'not found' && fail "ldd /$b: a library is not found"
	# the direct dependencies (DT_NEEDED; their own come with their packages), resolved by ldd
	for so in $(readelf -d "$D/$b" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'); do
		lib=$(ldd "$D/$b" | awk -v so="$so" '$1 == so && $3 ~ /^\// {print $3}')
		[ -n "$lib" ] || continue
		pkg=$(dpkg -S "$(realpath "$lib")" 2>/dev/null | head -1 | cut -d: -f1) ||
			pkg=$(dpkg -S "$lib" 2>/dev/null | head -1 | cut -d: -f1)
		[ -n "$pkg" ] || continue # not from a package (e.g. the vDSO, a local build)
		grep -qx "$pkg" <<<"$deps" || missing+=("$pkg (for $(basename "$lib") of /$b)")
	done
done
check "Depends covers every library the binaries load${missing:+ (missing: ${missing[*]})}" [ ${#missing[@]} = 0 ]
dpkg-deb -c "$DEB" >"$T_TMP/deb.list"
check "the .deb holds /usr/sbin/tabby-felix and /usr/lib/cni/tabby" \
	bash -c "grep -q ' ./usr/sbin/tabby-felix$' '$T_TMP/deb.list' && grep -q ' ./usr/lib/cni/tabby$' '$T_TMP/deb.list'"

# --- dpkg into a clean root: an empty dpkg database, nothing else installed
R=$T_TMP/root
mkdir -p "$R/var/lib/dpkg/info" "$R/var/lib/dpkg/updates" "$R/var/lib/dpkg/triggers"
: >"$R/var/lib/dpkg/status"
: >"$R/var/lib/dpkg/available"
dpkg --root="$R" --force-depends --force-script-chrootless -i "$DEB" >"$T_TMP/dpkg.log" 2>&1 ||
	{ cat "$T_TMP/dpkg.log"; fail "dpkg --root -i $(basename "$DEB")"; }
check "dpkg --root lists tabby $VERSION as installed" \
	bash -c "dpkg --root='$R' -s tabby | grep -q '^Status: install ok installed' && dpkg --root='$R' -s tabby | grep -qx 'Version: $VERSION'"
out=$("$R/usr/sbin/tabby-felix" --version 2>&1)
check "the installed tabby-felix --version says tabby-felix $VERSION (got: $out)" [ "$out" = "tabby-felix $VERSION" ]
check "the installed tabbyctl runs (--help)" bash -c "'$R/usr/bin/tabbyctl' --help >/dev/null 2>&1"
out=$(echo '{"cniVersion":"1.0.0"}' | CNI_COMMAND=VERSION "$R/usr/lib/cni/tabby" 2>&1)
check "the installed CNI plugin answers VERSION" grep -q '"supportedVersions"' <<<"$out"
if command -v systemd-analyze >/dev/null; then
	# against the host's systemd (a clean root has no sysinit.target): every unit parses; only
	# "not executable" for the binaries the host does not have at /usr/sbin is expected
	out=$(systemd-analyze verify "$R"/usr/lib/systemd/system/tabby-*.service 2>&1 |
		grep -v 'Command /usr/sbin/tabby-[a-z]* is not executable' || true)
	check "systemd-analyze verify accepts the installed units${out:+ ($out)}" [ -z "$out" ]
fi
dpkg --root="$R" --force-depends --force-script-chrootless -r tabby >"$T_TMP/dpkg-r.log" 2>&1 ||
	{ cat "$T_TMP/dpkg-r.log"; fail "dpkg --root -r tabby"; }
check "dpkg -r removes every file it installed" \
	bash -c "[ -z \"\$(find '$R/usr' -type f 2>/dev/null)\" ]"
summary
