#!/usr/bin/env bash
# Package tests: run every tests/package/*.test.sh against the packages in DIST_DIR.
#
#   tests/package/run.sh DIST_DIR        (make test runs it after scripts/package.sh)
#
# Each test is a bash script run with `set -euo pipefail` and these variables:
#   DIST     the directory with airgate (stripped static binary), the .deb and the .rpm
#   REPO     the repository root
#   WORK     a fresh temporary directory, removed afterwards
#   AIRGATE_TEST_MODEL   the default model (for the bundle test)
# and the helpers of lib.sh (fail, check, skip). Exit 0 = pass, 77 = skipped, else failed.
set -uo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
[[ $# -eq 1 ]] || { echo "usage: $0 DIST_DIR" >&2; exit 2; }
DIST="$(cd "$1" && pwd)"
export DIST REPO HERE

failed=()
passed=0
for t in "$HERE"/*.test.sh; do
    name="$(basename "$t" .test.sh)"
    WORK="$(mktemp -d "${TMPDIR:-/tmp}/airgate-pkgtest.XXXXXX")"
    export WORK
    log="$WORK.log"
    start=$SECONDS
    bash -euo pipefail "$t" >"$log" 2>&1
    rc=$?
    took=$((SECONDS - start))
    case $rc in
        0) printf 'test package::%s ... ok (%ds)\n' "$name" "$took"; passed=$((passed + 1)) ;;
        77) printf 'test package::%s ... skipped: %s\n' "$name" "$(tail -1 "$log")" ;;
        *) printf 'test package::%s ... FAILED (exit %d)\n' "$name" "$rc"; sed 's/^/    /' "$log"; failed+=("$name") ;;
    esac
    rm -rf "$WORK" "$log"
done
if [[ ${#failed[@]} -gt 0 ]]; then
    printf 'package tests: %d passed, %d failed: %s\n' "$passed" "${#failed[@]}" "${failed[*]}"
    exit 1
fi
printf 'package tests: %d passed\n' "$passed"
