#!/usr/bin/env bash
# Rebuilds models/preclass/ (the preclassifier-rf forest, rf.json and report.md) from the
# model zoo's per-image outcomes (models/outcomes/) and the Fashion-MNIST images
# (Debian package dataset-fashion-mnist). Deterministic: the same inputs give the same
# rf.yml.gz, rf-conf.yml.gz and rf.json (report.md differs only in its timings).
#
#   tools/preclass/build.sh [BUILD_DIR] [-- extra preclass_train options]
#
# BUILD_DIR (default build-preclass) is configured if needed; only preclass_train is built.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
build="${1:-$root/build-preclass}"
shift $(( $# > 0 ? 1 : 0 ))
[[ "${1:-}" == "--" ]] && shift
if [[ ! -f "$build/build.ninja" && ! -f "$build/Makefile" ]]; then
  cmake -S "$root" -B "$build" -G Ninja -DTIERD_BUILD_BENCH=OFF -DCMAKE_BUILD_TYPE=Release
fi
cmake --build "$build" --target preclass_train
cd "$root"
"$build/plugins/preclassifier-rf/preclass_train" --models models \
  --data /usr/share/datasets/fashion-mnist --out models/preclass \
  --trees 50 --depth 6 --folds 10 --min-sample 20 "$@"
