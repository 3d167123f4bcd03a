#!/usr/bin/env bash
# portico serve over HTTP/1.1 (plain and TLS) against real backends of our own: routing, every
# error status, forwarded headers, keep-alive, streaming of large bodies both ways, WebSocket,
# SNI, redirect, hot reload under load, SIGTERM drain.
source "$(dirname "$0")/lib.sh"

start_backend web
web_port=$BACKEND_PORT
start_backend api
api_port=$BACKEND_PORT
start_backend api2
api2_port=$BACKEND_PORT
dead_port=$(free_port)  # nothing listens here

m="$work/manifests"
mkdir -p "$m"
cat > "$m/ingress.yaml" <<EOF
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: shop, namespace: shop}
spec:
  tls:
  - hosts: [shop.test]
    secretName: shop-tls
  - hosts: ["*.wild.test"]
    secretName: wild-tls
  rules:
  - host: shop.test
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}
      - {path: /api, pathType: Prefix, backend: {service: {name: api, port: {name: http}}}}
  - host: plain.test
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}
      - {path: /api, pathType: Prefix, backend: {service: {name: api, port: {number: 80}}}}
      - {path: /empty, pathType: Prefix, backend: {service: {name: empty, port: {number: 80}}}}
      - {path: /dead, pathType: Prefix, backend: {service: {name: dead, port: {number: 80}}}}
      - {path: /half, pathType: Prefix, backend: {service: {name: half, port: {number: 80}}}}
      - {path: /external, pathType: Prefix, backend: {service: {name: external, port: {number: $web_port}}}}
  - host: "*.wild.test"
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}
  - http:
      paths:
      - {path: /ws, pathType: Exact, backend: {service: {name: web, port: {number: 80}}}}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: no-redirect
  namespace: shop
  annotations: {nginx.ingress.kubernetes.io/ssl-redirect: "false"}
spec:
  tls:
  - hosts: [open.test]
    secretName: shop-tls
  rules:
  - host: open.test
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}
---
apiVersion: v1
kind: Service
metadata: {name: external, namespace: shop}
spec: {type: ExternalName, externalName: localhost}
---
apiVersion: v1
kind: Service
metadata: {name: empty, namespace: shop}
spec: {ports: [{name: http, port: 80}]}
EOF
{
  service_yaml shop web "$web_port"
  service_yaml shop api "$api_port" "$api2_port"
  service_yaml shop dead "$dead_port"
  service_yaml shop half "$dead_port" "$web_port"
  tls_secret_yaml shop shop-tls shop.test
  tls_secret_yaml shop wild-tls "*.wild.test"
} > "$m/services.yaml"

# Uploads of 1 GiB below: no body size limit.
start_portico "$m" --workers 2 --upstream-timeout 1s --shutdown-grace 10s --max-body-size 0 || finish
base="http://127.0.0.1:$HTTP_PORT"
resolve=(--resolve "shop.test:$HTTPS_PORT:127.0.0.1" --resolve "a.wild.test:$HTTPS_PORT:127.0.0.1"
  --resolve "open.test:$HTTPS_PORT:127.0.0.1" --resolve "other.test:$HTTPS_PORT:127.0.0.1")

# --- routing and statuses
body=$(curl -s -H 'Host: plain.test' "$base/")
check "Prefix / reaches web" web "$(jq -r .backend <<<"$body")"
body=$(curl -s -H 'Host: plain.test' "$base/api/v1?x=1")
check_contains "/api reaches api (or api2)" '"backend":"api' "$body"
check "query string is forwarded" "/api/v1?x=1" "$(jq -r .target <<<"$body")"
check "unknown host: 404" 404 "$(curl -s -o /dev/null -w '%{http_code}' -H 'Host: nope.test' "$base/")"
check "no endpoints: 503" 503 "$(curl -s -o /dev/null -w '%{http_code}' -H 'Host: plain.test' "$base/empty")"
check "connect refused: 502" 502 "$(curl -s -o /dev/null -w '%{http_code}' -H 'Host: plain.test' "$base/dead")"
check "upstream slower than --upstream-timeout: 504" 504 \
  "$(curl -s -o /dev/null -w '%{http_code}' -H 'Host: plain.test' "$base/delay/3000")"
check "malformed upstream response: 502" 502 \
  "$(curl -s -o /dev/null -w '%{http_code}' -H 'Host: plain.test' "$base/garbage")"
check "upstream reset: 502" 502 "$(curl -s -o /dev/null -w '%{http_code}' -H 'Host: plain.test' "$base/reset")"
check "upstream status passes through" 418 \
  "$(curl -s -o /dev/null -w '%{http_code}' -H 'Host: plain.test' "$base/status/418")"
