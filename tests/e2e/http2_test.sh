#!/usr/bin/env bash
# End-to-end tests of the HTTP/2 front end: h2c with prior knowledge and h2 over TLS (ALPN) in
# front of an HTTP/1.1 upstream, with real clients (curl, nghttp, h2load), a Python
# standard-library backend that reports what it received, and a raw-socket HTTP/2 client for
# what the clients cannot do (stay idle, send broken frames).
# Usage: http2_test.sh PATH_TO_PORTICO
set -uo pipefail
portico=$1
tmp=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null; done
  wait 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT
passed=0
failed=0

check() {  # check NAME EXPECTED ACTUAL
  if [ "$2" == "$3" ]; then
    passed=$((passed + 1))
    echo "ok: $1"
  else
    failed=$((failed + 1))
    echo "FAIL: $1: expected [$2], got [$3]"
  fi
}

for tool in curl nghttp h2load openssl python3 sha256sum; do
  if ! command -v "$tool" >/dev/null; then
    echo "FAIL: $tool is required (nghttp and h2load: apt-get install nghttp2-client)"
    exit 1
  fi
done

# Fixed random high ports: with several workers the test could not learn port 0's choice.
base=$((20000 + RANDOM % 20000))
backend_port=$base
http_port=$((base + 1))
https_port=$((base + 2))
admin_port=$((base + 3))

mkdir -p "$tmp/www" "$tmp/manifests"
echo "hello over h2" > "$tmp/www/index.html"
head -c $((50 * 1024 * 1024)) /dev/urandom > "$tmp/www/big.bin"
head -c $((10 * 1024 * 1024)) /dev/urandom > "$tmp/upload.bin"

# ---- the backend. GET: files from www/; /echo: what it received as JSON; /slow: answers after
# 1.5 s; /truncated: announces 1 MB, sends 100 bytes and closes. POST: the sha256 and length of
# the body it read (Content-Length or chunked) and how it was framed. /malformed: how many
# requests it could not parse.
cat > "$tmp/backend.py" <<'PY'
import hashlib, http.server, json, sys, time

malformed = 0  # requests the backend could not parse: a framing bug in what the proxy sent

