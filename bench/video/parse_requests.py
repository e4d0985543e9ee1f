#!/usr/bin/python3
"""Reads mosquitto_sub -F '%t %l %x' lines of offload requests (topic, payload length,
payload in hex) and writes one line per request: topic, length, payload kind ("image",
"tensor", "probe"), task_id. The request format is docs/mqtt.md "Offload": b"TDI1", the
header's length (u32 big-endian), the JSON header, the body.
Usage: parse_requests.py IN.hex OUT.tsv"""
import json
import sys

with open(sys.argv[1]) as f, open(sys.argv[2], "w") as out:
    for line in f:
        parts = line.split()
        if len(parts) < 3:
            continue
        topic, length, payload = parts[0], int(parts[1]), bytes.fromhex(parts[2][:2 * 65600])
        kind, task = "unknown", ""
        if payload[:4] == b"TDI1":
            n = int.from_bytes(payload[4:8], "big")
            try:
                h = json.loads(payload[8:8 + n])
                kind, task = h.get("payload", "image"), h.get("task_id", "")
            except ValueError:
                pass
        out.write("%s\t%d\t%s\t%s\n" % (topic, length, kind, task))
