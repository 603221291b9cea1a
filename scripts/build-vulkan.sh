#!/usr/bin/env bash
# Build airgate with llama.cpp's Vulkan backend (cargo feature `vulkan`) into OUT_DIR/airgate.
#
#   scripts/build-vulkan.sh OUT_DIR
#
# Installs Debian's libvulkan-dev and glslc (the shader compiler llama.cpp's build runs) when
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
    apt_ensure libvulkan-dev glslc
fi
command -v glslc >/dev/null 2>&1 || die "glslc (the Vulkan shader compiler) is missing"

target_dir="$AIRGATE_CACHE/target-vulkan"
say "building the Vulkan variant in $target_dir (first build: long, it compiles every shader)"
(cd "$REPO_ROOT" && env -u RUSTFLAGS CARGO_TARGET_DIR="$target_dir" \
    cargo build --release --locked --features vulkan,static)
mkdir -p "$OUT"
cp -f "$target_dir/release/airgate" "$OUT/airgate"
"$OUT/airgate" version
