#!/usr/bin/python3
"""Summarises a bench/video/run.sh work directory into bench/results/video.{md,json,png}.

Per run (WORK/LINK/sSEED-fFRAMES/ROW/): results.jsonl (the end's result documents),
eval.json (tierd-eval map --json of it), requests.tsv (offload requests seen at the broker:
topic, payload bytes, kind, task id), replies.txt (payload bytes and payload of every
message on the end's offload reply topic), linkemu.log (IP bytes per direction), run.json.
Per row and link, figures are pooled over the seeds that ran: mAP is the mean of the
seeds' tierd-eval figures (as docs/detectors.md), byte and time figures are totals over
all frames of all seeds divided by the frames, latency percentiles over all frames.
"""
import argparse
import glob
import json
import os
import re
import statistics
import sys

METHOD = """## How each column is measured

- **mAP@0.5, mAP@[.5:.95]**: `tierd-eval map gt.json results.jsonl --json` on the end's own
  results file as written (one line per frame), per seed; the row's figure is the mean of
  the seeds'. Both detectors run with inference-opencv `score_threshold` 0.05 (COCO wants the
  low-scored boxes; docs/detectors.md measured with 0.05; the plugin's default is 0.3).
- **% up**: offload requests with an image payload seen at the broker
  (`mosquitto_sub -t 'tierd/v1/offload/#' -F '%t %l %x'` in the broker's namespace, each
  request's header decoded by `bench/video/parse_requests.py`) / frames.
- **up B/frame**: the payload bytes of those image requests (header + JPEG at the end's
  `frame_jpeg_quality` 75) / frames. Not the result documents' `bytes_sent`: it is 0 for key
  frames (see the notes). Probe requests are counted apart (`probe_uplink_bytes_per_frame` in
  the JSON).
- **down B/frame**: payload bytes of the replies on the end's reply topic
  (`tierd/v1/dev/<end>/offload/reply`, a `mosquitto_sub -F '%l %p'` at the broker) that are
  not probe replies / frames (probe replies apart: `probe_downlink_bytes_per_frame`).
- **up/down wire B/frame**: IP bytes through the emulated link in each direction
  (linkemu.py's counters; MQTT, TCP and IP headers, status, telemetry and probes included) /
  frames; one fresh link, broker and edge per run.
- **end ms/frame**: mean over frames of `timing_ms.inference + timing_ms.preclassify +
  timing_ms.fuse` (the end's own detector, 0 on frames the edge answered, and
  fusion-track's `fuse_frame()`; runs before the fuse time was in the result documents
  count the detector only).
- **lat p50/p99**: `timing_ms.total` over all frames of all seeds (from the frame's task
  start to its result, including the wait for earlier frames: results are written in
  frame order).
- **end J/frame**: the result documents' `energy_j` of frames the end computed, summed and
  divided by all frames, with their `energy_source`.
- **fps**: frames / seconds between the first and the last result line (polled every 0.2 s).
- **Rows**: light-only = scheduler-mo `key_frames = "off"`; heavy-every-frame =
  `key_frames = "upstream"` (every frame placed on the edge, det-heavy; see its source Hz);
  box-fusion-K = `key_frames = "every"`, `key_frame_interval = K`, fusion-track defaults;
  trigger = `key_frames = "trigger"` with its defaults and `key_frame_interval` 10;
  feature-fusion-K / feature-regions-K = key frames as box-fusion-K, the end's fusion plugin
  fusion-feature (models/det-fusion.onnx) with `[offload] frame_features` "whole" /
  "regions": det-heavy's feature map of each key frame comes back with its boxes (the
  down B/frame column counts it) and is fused with det-light's (docs/feature-fusion.md);
  feature-adaptive-K = feature-fusion-K's plugins with adaptive key frames: scheduler-mo
  `key_frames = "trigger"` on fusion-feature's warp error (`key_frame_warp_error`,
  extrapolated to the answer's arrival from the link estimate) or a gap over
  `key_frame_max_gap_ms`, the other triggers off, at most 1/K of the frames
  (`key_frame_max_share`, over `key_frame_share_window` frames), one in flight (run.json
  `adaptive`);
  dds-K = box-fusion-K with `[offload] frame_resend` (region re-send: the key frame up at
  0.65x (DDS_LOW_SCALE) and JPEG quality 50, then the regions the edge is unsure of at 75; up B/frame
  counts both rounds);
  ROW-outage = ROW with the link cut (linkemu drops every packet, both ways) for OUTAGE_S
  seconds once frame OUTAGE_AT's result is out (run.json `outage`). The end:
  det-light, 1 OpenCV thread, fusion-track, `[hal] profile = "raspberry-pi-3b-plus"`,
  `[offload] timeout_ms` as in run.json, at this machine's speed (`emulate_slowdown` 1)
  except the emulated-Pi run. The edge: det-heavy, 1 OpenCV thread.
"""

