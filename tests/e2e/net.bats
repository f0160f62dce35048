#!/usr/bin/env bats
# Networking in both isolation modes, checked from a client "host" of the
# test's own: a network namespace joined to this machine by a veth pair
# (10.199.N.2 there, 10.199.N.1 here).  No traffic leaves the machine.

load helpers
bats_require_minimum_version 1.5.0

BERTH=${BERTH:-$TOP/build/berth}
B() { "$BERTH" --root "$T/store" "$@"; }

setup() {
  T=$(mktemp -d /tmp/berth-net.XXXXXX)
  chmod 755 "$T"
  N=$((RANDOM % 200 + 20))
  CNS=bcl$N
  CLIENT_IP=10.199.$N.2
  HOST_IP=10.199.$N.1
  # What the machine had before: every test must leave it so.
  ip -o link show | awk -F': ' '{print $2}' | sed 's/@.*//' | sort > "$T/links.before"
  nft list ruleset > "$T/nft.before"
}

teardown() {
  local id
  [ -z "${watch:-}" ] || kill "$watch" 2>/dev/null || true
  for id in $(B ps -aq --no-trunc 2>/dev/null); do B rm -f "$id" >/dev/null 2>&1 || true; done
  for n in $(B network ls -q 2>/dev/null); do B network rm "$n" >/dev/null 2>&1 || true; done
  ip netns del "$CNS" 2>/dev/null || true
  ip link del "bch$N" 2>/dev/null || true
  grep -o " $T[^ ]*" /proc/self/mountinfo | sort -r | while read -r m; do umount -l "$m" 2>/dev/null || true; done
  rm -rf "$T"
}

client() { veth_ns "$CNS" "bch$N" "$HOST_IP" "$CLIENT_IP"; }

# GET URL from the client namespace (or from here with CNS="").
get() { http_get "$1" "${2:-20}" "$CNS"; }

udp() { # host port message
  local i
  for i in $(seq 20); do
    if ip netns exec "$CNS" python3 -c 'import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(1)
s.sendto(sys.argv[3].encode(), (sys.argv[1], int(sys.argv[2])))
print(s.recv(4096).decode())' "$@" 2>/dev/null; then
      return 0
    fi
    sleep 0.5
  done
  return 1
}

# Refused (or silently dropped): nothing answers from the client's side.
unreachable() { # url
  ! ip netns exec "$CNS" python3 -c 'import sys, urllib.request
urllib.request.urlopen(sys.argv[1], timeout=2).read()' "$1" 2>/dev/null
}

serve() { # text
  echo "mkdir -p /www && echo $1 > /www/index.html && exec httpd -f -p 80 -h /www"
}

# Nothing of berth's is left in the kernel, and no address is leased.
left_as_before() {
  ip -o link show | awk -F': ' '{print $2}' | sed 's/@.*//' | grep -v "^bch$N$" | sort > "$T/links.after"
  diff "$T/links.before" "$T/links.after"
  nft list ruleset > "$T/nft.after"
  diff "$T/nft.before" "$T/nft.after"
  [ -z "$(ls -A "$T/store/netns" 2>/dev/null)" ]
  [ -z "$(cat "$T"/store/networks/*.ipam/* 2>/dev/null)" ]
  ! pgrep -f "dnsmasq.*$T" >/dev/null
}

