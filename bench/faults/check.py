#!/usr/bin/python3
"""Checks one fault scenario's results (bench/faults/run.sh, tests/integration/faults_test.sh).

  check.py CONSUMER_JSONL LOCAL_JSONL [--n N] [--max-gap G] [--restore-line L]
           [--need-fallback] [--json OUT]

CONSUMER_JSONL: what a persistent QoS 1 consumer received on the results topic (repeats
included); LOCAL_JSONL: the agent's own [results] jsonl, in the order it finished tasks.
Checks, after de-duplication by task_id:
  - every repeat of a task_id is the same document (a task is never answered twice);
  - the agent's own file has each task_id once, and each source index at most once;
  - the consumer saw the results in the order the agent finished them;
  - --n N: N unique results, source indices 0..N-1 each exactly once (nothing lost);
  - --max-gap G: at most G source indices missing below the highest one delivered;
  - --need-fallback: some tasks ran locally with a `fallback`;
  - --restore-line L: some task that finished after the agent's L-th result ran on the edge
    (offload resumed once the fault was over).
Prints a summary and the failures; writes the figures as JSON with --json; exit 1 on failure.
"""
import argparse
import collections
import json
import sys

p = argparse.ArgumentParser()
p.add_argument("consumer")
p.add_argument("local")
p.add_argument("--n", type=int, default=0)
p.add_argument("--max-gap", type=int, default=-1)
p.add_argument("--restore-line", type=int, default=-1)
p.add_argument("--need-fallback", action="store_true")
p.add_argument("--json")
a = p.parse_args()


def index(doc):
    return int(doc["source"].rsplit("#", 1)[1])


failures = []
messages, first, order, conflicts = 0, {}, [], 0
for line in open(a.consumer):
    line = line.strip()
    if not line:
        continue
    messages += 1
    d = json.loads(line)
    t = d["task_id"]
    if t in first:
        if first[t] != d:
            conflicts += 1
        continue
    first[t] = d
    order.append(t)
local = [json.loads(l) for l in open(a.local) if l.strip()]
local_ids = [d["task_id"] for d in local]
local_dupes = len(local_ids) - len(set(local_ids))
if conflicts:
    failures.append(f"{conflicts} task ids delivered with two different documents")
if local_dupes:
    failures.append(f"{local_dupes} task ids twice in the agent's own results")
idx_count = collections.Counter(index(d) for d in first.values())
twice = sorted(i for i, c in idx_count.items() if c > 1)
if twice:
    failures.append(f"{len(twice)} source indices answered under two task ids: {twice[:10]}")
delivered, written = set(order), set(local_ids)
# a killed agent may not have written its last lines: compare what both have
if [t for t in order if t in written] != [t for t in local_ids if t in delivered]:
    failures.append("results not in the order the agent finished them (after de-duplication)")
top = max(idx_count) if idx_count else -1
missing = sorted(set(range(top + 1)) - set(idx_count))
if a.n:
    lost = sorted(set(range(a.n)) - set(idx_count))
    if len(first) != a.n or lost:
        failures.append(f"{len(first)} unique results of {a.n}; {len(lost)} lost {lost[:10]}")
if a.max_gap >= 0 and len(missing) > a.max_gap:
    failures.append(f"{len(missing)} source indices missing, at most {a.max_gap} allowed")
tiers = collections.Counter(d.get("tier") for d in first.values())
fallbacks = collections.Counter(d["fallback"] for d in first.values() if "fallback" in d)
failed = sum(1 for d in first.values() if not d.get("ok"))
if failed:
    failures.append(f"{failed} tasks failed (ok false)")
if a.need_fallback and not fallbacks:
    failures.append("no task fell back to local inference")
edge_after = None
if a.restore_line >= 0:
    edge_after = sum(1 for d in local[a.restore_line:] if d.get("tier") == "edge")
    if not edge_after:
        failures.append(f"no task ran on the edge after the fault (from result {a.restore_line} on)")
fig = {
    "messages": messages, "unique": len(first), "repeats": messages - len(first),
    "conflicting_repeats": conflicts, "agent_results": len(local),
    "highest_index": top, "missing_below_highest": len(missing), "missing": missing[:20],
    "by_tier": dict(tiers), "fallbacks": dict(fallbacks), "failed_tasks": failed,
    "edge_after_restore": edge_after, "in_order": "results not in the order" not in " ".join(failures),
    "failures": failures, "pass": not failures,
}
print(f"  {messages} messages, {len(first)} unique task ids ({messages - len(first)} repeats), "
      f"agent wrote {len(local)}; indices 0..{top}, {len(missing)} missing {missing[:10]}; "
      f"tiers {dict(tiers)}; fallbacks {dict(fallbacks)}"
      + (f"; {edge_after} on the edge after the fault" if edge_after is not None else ""))
for f in failures:
    print("  FAIL:", f)
if a.json:
    with open(a.json, "w") as f:
        json.dump(fig, f, indent=1)
sys.exit(1 if failures else 0)
