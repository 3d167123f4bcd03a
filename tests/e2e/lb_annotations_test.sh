#!/usr/bin/env bash
# ingress-nginx's endpoint-choice annotations through a real `portico serve`, over HTTP/1.1 and
# h2c, with backends that name themselves: canary by weight (binomial bounds), by header
# (always / never / a value), cookie affinity (sticks across 100 requests, moves when its
# endpoint goes away after a hot reload, a forged cookie picks nothing), upstream-hash-by (stable
# per key, spread across keys).
source "$(dirname "$0")/lib.sh"

main_ports=()
for name in main-a main-b main-c; do
  start_backend "$name"
  main_ports+=("$BACKEND_PORT")
done
start_backend canary-a
canary_port=$BACKEND_PORT

m="$work/manifests"
mkdir -p "$m"

# ingress NAME HOST SERVICE ANNOTATIONS(flow map body, may be empty)
ingress() {
  printf -- '---\napiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: %s\n  namespace: lb\n  annotations: {%s}\nspec:\n  rules:\n  - host: %s\n    http:\n      paths: [{path: /, pathType: Prefix, backend: {service: {name: %s, port: {number: 80}}}}]\n' \
    "$1" "$4" "$2" "$3"
}
N=nginx.ingress.kubernetes.io

write_manifests() {  # write_manifests MAIN_PORT...
  {
    service_yaml lb main "$@"
    service_yaml lb canary "$canary_port"
    ingress weight weight.test main ""
    ingress weight-canary weight.test canary "$N/canary: \"true\", $N/canary-weight: \"20\""
    ingress header header.test main ""
    ingress header-canary header.test canary \
      "$N/canary: \"true\", $N/canary-by-header: X-Canary, $N/canary-weight: \"50\""
    ingress value value.test main ""
    ingress value-canary value.test canary \
      "$N/canary: \"true\", $N/canary-by-header: X-Canary, $N/canary-by-header-value: beta"
    ingress sticky sticky.test main "$N/affinity: cookie, $N/session-cookie-name: route"
    ingress hash hash.test main "$N/upstream-hash-by: \"tenant-\$http_x_tenant-\$arg_user\""
  } > "$m/all.yaml.tmp"
  mv "$m/all.yaml.tmp" "$m/all.yaml"
}
write_manifests "${main_ports[@]}"
start_portico "$m" --access-log off || exit 1

routes=$("$portico" routes -f "$m" 2>&1)
check_contains "routes shows the canary of weight.test" \
  "canary weight=20/100 -> canary:80" "$routes"
