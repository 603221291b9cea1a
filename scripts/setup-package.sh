#!/usr/bin/env bash
# Install what `make package` and the package tests need and is still missing:
#   Debian packages lintian, rpm, rpmlint, systemd (systemd-analyze), openssl, binutils;
#   cargo-deb and cargo-generate-rpm (pinned) into $AIRGATE_CACHE/tools/bin.
# Idempotent and quiet like setup.sh. Prints nothing on stdout.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
AIRGATE_CACHE="${AIRGATE_CACHE:-$HOME/.cache/airgate}"
TOOLS="$AIRGATE_CACHE/tools"
CARGO_DEB_VERSION=3.8.0
CARGO_GENERATE_RPM_VERSION=0.21.1

# shellcheck source=scripts/common.sh
source "$REPO_ROOT/scripts/common.sh"

mkdir -p "$TOOLS"
setup_lock setup-package

if command -v dpkg-query >/dev/null 2>&1; then
    apt_ensure lintian rpm rpmlint systemd openssl binutils
fi

# The tools are host programs: build them without the static-binary RUSTFLAGS of the Makefile.
tool() {
    local crate="$1" version="$2" bin="$TOOLS/bin/$1"
    if [[ ! -x "$bin" ]] || ! "$bin" --version 2>/dev/null | grep -qF "$version"; then
        say "installing $crate $version into $TOOLS (cargo install)"
        quietly env -u RUSTFLAGS -u CARGO_TARGET_DIR -u CARGO_BUILD_TARGET \
            cargo install --quiet --locked --root "$TOOLS" "$crate@$version"
    fi
}
tool cargo-deb "$CARGO_DEB_VERSION"
tool cargo-generate-rpm "$CARGO_GENERATE_RPM_VERSION"
