#!/usr/bin/env bash
# video_test.sh CASE TIERD LIB_BROKER SOURCE_DIR VIDEOGEN EVAL [TIERCTL]
# Video object detection through real agents (issue 16): a generated clip with exact
# ground truth plays through an end agent (source-video, the light detector, key frames
# every 10 frames by scheduler-mo, fusion-track) while an edge agent runs the heavy
# detector on the key frames; real broker, real models, results scored by tierd-eval.
#   key_frames_fused    every frame has one result, in order; key frames are answered and
#                       their boxes reach the later frames; box fusion scores at least as
#                       well as the light detector alone on the same clip
#   edge_lost           the edge is killed mid-clip: every frame still gets its result
#                       (light-only from then on, and each says so), none lost or repeated
#   edge_frozen         the edge stops answering mid-clip but stays connected (SIGSTOP: a
#                       link cut the MQTT connection has not noticed): once the key frames
#                       time out in a row the results say "unreachable", light-only, none
#                       lost or repeated
#   feature_fused       feature fusion (issue 17; docs/feature-fusion.md): [offload]
#                       frame_features = "whole", fusion-feature; the edge's det-heavy maps
#                       come back with its key-frame boxes, the fusion plugin fuses them on
#                       most frames (its counters, through tierctl plugins list), and the
#                       fused boxes score above the light detector alone on the same clip
#   feature_regions_edge_lost  the same with "regions" maps, and the edge killed mid-clip:
#                       every frame still gets its result, light-only once it is gone
#   feature_adaptive    adaptive key frames with features (issue 17, section 3): scheduler-mo
#                       in trigger mode on fusion-feature's warp error alone, within a 10%
#                       share budget; the fused frames carry their warp error, key frames
#                       are sent on it ("warp" reasons), never more than the budget allows,
#                       and the result scores no worse than the light detector alone
#   detector_adapts     the light detector adapts to a fogged clip without labels (issue 18:
#                       adapt = "recalibrate" on a detector), its adaptations judged by the
#                       edge's boxes for the key frames (ABI 1.7 learn()): key frames reach
#                       the plugin, adaptations are judged by them (installed or refused),
#                       every frame still gets exactly one result
#   resend_fused        region re-send ([offload] frame_resend): key frames go up small and
#                       rough, the edge asks for the regions it is unsure of, the end sends
#                       them; second rounds happen (the end's status), every frame is
#                       answered, and box fusion scores about as well (the bytes saved are
#                       measured by bench/video, "dds")
set -euo pipefail
case_name=$1 tierd=$2
. "$3"
source_dir=$4 videogen=$5 eval_tool=$6 tierctl=${7:-}
work=$(mktemp -d)
# KEEP_WORK=1 keeps the clip, configs, logs and results (the path is printed).
trap 'kill -9 ${END_PID:-} ${EDGE_PID:-} 2>/dev/null || true; stop_broker
      if [ "${KEEP_WORK:-0}" = 1 ]; then echo "work kept: $work"; else rm -rf "$work"; fi' EXIT
py=/usr/bin/python3
manifest=$source_dir/models/manifest.toml
end="it-video-end-$$" edge="it-video-edge-$$"
frames=100

fail() {
    echo "FAIL: $*" >&2
    for f in end edge; do echo "--- $f log:" >&2; tail -25 "$work/$f.log" >&2 || true; done
    exit 1
}
. "$(dirname "$0")/lib-agents.sh"

# The heavy detector on the edge when it is in the zoo, else the light one (then the
# key frames still travel and answer, but fusion has nothing better to add).
heavy=det-heavy
grep -q "name = \"det-heavy\"" "$manifest" || heavy=det-light

start_broker "$work"
"$videogen" --seed 7 --frames "$frames" --out "$work/clip" >"$work/videogen.log" 2>&1 ||
    fail "tierd-videogen: $(tail -3 "$work/videogen.log")"

