#!/bin/bash
# bench/vm.sh [N]: VM isolation's cost, in one run, alternating N times
# (default 5):
#   template  berth run --rm --isolation=vm busybox true, restored from a
#             VM template (the default)
#   cold      the same with BERTH_VM_TEMPLATE=off: the guest kernel boots
#   nojail    from a template with BERTH_VM_JAIL=off: QEMU as root in the
#             host's namespaces (the jail's cost is template/nojail)
#   nonet     from a template with --network none: no bridge, veth or NIC
#             (what the default network costs is template - nonet)
#   bare      QEMU booting the same kernel, same machine and accelerator,
#             with an initramfs whose init powers off at once (the floor
#             of a boot)
#   process   berth run --rm busybox true
# then the same through Docker (berth-runtime --isolation=vm against runc,
# on a private dockerd) when dockerd is installed, and the host memory of
# 10 idle VM containers from one template: PSS of QEMU and of the VM shim
# per container, with private template memory (the default), shared (the
# opt-in) and cold.  Prints medians and ratios.
set -euo pipefail
N=${1:-5}
IDLE=${IDLE:-10}
top=$(cd "$(dirname "$0")/.." && pwd)
berth=$top/build/berth
runtime=$top/build/berth-runtime
[ "$(id -u)" = 0 ] || { echo "bench/vm.sh: needs root" >&2; exit 1; }
tmp=$(mktemp -d /tmp/berth-bench-vm.XXXXXX)
export BERTH_VM_TEMPLATES=$tmp/templates
unset BERTH_VM_TEMPLATE
B() { "$berth" --root "$tmp/store" "$@"; }
DK=
cleanup() {
  set +e # every step, whatever the one before did
  for id in $(B ps -aq 2>/dev/null); do B rm -f "$id" >/dev/null 2>&1 || true; done
  if [ -n "$DK" ]; then
    docker -H "unix://$tmp/docker.sock" rm -f $(docker -H "unix://$tmp/docker.sock" ps -aq) >/dev/null 2>&1 || true
    [ -s "$tmp/docker.pid" ] && kill "$(cat "$tmp/docker.pid")" 2>/dev/null || true
    for i in $(seq 100); do [ -e "$tmp/docker.pid" ] || break; sleep 0.1; done
    grep -o " $tmp[^ ]*" /proc/self/mountinfo | sort -r | while read -r m; do umount -l "$m" 2>/dev/null || true; done
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT

accel=$(B info | sed -n 's/^VM Accelerator: \([a-z]*\).*/\1/p')
echo "accelerator: $accel   ($(B info | sed -n 's/^VM Accelerator: //p'))"
# The floor boots with berth's own kernel command line (src/lib/vm/qemu.c),
# so what that line saves counts for the floor too.  Its init: a static
# binary that ends the guest at once (a reboot, which reboot=t and
# -no-reboot make QEMU's exit, as berth's agent does).
cat > "$tmp/off.c" <<'EOF'
#include <sys/reboot.h>
#include <unistd.h>
int main (void) { reboot (RB_AUTOBOOT); return 0; }
EOF
gcc -static -O2 -o "$tmp/init" "$tmp/off.c"
(cd "$tmp" && echo init | cpio --quiet -o -H newc > off.cpio)
tsc=$(awk -F': ' '/^cpu MHz/ {printf "%d", $2 * 1000; exit}' /proc/cpuinfo)
kernel=$(B info | sed -n 's/^VM Guest Kernel: //p')
bare() {
  local a=(-accel tcg,tb-size=32 -cpu max)
  local extra="tsc_early_khz=$tsc"
  [ "$accel" = kvm ] && a=(-accel kvm -cpu host) && extra=""
  local machine=microvm
  [ -e "$(dirname "$kernel")/no-acpi" ] && machine=microvm,acpi=off
  timeout 120 qemu-system-x86_64 -machine "$machine" "${a[@]}" -m 256M -smp 1 -nodefaults -no-user-config -display none -no-reboot \
    -serial null -kernel "$kernel" -initrd "$tmp/off.cpio" \
    -append "console=ttyS0 quiet panic=-1 reboot=t i8042.nokbd i8042.noaux pci=off tsc=reliable no_timer_check random.trust_cpu=on cryptomgr.notests $extra" \
    >/dev/null 2>&1
}
ms() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }
median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : int((a[NR/2]+a[NR/2+1])/2)}'; }
# Three decimals, rounded (bc's scale truncates: 0.409 printed .40).
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f\n", a / b }'; }

