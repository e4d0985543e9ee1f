#!/usr/bin/env bash
# plugins_test.sh CASE TIERD_BINARY LIB_BROKER SOURCE_DIR BAD_VERSION_SO NO_ENTRY_SO CREATE_FAILS_SO
#                 GOOD_SO
# Real tierd processes loading real plugin .so files, against a real mosquitto on
# loopback: refusals reported while the agent serves on, plugins.* commands, plugin
# tables checked at start, on reload and by --check-config.
set -euo pipefail
case_name=$1 tierd=$2
. "$3"
source_dir=$4 bad_version_so=$5 no_entry_so=$6 create_fails_so=$7 good_so=$8
in_tree_plugins=$(dirname "$tierd")/plugins/lib
work=$(mktemp -d)
trap 'kill -9 ${TIERD_PID:-} 2>/dev/null || true; stop_broker; rm -rf "$work"' EXIT
start_broker "$work"
device="it-plugins-$case_name-$$"
topic="tierd/v1/dev/$device/status"

fail() { echo "FAIL: $*" >&2; echo "--- tierd log:" >&2; cat "$work/tierd.log" >&2 || true; exit 1; }

# write_config EXTRA: a config for this device and broker, with EXTRA appended.
write_config() {
    cat >"$work/tierd.toml" <<CONF
[agent]
device_id = "$device"
[mqtt]
host = "127.0.0.1"
port = $BROKER_PORT
$1
CONF
}

start_tierd() {
    "$tierd" --config "$work/tierd.toml" >"$work/tierd.log" 2>&1 &
    TIERD_PID=$!
}

# wait_status PATTERN: polls the retained status until it matches PATTERN (10 s max).
wait_status() {
    local got=
    for _ in $(seq 40); do
        got=$(mosquitto_sub -h 127.0.0.1 -p "$BROKER_PORT" -V mqttv5 -t "$topic" -C 1 -W 1 \
              2>/dev/null || true)
        if echo "$got" | grep -q "$1"; then
            echo "$got"
            return 0
        fi
        sleep 0.25
    done
    fail "expected the status to match '$1', last seen: '${got}'"
}

rr() { mosquitto_rr -h 127.0.0.1 -p "$BROKER_PORT" -t "tierd/v1/dev/$device/cmd" \
       -e "test/replies/$$" -m "$1" -W 10; }

serves() { # the agent still answers commands
    local out
    out=$(rr '{"op":"ping"}') || fail "no reply to ping $1"
    echo "$out" | grep -q '"pong":true' || fail "ping $1: $out"
}

# put_plugin SO: installs SO as $work/bad/test-bad.so (a new inode, not an overwrite).
put_plugin() {
    mkdir -p "$work/bad"
    rm -f "$work/bad/test-bad.so"
    cp "$1" "$work/bad/test-bad.so"
}

case $case_name in
bad_plugins_refused_agent_serves)
    # The fusion slot names a plugin built for ABI 2.x: refused with the reason, the
    # other plugins load, and the agent serves.
    put_plugin "$bad_version_so"
    write_config "[plugins]
search_path = [\"$work/bad\", \"$in_tree_plugins\"]
fusion = \"test-bad\""
    start_tierd
    status=$(wait_status '"refused":\[{.*"state":"online"')
    echo "$status" | grep -q '"name":"test-bad"' || fail "refusal does not name the plugin: $status"
    echo "$status" | grep -q 'no ABI version this host serves' || fail "refusal lacks the reason: $status"
    echo "$status" | grep -q '"name":"scheduler-rule"' || fail "good plugins not loaded: $status"
    grep -q "plugin refused: $work/bad/test-bad.so: " "$work/tierd.log" || fail "refusal not logged"
    serves "after the ABI refusal"
    # No entry symbol.
    put_plugin "$no_entry_so"
    out=$(rr '{"op":"plugins.load","args":{"name":"test-bad"}}') || fail "no reply to plugins.load"
    echo "$out" | grep -q '"code":"plugin_refused"' || fail "no-entry plugin: $out"
    echo "$out" | grep -q 'tierd_plugin_entry' || fail "reason does not name the symbol: $out"
    serves "after the missing-symbol refusal"
    # A failing create(): the plugin's own reason comes through.
    put_plugin "$create_fails_so"
    out=$(rr '{"op":"plugins.load","args":{"name":"test-bad"}}') || fail "no reply to plugins.load"
    echo "$out" | grep -q '"code":"plugin_refused"' || fail "failing create: $out"
    echo "$out" | grep -q 'create failed: TIERD_EIO.*model file is corrupt' || fail "reason: $out"
    grep -q "model file is corrupt" "$work/tierd.log" || fail "create failure not logged"
    serves "after the create failure"
    out=$(rr '{"op":"plugins.list"}')
    echo "$out" | grep -q '"name":"inference-opencv"' || fail "plugins.list: $out"
    ;;
load_unload_commands)
    put_plugin "$create_fails_so" # a fusion plugin whose create() fails
    write_config "[plugins]
