#!/usr/bin/env bash
# portico serve when backends and clients fail (issue 5, item 7), over HTTP/1.1, with one worker
# so that round-robin order is known:
#   a backend process killed mid-response (SIGKILL)  -> the client sees a truncated body at once,
#                                                       the next request goes to the other endpoint;
#                                                       over h2c the stream is reset
#   a backend resetting the connection                -> 502, the next request is served
#   a backend that does not answer / does not accept  -> 504 (response and connect timeouts)
#   an endpoint removed while requests are in flight  -> they finish; new ones avoid it
#   every endpoint gone                               -> 503
#   an ExternalName whose DNS lookup fails            -> 502 (see below)
#   an upstream sending garbage                       -> 502
#   a client gone mid-upload or mid-download          -> the upstream connection is closed (ss)
# API server streams dropped and stalled (cluster mode) are tested in
# tests/kube/serve_kube_test.sh ("Stream dropped", "Stream stalled").
#
# DNS failure is a 502, like a refused connect: the Service exists and has an endpoint (the
# name), so this is not "no endpoints" (503); the gateway could not reach its upstream. The
# lookup runs in a mount namespace whose resolv.conf names 127.0.0.1 (where nothing listens), so
# no query leaves the machine; without unshare(1) permission that check is skipped.
source "$(dirname "$0")/lib.sh"

start_backend a
a_port=$BACKEND_PORT
start_backend b
b_port=$BACKEND_PORT
start_backend u  # only the client-disconnect cases use it: its connections are theirs
u_port=$BACKEND_PORT

# A backend that answers any request with a header promising 1,000,000 bytes, sends 1,000 and
# waits (to be killed); and a listener that never accepts, with a full accept queue, so that
# connects to it time out.
cat > "$work/partial.py" <<'PY'
import socket, sys, threading, time
srv = socket.socket(); srv.bind(("127.0.0.1", 0)); srv.listen(16)
open(sys.argv[1], "w").write(str(srv.getsockname()[1]))
def serve(c):
    data = b""
    while b"\r\n\r\n" not in data:
        more = c.recv(4096)
        if not more: return
        data += more
    c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\n" + b"x" * 1000)
    open(sys.argv[2], "a").write("sent\n")
    time.sleep(60)
while True:
    c, _ = srv.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
PY
cat > "$work/blackhole.py" <<'PY'
import socket, sys, time
srv = socket.socket(); srv.bind(("127.0.0.1", 0)); srv.listen(0)
port = srv.getsockname()[1]
held = []
for _ in range(3):  # backlog 0 queues one; the SYNs after it are dropped
    c = socket.socket(); c.setblocking(False); c.connect_ex(("127.0.0.1", port)); held.append(c)
time.sleep(0.2)
open(sys.argv[1], "w").write(str(port))
time.sleep(120)
PY
wait_file() { for _ in $(seq 100); do [ -s "$1" ] && return 0; sleep 0.05; done; return 1; }
python3 "$work/partial.py" "$work/partial.port" "$work/partial.sent" &
partial_pid=$!
pids+=($partial_pid)
python3 "$work/partial.py" "$work/partial2.port" "$work/partial2.sent" &
partial2_pid=$!
pids+=($partial2_pid)
python3 "$work/blackhole.py" "$work/blackhole.port" &
pids+=($!)
wait_file "$work/partial.port" && wait_file "$work/partial2.port" && wait_file "$work/blackhole.port"
partial_port=$(cat "$work/partial.port")
partial2_port=$(cat "$work/partial2.port")
blackhole_port=$(cat "$work/blackhole.port")

m="$work/manifests"
mkdir -p "$m"
rule() { printf '  - host: %s\n    http:\n      paths:\n      - {path: /, pathType: Prefix, backend: {service: {name: %s, port: {number: 80}}}}\n' "$1" "$2"; }
write_manifests() {  # write_manifests TWO_PORTS...: the endpoints of Service "two"
  {
    printf 'apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {name: faults, namespace: f}\nspec:\n  rules:\n'
    rule two.test two
    rule kill.test kill
    rule kill2.test kill2
    rule reset.test reset
    rule hole.test hole
    rule up.test up
    rule dns.test dns
    service_yaml f two "$@"
    service_yaml f kill "$partial_port" "$b_port"
    service_yaml f kill2 "$partial2_port"
    service_yaml f reset "$a_port" "$b_port"
    service_yaml f hole "$blackhole_port"
    service_yaml f up "$u_port"
    printf -- '---\napiVersion: v1\nkind: Service\nmetadata: {name: dns, namespace: f}\nspec: {type: ExternalName, externalName: nowhere.portico.test, ports: [{name: http, port: 80}]}\n'
  } > "$m/faults.yaml.tmp"
  mv "$m/faults.yaml.tmp" "$m/faults.yaml"
}
write_manifests "$a_port" "$b_port"

