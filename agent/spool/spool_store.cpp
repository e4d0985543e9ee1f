#include "agent/spool/spool_store.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>

namespace tierd {

SpoolStore::Append SpoolStore::adopt(const SpoolEntry &entry) {
    const auto r = append(entry.topic, entry.payload, entry.created_ms, entry.cls);
    if (r == Append::stored)
        --stats_.stored;
    return r;
}

SpoolStore::Room SpoolStore::make_room(std::size_t need, EntryClass cls) {
    if (has_room(need))
        return Room::fits;
    const auto max = static_cast<std::uint64_t>(options_.max_bytes);
    if (cls == EntryClass::telemetry && options_.when_full == SpoolWhenFull::block) {
        // Telemetry never goes beyond the bound: older samples make way for the new one;
        // if there are not enough of them, the new sample is the one dropped.
        switch (drop_telemetry_until(max > need ? max - need : 0)) {
        case Dropped::enough: return Room::fits;
        case Dropped::failed:
            if (in_tx_)
                return Room::busy;
            [[fallthrough]];
        case Dropped::not_enough: ++stats_.dropped_telemetry; return Room::refused;
        }
    }
    switch (options_.when_full) {
    case SpoolWhenFull::drop_newest: ++stats_.dropped_newest; return Room::refused;
    case SpoolWhenFull::block: ++stats_.over_bound; return Room::fits;
    case SpoolWhenFull::drop_oldest: {
        // Free a segment's worth at once (as a segment log drops a whole segment), so that
        // a full spool does not delete on every append.
        const std::uint64_t seg =
            std::min<std::uint64_t>(static_cast<std::uint64_t>(options_.segment_bytes), max / 2);
        const std::uint64_t target = max > need + seg ? max - need - seg : 0;
        if (drop_oldest_until(target) == Dropped::failed && in_tx_)
            return Room::busy;
        return Room::fits;
    }
    }
    return Room::fits;
}

void SpoolStore::count_write_failure(const char *why) {
    ++stats_.write_failed;
    // The first failure is logged at once, later ones as a count at most once a minute.
    const auto now = std::chrono::steady_clock::now();
    if (unlogged_failures_++ == 0 && now - last_failure_log_ > std::chrono::minutes(1)) {
        spdlog::error("spool {}: cannot store an entry: {} (counted in spool.write_failed)",
                      where(), why);
        unlogged_failures_ = 0;
        last_failure_log_ = now;
    } else if (now - last_failure_log_ > std::chrono::minutes(1)) {
        spdlog::error("spool {}: {} more entries could not be stored: {}", where(),
                      unlogged_failures_, why);
        unlogged_failures_ = 0;
        last_failure_log_ = now;
    }
}

} // namespace tierd
