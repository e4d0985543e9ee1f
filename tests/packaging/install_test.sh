#!/usr/bin/env bash
# install_test.sh DEBDIR: installs the built tierd, tierd-models and tierd-dev packages on
# this machine, checks what they put where, runs the installed daemon (as the tierd user,
# under an emulation of the unit's ProtectSystem=strict, PrivateTmp, NoNewPrivileges
# and MemoryDenyWriteExecute) against a loopback broker, drives it with the installed
# tierctl, builds the tierd-dev plugin template out of the tree against the installed
# package only and has the installed daemon load it, then removes and purges the
# packages and checks that nothing is left but what policy says.
#
# Needs root (dpkg, a mount namespace). It changes the machine: CI runs it on a fresh
# one (scripts/test.sh runs it after ctest when it is root).
set -euo pipefail
debdir=$(cd "$1" && pwd)
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/scripts/lib-broker.sh"
[ "$(id -u)" -eq 0 ] || { echo "install_test.sh: needs root (dpkg)" >&2; exit 1; }
dpkg-query -W -f="\${Status}" tierd 2>/dev/null | grep -q "ok installed" &&
    { echo "install_test.sh: tierd is installed here; this test would purge it" >&2; exit 1; }
work=$(mktemp -d)
chmod 755 "$work"
device=pkgtest-$$
daemon_pid=
cleanup() {
    [ -n "$daemon_pid" ] && kill -9 "$daemon_pid" 2>/dev/null
    stop_broker
    rm -rf "$work"
}
trap cleanup EXIT
fail() {
    echo "FAIL: $*" >&2
    [ -f "$work/daemon.log" ] && { echo "--- installed daemon's log:" >&2; tail -40 "$work/daemon.log" >&2; }
    exit 1
}
step() { echo "== $*"; }

debs=("$debdir"/tierd_*.deb "$debdir"/tierd-models_*.deb "$debdir"/tierd-dev_*.deb)
for d in "${debs[@]}"; do [ -f "$d" ] || fail "no package $d (run packaging/build-debs.sh)"; done
arch_dir=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
plugdir=/usr/lib/$arch_dir/tierd/plugins

step "install ${debs[*]##*/}"
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${debs[@]}" >"$work/apt.log" 2>&1 ||
    { cat "$work/apt.log"; fail "apt-get install"; }
for p in tierd tierd-models tierd-dev; do
    dpkg-query -W -f='${Status}\n' "$p" | grep -q "install ok installed" || fail "$p not installed"
    dpkg -L "$p" >>"$work/files.txt"
done
for f in /usr/bin/tierd /usr/bin/tierctl /etc/tierd/tierd.toml /lib/systemd/system/tierd.service \
         "$plugdir/inference-opencv.so" "$plugdir/scheduler-mo.so" /usr/share/tierd/models/manifest.toml \
         /usr/share/tierd/profiles/raspberry-pi-3b-plus.toml /usr/include/tierd/plugin.h \
         /usr/lib/$arch_dir/pkgconfig/tierd.pc /usr/share/man/man8/tierd.8.gz /usr/share/man/man1/tierctl.1.gz; do
    [ -e "$f" ] || fail "the packages did not install $f"
done
dpkg-query -W -f='${Conffiles}\n' tierd | grep -q "/etc/tierd/tierd.toml" || fail "/etc/tierd/tierd.toml is not a conffile"
getent passwd tierd >/dev/null || fail "no tierd system user"
[ "$(stat -c %U /var/lib/tierd)" = tierd ] || fail "/var/lib/tierd is not owned by tierd"
version=$(dpkg-query -W -f='${Version}' tierd)
/usr/bin/tierd --version | grep -q "$version" || fail "tierd --version does not say $version"

step "the installed config and unit"
[ "$(/usr/bin/tierd --check-config /etc/tierd/tierd.toml)" = ok ] || fail "tierd --check-config /etc/tierd/tierd.toml"
systemd-analyze verify /lib/systemd/system/tierd.service || fail "systemd-analyze verify (installed unit)"
systemd-analyze security --offline=true --no-pager /lib/systemd/system/tierd.service | tail -1

step "a conffile edit survives a reinstall of the package"
echo "# an admin's edit $$" >>/etc/tierd/tierd.toml
dpkg -i "$debdir"/tierd_*.deb >"$work/dpkg.log" 2>&1 || { cat "$work/dpkg.log"; fail "dpkg -i again"; }
grep -q "an admin's edit $$" /etc/tierd/tierd.toml || fail "the admin's edit of /etc/tierd/tierd.toml was lost"

step "the tierd-dev template, built out of the tree against the installed package"
cp -r /usr/share/tierd/sdk/template "$work/plugin"
cmake -S "$work/plugin" -B "$work/plugin/build" -G Ninja >"$work/plugin.log" 2>&1 &&
    cmake --build "$work/plugin/build" >>"$work/plugin.log" 2>&1 ||
    { cat "$work/plugin.log"; fail "the template did not build"; }
grep -rq "$top" "$work/plugin/build/CMakeCache.txt" && fail "the template's build refers to the source tree"
so=$(find "$work/plugin/build" -maxdepth 2 -name '*.so' | head -1)
[ -n "$so" ] || fail "the template built no .so"
name=$(basename "$so" .so)
cmake --install "$work/plugin/build" >>"$work/plugin.log" 2>&1 || { cat "$work/plugin.log"; fail "cmake --install"; }
[ -f "$plugdir/$name.so" ] || fail "the template's install did not put $name.so in $plugdir"
slot=
for s in scheduler preclassifier inference fusion; do
    if [ "$(/usr/bin/tierd --check-config /etc/tierd/tierd.toml --set "plugins.$s=$name" 2>&1)" = ok ]; then
        slot=$s
        break
    fi
