#!/usr/bin/env bats
# berth-runtime under podman (Debian's podman 4.3, conmon): `podman
# --runtime`, VM isolation through `--runtime-flag isolation=vm`, podman's
# storage and state in this test's directory.  The containers set their
# rlimits below the host's: podman's default RLIMIT_NOFILE (1048576) needs
# CAP_SYS_RESOURCE, which root on the test machine does not have (runc
# fails the same way there).  Networks are the test's own (podman's CNI
# backend, configuration in the test's directory); the nftables tables that
# CNI's iptables plugins make, and that were not there before, go at the end.

load helpers
bats_require_minimum_version 1.5.0

BERTH=${BERTH:-$TOP/build/berth}

setup_file() {
  command -v podman >/dev/null || skip "podman is not installed"
  export PT
  PT=$(mktemp -d /tmp/berth-podman.XXXXXX)
  "$BERTH" --root "$PT/berth" save --format docker -o "$PT/busybox.tar" busybox
  pm load -q -i "$PT/busybox.tar" >/dev/null
  nft list tables > "$PT/tables.before"
}

teardown_file() {
  [ -n "${PT:-}" ] || return 0
  pm rm -af -t 0 >/dev/null 2>&1 || true
  pm network rm -f pmnet >/dev/null 2>&1 || true
  for n in $(ip netns list | grep -o '^pcl[0-9]*'); do ip netns del "$n"; ip link del "pch${n#pcl}" 2>/dev/null; done
  nft list tables | grep -vxFf "$PT/tables.before" | while read -r _ fam name; do nft delete table "$fam" "$name"; done
  grep -o " $PT[^ ]*" /proc/self/mountinfo | sort -r | while read -r m; do umount -l "$m" 2>/dev/null || true; done
  rm -rf "$PT"
}

setup() { :; }
teardown() { :; }

pm() {
  podman --root "$PT/storage" --runroot "$PT/run" --cgroup-manager cgroupfs --events-backend file \
    --network-config-dir "$PT/net" --runtime "$BERTH_RUNTIME" "$@"
}
LIMITS="--ulimit nofile=4096:4096 --ulimit nproc=4096:4096 --network none"

@test "podman: run, exit codes, -d, logs, exec, stop, rm through berth-runtime in both isolation modes" {
  for mode in process vm; do
    flag=()
    [ "$mode" = vm ] && flag=(--runtime-flag isolation=vm)
    # shellcheck disable=SC2086
    run pm "${flag[@]}" run --rm $LIMITS busybox sh -c 'echo hello; uname -r; exit 3'
    [ "$status" -eq 3 ]
    [ "${lines[0]}" = hello ]
    if [ "$mode" = vm ]; then [ "${lines[1]}" != "$(uname -r)" ]; else [ "${lines[1]}" = "$(uname -r)" ]; fi
    # shellcheck disable=SC2086
    pm "${flag[@]}" run -d --name "c-$mode" $LIMITS busybox sh -c 'echo started; exec sleep 1000'
    for i in $(seq 50); do [ "$(pm logs "c-$mode")" = started ] && break; sleep 0.1; done
    [ "$(pm logs "c-$mode")" = started ]
    run pm "${flag[@]}" exec "c-$mode" sh -c 'echo in; exit 7'
    [ "$status" -eq 7 ]
    [ "$output" = in ]
    if [ "$mode" = vm ]; then ! pgrep -fx "sleep 1000" >/dev/null; fi
    pm "${flag[@]}" stop -t 1 "c-$mode"
    [ "$(pm inspect -f '{{.State.Status}}' "c-$mode")" = exited ]
    pm "${flag[@]}" rm "c-$mode"
  done
  [ -z "$(pm ps -aq)" ]
}

@test "podman: berth-runtime's error reaches the podman CLI, with podman's 127 and 126" {
  # shellcheck disable=SC2086
  run -127 pm run --rm $LIMITS busybox /no/such/command
  [[ "$output" == *"berth-runtime"*"/no/such/command"*"no such file or directory"* ]]
  # shellcheck disable=SC2086
  run -127 pm run --rm $LIMITS busybox nosuchcommand
  [[ "$output" == *"executable file not found in \$PATH"* ]]
  # shellcheck disable=SC2086
  run -126 pm run --rm $LIMITS busybox /etc/passwd
  [[ "$output" == *"permission denied"* ]]
}

@test "podman: run -p: a published port answers a client namespace, in both isolation modes" {
  pm network create --subnet 10.197.7.0/24 pmnet >/dev/null
  N=$((RANDOM % 200 + 20))
  veth_ns "pcl$N" "pch$N" "10.195.$N.1" "10.195.$N.2"
  port=18500
  for mode in process vm; do
    flag=()
    [ "$mode" = vm ] && flag=(--runtime-flag isolation=vm)
    port=$((port + 1))
    pm "${flag[@]}" run -d --name "p-$mode" --network pmnet -p "$port:80" --ulimit nofile=4096:4096 \
      --ulimit nproc=4096:4096 busybox sh -c "mkdir /www; echo published-$mode > /www/index.html; exec httpd -f -p 80 -h /www"
    run http_get "http://10.195.$N.1:$port/" 60 "pcl$N"
    [ "$output" = "published-$mode" ]
    # The address podman's CNI gave is the one the container (or its VM) has.
    ip=$(pm inspect -f '{{.NetworkSettings.Networks.pmnet.IPAddress}}' "p-$mode")
    [[ "$(pm exec "p-$mode" ip -4 addr show eth0)" == *"inet $ip/24"* ]]
    pm rm -f -t 0 "p-$mode" >/dev/null
  done
  ip netns del "pcl$N"
  ip link del "pch$N" 2>/dev/null || true
  pm network rm pmnet >/dev/null
}
