#!/usr/bin/env python3
"""learning_settled.py STATUS.json PLUGINS.json: exit 0 when the end agent has nothing of
its learning in flight — no offload (task, or copy sent for a label) waits for its reply,
and every teacher label the host handed over has reached the inference plugin (its counter
teacher_labels). For bench/adapt/run.sh and tests/adapt/agent_learns_test.sh, which wait for
this instead of a fixed time after the last result."""
import json
import sys

tasks = json.load(open(sys.argv[1]))["result"]["tasks"]
plugin = next(p for p in json.load(open(sys.argv[2]))["result"]["loaded"]
              if p["name"] == "inference-opencv")
kept = plugin["metrics"]["counters"].get("teacher_labels", 0)
given = tasks.get("teacher_labels", 0)
sys.exit(0 if tasks.get("offload_pending", 0) == 0 and kept >= given else 1)
