# Shared by the set-up scripts (sourced): one-line messages and quiet command runs.
# shellcheck shell=bash

say() { printf 'setup: %s\n' "$*" >&2; }
die() { printf 'setup: error: %s\n' "$*" >&2; exit 1; }

# Run a command with its output captured; show the output only on failure.
quietly() {
    local log rc=0
    log="$(mktemp "${TMPDIR:-/tmp}/airgate-setup.XXXXXX")"
    "$@" >"$log" 2>&1 || rc=$?
    if [[ $rc -ne 0 ]]; then
        printf 'setup: command failed (exit %d): %s\n' "$rc" "$*" >&2
        cat "$log" >&2
        rm -f "$log"
        exit "$rc"
    fi
    rm -f "$log"
}
