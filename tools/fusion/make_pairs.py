#!/usr/bin/python3
"""Training pairs for the feature-fusion head (docs/feature-fusion.md).

  make_pairs.py --build build --out DIR [--seeds 1000-1059] [--frames 200] [--key-period 10]
                [--per-key 4] [--max-gap 15]

Runs tierd-videogen on TRAINING seeds only (--split train; the test seeds 1-99 are never
read here). In each video, every KEY_PERIOD-th frame is a key frame: det-heavy runs on it
(OpenCV DNN) and its p8 map is quantised to 8 bits as the upstream would send it; its boxes
give the regions mask. For PER_KEY frames t = k + g (g drawn from 0..MAX_GAP-1), det-light
runs on frame t and the key map is warped to t by the flow t -> k. Stored per pair (float16
memmaps): DIR/light.npy [N,64,22,40], DIR/key.npy [N,65,44,80] (the warped map, whole, and
the warped regions mask as the last channel), DIR/pairs.json (seed, key, frame, gap, the
frame's boxes [x, y, w, h, class 0-based, crowd]).

--extra-backgrounds: the videos use 16 more opencv-doc images instead of the 8 training
backgrounds (the same 16 as det-light's and det-heavy's phase 2, docs/detectors.md; none is
a test background), 8 per video in turn, given to tierd-videogen under the training list's
file names. --photometric: per key frame a random gain (0.75-1.25) and offset (+-20 levels)
on the key frame and its later frames alike (lighting the backgrounds do not show).
"""
import random
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import cv2
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(TOP, "tools", "detect"))
import feature_fusion as ff  # noqa: E402
from make_data import boxes_by_frame, parse_seeds  # noqa: E402


TRAIN_NAMES = ["building.jpg", "aero1.jpg", "graf1.png", "fruits.jpg", "board.jpg",
               "rubberwhale1.png", "baboon.jpg", "starry_night.jpg"]
EXTRA = ["basketball1.png", "basketball2.png", "orange.jpg", "apple.jpg", "Blender_Suzanne1.jpg",
         "Blender_Suzanne2.jpg", "ela_original.jpg", "chicky_512.png", "box_in_scene.png",
         "graf3.png", "rubberwhale2.png", "licenseplate_motion.jpg", "smarties.png", "cards.png",
         "HappyFish.jpg", "ellipses.jpg"]
DOC_DATA = "/usr/share/doc/opencv-doc/examples/data"


def extra_background_dirs(out):
    """Two folders of 8 links each: the extra images under the training list's names."""
    dirs = []
    for half in (0, 1):
        d = os.path.join(out, f"backgrounds-{half}")
        os.makedirs(d, exist_ok=True)
        for name, image in zip(TRAIN_NAMES, EXTRA[8 * half:8 * half + 8]):
            link = os.path.join(d, name)
            if not os.path.lexists(link):
                os.symlink(os.path.join(DOC_DATA, image), link)
        dirs.append(d)
    return dirs


def photometric(frame, gain, offset):
    return np.clip(frame.astype(np.float32) * gain + offset, 0, 255).astype(np.uint8)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default="build")
    ap.add_argument("--out", required=True)
    ap.add_argument("--seeds", default="1000-1059")
    ap.add_argument("--frames", type=int, default=200)
    ap.add_argument("--key-period", type=int, default=10)
    ap.add_argument("--per-key", type=int, default=4)
    ap.add_argument("--max-gap", type=int, default=15)
    ap.add_argument("--extra-backgrounds", action="store_true")
    ap.add_argument("--photometric", action="store_true")
    args = ap.parse_args()
    seeds = parse_seeds(args.seeds)
    if any(s < 1000 for s in seeds):
        sys.exit("make_pairs.py: training seeds start at 1000 (docs/video.md: test seeds 1-99)")
    cv2.setNumThreads(2)
    light = cv2.dnn.readNetFromONNX(os.path.join(TOP, "models", "det-light.onnx"))
    heavy = cv2.dnn.readNetFromONNX(os.path.join(TOP, "models", "det-heavy.onnx"))
    rng = np.random.default_rng(20261207)
    keys = list(range(0, args.frames, args.key_period))
    n = len(seeds) * len(keys) * args.per_key
    os.makedirs(args.out, exist_ok=True)
    light_arr = np.lib.format.open_memmap(os.path.join(args.out, "light.npy"), "w+", np.float16,
                                          (n, ff.LIGHT_C, ff.LIGHT_H, ff.LIGHT_W))
    key_arr = np.lib.format.open_memmap(os.path.join(args.out, "key.npy"), "w+", np.float16,
                                        (n, ff.KEY_C + 1, ff.KEY_H, ff.KEY_W))
    pairs = []
    started = time.monotonic()
    backgrounds = extra_background_dirs(args.out) if args.extra_backgrounds else None
    shade = random.Random(20261207)
    for i, seed in enumerate(seeds):
        extra = ["--min-objects", "4", "--max-objects", "12"] if i % 2 else []
        if backgrounds:
            extra += ["--backgrounds", backgrounds[(i // 2) % 2]]
        with tempfile.TemporaryDirectory(prefix="tierd-fusion-pairs.") as tmp:
            subprocess.run([os.path.join(args.build, "tierd-videogen"), "--seed", str(seed),
                            "--frames", str(args.frames), "--split", "train", "--out", tmp,
                            "--quiet"] + extra, check=True)
            gt = json.load(open(os.path.join(tmp, "gt.json")))
            assert gt["info"]["split"] == "train"
            cap = cv2.VideoCapture(os.path.join(tmp, "video.avi"))
            frames = []
            while True:
                ok, f = cap.read()
                if not ok:
                    break
                frames.append(f)
        by = boxes_by_frame(gt)
        for k in keys:
            gain, offset = ((shade.uniform(0.75, 1.25), shade.uniform(-20, 20))
                            if args.photometric else (1.0, 0.0))
            shaded = {}

            def frame(t):
                if gain == 1.0 and offset == 0.0:
                    return frames[t]
                if t not in shaded:
                    shaded[t] = photometric(frames[t], gain, offset)
                return shaded[t]

            hm, box, p8 = ff.run_detector(heavy, frame(k), ff.HEAVY_IN)
            q, lo, scale = ff.quantise_u8(p8)
            sent = ff.dequantise_u8(q, lo, scale)
            mask = ff.region_mask(ff.decode(hm, box, *ff.HEAVY_IN, score=ff.REGION_SCORE))
            gaps = rng.choice(args.max_gap, size=args.per_key, replace=False)
            for g in sorted(int(x) for x in gaps):
                t = min(k + g, len(frames) - 1)
                _, _, lp8 = ff.run_detector(light, frame(t), ff.LIGHT_IN)
                warped = ff.warp_key(sent, mask, ff.flow_back(ff.small_gray(frame(t)),
                                                              ff.small_gray(frame(k))))
                row = len(pairs)
                light_arr[row] = lp8
                key_arr[row] = warped
                pairs.append({"seed": seed, "key": k, "frame": t, "gap": t - k,
                              "boxes": by.get(t, [])})
        print(f"seed {seed}: {len(pairs)} pairs, {time.monotonic() - started:.0f} s", flush=True)
    light_arr.flush()
    key_arr.flush()
    with open(os.path.join(args.out, "pairs.json"), "w") as f:
        json.dump({"seeds": seeds, "frames": args.frames, "key_period": args.key_period,
                   "extra_backgrounds": args.extra_backgrounds, "photometric": args.photometric,
                   "per_key": args.per_key, "max_gap": args.max_gap, "count": len(pairs),
                   "pairs": pairs}, f)


if __name__ == "__main__":
    main()
