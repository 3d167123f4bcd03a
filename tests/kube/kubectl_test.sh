# The Kubernetes API server stand-in (tests/kube/apiserver.py) speaks the real protocol: the
# real kubectl works against it (apply, get, chunked lists, watch, client certificates, field
# selectors, token rotation, RBAC denials), and raw requests with curl see the list/watch
# semantics of kube-apiserver. Finally runs the stand-in's own protocol self-test.
# Usage: bash tests/kube/kubectl_test.sh PATH_TO_PORTICO (the argument is not used).

set -uo pipefail
: "${1:?usage: $0 PATH_TO_PORTICO}"
src=${PORTICO_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
standin=$src/tests/kube/apiserver.py
source "$(dirname "$0")/../check.sh"

if ! command -v kubectl >/dev/null; then
  echo "kubectl is not installed"
  failures=1
  finish
fi
export HOME=$work/home  # kubectl keeps nothing of ours in the real home
mkdir -p "$HOME"

# py EXPR: evaluate a Python expression over the JSON document on stdin (bound to d).
py() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }

# start_standin DIR [flags] -> API (https URL), CTL (control URL)
start_standin() {
  local dir=$1
  shift
  mkdir -p "$dir"
  python3 "$standin" --state-dir "$dir" "$@" > "$dir/out" 2> "$dir/err" &
  pids+=($!)
  for _ in $(seq 200); do
    if grep -q '^listening' "$dir/out" 2>/dev/null; then break; fi
    sleep 0.05
  done
  API=$(awk '/^listening/ {print $2}' "$dir/out")
  CTL=$(awk '/^listening/ {print $4}' "$dir/out")
}

state=$work/state
start_standin "$state" --bookmark-interval 1
check "ready line" "1" "$(grep -cE '^listening https://127\.0\.0\.1:[0-9]+ control http://127\.0\.0\.1:[0-9]+$' "$state/out")"
for f in ca.crt server.crt server.key client.crt client.key kubeconfig kubeconfig-cert token \
         serviceaccount/token serviceaccount/ca.crt serviceaccount/namespace; do
  check "state file $f" "yes" "$([ -s "$state/$f" ] && echo yes || echo no)"
done
check "in-cluster namespace" "portico-system" "$(cat "$state/serviceaccount/namespace")"
check "server certificate verifies" "OK" \
  "$(openssl verify -CAfile "$state/ca.crt" "$state/server.crt" 2>&1 | awk '{print $2}')"
check_contains "server certificate names 127.0.0.1" "IP Address:127.0.0.1" \
  "$(openssl x509 -in "$state/server.crt" -noout -ext subjectAltName 2>&1)"
check_contains "client certificate CN" "CN = portico-client" \
  "$(openssl x509 -in "$state/client.crt" -noout -subject 2>&1)"

TOKEN=$(cat "$state/token")
k() { kubectl --kubeconfig "$state/kubeconfig" --cache-dir "$work/kcache" "$@"; }
cr() { curl -sS --cacert "$state/ca.crt" -H "Authorization: Bearer $TOKEN" "$@"; }
ctl() { curl -sS "$@"; }
requests() { ctl "$CTL/requests"; }

# --- kubectl apply: create, then apply a change ------------------------------------------------
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj "/CN=a.example" \
  -keyout "$work/tls.key" -out "$work/tls.crt" 2>/dev/null
manifest() {  # manifest HOST TARGET_PORT ADDRESS TEAM
  cat <<EOF
apiVersion: networking.k8s.io/v1
kind: IngressClass
metadata: {name: portico, labels: {team: $4}}
spec: {controller: portico.dev/ingress-controller}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: default}
spec:
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: $2}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: web-1, namespace: default, labels: {kubernetes.io/service-name: web}}
addressType: IPv4
ports: [{name: http, port: $2}]
endpoints: [{addresses: [$3], conditions: {ready: true}}]
---
apiVersion: v1
kind: Secret
metadata: {name: web-tls, namespace: default, labels: {team: $4}}
type: kubernetes.io/tls
data:
  tls.crt: $(base64 -w0 "$work/tls.crt")
  tls.key: $(base64 -w0 "$work/tls.key")
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: web, namespace: default}
spec:
  ingressClassName: portico
  tls: [{hosts: [$1], secretName: web-tls}]
  rules:
  - host: $1
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}
EOF
}
manifest a.example 8080 10.0.0.1 blue > "$work/m1.yaml"
out=$(k apply -f "$work/m1.yaml" 2>&1)
check "apply creates" "5" "$(grep -c ' created$' <<<"$out")"
check_contains "apply created the ingress" "ingress.networking.k8s.io/web created" "$out"
objects=$(ctl "$CTL/objects")
check "stored ingress host" "a.example" \
  "$(py "[o for o in d['items'] if o['kind']=='Ingress'][0]['spec']['rules'][0]['host']" <<<"$objects")"
