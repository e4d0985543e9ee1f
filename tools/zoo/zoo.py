#!/usr/bin/python3
"""Build tierd's Fashion-MNIST model zoo: train, export ONNX, evaluate through OpenCV
(C++ tool zoo_eval), write models/manifest.toml and models/outcomes/.

Run with Debian's interpreter (/usr/bin/python3, python3-torch 1.13). Normally called by
tools/zoo/build.sh; see tools/zoo/README.md.

  zoo.py train [NAME...]      train + export the named models (default: all)
  zoo.py manifest --zoo-eval BIN
                              evaluate every exported model with the C++ tool and
                              write models/manifest.toml and models/outcomes/
  zoo.py list                 print the model names, smallest first
"""
import argparse
import gzip
import hashlib
import json
import os
import struct
import subprocess
import sys
import time

# libgomp's default spin-waiting makes 2 threads on a busy 2-core machine several
# times slower; must be set before torch (and its OpenMP runtime) is loaded.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MODELS_DIR = os.path.join(REPO, "models")
DATA_DIR = os.environ.get("TIERD_FMNIST_DIR", "/usr/share/datasets/fashion-mnist")
WORK_DIR = os.environ.get("TIERD_ZOO_WORK", os.path.join(REPO, "build-zoo", "work"))

SEED = 20261123
THREADS = 2
BATCH = 128
SAMPLE = 256  # test images whose logits are compared torch vs OpenCV

# Normalisation, expressible with cv::dnn::blobFromImage(img, SCALE, Size(28,28),
# Scalar(MEAN)):  x = (pixel - MEAN) * SCALE, pixel = raw uint8 value 0..255.
# MEAN = 73 ~ 255 * 0.2860 (train-set mean), 1/SCALE = 90 ~ 255 * 0.3530 (train std).
MEAN = 73.0
SCALE = 1.0 / 90.0

CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
           "Sneaker", "Bag", "Ankle boot"]


# ----------------------------------------------------------------------------- data
def read_idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    magic = struct.unpack(">I", data[:4])[0]
    ndim = magic & 0xFF
    dims = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def load_split(split):
    prefix = "train" if split == "train" else "t10k"
    x = read_idx(os.path.join(DATA_DIR, f"{prefix}-images-idx3-ubyte.gz"))
    y = read_idx(os.path.join(DATA_DIR, f"{prefix}-labels-idx1-ubyte.gz"))
    xt = (torch.from_numpy(x.astype(np.float32)).unsqueeze(1) - MEAN) * SCALE
    return xt, torch.from_numpy(y.astype(np.int64))


# ----------------------------------------------------------------------------- models
# Export rules (measured with OpenCV 4.6, /work/shared/FACTS.md): torch.flatten(x, 1)
# before the classifier, no x.view(x.size(0), -1), global pooling via
# adaptive_avg_pool2d (no mean(keepdim=True)), reshapes only with constant shapes.
class TinyCNN(nn.Module):
    """The smallest member: two strided 3x3 convolutions and one linear layer."""

    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(1, 4, 3, 2, 1)   # 14x14
        self.c2 = nn.Conv2d(4, 8, 3, 2, 1)   # 7x7
        self.fc = nn.Linear(8 * 7 * 7, 10)

    def forward(self, x):
        x = F.relu(self.c2(F.relu(self.c1(x))))
        return self.fc(torch.flatten(x, 1))


class LeNet(nn.Module):
    """LeNet-5 layout: 2 conv + 3 FC."""

    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(1, 6, 5, padding=2)
        self.c2 = nn.Conv2d(6, 16, 5)
        self.f1 = nn.Linear(16 * 5 * 5, 120)
        self.f2 = nn.Linear(120, 84)
        self.f3 = nn.Linear(84, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.c1(x)), 2)
        x = F.max_pool2d(F.relu(self.c2(x)), 2)
        x = torch.flatten(x, 1)
        return self.f3(F.relu(self.f2(F.relu(self.f1(x)))))


