#!/usr/bin/python3
"""Hardware-aware architecture search, Once-for-All style, over tools/compress/
resnet_space.py's space (resolution, depth, width and kernel per stage) — the PyTorch half
(issue 19). bench/compress/run.sh runs the steps in order; nas_search (C++, pagmo2's
NSGA-II) is the other half.

  nas.py supernet --epochs 3          train the weight-sharing network from the zoo's
                                      ResNet-20: each step the largest, the smallest and
                                      two random subnets, all distilled from ResNet-20
                                      (the "sandwich rule"); WORK/supernet.pt
  nas.py sample --n 120 --export 40   random subnets' val top-1 through the supernet (BN
                                      statistics re-estimated per subnet), the first
                                      --export of them (and ResNet-20) exported to
                                      WORK/latency/ for timing; WORK/samples.json
  nas.py latency --compress-eval BIN  times the exported subnets through OpenCV in C++ at
                                      1 and 2 threads, adds the per-device ms to samples
  nas.py finetune --search FILE       extract each device's picked architectures from the
                                      supernet, fine-tune them with distillation, export;
                                      OUT/nas-<device>-<i>.onnx + .lineage.json

Devices (DEVICES below): x86-edge = this machine's CPU at 2 threads; pi3b-emulated =
this machine at 1 thread x 28.9 (the Edge-based bench's Raspberry Pi 3B+ / Jetson TX2
ratio): an emulation of a Pi's speed, not a Pi.
"""
import argparse
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import train_util as tu  # noqa: E402
import resnet_space as rs  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

SEED = 20261207
PARENT = os.path.join(tu.REPO, "models", "resnet-20.onnx")
PI_SLOWDOWN = 28.9
DEVICES = {
    "x86-edge": {"description": "this machine's CPU, OpenCV DNN at 2 threads", "threads": 2, "scale": 1.0},
    "pi3b-emulated": {"description": f"Raspberry Pi 3B+ emulated: this machine at 1 thread x {PI_SLOWDOWN} "
                                     "(bench/edge_based's MobileNet_V1 Pi 3B+/TX2 ratio)",
                      "threads": 1, "scale": PI_SLOWDOWN},
}
RECAL_IMAGES = 1000


def load_supernet(work):
    ckpt = torch.load(os.path.join(work, "supernet.pt"))
    net = rs.ElasticResNet()
    net.load_state_dict(ckpt["state"])
    return net, ckpt["meta"]


def recalibrate(net, arch, images):
    """Re-estimate the BN statistics for one subnet (cumulative average, as OFA does)."""
    for m in net.modules():
        if isinstance(m, rs.ElasticBN):
            m.reset_running_stats()
            m.momentum = None
    net.train()
    with torch.no_grad():
        for i in range(0, len(images), 250):
            net(images[i:i + 250], arch)
    for m in net.modules():
        if isinstance(m, rs.ElasticBN):
            m.momentum = 0.1
    net.eval()


def bn_state(net):
    return {k: v.clone() for k, v in net.state_dict().items() if "running" in k or "num_batches" in k}


