"""The elastic ResNet that pruning and the architecture search share (issue 19).

One network, ``ElasticResNet``, holds the largest member of the search space: the zoo's
CIFAR-style ResNet-20 (3 stages of 3 BasicBlocks, widths 16/32/64) with 5x5 kernels whose
3x3 centres are ResNet-20's own weights. Every architecture of the space runs on it by
slicing (``forward(x, arch)``), Once-for-All style:

  res     20 | 24 | 28       the 28x28 input resized (bilinear) inside the network
  depth   1..3 per stage     the first d blocks of the stage run
  width   0.5 | 0.75 | 1.0   per stage: the first round(base * m) channels (base 16/32/64)
  kernel  3 | 5 per block    a 3x3 is the centre of the block's 5x5 weights

Channels are sorted by importance (L1 norm of the filters writing them, the criterion of
Li et al., "Pruning Filters for Efficient ConvNets") once, when the network is built from
the parent, so that "the first c channels" are the c most important ones: structured
channel pruning is this network's slicing at one width with the parent's weights,
followed by fine-tuning.

The parent is read from its exported ONNX file (the zoo ships no PyTorch checkpoint): the
export folded each BatchNorm into its convolution, so the BatchNorms are rebuilt as exact
identities over the folded convolutions (running statistics measured on training images,
scale and shift chosen so that eval(BN(z)) = z + bias). The network then equals the ONNX
model in eval mode, and trains like a BatchNorm network (`check_against_onnx`).

Architectures are plain dicts, ``{"res", "depth", "width", "kernel"}``, the JSON that
tools/compress/nas_search reads and writes; `canonical` puts kernels of absent blocks at 3.
"""
import copy
import random

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

BASE = (16, 32, 64)
RESOLUTIONS = (20, 24, 28)
WIDTHS = (0.5, 0.75, 1.0)
KERNELS = (3, 5)
MAX_DEPTH = 3
KMAX = 5
BN_EPS = 1e-5


# ----------------------------------------------------------------------------- architectures
def channels(arch):
    return [int(round(b * m)) for b, m in zip(BASE, arch["width"])]


def canonical(arch):
    """The same network, written one way: absent blocks' kernels are 3, lists are lists."""
    kernel = [[int(arch["kernel"][s][j]) if j < arch["depth"][s] else 3 for j in range(MAX_DEPTH)]
              for s in range(3)]
    return {"res": int(arch["res"]), "depth": [int(d) for d in arch["depth"]],
            "width": [float(w) for w in arch["width"]], "kernel": kernel}


def arch_key(arch):
    a = canonical(arch)
    return (a["res"], tuple(a["depth"]), tuple(a["width"]), tuple(map(tuple, a["kernel"])))


def largest():
    return canonical({"res": 28, "depth": [3, 3, 3], "width": [1.0, 1.0, 1.0], "kernel": [[5] * 3] * 3})


def smallest():
    return canonical({"res": 20, "depth": [1, 1, 1], "width": [0.5, 0.5, 0.5], "kernel": [[3] * 3] * 3})


def resnet20():
    """The parent itself: every block, full width, 3x3 kernels, full resolution."""
    return canonical({"res": 28, "depth": [3, 3, 3], "width": [1.0, 1.0, 1.0], "kernel": [[3] * 3] * 3})


def random_arch(rng):
    depth = [rng.choice((1, 2, 3)) for _ in range(3)]
    return canonical({"res": rng.choice(RESOLUTIONS), "depth": depth,
                      "width": [rng.choice(WIDTHS) for _ in range(3)],
                      "kernel": [[rng.choice(KERNELS) for _ in range(MAX_DEPTH)] for _ in range(3)]})


def arch_name(arch):
    """A short file-name-safe label, e.g. r24-d231-w75.100.50-k35x533x3 (widths in percent)."""
    a = canonical(arch)
    w = ".".join(str(int(round(m * 100))) for m in a["width"])
    k = "x".join("".join(str(k) for k in a["kernel"][s][:a["depth"][s]]) for s in range(3))
    return f"r{a['res']}-d{''.join(map(str, a['depth']))}-w{w}-k{k}"


def spatial_sizes(res):
    h2 = (res + 1) // 2
    return res, h2, (h2 + 1) // 2


