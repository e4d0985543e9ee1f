#!/usr/bin/python3
"""Check models/manifest.toml against the model files and OpenCV.

For every [[model]] entry: the file exists, its sha256 and size match, OpenCV's DNN
loads it (through tools/zoo's zoo_eval, C++), and its top-1 on the first N test images
(default 1000) is within 2 points of the manifest's top1 (measured on all 10,000) and
of its top1_first1000 (within 0.5 point). Exit status: 0 pass, 1 fail (a missing dataset or Python
tomllib is a failure: scripts/install-deps.sh provides both).

usage: check_zoo.py ZOO_EVAL [MODELS_DIR] [--limit N]
"""
import argparse
import hashlib
import json
import os
import subprocess
import sys



def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("zoo_eval")
    ap.add_argument("models", nargs="?",
                    default=os.path.join(os.path.dirname(__file__), "..", "..", "models"))
    ap.add_argument("--limit", type=int, default=1000)
    ap.add_argument("--tolerance", type=float, default=0.02)
    args = ap.parse_args()
    try:
        import tomllib
    except ImportError:
        print("FAIL: needs Python >= 3.11 (tomllib)")
        return 1

    manifest_path = os.path.join(args.models, "manifest.toml")
    with open(manifest_path, "rb") as f:
        manifest = tomllib.load(f)
    data = os.environ.get("TIERD_FMNIST_DIR", manifest["dataset_dir"])
    for name in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        if not os.path.exists(os.path.join(data, name)):
            print(f"FAIL: {os.path.join(data, name)} missing (scripts/install-deps.sh installs dataset-fashion-mnist)")
            return 1

    failures = []
    models = manifest.get("model", [])
    if len(models) < 6:
        failures.append(f"manifest lists {len(models)} models, expected at least 6")
    total = 0
    cmd = [args.zoo_eval, "--data", data, "--split", "test", "--limit", str(args.limit),
           "--time-images", "0"]
    for m in models:
        path = os.path.join(args.models, m["file"])
        if not os.path.isfile(path):
            failures.append(f"{m['name']}: {path} missing")
            continue
        blob = open(path, "rb").read()
        total += len(blob)
        if hashlib.sha256(blob).hexdigest() != m["sha256"]:
            failures.append(f"{m['name']}: sha256 mismatch")
        if len(blob) != m["bytes"]:
            failures.append(f"{m['name']}: size {len(blob)} != manifest {m['bytes']}")
        for key in ("outcomes_test", "outcomes_train"):
            if key in m and not os.path.isfile(os.path.join(args.models, m[key])):
                failures.append(f"{m['name']}: {m[key]} missing")
        cmd += ["--model", m["name"], path, repr(manifest["scale"]), repr(manifest["mean"])]
    if total >= 30_000_000:
        failures.append(f"model files total {total} bytes (budget 30 MB)")

    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if proc.returncode != 0:
        failures.append(f"zoo_eval failed ({proc.returncode}): {proc.stderr.strip()}")
    else:
        got = {r["name"]: r for r in json.loads(proc.stdout)["models"]}
        for m in models:
            r = got.get(m["name"])
            if r is None:
                continue
            line = (f"{m['name']:14s} top-1 first {args.limit}: {r['top1']:.4f}  "
                    f"manifest top1 {m['top1']:.4f}")
            if "top1_first1000" in m and args.limit == 1000:
                line += f", top1_first1000 {m['top1_first1000']:.4f}"
                # A few borderline images may flip on another CPU (other SIMD paths).
                if abs(r["top1"] - m["top1_first1000"]) > 0.005:
                    failures.append(f"{m['name']}: first-1000 top-1 {r['top1']:.4f} differs "
                                    f"from the manifest's {m['top1_first1000']:.4f}")
            print(line)
            if abs(r["top1"] - m["top1"]) > args.tolerance:
                failures.append(f"{m['name']}: top-1 {r['top1']:.4f} on the first {args.limit} "
                                f"is more than {args.tolerance:.2f} from the manifest's {m['top1']:.4f}")
    for f in failures:
        print("FAIL: " + f)
    if not failures:
        print(f"OK: {len(models)} models, {total / 1e6:.2f} MB")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
