#!/usr/bin/env bats
# Regression tests for the container escapes the trusted runtimes learned
# from (../shared/ANCHORS.md).

load helpers

@test "CVE-2019-5736: the runtime binary cannot be reopened for writing from the container" {
  args sleep 100
  R create --bundle "$BUNDLE" c1
  pid=$(R state c1 | jq -r .pid)
  # The init waiting for start is berth-runtime code inside the container.
  # The attack keeps its exe open, lets the runtime exec, then reopens the
  # file for writing through the kept fd.
  exec 9< "/proc/$pid/exe"
  R start c1
  [ "$(cat /proc/$pid/cmdline | tr '\0' ' ')" = "sleep 100 " ]
  run sh -c 'echo overwritten >> /proc/self/fd/9'
  exec 9<&-
  [ "$status" -ne 0 ]
  [[ "$output" == *"Read-only file system"* ]] || [[ "$output" == *"Operation not permitted"* ]]
  cmp -s "$BERTH_RUNTIME" "$BERTH_RUNTIME"
  "$BERTH_RUNTIME" --version | grep -q berth-runtime
}

@test "the runtime's private mount namespace never leaks mounts to the host" {
  before=$(grep -c . /proc/self/mountinfo)
  args true
  R run c1
  [ "$(grep -c . /proc/self/mountinfo)" -eq "$before" ]
  ! grep -q "$(readlink -f "$BERTH_RUNTIME")" /proc/self/mountinfo
}

@test "runtime-namespace hooks run in the host's mount namespace" {
  cfg ".hooks = {\"prestart\":[{\"path\":\"/bin/sh\",\"args\":[\"sh\",\"-c\",\"readlink /proc/self/ns/mnt > $T/prestart-ns\"]}],\"poststop\":[{\"path\":\"/bin/sh\",\"args\":[\"sh\",\"-c\",\"readlink /proc/self/ns/mnt > $T/poststop-ns\"]}]}"
  R run c1
  [ "$(cat "$T/prestart-ns")" = "$(readlink /proc/self/ns/mnt)" ]
  [ "$(cat "$T/poststop-ns")" = "$(readlink /proc/self/ns/mnt)" ]
}

@test "CVE-2024-21626: no stray fd reaches the container, and a cwd through one is refused" {
  args ls /proc/self/fd
  # fd 7 is an fd the caller passed by accident
  run bash -c "exec 7</etc/hostname; '$BERTH_RUNTIME' --root '$STATE' run --bundle '$BUNDLE' c1"
  [ "$status" -eq 0 ]
  [ "$(echo "$output" | tr '\n' ' ')" = "0 1 2 3 " ]
  cfg '.process.cwd = "/proc/self/fd/7"'
  args pwd
  run bash -c "exec 7</tmp; '$BERTH_RUNTIME' --root '$STATE' run --bundle '$BUNDLE' c2"
  [ "$status" -ne 0 ]
  [[ "$output" == *"process.cwd"* ]]
}

@test "CVE-2021-30465: a mount target symlinked out of the rootfs lands inside it" {
  own_rootfs
  mkdir -p "$T/host-target"
  ln -s "$T/host-target" "$T/rootfs/evil"
  ln -s ../../../../../../../../ "$T/rootfs/up"
  cfg ".mounts += [{\"destination\":\"/evil/x\",\"type\":\"tmpfs\",\"source\":\"tmpfs\"},{\"destination\":\"/up$T/host-target/y\",\"type\":\"tmpfs\",\"source\":\"tmpfs\"}]"
  args sh -c 'grep -c " /evil/x \| /up/\| $T" /proc/self/mountinfo; true'
  run R run c1
  [ "$status" -eq 0 ]
  # nothing was created or mounted in the host directory
  [ -z "$(ls -A "$T/host-target")" ]
  ! grep -q "$T/host-target" /proc/self/mountinfo
  # the directories were made inside the rootfs instead
  [ -d "$T/rootfs/$T/host-target/x" ]
}

@test "CVE-2025-31133: /dev/null is checked before it masks a path" {
  own_rootfs
  # No /dev mount: the rootfs's own /dev/null is used, and it is a trap.
  cfg 'del(.mounts[] | select(.destination | startswith("/dev")))'
  rm -f "$T/rootfs/dev/null"
  ln -s /proc/sys/kernel/core_pattern "$T/rootfs/dev/null"
  run R create --bundle "$BUNDLE" c1
  [ "$status" -ne 0 ]
  [[ "$output" == *"/dev/null in the container is not the null device"* ]]
  [ ! -e "$STATE/c1" ]
}

@test "the container cannot see or remount the host's root" {
  args sh -c 'cat /proc/1/mountinfo | grep -c " / / "; mount -o remount,rw / 2>&1 || echo denied'
  run R run c1
  [[ "$output" == *denied* ]] || [[ "$output" == *"Permission denied"* ]] || [[ "$output" == *"not permitted"* ]]
}
