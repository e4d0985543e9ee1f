#!/usr/bin/python3
"""Train one of tierd's video detectors on make_data.py's frames (docs/detectors.md).

  train.py --net det-light|det-heavy --data DIR[,DIR...] --out CKPT.pt --minutes M
           [--batch B] [--lr LR] [--threads T] [--init CKPT.pt]
           [--widths WIDTHS.json] [--teacher HEATMAPS.npy --kd-weight K]

Training runs for a wall-clock budget (the machine is shared, so a fixed epoch count
would take an unknown time): AdamW, linear warm-up over the first 3% of the budget, then
cosine decay to 2% of LR at the end. Augmentation: horizontal flip. Writes CKPT.pt (the
state dict) every 2 minutes and at the end, plus CKPT.json with what was done.

--widths: a pruned det-light (tools/compress/detector_prune.py). --teacher: distillation,
a teacher's class heatmaps on the same frames in the same order, on this net's output grid
(detector_prune.py teacher); the loss gains K x sum((student - teacher)^2) / (number of
ground-truth peaks), the teacher's map flipped with the image.
"""
import argparse
import json
import os
import time

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402
import torch  # noqa: E402

import detector_nets as dn  # noqa: E402

SEED = 20261206


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--net", required=True, choices=sorted(dn.NETS))
    ap.add_argument("--data", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--minutes", type=float, required=True)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--max-steps", type=int, default=0, help="stop early (smoke tests)")
    ap.add_argument("--init", help="start from this checkpoint (continue training)")
    ap.add_argument("--photometric", action="store_true",
                    help="random per-image gain 0.75-1.25 and offset +-20 levels")
    ap.add_argument("--widths", help="JSON of a pruned det-light's channel widths")
    ap.add_argument("--teacher", help="teacher heatmaps (.npy, N x 10 x H/s x W/s)")
    ap.add_argument("--kd-weight", type=float, default=1.0)
    args = ap.parse_args()
    if args.widths and args.net != "det-light":
        ap.error("--widths is for det-light")

    torch.set_num_threads(args.threads)
    torch.manual_seed(SEED)
    rng = np.random.default_rng(SEED)
    if args.widths:
        with open(args.widths) as f:
            net = dn.DetLight(json.load(f))
    else:
        net = dn.NETS[args.net]()
    if args.init:
        net.load_state_dict(torch.load(args.init))
    in_w, in_h = net.input_size
    # --data DIR[,DIR...]: make_data.py outputs, used together.
    arrays, records, where, seeds = [], [], [], []
    for k, d in enumerate(args.data.split(",")):
        arr = np.load(os.path.join(d, f"frames_{in_w}x{in_h}.npy"), mmap_mode="r")
        with open(os.path.join(d, "boxes.json")) as f:
            meta = json.load(f)
        assert len(meta["frames"]) == arr.shape[0]
        assert min(meta["seeds"]) >= 1000, "training uses training seeds only"
        arrays.append(arr)
        records += meta["frames"]
        where += [(k, r) for r in range(arr.shape[0])]
        seeds += meta["seeds"]
    n = len(records)
    teacher = None
    if args.teacher:
        teacher = np.load(args.teacher, mmap_mode="r")
        grid = (in_h // net.stride, in_w // net.stride)
        if teacher.shape[0] != n or tuple(teacher.shape[2:]) != grid:
            ap.error(f"--teacher: {teacher.shape} does not match {n} frames on a {grid} grid")
    print(f"{args.net}: {n} frames {in_w}x{in_h}, "
          f"{sum(p.numel() for p in net.parameters())} params, "
          f"{dn.count_flops(net, in_w, in_h) / 1e9:.3f} GFLOPs", flush=True)

    opt = torch.optim.AdamW(net.parameters(), lr=args.lr, weight_decay=1e-4)
    budget = args.minutes * 60.0
    start = time.time()
    last_save = start
    step = 0
    seen = 0
    order = rng.permutation(n)
    pos = 0
    smooth = None
    net.train()

    def save(final):
        torch.save(net.state_dict(), args.out)
        with open(args.out[:-3] + ".json", "w") as f:
            json.dump({"net": args.net, "steps": step, "images_seen": seen,
                       "epochs": seen / n, "train_seconds": round(time.time() - start, 1),
                       "frames": n, "seeds": seeds, "data": args.data, "batch": args.batch,
                       "lr": args.lr, "threads": args.threads, "init": args.init,
                       "photometric": args.photometric, "widths": args.widths,
                       "teacher": args.teacher, "kd_weight": args.kd_weight if teacher is not None else None,
                       "final": final, "loss": smooth}, f)

    while True:
        frac = (time.time() - start) / budget
        if frac >= 1.0 or (args.max_steps and step >= args.max_steps):
            break
        lr = dn.warmup_cosine_lr(args.lr, frac)
        for g in opt.param_groups:
            g["lr"] = lr
        if pos + args.batch > n:
            order = rng.permutation(n)
            pos = 0
        idx = np.sort(order[pos:pos + args.batch])
        pos += args.batch
        flips = rng.random(len(idx)) < 0.5
        x = np.stack([arrays[where[i][0]][where[i][1]] for i in idx]).astype(np.float32)
        if args.photometric:
            # Per image gain and offset: lighting the training backgrounds do not show.
            gain = rng.uniform(0.75, 1.25, (len(idx), 1, 1, 1)).astype(np.float32)
            bias = rng.uniform(-20, 20, (len(idx), 1, 1, 1)).astype(np.float32)
            x = np.clip(x * gain + bias, 0, 255)
        x /= 255.0  # N,H,W,3 BGR
        x[flips] = x[flips, :, ::-1]
        x = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))
        pred_hm, pred_box = net(x)
        l_hm, l_box = dn.detection_loss(pred_hm, pred_box, [records[i]["boxes"] for i in idx],
                                        in_w, in_h, net.stride, flips)
        loss = l_hm + dn.BOX_WEIGHT * l_box
        l_kd = torch.zeros(())
        if teacher is not None:
            t = np.stack([teacher[i] for i in idx]).astype(np.float32)
            t[flips] = t[flips, :, :, ::-1]
            npos = max(sum(1 for i in idx for b in records[i]["boxes"] if not b[5]), 1)
            l_kd = ((pred_hm - torch.from_numpy(np.ascontiguousarray(t))) ** 2).sum() / npos
            loss = loss + args.kd_weight * l_kd
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 10.0)
        opt.step()
        step += 1
        seen += len(idx)
        v = (l_hm.item(), l_box.item(), l_kd.item())
        smooth = v if smooth is None else tuple(0.98 * a + 0.02 * b for a, b in zip(smooth, v))
        if step % 25 == 0:
            el = time.time() - start
            print(f"step {step} t={el:.0f}s epoch={seen / n:.2f} lr={lr:.2e} "
                  f"hm={smooth[0]:.3f} giou={smooth[1]:.3f} kd={smooth[2]:.3f} {seen / el:.1f} img/s", flush=True)
        if time.time() - last_save > 120:
            save(False)
            last_save = time.time()
    save(True)
    print(f"done: {step} steps, {seen} images ({seen / n:.2f} epochs) in "
          f"{time.time() - start:.0f} s", flush=True)


if __name__ == "__main__":
    main()
