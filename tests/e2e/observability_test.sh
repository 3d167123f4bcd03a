#!/usr/bin/env bash
# Metrics and the access log of portico serve, with known traffic through real clients: /metrics
# parsed by the Prometheus client library's own text parser (exact counts by Ingress, Service,
# method and status class; histograms; label sets following reloads), the access log parsed line
# by line as JSON (HTTP/1.1, HTTP/2, 404, 502, bytes that are not UTF-8), and a log sink nobody
# reads that must not stall requests.
source "$(dirname "$0")/lib.sh"

# Debian's python3 (the one with python3-prometheus-client), not whatever python3 is first on PATH.
py=/usr/bin/python3
if ! $py -c 'import prometheus_client' 2>/dev/null; then
  echo "python3-prometheus-client is missing (scripts/deps.sh installs it)"
  exit 1
fi

# Prints every sample of a scrape as `name{label="value",...} value`, labels sorted, after the
# Prometheus parser accepted the whole text; then `histograms_consistent yes|no` (buckets
# cumulative, +Inf equal to _count, for every histogram series).
cat > "$work/samples.py" <<'EOF'
import sys
from collections import defaultdict
from prometheus_client.parser import text_string_to_metric_families

text = sys.stdin.read()
consistent = True
for family in text_string_to_metric_families(text):
    buckets = defaultdict(list)
    counts = {}
    for s in family.samples:
        labels = ",".join('%s="%s"' % (k, v) for k, v in sorted(s.labels.items()))
        value = int(s.value) if float(s.value).is_integer() else s.value
        print("%s{%s} %s" % (s.name, labels, value))
        if family.type == "histogram":
            rest = tuple(sorted((k, v) for k, v in s.labels.items() if k != "le"))
            if s.name.endswith("_bucket"):
                buckets[rest].append((float(s.labels["le"]), s.value))
            elif s.name.endswith("_count"):
                counts[rest] = s.value
    for key, bs in buckets.items():
        values = [v for _, v in sorted(bs)]
        if values != sorted(values) or sorted(bs)[-1][0] != float("inf") or values[-1] != counts.get(key):
            consistent = False
print("histograms_consistent", "yes" if consistent else "no")
EOF

scrape() { curl -s "http://127.0.0.1:$ADMIN_PORT/metrics" | $py "$work/samples.py" > "$work/samples"; }
# sample NAME{LABELS} -> its value, or "absent"
sample() {
  awk -v k="$1" '$1 == k { print $2; found = 1 } END { if (!found) print "absent" }' "$work/samples"
}
series() { printf 'ingress="%s",namespace="%s",service="%s"' "$2" "$1" "$3"; }  # NS INGRESS SVC

start_backend web
web_port=$BACKEND_PORT
dead_port=$(free_port)  # nothing listens here

m="$work/manifests"
mkdir -p "$m"
cat > "$m/shop.yaml" <<EOF
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: shop, namespace: shop}
spec:
  rules:
  - host: shop.test
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}
      - {path: /dead, pathType: Prefix, backend: {service: {name: dead, port: {number: 80}}}}
EOF
blog_ingress='apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: blog, namespace: blog}
spec:
  rules:
  - host: blog.test
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: posts, port: {number: 80}}}}'
echo "$blog_ingress" > "$m/blog.yaml"
{
  service_yaml shop web "$web_port"
  service_yaml shop dead "$dead_port"
  service_yaml blog posts "$web_port"
} > "$m/services.yaml"

start_portico "$m" --workers 2 --access-log "$work/access.log" || exit 1

# ---- known traffic: HTTP/1.1 and h2c, proxied and answered by the proxy itself
for _ in 1 2 3 4 5 6 7; do curl -s -o /dev/null -H 'Host: shop.test' "http://127.0.0.1:$HTTP_PORT/"; done
for _ in 1 2 3; do
  curl -s -o /dev/null -H 'Host: shop.test' --data-binary "$(printf '%0100d' 0)" \
    "http://127.0.0.1:$HTTP_PORT/orders"
done
for _ in 1 2; do curl -s -o /dev/null -X PROPFIND -H 'Host: shop.test' "http://127.0.0.1:$HTTP_PORT/"; done
nghttp -n "http://127.0.0.1:$HTTP_PORT/a" "http://127.0.0.1:$HTTP_PORT/b" \
  "http://127.0.0.1:$HTTP_PORT/c" "http://127.0.0.1:$HTTP_PORT/d" -H ':authority: blog.test'
for _ in 1 2; do curl -s -o /dev/null -H 'Host: nowhere.test' "http://127.0.0.1:$HTTP_PORT/x"; done
for _ in 1 2 3; do curl -s -o /dev/null -H 'Host: shop.test' "http://127.0.0.1:$HTTP_PORT/dead"; done
# A request line with a byte that is not UTF-8, a quote and a backslash (the parser takes them;
# control characters it refuses): a 404 whose log line must still be valid JSON.
$py - "$HTTP_PORT" <<'EOF'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b'GET /odd\xff"\\/\xc3\xa9 HTTP/1.1\r\nHost: nowhere.test\r\nConnection: close\r\n\r\n')
while s.recv(4096):
    pass