def cmd_supernet(args, data, teacher):
    rng = rs.seeded(SEED)
    net, biases = rs.load_parent(args.parent)
    rs.calibrate_bn(net, biases, data[0][:2000], rs.resnet20())
    rs.sort_channels(net)
    xtr, ytr, xva, yva = data
    opt = torch.optim.AdamW(net.parameters(), lr=args.lr, weight_decay=1e-4)
    steps = args.epochs * ((len(xtr) + tu.BATCH - 1) // tu.BATCH)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps)
    t0 = time.time()
    for ep in range(args.epochs):
        net.train()
        perm = torch.from_numpy(np.random.RandomState(SEED + ep).permutation(len(xtr)))
        te, total = time.time(), 0.0
        for i in range(0, len(xtr), tu.BATCH):
            idx = perm[i:i + tu.BATCH]
            opt.zero_grad(set_to_none=True)
            for arch in (rs.largest(), rs.smallest(), rs.random_arch(rng), rs.random_arch(rng)):
                loss = tu.kd_loss(net(xtr[idx], arch), teacher[idx], ytr[idx])
                loss.backward()
                total += loss.item() * len(idx) / 4
            opt.step()
            sched.step()
        accs = {}
        saved = bn_state(net)
        for name, arch in (("largest", rs.largest()), ("resnet-20", rs.resnet20()), ("smallest", rs.smallest())):
            recalibrate(net, arch, xtr[:RECAL_IMAGES])
            accs[name] = round(tu.evaluate(lambda x, a=arch: net(x, a), xva, yva), 4)
        net.load_state_dict({**net.state_dict(), **saved})
        print(f"  supernet epoch {ep + 1}/{args.epochs}: loss {total / len(xtr):.4f}, val top-1 {accs} "
              f"({time.time() - te:.0f} s)", flush=True)
    meta = {"parent": os.path.relpath(args.parent, tu.REPO), "parent_sha256": tu.sha256(args.parent),
            "epochs": args.epochs, "lr": args.lr, "seed": SEED, "train_images": len(xtr),
            "sandwich": "largest + smallest + 2 random per step, each distilled from the parent",
            "kd_temperature": tu.KD_T, "kd_alpha": tu.KD_ALPHA, "train_seconds": round(time.time() - t0, 1)}
    torch.save({"state": net.state_dict(), "meta": meta}, os.path.join(args.work, "supernet.pt"))
    print(f"supernet: {meta['train_seconds']} s -> {os.path.join(args.work, 'supernet.pt')}")


def cmd_sample(args, data, teacher):
    rng = rs.seeded(SEED + 1)
    net, meta = load_supernet(args.work)
    xtr, _, xva, yva = data
    archs, seen = [rs.resnet20(), rs.largest(), rs.smallest()], set()
    while len(archs) < args.n:
        archs.append(rs.random_arch(rng))
    samples, t0 = [], time.time()
    lat_dir = os.path.join(args.work, "latency")
    os.makedirs(lat_dir, exist_ok=True)
    saved = bn_state(net)
    for i, arch in enumerate(archs):
        key = rs.arch_key(arch)
        if key in seen:
            continue
        seen.add(key)
        recalibrate(net, arch, xtr[:RECAL_IMAGES])
        acc = tu.evaluate(lambda x, a=arch: net(x, a), xva, yva)
        sample = {"arch": arch, "acc": round(acc, 5), "macs": rs.count_macs(arch), "name": rs.arch_name(arch)}
        if len(samples) < args.export:
            path = os.path.join(lat_dir, f"s{len(samples):03d}.onnx")
            tu.export_onnx(rs.extract(net, arch), path, xva[:64])
            sample["onnx"] = os.path.relpath(path, args.work)
        # Every 4th sample is held out of the predictors' fitting (validation only).
        sample["holdout"] = len(samples) % 4 == 3
        samples.append(sample)
        print(f"  {i + 1}/{len(archs)} {sample['name']}: val top-1 {acc:.4f}", flush=True)
    net.load_state_dict({**net.state_dict(), **saved})
    doc = {"space": "resnet-elastic-v1", "devices": DEVICES, "supernet": meta,
           "val_images": len(xva), "recalibration_images": RECAL_IMAGES,
           "sample_seconds": round(time.time() - t0, 1), "samples": samples}
    with open(os.path.join(args.work, "samples.json"), "w") as f:
        json.dump(doc, f, indent=1)
    print(f"{len(samples)} samples in {doc['sample_seconds']} s -> {os.path.join(args.work, 'samples.json')}")


def cmd_latency(args, _data, _teacher):
    path = os.path.join(args.work, "samples.json")
    doc = json.load(open(path))
    timed = [s for s in doc["samples"] if "onnx" in s]
    cmd = [args.compress_eval, "--threads", "1,2", "--limit", "100", "--time-images", str(args.time_images),
           "--repeats", "3"]
    for s in timed:
        cmd += ["--model", f"{s['name']}={os.path.join(args.work, s['onnx'])}"]
    t0 = time.time()
    out = json.loads(subprocess.run(cmd, check=True, stdout=subprocess.PIPE, text=True).stdout)
    rows = {r["model"]: r for r in out["rows"] if r.get("precision") == "fp32"}
    for s in timed:
        ms = rows[s["name"]]["ms"]
        s["ms"] = {dev: round(ms[str(d["threads"])]["ms_mean"] * d["scale"], 5) for dev, d in DEVICES.items()}
    doc["latency_machine"] = out.get("machine")
    doc["latency_seconds"] = round(time.time() - t0, 1)
    with open(path, "w") as f:
        json.dump(doc, f, indent=1)
    print(f"timed {len(timed)} subnets in {doc['latency_seconds']} s")


def cmd_finetune(args, data, teacher):
    search = json.load(open(args.search))
    net, meta = load_supernet(args.work)
    xtr = data[0]
    done = {}
    for device, result in search["devices"].items():
        for i, pick in enumerate(result["picked"]):
            arch = rs.canonical(pick["arch"])
            key = rs.arch_key(arch)
            name = f"nas-{device}-{i + 1}"
            if key in done:  # the same network picked for two devices: trained once
                print(f"{name} = {done[key]}")
                continue
            done[key] = name
            tu.setup(SEED)
            recalibrate(net, arch, xtr[:RECAL_IMAGES])
            model = rs.extract(net, arch)
            model.eval()
            before = tu.evaluate(model, data[2], data[3])
            t0 = time.time()
            history = tu.train_kd(model, data, teacher, args.epochs, args.lr, SEED, name) if args.epochs else [before]
            seconds = time.time() - t0
            onnx = os.path.join(args.out, f"{name}.onnx")
            tu.export_onnx(model, onnx, data[2][:256])
            rec = {"name": name, "file": f"{name}.onnx", "parent": "supernet",
                   "parent_file": os.path.relpath(os.path.join(args.work, "supernet.pt"), tu.REPO),
                   "supernet": meta, "method": "nas+kd", "device": device, "arch": arch,
                   "arch_name": rs.arch_name(arch), "macs": rs.count_macs(arch),
                   "pred_ms": pick.get("pred_ms"), "pred_acc": pick.get("pred_acc"),
                   "settings": {"epochs": args.epochs, "lr": args.lr, "schedule": "cosine",
                                "kd_temperature": tu.KD_T, "kd_alpha": tu.KD_ALPHA,
                                "teacher": meta["parent"], "val_top1_from_supernet": before},
                   "seed": SEED, "params": tu.params_of(model), "val_top1_per_epoch": history,
                   "train_seconds": round(seconds, 1), "sha256": tu.sha256(onnx)}
            tu.write_lineage(os.path.join(args.out, f"{name}.lineage.json"), rec)
            print(f"{name} {rec['arch_name']}: val top-1 {before:.4f} -> {history[-1]:.4f} ({seconds:.0f} s)",
                  flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", default=os.path.join(tu.REPO, "build-compress", "nas"))
    ap.add_argument("--out", default=os.path.join(tu.REPO, "build-compress", "models"))
    ap.add_argument("--parent", default=PARENT)
    ap.add_argument("--train-images", type=int, default=tu.TRAIN_IMAGES)
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("supernet")
    s.add_argument("--epochs", type=int, default=3)
    s.add_argument("--lr", type=float, default=1e-3)
    s = sub.add_parser("sample")
    s.add_argument("--n", type=int, default=120)
    s.add_argument("--export", type=int, default=40)
    s = sub.add_parser("latency")
    s.add_argument("--compress-eval", required=True)
    s.add_argument("--time-images", type=int, default=300)
    s = sub.add_parser("finetune")
    s.add_argument("--search", required=True, help="nas_search's output")
    s.add_argument("--epochs", type=int, default=2)
    s.add_argument("--lr", type=float, default=1e-3)
    args = ap.parse_args()
    os.makedirs(args.work, exist_ok=True)
    os.makedirs(args.out, exist_ok=True)
    tu.setup(SEED)
    data = teacher = None
    if args.cmd != "latency":
        xtr, ytr, xva, yva = tu.load_data()
        n = min(args.train_images, len(xtr))
        data = (xtr[:n], ytr[:n], xva, yva)
        if args.cmd in ("supernet", "finetune"):
            teacher = tu.teacher_logits(args.parent, data[0], os.path.join(tu.REPO, "build-compress", "cache"))
    {"supernet": cmd_supernet, "sample": cmd_sample, "latency": cmd_latency,
     "finetune": cmd_finetune}[args.cmd](args, data, teacher)


if __name__ == "__main__":
    main()
