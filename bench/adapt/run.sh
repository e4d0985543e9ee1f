#!/usr/bin/env bash
# Online adaptation with real agents (issue 18, section 5): an end and an edge agent on a
# real mosquitto broker (loopback) play one tierd-driftgen stream — clean, then shifted
# segments, then clean again — once per method, and the end's results say how right it was
# over time. Methods:
#   alone/none             the end's model alone (scheduler-rule always-end), no adaptation
#   alone/recalibrate      the same, recalibrating online without labels (adapt =
#                          "recalibrate", adapt_labels = 0: every adaptation goes in)
#   cascade/none           the cascade: the end answers what its model is sure of (local
#                          model first, scheduler-rule by-confidence), the edge the rest
#   cascade/recalibrate    the cascade, the end recalibrating unjudged
#   cascade/judged         the cascade, the end's adaptations judged by the edge's answers
#                          (ABI 1.5 learn(), docs/adaptation.md); the edge does not adapt
#   cascade/judged+teacher the same, the edge recalibrating too (on the images sent to it)
#   alone/head@P           the end alone, recalibrating and learning its head from teacher
#                          labels (adapt = "recalibrate+head"): copies of P% of its images go
#                          to the edge for their label alone ([pipeline]
#                          label_budget_per_hour); the edge recalibrates. P = 1, 5, 20
#   cascade/head           the cascade, the end learning its head from the edge's answers
#                          (the edge recalibrating)
#   alone/head@P+poisoned  alone/head@P with a poisoned teacher: the edge's model answers
#                          class k+1 for k (poison_model.py); the held-back buffer must
#                          refuse every head it teaches
#   cascade/edge-finetune  the cascade, the end recalibrating; the edge (recalibrating too)
#                          keeps what it answered ([offload] keep_answered = 1000) and its
#                          fine-tuning job (tools/adapt/finetune_job.py, torch) trains the
#                          end's whole model on it every 8 s and pushes it (models.update);
#                          the end activates it or rolls it back by its held-back buffer
#                          (the training split's last 500 images)
# And once, offline, two oracles on the same stream, each measured on every segment's
# second half: the device's (tierd-adapt-eval --labels 200 --teacher truth: recalibrated,
# head fine-tuned with the true labels of the segment's first half) and the whole model's
# (full_oracle.py: TENT, then every weight fine-tuned with those labels; needs
# python3-torch, as cascade/edge-finetune does).
# Writes bench/results/adapt.md, adapt.json and adapt.png (accuracy over time).
#
# Environment (defaults in brackets):
#   BUILD=DIR      build tree with tierd and tierd-driftgen [build]
#   PLAN           the stream [clean:1000,brightness@3:2500,scale@3:2500,contrast@3:2500,
#                  clean:1000]
#   SEED           its seed [21]
#   RATE           images per second [100]
#   END_MODEL      the end's model [cnn-xs]; EDGE_MODEL the edge's [resnet-20]
#   THRESHOLD      by-confidence threshold [0.9]
#   SHARE          the cascade's min_upstream_share [0: off]: at least this least confident
#                  share of the end's recent answers goes up, above the threshold or not
#   SAMPLES        adapt_samples [256]; INTERVAL_MS adapt_interval_ms [2000]
#   EDGE_SAMPLES   the edge's adapt_samples when it recalibrates [SAMPLES]: a smaller window
#                  follows the data back sooner (the edge sees only what it is sent)
#   METHODS        which rows to run [alone/none alone/recalibrate alone/head@1 alone/head@5
#                  alone/head@20 alone/head@20+poisoned cascade/none cascade/judged+teacher
#                  cascade/head cascade/edge-finetune; also cascade/recalibrate,
#                  cascade/judged]
#   OUT_DIR        where the reports go [bench/results]
# Figures are accuracies and counts, not timings, but the adaptations run on threads of
# their own: run it on a quiet machine, as any benchmark.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
BUILD=${BUILD:-build}
PLAN=${PLAN:-clean:1000,brightness@3:2500,scale@3:2500,contrast@3:2500,clean:1000}
SEED=${SEED:-21}
RATE=${RATE:-100}
END_MODEL=${END_MODEL:-cnn-xs}
EDGE_MODEL=${EDGE_MODEL:-resnet-20}
THRESHOLD=${THRESHOLD:-0.9}
SHARE=${SHARE:-0}
SAMPLES=${SAMPLES:-256}
EDGE_SAMPLES=${EDGE_SAMPLES:-$SAMPLES}
INTERVAL_MS=${INTERVAL_MS:-2000}
METHODS=${METHODS:-alone/none alone/recalibrate alone/head@1 alone/head@5 alone/head@20 alone/head@20+poisoned cascade/none cascade/judged+teacher cascade/head cascade/edge-finetune}
OUT_DIR=${OUT_DIR:-$top/bench/results}
bin="$top/$BUILD"
for tool in tierd tierctl tierd-driftgen tierd-adapt-eval; do
    [ -x "$bin/$tool" ] || { echo "run.sh: $bin/$tool missing: build it (ninja -C $BUILD $tool)" >&2; exit 2; }
