#!/usr/bin/env python3
"""Checks nas_search on synthetic samples (tiny settings).

usage: check_nas_search.py NAS_SEARCH WORKDIR

Fitted latency coefficients non-negative, holdout MAPE < 10% on both devices, accuracy holdout
Spearman > 0.5; every Pareto member canonical, unique and non-dominated, sorted by latency;
the reported predictions equal coefficients . features (as nas.py would recompute them), MACs
and params equal the fixture's own layer walk; picks are a subset of the front with the
fastest and the most accurate; same seed -> identical output; flagged holdouts are honoured;
bad input exits 2 naming the sample and key.
"""
import copy
import json
import math
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import nas_fixture  # noqa: E402

POP, GENS, PICK = 16, 30, 5
FAILURES = []


def check(cond, msg):
    if not cond:
        FAILURES.append(msg)
        print("FAIL:", msg)


def run(tool, samples, out=None, extra=()):
    cmd = [tool, "--samples", samples, "--pop", str(POP), "--gens", str(GENS),
           "--pick", str(PICK), "--seed", "19"] + list(extra)
    if out:
        cmd += ["--out", out]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    return p


def write(path, doc):
    with open(path, "w") as f:
        json.dump(doc, f)
    return path


def acc_features(arch):
    f = [0.0] * 14
    f[nas_fixture.RES.index(arch["res"])] = 1.0
    for s in range(3):
        f[3 + s] = arch["depth"][s]
        f[6 + s] = arch["width"][s]
        f[9 + s] = sum(1 for j in range(arch["depth"][s]) if arch["kernel"][s][j] == 5)
    f[12] = math.log(nas_fixture.macs_params(arch)[0])
    f[13] = 1.0
    return f


def strip_timing(doc):
    d = copy.deepcopy(doc)
    d["accuracy_model"].pop("fit_seconds", None)
    for v in d["devices"].values():
        v.pop("search_seconds", None)
    return d


def check_output(doc, samples_doc, label):
    devs = list(samples_doc["devices"])
    check(doc.get("space") == "resnet-elastic-v1", f"{label}: space")
    check(list(doc["devices"]) == devs, f"{label}: devices {list(doc['devices'])} != {devs}")
    am = doc["accuracy_model"]
    check(am["features"][-1] == "const" and len(am["features"]) == len(am["coefficients"]) == 14,
          f"{label}: accuracy features")
    check(am["lambda"] in (1e-4, 1e-3, 1e-2, 1e-1, 1.0), f"{label}: lambda {am['lambda']}")
    rho = am["holdout"]["spearman"]
    check(rho is not None and rho > 0.5, f"{label}: accuracy holdout spearman {rho}")
    check(am["holdout"]["n"] > 0, f"{label}: accuracy holdout n")
    print(f"{label}: accuracy lambda {am['lambda']} holdout n={am['holdout']['n']} "
          f"MAE {am['holdout']['mae_points']:.3f} pts spearman {rho:.3f}")

    ref_arch = {"res": 28, "depth": [3, 3, 3], "width": [1.0, 1.0, 1.0],
                "kernel": [[3, 3, 3]] * 3}
    for dev in devs:
        d = doc["devices"].get(dev)
        if d is None:
            continue
        lm = d["latency_model"]
        names, coef = lm["features"], lm["coefficients"]
        check(names == ["mmacs_3x3", "mmacs_5x5", "mmacs_1x1", "mmacs_fc", "conv_layers",
                        "mact_elems", "const"], f"{label}/{dev}: latency feature names {names}")
        check(all(c >= 0.0 for c in coef[:-1]), f"{label}/{dev}: negative coefficient {coef}")
        if "validation_coefficients" in lm:
            check(all(c >= 0.0 for c in lm["validation_coefficients"][:-1]),
                  f"{label}/{dev}: negative validation coefficient")
        ho = lm["holdout"]
        check(ho["n"] > 0 and ho["mape_pct"] is not None and ho["mape_pct"] < 10.0,
              f"{label}/{dev}: holdout MAPE {ho['mape_pct']}")
        print(f"{label}/{dev}: n_fit {lm['n_fit']} n_holdout {lm['n_holdout']} holdout MAPE "
              f"{ho['mape_pct']:.2f}% max {ho['max_abs_pct']:.2f}% spearman "
              f"{ho['spearman']:.3f}; coef " + " ".join(f"{n}={c:.4g}" for n, c in
                                                        zip(names, coef)))
        check(d["evaluations"] == POP * (GENS + 1), f"{label}/{dev}: evaluations")

        def predicted(arch):
            f = nas_fixture.latency_features(arch)
            ms = sum(c * f[n] for n, c in zip(names, coef))
            acc = sum(c * x for c, x in zip(am["coefficients"], acc_features(arch)))
            return ms, min(max(acc, 0.0), 1.0)

        def check_member(m, what):
            arch = m["arch"]
            check(arch == nas_fixture.canonical(arch), f"{what}: not canonical {arch}")
            macs, params = nas_fixture.macs_params(arch)
            check((m["macs"], m["params"]) == (macs, params),
                  f"{what}: macs/params {m['macs']}/{m['params']} != {macs}/{params}")
            ms, acc = predicted(arch)
            check(abs(ms - m["pred_ms"]) <= 1e-9 * max(1.0, abs(ms)),
                  f"{what}: pred_ms {m['pred_ms']} != coefficients . features {ms}")
            check(abs(acc - m["pred_acc"]) <= 1e-9, f"{what}: pred_acc {m['pred_acc']} != {acc}")

        front = d["pareto"]
        check(len(front) >= 2, f"{label}/{dev}: front has {len(front)} members")
        keys = [json.dumps(m["arch"], sort_keys=True) for m in front]
        check(len(set(keys)) == len(keys), f"{label}/{dev}: duplicate architectures on the front")
        for i, m in enumerate(front):
            check_member(m, f"{label}/{dev}: pareto[{i}]")
            for j, o in enumerate(front):
                if i != j and o["pred_ms"] <= m["pred_ms"] and o["pred_acc"] >= m["pred_acc"] \
                        and (o["pred_ms"] < m["pred_ms"] or o["pred_acc"] > m["pred_acc"]):
                    check(False, f"{label}/{dev}: pareto[{i}] dominated by pareto[{j}]")
        check([m["pred_ms"] for m in front] == sorted(m["pred_ms"] for m in front),
              f"{label}/{dev}: front not sorted by pred_ms")

        picked = d["picked"]
        pk = [json.dumps(m["arch"], sort_keys=True) for m in picked]
        check(len(set(pk)) == len(pk), f"{label}/{dev}: duplicate picks")
        check(all(k in keys for k in pk), f"{label}/{dev}: pick not on the front")
        check(len(picked) == min(PICK, len(front)), f"{label}/{dev}: {len(picked)} picks")
        check(all(p == front[keys.index(k)] for p, k in zip(picked, pk)),
              f"{label}/{dev}: picked entry differs from its front entry")
        fastest = keys[0]
        best = keys[max(range(len(front)), key=lambda i: front[i]["pred_acc"])]
        check(fastest in pk and best in pk, f"{label}/{dev}: fastest/most accurate not picked")

        ref = d["reference"]
        check(ref["arch"] == ref_arch, f"{label}/{dev}: reference arch {ref['arch']}")
        check_member(ref, f"{label}/{dev}: reference")


