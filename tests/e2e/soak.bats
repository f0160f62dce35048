#!/usr/bin/env bats
# A short soak (scripts/soak.sh runs the long one): mixed runs in both
# isolation modes, then nothing leaked, and a monitor's and a VM shim's fds
# and memory the same after 10,000 log lines as after 100.

load helpers

@test "soak (short): 60 process and 6 VM runs, mixed with -d, exec, logs, stop, kill, rm and -p; nothing leaks" {
  run env BERTH="$TOP/build/berth" "$TOP/scripts/soak.sh" 60 6
  echo "$output" | grep '^soak:' >&3 || true
  [ "$status" -eq 0 ]
  [[ "${lines[-1]}" == "soak: 66 runs, 0 leaks" ]]
}
