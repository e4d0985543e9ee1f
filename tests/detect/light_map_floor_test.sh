#!/bin/bash
# det-light through the C++ path on a short test clip: tierd-videogen writes test seed 7
# (50 frames, the test split: never trained on), tierd-detect-run runs models/det-light.onnx
# through OpenCV DNN with the inference-opencv plugin's decoder, tierd-eval scores it, and
# mAP@0.5 must reach the floor. The floor sits below what the committed model measured
# on this clip (docs/detectors.md, "Tests") with a margin for OpenCV builds that round
# differently; a model that detects nothing, or mislabels or misplaces its boxes, fails.
# NAME FLOOR: another [[detector]] of the manifest (its pruned variant, det-light-p45) and
# its own floor.
#   light_map_floor_test.sh VIDEOGEN DETECT_RUN EVAL MODELS_DIR [NAME FLOOR]
set -euo pipefail
videogen=$1 detect_run=$2 eval=$3 models=$4
name=${5:-det-light}
floor=${6:-0.40}  # det-light: measured 0.5209 on 2026-12-06 (docs/detectors.md, Tests)
py=/usr/bin/python3

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# The model is the one the manifest describes (same bytes), and its input size comes from it.
read -r input want_sha file < <("$py" - "$models/manifest.toml" "$name" <<'PY'
import sys, tomllib
m = tomllib.load(open(sys.argv[1], "rb"))
d = [d for d in m.get("detector", []) if d["name"] == sys.argv[2]]
if not d:
    sys.exit(f"manifest has no [[detector]] {sys.argv[2]}")
_, _, h, w = d[0]["input_shape"]
print(f"{w}x{h}", d[0]["sha256"], d[0]["file"])
PY
)
have_sha=$(sha256sum "$models/$file" | cut -d' ' -f1)
if [ "$have_sha" != "$want_sha" ]; then
  echo "FAIL: models/$file has sha256 $have_sha, the manifest says $want_sha" >&2
  exit 1
fi

"$videogen" --seed 7 --frames 50 --out "$tmp/clip" --quiet
"$detect_run" --model "$models/$file" --input "$input" --video "$tmp/clip/video.avi" \
  --out "$tmp/run.jsonl" --threads 1 > "$tmp/run.json"
lines=$(wc -l < "$tmp/run.jsonl")
if [ "$lines" -ne 50 ]; then
  echo "FAIL: $lines result lines for 50 frames" >&2
  exit 1
fi
"$eval" map "$tmp/clip/gt.json" "$tmp/run.jsonl" --json > "$tmp/eval.json"
"$py" - "$tmp/eval.json" "$tmp/run.json" "$floor" "$name" <<'PY'
import json, sys
ev = json.load(open(sys.argv[1]))
run = json.load(open(sys.argv[2]))
floor = float(sys.argv[3])
print(f"{sys.argv[4]} on test seed 7 (50 frames): mAP@0.5 {ev['map50']:.4f}, "
      f"mAP@[.5:.95] {ev['map50_95']:.4f}, {run['ms_per_frame']:.2f} ms/frame (1 thread); "
      f"floor {floor}")
if not ev["map50"] >= floor:
    sys.exit(f"FAIL: mAP@0.5 {ev['map50']:.4f} is below the floor {floor}")
PY
