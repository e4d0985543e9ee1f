#!/usr/bin/env bash
# The multi-objective scheduler benchmark: real tierd agents (end, edge, cloud) on a real
# mosquitto broker, the end's link to the broker swept over bandwidth x RTT, every fixed
# placement (all-end, all-edge, all-cloud, every split) against the adaptive scheduler
# (plugins/scheduler-mo) under four policies, then a stream over a changing link.
# Writes bench/results/scheduler.md and bench/results/scheduler.json (and
# bench/results/scheduler_stream.png when /usr/bin/python3 has matplotlib); with SWEEP=0
# (the stream alone) bench/results/scheduler_stream.md and .json instead, so that a stream
# run does not replace the sweep's report.
#
# Usage (root: it creates network namespaces):  bench/scheduler/run.sh
# Environment (defaults in brackets):
#   BANDWIDTHS   swept uplink (and downlink) rates, Mbit/s ["0.5 2 10 50 100"]
#   RTTS         swept round-trip times end <-> broker, ms ["5 20 50 100"]
#   MODELS       zoo models, each a row of its own ["resnet-20 mobilenet-s"]
#   IMAGES       images per placement and point, closed loop, one in flight [40]
#   WARMUP       images run before each placement's measured ones, not counted [1]
#   WIRES        split tensor encodings of the fixed splits (and the adaptive options) ["i8"]
#   SLOWDOWN     end emulate_slowdown [28.9]; EDGE_SLOWDOWN [4]; CLOUD_SLOWDOWN [1]
#   CLOUD_RTT_MS extra round trip broker <-> cloud [20]; CLOUD_MBIT its rate [50]
#   STREAM=0     skip the changing-link stream; STREAM_SECONDS [60], STREAM_HZ [10],
#                STREAM_RTT [20], STREAM_MODEL [resnet-20], DEADLINE_MS [100], STREAM_FLOOR
#                (the ramp's end, Mbit/s) [0.2]
#   PAIRED=0     skip the paired runs: at each point, after the adaptive runs, the latency
#                policy and the fastest fixed placement run image by image, alternating
#                (IMAGES each), so that the VM's slow drifts fall on both alike [1];
#                PAIRED=control runs the fixed placement against itself instead (an A/A
#                check: what the paired method measures between two identical arms);
#                CONTROL_WORK=DIR puts such a run's result (its work directory) in the report
#   SWEEP=0      skip the sweep (the stream's "best static split" is then the last cut)
#   SHAPER       linkemu (the delay line serialises each packet at the rate, as netem's
#                `rate` does) or tbf (tc tbf on each TUN device, as bench/edge_based) [linkemu]
#   PROFILE_RUNS runs per model and cut of the `profile` command [20]
#   EARLY_STOP=N:F  a fixed split whose latency, end energy and balanced cost after N images
#                are each more than F x the best fixed placement's so far at that point is
#                not run further (it cannot be the best, nor within 5% of it); 0 = always
#                IMAGES [10:1.5]
#   END_THREADS  the end agent's worker threads [2]
#   SPIN=0       do not keep the CPUs busy: by default a busy loop at nice 19 runs on each
#                CPU, so that no vCPU idles (after an idle gap a VM's vCPU computes ~1.7x
#                slower and erratically here, and the emulated slowdown multiplies that by
#                27.9); it yields to every benchmark process (nice -10)
#   NICE=N       priority of the benchmark's processes [-10]
#   BUILD=DIR    the build tree whose tierd and plugins run (relative to the top) [build];
#                its scheduler_decide_bench too when it has one (TIERD_BUILD_BENCH=ON), else
#                build-bench's
#   KEEP=1       keep the work directory; WORK=DIR use (and keep) DIR, runs already complete
#                there are not run again
# Quick check:  BANDWIDTHS="2 50" RTTS=20 IMAGES=10 STREAM_SECONDS=12 bench/scheduler/run.sh
#
# Topology (10.78.0.0/24 = the swept link, 10.78.1.0/24 = the cloud's fixed link):
#   tds-end  [end agent] 10.78.0.1 ==swept link== 10.78.0.2 tds-hub [broker, edge agent,
#   driver] 10.78.1.2 ==fixed link== 10.78.1.1 tds-cloud [cloud agent]
# Each link is bench/edge_based/linkemu.py (two TUN devices, a user-space delay line: this
# kernel has no sch_netem); its delay and rate change while it runs (--control, SIGHUP).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
py=/usr/bin/python3
export BANDWIDTHS=${BANDWIDTHS:-0.5 2 10 50 100}
export RTTS=${RTTS:-5 20 50 100}
export MODELS=${MODELS:-resnet-20 mobilenet-s}
export IMAGES=${IMAGES:-40}
export WARMUP=${WARMUP:-1}
export WIRES=${WIRES:-i8}
export SLOWDOWN=${SLOWDOWN:-28.9}
export EDGE_SLOWDOWN=${EDGE_SLOWDOWN:-4}
export CLOUD_SLOWDOWN=${CLOUD_SLOWDOWN:-1}
export CLOUD_RTT_MS=${CLOUD_RTT_MS:-20}
export CLOUD_MBIT=${CLOUD_MBIT:-50}
export STREAM=${STREAM:-1}
export SWEEP=${SWEEP:-1}
export PAIRED=${PAIRED:-1}
export STREAM_SECONDS=${STREAM_SECONDS:-60}
export STREAM_HZ=${STREAM_HZ:-10}
export STREAM_RTT=${STREAM_RTT:-20}
export STREAM_MODEL=${STREAM_MODEL:-resnet-20}
export STREAM_FLOOR=${STREAM_FLOOR:-0.2}
export DEADLINE_MS=${DEADLINE_MS:-100}
export SHAPER=${SHAPER:-linkemu}
export PROFILE_RUNS=${PROFILE_RUNS:-20}
export EARLY_STOP=${EARLY_STOP:-10:1.5}
export END_THREADS=${END_THREADS:-2}
export SPIN=${SPIN:-1}
prio=${NICE:--10}
data=/usr/share/datasets/fashion-mnist
manifest=$top/models/manifest.toml
ns_end=tds-end ns_hub=tds-hub ns_cloud=tds-cloud
dev_end=tds-a0 dev_hub=tds-a1 dev_cloud=tds-c0 dev_hub_c=tds-c1
addr_end=10.78.0.1 addr_hub=10.78.0.2 addr_cloud=10.78.1.1 addr_hub_c=10.78.1.2
state=/run/tds-scheduler # pid files, so a crashed run's leftovers can be removed
port=1883
# the first point's link (the driver sets each point's before running it)
first_bw=${BANDWIDTHS%% *} first_rtt=${RTTS%% *}

