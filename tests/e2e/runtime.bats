#!/usr/bin/env bats
# berth-runtime end to end: real containers from the busybox rootfs.

load helpers

@test "run: output and exit code reach the caller" {
  args sh -c 'echo hello from $(hostname); exit 3'
  run R run c1
  [ "$status" -eq 3 ]
  [ "$output" = "hello from berth" ]
  # run deletes what it made
  [ -z "$(R list -q)" ]
  [ ! -e "$(cgroup_dir memory c1)" ]
}

@test "namespaces differ from the host's" {
  args sh -c 'for n in pid net mnt ipc uts cgroup; do echo $n $(readlink /proc/self/ns/$n); done'
  run R run c1
  [ "$status" -eq 0 ]
  for n in pid net mnt ipc uts cgroup; do
    inside=$(echo "$output" | awk -v n=$n '$1 == n {print $2}')
    [ -n "$inside" ]
    [ "$inside" != "$(readlink /proc/self/ns/$n)" ]
  done
  # and the container is pid 1 of its own pid namespace
  args sh -c 'echo $$'
  run R run c2
  [ "$output" = "1" ]
}

@test "capabilities: a non-root process keeps only its ambient set" {
  cfg '.process.user = {"uid": 1000, "gid": 1000} | .process.capabilities = {"bounding":["CAP_KILL","CAP_CHOWN","CAP_NET_RAW"],"effective":["CAP_KILL","CAP_NET_RAW"],"permitted":["CAP_KILL","CAP_NET_RAW"],"inheritable":["CAP_NET_RAW"],"ambient":["CAP_NET_RAW"]}'
  args sh -c 'grep -E "^Cap(Prm|Eff|Bnd|Amb)" /proc/self/status'
  run R run c1
  [ "$status" -eq 0 ]
  echo "$output" | grep -q "CapPrm:.0000000000002000"
  echo "$output" | grep -q "CapEff:.0000000000002000"
  echo "$output" | grep -q "CapAmb:.0000000000002000"
  echo "$output" | grep -q "CapBnd:.0000000000002021"
}

@test "capabilities are the spec's five sets" {
  cfg '.process.capabilities = {"bounding":["CAP_KILL","CAP_CHOWN"],"effective":["CAP_KILL"],"permitted":["CAP_KILL","CAP_CHOWN"],"inheritable":[],"ambient":[]} | .process.noNewPrivileges = false'
  args sh -c 'grep -E "^Cap(Inh|Prm|Eff|Bnd|Amb)|NoNewPrivs" /proc/self/status'
  run R run c1
  [ "$status" -eq 0 ]
  echo "$output" | grep -q "CapInh:.0000000000000000"
  echo "$output" | grep -q "CapPrm:.0000000000000021"
  # root's effective set after exec is its permitted set, as with runc
  echo "$output" | grep -q "CapEff:.0000000000000021"
  echo "$output" | grep -q "CapBnd:.0000000000000021"
  echo "$output" | grep -q "NoNewPrivs:.0"
}

@test "a capability newer than the kernel is ignored with a warning; an unknown or malformed one is refused, nothing left" {
  # Docker and Kubernetes send lists written for newer kernels: this
  # kernel knows every capability, so BERTH_CAP_LAST pretends it stops at
  # CAP_AUDIT_READ (37), before CAP_PERFMON, CAP_BPF, CAP_CHECKPOINT_RESTORE.
  cfg '.process.capabilities.bounding += ["CAP_BPF"] | .process.capabilities.effective += ["CAP_PERFMON"]'
  args sh -c 'grep CapBnd /proc/self/status'
  run env BERTH_CAP_LAST=37 "$BERTH_RUNTIME" --root "$STATE" --log "$T/log.json" --log-format json run --bundle "$BUNDLE" c1
  [ "$status" -eq 0 ]
  [[ "$output" == *'warning: process.capabilities.bounding[3]: capability "CAP_BPF" is not known to this kernel: ignored; process.capabilities.effective['*'"CAP_PERFMON"'* ]]
  jq -e 'select(.level == "warning") | .msg | contains("CAP_BPF")' "$T/log.json"
  # CAP_BPF (39) is not in the bounding set.
  bnd=$(echo "$output" | awk '/CapBnd/ {print $2}')
  [ $(( 0x$bnd & (1 << 39) )) -eq 0 ]
  [ ! -e "$STATE/c1" ]
  # exec --cap too.
  cfg 'del(.process.capabilities.bounding[] | select(. == "CAP_BPF")) | del(.process.capabilities.effective[] | select(. == "CAP_PERFMON")) | .process.args = ["sleep", "1008"]'
  R create c2
  R start c2
  run env BERTH_CAP_LAST=37 "$BERTH_RUNTIME" --root "$STATE" exec --cap CAP_CHECKPOINT_RESTORE c2 true
  [ "$status" -eq 0 ]
  [[ "$output" == *'capability "CAP_CHECKPOINT_RESTORE" is not known to this kernel: ignored'* ]]
  R delete --force c2
  # No such capability at all: an error (runtime-spec), with the field named.
  cfg '.process.capabilities.bounding += ["CAP_TEST"]'
  run R create --bundle "$BUNDLE" c3
  [ "$status" -ne 0 ]
  [[ "$output" == *'process.capabilities.bounding[3]: unknown capability "CAP_TEST"'* ]]
  [ ! -e "$STATE/c3" ]
  # Not a capability name.
  cfg '.process.capabilities.bounding[3] = "KILL"'
  run R create --bundle "$BUNDLE" c4
  [ "$status" -ne 0 ]
  [[ "$output" == *'process.capabilities.bounding[3]: "KILL" is not a capability name (CAP_...)'* ]]
  [ ! -e "$STATE/c4" ]
}