# ----------------------------------------------------------------------------- the network
class ElasticConv(nn.Module):
    """A convolution sliced to (cout, cin of the input, k <= kmax) at run time."""

    def __init__(self, cin, cout, kmax):
        super().__init__()
        self.kmax = kmax
        self.weight = nn.Parameter(torch.zeros(cout, cin, kmax, kmax))

    def forward(self, x, cout, k, stride):
        lo = (self.kmax - k) // 2
        w = self.weight[:cout, :x.shape[1], lo:lo + k, lo:lo + k]
        return F.conv2d(x, w, None, stride, k // 2)


class ElasticBN(nn.BatchNorm2d):
    """BatchNorm over the first c channels (its statistics and affine terms sliced)."""

    def forward(self, x):
        c = x.shape[1]
        if self.training:
            self.num_batches_tracked += 1
        momentum = self.momentum if self.momentum is not None else 1.0 / float(self.num_batches_tracked)
        return F.batch_norm(x, self.running_mean[:c], self.running_var[:c], self.weight[:c],
                            self.bias[:c], self.training, momentum, self.eps)


class Block(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.stride = stride
        self.c1, self.bn1 = ElasticConv(cin, cout, KMAX), ElasticBN(cout, eps=BN_EPS)
        self.c2, self.bn2 = ElasticConv(cout, cout, KMAX), ElasticBN(cout, eps=BN_EPS)
        self.short = self.bn_short = None
        if stride != 1 or cin != cout:
            self.short, self.bn_short = ElasticConv(cin, cout, 1), ElasticBN(cout, eps=BN_EPS)

    def forward(self, x, c, k):
        y = F.relu(self.bn1(self.c1(x, c, k, self.stride)))
        y = self.bn2(self.c2(y, c, k, 1))
        s = x if self.short is None else self.bn_short(self.short(x, c, 1, self.stride))
        return F.relu(y + s)


class ElasticResNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem, self.bn_stem = ElasticConv(1, BASE[0], 3), ElasticBN(BASE[0], eps=BN_EPS)
        self.stages = nn.ModuleList()
        cin = BASE[0]
        for s, c in enumerate(BASE):
            self.stages.append(nn.ModuleList(Block(cin if j == 0 else c, c, 2 if (s > 0 and j == 0) else 1)
                                             for j in range(MAX_DEPTH)))
            cin = c
        self.fc = nn.Linear(BASE[-1], 10)

    def forward(self, x, arch):
        if arch["res"] != x.shape[-1]:
            x = F.interpolate(x, size=(arch["res"], arch["res"]), mode="bilinear", align_corners=False)
        cs = channels(arch)
        x = F.relu(self.bn_stem(self.stem(x, cs[0], 3, 1)))
        for s, stage in enumerate(self.stages):
            for j in range(arch["depth"][s]):
                x = stage[j](x, cs[s], arch["kernel"][s][j])
        x = torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)
        return F.linear(x, self.fc.weight[:, :x.shape[1]], self.fc.bias)


# ----------------------------------------------------------------------------- from the parent's ONNX
def _onnx_convs(path):
    """{module path in the zoo's ResNet: (weight, bias)} from the exported (BN-folded) file."""
    import onnx
    from onnx import numpy_helper
    m = onnx.load(path)
    inits = {i.name: numpy_helper.to_array(i) for i in m.graph.initializer}
    out = {}
    for n in m.graph.node:
        if n.op_type == "Conv":
            # e.g. /layers/layers.3/short/short.0/Conv_output_0 -> layers.3/short
            parts = n.output[0].strip("/").split("/")
            out["/".join(parts[:-2])] = (inits[n.input[1]].copy(), inits[n.input[2]].copy())
        elif n.op_type == "Gemm":
            out["fc"] = (inits[n.input[1]].copy(), inits[n.input[2]].copy())
    return out


def load_parent(path):
    """The elastic network holding the zoo's ResNet-20 (ONNX at `path`) as its 3x3 member.

    Returns (net, biases): the folded convolutions' biases per BN, used by calibrate_bn()."""
    convs = _onnx_convs(path)
    net = ElasticResNet()
    biases = {}

    def put(conv, bn, key):
        w, b = convs[key]
        k = w.shape[-1]
        lo = (conv.kmax - k) // 2
        with torch.no_grad():
            conv.weight.zero_()
            conv.weight[:, :, lo:lo + k, lo:lo + k] = torch.from_numpy(w)
        biases[bn] = torch.from_numpy(b)

    put(net.stem, net.bn_stem, "stem")
    for s, stage in enumerate(net.stages):
        for j, blk in enumerate(stage):
            i = s * MAX_DEPTH + j
            put(blk.c1, blk.bn1, f"layers/layers.{i}/c1")
            put(blk.c2, blk.bn2, f"layers/layers.{i}/c2")
            if blk.short is not None:
                put(blk.short, blk.bn_short, f"layers/layers.{i}/short")
    w, b = convs["fc"]
    with torch.no_grad():
        net.fc.weight.copy_(torch.from_numpy(w))
        net.fc.bias.copy_(torch.from_numpy(b))
    return net, biases


def calibrate_bn(net, biases, images, arch):
    """Make every BN an exact identity plus the folded bias, with real statistics
    (fit_identity_bns, over `images` through subnet `arch`)."""

    def forward():
        net.eval()
        with torch.no_grad():
            for i in range(0, len(images), 500):
                net(images[i:i + 500], arch)

    fit_identity_bns(biases, forward)


def fit_identity_bns(biases, forward):
    """Make each BN of `biases` ({bn: the folded conv's bias}) an identity plus that bias,
    with the real statistics of its input over what `forward()` runs through the net.

    First BN(z) = z + b with unit statistics; then one pass records each BN's input mean
    and variance; then running stats = those, weight = sqrt(var + eps), bias = mean + b:
    eval(BN(z)) = (z - mean) / sqrt(var + eps) * sqrt(var + eps) + mean + b = z + b.
    (tools/compress/detector_prune.py reads det-light the same way.)"""
    bns = list(biases)
    with torch.no_grad():
        for bn in bns:
            bn.running_mean.zero_()
            bn.running_var.fill_(1.0 - bn.eps)
            bn.weight.fill_(1.0)
            bn.bias.copy_(biases[bn])
    stats = {}

    def hook(mod, inp, out):
        z = inp[0].double()
        stats.setdefault(mod, []).append((z.mean((0, 2, 3)), (z * z).mean((0, 2, 3)), z.shape[0]))

    handles = [bn.register_forward_hook(hook) for bn in bns]
    forward()
    for h in handles:
        h.remove()
    with torch.no_grad():
        for bn in bns:
            rows = stats[bn]
            n = sum(r[2] for r in rows)
            mean = sum(r[0] * r[2] for r in rows) / n
            var = (sum(r[1] * r[2] for r in rows) / n - mean * mean).clamp_min(0)
            bn.running_mean.copy_(mean.float())
            bn.running_var.copy_(var.float())
            bn.weight.copy_(torch.sqrt(var + bn.eps).float())
            bn.bias.copy_((mean + biases[bn].double()).float())


# ----------------------------------------------------------------------------- importance order
def _permute_out(conv, bn, order):
    with torch.no_grad():
        conv.weight.copy_(conv.weight[order])
        for t in (bn.weight, bn.bias, bn.running_mean, bn.running_var):
            t.copy_(t[order])


def _permute_in(conv, order):
    with torch.no_grad():
        conv.weight.copy_(conv.weight[:, order])


def sort_channels(net):
    """Reorder channels, most important first, without changing the function.

    Inner channels of a block (c1's outputs): L1 norm of c1's filters. A stage's residual
    stream: the summed L1 norms of the filters writing to it (the stem or the shortcut,
    and every block's c2), each filter scaled by its BN's eval gain (the folded filter's
    norm)."""
    def gain(bn):
        return (bn.weight / torch.sqrt(bn.running_var + bn.eps)).abs()

    def l1(conv, bn):
        return conv.weight.abs().sum((1, 2, 3)) * gain(bn)

    for stage in net.stages:
        for blk in stage:
            order = torch.argsort(l1(blk.c1, blk.bn1), descending=True)
            _permute_out(blk.c1, blk.bn1, order)
            _permute_in(blk.c2, order)
    for s, stage in enumerate(net.stages):
        writers = [(net.stem, net.bn_stem)] if s == 0 else [(stage[0].short, stage[0].bn_short)]
        writers += [(blk.c2, blk.bn2) for blk in stage]
        score = sum(l1(c, b) for c, b in writers)
        order = torch.argsort(score, descending=True)
        for c, b in writers:
            _permute_out(c, b, order)
        for j, blk in enumerate(stage):
            if s == 0 or j > 0:  # blocks reading this stage's stream (the first reads the last one's)
                _permute_in(blk.c1, order)
        if s + 1 < len(net.stages):
            nxt = net.stages[s + 1][0]
            _permute_in(nxt.c1, order)
            _permute_in(nxt.short, order)
        else:
            with torch.no_grad():
                net.fc.weight.copy_(net.fc.weight[:, order])


# ----------------------------------------------------------------------------- a standalone subnet
class SubNet(nn.Module):
    """One architecture as an ordinary network (exported to ONNX; BN folded by the export)."""

    def __init__(self, arch):
        super().__init__()
        self.arch = canonical(arch)
        cs = channels(self.arch)
        self.stem = nn.Sequential(nn.Conv2d(1, cs[0], 3, 1, 1, bias=False), nn.BatchNorm2d(cs[0], eps=BN_EPS))
        blocks, cin = [], cs[0]
        for s in range(3):
            for j in range(self.arch["depth"][s]):
                stride = 2 if (s > 0 and j == 0) else 1
                blocks.append(_PlainBlock(cin, cs[s], self.arch["kernel"][s][j], stride))
                cin = cs[s]
        self.blocks = nn.Sequential(*blocks)
        self.fc = nn.Linear(cin, 10)

    def forward(self, x):
        r = self.arch["res"]
        if r != 28:
            x = F.interpolate(x, size=(r, r), mode="bilinear", align_corners=False)
        x = self.blocks(F.relu(self.stem(x)))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


class _PlainBlock(nn.Module):
    def __init__(self, cin, cout, k, stride):
        super().__init__()
        self.c1 = nn.Sequential(nn.Conv2d(cin, cout, k, stride, k // 2, bias=False), nn.BatchNorm2d(cout, eps=BN_EPS))
        self.c2 = nn.Sequential(nn.Conv2d(cout, cout, k, 1, k // 2, bias=False), nn.BatchNorm2d(cout, eps=BN_EPS))
        self.short = None
        if stride != 1 or cin != cout:
            self.short = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, 0, bias=False), nn.BatchNorm2d(cout, eps=BN_EPS))

    def forward(self, x):
        s = x if self.short is None else self.short(x)
        return F.relu(self.c2(F.relu(self.c1(x))) + s)


def _copy_conv_bn(dst, conv, bn, cout, cin, k):
    lo = (conv.kmax - k) // 2
    with torch.no_grad():
        dst[0].weight.copy_(conv.weight[:cout, :cin, lo:lo + k, lo:lo + k])
        for name in ("weight", "bias", "running_mean", "running_var"):
            getattr(dst[1], name).copy_(getattr(bn, name)[:cout])


def extract(net, arch):
    """The subnet `arch` of the elastic network, with its weights, as a SubNet."""
    arch = canonical(arch)
    sub = SubNet(arch)
    cs = channels(arch)
    _copy_conv_bn(sub.stem, net.stem, net.bn_stem, cs[0], 1, 3)
    i, cin = 0, cs[0]
    for s, stage in enumerate(net.stages):
        for j in range(arch["depth"][s]):
            blk, dst, k = stage[j], sub.blocks[i], arch["kernel"][s][j]
            _copy_conv_bn(dst.c1, blk.c1, blk.bn1, cs[s], cin, k)
            _copy_conv_bn(dst.c2, blk.c2, blk.bn2, cs[s], cs[s], k)
            if dst.short is not None:
                _copy_conv_bn(dst.short, blk.short, blk.bn_short, cs[s], cin, 1)
            i, cin = i + 1, cs[s]
    with torch.no_grad():
        sub.fc.weight.copy_(net.fc.weight[:, :cin])
        sub.fc.bias.copy_(net.fc.bias)
    return sub


def count_macs(arch):
    """Multiply-adds of the convolutions and the classifier for one image (as nas_search)."""
    a = canonical(arch)
    cs, hs = channels(a), spatial_sizes(a["res"])
    macs = hs[0] * hs[0] * 9 * cs[0]
    cin = cs[0]
    for s in range(3):
        for j in range(a["depth"][s]):
            k, h = a["kernel"][s][j], hs[s]
            macs += h * h * k * k * cin * cs[s] + h * h * k * k * cs[s] * cs[s]
            if (s > 0 and j == 0) or cin != cs[s]:
                macs += h * h * cin * cs[s]
            cin = cs[s]
    return macs + cin * 10


def space_size():
    """Distinct networks in the space: per stage, depth d has 2^d kernel choices (absent
    blocks' kernels do not count), times the widths and the resolutions."""
    per_stage = sum(len(KERNELS) ** d for d in range(1, MAX_DEPTH + 1))
    return len(RESOLUTIONS) * len(WIDTHS) ** 3 * per_stage ** 3


def seeded(seed):
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    return random.Random(seed)


def clone(net):
    return copy.deepcopy(net)
