#!/usr/bin/env bash
# acl_test.sh CASE TIERD_BINARY LIB_BROKER SOURCE_DIR
# Real agents on a mosquitto that uses packaging/mosquitto/tierd-acl.conf as shipped:
# one user per device (user name = device id), the example edge user "edge-1" and the
# console user "console".
set -euo pipefail
case_name=$1 tierd=$2
. "$3"
source_dir=$4
. "$source_dir/tests/security/lib-security.sh"
work=$(mktemp -d)
pids=()
trap 'kill -9 ${pids[@]+"${pids[@]}"} 2>/dev/null || true; stop_broker; rm -rf "$work"' EXIT
fail() {
    echo "FAIL: $*" >&2
    for f in "$work"/*.log; do echo "--- $f:" >&2; cat "$f" >&2; done
    exit 1
}

for user in cam-a cam-b edge-1 console; do
    mosquitto_passwd $([ -f "$work/passwd" ] || echo -c) -b "$work/passwd" "$user" "pw-$user"
done
BROKER_PORT=$(free_port)
cat >"$work/mosquitto.conf" <<CONF
listener $BROKER_PORT 127.0.0.1
allow_anonymous false
password_file $work/passwd
acl_file $source_dir/packaging/mosquitto/tierd-acl.conf
persistence false
set_tcp_nodelay true
log_dest stderr
user $(id -un)
CONF
start_broker_conf "$work" -u console -P pw-console
as() { local u=$1; shift; echo -h 127.0.0.1 -p "$BROKER_PORT" -u "$u" -P "pw-$u" -V mqttv5; }

# start_agent DEVICE ROLE [EXTRA]: an agent logging in as DEVICE with its password.
start_agent() {
    cat >"$work/$1.toml" <<CONF
[agent]
device_id = "$1"
role = "$2"
log_level = "debug"
[mqtt]
host = "127.0.0.1"
port = $BROKER_PORT
username = "$1"
password = "pw-$1"
${3:-}
CONF
    chmod 600 "$work/$1.toml"
    "$tierd" --config "$work/$1.toml" >"$work/$1.log" 2>&1 &
    pids+=($!)
}
wait_online() { # DEVICE
    for _ in $(seq 40); do
        mosquitto_sub $(as console) -t "tierd/v1/dev/$1/status" -C 1 -W 1 2>/dev/null |
            grep -q '"state":"online"' && return 0
        sleep 0.25
    done
    fail "agent $1 did not come online"
}
# sub_bg USER FILE TOPIC...: USER's subscriber, printing "topic payload" lines to FILE.
sub_bg() {
    local u=$1 f=$2
    shift 2
    local topics=()
    for t in "$@"; do topics+=(-t "$t"); done
    mosquitto_sub $(as "$u") -v "${topics[@]}" >"$f" 2>&1 &
    pids+=($!)
}

case $case_name in
device_confined)
    start_agent cam-a end
    start_agent cam-b end
    wait_online cam-a
    wait_online cam-b
    # The console's command round trip to cam-a works through the ACL, with a response
    # topic (MQTT 5) and through cam-a's own reply topic (MQTT 3.1.1 style).
    out=$(mosquitto_rr $(as console) -t tierd/v1/dev/cam-a/cmd -e tierd/v1/console/t1/reply \
          -m '{"op":"ping"}' -W 5) || fail "console got no reply from cam-a"
    echo "$out" | grep -q '"device_id":"cam-a".*"pong":true' || fail "reply: $out"
    # cam-b listens on everything of cam-a's it might try to read; the console on cam-a's
    # replies, so it sees what the ACL lets through.
    # (Statuses and profiles are readable by every device, so they are not in the list.)
    sub_bg cam-b "$work/b-sees" tierd/v1/dev/cam-a/cmd tierd/v1/dev/cam-a/reply \
        tierd/v1/dev/cam-a/telemetry tierd/v1/dev/cam-a/results tierd/v1/dev/cam-a/input \
        tierd/v1/dev/cam-a/offload/reply tierd/v1/console/+/reply tierd/v1/offload/edge/req
    sub_bg console "$work/console-sees" tierd/v1/dev/cam-a/reply tierd/v1/console/t2/reply \
        tierd/v1/console/t3/reply
    sleep 0.5
    # cam-b publishes a command to cam-a: the broker refuses it (MQTT 5 PUBACK: not
    # authorized), so cam-a never answers.
    # (mosquitto_pub prints the refusal but exits 0.)
    mosquitto_pub $(as cam-b) -q 1 -t tierd/v1/dev/cam-a/cmd -m '{"op":"ping"}' \
        -D publish response-topic tierd/v1/console/t2/reply 2>"$work/b-pub.err" || true
    mosquitto_pub $(as cam-b) -q 1 -t tierd/v1/dev/cam-a/cmd -m '{"op":"status"}' \
        2>>"$work/b-pub.err" || true
    grep -q "Not authorized" "$work/b-pub.err" || fail "cam-b's publish was not refused"
    # The same requests from the console are answered: one on t3, one on cam-a's reply topic.
    mosquitto_pub $(as console) -q 1 -t tierd/v1/dev/cam-a/cmd -m '{"op":"ping"}' \
        -D publish response-topic tierd/v1/console/t3/reply
    mosquitto_pub $(as console) -q 1 -t tierd/v1/dev/cam-a/cmd -m '{"op":"status"}'
    for _ in $(seq 50); do
        [ "$(grep -c '"device_id":"cam-a"' "$work/console-sees" || true)" -ge 2 ] && break
        sleep 0.1
    done
    sleep 0.5
    grep -q '^tierd/v1/console/t3/reply .*"pong":true' "$work/console-sees" ||
        fail "console's ping not answered: $(cat "$work/console-sees")"
    grep -q '^tierd/v1/dev/cam-a/reply .*"uptime_s"' "$work/console-sees" ||
        fail "console's status not answered: $(cat "$work/console-sees")"
    if grep -q t2/reply "$work/console-sees"; then fail "cam-a answered cam-b's command"; fi
    [ "$(grep -c '"op":\|"pong"\|uptime_s' "$work/console-sees")" -eq 2 ] ||
        fail "cam-a answered more than the console's two: $(cat "$work/console-sees")"
    # cam-b read none of cam-a's replies, commands or anything else of cam-a's.
    [ ! -s "$work/b-sees" ] || fail "cam-b read cam-a's messages: $(cat "$work/b-sees")"
    # cam-b cannot impersonate cam-a's status either (the retained one stays cam-a's).
    mosquitto_pub $(as cam-b) -q 1 -r -t tierd/v1/dev/cam-a/status -m '{"state":"offline"}' \
        2>"$work/b-pub2.err" || true
    grep -q "Not authorized" "$work/b-pub2.err" || fail "cam-b's status publish was not refused"
    mosquitto_sub $(as console) -t tierd/v1/dev/cam-a/status -C 1 -W 1 |
        grep -q '"state":"online"' || fail "cam-a's status changed"
    # While cam-a itself still reads its own commands (its agent answered above) and
    # sees the fleet's statuses: cam-b's online status reaches cam-a's user.
    mosquitto_sub $(as cam-a) -t tierd/v1/dev/cam-b/status -C 1 -W 2 |
        grep -q '"state":"online"' || fail "cam-a cannot read cam-b's status"
    ;;
offload_through_acl)
    /usr/bin/python3 -c 'import onnx' 2>/dev/null ||
        fail "python3-onnx is missing (scripts/install-deps.sh installs it)"
    /usr/bin/python3 "$source_dir/tests/plugins/make_test_model.py" "$work/tiny.onnx"
    /usr/bin/python3 "$source_dir/tests/integration/make_idx.py" "$work" 30
    model="[plugin.inference-opencv]
model = \"$work/tiny.onnx\"
input_width = 28
input_height = 28
input_channels = 1"
    start_agent edge-1 edge "$model"
    wait_online edge-1
    # cam-b watches the offload requests, cam-a's offload replies and results: it gets
    # none of them (it may read cam-a's status, as every device does).
    sub_bg cam-b "$work/b-sees" tierd/v1/offload/edge/req tierd/v1/dev/cam-a/offload/reply \
        tierd/v1/dev/cam-a/results
    start_agent cam-a end "[source]
kind = \"idx\"
path = \"$work/images.idx.gz\"
labels = \"$work/labels.idx\"
limit = 30
rate_hz = 50
[results]
jsonl = \"$work/results.jsonl\"
publish = true
[offload]
timeout_ms = 2000
[plugin.scheduler-rule]
rule = \"always-edge\"
$model"
    for _ in $(seq 200); do
        [ -f "$work/results.jsonl" ] && [ "$(wc -l <"$work/results.jsonl")" -ge 30 ] && break
        sleep 0.05
    done
    /usr/bin/python3 - "$work" <<'PY' || fail "results: $(head -3 "$work/results.jsonl" 2>/dev/null)"
import json, sys
lines = [json.loads(l) for l in open(f"{sys.argv[1]}/results.jsonl")]
assert len(lines) == 30, len(lines)
for r in lines:
    assert r["ok"] is True, r
    assert r["tier"] == "edge" and r["offloaded_to"] == "edge-1", r
    assert "fallback" not in r, r
PY
    sleep 0.3
    [ ! -s "$work/b-sees" ] || fail "cam-b read offload traffic: $(head -c 300 "$work/b-sees")"
    ;;
*) fail "unknown case $case_name" ;;
esac
echo "PASS: $case_name"
