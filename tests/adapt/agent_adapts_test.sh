#!/usr/bin/env bash
# agent_adapts_test.sh TIERD DRIFTGEN LIB_BROKER SOURCE_DIR
# A real end agent with [plugin.inference-opencv] adapt = "recalibrate" plays a stream that
# is shifted from its first image (brightness, severity 3: resnet-20 gets ~18% of it right
# unadapted, docs/drift.md). It must adapt on its own inputs without labels (the log says
# so, the plugin counts it), be right far more often afterwards, and lose or repeat no task
# while the adapted nets are swapped in.
set -euo pipefail
tierd=$1 driftgen=$2
. "$3"
source_dir=$4
work=$(mktemp -d)
stop_tierd() { [ -n "${TIERD_PID:-}" ] && { kill "$TIERD_PID" && wait "$TIERD_PID"; } 2>/dev/null || true; }
trap 'stop_tierd; stop_broker; [ -n "${KEEP:-}" ] || rm -rf "$work"' EXIT
fail() { echo "FAIL: $*" >&2; echo "--- tierd log:" >&2; tail -40 "$work/tierd.log" >&2 || true; exit 1; }
[ -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] ||
    fail "dataset-fashion-mnist is missing (scripts/install-deps.sh installs it)"
start_broker "$work"
device="it-adapt-$$"
count=4000
"$driftgen" --plan "brightness@3:$count" --seed 5 --out "$work/drift" --quiet ||
    fail "tierd-driftgen failed"
cat >"$work/tierd.toml" <<CONF
[agent]
device_id = "$device"
[mqtt]
host = "127.0.0.1"
port = $BROKER_PORT
[source]
kind = "idx"
path = "$work/drift/images-idx3-ubyte"
labels = "$work/drift/labels-idx1-ubyte"
rate_hz = 200.0
[results]
jsonl = "$work/results.jsonl"
[plugin.inference-opencv]
manifest = "$source_dir/models/manifest.toml"
models = "resnet-20"
adapt = "recalibrate"
adapt_samples = 128
adapt_interval_ms = 0
adapt_source_images = 256
CONF
[ "$("$tierd" --check-config "$work/tierd.toml")" = ok ] || fail "config rejected"
"$tierd" --config "$work/tierd.toml" >"$work/tierd.log" 2>&1 &
TIERD_PID=$!
lines() { [ -f "$work/results.jsonl" ] && wc -l <"$work/results.jsonl" || echo 0; }
for _ in $(seq 1200); do # up to 60 s for the first adaptation
    grep -q "adapted 'resnet-20'" "$work/tierd.log" && break
    kill -0 "$TIERD_PID" 2>/dev/null || fail "tierd exited"
    sleep 0.05
done
grep -q "adapted 'resnet-20'" "$work/tierd.log" || fail "no adaptation within 60 s ($(lines) results)"
after=$(lines)
[ "$after" -lt $((count - 500)) ] || fail "adapted only after $after of $count images: too late to judge"
for _ in $(seq 1200); do # the images after it, up to 60 s
    [ "$(lines)" -ge "$count" ] && break
    sleep 0.05
done
[ "$(lines)" -ge "$count" ] || fail "$(lines) of $count results"
/usr/bin/python3 - "$work/results.jsonl" "$after" "$count" <<'PY' || fail "results"
import json, sys
path, after, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
results = [json.loads(line) for line in open(path)]
assert len(results) == count, f"{len(results)} results for {count} images"
indices = sorted(int(r["source"].rsplit("#", 1)[1]) for r in results)
assert indices == list(range(count)), "a task was lost or repeated"
assert all(r["ok"] is True for r in results), [r for r in results if not r["ok"]][:2]
before = results[:100]
# Tasks already queued when the adapted net went in may still run on the old one.
adapted = results[after + 100:]
acc = lambda rs: sum(r["correct"] for r in rs) / len(rs)
print(f"accuracy: first 100 {acc(before):.3f}, after adapting ({len(adapted)} results) {acc(adapted):.3f}")
assert acc(before) < 0.45, acc(before)
assert acc(adapted) > 0.75, acc(adapted)
assert acc(adapted) > acc(before) + 0.3
PY
echo "ok: adapted without labels, no task lost or repeated"
