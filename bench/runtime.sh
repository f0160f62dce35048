#!/bin/bash
# bench/runtime.sh [N]: berth-runtime, crun and runc run the same bundle
# (/bin/true in the busybox rootfs), alternating, N times each (default 30),
# and the medians and ratios are printed.
#
# crun 1.8 refuses this host's hybrid cgroups while the cgroup2 mount has
# controllers, so the whole loop runs in one private mount namespace with
# /sys/fs/cgroup/unified unmounted: the same conditions for all three.
set -euo pipefail
N=${1:-30}
top=$(cd "$(dirname "$0")/.." && pwd)
berth=$top/build/berth-runtime
[ "$(id -u)" = 0 ] || { echo "bench/runtime.sh: needs root" >&2; exit 1; }
[ -x "$berth" ] || { echo "bench/runtime.sh: build first (make)" >&2; exit 1; }
runtimes="berth"
for r in crun runc; do command -v $r >/dev/null && runtimes="$runtimes $r"; done

tmp=$(mktemp -d /tmp/berth-bench.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/bundle"
(cd "$tmp/bundle" && "$berth" spec)
jq ".ociVersion = \"1.0.2\" | .root.path = \"$top/build/rootfs/busybox\" | .process.terminal = false | .process.args = [\"/bin/true\"]" \
  "$tmp/bundle/config.json" > "$tmp/c" && mv "$tmp/c" "$tmp/bundle/config.json"

cat > "$tmp/loop.sh" <<LOOP
set -e
umount -l /sys/fs/cgroup/unified 2>/dev/null || true
# State roots on a tmpfs, as /run is on real hosts (here /run is on disk).
mkdir -p $tmp/state && mount -t tmpfs tmpfs $tmp/state
set -- $runtimes
for i in \$(seq $N); do
  # Rotate the order: a runtime's teardown (network namespaces are freed
  # asynchronously) slows whichever runs next, so every runtime follows
  # every other equally often.
  shift_by=\$(( i % \$# )); order="\$*"
  for k in \$(seq \$shift_by); do order="\${order#* } \${order%% *}"; done
  for r in \$order; do
    bin=\$r; [ \$r = berth ] && bin=$berth
    t0=\$(date +%s%N)
    \$bin --root $tmp/state/\$r run --bundle $tmp/bundle bench-\$i >/dev/null
    t1=\$(date +%s%N)
    echo "\$r \$(( (t1 - t0) / 1000 ))"
  done
done
LOOP
unshare -m bash "$tmp/loop.sh" > "$tmp/times"

median() { awk -v r="$1" '$1 == r {print $2}' "$tmp/times" | sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : int((a[NR/2]+a[NR/2+1])/2)}'; }
echo "runs per runtime: $N (alternating, /bin/true, busybox rootfs)"
declare -A med
for r in $runtimes; do
  med[$r]=$(median $r)
  printf '%-8s median %7.1f ms\n' "$r" "$(echo "${med[$r]} / 1000" | bc -l)"
done
for r in $runtimes; do
  [ $r = berth ] && continue
  printf 'ratio berth/%s: %.2f\n' "$r" "$(echo "${med[berth]} / ${med[$r]}" | bc -l)"
done