# Name lookups in a mount namespace of their own, resolv.conf pointing at 127.0.0.1.
printf 'nameserver 127.0.0.1\noptions timeout:1 attempts:1\n' > "$work/resolv.conf"
real_portico=$portico
dns_isolated=false
if unshare -m true 2>/dev/null; then
  dns_isolated=true
  cat > "$work/portico-ns" <<SH
#!/usr/bin/env bash
exec unshare -m bash -c 'mount --bind "\$0" /etc/resolv.conf && exec "\$@"' "$work/resolv.conf" "$real_portico" "\$@"
SH
  chmod +x "$work/portico-ns"
  portico=$work/portico-ns
fi
# --max-body-size 0: the mid-upload client declares 100 MB (beyond the default 1 MiB: a 413 at once)
start_portico "$m" --workers 1 --upstream-timeout 1s --connect-timeout 1s --access-log off \
  --max-body-size 0 || finish
base="http://127.0.0.1:$HTTP_PORT"
get() {  # get HOST PATH -> "STATUS BACKEND"
  curl -s -o /dev/null -D "$work/h" -w '%{http_code}' --max-time 10 -H "Host: $1" "$base$2"
  printf ' %s' "$(awk -F': ' 'tolower($1) == "x-backend" {gsub("\r", "", $2); print $2}' "$work/h")"
}
established() {  # established PORT: connections from portico to that backend port
  ss -Htn state established "( dport = :$1 )" | wc -l
}
wait_established() {  # wait_established PORT COUNT [TRIES]
  local n
  for _ in $(seq "${3:-100}"); do
    n=$(established "$1")
    [ "$n" = "$2" ] && break
    sleep 0.05
  done
  echo "$n"
}

# --- backend killed mid-response
# Round-robin alternates between the partial backend and b: retry until a request reached it.
for _ in 1 2 3; do
  start=$(date +%s%N)
  curl -s -o "$work/kill.body" -w '%{http_code}' --max-time 20 -H 'Host: kill.test' "$base/big" \
    > "$work/kill.code" 2>/dev/null &
  killed_curl=$!
  for _ in $(seq 40); do
    [ -s "$work/partial.sent" ] && break
    kill -0 "$killed_curl" 2>/dev/null || break
    sleep 0.05
  done
  [ -s "$work/partial.sent" ] && break
  wait "$killed_curl"
done
kill -KILL "$partial_pid"
wait "$partial_pid" 2>/dev/null
wait "$killed_curl"
curl_status=$?
elapsed_ms=$((($(date +%s%N) - start) / 1000000))
check "killed backend: the client had the status line" 200 "$(cat "$work/kill.code")"
check "killed backend: the client sees a truncated body (curl exit 18)" 18 "$curl_status"
check "killed backend: the body stops where the backend died" 1000 "$(stat -c %s "$work/kill.body")"
check "killed backend: no hang (under 5 s)" true "$([ "$elapsed_ms" -lt 5000 ] && echo true || echo "$elapsed_ms ms")"
# The dead endpoint refuses the next connect: that one is retried on b; every request is served.
kill_ok=0
for i in 1 2 3 4; do [ "$(get kill.test /after)" = "200 b" ] && kill_ok=$((kill_ok + 1)); done
check "killed backend: the next requests go to the other endpoint" 4 "$kill_ok"

# Over h2c: the stream is reset (curl: HTTP/2 stream error, 92), not left open.
start=$(date +%s%N)
curl -s --http2-prior-knowledge -o "$work/kill2.body" -w '%{http_code}' --max-time 20 \
  -H 'Host: kill2.test' "$base/big" > "$work/kill2.code" 2>/dev/null &
killed_curl=$!
wait_file "$work/partial2.sent"
kill -KILL "$partial2_pid"
wait "$partial2_pid" 2>/dev/null
wait "$killed_curl"
curl_status=$?
elapsed_ms=$((($(date +%s%N) - start) / 1000000))
check "killed backend, h2c: the stream is reset (curl exit 92)" 92 "$curl_status"
check "killed backend, h2c: the body stops where the backend died" 1000 "$(stat -c %s "$work/kill2.body")"
check "killed backend, h2c: no hang (under 5 s)" true "$([ "$elapsed_ms" -lt 5000 ] && echo true || echo "$elapsed_ms ms")"

