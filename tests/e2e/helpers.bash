# Shared set-up for the end-to-end tests: every test gets its own state
# root, bundle and scratch directory, and teardown removes whatever the test
# left (containers, mounts, cgroups), pass or fail.

TOP=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)
BERTH_RUNTIME=${BERTH_RUNTIME:-$TOP/build/berth-runtime}
ROOTFS=$TOP/build/rootfs/busybox
RECVTTY=$TOP/build/tests/recvtty

setup() {
  T=$(mktemp -d /tmp/berth-e2e.XXXXXX)
  chmod 755 "$T" # a user-namespaced root must be able to reach its rootfs
  STATE=$T/state
  BUNDLE=$T/bundle
  mkdir -p "$BUNDLE"
  (cd "$BUNDLE" && "$BERTH_RUNTIME" spec)
  # The shared rootfs stays read-only; tests that write make their own.
  cfg ".root.path = \"$ROOTFS\" | .process.terminal = false | .process.args = [\"true\"]"
}

teardown() {
  local id
  # A suite's own clean-up first (what it installed, started or made).
  [ "$(type -t teardown_extra)" != function ] || teardown_extra
  for id in $("$BERTH_RUNTIME" --root "$STATE" list -q 2>/dev/null); do
    "$BERTH_RUNTIME" --root "$STATE" delete --force "$id" >/dev/null 2>&1 || true
  done
  [ -n "${BG_PIDS:-}" ] && kill $BG_PIDS 2>/dev/null || true
  # Nothing we mounted may stay behind.
  grep -o " $T[^ ]*" /proc/self/mountinfo | sort -r | while read -r m; do umount -l "$m" 2>/dev/null || true; done
  rm -rf "$T"
}

# Runs berth-runtime against this test's state root.
R() { (cd "$BUNDLE" && "$BERTH_RUNTIME" --root "$STATE" "$@"); }

# Edits the bundle's config.json with a jq filter.
cfg() {
  jq "$1" "$BUNDLE/config.json" > "$BUNDLE/config.json.new" && mv "$BUNDLE/config.json.new" "$BUNDLE/config.json"
}

args() {
  local a
  a=$(printf '%s\n' "$@" | jq -R . | jq -s -c .)
  cfg ".process.args = $a"
}

# A writable copy of the busybox rootfs for tests that change it.
own_rootfs() {
  cp -a "$ROOTFS" "$T/rootfs"
  cfg ".root.path = \"$T/rootfs\" | .root.readonly = false"
}

# VM isolation: not on check-hosts' test host (a VM in a TCG VM is too slow
# to test in CI), nor without a guest kernel.
needs_vm() {
  [ -z "${BERTH_TEST_HOST:-}" ] || skip "VM isolation is not tested on the $BERTH_TEST_HOST test host (nested TCG is too slow)"
  [ -e "$TOP/build/vm/initrd.img" ] || skip "no guest kernel"
}

# The container's cgroup for a controller: one directory on cgroup v2.
cgroup_dir() { # controller id
  if cgroup_v2; then echo "/sys/fs/cgroup/berth/$2"; else echo "/sys/fs/cgroup/$1/berth/$2"; fi
}

cgroup_v2() { [ -e /sys/fs/cgroup/cgroup.controllers ]; }

# A memory limit's file, v1's or v2's.
memory_limit_file() { if cgroup_v2; then echo memory.max; else echo memory.limit_in_bytes; fi; }

wait_status() { # id status
  local i
  for i in $(seq 50); do
    [ "$(R state "$1" 2>/dev/null | jq -r .status)" = "$2" ] && return 0
    sleep 0.1
  done
  echo "container $1 never became $2" >&2
  return 1
}

# A network namespace NS joined to this machine by a veth pair: HOSTIF here
# with HOST_IP/24, eth0 there with PEER_IP/24 and a default route back.
veth_ns() { # ns hostif host_ip peer_ip
  ip netns add "$1"
  ip link add "$2" type veth peer name eth0 netns "$1"
  ip addr add "$3/24" dev "$2"
  ip link set "$2" up
  ip -n "$1" addr add "$4/24" dev eth0
  ip -n "$1" link set eth0 up
  ip -n "$1" link set lo up
  ip -n "$1" route add default via "$3"
}

# The body at URL, fetched from namespace NS (here when empty), retried
# TRIES times half a second apart while a server (in a VM, slowly) comes up.
http_get() { # url [tries] [ns]
  local i
  for i in $(seq "${2:-20}"); do
    if ${3:+ip netns exec "$3"} python3 -c 'import sys, urllib.request
print(urllib.request.urlopen(sys.argv[1], timeout=3).read().decode(), end="")' "$1" 2>/dev/null; then
      return 0
    fi
    sleep 0.5
  done
  return 1
}

