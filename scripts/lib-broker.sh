# Shell helpers to run a real mosquitto broker on a free loopback port.
# Source this file; it defines start_broker / stop_broker and sets BROKER_PORT.

free_port() {
    /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# start_broker DIR: writes DIR/mosquitto.conf and starts mosquitto listening only on
# 127.0.0.1; waits until it accepts connections. BROKER_EXTRA_CONF, if set, is appended
# to the config (e.g. "set_tcp_nodelay true").
start_broker() {
    local dir=$1
    BROKER_PORT=${BROKER_PORT:-$(free_port)}
    cat >"$dir/mosquitto.conf" <<CONF
listener $BROKER_PORT 127.0.0.1
allow_anonymous true
persistence false
user $(id -un)
# mosquitto's default log types, plus subscriptions (wait_subscribed reads them)
log_type error
log_type warning
log_type notice
log_type information
log_type subscribe
${BROKER_EXTRA_CONF:-}
CONF
    mosquitto -c "$dir/mosquitto.conf" >"$dir/mosquitto.log" 2>&1 &
    BROKER_PID=$!
    for _ in $(seq 50); do
        if mosquitto_pub -h 127.0.0.1 -p "$BROKER_PORT" -t tierd/probe -n 2>/dev/null; then
            return 0
        fi
        sleep 0.1
    done
    echo "mosquitto did not start; its log:" >&2
    cat "$dir/mosquitto.log" >&2
    return 1
}

# wait_subscribed DIR CLIENT_ID TOPIC_FILTER [SECONDS]: until the broker started in DIR
# has logged CLIENT_ID's subscription to TOPIC_FILTER (default 20 s); a client started in
# the background is not subscribed the moment it starts, least of all on a loaded machine.
wait_subscribed() {
    local deadline=$((SECONDS + ${4:-20}))
    while [ "$SECONDS" -lt "$deadline" ]; do
        # a subscription line: "<time>: <client id> <qos> <topic filter>"
        grep -F ": $2 " "$1/mosquitto.log" 2>/dev/null | grep -qF " $3" && return 0
        sleep 0.05
    done
    echo "$2 did not subscribe to $3 within ${4:-20} s; the broker's log:" >&2
    tail -20 "$1/mosquitto.log" >&2
    return 1
}

stop_broker() {
    [ -n "${BROKER_PID:-}" ] && kill "$BROKER_PID" 2>/dev/null && wait "$BROKER_PID" 2>/dev/null
    BROKER_PID=
}
