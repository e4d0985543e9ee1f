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
#   5. detect   the light video detector (DETECT=1): training frames (tools/detect/
#               make_data.py, the seeds and backgrounds docs/detectors.md trained det-light
#               on), det-heavy's heatmaps on them (the teacher), det-light pruned by filter
#               L1 norm to DETECT_WIDTHS, each fine-tuned DETECT_MINUTES (1 thread each, in
#               parallel) with distillation from det-heavy, exported, then det-light,
#               det-heavy and every output measured through the C++ path, fp32 and int8
#               (DETECT_INT8): mAP@0.5 on the test seeds, ms per frame at 1 and 2
#               threads, peak memory, size
#               (tools/compress/detector_prune.py, tools/detect/train.py)
#   6. report   bench/results/compress.{md,json,png} (bench/compress/report.py) and, for
#               step 5, bench/results/compress_detect.{md,json,png} (report_detect.py)
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
#   SUPERNET_EPOCHS [3]  SAMPLES [100]  LATENCY_SAMPLES [40]  PICK [5]  NAS_EPOCHS [4]
#   PICK_MAX_REF        picks no slower than this x ResNet-20 (predicted, per device) [1.0]
#   POP [64] GENS [200]  NSGA-II population and generations
#   TRAIN_IMAGES        training images [55000] (tests use a few hundred)
#   TEST_IMAGES         test images measured [10000]   TIME_IMAGES [500]
#   CLASSIFY            1 runs steps 1-4 [1]   DETECT  1 runs step 5 [1]   DETECT_WIDTHS ["0.45 0.4 1.0"]   DETECT_MINUTES [35]
#   DETECT_LR [1.5e-3]  DETECT_KD (distillation weight) [1.0]
#   DETECT_TEST_SEEDS ["1,2,3"]  DETECT_TEST_FRAMES [600]  test videos measured
#   DETECT_DATA         training folders "SEEDS:BACKGROUNDS ..." (BACKGROUNDS "-" = the
#                       train list; "b", "c" = docs/detectors.md's two extra folders)
#                       ["1000-1059:- 1060-1079:b 1080-1099:c"]   DETECT_FRAMES [200] per seed
#   DETECT_MAX_STEPS    stop each fine-tuning after this many steps (tests) [0: no limit]
#   DETECT_INT8         1 also measures every detector quantized to int8 (cv::dnn::Net::
#                       quantize, calibrated on 16 frames of training seed 1000) [1]
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
NAS_EPOCHS=${NAS_EPOCHS:-4}
PICK_MAX_REF=${PICK_MAX_REF:-1.0}
POP=${POP:-64}
GENS=${GENS:-200}
TRAIN_IMAGES=${TRAIN_IMAGES:-55000}
TEST_IMAGES=${TEST_IMAGES:-10000}
TIME_IMAGES=${TIME_IMAGES:-500}
CLASSIFY=${CLASSIFY:-1}
DETECT=${DETECT:-1}
DETECT_WIDTHS=${DETECT_WIDTHS:-0.45 0.4 1.0}
DETECT_MINUTES=${DETECT_MINUTES:-35}
DETECT_LR=${DETECT_LR:-1.5e-3}
DETECT_KD=${DETECT_KD:-1.0}
DETECT_TEST_SEEDS=${DETECT_TEST_SEEDS:-1,2,3}
DETECT_TEST_FRAMES=${DETECT_TEST_FRAMES:-600}
DETECT_DATA=${DETECT_DATA:-1000-1059:- 1060-1079:b 1080-1099:c}
DETECT_FRAMES=${DETECT_FRAMES:-200}
DETECT_MAX_STEPS=${DETECT_MAX_STEPS:-0}
DETECT_INT8=${DETECT_INT8:-1}
py=/usr/bin/python3
case $BUILD in /*) bin=$BUILD ;; *) bin="$top/$BUILD" ;; esac
for tool in compress_eval nas_search; do
    [ "$CLASSIFY" = 1 ] || break
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
    # (grep selects no line from a silent command: its status 1 is not the step's)
    "$@" 2>&1 | { grep --line-buffered -v -e 'Warning' -e '_C._jit_pass' || [ $? = 1 ]; } | tee "$WORK/logs/$name.log"
    "$py" - "$times" "$name" "$t0" "$(date +%s.%N)" <<'PY'
import json, sys
path, name, t0, t1 = sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4])
d = json.load(open(path))
d[name] = round(t1 - t0, 1)
json.dump(d, open(path, "w"), indent=1)
PY
}
if [ "$CLASSIFY" != 1 ]; then
    [ "$DETECT" = 1 ] && detect_only
    return 0
fi
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
    --out "$WORK/nas/search.json" --pop "$POP" --gens "$GENS" --pick "$PICK" --pick-max-reference "$PICK_MAX_REF"
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
[ "$DETECT" = 1 ] && detect_only
return 0
}

detect_only() {
    detect
    "$py" "$here/report_detect.py" --work "$WORK" --out "${OUT}_detect"
}

# ---- step 5: the light detector, pruned and distilled from the heavy one
detect() {
    for tool in tierd-videogen tierd-detect-run tierd-eval; do
        [ -x "$bin/$tool" ] || { echo "run.sh: $bin/$tool missing (ninja -C $BUILD $tool)" >&2; exit 2; }
    done
    local D="$WORK/detect" dirs=() spec seeds bg k=0 w pct name
    mkdir -p "$D/models"
    for spec in $DETECT_DATA; do
        dirs+=("$D/data-$k")
        step "detect-data-$k" "$D/data-$k/boxes.json" detect_data "$D/data-$k" "${spec%%:*}" "${spec##*:}"
        k=$((k + 1))
    done
    local data
    data=$(IFS=,; echo "${dirs[*]}")
    step detect-teacher "$D/teacher-det-heavy.npy" "$py" "$top/tools/compress/detector_prune.py" \
        teacher --teacher "$top/models/det-heavy.onnx" --data "$data" --out "$D/teacher-det-heavy.npy"
    local names=()
    for w in $DETECT_WIDTHS; do
        pct=$(awk -v w="$w" 'BEGIN{printf "%d", w * 100 + 0.5}')
        name=det-light-p$pct
        names+=("$name")
        step "detect-prune-$pct" "$D/models/$name.pruned.pt" "$py" "$top/tools/compress/detector_prune.py" \
            prune --parent "$top/models/det-light.onnx" --data "$data" --width "$w" --out "$D/models/$name.pruned.pt"
    done
    # The fine-tunings run side by side, one thread each (two small nets use two cores
    # better than one net on two threads); a width added later trains alone.
    local todo=()
    for name in "${names[@]}"; do [ -e "$D/models/$name.trained" ] || todo+=("$name"); done
    if [ ${#todo[@]} -gt 0 ]; then
        step "detect-finetune-$(IFS=+; echo "${todo[*]}")" "$D/models/${todo[0]}.trained" \
            detect_finetune "$D" "$data" "${todo[@]}"
    fi
    local models=(--model "det-light=$top/models/det-light.onnx" --model "det-heavy=$top/models/det-heavy.onnx")
    local seed
    for seed in ${DETECT_TEST_SEEDS//,/ }; do  # the test videos (export checks on the first)
        step "detect-video-$seed" "$D/test/seed$seed/gt.json" "$bin/tierd-videogen" --seed "$seed" \
            --frames "$DETECT_TEST_FRAMES" --out "$D/test/seed$seed" --quiet
    done
    for name in "${names[@]}"; do
        step "detect-export-$name" "$D/models/$name.export.json" "$py" "$top/tools/detect/export.py" --net det-light \
            --widths "$D/models/$name.pruned.widths.json" --ckpt "$D/models/$name.pt" \
            --out "$D/models/$name.onnx" --video "$D/test/seed${DETECT_TEST_SEEDS%%,*}/video.avi" \
            --json "$D/models/$name.export.json"
        "$py" "$top/tools/compress/detector_prune.py" lineage --name "$name" --dir "$D/models" \
            --parent "$top/models/det-light.onnx" --teacher "$top/models/det-heavy.onnx"
        models+=(--model "$name=$D/models/$name.onnx")
    done
    local int8=()
    if [ "$DETECT_INT8" = 1 ]; then int8=(--int8); fi
    step detect-measure "$D/measure.json" "$py" "$top/tools/compress/detector_prune.py" measure \
        --build "$bin" --test-dir "$D/test" --seeds "$DETECT_TEST_SEEDS" --frames "$DETECT_TEST_FRAMES" \
        "${models[@]}" --out "$D/measure.json" "${int8[@]}"
}

detect_data() { # OUT SEEDS BACKGROUNDS: make_data.py's frames; "b"/"c" = docs/detectors.md's folders
    local out=$1 seeds=$2 bg=$3 extra=() S=/usr/share/doc/opencv-doc/examples/data
    local train="building.jpg aero1.jpg graf1.png fruits.jpg board.jpg rubberwhale1.png baboon.jpg starry_night.jpg"
    local b="basketball1.png orange.jpg Blender_Suzanne1.jpg ela_original.jpg box_in_scene.png graf3.png licenseplate_motion.jpg smarties.png"
    local c="basketball2.png apple.jpg Blender_Suzanne2.jpg chicky_512.png rubberwhale2.png cards.png HappyFish.jpg ellipses.jpg"
    if [ "$bg" != - ]; then
        local src t i=1
        case $bg in b) src=$b ;; c) src=$c ;; *) echo "run.sh: DETECT_DATA: backgrounds '$bg' is -, b or c" >&2; return 2 ;; esac
        mkdir -p "$out.bg"
        for t in $train; do
            ln -sf "$S/$(echo "$src" | cut -d' ' -f$i)" "$out.bg/$t"
            i=$((i + 1))
        done
        extra=(--backgrounds "$out.bg")
    fi
    "$py" "$top/tools/detect/make_data.py" --videogen "$bin/tierd-videogen" --out "$out" \
        --seeds "$seeds" --frames "$DETECT_FRAMES" --step 3 "${extra[@]}"
}

detect_finetune() { # DIR DATA NAME...: the pruned nets fine-tuned at once, one thread each
    local D=$1 data=$2 pids=() name rc=0
    shift 2
    for name in "$@"; do
        "$py" "$top/tools/detect/train.py" --net det-light --widths "$D/models/$name.pruned.widths.json" \
            --init "$D/models/$name.pruned.pt" --data "$data" --teacher "$D/teacher-det-heavy.npy" \
            --kd-weight "$DETECT_KD" --photometric --out "$D/models/$name.pt" --minutes "$DETECT_MINUTES" \
            --batch 16 --lr "$DETECT_LR" --threads 1 --max-steps "$DETECT_MAX_STEPS" \
            > "$WORK/logs/detect-finetune-$name.log" 2>&1 &
        pids+=($!)
    done
    for p in "${pids[@]}"; do wait "$p" || rc=1; done
    for name in "$@"; do tail -n 2 "$WORK/logs/detect-finetune-$name.log"; done
    [ $rc = 0 ] || return $rc
    for name in "$@"; do touch "$D/models/$name.trained"; done
}
main "$@"
