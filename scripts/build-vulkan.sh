#!/usr/bin/env bash
# Build airgate with llama.cpp's Vulkan backend (cargo feature `vulkan`) into OUT_DIR/airgate.
#
#   scripts/build-vulkan.sh OUT_DIR
#
# Installs Debian's libvulkan-dev, glslc (the shader compiler llama.cpp's build runs) and spirv-headers when
# missing. The binary links libvulkan.so.1 dynamically (the GPU driver's loader), libstdc++ and
# OpenMP statically; it builds in $AIRGATE_CACHE/target-vulkan so the CPU build stays cached.
# Running it needs a Vulkan driver and the GPU drop-in (systemd/gpu-access.conf).
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
AIRGATE_CACHE="${AIRGATE_CACHE:-$HOME/.cache/airgate}"
# shellcheck source=scripts/common.sh
source "$REPO_ROOT/scripts/common.sh"

[[ $# -eq 1 ]] || { echo "usage: $0 OUT_DIR" >&2; exit 2; }
OUT="$1"
if command -v dpkg-query >/dev/null 2>&1; then
    apt_ensure libvulkan-dev glslc spirv-headers
fi
command -v glslc >/dev/null 2>&1 || die "glslc (the Vulkan shader compiler) is missing"

# This llama.cpp needs Vulkan headers with VK_EXT_layer_settings (1.3.261 or later). Debian 12
# ships 1.3.239: then take the headers of Debian 13's libvulkan-dev, unpacked into the cache and
# put first on the compiler's include path (nothing is installed on the system).
if ! grep -q VK_EXT_layer_settings /usr/include/vulkan/vulkan_core.h 2>/dev/null; then
    headers="$AIRGATE_CACHE/vulkan-headers"
    if ! grep -q VK_EXT_layer_settings "$headers/usr/include/vulkan/vulkan_core.h" 2>/dev/null; then
        say "fetching newer Vulkan headers (Debian 13 libvulkan-dev) into $headers"
        apt_dir="$(mktemp -d)"
        trap 'rm -rf "$apt_dir"' EXIT
        mkdir -p "$apt_dir/lists/partial"
        echo "deb http://deb.debian.org/debian trixie main" >"$apt_dir/sources.list"
        apt_opts=(-o "Dir::Etc::sourcelist=$apt_dir/sources.list" -o Dir::Etc::sourceparts=- -o "Dir::State::Lists=$apt_dir/lists")
        quietly apt-get "${apt_opts[@]}" update
        (cd "$apt_dir" && quietly apt-get "${apt_opts[@]}" download libvulkan-dev)
        rm -rf "$headers"
        dpkg-deb -x "$apt_dir"/libvulkan-dev_*.deb "$headers"
        rm -rf "$apt_dir"
    fi
    export CPLUS_INCLUDE_PATH="$headers/usr/include${CPLUS_INCLUDE_PATH:+:$CPLUS_INCLUDE_PATH}"
    export C_INCLUDE_PATH="$headers/usr/include${C_INCLUDE_PATH:+:$C_INCLUDE_PATH}"
fi

target_dir="$AIRGATE_CACHE/target-vulkan"
# llama-cpp-sys-2 skips CMake's configure step once a build dir exists, even when that configure
# failed (e.g. a missing package since installed): drop such half-configured dirs.
for build in "$target_dir"/release/build/llama-cpp-sys-2-*/out/build; do
    if [[ -d "$build" && ! -f "$build/Makefile" && ! -f "$build/build.ninja" ]]; then
        rm -rf "$build"
    fi
done
say "building the Vulkan variant in $target_dir (first build: long, it compiles every shader)"
(cd "$REPO_ROOT" && env -u RUSTFLAGS CARGO_TARGET_DIR="$target_dir" \
    cargo build --release --locked --features vulkan,static)
mkdir -p "$OUT"
cp -f "$target_dir/release/airgate" "$OUT/airgate"
"$OUT/airgate" version
