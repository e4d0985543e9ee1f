#!/usr/bin/env bash
# packaging/systemd/tierd.service: systemd-analyze verify accepts it (with the binary
# under test in place of /usr/bin/tierd, since verify checks that commands exist), it
# has what the service needs (notify, watchdog, restart with a start limit, a dedicated
# user, no capabilities), and systemd-analyze security rates its exposure at most 2.5.
set -euo pipefail
unit=$1 tierd=$2
max_exposure=2.5
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
sed "s|/usr/bin/tierd|$tierd|g" "$unit" >"$work/tierd.service"
grep -q "^ExecStart=$tierd" "$work/tierd.service" || { echo "FAIL: no ExecStart line"; exit 1; }
for key in Type=notify WatchdogSec= Restart=on-failure StartLimitBurst= StartLimitIntervalSec= \
           User=tierd StateDirectory=tierd ConfigurationDirectory=tierd ProtectSystem=strict \
           ProtectHome=yes PrivateTmp=yes NoNewPrivileges=yes 'CapabilityBoundingSet=$'; do
    grep -q "^$key" "$unit" || { echo "FAIL: unit lacks $key"; exit 1; }
done
# --man=no: the man pages are installed by the package, not present in the build tree.
systemd-analyze verify --man=no "$work/tierd.service"
echo "PASS: systemd-analyze verify"
out=$(systemd-analyze security --offline=true --no-pager "$work/tierd.service")
level=$(sed -n 's/.*Overall exposure level for tierd.service: \([0-9.]*\).*/\1/p' <<<"$out")
[ -n "$level" ] || { echo "FAIL: no exposure level in:"; echo "$out"; exit 1; }
echo "systemd-analyze security: exposure $level (at most $max_exposure)"
awk -v l="$level" -v m="$max_exposure" 'BEGIN { exit !(l <= m) }' || {
    echo "$out"; echo "FAIL: exposure $level > $max_exposure"; exit 1; }
echo "PASS: systemd-analyze security"
