#!/usr/bin/python3
"""bench/results/compress.{md,json,png} from bench/compress/run.sh's work directory.

Rows, one per (device profile, model, precision): accuracy = top-1 on the test images
through OpenCV in C++ (compress_eval); ms = mean batch-1 time per image (best of 3
rounds) at the profile's threads, times the profile's slowdown; energy_j = the profile's
power above idle x ms (estimated, the source says which profile); bytes = the ONNX file;
peak_rss_mb = peak resident memory of a process that loads the model and runs it.
"""
import argparse
import datetime
import json
import math
import os
import platform
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "tools", "compress"))
import resnet_space as rs  # noqa: E402

PI_SLOWDOWN = 28.9
# Power above idle while computing (config/profiles/*.toml: active_power_w - idle_power_w).
DEVICES = {
    "x86-edge": {"threads": "2", "scale": 1.0, "power_w": 200.0 - 60.0,
                 "energy_source": "estimated:x86-edge-server",
                 "what": "this machine's CPU, OpenCV DNN at 2 threads"},
    "pi3b-emulated": {"threads": "1", "scale": PI_SLOWDOWN, "power_w": 5.1 - 1.9,
                      "energy_source": "estimated:raspberry-pi-3b-plus",
                      "what": f"this machine at 1 thread x {PI_SLOWDOWN} (emulated Raspberry Pi 3B+)"},
}
BASE = "resnet-20"


def load(work):
    measure = json.load(open(os.path.join(work, "measure.json")))
    lineage = {}
    mdir = os.path.join(work, "models")
    for f in sorted(os.listdir(mdir)):
        if f.endswith(".lineage.json"):
            rec = json.load(open(os.path.join(mdir, f)))
            lineage[rec["name"]] = rec
    search_path = os.path.join(work, "nas", "search.json")
    search = json.load(open(search_path)) if os.path.exists(search_path) else None
    samples_path = os.path.join(work, "nas", "samples.json")
    samples = json.load(open(samples_path)) if os.path.exists(samples_path) else None
    steps_path = os.path.join(work, "step_seconds.json")
    steps = json.load(open(steps_path)) if os.path.exists(steps_path) else {}
    # step 5's (the detectors') times are report_detect.py's
    steps = {k: v for k, v in steps.items() if not k.startswith("detect")}
    return measure, lineage, search, samples, steps


def group_of(name, lineage):
    rec = lineage.get(name)
    if rec is None:
        return "zoo"
    return {"prune-l1+kd": "pruned", "distill": "distilled", "nas+kd": "searched"}.get(rec["method"], rec["method"])


def build_rows(measure, lineage):
    rows = []
    for r in measure["rows"]:
        if "error" in r:
            continue
        name, prec = r["model"], r["precision"]
        rec = lineage.get(name, {})
        for dev, d in DEVICES.items():
            ms = r["ms"][d["threads"]]["ms_mean"] * d["scale"]
            rows.append({
                "task": "classification", "device": dev, "model": name if prec == "fp32" else f"{name}-int8",
                "base_model": name, "precision": prec, "group": group_of(name, lineage),
                "parent": rec.get("parent", "") if prec == "fp32" else name,
                "method": (rec.get("method", "zoo") if prec == "fp32" else "int8:cv-quantize"),
                "accuracy": r["top1"], "ms": round(ms, 5), "energy_j": round(ms / 1000 * d["power_w"], 7),
                "energy_source": d["energy_source"], "bytes": r["bytes"],
                "peak_rss_mb": r.get("peak_rss_mb"), "model_rss_mb": r.get("model_rss_mb"),
                "sha256": r.get("sha256"), "arch": rec.get("arch_name", ""),
            })
    return rows


def pareto(rows):
    """Rows no other row beats on both ms (lower) and accuracy (higher)."""
    front = []
    for a in rows:
        if not any(b["ms"] <= a["ms"] and b["accuracy"] >= a["accuracy"] and
                   (b["ms"] < a["ms"] or b["accuracy"] > a["accuracy"]) for b in rows):
            front.append(a)
    return sorted(front, key=lambda r: r["ms"])