@test "net: a published TCP port answers another host and 127.0.0.1; an unpublished one does not" {
  client
  id=$(B run -d -p 18080:80 busybox sh -c "$(serve process-web)")
  ip=$(B inspect "$id" | jq -r '.[0].NetworkSettings.Networks.bridge.IPAddress')
  [[ "$ip" == 10.* ]]
  run get "http://$HOST_IP:18080/"
  [ "$output" = process-web ]
  CNS="" run get "http://127.0.0.1:18080/"
  [ "$output" = process-web ]
  # The container's own address is not a way in, nor any other port.
  unreachable "http://$ip:80/"
  unreachable "http://$HOST_IP:18081/"
  run B port "$id"
  [ "$output" = "80/tcp -> 0.0.0.0:18080" ]
  [[ "$(B ps)" == *"0.0.0.0:18080->80/tcp"* ]]
  # Taken: an error at run, before anything starts; nothing is left of it.
  run B run --name second -p 18080:80 busybox true
  [ "$status" -ne 0 ]
  [[ "$output" == *"18080"*"already in use"* ]]
  [ "$(B inspect second | jq -r '.[0].State.Status')" = created ]
  [ "$(B inspect second | jq -r '.[0].State.Pid')" = 0 ]
  B rm second
  # Its own hosts file names it at its address.
  run B exec "$id" cat /etc/hosts
  [[ "$output" == *"$ip"* ]]
  B rm -f "$id"
  left_as_before
}

@test "net: UDP, a chosen free port, ranges and -P" {
  client
  id=$(B run -d -v "$TOP/build/tests:/t:ro" -p 15353:53/udp -p 80 -p 18090-18091:90-91 --expose 7000 -P busybox \
    /t/udpecho 53)
  run udp "$HOST_IP" 15353 ping-udp
  [ "$output" = "echo: ping-udp" ]
  run B port "$id"
  [[ "$output" == *"53/udp -> 0.0.0.0:15353"* ]]
  [[ "$output" == *"90/tcp -> 0.0.0.0:18090"* ]]
  [[ "$output" == *"91/tcp -> 0.0.0.0:18091"* ]]
  [[ "$output" == *"7000/tcp -> 0.0.0.0:"* ]]
  hp=$(B port "$id" 80)
  [[ "$hp" == 0.0.0.0:* ]]
  [ "${hp#0.0.0.0:}" -gt 1024 ]
  run B port "$id" 81
  [ "$status" -ne 0 ]
  # The chosen ports are held: nothing else on the host can take them.
  run python3 -c "import socket; s = socket.socket(); s.bind(('0.0.0.0', ${hp#0.0.0.0:}))"
  [ "$status" -ne 0 ]
  run B run --rm -p 1.2.3.4.5:80:80 busybox true
  [ "$status" -ne 0 ]
  [[ "$output" == *"not an IPv4 address"* ]]
  run B run --rm -p 80-82:90-91 busybox true
  [[ "$output" == *"ranges differ"* ]]
  run B run --rm --network none -p 80 busybox true
  [[ "$output" == *"no ports of its own"* ]]
  B rm -f "$id"
  left_as_before
}

@test "net: user networks: containers reach each other by name; connect, disconnect, rm" {
  B network create appnet
  run B network create appnet
  [[ "$output" == *"already exists"* ]]
  # A subnet a host route or another network covers is refused, named.
  client
  run B network create --subnet "10.199.$N.0/24" clash
  [ "$status" -ne 0 ]
  [[ "$output" == *"overlaps the host's route 10.199.$N.0/24"* ]]
  B network create --subnet 10.198.7.0/24 other
  run B network create --subnet 10.198.0.0/16 clash
  [[ "$output" == *"overlaps the network \"other\""* ]]
  B run -d --name web --network appnet --network-alias www busybox sh -c "$(serve by-name)"
  run B run --rm --network appnet busybox sh -c 'wget -qO- http://web/ && wget -qO- http://www/'
  [ "$status" -eq 0 ]
  [ "${lines[0]}" = by-name ]
  [ "${lines[1]}" = by-name ]
  # Another network does not resolve it.
  run B run --rm --network other busybox sh -c 'wget -qO- http://web/ 2>&1'
  [[ "$output" == *"bad address 'web'"* ]]
  [ "$(B network inspect appnet | jq -r '.[0].Containers | map(.Name) | .[0]')" = web ]
  run B network rm appnet
  [[ "$output" == *"attached"* ]]
  # Live connect: a second interface on the other network.
  B network connect --ip 10.198.7.50 other web
  run B exec web ip -4 -o addr show eth1
  [[ "$output" == *"10.198.7.50/24"* ]]
  run B run --rm --network other busybox wget -qO- http://web/
  [ "$output" = by-name ]
  B network disconnect other web
  run B exec web ip link show eth1
  [ "$status" -ne 0 ]
  B rm -f web
  B network rm appnet other
  left_as_before
}

