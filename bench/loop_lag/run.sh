#!/usr/bin/env bash
# bench/loop_lag/run.sh [BUILD_DIR]: how late the agent's event loop runs what is due (its
# loop lag, agent/loop/loop_lag.hpp) under the loads that used to block it, and how fast the
# control plane answers while the data plane is busy. Real agents (BUILD_DIR/tierd, default
# build/; a Release build is what the figures are for) on a real mosquitto on loopback
# (scripts/lib-broker.sh, set_tcp_nodelay true); every figure is read from the agents
# themselves (status and telemetry) or timed by a console client.
#
# Scenarios (each a fresh broker session and fresh agents; WINDOW_S seconds measured each):
#   stream-full    an end streams Fashion-MNIST train at its maximum rate (rate_hz = 0,
#                  cnn-xs, always-end, no pre-classifier), results through a file spool with
#                  sync = "full"; a console pings it every 20 ms all the while
#   stream-normal  the same with sync = "normal" (the ping reference of the issue)
#   idle           an agent without a source, pinged the same way
#   broker-down    the end streams; the broker is stopped for the window and the spool
#                  (max_bytes 1 MiB) fills and drops its oldest; the broker comes back and
#                  the backlog is delivered (the spool's dropped.oldest must be > 0)
#   dns-silent     the end streams while mqtt.host is a name whose resolver never answers
#                  (a network namespace made and removed here, with its own loopback,
#                  broker and a silent DNS server on 127.0.0.1:53; needs root and `ip`,
#                  otherwise skipped with a note)
#   edge-batches   an edge (batch_max 16, one inference job on 2 cores) serves 640x360 BGR
#                  frames (691,200 bytes each) from a driver keeping 48 requests in flight
#
# The floor: in every window bench/loop_lag/bare_loop runs beside the agent, a libuv loop
# with nothing but the same loop-lag timer, at the same priority. Its figures are how late
# any loop thread runs under that load on this machine (a VM's vCPU wakes late when idle
# and waits for a core when busy); the agent's own work adds the difference.
#
# The measurement window: after the agent's warm-up, the script waits for one telemetry
# document (which starts a new loop-lag period) and at once sets telemetry.interval_ms to
# an hour, so no other document starts a new one; at the end of the window the `status`
# reply's loop_lag.period is the window's figure (exact percentiles, no merging).
#
# SHORT=1: WINDOW_S defaults to 4 instead of 30 and the reports go to a temporary folder
# (printed), not bench/results. OUT_DIR overrides where the reports go. Run it alone on
# the machine (the figures are timings): e.g. flock a lock shared with other benchmarks.
# Writes OUT_DIR/loop_lag.md and loop_lag.json (bench/loop_lag/report.py).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
data=/usr/share/datasets/fashion-mnist
manifest=$top/models/manifest.toml
. "$top/scripts/lib-broker.sh"
BROKER_EXTRA_CONF="set_tcp_nodelay true"

fail() {
    echo "loop_lag: $*" >&2
    exit 1
}
log() { echo "loop_lag: $*" >&2; }

# ---- Talking to an agent ---------------------------------------------------------------

rr() { # DEVICE JSON [WAIT_S]: one command, its reply on stdout
    mosquitto_rr -h 127.0.0.1 -p "$BROKER_PORT" -t "tierd/v1/dev/$1/cmd" \
        -e "bench/loop_lag/rr/$1/$$" -m "$2" -W "${3:-10}"
}

status_to() { # DEVICE FILE: the status reply's result, or fail
    rr "$1" '{"op":"status"}' | jq -e '.result' >"$2" || fail "no status from $1"
}

wait_until() { # DEVICE JQ_CONDITION TIMEOUT_S WHAT: polls status until the condition holds
    local deadline=$((SECONDS + $3))
    while [ "$SECONDS" -lt "$deadline" ]; do
        if rr "$1" '{"op":"status"}' 2 2>/dev/null | jq -e ".result | $2" >/dev/null 2>&1; then
            return 0
        fi
        sleep 0.2
    done
    fail "$4 (waited $3 s)"
}

# Starts the window: waits for a telemetry document (a new loop-lag period begins with
# it) and then stretches the telemetry interval so that no other one begins until the
# status read at the window's end.
mark_window() { # DEVICE
    mosquitto_sub -h 127.0.0.1 -p "$BROKER_PORT" -t "tierd/v1/dev/$1/telemetry" -C 1 -W 15 \
        >/dev/null || fail "no telemetry from $1"
    rr "$1" '{"op":"set-config","args":{"changes":{"telemetry.interval_ms":3600000}}}' |
        jq -e '.ok' >/dev/null || fail "set-config telemetry.interval_ms refused by $1"
}