[ "$(id -u)" = 0 ] || { echo "run.sh needs root (network namespaces)" >&2; exit 2; }
for tool in ip tc mosquitto mosquitto_sub mosquitto_pub "$py"; do
    command -v "$tool" >/dev/null || { echo "missing: $tool (scripts/install-deps.sh)" >&2; exit 2; }
done
case $SHAPER in linkemu | tbf) ;; *) echo "SHAPER must be linkemu or tbf" >&2; exit 2 ;; esac

# ---- build (only what is missing; the build trees are shared with the developers)
export BUILD=${BUILD:-build}
build=$top/$BUILD
if [ ! -x "$build/tierd" ] || [ ! -f "$build/plugins/lib/scheduler-mo.so" ] ||
    [ ! -f "$build/plugins/lib/inference-opencv.so" ]; then
    ninja -C "$build" tierd inference-opencv scheduler-mo
fi
# The decision micro-benchmark: the agents' tree if it builds benchmarks, else a Release
# tree of its own, as bench/run.sh builds it.
decide=$build/bench/scheduler_decide/scheduler_decide_bench
[ -x "$decide" ] || decide=$top/build-bench/bench/scheduler_decide/scheduler_decide_bench
if [ ! -x "$decide" ]; then
    cmake -S "$top" -B "$top/build-bench" -G Ninja -DCMAKE_BUILD_TYPE=Release \
        -DTIERD_BUILD_BENCH=ON -DTIERD_BUILD_TESTS=ON >/dev/null
    ninja -C "$top/build-bench" scheduler_decide_bench
fi

# ---- teardown (also of a crashed run's leftovers)
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
    local f ns pid
    for f in driver end cloud edge broker linkemu-a linkemu-c load "$state"/spin-*.pid; do
        kill_pidfile "$state/$(basename "$f" .pid).pid"
    done
    for ns in $ns_end $ns_hub $ns_cloud; do
        if ip netns list | grep -qw "$ns"; then
            # anything still running in our namespaces is ours: stop it by pid
            for pid in $(ip netns pids "$ns" 2>/dev/null); do kill "$pid" 2>/dev/null || true; done
            ip netns del "$ns" 2>/dev/null || true
        fi
    done
}
mkdir -p "$state"
teardown

if [ -n "${WORK:-}" ]; then
    work=$WORK KEEP=1
    mkdir -p "$work"
else
    work=$(mktemp -d /tmp/tds-scheduler.XXXXXX)