@test "net: an unreadable network record: ls names its file and lists the rest; its container still counts and goes; rm removes it" {
  B network create --subnet 10.198.9.0/24 broken
  B network create --subnet 10.198.10.0/24 fine
  B run -d --name on --network broken busybox sleep 1000
  printf '{"Name": "bro' > "$T/store/networks/broken.json"
  run B network ls --format '{{.Name}}'
  [ "$status" -eq 0 ]
  [[ "$output" == *"network broken is left out: $T/store/networks/broken.json: line 1"* ]]
  [[ "$output" == *fine* ]]
  run B run --rm --network broken busybox true
  [ "$status" -ne 0 ]
  [[ "$output" == *"$T/store/networks/broken.json"* ]]
  run B network rm broken
  [[ "$output" == *"attached"* ]]
  B rm -f on
  B network rm broken fine
  [ -z "$(ls "$T/store/networks" | grep -e broken -e fine)" ]
  left_as_before
}

@test "net: kill -9 of a network's DNS server (dnsmasq): the containers run on, the next one on the network brings it back, rm leaves nothing" {
  B network create --subnet 10.198.11.0/24 dnsnet
  B run -d --name web --network dnsnet busybox sh -c "$(serve dns-back)"
  pid=$(cat "$T/store/networks/dnsnet.dns/pid")
  kill -9 "$pid"
  for i in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  [ "$(B inspect -f '{{.State.Status}}' web)" = running ]
  run B run --rm --network dnsnet busybox wget -qO- http://web/
  [ "$status" -eq 0 ]
  [ "$output" = dns-back ]
  [ "$(cat "$T/store/networks/dnsnet.dns/pid")" != "$pid" ]
  B rm -f web
  B network rm dnsnet
  left_as_before
}

@test "net: two network create of one subnet at once: exactly one wins, the other is refused naming it" {
  B network create --subnet 10.198.12.0/24 ra > "$T/a" 2>&1 &
  a=$!
  B network create --subnet 10.198.12.0/24 rb > "$T/b" 2>&1 &
  b=$!
  sa=0 sb=0
  wait "$a" || sa=$?
  wait "$b" || sb=$?
  [ $((sa == 0)) -ne $((sb == 0)) ]
  cat "$T/a" "$T/b" | grep -q 'overlaps the network "r[ab]"'
  [ "$(B network ls --format '{{.Name}}' | grep -c '^r[ab]$')" -eq 1 ]
  B network rm "$(B network ls --format '{{.Name}}' | grep '^r[ab]$')"
  left_as_before
}

