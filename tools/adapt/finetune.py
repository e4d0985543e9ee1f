#!/usr/bin/python3
"""Fine-tune a bundled classifier on the edge or cloud and write it back as ONNX.

  finetune.py --model IN.onnx --out OUT.onnx --method full|head|tent
              --images IDX [--labels IDX] [--range FIRST:COUNT] ...

The job behind "the whole model fine-tuned on the edge and pushed" (docs/adaptation.md):
the model's ONNX file is turned back into a torch module (the zoo's operators: Conv, Relu,
MaxPool, GlobalAveragePool, Add, Flatten, Gemm), trained with torch's autograd, exported
with the same input and output names, and checked through OpenCV DNN (the runtime the
device uses) against torch before it is written. The output is what `tierctl models push`
sends; the device's held-back check decides whether it stays.

Methods:
  full   every weight, cross-entropy on the labels (teacher answers or true labels);
         --replay mixes in as many labelled source images so clean accuracy is kept.
  head   the last linear layer only (what the device's own head learner tunes).
  tent   no labels: a per-channel normalisation with batch statistics after every
         convolution, its scale and shift (initialised to the source statistics measured
         on --source images) trained to minimise the prediction entropy (TENT, Wang et
         al., ICLR'21), then frozen at the adaptation images' statistics and folded into
         the convolutions: the output has the input's layers and speed.

Exit status: 0 written; 1 failure (unreadable input, OpenCV disagrees with torch);
2 bad arguments (an operator the converter does not know is 1, and names it).
"""
import argparse
import gzip
import json
import os
import sys
import tempfile
import time

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402
import onnx  # noqa: E402
from onnx import numpy_helper  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

FASHION = "/usr/share/datasets/fashion-mnist"


def read_idx(path):
    """An IDX file (gzipped or raw) as a numpy array."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 8:
        raise ValueError(f"{path}: not an unsigned-byte IDX file")
    dims = data[3]
    shape = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(dims)]
    body = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims)
    if body.size != int(np.prod(shape)):
        raise ValueError(f"{path}: {body.size} bytes of data, the header says {shape}")
    return body.reshape(shape)


def parse_range(text, n):
    """FIRST:COUNT -> slice; empty -> everything."""
    if not text:
        return slice(0, n)
    first, count = (int(v) for v in text.split(":"))
    if first < 0 or count <= 0 or first + count > n:
        raise ValueError(f"range {text} is outside 0..{n}")
    return slice(first, first + count)


# ------------------------------------------------------------------ ONNX -> torch module
class OnnxModule(nn.Module):
    """Runs an ONNX graph of the zoo's operators with torch ops, initialisers as
    parameters. Differentiable (autograd), exportable again (tracing)."""

    SUPPORTED = {"Conv", "Relu", "MaxPool", "GlobalAveragePool", "Add", "Flatten", "Gemm",
                 "Sigmoid", "Resize", "Constant"}

    def __init__(self, model):
        super().__init__()
        graph = model.graph
        unknown = sorted({n.op_type for n in graph.node} - self.SUPPORTED)
        if unknown:
            raise NotImplementedError(
                "operators the converter does not know: " + ", ".join(unknown))
        self.nodes = list(graph.node)
        self.input_name = graph.input[0].name
        self.output_names = [o.name for o in graph.output]
        self.keys = {}  # initialiser name -> parameter key (dots are not allowed in keys)
        self.params = nn.ParameterDict()
        for init in graph.initializer:
            key = "p%d" % len(self.keys)
            self.keys[init.name] = key
            self.params[key] = nn.Parameter(torch.from_numpy(numpy_helper.to_array(init).copy()))
        # Per-convolution modules applied to a convolution's output (TENT), keyed by
        # the output's name through norm_keys; empty for the other methods.
        self.norms = nn.ModuleDict()
        self.norm_keys = {}

    def param(self, name):
        return self.params[self.keys[name]]

    def conv_nodes(self):
        return [n for n in self.nodes if n.op_type == "Conv"]

    def forward(self, x):
        values = {self.input_name: x}
        for node in self.nodes:
            a = {at.name: onnx.helper.get_attribute_value(at) for at in node.attribute}
            ins = [values[i] if i in values else self.param(i) for i in node.input if i]
            op = node.op_type
            if op == "Conv":
                pads = list(a.get("pads", [0, 0, 0, 0]))
                if pads[0] != pads[2] or pads[1] != pads[3]:
                    raise NotImplementedError(f"{node.name}: asymmetric padding")
                y = F.conv2d(ins[0], ins[1], ins[2] if len(ins) > 2 else None,
                             stride=list(a.get("strides", [1, 1])), padding=pads[:2],
                             dilation=list(a.get("dilations", [1, 1])),
                             groups=int(a.get("group", 1)))
                if node.output[0] in self.norm_keys:
                    y = self.norms[self.norm_keys[node.output[0]]](y)
            elif op == "Relu":
                y = F.relu(ins[0])
            elif op == "Sigmoid":
                y = torch.sigmoid(ins[0])
            elif op == "Constant":
                y = torch.from_numpy(numpy_helper.to_array(a["value"]).copy())
            elif op == "Resize":
                # The detectors' 2x nearest upsampling (scales from a Constant).
                scales = [float(v) for v in ins[-1]]
                if a.get("mode", b"nearest") != b"nearest" or scales[:2] != [1.0, 1.0]:
                    raise NotImplementedError(f"{node.name}: only nearest spatial Resize")
                y = F.interpolate(ins[0], scale_factor=(scales[2], scales[3]), mode="nearest")
            elif op == "MaxPool":
                pads = list(a.get("pads", [0, 0, 0, 0]))
                y = F.max_pool2d(ins[0], list(a["kernel_shape"]),
                                 list(a.get("strides", a["kernel_shape"])), pads[:2])
            elif op == "GlobalAveragePool":
                y = F.adaptive_avg_pool2d(ins[0], 1)
            elif op == "Add":
                y = ins[0] + ins[1]
            elif op == "Flatten":
                y = torch.flatten(ins[0], int(a.get("axis", 1)))
            elif op == "Gemm" and (int(a.get("transB", 0)) == 1 and len(ins) == 3
                                   and a.get("alpha", 1.0) == 1.0 and a.get("beta", 1.0) == 1.0):
                y = F.linear(ins[0], ins[1], ins[2])  # exports as Gemm again
            elif op == "Gemm":
                w = ins[1].t() if int(a.get("transB", 0)) else ins[1]
                y = float(a.get("alpha", 1.0)) * (ins[0] @ w)
                if len(ins) > 2:
                    y = y + float(a.get("beta", 1.0)) * ins[2]
            values[node.output[0]] = y
        if len(self.output_names) == 1:
            return values[self.output_names[0]]
        return tuple(values[name] for name in self.output_names)

    def head_params(self):
        """The last Gemm's weight and bias."""
        gemms = [n for n in self.nodes if n.op_type == "Gemm"]
        return [self.param(i) for i in gemms[-1].input[1:]]


