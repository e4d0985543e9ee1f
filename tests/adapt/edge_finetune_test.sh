#!/usr/bin/env bash
# edge_finetune_test.sh TIERD TIERCTL DRIFTGEN LIB_BROKER LIB_AGENTS SOURCE_DIR
# Whole-model fine-tuning on the edge (docs/adaptation.md): a real end agent (cnn-xs, the
# cascade: what it is unsure of goes up) and a real edge agent (resnet-20, [offload]
# keep_answered = 400) on one broker play a shifted stream (scale@3, 1,500 images).
# Checks:
#  - the edge kept the images it answered for the end, the last 400 (samples.list);
#  - `tierctl samples pull` writes them as IDX files whose every image is the stream's
#    image of that task, byte for byte, and whose every label is the answer the end got
#    from the edge for it (results.jsonl, by task id);
#  - the end keeps nothing (samples.get answers not_keeping);
#  - the end kept the edge's answers as teacher labels ([models] teacher_images): with the
#    held-back check off, a version with its classes rolled by one is rolled back for
#    agreeing less with them, and mobilenet-s's file as a version of cnn-xs stays;
#  - one round of tools/adapt/finetune_job.py (python3-torch) trains the end's model on
#    them and pushes it: the end verifies it and either activates it or rolls it back by
#    its held-back buffer (the training split's last 300 images), and says which.
# Every image gets exactly one result.
set -euo pipefail
tierd=$1 tierctl=$2 driftgen=$3
. "$4"
fail() { echo "FAIL: $*" >&2; for a in end edge; do echo "--- $a log:" >&2; tail -30 "$work/$a.log" >&2 || true; done; exit 1; }
. "$5"
source_dir=$6
work=$(mktemp -d)
pids=()
stop_agents() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null && wait "$p" 2>/dev/null; done; true; }
trap 'stop_agents; stop_broker; [ -n "${KEEP:-}" ] || rm -rf "$work"' EXIT
data=/usr/share/datasets/fashion-mnist
[ -f "$data/train-images-idx3-ubyte.gz" ] || fail "dataset-fashion-mnist is missing"
start_broker "$work"
end="it-eft-end-$$" edge="it-eft-edge-$$"
count=1500
"$driftgen" --plan "scale@3:$count" --seed 5 --out "$work/drift" --quiet || fail "tierd-driftgen"
manifest="$source_dir/models/manifest.toml"
zoo_edge_config "$edge" "$manifest" resnet-20 "$(printf '[offload]\nkeep_answered = 400')" >"$work/edge.toml"
cat >"$work/end.toml" <<CONF
[agent]
device_id = "$end"
state_dir = "$work/state"
[mqtt]
host = "127.0.0.1"
port = $BROKER_PORT
[source]
kind = "idx"
path = "$work/drift/images-idx3-ubyte"
labels = "$work/drift/labels-idx1-ubyte"
rate_hz = 150.0
[results]
jsonl = "$work/results.jsonl"
[pipeline]
local_first = true
[plugins]
scheduler = "scheduler-rule"
[plugin.scheduler-rule]
rule = "by-confidence"
confidence_threshold = 0.9
[plugin.inference-opencv]
manifest = "$manifest"
models = "cnn-xs"
[models]
holdout = "$data/train-images-idx3-ubyte.gz"
holdout_labels = "$data/train-labels-idx1-ubyte.gz"
holdout_images = 300
CONF
for a in edge end; do
    [ "$("$tierd" --check-config "$work/$a.toml")" = ok ] || fail "$a config rejected"
done
"$tierd" --config "$work/edge.toml" >"$work/edge.log" 2>&1 &
pids+=($!)
wait_agent_online "$edge"
"$tierd" --config "$work/end.toml" >"$work/end.log" 2>&1 &
pids+=($!)
lines() { [ -f "$work/results.jsonl" ] && wc -l <"$work/results.jsonl" || echo 0; }
for _ in $(seq 600); do # 10 s of stream, up to 60 s
    [ "$(lines)" -ge "$count" ] && break
    kill -0 "${pids[1]}" 2>/dev/null || fail "the end agent exited"
    sleep 0.1
done
[ "$(lines)" -ge "$count" ] || fail "$(lines) of $count results"
export TIERCTL_HOST=127.0.0.1 TIERCTL_PORT=$BROKER_PORT
"$tierctl" samples list "$edge" --json >"$work/list.json" || fail "samples list: $(cat "$work/list.json")"
"$tierctl" samples pull "$edge" --of "$end" --out "$work/pulled" >"$work/pull.txt" ||
    fail "samples pull: $(cat "$work/pull.txt")"
cat "$work/pull.txt"
set +e
"$tierctl" samples pull "$end" --of "$edge" --out "$work/none" --json >"$work/end_pull.json" 2>&1
rc=$?
set -e
[ "$rc" = 1 ] && grep -q not_keeping "$work/end_pull.json" ||
    fail "an end agent answered samples.get ($rc): $(cat "$work/end_pull.json")"
