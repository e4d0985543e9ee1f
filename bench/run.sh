#!/usr/bin/env bash
# Builds and runs the benchmarks; writes bench/results/<name>.md (with the machine it
# ran on) and the raw Google Benchmark JSON next to it.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
# Its own Release build, apart from the test build in build/.
build=$top/build-bench
cmake -S "$top" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DTIERD_BUILD_BENCH=ON -DTIERD_BUILD_TESTS=ON >/dev/null
ninja -C "$build" abi_call_bench command_roundtrip_client tierd
out=$top/bench/results
mkdir -p "$out"
"$build/bench/abi_call_bench" --benchmark_repetitions=5 --benchmark_report_aggregates_only=true \
    --benchmark_out="$out/abi_call.json" --benchmark_out_format=json >/dev/null
/usr/bin/python3 - "$out/abi_call.json" "$out/abi_call.md" <<'PY'
import json, sys, platform, subprocess
doc = json.load(open(sys.argv[1]))
ctx = doc["context"]
cpu = subprocess.run(["sh", "-c", "grep -m1 'model name' /proc/cpuinfo | cut -d: -f2"],
                     capture_output=True, text=True).stdout.strip()
lines = ["# Plugin call through the C ABI vs a direct call", "",
         f"Machine: {cpu}, {ctx['num_cpus']} CPUs, {platform.system()} {platform.release()}; "
         f"date {ctx['date']}; tierd built Release; Google Benchmark library reports itself as a {ctx.get('library_build_type', '?')} build.", "",
         "Command: `bench/run.sh` (Google Benchmark, 5 repetitions).", "",
         "| benchmark | median ns/call | stddev ns |", "| --- | --- | --- |"]
rows = {}
for b in doc["benchmarks"]:
    rows.setdefault(b["run_name"], {})[b["aggregate_name"]] = b["cpu_time"]
for name, agg in rows.items():
    lines.append(f"| {name} | {agg['median']:.2f} | {agg['stddev']:.2f} |")
open(sys.argv[2], "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
PY

# Command round trip: a real broker and a real tierd on loopback, `ping` over MQTT 5.
. "$top/scripts/lib-broker.sh"
work=$(mktemp -d)
trap 'kill ${TIERD_PID:-} 2>/dev/null; stop_broker; rm -rf "$work"' EXIT
start_broker "$work"
"$build/tierd" --device-id bench-dev --set mqtt.port="$BROKER_PORT" 2>"$work/tierd.log" &
TIERD_PID=$!
sleep 1
count=5000
result=$("$build/bench/command_roundtrip_client" 127.0.0.1 "$BROKER_PORT" bench-dev "$count")
echo "$result" >"$out/command_roundtrip.json"
/usr/bin/python3 - "$out/command_roundtrip.json" "$out/command_roundtrip.md" "$count" <<'PY'
import json, sys, platform, subprocess, datetime
r = json.load(open(sys.argv[1]))
cpu = subprocess.run(["sh", "-c", "grep -m1 'model name' /proc/cpuinfo | cut -d: -f2"],
                     capture_output=True, text=True).stdout.strip()
lines = ["# Command round trip over loopback", "",
         f"Machine: {cpu}, {subprocess.run(['nproc'], capture_output=True, text=True).stdout.strip()} CPUs, "
         f"{platform.system()} {platform.release()}; date {datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds')}.", "",
         f"Command: `bench/run.sh`. A console (libmosquitto, MQTT 5) sends {sys.argv[3]} `ping` "
         "commands one after another to a tierd (Release build) through mosquitto on 127.0.0.1, each with "
         "a response topic and correlation data, QoS 1 both ways, and times request to reply.", "",
         "| answered | lost | p50 µs | p90 µs | p99 µs | max µs |", "| --- | --- | --- | --- | --- | --- |",
         f"| {r['answered']} | {r['lost']} | {r['p50_us']:.0f} | {r['p90_us']:.0f} | {r['p99_us']:.0f} | {r['max_us']:.0f} |"]
open(sys.argv[2], "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
PY