check_lacks "no 'not applied' warning" "not applied" "$routes"
resolved=$("$portico" routes -f "$m" --resolve http://header.test/x 2>&1)
check_contains "--resolve shows the canary" "canary header=X-Canary weight=50/100" "$resolved"

# fetch PROTO HOST COUNT PATH_PREFIX [HEADER...]: COUNT requests to PATH_PREFIX1..COUNT over one
# connection (curl for HTTP/1.1, nghttp for h2c: concurrent streams); the response header fields
# of all of them as lower-case "name: value" lines on stdout and in $work/headers. (Not the
# bodies: nghttp -v may print a body in pieces between frame lines.)
fetch() {
  local proto=$1 host=$2 count=$3 prefix=$4 h args=()
  shift 4
  if [ "$proto" = h1 ]; then
    : > "$work/urls"
    for i in $(seq "$count"); do echo "url = \"http://127.0.0.1:$HTTP_PORT$prefix$i\"" >> "$work/urls"; done
    for h in "$@"; do args+=(-H "$h"); done
    curl -s -H "Host: $host" "${args[@]}" -D "$work/raw-headers" -K "$work/urls" > /dev/null
    tr -d '\r' < "$work/raw-headers" | grep ': ' | sed 's/^\([^:]*\):/\L\1:/' > "$work/headers"
  else
    for h in "$@"; do args+=(-H "${h%%: *}: ${h#*: }"); done
    for i in $(seq "$count"); do args+=("http://127.0.0.1:$HTTP_PORT$prefix$i"); done
    nghttp -v -H ":authority: $host" "${args[@]}" > "$work/raw-h2"
    grep -o 'recv (stream_id=[0-9]*) [a-z0-9:-]*: .*' "$work/raw-h2" | sed 's/^recv (stream_id=[0-9]*) //' > "$work/headers"
  fi
  cat "$work/headers"
}
# The backends that answered (each names itself in X-Backend).
backends() { sed -n 's/^x-backend: //p'; }
set_cookies() { grep -c '^set-cookie: route=' "$work/headers"; }
token_of_headers() { grep '^set-cookie: route=' "$work/headers" | tail -1 | sed 's/^set-cookie: route=\([^;]*\);.*/\1/'; }

for proto in h1 h2c; do
  # ---- canary weight: 1000 requests at 20%: mean 200, sd 12.6; 5 sigma: 137..263
  got=$(fetch $proto weight.test 1000 "/w?i=" | backends)
  total=$(echo "$got" | grep -c .)
  canary=$(echo "$got" | grep -c '^canary-a$')
  check "$proto weight: all 1000 answered" 1000 "$total"
  if [ "$total" != 1000 ]; then  # what the others got, for the log
    echo "statuses: $(grep -E '^(:status|http/)' "$work/headers" | sort | uniq -c | tr '\n' ' ')"
    echo "portico stderr tail:"; tail -5 "$work/portico.err"
  fi
  if [ "$canary" -ge 137 ] && [ "$canary" -le 263 ]; then
    check "$proto weight: canary share within 5 sigma of 20%" ok ok
  else
    check "$proto weight: canary share within 5 sigma of 20% (137..263)" in-bounds "$canary"
  fi
  echo "$proto: $canary of 1000 to the canary at canary-weight 20"

  # ---- canary by header: always / never override the 50% weight; another value: the weight
  got=$(fetch $proto header.test 40 "/h?i=" "X-Canary: always" | backends | sort -u | tr '\n' ' ')
  check "$proto header always: every request to the canary" "canary-a " "$got"
  got=$(fetch $proto header.test 40 "/h?i=" "X-Canary: never" | backends | grep -c '^canary-a$')
  check "$proto header never: no request to the canary" 0 "$got"
  got=$(fetch $proto header.test 40 "/h?i=" "X-Canary: other" | backends | grep -c '^canary-a$')
  if [ "$got" -gt 0 ] && [ "$got" -lt 40 ]; then
    check "$proto header other value: the weight decides" ok ok
  else
    check "$proto header other value: the weight decides (some, not all, of 40)" mixed "$got"
  fi

  # ---- canary by header value: only "beta" selects; "always" is just another value here
  got=$(fetch $proto value.test 40 "/h?i=" "X-Canary: beta" | backends | sort -u | tr '\n' ' ')
  check "$proto header value beta: canary" "canary-a " "$got"
  got=$(fetch $proto value.test 40 "/h?i=" "X-Canary: always" | backends | grep -c '^canary-a$')
  check "$proto header value other: main" 0 "$got"
  got=$(fetch $proto value.test 40 "/h?i=" | backends | grep -c '^canary-a$')
  check "$proto no header, no weight: main" 0 "$got"

  # ---- upstream-hash-by: the same key always reaches the same endpoint; keys spread
  chosen=()
  stable=yes
  for k in $(seq 30); do
    got=$(fetch $proto hash.test 10 "/x?user=u$k&n=" "X-Tenant: t1" | backends | sort -u)
    [ "$(echo "$got" | grep -c .)" = 1 ] || stable="no: key u$k went to $(echo $got)"
    chosen+=("$got")
  done
  check "$proto hash: each key sticks to one endpoint" yes "$stable"
  distinct=$(printf '%s\n' "${chosen[@]}" | sort -u | grep -c .)
  if [ "$distinct" -ge 2 ]; then
    check "$proto hash: 30 keys spread over endpoints" ok ok
  else
    check "$proto hash: 30 keys spread over endpoints (distinct endpoints)" ">=2" "$distinct"
  fi
  # The key is the expanded text: another path with the same user and tenant, same endpoint.
  a=$(fetch $proto hash.test 1 "/?user=u1&n=" "X-Tenant: t2" | backends)
  b=$(fetch $proto hash.test 1 "/other?user=u1&n=" "X-Tenant: t2" | backends)
  check "$proto hash: key is the expanded text, not the path" "$a" "$b"

  # ---- cookie affinity: the first response pins, 100 requests with the cookie stick
  got=$(fetch $proto sticky.test 1 "/s?i=" | backends)
  stuck=$got
  check "$proto sticky: Set-Cookie on a first request" 1 "$(set_cookies)"
  cookie_line=$(grep '^set-cookie: route=' "$work/headers")
  check_contains "$proto sticky: Path is the Ingress path" "; Path=/;" "$cookie_line"
  check_contains "$proto sticky: HttpOnly" "HttpOnly" "$cookie_line"
  token=$(token_of_headers)
  check "$proto sticky: token is 16 hex digits" yes "$([[ "$token" =~ ^[0-9a-f]{16}$ ]] && echo yes || echo "no: $token")"
  check_lacks "$proto sticky: no address in the cookie" "127.0.0.1" "$cookie_line"
  got=$(fetch $proto sticky.test 100 "/s?i=" "Cookie: route=$token" | backends)
  check "$proto sticky: 100 answered" 100 "$(echo "$got" | grep -c .)"
  check "$proto sticky: all 100 on the pinned endpoint" "$stuck" "$(echo "$got" | sort -u | tr '\n' ' ' | sed 's/ $//')"
  check "$proto sticky: no Set-Cookie while pinned" 0 "$(set_cookies)"
  # A cookie naming no current endpoint: served by the balancer, with a new cookie.
  fetch $proto sticky.test 1 "/s?i=" "Cookie: route=0123456789abcdef" > /dev/null
  check "$proto sticky: forged token answered with a new cookie" 1 "$(set_cookies)"
  check_lacks "$proto sticky: forged token not kept" "0123456789abcdef" "$(token_of_headers)"

  # Its endpoint goes away (manifest change, hot reload): the next request moves and re-pins.
  remaining=()
  names=(main-a main-b main-c)
  for i in 0 1 2; do [ "${names[$i]}" = "$stuck" ] || remaining+=("${main_ports[$i]}"); done
  write_manifests "${remaining[@]}"
  moved=""
  for _ in $(seq 100); do
    got=$(fetch $proto sticky.test 1 "/s?i=" "Cookie: route=$token" | backends)
    if [ -n "$got" ] && [ "$got" != "$stuck" ]; then moved=$got; break; fi
    sleep 0.05
  done
  check "$proto sticky: moved off the removed endpoint" yes "$([ -n "$moved" ] && echo yes || echo "no: still $stuck")"
  check "$proto sticky: the move sets a new cookie" 1 "$(set_cookies)"
  new_token=$(token_of_headers)
  got=$(fetch $proto sticky.test 40 "/s?i=" "Cookie: route=$new_token" | backends | sort -u | tr '\n' ' ')
  check "$proto sticky: sticks to the new endpoint" "$moved " "$got"
  check "$proto sticky: no new cookie once re-pinned" 0 "$(set_cookies)"
  write_manifests "${main_ports[@]}"
  sleep 0.3
done

finish