B run --rm busybox true >/dev/null # the image in the store
# Its erofs image, built once, and the template, made on this first run.
t0=$(date +%s%N)
B run --rm --isolation=vm busybox true 2>/dev/null
first=$(ms "$t0")
: > "$tmp/template"; : > "$tmp/cold"; : > "$tmp/bare"; : > "$tmp/process"; : > "$tmp/nojail"; : > "$tmp/nonet"
B run --rm --isolation=vm --network none busybox true 2>/dev/null # its template (no NIC)
for i in $(seq "$N"); do
  order="template nojail nonet cold bare process"
  [ $((i % 2)) = 0 ] && order="process bare cold nonet nojail template"
  for e in $order; do
    t0=$(date +%s%N)
    case $e in
      template) B run --rm --isolation=vm busybox true 2>/dev/null ;;
      cold) BERTH_VM_TEMPLATE=off B run --rm --isolation=vm busybox true 2>/dev/null ;;
      nojail) BERTH_VM_JAIL=off B run --rm --isolation=vm busybox true 2>/dev/null ;;
      nonet) B run --rm --isolation=vm --network none busybox true 2>/dev/null ;;
      bare) bare ;;
      process) B run --rm busybox true ;;
    esac
    ms "$t0" >> "$tmp/$e"
  done
done
tpl=$(median < "$tmp/template") cold=$(median < "$tmp/cold") bare=$(median < "$tmp/bare") proc=$(median < "$tmp/process")
nojail=$(median < "$tmp/nojail") nonet=$(median < "$tmp/nonet")
echo "kernel $kernel, $N runs each, medians:"
echo "  berth run --rm --isolation=vm busybox true, from a template   ${tpl} ms"
echo "  the same, cold (BERTH_VM_TEMPLATE=off)                         ${cold} ms"
echo "  bare QEMU boot to poweroff (the floor of a boot)               ${bare} ms"
echo "  berth run --rm busybox true (process)                          ${proc} ms"
echo "  from a template with QEMU unjailed (BERTH_VM_JAIL=off)         ${nojail} ms"
echo "  from a template with --network none                            ${nonet} ms"
echo "  the first VM run, which made the template                      ${first} ms"
echo "  ratio template/bare: $(ratio "$tpl" "$bare")   (goal <= 0.4)"
echo "  ratio cold/bare:     $(ratio "$cold" "$bare")"
echo "  ratio template/cold: $(ratio "$tpl" "$cold")"
echo "  ratio nonet/bare:    $(ratio "$nonet" "$bare")   (the default network's cost: $((tpl - nonet)) ms)"
echo "  the jail's cost: $(( (tpl - nojail) * 100 / nojail ))%   (template/nojail $(ratio "$tpl" "$nojail"); goal <= 5%)"

