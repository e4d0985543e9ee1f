#!/usr/bin/env bash
# tierd-eval's command line on real files: exit codes (0 evaluated, 1 bad input, 2 bad
# command line), the messages that say where the input is wrong, both result formats, and
# the --json report.
# Usage: tierd_eval_cli_test.sh TIERD_EVAL DATA_DIR
set -u
tool=$1
data=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failures=0

fail() {
    echo "FAIL: $*" >&2
    failures=$((failures + 1))
}

# run ARGS...: runs the tool, leaving its exit code in $rc, stdout in $out, stderr in $err.
run() {
    "$tool" "$@" >"$work/out" 2>"$work/err"
    rc=$?
    out=$(cat "$work/out")
    err=$(cat "$work/err")
}

# expect CODE TEXT ARGS...: the tool exits with CODE and prints TEXT (a fixed string) on
# stdout or stderr.
expect() {
    local code=$1 text=$2
    shift 2
    run "$@"
    [ "$rc" = "$code" ] || fail "tierd-eval $*: exit $rc, expected $code; stderr: $err"
    grep -qF -- "$text" "$work/out" "$work/err" ||
        fail "tierd-eval $*: expected '$text' in the output; stdout: $out; stderr: $err"
}

# py_check EXPR: EXPR (Python, doc = the JSON document in $out) must be true.
py_check() {
    /usr/bin/python3 -c 'import json, sys
doc = json.loads(sys.argv[2])
sys.exit(0 if eval(sys.argv[1]) else 1)' "$1" "$out" || fail "--json: expected $1; got: $out"
}

# Two images, two categories, three objects; one detector result per format that finds
# them all (box 7 of image 2 at IoU 0.55: counted at .50 and .55 only).
cat >"$work/gt.json" <<'EOF'
{"images": [{"id": 1}, {"id": 2}],
 "categories": [{"id": 1, "name": "shirt"}, {"id": 2, "name": "bag"}],
 "annotations": [
   {"id": 1, "image_id": 1, "category_id": 1, "bbox": [0, 0, 100, 100], "area": 10000, "iscrowd": 0},
   {"id": 2, "image_id": 1, "category_id": 2, "bbox": [200, 0, 40, 40], "area": 1600, "iscrowd": 0},
   {"id": 3, "image_id": 2, "category_id": 1, "bbox": [0, 0, 100, 100], "area": 10000, "iscrowd": 0}]}
EOF
cat >"$work/res.json" <<'EOF'
[{"image_id": 1, "category_id": 1, "bbox": [0, 0, 100, 100], "score": 0.9},
 {"image_id": 1, "category_id": 2, "bbox": [200, 0, 40, 40], "score": 0.8},
 {"image_id": 2, "category_id": 1, "bbox": [0, 0, 100, 55], "score": 0.7}]
EOF
cat >"$work/res.jsonl" <<'EOF'
{"frame": 1, "device": "end-1", "detections": [{"bbox": [0, 0, 100, 100], "category_id": 1, "score": 0.9}, {"bbox": [200, 0, 40, 40], "category_id": 2, "score": 0.8}]}
{"frame": 2, "label": 3, "score": 0.4}
{"frame": 2, "detections": [{"bbox": [0, 0, 100, 55], "category_id": 1, "score": 0.7}]}
EOF

# --help and usage errors.
expect 0 "map" --help
expect 0 "RESULTS" map --help
expect 0 "Exit codes" map --help
expect 2 "subcommand" # none given
expect 2 "RESULTS" map "$work/gt.json"
expect 2 "--iou-type" map "$work/gt.json" "$work/res.json" --iou-type segm
expect 2 "--no-such-flag" map "$work/gt.json" "$work/res.json" --no-such-flag

# Both formats give the same numbers; the format is named.
expect 0 "COCO results array" map "$work/gt.json" "$work/res.json"
grep -qF "AP @[ IoU=0.50      | area=   all | maxDets=100 ] = 1.000" "$work/out" ||
    fail "array: expected AP@0.5 = 1.000 in: $out"
