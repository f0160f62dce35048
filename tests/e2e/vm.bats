#!/usr/bin/env bats
# VM isolation: the same images and commands, each container in its own
# QEMU guest with its own kernel.  Runs under TCG here (no usable KVM), so
# every boot costs a few seconds: the tests share VMs where they can.

load helpers
bats_require_minimum_version 1.5.0

BERTH=${BERTH:-$TOP/build/berth}
B() { "$BERTH" --root "$T/store" "$@"; }

setup() {
  T=$(mktemp -d /tmp/berth-vm.XXXXXX)
  chmod 755 "$T"
  STATE=$T/state
  BUNDLE=$T/bundle
}

teardown() {
  local id
  for id in $(B ps -aq --no-trunc 2>/dev/null); do B rm -f "$id" >/dev/null 2>&1 || true; done
  for id in $("$BERTH_RUNTIME" --root "$STATE" list -q 2>/dev/null); do
    "$BERTH_RUNTIME" --root "$STATE" delete --force "$id" >/dev/null 2>&1 || true
  done
  [ -n "${BG_PIDS:-}" ] && kill $BG_PIDS 2>/dev/null || true
  grep -o " $T[^ ]*" /proc/self/mountinfo | sort -r | while read -r m; do umount -l "$m" 2>/dev/null || true; done
  rm -rf "$T"
}

# No QEMU of this test's containers may be left.
no_vm_left() {
  local p
  for p in $(pgrep -f qemu-system); do
    ! ls -l /proc/$p/fd 2>/dev/null | grep -q "$T"
  done
  [ -z "$(ls -A "$T/store/runtime" 2>/dev/null)" ]
}

vm_pid() { B inspect "$1" | jq -r '.[0].VM.Pid'; }

# A guest kernel directory at DIR whose /init is not berth-agent but a
# hostile stand-in that, on the agent's port, does MODE: flood (random
# bytes), oversized (a frame announcing 2 GiB), outoforder (an answer to
# create before it said ready), silent (nothing).
hostile_guest() { # dir mode
  local r="$T/hostile-root"
  rm -rf "$r" && mkdir -p "$r" "$1"
  (cd "$r" && cpio -id --quiet < "$TOP/build/vm/initrd.img")
  mkdir -p "$r/bin" && cp "$(command -v busybox)" "$r/bin/busybox"
  cat > "$r/init" <<EOF
#!/bin/busybox sh
/bin/busybox mount -t proc proc /proc
/bin/busybox mount -t sysfs sys /sys
/bin/busybox mount -t devtmpfs dev /dev
for m in \$(/bin/busybox cat /lib/modules/order); do /bin/busybox insmod /lib/modules/\$m; done
port=
while [ -z "\$port" ]; do
  for p in /sys/class/virtio-ports/*; do
    [ "\$(/bin/busybox cat \$p/name 2>/dev/null)" = berth.agent ] && port=/dev/\${p##*/}
  done
  /bin/busybox sleep 0.1
done
case $2 in
  flood) exec /bin/busybox cat /dev/urandom > \$port ;;
  oversized) /bin/busybox printf 'B\\001\\000\\000\\000\\000\\000\\000\\377\\377\\377\\177' > \$port ;;
  outoforder) /bin/busybox printf 'B\\014\\000\\000\\000\\000\\000\\000\\002\\000\\000\\000{}' > \$port ;;
esac
exec /bin/busybox sleep 100000
EOF
  chmod 755 "$r/init"
  (cd "$r" && find . | LC_ALL=C sort | cpio --quiet -o -H newc -R 0:0) > "$1/initrd.img"
  cp "$TOP/build/vm/vmlinux" "$1/"
  rm -rf "$r"
}

@test "vm: a hostile guest agent (a flood of bytes, an oversized frame, frames out of order, silence) fails its container, is killed, leaves nothing; others run on" {
  B run -d --name calm --isolation=vm --network none busybox sleep 1000
  for mode in flood oversized outoforder silent; do
    hostile_guest "$T/k-$mode" "$mode"
    t0=$(date +%s)
    run env BERTH_VM_DIR="$T/k-$mode" BERTH_VM_TEMPLATE=off BERTH_VM_BOOT_TIMEOUT=15 \
      "$BERTH" --root "$T/store" run --rm --isolation=vm --network none busybox echo never
    [ "$status" -eq 125 ]
    case $mode in
      flood) [[ "$output" == *"agent protocol: bad frame"* ]] ;;
      oversized) [[ "$output" == *"agent protocol"*"1048576"* ]] ;;
      outoforder) [[ "$output" == *"the VM's agent did not say ready"* ]] ;;
      silent) [[ "$output" == *"the VM did not answer within 15 s"* ]] ;;
    esac
    [[ "$output" != *never* ]]
    [ $(($(date +%s) - t0)) -lt 90 ]
    [ "$(B ps -a -q --no-trunc)" = "$(B inspect -f '{{.Id}}' calm)" ]
  done
  # Only calm's VM is left, and it still answers.
  [ "$(ls "$T/store/runtime")" = "$(B inspect -f '{{.Id}}' calm)" ]
  for p in $(pgrep -f qemu-system); do
    ! ls -l /proc/$p/fd 2>/dev/null | grep -q "$T/k-" || false
  done
  [ "$(B exec calm echo ok)" = ok ]
  B rm -f calm
  no_vm_left
}