check "service defaulted protocol" "TCP" \
  "$(py "[o for o in d['items'] if o['kind']=='Service' and o['metadata']['name']=='web'][0]['spec']['ports'][0]['protocol']" <<<"$objects")"

manifest b.example 9090 10.0.0.2 green > "$work/m2.yaml"
out=$(k apply -f "$work/m2.yaml" 2>&1)
check "apply again configures" "5" "$(grep -c ' configured$' <<<"$out")"
objects=$(ctl "$CTL/objects")
check "changed ingress host stored" "b.example" \
  "$(py "[o for o in d['items'] if o['kind']=='Ingress'][0]['spec']['rules'][0]['host']" <<<"$objects")"
check "changed service targetPort stored (strategic merge by port)" "[{'name': 'http', 'port': 80, 'targetPort': 9090, 'protocol': 'TCP'}]" \
  "$(py "[o for o in d['items'] if o['kind']=='Service' and o['metadata']['name']=='web'][0]['spec']['ports']" <<<"$objects")"
check "changed endpoint stored" "10.0.0.2" \
  "$(py "[o for o in d['items'] if o['kind']=='EndpointSlice'][0]['endpoints'][0]['addresses'][0]" <<<"$objects")"
check "changed label stored" "green green" \
  "$(py "' '.join(o['metadata']['labels']['team'] for o in d['items'] if o['kind'] in ('Secret','IngressClass') and 'team' in o['metadata'].get('labels',{}))" <<<"$objects")"
check "ingress generation bumped once" "2" \
  "$(py "[o for o in d['items'] if o['kind']=='Ingress'][0]['metadata']['generation']" <<<"$objects")"
# Re-applying the same file: kubectl finds nothing to patch, except for the EndpointSlice whose
# atomic ports list the server defaulted (protocol: TCP), as with the real server; that patch
# changes nothing, so the object keeps its resourceVersion.
slice_rv=$(ctl "$CTL/objects?resource=endpointslices&name=web-1" | py "d['items'][0]['metadata']['resourceVersion']")
out=$(k apply -f "$work/m2.yaml" 2>&1)
check "unchanged apply" "4" "$(grep -c ' unchanged$' <<<"$out")"
check_contains "atomic list re-applied" "endpointslice.discovery.k8s.io/web-1 configured" "$out"
check "no-op patch keeps the resourceVersion" "$slice_rv" \
  "$(ctl "$CTL/objects?resource=endpointslices&name=web-1" | py "d['items'][0]['metadata']['resourceVersion']")"

# --- kubectl get -------------------------------------------------------------------------------
out=$(k get ingresses -A -o json)
check "get -o json kind" "List" "$(py "d['kind']" <<<"$out")"
check "get -o json item" "web default b.example" \
  "$(py "' '.join([d['items'][0]['metadata']['name'], d['items'][0]['metadata']['namespace'], d['items'][0]['spec']['rules'][0]['host']])" <<<"$out")"
check "get -o name" "ingress.networking.k8s.io/web" "$(k get ingresses -A -o name)"
out=$(k get ingresses 2>&1)
check_contains "get (server-side table) columns" "NAME   CLASS     HOSTS       ADDRESS   PORTS     AGE" "$out"
check_contains "get (server-side table) row" "web    portico   b.example             80, 443" "$out"
check "get single object" "b.example" "$(k get ingress web -o jsonpath='{.spec.rules[0].host}')"

