#!/usr/bin/python3
"""Top-1 accuracy of zoo classifiers on tierd-driftgen's shifted Fashion-MNIST, per shift
and severity (docs/drift.md, "Accuracy under shift").

Every cell is one tierd-driftgen run with the plan SHIFT@SEVERITY:COUNT and the same
seed, so every cell holds the same COUNT source images (the seeded order depends only on
the seed and the input), and the rows differ by the shift alone. The models run through
OpenCV DNN with the manifest's normalisation (x = (pixel - mean) * scale). Before any
cell, each model's accuracy on the whole unshifted test split is checked against the
manifest's `top1` (which tools/zoo/zoo_eval measured through OpenCV DNN in C++): a wrong
normalisation or model file stops the run there.

    nice -n 19 /usr/bin/python3 tools/drift/accuracy_under_shift.py \
        --driftgen build/tierd-driftgen [--models cnn-xs,resnet-20] [--json out.json]

Prints a Markdown table (rows: shifts; columns: model x severity) on stdout.
Needs /usr/bin/python3 with cv2 and numpy (Debian: python3-opencv, python3-numpy).
"""
import argparse
import gzip
import json
import os
import subprocess
import sys
import tempfile
import tomllib

import cv2
import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEFAULT_SHIFTS = ["noise", "blur", "contrast", "brightness", "jpeg", "rotation", "scale",
                  "occlusion", "blur+contrast", "noise+jpeg", "rotation+scale"]
TEST_IMAGES = "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz"
TEST_LABELS = "/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz"


def read_idx(path):
    """An IDX file of unsigned bytes (gzipped or raw) as a numpy array of its shape."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    if data[0:3] != b"\0\0\x08":
        sys.exit(f"{path}: not an IDX file of unsigned bytes")
    dims = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(data[3])]
    start = 4 + 4 * len(dims)
    return np.frombuffer(data, np.uint8, offset=start).reshape(dims)


class Model:
    def __init__(self, manifest, name):
        entry = next((m for m in manifest["model"] if m["name"] == name), None)
        if entry is None:
            sys.exit(f"models/manifest.toml: no model '{name}'")
        self.name = name
        self.top1 = entry["top1"]
        self.net = cv2.dnn.readNetFromONNX(os.path.join(REPO, "models", entry["file"]))
        self.scale = manifest["scale"]
        self.mean = manifest["mean"]

    def accuracy(self, images, labels, batch=100):
        correct = 0
        for at in range(0, len(images), batch):
            part = [img for img in images[at:at + batch]]
            blob = cv2.dnn.blobFromImages(part, self.scale, (28, 28), (self.mean,))
            self.net.setInput(blob)
            predicted = self.net.forward().argmax(axis=1)
            correct += int((predicted == labels[at:at + batch]).sum())
        return correct / len(images)


def run_driftgen(driftgen, plan, seed, out):
    done = subprocess.run([driftgen, "--plan", plan, "--seed", str(seed), "--out", out,
                           "--quiet"], capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"{driftgen} --plan {plan}: exit {done.returncode}: {done.stderr.strip()}")
    images = read_idx(os.path.join(out, "images-idx3-ubyte"))
    labels = read_idx(os.path.join(out, "labels-idx1-ubyte"))
    return images, labels


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--driftgen", default=os.path.join(REPO, "build", "tierd-driftgen"))
    parser.add_argument("--models", default="cnn-xs,resnet-20")
    parser.add_argument("--shifts", default=",".join(DEFAULT_SHIFTS),
                        help="comma-separated; a combination is written with '+'")
    parser.add_argument("--severities", default="1,3,5")
    parser.add_argument("--count", type=int, default=1000, help="images per cell")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--threads", type=int, default=1, help="OpenCV threads")
    parser.add_argument("--json", help="also write the cells here")
    args = parser.parse_args()
    cv2.setNumThreads(args.threads)

    with open(os.path.join(REPO, "models", "manifest.toml"), "rb") as f:
        manifest = tomllib.load(f)
    models = [Model(manifest, name) for name in args.models.split(",")]

    # The check that the numbers below mean something: the manifest's top-1 on all 10,000
    # unshifted test images, to its 4 decimals.
    images, labels = read_idx(TEST_IMAGES), read_idx(TEST_LABELS)
    clean_check = {}
    for m in models:
        acc = m.accuracy(images, labels)
        clean_check[m.name] = {"measured": acc, "manifest": m.top1}
        print(f"{m.name}: top-1 {acc:.4f} on the 10,000 test images (manifest {m.top1:.4f})",
              file=sys.stderr)
        if abs(acc - m.top1) > 0.00005:
            sys.exit(f"{m.name}: {acc:.4f} is not the manifest's {m.top1:.4f}: stopping")

    severities = [int(s) for s in args.severities.split(",")]
    cells = []
    with tempfile.TemporaryDirectory(prefix="drift-accuracy-") as tmp:
        rows = [("clean", [None])] + [(s, severities) for s in args.shifts.split(",")]
        for shift, levels in rows:
            for severity in levels:
                plan = (shift if severity is None else f"{shift}@{severity}") + f":{args.count}"
                images, labels = run_driftgen(args.driftgen, plan, args.seed,
                                              os.path.join(tmp, "out"))
                for m in models:
                    acc = m.accuracy(images, labels)
                    cells.append({"shift": shift, "severity": severity or 0, "model": m.name,
                                  "images": len(images), "top1": acc})
                    print(f"{plan} {m.name}: {acc:.3f}", file=sys.stderr)

    names = [m.name for m in models]
    head = "| shift | " + " | ".join(f"{n} @{s}" for n in names for s in severities) + " |"
    print(head)
    print("|" + "---|" * (1 + len(names) * len(severities)))
    lookup = {(c["shift"], c["severity"], c["model"]): c["top1"] for c in cells}
    for shift, levels in rows:
        if levels == [None]:
            values = [lookup[(shift, 0, n)] for n in names for _ in severities]
        else:
            values = [lookup[(shift, s, n)] for n in names for s in severities]
        print(f"| {shift} | " + " | ".join(f"{100 * v:.1f}" for v in values) + " |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"seed": args.seed, "count": args.count, "clean_check": clean_check,
                       "cells": cells}, f, indent=1)
            f.write("\n")


if __name__ == "__main__":
    main()
