#!/usr/bin/env bats
# Pull and push through a real registry (Debian's docker-registry on
# 127.0.0.1), with and without authentication, and the failure cases.

load helpers
load registry
bats_require_minimum_version 1.5.0

BERTH=$TOP/build/berth
B() { BERTH_AUTH_FILE=$T/auth.json "$BERTH" --root "$T/store" "$@"; }

@test "push, then pull into an empty store, over plain http named insecure" {
  start_registry
  B tag busybox "$REG/test/busybox:1"
  run B push --tls-verify=false "$REG/test/busybox:1"
  [ "$status" -eq 0 ]
  id=$(B image inspect busybox | jq -r '.[0].Id')
  rm -rf "$T/store"
  run B pull --tls-verify=false "$REG/test/busybox:1"
  [ "$status" -eq 0 ]
  [[ "$output" == *"Pull complete"* ]]
  [[ "$output" == *"Digest: sha256:"* ]]
  [ "$(B image inspect "$REG/test/busybox:1" | jq -r '.[0].Id')" = "$id" ]
  # by digest too
  md=$(B image inspect "$REG/test/busybox:1" | jq -r '.[0].Manifest')
  B rmi "$REG/test/busybox:1"
  run B pull --tls-verify=false "$REG/test/busybox@$md"
  [ "$status" -eq 0 ]
  # pulling again finds every layer present
  B pull --tls-verify=false "$REG/test/busybox:1" | grep -q "Already exists"
}

@test "plain http is refused unless the registry is named insecure" {
  start_registry
  run B pull "$REG/test/busybox:1"
  [ "$status" -ne 0 ]
  BERTH_INSECURE_REGISTRIES="$REG" B image inspect busybox >/dev/null
  B tag busybox "$REG/x/y:z"
  BERTH_INSECURE_REGISTRIES="$REG" B push "$REG/x/y:z"
}

@test "basic auth: push needs login, login is checked and saved 0600, logout forgets" {
  start_registry htpasswd alice s3cret
  B tag busybox "$REG/priv/busybox:1"
  run B push --tls-verify=false "$REG/priv/busybox:1"
  [ "$status" -ne 0 ]
  [[ "$output" == *"authentication required"* ]]
  run B login --tls-verify=false -u alice -p wrong "$REG"
  [ "$status" -ne 0 ]
  [[ "$output" == *"wrong user name or password"* ]]
  [ ! -e "$T/auth.json" ]
  echo s3cret | B login --tls-verify=false -u alice --password-stdin "$REG"
  [ "$(stat -c %a "$T/auth.json")" = 600 ]
  B push --tls-verify=false "$REG/priv/busybox:1"
  B rmi "$REG/priv/busybox:1"
  B pull --tls-verify=false "$REG/priv/busybox:1"
  B logout "$REG"
  run B pull --tls-verify=false "$REG/priv/busybox:1"
  [ "$status" -ne 0 ]
}

@test "a missing image, a dead registry and a corrupted blob fail cleanly" {
  start_registry
  run B pull --tls-verify=false "$REG/none/such:1"
  [ "$status" -ne 0 ]
  [[ "$output" == *"manifest unknown"* ]]
  B tag busybox "$REG/c/busybox:1"
  B push --tls-verify=false "$REG/c/busybox:1"
  md=$(B image inspect "$REG/c/busybox:1" | jq -r '.[0].Manifest')
  layer=$(jq -r '.layers[0].digest' "$T/store/blobs/sha256/${md#sha256:}")
  rm -rf "$T/store"
  # corrupt the layer inside the registry's storage
  data=$(find "$T/registry/data" -path "*blobs/sha256/*/${layer#sha256:}/data")
  [ -f "$data" ]
  printf 'X' | dd of="$data" bs=1 seek=100 conv=notrunc 2>/dev/null
  run B pull --tls-verify=false "$REG/c/busybox:1"
  [ "$status" -ne 0 ]
  [[ "$output" == *"digest mismatch"* ]]
  [ -z "$(ls -A "$T/store/blobs/sha256")" ]
  [ -z "$(ls -A "$T/store/tmp")" ]
  kill $REG_PID; wait $REG_PID 2>/dev/null || true
  run B pull --tls-verify=false "$REG/c/busybox:1"
  [ "$status" -ne 0 ]
  [[ "$output" == *"$REG"* ]]
}

