#!/usr/bin/env bash
# The Helm chart charts/portico: helm lint (plain and --strict) and helm template with every value
# set in tests/chart/values/, each rendering validated offline against the Kubernetes schemas and
# the chart's promises (tests/chart/validate.mjs); the invalid value set must be rejected naming
# its fields; template-time checks must fail with a message; values.yaml, values.schema.json and
# the chart's README must agree.
#
#   bash tests/chart/chart_test.sh [PATH_TO_PORTICO]
#
# With PATH_TO_PORTICO, the flags each value set renders are also given to that binary's option
# parser (`portico serve --kube FLAGS --help`), so a flag the binary does not know fails here.
#
# Needs npm/node, tar, unzip; helm comes from scripts/fetch_helm.sh and the npm packages
# (pinned by tests/chart/package-lock.json) are installed into
# ${PORTICO_TOOLS_DIR:-$HOME/.cache/portico/tools}/node, both only when missing.
# Prints "N passed, M failed" and exits non-zero on failure.

set -uo pipefail
portico=${1:-}
src=${PORTICO_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
chart=$src/charts/portico
here=$src/tests/chart
tools=${PORTICO_TOOLS_DIR:-$HOME/.cache/portico/tools}
export PORTICO_TOOLS_DIR=$tools
source "$(dirname "$0")/../check.sh"

abort() {
  failures=$((failures + 1))
  echo "FAIL: $*"
  finish
}

# Runs a node script and adds its "validate: N passed, M failed" to the totals.
run_node() {  # run_node NAME SCRIPT ARGS...
  local name=$1 out rc n m
  shift
  out=$(node "$@" 2>&1)
  rc=$?
  [ -n "$out" ] && printf '%s\n' "$out" | grep -v '^validate: [0-9]* passed, [0-9]* failed$'
  if [[ "$out" =~ validate:\ ([0-9]+)\ passed,\ ([0-9]+)\ failed ]]; then
    n=${BASH_REMATCH[1]}
    m=${BASH_REMATCH[2]}
    passed=$((passed + n))
    failures=$((failures + m))
    if [ "$rc" -ne 0 ] && [ "$m" -eq 0 ]; then
      failures=$((failures + 1))
      echo "FAIL: $name: exited $rc"
    fi
  else
    failures=$((failures + 1))
    echo "FAIL: $name: did not run to the end (exit $rc)"
  fi
}

# --- tools -------------------------------------------------------------------------------------

if ! helm=$(bash "$src/scripts/fetch_helm.sh"); then
  abort "scripts/fetch_helm.sh could not provide helm"
fi
command -v node >/dev/null 2>&1 || abort "node is required"

# The npm packages of tests/chart/package-lock.json, in the tools cache; reinstalled only when the
# lock file changes. Installed beside, then moved into place, so a half-done install never counts.
node_dir=$tools/node
lock_sum=$(sha256sum "$here/package-lock.json" | cut -d' ' -f1)
if [ "$(cat "$node_dir/.package-lock.sha256" 2>/dev/null)" != "$lock_sum" ] || [ ! -d "$node_dir/node_modules" ]; then
  echo "chart_test: installing the pinned npm packages into $node_dir" >&2
  mkdir -p "$tools"
  staging=$(mktemp -d "$tools/.node.XXXXXX")
  cp "$here/package.json" "$here/package-lock.json" "$staging/"
  if ! npm ci --prefix "$staging" --ignore-scripts --no-audit --no-fund --loglevel=error >"$work/npm.log" 2>&1; then
    cat "$work/npm.log"
    rm -rf "$staging"
    abort "npm ci of tests/chart/package-lock.json failed"
  fi
  echo "$lock_sum" > "$staging/.package-lock.sha256"
  rm -rf "$node_dir"
  mv -T "$staging" "$node_dir" 2>/dev/null || rm -rf "$staging"
fi
export PORTICO_CHART_NODE_DIR=$node_dir

# --- the value sets ----------------------------------------------------------------------------

# Release name and namespace per value set (watch-namespaces also covers fullname = RELEASE-portico).
declare -A release=([watch-namespaces]=edge)
declare -A namespace=([watch-namespaces]=edge-system)

for values in "$here"/values/*.yaml; do
  set=$(basename "$values" .yaml)
  [ "$set" == invalid ] && continue
  rel=${release[$set]:-portico}
  ns=${namespace[$set]:-ingress}

  out=$("$helm" lint "$chart" --namespace "$ns" -f "$values" 2>&1)
  rc=$?
  check "helm lint ($set)" "0" "$rc"
  [ "$rc" -ne 0 ] && printf '%s\n' "$out" | grep -E 'ERROR|WARNING' | head -20
  out=$("$helm" lint --strict "$chart" --namespace "$ns" -f "$values" 2>&1)
  rc=$?
  check "helm lint --strict ($set)" "0" "$rc"
  [ "$rc" -ne 0 ] && printf '%s\n' "$out" | grep -E 'ERROR|WARNING' | head -20

  # NOTES.txt renders only on install: a client-side dry run renders it without a cluster.
  out=$("$helm" install "$rel" "$chart" --dry-run=client --namespace "$ns" -f "$values" 2>&1)
  rc=$?
  check "helm install --dry-run=client ($set)" "0" "$rc"
  check_contains "NOTES.txt renders ($set)" "is installed as $rel in namespace $ns" "$out"

  if "$helm" template "$rel" "$chart" --namespace "$ns" -f "$values" >"$work/$set.yaml" 2>"$work/$set.err"; then
    passed=$((passed + 1))
    run_node "validate.mjs ($set)" "$here/validate.mjs" --set "$set" --release "$rel" --namespace "$ns" \
      --chart-dir "$chart" --args-out "$work/$set.args" "$work/$set.yaml"
    # The flags the chart passes, parsed by the real binary's option parser (--help after them:
    # it exits 0 only when every flag before it parsed).
    if [ -x "$portico" ] && [ -f "$work/$set.args" ]; then
      mapfile -t chart_args < "$work/$set.args"
      "$portico" serve --kube "${chart_args[@]}" --help >/dev/null 2>"$work/$set.flags.err"
      rc=$?
      check "portico serve --kube accepts the chart's flags ($set)" "0" "$rc"
      [ "$rc" -ne 0 ] && head -n 3 "$work/$set.flags.err"
    fi
  else
    failures=$((failures + 1))
    echo "FAIL: helm template ($set): $(cat "$work/$set.err")"
  fi
done

# --- the invalid value set: rejected by values.schema.json, naming every field ------------------

invalid=$here/values/invalid.yaml
lint_out=$("$helm" lint "$chart" -f "$invalid" 2>&1)
check "helm lint rejects values/invalid.yaml (exit status)" "1" "$?"
template_out=$("$helm" template portico "$chart" -f "$invalid" 2>&1)
check "helm template rejects values/invalid.yaml (exit status)" "1" "$?"
for field in "at '/kind'" "at '/replicaCount'" "at '/service/type'" "at '/logLevel'" "'replicas' not allowed"; do
  check_contains "helm lint names the field ($field)" "$field" "$lint_out"
  check_contains "helm template names the field ($field)" "$field" "$template_out"
done

# --- settings the schema cannot judge fail at template time, saying why -------------------------

expect_template_failure() {  # expect_template_failure NAME NEEDLE --set ...
  local name=$1 needle=$2 out
  shift 2
  out=$("$helm" template portico "$chart" "$@" 2>&1)
  check "$name: helm template fails" "1" "$?"
  check_contains "$name: the message" "$needle" "$out"
}
expect_template_failure "autoscaling with a DaemonSet" "autoscaling.enabled" \
  --set kind=DaemonSet --set autoscaling.enabled=true
expect_template_failure "terminationGracePeriodSeconds too short" \
  "terminationGracePeriodSeconds (30) must exceed" --set terminationGracePeriodSeconds=30
expect_template_failure "publishService without the Service" "publishService.enabled with service.enabled false" \
  --set service.enabled=false
expect_template_failure "ServiceMonitor without the metrics Service" "metrics.serviceMonitor.enabled needs" \
  --set metrics.serviceMonitor.enabled=true --set metrics.service.enabled=false
expect_template_failure "an existing ServiceAccount without a name" "serviceAccount.name is required" \
  --set serviceAccount.create=false
expect_template_failure "minReplicas above maxReplicas" "autoscaling.minReplicas must not exceed" \
  --set autoscaling.enabled=true --set autoscaling.minReplicas=5 --set autoscaling.maxReplicas=3
out=$("$helm" template portico "$chart" --set service.nodePorts.http=http 2>&1)
check "a nodePort that is not a number: helm template fails" "1" "$?"
check_contains "a nodePort that is not a number: the message" "/service/nodePorts/http" "$out"

# --- switches that change what is rendered -----------------------------------------------------

out=$("$helm" template portico "$chart" --set updateStatus=false 2>&1)
check_contains "updateStatus=false: the flag" '"--update-status=off"' "$out"
check_lacks "updateStatus=false: no write access to ingresses/status" "ingresses/status" "$out"
check_lacks "updateStatus=false: no leader-election Role (no election without status)" "leases" "$out"
out=$("$helm" template portico "$chart" --set publishService.enabled=false 2>&1)
check_lacks "nothing to publish: no --publish-service" "--publish-service" "$out"
check_lacks "nothing to publish: no write access to ingresses/status" "ingresses/status" "$out"
check_lacks "nothing to publish: no leader-election Role" "leases" "$out"
out=$("$helm" template portico "$chart" --set publishStatusAddress=lb.example.test 2>&1)
check_contains "publishStatusAddress: the flag" '"--publish-status-address=lb.example.test"' "$out"
check_lacks "publishStatusAddress: no --publish-service" "--publish-service" "$out"
out=$("$helm" template portico "$chart" --set publishService.pathOverride=edge/lb 2>&1)
check_contains "publishService.pathOverride: the flag" '"--publish-service=edge/lb"' "$out"
out=$("$helm" template portico "$chart" --set rbac.create=false 2>&1)
check_lacks "rbac.create=false: no RBAC objects" "rbac.authorization.k8s.io" "$out"
out=$("$helm" template portico "$chart" --set lifecycle.preStopSleepSeconds=0 2>&1)
check_lacks "preStopSleepSeconds=0: no preStop hook" "preStop:" "$out"
check_contains "preStopSleepSeconds=0: grace = shutdown grace + 10" "terminationGracePeriodSeconds: 40" "$out"
out=$("$helm" template portico "$chart" --set ingressClassResource.enabled=false 2>&1)
check_lacks "ingressClassResource.enabled=false: no IngressClass" "kind: IngressClass" "$out"
out=$("$helm" template portico "$chart" --set replicaCount=2 --set podDisruptionBudget.enabled=false 2>&1)
check_lacks "podDisruptionBudget.enabled=false: no PodDisruptionBudget" "kind: PodDisruptionBudget" "$out"
out=$("$helm" template portico "$chart" --set kind=DaemonSet --set podDisruptionBudget.enabled=true 2>&1)
check_contains "a DaemonSet with podDisruptionBudget.enabled=true" "kind: PodDisruptionBudget" "$out"
out=$("$helm" template portico "$chart" --set service.type=ClusterIP 2>&1)
check_lacks "service.type=ClusterIP: no externalTrafficPolicy" "externalTrafficPolicy" "$out"
"$helm" template portico "$chart" --kube-version 1.23.0 >/dev/null 2>&1
check "renders for the oldest Kubernetes supported (1.23)" "0" "$?"
"$helm" package "$chart" --destination "$work/package" >/dev/null 2>&1
check "helm package" "0" "$?"

# --- values.yaml, values.schema.json and README.md agree ---------------------------------------

run_node "values_doc_check.mjs" "$here/values_doc_check.mjs" "$chart"

finish
