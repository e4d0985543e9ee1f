#!/usr/bin/env bash
# Detection adapts on the end, with real agents (issue 18, sections 3 and 5, detection): a
# generated test video whose scene shifts for good at its first frame (fog, dusk or blur:
# shift_video.py) and comes back clean for its last 30 s plays through an end agent
# (source-video at 25 fps, det-light, scheduler-mo key frames every KEY_EVERY frames)
# while an edge agent runs det-heavy on the key frames, on a real mosquitto
# broker on loopback. Methods (one fresh pair of agents each):
#   none         the end's detector as shipped
#   recalibrate  adapt = "recalibrate" on the detector: its convolutions' channels
#                re-estimated on SAMPLES of its recent frames (one in EVERY), without
#                labels, against eight clean training-split scenes; every adaptation
#                installed (adapt_key_frames = 0)
#   judged       the same, each adaptation judged by the edge's boxes for the last 32 key
#                frames (ABI 1.7 learn(); docs/adaptation.md, "Detectors"): in only when its
#                AP@0.5 against them is no worse than the model's now and as shipped
#   judged+teacher  the same, with the edge's det-heavy recalibrating too, on the key frames
#                it is sent (the teacher suffers from the shift as well)
# Accuracy is the light detector's own: the end runs with fusion = "" (each frame's result
# is its own detector's boxes; the key frames still go up, for their labels), scored by
# mAP@0.5 (tierd-eval) on minute 2 of the shift (frames 1500-2999). Beside them, measured
# offline on the same frames: det-heavy (the teacher; the regain's ceiling). regain = (after - none) / (heavy - none). forgetting: the last 30 s,
# clean again, none minus the method (> 0: worse than not adapting).
#
# Environment (defaults in brackets):
#   BUILD=DIR   build tree [build]     SEEDS  test seeds ["7"]     SHIFTS ["fog dark blur"]
#   METHODS     ["none recalibrate judged judged+teacher"]   KEY_EVERY [20: 5% of the frames go up]
#   SAMPLES     adapt_detector_samples [64]   EVERY adapt_detector_every [10]
#   INTERVAL_MS adapt_interval_ms [5000]
#   WORK=DIR    keep the work there (runs already complete are not run again)
#   OUT         report path without extension [bench/results/adapt_detect_live]
# Needs: mosquitto, python3-opencv; ~2.5 min of video per run (12 runs a seed by default).
# (The whole script is one function, so that bash has read all of it before it runs:
# editing the file during a run cannot change the run.)
main() {
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
BUILD=${BUILD:-build}
SEEDS=${SEEDS:-7}
SHIFTS=${SHIFTS:-fog dark blur}
METHODS=${METHODS:-none recalibrate judged judged+teacher}
KEY_EVERY=${KEY_EVERY:-20}
SAMPLES=${SAMPLES:-64}
EVERY=${EVERY:-10}
INTERVAL_MS=${INTERVAL_MS:-5000}
OUT=${OUT:-$top/bench/results/adapt_detect_live}
shifted=3000 clean_tail=750 fps=25
bin="$top/$BUILD"
py=/usr/bin/python3
manifest="$top/models/manifest.toml"
for tool in tierd tierctl tierd-videogen tierd-eval tierd-detect-run; do
    [ -x "$bin/$tool" ] || { echo "detect_live.sh: $bin/$tool missing (ninja -C $BUILD $tool)" >&2; exit 2; }
done
. "$top/scripts/lib-broker.sh"
if [ -n "${WORK:-}" ]; then work=$WORK; mkdir -p "$work"; else work=$(mktemp -d /tmp/tierd-detect-live.XXXXXX); fi
work=$(cd "$work" && pwd)
pids=()
stop_agents() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
    pids=()
}
trap 'stop_agents; stop_broker; [ -n "${WORK:-}" ] || rm -rf "$work"' EXIT
# A private copy of the binaries: the build tree may be rebuilt meanwhile.
mkdir -p "$work/bin/plugins"
cp "$bin/tierd" "$bin/tierctl" "$work/bin/"
cp "$bin"/plugins/lib/*.so "$work/bin/plugins/"
start_broker "$work"
wait_online() { # DEVICE
    for _ in $(seq 60); do
        mosquitto_sub -h 127.0.0.1 -p "$BROKER_PORT" -t "tierd/v1/dev/$1/status" -C 1 -W 1 \
            2>/dev/null | grep -q '"state":"online"' && return 0
    done
    echo "detect_live.sh: agent $1 did not come online" >&2
    return 1
}
frames=$((shifted + clean_tail))
# Clean scenes of the kind det-light was trained on (its reference statistics): eight
# training-split clips, one scene each, in one directory (adapt_detector_source).
mkdir -p "$work/train"
for s in 1000 1001 1002 1003 1004 1005 1006 1007; do
    [ -f "$work/train/$s.avi" ] && continue
    "$bin/tierd-videogen" --seed "$s" --split train --frames 80 --out "$work/train-$s" -q
    mv "$work/train-$s/video.avi" "$work/train/$s.avi"
    rm -rf "$work/train-$s"
done
start=$(date +%s)
for seed in $SEEDS; do
    clip="$work/seed$seed"
    [ -f "$clip/gt.json" ] || "$bin/tierd-videogen" --seed "$seed" --frames "$frames" --out "$clip" -q
    for shift in $SHIFTS; do
        d="$clip/$shift"
        mkdir -p "$d"
        [ -f "$d/video.avi" ] || $py "$here/shift_video.py" --in "$clip/video.avi" \
            --out "$d/video.avi" --shift "$shift" --until "$shifted"
        # The teacher on the same frames, offline (the regain's ceiling).
        [ -s "$d/heavy.jsonl" ] || "$bin/tierd-detect-run" --model "$top/models/det-heavy.onnx" \
            --input 640x352 --video "$d/video.avi" --out "$d/heavy.jsonl" --threads 2
        for method in $METHODS; do
            dir="$d/$method"
            [ -f "$dir/done" ] && continue
            rm -rf "$dir"
            mkdir -p "$dir"
            end="bench-detect-end-$$" edge="bench-detect-edge-$$"
            printf '[agent]\ndevice_id = "%s"\nrole = "edge"\n[mqtt]\nhost = "127.0.0.1"\nport = %s\n[plugins]\nsearch_path = ["%s"]\n[plugin.inference-opencv]\nmanifest = "%s"\nmodels = "det-heavy"\nscore_threshold = 0.05\n' \
                "$edge" "$BROKER_PORT" "$work/bin/plugins" "$manifest" >"$dir/edge.toml"
            if [ "$method" = judged+teacher ]; then # the teacher adapts on the key frames it gets
                printf 'adapt = "recalibrate"\nadapt_detector_source = "%s"\nadapt_detector_source_frames = 128\n' "$work/train"
                printf 'adapt_detector_samples = %s\nadapt_detector_every = 1\nadapt_interval_ms = %s\nadapt_key_frames = 0\n' "$SAMPLES" "$INTERVAL_MS"
            fi >>"$dir/edge.toml"
            "$work/bin/tierd" --config "$dir/edge.toml" >"$dir/edge.log" 2>&1 &
            pids+=($!)
            wait_online "$edge"
            {
                printf '[agent]\ndevice_id = "%s"\nrole = "end"\n[mqtt]\nhost = "127.0.0.1"\nport = %s\n' "$end" "$BROKER_PORT"
                printf '[source]\nkind = "video"\npath = "%s"\nrate_hz = %s\n' "$d/video.avi" "$fps"
                printf '[results]\njsonl = "%s"\n[offload]\ntimeout_ms = 4000\n' "$dir/results.jsonl"
                printf '[plugins]\nsearch_path = ["%s"]\nscheduler = "scheduler-mo"\npreclassifier = ""\nfusion = ""\n' "$work/bin/plugins"
                printf '[plugin.scheduler-mo]\nkey_frames = "every"\nkey_frame_interval = %s\n' "$KEY_EVERY"
                printf '[plugin.inference-opencv]\nmanifest = "%s"\nmodels = "det-light"\nscore_threshold = 0.05\n' "$manifest"
                case $method in
                recalibrate | judged | judged+teacher)
                    printf 'adapt = "recalibrate"\nadapt_detector_source = "%s"\nadapt_detector_source_frames = 128\n' "$work/train"
                    printf 'adapt_detector_samples = %s\nadapt_detector_every = %s\nadapt_interval_ms = %s\n' "$SAMPLES" "$EVERY" "$INTERVAL_MS"
                    [ "$method" = recalibrate ] && printf 'adapt_key_frames = 0\n' ;;
                none) ;;
                *) echo "detect_live.sh: unknown method $method" >&2; exit 2 ;;
                esac
            } >"$dir/end.toml"
            "$work/bin/tierd" --check-config "$dir/end.toml" >/dev/null
            echo "== seed $seed $shift $method: $frames frames at $fps/s" >&2
            "$work/bin/tierd" --config "$dir/end.toml" >"$dir/end.log" 2>&1 &
            pids+=($!)
            wait_online "$end"
            deadline=$(( $(date +%s) + frames / fps + 120 ))
            while :; do
                lines=$( [ -f "$dir/results.jsonl" ] && wc -l <"$dir/results.jsonl" || echo 0)
                [ "$lines" -ge "$frames" ] && break
                [ "$(date +%s)" -lt "$deadline" ] || { echo "detect_live.sh: $lines of $frames results" >&2; exit 1; }
                sleep 1
            done
            TIERCTL_HOST=127.0.0.1 TIERCTL_PORT=$BROKER_PORT "$work/bin/tierctl" plugins list "$end" --json >"$dir/plugins.json"
            TIERCTL_HOST=127.0.0.1 TIERCTL_PORT=$BROKER_PORT "$work/bin/tierctl" --json cmd "$end" status >"$dir/status.json"
            stop_agents
            touch "$dir/done"
        done
    done
done
$py "$here/detect_live_report.py" --work "$work" --build "$bin" --seeds "$SEEDS" --shifts "$SHIFTS" \
    --methods "$METHODS" --key-every "$KEY_EVERY" --samples "$SAMPLES" --every "$EVERY" --interval-ms "$INTERVAL_MS" \
    --shifted "$shifted" --clean-tail "$clean_tail" --seconds $(( $(date +%s) - start )) --out "$OUT"
}
main "$@"
