#!/usr/bin/env bash
# HTTP/2 attacks (issue 5 item 3): each one performed with a real client (python3-h2's frame and
# HPACK layers, tests/e2e/h2_attack.py) against portico serve; each asserts the GOAWAY the
# attacking connection gets and that it is closed, while a normal client (curl, h2c with prior
# knowledge) on another connection keeps being served.
# Usage: http2_attacks_test.sh PATH_TO_PORTICO
source "$(dirname "$0")/lib.sh"
py=/usr/bin/python3  # Debian's python3-h2 lives here, not in a pyenv python3 on PATH
attack_py="$src/tests/e2e/h2_attack.py"
if ! "$py" -c 'import h2, hyperframe, hpack' 2>/dev/null; then
  echo "FAIL: python3-h2 and python3-hyperframe are required (scripts/deps.sh)"
  exit 1
fi

start_backend app
app_port=$BACKEND_PORT
start_backend stall  # only the slow reader's route: its connections are the slow reader's
stall_port=$BACKEND_PORT
mkdir -p "$work/manifests"
{
  service_yaml default app "$app_port"
  service_yaml default stall "$stall_port"
  for pair in app.test:app stall.test:stall; do
    printf -- '---\napiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {name: %s}\nspec:\n  rules:\n  - host: %s\n    http:\n      paths:\n      - {path: /, pathType: Prefix, backend: {service: {name: %s, port: {number: 80}}}}\n' \
      "${pair#*:}" "${pair%:*}" "${pair#*:}"
  done
} > "$work/manifests/all.yaml"
# A small concurrency limit to prove the flag; short timeouts for the slow reader.
start_portico "$work/manifests" --access-log off --http2-max-concurrent-streams 8 \
  --upstream-timeout 2s --idle-timeout 3s || exit 1

# attack NAME [HOST PATH]: runs the attack while curl keeps asking for / on its own connections
# (at least three requests, one after the other). Sets OUT to what the attack printed and
# NORMAL to the normal client's status codes.
attack() {
  local name=$1 host=${2:-app.test} path=${3:-/}
  "$py" "$attack_py" "$name" "$HTTP_PORT" "$host" "$path" > "$work/$name.out" 2>&1 &
  local attacker=$! n=0
  NORMAL=""
  while kill -0 "$attacker" 2>/dev/null || [ $n -lt 3 ]; do
    NORMAL+="$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 --http2-prior-knowledge \
      -H 'host: app.test' "http://127.0.0.1:$HTTP_PORT/")"
    n=$((n + 1))
    sleep 0.05
  done
  wait "$attacker"
  OUT=$(cat "$work/$name.out")
}

# ---- floods: GOAWAY(ENHANCE_YOUR_CALM) and close, others unaffected
for name in rapid-reset continuation-flood hpack-bomb settings-flood ping-flood priority-flood \
  window-update-flood empty-data-flood; do
  attack "$name"
  check_contains "$name: GOAWAY(ENHANCE_YOUR_CALM)" "goaway ENHANCE_YOUR_CALM" "$OUT"
  check_contains "$name: connection closed" "closed yes" "$OUT"
  check "$name: normal client served throughout" "" "$(tr -d '\n' <<< "${NORMAL//200/}")"
done
floods=$(curl -s "http://127.0.0.1:$ADMIN_PORT/metrics" | awk '/^portico_http2_floods_total/ {print $2}')
check "every flood counted in /metrics" 8 "$floods"

# Rapid Reset: the 2000 cancelled requests did not all become upstream requests.
seen=$(curl -s "http://127.0.0.1:$app_port/__requests" | "$py" -c 'import json,sys; print(len(json.load(sys.stdin)))')
if [ "$seen" -lt 1000 ]; then passed=$((passed + 1)); else
  failures=$((failures + 1)); echo "FAIL: rapid reset reached the backend $seen times"; fi

# ---- a header list over the limit that is no bomb: 431, the connection stays
attack big-headers
check_contains "header list over 64 KiB: 431" "status 1 431" "$OUT"
check_contains "header list over 64 KiB: no GOAWAY" "goaway None" "$OUT"
check_contains "header list over 64 KiB: connection open" "closed no" "$OUT"

# ---- concurrency: the flag's value is announced, one stream more is a connection error
attack too-many-streams
check_contains "MAX_CONCURRENT_STREAMS from the flag" "settings MAX_CONCURRENT_STREAMS=8" "$OUT"
check_contains "stream 9 of 8: GOAWAY(PROTOCOL_ERROR)" "goaway PROTOCOL_ERROR" "$OUT"
check_contains "stream 9 of 8: connection closed" "closed yes" "$OUT"
check "too many streams: normal client served" "" "$(tr -d '\n' <<< "${NORMAL//200/}")"

# ---- malformed requests: nghttp2 resets the stream (PROTOCOL_ERROR); the connection serves on
attack bad-headers
for case in connection-header transfer-encoding upgrade te-gzip no-path no-method duplicate-path \
  unknown-pseudo pseudo-after-regular uppercase-name nul-in-value space-in-path; do
  check_contains "$case: RST_STREAM(PROTOCOL_ERROR)" "$case rst PROTOCOL_ERROR" "$OUT"
done
check_contains ":authority and Host disagree: 400" "host-disagrees status 400" "$OUT"
check_contains ":authority and Host agree (case, default port): 200" "host-agrees status 200" "$OUT"
check_contains "a good request after them on the same connection: 200" "good status 200" "$OUT"
check_lacks "malformed requests: no GOAWAY" "goaway" "$OUT"

# ---- zero-window slow reader: the stalled stream is reset after the upstream timeout (2 s) and
# its upstream connection closed; the connection, idle then, gets GOAWAY after 3 s more.
established() { ss -Htn state established "( dport = :$stall_port )" | wc -l; }
"$py" "$attack_py" slow-reader "$HTTP_PORT" stall.test /bytes/8000000 > "$work/slow.out" 2>&1 &
slow=$!
sleep 1
check "slow reader: holds an upstream connection while stalled" 1 "$(established)"
NORMAL=$(curl -s -o /dev/null -w '%{http_code}' --http2-prior-knowledge -H 'host: app.test' \
  "http://127.0.0.1:$HTTP_PORT/")
check "slow reader: normal client served meanwhile" 200 "$NORMAL"
wait "$slow"
OUT=$(cat "$work/slow.out")
check_contains "slow reader: stream reset with CANCEL" "rst 1 CANCEL" "$OUT"
check "slow reader: upstream connection released" 0 "$(established)"
check_contains "slow reader: then GOAWAY" "goaway NO_ERROR" "$OUT"
check_contains "slow reader: connection closed" "closed yes" "$OUT"
reset_after=$(awk '/^reset_after/ {print int($2)}' <<< "$OUT")
check "slow reader: reset after the upstream timeout" 2 "$reset_after"

# ---- the limit's flag rejects nonsense
"$portico" serve --manifests "$work/manifests" --http2-max-concurrent-streams 0 > /dev/null 2> "$work/flag.err"
check "--http2-max-concurrent-streams 0: usage error" 2 "$?"
check_contains "--http2-max-concurrent-streams 0: says what is accepted" "accepted: 1 to 10000" "$(cat "$work/flag.err")"

finish
