#!/usr/bin/python3
"""A netem-like link between two network namespaces, in user space.

This machine's kernel has no sch_netem (nor fq, so no EDT delay either): tc can shape
the rate (tbf) but cannot delay packets. This program is the link's wire instead of a
veth pair: it creates two TUN devices, moves one into each namespace, and carries every
IP packet from one to the other after a one-way delay drawn uniformly from
[delay - jitter, delay + jitter] (netem's default distribution), keeping packet order
(a packet never overtakes the one before it, as netem does when a rate is set).

The rate limit is, by default, applied by the kernel with tc tbf on each TUN device's
egress (set up by the caller, e.g. bench/edge_based/run.sh), so a packet is queued and
serialised by tc before this program delays it. With --rate-mbit this program serialises
the packets itself instead, as netem's `rate` does: each direction is a wire of that
rate, a packet leaves it len * 8 / rate after the previous one has left (or after it
arrived, if the wire was idle), then takes the delay. Unlike tbf (which lets a burst of at
least one MTU through at line speed), every packet, even a lone small one, pays its
serialisation time, so a 1 kB message on a 0.5 Mbit/s link takes 16 ms more than on a
fast one. At most --limit packets (netem's default 1000) are held per direction; more are
dropped, as netem's queue limit does.

Usage: linkemu.py NS_A DEV_A ADDR_A NS_B DEV_B ADDR_B --delay-ms D [--jitter-ms J]
                  [--seed S] [--rate-mbit R] [--rate-mbit-back R2] [--limit N]
                  [--control FILE]
  --rate-mbit R        serialise at R Mbit/s in both directions (0: no rate here, the default)
  --rate-mbit-back R2  the B -> A direction at R2 instead (A -> B stays at R)
  --control FILE       on SIGHUP, read FILE (JSON: any of "delay_ms", "jitter_ms",
                       "rate_mbit" (both directions), "rate_mbit_ab", "rate_mbit_ba",
                       "loss" (0-1: the share of packets dropped in both directions; 1 cuts
                       the link)) and apply it to packets that arrive from then on; packets
                       already on the wire keep their times and order. Each change is logged
                       on stderr.
Prints "ready" on stdout once both devices are up; runs until SIGTERM/SIGINT.
Counts packets, bytes and drops per direction and prints them on exit (stderr).
"""
import argparse
import fcntl
import heapq
import json
import os
import random
import select
import signal
import struct
import subprocess
import sys
import time

TUNSETIFF = 0x400454CA
IFF_TUN = 0x0001
IFF_NO_PI = 0x1000


def open_tun(name):
    fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TUN | IFF_NO_PI))
    return fd