start_edge() {
    zoo_edge_config "$edge" "$manifest" "$heavy" >"$work/edge.toml"
    "$tierd" --config "$work/edge.toml" >"$work/edge.log" 2>&1 &
    EDGE_PID=$!
    wait_agent_online "$edge"
}
# Runs the clip through an end agent with key frames MODE ("every" or "off") into
# results-NAME.jsonl and waits until the source has finished.
run_end() { # NAME MODE [AFTER_FRAMES_HOOK]
    cat >"$work/end-$1.toml" <<CONF
[agent]
device_id = "$end"
role = "end"
[mqtt]
host = "127.0.0.1"
port = $BROKER_PORT
[source]
kind = "video"
path = "$work/clip/video.avi"
rate_hz = 25
[results]
jsonl = "$work/results-$1.jsonl"
[offload]
timeout_ms = ${end_timeout_ms:-4000}
frame_features = "${frame_features:-none}"
frame_resend = ${frame_resend:-false}
[plugins]
scheduler = "scheduler-mo"
preclassifier = ""
fusion = "${fusion:-fusion-track}"
[plugin.inference-opencv]
manifest = "$manifest"
models = "det-light"
score_threshold = ${score:-0.3}
${inference_extra:-}
[plugin.scheduler-mo]
key_frames = "$2"
key_frame_interval = 10
${scheduler_extra:-}
[plugin.fusion-feature]
model = "$source_dir/models/det-fusion.onnx"
score_threshold = ${score:-0.3}
CONF
    "$tierd" --config "$work/end-$1.toml" >>"$work/end.log" 2>&1 &
    END_PID=$!
    local hook_done=0
    for _ in $(seq 600); do
        local n=0
        [ -f "$work/results-$1.jsonl" ] && n=$(wc -l <"$work/results-$1.jsonl")
        if [ -n "${3:-}" ] && [ "$hook_done" = 0 ] && [ "$n" -ge 25 ]; then
            "$3"
            hook_done=1
        fi
        [ "$n" -ge "$frames" ] && grep -q "source finished" "$work/end.log" && break
        sleep 0.1
    done
    # A case that waits for the end's plugins to finish what the clip started (their
    # background work) names a check to poll, up to 60 s, before the snapshot below.
    if [ -n "${settled_check:-}" ]; then
        for _ in $(seq 120); do "$settled_check" && break; sleep 0.5; done
    fi
    # The fusion plugin's counters and the end's status, while the end still runs.
    if [ -n "$tierctl" ]; then
        TIERCTL_HOST=127.0.0.1 TIERCTL_PORT=$BROKER_PORT "$tierctl" plugins list "$end" --json \
            >"$work/plugins-$1.json" 2>>"$work/end.log" || true
        TIERCTL_HOST=127.0.0.1 TIERCTL_PORT=$BROKER_PORT "$tierctl" --json cmd "$end" status \
            >"$work/status-$1.json" 2>>"$work/end.log" || true
    fi
    kill "$END_PID"
    wait "$END_PID" || true
    [ "$(wc -l <"$work/results-$1.jsonl")" -ge "$frames" ] ||
        fail "$1: only $(wc -l <"$work/results-$1.jsonl") of $frames results"
}
# Checks results-NAME.jsonl: one ok result per frame, in frame order, each with its
# detections; prints "key_frames answered_frames light_only_frames".
check_results() { # NAME
    $py - "$work/results-$1.jsonl" "$frames" <<'PY' || fail "$1: results"
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
n = int(sys.argv[2])
frames = [r.get("frame") for r in rows]
assert frames == list(range(n)), f"frames out of order or repeated: {frames}"
bad = [r for r in rows if not r["ok"] or not isinstance(r.get("detections"), list)]
assert not bad, f"{len(bad)} results without detections: {bad[0]}"
for r in rows:
    for d in r["detections"]:
        x, y, w, h = d["bbox"]
        assert w > 0 and h > 0 and 1 <= d["category_id"] <= 10 and 0 <= d["score"] <= 1, d
# fusion-track's fuse_frame() ran for every frame, and its time is in the result
assert all(r["timing_ms"].get("fuse", -1) >= 0 for r in rows), rows[0]["timing_ms"]
key = sum(r["video"]["key_frame"] for r in rows)
fed = sum("upstream" in r["video"] for r in rows)
light = sum(r["video"]["light_only"] for r in rows)
for r in rows:
    u = r["video"].get("upstream")
    # Honest timing: an answer is about an earlier (key) frame, never a later one.
    assert u is None or u["frame"] <= r["frame"], r
print(key, fed, light)
PY
}
map50() { # NAME
    "$eval_tool" map "$work/clip/gt.json" "$work/results-$1.jsonl" --json |
        $py -c 'import json,sys; print(json.load(sys.stdin)["map50"])'
}

