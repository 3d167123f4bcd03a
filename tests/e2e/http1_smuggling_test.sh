#!/usr/bin/env bash
# RFC 9112 strictness, table-driven: each malformed or ambiguous request goes as raw bytes on a
# real socket to portico serve in front of the test backend, followed in the same bytes by a
# second ("smuggled") request. Each must get its status (400; 417 for an unknown expectation)
# and a closed connection, and the backend must see neither request. Malformed upstream
# responses, from a raw-socket backend, must each get 502.
source "$(dirname "$0")/lib.sh"
raw="$src/tests/e2e/raw_http.py"

start_backend web
web_port=$BACKEND_PORT
python3 "$raw" backend > "$work/raw-backend.out" 2>&1 &
pids+=($!)
for _ in $(seq 100); do grep -q '^listening' "$work/raw-backend.out" 2>/dev/null && break; sleep 0.05; done
raw_port=$(awk '/^listening/ {print $2}' "$work/raw-backend.out")

m="$work/manifests"
mkdir -p "$m"
cat > "$m/ingress.yaml" <<EOF
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: strict, namespace: t}
spec:
  rules:
  - host: plain.test
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}
      - {path: /resp, pathType: Prefix, backend: {service: {name: raw, port: {number: 80}}}}
EOF
{
  service_yaml t web "$web_port"
  service_yaml t raw "$raw_port"
} > "$m/services.yaml"
start_portico "$m" --workers 1 --access-log off || finish

requests() { curl -s "http://127.0.0.1:$web_port/__requests"; }
curl -s -X DELETE "http://127.0.0.1:$web_port/__requests" > /dev/null

# --- requests: NAME STATUS BYTES (Python escapes), each followed by the smuggled request
S='GET /smuggled HTTP/1.1\r\nHost: plain.test\r\n\r\n'
H='Host: plain.test\r\n'
table="$work/requests.tsv"
vec() { printf '%s\t%s\t%s\n' "$1" "$2" "$3$S" >> "$table"; }
vec cl-then-te 400 "POST / HTTP/1.1\r\n${H}Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
vec te-then-cl 400 "POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n"
vec two-lengths 400 "POST / HTTP/1.1\r\n${H}Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!"
vec length-list 400 "POST / HTTP/1.1\r\n${H}Content-Length: 5, 6\r\n\r\nhello!"
vec length-plus 400 "POST / HTTP/1.1\r\n${H}Content-Length: +5\r\n\r\nhello"
vec length-hex 400 "POST / HTTP/1.1\r\n${H}Content-Length: 0x5\r\n\r\nhello"
vec length-spaces 400 "POST / HTTP/1.1\r\n${H}Content-Length: 5 5\r\n\r\nhello"
vec te-gzip 400 "POST / HTTP/1.1\r\n${H}Transfer-Encoding: gzip\r\n\r\n"
vec te-chunked-gzip 400 "POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n"
vec te-gzip-chunked 400 "POST / HTTP/1.1\r\n${H}Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n"
vec te-chunked-chunked 400 "POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n"
vec te-twice 400 "POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
vec te-param 400 "POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked;q=1\r\n\r\n0\r\n\r\n"
vec te-xchunked 400 "POST / HTTP/1.1\r\n${H}Transfer-Encoding: xchunked\r\n\r\n0\r\n\r\n"
vec te-vtab 400 "POST / HTTP/1.1\r\n${H}Transfer-Encoding:\x0bchunked\r\n\r\n0\r\n\r\n"
vec te-empty 400 "POST / HTTP/1.1\r\n${H}Transfer-Encoding:\r\n\r\n"
vec te-http10 400 "POST / HTTP/1.0\r\n${H}Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
vec obs-fold-te 400 "POST / HTTP/1.1\r\n${H}Transfer-Encoding:\r\n chunked\r\n\r\n0\r\n\r\n"
vec obs-fold 400 "GET / HTTP/1.1\r\n${H}X-A: a\r\n\tb\r\n\r\n"
vec space-before-colon 400 "POST / HTTP/1.1\r\n${H}Transfer-Encoding : chunked\r\n\r\n0\r\n\r\n"
vec tab-before-colon 400 "POST / HTTP/1.1\r\n${H}Content-Length\t: 5\r\n\r\nhello"
vec space-before-field 400 "GET / HTTP/1.1\r\n Host: plain.test\r\n\r\n"
vec nul-in-value 400 "GET / HTTP/1.1\r\n${H}X-A: a\x00b\r\n\r\n"
vec bare-cr-in-value 400 "GET / HTTP/1.1\r\n${H}X-A: a\rTransfer-Encoding: chunked\r\n\r\n"
vec bare-lf-line 400 "GET / HTTP/1.1\r\n${H}X-A: a\nTransfer-Encoding: chunked\r\n\r\n"
vec bare-lf-request-line 400 "GET / HTTP/1.1\n${H}\r\n"
vec del-in-value 400 "GET / HTTP/1.1\r\n${H}X-A: a\x7f\r\n\r\n"
vec bad-name 400 "GET / HTTP/1.1\r\n${H}X(A): 1\r\n\r\n"
vec nul-in-name 400 "GET / HTTP/1.1\r\n${H}X\x00A: 1\r\n\r\n"
vec bad-chunk-size 400 "POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n"
vec chunk-size-overflow 400 "POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n10000000000000000\r\nx\r\n0\r\n\r\n"
vec chunk-size-space 400 "POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n 5\r\nhello\r\n0\r\n\r\n"
vec chunk-size-lf 400 "POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n5\nhello\r\n0\r\n\r\n"
vec chunk-data-too-long 400 "POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n3\r\nhello\r\n0\r\n\r\n"
vec bad-chunk-ext 400 "POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n5;\x01\r\nhello\r\n0\r\n\r\n"
vec bad-chunk-ext-name 400 "POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n5;a b\r\nhello\r\n0\r\n\r\n"
vec expect-unknown 417 "POST / HTTP/1.1\r\n${H}Expect: 100-continuex\r\nContent-Length: 5\r\n\r\nhello"
vec expect-list 417 "POST / HTTP/1.1\r\n${H}Expect: 100-continue, x\r\nContent-Length: 5\r\n\r\nhello"
vec absolute-form-other-host 400 "GET http://other.test/ HTTP/1.1\r\n${H}\r\n"
vec missing-host 400 "GET / HTTP/1.1\r\nX-A: 1\r\n\r\n"
vec two-hosts 400 "GET / HTTP/1.1\r\n${H}Host: other.test\r\n\r\n"
vec same-host-twice 400 "GET / HTTP/1.1\r\n${H}${H}\r\n"
vec host-list 400 "GET / HTTP/1.1\r\nHost: plain.test, other.test\r\n\r\n"
vec host-with-userinfo 400 "GET / HTTP/1.1\r\nHost: u@plain.test\r\n\r\n"
vec host-with-path 400 "GET / HTTP/1.1\r\nHost: plain.test/x\r\n\r\n"
vec bad-target-form 400 "GET plain.test/ HTTP/1.1\r\n${H}\r\n"
vec nul-in-target 400 "GET /\x00 HTTP/1.1\r\n${H}\r\n"
vec two-spaces 400 "GET  / HTTP/1.1\r\n${H}\r\n"
vec bad-version 400 "GET / HTTP/1.2x\r\n${H}\r\n"

