#!/usr/bin/env python3
"""Writes a synthetic detection benchmark of the size tierd's video benchmark produces, to
time `tierd-eval map` on (docs/eval.md, "Speed"): OUT/gt.json (COCO ground truth) and
OUT/results.jsonl (tierd result documents), deterministic per seed.

Each frame has --objects objects of 10 categories (sizes 16..128 px, a few crowd regions)
and --detections detections: noisy copies of the objects, duplicates, wrong classes and
boxes on background, with random scores.

usage: make_synthetic_case.py OUT [--frames 600] [--objects 8] [--detections 50] [--seed 1]
"""
import argparse
import json
import os
import random


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out")
    parser.add_argument("--frames", type=int, default=600)
    parser.add_argument("--objects", type=int, default=8)
    parser.add_argument("--detections", type=int, default=50)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rnd = random.Random(args.seed)
    width, height, categories = 640, 360, 10

    def random_box():
        w, h = rnd.uniform(16, 128), rnd.uniform(16, 128)
        return [round(rnd.uniform(0, width - w), 2), round(rnd.uniform(0, height - h), 2),
                round(w, 2), round(h, 2)]

    images, annotations = [], []
    with open(os.path.join(args.out, "results.jsonl"), "w") as results:
        for frame in range(1, args.frames + 1):
            images.append({"id": frame, "width": width, "height": height})
            objects = []
            for _ in range(args.objects):
                box, category = random_box(), rnd.randrange(1, categories + 1)
                crowd = 1 if rnd.random() < 0.02 else 0
                annotations.append({"id": len(annotations) + 1, "image_id": frame,
                                    "category_id": category, "bbox": box,
                                    "area": round(box[2] * box[3], 2), "iscrowd": crowd})
                objects.append((box, category))
            detections = []
            for _ in range(args.detections):
                if rnd.random() < 0.6:
                    (x, y, w, h), category = rnd.choice(objects)
                    jitter = lambda v, size: round(v + rnd.gauss(0, 0.08 * size), 2)
                    box = [jitter(x, w), jitter(y, h), max(1.0, jitter(w, w)), max(1.0, jitter(h, h))]
                    if rnd.random() < 0.1:
                        category = rnd.randrange(1, categories + 1)
                else:
                    box, category = random_box(), rnd.randrange(1, categories + 1)
                detections.append({"bbox": box, "category_id": category,
                                   "score": round(rnd.random(), 4)})
            results.write(json.dumps({"frame": frame, "device": "end-1",
                                      "detections": detections}) + "\n")
    with open(os.path.join(args.out, "gt.json"), "w") as gt:
        json.dump({"images": images, "annotations": annotations,
                   "categories": [{"id": c, "name": "class%d" % c}
                                  for c in range(1, categories + 1)]}, gt)


if __name__ == "__main__":
    main()
