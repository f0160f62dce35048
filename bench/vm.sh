#!/bin/bash
# bench/vm.sh [N]: VM isolation's cost, in one run, alternating N times
# (default 5):
#   vm       berth run --rm --isolation=vm busybox true
#   bare     QEMU booting the same kernel, same machine and accelerator,
#            with an initramfs whose init powers off at once (the floor)
#   process  berth run --rm busybox true
# then the host memory of one idle VM container (PSS of QEMU and of the
# VM shim) against what its guest itself uses.  Prints medians and ratios;
# with a minimal kernel built (make guest-kernel: build/vm-min/), the
# same for it.
set -euo pipefail
N=${1:-5}
top=$(cd "$(dirname "$0")/.." && pwd)
berth=$top/build/berth
[ "$(id -u)" = 0 ] || { echo "bench/vm.sh: needs root" >&2; exit 1; }
tmp=$(mktemp -d /tmp/berth-bench-vm.XXXXXX)
B() { "$berth" --root "$tmp/store" "$@"; }
cleanup() {
  for id in $(B ps -aq 2>/dev/null); do B rm -f "$id" >/dev/null 2>&1 || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT

accel=$(B info | sed -n 's/^VM Accelerator: \([a-z]*\).*/\1/p')
echo "accelerator: $accel   ($(B info | sed -n 's/^VM Accelerator: //p'))"
# The floor boots with berth's own kernel command line (src/lib/vm/qemu.c),
# so what that line saves counts for the floor too.
# The floor's init: a static binary that ends the guest at once (a reboot,
# which reboot=t and -no-reboot make QEMU's exit, as berth's agent does).
cat > "$tmp/off.c" <<'EOF'
#include <sys/reboot.h>
#include <unistd.h>
int main (void) { reboot (RB_AUTOBOOT); return 0; }
EOF
gcc -static -O2 -o "$tmp/init" "$tmp/off.c"
(cd "$tmp" && echo init | cpio --quiet -o -H newc > off.cpio)
tsc=$(awk -F': ' '/^cpu MHz/ {printf "%d", $2 * 1000; exit}' /proc/cpuinfo)
bare() { # kernel
  local a=(-accel tcg,tb-size=32 -cpu max)
  local extra="tsc_early_khz=$tsc"
  [ "$accel" = kvm ] && a=(-accel kvm -cpu host) && extra=""
  local machine=microvm
  [ -e "$(dirname "$1")/no-acpi" ] && machine=microvm,acpi=off
  timeout 120 qemu-system-x86_64 -machine "$machine" "${a[@]}" -m 256M -smp 1 -nodefaults -no-user-config -display none -no-reboot \
    -serial null -kernel "$1" -initrd "$tmp/off.cpio" \
    -append "console=ttyS0 quiet panic=-1 reboot=t i8042.nokbd i8042.noaux pci=off tsc=reliable no_timer_check random.trust_cpu=on cryptomgr.notests $extra" \
    >/dev/null 2>&1
}
ms() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }
median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : int((a[NR/2]+a[NR/2+1])/2)}'; }

kernels="default:$(B info | sed -n 's/^VM Guest Kernel: //p')"
[ -f "$top/build/vm-min/vmlinux" ] && kernels="$kernels minimal:$top/build/vm-min/vmlinux"
B run --rm busybox true >/dev/null # the image in the store
for kv in $kernels; do
  name=${kv%%:*} kernel=${kv#*:}
  kflag=()
  [ "$name" = default ] || kflag=(--kernel "$(dirname "$kernel")")
  B run --rm --isolation=vm "${kflag[@]}" busybox true 2>/dev/null # its erofs image, built once
  : > "$tmp/vm" ; : > "$tmp/bare" ; : > "$tmp/process"
  for i in $(seq "$N"); do
    order="vm bare process"
    [ $((i % 2)) = 0 ] && order="process bare vm"
    for e in $order; do
      t0=$(date +%s%N)
      case $e in
        vm) B run --rm --isolation=vm "${kflag[@]}" busybox true 2>/dev/null ;;
        bare) bare "$kernel" ;;
        process) B run --rm busybox true ;;
      esac
      ms "$t0" >> "$tmp/$e"
    done
  done
  vm=$(median < "$tmp/vm") bare=$(median < "$tmp/bare") proc=$(median < "$tmp/process")
  echo "kernel $name ($kernel), $N runs each, medians:"
  echo "  berth run --rm --isolation=vm busybox true   ${vm} ms"
  echo "  bare QEMU boot to poweroff (the floor)       ${bare} ms"
  echo "  berth run --rm busybox true (process)        ${proc} ms"
  echo "  ratio vm/bare:    $(echo "scale=2; $vm / $bare" | bc)   (goal <= 1.3)"
  echo "  ratio vm/process: $(echo "scale=1; $vm / $proc" | bc)"

  # Memory of one idle VM container, after its boot settles.
  B run -d --isolation=vm "${kflag[@]}" --name idle busybox sleep 1000 >/dev/null 2>&1
  sleep 5
  qpid=$(B inspect idle | jq '.[0].VM.Pid')
  spid=$(B inspect idle | jq '.[0].State.Pid')
  pss() { awk '/^Pss:/ {s += $2} END {print s}' "/proc/$1/smaps_rollup"; }
  qk=$(pss "$qpid") sk=$(pss "$spid")
  stats=$(B stats --no-stream --format json idle)
  guest=$(jq '.[0].guest_memory_used / 1024 | floor' <<<"$stats")
  # What the guest occupies of its RAM: all of it but what is free, so
  # also what its kernel reserved at boot (its image, the page array),
  # which MemTotal, and so guest_memory_used, leaves out.
  ram=$(B inspect idle | jq '.[0].VM.MemoryMiB * 1024')
  free=$(jq '.[0].guest_memory_free // empty | . / 1024 | floor' <<<"$stats")
  if [ -n "$free" ]; then
    occupied=$((ram - free))
    echo "  idle VM container: QEMU PSS $((qk / 1024)) MiB, shim PSS $((sk / 1024)) MiB; the guest uses $((guest / 1024)) MiB" \
         "(MemTotal - MemFree), $((occupied / 1024)) MiB of its $((ram / 1024)) MiB RAM with its kernel's own"
    echo "  host memory beyond the guest's own use: $(( (qk + sk - occupied) / 1024 )) MiB   (goal <= 40;" \
         "$(( (qk + sk - guest) / 1024 )) MiB against MemTotal - MemFree)"
  else # an initramfs whose agent predates guest_memory_free
    echo "  idle VM container: QEMU PSS $((qk / 1024)) MiB, shim PSS $((sk / 1024)) MiB; the guest uses $((guest / 1024)) MiB"
    echo "  host memory beyond the guest's own use: $(( (qk + sk - guest) / 1024 )) MiB against MemTotal - MemFree   (goal <= 40)"
  fi
  # Memory the guest used and freed goes back (free page reporting).
  B exec idle sh -c 'head -c 50000000 /dev/zero > /dev/shm/fill' 2>/dev/null
  qf=$(pss "$qpid")
  B exec idle rm /dev/shm/fill 2>/dev/null
  sleep 10
  echo "  QEMU PSS with 48 MiB in use in the guest $((qf / 1024)) MiB, 10 s after it is freed $(( $(pss "$qpid") / 1024 )) MiB"
  B rm -f idle >/dev/null
done
