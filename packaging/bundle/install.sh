#!/bin/bash
# airgate offline installer (see README-OFFLINE.md).
#
#   sudo ./install.sh (--key PUBKEY | --fingerprint SHA256:HEX) [--method deb|rpm|binary] [--no-models] [BUNDLE]
#   sudo /usr/lib/airgate/install-bundle BUNDLE      upgrade: the installed installer and the pinned key
#   ./install.sh --prefix DIR --key PUBKEY [BUNDLE]  unprivileged install under DIR, for trials and tests
#
# BUNDLE is the unpacked bundle directory (default: the one this script is in).
# 1. Copies the bundle into a private directory (root-owned, 0700) and from then on reads only that
#    copy: nothing is read twice from the medium.
# 2. Verifies the copy: the Ed25519 signature of SHA256SUMS (openssl), every checksum, no added
#    file, no symbolic link. The key: the one pinned by an earlier install
#    (/etc/airgate/bundle-signing.pub); on a first install the publisher's key given with --key,
#    or the bundle's own key when its fingerprint matches the one given with --fingerprint (or
#    typed at the prompt). A first install without either is refused; a --key that differs from
#    the pinned one is refused (replace the pinned file by hand to change publishers).
# 3. Runs the verified copy of this script, which installs: the .deb with dpkg, the .rpm with rpm,
#    or (no package manager, or --prefix) the static binary with the unit, the config and the
#    service account. The key is pinned, and this installer is kept as /usr/lib/airgate/install-bundle.
# 4. Copies the bundle's models/*.gguf into the state directory as the service account and
#    registers them (`airgate model add`); the first becomes the default on a fresh install.
# 5. Prints what to enter in GitLab.
# Configuration, keys, database and models survive an upgrade (packages keep conffiles; the binary
# method never overwrites an existing config).
set -euo pipefail
umask 022

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
BUNDLE=""
KEY=""
FINGERPRINT=""
METHOD=""
PREFIX=""
MODELS=1
STAGED=""

say() { printf 'install: %s\n' "$*"; }
die() { printf 'install: error: %s\n' "$*" >&2; exit 1; }
usage() { sed -n '4,6p' "${BASH_SOURCE[0]}" | sed 's/^# *//' >&2; exit 2; }

while [[ $# -gt 0 ]]; do
    case "$1" in
        --key) KEY="${2:?--key needs a file}"; shift 2 ;;
        --fingerprint) FINGERPRINT="${2:?--fingerprint needs SHA256:<hex>}"; shift 2 ;;
        --method) METHOD="${2:?--method needs deb, rpm or binary}"; shift 2 ;;
        --prefix) PREFIX="${2:?--prefix needs a directory}"; shift 2 ;;
        --no-models) MODELS=0; shift ;;
        --staged) STAGED="${2:?}"; shift 2 ;;   # internal: set by step 1 for the verified copy
        -h|--help) usage ;;
        -*) printf 'install: unknown argument: %s\n' "$1" >&2; usage ;;
        *) [[ -z "$BUNDLE" ]] || usage; BUNDLE="$1"; shift ;;
    esac
done

ROOT=""
if [[ -n "$PREFIX" ]]; then
    mkdir -p "$PREFIX"
    ROOT="$(cd "$PREFIX" && pwd)"
    METHOD=binary
elif [[ "$(id -u)" -ne 0 ]]; then
    die "run as root (sudo ./install.sh), or use --prefix DIR for a user install"
fi
PIN="$ROOT/etc/airgate/bundle-signing.pub"
CONF="$ROOT/etc/airgate/airgate.toml"
DATA="$ROOT/var/lib/airgate"
AIRGATE="$ROOT/usr/bin/airgate"
INSTALLER="$ROOT/usr/lib/airgate/install-bundle"

command -v openssl >/dev/null 2>&1 || die "openssl is needed to check the bundle's signature"

# SHA256:<hex> of the raw 32-byte Ed25519 key in a SPKI PEM file (what `airgate bundle keygen` prints).
fingerprint_of() {
    local raw
    raw="$(openssl pkey -pubin -in "$1" -outform DER 2>/dev/null | tail -c 32 | sha256sum | cut -d' ' -f1)" \
        || return 1
    printf 'SHA256:%s\n' "$raw"
}
# SHA256:<hex> from what a person typed: case, spaces and colons between bytes do not matter.
normalize_fingerprint() {
    local fp
    fp="$(printf '%s' "$1" | tr 'A-Z' 'a-z' | tr -d ' \t:')"
    printf 'SHA256:%s\n' "${fp#sha256}"
}

