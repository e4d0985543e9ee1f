#!/usr/bin/python3
"""Structured channel pruning of the light video detector, and its distillation teacher.

  detector_prune.py prune --parent models/det-light.onnx --data DIR[,DIR...]
                          --width W --out OUT.pt
  detector_prune.py teacher --teacher models/det-heavy.onnx --data DIR[,DIR...]
                            --out TEACHER.npy
  detector_prune.py lineage --name NAME --dir DIR --parent PARENT.onnx --teacher T.onnx
  detector_prune.py measure --build BUILD --test-dir DIR --model NAME=ONNX... --out M.json
                            [--seeds 1,2,3] [--frames 600]

`prune` reads det-light from its exported ONNX file (the zoo ships no PyTorch checkpoint:
the export folded each BatchNorm into its convolution, and the BatchNorms are rebuilt as
identities with real statistics, as resnet_space.py does for ResNet-20), keeps in every
channel group the round(W x width) channels whose filters have the largest L1 norm (Li et
al.'s criterion) and writes OUT.pt (the pruned state dict) and OUT.widths.json (the
groups' widths, tools/detect/train.py's and export.py's --widths). The stride-8 stream
("p8": s8's output plus lat16's upsampled output) is one group, its channels ranked by the
summed norms of both filters that write it. Fine-tuning is tools/detect/train.py with
--init OUT.pt, --widths and --teacher (bench/compress/run.sh runs all of it).

`teacher` runs the heavy detector (OpenCV DNN, 2 threads) over every training frame of
the DIRs, in train.py's order, and stores its class heatmaps max-pooled to the light
detector's grid (float16, N x 10 x 22 x 40): det-heavy's stride-4 cells on its 640x352
input are 4 x 4 blocks of det-light's stride-8 cells on its 320x176 input, exactly.
"""
import argparse
import json
import os
import subprocess
import sys
import time

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "detect"))
import detector_nets as dn  # noqa: E402
import resnet_space as rs  # noqa: E402  (its fit_identity_bns)

# Channel groups of DetLight: group -> ([convs writing it], [convs reading it]); module
# paths as in the state dict ("s4.0" is conv_bn's Sequential: .0 the conv, .1 the BN).
GROUPS = {
    "s2": (["s2"], ["s4.0"]),
    "s4a": (["s4.0"], ["s4.1"]),
    "s4b": (["s4.1"], ["s8.0"]),
    "s8a": (["s8.0"], ["s8.1"]),
    "p8": (["s8.1", "lat16"], ["s16.0", "fuse8"]),
    "s16a": (["s16.0"], ["s16.1"]),
    "s16b": (["s16.1"], ["lat16"]),
    "fuse8": (["fuse8"], ["head.hm.0", "head.box.0"]),
    "head_hm": (["head.hm.0"], ["head.hm.1"]),
    "head_box": (["head.box.0"], ["head.box.1"]),
}


def data_dirs(text):
    return [d for d in text.split(",") if d]


def load_frames(dirs, size):
    """All frames of the make_data.py DIRs at `size` (W, H), in train.py's order (mmap)."""
    return [np.load(os.path.join(d, f"frames_{size[0]}x{size[1]}.npy"), mmap_mode="r")
            for d in dirs]


def onnx_convs(path):
    """{conv module path: (weight, bias)} of an exported detector (BN folded in)."""
    import onnx
    from onnx import numpy_helper
    m = onnx.load(path)
    inits = {i.name: numpy_helper.to_array(i) for i in m.graph.initializer}
    out = {}
    for n in m.graph.node:
        if n.op_type != "Conv":
            continue
        if n.output[0].startswith("/"):
            # Scopes: /s4/s4.0/s4.0.0/Conv_output_0 is module s4.0.0, and
            # /head/hm/hm.0/hm.0.0/Conv_output_0 head.hm.0.0 (a scope repeats its parent's
            # name).
            path, prev = [], None
            for part in n.output[0].strip("/").split("/")[:-1]:
                path.append(part[len(prev) + 1:] if prev and part.startswith(prev + ".") else part)
                prev = part
            key = ".".join(path)
        else:  # the heads' last 1x1 convs keep their parameter names: head.hm.1.weight
            key = n.input[1].rsplit(".", 1)[0]
        out[key] = (inits[n.input[1]].copy(), inits[n.input[2]].copy())
    return out