ROW_ORDER = ["light-only", "heavy-every-frame", "heavy-every-frame-25hz", "key-track-5",
             "key-track-10", "key-track-30",
             "box-fusion-5", "box-fusion-10", "box-fusion-30", "trigger",
             "feature-fusion-10", "feature-regions-10", "feature-fusion-15", "feature-adaptive-10",
             "feature-fusion-5",
             "feature-regions-5", "feature-adaptive-5",
             "dds-10", "dds-5",
             "box-fusion-10-outage", "feature-fusion-10-outage"]


def percentile(xs, p):
    xs = sorted(xs)
    if not xs:
        return None
    i = (len(xs) - 1) * p / 100.0
    lo = int(i)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (i - lo)


def load_run(d):
    run = json.load(open(os.path.join(d, "run.json")))
    docs = [json.loads(l) for l in open(os.path.join(d, "results.jsonl")) if l.strip()]
    ev = json.load(open(os.path.join(d, "eval.json")))
    # regions: second rounds of region re-send (frames already counted by their first round)
    req = {"image": [0, 0], "probe": [0, 0], "regions": [0, 0], "other": [0, 0]}
    tsv = os.path.join(d, "requests.tsv")
    if os.path.exists(tsv):
        for line in open(tsv):
            parts = line.rstrip("\n").split("\t")
            if len(parts) < 3:
                continue
            kind = parts[2] if parts[2] in ("image", "probe", "regions") else "other"
            req[kind][0] += 1
            req[kind][1] += int(parts[1])
    rep = {"answer": [0, 0], "probe": [0, 0]}
    for line in open(os.path.join(d, "replies.txt"), errors="replace"):
        parts = line.split(" ", 1)
        if not parts[0].isdigit():
            continue
        text = parts[1].strip() if len(parts) > 1 else ""
        # '%l %x' (hex: replies with a feature map are binary) or the older '%l %p'
        if text and all(c in "0123456789abcdefABCDEF" for c in text[:64]):
            text = bytes.fromhex(text[:8192] if len(text) % 2 == 0 else text[:8191]).decode(
                "utf-8", "replace")
        kind = "probe" if '"probe":true' in text else "answer"
        rep[kind][0] += 1
        rep[kind][1] += int(parts[0])
    wire = {}
    for line in open(os.path.join(d, "linkemu.log"), errors="replace"):
        m = re.match(r"linkemu (\S+)->(\S+): (\d+) packets, (\d+) bytes, (\d+) dropped", line)
        if m:
            wire["up" if m.group(1).endswith("end") else "down"] = (int(m.group(4)), int(m.group(5)))
    return {"run": run, "docs": docs, "eval": ev, "req": req, "rep": rep, "wire": wire}


