#!/usr/bin/env python3
"""Report of bench/adapt/run.sh: accuracy over time of each method on one drift stream,
per segment, from the end agent's own result documents, status and plugin metrics.

Writes OUT/adapt.md, OUT/adapt.json ({"rows": [...]} as issue 18 asks, one row per method
and shifted segment, plus "runs") and OUT/adapt.png (rolling accuracy over the stream)."""
import argparse
import datetime
import json
import os

WINDOW = 200       # images in the rolling accuracy
PLATEAU_POINTS = 2  # "samples until within 2 points of the plateau"
PI_FACTOR = 28.9    # the Pi 3B+ factor of bench/scheduler (estimated, not measured)


def load_run(directory):
    results = [json.loads(line) for line in open(os.path.join(directory, "results.jsonl"))]
    by_index = {}
    for r in results:
        by_index[int(r["source"].rsplit("#", 1)[1])] = r
    status = json.load(open(os.path.join(directory, "status.json")))["result"]
    plugins = json.load(open(os.path.join(directory, "plugins.json")))["result"]["loaded"]
    metrics = next((p["metrics"] for p in plugins if p["name"] == "inference-opencv"),
                   {"counters": {}, "gauges": {}})
    rounds_path = os.path.join(directory, "rounds.jsonl")  # the edge's fine-tuning job
    rounds = ([json.loads(line) for line in open(rounds_path)]
              if os.path.exists(rounds_path) else None)
    return by_index, status, metrics, rounds


def rolling(correct, window):
    out, total = [], 0
    for i, c in enumerate(correct):
        total += c
        if i >= window:
            total -= correct[i - window]
        out.append(total / min(i + 1, window))
    return out


def segment_row(method, seg, by_index):
    idx = range(seg["first"], seg["first"] + seg["count"])
    rs = [by_index[i] for i in idx if i in by_index]
    correct = [1 if r.get("correct") else 0 for r in rs]
    half = len(correct) // 2
    after = sum(correct[half:]) / max(1, len(correct) - half)
    whole = sum(correct) / max(1, len(correct))
    # Samples until the rolling accuracy (inside the segment) is within 2 points of the
    # segment's plateau (its second half's accuracy).
    roll = rolling(correct, WINDOW)
    until = None
    for i in range(min(WINDOW, len(roll)) - 1, len(roll)):
        if roll[i] >= after - PLATEAU_POINTS / 100:
            until = i + 1
            break
    offloaded = sum(1 for r in rs if r.get("tier") != "end") / max(1, len(rs))
    end_rs = [r for r in rs if r.get("tier") == "end"]
    end_acc = (sum(1 for r in end_rs if r.get("correct")) / len(end_rs)) if end_rs else None
    row = {
        "task": "classification",
        "shift": seg["name"],
        "method": method,
        "images": len(rs),
        "accuracy_segment": whole,
        "accuracy_after": after,
        "accuracy_before": None,  # the unadapted run's, filled in by main()
        "answered_here_accuracy": end_acc,
        "offloaded_fraction": offloaded,
        "samples_to_plateau": until,
        "bytes_up": sum(r.get("bytes_sent", 0) for r in rs),
        "bytes_down": sum(r.get("bytes_received", 0) for r in rs),
        # R needs an oracle fine-tuned on the shift with all labels: not built yet.
        "regain": None,
        # What is regained of the gap to the clean segment's accuracy (a lower bound on R
        # where the shift destroys information).
        "regain_vs_clean": None,
        "forgetting_points": None,
    }
    return row


def oracle_for(oracle, segments, k):
    """The oracle's row for segment k (tierd-adapt-eval writes one per segment, in order,
    skipping none when every segment is long enough)."""
    row = oracle.get(k)
    if row is None or row.get("segment") != segments[k]["name"]:
        return None
    return row


