# airgate %pre: the service account must exist before files owned by its group are unpacked.
# Same account as /usr/lib/sysusers.d/airgate.conf: system user and group "airgate", no login.
getent group airgate >/dev/null || groupadd -r airgate
getent passwd airgate >/dev/null || \
    useradd -r -g airgate -d /var/lib/airgate -s /sbin/nologin -c "airgate AI gateway" airgate
exit 0
