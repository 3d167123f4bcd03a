#!/usr/bin/env bash
# backend-protocol GRPC and GRPCS: a real gRPC client and server (Debian's python3-grpcio, see
# grpc_peer.py) through portico over h2 (TLS, the client trusting the Ingress's certificate)
# and h2c, to an h2c upstream (GRPC) and an h2-over-TLS upstream (GRPCS). Unary and
# bidirectional streaming calls, a large response (flow control), a server error status, client
# deadlines, proxy-read-timeout, and what a client gets when the upstream is down.
source "$(dirname "$0")/lib.sh"

py=/usr/bin/python3  # Debian's: the python3 on PATH may be a build without Debian's packages
peer="$src/tests/e2e/grpc_peer.py"
if ! "$py" -c 'import grpc' 2>/dev/null; then
  echo "FAIL: python3-grpcio is required (scripts/deps.sh installs it)"
  exit 1
fi

# start_grpc NAME [--tls CERT KEY] -> sets GRPC_PORT
start_grpc() {
  local name=$1 out="$work/grpc-$1.out"
  shift
  "$py" "$peer" server "$name" "$@" > "$out" 2> "$work/grpc-$name.err" &
  pids+=($!)
  for _ in $(seq 200); do
    if grep -q '^listening' "$out" 2>/dev/null; then break; fi
    sleep 0.05
  done
  GRPC_PORT=$(awk '/^listening/ {print $2}' "$out")
}

mkdir -p "$work/upstream-pki"
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj "/CN=upstream.internal" \
  -addext "subjectAltName=DNS:upstream.internal" -keyout "$work/upstream-pki/tls.key" \
  -out "$work/upstream-pki/tls.crt" 2>/dev/null
start_grpc plain
plain_port=$GRPC_PORT
start_grpc secure --tls "$work/upstream-pki/tls.crt" "$work/upstream-pki/tls.key"
secure_port=$GRPC_PORT
start_grpc flaky
flaky_port=$GRPC_PORT
flaky_pid=${pids[-1]}
dead_port=$(free_port)  # nothing listens here

m="$work/manifests"
mkdir -p "$m"
ingress() {  # ingress NAME HOST SERVICE [ANNOTATION: VALUE ...]
  local name=$1 host=$2 service=$3 a
  shift 3
  printf -- '---\napiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: %s\n  namespace: rpc\n  annotations:\n    nginx.ingress.kubernetes.io/ssl-redirect: "false"\n' "$name"
  for a in "$@"; do printf '    %s\n' "$a"; done
  printf 'spec:\n  tls: [{hosts: ["*.grpc.test"], secretName: grpc-tls}]\n  rules:\n  - host: %s\n    http:\n      paths:\n      - {path: /, pathType: Prefix, backend: {service: {name: %s, port: {number: 80}}}}\n' "$host" "$service"
}
{
  ingress plain plain.grpc.test plain 'nginx.ingress.kubernetes.io/backend-protocol: GRPC'
  ingress secure secure.grpc.test secure 'portico.dev/backend-protocol: GRPCS'
  ingress slow slow.grpc.test plain 'nginx.ingress.kubernetes.io/backend-protocol: GRPC' \
    'nginx.ingress.kubernetes.io/proxy-read-timeout: "1"'
  ingress flaky flaky.grpc.test flaky 'nginx.ingress.kubernetes.io/backend-protocol: GRPC'
  ingress down down.grpc.test dead 'nginx.ingress.kubernetes.io/backend-protocol: GRPC'
  ingress empty empty.grpc.test empty 'nginx.ingress.kubernetes.io/backend-protocol: GRPC'
  ingress wrong wrong.grpc.test plain 'nginx.ingress.kubernetes.io/backend-protocol: GRPCS'
  service_yaml rpc plain "$plain_port"
  service_yaml rpc secure "$secure_port"
  service_yaml rpc flaky "$flaky_port"
  service_yaml rpc dead "$dead_port"
  printf -- '---\napiVersion: v1\nkind: Service\nmetadata: {name: empty, namespace: rpc}\nspec: {ports: [{name: http, port: 80}]}\n'
  tls_secret_yaml rpc grpc-tls "*.grpc.test"
} > "$m/all.yaml"

start_portico "$m" --workers 2 || finish
ca="$work/pki-grpc-tls/tls.crt"
h2c="127.0.0.1:$HTTP_PORT"
h2="127.0.0.1:$HTTPS_PORT"

call() {  # call h2c|h2 HOST METHOD [ARGS...]
  local front=$1 host=$2
  shift 2
  if [ "$front" = h2 ]; then
    timeout 30 "$py" "$peer" client "$h2" "$host" "$1" --ca "$ca" "${@:2}"
  else
    timeout 30 "$py" "$peer" client "$h2c" "$host" "$@"
  fi
}

for front in h2c h2; do
  for upstream in plain secure; do
    host=$upstream.grpc.test
    what="$front to $([ $upstream = plain ] && echo GRPC || echo GRPCS)"
    check "$what: unary call" "OK $upstream:hello" "$(call $front $host Echo hello)"
    check "$what: bidirectional stream, replies interleaved with requests" "OK re:a,re:b,re:c" \
      "$(call $front $host Chat a,b,c)"
    check "$what: 8 MiB response through flow control" "OK 8388608" \
      "$(call $front $host Blob 8388608)"
    check "$what: server error status and message reach the client" \
      "ERR PERMISSION_DENIED denied by test" "$(call $front $host Fail x)"
    check "$what: error status after streamed messages (trailers after DATA)" \
      "ERR ABORTED stream ended by test" "$(call $front $host Chat a,fail)"
    check "$what: client deadline exceeded" "ERR DEADLINE_EXCEEDED Deadline Exceeded" \
      "$(call $front $host Slow --timeout 0.5 3)"
  done
