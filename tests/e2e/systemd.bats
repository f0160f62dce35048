#!/usr/bin/env bats
# A host of the common kind: systemd as PID 1 and cgroup v2 only
# (make check-hosts boots one and runs this there).  systemd's cgroup
# driver (transient scopes over D-Bus), cgroup v2's controllers set and
# read back, OOM kills reported, and Docker and containerd with their
# systemd cgroup drivers running berth-runtime.  On any other host each
# test skips and says why.

load helpers
bats_require_minimum_version 1.5.0

BERTH=${BERTH:-$TOP/build/berth}

needs_systemd_v2() {
  [ -d /run/systemd/system ] || skip "needs systemd as PID 1 (make check-hosts runs this on such a host)"
  [ "$(stat -fc %T /sys/fs/cgroup)" = cgroup2fs ] || skip "needs the unified cgroup v2 hierarchy (make check-hosts)"
}

# Any scope or slice this file makes goes, whatever happened.
teardown_extra() {
  local u
  for u in $(systemctl list-units --all --plain --no-legend 'berth-t*.scope' 'bt-*.scope' 'berth-*.scope' \
    'kubepods-bt*.slice' 'kubepods-bt.slice' 2>/dev/null | awk '{print $1}'); do
    systemctl stop "$u" 2>/dev/null || true
  done
  [ -z "${DT:-}" ] || { dockerd_stop "$DT"; rm -rf "$DT"; }
  [ -z "${CT:-}" ] || { containerd_stop "$CT"; rm -rf "$CT"; }
  [ -z "${EROOT:-}" ] || { "$BERTH" --root "$EROOT" rm -f $("$BERTH" --root "$EROOT" ps -aq) >/dev/null 2>&1; rm -rf "$EROOT"; }
}

SR() { (cd "$BUNDLE" && "$BERTH_RUNTIME" --root "$STATE" --systemd-cgroup "$@"); }

@test "systemd driver: --systemd-cgroup makes a delegated transient scope with the limits as properties; delete removes it" {
  needs_systemd_v2
  cfg '.linux.cgroupsPath = "system.slice:berth-t:c1" | .linux.resources = {"memory": {"limit": 67108864, "reservation": 33554432, "swap": 134217728}, "pids": {"limit": 40}, "cpu": {"shares": 1024, "quota": 50000, "period": 100000}}'
  args sleep 1000
  SR run -d --bundle "$BUNDLE" c1
  run systemctl status berth-t-c1.scope
  [ "$status" -eq 0 ]
  [[ "$output" == *"active (running)"* ]]
  [[ "$output" == *"sleep 1000"* ]]
  [ "$(systemctl show -P Delegate berth-t-c1.scope)" = yes ]
  [ "$(systemctl show -P MemoryMax berth-t-c1.scope)" = 67108864 ]
  [ "$(systemctl show -P MemoryLow berth-t-c1.scope)" = 33554432 ]
  [ "$(systemctl show -P MemorySwapMax berth-t-c1.scope)" = 67108864 ]
  [ "$(systemctl show -P TasksMax berth-t-c1.scope)" = 40 ]
  [ "$(systemctl show -P CPUQuotaPerSecUSec berth-t-c1.scope)" = 500ms ]
  [ "$(systemctl show -P CPUWeight berth-t-c1.scope)" = 39 ]
  # The container's init is in the scope's cgroup, whose files agree.
  pid=$(SR state c1 | jq -r .pid)
  [ "$(cat /proc/$pid/cgroup)" = "0::/system.slice/berth-t-c1.scope" ]
  d=/sys/fs/cgroup/system.slice/berth-t-c1.scope
  [ "$(cat $d/memory.max)" = 67108864 ]
  [ "$(cat $d/pids.max)" = 40 ]
  [ "$(cat $d/cpu.max)" = "50000 100000" ]
  # update: the unit's properties and the files.
  SR update --memory 100663296 --pids-limit 50 c1
  [ "$(systemctl show -P MemoryMax berth-t-c1.scope)" = 100663296 ]
  [ "$(systemctl show -P TasksMax berth-t-c1.scope)" = 50 ]
  [ "$(cat $d/memory.max)" = 100663296 ]
  # exec joins the scope.
  run SR exec c1 cat /proc/self/cgroup
  [ "$output" = "0::/" ]
  SR delete --force c1
  run systemctl status berth-t-c1.scope
  [ "$status" -eq 4 ]
  [ ! -e "$d" ]
}

