#!/bin/sh
# make check-hosts: berth's process-isolation suites on a host of the
# common kind.  Boots the Debian 12 test host that host-vm-image.sh makes
# (systemd as PID 1, cgroup v2 only) under QEMU, KVM where QEMU can use it
# and TCG elsewhere, with a second disk that carries this built tree, the
# OCI validation suite and tests/hosts/run-inside.sh.  The guest runs the
# suites from that disk, writes its results back to it and powers off;
# the results are read from the disk image (debugfs), so nothing is
# mounted here.  The last line is "N passed, N failed".
#
# Why a disk and not a shared folder: Debian's cloud kernel has no 9p, and
# virtiofs would add a daemon and shared guest memory to what is tested;
# an ext4 disk also gives the tests the local file system semantics (an
# overlay upper dir, xattrs) that a host has.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
[ "$(id -u)" = 0 ] || { echo "check-hosts: needs root" >&2; exit 1; }
timeout_s=${BERTH_HOSTS_TIMEOUT:-2700}
fail() { echo "check-hosts: $*"; echo "check-hosts: 0 passed, 1 failed"; echo "0 passed, 1 failed"; exit 1; }

img=$(scripts/host-vm-image.sh) || fail "the test host image could not be built"
suite=${OCI_VALIDATION:-$top/../shared/oci-validation/run-validation.sh}
rtt=${RTT_HOME:-/var/cache/oci-validation}
work=$(mktemp -d /tmp/berth-hosts.XXXXXX)
qpid=
cleanup() {
  # timeout(1) passes the TERM on to QEMU.
  [ -z "$qpid" ] || kill "$qpid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

data=$work/data
mkdir -p "$data/berth" "$data/shared/oci-validation" "$data/results"
# The built tree without what the guest never uses (VM templates, objects,
# the sanitizer and fuzzing builds).  VM isolation's guest goes along: the
# suites create (not start) VM containers.
tar -C "$top" --exclude=./.git --exclude=./build/vm-templates --exclude=./build/obj --exclude=./build/deb \
  --exclude=./build-asan --exclude=./build-fuzz -cf - . | tar -C "$data/berth" -xf - \
  || fail "copying the tree failed"
cp tests/hosts/run-inside.sh "$data/run.sh"
# The validation suite's script and its build (Go programs keyed by `go
# version`, the same Debian package inside): the guest has no network to
# fetch its sources.
if [ -x "$suite" ] && [ -d "$rtt/build" ]; then
  cp "$suite" "$data/shared/oci-validation/"
  mkdir -p "$data/rtt"
  cp -a "$rtt/build" "$rtt/src" "$data/rtt/" 2>/dev/null
else
  echo "check-hosts: no OCI validation build in $rtt (make validate makes it): validation is skipped in the guest"
fi
[ -z "${BERTH_HOSTS_BENCH:-}" ] || touch "$data/bench"
[ -z "${BERTH_HOSTS_SUITES:-}" ] || echo "$BERTH_HOSTS_SUITES" > "$data/suites"
size=$(du -sm "$data" | cut -f1)
truncate -s $((size + 1024))M "$work/data.img"
mkfs.ext4 -q -L berth-check -d "$data" "$work/data.img" || fail "mkfs.ext4 of the data disk failed"
rm -rf "$data"

# KVM where QEMU can drive it, by berth's own rule (berth info): a
# /dev/kvm with neither kvm_intel nor kvm_amd behind it (kvm_pvm, on
# nested hosts without hardware virtualisation) opens, and then stops the
# guest with "KVM internal error" until the timeout.  QEMU still falls
# back to TCG by itself where KVM fails to start; the guest reports which
# it got.
accel="-accel tcg,thread=multi"
if [ -x "$top/build/berth" ]; then
  [ "$("$top/build/berth" --root "$work/info-root" info 2>/dev/null | sed -n 's/^VM Accelerator: \([a-z]*\).*/\1/p')" = kvm ] \
    && accel="-accel kvm $accel"
elif [ -c /dev/kvm ] && { [ -e /sys/module/kvm_intel ] || [ -e /sys/module/kvm_amd ]; }; then
  accel="-accel kvm $accel"
fi
echo "check-hosts: accelerator: $accel"
mem=${BERTH_HOSTS_MEM:-4096}
cpus=$(nproc)
[ "$cpus" -le 4 ] || cpus=4
echo "check-hosts: booting $img (systemd, cgroup v2), ${mem} MiB, $cpus vCPUs"
start=$(date +%s)
# shellcheck disable=SC2086
TMPDIR=$work timeout -k 10 "$timeout_s" qemu-system-x86_64 -machine q35 $accel -cpu max -m "$mem" -smp "$cpus" \
  -nodefaults -display none -no-reboot -monitor none -serial file:"$work/console.log" \
  -kernel "$img/vmlinuz" -initrd "$img/initrd.img" \
  -append "console=ttyS0 root=/dev/vda rw quiet cryptomgr.notests systemd.unified_cgroup_hierarchy=1 systemd.show_status=0" \
  -drive file="$img/disk.img",if=virtio,format=raw,snapshot=on \
  -drive file="$work/data.img",if=virtio,format=raw < /dev/null &
qpid=$!
# The guest's console, as it comes.
sleep 1
tail --pid=$qpid -n +1 -f "$work/console.log" 2>/dev/null | sed -u 's/\r$//; s/^/[host-vm] /'
wait $qpid
qpid=
echo "check-hosts: the guest ran $(($(date +%s) - start)) s"
mkdir -p "$work/out"
debugfs -R "rdump /results $work/out" "$work/data.img" >/dev/null 2>&1
res=$work/out/results
[ -f "$res/summary" ] || fail "the guest left no results (timed out after ${timeout_s}s or failed to boot)"
for f in host.txt e2e.tap validation.txt bench.txt; do
  [ -s "$res/$f" ] || continue
  echo "--- $f"
  cat "$res/$f"
done
if [ -n "${BERTH_HOSTS_KEEP:-}" ]; then
  rm -rf "$BERTH_HOSTS_KEEP" && cp -a "$res" "$BERTH_HOSTS_KEEP"
fi
cat "$res/summary"
line=$(tail -n 1 "$res/summary")
fails=$(echo "$line" | sed -n 's/.* \([0-9]*\) failed.*/\1/p')
echo "$line" | sed 's/^check-hosts: //'
[ "${fails:-1}" = 0 ]
