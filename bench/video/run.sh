#!/usr/bin/env bash
# The video object detection benchmark (issue 16, section 6): generated test videos with
# exact ground truth played through real tierd processes -- an end agent (source-video at
# the video's 25 fps, det-light, scheduler-mo key frames, fusion-track) and an edge agent
# (det-heavy) on a real mosquitto broker -- over an emulated link in two network
# namespaces (bench/edge_based's linkemu.py + tc tbf: Wi-Fi-like and 4G-like), one fresh
# link, broker and edge per run. Each run's results.jsonl (the end's own file, as it is)
# is scored by tierd-eval; bench/video/report.py writes bench/results/video.{md,json,png}.
#
# Usage (root: it creates network namespaces):  bench/video/run.sh
# Environment (defaults in brackets):
#   SEEDS      test seeds of tierd-videogen ["1 2 3"]
#   FRAMES     frames per video [600]
#   LINKS      link settings ["wifi 4g"]
#   ROWS       rows to run, in this order ["light-only heavy-every-frame box-fusion-10
#              box-fusion-5 box-fusion-30 trigger box-fusion-10-outage"]; box-fusion-K and
#              key-track-K (key frames + tracking only: fusion-track merge_local = false) for
#              any K >= 1; feature-fusion-K and feature-regions-K: feature-level fusion
#              (fusion-feature, models/det-fusion.onnx; the edge's det-heavy map of each key
#              frame comes back whole or only inside its boxes, [offload] frame_features;
#              docs/feature-fusion.md); dds-K: box-fusion-K with region re-send ([offload]
#              frame_resend: key frames up at DDS_LOW_SCALE [0.65] of their size, JPEG
#              quality DDS_LOW_QUALITY [50], then the regions of the boxes the edge scored
#              in [DDS_UNSURE [0.25], DDS_SURE [0.5]), grown by DDS_MARGIN [0.25] of
#              their size each side, at 75); feature-adaptive-K:
#              feature-fusion with adaptive key frames (scheduler-mo trigger mode on
#              fusion-feature's warp error >= WARP_ERROR [0.025] extrapolated to the
#              answer's arrival, or a gap over WARP_MAX_GAP_MS [1000]; the other triggers
#              off; at most 1/K of the frames over WARP_WINDOW [100] frames, one in
#              flight; fusion-feature's warp_measure WARP_MEASURE [mean]); any row
#              with "-outage"
#              appended runs with the link cut mid-video
#   OUTAGE_AT  the frame whose result cuts the link in an -outage row [200]
#   OUTAGE_S   how long the link stays cut, seconds [10]: linkemu drops every packet both
#              ways (TCP and the MQTT session stay up, as over a radio that lost its signal)
#   ORDER      seed-major (every row of seed 1, then seed 2 ...) or row-major [seed-major]
#   PI=0       skip the emulated Pi 3B+ run: PI_ROW [light-only] with [pipeline]
#              emulate_slowdown = PI_SLOWDOWN [28.9] on PI_SEED [1] for PI_FRAMES [60]
#              frames, the end's frames/s measured (the rows above run with the end at this
#              machine's speed). The slowdown stretches the end's detector only, not the
#              fusion plugin's own work (flow, fusion head)
#   PI_WORKERS the emulated Pi's [workers] threads [1]: one frame at a time, as the 1-thread
#              x 28.9 figure of docs/detectors.md (more workers overlap the emulated sleeps)
#   BUILD=DIR  the build tree whose tierd, plugins, tierd-videogen and tierd-eval run [build]
#   NICE=N     priority of the benchmark's processes [-10]
#   KEEP=1     keep the work directory; WORK=DIR use (and keep) DIR: runs already complete
#              there are not run again, so rows and seeds can be added later
#   REPORT=0   do not write bench/results/video.*; MD/JSON/PNG override the output paths;
#              NOTES (default bench/video/notes.md, the author's reading) is appended to the
#              Markdown. To rewrite the report from a kept work directory:
#              bench/video/report.py --work DIR --md bench/results/video.md
#                  --json bench/results/video.json --png bench/results/video.png
#                  --notes bench/video/notes.md
#   TIMEOUT_MS the end's [offload] timeout_ms [2000]
#   TCP_USER_TIMEOUT_MS  the end's [mqtt] tcp_user_timeout_ms [the agent's default]
#   SCORE_THRESHOLD  inference-opencv's score_threshold on the end and the edge [0.05]: COCO
#              mAP wants the low-scored boxes too (docs/detectors.md measured with 0.05);
#              the plugin's default is 0.3
#   HEAVY_RATE_HZ  the source rate of the heavy-every-frame row [8]: det-heavy takes ~81 ms
#              a frame at 1 thread here, so the edge cannot answer 25 frames/s and at 25 Hz
#              half the frames time out and run det-light on the end instead; the row
#              "heavy-every-frame-25hz" runs it at the video's rate anyway
# Quick check:  SEEDS=1 FRAMES=100 LINKS=wifi PI=0 bench/video/run.sh
#
# Topology: tdv-end [end agent] 10.79.0.1 ==link== 10.79.0.2 tdv-edge [broker, edge agent,
# the byte counters]. Settings (one-way delay = RTT / 2), as bench/edge_based:
#   wifi  20 Mbit/s up and down, 5 ms +- 1 ms each way (RTT ~10 ms)
#   4g     5 Mbit/s up, 20 Mbit/s down, 25 ms +- 5 ms each way (RTT ~50 ms)
# Byte counts per run: uplink = the end's result documents' bytes_sent (offload requests);
# downlink = the payload bytes of every message the broker delivers on the end's offload
# reply topic (tierd/v1/dev/<end>/offload/reply, a mosquitto_sub at the broker), probe
# replies counted apart; and the link's wire bytes per direction (IP packets through
# linkemu: MQTT, TCP and IP headers, status, telemetry and probes included).
# (the whole script is one function, so that bash has read all of it before it runs:
# editing the file during a run cannot change the run)
main() {
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
py=/usr/bin/python3
seeds=${SEEDS:-1 2 3}
frames=${FRAMES:-600}
links=${LINKS:-wifi 4g}
rows=${ROWS:-light-only heavy-every-frame box-fusion-10 box-fusion-5 box-fusion-30 trigger box-fusion-10-outage}
outage_at=${OUTAGE_AT:-200} outage_s=${OUTAGE_S:-10}
order=${ORDER:-seed-major}
pi=${PI:-1}
pi_slowdown=${PI_SLOWDOWN:-28.9} pi_seed=${PI_SEED:-1} pi_frames=${PI_FRAMES:-60}
pi_workers=${PI_WORKERS:-1}
pi_row=${PI_ROW:-light-only}
dds_low_scale=${DDS_LOW_SCALE:-0.65} dds_low_quality=${DDS_LOW_QUALITY:-50}
dds_sure=${DDS_SURE:-0.5} dds_unsure=${DDS_UNSURE:-0.25} dds_margin=${DDS_MARGIN:-0.25}
warp_error=${WARP_ERROR:-0.025} warp_max_gap_ms=${WARP_MAX_GAP_MS:-1000}
warp_window=${WARP_WINDOW:-100} warp_measure=${WARP_MEASURE:-mean}
build=$top/${BUILD:-build}
prio=${NICE:--10}
timeout_ms=${TIMEOUT_MS:-2000}
tcp_user_timeout=${TCP_USER_TIMEOUT_MS:-}
heavy_rate=${HEAVY_RATE_HZ:-8}
score=${SCORE_THRESHOLD:-0.05}
manifest=$top/models/manifest.toml
ns_end=tdv-end ns_edge=tdv-edge
dev_end=tdv-e0 dev_edge=tdv-e1
addr_end=10.79.0.1 addr_edge=10.79.0.2
state=/run/tdv-video # pid files, so a crashed run's leftovers can be removed
port=1883
linkemu=$top/bench/edge_based/linkemu.py

[ "$(id -u)" = 0 ] || { echo "run.sh needs root (network namespaces, tc)" >&2; exit 2; }
for tool in ip tc mosquitto mosquitto_sub mosquitto_pub "$py"; do
    command -v "$tool" >/dev/null || { echo "missing: $tool (scripts/install-deps.sh)" >&2; exit 2; }
done
for f in tierd tierd-videogen tierd-eval plugins/lib/fusion-track.so plugins/lib/scheduler-mo.so \
    plugins/lib/inference-opencv.so plugins/lib/source-video.so plugins/lib/fusion-feature.so; do
    [ -e "$build/$f" ] || { echo "missing $build/$f (ninja -C $build tierd tierd-videogen tierd-eval fusion-track fusion-feature scheduler-mo inference-opencv source-video)" >&2; exit 2; }
done
grep -q 'name = "det-heavy"' "$manifest" || { echo "det-heavy is not in $manifest" >&2; exit 2; }

link_params() { # NAME -> up_mbit down_mbit delay_ms jitter_ms
    case $1 in
    wifi) echo 20 20 5 1 ;;
    4g) echo 5 20 25 5 ;;
    *) echo "unknown link setting $1 (wifi, 4g)" >&2; return 1 ;;
    esac
}
for l in $links; do link_params "$l" >/dev/null; done
row_mode() { # ROW -> "key_frames K"
    case $1 in
    light-only) echo "off 10 25" ;;
    heavy-every-frame) echo "upstream 10 $heavy_rate" ;;
    heavy-every-frame-25hz) echo "upstream 10 25" ;;
    trigger) echo "trigger 10 25" ;;
    *-outage) row_mode "${1%-outage}" ;;
    box-fusion-[0-9]*) echo "every ${1#box-fusion-} 25" ;;
    feature-fusion-[0-9]*) echo "every ${1#feature-fusion-} 25" ;; # fusion-feature, whole map
    feature-regions-[0-9]*) echo "every ${1#feature-regions-} 25" ;; # fusion-feature, regions
    feature-adaptive-[0-9]*) echo "trigger ${1#feature-adaptive-} 25" ;; # on the warp error
    dds-[0-9]*) echo "every ${1#dds-} 25" ;; # box-fusion-K with region re-send
    key-track-[0-9]*) echo "every ${1#key-track-} 25" ;; # fusion-track merge_local = false
    *) echo "unknown row $1" >&2; return 1 ;;
    esac
}
for r in $rows $pi_row; do row_mode "$r" >/dev/null; done

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
link_down() {
    local f
    for f in end edge subreq subrep broker linkemu; do kill_pidfile "$state/$f.pid"; done
    for ns in $ns_end $ns_edge; do
        if ip netns list | grep -qw "$ns"; then
            # anything still running in our namespaces is ours: stop it by pid
            for pid in $(ip netns pids "$ns" 2>/dev/null); do kill "$pid" 2>/dev/null || true; done
            ip netns del "$ns" 2>/dev/null || true
        fi
    done
}
teardown() {
    link_down
    kill_pidfile "$state/load.pid"
}
mkdir -p "$state"
teardown