@test "masked and read-only paths" {
  cfg '.linux.maskedPaths += ["/etc/passwd"]'
  args sh -c 'cat /etc/passwd | wc -c; ls /sys/firmware | wc -l; echo 1 > /proc/sys/kernel/ns_last_pid && echo WROTE; true'
  run R run c1
  [ "$status" -eq 0 ]
  [ "${lines[0]}" = "0" ]
  [ "${lines[1]}" = "0" ]
  [[ "$output" != *WROTE* ]]
  [[ "$output" == *"Read-only file system"* ]]
}

@test "cgroup limits are applied and visible inside" {
  cfg '.linux.resources.memory = {"limit": 33554432} | .linux.resources.pids = {"limit": 42} | .linux.resources.cpu = {"shares": 512}'
  args sh -c 'cd /sys/fs/cgroup; if [ -e cgroup.controllers ]; then cat memory.max pids.max cpu.weight; else cat memory/memory.limit_in_bytes pids/pids.max cpu/cpu.shares; fi'
  run R run c1
  [ "$status" -eq 0 ]
  [ "${lines[0]}" = "33554432" ]
  [ "${lines[1]}" = "42" ]
  # v2's weight is runc's conversion of the shares.
  if cgroup_v2; then [ "${lines[2]}" = "20" ]; else [ "${lines[2]}" = "512" ]; fi
}

@test "the pids limit stops a fork bomb" {
  cfg '.linux.resources.pids = {"limit": 5}'
  args sh -c 'for i in 1 2 3 4 5 6 7 8; do sleep 5 & done 2>&1; wait'
  run R run c1
  [[ "$output" == *"Resource temporarily unavailable"* ]] || [[ "$output" == *"can't fork"* ]]
}

@test "seccomp denies what the profile denies" {
  cfg '.linux.seccomp = {"defaultAction":"SCMP_ACT_ALLOW","architectures":["SCMP_ARCH_X86_64"],"syscalls":[{"names":["mkdir","mkdirat"],"action":"SCMP_ACT_ERRNO","errnoRet":1},{"names":["getcwd"],"action":"SCMP_ACT_ERRNO","errnoRet":13}]}'
  cfg '.mounts += [{"destination":"/tmp","type":"tmpfs","source":"tmpfs"}]'
  args sh -c 'mkdir /tmp/x; echo mkdir=$?; touch /tmp/y && echo touch-ok'
  run R run c1
  [[ "$output" == *"Operation not permitted"* ]]
  [[ "$output" == *"mkdir=1"* ]]
  [[ "$output" == *"touch-ok"* ]]
}

@test "hooks run in the spec's order with the state on stdin" {
  log=$T/hooks.log
  h() { echo "{\"path\":\"/bin/sh\",\"args\":[\"sh\",\"-c\",\"read s; echo $1 \$(echo \\\"\$s\\\" | grep -o '\\\"status\\\":\\\"[a-z]*\\\"') >> $log\"]}"; }
  cfg ".hooks = {\"prestart\":[$(h prestart)],\"createRuntime\":[$(h createRuntime)],\"createContainer\":[$(h createContainer)],\"startContainer\":[{\"path\":\"/bin/true\"}],\"poststart\":[$(h poststart)],\"poststop\":[$(h poststop)]}"
  args sleep 1
  R create --bundle "$BUNDLE" c1
  R start c1
  wait_status c1 stopped
  R delete c1
  run cat "$log"
  [ "${lines[0]}" = 'prestart "status":"created"' ]
  [ "${lines[1]}" = 'createRuntime "status":"created"' ]
  [[ "${lines[2]}" == createContainer* ]]
  [ "${lines[3]}" = 'poststart "status":"running"' ]
  [ "${lines[4]}" = 'poststop "status":"stopped"' ]
}

