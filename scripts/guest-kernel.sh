#!/bin/sh
# Unpacks Debian's linux-image-cloud-amd64 (the kernel and its modules)
# into $BERTH_CACHE/guest-kernel/VERSION/ and prints that directory.  It is
# VM isolation's default guest kernel; the host's own kernel is untouched.
set -eu
CACHE=${BERTH_CACHE:-/var/cache/berth}
dep=$(apt-cache depends linux-image-cloud-amd64 2>/dev/null | sed -n 's/.*Depends: \(linux-image-[0-9].*-cloud-amd64\)$/\1/p' | head -1)
[ -n "$dep" ] || { echo "guest-kernel.sh: no linux-image-cloud-amd64 in the apt sources" >&2; exit 1; }
ver=${dep#linux-image-}
out="$CACHE/guest-kernel/$ver"
if [ ! -f "$out/vmlinuz" ]; then
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  (cd "$tmp" && apt-get download "$dep" >/dev/null 2>&1) || { apt-get update -q >/dev/null && (cd "$tmp" && apt-get download "$dep" >/dev/null); }
  mkdir -p "$tmp/x"
  dpkg-deb -x "$tmp"/*.deb "$tmp/x"
  mkdir -p "$out.tmp"
  cp "$tmp/x/boot/vmlinuz-$ver" "$out.tmp/vmlinuz"
  cp -a "$tmp/x/lib/modules/$ver" "$out.tmp/modules"
  rm -rf "$out"
  mv "$out.tmp" "$out"
fi
echo "$out"