case $case_name in
key_frames_fused)
    start_edge
    run_end light off
    run_end fused every
    read -r key fed light < <(check_results fused)
    read -r key0 fed0 light0 < <(check_results light)
    [ "$key0" = 0 ] && [ "$fed0" = 0 ] || fail "key_frames off still sent key frames ($key0)"
    # Key frames every 10 of 75 frames; the first answers arrive a few frames later.
    [ "$key" -ge 6 ] || fail "only $key key frames sent"
    [ "$fed" -ge $((frames / 2)) ] || fail "only $fed frames were handed an upstream answer"
    m_light=$(map50 light) m_fused=$(map50 fused)
    echo "mAP@0.5: light-only $m_light, box fusion $m_fused (edge: $heavy; key frames $key, fed $fed)"
    $py -c "import sys; sys.exit(0 if $m_fused >= $m_light - 0.02 else 1)" ||
        fail "box fusion ($m_fused) scored below light-only ($m_light)"
    ;;
edge_lost)
    start_edge
    kill_edge() { kill -9 "$EDGE_PID"; }
    run_end lost every kill_edge
    read -r key fed light < <(check_results lost)
    [ "$light" -ge 20 ] || fail "after the edge died only $light frames say light_only"
    # Before the kill the edge answered. Once a frame says "unreachable" (the end has seen
    # the edge go offline; frames already in flight then may still have been fused with
    # an earlier answer), every later frame is the end's own, and says so.
    $py - "$work/results-lost.jsonl" <<'PY' || fail "lost: light-only frames"
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
assert any("upstream" in r["video"] for r in rows[:25]), "no answer before the edge died"
first = next((i for i, r in enumerate(rows) if r["video"].get("unreachable")), None)
assert first is not None, "no result says the upstream is unreachable"
after = rows[first:]
assert all(r["video"]["light_only"] and "upstream" not in r["video"] for r in after), \
    [r["frame"] for r in after if not r["video"]["light_only"]]
assert len(after) >= 15, f"the end noticed only at frame {first}"
PY
    ;;
edge_frozen)
    start_edge
    freeze_edge() { kill -STOP "$EDGE_PID"; }
    end_timeout_ms=600 # three key frames (every 10 frames, 0.4 s) time out within ~2 s
    run_end frozen every freeze_edge
    kill -CONT "$EDGE_PID"
    read -r key fed light < <(check_results frozen)
    $py - "$work/results-frozen.jsonl" <<'PY' || fail "frozen: unreachable frames"
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
assert any("upstream" in r["video"] for r in rows[:25]), "no answer before the edge froze"
first = next((i for i, r in enumerate(rows) if r["video"].get("unreachable")), None)
assert first is not None, "no result says the upstream is unreachable"
assert first >= 25, f"frame {first} said unreachable before the edge froze"
bad = [r["frame"] for r in rows[first:] if not r["video"]["light_only"] or "upstream" in r["video"]]
assert not bad, f"fused with the frozen edge's answers after it was found unreachable: {bad}"
assert len(rows) - first >= 10, f"the end noticed only at frame {first}"
PY
    ;;
