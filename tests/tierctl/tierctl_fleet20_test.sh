#!/usr/bin/env bash
# tierctl_fleet20_test.sh TIERCTL TIERD LIB_BROKER
# Twenty real agents on one broker: a fleet command gets every answer, a group command
# reaches exactly its members, and after one agent is killed a fleet command is partial
# and names it.
set -euo pipefail
tierctl=$1 tierd=$2
. "$3"
. "$(dirname "$0")/lib-tierctl-test.sh"
work=$(mktemp -d)
trap 'stop_agents; stop_broker; rm -rf "$work"' EXIT
fail() {
    echo "FAIL: $*" >&2
    tail -20 "$work/mosquitto.log" >&2 || true
    exit 1
}

isolate_tierctl
BROKER_EXTRA_CONF="set_tcp_nodelay true" start_broker "$work"
# Agents 01..05 are in group "north", 06..10 in "south"; 11..20 in none. A short
# keepalive so that a dead agent's will would be published soon even without a FIN.
for i in $(seq -w 1 20); do
    groups='[]'
    [ "$i" -le 5 ] && groups='["north"]'
    [ "$i" -ge 6 ] && [ "$i" -le 10 ] && groups='["south", "all-south"]'
    start_agent "node-$i" --set mqtt.keepalive_s=5 --set "agent.groups=$groups"
done
wait_online 20 30

rc=0; tctl cmd --all ping --json >"$work/all.json" || rc=$?
[ "$rc" -eq 0 ] || fail "fleet ping exited $rc: $(cat "$work/all.json")"
py_check 'len(doc["replies"]) == 20 and all(r["ok"] and r["expected"] for r in doc["replies"]) and not doc["missing"] and doc["exit_code"] == 0' "fleet ping" <"$work/all.json"

rc=0; tctl cmd --group north ping --json >"$work/north.json" || rc=$?
[ "$rc" -eq 0 ] || fail "group ping exited $rc: $(cat "$work/north.json")"
py_check 'sorted(r["device_id"] for r in doc["replies"]) == ["node-%02d" % i for i in range(1, 6)] and doc["expected"] == ["node-%02d" % i for i in range(1, 6)]' "group north" <"$work/north.json"
rc=0; tctl config get --group south agent.groups >"$work/south.txt" || rc=$?
[ "$rc" -eq 0 ] || fail "group config get exited $rc: $(cat "$work/south.txt")"
[ "$(grep -c '^node-.* ok ' "$work/south.txt")" -eq 5 ] || fail "group south: $(cat "$work/south.txt")"

# One agent dies without a word: the broker publishes its will (offline, retained).
kill -9 "$AGENT_PID_node_07"
wait "$AGENT_PID_node_07" 2>/dev/null || true
deadline=$((SECONDS + 15))
until tctl devices --json | py_json '[d["state"] for d in doc["devices"] if d["device_id"] == "node-07"]' | grep -q offline; do
    [ $SECONDS -lt $deadline ] || fail "node-07 never showed offline"
    sleep 0.2
done
start=$SECONDS
rc=0; tctl cmd --all ping --json >"$work/partial.json" || rc=$?
[ "$rc" -eq 3 ] || fail "fleet ping with one agent dead exited $rc (want 3): $(cat "$work/partial.json")"
py_check 'len(doc["replies"]) == 19 and doc["missing"] == [{"device_id": "node-07", "state": "offline"}] and doc["exit_code"] == 3' "partial" <"$work/partial.json"
# The only silent device is offline, so tierctl does not wait out its timeout.
[ $((SECONDS - start)) -lt 4 ] || fail "partial fleet ping waited $((SECONDS - start)) s"
rc=0; tctl cmd --all ping >"$work/partial.txt" || rc=$?
[ "$rc" -eq 3 ] || fail "partial (table) exited $rc"
grep -Eq "^node-07 +no answer +- +offline per its status" "$work/partial.txt" || fail "table: $(cat "$work/partial.txt")"
grep -q "19 of 20 expected answered ok; no answer: node-07 (offline)" "$work/partial.txt" || fail "summary: $(cat "$work/partial.txt")"
# A group with the dead member: statuses (the broker's last will too) carry the groups, so
# tierctl expects node-07 in "south" and names it as not answering: a partial answer.
rc=0; tctl cmd --group south ping --json >"$work/south.json" || rc=$?
[ "$rc" -eq 3 ] || fail "group south with node-07 dead exited $rc: $(cat "$work/south.json")"
py_check 'sorted(r["device_id"] for r in doc["replies"]) == ["node-06", "node-08", "node-09", "node-10"] and doc["expected"] == ["node-%02d" % i for i in range(6, 11)] and doc["missing"] == [{"device_id": "node-07", "state": "offline"}]' "group south" <"$work/south.json"
echo "PASS: tierctl.fleet20"
