#!/usr/bin/python3
"""Whole-model fine-tuning on the edge and TENT, offline, beside what the device does.

  bench/adapt/finetune_offline.py [--build build] [--model cnn-xs] [--teacher resnet-20]
                                  [--per-segment 1256] [--seed 11] [--labels 200]

On a tierd-driftgen stream (the plan of head_offline.sh), per shifted segment: adapt on
the segment's first half, measure top-1 through OpenCV DNN on its second half. Methods:
  none              the shipped model
  recalibrate       channel recalibration on 256 unlabeled images (device; tierd-adapt-eval)
  recalibrate+head  + the head fine-tuned on --labels true labels (device, OpenCV ml)
  tent              TENT on 256 unlabeled images, folded (edge, torch; finetune.py)
  full@L teacher    every weight fine-tuned on the teacher's answers to the first L images
                    (L clean training images replayed): the edge's labels, teacher unadapted
  tent+full@L truth / teacher+tent
                    TENT, then every weight fine-tuned on L labels: true ones, or those of
                    the teacher after it adapted itself by TENT on the same 256 images
  oracle            TENT then every weight fine-tuned on all the first half's true labels
R = (acc - none) / (oracle - none) where the oracle is 2 points or more above none.
*forgetting*: the shipped model's accuracy on the same images unshifted minus the
adapted model's (> 0: it got worse on clean data). Writes
bench/results/adapt_finetune.md and .json.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(TOP, "tools", "adapt"))
import finetune as ft  # noqa: E402
sys.path.insert(0, os.path.join(TOP, "bench"))
import benchkit  # noqa: E402

import cv2  # noqa: E402


def opencv_top1(path, x):
    net = cv2.dnn.readNetFromONNX(path)
    out = []
    for i in range(0, len(x), 500):
        net.setInput(x[i:i + 500])
        out.append(net.forward().argmax(1))
    return np.concatenate(out)


def write_labels(path, labels):
    """An IDX label file (unsigned bytes)."""
    with open(path, "wb") as f:
        f.write(bytes([0, 0, 8, 1]) + len(labels).to_bytes(4, "big") + labels.tobytes())


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default="build")
    ap.add_argument("--model", default="cnn-xs")
    ap.add_argument("--teacher", default="resnet-20")
    ap.add_argument("--per-segment", type=int, default=1256)
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--labels", type=int, default=200)
    ap.add_argument("--out", default=os.path.join(TOP, "bench", "results", "adapt_finetune"))
    args = ap.parse_args()
    build = os.path.join(TOP, args.build)
    n = args.per_segment
    plan = ",".join(f"{s}:{n}" for s in [
        "clean", "noise@3", "blur@3", "contrast@3", "brightness@3", "jpeg@3", "rotation@3",
        "scale@3", "occlusion@3", "blur+contrast@3", "contrast@5", "brightness@5"])
    model = os.path.join(TOP, "models", args.model + ".onnx")
    teacher = os.path.join(TOP, "models", args.teacher + ".onnx")
    started = time.monotonic()
    work = tempfile.mkdtemp(prefix="tierd-adapt-ft.")
    stream = os.path.join(work, "stream")
    subprocess.run([os.path.join(build, "tierd-driftgen"), "--plan", plan, "--seed",
                    str(args.seed), "--out", stream, "-q"], check=True)
    device_json = os.path.join(work, "device.json")
    subprocess.run([os.path.join(build, "tierd-adapt-eval"), "--model", args.model, "--drift",
                    stream, "--labels", str(args.labels), "--teacher", "truth", "--json",
                    device_json], check=True, stdout=subprocess.DEVNULL)
    device = {r["segment"]: r for r in json.load(open(device_json))["rows"]}
    segs = json.load(open(os.path.join(stream, "segments.json")))
    images = ft.read_idx(os.path.join(stream, "images-idx3-ubyte"))
    labels = ft.read_idx(os.path.join(stream, "labels-idx1-ubyte"))
    clean_src = ft.read_idx(segs["source"]["images"])[np.array(segs["source_index"])]
    norm = lambda a: ((a.astype(np.float32) - 73.0) / 90.0)[:, None, :, :]  # noqa: E731
    labels_path = os.path.join(work, "teacher-labels-idx1-ubyte")
    # The teacher's answers on the whole stream, as an IDX file finetune.py reads.
    teacher_pred = opencv_top1(teacher, norm(images)).astype(np.uint8)
    write_labels(labels_path, teacher_pred)
    idx_images = os.path.join(stream, "images-idx3-ubyte")
    idx_labels = os.path.join(stream, "labels-idx1-ubyte")

    def finetune(out, method, rng, *extra, start=model, labels_file=None):
        cmd = [sys.executable, os.path.join(TOP, "tools", "adapt", "finetune.py"), "--model",
               start, "--out", out, "--method", method, "--images", idx_images, "--range",
               rng, *extra]
        if labels_file:
            cmd += ["--labels", labels_file]
        return json.loads(subprocess.run(cmd, check=True, capture_output=True,
                                         text=True).stdout)

    rows = []
    for seg in segs["segments"]:
        if seg["name"] == "clean":
            continue
        first, count = seg["first"], seg["count"]
        half = count // 2
        ev = slice(first + half, first + count)
        x_ev, y_ev, x_clean = norm(images[ev]), labels[ev], norm(clean_src[ev])
        acc = lambda p: float((opencv_top1(p, x_ev) == y_ev).mean())  # noqa: E731
        clean_acc = lambda p: float((opencv_top1(p, x_clean) == y_ev).mean())  # noqa: E731
        none_acc, none_clean = acc(model), clean_acc(model)
        d = device[seg["name"]]
        teacher_acc = float((teacher_pred[first:first + half] == labels[first:first + half]).mean())
        results = [("none", "device", none_acc, 0, None, 0.0, 0, 0.0)]
        results.append(("recalibrate", "device", d["accuracy_recalibrated"], 0,
                        None, 0.0, 0, None))
        results.append((f"recalibrate+head@{args.labels} truth", "device", d["accuracy_head"],
                        d["labels"], d["head_ms"] / 1000, None, d["update_bytes"],
                        none_clean - d["clean_accuracy_adapted"]))
        seg_dir = os.path.join(work, seg["name"].replace("@", "_").replace("+", "_"))
        os.makedirs(seg_dir, exist_ok=True)
        # The edge's teacher adapts to the segment too (TENT on the same 256 images it
        # answered), and labels with that.
        teacher_tent = os.path.join(seg_dir, "teacher_tent.onnx")
        finetune(teacher_tent, "tent", f"{first}:256", start=teacher)
        adapted_pred = teacher_pred.copy()
        adapted_pred[first:first + count] = opencv_top1(
            teacher_tent, norm(images[first:first + count])).astype(np.uint8)
        teacher_tent_acc = float(
            (adapted_pred[first:first + half] == labels[first:first + half]).mean())
        adapted_labels = os.path.join(seg_dir, "teacher-tent-labels-idx1-ubyte")
        write_labels(adapted_labels, adapted_pred)
        tent_out = os.path.join(seg_dir, "tent.onnx")
        L = args.labels
        runs = [
            ("tent", "tent", f"{first}:256", [], None, 0, model),
            (f"full@{L} teacher", "full", f"{first}:{L}", ["--replay", str(L)], labels_path, L,
             model),
            (f"tent+full@{L} truth", "full", f"{first}:{L}", ["--replay", str(L)], idx_labels, L,
             tent_out),
            (f"tent+full@{L} teacher+tent", "full", f"{first}:{L}", ["--replay", str(L)],
             adapted_labels, L, tent_out),
        ]
        for name, method, rng, extra, lab, used, start in runs:
            out = os.path.join(seg_dir, name.replace(" ", "_").replace("@", "_") + ".onnx")
            r = finetune(out, method, rng, *extra, start=start, labels_file=lab)
            results.append((name, "edge", acc(out), used, r["train_s"], None, r["bytes"],
                            none_clean - clean_acc(out)))
        oracle = os.path.join(seg_dir, "oracle.onnx")
        r = finetune(oracle, "full", f"{first}:{half}", start=tent_out, labels_file=idx_labels)
        oracle_acc = acc(oracle)
        results.append(("oracle", "edge", oracle_acc, half, r["train_s"], None, r["bytes"],
                        none_clean - clean_acc(oracle)))
        for name, where, a, used, train_s, _, nbytes, forget in results:
            regain = ((a - none_acc) / (oracle_acc - none_acc)
                      if oracle_acc - none_acc >= 0.02 else None)
            rows.append({"task": "classification", "shift": seg["name"], "method": name,
                         "where": where, "model": args.model, "accuracy_before": none_acc,
                         "accuracy_after": a, "regain": regain, "labels": used,
                         "train_s": train_s, "update_bytes": nbytes,
                         "forgetting_points": None if forget is None else 100 * forget,
                         "teacher_accuracy": teacher_acc,
                         "teacher_tent_accuracy": teacher_tent_acc, "evaluated": len(y_ev)})
        print(f"{seg['name']}: none {none_acc:.3f} oracle {oracle_acc:.3f}", file=sys.stderr)
    seconds = int(time.monotonic() - started)
    doc = {**benchkit.run_stamp(TOP), "seconds": seconds,
           "plan": plan, "seed": args.seed, "model": args.model, "teacher": args.teacher,
           "rows": rows}
    with open(args.out + ".json", "w") as f:
        json.dump(doc, f, indent=1)
    write_markdown(args.out + ".md", doc)
    subprocess.run(["rm", "-rf", work])


def write_markdown(path, doc):
    pct = lambda v: "-" if v is None else f"{100 * v:.1f}"  # noqa: E731
    md = ["# Whole-model fine-tuning on the edge, and TENT, offline\n",
          "Generated by `bench/adapt/finetune_offline.py`; do not edit.\n",
          f"- Machine: {doc['machine']}; {doc['generated']}; commit `{doc['commit']}`; "
          f"{doc['seconds']} s in all.",
          f"- Stream: `tierd-driftgen --seed {doc['seed']} --plan '{doc['plan']}'`; model "
          f"{doc['model']}, teacher {doc['teacher']} (unadapted). Per segment everything "
          "adapts on the first half and is measured through OpenCV DNN on the second half.",
          "- *device*: what the end does itself (tierd-adapt-eval: channel recalibration on "
          "256 unlabeled images; + the head fine-tuned with OpenCV ml). *edge*: "
          "`tools/adapt/finetune.py` with torch (the job that makes an update to push): "
          "*tent* on 256 unlabeled images; *full@L teacher* every weight on the unadapted "
          "teacher's answers to L images, L clean training images replayed; *tent+full@L*: "
          "TENT, then every weight on L labels — true ones, or the answers of the teacher "
          "after it adapted itself by TENT to the same 256 images (*teacher+tent*; its "
          "top-1 in brackets); *oracle*: TENT then every weight on all the first half's "
          "true labels.",
          "- **R** = (after − none) / (oracle − none), where the oracle is 2 points or more "
          "above none. *forgetting*: on the same images unshifted, the shipped model's "
          "accuracy minus the adapted one's, points. *train s*: the fine-tuning's wall time "
          "on this machine (2 threads). *bytes*: the update (the head's blobs on the "
          "device, the whole ONNX file from the edge).\n",
          "| shift | teacher top-1 (TENT) | method | where | labels | after | R | forgetting | train s | bytes |",
          "|---|---|---|---|---|---|---|---|---|---|"]
    for r in doc["rows"]:
        md.append("| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |".format(
            r["shift"], f"{pct(r['teacher_accuracy'])} ({pct(r['teacher_tent_accuracy'])})",
            r["method"], r["where"], r["labels"],
            pct(r["accuracy_after"]), "-" if r["regain"] is None else f"{r['regain']:.2f}",
            "-" if r["forgetting_points"] is None else f"{r['forgetting_points']:+.1f}",
            "-" if r["train_s"] is None else f"{r['train_s']:.2f}", r["update_bytes"] or "-"))
    # Summary per method: mean R over the segments with an oracle.
    md += ["", "## Mean over the shifts", "",
           "| method | mean after | mean R | shifts with R ≥ 0.8 | worst forgetting |",
           "|---|---|---|---|---|"]
    methods = []
    for r in doc["rows"]:
        if r["method"] not in methods:
            methods.append(r["method"])
    for m in methods:
        rs = [r for r in doc["rows"] if r["method"] == m]
        regains = [r["regain"] for r in rs if r["regain"] is not None]
        forgets = [r["forgetting_points"] for r in rs if r["forgetting_points"] is not None]
        md.append("| {} | {} | {} | {} of {} | {} |".format(
            m, pct(sum(r["accuracy_after"] for r in rs) / len(rs)),
            f"{sum(regains) / len(regains):.2f}" if regains else "-",
            sum(1 for g in regains if g >= 0.8), len(regains),
            f"{max(forgets):+.1f}" if forgets else "-"))
    with open(path, "w") as f:
        f.write("\n".join(md) + "\n")


if __name__ == "__main__":
    main()
