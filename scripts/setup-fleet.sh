#!/usr/bin/env bash
# Install what `make test-fleet` needs and is still missing: Debian's HAProxy (the balancer in front
# of three airgates) and llama.cpp's llama-server (the remote upstream, built from the llama.cpp
# source airgate links by bench/build-llama-server.sh). Idempotent; prints the llama-server path on
# stdout as its last line.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

# shellcheck source=scripts/common.sh
source "$REPO_ROOT/scripts/common.sh"

setup_lock setup-fleet

if command -v dpkg-query >/dev/null 2>&1; then
    command -v haproxy >/dev/null 2>&1 || apt_ensure haproxy
fi
command -v haproxy >/dev/null 2>&1 || die "haproxy is missing; install HAProxy by hand"
"$REPO_ROOT/bench/build-llama-server.sh" | tail -n 1
