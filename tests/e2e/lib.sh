# Shared helpers for the end-to-end tests: real processes on loopback, real clients.
# Source it; it defines check/check_contains, port allocation, backend and portico start-up,
# and a cleanup trap. Every test prints "N passed, M failed" and exits non-zero on failure.

portico=${1:?usage: $0 PATH_TO_PORTICO}
source "$(dirname "${BASH_SOURCE[0]}")/../check.sh"
build=${PORTICO_BUILD_DIR:-$(dirname "$portico")}
backend_bin=$build/tests/portico_test_backend

# A free TCP port on 127.0.0.1 (bound and released by python; racy in theory, fine here).
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# start_backend NAME -> sets BACKEND_PORT; the backend reports what it received.
start_backend() {
  local name=$1 out="$work/backend-$1.out"
  "$backend_bin" --listen 127.0.0.1:0 --name "$name" > "$out" 2>"$work/backend-$name.err" &
  pids+=($!)
  for _ in $(seq 100); do
    if grep -q '^listening' "$out" 2>/dev/null; then break; fi
    sleep 0.05
  done
  BACKEND_PORT=$(awk '/^listening/ {split($2, a, ":"); print a[2]}' "$out")
  BACKEND_PID=${pids[-1]}
}

# A Service NAME in NAMESPACE (port 80, named http) and one EndpointSlice per endpoint port on
# 127.0.0.1 (a slice carries one port number, so endpoints on different ports need a slice each).
service_yaml() {  # service_yaml NAMESPACE NAME PORT [PORT...]
  local ns=$1 name=$2 i=0 p
  shift 2
  printf -- '---\napiVersion: v1\nkind: Service\nmetadata: {name: %s, namespace: %s}\nspec: {ports: [{name: http, port: 80}]}\n' "$name" "$ns"
  for p in "$@"; do
    i=$((i + 1))
    printf -- '---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: %s-%s, namespace: %s, labels: {kubernetes.io/service-name: %s}}\nports: [{name: http, port: %s}]\nendpoints: [{addresses: [127.0.0.1]}]\n' "$name" "$i" "$ns" "$name" "$p"
  done
}

# A kubernetes.io/tls Secret with a fresh self-signed certificate for HOST.
tls_secret_yaml() {  # tls_secret_yaml NAMESPACE NAME HOST
  local ns=$1 name=$2 host=$3 dir="$work/pki-$2"
  mkdir -p "$dir"
  openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj "/CN=$host" \
    -addext "subjectAltName=DNS:$host" -keyout "$dir/tls.key" -out "$dir/tls.crt" 2>/dev/null
  printf -- '---\napiVersion: v1\nkind: Secret\nmetadata: {name: %s, namespace: %s}\ntype: kubernetes.io/tls\ndata:\n  tls.crt: %s\n  tls.key: %s\n' \
    "$name" "$ns" "$(base64 -w0 "$dir/tls.crt")" "$(base64 -w0 "$dir/tls.key")"
}

# start_portico MANIFEST_DIR [extra flags] -> sets HTTP_PORT HTTPS_PORT ADMIN_PORT PORTICO_PID
start_portico() {
  local dir=$1 attempt
  shift
  # free_port releases the port before portico binds it: another process (a parallel test) may
  # take it in between. Then portico exits with "Address already in use": try other ports.
  for attempt in 1 2 3; do
    HTTP_PORT=$(free_port)
    HTTPS_PORT=$(free_port)
    ADMIN_PORT=$(free_port)
    "$portico" serve --manifests "$dir" --http-addr "127.0.0.1:$HTTP_PORT" \
      --https-addr "127.0.0.1:$HTTPS_PORT" --admin-addr "127.0.0.1:$ADMIN_PORT" "$@" \
      > "$work/portico.out" 2> "$work/portico.err" &
    PORTICO_PID=$!
    pids+=($PORTICO_PID)
    if wait_ready "$PORTICO_PID" "$ADMIN_PORT"; then return 0; fi
    grep -q "Address already in use" "$work/portico.err" || break
  done
  echo "portico did not become ready:"
  cat "$work/portico.err"
  return 1
}

# wait_ready PID ADMIN_PORT: true once /readyz answers 200; false if the process exits first or
# 10 s pass.
wait_ready() {
  for _ in $(seq 200); do
    if curl -sf "http://127.0.0.1:$2/readyz" >/dev/null 2>&1; then return 0; fi
    kill -0 "$1" 2>/dev/null || return 1
    sleep 0.05
  done
  return 1
}

# The RSS high-water mark of a process, in KiB.
peak_rss_kb() { awk '/VmHWM/ {print $2}' "/proc/$1/status"; }
