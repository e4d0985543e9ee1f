#!/usr/bin/env bash
# bench/compress/run.sh end to end on tiny settings (issue 19; the full run is outside CI):
# prune, distill, supernet, samples, latency, NSGA-II search, fine-tuning, measuring and
# the report, on a few hundred training images (the detector step has its own test,
# detect_pipeline_test.sh). Checks that the report holds a row per
# (device, model, precision) with the issue's keys, that every new model has its lineage
# (parent, method, sha256 that matches its file), that the search validated its models on
# held-out subnets and picked architectures that were then trained and measured, and that
# the step times were recorded.
# Usage: pipeline_test.sh BUILD_DIR
set -euo pipefail
build=$1
top=$(cd "$(dirname "$0")/../.." && pwd)
py=/usr/bin/python3
"$py" -c 'import torch, onnx, cv2' 2>/dev/null || { echo "FAIL: needs python3-torch python3-onnx python3-opencv"; exit 1; }
work=$(mktemp -d /tmp/tierd-compress-test.XXXXXX)
trap 'rm -rf "$work"' EXIT
export TIERD_COMPRESS_VAL_IMAGES=500
BUILD=$build WORK=$work/w OUT=$work/compress TRAIN_IMAGES=384 PRUNE_WIDTHS=0.5 PRUNE_EPOCHS=1 \
    DISTILL_STUDENTS=cnn-xs SUPERNET_EPOCHS=1 SAMPLES=20 LATENCY_SAMPLES=12 PICK=2 NAS_EPOCHS=1 \
    POP=16 GENS=10 TEST_IMAGES=300 TIME_IMAGES=20 DETECT=0 \
    "$top/bench/compress/run.sh" > "$work/run.log" 2>&1 || { tail -40 "$work/run.log"; echo "FAIL: run.sh"; exit 1; }
"$py" - "$work" <<'PY'
import hashlib, json, os, sys
work = sys.argv[1]
doc = json.load(open(os.path.join(work, "compress.json")))
fail = []
rows = doc["rows"]
keys = {"task", "device", "model", "parent", "method", "accuracy", "ms", "energy_j", "bytes", "peak_rss_mb"}
for r in rows:
    missing = keys - set(r)
    if missing:
        fail.append(f"row {r.get('model')} lacks {sorted(missing)}")
    if not (r["ms"] > 0 and 0 <= r["accuracy"] <= 1 and r["bytes"] > 0 and r["energy_j"] > 0):
        fail.append(f"row {r['model']}/{r['device']}: implausible {r}")
    if not r["energy_source"].startswith("estimated:"):
        fail.append(f"row {r['model']}: energy without its source")
devices = {r["device"] for r in rows}
if devices != {"x86-edge", "pi3b-emulated"}:
    fail.append(f"devices {devices}")
models = {r["model"] for r in rows}
for need in ("resnet-20", "cnn-xs", "resnet-20-p50", "cnn-xs-kd", "resnet-20-p50-int8"):
    if need not in models:
        fail.append(f"no row for {need}")
searched = [m for m in models if m.startswith("nas-")]
if not searched:
    fail.append("no searched model was measured")
for name, rec in doc["lineage"].items():
    f = os.path.join(work, "w", "models", rec["file"])
    if hashlib.sha256(open(f, "rb").read()).hexdigest() != rec["sha256"]:
        fail.append(f"{name}: lineage sha256 differs from its file")
    for k in ("parent", "method", "settings", "seed"):
        if k not in rec:
            fail.append(f"{name}: lineage lacks {k}")
search = json.load(open(os.path.join(work, "w", "nas", "search.json")))
for dev, res in search["devices"].items():
    if not res["latency_model"]["holdout"]["n"]:
        fail.append(f"{dev}: the latency model was not validated on held-out subnets")
    if not res["pareto"] or not res["picked"]:
        fail.append(f"{dev}: empty Pareto set or picks")
if not search["accuracy_model"]["holdout"]["n"]:
    fail.append("the accuracy predictor was not validated")
for step in ("supernet", "sample", "latency", "search", "finetune", "measure"):
    if step not in doc["step_seconds"]:
        fail.append(f"step {step}: no time recorded")
for dev in ("x86-edge", "pi3b-emulated"):
    if not doc["fronts"][dev] or not doc["budgets"][dev]:
        fail.append(f"{dev}: no front or budgets")
if not os.path.getsize(os.path.join(work, "compress.png")):
    fail.append("no plot")
for f in fail:
    print("FAIL: " + f)
print("OK" if not fail else f"{len(fail)} failures")
sys.exit(1 if fail else 0)
PY