text_from_array=$(grep -F " @[ " "$work/out")
expect 0 "JSON Lines" map "$work/gt.json" "$work/res.jsonl"
grep -qF "1 lines without \"detections\" skipped" "$work/err" || fail "jsonl: expected the skipped line on stderr: $err"
[ "$(grep -F " @[ " "$work/out")" = "$text_from_array" ] || fail "jsonl and array summaries differ: $out"

# --json. Category 1: at .50 and .55 both objects are found (AP 1); above, only the exact
# one: ranked TP, FP, recall 1/2, so recall points 0..0.50 (51 of 101) read 1: AP 51/101.
# AP@[.5:.95] = (2 + 8 * 51/101) / 10. Category 2 (exact): 1. mAP: their mean.
run map "$work/gt.json" "$work/res.jsonl" --json
[ "$rc" = 0 ] || fail "--json: exit $rc: $err"
py_check 'abs(doc["map50"] - 1) < 1e-12 and abs(doc["map50_95"] - ((2 + 8 * 51 / 101) / 10 + 1) / 2) < 1e-12'
py_check '[c["category_id"] for c in doc["per_class"]] == [1, 2] and doc["per_class"][0]["name"] == "shirt"'
py_check 'abs(doc["per_class"][0]["ap50_95"] - (2 + 8 * 51 / 101) / 10) < 1e-12 and abs(doc["per_class"][1]["ap50_95"] - 1) < 1e-12'
py_check 'doc["images"] == 2 and doc["gt"] == 3 and doc["detections"] == 3'
py_check 'doc["results_format"] == "jsonl" and doc["skipped_lines"] == 1 and doc["result_lines"] == 2'
py_check 'len(doc["stats"]) == 12 and doc["stats"][0] == doc["map50_95"]'

# The published example through the command line (numbers: data/coco_val2014_sample).
run map "$data/coco_val2014_sample/ground_truth.json" "$data/coco_val2014_sample/results.json" --json
[ "$rc" = 0 ] || fail "published example: exit $rc: $err"
py_check 'abs(doc["map50_95"] - 0.503647) < 1e-6 and abs(doc["map50"] - 0.696973) < 1e-6'

# Empty results: every category with ground truth scores 0.
: >"$work/empty.jsonl"
run map "$work/gt.json" "$work/empty.jsonl" --json
[ "$rc" = 0 ] || fail "empty results: exit $rc: $err"
py_check 'doc["map50"] == 0.0 and doc["map50_95"] == 0.0 and doc["detections"] == 0'

# Bad input: exit 1 and a message that says where.
expect 1 "cannot read $work/missing.json" map "$work/missing.json" "$work/res.json"
expect 1 "cannot read $work/missing.jsonl" map "$work/gt.json" "$work/missing.jsonl"
echo '{"images": [' >"$work/broken.json"
expect 1 "$work/broken.json: not valid JSON" map "$work/broken.json" "$work/res.json"
sed 's/"bbox": \[200, 0, 40, 40\]/"bbox": [200, 0, 40]/' "$work/gt.json" >"$work/bad-box.json"
expect 1 "$work/bad-box.json: annotations[1].bbox: expected 4 numbers" map "$work/bad-box.json" "$work/res.json"
sed '3s/.*/{"frame": 2, "detections": [{"bbox": [0, 0, 1, 1], "category_id": 1}]}/' "$work/res.jsonl" >"$work/bad-line.jsonl"
expect 1 "$work/bad-line.jsonl:3: detections[0]: missing \"score\"" map "$work/gt.json" "$work/bad-line.jsonl"
printf '%s\n' '{"frame": 1, "detections": []}' '{"frame": 77, "detections": []}' >"$work/unknown-frame.jsonl"
expect 1 "$work/unknown-frame.jsonl:2: frame: frame 77 is not an image of the ground truth" map "$work/gt.json" "$work/unknown-frame.jsonl"
echo '[{"image_id": 5, "category_id": 1, "bbox": [0, 0, 1, 1], "score": 0.5}]' >"$work/unknown-image.json"
expect 1 "$work/unknown-image.json: [0].image_id: image 5 is not an image of the ground truth" map "$work/gt.json" "$work/unknown-image.json"
printf '{\n  "frame": 1\n}\n' >"$work/pretty.jsonl"
expect 1 "$work/pretty.jsonl:1: not valid JSON" map "$work/gt.json" "$work/pretty.jsonl"

if [ "$failures" -gt 0 ]; then
    echo "tierd_eval_cli_test: $failures failed" >&2
    exit 1
fi
echo "tierd_eval_cli_test: all checks passed"
