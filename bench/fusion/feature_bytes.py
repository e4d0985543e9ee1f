#!/usr/bin/python3
"""What a key frame's features cost on the wire, per compression (issue 17, section 1:
"the upstream tier returns its feature map for a key frame, compressed (f16/i8, only
regions with objects, or top-k channels — measure the bytes of each)").

  bench/fusion/feature_bytes.py [--build build] [--seed 1] [--frames 300] [--every 10]

det-heavy (models/det-heavy.onnx) runs through OpenCV DNN on every EVERY-th frame of a test
video (tierd-videogen, test split) and two of its feature maps are read out: p8 (after
fuse8, 64 x 44 x 80, stride 8 — the stride of det-light's own features) and p4 (the
head's input, 32 x 88 x 160, stride 4). Per map and compression: bytes (mean per key frame,
also after zlib level 6, as a sender would deflate), and the error it leaves (relative L2,
||x - x'|| / ||x||). Compressions:
  f32        the map as computed
  f16        half floats
  i8         per-channel affine quantisation to 8 bits (scale and offset per channel)
  regions    i8, only the cells inside det-heavy's own boxes (score >= 0.3, one cell of
             margin) plus a bit mask of which cells; zero elsewhere (the error is also
             given where it was sent)
  top-k      i8, the k channels of most energy (k = 8, 16) plus their indices
The key frame itself as JPEG (quality 75, what the end sends up) is the reference.
Writes bench/results/feature_bytes.md and .json.
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

LAYERS = {"p8": "onnx_node!/fuse8/fuse8.2/Relu", "p4": "onnx_node!/Add_2"}


def quantise_i8(x):
    """Per-channel affine 8-bit, as the agent sends maps (tools/fusion/feature_fusion.py):
    returns the dequantised map and the bytes (values + a float32 scale and offset per
    channel)."""
    q, lo, scale = ff.quantise_u8(x)
    return ff.dequantise_u8(q, lo, scale), q, 8 * x.shape[0]


def rel_error(x, y):
    return float(np.linalg.norm(x - y) / max(np.linalg.norm(x), 1e-12))


def box_mask(dets, stride, shape, frame_w, frame_h, in_w, in_h):
    """Cells of a stride-`stride` map inside the boxes (frame pixels), one cell margin."""
    mask = np.zeros(shape, bool)
    sx, sy = in_w / frame_w, in_h / frame_h
    for x, y, w, h in dets:
        x1 = int(x * sx // stride) - 1
        y1 = int(y * sy // stride) - 1
        x2 = int(np.ceil((x + w) * sx / stride)) + 1
        y2 = int(np.ceil((y + h) * sy / stride)) + 1
        mask[max(y1, 0):y2, max(x1, 0):x2] = True
    return mask


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default="build")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--frames", type=int, default=300)
    ap.add_argument("--every", type=int, default=10)
    ap.add_argument("--out", default=os.path.join(TOP, "bench", "results", "feature_bytes"))
    args = ap.parse_args()
    build = os.path.join(TOP, args.build)
    heavy = os.path.join(TOP, "models", "det-heavy.onnx")
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="tierd-feature-bytes.") as work:
        benchkit.videogen(build, args.seed, args.frames, work)
        frames = benchkit.read_frames(os.path.join(work, "video.avi"), args.every)
        # det-heavy's boxes for the same key frames (the agent's decoder).
        keys = os.path.join(work, "keys.avi")
        benchkit.write_video(keys, frames)
        subprocess.run([os.path.join(build, "tierd-detect-run"), "--model", heavy, "--input",
                        "640x352", "--video", keys, "--out", os.path.join(work, "keys.jsonl"),
                        "--score", "0.3", "--threads", "2"], check=True)
        boxes = [[] for _ in frames]
        for line in open(os.path.join(work, "keys.jsonl")):
            r = json.loads(line)
            boxes[r["frame"]] = [d["bbox"] for d in r.get("detections", [])]
    net = cv2.dnn.readNetFromONNX(heavy)
    acc = {}  # (map, method) -> lists

    def add(layer, method, raw_bytes, payload, err, covered=1.0, sent_err=None):
        a = acc.setdefault((layer, method), {"bytes": [], "zlib": [], "error": [],
                                             "covered": [], "sent_error": []})
        a["bytes"].append(raw_bytes)
        a["zlib"].append(len(zlib.compress(payload, 6)))
        a["error"].append(err)
        a["covered"].append(covered)
        a["sent_error"].append(err if sent_err is None else sent_err)

    jpeg = []
    for f, dets in zip(frames, boxes):
        jpeg.append(len(cv2.imencode(".jpg", f, [cv2.IMWRITE_JPEG_QUALITY, 75])[1]))
        net.setInput(cv2.dnn.blobFromImage(f, 1 / 255.0, (640, 352)))
        outs = net.forward(list(LAYERS.values()))
        for (layer, _), fm in zip(LAYERS.items(), outs):
            x = fm[0].astype(np.float32)
            c, h, wd = x.shape
            stride = 352 // h
            add(layer, "f32", x.nbytes, x.tobytes(), 0.0)
            x16 = x.astype(np.float16)
            add(layer, "f16", x16.nbytes, x16.tobytes(), rel_error(x, x16.astype(np.float32)))
            deq, q, extra = quantise_i8(x)
            add(layer, "i8", q.nbytes + extra, q.tobytes(), rel_error(x, deq))
            mask = box_mask(dets, stride, (h, wd), 640, 360, 640, 352)
            kept = q[:, mask]
            regions = np.where(mask[None], deq, 0.0)
            bits = np.packbits(mask)
            add(layer, "regions (i8)", kept.nbytes + bits.nbytes + extra,
                bits.tobytes() + kept.tobytes(), rel_error(x, regions), float(mask.mean()),
                rel_error(x[:, mask], deq[:, mask]) if mask.any() else 0.0)
            energy = (x.reshape(c, -1) ** 2).sum(1)
            for topk in (8, 16):
                top = np.argsort(-energy)[:topk]
                partial = np.zeros_like(x)
                partial[top] = deq[top]
                add(layer, f"top-{topk} channels (i8)", q[top].nbytes + 8 * topk + topk,
                    top.astype(np.uint8).tobytes() + q[top].tobytes(), rel_error(x, partial),
                    topk / c, rel_error(x[top], deq[top]))
    seconds = int(time.monotonic() - started)
    rows = []
    for (layer, method), a in acc.items():
        rows.append({"map": layer, "method": method, "key_frames": len(frames),
                     "bytes": float(np.mean(a["bytes"])), "bytes_zlib": float(np.mean(a["zlib"])),
                     "relative_l2_error": float(np.mean(a["error"])),
                     "fraction_sent": float(np.mean(a["covered"])),
                     "relative_l2_error_where_sent": float(np.mean(a["sent_error"])),
                     "vs_jpeg": float(np.mean(a["zlib"]) / np.mean(jpeg))})
    doc = {**benchkit.run_stamp(TOP),
           "seconds": seconds, "seed": args.seed, "frames": args.frames, "every": args.every,
           "jpeg_q75_bytes": float(np.mean(jpeg)), "rows": rows}
    with open(args.out + ".json", "w") as f:
        json.dump(doc, f, indent=1)
    md = ["# Key-frame features on the wire: bytes per compression\n",
          "Generated by `bench/fusion/feature_bytes.py`; do not edit.\n",
          f"- Machine: {doc['machine']}; {doc['generated']}; commit `{doc['commit']}`; {seconds} s.",
          f"- det-heavy (OpenCV DNN) on {len(frames)} key frames (every {args.every}th of "
          f"`tierd-videogen --seed {args.seed} --frames {args.frames}`, test split). p8: "
          "after fuse8, 64x44x80 (stride 8, det-light's stride); p4: the head's input, "
          "32x88x160. Means per key frame. *zlib*: deflated at level 6. *error*: relative "
          "L2 of the map rebuilt from what is sent. *vs JPEG*: zlib bytes over the key "
          f"frame's own JPEG (quality 75, mean {np.mean(jpeg):,.0f} bytes).\n",
          "| map | compression | bytes | zlib bytes | vs JPEG | share sent | error, whole map | error where sent |",
          "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        md.append(f"| {r['map']} | {r['method']} | {r['bytes']:,.0f} | {r['bytes_zlib']:,.0f} | "
                  f"{r['vs_jpeg']:.2f}x | {100 * r['fraction_sent']:.1f}% | "
                  f"{r['relative_l2_error']:.4f} | {r['relative_l2_error_where_sent']:.4f} |")
    md.append("\n*share sent*: of the map's cells (regions) or channels (top-k). The error "
              "outside the regions is the point of sending regions only: the end keeps its "
              "own features there.")
    with open(args.out + ".md", "w") as f:
        f.write("\n".join(md) + "\n")


if __name__ == "__main__":
    main()