@test "a failing hook fails create and leaves nothing" {
  cfg '.hooks = {"prestart":[{"path":"/bin/false"}]}'
  run R create --bundle "$BUNDLE" c1
  [ "$status" -ne 0 ]
  [[ "$output" == *'hooks.prestart[0]: `/bin/false` exited with status 1'* ]]
  [ ! -e "$STATE/c1" ]
  [ ! -e "$(cgroup_dir memory c1)" ]
  ! pgrep -f "berth-runtime --root $STATE" >/dev/null
}

@test "a hook that times out is killed and reported" {
  cfg '.hooks = {"createRuntime":[{"path":"/bin/sleep","args":["sleep","30"],"timeout":1}]}'
  run R create --bundle "$BUNDLE" c1
  [ "$status" -ne 0 ]
  [[ "$output" == *"did not finish within 1 s"* ]]
  ! pgrep -x -f "sleep 30" >/dev/null
}

@test "lifecycle: create, state, start, kill, delete" {
  args sleep 100
  R create --bundle "$BUNDLE" --pid-file "$T/pid" c1
  run R state c1
  [ "$(echo "$output" | jq -r .status)" = created ]
  pid=$(echo "$output" | jq -r .pid)
  [ "$pid" = "$(cat "$T/pid")" ]
  [ "$(echo "$output" | jq -r .bundle)" = "$BUNDLE" ]
  # nothing runs before start
  ! pgrep -f "^sleep 100" >/dev/null
  R start c1
  [ "$(R state c1 | jq -r .status)" = running ]
  # the container's process is a host process with the pid berth reports
  [ "$(cat /proc/$pid/cmdline | tr '\0' ' ')" = "sleep 100 " ]
  run R start c1
  [ "$status" -ne 0 ]
  run R delete c1
  [ "$status" -ne 0 ]
  [[ "$output" == *"use --force"* ]]
  R kill c1 KILL
  wait_status c1 stopped
  [ -d "$(cgroup_dir memory c1)" ]
  R delete c1
  [ ! -e "$STATE/c1" ]
  [ ! -e "$(cgroup_dir memory c1)" ]
  [ ! -e "$(cgroup_dir pids c1)" ]
  run R state c1
  [ "$status" -ne 0 ]
  [[ "$output" == *"does not exist"* ]]
}

@test "kill -9 of create at random points: no init is left that nothing knows of; delete --force removes what there is" {
  args sleep 1000
  for i in $(seq 15); do
    (cd "$BUNDLE" && exec "$BERTH_RUNTIME" --root "$STATE" create "k$i" >/dev/null 2>&1) &
    p=$!
    sleep "0.00$((RANDOM % 6))"
    kill -9 "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
  done
  sleep 0.3
  # Every init still there belongs to a container that list shows as
  # created (one whose create was killed just after its state was written
  # shows as stopped: its init went with that create).
  created=0
  for id in $(R list -q); do [ "$(R state "$id" | jq -r .status)" = created ] && created=$((created + 1)); done
  [ "$(pgrep -fc "create k[0-9]")" -eq "$created" ]
  for i in $(seq 15); do R delete --force "k$i"; done
  [ -z "$(ls -A "$STATE")" ]
  [ "$(pgrep -fc "create k[0-9]")" -eq 0 ]
  # Their cgroups too: create notes where it made one before anything else.
  [ -z "$(find /sys/fs/cgroup -maxdepth 4 -type d -path '*/berth/k[0-9]*')" ]
}

@test "kill takes names and numbers; delete --force of a missing container succeeds" {
  args sh -c 'trap "echo got-usr1 > /dev/shm/x" USR1; trap "exit 7" TERM; while :; do sleep 0.1; done'
  R run -d --bundle "$BUNDLE" c1
  R kill c1 SIGUSR1
  R kill c1 15
  wait_status c1 stopped
  run R kill c1 NOSUCHSIG
  [ "$status" -ne 0 ]
  R delete --force c1
  R delete --force c1
  R delete --force never-existed
}

@test "exec runs inside the container's namespaces and returns its status" {
  args sleep 100
  R run -d --bundle "$BUNDLE" c1
  pid=$(R state c1 | jq -r .pid)
  run R exec c1 sh -c 'echo $(readlink /proc/self/ns/pid) $(hostname); exit 5'
  [ "$status" -eq 5 ]
  [ "$output" = "$(readlink /proc/$pid/ns/pid) berth" ]
  run R exec --env FOO=bar --cwd /etc c1 sh -c 'echo $FOO $(pwd)'
  [ "$output" = "bar /etc" ]
  echo '{"args":["sh","-c","id -u; id -g"],"cwd":"/","user":{"uid":65534,"gid":65534}}' > "$T/p.json"
  run R exec --process "$T/p.json" c1
  [ "${lines[0]}" = 65534 ]
  [ "${lines[1]}" = 65534 ]
  run R exec c1 /no/such/binary
  [ "$status" -ne 0 ]
  [[ "$output" == *"/no/such/binary"* ]]
  R exec -d --pid-file "$T/epid" c1 sleep 50
  [ "$(cat /proc/$(cat "$T/epid")/cmdline | tr '\0' ' ')" = "sleep 50 " ]
  run R ps --format json c1
  [ "$(echo "$output" | jq length)" -eq 2 ]
}

