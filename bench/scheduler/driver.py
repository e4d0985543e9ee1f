#!/usr/bin/python3
"""The driver of bench/scheduler/run.sh: runs in the hub namespace next to the broker,
talks to the agents over MQTT (a minimal MQTT 3.1.1 client below: /usr/bin/python3 has no
paho), changes the swept link while it runs (linkemu's --control file + SIGHUP, or
tc qdisc change ... tbf) and records every task in the work directory:

  profile-<agent>.json         the `profile` command's reply, per agent
  sweep/<point>/<model>/<placement>.json   one closed-loop run: {"meta", "records"}
  stream/<run>.json            one open-loop run over the changing link
  plugins-end.json             the end's plugins.list at the end (scheduler-mo's metrics)
  driver.json                  the settings the driver ran with

Each record is the end's result line (its JSONL) plus what the driver adds: image index
and label, `reply_bytes` (the size of the offload reply, captured on the end's reply topic)
and, in the stream, `t_pub_s` (publish time from the stream's start) and `link_mbit`.
A run whose file is complete is not run again (WORK=DIR resumes).
"""
import argparse
import gzip
import json
import math
import os
import queue
import re
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import tomllib

END, EDGE, CLOUD = "tds-end", "tds-edge", "tds-cloud"


# ---------------------------------------------------------------- MQTT 3.1.1, minimal
def _varint(n):
    out = bytearray()
    while True:
        b, n = n % 128, n // 128
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _str(s):
    b = s.encode()
    return struct.pack(">H", len(b)) + b


class Mqtt:
    """QoS 0 publish and subscribe, enough for commands and input images."""

    def __init__(self, host, port, client_id):
        self.sock = socket.create_connection((host, port), timeout=10)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.settimeout(None)
        self.lock = threading.Lock()
        self.handlers = []  # (topic prefix, callback(topic, payload))
        self.acked = threading.Event()
        self.suback = queue.Queue()
        self.alive = True
        var = _str("MQTT") + bytes([4, 0x02]) + struct.pack(">H", 60)
        self._send(0x10, var + _str(client_id))
        threading.Thread(target=self._reader, daemon=True).start()
        threading.Thread(target=self._pinger, daemon=True).start()
        if not self.acked.wait(10):
            raise RuntimeError("no CONNACK from the broker")
        self.pid = 0

    def _send(self, first, body):
        with self.lock:
            self.sock.sendall(bytes([first]) + _varint(len(body)) + body)

    def _recv_exact(self, n):
        buf = bytearray()
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                raise ConnectionError("broker closed the connection")
            buf += chunk
        return bytes(buf)

    def _reader(self):
        try:
            while True:
                first = self._recv_exact(1)[0]
                mult, length = 1, 0
                while True:
                    b = self._recv_exact(1)[0]
                    length += (b & 0x7F) * mult
                    mult *= 128
                    if not b & 0x80:
                        break
                body = self._recv_exact(length) if length else b""
                kind = first >> 4
                if kind == 2:
                    self.acked.set()
                elif kind == 9:
                    self.suback.put(True)
                elif kind == 3:
                    qos = (first >> 1) & 3
                    tlen = struct.unpack(">H", body[:2])[0]
                    topic = body[2:2 + tlen].decode()
                    pos = 2 + tlen
                    if qos:
                        pid = body[pos:pos + 2]
                        pos += 2
                        if qos == 1:
                            self._send(0x40, pid)
                    payload = body[pos:]
                    for prefix, cb in self.handlers:
                        if topic.startswith(prefix):
                            cb(topic, payload)
        except Exception as e:  # the run cannot go on without the broker
            if self.alive:
                print("driver: MQTT connection lost: %s" % e, file=sys.stderr, flush=True)
                os._exit(3)

    def _pinger(self):
        while True:
            time.sleep(20)
            self._send(0xC0, b"")

    def subscribe(self, topic):
        self.pid = self.pid % 65535 + 1
        self._send(0x82, struct.pack(">H", self.pid) + _str(topic) + b"\x00")
        self.suback.get(timeout=10)

    def publish(self, topic, payload):
        if isinstance(payload, str):
            payload = payload.encode()
        self._send(0x30, _str(topic) + payload)


