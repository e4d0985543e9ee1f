#!/usr/bin/env bash
# sdk_test.sh CMAKE BUILD_DIR SOURCE_DIR TIERD_BINARY PROJECT_VERSION CXX_COMPILER
#
# What a third party with only the tierd-dev package has: stage the `dev` install
# component into a temporary prefix, copy the installed plugin template out of the tree,
# build it against the staged SDK alone (CMake package, then pkg-config), and check that
# the result exports only tierd_plugin_entry and that the real daemon loads it and
# validates its [plugin.<name>] table.
set -euo pipefail
cmake=$1 build_dir=$2 source_dir=$3 tierd=$4 project_version=$5 cxx=$6
source_dir=$(cd "$source_dir" && pwd -P)
build_dir=$(cd "$build_dir" && pwd -P)
in_tree_plugins=$(dirname "$tierd")/plugins/lib
plugin=fusion-confidence

work=$(cd "$(mktemp -d)" && pwd -P)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
case "$work/" in
"$source_dir"/* | "$build_dir"/*) fail "the temporary directory $work is inside the tree" ;;
esac
prefix=$work/prefix

# Nothing from the caller's environment may point the template's build at the tree.
unset CMAKE_PREFIX_PATH CMAKE_INCLUDE_PATH CMAKE_LIBRARY_PATH CMAKE_MODULE_PATH tierd_DIR \
    tierd_ROOT PKG_CONFIG_PATH CPATH CPLUS_INCLUDE_PATH C_INCLUDE_PATH DESTDIR

echo "== staged install of the dev component into $prefix"
"$cmake" --install "$build_dir" --prefix "$prefix" --component dev
# The dev component is the SDK and nothing else: no daemon, plugins, config or unit.
sdk_files='^include/tierd/[a-z_]+\.(h|hpp)$'
sdk_files+='|^lib(/[^/]+)?/cmake/tierd/[A-Za-z_]+\.(cmake|map)$'
sdk_files+='|^lib(/[^/]+)?/pkgconfig/tierd\.pc$'
sdk_files+='|^share/tierd/sdk/template/'
unexpected=$(find "$prefix" -type f -printf '%P\n' | grep -Ev "$sdk_files" || true)
[ -z "$unexpected" ] || fail "the dev component installs more than the SDK: $unexpected"
for f in include/tierd/plugin.h include/tierd/plugin.hpp share/tierd/sdk/template/CMakeLists.txt \
    share/tierd/sdk/template/README.md; do
    [ -f "$prefix/$f" ] || fail "not installed: $f"
done
config_dir=$(dirname "$(find "$prefix" -name tierdConfig.cmake)")
for f in tierdConfig.cmake tierdConfigVersion.cmake tierdTargets.cmake TierdPluginHelpers.cmake \
    tierd_plugin.map; do
    [ -f "$config_dir/$f" ] || fail "not installed next to the config: $f"
done
pc_dir=$(dirname "$(find "$prefix" -name tierd.pc)")
# Installed files must not refer to the source or build tree (the SDK is relocatable).
if leaks=$(grep -rlF -e "$source_dir" -e "$build_dir" "$prefix"); then
    fail "installed files name the build machine's tree: $leaks"
fi

echo "== pkg-config"
export PKG_CONFIG_PATH=$pc_dir
got=$(pkg-config --modversion tierd)
[ "$got" = "$project_version" ] || fail "pkg-config --modversion: '$got', want '$project_version'"
got=$(pkg-config --cflags tierd | sed 's/[[:space:]]*$//') # it ends with a blank
[ "$got" = "-I$prefix/include" ] || fail "pkg-config --cflags: '$got', want '-I$prefix/include'"
plugindir=$(pkg-config --variable=plugindir tierd)
case "$plugindir" in
"$prefix"/lib*/tierd/plugins) ;;
*) fail "pkg-config plugindir '$plugindir' is not <prefix>/<libdir>/tierd/plugins" ;;
esac

echo "== the template, copied out of the tree, configured against the staged SDK"
# The version the template asks for must be one this SDK accepts: while tierd is 0.x only
# the same minor, from 1.0 on the same major (cmake/TierdSdk.cmake).
want=$(sed -n 's/^find_package(tierd \([0-9.]*\) REQUIRED)$/\1/p' \
    "$prefix/share/tierd/sdk/template/CMakeLists.txt")
if [ "${project_version%%.*}" = 0 ]; then compatible=${project_version%.*}; else
    compatible=${project_version%%.*}; fi
case "$want" in
"$compatible" | "$compatible".*) ;;
*) fail "sdk/template/CMakeLists.txt asks for find_package(tierd '$want');" \
    "the SDK is $project_version: ask for $compatible" ;;
esac
cp -r "$prefix/share/tierd/sdk/template" "$work/src"
generator=()
if command -v ninja >/dev/null; then generator=(-G Ninja); fi
"$cmake" -S "$work/src" -B "$work/build" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_CXX_COMPILER="$cxx" -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_COMPILE_WARNING_AS_ERROR=ON \
    -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF -DCMAKE_FIND_USE_SYSTEM_PACKAGE_REGISTRY=OFF
got=$(sed -n 's/^tierd_DIR:PATH=//p' "$work/build/CMakeCache.txt")
[ "$got" = "$config_dir" ] || fail "find_package(tierd) found '$got', not the staged $config_dir"
if grep -nF -e "$source_dir" -e "$build_dir" "$work/build/CMakeCache.txt"; then
    fail "the template's CMakeCache.txt points into the tierd tree"