@test "vm: kill -9 of the VM shim or of its virtiofsd: the container exits with the first cause as the reason, rm leaves nothing, others run on" {
  B run -d --name calm --isolation=vm --network none busybox sleep 1000
  mkdir "$T/vol"
  for who in virtiofsd shim; do
    B run -d --name "v-$who" --isolation=vm --network none -v "$T/vol:/vol" busybox sleep 1000
    q=$(vm_pid "v-$who")
    shim=$(awk '/^PPid/ {print $2}' "/proc/$q/status")
    case $who in
      virtiofsd) kill -9 "$(pgrep -P "$shim" -x virtiofsd)" ;;
      shim) kill -9 "$shim" ;;
    esac
    for i in $(seq 100); do [ "$(B inspect -f '{{.State.Status}}' "v-$who")" = exited ] && break; sleep 0.1; done
    [ "$(B inspect -f '{{.State.Status}}' "v-$who")" = exited ]
    case $who in
      virtiofsd) [ "$(B inspect -f '{{.State.Error}}' v-virtiofsd)" = "the VM's file server (virtiofsd) exited" ] ;;
      shim) [ "$(B inspect -f '{{.State.Error}}' v-shim)" = "the VM shim was killed by signal 9" ] ;;
    esac
    for i in $(seq 50); do kill -0 "$q" 2>/dev/null || break; sleep 0.1; done
    ! kill -0 "$q" 2>/dev/null
    B rm "v-$who"
  done
  [ "$(B exec calm echo ok)" = ok ]
  B rm -f calm
  no_vm_left
}

@test "vm: run --rm has the guest's kernel, the exit code, and leaves nothing" {
  run B run --rm --isolation=vm busybox sh -c 'uname -r; echo err >&2; exit 3'
  [ "$status" -eq 3 ]
  guest=$(basename "$(ls -d /var/cache/berth/guest-kernel/*-cloud-amd64 | tail -1)")
  [[ "$output" == *"$guest"* ]]
  [[ "$output" != *"$(uname -r)"* ]]
  [[ "$output" == *err* ]]
  [[ "$output" == *"TCG software emulation"* ]] || [ -c /dev/kvm ]
  [ -z "$(B ps -aq)" ]
  [ -z "$(ls -A "$T/store/runtime")" ]
  [ -z "$(ls -A "$T/store/containers")" ]
  # hyperv is docker's name for the same thing; 127 for a missing command.
  run -127 B run --rm --isolation=hyperv busybox /no/such/command
  # wait gives the exit code; attach feeds stdin and shows the output.
  B run -d --isolation=vm --name w1 busybox sh -c 'sleep 1; exit 6'
  run B wait w1
  [ "$output" = 6 ]
  B run -d -i --isolation=vm --name a1 busybox sh -c 'while read l; do echo "got $l"; done'
  run sh -c "printf 'one\n' | timeout 5 '$BERTH' --root '$T/store' attach a1"
  [[ "$output" == *"got one"* ]]
  B rm -f w1 a1
}

@test "vm: -d, logs, exec, top from the guest, and the host sees only the VM process" {
  B run -d --isolation=vm --name v1 busybox sh -c 'echo started; exec sleep 1001'
  [ "$(B inspect v1 | jq -r '.[0].Isolation')" = vm ]
  [[ "$(B ps)" == *" vm "*v1* ]]
  accel=$(B inspect v1 | jq -r '.[0].VM.Accelerator')
  [ "$accel" = tcg ] || [ "$accel" = kvm ]
  for i in $(seq 50); do [ "$(B logs v1)" = started ] && break; sleep 0.1; done
  run B logs v1
  [ "$output" = started ]
  run B exec v1 uname -r
  [ "$status" -eq 0 ]
  [ "$output" != "$(uname -r)" ]
  [ "$output" = "$(B inspect v1 | jq -r '.[0].VM.GuestKernel')" ]
  run -7 B exec v1 sh -c 'exit 7'
  run -127 B exec v1 nosuchcommand
  # exec -u by name (the image's /etc/passwd and /etc/group) and --env-file.
  [ "$(B exec -u nobody:tty v1 id)" = "uid=65534(nobody) gid=5(tty)" ]
  printf 'FROM_FILE=yes\n' > "$T/env"
  [ "$(B exec --env-file "$T/env" v1 sh -c 'echo $FROM_FILE')" = yes ]
  run B exec v1 sh -c 'echo $$; cat /proc/1/cmdline | tr "\0" " "'
  # top: the guest's processes with the guest's PIDs.
  run B top v1
  [ "$status" -eq 0 ]
  [[ "${lines[0]}" == *PID*CMD* ]]
  [[ "$output" == *"sleep 1001"* ]]
  # The host: no sleep, one VM process named for the container.
  ! pgrep -fx "sleep 1001"
  vp=$(vm_pid v1)
  [ "$(cat /proc/$vp/comm)" = "berth-vm-$(B inspect v1 | jq -r '.[0].Id' | cut -c1-6)" ]
  grep -q qemu-system /proc/$vp/cmdline
  run B stats --no-stream --format json v1
  [ "$(echo "$output" | jq '.[0].pids')" -ge 1 ]
  B stop -t 1 v1
  [ "$(B inspect v1 | jq -r '.[0].State.Status')" = exited ]
  ! kill -0 "$vp" 2>/dev/null
  B rm v1
  no_vm_left
}