done
[ -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] ||
    { echo "run.sh: dataset-fashion-mnist is missing (scripts/install-deps.sh)" >&2; exit 2; }
. "$top/scripts/lib-broker.sh"
work=$(mktemp -d /tmp/tierd-adapt-bench.XXXXXX)
pids=()
stop_agents() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
    pids=()
}
trap 'stop_agents; stop_broker; [ -n "${KEEP:-}" ] || rm -rf "$work"' EXIT
start_broker "$work"
"$bin/tierd-driftgen" --plan "$PLAN" --seed "$SEED" --out "$work/stream" --quiet
count=$(/usr/bin/python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['count'])" \
    "$work/stream/segments.json")
manifest="$top/models/manifest.toml"

rr() { # DEVICE JSON: one command's reply
    mosquitto_rr -h 127.0.0.1 -p "$BROKER_PORT" -t "tierd/v1/dev/$1/cmd" \
        -e "bench/replies/$$" -m "$2" -W 10
}
wait_online() { # DEVICE
    for _ in $(seq 60); do
        mosquitto_sub -h 127.0.0.1 -p "$BROKER_PORT" -t "tierd/v1/dev/$1/status" -C 1 -W 1 \
            2>/dev/null | grep -q '"state":"online"' && return 0
    done
    echo "run.sh: agent $1 did not come online" >&2
    return 1
}
adapt_keys() { # LABELS [MODE [SAMPLES]]: the plugin's adapt keys, judged by LABELS teacher labels (0 = none)
    printf 'adapt = "%s"\nadapt_samples = %s\nadapt_interval_ms = %s\n' "${2:-recalibrate}" "${3:-$SAMPLES}" "$INTERVAL_MS"
    printf 'adapt_source_images = 1000\nadapt_labels = %s\n' "$1"
}
# The oracle (offline, true labels) and the poisoned teacher's model, once.
"$bin/tierd-adapt-eval" --model "$END_MODEL" --drift "$work/stream" --samples "$SAMPLES" \
    --labels 200 --teacher truth --json "$work/oracle.json" >"$work/oracle.md"
/usr/bin/python3 "$here/poison_model.py" "$manifest" "$EDGE_MODEL" "$work/poisoned"
oracle_full=()
if /usr/bin/python3 -c "import torch" 2>/dev/null; then
    /usr/bin/python3 "$here/full_oracle.py" --stream "$work/stream" \
        --model "$top/models/$END_MODEL.onnx" --json "$work/oracle_full.json"
    oracle_full=(--oracle-full "$work/oracle_full.json")
else
    echo "run.sh: no python3-torch: no whole-model oracle (R is the head oracle's)" >&2
    case " $METHODS " in *edge-finetune*) echo "run.sh: cascade/edge-finetune needs python3-torch" >&2; exit 2 ;; esac
fi