start_agent() { # CONFIG LOG: sets AGENT_PID
    "$build/tierd" --config "$1" 2>"$2" &
    AGENT_PID=$!
}

stop_agent() {
    if [ -n "${AGENT_PID:-}" ]; then
        kill "$AGENT_PID" 2>/dev/null || true
        wait "$AGENT_PID" 2>/dev/null || true
    fi
    AGENT_PID=
}

# The row of one scenario: the window's loop lag plus what shows the scenario happened.
write_row() { # NAME DESCRIPTION STATUS_AFTER EVIDENCE_JSON
    jq -n --arg scenario "$1" --arg description "$2" --slurpfile st "$3" --argjson evidence "$4" \
        --slurpfile floor "$work/floor/$1.json" \
        '{scenario: $scenario, description: $description} + $st[0].loop_lag.period +
         {floor: $floor[0], evidence: $evidence}' >"$work/rows/$1.json"
    log "$1: $(jq -c '{p50_ms, p99_ms, max_ms, samples}' "$work/rows/$1.json")"
}

# The floor: bench/loop_lag/bare_loop beside the scenario for the window, at the agent's
# priority; write_row puts its figures in the row as "floor".
start_floor() { # NAME
    "$work/bare_loop" "$window" >"$work/floor/$1.json" &
    FLOOR_PID=$!
}
end_floor() {
    wait "$FLOOR_PID" || fail "bare_loop failed"
    FLOOR_PID=
}

# ---- Configs ---------------------------------------------------------------------------

# An end agent streaming Fashion-MNIST train through cnn-xs as fast as it can.
end_config() { # DIR DEVICE SYNC HOST [EXTRA_TOML]
    cat <<CONF
[agent]
device_id = "$2"
state_dir = "$1/state"
[mqtt]
host = "$4"
port = $BROKER_PORT
reconnect_min_ms = 100
reconnect_max_ms = 500
[telemetry]
interval_ms = ${TELEMETRY_MS:-1000}
[source]
kind = "idx"
path = "$data/train-images-idx3-ubyte.gz"
labels = "$data/train-labels-idx1-ubyte.gz"
rate_hz = 0
[spool]
sync = "$3"
${5:-}
[plugins]
preclassifier = ""
[plugin.source-idx]
repeat = 0 # the 60,000 images take ~1 s at full rate: play them until the agent stops
[plugin.scheduler-rule]
rule = "always-end"
[plugin.inference-opencv]
manifest = "$manifest"
models = "cnn-xs"
CONF
}

# Warm-up of a streaming end: running, and past its first few hundred tasks.
wait_streaming() { # DEVICE
    wait_until "$1" '.tasks.state == "running" and .tasks.done >= 300' 60 "$1 did not start streaming"
}

# Stream evidence between two status reads: tasks done per second, and that the source
# was still running at the end (else the window did not measure a streaming agent).
stream_evidence() { # BEFORE AFTER SECONDS
    jq -n --slurpfile a "$1" --slurpfile b "$2" --argjson s "$3" '
        {tasks_per_s: ((($b[0].tasks.done - $a[0].tasks.done) / $s) | floor),
         source_state_at_end: $b[0].tasks.state,
         spool: {sync: null, stored: $b[0].spool.stored, delivered: $b[0].spool.delivered,
                 dropped_oldest: $b[0].spool.dropped.oldest, entries: $b[0].spool.entries}}'
}

# ---- Scenarios ---------------------------------------------------------------------------

scenario_stream() { # NAME SYNC: the end streams; a console pings it every 20 ms
    local name=$1 sync=$2 dir=$work/$1 dev=looplag-$1
    mkdir -p "$dir/state"
    end_config "$dir" "$dev" "$sync" 127.0.0.1 >"$dir/end.toml"
    start_agent "$dir/end.toml" "$dir/end.log"
    wait_streaming "$dev"
    status_to "$dev" "$dir/before.json"
    mark_window "$dev"
    local t0=$SECONDS
    start_floor "$name"
    "$work/ping_console" 127.0.0.1 "$BROKER_PORT" "$dev" "$window" 20 >"$dir/ping.json" ||
        fail "$name: the ping console failed"
    status_to "$dev" "$dir/after.json"
    end_floor
    local elapsed=$((SECONDS - t0))
    stop_agent
    [ "$(jq -r '.tasks.state' "$dir/after.json")" = running ] ||
        fail "$name: the source finished inside the window; shorten WINDOW_S"
    local evidence
    evidence=$(stream_evidence "$dir/before.json" "$dir/after.json" "$elapsed" |
        jq --arg sync "$sync" '.spool.sync = $sync')
    write_row "$name" "end streams at full rate, spool sync = \"$sync\", pinged every 20 ms" \
        "$dir/after.json" "$evidence"
    jq --arg scenario "$name" --arg while "end streaming at full rate, sync = \"$sync\"" \
        '{scenario: $scenario, while: $while} + .' "$dir/ping.json" >"$work/ping/$name.json"
    log "$name ping: $(jq -c '{answered, lost, p50_ms, p99_ms, max_ms}' "$dir/ping.json")"
}

