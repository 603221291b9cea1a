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

# Serialise concurrent runs of one set-up step (two make invocations at once would otherwise race
# on the same files): holds $AIRGATE_CACHE/.NAME.lock until the script exits.
setup_lock() {
    mkdir -p "$AIRGATE_CACHE"
    if command -v flock >/dev/null 2>&1; then
        exec 9>"$AIRGATE_CACHE/.$1.lock"
        flock 9
    fi
}

deb_installed() {
    [[ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null || true)" == "install ok installed" ]]
}

# Debian packages: installed when missing, with sudo when not root, `apt-get update` once.
APT_UPDATED=0
apt_install() {
    command -v apt-get >/dev/null 2>&1 || die "missing packages ($*) and no apt-get; install them by hand"
    local sudo=()
    if [[ "$(id -u)" -ne 0 ]]; then
        command -v sudo >/dev/null 2>&1 || die "missing packages ($*); run as root or install sudo"
        sudo=(sudo)
    fi
    say "installing Debian packages: $*"
    # Another install (a package test, unattended-upgrades) may hold dpkg's lock: wait for it.
    local wait=(-o DPkg::Lock::Timeout=600)
    if [[ $APT_UPDATED -eq 0 ]]; then
        quietly "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get "${wait[@]}" update -q
        APT_UPDATED=1
    fi
    quietly "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
        apt-get "${wait[@]}" install -y -q --no-install-recommends "$@"
}

# Install each named Debian package that is not installed yet.
apt_ensure() {
    local missing=() p
    for p in "$@"; do
        deb_installed "$p" || missing+=("$p")
    done
    if [[ ${#missing[@]} -gt 0 ]]; then
        apt_install "${missing[@]}"
    fi
}
