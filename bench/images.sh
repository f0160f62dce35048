#!/bin/bash
# bench/images.sh [RUNS]: pull + unpack the busybox and a Debian minbase
# image from a local registry, with berth and with skopeo copy + umoci
# unpack, alternating, RUNS times each (default 3); prints medians and the
# ratio berth/(skopeo+umoci).  The Debian image is built once with
# debootstrap and cached in $BERTH_CACHE (/var/cache/berth).
set -euo pipefail
RUNS=${1:-3}
top=$(cd "$(dirname "$0")/.." && pwd)
berth=$top/build/berth
cache=${BERTH_CACHE:-/var/cache/berth}
[ "$(id -u)" = 0 ] || { echo "bench/images.sh: needs root" >&2; exit 1; }
for t in skopeo umoci docker-registry debootstrap; do
  command -v $t >/dev/null || { echo "bench/images.sh: $t is missing (apt-get install $t)" >&2; exit 1; }
done

tmp=$(mktemp -d /tmp/berth-bench-images.XXXXXX)
reg_pid=
cleanup() { [ -n "$reg_pid" ] && kill "$reg_pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
reg=127.0.0.1:$port
mkdir -p "$tmp/registry"
cat > "$tmp/registry.yml" <<YML
version: 0.1
log: {level: error}
storage: {filesystem: {rootdirectory: $tmp/registry}}
http: {addr: "$reg"}
YML
docker-registry serve "$tmp/registry.yml" >/dev/null 2>&1 &
reg_pid=$!
for i in $(seq 100); do curl -s -o /dev/null "http://$reg/v2/" && break; sleep 0.1; done

# The images, pushed once with berth (gzip layers, as registries serve them).
debian=$("$top/scripts/debian-image.sh")
gzip -c "$top/build/images/busybox.tar" > "$tmp/busybox.tar.gz"
S="$berth --root $tmp/src"
$S import "$tmp/busybox.tar.gz" "$reg/bench/busybox:1" >/dev/null
$S import "$debian" "$reg/bench/debian:12" >/dev/null
$S push --tls-verify=false "$reg/bench/busybox:1" >/dev/null
$S push --tls-verify=false "$reg/bench/debian:12" >/dev/null

ms() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }
median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : int((a[NR/2]+a[NR/2+1])/2)}'; }
for img in busybox:1 debian:12; do
  : > "$tmp/berth.t"; : > "$tmp/other.t"
  for i in $(seq "$RUNS"); do
    rm -rf "$tmp/store" "$tmp/oci" "$tmp/bundle"; sync
    t0=$(date +%s%N); $berth --root "$tmp/store" pull -q --tls-verify=false "$reg/bench/$img" >/dev/null; ms $t0 >> "$tmp/berth.t"
    sync
    t0=$(date +%s%N)
    skopeo copy -q --src-tls-verify=false "docker://$reg/bench/$img" "oci:$tmp/oci:x"
    umoci unpack --image "$tmp/oci:x" "$tmp/bundle" >/dev/null
    ms $t0 >> "$tmp/other.t"
  done
  b=$(median < "$tmp/berth.t"); o=$(median < "$tmp/other.t")
  printf '%-10s berth pull+unpack %6d ms   skopeo+umoci %6d ms   ratio %.2f\n' "$img" "$b" "$o" "$(echo "$b / $o" | bc -l)"
done
