#!/usr/bin/python3
"""bench/results/compress_detect.{md,json,png}: the video detectors' part of run.sh (step 5).

Rows, one per (device profile, detector), the same keys as compress.json's: task
"detection", accuracy = COCO mAP@0.5 on the test videos (mean over the seeds) through
the C++ path (tierd-detect-run + tierd-eval); ms = blobFromImage + forward + decoding
per 640x360 frame at the profile's threads (x86-edge: 2, mean over 200 frames of the first
seed; pi3b-emulated: the 1-thread mean over every test frame x 28.9); energy_j = the
profile's power above idle x ms (estimated); bytes = the ONNX file; peak_rss_mb = peak
resident memory of a process running the detector over 100 frames (video decoding and
OpenCV's libraries included).
"""
import argparse
import datetime
import json
import os
import platform

from report import DEVICES, pareto, targets, targets_md, write_report

BASE = "det-light"


def build_rows(measure, lineage):
    rows = []
    for r in measure["rows"]:
        int8 = r.get("precision") == "int8"
        rec = {"parent": r["parent"], "method": "int8:cv-quantize"} if int8 else lineage.get(r["model"], {})
        for dev, d in DEVICES.items():
            ms = r["ms"][d["threads"]] * d["scale"]
            rows.append({
                "task": "detection", "device": dev, "model": r["model"],
                "base_model": r["parent"] if int8 else r["model"], "precision": r.get("precision", "fp32"),
                "group": {"prune-l1+kd": "pruned", "finetune+kd": "control",
                          "int8:cv-quantize": "int8"}.get(rec.get("method"), "zoo"),
                "parent": rec.get("parent", ""), "method": rec.get("method", "zoo"),
                "accuracy": r["map50"], "map50_95": r["map50_95"], "ms": round(ms, 4),
                "energy_j": round(ms / 1000 * d["power_w"], 6), "energy_source": d["energy_source"],
                "bytes": r["bytes"], "peak_rss_mb": r["peak_rss_mb"], "sha256": r["sha256"],
                "input": r["input"],
            })
    return rows