@test "a manifest that lies about a layer's size is refused" {
  start_registry
  B tag busybox "$REG/l/busybox:1"
  B push --tls-verify=false "$REG/l/busybox:1"
  md=$(B image inspect "$REG/l/busybox:1" | jq -r '.[0].Manifest')
  jq -c '.layers[0].size -= 1000' "$T/store/blobs/sha256/${md#sha256:}" > "$T/lying.json"
  curl -sf -X PUT -H "Content-Type: application/vnd.oci.image.manifest.v1+json" \
    --data-binary @"$T/lying.json" "http://$REG/v2/l/busybox/manifests/lies"
  rm -rf "$T/store"
  run B pull --tls-verify=false "$REG/l/busybox:lies"
  [ "$status" -ne 0 ]
  [[ "$output" == *"more than its"* ]] || [[ "$output" == *"descriptor says"* ]]
  [ -z "$(ls -A "$T/store/blobs/sha256")" ]
  [ -z "$(ls -A "$T/store/tmp")" ]
}

@test "a truncated layer (fewer bytes than the manifest says) is refused" {
  start_registry
  B tag busybox "$REG/t/busybox:1"
  B push --tls-verify=false "$REG/t/busybox:1"
  md=$(B image inspect "$REG/t/busybox:1" | jq -r '.[0].Manifest')
  jq -c '.layers[0].size += 1000' "$T/store/blobs/sha256/${md#sha256:}" > "$T/long.json"
  curl -sf -X PUT -H "Content-Type: application/vnd.oci.image.manifest.v1+json" \
    --data-binary @"$T/long.json" "http://$REG/v2/t/busybox/manifests/short"
  rm -rf "$T/store"
  run B pull --tls-verify=false "$REG/t/busybox:short"
  [ "$status" -ne 0 ]
  [[ "$output" == *"descriptor says"* ]]
  [ -z "$(ls -A "$T/store/blobs/sha256")" ]
}

@test "on a terminal, pull draws a progress bar per layer" {
  command -v script >/dev/null || skip "script is not installed"
  start_registry
  B tag busybox "$REG/tty/busybox:1"
  B push --tls-verify=false "$REG/tty/busybox:1"
  rm -rf "$T/store"
  script -qec "BERTH_AUTH_FILE=$T/auth.json $BERTH --root $T/store pull --tls-verify=false $REG/tty/busybox:1" "$T/typescript" >/dev/null
  grep -q "Downloading \[" "$T/typescript"
  grep -q "Pull complete" "$T/typescript"
  grep -q $'\033\[2K' "$T/typescript"
}

@test "a full disk fails the pull and leaves no partial blob" {
  start_registry
  B tag busybox "$REG/d/busybox:1"
  B push --tls-verify=false "$REG/d/busybox:1"
  mkdir -p "$T/small"
  mount -t tmpfs -o size=1m tmpfs "$T/small"
  run "$BERTH" --root "$T/small/store" pull --tls-verify=false "$REG/d/busybox:1"
  [ "$status" -ne 0 ]
  [[ "$output" == *"No space left on device"* ]]
  [ -z "$(ls -A "$T/small/store/tmp")" ]
  [ -z "$(ls -A "$T/small/store/blobs/sha256")" ]
  umount "$T/small"
}

# The large case: a Debian minbase image, built once and cached.
push_debian() {
  deb=$("$TOP/scripts/debian-image.sh") || skip "no Debian image (debootstrap failed)"
  B import "$deb" "$REG/big/debian:12" >/dev/null
  B push --tls-verify=false "$REG/big/debian:12"
  rm -rf "$T/store"
}

