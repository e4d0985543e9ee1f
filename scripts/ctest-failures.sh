#!/usr/bin/env bash
# ctest-failures.sh BUILD_DIR [LINES]: prints the end (default 40 lines) of the output of
# each test that failed in BUILD_DIR's last ctest run. CI keeps only the end of a long
# log, and --output-on-failure prints a failure where it happened, hundreds of lines up;
# the test scripts call this last so the reason is in what CI keeps.
set -euo pipefail
build=$1 lines=${2:-40}
log=$build/Testing/Temporary/LastTest.log
failed=$build/Testing/Temporary/LastTestsFailed.log
[ -s "$failed" ] && [ -f "$log" ] || exit 0
# LastTestsFailed.log: one "NUMBER:NAME" line per failed test.
cut -d: -f2- "$failed" | while IFS= read -r name; do
    echo "=== output of failed test $name (last $lines lines) ==="
    # A test's block runs from its "N/M Test: NAME" line to "<end of output>".
    awk -v name="$name" '
        $0 ~ /^[0-9]+\/[0-9]+ Test: / { sub(/^[0-9]+\/[0-9]+ Test: /, ""); on = ($0 == name); out = 0; next }
        on && /^Output:$/ { out = 1; getline; next }
        on && /^<end of output>$/ { on = 0; out = 0 }
        on && out { print }' "$log" | tail -n "$lines"
done
