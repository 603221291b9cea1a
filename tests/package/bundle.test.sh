# The USB bundle: built by scripts/bundle.sh with a model and a signing key, verified by the binary
# and by install.sh; tampering (changed file, added file, wrong key) refused; a first install needs
# the publisher's key or its fingerprint and pins the key; install.sh --prefix installs binary,
# unit, config, the installer and the registered model and prints the GitLab settings; the installed
# installer upgrades with the pinned key (the admin's config and the database kept) and refuses a
# re-signed bundle with a modified install.sh without running any of it.
source "$HERE/lib.sh"
model="${AIRGATE_TEST_MODEL:?the default model}"
bin="$DIST/airgate"

"$bin" bundle keygen "$WORK/signing.pem" >/dev/null
"$bin" bundle keygen "$WORK/other.pem" >/dev/null
mkdir "$WORK/out"
cp "$DIST"/airgate "$DIST"/airgate_*.deb "$DIST"/airgate-*.rpm "$WORK/out/"

# No key: refused.
if "$REPO/scripts/bundle.sh" "$WORK/out" 2>"$WORK/err"; then fail "bundle.sh signed without a key"; fi
contains "AIRGATE_SIGNING_KEY" <"$WORK/err"

tar="$(AIRGATE_SIGNING_KEY="$WORK/signing.pem" "$REPO/scripts/bundle.sh" "$WORK/out" "$model")"
[[ -f "$tar" && "$tar" == *-x86_64-linux.tar ]] || fail "no bundle tar: $tar"
listing="$(tar -tf "$tar")"
name="$(basename "$tar" .tar)"
for f in airgate install.sh README-OFFLINE.md SHA256SUMS SHA256SUMS.sig airgate-signing.pub \
    files/airgate.service files/airgate.toml "models/$(basename "$model")"; do
    grep -qx "$name/$f" <<<"$listing" || { echo "$listing"; fail "bundle lacks $f"; }
done
grep -qE "^$name/airgate_.*\.deb$" <<<"$listing" || fail "bundle lacks the .deb"
grep -qE "^$name/airgate-.*\.rpm$" <<<"$listing" || fail "bundle lacks the .rpm"

mkdir "$WORK/usb"
tar -C "$WORK/usb" -xf "$tar"
b="$WORK/usb/$name"
"$bin" bundle verify "$b" >/dev/null
"$bin" bundle verify "$b" --key "$WORK/signing.pem.pub" >/dev/null
# openssl alone verifies the signature (what an admin without airgate can do).
openssl pkeyutl -verify -pubin -inkey "$b/airgate-signing.pub" -rawin -in "$b/SHA256SUMS" -sigfile "$b/SHA256SUMS.sig" \
    | contains "Signature Verified Successfully"

# Tampering: each copy must be refused by install.sh and by `airgate bundle verify`.
tamper() {
    local what="$1" dir="$WORK/tamper-$1"
    cp -a "$b" "$dir"
    case "$what" in
        changed) printf 'x' >>"$dir/files/airgate.toml" ;;
        added) echo '#!/bin/sh' >"$dir/files/evil.sh" ;;
        resigned) AIRGATE_SIGNING_KEY="$WORK/other.pem" "$bin" bundle sign "$dir" >/dev/null ;;
        symlink) ln -s "$(ls "$dir"/airgate_*.deb)" "$dir/airgate_0.0.0-0_amd64.deb" ;;
    esac
    echo "$dir"
}
key=(--key "$WORK/signing.pem.pub")
d="$(tamper changed)"
if "$d/install.sh" --prefix "$WORK/p-bad" "${key[@]}" >"$WORK/out.txt" 2>&1; then fail "install.sh accepted a changed file"; fi
contains "checksum mismatch" <"$WORK/out.txt"
if "$bin" bundle verify "$d" >/dev/null 2>&1; then fail "bundle verify accepted a changed file"; fi
d="$(tamper added)"
if "$d/install.sh" --prefix "$WORK/p-bad" "${key[@]}" >"$WORK/out.txt" 2>&1; then fail "install.sh accepted an added file"; fi
contains "files/evil.sh" <"$WORK/out.txt"
if "$bin" bundle verify "$d" >/dev/null 2>&1; then fail "bundle verify accepted an added file"; fi
d="$(tamper symlink)"
if "$d/install.sh" --prefix "$WORK/p-bad" "${key[@]}" >"$WORK/out.txt" 2>&1; then fail "install.sh accepted a symbolic link"; fi
contains "symbolic links" <"$WORK/out.txt"
d="$(tamper resigned)"
if "$d/install.sh" --prefix "$WORK/p-bad" --key "$WORK/signing.pem.pub" >"$WORK/out.txt" 2>&1; then
    fail "install.sh accepted a bundle signed by another key"
