#!/usr/bin/env bash
# systemd-analyze verify accepts packaging/systemd/tierd.service, with ExecStart pointed
# at the binary under test (verify checks that the command exists).
set -euo pipefail
unit=$1 tierd=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
sed "s|^ExecStart=/usr/bin/tierd|ExecStart=$tierd|" "$unit" >"$work/tierd.service"
grep -q "^ExecStart=$tierd" "$work/tierd.service" || { echo "FAIL: no ExecStart line"; exit 1; }
for key in Type=notify WatchdogSec= Restart=on-failure; do
    grep -q "^$key" "$unit" || { echo "FAIL: unit lacks $key"; exit 1; }
done
systemd-analyze verify "$work/tierd.service"
echo "PASS: systemd-analyze verify"
