#!/bin/bash
# scripts/soak.sh [PROCESS_RUNS] [VM_RUNS]: many containers, mixed, then
# what leaked.  Defaults: 500 process and 100 VM runs (the issue's soak);
# tests/e2e/soak.bats runs a short one.  The runs: `run --rm` on the
# default bridge, some with a published port; every tenth a -d container
# that gets an exec, its logs, then stop, kill or rm -f in turn.  Then,
# with none of its containers left, nothing of its may be: mounts under
# its root, cgroups, veths or taps, network namespaces, nft elements of
# its subnet, IP leases, files under its tmp/, monitors, shims, QEMUs.
# Also a monitor's (and a VM shim's) fds and RSS after 100 and after
# 10,000 log lines must match.  Prints what leaked; the last line is
# "soak: N runs, N leaks".
set -uo pipefail
NP=${1:-500}
NV=${2:-100}
top=$(cd "$(dirname "$0")/.." && pwd)
berth=${BERTH:-$top/build/berth}
[ "$(id -u)" = 0 ] || { echo "soak: needs root" >&2; exit 1; }
root=$(mktemp -d /tmp/berth-soak.XXXXXX)
export BERTH_VM_TEMPLATES=${BERTH_VM_TEMPLATES:-$root/templates}
B() { "$berth" --root "$root/store" "$@"; }
leaks=0
leak() { echo "soak: LEAK: $*"; leaks=$((leaks + 1)); }
cleanup() {
  for id in $(B ps -aq 2>/dev/null); do B rm -f "$id" >/dev/null 2>&1; done
  grep -o " $root[^ ]*" /proc/self/mountinfo | sort -r | while read -r m; do umount -l "$m" 2>/dev/null; done
  rm -rf "$root"
}
trap cleanup EXIT

snapshot() {
  ip -o link show | grep -c . > "$root/links.$1"
  ip netns list | grep -c . > "$root/netns.$1"
  find /sys/fs/cgroup -maxdepth 4 -type d -name berth 2>/dev/null | while read -r d; do find "$d" -mindepth 1 -type d; done | sort > "$root/cgroups.$1"
}

# The default network's bridge and nft table stay, as docker0 does: made
# before the first snapshot.
B run --rm busybox true >/dev/null || { echo "soak: berth does not run here"; exit 1; }
snapshot before
port=$((20000 + RANDOM % 20000))
runs=0
mixed() {
  local i=$1 iso=$2 name="soak-$iso-$i"
  B run -d --name "$name" --isolation="$iso" busybox sh -c 'trap "exit 0" TERM; echo up; while true; do sleep 1; done' >/dev/null 2>&1 || { leak "run -d $name failed"; return; }
  B exec "$name" echo exec >/dev/null 2>&1 || leak "exec in $name failed"
  for k in $(seq 30); do [ "$(B logs "$name" 2>/dev/null)" = up ] && break; sleep 0.1; done
  case $((i / 10 % 3)) in
    0) B stop -t 2 "$name" >/dev/null 2>&1; B rm "$name" >/dev/null 2>&1 ;;
    1) B kill "$name" >/dev/null 2>&1; B wait "$name" >/dev/null 2>&1; B rm "$name" >/dev/null 2>&1 ;;
    2) B rm -f "$name" >/dev/null 2>&1 ;;
  esac
}
for iso_n in "process $NP" "vm $NV"; do
  set -- $iso_n
  iso=$1 n=$2
  for i in $(seq "$n"); do
    if [ $((i % 10)) = 0 ]; then
      mixed "$i" "$iso"
    elif [ $((i % 7)) = 0 ]; then
      B run --rm --isolation="$iso" -p "127.0.0.1:$port:80" busybox true >/dev/null 2>&1 || leak "run -p #$i ($iso) failed"
    else
      B run --rm --isolation="$iso" busybox true >/dev/null 2>&1 || leak "run #$i ($iso) failed"
    fi
    runs=$((runs + 1))
  done
done

