#!/usr/bin/env bash
# `make fuzz`: every fuzz target (airgate::fuzz::TARGETS) for a time budget, then
# `fuzz: N passed, M failed`; exits 1 when a target crashed or hung.
#
#   scripts/fuzz.sh                     FUZZ_SECONDS (default 1200) split over the targets
#   FUZZ_TARGETS="gguf toolcall" scripts/fuzz.sh          a subset
#
# Two engines:
# - stable (the default): the mutational loop in src/fuzz/campaign.rs, inside the release test binary
#   `make test` builds (same flags and target dir: nothing is built twice, llama.cpp least of all).
#   Coverage-blind, JSON-aware, on every core; seeds from fuzz/corpus/<target>, crash and hang inputs
#   into $AIRGATE_CACHE/fuzz-artifacts. One line per target (execs, execs/s, crashes).
# - FUZZ_ENGINE=libfuzzer: cargo-fuzz in fuzz/ (coverage-guided). Nightly with AddressSanitizer when
#   rustup has it, else stable without a sanitizer; cargo-fuzz (pinned) goes into $AIRGATE_CACHE/tools,
#   the build into $AIRGATE_CACHE/fuzz-target (its own llama.cpp build: slow the first time), each
#   target's growing corpus into $AIRGATE_CACHE/fuzz-corpus/<target>; FUZZ_MERGE=1 merges what added
#   coverage into fuzz/corpus/.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
AIRGATE_CACHE="${AIRGATE_CACHE:-$HOME/.cache/airgate}"
TOOLS="$AIRGATE_CACHE/tools"
CARGO_FUZZ_VERSION=0.13.2
SECONDS_TOTAL="${FUZZ_SECONDS:-1200}"
TARGET_TRIPLE="$(rustc -vV | sed -n 's/^host: //p')"
WORK_CORPUS="$AIRGATE_CACHE/fuzz-corpus"
ARTIFACTS="$AIRGATE_CACHE/fuzz-artifacts"
# shellcheck source=scripts/common.sh
source "$REPO_ROOT/scripts/common.sh"
setup_lock fuzz

if [[ "${FUZZ_ENGINE:-stable}" == stable ]]; then
    mkdir -p "$ARTIFACTS"
    cd "$REPO_ROOT"
    say "building the release test binary (make test's flags and target dir: ${CARGO_TARGET_DIR:-$AIRGATE_CACHE/target})"
    export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$AIRGATE_CACHE/target}"
    flags=(--release --target "$TARGET_TRIPLE" --features static --lib)
    [[ -f Cargo.lock ]] && flags+=(--locked)
    RUSTFLAGS="-C target-feature=+crt-static" cargo test "${flags[@]}" --no-run --quiet
    say "fuzzing for $SECONDS_TOTAL s in all"
    set +e +o pipefail
    FUZZ_SECONDS="$SECONDS_TOTAL" FUZZ_ARTIFACTS="$ARTIFACTS" RUSTFLAGS="-C target-feature=+crt-static" \
        cargo test "${flags[@]}" --quiet fuzz::campaign::campaign -- --ignored --nocapture --test-threads 1 \
        | grep -vE '^(running [0-9]+ tests?|test fuzz::campaign::campaign .*|test result: .*|)$'
    exit "${PIPESTATUS[0]}"
fi

export CARGO_TARGET_DIR="$AIRGATE_CACHE/fuzz-target"
# The Makefile's static-binary flags are for the shipped build, not for this one.
unset RUSTFLAGS CARGO_BUILD_TARGET

if rustup run nightly rustc --version >/dev/null 2>&1 \
    || timeout 600 rustup toolchain install nightly --profile minimal >/dev/null 2>&1; then
    toolchain=nightly
    sanitizer=address
else
    say "no nightly toolchain to be had: fuzzing on stable without AddressSanitizer"
    toolchain=stable
    sanitizer=none
fi

fuzz_bin="$TOOLS/bin/cargo-fuzz"
if [[ ! -x "$fuzz_bin" ]] || ! "$fuzz_bin" --version 2>/dev/null | grep -qF "$CARGO_FUZZ_VERSION"; then
    say "installing cargo-fuzz $CARGO_FUZZ_VERSION into $TOOLS (cargo install)"
    quietly env -u CARGO_TARGET_DIR cargo install --quiet --locked --root "$TOOLS" "cargo-fuzz@$CARGO_FUZZ_VERSION"
fi

targets=(${FUZZ_TARGETS:-$(sed -n 's/^name = "\(.*\)"$/\1/p' "$REPO_ROOT/fuzz/Cargo.toml" | grep -v '^airgate-fuzz$')})
[[ ${#targets[@]} -gt 0 ]] || die "no fuzz targets"
per=$((SECONDS_TOTAL / ${#targets[@]}))
[[ $per -ge 10 ]] || per=10

say "building ${#targets[@]} fuzz targets ($toolchain, sanitizer $sanitizer) into $CARGO_TARGET_DIR"
cd "$REPO_ROOT"
built=$SECONDS
quietly env RUSTUP_TOOLCHAIN="$toolchain" "$fuzz_bin" build --release --debug-assertions --sanitizer "$sanitizer" \
    --target "$TARGET_TRIPLE" --fuzz-dir fuzz
say "built in $((SECONDS - built)) s; fuzzing each target for $per s"

passed=0
failed=()
total_execs=0
for t in "${targets[@]}"; do
    bin="$CARGO_TARGET_DIR/$TARGET_TRIPLE/release/$t"
    mkdir -p "$WORK_CORPUS/$t" "$ARTIFACTS/$t"
    log="$(mktemp "${TMPDIR:-/tmp}/airgate-fuzz-$t.XXXXXX")"
    rc=0
    # The working corpus comes first: libFuzzer adds what it finds there, never to the seeds.
    "$bin" -max_total_time="$per" -timeout=10 -rss_limit_mb=4096 -max_len=65536 -print_final_stats=1 \
        -artifact_prefix="$ARTIFACTS/$t/" "$WORK_CORPUS/$t" "fuzz/corpus/$t" >"$log" 2>&1 || rc=$?
    execs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)"
    rate="$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)"
    corpus="$(find "$WORK_CORPUS/$t" -type f | wc -l)"
    execs="${execs:-0}"
    total_execs=$((total_execs + execs))
    if [[ $rc -eq 0 ]]; then
        printf 'fuzz %-14s ok      %10d execs %8s/s  corpus %5d  crashes 0\n' "$t" "$execs" "${rate:-0}" "$corpus"
        passed=$((passed + 1))
    else
        printf 'fuzz %-14s FAILED  %10d execs %8s/s  corpus %5d  (exit %d)\n' "$t" "$execs" "${rate:-0}" "$corpus" "$rc"
        grep -E '^(==[0-9]+==ERROR|SUMMARY|thread .* panicked|artifact_prefix|Test unit written)' "$log" | head -20 | sed 's/^/    /'
        failed+=("$t")
    fi
    if [[ "${FUZZ_MERGE:-0}" == 1 && $rc -eq 0 ]]; then
        quietly "$bin" -merge=1 "fuzz/corpus/$t" "$WORK_CORPUS/$t"
    fi
    rm -f "$log"
done
printf 'fuzz: %d targets, %d execs in total, %d s each\n' "${#targets[@]}" "$total_execs" "$per"
printf 'fuzz: %d passed, %d failed\n' "$passed" "${#failed[@]}"
[[ ${#failed[@]} -eq 0 ]]
