#!/usr/bin/env bats
# berth-runtime under Docker (Debian's docker.io): dockerd with two extra
# runtimes, berth (process isolation) and berth-vm (runtimeArgs
# --isolation=vm), its state in this test's directory, no default bridge
# and no iptables rules of its own (a user network of the test's where a
# network is needed).

load helpers
bats_require_minimum_version 1.5.0

BERTH=${BERTH:-$TOP/build/berth}

setup_file() {
  command -v dockerd >/dev/null || skip "dockerd (docker.io) is not installed"
  export DT
  DT=$(mktemp -d /tmp/berth-docker.XXXXXX)
  cat > "$DT/daemon.json" <<EOF
{"runtimes": {"berth": {"path": "$BERTH_RUNTIME"},
              "berth-vm": {"path": "$BERTH_RUNTIME", "runtimeArgs": ["--isolation=vm"]}}}
EOF
  dockerd_start "$DT" "$DT/daemon.json"
  "$BERTH" --root "$DT/berth" save --format docker -o "$DT/busybox.tar" busybox
  docker -H "unix://$DT/sock" load -q -i "$DT/busybox.tar"
}

teardown_file() {
  [ -n "${DT:-}" ] || return 0
  docker -H "unix://$DT/sock" rm -f $(docker -H "unix://$DT/sock" ps -aq) >/dev/null 2>&1 || true
  docker -H "unix://$DT/sock" network rm dnet pnet >/dev/null 2>&1 || true
  for n in $(ip netns list | grep -o '^dcl[0-9]*'); do ip netns del "$n"; ip link del "dch${n#dcl}" 2>/dev/null; done
  dockerd_stop "$DT"
  rm -rf "$DT"
}

setup() { :; }
teardown() { :; }

dk() { docker -H "unix://$DT/sock" "$@"; }

@test "docker: run, exit code, exec, logs, stop, kill through berth-runtime in both isolation modes" {
  for rt in berth berth-vm; do
    run dk run --rm --runtime "$rt" busybox sh -c 'echo hello; uname -r; exit 3'
    [ "$status" -eq 3 ]
    [ "${lines[0]}" = hello ]
    if [ "$rt" = berth-vm ]; then [ "${lines[1]}" != "$(uname -r)" ]; else [ "${lines[1]}" = "$(uname -r)" ]; fi
    dk run -d --name "c-$rt" --runtime "$rt" busybox sh -c 'echo started; exec sleep 1000'
    for i in $(seq 50); do [ "$(dk logs "c-$rt")" = started ] && break; sleep 0.1; done
    [ "$(dk logs "c-$rt")" = started ]
    run dk exec "c-$rt" sh -c 'echo in; exit 7'
    [ "$status" -eq 7 ]
    [ "$output" = in ]
    run dk top "c-$rt"
    [ "$status" -eq 0 ]
    # The host's truth: the sleep itself in process mode, the VM in VM mode.
    if [ "$rt" = berth-vm ]; then [[ "$output" == *qemu-system* ]]; else [[ "$output" == *"sleep 1000"* ]]; fi
    dk stop -t 1 "c-$rt"
    [ "$(dk inspect -f '{{.State.Status}}' "c-$rt")" = exited ]
    dk rm "c-$rt"
    # docker kill: the signal reaches the container's process (in the
    # guest for berth-vm), whose trap decides the exit code.
    dk run -d --name "k-$rt" --runtime "$rt" busybox \
      sh -c 'trap "echo got-usr1; exit 5" USR1; echo ready; while :; do sleep 0.1; done'
    for i in $(seq 50); do [ "$(dk logs "k-$rt")" = ready ] && break; sleep 0.1; done
    dk kill -s USR1 "k-$rt"
    [ "$(dk wait "k-$rt")" = 5 ]
    [ "$(dk logs "k-$rt" | tail -1)" = got-usr1 ]
    dk rm "k-$rt"
  done
  # Nothing of berth's is left behind.
  [ -z "$(ls -A "$DT/exec/runtime-runc/moby" 2>/dev/null)" ] || [ -z "$(ls "$DT/exec/runtime-runc/moby")" ]
  ! pgrep -f "berth-vm-" >/dev/null || ! ls -l /proc/$(pgrep -f "berth-vm-" | head -1)/fd 2>/dev/null | grep -q "$DT"
}

@test "docker: berth-runtime's error reaches the docker CLI, with docker's 127 and 126" {
  for rt in berth berth-vm; do
    run -127 dk run --rm --runtime "$rt" busybox /no/such/command
    [[ "$output" == *"/no/such/command"* ]]
  done
  run -126 dk run --rm --runtime berth busybox /etc/passwd
}

