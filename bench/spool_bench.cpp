// The durable spool's cost per result on this machine's disk: store, read back for
// publishing and delete on PUBACK (what every result pays), with sync = normal and full;
// and storing alone (a backlog building while the broker is away). bench/spool.sh.
#include "agent/spool/spool.hpp"

#include <benchmark/benchmark.h>

#include <cstdlib>
#include <filesystem>
#include <string>

namespace {

std::string temp_dir() {
    const char *base = std::getenv("SPOOL_BENCH_DIR");
    std::string tmpl = std::string(base ? base : "/var/tmp") + "/tierd-spool-bench-XXXXXX";
    return mkdtemp(tmpl.data());
}

tierd::SpoolOptions options(const std::string &dir, tierd::SpoolSync sync) {
    tierd::SpoolOptions o;
    o.path = dir + "/spool.db";
    o.sync = sync;
    o.max_bytes = std::int64_t{1} << 34;
    return o;
}

// A result document is ~550 bytes (docs/mqtt.md).
const std::string kPayload(550, 'r');

void BM_StoreSendDeliver(benchmark::State &state) {
    const auto dir = temp_dir();
    {
        tierd::Spool spool(options(dir, state.range(0) ? tierd::SpoolSync::full
                                                       : tierd::SpoolSync::normal));
        std::int64_t last = 0, t = 0;
        for (auto _ : state) {
            spool.append("tierd/v1/dev/bench/results", kPayload, ++t);
            auto e = spool.read_after(last, 1);
            last = e.at(0).seq;
            spool.delivered(last);
        }
    }
    std::filesystem::remove_all(dir);
    state.SetLabel(state.range(0) ? "sync=full" : "sync=normal");
}
BENCHMARK(BM_StoreSendDeliver)->Arg(0)->Arg(1)->UseRealTime();

void BM_StoreBacklog(benchmark::State &state) {
    const auto dir = temp_dir();
    {
        tierd::Spool spool(options(dir, tierd::SpoolSync::normal));
        std::int64_t t = 0;
        for (auto _ : state)
            spool.append("tierd/v1/dev/bench/results", kPayload, ++t);
        state.counters["entries"] = static_cast<double>(spool.stats().entries);
    }
    std::filesystem::remove_all(dir);
}
BENCHMARK(BM_StoreBacklog)->UseRealTime();

} // namespace

BENCHMARK_MAIN();