start=$(date +%s)
runs=()
for method in $METHODS; do
    case $method in
    alone/none | alone/recalibrate | cascade/none | cascade/recalibrate | cascade/judged | cascade/judged+teacher) ;;
    alone/head@[0-9]* | cascade/head | cascade/edge-finetune) ;;
    *) echo "run.sh: unknown method $method" >&2; exit 2 ;;
    esac
    name=${method//\//-}
    name=${name//+/-}
    dir="$work/$name"
    mkdir -p "$dir"
    end="bench-adapt-end-$$" edge="bench-adapt-edge-$$"
    if [ "${method%%/*}" = cascade ] || [ "${method#alone/head}" != "$method" ]; then
        edge_manifest=$manifest
        [ "${method%+poisoned}" != "$method" ] && edge_manifest="$work/poisoned/manifest.toml"
        {
            printf '[agent]\ndevice_id = "%s"\nrole = "edge"\n[mqtt]\nhost = "127.0.0.1"\nport = %s\n' "$edge" "$BROKER_PORT"
            printf '[plugin.inference-opencv]\nmanifest = "%s"\nmodels = "%s"\n' "$edge_manifest" "$EDGE_MODEL"
            case $method in cascade/judged+teacher | */head* | */edge-finetune) adapt_keys 0 recalibrate "$EDGE_SAMPLES" ;; esac
            if [ "$method" = cascade/edge-finetune ]; then printf '[offload]\nkeep_answered = 1000\n'; fi
        } >"$dir/edge.toml"
        "$bin/tierd" --config "$dir/edge.toml" >"$dir/edge.log" 2>&1 &
        pids+=($!)
        wait_online "$edge"
    fi
    {
        printf '[agent]\ndevice_id = "%s"\n' "$end"
        if [ "$method" = cascade/edge-finetune ]; then printf 'state_dir = "%s"\n' "$dir/state"; fi
        printf '[mqtt]\nhost = "127.0.0.1"\nport = %s\n' "$BROKER_PORT"
        if [ "$method" = cascade/edge-finetune ]; then
            # The held-back buffer: the training split's last 500 (the stream is the test
            # split's, the job replays the training split's first 59,000).
            printf '[models]\nholdout = "%s"\nholdout_labels = "%s"\nholdout_images = 500\n' \
                /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz \
                /usr/share/datasets/fashion-mnist/train-labels-idx1-ubyte.gz
        fi
        printf '[source]\nkind = "idx"\npath = "%s"\nlabels = "%s"\nrate_hz = %s\n' \
            "$work/stream/images-idx3-ubyte" "$work/stream/labels-idx1-ubyte" "$RATE"
        printf '[results]\njsonl = "%s"\n' "$dir/results.jsonl"
        if [ "${method%%/*}" = cascade ]; then
            printf '[pipeline]\nlocal_first = true\n[plugins]\nscheduler = "scheduler-rule"\n'
            printf '[plugin.scheduler-rule]\nrule = "by-confidence"\nconfidence_threshold = %s\nmin_upstream_share = %s\n' "$THRESHOLD" "$SHARE"
        else
            case $method in alone/head@*)
                percent=${method#alone/head@}
                budget=$(/usr/bin/python3 -c "print(${percent%+poisoned} / 100 * $RATE * 3600)")
                printf '[pipeline]\nlabel_budget_per_hour = %s\n' "$budget" ;;
            esac
            printf '[plugins]\nscheduler = "scheduler-rule"\n[plugin.scheduler-rule]\nrule = "always-end"\n'
        fi
        printf '[plugin.inference-opencv]\nmanifest = "%s"\nmodels = "%s"\n' "$manifest" "$END_MODEL"
        case $method in
        */recalibrate | */edge-finetune) adapt_keys 0 ;;
        cascade/judged*) adapt_keys 512 ;;
        */head*) adapt_keys 512 recalibrate+head ;;
        esac
    } >"$dir/end.toml"
    "$bin/tierd" --check-config "$dir/end.toml" >/dev/null
    echo "== $method: $count images at $RATE/s" >&2
    "$bin/tierd" --config "$dir/end.toml" >"$dir/end.log" 2>&1 &
    pids+=($!)
    wait_online "$end"
    job=
    if [ "$method" = cascade/edge-finetune ]; then
        TIERCTL_HOST=127.0.0.1 TIERCTL_PORT=$BROKER_PORT /usr/bin/python3 \
            "$top/tools/adapt/finetune_job.py" --edge "$edge" --device "$end" --name "$END_MODEL" \
            --model "$top/models/$END_MODEL.onnx" --every 8 --max 1000 --min 200 --threads 1 \
            --tierctl "$bin/tierctl" --log "$dir/rounds.jsonl" >"$dir/job.log" 2>&1 &
        job=$!
    fi
    deadline=$(( $(date +%s) + count / RATE + 120 ))
    while :; do
        lines=$( [ -f "$dir/results.jsonl" ] && wc -l <"$dir/results.jsonl" || echo 0)
        [ "$lines" -ge "$count" ] && break
        [ "$(date +%s)" -lt "$deadline" ] || { echo "run.sh: $method: $lines of $count results" >&2; exit 1; }
        sleep 0.5
    done
    if [ -n "$job" ]; then
        kill -TERM "$job" 2>/dev/null || true
        wait "$job" 2>/dev/null || true
        touch "$dir/rounds.jsonl"
    fi
    for _ in $(seq 100); do # the last labels reach the plugin after their results (10 s)
        rr "$end" '{"op":"status"}' >"$dir/status.json"
        rr "$end" '{"op":"plugins.list"}' >"$dir/plugins.json"
        /usr/bin/python3 "$here/learning_settled.py" "$dir/status.json" "$dir/plugins.json" && break
        sleep 0.1
    done
    grep -o "adapted '[^']*' to its last [0-9]* inputs in [0-9]* ms\|adaptation refused[^\"]*\|head [a-z]*[^\"]*" \
        "$dir/end.log" >"$dir/adaptations.txt" || true
    stop_agents
    runs+=("$method=$dir")
done
elapsed=$(( $(date +%s) - start ))
commit=$(git -C "$top" rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
dirty=$(git -C "$top" status --porcelain 2>/dev/null | grep -q . && echo " (working tree changed)" || true)
machine="$(lscpu | sed -n 's/^Model name: *//p' | head -1), $(nproc) cores, Linux $(uname -r)"
mkdir -p "$OUT_DIR"
/usr/bin/python3 "$here/report.py" --machine "$machine" --commit "$commit$dirty" \
    --seconds "$elapsed" --segments "$work/stream/segments.json" --plan "$PLAN" --seed "$SEED" \
    --rate "$RATE" --end-model "$END_MODEL" --edge-model "$EDGE_MODEL" --threshold "$THRESHOLD" --share "$SHARE" --edge-samples "$EDGE_SAMPLES" \
    --samples "$SAMPLES" --interval-ms "$INTERVAL_MS" --oracle "$work/oracle.json" \
    "${oracle_full[@]}" --out "$OUT_DIR" "${runs[@]}"
