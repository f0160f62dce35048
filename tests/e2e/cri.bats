#!/usr/bin/env bats
# Kubernetes' own path: containerd's CRI plugin (Debian's containerd) on a
# private socket, with two runtime handlers that kubelet would reach through
# RuntimeClasses (docs/kubernetes.md): berth and berth-vm, both the runc v2
# shim with BinaryName berth-runtime (berth-runtime-vm for VM isolation).
# The test drives the CRI over gRPC as kubelet does, with a client of its
# own (tests/e2e/cri: python3-grpcio and message definitions compiled by
# protoc), a pause image built here and imported, and CNI from Debian's
# containernetworking-plugins on a bridge of the test's own.

load helpers
bats_require_minimum_version 1.5.0

BERTH=${BERTH:-$TOP/build/berth}
PY=/usr/bin/python3 # Debian's, with python3-grpcio
BRIDGE=bcri0
SUBNET=10.203.77

setup_file() {
  command -v containerd >/dev/null || skip "containerd is not installed"
  command -v protoc >/dev/null || skip "protoc (protobuf-compiler) is not installed"
  $PY -c 'import grpc' 2>/dev/null || skip "python3-grpcio is not installed"
  [ -x /usr/lib/cni/bridge ] || skip "containernetworking-plugins is not installed"
  ! ip link show "$BRIDGE" >/dev/null 2>&1 || skip "a link $BRIDGE exists already"
  export CT CRI_PB_DIR
  CT=$(mktemp -d /tmp/berth-cri.XXXXXX)
  chmod 755 "$CT"
  CRI_PB_DIR=$CT/pb
  mkdir -p "$CT/pb" "$CT/bin" "$CT/cni" "$CT/logs" "$CT/sa"
  cat /proc/sys/net/ipv4/ip_forward > "$CT/ip_forward.before"
  protoc --proto_path="$TOP/tests/e2e/cri" --python_out="$CT/pb" cri.proto
  # The name picks VM isolation (the runc shim passes no runtime arguments).
  ln -s "$BERTH_RUNTIME" "$CT/bin/berth-runtime-vm"
  cat > "$CT/cni/10-berth-cri.conflist" <<EOF
{"cniVersion": "0.4.0", "name": "berth-cri-test", "plugins": [
  {"type": "bridge", "bridge": "$BRIDGE", "isGateway": true, "ipMasq": false,
   "ipam": {"type": "host-local", "dataDir": "$CT/ipam", "ranges": [[{"subnet": "$SUBNET.0/24"}]]}}]}
EOF
  local rt='[plugins."io.containerd.grpc.v1.cri".containerd.runtimes'
  cat > "$CT/config.toml" <<EOF
version = 2
root = "$CT/root"
state = "$CT/state"
[grpc]
  address = "$CT/sock"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "localhost/berth-pause:1"
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  disable_apparmor = true
  # Root on some hosts (this test machine) lacks CAP_SYS_RESOURCE, which a
  # negative oom_score_adj (the sandbox's -998) needs: clamp as rootless does.
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$CT/cni"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    default_runtime_name = "berth"
  $rt.berth]
    runtime_type = "io.containerd.runc.v2"
  $rt.berth.options]
    BinaryName = "$BERTH_RUNTIME"
    Root = "$CT/runc"
  $rt.berth-vm]
    runtime_type = "io.containerd.runc.v2"
  $rt.berth-vm.options]
    BinaryName = "$CT/bin/berth-runtime-vm"
    Root = "$CT/runc"
EOF
  containerd --config "$CT/config.toml" > "$CT/log" 2>&1 3>&- &
  echo $! > "$CT/pid"
  for i in $(seq 100); do cri Version >/dev/null 2>&1 && break; sleep 0.2; done
  cri Version > /dev/null
  # The pause image: busybox waiting for the end, built here.
  $PY "$TOP/tests/e2e/cri/mkimage.py" "$ROOTFS" localhost/berth-pause:1 "$CT/pause.tar" \
    /bin/sh -c 'trap "exit 0" TERM INT; while :; do sleep 3600 & wait; done'
  "$BERTH" --root "$CT/berth" save --format docker -o "$CT/busybox.tar" busybox
  ctr -a "$CT/sock" -n k8s.io image import "$CT/pause.tar" > /dev/null
  ctr -a "$CT/sock" -n k8s.io image import "$CT/busybox.tar" > /dev/null
  "$BERTH" --root "$CT/berth" rmi busybox >/dev/null
}

# What a failed test left: its pods, through the CRI as kubelet would.
remove_pods() {
  local id
  for id in $(cri ListPodSandbox 2>/dev/null | jq -r '.items[]?.id'); do
    cri StopPodSandbox "{\"pod_sandbox_id\": \"$id\"}" >/dev/null 2>&1
    cri RemovePodSandbox "{\"pod_sandbox_id\": \"$id\"}" >/dev/null 2>&1
  done
}