class Handler(http.server.SimpleHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def send_error(self, code, *args, **kwargs):
        global malformed
        if code == 400:
            malformed += 1
        super().send_error(code, *args, **kwargs)

    def log_message(self, *args):
        pass

    def reply(self, status, body, content_type="application/json"):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def headers_json(self):
        return {k.lower(): v for k, v in self.headers.items()}

    def read_body(self):
        digest, length = hashlib.sha256(), 0
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            while True:
                size = int(self.rfile.readline().split(b";")[0], 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return digest.hexdigest(), length, "chunked"
                while size:
                    piece = self.rfile.read(min(size, 65536))
                    digest.update(piece)
                    size -= len(piece)
                    length += len(piece)
                self.rfile.readline()
        remaining = int(self.headers.get("Content-Length", "0"))
        while remaining:
            piece = self.rfile.read(min(remaining, 65536))
            if not piece:
                break
            digest.update(piece)
            remaining -= len(piece)
            length += len(piece)
        return digest.hexdigest(), length, "length"

    def do_GET(self):
        if self.path.startswith("/echo"):
            body = {"method": self.command, "path": self.path, "headers": self.headers_json()}
            return self.reply(200, json.dumps(body).encode())
        if self.path == "/malformed":
            return self.reply(200, str(malformed).encode(), "text/plain")
        if self.path == "/slow":
            time.sleep(1.5)
            return self.reply(200, b"slow\n", "text/plain")
        if self.path == "/truncated":
            self.send_response(200)
            self.send_header("Content-Length", "1000000")
            self.end_headers()
            self.wfile.write(b"x" * 100)
            self.wfile.flush()
            self.close_connection = True
            return
        return super().do_GET()

    def do_POST(self):
        sha, length, framing = self.read_body()
        body = {"sha256": sha, "length": length, "framing": framing,
                "headers": self.headers_json()}
        self.reply(200, json.dumps(body).encode())

class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256  # h2load opens up to 100 upstream connections at once

Server(("127.0.0.1", int(sys.argv[1])),
       lambda *a, **k: Handler(*a, directory=sys.argv[2], **k)).serve_forever()
PY

# ---- a raw HTTP/2 client: sends the preface and SETTINGS (and, for "garbage", a HEADERS frame
# on stream 0, a connection error), then prints the types of the frames it receives until the
# server closes ("eof") or SECONDS pass ("timeout").
cat > "$tmp/h2raw.py" <<'PY'
import socket, sys, time
mode, port, seconds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
marker = sys.argv[4] if len(sys.argv) > 4 else None  # created once the server's SETTINGS arrived
names = {0: "DATA", 1: "HEADERS", 3: "RST_STREAM", 4: "SETTINGS", 6: "PING", 7: "GOAWAY",
         8: "WINDOW_UPDATE"}
s = socket.create_connection(("127.0.0.1", port))
out = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + bytes([0, 0, 0, 4, 0, 0, 0, 0, 0])
if mode == "garbage":
    out += bytes([0, 0, 1, 1, 4, 0, 0, 0, 0, 0x82])
s.sendall(out)
deadline, buf, seen, end = time.time() + seconds, b"", [], "timeout"
while time.time() < deadline:
    s.settimeout(max(0.01, deadline - time.time()))
    try:
        data = s.recv(65536)
    except socket.timeout:
        break
    except ConnectionError:
        end = "eof"
        break
    if not data:
        end = "eof"
        break
    buf += data
    while len(buf) >= 9 and len(buf) >= 9 + int.from_bytes(buf[:3], "big"):
        length = int.from_bytes(buf[:3], "big")
        kind = names.get(buf[3], str(buf[3]))
        if kind == "SETTINGS" and buf[4] & 1:
            kind = "SETTINGS_ACK"
        if kind == "GOAWAY":
            kind += "(%d)" % int.from_bytes(buf[13:17], "big")
        if kind not in seen:
            seen.append(kind)
        if kind == "SETTINGS" and marker:
            open(marker, "w").close()
            marker = None
        buf = buf[9 + length:]
print(" ".join(seen + [end]))
PY

# ---- manifests: h2c.test over plain HTTP; tls.test has a certificate (and so a 308 on plain).
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=tls.test \
  -addext subjectAltName=DNS:tls.test -keyout "$tmp/key.pem" -out "$tmp/cert.pem" 2>/dev/null
cat > "$tmp/manifests/all.yaml" <<YAML
apiVersion: networking.k8s.io/v1
kind: IngressClass
metadata:
  name: portico
  annotations: {ingressclass.kubernetes.io/is-default-class: "true"}
spec: {controller: portico.dev/ingress-controller}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: h2}
spec:
  ports: [{name: http, port: 80, targetPort: $backend_port}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: web-1
  namespace: h2
  labels: {kubernetes.io/service-name: web}
addressType: IPv4
ports: [{name: http, port: $backend_port}]
endpoints: [{addresses: [127.0.0.1], conditions: {ready: true}}]
---
apiVersion: v1
kind: Service
metadata: {name: empty, namespace: h2}
spec:
  ports: [{name: http, port: 80}]
---
apiVersion: v1
kind: Service
metadata: {name: refused, namespace: h2}
spec:
  ports: [{name: http, port: 80}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: refused-1
  namespace: h2
  labels: {kubernetes.io/service-name: refused}
addressType: IPv4
ports: [{name: http, port: 1}]
endpoints: [{addresses: [127.0.0.1], conditions: {ready: true}}]
---
apiVersion: v1
kind: Secret
metadata: {name: tls-test, namespace: h2}
type: kubernetes.io/tls
data:
  tls.crt: $(base64 -w0 < "$tmp/cert.pem")
  tls.key: $(base64 -w0 < "$tmp/key.pem")
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: web, namespace: h2}
spec:
  ingressClassName: portico
  tls: [{hosts: [tls.test], secretName: tls-test}]
  rules:
  - host: h2c.test
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}
  - host: tls.test
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}
  - host: down.test
    http:
      paths:
      - {path: /empty, pathType: Prefix, backend: {service: {name: empty, port: {number: 80}}}}
      - {path: /refused, pathType: Prefix, backend: {service: {name: refused, port: {number: 80}}}}
YAML

python3 "$tmp/backend.py" "$backend_port" "$tmp/www" 2>"$tmp/backend.err" &
pids+=($!)
for _ in $(seq 50); do
  curl -s -o /dev/null "http://127.0.0.1:$backend_port/index.html" && break
  sleep 0.1
done

start_portico() {  # start_portico [EXTRA_ARGS...]: sets portico_pid, waits for /readyz
  "$portico" serve --manifests "$tmp/manifests" --http-addr "127.0.0.1:$http_port" \
    --https-addr "127.0.0.1:$https_port" --admin-addr "127.0.0.1:$admin_port" --workers 2 \
    --access-log off --shutdown-grace 10s --max-body-size 0 "$@" >>"$tmp/portico.out" 2>>"$tmp/portico.err" &
  portico_pid=$!
  pids+=($portico_pid)
  for _ in $(seq 100); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$admin_port/readyz")" == 200 ] &&
      return 0
    sleep 0.1
  done
  echo "FAIL: portico did not become ready"
  cat "$tmp/portico.err"
  exit 1
}

