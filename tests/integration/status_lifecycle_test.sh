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
*) fail "unknown case $case_name" ;;
esac
echo "PASS: $case_name"
