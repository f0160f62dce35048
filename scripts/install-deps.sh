#!/bin/sh
# Installs the Debian 12 packages berth needs to build, run and test.
set -eu
export DEBIAN_FRONTEND=noninteractive
PKGS="build-essential pkg-config libjansson-dev libseccomp-dev libcap-dev libcmocka-dev
  libarchive-dev nettle-dev zlib1g-dev libbz2-dev liblzma-dev libssl-dev libcurl4-openssl-dev libxxhash-dev busybox-static bats jq bc file procps util-linux
  python3 curl zstd xz-utils openssl skopeo umoci docker-registry apache2-utils debootstrap docker.io
  qemu-system-x86 erofs-utils cpio lz4 libmnl-dev libnftables-dev libsystemd-dev nftables dnsmasq-base iproute2 podman
  clang-14 libclang-rt-14-dev debhelper man-db bash-completion
  containernetworking-plugins protobuf-compiler python3-grpcio python3-protobuf docker-compose"
# crun and runc are only compared against in bench/.
[ "${BERTH_BENCH:-}" ] && PKGS="$PKGS crun runc"
missing=$(for p in $PKGS; do dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q 'install ok installed' || echo "$p"; done)
if [ -n "$missing" ]; then
  # The packages' own services (a system registry on :5000, dockerd,
  # containerd) are not started by this install: the tests start their own
  # on private sockets and ports.  Debian's policy-rc.d says so for the
  # length of the install, unless the host has one of its own; nothing
  # that was already running is stopped, disabled or killed.
  policy=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    policy=/usr/sbin/policy-rc.d
    printf '#!/bin/sh\n# berth install-deps.sh: no service starts during its install\nexit 101\n' > "$policy"
    chmod 755 "$policy"
    trap 'rm -f "$policy"' EXIT INT TERM
  fi
  apt-get update -q
  apt-get install -y -q --no-install-recommends $missing
  [ -z "$policy" ] || rm -f "$policy"
fi
# VM isolation's default guest kernel: Debian's cloud kernel, unpacked
# into berth's cache rather than installed as the host's own.
"$(dirname "$0")/guest-kernel.sh" >/dev/null
exit 0
