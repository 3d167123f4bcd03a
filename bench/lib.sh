# Shared by the bench scripts: a work directory cleaned up on exit, the tools a script needs, a
# block of free loopback ports, and the nginx backend every proxy is measured in front of.
# Source it after setting `portico`; it sets `work` and `pids`.

work=$(mktemp -d)
pids=()
bench_cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  sleep 0.2
  rm -rf "$work"
}
trap bench_cleanup EXIT

# require_tools TOOL...: exits with a message naming the first one missing, and checks $portico.
require_tools() {
  local tool
  for tool in "$@"; do
    command -v "$tool" >/dev/null || { echo "missing $tool (make deps installs it)" >&2; exit 1; }
  done
  [ -x "$portico" ] || { echo "missing $portico: build first (make build)" >&2; exit 1; }
}

# port_block N: sets `base` to the first of N consecutive loopback ports nothing listens on, below
# the ephemeral range (32768+) where outgoing connections take theirs (other benchmarks and tests
# may run at the same time).
port_block() {
  local n=$1
  for _ in $(seq 50); do
    base=$((10000 + RANDOM % 20000))
    python3 - "$base" "$n" <<'PY' && return 0
import socket, sys
base, n = int(sys.argv[1]), int(sys.argv[2])
try:
    for port in range(base, base + n):
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", port))
        s.close()
except OSError:
    sys.exit(1)
PY
  done
  echo "no block of $n free ports found" >&2
  exit 1
}

# start_nginx_backend PORT: nginx (1 worker) answering a 23-byte body on 127.0.0.1:PORT, the same
# backend for every proxy and every run.
start_nginx_backend() {
  local port=$1
  mkdir -p "$work/backend/logs"
  cat > "$work/backend/nginx.conf" <<NGINX
worker_processes 1;
pid $work/backend/nginx.pid;
error_log $work/backend/logs/error.log;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 1000000;
  server {
    listen 127.0.0.1:$port;
    location / { return 200 "hello from the backend\n"; }
  }
}
NGINX
  nginx -c "$work/backend/nginx.conf" -p "$work/backend" -g 'daemon off;' &
  pids+=($!)
}
