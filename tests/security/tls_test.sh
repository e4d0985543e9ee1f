#!/usr/bin/env bash
# tls_test.sh CASE TIERD_BINARY LIB_BROKER SOURCE_DIR
# A real tierd against a real mosquitto TLS listener on loopback, with a CA, a server
# certificate and client certificates this script makes with openssl.
set -euo pipefail
case_name=$1 tierd=$2
. "$3"
source_dir=$4
. "$source_dir/tests/security/lib-security.sh"
work=$(mktemp -d)
trap 'kill -9 ${TIERD_PID:-} 2>/dev/null || true; stop_broker; rm -rf "$work"' EXIT
fail() { echo "FAIL: $*" >&2; echo "--- tierd log:" >&2; cat "$work/tierd.log" >&2 || true
         echo "--- mosquitto log:" >&2; cat "$work/mosquitto.log" >&2 || true; exit 1; }

pki=$work/pki
make_pki "$pki"
device=cam-tls
for cn in "$device" console; do make_client_cert "$pki" "$cn"; done
BROKER_PORT=$(free_port)

# broker_conf EXTRA: a TLS-only listener on 127.0.0.1 that verifies clients against the CA.
broker_conf() {
    cat >"$work/mosquitto.conf" <<CONF
listener $BROKER_PORT 127.0.0.1
cafile $pki/ca.crt
certfile $pki/server.crt
keyfile $pki/server.key
allow_anonymous false
persistence false
log_dest stderr
user $(id -un)
$1
CONF
}
# The console's view over TLS (client certificate "console").
console=(-h 127.0.0.1 -p "$BROKER_PORT" --cafile "$pki/ca.crt" --cert "$pki/console.crt"
         --key "$pki/console.key")

# start_tierd MQTT_LINES: the agent with the given [mqtt] lines (host and port added).
start_tierd() {
    cat >"$work/tierd.toml" <<CONF
[agent]
device_id = "$device"
[mqtt]
host = "127.0.0.1"
port = $BROKER_PORT
reconnect_min_ms = 200
reconnect_max_ms = 1000
failure_reminder_s = 3
$1
CONF
    chmod 600 "$work/tierd.toml"
    "$tierd" --config "$work/tierd.toml" >"$work/tierd.log" 2>&1 &
    TIERD_PID=$!
}
status_online() { # [MOSQUITTO_SUB OPTIONS...]: the retained status says online
    mosquitto_sub "$@" -V mqttv5 -t "tierd/v1/dev/$device/status" -C 1 -W 1 2>/dev/null |
        grep -q '"state":"online"'
}
wait_online() { # MOSQUITTO_SUB OPTIONS...
    for _ in $(seq 20); do status_online "$@" && return 0; sleep 0.25; done
    fail "agent did not come online over TLS"
}
# Waits until the log has COUNT lines matching REGEX (10 s at most).
wait_log() { # REGEX COUNT
    for _ in $(seq 100); do
        [ "$(grep -cE "$1" "$work/tierd.log" || true)" -ge "$2" ] && return 0
        sleep 0.1
    done
    fail "log has fewer than $2 lines matching '$1'"
}
# What the log promises about failed connection attempts (docs/mqtt.md, "Connection"):
# the first of an outage at once, whole (FIRST_REGEX, once); then, while attempts keep
# failing, a reminder at most every mqtt.failure_reminder_s (3 s here; 30 by default)
# that counts the attempts since the last line and quotes the latest reason (LATEST_REGEX).
# Waits 15 s at most for the reminder.
wait_failure_promise() { # FIRST_REGEX LATEST_REGEX
    local first=$1 latest=$2 line="" n secs deadline
    wait_log "$first" 1
    local reminder="mqtt: still cannot connect to 127.0.0.1:$BROKER_PORT: ([0-9]+) more attempts? failed in the last ([0-9]+) s \(latest: ($latest)"
    deadline=$((SECONDS + 15))
    while [ "$SECONDS" -lt "$deadline" ]; do
        # Until the reminder the failure is not logged again: the reminder counts it.
        [ "$(grep -cE "$first" "$work/tierd.log")" -eq 1 ] ||
            fail "the first line was repeated before a reminder: $(grep -E "$first" "$work/tierd.log")"
        line=$(grep -E "$reminder" "$work/tierd.log" | head -n 1 || true)
        [ -n "$line" ] && break
        sleep 0.2
    done
    [ -n "$line" ] || fail "no reminder within 15 s matching '$reminder'"
    [[ $line =~ $reminder ]] || fail "reminder not parsed: $line"
    n=${BASH_REMATCH[1]} secs=${BASH_REMATCH[2]}
    [ "$n" -ge 1 ] || fail "the reminder counts no attempts: $line"
    [ "$secs" -ge 3 ] || fail "a reminder sooner than 3 s (failure_reminder_s) after the first line: $line"
}
# The agent kept retrying and is alive, and never came online.
refused_but_alive() {
    kill -0 "$TIERD_PID" 2>/dev/null || fail "tierd exited"
    if status_online "${console[@]}"; then fail "agent online although it should be refused"; fi
    if grep -q "mqtt: connected" "$work/tierd.log"; then fail "agent says it connected"; fi
}

