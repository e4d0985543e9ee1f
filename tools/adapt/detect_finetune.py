#!/usr/bin/python3
"""Fine-tune the light video detector on the boxes an upstream tier gave for key frames.

  detect_finetune.py --model models/det-light.onnx --out OUT.onnx --data DIR
                     [--replay DIR] [--steps 300] [--recalibrate] [--no-train]

The detection side of docs/adaptation.md ("On the edge"): the cloud's heavy detector
answered the key frames the end sent up; those boxes are the labels. DIR is in
tools/detect/make_data.py's format — frames_<W>x<H>.npy (uint8 BGR, resized to the
detector's input) and boxes.json ({"frames": [{"boxes": [[x, y, w, h, class, crowd],
...]}]}, in 640x360 frame pixels) — so the same files serve true and teacher boxes.

The model's ONNX file is turned back into a torch module (finetune.py's converter), and:
  --recalibrate  first re-estimates the BatchNorm statistics folded into its convolutions
                 on DIR's frames (no labels; finetune.py's TENT normalisation with no
                 entropy steps), the output convolutions left as they are;
  training       (unless --no-train) every weight, with tools/detect/train.py's loss
                 (focal loss on the class heatmap, GIoU on the boxes) on DIR's frames,
                 mixed half and half with --replay's (true boxes of training seeds, so
                 the clean scenes are not forgotten), horizontal flips, Adam.
The result is exported and checked through OpenCV DNN against torch (both outputs).
Prints one JSON line: steps, seconds, bytes, the largest OpenCV difference.
"""
import argparse
import json
import os
import sys
import time

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402
import torch  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "detect"))
import finetune as ft  # noqa: E402
import detector_nets as dn  # noqa: E402


def load_data(directory, in_w, in_h):
    frames = np.load(os.path.join(directory, f"frames_{in_w}x{in_h}.npy"))
    with open(os.path.join(directory, "boxes.json")) as f:
        boxes = [r["boxes"] for r in json.load(f)["frames"]]
    if len(boxes) != len(frames):
        raise ValueError(f"{directory}: {len(frames)} frames, {len(boxes)} box lists")
    return frames, boxes


def to_input(frames, flips=None):
    x = frames.astype(np.float32) / 255.0  # N,H,W,3 BGR, as blobFromImage(1/255) feeds it
    if flips is not None:
        x[flips] = x[flips, :, ::-1]
    return torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))


def output_convs(net):
    """Names of the convolution outputs that are not followed by a BatchNorm in the
    trained net: those feeding a Sigmoid or a graph output (the heads' last 1x1 convs)."""
    consumers = {}
    for node in net.nodes:
        for i in node.input:
            consumers.setdefault(i, []).append(node.op_type)
    return {n.output[0] for n in net.conv_nodes()
            if n.output[0] in net.output_names or "Sigmoid" in consumers.get(n.output[0], [])}


def recalibrate(net, x_target, x_source):
    """BatchNorm statistics re-estimation, folded (finetune.py's tent() with no steps)."""
    skip = output_convs(net)
    stats = ft.source_statistics(net, x_source)
    net.norm_keys = {k: v for k, v in net.norm_keys.items() if k not in skip}
    net.norms = torch.nn.ModuleDict({v: ft.BatchStatNorm(*stats[k])
                                     for k, v in net.norm_keys.items()})
    with torch.no_grad():
        net(x_target)
    for m in net.norms.values():
        m.frozen = True
    ft.fold_norms(net)


def head_params(net):
    """The weights of the convolutions after the last Resize (the detection head: its
    two branches of conv + 1x1 conv; the fused features before them stay)."""
    last_resize = max(i for i, n in enumerate(net.nodes) if n.op_type == "Resize")
    convs = [n for n in net.nodes[last_resize:] if n.op_type == "Conv"]
    names = [i for n in convs for i in n.input[1:] if i]
    # The first conv after the Resize fuses the pyramid (fuse8): not the head.
    return [net.param(i) for i in names[2:]]


def train(net, data, replay, steps, batch, lr, seed, stride, part="all"):
    frames, boxes = data
    rng = np.random.default_rng(seed)
    for p in net.params.values():
        p.requires_grad_(False)
    params = list(net.params.values()) if part == "all" else head_params(net)
    for p in params:
        p.requires_grad_(True)
    opt = torch.optim.Adam(params, lr=lr)
    in_h, in_w = frames.shape[1:3]
    net.train()
    for _ in range(steps):
        half = batch // 2 if replay is not None else batch
        pick = rng.integers(0, len(frames), half)
        xs, bs = [frames[pick]], [boxes[i] for i in pick]
        if replay is not None:
            rpick = rng.integers(0, len(replay[0]), batch - half)
            xs.append(replay[0][rpick])
            bs += [replay[1][i] for i in rpick]
        flips = rng.random(batch) < 0.5
        x = to_input(np.concatenate(xs), flips)
        pred_hm, pred_box = net(x)
        l_hm, l_box = dn.detection_loss(pred_hm, pred_box, bs, in_w, in_h, stride, flips)
        loss = l_hm + dn.BOX_WEIGHT * l_box
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 10.0)
        opt.step()
    return steps


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", required=True, help="the detector's ONNX file (det-light)")
    ap.add_argument("--out", required=True)
    ap.add_argument("--data", required=True, help="frames and (teacher) boxes, make_data.py format")
    ap.add_argument("--replay", help="frames with true boxes of training seeds, same format")
    ap.add_argument("--input", default="320x176", help="the detector's input WxH [320x176]")
    ap.add_argument("--stride", type=int, default=8, help="its output stride [8]")
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--lr", type=float, default=3e-4)
    ap.add_argument("--part", choices=["all", "head"], default="all",
                    help="train every weight, or the detection head's only [all]")
    ap.add_argument("--recalibrate", action="store_true")
    ap.add_argument("--no-train", action="store_true")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=20261206)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    in_w, in_h = (int(v) for v in args.input.split("x"))
    started = time.monotonic()
    try:
        net, model = ft.load_module(args.model)
        data = load_data(args.data, in_w, in_h)
        replay = load_data(args.replay, in_w, in_h) if args.replay else None
    except (OSError, ValueError, NotImplementedError) as e:
        print(f"detect_finetune.py: {e}", file=sys.stderr)
        return 1
    if args.recalibrate:
        if replay is None:
            print("detect_finetune.py: --recalibrate needs --replay (the source frames)",
                  file=sys.stderr)
            return 2
        recalibrate(net, to_input(data[0][:256]), to_input(replay[0][:256]))
    steps = 0 if args.no_train else train(net, data, replay, args.steps, args.batch, args.lr,
                                          args.seed, args.stride, args.part)
    seconds = time.monotonic() - started
    try:
        diff = ft.export(net, model, args.out, to_input(data[0][:4]))
    except RuntimeError as e:
        print(f"detect_finetune.py: {e}", file=sys.stderr)
        return 1
    print(json.dumps({"model": args.model, "out": args.out, "frames": len(data[0]),
                      "replay_frames": 0 if replay is None else len(replay[0]),
                      "recalibrated": args.recalibrate, "steps": steps,
                      "train_s": round(seconds, 1), "bytes": os.path.getsize(args.out),
                      "max_diff_opencv": diff}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
