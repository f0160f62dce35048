#!/bin/bash
# bench/ab.sh OTHER_TREE [N] [VM_N]: this tree's build against another
# built tree of berth (a worktree of an earlier commit, say), alternating
# in one loop so that both see the same machine: berth-runtime run of a
# /bin/true bundle, berth run --rm busybox true (no network, and on the
# default bridge), N times each (default 20), and berth run --rm
# --isolation=vm busybox true VM_N times each (default 6; 0 leaves VMs
# out).  Prints the medians of both and the ratio this/other.
#
# As bench/runtime.sh, the loop runs in a private mount namespace with
# /sys/fs/cgroup/unified unmounted: the same conditions for both trees.
set -euo pipefail
other=$(cd "${1:?usage: bench/ab.sh OTHER_TREE [N] [VM_N]}" && pwd)
N=${2:-20}
VM_N=${3:-6}
top=$(cd "$(dirname "$0")/.." && pwd)
[ "$(id -u)" = 0 ] || { echo "bench/ab.sh: needs root" >&2; exit 1; }
for t in "$top" "$other"; do
  [ -x "$t/build/berth" ] && [ -x "$t/build/berth-runtime" ] || { echo "bench/ab.sh: build $t first (make)" >&2; exit 1; }
done

tmp=$(mktemp -d /tmp/berth-bench-ab.XXXXXX)
cleanup() {
  for t in this other; do
    for id in $("${bin[$t]:-true}" --root "$tmp/$t" ps -aq 2>/dev/null); do "${bin[$t]}" --root "$tmp/$t" rm -f "$id" >/dev/null 2>&1 || true; done
  done
  for i in $(seq 20); do grep -q " $tmp" /proc/self/mountinfo || break; grep -o " $tmp[^ ]*" /proc/self/mountinfo | sort -r | while read -r m; do umount -l "$m" 2>/dev/null || true; done; done
  rm -rf "$tmp"
}
declare -A bin=([this]="$top/build/berth" [other]="$other/build/berth")
declare -A rt=([this]="$top/build/berth-runtime" [other]="$other/build/berth-runtime")
declare -A vmdir=([this]="$top/build/vm" [other]="$other/build/vm")
trap cleanup EXIT

mkdir -p "$tmp/bundle"
(cd "$tmp/bundle" && "${rt[this]}" spec)
jq ".ociVersion = \"1.0.2\" | .root.path = \"$top/build/rootfs/busybox\" | .process.terminal = false | .process.args = [\"true\"]" \
  "$tmp/bundle/config.json" > "$tmp/c" && mv "$tmp/c" "$tmp/bundle/config.json"
# Each tree's store has the built-in image before the clock starts.
for t in this other; do "${bin[$t]}" --root "$tmp/$t" run --rm --network none busybox true; done

cat > "$tmp/loop.sh" <<LOOP
set -e
umount -l /sys/fs/cgroup/unified 2>/dev/null || true
run () { # kind tree i
  local t0=\$(date +%s%N) b r
  case \$2 in this) b=${bin[this]} r=${rt[this]} ;; *) b=${bin[other]} r=${rt[other]} ;; esac
  case \$1 in
    runtime) \$r --root $tmp/rt-\$2 run --bundle $tmp/bundle r\$3 ;;
    engine) \$b --root $tmp/\$2 run --rm --network none busybox true ;;
    bridge) \$b --root $tmp/\$2 run --rm busybox true ;;
    vm) BERTH_VM_DIR=\$([ \$2 = this ] && echo ${vmdir[this]} || echo ${vmdir[other]}) \$b --root $tmp/\$2 run --rm --isolation=vm busybox true 2>/dev/null ;;
  esac > /dev/null
  echo "\$1 \$2 \$(( (\$(date +%s%N) - t0) / 1000 ))"
}
for i in \$(seq $N); do
  for k in runtime engine bridge; do
    if [ \$((i % 2)) = 0 ]; then run \$k this \$i; run \$k other \$i; else run \$k other \$i; run \$k this \$i; fi
  done
done
for i in \$(seq $VM_N); do
  if [ \$((i % 2)) = 0 ]; then run vm this \$i; run vm other \$i; else run vm other \$i; run vm this \$i; fi
done
LOOP
unshare -m bash "$tmp/loop.sh" > "$tmp/times"

median() { sort -n | awk '{a[NR] = $1} END {if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }
echo "this:  $top ($(git -C "$top" describe --always --dirty 2>/dev/null || echo ?))"
echo "other: $other ($(git -C "$other" describe --always --dirty 2>/dev/null || echo ?))"
for k in runtime engine bridge vm; do
  grep -q "^$k " "$tmp/times" || continue
  a=$(awk -v k=$k '$1 == k && $2 == "this" {print $3}' "$tmp/times" | median)
  b=$(awk -v k=$k '$1 == k && $2 == "other" {print $3}' "$tmp/times" | median)
  n=$(awk -v k=$k '$1 == k && $2 == "this"' "$tmp/times" | wc -l)
  printf '%-8s this %8.1f ms   other %8.1f ms   ratio this/other %.2f   (%d runs each)\n' \
    "$k" "$(echo "$a / 1000" | bc -l)" "$(echo "$b / 1000" | bc -l)" "$(echo "$a / $b" | bc -l)" "$n"
done