@test "vm: the same test in process isolation finds the sleep at the PID top gave" {
  B run -d --name p1 busybox sleep 1002
  run B top p1
  pid=$(echo "$output" | awk '/sleep 1002/ {print $2}')
  [ -n "$pid" ]
  [ "$(pgrep -fx 'sleep 1002')" = "$pid" ]
  B rm -f p1
}

@test "vm: run -it gets a real tty in the guest with the terminal's size" {
  command -v script
  run -5 bash -c "printf 'tty; stty size; exit 5\n' | timeout 120 script -qec 'stty cols 91 rows 33; $BERTH --root $T/store run -it --rm --isolation=vm busybox sh' /dev/null"
  [[ "$output" == *"/dev/pts/"* ]]
  [[ "$output" == *"33 91"* ]]
  # exec -it likewise, in a running VM.
  B run -d --isolation=vm --name t1 busybox sleep 1007
  run -6 bash -c "printf 'stty size; exit 6\n' | timeout 60 script -qec 'stty cols 77 rows 22; $BERTH --root $T/store exec -it t1 sh' /dev/null"
  [[ "$output" == *"22 77"* ]]
}

@test "vm: a change of the caller's terminal size reaches the pty in the guest" {
  command -v script
  [ "$(resize_sizes "$T" --isolation=vm)" = "$(printf '24 80\n51 101')" ]
}

@test "vm: --memory sizes the VM and the guest cgroup; --cpus the VM's CPUs" {
  # The guest kernel from the host configuration.
  mkdir "$T/k" && ln -s "$TOP/build/vm/vmlinux" "$TOP/build/vm/initrd.img" "$T/k/"
  echo "{\"vm\": {\"kernel\": \"$T/k\"}}" > "$T/config.json"
  BERTH_CONFIG=$T/config.json B run -d --isolation=vm --init --memory 64m --cpus 1 --name m1 busybox sleep 1003
  [ "$(B inspect m1 | jq -r '.[0].VM.Kernel')" = "$T/k/vmlinux" ]
  [ "$(B inspect m1 | jq '.[0].VM.MemoryMiB')" -eq 192 ]
  [ "$(B inspect m1 | jq '.[0].VM.CPUs')" -eq 1 ]
  run B exec m1 cat /sys/fs/cgroup/memory.max
  [ "$output" = 67108864 ]
  run B exec m1 sh -c 'grep MemTotal /proc/meminfo'
  kb=$(echo "$output" | awk '{print $2}')
  [ "$kb" -gt 150000 ] && [ "$kb" -lt 200000 ]
  # The guest's free memory, for what it occupies of its RAM.
  run B stats --no-stream --format json m1
  free=$(echo "$output" | jq '.[0].guest_memory_free')
  used=$(echo "$output" | jq '.[0].guest_memory_used')
  [ "$free" -gt 0 ] && [ $((free + used)) -le $((192 << 20)) ]
  # The kernel QEMU loaded is no longer resident in QEMU once the guest is
  # up (45 MiB of this kernel's pages were, before the shim paged them out).
  rss=$(awk '/^[0-9a-f]+-[0-9a-f]+ / {f = ($NF ~ /\/vmlinux$/)} f && /^Rss:/ {s += $2} END {print s + 0}' \
        "/proc/$(vm_pid m1)/smaps")
  [ "$rss" -lt 8192 ]
  # --init in the VM: the guest's agent binary as berth-init forwards TERM.
  B stop -t 30 m1
  [ "$(B inspect m1 | jq '.[0].State.ExitCode')" -eq 143 ]
  B rm -f m1
  no_vm_left
}

@test "vm: an OOM kill in the guest's container cgroup is the host's OOMKilled and exit code 137" {
  run B run --isolation=vm --name oomv --memory 64m busybox sh -c 'exec dd if=/dev/zero of=/dev/null bs=128M count=1'
  [ "$status" -eq 137 ]
  [ "$(B inspect -f '{{.State.OOMKilled}} {{.State.ExitCode}}' oomv)" = "true 137" ]
  B run --isolation=vm --name finev busybox true
  [ "$(B inspect -f '{{.State.OOMKilled}}' finev)" = false ]
  B rm oomv finev
  no_vm_left
}

@test "vm: kill -9 of the VM process leaves an exited container with the reason" {
  B run -d --isolation=vm --name k1 busybox sleep 1004
  vp=$(vm_pid k1)
  kill -9 "$vp"
  for i in $(seq 50); do [ "$(B inspect k1 | jq -r '.[0].State.Status')" = exited ] && break; sleep 0.1; done
  [ "$(B inspect k1 | jq -r '.[0].State.Status')" = exited ]
  [[ "$(B inspect k1 | jq -r '.[0].State.Error')" == *"killed by signal 9"* ]]
  [ -z "$(ls -A "$T/store/runtime")" ]
  B rm k1
  no_vm_left
}

