# Helpers shared by the integration scripts that run several agents on one broker
# (source after lib-broker.sh and after defining fail()).

# Waits until DEVICE's retained status says online (about 10 s at most).
wait_agent_online() { # DEVICE
    for _ in $(seq 40); do
        mosquitto_sub -h 127.0.0.1 -p "$BROKER_PORT" -t "tierd/v1/dev/$1/status" -C 1 -W 1 \
            2>/dev/null | grep -q '"state":"online"' && return 0
        sleep 0.25
    done
    fail "agent $1 did not come online"
}

# Prints an edge agent's config: DEVICE on the test broker serving zoo MODELS from
# MANIFEST, with EXTRA appended before the plugin table.
zoo_edge_config() { # DEVICE MANIFEST MODELS [EXTRA]
    cat <<CONF
[agent]
device_id = "$1"
role = "edge"
[mqtt]
host = "127.0.0.1"
port = $BROKER_PORT
${4:-}
[plugin.inference-opencv]
manifest = "$2"
models = "$3"
CONF
}
