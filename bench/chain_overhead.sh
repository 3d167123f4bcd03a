#!/usr/bin/env bash
# The must-show of the workload-chain issue: `portico routes` on the 10,000-Ingress set plus a
# Deployment per Service (`portico_bench_gen --workloads`), against the same set without
# workloads: median wall time, CPU time (user + system: steadier than wall time when other work
# shares the machine) and peak RSS of each, the ratios, and the spread of the wall-time ratio over
# the interleaved pairs of runs.
#
#   bench/chain_overhead.sh [BUILD_DIR]        (default: build/release)
#
# Environment: RUNS=5 (timed runs each, interleaved, after one untimed warm-up), INGRESSES=10000,
# SEED=1, OUT=<scratch dir> (where both sets are written).
# Exit status: 0 when every run exited 0 or 1 (diagnostics), 1 otherwise.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${1:-$root/build/release}
[[ $build = /* ]] || build=$PWD/$build
runs=${RUNS:-5}
ingresses=${INGRESSES:-10000}
seed=${SEED:-1}
gen=$build/bench/portico_bench_gen
portico=$build/portico
[[ -x $gen && -x $portico ]] || { echo "chain_overhead: build portico and portico_bench_gen in $build" >&2; exit 1; }
[[ -x /usr/bin/time ]] || { echo "chain_overhead: /usr/bin/time not found (apt-get install time)" >&2; exit 1; }

scratch=$(mktemp -d "${TMPDIR:-/tmp}/chain_overhead.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
out=${OUT:-$scratch}
# The two sets' directory names are as long as each other: every route names its file in the
# output, and a longer path made the run with workloads write ~200 KB more for nothing.
"$gen" --ingresses "$ingresses" --seed "$seed" --out "$out/plain" >/dev/null
"$gen" --ingresses "$ingresses" --seed "$seed" --out "$out/chain" --workloads | head -1

run() {  # run SET -> "wall-ms kb cpu-ms"
  local start end rc=0
  start=$(date +%s%N)
  /usr/bin/time -f '%M %U %S' -o "$scratch/time" "$portico" routes -f "$out/$1/manifests" \
    -o json >"$scratch/$1.json" || rc=$?
  end=$(date +%s%N)
  ((rc <= 1)) || { echo "chain_overhead: portico exited $rc on $1" >&2; exit 1; }
  read -r kb user sys <"$scratch/time"
  echo "$(((end - start) / 1000000)) $kb $(echo "($user + $sys) * 1000 / 1" | bc)"
}

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

run plain >/dev/null
run chain >/dev/null
: >"$scratch/plain.txt"
: >"$scratch/chain.txt"
for ((i = 0; i < runs; i++)); do
  run plain >>"$scratch/plain.txt"
  run chain >>"$scratch/chain.txt"
done
pm=$(cut -d' ' -f1 "$scratch/plain.txt" | median)
pk=$(cut -d' ' -f2 "$scratch/plain.txt" | median)
pcpu=$(cut -d' ' -f3 "$scratch/plain.txt" | median)
wm=$(cut -d' ' -f1 "$scratch/chain.txt" | median)
wk=$(cut -d' ' -f2 "$scratch/chain.txt" | median)
wcpu=$(cut -d' ' -f3 "$scratch/chain.txt" | median)
links=$(jq '[.routes[] | .cluster] | unique | length' "$scratch/chain.json" 2>/dev/null || echo '?')
printf '%-28s %10s %10s %12s\n' "set ($runs runs, median)" "wall ms" "CPU ms" "peak RSS MB"
printf '%-28s %10d %10d %12.1f\n' "without workloads" "$pm" "$pcpu" "$(echo "$pk/1024" | bc -l)"
printf '%-28s %10d %10d %12.1f\n' "with a Deployment/Service" "$wm" "$wcpu" "$(echo "$wk/1024" | bc -l)"
printf 'ratio: wall %.3f, CPU %.3f, memory %.3f (clusters: %s)\n' "$(echo "$wm/$pm" | bc -l)" \
  "$(echo "$wcpu/$pcpu" | bc -l)" "$(echo "$wk/$pk" | bc -l)" "$links"
# The spread: the wall ratio of each interleaved pair (run i with workloads / run i without).
paste -d' ' <(cut -d' ' -f1 "$scratch/plain.txt") <(cut -d' ' -f1 "$scratch/chain.txt") |
  awk '{print $2 / $1}' | sort -n |
  awk '{r[NR] = $1} END {
    printf "pairs: wall ratio min %.3f, p25 %.3f, median %.3f, p75 %.3f, max %.3f\n",
      r[1], r[int((NR + 3) / 4)], r[int((NR + 1) / 2)], r[int((3 * NR + 1) / 4)], r[NR]
  }'
