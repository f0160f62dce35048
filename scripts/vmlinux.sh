#!/bin/sh
# vmlinux.sh BZIMAGE OUT: the uncompressed kernel inside a bzImage.  QEMU
# boots it directly through its PVH entry: the guest skips decompressing
# itself, which under TCG is about a quarter of a second.
set -eu
in=$1 out=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
try() { # magic tool...
  off=$(grep -abo -m1 -P "$1" "$in" 2>/dev/null | head -1 | cut -d: -f1) || true
  [ -n "$off" ] || return 1
  shift
  tail -c +$((off + 1)) "$in" | "$@" > "$tmp/vmlinux" 2>/dev/null || true
  [ "$(head -c 4 "$tmp/vmlinux" | od -An -c | tr -d ' ')" = "177ELF" ]
}
try '\x02\x21\x4c\x18' lz4 -dc ||
  try '\x28\xb5\x2f\xfd' zstd -dc ||
  try '\xfd7zXZ\x00' xz -dc ||
  try '\x1f\x8b\x08' gzip -dc || { echo "vmlinux.sh: no kernel found inside $in" >&2; exit 1; }
mv "$tmp/vmlinux" "$out"
