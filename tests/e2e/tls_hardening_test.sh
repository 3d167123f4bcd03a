#!/usr/bin/env bash
# TLS hardening (issue 5 item 4) with openssl s_client / s_time and python's ssl: protocol
# versions and cipher suites, no renegotiation, session tickets with key rotation (resumed with
# the current and the previous key, refused once the key is rotated out), RSA and ECDSA
# certificates side by side for one host, and a handshake flood that does not starve an
# established connection.
# Usage: tls_hardening_test.sh PATH_TO_PORTICO
source "$(dirname "$0")/lib.sh"

start_backend app
mkdir -p "$work/manifests"
ecdsa_secret_yaml() {  # ecdsa_secret_yaml NAMESPACE NAME HOST
  local dir="$work/pki-$2"
  mkdir -p "$dir"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj "/CN=$3" \
    -addext "subjectAltName=DNS:$3" -keyout "$dir/tls.key" -out "$dir/tls.crt" 2>/dev/null
  printf -- '---\napiVersion: v1\nkind: Secret\nmetadata: {name: %s, namespace: %s}\ntype: kubernetes.io/tls\ndata:\n  tls.crt: %s\n  tls.key: %s\n' \
    "$2" "$1" "$(base64 -w0 "$dir/tls.crt")" "$(base64 -w0 "$dir/tls.key")"
}
ingress_yaml() {  # ingress_yaml NAME HOST SECRET
  printf -- '---\napiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {name: %s}\nspec:\n  tls: [{hosts: [%s], secretName: %s}]\n  rules:\n  - host: %s\n    http:\n      paths:\n      - {path: /, pathType: Prefix, backend: {service: {name: app, port: {number: 80}}}}\n' \
    "$1" "$2" "$3" "$2"
}
{
  service_yaml default app "$BACKEND_PORT"
  tls_secret_yaml default app-tls app.test
  ingress_yaml app app.test app-tls
  # dual.test: one Ingress names an RSA Secret, another an ECDSA one.
  tls_secret_yaml default dual-rsa dual.test
  ecdsa_secret_yaml default dual-ecdsa dual.test
  ingress_yaml dual-rsa dual.test dual-rsa
  ingress_yaml dual-ecdsa dual.test dual-ecdsa
  # same.test: two RSA Secrets: the second is ignored, with a warning.
  tls_secret_yaml default same-1 same.test
  tls_secret_yaml default same-2 same.test
  ingress_yaml same-1 same.test same-1
  ingress_yaml same-2 same.test same-2
} > "$work/manifests/all.yaml"
start_portico "$work/manifests" --access-log off --tls-ticket-key-rotation 3s \
  --tls-handshake-timeout 2s || exit 1

client() {  # client HOST [s_client options...]: the handshake's summary lines
  local host=$1
  shift
  sleep 0.3 | openssl s_client -connect "127.0.0.1:$HTTPS_PORT" -servername "$host" "$@" 2>&1
}

# ---- versions, ciphers, renegotiation
check_contains "TLS 1.3 accepted" "New, TLSv1.3" "$(client app.test -tls1_3)"
check_contains "TLS 1.2 accepted" "New, TLSv1.2" "$(client app.test -tls1_2)"
check_contains "TLS 1.1 refused" "alert protocol version" "$(client app.test -tls1_1 -cipher 'DEFAULT@SECLEVEL=0')"
check_contains "TLS 1.0 refused" "alert protocol version" "$(client app.test -tls1 -cipher 'DEFAULT@SECLEVEL=0')"
for suite in AES128-GCM-SHA256 AES128-SHA ECDHE-RSA-AES128-SHA256 DHE-RSA-AES128-GCM-SHA256; do
  check_contains "TLS 1.2 $suite (no ECDHE or no AEAD) refused" "alert handshake failure" \
    "$(client app.test -tls1_2 -cipher "$suite")"
done
check_contains "TLS 1.2 ECDHE-RSA-CHACHA20-POLY1305 accepted" "Cipher is ECDHE-RSA-CHACHA20-POLY1305" \
  "$(client app.test -tls1_2 -cipher ECDHE-RSA-CHACHA20-POLY1305)"
reneg=$( (echo R; sleep 1) | openssl s_client -connect "127.0.0.1:$HTTPS_PORT" -servername app.test -tls1_2 2>&1)
check_contains "client renegotiation refused" "no renegotiation" "$reneg"

# ---- session tickets and their key rotation (every 3 s here)
ticket_name() { openssl sess_id -in "$1" -text -noout 2>/dev/null | awk '/TLS session ticket:/ {getline; print $3 $4 $5; exit}'; }
# Wait for a rotation (each handshake rotates when the key is due), so that the key of the
# tickets below is fresh: it is the current key for 3 s, the previous one for 3 s more.
client app.test -tls1_3 -sess_out "$work/r0" > /dev/null
rotated=no
for _ in $(seq 16); do
  sleep 0.5
  client app.test -tls1_3 -sess_out "$work/r1" > /dev/null
  if [ "$(ticket_name "$work/r1")" != "$(ticket_name "$work/r0")" ]; then rotated=yes; break; fi
