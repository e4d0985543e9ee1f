#!/usr/bin/env bash
# Runs bench/spool_bench.cpp (Release build in build-bench/) on a file under
# SPOOL_BENCH_DIR (default /var/tmp: a real disk, not tmpfs) and writes
# bench/results/spool.md and spool.json.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=$top/build-bench
cmake -S "$top" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DTIERD_BUILD_BENCH=ON >/dev/null
ninja -C "$build" spool_bench
out=$top/bench/results
"$build/bench/spool_bench" --benchmark_repetitions=3 --benchmark_report_aggregates_only=true \
    --benchmark_min_time=2 --benchmark_out="$out/spool.json" --benchmark_out_format=json >/dev/null
dir=${SPOOL_BENCH_DIR:-/var/tmp}
fs=$(df -T "$dir" | awk 'NR==2 {print $2}')
/usr/bin/python3 - "$out/spool.json" "$out/spool.md" "$dir ($fs)" "$(git -C "$top" rev-parse --short=12 HEAD)" <<'PY'
import json, sys, platform, subprocess
doc = json.load(open(sys.argv[1]))
ctx = doc["context"]
cpu = subprocess.run(["sh", "-c", "grep -m1 'model name' /proc/cpuinfo | cut -d: -f2"],
                     capture_output=True, text=True).stdout.strip()
rows = {}
for b in doc["benchmarks"]:
    rows.setdefault(b["run_name"], {})[b["aggregate_name"]] = b
lines = ["# Durable spool: cost per result", "",
         f"Machine: {cpu}, {ctx['num_cpus']} CPUs, {platform.system()} {platform.release()}; "
         f"{ctx['date']}; commit `{sys.argv[4]}`; spool file in {sys.argv[3]}.", "",
         "Command: `bench/spool.sh` (Google Benchmark, Release, 3 repetitions of >= 2 s, wall time). "
         "A 550-byte payload (a result document). *store+send+deliver* is what each result costs "
         "on the agent's loop thread: append, read back for publishing, delete on PUBACK. "
         "*store backlog* is appending alone, as while the broker is away.", "",
         "| benchmark | median µs per result | stddev µs |", "|---|---|---|"]
names = {"BM_StoreSendDeliver/0/real_time": "store+send+deliver, sync = normal",
         "BM_StoreSendDeliver/1/real_time": "store+send+deliver, sync = full (fsync per write)",
         "BM_StoreBacklog/real_time": "store backlog, sync = normal"}
for name, agg in rows.items():
    lines.append(f"| {names.get(name, name)} | {agg['median']['real_time'] / 1000:.1f} | "
                 f"{agg['stddev']['real_time'] / 1000:.1f} |")
open(sys.argv[2], "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
PY