@test "vm: kill -9 of the monitor takes the VM down; a guest panic is reported" {
  B run -d --isolation=vm --name k2 busybox sleep 1005
  vp=$(vm_pid k2)
  kill -9 "$(B inspect k2 | jq -r '.[0].MonitorPid')"
  for i in $(seq 50); do kill -0 "$vp" 2>/dev/null || break; sleep 0.1; done
  ! kill -0 "$vp" 2>/dev/null
  [[ "$(B ps -a)" == *Exited*k2* ]]
  B rm k2
  run B run --isolation=vm --privileged --name k3 busybox sh -c 'echo c > /proc/sysrq-trigger; sleep 10'
  [ "$status" -eq 255 ]
  [[ "$(B inspect k3 | jq -r '.[0].State.Error')" == *"guest kernel panicked"* ]]
  B rm k3
  no_vm_left
}

@test "vm: volumes cross into the VM through virtiofs, read-only enforced by the host" {
  mkdir "$T/dir" && echo hostdata > "$T/dir/f"
  run B run --rm --isolation=vm -v "$T/dir:/data" busybox sh -c 'cat /data/f; echo fromguest > /data/g'
  [ "$status" -eq 0 ]
  [[ "$output" == *hostdata* ]]
  [ "$(cat "$T/dir/g")" = fromguest ]
  # A small file of any bytes is copied in.
  head -c 3000 /dev/urandom > "$T/bin.dat"
  run B run --rm --isolation=vm -v "$T/bin.dat:/bin.dat:ro" busybox md5sum /bin.dat
  [[ "$output" == *"$(md5sum < "$T/bin.dat" | cut -d' ' -f1)"* ]]
  # :ro holds even for a privileged container that remounts its side rw.
  run B run --rm --isolation=vm --privileged -v "$T/dir:/data:ro" busybox sh -c 'mount -o remount,rw /data; echo x > /data/h && echo wrote'
  [[ "$output" != *wrote* ]]
  [ ! -e "$T/dir/h" ]
  # A named volume, seeded from the image as in process mode.
  run B run --rm --isolation=vm -v vol1:/etc busybox sh -c 'cat /etc/hostname >/dev/null; echo kept > /etc/kept'
  [ "$status" -eq 0 ]
  run B run --rm -v vol1:/etc busybox cat /etc/kept
  [ "$output" = kept ]
  B volume rm vol1
  # The file server's mounts live and die with it.
  ! grep -q "$T/store/runtime" /proc/self/mountinfo
  ! pgrep -f "source=$T/store" >/dev/null
  no_vm_left
}

@test "vm: a host unix socket mapped with -v answers from inside the VM, in both modes" {
  python3 "$TOP/tests/e2e/pong.py" "$T/pong.sock" &
  BG_PIDS=$!
  for i in $(seq 50); do [ -e "$T/pong.sock.ready" ] && break; sleep 0.1; done
  mkdir "$T/bin" && cp "$TOP/build/tests/unixcat" "$T/bin/"
  for mode in vm process; do
    run bash -c "echo hello-$mode | $BERTH --root $T/store run --rm -i --isolation=$mode -v $T/pong.sock:/run/pong.sock -v $T/bin:/hbin:ro busybox /hbin/unixcat /run/pong.sock 2>/dev/null"
    [ "$status" -eq 0 ]
    [ "$output" = "pong: hello-$mode" ]
  done
  kill $BG_PIDS
  no_vm_left
}

@test "vm: what cannot cross into a VM is refused with the reason" {
  mkfifo "$T/fifo"
  run B run --rm --isolation=vm -v "$T/fifo:/fifo" busybox true
  [ "$status" -eq 125 ]
  [[ "$output" == *"FIFO cannot cross into a VM"* ]]
  run B run --rm --kernel /nonexistent busybox true
  [ "$status" -eq 125 ]
  [[ "$output" == *"--isolation=vm"* ]]
  run B run --rm --isolation=vm --kernel /nonexistent busybox true
  [ "$status" -eq 125 ]
  [[ "$output" == *"/nonexistent"* ]]
  run B run --rm --isolation=bogus busybox true
  [ "$status" -eq 125 ]
  [ -z "$(B ps -aq)" ]
  no_vm_left
  # The image's VM block image lives as long as the image (or a container
  # holding it) does.
  id=$(B create --isolation=vm busybox true 2>/dev/null)
  [ "$(ls "$T/store/vm-images" | wc -l)" -eq 1 ]
  B image prune -a -f
  [ "$(ls "$T/store/vm-images" | wc -l)" -eq 1 ]
  B rm "$id"
  B tag busybox again:1
  B rmi busybox again:1
  [ -z "$(ls "$T/store/vm-images")" ]
}

