#!/usr/bin/python3
"""Feature-level fusion against box-level fusion, offline, side by side (issue 17, section 1).

  bench/fusion/feature_fusion.py [--build build] [--seeds 1,2,3] [--frames 600]
                                 [--key-period 10] [--delay 3] [--head models/det-fusion.onnx]
                                 [--work DIR]

Per test video (tierd-videogen, test split) and frame n, with key frames 0, K, 2K, ... whose
answer arrives D frames later (the newest arrived key k = ((n - D) // K) * K, none before
frame D: light-only then):
  light-only      det-light on every frame
  heavy-every     det-heavy on every frame (the upper reference; 100% of frames sent up)
  box-fusion      fusion-track through fusion-replay: det-heavy's boxes of key k moved by
                  sparse flow and merged with det-light's (box-level fusion)
  feature-head    det-heavy's p8 map of key k, 8-bit per channel (whole map), warped by
                  Farneback flow n -> k and fused with det-light's p8 by the fusion head;
                  its boxes alone
  feature-fusion  what the fusion-feature plugin runs: feature-head's boxes, then key k's
                  det-heavy boxes tracked and merged with them (fusion-track's box-level
                  fusion, through fusion-replay, in place of det-light's boxes)
  feature-regions the same with only the cells inside det-heavy's boxes sent
All through OpenCV DNN (the detectors' decoding mirrored in Python: feature_fusion.decode),
mAP@0.5 and mAP@[.5:.95] by tierd-eval. Bytes down per key frame: each compression after
zlib level 6. The end's cost per frame is timed here (1 OpenCV thread): det-light, flow,
warp, head. Writes bench/results/feature_fusion.md and .json.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import zlib

import cv2
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(TOP, "bench"))
sys.path.insert(0, os.path.join(TOP, "tools", "fusion"))
import benchkit  # noqa: E402
import feature_fusion as ff  # noqa: E402

ROWS = ["light-only", "heavy-every", "box-fusion", "feature-head", "feature-fusion",
        "feature-regions"]
# Rows made by fusion-replay (box-level merge) over another row's boxes: row -> its "light".
MERGED = {"box-fusion": "light-only", "feature-fusion": "head-whole",
          "feature-regions": "head-regions"}


def write_jsonl(path, per_frame):
    with open(path, "w") as f:
        for i, dets in enumerate(per_frame):
            f.write(json.dumps({"frame": i, "detections": dets}) + "\n")


def evaluate(build, gt, path):
    r = subprocess.run([os.path.join(build, "tierd-eval"), "map", gt, path, "--json"],
                       check=True, capture_output=True, text=True)
    doc = json.loads(r.stdout)
    return doc["map50"], doc["map50_95"]


def fuse(head, light_p8, key):
    head.setInput(light_p8[None].astype(np.float32), "light_p8")
    head.setInput(key[None].astype(np.float32), "key_p8")
    hm, box = head.forward(["heatmap", "box"])
    return ff.decode(hm[0], box[0], *ff.LIGHT_IN)


def run_seed(args, build, seed, work, light, heavy, head, timing):
    vdir = os.path.join(work, f"v{seed}")
    if not os.path.exists(os.path.join(vdir, "gt.json")):
        benchkit.videogen(build, seed, args.frames, vdir)
    frames = benchkit.read_frames(os.path.join(vdir, "video.avi"))
    gt = os.path.join(vdir, "gt.json")
    K, D = args.key_period, args.delay
    small = [ff.small_gray(f) for f in frames]
    out = {r: [] for r in ROWS + ["head-whole", "head-regions"]}
    key_sent, bytes_whole, bytes_regions, light_p8s = {}, [], [], []
    for n, f in enumerate(frames):
        t0 = time.perf_counter()
        hm, box, lp8 = ff.run_detector(light, f, ff.LIGHT_IN)
        light_dets = ff.decode(hm, box, *ff.LIGHT_IN)
        timing["light"].append(1000 * (time.perf_counter() - t0))
        light_p8s.append(lp8)
        out["light-only"].append(light_dets)
        hm, box, hp8 = ff.run_detector(heavy, f, ff.HEAVY_IN)
        heavy_dets = ff.decode(hm, box, *ff.HEAVY_IN)
        out["heavy-every"].append(heavy_dets)
        if K > 0 and n % K == 0:
            q, lo, scale = ff.quantise_u8(hp8)
            mask = ff.region_mask(heavy_dets)
            key_sent[n] = (ff.dequantise_u8(q, lo, scale), mask)
            side = lo.tobytes() + scale.tobytes()
            bytes_whole.append(len(zlib.compress(q.tobytes() + side, 6)))
            cells = mask.astype(bool)
            bits = np.packbits(cells).tobytes()
            bytes_regions.append(len(zlib.compress(q[:, cells].tobytes() + bits + side, 6)))
        k = ((n - D) // K) * K if K > 0 and n >= D else -1
        if k < 0:
            out["head-whole"].append(light_dets)
            out["head-regions"].append(light_dets)
            continue
        sent, mask = key_sent[k]
        t0 = time.perf_counter()
        flow = ff.flow_back(small[n], small[k])
        t1 = time.perf_counter()
        warped = ff.warp_key(sent, np.ones_like(mask), flow)
        t2 = time.perf_counter()
        out["head-whole"].append(fuse(head, lp8, warped))
        t3 = time.perf_counter()
        timing["flow"].append(1000 * (t1 - t0))
        timing["warp"].append(1000 * (t2 - t1))
        timing["head"].append(1000 * (t3 - t2))
        warped = ff.warp_key(sent * mask[None], mask, flow)
        out["head-regions"].append(fuse(head, lp8, warped))
    out["feature-head"] = out["head-whole"]
    # The box-level merges: the same detections through fusion-replay and fusion-track.
    heavy_keys = [d if (K > 0 and i % K == 0) else [] for i, d in enumerate(out["heavy-every"])]
    paths = {r: os.path.join(vdir, f"{r}.jsonl") for r in out}
    for r in out:
        if r not in MERGED:
            write_jsonl(paths[r], out[r])
    write_jsonl(os.path.join(vdir, "heavy-keys.jsonl"), heavy_keys)
    for r, base in MERGED.items():
        subprocess.run([os.path.join(build, "fusion-replay"), "--video",
                        os.path.join(vdir, "video.avi"), "--light", paths[base], "--heavy",
                        os.path.join(vdir, "heavy-keys.jsonl"), "--key-period", str(K),
                        "--delay", str(D), "--out", paths[r]], check=True, capture_output=True)
    res = {"seed": seed, "frames": len(frames), "key_frames": len(key_sent),
           "bytes_whole": bytes_whole, "bytes_regions": bytes_regions}
    for r in ROWS:
        res[r] = evaluate(build, gt, paths[r])
    print(json.dumps({k: v for k, v in res.items() if not k.startswith("bytes")}),
          file=sys.stderr, flush=True)
    return res


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default="build")
    ap.add_argument("--seeds", default="1,2,3")
    ap.add_argument("--frames", type=int, default=600)
    ap.add_argument("--key-period", type=int, default=10)
    ap.add_argument("--delay", type=int, default=3)
    ap.add_argument("--head", default=os.path.join(TOP, "models", "det-fusion.onnx"))
    ap.add_argument("--work", help="keep the videos and results here (default: a temporary "
                    "directory)")
    ap.add_argument("--out", default=os.path.join(TOP, "bench", "results", "feature_fusion"))
    args = ap.parse_args()
    build = os.path.join(TOP, args.build)
    cv2.setNumThreads(1)
    light = cv2.dnn.readNetFromONNX(os.path.join(TOP, "models", "det-light.onnx"))
    heavy = cv2.dnn.readNetFromONNX(os.path.join(TOP, "models", "det-heavy.onnx"))
    head = cv2.dnn.readNetFromONNX(args.head)
    started = time.monotonic()
    timing = {"light": [], "flow": [], "warp": [], "head": []}
    with tempfile.TemporaryDirectory(prefix="tierd-feature-fusion.") as tmp:
        work = args.work or tmp
        os.makedirs(work, exist_ok=True)
        per_seed = [run_seed(args, build, int(s), work, light, heavy, head, timing)
                    for s in args.seeds.split(",")]
    mean = {r: [float(np.mean([s[r][i] for s in per_seed])) for i in (0, 1)] for r in ROWS}
    ms = {k: float(np.mean(v)) for k, v in timing.items()}
    bw = float(np.mean([b for s in per_seed for b in s["bytes_whole"]]))
    br = float(np.mean([b for s in per_seed for b in s["bytes_regions"]]))
    seconds = int(time.monotonic() - started)
    head_info = {}
    info_path = args.head[:-5] + ".json"
    if os.path.exists(info_path):
        head_info = json.load(open(info_path))
    doc = {**benchkit.run_stamp(TOP), "seconds": seconds, "settings": vars(args),
           "head": {k: head_info.get(k) for k in ("pairs", "epochs", "train_seconds", "flops")},
           "mean": {r: {"map50": m[0], "map": m[1]} for r, m in mean.items()},
           "per_seed": [{"seed": s["seed"], **{r: {"map50": s[r][0], "map": s[r][1]}
                                              for r in ROWS}} for s in per_seed],
           "bytes_down_per_key": {"whole_u8_zlib": bw, "regions_u8_zlib": br},
           "end_ms_per_frame_1_thread": ms}
    with open(args.out + ".json", "w") as f:
        json.dump(doc, f, indent=1)
    K = args.key_period
    heavy50 = mean["heavy-every"][0]
    light50 = mean["light-only"][0]
    md = ["# Feature-level fusion against box-level fusion, offline\n",
          "Generated by `bench/fusion/feature_fusion.py`; do not edit.\n",
          f"- Machine: {doc['machine']}; {doc['generated']}; commit `{doc['commit']}`; {seconds} s.",
          f"- Test videos `tierd-videogen --seed {{{args.seeds}}} --frames {args.frames}`; key "
          f"frame every {K} frames ({100 / K:.0f}% sent up), its answer arriving {args.delay} "
          "frames later. Detectors and fusion head through OpenCV DNN; mAP by `tierd-eval` "
          "(mean over the seeds).",
          f"- Fusion head `{os.path.relpath(args.head, TOP)}`: trained on "
          f"{head_info.get('pairs', '?')} pairs of training seeds, "
          f"{head_info.get('epochs', 0) or 0:.1f} epochs, "
          f"{(head_info.get('flops') or 0) / 1e9:.3f} GFLOPs.\n",
          "| row | mAP@0.5 | mAP@[.5:.95] | of heavy-every (mAP@0.5) | vs light-only (points) |"
          " bytes down per key frame |",
          "|---|---|---|---|---|---|"]
    down = {"feature-fusion": f"{bw:,.0f} (8-bit map, zlib)",
            "feature-head": f"{bw:,.0f} (8-bit map, zlib)",
            "feature-regions": f"{br:,.0f} (8-bit regions + mask, zlib)",
            "box-fusion": "boxes only", "heavy-every": "boxes only", "light-only": "0"}
    for r in ROWS:
        m50, m = mean[r]
        md.append(f"| {r} | {m50:.3f} | {m:.3f} | {100 * m50 / heavy50:.1f}% | "
                  f"{100 * (m50 - light50):+.1f} | {down[r]} |")
    md += ["", "Per seed (mAP@0.5): " + "; ".join(
        f"seed {s['seed']}: " + ", ".join(f"{r} {s[r][0]:.3f}" for r in ROWS) for s in per_seed),
        "", "The end's cost per frame here (1 OpenCV thread, mean): " + ", ".join(
            f"{k} {v:.1f} ms" for k, v in ms.items()) + "."]
    with open(args.out + ".md", "w") as f:
        f.write("\n".join(md) + "\n")


if __name__ == "__main__":
    main()
