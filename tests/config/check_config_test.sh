#!/usr/bin/env bash
# check_config_test.sh CASE TIERD_BINARY
# `tierd --check-config` against what the daemon would meet at start: a check that says
# "ok" must mean the daemon gets past its config (no broker needed for these cases).
set -euo pipefail
case_name=$1 tierd=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }

# check FILE [ARGS...]: runs --check-config; sets rc and out (stdout and stderr together).
check() {
    rc=0
    out=$("$tierd" --check-config "$@" 2>&1) || rc=$?
}

case $case_name in
hal_profile_must_exist)
    # A profile on no directory of the search path: the daemon would exit at start
    # (under systemd, a restart loop after a passing ExecStartPre).
    printf '[hal]\nprofile = "nope"\n' >"$work/tierd.toml"
    check "$work/tierd.toml"
    [ "$rc" -ne 0 ] || fail "--check-config accepted hal.profile = \"nope\": $out"
    echo "$out" | grep -q "tierd.toml:2:11: hal.profile: no hardware profile 'nope' (nope.toml) in " ||
        fail "no file:line:column error for the profile: $out"
    # The same name from --set: no position, the override named instead.
    printf '' >"$work/empty.toml"
    check "$work/empty.toml" --set hal.profile=nope
    [ "$rc" -ne 0 ] || fail "--check-config accepted --set hal.profile=nope: $out"
    echo "$out" | grep -q "^--set hal.profile: hal.profile: no hardware profile 'nope'" ||
        fail "--set error: $out"
    # A profile that exists but does not parse fails too (the daemon could not load it).
    mkdir "$work/profiles"
    printf 'description = "half a profile"\nidle_power_w = 1.0\n' >"$work/profiles/half.toml"
    printf '[hal]\nprofile = "half"\nprofile_dirs = ["%s"]\n' "$work/profiles" >"$work/half.toml"
    check "$work/half.toml"
    [ "$rc" -ne 0 ] || fail "--check-config accepted a malformed profile: $out"
    echo "$out" | grep -q "half.toml:2:11: hal.profile: profile .*half.toml: missing number" ||
        fail "malformed profile error: $out"
    # A complete profile in profile_dirs, the built-in default, and no profile: ok.
    printf 'idle_power_w = 1.0\nactive_power_w = 2.0\nrelative_compute = 0.1\nradio_tx_power_dbm = 10.0\n' \
        >"$work/profiles/board.toml"
    printf '[hal]\nprofile = "board"\nprofile_dirs = ["%s"]\n' "$work/profiles" >"$work/board.toml"
    check "$work/board.toml"
    [ "$rc" -eq 0 ] && [ "$out" = ok ] || fail "profile in profile_dirs refused: $out"
    check "$work/empty.toml"
    [ "$rc" -eq 0 ] && [ "$out" = ok ] || fail "default profile refused: $out"
    check "$work/empty.toml" --set 'hal.profile=""'
    [ "$rc" -eq 0 ] && [ "$out" = ok ] || fail "no profile (generic) refused: $out"
    ;;
*) fail "unknown case $case_name" ;;
esac
