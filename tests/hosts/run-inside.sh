#!/bin/sh
# Runs inside the check-hosts test host (scripts/check-hosts.sh boots it;
# its berth-check.service starts this from the disk labelled berth-check,
# mounted at /check): the process-isolation suites, the OCI validation
# suite and, when asked, bench/runtime.sh.  Results go to /check/results;
# the last line of results/summary is "check-hosts: N passed, N failed".
out=/check/results
mkdir -p "$out"
cd /check/berth || exit 1
{
  echo "kernel: $(uname -r)"
  echo "virtualization: $(systemd-detect-virt 2>/dev/null || echo none)"
  echo "PID 1: $(cat /proc/1/comm), $(systemctl --version | head -n 1)"
  echo "cgroup: $(stat -fc %T /sys/fs/cgroup), controllers: $(cat /sys/fs/cgroup/cgroup.controllers 2>/dev/null)"
  echo "this script's cgroup: $(cat /proc/self/cgroup)"
  echo "cpus: $(nproc), memory: $(free -m | awk '/^Mem:/ {print $2}') MiB"
} | tee "$out/host.txt"

# The suites know they run here: what needs the hybrid host or VM
# isolation skips and says so.
export BERTH_TEST_HOST=systemd-v2
suites=$(cat /check/suites 2>/dev/null)
[ -n "$suites" ] || suites="runtime security engine net systemd"
files=
for s in $suites; do files="$files tests/e2e/$s.bats"; done
# shellcheck disable=SC2086
bats --tap $files 2>&1 | tee "$out/e2e.tap"
skipped=$(grep -c '^ok .* # skip' "$out/e2e.tap")
pass=$(($(grep -c '^ok ' "$out/e2e.tap") - skipped))
fail=$(grep -c '^not ok ' "$out/e2e.tap")
echo "e2e: $pass passed, $fail failed, $skipped skipped"

vpass=0
if [ -x /check/shared/oci-validation/run-validation.sh ] && [ ! -e /check/suites ]; then
  mkdir -p /var/cache/oci-validation
  cp -a /check/rtt/. /var/cache/oci-validation/
  # runtime-tools 0.9 reads cgroup v1 files only: on this host its cgroup
  # programs fail whichever runtime runs them.  runc on the same host is
  # the yardstick: berth must pass at least as many as it does.
  RTT_TIMEOUT=60 RTT_NO_INSTALL=1 "/check/shared/oci-validation/run-validation.sh" /usr/sbin/runc "$out/validation-runc" \
    > "$out/validation-runc.txt" 2>&1
  rpass=$(tail -n 1 "$out/validation-runc.txt" | sed -n 's/^\([0-9]*\) passed.*/\1/p')
  echo "validation, runc on this host: $(tail -n 1 "$out/validation-runc.txt")"
  BERTH_VALIDATION_MIN=${rpass:-40} VALIDATION_OUT="$out/validation" RTT_NO_INSTALL=1 \
    OCI_VALIDATION=/check/shared/oci-validation/run-validation.sh scripts/run-validation.sh > "$out/validation.txt" 2>&1
  vrc=$?
  tail -n 3 "$out/validation.txt"
  vpass=$(sed -n 's/^validation: \([0-9]*\) passed.*/\1/p' "$out/validation.txt" | tail -n 1)
  [ $vrc -eq 0 ] || fail=$((fail + 1))
  # Keep the per-test reports, not the bundles.
  rm -rf "$out/validation/tmp" "$out/validation-runc/tmp" "$out/validation/.rtt" "$out/validation-runc/.rtt"
fi

if [ -e /check/bench ]; then
  bench/runtime.sh 20 > "$out/bench.txt" 2>&1
  cat "$out/bench.txt"
fi
echo "check-hosts: $((pass + ${vpass:-0})) passed, $fail failed" | tee "$out/summary"
sync