@test "vm: berth-runtime --isolation=vm runs an OCI bundle with runc's semantics" {
  mkdir -p "$BUNDLE"
  cp -a "$ROOTFS" "$BUNDLE/rootfs"
  (cd "$BUNDLE" && "$BERTH_RUNTIME" spec)
  cfg '.process.terminal = false | .process.args = ["sleep", "1006"]'
  R() { (cd "$BUNDLE" && "$BERTH_RUNTIME" --root "$STATE" "$@"); }
  R --isolation=vm create rt1
  [ "$(R state rt1 | jq -r .status)" = created ]
  R start rt1
  [ "$(R state rt1 | jq -r .status)" = running ]
  run R exec rt1 uname -r
  [ "$output" != "$(uname -r)" ]
  run -3 R exec rt1 sh -c 'exit 3'
  ! pgrep -fx "sleep 1006"
  R kill rt1 KILL
  for i in $(seq 50); do [ "$(R state rt1 | jq -r .status)" = stopped ] && break; sleep 0.1; done
  [ "$(R state rt1 | jq -r .status)" = stopped ]
  R delete rt1
  [ -z "$(ls -A "$STATE")" ]
  # The annotation asks for the same.
  cfg '.annotations = {"berth.isolation": "vm"} | .process.args = ["sh", "-c", "uname -r; exit 4"]'
  run -4 R run rt2
  [ "$output" != "$(uname -r)" ]
  [ -z "$(ls -A "$STATE")" ]
}

@test "vm: sysctls follow the same namespace rules, and apply to the guest" {
  # Refused before any VM starts: a sysctl of no namespace.
  run B run --rm --isolation=vm --sysctl vm.swappiness=10 busybox true
  [ "$status" -ne 0 ]
  [[ "$output" == *'linux.sysctl["vm.swappiness"]: not in a separate kernel namespace'* ]]
  no_vm_left
  # A namespaced one reaches the guest's kernel (the container shares the
  # VM's network namespace in the guest), not the host's.
  host=$(cat /proc/sys/net/ipv4/tcp_fin_timeout)
  run B run --rm --isolation=vm --sysctl net.ipv4.tcp_fin_timeout=17 --sysctl kernel.shmmni=1234 busybox \
    sh -c 'cat /proc/sys/net/ipv4/tcp_fin_timeout /proc/sys/kernel/shmmni'
  [ "$status" -eq 0 ]
  # (after the TCG warning, where there is one)
  [ "${lines[-2]}" = 17 ]
  [ "${lines[-1]}" = 1234 ]
  [ "$(cat /proc/sys/net/ipv4/tcp_fin_timeout)" = "$host" ]
  no_vm_left
}

@test "vm: --shm-size, --dns*, --add-host host-gateway, --group-add and --log-opt apply in the guest" {
  run B run --rm --isolation=vm --shm-size 96m --dns 1.1.1.1 --dns-search corp.example --dns-option ndots:3 \
    --add-host gw:host-gateway --group-add tty --log-opt max-size=8k busybox \
    sh -c 'df -k /dev/shm | awk "NR==2 {print \$2}"; cat /etc/resolv.conf; grep -w gw /etc/hosts; id -G; ping -c1 -W5 gw >/dev/null && echo reached'
  [ "$status" -eq 0 ]
  [[ "$output" == *$'98304\nsearch corp.example\nnameserver 1.1.1.1\noptions ndots:3\n'* ]]
  gw=$(B network inspect -f '{{.Gateway}}' bridge)
  [[ "$output" == *"$(printf '%s\tgw' "$gw")"* ]]
  [[ "$output" == *$'\n0 5\nreached'* ]]
  no_vm_left
}

@test "vm: seccomp in the guest denies what it denies in process isolation: docker's default, a profile of one's own (compiled by the host), one with flags (built in the guest), unconfined" {
  # A profile the host compiles for the guest (no flags, no notify).
  cat > "$T/deny.json" <<'EOF'
{"defaultAction":"SCMP_ACT_ALLOW","architectures":["SCMP_ARCH_X86_64"],
 "syscalls":[{"names":["mkdir","mkdirat"],"action":"SCMP_ACT_ERRNO","errnoRet":1},
             {"names":["getcwd"],"action":"SCMP_ACT_ERRNO","errnoRet":13}]}
EOF
  jq '.flags = ["SECCOMP_FILTER_FLAG_LOG"]' "$T/deny.json" > "$T/flagged.json"
  probe='mkdir /tmp/x 2>&1; /bin/pwd 2>&1; grep Seccomp: /proc/self/status; echo done'
  for iso in process vm; do
    run B run --rm --isolation=$iso --security-opt seccomp="$T/deny.json" busybox sh -c "$probe"
    [ "$status" -eq 0 ]
    [[ "$output" == *"can't create directory '/tmp/x': Operation not permitted"* ]]
    [[ "$output" == *"getcwd: Permission denied"* ]] # its errno 13
    [[ "$output" == *$'Seccomp:\t2\ndone'* ]]
    eval "deny_$iso=\$output"
    run B run --rm --isolation=$iso --security-opt seccomp="$T/flagged.json" busybox sh -c "$probe"
    [ "$status" -eq 0 ]
    [[ "$output" == *"can't create directory '/tmp/x': Operation not permitted"* ]]
    [[ "$output" == *"getcwd: Permission denied"* ]]
    # docker's default profile: a filter, which lets mkdir and getcwd be.
    run B run --rm --isolation=$iso busybox sh -c "$probe"
    [ "$status" -eq 0 ]
    [[ "$output" == *$'/\nSeccomp:\t2\ndone'* ]]
    [[ "$output" != *"can't create directory"* ]]
    run B run --rm --isolation=$iso --security-opt seccomp=unconfined busybox sh -c "$probe"
    [[ "$output" == *$'Seccomp:\t0\ndone'* ]]
  done
  # The VM's warning aside, the same words.
  [ "$(grep -v 'TCG' <<<"$deny_vm")" = "$deny_process" ]
  no_vm_left
}