class BatchStatNorm(nn.Module):
    """y' = (y - mean_batch) / std_batch * scale + shift, per channel. In `frozen` mode the
    statistics recorded last are used instead of the batch's."""

    def __init__(self, mean, std):
        super().__init__()
        self.scale = nn.Parameter(std.clone())
        self.shift = nn.Parameter(mean.clone())
        self.frozen = False
        self.register_buffer("mean", torch.zeros_like(mean))
        self.register_buffer("std", torch.ones_like(std))

    def forward(self, y):
        if self.frozen:
            m, s = self.mean, self.std
        else:
            m = y.mean(dim=(0, 2, 3))
            s = torch.sqrt(y.var(dim=(0, 2, 3), unbiased=False) + 1e-5)
            self.mean, self.std = m.detach(), s.detach()
        return (y - m[None, :, None, None]) / s[None, :, None, None] \
            * self.scale[None, :, None, None] + self.shift[None, :, None, None]


def load_module(path):
    model = onnx.load(path)
    return OnnxModule(model), model


# ------------------------------------------------------------------ training
def to_tensor(images, scale, mean):
    x = (images.astype(np.float32) - mean) * scale
    return torch.from_numpy(x[:, None, :, :].copy())


def predict(net, x, batch=512):
    net.eval()
    with torch.no_grad():
        return torch.cat([net(x[i:i + batch]) for i in range(0, len(x), batch)])