@test "systemd driver: runc's slice rules (kubepods' nested slices, the default, -.slice); bad paths refused, nothing left" {
  needs_systemd_v2
  args sleep 1000
  cfg '.linux.cgroupsPath = "kubepods-bt-pod1234.slice:cri-containerd:k1"'
  SR create --bundle "$BUNDLE" k1
  pid=$(SR state k1 | jq -r .pid)
  [ "$(cat /proc/$pid/cgroup)" = "0::/kubepods.slice/kubepods-bt.slice/kubepods-bt-pod1234.slice/cri-containerd-k1.scope" ]
  systemctl is-active cri-containerd-k1.scope
  SR delete --force k1
  ! systemctl is-active cri-containerd-k1.scope
  systemctl stop kubepods-bt-pod1234.slice kubepods-bt.slice
  # No cgroupsPath: system.slice/berth-ID.scope, where docker puts its own.
  cfg 'del(.linux.cgroupsPath)'
  SR create --bundle "$BUNDLE" bt-d
  pid=$(SR state bt-d | jq -r .pid)
  [ "$(cat /proc/$pid/cgroup)" = "0::/system.slice/berth-bt-d.scope" ]
  SR delete --force bt-d
  # The root slice.
  cfg '.linux.cgroupsPath = "-.slice:bt:r1"'
  SR create --bundle "$BUNDLE" r1
  pid=$(SR state r1 | jq -r .pid)
  [ "$(cat /proc/$pid/cgroup)" = "0::/bt-r1.scope" ]
  SR delete --force r1
  for p in "a--b.slice:x:y" "-a.slice:x:y" "notaslice:x:y" "/abs/path" "system.slice:x" "system.slice:x:y.slice"; do
    cfg ".linux.cgroupsPath = \"$p\""
    run SR create --bundle "$BUNDLE" bad
    [ "$status" -ne 0 ]
    [[ "$output" == *"linux.cgroupsPath"* ]]
    [[ "$output" == *"$p"* ]]
  done
  [ -z "$(SR list -q)" ]
  [ -z "$(systemctl list-units --all --plain --no-legend 'x-y.scope' 'bt-*.scope')" ]
}

