# Shared by bench/faults/run.sh and tests/integration/faults_test.sh: two network
# namespaces joined by a veth pair — NS_END (the end agent) and NS_HUB (a real mosquitto
# with persistence, the edge agent, the results consumer, tierctl) — and helpers to run
# real tierd processes in them and to cut the link between them.
#
# Before sourcing, set: NS_END NS_HUB VETH_END VETH_HUB (≤ 15 chars) WORK TIERD TIERCTL
# TOP; optional PORT (default 1883). Everything started is stopped by faults_teardown
# (by pid, and whatever is left inside our namespaces), which the caller runs in its trap.
ADDR_END=10.79.0.1
ADDR_HUB=10.79.0.2
PORT=${PORT:-1883}
DATA=/usr/share/datasets/fashion-mnist
PY=/usr/bin/python3
END_PID= EDGE_PID= BROKER_PID= SUB_PID= MOUNTED=
# PLUGIN_DIR (optional): where the plugins are, when TIERD is a copy outside the build tree
plugin_path() { [ -n "${PLUGIN_DIR:-}" ] && echo "search_path = [\"$PLUGIN_DIR\"]" || true; }

hub() { ip netns exec "$NS_HUB" "$@"; }

faults_ns_up() {
    ip netns add "$NS_END"
    ip netns add "$NS_HUB"
    ip -n "$NS_END" link set lo up
    ip -n "$NS_HUB" link set lo up
    ip link add "$VETH_END" netns "$NS_END" type veth peer name "$VETH_HUB" netns "$NS_HUB"
    ip -n "$NS_END" addr add "$ADDR_END/24" dev "$VETH_END"
    ip -n "$NS_HUB" addr add "$ADDR_HUB/24" dev "$VETH_HUB"
    ip -n "$NS_END" link set "$VETH_END" up
    ip -n "$NS_HUB" link set "$VETH_HUB" up
}

# The end–hub link: down drops every packet both ways (both ends lose carrier).
link_cut() { ip -n "$NS_END" link set "$VETH_END" down; }
link_restore() { ip -n "$NS_END" link set "$VETH_END" up; }

