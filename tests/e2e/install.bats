#!/usr/bin/env bats
# berth installed like real software: make install into a DESTDIR and run
# from there (no source tree, no build/ paths in the environment), the man
# pages and bash completion, Docker and podman registered from the
# installed paths, and the Debian package installed with dpkg, used and
# purged.

load helpers
bats_require_minimum_version 1.5.0

setup_file() {
  export IT D
  IT=$(mktemp -d /tmp/berth-install.XXXXXX)
  chmod 755 "$IT"
  D=$IT/dest
  make -s -C "$TOP" install DESTDIR="$D" PREFIX=/usr > "$IT/install.log" 2>&1 || {
    cat "$IT/install.log" >&2
    return 1
  }
}

teardown_file() {
  [ -n "${IT:-}" ] || return 0
  grep -o " $IT[^ ]*" /proc/self/mountinfo | sort -r | while read -r m; do umount -l "$m" 2>/dev/null || true; done
  rm -rf "$IT"
}

teardown_extra() {
  [ ! -e "$T/purge-berth" ] || DEBIAN_FRONTEND=noninteractive dpkg --purge berth >/dev/null 2>&1 || true
}

# The installed binary with nothing of the build in its environment; VM
# templates (a cache) stay the test run's own.
I() { # binary args...
  local bin=$1
  shift
  env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root BERTH_CONFIG="$T/config.json" \
    BERTH_VM_TEMPLATES="${BERTH_VM_TEMPLATES:-$T/templates}" "$D/usr/bin/$bin" "$@"
}

@test "make install: binaries, VM assets, the built-in image, man pages, completion and a sample config land under DESTDIR/PREFIX" {
  for f in usr/bin/berth usr/bin/berth-runtime usr/lib/berth/berth-agent; do [ -x "$D/$f" ]; done
  [ "$(readlink "$D/usr/bin/berth-runtime-vm")" = berth-runtime ]
  for f in usr/lib/berth/vm/vmlinux usr/lib/berth/vm/initrd.img usr/share/berth/busybox.tar \
    usr/share/man/man1/berth.1 usr/share/man/man8/berth-runtime.8 usr/share/bash-completion/completions/berth \
    etc/berth/config.json usr/share/berth/config.json.sample usr/lib/systemd/system/berth-restart.service; do
    [ -f "$D/$f" ]
  done
  # The restart unit calls the installed berth.
  grep -qx 'ExecStart=/usr/bin/berth start --all --filter restart-policy=always --filter restart-policy=unless-stopped' \
    "$D/usr/lib/systemd/system/berth-restart.service"
  # systemd finds nothing wrong in it but the path (DESTDIR's, not /usr's).
  if command -v systemd-analyze >/dev/null; then
    run systemd-analyze verify --man=no --recursive-errors=no "$D/usr/lib/systemd/system/berth-restart.service"
    [ -z "$(echo "$output" | grep -v "Command /usr/bin/berth is not executable")" ]
  fi
  # QEMU runs as an unprivileged uid: the guest's files are world-readable.
  [ "$(stat -c %a "$D/usr/lib/berth/vm/vmlinux")" = 644 ]
  jq -e '.isolation == "process" and .vm.template == "on"' "$D/etc/berth/config.json"
}

@test "the installed berth runs containers in both modes from its own files, and --init uses its berth-agent" {
  echo '{}' > "$T/config.json"
  run I berth info
  [ "$status" -eq 0 ]
  [[ "$output" == *"VM Guest Kernel: $D/usr/lib/berth/vm/vmlinux"* ]]
  # The built-in image, from the install's share/berth.
  run I berth --root "$T/root" run --rm --network none busybox echo hello from the install
  [ "$status" -eq 0 ]
  [ "$output" = "hello from the install" ]
  run I berth --root "$T/root" run --rm --network none --init busybox cat /proc/1/cmdline
  [ "$status" -eq 0 ]
  [[ "$output" == /sbin/berth-init* ]]
  run I berth --root "$T/root" run --rm --network none --isolation vm busybox uname -r
  [ "$status" -eq 0 ]
  [ "${lines[-1]}" != "$(uname -r)" ]
  [ "${lines[-1]}" = "$(basename "$(dirname "$(ls -d /var/cache/berth/guest-kernel/*/vmlinuz)")")" ]
  I berth --root "$T/root" rmi busybox >/dev/null
}

