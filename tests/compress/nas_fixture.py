#!/usr/bin/env python3
"""Synthetic samples file for nas_search (tests only).

Random architectures of resnet-elastic-v1 (seeded), latency for two devices from known
non-negative linear functions of the latency features plus +-3% noise ("pi3b-emulated" pays
relatively much more for 5x5 convs), accuracy from a known smooth function of the encoding
plus small noise. A few samples lack "acc" or one device's "ms", as real files may.

layers() is an independent re-implementation of the space's layer walk (the same rules that
tools/compress/nas_search.cpp and the export side use); the checker compares its MACs and
params with the tool's.
"""
import argparse
import json
import math
import random

RES = (20, 24, 28)
WIDTH = (0.5, 0.75, 1.0)
BASE = (16, 32, 64)

# Per device: ms = sum(coef * feature); features as in nas_search (MMACs, counts, 1).
DEVICES = {
    "x86-edge": {
        "description": "synthetic x86, 2 threads",
        "threads": 2,
        "coef": {"mmacs_3x3": 0.020, "mmacs_5x5": 0.018, "mmacs_1x1": 0.030, "mmacs_fc": 0.0,
                 "conv_layers": 0.006, "mact_elems": 0.40, "const": 0.05},
    },
    "pi3b-emulated": {
        "description": "synthetic Cortex-A53, 5x5 relatively expensive",
        "threads": 4,
        "coef": {"mmacs_3x3": 0.45, "mmacs_5x5": 0.90, "mmacs_1x1": 0.60, "mmacs_fc": 0.0,
                 "conv_layers": 0.08, "mact_elems": 3.0, "const": 0.6},
    },
}


def layers(arch):
    """[(kind, k, stride, cin, cout, h_out, w_out, macs, params)] in network order."""
    out = []

    def conv(k, stride, cin, cout, h):
        ho = (h + 2 * (k // 2) - k) // stride + 1
        w = k * k * cin * cout
        out.append(("conv", k, stride, cin, cout, ho, ho, w * ho * ho, w + cout))
        return ho

    chans = [int(round(b * m)) for b, m in zip(BASE, arch["width"])]
    h = arch["res"]
    conv(3, 1, 1, chans[0], h)
    cin = chans[0]
    for s in range(3):
        c = chans[s]
        for j in range(arch["depth"][s]):
            k = arch["kernel"][s][j]
            stride = 2 if (j == 0 and s > 0) else 1
            ho = conv(k, stride, cin, c, h)
            conv(k, 1, c, c, ho)
            if stride != 1 or cin != c:
                conv(1, stride, cin, c, h)
            h, cin = ho, c
    out.append(("fc", 1, 1, cin, 10, 1, 1, cin * 10, cin * 10 + 10))
    return out


def macs_params(arch):
    ls = layers(arch)
    return sum(l[7] for l in ls), sum(l[8] for l in ls)


def latency_features(arch):
    f = {"mmacs_3x3": 0.0, "mmacs_5x5": 0.0, "mmacs_1x1": 0.0, "mmacs_fc": 0.0,
         "conv_layers": 0.0, "mact_elems": 0.0, "const": 1.0}
    for kind, k, _s, _ci, co, ho, wo, macs, _p in layers(arch):
        if kind == "fc":
            f["mmacs_fc"] += macs * 1e-6
            continue
        f["mmacs_%dx%d" % (k, k)] += macs * 1e-6
        f["conv_layers"] += 1
        f["mact_elems"] += co * ho * wo * 1e-6
    return f


def canonical(arch):
    a = json.loads(json.dumps(arch))
    for s in range(3):
        for j in range(a["depth"][s], 3):
            a["kernel"][s][j] = 3
    return a


def random_arch(rng):
    return canonical({
        "res": rng.choice(RES),
        "depth": [rng.randint(1, 3) for _ in range(3)],
        "width": [rng.choice(WIDTH) for _ in range(3)],
        "kernel": [[rng.choice((3, 5)) for _ in range(3)] for _ in range(3)],
    })


def true_accuracy(arch):
    """Smooth, saturating in capacity; 5x5 helps a little; ~0.80..0.93."""
    r = RES.index(arch["res"]) / 2.0
    d = sum(arch["depth"]) - 3  # 0..6
    w = sum(arch["width"]) - 1.5  # 0..1.5
    k5 = sum(sum(1 for j in range(arch["depth"][s]) if arch["kernel"][s][j] == 5)
             for s in range(3))
    cap = 0.9 * r + 0.35 * d + 1.2 * w + 0.15 * k5
    return 0.80 + 0.13 * (1.0 - math.exp(-cap / 3.0))


def make(n, seed, flag_holdout=False):
    rng = random.Random(seed)
    samples = []
    for i in range(n):
        arch = random_arch(rng)
        feats = latency_features(arch)
        ms = {}
        for dev, spec in DEVICES.items():
            exact = sum(spec["coef"][k] * v for k, v in feats.items())
            ms[dev] = round(exact * (1.0 + rng.uniform(-0.03, 0.03)), 6)
        s = {"arch": arch, "macs": macs_params(arch)[0]}  # as nas.py writes it
        acc = true_accuracy(arch) + rng.gauss(0.0, 0.002)
        if i % 17 != 5:  # a few latency-only samples
            s["acc"] = round(min(max(acc, 0.0), 1.0), 5)
        if i % 13 == 7:  # a few samples without the pi
            del ms["pi3b-emulated"]
        s["ms"] = ms
        if flag_holdout:
            s["holdout"] = (i % 5 == 2)
        samples.append(s)
    return {
        "space": "resnet-elastic-v1",
        "devices": {d: {"description": v["description"], "threads": v["threads"]}
                    for d, v in DEVICES.items()},
        "samples": samples,
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--n", type=int, default=60)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--flag-holdout", action="store_true",
                    help='mark every 5th sample "holdout": true')
    args = ap.parse_args()
    with open(args.out, "w") as f:
        json.dump(make(args.n, args.seed, args.flag_holdout), f, indent=1)


if __name__ == "__main__":
    main()
