#!/usr/bin/python3
"""A netem-like link between two network namespaces, in user space.

This machine's kernel has no sch_netem (nor fq, so no EDT delay either): tc can shape
the rate (tbf) but cannot delay packets. This program is the link's wire instead of a
veth pair: it creates two TUN devices, moves one into each namespace, and carries every
IP packet from one to the other after a one-way delay drawn uniformly from
[delay - jitter, delay + jitter] (netem's default distribution), keeping packet order
(a packet never overtakes the one before it, as netem does when a rate is set). The
rate limit is applied by the kernel, with tc tbf on each TUN device's egress (set up by
run.sh), so a packet is queued and serialised by tc before this program delays it.

Usage: linkemu.py NS_A DEV_A ADDR_A NS_B DEV_B ADDR_B --delay-ms D --jitter-ms J [--seed S]
Prints "ready" on stdout once both devices are up; runs until SIGTERM/SIGINT.
Counts packets and bytes per direction and prints them on exit (stderr).
"""
import argparse
import fcntl
import heapq
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
    stats = {fa: [0, 0], fb: [0, 0]}
    heap, seq = [], 0
    d, j = a.delay_ms / 1000.0, a.jitter_ms / 1000.0

    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    signal.signal(signal.SIGINT, lambda *_: stop.append(1))
    print("ready", flush=True)
    while not stop:
        now = time.monotonic()
        while heap and heap[0][0] <= now:
            _, _, fd, pkt = heapq.heappop(heap)
            try:
                os.write(fd, pkt)
            except OSError:
                pass  # the peer device's queue is full: dropped, as a wire would
        timeout = max(0.0, heap[0][0] - time.monotonic()) if heap else 0.5
        try:
            ready, _, _ = select.select([fa, fb], [], [], timeout)
        except InterruptedError:
            continue
        now = time.monotonic()
        for fd in ready:
            while True:
                try:
                    pkt = os.read(fd, 65536)
                except BlockingIOError:
                    break
                except OSError:
                    break
                at = max(now + d + rng.uniform(-j, j), last[fd])
                last[fd] = at
                seq += 1
                heapq.heappush(heap, (at, seq, out[fd], pkt))
                stats[fd][0] += 1
                stats[fd][1] += len(pkt)
    for fd in (fa, fb):
        print("linkemu %s: %d packets, %d bytes" % (name[fd], *stats[fd]), file=sys.stderr)


if __name__ == "__main__":
    main()
