# Portico — the two commands of the quick start are `make run` and `make test`; both install
# what is missing first (scripts/deps.sh) and work on a fresh Debian 12 machine.

PRESET ?= release
BUILD_DIR := build/$(PRESET)
PORTICO := $(BUILD_DIR)/portico
JOBS ?= $(shell nproc)

# ccache keyed on paths relative to the checkout, so CI's fresh clone reuses this machine's cache.
export CCACHE_BASEDIR := $(CURDIR)
export CCACHE_NOHASHDIR := true
export CCACHE_SLOPPINESS := pch_defines,time_macros

.PHONY: all deps configure build test test-asan test-tsan run bench fuzz format format-check clean

all: build

deps:
	@scripts/deps.sh

configure:
	@cmake --preset $(PRESET) >/dev/null

build: configure
	@cmake --build $(BUILD_DIR) -j $(JOBS)

test: deps build
	@ctest --test-dir $(BUILD_DIR) --output-on-failure -j $(JOBS)

# The whole suite under AddressSanitizer + UndefinedBehaviorSanitizer, or ThreadSanitizer.
test-asan:
	@$(MAKE) --no-print-directory test PRESET=asan
test-tsan:
	@TSAN_OPTIONS="suppressions=$(CURDIR)/tests/tsan.supp $${TSAN_OPTIONS:-}" \
	  $(MAKE) --no-print-directory test PRESET=tsan

# `make run` serves the bundled example (examples/standalone) with two demo backends.
run: deps build
	@scripts/run_example.sh $(PORTICO)

bench: deps build
	@bench/routes_vs_nginx.sh $(BUILD_DIR)

# libFuzzer (clang, ASan + UBSan) on each target in tests/fuzz for FUZZ_SECONDS (60 in CI). Seeds:
# tests/fuzz/corpus/<target> and examples/; the growing corpus and any crash stay in build/fuzz.
FUZZ_SECONDS ?= 60
fuzz: deps
	@cmake --preset fuzz >/dev/null
	@cmake --build build/fuzz -j $(JOBS) --target fuzz_manifests fuzz_kube_object fuzz_yaml_subset \
	  fuzz_route_lookup fuzz_http1_message fuzz_http2_session
	@scripts/run_fuzzers.sh build/fuzz $(FUZZ_SECONDS)

format:
	@git ls-files '*.cpp' '*.hpp' | xargs clang-format -i

format-check:
	@git ls-files '*.cpp' '*.hpp' | xargs clang-format --dry-run --Werror

clean:
	@rm -rf build
