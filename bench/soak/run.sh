#!/usr/bin/env bash
# bench/soak/run.sh: tierd at sustained load for SOAK_SECONDS (default 3600) — a real
# mosquitto, an edge agent (the zoo's most accurate model) and an end agent (the cheapest
# model; the cascade of bench/edge_based: the light model answers, unsure images go to the
# edge) fed Fashion-MNIST test images on its input topic at RATE_HZ (default 50), the test
# set on repeat. Every 10 s: RSS and open file descriptors of the three processes, the
# end's spool (from its telemetry) and result latency percentiles. Writes
# bench/results/soak.{md,png,csv}.
#
#   bench/soak/run.sh                 # SOAK_SECONDS=600 for a 10-minute run
# Needs: the build (build/tierd), mosquitto, python3-paho-mqtt, python3-matplotlib
# (installed if missing), dataset-fashion-mnist.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/scripts/lib-broker.sh"
seconds=${SOAK_SECONDS:-3600}
rate=${RATE_HZ:-50}
warmup=${WARMUP_SECONDS:-300}
[ "$seconds" -gt "$warmup" ] || warmup=$((seconds / 5))
out=${OUT:-$top/bench/results}
data=/usr/share/datasets/fashion-mnist
tierd=$top/build/tierd
[ -x "$tierd" ] || { echo "soak: build first (./scripts/test.sh or ninja -C build)" >&2; exit 1; }
missing=()
/usr/bin/python3 -c 'import paho.mqtt.client' 2>/dev/null || missing+=(python3-paho-mqtt)
/usr/bin/python3 -c 'import matplotlib' 2>/dev/null || missing+=(python3-matplotlib)
if [ ${#missing[@]} -gt 0 ]; then
    sudo=; [ "$(id -u)" -ne 0 ] && sudo=sudo
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi
work=$(mktemp -d)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    stop_broker
    [ -n "${KEEP:-}" ] && echo "work dir kept: $work" || rm -rf "$work"
}
trap cleanup EXIT
read -r light heavy < <(/usr/bin/python3 - "$top/models/manifest.toml" <<'PY'
import sys, tomllib
models = tomllib.load(open(sys.argv[1], "rb"))["model"]
print(min(models, key=lambda m: m["flops"])["name"], max(models, key=lambda m: m["top1"])["name"])
PY
)
start_broker "$work"
common="[mqtt]
host = \"127.0.0.1\"
port = $BROKER_PORT
[telemetry]
interval_ms = 10000"
cat >"$work/edge.toml" <<CONF
[agent]
device_id = "soak-edge"
role = "edge"
$common
[plugin.inference-opencv]
manifest = "$top/models/manifest.toml"
models = "$heavy"
CONF
cat >"$work/end.toml" <<CONF
[agent]
device_id = "soak-end"
role = "end"
state_dir = "$work/state"
$common
[source]
kind = "topic"
[pipeline]
local_first = true
[plugins]
preclassifier = ""
[plugin.inference-opencv]
manifest = "$top/models/manifest.toml"
models = "$light"
[plugin.scheduler-rule]
rule = "by-confidence"
confidence_threshold = 0.95
light_model = "$light"
heavy_model = "$heavy"
CONF
"$tierd" --config "$work/edge.toml" >"$work/edge.log" 2>&1 &
pids+=($!); edge_pid=$!
"$tierd" --config "$work/end.toml" >"$work/end.log" 2>&1 &
pids+=($!); end_pid=$!
echo "soak: ${seconds}s at ${rate} images/s (warm-up ${warmup}s), end $light, edge $heavy; broker :$BROKER_PORT"
mkdir -p "$out"
/usr/bin/python3 "$top/bench/soak/soak.py" --port "$BROKER_PORT" --seconds "$seconds" --rate "$rate" \
    --warmup "$warmup" --images "$data/t10k-images-idx3-ubyte.gz" \
    --pids "end=$end_pid,edge=$edge_pid,broker=$BROKER_PID" --out "$out" \
    --commit "$(git -C "$top" rev-parse --short=12 HEAD 2>/dev/null || echo '?')" \
    --setup "end $light (cascade, threshold 0.95), edge $heavy, ${rate} images/s on the input topic"
