#!/usr/bin/env bash
# Assemble the USB air-gap bundle from what scripts/package.sh put in OUT_DIR:
#
#   AIRGATE_SIGNING_KEY=/secure/airgate-signing.pem scripts/bundle.sh OUT_DIR [MODEL.gguf ...]
#
# Writes OUT_DIR/airgate-<version>-<arch>-linux/ and the tar of it beside it:
#   airgate, the .deb, the .rpm          what install.sh installs
#   files/                               unit, sysusers entry, config (the binary method)
#   models/*.gguf                        the models given here, copied
#   install.sh, README-OFFLINE.md
#   SHA256SUMS, SHA256SUMS.sig, airgate-signing.pub   written by `airgate bundle sign`
# AIRGATE_SIGNING_KEY names the Ed25519 private key (PEM file or PEM text; create one once with
# `airgate bundle keygen FILE` and publish its fingerprint). Without it the bundle is refused:
# an unsigned bundle cannot be trusted on the other side of the air gap.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=scripts/common.sh
source "$REPO_ROOT/scripts/common.sh"

[[ $# -ge 1 ]] || { echo "usage: $0 OUT_DIR [MODEL.gguf ...]" >&2; exit 2; }
OUT="$(cd "$1" && pwd)"
shift
[[ -n "${AIRGATE_SIGNING_KEY:-}" ]] \
    || die "AIRGATE_SIGNING_KEY is not set (a key file from 'airgate bundle keygen FILE')"

BIN="$OUT/airgate"
[[ -x "$BIN" ]] || die "$BIN is missing (run make package first)"
debs=("$OUT"/airgate_*.deb)
rpms=("$OUT"/airgate-*.rpm)
[[ -f "${debs[0]}" && -f "${rpms[0]}" ]] || die "no .deb/.rpm in $OUT (run make package first)"
declare -A seen=()
for m in "$@"; do
    [[ -f "$m" && "$m" == *.gguf ]] || die "model $m is not a .gguf file"
    [[ -z "${seen[$(basename "$m")]:-}" ]] || die "two models are named $(basename "$m"): rename one"
    seen[$(basename "$m")]=1
    "$BIN" model inspect "$m" >/dev/null || die "model $m is not a valid GGUF file"
done

version="$("$BIN" version | sed -n '1s/^airgate \([^ ]*\).*/\1/p')"
[[ -n "$version" ]] || die "cannot read the version from $BIN"
name="airgate-$version-$(uname -m)-linux"
dir="$OUT/$name"
rm -rf "$dir" "$dir.tar"
mkdir -p "$dir/files" "$dir/models"

cp "$BIN" "${debs[0]}" "${rpms[0]}" "$dir/"
cp "$REPO_ROOT/systemd/airgate.service" "$dir/files/airgate.service"
cp "$REPO_ROOT/systemd/airgate.sysusers" "$dir/files/airgate.sysusers"
cp "$REPO_ROOT/systemd/gpu-access.conf" "$dir/files/gpu-access.conf"
cp "$REPO_ROOT/src/config/airgate.sample.toml" "$dir/files/airgate.toml"
cp "$REPO_ROOT/packaging/bundle/install.sh" "$dir/install.sh"
cp "$REPO_ROOT/packaging/bundle/README-OFFLINE.md" "$dir/README-OFFLINE.md"
chmod 0755 "$dir/install.sh" "$dir/airgate"
for m in "$@"; do
    cp "$m" "$dir/models/"
done

"$BIN" bundle sign "$dir" >/dev/null
"$BIN" bundle verify "$dir" >/dev/null
tar -C "$OUT" -cf "$dir.tar" "$name"
printf '%s\n' "$dir.tar"
