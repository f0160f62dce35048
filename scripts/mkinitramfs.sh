#!/bin/sh
# mkinitramfs.sh AGENT OUT [MODULES_DIR]: the guest's initramfs, with the
# static berth-agent as /init and, for a modular kernel, the few modules a
# berth VM needs (virtio over MMIO, the console port, block, erofs,
# overlay), in load order.
set -eu
agent=$1 out=$2 mods=${3:-}
tmp=$(mktemp -d)
# Drops a module's appended signature: the guest kernel (not in lockdown,
# signatures not enforced) would otherwise check an RSA signature per
# module, about a quarter of a second in all under TCG.  The modules come
# from the host's own copy of the package, not from anything a guest
# could touch.
unsign() {
  python3 - "$1" <<'PY'
import struct, sys
p = sys.argv[1]
d = open(p, "rb").read()
magic = b"~Module signature appended~\n"
if d.endswith(magic):
    sig_len = struct.unpack(">I", d[-len(magic) - 4:-len(magic)])[0]
    open(p, "wb").write(d[:len(d) - len(magic) - 12 - sig_len])
PY
}
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/lib/modules" "$tmp/dev" "$tmp/proc" "$tmp/sys" "$tmp/run" "$tmp/tmp"
cp "$agent" "$tmp/init"
if [ -n "$mods" ]; then
  for m in virtio_ring virtio virtio_mmio virtio_blk virtio_console libcrc32c erofs overlay; do
    f=$(find "$mods" -name "$m.ko" | head -1)
    [ -n "$f" ] || continue
    cp "$f" "$tmp/lib/modules/"
    unsign "$tmp/lib/modules/$m.ko"
    echo "$m.ko" >> "$tmp/lib/modules/order"
  done
  # Loaded only for containers with shared directories (fuse, virtiofs) or a
  # network (virtio_net), pod members (loop), or once a container has run a
  # second (virtio_balloon: free page reporting).
  mkdir -p "$tmp/lib/modules/lazy"
  for m in fuse virtiofs failover net_failover virtio_net loop virtio_balloon; do
    f=$(find "$mods" -name "$m.ko" | head -1)
    [ -n "$f" ] && cp "$f" "$tmp/lib/modules/lazy/" && unsign "$tmp/lib/modules/lazy/$m.ko"
  done
fi
(cd "$tmp" && find . | LC_ALL=C sort | cpio --quiet -o -H newc -R 0:0) > "$out.tmp"
mv "$out.tmp" "$out"
