#!/usr/bin/env bash
# Compares `portico routes` with `nginx -t` on the same generated rules, in the same run, and
# prints the routing microbenchmarks (compile and lookup medians). A third row, `nginx -t` on the
# same servers and locations without proxy_pass/upstreams, shows nginx's parsing cost alone (its
# linear upstream search per proxy_pass dominates the full figure; see bench/RESULTS.md).
#
#   bench/routes_vs_nginx.sh [BUILD_DIR]        (default: build/release)
#
# Builds nothing: build first with
#   cmake --preset release && cmake --build build/release --target portico portico_bench_gen routing_bench
#
# Environment:
#   RUNS=5              timed runs of each command (after one untimed warm-up), interleaved
#   INGRESSES=10000     size of the generated set (one host and 5 paths per Ingress)
#   SEED=1              generator seed
#   OUT=bench/out       where the set is written (manifests/ and nginx/)
#   PORTICO_ARGS="routes -f <OUT>/manifests -o json"   the portico command line
#   BENCH_ARGS=...      routing_bench arguments (default: 5 repetitions, aggregates only)
#   SKIP_MICRO=1        do not run routing_bench
#
# Exit status: 0 when every measurement ran, 1 when something was missing or failed (what was
# measured is still printed).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${1:-$root/build/release}
[[ $build = /* ]] || build=$PWD/$build
runs=${RUNS:-5}
ingresses=${INGRESSES:-10000}
seed=${SEED:-1}
out=${OUT:-$root/bench/out}
gen=$build/bench/portico_bench_gen
micro=$build/bench/routing_bench
portico=$build/portico
incomplete=()

die() {
  echo "routes_vs_nginx: $*" >&2
  exit 1
}

[[ -x $gen ]] || die "$gen not found; build it: cmake --build $build --target portico_bench_gen"
command -v nginx >/dev/null || die "nginx not found; apt-get install -y nginx-light"
[[ -x /usr/bin/time ]] || die "/usr/bin/time not found; apt-get install -y time"
[[ $runs =~ ^[1-9][0-9]*$ ]] || die "RUNS must be a positive integer, got '$runs'"

scratch=$(mktemp -d "${TMPDIR:-/tmp}/routes_vs_nginx.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
mkdir -p "$scratch/nginx-prefix"

echo "== machine"
echo "date:    $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "cpu:     $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
echo "memory:  $(awk '/MemTotal/ {printf "%.1f GB", $2 / 1048576}' /proc/meminfo)"
echo "nginx:   $(nginx -v 2>&1 | sed 's/^nginx version: //')"
echo "portico: $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo 'no commit yet'), build $build"
echo

echo "== generating $ingresses Ingresses (seed $seed) into $out"
"$gen" --ingresses "$ingresses" --seed "$seed" --out "$out"
manifests=$out/manifests
conf=$out/nginx/nginx.conf
echo

if [[ -n ${PORTICO_ARGS:-} ]]; then
  # shellcheck disable=SC2206  # word splitting of PORTICO_ARGS is intended
  portico_cmd=("$portico" $PORTICO_ARGS)
else
  portico_cmd=("$portico" routes -f "$manifests" -o json)
fi
nginx_cmd=(nginx -t -q -e stderr -p "$scratch/nginx-prefix/" -c "$conf")
# The same servers and locations without upstreams/proxy_pass: what nginx spends parsing them,
# without its linear upstream search per proxy_pass (see RESULTS.md). A reference, not a target.
floor_conf=$out/nginx/nginx-locations-only.conf
floor_cmd=(nginx -t -q -e stderr -p "$scratch/nginx-prefix/" -c "$floor_conf")

# run_once NAME CMD...: one timed run; appends "wall_ms peak_rss_kb cpu_percent" to NAME.dat.
run_once() {
  local name=$1
  shift
  local start end rss cpu
  start=$(date +%s%N)
  if ! /usr/bin/time -f '%M %P' -o "$scratch/$name.time" "$@" >"$scratch/$name.out" \
    2>"$scratch/$name.err"; then
    echo "routes_vs_nginx: '$*' failed:" >&2
    head -n 20 "$scratch/$name.err" >&2
    return 1
  fi
  end=$(date +%s%N)
  read -r rss cpu <"$scratch/$name.time"
  echo "$(((end - start) / 1000000)) $rss ${cpu%\%}" >>"$scratch/$name.dat"
}

# median NAME COLUMN
median() {
  sort -n -k"$2,$2" "$scratch/$1.dat" | awk -v c="$2" '{ v[NR] = $c } END {
    if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# run_named NAME: one timed run of the command called NAME.
run_named() {
  case $1 in
    portico) run_once portico "${portico_cmd[@]}" ;;
    nginx) run_once nginx "${nginx_cmd[@]}" ;;
    nginx-locations) run_once nginx-locations "${floor_cmd[@]}" ;;
  esac
}

label() {
  case $1 in
    portico) echo "portico routes" ;;
    nginx) echo "nginx -t" ;;
    nginx-locations) echo "nginx -t, locations only" ;;
  esac
}

measured=()
if [[ ! -x $portico ]]; then
  echo "routes_vs_nginx: $portico not found; build it: cmake --build $build --target portico" >&2
  incomplete+=("portico binary missing")
else
  echo "== warm-up: ${portico_cmd[*]}"
  if run_once portico-warmup "${portico_cmd[@]}"; then
    echo "output: $(wc -c <"$scratch/portico-warmup.out") bytes;" \
      "stderr: $(wc -l <"$scratch/portico-warmup.err") lines"
    head -n 5 "$scratch/portico-warmup.err"
    measured+=(portico)
  else
    incomplete+=("portico routes failed")
  fi
fi
echo "== warm-up: ${nginx_cmd[*]}"
run_once nginx-warmup "${nginx_cmd[@]}" || die "nginx -t rejects $conf"
measured+=(nginx)
echo "== warm-up: ${floor_cmd[*]}"
run_once nginx-locations-warmup "${floor_cmd[@]}" || die "nginx -t rejects $floor_conf"
measured+=(nginx-locations)

echo "== $runs timed runs of each, interleaved"
for ((i = 1; i <= runs; i++)); do
  for name in "${measured[@]}"; do
    if ! run_named "$name"; then
      [[ $name == portico ]] || die "$(label "$name") failed on run $i"
      incomplete+=("portico run $i failed")
      break 2
    fi
  done
  echo -n "."
done
echo
echo

printf '%-36s %14s %18s %8s\n' "$ingresses Ingresses" "wall ms (med)" "peak RSS MB (med)" "CPU %"
for name in "${measured[@]}"; do
  [[ -s $scratch/$name.dat ]] || continue
  printf '%-36s %14s %18.1f %8s\n' "$(label "$name")" "$(median "$name" 1)" \
    "$(awk -v k="$(median "$name" 2)" 'BEGIN { print k / 1024 }')" "$(median "$name" 3)"
done
if [[ -s $scratch/portico.dat ]]; then
  for reference in nginx nginx-locations; do
    awk -v pt="$(median portico 1)" -v nt="$(median $reference 1)" \
      -v pm="$(median portico 2)" -v nm="$(median $reference 2)" -v label="$(label $reference)" '
      BEGIN { printf "%-36s %14.3f %18.3f\n", "portico / " label, pt / nt, pm / nm }'
  done
  awk -v pt="$(median portico 1)" -v nt="$(median nginx 1)" -v ft="$(median nginx-locations 1)" \
    -v pm="$(median portico 2)" -v nm="$(median nginx 2)" 'BEGIN {
      printf "targets: wall <= nginx -t: %s; peak RSS <= 25%% of nginx -t: %s; ",
        (pt <= nt ? "MET" : "NOT MET"), (pm <= 0.25 * nm ? "MET" : "NOT MET")
      printf "wall <= nginx -t on locations only: %s\n", (pt <= ft ? "MET" : "NOT MET") }'
fi
echo "raw runs (wall ms, peak RSS KB, CPU %):"
for name in "${measured[@]}"; do
  [[ -s $scratch/$name.dat ]] && echo "  $name: $(tr '\n' ';' <"$scratch/$name.dat")"
done
echo

if [[ ${SKIP_MICRO:-0} != 1 ]]; then
  if [[ ! -x $micro ]]; then
    echo "routes_vs_nginx: $micro not found; build it: cmake --build $build --target routing_bench" >&2
    incomplete+=("routing_bench missing")
  else
    echo "== routing_bench (medians of 5 repetitions)"
    # shellcheck disable=SC2206
    bench_args=(${BENCH_ARGS:---benchmark_repetitions=5 --benchmark_report_aggregates_only=true})
    if "$micro" "${bench_args[@]}" >"$scratch/micro.out" 2>"$scratch/micro.err"; then
      grep -E '^(Benchmark|-{10})|_median' "$scratch/micro.out" || cat "$scratch/micro.out"
      grep -i 'warning' "$scratch/micro.err" || true
    else
      cat "$scratch/micro.out" "$scratch/micro.err" >&2
      incomplete+=("routing_bench failed")
    fi
  fi
fi

if ((${#incomplete[@]})); then
  echo
  echo "INCOMPLETE: ${incomplete[*]}"
  exit 1
fi
