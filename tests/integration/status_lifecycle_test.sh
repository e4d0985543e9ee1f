#!/usr/bin/env bash
# status_lifecycle_test.sh CASE TIERD_BINARY LIB_BROKER
# Each case starts its own broker on a free loopback port and its own tierd, and
# checks what the broker holds as the device's retained status.
set -euo pipefail
case_name=$1 tierd=$2
. "$3"
work=$(mktemp -d)
trap 'kill -9 ${TIERD_PID:-} 2>/dev/null || true; stop_broker; rm -rf "$work"' EXIT
start_broker "$work"
device="it-$case_name-$$"
topic="tierd/v1/dev/$device/status"

fail() { echo "FAIL: $*" >&2; echo "--- tierd log:" >&2; cat "$work/tierd.log" >&2 || true; exit 1; }

start_tierd() {
    "$tierd" --role end --device-id "$device" --set mqtt.host=127.0.0.1 \
        --set mqtt.port="$BROKER_PORT" >"$work/tierd.log" 2>&1 &
    TIERD_PID=$!
}

# wait_state STATE: polls the retained status until its state is STATE (10 s max).
wait_state() {
    local want=$1 got=
    for _ in $(seq 40); do
        got=$(mosquitto_sub -h 127.0.0.1 -p "$BROKER_PORT" -V mqttv5 -t "$topic" -C 1 -W 1 \
              2>/dev/null || true)
        if echo "$got" | grep -q "\"state\":\"$want\""; then
            echo "$got"
            return 0
        fi
        sleep 0.25
    done
    fail "expected retained state $want on $topic, last seen: '${got}'"
}

case $case_name in
status_online_retained)
    start_tierd
    doc=$(wait_state online)
    for field in "\"device_id\":\"$device\"" '"role":"end"' '"version":"'; do
        echo "$doc" | grep -q "$field" || fail "status lacks $field: $doc"
    done
    ;;
will_offline_after_sigkill)
    start_tierd
    wait_state online >/dev/null
    kill -9 "$TIERD_PID"
    wait "$TIERD_PID" 2>/dev/null || true
    # The broker publishes the will once it notices the dead socket (at once on
    # loopback, since the kernel closes it).
    wait_state offline >/dev/null
    ;;
clean_stop_says_offline)
    start_tierd
    wait_state online >/dev/null
    kill -TERM "$TIERD_PID"
    rc=0; wait "$TIERD_PID" || rc=$?
    [ "$rc" -eq 0 ] || fail "tierd exited $rc after SIGTERM, expected 0"
    wait_state offline >/dev/null
    ;;
reconnects_after_broker_restart)
    start_tierd
    wait_state online >/dev/null
    stop_broker
    sleep 1
    start_broker "$work" # same port; no persistence, so the retained status is gone
    wait_state online >/dev/null
    ;;
rejects_bad_set)
    rc=0; out=$("$tierd" --set mqtt.port=notaport 2>&1) || rc=$?
    [ "$rc" -ne 0 ] || fail "bad --set accepted"
    echo "$out" | grep -q -- "--set mqtt.port" || fail "error does not name the key: $out"
    ;;
command_round_trip)
    start_tierd
    wait_state online >/dev/null
    # mosquitto_rr sends an MQTT 5 request with a response topic and waits for the reply.
    rr() { mosquitto_rr -h 127.0.0.1 -p "$BROKER_PORT" -t "tierd/v1/dev/$device/cmd" \
           -e "test/replies/$$" -m "$1" -W 5; }
    out=$(rr '{"op":"ping"}') || fail "no reply to ping"
    echo "$out" | grep -q '"ok":true' || fail "ping: $out"
    echo "$out" | grep -q '"pong":true' || fail "ping: $out"
    out=$(rr '{"op":"status"}') || fail "no reply to status"
    echo "$out" | grep -q '"state":"online"' || fail "status: $out"
    out=$(rr '{"op":' ) || fail "no reply to malformed JSON"
    echo "$out" | grep -q '"code":"malformed_json"' || fail "malformed: $out"
    out=$(rr '{"op":"no-such-op"}') || fail "no reply to unknown op"
    echo "$out" | grep -q '"code":"unknown_op"' || fail "unknown op: $out"
    out=$(rr '{"args":{}}') || fail "no reply to missing op"
    echo "$out" | grep -q '"code":"invalid_request"' || fail "missing op: $out"
    ;;
