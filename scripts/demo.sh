#!/bin/sh
# Runs one container from the built-in busybox rootfs with berth-runtime.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
b=$top/build/demo
rm -rf "$b" && mkdir -p "$b"
(cd "$b" && "$top/build/berth-runtime" spec)
jq ".root.path = \"$top/build/rootfs/busybox\" | .process.terminal = false |
    .process.args = [\"sh\", \"-c\", \"echo hello from \$(hostname), pid \$\$, kernel \$(uname -r); id\"]" \
  "$b/config.json" > "$b/config.json.new" && mv "$b/config.json.new" "$b/config.json"
exec "$top/build/berth-runtime" --root "$top/build/demo-state" run --bundle "$b" "demo-$$"