feature_fused)
    [ -n "$tierctl" ] || fail "feature_fused needs TIERCTL"
    start_edge
    score=0.05 # mAP wants the low-scored boxes too (docs/detectors.md)
    run_end light off
    fusion=fusion-feature frame_features=whole run_end feat every
    read -r key fed light < <(check_results feat)
    [ "$key" -ge 6 ] || fail "only $key key frames sent"
    fused=$($py -c '
import json, sys
p = json.load(open(sys.argv[1]))["replies"][0]["reply"]["result"]["loaded"]
f = next(x for x in p if x["name"] == "fusion-feature")
print(int(f["metrics"]["counters"].get("frames_fused", 0)))' "$work/plugins-feat.json") ||
        fail "no fusion-feature counters in plugins list"
    # Frames before the first answer (a few) are light-only; all the others fuse maps.
    [ "$fused" -ge $((frames / 2)) ] || fail "only $fused frames were fused with the edge's maps"
    m_light=$(map50 light) m_feat=$(map50 feat)
    echo "mAP@0.5: light-only $m_light, feature fusion $m_feat (edge: $heavy; key frames $key, fused $fused)"
    $py -c "import sys; sys.exit(0 if $m_feat > $m_light else 1)" ||
        fail "feature fusion ($m_feat) did not score above light-only ($m_light)"
    ;;
detector_adapts)
    [ -n "$tierctl" ] || fail "detector_adapts needs TIERCTL"
    $py "$source_dir/bench/adapt/shift_video.py" --in "$work/clip/video.avi" \
        --out "$work/clip/fog.avi" --shift fog || fail "shift_video.py"
    mv "$work/clip/fog.avi" "$work/clip/video.avi"
    "$videogen" --seed 1000 --split train --frames 40 --out "$work/train" -q ||
        fail "tierd-videogen (training clip)"
    start_edge
    # The adaptations run on a low-priority thread: on a busy machine the clip can end
    # before one was judged. The end keeps running until one was (or 60 s).
    judged_once() {
        TIERCTL_HOST=127.0.0.1 TIERCTL_PORT=$BROKER_PORT "$tierctl" plugins list "$end" --json \
            2>/dev/null | grep -q '"teacher_agreement"'
    }
    settled_check=judged_once
    inference_extra="adapt = \"recalibrate\"
adapt_detector_source = \"$work/train/video.avi\"
adapt_detector_source_frames = 16
adapt_detector_samples = 16
adapt_detector_every = 2
adapt_interval_ms = 0
adapt_min_key_frames = 2
adapt_teacher_score = 0.3" run_end adapts every
    read -r key fed light < <(check_results adapts)
    $py - "$work/plugins-adapts.json" <<'PY' || fail "adapts: the plugin's metrics"
import json, sys
p = json.load(open(sys.argv[1]))["replies"][0]["reply"]["result"]["loaded"]
m = next(x for x in p if x["name"] == "inference-opencv")["metrics"]
c, g = m["counters"], m["gauges"]
print("inference-opencv:", c, g)
assert c.get("teacher_key_frames", 0) >= 4, c      # the edge's boxes reached the plugin
judged = c.get("adaptations", 0) + c.get("adaptations_refused", 0) - c.get("adaptations_unjudged", 0)
assert judged >= 1, c                                # ... and judged an adaptation
assert 0 <= g["teacher_agreement"] <= 1 and 0 <= g["teacher_agreement_shipped"] <= 1, g
PY
    grep -q "judged by the teacher's answers" "$work/end.log" || fail "adapts: no judge"
    ;;
feature_adaptive)
    [ -n "$tierctl" ] || fail "feature_adaptive needs TIERCTL"
    start_edge
    score=0.05
    run_end light off
    # Only the warp error triggers (and the first frame); at most 10% of the frames (and
    # the first) go up.
    scheduler_extra='key_frame_max_gap_ms = 0