fi
contains "does not verify" <"$WORK/out.txt"
[[ ! -e "$WORK/p-bad/usr/bin/airgate" ]] || fail "a refused bundle installed files"

# A first install trusts no key by itself: neither the bundle's own key silently, nor a wrong
# fingerprint. The right fingerprint (as `bundle keygen` printed it, in any case) is enough.
if "$b/install.sh" --prefix "$WORK/p-bad" </dev/null >"$WORK/out.txt" 2>&1; then
    fail "a first install without the publisher key went ahead"
fi
contains "a first install needs the publisher's key" <"$WORK/out.txt"
other_fp="$({ "$bin" bundle verify "$b" --key "$WORK/other.pem.pub" 2>&1 || true; } | sed -n 's/.*with key \(SHA256:[0-9a-f]*\).*/\1/p')"
[[ -n "$other_fp" ]] || fail "no fingerprint for the other key"
if "$b/install.sh" --prefix "$WORK/p-bad" --fingerprint "$other_fp" >"$WORK/out.txt" 2>&1; then
    fail "install.sh accepted a bundle whose key has another fingerprint"
fi
contains "not the one with the fingerprint you gave" <"$WORK/out.txt"
[[ ! -e "$WORK/p-bad/usr/bin/airgate" ]] || fail "a refused first install installed files"
fp="$("$bin" bundle verify "$b" --key "$WORK/signing.pem.pub" | sed -n 's/.*signed by \(SHA256:[0-9a-f]*\).*/\1/p')"
[[ -n "$fp" ]] || fail "no fingerprint from bundle verify"
"$b/install.sh" --prefix "$WORK/p-fp" --no-models --fingerprint "$(tr 'a-f' 'A-F' <<<"${fp#SHA256:}")" \
    >"$WORK/out.txt" 2>&1 || { cat "$WORK/out.txt"; fail "install.sh --fingerprint failed"; }
cmp -s "$WORK/p-fp/etc/airgate/bundle-signing.pub" "$WORK/signing.pem.pub" || fail "the key was not pinned"

# Install under a prefix (the key and the prefix given relative to the caller's directory, as an
# admin types them). The private copy it works from is gone afterwards.
p="$WORK/prefix"
mkdir "$WORK/tmp"
(cd "$WORK" && TMPDIR="$WORK/tmp" "$b/install.sh" --prefix prefix --key signing.pem.pub) >"$WORK/install.txt" 2>&1 \
    || { cat "$WORK/install.txt"; fail "install.sh --prefix failed"; }
[[ -z "$(ls -A "$WORK/tmp")" ]] || fail "install.sh left its private copy behind: $(ls -A "$WORK/tmp")"
cat "$WORK/install.txt"
contains "signature OK" <"$WORK/install.txt"
mname="$(basename "$model" .gguf)"
contains "custom_openai/$mname" <"$WORK/install.txt"
contains "AI_GATEWAY_URL" <"$WORK/install.txt"
"$p/usr/bin/airgate" version | contains "airgate "
[[ -f "$p/etc/systemd/system/airgate.service" ]] || fail "no unit installed"
cmp -s "$p/etc/airgate/bundle-signing.pub" "$WORK/signing.pem.pub" || fail "the publisher key was not pinned"
cmp -s "$p/usr/lib/airgate/install-bundle" "$REPO/packaging/bundle/install.sh" || fail "the installer was not kept"
cmp -s "$model" "$p/var/lib/airgate/models/$(basename "$model")" || fail "model not copied"
cfg=(--config "$p/etc/airgate/airgate.toml" --data-dir "$p/var/lib/airgate")
"$p/usr/bin/airgate" model list "${cfg[@]}" | contains "* $mname"

# A re-signed bundle whose install.sh was changed: the installed installer checks it with the pinned
# key and refuses it before running anything from it; naming the attacker's key does not help.
d="$(tamper resigned)"
printf '#!/usr/bin/env bash\ntouch "%s"\n' "$WORK/pwned" >"$d/install.sh"
AIRGATE_SIGNING_KEY="$WORK/other.pem" "$bin" bundle sign "$d" >/dev/null
if "$p/usr/lib/airgate/install-bundle" --prefix "$p" "$d" >"$WORK/out.txt" 2>&1; then
    fail "the installed installer accepted a bundle signed by another key"
fi
contains "using the pinned publisher key" <"$WORK/out.txt"
contains "does not verify" <"$WORK/out.txt"
if "$p/usr/lib/airgate/install-bundle" --prefix "$p" --key "$WORK/other.pem.pub" "$d" >"$WORK/out.txt" 2>&1; then
    fail "the installed installer accepted a key other than the pinned one"
fi
contains "is not the publisher key pinned in" <"$WORK/out.txt"
[[ ! -e "$WORK/pwned" ]] || fail "the modified install.sh of a refused bundle ran"

# Upgrade in place with the installed installer and the pinned key: the admin's config edit and the
# database survive, the model stays registered once.
echo 'threads = 1' >>"$p/etc/airgate/airgate.toml"
"$p/usr/lib/airgate/install-bundle" --prefix "$p" "$b" >"$WORK/upgrade.txt" 2>&1 \
    || { cat "$WORK/upgrade.txt"; fail "the upgrade with the installed installer failed"; }
contains "using the pinned publisher key" <"$WORK/upgrade.txt"
contains "keeping the existing" <"$WORK/upgrade.txt"
grep -qx 'threads = 1' "$p/etc/airgate/airgate.toml" || fail "the upgrade replaced the config"
[[ "$("$p/usr/bin/airgate" model list "${cfg[@]}" | grep -c "$mname")" -eq 1 ]] || fail "model listed twice"
"$p/usr/bin/airgate" model list "${cfg[@]}" | contains "* $mname"

# A newer bundle shipping a different file under the same name: the registered model is left alone,
# the new one lands beside it under its own name, the default stays.
mkdir "$WORK/out2" "$WORK/m2"
cp "$DIST"/airgate "$DIST"/airgate_*.deb "$DIST"/airgate-*.rpm "$WORK/out2/"
changed="$WORK/m2/$(basename "$model")"
cp "$model" "$changed"
printf 'x' | dd of="$changed" bs=1 seek=$(($(stat -c %s "$changed") - 1)) conv=notrunc status=none
tar2="$(AIRGATE_SIGNING_KEY="$WORK/signing.pem" "$REPO/scripts/bundle.sh" "$WORK/out2" "$changed")"
mkdir "$WORK/usb2"
tar -C "$WORK/usb2" -xf "$tar2"
"$WORK/usb2/$name/install.sh" --prefix "$p" --key "$WORK/signing.pem.pub" >"$WORK/upgrade2.txt" 2>&1 \
    || { cat "$WORK/upgrade2.txt"; fail "installing a bundle with a changed model failed"; }
cmp -s "$model" "$p/var/lib/airgate/models/$(basename "$model")" || fail "the registered model file was replaced"
suffix="$(sha256sum "$changed" | cut -c1-8)"
cmp -s "$changed" "$p/var/lib/airgate/models/$mname-$suffix.gguf" || fail "the changed model is not beside the old one"
listing="$("$p/usr/bin/airgate" model list "${cfg[@]}")"
contains "* $mname " <<<"$listing"
contains "$mname-$suffix" <<<"$listing"
