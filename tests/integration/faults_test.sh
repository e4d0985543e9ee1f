#!/usr/bin/env bash
# faults_test.sh CASE TIERD TIERCTL TOP
# Short versions of bench/faults (real processes in two network namespaces: the end agent
# in one, mosquitto + an edge agent + a persistent results consumer in the other):
#   link_cut     the end–edge link is cut for 3 s mid-stream (always-edge offload)
#   edge_killed  the edge agent is killed (-9) mid-stream and restarted 2 s later
# 300 images at 40 Hz. Checks: every task answered exactly once (after de-duplication by
# task_id, no task with two answers), none lost, in the agent's order; some tasks fell back
# to local inference; offload resumed after the fault. Needs root and `ip netns`; SKIP
# (pass) otherwise.
set -euo pipefail
case_name=$1
TIERD=$2 TIERCTL=$3 TOP=$4
[ "$(id -u)" = 0 ] || { echo "SKIP: network namespaces need root"; exit 0; }
for tool in ip mosquitto mosquitto_sub; do
    command -v $tool >/dev/null || { echo "SKIP: no $tool"; exit 0; }
done
[ -f /usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz ] ||
    { echo "SKIP: no Fashion-MNIST (dataset-fashion-mnist)"; exit 0; }
tag=$(printf '%x' $(($$ % 65536)))
NS_END=tfc-$tag-end NS_HUB=tfc-$tag-hub VETH_END=tfc${tag}e VETH_HUB=tfc${tag}h
WORK=$(mktemp -d /tmp/tierd-faults.XXXXXX)
. "$TOP/bench/faults/lib.sh"
cleanup() { faults_teardown; rm -rf "$WORK"; }
trap cleanup EXIT
trap 'exit 130' INT TERM
if ! ip netns add "$NS_END" 2>/dev/null; then echo "SKIP: cannot create a network namespace"; exit 0; fi
ip netns del "$NS_END"
fail() {
    echo "FAIL: $*" >&2
    for f in "$WORK"/*.log; do [ -f "$f" ] && { echo "--- $f" >&2; tail -15 "$f" >&2; }; done
    exit 1
}
N=300 RATE=40
dev=tfc-end-$tag edge=tfc-edge-$tag
faults_ns_up
broker_start || fail "broker"
consumer_start "$dev" "$WORK/results.jsonl"
start_edge "$edge" "$WORK/edge.log" || fail "edge did not come online"
end_config "$dev" $N $RATE always-edge "$WORK/state" "$WORK/local.jsonl" >"$WORK/end.toml"
mkdir -p "$WORK/state"
start_end "$WORK/end.toml" "$WORK/end.log"
wait_until 30 at_least "$WORK/local.jsonl" 60 || fail "no results from the end agent"
case $case_name in
link_cut)
    link_cut
    sleep 3
    link_restore
    ;;
edge_killed)
    kill -9 "$EDGE_PID"; wait "$EDGE_PID" 2>/dev/null || true; EDGE_PID=
    sleep 2
    start_edge "$edge" "$WORK/edge.log" || fail "the restarted edge did not come online"
    ;;
*) fail "unknown case $case_name" ;;
esac
restore_line=$(lines "$WORK/local.jsonl")
echo "fault over at result $restore_line of $N"
wait_until 60 at_least "$WORK/local.jsonl" $N || fail "the end agent did not finish the stream"
wait_until 30 spool_empty "$dev" || fail "the spool did not drain"
wait_until 10 at_least "$WORK/results.jsonl" $N || fail "the consumer got $(lines "$WORK/results.jsonl") of $N"
sleep 0.5
echo "late replies: $(status "$dev" "s['tasks'].get('late_replies')")"
$PY "$TOP/bench/faults/check.py" "$WORK/results.jsonl" "$WORK/local.jsonl" --n $N \
    --need-fallback --restore-line "$restore_line" || fail "results"
kill -0 "$END_PID" 2>/dev/null || fail "the end agent is not running at the end"
echo "PASS: faults.$case_name"
