#!/usr/bin/env bash
# bench/spool.sh [BASE]: what the outbox costs the agent's loop thread, per put() and per
# acknowledged() (p50/p99/max of each call's wall time), with sync = "normal" and "full":
# before — the spool of commit BASE (default 191e5a5: SQLite on the loop thread) — and
# after — this tree's (SQLite on the spool's writer thread) — built from the same
# bench/spool_bench.cpp and run one after the other on the same machine. The spool file
# lies under SPOOL_BENCH_DIR (default /var/tmp: a real disk, not tmpfs).
# Writes bench/results/spool.md and spool.json.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
base=${1:-191e5a5}
out=$top/bench/results
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# The spool library (and the config header it uses) as of BASE.
mkdir -p "$work/base"
git -C "$top" archive "$base" agent/spool agent/config/config.hpp | tar -x -C "$work/base"
flags=(-O2 -DNDEBUG -std=c++20 $(pkg-config --cflags spdlog libuv sqlite3 libmosquitto))
libs=($(pkg-config --libs spdlog libuv sqlite3 libmosquitto) -lpthread)
build() { # NAME SOURCE_ROOT
    c++ "${flags[@]}" -I"$2" -I"$top" "$top/bench/spool_bench.cpp" "$2"/agent/spool/*.cpp \
        -o "$work/$1" "${libs[@]}"
}
build before "$work/base"
build after "$top"
head=$(git -C "$top" rev-parse --short=12 HEAD)
dirty=$(git -C "$top" status --porcelain -- agent/spool bench/spool_bench.cpp | grep -q . && echo "+changes" || true)
"$work/before" --label "before ($base)" >"$work/before.json"
"$work/after" --label "after ($head$dirty)" >"$work/after.json"
dir=${SPOOL_BENCH_DIR:-/var/tmp}
fs=$(df -T "$dir" | awk 'NR==2 {print $2}')
/usr/bin/python3 - "$work/before.json" "$work/after.json" "$out/spool.json" "$out/spool.md" \
    "$dir ($fs)" "$base" "$head$dirty" <<'PY'
import json, os, platform, subprocess, sys, datetime
before, after = (json.load(open(p))["rows"] for p in sys.argv[1:3])
cpu = subprocess.run(["sh", "-c", "grep -m1 'model name' /proc/cpuinfo | cut -d: -f2"],
                     capture_output=True, text=True).stdout.strip()
load = open("/proc/loadavg").read().split()[:3]
machine = {"cpu": cpu, "cpus": os.cpu_count(), "kernel": f"{platform.system()} {platform.release()}",
           "load_avg": load, "spool_dir": sys.argv[5],
           "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}
doc = {"machine": machine, "base": sys.argv[6], "commit": sys.argv[7],
       "command": "bench/spool.sh " + sys.argv[6], "rows": before + after}
json.dump(doc, open(sys.argv[3], "w"), indent=1)
lines = ["# Outbox: time on the agent's loop thread per call", "",
         f"Machine: {cpu}, {machine['cpus']} CPUs, {machine['kernel']}; load average "
         f"{' '.join(load)} at the end; {machine['date']}; spool file in {sys.argv[5]}.", "",
         f"Command: `bench/spool.sh {sys.argv[6]}` (bench/spool_bench.cpp, -O2, built twice: "
         f"*before* with the spool of `{sys.argv[6]}`, SQLite on the loop thread; *after* with "
         f"this tree's at `{sys.argv[7]}`, SQLite on the spool's writer thread). Each figure is "
         "the wall time of one call as the calling (loop) thread sees it, over all calls of the "
         "scenario; the machine is shared, so maxima include preemption.", "",
         "- *stream*: connected; each 550-byte result is put, published and acknowledged at "
         "once (10,000 results).",
         "- *backlog*: no broker; a 32 MiB spool (segment 16 MiB) under drop-oldest takes "
         "70,000 results, dropping its oldest 16 MiB once (`dropped_oldest` entries).", "",
         "| variant | scenario | sync | call | calls | p50 µs | p99 µs | max µs | dropped_oldest |",
         "|---|---|---|---|---|---|---|---|---|"]
for r in before + after:
    lines.append(f"| {r['variant']} | {r['scenario']} | {r['sync']} | {r['op']}() | {r['calls']} | "
                 f"{r['p50_us']:.1f} | {r['p99_us']:.1f} | {r['max_us']:.0f} | "
                 f"{r.get('dropped_oldest', '')} |")
open(sys.argv[4], "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
PY
