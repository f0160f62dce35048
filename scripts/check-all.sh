#!/bin/bash
# make check-all: every test.  make check on this host (unit, end to end,
# OCI conformance), then make check-hosts (the process-isolation suites and
# the conformance suite again inside a booted systemd + cgroup v2 host).
# The last line sums both: "N passed, N failed".
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top" || exit 1
log=$(mktemp)
trap 'rm -f "$log"' EXIT
make -s check 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
main=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$log" | tail -n 1)
make -s check-hosts 2>&1 | tee "$log"
[ "${PIPESTATUS[0]}" = 0 ] || rc=1
hosts=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$log" | tail -n 1)
passed() { echo "$1" | sed -n 's/^\([0-9]*\) passed, [0-9]* failed.*/\1/p'; }
failed() { echo "$1" | sed -n 's/^[0-9]* passed, \([0-9]*\) failed.*/\1/p'; }
p1=$(passed "$main") f1=$(failed "$main") p2=$(passed "$hosts") f2=$(failed "$hosts")
# A step that did not get as far as its count is a failure.
f=$((${f1:-1} + ${f2:-1}))
[ "$rc" = 0 ] || [ "$f" -gt 0 ] || f=1
echo "this host: ${main}; the systemd + cgroup v2 host: ${hosts}"
echo "$((${p1:-0} + ${p2:-0})) passed, $f failed"
[ "$rc" = 0 ] && [ "$f" = 0 ]
