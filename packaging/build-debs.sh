#!/usr/bin/env bash
# Builds the Debian packages tierd, tierd-dev and tierd-models from this source tree and
# checks them with lintian (errors and warnings fail; overrides are in
# packaging/debian/*.lintian-overrides, each with its reason).
#
#   packaging/build-debs.sh [OUTDIR]     (default: build-deb/ at the top of the tree)
#
# The version comes from project(... VERSION) in CMakeLists.txt, the one place it lives:
# this script writes debian/changelog from it. Needs dpkg-dev, debhelper and lintian
# (scripts/install-deps.sh installs them) and the build dependencies in debian/control.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
out=$(mkdir -p "${1:-$top/build-deb}" && cd "${1:-$top/build-deb}" && pwd)
version=$(sed -n 's/^project(tierd VERSION \([0-9][0-9.]*\).*/\1/p' "$top/CMakeLists.txt")
[ -n "$version" ] || { echo "build-debs.sh: no project(tierd VERSION ...) in CMakeLists.txt" >&2; exit 1; }

rm -f "$out"/tierd*.deb "$out"/tierd_*.changes "$out"/tierd_*.buildinfo

# A copy of the tree: only what git tracks or would track (no build folders).
stage=$(mktemp -d "${TMPDIR:-/tmp}/tierd-deb.XXXXXX")
trap 'rm -rf "$stage"' EXIT
src=$stage/tierd-$version
mkdir -p "$src"
if git -C "$top" rev-parse --git-dir >/dev/null 2>&1; then
    (cd "$top" && git ls-files -z --cached --others --exclude-standard |
        while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done |
        tar --null -T - -cf -) | tar -xf - -C "$src"
else
    tar -C "$top" --exclude='./build*' --exclude='./.git' -cf - . | tar -xf - -C "$src"
fi
cp -r "$top/packaging/debian" "$src/debian"

# debian/changelog from the one version. The date is the last commit's, so that two
# builds of one commit make the same packages.
when=$(git -C "$top" log -1 --format=%cD 2>/dev/null || date -R)
cat >"$src/debian/changelog" <<CHANGELOG
tierd ($version) unstable; urgency=medium

  * Release $version; the changes are in the project's git history.

 -- tierd developers <tierd@example.org>  $when
CHANGELOG

jobs=$(nproc 2>/dev/null || echo 2)
(cd "$src" && DEB_BUILD_OPTIONS="nocheck parallel=$jobs" dpkg-buildpackage -b -us -uc)
for f in "$stage"/*.deb "$stage"/*.changes "$stage"/*.buildinfo; do
    cp "$f" "$out/"
done
changes=$(ls "$out"/tierd_"${version}"_*.changes | head -1)
echo "== lintian $(lintian --version)"
lintian --fail-on error,warning --display-info "$changes"
echo "== built into $out:"
ls -1 "$out"/*"${version}"*.deb