# --- kubectl get --chunk-size over more objects than a chunk ----------------------------------
for i in 2 3 4 5 6; do
  ctl -X POST "$CTL/objects" -d "{\"apiVersion\":\"discovery.k8s.io/v1\",\"kind\":\"EndpointSlice\",
    \"metadata\":{\"name\":\"web-$i\",\"namespace\":\"default\",\"labels\":{\"kubernetes.io/service-name\":\"web\"}},
    \"addressType\":\"IPv4\",\"ports\":[{\"name\":\"http\",\"port\":9090}],
    \"endpoints\":[{\"addresses\":[\"10.0.1.$i\"]}]}" > /dev/null
done
ctl -X POST "$CTL/requests/clear" > /dev/null
out=$(k get endpointslices --chunk-size=2 -o name)
check "chunked list lists everything" "endpointslice.discovery.k8s.io/web-1 endpointslice.discovery.k8s.io/web-2 endpointslice.discovery.k8s.io/web-3 endpointslice.discovery.k8s.io/web-4 endpointslice.discovery.k8s.io/web-5 endpointslice.discovery.k8s.io/web-6" \
  "$(echo $out)"
lists=$(requests | py "'\n'.join('%s %s %s' % (r['query'].get('limit'), 'continue' if r['query'].get('continue') else 'first', r['status']) for r in d['requests'] if r['path'].endswith('/endpointslices'))")
check "chunked list requests (limit=2, then continue)" "2 first 200|2 continue 200|2 continue 200" "$(paste -sd'|' <<<"$lists")"
out=$(k get endpointslices --chunk-size=2 2>&1)
check "chunked table list rows" "6" "$(grep -c '^web-' <<<"$out")"

# --- kubectl get -w sees a change made through the control API --------------------------------
k get ingresses -w > "$work/watch.out" 2>&1 &
watch_pid=$!
pids+=($watch_pid)
for _ in $(seq 300); do
  [ "$(ctl "$CTL/watches" | py "len(d['watches'])")" -ge 1 ] && break
  sleep 0.05
done
check "watch registered" "networking.k8s.io/v1/ingresses" "$(ctl "$CTL/watches" | py "d['watches'][0]['resource']")"
ctl -X POST "$CTL/objects" -d '{"apiVersion":"networking.k8s.io/v1","kind":"Ingress",
  "metadata":{"name":"web","namespace":"default"},"spec":{"ingressClassName":"portico","rules":[
  {"host":"c.example","http":{"paths":[{"path":"/","pathType":"Prefix",
  "backend":{"service":{"name":"web","port":{"number":80}}}}]}}]}}' > /dev/null
for _ in $(seq 300); do
  grep -q c.example "$work/watch.out" && break
  sleep 0.05
done
kill "$watch_pid" 2>/dev/null
wait "$watch_pid" 2>/dev/null
check_contains "kubectl get -w printed the change" "web    portico   c.example" "$(cat "$work/watch.out")"
check "kubectl get -w printed the header once" "1" "$(grep -c '^NAME' "$work/watch.out")"

# --- client certificate, wrong token, field selector, forbidden, token rotation ---------------
out=$(kubectl --kubeconfig "$state/kubeconfig-cert" --cache-dir "$work/kcache" get ingresses -o name 2>&1)
check "client certificate kubeconfig" "ingress.networking.k8s.io/web" "$out"
check "client certificate user recorded" "portico-client cert" \
  "$(requests | py "' '.join([[r['user'], r['auth']] for r in d['requests'] if r['path'].endswith('/ingresses')][-1])")"

sed "s/token: .*/token: wrong-token/" "$state/kubeconfig" > "$work/kubeconfig-bad"
out=$(kubectl --kubeconfig "$work/kubeconfig-bad" --cache-dir "$work/kcache-bad" get ingresses 2>&1)
rc=$?
check "wrong token fails" "1" "$rc"
# kubectl >= 1.26 words a 401 during discovery like this (the real server answers the same)
check_contains "wrong token: kubectl's Unauthorized message" "error: You must be logged in to the server (the server has asked for the client to provide credentials)" "$out"
check "wrong token: 401 recorded" "401" \
  "$(requests | py "[r['status'] for r in d['requests'] if r['token'] == 'wrong-token'][-1]")"
