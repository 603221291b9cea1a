#!/usr/bin/env bash
# Install what the admin UI's browser tests need and is still missing:
#   1. Debian's chromium (headless; the tests never download a browser);
#   2. playwright-core, pinned in tests/browser/package.json, into $AIRGATE_CACHE/browser.
# Idempotent and quiet like setup.sh: one line on stderr per install, logs only on failure.
# Prints nothing on stdout.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
AIRGATE_CACHE="${AIRGATE_CACHE:-$HOME/.cache/airgate}"
DEST="$AIRGATE_CACHE/browser"

# shellcheck source=scripts/common.sh
source "$REPO_ROOT/scripts/common.sh"

setup_lock setup-browser

# By command, not by Debian package name: Node.js from elsewhere (NodeSource bundles npm) is fine.
if command -v dpkg-query >/dev/null 2>&1; then
    [[ -x /usr/bin/chromium ]] || apt_ensure chromium
    command -v npm >/dev/null 2>&1 || apt_ensure nodejs npm
fi
[[ -x /usr/bin/chromium ]] || die "chromium is missing; install Chromium by hand"
command -v npm >/dev/null 2>&1 || die "npm is missing; install Node.js and npm by hand"
want="$(sha256sum "$REPO_ROOT/tests/browser/package.json" "$REPO_ROOT/tests/browser/package-lock.json" | sha256sum | cut -d' ' -f1)"
if [[ "$(cat "$DEST/.stamp" 2>/dev/null || true)" != "$want" || ! -d "$DEST/node_modules/playwright-core" ]]; then
    say "installing playwright-core into $DEST (npm ci)"
    mkdir -p "$DEST"
    cp "$REPO_ROOT/tests/browser/package.json" "$REPO_ROOT/tests/browser/package-lock.json" "$DEST/"
    # PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD: the tests use Debian's chromium, never a downloaded one.
    (cd "$DEST" && quietly env PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund)
    echo "$want" > "$DEST/.stamp"
fi