@test "terminal: the pty master arrives over --console-socket" {
  cfg '.process.terminal = true'
  args sh -c 'tty; [ -t 0 ] && echo stdin-is-a-tty'
  "$RECVTTY" "$T/tty.sock" > "$T/tty.out" &
  BG_PIDS=$!
  for i in $(seq 50); do [ -S "$T/tty.sock" ] && break; sleep 0.05; done
  R create --bundle "$BUNDLE" --console-socket "$T/tty.sock" c1
  R start c1
  wait_status c1 stopped
  for i in $(seq 50); do grep -q stdin-is-a-tty "$T/tty.out" && break; sleep 0.1; done
  grep -q "recvtty: got a terminal" "$T/tty.out"
  grep -q "/dev/pts/0" "$T/tty.out"
  grep -q "stdin-is-a-tty" "$T/tty.out"
  run R create --bundle "$BUNDLE" c2
  [ "$status" -ne 0 ]
  [[ "$output" == *"--console-socket is required"* ]]
}

@test "pause and resume freeze the container" {
  args sleep 100
  R run -d --bundle "$BUNDLE" c1
  pid=$(R state c1 | jq -r .pid)
  R pause c1
  [ "$(R state c1 | jq -r .status)" = paused ]
  if cgroup_v2; then grep -qx 'frozen 1' "$(cgroup_dir freezer c1)/cgroup.events"
  else grep -q FROZEN "$(cgroup_dir freezer c1)/freezer.state"; fi
  R resume c1
  [ "$(R state c1 | jq -r .status)" = running ]
  run R resume c1
  [ "$status" -ne 0 ]
}

@test "update changes the limits of a running container" {
  cfg '.linux.resources.pids = {"limit": 10}'
  args sleep 100
  R run -d --bundle "$BUNDLE" c1
  [ "$(cat "$(cgroup_dir pids c1)/pids.max")" = 10 ]
  echo '{"pids":{"limit":20},"memory":{"limit":67108864}}' | R update --resources - c1
  [ "$(cat "$(cgroup_dir pids c1)/pids.max")" = 20 ]
  [ "$(cat "$(cgroup_dir memory c1)/$(memory_limit_file)")" = 67108864 ]
  R update --pids-limit 30 c1
  [ "$(cat "$(cgroup_dir pids c1)/pids.max")" = 30 ]
}

@test "process settings: user, groups, umask, rlimits, oom score, no_new_privs, env, cwd" {
  cfg '.process.user = {"uid": 1, "gid": 1, "additionalGids": [5, 65534], "umask": 63} | .process.rlimits = [{"type":"RLIMIT_NOFILE","soft":123,"hard":456}] | .process.oomScoreAdj = 321 | .process.noNewPrivileges = true | .process.env = ["A=b", "PATH=/bin"] | .process.cwd = "/etc"'
  args sh -c 'id -u; id -g; id -G; umask; ulimit -n; ulimit -Hn; cat /proc/self/oom_score_adj; grep NoNewPrivs /proc/self/status; echo $A; pwd'
  run R run c1
  [ "$status" -eq 0 ]
  [ "${lines[0]}" = 1 ]
  [ "${lines[1]}" = 1 ]
  [ "${lines[2]}" = "1 5 65534" ]
  [ "${lines[3]}" = 0077 ]
  [ "${lines[4]}" = 123 ]
  [ "${lines[5]}" = 456 ]
  [ "${lines[6]}" = 321 ]
  [[ "${lines[7]}" == *1 ]]
  [ "${lines[8]}" = b ]
  [ "${lines[9]}" = /etc ]
}

@test "hostname, sysctl, devices and a read-only root" {
  cfg '.hostname = "box" | .linux.sysctl = {"net.ipv4.ip_forward": "1", "kernel.shmmax": "12345678"} | .linux.devices = [{"type":"c","path":"/dev/mynull","major":1,"minor":3,"fileMode":384,"uid":1,"gid":2}]'
  args sh -c 'hostname; cat /proc/sys/net/ipv4/ip_forward /proc/sys/kernel/shmmax; stat -c "%F %t:%T %a %u:%g" /dev/mynull; touch /newfile || echo ro'
  run R run c1
  [ "${lines[0]}" = box ]
  [ "${lines[1]}" = 1 ]
  [ "${lines[2]}" = 12345678 ]
  [ "${lines[3]}" = "character special file 1:3 600 1:2" ]
  [[ "$output" == *ro ]]
  # the host's values did not change
  [ "$(hostname)" != box ]
}