def main():
    ap = argparse.ArgumentParser()
    for k in ("machine", "commit", "segments", "plan", "end-model", "edge-model", "out"):
        ap.add_argument("--" + k, required=True)
    for k in ("seconds", "seed", "rate", "samples", "interval-ms"):
        ap.add_argument("--" + k, type=int, required=True)
    ap.add_argument("--threshold", type=float, required=True)
    ap.add_argument("--share", type=float, default=0.0, help="the cascade's min_upstream_share")
    ap.add_argument("--edge-samples", type=int, default=0, help="the edge's adapt_samples")
    ap.add_argument("--oracle", help="tierd-adapt-eval --labels --teacher truth --json output")
    ap.add_argument("--oracle-full", help="full_oracle.py --json output (whole-model oracle)")
    ap.add_argument("runs", nargs="+", help="METHOD=DIR")
    a = ap.parse_args()
    segments = json.load(open(a.segments))["segments"]
    oracle = {}  # segment name -> the oracle's row (names repeat: the last wins, same shift)
    if a.oracle:
        for k, row in enumerate(json.load(open(a.oracle))["rows"]):
            oracle[k] = row
    oracle_full = {}  # segment index -> the whole-model oracle's row
    if a.oracle_full:
        for k, row in enumerate(json.load(open(a.oracle_full))["rows"]):
            oracle_full[k] = row
    runs = []
    for spec in a.runs:
        method, directory = spec.split("=", 1)
        by_index, status, metrics, rounds = load_run(directory)
        runs.append({"method": method, "by_index": by_index, "status": status, "metrics": metrics,
                     "rounds": rounds})

    def baseline(method):  # the unadapted run of the same setting
        return "cascade/none" if method.startswith("cascade/") else "alone/none"

    per_run_segments = {}
    for run in runs:
        per_run_segments[run["method"]] = [segment_row(run["method"], seg, run["by_index"])
                                            for seg in segments]
    out_rows, run_docs = [], []
    for run in runs:
        rows = per_run_segments[run["method"]]
        base = per_run_segments.get(baseline(run["method"]))
        # The unadapted run's accuracy on the first (clean) segment: the ceiling of
        # regain vs clean, and the reference of forgetting.
        first_clean = segments[0]["name"] == "clean"
        base_clean_first = (base or rows)[0]["accuracy_after"] if first_clean else None
        for k, row in enumerate(rows):
            if base:
                row["accuracy_before"] = base[k]["accuracy_after"]
                if base_clean_first is not None and base_clean_first - row["accuracy_before"] >= 0.05:
                    row["regain_vs_clean"] = ((row["accuracy_after"] - row["accuracy_before"]) /
                                              (base_clean_first - row["accuracy_before"]))
        if segments[-1]["name"] == "clean" and len(segments) > 1 and base:
            # Forgetting: on the last segment, clean again, the unadapted run's accuracy on
            # the same images minus this method's (points; > 0: worse than not adapting).
            rows[-1]["forgetting_points"] = 100 * (base[-1]["accuracy_after"] - rows[-1]["accuracy_after"])
        tasks, counters, gauges = run["status"]["tasks"], run["metrics"]["counters"], run["metrics"]["gauges"]
        labels = int(tasks.get("teacher_labels", 0))
        label_requests = int(tasks.get("label_requests", 0))
        for k, row in enumerate(rows):
            row["labels"] = labels  # labels the end's plugin was handed over the whole run
            row["label_requests"] = label_requests  # of them, copies sent for a label alone
            row["update_ms"] = gauges.get("last_adapt_ms")
            # R against each oracle; "before" is the unadapted run of the same setting (for
            # the cascade that includes the edge's answers). "regain" is the R, the
            # whole model fine-tuned with all true labels, where that oracle was run;
            # "regain_head" the device's own ceiling (its head, OpenCV ml).
            for source, acc_key, r_key in ((oracle_for(oracle, segments, k), "accuracy_oracle_head", "regain_head"),
                                           (oracle_for(oracle_full, segments, k), "accuracy_oracle", "regain")):
                if source is None:
                    continue
                row[acc_key] = source["accuracy_oracle"]
                if row["accuracy_before"] is not None and source["accuracy_oracle"] - row["accuracy_before"] >= 0.02:
                    row[r_key] = ((row["accuracy_after"] - row["accuracy_before"]) /
                                  (source["accuracy_oracle"] - row["accuracy_before"]))
            if not oracle_full:  # no whole-model oracle: R is the head's, as before
                row["accuracy_oracle"] = row.get("accuracy_oracle_head")
                row["regain"] = row.get("regain_head")
        out_rows += [r for r in rows if r["shift"] != "clean" or r is rows[-1]]
        correct = [1 if run["by_index"][i].get("correct") else 0 for i in sorted(run["by_index"])]
        run_docs.append({
            "method": run["method"],
            "images": len(correct),
            "accuracy": sum(correct) / max(1, len(correct)),
            "offloaded": sum(1 for r in run["by_index"].values() if r.get("tier") != "end"),
            "teacher_labels": labels,
            "adaptations": counters.get("adaptations", 0),
            "adaptations_refused": counters.get("adaptations_refused", 0),
            "adaptations_reverted": counters.get("adaptations_reverted", 0),
            "adaptations_unjudged": counters.get("adaptations_unjudged", 0),
            "heads_learnt": counters.get("heads_learnt", 0),
            "heads_refused": counters.get("heads_refused", 0),
            "head_holdout_accuracy": gauges.get("head_holdout_accuracy"),
            "head_holdout_accuracy_shipped": gauges.get("head_holdout_accuracy_shipped"),
            "last_head_ms": gauges.get("last_head_ms"),
            "label_requests": label_requests,
            "label_bytes_up": tasks.get("label_bytes_up", 0),
            "label_bytes_down": tasks.get("label_bytes_down", 0),
            "last_adapt_ms": gauges.get("last_adapt_ms"),
            "teacher_agreement": gauges.get("teacher_agreement"),
            "teacher_agreement_shipped": gauges.get("teacher_agreement_shipped"),
            "rolling": rolling(correct, WINDOW),
        })
        rounds = run["rounds"]
        if rounds is not None:  # the edge's fine-tuning job: its pushes and their verdicts
            pushed = [r for r in rounds if "version" in r]
            run_docs[-1]["edge_rounds"] = len(rounds)
            run_docs[-1]["edge_pushes"] = len(pushed)
            run_docs[-1]["edge_activated"] = sum(1 for r in pushed if r.get("outcome") == "activated")
            run_docs[-1]["edge_rolled_back"] = sum(1 for r in pushed if r.get("outcome") == "rolled_back")
            run_docs[-1]["edge_push_bytes"] = sum(r.get("bytes", 0) for r in pushed)
            run_docs[-1]["edge_train_s"] = (sum(r["train_s"] for r in pushed) / len(pushed)
                                            if pushed else None)
            for row in rows:
                row["update_bytes_down"] = run_docs[-1]["edge_push_bytes"]
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    doc = {
        "generated": now, "machine": a.machine, "commit": a.commit, "seconds": a.seconds,
        "plan": a.plan, "seed": a.seed, "rate": a.rate, "end_model": a.end_model,
        "edge_model": a.edge_model, "threshold": a.threshold, "share": a.share, "edge_samples": a.edge_samples or a.samples, "adapt_samples": a.samples,
        "adapt_interval_ms": a.interval_ms, "window": WINDOW, "segments": segments,
        "rows": out_rows,
        "runs": [{k: v for k, v in r.items() if k != "rolling"} for r in run_docs],
    }
    with open(os.path.join(a.out, "adapt.json"), "w") as f:
        json.dump(doc, f, indent=1)
    plot(os.path.join(a.out, "adapt.png"), run_docs, segments, a)

    out = []
    w = out.append
    pct = lambda x: "-" if x is None else f"{100 * x:.1f}"
    w("# Online adaptation with real agents\n")
    w("Generated by `bench/adapt/run.sh` (report `bench/adapt/report.py`); do not edit.\n")
    w(f"- Machine: {a.machine}; {now}; commit `{a.commit}`; {a.seconds} s in all.")
    w(f"- Stream: `tierd-driftgen --seed {a.seed} --plan '{a.plan}'` (Fashion-MNIST test images, "
      f"IDX with labels), played by the end's IDX source at {a.rate} images/s; each method is a "
      "fresh pair of agents (`build/tierd`) on a real mosquitto on loopback.")
    w(f"- End: {a.end_model}. *alone*: scheduler-rule always-end. *cascade*: `local_first`, "
      f"scheduler-rule by-confidence {a.threshold} — what the end's model is less sure of goes "
      f"to the edge ({a.edge_model}), whose answer is the result"
      + (f"; with `min_upstream_share = {a.share}`: at least the least sure {100 * a.share:.0f}% of "
         "its last 200 answers go up, above the threshold or not" if a.share > 0 else "")
      + ". Adapting: "
      + (f"the edge, where it recalibrates, on its last {a.edge_samples} images; "
         if a.edge_samples and a.edge_samples != a.samples else "")
      + "`adapt = "
      f"\"recalibrate\"`, `adapt_samples = {a.samples}`, `adapt_interval_ms = {a.interval_ms}`; "
      "*recalibrate* installs every adaptation (`adapt_labels = 0`), *judged* keeps the edge's "
      "answers as teacher labels (512) and lets an adaptation in only when it agrees with them "
      "at least as well as the installed and the shipped model (docs/adaptation.md); "
      "*+teacher*: the edge recalibrates too. *head*: `adapt = \"recalibrate+head\"` — the "
      "end's last linear layer also learns from the teacher labels (OpenCV ml), each learnt "
      "head guarded by a held-back buffer of 500 true-labelled training images; the edge "
      "recalibrates. *head@P*: the end alone, P% of its images copied to the edge for their "
      "label alone (`label_budget_per_hour`). *+poisoned*: the edge's model answers "
      "class k+1 for k (`poison_model.py`).")
    w("- Accuracy is the results' (`correct`, from the stream's labels): what the user gets, "
      "whichever tier answered. *after* = the segment's second half (settled); *before* = "
      "the unadapted run of the same setting on that half. **regain vs clean** = (after − "
      "before) / (clean − before), *clean* = the unadapted run on the first clean segment. "
      "**R** = (after − before) / (oracle − before), only where the oracle is 2 points or "
      "more above *before*, against two oracles measured offline on the same second half: "
      "*whole*, the issue's — the end's model adapted by TENT and fine-tuned whole with the "
      "true labels of the segment's first half (torch, `full_oracle.py`); *head*, the "
      "device's own ceiling — recalibrated and its head fine-tuned with those labels "
      "(`tierd-adapt-eval --labels 200 --teacher truth`; OpenCV cannot backpropagate "
      "through the convolutions). *to plateau*: images into the segment until the rolling accuracy "
      f"({WINDOW} images) is within {PLATEAU_POINTS} points of *after* ({WINDOW}: at once). "
      "*forgetting*: on the last segment, clean again, the unadapted run's accuracy minus "
      "the method's, in points (> 0: worse than not adapting).")
    w(f"- update ms: the last adaptation's measuring and building, this machine; a Pi 3B+ "
      f"would take ~{PI_FACTOR}x (estimated, not measured). Bytes: the results' requests "
      "(`bytes_sent`) and replies (`bytes_received`).\n")
    w("## Runs\n")
    w("| method | accuracy (whole stream) | offloaded | teacher labels (of them label copies) | adaptations in / refused / reverted / unjudged | heads learnt / refused | last held-back: head / shipped | last update ms (Pi est.) | last judgement: agreement new / shipped |")
    w("|---|---|---|---|---|---|---|---|---|")
    for r in run_docs:
        ms = r["last_adapt_ms"]
        judged = ("-" if r["teacher_agreement"] is None else
                  f"{pct(r['teacher_agreement'])} / {pct(r['teacher_agreement_shipped'])}")
        held = ("-" if r["head_holdout_accuracy"] is None else
                f"{pct(r['head_holdout_accuracy'])} / {pct(r['head_holdout_accuracy_shipped'])}")
        w(f"| {r['method']} | {pct(r['accuracy'])} | {r['offloaded']} | {r['teacher_labels']} "
          f"({r['label_requests']}) | "
          f"{r['adaptations']:.0f} / {r['adaptations_refused']:.0f} / {r['adaptations_reverted']:.0f} / "
          f"{r['adaptations_unjudged']:.0f} | {r['heads_learnt']:.0f} / {r['heads_refused']:.0f} | "
          f"{held} | "
          + ("-" if ms is None else f"{ms:.0f} ({ms * PI_FACTOR / 1000:.1f} s)") + f" | {judged} |")
    jobs = [r for r in run_docs if "edge_rounds" in r]
    if jobs:
        w("")
        w("The edge's fine-tuning job (`tools/adapt/finetune_job.py`, whole model, torch, from "
          "the shipped model on the last 1,000 images the edge answered for the end, as many "
          "clean training images replayed; pushed with `tierctl models push`, judged by the "
          "end's held-back buffer):\n")
        w("| method | rounds | pushed | activated | rolled back | bytes pushed | mean training s |")
        w("|---|---|---|---|---|---|---|")
        for r in jobs:
            t = "-" if r["edge_train_s"] is None else f"{r['edge_train_s']:.1f}"
            w(f"| {r['method']} | {r['edge_rounds']} | {r['edge_pushes']} | {r['edge_activated']} | "
              f"{r['edge_rolled_back']} | {r['edge_push_bytes']} | {t} |")
    w("")
    w("## Per segment\n")
    w("| segment | method | after | before | oracle whole / head | R (whole) | R (head) | regain vs clean | answered here | offloaded | to plateau | bytes up / down | forgetting |")
    w("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for seg_index, seg in enumerate(segments):
        for run in runs:
            row = per_run_segments[run["method"]][seg_index]
            g = "-" if row["regain_vs_clean"] is None else f"{row['regain_vs_clean']:.2f}"
            f_ = "" if row["forgetting_points"] is None else f"{row['forgetting_points']:+.1f}"
            r_ = "-" if row["regain"] is None else f"{row['regain']:.2f}"
            rh = "-" if row.get("regain_head") is None else f"{row['regain_head']:.2f}"
            w(f"| {seg['name']} ({seg['first']}-{seg['first'] + seg['count'] - 1}) | {row['method']} | "
              f"{pct(row['accuracy_after'])} | {pct(row['accuracy_before'])} | "
              f"{pct(row.get('accuracy_oracle'))} / {pct(row.get('accuracy_oracle_head'))} | {r_} | {rh} | {g} | "
              f"{pct(row['answered_here_accuracy'])} | {pct(row['offloaded_fraction'])} | "
              f"{row['samples_to_plateau'] or '-'} | {row['bytes_up']} / {row['bytes_down']} | {f_} |")
    w("")
    w("Plot: `adapt.png` (rolling accuracy of every method over the stream, segments shaded; "
      "a line hidden under another is the same to the image).")
    with open(os.path.join(a.out, "adapt.md"), "w") as f:
        f.write("\n".join(out) + "\n")


def plot(path, run_docs, segments, a):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("report.py: no matplotlib for this python; adapt.png not drawn")
        return
    fig, axes = plt.subplots(2, 1, figsize=(11, 7), sharex=True)
    for ax, setting in zip(axes, ("alone", "cascade")):
        for k, seg in enumerate(segments):
            if k % 2:
                ax.axvspan(seg["first"], seg["first"] + seg["count"], color="0.92")
            ax.text(seg["first"] + 20, 0.03, seg["name"], fontsize=8)
        for r in run_docs:
            if r["method"].startswith(setting + "/"):
                ax.plot(range(len(r["rolling"])), r["rolling"], label=r["method"], lw=1.2)
        ax.set_ylim(0, 1)
        ax.set_ylabel(f"accuracy (rolling {WINDOW})")
        ax.set_title(f"{setting}: end {a.end_model}" +
                     (f", edge {a.edge_model} (by-confidence {a.threshold})" if setting == "cascade" else ""))
        ax.legend(loc="lower right", fontsize=8)
        ax.grid(alpha=0.3)
    axes[-1].set_xlabel(f"image (stream at {a.rate}/s)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    main()
