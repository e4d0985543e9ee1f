#!/usr/bin/python3
"""Training data for tierd's video detectors (docs/detectors.md).

Runs tierd-videogen on TRAINING seeds only (--split train: Fashion-MNIST's train-* images
and the train background list; the test seeds 1-99 and the test split are never used
here), decodes every STEP-th frame with OpenCV and stores it resized to each detector's
input size, plus the ground-truth boxes in original-frame pixels.

  make_data.py --videogen build-detect/tierd-videogen --out DIR [--seeds 1000-1059]
               [--frames 200] [--step 3]

Writes DIR/frames_<W>x<H>.npy (uint8, N x H x W x 3, BGR as OpenCV decodes it) for each
size in SIZES, and DIR/boxes.json: {"frames": [{"seed", "frame", "boxes": [[x, y, w, h,
class (0-based), crowd (0/1)], ...]}], "width": 640, "height": 360}. Resizing uses
cv2.resize(INTER_LINEAR), which is what cv::dnn::blobFromImage does in C++, so training
sees the pixels the C++ path will feed the network.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

import cv2
import numpy as np

# (width, height) of each detector's input: det-light and det-heavy (docs/detectors.md).
SIZES = [(320, 176), (640, 352)]


def parse_seeds(text):
    out = []
    for part in text.split(","):
        if "-" in part:
            a, b = part.split("-")
            out.extend(range(int(a), int(b) + 1))
        else:
            out.append(int(part))
    return out


def read_video(path, keep):
    cap = cv2.VideoCapture(path, cv2.CAP_FFMPEG)
    if not cap.isOpened():
        sys.exit(f"make_data.py: cannot open {path}")
    frames = {}
    index = 0
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        if index in keep:
            frames[index] = frame
        index += 1
    return frames


def boxes_by_frame(gt):
    by = {}
    for a in gt["annotations"]:
        x, y, w, h = a["bbox"]
        by.setdefault(a["image_id"], []).append(
            [x, y, w, h, a["category_id"] - 1, int(a["iscrowd"])])
    return by


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--videogen", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--seeds", default="1000-1059")
    ap.add_argument("--frames", type=int, default=200)
    ap.add_argument("--step", type=int, default=3)
    ap.add_argument("--backgrounds", help="tierd-videogen --backgrounds DIR: more training "
                    "backgrounds under the train list's file names (docs/detectors.md)")
    args = ap.parse_args()
    seeds = parse_seeds(args.seeds)
    if any(s < 1000 for s in seeds):
        sys.exit("make_data.py: training seeds start at 1000 (docs/video.md: test seeds 1-99)")
    os.makedirs(args.out, exist_ok=True)
    per_seed = len(range(0, args.frames, args.step))
    n = per_seed * len(seeds)
    arrays = {
        size: np.lib.format.open_memmap(
            os.path.join(args.out, f"frames_{size[0]}x{size[1]}.npy"), mode="w+",
            dtype=np.uint8, shape=(n, size[1], size[0], 3))
        for size in SIZES
    }
    records = []
    row = 0
    for i, seed in enumerate(seeds):
        # Every other seed is denser than the default (4-12 objects instead of 2-8):
        # more positives per frame; the test videos use the defaults.
        extra = ["--min-objects", "4", "--max-objects", "12"] if i % 2 else []
        if args.backgrounds:
            extra += ["--backgrounds", args.backgrounds]
        with tempfile.TemporaryDirectory() as tmp:
            subprocess.run([args.videogen, "--seed", str(seed), "--frames", str(args.frames),
                            "--split", "train", "--out", tmp, "--quiet"] + extra, check=True)
            with open(os.path.join(tmp, "gt.json")) as f:
                gt = json.load(f)
            assert gt["info"]["split"] == "train"
            keep = set(range(0, args.frames, args.step))
            frames = read_video(os.path.join(tmp, "video.avi"), keep)
        by = boxes_by_frame(gt)
        for index in sorted(keep):
            frame = frames[index]
            for size, arr in arrays.items():
                arr[row] = cv2.resize(frame, size, interpolation=cv2.INTER_LINEAR)
            records.append({"seed": seed, "frame": index, "boxes": by.get(index, [])})
            row += 1
        print(f"seed {seed}: {len(keep)} frames, {sum(len(by.get(k, [])) for k in keep)} boxes",
              flush=True)
    for arr in arrays.values():
        arr.flush()
    with open(os.path.join(args.out, "boxes.json"), "w") as f:
        json.dump({"width": 640, "height": 360, "seeds": seeds, "backgrounds": args.backgrounds, "frames_per_seed": args.frames,
                   "step": args.step, "frames": records}, f)
    print(f"{row} frames written to {args.out}")


if __name__ == "__main__":
    main()