status=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$state/ca.crt" -H "Authorization: Bearer nope" "$API/api/v1/namespaces")
check "wrong token HTTP status" "401" "$status"
check "401 Status body" "Unauthorized 401" \
  "$(curl -s --cacert "$state/ca.crt" "$API/api/v1/namespaces" | py "d['reason'], d['code']" | tr -d "(),'")"

ctl -X POST "$CTL/objects" -d '{"apiVersion":"v1","kind":"Secret","metadata":{"name":"plain","namespace":"default"},"stringData":{"a":"b"}}' > /dev/null
check "field selector type=kubernetes.io/tls" "secret/web-tls" \
  "$(k get secrets --field-selector type=kubernetes.io/tls -o name)"
check "field selector type!=kubernetes.io/tls" "secret/plain" \
  "$(k get secrets --field-selector type!=kubernetes.io/tls -o name)"
check "stringData became data" "Yg==" "$(k get secret plain -o jsonpath='{.data.a}')"
out=$(k get ingresses --field-selector spec.foo=bar 2>&1)
check_contains "unsupported field selector" '"spec.foo" is not a known field selector: only "metadata.name", "metadata.namespace"' "$out"

ctl -X POST "$CTL/forbid" -d '{"resource":"secrets","verbs":["list","watch"]}' > /dev/null
out=$(k get secrets -A 2>&1)
check_contains "forbidden list message" 'secrets is forbidden: User "system:serviceaccount:portico-system:portico" cannot list resource "secrets" in API group "" at the cluster scope' "$out"
out=$(cr "$API/api/v1/namespaces/default/secrets")
check "forbidden Status" "Forbidden 403 secrets" "$(py "' '.join([d['reason'], str(d['code']), d['details']['kind']])" <<<"$out")"
check_contains "forbidden namespaced message" 'in the namespace "default"' "$(py "d['message']" <<<"$out")"
check "get is still allowed" "web-tls" "$(k get secret web-tls -o jsonpath='{.metadata.name}')"
ctl -X POST "$CTL/allow" -d '{}' > /dev/null
check "allowed again" "secret/plain secret/web-tls" "$(echo $(k get secrets -o name))"

ctl -X POST "$CTL/tokens" -d '{"tokens":["rotated-1","rotated-2"]}' > /dev/null
sed "s/token: .*/token: $TOKEN/" "$state/kubeconfig" > "$work/kubeconfig-old"
out=$(kubectl --kubeconfig "$work/kubeconfig-old" --cache-dir "$work/kcache-old" get ns 2>&1)
check_contains "old token rejected after rotation" "You must be logged in to the server" "$out"
check "token file rewritten" "rotated-1" "$(cat "$state/serviceaccount/token")"
check "rotated kubeconfig works" "namespace/default" "$(k get ns default -o name 2>&1)"
check "second token valid" "200" \
  "$(curl -s -o /dev/null -w '%{http_code}' --cacert "$state/ca.crt" -H "Authorization: Bearer rotated-2" "$API/api/v1/namespaces")"
TOKEN=rotated-1

# --- raw protocol: limit/continue, remainingItemCount, items without kind -----------------------
base="$API/apis/discovery.k8s.io/v1/namespaces/default/endpointslices"
page=$(cr "$base?limit=2")
check "list kind" "EndpointSliceList discovery.k8s.io/v1" "$(py "d['kind'] + ' ' + d['apiVersion']" <<<"$page")"
check "remainingItemCount" "4" "$(py "d['metadata']['remainingItemCount']" <<<"$page")"
check "items without kind/apiVersion" "False False" "$(py "'kind' in d['items'][0], 'apiVersion' in d['items'][0]" <<<"$page" | tr -d "(),")"
list_rv=$(py "d['metadata']['resourceVersion']" <<<"$page")
names=$(py "' '.join(i['metadata']['name'] for i in d['items'])" <<<"$page")
# a change between pages must not show: pages come from the snapshot of the first one
ctl -X DELETE "$CTL/objects/discovery.k8s.io/v1/default/endpointslices/web-6" > /dev/null
rvs=$list_rv
while :; do
  token=$(py "d['metadata'].get('continue', '')" <<<"$page")
  [ -z "$token" ] && break
  page=$(cr -G "$base" --data-urlencode "limit=2" --data-urlencode "continue=$token")
  names="$names $(py "' '.join(i['metadata']['name'] for i in d['items'])" <<<"$page")"
  rvs="$rvs $(py "d['metadata']['resourceVersion']" <<<"$page")"