done
[ -n "$slot" ] || fail "the installed daemon takes $name in no plugin slot"
echo "template plugin $name fits the $slot slot"

step "the installed daemon, run as the unit runs it, with a loopback broker"
start_broker "$work"
export TIERCTL_HOST=127.0.0.1 TIERCTL_PORT=$BROKER_PORT
# ProtectSystem=strict + StateDirectory + PrivateTmp: / read-only, /var/lib/tierd
# writable, a private /tmp; User=tierd with NoNewPrivileges; MemoryDenyWriteExecute via
# prctl(PR_SET_MDWE) where the kernel has it (6.3+).
cat >"$work/run-daemon.sh" <<RUN
mount --make-rprivate /
mount --rbind / /
mount -o remount,bind,ro /
mount --bind /var/lib/tierd /var/lib/tierd
mount -o remount,bind,rw /var/lib/tierd
mount -t tmpfs tmpfs /tmp
exec /usr/bin/python3 -c '
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
if libc.prctl(65, 1, 0, 0, 0) != 0:  # PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN
    print("no PR_SET_MDWE on this kernel: MemoryDenyWriteExecute not emulated", file=sys.stderr)
os.execv("/usr/bin/setpriv", ["setpriv", "--reuid=tierd", "--regid=tierd", "--init-groups",
         "--no-new-privs", "--inh-caps=-all", "--bounding-set=-all", "--",
         "/usr/bin/tierd", "--config", "/etc/tierd/tierd.toml",
         "--set", "agent.device_id=$device", "--set", "mqtt.port=$BROKER_PORT",
         "--set", "telemetry.interval_ms=500", "--set", "plugins.$slot=$name"])'
RUN
unshare --mount /bin/bash "$work/run-daemon.sh" >"$work/daemon.log" 2>&1 &
daemon_pid=$!
ok=
for _ in $(seq 60); do
    if /usr/bin/tierctl devices --json >"$work/devices.json" 2>/dev/null &&
        /usr/bin/python3 - "$work/devices.json" "$device" <<'PY'
import json, sys
doc = json.load(open(sys.argv[1]))
devs = doc["devices"] if isinstance(doc, dict) else doc
sys.exit(0 if any(d.get("id", d.get("device_id")) == sys.argv[2] and d.get("online", d.get("state") == "online")
                  for d in devs) else 1)
PY
    then ok=1; break; fi
    kill -0 "$daemon_pid" 2>/dev/null || fail "the installed daemon exited"
    sleep 0.5
done
[ -n "$ok" ] || { cat "$work/devices.json" >&2 || true; fail "tierctl devices does not list $device online"; }
/usr/bin/tierctl devices
/usr/bin/tierctl cmd "$device" ping || fail "tierctl cmd $device ping"
/usr/bin/tierctl plugins list "$device" --json >"$work/plugins.json" || fail "tierctl plugins list"
grep -q "\"$name\"" "$work/plugins.json" || fail "the installed daemon did not load $name: $(cat "$work/plugins.json")"
# The profile command writes the state directory: writable under the emulated unit.
/usr/bin/tierctl cmd "$device" profile runs=2 \
    images=/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz --timeout 120 >"$work/profile.txt" 2>&1 ||
    { cat "$work/profile.txt"; fail "tierctl cmd $device profile"; }
[ -s /var/lib/tierd/profile.json ] || fail "no /var/lib/tierd/profile.json after profile"
kill -TERM "$daemon_pid"
wait "$daemon_pid" || fail "the installed daemon did not stop cleanly on SIGTERM"
daemon_pid=
grep -q "Read-only file system\|Permission denied" "$work/daemon.log" &&
    fail "the daemon tried to write outside its state directory"
# Everything the template's install put there (it builds more than one plugin: the
# fusion example and the source-pattern source), so that the purge below finds the
# plugin directory as the packages left it.
xargs -r rm -f <"$work/plugin/build/install_manifest.txt"

step "remove: the conffile and the state stay"
apt-get remove -y -qq tierd tierd-dev tierd-models >"$work/apt.log" 2>&1 || { cat "$work/apt.log"; fail "apt-get remove"; }
[ -e /usr/bin/tierd ] && fail "/usr/bin/tierd still there after remove"
[ -f /etc/tierd/tierd.toml ] || fail "remove deleted /etc/tierd/tierd.toml"
[ -f /var/lib/tierd/profile.json ] || fail "remove deleted the state in /var/lib/tierd"

step "purge: nothing left but the tierd system user"
dpkg --purge tierd tierd-dev tierd-models >"$work/dpkg.log" 2>&1 || { cat "$work/dpkg.log"; fail "dpkg --purge"; }
for p in /etc/tierd /var/lib/tierd "$plugdir" /usr/share/tierd /usr/include/tierd /usr/share/doc/tierd; do
    [ -e "$p" ] && fail "$p still there after purge"
done
left=0
while read -r f; do
    [ -f "$f" ] && { echo "left behind: $f" >&2; left=$((left + 1)); }
done < <(sort -u "$work/files.txt")
[ "$left" -eq 0 ] || fail "$left packaged files left after purge"
getent passwd tierd >/dev/null && echo "the tierd system user stays (Debian practice for system users)"
echo "PASS: install, run, fleet commands, third-party plugin, remove, purge"
