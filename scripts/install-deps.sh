#!/bin/sh
# Installs the Debian 12 packages berth needs to build, run and test.
set -eu
export DEBIAN_FRONTEND=noninteractive
PKGS="build-essential pkg-config libjansson-dev libseccomp-dev libcap-dev libcmocka-dev
  libarchive-dev libssl-dev libcurl4-openssl-dev busybox-static bats jq bc file procps util-linux
  python3 curl zstd openssl skopeo umoci docker-registry apache2-utils debootstrap docker.io
  qemu-system-x86 erofs-utils cpio lz4 libmnl-dev libnftables-dev nftables dnsmasq-base iproute2 podman"
# crun and runc are only compared against in bench/.
[ "${BERTH_BENCH:-}" ] && PKGS="$PKGS crun runc"
missing=$(for p in $PKGS; do dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q 'install ok installed' || echo "$p"; done)
if [ -n "$missing" ]; then
apt-get update -q
apt-get install -y -q --no-install-recommends $missing
# The registry package starts a system-wide instance on :5000; the tests run
# their own on free ports, so it is stopped and kept off.
if [ -x /usr/bin/docker-registry ] && command -v systemctl >/dev/null; then
  systemctl disable --now docker-registry >/dev/null 2>&1 || true
fi
pkill -x docker-registry 2>/dev/null || true
# Likewise docker: the tests start their own dockerd with private state.
if command -v systemctl >/dev/null; then
  systemctl disable --now docker.socket docker containerd >/dev/null 2>&1 || true
fi
fi
# VM isolation's default guest kernel: Debian's cloud kernel, unpacked
# into berth's cache rather than installed as the host's own.
"$(dirname "$0")/guest-kernel.sh" >/dev/null
exit 0
