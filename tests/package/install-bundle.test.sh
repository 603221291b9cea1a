# The USB bundle installed for real (root only, with dpkg): install.sh pins the publisher key and
# copies the model as the service account; then the service account plants a link where the next
# model copy will be written, and the upgrade with the installed installer (pinned key) writes
# the new model without following it: the file outside the state directory keeps its bytes and
# owner. Works without systemd as PID 1.
source "$HERE/lib.sh"
[[ "$(id -u)" -eq 0 ]] || skip "needs root (installs the bundle on this machine)"
if dpkg-query -W -f='${Status}' airgate 2>/dev/null | grep -q "ok installed"; then
    skip "airgate is already installed on this machine; not touching it"
fi
[[ ! -e /var/lib/airgate && ! -e /etc/airgate ]] || skip "/var/lib/airgate or /etc/airgate exists already; not touching it"
command -v runuser >/dev/null || fail "runuser is missing"
model="${AIRGATE_TEST_MODEL:?the default model}"
bin="$DIST/airgate"
cleanup() { dpkg --purge airgate >/dev/null 2>&1 || true; rm -rf /var/lib/airgate /etc/airgate; }
trap cleanup EXIT

"$bin" bundle keygen "$WORK/signing.pem" >/dev/null
mkdir "$WORK/out" "$WORK/out2" "$WORK/m2" "$WORK/tmp"
cp "$DIST"/airgate "$DIST"/airgate_*.deb "$DIST"/airgate-*.rpm "$WORK/out/"
cp "$DIST"/airgate "$DIST"/airgate_*.deb "$DIST"/airgate-*.rpm "$WORK/out2/"
tar="$(AIRGATE_SIGNING_KEY="$WORK/signing.pem" "$REPO/scripts/bundle.sh" "$WORK/out" "$model")"
mname="$(basename "$model" .gguf)"
changed="$WORK/m2/$mname.gguf"
cp "$model" "$changed"
printf 'x' | dd of="$changed" bs=1 seek=$(($(stat -c %s "$changed") - 1)) conv=notrunc status=none
tar2="$(AIRGATE_SIGNING_KEY="$WORK/signing.pem" "$REPO/scripts/bundle.sh" "$WORK/out2" "$changed")"
mkdir "$WORK/usb" "$WORK/usb2"
tar -C "$WORK/usb" -xf "$tar"
tar -C "$WORK/usb2" -xf "$tar2"
name="$(basename "$tar" .tar)"

TMPDIR="$WORK/tmp" "$WORK/usb/$name/install.sh" --method deb --key "$WORK/signing.pem.pub" >"$WORK/install.txt" 2>&1 \
    || { cat "$WORK/install.txt"; fail "install.sh --method deb failed"; }
cmp -s /etc/airgate/bundle-signing.pub "$WORK/signing.pem.pub" || fail "the publisher key was not pinned"
stat -c '%U:%G %a' /etc/airgate/bundle-signing.pub | contains "root:root 644"
stat -c '%U:%G %a' "/var/lib/airgate/models/$mname.gguf" | contains "airgate:airgate 640"
runuser -u airgate -- /usr/bin/airgate model list | contains "* $mname"
[[ -z "$(ls -A "$WORK/tmp")" ]] || fail "install.sh left its private copy behind"

# The link: where the changed model's temporary file will be written.
chmod 0711 "$WORK"
printf 'untouched\n' >"$WORK/victim"
chmod 0644 "$WORK/victim"
suffix="$(sha256sum "$changed" | cut -c1-8)"
runuser -u airgate -- ln -s "$WORK/victim" "/var/lib/airgate/models/$mname-$suffix.gguf.partial"

TMPDIR="$WORK/tmp" /usr/lib/airgate/install-bundle "$WORK/usb2/$name" >"$WORK/upgrade.txt" 2>&1 \
    || { cat "$WORK/upgrade.txt"; fail "the upgrade with the installed installer failed"; }
contains "using the pinned publisher key" <"$WORK/upgrade.txt"
grep -qx untouched "$WORK/victim" || fail "the upgrade wrote through the planted link"
stat -c '%U:%G %a' "$WORK/victim" | contains "root:root 644"
cmp -s "$changed" "/var/lib/airgate/models/$mname-$suffix.gguf" || fail "the changed model is not in place"
stat -c '%U:%G' "/var/lib/airgate/models/$mname-$suffix.gguf" | contains "airgate:airgate"
cmp -s "$model" "/var/lib/airgate/models/$mname.gguf" || fail "the registered model file was replaced"
[[ -z "$(ls -A "$WORK/tmp")" ]] || fail "the upgrade left its private copy behind"
