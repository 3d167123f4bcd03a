#!/usr/bin/env bash
# The limits of what a client may send, each with its status and, where it must, a closed
# connection: request line (414), header bytes and fields (431), body size (413, with the
# proxy-body-size override per route), header-read timeout (408, slowloris), body-read idle
# timeout (408), requests per keep-alive connection (Connection: close on the last), and
# connections per worker (accepted and closed). HTTP/1.1 on raw sockets and curl; HTTP/2 (h2c)
# with curl.
source "$(dirname "$0")/lib.sh"
raw="$src/tests/e2e/raw_http.py"

start_backend web
web_port=$BACKEND_PORT

m="$work/manifests"
mkdir -p "$m"
cat > "$m/ingress.yaml" <<EOF
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: limits, namespace: t}
spec:
  rules:
  - host: plain.test
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: big
  namespace: t
  annotations: {nginx.ingress.kubernetes.io/proxy-body-size: 4k}
spec:
  rules:
  - host: big.test
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: unlimited
  namespace: t
  annotations: {portico.dev/proxy-body-size: "0"}
spec:
  rules:
  - host: unlimited.test
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}
EOF
service_yaml t web "$web_port" > "$m/services.yaml"
start_portico "$m" --workers 1 --access-log off --max-request-line 256 --max-header-bytes 2048 \
  --max-header-fields 20 --max-body-size 1k --request-header-timeout 1s --body-read-timeout 1s \
  --max-keepalive-requests 3 || finish
port=$HTTP_PORT
base="http://127.0.0.1:$port"
send() { python3 "$raw" send "$port" "$@"; }
requests() { curl -s "http://127.0.0.1:$web_port/__requests" | jq length; }
forget() { curl -s -X DELETE "http://127.0.0.1:$web_port/__requests" > /dev/null; }
H='Host: plain.test\r\n'

# --- request line: 256 bytes with its CRLF pass, 257 get 414
forget
line_ok="GET /$(printf 'a%.0s' $(seq 240)) HTTP/1.1\r\n"
check "request line of 256 bytes served" 200 "$(send "${line_ok}${H}\r\n" 0.3 | cut -d' ' -f1)"
check "request line of 257 bytes: 414, closed" "414 closed" \
  "$(send "GET /a$(printf 'a%.0s' $(seq 240)) HTTP/1.1\r\n${H}\r\n" | cut -d' ' -f1,2)"
check "a request line that never ends: 414 without waiting for it" "414 closed" \
  "$(send "GET /$(printf 'a%.0s' $(seq 400))" | cut -d' ' -f1,2)"

# --- header bytes and fields
check "header over 2048 bytes: 431, closed" "431 closed" \
  "$(send "GET / HTTP/1.1\r\n${H}X-Big: $(printf 'b%.0s' $(seq 2100))\r\n\r\n" | cut -d' ' -f1,2)"
fields=""
for i in $(seq 19); do fields+="X-$i: v\r\n"; done
check "20 fields served" 200 "$(send "GET / HTTP/1.1\r\n${H}${fields}\r\n" 0.3 | cut -d' ' -f1)"
check "21 fields: 431, closed" "431 closed" \
  "$(send "GET / HTTP/1.1\r\n${H}${fields}X-20: v\r\n\r\n" | cut -d' ' -f1,2)"
check "none of the refused headers reached the backend" 2 "$(requests)"

# --- body size: --max-body-size 1k; a route's proxy-body-size 4k; another's 0 (unlimited)
forget
head -c 1024 /dev/urandom > "$work/1k"
head -c 1025 /dev/urandom > "$work/1k+1"
head -c 4096 /dev/urandom > "$work/4k"
head -c 2000000 /dev/urandom > "$work/2m"
code() { curl -s -o /dev/null -w '%{http_code}' "$@"; }
check "body of 1 KiB (Content-Length) served" 200 \
  "$(code -H 'Host: plain.test' --data-binary @"$work/1k" "$base/")"
