#!/bin/sh
# Prints the path of a Debian 12 minbase root filesystem tarball (gzip,
# about 200 MB unpacked), building it with debootstrap the first time and
# keeping it in $BERTH_CACHE (/var/cache/berth) for later runs.
set -eu
cache=${BERTH_CACHE:-/var/cache/berth}
out=$cache/debian-minbase.tar.gz
if [ ! -s "$out" ]; then
  command -v debootstrap >/dev/null || { echo "debian-image: debootstrap is not installed" >&2; exit 1; }
  mkdir -p "$cache"
  work=$(mktemp -d "$cache/.debootstrap.XXXXXX")
  trap 'rm -rf "$work"' EXIT
  # The mirror apt uses here (deb822 .sources, else the one-line format).
  mirror=$(sed -n 's/^URIs:[[:space:]]*//p' /etc/apt/sources.list.d/*.sources 2>/dev/null | tr ' ' '\n' | grep -v -- -security | head -n 1)
  [ -n "$mirror" ] || mirror=$(awk '$1 == "deb" && $0 !~ /-security/ { for (i = 2; i <= NF; i++) if ($i ~ /^https?:/) { print $i; exit } }' /etc/apt/sources.list 2>/dev/null)
  debootstrap --variant=minbase bookworm "$work/root" ${mirror:+"$mirror"} >&2
  tar --numeric-owner -C "$work/root" -czf "$work/image.tar.gz" .
  mv "$work/image.tar.gz" "$out"
fi
echo "$out"
