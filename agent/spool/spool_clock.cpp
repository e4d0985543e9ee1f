#include "agent/spool/spool_clock.hpp"

#include <chrono>

namespace tierd {

namespace {
struct Anchor {
    std::int64_t wall_ms;
    std::chrono::steady_clock::time_point steady;
};

const Anchor &anchor() {
    static const Anchor a{std::chrono::duration_cast<std::chrono::milliseconds>(
                              std::chrono::system_clock::now().time_since_epoch())
                              .count(),
                          std::chrono::steady_clock::now()};
    return a;
}
} // namespace

std::int64_t spool_now_ms() {
    const auto &a = anchor();
    return a.wall_ms + std::chrono::duration_cast<std::chrono::milliseconds>(
                           std::chrono::steady_clock::now() - a.steady)
                           .count();
}

} // namespace tierd
