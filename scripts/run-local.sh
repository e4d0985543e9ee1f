#!/usr/bin/env bash
# The main job on one machine: install what is needed, build, start a real mosquitto
# broker on a free loopback port, an edge agent serving the zoo's heavy model and an end
# agent with the light model, and stream Fashion-MNIST test images through the end. The
# end's pre-classifier and scheduler send some images to the edge; a live summary shows
# where they ran, top-1 so far, and time and energy per image. Ctrl-C stops everything.
#
# Environment: IMAGES (default 2000; 10000 = the whole test split), RATE_HZ (default 0 =
# as fast as it goes), LIGHT / HEAVY (zoo model names; default: the cheapest and the most
# accurate in models/manifest.toml), ROUTER: how the end picks what goes to the edge —
#   cascade (default)  the light model answers first; unsure answers (top softmax score
#                      below CONFIDENCE, default 0.95) go to the edge
#   paper              Ren et al.'s pre-classifier: a random forest over 7 image features
#   conf               that forest with the light model's confidence as 3 more features
#   (KEEP=1 keeps the work directory: configs, logs, results.jsonl)
#   mo                 the multi-objective scheduler (docs/scheduling.md): both agents
#                      measure their profile first, the end emulates a Raspberry Pi 3B+
#                      (SLOWDOWN, default 28.9) and places each image whole on the end or
#                      the edge, or split between them, by POLICY (weighted, latency,
#                      lexicographic or constraints; default weighted)
#   WORKLOAD=video     video object detection instead (scripts/run-video.sh: a generated
#                      clip, det-light on the end, det-heavy on the edge for key frames,
#                      box fusion; its header lists its own variables)
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
[ "${WORKLOAD:-images}" = video ] && exec "$top/scripts/run-video.sh"
"$top/scripts/install-deps.sh"
cmake -S "$top" -B "$top/build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
ninja -C "$top/build" tierd tierctl # tierctl too: the fleet console the README points to

images=${IMAGES:-2000}
data=/usr/share/datasets/fashion-mnist
manifest=$top/models/manifest.toml
read -r light heavy < <(/usr/bin/python3 - "$manifest" <<'PY'
import sys, tomllib
models = tomllib.load(open(sys.argv[1], "rb"))["model"]
print(min(models, key=lambda m: m["flops"])["name"], max(models, key=lambda m: m["top1"])["name"])
PY
)
light=${LIGHT:-$light} heavy=${HEAVY:-$heavy}

. "$top/scripts/lib-broker.sh"
work=$(mktemp -d)
# Stop the agents and wait for them only: a bare `wait` would also wait for the broker,
# which is a background job of this shell too and stops only in stop_broker (the script
# used to hang there after its summary).
cleanup() {
    local pids="${END_PID:-} ${EDGE_PID:-}"
    if [ -n "${pids// /}" ]; then
        # shellcheck disable=SC2086 # two PIDs, split on purpose
        kill $pids 2>/dev/null
        # shellcheck disable=SC2086
        wait $pids 2>/dev/null
    fi
    stop_broker
    if [ "${KEEP:-0}" = 1 ]; then echo "kept: $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
# Commands and offload replies are small packets: no Nagle delay on the broker's side.
BROKER_EXTRA_CONF="set_tcp_nodelay true"
start_broker "$work"
echo "broker:  mosquitto on 127.0.0.1:$BROKER_PORT"

common="[mqtt]
host = \"127.0.0.1\"
port = $BROKER_PORT"
cat >"$work/edge.toml" <<CONF
[agent]
device_id = "demo-edge-1"
role = "edge"
$common
[plugin.inference-opencv]
manifest = "$manifest"
models = "$heavy"
CONF
cat >"$work/end.toml" <<CONF
[agent]
device_id = "demo-end-1"
role = "end"
$common
[source]
kind = "idx"
path = "$data/t10k-images-idx3-ubyte.gz"
labels = "$data/t10k-labels-idx1-ubyte.gz"
limit = $images
rate_hz = ${RATE_HZ:-0}
[results]
jsonl = "$work/results.jsonl"
[plugin.inference-opencv]
manifest = "$manifest"
models = "$light"
[plugin.scheduler-rule]
light_model = "$light"
heavy_model = "$heavy"
CONF
case "${ROUTER:-cascade}" in
cascade) routing="[pipeline]
local_first = true
[plugins]
preclassifier = \"\"
[plugin.scheduler-rule]
rule = \"by-confidence\"
confidence_threshold = ${CONFIDENCE:-0.95}"
    about="the light model's own confidence (cascade, threshold ${CONFIDENCE:-0.95})" ;;
paper) routing="[plugins]
preclassifier = \"preclassifier-rf\"
[plugin.preclassifier-rf]
model = \"$top/models/preclass/rf.yml.gz\"
[plugin.scheduler-rule]
rule = \"by-route\""
    about="preclassifier-rf on the paper's 7 image features" ;;
conf) routing="[pipeline]
local_first = true
[plugins]
preclassifier = \"preclassifier-rf\"
[plugin.preclassifier-rf]
model = \"$top/models/preclass/rf-paper-conf.yml.gz\"
[plugin.scheduler-rule]
rule = \"by-route\""
    about="preclassifier-rf on the 7 image features + the light model's confidence" ;;
