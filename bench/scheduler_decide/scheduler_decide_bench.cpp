// Per-decision time of the multi-objective scheduler core (plugins/scheduler-mo/core) on
// two realistic profile sets, each chain-shaped, on end, edge and cloud tiers:
//
//   camera  224x224x3 camera frames (150 KB) and 7 ImageNet-class models (MobileNet v2/v3,
//           ResNet-18/50, EfficientNet-B0, two int8 variants) cut at block boundaries with
//           their real tensor sizes: 465 options; deep cuts send less than the frame, so
//           splitting pays at some bandwidths and the envelopes hold several lines.
//   zoo     the 28x28 Fashion-MNIST zoo (models/manifest.toml) plus two int8 variants:
//           311 options; every tensor is bigger than the 784-byte image, so no split ever
//           pays and each envelope collapses to one line.
//
//   scheduler_decide_bench [google benchmark flags]
//       BM_Decide/zoo:Z/jumps:J   weighted, incremental; zoo:0 = camera set, zoo:1 = zoo
//                                 set; jumps:0 = bandwidth jitter of ~1% per decision,
//                                 jumps:1 = bandwidth jumping within 0.1-200 Mbit/s
//       BM_DecideExhaustive/zoo:Z weighted, every option scanned (the reference)
//       BM_DecideConstraints      constraints policy, camera set (always a scan)
//   scheduler_decide_bench --p99[=zoo]
//       100k decisions (camera set unless =zoo) over varying contexts (90% jitter, 10%
//       jumps, a per-task light-model probability), each timed with steady_clock; prints
//       {"options":N,"p50_us":..,"p99_us":..,"exhaustive_p50_us":..,"exhaustive_p99_us":..}
#include "core/scheduler.hpp"

#include <benchmark/benchmark.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