scenario_idle() { # an agent with nothing to do, pinged every 20 ms
    local dir=$work/idle dev=looplag-idle
    mkdir -p "$dir/state"
    cat >"$dir/idle.toml" <<CONF
[agent]
device_id = "$dev"
state_dir = "$dir/state"
[mqtt]
host = "127.0.0.1"
port = $BROKER_PORT
[telemetry]
interval_ms = 1000
CONF
    start_agent "$dir/idle.toml" "$dir/idle.log"
    wait_until "$dev" 'true' 30 "$dev did not answer"
    mark_window "$dev"
    start_floor idle
    "$work/ping_console" 127.0.0.1 "$BROKER_PORT" "$dev" "$window" 20 >"$dir/ping.json" ||
        fail "idle: the ping console failed"
    status_to "$dev" "$dir/after.json"
    end_floor
    stop_agent
    write_row idle "agent without a source, pinged every 20 ms" "$dir/after.json" '{}'
    jq '{scenario: "idle", while: "agent idle"} + .' "$dir/ping.json" >"$work/ping/idle.json"
    log "idle ping: $(jq -c '{answered, lost, p50_ms, p99_ms, max_ms}' "$dir/ping.json")"
}

scenario_broker_down() { # the broker goes away for the window; the spool drops its oldest
    local dir=$work/broker-down dev=looplag-broker-down
    mkdir -p "$dir/state"
    end_config "$dir" "$dev" full 127.0.0.1 \
        $'max_bytes = 1048576\nsegment_bytes = 262144\nwhen_full = "drop-oldest"' >"$dir/end.toml"
    start_agent "$dir/end.toml" "$dir/end.log"
    wait_streaming "$dev"
    status_to "$dev" "$dir/before.json"
    mark_window "$dev"
    local t0=$SECONDS
    start_floor broker-down
    stop_broker
    sleep "$window" # the agent streams on into its spool; nothing can be asked meanwhile
    end_floor
    start_broker "$work/broker" # the same port
    wait_until "$dev" 'true' 30 "$dev did not reconnect"
    status_to "$dev" "$dir/after.json"
    local elapsed=$((SECONDS - t0))
    stop_agent
    [ "$(jq -r '.spool.dropped.oldest' "$dir/after.json")" -gt 0 ] ||
        fail "broker-down: the spool never dropped its oldest entries; lower max_bytes"
    [ "$(jq -r '.tasks.state' "$dir/after.json")" = running ] ||
        fail "broker-down: the source finished inside the window; shorten WINDOW_S"
    local evidence
    evidence=$(stream_evidence "$dir/before.json" "$dir/after.json" "$elapsed" |
        jq --argjson down "$window" '.spool.sync = "full" | .broker_down_s = $down |
            .spool.max_bytes = 1048576')
    write_row broker-down \
        "end streams (sync = \"full\"); broker stopped ${window} s, spool (1 MiB) drops its oldest; broker back, backlog delivered" \
        "$dir/after.json" "$evidence"
}

# Runs inside the namespace (run.sh --dns-inner DIR): its own loopback, broker and silent
# DNS server; the agent first connects to 127.0.0.1, then mqtt.host becomes a name the
# resolver never answers for the window, then SIGHUP restores the file's 127.0.0.1.
dns_inner() { # DIR
    local dir=$1 dev=looplag-dns-silent
    mkdir -p "$dir/state" "$dir/broker"
    trap 'stop_agent; kill ${DNS_PID:-} 2>/dev/null || true; stop_broker || true' EXIT
    BROKER_PORT=
    start_broker "$dir/broker"
    /usr/bin/python3 "$here/silent_dns.py" "$dir/dns_queries" &
    DNS_PID=$!
    TELEMETRY_MS=1000 end_config "$dir" "$dev" full 127.0.0.1 >"$dir/end.toml"
    start_agent "$dir/end.toml" "$dir/end.log"
    wait_streaming "$dev"
    status_to "$dev" "$dir/before.json"
    mark_window "$dev"
    local t0=$SECONDS
    start_floor dns-silent
    rr "$dev" '{"op":"set-config","args":{"changes":{"mqtt.host":"broker.loop-lag.test"}}}' |
        jq -e '.ok' >/dev/null || fail "dns-silent: set-config mqtt.host refused"
    sleep "$window" # streams locally; each connect attempt waits on the silent resolver
    end_floor
    local queries
    queries=$(cat "$dir/dns_queries")
    # The file again, with the window's telemetry interval, so that the reload changes
    # only mqtt.host back (a new interval would restart the telemetry timer).
    TELEMETRY_MS=3600000 end_config "$dir" "$dev" full 127.0.0.1 >"$dir/end.toml"
    kill -HUP "$AGENT_PID"
    wait_until "$dev" 'true' 60 "$dev did not come back after SIGHUP"
    status_to "$dev" "$dir/after.json"
    local elapsed=$((SECONDS - t0))
    stop_agent
    [ "$queries" -gt 0 ] || fail "dns-silent: the agent never asked the resolver"
    [ "$(jq -r '.tasks.state' "$dir/after.json")" = running ] ||
        fail "dns-silent: the source finished inside the window; shorten WINDOW_S"
    local reconnect
    reconnect=$(grep -m1 -o 'connected to 127.0.0.1:[0-9]* after .*' "$dir/end.log" || true)
    stream_evidence "$dir/before.json" "$dir/after.json" "$elapsed" |
        jq --argjson q "$queries" --arg line "$reconnect" --argjson w "$window" \
            '.spool.sync = "full" | .dns_queries_unanswered = $q | .silent_s = $w |
             .reconnect_log = $line' >"$dir/evidence.json"
}

scenario_dns() {
    local dir=$work/dns-silent
    mkdir -p "$dir"
    local why=""
    if [ "$(id -u)" -ne 0 ]; then
        why="needs root to make a network namespace"
    elif ! command -v ip >/dev/null; then
        why="no ip (iproute2)"
    fi
    if [ -z "$why" ]; then
        ns=tierd-looplag-$$
        [ -d /etc/netns ] || made_netns_dir=1
        if ! ip netns add "$ns" 2>"$dir/netns.err"; then
            why="ip netns add failed: $(cat "$dir/netns.err")"
            ns=
        fi
    fi
    if [ -n "$why" ]; then
        log "dns-silent: SKIPPED: $why"
        jq -n --arg why "$why" '{scenario: "dns-silent", skipped: $why}' >"$work/rows/dns-silent.json"
        return 0
    fi
    mkdir -p "/etc/netns/$ns"
    # ip netns exec mounts this over /etc/resolv.conf; glibc's defaults: 5 s per try, 2 tries.
    printf 'nameserver 127.0.0.1\n' >"/etc/netns/$ns/resolv.conf"
    ip netns exec "$ns" ip link set lo up
    ip netns exec "$ns" env build="$build" window="$window" work="$work" \
        "$here/run.sh" --dns-inner "$dir"
    write_row dns-silent \
        "end streams (sync = \"full\"); mqtt.host's resolver never answers for ${window} s (network namespace)" \
        "$dir/after.json" "$(cat "$dir/evidence.json")"
    remove_namespace
}

remove_namespace() {
    if [ -n "${ns:-}" ]; then
        ip netns del "$ns" 2>/dev/null || true
        rm -rf "/etc/netns/$ns"
        if [ "${made_netns_dir:-0}" = 1 ]; then rmdir /etc/netns 2>/dev/null || true; fi
        ns=
    fi
}

scenario_edge() { # an edge serving 16-frame batches of 640x360 BGR
    local dir=$work/edge-batches dev=looplag-edge
    mkdir -p "$dir/state"
    /usr/bin/python3 "$here/make_frame_model.py" "$dir/frame.onnx"
    cat >"$dir/edge.toml" <<CONF
[agent]
device_id = "$dev"
role = "edge"
state_dir = "$dir/state"
[mqtt]
host = "127.0.0.1"
port = $BROKER_PORT
[telemetry]
interval_ms = 1000
[offload]
batch_max = 16
max_in_flight = 64
[pipeline]
# The edge computes 3x slower than this machine, so that requests wait and are served in
# batches of 16, as the scenario is meant to be (unslowed it keeps up, calls of ~1 frame).
emulate_slowdown = 3
[plugins]
scheduler = ""
preclassifier = ""
fusion = ""
[plugin.inference-opencv]
model = "$dir/frame.onnx"
input_width = 640
input_height = 360
input_channels = 3
CONF
    start_agent "$dir/edge.toml" "$dir/edge.log"
    wait_until "$dev" '.offload.subscribed == true' 60 "$dev did not subscribe to requests"
    "$work/offload_driver" 127.0.0.1 "$BROKER_PORT" 100000 48 640 360 >"$dir/driver.json" &
    DRIVER_PID=$!
    wait_until "$dev" '.offload.served >= 64' 60 "$dev served no requests"
    status_to "$dev" "$dir/before.json"
    mark_window "$dev"
    local t0=$SECONDS
    start_floor edge-batches
    sleep "$window"
    end_floor
    status_to "$dev" "$dir/after.json"
    local elapsed=$((SECONDS - t0))
    kill "$DRIVER_PID"
    wait "$DRIVER_PID" || fail "edge-batches: the driver failed"
    DRIVER_PID=
    stop_agent
    local evidence
    evidence=$(jq -n --slurpfile a "$dir/before.json" --slurpfile b "$dir/after.json" \
        --slurpfile d "$dir/driver.json" --argjson s "$elapsed" '
        ($b[0].offload) as $o | ($a[0].offload) as $p |
        {frames_per_s: ((($o.served - $p.served) / $s) | floor),
         batches: ($o.batches - $p.batches),
         mean_batch: ((($o.served + $o.failed - $p.served - $p.failed) / ($o.batches - $p.batches)) * 10 | round / 10),
         largest_batch: $o.largest_batch, busy: ($o.busy - $p.busy),
         failed: ($o.failed - $p.failed), request_bytes: (640 * 360 * 3),
         driver: $d[0]}')
    write_row edge-batches \
        "edge (batch_max 16) serves 640x360 BGR frames, 48 requests in flight" \
        "$dir/after.json" "$evidence"
}

# ---- Main --------------------------------------------------------------------------------

if [ "${1:-}" = --dns-inner ]; then # inside the namespace, from scenario_dns
    dns_inner "$2"
    exit 0
fi

build=$(cd "${1:-$top/build}" && pwd)
[ -x "$build/tierd" ] || fail "no tierd in $build (ninja -C $build tierd)"
if [ "${SHORT:-0}" = 1 ]; then window=${WINDOW_S:-4}; else window=${WINDOW_S:-30}; fi
work=$(mktemp -d)
if [ -n "${OUT_DIR:-}" ]; then
    out=$OUT_DIR
elif [ "${SHORT:-0}" = 1 ]; then
    out=$(mktemp -d)
else
    out=$top/bench/results
fi
mkdir -p "$out" "$work/rows" "$work/ping" "$work/broker" "$work/floor"
cleanup() {
    stop_agent
    [ -n "${DRIVER_PID:-}" ] && kill "$DRIVER_PID" 2>/dev/null
    [ -n "${FLOOR_PID:-}" ] && kill "$FLOOR_PID" 2>/dev/null
    stop_broker || true
    remove_namespace
    rm -rf "$work"
}
trap cleanup EXIT
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
for tool in ping_console offload_driver; do
    c++ -O2 -std=c++20 "$here/$tool.cpp" -o "$work/$tool" \
        $(pkg-config --cflags --libs libmosquitto) -lpthread
done
c++ -O2 -std=c++20 -I"$top" "$here/bare_loop.cpp" "$top/agent/loop/loop_lag.cpp" \
    -o "$work/bare_loop" $(pkg-config --cflags --libs libuv)
start_broker "$work/broker"
log "tierd from $build; window ${window} s; broker on 127.0.0.1:$BROKER_PORT"
scenario_stream stream-full full
scenario_stream stream-normal normal
scenario_idle
scenario_broker_down
scenario_dns
scenario_edge
stop_broker
load_after=$(cut -d' ' -f1-3 /proc/loadavg)
head=$(git -C "$top" rev-parse --short=12 HEAD)
dirty=$(git -C "$top" status --porcelain -- agent common plugins | grep -q . && echo "+changes" || true)
/usr/bin/python3 "$here/report.py" "$work" "$out" --commit "$head$dirty" --window "$window" \
    --load-before "$load_before" --load-after "$load_after" --build "$build" \
    --command "bench/loop_lag/run.sh${1:+ $1}${SHORT:+ (SHORT=$SHORT)}"
log "wrote $out/loop_lag.md and $out/loop_lag.json"