@test "cgroup v2 in full: memory, cpu, cpuset, pids, io, hugetlb, devices, freezer, cgroup namespace, set and read back" {
  needs_systemd_v2
  dev=$(findmnt -no SOURCE /)
  major=$(stat -c %t "$dev")
  minor=$(stat -c %T "$dev")
  cfg ".linux.resources = {\"memory\": {\"limit\": 67108864, \"reservation\": 16777216, \"swap\": 100663296},
       \"cpu\": {\"shares\": 512, \"quota\": 20000, \"period\": 100000, \"cpus\": \"0\", \"mems\": \"0\"},
       \"pids\": {\"limit\": 33},
       \"blockIO\": {\"weight\": 200, \"throttleReadBpsDevice\": [{\"major\": $((16#$major)), \"minor\": $((16#$minor)), \"rate\": 1048576}]},
       \"hugepageLimits\": [{\"pageSize\": \"2MB\", \"limit\": 4194304}],
       \"unified\": {\"memory.high\": \"50331648\"},
       \"devices\": [{\"allow\": false, \"access\": \"rwm\"}, {\"allow\": true, \"type\": \"c\", \"major\": 1, \"minor\": 11, \"access\": \"w\"}]}
     | .linux.devices = [{\"path\": \"/dev/kw\", \"type\": \"c\", \"major\": 1, \"minor\": 11}, {\"path\": \"/dev/fz\", \"type\": \"c\", \"major\": 10, \"minor\": 229}]"
  # The eBPF device filter: /dev/kmsg's numbers allowed for writing, fuse's not.
  args sh -c 'cd /sys/fs/cgroup && cat memory.max memory.low memory.swap.max memory.high cpu.weight cpu.max cpuset.cpus cpuset.mems pids.max io.max hugetlb.2MB.max; cat /proc/self/cgroup; echo berth-test > /dev/kw && echo kw-ok; { echo x > /dev/fz; } 2>/dev/null || echo fz-denied'
  run R run --bundle "$BUNDLE" v2
  [ "$status" -eq 0 ]
  want="67108864
16777216
33554432
50331648
20
20000 100000
0
0
33
$((16#$major)):$((16#$minor)) rbps=1048576 wbps=max riops=max wiops=max
4194304
0::/
kw-ok
fz-denied"
  diff <(echo "$want") <(echo "$output")
  # The freezer: pause and resume through cgroup.freeze.
  args sleep 1000
  R run -d --bundle "$BUNDLE" fz
  R pause fz
  [ "$(R state fz | jq -r .status)" = paused ]
  grep -qx 'frozen 1' /sys/fs/cgroup/berth/fz/cgroup.events
  R resume fz
  grep -qx 'frozen 0' /sys/fs/cgroup/berth/fz/cgroup.events
  R delete --force fz
  [ ! -e /sys/fs/cgroup/berth/fz ]
}

@test "cgroup v2: a controller the parent does not delegate is named in the error; nothing is left" {
  needs_systemd_v2
  # A cgroup with a process of its own cannot hand controllers down (v2's
  # no-internal-processes rule): its children get none.
  mkdir /sys/fs/cgroup/bt-nodeleg
  sleep 1000 &
  sp=$!
  echo $sp > /sys/fs/cgroup/bt-nodeleg/cgroup.procs
  cfg '.linux.cgroupsPath = "/bt-nodeleg/c1" | .linux.resources.memory = {"limit": 67108864}'
  run R run --bundle "$BUNDLE" c1
  kill $sp
  wait $sp 2>/dev/null || true
  rmdir /sys/fs/cgroup/bt-nodeleg/c1 2>/dev/null || true
  rmdir /sys/fs/cgroup/bt-nodeleg
  [ "$status" -ne 0 ]
  [[ "$output" == *"the memory controller is not delegated to /sys/fs/cgroup/bt-nodeleg/c1"* ]]
  [ -z "$(R list -q)" ]
}

@test "OOM kill: exit code 137 and OOMKilled in inspect; the oom event; under the systemd driver and cgroupfs" {
  needs_systemd_v2
  export EROOT=$T/engine
  for mgr in systemd cgroupfs; do
    run env BERTH_CGROUP_MANAGER=$mgr "$BERTH" --root "$EROOT" run --name "oom-$mgr" --memory 16m --memory-swap 16m busybox \
      sh -c 'exec dd if=/dev/zero of=/dev/null bs=64M count=1'
    [ "$status" -eq 137 ]
    [ "$("$BERTH" --root "$EROOT" inspect -f '{{.State.OOMKilled}} {{.State.ExitCode}}' "oom-$mgr")" = "true 137" ]
    "$BERTH" --root "$EROOT" events --since 0 --until 0s --filter container="oom-$mgr" --filter event=oom | grep -q oom
  done
  # A plain exit is not an OOM kill.
  "$BERTH" --root "$EROOT" run --name fine --memory 16m busybox true
  [ "$("$BERTH" --root "$EROOT" inspect -f '{{.State.OOMKilled}}' fine)" = false ]
}

@test "engine: on a systemd host containers live in berth.slice as berth-ID.scope, gone with rm; info says systemd" {
  needs_systemd_v2
  export EROOT=$T/engine
  [[ "$("$BERTH" --root "$EROOT" info)" == *"Cgroup Driver: systemd"* ]]
  id=$("$BERTH" --root "$EROOT" run -d --memory 64m --pids-limit 30 busybox sleep 1000)
  [ "$(systemctl is-active "berth-$id.scope")" = active ]
  [ "$(systemctl show -P MemoryMax "berth-$id.scope")" = 67108864 ]
  [ "$(cat "/sys/fs/cgroup/berth.slice/berth-$id.scope/pids.max")" = 30 ]
  [ "$("$BERTH" --root "$EROOT" inspect -f '{{.CgroupManager}}' "$id")" = systemd ]
  "$BERTH" --root "$EROOT" update --memory 96m "$id"
  [ "$(systemctl show -P MemoryMax "berth-$id.scope")" = 100663296 ]
  "$BERTH" --root "$EROOT" rm -f "$id"
  ! systemctl is-active "berth-$id.scope"
  [ ! -e "/sys/fs/cgroup/berth.slice/berth-$id.scope" ]
  # cgroupfs by choice; systemd where it is not PID 1 is refused elsewhere.
  id=$(BERTH_CGROUP_MANAGER=cgroupfs "$BERTH" --root "$EROOT" run -d busybox sleep 1000)
  [ -d "/sys/fs/cgroup/berth/$id" ]
  "$BERTH" --root "$EROOT" rm -f "$id"
  run env BERTH_CGROUP_MANAGER=bogus "$BERTH" --root "$EROOT" run --rm busybox true
  [ "$status" -ne 0 ]
  [[ "$output" == *'"bogus" is neither systemd nor cgroupfs'* ]]
}

@test "docker with native.cgroupdriver=systemd runs berth-runtime: run, exec, kill, update, rm" {
  needs_systemd_v2
  command -v dockerd >/dev/null || skip "dockerd (docker.io) is not installed"
  export DT
  DT=$(mktemp -d /tmp/berth-docker.XXXXXX)
  cat > "$DT/daemon.json" <<EOF
{"runtimes": {"berth": {"path": "$BERTH_RUNTIME"}}, "default-runtime": "berth", "exec-opts": ["native.cgroupdriver=systemd"]}
EOF
  dockerd_start "$DT" "$DT/daemon.json"
  dk() { docker -H "unix://$DT/sock" "$@"; }
  [ "$(dk info -f '{{.CgroupDriver}}')" = systemd ]
  "$BERTH" --root "$DT/berth" save --format docker -o "$DT/busybox.tar" busybox
  dk load -q -i "$DT/busybox.tar"
  run dk run --rm busybox sh -c 'echo hi; exit 3'
  echo "$output"
  [ "$status" -eq 3 ]
  [ "$output" = hi ]
  # Docker gives the container its AppArmor profile; berth-runtime applies it.
  [ "$(dk run --rm busybox cat /proc/self/attr/current)" = "docker-default (enforce)" ]
  id=$(dk run -d --memory 64m busybox sleep 1000)
  [ "$(systemctl is-active "docker-$id.scope")" = active ]
  [ "$(cat "/sys/fs/cgroup/system.slice/docker-$id.scope/memory.max")" = 67108864 ]
  [ "$(dk exec "$id" sh -c 'echo in; exit 5'; echo $?)" = "in
5" ]
  dk update --memory 96m --memory-swap 96m "$id"
  [ "$(cat "/sys/fs/cgroup/system.slice/docker-$id.scope/memory.max")" = 100663296 ]
  dk kill "$id"
  [ "$(dk wait "$id")" = 137 ]
  [ "$(dk inspect -f '{{.State.Status}}' "$id")" = exited ]
  dk rm "$id"
  ! systemctl is-active "docker-$id.scope"
}

@test "containerd with SystemdCgroup = true runs berth-runtime: run, exec, kill, rm" {
  needs_systemd_v2
  command -v containerd >/dev/null || skip "containerd is not installed"
  export CT
  CT=$(mktemp -d /tmp/berth-containerd.XXXXXX)
  containerd_start "$CT" "[plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.runc.options]
  SystemdCgroup = true
  BinaryName = \"$BERTH_RUNTIME\""
  c() { ctr -a "$CT/sock" "$@"; }
  IMG=docker.io/library/busybox:latest
  # ctr gives no cgroup namespace: the container sees the scope's path.
  run c run --rm --runc-binary "$BERTH_RUNTIME" --runc-systemd-cgroup --cgroup "system.slice:bt:s1" "$IMG" s1 sh -c 'cat /proc/self/cgroup; exit 3'
  [ "$status" -eq 3 ]
  [ "$output" = "0::/system.slice/bt-s1.scope" ]
  c run -d --runc-binary "$BERTH_RUNTIME" --runc-systemd-cgroup --cgroup "system.slice:bt:s2" "$IMG" s2 sleep 1000
  [ "$(systemctl is-active bt-s2.scope)" = active ]
  run c task exec --exec-id e1 s2 sh -c 'echo in; exit 4'
  [ "$status" -eq 4 ]
  [ "$output" = in ]
  c task kill -s KILL s2
  for i in $(seq 50); do [ "$(c task ls | awk '$1 == "s2" {print $3}')" = STOPPED ] && break; sleep 0.1; done
  c task rm s2
  c container rm s2
  ! systemctl is-active bt-s2.scope
}