@test "a user namespace maps ids" {
  own_rootfs
  chown -R 100000:100000 "$T/rootfs"
  cfg '.linux.namespaces += [{"type":"user"}] | .linux.uidMappings = [{"containerID":0,"hostID":100000,"size":65536}] | .linux.gidMappings = [{"containerID":0,"hostID":100000,"size":65536}]'
  cfg 'del(.mounts[] | select(.destination == "/sys/fs/cgroup"))'
  args sh -c 'cat /proc/self/uid_map; id -u'
  run R run c1
  [ "$status" -eq 0 ]
  [[ "${lines[0]}" =~ ^\ +0\ +100000\ +65536$ ]]
  [ "${lines[1]}" = 0 ]
}

@test "joining another container's network namespace by path" {
  args sleep 100
  R run -d --bundle "$BUNDLE" a
  pid=$(R state a | jq -r .pid)
  cfg "(.linux.namespaces[] | select(.type == \"network\")) |= . + {\"path\": \"/proc/$pid/ns/net\"}"
  args readlink /proc/self/ns/net
  run R run b
  [ "$output" = "$(readlink /proc/$pid/ns/net)" ]
}

@test "--preserve-fds passes exactly the fds asked for" {
  echo preserved > "$T/f"
  args sh -c 'cat <&3; cat <&4 && echo LEAKED; true'
  run bash -c "exec 3<'$T/f' 4<'$T/f'; '$BERTH_RUNTIME' --root '$STATE' run --bundle '$BUNDLE' --preserve-fds 1 c1"
  [ "${lines[0]}" = preserved ]
  [[ "$output" != *LEAKED* ]]
}

@test "errors go to --log as JSON lines and to stderr" {
  cfg '.process.args = "notalist"'
  run R --log "$T/log.json" --log-format json create --bundle "$BUNDLE" c1
  [ "$status" -ne 0 ]
  [[ "$output" == *"process.args: expected an array, got a string"* ]]
  [ "$(tail -1 "$T/log.json" | jq -r .level)" = error ]
  [[ "$(tail -1 "$T/log.json" | jq -r .msg)" == *"process.args: expected an array"* ]]
  tail -1 "$T/log.json" | jq -e .time >/dev/null
}

@test "malformed config.json is reported with line and column" {
  printf '{\n "ociVersion": "1.0.2",\n "process": {,\n}\n' > "$BUNDLE/config.json"
  run R create --bundle "$BUNDLE" c1
  [ "$status" -ne 0 ]
  [[ "$output" == *"config.json: line 3 column"* ]]
}

@test "a failure mid-create leaves no state, cgroup, mount or process" {
  before=$(wc -l < /proc/self/mountinfo)
  cfg '.mounts += [{"destination":"/data","type":"bind","source":"/nonexistent/source","options":["rbind"]}] | .linux.resources.pids = {"limit": 10}'
  args sleep 100
  run R create --bundle "$BUNDLE" c1
  [ "$status" -ne 0 ]
  [[ "$output" == *'mounts[7]: bind mount source `/nonexistent/source`'* ]]
  [ ! -e "$STATE/c1" ]
  [ ! -e "$(cgroup_dir pids c1)" ]
  [ ! -e "$(cgroup_dir memory c1)" ]
  [ "$(wc -l < /proc/self/mountinfo)" -eq "$before" ]
  ! pgrep -f "berth-runtime --root $STATE" >/dev/null
}

@test "list and features" {
  args sleep 100
  R run -d --bundle "$BUNDLE" c1
  run R list --format json
  [ "$(echo "$output" | jq -r '.[0].id')" = c1 ]
  [ "$(echo "$output" | jq -r '.[0].status')" = running ]
  run R features
  [ "$(echo "$output" | jq -r .ociVersionMax)" = 1.2.0 ]
  echo "$output" | jq -e '.linux.seccomp.actions | index("SCMP_ACT_NOTIFY")' >/dev/null
}

@test "without a process, create succeeds and start fails with the reason" {
  cfg 'del(.process)'
  R create --bundle "$BUNDLE" c1
  [ "$(R state c1 | jq -r .status)" = created ]
  run R start c1
  [ "$status" -ne 0 ]
  [[ "$output" == *"process: not set in config.json"* ]]
  wait_status c1 stopped
  R delete c1
}

@test "a failing poststart or poststop hook is a warning and the others still run" {
  log=$T/hooks.log
  cfg ".hooks = {\"poststart\":[{\"path\":\"/bin/false\"},{\"path\":\"/bin/sh\",\"args\":[\"sh\",\"-c\",\"echo poststart2 >> $log\"]}],\"poststop\":[{\"path\":\"/bin/false\"},{\"path\":\"/bin/sh\",\"args\":[\"sh\",\"-c\",\"echo poststop2 >> $log\"]}]}"
  R create --bundle "$BUNDLE" c1
  run R start c1
  [ "$status" -eq 0 ]
  [[ "$output" == *"warning: hooks.poststart[0]"* ]]
  wait_status c1 stopped
  run R delete c1
  [ "$status" -eq 0 ]
  [[ "$output" == *"warning: hooks.poststop[0]"* ]]
  [ "$(cat "$log" | tr '\n' ' ')" = "poststart2 poststop2 " ]
  [ ! -e "$STATE/c1" ]
}

