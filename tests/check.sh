# What every test script shares: a work directory, the processes to stop at exit, checks, and the
# "N passed, M failed" summary (non-zero exit on any failure). Source it near the top.
# KEEP_WORK=1 keeps the work directory for a look after a failure.

set -uo pipefail
src=${PORTICO_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
work=$(mktemp -d)
passed=0
failures=0
pids=()

cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
  if [ -n "${KEEP_WORK:-}" ]; then echo "work directory kept: $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT

check() {  # check NAME EXPECTED ACTUAL
  if [ "$2" == "$3" ]; then
    passed=$((passed + 1))
  else
    failures=$((failures + 1))
    echo "FAIL: $1: expected [$2], got [$3]"
  fi
}

check_contains() {  # check_contains NAME NEEDLE HAYSTACK
  if [[ "$3" == *"$2"* ]]; then
    passed=$((passed + 1))
  else
    failures=$((failures + 1))
    echo "FAIL: $1: [$2] not found in [${3:0:1500}]"
  fi
}

check_lacks() {  # check_lacks NAME NEEDLE HAYSTACK
  if [[ "$3" != *"$2"* ]]; then
    passed=$((passed + 1))
  else
    failures=$((failures + 1))
    echo "FAIL: $1: [$2] should not be in [${3:0:600}]"
  fi
}

finish() {
  echo "$passed passed, $failures failed"
  [ "$failures" -eq 0 ]
  exit $?
}
