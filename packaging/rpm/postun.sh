# airgate %postun: after an upgrade restart the running service on the new binary. State in
# /var/lib/airgate is never deleted here (rpm has no purge; remove it by hand if wanted).
if [ -d /run/systemd/system ]; then
    systemctl daemon-reload >/dev/null 2>&1 || :
    if [ "$1" -ge 1 ]; then
        systemctl try-restart airgate.service >/dev/null 2>&1 || :
    fi
fi
exit 0