@test "without a mount namespace the container is chrooted and the host's mounts stay as they were" {
  before=$(md5sum < /proc/self/mountinfo)
  cfg '.linux.namespaces = [.linux.namespaces[] | select(.type != "mount")]'
  args sh -c 'ls /bin/busybox && readlink /proc/1/ns/mnt 2>/dev/null; echo done'
  run R run c1
  [ "$status" -eq 0 ]
  [[ "$output" == *"/bin/busybox"* ]]
  [ "$(md5sum < /proc/self/mountinfo)" = "$before" ]
}

@test "SCMP_ACT_NOTIFY: the listener gets the state and the fd, and decides the syscall" {
  LISTENER=$TOP/build/tests/seccomp-listener
  "$LISTENER" "$T/listener.sock" "$T/listener.state" &
  BG_PIDS=$!
  for i in $(seq 50); do [ -S "$T/listener.sock" ] && break; sleep 0.05; done
  cfg ".linux.seccomp = {\"defaultAction\":\"SCMP_ACT_ALLOW\",\"listenerPath\":\"$T/listener.sock\",\"listenerMetadata\":\"meta-1\",\"syscalls\":[{\"names\":[\"mkdir\",\"mkdirat\"],\"action\":\"SCMP_ACT_NOTIFY\"}]}"
  cfg '.mounts += [{"destination":"/tmp","type":"tmpfs","source":"tmpfs"}] | .process.noNewPrivileges = true'
  args sh -c 'mkdir /tmp/x; touch /tmp/y && echo touch-ok'
  run R run c1
  [[ "$output" == *"Invalid cross-device link"* ]]
  [[ "$output" == *touch-ok* ]]
  [ "$(head -1 "$T/listener.state" | jq -r '.fds[0]')" = seccompFd ]
  [ "$(head -1 "$T/listener.state" | jq -r '.metadata')" = meta-1 ]
  [ "$(head -1 "$T/listener.state" | jq -r '.state.id')" = c1 ]
  # exec gets its own listener fd
  args sleep 100
  R run -d --bundle "$BUNDLE" c2
  run R exec c2 mkdir /tmp/z
  [[ "$output" == *"Invalid cross-device link"* ]]
  [ "$(grep -c . "$T/listener.state")" -eq 3 ]
}

@test "a time namespace with offsets" {
  cfg '.linux.namespaces += [{"type":"time"}] | .linux.timeOffsets = {"boottime":{"secs":864000,"nanosecs":0},"monotonic":{"secs":3600}}'
  args sh -c 'cut -d. -f1 /proc/uptime; readlink /proc/self/ns/time'
  run R run c1
  [ "$status" -eq 0 ]
  [ "${lines[0]}" -ge 864000 ]
  [ "${lines[1]}" != "$(readlink /proc/self/ns/time)" ]
}

@test "--no-pivot moves the rootfs instead of pivot_root" {
  args sh -c 'ls /bin/busybox && grep -c " / " /proc/self/mountinfo'
  run R run --no-pivot c1
  [ "$status" -eq 0 ]
  [[ "${lines[0]}" == /bin/busybox ]]
}

@test "rlimits of unlimited (2^64-1) are accepted" {
  cfg '.process.rlimits = [{"type":"RLIMIT_CORE","soft":18446744073709551615,"hard":18446744073709551615}]'
  args sh -c 'ulimit -c'
  run R run c1
  [ "$output" = unlimited ]
}

@test "a blockIO weight of 0 means unset, as Docker sends it and runc takes it" {
  cfg '.linux.resources.blockIO = {"weight": 0, "leafWeight": 0}'
  run R run w0
  [ "$status" -eq 0 ]
}