check "bad request line: 400" 400 "$(printf 'GARBAGE\r\n\r\n' | timeout 5 nc -q 2 127.0.0.1 "$HTTP_PORT" | head -1 | awk '{print $2}')"
check "HTTP/1.1 without Host: 400" 400 "$(printf 'GET / HTTP/1.1\r\n\r\n' | timeout 5 nc -q 2 127.0.0.1 "$HTTP_PORT" | head -1 | awk '{print $2}')"
ok=0
for _ in $(seq 10); do
  [ "$(curl -s -o /dev/null -w '%{http_code}' -H 'Host: plain.test' "$base/half")" = 200 ] && ok=$((ok + 1))
done
check "a failed connect is retried on another endpoint" 10 "$ok"
check "ExternalName resolves by DNS" web "$(curl -s -H 'Host: plain.test' "$base/external" | jq -r .backend)"
apis=$(for _ in 1 2 3 4; do curl -s -H 'Host: plain.test' "$base/api" | jq -r .backend; done | sort -u | paste -sd,)
check "round robin over both endpoints" "api,api2" "$apis"

# --- what the backend receives
body=$(curl -s -H 'Host: plain.test' -H 'Connection: keep-alive, X-Secret' -H 'X-Secret: 1' \
  -H 'Keep-Alive: timeout=5' -H 'X-Forwarded-For: 203.0.113.9' "$base/")
headers=$(jq -c '.headers | map({(.[0] | ascii_downcase): .[1]}) | add' <<<"$body")
check "Host is kept" plain.test "$(jq -r .host <<<"$headers")"
check "X-Forwarded-For appended" "203.0.113.9, 127.0.0.1" "$(jq -r '."x-forwarded-for"' <<<"$headers")"
check "X-Forwarded-Proto" http "$(jq -r '."x-forwarded-proto"' <<<"$headers")"
check "X-Forwarded-Host" plain.test "$(jq -r '."x-forwarded-host"' <<<"$headers")"
check "X-Forwarded-Port" "$HTTP_PORT" "$(jq -r '."x-forwarded-port"' <<<"$headers")"
check "X-Request-ID generated" 32 "$(jq -r '."x-request-id" | length' <<<"$headers")"
check "hop-by-hop Keep-Alive removed" null "$(jq -r '."keep-alive"' <<<"$headers")"
check "fields named by Connection removed" null "$(jq -r '."x-secret"' <<<"$headers")"
body=$(curl -s -H 'Host: plain.test' -H 'X-Request-ID: abc-123' "$base/")
check "X-Request-ID kept when sent" abc-123 \
  "$(jq -r '.headers | map(select(.[0] | ascii_downcase == "x-request-id")) | .[0][1]' <<<"$body")"

# --- keep-alive: two requests on one client connection reuse one upstream connection
out=$(curl -s -H 'Host: plain.test' "$base/one" "$base/two")
check "upstream connection reused across requests" 1 \
  "$(jq -s '.[1].connection_requests - .[0].connection_requests' <<<"$out")"

# --- bodies: chunked upload, 100-continue, 1 GiB both ways with bounded memory
body=$(printf 'hello chunked world' | curl -s -H 'Host: plain.test' -H 'Transfer-Encoding: chunked' --data-binary @- "$base/upload")
check "chunked upload relayed" 19 "$(jq -r .body_bytes <<<"$body")"
head -c 200000 /dev/urandom > "$work/blob"
body=$(curl -s -H 'Host: plain.test' -H 'Expect: 100-continue' --data-binary @"$work/blob" "$base/upload")
check "Expect: 100-continue upload intact" "$(sha256sum < "$work/blob" | cut -d' ' -f1)" "$(jq -r .body_sha256 <<<"$body")"
body=$(head -c 1073741824 /dev/zero | curl -s -H 'Host: plain.test' -H 'Content-Type: application/octet-stream' -T - -X POST "$base/upload")
check "1 GiB upload streamed" 1073741824 "$(jq -r .body_bytes <<<"$body")"
size=$(curl -s -H 'Host: plain.test' "$base/bytes/1073741824" | wc -c)
check "1 GiB download streamed" 1073741824 "$size"
size=$(curl -s -H 'Host: plain.test' "$base/bytes/3000000?chunked=1" | wc -c)
check "chunked download streamed" 3000000 "$size"
rss=$(peak_rss_kb "$PORTICO_PID")
# Under a sanitizer (make test-asan) shadow memory and the allocation quarantine add a constant.
rss_bound=$([ -n "${PORTICO_SANITIZE:-}" ] && echo 409600 || echo 102400)
check "memory stays bounded through 2 GiB of bodies (peak RSS < $((rss_bound / 1024)) MB)" yes \
  "$([ "$rss" -lt "$rss_bound" ] && echo yes || echo "no: ${rss} KB")"

