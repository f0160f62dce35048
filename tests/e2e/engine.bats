#!/usr/bin/env bats
# The engine: docker-style containers from images, in process isolation.

load helpers
bats_require_minimum_version 1.5.0

BERTH=${BERTH:-$TOP/build/berth}
B() { "$BERTH" --root "$T/store" "$@"; }

teardown_engine() {
  local id root
  # $T/small: a root of a test's own (a small file system).
  for root in "$T/store" "$T/small"; do
    [ -d "$root/containers" ] || continue
    for id in $(BERTH_ROOT="$root" "$BERTH" ps -aq --no-trunc 2>/dev/null); do
      BERTH_ROOT="$root" "$BERTH" rm -f "$id" >/dev/null 2>&1 || true
    done
  done
}

teardown() {
  teardown_engine
  grep -o " $T[^ ]*" /proc/self/mountinfo | sort -r | while read -r m; do umount -l "$m" 2>/dev/null || true; done
  rm -rf "$T"
}

@test "run: output, exit codes as docker's, --rm leaves nothing" {
  run B run --rm busybox sh -c 'echo hello; echo oops >&2; exit 3'
  [ "$status" -eq 3 ]
  [[ "$output" == *hello* ]]
  [[ "$output" == *oops* ]]
  [ -z "$(B ps -aq)" ]
  [ -z "$(ls -A "$T/store/containers")" ]
  [ -z "$(ls -A "$T/store/runtime")" ]
  ! grep -q "$T/store" /proc/self/mountinfo
  run -127 B run --rm busybox /no/such/command
  run -126 B run --rm busybox /etc/passwd
  run B run --rm --memory nonsense busybox true
  [ "$status" -eq 125 ]
  # Not pulled (--pull never): no registry is reachable here.
  run B run --rm --pull never nosuchimage true
  [ "$status" -eq 125 ]
  [[ "$output" == *"no such image"* ]]
}

@test "the image config becomes the process: Cmd, Env, WorkingDir, User, hostname" {
  run B run --rm -e FOO=bar -w /etc -u nobody -h myhost busybox sh -c 'echo $FOO $(pwd) $(id -u) $(hostname) $(cat /etc/hostname); echo $PATH'
  [ "${lines[0]}" = "bar /etc 65534 myhost myhost" ]
  [ "${lines[1]}" = /usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin ]
  # the image's Cmd (sh) when none is given, reading stdin
  run sh -c "echo 'echo from-stdin' | '$BERTH' --root '$T/store' run --rm -i busybox"
  [ "$output" = from-stdin ]
  run B run --rm --entrypoint /bin/echo busybox a b
  [ "$output" = "a b" ]
}

@test "docker's defaults: capabilities, seccomp, masked paths, read-only root" {
  run B run --rm busybox sh -c 'grep -E "^Cap(Bnd|Eff)" /proc/self/status; grep Seccomp: /proc/self/status'
  [[ "$output" == *"CapBnd:	00000000a80425fb"* ]]
  [[ "$output" == *"Seccomp:	2"* ]]
  run B run --rm busybox unshare -n true
  [ "$status" -ne 0 ]
  run B run --rm --cap-drop ALL --cap-add NET_RAW busybox grep CapBnd /proc/self/status
  [[ "$output" == *"0000000000002000"* ]]
  run B run --rm --read-only busybox touch /x
  [ "$status" -ne 0 ]
  run B run --rm --security-opt seccomp=unconfined busybox grep Seccomp: /proc/self/status
  [[ "$output" == *"Seccomp:	0"* ]]
}

@test "limits land in the container's cgroup" {
  # v1's files or v2's, whichever the host has.
  run B run --rm --memory 32m --pids-limit 20 --cpus 0.5 busybox sh -c 'cd /sys/fs/cgroup
    if [ -e cgroup.controllers ]; then cat memory.max pids.max; cut -d" " -f1 cpu.max
    else cat memory/memory.limit_in_bytes pids/pids.max cpu/cpu.cfs_quota_us; fi'
  [ "${lines[0]}" = 33554432 ]
  [ "${lines[1]}" = 20 ]
  [ "${lines[2]}" = 50000 ]
}

@test "an OOM kill: exit code 137, OOMKilled in inspect, an oom event; a plain exit is none" {
  # Three times: under systemd the scope's cgroup, and its count, may go
  # before the monitor reads it (the parent's count and systemd's result
  # tell then).
  for i in 1 2 3; do
    run B run --name oom$i --memory 16m --memory-swap 16m busybox sh -c 'exec dd if=/dev/zero of=/dev/null bs=64M count=1'
    [ "$status" -eq 137 ]
    [ "$(B inspect -f '{{.State.OOMKilled}} {{.State.ExitCode}}' oom$i)" = "true 137" ]
  done
  [ "$(B events --since 0 --until 0s --filter container=oom1 --filter event=oom --format '{{.Action}}')" = oom ]
  B rm oom1 oom2 oom3
  # systemd keeps an OOM-killed scope as failed until it is reset: rm does.
  if [ "$(ps -o comm= -p 1)" = systemd ]; then
    [ -z "$(systemctl list-units --all --no-legend 'berth-*.scope')" ]
  fi
  B run --name fine --memory 16m busybox true
  [ "$(B inspect -f '{{.State.OOMKilled}}' fine)" = false ]
}

