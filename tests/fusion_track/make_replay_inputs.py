#!/usr/bin/env python3
"""Detector results derived from a tierd-videogen ground truth, to try fusion-replay without
trained detectors (docs/fusion-track.md):

  heavy.jsonl  every annotated box of every frame, score 0.95: an ideal upstream detector;
  light.jsonl  a weak end detector: each box kept with probability --keep (per frame), its
               centre and size jittered by up to --jitter of its size, score 0.4-0.8, plus
               --false-per-frame random boxes of score 0.1-0.4.

  make_replay_inputs.py GT.json OUTDIR [--seed 1] [--keep 0.5] [--jitter 0.1]
"""
import argparse
import json
import os
import random


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("gt")
    ap.add_argument("outdir")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--keep", type=float, default=0.5)
    ap.add_argument("--jitter", type=float, default=0.1)
    ap.add_argument("--false-per-frame", type=float, default=0.3)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    with open(args.gt) as f:
        gt = json.load(f)
    width, height = gt["info"]["width"], gt["info"]["height"]
    per_frame = {img["id"]: [] for img in gt["images"]}
    for a in gt["annotations"]:
        per_frame[a["image_id"]].append(a)
    os.makedirs(args.outdir, exist_ok=True)
    with open(os.path.join(args.outdir, "heavy.jsonl"), "w") as heavy, \
            open(os.path.join(args.outdir, "light.jsonl"), "w") as light:
        for frame in sorted(per_frame):
            exact, weak = [], []
            for a in per_frame[frame]:
                x, y, w, h = a["bbox"]
                exact.append({"bbox": [x, y, w, h], "category_id": a["category_id"], "score": 0.95})
                if rng.random() >= args.keep:
                    continue
                j = args.jitter
                cx = x + w / 2 + rng.uniform(-j, j) * w
                cy = y + h / 2 + rng.uniform(-j, j) * h
                w2 = w * (1 + rng.uniform(-j, j))
                h2 = h * (1 + rng.uniform(-j, j))
                weak.append({"bbox": [cx - w2 / 2, cy - h2 / 2, w2, h2],
                             "category_id": a["category_id"], "score": rng.uniform(0.4, 0.8)})
            n_false = int(args.false_per_frame) + (rng.random() < args.false_per_frame % 1)
            for _ in range(n_false):
                s = rng.uniform(16, 80)
                weak.append({"bbox": [rng.uniform(0, width - s), rng.uniform(0, height - s), s, s],
                             "category_id": rng.randint(1, 10), "score": rng.uniform(0.1, 0.4)})
            heavy.write(json.dumps({"frame": frame, "detections": exact}) + "\n")
            light.write(json.dumps({"frame": frame, "detections": weak}) + "\n")


if __name__ == "__main__":
    main()
