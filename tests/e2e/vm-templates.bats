#!/usr/bin/env bats
# VM templates: a VM container's VM restored from a saved, booted VM
# instead of booting a kernel (src/lib/vm/template.c).  Every test has its
# own templates' directory, so that what it makes, breaks or removes is its
# own; the other VM suites share the build's (scripts/run-e2e.sh).

load helpers
bats_require_minimum_version 1.5.0

BERTH=${BERTH:-$TOP/build/berth}
B() { "$BERTH" --root "$T/store" "$@"; }

setup() {
  T=$(mktemp -d /tmp/berth-tpl.XXXXXX)
  chmod 755 "$T"
  STATE=$T/state
  BUNDLE=$T/bundle
  export BERTH_VM_TEMPLATES=$T/templates
  unset BERTH_VM_TEMPLATE BERTH_VM_APPEND BERTH_VM_CPU BERTH_QEMU BERTH_CONFIG
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

keys() { B vm template ls -q; }
start_of() { B inspect "$1" | jq -r '.[0].VM.Start'; }
qemu_of() { B inspect "$1" | jq -r '.[0].VM.Pid'; }

# Flips a byte of the first non-zero page of the template's RAM in an even
# (0) or odd (1) MiB: the two halves each thread of the copy checks.
corrupt_ram() { # ram parity
  python3 - "$1" "$2" <<'EOF'
import os, sys
fd, parity = os.open(sys.argv[1], os.O_RDWR), int(sys.argv[2])
off = os.lseek(fd, 0, os.SEEK_DATA)
while (off >> 20) % 2 != parity or os.pread(fd, 4096, off) == bytes(4096):
    off = os.lseek(fd, off + 4096, os.SEEK_DATA)
b = os.pread(fd, 1, off + 100)
os.pwrite(fd, bytes([b[0] ^ 0xff]), off + 100)
EOF
}

@test "templates: restored when one fits, made once, said in inspect and --debug; off boots cold" {
  run B --debug run --rm --isolation=vm busybox sh -c 'echo hello'
  [ "$status" -eq 0 ]
  [[ "$output" == *hello* ]]
  [[ "$output" == *"restored from template"* ]]
  [ "$(keys | wc -l)" -eq 1 ]
  key=$(keys)
  # What the directory holds: the device state, the sparse RAM, meta.json.
  [ -s "$T/templates/$key/state" ] && [ -s "$T/templates/$key/meta.json" ]
  [ "$(stat -c %s "$T/templates/$key/ram")" -eq $((256 << 20)) ]
  [ "$(du -k "$T/templates/$key/ram" | cut -f1)" -lt $((200 << 10)) ]
  B run -d --isolation=vm --name t1 busybox sleep 1000
  [ "$(start_of t1)" = template ]
  [ "$(B inspect t1 | jq -r '.[0].VM.Template')" = "$key" ]
  [ "$(B exec t1 sh -c 'echo 6*7 | bc 2>/dev/null || expr 6 \* 7')" = 42 ]
  [ "$(keys)" = "$key" ]
  # Off, by the environment or the host config: booted, and why.
  run env BERTH_VM_TEMPLATE=off "$BERTH" --root "$T/store" --debug run --rm --isolation=vm busybox true
  [ "$status" -eq 0 ]
  [[ "$output" == *"boots cold: templates are off (BERTH_VM_TEMPLATE)"* ]]
  echo '{"vm": {"template": "off"}}' > "$T/config.json"
  BERTH_CONFIG=$T/config.json B run -d --isolation=vm --name c1 busybox sleep 1000
  [ "$(start_of c1)" = cold ]
  [[ "$(B inspect c1 | jq -r '.[0].VM.ColdBootReason')" == *"the host config's vm.template"* ]]
  BERTH_CONFIG=$T/config.json run B info
  [[ "$output" == *"VM Templates: off ($T/templates)"* ]]
  # Directories shared from the host need virtiofs, which QEMU cannot save.
  mkdir "$T/vol" && echo v > "$T/vol/f"
  run B --debug run --rm --isolation=vm -v "$T/vol:/v" busybox cat /v/f
  [ "$status" -eq 0 ]
  [[ "$output" == *"boots cold: it shares host directories"* ]]
  # Listed and removed by key.
  run B vm template ls
  [[ "$output" == *"$key"*"256M"* ]]
  B vm template rm "$key"
  [ -z "$(keys)" ]
  # Its lock file with it (a waiter re-locks the path's new one).
  [ ! -e "$T/templates/$key.lock" ]
  run -1 B vm template rm "$key"
  [[ "$output" == *"no template"* ]]
  run -1 B vm template rm ../etc
  [[ "$output" == *"not a template key"* ]]
  # The running clone did not need it.
  [ "$(B exec t1 echo still)" = still ]
}

@test "templates: concurrent first runs from two roots make exactly one" {
  # Each root's image ready first (its VM image is built on first use).
  for r in store0 store1; do
    BERTH_VM_TEMPLATE=off "$BERTH" --root "$T/$r" run --rm --isolation=vm --network none busybox true
  done
  [ -z "$(keys)" ]
  for i in 1 2 3; do
    "$BERTH" --root "$T/store$((i % 2))" run --rm --isolation=vm --network none busybox sh -c "exit $i" &
    eval "p$i=$!"
  done
  for i in 1 2 3; do
    rc=0
    eval "wait \$p$i" || rc=$?
    [ "$rc" -eq "$i" ]
  done
  [ "$(keys | wc -l)" -eq 1 ]
  # No half-made template left behind.
  [ -z "$(ls "$T/templates" | grep -v -e '\.lock$' -e "^$(keys)\$")" ]
  for r in store0 store1; do [ -z "$(ls -A "$T/$r/runtime")" ]; done
  rm -rf "$T/store0" "$T/store1"
}

@test "templates: every clone is its own machine (entropy, MAC, hostname, clock)" {
  # A CPU without RDRAND: only the host's entropy can tell clones apart.
  export BERTH_VM_CPU=qemu64
  B run --rm --isolation=vm busybox true
  # The template's clock is now behind: a clone must not keep it.
  sleep 3
  before=$(date +%s)
  first='head -c 16 /dev/urandom | od -An -tx1; cat /sys/class/net/eth0/address; hostname; date +%s; sleep 1000'
  B run -d --isolation=vm --name n1 busybox sh -c "$first"
  B run -d --isolation=vm --name n2 --hostname other busybox sh -c "$first"
  after=$(date +%s)
  for n in n1 n2; do
    [ "$(start_of $n)" = template ]
    for i in $(seq 50); do [ "$(B logs $n | wc -l)" -ge 4 ] && break; sleep 0.1; done
  done
  a=$(B logs n1) b=$(B logs n2)
  echo "$a" && echo "$b"
  [ "$(sed -n 1p <<<"$a")" != "$(sed -n 1p <<<"$b")" ]
  [ "$(sed -n 2p <<<"$a")" != "$(sed -n 2p <<<"$b")" ]
  # Not the template's NIC's (QEMU's default, as it was made).
  [ "$(sed -n 2p <<<"$a")" != 52:54:00:12:34:56 ]
  [ "$(sed -n 3p <<<"$b")" = other ]
  [ "$(sed -n 3p <<<"$a")" != other ]
  for out in "$a" "$b"; do
    t=$(sed -n 4p <<<"$out")
    [ "$t" -ge $((before - 1)) ] && [ "$t" -le $((after + 1)) ]
  done
  [ "$(keys | wc -l)" -eq 1 ]
}

@test "templates: a clone cannot write the template; private clones share no page" {
  B run -d --isolation=vm --network none --name p1 busybox sleep 1000
  B run -d --isolation=vm --network none --name p2 busybox sleep 1000
  key=$(keys)
  q1=$(qemu_of p1) q2=$(qemu_of p2)
  # The private default: neither QEMU holds the template's files, and each
  # RAM is a memfd of its own.
  for q in $q1 $q2; do
    ! ls -l "/proc/$q/fd" | grep -q "$T/templates"
    ! grep -q "$T/templates" "/proc/$q/maps"
  done
  ino() { stat -L -c %i "/proc/$1/fd/$(ls -l "/proc/$1/fd" | awk '/memfd:berth-vm-ram/ {print $9; exit}')"; }
  [ "$(ino "$q1")" != "$(ino "$q2")" ]
  # Under TCG no transparent huge pages for QEMU (a translation buffer
  # resident in whole 2 MiB pages); under KVM they back the guest's RAM.
  thp=1
  B info | grep -q '^VM Accelerator: tcg' && thp=0
  grep -q "^THP_enabled:[[:space:]]*$thp\$" "/proc/$q1/status"
  # Shared (opt-in): one sealed memfd for both, which no writer can change,
  # QEMU's side included.
  export BERTH_VM_TEMPLATE=shared
  B run -d --isolation=vm --network none --name s1 busybox sleep 1000
  B run -d --isolation=vm --network none --name s2 busybox sleep 1000
  [ "$(keys)" = "$key" ]
  [ "$(B inspect s2 | jq -r '.[0].VM.TemplateMemory')" = shared ]
  s1=$(qemu_of s1) s2=$(qemu_of s2)
  [ "$(ino "$s1")" = "$(ino "$s2")" ]
  fd=$(ls -l "/proc/$s1/fd" | awk '/memfd:berth-vm-ram/ {print $9; exit}')
  run python3 -c "
import os
fd = os.open('/proc/$s1/fd/$fd', os.O_RDWR)
try:
    os.pwrite(fd, b'x', 4096)
    print('written')
except PermissionError:
    print('refused')
try:
    os.ftruncate(fd, 0)
    print('truncated')
except PermissionError:
    print('refused')
"
  [ "${lines[0]}" = refused ] && [ "${lines[1]}" = refused ]
  [ "$(B exec s2 echo ok)" = ok ]
}

@test "templates: a changed input makes a new one; a corrupt, truncated or foreign one is rebuilt" {
  mkdir "$T/vm"
  cp "$TOP/build/vm/vmlinux" "$TOP/build/vm/initrd.img" "$T/vm/"
  export BERTH_VM_DIR=$T/vm
  B run --rm --isolation=vm --network none busybox true
  k1=$(keys)
  # Another kernel command line: another template beside it.
  BERTH_VM_APPEND=loglevel=3 B run --rm --isolation=vm --network none busybox true
  [ "$(keys | wc -l)" -eq 2 ]
  k2=$(keys | grep -v "$k1")
  B vm template rm "$k2"
  # A rewritten initramfs at the same path: a new template replaces the old.
  cp "$T/vm/initrd.img" "$T/vm/initrd.new" && mv "$T/vm/initrd.new" "$T/vm/initrd.img"
  B run --rm --isolation=vm --network none busybox true
  [ "$(keys | wc -l)" -eq 1 ]
  k=$(keys)
  [ "$k" != "$k1" ]
  # Removed and superseded ones leave no lock file.
  [ "$(cd "$T/templates" && ls -- *.lock)" = "$k.lock" ]
  # One byte of RAM changed, in either half: found, rebuilt, and the
  # container runs.
  for parity in 0 1; do
    corrupt_ram "$T/templates/$k/ram" "$parity"
    run B --debug run --rm --isolation=vm --network none busybox echo ran
    [ "$status" -eq 0 ]
    [[ "$output" == *"VM template $k: its RAM's digest is"*"not what meta.json says: removed: trying again"* ]]
    [[ "$output" == *"restored from template $k"* ]]
    [[ "$output" == *ran* ]]
    [ "$(keys)" = "$k" ]
  done
  # A truncated state.
  truncate -s 1000 "$T/templates/$k/state"
  run B --debug run --rm --isolation=vm --network none busybox echo ran
  [ "$status" -eq 0 ]
  [[ "$output" == *"cannot be used (its state is 1000 bytes"* ]]
  # A foreign one: made for other inputs.
  jq '.inputs.memory_mib = 512' "$T/templates/$k/meta.json" > "$T/m" && mv "$T/m" "$T/templates/$k/meta.json"
  run B --debug run --rm --isolation=vm --network none busybox echo ran
  [ "$status" -eq 0 ]
  [[ "$output" == *"cannot be used (it was made for another machine"* ]]
  [ "$(keys)" = "$k" ]
  B run --rm --isolation=vm --network none busybox true
}

@test "templates: QEMU dying in the restore fails the container and leaves nothing; a full disk makes no half template" {
  # A QEMU that dies while it restores (SIGKILL, 0.1 s in, well before a
  # restore under TCG ends, ~0.3 s: the wrapper is PID 1 of QEMU's jail,
  # QEMU its child); it makes the template normally.
  cat > "$T/qemu" <<EOF
#!/bin/sh
case " \$* " in
  *" -incoming "*) qemu-system-x86_64 "\$@" & q=\$!; sleep 0.1; kill -9 \$q; wait; exit 137 ;;
esac
exec qemu-system-x86_64 "\$@"
EOF
  chmod +x "$T/qemu"
  export BERTH_QEMU=$T/qemu
  run B run --rm --isolation=vm --network none busybox sleep 5
  [ "$status" -ne 0 ]
  [[ "$output" == *"from template"* ]]
  [ -z "$(B ps -aq)" ]
  [ -z "$(ls -A "$T/store/runtime")" ]
  ! pgrep -f "qemu-system.*berth-vm" | xargs -r -I{} ls -l /proc/{}/fd 2>/dev/null | grep -q "$T"
  unset BERTH_QEMU
  # A disk too small for the template: the container boots cold, and the
  # directory holds no part of one.
  mkdir "$T/small"
  mount -t tmpfs -o size=8m tmpfs "$T/small"
  run env BERTH_VM_TEMPLATES="$T/small" "$BERTH" --root "$T/store" --debug run --rm --isolation=vm --network none busybox echo ran
  [ "$status" -eq 0 ]
  [[ "$output" == *ran* ]]
  [[ "$output" == *"boots cold: no usable template"*"No space left on device"* ]]
  [ -z "$(ls -A "$T/small")" ]
  umount "$T/small"
}