teardown_file() {
  [ -n "${CT:-}" ] || return 0
  local id
  remove_pods
  [ -s "$CT/pid" ] && kill "$(cat "$CT/pid")" 2>/dev/null
  sleep 1
  pkill -f "containerd-shim-runc-v2.*$CT" 2>/dev/null || true
  for id in $(ls "$CT/runc/k8s.io" 2>/dev/null); do
    "$BERTH_RUNTIME" --root "$CT/runc/k8s.io" delete --force "$id" >/dev/null 2>&1 || true
  done
  # CNI's network namespaces (containerd keeps them under /var/run/netns).
  for n in $(ip netns list 2>/dev/null | grep -o '^cni-[0-9a-f-]*'); do
    grep -qs "$n" "$CT/netns.ours" && ip netns del "$n" 2>/dev/null
  done
  ip link del "$BRIDGE" 2>/dev/null || true
  cat "$CT/ip_forward.before" > /proc/sys/net/ipv4/ip_forward
  grep -o " $CT[^ ]*" /proc/self/mountinfo | sort -r | while read -r m; do umount -l "$m" 2>/dev/null || true; done
  rm -rf "$CT"
}

setup() { :; }
teardown() { remove_pods; }

cri() { $PY "$TOP/tests/e2e/cri/cri.py" "$CT/sock" "$@"; }

# A pod sandbox's config as kubelet sends it (metadata, hostname, log
# directory, labels, the pod's namespaces).
pod_config() { # name
  jq -cn --arg n "$1" --arg logs "$CT/logs/$1" \
    '{metadata: {name: $n, uid: ("uid-" + $n), namespace: "default", attempt: 0}, hostname: $n,
      log_directory: $logs, labels: {app: $n},
      linux: {security_context: {namespace_options: {network: "POD", pid: "CONTAINER", ipc: "POD"}}}}'
}

# CreateContainer's config: busybox, a service-account-style read-only
# mount, a log file under the pod's log directory.
ctr_config() { # name command
  jq -cn --arg n "$1" --arg cmd "$2" --arg sa "$CT/sa" \
    '{metadata: {name: $n, attempt: 0}, image: {image: "docker.io/library/busybox:latest"},
      command: ["sh", "-c", $cmd], log_path: ($n + ".log"), envs: [{key: "POD_ROLE", value: $n}],
      mounts: [{container_path: "/var/run/secrets/kubernetes.io/serviceaccount", host_path: $sa, readonly: true}],
      linux: {resources: {memory_limit_in_bytes: 134217728}, security_context: {namespace_options: {network: "POD", pid: "CONTAINER", ipc: "POD"}}}}'
}

exec_sync() { # container command
  cri ExecSync "$(jq -cn --arg id "$1" --arg c "$2" '{container_id: $id, cmd: ["sh", "-c", $c], timeout: 120}')"
}