# ---------------------------------------------------------------------------
# 1 + 2. Copy, choose the key, verify; then hand over to the verified copy.
# ---------------------------------------------------------------------------
if [[ -z "$STAGED" ]]; then
    src="${BUNDLE:-$HERE}"
    [[ -d "$src" ]] || die "$src is not a bundle directory"
    src="$(cd "$src" && pwd)"
    if [[ -n "$KEY" ]]; then
        [[ -f "$KEY" ]] || die "public key $KEY not found"
        KEY="$(cd "$(dirname "$KEY")" && pwd)/$(basename "$KEY")"
    fi
    stage="$(mktemp -d "${TMPDIR:-/var/tmp}/airgate-install.XXXXXX")"
    chmod 0700 "$stage"
    trap 'rm -rf "$stage"' EXIT
    # -P: a link is copied as a link (then refused below), never followed.
    say "copying the bundle from $src into $stage"
    cp -RP --preserve=mode "$src" "$stage/bundle"
    cd "$stage/bundle"
    odd="$(find . ! -type f ! -type d | sed 's#^\./##')"
    [[ -z "$odd" ]] || die "the bundle holds symbolic links or special files, which the signature cannot cover: $(echo "$odd" | tr '\n' ' ')"
    for f in SHA256SUMS SHA256SUMS.sig airgate-signing.pub airgate install.sh; do
        [[ -f "$f" ]] || die "$f is missing: this is not a complete airgate bundle"
    done

    # The key, checked before any file of the bundle is used.
    if [[ -n "$KEY" ]]; then
        cp "$KEY" "$stage/key.pub"
        fingerprint_of "$stage/key.pub" >/dev/null || die "$KEY is not a public key"
    fi
    if [[ -f "$PIN" ]]; then
        if [[ -n "$KEY" ]] && ! cmp -s <(openssl pkey -pubin -in "$PIN" -outform DER 2>/dev/null) \
            <(openssl pkey -pubin -in "$stage/key.pub" -outform DER 2>/dev/null); then
            die "$KEY is not the publisher key pinned in $PIN ($(fingerprint_of "$PIN")); to change publishers, replace that file by hand first"
        fi
        cp "$PIN" "$stage/key.pub"
        say "using the pinned publisher key $PIN"
    elif [[ -z "$KEY" ]]; then
        bundled="$(fingerprint_of airgate-signing.pub)" || die "airgate-signing.pub is not a public key"
        if [[ -z "$FINGERPRINT" && -t 0 ]]; then
            printf 'install: the bundle was signed by the key with fingerprint\n  %s\n' "$bundled"
            read -r -p "install: type the fingerprint your release team published: " FINGERPRINT
        fi
        [[ -n "$FINGERPRINT" ]] \
            || die "a first install needs the publisher's key: --key FILE, or --fingerprint SHA256:<hex> as your release team published it"
        [[ "$(normalize_fingerprint "$FINGERPRINT")" == "$bundled" ]] \
            || die "the bundle's key ($bundled) is not the one with the fingerprint you gave: do not install this bundle"
        cp airgate-signing.pub "$stage/key.pub"
    fi
    fingerprint="$(fingerprint_of "$stage/key.pub")"
    if [[ -n "$FINGERPRINT" && "$(normalize_fingerprint "$FINGERPRINT")" != "$fingerprint" ]]; then
        die "the publisher key ($fingerprint) does not have the fingerprint you gave"
    fi

    if ! openssl pkeyutl -verify -pubin -inkey "$stage/key.pub" -rawin -in SHA256SUMS -sigfile SHA256SUMS.sig >/dev/null 2>&1; then
        die "the signature of SHA256SUMS does not verify with the publisher key $fingerprint: do not install this bundle"
    fi
    say "signature OK (key $fingerprint)"
    sha256sum --quiet --strict -c SHA256SUMS || die "checksum mismatch: the bundle is damaged or was changed"
    unlisted="$(comm -23 \
        <(find . ! -type d ! -name SHA256SUMS ! -name SHA256SUMS.sig ! -name airgate-signing.pub | sed 's#^\./##' | LC_ALL=C sort) \
        <(sed 's/^[0-9a-f]*  //' SHA256SUMS | LC_ALL=C sort))"
    [[ -z "$unlisted" ]] || die "files not covered by the signature: $(echo "$unlisted" | tr '\n' ' ')"
    say "checksums OK"
    trap - EXIT
    # Only the verified copy of this script goes on; it removes the copy when it ends.
    next=(--staged "$stage")
    [[ -n "$ROOT" ]] && next+=(--prefix "$ROOT")
    [[ -n "$METHOD" ]] && next+=(--method "$METHOD")
    [[ $MODELS -eq 1 ]] || next+=(--no-models)
    exec bash "$stage/bundle/install.sh" "${next[@]}"
fi

# From here on this is the verified copy, run by step 1 above.
stage="$STAGED"
[[ -d "$stage/bundle" && -O "$stage" && -f "$stage/key.pub" ]] || die "--staged is set by install.sh itself"
trap 'rm -rf "$stage"' EXIT
BUNDLE="$stage/bundle"
cd "$BUNDLE"

# ---------------------------------------------------------------------------
# 3. Install
# ---------------------------------------------------------------------------
if [[ -z "$METHOD" ]]; then
    if command -v dpkg >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then METHOD=deb
    elif command -v rpm >/dev/null 2>&1 && ! command -v dpkg >/dev/null 2>&1; then METHOD=rpm
    else METHOD=binary
    fi
