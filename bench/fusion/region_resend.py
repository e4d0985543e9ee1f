#!/usr/bin/python3
"""Region re-send (DDS-style), offline: what the bytes and the accuracy would be (issue 17,
section 2: "the end sends a low-quality frame; the upstream tier answers what it is sure
of and asks for the uncertain regions at high quality; the end sends only those").

  bench/fusion/region_resend.py [--build build] [--seeds 1,2,3] [--frames 300] [--every 3]
                                [--low-scale 0.75] [--low-quality 50] [--sure 0.5] [--unsure 0.25]

Per frame (every EVERY-th of test videos, generated lossless so that only the encodings
measured here lose anything), det-heavy (through tierd-detect-run: the agent's decoder):
  whole     the frame as JPEG at quality 75 (what the end sends today): the reference
  low       the frame at LOW-SCALE of its size, JPEG quality LOW-QUALITY, upscaled
  re-send   low, then: its boxes scoring >= SURE are kept; boxes scoring in [UNSURE, SURE)
            are asked for again: those regions (25% margin) of the frame as JPEG at quality
            75, pasted into the low frame, det-heavy run again; its boxes inside the regions
            replace low's there
Bytes are the JPEG payloads the end sends; accuracy is mAP@0.5 (tierd-eval) over all the
frames. The issue's target: re-send <= 50% of whole's bytes, mAP@0.5 within 1 point.
Writes bench/results/region_resend.md and .json.
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
sys.path.insert(0, os.path.join(TOP, "bench"))
import benchkit  # noqa: E402


def jpeg(img, quality):
    data = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, quality])[1]
    return cv2.imdecode(data, cv2.IMREAD_COLOR), len(data)


def detect(build, video, out):
    subprocess.run([os.path.join(build, "tierd-detect-run"), "--model",
                    os.path.join(TOP, "models", "det-heavy.onnx"), "--input", "640x352",
                    "--video", video, "--out", out, "--threads", "2", "--score", "0.05"],
                   check=True, capture_output=True)
    dets = {}
    for line in open(out):
        r = json.loads(line)
        dets[r["frame"]] = r.get("detections", [])
    return dets


def merge_rects(rects):
    """Overlapping rectangles merged into their bounding rectangle, until none overlap
    (one JPEG per region: fewer, larger crops cost fewer headers and no pixel twice)."""
    rects = list(rects)
    merged = True
    while merged:
        merged = False
        for i in range(len(rects)):
            for j in range(i + 1, len(rects)):
                a, b = rects[i], rects[j]
                if a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]:
                    rects[i] = (min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3]))
                    del rects[j]
                    merged = True
                    break
            if merged:
                break
    return rects


def inside(det, region):
    x, y, w, h = det["bbox"]
    cx, cy = x + w / 2, y + h / 2
    rx1, ry1, rx2, ry2 = region
    return rx1 <= cx < rx2 and ry1 <= cy < ry2


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default="build")
    ap.add_argument("--seeds", default="1,2,3")
    ap.add_argument("--frames", type=int, default=300)
    ap.add_argument("--every", type=int, default=3)
    ap.add_argument("--low-scale", type=float, default=0.75)
    ap.add_argument("--low-quality", type=int, default=50)
    ap.add_argument("--sure", type=float, default=0.5)
    ap.add_argument("--unsure", type=float, default=0.25)
    ap.add_argument("--out", default=os.path.join(TOP, "bench", "results", "region_resend"))
    args = ap.parse_args()
    build = os.path.join(TOP, args.build)
    started = time.monotonic()
    per_seed = []
    with tempfile.TemporaryDirectory(prefix="tierd-region-resend.") as work:
        for seed in (int(s) for s in args.seeds.split(",")):
            vdir = os.path.join(work, f"v{seed}")
            benchkit.videogen(build, seed, args.frames, vdir, "--codec", "ffv1")
            frames = benchkit.read_frames(os.path.join(vdir, "video.avi"), args.every)
            gt = json.load(open(os.path.join(vdir, "gt.json")))
            picked = set(range(0, args.frames, args.every))
            index = {old: new for new, old in enumerate(sorted(picked))}
            gt["images"] = [dict(im, id=index[im["id"]], frame_index=index[im["id"]])
                            for im in gt["images"] if im["id"] in picked]
            gt["annotations"] = [dict(a, image_id=index[a["image_id"]])
                                 for a in gt["annotations"] if a["image_id"] in picked]
            gt_path = os.path.join(vdir, "gt_sub.json")
            json.dump(gt, open(gt_path, "w"))
            whole, low, whole_bytes, low_bytes = [], [], [], []
            for f in frames:
                d, n = jpeg(f, 75)
                whole.append(d)
                whole_bytes.append(n)
                small = cv2.resize(f, None, fx=args.low_scale, fy=args.low_scale,
                                   interpolation=cv2.INTER_AREA)
                d, n = jpeg(small, args.low_quality)
                low.append(cv2.resize(d, (640, 360), interpolation=cv2.INTER_LINEAR))
                low_bytes.append(n)
            benchkit.write_video(os.path.join(vdir, "whole.avi"), whole, "FFV1")
            benchkit.write_video(os.path.join(vdir, "low.avi"), low, "FFV1")
            detect(build, os.path.join(vdir, "whole.avi"), os.path.join(vdir, "whole.jsonl"))
            low_dets = detect(build, os.path.join(vdir, "low.avi"), os.path.join(vdir, "low.jsonl"))
            # Second round: the regions the upstream is unsure of, at quality 75.
            composite, regions_all, region_bytes = [], [], []
            for i, f in enumerate(frames):
                img = low[i].copy()
                asked = []
                for det in low_dets.get(i, []):
                    if args.unsure <= det["score"] < args.sure:
                        x, y, w, h = det["bbox"]
                        mx, my = 0.25 * w, 0.25 * h
                        x1, y1 = max(0, int(x - mx)), max(0, int(y - my))
                        x2, y2 = min(640, int(np.ceil(x + w + mx))), min(360, int(np.ceil(y + h + my)))
                        if x2 > x1 and y2 > y1:
                            asked.append((x1, y1, x2, y2))
                regions, nbytes = merge_rects(asked), 0
                for x1, y1, x2, y2 in regions:
                    d, n = jpeg(f[y1:y2, x1:x2], 75)
                    img[y1:y2, x1:x2] = d
                    nbytes += n
                composite.append(img)
                regions_all.append(regions)
                region_bytes.append(nbytes)
            benchkit.write_video(os.path.join(vdir, "composite.avi"), composite, "FFV1")
            comp_dets = detect(build, os.path.join(vdir, "composite.avi"),
                               os.path.join(vdir, "composite.jsonl"))
            with open(os.path.join(vdir, "resend.jsonl"), "w") as out:
                for i in range(len(frames)):
                    regions = regions_all[i]
                    keep = [d for d in low_dets.get(i, [])
                            if not any(inside(d, r) for r in regions)]
                    keep += [d for d in comp_dets.get(i, [])
                             if any(inside(d, r) for r in regions)]
                    out.write(json.dumps({"frame": i, "detections": keep}) + "\n")

            def m(name):
                r = subprocess.run([os.path.join(build, "tierd-eval"), "map", gt_path,
                                    os.path.join(vdir, name + ".jsonl"), "--json"],
                                   check=True, capture_output=True, text=True)
                return json.loads(r.stdout)["map50"]

            per_seed.append({"seed": seed, "frames": len(frames),
                             "whole_bytes": int(np.sum(whole_bytes)),
                             "low_bytes": int(np.sum(low_bytes)),
                             "region_bytes": int(np.sum(region_bytes)),
                             "frames_with_resend": int(sum(1 for r in regions_all if r)),
                             "regions": int(sum(len(r) for r in regions_all)),
                             "map50_whole": m("whole"), "map50_low": m("low"),
                             "map50_resend": m("resend")})
            print(per_seed[-1], file=sys.stderr)
    tot = {k: sum(s[k] for s in per_seed) for k in
           ("frames", "whole_bytes", "low_bytes", "region_bytes", "frames_with_resend", "regions")}
    mean = {k: float(np.mean([s[k] for s in per_seed])) for k in
            ("map50_whole", "map50_low", "map50_resend")}
    resend_bytes = tot["low_bytes"] + tot["region_bytes"]
    seconds = int(time.monotonic() - started)
    doc = {**benchkit.run_stamp(TOP),
           "seconds": seconds, "settings": vars(args), "per_seed": per_seed, "totals": tot,
           "mean_map50": mean, "resend_bytes_fraction": resend_bytes / tot["whole_bytes"],
           "low_bytes_fraction": tot["low_bytes"] / tot["whole_bytes"]}
    with open(args.out + ".json", "w") as f:
        json.dump(doc, f, indent=1)
    pct = lambda v: f"{100 * v:.1f}"  # noqa: E731
    md = ["# Region re-send (DDS-style), offline\n",
          "Generated by `bench/fusion/region_resend.py`; do not edit.\n",
          f"- Machine: {doc['machine']}; {doc['generated']}; commit `{doc['commit']}`; {seconds} s.",
          f"- Test videos `tierd-videogen --seed {{{args.seeds}}} --frames {args.frames} --codec "
          f"ffv1`, every {args.every}th frame ({tot['frames']} frames); det-heavy through "
          "`tierd-detect-run`; mAP@0.5 by `tierd-eval` (mean over the seeds).",
          f"- *whole*: JPEG quality 75 of the 640x360 frame. *low*: {args.low_scale:g}x the size, "
          f"quality {args.low_quality}. *re-send*: low, then the regions of low's boxes scoring "
          f"in [{args.unsure}, {args.sure}) (25% margin) as JPEG quality 75, run again, their "
          "boxes replacing low's there.\n",
          "| scheme | bytes sent | of whole's | mAP@0.5 | vs whole (points) |",
          "|---|---|---|---|---|",
          f"| whole | {tot['whole_bytes']:,} | 100% | {pct(mean['map50_whole'])} | 0.0 |",
          f"| low | {tot['low_bytes']:,} | {pct(doc['low_bytes_fraction'])}% | "
          f"{pct(mean['map50_low'])} | {100 * (mean['map50_low'] - mean['map50_whole']):+.1f} |",
          f"| re-send | {resend_bytes:,} | {pct(doc['resend_bytes_fraction'])}% | "
          f"{pct(mean['map50_resend'])} | {100 * (mean['map50_resend'] - mean['map50_whole']):+.1f} |",
          "",
          f"Second round on {tot['frames_with_resend']} of {tot['frames']} frames, "
          f"{tot['regions']} regions, {tot['region_bytes']:,} bytes. Per seed: "
          + "; ".join(f"{s['seed']}: {pct(s['map50_whole'])} / {pct(s['map50_low'])} / "
                      f"{pct(s['map50_resend'])}" for s in per_seed) + " (whole / low / re-send)."]
    with open(args.out + ".md", "w") as f:
        f.write("\n".join(md) + "\n")


if __name__ == "__main__":
    main()
