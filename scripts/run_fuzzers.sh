#!/usr/bin/env bash
# Runs every fuzz target of a fuzz build for the given number of seconds each, on a corpus kept in
# the build directory and seeded from tests/fuzz/corpus/<target> (and the example manifests).
# Exits non-zero at the first target that finds a crash, a leak or a timeout (its artifact is in
# BUILD/fuzz-artifacts).
#
# usage: scripts/run_fuzzers.sh BUILD_DIR SECONDS
set -euo pipefail
build=${1:?usage: $0 BUILD_DIR SECONDS}
seconds=${2:?usage: $0 BUILD_DIR SECONDS}
root=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$build/fuzz-artifacts"
status=0
for target in "$build"/tests/fuzz/fuzz_*; do
  [ -x "$target" ] || continue
  name=$(basename "$target")
  corpus="$build/fuzz-corpus/$name"
  mkdir -p "$corpus"
  seeds=("$root/tests/fuzz/corpus/${name#fuzz_}")
  case $name in
    fuzz_manifests | fuzz_yaml_subset) seeds+=("$root/examples/standalone") ;;
  esac
  existing=()
  for s in "${seeds[@]}"; do [ -d "$s" ] && existing+=("$s"); done
  echo "fuzz: $name for ${seconds}s"
  if ! ASAN_OPTIONS=detect_leaks=1 "$target" -max_total_time="$seconds" -timeout=10 \
      -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$build/fuzz-artifacts/$name-" \
      "$corpus" "${existing[@]}" > "$build/fuzz-artifacts/$name.log" 2>&1; then
    echo "fuzz: $name FOUND A PROBLEM (log: $build/fuzz-artifacts/$name.log)"
    tail -40 "$build/fuzz-artifacts/$name.log"
    status=1
  else
    grep -E '^stat::number_of_executed_units|^stat::new_units_added' "$build/fuzz-artifacts/$name.log" | tr '\n' ' '
    echo
  fi
done
exit $status