fi
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
        install -d "$ROOT/usr/bin" "$ROOT/usr/lib/airgate" "$ROOT/etc/airgate" "$ROOT/etc/systemd/system" \
            "$ROOT/etc/sysusers.d"
        install -m 0755 airgate "$AIRGATE.new"
        mv -f "$AIRGATE.new" "$AIRGATE"
        install -m 0755 install.sh "$INSTALLER.new"
        mv -f "$INSTALLER.new" "$INSTALLER"
        install -m 0644 files/airgate.service "$ROOT/etc/systemd/system/airgate.service"
        install -m 0644 files/airgate.sysusers "$ROOT/etc/sysusers.d/airgate.conf"
        if [[ -e "$CONF" ]]; then
            say "keeping the existing $CONF"
        else
            install -m 0640 files/airgate.toml "$CONF"
        fi
        # The state directory's parent is root's, so it is set up directly; nothing inside it is
        # touched as root (the service account can write there).
        [[ -L "$DATA" ]] || install -d -m 0700 "$DATA"
        if [[ -z "$ROOT" ]]; then
            if command -v systemd-sysusers >/dev/null 2>&1; then
                systemd-sysusers airgate.conf
            elif ! getent passwd airgate >/dev/null; then
                getent group airgate >/dev/null || groupadd -r airgate
                useradd -r -g airgate -d /var/lib/airgate -s /usr/sbin/nologin -c "airgate AI gateway" airgate
            fi
            chown root:airgate "$CONF"
            chown -h airgate:airgate "$DATA"
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

if [[ ! -f "$PIN" ]]; then
    install -d "$(dirname "$PIN")"
    install -m 0644 "$stage/key.pub" "$PIN"
    say "pinned the publisher key $(fingerprint_of "$PIN") in $PIN: later bundles must be signed by it"
fi

# ---------------------------------------------------------------------------
# 4. Models
# ---------------------------------------------------------------------------
# Installing for real, everything under the state directory is done as the service account: a
# link it planted there leads nowhere it could not write itself.
service_account() { [[ -z "$ROOT" ]] && getent passwd airgate >/dev/null; }
as_service() {
    if service_account; then
        command -v runuser >/dev/null 2>&1 || die "runuser (util-linux) is needed to act as the service account"
        runuser -u airgate -- "$@"
    else
        "$@"
    fi
}
cfg=(--config "$CONF")
[[ -n "$ROOT" ]] && cfg+=(--data-dir "$DATA")

names=()
if [[ $MODELS -eq 1 ]] && compgen -G "models/*.gguf" >/dev/null; then
    listed="$(as_service "$AIRGATE" model list --json "${cfg[@]}")" || die "cannot list the registered models (see above)"
    fresh=0
    grep -q '"name"' <<<"$listed" || fresh=1
    as_service mkdir -p "$DATA/models"
    for src in models/*.gguf; do
        dest="$DATA/models/$(basename "$src")"
        same() { as_service cmp -s - "$1" <"$src"; }
        if as_service test -f "$dest" && ! same "$dest"; then
            # A different file under the same name is in use: never replace it under the running
            # model; the new one goes beside it, under its own name.
            dest="$DATA/models/$(basename "$src" .gguf)-$(sha256sum "$src" | cut -c1-8).gguf"
        fi
        if as_service test -f "$dest" && same "$dest"; then
            say "model $(basename "$dest") already in place"
        else
            say "copying $(basename "$src") to $dest"
            # The account writes a new file (a planted .partial is replaced, not followed) and
            # renames it into place; root only reads the verified copy.
            as_service sh -c 'umask 027; rm -f "$1" && cat >"$1" && mv -f "$1" "$2"' sh "$dest.partial" "$dest" <"$src"
        fi
        args=(model add "$dest")
        [[ $fresh -eq 1 && ${#names[@]} -eq 0 ]] && args+=(--default)
        as_service "$AIRGATE" "${args[@]}" "${cfg[@]}"    # idempotent: "already registered" on upgrades
        names+=("$(basename "$dest" .gguf)")
    done
fi

# ---------------------------------------------------------------------------
# 5. What to enter in GitLab
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
  $INSTALLER BUNDLE   upgrade later from a newer bundle (checked with the pinned key)

In GitLab (Linux package: /etc/gitlab/gitlab.rb, then gitlab-ctl reconfigure):
  gitlab_rails['env'] = { 'AI_GATEWAY_URL' => '$base', 'DUO_AGENT_PLATFORM_SERVICE_SECURE' => '$secure' }
Admin -> GitLab Duo -> Change configuration (Agentic Chat, agent mode):
  Local URL for the GitLab Duo Agent Platform service    $host:${dws_port:-50052}
Admin -> GitLab Duo -> Self-hosted models -> Add self-hosted model:
  Platform            API (OpenAI-compatible)
  Endpoint            $base/v1
  Model identifier    custom_openai/$model
EOF