def load_parent(path, frames):
    """DetLight equal to the ONNX file in eval mode, BatchNorms rebuilt on `frames`
    (uint8 N x H x W x 3): BN(z) = z + bias with the real mean and variance of z."""
    convs = onnx_convs(path)
    net = dn.DetLight()
    mods = dict(net.named_modules())
    bns = {}
    with torch.no_grad():
        for key, (w, b) in convs.items():
            owner = mods.get(key.rsplit(".", 1)[0])
            if not (isinstance(owner, nn.Sequential) and isinstance(owner[1], nn.BatchNorm2d)):
                # a head's last conv: weight and bias as they are
                mods[key].weight.copy_(torch.from_numpy(w))
                mods[key].bias.copy_(torch.from_numpy(b))
                continue
            owner[0].weight.copy_(torch.from_numpy(w))
            bns[owner[1]] = torch.from_numpy(b)

    def forward():
        net.eval()
        with torch.no_grad():
            for i in range(0, len(frames), 32):
                net(to_blob(frames[i:i + 32]))

    rs.fit_identity_bns(bns, forward)
    return net


def to_blob(frames):
    """uint8 N x H x W x 3 BGR -> float N x 3 x H x W / 255, as blobFromImage makes it."""
    x = np.asarray(frames, np.float32) / 255.0
    return torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))


def filter_l1(net, path):
    """L1 norm of each output filter of conv_bn `path`, BN's scale included (eval form)."""
    m = dict(net.named_modules())[path]
    w = m[0].weight.detach()
    bn = m[1]
    gain = (bn.weight / torch.sqrt(bn.running_var + bn.eps)).detach()
    return (w.abs().sum((1, 2, 3)) * gain.abs()).numpy()


def prune(net, width):
    """The pruned DetLight and the kept channel indices per group."""
    keep = {}
    for group, (writers, _readers) in GROUPS.items():
        score = sum(filter_l1(net, w) for w in writers)
        k = max(1, int(round(len(score) * width)))
        keep[group] = np.sort(np.argsort(-score, kind="stable")[:k])
    widths = {g: len(keep[g]) for g in GROUPS if g not in ("head_hm", "head_box")}
    # DetLight has one width for both heads' hidden layers; both start equal, so both keep
    # the same count.
    assert len(keep["head_hm"]) == len(keep["head_box"])
    widths["head"] = len(keep["head_hm"])
    small = dn.DetLight(widths)
    src = dict(net.named_modules())
    dst = dict(small.named_modules())
    out_of = {w: g for g, (ws, _) in GROUPS.items() for w in ws}
    in_of = {r: g for g, (_, rs) in GROUPS.items() for r in rs}
    with torch.no_grad():
        for path in list(out_of) + ["head.hm.1", "head.box.1"]:
            s, d = src[path], dst[path]
            conv_s, conv_d = (s, d) if isinstance(s, nn.Conv2d) else (s[0], d[0])
            w = conv_s.weight
            if path in out_of:
                w = w[torch.from_numpy(keep[out_of[path]])]
            cin = torch.from_numpy(keep[in_of[path]]) if path in in_of else torch.arange(3)
            conv_d.weight.copy_(w[:, cin])
            if isinstance(s, nn.Conv2d):
                conv_d.bias.copy_(conv_s.bias)
                continue
            idx = torch.from_numpy(keep[out_of[path]])
            for name in ("weight", "bias", "running_mean", "running_var"):
                getattr(d[1], name).copy_(getattr(s[1], name)[idx])
    return small, {g: [int(i) for i in v] for g, v in keep.items()}


