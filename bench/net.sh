#!/bin/bash
# bench/net.sh: request latency and TCP throughput through a published port,
# for a process container, a VM container and a plain host process, all
# serving the same files with the same servers, measured in one run from a
# client network namespace joined to the host by a veth pair
# (10.199.251.2 -> 10.199.251.1).  Prints the ratios to the host, for two
# servers: busybox httpd (forks per connection, as many servers do) and
# bench/tinyhttpd (never forks: the network path alone).
#   BENCH_REQUESTS (200)  small requests per target
#   BENCH_MIB (32)        size of the large file
#   BERTH_VM_DIR          as for berth; the VM runs with KVM when the host
#                         has it, else TCG (said in the output)
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
B="$top/build/berth"
N=${BENCH_REQUESTS:-200}
MIB=${BENCH_MIB:-32}
T=$(mktemp -d /tmp/berth-bench-net.XXXXXX)
NS=bbench$$
HOSTPID=
export BERTH_VM_DIR=${BERTH_VM_DIR:-$top/build/vm}
b() { "$B" --root "$T/store" "$@"; }
cleanup() {
  for id in $(b ps -aq 2>/dev/null); do b rm -f "$id" >/dev/null 2>&1 || true; done
  [ -n "$HOSTPID" ] && kill $HOSTPID 2>/dev/null || true
  ip netns del "$NS" 2>/dev/null || true
  ip link del "bbh$$" 2>/dev/null || true
  rm -rf "$T"
}
trap cleanup EXIT

ip netns add "$NS"
ip link add "bbh$$" type veth peer name eth0 netns "$NS"
ip addr add 10.199.251.1/24 dev "bbh$$"
ip link set "bbh$$" up
ip -n "$NS" addr add 10.199.251.2/24 dev eth0
ip -n "$NS" link set eth0 up
ip -n "$NS" link set lo up

# The same files everywhere: a small page and MIB MiB of zeros.
serve="mkdir -p /www && echo small > /www/small && dd if=/dev/zero of=/www/big bs=1M count=$MIB 2>/dev/null && { /b/tinyhttpd 81 /www & exec httpd -f -p 80 -h /www; }"
mkdir -p "$T/www"
echo small > "$T/www/small"
dd if=/dev/zero of="$T/www/big" bs=1M count="$MIB" 2>/dev/null
# An image of busybox and tinyhttpd: no volume, so the VM is the plain one
# every VM container gets.
mkdir -p "$T/img"
cp -a "$top/build/rootfs/busybox/." "$T/img/"
mkdir -p "$T/img/b"
cp "$top/build/bench/tinyhttpd" "$T/img/b/"
tar -C "$T/img" -cf "$T/img.tar" .
b import "$T/img.tar" bench-net >/dev/null

# One target at a time, the others stopped: a VM's emulated CPU must not
# steal the host's two cores from the host process it is compared with.
measure() { # name port-of-httpd port-of-tinyhttpd
  ip netns exec "$NS" python3 - "$N" "$MIB" "$@" >> "$T/results" <<'PY'
import sys, time, json, urllib.request, statistics
n, mib, name, p1, p2 = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
def get(port, path, timeout=10):
    return urllib.request.urlopen("http://10.199.251.1:%d/%s" % (port, path), timeout=timeout).read()
out = {"name": name}
for server, port in (("httpd", p1), ("tinyhttpd", p2)):
    deadline = time.time() + 180
    while True:  # a VM under TCG takes a while to serve
        try:
            if len(get(port, "big", 60)) == mib << 20: break
        except Exception:
            pass
        if time.time() > deadline: sys.exit("%s on port %d never answered" % (name, port))
        time.sleep(0.5)
    lat = []
    for _ in range(n):
        t = time.perf_counter(); get(port, "small"); lat.append((time.perf_counter() - t) * 1000)
    best = 0.0
    for _ in range(3):
        t = time.perf_counter(); get(port, "big", 120); best = max(best, mib / (time.perf_counter() - t))
    out[server] = [statistics.median(lat), best]
print(json.dumps(out))
PY
}
busybox httpd -f -p 19300 -h "$T/www" &
HOSTPID=$!
"$top/build/bench/tinyhttpd" 19310 "$T/www" &
HOSTPID="$HOSTPID $!"
measure "host process" 19300 19310
kill $HOSTPID
HOSTPID=
id=$(b run -d -p 19301:80 -p 19311:81 bench-net sh -c "$serve")
measure "process container" 19301 19311
b rm -f "$id" >/dev/null
id=$(b run -d --isolation=vm -p 19302:80 -p 19312:81 bench-net sh -c "$serve" 2>/dev/null)
accel=$(b inspect "$id" | jq -r '.[0].VM.Accelerator')
measure "VM container ($accel)" 19302 19312
b rm -f "$id" >/dev/null

python3 - "$N" "$MIB" "$T/results" <<'PY'
import sys, json
n, mib = int(sys.argv[1]), int(sys.argv[2])
rows = [json.loads(l) for l in open(sys.argv[3])]
for server, title in (("httpd", "busybox httpd (forks per connection)"), ("tinyhttpd", "tinyhttpd (no fork)")):
    host_lat, host_tp = rows[0][server]
    print("\n%s" % title)
    print("%-24s %12s %10s %10s %10s" % ("server", "latency ms", "MiB/s", "lat ratio", "tput ratio"))
    for r in rows:
        l, t = r[server]
        print("%-24s %12.3f %10.1f %9.2fx %9.2fx" % (r["name"], l, t, l / host_lat, host_tp / t))
print("(median of %d requests for a small file; best of 3 downloads of %d MiB; ratios: container/host latency, host/container throughput)" % (n, mib))
PY
