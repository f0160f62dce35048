#!/bin/sh
# build-guest-kernel.sh OUTDIR: a minimal guest kernel for VM isolation from
# Debian's linux-source, configured by `make tinyconfig` plus
# vm/guest-kernel.config; OUTDIR gets vmlinux (booted through PVH) and an
# initrd.img holding only berth-agent (the kernel has no modules).  About
# 20 minutes on 2 cores; the sources are unpacked once under build/.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
out=$(mkdir -p "$1" && cd "$1" && pwd)
export DEBIAN_FRONTEND=noninteractive
need="linux-source-6.1 flex bison libelf-dev bc"
missing=$(for p in $need; do dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q 'install ok installed' || echo "$p"; done)
[ -z "$missing" ] || apt-get install -y -q --no-install-recommends $missing
src=$top/build/kernel-src
if [ ! -f "$src/Makefile" ]; then
  mkdir -p "$src.tmp"
  tar -xf /usr/src/linux-source-6.1.tar.xz -C "$src.tmp" --strip-components=1
  mv "$src.tmp" "$src"
fi
cd "$src"
make -s tinyconfig
scripts/kconfig/merge_config.sh -m .config "$top/vm/guest-kernel.config" >/dev/null
make -s olddefconfig
# Every fragment line must have survived (a missing dependency drops one).
grep '^CONFIG_.*=y' "$top/vm/guest-kernel.config" | while read -r line; do
  grep -qx "$line" .config || echo "build-guest-kernel.sh: warning: $line did not stick" >&2
done
make -s -j"$(nproc)" vmlinux
mkdir -p "$out"
cp vmlinux "$out/vmlinux.tmp"
strip --strip-debug "$out/vmlinux.tmp" 2>/dev/null || true
mv "$out/vmlinux.tmp" "$out/vmlinux"
"$top/scripts/mkinitramfs.sh" "$top/build/berth-agent" "$out/initrd.img"
# No ACPI in this kernel: berth boots it with microvm,acpi=off, and QEMU
# lists the virtio-mmio devices on the kernel command line instead.
touch "$out/no-acpi"
echo "$out/vmlinux"
