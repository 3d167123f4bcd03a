#!/usr/bin/env bash
# The Dockerfile, checked without a Docker engine: the build stage is debian:bookworm running the
# same `make deps build` as CI; the runtime stage is debian:bookworm-slim and installs exactly the
# Debian packages of the shared libraries the built portico links (ldd + dpkg -S on this Debian 12
# machine), no -dev package; it creates nothing writable; USER 65532:65532, EXPOSE 8080 8443 9901,
# ENTRYPOINT ["portico","serve","--kube"], the binary at /usr/local/bin/portico; .dockerignore
# keeps build output and .git out of the context.
#
#   bash tests/chart/dockerfile_test.sh PATH_TO_PORTICO
#
# Prints "N passed, M failed" and exits non-zero on failure.

set -uo pipefail
portico=${1:?usage: $0 PATH_TO_PORTICO}
src=${PORTICO_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
dockerfile=${PORTICO_DOCKERFILE:-$src/Dockerfile}
source "$(dirname "$0")/../check.sh"

if [ ! -f "$dockerfile" ]; then
  check "Dockerfile exists" "$dockerfile" "(missing)"
  finish
fi

# The Dockerfile as logical instructions, one a line: comments and blank lines dropped,
# continuation lines joined, runs of blanks squeezed. Then "STAGE<TAB>INSTRUCTION" per line.
instructions=$(awk '
  /^[[:space:]]*#/ { next }
  { line = $0
    if (line ~ /\\[[:space:]]*$/) { sub(/\\[[:space:]]*$/, " ", line); buf = buf line; next }
    buf = buf line
    gsub(/[[:space:]]+/, " ", buf); sub(/^ /, "", buf); sub(/ $/, "", buf)
    if (buf != "") print buf
    buf = "" }
  END { if (buf != "") print buf }' "$dockerfile")
staged=$(printf '%s\n' "$instructions" | awk 'toupper($1) == "FROM" { stage++ } { print stage "\t" $0 }')
stage_of() { printf '%s\n' "$staged" | awk -F'\t' -v s="$1" '$1 == s { print $2 }'; }

# --- stages and base images -----------------------------------------------------------------------

froms=$(printf '%s\n' "$instructions" | grep -i '^FROM ')
check "two stages" "2" "$(printf '%s\n' "$froms" | grep -c .)"
build_from=$(printf '%s\n' "$froms" | sed -n 1p)
runtime_from=$(printf '%s\n' "$froms" | sed -n 2p)
if [[ "$build_from" =~ ^FROM\ debian:bookworm\ [Aa][Ss]\ ([A-Za-z0-9_.-]+)$ ]]; then
  build_alias=${BASH_REMATCH[1]}
  passed=$((passed + 1))
else
  build_alias=build
  check "build stage: FROM debian:bookworm AS NAME" "FROM debian:bookworm AS build" "$build_from"
fi
if [[ "$runtime_from" =~ ^FROM\ debian:bookworm-slim(\ [Aa][Ss]\ [A-Za-z0-9_.-]+)?$ ]]; then
  passed=$((passed + 1))
else
  check "runtime stage: FROM debian:bookworm-slim" "FROM debian:bookworm-slim" "$runtime_from"
fi
build=$(stage_of 1)
runtime=$(stage_of 2)

# --- build stage: the same `make deps build` as CI -------------------------------------------------

check "build stage: copies the source (COPY . .)" "1" "$(printf '%s\n' "$build" | grep -c -E '^COPY (--[^ ]+ )*\. \.$')"
check "build stage: RUN make deps build" "1" \
  "$(printf '%s\n' "$build" | grep -c -E '^RUN (--[^ ]+ )*(.*(&&|;) *)?make deps build( |$)')"
# What a plain `make deps build` does (not what this test's own make, say `make test-asan`, passes on).
make_plan=$(env -u PRESET -u MAKEFLAGS -u MAKELEVEL -u MFLAGS make -n -C "$src" deps build 2>/dev/null)
check "the Makefile's deps target runs scripts/deps.sh" "1" "$(printf '%s\n' "$make_plan" | grep -c 'scripts/deps.sh')"
check "the Makefile builds the release preset into build/release" "1" \
  "$(printf '%s\n' "$make_plan" | grep -c -E 'cmake --build build/release')"

# --- runtime stage: packages ---------------------------------------------------------------------

# Every package named by `apt-get install` in the runtime stage.
packages=$(printf '%s\n' "$runtime" | grep -E '^RUN ' | grep -o -E 'apt-get install[^&;|]*' |
  sed 's/^apt-get install//' | tr ' ' '\n' | grep -v -E '^(-|$)' | sort -u)
check "runtime stage installs packages with apt-get install" "yes" "$([ -n "$packages" ] && echo yes || echo no)"
dev=$(printf '%s\n' "$packages" | grep -E -- '-dev(:|$)|^build-essential$|^(g\+\+|gcc|cmake|make)$' | tr '\n' ' ')
check "runtime stage: no -dev or build packages" "" "${dev% }"

# The Debian package of each shared library the binary links: dpkg -S by the path ldd gives, its
# real path, and both with and without /usr (Debian 12's merged /usr).
package_of() {
  local lib=$1 real candidates p owner
  real=$(readlink -f "$lib")
  candidates=("$lib" "$real")
  for p in "$lib" "$real"; do
    case $p in
      /usr/*) candidates+=("${p#/usr}") ;;
      *) candidates+=("/usr$p") ;;
    esac
  done
  for p in "${candidates[@]}"; do
    owner=$(dpkg -S "$p" 2>/dev/null | head -n 1 | cut -d: -f1)
    if [ -n "$owner" ]; then
      echo "$owner"
      return 0
    fi
  done
  return 1
}

if [ ! -x "$portico" ]; then
  check "the portico binary to check" "an executable" "$portico"
  finish
fi
if [ -n "${PORTICO_SANITIZE:-}" ]; then
  # A sanitizer build (make test-asan) links differently (Debug Boost, the sanitizers' runtimes);
  # the image builds the release preset, which the release suite checks.
  echo "note: $portico is a sanitizer build ($PORTICO_SANITIZE): library comparison skipped"
  packages_checked=no
fi
ldd_out=$(ldd "$portico" 2>&1)
check "ldd reads the binary" "0" "$?"
missing=$(printf '%s\n' "$ldd_out" | grep 'not found' | tr '\n' ' ')
check "every library the binary needs is found" "" "${missing% }"
# A sanitizer build (the asan preset) links the sanitizers' runtimes; the image builds the release
# preset, which does not, so they are left out of the comparison.
libs=$(printf '%s\n' "$ldd_out" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' |
  grep -v -E '/lib(a|ub|t|l|hwa)san\.so' | sort -u)
check "ldd lists shared libraries" "yes" "$([ -n "$libs" ] && echo yes || echo no)"
needed=""
[ "${packages_checked:-yes}" == "no" ] && libs=""
for lib in $libs; do
  if pkg=$(package_of "$lib"); then
    needed+="$pkg"$'\n'
    if printf '%s\n' "$packages" | grep -qx "$pkg"; then
      passed=$((passed + 1))
    else
      check "runtime stage installs $pkg (for $(basename "$lib"))" "installed" "not in the apt-get install list"
    fi
  else
    check "a Debian package owns $lib" "a package" "none (dpkg -S)"
  fi
done
if [ "${packages_checked:-yes}" != "no" ]; then
  needed=$(printf '%s' "$needed" | sort -u)
  extra=$(comm -13 <(printf '%s\n' "$needed") <(printf '%s\n' "$packages") | tr '\n' ' ')
  check "runtime stage installs only what the binary links" "" "${extra% }"
fi

# --- runtime stage: the binary, user, ports, entrypoint, nothing writable --------------------------

check "runtime stage: COPY --from=$build_alias .../build/release/portico /usr/local/bin/portico" "1" \
  "$(printf '%s\n' "$runtime" | grep -c -E "^COPY --from=$build_alias [^ ]*build/release/portico /usr/local/bin/portico$")"
check "runtime stage: USER 65532:65532" "USER 65532:65532" "$(printf '%s\n' "$runtime" | grep -E '^USER ' | tail -n 1)"
check "runtime stage: USER comes after the last RUN (apt-get runs as root)" "USER" \
  "$(printf '%s\n' "$runtime" | grep -E '^(USER|RUN) ' | tail -n 1 | cut -d' ' -f1)"
ports=$(printf '%s\n' "$runtime" | grep -E '^EXPOSE ' | cut -d' ' -f2- | tr ' ' '\n' | sed 's#/tcp$##' | sort -n | tr '\n' ' ')
check "runtime stage: EXPOSE 8080 8443 9901" "8080 8443 9901" "${ports% }"
entrypoint=$(printf '%s\n' "$runtime" | grep -E '^ENTRYPOINT ' | tail -n 1 | cut -d' ' -f2- | jq -c . 2>/dev/null)
check "runtime stage: ENTRYPOINT" '["portico","serve","--kube"]' "$entrypoint"
check "runtime stage: no CMD (the chart passes flags as args)" "0" "$(printf '%s\n' "$runtime" | grep -c -E '^CMD ')"
writable=$(printf '%s\n' "$runtime" | grep -E '^(VOLUME|WORKDIR) |^COPY --chown|^ADD |^RUN .*\b(mkdir|chmod|chown|touch|useradd|adduser|install -d)\b' | tr '\n' ' ')
check "runtime stage creates nothing writable (no VOLUME, WORKDIR, mkdir, chmod, chown, ADD)" "" "${writable% }"

# --- .dockerignore ---------------------------------------------------------------------------------

ignore=$src/.dockerignore
for pattern in .git build/; do
  check ".dockerignore excludes $pattern" "1" "$(grep -c -x -F "$pattern" "$ignore" 2>/dev/null || echo 0)"
done

finish
