#!/usr/bin/env bash
# model_update_test.sh TIERD TIERCTL LIB_BROKER SOURCE_DIR
# Model updates over MQTT (docs/models.md) with a real end agent (cnn-xs, IDX source at
# 150 images/s, a state_dir), a real broker and tierctl:
#  1. a good update (mobilenet-s's file as version 2 of cnn-xs) is pushed in chunks,
#     verified, activated make-before-break and passes the held-back check;
#  2. a poisoned update (cnn-xs with its classes rolled by one) is activated, fails the
#     held-back check and is rolled back at once (tierctl exits 1, code rolled_back);
#  3. an update whose bytes do not match its sha256 is refused (verify_failed), and one
#     that overruns its size (invalid_args): nothing changes;
#  4. the agent is stopped with an upload half done and started again: the upload is
#     discarded and it comes up on version 2 (the overlay manifest);
#  5. tierctl models rollback goes back to the shipped model and pins it.
# Throughout: every image of the stream gets exactly one result (no task lost in any swap
# or rollback).
set -euo pipefail
tierd=$1 tierctl=$2 source_dir=$4
. "$3"
work=$(mktemp -d)
agent_pid=
fail() { echo "FAIL: $*" >&2; tail -40 "$work/agent.log" >&2 || true; exit 1; }
stop_agent() { [ -n "$agent_pid" ] && kill "$agent_pid" 2>/dev/null && wait "$agent_pid" 2>/dev/null; agent_pid=; true; }
trap 'stop_agent; stop_broker; [ -n "${KEEP:-}" ] || rm -rf "$work"' EXIT
data=/usr/share/datasets/fashion-mnist
[ -f "$data/t10k-images-idx3-ubyte.gz" ] || fail "dataset-fashion-mnist is missing"
start_broker "$work"
dev="it-models-$$"
count=3000
cat >"$work/agent.toml" <<CONF
[agent]
device_id = "$dev"
state_dir = "$work/state"
[mqtt]
host = "127.0.0.1"
port = $BROKER_PORT
[source]
kind = "idx"
path = "$data/t10k-images-idx3-ubyte.gz"
labels = "$data/t10k-labels-idx1-ubyte.gz"
limit = $count
rate_hz = 150.0
[results]
jsonl = "$work/results.jsonl"
[plugins]
scheduler = "scheduler-rule"
[plugin.scheduler-rule]
rule = "always-end"
[plugin.inference-opencv]
manifest = "$source_dir/models/manifest.toml"
models = "cnn-xs"
[models]
holdout_images = 500
CONF
[ "$("$tierd" --check-config "$work/agent.toml")" = ok ] || fail "config rejected"
start_agent() {
    "$tierd" --config "$work/agent.toml" >>"$work/agent.log" 2>&1 &
    agent_pid=$!
    for _ in $(seq 60); do
        mosquitto_sub -h 127.0.0.1 -p "$BROKER_PORT" -t "tierd/v1/dev/$dev/status" -C 1 -W 1 \
            2>/dev/null | grep -q '"state":"online"' && return 0
    done
    fail "the agent did not come online"
}
export TIERCTL_HOST=127.0.0.1 TIERCTL_PORT=$BROKER_PORT
ctl() { "$tierctl" "$@"; }
wait_for_stream() { # every image of the stream answered (20 s of stream; 60 s at most)
    for _ in $(seq 600); do
        [ "$(wc -l <"$work/results.jsonl")" -ge "$count" ] && return 0
        sleep 0.1
    done
    fail "$(wc -l <"$work/results.jsonl") of $count results after 60 s"
}
rr() { mosquitto_rr -h 127.0.0.1 -p "$BROKER_PORT" -t "tierd/v1/dev/$dev/cmd" -e "test/replies/$$" -m "$1" -W 20; }
start_agent

# 1. A good update.
ctl models push "$dev" "$source_dir/models/mobilenet-s.onnx" --name cnn-xs --version 2 \
    --chunk-bytes 65536 --json >"$work/push2.json" || fail "push of version 2: $(cat "$work/push2.json")"
/usr/bin/python3 - "$work/push2.json" <<'PY' || fail "version 2 not activated"
import json, sys
r = json.load(open(sys.argv[1]))["replies"][0]["reply"]["result"]
print("version 2:", r["held_back"])
assert r["activated"] and r["verified"] and r["version"] == "2"
assert r["held_back"]["after"] >= r["held_back"]["before"] - 0.02
PY

# 2. A poisoned update is rolled back.
/usr/bin/python3 "$source_dir/bench/adapt/poison_model.py" "$source_dir/models/manifest.toml" \
    cnn-xs "$work/poisoned" || fail "cannot write the poisoned model"
set +e
ctl models push "$dev" "$work/poisoned/cnn-xs.onnx" --name cnn-xs --version 3 --json >"$work/push3.json"
rc=$?
set -e
[ "$rc" = 1 ] || fail "the poisoned push exited $rc: $(cat "$work/push3.json")"
grep -q '"rolled_back"' "$work/push3.json" || fail "no rolled_back: $(cat "$work/push3.json")"