@test "-d, ps, logs, exec, inspect, stop, rm: the host sees the container's process" {
  id=$(B run -d --name ticker busybox sh -c 'trap "echo bye; exit 0" TERM; i=0; while :; do echo tick $i; i=$((i+1)); sleep 0.1; done')
  [ ${#id} -eq 64 ]
  sleep 0.5
  run B ps
  [[ "$output" == *ticker* ]]
  [[ "$output" == *"Up "* ]]
  pid=$(B inspect ticker | jq -r '.[0].State.Pid')
  # a host process, with the PID berth reports
  [ "$(tr '\0' ' ' < /proc/$pid/cmdline)" = "sh -c trap \"echo bye; exit 0\" TERM; i=0; while :; do echo tick \$i; i=\$((i+1)); sleep 0.1; done " ]
  run B logs --tail 1 ticker
  [[ "$output" == "tick "* ]]
  run B exec ticker sh -c 'echo $$ $(hostname)'
  [ "$output" = "${lines[0]}" ]
  [[ "$output" == *" ${id:0:12}" ]]
  run B exec ticker sh -c 'exit 9'
  [ "$status" -eq 9 ]
  run B rm ticker
  [ "$status" -ne 0 ]
  [[ "$output" == *"stop it first"* ]]
  B stop ticker
  [ "$(B inspect ticker | jq -r '.[0].State.ExitCode')" = 0 ]
  run B logs ticker
  [[ "$output" == *bye* ]]
  grep -q '"stream":"stdout"' "$T/store/containers/$id/container.log"
  [ "$(B wait ticker)" = 0 ]
  B rm ticker
  [ -z "$(B ps -aq)" ]
  [ ! -e "$T/store/holds/$id" ]
}

@test "kill -9 of the monitor or the container: ps tells the truth, rm leaves nothing" {
  id=$(B run -d busybox sleep 1000)
  mon=$(B inspect "$id" | jq -r '.[0].MonitorPid')
  kill -9 "$mon"
  sleep 0.2
  # the container outlives its monitor
  [ "$(B inspect "$id" | jq -r '.[0].State.Status')" = running ]
  pid=$(B inspect "$id" | jq -r '.[0].State.Pid')
  kill -9 "$pid"
  for i in $(seq 50); do [ "$(B inspect "$id" | jq -r '.[0].State.Status')" = exited ] && break; sleep 0.1; done
  [ "$(B inspect "$id" | jq -r '.[0].State.Status')" = exited ]
  B rm "$id"
  [ -z "$(ls -A "$T/store/runtime")" ]
  ! grep -q "$T/store" /proc/self/mountinfo
  id=$(B run -d busybox sleep 1000)
  kill -9 "$(B inspect "$id" | jq -r '.[0].State.Pid')"
  [ "$(B wait "$id")" = 137 ]
  B rm "$id"
}

@test "--isolation: process by default, then the host config file, then BERTH_ISOLATION; bad values named" {
  run B run --rm --isolation=process busybox true
  [ "$status" -eq 0 ]
  id=$(B create busybox true)
  [ "$(B inspect "$id" | jq -r '.[0].Isolation')" = process ]
  # create makes no VM: these only record the mode (vm.bats runs them).
  id=$(BERTH_ISOLATION=vm B create busybox true)
  [ "$(B inspect "$id" | jq -r '.[0].Isolation')" = vm ]
  [[ "$(B ps -a)" == *" vm "* ]]
  echo '{"isolation": "process"}' > "$T/berth.json"
  id=$(BERTH_CONFIG=$T/berth.json BERTH_ISOLATION=vm B create busybox true)
  [ "$(B inspect "$id" | jq -r '.[0].Isolation')" = process ]
  id=$(B create --isolation=hyperv busybox true)
  [ "$(B inspect "$id" | jq -r '.[0].Isolation')" = vm ]
  run B run --rm --isolation=bogus busybox true
  [ "$status" -eq 125 ]
  [[ "$output" == *"bogus"* ]]
}

@test "a bind-mounted host path, read-only where asked" {
  mkdir -p "$T/data" && echo shared > "$T/data/f"
  # stdout alone: the shell's complaint comes on stderr, a stream of its
  # own that may reach the shared pipe in the middle of a stdout line.
  out=$(B run --rm -v "$T/data:/data:ro" busybox sh -c 'cat /data/f; echo x > /data/g || echo ro' 2>"$T/err")
  echo "stdout: $out; stderr: $(cat "$T/err")" # shown when the test fails
  [ "$out" = "$(printf 'shared\nro')" ]
  grep -q "Read-only file system" "$T/err"
  B run --rm -v "$T/data:/data" busybox sh -c 'echo written > /data/g'
  [ "$(cat "$T/data/g")" = written ]
}

@test "rmi refuses nothing a container holds until it is removed" {
  id=$(B create busybox true)
  B rmi busybox
  # the layers stay for the container
  [ -n "$(ls -A "$T/store/layers/sha256")" ]
  B rm "$id"
  B image prune -f >/dev/null
  [ -z "$(ls -A "$T/store/layers/sha256")" ]
}

@test "top shows the host PIDs, stats the cgroup, restart starts again, info tells the isolation" {
  id=$(B run -d --name svc --memory 64m busybox sleep 1000)
  pid=$(B inspect svc | jq -r '.[0].State.Pid')
  run B top svc
  [ "$status" -eq 0 ]
  [[ "${lines[0]}" == *PID* ]]
  echo "$output" | awk 'NR > 1 {print $2}' | grep -qx "$pid"
  # the same process, seen by the host
  pgrep -x sleep | grep -qx "$pid"
  run B stats --no-stream --format json svc
  [ "$(echo "$output" | jq '.[0].memory_limit')" = 67108864 ]
  [ "$(echo "$output" | jq '.[0].pids')" -ge 1 ]
  B restart svc
  [ "$(B inspect svc | jq -r '.[0].State.Status')" = running ]
  [ "$(B inspect svc | jq -r '.[0].State.Pid')" != "$pid" ]
  run B info
  [[ "$output" == *"Default Isolation: process"* ]]
  [[ "$output" == *"VM Accelerator: "* ]]
  B rm -f svc
}

@test "sharing IPC or PID namespaces is refused with the reason" {
  run B run --rm --ipc host busybox true
  [ "$status" -eq 125 ]
  [[ "$output" == *"does not share IPC namespaces"* ]]
  run B run --rm --ipc shareable busybox true
  [ "$status" -eq 125 ]
  run B run --rm --pid host busybox true
  [ "$status" -eq 125 ]
  [[ "$output" == *"PID namespaces"* ]]
  run B run --rm --pid container:x busybox true
  [ "$status" -eq 125 ]
  [ -z "$(B ps -aq)" ]
}

@test "load: 50 containers started with -d at once, then all removed; 200 run --rm in a row" {
  # A fifth of it on check-hosts' test host, a TCG guest on the same cores.
  local par=50 seq=200
  [ -z "${BERTH_TEST_HOST:-}" ] || { par=10; seq=40; }
  for i in $(seq $par); do B run -d busybox sleep 1000 > "$T/id.$i" & done
  wait
  [ "$(B ps -q | wc -l)" -eq $par ]
  ids=$(cat "$T"/id.*)
  B rm -f $(B ps -aq) >/dev/null
  [ -z "$(B ps -aq)" ]
  [ -z "$(ls -A "$T/store/runtime")" ]
  ! grep -q "$T/store" /proc/self/mountinfo
  # none of their cgroups is left behind
  for id in $ids; do
    [ ! -e "$(cgroup_dir memory "$id")" ] && [ ! -e "$(cgroup_dir pids "$id")" ] && [ ! -e "/sys/fs/cgroup/berth.slice/berth-$id.scope" ]
  done
  for i in $(seq $seq); do B run --rm busybox true || { echo "run $i failed"; false; }; done
  [ -z "$(B ps -aq)" ]
  [ -z "$(ls -A "$T/store/containers")" ]
  [ -z "$(ls -A "$T/store/holds")" ]
}

@test "attach sees the output and feeds stdin; ctrl-p ctrl-q detaches and the container lives on" {
  id=$(B run -d -i --name cat busybox sh -c 'while read l; do echo "got $l"; done')
  run sh -c "printf 'one\n' | timeout 2 '$BERTH' --root '$T/store' attach cat"
  [[ "$output" == *"got one"* ]]
  run sh -c "printf 'two\n\020\021' | '$BERTH' --root '$T/store' attach cat"
  [ "$status" -eq 0 ]
  [[ "$output" == *"read escape sequence"* ]]
  [ "$(B inspect cat | jq -r '.[0].State.Status')" = running ]
  for i in $(seq 20); do B logs cat | grep -q "got two" && break; sleep 0.1; done
  B logs cat | grep -q "got two"
  B rm -f cat
}

@test "named volumes: seeded from the image, kept across containers, refused while in use; --mount; rm -v" {
  B volume create data
  run B run --rm -v data:/etc busybox sh -c 'cat /etc/passwd | head -1; echo kept > /etc/mine; cat /etc/hostname'
  [ "${lines[0]}" = "root:x:0:0:root:/root:/bin/sh" ]
  [ "$(cat "$T/store/volumes/data/_data/mine")" = kept ]
  # the per-container /etc/hostname stays mounted over the volume
  [[ "${lines[1]}" =~ ^[0-9a-f]{12}$ ]]
  run B run --rm --mount type=volume,source=data,target=/d,readonly busybox sh -c 'cat /d/mine; touch /d/x 2>/dev/null || echo ro'
  [ "${lines[0]}" = kept ]
  [ "${lines[1]}" = ro ]
  id=$(B create -v data:/d -v /anon busybox true)
  run B volume rm data
  [ "$status" -ne 0 ]
  [[ "$output" == *"in use by container ${id:0:12}"* ]]
  [ "$(B volume ls -q | wc -l)" -eq 2 ]
  B rm -v "$id"
  [ "$(B volume ls -q)" = data ]
  B volume rm data
  [ -z "$(B volume ls -q)" ]
  run B run --rm --mount type=bind,source=relative,target=/x busybox true
  [ "$status" -eq 125 ]
  # What --mount cannot honour is refused, named; nothing is made.
  run -125 B run --rm --mount type=bind,source=/tmp,target=/x,bind-propagation=shared busybox true
  [[ "$output" == *'--mount: unknown field or value "bind-propagation"'* ]]
  run -125 B run --rm --mount type=bind,source=/tmp,target=/x,readonly=maybe busybox true
  [[ "$output" == *'"readonly"'* ]]
  run -125 B run --rm --mount type=bind,source=/a:b,target=/x busybox true
  [[ "$output" == *"a source or target with ':' is not supported"* ]]
  run -125 B run --rm --mount type=volume,source=/tmp,target=/x busybox true
  [[ "$output" == *"source= is a volume name"* ]]
  run -125 B run --rm --mount type=tmpfs,source=x,target=/x busybox true
  [[ "$output" == *"takes no source="* ]]
  [ -z "$(B ps -aq)" ]
  B run --rm --mount type=tmpfs,target=/scratch busybox sh -c 'grep -q " /scratch tmpfs" /proc/mounts'
  B run --rm -v /anon2 busybox true
  [ -z "$(B volume ls -q)" ]
}

@test "run -it: a real terminal in the container, and its exit code" {
  command -v script >/dev/null || skip "script is not installed"
  run sh -c "(sleep 1; printf 'echo hi-from-tty; tty\n'; sleep 1; printf 'exit 4\n') | \
    script -qec \"BERTH_ROOT=$T/store $BERTH run --rm -it busybox sh\" '$T/typescript' >/dev/null"
  [ "$status" -eq 4 ]
  grep -q "hi-from-tty" "$T/typescript"
  grep -q "/dev/pts/0" "$T/typescript"
  [ -z "$(B ps -aq)" ]
}

@test "the json-file log rotates by size and logs still reads it" {
  BERTH_LOG_MAX_SIZE=4096 B run --name chatty busybox sh -c 'for i in $(seq 400); do echo "line $i padding padding padding"; done' >/dev/null
  id=$(B inspect chatty | jq -r '.[0].Id')
  [ -s "$T/store/containers/$id/container.log.1" ]
  [ "$(stat -c %s "$T/store/containers/$id/container.log")" -le 4096 ]
  B logs --tail 1 chatty | grep -q "line 400 "
  head -1 "$T/store/containers/$id/container.log" | jq -e '.stream == "stdout" and (.time | length > 0)' >/dev/null
  B rm chatty
}

@test "run -it: ctrl-p ctrl-q detaches and the container runs on" {
  command -v script >/dev/null || skip "script is not installed"
  run sh -c "(sleep 1; printf 'echo before-detach\n'; sleep 1; printf '\020\021'; sleep 1) | \
    script -qec \"BERTH_ROOT=$T/store $BERTH run -it --name keep busybox sh\" '$T/typescript' >/dev/null"
  [ "$status" -eq 0 ]
  grep -q before-detach "$T/typescript"
  [ "$(B inspect keep | jq -r '.[0].State.Status')" = running ]
  B rm -f keep
}

@test "run -it: the container's terminal takes the caller's size" {
  command -v script >/dev/null || skip "script is not installed"
  script -qec "stty cols 123 rows 45; BERTH_ROOT=$T/store $BERTH run --rm -it busybox stty size" "$T/typescript" >/dev/null
  typescript_lines "$T/typescript" | grep -qx "45 123"
}

@test "run -it: a change of the caller's terminal size reaches the container's pty" {
  command -v script >/dev/null || skip "script is not installed"
  [ "$(resize_sizes "$T")" = "$(printf '24 80\n51 101')" ]
}

@test "a signal to a foreground berth run reaches the container" {
  "$BERTH" --root "$T/store" run --name sig busybox sh -c 'trap "echo got-term; exit 42" TERM; while :; do sleep 0.1; done' > "$T/out" 2>&1 &
  cli=$!
  for i in $(seq 50); do [ "$(B inspect sig 2>/dev/null | jq -r '.[0].State.Status')" = running ] && break; sleep 0.1; done
  sleep 0.3
  kill -TERM $cli
  st=0
  wait $cli || st=$?
  [ "$st" -eq 42 ]
  grep -q got-term "$T/out"
  B rm sig
}

@test "--init: berth-init is PID 1, forwards signals to the command, reaps orphans, passes the exit code" {
  run B run --rm --init busybox sh -c 'cat /proc/1/cmdline | tr "\0" " "; exit 3'
  [ "$status" -eq 3 ]
  [[ "$output" == "/sbin/berth-init -- sh -c"* ]]
  # sleep as PID 1 ignores TERM; under berth-init it gets it and dies.
  B run -d --init --name i1 busybox sleep 1000
  t0=$(date +%s)
  B stop -t 20 i1
  [ $(( $(date +%s) - t0 )) -lt 10 ]
  [ "$(B inspect i1 | jq '.[0].State.ExitCode')" -eq 143 ]
  # An orphan's zombie is reaped by PID 1 (with sleep as PID 1 it stays).
  for init in "" --init; do
    B run -d $init --name z1 busybox sh -c '(sleep 0.1 &); exec sleep 1000'
    sleep 1
    zombies=$(B exec z1 ps -o stat | grep -c '^Z' || true)
    B rm -f z1
    [ "$init" = --init ] && [ "$zombies" -eq 0 ]
    [ "$init" = --init ] || [ "$zombies" -eq 1 ]
  done
}

@test "after a host reboot (monitor and container gone, /run wiped) ps shows the container exited, and rm works" {
  id=$(B run -d --name rb busybox sleep 1000)
  mon=$(B inspect rb | jq '.[0].MonitorPid')
  pid=$(B inspect rb | jq '.[0].State.Pid')
  # What a reboot does to berth's world: every process gone, the runtime's
  # state (on /run, a tmpfs) gone, the container's mount gone.
  kill -9 "$mon" "$pid"
  for i in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  rm -rf "$T/store/runtime/$id"
  umount -l "$T/store/containers/$id/rootfs" 2>/dev/null || true
  for d in /sys/fs/cgroup/*/berth/"$id" /sys/fs/cgroup/berth/"$id"; do [ -d "$d" ] && rmdir "$d"; done
  ! ls -d /sys/fs/cgroup/*/berth/"$id" 2>/dev/null
  run B ps -a
  [[ "$output" == *Exited*rb* ]]
  [ "$(B inspect rb | jq -r '.[0].State.Running')" = false ]
  B rm rb
  [ -z "$(B ps -aq)" ]
  ! grep -q "$T/store/containers" /proc/self/mountinfo
}

@test "no silent wrong answers: ps --format, volume ls --filter, logs --since, volume prune -a" {
  B run -d --name f1 --network none busybox sh -c 'echo early; sleep 1000'
  for i in $(seq 50); do [ "$(B logs f1)" = early ] && break; sleep 0.1; done
  # A Go template, with and without a table header; what cannot be
  # rendered is an error, never the default table.
  [ "$(B ps --format '{{.Names}}')" = f1 ]
  run B ps --format 'table {{.Names}}\t{{.State}}\t{{.Isolation}}'
  [ "${lines[0]}" = "$(printf 'NAMES\tSTATE\tISOLATION')" ]
  [ "${lines[1]}" = "$(printf 'f1\trunning\tprocess')" ]
  run -125 B ps --format '{{.Nope}}'
  [[ "$output" == *"no field \`Nope\`"* ]]
  run -125 B ps --format '{{range .Names}}{{.}}{{end}}'
  [[ "$output" == *"not supported"* ]]
  run -125 B ps --format xml
  # --since and --until compare times, not strings: durations, RFC 3339,
  # Unix times.
  [ "$(B logs --since 10m f1)" = early ]
  [ -z "$(B logs --since 2099-01-01T00:00:00Z f1)" ]
  [ "$(B logs --since "$(date -d '-1 hour' +%s)" f1)" = early ]
  [ -z "$(B logs --until 1h f1)" ]
  run -125 B logs --since yesterday f1
  [[ "$output" == *'"yesterday" is not a time'* ]]
  run -125 B logs --tail many f1
  # Volume filters: applied, or refused by name.
  B volume create keep1
  B volume create other2
  B run --rm --network none -v keep1:/k busybox true
  [ "$(B volume ls -q --filter name=keep)" = keep1 ]
  [ "$(B volume ls -q --filter name=keep --filter name=other | sort | tr '\n' ' ')" = "keep1 other2 " ]
  run -125 B volume ls -q --filter driver=local
  [[ "$output" == *'"driver" is not a filter of volume ls; there are name, label, dangling'* ]]
  [ "$(B volume ls --format '{{.Name}}' --filter name=other)" = other2 ]
  # prune keeps named volumes unless -a, in any order of options.
  B volume prune -f
  [ "$(B volume ls -q | sort | tr '\n' ' ')" = "keep1 other2 " ]
  B volume prune -f -a
  [ -z "$(B volume ls -q)" ]
  run -125 B volume prune --bogus
  B rm -f f1
}

@test "ps --filter (id, name, label, status, ancestor, exited, isolation), {{.Label}} and {{json .}}; images and network ls filter and format" {
  B run -d --name p1 -l team=a --network none busybox sleep 1000
  run -3 B run --name p2 -l team=b --network none busybox sh -c 'exit 3'
  B create --name p3 --network none busybox true
  [ "$(B ps --filter label=team=a --format '{{.Names}}')" = p1 ]
  # Without -a only running ones; a status filter looks at all, as docker.
  [ -z "$(B ps --filter name=p2 -q)" ]
  [ "$(B ps --filter status=exited --format '{{.Names}} {{.Label "team"}}')" = "p2 b" ]
  [ "$(B ps --filter status=created --format '{{.Names}}')" = p3 ]
  [ "$(B ps --filter exited=3 --format '{{.Names}}')" = p2 ]
  [ -z "$(B ps --filter exited=4 -q)" ]
  # One key twice: either; two keys: both.
  [ "$(B ps -a --filter name=p1 --filter name=p2 --format '{{.Names}}' | sort | tr '\n' ' ')" = "p1 p2 " ]
  [ -z "$(B ps -a --filter name=p1 --filter label=team=b -q)" ]
  id=$(B inspect -f '{{.Id}}' p1)
  [ "$(B ps --filter id="${id:0:8}" --format '{{.Names}}')" = p1 ]
  [ "$(B ps -a --filter ancestor=busybox --format '{{.Names}}' | sort | tr '\n' ' ')" = "p1 p2 p3 " ]
  [ "$(B ps -a --filter ancestor=busybox:latest -q | wc -l)" = 3 ]
  iid=$(B inspect -f '{{.ImageID}}' p1)
  [ "$(B ps -a --filter ancestor="${iid:7:12}" -q | wc -l)" = 3 ]
  [ -z "$(B ps -a --filter ancestor=alpine -q)" ]
  [ "$(B ps -a --filter isolation=process -q | wc -l)" = 3 ]
  [ -z "$(B ps -a --filter isolation=vm -q)" ]
  [ "$(B ps --filter name=p1 --format '{{json .}}' | jq -r '.Names + " " + .State + " " + .Labels')" = "p1 running team=a" ]
  # Refused by name: a key, a status, an isolation, an exit code, an operand.
  run -125 B ps --filter colour=red
  [[ "$output" == *'"colour" is not a filter of ps; there are id, name, label, status, ancestor, exited, isolation'* ]]
  run -125 B ps --filter status=exitd
  [[ "$output" == *'status "exitd" is none of'* ]]
  run -125 B ps --filter isolation=kvm
  run -125 B ps --filter exited=x
  run -125 B ps --filter nokv
  run -125 B ps p1
  # images: a positional REPOSITORY[:TAG], reference globs, templates.
  [ "$(B images busybox --format '{{.Repository}}:{{.Tag}}')" = busybox:latest ]
  [ "$(B images --filter 'reference=busy*' --format '{{.Repository}}')" = busybox ]
  [ "$(B images --filter 'reference=busybox:latest' -q | wc -l)" = 1 ]
  [ -z "$(B images alpine -q)" ]
  [ -z "$(B images --filter dangling=true -q)" ]
  [ "$(B images --format '{{json .}}' busybox | jq -r .Tag)" = latest ]
  run -125 B images --filter label=x
  [[ "$output" == *'"label" is not a filter of images'* ]]
  run -125 B images --format '{{.Nope}}'
  run -125 B images a b
  # network ls: filters and templates, host and none included.
  B network create -l env=t pn1
  [ "$(B network ls --filter name=pn --format '{{.Name}} {{.Label "env"}} {{.Driver}}')" = "pn1 t bridge" ]
  [ "$(B network ls --filter type=custom -q | wc -l)" = 1 ]
  [ "$(B network ls --filter type=builtin --format '{{.Name}}' | sort | tr '\n' ' ')" = "bridge host none " ]
  [ "$(B network ls --filter driver=null --format '{{.Name}}')" = none ]
  [ "$(B network ls --filter label=env=t --format '{{json .}}' | jq -r .Name)" = pn1 ]
  run -125 B network ls --filter nme=x
  run -125 B network ls --format '{{.X}}'
  run -125 B network ls extra
  B network rm pn1
  B rm -f p1 p2 p3
}

@test "run flags people paste: --dns*, --add-host host-gateway and IPv6, --group-add, --shm-size, --log-opt" {
  run B run --rm --network none --dns 1.2.3.4 --dns 2001:db8::1 --dns-search example.com --dns-search corp.example \
    --dns-option ndots:2 --dns-option edns0 busybox cat /etc/resolv.conf
  [ "$status" -eq 0 ]
  [ "${lines[0]}" = "search example.com corp.example" ]
  [ "${lines[1]}" = "nameserver 1.2.3.4" ]
  [ "${lines[2]}" = "nameserver 2001:db8::1" ]
  [ "${lines[3]}" = "options ndots:2 edns0" ]
  # On a user network berth's name server stays first, so names of
  # containers still resolve; --dns-search . means none.
  B network create dnsnet
  gw=$(B network inspect -f '{{.Gateway}}' dnsnet)
  run B run --rm --network dnsnet --dns 9.9.9.9 --dns-search . busybox cat /etc/resolv.conf
  [ "$output" = "$(printf 'nameserver %s\nnameserver 9.9.9.9\noptions ndots:0' "$gw")" ]
  # host-gateway is the container's gateway to the host, reachable.
  [ "$(B run --rm --network dnsnet --add-host gw:host-gateway busybox grep -w gw /etc/hosts)" = "$(printf '%s\tgw' "$gw")" ]
  run B run --rm --network dnsnet --add-host gw:host-gateway busybox ping -c1 -W5 gw
  [ "$status" -eq 0 ]
  B network rm dnsnet
  run B run --rm --network none --add-host v6:2001:db8::5 --add-host "b:[::1]" --add-host e=10.1.1.1 busybox tail -3 /etc/hosts
  [ "$output" = "$(printf '2001:db8::5\tv6\n::1\tb\n10.1.1.1\te')" ]
  [ "$(B run --rm --network host --add-host gw:host-gateway busybox tail -1 /etc/hosts)" = "$(printf '127.0.0.1\tgw')" ]
  run -125 B run --rm --network none --add-host gw:host-gateway busybox true
  [[ "$output" == *"host-gateway: network none has no gateway"* ]]
  run -125 B run --rm --add-host gw:nowhere busybox true
  run -125 B run --rm --dns bad busybox true
  [[ "$output" == *'--dns: "bad" is not an IP address'* ]]
  run -125 B run --rm --dns-option 'a b' busybox true
  B run -d --name pod0 busybox sleep 1000
  run -125 B run --rm --network container:pod0 --dns 1.1.1.1 busybox true
  [[ "$output" == *"cannot be used with --network container:X"* ]]
  B rm -f pod0
  # --group-add: names from the image's /etc/group, ids as they are.
  [ "$(B run --rm --network none --group-add tty --group-add 4242 busybox id)" = "uid=0(root) gid=0(root) groups=5(tty),4242" ]
  [ "$(B run --rm --network none -u nobody --group-add daemon busybox id -G)" = "65534 1" ]
  run -125 B run --rm --network none --group-add nosuch busybox true
  [[ "$output" == *"unable to find group nosuch"* ]]
  # --shm-size sizes /dev/shm.
  [ "$(B run --rm --network none --shm-size 96m busybox df -k /dev/shm | awk 'NR==2 {print $2}')" = 98304 ]
  [ "$(B run --rm --network none busybox df -k /dev/shm | awk 'NR==2 {print $2}')" = 65536 ]
  run -125 B run --rm --shm-size lots busybox true
  # --log-opt: rotation past max-size, max-file files kept, logs reads
  # them in order, and -f follows across a rotation.
  B run -d --name lg --network none --log-opt max-size=4k --log-opt max-file=3 busybox \
    sh -c 'sleep 1; for b in $(seq 10); do for i in $(seq 30); do echo "line $(( (b-1)*30 + i ))"; done; sleep 0.3; done'
  B logs -f lg > "$T/follow"
  dir=$T/store/containers/$(B inspect -f '{{.Id}}' lg)
  [ -e "$dir/container.log.1" ] && [ -e "$dir/container.log.2" ] && [ ! -e "$dir/container.log.3" ]
  [ "$(wc -l < "$T/follow")" = 300 ]
  [ "$(awk '{print $2}' "$T/follow" | awk '$1 != NR' | wc -l)" = 0 ]
  B logs lg > "$T/all"
  last=$(tail -1 "$T/all")
  [ "$last" = "line 300" ]
  [ "$(awk '{print $2}' "$T/all" | awk 'NR > 1 && $1 != p + 1 {bad++} {p = $1} END {print bad + 0}')" = 0 ]
  [ "$(wc -l < "$T/all")" -lt 300 ] # the oldest went with max-file
  [ "$(B logs --tail 2 lg | tr '\n' ' ')" = "line 299 line 300 " ]
  [ "$(B inspect -f '{{json .HostConfig.LogConfig}}' lg)" = '{"Type":"json-file","Config":{"max-size":"4k","max-file":"3"}}' ]
  B rm lg
  run -125 B run --rm --log-opt max-size=1 busybox true
  run -125 B run --rm --log-opt mode=non-blocking busybox true
  [[ "$output" == *'"mode" is not supported'* ]]
  run -125 B run --rm --log-driver syslog busybox true
  [[ "$output" == *'"syslog" is not supported'* ]]
}

@test "pause and unpause freeze a container; ps shows it; exec is refused; stop and kill still end it" {
  B run -d --name pz --network none busybox sh -c 'trap "exit 7" TERM; while true; do echo tick; sleep 0.1; done'
  for i in $(seq 50); do [ -n "$(B logs pz)" ] && break; sleep 0.1; done
  B pause pz
  [ "$(B ps --filter status=paused --format '{{.Names}} {{.State}}')" = "pz paused" ]
  [[ "$(B ps --format '{{.Status}}' --filter name=pz)" == *"(Paused)" ]]
  [ -z "$(B ps --filter status=running -q)" ]
  [ "$(B inspect -f '{{.State.Paused}}' pz)" = true ]
  # Frozen: no output while paused.
  n=$(B logs pz | wc -l)
  sleep 0.5
  [ "$(B logs pz | wc -l)" = "$n" ]
  run -125 B exec pz true
  [[ "$output" == *"it is paused"* ]]
  run B pause pz
  [ "$status" -ne 0 ]
  [[ "$output" == *"already paused"* ]]
  B unpause pz
  [ "$(B inspect -f '{{.State.Paused}}' pz)" = false ]
  for i in $(seq 50); do [ "$(B logs pz | wc -l)" -gt "$n" ] && break; sleep 0.1; done
  [ "$(B logs pz | wc -l)" -gt "$n" ]
  run B unpause pz
  [[ "$output" == *"is not paused"* ]]
  # stop reaches a paused container: it is resumed, and its trap runs.
  B pause pz
  B stop pz
  [ "$(B inspect -f '{{.State.ExitCode}} {{.State.Paused}}' pz)" = "7 false" ]
  run B pause pz
  [[ "$output" == *"is not running"* ]]
  B rm pz
  run -125 B pause --bogus pz
}

@test "update changes a running container's limits live and for its next start; bad flags are refused" {
  B run -d --name up --network none -m 64m busybox sleep 1000
  B update -m 128m --memory-swap 256m --cpus 0.5 --cpu-shares 512 --pids-limit 50 up
  pid=$(B inspect -f '{{.State.Pid}}' up)
  if [ -e /sys/fs/cgroup/cgroup.controllers ]; then
    cg=/sys/fs/cgroup$(sed -n 's/^0:://p' /proc/$pid/cgroup)
    [ "$(cat $cg/memory.max)" = 134217728 ]
    [ "$(cat $cg/pids.max)" = 50 ]
    [ "$(cat $cg/cpu.max)" = "50000 100000" ]
  else
    [ "$(cat /sys/fs/cgroup/memory$(awk -F: '$2 ~ /memory/ {print $3}' /proc/$pid/cgroup)/memory.limit_in_bytes)" = 134217728 ]
    [ "$(cat /sys/fs/cgroup/pids$(awk -F: '$2 ~ /pids/ {print $3}' /proc/$pid/cgroup)/pids.max)" = 50 ]
    [ "$(cat /sys/fs/cgroup/cpu$(awk -F: '$2 ~ /(^|,)cpu(,|$)/ {print $3}' /proc/$pid/cgroup)/cpu.cfs_quota_us)" = 50000 ]
  fi
  [ "$(B inspect -f '{{.HostConfig.Memory}} {{.HostConfig.NanoCpus}} {{.HostConfig.CpuShares}} {{.HostConfig.PidsLimit}}' up)" = "134217728 500000000 512 50" ]
  # Kept for the next start.
  B stop -t 0 up
  B start up
  pid=$(B inspect -f '{{.State.Pid}}' up)
  if [ -e /sys/fs/cgroup/cgroup.controllers ]; then
    [ "$(cat /sys/fs/cgroup$(sed -n 's/^0:://p' /proc/$pid/cgroup)/memory.max)" = 134217728 ]
  else
    [ "$(cat /sys/fs/cgroup/memory$(awk -F: '$2 ~ /memory/ {print $3}' /proc/$pid/cgroup)/memory.limit_in_bytes)" = 134217728 ]
  fi
  run -125 B update --blkio-weight 10 up
  run -125 B update up
  [[ "$output" == *"at least one limit"* ]]
  run -125 B update -m lots up
  run -125 B update --restart sometimes up
  [[ "$output" == *'"sometimes" is not no, on-failure[:N], always or unless-stopped'* ]]
  run B update -m 32m nosuch
  [ "$status" -eq 1 ]
  [[ "$output" == *"no such container"* ]]
  B rm -f up
}

@test "events: the journal of what was done, filtered, formatted, and followed as it happens" {
  t0=$(date +%s)
  # A follower started first sees the events as they happen.
  timeout 60 "$BERTH" --root "$T/store" events --filter container=evf --format '{{.Action}}' > "$T/follow" &
  fpid=$!
  B run --rm --network none --name evf busybox true
  B run -d --name ev1 -l team=x --network none busybox sh -c 'trap "exit 3" TERM; sleep 1000 & wait'
  B pause ev1
  B unpause ev1
  B stop ev1
  B rename ev1 ev2
  B rm ev2
  B tag busybox evimg:1
  B rmi evimg:1
  run -1 B rmi evimg:1
  for i in $(seq 50); do [ "$(wc -l < "$T/follow")" -ge 4 ] && break; sleep 0.1; done
  kill $fpid
  [ "$(tr '\n' ' ' < "$T/follow")" = "create start die destroy " ]
  run B events --since "$t0" --until 0s --format '{{.Type}} {{.Action}} {{.Actor.Attributes.name}}'
  [ "$status" -eq 0 ]
  expected="container create evf
container start evf
container die evf
container destroy evf
container create ev1
container start ev1
container pause ev1
container unpause ev1
container kill ev1
container die ev1
container stop ev1
container rename ev2
container destroy ev2
image tag docker.io/library/evimg:1
image untag docker.io/library/evimg:1"
  echo "$output" # shown when the comparison fails
  [ "$output" = "$expected" ]
  # Attributes: the exit code, the signal, labels; filters combine.
  [ "$(B events --until 0s --filter container=ev1 --filter event=die --format '{{.Actor.Attributes.exitCode}}')" = 3 ]
  [ "$(B events --until 0s --filter event=kill --format '{{.Actor.Attributes.signal}}')" = 15 ]
  [ "$(B events --until 0s --filter label=team=x --filter event=create --format '{{.Actor.Attributes.name}}')" = ev1 ]
  [ "$(B events --until 0s --filter type=image --format '{{.Action}}' | tr '\n' ' ')" = "tag untag " ]
  [ "$(B events --until 0s --filter image=evimg:1 -f event=tag --format json | jq -r .Actor.Attributes.name)" = docker.io/library/evimg:1 ]
  [ "$(B events --until 0s --filter event=start --format '{{.Actor.Attributes.exitCode}}' | head -1)" = "<no value>" ]
  # The default line: time, type, action, id, attributes by name.
  line=$(B events --until 0s --filter event=die --filter container=ev1)
  [[ "$line" =~ ^20[0-9-]+T[0-9:.]+Z\ container\ die\ [0-9a-f]{64}\ \(exitCode=3,\ image=busybox,\ name=ev1,\ team=x\)$ ]]
  # --since in the future and --until in the past select nothing.
  [ -z "$(B events --since 2099-01-01T00:00:00Z --until 0s)" ]
  [ -z "$(B events --until "$((t0 - 10))")" ]
  run -125 B events --filter colour=red --until 0s
  [[ "$output" == *'"colour" is not a filter of events'* ]]
  run -125 B events --format '{{.Nope}}' --until 0s
  run -125 B events --since soon
  # Bounded: past the size the journal rotates once; old events go.
  BERTH_EVENTS_MAX_SIZE=2000 B run --rm --network none busybox true
  for i in 1 2 3 4 5; do BERTH_EVENTS_MAX_SIZE=2000 B run --rm --network none busybox true; done
  [ -e "$T/store/events.jsonl.1" ] && [ ! -e "$T/store/events.jsonl.2" ]
  [ "$(stat -c %s "$T/store/events.jsonl")" -le 2000 ]
  [ "$(B events --until 0s --filter event=destroy | wc -l)" -ge 2 ]
}

@test "system df, container prune, system prune [-a] [--volumes]: what is unused goes, what is used stays" {
  run B run --name dead --network none busybox sh -c 'dd if=/dev/zero of=/big bs=1k count=2048 2>/dev/null'
  B run -d --name live --network none -v used:/u busybox sleep 1000
  B create --name keep -l keep=1 --network none busybox true
  B volume create spare
  B run -d --name anon --network none -v /scratch busybox true
  B wait anon
  B network create unused
  B tag busybox spare-tag:1
  run B system df
  [ "$status" -eq 0 ]
  [[ "${lines[0]}" == "TYPE"*"TOTAL"*"ACTIVE"*"SIZE"*"RECLAIMABLE" ]]
  [[ "${lines[1]}" =~ ^Images\ +1\ +1\  ]]
  [[ "${lines[2]}" =~ ^Containers\ +4\ +1\ +[0-9.]+MB\ +[0-9.]+MB ]]
  [[ "${lines[3]}" =~ ^Local\ Volumes\ +3\ +2\  ]]
  run B system df -v
  [[ "$output" == *"dead"*"exited"* ]]
  # container prune: stopped and created ones, filtered by label.
  run B container prune -f --filter label=keep=1
  [[ "$output" == *"Deleted Containers:"* ]]
  [ "$(B ps -a --format '{{.Names}}' | sort | tr '\n' ' ')" = "anon dead live " ]
  run -125 B container prune --filter colour=red
  # system prune: stopped containers, unused networks; --volumes the
  # anonymous volume no container uses now; named volumes and images in use stay.
  run B system prune -f --volumes
  [ "$status" -eq 0 ]
  [[ "$output" == *"Deleted Networks:"*"unused"* ]]
  [[ "$output" == *"Total reclaimed space: "[0-9.]*MB* ]]
  [ "$(B ps -a --format '{{.Names}}')" = live ]
  [ "$(B volume ls -q | sort | tr '\n' ' ')" = "spare used " ]
  [ -z "$(B network ls --filter type=custom -q)" ]
  # -a: images no container uses lose their tags; a used one keeps all.
  B system prune -a -f
  [ "$(B images --format '{{.Repository}}:{{.Tag}}' | sort | tr '\n' ' ')" = "busybox:latest spare-tag:1 " ]
  B rm -f live
  run B system prune -a -f
  [[ "$output" == *"untagged: docker.io/library/busybox:latest"* ]]
  [ -z "$(B images -q)" ]
  [ -z "$(ls "$T/store/layers/sha256" 2>/dev/null)" ]
  run -125 B system prune --bogus
  run -125 B system df extra
}

@test "restart policies: on-failure:N, always with docker's back-off, stop ends it, start resumes it; update --restart" {
  # on-failure:2: two restarts, then it stays exited.
  B run -d --name rf --restart on-failure:2 --network none busybox sh -c 'exit 3'
  for i in $(seq 100); do [ "$(B inspect -f '{{.State.RestartCount}} {{.State.Status}}' rf)" = "2 exited" ] && break; sleep 0.1; done
  [ "$(B inspect -f '{{.State.RestartCount}} {{.State.Status}} {{.State.ExitCode}}' rf)" = "2 exited 3" ]
  [ "$(B inspect -f '{{json .HostConfig.RestartPolicy}}' rf)" = '{"Name":"on-failure","MaximumRetryCount":2}' ]
  sleep 0.5
  [ "$(B events --until 0s --filter container=rf --filter event=die --format '{{.Action}}' | wc -l)" = 3 ]
  # on-failure does not restart a success.
  B run -d --name rs --restart on-failure --network none busybox true
  sleep 1
  [ "$(B inspect -f '{{.State.RestartCount}} {{.State.Status}}' rs)" = "0 exited" ]
  # always: back-off of 100 ms doubling between short runs.
  B run -d --name ra --restart always --network none busybox true
  for i in $(seq 100); do
    [ "$(B events --until 0s --filter container=ra --filter event=start --format '{{.Action}}' | wc -l)" -ge 5 ] && break
    sleep 0.1
  done
  B events --until 0s --filter container=ra --filter event=start --format '{{.timeNano}}' | head -5 > "$T/starts"
  gaps=$(awk 'NR > 1 {printf "%d ", ($1 - p) / 1000000} {p = $1}' "$T/starts")
  # Each wait at least the back-off (100, 200, 400, 800 ms).
  read -r g1 g2 g3 g4 <<< "$gaps"
  [ "$g1" -ge 100 ] && [ "$g2" -ge 200 ] && [ "$g3" -ge 400 ] && [ "$g4" -ge 800 ]
  # stop ends the policy, whether it runs or waits to restart.
  B stop ra
  n=$(B inspect -f '{{.State.RestartCount}}' ra)
  sleep 2
  [ "$(B inspect -f '{{.State.RestartCount}} {{.State.Status}} {{.State.ManualStop}}' ra)" = "$n exited true" ]
  [[ "$(B ps -a --filter name=ra --format '{{.Status}}')" == Exited* ]]
  # start by hand resumes it.
  B start ra
  for i in $(seq 50); do [ "$(B inspect -f '{{.State.RestartCount}}' ra)" -gt "$n" ] && break; sleep 0.1; done
  [ "$(B inspect -f '{{.State.RestartCount}}' ra)" -gt "$n" ]
  # update --restart no: the next exit is the last.
  B update --restart no ra
  sleep 2
  n=$(B inspect -f '{{.State.RestartCount}}' ra)
  sleep 1
  [ "$(B inspect -f '{{.State.RestartCount}} {{.State.Status}}' ra)" = "$n exited" ]
  # A long-running always container restarts after a crash.
  B run -d --name rc --restart always --network none busybox sleep 1000
  pid=$(B inspect -f '{{.State.Pid}}' rc)
  kill -9 "$pid"
  for i in $(seq 100); do
    [ "$(B inspect -f '{{.State.RestartCount}} {{.State.Status}}' rc)" = "1 running" ] && break
    sleep 0.1
  done
  [ "$(B inspect -f '{{.State.RestartCount}} {{.State.Status}}' rc)" = "1 running" ]
  [ "$(B inspect -f '{{.State.Pid}}' rc)" != "$pid" ]
  run -125 B run --rm --restart always busybox true
  [[ "$output" == *"conflicting options: --restart and --rm"* ]]
  run -125 B run --restart sometimes busybox true
  run -125 B run --restart always:3 busybox true
  run -125 B update --restart bogus rc
  B rm -f rf rs ra rc
}

@test "restart policies after a host reboot: start --all --filter restart-policy= (the berth-restart unit) brings back always and unless-stopped" {
  B run -d --name ba --restart always --network none busybox sleep 1000
  B run -d --name bu --restart unless-stopped --network none busybox sleep 1000
  B run -d --name bs --restart unless-stopped --network none busybox sleep 1000
  B run -d --name bn --network none busybox sleep 1000
  B stop -t 0 bs
  # The reboot: monitors, then containers, gone; /run's state gone.
  for c in ba bu bn; do
    mon=$(B inspect -f '{{.MonitorPid}}' $c)
    pid=$(B inspect -f '{{.State.Pid}}' $c)
    id=$(B inspect -f '{{.Id}}' $c)
    kill -9 "$mon"
    for i in $(seq 50); do kill -0 "$mon" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid"
    for i in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    rm -rf "$T/store/runtime/$id"
    umount -l "$T/store/containers/$id/rootfs" 2>/dev/null || true
    for d in /sys/fs/cgroup/*/berth/"$id" /sys/fs/cgroup/berth/"$id"; do [ -d "$d" ] && rmdir "$d"; done
  done
  [ -z "$(B ps -q)" ]
  run B start --all --filter restart-policy=always --filter restart-policy=unless-stopped
  [ "$status" -eq 0 ]
  [ "$(B ps --format '{{.Names}}' | sort | tr '\n' ' ')" = "ba bu " ]
  run -125 B start --filter restart-policy=always
  run -125 B start --all --filter status=exited
  B rm -f ba bu bs bn
}

@test "health checks: --health-* and the image's HEALTHCHECK; starting, unhealthy, healthy in ps, inspect and events" {
  B run -d --name hc --network none --health-cmd 'test -e /tmp/ok && echo fine' --health-interval 300ms \
    --health-retries 2 --health-timeout 5s busybox sleep 1000
  [ "$(B inspect -f '{{.State.Health.Status}}' hc)" = starting ]
  [[ "$(B ps --format '{{.Status}}' --filter name=hc)" == *"(health: starting)" ]]
  for i in $(seq 100); do [ "$(B inspect -f '{{.State.Health.Status}}' hc)" = unhealthy ] && break; sleep 0.1; done
  [ "$(B ps --filter health=unhealthy --format '{{.Names}}')" = hc ]
  [[ "$(B ps --format '{{.Status}}' --filter name=hc)" == *"(unhealthy)" ]]
  [ "$(B inspect -f '{{json .State.Health}}' hc | jq -r '.Log[-1].ExitCode')" = 1 ]
  B exec hc touch /tmp/ok
  for i in $(seq 100); do [ "$(B inspect -f '{{.State.Health.Status}}' hc)" = healthy ] && break; sleep 0.1; done
  [ "$(B inspect -f '{{.State.Health.Status}} {{.State.Health.FailingStreak}}' hc)" = "healthy 0" ]
  [ "$(B inspect -f '{{json .State.Health}}' hc | jq -r '.Log[-1].Output')" = fine ]
  [ "$(B inspect -f '{{json .State.Health}}' hc | jq '.Log | length')" -le 5 ]
  [ "$(B events --until 0s --filter container=hc --format '{{.Action}}' | grep health | tr '\n' ,)" = "health_status: unhealthy,health_status: healthy," ]
  # The checker goes with the container.
  mon=$(B inspect -f '{{.MonitorPid}}' hc)
  B rm -f hc
  [ -z "$(pgrep -P "$mon" 2>/dev/null)" ]
  # A check that takes too long fails with docker's words.
  B run -d --name ht --network none --health-cmd 'sleep 5' --health-interval 200ms --health-timeout 300ms \
    --health-retries 1 busybox sleep 1000
  for i in $(seq 100); do [ "$(B inspect -f '{{.State.Health.Status}}' ht)" = unhealthy ] && break; sleep 0.1; done
  [ "$(B inspect -f '{{json .State.Health}}' ht | jq -r '.Log[0].Output')" = "Health check exceeded timeout (0s)" ]
  [ "$(B inspect -f '{{json .State.Health}}' ht | jq -r '.Log[0].ExitCode')" = -1 ]
  B rm -f ht
  # The image's HEALTHCHECK, and --no-healthcheck / --health-cmd over it.
  B save --format docker -o "$T/bb.tar" busybox
  /usr/bin/python3 "$TOP/tests/e2e/health-image.py" "$T/bb.tar" "$T/hb.tar" hb:1 'exit 1' 300000000 1
  B load -i "$T/hb.tar"
  B run -d --name hi --network none hb:1 sleep 1000
  for i in $(seq 100); do [ "$(B inspect -f '{{.State.Health.Status}}' hi)" = unhealthy ] && break; sleep 0.1; done
  [ "$(B inspect -f '{{.State.Health.Status}}' hi)" = unhealthy ]
  B run -d --name hn --network none --no-healthcheck hb:1 sleep 1000
  [ "$(B inspect -f '{{json .Config.Healthcheck}}' hn)" = '{"Test":["NONE"]}' ]
  [ "$(B ps --filter health=none --format '{{.Names}}')" = hn ]
  B run -d --name ho --network none --health-cmd true hb:1 sleep 1000
  [ "$(B inspect -f '{{json .Config.Healthcheck}}' ho)" = '{"Test":["CMD-SHELL","true"],"Interval":300000000,"Retries":1}' ]
  for i in $(seq 100); do [ "$(B inspect -f '{{.State.Health.Status}}' ho)" = healthy ] && break; sleep 0.1; done
  [ "$(B inspect -f '{{.State.Health.Status}}' ho)" = healthy ]
  B rm -f hi hn ho
  B rmi hb:1
  run -125 B run --health-interval soon busybox true
  run -125 B run --health-retries 0 busybox true
  run -125 B run --no-healthcheck --health-cmd true busybox true
  run -125 B ps --filter health=poorly
}

@test "cp, export, diff and commit: files in and out, never through a symlink out of the root; a committed image runs" {
  echo "host secret" > "$T/secret"
  B run -d --name fc --network none busybox sh -c \
    "echo hello > /new.txt; rm /bin/vi; mkdir -p /tmp/d; echo x > /tmp/d/f; ln -s ../../../../$T /esc; ln -s /.. /up; sleep 1000"
  for i in $(seq 50); do B exec fc test -L /up 2>/dev/null && break; sleep 0.1; done
  # diff: docker's A/C/D lines; nothing of the files berth mounts over
  # /etc, nor a fresh container's /etc (docker's init layer).
  B run -d --name fresh --network none busybox sleep 1000
  [ -z "$(B diff fresh)" ]
  B exec fresh sh -c 'echo x > /etc/mine'
  [ "$(B diff fresh)" = "C /etc
A /etc/mine" ]
  B rm -f fresh
  run B diff fc
  [[ "$output" == *"A /new.txt"* ]]
  [[ "$output" == *"C /bin"* ]]
  [[ "$output" == *"D /bin/vi"* ]]
  [[ "$output" == *"A /tmp/d/f"* ]]
  # cp out: a file to a new name, a directory into a directory, a tar on stdout.
  B cp fc:/new.txt "$T/out.txt"
  [ "$(cat "$T/out.txt")" = hello ]
  [ "$(stat -c %u "$T/out.txt")" = "$(id -u)" ]
  mkdir "$T/outdir"
  B cp fc:/tmp/d "$T/outdir"
  [ "$(cat "$T/outdir/d/f")" = x ]
  [ "$(B cp fc:/new.txt - | tar -xO)" = hello ]
  # Symlinks that point out of the root resolve inside it: the host's file
  # is never read, nor written.
  run B cp fc:/esc/secret "$T/leak"
  [ "$status" -ne 0 ]
  [ ! -e "$T/leak" ]
  run B cp fc:/up/etc/hostname -
  [ "$(echo "$output" | tar -t 2>/dev/null)" = hostname ] || [ "$status" -eq 0 ]
  [ "$(B cp fc:/up/etc/hostname - | tar -xO)" = "$(B exec fc cat /etc/hostname)" ]
  # cp in: into a directory, to a new name, through a symlink (stays in).
  echo "from host" > "$T/in.txt"
  B cp "$T/in.txt" fc:/tmp/
  [ "$(B exec fc cat /tmp/in.txt)" = "from host" ]
  [ "$(B exec fc stat -c %u /tmp/in.txt)" = 0 ]
  B cp "$T/in.txt" fc:/renamed.txt
  [ "$(B exec fc cat /renamed.txt)" = "from host" ]
  run B cp "$T/in.txt" fc:/esc/planted
  [ ! -e "$T/planted" ]
  [ "$(cat "$T/secret")" = "host secret" ]
  tar -C "$T" -c in.txt | B cp - fc:/tmp/d
  [ "$(B exec fc cat /tmp/d/in.txt)" = "from host" ]
  # A name that looks like a layer's whiteout is a file to cp, as to docker.
  mkdir "$T/wh" && echo kept > "$T/wh/.wh.f"
  tar -C "$T/wh" -c .wh.f | B cp - fc:/tmp/d
  [ "$(B exec fc cat /tmp/d/.wh.f /tmp/d/f)" = "$(printf 'kept\nx')" ]
  run B cp "$T/in.txt" fc:/nowhere/x
  [ "$status" -ne 0 ]
  run -125 B cp "$T/in.txt" "$T/other"
  [[ "$output" == *"must be CONTAINER:PATH"* ]]
  # export: the file system without /proc and the other mounts.
  B export -o "$T/fs.tar" fc
  tar -tf "$T/fs.tar" > "$T/fs.list"
  grep -qx new.txt "$T/fs.list"
  grep -qx bin/busybox "$T/fs.list"
  ! grep -q '^proc/.' "$T/fs.list"
  ! grep -qx bin/vi "$T/fs.list"
  # commit: a layer of the changes (whiteouts included) with --change.
  id=$(B commit -m "made by a test" -a tester -c 'CMD ["cat","/new.txt"]' -c 'ENV COMMITTED=yes' \
    -c 'LABEL made=commit' -c 'EXPOSE 8080' -c 'WORKDIR /tmp' fc committed:1)
  [[ "$id" == sha256:* ]]
  [ "$(B run --rm --network none committed:1)" = hello ]
  [ "$(B run --rm --network none committed:1 sh -c 'echo $COMMITTED; pwd; test -e /bin/vi || echo no-vi')" = "$(printf 'yes\n/tmp\nno-vi')" ]
  [ "$(B image inspect committed:1 | jq -r '.[0].Config.Labels.made + " " + (.[0].Config.ExposedPorts | keys[0])')" = "commit 8080/tcp" ]
  [ "$(B image inspect committed:1 | jq -r '.[0].Config.Cmd | join(" ")')" = "cat /new.txt" ]
  run -125 B commit -c 'RUN true' fc
  [[ "$output" == *'"RUN" is not supported'* ]]
  # A stopped container: the same, from its writable layer.
  B stop -t 0 fc
  [ "$(B cp fc:/new.txt - | tar -xO)" = hello ]
  B export fc | tar -t | grep -qx new.txt
  B rm fc
  B rmi committed:1
  ! grep -q "$T/store/containers" /proc/self/mountinfo
}

@test "race: 20 concurrent run --name of one name: exactly one wins, the rest fail clearly and leave nothing" {
  for i in $(seq 20); do
    (if B run -d --name same busybox sleep 1000 > "$T/r.$i.out" 2> "$T/r.$i.err"; then echo 0; else echo $?; fi > "$T/r.$i.rc") &
  done
  wait
  cat "$T"/r.*.err | sort | uniq -c # shown when the test fails
  [ "$(cat "$T"/r.*.rc | grep -cx 0)" = 1 ]
  [ "$(cat "$T"/r.*.rc | grep -cx 125)" = 19 ]
  [ "$(cat "$T"/r.*.err | grep -c 'the container name "same" is already in use')" = 19 ]
  [ "$(B ps -a --format '{{.Names}}')" = same ]
  # The losers left no container directory, hold or address behind.
  [ "$(ls "$T/store/containers" | wc -l)" = 1 ]
  [ "$(ls "$T/store/holds" | grep -vc '^untagged-\|^pulled-')" = 1 ]
  [ "$(ls "$T/store/networks/bridge.ipam" | wc -l)" = 1 ]
  B rm -f same
}

@test "a truncated or corrupt container record: ps says which file and lists the rest, rm -f removes it and what it ran" {
  B run -d --name good busybox sleep 1000
  B run -d --name cut busybox sleep 1000
  B create --name junk --network none busybox true
  cut=$(B inspect -f '{{.Id}}' cut)
  junk=$(B inspect -f '{{.Id}}' junk)
  mon=$(B inspect -f '{{.MonitorPid}}' cut)
  pid=$(B inspect -f '{{.State.Pid}}' cut)
  truncate -s 40 "$T/store/containers/$cut/container.json"
  printf '\0\1garbage' > "$T/store/containers/$junk/container.json"
  run B ps -a --format '{{.Names}}'
  [ "$status" -eq 0 ]
  [[ "$output" == *"container ${cut:0:12} is left out: $T/store/containers/$cut/container.json: line"* ]]
  [[ "$output" == *"container ${junk:0:12} is left out: $T/store/containers/$junk/container.json"* ]]
  [ "${lines[-1]}" = good ]
  # The others still run; rm without -f says what is wrong.
  [ "$(B exec good echo ok)" = ok ]
  run -1 B rm "$cut"
  [[ "$output" == *"container.json: line"* ]]
  B rm -f "${cut:0:12}" "$junk"
  for i in $(seq 50); do kill -0 "$mon" 2>/dev/null || break; sleep 0.1; done
  ! kill -0 "$mon" 2>/dev/null
  ! kill -0 "$pid" 2>/dev/null
  [ "$(ls "$T/store/containers")" = "$(B inspect -f '{{.Id}}' good)" ]
  ! grep -q "$T/store/containers/$cut" /proc/self/mountinfo
  [ ! -e "$T/store/holds/$cut" ] && [ ! -e "$T/store/runtime/$cut" ]
  B rm -f good
}

@test "an unreadable runtime state: exec names the file, stop and rm -f still end the container and leave nothing; the others run" {
  B run -d --name good busybox sleep 1000
  B run -d --name cut busybox sleep 1000
  B run -d --name junk busybox sleep 1000
  cut=$(B inspect -f '{{.Id}}' cut)
  junk=$(B inspect -f '{{.Id}}' junk)
  pids="$(B inspect -f '{{.State.Pid}}' cut) $(B inspect -f '{{.State.Pid}}' junk)"
  truncate -s 20 "$T/store/runtime/$cut/state.json"
  printf '\0\1garbage' > "$T/store/runtime/$junk/state.json"
  run -125 B exec cut true
  [[ "$output" == *"$T/store/runtime/$cut/state.json: line 1"* ]]
  [ "$(B ps --format '{{.Names}}' | sort | xargs)" = "cut good junk" ]
  # stop waits its timeout, then kills what the spec's cgroup holds.
  B stop -t 1 cut
  [ "$(B inspect -f '{{.State.Status}} {{.State.ExitCode}}' cut)" = "exited 137" ]
  B rm -f cut junk
  for p in $pids; do ! kill -0 "$p" 2>/dev/null; done
  [ "$(ls "$T/store/runtime")" = "$(B inspect -f '{{.Id}}' good)" ]
  [ -z "$(find /sys/fs/cgroup -maxdepth 4 -name "*$cut*" -o -maxdepth 4 -name "*$junk*")" ]
  [ "$(B exec good echo ok)" = ok ]
  B rm -f good
}

@test "a corrupt refs.json: images, run and rmi name the file; containers still list, exec and go" {
  B run -d --name keep busybox sleep 1000
  cp "$T/store/refs.json" "$T/refs.json"
  printf '{"refs": {"x' > "$T/store/refs.json"
  run -125 B images
  [[ "$output" == *"$T/store/refs.json: line 1"* ]]
  run -125 B run --rm busybox true
  [[ "$output" == *"$T/store/refs.json: line 1"* ]]
  run B rmi busybox
  [ "$status" -ne 0 ]
  [[ "$output" == *"$T/store/refs.json"* ]]
  [ "$(B ps --format '{{.Names}}')" = keep ]
  [ "$(B exec keep echo ok)" = ok ]
  B rm -f keep
  [ -z "$(ls "$T/store/containers")" ]
  # Put back, the store is whole again.
  cp "$T/refs.json" "$T/store/refs.json"
  B run --rm busybox true
}

@test "a full disk: create fails naming it and leaves nothing; a container whose log fills the disk runs on, its log whole; save leaves no partial file" {
  mkdir "$T/small"
  mount -t tmpfs -o size=24m tmpfs "$T/small"
  S() { BERTH_ROOT="$T/small" "$BERTH" "$@"; }
  # Its log never rotates here: with the default (10m, 2 files) a rotation
  # due just as the disk filled deleted 10 MiB and let create succeed.
  S run -d --name chat --network none --log-opt max-size=1g busybox sh -c 'i=0; while :; do i=$((i+1)); echo "line $i padding padding padding"; done'
  # Its log takes most of the room, a file the rest (the log gives back the
  # part of a line that did not fit, so it alone never leaves 0).
  for i in $(seq 300); do [ "$(df --output=avail "$T/small" | tail -1)" -lt 1024 ] && break; sleep 0.1; done
  ! dd if=/dev/zero of="$T/small/fill" bs=4k 2>/dev/null
  run -125 S create --name c2 --network none busybox true
  [[ "$output" == *"No space left on device"* ]]
  [ "$(S ps -aq)" = "$(S inspect -f '{{.Id}}' chat | cut -c1-12)" ]
  [ "$(ls "$T/small/containers" | wc -l)" -eq 1 ] && [ "$(ls "$T/small/holds" | wc -l)" -eq 1 ]
  [ -z "$(ls "$T/small/tmp")" ]
  [ "$(grep -c "$T/small/containers/" /proc/self/mountinfo)" -le 1 ] # chat's root at most
  run -125 S save -o "$T/small/out.tar" busybox
  [[ "$output" == *"No space left on device"* ]]
  [ -z "$(ls "$T/small" | grep out.tar)" ]
  # The container runs on; its log holds whole lines only.
  [ "$(S inspect -f '{{.State.Status}}' chat)" = running ]
  [[ "$(S logs --tail 1 chat)" == "line "*" padding padding padding" ]]
  id=$(S inspect -f '{{.Id}}' chat)
  tail -c 300 "$T/small/containers/$id/container.log" | tail -1 | jq -e .log >/dev/null
  S rm -f chat
  rm "$T/small/fill"
  # Its log's room comes back when its monitor, the log's writer, has gone.
  for i in $(seq 100); do [ "$(df --output=avail "$T/small" | tail -1)" -gt 8192 ] && break; sleep 0.1; done
  S run --rm --network none busybox echo room-again
  umount "$T/small"
}

# kill -9 of the CLI at a random point of COMMAND... (the name last).
kill_cli_at_random() {
  local p
  "$BERTH" --root "$T/store" "$@" >/dev/null 2>&1 &
  p=$!
  sleep "0.0$((RANDOM % 9))"
  kill -9 "$p" 2>/dev/null || true
  wait "$p" 2>/dev/null || true
}

@test "kill -9 of the CLI in run -d, start and rm -f: ps tells the truth, rm -f removes everything, the others run on" {
  B run -d --name keep busybox sleep 1000
  keep=$(B inspect -f '{{.Id}}' keep)
  for i in $(seq 12); do kill_cli_at_random run -d --name "k$i" busybox sleep 1000; done
  # What ps lists is what there is: every directory a record, or reaped.
  run B ps -a -q --no-trunc
  [ "$status" -eq 0 ]
  [ "$(echo "$output" | sort)" = "$(ls "$T/store/containers" | sort)" ]
  B ps -a --format '{{.Names}}' | grep -v keep | xargs -r "$BERTH" --root "$T/store" stop -t 0 >/dev/null
  for n in $(B ps -a --format '{{.Names}}' | grep -v keep); do kill_cli_at_random start "$n"; done
  for n in $(B ps -a --format '{{.Names}}' | grep -v keep); do kill_cli_at_random rm -f "$n"; done
  run B ps -a -q --no-trunc
  [ "$(echo "$output" | sort)" = "$(ls "$T/store/containers" | sort)" ]
  # Whatever each was left as, rm -f ends it.
  B ps -a --format '{{.Names}}' | grep -v keep | xargs -r "$BERTH" --root "$T/store" rm -f >/dev/null
  [ "$(B ps -a -q --no-trunc)" = "$keep" ]
  [ "$(ls -A "$T/store/containers")" = "$keep" ]
  [ "$(ls "$T/store/runtime")" = "$keep" ]
  [ "$(ls "$T/store/holds")" = "$keep" ]
  [ "$(ls "$T/store/netns")" = "$keep" ]
  # A killed create's address lease goes at the next look at the network.
  [ "$(B network inspect bridge | jq '.[0].Containers | length')" -eq 1 ]
  [ "$(ls "$T/store/networks/bridge.ipam" | wc -l)" -eq 1 ]
  [ "$(grep -c "$T/store/containers/" /proc/self/mountinfo)" -le 1 ]
  [ "$(pgrep -fcx 'sleep 1000')" -eq 1 ]
  [ "$(B exec keep echo ok)" = ok ]
  B rm -f keep
}

@test "a name may look like the start of another container's ID (docker's rule: names match whole)" {
  B create --name first --network none busybox true
  id=$(B inspect -f '{{.Id}}' first)
  B create --name "${id:0:1}" --network none busybox true
  B create --name "${id:0:2}" --network none busybox true
  [ "$(B inspect -f '{{.Name}}' "${id:0:2}")" = "/${id:0:2}" ]
  B rename "${id:0:2}" "${id:0:3}"
  [ "$(B inspect -f '{{.Id}}' "${id:0:3}")" != "$id" ]
  run B create --name first --network none busybox true
  [[ "$output" == *'the container name "first" is already in use'* ]]
  B rm "${id:0:1}" "${id:0:3}" first
}

@test "exec -u NAME[:GROUP] from the container's files, --env-file and -e NAME as docker reads them" {
  B run -d --name u1 --network none busybox sleep 1000
  [ "$(B exec -u nobody u1 id)" = "uid=65534(nobody) gid=65534(nogroup)" ]
  [ "$(B exec -u daemon:tty u1 id)" = "uid=1(daemon) gid=5(tty)" ]
  [ "$(B exec -u 1000:1000 u1 id -u)" = 1000 ]
  # A user the container gained after it started is found (its own root).
  B exec u1 sh -c 'echo late:x:4242:4242::/:/bin/sh >> /etc/passwd'
  [ "$(B exec -u late u1 id -u)" = 4242 ]
  run -125 B exec -u ghost u1 id
  [[ "$output" == *"unable to find user ghost"* ]]
  printf 'A=1\n# a comment\n  B=two words\nFROM_CALLER\nUNSET_HERE\n' > "$T/env"
  run env FROM_CALLER=caller "$BERTH" --root "$T/store" exec --env-file "$T/env" u1 \
    sh -c 'echo "$A|$B|$FROM_CALLER|${UNSET_HERE-unset}"'
  [ "$output" = "1|two words|caller|unset" ]
  [ "$(FROM_CALLER=x "$BERTH" --root "$T/store" exec -e FROM_CALLER u1 sh -c 'echo $FROM_CALLER')" = x ]
  printf '=oops\n' > "$T/bad"
  run -125 B exec --env-file "$T/bad" u1 true
  [[ "$output" == *"line 1: no variable name"* ]]
  # run reads env files the same way.
  [ "$(FROM_CALLER=r "$BERTH" --root "$T/store" run --rm --network none --env-file "$T/env" busybox sh -c 'echo "$B|$FROM_CALLER"')" = "two words|r" ]
  B rm -f u1
}

@test "volume create --label and --driver local; ls --filter label= finds them; other options are refused" {
  B volume create -l team=a --label=tier=db lv
  B volume create --label env=x --driver local lw
  [ "$(B volume ls -q --filter label=team=a)" = lv ]
  [ "$(B volume ls -q --filter label=env)" = lw ]
  [ "$(B volume inspect -f '{{json .Labels}}' lv)" = '{"team":"a","tier":"db"}' ]
  run -125 B volume create -o type=tmpfs x
  [[ "$output" == *"-o is not supported"* ]]
  run -125 B volume create -d nfs y
  [[ "$output" == *"only the local driver"* ]]
  [ "$(B volume ls -q | sort | tr '\n' ' ')" = "lv lw " ]
  B volume rm lv lw
}

@test "--cidfile gets the ID and is never reused; --label-file adds labels" {
  printf 'team=a\n# comment\n\n  tier=db\nflag\n' > "$T/labels"
  B create --cidfile "$T/cid" --label-file "$T/labels" -l extra=1 --network none busybox true
  id=$(cat "$T/cid")
  [ "${#id}" -eq 64 ]
  [ "$(B inspect -f '{{json .Config.Labels}}' "$id")" = '{"team":"a","tier":"db","flag":"","extra":"1"}' ]
  # An existing file fails the command before anything is made.
  n=$(B ps -aq | wc -l)
  run -125 B run --cidfile "$T/cid" --network none busybox true
  [[ "$output" == *"File exists"* ]]
  [ "$(B ps -aq | wc -l)" -eq "$n" ]
  # A container that cannot be made leaves no file behind.
  run -125 B create --cidfile "$T/cid2" --network none --name 'bad/name' busybox true
  [ ! -e "$T/cid2" ]
  B run --rm --cidfile "$T/cid3" --network none busybox true
  [ "$(wc -c < "$T/cid3")" -eq 64 ]
  printf '=x\n' > "$T/badlabels"
  run -125 B create --label-file "$T/badlabels" busybox true
  [[ "$output" == *"no label name"* ]]
  B rm "$id"
}

@test "inspect -f and --type: docker's template actions over containers, images, volumes and networks; errors named" {
  B run -d --name i1 --network none -l app=web -e K=v busybox sleep 1000
  [ "$(B inspect -f '{{.State.Status}} {{.State.Running}} {{.Isolation}}' i1)" = "running true process" ]
  [ "$(B inspect --format '{{index .Config.Labels "app"}}' i1)" = web ]
  [ "$(B inspect -f '{{.State.Pid}}' i1)" = "$(B inspect i1 | jq -r '.[0].State.Pid')" ]
  [ "$(B inspect -f '{{json .Config.Labels}}' i1)" = '{"app":"web"}' ]
  # docker's container name in inspect is a path.
  [ "$(B inspect --type=container -f '{{.Name}}' i1)" = /i1 ]
  # One line per object, in the order asked.
  B volume create iv
  [ "$(B inspect -f '{{.Name}}' i1 iv | tr '\n' ' ')" = "/i1 iv " ]
  [ "$(B volume inspect -f '{{.Name}}' iv)" = iv ]
  [ "$(B image inspect -f '{{.Os}}/{{.Architecture}}' busybox)" = linux/amd64 ]
  [ "$(B inspect --type image -f '{{index .RepoTags 0}}' busybox)" = busybox:latest ]
  [ "$(B network inspect -f '{{.Name}}' bridge)" = bridge ]
  # What a template cannot render, and a type that does not hold the name,
  # fail by name; never an empty or default answer.
  run -125 B inspect -f '{{.State.Nope}}' i1
  [[ "$output" == *'no field `Nope`'* ]]
  run -125 B inspect -f '{{range .Mounts}}{{.Source}}{{end}}' i1
  [[ "$output" == *"not supported"* ]]
  run -1 B inspect --type volume -f '{{.Name}}' i1
  [[ "$output" == *"no such volume: i1"* ]]
  run -125 B inspect --type pod i1
  run -125 B inspect -s i1
  B rm -f i1
  B volume rm iv
}
