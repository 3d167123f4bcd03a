#!/usr/bin/env bash
# What a gRPC call costs through portico (backend-protocol GRPC and GRPCS): the mean time of
# sequential unary calls on one channel from a real gRPC client (python3-grpcio) directly to the
# server, through portico h2c -> GRPC (h2c upstream) and h2 over TLS -> GRPCS (h2 over TLS
# upstream). Calls share upstream connections, so neither path pays a connect or a handshake per
# call. The Python client and server dominate the absolute figures; the difference is portico's.
#
#   bench/grpc_calls.sh [BUILD_DIR]        (default: build/release)
#
# Environment: CALLS=1000 (per run), RUNS=3 (interleaved; the median is printed).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${1:-$root/build/release}
portico=$build/portico
peer=$root/tests/e2e/grpc_peer.py
py=/usr/bin/python3
calls=${CALLS:-1000}
runs=${RUNS:-3}
[[ -x $portico ]] || { echo "grpc_calls: build portico in $build" >&2; exit 1; }
"$py" -c 'import grpc' 2>/dev/null || { echo "grpc_calls: python3-grpcio is required" >&2; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/grpc_calls.XXXXXX")
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; wait 2>/dev/null; rm -rf "$work"' EXIT
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}
cert() {  # cert NAME CN
  openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj "/CN=$2" -addext "subjectAltName=DNS:$2" \
    -keyout "$work/$1.key" -out "$work/$1.crt" 2>/dev/null
}
start_server() {  # start_server NAME [--tls CERT KEY] -> PORT
  "$py" "$peer" server "$@" > "$work/$1.out" 2>&1 &
  pids+=($!)
  for _ in $(seq 200); do grep -q '^listening' "$work/$1.out" && break; sleep 0.05; done
  PORT=$(awk '/^listening/ {print $2}' "$work/$1.out")
}
cert upstream upstream.internal
cert front '*.grpc.test'
start_server plain
plain=$PORT
start_server secure --tls "$work/upstream.crt" "$work/upstream.key"
secure=$PORT

mkdir -p "$work/m"
for name in plain secure; do
  protocol=$([ $name = plain ] && echo GRPC || echo GRPCS)
  port=$([ $name = plain ] && echo "$plain" || echo "$secure")
  cat >> "$work/m/all.yaml" <<YAML
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: $name
  namespace: bench
  annotations: {nginx.ingress.kubernetes.io/backend-protocol: $protocol, nginx.ingress.kubernetes.io/ssl-redirect: "false"}
spec:
  tls: [{hosts: ["*.grpc.test"], secretName: front}]
  rules: [{host: $name.grpc.test, http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: $name, port: {number: 80}}}}]}}]
---
apiVersion: v1
kind: Service
metadata: {name: $name, namespace: bench}
spec: {ports: [{name: http, port: 80}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: $name-1, namespace: bench, labels: {kubernetes.io/service-name: $name}}
ports: [{name: http, port: $port}]
endpoints: [{addresses: [127.0.0.1]}]
YAML
done
cat >> "$work/m/all.yaml" <<YAML
---
apiVersion: v1
kind: Secret
metadata: {name: front, namespace: bench}
type: kubernetes.io/tls
data: {tls.crt: $(base64 -w0 "$work/front.crt"), tls.key: $(base64 -w0 "$work/front.key")}
YAML
http=$(free_port)
https=$(free_port)
admin=$(free_port)
"$portico" serve --manifests "$work/m" --http-addr "127.0.0.1:$http" --https-addr "127.0.0.1:$https" \
  --admin-addr "127.0.0.1:$admin" --workers 1 --access-log off > "$work/portico.out" 2>&1 &
pids+=($!)
for _ in $(seq 200); do curl -sf "http://127.0.0.1:$admin/readyz" >/dev/null 2>&1 && break; sleep 0.05; done

loop() { "$py" "$peer" client "$1" "$2" EchoLoop "${@:3}" "$calls" | awk '{print $2}'; }
declare -A results
for _ in $(seq "$runs"); do
  results[direct]+="$(loop "127.0.0.1:$plain" plain.grpc.test) "
  results[h2c_grpc]+="$(loop "127.0.0.1:$http" plain.grpc.test) "
  results[h2_grpcs]+="$(loop "127.0.0.1:$https" secure.grpc.test --ca "$work/front.crt") "
done
median() { tr ' ' '\n' | grep . | sort -n | awk '{a[NR]=$1} END {print a[int((NR + 1) / 2)]}'; }
echo "unary calls, $calls per run, median of $runs runs (us per call; runs: ...)"
for k in direct h2c_grpc h2_grpcs; do
  printf '%-10s %6s   (%s)\n' "$k" "$(median <<<"${results[$k]}")" "${results[$k]% }"
done