get_config_redacts_password)
    "$tierd" --role end --device-id "$device" --set mqtt.host=127.0.0.1 \
        --set mqtt.port="$BROKER_PORT" --set mqtt.password=hunter2-secret >"$work/tierd.log" 2>&1 &
    TIERD_PID=$!
    wait_state online >/dev/null
    out=$(mosquitto_rr -h 127.0.0.1 -p "$BROKER_PORT" -t "tierd/v1/dev/$device/cmd" \
          -e "test/replies/$$" -m '{"op":"get-config"}' -W 5) || fail "no reply to get-config"
    echo "$out" | grep -q '"port":'"$BROKER_PORT" || fail "get-config lacks the port: $out"
    echo "$out" | grep -q '<redacted>' || fail "password not shown as redacted: $out"
    if echo "$out" | grep -q hunter2; then fail "password leaked in get-config"; fi
    if grep -q hunter2 "$work/tierd.log"; then fail "password leaked in the log"; fi
    ;;
check_config_reports_location)
    printf '[mqtt]\nport = "x"\n' >"$work/bad.toml"
    rc=0; out=$("$tierd" --check-config "$work/bad.toml" 2>&1) || rc=$?
    [ "$rc" -ne 0 ] || fail "bad config accepted"
    echo "$out" | grep -q "bad.toml:2:8: mqtt.port: expected an integer" || fail "error: $out"
    out=$("$tierd" --print-default-config)
    printf '%s\n' "$out" >"$work/default.toml"
    [ "$("$tierd" --check-config "$work/default.toml")" = ok ] || fail "default config rejected"
    ;;
hal_subcommand_prints_json)
    "$tierd" hal >"$work/hal.json" || fail "tierd hal failed"
    /usr/bin/python3 - "$work/hal.json" <<'PY' || fail "hal JSON: $(cat "$work/hal.json")"
import json, sys
doc = json.load(open(sys.argv[1]))
for key in ("board", "cpu", "memory", "thermal", "power", "gpu", "energy"):
    assert key in doc, key
assert doc["cpu"]["cores"] >= 1
assert doc["memory"]["total_bytes"] > 0
src = doc["energy"]["source"]
assert src.startswith("measured:") or src.startswith("estimated:"), src
PY
    rc=0; "$tierd" hal --set hal.profile=no-such-profile >/dev/null 2>"$work/err" || rc=$?
    [ "$rc" -ne 0 ] || fail "unknown profile accepted"
    grep -q "no-such-profile" "$work/err" || fail "error does not name the profile: $(cat "$work/err")"
    ;;
telemetry_group_and_hal_command)
    "$tierd" --role edge --device-id "$device" --set mqtt.host=127.0.0.1 \
        --set mqtt.port="$BROKER_PORT" --set telemetry.interval_ms=200 \
        --set 'agent.groups=["line-3"]' >"$work/tierd.log" 2>&1 &
    TIERD_PID=$!
    wait_state online >/dev/null
    out=$(mosquitto_sub -h 127.0.0.1 -p "$BROKER_PORT" -t "tierd/v1/dev/$device/telemetry" \
          -C 2 -W 5) || fail "no telemetry"
    echo "$out" | tail -1 | /usr/bin/python3 -c '
import json, sys
doc = json.loads(sys.stdin.read())
assert doc["role"] == "edge", doc
assert doc["hal"]["memory"]["total_bytes"] > 0, doc
assert doc["energy"]["source"].split(":")[0] in ("measured", "estimated"), doc
assert "scheduler-rule" in doc["plugins"], doc
assert set(doc["plugins"]["scheduler-rule"]) == {"counters", "gauges"}, doc
' || fail "telemetry document: $out"
    out=$(mosquitto_rr -h 127.0.0.1 -p "$BROKER_PORT" -t "tierd/v1/group/line-3/cmd" \
          -e "test/replies/$$" -m '{"op":"hal"}' -W 5) || fail "no reply to a group hal command"
    echo "$out" | grep -q '"ok":true' || fail "hal command: $out"
    echo "$out" | grep -q '"energy"' || fail "hal command lacks energy: $out"
    ;;
sighup_reload_keeps_config_on_bad_file)
    cat >"$work/tierd.toml" <<CONF
