#!/usr/bin/env bash
# End-to-end tests of `portico routes` (the real binary, real files, stdin, jq on its JSON).
# Usage: routes_test.sh PATH_TO_PORTICO
portico=${1:?usage: $0 PATH_TO_PORTICO}
source "$(dirname "$0")/../check.sh"
tmp=$work

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

# --- the chain: Ingress -> Service -> workloads, from helm-template-like stdin
cat > "$tmp/chart.yaml" <<'YAML'
---
# Source: shop/templates/ingress.yaml
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: shop, namespace: shop}
spec:
  ingressClassName: portico
  rules:
  - host: shop.example
    http:
      paths:
      - {path: /cart, pathType: Prefix, backend: {service: {name: cart, port: {number: 80}}}}
      - {path: /db, pathType: Prefix, backend: {service: {name: db, port: {number: 5432}}}}
      - {path: /pods, pathType: Prefix, backend: {service: {name: pods, port: {number: 80}}}}
---
# Source: shop/templates/cart.yaml
apiVersion: v1
kind: Service
metadata: {name: cart, namespace: shop}
spec:
  selector: {app: cart}
  ports: [{port: 80, targetPort: http}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: cart, namespace: shop}
spec:
  replicas: 3
  selector: {matchLabels: {app: cart}}
  template:
    metadata: {labels: {app: cart}}
    spec:
      containers:
      - name: cart
        ports: [{name: http, containerPort: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: db, namespace: shop}
spec:
  clusterIP: None
  selector: {app: db}
  ports: [{port: 5432, targetPort: sql}]
---
apiVersion: apps/v1beta2
kind: StatefulSet
metadata: {name: db, namespace: shop}
spec:
  replicas: 2
  serviceName: db
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec:
      containers:
      - ports: [{name: postgres, containerPort: 5432}]
---
apiVersion: v1
kind: Service
metadata: {name: pods, namespace: shop}
spec:
  selector: {app: pods}
  ports: [{port: 80, targetPort: 8080}]
---
apiVersion: v1
kind: Pod
metadata: {name: pods-a, namespace: shop, labels: {app: pods}}
status:
  podIP: 10.9.0.1
  conditions: [{type: Ready, status: "True"}]
YAML
out=$("$portico" routes -f - -o json --resolve https://shop.example/cart \
  --resolve https://shop.example/db --resolve https://shop.example/pods <"$tmp/chart.yaml")
check "chain errors exit 1" 1 $?
check "cart reaches Deployment port 8080" "Deployment shop/cart 3 8080" \
  "$(jq -r '.resolved[0].match.workloads[] | "\(.kind) \(.namespace)/\(.name) \(.replicas) \(.port)"' <<<"$out")"
check "workloads have the documented fields" '["kind","name","namespace","port","replicas"]' \
  "$(jq -c '.resolved[0].match.workloads[0] | keys' <<<"$out")"
check "unresolved named targetPort is null and an error" "null 1" \
  "$(jq -r '"\(.resolved[1].match.workloads[0].port) \([.diagnostics[] | select(.severity=="error" and .object=="Service shop/db" and .field=="spec.ports[0].targetPort")] | length)"' <<<"$out")"
check "StatefulSet lists pod DNS names" "db-0.db.shop.svc.cluster.local,db-1.db.shop.svc.cluster.local" \
  "$(jq -r '.resolved[1].match.workloads[0].pods | join(",")' <<<"$out")"
check "removed apiVersion is a warning naming the release" "1" \
  "$(jq '[.diagnostics[] | select(.severity=="warning" and .object=="StatefulSet shop/db" and (.message | contains("removed in Kubernetes 1.16; use apps/v1")))] | length' <<<"$out")"
check "Pods without EndpointSlice are derived endpoints" "10.9.0.1:8080:true:true" \
  "$(jq -r '.resolved[2].match.endpoints | map("\(.address):\(.port):\(.ready):\(.derived)") | join(",")' <<<"$out")"
out=$("$portico" routes -f - --resolve https://shop.example/cart <"$tmp/chart.yaml")
check "table shows the chain under the route" "2" \
  "$(grep -c '=> Deployment shop/cart (3 replicas) container port 8080' <<<"$out")"
out=$(sed 's/selector: {app: cart}/selector: {app: nobody}/' "$tmp/chart.yaml" |
  "$portico" routes -f - --resolve https://shop.example/cart)
check "table: a selector matching nothing, with workloads in the input, says so" "2" \
  "$(grep -c '=> (selects no workload or Pod in the input)' <<<"$out")"
check "table: no such line when the input holds no workload at all" "0" \
  "$("$portico" routes -f "$src/examples/standalone" | grep -c 'selects no workload')"

# --- the chain from a `kubectl get -o json` List
cat > "$tmp/dump.json" <<'JSON'
{"apiVersion": "v1", "kind": "List", "items": [
  {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": {"name": "w", "namespace": "n"},
   "spec": {"ingressClassName": "portico", "defaultBackend": {"service": {"name": "w", "port": {"number": 80}}}}},
  {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "w", "namespace": "n"},
   "spec": {"selector": {"app": "w"}, "ports": [{"port": 80}]}},
  {"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "w", "namespace": "n"},
   "spec": {"selector": {"matchLabels": {"app": "w"}}, "template": {"metadata": {"labels": {"app": "w"}}}}},
  {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "other", "namespace": "m"},
   "spec": {"selector": {"matchLabels": {"app": "w"}}, "template": {"metadata": {"labels": {"app": "w"}}}}}
]}
JSON
out=$("$portico" routes -f "$tmp/dump.json" -o json --resolve http://any/)
check "kubectl List: DaemonSet selected, other namespace not; replicas null" "DaemonSet n/w null 80" \
  "$(jq -r '.resolved[0].match.workloads | map("\(.kind) \(.namespace)/\(.name) \(.replicas) \(.port)") | join(",")' <<<"$out")"

# --- routing diff: --base and --exit-code
mkdir -p "$tmp/base" "$tmp/new"
cat > "$tmp/base/shop.yaml" <<'YAML'
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: shop, namespace: shop}
spec:
  rules:
  - host: shop.test
    http:
      paths:
      - {path: /cart, pathType: Prefix, backend: {service: {name: cart, port: {number: 80}}}}
      - {path: /old, pathType: Prefix, backend: {service: {name: old, port: {number: 80}}}}
YAML
sed -e 's/name: cart, port/name: cart-v2, port/' -e 's#/old#/new#; s/name: old/name: new/' \
  "$tmp/base/shop.yaml" > "$tmp/new/shop.yaml"
out=$("$portico" routes -f "$tmp/new" --base "$tmp/base" -o json --resolve http://shop.test/cart)
check "diff without --exit-code exits 0" 0 $?
check "diff lists changed, added, removed" "changed /cart cart cart-v2|added /new null new|removed /old old null" \
  "$(jq -r '[.changes[] | "\(.change) \(.path) \(.before.service) \(.after.service)"] | join("|")' <<<"$out")"
check "diff entries have the documented fields" '["after","before","change","host","path","pathType"]' \
  "$(jq -c '.changes[0] | keys' <<<"$out")"
check "resolved URL whose answer differs" "http://shop.test/cart cart cart-v2" \
  "$(jq -r '.resolvedChanges[] | "\(.request) \(.before.service) \(.after.service)"' <<<"$out")"
"$portico" routes -f "$tmp/new" --base "$tmp/base" --exit-code >/dev/null
check "--exit-code exits 3 on changes" 3 $?
"$portico" routes -f "$tmp/base" --base "$tmp/base" --exit-code >/dev/null
check "--exit-code exits 0 without changes" 0 $?
"$portico" routes -f "$tmp/mixed" --base "$tmp/base" --exit-code >/dev/null
check "errors still exit 1 with --exit-code" 1 $?
out=$("$portico" routes -f "$tmp/new" --base "$tmp/base")
check "table diff uses + - ~" "~ shop.test /cart Prefix: shop/cart:80 -> shop/cart-v2:80|+ shop.test /new Prefix -> shop/new:80|- shop.test /old Prefix -> shop/old:80" \
  "$(grep -E '^[-+~] ' <<<"$out" | paste -sd'|')"

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

# --- --migration-report: every annotation of the (ingress-nginx) Ingresses, whatever their class
mkdir -p "$tmp/migrate"
cat > "$tmp/migrate/nginx.yaml" <<'YAML'
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: legacy
  namespace: shop
  annotations:
    nginx.ingress.kubernetes.io/rewrite-target: /$2
    nginx.ingress.kubernetes.io/use-regex: "true"
    nginx.ingress.kubernetes.io/configuration-snippet: "more_set_headers X: y;"
    nginx.ingress.kubernetes.io/limit-rps: "10"
    nginx.ingress.kubernetes.io/proxy-buffering: "on"
    nginx.ingress.kubernetes.io/proxy-read-timeout: "ten"
spec:
  ingressClassName: nginx
  rules:
  - host: shop.test
    http:
      paths: [{path: "/api(/|$)(.*)", pathType: ImplementationSpecific, backend: {service: {name: api, port: {number: 80}}}}]
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: other
  namespace: shop
  annotations: {nginx.ingress.kubernetes.io/limit-rps: "5"}
spec:
  ingressClassName: nginx
  defaultBackend: {service: {name: api, port: {number: 80}}}
YAML
out=$("$portico" routes -f "$tmp/migrate" --migration-report -o json)
check "--migration-report exits 0" 0 $?
check "--migration-report counts the Ingresses of another class" "2 1" \
  "$(jq -r '"\(.ingresses) \(.ingressesWithUnhonouredAnnotations)"' <<<"$out")"
check "--migration-report: each annotation's fate" \
  "configuration-snippet:refused limit-rps:honoured proxy-buffering:ignored proxy-read-timeout:ignored rewrite-target:honoured use-regex:honoured" \
  "$(jq -r '[.annotations[] | "\(.name | sub(".*/"; "")):\(.support)"] | join(" ")' <<<"$out")"
check "--migration-report: the Ingresses carrying an annotation" "shop/legacy,shop/other" \
  "$(jq -r '.annotations[] | select(.name | endswith("limit-rps")) | .ingresses | join(",")' <<<"$out")"
check "--migration-report: a value that does not parse is counted" 1 \
  "$(jq -r '.annotations[] | select(.name | endswith("proxy-read-timeout")) | .invalid' <<<"$out")"
out=$("$portico" routes -f "$tmp/migrate" --migration-report)
check "--migration-report table: sections" "honoured: ignored: refused:" \
  "$(grep -E '^(honoured|ignored|refused):$' <<<"$out" | paste -sd' ')"
check_contains "--migration-report table: snippets are never interpreted" \
  "configuration-snippet (1): a snippet of nginx configuration; never interpreted" "$out"
"$portico" routes -f "$tmp/migrate" --migration-report --base "$tmp/migrate" >/dev/null 2>"$tmp/err"
check "--migration-report with --base: usage error" 2 $?
check_contains "--migration-report with --base: says what is accepted" "accepted with it" "$(cat "$tmp/err")"

finish
