// What crossing the plugin C ABI costs: a fusion call through the descriptor's function
// pointer in a dlopen'ed .so versus the same logic called directly.
#include <tierd/plugin.h>

#include <benchmark/benchmark.h>
#include <dlfcn.h>

#include <cstring>
#include <stdexcept>

namespace {

// The same logic as the test plugin's fuse(), compiled into this binary.
int fuse_direct(const tierd_inference_result *local, const tierd_inference_result *remote,
                tierd_inference_result *out) {
    const tierd_inference_result *pick = remote ? remote : local;
    if (pick == nullptr)
        return TIERD_EINVAL;
    out->top_class = pick->top_class;
    out->top_score = pick->top_score;
    std::memcpy(out->model, pick->model, sizeof out->model);
    return TIERD_OK;
}

struct LoadedFusion {
    LoadedFusion() {
        handle = dlopen(ABI_BENCH_PLUGIN_PATH, RTLD_NOW | RTLD_LOCAL);
        if (!handle)
            throw std::runtime_error(dlerror());
        auto entry =
            reinterpret_cast<tierd_plugin_entry_fn>(dlsym(handle, TIERD_PLUGIN_ENTRY_SYMBOL));
        uint32_t version = TIERD_ABI_VERSION;
        tierd_host_offer offer{sizeof offer, 1, &version, "bench"};
        const tierd_plugin_descriptor *d = nullptr;
        if (!entry || entry(&offer, &d) != TIERD_OK || d->create(nullptr, nullptr, nullptr, &instance))
            throw std::runtime_error("plugin did not load");
        ops = static_cast<const tierd_fusion_ops *>(d->ops);
    }
    void *handle = nullptr;
    void *instance = nullptr;
    const tierd_fusion_ops *ops = nullptr;
};

void BM_FuseThroughCAbi(benchmark::State &state) {
    static LoadedFusion plugin;
    tierd_inference_result local{}, remote{}, out{};
    remote.top_class = 3;
    for (auto _ : state) {
        benchmark::DoNotOptimize(plugin.ops->fuse(plugin.instance, nullptr, &local, &remote, &out));
        benchmark::ClobberMemory();
    }
}
BENCHMARK(BM_FuseThroughCAbi);

void BM_FuseDirect(benchmark::State &state) {
    tierd_inference_result local{}, remote{}, out{};
    remote.top_class = 3;
    for (auto _ : state) {
        benchmark::DoNotOptimize(fuse_direct(&local, &remote, &out));
        benchmark::ClobberMemory();
    }
}
BENCHMARK(BM_FuseDirect);

} // namespace

BENCHMARK_MAIN();