@test "templates: berth-runtime and pods restore too" {
  mkdir -p "$BUNDLE"
  cp -a "$ROOTFS" "$BUNDLE/rootfs"
  (cd "$BUNDLE" && "$BERTH_RUNTIME" spec)
  cfg '.process.terminal = false | .process.args = ["sleep", "1000"]'
  R() { (cd "$BUNDLE" && "$BERTH_RUNTIME" --root "$STATE" "$@"); }
  R --debug --log "$T/log.json" --log-format json --isolation=vm create pod1
  grep '"level":"debug"' "$T/log.json" | grep -q "restored from template"
  R start pod1
  # A member joins the pod's VM: no second QEMU.
  cfg '.annotations = {"berth.vm.pod": "pod1"} | .process.args = ["sh", "-c", "echo member; exit 5"]'
  R --isolation=vm create m1
  R start m1
  for i in $(seq 50); do [ "$(R state m1 | jq -r .status)" = stopped ] && break; sleep 0.1; done
  [ "$(R state m1 | jq -r .status)" = stopped ]
  [ "$(pgrep -fc 'process=berth-vm-pod1')" -eq 1 ]
  R delete m1
  R kill pod1 KILL
  for i in $(seq 50); do [ "$(R state pod1 | jq -r .status)" = stopped ] && break; sleep 0.1; done
  R delete pod1
  [ -z "$(ls -A "$STATE")" ]
  [ "$(keys | wc -l)" -eq 1 ]
}