@test "sysctls are checked against the namespaces, as runc checks them, and never reach the host" {
  before=$(cat /proc/sys/kernel/shmmni)
  # An IPC sysctl without an IPC namespace of its own would be the host's.
  cfg 'del(.linux.namespaces[] | select(.type == "ipc")) | .linux.sysctl = {"kernel.shmmni": "1234"}'
  run R run c1
  [ "$status" -ne 0 ]
  [[ "$output" == *'linux.sysctl["kernel.shmmni"]: not allowed in the host'"'"'s ipc namespace'* ]]
  [ "$(cat /proc/sys/kernel/shmmni)" = "$before" ]
  [ ! -e "$STATE/c1" ]
  [ ! -e "$(cgroup_dir memory c1)" ]
  # With its own IPC namespace the container gets it, the host keeps its own.
  cfg '.linux.namespaces += [{"type": "ipc"}]'
  args cat /proc/sys/kernel/shmmni
  run R run c1
  [ "$status" -eq 0 ]
  [ "$output" = 1234 ]
  [ "$(cat /proc/sys/kernel/shmmni)" = "$before" ]
  # net.*: never in the host's network namespace, by omission or by path.
  cfg 'del(.linux.namespaces[] | select(.type == "network")) | .linux.sysctl = {"net.ipv4.ip_forward": "1"}'
  run R run c1
  [ "$status" -ne 0 ]
  [[ "$output" == *'linux.sysctl["net.ipv4.ip_forward"]: not allowed in the host'"'"'s network namespace'* ]]
  cfg '.linux.namespaces += [{"type": "network", "path": "/proc/self/ns/net"}]'
  run R run c1
  [ "$status" -ne 0 ]
  [[ "$output" == *"host's network namespace"* ]]
  # A sysctl of no namespace at all is the host's: refused.
  cfg 'del(.linux.namespaces[] | select(.type == "network")) | .linux.namespaces += [{"type": "network"}] | .linux.sysctl = {"vm.swappiness": "10"}'
  run R run c1
  [ "$status" -ne 0 ]
  [[ "$output" == *'linux.sysctl["vm.swappiness"]: not in a separate kernel namespace'* ]]
  # kernel.hostname: a UTS namespace, and no contradiction with hostname.
  cfg '.hostname = "box" | .linux.sysctl = {"kernel.hostname": "other"}'
  run R run c1
  [ "$status" -ne 0 ]
  [[ "$output" == *'linux.sysctl["kernel.hostname"]: "other" contradicts hostname "box"'* ]]
  cfg '.linux.sysctl = {"kernel.hostname": "box", "kernel.domainname": "example.org"}'
  args sh -c 'hostname; cat /proc/sys/kernel/domainname'
  run R run c1
  [ "$status" -eq 0 ]
  [ "$output" = "box
example.org" ]
  cfg 'del(.linux.namespaces[] | select(.type == "uts")) | del(.hostname)'
  run R run c1
  [ "$status" -ne 0 ]
  [[ "$output" == *"host's uts namespace"* ]]
  [ -z "$(R list -q)" ]
}

@test "HOME comes from the container's /etc/passwd when the env has none, in run, create/start and exec" {
  cfg '.process.env = ["PATH=/bin"]'
  args sh -c 'echo "$HOME"'
  run R run c1
  [ "$status" -eq 0 ]
  [ "$output" = /root ]
  cfg '.process.user = {"uid": 1, "gid": 1}'
  run R run c2
  [ "$output" = /usr/sbin ]
  # No entry for the uid: /.
  cfg '.process.user = {"uid": 4242, "gid": 4242}'
  run R run c3
  [ "$output" = / ]
  # The env's own HOME wins.
  cfg '.process.user = {"uid": 0, "gid": 0} | .process.env = ["PATH=/bin", "HOME=/mine"]'
  run R run c4
  [ "$output" = /mine ]
  cfg '.process.env = ["PATH=/bin"] | .process.args = ["sleep", "1007"]'
  R create c5
  R start c5
  run R exec c5 sh -c 'echo "$HOME"'
  [ "$output" = /root ]
  run R exec --user 65534 c5 sh -c 'echo "$HOME"'
  [ "$output" = /nonexistent ]
  R delete --force c5
}

@test "socket activation: LISTEN_PID is the container process's pid with LISTEN_FDS and --preserve-fds" {
  cfg '.process.env = ["PATH=/bin", "LISTEN_FDS=1"]'
  args sh -c 'echo "$LISTEN_PID $$"'
  run R run --preserve-fds 1 c1 3</dev/null
  [ "$status" -eq 0 ]
  set -- $output
  [ "$1" = "$2" ]
  # Without fds passed on, nothing is set.
  run R run c2
  [ "$output" = " 1" ]
}

@test "hooks: without env a hook gets the runtime's environment, with env exactly that" {
  cat > "$T/hook.sh" <<HOOK
#!/bin/sh
env > "$T/env.\$1"
HOOK
  chmod +x "$T/hook.sh"
  cfg ".hooks = {\"prestart\": [{\"path\": \"$T/hook.sh\", \"args\": [\"hook.sh\", \"none\"]}, {\"path\": \"$T/hook.sh\", \"args\": [\"hook.sh\", \"given\"], \"env\": [\"ONLY=this\"]}]}"
  args true
  BERTH_HOOK_PROBE=from-runtime R run c1
  grep -qx 'BERTH_HOOK_PROBE=from-runtime' "$T/env.none"
  [ "$(grep -v '^PWD=' "$T/env.given")" = "ONLY=this" ]
}

@test "delete: a created container goes as with runc (--strict-spec refuses); a running one needs --force; a frozen one is thawed first, in any freezer" {
  args sleep 1009
  R create c1
  [ "$(R state c1 | jq -r .status)" = created ]
  pid=$(R state c1 | jq -r .pid)
  # runtime-spec's MUST, kept under --strict-spec: an error, and no effect.
  run R --strict-spec delete c1
  [ "$status" -ne 0 ]
  [[ "$output" == *"it is created (use --force)"* ]]
  [ "$(R state c1 | jq -r .status)" = created ]
  kill -0 "$pid"
  # runc's way, which containerd and Docker count on: its init is killed.
  R delete c1
  [ ! -e "$STATE/c1" ]
  ! kill -0 "$pid" 2>/dev/null
  [ ! -e "$(cgroup_dir memory c1)" ]
  # A running one: refused without --force, untouched.
  R create c1
  R start c1
  pid=$(R state c1 | jq -r .pid)
  run R delete c1
  [ "$status" -ne 0 ]
  [[ "$output" == *"it is running (use --force)"* ]]
  kill -0 "$pid"
  R delete --force c1
  [ ! -e "$STATE/c1" ]
  ! kill -0 "$pid" 2>/dev/null
  # Paused (its own freezer), then --force.
  R create c2
  R start c2
  R pause c2
  R delete --force c2
  [ ! -e "$STATE/c2" ]
  [ ! -e "$(cgroup_dir memory c2)" ]
  # Moved into another freezer cgroup and frozen there.
  R create c3
  R start c3
  pid=$(R state c3 | jq -r .pid)
  if [ -d /sys/fs/cgroup/freezer ]; then
    fz=/sys/fs/cgroup/freezer/berth-test-$$
    mkdir "$fz"
    echo "$pid" > "$fz/cgroup.procs"
    echo FROZEN > "$fz/freezer.state"
  else
    fz=/sys/fs/cgroup/berth-test-$$
    mkdir "$fz"
    echo "$pid" > "$fz/cgroup.procs"
    echo 1 > "$fz/cgroup.freeze"
  fi
  grep -q . "$fz/cgroup.procs"
  run R delete --force c3
  rmdir "$fz" 2>/dev/null || { sleep 0.5; rmdir "$fz"; }
  [ "$status" -eq 0 ]
  [ ! -e "$STATE/c3" ]
  ! kill -0 "$pid" 2>/dev/null
  [ ! -e "$(cgroup_dir memory c3)" ]
}

@test "linux.devices' uid, gid and fileMode reach the node, with a user namespace too, and the host's node is untouched" {
  host_before=$(stat -c '%a %u:%g' /dev/null)
  own_rootfs
  chown -R 100000:100000 "$T/rootfs"
  cfg '.linux.namespaces += [{"type":"user"}] | .linux.uidMappings = [{"containerID":0,"hostID":100000,"size":65536}] | .linux.gidMappings = [{"containerID":0,"hostID":100000,"size":65536}]'
  cfg 'del(.mounts[] | select(.destination == "/sys/fs/cgroup")) | .linux.devices = [{"type":"c","path":"/dev/mynull","major":1,"minor":3,"fileMode":416,"uid":7,"gid":8}]'
  # Its owner (uid 7 in the container) may write it, another user not.
  cfg '.process.user = {"uid": 7, "gid": 8}'
  args sh -c 'stat -c "%F %t:%T %a %u:%g" /dev/mynull; echo hi > /dev/mynull && echo writable'
  run R run c1
  [ "$status" -eq 0 ]
  [ "${lines[0]}" = "character special file 1:3 640 7:8" ]
  [ "${lines[1]}" = writable ]
  cfg '.process.user = {"uid": 9, "gid": 9}'
  args sh -c 'echo hi > /dev/mynull || echo denied'
  run R run c2
  [[ "$output" == *denied* ]]
  [ "$(stat -c '%a %u:%g' /dev/null)" = "$host_before" ]
  [ ! -e "$STATE/c1" ]
  ! grep -q "$STATE" /proc/self/mountinfo
}

@test "cwd: a missing one is made inside the root, never through a symlink out of it; a file is an error" {
  own_rootfs
  ln -s /tmp "$T/rootfs/escape"
  cfg '.process.cwd = "/made/here"'
  args pwd
  run R run c1
  [ "$status" -eq 0 ]
  [ "$output" = /made/here ]
  [ -d "$T/rootfs/made/here" ]
  # Through a symlink to an absolute path: made under the root's /tmp, not
  # the host's.
  cfg '.process.cwd = "/escape/berth-cwd-test-'$$'"'
  run R run c2
  [ "$status" -eq 0 ]
  [ -d "$T/rootfs/tmp/berth-cwd-test-$$" ]
  [ ! -e "/tmp/berth-cwd-test-$$" ]
  cfg '.process.cwd = "/etc/passwd"'
  run R run c3
  [ "$status" -ne 0 ]
  [[ "$output" == *"process.cwd"*"Not a directory"* ]]
  [ ! -e "$STATE/c3" ]
}
