#!/bin/sh
# make deb: builds berth's Debian package with dpkg-buildpackage from a
# copy of the tracked source (dpkg-buildpackage writes beside the source
# tree, and the checkout stays as it is).  The .deb lands in OUT.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$top/build/deb}
command -v dpkg-buildpackage >/dev/null && [ -e /usr/share/perl5/Debian/Debhelper/Dh_Lib.pm ] || {
  echo "deb: needs dpkg-dev and debhelper (scripts/install-deps.sh installs them)" >&2
  exit 1
}
ver=$(dpkg-parsechangelog -l "$top/debian/changelog" -S Version)
tmp=$(mktemp -d /tmp/berth-deb.XXXXXX)
trap 'rm -rf "$tmp"' EXIT INT TERM
src="$tmp/berth-$ver"
mkdir "$src"
# The tracked files, with uncommitted changes (what make would build).
(cd "$top" && git ls-files -z --cached --others --exclude-standard | xargs -0 cp --parents -t "$src")
(cd "$src" && dpkg-buildpackage -us -uc -b) > "$tmp/build.log" 2>&1 || {
  tail -n 40 "$tmp/build.log" >&2
  echo "deb: dpkg-buildpackage failed" >&2
  exit 1
}
mkdir -p "$out"
cp "$tmp"/berth_"$ver"_*.deb "$out/"
ls "$out"/berth_"$ver"_*.deb