# --- TLS: SNI chooses the certificate; plain HTTP to a TLS host redirects
subject() { echo | openssl s_client -connect "127.0.0.1:$HTTPS_PORT" -servername "$1" 2>/dev/null | openssl x509 -noout -subject 2>/dev/null; }
check_contains "SNI exact host gets its certificate" "CN = shop.test" "$(subject shop.test)"
check_contains "SNI wildcard host gets the wildcard certificate" "CN = *.wild.test" "$(subject a.wild.test)"
check_contains "unknown SNI gets the default certificate" "portico" "$(subject other.test)"
check "HTTPS request served" web "$(curl -sk --http1.1 "${resolve[@]}" https://shop.test:$HTTPS_PORT/ | jq -r .backend)"
check "X-Forwarded-Proto https" https "$(curl -sk --http1.1 "${resolve[@]}" https://shop.test:$HTTPS_PORT/ | jq -r '.headers | map(select(.[0] | ascii_downcase == "x-forwarded-proto")) | .[0][1]')"
check "TLS 1.1 refused" no "$(echo | openssl s_client -connect "127.0.0.1:$HTTPS_PORT" -tls1_1 >/dev/null 2>&1 && echo yes || echo no)"
redirect=$(curl -s -o /dev/null -w '%{http_code} %{redirect_url}' -H 'Host: shop.test' "$base/cart?id=1")
check "plain HTTP to a TLS host: 308 to https" "308 https://shop.test:$HTTPS_PORT/cart?id=1" "$redirect"
check "ssl-redirect: false serves plain HTTP" 200 "$(curl -s -o /dev/null -w '%{http_code}' -H 'Host: open.test' "$base/")"

# --- WebSocket through the proxy, byte for byte
# (a host-less rule routes /ws: the checker sends Host: 127.0.0.1:PORT)
python3 "$src/tests/backend/ws_echo_check.py" "127.0.0.1:$HTTP_PORT" --path /ws --expect-backend web > "$work/ws.out" 2>&1
check "WebSocket echo through portico (text, binary, fragments, 1 MiB, ping, close)" 0 $?

# --- hot reload: a new path is served after the file changes, with zero failed requests under load
load_failures="$work/load.failures"
(
  fails=0
  end=$((SECONDS + 6))
  while [ $SECONDS -lt $end ]; do
    code=$(curl -s -o /dev/null -w '%{http_code}' -H 'Host: plain.test' "$base/")
    [ "$code" = 200 ] || fails=$((fails + 1))
  done
  echo $fails > "$load_failures"
) &
loader=$!
for i in $(seq 1 20); do
  sed "s|- {path: /api, pathType: Prefix, backend: {service: {name: api, port: {number: 80}}}}|- {path: /api, pathType: Prefix, backend: {service: {name: api, port: {number: 80}}}}\n      - {path: /reload-$i, pathType: Exact, backend: {service: {name: web, port: {number: 80}}}}|" \
    "$m/ingress.yaml" > "$work/ingress.tmp" && mv "$work/ingress.tmp" "$m/ingress.next"
  mv "$m/ingress.next" "$m/ingress.yaml.new" && mv "$m/ingress.yaml.new" "$m/ingress.yaml"
  sleep 0.2
done
wait $loader
check "zero failed requests during 20 reloads under load" 0 "$(cat "$load_failures")"
served=""
for _ in $(seq 50); do
  served=$(curl -s -o /dev/null -w '%{http_code}' -H 'Host: plain.test' "$base/reload-20")
  [ "$served" = 200 ] && break
  sleep 0.05
done
check "the last rule change is served" 200 "$served"
check "/routes shows the current table" true \
  "$(curl -s "http://127.0.0.1:$ADMIN_PORT/routes" | jq '[.routes[] | select(.path == "/reload-20")] | length == 1')"
check_contains "/metrics counts reloads" "portico_table_publications_total" "$(curl -s "http://127.0.0.1:$ADMIN_PORT/metrics")"

# --- SIGTERM: the request in flight finishes, then the process exits 0
curl -s -o "$work/slow.out" -w '%{http_code}' -H 'Host: plain.test' "$base/delay/800" > "$work/slow.code" &
slow=$!
sleep 0.2
kill -TERM "$PORTICO_PID"
wait $slow
check "request in flight during SIGTERM completes" 200 "$(cat "$work/slow.code")"
wait "$PORTICO_PID"
check "portico exits 0 after draining" 0 $?
finish