check "Content-Length over the limit: 413, closed" "413 closed" \
  "$(send "POST / HTTP/1.1\r\n${H}Content-Length: 1025\r\n\r\n" | cut -d' ' -f1,2)"
check "Content-Length over the limit with Expect: 413 rather than 100" 413 \
  "$(code -H 'Host: plain.test' -H 'Expect: 100-continue' --data-binary @"$work/1k+1" "$base/")"
check "chunked body growing over the limit: 413" 413 \
  "$(code -H 'Host: plain.test' -H 'Transfer-Encoding: chunked' --data-binary @"$work/1k+1" "$base/")"
chunk=$(printf 'c%.0s' $(seq 600))
check "chunked body over the limit in one piece: 413, closed" "413 closed" \
  "$(send "POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n258\r\n$chunk\r\n258\r\n$chunk\r\n0\r\n\r\n" | cut -d' ' -f1,2)"
check "chunked body of 1 KiB served" 200 \
  "$(code -H 'Host: plain.test' -H 'Transfer-Encoding: chunked' --data-binary @"$work/1k" "$base/")"
check "only the bodies within the limit reached the backend" 2 "$(requests)"
check "proxy-body-size 4k: 4 KiB served" 200 "$(code -H 'Host: big.test' --data-binary @"$work/4k" "$base/")"
check "proxy-body-size 4k: 2 MB refused" 413 "$(code -H 'Host: big.test' --data-binary @"$work/2m" "$base/")"
body=$(curl -s -H 'Host: unlimited.test' --data-binary @"$work/2m" "$base/upload")
check "proxy-body-size 0: 2 MB served whole" 2000000 "$(jq -r .body_bytes <<<"$body")"

# --- HTTP/2 (h2c): the same limits on streams
h2=(--http2-prior-knowledge -s -o /dev/null -w '%{http_code}')
check "h2: header over 2048 bytes: 431" 431 \
  "$(curl "${h2[@]}" -H 'Host: plain.test' -H "X-Big: $(printf 'b%.0s' $(seq 2100))" "$base/")"
h2fields=()
for i in $(seq 20); do h2fields+=(-H "X-$i: v"); done
check "h2: over 20 fields: 431" 431 "$(curl "${h2[@]}" -H 'Host: plain.test' "${h2fields[@]}" "$base/")"
check "h2: body of 1 KiB served" 200 "$(curl "${h2[@]}" -H 'Host: plain.test' --data-binary @"$work/1k" "$base/")"
# (nghttp and raw frames here: curl 7.88 may drop a response that comes with RST_STREAM, which
# ends the upload it no longer needs.)
check_contains "h2: content-length over the limit: 413" ":status: 413" \
  "$(nghttp -v -H ':authority: plain.test' -d "$work/1k+1" "$base/" 2>&1)"
check "h2: DATA growing over the limit (no content-length): 413, the upload reset" \
  "413_Payload_Too_Large rst" "$(python3 "$raw" h2 "$port" plain.test 600 2)"
check "h2: proxy-body-size 4k: 4 KiB served" 200 \
  "$(curl "${h2[@]}" -H 'Host: big.test' --data-binary @"$work/4k" "$base/")"

# --- timeouts (1 s): a header trickling in, a body that stops
result=$(send "GET / HTTP/1.1\r\nHost: pla" 5)
check "header not complete within --request-header-timeout: 408, closed" "408 closed" \
  "$(cut -d' ' -f1,2 <<<"$result")"
check "... after about 1 s" yes "$(awk '{print ($3 >= 0.8 && $3 < 3) ? "yes" : "no: " $3}' <<<"$result")"
check "over TLS too: 408" "HTTP/1.1 408 Request Timeout" \
  "$( (printf 'GET / HTTP/1.1\r\nHost: pla'; sleep 3) |
    timeout 5 openssl s_client -connect "127.0.0.1:$HTTPS_PORT" -quiet 2>/dev/null | head -1 | tr -d '\r')"
