#!/usr/bin/env bash
# The long fuzzing run (docs/fuzzing.md): each libFuzzer harness until RUNS_PER_HARNESS
# executions (default 10^7) or SECONDS_PER_HARNESS (default 5400), whichever comes
# first, JOBS (default 2) at a time, on the ASan + UBSan build that
# scripts/test-sanitizers.sh makes (build-asan). Each harness grows its own corpus under
# build-asan/fuzz-long/<harness>/ (seeded from fuzz/corpus/ and fuzz/regressions/, kept
# between runs); crashes land in build-asan/fuzz-long/<harness>.artifacts/.
# Writes bench/results/fuzz.md: per harness executions, exec/s, coverage (libFuzzer's
# cov and ft at the end), corpus size and crashes. Exit status 1 when anything crashed.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
build=${TIERD_ASAN_BUILD_DIR:-$top/build-asan}
seconds=${SECONDS_PER_HARNESS:-5400}
runs=${RUNS_PER_HARNESS:-10000000}
jobs=${JOBS:-2}
harnesses=(${HARNESSES:-command config plugin_config offload image manifest peer})

"$top/scripts/install-deps.sh"
CC=clang CXX=clang++ cmake -S "$top" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DTIERD_FUZZ=ON -DTIERD_BUILD_BENCH=OFF -DTIERD_WERROR=ON >/dev/null
ninja -C "$build" -j"$jobs" $(printf 'fuzz_%s ' "${harnesses[@]}")

export ASAN_OPTIONS="halt_on_error=1:detect_leaks=1:abort_on_error=1"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"
export LSAN_OPTIONS="suppressions=$top/fuzz/lsan.supp:print_suppressions=0"

. "$top/fuzz/dict_for.sh"

long=$build/fuzz-long
mkdir -p "$long"
run_one() {
    local name=$1 work=$long/$1 art=$long/$1.artifacts
    local dirs=("$work" "$top/fuzz/corpus/$name")
    [ -d "$top/fuzz/regressions/$name" ] && dirs+=("$top/fuzz/regressions/$name")
    rm -rf "$art" && mkdir -p "$work" "$art" # crashes of this run only; the corpus stays
    # Any crash, leak, timeout or OOM stops it. -max_len: the deep-nesting regressions are
    # 60-80 kB, and mutating inputs that long is ten times slower.
    "$build/fuzz/fuzz_$name" "${dirs[@]}" -dict="$top/fuzz/dict/$(dict_for "$name").dict" \
        -runs="$runs" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
        -max_len=8192 -print_final_stats=1 -artifact_prefix="$art/" >"$long/$name.log" 2>&1 || true
}

start=$(date +%s)
running=0
for h in "${harnesses[@]}"; do
    run_one "$h" &
    running=$((running + 1))
    if [ "$running" -ge "$jobs" ]; then
        wait -n
        running=$((running - 1))
    fi
done
wait
wall=$(($(date +%s) - start))

commit=$(git -C "$top" rev-parse --short HEAD 2>/dev/null || echo unknown)
if [ -n "$(git -C "$top" status --porcelain 2>/dev/null | head -1)" ]; then
    commit="$commit (with uncommitted changes)"
fi
/usr/bin/python3 - "$top/bench/results/fuzz.md" "$long" "$seconds" "$runs" "$jobs" "$wall" "$commit" \
    "${harnesses[@]}" <<'PY'
import os, re, subprocess, sys, datetime
out, long, seconds, runs, jobs, wall, commit = sys.argv[1:8]
harnesses = sys.argv[8:]
cpu = subprocess.run(["sh", "-c", "grep -m1 'model name' /proc/cpuinfo | cut -d: -f2"],
                     capture_output=True, text=True).stdout.strip()
clang = subprocess.run(["clang++", "--version"], capture_output=True, text=True).stdout.split("\n")[0]
rows, crashed = [], []
for h in harnesses:
    log = open(os.path.join(long, h + ".log"), errors="replace").read()
    stat = dict(re.findall(r"stat::(\w+):\s*(\d+)", log))
    # The last status line: "#N <what> cov: C ft: F corp: U/S ...".
    last = re.findall(r"^#(\d+)\s+\w+\s+cov: (\d+) ft: (\d+) corp: (\d+)/(\S+)", log, re.M)
    execs = int(stat.get("number_of_executed_units", last[-1][0] if last else 0))
    cov, ft, units, size = (last[-1][1:] if last else ("?", "?", "?", "?"))
    art = os.path.join(long, h + ".artifacts")
    found = sorted(os.listdir(art)) if os.path.isdir(art) else []
    if found:
        crashed.append((h, found))
    rows.append(f"| {h} | {execs:,} | {int(stat.get('average_exec_per_sec', 0)):,} | {cov} | {ft} "
                f"| {units} ({size}) | {stat.get('peak_rss_mb', '?')} | "
                f"{len(found) if found else 0} |")
now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
lines = [
    "# Fuzzing: the long run", "",
    f"Machine: {cpu}, {os.cpu_count()} CPUs (shared with other work while it ran); {clang}; "
    f"commit {commit}; {now}.", "",
    f"Command: `SECONDS_PER_HARNESS={seconds} RUNS_PER_HARNESS={runs} JOBS={jobs} "
    f"bench/fuzz/run.sh` (each harness until {int(runs):,} executions or {seconds} s, "
    f"{jobs} at a time: {wall} s wall in all). Build: build-asan "
    "(RelWithDebInfo, ASan + UBSan on every library, libFuzzer; docs/fuzzing.md). Each "
    "harness starts from its committed seeds plus what earlier runs on this machine added "
    "(build-asan/fuzz-long/).", "",
    "| harness | executions | exec/s | cov | ft | corpus (units, bytes) | peak RSS MB | crashes |",
    "| --- | --- | --- | --- | --- | --- | --- | --- |", *rows, "",
    "cov: code edges covered, ft: libFuzzer features (edges with hit counts, comparisons), "
    "both as libFuzzer printed them last; they count the instrumented code the harness "
    "reaches (tierd's libraries and header-only nlohmann_json/toml++, not OpenCV or other "
    "prebuilt libraries).", ""]
if crashed:
    lines.append("Crashes (inputs under build-asan/fuzz-long/<harness>.artifacts/):")
    lines += [f"- {h}: {', '.join(f)}" for h, f in crashed]
else:
    lines.append("Crashes: 0.")
open(out, "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
sys.exit(1 if crashed else 0)
PY