fi
cleanup() {
    teardown
    if [ "${KEEP:-0}" = 1 ]; then echo "work directory kept: $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
t_start=$(date +%s)
echo "scheduler benchmark: work directory $work"

# A private copy of the agent and its plugins: the build tree may be rebuilt meanwhile.
mkdir -p "$work/bin/plugins"
cp "$build/tierd" "$work/bin/tierd"
cp "$build"/plugins/lib/*.so "$work/bin/plugins/"
cp "$decide" "$work/bin/scheduler_decide_bench"
tierd=$work/bin/tierd
# what was measured: the commit checked out now (read, not git) and the binaries' hashes
$py - "$top" "$BUILD" "$decide" >"$work/build.json" <<'PY'
import hashlib, json, os, sys, time
top, build, decide = sys.argv[1], sys.argv[2], sys.argv[3]
def commit():
    head = open(os.path.join(top, ".git/HEAD")).read().strip()
    if not head.startswith("ref: "):
        return head
    ref = head[5:]
    if os.path.exists(os.path.join(top, ".git", ref)):
        return open(os.path.join(top, ".git", ref)).read().strip()
    for line in open(os.path.join(top, ".git/packed-refs")):
        if line.strip().endswith(" " + ref):
            return line.split()[0]
    return "?"
files = [build + "/tierd"] + [build + "/plugins/lib/%s.so" % n for n in ("inference-opencv", "scheduler-mo")]
def build_type(d):
    try:
        for line in open(os.path.join(top, d, "CMakeCache.txt")):
            if line.startswith("CMAKE_BUILD_TYPE:"):
                return line.split("=", 1)[1].strip()
    except OSError:
        pass
    return "?"
out = {"commit": commit(), "build": build, "build_type": build_type(build),
       "decide_build": os.path.relpath(decide, top).split("/bench/")[0],
       "decide_build_type": build_type(os.path.relpath(decide, top).split("/bench/")[0]),
       "binaries": {}}
for f in files:
    p = os.path.join(top, f)
    out["binaries"][f] = {"sha256": hashlib.sha256(open(p, "rb").read()).hexdigest()[:16],
                          "built": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(os.path.getmtime(p)))}
print(json.dumps(out, indent=1))
PY
(while :; do echo "$(date +%s) $(cut -d' ' -f1-3 /proc/loadavg)"; sleep 10; done) >>"$work/load.txt" &
echo $! >"$state/load.pid"

# ---- keep every CPU busy at the lowest priority (SPIN=0: not)
if [ "$SPIN" = 1 ]; then
    for cpu in $(seq 0 $(($(nproc) - 1))); do
        taskset -c "$cpu" nice -n 19 $py -c 'while True: pass' &
        echo $! >"$state/spin-$cpu.pid"
    done
fi

# ---- decision time of the scheduler core (before the agents load the machine)
echo "decision micro-benchmark (scheduler_decide_bench --p99, --p99=zoo)"
nice -n "$prio" "$work/bin/scheduler_decide_bench" --p99 >"$work/decide.json"
nice -n "$prio" "$work/bin/scheduler_decide_bench" --p99=zoo >"$work/decide-zoo.json"
cat "$work/decide.json" "$work/decide-zoo.json"

# ---- namespaces and links
for ns in $ns_end $ns_hub $ns_cloud; do
    ip netns add $ns
    ip netns exec $ns ip link set lo up
done
# linkemu_up NAME NS_A DEV_A ADDR_A NS_B DEV_B ADDR_B DELAY_MS RATE_MBIT
linkemu_up() {
    local name=$1 delay=$8 rate=$9 emu_rate=0
    [ "$SHAPER" = linkemu ] && emu_rate=$rate
    printf '{"delay_ms": %s, "rate_mbit": %s}\n' "$delay" "$emu_rate" >"$work/link-$name.json"
    nice -n "$prio" $py "$top/bench/edge_based/linkemu.py" "$2" "$3" "$4" "$5" "$6" "$7" \
        --delay-ms "$delay" --rate-mbit "$emu_rate" --control "$work/link-$name.json" \
        >"$work/linkemu-$name.out" 2>"$work/linkemu-$name.log" &
    echo $! >"$state/linkemu-$name.pid"
    for _ in $(seq 50); do grep -q ready "$work/linkemu-$name.out" 2>/dev/null && break; sleep 0.1; done
    grep -q ready "$work/linkemu-$name.out" || { cat "$work/linkemu-$name.log" >&2; return 1; }
    if [ "$SHAPER" = tbf ]; then
        # the kernel shapes the rate: tbf on each direction's egress (burst = 2 packets)
        ip netns exec "$2" tc qdisc add dev "$3" root tbf rate "${rate}mbit" burst 3000 latency 1s
        ip netns exec "$5" tc qdisc add dev "$6" root tbf rate "${rate}mbit" burst 3000 latency 1s
    fi
}
linkemu_up a $ns_end $dev_end $addr_end $ns_hub $dev_hub $addr_hub \
    "$($py -c "print($first_rtt / 2)")" "$first_bw"
linkemu_up c $ns_cloud $dev_cloud $addr_cloud $ns_hub $dev_hub_c $addr_hub_c \
    "$($py -c "print($CLOUD_RTT_MS / 2)")" "$CLOUD_MBIT"

# ---- broker (hub)
cat >"$work/mosquitto.conf" <<CONF
listener $port $addr_hub
listener $port $addr_hub_c
listener $port 127.0.0.1
allow_anonymous true
persistence false
set_tcp_nodelay true
max_queued_messages 10000
CONF
ip netns exec $ns_hub nice -n "$prio" mosquitto -c "$work/mosquitto.conf" >"$work/mosquitto.log" 2>&1 &
echo $! >"$state/broker.pid"
for _ in $(seq 50); do
    ip netns exec $ns_hub mosquitto_pub -h 127.0.0.1 -p $port -t tds/probe -n 2>/dev/null && break
    sleep 0.1
done

# ---- agents
models_csv=$(echo "$MODELS" | tr ' ' ',')
write_config() { # ID ROLE HOST SLOWDOWN EXTRA
    cat >"$work/$1.toml" <<CONF
[agent]
device_id = "$1"
role = "$2"
state_dir = "$work/state-$1"
[mqtt]
host = "$3"
port = $port
[plugins]
search_path = ["$work/bin/plugins"]
preclassifier = ""
fusion = ""
[pipeline]
emulate_slowdown = $4
[plugin.inference-opencv]
manifest = "$manifest"
models = "$models_csv"
threads = 1
$5
CONF
    $py "$top/scripts/merge_toml.py" "$work/$1.toml" # [plugins] etc. appear twice for the end
    if ! "$tierd" --check-config "$work/$1.toml" >"$work/$1.check" 2>&1; then
        echo "the $2 agent's config is refused:" >&2
        cat "$work/$1.check" >&2
        return 1
    fi
}
start_agent() { # ID NS
    ip netns exec "$2" nice -n "$prio" "$tierd" --config "$work/$1.toml" 2>"$work/$1.log" &
    echo $! >"$state/${1#tds-}.pid"
    for _ in $(seq 60); do
        ip netns exec $ns_hub mosquitto_sub -h 127.0.0.1 -p $port -t "tierd/v1/dev/$1/status" \
            -C 1 -W 1 2>/dev/null | grep -q '"state":"online"' && return 0
    done
    echo "agent $1 did not come online; its log:" >&2
    cat "$work/$1.log" >&2
    return 1
}
write_config tds-edge edge 127.0.0.1 "$EDGE_SLOWDOWN" ""
write_config tds-cloud cloud "$addr_hub_c" "$CLOUD_SLOWDOWN" ""
write_config tds-end end "$addr_hub" "$SLOWDOWN" "[workers]
threads = $END_THREADS
queue_limit = 64
[hal]
profile = \"raspberry-pi-3b-plus\"
[source]
kind = \"topic\"
[results]
jsonl = \"$work/end.jsonl\"
publish = false
[offload]
timeout_ms = 3000
[plugins]
scheduler = \"scheduler-mo\"
[plugin.scheduler-mo]
policy = \"latency\"
models = \"${MODELS%% *}\"
wire = \"$(echo "$WIRES" | tr ' ' ',')\"
compute_w = 3.2
tx_w = 1.0
rx_w = 0.5"
start_agent tds-edge $ns_hub
start_agent tds-cloud $ns_cloud
start_agent tds-end $ns_end
echo "agents online: tds-end (slowdown ${SLOWDOWN}x), tds-edge (${EDGE_SLOWDOWN}x), tds-cloud (${CLOUD_SLOWDOWN}x)"

# ---- the driver: profiles, sweep, stream (in the hub namespace, next to the broker)
ip netns exec $ns_hub nice -n "$prio" $py "$here/driver.py" --work "$work" --top "$top" \
    --port $port --state "$state" --data "$data" --ns-end $ns_end --ns-hub $ns_hub \
    --dev-end $dev_end --dev-hub $dev_hub &
echo $! >"$state/driver.pid"
wait "$(cat "$state/driver.pid")"
rm -f "$state/driver.pid"

t_end=$(date +%s)
echo "$((t_end - t_start))" >>"$work/elapsed_s" # one line per invocation (WORK=DIR resumes)
for name in a c; do kill_pidfile "$state/linkemu-$name.pid"; done
cat "$work"/linkemu-*.log | grep -v '^linkemu [0-9.]*:' || true
report=scheduler
[ "$SWEEP" = 1 ] || report=scheduler_stream
$py "$here/report.py" --work "$work" --top "$top" \
    --md "$top/bench/results/$report.md" --json "$top/bench/results/$report.json" \
    --png "$top/bench/results/scheduler_stream.png" ${CONTROL_WORK:+--control "$CONTROL_WORK"}
echo "wrote bench/results/$report.md and bench/results/$report.json ($((t_end - t_start)) s)"
