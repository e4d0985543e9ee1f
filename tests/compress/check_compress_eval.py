#!/usr/bin/python3
"""Run tools/compress's compress_eval on a real model and check what it reports.

  check_compress_eval.py measure COMPRESS_EVAL MODEL [--expect-top1 X] [--top1-tolerance T]
      tiny settings (--limit 500 --time-images 50 --warmup 5 --repeats 1 --int8 100
      --memory --layers); checks the fp32 and int8 rows: top1 near the expected value and
      int8 within 0.02 of fp32, ms > 0 at threads 1 and 2, bytes and sha256 equal to the
      file's, peak_rss_mb > model_rss_mb > 0, per-layer times present and adding up to
      within a sane factor of ms_mean.
  check_compress_eval.py errors COMPRESS_EVAL MODEL
      a missing model file: exit 2 and a message naming the file; a file OpenCV cannot
      load next to MODEL: exit 1, an "error" row for it, MODEL still measured.

The dataset directory is TIERD_FMNIST_DIR or compress_eval's default. Exit status: 0 pass,
1 fail (each failure printed).
"""
import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile

TINY = ["--limit", "500", "--time-images", "50", "--warmup", "5", "--repeats", "1"]


def run_tool(tool, args):
    data = os.environ.get("TIERD_FMNIST_DIR")
    cmd = [tool] + (["--data", data] if data else []) + args
    print("running:", " ".join(cmd))
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=110)
    return proc


def check_row_files(row, model, failures):
    blob = open(model, "rb").read()
    where = f"{row['precision']} row"
    if row.get("bytes") != len(blob):
        failures.append(f"{where}: bytes {row.get('bytes')} != file size {len(blob)}")
    if row.get("sha256") != hashlib.sha256(blob).hexdigest():
        failures.append(f"{where}: sha256 {row.get('sha256')} != hashlib's")
    if not isinstance(row.get("flops"), int) or row["flops"] <= 0:
        failures.append(f"{where}: flops {row.get('flops')} not a positive integer")


def check_row_timing(row, failures):
    where = f"{row['precision']} row"
    for threads in ("1", "2"):
        t = row.get("ms", {}).get(threads)
        if not t:
            failures.append(f"{where}: no ms for {threads} thread(s)")
            continue
        if not 0 < t["ms_p50"] <= t["ms_p90"] or t["ms_mean"] <= 0:
            failures.append(f"{where}: implausible ms at {threads} thread(s): {t}")


def check_row_memory(row, failures):
    where = f"{row['precision']} row"
    peak, model = row.get("peak_rss_mb"), row.get("model_rss_mb")
    if peak is None or model is None:
        failures.append(f"{where}: no peak_rss_mb/model_rss_mb ({row.get('memory_error')})")
    elif not peak > model > 0:
        failures.append(f"{where}: want peak_rss_mb > model_rss_mb > 0, got {peak}, {model}")


def check_row_layers(row, failures):
    where = f"{row['precision']} row"
    for threads in ("1", "2"):
        layers = row.get("layers", {}).get(threads)
        if not layers:
            failures.append(f"{where}: no layers for {threads} thread(s)")
            continue
        if any(not (l["name"] and l["type"] and l["ms"] >= 0 and l["ms_mean"] > 0)
               for l in layers):
            failures.append(f"{where}: a layer without name, type or time: {layers}")
        # Medians on both sides (one preemption outweighs a tiny model's forward in a
        # mean). The layers leave out setInput and the forward's own bookkeeping, and the
        # two figures come from different runs on a shared machine: a sane factor.
        total = sum(l["ms"] for l in layers)
        p50 = row["ms"][threads]["ms_p50"]
        if not 0.2 * p50 <= total <= 3.0 * p50:
            failures.append(f"{where}: layers add up to {total:.5f} ms at {threads} thread(s), "
                            f"ms_p50 {p50:.5f}")


def measure(args):
    proc = run_tool(args.tool, TINY + ["--int8", "100", "--memory", "--layers",
                                       "--model", f"cnn-xs={args.model}"])
    sys.stderr.write(proc.stderr)
    if proc.returncode != 0:
        return [f"exit status {proc.returncode}"]
    doc = json.loads(proc.stdout)
    failures = []
    if doc.get("tool") != "compress_eval" or doc.get("images") != 500:
        failures.append(f"header: tool {doc.get('tool')}, images {doc.get('images')}")
    if not doc.get("machine", {}).get("cores", 0) > 0 or "timing_rule" not in doc:
        failures.append("header: no machine cores or timing_rule")
    rows = {r["precision"]: r for r in doc.get("rows", [])}
    if sorted(rows) != ["fp32", "int8"]:
        return failures + [f"want an fp32 and an int8 row, got {sorted(rows)}"]
    for row in rows.values():
        if "error" in row:
            failures.append(f"{row['precision']} row: error {row['error']}")
            continue
        check_row_files(row, args.model, failures)
        check_row_timing(row, failures)
        check_row_memory(row, failures)
        check_row_layers(row, failures)
    fp32, int8 = rows["fp32"].get("top1", 0), rows["int8"].get("top1", 0)
    print(f"top1 fp32 {fp32}, int8 {int8}")
    if abs(fp32 - args.expect_top1) > args.top1_tolerance:
        failures.append(f"fp32 top1 {fp32} not within {args.top1_tolerance} of "
                        f"{args.expect_top1}")
    if abs(int8 - fp32) > 0.02:
        failures.append(f"int8 top1 {int8} not within 0.02 of fp32 {fp32}")
    return failures


def errors(args):
    failures = []
    with tempfile.TemporaryDirectory() as tmp:
        missing = os.path.join(tmp, "no-such-model.onnx")
        proc = run_tool(args.tool, TINY + ["--model", f"gone={missing}"])
        if proc.returncode != 2 or missing not in proc.stderr:
            failures.append(f"missing file: want exit 2 and {missing} on stderr, got exit "
                            f"{proc.returncode}, stderr {proc.stderr!r}")
        garbage = os.path.join(tmp, "garbage.onnx")
        with open(garbage, "wb") as f:
            f.write(b"this is not an ONNX model\n" * 10)
        proc = run_tool(args.tool, ["--limit", "100", "--time-images", "10", "--warmup", "1",
                                    "--repeats", "1", "--model", f"bad={garbage}",
                                    "--model", f"good={args.model}"])
        if proc.returncode != 1 or garbage not in proc.stderr:
            failures.append(f"unloadable file: want exit 1 and {garbage} on stderr, got exit "
                            f"{proc.returncode}, stderr {proc.stderr!r}")
        rows = {r["model"]: r for r in json.loads(proc.stdout or "{}").get("rows", [])}
        if "error" not in rows.get("bad", {}) or "top1" in rows.get("bad", {}):
            failures.append(f"unloadable file: want an error row, got {rows.get('bad')}")
        if "error" in rows.get("good", {}) or rows.get("good", {}).get("top1", 0) < 0.7:
            failures.append(f"the good model next to it: want it measured, got {rows.get('good')}")
    return failures


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("mode", choices=["measure", "errors"])
    ap.add_argument("tool")
    ap.add_argument("model")
    ap.add_argument("--expect-top1", type=float, default=0.868)
    ap.add_argument("--top1-tolerance", type=float, default=0.03)
    args = ap.parse_args()
    if not os.path.isfile(args.model):
        print(f"FAIL: {args.model} missing")
        return 1
    failures = measure(args) if args.mode == "measure" else errors(args)
    for f in failures:
        print("FAIL:", f)
    if not failures:
        print("PASS")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
