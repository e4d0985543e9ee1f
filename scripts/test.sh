#!/usr/bin/env bash
# Installs what is needed, builds everything and runs the whole test suite (ctest).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
"$top/scripts/install-deps.sh"
cmake -S "$top" -B "$top/build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTIERD_WERROR=ON
ninja -C "$top/build"
ctest --test-dir "$top/build" --output-on-failure -j2

# The Debian packages: build them, lintian, then install, run, remove and purge them on
# this machine (tests/packaging/install_test.sh). That needs root and changes the
# machine, so it runs only as root (CI is), and never where tierd is already installed.
# TIERD_TEST_PACKAGES=0 skips it.
if [ "${TIERD_TEST_PACKAGES:-1}" = 0 ]; then
    echo "package tests skipped (TIERD_TEST_PACKAGES=0)"
elif [ "$(id -u)" -ne 0 ]; then
    echo "package tests skipped: they install packages, so they need root"
elif dpkg-query -W -f='${Status}' tierd 2>/dev/null | grep -q "ok installed"; then
    echo "package tests skipped: a tierd package is installed here and the test would purge it"
else
    "$top/packaging/build-debs.sh" "$top/build-deb"
    "$top/tests/packaging/install_test.sh" "$top/build-deb"
fi

# The sanitizer step (docs/fuzzing.md): the whole suite again under ASan + UBSan in
# build-asan (clang), then each libFuzzer harness for FUZZ_SECONDS (default 30).
# TIERD_TEST_SANITIZERS=0 skips it.
if [ "${TIERD_TEST_SANITIZERS:-1}" = 0 ]; then
    echo "sanitizer tests skipped (TIERD_TEST_SANITIZERS=0)"
else
    "$top/scripts/test-sanitizers.sh"
fi
