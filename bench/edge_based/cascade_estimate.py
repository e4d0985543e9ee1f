#!/usr/bin/python3
"""Offline estimate of the Edge-based bench's confidence cascade for other model pairs.

From the per-image outcomes the models ship with (models/outcomes/, models/compressed/
outcomes/: label, prediction, correctness and p_max on the 10,000 test images), for each
light model and threshold t: the light answer where its p_max >= t, else the heavy one's
("heavy"), or else the more confident of the two ("merge"); the share offloaded; the pair's
oracle (right where either is right). Time is estimated, not measured: LIGHT_END_MS (the
bench's light-end row, cnn-xs-kd) plus the light model's extra emulated forward time over
cnn-xs-kd (--light-ms, from bench/results/compress.md's pi3b-emulated column) plus the
offloaded share x ROUND_TRIP_MS (the bench's wifi upload round trip). With cnn-xs-kd at
t = 0.95 it reproduces the bench's measured top-1 and offloaded share exactly; its time is
about 1 ms below the measured one (the estimate leaves out queueing around uploads).

  bench/edge_based/cascade_estimate.py --light cnn-xs-kd=0.209 --light lenet-s-kd=1.233
"""
import argparse
import csv
import gzip
import os

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# bench/results/edge_based.md (wifi, 2026-12-07 19:19 UTC): light-end time, heavy-end time, the
# edge-based row's upload round trip.
LIGHT_END_MS, HEAVY_END_MS, ROUND_TRIP_MS = 1.49, 64.47, 13.26
BASE_LIGHT_MS = 0.209  # cnn-xs-kd's emulated forward (compress.md, pi3b-emulated)


def outcomes(name):
    for d in ("outcomes", os.path.join("compressed", "outcomes")):
        p = os.path.join(TOP, "models", d, f"{name}-test.csv.gz")
        if os.path.exists(p):
            with gzip.open(p, "rt") as f:
                return list(csv.DictReader(f))
    raise SystemExit(f"no test outcomes for {name} under models/")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--heavy", default="resnet-20")
    ap.add_argument("--light", action="append", required=True,
                    help="NAME=MS: a light model and its emulated forward ms on the end")
    ap.add_argument("--thresholds", default="0.8,0.9,0.95,0.97,0.99")
    args = ap.parse_args()
    heavy = outcomes(args.heavy)
    print(f"heavy {args.heavy}: top-1 {sum(r['correct'] == '1' for r in heavy) / len(heavy):.2%}; "
          f"times estimated against heavy-end's {HEAVY_END_MS} ms")
    for item in args.light:
        name, ms = item.split("=", 1)
        light = outcomes(name)
        if len(light) != len(heavy) or any(a["label"] != b["label"] for a, b in zip(light, heavy)):
            raise SystemExit(f"{name} and {args.heavy}: outcomes are not over the same images")
        n = len(light)
        oracle = sum(a["correct"] == "1" or b["correct"] == "1" for a, b in zip(light, heavy)) / n
        for t in (float(x) for x in args.thresholds.split(",")):
            up = [float(a["p_max"]) < t for a in light]
            take_heavy = sum((b if u else a)["correct"] == "1" for a, b, u in zip(light, heavy, up)) / n
            merge = sum(((a if float(a["p_max"]) > float(b["p_max"]) else b) if u else a)["correct"] == "1"
                        for a, b, u in zip(light, heavy, up)) / n
            share = sum(up) / n
            est = LIGHT_END_MS + (float(ms) - BASE_LIGHT_MS) + share * ROUND_TRIP_MS
            print(f"{name:22s} t={t:.2f}: offloaded {share:6.1%}  top-1 {take_heavy:.2%} "
                  f"({take_heavy / oracle:.2%} of the oracle {oracle:.2%}); merge {merge:.2%}; "
                  f"time ~{est:.2f} ms ({est / HEAVY_END_MS:.1%} of heavy-end)")


if __name__ == "__main__":
    main()
