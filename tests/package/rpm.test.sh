# The .rpm: the same files as the .deb (one asset list), %config(noreplace) config owned by group
# airgate, scriptlets that create the account and never delete state, rpmlint clean.
source "$HERE/lib.sh"
rpm="$(rpm_file)"
deb="$(deb_file)"
version="$(crate_version)"

rpm -qp --queryformat '%{NAME} %{VERSION}-%{RELEASE} %{ARCH} %{LICENSE}\n' "$rpm" \
    | contains "airgate $version-1 x86_64 MIT"

# Same payload as the .deb, apart from each format's own licence/changelog files.
rpm -qpl "$rpm" | grep -v '^/usr/share/licenses/' | LC_ALL=C sort >"$WORK/rpm.list"
dpkg-deb --contents "$deb" | awk '$1 !~ /^d/ {print substr($6, 2)}' \
    | grep -vE '^/usr/share/(doc/airgate/(copyright|changelog\.Debian\.gz)|lintian/)' | LC_ALL=C sort >"$WORK/deb.list"
diff -u "$WORK/deb.list" "$WORK/rpm.list" || fail "the .rpm and the .deb do not carry the same files"
rpm -qpl "$rpm" | contains "/usr/share/licenses/airgate/LICENSE"

rpm -qp --configfiles "$rpm" | contains "/etc/airgate/airgate.toml"
dump="$(rpm -qp --dump "$rpm")"
grep -E '^/etc/airgate/airgate.toml .* 0100640 root airgate 1 ' <<<"$dump" >/dev/null \
    || { echo "$dump" >&2; fail "config not 0640 root:airgate %config"; }
grep -E '^/usr/bin/airgate .* 0100755 root root ' <<<"$dump" >/dev/null || fail "binary not 0755 root:root"

scripts="$(rpm -qp --scripts "$rpm")"
contains "useradd -r -g airgate" <<<"$scripts"
contains "systemctl preset airgate.service" <<<"$scripts"
contains "systemctl try-restart airgate.service" <<<"$scripts"
lacks "rm -rf" <<<"$scripts"
for s in "$REPO"/packaging/rpm/*.sh; do
    check "$s is not valid sh" sh -n "$s"
done

mkdir "$WORK/root"
rpm2archive -n <"$rpm" | tar -C "$WORK/root" -x
cmp "$WORK/root/usr/bin/airgate" "$DIST/airgate" || fail "the .rpm's binary differs from the staged one"

rpmlint -c "$REPO/packaging/rpm/rpmlint.toml" "$rpm" >"$WORK/rpmlint.txt" 2>&1 \
    || { cat "$WORK/rpmlint.txt"; fail "rpmlint found errors"; }
cat "$WORK/rpmlint.txt"
grep -qE '[1-9][0-9]* warnings?' "$WORK/rpmlint.txt" && fail "rpmlint warnings left"
true