def main():
    tool, work = sys.argv[1], sys.argv[2]
    os.makedirs(work, exist_ok=True)

    # Every-4th holdout, refit on all; deterministic across runs.
    sdoc = nas_fixture.make(60, 7)
    samples = write(os.path.join(work, "samples.json"), sdoc)
    outs = []
    for r in range(2):
        out = os.path.join(work, f"out{r}.json")
        p = run(tool, samples, out)
        check(p.returncode == 0, f"run {r}: exit {p.returncode}: {p.stderr}")
        if p.returncode != 0:
            break
        with open(out) as f:
            outs.append(json.load(f))
    if len(outs) == 2:
        sys.stderr.write(run(tool, samples).stderr)  # the human summary, for the log
        doc = outs[0]
        check(doc["holdout_mode"] == "every_4th" and doc["refit_on_all"] is True,
              "every_4th mode not reported")
        check(doc["accuracy_model"]["holdout"]["n"] ==
              sum(1 for i, s in enumerate(sdoc["samples"]) if i % 4 == 3 and "acc" in s),
              "accuracy holdout is not every 4th sample")
        check_output(doc, sdoc, "every_4th")
        check(strip_timing(outs[0]) == strip_timing(outs[1]), "two runs differ")
        check(all(outs[0]["devices"][d]["pareto"] == outs[1]["devices"][d]["pareto"]
                  for d in sdoc["devices"]), "two runs give different pareto sets")

    # Flagged holdouts: validated only, no refit.
    fdoc = nas_fixture.make(60, 11, flag_holdout=True)
    fsamples = write(os.path.join(work, "samples_flagged.json"), fdoc)
    fout = os.path.join(work, "out_flagged.json")
    p = run(tool, fsamples, fout)
    check(p.returncode == 0, f"flagged: exit {p.returncode}: {p.stderr}")
    if p.returncode == 0:
        with open(fout) as f:
            doc = json.load(f)
        check(doc["holdout_mode"] == "flagged" and doc["refit_on_all"] is False,
              "flagged mode not reported")
        for dev in fdoc["devices"]:
            want = sum(1 for s in fdoc["samples"] if s["holdout"] and dev in s["ms"])
            got = doc["devices"][dev]["latency_model"]["n_holdout"]
            check(got == want, f"flagged/{dev}: n_holdout {got} != {want}")
        check_output(doc, fdoc, "flagged")

    # A ceiling on the picks: none predicted slower than ratio x the reference, the fastest
    # and the most accurate below it picked.
    for ratio in (0.5, 1.0):
        cout = os.path.join(work, f"out_ceiling_{ratio}.json")
        p = run(tool, samples, cout, ["--pick-max-reference", str(ratio)])
        check(p.returncode == 0, f"ceiling {ratio}: exit {p.returncode}: {p.stderr}")
        if p.returncode != 0:
            continue
        with open(cout) as f:
            doc = json.load(f)
        check(doc["pick_max_reference_ratio"] == ratio, f"ceiling {ratio}: ratio not reported")
        for dev, d in doc["devices"].items():
            cap = ratio * d["reference"]["pred_ms"]
            check(abs(d["pick_max_ms"] - cap) <= 1e-9 * cap, f"ceiling {ratio}/{dev}: pick_max_ms")
            elig = [m for m in d["pareto"] if m["pred_ms"] <= cap]
            picked = d["picked"]
            check(all(m["pred_ms"] <= cap for m in picked), f"ceiling {ratio}/{dev}: a pick above the ceiling")
            check(len(picked) == min(PICK, len(elig)), f"ceiling {ratio}/{dev}: {len(picked)} picks of {len(elig)}")
            if elig:
                check(elig[0] in picked and max(elig, key=lambda m: m["pred_acc"]) in picked,
                      f"ceiling {ratio}/{dev}: fastest/most accurate below the ceiling not picked")
            if ratio == 0.5:  # the fixture's front reaches past half the reference: a real cut
                check(any(m["pred_ms"] > cap for m in d["pareto"]), f"ceiling {ratio}/{dev}: cuts nothing")
    bad_ratio = run(tool, samples, None, ["--pick-max-reference", "-1"])
    check(bad_ratio.returncode == 2 and "--pick-max-reference" in bad_ratio.stderr,
          f"--pick-max-reference -1: exit {bad_ratio.returncode}")

    # Bad input: exit 2 with a message naming the sample and key.
    bad = copy.deepcopy(sdoc)
    bad["samples"][7]["arch"]["width"][1] = 0.6
    p = run(tool, write(os.path.join(work, "bad_width.json"), bad))
    check(p.returncode == 2 and "samples[7]" in p.stderr and "width" in p.stderr,
          f"width 0.6: exit {p.returncode}, stderr {p.stderr!r}")
    print("width 0.6 ->", p.returncode, p.stderr.strip())

    bad = copy.deepcopy(sdoc)
    bad["samples"][3]["arch"]["kernel"][2][0] = 7
    p = run(tool, write(os.path.join(work, "bad_kernel.json"), bad))
    check(p.returncode == 2 and "samples[3].arch.kernel[2][0]" in p.stderr,
          f"kernel 7: exit {p.returncode}, stderr {p.stderr!r}")

    bad = copy.deepcopy(sdoc)
    bad["samples"][9]["macs"] = nas_fixture.macs_params(bad["samples"][9]["arch"])[0] + 1
    p = run(tool, write(os.path.join(work, "bad_macs.json"), bad))
    check(p.returncode == 2 and "samples[9].macs" in p.stderr,
          f"wrong macs: exit {p.returncode}, stderr {p.stderr!r}")

    bad = copy.deepcopy(sdoc)
    for s in bad["samples"][4:]:
        s["ms"].pop("pi3b-emulated", None)
    p = run(tool, write(os.path.join(work, "few_pi.json"), bad))
    check(p.returncode == 2 and "pi3b-emulated" in p.stderr,
          f"too few samples: exit {p.returncode}, stderr {p.stderr!r}")
    print("too few samples ->", p.returncode, p.stderr.strip())

    with open(os.path.join(work, "malformed.json"), "w") as f:
        f.write('{"space": "resnet-elastic-v1", "samples": [')
    p = run(tool, os.path.join(work, "malformed.json"))
    check(p.returncode == 2 and "malformed JSON" in p.stderr, f"malformed: {p.returncode}")

    p = run(tool, os.path.join(work, "does_not_exist.json"))
    check(p.returncode == 2, f"missing file: exit {p.returncode}")

    p = run(tool, samples, extra=["--pop", "10"])
    check(p.returncode == 2, f"--pop 10: exit {p.returncode}")

    if FAILURES:
        print(f"{len(FAILURES)} check(s) failed")
        return 1
    print("all nas_search checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
