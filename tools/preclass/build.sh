#!/usr/bin/env bash
# Rebuilds models/preclass/ (the preclassifier-rf forests rf.yml.gz, rf-conf.yml.gz and
# rf-paper-conf.yml.gz, rf.json and report.md) from the model zoo's per-image outcomes
# (models/outcomes/) and the Fashion-MNIST images (Debian package dataset-fashion-mnist),
# including the paper's feature selection and classifier comparison (about 10 minutes on
# 2 cores). Deterministic: the same inputs give the same forests and rf.json, timings
# (rf.json's stage_us, report.md's seconds) aside.
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
  --trees 50 --depth 6 --folds 10 --min-sample 20 \
  --ablation-folds 5 --selection-rows 30000 --svm-rows 10000 "$@"