done
check "continue pages list the snapshot" "web-1 web-2 web-3 web-4 web-5 web-6" "$names"
check "continue pages keep the snapshot resourceVersion" "$list_rv $list_rv $list_rv" "$rvs"
check "a fresh list sees the deletion" "5" "$(cr "$base" | py "len(d['items'])")"
get=$(cr "$base/web-1")
check "single get carries kind" "EndpointSlice discovery.k8s.io/v1" "$(py "d['kind'] + ' ' + d['apiVersion']" <<<"$get")"

# --- raw protocol: watch from a resourceVersion returns exactly the later events, in order ------
ing="$API/apis/networking.k8s.io/v1/namespaces/default/ingresses"
from=$(cr "$ing" | py "d['metadata']['resourceVersion']")
ing_json() {  # ing_json NAME HOST
  printf '{"apiVersion":"networking.k8s.io/v1","kind":"Ingress","metadata":{"name":"%s","namespace":"default"},"spec":{"rules":[{"host":"%s"}]}}' "$1" "$2"
}
ctl -X POST "$CTL/objects" -d "$(ing_json w1 one.example)" > /dev/null
ctl -X POST "$CTL/objects" -d "$(ing_json w1 two.example)" > /dev/null
ctl -X DELETE "$CTL/objects/networking.k8s.io/v1/default/ingresses/w1" > /dev/null
ctl -X POST "$CTL/objects" -d '{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"noise","namespace":"default"}}' > /dev/null
events=$(cr -N --max-time 10 "$ing?watch=1&resourceVersion=$from&timeoutSeconds=1")
check "watch from RV: exactly the later events" "ADDED:w1:one.example MODIFIED:w1:two.example DELETED:w1:two.example" \
  "$(echo $(while read -r l; do py "'%s:%s:%s' % (d['type'], d['object']['metadata']['name'], d['object']['spec']['rules'][0]['host'])" <<<"$l"; done <<<"$events"))"
check "watch events carry kind and increasing RVs" "Ingress Ingress Ingress increasing" \
  "$(python3 -c "
import json,sys
ev=[json.loads(l) for l in sys.stdin if l.strip()]
rv=[int(e['object']['metadata']['resourceVersion']) for e in ev]
print(' '.join(e['object']['kind'] for e in ev), 'increasing' if rv==sorted(rv) and len(set(rv))==3 and rv[0]>$from else rv)" <<<"$events")"
headers=$(cr -N -D - -o /dev/null --max-time 10 "$ing?watch=1&resourceVersion=$from&timeoutSeconds=1")
check_contains "watch is chunked" "Transfer-Encoding: chunked" "$headers"
check_contains "watch content type" "Content-Type: application/json" "$headers"
events=$(cr -N --max-time 10 "$ing?watch=true&timeoutSeconds=1")
check "watch without RV starts with the current state" "ADDED:web" \
  "$(echo $(while read -r l; do py "'%s:%s' % (d['type'], d['object']['metadata']['name'])" <<<"$l"; done <<<"$events"))"

# --- raw protocol: a compacted resourceVersion -> one ERROR 410 event ---------------------------
compacted=$(ctl -X POST "$CTL/compact" | py "d['compacted']")
events=$(cr -N --max-time 10 "$ing?watch=1&resourceVersion=$from&timeoutSeconds=5")
check "compacted watch: one event" "1" "$(grep -c . <<<"$events")"
check "compacted watch: ERROR 410 Expired" "ERROR Status 410 Expired" \
  "$(py "' '.join([d['type'], d['object']['kind'], str(d['object']['code']), d['object']['reason']])" <<<"$events")"
check "compacted watch: message" "too old resource version: $from ($compacted)" "$(py "d['object']['message']" <<<"$events")"
page=$(cr "$base?limit=2")
token=$(py "d['metadata']['continue']" <<<"$page")
ctl -X POST "$CTL/objects" -d '{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"noise2","namespace":"default"}}' > /dev/null
ctl -X POST "$CTL/compact" > /dev/null
out=$(cr -G -w '\n%{http_code}' "$base" --data-urlencode "continue=$token" --data-urlencode "limit=2")
check "compacted continue: 410" "410" "$(tail -n1 <<<"$out")"
check_contains "compacted continue: message" "The provided continue parameter is too old to display a consistent list result" "$(head -n1 <<<"$out")"