# A monitor's fds and RSS: after 100 log lines and after 10,000 more.
for iso in process vm; do
  [ "$iso" = vm ] && [ "$NV" = 0 ] && continue
  B run -d --name chatty-$iso --isolation=$iso --log-opt max-size=64k busybox sh -c \
    'for i in $(seq 100); do echo line $i; done; sleep 1000' >/dev/null 2>&1
  # The monitor, and for a VM the shim (QEMU's parent).
  pids=$(B inspect -f '{{.MonitorPid}}' chatty-$iso)
  [ "$iso" = vm ] && pids="$pids $(awk '/^PPid/ {print $2}' /proc/$(B inspect -f '{{.VM.Pid}}' chatty-$iso)/status)"
  read -ra P <<< "$pids"
  sleep 2
  FD1=() RSS1=()
  for j in "${!P[@]}"; do
    FD1[j]=$(ls /proc/${P[j]}/fd | wc -l)
    RSS1[j]=$(awk '/^VmRSS/ {print $2}' /proc/${P[j]}/status)
  done
  B exec chatty-$iso sh -c 'for i in $(seq 10000); do echo line $i; done > /proc/1/fd/1' >/dev/null 2>&1
  sleep 2
  for j in "${!P[@]}"; do
    who=$([ "$j" = 0 ] && echo monitor || echo shim)
    fd2=$(ls /proc/${P[j]}/fd | wc -l)
    rss2=$(awk '/^VmRSS/ {print $2}' /proc/${P[j]}/status)
    echo "soak: $iso $who: fds ${FD1[j]} -> $fd2, RSS ${RSS1[j]} -> $rss2 kB after 10,000 log lines"
    [ "${FD1[j]}" = "$fd2" ] || leak "$iso $who fds ${FD1[j]} -> $fd2"
    [ "$rss2" -le $((RSS1[j] + 1024)) ] || leak "$iso $who RSS ${RSS1[j]} -> $rss2 kB"
  done
  [ "$(B logs chatty-$iso 2>/dev/null | tail -1)" = "line 10000" ] || leak "$iso: the log lost lines"
  B rm -f chatty-$iso >/dev/null 2>&1
done

# What is left.
[ -z "$(B ps -aq)" ] || leak "containers: $(B ps -aq | tr '\n' ' ')"
grep -q " $root/store" /proc/self/mountinfo && leak "mounts: $(grep -o " $root/store[^ ]*" /proc/self/mountinfo | tr '\n' ' ')"
snapshot after
for what in links netns cgroups; do
  cmp -s "$root/$what.before" "$root/$what.after" || leak "$what: $(diff "$root/$what.before" "$root/$what.after" | grep '^[<>]' | tr '\n' ' ')"
done
leases=$(find "$root/store/networks" -path '*.ipam/*' -type f 2>/dev/null | wc -l)
[ "$leases" = 0 ] || leak "IP leases: $leases"
[ -z "$(ls -A "$root/store/tmp" 2>/dev/null)" ] || leak "files under tmp/: $(ls "$root/store/tmp" | tr '\n' ' ')"
[ -z "$(ls -A "$root/store/runtime" 2>/dev/null)" ] || leak "runtime state: $(ls "$root/store/runtime" | tr '\n' ' ')"
pgrep -f -- "--root $root/store __monitor" >/dev/null && leak "monitors: $(pgrep -f -- "--root $root/store __monitor" | tr '\n' ' ')"
for p in $(pgrep -f qemu-system); do ls -l /proc/$p/fd 2>/dev/null | grep -q "$root" && leak "QEMU $p"; done
subnet=$(B network inspect -f '{{.Subnet}}' bridge 2>/dev/null | cut -d. -f1-2)
if command -v nft >/dev/null && [ -n "$subnet" ]; then
  n=$(nft list map ip berth ports_any 2>/dev/null | grep -c "$subnet\." || true)
  [ "$n" = 0 ] || leak "nft port elements for $subnet: $n"
fi
echo "soak: $runs runs, $leaks leaks"
[ "$leaks" = 0 ]
