#!/usr/bin/python3
"""probe_link.py HOST PORT [N]: the link's round-trip time as the end sees it, from N TCP
handshakes to the broker (connect() returns after SYN / SYN-ACK: one round trip).
Prints JSON {"rtt_ms_mean", "rtt_ms_min", "rtt_ms_max", "samples"}."""
import json
import socket
import statistics
import sys
import time

host, port = sys.argv[1], int(sys.argv[2])
n = int(sys.argv[3]) if len(sys.argv) > 3 else 20
rtts = []
for _ in range(n):
    t = time.monotonic()
    s = socket.create_connection((host, port), timeout=5)
    rtts.append((time.monotonic() - t) * 1000)
    s.close()
    time.sleep(0.02)
print(json.dumps({"rtt_ms_mean": round(statistics.mean(rtts), 3), "rtt_ms_min": round(min(rtts), 3),
                  "rtt_ms_max": round(max(rtts), 3), "samples": n}))
