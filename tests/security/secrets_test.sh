#!/usr/bin/env bash
# secrets_test.sh TIERD_BINARY LIB_BROKER SOURCE_DIR GOOD_PLUGIN
# A distinctive MQTT password and plugin secret in a config file that every user can
# read, an agent at log_level debug, and every way the agent shows its config or state:
# status, get-config, set-config, reload (command and SIGHUP), plugins.list, a failed
# connection with a wrong password. The secrets appear nowhere: not in the log, not in
# any message on the broker (retained or not), not in any reply. The file's mode is
# warned about at start, on reload and by --check-config.
set -euo pipefail
tierd=$1
. "$2"
source_dir=$3 good_so=$4
. "$source_dir/tests/security/lib-security.sh"
work=$(mktemp -d)
pids=()
trap 'kill -9 ${TIERD_PID:-} ${pids[@]+"${pids[@]}"} 2>/dev/null || true; stop_broker; rm -rf "$work"' EXIT
fail() { echo "FAIL: $*" >&2; echo "--- tierd log:" >&2; cat "$work/tierd.log" >&2 || true; exit 1; }

device=cam-secret
password="Pw-$RANDOM-zq9Xv7"     # the broker's password for the device
token="Tok-$RANDOM-Kp3Lw2"       # a plugin key declared secret (test-good's token)
wrong="Wr0ng-$RANDOM-Hh5Jm4"     # a wrong password set at run time
mosquitto_passwd -c -b "$work/passwd" "$device" "$password"
mosquitto_passwd -b "$work/passwd" console console-pw
BROKER_PORT=$(free_port)
cat >"$work/mosquitto.conf" <<CONF
listener $BROKER_PORT 127.0.0.1
allow_anonymous false
password_file $work/passwd
persistence false
log_dest stderr
user $(id -un)
CONF
start_broker_conf "$work" -u console -P console-pw
console=(-h 127.0.0.1 -p "$BROKER_PORT" -u console -P console-pw -V mqttv5)

# Everything published on the broker for the whole run, retained messages included.
mosquitto_sub "${console[@]}" -v -t '#' >"$work/all-messages" 2>&1 &
pids+=($!)

mkdir -p "$work/plugins"
cp "$good_so" "$work/plugins/test-good.so"
cat >"$work/tierd.toml" <<CONF
[agent]
device_id = "$device"
log_level = "debug"
[mqtt]
host = "127.0.0.1"
port = $BROKER_PORT
username = "$device"
password = "$password"
reconnect_min_ms = 200
reconnect_max_ms = 1000
[telemetry]
interval_ms = 500
[plugins]
search_path = ["$work/plugins", "$(dirname "$tierd")/plugins/lib"]
inference = "test-good"
[plugin.test-good]
token = "$token"
CONF
chmod 644 "$work/tierd.toml"

# --check-config: ok on stdout, the mode warning on stderr (it names the file, the mode,
# the keys and what to do; never the values).
out=$("$tierd" --check-config "$work/tierd.toml" 2>"$work/check.err") || fail "check-config: $(cat "$work/check.err")"
[ "$out" = ok ] || fail "check-config said: $out"
grep -q "warning: config file $work/tierd.toml holds secrets (mqtt.password, plugin.test-good.token) and is readable by every user (mode 0644): chmod 640" \
    "$work/check.err" || fail "no mode warning from check-config: $(cat "$work/check.err")"
chmod 640 "$work/tierd.toml"
"$tierd" --check-config "$work/tierd.toml" 2>"$work/check2.err" >/dev/null
[ ! -s "$work/check2.err" ] || fail "warning for mode 640: $(cat "$work/check2.err")"
chmod 644 "$work/tierd.toml"

