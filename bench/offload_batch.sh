#!/usr/bin/env bash
# Edge throughput with and without batching: a real broker, an edge agent serving the
# zoo's heavy model (resnet-20) and an end agent that offloads every image of the
# Fashion-MNIST test split (scheduler-rule always-edge, 64 tasks in flight). The edge's
# offload.batch_max is 1 (one forward pass per request) and then 16 (requests that wait
# while the inference job is busy run as one batch). Writes bench/results/offload_batch.md.
#
#   bench/offload_batch.sh [BUILD_DIR]     IMAGES (default 5000) images per setting
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$top/build}
[ -x "$build/tierd" ] || { cmake -S "$top" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null && ninja -C "$build" tierd; }
images=${IMAGES:-5000}
data=/usr/share/datasets/fashion-mnist
manifest=$top/models/manifest.toml
. "$top/scripts/lib-broker.sh"
work=$(mktemp -d)
trap 'kill ${END_PID:-} ${EDGE_PID:-} 2>/dev/null || true; wait 2>/dev/null; stop_broker || true; rm -rf "$work"' EXIT
BROKER_EXTRA_CONF="set_tcp_nodelay true"
start_broker "$work"

run() { # BATCH_MAX
    local b=$1 dir=$work/b$1
    mkdir -p "$dir"
    cat >"$dir/edge.toml" <<CONF
[agent]
device_id = "bench-edge-$b"
role = "edge"
[mqtt]
host = "127.0.0.1"
port = $BROKER_PORT
[offload]
batch_max = $b
[plugin.inference-opencv]
manifest = "$manifest"
models = "resnet-20"
CONF
    cat >"$dir/end.toml" <<CONF
[agent]
device_id = "bench-end-$b"
[mqtt]
host = "127.0.0.1"
port = $BROKER_PORT
[source]
kind = "idx"
path = "$data/t10k-images-idx3-ubyte.gz"
labels = "$data/t10k-labels-idx1-ubyte.gz"
limit = $images
[results]
jsonl = "$dir/results.jsonl"
publish = false
[offload]
timeout_ms = 30000
[plugins]
preclassifier = ""
[plugin.scheduler-rule]
rule = "always-edge"
heavy_model = "resnet-20"
[plugin.inference-opencv]
manifest = "$manifest"
models = "cnn-xs"
CONF
    "$build/tierd" --config "$dir/edge.toml" 2>"$dir/edge.log" &
    EDGE_PID=$!
    for _ in $(seq 40); do
        mosquitto_sub -h 127.0.0.1 -p "$BROKER_PORT" -t "tierd/v1/dev/bench-edge-$b/status" -C 1 -W 1 \
            2>/dev/null | grep -q '"state":"online"' && break
        sleep 0.25
    done
    "$build/tierd" --config "$dir/end.toml" 2>"$dir/end.log" &
    END_PID=$!
    until [ -s "$dir/results.jsonl" ]; do sleep 0.01; done
    local t0 t1
    t0=$(date +%s.%N)
    until [ "$(wc -l <"$dir/results.jsonl")" -ge "$images" ]; do sleep 0.05; done
    t1=$(date +%s.%N)
    mosquitto_rr -h 127.0.0.1 -p "$BROKER_PORT" -t "tierd/v1/dev/bench-edge-$b/cmd" \
        -e "bench/replies/$$" -m '{"op":"status"}' -W 10 >"$dir/edge-status.json"
    echo "$t0 $t1" >"$dir/wall"
    kill "$END_PID" "$EDGE_PID"
    wait "$END_PID" "$EDGE_PID" 2>/dev/null || true
}
run 1
run 16

/usr/bin/python3 - "$work" "$images" "$top/bench/results/offload_batch.md" <<'PY'
import json, platform, statistics, subprocess, sys, datetime
work, images, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
cpu = subprocess.run(["sh", "-c", "grep -m1 'model name' /proc/cpuinfo | cut -d: -f2"],
                     capture_output=True, text=True).stdout.strip()
ncpu = subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip()
lines = ["# Edge throughput: batched vs one request per forward pass", "",
         f"Machine: {cpu}, {ncpu} CPUs, {platform.system()} {platform.release()}; "
         f"{datetime.datetime.utcnow():%Y-%m-%d %H:%M} UTC. Broker, edge and end share the machine.", "",
         f"Command: `bench/offload_batch.sh` (IMAGES={images}). The end offloads every image "
         "(scheduler-rule always-edge, 64 tasks in flight) to one edge agent serving resnet-20 "
         "(62 MFLOPs) on a loopback broker. Throughput: results per second between the first "
         "and the last result; latency: each task's time from start to result at the end.", "",
         "| edge batch_max | images/s | latency mean ms | p50 ms | p95 ms | edge inference calls | largest batch | top-1 |",
         "| --- | --- | --- | --- | --- | --- | --- | --- |"]
for b in (1, 16):
    rows = [json.loads(l) for l in open(f"{work}/b{b}/results.jsonl")][:images]
    t0, t1 = map(float, open(f"{work}/b{b}/wall").read().split())
    ms = sorted(r["timing_ms"]["total"] for r in rows)
    st = json.loads(open(f"{work}/b{b}/edge-status.json").read())["result"]["offload"]
    assert all(r["ok"] and r["tier"] == "edge" for r in rows), "a task did not run on the edge"
    top1 = sum(r["correct"] for r in rows) / len(rows)
    lines.append(f"| {b} | {(len(rows) - 1) / (t1 - t0):.0f} | {statistics.mean(ms):.1f} | "
                 f"{ms[len(ms) // 2]:.1f} | {ms[int(0.95 * (len(ms) - 1))]:.1f} | {st['batches']} | "
                 f"{st['largest_batch']} | {100 * top1:.2f}% |")
open(out, "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
PY
