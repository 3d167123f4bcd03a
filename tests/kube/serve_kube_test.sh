#!/usr/bin/env bash
# `portico serve --kube` against the API-server stand-in over real HTTPS: initial sync, changes of
# every watched kind reaching traffic, a rolling update without a failed request, dropped and
# stalled streams resumed without missing an event, 410 Gone and relist, token rotation, Ingress
# status written by the leader only, and the Lease handed over between two processes.
source "$(dirname "$0")/../e2e/lib.sh"
source "$(dirname "$0")/lib.sh"

start_backend one
one_port=$BACKEND_PORT
start_backend two
two_port=$BACKEND_PORT
start_apiserver --bookmark-interval 1

api_apply "$(ingress_class_json portico portico.dev/ingress-controller)"
api_apply "$(service_json demo web)"
api_apply "$(slice_json demo web web-a "$one_port")"
api_apply "$(ingress_json demo web web.example web)"
# Our own Service, whose load balancer address goes into Ingress status.
api_apply '{"apiVersion":"v1","kind":"Service","metadata":{"name":"portico","namespace":"portico-system"},"spec":{"type":"LoadBalancer","ports":[{"name":"http","port":80}]},"status":{"loadBalancer":{"ingress":[{"ip":"203.0.113.7"}]}}}'

# start_kube NAME [flags]: portico in cluster mode; in-cluster configuration unless flags say
# otherwise. Sets P_HTTP P_HTTPS P_ADMIN P_PID (and NAME_* copies).
start_kube() {
  local name=$1 attempt
  shift
  for attempt in 1 2 3; do  # other ports if one was taken meanwhile (see start_portico)
    P_HTTP=$(free_port)
    P_HTTPS=$(free_port)
    P_ADMIN=$(free_port)
    POD_NAME=$name POD_NAMESPACE=portico-system KUBERNETES_SERVICE_HOST=127.0.0.1 \
      KUBERNETES_SERVICE_PORT=$API_PORT PORTICO_SERVICEACCOUNT_DIR="$KUBE_DIR/serviceaccount" \
      "$portico" serve --kube --http-addr "127.0.0.1:$P_HTTP" --https-addr "127.0.0.1:$P_HTTPS" \
      --admin-addr "127.0.0.1:$P_ADMIN" --workers 1 --access-log off --shutdown-grace 1s \
      --publish-service portico-system/portico --watch-idle-timeout 2s "$@" \
      > "$work/$name.out" 2> "$work/$name.err" &
    P_PID=$!
    pids+=($P_PID)
    if wait_ready "$P_PID" "$P_ADMIN"; then return 0; fi
    grep -q "Address already in use" "$work/$name.err" || break
  done
  echo "portico $name did not become ready:"
  cat "$work/$name.err"
  return 1
}