"$tierd" --config "$work/tierd.toml" >"$work/tierd.log" 2>&1 &
TIERD_PID=$!
replies=$work/replies
rr() { # REQUEST: prints the reply and keeps it in $replies
    local out
    out=$(mosquitto_rr "${console[@]}" -t "tierd/v1/dev/$device/cmd" \
          -e tierd/v1/console/secrets/reply -m "$1" -W 5) || fail "no reply to $1"
    printf '%s\n' "$out" >>"$replies"
    printf '%s\n' "$out"
}
wait_log() { # REGEX COUNT
    for _ in $(seq 100); do
        [ "$(grep -cE "$1" "$work/tierd.log" || true)" -ge "$2" ] && return 0
        sleep 0.1
    done
    fail "log has fewer than $2 lines matching '$1'"
}
wait_log "mqtt: connected" 1
wait_log "plugin test-good .* loaded" 1
grep -q "config file $work/tierd.toml holds secrets .* (mode 0644)" "$work/tierd.log" ||
    fail "no mode warning at start"

rr '{"op":"status"}' | grep -q '"ok":true' || fail "status"
rr '{"op":"get-config"}' | grep -q '"password":"<redacted>"' || fail "get-config"
grep -q '"token":"<redacted>"' "$replies" || fail "token not redacted in get-config"
rr '{"op":"plugins.list"}' | grep -q '"ok":true' || fail "plugins.list"
# set-config: a good change, and a refused one that names the secret keys.
rr '{"op":"set-config","args":{"changes":{"telemetry.interval_ms":400}}}' |
    grep -q '"ok":true' || fail "set-config"
rr "{\"op\":\"set-config\",\"args\":{\"changes\":{\"mqtt.password\":\"$password\",\"plugin.test-good.token\":\"$token\",\"plugin.test-good.nope\":1}}}" |
    grep -q '"ok":false' || fail "a bad set-config was accepted"
rr '{"op":"reload"}' | grep -q '"ok":true' || fail "reload"
wait_log "holds secrets" 2
# Two telemetry documents at least, so the search below covers them (interval 400 ms;
# waited for, not slept: under ASan on shared cores a fixed sleep saw only one).
for _ in $(seq 100); do
    [ "$(grep -c "tierd/v1/dev/$device/telemetry" "$work/all-messages" || true)" -ge 2 ] && break
    sleep 0.1
done

# A wrong password at run time: the agent moves to a new session the broker refuses.
rr "{\"op\":\"set-config\",\"args\":{\"changes\":{\"mqtt.password\":\"$wrong\"}}}" |
    grep -q '"ok":true' || fail "set-config mqtt.password"
wait_log "mqtt: broker refused connection" 1
kill -0 "$TIERD_PID" || fail "tierd exited"
# SIGHUP reads the file again: the right password, connected again, warned again.
kill -HUP "$TIERD_PID"
wait_log "mqtt: connected" 2
wait_log "holds secrets" 3
rr '{"op":"status"}' | grep -q '"state":"online"' || fail "not back online"
kill -TERM "$TIERD_PID"
wait "$TIERD_PID" || fail "tierd exited $? on SIGTERM"
TIERD_PID=
# The retained messages as a fresh subscriber gets them.
mosquitto_sub "${console[@]}" -v -t '#' --retained-only -W 1 >"$work/retained" 2>/dev/null || true
sleep 0.3
kill "${pids[@]}" 2>/dev/null || true

[ "$(grep -c "tierd/v1/dev/$device/telemetry" "$work/all-messages")" -ge 2 ] ||
    fail "captured too little: $(head -c 500 "$work/all-messages")"
grep -q "tierd/v1/dev/$device/status" "$work/retained" || fail "no retained status seen"
# The console's own requests carry the secrets (set-config); the rest must not.
grep -v "^tierd/v1/dev/$device/cmd " "$work/all-messages" >"$work/agent-messages" || true
for f in tierd.log agent-messages retained replies check.err; do
    for s in "$password" "$token" "$wrong"; do
        n=$(grep -c -- "$s" "$work/$f" || true)
        [ "$n" -eq 0 ] || fail "a secret appears $n times in $f: $(grep -- "$s" "$work/$f" | head -3)"
    done
done
echo "PASS: secrets_never_shown ($(wc -l <"$work/tierd.log") log lines," \
     "$(wc -l <"$work/agent-messages") messages, $(wc -l <"$replies") replies searched)"
