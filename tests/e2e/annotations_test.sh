#!/usr/bin/env bash
# ingress-nginx annotations through a real `portico serve`, with curl over HTTP/1.1 and HTTP/2
# (h2c prior knowledge, and h2 over TLS where TLS matters): rewrite-target (plain and with
# use-regex capture groups), ssl-redirect, force-ssl-redirect, allowlist/whitelist-source-range,
# limit-rps (burst accuracy), enable-cors with cors-* (preflight and simple request),
# permanent-redirect, temporal-redirect, app-root, proxy-read/connect-timeout against the global
# ones, server-alias. The backend echoes what it received, so the checks see the rewritten path.
source "$(dirname "$0")/lib.sh"

start_backend web
web_port=$BACKEND_PORT

# A backend that never accepts: its listen queue is filled first, after which the kernel drops
# new SYNs on loopback and a connect hangs until the proxy's connect timeout.
blackhole_port_file="$work/blackhole.port"
python3 - "$blackhole_port_file" <<'EOF' &
import socket, sys, time
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(0)
port = s.getsockname()[1]
held = []
for _ in range(4):  # fill the accept queue (backlog 0 still queues one or two)
    c = socket.socket()
    c.setblocking(False)
    try:
        c.connect(("127.0.0.1", port))
    except BlockingIOError:
        pass
    held.append(c)
time.sleep(0.2)
open(sys.argv[1], "w").write(str(port))
time.sleep(3600)
EOF
pids+=($!)
for _ in $(seq 100); do [ -s "$blackhole_port_file" ] && break; sleep 0.05; done
blackhole_port=$(cat "$blackhole_port_file")

# A backend that accepts and never reads: a large upload stalls once the socket buffers are full.
sink_port_file="$work/sink.port"
python3 - "$sink_port_file" <<'EOF' &
import socket, sys
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(16)
open(sys.argv[1], "w").write(str(s.getsockname()[1]))
held = []
while True:
    c, _ = s.accept()
    c.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    held.append(c)
EOF
pids+=($!)
for _ in $(seq 100); do [ -s "$sink_port_file" ] && break; sleep 0.05; done
sink_port=$(cat "$sink_port_file")

m="$work/manifests"
mkdir -p "$m"
N=nginx.ingress.kubernetes.io
# ingress NAME HOST PATH PATH_TYPE SERVICE [ANNOTATION=VALUE...]: one Ingress, one rule, one path.
ingress() {
  local name=$1 host=$2 path=$3 type=$4 service=$5 a
  shift 5
  printf -- '---\napiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: %s\n  namespace: ann\n' "$name"
  [ $# -gt 0 ] && printf '  annotations:\n'
  for a in "$@"; do printf '    %s: "%s"\n' "${a%%=*}" "${a#*=}"; done
  printf 'spec:\n  rules:\n  - host: %s\n    http:\n      paths:\n      - path: "%s"\n        pathType: %s\n        backend: {service: {name: %s, port: {number: 80}}}\n' \
    "$host" "$path" "$type" "$service"
}
{
  ingress rewrite rw.test /app Prefix web "$N/rewrite-target=/"
  ingress regex rx.test '/api(/|$)(.*)' ImplementationSpecific web "$N/use-regex=true" \
    "$N/rewrite-target=/v2/\$2"
  ingress force force.test / Prefix web "$N/force-ssl-redirect=true"
  ingress allowed allow.test / Prefix web "$N/whitelist-source-range=127.0.0.1/32"
  ingress denied deny.test / Prefix web "$N/allowlist-source-range=10.0.0.0/8, 192.168.0.0/16"
  ingress rps rps.test / Prefix web "$N/limit-rps=2"
  ingress rps2 rps2.test / Prefix web "$N/limit-rps=2"
  ingress cors cors.test / Prefix web "$N/enable-cors=true" "$N/cors-allow-origin=https://a.example" \
    "$N/cors-allow-methods=GET, POST" "$N/cors-max-age=600" "$N/cors-expose-headers=X-Request-ID"
  ingress perm perm.test / Prefix web "$N/permanent-redirect=https://new.example/landing"
  ingress perm308 perm308.test / Prefix web "$N/permanent-redirect=https://new.example/" \
    "$N/permanent-redirect-code=308"
  ingress temp temp.test / Prefix web "$N/temporal-redirect=https://maintenance.example/"
  ingress root root.test / Prefix web "$N/app-root=/app"
  ingress fast fast.test / Prefix web "$N/proxy-read-timeout=1"
  ingress patient patient.test / Prefix web "$N/proxy-read-timeout=4"
  ingress plain plain.test / Prefix web
  ingress connect conn.test / Prefix hole "$N/proxy-connect-timeout=1"
  ingress send send.test / Prefix sink "$N/proxy-send-timeout=1" "$N/proxy-body-size=0"
  ingress alias alias.test / Prefix web "$N/server-alias=www.alias.test, *.alias.example"
  # ssl-redirect: a host in spec.tls redirects plain HTTP unless the annotation says "false".
  cat <<EOF
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: tls, namespace: ann}
spec:
  tls: [{hosts: [tls.test], secretName: tls}]
  rules:
  - host: tls.test
    http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}]}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: open
  namespace: ann
  annotations: {$N/ssl-redirect: "false"}