key_frame_scene_change = 0
key_frame_score_floor = 0
key_frame_objects_change = 0
key_frame_warp_error = 0.03
key_frame_max_share = 0.1
key_frame_share_window = 50
key_frame_max_in_flight = 1' fusion=fusion-feature frame_features=whole run_end adaptive trigger
    read -r key fed light < <(check_results adaptive)
    $py - "$work/results-adaptive.jsonl" "$frames" <<'PY' || fail "adaptive: key frames"
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
n = int(sys.argv[2])
keys = [r["frame"] for r in rows if r["video"]["key_frame"]]
warp_keys = [r["frame"] for r in rows if r["video"]["key_frame"] and "warp" in r["reason"]]
carried = [r["video"]["upstream"]["warp_error"] for r in rows
           if "warp_error" in r["video"].get("upstream", {})]
print(f"key frames {keys} (on the warp error: {warp_keys}); warp error on {len(carried)} "
      f"frames, mean {sum(carried) / max(1, len(carried)):.4f}, max {max(carried, default=0):.4f}")
assert keys and keys[0] == 0, keys
assert warp_keys, "no key frame was sent on the warp error"
assert len(carried) >= n // 2, f"only {len(carried)} frames report a warp error"
assert all(0 <= w <= 1 for w in carried), carried
# The budget: the first, then 0.1 a frame.
assert len(keys) <= 1 + 0.1 * n, f"{len(keys)} key frames in {n} frames"
PY
    # The accuracy against fixed cadences is the benchmark's (bench/video, feature-adaptive-K):
    # on this short clip the threshold sends ~7 key frames, 14-19 frames apart, and scores
    # about light-only (0.66-0.68 against 0.67 in runs on the 2-core VM). Here: the sparse
    # key frames cost no more than noise.
    m_light=$(map50 light) m_adaptive=$(map50 adaptive)
    echo "mAP@0.5: light-only $m_light, adaptive key frames $m_adaptive"
    $py -c "import sys; sys.exit(0 if $m_adaptive >= $m_light - 0.05 else 1)" ||
        fail "adaptive key frames ($m_adaptive) scored well below light-only ($m_light)"
    ;;
feature_regions_edge_lost)
    start_edge
    kill_edge() { kill -9 "$EDGE_PID"; }
    fusion=fusion-feature frame_features=regions run_end lost every kill_edge
    read -r key fed light < <(check_results lost)
    [ "$light" -ge 20 ] || fail "after the edge died only $light frames say light_only"
    $py - "$work/results-lost.jsonl" <<'PY' || fail "lost: light-only frames"
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
assert any("upstream" in r["video"] for r in rows[:25]), "no answer before the edge died"
first = next((i for i, r in enumerate(rows) if r["video"].get("unreachable")), None)
assert first is not None, "no result says the upstream is unreachable"
assert all(r["video"]["light_only"] for r in rows[first:])
PY
    grep -q "feature map .* is dropped" "$work/end.log" && fail "a feature map was dropped"
    ;;
resend_fused)
    [ -n "$tierctl" ] || fail "resend_fused needs TIERCTL"
    start_edge
    score=0.05
    run_end whole every
    frame_resend=true run_end resend every
    check_results whole >/dev/null
    read -r key fed light < <(check_results resend)
    [ "$key" -ge 6 ] || fail "only $key key frames sent"
    rounds=$($py -c '
import json, sys
r = json.load(open(sys.argv[1]))["replies"][0]["reply"]["result"]
print(int(r["tasks"].get("resend_rounds", -1)))' "$work/status-resend.json") ||
        fail "no resend_rounds in the end's status"
    [ "$rounds" -ge 1 ] || fail "no second round was sent ($rounds)"
    m_whole=$(map50 whole) m_resend=$(map50 resend)
    echo "region re-send: $rounds second rounds; mAP@0.5 $m_resend (box fusion without: $m_whole)"
    $py -c "import sys; sys.exit(0 if $m_resend >= $m_whole - 0.05 else 1)" ||
        fail "with region re-send mAP@0.5 fell from $m_whole to $m_resend"
    ;;
*)
    echo "unknown case $case_name" >&2
    exit 2
    ;;
esac
echo "ok: $case_name"
