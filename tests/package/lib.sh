# Helpers for tests/package/*.test.sh (sourced).
# shellcheck shell=bash

fail() { printf 'FAIL: %s\n' "$*" >&2; exit 1; }
skip() { printf '%s\n' "$*"; exit 77; }
# check DESCRIPTION COMMAND...: run the command, fail with the description when it fails.
check() {
    local what="$1"
    shift
    "$@" || fail "$what"
}
# contains NEEDLE FILE_OR_TEXT_FROM_STDIN: grep -F, with a readable failure.
contains() {
    local needle="$1" text
    text="$(cat)"
    grep -qF -- "$needle" <<<"$text" || { printf '%s\n' "$text" | head -40 >&2; fail "expected to find: $needle"; }
}
lacks() {
    local needle="$1" text
    text="$(cat)"
    if grep -qF -- "$needle" <<<"$text"; then printf '%s\n' "$text" | head -40 >&2; fail "did not expect: $needle"; fi
}
deb_file() { ls "$DIST"/airgate_*.deb; }
rpm_file() { ls "$DIST"/airgate-*.rpm; }
# The crate's version, as Cargo.toml states it (the packages' upstream version).
crate_version() { sed -n 's/^version = "\(.*\)"/\1/p' "$REPO/Cargo.toml" | head -1; }
