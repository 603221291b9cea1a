# run.sh's skip rule: a skipped test passes the summary outside CI, fails it under CI, and passes
# under CI again only when AIRGATE_ALLOW_SKIP names it. Runs a copy of run.sh on a fake test.
source "$HERE/lib.sh"
mkdir "$WORK/t"
cp "$HERE/run.sh" "$HERE/lib.sh" "$WORK/t/"
printf 'source "$HERE/lib.sh"\nskip "needs something this machine lacks"\n' >"$WORK/t/needy.test.sh"
printf 'true\n' >"$WORK/t/fine.test.sh"

env -u CI bash "$WORK/t/run.sh" "$DIST" >"$WORK/out.txt" 2>&1 || { cat "$WORK/out.txt"; fail "a skip failed outside CI"; }
contains "needy ... skipped: needs something this machine lacks" <"$WORK/out.txt"
contains "package: 1 passed, 0 failed, 1 skipped" <"$WORK/out.txt"

if CI=true bash "$WORK/t/run.sh" "$DIST" >"$WORK/out.txt" 2>&1; then cat "$WORK/out.txt"; fail "a skip passed under CI"; fi
contains "needy ... FAILED: skipped under CI" <"$WORK/out.txt"
contains "package: 1 passed, 1 failed, 0 skipped" <"$WORK/out.txt"

CI=true AIRGATE_ALLOW_SKIP="other,needy" bash "$WORK/t/run.sh" "$DIST" >"$WORK/out.txt" 2>&1 \
    || { cat "$WORK/out.txt"; fail "an allowed skip failed under CI"; }
contains "package: 1 passed, 0 failed, 1 skipped" <"$WORK/out.txt"
CI=false bash "$WORK/t/run.sh" "$DIST" >/dev/null 2>&1 || fail "CI=false is not CI"
