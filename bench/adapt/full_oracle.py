#!/usr/bin/python3
"""The whole-model oracle of a tierd-driftgen stream, per segment: the model adapted by
TENT to the segment's first 256 images and then fine-tuned whole (torch,
tools/adapt/finetune.py) with the true labels of the segment's first half, measured
through OpenCV DNN on its second half — the ceiling R is measured against in
bench/adapt/run.sh (next to the device's own, the head-only oracle of tierd-adapt-eval).

  full_oracle.py --stream DIR --model ONNX --json OUT
Writes {"rows": [{"segment", "accuracy_oracle", "accuracy_none", "labels"}, ...]} (one row
per segment, in order; clean segments get one too).
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(TOP, "tools", "adapt"))
import finetune as ft  # noqa: E402
from finetune_offline import opencv_top1  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--stream", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--json", required=True)
    args = ap.parse_args()
    segs = json.load(open(os.path.join(args.stream, "segments.json")))
    images_path = os.path.join(args.stream, "images-idx3-ubyte")
    labels_path = os.path.join(args.stream, "labels-idx1-ubyte")
    images, labels = ft.read_idx(images_path), ft.read_idx(labels_path)
    norm = lambda a: ((a.astype(np.float32) - 73.0) / 90.0)[:, None, :, :]  # noqa: E731
    rows = []
    with tempfile.TemporaryDirectory(prefix="tierd-oracle.") as work:
        for k, seg in enumerate(segs["segments"]):
            first, count = seg["first"], seg["count"]
            half = count // 2
            tent = os.path.join(work, f"{k}-tent.onnx")
            oracle = os.path.join(work, f"{k}-oracle.onnx")
            base = [sys.executable, os.path.join(TOP, "tools", "adapt", "finetune.py"),
                    "--images", images_path]
            subprocess.run(base + ["--model", args.model, "--out", tent, "--method", "tent",
                                   "--range", f"{first}:{min(256, half)}"],
                           check=True, stdout=subprocess.DEVNULL)
            subprocess.run(base + ["--model", tent, "--out", oracle, "--method", "full",
                                   "--labels", labels_path, "--range", f"{first}:{half}"],
                           check=True, stdout=subprocess.DEVNULL)
            ev = slice(first + half, first + count)
            x, y = norm(images[ev]), labels[ev]
            rows.append({"segment": seg["name"], "labels": half,
                         "accuracy_oracle": float((opencv_top1(oracle, x) == y).mean()),
                         "accuracy_none": float((opencv_top1(args.model, x) == y).mean())})
            print(f"{seg['name']}: oracle {rows[-1]['accuracy_oracle']:.3f}", file=sys.stderr)
    with open(args.json, "w") as f:
        json.dump({"model": args.model, "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
