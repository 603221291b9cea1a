# Install the .deb on this machine for real (root only), then upgrade, remove and purge it:
# the account and directories exist with the right owners, the packaged config is valid where it
# is installed, an admin's config change and the state survive an upgrade and a remove, a link the
# service account planted in its state directory is not followed by the upgrade's postinst, and
# only purge deletes the state. Works without systemd as PID 1 (the unit is simply not started).
source "$HERE/lib.sh"
[[ "$(id -u)" -eq 0 ]] || skip "needs root (installs the .deb on this machine)"
if dpkg-query -W -f='${Status}' airgate 2>/dev/null | grep -q "ok installed"; then
    skip "airgate is already installed on this machine; not touching it"
fi
[[ ! -e /var/lib/airgate && ! -e /etc/airgate ]] || skip "/var/lib/airgate or /etc/airgate exists already; not touching it"
deb="$(deb_file)"
cleanup() { dpkg --purge airgate >/dev/null 2>&1 || true; }
trap cleanup EXIT

dpkg -i "$deb"
getent passwd airgate | contains ":/var/lib/airgate:/usr/sbin/nologin"
stat -c '%U:%G %a' /var/lib/airgate | contains "airgate:airgate 700"
stat -c '%U:%G %a' /var/lib/airgate/models | contains "airgate:airgate 700"
[[ -x /usr/lib/airgate/install-bundle ]] || fail "the bundle installer is not installed"
stat -c '%U:%G %a' /etc/airgate/airgate.toml | contains "root:airgate 640"
/usr/bin/airgate config check /etc/airgate/airgate.toml >/dev/null
/usr/bin/airgate --version | contains "airgate "
/usr/bin/airgate version | contains "features: static"
man -w airgate-doctor 2>/dev/null | contains "/usr/share/man/man1/airgate-doctor.1.gz" || test -f /usr/share/man/man1/airgate-doctor.1.gz

# State the service would have written, and an admin's config change.
echo 'threads = 1' >>/etc/airgate/airgate.toml
echo state >/var/lib/airgate/marker
# A model registered in the database by the service account, as an admin would.
model="${AIRGATE_TEST_MODEL:?the default model}"
install -o airgate -g airgate -m 0640 "$model" /var/lib/airgate/models/test.gguf
runuser -u airgate -- /usr/bin/airgate model add /var/lib/airgate/models/test.gguf --default >/dev/null
runuser -u airgate -- /usr/bin/airgate model list | contains "* test"
stat -c '%U' /var/lib/airgate/airgate.redb | contains "airgate"
/usr/bin/airgate config check /etc/airgate/airgate.toml >/dev/null

# Upgrade to a newer revision of the same package: config change and state kept.
dpkg-deb -R "$deb" "$WORK/pkg"
sed -i 's/^Version: \(.*\)-1$/Version: \1-2/' "$WORK/pkg/DEBIAN/control"
dpkg-deb --root-owner-group -b "$WORK/pkg" "$WORK/airgate-next.deb" >/dev/null
dpkg -i "$WORK/airgate-next.deb"
dpkg-query -W -f='${Version}' airgate | contains "-2"
grep -qx 'threads = 1' /etc/airgate/airgate.toml || fail "the upgrade replaced the admin's config"
stat -c '%U:%G %a' /etc/airgate/airgate.toml | contains "root:airgate 640"
grep -qx state /var/lib/airgate/marker || fail "the upgrade lost state"
runuser -u airgate -- /usr/bin/airgate model list | contains "* test"

# The service account replaces models/ with a link to a directory outside its state; the next
# upgrade (postinst as root) must leave that directory's owner and mode alone.
mkdir -m 0755 "$WORK/victim"
chmod 0711 "$WORK"
runuser -u airgate -- mv /var/lib/airgate/models /var/lib/airgate/models.real
runuser -u airgate -- ln -s "$WORK/victim" /var/lib/airgate/models
sed -i 's/^Version: \(.*\)-2$/Version: \1-3/' "$WORK/pkg/DEBIAN/control"
dpkg-deb --root-owner-group -b "$WORK/pkg" "$WORK/airgate-next.deb" >/dev/null
dpkg -i "$WORK/airgate-next.deb"
stat -c '%U:%G %a' "$WORK/victim" | contains "root:root 755"
stat -c '%U:%G %a' /var/lib/airgate | contains "airgate:airgate 700"
runuser -u airgate -- rm /var/lib/airgate/models
runuser -u airgate -- mv /var/lib/airgate/models.real /var/lib/airgate/models

# Remove keeps the state and the config; purge deletes them; the account stays.
dpkg -r airgate
[[ ! -e /usr/bin/airgate ]] || fail "remove left the binary"
grep -qx state /var/lib/airgate/marker || fail "remove deleted the state"
[[ -f /etc/airgate/airgate.toml ]] || fail "remove deleted the config"
dpkg --purge airgate
[[ ! -e /var/lib/airgate ]] || fail "purge left /var/lib/airgate"
[[ ! -e /etc/airgate ]] || fail "purge left /etc/airgate"
getent passwd airgate >/dev/null || fail "purge removed the system account"
