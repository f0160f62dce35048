#!/bin/sh
# Prints the directory of a Debian 12 test host of the common kind: systemd
# as PID 1, the unified cgroup v2 hierarchy only, Debian's cloud kernel,
# docker.io, containerd, crun, runc and what berth's tests need.  The
# directory holds disk.img (ext4, raw), vmlinuz and initrd.img; it is built
# the first time (debootstrap, a few minutes) and kept in
# $BERTH_CACHE/host-vm/KEY, KEY being a hash of this script, so that a
# change to the recipe builds a new one and the stale ones go.
# scripts/check-hosts.sh boots it; nothing here touches the host's own
# services, mounts or packages.
set -eu
cache=${BERTH_CACHE:-/var/cache/berth}/host-vm
key=$(sha256sum "$0" | cut -c1-16)
out=$cache/$key
if [ -s "$out/disk.img" ] && [ -s "$out/vmlinuz" ] && [ -s "$out/initrd.img" ]; then
  echo "$out"
  exit 0
fi
for t in debootstrap mkfs.ext4 unshare; do
  command -v $t >/dev/null || { echo "host-vm-image: $t is not installed" >&2; exit 1; }
done
mkdir -p "$cache"
# One builder at a time; a second waits and then finds the first's image.
exec 9>"$cache/.lock"
flock 9
if [ -s "$out/disk.img" ]; then echo "$out"; exit 0; fi
for old in "$cache"/*/; do [ -d "$old" ] && rm -rf "$old"; done
work=$(mktemp -d "$cache/.build.XXXXXX")
trap 'rm -rf "$work"' EXIT
trap 'exit 130' INT TERM
root=$work/root

mirror=$(sed -n 's/^URIs:[[:space:]]*//p' /etc/apt/sources.list.d/*.sources 2>/dev/null | tr ' ' '\n' | grep -v -- -security | head -n 1)
[ -n "$mirror" ] || mirror=$(awk '$1 == "deb" && $0 !~ /-security/ { for (i = 2; i <= NF; i++) if ($i ~ /^https?:/) { print $i; exit } }' /etc/apt/sources.list 2>/dev/null)
debootstrap --variant=minbase --include=systemd,systemd-sysv,udev,dbus,kmod,iproute2,ca-certificates \
  bookworm "$root" ${mirror:+"$mirror"} >&2

# What the suites run inside: the libraries berth links or opens, the tools
# the tests call, AppArmor as Debian installs it (Docker then gives every
# container its docker-default profile), erofs-utils (the engine's tests
# create VM containers, whose image is an EROFS file, without starting them), Docker and containerd (their systemd cgroup driver is part
# of the check), crun and runc (bench/runtime.sh compares against them) and
# the OCI validation suite's Go toolchain (its build is copied in from the
# host's cache, keyed by `go version`).
PKGS="linux-image-cloud-amd64 initramfs-tools e2fsprogs
  libjansson4 libseccomp2 libcap2 libcap2-bin libmnl0 libnftables1 libarchive13 libcurl4 libssl3 libsystemd0
  bats jq bc file procps util-linux bsdutils python3 curl zstd xz-utils openssl busybox-static
  nftables iptables dnsmasq-base apparmor erofs-utils docker.io containerd runc crun
  golang-go golang-github-google-uuid-dev golang-github-mrunalp-fileutils-dev
  golang-github-opencontainers-specs-dev golang-github-opencontainers-selinux-dev
  golang-github-blang-semver-dev golang-github-hashicorp-go-multierror-dev
  golang-github-hashicorp-errwrap-dev golang-github-sirupsen-logrus-dev golang-gocapability-dev
  golang-github-urfave-cli-dev golang-github-xeipuuv-gojsonschema-dev
  golang-github-xeipuuv-gojsonpointer-dev golang-github-xeipuuv-gojsonreference-dev
  golang-golang-x-sys-dev golang-github-satori-go.uuid-dev
  golang-github-cpuguy83-go-md2man-v2-dev golang-github-russross-blackfriday-v2-dev"
