#!/usr/bin/env bash
# CI's sanitizer step (docs/fuzzing.md): builds build-asan with clang, ASan + UBSan on
# everything (TIERD_FUZZ=ON), runs the whole ctest suite under them, then fuzzes each
# libFuzzer harness for FUZZ_SECONDS (default 20; 0 skips) two at a time. Any sanitizer
# report, failed test or fuzzer crash fails the step; a crash leaves its input under
# build-asan/fuzz-artifacts/<harness>/ (add it to fuzz/regressions/<harness>/).
# ASAN_CTEST_ARGS adds ctest arguments (e.g. "-LE slow" to leave a label out).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=${TIERD_ASAN_BUILD_DIR:-$top/build-asan}
fuzz_seconds=${FUZZ_SECONDS:-20}
jobs=${JOBS:-2}

"$top/scripts/install-deps.sh" # clang and libclang-rt-14-dev are on its list
start=$(date +%s)

# CC/CXX pick the compiler when the build dir is new (cmake keeps it after that).
CC=clang CXX=clang++ cmake -S "$top" -B "$build" -G Ninja \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTIERD_FUZZ=ON -DTIERD_BUILD_BENCH=OFF -DTIERD_WERROR=ON
ninja -C "$build" -j"$jobs"
built=$(date +%s)

# halt_on_error: the first report ends the process, so the test fails. detect_leaks: a
# leak is a failure too; fuzz/lsan.supp lists third-party leaks only, each with why.
export ASAN_OPTIONS="halt_on_error=1:detect_leaks=1:abort_on_error=1:check_initialization_order=1:strict_init_order=1"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"
export LSAN_OPTIONS="suppressions=$top/fuzz/lsan.supp:print_suppressions=0"
# Left out: EveryPlugin.ExportsOnlyTheEntryFunction/test_throwing checks the dynamic
# symbols of a test plugin that has no version script, and the instrumentation adds some
# (UBSan's function-type RTTI, SanitizerCoverage's section bounds); the in-tree plugins,
# which have one, still run it.
failed=0 tests_failed=0
# shellcheck disable=SC2086 # ASAN_CTEST_ARGS is a list of words
ctest --test-dir "$build" --output-on-failure -j"$jobs" \
    -E 'ExportsOnlyTheEntryFunction/test_throwing' ${ASAN_CTEST_ARGS:-} || tests_failed=1
tested=$(date +%s) # the fuzzers run even when a test failed: one CI run reports both
[ "$tests_failed" = 0 ] || failed=1

. "$top/fuzz/dict_for.sh"

# One harness for $fuzz_seconds: new inputs go to a scratch corpus (the committed seeds
# stay as they are), a crash to fuzz-artifacts/<harness>/. -max_len: the deep-nesting
# regressions are 60-80 kB, and mutating inputs that long is ten times slower.
fuzz_one() {
    local name=$1 work=$build/fuzz-work/$1 art=$build/fuzz-artifacts/$1
    local dirs=("$work" "$top/fuzz/corpus/$name")
    [ -d "$top/fuzz/regressions/$name" ] && dirs+=("$top/fuzz/regressions/$name")
    rm -rf "$work" "$art" && mkdir -p "$work" "$art"
    if "$build/fuzz/fuzz_$name" "${dirs[@]}" -dict="$top/fuzz/dict/$(dict_for "$name").dict" \
        -max_total_time="$fuzz_seconds" -timeout=10 -rss_limit_mb=2048 -max_len=8192 \
        -print_final_stats=1 -artifact_prefix="$art/" >"$build/fuzz-work/$name.log" 2>&1; then
        echo "fuzz $name: ok, $(grep -m1 -o 'stat::number_of_executed_units: *[0-9]*' \
            "$build/fuzz-work/$name.log" | grep -o '[0-9]*$') runs in ${fuzz_seconds}s"
    else
        echo "fuzz $name: FAILED (input under $art/); the log's end:"
        tail -n 60 "$build/fuzz-work/$name.log"
        return 1
    fi
}

harnesses=(command config plugin_config offload image manifest peer)
if [ "$fuzz_seconds" -gt 0 ]; then
    mkdir -p "$build/fuzz-work"
    running=0
    for h in "${harnesses[@]}"; do
        fuzz_one "$h" &
        running=$((running + 1))
        if [ "$running" -ge "$jobs" ]; then
            wait -n || failed=1
            running=$((running - 1))
        fi
    done
    while [ "$running" -gt 0 ]; do
        wait -n || failed=1
        running=$((running - 1))
    done
fi
done_at=$(date +%s)
echo "sanitizers: build $((built - start)) s, ctest $((tested - built)) s," \
    "fuzzing $((done_at - tested)) s (${fuzz_seconds} s per harness)"
# (only after a failed ctest: LastTestsFailed.log may be an older run's)
[ "$tests_failed" = 0 ] || "$top/scripts/ctest-failures.sh" "$build"
exit "$failed"