done
check "the ticket key rotates" yes "$rotated"
for v in -tls1_2 -tls1_3; do
  client app.test $v -sess_out "$work/t0$v" > /dev/null
  check_contains "$v: resumed with the ticket of the current key" "Reused" \
    "$(client app.test $v -sess_in "$work/t0$v" | grep -E '^(New|Reused)')"
done
sleep 3.5  # the key rotates on the next handshake: the tickets' key becomes the previous one
for v in -tls1_2 -tls1_3; do
  check_contains "$v: resumed with the previous key's ticket" "Reused" \
    "$(client app.test $v -sess_in "$work/t0$v" | grep -E '^(New|Reused)')"
done
sleep 3.5  # rotated again: the tickets' key is forgotten (the sessions' lifetime is 5 minutes)
client app.test -tls1_3 > /dev/null
for v in -tls1_2 -tls1_3; do
  check_contains "$v: a ticket of a rotated-out key is a full handshake" "New" \
    "$(client app.test $v -sess_in "$work/t0$v" | grep -E '^(New|Reused)')"
done
"$portico" serve --manifests "$work/manifests" --tls-ticket-key-rotation 0 > /dev/null 2> "$work/flag.err"
check "--tls-ticket-key-rotation 0: usage error" 2 "$?"
check_contains "--tls-ticket-key-rotation 0: what is accepted" "accepted: 1s or more" "$(cat "$work/flag.err")"

# ---- RSA and ECDSA side by side
key_of() { client dual.test "$@" | grep -E "^Server public key is"; }
check "ECDSA-only client (TLS 1.3 sigalgs) gets the ECDSA certificate" \
  "Server public key is 256 bit" "$(key_of -tls1_3 -sigalgs ECDSA+SHA256)"
check "RSA-only client (TLS 1.3 sigalgs) gets the RSA certificate" \
  "Server public key is 2048 bit" "$(key_of -tls1_3 -sigalgs rsa_pss_rsae_sha256:rsa_pkcs1_sha256)"
check "ECDSA-only client (TLS 1.2 cipher) gets the ECDSA certificate" \
  "Server public key is 256 bit" "$(key_of -tls1_2 -cipher ECDHE-ECDSA-AES128-GCM-SHA256)"
check "RSA-only client (TLS 1.2 cipher) gets the RSA certificate" \
  "Server public key is 2048 bit" "$(key_of -tls1_2 -cipher ECDHE-RSA-AES128-GCM-SHA256)"
check "a client taking either gets ECDSA" "Server public key is 256 bit" "$(key_of)"
check "app.test keeps its RSA certificate" "Server public key is 2048 bit" \
  "$(client app.test | grep -E '^Server public key is')"
check_contains "two RSA Secrets for one host: a warning" \
  'host "same.test" already has a certificate with an RSA key' "$(cat "$work/portico.err")"
subject() { client same.test | openssl x509 -noout -fingerprint -sha256 2>/dev/null; }
first=$(openssl x509 -in "$work/pki-same-1/tls.crt" -noout -fingerprint -sha256)
check "two RSA Secrets for one host: the first is served" "$first" "$(subject)"
routes=$("$portico" routes -f "$work/manifests" -o json)
check_contains "routes -o json marks the alternate binding" '"secret":"default/dual-rsa","ingress":"default/dual-rsa","secretFound":true,"alternate":true' "$routes"

# ---- handshake flood: 300 connections stuck mid-ClientHello and two loops of full handshakes
# (openssl s_time) do not starve an established connection; the stuck ones are closed after the
# handshake timeout (2 s).
for _ in 1 2; do
  openssl s_time -connect "127.0.0.1:$HTTPS_PORT" -new -time 6 > /dev/null 2>&1 &
  pids+=($!)
done
flood=$(python3 "$src/tests/e2e/tls_flood.py" "$HTTPS_PORT" app.test 300 5)
echo "$flood" | sed 's/^/  flood: /'
check "flood: every request on the established connection answered" 0 \
  "$(awk '/^failures/ {print $2}' <<< "$flood")"
requests=$(awk '/^requests/ {print $2}' <<< "$flood")
max_ms=$(awk '/^max_latency_ms/ {print $2}' <<< "$flood")
if [ "$requests" -ge 20 ] && [ "$max_ms" -lt 1000 ]; then passed=$((passed + 1)); else
  failures=$((failures + 1)); echo "FAIL: flood: $requests requests, slowest $max_ms ms"; fi
check "flood: every stalled handshake closed" 300 "$(awk '/^stalled_closed / {print $2}' <<< "$flood")"
check "flood: closed at the handshake timeout" 2 "$(awk '/^stalled_closed_after/ {print $2}' <<< "$flood")"

finish
