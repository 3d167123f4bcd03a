#!/usr/bin/env bash
# Soak (issue 5, item 8): mixed load for DURATION seconds through one portico serve: HTTP/1.1
# (wrk), h2c and h2 over TLS (h2load), while a rule changes every second and one of the two
# backends is restarted every 30 s (SIGTERM, then a new process on the same port). Prints the
# requests and failures of each client by cause, portico's own count of upstream errors and
# retries, and its RSS after a warm-up and at the end.
#
# Target (issue 5): no failed request except those a restarted backend had in flight; RSS growth
# within 5%.
#
# usage: bench/soak.sh [BUILD_DIR]   env: DURATION (seconds, default 600), RESTART_EVERY (30)
set -euo pipefail
build=${1:-build/release}
root=$(cd "$(dirname "$0")/.." && pwd)
portico=$root/$build/portico
backend=$root/$build/tests/portico_test_backend
duration=${DURATION:-600}
restart_every=${RESTART_EVERY:-30}
warmup=10
work=$(mktemp -d)
pids=()
cleanup() {
  kill "${pids[@]}" "${backend_pids[@]}" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# Ports below the ephemeral range (32768+), where outgoing connections take theirs.
base=$((10000 + RANDOM % 20000))
http=$base https=$((base + 1)) admin=$((base + 2))
backend_ports=($((base + 3)) $((base + 4)))
backend_pids=(0 0)
start_backend() {  # start_backend I
  local i=$1
  for _ in $(seq 100); do  # the old process may still hold the port for a moment
    "$backend" --listen "127.0.0.1:${backend_ports[$i]}" --name "b$i" --record-limit 0 \
      > "$work/backend-$i.out" 2>&1 &
    backend_pids[$i]=$!
    for _ in $(seq 40); do
      grep -q '^listening' "$work/backend-$i.out" 2>/dev/null && return 0
      kill -0 "${backend_pids[$i]}" 2>/dev/null || break
      sleep 0.025
    done
    sleep 0.05
  done
  echo "backend $i did not start" >&2
  return 1
}
start_backend 0
start_backend 1

mkdir -p "$work/m" "$work/pki"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 \
  -subj /CN=soak.test -addext subjectAltName=DNS:soak.test -keyout "$work/pki/tls.key" \
  -out "$work/pki/tls.crt" 2>/dev/null
cat > "$work/m/base.yaml" <<EOF
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: soak
  namespace: soak
  annotations: {nginx.ingress.kubernetes.io/ssl-redirect: "false"}
spec:
  tls: [{hosts: [soak.test], secretName: soak-tls}]
  rules:
  - host: soak.test
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}
---
apiVersion: v1
kind: Secret
metadata: {name: soak-tls, namespace: soak}
type: kubernetes.io/tls
data:
  tls.crt: $(base64 -w0 "$work/pki/tls.crt")
  tls.key: $(base64 -w0 "$work/pki/tls.key")
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: soak}
spec: {ports: [{port: 80}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: web-1, namespace: soak, labels: {kubernetes.io/service-name: web}}
ports: [{port: ${backend_ports[0]}}]
endpoints: [{addresses: [127.0.0.1]}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: web-2, namespace: soak, labels: {kubernetes.io/service-name: web}}
ports: [{port: ${backend_ports[1]}}]
endpoints: [{addresses: [127.0.0.1]}]
EOF
write_rule() {  # an Ingress of its own whose Exact path changes each time
  cat > "$work/m/rule.yaml.tmp" <<EOF
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: churn, namespace: soak}
spec:
  rules:
  - host: churn.test
    http:
      paths:
      - {path: /rule-$1, pathType: Exact, backend: {service: {name: web, port: {number: 80}}}}
EOF
  mv "$work/m/rule.yaml.tmp" "$work/m/rule.yaml"
}
write_rule 0