stop_portico() {  # stop_portico: SIGTERM; sets stop_status and stop_took (seconds)
  local start
  start=$(date +%s%N)
  kill -TERM "$portico_pid"
  wait "$portico_pid"
  stop_status=$?
  stop_took=$((($(date +%s%N) - start) / 1000000))
}

json() {  # json PYTHON_EXPRESSION_ON_d < JSON (what is not JSON is printed as it is)
  python3 -c "
import json, sys
text = sys.stdin.read()
try:
    d = json.loads(text)
except ValueError:
    print('not JSON: ' + text[:200].strip())
else:
    print($1)"
}

start_portico
h2c=(-s --http2-prior-knowledge -H "Host: h2c.test")
plain="http://127.0.0.1:$http_port"
tls=(-s --http2 -k --resolve "tls.test:$https_port:127.0.0.1")
secure="https://tls.test:$https_port"

# ---- h2c with prior knowledge: routing, forwarded headers, generated answers
check "h2c GET: 200 over HTTP/2 with the body" "hello over h2|200 2" \
  "$(curl "${h2c[@]}" -w '|%{http_code} %{http_version}' "$plain/index.html" | tr -d '\n')"
echo_json=$(curl "${h2c[@]}" -H 'Cookie: a=1' -H 'Cookie: b=2' -H 'X-Custom: yes' \
  "$plain/echo?q=1")
check "h2c: method, path and query reach the backend" "GET /echo?q=1" \
  "$(json 'd["method"], d["path"]' <<<"$echo_json")"
check "h2c: Host from :authority; X-Forwarded-* and X-Request-ID set" \
  "h2c.test http h2c.test 127.0.0.1 $http_port 32" \
  "$(json 'd["headers"]["host"], d["headers"]["x-forwarded-proto"],
          d["headers"]["x-forwarded-host"], d["headers"]["x-forwarded-for"],
          d["headers"]["x-forwarded-port"], len(d["headers"]["x-request-id"])' <<<"$echo_json")"
check "h2c: cookie crumbs joined with '; ', other fields kept" "a=1; b=2 yes" \
  "$(json 'd["headers"]["cookie"], d["headers"]["x-custom"]' <<<"$echo_json")"
check "h2c: unknown host is 404" "404" \
  "$(curl -s -o /dev/null -w '%{http_code}' --http2-prior-knowledge -H 'Host: nowhere.test' \
     "$plain/")"
check "h2c: a TLS host is redirected with 308" "308 https://tls.test:$https_port/echo?x=1" \
  "$(curl -s -o /dev/null -w '%{http_code} %{redirect_url}' --http2-prior-knowledge \
     -H 'Host: tls.test' "$plain/echo?x=1")"
# (One URL per curl: curl 7.88 fails reusing an h2c prior-knowledge connection, curl#10634.)
check "h2c: a Service without ready endpoints is 503" "503" \
  "$(curl -s -o /dev/null -w '%{http_code}' --http2-prior-knowledge -H 'Host: down.test' \
     "$plain/empty")"
check "h2c: an upstream refusing connections is 502" "502" \
  "$(curl -s -o /dev/null -w '%{http_code}' --http2-prior-knowledge -H 'Host: down.test' \
     "$plain/refused")"
check "h2c: HEAD answers the length and no body" "200 0 14" \
  "$(curl "${h2c[@]}" -I -o "$tmp/head" -w '%{http_code} %{size_download} ' "$plain/index.html"
     tr -d '\r' < "$tmp/head" | awk -F': ' 'tolower($1) == "content-length" { print $2 }')"
check "h2c: upstream fails after the header: stream reset (curl exit 92)" "92" \
  "$(curl "${h2c[@]}" -o /dev/null "$plain/truncated"; echo $?)"

# ---- h2 over TLS (ALPN)
check "h2 over TLS: ALPN h2, 200 with the body" "hello over h2|200 2" \
  "$(curl "${tls[@]}" -w '|%{http_code} %{http_version}' "$secure/index.html" | tr -d '\n')"
check "h2 over TLS: unknown host is 404" "404 2" \
  "$(curl -s -o /dev/null -w '%{http_code} %{http_version}' --http2 -k \
     --resolve "nowhere.test:$https_port:127.0.0.1" "https://nowhere.test:$https_port/")"