def best_within(rows, budget):
    ok = [r for r in rows if r["ms"] <= budget]
    return max(ok, key=lambda r: r["accuracy"]) if ok else None


def fmt_pct(x):
    return f"{100 * x:.2f}%"


def zoo_and_searched(dev_rows):
    zoo = [r for r in dev_rows if r["group"] == "zoo" and r["precision"] == "fp32"]
    return zoo, [r for r in dev_rows if r["group"] == "searched"]


def compare_at(dev_rows, budgets):
    """At each budget (ms): the best zoo model, the best searched one and the best new one
    (any method) that fit in it, and whether the searched one is the more accurate."""
    zoo, searched = zoo_and_searched(dev_rows)
    new = [r for r in dev_rows if r["group"] != "zoo"]
    out = []
    for b in budgets:
        bz, bs, bn = best_within(zoo, b), best_within(searched, b), best_within(new, b)
        out.append({"budget_ms": b, "zoo": bz and bz["model"], "zoo_accuracy": bz and bz["accuracy"],
                    "searched": bs and bs["model"], "searched_accuracy": bs and bs["accuracy"],
                    "any_new": bn and bn["model"], "any_new_accuracy": bn and bn["accuracy"],
                    "searched_better": bool(bs and (bz is None or bs["accuracy"] > bz["accuracy"]))})
    return out


def budgets_table(dev_rows):
    """Each zoo model's own latency as a budget."""
    zoo = sorted(zoo_and_searched(dev_rows)[0], key=lambda r: r["ms"])
    rows = compare_at(dev_rows, [z["ms"] for z in zoo])
    for row, z in zip(rows, zoo):
        row["budget_of"] = z["model"]
    return rows


def grid_budgets(dev_rows, n=12):
    """n budgets spaced evenly in log(ms) from the fastest searched model to the slowest zoo
    model: a zoo model's own latency is the one budget where it fits exactly, so the
    zoo-latency budgets alone favour the zoo."""
    zoo, searched = zoo_and_searched(dev_rows)
    if not zoo or not searched:
        return []
    lo, hi = min(r["ms"] for r in searched), max(r["ms"] for r in zoo)
    # The ends exactly (exp(log(x)) may fall just below the slowest zoo model).
    inner = [math.exp(math.log(lo) + (math.log(hi) - math.log(lo)) * i / (n - 1)) for i in range(1, n - 1)]
    return compare_at(dev_rows, [lo] + inner + [hi])


def not_a_zoo_float(r):
    return not (r["group"] == "zoo" and r["precision"] == "fp32")


def targets(dev_rows, base=BASE, counted=not_a_zoo_float):
    """Against the base: each counted model's speed-up, accuracy lost (points) and size,
    and whether all three meet issue 19's target (>= 2x, <= 1 point, >= 4x)."""
    b = next(r for r in dev_rows if r["model"] == base)
    out = []
    for r in dev_rows:
        if not counted(r):
            continue
        speed, lost, smaller = b["ms"] / r["ms"], 100 * (b["accuracy"] - r["accuracy"]), b["bytes"] / r["bytes"]
        out.append({"model": r["model"], "speedup": speed, "loss_points": lost, "smaller": smaller,
                    "meets": speed >= 2 and lost <= 1 and smaller >= 4})
    return sorted(out, key=lambda t: -t["speedup"])


def targets_md(tg, base_label, metric):
    """targets()' Markdown table, under a line that states the target."""
    return ["", f"Against the base ({base_label}): target ≥ 2× faster, ≤ 1 point {metric} lost, ≥ 4× smaller.", "",
            f"| model | speed-up | {metric} lost (points) | smaller | all three |", "|---|---|---|---|---|"] + \
        [f"| {t['model']} | {t['speedup']:.2f}× | {t['loss_points']:+.2f} | {t['smaller']:.2f}× | "
         f"{'**met**' if t['meets'] else 'no'} |" for t in tg]


