#!/usr/bin/env bash
# offload_server_test.sh CASE TIERD_BINARY LIB_BROKER PLUGIN_DIR TEST_PLUGIN_DIR SLOW_START_DIR
# The serving side of offload in real agents on a real broker: what an edge answers when
# it shuts down, where a plugin unloaded during a batch is torn down, and that a request
# the end has given up on is not computed after the end reconnects. The edge's inference
# plugin is test-slow-infer (tests/pipeline/slow_infer_plugin.cpp): each infer() takes
# infer_ms, and its destroy() writes on which thread it ran.
set -euo pipefail
case_name=$1 tierd=$2
. "$3"
plugin_dir=$4 test_plugin_dir=$5 # the in-tree plugins; test-slow-infer.so
slow_start_dir=${6:-} # test-slow-start.so (its constructor takes start_ms)
work=$(mktemp -d)
cleanup() {
    kill -9 ${EDGE_PID:-} ${END_PID:-} ${SUB_PID:-} ${PROXY_PID:-} 2>/dev/null || true
    stop_broker
    rm -rf "$work"
}
trap cleanup EXIT
start_broker "$work"
edge="it-offload-edge-$$"
end="it-offload-end-$$"
replies="test/replies/$$"

fail() {
    echo "FAIL: $*" >&2
    for log in edge end; do
        [ -f "$work/$log.log" ] && { echo "--- $log log:" >&2; cat "$work/$log.log" >&2; }
    done
    exit 1
}
. "$(dirname "$0")/lib-agents.sh"

# Prints an agent config for DEVICE whose inference plugin is test-slow-infer; EXTRA goes
# into the head of the file (a role, tables).
agent_config() { # DEVICE INFER_MS EXTRA
    cat <<CONF
[agent]
device_id = "$1"
$3
[plugins]
search_path = ["$test_plugin_dir", "$plugin_dir"]
inference = "test-slow-infer"
preclassifier = ""
[plugin.test-slow-infer]
infer_ms = $2
destroy_report = "$work/$1.destroyed"
CONF
}
# An edge agent on the broker: one inference job (two pool threads), one request per
# batch, each inference INFER_MS long; started and online.
start_edge() { # INFER_MS
    agent_config "$edge" "$1" "role = \"edge\"
[mqtt]
host = \"127.0.0.1\"
port = $BROKER_PORT
[workers]
threads = 2
[offload]
batch_max = 1" >"$work/edge.toml"
    "$tierd" --config "$work/edge.toml" >"$work/edge.log" 2>&1 &
    EDGE_PID=$!
    wait_agent_online "$edge"
}
# Writes $work/ID.req: an offload request for a 28x28 gray image, as an end encodes it.
write_request() { # ID
    /usr/bin/python3 - "$work/$1.req" "$1" <<'PY'
import json, struct, sys
header = json.dumps({"v": 1, "task_id": sys.argv[2], "device_id": "it-raw-end",
                     "model": "", "format": "gray8", "width": 28, "height": 28}).encode()
open(sys.argv[1], "wb").write(b"TDI1" + struct.pack(">I", len(header)) + header + bytes(784))
PY
}
# Publishes request ID to the edge tier with the test's reply topic (MQTT 5).
send_request() { # ID
    mosquitto_pub -V 5 -h 127.0.0.1 -p "$BROKER_PORT" -q 1 -t tierd/v1/offload/edge/req \
        -D publish response-topic "$replies" -D publish correlation-data "$1" -f "$work/$1.req"
}
# Starts recording the replies ("<unix time> <json>" per line) and waits until the
# subscription is in place.
listen_replies() {
    mosquitto_sub -V 5 -h 127.0.0.1 -p "$BROKER_PORT" -t "$replies" -F '%U %p' \
        >"$work/replies.txt" &
    SUB_PID=$!
    for _ in $(seq 100); do
        mosquitto_pub -h 127.0.0.1 -p "$BROKER_PORT" -t "$replies" -m '{"marker":true}'
        grep -q marker "$work/replies.txt" 2>/dev/null && return 0
        sleep 0.1
    done
    fail "the reply listener did not subscribe"
}
# Waits up to SECONDS for COUNT replies (the marker aside).
wait_replies() { # COUNT SECONDS
    for _ in $(seq $(($2 * 20))); do
        [ "$(grep -c '"task_id"' "$work/replies.txt" 2>/dev/null)" -ge "$1" ] && return 0
        sleep 0.05
    done
    fail "$(grep -c '"task_id"' "$work/replies.txt") replies of $1: $(cat "$work/replies.txt")"
}
# Waits up to SECONDS for PATTERN in FILE.
wait_line() { # FILE PATTERN SECONDS
    for _ in $(seq $(($3 * 20))); do
        grep -q "$2" "$1" 2>/dev/null && return 0
        sleep 0.05
    done
    fail "no \"$2\" in $1 within $3 s"
}
# Prints how request ID was answered: "ok", its error code, or "none".
reply_code() { # ID
    /usr/bin/python3 - "$work/replies.txt" "$1" <<'PY'
import json, sys
codes = [d["ok"] and "ok" or d["error"]["code"]
         for d in (json.loads(l.partition(" ")[2]) for l in open(sys.argv[1]))
         if d.get("task_id") == sys.argv[2]]
print(" ".join(codes) or "none")
PY
}
# "True" or "False": whether DEVICE is subscribed to its tier's offload requests now.
offload_subscribed() { # DEVICE
    command_to "$1" '{"op":"status"}' | /usr/bin/python3 -c \
        'import json, sys; print(json.load(sys.stdin)["result"].get("offload", {}).get("subscribed"))'
}
# A command to DEVICE; prints the reply.
command_to() { # DEVICE JSON
    mosquitto_rr -h 127.0.0.1 -p "$BROKER_PORT" -t "tierd/v1/dev/$1/cmd" \
        -e "test/cmd-replies/$$" -m "$2" -W 10
}

