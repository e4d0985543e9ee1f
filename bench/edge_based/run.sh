#!/usr/bin/env bash
# The Edge-based benchmark (Ren et al. 2020): the Fashion-MNIST test split through real
# tierd processes — an end agent (emulated Raspberry Pi 3B+) and an edge agent on a real
# mosquitto broker — over an emulated link in two network namespaces, for two link settings.
# Writes bench/results/edge_based.md and bench/results/edge_based.json.
#
# Usage (root: it creates network namespaces):  bench/edge_based/run.sh
# Environment:
#   IMAGES     test images per run (default 10000 = the whole split; IMAGES=300 is a quick check)
#   LINKS      link settings to run, space separated (default "wifi 4g")
#   SLOWDOWN   end-device slowdown factor (default 28.9 = 519.63 ms / 18 ms, MobileNet_V1 on
#              the Pi 3B+ vs the Jetson TX2 in the paper)
#   KEEP=1     keep the work directory (configs, logs, JSONL) and print where it is
#   NICE=N     scheduling priority of the benchmark's processes (default -10: the machine
#              may be shared, and the emulated slowdown multiplies any preemption inside an
#              end-side compute stage by SLOWDOWN; NICE=0 to run at normal priority)
#   WORK=DIR   use (and keep) DIR as the work directory; rows whose results are already
#              complete there are not run again (e.g. to add a row after a model lands)
#
# The link: this machine's kernel has no sch_netem, so the wire between the namespaces is
# bench/edge_based/linkemu.py (two TUN devices, a user-space delay line with netem's
# uniform jitter and order kept) and the rate is shaped by the kernel with tc tbf on each
# direction's egress. Settings (one-way delay = RTT / 2):
#   wifi  20 Mbit/s up and down, 5 ms ± 1 ms each way (RTT ~10 ms)
#   4g     5 Mbit/s up, 20 Mbit/s down, 25 ms ± 5 ms each way (RTT ~50 ms)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
py=/usr/bin/python3
images=${IMAGES:-10000}
links=${LINKS:-wifi 4g}
slowdown=${SLOWDOWN:-28.9}
data=/usr/share/datasets/fashion-mnist
manifest=$top/models/manifest.toml
prio=${NICE:--10}
ns_end=tdb-end ns_edge=tdb-edge
dev_end=tdb-e0 dev_edge=tdb-e1
addr_end=10.77.0.1 addr_edge=10.77.0.2
state=/run/tdb-edge-based        # pid files, so a crashed run's leftovers can be removed
port=1883

[ "$(id -u)" = 0 ] || { echo "run.sh needs root (network namespaces, tc)" >&2; exit 2; }
for tool in ip tc mosquitto mosquitto_sub mosquitto_rr "$py"; do
    command -v "$tool" >/dev/null || { echo "missing: $tool (scripts/install-deps.sh)" >&2; exit 2; }
done

link_params() { # NAME -> up_mbit down_mbit delay_ms jitter_ms
    case $1 in
    wifi) echo 20 20 5 1 ;;
    4g) echo 5 20 25 5 ;;
    *) echo "unknown link setting $1 (wifi, 4g)" >&2; return 1 ;;
    esac
}
for l in $links; do link_params "$l" >/dev/null; done

# ---- build (only what is missing; the build tree is shared with the developers)
if [ ! -x "$top/build/tierd" ] || [ ! -f "$top/build/plugins/lib/preclassifier-rf.so" ]; then
    cmake -S "$top" -B "$top/build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
    ninja -C "$top/build" tierd inference-opencv preclassifier-rf scheduler-rule
fi

read -r light heavy < <($py - "$top/models/preclass/rf.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
print(d["light_model"], d["heavy_model"])
PY
)

