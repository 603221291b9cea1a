#!/usr/bin/env bash
# airgate offline installer: run from the unpacked bundle directory (see README-OFFLINE.md).
#
#   sudo ./install.sh [--key PUBKEY] [--method deb|rpm|binary] [--no-models]
#   ./install.sh --prefix DIR         (unprivileged install under DIR, for trials and tests)
#
# 1. Verifies the bundle: the Ed25519 signature of SHA256SUMS (openssl; the public key given with
#    --key, else the bundle's own airgate-signing.pub whose fingerprint you compare with the one
#    your release team published), every checksum, and that no file was added.
# 2. Installs: the .deb with dpkg, the .rpm with rpm, or (no package manager, or --prefix) the
#    static binary with the unit, the config and the service account.
# 3. Copies the bundle's models/*.gguf into the state directory and registers them
#    (`airgate model add`); the first becomes the default on a fresh install.
# 4. Prints what to enter in GitLab.
# Running a newer bundle's install.sh upgrades in place: configuration, keys, database and models
# are kept (packages keep conffiles; the binary method never overwrites an existing config).
set -euo pipefail

BUNDLE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
KEY=""
METHOD=""
PREFIX=""
MODELS=1

say() { printf 'install: %s\n' "$*"; }
die() { printf 'install: error: %s\n' "$*" >&2; exit 1; }
usage() { sed -n '4,5p' "${BASH_SOURCE[0]}" | sed 's/^# *//' >&2; exit 2; }

while [[ $# -gt 0 ]]; do
    case "$1" in
        --key) KEY="${2:?--key needs a file}"; shift 2 ;;
        --method) METHOD="${2:?--method needs deb, rpm or binary}"; shift 2 ;;
        --prefix) PREFIX="${2:?--prefix needs a directory}"; shift 2 ;;
        --no-models) MODELS=0; shift ;;
        -h|--help) usage ;;
        *) printf 'install: unknown argument: %s\n' "$1" >&2; usage ;;
    esac
done

# ---------------------------------------------------------------------------
# 1. Verify
# ---------------------------------------------------------------------------
if [[ -n "$KEY" ]]; then
    [[ -f "$KEY" ]] || die "public key $KEY not found"
    KEY="$(cd "$(dirname "$KEY")" && pwd)/$(basename "$KEY")"
fi
cd "$BUNDLE"
for f in SHA256SUMS SHA256SUMS.sig airgate-signing.pub airgate; do
    [[ -f "$f" ]] || die "$f is missing: this is not a complete airgate bundle"
done
[[ -n "$KEY" ]] || KEY="$BUNDLE/airgate-signing.pub"

command -v openssl >/dev/null 2>&1 || die "openssl is needed to check the bundle's signature"
fingerprint="SHA256:$(openssl pkey -pubin -in "$KEY" -outform DER 2>/dev/null | tail -c 32 | sha256sum | cut -d' ' -f1)"
if ! openssl pkeyutl -verify -pubin -inkey "$KEY" -rawin -in SHA256SUMS -sigfile SHA256SUMS.sig >/dev/null 2>&1; then
    die "the signature of SHA256SUMS does not verify with $KEY: do not install this bundle"
