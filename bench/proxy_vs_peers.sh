#!/usr/bin/env bash
# CPU per request of the proxy process: portico (--workers 1) vs nginx (1 worker) vs HAProxy
# (nbthread 1), configured alike in front of the same backend, driven with the same load in one
# run: wrk -t1 -c50 (HTTP/1.1 keep-alive), h2load -c10 -m10 (h2c, and h2 over TLS).
#
# Prints requests/s, p99 latency and CPU microseconds per request of the proxy (utime+stime from
# /proc/PID/stat over the run, divided by the requests completed).
#
# usage: bench/proxy_vs_peers.sh [BUILD_DIR]   env: DURATION (s, default 10), PROXIES, PROTOCOLS
# (http1 h2c h2 by default; h2c-m1 is h2c with h2load -c100 -m1: one stream per connection)
set -euo pipefail

build=${1:-build/release}
root=$(cd "$(dirname "$0")/.." && pwd)
portico=$root/$build/portico
duration=${DURATION:-10}
proxies=${PROXIES:-"portico nginx haproxy"}
protocols=${PROTOCOLS:-"http1 h2c h2"}
source "$root/bench/lib.sh"
require_tools nginx haproxy wrk h2load openssl python3 curl
port_block 24
backend_port=$base
clk=$(getconf CLK_TCK)

# ---- the backend: nginx answering a small static body (the same for every proxy)
start_nginx_backend "$backend_port"

# ---- TLS material shared by every proxy
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj "/CN=bench.test" \
  -addext "subjectAltName=DNS:bench.test" -keyout "$work/tls.key" -out "$work/tls.crt" 2>/dev/null
cat "$work/tls.crt" "$work/tls.key" > "$work/tls.pem"

# ---- portico
portico_http=$((base + 1)); portico_https=$((base + 2)); portico_admin=$((base + 3))
mkdir -p "$work/portico"
cat > "$work/portico/bench.yaml" <<EOF
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: bench, namespace: bench}
spec:
  tls: [{hosts: [bench.test], secretName: bench-tls}]
  rules:
  - host: bench.test
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: backend, port: {number: 80}}}}
  - host: plain.bench.test
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: backend, port: {number: 80}}}}
---
apiVersion: v1
kind: Service
metadata: {name: backend, namespace: bench}
spec: {ports: [{port: 80}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: backend-1, namespace: bench, labels: {kubernetes.io/service-name: backend}}
ports: [{port: $backend_port}]
endpoints: [{addresses: [127.0.0.1]}]
---
apiVersion: v1
kind: Secret
metadata: {name: bench-tls, namespace: bench}
type: kubernetes.io/tls
data:
  tls.crt: $(base64 -w0 "$work/tls.crt")
  tls.key: $(base64 -w0 "$work/tls.key")
EOF
# ssl-redirect stays on: the benchmark's plain requests use a host without TLS (see below).
"$portico" serve --manifests "$work/portico" --workers 1 --access-log off --log-level error \
  --http-addr "127.0.0.1:$portico_http" --https-addr "127.0.0.1:$portico_https" \
  --admin-addr "127.0.0.1:$portico_admin" 2>"$work/portico/err.log" &
portico_pid=$!
pids+=($portico_pid)

# ---- nginx as the proxy
nginx_http=$((base + 11)); nginx_h2c=$((base + 12)); nginx_https=$((base + 13))
mkdir -p "$work/nginx/logs"
cat > "$work/nginx/nginx.conf" <<EOF
worker_processes 1;
pid $work/nginx/nginx.pid;
error_log $work/nginx/logs/error.log;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 1000000;
  upstream backend { server 127.0.0.1:$backend_port; keepalive 64; }
  server {
    listen 127.0.0.1:$nginx_http;
    listen 127.0.0.1:$nginx_h2c http2;
    listen 127.0.0.1:$nginx_https ssl http2;
    ssl_certificate $work/tls.crt;
    ssl_certificate_key $work/tls.key;
    location / {
      proxy_pass http://backend;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
    }
  }
}
EOF
nginx -c "$work/nginx/nginx.conf" -p "$work/nginx" -g 'daemon off;' &
nginx_master=$!
pids+=($nginx_master)

# ---- HAProxy
haproxy_http=$((base + 21)); haproxy_h2c=$((base + 22)); haproxy_https=$((base + 23))
cat > "$work/haproxy.cfg" <<EOF
global
  nbthread 1
  maxconn 4000
defaults
  mode http
  timeout connect 5s
  timeout client 60s
  timeout server 60s
  option forwardfor
frontend plain
  bind 127.0.0.1:$haproxy_http
  bind 127.0.0.1:$haproxy_h2c proto h2
  bind 127.0.0.1:$haproxy_https ssl crt $work/tls.pem alpn h2,http/1.1
  default_backend be