while IFS=$'\t' read -r name expected got; do
  check "request $name: status $expected, connection closed" "$expected closed" "${got% *}"
done < <(python3 "$raw" table "$HTTP_PORT" "$table")
seen=$(requests)
check "the backend saw none of these requests, and no smuggled one" 0 "$(jq length <<<"$seen")"
check_lacks "no smuggled request reached the backend" /smuggled "$seen"

# Controls: the same connection and forms, well-formed, are served.
check "well-formed chunked request with the same framing served" "200 open" \
  "$(python3 "$raw" send "$HTTP_PORT" "POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n5;a=b\r\nhello\r\n0\r\n\r\n" 0.5 | cut -d' ' -f1,2)"
check "absolute form whose authority is Host served" 200 \
  "$(python3 "$raw" send "$HTTP_PORT" "GET http://plain.test/ HTTP/1.1\r\n${H}\r\n" 0.5 | cut -d' ' -f1)"
check "Expect: 100-continue still works" 200 \
  "$(curl -s -o /dev/null -w '%{http_code}' -H 'Host: plain.test' -H 'Expect: 100-continue' --data-binary hello "http://127.0.0.1:$HTTP_PORT/")"

# --- upstream responses: each malformed one is a 502
for name in cl-te te-cl cl-cl te-gzip te-gzip-chunked te-chunked-twice te-http10 obs-fold \
  space-before-colon nul-in-value bare-cr bare-lf bad-name bad-chunk-size chunk-size-overflow \
  bad-chunk-ext bad-status bad-version bad-length; do
  check "upstream response $name: 502" 502 \
    "$(curl -s -o /dev/null -w '%{http_code}' -H 'Host: plain.test' "http://127.0.0.1:$HTTP_PORT/resp/$name")"
done
check "a well-formed response from the same backend passes" "200 ok" \
  "$(curl -s -w '%{http_code} ' -o "$work/ok.body" -H 'Host: plain.test' "http://127.0.0.1:$HTTP_PORT/resp/ok")$(cat "$work/ok.body")"
finish
