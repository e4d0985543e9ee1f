#!/usr/bin/env bash
# bench/compress/run.sh's detector step (step 5) end to end on tiny settings (issue 19; the
# full run, 35 minutes of fine-tuning, is outside CI): training frames from one seed,
# det-heavy's heatmaps on them, det-light pruned to 45% of its channels and fine-tuned a
# few steps with distillation, exported, measured through the C++ path, reported.
# Checks that pruning at width 1.0 gives back det-light exactly (the ONNX file read into
# PyTorch, BatchNorms rebuilt: OpenCV's outputs and PyTorch's agree), that the pruned net
# is the size it should be, that the report has the issue's keys for every (device,
# detector) with mAP@0.5 as accuracy, and that the lineage names the parent, the teacher
# and a sha256 that matches the file; each detector's int8 row (cv::dnn::Net::quantize,
# calibrated on a training video) sits beside its float row with nearly its mAP.
# Usage: detect_pipeline_test.sh BUILD_DIR
set -euo pipefail
build=$1
top=$(cd "$(dirname "$0")/../.." && pwd)
py=/usr/bin/python3
"$py" -c 'import torch, onnx, cv2' 2>/dev/null || { echo "FAIL: needs python3-torch python3-onnx python3-opencv"; exit 1; }
work=$(mktemp -d /tmp/tierd-compress-detect-test.XXXXXX)
trap 'rm -rf "$work"' EXIT
BUILD=$build WORK=$work/w OUT=$work/compress CLASSIFY=0 DETECT_DATA="1000-1000:- 1001-1001:b" \
    DETECT_FRAMES=24 DETECT_WIDTHS=0.45 DETECT_MAX_STEPS=2 DETECT_MINUTES=5 \
    DETECT_TEST_SEEDS=1 DETECT_TEST_FRAMES=20 \
    "$top/bench/compress/run.sh" > "$work/run.log" 2>&1 || { tail -40 "$work/run.log"; echo "FAIL: run.sh"; exit 1; }
"$py" "$top/tools/compress/detector_prune.py" prune --parent "$top/models/det-light.onnx" \
    --data "$work/w/detect/data-0" --width 1.0 --out "$work/full.pt" > /dev/null 2>&1 || { echo "FAIL: prune --width 1.0"; exit 1; }
"$py" - "$work" "$top" <<'PY'
import hashlib, json, os, sys
import numpy as np
work, top = sys.argv[1], sys.argv[2]
sys.path.insert(0, os.path.join(top, "tools", "detect"))
fail = []

# width 1.0: the network read from ONNX equals det-light as OpenCV runs it
import cv2, torch
import detector_nets as dn
net = dn.DetLight(json.load(open(os.path.join(work, "full.widths.json"))))
net.load_state_dict(torch.load(os.path.join(work, "full.pt")))
net.eval()
frames = np.load(os.path.join(work, "w", "detect", "data-0", "frames_320x176.npy"))[:4]
x = torch.from_numpy(np.ascontiguousarray((frames.astype(np.float32) / 255).transpose(0, 3, 1, 2)))
cv = cv2.dnn.readNet(os.path.join(top, "models", "det-light.onnx"))
cv.setInput(x.numpy())
hm, box = cv.forward(["heatmap", "box"])
with torch.no_grad():
    thm, tbox = net(x)
dh, db = float(np.abs(hm - thm.numpy()).max()), float(np.abs(box - tbox.numpy()).max())
if dh > 1e-4 or db > 1e-3:
    fail.append(f"det-light read into PyTorch differs from OpenCV's: heatmap {dh}, box {db}")

doc = json.load(open(os.path.join(work, "compress_detect.json")))
rows = doc["rows"]
keys = {"task", "device", "model", "parent", "method", "accuracy", "ms", "energy_j", "bytes", "peak_rss_mb"}
for r in rows:
    if keys - set(r):
        fail.append(f"row {r.get('model')} lacks {sorted(keys - set(r))}")
    if r["task"] != "detection" or not (r["ms"] > 0 and 0 <= r["accuracy"] <= 1 and r["bytes"] > 0
                                        and r["energy_j"] > 0 and r["peak_rss_mb"] > 0):
        fail.append(f"row {r['model']}/{r['device']}: implausible {r}")
    if not r["energy_source"].startswith("estimated:"):
        fail.append(f"row {r['model']}: energy without its source")
got = {(r["device"], r["model"]) for r in rows}
for dev in ("x86-edge", "pi3b-emulated"):
    for m in ("det-light", "det-heavy", "det-light-p45"):
        if (dev, m) not in got:
            fail.append(f"no row for {m} on {dev}")
    if not doc["fronts"][dev] or not doc["targets"][dev]:
        fail.append(f"{dev}: no front or targets")
rec = doc["lineage"].get("det-light-p45")
if rec is None:
    fail.append("no lineage for det-light-p45")
else:
    f = os.path.join(work, "w", "detect", "models", "det-light-p45.onnx")
    if hashlib.sha256(open(f, "rb").read()).hexdigest() != rec["sha256"]:
        fail.append("lineage sha256 differs from the file")
    if rec["parent"] != "det-light.onnx" or rec["settings"]["teacher"] != "det-heavy.onnx" or rec["steps"] != 2 \
            or "seed" not in rec:
        fail.append(f"lineage: {rec}")
    if not rec["export_frames_checked"] or rec["max_heatmap_diff"] > 1e-3:
        fail.append(f"export: OpenCV against PyTorch on {rec['export_frames_checked']} frames, "
                    f"max heatmap diff {rec['max_heatmap_diff']}")
    # 45% of every channel group: about 0.45^2 of det-light's parameters
    if not 0.15 < rec["params"] / rec["params_parent"] < 0.25:
        fail.append(f"pruned params {rec['params']} of {rec['params_parent']}")
# int8 (DETECT_INT8 on by default): each detector quantized at load, its own row, the parent's
# file, calibrated on a training seed; quantization barely moves mAP (outputs correlate > 0.99)
by = {(r["device"], r["model"]): r for r in rows}
calib = doc.get("int8_calibration") or {}
if calib.get("seed", 0) < 1000:
    fail.append(f"int8 calibration not on a training seed: {calib}")
for m in ("det-light", "det-heavy", "det-light-p45"):
    q, f = by.get(("x86-edge", m + "-int8")), by.get(("x86-edge", m))
    if q is None:
        fail.append(f"no int8 row for {m}")
        continue
    if q["method"] != "int8:cv-quantize" or q["parent"] != m or q["precision"] != "int8" or q["bytes"] != f["bytes"]:
        fail.append(f"int8 row of {m}: {q}")
    if abs(q["accuracy"] - f["accuracy"]) > 0.1:
        fail.append(f"{m}: int8 mAP@0.5 {q['accuracy']:.3f} far from fp32 {f['accuracy']:.3f}")
for step in ("detect-teacher", "detect-finetune-det-light-p45", "detect-measure"):
    if step not in doc["step_seconds"]:
        fail.append(f"step {step}: no time recorded")
if not os.path.getsize(os.path.join(work, "compress_detect.png")):
    fail.append("no plot")
for f in fail:
    print("FAIL: " + f)
print("OK" if not fail else f"{len(fail)} failures")
sys.exit(1 if fail else 0)
PY