fi
say "signature OK (key $fingerprint)"
if [[ "$KEY" == "$BUNDLE"/* ]]; then
    say "compare this fingerprint with the one your release team published (or pass --key)"
fi

links="$(find . -type l | sed 's#^\./##')"
[[ -z "$links" ]] || die "the bundle holds symbolic links, which the signature cannot cover: $(echo "$links" | tr '\n' ' ')"
sha256sum --quiet --strict -c SHA256SUMS || die "checksum mismatch: the bundle is damaged or was changed"
unlisted="$(comm -23 \
    <(find . ! -type d ! -name SHA256SUMS ! -name SHA256SUMS.sig ! -name airgate-signing.pub | sed 's#^\./##' | LC_ALL=C sort) \
    <(sed 's/^[0-9a-f]*  //' SHA256SUMS | LC_ALL=C sort))"
[[ -z "$unlisted" ]] || die "files not covered by the signature: $(echo "$unlisted" | tr '\n' ' ')"
say "checksums OK"

# ---------------------------------------------------------------------------
# 2. Install
# ---------------------------------------------------------------------------
ROOT=""
if [[ -n "$PREFIX" ]]; then
    mkdir -p "$PREFIX"
    ROOT="$(cd "$PREFIX" && pwd)"
    METHOD=binary
elif [[ "$(id -u)" -ne 0 ]]; then
    die "run as root (sudo ./install.sh), or use --prefix DIR for a user install"
fi
if [[ -z "$METHOD" ]]; then
    if command -v dpkg >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then METHOD=deb
    elif command -v rpm >/dev/null 2>&1 && ! command -v dpkg >/dev/null 2>&1; then METHOD=rpm
    else METHOD=binary
    fi
fi

CONF="$ROOT/etc/airgate/airgate.toml"
DATA="$ROOT/var/lib/airgate"
AIRGATE="$ROOT/usr/bin/airgate"
systemd_up() { [[ -z "$ROOT" && -d /run/systemd/system ]]; }

case "$METHOD" in
    deb)
        deb=(airgate_*.deb)
        [[ -f "${deb[0]}" ]] || die "no .deb in the bundle"
        say "installing ${deb[0]} with dpkg"
        dpkg -i "${deb[0]}"
        ;;
    rpm)
        rpm=(airgate-*.rpm)
        [[ -f "${rpm[0]}" ]] || die "no .rpm in the bundle"
        say "installing ${rpm[0]} with rpm"
        rpm -U --replacepkgs "${rpm[0]}"
        # RPM's scriptlets only apply the preset; this installer leaves a running service.
        if systemd_up; then
            systemctl enable --now airgate.service
        fi
        ;;
    binary)
        say "installing the static binary into ${ROOT:-/}"
        install -d "$ROOT/usr/bin" "$ROOT/etc/airgate" "$ROOT/etc/systemd/system" "$ROOT/etc/sysusers.d"
        install -m 0755 airgate "$AIRGATE.new"
        mv -f "$AIRGATE.new" "$AIRGATE"
        install -m 0644 files/airgate.service "$ROOT/etc/systemd/system/airgate.service"
        install -m 0644 files/airgate.sysusers "$ROOT/etc/sysusers.d/airgate.conf"
        if [[ -e "$CONF" ]]; then
            say "keeping the existing $CONF"
        else
            install -m 0640 files/airgate.toml "$CONF"
        fi
        install -d -m 0750 "$DATA" "$DATA/models"
        if [[ -z "$ROOT" ]]; then
            if command -v systemd-sysusers >/dev/null 2>&1; then
                systemd-sysusers airgate.conf
            elif ! getent passwd airgate >/dev/null; then
                getent group airgate >/dev/null || groupadd -r airgate
                useradd -r -g airgate -d /var/lib/airgate -s /usr/sbin/nologin -c "airgate AI gateway" airgate
            fi
            chown root:airgate "$CONF"
            chown airgate:airgate "$DATA" "$DATA/models"
            if systemd_up; then
                systemctl daemon-reload
                systemctl enable airgate.service
                systemctl restart airgate.service
            fi
        fi
        ;;
    *) die "unknown --method $METHOD (deb, rpm or binary)" ;;
esac
"$AIRGATE" version | sed -n 1p

# ---------------------------------------------------------------------------
# 3. Models
# ---------------------------------------------------------------------------
# Run airgate as the service account when installing for real, so files it creates stay the
# service's; through the admin socket when the service runs, on the database when it does not.
as_service() {
    if [[ -z "$ROOT" ]] && getent passwd airgate >/dev/null && command -v runuser >/dev/null 2>&1; then
        runuser -u airgate -- "$AIRGATE" "$@"
    else
        "$AIRGATE" "$@"
    fi
}
cfg=(--config "$CONF")
[[ -n "$ROOT" ]] && cfg+=(--data-dir "$DATA")

names=()
if [[ $MODELS -eq 1 ]] && compgen -G "models/*.gguf" >/dev/null; then
    listed="$(as_service model list --json "${cfg[@]}")" || die "cannot list the registered models (see above)"
    fresh=0
    grep -q '"name"' <<<"$listed" || fresh=1
    install -d -m 0750 "$DATA/models"
    for src in models/*.gguf; do
        dest="$DATA/models/$(basename "$src")"
        if [[ -f "$dest" ]] && ! cmp -s "$src" "$dest"; then
            # A different file under the same name is in use: never replace it under the running
            # model; the new one goes beside it, under its own name.
            dest="$DATA/models/$(basename "$src" .gguf)-$(sha256sum "$src" | cut -c1-8).gguf"
        fi
        if [[ -f "$dest" ]] && cmp -s "$src" "$dest"; then
            say "model $(basename "$dest") already in place"
        else
            say "copying $(basename "$src") to $dest"
            cp -f "$src" "$dest.partial"
            chmod 0640 "$dest.partial"
            mv -f "$dest.partial" "$dest"
        fi
        [[ -z "$ROOT" ]] && getent group airgate >/dev/null && chown airgate:airgate "$dest"
        args=(model add "$dest")
        [[ $fresh -eq 1 && ${#names[@]} -eq 0 ]] && args+=(--default)
        as_service "${args[@]}" "${cfg[@]}"    # idempotent: "already registered" on upgrades
        names+=("$(basename "$dest" .gguf)")
    done
fi
# Whatever airgate wrote as root (no runuser here) belongs to the service.
if [[ -z "$ROOT" ]] && getent passwd airgate >/dev/null && ! command -v runuser >/dev/null 2>&1; then
    chown -R airgate:airgate "$DATA"
fi

# ---------------------------------------------------------------------------
# 4. What to enter in GitLab
# ---------------------------------------------------------------------------
host="$(hostname -f 2>/dev/null || hostname)"
scheme=http
grep -qE '^[[:space:]]*\[tls\]' "$CONF" 2>/dev/null && scheme=https
port="$(sed -n 's/^[[:space:]]*listen[[:space:]]*=[[:space:]]*"[^"]*:\([0-9]*\)".*/\1/p' "$CONF" 2>/dev/null | head -1)"
base="$scheme://$host:${port:-5052}"
dws_port="$(sed -n 's/^[[:space:]]*dws_listen[[:space:]]*=[[:space:]]*"[^"]*:\([0-9]*\)".*/\1/p' "$CONF" 2>/dev/null | head -1)"
secure=false
[[ $scheme == https ]] && secure=true
model="${names[0]:-<model name>}"
cat <<EOF

airgate is installed. Next steps:
  airgate doctor                      check the installation end to end
  $CONF   set gitlab_url = "https://<your GitLab>" (then restart airgate)

In GitLab (Linux package: /etc/gitlab/gitlab.rb, then gitlab-ctl reconfigure):
  gitlab_rails['env'] = { 'AI_GATEWAY_URL' => '$base', 'DUO_AGENT_PLATFORM_SERVICE_SECURE' => '$secure' }
Admin -> GitLab Duo -> Change configuration (Agentic Chat, agent mode):
  Local URL for the GitLab Duo Agent Platform service    $host:${dws_port:-50052}
Admin -> GitLab Duo -> Self-hosted models -> Add self-hosted model:
  Platform            API (OpenAI-compatible)
  Endpoint            $base/v1
  Model identifier    custom_openai/$model
EOF