if command -v dockerd >/dev/null && command -v docker >/dev/null; then
  DK=1
  cat > "$tmp/daemon.json" <<EOF
{"runtimes": {"berth-vm": {"path": "$runtime", "runtimeArgs": ["--isolation=vm"]}}}
EOF
  dockerd --config-file "$tmp/daemon.json" --data-root "$tmp/docker" --exec-root "$tmp/docker-exec" \
    --pidfile "$tmp/docker.pid" -H "unix://$tmp/docker.sock" --iptables=false --ip6tables=false --bridge=none \
    --storage-driver=vfs > "$tmp/docker.log" 2>&1 3>&- &
  dk() { docker -H "unix://$tmp/docker.sock" "$@"; }
  for i in $(seq 150); do dk version >/dev/null 2>&1 && break; sleep 0.2; done
  B save --format docker -o "$tmp/busybox.tar" busybox
  dk load -q -i "$tmp/busybox.tar" >/dev/null
  dk run --rm --runtime berth-vm busybox true
  : > "$tmp/dvm"; : > "$tmp/drunc"
  for i in $(seq "$N"); do
    for rt in berth-vm runc; do
      t0=$(date +%s%N)
      dk run --rm --runtime "$rt" busybox true
      ms "$t0" >> "$tmp/d$([ "$rt" = runc ] && echo runc || echo vm)"
    done
  done
  dvm=$(median < "$tmp/dvm") drunc=$(median < "$tmp/drunc")
  echo "docker (private dockerd, --network none), $N runs each, medians:"
  echo "  docker run --rm --runtime berth-vm busybox true   ${dvm} ms (from a template)"
  echo "  docker run --rm --runtime runc busybox true       ${drunc} ms"
  echo "  ratio berth-vm/runc: $(ratio "$dvm" "$drunc")"
else
  echo "docker: dockerd is not installed: the Docker path is not measured"
fi

# Host memory per idle VM container: IDLE of them, settled.
pss() { awk '/^Pss:/ {s += $2} END {print s + 0}' "/proc/$1/smaps_rollup"; }
idle() { # label
  local ids=() total=0 id q s
  for i in $(seq "$IDLE"); do
    ids+=("$(B run -d --isolation=vm busybox sleep 100000 2>/dev/null)")
  done
  sleep 12
  for id in "${ids[@]}"; do
    q=$(B inspect "$id" | jq '.[0].VM.Pid') s=$(B inspect "$id" | jq '.[0].State.Pid')
    total=$((total + $(pss "$q") + $(pss "$s")))
  done
  echo "  $1: $(awk -v t="$total" -v n="$IDLE" 'BEGIN {printf "%.1f", t / n / 1024}') MiB PSS (QEMU + shim) per container, $(B inspect "${ids[0]}" | jq -r '.[0].VM.Start') start"
  B rm -f "${ids[@]}" >/dev/null
}
echo "host memory of $IDLE idle VM containers:"
idle "private template memory (default)"
BERTH_VM_TEMPLATE=shared idle "shared template memory (opt-in)  "
BERTH_VM_TEMPLATE=off idle "cold boots                        "
echo "  (goal <= 80 MiB per container in the default mode)"

# One idle VM container: what it costs beyond what its guest itself uses,
# and memory the guest used and freed going back (free page reporting).
B run -d --isolation=vm --name idle busybox sleep 100000 >/dev/null 2>&1
sleep 5
qpid=$(B inspect idle | jq '.[0].VM.Pid') spid=$(B inspect idle | jq '.[0].State.Pid')
qk=$(pss "$qpid") sk=$(pss "$spid")
stats=$(B stats --no-stream --format json idle)
guest=$(jq '.[0].guest_memory_used / 1024 | floor' <<<"$stats")
ram=$(B inspect idle | jq '.[0].VM.MemoryMiB * 1024')
free=$(jq '.[0].guest_memory_free / 1024 | floor' <<<"$stats")
echo "one idle VM container ($(B inspect idle | jq -r '.[0].VM.Start') start): QEMU PSS $((qk / 1024)) MiB, shim PSS $((sk / 1024)) MiB;" \
     "the guest uses $((guest / 1024)) MiB (MemTotal - MemFree), $(( (ram - free) / 1024 )) MiB of its $((ram / 1024)) MiB RAM"
echo "  host memory beyond the guest's own use: $(( (qk + sk - (ram - free)) / 1024 )) MiB"
B exec idle sh -c 'head -c 50000000 /dev/zero > /dev/shm/fill' 2>/dev/null
qf=$(pss "$qpid")
B exec idle rm /dev/shm/fill 2>/dev/null
sleep 10
echo "  QEMU PSS with 48 MiB in use in the guest $((qf / 1024)) MiB, 10 s after it is freed $(( $(pss "$qpid") / 1024 )) MiB"
B rm -f idle >/dev/null
