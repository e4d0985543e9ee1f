#!/usr/bin/env bash
# The main job on one machine: install what is needed, build, start a real mosquitto
# broker on a free loopback port and one tierd (role end), and show it online by
# reading its retained status back from the broker. Ctrl-C stops both.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
"$top/scripts/install-deps.sh"
cmake -S "$top" -B "$top/build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
ninja -C "$top/build" tierd

. "$top/scripts/lib-broker.sh"
work=$(mktemp -d)
trap 'kill ${TIERD_PID:-} 2>/dev/null; wait ${TIERD_PID:-} 2>/dev/null; stop_broker; rm -rf "$work"' EXIT
start_broker "$work"
echo "broker: mosquitto on 127.0.0.1:$BROKER_PORT"

device=${DEVICE_ID:-demo-end-1}
"$top/build/tierd" --role end --device-id "$device" \
    --set mqtt.host=127.0.0.1 --set mqtt.port="$BROKER_PORT" &
TIERD_PID=$!

echo "retained status of $device:"
mosquitto_sub -h 127.0.0.1 -p "$BROKER_PORT" -V mqttv5 -t "tierd/v1/dev/$device/status" -C 1 -W 10
echo "tierd is running (pid $TIERD_PID); press Ctrl-C to stop."
[ -t 0 ] && wait "$TIERD_PID" || true
