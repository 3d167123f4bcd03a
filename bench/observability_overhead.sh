#!/usr/bin/env bash
# What metrics and the access log cost: CPU per request of two portico processes (--workers 1)
# in front of the same backend, one with --request-metrics on and --access-log to a file, one with
# both off, driven alike in one run, alternating (on then off, then off then on, ...) so that the
# load other processes put on the machine falls on both: wrk -t1 -c50 (HTTP/1.1 keep-alive) and
# h2load -c10 -m10 (h2c).
#
# CPU per request: utime+stime of the whole process (its log writer thread included) from
# /proc/PID/stat over a run, divided by the requests completed. Prints every run, then per
# protocol the median of the rounds' on/off ratios and their range. Target (issue 6): on costs
# at most 10% more.
#
# usage: bench/observability_overhead.sh [BUILD_DIR]   env: DURATION (s per run, default 5),
# ROUNDS (default 5), PROTOCOLS (default "http1 h2c")
set -euo pipefail

build=${1:-build/release}
root=$(cd "$(dirname "$0")/.." && pwd)
portico=$root/$build/portico
duration=${DURATION:-5}
rounds=${ROUNDS:-5}
protocols=${PROTOCOLS:-"http1 h2c"}
source "$root/bench/lib.sh"
require_tools nginx wrk h2load python3 curl
port_block 8
backend_port=$base
clk=$(getconf CLK_TCK)

# ---- the backend: nginx answering a small static body (the same for every proxy)
start_nginx_backend "$backend_port"

mkdir -p "$work/m"
cat > "$work/m/bench.yaml" <<EOF
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: bench, namespace: bench}
spec:
  rules:
  - host: bench.test
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
EOF

# ---- the two proxies: observability on (metrics + access log to a file) and off
on_http=$((base + 1)); on_admin=$((base + 2)); off_http=$((base + 3)); off_admin=$((base + 4))
"$portico" serve --manifests "$work/m" --workers 1 --log-level error --https-addr off \
  --access-log "$work/access.log" --request-metrics on \
  --http-addr "127.0.0.1:$on_http" --admin-addr "127.0.0.1:$on_admin" 2>"$work/on.err" &
on_pid=$!
pids+=($on_pid)
"$portico" serve --manifests "$work/m" --workers 1 --log-level error --https-addr off \
  --access-log off --request-metrics off \
  --http-addr "127.0.0.1:$off_http" --admin-addr "127.0.0.1:$off_admin" 2>"$work/off.err" &
off_pid=$!
pids+=($off_pid)
for port in $on_http $off_http; do
  for _ in $(seq 100); do
    curl -sf -o /dev/null -H "Host: bench.test" "http://127.0.0.1:$port/" && break
    sleep 0.1
  done
  curl -sf -o /dev/null -H "Host: bench.test" "http://127.0.0.1:$port/" ||
    { echo "portico on port $port is not answering" >&2; exit 1; }
done

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# run MODE PROTOCOL -> prints "requests cpu_us_per_request failed"
run() {
  local mode=$1 protocol=$2 port pid out requests failed before after
  if [ "$mode" = on ]; then port=$on_http; pid=$on_pid; else port=$off_http; pid=$off_pid; fi
  : > "$work/access.log"  # keeps the disk use of a long run small (O_APPEND writes at the end)
  before=$(cpu_ticks "$pid")
  if [ "$protocol" = http1 ]; then
    out=$(wrk -t1 -c50 -d"${duration}s" -H "Host: bench.test" "http://127.0.0.1:$port/" 2>&1)
    requests=$(awk '/requests in/ {print $1}' <<<"$out")
    failed=$(awk '/Non-2xx/ {n += $5} /Socket errors/ {for (i = 4; i <= NF; i += 2) n += $i} END {print n + 0}' <<<"$out")
  else
    out=$(h2load -c10 -m10 -D "$duration" -H ":authority: bench.test" "http://127.0.0.1:$port/" 2>&1)
    requests=$(awk '/^requests:/ {print $8}' <<<"$out")
    failed=$(awk '/^requests:/ {print $10 + $12}' <<<"$out")
  fi
  after=$(cpu_ticks "$pid")
  awk -v t=$((after - before)) -v n="${requests:-0}" -v c="$clk" -v f="$failed" \
    'BEGIN { printf "%d %.3f %d\n", n, (n > 0 ? t * 1e6 / c / n : 0), f }'
}

echo "$(date -u +%FT%TZ) DURATION=$duration ROUNDS=$rounds load: $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-6s %-5s %-3s %10s %14s %7s\n' proto round mode requests "CPU us/request" failed
results="$work/results.tsv"
for round in $(seq "$rounds"); do
  for protocol in $protocols; do
    order="on off"
    [ $((round % 2)) -eq 0 ] && order="off on"
    declare -A cpu=()
    for mode in $order; do
      read -r requests cpu_us failed < <(run "$mode" "$protocol")
      cpu[$mode]=$cpu_us
      printf '%-6s %-5s %-3s %10s %14s %7s\n' "$protocol" "$round" "$mode" "$requests" "$cpu_us" "$failed"
    done
    printf '%s\t%s\t%s\t%s\n' "$protocol" "$round" "${cpu[on]}" "${cpu[off]}" >> "$results"
  done
done

echo
echo "per protocol: CPU us/request on and off (medians over the rounds), on/off ratio: median [range]"
for protocol in $protocols; do
  awk -F'\t' -v p="$protocol" '
    $1 == p { on[++n] = $3; off[n] = $4; ratio[n] = ($4 > 0 ? $3 / $4 : 0) }
    function median(a, n,   i, j, t, b) {
      for (i = 1; i <= n; i++) b[i] = a[i]
      for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (b[j] < b[i]) { t = b[i]; b[i] = b[j]; b[j] = t }
      return n % 2 ? b[(n + 1) / 2] : (b[n / 2] + b[n / 2 + 1]) / 2
    }
    END {
      lo = ratio[1]; hi = ratio[1]
      for (i = 2; i <= n; i++) { if (ratio[i] < lo) lo = ratio[i]; if (ratio[i] > hi) hi = ratio[i] }
      printf "%-6s on %.2f  off %.2f  ratio %.3f [%.3f .. %.3f]  (%d rounds)\n", p, median(on, n), median(off, n), median(ratio, n), lo, hi, n
    }' "$results"
done
lines=$(curl -s "http://127.0.0.1:$on_admin/metrics" | awk '/^portico_access_log_lines_total/ {printf "%s ", $0}')
echo "access log of the 'on' process: $lines"
mkdir -p "$root/bench/out" && cp "$results" "$root/bench/out/observability_overhead.tsv"
