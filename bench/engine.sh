#!/bin/bash
# bench/engine.sh [N]: `berth run --rm busybox true` against `podman run
# --rm` (with crun and with runc), `docker run --rm` (a dockerd of this
# script's own, state in a temporary directory) and the bare
# `berth-runtime run` of the same container, alternating, N times each
# (default 20); prints medians and ratios.  Every engine runs with no
# network and the same busybox image; berth-bridge is berth on its default
# bridge network (namespace, veth, address, nft elements), for its cost;
# podman gets rlimits below the host's hard ones (its default 1048576 needs
# CAP_SYS_RESOURCE, which this host does not give root).
#
# crun refuses this host's hybrid cgroups while the cgroup2 mount has
# controllers: everything runs in one private mount namespace with
# /sys/fs/cgroup/unified unmounted, the same for all.
set -euo pipefail
N=${1:-20}
top=$(cd "$(dirname "$0")/.." && pwd)
berth=$top/build/berth
[ "$(id -u)" = 0 ] || { echo "bench/engine.sh: needs root" >&2; exit 1; }
tmp=$(mktemp -d /tmp/berth-bench-engine.XXXXXX)
cleanup() {
  [ -s "$tmp/docker.pid" ] && kill "$(cat "$tmp/docker.pid")" 2>/dev/null && sleep 2
  for i in $(seq 20); do grep -q " $tmp" /proc/self/mountinfo || break; grep -o " $tmp[^ ]*" /proc/self/mountinfo | sort -r | while read -r m; do umount -l "$m" 2>/dev/null || true; done; done
  rm -rf "$tmp"
}
trap cleanup EXIT

"$berth" --root "$tmp/berth" save --format docker -o "$tmp/busybox.tar" busybox
engines="berth berth-bridge runtime"
if command -v podman >/dev/null; then
  P="podman --root $tmp/podman --runroot $tmp/podman-run --storage-driver vfs --cgroup-manager cgroupfs --events-backend none"
  $P load -q -i "$tmp/busybox.tar" >/dev/null
  command -v crun >/dev/null && engines="$engines podman-crun"
  command -v runc >/dev/null && engines="$engines podman-runc"
fi
if command -v dockerd >/dev/null; then
  dockerd --data-root "$tmp/docker" --exec-root "$tmp/dexec" --pidfile "$tmp/docker.pid" -H "unix://$tmp/docker.sock" \
    --iptables=false --ip6tables=false --bridge=none --storage-driver=vfs > "$tmp/dockerd.log" 2>&1 &
  D="/usr/bin/docker -H unix://$tmp/docker.sock"
  for i in $(seq 150); do $D version >/dev/null 2>&1 && break; sleep 0.2; done
  $D load -q -i "$tmp/busybox.tar" >/dev/null && engines="$engines docker"
fi
# The bare runtime: the same rootfs as the built-in image, as a bundle.
mkdir -p "$tmp/bundle"
(cd "$tmp/bundle" && "$top/build/berth-runtime" spec)
jq ".ociVersion = \"1.0.2\" | .root.path = \"$top/build/rootfs/busybox\" | .process.terminal = false | .process.args = [\"true\"]" \
  "$tmp/bundle/config.json" > "$tmp/c" && mv "$tmp/c" "$tmp/bundle/config.json"

cat > "$tmp/loop.sh" <<LOOP
set -e
umount -l /sys/fs/cgroup/unified 2>/dev/null || true
PL="--ulimit nofile=4096:4096 --ulimit nproc=4096:4096"
set -- $engines
for i in \$(seq $N); do
  order="\$*"
  for k in \$(seq \$(( i % \$# ))); do order="\${order#* } \${order%% *}"; done
  for e in \$order; do
    t0=\$(date +%s%N)
    case \$e in
      berth) $berth --root $tmp/berth run --rm --network none busybox true ;;
      berth-bridge) $berth --root $tmp/berth run --rm busybox true ;;
      runtime) $top/build/berth-runtime --root $tmp/rt run --bundle $tmp/bundle r\$i ;;
      podman-crun) ${P:-false} run --rm --network none --runtime crun \$PL busybox true ;;
      podman-runc) ${P:-false} run --rm --network none --runtime runc \$PL busybox true ;;
      docker) ${D:-false} run --rm --network none busybox true ;;
    esac > /dev/null
    echo "\$e \$(( (\$(date +%s%N) - t0) / 1000 ))"
  done
done
LOOP
# An engine that cannot run here at all is reported and left out.
probe="$tmp/probe.sh"
sed 's/^for i in .*/for i in 1; do/' "$tmp/loop.sh" > "$probe"
ok=""
for e in $engines; do
  if unshare -m bash -c "sed 's/^set -- .*/set -- $e/' '$probe' | bash" > /dev/null 2> "$tmp/probe.err"; then
    ok="$ok $e"
  else
    echo "left out: $e ($(tail -1 "$tmp/probe.err"))"
  fi
done
engines=$ok
sed -i "s/^set -- .*/set -- $engines/" "$tmp/loop.sh"
unshare -m bash "$tmp/loop.sh" > "$tmp/times"
median() { awk -v e="$1" '$1 == e {print $2}' "$tmp/times" | sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : int((a[NR/2]+a[NR/2+1])/2)}'; }
declare -A m
echo "runs per engine: $N (alternating, busybox true, no network)"
for e in $engines; do m[$e]=$(median "$e"); printf '%-12s median %8.1f ms\n' "$e" "$(echo "${m[$e]} / 1000" | bc -l)"; done
for e in $engines; do
  [ "$e" = berth ] && continue
  printf 'ratio berth/%s: %.2f\n' "$e" "$(echo "${m[berth]} / ${m[$e]}" | bc -l)"
done
