#!/bin/sh
# Rebuild tierd's model zoo: train every model with fixed seeds, export ONNX, evaluate
# it through OpenCV DNN in C++, write models/manifest.toml + models/outcomes/, then
# split every model at its cut points (models/split/, [[model.cut]] in the manifest).
#
#   tools/zoo/build.sh            rebuild the whole zoo (about 15-25 min on 2 cores)
#   tools/zoo/build.sh NAME...    retrain only these models, then re-evaluate all
#
# Installs nothing: it checks the prerequisites and says what to install.
# Environment: TIERD_ZOO_BUILD (build dir, default build-zoo/ in the repository).
set -eu

case "${1:-}" in
-h | --help)
    sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'
    exit 0
    ;;
-*)
    echo "build.sh: unknown option $1 (see --help)" >&2
    exit 2
    ;;
esac

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
build=${TIERD_ZOO_BUILD:-$repo/build-zoo}
data=${TIERD_FMNIST_DIR:-/usr/share/datasets/fashion-mnist}
py=/usr/bin/python3   # Debian's interpreter: the one python3-torch is installed for

missing=""
need() { missing="$missing $1"; }
[ -x "$py" ] || need python3
"$py" -c 'import torch' 2>/dev/null || need python3-torch
"$py" -c 'import onnx' 2>/dev/null || need python3-onnx
"$py" -c 'import numpy' 2>/dev/null || need python3-numpy
command -v cmake >/dev/null 2>&1 || need cmake
command -v c++ >/dev/null 2>&1 || need g++
[ -f /usr/include/opencv4/opencv2/dnn.hpp ] || need libopencv-dnn-dev
[ -f /usr/include/zlib.h ] || need zlib1g-dev
for f in train-images-idx3-ubyte.gz train-labels-idx1-ubyte.gz \
         t10k-images-idx3-ubyte.gz t10k-labels-idx1-ubyte.gz; do
  if [ ! -f "$data/$f" ]; then need dataset-fashion-mnist; break; fi
done
if [ -n "$missing" ]; then
  echo "build.sh: missing prerequisites:$missing" >&2
  echo "  install them with: apt-get install -y$missing" >&2
  exit 1
fi

# libgomp's spin-waiting makes torch several times slower on a busy 2-core machine.
export OMP_WAIT_POLICY=PASSIVE
export TIERD_ZOO_WORK="$build/work"
mkdir -p "$build/work"

echo "== building zoo_eval and split_check"
cmake -S "$here" -B "$build/cmake" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build/cmake" >/dev/null

echo "== training"
if [ $# -eq 0 ]; then
  rm -f "$repo"/models/*.onnx "$repo"/models/outcomes/*.csv.gz "$repo"/models/manifest.toml \
        "$repo"/models/split/*.onnx
fi
start=$(date +%s)
"$py" "$here/zoo.py" train "$@"
echo "training took $(( $(date +%s) - start )) s"

echo "== evaluating through OpenCV and writing models/manifest.toml"
"$py" "$here/zoo.py" manifest --zoo-eval "$build/cmake/zoo_eval"

echo "== splitting the models at their cut points (models/split/, [[model.cut]])"
"$py" "$here/split.py" --split-check "$build/cmake/split_check"