backend be
  http-reuse always
  server s1 127.0.0.1:$backend_port
EOF
haproxy -f "$work/haproxy.cfg" -db &
haproxy_pid=$!
pids+=($haproxy_pid)

# Every proxy answers before anything is measured.
for url in "http://127.0.0.1:$portico_admin/readyz" "http://127.0.0.1:$nginx_http/" \
  "http://127.0.0.1:$haproxy_http/"; do
  for _ in $(seq 100); do
    curl -sf -o /dev/null -H "Host: plain.bench.test" "$url" && break
    sleep 0.1
  done
  curl -sf -o /dev/null -H "Host: plain.bench.test" "$url" || { echo "not answering: $url" >&2; exit 1; }
done
nginx_worker=$(pgrep -P "$nginx_master" | head -1)

cpu_ticks() {  # utime + stime of a process, in clock ticks
  awk '{print $14 + $15}' "/proc/$1/stat"
}

url_for() {  # proxy protocol -> URL
  local proxy=$1 protocol=$2 port
  case "$proxy:$protocol" in
    portico:http1) port=$portico_http ;; portico:h2c | portico:h2c-m1) port=$portico_http ;;
    portico:h2) port=$portico_https ;;
    nginx:http1) port=$nginx_http ;; nginx:h2c | nginx:h2c-m1) port=$nginx_h2c ;;
    nginx:h2) port=$nginx_https ;;
    haproxy:http1) port=$haproxy_http ;; haproxy:h2c | haproxy:h2c-m1) port=$haproxy_h2c ;;
    haproxy:h2) port=$haproxy_https ;;
  esac
  if [ "$protocol" = h2 ]; then echo "https://127.0.0.1:$port/"; else echo "http://127.0.0.1:$port/"; fi
}

pid_for() {
  case $1 in portico) echo "$portico_pid" ;; nginx) echo "$nginx_worker" ;; haproxy) echo "$haproxy_pid" ;; esac
}

printf '%-8s %-6s %12s %10s %14s %8s\n' proxy proto "requests/s" "p99 ms" "CPU us/request" failed
results="$work/results.tsv"
for protocol in $protocols; do
  for proxy in $proxies; do
    url=$(url_for "$proxy" "$protocol")
    pid=$(pid_for "$proxy")
    # portico routes by Host: plain requests name a host without spec.tls (no redirect).
    host=bench.test
    [ "$proxy" = portico ] && [ "$protocol" != h2 ] && host=plain.bench.test
    before=$(cpu_ticks "$pid")
    if [ "$protocol" = http1 ]; then
      out=$(wrk -t1 -c50 -d"${duration}s" --latency -H "Host: $host" "$url" 2>&1)
      requests=$(awk '/requests in/ {print $1}' <<<"$out")
      rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
      p99=$(awk '$1 == "99%" {v=$2; if (v ~ /us$/) {sub("us","",v); v=v/1000} else if (v ~ /ms$/) {sub("ms","",v)} else if (v ~ /s$/) {sub("s","",v); v=v*1000}; print v}' <<<"$out")
      failed=$(awk '/Non-2xx/ {print $5} /Socket errors/ {s=0; for (i=4;i<=NF;i+=2) s+=$i; print s}' <<<"$out" | paste -sd+ | bc 2>/dev/null || echo 0)
    else
      log="$work/h2load-$proxy-$protocol.log"
      streams=(-c10 -m10)
      [ "$protocol" = h2c-m1 ] && streams=(-c100 -m1)
      out=$(h2load "${streams[@]}" -D "$duration" -H ":authority: $host" --log-file="$log" "$url" 2>&1)
      requests=$(awk '/^requests:/ {print $8}' <<<"$out")
      failed=$(awk '/^requests:/ {print $10 + $12}' <<<"$out")
      rps=$(awk '/^finished in/ {print $4}' <<<"$out")
      p99=$(awk -F'\t' '{print $3}' "$log" | sort -n | awk '{a[NR]=$1} END {if (NR) printf "%.2f", a[int(NR*0.99)]/1000; else print "nan"}')
    fi
    after=$(cpu_ticks "$pid")
    cpu_us=$(awk -v t=$((after - before)) -v n="${requests:-0}" -v c="$clk" 'BEGIN { if (n > 0) printf "%.2f", t * 1e6 / c / n; else print "nan" }')
    printf '%-8s %-6s %12s %10s %14s %8s\n' "$proxy" "$protocol" "$rps" "$p99" "$cpu_us" "${failed:-0}"
    printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$proxy" "$protocol" "$rps" "$p99" "$cpu_us" "${failed:-0}" >> "$results"
  done
done
echo
echo "raw: $results (copied to bench/out/proxy_vs_peers.tsv)"
mkdir -p "$root/bench/out" && cp "$results" "$root/bench/out/proxy_vs_peers.tsv"