def plot(rows, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, len(DEVICES), figsize=(12, 4.6))
    for ax, dev in zip(axes, DEVICES):
        dr = [r for r in rows if r["device"] == dev]
        for g, (marker, color, label) in {
                "zoo": ("o", "tab:gray", "zoo"),
                "pruned": ("s", "tab:blue", "pruned + distilled from det-heavy"),
                "control": ("^", "tab:green", "det-light fine-tuned the same way, unpruned"),
                "int8": ("x", "tab:red", "int8 (cv::dnn::Net::quantize) of the one beside it")}.items():
            pts = [r for r in dr if r["group"] == g]
            if pts:
                ax.scatter([r["ms"] for r in pts], [100 * r["accuracy"] for r in pts], marker=marker,
                           color=color, s=50, label=label)
        front = pareto(dr)
        ax.step([r["ms"] for r in front], [100 * r["accuracy"] for r in front], where="post",
                color="black", lw=1, label="front")
        for r in dr:
            ax.annotate(f"{r['model']} ({r['bytes'] / 1e6:.2f} MB)", (r["ms"], 100 * r["accuracy"]),
                        fontsize=7, xytext=(4, -10), textcoords="offset points")
        ax.set_xscale("log")
        ax.set_xlabel("ms per 640x360 frame (blob + forward + decoding)")
        ax.set_ylabel("mAP@0.5 on the test videos (%)")
        ax.set_title(f"{dev}: {DEVICES[dev]['what']}", fontsize=9)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7, loc="center right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--work", required=True, help="run.sh's WORK (reads WORK/detect)")
    ap.add_argument("--out", required=True, help="report path without extension")
    args = ap.parse_args()
    d = os.path.join(args.work, "detect")
    measure = json.load(open(os.path.join(d, "measure.json")))
    lineage = {}
    for f in sorted(os.listdir(os.path.join(d, "models"))):
        if f.endswith(".lineage.json"):
            rec = json.load(open(os.path.join(d, "models", f)))
            lineage[rec["name"]] = rec
    steps_path = os.path.join(args.work, "step_seconds.json")
    steps = {k: v for k, v in (json.load(open(steps_path)) if os.path.exists(steps_path) else {}).items()
             if k.startswith("detect")}
    rows = build_rows(measure, lineage)
    now = datetime.datetime.utcnow().strftime("%Y-%m-%d %H:%M UTC")
    machine = measure.get("machine", {})
    doc = {"generated": now, "machine": machine, "kernel": platform.release(), "devices": DEVICES,
           "test_seeds": measure["seeds"], "test_frames": measure["frames"], "step_seconds": steps,
           "rows": rows, "lineage": lineage, "targets": {}, "fronts": {},
           "int8_calibration": measure.get("int8_calibration"), "int8_failed": measure.get("int8_failed", [])}
    seeds = ", ".join(str(s) for s in measure["seeds"])
    md = ["# Compression of the light video detector (issue 19)", "",
          "Generated by `bench/compress/run.sh` step 5 (report: `bench/compress/report_detect.py`); do not edit. "
          "The classifiers' part is [compress.md](compress.md).", "",
          f"- Machine: {machine.get('cpu', '?')}, {machine.get('cores', '?')} cores, Linux {platform.release()}; {now}.",
          f"- Accuracy: COCO mAP@0.5 (and @[.5:.95]) of `tierd-eval map` on tierd-videogen's test seeds {seeds}, "
          f"{measure['frames']} frames each (mean of the seeds' evaluations), detections from the C++ path "
          "(`tierd-detect-run`: OpenCV DNN, the inference plugin's decoder, score ≥ 0.05, NMS 0.5, 100 per frame).",
          "- ms: blobFromImage + forward + decoding per frame. x86-edge: 2 threads, 200 frames of the first seed; "
          f"pi3b-emulated: 1 thread over all test frames × {DEVICES['pi3b-emulated']['scale']} (an emulation "
          "of a Pi 3B+'s speed, not a Pi). Energy: the profile's power above idle × ms (`estimated:<profile>`).",
          "- peak RSS: a `tierd-detect-run` process over 100 frames at 1 thread (its own VmHWM; video decoding and OpenCV included).",
          "- det-heavy is listed for scale: it is the teacher, its input is 640×352 and it runs on the edge.",
          *(["- int8 rows (`NAME-int8`): the same file quantized at load by `cv::dnn::Net::quantize` (int8 weights "
             "and activations, float in and out), calibrated on the first "
             f"{measure['int8_calibration']['frames']} frames of training seed {measure['int8_calibration']['seed']}'s "
             "video (never a test video); `tierd-detect-run --int8`. Its bytes are the float file's: OpenCV 4.6 "
             "loads no int8 ONNX file. Its peak RSS is the calibration's high-water mark (the calibration "
             "frames run as one batch), not the quantized net's steady state."] if measure.get("int8_calibration") else []),
          *([f"- Not quantizable by OpenCV 4.6: {', '.join(f['model'] for f in measure['int8_failed'])}."]
            if measure.get("int8_failed") else []), ""]
    if steps:
        md += ["## Time (this machine, 2 cores)", "", "| step | seconds |", "|---|---|"] + \
              [f"| {k} | {v:.0f} |" for k, v in steps.items()] + [""]
    for dev in DEVICES:
        dr = sorted((r for r in rows if r["device"] == dev), key=lambda r: r["ms"])
        front = pareto(dr)
        doc["fronts"][dev] = [r["model"] for r in front]
        md += [f"## {dev}", "", "| model | parent | method | mAP@0.5 | mAP@[.5:.95] | ms | energy/frame | bytes | peak RSS MB | front |",
               "|---|---|---|---|---|---|---|---|---|---|"]
        for r in dr:
            md.append(f"| {r['model']} | {r['parent']} | {r['method']} | {100 * r['accuracy']:.2f} | "
                      f"{100 * r['map50_95']:.2f} | {r['ms']:.2f} | {1000 * r['energy_j']:.2f} mJ | {r['bytes']:,} | "
                      f"{r['peak_rss_mb']:.1f} | {'**yes**' if r in front else ''} |")
        pruned = {r["model"] for r in dr if r["group"] == "pruned"}
        tg = targets(dr, BASE, lambda r: r["model"] in pruned or (r["group"] == "int8" and r["base_model"] in pruned))
        doc["targets"][dev] = tg
        md += targets_md(tg, BASE, "mAP@0.5")
        control = [r for r in dr if r["group"] == "control"]
        if control:
            c = control[0]
            md += ["", f"The base was trained less than the variants (docs/detectors.md: about 4 epochs); "
                       f"**{c['model']}** is det-light itself fine-tuned exactly as they were (same frames, "
                       f"teacher, minutes, threads), so against it the cost of pruning alone shows: " +
                   "; ".join(f"{r['model']} {100 * (r['accuracy'] - c['accuracy']):+.2f} points at "
                             f"{c['ms'] / r['ms']:.2f}× its speed" for r in dr if r["group"] == "pruned") + "."]
        md.append("")
    md += ["## Per test seed (mAP@0.5)", "", "| model | " + " | ".join(f"seed {s}" for s in measure["seeds"]) + " |",
           "|---|" + "---|" * len(measure["seeds"])]
    for r in measure["rows"]:
        md.append(f"| {r['model']} | " + " | ".join(f"{100 * p['map50']:.2f}" for p in r["per_seed"]) + " |")
    if lineage:
        md += ["", "## Lineage", "", "| model | widths | params (parent) | FLOPs (parent) | fine-tuning | images seen (epochs) |",
               "|---|---|---|---|---|---|"]
        for name, rec in lineage.items():
            md.append(f"| {name} | {rec['settings']['width']} of every group | {rec['params']:,} ({rec['params_parent']:,}) | "
                      f"{rec['flops'] / 1e6:.0f} M ({rec['flops_parent'] / 1e6:.0f} M) | {rec['train_seconds']:.0f} s, "
                      f"{rec['settings']['threads']} thread, distilled from {rec['settings']['teacher']} | "
                      f"{rec['images_seen']:,} ({rec['epochs']}) |")
    write_report(args.out, doc, md, lambda path: plot(rows, path))


if __name__ == "__main__":
    main()