case $case_name in
shutdown_answers_every_request)
    # Issue 15 item 6. An edge that is told to stop while one request computes and three
    # wait: the three are answered "shutting_down" at once (their ends run them now
    # instead of waiting out their timeouts), the one computing is finished and answered,
    # and then the agent exits within its drain. Before, the edge kept starting the
    # waiting ones after MQTT had stopped: nobody got an answer.
    start_edge 1500
    listen_replies
    for id in t1 t2 t3 t4; do
        write_request "$id"
        send_request "$id"
    done
    wait_line "$work/edge.log" "infer started: t1" 10
    for _ in $(seq 100); do
        command_to "$edge" '{"op":"status"}' | grep -q '"waiting":3' && break
        sleep 0.05
    done
    command_to "$edge" '{"op":"status"}' | grep -q '"waiting":3' ||
        fail "the edge does not hold three waiting requests"
    stopped_at=$(date +%s.%N)
    kill -TERM "$EDGE_PID"
    wait_replies 4 10
    for _ in $(seq 200); do
        kill -0 "$EDGE_PID" 2>/dev/null || break
        sleep 0.05
    done
    kill -0 "$EDGE_PID" 2>/dev/null && fail "the edge did not exit"
    grep -q "drain timed out" "$work/edge.log" && fail "the edge's drain timed out"
    /usr/bin/python3 - "$work/replies.txt" "$stopped_at" <<'PY' || fail "replies: $(cat "$work/replies.txt")"
import json, sys
stopped_at = float(sys.argv[2])
replies = {}
for line in open(sys.argv[1]):
    at, _, text = line.partition(" ")
    doc = json.loads(text)
    if "task_id" not in doc:
        continue
    assert doc["task_id"] not in replies, f"two replies for {doc['task_id']}"
    replies[doc["task_id"]] = (float(at), doc)
assert sorted(replies) == ["t1", "t2", "t3", "t4"], sorted(replies)
assert replies["t1"][1]["ok"], replies["t1"]
for t in ("t2", "t3", "t4"):
    at, doc = replies[t]
    assert not doc["ok"] and doc["error"]["code"] == "shutting_down", doc
    # At once: well before the computing request finishes (1.5 s).
    assert at - stopped_at < 0.75, f"{t} answered {at - stopped_at:.3f} s after SIGTERM"
print("answered after SIGTERM (s):",
      {t: round(replies[t][0] - stopped_at, 3) for t in sorted(replies)})
PY
    ;;
