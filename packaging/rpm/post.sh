# airgate %post: state directories, config group, and the unit's preset on first install.
# Works without systemd as PID 1 (containers, chroots): then only the files are set up.
for dir in /var/lib/airgate /var/lib/airgate/models; do
    mkdir -p "$dir"
    chown airgate:airgate "$dir"
    chmod 0750 "$dir"
done
if [ -d /run/systemd/system ]; then
    systemctl daemon-reload >/dev/null 2>&1 || :
    if [ "$1" -eq 1 ]; then
        systemctl preset airgate.service >/dev/null 2>&1 || :
    fi
fi
exit 0
