#!/usr/bin/env bash
# tierctl_basic_test.sh TIERCTL TIERD LIB_BROKER
# tierctl against three real agents on a real mosquitto (loopback): devices, commands,
# config, plugins, watch, errors and exit codes, and credentials from env and file.
set -euo pipefail
tierctl=$1 tierd=$2
. "$3"
. "$(dirname "$0")/lib-tierctl-test.sh"
work=$(mktemp -d)
AUTH_PID=
cleanup() {
    stop_agents
    [ -n "$AUTH_PID" ] && kill "$AUTH_PID" 2>/dev/null && wait "$AUTH_PID" 2>/dev/null
    stop_broker
    rm -rf "$work"
}
trap cleanup EXIT
fail() {
    echo "FAIL: $*" >&2
    for log in "$work"/*.log; do echo "--- $log" >&2; tail -20 "$log" >&2; done
    exit 1
}
# expect_rc WANT CMD...: runs CMD, keeps stdout in $out and stderr in $err.
expect_rc() {
    local want=$1 rc=0
    shift
    "$@" >"$work/out" 2>"$work/err" || rc=$?
    out=$(cat "$work/out") err=$(cat "$work/err")
    [ "$rc" -eq "$want" ] || fail "exit $rc (want $want) from: $*
stdout: $out
stderr: $err"
}

isolate_tierctl
BROKER_EXTRA_CONF="set_tcp_nodelay true" start_broker "$work"
start_agent cam-a --set 'agent.groups=["line-1"]'
start_agent cam-b --set 'agent.groups=["line-1", "line-2"]'
AGENT_ROLE=edge start_agent edge-c
wait_online 3

# --- devices: the table and the JSON document.
version=$("$tierctl" --version | awk '{print $2}')
[ -n "$version" ] || fail "tierctl --version printed no version"
expect_rc 0 tctl devices
for line in "cam-a +end +online +$version" "cam-b +end +online" "edge-c +edge +online"; do
    echo "$out" | grep -Eq "^$line" || fail "devices table lacks '$line': $out"
done
expect_rc 0 tctl devices --json
echo "$out" | py_check 'sorted((d["device_id"], d["role"], d["state"]) for d in doc["devices"]) == [("cam-a","end","online"), ("cam-b","end","online"), ("edge-c","edge","online")]' "devices --json"
expect_rc 0 tctl devices --probe-groups
echo "$out" | grep -Eq "^cam-b +end +online +$version +line-1,line-2" || fail "groups not probed: $out"

# --- cmd: a round trip, an unknown device, an unknown op.
expect_rc 0 tctl cmd cam-a ping
echo "$out" | grep -q '"pong": true' || fail "ping output: $out"
expect_rc 0 tctl cmd cam-a ping --json
echo "$out" | py_check 'doc["replies"][0]["device_id"] == "cam-a" and doc["replies"][0]["ok"] and doc["exit_code"] == 0 and doc["target"]["topic"] == "tierd/v1/dev/cam-a/cmd"' "ping --json"
expect_rc 1 tctl cmd nosuchdevice ping --timeout 1
echo "$err" | grep -q "no answer from nosuchdevice" || fail "unknown device message: $err"
expect_rc 1 tctl cmd cam-a no.such.op
echo "$err" | grep -q 'unknown_op: unknown op "no.such.op"' || fail "error reply not shown: $err"
expect_rc 1 tctl cmd cam-a no.such.op --json
echo "$out" | py_check 'doc["replies"][0]["reply"]["error"]["code"] == "unknown_op"' "error reply --json"
# A group command reaches its members; the expected set comes from their groups.
expect_rc 0 tctl cmd --group line-1 ping --json
echo "$out" | py_check 'sorted(r["device_id"] for r in doc["replies"]) == ["cam-a", "cam-b"] and doc["expected"] == ["cam-a", "cam-b"] and not doc["missing"]' "group ping"
expect_rc 0 tctl cmd --all status
echo "$out" | grep -q "the fleet: 3 of 3 expected answered ok" || fail "fleet status summary: $out"

# --- config get/set round trip (set-config is validated whole).
expect_rc 0 tctl config set cam-a telemetry.interval_ms=300
echo "$out" | grep -q 'applied \["telemetry.interval_ms"\]' || fail "config set: $out"
expect_rc 0 tctl config get cam-a telemetry.interval_ms
[ "$out" = 300 ] || fail "config get after set: $out"
expect_rc 0 tctl config get cam-b agent.groups
echo "$out" | grep -q '"line-2"' || fail "config get agent.groups: $out"
expect_rc 1 tctl config set cam-a telemetry.interval_ms=often
echo "$err" | grep -q "config_invalid" || fail "bad config set: $err"
expect_rc 0 tctl config get --group line-1 telemetry.interval_ms
echo "$out" | grep -Eq "^cam-a +ok +[0-9.]+ +300$" || fail "group config get: $out"

# --- plugins: load, list, unload (the in-tree fusion-passthrough).
expect_rc 0 tctl plugins list cam-a
echo "$out" | grep -q "no plugins loaded" || fail "plugins list of a bare agent: $out"
expect_rc 0 tctl plugins load cam-a fusion-passthrough
echo "$out" | grep -q "loaded fusion-passthrough" || fail "plugins load: $out"
expect_rc 0 tctl plugins list cam-a
echo "$out" | grep -Eq "^fusion +fusion-passthrough +fusion +[0-9.]+ +[0-9.]+ +loaded" || fail "plugins list: $out"
expect_rc 0 tctl plugins list cam-a --json
echo "$out" | py_check '[p["name"] for p in doc["replies"][0]["reply"]["result"]["loaded"]] == ["fusion-passthrough"]' "plugins list --json"
expect_rc 0 tctl plugins unload cam-a fusion-passthrough
expect_rc 1 tctl plugins unload cam-a fusion-passthrough
echo "$err" | grep -q "not_loaded" || fail "second unload: $err"

# --- watch: telemetry lines, and a clean end on SIGINT.
expect_rc 0 tctl watch cam-a --count 1 --duration 10
echo "$out" | grep -Eq "^[0-9:.]+ cam-a telemetry role=end uptime=" || fail "watch line: $out"
expect_rc 0 tctl watch cam-a --count 2 --duration 10 --json
[ "$(echo "$out" | wc -l)" -eq 2 ] || fail "watch --json --count 2: $out"
echo "$out" | head -1 | py_check 'doc["kind"] == "telemetry" and doc["device_id"] == "cam-a" and "hal" in doc["doc"]' "watch --json"
expect_rc 1 tctl watch nosuchdevice --count 1 --duration 0.5
echo "$err" | grep -q "0 of 1 telemetry documents" || fail "watch ran out of time: $err"
# Started directly, not through a function: that would background a subshell, and a
# non-interactive shell's background jobs ignore SIGINT.
"$tierctl" --port "$BROKER_PORT" watch --duration 20 >"$work/watch.out" 2>&1 &
watch_pid=$!
# SIGINT once it has shown a telemetry line (so its handler is in place): a fixed 1 s
# sleep was too short for an ASan build on a loaded 2-core CI machine.
for _ in $(seq 150); do
    grep -q "cam-a telemetry" "$work/watch.out" && break
    kill -0 "$watch_pid" 2>/dev/null || break
    sleep 0.1
done
kill -INT "$watch_pid"
rc=0; wait "$watch_pid" || rc=$?
[ "$rc" -eq 0 ] || fail "watch exited $rc after SIGINT: $(cat "$work/watch.out")"
grep -q "cam-a telemetry" "$work/watch.out" || fail "watch (all) showed no telemetry: $(cat "$work/watch.out")"

# --- errors and usage.
dead_port=$(free_port)
expect_rc 1 "$tierctl" --port "$dead_port" devices
echo "$err" | grep -q "cannot connect to 127.0.0.1:$dead_port: Connection refused" || fail "unreachable: $err"
expect_rc 2 "$tierctl"
expect_rc 2 "$tierctl" bogus
expect_rc 2 tctl cmd
expect_rc 2 tctl cmd --all
echo "$err" | grep -q "name the command" || fail "missing op: $err"
expect_rc 2 tctl cmd cam-a ping notkeyvalue
expect_rc 2 tctl cmd cam-a ping --timeout -1
expect_rc 2 tctl cmd cam-a ping --args '[1]'
expect_rc 2 tctl cmd --group a --all ping
expect_rc 2 "$tierctl" --port 99999 devices
TIERCTL_PORT=abc expect_rc 2 "$tierctl" devices
echo "$err" | grep -q 'TIERCTL_PORT: "abc" is not a port number' || fail "bad env port: $err"
expect_rc 0 "$tierctl" --help
echo "$out" | grep -q "3  partial" || fail "--help lacks the exit codes: $out"
expect_rc 0 "$tierctl" cmd --help
echo "$out" | grep -q "Exit codes" || fail "cmd --help lacks the exit codes: $out"
expect_rc 0 "$tierctl" config set --help
printf '[broker]\nport = "x"\n' >"$work/bad.toml"
expect_rc 2 "$tierctl" --config "$work/bad.toml" devices
echo "$err" | grep -q "bad.toml:1:" || fail "malformed config file: $err"
printf 'host = "127.0.0.1"\nport = "x"\n' >"$work/bad2.toml"
expect_rc 2 "$tierctl" --config "$work/bad2.toml" devices
echo "$err" | grep -q "bad2.toml:2:8: port: expected an integer" || fail "bad port in file: $err"
expect_rc 2 "$tierctl" --config "$work/nonexistent.toml" devices

# --- credentials: a broker that wants a password, and an agent that has it.
secret="s3cret-$$"
mosquitto_passwd -c -b "$work/passwd" console "$secret" >/dev/null 2>&1
mosquitto_passwd -b "$work/passwd" agent "agent-$secret" >/dev/null 2>&1
auth_port=$(free_port)
cat >"$work/auth.conf" <<CONF
listener $auth_port 127.0.0.1
allow_anonymous false
password_file $work/passwd
persistence false
user $(id -un)
CONF
mosquitto -c "$work/auth.conf" >"$work/auth-broker.log" 2>&1 &
AUTH_PID=$!
for _ in $(seq 50); do
    mosquitto_pub -h 127.0.0.1 -p "$auth_port" -u console -P "$secret" -t probe -n 2>/dev/null && break
    sleep 0.1
done
BROKER_PORT=$auth_port start_agent cam-auth --set mqtt.username=agent \
    --set "mqtt.password=\"agent-$secret\""
expect_rc 1 "$tierctl" --port "$auth_port" devices
echo "$err" | grep -q "127.0.0.1:$auth_port: the broker refused the connection" || fail "anonymous: $err"
expect_rc 1 "$tierctl" --port "$auth_port" -u console --password wrong devices
# From the environment (and the agent got in with its own credentials).
export TIERCTL_PORT=$auth_port TIERCTL_USERNAME=console TIERCTL_PASSWORD=$secret
BROKER_PORT=$auth_port wait_online 1
expect_rc 0 "$tierctl" cmd cam-auth ping
unset TIERCTL_PORT TIERCTL_USERNAME TIERCTL_PASSWORD
# From the default config file ($XDG_CONFIG_HOME/tierctl/tierctl.toml).
mkdir -p "$XDG_CONFIG_HOME/tierctl"
printf 'host = "127.0.0.1"\nport = %s\nusername = "console"\npassword = "%s"\n' \
    "$auth_port" "$secret" >"$XDG_CONFIG_HOME/tierctl/tierctl.toml"
expect_rc 0 "$tierctl" cmd cam-auth ping --timeout 10
expect_rc 0 "$tierctl" devices
echo "$out" | grep -Eq "^cam-auth +end +online" || fail "devices via the config file: $out"
# Precedence: the environment beats the file, a flag beats the environment.
TIERCTL_PASSWORD=wrong expect_rc 1 "$tierctl" devices
printf '%s\n' "$secret" >"$work/password"
TIERCTL_PASSWORD=wrong expect_rc 0 "$tierctl" --password-file "$work/password" devices
TIERCTL_PORT=$dead_port expect_rc 1 "$tierctl" devices
rm "$XDG_CONFIG_HOME/tierctl/tierctl.toml"
printf 'port = %s\nusername = "console"\npassword = "%s"\n' "$auth_port" "$secret" >"$work/explicit.toml"
expect_rc 0 "$tierctl" --config "$work/explicit.toml" cmd cam-auth ping
# The password never shows, not even in an error.
expect_rc 1 "$tierctl" --config "$work/explicit.toml" cmd cam-auth no.such.op
if grep -rq "$secret" "$work/out" "$work/err"; then fail "the password was printed"; fi

# --- TLS: a listener with a test CA (needs the openssl command).
if command -v openssl >/dev/null; then
    openssl req -x509 -newkey rsa:2048 -nodes -keyout "$work/ca.key" -out "$work/ca.crt" \
        -days 1 -subj /CN=tierctl-test-ca >/dev/null 2>&1
    openssl req -newkey rsa:2048 -nodes -keyout "$work/srv.key" -out "$work/srv.csr" \
        -subj /CN=127.0.0.1 >/dev/null 2>&1
    printf 'subjectAltName=IP:127.0.0.1\n' >"$work/san.ext"
    openssl x509 -req -in "$work/srv.csr" -CA "$work/ca.crt" -CAkey "$work/ca.key" \
        -CAcreateserial -out "$work/srv.crt" -days 1 -extfile "$work/san.ext" >/dev/null 2>&1
    stop_broker
    tls_port=$(free_port)
    cat >"$work/tls.conf" <<CONF
listener $tls_port 127.0.0.1
allow_anonymous true
persistence false
user $(id -un)
cafile $work/ca.crt
certfile $work/srv.crt
keyfile $work/srv.key
CONF
    mosquitto -c "$work/tls.conf" >"$work/tls-broker.log" 2>&1 &
    BROKER_PID=$! # stop_broker ends it
    for _ in $(seq 50); do
        mosquitto_pub -h 127.0.0.1 -p "$tls_port" --cafile "$work/ca.crt" -t probe -n \
            2>/dev/null && break
        sleep 0.1
    done
    expect_rc 0 "$tierctl" --port "$tls_port" --cafile "$work/ca.crt" devices
    TIERCTL_CAFILE=$work/ca.crt expect_rc 0 "$tierctl" --port "$tls_port" devices
    expect_rc 1 "$tierctl" --port "$tls_port" devices
    echo "$err" | grep -q "give --cafile" || fail "plain MQTT to a TLS port: $err"
    expect_rc 1 "$tierctl" --port "$tls_port" --cafile "$work/srv.crt" devices
    echo "$err" | grep -q "TLS" || fail "wrong CA: $err"
else
    echo "openssl not installed: TLS not checked"
fi
echo "PASS: tierctl.basic"
