#!/usr/bin/python3
"""Train the feature-fusion head on make_pairs.py's pairs and export it to ONNX
(docs/feature-fusion.md).

  train.py --data DIR[,DIR...] --out models/det-fusion.onnx --minutes M [--batch 16]
           [--lr 2e-3] [--threads 2] [--regions-share 0.5] [--init HEAD.onnx] [--max-steps N]

Both detectors stay as they are (frozen: their maps were computed by make_pairs.py); only
the head learns. Loss as the detectors' (tools/detect/detector_nets.py): CenterNet focal
loss on the heatmap + 5 x GIoU on the boxes, targets on the 80 x 44 grid (stride 4 of
det-light's input). Each pair is shown with the whole key map (mask channel set to 1) or,
with probability REGIONS_SHARE, with the regions only (the map zeroed outside the mask),
so one head serves both compressions. AdamW, warm-up then cosine decay over a wall-clock
budget. Writes OUT (ONNX, opset 13, inputs "light_p8" and "key_p8", outputs "heatmap" and
"box"), checked through OpenCV DNN against torch, and OUT minus .onnx plus .json (what
was done).
"""
import argparse
import json
import os
import sys
import time

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(TOP, "tools", "detect"))
import detector_nets as dn  # noqa: E402
import feature_fusion as ff  # noqa: E402

SEED = 20261207


class Pairs:
    """make_pairs.py outputs, used together: rows of several memmaps as one."""

    def __init__(self, dirs):
        self.light, self.key, self.pairs, self.seeds, self.where = [], [], [], [], []
        for k, d in enumerate(dirs):
            self.light.append(np.load(os.path.join(d, "light.npy"), mmap_mode="r"))
            self.key.append(np.load(os.path.join(d, "key.npy"), mmap_mode="r"))
            meta = json.load(open(os.path.join(d, "pairs.json")))
            assert min(meta["seeds"]) >= 1000, "training uses training seeds only"
            assert len(meta["pairs"]) == self.light[-1].shape[0]
            self.pairs += meta["pairs"]
            self.seeds += meta["seeds"]
            self.where += [(k, r) for r in range(len(meta["pairs"]))]

    def __len__(self):
        return len(self.pairs)

    def rows(self, arrays, idx):
        return np.stack([arrays[self.where[i][0]][self.where[i][1]] for i in idx])


def load_onnx_weights(head, path):
    """Starts from an exported head: its initialisers carry the parameters' names."""
    import onnx
    from onnx import numpy_helper
    weights = {t.name: numpy_helper.to_array(t) for t in onnx.load(path).graph.initializer}
    state = head.state_dict()
    missing = [k for k in state if k not in weights]
    if missing:
        sys.exit(f"train.py: {path} lacks {missing}")
    head.load_state_dict({k: torch.from_numpy(weights[k].copy()) for k in state})


def batch_inputs(data, idx, regions):
    lp = torch.from_numpy(data.rows(data.light, idx).astype(np.float32))
    kp = torch.from_numpy(data.rows(data.key, idx).astype(np.float32))
    mask = kp[:, ff.KEY_C:ff.KEY_C + 1]
    r = torch.from_numpy(regions.astype(np.float32)).view(-1, 1, 1, 1)
    # regions: map zeroed outside the mask; whole: every cell sent (mask 1).
    kp[:, :ff.KEY_C] = kp[:, :ff.KEY_C] * (r * mask + (1 - r))
    kp[:, ff.KEY_C:] = r * mask + (1 - r)
    return lp, kp