unload_during_batch)
    # Issue 15 item 10. The inference plugin is unloaded (plugins.unload) while a batch
    # runs on it: the batch still answers, and the plugin's destroy() runs on a worker.
    # Before, the batch's completion dropped the last reference on the loop thread, so
    # stop(), destroy() and dlclose() blocked the loop.
    start_edge 1500
    listen_replies
    write_request t1
    send_request t1
    wait_line "$work/edge.log" "infer started: t1" 10
    out=$(command_to "$edge" '{"op":"plugins.unload","args":{"name":"test-slow-infer"}}') ||
        fail "unload: no reply"
    echo "$out" | grep -q '"ok":true' || fail "unload: $out"
    wait_replies 1 10
    [ "$(reply_code t1)" = ok ] || fail "t1 was answered $(reply_code t1)"
    for _ in $(seq 200); do
        [ -f "$work/$edge.destroyed" ] && break
        sleep 0.05
    done
    [ -f "$work/$edge.destroyed" ] || fail "the plugin was never destroyed"
    where=$(cat "$work/$edge.destroyed")
    [ "$where" = worker ] || fail "the plugin's destroy() ran on the $where thread"
    # Without an inference plugin the edge cannot serve: it leaves the shared
    # subscription (the broker hands requests to edges that can), and rejoins when one
    # is loaded again.
    [ "$(offload_subscribed "$edge")" = False ] || fail "still subscribed without inference"
    out=$(command_to "$edge" '{"op":"plugins.load","args":{"name":"test-slow-infer"}}') ||
        fail "load: no reply"
    echo "$out" | grep -q '"ok":true' || fail "load: $out"
    [ "$(offload_subscribed "$edge")" = True ] || fail "not subscribed again after the load"
    write_request t2
    send_request t2
    wait_replies 2 10
    [ "$(reply_code t2)" = ok ] || fail "t2 was answered $(reply_code t2)"
    ;;
loading_edge_not_subscribed)
    # Issue 15 item 1. A second edge restarts while the first serves: its plugins take
    # 5 s to load. Requests sent meanwhile must all be answered by the first edge; before,
    # the loading edge was subscribed from its connect on, the broker gave it its share,
    # and those requests were dropped without a reply (each cost the end its timeout).
    start_edge 0
    listen_replies
    loading="it-offload-loading-$$"
    cat >"$work/loading.toml" <<CONF
[agent]
device_id = "$loading"
role = "edge"
[mqtt]
host = "127.0.0.1"
port = $BROKER_PORT
[plugins]
search_path = ["$slow_start_dir", "$plugin_dir"]
inference = "test-slow-start"
preclassifier = ""
[plugin.test-slow-start]
start_ms = 5000
top_class = 5
CONF
    for i in $(seq 20); do
        write_request "l$i"
    done
    "$tierd" --config "$work/loading.toml" >"$work/end.log" 2>&1 &
    END_PID=$!
    wait_agent_online "$loading"
    # While it loads (5 s): 20 requests at once, every one answered, all by the first edge.
    pubs=()
    for i in $(seq 20); do
        send_request "l$i" &
        pubs+=($!)
    done
    wait "${pubs[@]}"
    grep -q "offload: serving edge requests" "$work/end.log" &&
        fail "the second edge finished loading before the requests were sent (a slow machine?)"
    wait_replies 20 10
    for i in $(seq 20); do
        [ "$(reply_code "l$i")" = ok ] || fail "l$i was answered $(reply_code "l$i")"
    done
    grep -q "\"device_id\":\"$loading\"" "$work/replies.txt" &&
        fail "the loading edge answered: $(grep "$loading" "$work/replies.txt" | head -1)"
    # Once loaded, it serves too.
    wait_line "$work/end.log" "offload: serving edge requests" 15
    [ "$(offload_subscribed "$loading")" = True ] || fail "loaded but not subscribed"
    ;;
role_change_to_edge_serves)
    # Issue 15 item 1. An agent that starts as an end and becomes an edge by set-config
    # must serve its tier's requests from then on; before, it subscribed but never built
    # the offload server, so every request to it was dropped.
    agent_config "$edge" 0 "[mqtt]
host = \"127.0.0.1\"
port = $BROKER_PORT" >"$work/edge.toml"
    "$tierd" --config "$work/edge.toml" >"$work/edge.log" 2>&1 &
    EDGE_PID=$!
    wait_agent_online "$edge"
    listen_replies
    out=$(command_to "$edge" '{"op":"set-config","args":{"changes":{"agent.role":"edge"}}}') ||
        fail "set-config: no reply"
    echo "$out" | grep -q '"ok":true' || fail "set-config: $out"
    # Until it says it serves (an agent that never does is caught by r1 going unanswered).
    for _ in $(seq 75); do
        [ "$(offload_subscribed "$edge" 2>/dev/null)" = True ] && break
        sleep 0.2
    done
    write_request r1
    send_request r1
    wait_replies 1 10
    [ "$(reply_code r1)" = ok ] || fail "r1 was answered $(reply_code r1)"
    ;;
