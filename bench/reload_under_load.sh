#!/usr/bin/env bash
# Reloads under load: 100 rule changes while wrk drives portico (zero failed requests expected),
# then 1,000 reloads with RSS sampled before and after (flat within 5% expected), and the delay
# from a file write to the new rule being served.
#
# usage: bench/reload_under_load.sh [BUILD_DIR]   env: RELOADS (default 1000)
set -euo pipefail
build=${1:-build/release}
root=$(cd "$(dirname "$0")/.." && pwd)
portico=$root/$build/portico
backend=$root/$build/tests/portico_test_backend
reloads=${RELOADS:-1000}
work=$(mktemp -d)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT

"$backend" --listen 127.0.0.1:0 --name web > "$work/backend.out" &
pids+=($!)
sleep 0.3
backend_port=$(awk '/^listening/ {split($2, a, ":"); print a[2]}' "$work/backend.out")
# Below the ephemeral range (32768+), where outgoing connections take their ports.
port=$((10000 + RANDOM % 20000))
admin=$((port + 1))

write_rules() {  # write_rules N: the Ingress with an extra Exact path /rule-N
  cat > "$work/m/ingress.yaml.tmp" <<EOF
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: bench, namespace: bench}
spec:
  rules:
  - http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}
      - {path: /rule-$1, pathType: Exact, backend: {service: {name: web, port: {number: 80}}}}
EOF
  mv "$work/m/ingress.yaml.tmp" "$work/m/ingress.yaml"
}
mkdir -p "$work/m"
write_rules 0
cat > "$work/m/service.yaml" <<EOF
apiVersion: v1
kind: Service
metadata: {name: web, namespace: bench}
spec: {ports: [{port: 80}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: web-1, namespace: bench, labels: {kubernetes.io/service-name: web}}
ports: [{port: $backend_port}]
endpoints: [{addresses: [127.0.0.1]}]
EOF
"$portico" serve --manifests "$work/m" --workers 1 --access-log off --log-level error \
  --http-addr "127.0.0.1:$port" --https-addr off --admin-addr "127.0.0.1:$admin" &
pid=$!
pids+=($pid)
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$admin/readyz" >/dev/null && break; sleep 0.05; done

generation() { curl -s "http://127.0.0.1:$admin/metrics" | awk '/^portico_table_generation / {print $2}'; }

# ---- 100 rule changes under load
wrk -t1 -c50 -d12s "http://127.0.0.1:$port/" > "$work/wrk.out" 2>&1 &
wrk_pid=$!
sleep 1
for i in $(seq 1 100); do
  write_rules "$i"
  sleep 0.1
done
wait $wrk_pid
requests=$(awk '/requests in/ {print $1}' "$work/wrk.out")
non2xx=$(awk '/Non-2xx/ {print $5}' "$work/wrk.out")
socket_errors=$(awk '/Socket errors/ {s=0; for (i=4;i<=NF;i+=2) s+=$i; print s}' "$work/wrk.out")
echo "under load: $requests requests, non-2xx: ${non2xx:-0}, socket errors: ${socket_errors:-0}, generation $(generation)"

# ---- write-to-served delay, 20 samples
delays=()
for i in $(seq 1 20); do
  n=$((1000 + i))
  start=$(date +%s%N)
  write_rules "$n"
  until [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/rule-$n")" = 200 ]; do :; done
  delays+=($(( ($(date +%s%N) - start) / 1000000 )))
done
sorted=$(printf '%s\n' "${delays[@]}" | sort -n)
echo "write -> served: median $(sed -n 10p <<<"$sorted") ms, max $(tail -1 <<<"$sorted") ms (20 samples)"

# ---- RSS across many reloads
rss() { awk '/VmRSS/ {print $2}' "/proc/$pid/status"; }
for i in $(seq 1 50); do write_rules "w$i"; sleep 0.06; done  # warm up allocator
before=$(rss)
g0=$(generation)
for i in $(seq 1 "$reloads"); do
  write_rules "r$i"
  sleep 0.06
done
sleep 0.5
after=$(rss)
g1=$(generation)
echo "reloads: $((g1 - g0)) publications; RSS before ${before} KB, after ${after} KB ($(awk -v a="$after" -v b="$before" 'BEGIN {printf "%+.1f%%", (a - b) * 100 / b}'))"