# ---------------------------------------------------------------- the bench
class Bench:
    def __init__(self, a):
        self.a = a
        self.work = a.work
        env = os.environ
        self.bandwidths = [float(x) for x in env["BANDWIDTHS"].split()]
        self.rtts = [float(x) for x in env["RTTS"].split()]
        self.models = env["MODELS"].split()
        self.images_n = int(env["IMAGES"])
        self.warmup = int(env["WARMUP"])
        self.wires = env["WIRES"].split()
        self.shaper = env["SHAPER"]
        self.cloud_rtt = float(env["CLOUD_RTT_MS"])
        self.cloud_mbit = float(env["CLOUD_MBIT"])
        self.stream_on = env["STREAM"] != "0"
        self.sweep_on = env["SWEEP"] != "0"
        self.paired_on = env.get("PAIRED", "1") != "0"
        self.stream_s = float(env["STREAM_SECONDS"])
        self.stream_hz = float(env["STREAM_HZ"])
        self.stream_rtt = float(env["STREAM_RTT"])
        self.stream_model = env["STREAM_MODEL"]
        self.stream_floor = float(env.get("STREAM_FLOOR", "0.2"))
        self.deadline_ms = float(env["DEADLINE_MS"])
        self.profile_runs = int(env["PROFILE_RUNS"])
        es = env.get("EARLY_STOP", "0")
        self.early_n, self.early_factor = (int(es.split(":")[0]), float(es.split(":")[1])) if es != "0" else (0, 0.0)
        self.t0 = time.monotonic()
        self.load_images()
        self.load_cuts()
        self.mq = Mqtt("127.0.0.1", a.port, "tds-driver")
        self.replies = {END: queue.Queue(), EDGE: queue.Queue(), CLOUD: queue.Queue()}
        self.reply_bytes = {}
        self.profiles = {}
        self.mq.handlers.append(("tierd/v1/dev/", self.on_message))
        self.mq.subscribe("tierd/v1/dev/+/reply")
        self.mq.subscribe("tierd/v1/dev/%s/offload/reply" % END)
        self.mq.subscribe("tierd/v1/dev/+/profile")
        self.results_path = os.path.join(self.work, "end.jsonl")
        self.results_file = None
        self.results_buf = ""
        self.results = {}
        self.link = {"rtt_ms": None, "mbit": None}

    # ---- inputs
    def load_images(self):
        with gzip.open(os.path.join(self.a.data, "t10k-images-idx3-ubyte.gz")) as f:
            raw = f.read()
        n, rows, cols = struct.unpack(">III", raw[4:16])
        self.pixels = [raw[16 + i * rows * cols:16 + (i + 1) * rows * cols] for i in range(min(n, 2000))]
        with gzip.open(os.path.join(self.a.data, "t10k-labels-idx1-ubyte.gz")) as f:
            self.labels = list(f.read()[8:8 + len(self.pixels)])

    def load_cuts(self):
        doc = tomllib.load(open(os.path.join(self.a.top, "models/manifest.toml"), "rb"))
        self.cuts, self.elements = {}, {}
        for m in doc["model"]:
            self.cuts[m["name"]] = [c["layer"] for c in m.get("cut", [])]
            self.elements[m["name"]] = {c["layer"]: c["elements"] for c in m.get("cut", [])}
        for m in self.models + [self.stream_model]:
            if m not in self.cuts:
                sys.exit("driver: model %s is not in models/manifest.toml" % m)

    def payload(self, task_id, index):
        hdr = json.dumps({"v": 1, "task_id": task_id, "device_id": "tds-driver", "model": "",
                          "format": "gray8", "width": 28, "height": 28, "deadline_ms": 0}).encode()
        return b"TDI1" + struct.pack(">I", len(hdr)) + hdr + self.pixels[index]

    # ---- MQTT traffic
    def on_message(self, topic, payload):
        parts = topic.split("/")
        if len(parts) < 5:
            return
        dev, sub = parts[3], "/".join(parts[4:])
        if sub == "reply" and dev in self.replies:
            try:
                self.replies[dev].put(json.loads(payload))
            except ValueError:
                pass
        elif sub == "offload/reply":
            m = re.search(rb'"task_id":"([^"]+)"', payload)
            if m and not m.group(1).startswith(b"probe-"):
                self.reply_bytes[m.group(1).decode()] = len(payload)
        elif sub == "profile" and payload:
            try:
                self.profiles[dev] = json.loads(payload)
            except ValueError:
                pass

    def command(self, dev, op, args=None, timeout=60):
        q = self.replies[dev]
        while not q.empty():
            q.get_nowait()
        req = {"op": op}
        if args is not None:
            req["args"] = args
        self.mq.publish("tierd/v1/dev/%s/cmd" % dev, json.dumps(req))
        try:
            r = q.get(timeout=timeout)
        except queue.Empty:
            raise RuntimeError("no reply from %s to %s within %d s" % (dev, op, timeout))
        if not r.get("ok"):
            raise RuntimeError("%s %s failed: %s" % (dev, op, r.get("error")))
        return r.get("result", {})

    def policy_set(self, policy):
        return self.command(END, "policy.set", {"policy": policy})

    # ---- the end's results (its JSONL, read as it grows)
    def poll_results(self):
        if self.results_file is None:
            if not os.path.exists(self.results_path):
                return
            self.results_file = open(self.results_path)
        data = self.results_file.read()
        if not data:
            return
        self.results_buf += data
        lines = self.results_buf.split("\n")
        self.results_buf = lines[-1]
        for line in lines[:-1]:
            if line.strip():
                rec = json.loads(line)
                src = rec.get("source", "")
                self.results[src.split(":", 1)[1] if ":" in src else src] = rec

    def wait_result(self, key, timeout):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            self.poll_results()
            if key in self.results:
                return self.results.pop(key)
            time.sleep(0.003)
        return None

    # ---- the swept link
    def set_link(self, rtt_ms=None, mbit=None):
        if rtt_ms is not None:
            self.link["rtt_ms"] = rtt_ms
        if mbit is not None:
            self.link["mbit"] = mbit
        doc = {"delay_ms": self.link["rtt_ms"] / 2}
        if self.shaper == "linkemu":
            doc["rate_mbit"] = self.link["mbit"]
        else:
            for ns, dev in ((self.a.ns_end, self.a.dev_end), (self.a.ns_hub, self.a.dev_hub)):
                subprocess.run(["ip", "netns", "exec", ns, "tc", "qdisc", "change", "dev", dev, "root",
                                "tbf", "rate", "%gmbit" % self.link["mbit"], "burst", "3000",
                                "latency", "1s"], check=True)
        path = os.path.join(self.work, "link-a.json")
        with open(path + ".tmp", "w") as f:
            json.dump(doc, f)
        os.rename(path + ".tmp", path)
        pid = int(open(os.path.join(self.a.state, "linkemu-a.pid")).read())
        os.kill(pid, signal.SIGHUP)

    def estimates(self):
        st = self.command(END, "status", timeout=30)
        links = st.get("tasks", {}).get("links", {})
        out = {}
        for tier in ("edge", "cloud"):
            e = links.get(tier, {})
            out[tier] = {"bandwidth_mbps": round(e.get("bandwidth_bps", 0) / 1e6, 4),
                         "rtt_ms": round(e.get("rtt_ms", -1), 3), "samples_bw": e.get("samples_bw"),
                         "samples_rtt": e.get("samples_rtt"), "degraded": e.get("degraded"),
                         "probes": e.get("probes"), "probe_bytes": e.get("probe_bytes")}
        return out, st.get("tasks", {})

    def wait_estimates(self, min_s=4.0, max_s=45.0):
        """Until the end's estimates of both links have settled: the last three readings
        (one a second) within 10% of each other (RTT: or 1 ms)."""
        start = time.monotonic()
        hist = []
        while True:
            e, _ = self.estimates()
            hist.append(e)
            waited = time.monotonic() - start
            if waited >= min_s and len(hist) >= 3:
                def steady(tier, key, floor):
                    xs = [h[tier][key] for h in hist[-3:]]
                    return max(xs) - min(xs) <= max(floor, 0.1 * max(abs(x) for x in xs))
                if all(steady(t, "bandwidth_mbps", 0.0) and steady(t, "rtt_ms", 1.0)
                       for t in ("edge", "cloud")):
                    return e, round(waited, 1), True
            if waited >= max_s:
                return e, round(waited, 1), False
            time.sleep(1.0)

    def wait_idle(self, max_s=120):
        start = time.monotonic()
        while time.monotonic() - start < max_s:
            _, t = self.estimates()
            if t.get("in_flight", 0) == 0 and t.get("queued", 0) == 0 and t.get("offload_pending", 0) == 0:
                return True
            time.sleep(1.0)
        return False

    # ---- placements
    def base_policy(self, model):
        return {"policy": "latency", "force": "", "models": model, "tiers": "end,edge,cloud",
                "wire": ",".join(self.wires), "w_latency": 1, "w_energy": 1, "w_bytes": 0,
                "w_accuracy": 1}

    def fixed(self, model):
        out = [("all-end", "end:%s" % model), ("all-edge", "edge:%s" % model),
               ("all-cloud", "cloud:%s" % model)]
        for layer in self.cuts[model]:
            for w in self.wires:
                out.append(("split-%d-%s" % (layer, w), "split:edge:%s:%d:%s" % (model, layer, w)))
        return out

    def adaptive(self, model):
        b = self.base_policy(model)
        return [
            ("latency", dict(b, policy="latency")),
            ("energy", dict(b, policy="weighted", w_latency=0, w_energy=1, w_bytes=0, w_accuracy=0)),
            ("balanced", dict(b, policy="weighted", w_latency=1, w_energy=1, w_bytes=0, w_accuracy=0)),
            ("neurosurgeon", dict(b, policy="latency", tiers="end,edge")),
        ]

    def run_image(self, tid, index, i):
        """Publishes image `index` as task `tid` and waits for its result record (a failed
        one after 60 s); a counted image (i >= 0) gets its index and label."""
        self.mq.publish("tierd/v1/dev/%s/input" % END, self.payload(tid, index))
        rec = self.wait_result(tid, 60)
        if rec is None:
            rec = {"ok": False, "error": "no result within 60 s (driver)", "source": "topic:" + tid}
        if i >= 0:
            rec["image_index"] = index
            rec["label_idx"] = self.labels[index]
        return rec

    def attach_reply_bytes(self, recs):
        time.sleep(0.05)  # the last reply's copy reaches the driver before the end's line
        for r in recs:
            if r.get("task_id") in self.reply_bytes:
                r["reply_bytes"] = self.reply_bytes.pop(r["task_id"])

    def closed_loop(self, tag, stop_check=None):
        """IMAGES images one at a time (the next published when the last one's result is
        in), after WARMUP uncounted ones; returns the records. stop_check(records) is asked
        once EARLY_STOP's image count is in: True ends the run there."""
        recs = []
        for i in range(-self.warmup, self.images_n):
            if stop_check is not None and i == self.early_n and i > 0 and stop_check(recs):
                break
            index = i if i >= 0 else len(self.pixels) + i  # warm-up images from the far end
            rec = self.run_image("%s-%d" % (tag, i), index, i)
            if i >= 0:
                recs.append(rec)
        self.attach_reply_bytes(recs)
        return recs

    def paired(self, path, arms, tag_prefix, label):
        """PAIRED: two policies measured side by side, image by image: for each of the
        IMAGES images (after WARMUP per arm) one arm's policy is set and the image run,
        then the other's and the same image again, the order swapping every image (ABBA).
        Slow drifts of this VM's speed (40-image runs of one placement differ by up to ~30%
        here, mostly in the compute the end's emulation multiplies by 28.9) then fall on
        both arms alike. arms:
        [(name, policy)]; writes {"meta", "arms": {name: records}}."""
        if os.path.exists(path):
            try:
                doc = json.load(open(path))
                if all(len(doc["arms"][n]) == self.images_n for n, _ in arms):
                    return doc
            except (ValueError, KeyError):
                pass
        recs = {n: [] for n, _ in arms}
        t = time.monotonic()
        for i in range(-self.warmup, self.images_n):
            index = i if i >= 0 else len(self.pixels) + i
            # ABBA: the arms swap places every image, so neither is always the first to run
            # an image, or always the one after the other's policy change (the first paired
            # run, always adaptive first, had the same placement 30% slower in that arm).
            for name, pol in (arms if i % 2 == 0 else list(reversed(arms))):
                self.policy_set(pol)
                rec = self.run_image("%s-%s-%d" % (tag_prefix, name, i), index, i)
                if i >= 0:
                    recs[name].append(rec)
        self.attach_reply_bytes([r for rs in recs.values() for r in rs])
        doc = {"meta": {"arms": [{"name": n, "policy_settings": pol} for n, pol in arms],
                        "wall_s": round(time.monotonic() - t, 2)}, "arms": recs}
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path + ".tmp", "w") as f:
            json.dump(doc, f)
        os.rename(path + ".tmp", path)
        means = []
        for n, _ in arms:
            lat = [r["timing_ms"]["total"] for r in recs[n] if r.get("ok")]
            means.append("%s %.1f ms" % (n, sum(lat) / len(lat) if lat else float("nan")))
        print("[%s] %-30s paired: %s" % (self.elapsed(), label, ", ".join(means)), flush=True)
        return doc

    def costs(self, recs, mbit):
        """Mean latency (ms) and end energy (J) of records, as report.py estimates energy
        (3.2 W compute, 1.0 W tx, 0.5 W rx at the link rate; a missing reply size counts
        as 500 bytes)."""
        bps = mbit * 1e6
        lat, en = [], []
        for r in recs:
            if not r.get("ok"):
                continue
            compute = r["timing_ms"].get("inference", 0.0) + (r.get("split") or {}).get("head_ms", 0.0)
            up = r.get("bytes_sent", 0)
            down = r.get("reply_bytes") or self.reply_bytes.get(r.get("task_id"), 500 if up else 0)
            lat.append(r["timing_ms"]["total"])
            en.append(3.2 * compute / 1000 + 1.0 * up * 8 / bps + 0.5 * down * 8 / bps)
        if not lat:
            return (float("inf"), float("inf"))
        return (sum(lat) / len(lat), sum(en) / len(en))

    def hopeless(self, recs, seen, mbit):
        """EARLY_STOP: this placement's latency, energy and balanced cost (latency / L0 +
        energy / E0, L0 and E0 all-end's) are each more than the factor above the best of
        the fixed placements measured so far at this point: it cannot be the best fixed
        placement under any of the policies, nor within 5% of it."""
        lat, en = self.costs(recs, mbit)
        L0, E0 = seen["all-end"]
        f = self.early_factor
        best_lat = min(v[0] for v in seen.values())
        best_en = min(v[1] for v in seen.values())
        best_bal = min(v[0] / L0 + v[1] / E0 for v in seen.values())
        return lat > f * best_lat and en > f * best_en and lat / L0 + en / E0 > f * best_bal

    def elapsed(self):
        s = int(time.monotonic() - self.t0)
        return "%dm%02ds" % (s // 60, s % 60)

    def run_one(self, path, policy, meta, label, stop_check=None):
        if os.path.exists(path):
            try:
                doc = json.load(open(path))
                if len(doc["records"]) == self.images_n or doc["meta"].get("stopped_early"):
                    return doc
            except (ValueError, KeyError):
                pass
        applied = self.policy_set(policy)
        tag = re.sub(r"[^A-Za-z0-9_.-]", "_", os.path.relpath(path, self.work))
        t = time.monotonic()
        recs = self.closed_loop(tag, stop_check)
        meta = dict(meta, policy_settings=policy, applied=applied.get("applied"),
                    wall_s=round(time.monotonic() - t, 2), stopped_early=len(recs) < self.images_n)
        doc = {"meta": meta, "records": recs}
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path + ".tmp", "w") as f:
            json.dump(doc, f)
        os.rename(path + ".tmp", path)
        ok = [r for r in recs if r.get("ok")]
        lat = [r["timing_ms"]["total"] for r in ok]
        forced = meta.get("force")
        bad = [r for r in recs if forced and not str(r.get("reason", "")).startswith("force:")]
        fb = sum(1 for r in recs if r.get("fallback"))
        print("[%s] %-30s %-24s mean %7.1f ms  %d/%d ok%s%s%s" % (
            self.elapsed(), label, meta["name"], sum(lat) / len(lat) if lat else float("nan"),
            len(ok), len(recs), ", %d fallbacks" % fb if fb else "",
            " (stopped early: > %gx the best fixed so far)" % self.early_factor if meta["stopped_early"] else "",
            ", NOT FORCED: %s" % bad[0].get("reason") if bad else ""), flush=True)
        return doc

    # ---- phases
    def profile_all(self):
        images = os.path.join(self.a.data, "t10k-images-idx3-ubyte.gz")
        for dev in (EDGE, CLOUD, END):
            path = os.path.join(self.work, "profile-%s.json" % dev)
            t = time.monotonic()
            r = self.command(dev, "profile", {"images": images, "runs": self.profile_runs}, timeout=900)
            json.dump(r, open(path, "w"), indent=1)
            print("[%s] profiled %s in %.1f s: %s" % (self.elapsed(), dev, time.monotonic() - t, ", ".join(
                "%s %.2f ms" % (m["name"], m["full_ms"]) for m in r.get("models", []))), flush=True)
        # the end plans with every tier's profile: wait until the retained ones are in
        time.sleep(1.0)

    def points(self):
        pts = []
        for k, rtt in enumerate(self.rtts):
            bws = self.bandwidths if k % 2 == 0 else list(reversed(self.bandwidths))
            pts += [(bw, rtt) for bw in bws]  # serpentine: small steps for the estimator
        return pts

    def sweep(self):
        pts = self.points()
        total = len(pts) * sum(len(self.fixed(m)) + 4 for m in self.models)
        done = 0
        for n, (bw, rtt) in enumerate(pts):
            point = "bw%g-rtt%g" % (bw, rtt)
            pdir = os.path.join(self.work, "sweep", point)
            if self.point_complete(pdir):
                done += sum(len(self.fixed(m)) + 4 for m in self.models)
                continue
            os.makedirs(pdir, exist_ok=True)
            self.set_link(rtt_ms=rtt, mbit=bw)
            print("[%s] point %d/%d: %g Mbit/s, RTT %g ms (%d/%d runs done)" % (
                self.elapsed(), n + 1, len(pts), bw, rtt, done, total), flush=True)
            time.sleep(1.0)
            info = {"bandwidth_mbps": bw, "rtt_ms": rtt}
            info["estimates_before_fixed"], _ = self.estimates()
            # Fixed placements first: they do not use the estimates, which settle meanwhile.
            for model in self.models:
                seen = {}  # fixed placement -> (latency, energy) means, for EARLY_STOP
                for name, force in self.fixed(model):
                    pol = dict(self.base_policy(model), force=force)
                    check = None
                    if self.early_n and name.startswith("split-") and "all-end" in seen:
                        check = lambda recs, seen=seen, bw=bw: self.hopeless(recs, seen, bw)
                    doc = self.run_one(os.path.join(pdir, model, name + ".json"), pol,
                                       {"name": name, "kind": "fixed", "force": force, "model": model,
                                        "bandwidth_mbps": bw, "rtt_ms": rtt},
                                       "%g Mbit/s %g ms %s" % (bw, rtt, model), check)
                    seen[name] = self.costs(doc["records"], bw)
                    done += 1
            est, waited, steady = self.wait_estimates()
            info.update(estimates=est, estimate_wait_s=waited, estimate_steady=steady)
            print("[%s]   link estimates (edge / cloud): %.3g / %.3g Mbit/s, RTT %.1f / %.1f ms%s" % (
                self.elapsed(), est["edge"]["bandwidth_mbps"], est["cloud"]["bandwidth_mbps"],
                est["edge"]["rtt_ms"], est["cloud"]["rtt_ms"], "" if steady else " (not steady)"),
                flush=True)
            gauges = []
            for model in self.models:
                for name, pol in self.adaptive(model):
                    self.run_one(os.path.join(pdir, model, "adaptive-" + name + ".json"), pol,
                                 {"name": "adaptive-" + name, "kind": "adaptive", "policy": name,
                                  "model": model, "bandwidth_mbps": bw, "rtt_ms": rtt},
                                 "%g Mbit/s %g ms %s" % (bw, rtt, model))
                    done += 1
                    try:
                        # the host times each decide() call: status tasks.decide_us (the last
                        # 1024 decisions); older agents: scheduler-mo's last_decide_us gauge
                        _, tasks = self.estimates()
                        g = {"model": model, "policy": name, "decide_us": tasks.get("decide_us")}
                        pl = self.command(END, "plugins.list", timeout=30)
                        for p in pl.get("loaded", []):
                            if p.get("name") == "scheduler-mo":
                                g.update(p.get("metrics", {}).get("gauges", {}))
                        gauges.append(g)
                    except RuntimeError as e:
                        print("  status / plugins.list: %s" % e, file=sys.stderr)
            info["scheduler_gauges"] = gauges
            if self.paired_on:
                # The latency policy against the fastest fixed placement, image by image.
                for model in self.models:
                    best, best_ms = None, float("inf")
                    for name, force in self.fixed(model):
                        doc = json.load(open(os.path.join(pdir, model, name + ".json")))
                        if doc["meta"].get("stopped_early"):
                            continue
                        ms, _ = self.costs(doc["records"], bw)
                        if ms < best_ms:
                            best, best_ms = (name, force), ms
                    pol = dict(self.adaptive(model))["latency"]
                    fixed_pol = dict(self.base_policy(model), force=best[1])
                    # PAIRED=control: the fixed placement against itself (an A/A check of
                    # the paired method; the report then shows what it measures as noise)
                    first = ("control-" + best[0], fixed_pol) if os.environ.get("PAIRED") == "control" \
                        else ("adaptive-latency", pol)
                    self.paired(os.path.join(pdir, model, "paired", "latency.json"),
                                [first, (best[0], fixed_pol)],
                                "%s-%s-paired" % (point, model), "%g Mbit/s %g ms %s" % (bw, rtt, model))
            json.dump(info, open(os.path.join(pdir, "point.json"), "w"), indent=1)

    def point_complete(self, pdir):
        if not os.path.exists(os.path.join(pdir, "point.json")):
            return False
        for model in self.models:
            names = [n for n, _ in self.fixed(model)] + ["adaptive-" + n for n, _ in self.adaptive(model)]
            for n in names:
                try:
                    doc = json.load(open(os.path.join(pdir, model, n + ".json")))
                except (OSError, ValueError):
                    return False
                if len(doc["records"]) != self.images_n and not doc["meta"].get("stopped_early"):
                    return False
        return True

    def best_split(self, model):
        """The split with the lowest mean latency over the sweep's points at the stream's
        RTT (or at every point when that RTT was not swept)."""
        sums = {}
        for bw, rtt in self.points():
            if self.stream_rtt in self.rtts and rtt != self.stream_rtt:
                continue
            for name, force in self.fixed(model):
                if not name.startswith("split-"):
                    continue
                path = os.path.join(self.work, "sweep", "bw%g-rtt%g" % (bw, rtt), model, name + ".json")
                if not os.path.exists(path):
                    continue
                lat = [r["timing_ms"]["total"] for r in json.load(open(path))["records"] if r.get("ok")]
                if lat:
                    sums.setdefault(force, []).append(sum(lat) / len(lat))
        if sums:
            return min(sums, key=lambda f: sum(sums[f]) / len(sums[f])), "lowest mean latency in the sweep"
        layer = self.cuts[model][-1]
        return "split:edge:%s:%d:%s" % (model, layer, self.wires[0]), "the last cut (no sweep data)"

    def schedule(self):
        """The stream's bandwidth over time: [(t_from_s, mbit)]: 50, 1, 50 Mbit/s for a sixth
        of the stream each, then a geometric ramp 50 -> STREAM_FLOOR over two sixths (a step
        a second), then the floor to the end."""
        T = self.stream_s
        steps = [(0.0, 50.0), (T / 6, 1.0), (2 * T / 6, 50.0)]
        ramp_s = 2 * T / 6
        n = max(1, int(round(ramp_s)))
        for k in range(n + 1):
            steps.append((3 * T / 6 + ramp_s * k / n, 50.0 * (self.stream_floor / 50.0) ** (k / n)))
        return steps

    def stream(self):
        model = self.stream_model
        split, why = self.best_split(model)
        runs = [("adaptive-latency", dict(self.base_policy(model), policy="latency")),
                ("all-end", dict(self.base_policy(model), force="end:%s" % model)),
                ("all-edge", dict(self.base_policy(model), force="edge:%s" % model)),
                ("all-cloud", dict(self.base_policy(model), force="cloud:%s" % model)),
                ("best-split", dict(self.base_policy(model), force=split))]
        sched = self.schedule()
        os.makedirs(os.path.join(self.work, "stream"), exist_ok=True)
        for name, pol in runs:
            path = os.path.join(self.work, "stream", name + ".json")
            if os.path.exists(path):
                continue
            self.set_link(rtt_ms=self.stream_rtt, mbit=sched[0][1])
            self.wait_idle()
            self.policy_set(pol)
            est, waited, steady = self.wait_estimates(min_s=3.0)
            n = int(round(self.stream_s * self.stream_hz))
            pubs = {}
            stop = threading.Event()
            t0 = time.monotonic()

            def shaper():
                for at, mbit in sched:
                    if stop.wait(max(0.0, t0 + at - time.monotonic())):
                        return
                    self.set_link(mbit=mbit)
            th = threading.Thread(target=shaper, daemon=True)
            th.start()
            for k in range(n):
                delay = t0 + k / self.stream_hz - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                tid = "stream-%s-%d" % (name, k)
                pubs[tid] = (k, time.monotonic() - t0, self.link["mbit"])
                self.mq.publish("tierd/v1/dev/%s/input" % END, self.payload(tid, k % len(self.pixels)))
            stop.set()
            th.join()
            # results: until every task is in, or 15 s after the last publish
            end = time.monotonic() + 15
            while time.monotonic() < end:
                self.poll_results()
                if all(t in self.results for t in pubs):
                    break
                time.sleep(0.05)
            recs = []
            for tid, (k, tp, mbit) in sorted(pubs.items(), key=lambda kv: kv[1][0]):
                r = self.results.pop(tid, None) or {"ok": False, "error": "no result (driver)"}
                r.update(seq=k, t_pub_s=round(tp, 4), link_mbit=round(mbit, 4),
                         image_index=k % len(self.pixels), label_idx=self.labels[k % len(self.pixels)])
                r["reply_bytes"] = self.reply_bytes.pop(r.get("task_id"), None)
                recs.append(r)
            # the link counters after the run (the probes it sent: the difference from the start)
            est_end, _ = self.estimates()
            self.set_link(mbit=sched[0][1])
            doc = {"meta": {"name": name, "policy_settings": pol, "model": model, "rtt_ms": self.stream_rtt,
                            "hz": self.stream_hz, "seconds": self.stream_s, "schedule": sched,
                            "deadline_ms": self.deadline_ms, "estimates_at_start": est,
                            "estimates_at_end": est_end,
                            "best_split": split if name == "best-split" else None,
                            "best_split_why": why if name == "best-split" else None},
                   "records": recs}
            json.dump(doc, open(path, "w"))
            lat = sorted(r["timing_ms"]["total"] for r in recs if r.get("ok"))
            miss = sum(1 for r in recs if not r.get("ok") or r["timing_ms"]["total"] > self.deadline_ms)
            p = (lambda q: lat[min(len(lat) - 1, int(math.ceil(q * len(lat))) - 1)] if lat else float("nan"))
            print("[%s] stream %-18s %s: %d tasks, p50 %.1f ms, p99 %.1f ms, %.1f%% over %g ms" % (
                self.elapsed(), name, pol.get("force") or "adaptive", len(recs), p(0.5), p(0.99),
                100.0 * miss / max(1, len(recs)), self.deadline_ms), flush=True)

    def main(self):
        json.dump({k: getattr(self, k) for k in ("bandwidths", "rtts", "models", "images_n", "warmup",
                                                 "wires", "shaper", "cloud_rtt", "cloud_mbit",
                                                 "stream_on", "sweep_on", "stream_s", "stream_hz",
                                                 "stream_rtt", "stream_model", "stream_floor", "deadline_ms",
                                                 "profile_runs", "cuts", "elements", "early_n", "early_factor")},
                  open(os.path.join(self.work, "driver.json"), "w"), indent=1)
        have = all(os.path.exists(os.path.join(self.work, "profile-%s.json" % d)) and
                   os.path.exists(os.path.join(self.work, "state-%s" % d, "profile.json")) for d in (EDGE, CLOUD, END))
        if have:
            # a resumed run (WORK=DIR): the agents loaded and published their saved profiles
            print("[%s] profiles kept from the work directory" % self.elapsed(), flush=True)
            time.sleep(1.0)
        else:
            self.profile_all()
        if self.sweep_on:
            self.sweep()
        if self.stream_on:
            self.stream()
        pl = self.command(END, "plugins.list", timeout=30)
        json.dump(pl, open(os.path.join(self.work, "plugins-end.json"), "w"), indent=1)
        json.dump(self.command(END, "status", timeout=30), open(os.path.join(self.work, "status-end.json"), "w"),
                  indent=1)
        json.dump(self.profiles, open(os.path.join(self.work, "profiles-retained.json"), "w"), indent=1)
        self.mq.alive = False


def main():
    p = argparse.ArgumentParser()
    for k in ("work", "top", "state", "data", "ns-end", "ns-hub", "dev-end", "dev-hub"):
        p.add_argument("--" + k, required=True)
    p.add_argument("--port", type=int, default=1883)
    a = p.parse_args()
    Bench(a).main()


if __name__ == "__main__":
    main()