def conv_bn(cin, cout, k=3, stride=1, groups=1, relu=True):
    layers = [nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=False),
              nn.BatchNorm2d(cout)]
    if relu:
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class MobileNetS(nn.Module):
    """MobileNet-V1 style: 3x3 stem, then depthwise-separable blocks."""

    def __init__(self, cfg=((16, 32, 2), (32, 64, 1), (64, 128, 2), (128, 128, 1))):
        super().__init__()
        layers = [conv_bn(1, cfg[0][0])]
        for cin, cout, s in cfg:
            layers += [conv_bn(cin, cin, 3, s, groups=cin), conv_bn(cin, cout, 1)]
        self.features = nn.Sequential(*layers)
        self.fc = nn.Linear(cfg[-1][1], 10)

    def forward(self, x):
        x = F.adaptive_avg_pool2d(self.features(x), 1)
        return self.fc(torch.flatten(x, 1))


def channel_shuffle(x, c, h, w):
    # Constant-shape Reshape-Transpose-Reshape: OpenCV's ONNX importer fuses it into its
    # ShuffleChannel layer; the batch axis stays -1 so the batch size may change.
    x = x.reshape(-1, 2, c // 2, h, w).transpose(1, 2)
    return x.reshape(-1, c, h, w)


class ShuffleUnit(nn.Module):
    """ShuffleNet-V2 unit (groups of 2): split / branch / concat / shuffle."""

    def __init__(self, cin, cout, stride, hw):
        super().__init__()
        self.stride, self.cout, self.hw, self.half = stride, cout, hw, cin // 2
        mid = cout // 2
        bin_ = cin if stride == 2 else cin // 2
        self.branch = nn.Sequential(conv_bn(bin_, mid, 1), conv_bn(mid, mid, 3, stride, mid, False),
                                    conv_bn(mid, mid, 1))
        if stride == 2:
            self.short = nn.Sequential(conv_bn(cin, cin, 3, 2, cin, False), conv_bn(cin, mid, 1))

    def forward(self, x):
        if self.stride == 2:
            out = torch.cat([self.short(x), self.branch(x)], 1)
        else:
            # Constant slices: x.chunk(2, 1) exports a Shape/Gather/Add size computation
            # that OpenCV 4.6's importer rejects.
            a, b = x[:, :self.half], x[:, self.half:]
            out = torch.cat([a, self.branch(b)], 1)
        return channel_shuffle(out, self.cout, self.hw, self.hw)


class ShuffleNetS(nn.Module):
    def __init__(self, stages=((48, 2), (96, 2)), stem=24, last=192):
        super().__init__()
        self.stem = conv_bn(1, stem)  # 28x28
        layers, cin, hw = [], stem, 28
        for cout, n in stages:
            hw //= 2
            layers.append(ShuffleUnit(cin, cout, 2, hw))
            layers += [ShuffleUnit(cout, cout, 1, hw) for _ in range(n - 1)]
            cin = cout
        self.stages = nn.Sequential(*layers)
        self.last = conv_bn(cin, last, 1)
        self.fc = nn.Linear(last, 10)

    def forward(self, x):
        x = self.last(self.stages(self.stem(x)))
        x = F.adaptive_avg_pool2d(x, 1)
        return self.fc(torch.flatten(x, 1))


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.c1 = conv_bn(cin, cout, 3, stride)
        self.c2 = conv_bn(cout, cout, 3, 1, relu=False)
        self.short = None
        if stride != 1 or cin != cout:
            self.short = conv_bn(cin, cout, 1, stride, relu=False)

    def forward(self, x):
        s = x if self.short is None else self.short(x)
        return F.relu(self.c2(self.c1(x)) + s)


class ResNet(nn.Module):
    """CIFAR-style ResNet (depth 6n+2): 3 stages at 28, 14 and 7 pixels."""

    def __init__(self, n, widths=(16, 32, 64)):
        super().__init__()
        self.stem = conv_bn(1, widths[0])
        layers, cin = [], widths[0]
        for i, w in enumerate(widths):
            for j in range(n):
                layers.append(BasicBlock(cin, w, 2 if (i > 0 and j == 0) else 1))
                cin = w
        self.layers = nn.Sequential(*layers)
        self.fc = nn.Linear(cin, 10)

    def forward(self, x):
        x = F.adaptive_avg_pool2d(self.layers(self.stem(x)), 1)
        return self.fc(torch.flatten(x, 1))


# name -> (constructor, epochs, learning rate, one-line description)
ZOO = {
    "cnn-xs": (TinyCNN, 2, 1e-2, "Tiny CNN: two strided 3x3 convs (4, 8 channels) + 1 linear layer"),
    "lenet-s": (LeNet, 4, 3e-3, "LeNet-5 layout: 2 conv (5x5) + 3 fully connected"),
    "mobilenet-s": (MobileNetS, 4, 4e-3, "MobileNet-V1 style: 3x3 stem + 4 depthwise-separable blocks"),
    "shufflenet-s": (ShuffleNetS, 3, 4e-3, "ShuffleNet-V2 style: stem + 2 stages x 2 units (split/shuffle)"),
    "resnet-8": (lambda: ResNet(1), 3, 4e-3, "CIFAR-style ResNet-8, widths 16/32/64"),
    "resnet-14": (lambda: ResNet(2), 3, 4e-3, "CIFAR-style ResNet-14, widths 16/32/64"),
    "resnet-20": (lambda: ResNet(3), 3, 4e-3, "CIFAR-style ResNet-20, widths 16/32/64"),
}


# ----------------------------------------------------------------------------- train
def setup_torch():
    torch.set_num_threads(THREADS)
    torch.use_deterministic_algorithms(True)
    torch.manual_seed(SEED)
    np.random.seed(SEED)


def count_flops(model):
    """2 x multiply-adds of every Conv2d and Linear for one 1x1x28x28 image (groups
    respected; BatchNorm, activations, pooling and residual adds not counted). OpenCV
    4.6's Net::getFLOPS ignores a convolution's groups, so it overcounts depthwise and
    grouped convolutions; the manifest gives both."""
    total = [0]

    def hook(mod, inp, out):
        if isinstance(mod, nn.Conv2d):
            k = mod.kernel_size[0] * mod.kernel_size[1] * (mod.in_channels // mod.groups)
            total[0] += 2 * out.numel() * k
        elif isinstance(mod, nn.Linear):
            total[0] += 2 * mod.in_features * mod.out_features

    hooks = [m.register_forward_hook(hook) for m in model.modules()
             if isinstance(m, (nn.Conv2d, nn.Linear))]
    model.eval()
    with torch.no_grad():
        model(torch.zeros(1, 1, 28, 28))
    for h in hooks:
        h.remove()
    return total[0]


def evaluate_torch(model, x, y):
    model.eval()
    correct, logits = 0, []
    with torch.no_grad():
        for i in range(0, len(x), 1000):
            out = model(x[i:i + 1000])
            logits.append(out)
            correct += (out.argmax(1) == y[i:i + 1000]).sum().item()
    return correct / len(x), torch.cat(logits)


def train_one(name, xtr, ytr, xte, yte):
    ctor, epochs, lr, _ = ZOO[name]
    # Every model starts from the same seed, so its result does not depend on which
    # other models were trained before it in this process.
    torch.manual_seed(SEED)
    model = ctor()
    params = sum(p.numel() for p in model.parameters())
    steps_per_epoch = (len(xtr) + BATCH - 1) // BATCH
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, epochs=epochs,
                                                steps_per_epoch=steps_per_epoch)
    t0 = time.time()
    for ep in range(epochs):
        model.train()
        # Deterministic data order: a permutation from a per-epoch seeded generator.
        perm = torch.from_numpy(np.random.RandomState(SEED + ep).permutation(len(xtr)))
        te = time.time()
        total = 0.0
        for i in range(0, len(xtr), BATCH):
            idx = perm[i:i + BATCH]
            xb, yb = xtr[idx], ytr[idx]
            loss = F.cross_entropy(model(xb), yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item() * len(idx)
        print(f"  {name} epoch {ep + 1}/{epochs}: loss {total / len(xtr):.4f} "
              f"({time.time() - te:.1f} s)", flush=True)
    train_s = time.time() - t0
    acc, logits = evaluate_torch(model, xte, yte)
    print(f"  {name}: torch top-1 {acc:.4f}, {params} params, {train_s:.1f} s", flush=True)

    os.makedirs(MODELS_DIR, exist_ok=True)
    os.makedirs(WORK_DIR, exist_ok=True)
    path = os.path.join(MODELS_DIR, f"{name}.onnx")
    model.eval()
    torch.onnx.export(model, torch.zeros(1, 1, 28, 28), path, opset_version=13,
                      input_names=["input"], output_names=["logits"],
                      dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})
    logits[:SAMPLE].numpy().astype("<f4").tofile(os.path.join(WORK_DIR, f"{name}.torch.f32"))
    meta = {"name": name, "params": params, "flops": count_flops(model), "epochs": epochs, "lr": lr, "batch": BATCH,
            "train_seconds": round(train_s, 1), "torch_top1": acc, "seed": SEED,
            "threads": THREADS}
    with open(os.path.join(WORK_DIR, f"{name}.train.json"), "w") as f:
        json.dump(meta, f, indent=1)
    return meta


def cmd_train(args):
    setup_torch()
    names = args.names or list(ZOO)
    for n in names:
        if n not in ZOO:
            sys.exit(f"unknown model {n!r}; known: {', '.join(ZOO)}")
    xtr, ytr = load_split("train")
    xte, yte = load_split("test")
    t0 = time.time()
    for n in names:
        train_one(n, xtr, ytr, xte, yte)
    print(f"trained {len(names)} model(s) in {time.time() - t0:.1f} s", flush=True)


# ----------------------------------------------------------------------------- manifest
def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def run_zoo_eval(binary, names, split, extra):
    cmd = [binary, "--data", DATA_DIR, "--split", split, "--threads", str(THREADS)]
    for n in names:
        cmd += ["--model", n, os.path.join(MODELS_DIR, f"{n}.onnx"), repr(SCALE), repr(MEAN)]
    cmd += extra
    print("+ " + " ".join(cmd), flush=True)
    out = subprocess.run(cmd, check=True, stdout=subprocess.PIPE, text=True).stdout
    return {m["name"]: m for m in json.loads(out)["models"]}


def fmt(v):
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return repr(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(fmt(x) for x in v) + "]"
    return str(v)


# The manifest header's description of the [[model.cut]] tables that tools/zoo/split.py
# adds after cmd_manifest (split.py puts the same lines into an existing manifest).
CUT_COMMENT = [
    "#",
    "# [[model.cut]]: split execution (tools/zoo/split.py, the last step of build.sh). Each",
    "#   such table after a [[model]] is one cut point of that model: the head (the first",
    "#   `layer` nodes of the ONNX graph in topological order; input \"input\") and the tail",
    "#   (the other nodes; its input is named `tensor`, output \"logits\") are ONNX files",
    "#   under models/split/, and tail(head(x)) = full(x). Exactly one tensor crosses a cut;",
    "#   shape is its shape for one image (batch axis dynamic), elements the number of",
    "#   float32 values per image. max_diff: max |tail(head(x)) - full(x)| over the first",
    f"#   {SAMPLE} test images through OpenCV DNN (tests/zoo checks 1e-4 on 200). Cuts sit",
    "#   after Relu, Add, pooling, Flatten or Concat nodes (tools/zoo/README.md).",
]


def cmd_manifest(args):
    names = [n for n in ZOO if os.path.exists(os.path.join(MODELS_DIR, f"{n}.onnx"))]
    if not names:
        sys.exit("no exported models under models/: run `zoo.py train` first")
    outdir = os.path.join(MODELS_DIR, "outcomes")
    os.makedirs(outdir, exist_ok=True)
    test = run_zoo_eval(args.zoo_eval, names, "test",
                        ["--outcomes", outdir, "--dump-logits", WORK_DIR, str(SAMPLE),
                         "--time-images", str(args.time_images)])
    if not args.no_train_outcomes:
        run_zoo_eval(args.zoo_eval, names, "train", ["--outcomes", outdir, "--time-images", "0"])

    lines = [
        "# tierd model zoo: Fashion-MNIST classifiers (generated by tools/zoo/build.sh; do not edit).",
        "#",
        "# Input: one 28x28 single-channel image, NCHW float32 blob [1,1,28,28] (the batch axis",
        "# is dynamic). Normalisation: x = (pixel - mean) * scale, pixel = raw uint8 0..255,",
        "# i.e. cv::dnn::blobFromImage(img, scale, cv::Size(28, 28), cv::Scalar(mean)).",
        "# Output \"logits\": [N,10] raw scores (no softmax); class order = classes below.",
        "#",
        "# top1: fraction correct on the 10,000-image test split, measured through OpenCV DNN",
        "#   in C++ (tools/zoo/zoo_eval) with the normalisation above; top1_first1000: the",
        "#   same on the first 1,000 test images (tests/zoo checks it). torch_top1: the same",
        "#   in PyTorch before export. max_logit_diff: max |torch - OpenCV| over the first",
        f"#   {SAMPLE} test images.",
        "# flops: 2 x multiply-adds of the conv and linear layers for one image, counted in",
        "#   PyTorch (tools/zoo/zoo.py count_flops; depthwise/grouped convs counted correctly).",
        "# opencv_flops: cv::dnn::Net::getFLOPS({1,1,28,28}) as zoo_eval reports it; OpenCV",
        "#   4.6 ignores a convolution's groups, so it overcounts depthwise convolutions.",
        "# params: trainable parameters in PyTorch (including BatchNorm's, which the export",
        "#   folds into the convolutions).",
        "# ms_per_image_b1 / ms_per_image_b100: OpenCV DNN, CPU backend, 2 threads, batch 1",
        "#   and batch 100, on the machine that built the zoo; train_seconds: wall time of",
        "#   training (2 threads, shared machine). These are measurements that vary by run",
        "#   and load; the rest is reproducible (tools/zoo/README.md, Reproducibility).",
        "# outcomes: per-image results of the OpenCV model, gzipped CSV, columns",
        "#   index,label,pred,correct,p_max,p_2nd,entropy (softmax of the logits).",
        *CUT_COMMENT,
        "",
        "schema = 1",
        'dataset = "fashion-mnist"',
        f'dataset_dir = {fmt(DATA_DIR)}',
        f"classes = {fmt(CLASSES)}",
        "input_shape = [1, 1, 28, 28]",
        'input_name = "input"',
        'output_name = "logits"',
        f"scale = {fmt(SCALE)}",
        f"mean = {fmt(MEAN)}",
        'normalisation = "x = (pixel - mean) * scale; pixel in 0..255"',
        "",
    ]
    total = 0
    for n in names:
        path = os.path.join(MODELS_DIR, f"{n}.onnx")
        for suffix in (".train.json", ".torch.f32", ".opencv.f32"):
            if not os.path.exists(os.path.join(WORK_DIR, n + suffix)):
                sys.exit(f"{n}: {os.path.join(WORK_DIR, n + suffix)} missing: this build "
                         f"directory did not train {n}; rebuild it (tools/zoo/build.sh {n})")
        meta = json.load(open(os.path.join(WORK_DIR, f"{n}.train.json")))
        meta["flops"] = count_flops(ZOO[n][0]())  # depends on the architecture only
        ocv = np.fromfile(os.path.join(WORK_DIR, f"{n}.opencv.f32"), dtype="<f4")
        ref = np.fromfile(os.path.join(WORK_DIR, f"{n}.torch.f32"), dtype="<f4")
        if ocv.shape != ref.shape:
            sys.exit(f"{n}: logit dumps differ in size ({ocv.shape} vs {ref.shape})")
        diff = float(np.abs(ocv - ref).max())
        r = test[n]
        with gzip.open(os.path.join(outdir, f"{n}-test.csv.gz"), "rt") as f:
            rows = f.read().splitlines()[1:1001]
        first1000 = sum(int(row.split(",")[3]) for row in rows) / len(rows)
        size = os.path.getsize(path)
        total += size
        entry = [
            "[[model]]",
            f"name = {fmt(n)}",
            f"file = {fmt(n + '.onnx')}",
            f"sha256 = {fmt(sha256(path))}",
            f"bytes = {size}",
            f"description = {fmt(ZOO[n][3])}",
            f"params = {meta['params']}",
            f"flops = {meta['flops']}",
            f"opencv_flops = {r['flops']}",
            f"top1 = {r['top1']:.4f}",
            f"top1_first1000 = {first1000:.4f}",
            f"torch_top1 = {meta['torch_top1']:.4f}",
            f"max_logit_diff = {float('%.3g' % diff)!r}",
            f"epochs = {meta['epochs']}",
            f"ms_per_image_b1 = {r['ms_per_image_b1']:.4f}",
            f"ms_per_image_b100 = {r['ms_per_image_batch']:.4f}",
            f"train_seconds = {meta['train_seconds']}",
            f"outcomes_test = {fmt('outcomes/' + n + '-test.csv.gz')}",
        ]
        if not args.no_train_outcomes:
            entry.append(f"outcomes_train = {fmt('outcomes/' + n + '-train.csv.gz')}")
        lines += entry + [""]
        print(f"{n:14s} params {meta['params']:8d}  flops {meta['flops'] / 1e6:8.2f} M "
              f"(opencv {r['flops'] / 1e6:.2f} M)  "
              f"top1 {r['top1']:.4f} (torch {meta['torch_top1']:.4f})  diff {diff:.2e}  "
              f"{size / 1e3:8.1f} kB  {r['ms_per_image_b1']:.3f} ms/img b1  "
              f"{r['ms_per_image_batch']:.3f} ms/img b100", flush=True)
        if r["top1"] + 0.005 < meta["torch_top1"] or diff > 1e-3:
            sys.exit(f"{n}: OpenCV disagrees with torch (top1 {r['top1']} vs "
                     f"{meta['torch_top1']}, max logit diff {diff})")
    if total >= 30 * 1000 * 1000:
        sys.exit(f"model files total {total} bytes: over the 30 MB budget")
    # The video detectors' tables (tools/detect/manifest.py) and the compressed variants'
    # (tools/compress/ship.py) follow the zoo's: kept as they are.
    path = os.path.join(MODELS_DIR, "manifest.toml")
    detectors = ""
    if os.path.exists(path):
        old = open(path).read()
        found = [i for i in (old.find(DETECTOR_MARKER), old.find(COMPRESS_MARKER)) if i >= 0]
        at = min(found) if found else -1
        if at >= 0:
            detectors = "\n" + old[at:]
    with open(path, "w") as f:
        f.write("\n".join(lines).rstrip("\n") + "\n" + detectors)
    print(f"wrote models/manifest.toml ({len(names)} models, {total / 1e6:.2f} MB of ONNX)")


# Where tools/detect/manifest.py's [[detector]] tables begin in models/manifest.toml.
DETECTOR_MARKER = "# ---- [[detector]] tables: tools/detect/manifest.py"
# Where tools/compress/ship.py's [[model]] tables (compressed variants) begin: kept too.
COMPRESS_MARKER = "# ---- [[model]] tables: tools/compress/ship.py"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("train")
    t.add_argument("names", nargs="*")
    m = sub.add_parser("manifest")
    m.add_argument("--zoo-eval", required=True)
    m.add_argument("--time-images", type=int, default=300)
    m.add_argument("--no-train-outcomes", action="store_true")
    sub.add_parser("list")
    args = ap.parse_args()
    if args.cmd == "train":
        cmd_train(args)
    elif args.cmd == "manifest":
        cmd_manifest(args)
    else:
        print("\n".join(ZOO))


if __name__ == "__main__":
    main()
