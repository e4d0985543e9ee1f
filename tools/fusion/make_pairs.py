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
"""
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


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default="build")
    ap.add_argument("--out", required=True)
    ap.add_argument("--seeds", default="1000-1059")
    ap.add_argument("--frames", type=int, default=200)
    ap.add_argument("--key-period", type=int, default=10)
    ap.add_argument("--per-key", type=int, default=4)
    ap.add_argument("--max-gap", type=int, default=15)
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
    for i, seed in enumerate(seeds):
        extra = ["--min-objects", "4", "--max-objects", "12"] if i % 2 else []
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
        small = [ff.small_gray(f) for f in frames]
        for k in keys:
            hm, box, p8 = ff.run_detector(heavy, frames[k], ff.HEAVY_IN)
            q, lo, scale = ff.quantise_u8(p8)
            sent = ff.dequantise_u8(q, lo, scale)
            mask = ff.region_mask(ff.decode(hm, box, *ff.HEAVY_IN, score=ff.REGION_SCORE))
            gaps = rng.choice(args.max_gap, size=args.per_key, replace=False)
            for g in sorted(int(x) for x in gaps):
                t = min(k + g, len(frames) - 1)
                _, _, lp8 = ff.run_detector(light, frames[t], ff.LIGHT_IN)
                warped = ff.warp_key(sent, mask, ff.flow_back(small[t], small[k]))
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
                   "per_key": args.per_key, "max_gap": args.max_gap, "count": len(pairs),
                   "pairs": pairs}, f)


if __name__ == "__main__":
    main()
