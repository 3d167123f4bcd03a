# Helpers for the cluster-mode tests: the API-server stand-in (tests/kube/apiserver.py) and
# objects for it as JSON. Source after tests/e2e/lib.sh.

# start_apiserver [flags] -> sets API_URL API_PORT CONTROL (http://127.0.0.1:PORT) KUBE_DIR
start_apiserver() {
  KUBE_DIR="$work/kube"
  mkdir -p "$KUBE_DIR"
  python3 "$src/tests/kube/apiserver.py" --state-dir "$KUBE_DIR" "$@" \
    > "$work/apiserver.out" 2> "$work/apiserver.err" &
  pids+=($!)
  for _ in $(seq 200); do
    if grep -q '^listening' "$work/apiserver.out" 2>/dev/null; then break; fi
    sleep 0.05
  done
  API_URL=$(awk '/^listening/ {print $2}' "$work/apiserver.out")
  API_PORT=${API_URL##*:}
  CONTROL=$(awk '/^listening/ {print $4}' "$work/apiserver.out")
  if [ -z "$CONTROL" ]; then
    echo "the API server stand-in did not start:"
    cat "$work/apiserver.err"
    return 1
  fi
}

# api_apply JSON: create or replace objects (one object or a List) through the control API.
api_apply() {
  curl -sf -X POST -H 'Content-Type: application/json' --data-binary "$1" "$CONTROL/objects" >/dev/null
}

# api_delete APIVERSION KIND NAMESPACE NAME
api_delete() {
  curl -sf -X POST -H 'Content-Type: application/json' \
    --data-binary "{\"apiVersion\":\"$1\",\"kind\":\"$2\",\"namespace\":\"$3\",\"name\":\"$4\"}" \
    "$CONTROL/delete" >/dev/null
}

api_control() {  # api_control PATH [JSON]
  curl -sf -X POST -H 'Content-Type: application/json' --data-binary "${2:-{\}}" "$CONTROL$1"
}

api_objects() {  # api_objects RESOURCE -> JSON
  curl -sf "$CONTROL/objects?resource=$1"
}

ingress_class_json() {  # NAME CONTROLLER
  printf '{"apiVersion":"networking.k8s.io/v1","kind":"IngressClass","metadata":{"name":"%s"},"spec":{"controller":"%s"}}' "$1" "$2"
}

service_json() {  # NS NAME
  printf '{"apiVersion":"v1","kind":"Service","metadata":{"name":"%s","namespace":"%s"},"spec":{"ports":[{"name":"http","port":80}]}}' "$2" "$1"
}

# slice_json NS SERVICE SLICE PORT [READY...] — one endpoint 127.0.0.1:PORT per... no: one slice
# with one port number and endpoints 127.0.0.1 (ready true/false as given; default true).
slice_json() {  # NS SERVICE SLICE PORT READY
  printf '{"apiVersion":"discovery.k8s.io/v1","kind":"EndpointSlice","metadata":{"name":"%s","namespace":"%s","labels":{"kubernetes.io/service-name":"%s"}},"addressType":"IPv4","ports":[{"name":"http","port":%s}],"endpoints":[{"addresses":["127.0.0.1"],"conditions":{"ready":%s}}]}' \
    "$3" "$1" "$2" "$4" "${5:-true}"
}

ingress_json() {  # NS NAME HOST SERVICE [TLS_SECRET]
  local tls=""
  if [ -n "${5:-}" ]; then tls=",\"tls\":[{\"hosts\":[\"$3\"],\"secretName\":\"$5\"}]"; fi
  printf '{"apiVersion":"networking.k8s.io/v1","kind":"Ingress","metadata":{"name":"%s","namespace":"%s"},"spec":{"ingressClassName":"portico"%s,"rules":[{"host":"%s","http":{"paths":[{"path":"/","pathType":"Prefix","backend":{"service":{"name":"%s","port":{"number":80}}}}]}}]}}' \
    "$2" "$1" "$tls" "$3" "$4"
}

tls_secret_json() {  # NS NAME HOST
  local dir="$work/pki-$2"
  mkdir -p "$dir"
  openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj "/CN=$3" \
    -addext "subjectAltName=DNS:$3" -keyout "$dir/tls.key" -out "$dir/tls.crt" 2>/dev/null
  printf '{"apiVersion":"v1","kind":"Secret","metadata":{"name":"%s","namespace":"%s"},"type":"kubernetes.io/tls","data":{"tls.crt":"%s","tls.key":"%s"}}' \
    "$2" "$1" "$(base64 -w0 "$dir/tls.crt")" "$(base64 -w0 "$dir/tls.key")"
}

# wait_for NAME EXPECTED COMMAND...: polls COMMAND (every 50 ms, up to 10 s) until it prints
# EXPECTED, then checks.
wait_for() {
  local name=$1 expected=$2 got=""
  shift 2
  for _ in $(seq 200); do
    got=$("$@" 2>/dev/null)
    if [ "$got" == "$expected" ]; then break; fi
    sleep 0.05
  done
  check "$name" "$expected" "$got"
}
