#!/usr/bin/env bash
# tierd_plays_drift_test.sh TIERD DRIFTGEN LIB_BROKER SOURCE_DIR
# A real end agent plays a tierd-driftgen stream through its IDX source and the zoo's
# cnn-xs: every image arrives with the label the generator wrote (its source image's),
# and tierd's class for it is the one OpenCV DNN gives the same bytes outside tierd, so
# the stream that tierd plays is the stream that segments.json describes.
set -euo pipefail
tierd=$1 driftgen=$2
. "$3"
source_dir=$4
work=$(mktemp -d)
stop_tierd() { [ -n "${TIERD_PID:-}" ] && { kill "$TIERD_PID" && wait "$TIERD_PID"; } 2>/dev/null || true; }
trap 'stop_tierd; stop_broker; rm -rf "$work"' EXIT
fail() { echo "FAIL: $*" >&2; echo "--- tierd log:" >&2; cat "$work/tierd.log" >&2 || true; exit 1; }
[ -f /usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz ] ||
    fail "dataset-fashion-mnist is missing (scripts/install-deps.sh installs it)"
start_broker "$work"
device="it-drift-$$"

"$driftgen" --plan "clean:30,noise@5:30,rotation+occlusion@3:30" --seed 4 --out "$work/drift" \
    --quiet || fail "tierd-driftgen failed"
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
limit = 90
[results]
jsonl = "$work/results.jsonl"
[plugin.inference-opencv]
manifest = "$source_dir/models/manifest.toml"
models = "cnn-xs"
CONF
[ "$("$tierd" --check-config "$work/tierd.toml")" = ok ] || fail "config rejected"
"$tierd" --config "$work/tierd.toml" >"$work/tierd.log" 2>&1 &
TIERD_PID=$!
for _ in $(seq 600); do # up to 30 s
    [ -f "$work/results.jsonl" ] && [ "$(wc -l <"$work/results.jsonl")" -ge 90 ] && break
    sleep 0.05
done

/usr/bin/python3 - "$work" "$source_dir" <<'PY' || fail "results: $(head -c 600 "$work/results.jsonl" 2>/dev/null)"
import gzip, json, sys, tomllib
import cv2, numpy as np
work, source_dir = sys.argv[1:]

def idx(path):
    data = (gzip.open if path.endswith(".gz") else open)(path, "rb").read()
    dims = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(data[3])]
    return np.frombuffer(data, np.uint8, offset=4 + 4 * len(dims)).reshape(dims)

images = idx(f"{work}/drift/images-idx3-ubyte")
labels = idx(f"{work}/drift/labels-idx1-ubyte")
meta = json.load(open(f"{work}/drift/segments.json"))
source_labels = idx("/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz")
assert [int(source_labels[i]) for i in meta["source_index"]] == labels.tolist()

manifest = tomllib.load(open(f"{source_dir}/models/manifest.toml", "rb"))
net = cv2.dnn.readNetFromONNX(f"{source_dir}/models/cnn-xs.onnx")
net.setInput(cv2.dnn.blobFromImages(list(images), manifest["scale"], (28, 28), (manifest["mean"],)))
expected = net.forward().argmax(axis=1)

results = [json.loads(line) for line in open(f"{work}/results.jsonl")]
assert len(results) == 90, len(results)
seen = set()
for r in results:
    k = int(r["source"].rsplit("#", 1)[1])
    seen.add(k)
    assert r["ok"] is True and r["model"] == "cnn-xs", r
    assert r["label"] == labels[k], (k, r["label"], int(labels[k]))
    assert r["top_class"] == expected[k], (k, r["top_class"], int(expected[k]))
    assert r["correct"] == (expected[k] == labels[k]), r
assert seen == set(range(90)), sorted(seen)
PY
echo "ok: tierd played 90 drift images with their labels and OpenCV's classes"
