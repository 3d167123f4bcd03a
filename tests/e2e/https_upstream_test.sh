#!/usr/bin/env bash
# backend-protocol HTTPS: HTTP/1.1 over TLS to a real nginx (Debian's) from both front ends
# (HTTP/1.1 and HTTP/2), with keep-alive connections pooled, bodies both ways, SNI for an
# ExternalName Service only, no certificate verification (ingress-nginx's default), and a plain
# HTTP route to the same nginx beside it.
source "$(dirname "$0")/lib.sh"

for tool in nginx curl openssl sha256sum; do
  command -v "$tool" >/dev/null || { echo "FAIL: $tool is required"; exit 1; }
done

# ---- nginx: one TLS port, one cleartext port; what it saw goes to its access log
tls_port=$(free_port)
plain_port=$(free_port)
n="$work/nginx"
mkdir -p "$n/logs" "$n/www"
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj "/CN=upstream.internal" \
  -addext "subjectAltName=DNS:upstream.internal" -keyout "$n/tls.key" -out "$n/tls.crt" 2>/dev/null
echo "hello over tls" > "$n/www/index.html"
head -c $((20 * 1024 * 1024)) /dev/urandom > "$n/www/big.bin"
head -c $((5 * 1024 * 1024)) /dev/urandom > "$work/upload.bin"
cat > "$n/nginx.conf" <<EOF
user $(id -un) $(id -gn);
worker_processes 1;
pid $n/nginx.pid;
error_log $n/logs/error.log;
events { worker_connections 256; }
http {
  log_format seen '\$request_method \$uri \$status \$request_length \$connection \$ssl_protocol '
                  '[\$ssl_server_name] [\$ssl_alpn_protocol]';
  access_log $n/logs/access.log seen;
  keepalive_requests 1000;
  client_max_body_size 100m;
  root $n/www;
  server {
    listen 127.0.0.1:$tls_port ssl;
    ssl_certificate $n/tls.crt;
    ssl_certificate_key $n/tls.key;
    ssl_protocols TLSv1.2 TLSv1.3;
    location /put/ { dav_methods PUT; create_full_put_path on; }
    location = /whoami { return 200 "tls \$ssl_protocol\n"; }
  }
  server {
    listen 127.0.0.1:$plain_port;
    location = /whoami { return 200 "plain\n"; }
  }
}
EOF
nginx -c "$n/nginx.conf" -p "$n" -g 'daemon off;' 2>"$work/nginx.err" &
pids+=($!)
for _ in $(seq 100); do
  curl -sk "https://127.0.0.1:$tls_port/whoami" >/dev/null 2>&1 && break
  sleep 0.05
done

m="$work/manifests"
mkdir -p "$m"
cat > "$m/ingress.yaml" <<EOF
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: secure
  namespace: web
  annotations: {nginx.ingress.kubernetes.io/backend-protocol: HTTPS}
spec:
  rules:
  - host: secure.test
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: tls, port: {number: 80}}}}
  - host: named.test
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: byname, port: {number: $tls_port}}}}
  - host: wrong.test
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: plain, port: {number: 80}}}}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: clear, namespace: web}
spec:
  rules:
  - host: clear.test
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: plain, port: {number: 80}}}}
---
apiVersion: v1
kind: Service
metadata: {name: byname, namespace: web}
spec: {type: ExternalName, externalName: localhost}
EOF
{
  service_yaml web tls "$tls_port"
  service_yaml web plain "$plain_port"
} > "$m/services.yaml"

# Uploads above the default 1 MiB body limit.
start_portico "$m" --workers 1 --max-body-size 0 || finish
base="http://127.0.0.1:$HTTP_PORT"
log="$n/logs/access.log"

# ---- HTTP/1.1 front end
check "HTTP/1.1 client: HTTPS upstream answers over TLS" "tls TLSv1.3" \
  "$(curl -s -H 'Host: secure.test' "$base/whoami")"
check "plain route to the same nginx stays cleartext" plain \
  "$(curl -s -H 'Host: clear.test' "$base/whoami")"
line=$(grep ' /whoami ' "$log" | head -1)
check_contains "nginx saw TLS with ALPN http/1.1 and no SNI for an endpoint address" \
  "TLSv1.3 [-] [http/1.1]" "$line"
before=$(grep -c ' /whoami ' "$log")
curl -s -H 'Host: named.test' "$base/whoami" >/dev/null
# nginx writes its log line after the response has gone: wait for it.
for _ in $(seq 50); do [ "$(grep -c ' /whoami ' "$log")" -gt "$before" ] && break; sleep 0.1; done
check_contains "ExternalName target: SNI is its DNS name" "[localhost] [http/1.1]" \
  "$(grep ' /whoami ' "$log" | tail -1)"
sum=$(curl -s -H 'Host: secure.test' "$base/big.bin" | sha256sum | cut -d' ' -f1)
check "20 MiB download through TLS intact" "$(sha256sum < "$n/www/big.bin" | cut -d' ' -f1)" "$sum"
check "5 MiB upload through TLS: 201" 201 \
  "$(curl -s -o /dev/null -w '%{http_code}' -H 'Host: secure.test' -T "$work/upload.bin" "$base/put/h1.bin")"
check "nginx stored the upload intact" "$(sha256sum < "$work/upload.bin" | cut -d' ' -f1)" \
  "$(sha256sum < "$n/www/put/h1.bin" | cut -d' ' -f1)"

# Keep-alive: sequential requests reuse one pooled TLS connection.
cp "$log" "$log.before"
for i in 1 2 3 4 5; do curl -s -o /dev/null -H 'Host: secure.test' "$base/whoami"; done
conns=$(diff "$log.before" "$log" | awk '/^> / && / \/whoami / {print $6}' | sort -u | wc -l)
check "5 requests, one pooled TLS connection" 1 "$conns"
check "HTTPS route to a cleartext port: 502" 502 \
  "$(curl -s -o /dev/null -w '%{http_code}' -H 'Host: wrong.test' "$base/whoami")"

# ---- HTTP/2 front end (h2c with prior knowledge)
check "HTTP/2 client: HTTPS upstream" "tls TLSv1.3" \
  "$(curl -s --http2-prior-knowledge -H 'Host: secure.test' "$base/whoami")"
sum=$(curl -s --http2-prior-knowledge -H 'Host: secure.test' "$base/big.bin" | sha256sum | cut -d' ' -f1)
check "HTTP/2 client: 20 MiB download through TLS intact" \
  "$(sha256sum < "$n/www/big.bin" | cut -d' ' -f1)" "$sum"
check "HTTP/2 client: 5 MiB upload through TLS: 201" 201 \
  "$(curl -s -o /dev/null -w '%{http_code}' --http2-prior-knowledge -H 'Host: secure.test' \
    -T "$work/upload.bin" "$base/put/h2.bin")"
check "nginx stored the HTTP/2 client's upload intact" \
  "$(sha256sum < "$work/upload.bin" | cut -d' ' -f1)" "$(sha256sum < "$n/www/put/h2.bin" | cut -d' ' -f1)"

kill -0 "$PORTICO_PID" 2>/dev/null
check "portico still running" 0 $?
finish