# --- raw protocol: bookmarks (the stand-in runs with --bookmark-interval 1) ----------------------
now=$(cr "$ing" | py "d['metadata']['resourceVersion']")
events=$(cr -N --max-time 10 "$ing?watch=1&resourceVersion=$now&allowWatchBookmarks=true&timeoutSeconds=4")
check "bookmarks arrive" "yes" "$(grep -q '"type":"BOOKMARK"' <<<"$events" && echo yes || echo no)"
check "bookmark object" "Ingress networking.k8s.io/v1 True" \
  "$(grep '"BOOKMARK"' <<<"$events" | head -n1 | py "' '.join([d['object']['kind'], d['object']['apiVersion'], str(d['object']['metadata']['resourceVersion'] == '$now')])")"

# --- raw protocol: 409 on a stale PUT; status subresource ---------------------------------------
cur=$(cr "$ing/web")
old_rv=$(py "d['metadata']['resourceVersion']" <<<"$cur")
ctl -X POST "$CTL/objects" -d "$(ing_json web d.example)" > /dev/null
out=$(cr -X PUT -H 'Content-Type: application/json' -w '\n%{http_code}' "$ing/web" -d "$cur")
check "stale PUT: 409" "409" "$(tail -n1 <<<"$out")"
check "stale PUT: Conflict Status" "Conflict" "$(head -n1 <<<"$out" | py "d['reason']")"
check "stale PUT: message" 'Operation cannot be fulfilled on ingresses.networking.k8s.io "web": the object has been modified; please apply your changes to the latest version and try again' "$(head -n1 <<<"$out" | py "d['message']")"
cur=$(cr "$ing/web")
gen=$(py "d['metadata']['generation']" <<<"$cur")
upd=$(py "json.dumps(dict(d, spec={'rules':[{'host':'evil.example'}]}, status={'loadBalancer':{'ingress':[{'ip':'192.0.2.7'}]}}))" <<<"$cur")
out=$(cr -X PUT -H 'Content-Type: application/json' "$ing/web/status" -d "$upd")
check "status PUT changes status" "192.0.2.7" "$(py "d['status']['loadBalancer']['ingress'][0]['ip']" <<<"$out")"
check "status PUT keeps spec" "d.example" "$(py "d['spec']['rules'][0]['host']" <<<"$out")"
check "status PUT keeps generation" "$gen" "$(py "d['metadata']['generation']" <<<"$out")"
upd=$(py "json.dumps(dict(d, spec={'rules':[{'host':'e.example'}]}, status={'loadBalancer':{}}))" <<<"$out")
out=$(cr -X PUT -H 'Content-Type: application/json' "$ing/web" -d "$upd")
check "main PUT ignores status" "192.0.2.7" "$(py "d['status']['loadBalancer']['ingress'][0]['ip']" <<<"$out")"
check "main PUT changes spec and generation" "e.example $((gen + 1))" "$(py "d['spec']['rules'][0]['host'], d['metadata']['generation']" <<<"$out" | tr -d "(),'")"
check "kubectl sees the status" "192.0.2.7" "$(k get ingress web -o jsonpath='{.status.loadBalancer.ingress[0].ip}')"

# --- kubectl delete -------------------------------------------------------------------------------
out=$(k delete -f "$work/m2.yaml" 2>&1)
check "delete -f deletes everything" "5" "$(grep -c ' deleted' <<<"$out")"
check "deleted objects are gone" "" "$(k get ingresses,ingressclasses -o name 2>&1)"

# --- the stand-in's own protocol self-test ------------------------------------------------------
if python3 "$src/tests/kube/apiserver_selftest.py" > "$work/selftest.out" 2>&1; then
  passed=$((passed + 1))
else
  failures=$((failures + 1))
  echo "FAIL: apiserver_selftest.py:"
  tail -n 60 "$work/selftest.out"
fi
grep -E '^Ran |^OK|^FAILED' "$work/selftest.out"

kill -TERM "${pids[0]}"
wait "${pids[0]}"
check "SIGTERM exits 0" "0" "$?"
finish