check "h2 over TLS: X-Forwarded-Proto is https" "https" \
  "$(curl "${tls[@]}" "$secure/echo" | json 'd["headers"]["x-forwarded-proto"]')"

# ---- bodies both ways, intact
want=$(sha256sum < "$tmp/upload.bin" | cut -d' ' -f1)
check "h2c POST 10 MB: arrives intact, with Content-Length" "$want 10485760 length" \
  "$(curl "${h2c[@]}" --data-binary "@$tmp/upload.bin" "$plain/upload" |
     json 'd["sha256"], d["length"], d["framing"]')"
check "h2c POST 10 MB of unknown length: arrives intact, chunked" "$want 10485760 chunked" \
  "$(curl "${h2c[@]}" -T - -X POST "$plain/upload" < "$tmp/upload.bin" |
     json 'd["sha256"], d["length"], d["framing"]')"
# Pieces with pauses between them: DATA, DATA, then END_STREAM on an empty DATA frame.
got=$( (printf 0123456789; sleep 0.3; printf 0123456789; sleep 0.3) |
  curl "${h2c[@]}" -T - -X POST "$plain/upload" | json 'd["sha256"], d["length"]')
check "h2c POST of unknown length sent in pieces: arrives intact, one last-chunk" \
  "$(printf 01234567890123456789 | sha256sum | cut -d' ' -f1) 20 0" \
  "$got $(curl -s "http://127.0.0.1:$backend_port/malformed")"
check "h2 POST 10 MB over TLS: arrives intact" "$want 10485760" \
  "$(curl "${tls[@]}" --data-binary "@$tmp/upload.bin" "$secure/upload" |
     json 'd["sha256"], d["length"]')"
check "h2c POST with an empty body: Content-Length 0" "0 0" \
  "$(curl "${h2c[@]}" -X POST "$plain/upload" | json 'd["length"], d["headers"]["content-length"]')"

want=$(sha256sum < "$tmp/www/big.bin" | cut -d' ' -f1)
check "h2 GET 50 MB over TLS: arrives intact" "$want" \
  "$(curl "${tls[@]}" "$secure/big.bin" | sha256sum | cut -d' ' -f1)"
check "h2c GET 50 MB: arrives intact" "$want" \
  "$(curl "${h2c[@]}" "$plain/big.bin" | sha256sum | cut -d' ' -f1)"
check "h2c GET 50 MB read slowly: arrives intact" "$want" \
  "$(curl "${h2c[@]}" --limit-rate 25M "$plain/big.bin" | sha256sum | cut -d' ' -f1)"

# Backpressure: a client that stops reading holds the download in the kernel's socket buffers
# and the backend, not in the proxy's memory.
rss() { awk '/^VmRSS/ { print $2 }' "/proc/$portico_pid/status"; }
before=$(rss)
curl "${h2c[@]}" --limit-rate 50k -o /dev/null --max-time 3 "$plain/big.bin" &
slow_pid=$!
sleep 2
during=$(rss)
wait "$slow_pid"
check "a stalled 50 MB download costs the proxy under 8 MB" "yes" \
  "$([ $((during - before)) -lt 8192 ] && echo yes || echo "no: ${before} kB -> ${during} kB")"

out=$(curl "${h2c[@]}" --parallel --parallel-immediate -w '%{http_code}\n' \
  -o /dev/null "$plain/index.html" -o /dev/null "$plain/echo" -o /dev/null "$plain/big.bin" \
  -o /dev/null "$plain/missing" -o /dev/null "$plain/slow" 2>/dev/null | sort | tr '\n' ' ')
check "h2c: concurrent streams on one connection" "200 200 200 200 404 " "$out"

# ---- nghttp: the frames
out=$(nghttp -nv -H ':authority: h2c.test' "$plain/index.html" 2>&1)
check "nghttp h2c: server SETTINGS (128 streams, 1 MiB window, no push)" "3" \
  "$(grep -cE 'SETTINGS_MAX_CONCURRENT_STREAMS\(0x03\):128|SETTINGS_INITIAL_WINDOW_SIZE\(0x04\):1048576|SETTINGS_ENABLE_PUSH\(0x02\):0' <<<"$out")"
check "nghttp h2c: HEADERS with :status 200" "1" \
  "$(grep -cE 'recv \(stream_id=[0-9]+\) :status: 200' <<<"$out")"
out=$(nghttp -nv -H ':authority: tls.test' "https://127.0.0.1:$https_port/index.html" 2>&1)
check "nghttp h2: negotiated h2 and got 200" "2" \
  "$(grep -cE 'The negotiated protocol: h2|recv \(stream_id=[0-9]+\) :status: 200' <<<"$out")"

