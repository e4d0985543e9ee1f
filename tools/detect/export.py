#!/usr/bin/python3
"""Export a trained detector to ONNX (opset 13) and check that OpenCV's DNN agrees.

  export.py --net det-light --ckpt CKPT.pt --out models/det-light.onnx
            --video DIR/video.avi [--frames 16] [--json OUT.json] [--widths WIDTHS.json]

The recipe is the one OpenCV 4.6 runs (/work/shared/FACTS.md): eval mode, default export
settings, opset 13, dynamic batch axis. torch 1.13 deduplicates equal constant tensors
into Identity nodes, which OpenCV 4.6's importer rejects; they are replaced by copies of
the constant. The check feeds the first FRAMES frames of VIDEO (a test video) through
both torch and cv2.dnn (the same OpenCV 4.6 library the C++ path uses), blob made with
cv2.dnn.blobFromImage(frame, 1/255, (W, H)) as in C++, and fails when any output value
differs by more than 1e-3 (heatmap, a probability) or 1e-2 (box, log-distances).
"""
import argparse
import json
import os
import sys

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import onnx  # noqa: E402
import torch  # noqa: E402

import detector_nets as dn  # noqa: E402


def inline_identities(model):
    """Replace Identity nodes whose input is an initializer by a copy of that initializer."""
    inits = {i.name: i for i in model.graph.initializer}
    keep = []
    for node in model.graph.node:
        if node.op_type == "Identity" and node.input[0] in inits:
            t = onnx.TensorProto()
            t.CopyFrom(inits[node.input[0]])
            t.name = node.output[0]
            model.graph.initializer.append(t)
        else:
            keep.append(node)
    del model.graph.node[:]
    model.graph.node.extend(keep)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--net", required=True, choices=sorted(dn.NETS))
    ap.add_argument("--ckpt", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--video", required=True)
    ap.add_argument("--frames", type=int, default=16)
    ap.add_argument("--json")
    ap.add_argument("--widths", help="a pruned det-light's widths (tools/compress/detector_prune.py)")
    args = ap.parse_args()
    torch.set_num_threads(2)
    if args.widths:
        with open(args.widths) as f:
            net = dn.DetLight(json.load(f))
    else:
        net = dn.NETS[args.net]()
    net.load_state_dict(torch.load(args.ckpt))
    net.eval()
    w, h = net.input_size
    torch.onnx.export(net, torch.zeros(1, 3, h, w), args.out, opset_version=13,
                      input_names=["input"], output_names=["heatmap", "box"],
                      dynamic_axes={"input": {0: "N"}, "heatmap": {0: "N"}, "box": {0: "N"}})
    model = onnx.load(args.out)
    inline_identities(model)
    onnx.checker.check_model(model)
    onnx.save(model, args.out)

    cvnet = cv2.dnn.readNet(args.out)
    cap = cv2.VideoCapture(args.video, cv2.CAP_FFMPEG)
    diff_hm = diff_box = 0.0
    peak = 0.0
    checked = 0
    for _ in range(args.frames):
        ok, frame = cap.read()
        if not ok:
            break
        checked += 1
        blob = cv2.dnn.blobFromImage(frame, 1.0 / 255.0, (w, h))
        cvnet.setInput(blob)
        ohm, obox = cvnet.forward(["heatmap", "box"])
        with torch.no_grad():
            thm, tbox = net(torch.from_numpy(blob))
        diff_hm = max(diff_hm, float(np.abs(ohm - thm.numpy()).max()))
        diff_box = max(diff_box, float(np.abs(obox - tbox.numpy()).max()))
        peak = max(peak, float(thm.max()))
    if checked == 0:
        sys.exit(f"export.py: no frame could be read from {args.video}: nothing checked")
    report = {"net": args.net, "onnx": args.out, "bytes": os.path.getsize(args.out),
              "frames_checked": checked, "max_heatmap_diff": diff_hm,
              "max_box_diff": diff_box, "max_heatmap": peak,
              "params": sum(p.numel() for p in net.parameters()),
              "flops": dn.count_flops(net, w, h), "input_size": [w, h], "stride": net.stride}
    print(json.dumps(report))
    if diff_hm > 1e-3 or diff_box > 1e-2:
        sys.exit("export.py: OpenCV's outputs differ from torch's")
    if args.json:  # only for a checked export (bench/compress/run.sh takes it as done)
        with open(args.json, "w") as f:
            json.dump(report, f)


if __name__ == "__main__":
    main()