spec:
  tls: [{hosts: [open.test], secretName: open}]
  rules:
  - host: open.test
    http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}]}
EOF
  service_yaml ann web "$web_port"
  service_yaml ann hole "$blackhole_port"
  service_yaml ann sink "$sink_port"
  tls_secret_yaml ann tls tls.test
  tls_secret_yaml ann open open.test
} > "$m/all.yaml"

# Global timeouts between the annotations' (1 s and 4 s read, 1 s connect).
start_portico "$m" --workers 2 --upstream-timeout 2s --connect-timeout 10s || finish
base="http://127.0.0.1:$HTTP_PORT"
check "the manifests compile without diagnostics" "" "$(grep ': warning: \|: error: ' "$work/portico.err" | head -5)"

# The protocols every check runs over; "h2c" is HTTP/2 with prior knowledge on the plain port.
for proto in http1 h2c; do
  if [ "$proto" = http1 ]; then p=(--http1.1); else p=(--http2-prior-knowledge); fi
  c() { curl -s "${p[@]}" "$@"; }
  code() { curl -s "${p[@]}" -o /dev/null -w '%{http_code}' "$@"; }
  # field NAME: a response header's value from `curl -D -` output on stdin (any case, no CR)
  field() { tr -d '\r' | awk -v n="$(tr 'A-Z' 'a-z' <<<"$1")" -F': ' 'tolower($1) == n {print $2; exit}'; }

  # --- rewrite-target
  check "$proto rewrite-target /: the whole path is replaced, the query kept" "/?q=1" \
    "$(c -H 'Host: rw.test' "$base/app/page/7?q=1" | jq -r .target)"
  check "$proto rewrite-target with use-regex capture groups" "/v2/users/7?x=1" \
    "$(c -H 'Host: rx.test' "$base/api/users/7?x=1" | jq -r .target)"
  check "$proto rewrite-target: an empty group" "/v2/" "$(c -H 'Host: rx.test' "$base/api" | jq -r .target)"
  check "$proto rewrite-target: a path the regex does not match is not routed" 404 \
    "$(code -H 'Host: rx.test' "$base/other")"

  # --- ssl-redirect and force-ssl-redirect
  check "$proto ssl-redirect: a TLS host redirects plain HTTP" "308 https://tls.test:$HTTPS_PORT/a?b=1" \
    "$(curl -s "${p[@]}" -o /dev/null -w '%{http_code} %{redirect_url}' -H 'Host: tls.test' "$base/a?b=1")"
  check "$proto ssl-redirect: \"false\" serves plain HTTP" 200 "$(code -H 'Host: open.test' "$base/")"
  check "$proto force-ssl-redirect: a host without TLS redirects too" \
    "308 https://force.test:$HTTPS_PORT/cart?id=7" \
    "$(curl -s "${p[@]}" -o /dev/null -w '%{http_code} %{redirect_url}' -H 'Host: force.test' "$base/cart?id=7")"

  # --- allow-lists (curl comes from 127.0.0.1)
  check "$proto whitelist-source-range 127.0.0.1/32 lets loopback in" web \
    "$(c -H 'Host: allow.test' "$base/" | jq -r .backend)"
  check "$proto allowlist-source-range of other networks: 403" 403 "$(code -H 'Host: deny.test' "$base/")"

  # --- CORS
  pre=$(curl -s "${p[@]}" -o /dev/null -D - -X OPTIONS -H 'Host: cors.test' -H 'Origin: https://a.example' \
    -H 'Access-Control-Request-Method: POST' "$base/items")
  check "$proto CORS preflight: 204" 204 "$(head -1 <<<"$pre" | awk '{print $2}')"
  check "$proto CORS preflight: Allow-Origin" https://a.example "$(field Access-Control-Allow-Origin <<<"$pre")"
  check "$proto CORS preflight: Allow-Methods" "GET, POST" "$(field Access-Control-Allow-Methods <<<"$pre")"
  check "$proto CORS preflight: Max-Age" 600 "$(field Access-Control-Max-Age <<<"$pre")"
  check "$proto CORS preflight: Allow-Credentials" true "$(field Access-Control-Allow-Credentials <<<"$pre")"
  check "$proto CORS preflight: no body" "" "$(field Content-Length <<<"$pre")"
  simple=$(curl -s "${p[@]}" -D "$work/cors.head" -H 'Host: cors.test' -H 'Origin: https://a.example' "$base/items")
  head=$(cat "$work/cors.head")
  check "$proto CORS simple request reaches the backend" web "$(jq -r .backend <<<"$simple")"
  check "$proto CORS simple request: Allow-Origin on the response" https://a.example \
    "$(field Access-Control-Allow-Origin <<<"$head")"
  check "$proto CORS simple request: Expose-Headers" X-Request-ID "$(field Access-Control-Expose-Headers <<<"$head")"
  other=$(curl -s "${p[@]}" -o /dev/null -D - -H 'Host: cors.test' -H 'Origin: https://evil.example' "$base/items")
  check "$proto CORS: another origin gets no Allow-Origin" "" "$(field Access-Control-Allow-Origin <<<"$other")"

  # --- redirects and app-root
  check "$proto permanent-redirect: 301 to the URL" "301 https://new.example/landing" \
    "$(curl -s "${p[@]}" -o /dev/null -w '%{http_code} %{redirect_url}' -H 'Host: perm.test' "$base/old")"
  check "$proto permanent-redirect-code 308" 308 "$(code -H 'Host: perm308.test' "$base/")"
  check "$proto temporal-redirect: 302 to the URL" "302 https://maintenance.example/" \
    "$(curl -s "${p[@]}" -o /dev/null -w '%{http_code} %{redirect_url}' -H 'Host: temp.test' "$base/x")"
  check "$proto app-root: / goes to the app root" "302 /app" \
    "$(curl -s "${p[@]}" -o /dev/null -D - -H 'Host: root.test' "$base/" | tr -d '\r' |
      awk 'NR == 1 {s = $2} tolower($1) == "location:" {l = $2} END {print s, l}')"
  check "$proto app-root: other paths are served" /app/page "$(c -H 'Host: root.test' "$base/app/page" | jq -r .target)"

  # --- server-alias
  body=$(c -H 'Host: www.alias.test' "$base/x")
  check "$proto server-alias reaches the Ingress's rules" web "$(jq -r .backend <<<"$body")"
  check "$proto server-alias: Host is kept" www.alias.test \
    "$(jq -r '.headers | map(select(.[0] | ascii_downcase == "host")) | .[0][1]' <<<"$body")"
  check "$proto server-alias: a wildcard alias" web "$(c -H 'Host: a.alias.example' "$base/" | jq -r .backend)"
  check "$proto server-alias: other hosts are not aliases" 404 "$(code -H 'Host: www.other.test' "$base/")"

  # --- timeouts: the route's, not the global 2 s
  t=$(curl -s "${p[@]}" -o /dev/null -w '%{http_code} %{time_total}' -H 'Host: fast.test' "$base/delay/1500")
  check "$proto proxy-read-timeout 1: 504 for a 1.5 s backend (global 2 s would wait)" 504 "${t% *}"
  check "$proto proxy-read-timeout 1: answered at ~1 s" yes \
    "$(awk -v s="${t#* }" 'BEGIN {print (s >= 0.9 && s < 1.7) ? "yes" : "no: " s}')"
  check "$proto proxy-read-timeout 4: a 2.5 s backend is waited for (global 2 s would not)" 200 \
    "$(code -H 'Host: patient.test' "$base/delay/2500")"
  check "$proto proxy-read-timeout 4 holds after a request body (global 2 s for the body)" 200 \
    "$(code -H 'Host: patient.test' -H 'Expect: 100-continue' --data-binary 'some body' "$base/delay/2500")"
  t=$(curl -s "${p[@]}" -o /dev/null -w '%{http_code} %{time_total}' -H 'Host: plain.test' "$base/delay/2500")
  check "$proto no annotation: the global 2 s" 504 "${t% *}"
  check "$proto no annotation: answered at ~2 s" yes \
    "$(awk -v s="${t#* }" 'BEGIN {print (s >= 1.9 && s < 2.7) ? "yes" : "no: " s}')"
  # A connect that never completes: one attempt and one retry, 1 s each (global: 10 s each).
  t=$(curl -s "${p[@]}" -m 30 -o /dev/null -w '%{http_code} %{time_total}' -H 'Host: conn.test' "$base/")
  check "$proto proxy-connect-timeout 1: 504" 504 "${t% *}"
  check "$proto proxy-connect-timeout 1: two attempts of ~1 s" yes \
    "$(awk -v s="${t#* }" 'BEGIN {print (s >= 1.9 && s < 3) ? "yes" : "no: " s}')"
done

# --- proxy-send-timeout 1 (and proxy-body-size 0: no limit): an upstream that takes no more of a
# 64 MiB upload; 504 at ~1 s
# (global 2 s). curl 7.88 does not show a response that ends an HTTP/2 upload early
# (RST_STREAM NO_ERROR after it, RFC 9113 section 8.1): nghttp does.
head -c 67108864 /dev/zero > "$work/big"
t=$(curl -s --http1.1 -o /dev/null -w '%{http_code} %{time_total}' -H 'Host: send.test' \
  --data-binary @"$work/big" "$base/up")
check "http1 proxy-send-timeout 1: 504" 504 "${t% *}"
check "http1 proxy-send-timeout 1: answered at ~1 s" yes \
  "$(awk -v s="${t#* }" 'BEGIN {print (s >= 0.9 && s < 1.7) ? "yes" : "no: " s}')"
out=$(timeout 20 nghttp -v -H ':authority: send.test' -d "$work/big" "$base/up" 2>&1)
check "h2c proxy-send-timeout 1: 504" 1 "$(grep -c ':status: 504' <<<"$out")"
check "h2c proxy-send-timeout 1: answered at ~1 s" yes \
  "$(grep ':status: 504' <<<"$out" | tr -d '[]' | awk '{print ($1 >= 0.9 && $1 < 1.7) ? "yes" : "no: " $1}')"

# --- over TLS: force-ssl-redirect and ssl-redirect let HTTPS through (h2 and HTTP/1.1)
resolve=(--resolve "force.test:$HTTPS_PORT:127.0.0.1" --resolve "tls.test:$HTTPS_PORT:127.0.0.1"
  --resolve "rx.test:$HTTPS_PORT:127.0.0.1")
for v in --http2 --http1.1; do
  check "force-ssl-redirect over TLS ($v): served" web \
    "$(curl -sk "$v" "${resolve[@]}" "https://force.test:$HTTPS_PORT/" | jq -r .backend)"
  check "ssl-redirect host over TLS ($v): served" web \
    "$(curl -sk "$v" "${resolve[@]}" "https://tls.test:$HTTPS_PORT/" | jq -r .backend)"
  check "rewrite-target over TLS ($v)" "/v2/a" \
    "$(curl -sk "$v" "${resolve[@]}" "https://rx.test:$HTTPS_PORT/api/a" | jq -r .target)"
done
check "the TLS requests were HTTP/2" 2 \
  "$(curl -sk --http2 "${resolve[@]}" -o /dev/null -w '%{http_version}' "https://force.test:$HTTPS_PORT/")"

# --- limit-rps accuracy: limit-rps 2 allows a burst of 5 x 2 = 10 at once, then 2 a second.
# 30 requests on one connection as fast as curl sends them; the 200s are the burst plus what
# the bucket refilled meanwhile (2 per second of the run), the others are 503.
burst() {  # burst HOST http1|h2c -> "OK REFUSED SECONDS"
  local args=() i start end out ok refused
  start=$(date +%s.%N)
  if [ "$2" = http1 ]; then
    for i in $(seq 30); do args+=(-o /dev/null "$base/r$i"); done
    out=$(curl -s --http1.1 -w '%{http_code}\n' -H "Host: $1" "${args[@]}")
    ok=$(grep -c '^200$' <<<"$out")
    refused=$(grep -c '^503$' <<<"$out")
  else
    # (curl 7.88 sends nothing for the second URL on a reused h2c connection: h2load instead)
    out=$(h2load -n 30 -c 1 -m 1 -H ":authority: $1" "$base/r" 2>&1)
    read -r ok refused < <(awk '/^status codes:/ {print $3, $9}' <<<"$out")
  fi
  end=$(date +%s.%N)
  echo "$ok $refused $(awk -v a="$start" -v b="$end" 'BEGIN {print b - a}')"
}
for run in "rps.test http1 --http1.1" "rps2.test h2c --http2-prior-knowledge"; do
  read -r host proto flag <<<"$run"
  read -r ok refused secs <<<"$(burst "$host" "$proto")"
  allowed_max=$(awk -v s="$secs" 'BEGIN {print 10 + int(s * 2) + 1}')
  check "limit-rps 2 ($proto): 200s are the burst of 10 plus the refill ($ok in ${secs}s, at most $allowed_max)" yes \
    "$([ "$ok" -ge 10 ] && [ "$ok" -le "$allowed_max" ] && echo yes || echo "no: $ok")"
  check "limit-rps 2 ($proto): the rest are 503" 30 "$((ok + refused))"
  sleep 1.1
  check "limit-rps 2 ($proto): the bucket refills at the rate" 200 \
    "$(curl -s "$flag" -o /dev/null -w '%{http_code}' -H "Host: $host" "$base/again")"
done
check "limit-rps counts per Ingress: another one is not limited" 200 "$(curl -s -o /dev/null -w '%{http_code}' -H 'Host: plain.test' "$base/")"

check "portico is still running" yes "$(kill -0 "$PORTICO_PID" 2>/dev/null && echo yes || echo no)"
finish