# ---- misbehaving clients; the proxy keeps serving
frames_end() {  # frames_end LAST_FRAME: the raw client saw LAST_FRAME, then the server closed
  awk -v last="$1" '{ print ($(NF - 1) == last && $NF == "eof") ? "yes" : $0 }'
}
check "a HEADERS frame on stream 0: GOAWAY(PROTOCOL_ERROR), then close" "yes" \
  "$(python3 "$tmp/h2raw.py" garbage "$http_port" 5 | frames_end 'GOAWAY(1)')"
timeout 5 nghttp -n --timeout=1 -w 14 -W 14 -H ':authority: h2c.test' "$plain/big.bin" \
  >/dev/null 2>&1
curl "${h2c[@]}" -o /dev/null --max-time 0.5 "$plain/big.bin"
check "after clients gave up mid-download: still serving" "200" \
  "$(curl -s -o /dev/null -w '%{http_code}' "${h2c[@]}" "$plain/index.html")"

# ---- load
h2load_result() {  # "succeeded failed errored" from h2load's output
  sed -nE 's/^requests: .* ([0-9]+) succeeded, ([0-9]+) failed, ([0-9]+) errored.*/\1 \2 \3/p'
}
out=$(h2load -n 2000 -c 10 -m 10 -H ':authority: h2c.test' "$plain/index.html" 2>&1)
grep -E '^finished in' <<<"$out"
check "h2load h2c -n 2000 -c 10 -m 10: none failed or errored" "2000 0 0" \
  "$(h2load_result <<<"$out")"
out=$(h2load -n 500 -c 4 -m 10 -H ':authority: tls.test' "https://127.0.0.1:$https_port/index.html" 2>&1)
check "h2load h2 over TLS -n 500 -c 4 -m 10: none failed or errored" "500 0 0" \
  "$(h2load_result <<<"$out")"

check "the backend could parse every request the proxy sent" "0" \
  "$(curl -s "http://127.0.0.1:$backend_port/malformed")"

metrics=$(curl -s "http://127.0.0.1:$admin_port/metrics")
check "metrics: HTTP/2 requests counted" "yes" \
  "$(awk '/^portico_http_protocol_requests_total\{protocol="http2"\}/ { print ($2 >= 2500 ? "yes" : "no") }' \
     <<<"$metrics")"
check "metrics: no HTTP/2 connection left open" "0" \
  "$(awk '/^portico_open_connections\{protocol="http2",/ { n += $2 } END { print n }' <<<"$metrics")"

# ---- SIGTERM while an HTTP/2 connection is idle: it is closed, the process exits 0 at once
python3 "$tmp/h2raw.py" idle "$http_port" 8 "$tmp/idle.connected" >"$tmp/idle.out" &
idle_pid=$!
# Once the connection is established (a fixed head start was too short on a loaded machine).
for _ in $(seq 100); do [ -e "$tmp/idle.connected" ] && break; sleep 0.1; done
stop_portico
check "SIGTERM while idle: exit status 0 within 2 s" "yes" \
  "$([ "$stop_status" == 0 ] && [ "$stop_took" -le 2000 ] && echo yes ||
     echo "status $stop_status after $stop_took ms")"
wait "$idle_pid"
check "SIGTERM while idle: the idle connection was closed" "eof" "$(awk '{ print $NF }' "$tmp/idle.out")"

# ---- idle timeout: a quiet connection gets GOAWAY(NO_ERROR) and is closed
start_portico --idle-timeout 1s
check "idle timeout: GOAWAY(NO_ERROR), then close" "yes" \
  "$(python3 "$tmp/h2raw.py" idle "$http_port" 6 | frames_end 'GOAWAY(0)')"

# ---- SIGTERM with a request in flight: it completes, GOAWAY tells the client, exit 0
nghttp -v -H ':authority: h2c.test' "$plain/slow" >"$tmp/drain.out" 2>&1 &
client_pid=$!
sleep 0.3
stop_portico
wait "$client_pid"
check "drain: the request in flight completes" "1" \
  "$(grep -cE 'recv \(stream_id=[0-9]+\) :status: 200' "$tmp/drain.out")"
check "drain: the client was told with GOAWAY(NO_ERROR)" "yes" \
  "$(grep -A1 'recv GOAWAY' "$tmp/drain.out" | grep -q 'error_code=NO_ERROR' && echo yes)"
check "drain: exit status 0" "0" "$stop_status"

if [ "$failed" -gt 0 ]; then
  echo "--- portico's standard error:"
  tail -n 50 "$tmp/portico.err"
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