served_by() {  # served_by PORT HOST -> the backend's name, or the HTTP status
  local out
  out=$(curl -s -m 2 -H "Host: $2" -w '\n%{http_code}' "http://127.0.0.1:$1/")
  local code=${out##*$'\n'}
  if [ "$code" == "200" ]; then jq -r .backend <<< "${out%$'\n'*}"; else echo "$code"; fi
}

lease_holder() {
  api_objects leases | jq -r '[.items[] | select(.metadata.name == "portico-leader")][0].spec.holderIdentity // ""'
}

ingress_status_ip() {  # NS NAME
  api_objects ingresses |
    jq -r --arg ns "$1" --arg n "$2" '[.items[] | select(.metadata.namespace == $ns and .metadata.name == $n)][0].status.loadBalancer.ingress[0].ip // ""'
}

# ---- Initial sync (in-cluster configuration: service-account token, CA, namespace)
start_kube p1
p1_http=$P_HTTP p1_https=$P_HTTPS p1_admin=$P_ADMIN p1_pid=$P_PID
check "initial sync serves the Ingress" "one" "$(served_by "$p1_http" web.example)"
check "/readyz after the first lists" "ready" "$(curl -s "http://127.0.0.1:$p1_admin/readyz")"
check "unknown host" "404" "$(served_by "$p1_http" nothing.example)"

# ---- Every watched kind changes what is served
api_apply "$(slice_json demo web web-a "$two_port")"
wait_for "EndpointSlice modified" "two" served_by "$p1_http" web.example
api_apply "$(service_json demo api)"
api_apply "$(slice_json demo api api-a "$one_port")"
api_apply "$(ingress_json demo api api.example api)"
wait_for "Ingress added" "one" served_by "$p1_http" api.example
api_delete networking.k8s.io/v1 Ingress demo api
wait_for "Ingress deleted" "404" served_by "$p1_http" api.example
api_apply "$(ingress_json demo api api.example api)"
wait_for "Ingress added again" "one" served_by "$p1_http" api.example
api_delete v1 Service demo api
wait_for "Service deleted: 503" "503" served_by "$p1_http" api.example
api_apply "$(service_json demo api)"
wait_for "Service back" "one" served_by "$p1_http" api.example
api_delete discovery.k8s.io/v1 EndpointSlice demo api-a
wait_for "EndpointSlice deleted: 503" "503" served_by "$p1_http" api.example
api_apply "$(slice_json demo api api-a "$one_port")"
wait_for "EndpointSlice back" "one" served_by "$p1_http" api.example
# IngressClass: handing the class to another controller takes its Ingresses away.
api_apply "$(ingress_class_json portico example.com/other)"
wait_for "IngressClass of another controller" "404" served_by "$p1_http" api.example
api_apply "$(ingress_class_json portico portico.dev/ingress-controller)"
wait_for "IngressClass ours again" "one" served_by "$p1_http" api.example
# Secret: TLS for a host, by SNI; plain HTTP then redirects.
api_apply "$(tls_secret_json demo web-tls web.example)"
api_apply "$(ingress_json demo web web.example web web-tls)"
https_cn() {
  echo | openssl s_client -connect "127.0.0.1:$p1_https" -servername web.example 2>/dev/null |
    openssl x509 -noout -subject 2>/dev/null | sed 's/.*CN *= *//'
}
wait_for "Secret served by SNI" "web.example" https_cn
check "plain HTTP redirects to HTTPS" "308" "$(served_by "$p1_http" web.example)"
api_apply "$(ingress_json demo web web.example web)"
wait_for "TLS removed" "two" served_by "$p1_http" web.example
# An object of another class, or a Service nobody routes to, does not recompile.
gen_before=$(grep -c 'published in' "$work/p1.err")
api_apply '{"apiVersion":"networking.k8s.io/v1","kind":"Ingress","metadata":{"name":"theirs","namespace":"demo"},"spec":{"ingressClassName":"nginx","rules":[{"host":"theirs.example","http":{"paths":[{"path":"/","pathType":"Prefix","backend":{"service":{"name":"unrelated","port":{"number":80}}}}]}}]}}'
api_apply "$(service_json demo unrelated)"
api_apply "$(slice_json demo unrelated unrelated-a "$one_port")"
sleep 0.5
check "irrelevant objects do not recompile" "$gen_before" "$(grep -c 'published in' "$work/p1.err")"
check "another class's Ingress is not served" "404" "$(served_by "$p1_http" theirs.example)"

# ---- Ingress status: written by the leader, the address of --publish-service
wait_for "Lease taken by the only candidate" "p1" lease_holder
wait_for "status.loadBalancer of a served Ingress" "203.0.113.7" ingress_status_ip demo web
check "no status on another class's Ingress" "" "$(ingress_status_ip demo theirs)"
metrics=$(curl -s "http://127.0.0.1:$p1_admin/metrics")
check_contains "metrics: synced" "portico_kube_synced 1" "$metrics"
check_contains "metrics: leader" "portico_leader 1" "$metrics"
check_contains "metrics: ignored events counted" "portico_kube_watch_events_ignored_total" "$metrics"
check "metrics: five first lists" "yes" "$(awk '/^portico_kube_lists_total/ {print ($2 >= 5) ? "yes" : "no"}' <<< "$metrics")"

# ---- Stream dropped: watch again from the last resourceVersion, no relist, nothing missed
lists_before=$(curl -s "$CONTROL/requests" | jq '[.requests[] | select((.query.watch // "") == "" and .method == "GET" and (.path | test("/ingresses$")))] | length')
api_control /drop-watches >/dev/null
api_apply "$(slice_json demo web web-a "$one_port")"
wait_for "change during a dropped stream" "one" served_by "$p1_http" web.example
lists_after=$(curl -s "$CONTROL/requests" | jq '[.requests[] | select((.query.watch // "") == "" and .method == "GET" and (.path | test("/ingresses$")))] | length')
check "a dropped stream does not relist" "$lists_before" "$lists_after"
resumed=$(curl -s "$CONTROL/requests" | jq -r '[.requests[] | select((.query.watch // "") != "" and (.path | test("/endpointslices$")))] | last | .query.resourceVersion')
check "the watch resumes from a resourceVersion" "yes" "$([ -n "$resumed" ] && [ "$resumed" != "0" ] && [ "$resumed" != "null" ] && echo yes)"

# ---- Stream stalled: the idle timeout (2 s here) notices, the change arrives after it
api_control "/stall-watches?seconds=30" >/dev/null
sleep 0.2
api_apply "$(slice_json demo web web-a "$two_port")"
for _ in $(seq 100); do
  [ "$(served_by "$p1_http" web.example)" == "two" ] && break
  sleep 0.1
done
check "change during a stalled stream, after the idle timeout" "two" "$(served_by "$p1_http" web.example)"
check_contains "the stall is logged" "nothing received for" "$(cat "$work/p1.err")"

# ---- 410 Gone: history compacted while the stream was down: relist, then watch
api_control /compact >/dev/null
api_apply "$(slice_json demo web web-a "$one_port")"
api_control /compact >/dev/null
api_control /drop-watches >/dev/null
wait_for "change across a compaction" "one" served_by "$p1_http" web.example
api_apply "$(slice_json demo web web-a "$two_port")"
wait_for "watching again after the relist" "two" served_by "$p1_http" web.example

# ---- Token rotation: the kubelet writes a new token; the old one stops being accepted
printf 'rotated-token-2' > "$KUBE_DIR/serviceaccount/token.new"
mv "$KUBE_DIR/serviceaccount/token.new" "$KUBE_DIR/serviceaccount/token"
api_control /tokens '{"tokens":["rotated-token-2"]}' >/dev/null
api_control /drop-watches >/dev/null
api_apply "$(slice_json demo web web-a "$one_port")"
wait_for "served after token rotation" "one" served_by "$p1_http" web.example

# ---- Rolling update of the backend under load: zero failed requests
roll() {
  sleep 0.3
  # New pods come up (ready), the old ones go not-ready (terminating), then go away.
  api_apply "$(slice_json demo web web-b "$two_port")"
  sleep 0.3
  api_apply "$(slice_json demo web web-a "$one_port" false)"
  sleep 0.3
  api_delete discovery.k8s.io/v1 EndpointSlice demo web-a
  sleep 0.3
  api_apply "$(slice_json demo web web-a "$one_port")"
  sleep 0.3
  api_delete discovery.k8s.io/v1 EndpointSlice demo web-b
}
roll &
roll_pid=$!
wrk_out=$(wrk -t1 -c8 -d3s -H 'Host: web.example' "http://127.0.0.1:$p1_http/" 2>&1)
wait $roll_pid
total=$(awk '/requests in/ {print $1}' <<< "$wrk_out")
bad=$(awk '/Non-2xx/ {print $NF}' <<< "$wrk_out")
errors=$(grep -c 'Socket errors' <<< "$wrk_out")
check "requests during the rolling update (some)" "yes" "$([ "${total:-0}" -gt 100 ] && echo yes)"
check "no non-2xx during the rolling update" "" "$bad"
check "no socket errors during the rolling update" "0" "$errors"

# ---- Losing the Lease (the API refuses Lease writes past the renew deadline): status writes
# stop, traffic does not; when the API is back the Lease is renewed.
api_control /fail-next '{"status":500,"count":100000,"path_contains":"/leases"}' >/dev/null
for _ in $(seq 150); do
  grep -q "p1 stopped leading" "$work/p1.err" && break
  sleep 0.1
done
check_contains "the leader steps down after the renew deadline" "p1 stopped leading" "$(cat "$work/p1.err")"
check "traffic goes on without the Lease" "one" "$(served_by "$p1_http" web.example)"
api_control /fail-next/clear >/dev/null
for _ in $(seq 100); do
  [ "$(grep -c "p1 now leads" "$work/p1.err")" -ge 2 ] && break
  sleep 0.1
done
check "the Lease is renewed when the API is back" "2" "$(grep -c "p1 now leads" "$work/p1.err")"

# ---- A second process (kubeconfig, client certificate): serves traffic, writes no status
start_kube p2 --kubeconfig "$KUBE_DIR/kubeconfig-cert"
p2_http=$P_HTTP p2_pid=$P_PID
check "the non-leader serves traffic" "one" "$(served_by "$p2_http" web.example)"
sleep 2.5
check "the Lease stays with p1" "p1" "$(lease_holder)"
# Someone overwrites the status: only the leader (p1) repairs it.
api_apply "$(api_objects ingresses | jq -c '[.items[] | select(.metadata.name == "web")][0] | .status.loadBalancer.ingress = [{"ip":"192.0.2.99"}] | del(.metadata.resourceVersion)')"
wait_for "the leader repairs the status" "203.0.113.7" ingress_status_ip demo web
status_writers=$(curl -s "$CONTROL/requests" | jq -r '[.requests[] | select(.method == "PUT" and (.path | test("/status$")))] | map(.user // .auth // "") | unique | length')
check "status written by one identity only" "1" "$status_writers"

# ---- Hand-over: p1 stops (releases the Lease), p2 takes it and keeps status right
kill -TERM "$p1_pid"
wait "$p1_pid" 2>/dev/null
wait_for "p2 takes the Lease" "p2" lease_holder
api_apply "$(api_objects ingresses | jq -c '[.items[] | select(.metadata.name == "web")][0] | .status.loadBalancer.ingress = [{"ip":"192.0.2.98"}] | del(.metadata.resourceVersion)')"
wait_for "the new leader writes status" "203.0.113.7" ingress_status_ip demo web
check "p2 still serves" "one" "$(served_by "$p2_http" web.example)"

# ---- --watch-namespace with manifests beside the API, small list pages
mkdir -p "$work/manifests"
cat > "$work/manifests/local.yaml" <<EOF
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: local, namespace: files}
spec:
  ingressClassName: portico
  rules:
  - host: local.example
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: local, port: {number: 80}}}}
---
apiVersion: v1
kind: Service
metadata: {name: local, namespace: files}
spec: {ports: [{name: http, port: 80}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: local-a, namespace: files, labels: {kubernetes.io/service-name: local}}
ports: [{name: http, port: $two_port}]
endpoints: [{addresses: [127.0.0.1]}]
EOF
api_apply "$(service_json team web)"
api_apply "$(slice_json team web web-a "$one_port")"
api_apply "$(slice_json team web web-b "$one_port")"
api_apply "$(slice_json team web web-c "$one_port")"
api_apply "$(ingress_json team web team.example web)"
curl -sf -X POST "$CONTROL/requests/clear" >/dev/null
api_control "/delay?ms=150" >/dev/null  # a slow API server: every answer 150 ms late
start_kube p3 --watch-namespace team --manifests "$work/manifests" --list-page-size 2 \
  --update-status off
p3_http=$P_HTTP
api_control "/delay?ms=0" >/dev/null
check "a watched namespace is served" "one" "$(served_by "$p3_http" team.example)"
check "another namespace is not" "404" "$(served_by "$p3_http" web.example)"
check "manifests beside the API" "two" "$(served_by "$p3_http" local.example)"
paged=$(curl -s "$CONTROL/requests" | jq '[.requests[] | select(.path == "/apis/discovery.k8s.io/v1/namespaces/team/endpointslices" and (.query.continue // "") != "")] | length')
check "lists are paged (limit 2, continue)" "yes" "$([ "${paged:-0}" -ge 1 ] && echo yes)"
cluster_wide=$(curl -s "$CONTROL/requests" | jq '[.requests[] | select(.path == "/apis/networking.k8s.io/v1/ingresses")] | length')
check "no cluster-wide list or watch of namespaced kinds" "0" "$cluster_wide"
sed -i "s/port: $two_port/port: $one_port/" "$work/manifests/local.yaml"
wait_for "a manifest edit reaches traffic in combined mode" "one" served_by "$p3_http" local.example
api_apply "$(slice_json team web web-a "$two_port")"
api_delete discovery.k8s.io/v1 EndpointSlice team web-b
api_delete discovery.k8s.io/v1 EndpointSlice team web-c
wait_for "an API change reaches traffic in combined mode" "two" served_by "$p3_http" team.example

# Waits (up to 30 s: sanitizer builds on a busy machine start slowly) until FILE holds TEXT and the
# admin listener on PORT answers.
wait_logged_and_listening() {
  local file=$1 text=$2 port=$3
  for _ in $(seq 300); do
    if grep -qF -- "$text" "$file" 2>/dev/null &&
      [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/healthz")" != "000" ]; then
      return 0
    fi
    sleep 0.1
  done
}

# ---- Not ready until every resource has been listed: secrets forbidden (403)
api_control /forbid '{"resource":"secrets"}' >/dev/null
f_admin=$(free_port)
KUBERNETES_SERVICE_HOST=127.0.0.1 KUBERNETES_SERVICE_PORT=$API_PORT \
  PORTICO_SERVICEACCOUNT_DIR="$KUBE_DIR/serviceaccount" \
  "$portico" serve --kube --http-addr "127.0.0.1:$(free_port)" --https-addr off \
  --admin-addr "127.0.0.1:$f_admin" > "$work/forbidden.out" 2> "$work/forbidden.err" &
pids+=($!)
wait_logged_and_listening "$work/forbidden.err" "secrets is forbidden" "$f_admin"
check "a forbidden resource: not ready" "503" \
  "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$f_admin/readyz")"
