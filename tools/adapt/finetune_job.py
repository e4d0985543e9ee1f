#!/usr/bin/python3
"""The edge's fine-tuning job: a device's model, trained on what the edge answered for it,
pushed back as a model update — round after round.

  finetune_job.py --edge EDGE --device END --name cnn-xs --model models/cnn-xs.onnx
                  [--every 10] [--max 1000] [--min 200] [--rounds 0] [--tierctl tierctl]

Each round (docs/adaptation.md, "Whole-model fine-tuning on the edge"):
  1. `tierctl samples pull EDGE --of END`: the images END sent up (the cascade's unsure
     ones, label-budget copies) with EDGE's answers as labels ([offload] keep_answered on
     EDGE) — no upload beyond what the cascade already sent;
  2. `finetune.py --method full` from the shipped model on them, as many clean training
     images replayed (the first 59,000 of the split: the last 1,000 are left to the
     devices' held-back buffers);
  3. `tierctl models push END --name NAME --version eN-K`: END verifies it, activates it
     make-before-break and rolls it back by itself when it does worse than the running
     model on its held-back buffer ([models] max_drop_points).
One JSON line per round goes to stdout (and --log): samples, training seconds, bytes pushed,
and END's verdict with its held-back accuracies. The broker is tierctl's (TIERCTL_HOST,
TIERCTL_PORT, ...). Stops after --rounds rounds (0 = until interrupted).
"""
import argparse
import hashlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def run(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, **kw)


def one_round(args, k, work):
    started = time.monotonic()
    row = {"round": k, "time": time.time()}
    pulled = os.path.join(work, f"round-{k}")
    p = run([args.tierctl, "samples", "pull", args.edge, "--of", args.device, "--out", pulled,
             "--max", str(args.max), "--json", "--timeout", "20"])
    if p.returncode != 0:
        row.update(outcome="no_samples", detail=(p.stdout + p.stderr).strip()[-300:])
        return row
    count = json.loads(p.stdout)["count"]
    row["samples"] = count
    if count < args.min:
        row["outcome"] = "too_few_samples"
        return row
    out = os.path.join(work, f"{args.name}-{k}.onnx")
    cmd = [sys.executable, os.path.join(HERE, "finetune.py"), "--model", args.model, "--out",
           out, "--method", "full", "--images", os.path.join(pulled, "images-idx3-ubyte"),
           "--labels", os.path.join(pulled, "labels-idx1-ubyte"), "--replay", str(count),
           "--replay-from", "0:59000", "--epochs", str(args.epochs),
           "--threads", str(args.threads), "--seed", str(args.seed + k)]
    t = run(cmd)
    if t.returncode != 0:
        row.update(outcome="training_failed", detail=t.stderr.strip()[-300:])
        return row
    trained = json.loads(t.stdout)
    row.update(train_s=trained["train_s"], bytes=trained["bytes"])
    with open(out, "rb") as f:
        row["sha256"] = hashlib.sha256(f.read()).hexdigest()
    version = f"e{args.stamp}-{k}"
    row["version"] = version
    push = run([args.tierctl, "models", "push", args.device, out, "--name", args.name,
                "--version", version, "--json", "--timeout", "20"])
    try:
        reply = json.loads(push.stdout)["replies"][0]["reply"]
    except (ValueError, KeyError, IndexError):
        row.update(outcome="push_failed", detail=(push.stdout + push.stderr).strip()[-300:])
        return row
    if reply.get("ok"):
        result = reply["result"]
        row["outcome"] = "activated" if result.get("activated") else "stored"
        row["held_back"] = result.get("held_back")
        row["why"] = result.get("why")
    else:
        error = reply.get("error", {})
        row["outcome"] = error.get("code", "error")
        row["detail"] = error.get("message", "")
    row["round_s"] = round(time.monotonic() - started, 2)
    return row


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--edge", required=True, help="the serving agent that keeps the samples")
    ap.add_argument("--device", required=True, help="the device whose model is fine-tuned")
    ap.add_argument("--name", required=True, help="the model's name in the device's manifest")
    ap.add_argument("--model", required=True, help="the shipped ONNX file to start from")
    ap.add_argument("--every", type=float, default=10.0, help="seconds between rounds [10]")
    ap.add_argument("--max", type=int, default=1000, help="latest samples per round [1000]")
    ap.add_argument("--min", type=int, default=200, help="fewer samples: no round [200]")
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--threads", type=int, default=1, help="torch threads [1]")
    ap.add_argument("--rounds", type=int, default=0, help="stop after N rounds (0 = never)")
    ap.add_argument("--seed", type=int, default=20261206)
    ap.add_argument("--tierctl", default="tierctl")
    ap.add_argument("--log", help="also append the rounds' JSON lines here")
    args = ap.parse_args()
    args.stamp = time.strftime("%Y%m%d%H%M%S", time.gmtime())
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    with tempfile.TemporaryDirectory(prefix="tierd-finetune-job.") as work:
        k = 0
        while not stop and (args.rounds == 0 or k < args.rounds):
            k += 1
            due = time.monotonic() + args.every
            row = one_round(args, k, work)
            line = json.dumps(row)
            print(line, flush=True)
            if args.log:
                with open(args.log, "a") as f:
                    f.write(line + "\n")
            while not stop and time.monotonic() < due:
                time.sleep(0.2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
