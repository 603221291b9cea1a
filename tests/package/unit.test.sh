# The systemd unit: `systemd-analyze verify` clean (alone, with the GPU and IP allow-list drop-ins), exposure
# score at most 2.5 ("OK"), and the sysusers entry makes the account. Offline modes only: the test
# machine need not run systemd as PID 1.
source "$HERE/lib.sh"
command -v systemd-analyze >/dev/null || fail "systemd-analyze is missing (scripts/setup-package.sh installs systemd)"

# verify needs ExecStart to exist: point a copy at the staged binary.
mkdir -p "$WORK/units/airgate.service.d"
sed "s#^ExecStart=/usr/bin/airgate#ExecStart=$DIST/airgate#" "$REPO/systemd/airgate.service" >"$WORK/units/airgate.service"
grep -q "^ExecStart=$DIST/airgate serve" "$WORK/units/airgate.service" || fail "ExecStart is not /usr/bin/airgate serve"
out="$(cd "$WORK/units" && SYSTEMD_LOG_LEVEL=notice systemd-analyze verify --man=no ./airgate.service 2>&1)" \
    || { echo "$out"; fail "systemd-analyze verify failed"; }
[[ -z "$out" ]] || { echo "$out"; fail "systemd-analyze verify printed warnings"; }
cp "$REPO/systemd/gpu-access.conf" "$WORK/units/airgate.service.d/gpu.conf"
out="$(cd "$WORK/units" && systemd-analyze verify --man=no ./airgate.service 2>&1)" \
    || { echo "$out"; fail "systemd-analyze verify failed with the GPU drop-in"; }
[[ -z "$out" ]] || { echo "$out"; fail "verify printed warnings with the GPU drop-in"; }
rm "$WORK/units/airgate.service.d/gpu.conf"
cp "$REPO/systemd/ip-allowlist.conf" "$WORK/units/airgate.service.d/ip.conf"
out="$(cd "$WORK/units" && systemd-analyze verify --man=no ./airgate.service 2>&1)" \
    || { echo "$out"; fail "systemd-analyze verify failed with the IP allow-list drop-in"; }
[[ -z "$out" ]] || { echo "$out"; fail "verify printed warnings with the IP allow-list drop-in"; }
rm -r "$WORK/units/airgate.service.d"

score="$(systemd-analyze security --offline=true --no-pager "$WORK/units/airgate.service" 2>/dev/null \
    | sed -n 's/.*Overall exposure level for airgate.service: \([0-9.]*\) .*/\1/p')"
[[ -n "$score" ]] || fail "no exposure score from systemd-analyze security"
echo "exposure score: $score"
awk -v s="$score" 'BEGIN { exit !(s <= 2.5) }' || fail "exposure $score is above 2.5"

# Hardening and service settings the product relies on.
unit="$(cat "$REPO/systemd/airgate.service")"
for line in Type=notify User=airgate StateDirectory=airgate ConfigurationDirectory=airgate \
    Restart=on-failure LimitMEMLOCK=infinity NoNewPrivileges=yes ProtectSystem=strict \
    ProtectHome=yes PrivateTmp=yes "SystemCallFilter=@system-service" StateDirectoryMode=0700 \
    TasksMax=2048 LimitNOFILE=65536; do
    grep -qx -- "$line" <<<"$unit" || fail "unit lacks $line"
done
stop="$(sed -n 's/^TimeoutStopSec=\([0-9]*\)$/\1/p' <<<"$unit")"
drain="$(sed -n 's/^#shutdown_timeout_secs = \([0-9]*\)$/\1/p' "$REPO/src/config/airgate.sample.toml")"
[[ -n "$stop" && -n "$drain" && "$stop" -gt "$drain" ]] || fail "TimeoutStopSec ($stop) must exceed the drain time ($drain)"

# sysusers: the account it declares.
mkdir -p "$WORK/root/etc"
systemd-sysusers --root="$WORK/root" "$REPO/systemd/airgate.sysusers"
grep -E '^airgate:x:[0-9]+:[0-9]+:airgate AI gateway:/var/lib/airgate:/usr/sbin/nologin$' "$WORK/root/etc/passwd" \
    || { cat "$WORK/root/etc/passwd"; fail "sysusers did not create the airgate account"; }
