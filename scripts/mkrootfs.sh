#!/bin/sh
# Builds a busybox-static root filesystem at $1: the busybox binary, its
# applet links, /etc/passwd and /etc/group.  Used by the tests and the
# README's first command.
set -eu
dest=$1
bb=/bin/busybox
[ -x "$bb" ] || { echo "mkrootfs: $bb not found (apt-get install busybox-static)" >&2; exit 1; }
file -L "$bb" 2>/dev/null | grep -q 'statically linked' || ldd "$bb" 2>&1 | grep -q 'not a dynamic' || {
  echo "mkrootfs: $bb is not static (apt-get install busybox-static)" >&2; exit 1; }
tmp=$(mktemp -d "${dest%/*}/.rootfs.XXXXXX" 2>/dev/null || { mkdir -p "${dest%/*}"; mktemp -d "${dest%/*}/.rootfs.XXXXXX"; })
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/bin" "$tmp/sbin" "$tmp/usr/bin" "$tmp/usr/sbin" "$tmp/etc" "$tmp/proc" "$tmp/sys" "$tmp/dev" \
  "$tmp/tmp" "$tmp/root" "$tmp/var" "$tmp/home"
chmod 1777 "$tmp/tmp"
cp "$bb" "$tmp/bin/busybox"
for applet in $("$bb" --list-full); do
  [ -e "$tmp/$applet" ] || ln -s /bin/busybox "$tmp/$applet"
done
cat > "$tmp/etc/passwd" <<'P'
root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/bin/false
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
P
cat > "$tmp/etc/group" <<'G'
root:x:0:
daemon:x:1:
tty:x:5:
nogroup:x:65534:
G
chmod 755 "$tmp"
rm -rf "$dest"
mv "$tmp" "$dest"
trap - EXIT