resent_request_not_computed)
    # Issue 15 item 7. An end whose connection stalls while it offloads gives up on those
    # requests after offload.timeout_ms and runs them itself. When the connection is then
    # cut and the end reconnects, nothing it gave up on may reach the edge and be computed
    # (every such reply arrives late and is wasted work). Before, the end published
    # requests at QoS 1, so libmosquitto re-sent them after the reconnect, seconds late.
    # The end connects through a TCP relay the test controls; the edge connects directly.
    start_edge 0
    relay_port=$(free_port)
    /usr/bin/python3 - "$relay_port" "$BROKER_PORT" "$work" <<'PY' >"$work/relay.log" 2>&1 &
# A TCP relay to the broker. While $work/stall exists, bytes from the client are dropped
# (the broker never sees them: no PUBACK); when $work/cut appears, every connection is
# closed and the relay forwards normally again.
import asyncio, os, sys
port, broker, work = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
conns = []

async def pump(reader, writer, upstream):
    try:
        while data := await reader.read(65536):
            if upstream and os.path.exists(f"{work}/stall"):
                continue
            writer.write(data)
            await writer.drain()
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        writer.close()

async def serve(client_reader, client_writer):
    broker_reader, broker_writer = await asyncio.open_connection("127.0.0.1", broker)
    conns.append((client_writer, broker_writer))
    await asyncio.gather(pump(client_reader, broker_writer, True),
                         pump(broker_reader, client_writer, False))

async def watch():
    while True:
        await asyncio.sleep(0.02)
        if os.path.exists(f"{work}/cut"):
            for c, b in conns:
                c.transport.abort()
                b.transport.abort()
            conns.clear()
            os.remove(f"{work}/cut")
            if os.path.exists(f"{work}/stall"):
                os.remove(f"{work}/stall")
            print("cut", flush=True)

async def main():
    server = await asyncio.start_server(serve, "127.0.0.1", port)
    print("listening", flush=True)
    await asyncio.gather(server.serve_forever(), watch())

asyncio.run(main())
PY
    PROXY_PID=$!
    wait_line "$work/relay.log" listening 10
    /usr/bin/python3 "$(dirname "$0")/make_idx.py" "$work" 200 >/dev/null
    agent_config "$end" 0 "[mqtt]
host = \"127.0.0.1\"
port = $relay_port
[source]
kind = \"idx\"
path = \"$work/images.idx.gz\"
limit = 200
rate_hz = 20
[results]
jsonl = \"$work/results.jsonl\"
[offload]
timeout_ms = 300
[plugin.scheduler-rule]
rule = \"always-edge\"" >"$work/end.toml"
    "$tierd" --config "$work/end.toml" >"$work/end.log" 2>&1 &
    END_PID=$!
    count() { /usr/bin/python3 -c "import json,sys; print(sum(1 for l in open(sys.argv[1]) if json.loads(l)['tier'] == sys.argv[2]))" "$work/results.jsonl" "$1" 2>/dev/null || echo 0; }
    for _ in $(seq 300); do [ "$(count edge)" -ge 10 ] && break; sleep 0.05; done
    [ "$(count edge)" -ge 10 ] || fail "the end did not offload to the edge"
    # Stall the end's connection until at least five tasks have timed out and run at the end.
    touch "$work/stall"
    for _ in $(seq 200); do [ "$(count end)" -ge 5 ] && break; sleep 0.05; done
    [ "$(count end)" -ge 5 ] || fail "no task fell back while the connection stalled"
    touch "$work/cut"
    wait_line "$work/relay.log" cut 10
    # The end reconnects and offloads again.
    before=$(count edge)
    for _ in $(seq 300); do [ "$(count edge)" -ge $((before + 5)) ] && break; sleep 0.05; done
    [ "$(count edge)" -ge $((before + 5)) ] || fail "the end did not offload again after reconnecting"
    out=$(mosquitto_rr -h 127.0.0.1 -p "$BROKER_PORT" -t "tierd/v1/dev/$end/cmd" \
        -e "test/cmd-replies/$$" -m '{"op":"status"}' -W 10) || fail "end status"
    edge_out=$(command_to "$edge" '{"op":"status"}') || fail "edge status"
    /usr/bin/python3 - "$out" "$edge_out" <<'PY' || fail "end: $out edge: $edge_out"
import json, sys
tasks = json.loads(sys.argv[1])["result"]["tasks"]
off = json.loads(sys.argv[2])["result"]["offload"]
print("end late_replies:", tasks["late_replies"], "edge:", off)
assert tasks["late_replies"] == 0, \
    f"{tasks['late_replies']} requests the end had given up on were computed after it reconnected"
PY
    ;;
*) fail "unknown case $case_name" ;;
esac
echo "PASS: $case_name"
