#!/usr/bin/env bats
# The image store: the built-in image, load/save/import, interoperability
# with skopeo, and hostile layers.

load helpers

BERTH=$TOP/build/berth
MKLAYER=$BATS_TEST_DIRNAME/mklayer.py

B() { "$BERTH" --root "$T/store" "$@"; }

# The store must hold exactly what the images reference.
store_is_clean() {
  [ -z "$(ls -A "$T/store/tmp")" ]
  local refs
  refs=$(jq -r '.refs | length' "$T/store/refs.json" 2>/dev/null || echo 0)
  if [ "$refs" = 0 ] && [ -z "$(ls -A "$T/store/holds" 2>/dev/null)" ]; then
    [ -z "$(ls -A "$T/store/blobs/sha256")" ]
    [ -z "$(ls -A "$T/store/layers/sha256")" ]
  fi
}

@test "the built-in busybox image is there with no registry" {
  run B image inspect busybox
  [ "$status" -eq 0 ]
  [ "$(echo "$output" | jq -r '.[0].RepoTags[0]')" = busybox:latest ]
  [ "$(echo "$output" | jq -r '.[0].Config.Cmd[0]')" = sh ]
  layer=$(echo "$output" | jq -r '.[0].RootFS.Layers[0]')
  [ -x "$T/store/layers/sha256/${layer#sha256:}/bin/busybox" ]
  run B images
  [[ "$output" == *busybox*latest* ]]
  run B images --format json
  [ "$(echo "$output" | jq -r '.[0].ref')" = docker.io/library/busybox:latest ]
}

@test "save and load round-trip in both formats; tag and rmi" {
  B image inspect busybox >/dev/null
  B tag busybox example.com/team/app:1.0
  B save -o "$T/oci.tar" busybox example.com/team/app:1.0
  B save --format docker -o "$T/docker.tar" busybox
  tar tf "$T/oci.tar" | grep -q '^index.json$'
  tar tf "$T/oci.tar" | grep -q '^oci-layout$'
  tar tf "$T/docker.tar" | grep -q '^manifest.json$'
  id=$(B image inspect busybox | jq -r '.[0].Id')
  run B rmi busybox
  [ "$output" = "Untagged: busybox:latest" ]
  B rmi example.com/team/app:1.0
  [ -z "$(ls -A "$T/store/blobs/sha256")" ]
  [ -z "$(ls -A "$T/store/layers/sha256")" ]
  run B load -i "$T/oci.tar"
  [[ "$output" == *"Loaded image: busybox:latest"* ]]
  [[ "$output" == *"Loaded image: example.com/team/app:1.0"* ]]
  [ "$(B image inspect example.com/team/app:1.0 | jq -r '.[0].Id')" = "$id" ]
  B rmi -f "$id"
  run B load < "$T/docker.tar"
  [ "$output" = "Loaded image: busybox:latest" ]
  [ "$(B image inspect busybox | jq -r '.[0].Id')" = "$id" ]
  store_is_clean
}

@test "skopeo reads what berth saves, and berth loads what skopeo writes" {
  command -v skopeo >/dev/null || skip "skopeo is not installed"
  B save -o "$T/oci.tar" busybox
  skopeo inspect --raw "oci-archive:$T/oci.tar:latest" | jq -e '.layers | length == 1' >/dev/null
  B save --format docker -o "$T/docker.tar" busybox
  skopeo inspect "docker-archive:$T/docker.tar" | jq -e '.Layers | length == 1' >/dev/null
  skopeo copy -q "oci-archive:$T/oci.tar:latest" "oci:$T/layout:copied"
  skopeo copy -q "oci-archive:$T/oci.tar:latest" "docker-archive:$T/from-skopeo.tar:example.org/copied:7"
  B rmi busybox
  run B load -i "$T/from-skopeo.tar"
  [ "$output" = "Loaded image: example.org/copied:7" ]
  run B load -i "$T/layout"
  [ "$status" -eq 0 ]
  run B image inspect example.org/copied:7
  [ "$(echo "$output" | jq -r '.[0].Config.Cmd[0]')" = sh ]
}