@test "vm: pause stops the whole VM, unpause resumes it; stop still ends it" {
  B run -d --name vp --isolation=vm --network none busybox sh -c 'trap "exit 7" TERM; while true; do echo tick; sleep 0.1; done'
  for i in $(seq 100); do [ -n "$(B logs vp)" ] && break; sleep 0.1; done
  q=$(vm_pid vp)
  B pause vp
  # QEMU itself is stopped: every vCPU and device thread.
  [ "$(awk '/^State:/ {print $2}' /proc/$q/status)" = T ]
  [ "$(B ps --filter status=paused --format '{{.Names}}')" = vp ]
  n=$(B logs vp | wc -l)
  sleep 1
  [ "$(B logs vp | wc -l)" = "$n" ]
  run B exec vp true
  [[ "$output" == *"it is paused"* ]]
  run B top vp
  [[ "$output" == *"is paused"* ]]
  B unpause vp
  [ "$(awk '/^State:/ {print $2}' /proc/$q/status)" != T ]
  [ "$(B exec vp echo alive 2>/dev/null)" = alive ]
  for i in $(seq 100); do [ "$(B logs vp | wc -l)" -gt "$n" ] && break; sleep 0.1; done
  [ "$(B logs vp | wc -l)" -gt "$n" ]
  B pause vp
  B stop vp
  [ "$(B inspect -f '{{.State.ExitCode}}' vp)" = 7 ]
  B rm vp
  no_vm_left
}

@test "vm: update changes the limits of the container's cgroup in the guest; not beyond the VM" {
  B run -d --name vu --isolation=vm --network none busybox sleep 1000
  # The device filter (the one the template's agent loaded ahead): /dev/null
  # opens, /dev/mem does not, even made by the container itself.
  devices='mknod /tmp/n c 1 3 && echo x > /tmp/n && echo null-ok; mknod /tmp/m c 1 1 && head -c1 /tmp/m; rm -f /tmp/n /tmp/m'
  run B exec vu sh -c "$devices"
  [[ "$output" == *null-ok*"/tmp/m: Operation not permitted"* ]]
  B update -m 100m --pids-limit 30 --cpus 0.5 vu
  [ "$(B exec vu cat /sys/fs/cgroup/memory.max /sys/fs/cgroup/pids.max /sys/fs/cgroup/cpu.max 2>/dev/null | tr '\n' ' ')" = "104857600 30 50000 100000 " ]
  run B exec vu sh -c "$devices"
  [[ "$output" == *null-ok*"/tmp/m: Operation not permitted"* ]]
  [ "$(B inspect -f '{{.HostConfig.Memory}}' vu)" = 104857600 ]
  run B update -m 1g vu
  [ "$status" -eq 1 ]
  [[ "$output" == *"more than the VM's"* ]]
  B rm -f vu
  no_vm_left
}

@test "vm: a restart policy brings a VM container back in a new VM" {
  B run -d --name vr --isolation=vm --restart on-failure:1 --network none busybox sh -c 'exit 3'
  for i in $(seq 300); do [ "$(B inspect -f '{{.State.RestartCount}} {{.State.Status}}' vr)" = "1 exited" ] && break; sleep 0.1; done
  [ "$(B inspect -f '{{.State.RestartCount}} {{.State.Status}} {{.State.ExitCode}}' vr)" = "1 exited 3" ]
  [ "$(B events --until 0s --filter container=vr --filter event=start --format '{{.Action}}' | wc -l)" = 2 ]
  B rm vr
  no_vm_left
}

@test "vm: a health check runs as an exec in the guest" {
  B run -d --name vh --isolation=vm --network none --health-cmd 'test -e /tmp/ok' --health-interval 500ms \
    --health-retries 1 busybox sleep 1000
  for i in $(seq 200); do [ "$(B inspect -f '{{.State.Health.Status}}' vh)" = unhealthy ] && break; sleep 0.1; done
  [ "$(B inspect -f '{{.State.Health.Status}}' vh)" = unhealthy ]
  B exec vh touch /tmp/ok 2>/dev/null
  for i in $(seq 200); do [ "$(B inspect -f '{{.State.Health.Status}}' vh)" = healthy ] && break; sleep 0.1; done
  [ "$(B inspect -f '{{.State.Health.Status}}' vh)" = healthy ]
  B rm -f vh
  no_vm_left
}

