#!/usr/bin/env bash
# Unsupervised adaptation, offline: how much accuracy channel recalibration (BatchNorm
# re-estimation folded into the convolutions; docs/adaptation.md) wins back on a
# tierd-driftgen stream, per model, shift and number of unlabeled samples, through
# tierd-adapt-eval (OpenCV DNN in C++, the code the agent will run). No agents, no broker:
# this is the method's own figure; bench/adapt/run.sh is the one with real agents.
#
# Writes bench/results/adapt_offline.md and bench/results/adapt_offline.json.
# Environment (defaults in brackets):
#   BUILD=DIR     build tree with tierd-driftgen and tierd-adapt-eval [build]
#   MODELS        zoo models ["resnet-20 mobilenet-s cnn-xs"]
#   SAMPLES       unlabeled images adapted on, per segment ["16 64 256"]
#   PER_SEGMENT   images per segment (SAMPLES adapted on, the rest evaluated) [1256]
#   SEED          the stream's seed [11]
#   THREADS       OpenCV threads [1]
#   ONE_PASS=0    skip the ablation (resnet-20, all layers measured in one pass of the
#                 unchanged net, at the largest SAMPLES)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
BUILD=${BUILD:-build}
MODELS=${MODELS:-resnet-20 mobilenet-s cnn-xs}
SAMPLES=${SAMPLES:-16 64 256}
PER_SEGMENT=${PER_SEGMENT:-1256}
SEED=${SEED:-11}
THREADS=${THREADS:-1}
ONE_PASS=${ONE_PASS:-1}
bin="$top/$BUILD"
for tool in tierd-driftgen tierd-adapt-eval; do
    [ -x "$bin/$tool" ] || { echo "offline.sh: $bin/$tool missing: build it (ninja -C $BUILD $tool)" >&2; exit 2; }
done
work=$(mktemp -d /tmp/tierd-adapt-offline.XXXXXX)
trap 'rm -rf "$work"' EXIT
n=$PER_SEGMENT
plan="clean:$n,noise@3:$n,blur@3:$n,contrast@3:$n,brightness@3:$n,jpeg@3:$n,rotation@3:$n,scale@3:$n,occlusion@3:$n,blur+contrast@3:$n,contrast@5:$n,brightness@5:$n"
"$bin/tierd-driftgen" --plan "$plan" --seed "$SEED" --out "$work/stream" -q
start=$(date +%s)
runs=()
for model in $MODELS; do
    for s in $SAMPLES; do
        echo "== $model, $s samples" >&2
        "$bin/tierd-adapt-eval" --model "$model" --drift "$work/stream" --samples "$s" \
            --threads "$THREADS" --json "$work/$model-$s.json" >&2
        runs+=("$work/$model-$s.json")
    done
done
if [ "$ONE_PASS" = 1 ]; then
    largest=$(printf '%s\n' $SAMPLES | sort -n | tail -1)
    echo "== resnet-20, $largest samples, one pass (ablation)" >&2
    "$bin/tierd-adapt-eval" --model resnet-20 --drift "$work/stream" --samples "$largest" \
        --threads "$THREADS" --one-pass --json "$work/resnet-20-$largest-one-pass.json" >&2
    runs+=("$work/resnet-20-$largest-one-pass.json")
fi
elapsed=$(( $(date +%s) - start ))
commit=$(git -C "$top" rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
dirty=$(git -C "$top" status --porcelain 2>/dev/null | grep -q . && echo " (working tree changed)" || true)
machine="$(lscpu | sed -n 's/^Model name: *//p' | head -1), $(nproc) cores, Linux $(uname -r)"
/usr/bin/python3 "$here/offline_report.py" --machine "$machine" --commit "$commit$dirty" \
    --seconds "$elapsed" --plan "$plan" --seed "$SEED" --threads "$THREADS" \
    --md "$top/bench/results/adapt_offline.md" --json "$top/bench/results/adapt_offline.json" \
    "${runs[@]}"
echo "wrote bench/results/adapt_offline.md and .json ($elapsed s)" >&2