check "a response slower than --request-header-timeout, then another on the same connection" \
  "200:1 200:0 " "$(curl -s -o /dev/null -o /dev/null -w '%{http_code}:%{num_connects} ' -H 'Host: plain.test' \
    "$base/delay/1500" "$base/")"
result=$(send "" 5)
check "a connection that sends nothing is closed without an answer" "- closed" \
  "$(cut -d' ' -f1,2 <<<"$result")"
result=$(send "POST / HTTP/1.1\r\n${H}Content-Length: 10\r\n\r\nabc" 5)
check "body stopping mid-way for --body-read-timeout: 408, closed" "408 closed" \
  "$(cut -d' ' -f1,2 <<<"$result")"
check "h2: body stopping mid-way for --body-read-timeout: 408, the upload reset" \
  "408_Request_Timeout rst" "$(python3 "$raw" h2 "$port" plain.test 3 1 5)"

# --- requests per keep-alive connection: the 3rd is answered with Connection: close
three="GET / HTTP/1.1\r\n${H}\r\nGET / HTTP/1.1\r\n${H}\r\nGET / HTTP/1.1\r\n${H}\r\nGET / HTTP/1.1\r\n${H}\r\n"
python3 - "$port" "$three" > "$work/keepalive.out" <<'EOF'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
s.sendall(sys.argv[2].encode().decode("unicode_escape").encode("latin-1"))
data = b""
while True:
    chunk = s.recv(65536)
    if not chunk:
        break
    data += chunk
print(data.count(b"HTTP/1.1 200"), data.lower().count(b"connection: close"))
EOF
check "3 of 4 pipelined requests served, the last with Connection: close, then closed" "3 1" \
  "$(cat "$work/keepalive.out")"
stop_pid=$PORTICO_PID

# --- connections per worker: beyond 3, accepted and closed at once
start_portico "$m" --workers 1 --access-log off --max-connections-per-worker 3 || finish
python3 "$raw" hold "$HTTP_PORT" 3 4 > "$work/hold.out" &
holder=$!
for _ in $(seq 50); do grep -q open "$work/hold.out" 2>/dev/null && break; sleep 0.05; done
sleep 0.3
result=$(python3 "$raw" send "$HTTP_PORT" "GET / HTTP/1.1\r\n${H}\r\n" 2)
check "a 4th connection is closed without an answer" "- closed" "$(cut -d' ' -f1,2 <<<"$result")"
check "... at once" yes "$(awk '{print ($3 < 1) ? "yes" : "no: " $3}' <<<"$result")"
check_contains "refused connections are counted" "portico_connections_refused_total 1" \
  "$(curl -s "http://127.0.0.1:$ADMIN_PORT/metrics")"
kill "$holder" 2>/dev/null
wait "$holder" 2>/dev/null
served=""
for _ in $(seq 20); do
  served=$(curl -s -o /dev/null -w '%{http_code}' -H 'Host: plain.test' "http://127.0.0.1:$HTTP_PORT/")
  [ "$served" = 200 ] && break
  sleep 0.1
done
check "served again once connections closed" 200 "$served"

# --- bad values of the flags are refused by name
out=$("$portico" serve --manifests "$m" --max-body-size 1x 2>&1)
check_contains "--max-body-size 1x refused" '--max-body-size "1x": accepted: bytes, or a number with k, m or g' "$out"
out=$("$portico" serve --manifests "$m" --max-header-bytes 10 2>&1)
check_contains "--max-header-bytes 10 refused" "--max-header-bytes 10: accepted: 64 to 1073741824" "$out"
out=$("$portico" serve --manifests "$m" --max-connections-per-worker 0 2>&1)
check_contains "--max-connections-per-worker 0 refused" "accepted: 1 or more" "$out"
finish