# Runs `berth run --rm -it ARGS busybox ...` under script(1) at 80x24 and
# resizes that terminal to 101x51 once the container has printed its first
# size; the container waits (up to 20 s) for its size to change and prints
# it again.  Prints the sizes the container saw, one per line.  Under bats
# (only: the same command by hand gets none) a NUL reaches the pty's input
# and the container's tty echoes it as ^@: dropped, it is not what is checked.
resize_sizes() { # dir [berth run args...]
  local dir=$1
  shift
  timeout 120 script -qfec "stty cols 80 rows 24
    (for i in \$(seq 600); do tail -n +2 $dir/typescript | grep -q '24 80' && break; sleep 0.1; done
     stty cols 101 rows 51 < /dev/tty) &
    exec $BERTH --root $dir/store run --rm -it $* busybox sh -c \
      'stty size; for i in \$(seq 100); do [ \"\$(stty size)\" = \"24 80\" ] || break; sleep 0.2; done; stty size'" \
    "$dir/typescript" > /dev/null < /dev/null
  typescript_lines "$dir/typescript" | grep -x "[0-9]* [0-9]*"
}

# The lines a terminal showed, as script(1) kept them.  script writes its
# stdin's EOF character to the pty when its stdin ends; under bats that is
# no terminal, the character is NUL, and the tty echoes it as ^@ before or
# after the container's output, as a terminal would: dropped here.
typescript_lines() { # file
  tr -d '\r' < "$1" | sed 's/\^@//g'
}

# A private dockerd (Debian's docker.io): state, socket and pid file under
# DIR, the runtimes of CONFIG (a daemon.json), no bridge and no iptables
# rules of its own.  The user's own dockerd, if any, is never touched.
dockerd_start() { # dir [config]
  local i
  dockerd ${2:+--config-file "$2"} --data-root "$1/data" --exec-root "$1/exec" --pidfile "$1/pid" \
    -H "unix://$1/sock" --iptables=false --ip6tables=false --bridge=none --storage-driver=vfs > "$1/log" 2>&1 3>&- &
  BG_PIDS="${BG_PIDS:-} $!" # killed by teardown should a test end early
  for i in $(seq 150); do docker -H "unix://$1/sock" version >/dev/null 2>&1 && return 0; sleep 0.2; done
  echo "dockerd did not come up: $(tail -n 5 "$1/log")" >&2
  return 1
}

# containerd with its state, socket (DIR/sock) and config in DIR (EXTRA:
# more of config.toml), berth's busybox imported.
containerd_start() { # dir [extra-toml]
  local i
  printf 'version = 2\nroot = "%s/root"\nstate = "%s/state"\n[grpc]\n  address = "%s/sock"\n%s\n' \
    "$1" "$1" "$1" "${2:-}" > "$1/config.toml"
  containerd --config "$1/config.toml" > "$1/log" 2>&1 3>&- &
  echo $! > "$1/pid"
  for i in $(seq 100); do ctr -a "$1/sock" version >/dev/null 2>&1 && break; sleep 0.1; done
  "${BERTH:-$TOP/build/berth}" --root "$1/berth" save --format docker -o "$1/busybox.tar" busybox
  ctr -a "$1/sock" image import "$1/busybox.tar" >/dev/null
}

# Its tasks killed and removed, containerd stopped, its shims and mounts
# gone (DIR stays).
containerd_stop() { # dir
  local t c
  for t in $(ctr -a "$1/sock" task ls -q 2>/dev/null); do ctr -a "$1/sock" task kill -s KILL "$t" 2>/dev/null; done
  sleep 1
  for t in $(ctr -a "$1/sock" task ls -q 2>/dev/null); do ctr -a "$1/sock" task rm -f "$t" >/dev/null 2>&1; done
  for c in $(ctr -a "$1/sock" container ls -q 2>/dev/null); do ctr -a "$1/sock" container rm "$c" >/dev/null 2>&1; done
  kill "$(cat "$1/pid")" 2>/dev/null
  sleep 1
  pkill -f "containerd-shim-runc-v2.*$1" 2>/dev/null || true
  grep -o " $1[^ ]*" /proc/self/mountinfo | sort -r | while read -r m; do umount -l "$m" 2>/dev/null || true; done
}

# Its containers removed, dockerd stopped, its mounts gone (DIR stays).
dockerd_stop() { # dir
  local i
  docker -H "unix://$1/sock" rm -f $(docker -H "unix://$1/sock" ps -aq 2>/dev/null) >/dev/null 2>&1 || true
  [ -s "$1/pid" ] && kill "$(cat "$1/pid")" 2>/dev/null
  for i in $(seq 100); do [ -e "$1/pid" ] || break; sleep 0.1; done
  grep -o " $1[^ ]*" /proc/self/mountinfo | sort -r | while read -r m; do umount -l "$m" 2>/dev/null || true; done
}