@test "the sample config is read: its isolation and root, and a reinstall keeps the user's edits; uninstall removes the rest" {
  jq --arg r "$T/root2" '.isolation = "vm" | .root = $r' "$D/etc/berth/config.json" > "$T/config.json"
  run I berth run --rm --network none busybox uname -r
  [ "$status" -eq 0 ]
  [ "${lines[-1]}" != "$(uname -r)" ]
  [ -d "$T/root2/containers" ]
  I berth rmi busybox >/dev/null
  # A copy of the install, so that the other tests keep theirs.
  cp -a "$D" "$T/d2"
  cp "$T/config.json" "$T/d2/etc/berth/config.json"
  make -s -C "$TOP" install DESTDIR="$T/d2" PREFIX=/usr >/dev/null
  cmp "$T/config.json" "$T/d2/etc/berth/config.json"
  make -s -C "$TOP" uninstall DESTDIR="$T/d2" PREFIX=/usr
  # Only the edited config is left.
  [ "$(cd "$T/d2" && find . ! -type d)" = ./etc/berth/config.json ]
  # The unchanged sample goes with the rest.
  rm -rf "$T/d2" && cp -a "$D" "$T/d2"
  make -s -C "$TOP" uninstall DESTDIR="$T/d2" PREFIX=/usr
  [ -z "$(cd "$T/d2" && find . ! -type d)" ]
}

@test "berth-runtime-vm: the same binary defaults to VM isolation; --isolation=process still picks the host kernel" {
  args uname -r
  run I berth-runtime-vm --root "$T/state" run -b "$BUNDLE" c1
  [ "$status" -eq 0 ]
  [ "${lines[-1]}" != "$(uname -r)" ]
  run I berth-runtime --root "$T/state" run -b "$BUNDLE" c2
  [ "$status" -eq 0 ]
  [ "$output" = "$(uname -r)" ]
  run I berth-runtime-vm --root "$T/state" --isolation=process run -b "$BUNDLE" c3
  [ "$status" -eq 0 ]
  [ "$output" = "$(uname -r)" ]
  [ -z "$(I berth-runtime --root "$T/state" list -q)" ]
}

