#!/bin/sh
# scripts/run-fuzz.sh BUILD SECONDS TARGET...: runs each libFuzzer target for
# SECONDS from its seed corpus (tests/fuzz/corpus/<name>, read only: new
# inputs go to a scratch corpus), crashes kept under BUILD/fuzz/crashes.
# The last line: "fuzz: N passed, N failed".
top=$(cd "$(dirname "$0")/.." && pwd)
b=$1 secs=$2
shift 2
pass=0 fail=0
work=$(mktemp -d /tmp/berth-fuzz.XXXXXX)
trap 'rm -rf "$work"' EXIT INT TERM
mkdir -p "$b/fuzz/crashes"
for t in "$@"; do
  name=${t#fuzz_}
  mkdir -p "$work/$name"
  if "$b/fuzz/$t" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=0 \
       -artifact_prefix="$b/fuzz/crashes/$name-" "$work/$name" "$top/tests/fuzz/corpus/$name" > "$work/$name.log" 2>&1; then
    echo "fuzz: $t: ok ($(grep -oE "Done [0-9]+ runs" "$work/$name.log" | awk "{print \$2}") runs in ${secs}s)"
    pass=$((pass + 1))
  else
    echo "fuzz: $t: FAILED"
    grep -E 'ERROR|SUMMARY|Test unit written' "$work/$name.log" | head -5
    fail=$((fail + 1))
  fi
done
echo "fuzz: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