search_path = [\"$in_tree_plugins\", \"$work/bad\"]"
    start_tierd
    wait_status '"loaded":\[.*fusion-passthrough' >/dev/null
    out=$(rr '{"op":"plugins.unload","args":{"name":"fusion-passthrough"}}')
    echo "$out" | grep -q '"ok":true' || fail "unload: $out"
    status=$(wait_status '"state":"online"')
    if echo "$status" | grep -q fusion-passthrough; then fail "still listed: $status"; fi
    out=$(rr '{"op":"get-config"}')
    echo "$out" | grep -q '"fusion":""' || fail "running config still names it: $out"
    out=$(rr '{"op":"plugins.unload","args":{"name":"fusion-passthrough"}}')
    echo "$out" | grep -q '"code":"not_loaded"' || fail "second unload: $out"
    out=$(rr '{"op":"plugins.load","args":{"name":"fusion-passthrough"}}')
    echo "$out" | grep -q '"ok":true' || fail "load: $out"
    echo "$out" | grep -q '"kind":"fusion"' || fail "load reply: $out"
    wait_status '"loaded":\[.*fusion-passthrough' >/dev/null
    out=$(rr '{"op":"plugins.load","args":{"name":"fusion-passthrough"}}')
    echo "$out" | grep -q '"code":"already_loaded"' || fail "double load: $out"
    # A second fusion plugin: refused before it is created (its create() would fail).
    out=$(rr '{"op":"plugins.load","args":{"name":"test-bad"}}')
    echo "$out" | grep -q '"code":"slot_taken"' || fail "second fusion plugin: $out"
    echo "$out" | grep -q 'fusion-passthrough' || fail "slot_taken does not say by whom: $out"
    if grep -q "model file is corrupt" "$work/tierd.log"; then fail "create() was called"; fi
    out=$(rr '{"op":"plugins.load","args":{"name":"no-such-plugin"}}')
    echo "$out" | grep -q '"code":"plugin_refused"' || fail "unknown plugin: $out"
    echo "$out" | grep -q 'search path' || fail "unknown plugin reason: $out"
    out=$(rr '{"op":"plugins.load","args":{}}')
    echo "$out" | grep -q '"code":"invalid_args"' || fail "missing name: $out"
    out=$(rr '{"op":"plugins.load","args":{"name":"../../etc/passwd"}}')
    echo "$out" | grep -q '"code":"plugin_refused"' || fail "path as name: $out"
    serves "after the plugin commands"
    ;;
plugin_table_checked)
    # A bad key in a plugin's table: --check-config and start-up report file:line:column.
    write_config '[plugin.scheduler-rule]
rule = "sometimes"'
    rc=0; out=$("$tierd" --check-config "$work/tierd.toml" 2>&1) || rc=$?
    [ "$rc" -ne 0 ] || fail "--check-config accepted a bad plugin key"
    echo "$out" | grep -q "tierd.toml:7:8: plugin.scheduler-rule.rule: must be one of" ||
        fail "check-config: $out"
    rc=0; "$tierd" --config "$work/tierd.toml" >"$work/tierd.log" 2>&1 || rc=$?
    [ "$rc" -ne 0 ] || fail "started with a bad plugin key"
    grep -q "tierd.toml:7:8: plugin.scheduler-rule.rule" "$work/tierd.log" || fail "start-up error"
    # SIGHUP with a bad plugin table: refused with the location, the running config stays.
    write_config '[plugin.scheduler-rule]