def export(head, path, data):
    head.eval()
    idx = np.arange(min(4, len(data)))
    lp, kp = batch_inputs(data, idx, np.zeros(len(idx)))
    torch.onnx.export(head, (lp[:1], kp[:1]), path, opset_version=13,
                      input_names=["light_p8", "key_p8"], output_names=["heatmap", "box"])
    net = cv2.dnn.readNetFromONNX(path)
    worst = 0.0
    for i in range(len(idx)):
        with torch.no_grad():
            th, tb = head(lp[i:i + 1], kp[i:i + 1])
        net.setInput(lp[i:i + 1].numpy(), "light_p8")
        net.setInput(kp[i:i + 1].numpy(), "key_p8")
        oh, ob = net.forward(["heatmap", "box"])
        worst = max(worst, float(np.abs(oh - th.numpy()).max()), float(np.abs(ob - tb.numpy()).max()))
    if worst > 1e-3:
        os.remove(path)
        sys.exit(f"train.py: OpenCV DNN and torch differ by {worst} on the exported head")
    return worst


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--minutes", type=float, required=True)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--regions-share", type=float, default=0.5)
    ap.add_argument("--width", type=int, default=40)
    ap.add_argument("--init", help="start from this exported head (continue training)")
    ap.add_argument("--max-steps", type=int, default=0, help="stop early (smoke tests)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(SEED)
    rng = np.random.default_rng(SEED)
    data = Pairs(args.data.split(","))
    pairs = data.pairs
    n = len(pairs)
    head = ff.FusionHead(args.width)
    if args.init:
        load_onnx_weights(head, args.init)
    print(f"fusion head: {n} pairs, {sum(p.numel() for p in head.parameters())} params, "
          f"{ff.count_flops(head) / 1e9:.3f} GFLOPs", flush=True)
    opt = torch.optim.AdamW(head.parameters(), lr=args.lr, weight_decay=1e-4)
    budget = args.minutes * 60.0
    start = time.time()
    step = seen = pos = 0
    order = rng.permutation(n)
    smooth = None
    in_w, in_h = ff.LIGHT_IN
    head.train()
    while True:
        frac = (time.time() - start) / budget
        if frac >= 1.0 or (args.max_steps and step >= args.max_steps):
            break
        lr = dn.warmup_cosine_lr(args.lr, frac)
        for g in opt.param_groups:
            g["lr"] = lr
        if pos + args.batch > n:
            order, pos = rng.permutation(n), 0
        idx = np.sort(order[pos:pos + args.batch])
        pos += args.batch
        lp, kp = batch_inputs(data, idx, rng.random(len(idx)) < args.regions_share)
        ph, pb = head(lp, kp)
        l_hm, l_box = dn.detection_loss(ph, pb, [pairs[i]["boxes"] for i in idx], in_w, in_h,
                                        ff.OUT_STRIDE, np.zeros(len(idx), bool))
        loss = l_hm + dn.BOX_WEIGHT * l_box
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(head.parameters(), 10.0)
        opt.step()
        step += 1
        seen += len(idx)
        v = (l_hm.item(), l_box.item())
        smooth = v if smooth is None else tuple(0.98 * a + 0.02 * b for a, b in zip(smooth, v))
        if step % 50 == 0:
            el = time.time() - start
            print(f"step {step} t={el:.0f}s epoch={seen / n:.2f} lr={lr:.2e} "
                  f"hm={smooth[0]:.3f} giou={smooth[1]:.3f} {seen / el:.1f} pairs/s", flush=True)
    worst = export(head, args.out, data)
    info = {"pairs": n, "data": [os.path.abspath(d) for d in args.data.split(",")],
            "seeds": data.seeds, "init": args.init,
            "steps": step, "pairs_seen": seen, "epochs": seen / n,
            "train_seconds": round(time.time() - start, 1), "batch": args.batch, "lr": args.lr,
            "threads": args.threads, "width": args.width, "regions_share": args.regions_share,
            "loss": smooth, "opencv_max_abs_diff": worst, "flops": ff.count_flops(head)}
    with open(args.out[:-5] + ".json", "w") as f:
        json.dump(info, f, indent=1)
    print(f"done: {step} steps, {seen / n:.2f} epochs; OpenCV vs torch {worst:.2e}", flush=True)


if __name__ == "__main__":
    main()
