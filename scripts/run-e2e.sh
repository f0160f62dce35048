#!/bin/sh
# Runs the bats suites; the last line is "e2e: N passed, N failed, N
# skipped" (a skipped test is not a passed one).
top=$(cd "$(dirname "$0")/.." && pwd)
[ "$(id -u)" = 0 ] || { echo "e2e: the end-to-end tests need root" >&2; exit 1; }
out=$(mktemp)
# VM templates made by the tests are the build's own (make clean removes
# them), shared by the suites, never the host's /var/cache/berth.
export BERTH_VM_TEMPLATES=${BERTH_VM_TEMPLATES:-$top/build/vm-templates}
bats --tap "$top"/tests/e2e/*.bats | tee "$out"
skip=$(grep -c '^ok .* # skip' "$out")
pass=$(($(grep -c '^ok ' "$out") - skip))
fail=$(grep -c '^not ok ' "$out")
rm -f "$out"
echo "e2e: $pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]