@test "the large image: ^C mid-pull leaves nothing that looks complete, and the next pull finishes clean" {
  start_registry
  push_debian
  # Background jobs start with SIGINT ignored; a terminal's ^C would not be.
  BERTH_AUTH_FILE=$T/auth.json python3 -c 'import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); os.execv(sys.argv[1], sys.argv[1:])' \
    "$BERTH" --root "$T/store" pull --tls-verify=false "$REG/big/debian:12" > "$T/pull.log" 2>&1 &
  pid=$!
  # interrupt while the layer streams or unpacks
  for i in $(seq 100); do [ -n "$(ls -A "$T/store/tmp" 2>/dev/null)" ] && break; sleep 0.05; done
  kill -INT $pid
  st=0
  wait $pid || st=$?
  [ "$st" -eq 130 ] || skip "the pull finished before the interrupt"
  # nothing published: no reference, no layer; only tmp/ work
  [ ! -s "$T/store/refs.json" ] || [ "$(jq '.refs | length' "$T/store/refs.json")" = 0 ]
  [ -z "$(ls -A "$T/store/layers/sha256" 2>/dev/null)" ]
  run B pull --tls-verify=false "$REG/big/debian:12"
  [ "$status" -eq 0 ]
  [ -z "$(ls -A "$T/store/tmp")" ]
  layer=$(B image inspect "$REG/big/debian:12" | jq -r '.[0].RootFS.Layers[0]')
  [ -x "$T/store/layers/sha256/${layer#sha256:}/usr/bin/apt-get" ]
  [ "$(du -sm "$T/store/layers/sha256/${layer#sha256:}" | cut -f1)" -gt 100 ]
}

@test "the registry going away mid-pull fails the pull and keeps nothing" {
  start_registry
  push_debian
  B pull --tls-verify=false "$REG/big/debian:12" > "$T/pull.log" 2>&1 &
  pid=$!
  for i in $(seq 100); do [ -n "$(ls -A "$T/store/tmp" 2>/dev/null)" ] && break; sleep 0.05; done
  kill $REG_PID
  st=0
  wait $pid || st=$?
  [ "$st" -ne 0 ] || skip "the pull finished before the registry went away"
  [ -z "$(ls -A "$T/store/tmp")" ]
  [ -z "$(ls -A "$T/store/blobs/sha256")" ]
  [ -z "$(ls -A "$T/store/layers/sha256")" ]
}

@test "Bearer tokens: anonymous pull, push after login, through the realm flow" {
  command -v openssl >/dev/null || skip "openssl is not installed"
  start_registry token bob hunter2
  B tag busybox "$REG/tok/busybox:1"
  run B push --tls-verify=false "$REG/tok/busybox:1"
  [ "$status" -ne 0 ]
  B login --tls-verify=false -u bob -p hunter2 "$REG"
  B push --tls-verify=false "$REG/tok/busybox:1"
  B logout "$REG"
  rm -rf "$T/store"
  # anonymous: the token server grants pull
  run B pull --tls-verify=false "$REG/tok/busybox:1"
  [ "$status" -eq 0 ]
  [[ "$output" == *"Pull complete"* ]]
  run B login --tls-verify=false -u bob -p wrong "$REG"
  [ "$status" -ne 0 ]
}

@test "two pulls of the same image at once are safe" {
  start_registry
  B tag busybox "$REG/p/busybox:1"
  B push --tls-verify=false "$REG/p/busybox:1"
  rm -rf "$T/store"
  B pull -q --tls-verify=false "$REG/p/busybox:1" > "$T/a.log" 2>&1 &
  a=$!
  B pull -q --tls-verify=false "$REG/p/busybox:1" > "$T/b.log" 2>&1 &
  b=$!
  wait $a
  wait $b
  [ "$(ls "$T/store/layers/sha256" | wc -l)" -eq 1 ]
  [ -z "$(ls -A "$T/store/tmp")" ]
  layer=$(B image inspect "$REG/p/busybox:1" | jq -r '.[0].RootFS.Layers[0]')
  [ -x "$T/store/layers/sha256/${layer#sha256:}/bin/busybox" ]
}

@test "pull and rmi of one image at once: whichever wins, the image is whole or gone" {
  start_registry
  B tag busybox "$REG/r/busybox:1"
  B push --tls-verify=false "$REG/r/busybox:1"
  # Nothing else names its blobs and layers: rmi takes them.
  B rmi "$REG/r/busybox:1" busybox
  for i in 1 2 3 4 5 6; do
    B pull -q --tls-verify=false "$REG/r/busybox:1" >/dev/null 2>&1 &
    p=$!
    sleep "0.$((RANDOM % 3))"
    B rmi "$REG/r/busybox:1" >/dev/null 2>&1 || true
    wait "$p" || true
    if B image inspect "$REG/r/busybox:1" >/dev/null 2>&1; then
      B run --rm --network none "$REG/r/busybox:1" true
    fi
    [ -z "$(ls -A "$T/store/tmp")" ]
  done
  B pull -q --tls-verify=false "$REG/r/busybox:1"
  B run --rm --network none "$REG/r/busybox:1" true
}

@test "skopeo and berth exchange images through the registry" {
  command -v skopeo >/dev/null || skip "skopeo is not installed"
  start_registry
  B save -o "$T/bb.tar" busybox
  skopeo copy -q --dest-tls-verify=false "oci-archive:$T/bb.tar:latest" "docker://$REG/from/skopeo:1"
  run B pull --tls-verify=false "$REG/from/skopeo:1"
  [ "$status" -eq 0 ]
  B tag busybox "$REG/from/berth:2"
  B push --tls-verify=false "$REG/from/berth:2"
  skopeo copy -q --src-tls-verify=false "docker://$REG/from/berth:2" "oci:$T/back:2"
  [ "$(jq -r '.manifests | length' "$T/back/index.json")" = 1 ]
  skopeo inspect --tls-verify=false "docker://$REG/from/berth:2" | jq -e '.Layers | length == 1' >/dev/null
}

@test "run and create pull a missing image (--pull missing|always|never, --platform)" {
  start_registry
  export BERTH_INSECURE_REGISTRIES="$REG"
  B tag busybox "$REG/test/auto:1"
  B push "$REG/test/auto:1"
  B rmi "$REG/test/auto:1"
  # Missing: pulled first, said on stderr, then run.
  run B run --rm --network none "$REG/test/auto:1" echo ran
  [ "$status" -eq 0 ]
  [[ "$output" == *"Unable to find image '$REG/test/auto:1' locally"* ]]
  [[ "$output" == *"Downloaded image for $REG/test/auto:1"* ]]
  [[ "$output" == *ran* ]]
  # Present: not pulled again.
  run B run --rm --network none "$REG/test/auto:1" echo again
  [ "$output" = again ]
  # always pulls (the layers are here already), never refuses what is missing.
  run B create --pull always --name c1 --network none "$REG/test/auto:1" true
  [ "$status" -eq 0 ]
  [[ "$output" == *"Downloaded image"* ]]
  B rm c1
  B rmi "$REG/test/auto:1"
  run -125 B run --rm --pull never "$REG/test/auto:1" true
  [[ "$output" == *"no such image"*"--pull=never"* ]]
  run -125 B run --rm --pull sometimes busybox true
  [[ "$output" == *'"sometimes" is not always, missing or never'* ]]
  # A platform the image does not have is refused by the pull.
  run B run --rm --platform linux/s390x --network none "$REG/test/auto:1" true
  [ "$status" -ne 0 ]
  run B run --rm --platform linux/amd64 --network none "$REG/test/auto:1" echo amd64
  [ "$status" -eq 0 ]
  [[ "$output" == *amd64* ]]
  # A registry that is not there: the run fails with the pull's error.
  run B run --rm "127.0.0.1:1/none/such:1" true
  [ "$status" -eq 125 ]
  [ -z "$(B ps -aq)" ]
}
