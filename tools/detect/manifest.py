#!/usr/bin/python3
"""Measure the exported detectors through the C++ path and write their [[detector]]
tables into models/manifest.toml (docs/detectors.md).

  manifest.py --build BUILD_DIR --test-dir DIR [--seeds 1,2,3] [--frames 600]
              [--export-json NAME=FILE ...] [--train-json NAME=FILE ...] [--names ...]

For each detector (models/<name>.onnx) and each test seed: generates the test video
(BUILD_DIR/tierd-videogen --seed S --frames F, the test split; kept in DIR/seedS and
reused when its gt.json exists), runs BUILD_DIR/tierd-detect-run with 1 OpenCV thread
(score >= 0.05, NMS 0.5, top 100: COCO's evaluation wants the tail of low scores), scores
it with BUILD_DIR/tierd-eval map, then times the first 200 frames of the first seed
again with 2 threads. mAP figures are the mean over the seeds (each seed is its own COCO
evaluation; the per-seed numbers are kept too). ms_per_frame_* are blobFromImage +
forward + decoding, mean over the frames, on the machine that ran this; the emulated Raspberry Pi
3B+ figure is the 1-thread figure times 28.9, the slowdown scripts/run-local.sh uses
(SLOWDOWN): a multiplication, not a measurement.

The tables go after the line "# ---- [[detector]] tables: tools/detect/manifest.py" (replacing what follows it), so
they survive a rerun of this script; tools/zoo/zoo.py rewrites the whole file and drops
them (rerun this script after it).
"""
import argparse
import hashlib
import json
import os
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MODELS = os.path.join(REPO, "models")
MARKER = "# ---- [[detector]] tables: tools/detect/manifest.py"
COMPRESS_MARKER = "# ---- [[model]] tables: tools/compress/ship.py"
PI3_SLOWDOWN = 28.9

# name -> what the C++ side needs (docs/detectors.md); input is W x H.
DETECTORS = {
    "det-light": {"input": (320, 176), "stride": 8,
                  "description": "end device: 320x176 input, 5 strided 3x3 conv stages, one "
                                 "top-down merge, stride-8 TTFNet-style head"},
    "det-heavy": {"input": (640, 352), "stride": 4,
                  "description": "edge/cloud: 640x352 input, residual backbone to stride 32, "
                                 "FPN, stride-4 TTFNet-style head"},
}


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 16), b""):
            h.update(chunk)
    return h.hexdigest()


