# Portico's image for cluster mode: `portico serve --kube` as user 65532, listening on 8080 (HTTP),
# 8443 (TLS) and 9901 (admin: /healthz /readyz /metrics /routes). The Helm chart in charts/portico
# runs it. Checked without a Docker engine by tests/chart/dockerfile_test.sh.

# --- build: the same `make deps build` as CI, on Debian 12 -----------------------------------------
FROM debian:bookworm AS build
# make is the only thing `make deps` cannot install itself (scripts/deps.sh installs the rest).
RUN apt-get update -qq \
    && apt-get install -y -qq --no-install-recommends make \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
# ccache's directory is a BuildKit cache mount, so rebuilds reuse earlier compilations.
RUN --mount=type=cache,target=/root/.cache/ccache \
    make deps build \
    && build/release/portico --help >/dev/null

# --- runtime: only the shared libraries the binary links -------------------------------------------
FROM debian:bookworm-slim
# One package per library `ldd build/release/portico` reports (dpkg -S), no -dev packages; the
# first three are part of every Debian image and listed so the list is complete.
RUN apt-get update -qq \
    && apt-get install -y -qq --no-install-recommends \
       libc6 \
       libgcc-s1 \
       libstdc++6 \
       libssl3 \
       libre2-9 \
       libyaml-0-2 \
       libnghttp2-14 \
       libboost-program-options1.81.0 \
       libboost-json1.81.0 \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/build/release/portico /usr/local/bin/portico
# Nothing in the image is writable by this user; the root filesystem can be mounted read-only.
USER 65532:65532
EXPOSE 8080 8443 9901
ENTRYPOINT ["portico", "serve", "--kube"]