def cmd_prune(args):
    torch.set_num_threads(args.threads)
    torch.manual_seed(19)
    frames = load_frames(data_dirs(args.data), dn.DetLight.input_size)
    rng = np.random.default_rng(19)
    pick = []
    for a in frames:  # BN statistics on 256 training frames spread over all folders
        pick.append(a[np.sort(rng.choice(len(a), min(len(a), 256 // len(frames) + 1), replace=False))])
    calib = np.concatenate(pick)
    start = time.time()
    parent = load_parent(args.parent, calib)
    small, keep = prune(parent, args.width)
    torch.save(small.state_dict(), args.out)
    base = args.out[:-3] if args.out.endswith(".pt") else args.out
    with open(base + ".widths.json", "w") as f:
        json.dump(small.widths, f)
        f.write("\n")
    w, h = dn.DetLight.input_size
    report = {"parent": args.parent, "width": args.width, "widths": small.widths,
              "kept": keep, "params_parent": sum(p.numel() for p in parent.parameters()),
              "params": sum(p.numel() for p in small.parameters()),
              "flops_parent": dn.count_flops(parent, w, h), "flops": dn.count_flops(small, w, h),
              "calibration_frames": int(len(calib)), "seconds": round(time.time() - start, 1)}
    with open(base + ".prune.json", "w") as f:
        json.dump(report, f, indent=1)
        f.write("\n")
    print(json.dumps({k: v for k, v in report.items() if k != "kept"}))


def cmd_teacher(args):
    import cv2
    cv2.setNumThreads(args.threads)
    net = cv2.dnn.readNet(args.teacher)
    size = dn.DetHeavy.input_size
    lw, lh = dn.DetLight.input_size
    gw, gh = lw // dn.DetLight.stride, lh // dn.DetLight.stride
    arrays = load_frames(data_dirs(args.data), size)
    total = sum(len(a) for a in arrays)
    out = np.lib.format.open_memmap(args.out + ".part", mode="w+", dtype=np.float16,
                                    shape=(total, dn.NUM_CLASSES, gh, gw))
    start = time.time()
    row = 0
    for a in arrays:
        for i in range(0, len(a), 8):
            blob = to_blob(a[i:i + 8]).numpy()
            net.setInput(blob)
            hm = net.forward("heatmap")  # N x 10 x 88 x 160 (stride 4 on 640x352)
            n, c, hh, ww = hm.shape
            fy, fx = hh // gh, ww // gw
            pooled = hm.reshape(n, c, gh, fy, gw, fx).max(axis=(3, 5))
            out[row:row + n] = pooled.astype(np.float16)
            row += n
            if row % 400 < 8:
                print(f"teacher: {row}/{total} frames, {time.time() - start:.0f} s", flush=True)
    out.flush()
    del out
    os.replace(args.out + ".part", args.out)
    print(json.dumps({"teacher": args.teacher, "frames": total, "grid": [gh, gw],
                      "seconds": round(time.time() - start, 1)}))


def cmd_lineage(args):
    """NAME.lineage.json from the steps' own records in DIR: NAME.pruned.prune.json
    (pruning), NAME.json (tools/detect/train.py) and NAME.export.json (export.py)."""
    sys.path.insert(0, os.path.join(HERE, "..", "detect"))
    import manifest
    import train as train_module  # its SEED: the batch order, flips and photometric draws

    def read(suffix):
        with open(os.path.join(args.dir, args.name + suffix)) as f:
            return json.load(f)

    pruned, train, export = read(".pruned.prune.json"), read(".json"), read(".export.json")
    onnx_path = os.path.join(args.dir, args.name + ".onnx")
    record = {
        "name": args.name, "task": "detection", "parent": os.path.basename(args.parent),
        "parent_sha256": manifest.sha256(args.parent),
        # width 1.0: the parent fine-tuned the same way, unpruned (the control)
        "method": "prune-l1+kd" if pruned["width"] < 1.0 else "finetune+kd",
        "settings": {"width": pruned["width"], "widths": pruned["widths"],
                     "criterion": "filter L1 norm x BN scale, per channel group",
                     "teacher": os.path.basename(args.teacher),
                     "teacher_sha256": manifest.sha256(args.teacher),
                     "kd": "sum of squared heatmap differences / ground-truth peaks, teacher max-pooled to the student's grid",
                     "kd_weight": train["kd_weight"], "loss": "focal + 5 x GIoU + kd_weight x kd",
                     "batch": train["batch"], "lr": train["lr"], "schedule": "warm-up 3%, cosine to 2%",
                     "photometric": train["photometric"], "threads": train["threads"],
                     "frames": train["frames"], "seeds": [min(train["seeds"]), max(train["seeds"])]},
        "seed": train_module.SEED, "steps": train["steps"], "images_seen": train["images_seen"], "epochs": round(train["epochs"], 2),
        "train_seconds": train["train_seconds"], "final_loss": train["loss"],
        "params_parent": pruned["params_parent"], "params": export["params"],
        "flops_parent": pruned["flops_parent"], "flops": export["flops"],
        "max_heatmap_diff": export["max_heatmap_diff"], "max_box_diff": export["max_box_diff"],
        "export_frames_checked": export["frames_checked"],
        "bytes": os.path.getsize(onnx_path), "sha256": manifest.sha256(onnx_path),
    }
    with open(os.path.join(args.dir, args.name + ".lineage.json"), "w") as f:
        json.dump(record, f, indent=1)
        f.write("\n")


def cmd_measure(args):
    """Each model through the C++ path (tools/detect/manifest.py's measure: tierd-detect-run
    and tierd-eval on the test seeds) plus size, sha256 and peak memory."""
    sys.path.insert(0, os.path.join(HERE, "..", "detect"))
    import manifest
    seeds = [int(x) for x in args.seeds.split(",")]
    if any(x >= 1000 for x in seeds):
        raise SystemExit("detector_prune.py: test seeds are below 1000 (docs/video.md)")
    os.makedirs(args.test_dir, exist_ok=True)
    import onnx
    int8 = []
    if args.int8:
        if args.calib_seed < 1000:
            raise SystemExit("detector_prune.py: --calib-seed must be a training seed (>= 1000): "
                             "calibrating on a test video would leak it")
        calib = os.path.join(args.test_dir, f"calib-seed{args.calib_seed}-{args.calib_frames}")
        if not os.path.exists(os.path.join(calib, "video.avi")):
            subprocess.run([os.path.join(args.build, "tierd-videogen"), "--seed", str(args.calib_seed),
                            "--frames", str(args.calib_frames), "--out", calib, "--quiet"], check=True)
        int8 = ["--int8", os.path.join(calib, "video.avi"), "--calib-frames", str(args.calib_frames)]
    rows, failed = [], []
    for item in args.model:
        name, path = item.split("=", 1)
        dims = onnx.load(path).graph.input[0].type.tensor_type.shape.dim
        spec = {"input": (dims[3].dim_value, dims[2].dim_value)}  # N x 3 x H x W
        for precision, extra in (("fp32", []), ("int8", int8)):
            if precision == "int8" and not int8:
                continue
            row_name = name if precision == "fp32" else f"{name}-int8"
            try:
                m = manifest.measure(args.build, row_name, spec, args.test_dir, seeds, args.frames,
                                     onnx=path, extra=extra)
            except subprocess.CalledProcessError as e:
                if precision == "fp32":
                    raise
                # OpenCV 4.6 cannot quantize every graph: a finding, not a failed run
                failed.append({"model": row_name, "error": str(e)})
                print(f"{row_name}: not measured ({e})", flush=True)
                continue
            video = os.path.join(args.test_dir, f"seed{seeds[0]}", "video.avi")
            # tierd-detect-run's own VmHWM (getrusage here would count this Python process,
            # which a forked child's high-water mark starts from)
            rss = manifest.run_json([os.path.join(args.build, "tierd-detect-run"), "--model", path,
                                     "--input", f"{spec['input'][0]}x{spec['input'][1]}", "--video",
                                     video, "--out", os.devnull, "--threads", "1", "--frames", "100",
                                     *extra])["peak_rss_mb"]
            rows.append({"model": row_name, "file": path, "input": spec["input"], "precision": precision,
                         "parent": name if precision == "int8" else None,
                         "calibration": {"video": extra[1], "frames": args.calib_frames} if extra else None,
                         "bytes": os.path.getsize(path),
                         "sha256": manifest.sha256(path), "map50": m["map50"], "map50_95": m["map50_95"],
                         "per_seed": m["per_seed"], "ms": {"1": m["ms_1"], "2": m["ms_2"]},
                         "peak_rss_mb": round(rss, 1)})
            print(f"{row_name}: mAP@0.5 {m['map50']:.4f}, {m['ms_1']:.2f} / {m['ms_2']:.2f} ms at 1 / 2 "
                  f"threads, {rows[-1]['bytes']:,} bytes, peak RSS {rss:.1f} MB", flush=True)
    import platform
    doc = {"seeds": seeds, "frames": args.frames,
           "machine": {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count()},
           "rows": rows, "int8_failed": failed,
           "int8_calibration": {"seed": args.calib_seed, "frames": args.calib_frames} if int8 else None}
    with open(args.out + ".tmp", "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")
    os.replace(args.out + ".tmp", args.out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("prune", help="L1-norm channel pruning of det-light")
    p.add_argument("--parent", required=True, help="det-light's ONNX file")
    p.add_argument("--data", required=True, help="make_data.py folders, comma-separated")
    p.add_argument("--width", type=float, required=True, help="kept fraction of every group")
    p.add_argument("--out", required=True)
    p.add_argument("--threads", type=int, default=2)
    t = sub.add_parser("teacher", help="the heavy detector's heatmaps on the training frames")
    t.add_argument("--teacher", required=True, help="det-heavy's ONNX file")
    t.add_argument("--data", required=True)
    t.add_argument("--out", required=True)
    t.add_argument("--threads", type=int, default=2)
    m = sub.add_parser("measure", help="mAP, ms, size and peak memory through the C++ path")
    m.add_argument("--build", required=True, help="build tree with tierd-videogen, "
                   "tierd-detect-run and tierd-eval")
    m.add_argument("--test-dir", required=True, help="test videos (made when missing)")
    m.add_argument("--model", action="append", required=True, help="NAME=ONNX, repeated")
    m.add_argument("--seeds", default="1,2,3")
    m.add_argument("--frames", type=int, default=600)
    m.add_argument("--out", required=True)
    m.add_argument("--int8", action="store_true", help="also each model quantized to int8 "
                   "(cv::dnn::Net::quantize through tierd-detect-run --int8), a NAME-int8 row")
    m.add_argument("--calib-seed", type=int, default=1000,
                   help="tierd-videogen seed of the calibration video (a training seed, >= 1000)")
    m.add_argument("--calib-frames", type=int, default=16, help="calibration frames")
    li = sub.add_parser("lineage", help="NAME.lineage.json from the steps' records")
    li.add_argument("--name", required=True)
    li.add_argument("--dir", required=True)
    li.add_argument("--parent", required=True)
    li.add_argument("--teacher", required=True)
    args = ap.parse_args()
    if args.cmd == "measure":
        cmd_measure(args)
    elif args.cmd == "lineage":
        cmd_lineage(args)
    elif args.cmd == "prune":
        if not 0.0 < args.width <= 1.0:
            ap.error("--width is a fraction in (0, 1]")
        cmd_prune(args)
    else:
        cmd_teacher(args)


if __name__ == "__main__":
    main()