kill_pid() { # PID: SIGTERM, then SIGKILL after 5 s
    local pid=$1
    [ -n "$pid" ] || return 0
    kill "$pid" 2>/dev/null || return 0
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

faults_teardown() {
    local ns pid
    for pid in $END_PID $EDGE_PID $SUB_PID $BROKER_PID; do
        kill -9 "$pid" 2>/dev/null && { wait "$pid"; } 2>/dev/null || true
    done
    for ns in $NS_END $NS_HUB; do
        if ip netns list | grep -qw "$ns"; then
            # anything still running in our own namespaces is ours
            for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$pid" 2>/dev/null || true; done
            ip netns del "$ns" 2>/dev/null || true
        fi
    done
    if [ -n "$MOUNTED" ]; then umount "$MOUNTED" 2>/dev/null || umount -l "$MOUNTED" 2>/dev/null || true; fi
    MOUNTED=
}

# broker_start: mosquitto in NS_HUB on all its addresses, with persistence (the consumer's
# QoS 1 session and its queued messages survive a restart, as in a real fleet).
broker_start() {
    cat >"$WORK/mosquitto.conf" <<CONF
listener $PORT
allow_anonymous true
persistence true
persistence_location $WORK/
autosave_interval 1
max_queued_messages 0
user $(id -un)
CONF
    ip netns exec "$NS_HUB" mosquitto -c "$WORK/mosquitto.conf" >>"$WORK/mosquitto.log" 2>&1 &
    BROKER_PID=$!
    for _ in $(seq 50); do
        hub mosquitto_pub -h 127.0.0.1 -p "$PORT" -t tf/probe -n 2>/dev/null && return 0
        sleep 0.1
    done
    echo "mosquitto did not start:" >&2
    tail "$WORK/mosquitto.log" >&2
    return 1
}
broker_kill() { kill -9 "$BROKER_PID" 2>/dev/null; wait "$BROKER_PID" 2>/dev/null || true; BROKER_PID=; }

# consumer_start DEVICE FILE: a persistent QoS 1 session on DEVICE's results.
consumer_start() {
    ip netns exec "$NS_HUB" mosquitto_sub -h 127.0.0.1 -p "$PORT" -V mqttv5 -i "tf-consumer-$1" -c -q 1 \
        -t "tierd/v1/dev/$1/results" >>"$2" 2>>"$WORK/sub.err" &
    SUB_PID=$!
    sleep 0.5
}

# end_config DEVICE N RATE_HZ RULE STATE_DIR JSONL [EXTRA]: an end agent in NS_END on the
# hub's broker, streaming N Fashion-MNIST test images at RATE_HZ through cnn-xs.
end_config() {
    cat <<CONF
[agent]
device_id = "$1"
role = "end"
state_dir = "$5"
[mqtt]
host = "$ADDR_HUB"
port = $PORT
keepalive_s = 5
reconnect_min_ms = 100
reconnect_max_ms = 1000
[workers]
queue_limit = 8
[results]
jsonl = "$6"
[source]
kind = "idx"
path = "$DATA/t10k-images-idx3-ubyte.gz"
labels = "$DATA/t10k-labels-idx1-ubyte.gz"
limit = $2
rate_hz = $3
[offload]
timeout_ms = 1000
[plugins]
$(plugin_path)
preclassifier = ""
[plugin.scheduler-rule]
rule = "$4"
light_model = "cnn-xs"
heavy_model = "cnn-xs"
[plugin.inference-opencv]
manifest = "$TOP/models/manifest.toml"
models = "cnn-xs"
threads = 1
${7:-}
CONF
}
# The same agent with no source: after a restart it only delivers what its spool holds.
no_source() { # CONFIG -> stdout
    sed -e 's/^kind = "idx"/kind = "none"/' -e '/^path = .*idx3/d' -e '/^labels = /d' \
        -e '/^limit = /d' -e '/^rate_hz = /d' "$1"
}
start_end() { # CONFIG LOG
    ip netns exec "$NS_END" "$TIERD" --config "$1" >>"$2" 2>&1 &
    END_PID=$!
}
start_edge() { # DEVICE LOG: an edge agent in NS_HUB serving cnn-xs; waits until online
    cat >"$WORK/edge.toml" <<CONF
[agent]
device_id = "$1"
role = "edge"
[mqtt]
host = "127.0.0.1"
port = $PORT
keepalive_s = 5
[plugins]
$(plugin_path)
preclassifier = ""
fusion = ""
[plugin.inference-opencv]
manifest = "$TOP/models/manifest.toml"
models = "cnn-xs"
threads = 1
CONF
    ip netns exec "$NS_HUB" "$TIERD" --config "$WORK/edge.toml" >>"$2" 2>&1 &
    EDGE_PID=$!
    for _ in $(seq 40); do
        hub mosquitto_sub -h 127.0.0.1 -p "$PORT" -t "tierd/v1/dev/$1/status" -C 1 -W 1 \
            2>/dev/null | grep -q '"state":"online"' && return 0
        sleep 0.25
    done
    echo "the edge agent $1 did not come online" >&2
    return 1
}

# status DEVICE EXPR: a field of the agent's status (python expression on s), or nothing.
status() {
    hub env TIERCTL_HOST=127.0.0.1 TIERCTL_PORT="$PORT" "$TIERCTL" cmd "$1" status --json \
        --timeout "${STATUS_TIMEOUT:-3}" 2>/dev/null | $PY -c "
import json, sys
s = json.load(sys.stdin)['replies'][0]['reply']['result']
print($2)" 2>/dev/null || true
}
lines() { [ -f "$1" ] && wc -l <"$1" || echo 0; }
# wait_until SECONDS COMMAND...: polls every 0.25 s; 1 on timeout.
wait_until() {
    local secs=$1
    shift
    for _ in $(seq $((secs * 4))); do "$@" && return 0; sleep 0.25; done
    return 1
}
at_least() { [ "$(lines "$1")" -ge "$2" ]; }
finished() { [ "$(status "$1" "s['tasks']['state']")" = finished ]; }
spool_empty() { [ "$(status "$1" "s['spool']['entries']")" = 0 ]; }