mo) routing="[agent]
state_dir = \"$work/state\"
[pipeline]
emulate_slowdown = ${SLOWDOWN:-28.9}
[plugins]
scheduler = \"scheduler-mo\"
preclassifier = \"\"
[plugin.inference-opencv]
models = \"$light,$heavy\"
[plugin.scheduler-mo]
policy = \"${POLICY:-weighted}\"
compute_w = 3.2"
    about="scheduler-mo, policy ${POLICY:-weighted}, end emulating a Pi 3B+ (3.2 W computing)" ;;
*) echo "ROUTER must be cascade, paper, conf or mo" >&2; exit 2 ;;
esac
# TOML tables may not repeat: merge the routing keys into the file's tables.
printf '%s\n' "$routing" >>"$work/end.toml"
/usr/bin/python3 "$top/scripts/merge_toml.py" "$work/end.toml"

"$top/build/tierd" --config "$work/edge.toml" 2>"$work/edge.log" &
EDGE_PID=$!
for _ in $(seq 40); do
    mosquitto_sub -h 127.0.0.1 -p "$BROKER_PORT" -t tierd/v1/dev/demo-edge-1/status -C 1 -W 1 \
        2>/dev/null | grep -q '"state":"online"' && break
done
echo "edge:    demo-edge-1 online, serving $heavy"
if [ "${ROUTER:-cascade}" = mo ]; then
    # Profiles: the edge's is published retained; the end's is measured by a first run
    # without a source and kept in its state_dir, which the real run reads at start.
    profile() { # retried while the agent's plugins are still loading (no_inference)
        local out
        for _ in $(seq 20); do
            out=$(mosquitto_rr -h 127.0.0.1 -p "$BROKER_PORT" -t "tierd/v1/dev/$1/cmd" \
                -e "demo/replies/$$" -W 300 \
                -m "{\"op\":\"profile\",\"args\":{\"images\":\"$data/t10k-images-idx3-ubyte.gz\"}}") || true
            echo "$out" | grep -q '"ok":true' && return 0
            echo "$out" | grep -q '"no_inference"' || break
            sleep 0.5
        done
        echo "profile of $1 failed: $out" >&2
        exit 1
    }
    profile demo-edge-1
    "$top/build/tierd" --config "$work/end.toml" --set source.kind=none 2>"$work/end-profile.log" &
    END_PID=$!
    for _ in $(seq 40); do
        mosquitto_sub -h 127.0.0.1 -p "$BROKER_PORT" -t tierd/v1/dev/demo-end-1/status -C 1 -W 1 \
            2>/dev/null | grep -q '"state":"online"' && break
    done
    profile demo-end-1
    kill "$END_PID"
    wait "$END_PID" 2>/dev/null || true
    echo "profile: both agents measured their models (docs/scheduling.md)"
fi
"$top/build/tierd" --config "$work/end.toml" 2>"$work/end.log" &
END_PID=$!
echo "end:     demo-end-1 runs $light; $images Fashion-MNIST test images from $data"

status() {
    mosquitto_rr -h 127.0.0.1 -p "$BROKER_PORT" -t tierd/v1/dev/demo-end-1/cmd \
        -e "demo/replies/$$" -m '{"op":"status"}' -W 5 2>/dev/null || true
}
cat >"$work/summary.py" <<'PY'
import json, sys
try:
    t = json.loads(sys.argv[1])["result"]["tasks"]
except Exception:
    print("  (waiting for the end agent)")
    sys.exit(0)
top1 = "%.2f%%" % (100 * t["top1"]) if "top1" in t else "-"
line = "  %-9s done %6d of %s  end %6d  edge %6d  fallbacks %4d  top-1 %s  mean %.2f ms/image" % (
    t["state"], t["done"], sys.argv[2], t["by_tier"]["end"], t["by_tier"]["edge"],
    t["fallbacks"], top1, t["mean_ms"])
if "error" in t:
    line += "  error: " + t["error"]
print(line)
PY
summary() { /usr/bin/python3 "$work/summary.py" "$1" "$images"; }
while true; do
    sleep 1
    out=$(status)
    summary "$out"
    echo "$out" | grep -qE '"state":"(finished|failed)"' && break
    kill -0 "$END_PID" 2>/dev/null || { echo "the end agent exited; its log:"; cat "$work/end.log"; exit 1; }
done

/usr/bin/python3 - "$work/results.jsonl" "$about" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
ok = [r for r in rows if r.get("ok")]
if not ok:
    sys.exit("no results")
def show(name, rs):
    if not rs:
        return
    top1 = sum(r.get("correct", False) for r in rs) / len(rs)
    ms = [r["timing_ms"]["total"] for r in rs]
    energy = [r["energy_j"] for r in rs if "energy_j" in r]
    sources = sorted({r["energy_source"] for r in rs if "energy_source" in r})
    e = f"{statistics.mean(energy) * 1000:.3f} mJ ({', '.join(sources)})" if energy else "n/a"
    print(f"  {name:14} {len(rs):>6} images  top-1 {100 * top1:6.2f}%  "
          f"time {statistics.mean(ms):7.2f} ms mean, {sorted(ms)[int(0.95 * (len(ms) - 1))]:7.2f} ms p95  "
          f"energy {e}  sent {statistics.mean(r['bytes_sent'] for r in rs):.0f} B/image")
print("summary (from the end agent's results file):")
show("all", ok)
show("ran on end", [r for r in ok if r["tier"] == "end"])
show("ran on edge", [r for r in ok if r["tier"] == "edge"])
if any("split" in r for r in ok):
    show("split", [r for r in ok if "split" in r])
print("  energy is the energy attributed to the inference on the tier that ran it (not the")
print("  end device's radio energy; bench/edge_based models that); routing: " + sys.argv[2] + ".")
PY