[agent]
device_id = "$device"
[mqtt]
host = "127.0.0.1"
port = $BROKER_PORT
[telemetry]
interval_ms = 10000
CONF
    "$tierd" --config "$work/tierd.toml" >"$work/tierd.log" 2>&1 &
    TIERD_PID=$!
    wait_state online >/dev/null
    rr() { mosquitto_rr -h 127.0.0.1 -p "$BROKER_PORT" -t "tierd/v1/dev/$device/cmd" \
           -e "test/replies/$$" -m "$1" -W 5; }
    # A bad file: refused with the reason, the running config stays.
    sed -i 's/interval_ms = 10000/interval_ms = "often"/' "$work/tierd.toml"
    kill -HUP "$TIERD_PID"
    for _ in $(seq 40); do grep -q "reload refused" "$work/tierd.log" && break; sleep 0.1; done
    grep -q "reload refused" "$work/tierd.log" || fail "bad reload not reported"
    grep -q "tierd.toml:7:15: telemetry.interval_ms" "$work/tierd.log" || fail "no location in the refusal"
    out=$(rr '{"op":"get-config"}') || fail "agent stopped answering after a bad reload"
    echo "$out" | grep -q '"interval_ms":10000' || fail "running config changed: $out"
    # The reload command gives the same reason in its reply.
    out=$(rr '{"op":"reload"}') || fail "no reply to reload"
    echo "$out" | grep -q '"code":"config_invalid"' || fail "reload reply: $out"
    # A good file: applied.
    sed -i 's/interval_ms = "often"/interval_ms = 250/' "$work/tierd.toml"
    kill -HUP "$TIERD_PID"
    for _ in $(seq 40); do grep -q "config reloaded" "$work/tierd.log" && break; sleep 0.1; done
    out=$(rr '{"op":"get-config"}')
    echo "$out" | grep -q '"interval_ms":250' || fail "reload not applied: $out"
    mosquitto_sub -h 127.0.0.1 -p "$BROKER_PORT" -t "tierd/v1/dev/$device/telemetry" -C 2 -W 3 \
        >/dev/null || fail "no telemetry at the reloaded interval"
    ;;
set_config_all_or_nothing)
    start_tierd
    wait_state online >/dev/null
    rr() { mosquitto_rr -h 127.0.0.1 -p "$BROKER_PORT" -t "tierd/v1/dev/$device/cmd" \
           -e "test/replies/$$" -m "$1" -W 5; }
    out=$(rr '{"op":"set-config","args":{"changes":{"telemetry.interval_ms":300,"mqtt.port":0}}}')
    echo "$out" | grep -q '"code":"config_invalid"' || fail "bad change accepted: $out"
    echo "$out" | grep -q 'mqtt.port' || fail "error does not name the key: $out"
    out=$(rr '{"op":"get-config"}')
    echo "$out" | grep -q '"interval_ms":10000' || fail "half of a refused change applied: $out"
    out=$(rr '{"op":"set-config","args":{"changes":{"telemetry.interval_ms":300}}}')
    echo "$out" | grep -q '"ok":true' || fail "good change refused: $out"
    out=$(rr '{"op":"get-config"}')
    echo "$out" | grep -q '"interval_ms":300' || fail "change not applied: $out"
    out=$(rr '{"op":"set-config","args":{}}')
    echo "$out" | grep -q '"code":"invalid_args"' || fail "missing changes: $out"
    # A change of broker session settings moves the agent to a new session.
    out=$(rr '{"op":"set-config","args":{"changes":{"mqtt.keepalive_s":20}}}')
    echo "$out" | grep -q '"ok":true' || fail "keepalive change: $out"
    # A command sent between the two sessions would be lost: wait for the new one.
    for _ in $(seq 100); do
        [ "$(grep -c "mqtt: connected" "$work/tierd.log")" -ge 2 ] && break
        sleep 0.1
    done
    out=$(rr '{"op":"get-config"}') || fail "no answer after the session change"
    echo "$out" | grep -q '"keepalive_s":20' || fail "keepalive not applied: $out"
    wait_state online >/dev/null
    ;;
reply_topic_for_mqtt311_console)
    start_tierd
    wait_state online >/dev/null
    mosquitto_sub -h 127.0.0.1 -p "$BROKER_PORT" -V mqttv311 -i "reply-sub-$$" \
        -t "tierd/v1/dev/$device/reply" -C 1 -W 20 >"$work/reply" &
    sub=$!
    wait_subscribed "$work" "reply-sub-$$" "tierd/v1/dev/$device/reply" || fail "the subscriber did not subscribe"
    mosquitto_pub -h 127.0.0.1 -p "$BROKER_PORT" -V mqttv311 -t "tierd/v1/fleet/cmd" \
        -m '{"op":"ping"}'
    wait "$sub" || fail "no reply on the device reply topic"
    grep -q '"pong":true' "$work/reply" || fail "reply: $(cat "$work/reply")"
    ;;
*) fail "unknown case $case_name" ;;
esac
echo "PASS: $case_name"
