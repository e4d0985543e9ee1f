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

# Command round trip: a real broker and a real tierd on loopback, `ping` over MQTT 5,
# once with mosquitto's defaults (Nagle on its sockets) and once with set_tcp_nodelay.
. "$top/scripts/lib-broker.sh"
work=$(mktemp -d)
trap 'kill ${TIERD_PID:-} 2>/dev/null; stop_broker || true; rm -rf "$work"' EXIT
roundtrip() { # NAME COUNT EXTRA_CONF
    mkdir -p "$work/$1"
    BROKER_PORT=; BROKER_EXTRA_CONF=$3
    start_broker "$work/$1"
    "$build/tierd" --device-id bench-dev --set mqtt.port="$BROKER_PORT" 2>"$work/$1/tierd.log" &
    TIERD_PID=$!
    for _ in $(seq 50); do
        mosquitto_sub -h 127.0.0.1 -p "$BROKER_PORT" -t tierd/v1/dev/bench-dev/status -C 1 -W 1 \
            2>/dev/null | grep -q '"state":"online"' && break
    done
    "$build/bench/command_roundtrip_client" 127.0.0.1 "$BROKER_PORT" bench-dev "$2" >"$work/$1.json"
    kill "$TIERD_PID"; wait "$TIERD_PID" || true
    stop_broker
}
roundtrip default 300 ""
roundtrip nodelay 5000 "set_tcp_nodelay true"
/usr/bin/python3 - "$work/default.json" "$work/nodelay.json" "$out/command_roundtrip.json" \
    "$out/command_roundtrip.md" <<'PY'
import json, sys, platform, subprocess, datetime
runs = {"mosquitto defaults": json.load(open(sys.argv[1])),
        "mosquitto with set_tcp_nodelay true": json.load(open(sys.argv[2]))}
json.dump(runs, open(sys.argv[3], "w"), indent=1)
cpu = subprocess.run(["sh", "-c", "grep -m1 'model name' /proc/cpuinfo | cut -d: -f2"],
                     capture_output=True, text=True).stdout.strip()
mosq = subprocess.run(["sh", "-c", "dpkg-query -W -f='${Version}' mosquitto"],
                      capture_output=True, text=True).stdout.strip()
nproc = subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip()
now = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
lines = ["# Command round trip over loopback", "",
         f"Machine: {cpu}, {nproc} CPUs, {platform.system()} {platform.release()}; mosquitto {mosq}; date {now}.", "",
         "Command: `bench/run.sh`. A console (libmosquitto, MQTT 5, TCP_NODELAY) sends `ping` "
         "commands one after another to one tierd (Release build, TCP_NODELAY) through mosquitto "
         "on 127.0.0.1, each with a response topic and correlation data, QoS 1 both ways, and "
         "times request to reply (`bench/command_roundtrip_client.cpp`).", "",
         "| broker | requests | answered | lost | median µs | p90 µs | p99 µs | max µs |",
         "| --- | --- | --- | --- | --- | --- | --- | --- |"]
for name, r in runs.items():
    lines.append(f"| {name} | {r['count']} | {r['answered']} | {r['lost']} | {r['p50_us']:.0f} | "
                 f"{r['p90_us']:.0f} | {r['p99_us']:.0f} | {r['max_us']:.0f} |")
lines += ["", "With its defaults mosquitto leaves Nagle's algorithm on for its client sockets, so "
          "the reply, written right after a small packet, waits for a delayed TCP ACK. "
          "Operators who care about command latency set `set_tcp_nodelay true` in mosquitto.conf "
          "(docs/mqtt.md)."]
open(sys.argv[4], "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
PY
