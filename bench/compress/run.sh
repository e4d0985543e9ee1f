#!/usr/bin/env bash
# Compression and hardware-aware architecture search, end to end, from the shipped zoo
# (issue 19). One command, fixed seeds; every step's wall time is recorded:
#   1. prune    ResNet-20 pruned by filter L1 norm to PRUNE_WIDTHS of its channels, each
#               fine-tuned PRUNE_EPOCHS with distillation from ResNet-20
#               (tools/compress/compress.py prune)
#   2. distill  DISTILL_STUDENTS (zoo architectures) trained from scratch with
#               distillation from ResNet-20 (compress.py distill)
#   3. search   the weight-sharing supernet (SUPERNET_EPOCHS, from ResNet-20), SAMPLES
#               random subnets' val top-1 through it, LATENCY_SAMPLES of them exported
#               and timed through OpenCV at 1 and 2 threads, then nas_search (C++,
#               pagmo2 NSGA-II) fits the latency and accuracy models and returns a Pareto
#               set per device profile; PICK architectures per device fine-tuned
#               NAS_EPOCHS (tools/compress/nas.py)
#   4. measure  every zoo model and every output, fp32 and int8 (cv::dnn::Net::quantize,
#               500 calibration images), through OpenCV in C++ on the 10,000 test
#               images: top-1, ms per image at 1 and 2 threads, peak memory, size
#               (compress_eval)
#   5. report   bench/results/compress.{md,json,png} (bench/compress/report.py)
# Device profiles: x86-edge = this machine at 2 threads; pi3b-emulated = 1 thread x 28.9
# (an emulation of a Raspberry Pi 3B+'s speed, as bench/edge_based's, not a Pi).
#
# Environment (defaults in brackets):
#   BUILD=DIR           build tree [build]
#   WORK=DIR            work directory [build-compress]; steps whose outputs exist there
#                       are not run again (delete a file to redo its step)
#   OUT                 report path without extension [bench/results/compress]
#   PRUNE_WIDTHS        ["0.45 0.5 0.75"]   PRUNE_EPOCHS [4]
#   DISTILL_STUDENTS    ["cnn-xs lenet-s"]
#   SUPERNET_EPOCHS [3]  SAMPLES [100]  LATENCY_SAMPLES [40]  PICK [5]  NAS_EPOCHS [2]
#   POP [64] GENS [200]  NSGA-II population and generations
#   TRAIN_IMAGES        training images [55000] (tests use a few hundred)
#   TEST_IMAGES         test images measured [10000]   TIME_IMAGES [500]
# (One function, so that editing the file during a run cannot change the run.)
main() {
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
BUILD=${BUILD:-build}
WORK=${WORK:-$top/build-compress}
OUT=${OUT:-$top/bench/results/compress}
PRUNE_WIDTHS=${PRUNE_WIDTHS:-0.45 0.5 0.75}
PRUNE_EPOCHS=${PRUNE_EPOCHS:-4}
DISTILL_STUDENTS=${DISTILL_STUDENTS:-cnn-xs lenet-s}
SUPERNET_EPOCHS=${SUPERNET_EPOCHS:-3}
SAMPLES=${SAMPLES:-100}
LATENCY_SAMPLES=${LATENCY_SAMPLES:-40}
PICK=${PICK:-5}
NAS_EPOCHS=${NAS_EPOCHS:-2}
POP=${POP:-64}
GENS=${GENS:-200}
TRAIN_IMAGES=${TRAIN_IMAGES:-55000}
TEST_IMAGES=${TEST_IMAGES:-10000}
TIME_IMAGES=${TIME_IMAGES:-500}
py=/usr/bin/python3
case $BUILD in /*) bin=$BUILD ;; *) bin="$top/$BUILD" ;; esac
for tool in compress_eval nas_search; do
    [ -x "$bin/$tool" ] || { echo "run.sh: $bin/$tool missing (ninja -C $BUILD $tool; nas_search needs libpagmo-dev)" >&2; exit 2; }
done
"$py" -c 'import torch, onnx, cv2' 2>/dev/null || { echo "run.sh: needs python3-torch python3-onnx python3-opencv" >&2; exit 2; }
mkdir -p "$WORK/models" "$WORK/nas" "$WORK/logs"
WORK=$(cd "$WORK" && pwd)
export OMP_WAIT_POLICY=PASSIVE
times="$WORK/step_seconds.json"
[ -f "$times" ] || echo '{}' > "$times"
step() { # NAME DONE-FILE COMMAND...: run unless DONE-FILE exists; record its wall time
    local name=$1 done=$2 t0
    shift 2
    if [ -e "$done" ]; then echo "== $name: done before ($done)"; return 0; fi
    echo "== $name"
    t0=$(date +%s.%N)
    "$@" 2>&1 | grep --line-buffered -v -e 'Warning' -e '_C._jit_pass' | tee "$WORK/logs/$name.log"
    "$py" - "$times" "$name" "$t0" "$(date +%s.%N)" <<'PY'
import json, sys
path, name, t0, t1 = sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4])
d = json.load(open(path))
d[name] = round(t1 - t0, 1)
json.dump(d, open(path, "w"), indent=1)
PY
}
common=(--out "$WORK/models" --train-images "$TRAIN_IMAGES")
for w in $PRUNE_WIDTHS; do
    pct=$(awk -v w="$w" 'BEGIN{printf "%d", w * 100 + 0.5}')
    step "prune-$pct" "$WORK/models/resnet-20-p$pct.lineage.json" \
        "$py" "$top/tools/compress/compress.py" "${common[@]}" prune --width "$w" --epochs "$PRUNE_EPOCHS"
done
for s in $DISTILL_STUDENTS; do
    step "distill-$s" "$WORK/models/$s-kd.lineage.json" \
        "$py" "$top/tools/compress/compress.py" "${common[@]}" distill --student "$s"
done
nas=("$py" "$top/tools/compress/nas.py" --work "$WORK/nas" "${common[@]}")
step supernet "$WORK/nas/supernet.pt" "${nas[@]}" supernet --epochs "$SUPERNET_EPOCHS"
step sample "$WORK/nas/samples.json" "${nas[@]}" sample --n "$SAMPLES" --export "$LATENCY_SAMPLES"
step latency "$WORK/nas/latency.done" sh -c "\"\$@\" && touch '$WORK/nas/latency.done'" _ \
    "${nas[@]}" latency --compress-eval "$bin/compress_eval"
step search "$WORK/nas/search.json" "$bin/nas_search" --samples "$WORK/nas/samples.json" \
    --out "$WORK/nas/search.json" --pop "$POP" --gens "$GENS" --pick "$PICK"
step finetune "$WORK/nas/finetune.done" sh -c "\"\$@\" && touch '$WORK/nas/finetune.done'" _ \
    "${nas[@]}" finetune --search "$WORK/nas/search.json" --epochs "$NAS_EPOCHS"

# ---- measure: the zoo and every output, in one process per model list (C++)
models=()
for f in "$top"/models/*.onnx; do
    n=$(basename "$f" .onnx)
    case $n in det-*) continue ;; esac  # the video detectors: another input (not measured here yet)
    models+=(--model "$n=$f")
done
for f in "$WORK"/models/*.onnx; do models+=(--model "$(basename "$f" .onnx)=$f"); done
step measure "$WORK/measure.json" sh -c "\"\$@\" > '$WORK/measure.json.tmp' && mv '$WORK/measure.json.tmp' '$WORK/measure.json'" _ \
    "$bin/compress_eval" --limit "$TEST_IMAGES" --threads 1,2 --time-images "$TIME_IMAGES" --repeats 3 \
    --int8 500 --memory "${models[@]}"
"$py" "$here/report.py" --work "$WORK" --out "$OUT"
}
main "$@"
