#!/usr/bin/env bash
# Cluster mode against the API-server stand-in (tests/kube/apiserver.py):
#  1. watch event -> served traffic latency over UPDATES EndpointSlice updates (target: p99 <= 100 ms);
#  2. RSS per watched EndpointSlice endpoint at ENDPOINTS endpoints (target: <= 2 KB), measured as
#     (RSS after syncing the endpoints - RSS of the same process synced without them) / ENDPOINTS.
#
# usage: bench/kube_watch.sh [BUILD_DIR]   env: UPDATES (1000), ENDPOINTS (50000), PER_SLICE (100)
set -euo pipefail
build=${1:-build/release}
root=$(cd "$(dirname "$0")/.." && pwd)
portico=$root/$build/portico
backend=$root/$build/tests/portico_test_backend
updates=${UPDATES:-1000}
endpoints=${ENDPOINTS:-50000}
per_slice=${PER_SLICE:-100}
work=$(mktemp -d)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT

start_backend() {
  "$backend" --listen 127.0.0.1:0 --name "$1" > "$work/backend-$1.out" &
  pids+=($!)
  for _ in $(seq 100); do grep -q '^listening' "$work/backend-$1.out" 2>/dev/null && break; sleep 0.05; done
  awk '/^listening/ {split($2, a, ":"); print a[2]}' "$work/backend-$1.out"
}
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}
port_a=$(start_backend a)
port_b=$(start_backend b)

python3 "$root/tests/kube/apiserver.py" --state-dir "$work/kube" > "$work/api.out" 2> "$work/api.err" &
pids+=($!)
for _ in $(seq 200); do grep -q '^listening' "$work/api.out" 2>/dev/null && break; sleep 0.05; done
control=$(awk '/^listening/ {print $4}' "$work/api.out")
post() { curl -sf -X POST -H 'Content-Type: application/json' --data-binary @- "$control/objects" >/dev/null; }

post <<EOF
{"apiVersion":"v1","kind":"List","items":[
 {"apiVersion":"networking.k8s.io/v1","kind":"IngressClass","metadata":{"name":"portico"},"spec":{"controller":"portico.dev/ingress-controller"}},
 {"apiVersion":"v1","kind":"Service","metadata":{"name":"web","namespace":"bench"},"spec":{"ports":[{"name":"http","port":80}]}},
 {"apiVersion":"v1","kind":"Service","metadata":{"name":"big","namespace":"bench"},"spec":{"ports":[{"name":"http","port":80}]}},
 {"apiVersion":"discovery.k8s.io/v1","kind":"EndpointSlice","metadata":{"name":"web-a","namespace":"bench","labels":{"kubernetes.io/service-name":"web"}},"addressType":"IPv4","ports":[{"name":"http","port":$port_a}],"endpoints":[{"addresses":["127.0.0.1"]}]},
 {"apiVersion":"networking.k8s.io/v1","kind":"Ingress","metadata":{"name":"web","namespace":"bench"},"spec":{"ingressClassName":"portico","rules":[
   {"host":"web.bench","http":{"paths":[{"path":"/","pathType":"Prefix","backend":{"service":{"name":"web","port":{"number":80}}}}]}},
   {"host":"big.bench","http":{"paths":[{"path":"/","pathType":"Prefix","backend":{"service":{"name":"big","port":{"number":80}}}}]}}]}}
]}
EOF

http_port=$(free_port)
admin_port=$(free_port)
KUBERNETES_SERVICE_HOST=127.0.0.1 KUBERNETES_SERVICE_PORT=$(awk '/^listening/ {n=split($2, a, ":"); print a[n]}' "$work/api.out") \
  PORTICO_SERVICEACCOUNT_DIR="$work/kube/serviceaccount" \
  "$portico" serve --kube --workers 1 --access-log off --http-addr "127.0.0.1:$http_port" \
  --https-addr off --admin-addr "127.0.0.1:$admin_port" > "$work/portico.out" 2> "$work/portico.err" &
portico_pid=$!
pids+=($portico_pid)
for _ in $(seq 200); do curl -sf "http://127.0.0.1:$admin_port/readyz" >/dev/null 2>&1 && break; sleep 0.05; done

echo "== watch event -> served traffic, $updates EndpointSlice updates"
python3 "$root/bench/kube_watch_latency.py" "$control" "$http_port" "$port_a" "$port_b" "$updates"

echo "== RSS per EndpointSlice endpoint, $endpoints endpoints in slices of $per_slice"
rss_kb() { awk '/VmRSS/ {print $2}' "/proc/$portico_pid/status"; }
sleep 1
before=$(rss_kb)
slices=$(( (endpoints + per_slice - 1) / per_slice ))
python3 - "$slices" "$per_slice" "$port_a" > "$work/slices.json" <<'EOF'
import json, sys
slices, per, port = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
items = []
for s in range(slices):
    eps = [{"addresses": [f"10.{(s >> 8) & 255}.{s & 255}.{e % 250 + 1}"],
            "conditions": {"ready": True, "serving": True, "terminating": False},
            "nodeName": f"node-{e % 50}", "zone": "zone-a",
            "targetRef": {"kind": "Pod", "namespace": "bench", "name": f"big-{s}-{e}"}}
           for e in range(per)]
    items.append({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
                  "metadata": {"name": f"big-{s}", "namespace": "bench",
                               "labels": {"kubernetes.io/service-name": "big"}},
                  "addressType": "IPv4", "ports": [{"name": "http", "port": 8080}],
                  "endpoints": eps})
print(json.dumps({"apiVersion": "v1", "kind": "List", "items": items}))
EOF
post < "$work/slices.json"
# Synced when /routes lists every endpoint of bench/big.
for _ in $(seq 600); do
  n=$(curl -s "http://127.0.0.1:$admin_port/routes" | jq '[.. | objects | select(has("endpoints")) | .endpoints | length] | max // 0')
  [ "$n" -ge "$endpoints" ] && break
  sleep 0.2
done
sleep 1
after=$(rss_kb)
peak=$(awk '/VmHWM/ {print $2}' "/proc/$portico_pid/status")
echo "endpoints $n rss_before_kb $before rss_after_kb $after peak_kb $peak" \
  "bytes_per_endpoint $(( (after - before) * 1024 / endpoints ))" \
  "peak_bytes_per_endpoint $(( (peak - before) * 1024 / endpoints ))"