"$portico" serve --manifests "$work/m" --workers 2 --access-log off --log-level error \
  --http-addr "127.0.0.1:$http" --https-addr "127.0.0.1:$https" --admin-addr "127.0.0.1:$admin" \
  2> "$work/portico.err" &
pid=$!
pids+=($pid)
for _ in $(seq 200); do curl -sf "http://127.0.0.1:$admin/readyz" >/dev/null && break; sleep 0.05; done
curl -sf "http://127.0.0.1:$admin/readyz" >/dev/null || { cat "$work/portico.err"; exit 1; }

metric() {  # metric NAME: the sum of its series
  curl -s "http://127.0.0.1:$admin/metrics" | awk -v n="$1" '$1 == n || index($1, n "{") == 1 {s += $2} END {print s + 0}'
}
rss_kb() { awk '/VmRSS/ {print $2}' "/proc/$pid/status"; }

echo "soak: ${duration}s, HTTP/1.1 wrk -c32, h2c h2load -c8 -m8, h2 (TLS) h2load -c8 -m8;" \
  "a rule change every 1 s, a backend restart every ${restart_every}s; $(nproc) cores (shared)"
wrk -t1 -c32 -d"${duration}s" -H 'Host: soak.test' "http://127.0.0.1:$http/" > "$work/wrk.out" 2>&1 &
load=($!)
h2load -c8 -m8 -D "$duration" -H ':authority: soak.test' "http://127.0.0.1:$http/" \
  > "$work/h2c.out" 2>&1 &
load+=($!)
h2load -c8 -m8 -D "$duration" -H ':authority: soak.test' "https://127.0.0.1:$https/" \
  > "$work/h2.out" 2>&1 &
load+=($!)
pids+=("${load[@]}")

start=$(date +%s)
rss_start=""
rule=0
restarts=0
killed_in_flight=0
next_restart=$restart_every
for ((t = 1; t <= duration; t++)); do
  sleep $((start + t - $(date +%s))) 2>/dev/null || true
  rule=$((rule + 1))
  write_rule "$rule"
  if [ "$t" -eq "$warmup" ]; then rss_start=$(rss_kb); fi
  if [ "$t" -ge "$next_restart" ] && [ "$t" -lt "$((duration - 2))" ]; then
    i=$((restarts % 2))
    kill -TERM "${backend_pids[$i]}"
    wait "${backend_pids[$i]}" 2>/dev/null || true
    # What it read and had not answered when it stopped: requests portico cannot retry.
    n=$(awk '/^in flight at exit:/ {print $NF}' "$work/backend-$i.out" | tail -1)
    killed_in_flight=$((killed_in_flight + ${n:-0}))
    start_backend "$i"
    restarts=$((restarts + 1))
    next_restart=$((next_restart + restart_every))
  fi
done
rss_end=$(rss_kb)
wait "${load[@]}" 2>/dev/null || true

echo
echo "== HTTP/1.1 (wrk)"
grep -E 'requests in|Socket errors|Non-2xx|Requests/sec' "$work/wrk.out" || true
for name in h2c h2; do
  echo "== $name (h2load)"
  grep -E '^requests:|^status codes:|^traffic:|^finished in' "$work/$name.out" || true
done
echo "== portico"
echo "rule changes: $rule, backend restarts: $restarts, table generation: $(metric portico_table_generation)"
echo "upstream errors: $(metric portico_upstream_errors_total), upstream retries: $(metric portico_upstream_retries_total)"
curl -s "http://127.0.0.1:$admin/metrics" | grep -E '^portico_http_responses_total' | grep -v 'code="2' || true
echo "requests the restarted backends had read and not answered when stopped: $killed_in_flight"
echo "(the only failures expected: compare with the 5xx above and the clients' failures)"
growth=$(awk -v a="$rss_start" -v b="$rss_end" 'BEGIN {printf "%.1f", (b - a) * 100 / a}')
echo "RSS: ${rss_start} KiB at ${warmup}s, ${rss_end} KiB at the end (${growth}%)"