def train_supervised(net, x, y, params, epochs, lr, batch, seed):
    opt = torch.optim.Adam(params, lr=lr)
    g = torch.Generator().manual_seed(seed)
    net.train()
    steps = 0
    for _ in range(epochs):
        order = torch.randperm(len(x), generator=g)
        for i in range(0, len(x), batch):
            idx = order[i:i + batch]
            loss = F.cross_entropy(net(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            steps += 1
    return steps


class Recorder(nn.Module):
    """Identity that keeps what passed through it last."""

    def __init__(self):
        super().__init__()
        self.last = None

    def forward(self, y):
        self.last = y.detach()
        return y


def source_statistics(net, x_source):
    """Per convolution output (before its activation): mean and std over the source
    images, batch and positions, through the unchanged net."""
    net.norm_keys = {n.output[0]: "n%d" % i for i, n in enumerate(net.conv_nodes())}
    for key in net.norm_keys.values():
        net.norms[key] = Recorder()
    with torch.no_grad():
        net(x_source)
    return {name: (net.norms[key].last.mean(dim=(0, 2, 3)),
                   net.norms[key].last.std(dim=(0, 2, 3), unbiased=False))
            for name, key in net.norm_keys.items()}


def tent(net, x_target, x_source, steps, lr, batch, seed):
    """Entropy minimisation of per-channel scale/shift over batch statistics; returns the
    steps taken. Afterwards the norms are frozen at x_target's statistics."""
    stats = source_statistics(net, x_source)
    for name, key in net.norm_keys.items():
        mean, std = stats[name]
        net.norms[key] = BatchStatNorm(mean, std)
    params = [p for m in net.norms.values() for p in (m.scale, m.shift)]
    for p in net.params.values():
        p.requires_grad_(False)
    opt = torch.optim.Adam(params, lr=lr, betas=(0.9, 0.999))
    g = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        idx = torch.randperm(len(x_target), generator=g)[:batch]
        p = F.softmax(net(x_target[idx]), dim=1)
        loss = -(p * torch.log(p + 1e-8)).sum(dim=1).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        net(x_target)  # statistics of all the adaptation images
    for m in net.norms.values():
        m.frozen = True
    return steps


def fold_norms(net):
    """Folds each frozen BatchStatNorm into its convolution's weight and bias."""
    with torch.no_grad():
        for node in net.conv_nodes():
            key = net.norm_keys.get(node.output[0])
            if key is None:
                continue
            m = net.norms[key]
            a = m.scale / m.std
            b = m.shift - a * m.mean
            w = net.param(node.input[1])
            w.mul_(a[:, None, None, None])
            if len(node.input) > 2 and node.input[2]:
                bias = net.param(node.input[2])
                bias.mul_(a).add_(b)
            else:
                raise NotImplementedError(f"{node.name}: a convolution without bias")
    net.norm_keys = {}
    net.norms = nn.ModuleDict()


# ------------------------------------------------------------------ export and check
def export(net, model, out, sample):
    """Writes `out` (ONNX, opset 13, the input's tensor names) and returns the largest
    |torch - OpenCV| difference of any output on `sample`; nothing is written when it is
    over 1e-3 (RuntimeError)."""
    import cv2  # OpenCV DNN: the device's runtime

    net.eval()
    in_name = model.graph.input[0].name
    out_names = [o.name for o in model.graph.output]
    fd, tmp = tempfile.mkstemp(suffix=".onnx", dir=os.path.dirname(os.path.abspath(out)))
    os.close(fd)
    try:
        torch.onnx.export(net, sample[:1], tmp, opset_version=13, input_names=[in_name],
                          output_names=out_names,
                          dynamic_axes={n: {0: "N"} for n in [in_name] + out_names},
                          do_constant_folding=True)
        cvnet = cv2.dnn.readNetFromONNX(tmp)
        cvnet.setInput(sample.numpy())
        got = cvnet.forward(out_names)
        with torch.no_grad():
            want = net(sample)
        if len(out_names) == 1:
            want = (want,)
        diff = max(float(np.abs(g - w.numpy()).max()) for g, w in zip(got, want))
        if diff > 1e-3:
            raise RuntimeError(f"OpenCV and torch disagree on the exported model by {diff}")
        os.replace(tmp, out)
        return diff
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def opencv_accuracy(path, x, y):
    import cv2

    cvnet = cv2.dnn.readNetFromONNX(path)
    correct = 0
    for i in range(0, len(x), 500):
        cvnet.setInput(x[i:i + 500].numpy())
        correct += int((cvnet.forward().argmax(1) == y[i:i + 500].numpy()).sum())
    return correct / len(x)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", required=True, help="the ONNX classifier to start from")
    ap.add_argument("--out", required=True, help="the fine-tuned ONNX file to write")
    ap.add_argument("--method", required=True, choices=["full", "head", "tent"])
    ap.add_argument("--images", required=True, help="IDX images to learn from")
    ap.add_argument("--labels", help="their IDX labels (full, head)")
    ap.add_argument("--range", default="", help="FIRST:COUNT of --images to use [all]")
    ap.add_argument("--scale", type=float, default=1 / 90, help="input = (pixel - mean) * scale")
    ap.add_argument("--mean", type=float, default=73.0)
    ap.add_argument("--epochs", type=int, default=20, help="full, head [20]")
    ap.add_argument("--lr", type=float, default=0, help="[full 5e-4, head 1e-3, tent 1e-3]")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--steps", type=int, default=20, help="tent: optimiser steps [20]")
    ap.add_argument("--replay", type=int, default=0,
                    help="full, head: this many labelled source images mixed in [0]")
    ap.add_argument("--replay-from", default="",
                    help="FIRST:COUNT of --source the replayed images are drawn from [all]")
    ap.add_argument("--source", default=FASHION + "/train-images-idx3-ubyte.gz",
                    help="source images (replay, tent's source statistics)")
    ap.add_argument("--source-labels", default=FASHION + "/train-labels-idx1-ubyte.gz")
    ap.add_argument("--source-count", type=int, default=1000,
                    help="tent: source images for the statistics [1000]")
    ap.add_argument("--eval-images", help="IDX images to report OpenCV accuracy on")
    ap.add_argument("--eval-labels")
    ap.add_argument("--eval-range", default="")
    ap.add_argument("--seed", type=int, default=20261206)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--report", help="write what was done as JSON here")
    args = ap.parse_args()
    if args.method in ("full", "head") and not args.labels:
        ap.error(f"--method {args.method} needs --labels")
    if args.eval_images and not args.eval_labels:
        ap.error("--eval-images needs --eval-labels")

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    started = time.monotonic()
    try:
        net, model = load_module(args.model)
        images = read_idx(args.images)
        part = parse_range(args.range, len(images))
        x = to_tensor(images[part], args.scale, args.mean)
        y = torch.from_numpy(read_idx(args.labels)[part].astype(np.int64)) if args.labels else None
        if y is not None and len(y) != len(x):
            raise ValueError("--images and --labels differ in count")
    except (OSError, ValueError, NotImplementedError) as e:
        print(f"finetune.py: {e}", file=sys.stderr)
        return 1

    lr = args.lr or {"full": 5e-4, "head": 1e-3, "tent": 1e-3}[args.method]
    rng = np.random.default_rng(args.seed)
    replayed = 0
    if args.method in ("full", "head"):
        if args.replay > 0:
            try:
                src = read_idx(args.source)
                src_y = read_idx(args.source_labels)
                pool = parse_range(args.replay_from, len(src))
            except (OSError, ValueError) as e:
                print(f"finetune.py: --replay: {e}", file=sys.stderr)
                return 1
            pick = pool.start + rng.choice(pool.stop - pool.start,
                                           size=min(args.replay, pool.stop - pool.start),
                                           replace=False)
            x = torch.cat([x, to_tensor(src[pick], args.scale, args.mean)])
            y = torch.cat([y, torch.from_numpy(src_y[pick].astype(np.int64))])
            replayed = len(pick)
        params = list(net.params.values()) if args.method == "full" else net.head_params()
        for p in net.params.values():
            p.requires_grad_(False)
        for p in params:
            p.requires_grad_(True)
        steps = train_supervised(net, x, y, params, args.epochs, lr, args.batch, args.seed)
    else:
        try:
            src = read_idx(args.source)
        except (OSError, ValueError) as e:
            print(f"finetune.py: --source: {e}", file=sys.stderr)
            return 1
        pick = rng.choice(len(src), size=min(args.source_count, len(src)), replace=False)
        steps = tent(net, x, to_tensor(src[pick], args.scale, args.mean), args.steps, lr,
                     args.batch, args.seed)
        fold_norms(net)
    train_s = time.monotonic() - started
    try:
        diff = export(net, model, args.out, x[:64])
    except RuntimeError as e:
        print(f"finetune.py: {e}", file=sys.stderr)
        return 1
    report = {"model": args.model, "out": args.out, "method": args.method,
              "images": int(part.stop - part.start), "replayed": replayed, "steps": steps,
              "lr": lr, "train_s": round(train_s, 2), "max_logit_diff_opencv": diff,
              "bytes": os.path.getsize(args.out)}
    if args.eval_images:
        ev = read_idx(args.eval_images)
        ev_part = parse_range(args.eval_range, len(ev))
        ex = to_tensor(ev[ev_part], args.scale, args.mean)
        ey = torch.from_numpy(read_idx(args.eval_labels)[ev_part].astype(np.int64))
        report["eval_accuracy"] = opencv_accuracy(args.out, ex, ey)
        report["eval_accuracy_before"] = opencv_accuracy(args.model, ex, ey)
    text = json.dumps(report)
    if args.report:
        with open(args.report, "w") as f:
            f.write(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
