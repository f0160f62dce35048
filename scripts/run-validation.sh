#!/bin/sh
# Runs the OCI runtime-tools validation suite against build/berth-runtime
# and fails when fewer test programs pass than the floor below.  The floor
# only ever rises.  berth passes 41 every time and 42-43 when the races in
# pidfile and poststart go its way; the floor keeps one of margin.
MIN_PASS=${BERTH_VALIDATION_MIN:-40}
top=$(cd "$(dirname "$0")/.." && pwd)
suite=${OCI_VALIDATION:-$top/../shared/oci-validation/run-validation.sh}
[ -x "$suite" ] || { echo "validation: $suite not found" >&2; exit 1; }
out=${VALIDATION_OUT:-}
if [ -z "$out" ]; then
  # A directory of our own goes when we do (VALIDATION_OUT keeps one).
  out=$(mktemp -d /tmp/berth-validation.XXXXXX)
  trap 'rm -rf "$out" "$out.log"' EXIT
fi
# Bundles live under it: a user-namespaced container's root must be able
# to reach its rootfs.
mkdir -p "$out" && chmod 755 "$out"
# The suite checks runtime-spec's MUSTs; where berth-runtime follows runc
# instead (delete of a created container), --strict-spec holds it to the
# spec (docs/cli.md).
export RTT_RUNTIME_ARGS="${RTT_RUNTIME_ARGS:---strict-spec}"
# The suite's build cache lives outside the read-only shared folder.
export RTT_HOME=${RTT_HOME:-/var/cache/oci-validation}
"$suite" "$top/build/berth-runtime" "$out" > "$out.log" 2>&1
tail -n 70 "$out.log"
line=$(tail -n 1 "$out.log")
pass=$(echo "$line" | sed -n 's/^\([0-9]*\) passed.*/\1/p')
fail=$(echo "$line" | sed -n 's/.* \([0-9]*\) failed.*/\1/p')
[ -n "$pass" ] || { echo "validation: the suite did not finish"; echo "validation: 0 passed, 1 failed"; exit 1; }
echo "validation: $pass passed, $fail failed (floor: $MIN_PASS passing)"
[ "$pass" -ge "$MIN_PASS" ]
