#!/usr/bin/python3
"""Compress the zoo's classifiers: structured channel pruning with distillation, and
distillation of a small student from the heavy teacher (issue 19). int8 is measured in C++
(compress_eval --int8: cv::dnn::Net::quantize); see tools/compress/README.md for why not a
QDQ file.

  compress.py prune --width 0.5 [--width 0.5,0.75,0.75 ...] [--epochs 3]
        L1-norm structured channel pruning of the zoo's ResNet-20 (tools/compress/
        resnet_space.py: channels sorted by filter L1 norm, the first round(base * w) kept
        per stage, residual stream and block-inner channels alike), then fine-tuning with
        distillation from ResNet-20 itself. Model name resnet-20-pNN[-NN-NN].
  compress.py distill --student cnn-xs [--epochs 16]
        a zoo architecture trained from scratch with distillation from ResNet-20. Model
        name <student>-kd.

Each model is written to OUT/<name>.onnx (checked through OpenCV against PyTorch) with
OUT/<name>.lineage.json: parent file and sha256, method, settings, seed, val top-1 per
epoch, training time. OUT defaults to build-compress/models.
"""
import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import train_util as tu  # noqa: E402
import resnet_space as rs  # noqa: E402

SEED = 20261207
PARENT = os.path.join(tu.REPO, "models", "resnet-20.onnx")


def parse_width(text):
    parts = [float(p) for p in text.split(",")]
    if len(parts) == 1:
        parts *= 3
    if len(parts) != 3 or not all(0 < p <= 1 for p in parts):
        raise argparse.ArgumentTypeError(f"width {text!r}: one ratio or three (per stage), each in (0, 1]")
    return parts


def width_name(width):
    pct = [int(round(w * 100)) for w in width]
    return "resnet-20-p" + ("%d" % pct[0] if len(set(pct)) == 1 else "-".join(map(str, pct)))


def lineage(name, out, parent, method, settings, history, seconds, model, extra=None):
    rec = {"name": name, "file": f"{name}.onnx", "parent": os.path.basename(parent)[:-5],
           "parent_file": os.path.relpath(parent, tu.REPO), "parent_sha256": tu.sha256(parent),
           "method": method, "settings": settings, "seed": SEED, "params": tu.params_of(model),
           "val_top1_per_epoch": history, "train_seconds": round(seconds, 1),
           "sha256": tu.sha256(os.path.join(out, f"{name}.onnx"))}
    rec.update(extra or {})
    tu.write_lineage(os.path.join(out, f"{name}.lineage.json"), rec)
    print(f"{name}: val top-1 {history[-1]:.4f}, {rec['params']} params, {seconds:.0f} s -> "
          f"{os.path.join(out, name + '.onnx')}", flush=True)


def cmd_prune(args, data, teacher):
    elastic, biases = rs.load_parent(args.parent)
    rs.calibrate_bn(elastic, biases, data[0][:2000], rs.resnet20())
    rs.sort_channels(elastic)
    for width in args.width:
        arch = rs.canonical({"res": 28, "depth": [3, 3, 3], "width": width, "kernel": [[3] * 3] * 3})
        name = width_name(width)
        tu.setup(SEED)
        model = rs.extract(elastic, arch)
        model.eval()
        before = tu.evaluate(model, data[2], data[3])
        t0 = time.time()
        history = tu.train_kd(model, data, teacher, args.epochs, args.lr, SEED, name)
        seconds = time.time() - t0
        tu.export_onnx(model, os.path.join(args.out, f"{name}.onnx"), data[2][:256])
        settings = {"criterion": "L1 norm of filters (BN-folded)", "width": width,
                    "channels": rs.channels(arch), "epochs": args.epochs, "lr": args.lr,
                    "schedule": "cosine", "kd_temperature": tu.KD_T, "kd_alpha": tu.KD_ALPHA,
                    "teacher": os.path.relpath(args.parent, tu.REPO), "val_top1_before_finetune": before}
        lineage(name, args.out, args.parent, "prune-l1+kd", settings, history, seconds, model,
                {"arch": arch, "macs": rs.count_macs(arch)})


def cmd_distill(args, data, teacher):
    import zoo
    for student in args.student:
        if student not in zoo.ZOO:
            raise SystemExit(f"unknown student {student!r}; zoo architectures: {', '.join(zoo.ZOO)}")
        ctor, epochs, lr, _ = zoo.ZOO[student]
        # A student is small and the teacher's soft labels keep teaching long after the
        # hard labels stop (cnn-xs: 87.1% val after 4 epochs, 88.6% after 16).
        epochs = args.epochs or max(16, 2 * epochs)
        lr = args.lr or lr
        name = f"{student}-kd"
        tu.setup(SEED)
        model = ctor()
        t0 = time.time()
        history = tu.train_kd(model, data, teacher, epochs, lr, SEED, name, schedule="onecycle")
        seconds = time.time() - t0
        tu.export_onnx(model, os.path.join(args.out, f"{name}.onnx"), data[2][:256])
        settings = {"student": student, "epochs": epochs, "lr": lr, "schedule": "onecycle",
                    "kd_temperature": tu.KD_T, "kd_alpha": tu.KD_ALPHA,
                    "teacher": os.path.relpath(args.parent, tu.REPO)}
        lineage(name, args.out, args.parent, "distill", settings, history, seconds, model,
                {"architecture_of": student})


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=os.path.join(tu.REPO, "build-compress", "models"))
    ap.add_argument("--parent", default=PARENT, help="the teacher (and pruning parent) ONNX file")
    ap.add_argument("--train-images", type=int, default=tu.TRAIN_IMAGES,
                    help="train on this many images (tests use few)")
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("prune")
    p.add_argument("--width", type=parse_width, action="append", required=True)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--lr", type=float, default=2e-3)
    d = sub.add_parser("distill")
    d.add_argument("--student", action="append", required=True)
    d.add_argument("--epochs", type=int, default=0, help="default: twice the zoo's epochs, at least 16")
    d.add_argument("--lr", type=float, default=0, help="default: the zoo's")
    args = ap.parse_args()
    if not os.path.exists(args.parent):
        raise SystemExit(f"{args.parent}: no such model file")
    tu.setup(SEED)
    xtr, ytr, xva, yva = tu.load_data()
    n = min(args.train_images, len(xtr))
    data = (xtr[:n], ytr[:n], xva, yva)
    teacher = tu.teacher_logits(args.parent, data[0], os.path.join(tu.REPO, "build-compress", "cache"))
    os.makedirs(args.out, exist_ok=True)
    (cmd_prune if args.cmd == "prune" else cmd_distill)(args, data, teacher)


if __name__ == "__main__":
    main()