# No service starts inside the chroot while packages install.
printf '#!/bin/sh\nexit 101\n' > "$root/usr/sbin/policy-rc.d"
chmod 755 "$root/usr/sbin/policy-rc.d"
# The chroot's mounts live in a mount namespace of their own: they go when
# it ends, whatever happens.
unshare -m --propagation private sh -ec '
  root=$1; shift
  mount -t proc proc "$root/proc"
  mount --rbind /sys "$root/sys"
  mount --rbind /dev "$root/dev"
  chroot "$root" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@"
  chroot "$root" apt-get clean
' sh "$root" $PKGS >&2
rm -f "$root/usr/sbin/policy-rc.d"
kver=$(ls "$root/lib/modules" | head -n 1)
[ -n "$kver" ] || { echo "host-vm-image: the cloud kernel did not install" >&2; exit 1; }
# The root disk's driver goes into the initramfs (the cloud kernel has it
# as a module).
printf 'virtio_blk\next4\n' >> "$root/etc/initramfs-tools/modules"
mode=-u
[ -s "$root/boot/initrd.img-$kver" ] || mode=-c
unshare -m --propagation private sh -ec '
  mount -t proc proc "$1/proc"
  chroot "$1" update-initramfs "$3" -k "$2"' sh "$root" "$kver" "$mode" >&2

echo berth-host > "$root/etc/hostname"
printf '/dev/vda / ext4 defaults 0 1\n' > "$root/etc/fstab"
passwd_root=$(sed -n 's/^root:[^:]*:/root::/p' "$root/etc/shadow")
sed -i "s/^root:.*/$passwd_root/" "$root/etc/shadow"
# The test's own daemons are started by the tests on private sockets, as on
# any host; the packaged ones stay off so that the boot is short and quiet.
for u in docker.service docker.socket containerd.service apt-daily.timer apt-daily-upgrade.timer \
  e2scrub_all.timer e2scrub_reap.service fstrim.timer systemd-timesyncd.service; do
  rm -f "$root"/etc/systemd/system/*.wants/"$u"
done
# The entry point: a disk labelled berth-check carries run.sh; its results
# stay on that disk and the machine powers off.  Without that disk it boots
# as a plain host (a root console on ttyS0).
cat > "$root/etc/systemd/system/berth-check.service" <<'EOF'
[Unit]
Description=berth's tests on a systemd + cgroup v2 host
After=multi-user.target
ConditionPathExists=/dev/disk/by-label/berth-check

[Service]
Type=oneshot
# The console, not ttyS0 itself: the serial getty's vhangup() at its start
# would cut off a writer that opened the tty directly.
StandardOutput=journal+console
StandardError=journal+console
ExecStartPre=/bin/mkdir -p /check
ExecStartPre=/bin/mount /dev/disk/by-label/berth-check /check
ExecStart=/bin/sh /check/run.sh
ExecStopPost=/bin/sh -c 'sync; umount /check; systemctl --no-block poweroff'
TimeoutStartSec=infinity

[Install]
WantedBy=multi-user.target
EOF
ln -s ../berth-check.service "$root/etc/systemd/system/multi-user.target.wants/berth-check.service"
mkdir -p "$root/etc/systemd/system/serial-getty@ttyS0.service.d"
printf '[Service]\nExecStart=\nExecStart=-/sbin/agetty --autologin root --noclear %%I 115200 vt220\n' \
  > "$root/etc/systemd/system/serial-getty@ttyS0.service.d/autologin.conf"

mkdir -p "$work/out"
cp "$root/boot/vmlinuz-$kver" "$work/out/vmlinuz"
cp "$root/boot/initrd.img-$kver" "$work/out/initrd.img"
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*_Packages
# Room for the tests' containers, images and daemons' state on top of the
# system: a sparse file, so only what is written takes space.
truncate -s 8G "$work/out/disk.img"
mkfs.ext4 -q -L berth-host -d "$root" "$work/out/disk.img" >&2
rm -rf "$out"
mv "$work/out" "$out"
echo "$out"