if [ -n "${WORK:-}" ]; then
    work=$WORK KEEP=1
    mkdir -p "$work"
else
    work=$(mktemp -d /tmp/tdv-video.XXXXXX)
fi
work=$(cd "$work" && pwd)
cleanup() {
    teardown
    if [ "${KEEP:-0}" = 1 ]; then echo "work directory kept: $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
# A private copy of the agent and its plugins: the build tree may be rebuilt meanwhile.
mkdir -p "$work/bin/plugins"
cp "$build/tierd" "$build/tierd-eval" "$build/tierd-videogen" "$work/bin/"
cp "$build"/plugins/lib/*.so "$work/bin/plugins/"
tierd=$work/bin/tierd
(while :; do echo "$(date +%s) $(cut -d' ' -f1-3 /proc/loadavg)"; sleep 10; done) >>"$work/load.txt" &
echo $! >"$state/load.pid"
{
    echo "commit $(git -C "$top" rev-parse --short HEAD 2>/dev/null || echo unknown)"
    echo "build $build"
    echo "cpu $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
    echo "cores $(nproc)"
    echo "kernel $(uname -r)"
    echo "started $(date -u +%FT%TZ)"
    echo "command SEEDS=\"$seeds\" FRAMES=$frames LINKS=\"$links\" ROWS=\"$rows\" PI=$pi PI_ROW=$pi_row DDS_LOW_SCALE=$dds_low_scale DDS_LOW_QUALITY=$dds_low_quality DDS_SURE=$dds_sure DDS_UNSURE=$dds_unsure DDS_MARGIN=$dds_margin WARP_ERROR=$warp_error WARP_MAX_GAP_MS=$warp_max_gap_ms WARP_WINDOW=$warp_window WARP_MEASURE=$warp_measure HEAVY_RATE_HZ=$heavy_rate SCORE_THRESHOLD=$score TIMEOUT_MS=$timeout_ms${tcp_user_timeout:+ TCP_USER_TIMEOUT_MS=$tcp_user_timeout} NICE=$prio bench/video/run.sh"
} >>"$work/machine.txt"

# ---- videos (deterministic per seed; kept in the work directory)
video() { # SEED FRAMES -> directory
    local d=$work/videos/s$1-f$2
    if [ ! -s "$d/gt.json" ]; then
        "$work/bin/tierd-videogen" --seed "$1" --frames "$2" --out "$d" --quiet
    fi
    echo "$d"
}

link_up() { # LINK RUNDIR
    local up down delay jitter out=$2
    read -r up down delay jitter < <(link_params "$1")
    ip netns add $ns_end
    ip netns add $ns_edge
    ip netns exec $ns_end ip link set lo up
    ip netns exec $ns_edge ip link set lo up
    nice -n "$prio" $py "$linkemu" $ns_end $dev_end $addr_end $ns_edge $dev_edge $addr_edge \
        --delay-ms "$delay" --jitter-ms "$jitter" --control "$out/linkctl.json" \
        >"$out/linkemu.out" 2>"$out/linkemu.log" &
    echo $! >"$state/linkemu.pid"
    for _ in $(seq 50); do grep -q ready "$out/linkemu.out" 2>/dev/null && break; sleep 0.1; done
    grep -q ready "$out/linkemu.out" || { cat "$out/linkemu.log" >&2; return 1; }
    ip netns exec $ns_end tc qdisc add dev $dev_end root tbf rate "${up}mbit" burst 16kb latency 300ms
    ip netns exec $ns_edge tc qdisc add dev $dev_edge root tbf rate "${down}mbit" burst 16kb latency 300ms
    cat >"$out/mosquitto.conf" <<CONF
listener $port $addr_edge
listener $port 127.0.0.1
allow_anonymous true
persistence false
set_tcp_nodelay true
CONF
    ip netns exec $ns_edge nice -n "$prio" mosquitto -c "$out/mosquitto.conf" >"$out/mosquitto.log" 2>&1 &
    echo $! >"$state/broker.pid"
    for _ in $(seq 50); do
        ip netns exec $ns_edge mosquitto_pub -h 127.0.0.1 -p $port -t tdv/probe -n 2>/dev/null && return 0
        sleep 0.1
    done
    echo "the broker did not start" >&2
    return 1
}

edge_up() { # RUNDIR
    cat >"$1/edge.toml" <<CONF
[agent]
device_id = "tdv-edge-1"
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
models = "det-heavy"
threads = 1
score_threshold = $score
CONF
    ip netns exec $ns_edge nice -n "$prio" "$tierd" --config "$1/edge.toml" 2>"$1/edge.log" &
    echo $! >"$state/edge.pid"
    for _ in $(seq 60); do
        ip netns exec $ns_edge mosquitto_sub -h 127.0.0.1 -p $port -t tierd/v1/dev/tdv-edge-1/status \
            -C 1 -W 1 2>/dev/null | grep -q '"state":"online"' && return 0
    done
    echo "the edge agent did not come online; its log:" >&2
    tail -20 "$1/edge.log" >&2
    return 1
}

# run ROW LINK SEED FRAMES [SLOWDOWN]: one end agent over one whole video; everything of
# the run lands in $work/LINK/sSEED-fFRAMES/ROW[-pi]/
run() {
    local row=$1 link=$2 seed=$3 n=$4 slowdown=${5:-1}
    local out=$work/$link/s$seed-f$n/$row vdir mode k id=tdv-end-1
    local workers=""
    [ "$slowdown" = 1 ] || { out=$out-pi; workers="[workers]
threads = $pi_workers"; }
    if [ -f "$out/done" ]; then
        echo "  $link seed $seed $row: complete in $work, kept"
        return 0
    fi
    read -r mode k rate < <(row_mode "$row")
    vdir=$(video "$seed" "$n")
    rm -rf "$out"
    mkdir -p "$out"
    link_up "$link" "$out"
    edge_up "$out"
    # the byte counters at the broker: requests (topic, payload length) and the end's replies
    ip netns exec $ns_edge mosquitto_sub -h 127.0.0.1 -p $port -t 'tierd/v1/offload/#' -F '%t %l %x' \
        >"$out/requests.hex" 2>/dev/null &
    echo $! >"$state/subreq.pid"
    ip netns exec $ns_edge mosquitto_sub -h 127.0.0.1 -p $port -t "tierd/v1/dev/$id/offload/reply" \
        -F '%l %x' >"$out/replies.txt" 2>/dev/null &
    echo $! >"$state/subrep.pid"
    cat >"$out/end.toml" <<CONF
[agent]
device_id = "$id"
role = "end"
[mqtt]
host = "$addr_edge"
port = $port
${tcp_user_timeout:+tcp_user_timeout_ms = $tcp_user_timeout}
[hal]
profile = "raspberry-pi-3b-plus"
[source]
kind = "video"
path = "$vdir/video.avi"
rate_hz = $rate
[results]
jsonl = "$out/results.jsonl"
publish = false
[offload]
timeout_ms = $timeout_ms
frame_features = "$(case $row in feature-fusion-* | feature-adaptive-*) echo whole ;; feature-regions-*) echo regions ;; *) echo none ;; esac)"
frame_resend = $([[ $row == dds-* ]] && echo true || echo false)
frame_low_scale = $dds_low_scale
frame_low_quality = $dds_low_quality
resend_sure = $dds_sure
resend_unsure = $dds_unsure
resend_margin = $dds_margin
[pipeline]
emulate_slowdown = $slowdown
$workers
[plugins]
search_path = ["$work/bin/plugins"]
scheduler = "scheduler-mo"
preclassifier = ""
fusion = "$([[ $row == feature-* ]] && echo fusion-feature || echo fusion-track)"
[plugin.inference-opencv]
manifest = "$manifest"
models = "det-light"
threads = 1
score_threshold = $score
[plugin.scheduler-mo]
key_frames = "$mode"
key_frame_interval = $k
$([[ $row == feature-adaptive-* ]] && cat <<ADAPTIVE
key_frame_warp_error = $warp_error
key_frame_max_gap_ms = $warp_max_gap_ms
key_frame_scene_change = 0
key_frame_score_floor = 0
key_frame_objects_change = 0
key_frame_max_share = $(awk -v k="$k" 'BEGIN { printf "%.6f", 1 / k }')
key_frame_share_window = $warp_window
key_frame_max_in_flight = 1
ADAPTIVE
)
[plugin.fusion-track]
merge_local = $([[ $row == key-track-* ]] && echo false || echo true)
[plugin.fusion-feature]
model = "$top/models/det-fusion.onnx"
score_threshold = $score
warp_measure = "$warp_measure"
CONF
    if ! "$tierd" --check-config "$out/end.toml" >"$out/check.txt" 2>&1; then
        echo "the end's config for $row is refused:" >&2
        cat "$out/check.txt" >&2
        return 1
    fi
    local t0 pid lines=0 last=-1 still=0 t_first=0 polls=0
    # an -outage row: the link is cut once the result of frame $outage_at is out, for
    # $outage_s seconds (the times land in run.json)
    local outage=none t_cut=0 t_restored=0
    [[ $row == *-outage ]] && outage=pending
    t0=$(date +%s.%N)
    ip netns exec $ns_end nice -n "$prio" "$tierd" --config "$out/end.toml" 2>"$out/end.log" &
    pid=$!
    echo $pid >"$state/end.pid"
    while :; do
        sleep 0.2
        lines=$([ -f "$out/results.jsonl" ] && wc -l <"$out/results.jsonl" || echo 0)
        [ "$t_first" = 0 ] && [ "$lines" -ge 1 ] && t_first=$(date +%s.%N)
        if [ "$outage" = pending ] && [ "$lines" -gt "$outage_at" ]; then
            echo '{"loss": 1}' >"$out/linkctl.json"
            kill -HUP "$(cat "$state/linkemu.pid")"
            t_cut=$(date +%s.%N) outage=on
        elif [ "$outage" = on ] && [ "$(echo "$(date +%s.%N) - $t_cut >= $outage_s" | bc)" = 1 ]; then
            echo '{"loss": 0}' >"$out/linkctl.json"
            kill -HUP "$(cat "$state/linkemu.pid")"
            t_restored=$(date +%s.%N) outage=over
        fi
        [ "$lines" -ge "$n" ] && [ "$outage" != on ] && break
        polls=$((polls + 1))
        [ $((polls % 5)) = 0 ] || continue
        if ! kill -0 $pid 2>/dev/null; then
            echo "the end agent ($row, $link, seed $seed) exited early; its log:" >&2
            tail -20 "$out/end.log" >&2
            return 1
        fi
        if [ "$lines" = "$last" ]; then still=$((still + 1)); else still=0; fi
        [ $still -ge 60 ] && { echo "no progress for 60 s ($row, $link, seed $seed)" >&2; return 1; }
        last=$lines
        printf '\r  %-5s seed %-3s %-18s %5d / %d frames' "$link" "$seed" "$row" "$lines" "$n"
    done
    local t1
    t1=$(date +%s.%N)
    printf '\r  %-5s seed %-3s %-18s %5d / %d frames, %.0f s\n' "$link" "$seed" "$row" "$lines" "$n" \
        "$(echo "$t1 - $t0" | bc)"
    sleep 0.5 # the last reply's copy reaches the counters
    kill_pidfile "$state/end.pid"
    wait $pid 2>/dev/null || true
    kill_pidfile "$state/subreq.pid"
    kill_pidfile "$state/subrep.pid"
    link_down # linkemu prints its byte counts on exit
    $py "$here/parse_requests.py" "$out/requests.hex" "$out/requests.tsv" && rm -f "$out/requests.hex"
    "$work/bin/tierd-eval" map "$vdir/gt.json" "$out/results.jsonl" --json >"$out/eval.json" 2>"$out/eval.err"
    cat >"$out/run.json" <<JSON
{"row": "$row", "link": "$link", "seed": $seed, "frames": $n, "key_frames": "$mode", "k": $k,
 "emulate_slowdown": $slowdown, "rate_hz": $rate, "t_start": $t0, "t_first_result": $t_first, "t_end": $t1, "gt": "$vdir/gt.json",
 "adaptive": $([[ $row == feature-adaptive-* ]] && echo "{\"warp_error\": $warp_error, \"max_gap_ms\": $warp_max_gap_ms, \"window\": $warp_window, \"measure\": \"$warp_measure\"}" || echo null),
 "offload_timeout_ms": $timeout_ms, "score_threshold": $score, "tcp_user_timeout_ms": ${tcp_user_timeout:-null},
 "outage": $([ "$outage" = none ] && echo null || echo "{\"at_frame\": $outage_at, \"seconds\": $outage_s, \"t_cut\": $t_cut, \"t_restored\": $t_restored}")}
JSON
    touch "$out/done"
}

echo "video benchmark: seeds [$seeds] x $frames frames, links [$links], rows [$rows], work $work"
for link in $links; do
    echo "link $link: $(link_params "$link" | awk '{printf "up %s Mbit/s, down %s Mbit/s, one-way %s ms +- %s ms", $1, $2, $3, $4}')"
    if [ "$order" = row-major ]; then
        for row in $rows; do for seed in $seeds; do run "$row" "$link" "$seed" "$frames"; done; done
    else
        for seed in $seeds; do for row in $rows; do run "$row" "$link" "$seed" "$frames"; done; done
    fi
done
if [ "$pi" = 1 ]; then
    first_link=${links%% *}
    echo "emulated Pi 3B+: $pi_row, emulate_slowdown $pi_slowdown, seed $pi_seed, $pi_frames frames"
    run "$pi_row" "$first_link" "$pi_seed" "$pi_frames" "$pi_slowdown"
fi
echo "finished $(date -u +%FT%TZ)" >>"$work/machine.txt"

if [ "${REPORT:-1}" = 1 ]; then
    $py "$here/report.py" --work "$work" \
        --md "${MD:-$top/bench/results/video.md}" --json "${JSON:-$top/bench/results/video.json}" \
        --png "${PNG:-$top/bench/results/video.png}" --notes "${NOTES:-$here/notes.md}"
fi
}
main "$@"
