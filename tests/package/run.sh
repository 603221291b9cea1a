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
# Under CI (CI set and not "false"), a skipped test fails the run unless its name is listed in
# AIRGATE_ALLOW_SKIP (space- or comma-separated, or "all"): CI must not go green on tests that
# never ran.
set -uo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
[[ $# -eq 1 ]] || { echo "usage: $0 DIST_DIR" >&2; exit 2; }
DIST="$(cd "$1" && pwd)"
export DIST REPO HERE

failed=()
passed=0
skipped=0
# skip_allowed NAME: outside CI always; under CI only when AIRGATE_ALLOW_SKIP names it.
skip_allowed() {
    [[ -z "${CI:-}" || "${CI:-}" == "false" || "${CI:-}" == "0" ]] && return 0
    local list="${AIRGATE_ALLOW_SKIP:-}" allowed
    allowed=" ${list//,/ } "
    [[ "$allowed" == *" all "* || "$allowed" == *" $1 "* ]]
}
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
        77)
            if skip_allowed "$name"; then
                printf 'test package::%s ... skipped: %s\n' "$name" "$(tail -1 "$log")"
                skipped=$((skipped + 1))
            else
                printf 'test package::%s ... FAILED: skipped under CI (%s); AIRGATE_ALLOW_SKIP=%s allows it\n' \
                    "$name" "$(tail -1 "$log")" "$name"
                failed+=("$name")
            fi
            ;;
        *) printf 'test package::%s ... FAILED (exit %d)\n' "$name" "$rc"; sed 's/^/    /' "$log"; failed+=("$name") ;;
    esac
    rm -rf "$WORK" "$log"
done
if [[ ${#failed[@]} -gt 0 ]]; then
    printf 'package: %d passed, %d failed, %d skipped (failed: %s)\n' "$passed" "${#failed[@]}" "$skipped" "${failed[*]}"
    exit 1
fi
printf 'package: %d passed, 0 failed, %d skipped\n' "$passed" "$skipped"
