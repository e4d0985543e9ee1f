#!/usr/bin/python3
"""The soak driver (bench/soak/run.sh): feeds the end agent's input topic at a fixed rate,
collects its results and telemetry, samples the processes every 10 s, and writes
soak.csv, soak.png and soak.md."""
import argparse
import datetime
import gzip
import json
import os
import platform
import signal
import statistics
import threading
import time

import paho.mqtt.client as mqtt

SAMPLE_S = 10


def load_images(path):
    raw = gzip.open(path).read()
    n, rows, cols = (int.from_bytes(raw[i:i + 4], "big") for i in (4, 8, 12))
    header = b"P5\n%d %d\n255\n" % (cols, rows)
    size = rows * cols
    return [header + raw[16 + i * size:16 + (i + 1) * size] for i in range(n)]


def proc(pid):
    rss = 0
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
    return rss, len(os.listdir(f"/proc/{pid}/fd"))


def cpu_jiffies(pids):
    """(busy jiffies of the whole machine, jiffies of `pids` and of this driver)."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    busy = sum(v) - v[3] - v[4]  # all but idle and iowait
    own = 0
    for pid in list(pids) + [os.getpid()]:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        own += int(fields[11]) + int(fields[12])  # utime, stime (children not counted)
    return busy, own


def pct(values, q):
    if not values:
        return None
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))]


def main():
    ap = argparse.ArgumentParser()
    for a in ("--port", "--seconds", "--rate", "--warmup"):
        ap.add_argument(a, type=float, required=True)
    for a in ("--images", "--pids", "--out", "--commit", "--setup"):
        ap.add_argument(a, required=True)
    a = ap.parse_args()
    pids = dict(kv.split("=") for kv in a.pids.split(","))
    images = load_images(a.images)

    lock = threading.Lock()
    window, status, telemetry = [], {}, {}
    counts = {"results": 0, "edge": 0, "failed": 0}

    def on_message(_c, _u, m):
        if m.topic.endswith("/results"):
            d = json.loads(m.payload)
            with lock:
                counts["results"] += 1
                counts["edge"] += d.get("tier") == "edge"
                counts["failed"] += not d.get("ok")
                window.append(d["timing_ms"]["total"])
        elif m.topic.endswith("/status"):
            d = json.loads(m.payload)
            status[d.get("device_id")] = d.get("state")
        elif m.topic.endswith("/telemetry"):
            with lock:
                telemetry.update(json.loads(m.payload))

    c = mqtt.Client(client_id="soak-driver-%d" % os.getpid())
    c.on_message = on_message
    c.connect("127.0.0.1", int(a.port))
    c.subscribe([("tierd/v1/dev/soak-end/results", 1), ("tierd/v1/dev/+/status", 1),
                 ("tierd/v1/dev/soak-end/telemetry", 0)])
    c.loop_start()
    deadline = time.time() + 60
    while not (status.get("soak-end") == "online" and status.get("soak-edge") == "online"):
        if time.time() > deadline:
            raise SystemExit("soak: the agents did not come online")
        time.sleep(0.2)
    time.sleep(3)  # the end sees the edge online and loads its plugins

    # SIGTERM/SIGINT end the run early; the report then says how long it ran.
    stop = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.append(1))
    rows, sent = [], 0
    start = time.time()
    next_send, next_sample = start, start + SAMPLE_S
    # CPU used by anything but the soak's own processes: shows whether the machine was
    # quiet, so a latency change can be told from other work starting on it.
    hz, ncpu = os.sysconf("SC_CLK_TCK"), os.cpu_count()
    last_cpu = cpu_jiffies(pids.values())
    period = 1.0 / a.rate
    while time.time() - start < a.seconds and not stop:
        now = time.time()
        if now >= next_send:
            c.publish("tierd/v1/dev/soak-end/input", images[sent % len(images)], qos=0)
            sent += 1
            next_send += period
        if now >= next_sample:
            next_sample += SAMPLE_S
            with lock:
                lat, window[:] = list(window), []
                spool = dict(telemetry.get("spool", {}))
                tasks = dict(telemetry.get("tasks", {}))
                done = dict(counts)
            row = {"t": round(now - start, 1), "sent": sent, "results": done["results"],
                   "edge": done["edge"], "failed": done["failed"], "n": len(lat),
                   "p50": pct(lat, 0.5), "p99": pct(lat, 0.99),
                   "spool_entries": spool.get("entries"), "spool_bytes": spool.get("bytes"),
                   "dropped_input": tasks.get("dropped")}
            for name, pid in pids.items():
                row[f"rss_{name}_kb"], row[f"fds_{name}"] = proc(pid)
            cpu = cpu_jiffies(pids.values())
            other = (cpu[0] - last_cpu[0]) - (cpu[1] - last_cpu[1])
            last_cpu = cpu
            row["cpu_other_pct"] = round(max(0.0, 100.0 * other / (hz * SAMPLE_S * ncpu)), 1)
            with open("/proc/loadavg") as f:
                row["load1"] = float(f.read().split()[0])
            rows.append(row)
            print(json.dumps(row), flush=True)
        time.sleep(max(0.0, min(next_send, next_sample) - time.time()))
    time.sleep(5)  # the last results come in
    c.loop_stop()
    # Samples start at 10 s: a full run's last one is at seconds - 10 or so.
    a.requested = a.seconds
    a.seconds = min(a.seconds, rows[-1]["t"] + SAMPLE_S if rows else 0)
    report(a, rows, sent, counts, pids)


def report(a, rows, sent, counts, pids):
    os.makedirs(a.out, exist_ok=True)
    keys = list(rows[0].keys())
    with open(os.path.join(a.out, "soak.csv"), "w") as f:
        f.write(",".join(keys) + "\n")
        for r in rows:
            f.write(",".join("" if r[k] is None else str(r[k]) for k in keys) + "\n")

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    t = [r["t"] / 60 for r in rows]
    fig, ax = plt.subplots(3, 1, figsize=(9, 9), sharex=True)
    for name in pids:
        ax[0].plot(t, [r[f"rss_{name}_kb"] / 1024 for r in rows], label=name)
        ax[1].plot(t, [r[f"fds_{name}"] for r in rows], label=name)
    ax[0].set_ylabel("RSS (MiB)")
    ax[1].set_ylabel("open fds")
    ax[2].plot(t, [r["p50"] for r in rows], label="p50")
    ax[2].plot(t, [r["p99"] for r in rows], label="p99")
    ax[2].set_ylabel("result latency (ms)")
    other = ax[2].twinx()
    other.plot(t, [r["cpu_other_pct"] for r in rows], color="grey", alpha=0.5, linewidth=0.8)
    other.set_ylabel("other CPU (% of machine)", color="grey")
    other.set_ylim(0, 100)
    ax[2].set_xlabel("minutes")
    for x in ax:
        x.axvline(a.warmup / 60, color="grey", linestyle=":")
        x.legend()
        x.grid(alpha=0.3)
    fig.suptitle(f"tierd soak, {a.setup}")
    fig.tight_layout()
    fig.savefig(os.path.join(a.out, "soak.png"), dpi=80)

    after = [r for r in rows if r["t"] >= a.warmup]
    k = max(1, min(30, len(after) // 4))  # first and last 5 minutes (or a quarter)
    verdict = {}
    lines = []
    for name in pids:
        first = statistics.mean(r[f"rss_{name}_kb"] for r in after[:k])
        last = statistics.mean(r[f"rss_{name}_kb"] for r in after[-k:])
        fds = [r[f"fds_{name}"] for r in after]
        drift = (last - first) / first
        verdict[name] = (drift, min(fds), max(fds))
        growth = fds[-1] - fds[0]
        lines.append(f"| {name} | {first / 1024:.1f} | {last / 1024:.1f} | {100 * drift:+.2f}% "
                     f"{'(< 5%: ok)' if drift < 0.05 else '(>= 5%: MISSED)'} | {fds[0]} -> {fds[-1]} "
                     f"(range {min(fds)}..{max(fds)}; {'no growth' if growth <= 0 else 'GROWS'}) |")
    p99_first = statistics.median(r["p99"] for r in after[:k] if r["p99"] is not None)
    p99_last = statistics.median(r["p99"] for r in after[-k:] if r["p99"] is not None)
    # p99 stability: the median p99 of each 10-minute block after warm-up (shorter runs:
    # fifths) within +-25% of the median of those block medians.
    span = 600 if a.seconds - a.warmup >= 1800 else max(SAMPLE_S, (a.seconds - a.warmup) / 5)
    blocks = {}
    for r in after:
        blocks.setdefault(int((r["t"] - a.warmup) // span), []).append(r)
    block_rows, block_p99 = [], []
    for i in sorted(blocks):
        b = blocks[i]
        p99s = [r["p99"] for r in b if r["p99"] is not None]
        if not p99s:
            continue
        med = statistics.median(p99s)
        block_p99.append(med)
        block_rows.append((a.warmup + i * span, a.warmup + i * span + span, len(b), med,
                           statistics.median(r["p50"] for r in b if r["p50"] is not None),
                           statistics.mean(r["cpu_other_pct"] for r in b),
                           max(r["cpu_other_pct"] for r in b)))
    centre = statistics.median(block_p99)
    worst = max(abs(m - centre) / centre for m in block_p99)
    stable = worst <= 0.25
    machine = f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, Linux {platform.release()}"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                machine = line.split(":", 1)[1].strip() + f", {os.cpu_count()} cores, Linux {platform.release()}"
                break
    except OSError:
        pass
    md = [
        "# Soak: tierd at sustained load",
        "",
        f"Generated by `bench/soak/run.sh` on {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC, "
        f"commit `{a.commit}`, machine: {machine}.",
        "",
        f"- Setup: a real mosquitto, an edge agent and an end agent on loopback; {a.setup}; the "
        "Fashion-MNIST test set on repeat as PGM images. Results QoS 1 through the end's spool.",
        f"- Duration **{a.seconds / 60:.0f} min** (`SOAK_SECONDS={int(a.requested)}`), warm-up {a.warmup / 60:.0f} min, "
        f"sampled every {SAMPLE_S} s ({len(rows)} samples). The issue asks for one hour; "
        + ("this run is that." if a.seconds >= 3600 else "**this run is shorter**."),
        f"- Images sent {sent}, results {counts['results']} ({counts['edge']} ran on the edge, "
        f"{counts['failed']} failed); input images dropped by the end (buffer full): "
        f"{rows[-1].get('dropped_input')}.",
        "",
        "RSS (mean of the first and last "
        f"{k} samples after warm-up) and open file descriptors after warm-up:",
        "",
        "| process | RSS first (MiB) | RSS last (MiB) | drift | fds |",
        "|---|---|---|---|---|",
        *lines,
        "",
        f"Result latency p99 (median over the same windows): first {p99_first:.1f} ms, last "
        f"{p99_last:.1f} ms ({100 * (p99_last - p99_first) / p99_first:+.1f}%). Spool at the end: "
        f"{rows[-1]['spool_entries']} entries.",
        "",
        f"p99 stability (target: each {round(span / 60, 1):g}-minute block's median p99 within +-25% of "
        f"the median of the blocks, {centre:.1f} ms): worst {100 * worst:.1f}%, "
        + ("**stable**." if stable else "**NOT stable**.")
        + " Other CPU: what processes other than the soak's own (broker, agents, this driver) "
        f"used, in % of the machine's {os.cpu_count()} CPUs (from /proc/stat), to tell a latency "
        "change from other work on the machine.",
        "",
        "| block (min) | samples | median p50 ms | median p99 ms | other CPU mean % | other CPU max % |",
        "|---|---|---|---|---|---|",
        *[f"| {round(lo / 60, 1):g}-{round(hi / 60, 1):g} | {n} | {p50:.1f} | {p99:.1f} | {om:.1f} | {ox:.1f} |"
          for lo, hi, n, p99, p50, om, ox in block_rows],
        "",
        "![soak](soak.png)",
        "",
        "Per minute (the last sample of each minute; latency over that sample's 10 s):",
        "",
        "| min | sent | results | p50 ms | p99 ms | other CPU % | spool entries | " + " | ".join(
            f"RSS {n} MiB | fds {n}" for n in pids) + " |",
        "|---" * (7 + 2 * len(pids)) + "|",
    ]
    for r in rows:
        if int(r["t"]) % 60 < SAMPLE_S:
            md.append(f"| {r['t'] / 60:.0f} | {r['sent']} | {r['results']} | "
                      f"{r['p50'] if r['p50'] is None else round(r['p50'], 1)} | "
                      f"{r['p99'] if r['p99'] is None else round(r['p99'], 1)} | {r['cpu_other_pct']} | "
                      f"{r['spool_entries']} | "
                      + " | ".join(f"{r[f'rss_{n}_kb'] / 1024:.1f} | {r[f'fds_{n}']}" for n in pids) + " |")
    with open(os.path.join(a.out, "soak.md"), "w") as f:
        f.write("\n".join(md) + "\n")
    print("\n".join(md[:20]))


if __name__ == "__main__":
    main()