case $case_name in
client_cert_online)
    # Mutual TLS; the broker takes the certificate's CN as the user name.
    broker_conf "require_certificate true
use_identity_as_username true"
    start_broker_conf "$work" "${console[@]}"
    start_tierd "tls_ca_file = \"$pki/ca.crt\"
tls_cert_file = \"$pki/$device.crt\"
tls_key_file = \"$pki/$device.key\""
    wait_online "${console[@]}"
    grep -q "u'$device'" "$work/mosquitto.log" || fail "broker did not see user $device"
    out=$(mosquitto_rr "${console[@]}" -t "tierd/v1/dev/$device/cmd" \
          -e "tierd/v1/console/test/reply" -m '{"op":"ping"}' -W 5) || fail "no ping reply"
    echo "$out" | grep -q '"pong":true' || fail "ping reply: $out"
    # A plain TCP client gets nothing from a TLS listener.
    if mosquitto_pub -h 127.0.0.1 -p "$BROKER_PORT" -t x -m y 2>/dev/null; then
        fail "plain MQTT accepted on the TLS port"
    fi
    ;;
wrong_ca_refused)
    broker_conf "require_certificate true
use_identity_as_username true"
    start_broker_conf "$work" "${console[@]}"
    start_tierd "tls_ca_file = \"$pki/wrong-ca.crt\"
tls_cert_file = \"$pki/$device.crt\"
tls_key_file = \"$pki/$device.key\""
    # It says why (OpenSSL's reason) and what to check at once, keeps retrying, and
    # reminds with the count rather than repeating itself.
    wait_failure_promise "TLS handshake with 127.0.0.1:$BROKER_PORT failed; check mqtt.tls_ca_file" \
        "TLS handshake failed: .*certificate verify failed"
    grep -q "certificate verify failed" "$work/tierd.log" || fail "no OpenSSL reason logged"
    refused_but_alive
    ;;
no_client_cert_refused)
    broker_conf "require_certificate true
use_identity_as_username true"
    start_broker_conf "$work" "${console[@]}"
    start_tierd "tls_ca_file = \"$pki/ca.crt\""
    wait_failure_promise "mqtt: (TLS handshake with|connecting to) 127.0.0.1:$BROKER_PORT failed" \
        "TLS handshake failed|connecting failed"
    grep -qE "alert (handshake failure|certificate required)|check mqtt.tls_cert_file" \
        "$work/tierd.log" || fail "no TLS reason logged"
    grep -q "peer did not return a certificate" "$work/mosquitto.log" ||
        fail "broker did not refuse for the missing certificate"
    refused_but_alive
    ;;
password_over_tls)
    # Server-authenticated TLS plus user name and password (password_file).
    mosquitto_passwd -c -b "$work/passwd" "$device" 'right-Pa55' >/dev/null
    mosquitto_passwd -b "$work/passwd" console console-pw >/dev/null
    broker_conf "password_file $work/passwd"
    console=(-h 127.0.0.1 -p "$BROKER_PORT" --cafile "$pki/ca.crt" -u console -P console-pw)
    start_broker_conf "$work" "${console[@]}"
    start_tierd "tls_ca_file = \"$pki/ca.crt\"
username = \"$device\"
password = \"right-Pa55\""
    wait_online "${console[@]}"
    kill "$TIERD_PID"; wait "$TIERD_PID" 2>/dev/null || true
    # A wrong password: refused by the broker, said at once and then reminded with the
    # count, the password never.
    mosquitto_pub "${console[@]}" -r -n -t "tierd/v1/dev/$device/status"
    start_tierd "tls_ca_file = \"$pki/ca.crt\"
username = \"$device\"
password = \"wr0ng-Pa55-xyzzy\""
    wait_failure_promise "mqtt: broker refused connection: (Bad User Name or Password|Not authorized)" \
        "the broker refused: (Bad User Name or Password|Not authorized)"
    refused_but_alive
    if grep -q "wr0ng-Pa55" "$work/tierd.log"; then fail "the password is in the log"; fi
    ;;
*) fail "unknown case $case_name" ;;
esac
echo "PASS: $case_name"
