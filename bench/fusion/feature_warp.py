#!/usr/bin/python3
"""How well a key frame's features stand in for a later frame's, copied or warped by
optical flow (issue 17, section 1: "the end warps it to the current frame by motion" —
Deep Feature Flow's premise, measured on tierd's video before a fusion head is built).

  bench/fusion/feature_warp.py [--build build] [--seeds 1,2] [--frames 200] [--gaps 1,2,5,10,20]

For frames t (every 20th) and t + g: det-heavy's p8 map (64 x 44 x 80, stride 8; OpenCV
DNN) of frame t + g is the target; the stand-ins are p8 of frame t (copied: what box-level
fusion assumes of boxes) and p8 of frame t warped by the dense flow from frame t + g back
to frame t (Farneback, OpenCV, on the gray frames at 320 x 176, resampled to the map's
grid: what the end can compute itself). Reported per gap: relative L2 error of each
stand-in, and the share of the error the warp removes; also the flow's cost per frame on
this machine. Writes bench/results/feature_warp.md and .json.
"""
import argparse
import datetime
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
sys.path.insert(0, os.path.join(TOP, "bench", "adapt"))
import run_info  # noqa: E402

P8 = "onnx_node!/fuse8/fuse8.2/Relu"


def p8(net, frame):
    net.setInput(cv2.dnn.blobFromImage(frame, 1 / 255.0, (640, 352)))
    return net.forward(P8)[0].astype(np.float32)


def warp(features, flow_small):
    """features [C,H,W] of the key frame, sampled where the flow (current -> key, at 320x176,
    in those pixels) says each cell of the current frame came from."""
    c, h, w = features.shape
    # The flow resampled to the map's grid and scaled to its cells (320 px / 80 cells = 4).
    fx = cv2.resize(flow_small[..., 0], (w, h), interpolation=cv2.INTER_AREA) * (w / 320.0)
    fy = cv2.resize(flow_small[..., 1], (w, h), interpolation=cv2.INTER_AREA) * (h / 176.0)
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    map_x, map_y = gx + fx, gy + fy
    return np.stack([cv2.remap(features[k], map_x, map_y, cv2.INTER_LINEAR,
                               borderMode=cv2.BORDER_REPLICATE) for k in range(c)])


def rel(a, b):
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-12))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default="build")
    ap.add_argument("--seeds", default="1,2")
    ap.add_argument("--frames", type=int, default=200)
    ap.add_argument("--gaps", default="1,2,5,10,20")
    ap.add_argument("--out", default=os.path.join(TOP, "bench", "results", "feature_warp"))
    args = ap.parse_args()
    gaps = [int(g) for g in args.gaps.split(",")]
    net = cv2.dnn.readNetFromONNX(os.path.join(TOP, "models", "det-heavy.onnx"))
    started = time.monotonic()
    errors = {g: {"copy": [], "warp": []} for g in gaps}
    flow_ms = []
    for seed in (int(s) for s in args.seeds.split(",")):
        with tempfile.TemporaryDirectory(prefix="tierd-feature-warp.") as work:
            subprocess.run([os.path.join(TOP, args.build, "tierd-videogen"), "--seed", str(seed),
                            "--frames", str(args.frames), "--out", work, "-q"], check=True)
            cap = cv2.VideoCapture(os.path.join(work, "video.avi"))
            frames = []
            while True:
                ok, f = cap.read()
                if not ok:
                    break
                frames.append(f)
        small = [cv2.cvtColor(cv2.resize(f, (320, 176)), cv2.COLOR_BGR2GRAY) for f in frames]
        cache = {}

        def feat(i):
            if i not in cache:
                cache[i] = p8(net, frames[i])
            return cache[i]

        for t in range(0, len(frames) - max(gaps), 20):
            key = feat(t)
            for g in gaps:
                target = feat(t + g)
                t0 = time.perf_counter()
                flow = cv2.calcOpticalFlowFarneback(small[t + g], small[t], None, 0.5, 3, 15, 3,
                                                    5, 1.2, 0)
                flow_ms.append(1000 * (time.perf_counter() - t0))
                errors[g]["copy"].append(rel(key, target))
                errors[g]["warp"].append(rel(warp(key, flow), target))
    rows = []
    for g in gaps:
        c, w = float(np.mean(errors[g]["copy"])), float(np.mean(errors[g]["warp"]))
        rows.append({"gap_frames": g, "pairs": len(errors[g]["copy"]), "copy_error": c,
                     "warp_error": w, "error_removed": (c - w) / c if c > 0 else 0.0})
    seconds = int(time.monotonic() - started)
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    doc = {"generated": now, "machine": run_info.machine(), "commit": run_info.commit(TOP),
           "seconds": seconds, "seeds": args.seeds, "frames": args.frames,
           "flow_ms_mean": float(np.mean(flow_ms)), "rows": rows}
    with open(args.out + ".json", "w") as f:
        json.dump(doc, f, indent=1)
    md = ["# Key-frame features for later frames: copied or warped by flow\n",
          "Generated by `bench/fusion/feature_warp.py`; do not edit.\n",
          f"- Machine: {doc['machine']}; {now}; commit `{doc['commit']}`; {seconds} s.",
          f"- Test videos `tierd-videogen --seed {{{args.seeds}}} --frames {args.frames}` (25 fps). "
          "Target: det-heavy's p8 map (64x44x80) of frame t+g; stand-ins: p8 of frame t as "
          "is, and warped by Farneback flow from frame t+g to t (gray, 320x176). Error: "
          "relative L2 against the target, mean over pairs.",
          f"- Flow: {np.mean(flow_ms):.1f} ms per frame pair on this machine (one thread of "
          "OpenCV's Farneback).\n",
          "| gap (frames) | pairs | copied: error | warped: error | error removed by the warp |",
          "|---|---|---|---|---|"]
    for r in rows:
        md.append(f"| {r['gap_frames']} | {r['pairs']} | {r['copy_error']:.3f} | "
                  f"{r['warp_error']:.3f} | {100 * r['error_removed']:.0f}% |")
    with open(args.out + ".md", "w") as f:
        f.write("\n".join(md) + "\n")


if __name__ == "__main__":
    main()