def run_json(cmd):
    out = subprocess.run(cmd, check=True, stdout=subprocess.PIPE, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def kv(pairs):
    out = {}
    for p in pairs or []:
        k, v = p.split("=", 1)
        out[k] = v
    return out


def measure(build, name, spec, test_dir, seeds, frames, onnx=None, extra=()):
    """mAP over the test seeds and ms per frame at 1 and 2 threads of models/<name>.onnx,
    or of the file `onnx` (tools/compress's variants); `extra` goes to every
    tierd-detect-run (e.g. --int8 VIDEO)."""
    onnx = onnx or os.path.join(MODELS, f"{name}.onnx")
    size = f"{spec['input'][0]}x{spec['input'][1]}"
    per_seed = []
    ms1 = []
    for seed in seeds:
        d = os.path.join(test_dir, f"seed{seed}")
        if not os.path.exists(os.path.join(d, "gt.json")):
            subprocess.run([os.path.join(build, "tierd-videogen"), "--seed", str(seed),
                            "--frames", str(frames), "--out", d, "--quiet"], check=True)
        results = os.path.join(test_dir, f"{name}-seed{seed}.jsonl")
        run = run_json([os.path.join(build, "tierd-detect-run"), "--model", onnx,
                        "--input", size, "--video", os.path.join(d, "video.avi"),
                        "--out", results, "--threads", "1", "--frames", str(frames), *extra])
        ev = run_json([os.path.join(build, "tierd-eval"), "map", os.path.join(d, "gt.json"),
                       results, "--json"])
        per_seed.append({"seed": seed, "frames": run["frames"], "map50": ev["map50"],
                         "map50_95": ev["map50_95"], "ms_per_frame": run["ms_per_frame"]})
        ms1.append(run["ms_per_frame"])
        print(f"{name} seed {seed}: mAP@0.5 {ev['map50']:.4f} mAP@[.5:.95] "
              f"{ev['map50_95']:.4f} {run['ms_per_frame']:.2f} ms/frame (1 thread)", flush=True)
    d = os.path.join(test_dir, f"seed{seeds[0]}")
    run2 = run_json([os.path.join(build, "tierd-detect-run"), "--model", onnx, "--input", size,
                     "--video", os.path.join(d, "video.avi"),
                     "--out", os.path.join(test_dir, f"{name}-2threads.jsonl"),
                     "--threads", "2", "--frames", "200", *extra])
    n = len(per_seed)
    ms_1 = sum(ms1) / n
    return {
        "map50": sum(p["map50"] for p in per_seed) / n,
        "map50_95": sum(p["map50_95"] for p in per_seed) / n,
        "per_seed": per_seed,
        "ms_1": ms_1,
        "ms_2": run2["ms_per_frame"],
        "ms_pi3": ms_1 * PI3_SLOWDOWN,
    }


def toml_entry(name, spec, m, seeds, frames, export, train):
    onnx = os.path.join(MODELS, f"{name}.onnx")
    w, h = spec["input"]
    lines = [
        "[[detector]]",
        f'name = "{name}"',
        'kind = "detector"',
        f'file = "{name}.onnx"',
        f'sha256 = "{sha256(onnx)}"',
        f"bytes = {os.path.getsize(onnx)}",
        f'description = "{spec["description"]}"',
        f"input_shape = [1, 3, {h}, {w}]",
        'input_name = "input"',
        'channel_order = "bgr"',
        "scale = 0.00392156862745098",
        "mean = 0.0",
        'outputs = ["heatmap", "box"]',
        f"stride = {spec['stride']}",
        # det-heavy's p8 map travels to the end for feature fusion; det-light's own p8 map
        # is the end's side of it (docs/feature-fusion.md).
        'features = "onnx_node!/fuse8/fuse8.2/Relu"',
        "classes = 10",
        f"output_shape = [{h // spec['stride']}, {w // spec['stride']}]",
    ]
    if export:
        lines += [f"params = {export['params']}", f"flops = {export['flops']}",
                  f"max_heatmap_diff = {export['max_heatmap_diff']:.3g}",
                  f"max_box_diff = {export['max_box_diff']:.3g}"]
    lines += [
        f"test_seeds = [{', '.join(str(s) for s in seeds)}]",
        f"test_frames = {frames}",
        f"map50 = {m['map50']:.4f}",
        f"map50_95 = {m['map50_95']:.4f}",
        "map50_per_seed = [" + ", ".join(f"{p['map50']:.4f}" for p in m["per_seed"]) + "]",
        "map50_95_per_seed = [" + ", ".join(f"{p['map50_95']:.4f}" for p in m["per_seed"]) + "]",
        f"ms_per_frame_1thread = {m['ms_1']:.2f}",
        f"ms_per_frame_2threads = {m['ms_2']:.2f}",
        f"ms_per_frame_pi3_emulated = {m['ms_pi3']:.1f}",
    ]
    if train:
        lines += [f"train_seconds = {train['train_seconds']:.0f}",
                  f"train_images_seen = {train['images_seen']}",
                  f"train_frames = {train['frames']}",
                  f"train_seeds = [{min(train['seeds'])}, {max(train['seeds'])}]"]
    return "\n".join(lines) + "\n"


HEADER = f"""{MARKER}
# Video object detectors (docs/detectors.md; tools/detect). Input: a BGR frame, any size,
# fed as cv::dnn::blobFromImage(frame, scale, Size(W, H)) with W x H from input_shape
# (x = pixel * scale; no mean, no channel swap). Outputs "heatmap" [1, classes, H/stride,
# W/stride] (sigmoid scores) and "box" [1, 4, H/stride, W/stride] (log-distances in strides
# from a cell's centre to the left, top, right, bottom edges), decoded by
# plugins/inference-opencv/detection_decoder.cpp. classes = the top-level `classes`
# (class_id = COCO category_id - 1). map50 / map50_95: COCO mAP (tierd-eval) on
# tierd-videogen's test split, the mean over test_seeds of test_frames frames each,
# measured through OpenCV DNN in C++ (tierd-detect-run: score >= 0.05, NMS IoU 0.5, 100 per
# frame). ms_per_frame_*: blobFromImage + forward + decoding on the 640x360 frames, mean,
# on the 2-core machine that trained them (shared, so they vary with its load);
# ms_per_frame_pi3_emulated = 1-thread figure x {PI3_SLOWDOWN} (scripts/run-local.sh's
# SLOWDOWN), a multiplication. max_*_diff: |torch - OpenCV| over 16 test frames.
# features: the layer whose output [1, 64, H/8, W/8] the detector hands out when the host
# asks for its feature map (feature fusion, docs/feature-fusion.md).
"""


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", required=True)
    ap.add_argument("--test-dir", required=True)
    ap.add_argument("--seeds", default="1,2,3")
    ap.add_argument("--frames", type=int, default=600)
    ap.add_argument("--names", nargs="*", default=list(DETECTORS))
    ap.add_argument("--export-json", nargs="*")
    ap.add_argument("--train-json", nargs="*")
    args = ap.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    if any(s >= 1000 for s in seeds):
        sys.exit("manifest.py: test seeds are below 1000 (docs/video.md)")
    exports, trains = kv(args.export_json), kv(args.train_json)
    os.makedirs(args.test_dir, exist_ok=True)
    entries = []
    summary = {}
    for name in args.names:
        spec = DETECTORS[name]
        m = measure(args.build, name, spec, args.test_dir, seeds, args.frames)
        export = json.load(open(exports[name])) if name in exports else None
        train = json.load(open(trains[name])) if name in trains else None
        entries.append(toml_entry(name, spec, m, seeds, args.frames, export, train))
        summary[name] = m
    path = os.path.join(MODELS, "manifest.toml")
    with open(path) as f:
        text = f.read()
    # tools/compress/ship.py's [[model]] tables follow the detectors': kept as they are.
    compressed = ""
    if COMPRESS_MARKER in text:
        compressed = "\n" + text[text.index(COMPRESS_MARKER):]
        text = text[:text.index(COMPRESS_MARKER)]
    if MARKER in text:
        text = text[:text.index(MARKER)]
    text = text.rstrip("\n") + "\n\n" + HEADER + "\n" + "\n".join(entries).rstrip("\n") + "\n" + compressed
    with open(path, "w") as f:
        f.write(text)
    with open(os.path.join(args.test_dir, "summary.json"), "w") as f:
        json.dump(summary, f, indent=1)
    print(json.dumps({k: {x: v[x] for x in ("map50", "map50_95", "ms_1", "ms_2", "ms_pi3")}
                      for k, v in summary.items()}))


if __name__ == "__main__":
    main()