/usr/bin/python3 - "$work" "$count" "$end" <<'PY' || fail "checks"
import json, sys
work, count, end = sys.argv[1], int(sys.argv[2]), sys.argv[3]
results = [json.loads(line) for line in open(f"{work}/results.jsonl")]
assert len(results) == count, f"{len(results)} results for {count} images"
index = {r["task_id"]: int(r["source"].rsplit("#", 1)[1]) for r in results}
assert sorted(index.values()) == list(range(count)), "a task was lost or repeated"
by_edge = {r["task_id"]: r for r in results if r.get("tier") == "edge" and r["ok"]}
listed = json.load(open(f"{work}/list.json"))["replies"][0]["reply"]["result"]
kept = listed["devices"].get(end, 0)
print(f"{len(by_edge)} results answered by the edge; it keeps {kept} (capacity {listed['capacity']})")
assert len(by_edge) >= 100, "the cascade sent too little up to test anything"
assert kept == min(400, len(by_edge)), (kept, len(by_edge))

def idx(path):
    data = open(path, "rb").read()
    dims = data[3]
    shape = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(dims)]
    return shape, data[4 + 4 * dims:]

shape, images = idx(f"{work}/pulled/images-idx3-ubyte")
lshape, labels = idx(f"{work}/pulled/labels-idx1-ubyte")
about = json.load(open(f"{work}/pulled/samples.json"))
assert shape == [kept, 28, 28] and lshape == [kept], (shape, lshape)
stream_shape, stream = idx(f"{work}/drift/images-idx3-ubyte")
assert len(about["task_ids"]) == kept
for k, task in enumerate(about["task_ids"]):
    r = by_edge[task]  # kept only what the edge answered with a class
    assert labels[k] == r["top_class"], (task, labels[k], r["top_class"])
    i = index[task]
    assert images[784 * k:784 * (k + 1)] == stream[784 * i:784 * (i + 1)], f"image of {task}"
print(f"{kept} samples: each image the stream's, each label the edge's answer")
PY
# The teacher check of model updates ([models] teacher_images): the end kept the edge's
# answers as teacher labels. With the held-back check off, only it stands between the end
# and a bad version: cnn-xs with its classes rolled by one is rolled back for agreeing
# less with the teacher; mobilenet-s's file as a version of cnn-xs agrees more and stays.
"$tierctl" cmd "$end" set-config --args '{"changes": {"models.holdout_images": 0}}' >/dev/null ||
    fail "set-config models.holdout_images"
/usr/bin/python3 "$source_dir/bench/adapt/poison_model.py" "$manifest" cnn-xs "$work/poisoned" ||
    fail "cannot write the poisoned model (python3-onnx)"
set +e
"$tierctl" models push "$end" "$work/poisoned/cnn-xs.onnx" --name cnn-xs --version t1 --json \
    >"$work/push_t1.json"
rc=$?
set -e
[ "$rc" = 1 ] && grep -q "agreement with the teacher" "$work/push_t1.json" ||
    fail "the poisoned version was not rolled back by the teacher check ($rc): $(cat "$work/push_t1.json")"
"$tierctl" models push "$end" "$source_dir/models/mobilenet-s.onnx" --name cnn-xs --version t2 \
    --json >"$work/push_t2.json" || fail "mobilenet-s as cnn-xs t2: $(cat "$work/push_t2.json")"
/usr/bin/python3 - "$work" <<'PY' || fail "the teacher check"
import json, sys
work = sys.argv[1]
bad = json.load(open(f"{work}/push_t1.json"))["replies"][0]["reply"]["error"]["message"]
good = json.load(open(f"{work}/push_t2.json"))["replies"][0]["reply"]["result"]
print("t1:", bad)
print("t2: teacher", good["teacher"])
assert "held_back" not in good, "the held-back check was off"
assert good["activated"] and good["teacher"]["images"] >= 100, good
assert good["teacher"]["after"] >= good["teacher"]["before"] - 0.05, good["teacher"]
PY
"$tierctl" models rollback "$end" cnn-xs >/dev/null || fail "rollback to the shipped model"
"$tierctl" models unpin "$end" cnn-xs >/dev/null || fail "unpin"
"$tierctl" cmd "$end" set-config --args '{"changes": {"models.holdout_images": 300}}' >/dev/null ||
    fail "set-config models.holdout_images back"

/usr/bin/python3 -c "import torch" 2>/dev/null ||
    fail "python3-torch is missing (scripts/install-deps.sh installs it): no fine-tuning round"
/usr/bin/python3 "$source_dir/tools/adapt/finetune_job.py" --edge "$edge" --device "$end" \
    --name cnn-xs --model "$source_dir/models/cnn-xs.onnx" --rounds 1 --min 100 --every 0 \
    --tierctl "$tierctl" >"$work/round.json" || fail "finetune_job.py"
cat "$work/round.json"
"$tierctl" models list "$end" --json >"$work/models.json" || fail "models list"
/usr/bin/python3 - "$work" <<'PY' || fail "the fine-tuning round"
import json, sys
work = sys.argv[1]
row = json.loads(open(f"{work}/round.json").readline())
assert row["outcome"] in ("activated", "rolled_back"), row
m = json.load(open(f"{work}/models.json"))["replies"][0]["reply"]["result"]["models"]["cnn-xs"]
v = m["versions"][row["version"]]
assert v["sha256"] == row["sha256"], "the device keeps other bytes than were pushed"
if row["outcome"] == "activated":
    assert m["active"] == row["version"], m
else:
    assert v["rejected"] and m.get("active", "") != row["version"], m
print(f"round: {row['samples']} samples, trained in {row['train_s']} s, {row['bytes']} bytes, {row['outcome']}")
PY
echo "ok: the edge kept what it answered, tierctl pulled it exactly, and a model trained on it was pushed and judged"