@test "import makes a one-layer image from a root filesystem tarball" {
  python3 "$MKLAYER" ordinary "$T/rootfs.tar"
  gzip -k "$T/rootfs.tar"
  run B import "$T/rootfs.tar.gz" mine:gz
  [ "$status" -eq 0 ]
  [[ "$output" == sha256:* ]]
  layer=$(B image inspect mine:gz | jq -r '.[0].RootFS.Layers[0]')
  d=$T/store/layers/sha256/${layer#sha256:}
  [ "$(cat "$d/etc/hello")" = hello ]
  [ "$(readlink "$d/etc/hello-link")" = hello ]
  [ "$(stat -c %i "$d/etc/hello")" = "$(stat -c %i "$d/etc/hello-hard")" ]
  [ "$(stat -c %a "$d/bin/tool")" = 4755 ]
  # the diff_id is the uncompressed tar's digest
  [ "$layer" = "sha256:$(sha256sum < "$T/rootfs.tar" | cut -d' ' -f1)" ]
}

@test "zstd-compressed layers unpack like gzip and plain ones" {
  command -v zstd >/dev/null || skip "zstd is not installed"
  python3 "$MKLAYER" ordinary "$T/rootfs.tar"
  zstd -q "$T/rootfs.tar" -o "$T/rootfs.tar.zst"
  B import "$T/rootfs.tar.zst" mine:zst
  [ "$(B image inspect mine:zst | jq -r '.[0].RootFS.Layers[0]')" = "sha256:$(sha256sum < "$T/rootfs.tar" | cut -d' ' -f1)" ]
  md=$(B image inspect mine:zst | jq -r '.[0].Manifest')
  [ "$(jq -r '.layers[0].mediaType' "$T/store/blobs/sha256/${md#sha256:}")" = application/vnd.oci.image.layer.v1.tar+zstd ]
}

@test "whiteouts are written as overlayfs expects them" {
  python3 "$MKLAYER" whiteouts "$T/wh.tar"
  B import "$T/wh.tar" wh:1
  layer=$(B image inspect wh:1 | jq -r '.[0].RootFS.Layers[0]')
  d=$T/store/layers/sha256/${layer#sha256:}
  [ "$(stat -c '%F %t:%T' "$d/gone")" = "character special file 0:0" ]
  [ "$(getfattr --only-values -n trusted.overlay.opaque "$d/dir" 2>/dev/null)" = y ] || \
    python3 -c "import os,sys; sys.exit(os.getxattr('$d/dir','trusted.overlay.opaque') != b'y')"
  [ -f "$d/dir/kept" ]
  [ ! -e "$d/dir/.wh..wh..opq" ]
}

@test "hostile layers cannot write outside their directory" {
  host=$T/host-target
  mkdir -p "$host"
  for kind in absolute symlink-then-write relative-symlink-then-write; do
    python3 "$MKLAYER" $kind "$T/$kind.tar" "$host"
    run B import "$T/$kind.tar" "evil:$kind"
    # neutralised: resolved inside the layer
    [ "$status" -eq 0 ]
    [ -z "$(ls -A "$host")" ]
  done
  layer=$(B image inspect evil:symlink-then-write | jq -r '.[0].RootFS.Layers[0]')
  [ -f "$T/store/layers/sha256/${layer#sha256:}$host/through-symlink" ]
  B rmi evil:absolute evil:symlink-then-write evil:relative-symlink-then-write
  for kind in dotdot hardlink-out hardlink-dotdot; do
    python3 "$MKLAYER" $kind "$T/$kind.tar" "$host"
    run B import "$T/$kind.tar" "evil:$kind"
    # refused, with the entry named, and nothing of it kept
    [ "$status" -ne 0 ]
    [[ "$output" == *"layer entry"* ]]
    [ -z "$(ls -A "$host")" ]
    [ -z "$(ls -A "$T/store/blobs/sha256")" ]
  done
  [ "$(stat -c %h /etc/passwd)" = 1 ]
  store_is_clean
}

@test "a corrupted or truncated archive is refused and nothing of it is kept" {
  B save -o "$T/oci.tar" busybox
  B rmi busybox
  mkdir "$T/x" && tar -C "$T/x" -xf "$T/oci.tar"
  layer=$(jq -r '.layers[0].digest' "$T/x/blobs/sha256/$(jq -r '.manifests[0].digest' "$T/x/index.json" | cut -d: -f2)")
  printf 'garbage' >> "$T/x/blobs/sha256/${layer#sha256:}"
  run B load -i "$T/x"
  [ "$status" -ne 0 ]
  [[ "$output" == *"digest mismatch"* ]]
  store_is_clean
  head -c 100000 "$T/oci.tar" > "$T/truncated.tar"
  run B load -i "$T/truncated.tar"
  [ "$status" -ne 0 ]
  store_is_clean
  run B load -i /nonexistent.tar
  [ "$status" -ne 0 ]
  [[ "$output" == *"/nonexistent.tar"* ]]
}

@test "image references are parsed as docker does" {
  B image inspect busybox >/dev/null
  for n in busybox busybox:latest library/busybox docker.io/library/busybox:latest index.docker.io/library/busybox; do
    B image inspect "$n" >/dev/null
  done
  run B tag busybox 'UPPER:case'
  [ "$status" -ne 0 ]
  [[ "$output" == *"invalid reference"* ]]
  run B image inspect nosuchimage
  [ "$status" -ne 0 ]
  [[ "$output" == *"no such image: nosuchimage:latest"* ]]
  id=$(B image inspect busybox | jq -r '.[0].Id')
  [ "$(B image inspect "${id:7:12}" | jq -r '.[0].Id')" = "$id" ]
}

@test "image prune removes what nothing names" {
  python3 "$MKLAYER" ordinary "$T/r.tar"
  B import "$T/r.tar"
  [ -n "$(ls -A "$T/store/holds")" ]
  run B image prune -f
  [[ "$output" == "Total reclaimed space: "* ]]
  [ -z "$(ls -A "$T/store/blobs/sha256")" ]
  B image inspect busybox >/dev/null
  B image prune -a -f
  [ "$(B images -q | wc -l)" -eq 0 ]
  store_is_clean
}

@test "docker loads what berth saves, and berth loads what docker saves" {
  command -v dockerd >/dev/null || skip "dockerd (docker.io) is not installed"
  D=$T/docker
  mkdir -p "$D"
  dockerd_start "$D"
  dk() { /usr/bin/docker -H "unix://$D/sock" "$@"; }
  B save --format docker -o "$T/docker.tar" busybox
  B save -o "$T/oci.tar" busybox
  dk load -i "$T/docker.tar" | grep -q "Loaded image: busybox:latest"
  dk rmi busybox:latest >/dev/null
  dk load -i "$T/oci.tar" | grep -q "Loaded image: busybox:latest"
  dk tag busybox:latest example.org/from-docker:3
  dk save -o "$T/from-docker.tar" example.org/from-docker:3
  run B load -i "$T/from-docker.tar"
  [ "$output" = "Loaded image: example.org/from-docker:3" ]
  [ "$(B image inspect example.org/from-docker:3 | jq -r '.[0].Config.Cmd[0]')" = sh ]
  dockerd_stop "$D"
}
