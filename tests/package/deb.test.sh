# The .deb: control fields, file list with modes, conffile, maintainer scripts, man pages,
# a fully static binary, and lintian clean (overrides in packaging/deb/lintian-overrides explained).
source "$HERE/lib.sh"
deb="$(deb_file)"
version="$(crate_version)"

info="$(dpkg-deb --info "$deb")"
contains "Package: airgate" <<<"$info"
contains "Version: $version-1" <<<"$info"
contains "Architecture: amd64" <<<"$info"
contains "Depends: systemd | systemd-standalone-sysusers | systemd-sysusers" <<<"$info"

contents="$(dpkg-deb --contents "$deb")"
for entry in \
    "-rwxr-xr-x (root/root|0/0) .*\./usr/bin/airgate$" \
    "-rw-r----- (root/root|0/0) .*\./etc/airgate/airgate.toml$" \
    "-rw-r--r-- (root/root|0/0) .*\./usr/lib/systemd/system/airgate.service$" \
    "-rw-r--r-- (root/root|0/0) .*\./usr/lib/sysusers.d/airgate.conf$" \
    "-rw-r--r-- (root/root|0/0) .*\./usr/lib/systemd/system-preset/90-airgate.preset$" \
    "\./usr/share/doc/airgate/copyright$" \
    "\./usr/share/doc/airgate/changelog.Debian.gz$" \
    "\./usr/share/doc/airgate/examples/gpu-access.conf$" \
    "\./usr/share/man/man1/airgate.1.gz$" \
    "\./usr/share/man/man1/airgate-doctor.1.gz$"; do
    grep -qE -- "$entry" <<<"$contents" || { echo "$contents" >&2; fail "missing in the .deb: $entry"; }
done

# The conffile and the maintainer scripts.
mkdir "$WORK/ctl"
dpkg-deb --control "$deb" "$WORK/ctl"
contains "/etc/airgate/airgate.toml" <"$WORK/ctl/conffiles"
contains "systemd-sysusers" <"$WORK/ctl/postinst"
contains "deb-systemd-helper" <"$WORK/ctl/postinst"
contains "deb-systemd-invoke stop" <"$WORK/ctl/prerm"
contains "rm -rf /var/lib/airgate" <"$WORK/ctl/postrm"
for s in postinst prerm postrm; do
    check "$s is not valid sh" sh -n "$WORK/ctl/$s"
done

# The payload: a static binary that runs, gzipped man pages, the shipped config valid.
mkdir "$WORK/root"
dpkg-deb --extract "$deb" "$WORK/root"
linkage="$(ldd "$WORK/root/usr/bin/airgate" 2>&1 || true)"
grep -qE "not a dynamic executable|statically linked" <<<"$linkage" || fail "the binary is not static: $linkage"
cmp "$WORK/root/usr/bin/airgate" "$DIST/airgate" || fail "the .deb's binary differs from the staged one"
"$WORK/root/usr/bin/airgate" version | contains "airgate $version"
"$WORK/root/usr/bin/airgate" version | contains "static"
"$WORK/root/usr/bin/airgate" config check "$WORK/root/etc/airgate/airgate.toml" >/dev/null \
    || fail "the packaged config does not pass airgate config check"
zcat "$WORK/root/usr/share/man/man1/airgate.1.gz" | contains ".TH airgate 1"
gzip -t "$WORK/root/usr/share/man/man1/"*.gz

# lintian: no errors or warnings left.
lintian --fail-on error,warning "$deb" \
    >"$WORK/lintian.txt" 2>&1 || { cat "$WORK/lintian.txt"; fail "lintian found problems"; }
cat "$WORK/lintian.txt"
