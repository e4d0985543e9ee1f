#!/usr/bin/env bash
# Installs what is needed, builds everything and runs the whole test suite, as CI does
# (.ci/run). Three steps, each skippable:
#
#   1. The Debian packages (gcc, the compiler they ship built with; warnings are errors):
#      build, lintian, then install, run, remove and purge them on this machine
#      (tests/packaging/install_test.sh). Needs root and changes the machine, so it runs
#      only as root (CI is), and never where tierd is already installed.
#      TIERD_TEST_PACKAGES=0 skips it.
#   2. The whole ctest suite (unit tests, and integration tests against a real broker and
#      real agents) under AddressSanitizer + UBSan in build-asan (clang), then each
#      libFuzzer harness for FUZZ_SECONDS (default 20): scripts/test-sanitizers.sh,
#      docs/fuzzing.md. TIERD_TEST_SANITIZERS=0 skips it.
#   3. Only with TIERD_TEST_GCC=1 (or when step 2 is skipped): the suite again in build/
#      (gcc, RelWithDebInfo, warnings as errors). CI leaves it out: a second build of
#      every test doubled the time CI takes (two cores, 30 minutes) and the sanitized run
#      checks more; the gcc-built agent is still the one step 1 installs and runs.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
"$top/scripts/install-deps.sh"

if [ "${TIERD_TEST_PACKAGES:-1}" = 0 ]; then
    echo "package tests skipped (TIERD_TEST_PACKAGES=0)"
elif [ "$(id -u)" -ne 0 ]; then
    echo "package tests skipped: they install packages, so they need root"
elif dpkg-query -W -f='${Status}' tierd 2>/dev/null | grep -q "ok installed"; then
    echo "package tests skipped: a tierd package is installed here and the test would purge it"
else
    TIERD_WERROR=1 "$top/packaging/build-debs.sh" "$top/build-deb"
    "$top/tests/packaging/install_test.sh" "$top/build-deb"
fi

if [ "${TIERD_TEST_SANITIZERS:-1}" = 0 ]; then
    echo "sanitizer tests skipped (TIERD_TEST_SANITIZERS=0)"
else
    "$top/scripts/test-sanitizers.sh"
fi

if [ "${TIERD_TEST_GCC:-0}" = 1 ] || [ "${TIERD_TEST_SANITIZERS:-1}" = 0 ]; then
    cmake -S "$top" -B "$top/build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTIERD_WERROR=ON
    ninja -C "$top/build"
    ctest --test-dir "$top/build" --output-on-failure -j2 || {
        "$top/scripts/ctest-failures.sh" "$top/build"
        exit 1
    }
fi
