#!/bin/sh
# Runs the cmocka binaries given as arguments; prints one summary line.
pass=0 fail=0
for t in "$@"; do
  out=$("$t" 2>&1); rc=$?
  printf '%s\n' "$out"
  p=$(printf '%s\n' "$out" | sed -n 's/.*\[  PASSED  \] \([0-9]*\) test.*/\1/p' | tail -1)
  f=$(printf '%s\n' "$out" | sed -n 's/.*\[  FAILED  \] \([0-9]*\) test.*/\1/p' | tail -1)
  pass=$((pass + ${p:-0})); fail=$((fail + ${f:-0}))
  [ $rc -eq 0 ] || [ -n "$f" ] || fail=$((fail + 1))
done
echo "unit: $pass passed, $fail failed"
[ $fail -eq 0 ]