# The whole of a pod's life, as kubelet drives it, under HANDLER.
pod_lifecycle() { # handler
  local h=$1 pod cfg sb c1 c2 out ip
  pod=pod-$h
  cfg=$(pod_config "$pod")
  echo "token-for-$h" > "$CT/sa/token"
  qemus=$(pgrep -fc '^[^ ]*qemu-system' || true)
  sb=$(cri RunPodSandbox "$(jq -cn --argjson c "$cfg" --arg h "$h" '{config: $c, runtime_handler: $h}')" | jq -r .pod_sandbox_id)
  [ -n "$sb" ] && [ "$sb" != null ]
  ip netns list | grep -o '^cni-[0-9a-f-]*' >> "$CT/netns.ours"
  out=$(cri PodSandboxStatus "{\"pod_sandbox_id\": \"$sb\"}")
  [ "$(jq -r .status.state <<< "$out")" = SANDBOX_READY ]
  [ "$(jq -r .status.runtime_handler <<< "$out")" = "$h" ]
  ip=$(jq -r .status.network.ip <<< "$out")
  [[ "$ip" == "$SUBNET".* ]]

  c1=$(cri CreateContainer "$(jq -cn --arg sb "$sb" --argjson c "$(ctr_config app 'echo started; exec sleep 1000')" \
    --argjson p "$cfg" '{pod_sandbox_id: $sb, config: $c, sandbox_config: $p}')" | jq -r .container_id)
  [ -n "$c1" ] && [ "$c1" != null ]
  [ "$(cri ContainerStatus "{\"container_id\": \"$c1\"}" | jq -r .status.state)" = CONTAINER_CREATED ]
  cri StartContainer "{\"container_id\": \"$c1\"}" >/dev/null
  out=$(cri ContainerStatus "{\"container_id\": \"$c1\"}")
  [ "$(jq -r .status.state <<< "$out")" = CONTAINER_RUNNING ]
  [ "$(jq -r '.status.mounts[] | select(.container_path == "/var/run/secrets/kubernetes.io/serviceaccount") | .readonly' <<< "$out")" = true ]
  for i in $(seq 100); do grep -q started "$CT/logs/$pod/app.log" 2>/dev/null && break; sleep 0.2; done
  grep -q ' stdout F started$' "$CT/logs/$pod/app.log"

  # ExecSync: the token through the read-only mount, which refuses writes;
  # the kernel (the guest's under berth-vm); the pod's address on eth0.
  out=$(exec_sync "$c1" 'cat /var/run/secrets/kubernetes.io/serviceaccount/token; uname -r; echo $POD_ROLE; ip -4 addr show eth0 | grep -o "inet [0-9.]*"; touch /var/run/secrets/kubernetes.io/serviceaccount/x')
  [ "$(jq -r .exit_code <<< "$out")" -ne 0 ]
  [ "$(jq -r .stdout <<< "$out" | sed -n 1p)" = "token-for-$h" ]
  if [ "$h" = berth-vm ]; then
    [ "$(jq -r .stdout <<< "$out" | sed -n 2p)" != "$(uname -r)" ]
  else
    [ "$(jq -r .stdout <<< "$out" | sed -n 2p)" = "$(uname -r)" ]
  fi
  [ "$(jq -r .stdout <<< "$out" | sed -n 3p)" = app ]
  [ "$(jq -r .stdout <<< "$out" | sed -n 4p)" = "inet $ip" ]
  jq -r .stderr <<< "$out" | grep -q "Read-only file system"
  [ ! -e "$CT/sa/x" ]
  [ "$(exec_sync "$c1" 'exit 7' | jq -r .exit_code)" = 7 ]

  # A second container of the pod: under berth-vm, the same VM (the same
  # guest boot) and the pod's localhost.
  c2=$(cri CreateContainer "$(jq -cn --arg sb "$sb" --argjson c "$(ctr_config side 'exec nc -ll -p 8080 -e echo hello-from-side')" \
    --argjson p "$cfg" '{pod_sandbox_id: $sb, config: $c, sandbox_config: $p}')" | jq -r .container_id)
  cri StartContainer "{\"container_id\": \"$c2\"}" >/dev/null
  b1=$(exec_sync "$c1" 'cat /proc/sys/kernel/random/boot_id' | jq -r .stdout)
  b2=$(exec_sync "$c2" 'cat /proc/sys/kernel/random/boot_id' | jq -r .stdout)
  if [ "$h" = berth-vm ]; then
    [ "$b1" = "$b2" ] && [ "$b1" != "$(cat /proc/sys/kernel/random/boot_id)" ]
    # One QEMU more than before the pod, for its two containers and sandbox.
    [ "$(pgrep -fc '^[^ ]*qemu-system')" -eq $((qemus + 1)) ]
  fi
  for i in $(seq 50); do
    out=$(exec_sync "$c1" 'nc 127.0.0.1 8080 </dev/null' | jq -r .stdout)
    [ "$out" = hello-from-side ] && break
    sleep 0.2
  done
  [ "$out" = hello-from-side ]

  # ListContainers, ContainerStats.
  out=$(cri ListContainers "{\"filter\": {\"pod_sandbox_id\": \"$sb\"}}")
  [ "$(jq '.containers | length' <<< "$out")" -eq 2 ]
  [ "$(jq -r --arg id "$c1" '.containers[] | select(.id == $id) | .state' <<< "$out")" = CONTAINER_RUNNING ]
  out=$(cri ContainerStats "{\"container_id\": \"$c1\"}")
  [ "$(jq -r .stats.attributes.id <<< "$out")" = "$c1" ]
  [ "$(jq -r .stats.attributes.metadata.name <<< "$out")" = app ]

  # Stop and remove, as kubelet does when the pod goes.
  cri StopContainer "{\"container_id\": \"$c1\", \"timeout\": 2}" >/dev/null
  out=$(cri ContainerStatus "{\"container_id\": \"$c1\"}")
  [ "$(jq -r .status.state <<< "$out")" = CONTAINER_EXITED ]
  cri StopContainer "{\"container_id\": \"$c2\", \"timeout\": 2}" >/dev/null
  cri RemoveContainer "{\"container_id\": \"$c1\"}" >/dev/null
  cri RemoveContainer "{\"container_id\": \"$c2\"}" >/dev/null
  cri StopPodSandbox "{\"pod_sandbox_id\": \"$sb\"}" >/dev/null
  cri RemovePodSandbox "{\"pod_sandbox_id\": \"$sb\"}" >/dev/null
  [ "$(cri ListPodSandbox | jq '.items // [] | length')" -eq 0 ]
  [ "$(cri ListContainers | jq '.containers // [] | length')" -eq 0 ]

  # Nothing is left: no berth-runtime state, no VM, no shim, no netns.
  [ -z "$(ls -A "$CT/runc/k8s.io" 2>/dev/null)" ]
  [ "$(pgrep -fc '^[^ ]*qemu-system' || true)" -eq "$qemus" ]
  ! pgrep -f "containerd-shim-runc-v2.*$sb" >/dev/null
  for n in $(cat "$CT/netns.ours"); do ! ip netns list | grep -q "^$n"; done
}

@test "CRI: a pod under the berth-vm handler, as kubelet drives it: one VM for the pod, exec, status, stats, and nothing left after removal" {
  pod_lifecycle berth-vm
}

@test "CRI: a pod under the berth handler (process isolation), the same calls" {
  pod_lifecycle berth
}
