#!/usr/bin/env bash
# Slowloris (issue 5): CONNECTIONS clients that each send one byte of a request header per second
# (reconnecting when portico closes them, as its header timeout does) must not slow a concurrent
# wrk run by more than 10%. One run alternates ROUNDS times between wrk alone and wrk with the
# slow clients connected (SECONDS_EACH each), so that the drift of a shared machine falls on both
# sides alike, and compares the total requests of the two sides.
#
# usage: bench/slowloris.sh [BUILD_DIR]   env: CONNECTIONS (2000), SECONDS_EACH (10), ROUNDS (4)
set -euo pipefail
build=${1:-build/release}
root=$(cd "$(dirname "$0")/.." && pwd)
portico=$root/$build/portico
backend=$root/$build/tests/portico_test_backend
connections=${CONNECTIONS:-2000}
each=${SECONDS_EACH:-10}
rounds=${ROUNDS:-4}
work=$(mktemp -d)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT
ulimit -n "$(ulimit -Hn)"  # 2,000 sockets on each side

"$backend" --listen 127.0.0.1:0 --name web --record-limit 0 > "$work/backend.out" &
pids+=($!)
for _ in $(seq 100); do grep -q '^listening' "$work/backend.out" && break; sleep 0.05; done
backend_port=$(awk '/^listening/ {split($2, a, ":"); print a[2]}' "$work/backend.out")
port=$((10000 + RANDOM % 20000))  # below the ephemeral range
admin=$((port + 1))
mkdir -p "$work/m"
cat > "$work/m/all.yaml" <<EOF
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: bench, namespace: bench}
spec:
  rules:
  - http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: bench}
spec: {ports: [{port: 80}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: web-1, namespace: bench, labels: {kubernetes.io/service-name: web}}
ports: [{port: $backend_port}]
endpoints: [{addresses: [127.0.0.1]}]
EOF
"$portico" serve --manifests "$work/m" --workers 1 --access-log off --log-level error \
  --http-addr "127.0.0.1:$port" --https-addr off --admin-addr "127.0.0.1:$admin" &
pid=$!
pids+=($pid)
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$admin/readyz" >/dev/null && break; sleep 0.05; done

cat > "$work/slow.py" <<'PY'
# N connections, each sending the next byte of a never-ending header once a second.
import asyncio, sys
port, n, seconds = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
header = b"GET / HTTP/1.1\r\nHost: slow.test\r\nX-Slow: " + b"a" * 100000
stats = {"open": 0, "closed_by_server": 0, "connects": 0}
async def client(i):
    await asyncio.sleep(i * 0.5 / n)  # spread the connects over half a second
    while True:
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.5); continue
        stats["connects"] += 1; stats["open"] += 1
        try:
            for b in header:
                writer.write(bytes([b])); await writer.drain()
                await asyncio.sleep(1)
        except (ConnectionError, OSError):
            stats["closed_by_server"] += 1
        finally:
            stats["open"] -= 1; writer.close()
async def main():
    tasks = [asyncio.create_task(client(i)) for i in range(n)]
    await asyncio.sleep(2)
    print(f"slowloris: {stats['open']} connections open after 2 s", flush=True)
    await asyncio.sleep(seconds - 2)
    print(f"slowloris: {stats['open']} open at the end, {stats['connects']} connects,"
          f" {stats['closed_by_server']} closed by portico", flush=True)
    for t in tasks: t.cancel()
asyncio.run(main())
PY

rps() { awk '/Requests\/sec/ {print $2}' "$1"; }
run_wrk() { wrk -t1 -c32 -d"${each}s" "http://127.0.0.1:$port/" > "$1"; }
echo "slowloris: $rounds rounds of wrk -t1 -c32 ${each}s alone, then with $connections slow" \
  "clients; portico --workers 1; $(nproc) cores shared with other work"
alone_total=0
slow_total=0
for r in $(seq "$rounds"); do
  run_wrk "$work/alone-$r.out"
  python3 "$work/slow.py" "$port" "$connections" $((each + 4)) > "$work/slow-$r.out" &
  slow=$!
  sleep 3  # all connected and sending
  run_wrk "$work/with-$r.out"
  wait "$slow" || true
  a=$(rps "$work/alone-$r.out") w=$(rps "$work/with-$r.out")
  echo "round $r: alone $a req/s, with slow clients $w req/s; $(tail -1 "$work/slow-$r.out")"
  alone_total=$(awk -v t="$alone_total" -v a="$a" 'BEGIN {print t + a}')
  slow_total=$(awk -v t="$slow_total" -v a="$w" 'BEGIN {print t + a}')
done
grep -hE 'Socket errors|Non-2xx' "$work"/alone-*.out "$work"/with-*.out || true
awk -v a="$alone_total" -v s="$slow_total" -v r="$rounds" \
  'BEGIN {printf "mean alone %.0f req/s, with slow clients %.0f req/s: %.1f%% (target: at least 90%%)\n", a / r, s / r, s * 100 / a}'
cpu_ticks() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
python3 "$work/slow.py" "$port" "$connections" $((each + 4)) > "$work/slow-cpu.out" &
slow=$!
sleep 3
before=$(cpu_ticks)
sleep "$each"
after=$(cpu_ticks)
wait "$slow" || true
awk -v t=$((after - before)) -v hz="$(getconf CLK_TCK)" -v s="$each" -v n="$connections" \
  'BEGIN {printf "portico CPU with %d slow clients and no other load: %.1f%% of one core\n", n, t * 100 / hz / s}'