@test "docker: a VM container on a Docker network has the address Docker gave it and serves on it" {
  dk network create --subnet 10.197.5.0/24 dnet >/dev/null
  dk run -d --name nweb --network dnet --runtime berth-vm busybox \
    sh -c 'mkdir /www; echo docker-vm > /www/index.html; exec httpd -f -p 80 -h /www'
  ip=$(dk inspect -f '{{.NetworkSettings.Networks.dnet.IPAddress}}' nweb)
  mac=$(dk inspect -f '{{.NetworkSettings.Networks.dnet.MacAddress}}' nweb)
  [[ "$ip" == 10.197.5.* ]]
  run dk exec nweb ip -4 -o addr show eth0
  [[ "$output" == *"$ip/24"* ]]
  [ "$(dk exec nweb cat /sys/class/net/eth0/address)" = "$mac" ]
  run http_get "http://$ip/" 40
  [ "$output" = docker-vm ]
  # A process container on the same network reaches it too.
  run dk run --rm --network dnet --runtime berth busybox wget -qO- "http://$ip/"
  [ "$output" = docker-vm ]
  dk rm -f nweb >/dev/null
  dk network rm dnet >/dev/null
}

@test "docker: run -p: a published port answers a client namespace, in both isolation modes" {
  dk network create --subnet 10.197.6.0/24 pnet >/dev/null
  N=$((RANDOM % 200 + 20))
  veth_ns "dcl$N" "dch$N" "10.196.$N.1" "10.196.$N.2"
  port=18400
  for rt in berth berth-vm; do
    port=$((port + 1))
    dk run -d --name "p-$rt" --network pnet -p "$port:80" --runtime "$rt" busybox \
      sh -c "mkdir /www; echo published-$rt > /www/index.html; exec httpd -f -p 80 -h /www"
    run http_get "http://10.196.$N.1:$port/" 60 "dcl$N"
    [ "$output" = "published-$rt" ]
    dk rm -f "p-$rt" >/dev/null
  done
  ip netns del "dcl$N"
  ip link del "dch$N" 2>/dev/null || true
  dk network rm pnet >/dev/null
}

@test "docker compose: a server and a client that finds it by service name, in both isolation modes" {
  command -v docker-compose >/dev/null || skip "docker-compose is not installed"
  mkdir -p "$DT/compose"
  cat > "$DT/compose/compose.yml" <<'YAML'
version: "2.4"
services:
  server:
    image: busybox
    runtime: ${RT}
    command: ["sh", "-c", "echo hello-from-server-$$RT > /tmp/i; exec httpd -f -p 8080 -h /tmp"]
    environment: [RT]
  client:
    image: busybox
    runtime: ${RT}
    depends_on: [server]
    command: ["sh", "-c", "for i in $$(seq 90); do wget -qO- http://server:8080/i && exit 0; sleep 1; done; exit 1"]
YAML
  for rt in berth berth-vm; do
    # The client resolves "server" through Docker's embedded DNS server
    # (127.0.0.11), which a VM's guest reaches through berth's relay.
    run env RT="$rt" docker-compose -H "unix://$DT/sock" -f "$DT/compose/compose.yml" -p "bc$rt" \
      up --abort-on-container-exit --exit-code-from client
    RT="$rt" docker-compose -H "unix://$DT/sock" -f "$DT/compose/compose.yml" -p "bc$rt" down >/dev/null 2>&1
    echo "$output"
    [ "$status" -eq 0 ]
    [[ "$output" == *"hello-from-server-$rt"* ]]
  done
  [ -z "$(dk ps -aq)" ]
  [ -z "$(dk network ls -q --filter name=bcberth)" ]
}

@test "docker: a berth-vm container's changes are where Docker looks: cp, diff, commit and its next start" {
  dk run --name chg --runtime berth-vm busybox sh -c 'echo kept > /kept.txt; rm /bin/vi; cat /again.txt 2>/dev/null || true'
  [ "$(dk cp chg:/kept.txt - | tar -xO)" = kept ]
  run dk diff chg
  [[ "$output" == *"A /kept.txt"* ]]
  [[ "$output" == *"D /bin/vi"* ]]
  dk commit chg chg-img:1
  [ "$(dk run --rm --runtime berth-vm chg-img:1 sh -c 'cat /kept.txt; test -e /bin/vi || echo no-vi')" = "kept
no-vi" ]
  # Docker's own cp into the stopped container, then its next start
  # boots both.
  echo again > "$DT/again.txt"
  dk cp "$DT/again.txt" chg:/again.txt
  [ "$(dk start -a chg)" = again ]
  dk rm chg
  dk rmi chg-img:1
}
