# airgate %post: state directories, config group, and the unit's preset on first install.
# Works without systemd as PID 1 (containers, chroots): then only the files are set up.
# /var/lib/airgate: database, keys and TLS files, 0700 and the service's; its parent is root's.
state=/var/lib/airgate
mkdir -p "$state"
chown airgate:airgate "$state"
chmod 0700 "$state"
# models/ lies in a directory the service account writes: whatever is there may be a link it
# planted, so root never chowns or chmods it; the account makes it when it is missing.
if [ ! -e "$state/models" ] && [ ! -L "$state/models" ]; then
    runuser -u airgate -- mkdir -m 0700 "$state/models" \
        || echo "airgate: could not create $state/models as the service account" >&2
fi
if [ -d /run/systemd/system ]; then
    systemctl daemon-reload >/dev/null 2>&1 || :
    if [ "$1" -eq 1 ]; then
        systemctl preset airgate.service >/dev/null 2>&1 || :
    fi
fi
exit 0