@test "vm: cp, export, diff and commit of a running VM container go through its guest, never through a symlink out; its changes outlive a stop" {
  B run -d --name vf --isolation=vm --network none busybox sh -c \
    'echo hello > /new.txt; rm /bin/vi; mkdir -p /tmp/d; echo x > /tmp/d/f; ln -s /.. /up; sleep 1000'
  for i in $(seq 100); do B exec vf test -L /up 2>/dev/null && break; sleep 0.2; done
  # diff: docker's A/C/D lines, from the guest's writable layer (none
  # for the files berth mounts over /etc).
  run B diff vf
  [[ "$output" != *"/etc"* ]]
  [[ "$output" == *"A /new.txt"* ]]
  [[ "$output" == *"C /bin"* ]]
  [[ "$output" == *"D /bin/vi"* ]]
  [[ "$output" == *"A /tmp/d/f"* ]]
  # cp out: a file to a new name, a directory, a tar on stdout; a path
  # through the symlink resolves inside the container's root.
  B cp vf:/new.txt "$T/out.txt"
  [ "$(cat "$T/out.txt")" = hello ]
  mkdir "$T/outdir"
  B cp vf:/tmp/d "$T/outdir"
  [ "$(cat "$T/outdir/d/f")" = x ]
  [ "$(B cp vf:/up/new.txt - | tar -xO)" = hello ]
  run B cp vf:/nowhere -
  [ "$status" -ne 0 ]
  [[ "$output" == *"could not find the file /nowhere"* ]]
  # cp in: into a directory, to a new name, a tar stream, through the
  # symlink (it stays in the root).
  echo "from host" > "$T/in.txt"
  B cp "$T/in.txt" vf:/tmp/
  [ "$(B exec vf cat /tmp/in.txt)" = "from host" ]
  B cp "$T/in.txt" vf:/renamed.txt
  [ "$(B exec vf cat /renamed.txt)" = "from host" ]
  tar -C "$T" -c in.txt | B cp - vf:/tmp/d
  [ "$(B exec vf cat /tmp/d/in.txt)" = "from host" ]
  B cp "$T/in.txt" vf:/up/up/planted.txt
  [ "$(B exec vf cat /planted.txt)" = "from host" ]
  run B cp "$T/in.txt" vf:/nowhere/x
  [ "$status" -ne 0 ]
  # export: the guest's view of its root, without /proc.
  B export -o "$T/fs.tar" vf
  tar -tf "$T/fs.tar" > "$T/fs.list"
  grep -qx new.txt "$T/fs.list"
  grep -qx bin/busybox "$T/fs.list"
  ! grep -q '^proc/.' "$T/fs.list"
  ! grep -qx bin/vi "$T/fs.list"
  # commit: the guest's layer (whiteouts included), the container frozen
  # in the guest meanwhile and running again after.
  B commit -c 'CMD ["cat","/new.txt"]' vf vfcommitted:1
  [ "$(B run --rm --network none vfcommitted:1)" = hello ]
  [ "$(B run --rm --network none vfcommitted:1 sh -c 'test -e /bin/vi || echo no-vi')" = no-vi ]
  [ "$(B exec vf cat /new.txt)" = hello ]
  [ "$(B inspect -f '{{.State.Status}}' vf)" = running ]
  B rmi vfcommitted:1
  # Its writable layer is guest memory: kept on the host when it stops
  # (SIGKILLed here), as docker keeps a stopped container's files.
  # A directory replaced whole (opaque in the guest's layer) stays so.
  B exec vf sh -c 'rm -rf /usr/sbin && mkdir /usr/sbin && echo only > /usr/sbin/only'
  B stop -t 0 vf
  [ "$(B inspect -f '{{.State.Status}}' vf)" = exited ]
  run B diff vf
  [[ "$output" == *"A /new.txt"* ]]
  [[ "$output" == *"D /bin/vi"* ]]
  [[ "$output" == *"A /tmp/d/f"* ]]
  [[ "$output" == *"A /planted.txt"* ]]
  [ "$(B cp vf:/new.txt - | tar -xO)" = hello ]
  B export vf | tar -t > "$T/fs2.list"
  grep -qx new.txt "$T/fs2.list"
  ! grep -qx bin/vi "$T/fs2.list"
  B commit vf vfstopped:1
  [ "$(B run --rm --network none vfstopped:1 sh -c 'cat /new.txt; test -e /bin/vi || echo no-vi')" = "hello
no-vi" ]
  B rmi vfstopped:1
  # cp into the stopped container; its next start boots them all.
  echo "while stopped" > "$T/in2.txt"
  B cp "$T/in2.txt" vf:/tmp/in2.txt
  B start vf
  [ "$(B exec vf sh -c 'cat /new.txt /tmp/in2.txt; test -e /bin/vi || echo no-vi; ls /usr/sbin')" = "hello
while stopped
no-vi
only" ]
  # This run's changes on the kept ones: diff and commit see both.
  B exec vf sh -c 'echo second > /second.txt; rm /renamed.txt'
  run B diff vf
  [[ "$output" == *"A /second.txt"* ]]
  [[ "$output" == *"A /tmp/in2.txt"* ]]
  [[ "$output" == *"D /bin/vi"* ]]
  [[ "$output" != *"/renamed.txt"* ]]
  B commit vf vfsecond:1
  [ "$(B run --rm --network none vfsecond:1 sh -c 'cat /second.txt /tmp/in2.txt; ls /renamed.txt /bin/vi 2>&1 | wc -l')" = "second
while stopped
2" ]
  B rmi vfsecond:1
  B rm -f vf
  # A container that ends on its own keeps its changes the same way.
  B run --name ve --isolation=vm --network none busybox sh -c 'echo done > /done.txt'
  [ "$(B cp ve:/done.txt - | tar -xO)" = done ]
  [ "$(B diff ve | grep done)" = "A /done.txt" ]
  B rm ve
  no_vm_left
}

@test "vm: QEMU runs jailed: its own uid, no capabilities, its own namespaces, root and cgroup" {
  echo top-secret > "$T/secret"
  chmod 644 "$T/secret"
  B run -d --isolation=vm --name j1 busybox sleep 1000
  B run -d --isolation=vm --memory 64m --name j2 busybox sleep 1000
  q1=$(vm_pid j1) q2=$(vm_pid j2)
  uid() { awk '/^Uid:/ {print $2}' "/proc/$1/status"; }
  [ "$(uid "$q1")" -ne 0 ] && [ "$(uid "$q2")" -ne 0 ]
  [ "$(uid "$q1")" -ne "$(uid "$q2")" ]
  [ "$(B inspect j1 | jq -r '.[0].VM.JailUid')" = "$(uid "$q1")" ]
  for q in $q1 $q2; do
    grep -q "^CapEff:[[:space:]]*0000000000000000$" "/proc/$q/status"
    grep -q "^CapBnd:[[:space:]]*0000000000000000$" "/proc/$q/status"
    grep -q "^NoNewPrivs:[[:space:]]*1$" "/proc/$q/status"
    grep -q "^Seccomp:[[:space:]]*2$" "/proc/$q/status"
    for ns in pid ipc mnt net; do
      [ "$(readlink "/proc/$q/ns/$ns")" != "$(readlink "/proc/self/ns/$ns")" ]
    done
    # Its root is not the host's: no /etc, nothing of ours.
    [ "$(stat -L -c %i "/proc/$q/root")" != "$(stat -c %i /)" ] || [ ! -e "/proc/$q/root/etc" ]
    [ ! -e "/proc/$q/root/etc" ] && [ ! -e "/proc/$q/root$T" ] && [ ! -e "/proc/$q/root/var" ]
    [ -x "/proc/$q/root/usr/bin/qemu-system-x86_64" ]
    # A probe with its credentials in its namespaces: no host file it was
    # not handed; /usr it may read.
    u=$(uid "$q")
    ! nsenter -t "$q" -m -p -S "$u" -G "$u" cat "$T/secret" 2>/dev/null
    ! nsenter -t "$q" -m -p -S "$u" -G "$u" cat /etc/shadow 2>/dev/null
    nsenter -t "$q" -m -p -S "$u" -G "$u" cat /usr/share/qemu/bios-microvm.bin >/dev/null
    # The host's own files stay out of its reach even by the path QEMU had.
    ! ls -l "/proc/$q/fd" | grep -q "$T/secret"
  done
  # The shim, the one privileged piece, kept only CAP_KILL and the DAC ones.
  sp=$(B inspect j1 | jq -r '.[0].State.Pid')
  grep -q "^CapEff:[[:space:]]*0000000000000026$" "/proc/$sp/status"
  grep -q "^CapBnd:[[:space:]]*0000000000000026$" "/proc/$sp/status"
  grep -q "^NoNewPrivs:[[:space:]]*1$" "/proc/$sp/status"
  # A cgroup of its own: the guest's RAM plus QEMU's overhead, few pids.
  mem=$(B inspect j2 | jq '.[0].VM.MemoryMiB')
  cg=$(awk -F: '$2 == "memory" || $2 == "" {print $3; exit}' "/proc/$q2/cgroup")
  [[ "$cg" == /berth-vm/* ]]
  limit=$(cat "/sys/fs/cgroup/memory$cg/memory.limit_in_bytes" 2>/dev/null || cat "/sys/fs/cgroup$cg/memory.max")
  [ "$limit" -eq $(( (mem + 256) << 20 )) ]
  [ "$(B exec j1 echo ok)" = ok ]
  B rm -f j1 j2
  # Gone with the containers: QEMU, its cgroup.
  ! kill -0 "$q1" 2>/dev/null
  [ ! -e "/sys/fs/cgroup/memory$cg" ] && [ ! -e "/sys/fs/cgroup$cg" ]
  # The opt-out runs today's way, and says so.
  BERTH_VM_JAIL=off B run -d --isolation=vm --name j3 busybox sleep 1000
  [ "$(uid "$(vm_pid j3)")" -eq 0 ]
  [ "$(B inspect j3 | jq -r '.[0].VM.JailUid')" = null ]
  BERTH_VM_JAIL=off run B info
  [[ "$output" == *"VM Jail: off (BERTH_VM_JAIL)"* ]]
  run B info
  [[ "$output" == *"VM Jail: on: QEMU as uids"* ]]
  # A kernel QEMU's user cannot read is refused before anything starts.
  mkdir "$T/k"
  cp "$TOP/build/vm/vmlinux" "$TOP/build/vm/initrd.img" "$T/k/"
  chmod 600 "$T/k/vmlinux"
  run env BERTH_VM_DIR="$T/k" "$BERTH" --root "$T/store" run --rm --isolation=vm busybox true
  [ "$status" -ne 0 ]
  [[ "$output" == *"cannot be read by QEMU's unprivileged user"* ]]
  B rm -f j3
  no_vm_left
}