fi
"$cmake" --build "$work/build"
# No compile or link step may have used anything from the tree either.
if leaks=$(grep -rlF -e "$source_dir" -e "$build_dir" "$work/build"); then
    fail "the template's build refers to the tierd tree: $leaks"
fi

so=$work/build/$plugin.so
[ -f "$so" ] || fail "no $plugin.so (a lib prefix?): $(ls "$work/build")"
exports=$(nm -D --defined-only "$so" | awk '{print $NF}')
[ "$exports" = "tierd_plugin_entry" ] || fail "$plugin.so exports more than the entry: $exports"

echo "== the same source with pkg-config alone"
# shellcheck disable=SC2046 # the flags are meant to split
"$cxx" -std=c++17 -Wall -Wextra -Werror -fPIC -shared -fvisibility=hidden \
    -fvisibility-inlines-hidden -Wl,-z,defs $(pkg-config --cflags tierd) \
    -Wl,--version-script="$config_dir/tierd_plugin.map" "$work/src/fusion_confidence.cpp" \
    -o "$work/pkgconfig-build.so"
exports=$(nm -D --defined-only "$work/pkgconfig-build.so" | awk '{print $NF}')
[ "$exports" = "tierd_plugin_entry" ] || fail "pkg-config build exports: $exports"

echo "== cmake --install of the plugin: into the SDK prefix's plugin directory"
"$cmake" --install "$work/build"
installed=$plugindir/$plugin.so
[ -f "$installed" ] || fail "not installed to $installed: $(find "$prefix" -name '*.so')"

echo "== the daemon loads it and checks its table"
write_config() { # MARGIN
    cat >"$work/tierd.toml" <<CONF
[plugins]
search_path = ["$plugindir", "$in_tree_plugins"]
fusion = "$plugin"

[plugin.$plugin]
margin = $1
CONF
}
write_config 0.25
out=$("$tierd" --check-config "$work/tierd.toml" 2>&1) || fail "--check-config refused: $out"
[ "$out" = "ok" ] || fail "--check-config: '$out', want 'ok'"

write_config 2
rc=0
out=$("$tierd" --check-config "$work/tierd.toml" 2>&1) || rc=$?
[ "$rc" -ne 0 ] || fail "--check-config accepted margin = 2: $out"
echo "$out" | grep -qF "tierd.toml:6:10: plugin.$plugin.margin: must be at most 1 (got 2)" ||
    fail "--check-config's refusal of margin = 2: $out"

# A slot that names it with the wrong kind: proof the daemon really opened this file.
cat >"$work/tierd.toml" <<CONF
[plugins]
search_path = ["$plugindir", "$in_tree_plugins"]
scheduler = "$plugin"
CONF
rc=0
out=$("$tierd" --check-config "$work/tierd.toml" 2>&1) || rc=$?
[ "$rc" -ne 0 ] || fail "--check-config accepted a fusion plugin as scheduler: $out"
echo "$out" | grep -qF "$installed: is a fusion plugin, configured as plugins.scheduler" ||
    fail "wrong-slot refusal: $out"

echo "== a third-party source: [source] kind = \"pattern\" runs source-pattern.so's frames"
source_so=$plugindir/source-pattern.so
[ -f "$source_so" ] || fail "source-pattern.so not installed: $(ls "$plugindir")"
exports=$(nm -D --defined-only "$source_so" | awk '{print $NF}')
[ "$exports" = "tierd_plugin_entry" ] || fail "source-pattern.so exports more than the entry: $exports"
cat >"$work/source.toml" <<CONF
[agent]
device_id = "sdk-source-$$"
drain_timeout_ms = 2000
[mqtt]
port = 1   # no broker: results still reach the JSONL file
reconnect_min_ms = 60000
reconnect_max_ms = 60000
[source]
kind = "pattern"
[results]
jsonl = "$work/results.jsonl"
[spool]
storage = "memory"
[plugins]
search_path = ["$plugindir", "$in_tree_plugins"]
preclassifier = ""
[plugin.source-pattern]
frames = 12
[plugin.inference-opencv]
manifest = "$source_dir/models/manifest.toml"
models = "cnn-xs"
CONF
out=$("$tierd" --check-config "$work/source.toml" 2>&1) || fail "--check-config refused the source: $out"
"$tierd" --config "$work/source.toml" >"$work/source.log" 2>&1 &
agent=$!
for _ in $(seq 300); do
    [ -f "$work/results.jsonl" ] && [ "$(wc -l <"$work/results.jsonl")" -ge 12 ] && break
    sleep 0.1
done
kill "$agent" 2>/dev/null || true
wait "$agent" 2>/dev/null || true
lines=$(wc -l <"$work/results.jsonl" 2>/dev/null || echo 0)
[ "$lines" -eq 12 ] || { cat "$work/source.log" >&2; fail "$lines results from 12 pattern frames, want 12"; }
ok=$(grep -c '"ok":true' "$work/results.jsonl" || true)
[ "$ok" -eq 12 ] || fail "$ok of 12 pattern results ok: $(head -2 "$work/results.jsonl")"
grep -q '"source":"pattern:pattern#11"' "$work/results.jsonl" ||
    fail "the last frame's source id is missing: $(tail -1 "$work/results.jsonl")"
grep -q "source: pattern: 12 frames 28x28 gray" "$work/source.log" ||
    fail "the plugin's description is not logged: $(grep source "$work/source.log")"
echo "PASS"