# ---- namespaces, link, broker, agents
kill_pidfile() { # FILE: stop the process it names (ours), then forget it
    local f=$1 pid
    [ -f "$f" ] || return 0
    pid=$(cat "$f")
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
        kill "$pid" 2>/dev/null || true
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$pid" 2>/dev/null || true
    fi
    rm -f "$f"
}
teardown() {
    local f
    for f in "$state"/end.pid "$state"/edge.pid "$state"/broker.pid "$state"/linkemu.pid "$state"/load.pid; do
        kill_pidfile "$f"
    done
    for ns in $ns_end $ns_edge; do
        if ip netns list | grep -qw "$ns"; then
            # anything still running in our namespaces is ours: stop it by pid
            for pid in $(ip netns pids "$ns" 2>/dev/null); do kill "$pid" 2>/dev/null || true; done
            ip netns del "$ns" 2>/dev/null || true
        fi
    done
}
mkdir -p "$state"
teardown # leftovers of a crashed run

if [ -n "${WORK:-}" ]; then
    work=$WORK KEEP=1
    mkdir -p "$work"
else
    work=$(mktemp -d /tmp/tdb-edge-based.XXXXXX)
fi
cleanup() {
    teardown
    if [ "${KEEP:-0}" = 1 ]; then echo "work directory kept: $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
# A private copy of the agent and its plugins: the build tree may be rebuilt meanwhile.
mkdir -p "$work/bin/plugins"
cp "$top/build/tierd" "$work/bin/tierd"
cp "$top"/build/plugins/lib/*.so "$work/bin/plugins/"
tierd=$work/bin/tierd
# the machine's load while the runs go (the report shows it per run)
(while :; do echo "$(date +%s) $(cut -d' ' -f1-3 /proc/loadavg)"; sleep 10; done) >>"$work/load.txt" &
echo $! >"$state/load.pid"

link_up() { # NAME
    local up down delay jitter
    read -r up down delay jitter < <(link_params "$1")
    ip netns add $ns_end
    ip netns add $ns_edge
    ip netns exec $ns_end ip link set lo up
    ip netns exec $ns_edge ip link set lo up
    nice -n "$prio" $py "$here/linkemu.py" $ns_end $dev_end $addr_end $ns_edge $dev_edge $addr_edge \
        --delay-ms "$delay" --jitter-ms "$jitter" >"$work/linkemu-$1.out" 2>"$work/linkemu-$1.log" &
    echo $! >"$state/linkemu.pid"
    for _ in $(seq 50); do grep -q ready "$work/linkemu-$1.out" 2>/dev/null && break; sleep 0.1; done
    grep -q ready "$work/linkemu-$1.out" || { cat "$work/linkemu-$1.log" >&2; return 1; }
    # Rate: tbf on each direction's egress (end -> edge = uplink).
    ip netns exec $ns_end tc qdisc add dev $dev_end root tbf rate "${up}mbit" burst 16kb latency 300ms
    ip netns exec $ns_edge tc qdisc add dev $dev_edge root tbf rate "${down}mbit" burst 16kb latency 300ms
    cat >"$work/mosquitto.conf" <<CONF
listener $port $addr_edge
listener $port 127.0.0.1
allow_anonymous true
persistence false
set_tcp_nodelay true
CONF
    ip netns exec $ns_edge nice -n "$prio" mosquitto -c "$work/mosquitto.conf" >"$work/mosquitto-$1.log" 2>&1 &
    echo $! >"$state/broker.pid"
    for _ in $(seq 50); do
        ip netns exec $ns_edge mosquitto_pub -h 127.0.0.1 -p $port -t tdb/probe -n 2>/dev/null && break
        sleep 0.1
    done
    # the link as the end sees it: round trips of 20 TCP handshakes from the end's namespace
    ip netns exec $ns_end $py "$here/probe_link.py" "$addr_edge" $port >"$work/link-$1.json"
}
link_down() {
    kill_pidfile "$state/edge.pid"
    kill_pidfile "$state/broker.pid"
    kill_pidfile "$state/linkemu.pid"
    ip netns del $ns_end 2>/dev/null || true
    ip netns del $ns_edge 2>/dev/null || true
}

edge_up() { # LINK
    cat >"$work/edge.toml" <<CONF
[agent]
device_id = "tdb-edge-1"
role = "edge"
[mqtt]
host = "127.0.0.1"
port = $port
[plugins]
search_path = ["$work/bin/plugins"]
preclassifier = ""
fusion = ""
[plugin.inference-opencv]
manifest = "$manifest"
models = "$heavy"
threads = 1
CONF
    ip netns exec $ns_edge nice -n "$prio" "$tierd" --config "$work/edge.toml" 2>"$work/edge-$1.log" &
    echo $! >"$state/edge.pid"
    for _ in $(seq 60); do
        ip netns exec $ns_edge mosquitto_sub -h 127.0.0.1 -p $port -t tierd/v1/dev/tdb-edge-1/status \
            -C 1 -W 1 2>/dev/null | grep -q '"state":"online"' && return 0
    done
    echo "the edge agent did not come online; its log:" >&2
    cat "$work/edge-$1.log" >&2
    return 1
}

# run_end ROW LINK: one end agent over the whole stream; its JSONL and its preclassifier
# counters land in $work/ROW-LINK.{jsonl,plugins.json}
run_end() {
    local row=$1 link=$2 id="tdb-end-$1"
    local out="$work/$row-$link" routing
    if [ -f "$out.jsonl" ] && [ "$(wc -l <"$out.jsonl")" -eq "$images" ] && [ -s "$out.plugins.json" ]; then
        echo "  $row $link: complete in $work, kept"
        return 0
    fi
    rm -f "$out.jsonl"
    case $row in
    light-end) routing="[plugins]
preclassifier = \"\"
[plugin.inference-opencv]
models = \"$light\"
[plugin.scheduler-rule]
rule = \"always-end\"" ;;
    heavy-end) routing="[plugins]
preclassifier = \"\"
[plugin.inference-opencv]
models = \"$heavy\"
[plugin.scheduler-rule]
light_model = \"$heavy\"
rule = \"always-end\"" ;;
    edge-based) routing="[plugins]
preclassifier = \"preclassifier-rf\"
[plugin.preclassifier-rf]
model = \"$top/models/preclass/rf.yml.gz\"
[plugin.inference-opencv]
models = \"$light\"
[plugin.scheduler-rule]
rule = \"by-route\"" ;;
    edge-based-conf) routing="[pipeline]
local_first = true
[plugins]
preclassifier = \"preclassifier-rf\"
[plugin.preclassifier-rf]
model = \"$top/models/preclass/rf-paper-conf.yml.gz\"
[plugin.inference-opencv]
models = \"$light\"
[plugin.scheduler-rule]
rule = \"by-route\"" ;;
    cascade) routing="[pipeline]
local_first = true
[plugins]
preclassifier = \"\"
[plugin.inference-opencv]
models = \"$light\"
[plugin.scheduler-rule]
rule = \"by-confidence\"
confidence_threshold = 0.95" ;;
    esac
    cat >"$out.toml" <<CONF
[agent]
device_id = "$id"
role = "end"
[workers]
queue_limit = 1
[mqtt]
host = "$addr_edge"
port = $port
[hal]
profile = "raspberry-pi-3b-plus"
[source]
kind = "idx"
path = "$data/t10k-images-idx3-ubyte.gz"
labels = "$data/t10k-labels-idx1-ubyte.gz"
limit = $images
[results]
jsonl = "$out.jsonl"
publish = false
[pipeline]
emulate_slowdown = $slowdown
[plugins]
search_path = ["$work/bin/plugins"]
fusion = ""
[plugin.inference-opencv]
manifest = "$manifest"
threads = 1
[plugin.scheduler-rule]
light_model = "$light"
heavy_model = "$heavy"
$routing
CONF
    $py "$top/scripts/merge_toml.py" "$out.toml"
    if ! "$tierd" --check-config "$out.toml" >"$out.check" 2>&1; then
        echo "the end's config for $row is refused (is build/tierd older than this script?):" >&2
        cat "$out.check" >&2
        return 1
    fi
    local t0=$SECONDS
    ip netns exec $ns_end nice -n "$prio" "$tierd" --config "$out.toml" 2>"$out.log" &
    local pid=$!
    echo $pid >"$state/end.pid"
    local n=0 last=-1 still=0
    while :; do
        sleep 2
        n=$( [ -f "$out.jsonl" ] && wc -l <"$out.jsonl" || echo 0)
        [ "$n" -ge "$images" ] && break
        if ! kill -0 $pid 2>/dev/null; then
            echo "the end agent ($row, $link) exited early; its log:" >&2
            tail -20 "$out.log" >&2
            return 1
        fi
        if [ "$n" = "$last" ]; then still=$((still + 1)); else still=0; fi
        [ $still -ge 60 ] && { echo "no progress for 2 minutes ($row, $link)" >&2; return 1; }
        last=$n
        printf '\r  %-16s %-5s %6d / %d images' "$row" "$link" "$n" "$images"
    done
    printf '\r  %-16s %-5s %6d / %d images, %d s\n' "$row" "$link" "$n" "$images" $((SECONDS - t0))
    local failed
    failed=$(grep -c '"ok":false' "$out.jsonl" || true)
    if [ "$failed" -gt $((images / 100)) ]; then
        echo "$failed of $images tasks failed ($row, $link); the end's log:" >&2
        grep -m3 '"ok":false' "$out.jsonl" >&2
        tail -20 "$out.log" >&2
        return 1
    fi
    # the plugins' counters (features_ms / forest_ms of the pre-classifier)
    ip netns exec $ns_edge mosquitto_rr -V mqttv5 -h 127.0.0.1 -p $port -t "tierd/v1/dev/$id/cmd" \
        -e "tdb/replies/$row" -m '{"op":"plugins.list"}' -W 10 >"$out.plugins.json" 2>/dev/null || true
    kill_pidfile "$state/end.pid"
    wait $pid 2>/dev/null || true
}

echo "edge-based benchmark: $images images, light $light, heavy $heavy, end slowdown ${slowdown}x, links: $links"
# phase LINK ROW...: the link up, the broker and the edge agent on it, one end run per row.
phase() {
    local link=$1 row
    shift
    echo "link $link: $(link_params "$link" | awk '{printf "up %s Mbit/s, down %s Mbit/s, one-way %s ms ± %s ms", $1, $2, $3, $4}')"
    link_up "$link"
    edge_up "$link"
    for row in "$@"; do
        if [ $row = edge-based-conf ] && [ ! -f "$top/models/preclass/rf-paper-conf.yml.gz" ]; then
            echo "  edge-based-conf: models/preclass/rf-paper-conf.yml.gz is missing; not run" >&2
            continue
        fi
        run_end "$row" "$link"
    done
    link_down
    cat "$work/linkemu-$link.log"
}
first_link=${links%% *}
for link in $links; do phase "$link" edge-based cascade; done
# The end-only rows never use the link: measured once (with the first link up and idle)
# and reused for every link.
phase "$first_link" light-end heavy-end
cp "$work/light-end-$first_link.jsonl" "$work/light-end.jsonl"
cp "$work/heavy-end-$first_link.jsonl" "$work/heavy-end.jsonl"
for link in $links; do phase "$link" edge-based-conf; done

$py "$here/report.py" --work "$work" --links "$links" --images "$images" --slowdown "$slowdown" \
    --light "$light" --heavy "$heavy" --top "$top" \
    --md "$top/bench/results/edge_based.md" --json "$top/bench/results/edge_based.json"
echo "wrote bench/results/edge_based.md and bench/results/edge_based.json"