def summarise(runs):
    frames = sum(len(r["docs"]) for r in runs)
    docs = [d for r in runs for d in r["docs"]]
    seeds = sorted(r["run"]["seed"] for r in runs)
    lat = [d["timing_ms"]["total"] for d in docs]
    end_ms = [d["timing_ms"].get("inference", 0) + d["timing_ms"].get("preclassify", 0)
              + d["timing_ms"].get("fuse", 0) for d in docs]
    end_docs = [d for d in docs if d.get("tier") == "end"]
    energy = [d["energy_j"] for d in end_docs if "energy_j" in d]
    sources = sorted({d.get("energy_source", "unknown") for d in end_docs})
    up_img = sum(r["req"]["image"][1] + r["req"]["regions"][1] for r in runs)
    n_img = sum(r["req"]["image"][0] for r in runs)
    fps = []
    for r in runs:
        span = r["run"]["t_end"] - r["run"]["t_first_result"]
        if r["run"]["t_first_result"] > 0 and span > 0:
            fps.append((len(r["docs"]) - 1) / span)
    # every frame exactly once: the frame indices of each run against 0 .. frames - 1
    missing = duplicated = 0
    for r in runs:
        seen = {}
        for d in r["docs"]:
            seen[d.get("frame")] = seen.get(d.get("frame"), 0) + 1
        missing += sum(1 for i in range(r["run"]["frames"]) if i not in seen)
        duplicated += sum(c - 1 for c in seen.values() if c > 1)
    outages = [r["run"]["outage"] for r in runs if r["run"].get("outage")]
    out = {
        "seeds": seeds,
        "frames_expected": sum(r["run"]["frames"] for r in runs),
        "frames_missing": missing,
        "frames_duplicated": duplicated,
        "unreachable_frames": sum(1 for d in docs if d.get("video", {}).get("unreachable")),
        "outage_s": (statistics.mean(o["t_restored"] - o["t_cut"] for o in outages)
                     if outages else None),
        "frames": frames,
        "map50": statistics.mean(r["eval"]["map50"] for r in runs),
        "map50_95": statistics.mean(r["eval"]["map50_95"] for r in runs),
        "map50_per_seed": [round(r["eval"]["map50"], 4) for r in sorted(runs, key=lambda r: r["run"]["seed"])],
        "map50_95_per_seed": [round(r["eval"]["map50_95"], 4) for r in sorted(runs, key=lambda r: r["run"]["seed"])],
        "upstream_frames_pct": 100.0 * n_img / frames,
        "uplink_bytes_per_frame": up_img / frames,
        "resend_rounds": sum(r["req"]["regions"][0] for r in runs),
        "downlink_bytes_per_frame": sum(r["rep"]["answer"][1] for r in runs) / frames,
        "probe_uplink_bytes_per_frame": sum(r["req"]["probe"][1] for r in runs) / frames,
        "probe_downlink_bytes_per_frame": sum(r["rep"]["probe"][1] for r in runs) / frames,
        "uplink_wire_bytes_per_frame": (sum(r["wire"].get("up", (0, 0))[0] for r in runs) / frames),
        "downlink_wire_bytes_per_frame": (sum(r["wire"].get("down", (0, 0))[0] for r in runs) / frames),
        "bytes_sent_per_frame": sum(d.get("bytes_sent", 0) for d in docs) / frames,
        "key_frames_pct": 100.0 * sum(1 for d in docs if d.get("video", {}).get("key_frame")) / frames,
        "answered_upstream_pct": 100.0 * sum(1 for d in docs if d.get("tier") in ("edge", "cloud")) / frames,
        "fallback_frames": sum(1 for d in docs if "fallback" in d),
        "light_only_pct": 100.0 * sum(1 for d in docs if d.get("video", {}).get("light_only")) / frames,
        "end_ms_per_frame": statistics.mean(end_ms),
        "latency_ms_p50": percentile(lat, 50),
        "latency_ms_p99": percentile(lat, 99),
        "energy_j_per_frame": (sum(energy) / frames) if energy else None,
        "energy_source": (",".join(sources) + " (the end's own detector: profile power x this machine's compute time; radio and JPEG encoding not included)") if energy else "none in the result documents (every frame answered upstream; the end's JPEG encoding and radio are not counted)",
        "frames_per_s": statistics.mean(fps) if fps else None,
        "rate_hz": runs[0]["run"].get("rate_hz"),
        "emulate_slowdown": runs[0]["run"]["emulate_slowdown"],
        "offload_timeout_ms": runs[0]["run"].get("offload_timeout_ms"),
        "outage_at_frame": outages[0]["at_frame"] if outages else None,
    }
    return out