@test "man pages render without warnings, and bash completion completes commands, options and containers" {
  for m in man1/berth.1 man8/berth-runtime.8; do
    run man --warnings -l "$D/usr/share/man/$m"
    [ "$status" -eq 0 ]
    ! grep -q "warning" <<< "$output"
  done
  man -l "$D/usr/share/man/man1/berth.1" 2>/dev/null | grep -q "berth - run OCI containers in process or VM isolation"
  man -l "$D/usr/share/man/man8/berth-runtime.8" 2>/dev/null | grep -q -- "--strict-spec"
  [ -r /usr/share/bash-completion/bash_completion ] || skip "bash-completion is not installed"
  echo '{}' > "$T/config.json"
  I berth --root "$T/root" create --name compme --network none busybox true >/dev/null
  # shellcheck disable=SC2016
  complete_words() { # words...
    PATH="$D/usr/bin:$PATH" BERTH_ROOT="$T/root" BERTH_CONFIG="$T/config.json" bash -c '
      source /usr/share/bash-completion/bash_completion
      source "$0"
      COMP_WORDS=("${@}"); COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
      COMP_LINE="${COMP_WORDS[*]}"; COMP_POINT=${#COMP_LINE}
      $(complete -p "${COMP_WORDS[0]}" | sed "s/.*-F \([^ ]*\) .*/\1/") "${COMP_WORDS[0]}"
      printf "%s\n" "${COMPREPLY[@]}"' "$D/usr/share/bash-completion/completions/berth" "$@"
  }
  [ "$(complete_words berth ru)" = run ]
  complete_words berth run --isol | grep -qx -- --isolation
  [ "$(complete_words berth run --isolation v)" = vm ]
  [ "$(complete_words berth start comp)" = compme ]
  complete_words berth-runtime --str | grep -qx -- --strict-spec
  complete_words berth-runtime-vm de | grep -qx delete
  I berth --root "$T/root" rm compme >/dev/null
  I berth --root "$T/root" rmi busybox >/dev/null
}

@test "Docker runs both modes through the installed berth-runtime and berth-runtime-vm, registered as docs/docker.md shows" {
  command -v dockerd >/dev/null || skip "dockerd (docker.io) is not installed"
  mkdir -p "$T/docker"
  cat > "$T/docker/daemon.json" <<EOF
{"runtimes": {"berth": {"path": "$D/usr/bin/berth-runtime"},
              "berth-vm": {"path": "$D/usr/bin/berth-runtime-vm"}}}
EOF
  # dockerd's environment: none of the build's paths.
  BERTH_VM_DIR= BERTH_BUILTIN_BUSYBOX= dockerd_start "$T/docker" "$T/docker/daemon.json"
  dk() { docker -H "unix://$T/docker/sock" "$@"; }
  echo '{}' > "$T/config.json"
  I berth --root "$T/root" save --format docker -o "$T/busybox.tar" busybox
  dk load -q -i "$T/busybox.tar" >/dev/null
  run dk run --rm --runtime berth busybox uname -r
  [ "$status" -eq 0 ]
  [ "$output" = "$(uname -r)" ]
  run dk run --rm --runtime berth-vm busybox sh -c 'uname -r; exit 4'
  [ "$status" -eq 4 ]
  [ "${lines[-1]}" != "$(uname -r)" ]
  dockerd_stop "$T/docker"
  I berth --root "$T/root" rmi busybox >/dev/null
}

@test "podman runs both modes through the installed runtimes, named in containers.conf as docs/podman.md shows" {
  command -v podman >/dev/null || skip "podman is not installed"
  cat > "$T/containers.conf" <<EOF
[engine.runtimes]
berth = ["$D/usr/bin/berth-runtime"]
berth-vm = ["$D/usr/bin/berth-runtime-vm"]
EOF
  pm() {
    CONTAINERS_CONF="$T/containers.conf" podman --root "$T/storage" --runroot "$T/run" --cgroup-manager cgroupfs \
      --events-backend file --network-config-dir "$T/net" "$@"
  }
  echo '{}' > "$T/config.json"
  I berth --root "$T/root" save --format docker -o "$T/busybox.tar" busybox
  pm load -q -i "$T/busybox.tar" >/dev/null
  # podman's default RLIMIT_NOFILE needs CAP_SYS_RESOURCE (docs/podman.md).
  lim=(--ulimit nofile=4096:4096 --ulimit nproc=4096:4096 --network none)
  run pm --runtime berth run --rm "${lim[@]}" busybox uname -r
  [ "$status" -eq 0 ]
  [ "$output" = "$(uname -r)" ]
  run pm --runtime berth-vm run --rm "${lim[@]}" busybox sh -c 'uname -r; exit 4'
  [ "$status" -eq 4 ]
  [ "${lines[-1]}" != "$(uname -r)" ]
  pm rm -af >/dev/null 2>&1 || true
  pm rmi -af >/dev/null 2>&1 || true
  I berth --root "$T/root" rmi busybox >/dev/null
}

@test "make deb: the package installs with dpkg, runs containers in both modes from /usr, and purges clean" {
  command -v dpkg-buildpackage >/dev/null || skip "dpkg-dev is not installed"
  [ -e /usr/share/perl5/Debian/Debhelper/Dh_Lib.pm ] || skip "debhelper is not installed"
  # Never over a berth the host already has.
  if dpkg-query -W -f='${Status}' berth 2>/dev/null | grep -q installed || [ -e /usr/bin/berth ] \
    || [ -e /usr/bin/berth-runtime ] || [ -e /etc/berth ]; then
    skip "this host already has a berth in /usr or /etc/berth"
  fi
  run make -s -C "$TOP" deb B="$T/b"
  [ "$status" -eq 0 ]
  deb=$(ls "$T"/b/deb/berth_*_amd64.deb)
  dpkg-deb -c "$deb" | grep -q ' ./usr/lib/berth/vm/vmlinux$'
  # From here on, whatever fails, teardown purges the package.
  touch "$T/purge-berth"
  DEBIAN_FRONTEND=noninteractive dpkg -i "$deb" > "$T/dpkg.log" 2>&1 || { cat "$T/dpkg.log"; false; }
  [ "$(dpkg-query -W -f='${Status}' berth)" = "install ok installed" ]
  run env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin BERTH_VM_TEMPLATES="${BERTH_VM_TEMPLATES:-$T/templates}" \
    berth --root "$T/root" run --rm --network none busybox echo from the package
  [ "$status" -eq 0 ]
  [ "$output" = "from the package" ]
  run env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin BERTH_VM_TEMPLATES="${BERTH_VM_TEMPLATES:-$T/templates}" \
    berth --root "$T/root" run --rm --network none --isolation vm busybox uname -r
  [ "$status" -eq 0 ]
  [ "${lines[-1]}" != "$(uname -r)" ]
  env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin berth --root "$T/root" info | grep -q "VM Guest Kernel: /usr/lib/berth/vm/vmlinux"
  [ "$(man -w berth)" = /usr/share/man/man1/berth.1.gz ]
  env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin berth --root "$T/root" rmi busybox >/dev/null
  DEBIAN_FRONTEND=noninteractive dpkg --purge berth >/dev/null
  rm "$T/purge-berth"
  [ "$(dpkg-query -W -f='${Status}' berth 2>/dev/null)" != "install ok installed" ]
  [ ! -e /usr/bin/berth ] && [ ! -e /usr/bin/berth-runtime-vm ] && [ ! -e /usr/lib/berth ] && [ ! -e /etc/berth ]
  [ ! -e /usr/share/man/man1/berth.1.gz ]
}
