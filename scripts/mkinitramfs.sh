#!/bin/sh
# mkinitramfs.sh AGENT OUT [MODULES_DIR]: the guest's initramfs, with the
# static berth-agent as /init and, for a modular kernel, the few modules a
# berth VM needs (virtio over MMIO, the console port, block, erofs,
# overlay), in load order.
set -eu
agent=$1 out=$2 mods=${3:-}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/lib/modules" "$tmp/dev" "$tmp/proc" "$tmp/sys" "$tmp/run" "$tmp/tmp"
cp "$agent" "$tmp/init"
if [ -n "$mods" ]; then
  for m in virtio_ring virtio virtio_mmio virtio_blk virtio_console libcrc32c erofs overlay; do
    f=$(find "$mods" -name "$m.ko" | head -1)
    [ -n "$f" ] || continue
    cp "$f" "$tmp/lib/modules/"
    echo "$m.ko" >> "$tmp/lib/modules/order"
  done
  # Loaded only for containers with shared directories.
  mkdir -p "$tmp/lib/modules/lazy"
  for m in fuse virtiofs; do
    f=$(find "$mods" -name "$m.ko" | head -1)
    [ -n "$f" ] && cp "$f" "$tmp/lib/modules/lazy/"
  done
fi
(cd "$tmp" && find . | LC_ALL=C sort | cpio --quiet -o -H newc -R 0:0) > "$out.tmp"
mv "$out.tmp" "$out"