@test "net: rename of a running container: its network answers to the new name; a network connected while it ran is undone when it exits" {
  B network create rnet
  B network create --subnet 10.198.9.0/24 late
  # Every file that ever stands in the network's hosts directory, which
  # dnsmasq reads whole as it starts (the first container starts it): a
  # temporary file there has to be a dot file, which dnsmasq skips, or
  # the old name may stay for good (CI saw it).
  mkdir -p "$T/store/networks/rnet.dns/hosts"
  python3 "$TOP/tests/e2e/dir-names.py" "$T/store/networks/rnet.dns/hosts" "$T/watch.ready" > "$T/names" &
  watch=$!
  for i in $(seq 50); do [ -e "$T/watch.ready" ] && break; sleep 0.1; done
  B run -d --name oldname --network rnet busybox sh -c "$(serve renamed)"
  B rename oldname newname
  run B run --rm --network rnet busybox wget -qO- http://newname/
  [ "$output" = renamed ]
  run B run --rm --network rnet busybox sh -c 'wget -qO- http://oldname/ 2>&1'
  echo "# oldname: $output"
  [[ "$output" == *"bad address 'oldname'"* ]]
  kill "$watch"
  wait "$watch" || true
  cat "$T/names"
  [ "$(grep -c . "$T/names")" -ge 3 ]
  [ -z "$(grep -v '^\.' "$T/names" | grep -vE '^[0-9a-f]{64}$' || true)" ]
  B network connect late newname
  [ "$(B network inspect late | jq -r '.[0].Containers | length')" = 1 ]
  # The exit is written on the record as it is now (the monitor read it
  # before the rename and the connect): both stay, and the late network's
  # address and interface are given back like the first one's.
  B stop -t 1 newname
  [ "$(B inspect -f '{{.Name}} {{.State.Status}}' newname)" = "/newname exited" ]
  [ "$(B inspect -f '{{json .NetworkSettings.Networks}}' newname | jq -r 'keys | join(" ")')" = "late rnet" ]
  id=$(B inspect -f '{{.Id}}' newname)
  [ ! -e "$T/store/networks/late.active/$id" ] && [ ! -e "$T/store/networks/late.dns/hosts/$id" ]
  # rm gives the addresses back: then both networks can go.
  B rm newname
  [ "$(B network inspect late | jq -r '.[0].Containers | length')" = 0 ]
  B network rm rnet late
  left_as_before
}

@test "net: a pod: --network container: shares localhost; none and host; IPC and PID stay private" {
  B run -d --name pod busybox sh -c "$(serve via-localhost)"
  run B run --rm --network container:pod busybox wget -qO- http://127.0.0.1/
  [ "$output" = via-localhost ]
  [ "$(B inspect pod | jq -r '.[0].NetworkSettings.Networks.bridge.IPAddress')" != null ]
  run B run --rm --network none busybox ip -o link
  [ "${#lines[@]}" -eq 1 ]
  [[ "$output" == *"lo:"* ]]
  run B run --rm --network host busybox cat /proc/net/dev
  [[ "$output" == *"$(ip -o link show | awk -F': ' 'NR==2{print $2}' | sed 's/@.*//')"* ]]
  run B run --rm --ipc container:pod busybox true
  [[ "$output" == *"does not share IPC"* ]]
  run B run --rm --pid container:pod busybox true
  [[ "$output" == *"does not share PID"* ]]
  run B run --rm --network container:nosuch busybox true
  [[ "$output" == *"no such container"* ]]
  B stop -t 0 pod
  run B run --rm --network container:pod busybox true
  [[ "$output" == *"not running"* ]]
  B rm -f pod
  left_as_before
}

@test "net: kill -9 of the monitor and the container: berth notices and undoes the network; leases reconcile" {
  id=$(B run -d -p 18100:80 busybox sleep 600)
  mon=$(B inspect "$id" | jq -r '.[0].MonitorPid')
  pid=$(B inspect "$id" | jq -r '.[0].State.Pid')
  kill -9 "$mon" "$pid"
  sleep 0.5
  B ps -a >/dev/null
  [ "$(B inspect "$id" | jq -r '.[0].State.Status')" = exited ]
  [ -z "$(ls -A "$T/store/netns")" ]
  ! nft list map ip berth ports_any 2>/dev/null | grep -q 18100
  # A lease whose container vanished (its directory gone in a crash) is
  # taken back by the next allocation, not handed out twice.
  rm -rf "$T/store/containers/$id"
  id2=$(B create busybox true)
  [ "$(ls "$T/store/networks/bridge.ipam" | wc -l)" -eq 1 ]
  [ "$(cat "$T"/store/networks/bridge.ipam/*)" = "$id2" ]
  B rm "$id2"
  left_as_before
}

