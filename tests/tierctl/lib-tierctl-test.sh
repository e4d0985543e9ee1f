# Helpers for the tierctl tests (source after lib-broker.sh). The caller sets tierctl,
# tierd and work, and defines fail().

# No settings from the person running the tests: no TIERCTL_* and no personal config file.
isolate_tierctl() {
    unset TIERCTL_HOST TIERCTL_PORT TIERCTL_USERNAME TIERCTL_PASSWORD TIERCTL_CAFILE \
        TIERCTL_CERT TIERCTL_KEY
    export XDG_CONFIG_HOME="$work/xdg" HOME="$work/home"
    mkdir -p "$XDG_CONFIG_HOME" "$HOME"
}

AGENT_PIDS=()

# start_agent ID [--set ...]: a light agent (no plugins, one worker) on the test broker;
# AGENT_ROLE picks its role (default end).
start_agent() {
    local id=$1
    shift
    "$tierd" --role "${AGENT_ROLE:-end}" --device-id "$id" --set mqtt.host=127.0.0.1 \
        --set mqtt.port="$BROKER_PORT" --set workers.threads=1 \
        --set 'plugins.scheduler=""' --set 'plugins.preclassifier=""' \
        --set 'plugins.inference=""' --set 'plugins.fusion=""' "$@" \
        >"$work/agent-$id.log" 2>&1 &
    AGENT_PIDS+=($!)
    eval "AGENT_PID_${id//[-.]/_}=$!"
}

stop_agents() {
    local pid
    for pid in "${AGENT_PIDS[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
    for pid in "${AGENT_PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    AGENT_PIDS=()
}

# tctl ARGS...: tierctl against the test broker.
tctl() { "$tierctl" --host 127.0.0.1 --port "$BROKER_PORT" "$@"; }

# wait_online N [DEADLINE_S]: until `tierctl devices --json` shows N devices online.
wait_online() {
    local want=$1 deadline=$((SECONDS + ${2:-20})) got=
    while [ $SECONDS -lt $deadline ]; do
        got=$(tctl devices --json 2>/dev/null | py_json 'sum(d["state"] == "online" for d in doc["devices"])' || true)
        [ "$got" = "$want" ] && return 0
        sleep 0.2
    done
    fail "expected $want devices online, saw ${got:-none}"
}

# py_json EXPR: evaluates EXPR with doc = the JSON on stdin, prints the result.
py_json() {
    /usr/bin/python3 -c 'import json, sys
doc = json.load(sys.stdin)
r = eval(sys.argv[1])
print(json.dumps(r) if isinstance(r, (list, dict)) else r)' "$1"
}

# py_check EXPR MESSAGE: fails the test unless EXPR is true of the JSON on stdin.
py_check() {
    local input
    input=$(cat)
    printf '%s' "$input" | /usr/bin/python3 -c 'import json, sys
doc = json.load(sys.stdin)
sys.exit(0 if eval(sys.argv[1]) else 1)' "$1" || fail "$2: $input"
}