# 3. Bytes that do not match their sha256; a chunk past the size.
payload=$(printf 'not a model' | base64)
zeros=0000000000000000000000000000000000000000000000000000000000000000
rr "{\"op\":\"models.update\",\"args\":{\"name\":\"cnn-xs\",\"version\":\"4\",\"sha256\":\"$zeros\",\"size\":11,\"offset\":0,\"data\":\"$payload\"}}" >"$work/bad.json"
grep -q '"verify_failed"' "$work/bad.json" || fail "bad sha256 accepted: $(cat "$work/bad.json")"
rr "{\"op\":\"models.update\",\"args\":{\"name\":\"cnn-xs\",\"version\":\"4\",\"sha256\":\"$zeros\",\"size\":4,\"offset\":0,\"data\":\"$payload\"}}" >"$work/over.json"
grep -q '"invalid_args"' "$work/over.json" || fail "an overrunning chunk accepted: $(cat "$work/over.json")"
rr '{"op":"models.update","args":{"name":"../x","version":"1","sha256":"'$zeros'","size":1,"offset":0,"data":"AA=="}}' >"$work/name.json"
grep -q '"invalid_args"' "$work/name.json" || fail "a path as a name accepted: $(cat "$work/name.json")"

ctl models list "$dev" --json >"$work/list.json" || fail "models list"
/usr/bin/python3 - "$work/list.json" <<'PY' || fail "models list after the updates"
import json, sys
r = json.load(open(sys.argv[1]))["replies"][0]["reply"]["result"]
m = r["models"]["cnn-xs"]
assert m["active"] == "2", m
assert m["versions"]["3"]["rejected"] and "held-back" in m["versions"]["3"]["note"], m
assert "4" not in m["versions"], m
assert "/models/manifest-" in r["manifest"], r["manifest"]
PY

# 4. Stopped with half an upload; started again.
head -c 60000 "$source_dir/models/resnet-20.onnx" | base64 -w0 >"$work/half.b64"
sha=$(sha256sum "$source_dir/models/resnet-20.onnx" | cut -d' ' -f1)
size=$(stat -c %s "$source_dir/models/resnet-20.onnx")
rr "{\"op\":\"models.update\",\"args\":{\"name\":\"cnn-xs\",\"version\":\"5\",\"sha256\":\"$sha\",\"size\":$size,\"offset\":0,\"data\":\"$(cat "$work/half.b64")\"}}" >"$work/half.json"
grep -q '"received":60000' "$work/half.json" || fail "first chunk: $(cat "$work/half.json")"
# Let the stream finish before the restart: its results are counted below.
wait_for_stream
stop_agent
cp "$work/results.jsonl" "$work/results-before-restart.jsonl"
: >"$work/results.jsonl"
start_agent
grep -q "discarded an unfinished upload" "$work/agent.log" || fail "the half upload was not discarded"
ctl models list "$dev" --json >"$work/list2.json" || fail "models list after restart"
ctl plugins list "$dev" --json >"$work/plugins.json" || fail "plugins list"
/usr/bin/python3 - "$work/list2.json" "$work/plugins.json" <<'PY' || fail "after the restart"
import json, sys
r = json.load(open(sys.argv[1]))["replies"][0]["reply"]["result"]
assert r["models"]["cnn-xs"]["active"] == "2" and r["uploads"] == [], r
p = json.load(open(sys.argv[2]))["replies"][0]["reply"]["result"]["loaded"]
inference = next(x for x in p if x["name"] == "inference-opencv")
assert "/models/manifest-" in inference["config"]["manifest"], inference["config"]
PY

# 5. Roll back by hand: the shipped model, pinned.
ctl models rollback "$dev" cnn-xs --json >"$work/rollback.json" || fail "rollback: $(cat "$work/rollback.json")"
ctl models list "$dev" --json >"$work/list3.json"
/usr/bin/python3 - "$work/list3.json" <<'PY' || fail "after the rollback"
import json, sys
m = json.load(open(sys.argv[1]))["replies"][0]["reply"]["result"]["models"]["cnn-xs"]
assert m["active"] == "" and m["pinned"] and m["previous"] == "2", m
PY
wait_for_stream
stop_agent

# No task lost: both runs of the stream, every image exactly one result.
/usr/bin/python3 - "$work/results-before-restart.jsonl" "$work/results.jsonl" "$count" <<'PY' || fail "results"
import json, sys
count = int(sys.argv[3])
for path in sys.argv[1:3]:
    rs = [json.loads(l) for l in open(path)]
    idx = sorted(int(r["source"].rsplit("#", 1)[1]) for r in rs)
    assert idx == list(range(count)), f"{path}: {len(rs)} results, a task lost or repeated"
    assert all(r["ok"] for r in rs), f"{path}: a task failed"
    acc = sum(1 for r in rs if r.get("correct")) / len(rs)
    print(f"{path.rsplit('/', 1)[1]}: {len(rs)} results, all ok, accuracy {acc:.3f}")
PY
echo "ok: model updates verified, activated, rolled back and kept across a restart; no task lost"