namespace {

using namespace scheduler_mo;
using nlohmann::json;

enum ProfileKind { kCamera = 0, kZoo = 1 };

struct ChainModel {
    const char *name;
    double top1;
    double end_ms;              // the whole model on the end device
    std::vector<long> elements; // the tensor after each cut, in chain order
    std::int64_t input_bytes;
};

std::vector<long> repeat(std::initializer_list<std::pair<long, int>> runs) {
    std::vector<long> out;
    for (auto [elements, count] : runs)
        out.insert(out.end(), static_cast<std::size_t>(count), elements);
    return out;
}

std::vector<ChainModel> camera_models() {
    const std::int64_t frame = 224 * 224 * 3;
    // Block outputs (channels x height x width) of the torchvision models.
    std::vector<long> mobilenet_v2 = repeat({{16 * 112 * 112, 1},
                                             {24 * 56 * 56, 2},
                                             {32 * 28 * 28, 3},
                                             {64 * 14 * 14, 4},
                                             {96 * 14 * 14, 3},
                                             {160 * 7 * 7, 3},
                                             {320 * 7 * 7, 1},
                                             {1280 * 7 * 7, 1}});
    std::vector<long> resnet18 = repeat(
        {{64 * 56 * 56, 3}, {128 * 28 * 28, 2}, {256 * 14 * 14, 2}, {512 * 7 * 7, 2}, {512, 1}});
    std::vector<long> resnet50 = repeat({{64 * 56 * 56, 1},
                                         {256 * 56 * 56, 3},
                                         {512 * 28 * 28, 4},
                                         {1024 * 14 * 14, 6},
                                         {2048 * 7 * 7, 3},
                                         {2048, 1}});
    std::vector<long> efficientnet = repeat({{16 * 112 * 112, 1},
                                             {24 * 56 * 56, 2},
                                             {40 * 28 * 28, 2},
                                             {80 * 14 * 14, 3},
                                             {112 * 14 * 14, 3},
                                             {192 * 7 * 7, 4},
                                             {320 * 7 * 7, 1},
                                             {1280, 1}});
    std::vector<long> mobilenet_v3 = repeat({{16 * 56 * 56, 1},
                                             {24 * 28 * 28, 2},
                                             {40 * 14 * 14, 3},
                                             {48 * 14 * 14, 2},
                                             {96 * 7 * 7, 3},
                                             {576, 1}});
    // End device: a Jetson-Nano-class board.
    return {{"mobilenet-v3-small", 0.674, 8, mobilenet_v3, frame},
            {"mobilenet-v2", 0.718, 30, mobilenet_v2, frame},
            {"mobilenet-v2-int8", 0.712, 14, mobilenet_v2, frame},
            {"efficientnet-b0", 0.773, 60, efficientnet, frame},
            {"resnet-18", 0.697, 60, resnet18, frame},
            {"resnet-50", 0.761, 150, resnet50, frame},
            {"resnet-50-int8", 0.758, 60, resnet50, frame}};
}

// top1 from models/manifest.toml; end-device times ~6x the zoo's x86 batch-1 timings; the
// tensor after each cut shrinks from 16x28x28 towards 1024 values.
std::vector<ChainModel> zoo_models(std::mt19937_64 &rng) {
    struct Entry {
        const char *name;
        double top1;
        double end_ms;
        int cuts;
    };
    const Entry zoo[] = {
        {"cnn-xs", 0.8674, 0.10, 2},           {"lenet-s", 0.8936, 0.35, 4},
        {"mobilenet-s", 0.9094, 1.53, 10},     {"shufflenet-s", 0.9050, 4.08, 10},
        {"resnet-8", 0.9089, 2.36, 5},         {"resnet-14", 0.9193, 4.43, 8},
        {"resnet-20", 0.9244, 6.39, 11},       {"resnet-20-int8", 0.9230, 3.20, 11},
        {"mobilenet-s-int8", 0.9071, 0.90, 10}};
    std::uniform_real_distribution<double> unit(0, 1);
    std::vector<ChainModel> models;
    for (const Entry &entry : zoo) {
        std::vector<long> elements;
        for (int c = 0; c < entry.cuts; ++c) {
            double depth = (c + 1.0) / (entry.cuts + 1.0);
            elements.push_back(
                std::lround(12544 * std::pow(1024.0 / 12544, depth) * (0.8 + 0.4 * unit(rng))));
        }
        models.push_back({entry.name, entry.top1, entry.end_ms, elements, 784});
    }
    return models;
}

json realistic_profiles(ProfileKind kind) {
    std::mt19937_64 rng(42);
    std::uniform_real_distribution<double> unit(0, 1);
    std::vector<ChainModel> models = kind == kCamera ? camera_models() : zoo_models(rng);
    const char *tiers[] = {"end", "edge", "cloud"};
    const double speed[] = {1.0, 0.12, 0.05}; // edge server, cloud GPU relative to the end
    json docs[3];
    for (int t = 0; t < 3; ++t)
        docs[t] = {{"v", 1},           {"device_id", std::string(tiers[t]) + "-1"},
                   {"tier", tiers[t]}, {"slowdown", 1.0},
                   {"runs", 20},       {"models", json::array()}};
    for (const ChainModel &model : models) {
        // Random shares of the whole time per segment of the chain, the same on every tier.
        std::size_t cuts = model.elements.size();
        std::vector<double> share(cuts + 1);
        double sum = 0;
        for (double &s : share)
            sum += s = 0.3 + unit(rng);
        std::vector<double> agreement(cuts);
        for (double &a : agreement)
            a = 0.98 + 0.019 * unit(rng);
        for (int t = 0; t < 3; ++t) {
            double full = model.end_ms * speed[t];
            json cut_docs = json::array();
            double head = 0;
            for (std::size_t c = 0; c < cuts; ++c) {
                head += full * share[c] / sum;
                cut_docs.push_back({{"layer", 2 * (c + 1)},
                                    {"elements", model.elements[c]},
                                    {"head_ms", head},
                                    {"tail_ms", full - head},
                                    {"int8_agreement", agreement[c]}});
            }
            docs[t]["models"].push_back({{"name", model.name},
                                         {"top1", model.top1},
                                         {"input_bytes", model.input_bytes},
                                         {"full_ms", full},
                                         {"cuts", cut_docs}});
        }
    }
    return {{"end", docs[0]}, {"edge", docs[1]}, {"cloud", docs[2]}};
}

Scheduler make_scheduler(ProfileKind kind, const Policy &policy) {
    Settings settings;
    settings.light_model = kind == kCamera ? "mobilenet-v3-small" : "cnn-xs";
    // ~2 W above idle computing, Wi-Fi ~1.2 W sending, 0.6 W receiving.
    return Scheduler(parse_profile_set(realistic_profiles(kind)), settings,
                     DevicePower{2.0, 1.2, 0.6}, policy);
}

Policy weighted() {
    Policy policy;
    policy.weights = Weights{1.0, 0.5, 0.1, 1.0};
    return policy;
}

// Contexts of a running agent: mostly small jitter of the bandwidth, rtt and queue
// estimates, some jumps (jump_share), and a per-task light-model probability.
std::vector<Context> contexts(std::size_t count, double jump_share, std::uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::uniform_real_distribution<double> unit(0, 1);
    auto log_uniform = [&](double low, double high) {
        return std::exp(std::log(low) + unit(rng) * (std::log(high) - std::log(low)));
    };
    Context context;
    context.edge = TierLink{true, 20e6, 5, 1};
    context.cloud = TierLink{true, 50e6, 40, 0.5};
    std::vector<Context> out;
    out.reserve(count);
    for (std::size_t i = 0; i < count; ++i) {
        for (TierLink *link : {&context.edge, &context.cloud}) {
            if (unit(rng) < jump_share) {
                link->bandwidth_bps = log_uniform(1e5, 2e8);
                link->rtt_ms = log_uniform(1, 150);
            } else {
                link->bandwidth_bps *= std::exp(0.02 * (unit(rng) - 0.5));
                link->rtt_ms *= std::exp(0.02 * (unit(rng) - 0.5));
            }
            link->queue_ms = 2 * unit(rng);
        }
        context.local_queue_ms = 3 * unit(rng);
        context.light_ok_probability = unit(rng) < 0.1 ? -1.0 : unit(rng);
        out.push_back(context);
    }
    return out;
}

void BM_Decide(benchmark::State &state) {
    Scheduler scheduler = make_scheduler(static_cast<ProfileKind>(state.range(0)), weighted());
    std::vector<Context> inputs = contexts(4096, state.range(1) != 0 ? 1.0 : 0.0, 1);
    std::size_t i = 0;
    for (auto _ : state) {
        Decision d = scheduler.decide(inputs[i++ & 4095]);
        benchmark::DoNotOptimize(d);
    }
    state.counters["options"] = static_cast<double>(scheduler.options().size());
    state.counters["edge_lines"] = static_cast<double>(scheduler.envelope_size(Tier::edge));
    state.counters["cloud_lines"] = static_cast<double>(scheduler.envelope_size(Tier::cloud));
    state.counters["searches_per_decision"] = static_cast<double>(scheduler.stats().walk.searches) /
                                              static_cast<double>(scheduler.stats().decisions);
}
BENCHMARK(BM_Decide)->ArgNames({"zoo", "jumps"})->ArgsProduct({{kCamera, kZoo}, {0, 1}});

void BM_DecideExhaustive(benchmark::State &state) {
    Scheduler scheduler = make_scheduler(static_cast<ProfileKind>(state.range(0)), weighted());
    std::vector<Context> inputs = contexts(4096, 0.0, 1);
    std::size_t i = 0;
    for (auto _ : state) {
        Decision d = scheduler.decide_exhaustive(inputs[i++ & 4095]);
        benchmark::DoNotOptimize(d);
    }
    state.counters["options"] = static_cast<double>(scheduler.options().size());
}
BENCHMARK(BM_DecideExhaustive)->ArgName("zoo")->Arg(kCamera)->Arg(kZoo);

void BM_DecideConstraints(benchmark::State &state) {
    Policy policy;
    policy.kind = PolicyKind::constraints;
    policy.deadline_ms = 50;
    policy.min_accuracy = 0.75;
    Scheduler scheduler = make_scheduler(kCamera, policy);
    std::vector<Context> inputs = contexts(4096, 0.1, 1);
    std::size_t i = 0;
    for (auto _ : state) {
        Decision d = scheduler.decide(inputs[i++ & 4095]);
        benchmark::DoNotOptimize(d);
    }
    state.counters["options"] = static_cast<double>(scheduler.options().size());
}
BENCHMARK(BM_DecideConstraints);

// p50 and p99 of one decision in microseconds, each call timed on its own.
template <class Decide>
std::pair<double, double> percentiles(const std::vector<Context> &inputs, Decide &&decide) {
    for (std::size_t i = 0; i < 2000; ++i) // warm caches and branch predictors
        benchmark::DoNotOptimize(decide(inputs[i]));
    std::vector<double> micros;
    micros.reserve(inputs.size());
    for (const Context &context : inputs) {
        auto start = std::chrono::steady_clock::now();
        Decision d = decide(context);
        auto stop = std::chrono::steady_clock::now();
        benchmark::DoNotOptimize(d);
        micros.push_back(std::chrono::duration<double, std::micro>(stop - start).count());
    }
    std::sort(micros.begin(), micros.end());
    auto at = [&](double q) {
        return micros[std::min(micros.size() - 1, static_cast<std::size_t>(q * micros.size()))];
    };
    return {at(0.50), at(0.99)};
}

int p99_mode(ProfileKind kind) {
    Scheduler scheduler = make_scheduler(kind, weighted());
    std::vector<Context> inputs = contexts(100000, 0.1, 7);
    auto incremental =
        percentiles(inputs, [&](const Context &context) { return scheduler.decide(context); });
    auto exhaustive = percentiles(
        inputs, [&](const Context &context) { return scheduler.decide_exhaustive(context); });
    std::printf("{\"profiles\":\"%s\",\"options\":%zu,\"envelope_lines\":%zu,"
                "\"decisions\":%zu,\"p50_us\":%.3f,\"p99_us\":%.3f,"
                "\"exhaustive_p50_us\":%.3f,\"exhaustive_p99_us\":%.3f}\n",
                kind == kCamera ? "camera" : "zoo", scheduler.options().size(),
                scheduler.envelope_size(Tier::edge) + scheduler.envelope_size(Tier::cloud),
                inputs.size(), incremental.first, incremental.second, exhaustive.first,
                exhaustive.second);
    return 0;
}

} // namespace

int main(int argc, char **argv) {
    for (int i = 1; i < argc; ++i) {
        if (std::strcmp(argv[i], "--p99") == 0)
            return p99_mode(kCamera);
        if (std::strcmp(argv[i], "--p99=zoo") == 0)
            return p99_mode(kZoo);
    }
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv))
        return 1;
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
