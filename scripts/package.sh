#!/usr/bin/env bash
# Build airgate's .deb and .rpm from the release binary that `make build` (or `make test`) made.
#
#   scripts/package.sh BINARY OUT_DIR
#
# BINARY is the static release binary ($CARGO_TARGET_DIR/<triple>/release/airgate); OUT_DIR gets
# airgate_<version>-1_<arch>.deb, airgate-<version>-1.<arch>.rpm and airgate (the stripped binary
# both packages carry). Steps:
#   1. validate the shipped config (src/config/airgate.sample.toml) with the binary itself;
#   2. stage target/pkg/: the stripped binary, the man pages from clap (gzip -9n);
#   3. cargo deb with the asset list of [package.metadata.deb];
#   4. cargo generate-rpm with the same list, rpm flags added by destination
#      (/etc → %config(noreplace) owned by group airgate, docs and man pages → %doc, plus the licence).
# Needs the tools scripts/setup-package.sh installs.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
AIRGATE_CACHE="${AIRGATE_CACHE:-$HOME/.cache/airgate}"
TOOLS="$AIRGATE_CACHE/tools/bin"

# shellcheck source=scripts/common.sh
source "$REPO_ROOT/scripts/common.sh"

[[ $# -eq 2 ]] || { echo "usage: $0 BINARY OUT_DIR" >&2; exit 2; }
[[ -x "$1" ]] || die "no release binary at $1 (run make build first)"
BIN="$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"
mkdir -p "$2"
OUT="$(cd "$2" && pwd)"
for t in cargo-deb cargo-generate-rpm; do
    [[ -x "$TOOLS/$t" ]] || die "$t is missing from $TOOLS (run scripts/setup-package.sh)"
done

STAGE="$REPO_ROOT/target/pkg"
cd "$REPO_ROOT"

# 1. The conffile is the sample config, every line commented: it must stay valid.
"$BIN" config check src/config/airgate.sample.toml >/dev/null \
    || die "src/config/airgate.sample.toml does not pass 'airgate config check'"

# 2. Stage.
rm -rf "$STAGE"
mkdir -p "$STAGE/man" "$OUT"
strip --strip-unneeded -o "$STAGE/airgate" "$BIN"
"$STAGE/airgate" man "$STAGE/man" >/dev/null
gzip -9n "$STAGE/man"/*.1

rm -f "$OUT"/airgate_*.deb "$OUT"/airgate-*.rpm

# 3. Debian. --no-build: the binary is the one already built and tested; cargo-deb's own strip is
# skipped because the staged copy is stripped already (the same bytes go into the .rpm).
quietly env PATH="$TOOLS:$PATH" cargo deb --no-build --no-strip --locked --output "$OUT/"

# 4. RPM, from the same asset list.
overlay="$STAGE/rpm-assets.toml"
python3 - "$overlay" <<'PY'
import json, sys, tomllib

with open("Cargo.toml", "rb") as f:
    meta = tomllib.load(f)["package"]["metadata"]
assets = []
for asset in meta["deb"]["assets"]:
    asset = dict(asset)
    if asset["dest"].startswith("/usr/share/lintian/"):
        continue  # Debian's lint overrides
    if asset["dest"].startswith("/etc/"):
        asset["config"] = "noreplace"
        asset["group"] = "airgate"
    elif asset["dest"].startswith(("/usr/share/doc/", "/usr/share/man/")):
        asset["doc"] = True
    assets.append(asset)
# Debian's copyright file carries the licence in the .deb; rpm's place for it is /usr/share/licenses.
assets.append({"source": "LICENSE", "dest": "/usr/share/licenses/airgate/LICENSE", "mode": "644", "doc": True})


def inline(table):
    return "{ " + ", ".join(f"{k} = {json.dumps(v)}" for k, v in table.items()) + " }"


with open(sys.argv[1], "w") as f:
    f.write("assets = [\n" + "".join(f"    {inline(a)},\n" for a in assets) + "]\n")
PY
quietly env PATH="$TOOLS:$PATH" cargo generate-rpm --metadata-overwrite "$overlay" --output "$OUT/"

cp -f "$STAGE/airgate" "$OUT/airgate"
ls "$OUT"/airgate_*.deb "$OUT"/airgate-*.rpm
