#!/usr/bin/env bash
# Faults, tested with real processes (issue 6): real tierd agents, a real mosquitto (with
# persistence) and a persistent QoS 1 results consumer in two network namespaces joined by
# a veth pair — tf-end (the end agent) and tf-hub (broker, edge agent, consumer, tierctl) —
# streaming the Fashion-MNIST test set through cnn-xs, with one fault per scenario:
#   a broker_outage  the broker killed (-9) for 60 s during a 10,000-image stream (100 Hz)
#   b link_cut       the end–hub link cut for 10 s mid-stream (always-edge offload)
#   b2 link_cut_short the same with a 4 s cut (below the MQTT keepalive detection)
#   c edge_killed    the edge agent killed (-9) mid-stream, restarted 5 s later
#   d end_killed     the end agent killed (-9) mid-stream while cut off from the broker,
#                    restarted (spool only): what it had spooled is delivered
#   e disk_full      the spool on a 4 MiB tmpfs that fills; commands served while full
#   f watchdog       a stuck event loop (debug.block_loop, TIERD_TEST_HOOKS=1) under a
#                    systemd-like watchdog: killed (SIGABRT) and restarted
# Writes bench/results/faults.md and bench/results/faults.json (figures, PASS/FAIL).
#
# Usage (root):  bench/faults/run.sh
# Environment:   SCENARIOS="a b b2 c d e f" (default all; a partial run
#                replaces only its scenarios in an existing bench/results/faults.json), A_IMAGES (10000), A_OUTAGE_S (60),
#                KEEP=1 keeps the work directory.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
TOP=$(cd "$here/../.." && pwd)
[ "$(id -u)" = 0 ] || { echo "run.sh needs root (network namespaces, tmpfs)" >&2; exit 2; }
for tool in ip mosquitto mosquitto_sub mosquitto_pub mosquitto_rr /usr/bin/python3; do
    command -v "$tool" >/dev/null || { echo "missing: $tool" >&2; exit 2; }