# --- backend resets the connection
check "backend reset: 502" 502 "$(get reset.test /reset | cut -d' ' -f1)"
reset_ok=0
for i in 1 2 3 4; do [ "$(get reset.test /after | cut -d' ' -f1)" = 200 ] && reset_ok=$((reset_ok + 1)); done
check "backend reset: the requests after it are served" 4 "$reset_ok"

# --- slow backends: response timeout, connect timeout
start=$(date +%s%N)
check "response timeout: 504" "504 " "$(get two.test /delay/5000)"
elapsed_ms=$((($(date +%s%N) - start) / 1000000))
check "response timeout fires after about 1 s" true "$([ "$elapsed_ms" -ge 900 ] && [ "$elapsed_ms" -lt 3500 ] && echo true || echo "$elapsed_ms ms")"
start=$(date +%s%N)
check "connect timeout (no accept, full queue): 504" "504 " "$(get hole.test /)"
elapsed_ms=$((($(date +%s%N) - start) / 1000000))
check "connect timeout: one retry at most, under 3.5 s" true "$([ "$elapsed_ms" -lt 3500 ] && echo true || echo "$elapsed_ms ms")"

# --- upstream sends garbage
check "garbage from the upstream: 502" 502 "$(get two.test /garbage | cut -d' ' -f1)"

# --- ExternalName whose name does not resolve
if $dns_isolated; then
  check "ExternalName DNS failure: 502" "502 " "$(get dns.test /)"
else
  echo "skipped: ExternalName DNS failure (unshare -m not permitted here)"
fi

# --- endpoint removed while requests are in flight
for i in 1 2 3 4; do
  curl -s -o /dev/null -D "$work/inflight-$i.h" -w '%{http_code}' --max-time 10 -H 'Host: two.test' \
    "$base/delay/800" > "$work/inflight-$i.code" &
  eval "inflight_$i=\$!"
done
sleep 0.25  # all four are waiting for their backends (the response timeout is 1 s)
write_manifests "$b_port"  # a is gone
codes=""
backends=""
for i in 1 2 3 4; do
  eval "wait \$inflight_$i"
  codes+="$(cat "$work/inflight-$i.code") "
  backends+="$(awk -F': ' 'tolower($1) == "x-backend" {gsub("\r", "", $2); print $2}' "$work/inflight-$i.h") "
done
check "requests in flight on a removed endpoint finish" "200 200 200 200 " "$codes"
check_contains "some of them were on the removed endpoint" "a" "$backends"
after=""
for _ in $(seq 100); do
  after="$(get two.test /x) $(get two.test /x) $(get two.test /x)"
  [ "$after" = "200 b 200 b 200 b" ] && break
  sleep 0.05
done
check "after the removal every request goes to the endpoint left" "200 b 200 b 200 b" "$after"

# --- every endpoint gone
write_manifests
gone=""
for _ in $(seq 100); do
  gone=$(get two.test /x)
  [ "$gone" = "503 " ] && break
  sleep 0.05
done
check "no endpoint left: 503" "503 " "$gone"

# --- client gone mid-upload and mid-download: the upstream connection is closed, not pooled
check "no connection to u before" 0 "$(established "$u_port")"
cat > "$work/client.py" <<'PY'
import socket, sys, time
mode, port = sys.argv[1], int(sys.argv[2])
c = socket.create_connection(("127.0.0.1", port))
if mode == "upload":
    c.sendall(b"POST /upload HTTP/1.1\r\nHost: up.test\r\nContent-Length: 100000000\r\n\r\n")
    c.sendall(b"u" * 65536)
else:
    c.sendall(b"GET /bytes/1000000000 HTTP/1.1\r\nHost: up.test\r\n\r\n")
    got = 0
    while got < 65536:
        got += len(c.recv(65536))
sys.stdout.write("started\n"); sys.stdout.flush()
sys.stdin.readline()  # the test says when to go
c.close()
PY
for mode in upload download; do
  coproc client { python3 "$work/client.py" "$mode" "$HTTP_PORT"; }
  read -r -t 5 started <&"${client[0]}"
  check "mid-$mode: the upstream connection is open while the client is" 1 "$(wait_established "$u_port" 1)"
  echo go >&"${client[1]}"
  wait "$client_PID"
  check "mid-$mode: the client left, the upstream connection is closed" 0 "$(wait_established "$u_port" 0)"
done
check "portico serves on after the faults" "200 u" "$(get up.test /x)"
check "portico still runs" true "$(kill -0 "$PORTICO_PID" 2>/dev/null && echo true || echo false)"
finish
