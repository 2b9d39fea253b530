# Installation in FHS places and the Debian package (cpack -G DEB). Included from the top-level
# CMakeLists.txt after every target exists.
#
#   DESTDIR=/tmp/root cmake --install build --prefix /usr
#   cpack -G DEB --config build/CPackConfig.cmake -B /tmp/pkg     # always prefix /usr
#
# With prefix /usr (a package):
#   /usr/sbin/tabby-felix, /usr/sbin/tabby-docker      daemons
#   /usr/bin/tabbyctl                                  admin CLI
#   /usr/lib/cni/tabby, /usr/lib/cni/tabby-ipam        CNI plugins (Debian's containernetworking-
#                                                      plugins directory; point CNI_PATH or the
#                                                      runtime's cni_plugin_dirs there)
#   /usr/lib/systemd/system/tabby-{felix,bird,docker}.service
#   /usr/share/doc/tabby/README.md, examples/          felix.yaml, 10-tabby.conflist, IPPool,
#                                                      BGPConfiguration and policy examples,
#                                                      podman-containers.conf (README, podman)
# Nothing goes to /etc: felix.yaml names this host (nodeName, ipv4Address), so the admin copies
# the example to /etc/tabby/felix.yaml (tabby-felix.service waits for it:
# ConditionPathExists). Another prefix (default /usr/local; `cmake --install --prefix P`) moves
# everything under it, and the units' ExecStart lines follow.
include(GNUInstallDirs)

# Relative destinations, resolved against the prefix of the install itself (cmake --install
# --prefix, or cpack's /usr), not the one configured.
set(TABBY_CNI_DIR lib/cni) # Debian's containernetworking-plugins and runtimes use /usr/lib/cni
set(TABBY_UNIT_DIR lib/systemd/system)

foreach(t tabby tabby-ipam)
  if(TARGET ${t})
    install(TARGETS ${t} RUNTIME DESTINATION ${TABBY_CNI_DIR})
  endif()
endforeach()

# The units in configs/ name /usr/sbin/... and /usr/share/doc/tabby/: each install rewrites them
# for its own prefix (install(CODE) runs first and writes the file install(FILES) then copies).
foreach(unit tabby-felix tabby-bird tabby-docker)
  set(src ${CMAKE_SOURCE_DIR}/configs/${unit}.service)
  set(gen ${CMAKE_BINARY_DIR}/units/${unit}.service)
  install(CODE "
    file(READ \"${src}\" text)
    string(REPLACE \"/usr/sbin/tabby-\" \"\${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_SBINDIR}/tabby-\" text \"\${text}\")
    string(REPLACE \"/usr/share/doc/tabby/\" \"\${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_DOCDIR}/\" text \"\${text}\")
    file(WRITE \"${gen}\" \"\${text}\")")
  install(FILES ${gen} DESTINATION ${TABBY_UNIT_DIR})
endforeach()

install(FILES ${CMAKE_SOURCE_DIR}/README.md DESTINATION ${CMAKE_INSTALL_DOCDIR})
install(FILES ${CMAKE_SOURCE_DIR}/configs/felix.yaml ${CMAKE_SOURCE_DIR}/configs/10-tabby.conflist
              ${CMAKE_SOURCE_DIR}/configs/cni/podman-containers.conf
        DESTINATION ${CMAKE_INSTALL_DOCDIR}/examples)
install(DIRECTORY ${CMAKE_SOURCE_DIR}/configs/examples/ DESTINATION ${CMAKE_INSTALL_DOCDIR}/examples
        FILES_MATCHING PATTERN "*.yaml")

# ---- cpack -G DEB --------------------------------------------------------------------------
set(CPACK_PACKAGE_NAME tabby)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT "tabby maintainers <tabby@example.org>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "BGP-routed pure-L3 container networking (Calico-like)")
set(CPACK_PACKAGE_DESCRIPTION
    "tabby-felix (per-host agent), the tabby and tabby-ipam CNI plugins, tabby-docker (Docker
network and IPAM driver) and tabbyctl, over etcd, BIRD and nftables.")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr) # a package installs in /usr whatever was configured
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION net)
# The shared libraries come from dpkg-shlibdeps (libjson-c5, libnl-3-200, libcurl4, libnftables1,
# ...); the programs tabby runs or renders for are named here: BIRD 2 (felix renders its config
# and drives its socket; tabby-bird.service runs it), iproute2, and nftables/iptables/ipset for
# the policy dataplanes. etcd is a cluster service, not a per-host dependency.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "bird2 (>= 2.0.7), iproute2")
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "nftables, iptables, ipset")
set(CPACK_DEBIAN_PACKAGE_SUGGESTS "etcd-server, etcd-client, containernetworking-plugins, docker.io")
# only the product: the test and bench binaries are never installed
set(CPACK_STRIP_FILES ON)
include(CPack)
