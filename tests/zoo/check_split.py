#!/usr/bin/python3
"""Check the split sub-models listed in models/manifest.toml ([[model.cut]] tables).

For every cut of every [[model]]: the head and tail files exist with the recorded sha256,
elements is the product of shape, and OpenCV's DNN (through tools/zoo's split_check, C++)
loads both and runs them: tail(head(x)) equals the full model's logits within 1e-4 (max
absolute difference) with the same argmax on the first N test images (default 200), and
the head's output has the recorded per-image shape. Also: models/ stays under 30 MB
(the video detectors, det-*.onnx, apart: under 8 MB; models/compressed/ apart: under 8 MB).
Exit status: 0 pass, 1 fail (a missing dataset or Python tomllib is a failure:
scripts/install-deps.sh provides both).

usage: check_split.py SPLIT_CHECK [MODELS_DIR] [--limit N] [--tolerance T]
"""
import argparse
import hashlib
import json
import math
import os
import subprocess
import sys

BUDGET = 30_000_000  # bytes under models/: the classifiers and their split halves
DETECTOR_BUDGET = 8_000_000  # the video detectors (det-*.onnx, docs/detectors.md) apart
COMPRESSED_BUDGET = 8_000_000  # models/compressed/ (docs/compression.md) apart


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("split_check")
    ap.add_argument("models", nargs="?",
                    default=os.path.join(os.path.dirname(__file__), "..", "..", "models"))
    ap.add_argument("--limit", type=int, default=200)
    ap.add_argument("--tolerance", type=float, default=1e-4)
    args = ap.parse_args()
    try:
        import tomllib
    except ImportError:
        print("FAIL: needs Python >= 3.11 (tomllib)")
        return 1

    with open(os.path.join(args.models, "manifest.toml"), "rb") as f:
        manifest = tomllib.load(f)
    data = os.environ.get("TIERD_FMNIST_DIR", manifest["dataset_dir"])
    images = os.path.join(data, "t10k-images-idx3-ubyte.gz")
    if not os.path.exists(images):
        print(f"FAIL: {images} missing (scripts/install-deps.sh installs dataset-fashion-mnist)")
        return 1

    failures = []
    ncuts = 0
    for m in manifest.get("model", []):
        name, cuts = m["name"], m.get("cut", [])
        ncuts += len(cuts)
        full = os.path.join(args.models, m["file"])
        if not cuts:
            continue
        if not os.path.isfile(full):
            failures.append(f"{name}: {full} missing")
            continue
        cmd = [args.split_check, "--data", data, "--limit", str(args.limit),
               "--scale", repr(manifest["scale"]), "--mean", repr(manifest["mean"]),
               "--full", full]
        by_id = {}
        for c in cuts:
            what = f"{name} cut layer {c.get('layer')}"
            missing = [k for k in ("layer", "tensor", "shape", "elements", "head", "head_sha256",
                                   "tail", "tail_sha256", "max_diff") if k not in c]
            if missing:
                failures.append(f"{what}: keys missing: {', '.join(missing)}")
                continue
            if c["elements"] != math.prod(c["shape"]):
                failures.append(f"{what}: elements {c['elements']} != product of shape {c['shape']}")
            if c["max_diff"] > args.tolerance:
                failures.append(f"{what}: manifest max_diff {c['max_diff']} > {args.tolerance:g}")
            ok = True
            for part in ("head", "tail"):
                path = os.path.join(args.models, c[part])
                if not os.path.isfile(path):
                    failures.append(f"{what}: {part} file {path} missing "
                                    "(regenerate with tools/zoo/split.py)")
                    ok = False
                elif sha256(path) != c[f"{part}_sha256"]:
                    failures.append(f"{what}: {part} file {c[part]}: sha256 mismatch")
                    ok = False
            if ok:
                by_id[str(c["layer"])] = c
                cmd += ["--cut", str(c["layer"]), os.path.join(args.models, c["head"]),
                        os.path.join(args.models, c["tail"]), c["tensor"]]
        if not by_id:
            continue
        proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        if proc.returncode != 0:
            failures.append(f"{name}: split_check failed ({proc.returncode}): "
                            f"{proc.stderr.strip()}")
            continue
        got = {r["id"]: r for r in json.loads(proc.stdout)["cuts"]}
        for cid, c in by_id.items():
            what = f"{name} cut layer {cid}"
            r = got.get(cid)
            if r is None:
                failures.append(f"{what}: no result from split_check")
            elif not r["ok"]:
                failures.append(f"{what}: OpenCV cannot run the head/tail: {r['error']}")
            else:
                print(f"{name:14s} cut {cid:>3s} {str(c['shape']):14s} max diff "
                      f"{r['max_diff']:.3g}, argmax differs on {r['argmax_mismatch']}")
                if r["max_diff"] > args.tolerance:
                    failures.append(f"{what}: max |tail(head(x)) - full(x)| {r['max_diff']:.3g} "
                                    f"> {args.tolerance:g}")
                if r["argmax_mismatch"]:
                    failures.append(f"{what}: argmax differs on {r['argmax_mismatch']} of "
                                    f"{args.limit} images")
                if r["head_shape"] != c["shape"]:
                    failures.append(f"{what}: head output shape {r['head_shape']} != manifest "
                                    f"{c['shape']}")
    if ncuts == 0:
        failures.append("the manifest lists no [[model.cut]] (run tools/zoo/split.py)")
    sizes = {os.path.join(d, f): os.path.getsize(os.path.join(d, f))
             for d, _, files in os.walk(args.models) for f in files}
    compressed_dir = os.path.join(args.models, "compressed") + os.sep
    # compressed/ holds pruned detectors too (det-light-p40): they count in its budget
    detectors = sum(n for p, n in sizes.items()
                    if os.path.basename(p).startswith("det-") and not p.startswith(compressed_dir))
    compressed = sum(n for p, n in sizes.items() if p.startswith(compressed_dir))
    total = sum(sizes.values()) - detectors - compressed
    if total >= BUDGET:
        failures.append(f"models/ holds {total} bytes besides the detectors and compressed/ "
                        "(budget 30 MB)")
    if detectors >= DETECTOR_BUDGET:
        failures.append(f"the detectors take {detectors} bytes (budget 8 MB)")
    if compressed >= COMPRESSED_BUDGET:
        failures.append(f"models/compressed/ holds {compressed} bytes (budget 8 MB: "
                        "tools/compress/ship.py)")

    for f in failures:
        print("FAIL: " + f)
    if not failures:
        print(f"OK: {ncuts} cuts, models/ {total / 1e6:.2f} MB")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
