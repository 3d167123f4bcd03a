#!/usr/bin/env bash
# End-to-end tests of `portico routes` (the real binary, real files, stdin, jq on its JSON).
# Usage: routes_test.sh PATH_TO_PORTICO
set -uo pipefail
portico=$1
src=${PORTICO_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failures=0
passed=0

check() {  # check NAME EXPECTED ACTUAL
  if [ "$2" == "$3" ]; then
    passed=$((passed + 1))
  else
    failures=$((failures + 1))
    echo "FAIL: $1: expected [$2], got [$3]"
  fi
}

# --- the bundled example: JSON shape, --resolve order, exit 0
out=$("$portico" routes -f "$src/examples/standalone" -o json \
  --resolve https://shop.example.test/api/v1 \
  --resolve http://nowhere.test/ \
  --resolve https://shop.example.test/api/health \
  --resolve 'http://a.blog.example.test:8080/x?q=1')
check "example exits 0" 0 $?
check "resolved keeps --resolve order" \
  'https://shop.example.test/api/v1 http://nowhere.test/ https://shop.example.test/api/health http://a.blog.example.test:8080/x?q=1' \
  "$(jq -r '[.resolved[].request] | join(" ")' <<<"$out")"
check "prefix /api wins over /" "api 80 Prefix /api" \
  "$(jq -r '.resolved[0].match | "\(.service) \(.port) \(.pathType) \(.path)"' <<<"$out")"
check "unknown host has no match" "null" "$(jq -c '.resolved[1].match' <<<"$out")"
check "Exact beats Prefix; port by name stays a name" "web http Exact" \
  "$(jq -r '.resolved[2].match | "\(.service) \(.port) \(.pathType)"' <<<"$out")"
check "wildcard host, port and query ignored" "*.blog.example.test api" \
  "$(jq -r '.resolved[3].match | "\(.host) \(.service)"' <<<"$out")"
check "match names ingress and namespace" "demo/demo demo false" \
  "$(jq -r '.resolved[0].match | "\(.ingress) \(.namespace) \(.defaultBackend)"' <<<"$out")"
check "endpoints come from the EndpointSlice" "127.0.0.1:9002:true" \
  "$(jq -r '.resolved[0].match.endpoints | map("\(.address):\(.port):\(.ready)") | join(",")' <<<"$out")"
check "diagnostics have the documented fields" "true" \
  "$(jq '[.diagnostics[] | keys == ["field","file","line","message","object","severity"]] | all' <<<"$out")"

# --- errors: exit 1, everything valid still printed, diagnostic names file, line, object, field
mkdir -p "$tmp/mixed/sub"
cat > "$tmp/mixed/good.yaml" <<'YAML'
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: good, namespace: shop}
spec:
  rules:
  - host: good.test
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}
YAML
cat > "$tmp/mixed/sub/bad.yml" <<'YAML'
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: bad, namespace: shop}
spec:
  rules:
  - host: bad.test
    http:
      paths:
      - {path: /ok, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}
      - path: /broken
        pathType: Prefix
        backend:
          service:
            name: ""
            port: {number: 80}
YAML
printf 'apiVersion: v1\nkind: Service\nmetadata: {name: [unclosed\n' > "$tmp/mixed/syntax.yaml"
echo "not yaml at all: [" > "$tmp/mixed/ignored.txt"
out=$("$portico" routes -f "$tmp/mixed" -o json --resolve http://good.test/ --resolve http://bad.test/ok)
check "errors exit 1" 1 $?
check "valid routes still served" "web web" \
  "$(jq -r '[.resolved[].match.service] | join(" ")' <<<"$out")"
check "error names file, line, object and field" \
  "$tmp/mixed/sub/bad.yml:10 Ingress shop/bad spec.rules[0].http.paths[1].backend.service.name" \
  "$(jq -r '.diagnostics[] | select(.severity=="error" and .object=="Ingress shop/bad") | "\(.file):\(.line) \(.object) \(.field)"' <<<"$out")"
check "a YAML syntax error is reported with its file" "1" \
  "$(jq "[.diagnostics[] | select(.severity==\"error\" and .file==\"$tmp/mixed/syntax.yaml\")] | length" <<<"$out")"
check "files of other extensions are not read" "0" \
  "$(jq "[.diagnostics[] | select(.file==\"$tmp/mixed/ignored.txt\")] | length" <<<"$out")"

# --- stdin, multi-document, a kubectl List
out=$(cat "$tmp/mixed/good.yaml" | "$portico" routes -f - -o json --resolve http://good.test/x)
check "stdin exits 0" 0 $?
check "stdin is read" "web" "$(jq -r '.resolved[0].match.service' <<<"$out")"
cat > "$tmp/list.json" <<'JSON'
{"apiVersion": "v1", "kind": "List", "items": [
  {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
   "metadata": {"name": "from-list", "namespace": "x"},
   "spec": {"rules": [{"host": "list.test", "http": {"paths": [
     {"path": "/", "pathType": "Prefix", "backend": {"service": {"name": "svc", "port": {"number": 8080}}}}]}}]}}
]}
JSON
out=$("$portico" routes -f "$tmp/list.json" -o json --resolve http://list.test/)
check "kubectl List in JSON" "x/from-list svc 8080" \
  "$(jq -r '.resolved[0].match | "\(.ingress) \(.service) \(.port)"' <<<"$out")"

# --- table output is for people: grouped by host, diagnostics listed
out=$("$portico" routes -f "$tmp/mixed" --resolve http://bad.test/ok)
check "table groups by host" "1" "$(grep -c '^good.test$' <<<"$out")"
check "table lists diagnostics" "1" "$(grep -c 'spec.rules\[0\].http.paths\[1\].backend.service.name' <<<"$out")"

# --- usage and unreadable input: exit 2
"$portico" routes -f "$tmp/does-not-exist" >/dev/null 2>"$tmp/err"
check "unreadable input exits 2" 2 $?
check "unreadable input names the path" "1" "$(grep -c "does-not-exist" "$tmp/err")"
"$portico" routes >/dev/null 2>&1
check "missing -f exits 2" 2 $?
"$portico" routes -f "$tmp/mixed" -o yaml >/dev/null 2>&1
check "unknown output format exits 2" 2 $?
"$portico" frobnicate >/dev/null 2>&1
check "unknown command exits 2" 2 $?

echo "$passed passed, $failures failed"
[ "$failures" -eq 0 ]