def row_name(row):
    if row.endswith("-outage"):  # the same row with the link cut mid-video (its own run.json says when)
        row = row[: -len("-outage")]
    if row.startswith("box-fusion-"):
        return "box-fusion", int(row.split("-")[-1]), "every"
    if row.startswith("key-track-"):
        return "key-track", int(row.split("-")[-1]), "every"
    if row.startswith("dds-"):
        return "dds", int(row.split("-")[-1]), "every"
    if row.startswith("feature-fusion-") or row.startswith("feature-regions-"):
        return row.rsplit("-", 1)[0], int(row.split("-")[-1]), "every"
    if row.startswith("feature-adaptive-"):
        return "feature-adaptive", int(row.split("-")[-1]), "trigger"
    if row == "trigger":
        return "box-fusion", None, "trigger"
    if row.startswith("heavy-every-frame"):
        return "heavy-every-frame", None, "upstream"
    return row, None, "off"


def fmt(x, nd=3):
    if x is None:
        return "-"
    if isinstance(x, float):
        return ("%." + str(nd) + "f") % x
    return str(x)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--work", required=True)
    ap.add_argument("--md", required=True)
    ap.add_argument("--json", required=True)
    ap.add_argument("--png")
    ap.add_argument("--notes", help="Markdown appended to the report (the author's reading)")
    a = ap.parse_args()

    groups = {}  # (link, frames, row, slowdown) -> [run]
    for done in sorted(glob.glob(os.path.join(a.work, "*", "s*-f*", "*", "done"))):
        d = os.path.dirname(done)
        r = load_run(d)
        run = r["run"]
        key = (run["link"], run["frames"], run["row"], run["emulate_slowdown"])
        groups.setdefault(key, []).append(r)

    links = []
    for key in groups:
        if key[0] not in links:
            links.append(key[0])
    links.sort(key=lambda l: ["wifi", "4g"].index(l) if l in ("wifi", "4g") else 9)
    out_json = []
    tables = {}
    pi_rows = []
    for link in links:
        rows = []
        keys = sorted((k for k in groups if k[0] == link and k[3] == 1),
                      key=lambda k: (ROW_ORDER.index(k[2]) if k[2] in ROW_ORDER else 99, k[1]))
        for k in keys:
            s = summarise(groups[k])
            name, kk, policy = row_name(k[2])
            obj = {"name": name, "k": kk, "policy": policy, "row": k[2]}
            for f in ("map50", "map50_95", "upstream_frames_pct", "uplink_bytes_per_frame",
                      "downlink_bytes_per_frame", "end_ms_per_frame", "latency_ms_p50",
                      "latency_ms_p99", "energy_j_per_frame", "energy_source"):
                obj[f] = s[f]
            for f, v in s.items():
                if f not in obj:
                    obj[f] = v
            for f, v in list(obj.items()):
                if isinstance(v, float):
                    obj[f] = round(v, 6)
            rows.append(obj)
        out_json.append({"link": link, "rows": rows})
        tables[link] = rows
        for k in groups:
            if k[0] == link and k[3] != 1:
                s = summarise(groups[k])
                pi_rows.append((link, k, s))
    # The emulated-Pi runs: a key of their link's object (one object per link, as the issue
    # asks), not rows of the benchmark.
    for link, k, s in pi_rows:
        for obj in out_json:
            if obj["link"] == link:
                obj.setdefault("emulated_pi", []).append(dict(
                    {"name": row_name(k[2])[0], "k": None, "row": k[2]},
                    **{f: (round(v, 6) if isinstance(v, float) else v) for f, v in s.items()}))
    with open(a.json, "w") as f:
        json.dump(out_json, f, indent=1)
        f.write("\n")

    # ---- Markdown
    machine = open(os.path.join(a.work, "machine.txt")).read() if os.path.exists(
        os.path.join(a.work, "machine.txt")) else ""
    loads = []
    if os.path.exists(os.path.join(a.work, "load.txt")):
        for line in open(os.path.join(a.work, "load.txt")):
            p = line.split()
            if len(p) >= 2:
                loads.append(float(p[1]))
    md = []
    md.append("# Video object detection benchmark (issue 16, section 6)\n")
    md.append("Written by `bench/video/report.py` from a `bench/video/run.sh` work directory; "
              "the notes under the tables are the author's reading of the figures.\n")
    md.append("## Machine and commands\n")
    md.append("```\n" + machine.strip() + "\n```\n")
    if loads:
        md.append("Load average (1 min) during the runs, sampled every 10 s: median %.1f, min %.1f, "
                  "max %.1f on %s cores.\n" % (statistics.median(loads), min(loads), max(loads),
                                               re.search(r"cores (\d+)", machine).group(1) if "cores" in machine else "?"))
    cols = [("row", "row"), ("k", "K"), ("seeds", "seeds"), ("map50", "mAP@0.5"), ("map50_95", "mAP@[.5:.95]"),
            ("upstream_frames_pct", "% up"), ("uplink_bytes_per_frame", "up B/frame"),
            ("downlink_bytes_per_frame", "down B/frame"), ("uplink_wire_bytes_per_frame", "up wire B/frame"),
            ("downlink_wire_bytes_per_frame", "down wire B/frame"), ("end_ms_per_frame", "end ms/frame"),
            ("latency_ms_p50", "lat p50 ms"), ("latency_ms_p99", "lat p99 ms"),
            ("energy_j_per_frame", "end J/frame"), ("frames_per_s", "fps"), ("rate_hz", "source Hz"),
            ("fallback_frames", "fallbacks"), ("light_only_pct", "% light-only")]
    for link in links:
        md.append("## Link %s\n" % link)
        md.append("| " + " | ".join(c[1] for c in cols) + " |")
        md.append("|" + "---|" * len(cols))
        for r in tables[link]:
            cells = []
            for c, _ in cols:
                v = r.get(c)
                if c == "seeds":
                    v = ",".join(str(x) for x in v)
                elif c in ("uplink_bytes_per_frame", "downlink_bytes_per_frame",
                           "uplink_wire_bytes_per_frame", "downlink_wire_bytes_per_frame"):
                    v = "%.0f" % v
                elif c in ("upstream_frames_pct", "light_only_pct", "frames_per_s"):
                    v = fmt(v, 1)
                elif c in ("end_ms_per_frame", "latency_ms_p50", "latency_ms_p99"):
                    v = fmt(v, 1)
                elif c == "energy_j_per_frame":
                    v = fmt(v, 4)
                cells.append(fmt(v))
            md.append("| " + " | ".join(cells) + " |")
        md.append("")
        md.append("Per seed (mAP@0.5 / mAP@[.5:.95]):\n")
        for r in tables[link]:
            md.append("- %s: %s" % (r["row"], ", ".join(
                "seed %d %.3f / %.3f" % (s, a5, a595) for s, a5, a595 in
                zip(r["seeds"], r["map50_per_seed"], r["map50_95_per_seed"]))))
        md.append("")
        sources = sorted({r["energy_source"] for r in tables[link]})
        md.append("Energy sources: " + "; ".join(sources) + ".\n")

        # targets
        by = {r["row"]: r for r in tables[link]}
        bf, heavy, light = by.get("box-fusion-10"), by.get("heavy-every-frame"), by.get("light-only")
        md.append("### Targets (%s)\n" % link)
        md.append("| target | measured | met |")
        md.append("|---|---|---|")
        if bf and heavy:
            ratio = bf["map50"] / heavy["map50"] if heavy["map50"] > 0 else float("nan")
            md.append("| box fusion K=10 mAP@0.5 >= 95%% of heavy-every-frame (DFF kept 98.5%%) | %.3f vs %.3f = %.1f%% | %s |"
                      % (bf["map50"], heavy["map50"], 100 * ratio, "yes" if ratio >= 0.95 else "no"))
        if bf and light:
            md.append("| box fusion K=10 mAP@0.5 >= light-only + 5 points | %.3f vs %.3f + 0.05 = %.3f | %s |"
                      % (bf["map50"], light["map50"], light["map50"] + 0.05,
                         "yes" if bf["map50"] >= light["map50"] + 0.05 else "no"))
        ref = heavy["uplink_bytes_per_frame"] if heavy else None
        if bf and ref:
            md.append("| uplink bytes <= 15%% of every frame as JPEG q75 (heavy-every-frame's requests: %.0f B/frame) | %.0f B/frame = %.1f%% | %s |"
                      % (ref, bf["uplink_bytes_per_frame"], 100 * bf["uplink_bytes_per_frame"] / ref,
                         "yes" if bf["uplink_bytes_per_frame"] <= 0.15 * ref else "no"))
        if bf:
            md.append("| the end sustains the video's 25 fps (light detector + fusion), box fusion K=10 | %.1f frames/s | %s |"
                      % (bf["frames_per_s"] or 0, "yes" if (bf["frames_per_s"] or 0) >= 24.5 else "no"))
        for name in ("feature-fusion-10", "feature-regions-10", "feature-adaptive-10"):
            ff = by.get(name)
            if not ff:
                continue
            if heavy:
                ratio = ff["map50"] / heavy["map50"] if heavy["map50"] > 0 else float("nan")
                md.append("| %s mAP@0.5 >= 97%% of heavy-every-frame | %.3f vs %.3f = %.1f%% | %s |"
                          % (name, ff["map50"], heavy["map50"], 100 * ratio, "yes" if ratio >= 0.97 else "no"))
            if light:
                md.append("| %s mAP@0.5 >= light-only + 10 points | %.3f vs %.3f + 0.10 = %.3f | %s |"
                          % (name, ff["map50"], light["map50"], light["map50"] + 0.10,
                             "yes" if ff["map50"] >= light["map50"] + 0.10 else "no"))
            if bf:
                md.append("| %s mAP@0.5 above box fusion at the same upstream share (K=10) | %.3f vs %.3f | %s |"
                          % (name, ff["map50"], bf["map50"], "yes" if ff["map50"] > bf["map50"] else "no"))
            md.append("| %s: <= 10%% of frames sent up | %.1f%% | %s |"
                      % (name, ff["upstream_frames_pct"], "yes" if ff["upstream_frames_pct"] <= 10.0 + 1e-9 else "no"))
            md.append("| %s: the end keeps the video's 25 fps | %.1f frames/s | %s |"
                      % (name, ff["frames_per_s"] or 0, "yes" if (ff["frames_per_s"] or 0) >= 24.5 else "no"))
        adaptive = by.get("feature-adaptive-10")
        for fixed_name in ("feature-fusion-10", "feature-fusion-15"):
            fixed = by.get(fixed_name)
            if not (fixed and adaptive):
                continue
            better = (adaptive["map50"] > fixed["map50"]
                      and adaptive["upstream_frames_pct"] <= fixed["upstream_frames_pct"] + 1e-9)
            md.append("| adaptive key frames (feature-adaptive-10, on the warp error) above a fixed cadence (%s) at no more frames sent up | %.3f at %.1f%% vs %.3f at %.1f%% (%+.1f points) | %s |"
                      % (fixed_name, adaptive["map50"], adaptive["upstream_frames_pct"], fixed["map50"],
                         fixed["upstream_frames_pct"], 100 * (adaptive["map50"] - fixed["map50"]),
                         "yes" if better else "no"))
        dds = by.get("dds-10")
        if dds and bf:
            ratio = dds["uplink_bytes_per_frame"] / bf["uplink_bytes_per_frame"] if bf["uplink_bytes_per_frame"] else float("nan")
            md.append("| region re-send (dds-10) <= 50%% of the bytes of whole key frames at the same quality (box-fusion-10) | %.0f vs %.0f B/frame = %.1f%% (%d second rounds) | %s |"
                      % (dds["uplink_bytes_per_frame"], bf["uplink_bytes_per_frame"], 100 * ratio,
                         dds.get("resend_rounds", 0), "yes" if ratio <= 0.5 else "no"))
            md.append("| region re-send (dds-10) mAP@0.5 within 1 point of box-fusion-10 | %.3f vs %.3f (%+.1f points) | %s |"
                      % (dds["map50"], bf["map50"], 100 * (dds["map50"] - bf["map50"]),
                         "yes" if abs(dds["map50"] - bf["map50"]) <= 0.01 + 1e-9 else "no"))
        cut = [r for r in tables[link] if r["row"].endswith("-outage")]
        for r in cut:
            ok = r["frames_missing"] == 0 and r["frames_duplicated"] == 0 and r["frames"] == r["frames_expected"]
            md.append("| upstream unreachable %.1f s mid-video (%s, link cut at frame %d): every frame a result, none lost or duplicated | %d results for %d frames, %d missing, %d duplicated; %d frames said unreachable | %s |"
                      % (r["outage_s"] or 0, r["row"], r["outage_at_frame"], r["frames"], r["frames_expected"],
                         r["frames_missing"], r["frames_duplicated"], r["unreachable_frames"], "yes" if ok else "no"))
        if bf and heavy:
            md.append("Anchor: Deep Feature Flow kept 73.0 / 74.1 = 98.5%% of its per-frame mAP@0.5 at K = 10; "
                      "box fusion here keeps %.1f%% of heavy-every-frame's at K = 10 (%s).\n"
                      % (100 * bf["map50"] / heavy["map50"], link))
        md.append("")
    if pi_rows:
        md.append("## Emulated Raspberry Pi 3B+\n")
        md.append("| link | row | seed | frames | emulate_slowdown | frames/s | end ms/frame (emulated) | lat p50 ms | lat p99 ms | mAP@0.5 |")
        md.append("|---|---|---|---|---|---|---|---|---|---|")
        for link, k, s in pi_rows:
            md.append("| %s | %s | %s | %d | %s | %s | %.0f | %.0f | %.0f | %.3f |" % (
                link, k[2], ",".join(map(str, s["seeds"])), s["frames"], k[3], fmt(s["frames_per_s"], 2),
                s["end_ms_per_frame"], s["latency_ms_p50"], s["latency_ms_p99"], s["map50"]))
        md.append("")
    # ---- what ran and what did not (the rows, links and >= 3 seeds)
    md.append("## Runs: what ran, what did not\n")
    expected = ["light-only", "heavy-every-frame", "key-track-10", "box-fusion-5",
                "box-fusion-10", "box-fusion-30", "trigger"]
    for link in ["wifi", "4g"]:
        ran = {r["row"]: r for r in tables.get(link, [])}
        parts = []
        for row in expected + [r for r in ran if r not in expected]:
            if row in ran:
                parts.append("%s: seeds %s x %d frames" % (row, ",".join(map(str, ran[row]["seeds"])),
                                                           ran[row]["frames"] // len(ran[row]["seeds"])))
            elif row.startswith("key-track"):
                parts.append("%s: not run" % row)
            else:
                parts.append("%s: not run" % row)
        md.append("- **%s**: %s." % (link, "; ".join(parts)))
    md.append("")
    md.append(METHOD)
    if a.notes and os.path.exists(a.notes):
        md.append(open(a.notes).read())
    with open(a.md, "w") as f:
        f.write("\n".join(md) + "\n")

    if a.png and links:
        try:
            import matplotlib
            matplotlib.use("Agg")
            import matplotlib.pyplot as plt
        except ImportError:
            print("report.py: no matplotlib in this Python; %s not written" % a.png, file=sys.stderr)
            return
        fig, axes = plt.subplots(1, len(links), figsize=(6 * len(links), 4.5), squeeze=False)
        for ax, link in zip(axes[0], links):
            for r in tables[link]:
                x = max(r["uplink_bytes_per_frame"], 1)
                ax.scatter([x], [r["map50"]])
                ax.annotate(r["row"], (x, r["map50"]), fontsize=8, xytext=(4, 3), textcoords="offset points")
            ax.set_xscale("log")
            ax.set_xlabel("uplink bytes per frame (requests at the broker; log)")
            ax.set_ylabel("mAP@0.5 (mean of seeds)")
            ax.set_title("link %s" % link)
            ax.grid(alpha=0.3)
        fig.tight_layout()
        fig.savefig(a.png, dpi=110)


if __name__ == "__main__":
    main()