done
[ -f /usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz ] || { echo "no Fashion-MNIST" >&2; exit 2; }
scenarios=${SCENARIOS:-a b b2 c d e f}
a_images=${A_IMAGES:-10000}
a_outage=${A_OUTAGE_S:-60}
NS_END=tf-end NS_HUB=tf-hub VETH_END=tf-e0 VETH_HUB=tf-h0
ROOT=$(mktemp -d /tmp/tierd-faults.XXXXXX)
WORK=$ROOT
# A private copy of the agent: the build tree may be rebuilt meanwhile.
mkdir -p "$ROOT/bin/plugins"
cp "$TOP/build/tierd" "$TOP/build/tierctl" "$ROOT/bin/"
cp "$TOP"/build/plugins/lib/*.so "$ROOT/bin/plugins/"
TIERD=$ROOT/bin/tierd TIERCTL=$ROOT/bin/tierctl PLUGIN_DIR=$ROOT/bin/plugins
. "$here/lib.sh"
cleanup() {
    faults_teardown
    if [ "${KEEP:-0}" = 1 ]; then echo "work directory kept: $ROOT"; else rm -rf "$ROOT"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
faults_teardown # leftovers of a crashed run
faults_ns_up

now() { date +%s.%N; }
since() { $PY -c "print(round($(now) - $1, 2))"; }
# fig KEY VALUE: a figure of the current scenario (VALUE as JSON if it parses)
fig() { printf '%s\t%s\n' "$1" "$2" >>"$WORK/figures.tsv"; }
# chk NAME OK(0/1) DETAIL: one PASS/FAIL check of the current scenario
chk() { printf '%s\t%s\t%s\n' "$1" "$2" "$3" >>"$WORK/checks.tsv"; }
is() { if "$@"; then echo 1; else echo 0; fi; }
# scenario NAME: a fresh work directory, broker and consumer; every agent of the last one stopped
scenario() {
    for pid in $END_PID $EDGE_PID $SUB_PID $BROKER_PID; do
        kill -9 "$pid" 2>/dev/null && { wait "$pid"; } 2>/dev/null || true
    done
    END_PID= EDGE_PID= SUB_PID= BROKER_PID=
    link_restore
    WORK=$ROOT/$1
    mkdir -p "$WORK/state"
    echo "== $1"
}
# first_edge_after FILE LINE SECS: seconds until a result after line LINE ran on the edge
first_edge_after() {
    local t0 file=$1 line=$2
    t0=$(now)
    for _ in $(seq $(($3 * 10))); do
        tail -n +"$((line + 1))" "$file" | grep -q '"tier":"edge"' && { since "$t0"; return 0; }
        end_dead && break
        sleep 0.1
    done
    echo null
}
end_dead() { ! kill -0 "$END_PID" 2>/dev/null; }
done_or_dead() { end_dead || at_least "$1" "$2"; }
finish_stream() { # DEVICE N CONSUMER LOCAL (gives up at once when the end agent has died)
    wait_until 180 done_or_dead "$4" "$2"
    if end_dead; then echo "  the end agent is not running (crashed?): $(tail -c 300 "$WORK/end.log" | tr '\n' ' ')"; return 0; fi
    at_least "$4" "$2" || echo "  the end agent did not finish"
    wait_until 120 spool_empty "$1" || echo "  the spool did not drain"
    wait_until 30 at_least "$3" "$2" || echo "  the consumer got $(lines "$3") of $2"
    sleep 1
}

# ---- a: broker killed for 60 s during a 10,000-image stream
if [[ " $scenarios " == *" a "* ]]; then
    scenario broker_outage
    dev=tf-a
    broker_start
    consumer_start $dev "$WORK/results.jsonl"
    end_config $dev "$a_images" 100 always-end "$WORK/state" "$WORK/local.jsonl" >"$WORK/end.toml"
    start_end "$WORK/end.toml" "$WORK/end.log"
    wait_until 60 at_least "$WORK/local.jsonl" $((a_images / 5)) || echo "  slow start"
    at_kill=$(lines "$WORK/local.jsonl") consumer_at_kill=$(lines "$WORK/results.jsonl")
    broker_kill
    t_kill=$(now)
    echo "  broker killed at result $at_kill; down for $a_outage s"
    disk_peak=0
    while [ "$($PY -c "print(int($(now) - $t_kill < $a_outage))")" = 1 ]; do
        d=$(du -cb "$WORK"/state/spool.db* 2>/dev/null | tail -1 | cut -f1)
        [ "${d:-0}" -gt "$disk_peak" ] && disk_peak=$d
        sleep 1
    done
    at_return=$(lines "$WORK/local.jsonl")
    broker_start
    t_back=$(now)
    first_entries= first_bytes= first_s= catchup=
    for _ in $(seq 600); do
        e=$(STATUS_TIMEOUT=2 status $dev "s['spool']['entries'], s['spool']['bytes']" | tr -d '(),') || true
        if [ -n "$e" ]; then
            read -r ent byt <<<"$e"
            [ -z "$first_entries" ] && { first_entries=$ent first_bytes=$byt first_s=$(since "$t_back"); }
            [ "$ent" -le 2 ] && { catchup=$(since "$t_back"); break; }
        fi
        sleep 0.2
    done
    echo "  broker back: first status after ${first_s}s: $first_entries entries, $first_bytes bytes; caught up after ${catchup}s"
    finish_stream $dev "$a_images" "$WORK/results.jsonl" "$WORK/local.jsonl"
    spool=$(status $dev "__import__('json').dumps(s['spool'])")
    fig images "$a_images"; fig rate_hz 100; fig outage_s "$a_outage"
    fig killed_at_result "$at_kill"; fig results_during_outage "$((at_return - at_kill))"
    fig spool_entries_est_peak "$((at_return - consumer_at_kill))"
    fig spool_first_status_after_return "{\"after_s\": ${first_s:-null}, \"entries\": ${first_entries:-null}, \"bytes\": ${first_bytes:-null}}"
    fig spool_disk_peak_bytes "$disk_peak"
    fig catchup_s "${catchup:-null}"
    fig spool_final "${spool:-null}"
    $PY "$here/check.py" "$WORK/results.jsonl" "$WORK/local.jsonl" --n "$a_images" --json "$WORK/check.json" || true
    chk "0 lost, none duplicated after dedup, in the agent's order" "$($PY -c "import json; print(int(json.load(open('$WORK/check.json'))['pass']))")" "check.py"
    chk "caught up after the broker returned" "$([ -n "$catchup" ] && echo 1 || echo 0)" "${catchup:-never} s"
    chk "agent alive" "$(is kill -0 "$END_PID")" ""
fi

# ---- b, c: offload faults
offload_scenario() { # NAME FAULT [CUT_S]
    local name=$1 dev=tf-$1 edge=tf-edge-$1 n=2000
    scenario "$name"
    broker_start
    consumer_start $dev "$WORK/results.jsonl"
    start_edge $edge "$WORK/edge.log"
    end_config $dev $n 50 always-edge "$WORK/state" "$WORK/local.jsonl" >"$WORK/end.toml"
    start_end "$WORK/end.toml" "$WORK/end.log"
    wait_until 60 at_least "$WORK/local.jsonl" 500 || echo "  slow start"
    local at_fault t0 restore wait_s
    at_fault=$(lines "$WORK/local.jsonl")
    t0=$(now)
    case $2 in
    cut)
        link_cut
        sleep "${3:-10}"
        link_restore
        wait_s=${3:-10} ;;
    kill)
        kill -9 "$EDGE_PID"; { wait "$EDGE_PID"; } 2>/dev/null || true; EDGE_PID=
        sleep 5
        start_edge $edge "$WORK/edge.log"
        wait_s=$(since "$t0") ;;
    esac
    restore=$(lines "$WORK/local.jsonl")
    local resumed
    resumed=$(first_edge_after "$WORK/local.jsonl" "$restore" 30)
    echo "  fault at result $at_fault, over at result $restore; offload resumed after $resumed s"
    finish_stream $dev $n "$WORK/results.jsonl" "$WORK/local.jsonl"
    local tasks
    tasks=$(status $dev "__import__('json').dumps({k: s['tasks'].get(k) for k in ('done', 'by_tier', 'fallbacks', 'late_replies', 'failed')})")
    if end_dead; then
        local rc=0
        { wait "$END_PID"; } 2>/dev/null || rc=$?
        fig end_agent_died "exit status $rc$([ $rc -gt 128 ] && echo " (signal $((rc - 128)))"); last log line: $(grep -v '^{' "$WORK/end.log" | tail -1 | cut -c1-160)"
    fi
    fig images $n; fig rate_hz 50; fig fault_at_result "$at_fault"; fig fault_s "$wait_s"
    fig fault_over_at_result "$restore"; fig offload_resumed_after_s "$resumed"
    fig end_tasks "${tasks:-null}"
    fig end_spool "$(status $dev "__import__('json').dumps({k: s['spool'][k] for k in ('resent_sessions', 'sent', 'delivered')})" || echo null)"
    $PY "$here/check.py" "$WORK/results.jsonl" "$WORK/local.jsonl" --n $n --need-fallback \
        --restore-line "$restore" --json "$WORK/check.json" || true
    chk "every task once (N unique, none lost, no task with two answers), in order; fallbacks; edge after" \
        "$($PY -c "import json; print(int(json.load(open('$WORK/check.json'))['pass']))")" "check.py"
    chk "agent alive" "$(is kill -0 "$END_PID")" ""
}
[[ " $scenarios " == *" b "* ]] && offload_scenario link_cut cut
# b2: a 4 s cut, shorter than the end's MQTT keepalive detection (1.5 x 5 s): the session survives
[[ " $scenarios " == *" b2 "* ]] && offload_scenario link_cut_short cut 4
[[ " $scenarios " == *" c "* ]] && offload_scenario edge_killed kill

# ---- d: end agent killed mid-stream and restarted: the spool resumes
if [[ " $scenarios " == *" d "* ]]; then
    scenario end_killed
    dev=tf-d n=3000
    broker_start
    consumer_start $dev "$WORK/results.jsonl"
    end_config $dev $n 100 always-end "$WORK/state" "$WORK/local.jsonl" >"$WORK/end.toml"
    start_end "$WORK/end.toml" "$WORK/end.log"
    wait_until 60 at_least "$WORK/local.jsonl" 1000 || echo "  slow start"
    # The link is cut for 2 s first, so the spool holds results the broker never
    # acknowledged when the agent dies: the restart must find and send them.
    link_cut
    sleep 2
    kill -9 "$END_PID"; { wait "$END_PID"; } 2>/dev/null || true; END_PID=
    # what the dead agent left in its spool (read-only; the restart recovers the WAL)
    pending=$($PY -c "import sqlite3; print(sqlite3.connect('file:$WORK/state/spool.db?mode=ro', uri=True).execute('select count(*) from spool').fetchone()[0])" 2>/dev/null || echo null)
    at_kill=$(lines "$WORK/local.jsonl")
    link_restore
    sleep 1
    no_source "$WORK/end.toml" >"$WORK/end2.toml"
    t0=$(now)
    start_end "$WORK/end2.toml" "$WORK/end2.log"
    wait_until 30 spool_empty $dev || echo "  the restarted agent's spool did not drain"
    drained=$(since "$t0")
    sleep 1
    read -r recovered delivered < <(status $dev "s['spool']['recovered'], s['spool']['delivered']" | tr -d '(),') || true
    echo "  killed at result $at_kill with $pending entries spooled; restarted: recovered $recovered, delivered $delivered (${drained}s)"
    $PY "$here/check.py" "$WORK/results.jsonl" "$WORK/local.jsonl" --max-gap 8 --json "$WORK/check.json" || true
    gap=$($PY -c "import json; print(json.load(open('$WORK/check.json'))['missing_below_highest'])")
    fig images_started "$n"; fig killed_at_result "$at_kill"; fig queue_limit 8
    fig spool_entries_before_kill "$pending"
    fig recovered "$recovered"; fig delivered_after_restart "$delivered"
    fig restart_to_drained_s "$drained"; fig gap_tasks "$gap"
    chk "gap (tasks in memory) <= workers.queue_limit = 8" "$([ "$gap" -le 8 ] && echo 1 || echo 0)" "$gap"
    chk "the spool held unacknowledged results at the kill (spool.recovered > 0)" "$([ "${recovered:-0}" -gt 0 ] && echo 1 || echo 0)" "$recovered"
    chk "spool.recovered == delivered by the restarted agent" "$([ "$recovered" = "$delivered" ] && echo 1 || echo 0)" "$recovered vs $delivered"
    chk "no duplicates/conflicts after dedup, in order" "$($PY -c "import json; d=json.load(open('$WORK/check.json')); print(int(d['conflicting_repeats'] == 0 and d['in_order']))")" ""
fi

# ---- e: the spool on a 4 MiB tmpfs that fills
if [[ " $scenarios " == *" e "* ]]; then
    scenario disk_full
    dev=tf-e n=8000
    mount -t tmpfs -o size=4m tmpfs "$WORK/state"
    MOUNTED=$WORK/state
    broker_start
    consumer_start $dev "$WORK/results.jsonl"
    # the end cannot reach the broker: its spool fills the tmpfs
    link_cut
    end_config $dev $n 0 always-end "$WORK/state" "$WORK/local.jsonl" '[spool]
when_full = "drop-newest"' >"$WORK/end.toml"
    start_end "$WORK/end.toml" "$WORK/end.log"
    wait_until 120 grep -q "cannot store an entry" "$WORK/end.log" || echo "  no disk-full error"
    # and something else takes what room is left, so the disk stays full after the link is back
    dd if=/dev/zero of="$WORK/state/filler" bs=4k 2>/dev/null || true
    avail=$(df -B1 --output=avail "$WORK/state" | tail -1 | tr -d ' ')
    link_restore
    pingable() { hub env TIERCTL_HOST=127.0.0.1 TIERCTL_PORT=$PORT "$TIERCTL" cmd $dev ping --timeout 2 >/dev/null 2>&1; }
    wait_until 20 pingable || echo "  no answer after the link came back"
    ok=0 slow=0
    for i in 1 2 3 4 5; do
        t0=$(now)
        if hub env TIERCTL_HOST=127.0.0.1 TIERCTL_PORT=$PORT "$TIERCTL" cmd $dev ping --timeout 10 >/dev/null 2>&1; then
            ok=$((ok + 1)); ms=$($PY -c "print(round(($(now) - $t0) * 1000))"); [ "$ms" -gt "$slow" ] && slow=$ms
        fi
        sleep 0.2
    done
    avail_after=$(df -B1 --output=avail "$WORK/state" | tail -1 | tr -d ' ')
    spool_full=$(status $dev "__import__('json').dumps(s['spool'])")
    echo "  disk full ($avail bytes free): $ok/5 pings answered (slowest $slow ms)"
    rm -f "$WORK/state/filler"
    t0=$(now)
    wait_until 60 at_least "$WORK/local.jsonl" $n || echo "  the end agent did not finish"
    if wait_until 30 spool_empty $dev; then drained=$(since "$t0"); else drained=null; fi
    echo "  filler removed: spool drained after $drained s"
    sleep 1
    spool=$(status $dev "__import__('json').dumps(s['spool'])")
    $PY "$here/check.py" "$WORK/results.jsonl" "$WORK/local.jsonl" --json "$WORK/check.json" || true
    failed=$($PY -c "import json; print(json.loads('''$spool''')['dropped']['write_failed'])" 2>/dev/null || echo 0)
    fig images "$n"; fig tmpfs "4 MiB"; fig free_bytes_while_full "$avail"
    fig free_bytes_after_pings "$avail_after"
    fig pings_answered_while_full "$ok/5"; fig slowest_ping_ms "$slow"
    fig spool_while_full "${spool_full:-null}"; fig spool_final "${spool:-null}"
    fig spool_drained_after_room_returns_s "$drained"
    fig consumer_unique "$($PY -c "import json; print(json.load(open('$WORK/check.json'))['unique'])")"
    chk "drops counted (spool.dropped.write_failed > 0)" "$([ "${failed:-0}" -gt 0 ] && echo 1 || echo 0)" "$failed"
    chk "tierctl ping answered while the disk is full" "$([ "$ok" = 5 ] && echo 1 || echo 0)" "$ok/5"
    chk "no crash (agent alive, pipeline finished)" "$(is kill -0 "$END_PID")" ""
    chk "no conflicting repeats, in order" "$($PY -c "import json; d=json.load(open('$WORK/check.json')); print(int(d['conflicting_repeats'] == 0 and d['in_order']))")" ""
fi

# ---- f: a stuck loop under a systemd-like watchdog
if [[ " $scenarios " == *" f "* ]]; then
    scenario watchdog
    if ip netns exec "$NS_HUB" $PY "$TOP/tests/integration/watchdog_stuck_loop_test.py" "$TIERD" \
        --json "$WORK/watchdog.json" | tee "$WORK/watchdog.out"; then r=1; else r=0; fi
    [ -f "$WORK/watchdog.json" ] && while IFS=$'\t' read -r k v; do fig "$k" "$v"; done < <($PY -c "
import json
for k, v in json.load(open('$WORK/watchdog.json')).items(): print(f'{k}\t{json.dumps(v)}')")
    chk "no WATCHDOG=1 within the period once blocked; killed; will offline; restarted online" "$r" "$(tail -1 "$WORK/watchdog.out")"
    if ip netns exec "$NS_HUB" $PY "$TOP/tests/integration/watchdog_stuck_loop_test.py" "$TIERD" --hooks-off >"$WORK/off.out"; then r=1; else r=0; fi
    chk "without TIERD_TEST_HOOKS debug.block_loop is unknown_op" "$r" "$(tail -1 "$WORK/off.out")"
fi

scenario done
$PY "$here/report.py" "$ROOT" "$TOP" "$scenarios"
