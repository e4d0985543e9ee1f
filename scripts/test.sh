#!/usr/bin/env bash
# Installs what is needed, builds everything and runs the whole test suite (ctest).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
"$top/scripts/install-deps.sh"
cmake -S "$top" -B "$top/build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTIERD_WERROR=ON
ninja -C "$top/build"
ctest --test-dir "$top/build" --output-on-failure -j2