check_contains "a forbidden resource: logged" "secrets is forbidden" "$(cat "$work/forbidden.err")"
api_control /allow '{}' >/dev/null
ready=""
for _ in $(seq 100); do
  ready=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$f_admin/readyz")
  [ "$ready" == "200" ] && break
  sleep 0.1
done
check "ready once the resource can be listed" "200" "$ready"

# ---- Wrong credentials: a clear error, never ready, never a crash
bad_dir="$work/bad-sa"
mkdir -p "$bad_dir"
cp "$KUBE_DIR/serviceaccount/ca.crt" "$KUBE_DIR/serviceaccount/namespace" "$bad_dir/"
echo wrong > "$bad_dir/token"
b_admin=$(free_port)
KUBERNETES_SERVICE_HOST=127.0.0.1 KUBERNETES_SERVICE_PORT=$API_PORT PORTICO_SERVICEACCOUNT_DIR="$bad_dir" \
  "$portico" serve --kube --http-addr "127.0.0.1:$(free_port)" --https-addr off \
  --admin-addr "127.0.0.1:$b_admin" > "$work/bad.out" 2> "$work/bad.err" &
bad_pid=$!
pids+=($bad_pid)
wait_logged_and_listening "$work/bad.err" "401" "$b_admin"
check "wrong token: not ready" "503" "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$b_admin/readyz")"
check_contains "wrong token: logged" "401" "$(cat "$work/bad.err")"
check "wrong token: still running" "yes" "$(kill -0 "$bad_pid" 2>/dev/null && echo yes)"

finish