done

# A large request body: the upload streams through both windows.
check "h2c to GRPC: 3 MB request" "OK $((3000000 + 6))" "$(call h2c plain.grpc.test Echo '*3000000')"
check "h2 to GRPCS: 3 MB request" "OK $((3000000 + 7))" "$(call h2 secure.grpc.test Echo '*3000000')"

# proxy-read-timeout: the upstream answers later than the route allows.
out=$(call h2c slow.grpc.test Slow 3)
check_contains "proxy-read-timeout: DEADLINE_EXCEEDED from portico" \
  "ERR DEADLINE_EXCEEDED portico" "$out"
check_contains "proxy-read-timeout mid-stream: DEADLINE_EXCEEDED in trailers" \
  "ERR DEADLINE_EXCEEDED portico: upstream read timed out" "$(call h2 slow.grpc.test Chat a,sleep)"
check "within proxy-read-timeout the call succeeds" "OK slept" "$(call h2c slow.grpc.test Slow 0.2)"

# Upstream failures become statuses a gRPC client reads (trailers-only responses).
check_contains "connect refused: UNAVAILABLE" "ERR UNAVAILABLE portico" \
  "$(call h2c down.grpc.test Echo x)"
check_contains "no ready endpoint: UNAVAILABLE" "ERR UNAVAILABLE portico: no ready endpoint" \
  "$(call h2 empty.grpc.test Echo x)"
check_contains "GRPCS to a cleartext upstream: UNAVAILABLE" "ERR UNAVAILABLE portico: TLS" \
  "$(call h2c wrong.grpc.test Echo x)"

# An upstream that goes away: its shared session ends, the next call gets UNAVAILABLE.
check "before the upstream goes away" "OK flaky:x" "$(call h2c flaky.grpc.test Echo x)"
kill "$flaky_pid"
wait "$flaky_pid" 2>/dev/null
check_contains "after: UNAVAILABLE from portico" "ERR UNAVAILABLE portico" \
  "$(call h2c flaky.grpc.test Echo x)"

# HTTP/1.1 clients of a gRPC route: 426, naming HTTP/2, on the same keep-alive connection.
out=$(curl -s -i --http1.1 -H 'Host: plain.grpc.test' "http://$h2c/portico.test.Echo/Echo" \
  "http://$h2c/portico.test.Echo/Echo" | tr -d '\r')
check "HTTP/1.1 client: 426 twice on one connection" 2 "$(grep -c '^HTTP/1.1 426' <<<"$out")"
check_contains "HTTP/1.1 client: Upgrade: h2c" "Upgrade: h2c" "$out"
out=$(curl -s -i --http1.1 --cacert "$ca" --resolve "plain.grpc.test:$HTTPS_PORT:127.0.0.1" \
  "https://plain.grpc.test:$HTTPS_PORT/portico.test.Echo/Echo" | tr -d '\r')
check_contains "HTTP/1.1 over TLS: 426 with Upgrade: h2" $'426 Upgrade Required\nServer: portico\nContent-Type: text/plain; charset=utf-8\nUpgrade: h2\n' "$out"

# Calls at once on one client connection each get their own answer.
check "h2c: 20 concurrent calls on one connection" \
  "OK $(for i in $(seq 0 19); do echo "plain:n$i"; done | sort | paste -sd' ')" \
  "$(call h2c plain.grpc.test EchoMany 20)"
check "h2: 20 concurrent GRPCS calls on one connection" \
  "OK $(for i in $(seq 0 19); do echo "secure:n$i"; done | sort | paste -sd' ')" \
  "$(call h2 secure.grpc.test EchoMany 20)"

# Calls share upstream connections: the calls of one client connection are multiplexed on one
# upstream connection, and clients that come one after another reuse it (one per worker).
check "h2c: 20 concurrent calls share one upstream connection" "OK 1" \
  "$(call h2c plain.grpc.test PeerMany 20)"
check "h2: 20 concurrent GRPCS calls share one upstream connection" "OK 1" \
  "$(call h2 secure.grpc.test PeerMany 20)"
peers=$(for i in 1 2 3 4 5 6; do call h2c plain.grpc.test Peer; done | sort -u | wc -l)
check "6 clients one after another: at most one upstream connection per worker" yes \
  "$([ "$peers" -le 2 ] && echo yes || echo "no: $peers")"

# The access log has a line per call, with the HTTP status the outcome stands for.
sleep 0.3  # the log is flushed every 100 ms
line=$(grep '"/portico.test.Echo/Echo"' "$work/portico.out" | grep '"ingress":"down"' | tail -1)
check "access log: refused call logged as 502" 502 "$(jq -r .status <<<"$line")"
line=$(grep '"/portico.test.Echo/Blob"' "$work/portico.out" | grep '"ingress":"secure"' | tail -1)
check "access log: GRPCS call, status, service and bytes out" "200 HTTP/2 secure true" \
  "$(jq -r '"\(.status) \(.protocol) \(.service) \(.bytes_out > 8388608)"' <<<"$line")"

kill -0 "$PORTICO_PID" 2>/dev/null
check "portico still running" 0 $?

# SIGTERM with a call in flight and upstream sessions open: the call completes, portico exits 0.
call h2c plain.grpc.test Slow 4 > "$work/inflight.out" &
inflight=$!
sleep 2
kill -TERM "$PORTICO_PID"
wait "$inflight"
check "SIGTERM: the call in flight completes" "OK slept" "$(cat "$work/inflight.out")"
wait "$PORTICO_PID"
check "SIGTERM: portico exits 0 with upstream HTTP/2 sessions open" 0 $?
finish