rule = "always-edge"'
    start_tierd
    wait_status '"loaded":\[.*scheduler-rule' >/dev/null
    sed -i 's/rule = "always-edge"/rule = "always-edge"\nspeed = 3/' "$work/tierd.toml"
    kill -HUP "$TIERD_PID"
    for _ in $(seq 40); do grep -q "reload refused" "$work/tierd.log" && break; sleep 0.1; done
    grep -q "tierd.toml:8:1: plugin.scheduler-rule.speed: unknown key" "$work/tierd.log" ||
        fail "bad plugin table on reload not reported with its location"
    out=$(rr '{"op":"plugins.list"}')
    echo "$out" | grep -q '"rule":"always-edge"' || fail "running plugin config changed: $out"
    # A good change reaches the plugin: it is recreated with the new values.
    sed -i 's/^speed = 3$//; s/rule = "always-edge"/rule = "always-cloud"/' "$work/tierd.toml"
    out=$(rr '{"op":"reload"}')
    echo "$out" | grep -q '"ok":true' || fail "good reload: $out"
    out=$(rr '{"op":"plugins.list"}')
    echo "$out" | grep -q '"rule":"always-cloud"' || fail "new plugin config not applied: $out"
    # A reload naming a plugin that cannot load is refused whole; the old one runs on.
    sed -i 's/^\[mqtt\]/[plugins]\nfusion = "no-such-fusion"\n[mqtt]/' "$work/tierd.toml"
    out=$(rr '{"op":"reload"}')
    echo "$out" | grep -q '"code":"plugin_refused"' || fail "reload with a missing plugin: $out"
    out=$(rr '{"op":"plugins.list"}')
    echo "$out" | grep -q '"name":"fusion-passthrough"' || fail "old fusion plugin gone: $out"
    ;;
inference_model_from_config)
    # The inference plugin runs a model the test writes; a corrupt one is refused.
    /usr/bin/python3 -c 'import onnx' 2>/dev/null ||
        fail "python3-onnx is missing (scripts/install-deps.sh installs it)"
    /usr/bin/python3 "$source_dir/tests/plugins/make_test_model.py" "$work/tiny.onnx"
    write_config "[plugin.inference-opencv]
model = \"$work/tiny.onnx\"
input_width = 28
input_height = 28
input_channels = 1"
    [ "$("$tierd" --check-config "$work/tierd.toml")" = ok ] || fail "model config rejected"
    start_tierd
    wait_status '"loaded":\[.*inference-opencv' >/dev/null
    out=$(rr '{"op":"plugins.list"}')
    echo "$out" | grep -q "\"model\":\"$work/tiny.onnx\"" || fail "model not in the config: $out"
    kill "$TIERD_PID"; wait "$TIERD_PID" || true
    head -c 4096 /dev/urandom >"$work/tiny.onnx"
    start_tierd
    status=$(wait_status '"refused":\[{')
    echo "$status" | grep -q '"name":"inference-opencv"' || fail "corrupt model accepted: $status"
    serves "with a corrupt model"
    ;;
plugin_secret_never_shown)
    # A key the plugin flags SECRET: not in get-config, plugins.list, status or the log.
    mkdir -p "$work/good"
    cp "$good_so" "$work/good/test-good.so"
    write_config "[plugins]
search_path = [\"$work/good\", \"$in_tree_plugins\"]
inference = \"test-good\"
[plugin.test-good]
token = \"hunter2-secret\""
    start_tierd
    wait_status '"loaded":\[.*test-good' >/dev/null
    out=$(rr '{"op":"get-config"}')
    echo "$out" | grep -q '"token":"<redacted>"' || fail "token not redacted in get-config: $out"
    out="$out $(rr '{"op":"plugins.list"}') $(rr '{"op":"status"}')"
    if echo "$out" | grep -q hunter2; then fail "secret shown: $out"; fi
    # The secret is also filtered from log lines (the plugin logs nothing of it; a
    # set-config error quoting it would).
    out=$(rr '{"op":"set-config","args":{"changes":{"plugin.test-good.token":"hunter2-secret","plugin.test-good.nope":1}}}')
    echo "$out" | grep -q '"ok":false' || fail "bad change accepted: $out"
    if echo "$out" | grep -q hunter2; then fail "secret in an error reply: $out"; fi
    if grep -q hunter2 "$work/tierd.log"; then fail "secret in the log"; fi
    ;;
default_config_matches_file)
    # config/tierd.toml is what --print-default-config prints, plugin sections included.
    "$tierd" --print-default-config >"$work/printed.toml"
    diff -u "$source_dir/config/tierd.toml" "$work/printed.toml" ||
        fail "config/tierd.toml differs from --print-default-config; regenerate it"
    grep -q '^\[plugin.inference-opencv\]' "$work/printed.toml" || fail "no plugin sections"
    [ "$("$tierd" --check-config "$work/printed.toml")" = ok ] || fail "printed config rejected"
    ;;
*) fail "unknown case $case_name" ;;
esac
echo "PASS: $case_name"
