# Starts Debian's docker-registry on 127.0.0.1 with a config of the test's
# own (state under $T), optionally with htpasswd basic auth.  The test's
# teardown stops it (its pid is in BG_PIDS).

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

start_registry() { # [htpasswd USER PASS]
  command -v docker-registry >/dev/null || skip "docker-registry is not installed"
  REG_PORT=$(free_port)
  REG=127.0.0.1:$REG_PORT
  mkdir -p "$T/registry/data"
  cat > "$T/registry/config.yml" <<YML
version: 0.1
log:
  level: error
storage:
  filesystem:
    rootdirectory: $T/registry/data
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$REG_PORT
YML
  if [ "${1:-}" = token ]; then
    TOKEN_PORT=$(free_port)
    openssl req -x509 -newkey rsa:2048 -nodes -subj /CN=berth-test -days 1 \
      -keyout "$T/registry/key.pem" -out "$T/registry/cert.pem" 2>/dev/null
    python3 "$BATS_TEST_DIRNAME/token-server.py" "$TOKEN_PORT" "$T/registry/key.pem" "$T/registry/cert.pem" "$2" "$3" &
    BG_PIDS="${BG_PIDS:-} $!"
    # Up before the registry sends anyone to it.
    for i in $(seq 100); do
      curl -s -o /dev/null "http://127.0.0.1:$TOKEN_PORT/" && break
      sleep 0.1
    done
    cat >> "$T/registry/config.yml" <<YML
auth:
  token:
    realm: http://127.0.0.1:$TOKEN_PORT/token
    service: berth-test
    issuer: berth-test-issuer
    rootcertbundle: $T/registry/cert.pem
YML
  fi
  if [ "${1:-}" = htpasswd ]; then
    htpasswd -Bbn "$2" "$3" > "$T/registry/htpasswd"
    cat >> "$T/registry/config.yml" <<YML
auth:
  htpasswd:
    realm: berth-test
    path: $T/registry/htpasswd
YML
  fi
  docker-registry serve "$T/registry/config.yml" > "$T/registry/log" 2>&1 &
  REG_PID=$!
  BG_PIDS="${BG_PIDS:-} $REG_PID"
  for i in $(seq 100); do
    curl -s -o /dev/null "http://$REG/v2/" && return 0
    sleep 0.1
  done
  cat "$T/registry/log" >&2
  return 1
}