@test "templates: a clone's disk is read as its own, not the placeholder's; a disk larger than the placeholder boots cold" {
  # The clone's kernel kept the size its driver read of the template's
  # placeholder (1 TiB of zeros): a clone reads its own image, whatever its
  # size below that.
  run B run --rm --isolation=vm busybox sh -c 'head -c 4 /bin/busybox | od -An -c; cat /sys/block/vda/size'
  [ "$status" -eq 0 ]
  [[ "$output" == *"177   E   L   F"* ]]
  [[ "$output" == *2147483648* ]] # 1 TiB in sectors: the placeholder's
  # An image one byte over 1 TiB (sparse: an erofs and zeros after it).
  mkdir -p "$BUNDLE"
  cp -a "$ROOTFS" "$BUNDLE/rootfs"
  mkfs.erofs --quiet "$T/big.erofs" "$ROOTFS"
  truncate -s $(( (1 << 40) + 4096 )) "$T/big.erofs"
  chmod 644 "$T/big.erofs"
  (cd "$BUNDLE" && "$BERTH_RUNTIME" spec)
  cfg ".process.terminal = false | .process.args = [\"sh\", \"-c\", \"cat /etc/passwd | head -1\"] | .annotations = {\"berth.vm.image\": \"$T/big.erofs\"}"
  R() { (cd "$BUNDLE" && "$BERTH_RUNTIME" --root "$STATE" "$@"); }
  run R --debug --log "$T/log.json" --log-format json --isolation=vm run big
  [ "$status" -eq 0 ]
  [[ "$output" == *"root:x:0:0"* ]]
  grep '"level":"debug"' "$T/log.json" | grep -q "boots cold: its image's disk (1099511631872 bytes) is larger than a template's placeholder disk"
  [ -z "$(ls -A "$STATE")" ]
}