EOF

scrape
shop_web=$(series shop shop web)
check "the scrape parses; histograms are cumulative and end at _count" "yes" \
  "$(sample histograms_consistent)"
check "GET 2xx to shop/shop/web, summed over 2 workers" "7" \
  "$(sample "portico_http_requests_total{code=\"2xx\",ingress=\"shop\",method=\"GET\",namespace=\"shop\",service=\"web\"}")"
check "POST 2xx to shop/shop/web" "3" \
  "$(sample "portico_http_requests_total{code=\"2xx\",ingress=\"shop\",method=\"POST\",namespace=\"shop\",service=\"web\"}")"
check "PROPFIND counts as method other" "2" \
  "$(sample "portico_http_requests_total{code=\"2xx\",ingress=\"shop\",method=\"other\",namespace=\"shop\",service=\"web\"}")"
check "h2c GET 2xx to blog/blog/posts" "4" \
  "$(sample "portico_http_requests_total{code=\"2xx\",ingress=\"blog\",method=\"GET\",namespace=\"blog\",service=\"posts\"}")"
check "502 from a Service nobody listens for, labelled with its route" "3" \
  "$(sample "portico_http_requests_total{code=\"5xx\",ingress=\"shop\",method=\"GET\",namespace=\"shop\",service=\"dead\"}")"
check "404 without a route: empty labels" "3" \
  "$(sample "portico_http_requests_total{code=\"4xx\",ingress=\"\",method=\"GET\",namespace=\"\",service=\"\"}")"
check "no path or host label anywhere" "" "$(grep -E 'path=|host=|authority=' "$work/samples")"
check "request duration histogram count for shop/web" "12" \
  "$(sample "portico_http_request_duration_seconds_count{$shop_web}")"
check "upstream response histogram count for shop/web" "12" \
  "$(sample "portico_upstream_response_duration_seconds_count{$shop_web}")"
check "no upstream response time when no upstream answered (502)" "absent" \
  "$(sample "portico_upstream_response_duration_seconds_count{$(series shop shop dead)}")"
check "upstream time sum is positive and below the request time sum" "yes" \
  "$(awk -v u="$(sample "portico_upstream_response_duration_seconds_sum{$shop_web}")" \
       -v d="$(sample "portico_http_request_duration_seconds_sum{$shop_web}")" \
       'BEGIN { print (u > 0 && u <= d ? "yes" : "no") }')"
check "request bytes of shop/web count the 3 bodies of 100 bytes" "yes" \
  "$(awk -v b="$(sample "portico_http_request_bytes_total{$shop_web}")" 'BEGIN { print (b > 300 ? "yes" : "no") }')"
check "endpoints per cluster: shop/web ready" "1" \
  "$(sample 'portico_cluster_endpoints{namespace="shop",port="80",service="web",state="ready"}')"
check "open HTTP/1.1 connections after the traffic" "0" \
  "$(sample 'portico_open_connections{protocol="http1",tls="false"}')"
check "open HTTP/2 connections after the traffic" "0" \
  "$(sample 'portico_open_connections{protocol="http2",tls="false"}')"
check "upstream connect errors counted (the dead Service)" "yes" \
  "$(awk -v n="$(sample 'portico_upstream_errors_total{kind="connect"}')" 'BEGIN { print (n >= 3 ? "yes" : "no") }')"
check "one publication counted in the duration histogram" "1" \
  "$(sample 'portico_table_publication_duration_seconds_count{result="published"}')"
check_contains "build info names the version" 'portico_build_info{commit="' "$(cat "$work/samples")"
check "last reload timestamp is recent" "yes" \
  "$(awk -v t="$(sample "portico_last_reload_success_timestamp_seconds{}")" -v now="$(date +%s)" \
       'BEGIN { print (t > now - 600 && t <= now + 1 ? "yes" : "no") }')"

# ---- the access log: every line valid JSON, the fields issue 6 lists
sleep 0.5  # a worker hands its lines to the writer every 100 ms
$py - "$work/access.log" > "$work/log.summary" <<'EOF'
import json, sys, collections
fields = ["time", "request_id", "client", "method", "authority", "path", "protocol", "status",
          "bytes_in", "bytes_out", "duration_us", "upstream", "upstream_duration_us",
          "namespace", "ingress", "service"]
counts = collections.Counter()
bad = 0
odd_path = None
for raw in open(sys.argv[1], "rb"):
    try:
        line = json.loads(raw.decode("utf-8"))  # strict: the bytes must be UTF-8 too
    except Exception as e:
        bad += 1
        continue
    if list(line.keys()) != fields:
        bad += 1
    key = (line["protocol"], line["status"], line["namespace"], line["service"],
           line["upstream"] is not None, line["upstream_duration_us"] is not None,
           line["request_id"] is not None)
    counts[key] += 1
    if line["path"].startswith("/odd"):
        odd_path = line["path"]
print("bad", bad)
for key, n in sorted(counts.items(), key=str):
    print("|".join(str(k) for k in key), n)