@test "net: VM containers: same addressing, published TCP and UDP from another host, names, one NIC" {
  needs_vm
  export BERTH_VM_DIR=$TOP/build/vm
  client
  run B run --rm --isolation=vm --network host busybox true
  [ "$status" -ne 0 ]
  [[ "$output" == *"cannot share the host's"* ]]
  B network create vmnet
  id=$(B run -d --isolation=vm --name vweb --network vmnet -p 18200:80 -p 15400:53/udp -v "$TOP/build/tests:/t:ro" \
    busybox sh -c "/t/udpecho 53 & $(serve from-the-vm)" 2>/dev/null)
  ip=$(B inspect "$id" | jq -r '.[0].NetworkSettings.Networks.vmnet.IPAddress')
  [ "$ip" = "$(B exec vweb ip -4 -o addr show eth0 | awk '{print $4}' | cut -d/ -f1)" ]
  [ "$(B inspect "$id" | jq -r '.[0].NetworkSettings.Networks.vmnet.MacAddress')" = \
    "$(B exec vweb cat /sys/class/net/eth0/address)" ]
  run get "http://$HOST_IP:18200/" 60
  [ "$output" = from-the-vm ]
  CNS="" run get "http://127.0.0.1:18200/"
  [ "$output" = from-the-vm ]
  run udp "$HOST_IP" 15400 to-the-vm
  [ "$output" = "echo: to-the-vm" ]
  unreachable "http://$ip:80/"
  # A process container finds the VM by name, the VM's own kernel answers.
  run B run --rm --network vmnet busybox wget -qO- http://vweb/
  [ "$output" = from-the-vm ]
  # A pod in one VM: a container joining vweb's network joins its VM (its
  # isolation follows), talks to it over localhost, and top shows each
  # one's own processes.
  B run -d --name side --network container:vweb busybox sleep 600
  [ "$(B inspect side | jq -r '.[0].Isolation')" = vm ]
  [ "$(B inspect side | jq -r '.[0].VM.Pid')" = "$(B inspect vweb | jq -r '.[0].VM.Pid')" ]
  [ "$(B exec side cat /proc/sys/kernel/random/boot_id)" = "$(B exec vweb cat /proc/sys/kernel/random/boot_id)" ]
  run B exec side wget -qO- http://127.0.0.1/
  [ "$output" = from-the-vm ]
  run B top side
  [[ "$output" == *"sleep 600"* ]]
  [[ "$output" != *httpd* ]]
  run B top vweb
  [[ "$output" == *httpd* ]]
  [[ "$output" != *"sleep 600"* ]]
  run B run --rm --network container:vweb busybox sh -c 'wget -qO- http://127.0.0.1/; exit 7'
  [ "$status" -eq 7 ]
  [[ "$output" == *from-the-vm* ]]
  run B run --rm --isolation=process --network container:vweb busybox true
  [[ "$output" == *"run it with --isolation=vm"* ]]
  # A member brings a directory of its own into the running VM (which has a
  # file server: vweb has a -v), read-only when asked.
  mkdir "$BATS_TEST_TMPDIR/ro"
  run B run --rm --network container:vweb -v "$BATS_TEST_TMPDIR:/v" -v "$BATS_TEST_TMPDIR/ro:/r:ro" busybox \
    sh -c 'echo from-member > /v/out; touch /r/x 2>/dev/null || echo ro'
  [ "${lines[-1]}" = ro ]
  [ "$(cat "$BATS_TEST_TMPDIR/out")" = from-member ]
  [ ! -e "$BATS_TEST_TMPDIR/ro/x" ]
  B rm -f side
  # The host sees QEMU, never the guest's servers.
  ! pgrep -f "httpd -f -p 80 -h /www" >/dev/null
  ! pgrep -x udpecho >/dev/null
  B network create vm2
  run B network connect vm2 vweb
  [[ "$output" == *"fixed at boot"* ]]
  B network rm vm2
  B rm -f vweb
  B network rm vmnet
  left_as_before
}