def sh(*args):
    subprocess.run(args, check=True)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("ns_a"), p.add_argument("dev_a"), p.add_argument("addr_a")
    p.add_argument("ns_b"), p.add_argument("dev_b"), p.add_argument("addr_b")
    p.add_argument("--delay-ms", type=float, required=True)
    p.add_argument("--jitter-ms", type=float, default=0.0)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--rate-mbit", type=float, default=0.0)
    p.add_argument("--rate-mbit-back", type=float, default=None)
    p.add_argument("--limit", type=int, default=1000)
    p.add_argument("--control", default=None)
    a = p.parse_args()
    rng = random.Random(a.seed)

    fds = {}
    for ns, dev, addr, peer in ((a.ns_a, a.dev_a, a.addr_a, a.addr_b),
                                (a.ns_b, a.dev_b, a.addr_b, a.addr_a)):
        fds[dev] = open_tun(dev)  # created in this (root) namespace, then moved
        sh("ip", "link", "set", dev, "netns", ns)
        sh("ip", "-n", ns, "addr", "add", addr, "peer", peer, "dev", dev)
        sh("ip", "-n", ns, "link", "set", dev, "up")
    fa, fb = fds[a.dev_a], fds[a.dev_b]
    out = {fa: fb, fb: fa}
    name = {fa: "%s->%s" % (a.ns_a, a.ns_b), fb: "%s->%s" % (a.ns_b, a.ns_a)}
    last = {fa: 0.0, fb: 0.0}       # delivery time of the last packet, per direction
    wire_free = {fa: 0.0, fb: 0.0}  # when the last packet has been serialised, per direction
    held = {fa: 0, fb: 0}           # packets on the wire (serialising or delayed)
    stats = {fa: [0, 0, 0], fb: [0, 0, 0]}  # packets, bytes, dropped
    heap, seq = [], 0
    cfg = {"delay": a.delay_ms / 1000.0, "jitter": a.jitter_ms / 1000.0,
           # bytes per second; 0 = no serialisation here
           fa: a.rate_mbit * 1e6 / 8,
           fb: (a.rate_mbit if a.rate_mbit_back is None else a.rate_mbit_back) * 1e6 / 8,
           "loss": 0.0}  # share of packets dropped, both directions (1: the link is cut)

    def reconfigure():
        try:
            doc = json.load(open(a.control))
        except (OSError, ValueError) as e:
            print("linkemu: control file %s: %s; unchanged" % (a.control, e), file=sys.stderr, flush=True)
            return
        if "delay_ms" in doc:
            cfg["delay"] = float(doc["delay_ms"]) / 1000.0
        if "jitter_ms" in doc:
            cfg["jitter"] = float(doc["jitter_ms"]) / 1000.0
        if "rate_mbit" in doc:
            cfg[fa] = cfg[fb] = float(doc["rate_mbit"]) * 1e6 / 8
        if "rate_mbit_ab" in doc:
            cfg[fa] = float(doc["rate_mbit_ab"]) * 1e6 / 8
        if "rate_mbit_ba" in doc:
            cfg[fb] = float(doc["rate_mbit_ba"]) * 1e6 / 8
        if "loss" in doc:
            cfg["loss"] = min(1.0, max(0.0, float(doc["loss"])))
        print("linkemu %.3f: delay %.3f ms, jitter %.3f ms, loss %g, rate %s / %s Mbit/s" % (
            time.time(), cfg["delay"] * 1000, cfg["jitter"] * 1000, cfg["loss"],
            "%g" % (cfg[fa] * 8 / 1e6) if cfg[fa] else "-",
            "%g" % (cfg[fb] * 8 / 1e6) if cfg[fb] else "-"), file=sys.stderr, flush=True)

    stop, hup = [], []
    # A self-pipe wakes select() at once on a signal (select is otherwise retried, PEP 475).
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_r, False)
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    signal.signal(signal.SIGINT, lambda *_: stop.append(1))
    if a.control:
        signal.signal(signal.SIGHUP, lambda *_: hup.append(1))
    print("ready", flush=True)
    while not stop:
        if hup:
            hup.clear()
            reconfigure()
        now = time.monotonic()
        while heap and heap[0][0] <= now:
            _, _, fd, pkt, src = heapq.heappop(heap)
            held[src] -= 1
            try:
                os.write(fd, pkt)
            except OSError:
                pass  # the peer device's queue is full: dropped, as a wire would
        timeout = max(0.0, heap[0][0] - time.monotonic()) if heap else 0.5
        try:
            ready, _, _ = select.select([fa, fb, wake_r], [], [], timeout)
        except InterruptedError:
            continue
        now = time.monotonic()
        for fd in ready:
            if fd == wake_r:
                try:
                    while os.read(wake_r, 256):
                        pass
                except OSError:
                    pass
                continue
            while True:
                try:
                    pkt = os.read(fd, 65536)
                except BlockingIOError:
                    break
                except OSError:
                    break
                if held[fd] >= a.limit or (cfg["loss"] > 0 and rng.random() < cfg["loss"]):
                    stats[fd][2] += 1
                    continue
                rate = cfg[fd]
                sent = now
                if rate > 0:
                    sent = max(now, wire_free[fd]) + len(pkt) / rate
                    wire_free[fd] = sent
                j = cfg["jitter"]
                at = max(sent + cfg["delay"] + (rng.uniform(-j, j) if j > 0 else 0.0), last[fd])
                last[fd] = at
                seq += 1
                held[fd] += 1
                heapq.heappush(heap, (at, seq, out[fd], pkt, fd))
                stats[fd][0] += 1
                stats[fd][1] += len(pkt)
    for fd in (fa, fb):
        print("linkemu %s: %d packets, %d bytes, %d dropped" % (name[fd], *stats[fd]), file=sys.stderr)


if __name__ == "__main__":
    main()