def write_report(out, doc, md, draw):
    """OUT.png (draw(path)), OUT.json and OUT.md, the Markdown ending with the plot."""
    md = md + ["", f"![{os.path.basename(out)}]({os.path.basename(out)}.png)", ""]
    draw(out + ".png")
    with open(out + ".json", "w") as f:
        json.dump(doc, f, indent=1)
    with open(out + ".md", "w") as f:
        f.write("\n".join(md) + "\n")
    print(f"wrote {out}.md, .json, .png")


def plot(rows, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, len(DEVICES), figsize=(13, 5.2))
    style = {"zoo": ("o", "tab:gray"), "pruned": ("s", "tab:blue"), "distilled": ("^", "tab:green"),
             "searched": ("D", "tab:red")}
    for ax, dev in zip(axes, DEVICES):
        dr = [r for r in rows if r["device"] == dev]
        for g, (marker, color) in style.items():
            for prec, fill in (("fp32", color), ("int8", "none")):
                pts = [r for r in dr if r["group"] == g and r["precision"] == prec]
                if pts:
                    ax.scatter([r["ms"] for r in pts], [100 * r["accuracy"] for r in pts], marker=marker,
                               facecolors=fill, edgecolors=color, s=46,
                               label=f"{g} {prec}" if prec == "fp32" else f"{g} int8 (cv quantize)")
        for label, sel, ls in (("zoo front", lambda r: r["group"] == "zoo" and r["precision"] == "fp32", ":"),
                               ("front with the new models", lambda r: True, "-")):
            f = pareto([r for r in dr if sel(r)])
            ax.step([r["ms"] for r in f], [100 * r["accuracy"] for r in f], where="post", ls=ls,
                    color="black", lw=1, label=label)
        for r in dr:
            if r["precision"] == "fp32" and (r["group"] == "zoo" or r["model"].startswith("resnet-20-p")):
                ax.annotate(r["model"], (r["ms"], 100 * r["accuracy"]), fontsize=6, xytext=(3, -8),
                            textcoords="offset points")
        ax.set_xscale("log")
        ax.set_xlabel("ms per image (batch 1)")
        ax.set_ylabel("top-1 on the test split (%)")
        ax.set_ylim(84, 94)
        ax.set_title(f"{dev}: {DEVICES[dev]['what']}", fontsize=9)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--work", required=True)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    measure, lineage, search, samples, steps = load(args.work)
    rows = build_rows(measure, lineage)
    machine = measure.get("machine", {})
    now = datetime.datetime.utcnow().strftime("%Y-%m-%d %H:%M UTC")
    doc = {"generated": now, "machine": machine, "kernel": platform.release(), "devices": DEVICES,
           "images": measure.get("images"), "step_seconds": steps, "rows": rows,
           "lineage": lineage, "budgets": {}, "targets": {}, "fronts": {}}
    md = ["# Compression and architecture search (issue 19)", "",
          "Generated by `bench/compress/run.sh` (report: `bench/compress/report.py`); do not edit.", "",
          f"- Machine: {machine.get('cpu', '?')}, {machine.get('cores', '?')} cores, Linux {platform.release()}; {now}.",
          f"- Accuracy: top-1 on the first {measure.get('images')} Fashion-MNIST test images, measured through "
          "OpenCV DNN in C++ (`compress_eval`), fp32 and int8 (`cv::dnn::Net::quantize`, 500 training "
          "images calibrate it). ms: batch-1 mean over the timed images, best of 3 rounds.",
          "- Devices: " + "; ".join(f"**{d}** = {v['what']}" for d, v in DEVICES.items()) +
          ". The Pi is an emulation of its speed (bench/edge_based's factor), not a Pi.",
          "- Energy: the profile's power above idle × ms (`estimated:<profile>`; no power sensor here). "
          "Per device it is ms times a constant, so its front is the latency front. For x86-edge it is "
          "the whole server's dynamic range, an upper bound for a 2-thread inference.",
          "- bytes: the ONNX file (fp32 weights; an int8 row loads the same file and quantizes it at load). "
          "peak_rss_mb: peak resident memory of a fresh process that loads the model and runs 200 inferences "
          "(OpenCV's libraries included); model MB = that peak minus the process before loading.", ""]
    if steps:
        search_steps = [s for s in ("supernet", "sample", "latency", "search", "finetune") if s in steps]
        total = sum(steps[s] for s in search_steps)
        md += ["## Time (this machine, 2 cores)", "",
               "| step | seconds |", "|---|---|"] + [f"| {k} | {v:.0f} |" for k, v in steps.items()] + \
              [f"| **search + fine-tuning** ({' + '.join(search_steps)}) | **{total:.0f}** ({total / 60:.1f} min) |", ""]
        doc["search_and_finetune_seconds"] = total
    for dev in DEVICES:
        dr = [r for r in rows if r["device"] == dev]
        front = pareto(dr)
        doc["fronts"][dev] = [r["model"] for r in front]
        md += [f"## {dev}", "", "| model | group | parent | method | top-1 | ms | energy/image | bytes | peak RSS MB (model) | front |",
               "|---|---|---|---|---|---|---|---|---|---|"]
        for r in sorted(dr, key=lambda r: r["ms"]):
            mark = "**yes**" if r in front else ""
            rss = "" if r["peak_rss_mb"] is None else f"{r['peak_rss_mb']:.1f} ({r['model_rss_mb']:.1f})"
            md.append(f"| {r['model']} | {r['group']} | {r['parent']} | {r['method']} | {fmt_pct(r['accuracy'])} | "
                      f"{r['ms']:.3f} | {1000 * r['energy_j']:.3f} mJ | {r['bytes']:,} | {rss} | {mark} |")
        bt = budgets_table(dr)
        doc["budgets"][dev] = bt
        wins = sum(b["searched_better"] for b in bt)
        md += ["", f"Latency budgets (each zoo model's own ms): best zoo vs best searched model within it — "
                   f"searched better at **{wins} of {len(bt)}** budgets.", "",
               "| budget (ms) | = zoo model | best zoo | best searched | best new (any method) |", "|---|---|---|---|---|"]
        for b in bt:
            s = f"{b['searched']} {fmt_pct(b['searched_accuracy'])}" if b["searched"] else "none fits"
            n = f"{b['any_new']} {fmt_pct(b['any_new_accuracy'])}" if b["any_new"] else "none fits"
            md.append(f"| {b['budget_ms']:.3f} | {b['budget_of']} | {b['zoo']} {fmt_pct(b['zoo_accuracy'])} | {s} | {n} |")
        gb = grid_budgets(dr)
        doc.setdefault("grid_budgets", {})[dev] = gb
        gwins = sum(b["searched_better"] for b in gb)
        md += ["", f"The same at {len(gb)} budgets spaced evenly in log(ms) from the fastest searched model to the "
                   f"slowest zoo model — searched better at **{gwins} of {len(gb)}**:", "",
               "| budget (ms) | best zoo | best searched |", "|---|---|---|"]
        for b in gb:
            z = f"{b['zoo']} {fmt_pct(b['zoo_accuracy'])}" if b["zoo"] else "none fits"
            s_ = f"{b['searched']} {fmt_pct(b['searched_accuracy'])}" if b["searched"] else "none fits"
            md.append(f"| {b['budget_ms']:.3f} | {z} | {'**' + s_ + '**' if b['searched_better'] else s_} |")
        tg = targets(dr)
        doc["targets"][dev] = tg
        md += targets_md(tg, f"{BASE} fp32", "top-1") + [""]
    # int8 at 1 and 2 threads
    md += ["## int8 (cv::dnn::Net::quantize) vs fp32, ms per image at 1 and 2 threads (this machine)", "",
           "| model | fp32 1 thr | int8 1 thr | int8/fp32 | fp32 2 thr | int8 2 thr | int8/fp32 | top-1 fp32 → int8 |",
           "|---|---|---|---|---|---|---|---|"]
    by = {(r["model"], r["precision"]): r for r in measure["rows"] if "error" not in r}
    for (name, prec), r in sorted(by.items()):
        if prec != "fp32" or (name, "int8") not in by:
            continue
        q = by[(name, "int8")]
        a1, b1 = r["ms"]["1"]["ms_mean"], q["ms"]["1"]["ms_mean"]
        a2, b2 = r["ms"]["2"]["ms_mean"], q["ms"]["2"]["ms_mean"]
        md.append(f"| {name} | {a1:.4f} | {b1:.4f} | {b1 / a1:.2f} | {a2:.4f} | {b2:.4f} | {b2 / a2:.2f} | "
                  f"{fmt_pct(r['top1'])} → {fmt_pct(q['top1'])} |")
    errors = [r for r in measure["rows"] if "error" in r]
    if errors:
        md += ["", "Not measured: " + "; ".join(f"{r['model']} {r.get('precision', '')}: {r['error']}" for r in errors)]
    if search:
        md += ["", "## The search (nas_search: pagmo2 NSGA-II on fitted models)", "",
               f"Space `{search.get('space')}`: {rs.space_size():,} architectures (resolution 20/24/28, "
               "depth 1–3 and width 0.5/0.75/1 per stage, kernel 3/5 per block). "
               f"Population {search.get('pop')}, {search.get('gens')} generations, seed {search.get('seed')}."]
        if samples:
            md.append(f"Samples: {len(samples['samples'])} subnets' val top-1 through the supernet "
                      f"({samples.get('val_images')} held-out training images, BN statistics re-estimated per "
                      f"subnet on {samples.get('recalibration_images')}); "
                      f"{sum(1 for s in samples['samples'] if 'ms' in s)} of them timed.")
        am = search.get("accuracy_model", {})
        ho = am.get("holdout", {})
        md += ["", f"- Accuracy predictor (ridge, λ {am.get('lambda')}): held-out n {ho.get('n')}, "
                   f"MAE {ho.get('mae_points', float('nan')):.2f} points, Spearman {ho.get('spearman', float('nan')):.3f}."]
        for dev, res in search.get("devices", {}).items():
            lm = res.get("latency_model", {})
            lh = lm.get("holdout", {})
            md.append(f"- {dev} latency model (non-negative least squares): held-out n {lh.get('n')}, MAPE "
                      f"{lh.get('mape_pct', float('nan')):.1f}%, max {lh.get('max_abs_pct', float('nan')):.1f}%, "
                      f"Spearman {lh.get('spearman', float('nan')):.3f}; search {res.get('search_seconds', 0):.2f} s, "
                      f"Pareto set {len(res.get('pareto', []))} architectures.")
        md += ["", "Picked architectures, predicted (supernet val top-1, fitted ms) vs measured after fine-tuning:", "",
               "| model | device | architecture | MACs | predicted ms | measured ms | supernet val top-1 | val after fine-tune | test top-1 |",
               "|---|---|---|---|---|---|---|---|---|"]
        acc = {r["model"]: r for r in rows}
        for name, rec in lineage.items():
            if rec.get("method") != "nas+kd":
                continue
            dev = rec["device"]
            m = next((r for r in rows if r["model"] == name and r["device"] == dev), None)
            md.append(f"| {name} | {dev} | {rec['arch_name']} | {rec['macs']:,} | {rec.get('pred_ms') or 0:.3f} | "
                      f"{m['ms'] if m else float('nan'):.3f} | {fmt_pct(rec['settings']['val_top1_from_supernet'])} | "
                      f"{fmt_pct(rec['val_top1_per_epoch'][-1])} | {fmt_pct(acc[name]['accuracy']) if name in acc else '?'} |")
    write_report(args.out, doc, md, lambda path: plot(rows, path))


if __name__ == "__main__":
    main()