print("odd", json.dumps(odd_path))
EOF
summary=$(cat "$work/log.summary")
check "every log line is valid UTF-8 JSON with the fields in order" "bad 0" "$(head -1 <<<"$summary")"
check "HTTP/1.1 200s with upstream, its time and a request id" "12" \
  "$(awk '$1 == "HTTP/1.1|200|shop|web|True|True|True" { print $2 }' <<<"$summary")"
check "HTTP/2 200s with upstream, its time and a request id" "4" \
  "$(awk '$1 == "HTTP/2|200|blog|posts|True|True|True" { print $2 }' <<<"$summary")"
check "404s: no route, no upstream (nulls)" "3" \
  "$(awk '$1 == "HTTP/1.1|404|None|None|False|False|False" { print $2 }' <<<"$summary")"
check "502s: the route's labels, no upstream" "3" \
  "$(awk '$1 == "HTTP/1.1|502|shop|dead|False|False|False" { print $2 }' <<<"$summary")"
check "a path with bytes that are not UTF-8 is escaped, UTF-8 kept" \
  'odd "/odd\u00ff\"\\/\u00e9"' "$(tail -1 <<<"$summary")"
check_contains "the log line escapes the raw byte and keeps é as UTF-8" \
  '"path":"/odd\u00ff\"\\/é"' "$(cat "$work/access.log")"

# ---- reloads: counters survive a recompile; a label set goes with its Ingress, and comes back
# where it was
generation() { awk '/^portico_table_generation / { print $2 }' <(curl -s "http://127.0.0.1:$ADMIN_PORT/metrics"); }
wait_generation() {
  for _ in $(seq 100); do [ "$(generation)" == "$1" ] && return 0; sleep 0.05; done
  return 1
}
rm "$m/blog.yaml"
wait_generation 2
curl -s -o /dev/null -H 'Host: shop.test' "http://127.0.0.1:$HTTP_PORT/"
scrape
check "shop/web GET 2xx continues across the reload" "8" \
  "$(sample "portico_http_requests_total{code=\"2xx\",ingress=\"shop\",method=\"GET\",namespace=\"shop\",service=\"web\"}")"
check "the blog label set is gone with its Ingress" "" "$(grep 'ingress="blog"' "$work/samples")"
echo "$blog_ingress" > "$m/blog.yaml"
wait_generation 3
scrape
check "the blog label set is back with its counts" "4" \
  "$(sample "portico_http_requests_total{code=\"2xx\",ingress=\"blog\",method=\"GET\",namespace=\"blog\",service=\"posts\"}")"
check "publications counted by result" "3" \
  "$(sample 'portico_table_publications_total{result="published"}')"

# ---- bad flags
out=$("$portico" serve --manifests "$m" --access-log "$work/no/such/dir/log" --http-addr off \
  --https-addr off --admin-addr off 2>&1)
check_contains "an access log file that cannot be opened is named" \
  "--access-log \"$work/no/such/dir/log\": cannot open for appending" "$out"
out=$("$portico" serve --manifests "$m" --request-metrics maybe 2>&1)
check_contains "--request-metrics takes on or off" '--request-metrics "maybe": accepted: on, off' "$out"

# ---- a sink nobody reads: requests go on, lines are dropped and counted, shutdown is prompt
mkfifo "$work/stuck"
exec 7<>"$work/stuck"  # held open, never read: the pipe fills and stays full
P_HTTP=$(free_port)
P_ADMIN=$(free_port)
"$portico" serve --manifests "$m" --http-addr "127.0.0.1:$P_HTTP" --https-addr off \
  --admin-addr "127.0.0.1:$P_ADMIN" --workers 2 >"$work/stuck" 2>"$work/stuck.err" &
stuck_pid=$!
pids+=($stuck_pid)
wait_ready "$stuck_pid" "$P_ADMIN" || { cat "$work/stuck.err"; exit 1; }
# 40,000 lines of ~330 bytes: more than the pipe and both workers' 4 MiB queues hold.
out=$(timeout 60 h2load -n 40000 -c 4 -m 10 -H ':authority: shop.test' "http://127.0.0.1:$P_HTTP/" 2>&1)
check "40000 h2c requests complete while the log sink is blocked" "40000 40000 0 0" \
  "$(awk '/^requests:/ { print $2, $8, $10, $12 }' <<<"$out")"
check "an HTTP/1.1 request is answered at once after that" "200" \
  "$(curl -s -m 2 -o /dev/null -w '%{http_code}' -H 'Host: shop.test' "http://127.0.0.1:$P_HTTP/")"
metrics=$(curl -s "http://127.0.0.1:$P_ADMIN/metrics")
check "dropped lines are counted" "yes" \
  "$(awk '/^portico_access_log_lines_total\{result="dropped"\}/ { print ($2 > 1000 ? "yes" : "no") }' <<<"$metrics")"
kill -TERM "$stuck_pid"
for _ in $(seq 100); do kill -0 "$stuck_pid" 2>/dev/null || break; sleep 0.05; done
check "SIGTERM ends the process within 5 s although its log cannot be written" "gone" \
  "$(kill -0 "$stuck_pid" 2>/dev/null && echo running || echo gone)"
exec 7<&-

finish
