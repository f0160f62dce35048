#!/usr/bin/env bats
# berth-runtime under containerd (Debian's containerd, as docker.io brings
# it): `ctr run --runc-binary`, the runc-v2 shim driving berth-runtime, in
# process isolation and, through the berth.isolation annotation, in VM
# isolation.  containerd's state lives in this test's directory.

load helpers
bats_require_minimum_version 1.5.0

BERTH=${BERTH:-$TOP/build/berth}

setup_file() {
  command -v containerd >/dev/null || skip "containerd is not installed"
  export CT
  CT=$(mktemp -d /tmp/berth-containerd.XXXXXX)
  containerd_start "$CT"
}

teardown_file() {
  [ -n "${CT:-}" ] || return 0
  containerd_stop "$CT"
  # A failed pod test's network namespace.
  for n in $(ip netns list | grep -o '^bpod[0-9]*'); do ip netns del "$n"; ip link del "bph${n#bpod}" 2>/dev/null; done
  rm -rf "$CT"
}

setup() { :; }
teardown() { :; }

c() { ctr -a "$CT/sock" "$@"; }
IMG=docker.io/library/busybox:latest

@test "containerd: ctr run --runc-binary berth-runtime, output and exit codes, in both isolation modes" {
  run c run --rm --runc-binary "$BERTH_RUNTIME" "$IMG" p1 sh -c 'echo hello; uname -r; exit 3'
  [ "$status" -eq 3 ]
  [ "${lines[0]}" = hello ]
  [ "${lines[1]}" = "$(uname -r)" ]
  run c run --rm --runc-binary "$BERTH_RUNTIME" --annotation berth.isolation=vm "$IMG" v1 sh -c 'echo hello; uname -r; exit 4'
  [ "$status" -eq 4 ]
  [ "${lines[0]}" = hello ]
  [ "${lines[1]}" != "$(uname -r)" ]
}

@test "containerd: a task runs detached, execs inside, and goes with kill and rm, in both isolation modes" {
  for mode in process vm; do
    an=()
    [ "$mode" = vm ] && an=(--annotation berth.isolation=vm)
    c run -d --runc-binary "$BERTH_RUNTIME" "${an[@]}" "$IMG" "d-$mode" sleep 1001
    [[ "$(c task ls)" == *"d-$mode"*RUNNING* ]]
    # The host's view: the sleep itself, with the task's pid, or nothing but the VM.
    if [ "$mode" = vm ]; then
      ! pgrep -fx "sleep 1001"
    else
      [ "$(pgrep -fx "sleep 1001")" = "$(c task ls | awk -v t="d-$mode" '$1 == t {print $2}')" ]
    fi
    run c task exec --exec-id e1 "d-$mode" sh -c 'uname -r; exit 5'
    [ "$status" -eq 5 ]
    if [ "$mode" = vm ]; then [ "$output" != "$(uname -r)" ]; else [ "$output" = "$(uname -r)" ]; fi
    c task kill -s KILL "d-$mode"
    for i in $(seq 50); do [[ "$(c task ls)" == *"d-$mode"*STOPPED* ]] && break; sleep 0.1; done
    [[ "$(c task ls)" == *"d-$mode"*STOPPED* ]]
    c task rm "d-$mode"
    c container rm "d-$mode"
  done
  [ -z "$(c task ls -q)" ]
  ! pgrep -f "berth-vm-d-vm" >/dev/null
}

@test "containerd: a Kubernetes-style pod: the CRI annotations put the app container in its sandbox's VM" {
  cri() { echo "--annotation io.kubernetes.cri.container-type=$1 --annotation io.kubernetes.cri.sandbox-id=pod1"; }
  # The pod's network namespace as CNI leaves it: loopback up, an eth0
  # with the pod's address.
  N=$((RANDOM % 200 + 20))
  veth_ns "bpod$N" "bph$N" "10.195.$N.1" "10.195.$N.2"
  # shellcheck disable=SC2046
  c run -d --runc-binary "$BERTH_RUNTIME" --annotation berth.isolation=vm $(cri sandbox) \
    --with-ns "network:/var/run/netns/bpod$N" "$IMG" pod1 \
    sh -c 'mkdir /www; echo from-the-sandbox > /www/index.html; exec httpd -f -p 80 -h /www'
  sandbox_boot=$(c task exec --exec-id b1 pod1 cat /proc/sys/kernel/random/boot_id)
  # The app container: the same kernel instance, the sandbox's localhost,
  # and directories of its own as the kubelet gives them (a read-only
  # token directory, a writable volume), after the VM booted.
  mkdir -p "$CT/token" "$CT/vol"
  echo secret-token > "$CT/token/token"
  # shellcheck disable=SC2046
  c run -d --runc-binary "$BERTH_RUNTIME" --annotation berth.isolation=vm $(cri container) \
    --mount "type=bind,src=$CT/token,dst=/var/run/secrets/tok,options=rbind:ro" \
    --mount "type=bind,src=$CT/vol,dst=/data,options=rbind:rw" "$IMG" app1 sleep 1000
  run c task exec --exec-id a1 app1 sh -c 'cat /proc/sys/kernel/random/boot_id; wget -qO- http://127.0.0.1/; echo
    cat /var/run/secrets/tok/token; echo from-app1 > /data/out; touch /var/run/secrets/tok/x 2>/dev/null || echo token-ro
    exit 9'
  [ "$status" -eq 9 ]
  [ "${lines[0]}" = "$sandbox_boot" ]
  [ "${lines[1]}" = from-the-sandbox ]
  [ "${lines[2]}" = secret-token ]
  [ "${lines[3]}" = token-ro ]
  [ "$(cat "$CT/vol/out")" = from-app1 ]
  [ ! -e "$CT/token/x" ]
  # They live in the pod VM's file server while the member does, no longer.
  fs=$(pgrep -x virtiofsd | head -1)
  [ "$(grep -c " /c-app1/m[01] " "/proc/$fs/mountinfo")" -eq 2 ]
  c task kill -s KILL app1
  for i in $(seq 50); do [[ "$(c task ls)" == *app1*STOPPED* ]] && break; sleep 0.1; done
  c task rm app1
  c container rm app1
  ! grep -q " /c-app1" "/proc/$fs/mountinfo"
  # And the pod's address, from the host: the VM took over the namespace.
  run http_get "http://10.195.$N.2/" 40
  [ "$output" = from-the-sandbox ]
  # One VM for the pod: the app container never had a QEMU of its own.
  [ "$(pgrep -fc "process=berth-vm-pod1")" -eq 1 ]
  ! pgrep -f "process=berth-vm-app1" >/dev/null
  c task kill -s KILL pod1
  for i in $(seq 50); do [[ "$(c task ls)" == *pod1*STOPPED* ]] && break; sleep 0.1; done
  c task rm pod1
  c container rm pod1
  ! pgrep -f "process=berth-vm-pod1" >/dev/null
  ip netns del "bpod$N"
  ip link del "bph$N" 2>/dev/null || true
}
